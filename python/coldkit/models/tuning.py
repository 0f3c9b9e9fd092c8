"""Learning the hybrid's blend from the training data itself.

A hybrid's sources (CF with cold-item adapters, content, popularity, item-kNN…) are worth
different amounts on different data sets and for different users. Hand-set weights tie simple
baselines on data they were not set on, so the hybrid learns its weights, per *regime*, on a
validation split it carves from the training interactions it is given — nothing from a test set
is ever seen:

* ``cold-items``: pseudo-cold items. A share of the items that have interactions lose all of
  them; warm users are asked to rank those items (the cold-item situation).
* ``warm``: a share of the clicks of some remaining users is hidden; those known users rank the
  whole catalogue (the warm situation, where CF should lead).
* ``n=0``, ``n=1``, ``n=3``, ``n=5``, ``n=10``: masked clicks. A share of the users are removed
  from training; each is asked to rank the whole catalogue from only its first ``n`` clicks
  (and its profile text, if any), the rest being what it should find.
* ``words`` (with ``item_texts``): a new user who gives only their own words ("space opera,
  aliens") and no click. The same held-out users describe their first :data:`WORDS_FROM` clicks
  in the words those items' texts share most (:func:`describe_items`: the genres and tags they
  have in common, not one title) and are asked for the rest. Without it no validation query
  carried text, the ``text`` weight kept a hand-set default, and on lastfm-2k a new user's own
  tags *lowered* the default hybrid's Recall@20 below popularity alone.
* ``words+clicks`` (with ``item_texts``): a new user who gives words *and* a few clicks. Held-out
  users describe their first :data:`WORDS_FROM` clicks in words and reveal the next
  :data:`WORDS_CLICKS` (so the words say something the clicks do not); only the words' weight is
  learned here, on top of the weights of the click regime those users fall in. A query with text
  and clicks keeps its click regime (and its stacker) with this ``text`` weight: the hand-set 0.5
  it had before cost lastfm-2k users with their own tags and 3 clicks 1.2 % Recall@20 against
  ignoring their words (hashing encoder).

One model is fitted on what remains, every source ranks each validation query once, and a
coordinate ascent over a small grid picks the weights that maximise Recall@k of the fused list
(the fusion itself is cheap, so hundreds of weightings are tried per regime). A query then uses
the weights of its regime, chosen from what the query looks like, never from who asks: ``cold-items``
when every candidate is an item without interactions, ``warm`` when it has more known clicks than
the largest masked-click count (``warm_from``), ``words`` when it has text and no known click, else
the bucket of its number of known clicks (the largest tuned ``n`` not above it), with the
``words+clicks`` text weight where it has both. So a known user and an anonymous request with the same clicks get the same list.

Example::

    carved = carve_validation(train, seed=0)
    # fit a model on carved.train, rank carved.tasks[name].queries with every source ...
    weights, recall = coordinate_ascent(lambda w: fused_recall(fusion, sources, w, task.truth, 20), start)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import check_fused
from coldkit.models.blend import STOP_WORDS
from coldkit.plugins.types import FusionStrategy, Ranked
from coldkit.text import join_bigrams
from coldkit.text import words as text_words

__all__ = [
    "COLD_ITEMS",
    "WARM",
    "WORDS",
    "WORDS_FROM",
    "WORDS_AND_CLICKS",
    "WORDS_CLICKS",
    "describe_items",
    "REVEAL",
    "ValidationTask",
    "CarvedValidation",
    "carve_validation",
    "fully_timed",
    "climb_grid",
    "coordinate_ascent",
    "fused_recall",
    "fused_recall_objective",
    "recall_of",
    "recall_per_query",
    "recall_per_item",
    "LearnedWeights",
    "WEIGHT_GRID",
]

COLD_ITEMS = "cold-items"
WARM = "warm"
WORDS = "words"
#: The clicks a ``words`` validation user describes (its query's text), the rest being its truth.
WORDS_FROM = 3
#: At most this many words describe them: about what a sign-up form's "what do you like?" gets.
MAX_WORDS = 10
WORDS_AND_CLICKS = "words+clicks"
#: The clicks a ``words+clicks`` validation user reveals beside the words: the ones after those the words describe.
WORDS_CLICKS = 3
_WORDS_STREAM = 0x776F7264  # the words task's own random stream beside the seed ("word")
REVEAL: tuple[int, ...] = (0, 1, 3, 5, 10)  # known clicks at which cold-user weights are tuned
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class ValidationTask:
    """Queries to rank, what each should find (CSR bool (B, n_items)) and the allowed items (None = all).

    ``pools`` (cold-item tasks only): consecutive blocks of queries, each ``(number of queries,
    its candidate items)``, ranked separately — a test ranks cold items of *one* kind (random
    held-out items, or the newest or rarest ones), so the validation never asks a source to tell two kinds
    apart (see :func:`carve_validation`). Empty: every query ranks ``candidates``.
    """

    name: str
    queries: list[UserQuery]
    truth: sp.csr_matrix
    candidates: np.ndarray | None
    pools: tuple[tuple[int, np.ndarray], ...] = ()

    def __len__(self) -> int:
        return len(self.queries)

    def parts(self) -> list[tuple[slice, np.ndarray | None]]:
        """(rows of the queries, their candidates) for each block ranked on its own."""
        if not self.pools:
            return [(slice(0, len(self.queries)), self.candidates)]
        out: list[tuple[slice, np.ndarray | None]] = []
        start = 0
        for size, candidates in self.pools:
            out.append((slice(start, start + size), candidates))
            start += size
        return out


@dataclass(frozen=True)
class CarvedValidation:
    """The training data left after carving (same user and item index spaces) and the validation tasks."""

    train: Interactions
    tasks: dict[str, ValidationTask]
    notes: list[str] = field(default_factory=list)
    #: the ``words+clicks`` users (words and :data:`WORDS_CLICKS` clicks each), apart from ``tasks``: only the
    #: words' weight is learned on them, over the click regime's (they fit no weights and no stacker of their own)
    words_with_clicks: ValidationTask | None = None
    #: the users held out for the masked-click tasks and the items made pseudo-cold (sorted): what a
    #: further carve of the same data leaves in training (``carve_validation(..., fold=1, after=[this])``)
    held_users: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    pseudo_cold: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def masked_click_tasks(self) -> list[ValidationTask]:
        """The new users' tasks of revealed clicks (``n=0``, ``n=1``…): not the pseudo-cold items, the
        warm users nor the users who give only words (their source is ``text``, chosen by weight alone)."""
        return [task for task in self.tasks.values() if task.name.startswith("n=")]


def fully_timed(train: Interactions) -> bool:
    """Whether every interaction has a timestamp (what a time-aware carve, or decayed counts, need)."""
    return train.timestamps is not None and train.timestamps.nnz == train.matrix.nnz


def _truth(rows: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])].astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.empty(0, np.int64)
    truth = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(rows), n_items))
    truth.sum_duplicates()
    truth.sort_indices()
    return truth


def _keep(train: Interactions, keep: np.ndarray) -> Interactions:
    """``train`` with only the entries where ``keep`` (CSR order), index spaces unchanged."""
    m = train.matrix.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    matrix = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    timestamps = None
    if fully_timed(train):  # partial timestamps: the carve is untimed
        assert train.timestamps is not None
        t = train.timestamps.tocsr()
        t.sort_indices()
        # timestamps share the matrix's sparsity pattern; align by (row, col) keys
        order_m = np.lexsort((m.indices, rows))
        t_rows = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
        order_t = np.lexsort((t.indices, t_rows))
        ts = np.empty(m.nnz, dtype=np.int64)
        ts[order_m] = t.data[order_t]
        timestamps = sp.csr_matrix((ts[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.int64)
        timestamps.sort_indices()
    return Interactions(user_ids=train.user_ids, catalog=train.catalog, matrix=matrix, timestamps=timestamps)


def _pseudo_cold_items(train: Interactions, active_items: np.ndarray, n_cold: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The ``n_cold`` items made pseudo-cold, as two pools (each sorted) that are ranked apart.

    In production the cold items are the *new* ones, which differ from random items, and a test
    split may be either kind, so the weights are learned on both: a seeded random sample, and half
    that stands in for the new items. With timestamps those are the items that appeared last
    (latest first interaction: newer years, topics and tastes). Without them, the items with the
    fewest users: a new item gathers its users slowly, so the items that still have few are the
    nearest stand-in for it, and they are the items whose content says least about their CF
    vectors (measured on lastfm-2k's long tail, Dec 7: a random pool alone learned weights that
    trailed TF-IDF content kNN there, docs/evaluation.md). The pools are ranked *separately*: in
    one mixed pool a source scored well by telling new items from old ones (on ml-100k the
    content-kNN adapter: validation Recall@20 0.565 vs 0.513 for the ridge adapter, while on random
    test items it was 0.412 vs 0.481), which no test of one kind of item asks.
    """
    if fully_timed(train):
        assert train.timestamps is not None
        newest, sampled = _first_half(_newest_first(train.timestamps.tocsc(), active_items), n_cold, rng)
        return [sampled, newest]
    tiebreak = rng.random(len(active_items))  # many items share a count: which of them is seeded, not index order
    rarest, sampled = _first_half(active_items[np.lexsort((tiebreak, train.item_counts()[active_items]))], n_cold, rng)
    return [sampled, rarest]


def _first_seen(times: sp.csr_matrix | sp.csc_matrix) -> np.ndarray:
    """Each row's (CSR) or column's (CSC) earliest timestamp; the int64 maximum where there is none."""
    first = np.full(len(times.indptr) - 1, np.iinfo(np.int64).max, dtype=np.int64)
    has = np.diff(times.indptr) > 0
    first[has] = np.minimum.reduceat(times.data.astype(np.int64), times.indptr[:-1][has])
    return first


def _newest_first(times: sp.csr_matrix | sp.csc_matrix, active: np.ndarray) -> np.ndarray:
    """``active`` (rows of CSR ``times``, columns of CSC) ordered by their earliest timestamp, latest first (stable)."""
    first_seen = _first_seen(times)
    return active[np.argsort(-first_seen[active], kind="stable")]


def _first_half(ordered: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the first ``n // 2`` of ``ordered``, a seeded sample of the others to make ``n``), each sorted."""
    first = ordered[: n // 2]
    sampled = rng.permutation(ordered[n // 2 :])[: n - len(first)]
    return np.sort(first).astype(np.int64), np.sort(sampled).astype(np.int64)


def _held_out_users(train: Interactions, active_users: np.ndarray, n_held: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n_held`` users of the masked-click tasks (sorted).

    Without timestamps: a seeded random sample. With timestamps: half are the users who arrived
    last (latest first interaction), half a random sample of the rest, for the same reason as the
    pseudo-cold items (:func:`_pseudo_cold_items`): in production the new users are the ones who
    just signed up, whose first clicks lean to what is new and popular *now*, and a test split may
    hold either kind. Unlike items the two kinds share one task: a user ranks the whole catalogue
    either way, so no source can score by telling the kinds apart.
    """
    if n_held < 1:
        return np.empty(0, np.int64)
    if not fully_timed(train):
        return np.sort(rng.permutation(active_users)[:n_held]).astype(np.int64)
    assert train.timestamps is not None
    newest, sampled = _first_half(_newest_first(train.timestamps.tocsr(), active_users), n_held, rng)
    return np.sort(np.concatenate([newest, sampled]))


def carve_validation(
    train: Interactions,
    *,
    seed: int = 0,
    item_fraction: float = 0.1,
    user_fraction: float = 0.2,
    warm_fraction: float = 0.2,
    reveal: Iterable[int] = REVEAL,
    max_queries: int = 400,
    min_queries: int = 50,
    user_profiles: Mapping[str, str] | None = None,
    user_graph: Mapping[str, Sequence[str]] | None = None,
    min_pool: int = 0,
    item_texts: Sequence[str] | None = None,
    fold: int = 0,
    after: Sequence[CarvedValidation] = (),
) -> CarvedValidation:
    """Carve pseudo-cold items and masked-click users out of ``train`` (see the module docstring).

    Args:
        train: the training interactions the model was given.
        seed: the seed of every random choice.
        item_fraction: share of the items with interactions made pseudo-cold.
        user_fraction: share of the users with interactions held out for the masked-click tasks.
        warm_fraction: share of the clicks hidden for the users of the ``warm`` task.
        reveal: the click counts ``n`` of the masked-click tasks.
        max_queries: at most this many queries per task (per pool of pseudo-cold items; a seeded
            sample), to bound tuning time.
        min_queries: a task with fewer queries is dropped (too noisy to tune on), with a note.
        user_profiles: external user id -> profile text, given to masked-click queries.
        user_graph: external user id -> friend ids; masked-click queries get their friends among
            the users that stay in training.
        min_pool: a pool of at most this many pseudo-cold items gives no cold-item task, with a
            note: the tuning's top ``min_pool`` (its ``k``) of such a pool lists every item, so
            every weighting scores the same and "tuned" weights would be the defaults in disguise.
        item_texts: each item's text, in index order: adds the ``words`` task (held-out users who
            describe their first :data:`WORDS_FROM` clicks in words, :func:`describe_items`).
        fold: 0 for the first carve; a further carve of the same data (1, 2…) draws from a random
            stream of its own.
        after: the earlier carves of the same data: their held-out users and pseudo-cold items are
            not held out again (they stay in this carve's training), so the carves' queries are
            different users and items. The shares stay shares of all active users and items; with
            timestamps the "newest" halves are then the newest of those left.

    Returns:
        The remaining interactions (same index spaces: held-out users keep empty rows) and the
        tasks that had enough queries; ``tasks`` is empty when the data are too small to tune on.
    """
    for name, value in (("item_fraction", item_fraction), ("user_fraction", user_fraction), ("warm_fraction", warm_fraction)):
        if not 0.0 <= value < 1.0:
            raise InvalidInputError(f"{name} must be in [0, 1), got {value}")
    if fold < 0 or (fold == 0) != (not after):
        raise InvalidInputError(f"a carve's fold is 0 for the first carve, else 1, 2… after the earlier ones; got fold={fold} after {len(after)}")
    rng = np.random.default_rng(seed if fold == 0 else [seed, fold])
    m = train.matrix.tocsr()
    n_items = train.n_items
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    cols = m.indices.astype(np.int64)
    notes: list[str] = []

    active_items = np.flatnonzero(train.item_counts() > 0)
    n_cold = int(round(item_fraction * len(active_items)))
    taken_items = np.concatenate([np.asarray(c.pseudo_cold, np.int64) for c in after]) if after else np.empty(0, np.int64)
    active_items = np.setdiff1d(active_items, taken_items)
    n_cold = min(n_cold, len(active_items))
    pools = _pseudo_cold_items(train, active_items, n_cold, rng) if n_cold >= 2 else []
    too_few = bool(pools) and min(len(pool) for pool in pools) <= min_pool  # each pool is ranked on its own
    if too_few:
        notes.append(
            f"validation: {' + '.join(str(len(pool)) for pool in pools)} pseudo-cold item(s) would be carved ({item_fraction:.0%} of "
            f"{len(active_items):,} items with interactions; each pool is ranked on its own): a top {min_pool} of "
            "so few lists them all, so none is carved and the cold-item weights are not tuned (defaults kept)"
        )
        pools = []  # and they stay in training for the other tasks
    pseudo_cold = np.sort(np.concatenate(pools)) if pools else np.empty(0, np.int64)
    is_cold = np.zeros(n_items, dtype=bool)
    is_cold[pseudo_cold] = True

    active_users = np.flatnonzero(np.diff(m.indptr) > 0)
    n_held = int(round(user_fraction * len(active_users)))
    taken_users = np.concatenate([np.asarray(c.held_users, np.int64) for c in after]) if after else np.empty(0, np.int64)
    active_users = np.setdiff1d(active_users, taken_users)
    n_held = min(n_held, len(active_users))
    held = _held_out_users(train, active_users, n_held, rng)
    is_held = np.zeros(train.n_users, dtype=bool)
    is_held[held] = True

    # Warm task: some remaining users (with at least 5 warm clicks) lose a share of those clicks.
    warm_clicks = np.bincount(rows[~is_cold[cols]], minlength=train.n_users)
    warm_pool = np.flatnonzero(~is_held & (warm_clicks >= 5))
    warm_users = np.sort(rng.permutation(warm_pool)[:max_queries])
    is_warm_user = np.zeros(train.n_users, dtype=bool)
    is_warm_user[warm_users] = True
    hidden = is_warm_user[rows] & ~is_cold[cols] & (rng.random(len(rows)) < warm_fraction)

    keep = ~is_cold[cols] & ~is_held[rows] & ~hidden
    remaining = _keep(train, keep)
    if remaining.matrix.nnz == 0:
        return CarvedValidation(remaining, {}, ["validation: too few interactions to carve a validation split"])
    tasks: dict[str, ValidationTask] = {}

    # Pseudo-cold items, ranked by the users who stay in training; each pool on its own.
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (users, the pool's items, its item mask)
    for pool in pools:
        in_pool = np.zeros(n_items, dtype=bool)
        in_pool[pool] = True
        users = np.unique(rows[in_pool[cols] & ~is_held[rows]])
        if len(users) > max_queries:
            users = np.sort(rng.choice(users, max_queries, replace=False))
        if len(users):
            blocks.append((users, pool, in_pool))
    n_cold_queries = sum(len(users) for users, _, _ in blocks)
    if blocks and n_cold_queries >= min_queries and remaining.matrix[np.concatenate([u for u, _, _ in blocks])].nnz > 0:
        queries: list[UserQuery] = []
        truth_rows: list[np.ndarray] = []
        for users, _, in_pool in blocks:
            queries.extend(UserQuery(user=int(u)) for u in users)
            for u in users:
                clicked = cols[m.indptr[u] : m.indptr[u + 1]]
                truth_rows.append(clicked[in_pool[clicked]])
        # one block (the other pool found no query): its queries rank their own pool, not both
        tasks[COLD_ITEMS] = ValidationTask(
            COLD_ITEMS, queries, _truth(truth_rows, n_items), pseudo_cold if len(blocks) > 1 else blocks[0][1],
            pools=tuple((len(users), pool) for users, pool, _ in blocks) if len(blocks) > 1 else (),
        )
    elif too_few:
        pass  # nothing made pseudo-cold: the note above says why
    elif n_cold_queries < min_queries:
        notes.append(
            f"validation: only {n_cold_queries} user(s) clicked a pseudo-cold item (tuning needs {min_queries}): "
            "the cold-item weights are not tuned (defaults kept)"
        )
    else:  # enough of them, but none keeps a click in training to be ranked from
        notes.append(
            f"validation: none of the {n_cold_queries} user(s) who clicked a pseudo-cold item keeps a click in training: "
            "the cold-item weights are not tuned (defaults kept)"
        )

    warm_users = np.unique(rows[hidden])
    if len(warm_users) >= min_queries:
        lookup = {int(u): i for i, u in enumerate(warm_users)}
        per_user: list[list[int]] = [[] for _ in warm_users]
        for u, i in zip(rows[hidden], cols[hidden]):
            per_user[lookup[int(u)]].append(int(i))
        tasks[WARM] = ValidationTask(
            WARM, [UserQuery(user=int(u)) for u in warm_users], _truth([np.array(p) for p in per_user], n_items), None
        )
    else:
        notes.append(
            f"validation: only {len(warm_users)} user(s) have hidden warm clicks (tuning needs {min_queries}): "
            "the warm weights are not tuned (defaults kept)"
        )

    # Masked clicks: each held-out user reveals its first n clicks (by time, else a seeded order).
    ts = train.timestamps.tocsr() if train.timestamps is not None else None
    ordered: dict[int, np.ndarray] = {}
    for u in held:
        items = cols[m.indptr[u] : m.indptr[u + 1]]
        tiebreak = rng.random(len(items))
        if ts is not None:
            t_row = ts[int(u)]
            when = dict(zip(t_row.indices.tolist(), t_row.data.tolist()))
            order = np.lexsort((tiebreak, np.array([when.get(int(i), 0) for i in items])))
        else:
            order = np.argsort(tiebreak)
        ordered[int(u)] = items[order]
    profiles = user_profiles or {}
    graph = user_graph or {}
    index = train.user_index() if graph else {}

    def friends_of(u: int) -> np.ndarray:
        found = [index[f] for f in graph.get(str(train.user_ids[u]), ()) if f in index and not is_held[index[f]]]
        return np.array(sorted(found), dtype=np.int64)

    for n in sorted({int(x) for x in reveal}):
        if n < 0:
            raise InvalidInputError(f"reveal counts must be >= 0, got {n}")
        eligible = [u for u in held if len(ordered[int(u)]) >= n + 1]
        if len(eligible) > max_queries:
            eligible = sorted(rng.choice(eligible, max_queries, replace=False).tolist())
        if len(eligible) < min_queries:
            notes.append(
                f"validation: only {len(eligible)} held-out user(s) have more than {n} click(s) "
                f"(tuning needs {min_queries}): the n={n} weights are not tuned (defaults kept)"
            )
            continue
        queries = [
            UserQuery(
                history=ordered[int(u)][:n],
                text=profiles.get(str(train.user_ids[int(u)])) or None,
                friends=friends_of(int(u)),
            )
            for u in eligible
        ]
        tasks[f"n={n}"] = ValidationTask(
            f"n={n}", queries, _truth([ordered[int(u)][n:] for u in eligible], n_items), None
        )
    with_clicks: ValidationTask | None = None
    if item_texts is not None:
        stream = [seed] if fold == 0 else [seed, fold]
        task, with_clicks, note = _words_tasks(train, held, ordered, item_texts, stream, max_queries, min_queries)
        if task is not None:
            tasks[WORDS] = task
        if note:
            notes.append(note)
    notes.insert(
        0,
        f"validation (seed {seed}{f', carve {fold + 1}' if fold else ''}): {len(pseudo_cold)} pseudo-cold items, {len(held)} held-out users; "
        f"tasks: {', '.join(f'{k} ({len(t)} queries)' for k, t in tasks.items()) or 'none'}"
        + (f"; {WORDS_AND_CLICKS} ({len(with_clicks)} queries)" if with_clicks is not None else ""),
    )
    return CarvedValidation(remaining, tasks, notes, with_clicks, held_users=held, pseudo_cold=pseudo_cold)


def describe_items(texts: Sequence[str], limit: int = MAX_WORDS) -> str:
    """The words the ``texts`` (of a user's clicked items) share most, as a user might say them.

    Each word counts once per text (lower-case, no stop words, longer than one letter); the most
    shared come first, ties in order of appearance. Shared words are what the items have in common
    (a genre, a tag: "rock, indie"), not what names one of them (a title), which is how people
    describe their taste. Empty when the texts have no word.

    Example::

        describe_items(["Alien (1979). Horror|Sci-Fi", "Solaris. Drama|Sci-Fi"])   # 'sci, fi, alien, 1979, horror, solaris, drama'
    """
    if isinstance(texts, (str, bytes)):  # each letter would be a text, and say nothing
        raise InvalidInputError("describe_items takes a list of texts (one per item), not one string")
    counts: dict[str, int] = {}
    for text in texts:
        for word in dict.fromkeys(text_words(_plain(text))):  # once per text, in order
            if word not in STOP_WORDS and len(word) > 1:
                counts[word] = counts.get(word, 0) + 1
    order = sorted(counts, key=lambda w: -counts[w])  # stable: ties keep their first appearance
    # a Chinese, Japanese or Korean run is read as bigrams (coldkit.text.words): those of one run, counted
    # alike, follow one another and are said as the run ("ビートルズ", which encodes to the same bigrams)
    return ", ".join(join_bigrams(order)[:limit])


def _plain(text: object) -> str:
    """``text`` as a str; a missing value (None, NaN, pandas' NA: an empty cell of a column's
    ``tolist()``) is no text, not the word "nan" (and NA's truth value raises)."""
    if isinstance(text, str):
        return text
    if text is None or (pd.api.types.is_scalar(text) and bool(pd.isna(text))):
        return ""
    return str(text)


def _words_tasks(
    train: Interactions, held: np.ndarray, ordered: Mapping[int, np.ndarray], item_texts: Sequence[str],
    seed: Sequence[int], max_queries: int, min_queries: int,
) -> tuple[ValidationTask | None, ValidationTask | None, str]:
    """The ``words`` task: held-out users with more than :data:`WORDS_FROM` clicks describe the first
    ones in words (the query's only text, no click) and should find the rest; and the ``words+clicks``
    task: those with more than ``WORDS_FROM + WORDS_CLICKS`` clicks also reveal the :data:`WORDS_CLICKS`
    after the described ones. A note when too few users can say anything."""
    if len(item_texts) != train.n_items:
        raise InvalidInputError(f"item_texts has {len(item_texts)} texts for {train.n_items} items")
    described: list[tuple[int, str]] = []
    for u in held:
        clicks = ordered[int(u)]
        if len(clicks) > WORDS_FROM:
            said = describe_items([item_texts[int(i)] for i in clicks[:WORDS_FROM]])
            if said:  # items without words give a user nothing to say
                described.append((int(u), said))
    # the words+clicks users first, from the whole list, on a stream of their own: the words task's
    # draw (and so its weights) stays what it was without them
    with_clicks = [(u, said) for u, said in described if len(ordered[u]) > WORDS_FROM + WORDS_CLICKS]
    if len(with_clicks) > max_queries:
        picked = np.random.default_rng([*seed, _WORDS_STREAM, 1]).choice(len(with_clicks), max_queries, replace=False)
        with_clicks = [with_clicks[i] for i in np.sort(picked)]
    if len(described) > max_queries:
        # a generator of its own: the other tasks' draws (and so their weights) stay as without words
        picked = np.random.default_rng([*seed, _WORDS_STREAM]).choice(len(described), max_queries, replace=False)
        described = [described[i] for i in np.sort(picked)]
    if len(described) < min_queries:
        return None, None, (
            f"validation: only {len(described)} held-out user(s) have more than {WORDS_FROM} clicks on items "
            f"with text (tuning needs {min_queries}): the weights for a new user's own words are not tuned (defaults kept)"
        )
    queries = [UserQuery(text=said) for _, said in described]
    truth = _truth([ordered[u][WORDS_FROM:] for u, _ in described], train.n_items)
    words = ValidationTask(WORDS, queries, truth, None)
    if len(with_clicks) < min_queries:
        return words, None, (
            f"validation: only {len(with_clicks)} held-out user(s) have more than {WORDS_FROM + WORDS_CLICKS} clicks "
            f"(tuning needs {min_queries}): the weight of a new user's words beside their clicks is not tuned (default kept)"
        )
    shown = WORDS_FROM + WORDS_CLICKS
    both = [UserQuery(history=ordered[u][WORDS_FROM:shown], text=said) for u, said in with_clicks]
    both_truth = _truth([ordered[u][shown:] for u, _ in with_clicks], train.n_items)
    return words, ValidationTask(WORDS_AND_CLICKS, both, both_truth, None), ""


def _relevant(truth: sp.spmatrix) -> sp.csr_matrix:
    """``truth`` as a bool CSR copy with only its true entries, each once, in index order.

    A stored ``False`` is not a relevant item. Masking a truth matrix with ``truth.multiply(mask)``
    (the stacker's item folds) keeps the masked-out entries as explicit zeros; counted as relevant,
    they made every recall of a fold a fraction of what it was (3 candidates, k = 20: 0.48, not 1.0)
    and kept queries with nothing to find in the comparison. ``recall_at_k`` drops them too.
    """
    truth = sp.csr_matrix(truth, dtype=bool, copy=True)
    truth.eliminate_zeros()
    truth.sum_duplicates()
    truth.sort_indices()
    return truth


def recall_per_query(indices: np.ndarray, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """Recall@k of each row of ``truth`` that has a relevant item (hits / relevant items).

    The same definition as :func:`coldkit.evaluation.metrics.recall_at_k` (tests check they agree);
    written here because the model layer sits below evaluation.
    """
    top = np.asarray(indices, dtype=np.int64)[:, :k]
    truth = _relevant(truth)
    n_rel = np.diff(truth.indptr)
    n_items = max(truth.shape[1], 1)
    # one searchsorted over sorted (row, item) keys finds every hit without a Python loop
    keys = np.repeat(np.arange(truth.shape[0], dtype=np.int64), n_rel) * n_items + truth.indices
    asked = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + np.where(top >= 0, top, 0)
    pos = np.minimum(np.searchsorted(keys, asked), max(len(keys) - 1, 0))
    hit = (top >= 0) & (len(keys) > 0) & (keys[pos] == asked if len(keys) else False)
    if top.shape[1] > 1:  # an item listed twice counts once
        ordered = np.sort(np.where(hit, top, -1), axis=1)
        repeats = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).sum(axis=1)
    else:
        repeats = np.zeros(top.shape[0], dtype=np.int64)
    hits = hit.sum(axis=1) - repeats
    rows = n_rel > 0
    return hits[rows] / n_rel[rows]


def recall_of(indices: np.ndarray, truth: sp.csr_matrix, k: int) -> float:
    """Mean of :func:`recall_per_query` (0.0 when no row has a relevant item)."""
    per_query = recall_per_query(indices, truth, k)
    return float(per_query.mean()) if per_query.size else 0.0


def fused_recall(
    fusion: FusionStrategy, sources: Mapping[str, Ranked], weights: Mapping[str, float], truth: sp.csr_matrix, k: int
) -> np.ndarray:
    """Per-query Recall@k of the fusion of ``sources`` under ``weights`` (sources with weight 0 left out)."""
    used = {name: ranked for name, ranked in sources.items() if weights.get(name, 0.0) > 0}
    if not used:
        return np.zeros(int((np.diff(truth.indptr) > 0).sum()))
    fused = check_fused(fusion, fusion.fuse(used, k, {name: float(weights[name]) for name in used}), used, k)
    return recall_per_query(fused.indices, truth, k)


def recall_per_item(indices: np.ndarray, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """Recall@k split by relevant item: one value per item that is relevant to some query.

    Each hit of query ``q`` on item ``i`` adds ``1 / |truth_q|`` to item ``i``; the values are
    scaled so that their mean equals the mean of :func:`recall_per_query`. For new items the item,
    not the query, is the unit that varies independently: hundreds of queries share a hundred
    pseudo-cold items, so a paired test over queries overstates how sure a gain is.
    """
    top = np.asarray(indices, dtype=np.int64)[:, :k]
    truth = _relevant(truth)
    n_rel = np.diff(truth.indptr)
    items = np.unique(truth.indices)
    if items.size == 0:
        return np.zeros(0)
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    listed = top.ravel()
    valid = listed >= 0
    shown = sp.csr_matrix(
        (np.ones(int(valid.sum()), dtype=bool), (rows[valid], listed[valid])), shape=truth.shape
    )
    shown.data[:] = True  # an item listed twice counts once
    hits = truth.multiply(shown).tocoo()
    share = np.zeros(truth.shape[1])
    np.add.at(share, hits.col, 1.0 / n_rel[hits.row])
    queries = int((n_rel > 0).sum())
    return share[items] * (items.size / max(queries, 1))


def fused_recall_objective(
    fusion: FusionStrategy, sources: Mapping[str, Ranked], truth: sp.csr_matrix, k: int, *, unit: str = "query"
) -> Callable[[Mapping[str, float]], np.ndarray]:
    """``weights -> fused_recall(fusion, sources, weights, truth, k)``, made cheap where the fusion can.

    A fusion with a ``prepare(sources, k)`` method (``weighted``) does the weight-free work once,
    so each of the ascent's hundreds of trials costs a sum and a top-k instead of a full fusion.
    ``unit="item"`` returns the recall split by relevant item (:func:`recall_per_item`; same
    mean), for tasks whose queries share a few new items.
    """
    if unit not in ("query", "item"):
        raise InvalidInputError(f"unit must be 'query' or 'item', got {unit!r}")
    per_unit = recall_per_query if unit == "query" else recall_per_item
    prepare = getattr(fusion, "prepare", None)
    prepared = prepare(sources, k) if callable(prepare) else None
    nothing = per_unit(np.full((truth.shape[0], 1), -1), truth, k)  # zeros, one per unit
    checked: list[bool] = []

    def objective(weights: Mapping[str, float]) -> np.ndarray:
        used = {name: float(w) for name, w in weights.items() if name in sources and w > 0}
        if not used:
            return nothing.copy()
        if prepared is None:
            chosen = {name: sources[name] for name in used}
            fused = fusion.fuse(chosen, k, used)
            if not checked:  # the first answer of a (plugin) fusion is checked; the search calls it many times
                check_fused(fusion, fused, chosen, k)
                checked.append(True)
            return per_unit(fused.indices, truth, k)
        return per_unit(prepared(used).indices, truth, k)

    return objective


def climb_grid(size: int, start: int, score: Callable[[int], float]) -> tuple[int, dict[int, float]]:
    """Hill-climb an ordered grid of ``size`` values from index ``start``: score the neighbours of the
    best so far (the smaller first, so a tie keeps the value it has), move to a better one, stop when
    neither is. Returns the best index and ``{index: score}`` of those tried.

    Why a climb: each score is a model fitted and ranked on the validation split (an EASE inverse, a
    ridge solve), and the recall over a penalty grid has one peak in practice: 3–5 scores, not all.
    """
    best = start
    tried = {start: score(start)}
    while True:
        centre = best
        for step in (centre - 1, centre + 1):
            if 0 <= step < size and step not in tried:
                tried[step] = score(step)
                if tried[step] > tried[best]:
                    best = step
        if best == centre:
            return best, tried


def coordinate_ascent(
    objective: Callable[[dict[str, float]], np.ndarray],
    start: Mapping[str, float],
    grid: Sequence[float] = WEIGHT_GRID,
    *,
    passes: int = 2,
    min_t: float = 3.0,
) -> tuple[dict[str, float], float]:
    """Maximise the mean of ``objective(weights)`` (per-query scores) one weight at a time over ``grid``.

    A move is taken only when it beats the current weights by a paired t statistic of at least
    ``min_t`` over the validation queries: a small, noisy validation set then leaves the defaults
    alone instead of fitting its noise, while a large one can move far from them. The bar is high
    (3, not 2) because one ascent makes some eighty comparisons: at t >= 2 a couple of them pass by
    chance, and such moves were measured to hurt on held-out data (ml-latest-small, n = 3). Stops after
    ``passes`` sweeps or a sweep without a move. Returns the weights and their mean score.
    """
    current = dict(start)
    best = np.asarray(objective(current), dtype=np.float64)
    for _ in range(max(1, passes)):
        moved = False
        for name in list(current):
            for value in grid:
                if value == current[name]:
                    continue
                trial = {**current, name: float(value)}
                if not any(v > 0 for v in trial.values()):
                    continue
                scores = np.asarray(objective(trial), dtype=np.float64)
                if _paired_t(scores, best) >= min_t:
                    current, best, moved = trial, scores, True
        if not moved:
            break
    return current, float(best.mean()) if best.size else 0.0


def _paired_t(new: np.ndarray, old: np.ndarray) -> float:
    """Paired t statistic of ``new - old`` (inf for a uniform gain, 0 for none or a loss)."""
    diff = new - old
    mean = float(diff.mean()) if diff.size else 0.0
    if mean <= 0:
        return 0.0
    spread = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    return mean / (spread / np.sqrt(diff.size)) if spread > 0 else float("inf")


@dataclass(frozen=True)
class LearnedWeights:
    """Per-regime source weights learned on a carved validation split.

    Attributes:
        regimes: regime name (``"cold-items"``, ``"n=0"``, ``"n=1"``…) -> source -> weight, for
            the sources the regime's validation queries exercised.
        validation: regime -> (Recall@k with the default weights, with the learned weights).
        notes: what was carved and what could not be tuned.
        warm_from: queries with at least this many known clicks use the ``warm`` regime.
    """

    regimes: dict[str, dict[str, float]]
    validation: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warm_from: int = max(REVEAL) + 1

    def _bucket(self, n: int) -> str | None:
        tuned = sorted(int(name[2:]) for name in self.regimes if name.startswith("n="))
        below = [t for t in tuned if t <= n]
        if below:
            return f"n={below[-1]}"
        return f"n={tuned[0]}" if tuned else None

    def regime_of(self, known: int, cold_candidates: bool, has_text: bool = False) -> str | None:
        """The tuned regime of a query with ``known`` clicks and (``has_text``) words of its own (None:
        nothing tuned applies)."""
        if cold_candidates and COLD_ITEMS in self.regimes:
            return COLD_ITEMS
        if WARM in self.regimes and known >= self.warm_from:
            return WARM
        if has_text and known == 0 and WORDS in self.regimes:
            return WORDS
        return self._bucket(known)

    def for_queries(
        self, known: np.ndarray, cold_candidates: bool, defaults: Mapping[str, np.ndarray],
        has_text: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Per-query weights: the regime's learned weights, else ``defaults``.

        A regime holds only the sources its validation queries could exercise (no carved query had
        text, say, so the ``text`` weight was never tested): those keep their default weights.

        Args:
            known: (B,) number of known clicks of each query.
            cold_candidates: every candidate is an item without interactions.
            defaults: source -> (B,) hand-set adaptive weights, kept for queries whose regime was not tuned.
            has_text: (B,) whether each query carries words of its own (default: none does).
        """
        out = {name: np.array(w, dtype=np.float64, copy=True) for name, w in defaults.items()}
        texts = np.zeros(len(known), dtype=bool) if has_text is None else np.asarray(has_text, dtype=bool)
        for b, n in enumerate(np.asarray(known, dtype=np.int64)):
            regime = self.regime_of(int(n), cold_candidates, bool(texts[b]))
            layers = [self.regimes.get(regime) if regime is not None else None]
            if regime == WORDS:
                # a source the words users could not exercise (their friends: they had none) takes what the
                # users without clicks learned for it, not the hand-set default
                layers.insert(0, self.regimes.get(self.regime_of(int(n), cold_candidates) or ""))
            elif texts[b] and n > 0 and WORDS_AND_CLICKS in self.regimes:
                # words beside clicks: the click regime, with the words' weight its users learned
                layers.append(self.regimes[WORDS_AND_CLICKS])
            for learned in layers:
                if learned is None:
                    continue
                for name in out:
                    if name in learned:
                        out[name][b] = learned[name]
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (for model snapshots and reports)."""
        return {
            "regimes": {r: dict(w) for r, w in self.regimes.items()},
            "validation": {r: list(v) for r, v in self.validation.items()},
            "notes": list(self.notes),
            "warm_from": self.warm_from,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LearnedWeights":
        """Inverse of :meth:`to_json`; refuses negative or non-finite weights."""
        regimes = {str(r): {str(s): float(w) for s, w in dict(ws).items()} for r, ws in dict(data["regimes"]).items()}
        for regime, weights in regimes.items():
            if any(not np.isfinite(w) or w < 0 for w in weights.values()):
                raise InvalidInputError(f"learned weights of {regime!r} must be finite and >= 0, got {weights}")
        validation = {str(r): (float(v[0]), float(v[1])) for r, v in dict(data.get("validation", {})).items()}
        return cls(
            regimes, validation, [str(n) for n in data.get("notes", [])], int(data.get("warm_from", max(REVEAL) + 1))
        )
