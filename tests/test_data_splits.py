"""Splitters: sizes, seeding, and no leakage (checked independently of the splitters' own check)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coldkit.data import Catalog, Interactions, implicit, load_dataset
from coldkit.data.splits import LeakageError, check_no_leakage, cold_item_split, cold_user_split, warm_split
from coldkit.exceptions import InvalidInputError


@pytest.fixture(scope="module")
def inter() -> Interactions:
    return implicit(load_dataset("ml-latest-small")).interactions


def pairs(m: sp.spmatrix, user_ids: np.ndarray) -> set[tuple[str, int]]:
    coo = sp.coo_matrix(m)
    return {(str(user_ids[r]), int(c)) for r, c in zip(coo.row, coo.col)}


def tiny(n_users: int = 6, n_items: int = 10, seed: int = 0, timestamps: bool = True) -> Interactions:
    import pandas as pd

    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.6).astype(np.float32)
    dense[:, 0] = 1  # every user has an interaction
    catalog = Catalog(item_ids=np.array([f"i{i}" for i in range(n_items)], dtype=object),
                      table=pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": ["t"] * n_items}))
    m = sp.csr_matrix(dense)
    ts = None
    if timestamps:
        ts = m.copy().astype(np.int64)
        ts.data = rng.permutation(np.arange(1, ts.nnz + 1))
    return Interactions(user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object), catalog=catalog, matrix=m, timestamps=ts)


def test_cold_item_split_sizes_and_no_leakage(inter: Interactions) -> None:
    split = cold_item_split(inter, seed=3)
    active = int((inter.item_counts() > 0).sum())
    cold_test = split.tasks["cold"].candidates
    cold_val = split.validation["cold"].candidates
    assert len(cold_test) + len(cold_val) == round(0.2 * active)
    assert abs(len(cold_test) - len(cold_val)) <= 1 and not set(cold_test) & set(cold_val)
    # Independently: no test/validation pair is in train, and cold items have no train column.
    train_pairs = pairs(split.train.matrix, split.train.user_ids)
    all_pairs = pairs(inter.matrix, inter.user_ids)
    for task in [*split.tasks.values(), *split.validation.values()]:
        held = pairs(task.truth, task.users)
        assert held <= all_pairs and not held & train_pairs
    assert split.train.item_counts()[np.r_[cold_test, cold_val]].sum() == 0
    # Everything is accounted for: train + cold held-out + warm held-out = all interactions, but for the
    # interactions of items not held out cold that kept none in training (no model could rank them: left out)
    held_total = sum(split.tasks[n].truth.nnz + split.validation[n].truth.nnz for n in ("cold", "warm"))
    stranded = (split.train.item_counts() == 0) & ~np.isin(np.arange(inter.n_items), np.r_[cold_test, cold_val])
    dropped = int(inter.matrix.tocsc()[:, np.flatnonzero(stranded)].nnz)
    assert split.train.matrix.nnz + held_total + dropped == inter.matrix.nnz
    assert (dropped > 0) == any("not in the warm/all truth" in n for n in split.notes)
    # Candidate sets: cold = test cold items; warm = items with train interactions; all = both.
    warm_items = np.flatnonzero(split.train.item_counts() > 0)
    np.testing.assert_array_equal(split.tasks["warm"].candidates, warm_items)
    np.testing.assert_array_equal(split.tasks["all"].candidates, np.union1d(warm_items, cold_test))
    # Every cold-task truth item is a test cold item.
    assert set(split.tasks["cold"].truth.indices) <= set(cold_test)


def test_cold_item_split_warm_tasks_exclude_the_other_held_out_part(inter: Interactions) -> None:
    """A warm test user's validation items were warm candidates, scored as misses when listed (a popularity
    top 20 held them for 354 of 610 users): each warm/all test query excludes exactly its validation pairs,
    each validation query its test pairs, and neither touches its own truth or training."""
    split = cold_item_split(inter, seed=3)
    train_pairs = pairs(split.train.matrix, split.train.user_ids)
    warm_val = pairs(split.validation["warm"].truth, split.validation["warm"].users)
    warm_test = pairs(split.tasks["warm"].truth, split.tasks["warm"].users)
    for task, other in ((split.tasks["warm"], warm_val), (split.tasks["all"], warm_val),
                        (split.validation["warm"], warm_test), (split.validation["all"], warm_test)):
        assert task.exclude is not None and len(task.exclude) == len(task)
        excluded = {(str(task.users[b]), int(i)) for b, items in enumerate(task.exclude) for i in items}
        mine = {pair for pair in other if pair[0] in set(map(str, task.users))}
        assert excluded == mine
        assert not excluded & pairs(task.truth, task.users) and not excluded & train_pairs
    assert split.tasks["cold"].exclude is None  # its candidates are test cold items: no validation pair among them


def test_evaluation_drops_a_users_validation_items_from_the_warm_lists(inter: Interactions) -> None:
    """Independently: the runner's warm lists for popularity are the training popularity order over the warm
    candidates, less each user's training and validation items, cut at k."""
    from coldkit.evaluation.runner import _recommend_all
    from coldkit.models import create

    split = cold_item_split(inter, seed=0)
    task = split.tasks["warm"]
    model = create("popularity").fit(split.train)
    lists = _recommend_all(model, task, 20, 256, lambda x, **_: x, True, "popularity", inter.n_items)
    counts = split.train.item_counts().astype(np.float32)
    order = task.candidates[np.argsort(-counts[task.candidates], kind="stable")]
    train = split.train.matrix.tocsr()
    for b in range(0, len(task), 37):
        known = set(train.indices[train.indptr[task.queries[b].user] : train.indptr[task.queries[b].user + 1]])
        want = [i for i in order if i not in known and i not in set(task.exclude[b])][:20]  # type: ignore[index]
        assert lists[b].tolist() == want


def test_cold_item_split_is_seeded(inter: Interactions) -> None:
    a, b, c = cold_item_split(inter, seed=1), cold_item_split(inter, seed=1), cold_item_split(inter, seed=2)
    np.testing.assert_array_equal(a.tasks["cold"].candidates, b.tasks["cold"].candidates)
    assert (a.train.matrix != b.train.matrix).nnz == 0
    assert not np.array_equal(a.tasks["cold"].candidates, c.tasks["cold"].candidates)


def test_cold_user_split_reveals_earliest_and_skips_short_users() -> None:
    data = tiny(n_users=10, n_items=12, seed=4)
    split = cold_user_split(data, seed=0, user_fraction=0.3, reveal=(0, 1, 3, 5))
    held = set(data.user_ids) - set(split.train.user_ids)
    assert len(held) == 3
    check_no_leakage(split.train, held_out_users=list(held))
    uindex = data.user_index()
    for n in (0, 1, 3, 5):
        task = split.tasks[f"n={n}"]
        for q, uid, row in zip(task.queries, task.users, task.truth):
            u = uindex[uid]
            items = data.items_of(u)
            times = np.asarray(data.timestamps[u, items].todense()).ravel()
            earliest = items[np.argsort(times, kind="stable")]
            assert q.user is None
            np.testing.assert_array_equal(q.history, earliest[:n])
            np.testing.assert_array_equal(np.sort(row.indices), np.sort(earliest[n:]))
        eligible = [u for u in held if len(data.items_of(uindex[u])) >= n + 1]
        assert sorted(task.users) == sorted(eligible)


def test_cold_user_split_notes_skipped_users() -> None:
    data = tiny(n_users=10, n_items=4, seed=1)
    split = cold_user_split(data, seed=0, user_fraction=0.5, reveal=(0, 5))
    assert len(split.tasks["n=5"]) == 0  # nobody has 6 of 4 items
    assert any("n=5" in note and "skipped" in note for note in split.notes)


def test_cold_user_split_attaches_profile_text() -> None:
    data = tiny(n_users=10)
    profiles = {u: f"profile of {u}" for u in data.user_ids}
    split = cold_user_split(data, seed=0, user_profiles=profiles)
    task = split.tasks["n=0"]
    assert [q.text for q in task.queries] == [f"profile of {u}" for u in task.users]


@pytest.mark.parametrize("temporal", [False, True])
def test_warm_split(inter: Interactions, temporal: bool) -> None:
    split = warm_split(inter, seed=0, temporal=temporal)
    task = split.tasks["all"]
    train_pairs = pairs(split.train.matrix, split.train.user_ids)
    assert not pairs(task.truth, task.users) & train_pairs
    assert split.train.matrix.nnz + task.truth.nnz == inter.matrix.nnz
    # every user keeps a training interaction
    assert (np.diff(split.train.matrix.indptr) > 0).all()
    if temporal:  # held-out interactions are each user's latest
        uindex = inter.user_index()
        for uid, row in list(zip(task.users, task.truth))[:50]:
            u = uindex[uid]
            t_train = split.train.timestamps[u].data
            t_test = np.asarray(inter.timestamps[u, row.indices].todense()).ravel()
            assert t_test.min() >= t_train.max()


def test_leakage_check_catches_leaks() -> None:
    data = tiny()
    with pytest.raises(LeakageError, match="is in train"):
        check_no_leakage(data, [(np.array([0]), np.array([0]))])
    with pytest.raises(LeakageError, match="cold item"):
        check_no_leakage(data, cold_items=np.array([0]))
    with pytest.raises(LeakageError, match="held-out users"):
        check_no_leakage(data, held_out_users=["u1"])


def test_bad_split_arguments() -> None:
    data = tiny()
    with pytest.raises(InvalidInputError, match="cold_fraction"):
        cold_item_split(data, cold_fraction=1.5)
    with pytest.raises(InvalidInputError, match="too few"):
        cold_item_split(tiny(n_items=3), cold_fraction=0.2)
    with pytest.raises(InvalidInputError, match="timestamps"):
        warm_split(tiny(timestamps=False), temporal=True)
    with pytest.raises(InvalidInputError, match="reveal"):
        cold_user_split(data, reveal=(-1,))
    empty = Interactions(user_ids=data.user_ids, catalog=data.catalog, matrix=sp.csr_matrix(data.matrix.shape, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="no interactions"):
        cold_item_split(empty)
