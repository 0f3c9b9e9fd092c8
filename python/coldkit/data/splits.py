"""Seeded, leakage-checked train/test splits for the cold-start protocols.

* :func:`cold_item_split`: 20 % of the items (with an interaction) are held out with *all* their
  interactions, half for validation and half for test; the remaining (warm) interactions are split
  per user 80/10/10 into train / validation / test, so warm and all-item candidate sets can be
  scored next to the cold one (the ColdRec protocol).
* :func:`cold_user_split`: 20 % of the users are held out entirely; for each ``n`` in ``reveal``
  their first ``n`` interactions (earliest by timestamp when known) are revealed as the query
  history and the rest is the ground truth.
* :func:`warm_split`: per-user random or temporal hold-out.

Every split runs :func:`check_no_leakage` before it is returned.

Example::

    ds = coldkit.load_dataset("ml-latest-small", binary=True)
    split = cold_item_split(ds.interactions, seed=0)
    model.fit(split.train)
    task = split.tasks["cold"]
    ranked = model.recommend(task.queries, 20, candidates=task.candidates)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError

__all__ = [
    "EvalTask",
    "Split",
    "LeakageError",
    "cold_item_split",
    "cold_user_split",
    "warm_split",
    "check_no_leakage",
]


class LeakageError(ColdkitError, AssertionError):
    """A held-out interaction (or a held-out item/user) is visible in the training data."""


@dataclass(frozen=True)
class EvalTask:
    """One thing to score: queries, what may be recommended, and what is relevant.

    Attributes:
        name: e.g. ``"cold"``, ``"warm"``, ``"all"``, ``"n=3"``.
        queries: one :class:`UserQuery` per evaluated user.
        truth: CSR bool (len(queries), n_items): the relevant items of each query.
        candidates: item indices allowed in the output (None = whole catalogue).
        cold_items: bool (n_items,): items with no training interaction (for exposure).
        users: external ids of the evaluated users (same order as ``queries``).
        exclude: per query, items it interacted with outside training and outside ``truth`` (the other
            held-out part: validation for a test task, test for a validation one), dropped from its list
            as its training items are; None: none.
    """

    name: str
    queries: list[UserQuery]
    truth: sp.csr_matrix
    candidates: np.ndarray | None
    cold_items: np.ndarray
    users: np.ndarray
    exclude: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.queries)


@dataclass(frozen=True)
class Split:
    """A train set and the evaluation tasks built on it.

    Attributes:
        protocol: ``"cold-item"``, ``"cold-user"`` or ``"warm"``.
        seed: the seed that produced it.
        train: what a model may learn from (whole catalogue as item space).
        tasks: name -> :class:`EvalTask` (test).
        validation: name -> :class:`EvalTask` built on validation data (may be empty).
        notes: human-readable facts (sizes, skipped users) for reports.
    """

    protocol: str
    seed: int
    train: Interactions
    tasks: dict[str, EvalTask]
    validation: dict[str, EvalTask] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------- helpers


def _coo(inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """rows, cols, weights, timestamps (aligned; CSR order)."""
    m = inter.matrix
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    cols = m.indices.astype(np.int64)
    ts = None
    if inter.timestamps is not None:
        t = inter.timestamps.tocsr()
        t.sort_indices()
        if t.nnz == m.nnz and np.array_equal(t.indptr, m.indptr) and np.array_equal(t.indices, m.indices):
            ts = t.data.astype(np.int64)
        else:  # patterns differ (e.g. zero timestamps dropped): look each entry up
            ts = np.asarray(t[rows, cols]).ravel().astype(np.int64)
    return rows, cols, m.data.astype(np.float32), ts


def _subset(inter: Interactions, mask: np.ndarray, parts: tuple, user_rows: np.ndarray | None = None) -> Interactions:
    """Interactions keeping entries where ``mask``; optionally re-indexing users to ``user_rows``."""
    rows, cols, vals, ts = parts
    r, c = rows[mask], cols[mask]
    user_ids = inter.user_ids
    n_users = inter.n_users
    if user_rows is not None:
        remap = np.full(inter.n_users, -1, dtype=np.int64)
        remap[user_rows] = np.arange(len(user_rows))
        r = remap[r]
        if (r < 0).any():
            raise LeakageError("an interaction of a held-out user was kept in train")
        user_ids = inter.user_ids[user_rows]
        n_users = len(user_rows)
    shape = (n_users, inter.n_items)
    matrix = sp.csr_matrix((vals[mask], (r, c)), shape=shape)
    timestamps = None
    if ts is not None:
        timestamps = sp.csr_matrix((ts[mask], (r, c)), shape=shape, dtype=np.int64)
        timestamps.sort_indices()
    return Interactions(user_ids=user_ids, catalog=inter.catalog, matrix=matrix, timestamps=timestamps)


def _truth(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_items: int) -> sp.csr_matrix:
    t = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_rows, n_items), dtype=bool)
    t.sum_duplicates()
    t.sort_indices()
    return t


def _check_fraction(value: float, name: str) -> None:
    if not (0.0 < value < 1.0):
        raise InvalidInputError(f"{name} must be in (0, 1), got {value}")


def _per_user_holdout(
    rows: np.ndarray, order_key: np.ndarray, fractions: Sequence[float], rng: np.random.Generator | None,
    tie_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Label each entry 0 (train), 1, 2, ... by per-user hold-out fractions.

    Within each user entries are ordered by ``order_key`` (time for temporal splits) or shuffled
    (``rng``), and the *last* ``floor(f * n_u)`` entries go to each hold-out part, so every user
    keeps at least one training interaction when the fractions sum below 1. ``tie_rng`` orders
    entries of equal ``order_key`` at random (a temporal split's equal timestamps: by catalogue
    position they held out each user's highest item indices).
    """
    n = len(rows)
    tiebreak = rng.random(n) if rng is not None else (tie_rng.random(n) if tie_rng is not None else np.zeros(n))
    primary = order_key if rng is None else tiebreak
    order = np.lexsort((tiebreak, primary, rows))
    r_sorted = rows[order]
    starts = np.r_[0, np.flatnonzero(r_sorted[1:] != r_sorted[:-1]) + 1]
    sizes = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, sizes)  # position within the user
    size = np.repeat(sizes, sizes)
    labels_sorted = np.zeros(n, dtype=np.int64)
    boundary = size.copy()
    for part, frac in reversed(list(enumerate(fractions, start=1))):
        count = np.floor(frac * size).astype(np.int64)
        start = boundary - count
        labels_sorted[(pos >= start) & (pos < boundary)] = part
        boundary = start
    labels = np.empty(n, dtype=np.int64)
    labels[order] = labels_sorted
    return labels


def check_no_leakage(
    train: Interactions,
    held_out: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    *,
    cold_items: np.ndarray | None = None,
    held_out_users: Sequence[str] = (),
) -> None:
    """Raise :class:`LeakageError` if held-out data is visible in ``train``.

    Args:
        train: the training interactions.
        held_out: (user rows in ``train``'s index, item indices) pairs that must not be in train.
        cold_items: item indices that must have no training interaction.
        held_out_users: external user ids that must not appear in ``train`` at all.
    """
    m = train.matrix
    for rows, cols in held_out:
        if len(rows):
            present = np.asarray(m[rows, cols]).ravel() != 0
            if present.any():
                i = int(np.flatnonzero(present)[0])
                raise LeakageError(f"held-out interaction (user {train.user_ids[rows[i]]}, item {cols[i]}) is in train")
    if cold_items is not None and len(cold_items):
        counts = train.item_counts()[np.asarray(cold_items, dtype=np.int64)]
        if counts.any():
            raise LeakageError(f"{int((counts > 0).sum())} held-out cold item(s) have training interactions")
    if len(held_out_users):
        seen = set(map(str, train.user_ids)) & set(map(str, held_out_users))
        if seen:
            raise LeakageError(f"held-out users present in train: {sorted(seen)[:5]}")


def _task(
    name: str,
    rows: np.ndarray,
    cols: np.ndarray,
    inter: Interactions,
    candidates: np.ndarray | None,
    cold_items: np.ndarray,
    held_apart: tuple[np.ndarray, np.ndarray] | None = None,
) -> EvalTask:
    """A task for the warm users in ``rows`` (train user indices) with truth ``cols``; ``held_apart``:
    (rows, cols) of interactions held out of training for another task, excluded from these lists."""
    users = np.unique(rows)
    local = np.searchsorted(users, rows)
    truth = _truth(local, cols, len(users), inter.n_items)
    exclude = None
    if held_apart is not None:  # laid out as a truth matrix is: one sorted row of items per user
        other_rows, other_cols = held_apart
        mine = np.isin(other_rows, users)
        apart = _truth(np.searchsorted(users, other_rows[mine]), other_cols[mine], len(users), inter.n_items)
        exclude = np.split(apart.indices.astype(np.int64), apart.indptr[1:-1])
    return EvalTask(
        name=name,
        queries=[UserQuery(user=int(u)) for u in users],
        truth=truth,
        candidates=candidates,
        cold_items=cold_items,
        users=inter.user_ids[users],
        exclude=exclude,
    )


def _require_data(inter: Interactions, what: str) -> None:
    if inter.matrix.nnz == 0:
        raise InvalidInputError(f"{what}: no interactions to split")


# --------------------------------------------------------------------------------------- protocols


def _needs(fraction: float, lowest: int, limit: int = 1_000_000) -> str:
    """``"; it needs at least N"``: the fewest items/users of which ``round(fraction * n)`` holds out ``lowest`` or
    more and leaves at least one (``""`` past ``limit``)."""
    n = next((n for n in range(lowest + 1, limit) if lowest <= round(fraction * n) < n), None)
    return f"; it needs at least {n}" if n is not None else ""


def cold_item_split(
    interactions: Interactions,
    seed: int = 0,
    *,
    cold_fraction: float = 0.2,
    warm_validation: float = 0.1,
    warm_test: float = 0.1,
) -> Split:
    """Hold out ``cold_fraction`` of the items (those with interactions) with all their interactions.

    Cold items are split in half: validation and test. Warm interactions are split per user into
    train / validation / test (``1 - warm_validation - warm_test`` / ``warm_validation`` / ``warm_test``).

    Tasks: ``"cold"`` (candidates: the test cold items; truth: their interactions), ``"warm"``
    (candidates: items with training interactions; truth: warm test interactions) and ``"all"``
    (candidates: both; truth: both). Validation cold items are never candidates of a test task.
    """
    _require_data(interactions, "cold_item_split")
    _check_fraction(cold_fraction, "cold_fraction")
    rng = np.random.default_rng(seed)
    parts = _coo(interactions)
    rows, cols, _, ts = parts
    active = np.flatnonzero(interactions.item_counts() > 0)
    n_cold = int(round(cold_fraction * len(active)))
    if n_cold < 2 or n_cold >= len(active):
        # named by the protocol a user chose (the function's name meant nothing to `coldkit evaluate`), with the size it needs
        raise InvalidInputError(
            f"cold-item protocol: {len(active)} items with interactions are too few to hold out {cold_fraction * 100:.0f} % of them "
            f"(at least 2: half to validate, half to test){_needs(cold_fraction, 2)}"
        )
    cold = rng.permutation(active)[:n_cold]
    cold_val, cold_test = np.sort(cold[: n_cold // 2]), np.sort(cold[n_cold // 2 :])
    is_cold = np.zeros(interactions.n_items, dtype=bool)
    is_cold[cold] = True
    is_test_cold = np.zeros(interactions.n_items, dtype=bool)
    is_test_cold[cold_test] = True

    entry_cold = is_cold[cols]
    warm_idx = np.flatnonzero(~entry_cold)
    labels = np.zeros(len(rows), dtype=np.int64)
    labels[entry_cold] = -1
    labels[warm_idx] = _per_user_holdout(
        rows[warm_idx], ts[warm_idx] if ts is not None else np.zeros(len(warm_idx)), (warm_validation, warm_test), rng
    )
    train = _subset(interactions, labels == 0, parts)
    train_cold = train.item_counts() == 0  # includes items never interacted with at all

    test_cold_mask = entry_cold & is_test_cold[cols]
    val_cold_mask = entry_cold & ~is_test_cold[cols]
    warm_test_mask, warm_val_mask = labels == 2, labels == 1
    check_no_leakage(
        train,
        [(rows[m], cols[m]) for m in (test_cold_mask, val_cold_mask, warm_test_mask, warm_val_mask)],
        cold_items=cold,
    )
    warm_items = np.flatnonzero(~train_cold)
    # an item not held out cold whose every interaction fell into validation or test has none in
    # training: it is no warm candidate (nor a test cold one), so no model could rank it, and in the
    # truth it lowered every model's warm/all recall alike (4 % of ml-latest-small's entries)
    unreachable = int(np.count_nonzero(warm_test_mask & train_cold[cols]))
    warm_test_mask = warm_test_mask & ~train_cold[cols]
    warm_val_mask = warm_val_mask & ~train_cold[cols]
    # a user's warm validation items are warm candidates of the test tasks (and the test items of the validation
    # ones): known interactions, excluded as the training ones are, or they were scored as misses (a popularity
    # top 20 held validation positives for 354 of ml-latest-small's 610 warm test users)
    val_pairs, test_pairs = (rows[warm_val_mask], cols[warm_val_mask]), (rows[warm_test_mask], cols[warm_test_mask])
    tasks = {
        "cold": _task("cold", rows[test_cold_mask], cols[test_cold_mask], train, cold_test, train_cold),
        "warm": _task("warm", rows[warm_test_mask], cols[warm_test_mask], train, warm_items, train_cold, val_pairs),
    }
    all_mask = test_cold_mask | warm_test_mask
    tasks["all"] = _task("all", rows[all_mask], cols[all_mask], train, np.union1d(warm_items, cold_test), train_cold, val_pairs)
    val_all = val_cold_mask | warm_val_mask
    validation = {
        "cold": _task("cold", rows[val_cold_mask], cols[val_cold_mask], train, cold_val, train_cold),
        "warm": _task("warm", rows[warm_val_mask], cols[warm_val_mask], train, warm_items, train_cold, test_pairs),
        "all": _task("all", rows[val_all], cols[val_all], train, np.union1d(warm_items, cold_val), train_cold, test_pairs),
    }
    notes = [
        f"cold-item seed {seed}: {n_cold} of {len(active)} items held out "
        f"({len(cold_val)} validation, {len(cold_test)} test); train {train.matrix.nnz} interactions; "
        f"test users: cold {len(tasks['cold'])}, warm {len(tasks['warm'])}, all {len(tasks['all'])}"
    ]
    if unreachable:
        notes.append(
            f"cold-item seed {seed}: {unreachable} warm test interaction(s) name items left without a training "
            "interaction (all of theirs were held out): not in the warm/all truth, as no model could rank them"
        )
    return Split("cold-item", seed, train, tasks, validation, notes)


def cold_user_split(
    interactions: Interactions,
    seed: int = 0,
    *,
    user_fraction: float = 0.2,
    reveal: Sequence[int] = (0, 1, 3, 5),
    user_profiles: dict[str, str] | None = None,
    user_graph: Mapping[str, Sequence[str]] | None = None,
) -> Split:
    """Hold out ``user_fraction`` of the users; reveal their first ``n`` interactions per ``n`` in ``reveal``.

    Revealed items are the earliest by timestamp when timestamps exist, else a seeded random
    order. Users with fewer than ``n + 1`` interactions are skipped for that ``n`` (a note says how
    many). Queries carry no warm user index (``user=None``), the revealed items as ``history``,
    when ``user_profiles`` has the user, the profile ``text``, and when ``user_graph`` has the
    user, its ``friends`` among the training users (held-out friends are unknown at training time).
    Candidates: the whole catalogue.
    Tasks are named ``"n=0"``, ``"n=1"``...
    """
    _require_data(interactions, "cold_user_split")
    _check_fraction(user_fraction, "user_fraction")
    if any(int(n) < 0 for n in reveal) or not len(reveal):
        raise InvalidInputError(f"reveal must be non-negative counts, got {list(reveal)}")
    rng = np.random.default_rng(seed)
    parts = _coo(interactions)
    rows, cols, _, ts = parts
    active_users = np.flatnonzero(np.diff(interactions.matrix.indptr) > 0)
    n_cold = int(round(user_fraction * len(active_users)))
    if n_cold < 1 or n_cold >= len(active_users):
        raise InvalidInputError(
            f"cold-user protocol: {len(active_users)} users with interactions are too few to hold out {user_fraction * 100:.0f} % of them"
            f"{_needs(user_fraction, 1)}"
        )
    cold_users = np.sort(rng.permutation(active_users)[:n_cold])
    is_cold_user = np.zeros(interactions.n_users, dtype=bool)
    is_cold_user[cold_users] = True
    warm_rows = np.flatnonzero(~is_cold_user)
    train = _subset(interactions, ~is_cold_user[rows], parts, user_rows=warm_rows)
    held_ids = interactions.user_ids[cold_users]
    check_no_leakage(train, held_out_users=[str(u) for u in held_ids])
    train_cold = train.item_counts() == 0

    # Order each cold user's interactions: by time (then random), or random.
    entry = np.flatnonzero(is_cold_user[rows])
    tiebreak = rng.random(len(entry))
    primary = ts[entry] if ts is not None else tiebreak
    order = entry[np.lexsort((tiebreak, primary, rows[entry]))]
    per_user: dict[int, np.ndarray] = {}
    r_sorted = rows[order]
    bounds = np.r_[0, np.flatnonzero(r_sorted[1:] != r_sorted[:-1]) + 1, len(order)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        per_user[int(r_sorted[a])] = cols[order[a:b]]

    profiles = user_profiles or {}
    graph = user_graph or {}
    train_index = train.user_index()

    def friends_of(uid: str) -> np.ndarray:
        found = [train_index[f] for f in graph.get(uid, ()) if f in train_index]
        return np.array(sorted(found), dtype=np.int64)

    tasks: dict[str, EvalTask] = {}
    notes = [f"cold-user seed {seed}: {n_cold} of {len(active_users)} users held out; train {train.matrix.nnz} interactions"]
    for n in sorted({int(x) for x in reveal}):
        eligible = [u for u in cold_users if len(per_user.get(int(u), ())) >= n + 1]
        skipped = n_cold - len(eligible)
        queries, t_rows, t_cols = [], [], []
        for local, u in enumerate(eligible):
            items = per_user[int(u)]
            uid = str(interactions.user_ids[u])
            queries.append(UserQuery(user=None, history=items[:n], text=profiles.get(uid), friends=friends_of(uid)))
            t_rows.append(np.full(len(items) - n, local, dtype=np.int64))
            t_cols.append(items[n:])
        truth = _truth(
            np.concatenate(t_rows) if t_rows else np.empty(0, np.int64),
            np.concatenate(t_cols) if t_cols else np.empty(0, np.int64),
            len(eligible),
            interactions.n_items,
        )
        tasks[f"n={n}"] = EvalTask(
            name=f"n={n}",
            queries=queries,
            truth=truth,
            candidates=None,
            cold_items=train_cold,
            users=interactions.user_ids[np.asarray(eligible, dtype=np.int64)],
        )
        if skipped:
            notes.append(f"n={n}: {skipped} held-out user(s) with fewer than {n + 1} interactions skipped")
    return Split("cold-user", seed, train, tasks, {}, notes)


def warm_split(
    interactions: Interactions,
    seed: int = 0,
    *,
    test_fraction: float = 0.2,
    temporal: bool = False,
) -> Split:
    """Per-user hold-out of ``test_fraction`` of each user's interactions (random, or the latest ones).

    ``temporal=True`` needs timestamps. Task ``"all"``: candidates = the whole catalogue, training
    items excluded by the recommender.
    """
    _require_data(interactions, "warm_split")
    _check_fraction(test_fraction, "test_fraction")
    parts = _coo(interactions)
    rows, cols, _, ts = parts
    if temporal and ts is None:
        raise InvalidInputError(
            "warm_split(temporal=True) (coldkit evaluate --protocol warm-temporal) needs timestamps: a timestamp column in the interactions"
        )
    rng = None if temporal else np.random.default_rng(seed)
    order_key = ts if (temporal and ts is not None) else np.zeros(len(rows))
    labels = _per_user_holdout(rows, order_key, (test_fraction,), rng, tie_rng=np.random.default_rng(seed) if temporal else None)
    train = _subset(interactions, labels == 0, parts)
    test = labels == 1
    check_no_leakage(train, [(rows[test], cols[test])])
    cold = train.item_counts() == 0
    tasks = {"all": _task("all", rows[test], cols[test], train, None, cold)}
    kind = "temporal" if temporal else "random"
    notes = [f"warm ({kind}) seed {seed}: train {train.matrix.nnz}, test {int(test.sum())} interactions, {len(tasks['all'])} users"]
    if temporal and ts is not None and len(ts) and np.all(ts == ts[0]):
        notes.append(
            "warm (temporal): every interaction has the same timestamp, so time decides nothing: each user's "
            "hold-out is a seeded random draw (a random warm split)"
        )
    return Split("warm", seed, train, tasks, {}, notes)
