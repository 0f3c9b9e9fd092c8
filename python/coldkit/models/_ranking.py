"""One way to turn query vectors and item vectors into a :class:`Ranked`: through :func:`coldkit.similarity.topk`.

Every built-in model reduces its scoring to ``score(query, item) = metric(query_vector, item_vector)``
(popularity: a 1-d dot product; item-kNN/EASE: the user's interaction row against the columns of an
item-item matrix; content: cosine of profile and item embeddings), so the similarity core does the
scan, the exclusions and the top-k, and Python never loops over the catalogue.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Collection, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit._lists import require_lists
from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.plugins.manager import is_builtin
from coldkit.plugins.types import Ranked
from coldkit.similarity import topk

__all__ = ["check_candidates", "check_fused", "CandidateRows", "CopyableLock", "rank_side_by_side", "READS_QUERY_TEXT", "SIDE_BY_SIDE_MIN_QUERIES", "rank_vectors", "rank_by_item_scores", "rank_sparse_rows", "best_per_row", "empty_ranked", "pad_ranked", "extend_ranked", "head_then_deeper", "stack_rows"]


def check_candidates(candidates: object, n_items: int) -> np.ndarray | None:
    """Sorted unique int64 candidate indices within ``[0, n_items)`` (None passes through)."""
    if candidates is None:
        return None
    cand = np.asarray(candidates)
    if cand.ndim != 1:
        raise InvalidInputError(f"candidates must be a 1-D array of item indices, got shape {cand.shape}")
    if cand.size and not np.issubdtype(cand.dtype, np.integer):
        raise InvalidInputError(f"candidates must hold integer item indices, got dtype {cand.dtype}")
    cand = cand.astype(np.int64)
    if cand.size and (cand.min() < 0 or cand.max() >= n_items):
        bad = cand[(cand < 0) | (cand >= n_items)]
        raise InvalidInputError(f"candidates hold item indices outside [0, {n_items}): {bad[:10].tolist()}")
    if cand.size < 2 or bool(np.all(cand[1:] > cand[:-1])):
        return cand  # already sorted and unique: a batch run passes the same sorted candidates many times
    return np.unique(cand)


class CopyableLock:
    """A :class:`threading.Lock` that a ``copy.deepcopy`` or pickle of its owner replaces with a new,
    unlocked one: a lock's state is not the model's data, and ``threading.Lock`` itself cannot be copied
    (a fitted hybrid that had ranked once could no longer be deep-copied)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> "CopyableLock":
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def __deepcopy__(self, memo: dict[int, object]) -> "CopyableLock":
        return CopyableLock()

    def __reduce__(self) -> tuple[type["CopyableLock"], tuple[()]]:
        return (CopyableLock, ())  # every pickle protocol, 0 and 1 included, rebuilds a new lock


class CandidateRows:
    """The rows of an item table for the last candidate set asked for, kept between calls.

    A batch run ranks the same candidates once per batch of users; slicing 100k rows of 384-d
    vectors out of the catalogue every time costs more than scoring some batches. The cache is
    keyed on the table object and the candidates' values, so a refit (a new table) or other
    candidates never get stale rows. The table's candidate rows must not change in place.
    """

    def __init__(self) -> None:
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Two sources of one model (the hybrid's content and text lists) may ask at once when they
        # rank side by side: the second waits for the first one's rows instead of slicing them again.
        self._lock = CopyableLock()

    def rows(self, table: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``table[candidates]`` as a C-contiguous float32 array."""
        with self._lock:
            last = self._last
            if last is not None and last[0] is table and np.array_equal(last[1], candidates):
                return last[2]
            rows = np.ascontiguousarray(table[candidates], dtype=np.float32)
            self._last = (table, np.array(candidates, copy=True), rows)
            return rows


#: Queries in a batch from which :func:`rank_side_by_side` uses two threads: below it (a serving
#: request of a few users) starting threads costs more than the overlap saves.
SIDE_BY_SIDE_MIN_QUERIES = 64


#: The sources (by the blends' names) that encode the queries' own words when they rank: the hybrid's
#: ``text`` and ``profile``, the private hybrid's and the serving index's ``text``.
READS_QUERY_TEXT: frozenset[str] = frozenset({"text", "profile"})


def rank_side_by_side(
    rankers: Mapping[str, Callable[[], Ranked]], names: Sequence[str], batch: int, alone: Collection[str] = READS_QUERY_TEXT
) -> dict[str, Ranked]:
    """Each of ``names``' lists, ``rankers[name]()``, in ``names`` order; two sources at a time for a
    batch of at least :data:`SIDE_BY_SIDE_MIN_QUERIES` queries.

    Why two threads: a source's heavy steps (BLAS products, the core's top-k, the ALS fold-in)
    already use every core, but between them each runs stretches on one core (sparse products,
    per-query exclusions, Python), and a blend of four to nine sources left the second core idle
    through them (10k items, tuned: the sources' validation rankings used 1.2 cores). The lists are
    those of one source after another, bit for bit: a source's work does not depend on another's
    (the caches two sources share, the ALS fold-in and a content model's candidate rows, are
    filled once under a lock), and the first error in ``names`` order is raised.

    ``alone`` (default :data:`READS_QUERY_TEXT`): sources ranked one after the other in the calling
    thread (beside one worker for the rest), never two of them at once — those that encode the
    queries' words: the encoder contract promises no thread safety (a plugin's encoder may keep state
    between calls), so none is asked from two threads at once, even where the ``text`` and
    ``profile`` sources share one instance (a hybrid given an encoder object).
    """
    names = list(names)
    if len(names) < 2 or batch < SIDE_BY_SIDE_MIN_QUERIES:
        return {name: rankers[name]() for name in names}
    here = [name for name in names if name in alone]
    pool = ThreadPoolExecutor(max_workers=1 if here else 2, thread_name_prefix="coldkit-source")
    try:
        # each in a copy of the caller's context: what a source reads from context variables (stage
        # reporting, a budget) is the caller's, as when it ranked in the caller's thread
        futures = {name: pool.submit(contextvars.copy_context().run, rankers[name]) for name in names if name not in alone}
        done: dict[str, Ranked] = {}
        for name in here:
            try:
                done[name] = rankers[name]()
            except Exception:
                # the first error in names order: a source before this one that failed in the pool comes first
                for earlier in names[: names.index(name)]:
                    if earlier in futures:
                        futures[earlier].result()
                raise
        ranked = {name: done[name] if name in done else futures[name].result() for name in names}
    except Exception:
        pool.shutdown(wait=True, cancel_futures=True)  # the sources queued after the error are not ranked
        raise
    except BaseException:
        # an interrupt (it reaches the calling thread only) is raised at once, not after the running
        # source, and not in place of an error of one
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)  # every source is done: nothing to wait for
    return ranked


def empty_ranked(batch: int, k: int) -> Ranked:
    """A batch of rows holding nothing but padding."""
    return Ranked(np.full((batch, k), -1, dtype=np.int64), np.full((batch, k), -np.inf, dtype=np.float32))


def pad_ranked(indices: np.ndarray, scores: np.ndarray, k: int) -> Ranked:
    """Trim/pad to exactly ``k`` columns; any ``-inf`` score becomes index -1 (the padding convention)."""
    batch, width = indices.shape
    out_i = np.full((batch, k), -1, dtype=np.int64)
    out_s = np.full((batch, k), -np.inf, dtype=np.float32)
    w = min(width, k)
    out_i[:, :w] = indices[:, :w]
    out_s[:, :w] = scores[:, :w]
    invalid = ~np.isfinite(out_s) | (out_i < 0)
    out_i[invalid] = -1
    out_s[invalid] = -np.inf
    return Ranked(out_i, out_s)


def extend_ranked(head: Ranked, tail: Ranked, k: int) -> Ranked:
    """Each row of ``head`` (its listed items, in order) followed by ``tail``'s items not in it, to ``k``.

    ``head`` is the list a shorter request gets, ``tail`` a longer ranking of the same candidates (deeper
    lists, another normalisation): the row's scores after the head are ``tail``'s capped by the running
    minimum, so a score never rises down a list (an appended item ranks after the head whatever its score
    on the other scale). A row whose head is full is the head's.
    """
    batch = head.indices.shape[0]
    indices = np.full((batch, k), -1, dtype=np.int64)
    scores = np.full((batch, k), -np.inf, dtype=np.float32)
    for row in range(batch):
        listed = head.indices[row] >= 0
        first, first_scores = head.indices[row][listed][:k], head.scores[row][listed][:k]
        more = tail.indices[row] >= 0
        extra = tail.indices[row][more]
        keep = ~np.isin(extra, first)
        extra, extra_scores = extra[keep][: k - first.size], tail.scores[row][more][keep][: k - first.size]
        ids = np.concatenate([first, extra])
        values = np.minimum.accumulate(np.concatenate([first_scores, extra_scores]).astype(np.float32)) if ids.size else np.empty(0, np.float32)
        indices[row, : ids.size], scores[row, : ids.size] = ids, values
    return Ranked(indices, scores)


def head_then_deeper(fused_at: Callable[[int, int], Ranked], k: int, depth: int, steady: int | None = None) -> Ranked:
    """The top ``k`` of a fusion whose first ``steady`` items (all ``k`` by default) are those of the sources'
    lists at ``depth``, whatever ``k``: a longer list begins with the shorter one.

    ``fused_at(d, n)`` ranks every source to depth ``d`` and fuses the top ``n``. Beyond the steady head (``k``
    above ``depth``, or above ``steady``: a re-ranker's pool) the items come from the fusion of lists at
    ``max(k, depth)``, after the head (:func:`extend_ranked`): ranked deeper and re-normalised from the first
    item, the head changed with ``k``.
    """
    steady = k if steady is None else min(steady, k)
    head = fused_at(depth, steady)
    if k <= depth and steady == k:
        return head
    return extend_ranked(head, fused_at(max(k, depth), k), k)


def stack_rows(parts: Sequence[Ranked]) -> Ranked:
    """The rows of several rankings one under the other, padded to the widest (``-1`` / ``-inf``)."""
    if not parts:
        return empty_ranked(0, 0)
    width = max(part.indices.shape[1] for part in parts)
    padded = [pad_ranked(part.indices, part.scores, width) for part in parts]
    return Ranked(np.vstack([p.indices for p in padded]), np.vstack([p.scores for p in padded]))


def rank_vectors(
    query_vectors: np.ndarray,
    item_vectors: np.ndarray,
    k: int,
    *,
    metric: str = "dot",
    exclude: Sequence[np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
    backend: str | None = None,
    candidate_rows: CandidateRows | None = None,
) -> Ranked:
    """Top ``k`` items per query row by ``metric(query_vectors[b], item_vectors[i])``.

    Args:
        query_vectors: (B, d) float array.
        item_vectors: (N, d) float array over the whole catalogue.
        k: list length (already validated); rows are padded with -1/-inf.
        metric: ``"dot"``, ``"cosine"`` or ``"pearson"`` (passed to ``coldkit.topk``).
        exclude: per-query item indices to drop, or None.
        candidates: sorted unique item indices allowed (validated), or None for all. The candidate
            rows are sliced out and handed to the core, then indices are mapped back: scanning a
            small candidate set is cheaper than excluding the whole rest of the catalogue.
        backend: similarity backend name (None = coldkit's default).
        candidate_rows: a cache of the candidates' rows of ``item_vectors`` kept by the caller.
    """
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    if queries.ndim != 2:
        raise InvalidInputError(f"query vectors must be 2-D, got shape {queries.shape}")
    batch = queries.shape[0]
    if batch == 0:
        return empty_ranked(0, k)
    n_items = item_vectors.shape[0]
    if candidates is not None:
        if candidates.size == 0:
            return empty_ranked(batch, k)
        if candidate_rows is not None:
            catalog = candidate_rows.rows(item_vectors, candidates)
        else:
            catalog = np.ascontiguousarray(item_vectors[candidates], dtype=np.float32)
        if exclude is not None:
            exclude = _positions_among(candidates, exclude, n_items)
    else:
        catalog = np.ascontiguousarray(item_vectors, dtype=np.float32)
    if exclude is not None:
        exclude = [np.ascontiguousarray(e, dtype=np.int64) for e in exclude]
    if backend is None:
        scores, indices = topk(queries, catalog, k, metric=metric, exclude=exclude)  # type: ignore[arg-type]
    else:
        scores, indices = topk(queries, catalog, k, metric=metric, exclude=exclude, backend=backend)  # type: ignore[arg-type]
    scores = np.asarray(scores, dtype=np.float32)
    indices = np.asarray(indices, dtype=np.int64)
    if candidates is not None:
        indices = np.where(indices >= 0, candidates[np.clip(indices, 0, None)], -1)
    return pad_ranked(indices, scores, k)


def rank_by_item_scores(
    scores: np.ndarray, batch: int, k: int, *, exclude: Sequence[np.ndarray] | None = None, candidates: np.ndarray | None = None
) -> Ranked:
    """Top ``k`` items by one score per item, the same for every one of ``batch`` queries (popularity), each
    query's ``exclude`` dropped: exactly :func:`rank_vectors` of a column of ones against ``scores`` as one
    column (float32; ties to the lower item index), without scoring every item for every query.

    Why: the catalogue's order is the same for everyone, so it is sorted once and each query takes its
    first ``k`` items that it does not exclude (the scan did batch x items compares: at 1M items 4.3 s for
    10k users, ranked for every batch of a run).

    Args:
        scores: (N,) one score per catalogue item (finite).
        exclude: per-query item indices (catalogue indices) to drop, or None.
        candidates: sorted unique item indices allowed, or None for all.
    """
    values = np.asarray(scores, dtype=np.float32)  # the bits the scan compared (a float32 dot with 1.0)
    pool = np.arange(values.size, dtype=np.int64) if candidates is None else np.asarray(candidates, dtype=np.int64)
    order = pool[np.argsort(-values[pool], kind="stable")]  # best first; the sort is stable: ties keep index order
    indices = np.full((batch, k), -1, dtype=np.int64)
    top = order[:k]
    if exclude is None:
        indices[:, : top.size] = top
    else:
        # Each item's place in the order (past the end: not a candidate), so a query's dropped items
        # are looked up, not searched for: np.isin sorted the head and the dropped items for every
        # query (1.2 s for 10k users of ~900 clicks at 1M items), though with new-item candidates
        # none of a user's clicked items is even in the order.
        place = np.full(values.size, order.size, dtype=np.int64)
        place[order] = np.arange(order.size, dtype=np.int64)
        for b, dropped in enumerate(exclude):
            at = place[np.asarray(dropped, dtype=np.int64)]
            at = at[at < order.size]
            if at.size == 0:
                indices[b, : top.size] = top
                continue
            # at most |at| of the first k + |at| are dropped: the query's k are among them
            head = order[: k + at.size]
            keep = np.ones(head.size, dtype=bool)
            keep[at[at < head.size]] = False
            kept = head[keep][:k]
            indices[b, : kept.size] = kept
    found = indices >= 0
    out = np.where(found, values[np.where(found, indices, 0)], -np.inf).astype(np.float32)
    return Ranked(indices, out)


def _positions_among(candidates: np.ndarray, exclude: Sequence[np.ndarray], n_items: int) -> list[np.ndarray]:
    """Each query's excluded items as positions within ``candidates`` (items outside them dropped)."""
    position = np.full(n_items, -1, dtype=np.int64)
    position[candidates] = np.arange(candidates.size, dtype=np.int64)
    mapped = []
    for items in exclude:  # loops over queries, not the catalogue
        pos = position[np.asarray(items, dtype=np.int64)]
        mapped.append(pos[pos >= 0])
    return mapped


def rank_sparse_rows(
    rows: sp.csr_matrix,
    item_columns: np.ndarray,
    k: int,
    *,
    exclude: Sequence[np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
) -> Ranked:
    """Top ``k`` by ``rows @ item_columns`` for *sparse* query rows (interaction rows over warm items).

    The EASE / item-kNN space scores a user by their few clicks against one column per warm item:
    a dense scan costs B × items × warm items (2.6·10¹⁰ multiply-adds for 400 queries at 10k
    items), the sparse product B × clicks × items — hundreds of times less.

    Args:
        rows: (B, w) CSR query rows.
        item_columns: (w, C) C-contiguous float32: one column per candidate (all items when
            ``candidates`` is None), i.e. the item vectors transposed.
        exclude: per-query item indices (catalogue indices) to drop, or None.
        candidates: the sorted candidate indices the columns stand for, or None for all items.
    Ties go to the lower index, like :func:`coldkit.similarity.topk`.
    """
    batch = rows.shape[0]
    if batch == 0:
        return empty_ranked(0, k)
    scores = np.asarray(rows @ item_columns, dtype=np.float32)
    n_cols = scores.shape[1]
    if n_cols == 0:
        return empty_ranked(batch, k)
    if exclude is not None:
        if candidates is not None:  # catalogue indices -> positions among the (sorted) candidates
            found = []
            for items in exclude:  # loops over queries, not the catalogue
                items = np.asarray(items, dtype=np.int64)
                pos = np.minimum(np.searchsorted(candidates, items), candidates.size - 1)
                found.append(pos[candidates[pos] == items])
            exclude = found
        lengths = [len(e) for e in exclude]
        if sum(lengths):
            r = np.repeat(np.arange(batch), lengths)
            scores[r, np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])] = -np.inf
    part = best_per_row(scores, k)
    index = np.arange(n_cols, dtype=np.int64) if candidates is None else candidates
    return pad_ranked(index[part], np.take_along_axis(scores, part, axis=1), k)


def best_per_row(scores: np.ndarray, k: int) -> np.ndarray:
    """(B, min(k, n)) column indices of each row's ``k`` largest scores, best first, ties to the lower column.

    The same order as :func:`coldkit.similarity.topk` gives, from a dense (B, n) score matrix, in
    O(B × n) (a partition, not a sort of every row).
    """
    batch, n_cols = scores.shape
    width = min(k, n_cols)
    if width < n_cols:
        cut = -np.partition(-scores, width - 1, axis=1)[:, width - 1 : width]
        above, tied = scores > cut, scores == cut
        need = width - above.sum(axis=1, keepdims=True)
        take = above | (tied & (np.cumsum(tied, axis=1) <= need))
        part = np.nonzero(take)[1].reshape(batch, width)
    else:
        part = np.broadcast_to(np.arange(n_cols), (batch, n_cols)).copy()
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(part, order, axis=1)


def check_fused(fusion: object, fused: object, sources: Mapping[str, Ranked], k: int) -> Ranked:
    """``fused`` (what ``fusion.fuse(sources, k, ...)`` returned) after checking it against the contract.

    A fusion strategy is plugin code: one that dropped a query's row failed later with a numpy
    broadcasting error, and one that returned an item no source listed put another item's id (or
    an IndexError) in the output; neither named the fusion. Checked: a :class:`Ranked` with one row
    per query and at most ``k`` columns, indices ``>= -1``, and each listed item listed by some
    source in the same row ("no invented items", as ``coldkit.testing.check_fusion`` states it).

    Raises:
        ComponentContractError: the first broken property, naming the fusion strategy.
    """
    where = f"fusion strategy {getattr(fusion, 'name', type(fusion).__name__)!r}"
    if not isinstance(fused, Ranked):
        raise ComponentContractError(f"{where}: fuse() returned a {type(fused).__name__}, not a coldkit.Ranked")
    batch = next(iter(sources.values())).indices.shape[0] if sources else fused.indices.shape[0]
    indices = np.asarray(fused.indices)
    if indices.dtype.kind not in "iu":
        raise ComponentContractError(f"{where}: fuse() returned indices of dtype {indices.dtype}, not integers")
    if indices.shape[0] != batch or indices.shape[1] > k:
        raise ComponentContractError(
            f"{where}: fuse() returned {indices.shape[0]} row(s) x {indices.shape[1]} item(s) for "
            f"{batch} quer{'y' if batch == 1 else 'ies'} and k={k}; expected one row per query and at most k items"
        )
    if np.isnan(np.asarray(fused.scores, dtype=np.float64)).any():
        raise ComponentContractError(f"{where}: fuse() returned NaN scores")
    listed = indices >= 0
    if (indices < -1).any() or not listed.any():
        if (indices < -1).any():
            raise ComponentContractError(f"{where}: fuse() returned negative item indices other than the padding -1")
        return fused
    if is_builtin(fusion):  # coldkit's own fusions are tested for it; the check is O(sources * B * depth)
        return fused
    require_lists(indices, fused.scores, f"{where}: fuse() returned")  # written out as it came: worst first, an item twice
    # one key per (row, item): an item is admissible in a row when some source lists it in that row
    width = int(max([indices.max()] + [int(np.max(r.indices, initial=-1)) for r in sources.values()])) + 1
    rows = np.arange(batch, dtype=np.int64)[:, None]
    known = np.concatenate(
        [(rows * width + np.asarray(r.indices, dtype=np.int64))[np.asarray(r.indices) >= 0] for r in sources.values()]
        or [np.empty(0, np.int64)]
    )
    keys = (rows * width + indices)[listed]
    invented = ~np.isin(keys, known)
    if invented.any():
        items = np.unique(keys[invented] % width)[:5].tolist()
        raise ComponentContractError(f"{where}: fuse() returned item(s) that no source listed in that row: {items}")
    return fused
