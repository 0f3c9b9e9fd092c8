"""Batches side by side in ``coldkit recommend``: only for a model that says it may
(``Recommender.concurrent_recommend``), never for queries with text, the first batch alone, the same
file as one batch at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from coldkit.batch import _in_order, recommend_files
from coldkit.models import cold as cold_module
from coldkit.models.base import Recommender
from coldkit.models.hybrid import Hybrid

WORDS = "space robot love war comedy drama music jazz rock night city river ghost king queen star ship".split()


def _files(folder: Path, n_users: int = 160, n_items: int = 120, seed: int = 5) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "item_id": [f"i{j}" for j in range(n_items)],
        "title": [" ".join(rng.choice(WORDS, size=3)) for _ in range(n_items)],
    })  # fmt: skip
    # users like items that share words with a taste of their own, so the sources have something to find
    rows = []
    for u in range(n_users):
        taste = set(rng.choice(WORDS, size=3))
        liked = [j for j in range(n_items) if taste & set(items.title[j].split())]
        for j in rng.choice(liked or list(range(n_items)), size=min(8, len(liked) or 8), replace=False):
            rows.append((f"u{u}", f"i{j}"))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"]).drop_duplicates()
    paths = {"items": folder / "items.csv", "inter": folder / "inter.csv", "cand": folder / "cand.txt"}
    items.to_csv(paths["items"], index=False)
    inter.to_csv(paths["inter"], index=False)
    paths["cand"].write_text("\n".join(f"i{j}" for j in range(0, n_items, 3)) + "\n")
    return paths


def _threads_of(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[str]:
    """The names of the threads ``cls.recommend`` runs on (recorded, then the real call)."""
    seen: list[str] = []
    real = cls.recommend  # type: ignore[attr-defined]

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "recommend", spy)
    return seen


def test_the_hybrid_ranks_batches_side_by_side_and_writes_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _files(tmp_path)
    args: dict[str, Any] = dict(model="hybrid", k=10, encoder="hashing", batch_size=16, candidates=str(paths["cand"]), progress=False)
    threads = _threads_of(monkeypatch, Hybrid)
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "side.csv"), **args)
    # the first batch alone on the calling thread, the other nine on the two workers
    assert threads[0] == threading.main_thread().name
    assert {name.rsplit("_", 1)[0] for name in threads[1:]} == {"coldkit-recommend"} and len(threads) == 10
    monkeypatch.setattr(Hybrid, "concurrent_recommend", property(lambda self: False))
    threads.clear()
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "alone.csv"), **args)
    assert set(threads) == {threading.main_thread().name}
    assert (tmp_path / "side.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()


def test_an_als_hybrids_batches_side_by_side_write_the_same_file_and_leave_blas_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ALS fold-in limits BLAS to one thread while it solves: two at once shared the limit without
    counting, and the process could end on one BLAS thread (or a fold-in ran on all of them)."""
    pytest.importorskip("implicit")
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]

    before = blas_threads()
    paths = _files(tmp_path, n_users=240, n_items=150, seed=9)
    args: dict[str, Any] = dict(model="hybrid", k=10, encoder="hashing", batch_size=16, options={"warm": "als"}, progress=False)
    threads = _threads_of(monkeypatch, Hybrid)
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "side.csv"), **args)
    assert len(set(threads)) == 3  # the caller and two workers
    assert blas_threads() == before
    monkeypatch.setattr(Hybrid, "concurrent_recommend", property(lambda self: False))
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "alone.csv"), **args)
    assert (tmp_path / "side.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()


def test_a_hybrid_with_a_plugins_part_does_not_say_it_may() -> None:
    import coldkit

    model = coldkit.get_model("hybrid", encoder="hashing")
    assert model.concurrent_recommend
    model.cf.backend = "int8"  # type: ignore[attr-defined]  # one source on another backend (a plugin's index, say)
    assert not model.concurrent_recommend

    class MyHybrid(Hybrid):  # a plugin's hybrid may add sources of its own
        pass

    assert not MyHybrid(encoder="hashing").concurrent_recommend


def test_queries_with_text_and_models_that_do_not_say_so_stay_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _files(tmp_path)
    profiles = tmp_path / "profiles.csv"
    pd.DataFrame({"user_id": ["u1", "u7"], "text": ["jazz at night", "space ship"]}).to_csv(profiles, index=False)
    threads = _threads_of(monkeypatch, Hybrid)
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "r.csv"), model="hybrid", k=5, encoder="hashing",
                    batch_size=16, user_profiles=str(profiles), progress=False)  # fmt: skip
    assert len(threads) == 10 and set(threads) == {threading.main_thread().name}  # an encoder reads the texts
    assert Recommender.concurrent_recommend.fget(None) is False  # type: ignore[attr-defined]  # the default: a plugin's model
    from coldkit.models.popularity import Popularity

    threads = _threads_of(monkeypatch, Popularity)
    recommend_files(str(paths["inter"]), str(paths["items"]), str(tmp_path / "p.csv"), model="popularity", k=5, batch_size=16, progress=False)
    assert len(threads) == 10 and set(threads) == {threading.main_thread().name}


def test_in_order_keeps_the_order_runs_the_first_alone_and_holds_few_results() -> None:
    events: list[tuple[str, int]] = []
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def rank(start: int) -> int:
        with lock:
            events.append(("start", start))
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.002 * (start % 3))  # later batches may finish first
        with lock:
            running[0] -= 1
            events.append(("end", start))
        return start * 10

    starts = list(range(0, 40, 4))
    got = []
    for start, value in _in_order(rank, starts, 2):
        assert value == start * 10
        got.append(value)
        # never more than workers + 1 batches started ahead of what was consumed
        assert sum(1 for kind, _ in events if kind == "start") <= len(got) + 3
    assert got == [s * 10 for s in starts]
    assert events[:2] == [("start", 0), ("end", 0)]  # the first batch alone
    assert running[1] == 2
    assert [value for _, value in _in_order(rank, starts, 1)] == got  # one worker: one after another


def test_in_order_raises_a_batchs_error_in_turn_and_starts_nothing_after_it() -> None:
    started: list[int] = []

    def rank(start: int) -> int:
        started.append(start)
        if start == 3:
            raise ValueError("batch 3 is bad")
        return start

    seen = []
    with pytest.raises(ValueError, match="batch 3 is bad"):
        for _, value in _in_order(rank, list(range(20)), 2):
            seen.append(value)
    assert seen == [0, 1, 2]
    assert max(started) <= 6  # the window after the failed batch, not the rest of the run


def test_two_threads_asking_for_the_same_rows_map_them_once_with_a_lone_callers_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters map rows on demand (and a row's last bits follow the rows mapped beside it): two
    threads asking for the same candidates at once get the bits of one thread, and the rows are mapped once."""
    import coldkit
    from coldkit.models.cold import ColdRidge

    rng = np.random.default_rng(0)
    n_users, n_items = 80, 300
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "title": [" ".join(rng.choice(WORDS, 4)) for _ in range(n_items)]})
    pairs = {(f"u{rng.integers(n_users)}", f"i{rng.integers(n_items // 2)}") for _ in range(1500)}
    frame = pd.DataFrame(sorted(pairs), columns=["user_id", "item_id"])
    cand = np.arange(n_items // 2, n_items)
    monkeypatch.setattr(cold_module, "map_step_rows", lambda width: 7)  # many steps: a wide window for a race

    def fitted() -> ColdRidge:
        model = coldkit.get_model("cold-ridge", encoder="hashing", warm="svd")
        assert isinstance(model, ColdRidge)
        return model.fit(frame, items=items)  # type: ignore[call-arg,return-value]

    reference = fitted()._vectors_for(cand)[cand].copy()
    both = fitted()
    mapped: list[int] = []
    real_map = type(both)._map_catalog

    def counting(self: Any, features: np.ndarray, rows: np.ndarray) -> Any:
        mapped.append(len(rows))
        time.sleep(0.001)  # let the other thread catch up
        return real_map(self, features, rows)

    monkeypatch.setattr(type(both), "_map_catalog", counting)
    barrier = threading.Barrier(2)
    out: list[np.ndarray] = []

    def ask() -> None:
        barrier.wait()
        out.append(both._vectors_for(cand)[cand].copy())

    workers = [threading.Thread(target=ask) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(out) == 2 and sum(mapped) == cand.size
    for table in out:
        np.testing.assert_array_equal(table.view(np.uint32), reference.view(np.uint32))
