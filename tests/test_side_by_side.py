"""The hybrid's sources rank side by side (two threads) and the tuning ranks the next validation task
while it climbs the current one's weights: every list must be the one a serial run gives, bit for bit."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

import coldkit
from coldkit.data import Interactions, UserQuery, load_dataset, subsample
from coldkit.models import _ranking
from coldkit.models._ranking import SIDE_BY_SIDE_MIN_QUERIES, CandidateRows, rank_side_by_side
from coldkit.models.cold import WarmSpace
from coldkit.models.factorized import AlsFoldIn
from coldkit.plugins.types import Ranked


def _ranked(value: float) -> Ranked:
    return Ranked(np.array([[1, 0]]), np.array([[value, value / 2]], dtype=np.float32))


class _Overlap:
    """Counts the rankers running at once; the first ``meet`` of them wait at a barrier for each other
    (a pool with fewer threads breaks the barrier: the test fails instead of depending on a sleep)."""

    def __init__(self, meet: int) -> None:
        self.lock, self.running, self.most, self.threads = threading.Lock(), 0, 0, {}
        self.barrier, self.meet, self.started = threading.Barrier(meet, timeout=10), meet, 0

    def ranker(self, name: str, value: float, exclusive: set[str] | None = None):
        def call() -> Ranked:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads[name] = threading.current_thread().name
                self.started += 1
                waits = self.started <= self.meet
            if waits:
                self.barrier.wait()
            with self.lock:
                self.running -= 1
            return _ranked(value)
        return call


def test_lists_come_back_in_the_asked_order_from_two_threads_at_most() -> None:
    overlap = _Overlap(meet=2)
    rankers = {name: overlap.ranker(name, float(i)) for i, name in enumerate("abcde")}
    out = rank_side_by_side(rankers, ["d", "a", "c", "e"], SIDE_BY_SIDE_MIN_QUERIES)
    assert list(out) == ["d", "a", "c", "e"]
    assert [float(r.scores[0, 0]) for r in out.values()] == [3.0, 0.0, 2.0, 4.0]
    assert overlap.most == 2  # side by side (the barrier met), never more than two
    assert all(name.startswith("coldkit-source") for name in overlap.threads.values())


def test_a_small_batch_ranks_in_the_callers_thread() -> None:
    seen: list[str] = []
    rankers = {name: (lambda: seen.append(threading.current_thread().name) or _ranked(1.0)) for name in "ab"}
    rank_side_by_side(rankers, ["a", "b"], SIDE_BY_SIDE_MIN_QUERIES - 1)
    assert seen == [threading.current_thread().name] * 2


@pytest.mark.parametrize("later", ["b", "text"])  # the other source in the pool, or in the caller's thread
def test_the_first_failing_source_in_order_is_the_error_raised(later: str) -> None:
    def slow_failure() -> Ranked:
        time.sleep(0.05)  # fails after the other one
        raise ValueError("first")

    def quick_failure() -> Ranked:
        raise KeyError("second")

    rankers = {"a": slow_failure, later: quick_failure}
    with pytest.raises(ValueError, match="first"):
        rank_side_by_side(rankers, ["a", later], SIDE_BY_SIDE_MIN_QUERIES)
    with pytest.raises(KeyError, match="second"):
        rank_side_by_side(rankers, [later, "a"], SIDE_BY_SIDE_MIN_QUERIES)


def test_sources_that_encode_words_rank_in_the_callers_thread_one_at_a_time() -> None:
    """``text`` and ``profile`` encode the queries' words: no encoder is asked from two threads at once,
    so they rank in the calling thread, one after the other, beside one worker for the rest."""
    overlap = _Overlap(meet=2)
    names = ["cf", "text", "content", "profile", "popularity"]
    rankers = {name: overlap.ranker(name, float(i)) for i, name in enumerate(names)}
    out = rank_side_by_side(rankers, names, SIDE_BY_SIDE_MIN_QUERIES)
    assert list(out) == names and [float(r.scores[0, 0]) for r in out.values()] == [0.0, 1.0, 2.0, 3.0, 4.0]
    here = threading.current_thread().name
    assert overlap.threads["text"] == overlap.threads["profile"] == here
    assert all(overlap.threads[name].startswith("coldkit-source") for name in ("cf", "content", "popularity"))
    assert overlap.most == 2  # the caller beside one worker: text and profile never together


def test_an_interrupt_is_raised_at_once_and_not_replaced_by_a_sources_error() -> None:
    """Ctrl-C reaches the calling thread only: raised at once (the queued sources cancelled, the running
    one not waited for), and not swapped for the error of a source that failed in the pool."""
    release = threading.Event()
    ran: list[str] = []

    def failing_in_pool() -> Ranked:
        ran.append("cf")
        raise ValueError("cf failed")

    def slow_in_pool() -> Ranked:
        ran.append("content")
        release.wait(10)
        return _ranked(1.0)

    def interrupted() -> Ranked:
        while len(ran) < 2:  # both pool sources under way
            time.sleep(0.001)
        raise KeyboardInterrupt

    rankers = {"cf": failing_in_pool, "content": slow_in_pool, "popularity": lambda: ran.append("popularity") or _ranked(2.0), "text": interrupted}
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            rank_side_by_side(rankers, ["cf", "content", "popularity", "text"], SIDE_BY_SIDE_MIN_QUERIES)
        assert time.perf_counter() - start < 5  # the slow source was not waited for
        assert "popularity" not in ran  # queued behind the slow one: cancelled
    finally:
        release.set()


def test_copyable_locks_survive_every_pickle_protocol_and_deep_copies() -> None:
    import copy
    import pickle

    from coldkit.models._ranking import CopyableLock

    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        lock = pickle.loads(pickle.dumps(CopyableLock(), protocol=protocol))
        with lock:
            pass
    held = CopyableLock()
    with held:
        twin = copy.deepcopy(held)
        with twin:  # a new lock, not the held one's state
            pass


def test_the_workers_see_the_callers_context_variables() -> None:
    """A source ranked on a worker reads the caller's context (stage reporting, a memory budget), as it
    did in the caller's thread: a worker thread starts from the variables' defaults otherwise."""
    import contextvars

    setting: contextvars.ContextVar[str] = contextvars.ContextVar("test_setting", default="default")
    seen: dict[str, str] = {}

    def ranker(name: str):
        def call() -> Ranked:
            seen[name] = setting.get()
            return _ranked(1.0)
        return call

    token = setting.set("the caller's")
    try:
        rank_side_by_side({name: ranker(name) for name in "abc"}, list("abc"), SIDE_BY_SIDE_MIN_QUERIES)
    finally:
        setting.reset(token)
    assert seen == {"a": "the caller's", "b": "the caller's", "c": "the caller's"}


def test_candidate_rows_asked_at_once_are_sliced_once() -> None:
    slices = [0]

    class Counted(np.ndarray):
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            slices[0] += 1
            time.sleep(0.02)  # the second thread arrives while the first slices
            return np.asarray(super().__getitem__(key))

    table = np.arange(40, dtype=np.float32).reshape(10, 4).view(Counted)
    cache, cand = CandidateRows(), np.array([1, 3, 7])
    got: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: got.append(cache.rows(table, cand))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert slices[0] == 1
    assert got[0] is got[1]
    np.testing.assert_array_equal(got[0], np.asarray(table)[cand])


@pytest.fixture(scope="module")
def data() -> Interactions:
    """Real interactions: ml-latest-small cut to 300 users x 400 items, the first 40 items made cold."""
    cut = subsample(load_dataset("ml-latest-small"), max_users=300, max_items=400).interactions
    matrix = cut.matrix.tolil()
    matrix[:, :40] = 0
    return Interactions(cut.user_ids, cut.catalog, sp.csr_matrix(matrix))


def test_the_als_fold_in_asked_at_once_is_computed_once(data: Interactions, monkeypatch: pytest.MonkeyPatch) -> None:
    space = WarmSpace("als", factors=8, options={"iterations": 3, "threads": 1}).fit(data)
    solve = AlsFoldIn.__call__
    calls = [0]

    def counted(self, rows):  # type: ignore[no-untyped-def]
        calls[0] += 1
        time.sleep(0.05)  # the second adapter's thread asks while the first solves
        return solve(self, rows)

    monkeypatch.setattr(AlsFoldIn, "__call__", counted)
    queries = [UserQuery(user=u) for u in range(30)]
    got: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: got.append(space.user_vectors(queries))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert calls[0] == 1
    np.testing.assert_array_equal(got[0], got[1])
    assert got[0] is not got[1]  # each caller its own copy


@pytest.mark.parametrize("warm", ["als", "ease"])
def test_a_tuned_hybrid_side_by_side_gives_the_serial_lists_bit_for_bit(
    data: Interactions, warm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference is the same hybrid fitted and asked with every source ranked one after the other
    (the threshold above any batch) and the validation tasks ranked in the fitting thread."""
    options = {"warm": warm, "warm_options": {"iterations": 4, "threads": 1}} if warm == "als" else {"warm": warm}
    cold = np.arange(40)
    titles = data.catalog.texts()
    queries = [UserQuery(user=u) for u in range(0, data.n_users, 3)] + [
        UserQuery(history=np.array([int(i) for i in data.items_of(u)[:n]])) for u in range(1, 90, 2) for n in (1, 3)
    ] + [UserQuery(text=str(titles[i])) for i in range(40, 70)] + [
        UserQuery(history=np.array([int(i) for i in data.items_of(u)[:2]]), text=str(titles[u + 100])) for u in range(20)
    ]
    where: dict[str, set[str]] = {"source": set(), "fold-in": set()}
    from coldkit.models.cold import ColdAdapter

    rank_adapter, fold_in = ColdAdapter._recommend, AlsFoldIn.__call__
    monkeypatch.setattr(ColdAdapter, "_recommend", lambda self, *a: where["source"].add(threading.current_thread().name) or rank_adapter(self, *a))
    monkeypatch.setattr(AlsFoldIn, "__call__", lambda self, rows: where["fold-in"].add(threading.current_thread().name) or fold_in(self, rows))

    def run() -> tuple[list[str], Ranked, Ranked]:
        model = coldkit.get_model("hybrid", encoder="hashing", **options).fit(data)
        assert model.learned_ is not None  # tuned: the validation tasks were ranked
        return model.notes_, model.recommend(queries, 20, candidates=cold), model.recommend(queries, 20)

    # side by side for every batch, the validation tasks' small pools too
    monkeypatch.setattr(_ranking, "SIDE_BY_SIDE_MIN_QUERIES", 2)
    notes, cold_lists, all_lists = run()
    assert any(name.startswith("coldkit-source") for name in where["source"])  # the pool did rank
    # the fold-in (it limits BLAS's threads process-wide) never runs beside another source
    assert not any(name.startswith("coldkit-source") for name in where["fold-in"])
    where["source"].clear()
    monkeypatch.setattr(_ranking, "SIDE_BY_SIDE_MIN_QUERIES", 10**9)

    class InThisThread:
        """A stand-in for the tuning's one-worker pool: each task is ranked when submitted, here."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            self.ranked_in: set[str] = set()

        def __enter__(self) -> "InThisThread":
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def submit(self, fn, *args):  # type: ignore[no-untyped-def]
            from concurrent.futures import Future

            done: Future = Future()
            done.set_result(fn(*args))
            return done

        def shutdown(self, **kwargs: object) -> None:
            return None

    from coldkit.models import hybrid as hybrid_module

    real_pool = hybrid_module.ThreadPoolExecutor
    monkeypatch.setattr(
        hybrid_module, "ThreadPoolExecutor",
        lambda *a, **k: InThisThread() if k.get("thread_name_prefix") == "coldkit-rank-task" else real_pool(*a, **k),
    )
    serial_notes, serial_cold, serial_all = run()
    assert where["source"] == {threading.current_thread().name}  # the reference is really serial
    assert notes == serial_notes
    for got, expected in ((cold_lists, serial_cold), (all_lists, serial_all)):
        np.testing.assert_array_equal(got.indices, expected.indices)
        np.testing.assert_array_equal(got.scores, expected.scores)


def test_a_fitted_hybrid_that_ranked_side_by_side_still_deep_copies(data: Interactions) -> None:
    """The locks of the shared caches (the ALS fold-in, the candidate rows) are not the model's data: a
    deep copy gets new ones and ranks the same lists (``threading.Lock`` alone cannot be copied)."""
    import copy

    model = coldkit.get_model("hybrid", encoder="hashing", warm="als", warm_options={"iterations": 3, "threads": 1}, tune=False)
    model.fit(data)
    queries = [UserQuery(user=u) for u in range(SIDE_BY_SIDE_MIN_QUERIES + 10)]
    first = model.recommend(queries, 10, candidates=np.arange(60))
    twin = copy.deepcopy(model)
    again = twin.recommend(queries, 10, candidates=np.arange(60))
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.scores, again.scores)


def test_a_source_failing_in_the_tuning_stops_the_fit_with_its_error(data: Interactions, monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation task ranked in the tuning's worker thread: its source's error is the fit's error,
    raised when that task's lists are read, and the tasks after it are not ranked first."""
    from coldkit.models.neighbors import ItemKNN

    ranked: list[int] = []
    real = ItemKNN.recommend

    def failing(self, queries, k, **kwargs):  # type: ignore[no-untyped-def]
        ranked.append(len(queries))
        if len(ranked) == 2:
            raise RuntimeError("item-kNN broke on the second task")
        return real(self, queries, k, **kwargs)

    monkeypatch.setattr(ItemKNN, "recommend", failing)
    model = coldkit.get_model("hybrid", encoder="hashing", warm="ease")
    with pytest.raises(RuntimeError, match="second task"):
        model.fit(data)
    assert len(ranked) == 2  # the worker's queued tasks were cancelled, not ranked after the error
