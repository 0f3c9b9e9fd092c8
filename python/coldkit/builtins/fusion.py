"""Built-in fusion strategies: weighted score sum (with per-source normalisation) and reciprocal-rank fusion.

Both work on sparse candidate lists (:class:`coldkit.Ranked`), not on B x N score matrices: each
source contributes its own top-m, and an item missing from a source is treated as that source's
worst case (its row minimum after normalisation for ``weighted``; no contribution for ``rrf``).
A source weighted 0 for a query is left out of that query's fusion: an item only it lists is not
listed (:func:`_weighed`).
Per-query weights (a (B,) array per source) let a hybrid trust content for a user with few
interactions and collaborative filtering for a warm one.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import best_per_row
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import FusionSpec, Ranked, WeightLike
from coldkit.validation import check_k

__all__ = ["WeightedFusion", "ReciprocalRankFusion", "PreparedFusion", "NORMALIZATIONS", "NOISE_ULPS", "constant_rows"]

NORMALIZATIONS = ("minmax", "zscore", "none")

#: A row whose scores differ by at most this many float32 steps (ULPs) of their largest magnitude is one
#: value: scores are float32 (:class:`coldkit.Ranked`), and a float32 dot product or sum of a few hundred
#: terms is off by several ULPs, so differences this small are rounding, not a preference. Relative, not
#: absolute: 1e-8 between scores ~1e-6 is a real order, 1e-9 between scores ~1 is not.
NOISE_ULPS = 16


def constant_rows(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B, 1) whether each row's ``valid`` scores are one value up to float32 resolution (see :data:`NOISE_ULPS`).

    Such a row says nothing about its query: min-max or z-score would stretch its rounding noise to the
    full range and let the noise decide the order at the source's full weight. A row without valid
    entries counts as constant.
    """
    s = np.asarray(scores, dtype=np.float64)
    lo = np.min(np.where(valid, s, np.inf), axis=1, keepdims=True, initial=np.inf)
    hi = np.max(np.where(valid, s, -np.inf), axis=1, keepdims=True, initial=-np.inf)
    empty = ~valid.any(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        spread = hi - lo
        scale = np.maximum(np.abs(lo), np.abs(hi))
        tolerance = NOISE_ULPS * float(np.finfo(np.float32).eps) * scale
        return empty | (spread <= tolerance)


def _check_sources(sources: Mapping[str, Ranked], k: int) -> int:
    k = check_k(k)
    if not sources:
        raise InvalidInputError("fusion needs at least one source")
    batch_sizes = {name: ranked.indices.shape[0] for name, ranked in sources.items()}
    if len(set(batch_sizes.values())) != 1:
        raise InvalidInputError(f"fusion sources disagree on the number of queries: {batch_sizes}")
    for name, ranked in sources.items():
        valid = ranked.indices >= 0
        if np.isnan(ranked.scores[valid]).any():
            raise InvalidInputError(f"fusion source {name!r} has NaN scores")
        if np.isposinf(ranked.scores[valid]).any():
            # weighted fusion reads a non-finite score as "not listed" (-inf marks an excluded item),
            # so a +inf, the source's very best item, silently vanished from the fused list
            raise InvalidInputError(f"fusion source {name!r} has +inf scores; give finite scores (-inf marks an excluded item)")
    return next(iter(batch_sizes.values()))


def _check_weight_names(weights: Mapping[str, WeightLike] | None, sources: Mapping[str, Ranked]) -> None:
    """A weight for a source that is not there is a typo: refuse it instead of silently using 1.0."""
    if weights is not None and not isinstance(weights, Mapping):
        # a list of weights was read as source names: "weights name unknown source(s) [0.7, 0.3]"
        raise InvalidInputError(f"weights must be a mapping of source name to weight, e.g. {{{next(iter(sources))!r}: 0.7}}, got {type(weights).__name__}")
    unknown = sorted(set(weights or {}) - set(sources), key=str)
    if unknown:
        raise InvalidInputError(f"weights name unknown source(s) {unknown}; the sources are {sorted(sources)}")


def _first_occurrences(indices: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``valid`` without the later copies of an item a row already listed: a repeat counts once."""
    if indices.shape[1] < 2:
        return valid
    key = np.where(valid, indices, -1)
    # a ranker's rows hold each item once (the core's top-k does): a plain sort finds that out at a
    # third of the cost of locating the copies (138k users x 4 sources x 200 items: ~2 s of a recommend)
    plain = np.sort(key, axis=1)
    if not np.any((plain[:, 1:] == plain[:, :-1]) & (plain[:, 1:] >= 0)):
        return valid
    order = np.argsort(key, axis=1, kind="stable")  # stable: the first (best-ranked) copy stays first
    ordered = np.take_along_axis(key, order, axis=1)
    repeat_sorted = np.zeros_like(valid)
    repeat_sorted[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    repeat = np.zeros_like(valid)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return valid & ~repeat


def _weighed(valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``valid`` without the rows whose weight is 0: a source weighted 0 for a query proposes nothing to it.

    Its items added nothing to their score, yet joined the query's candidates: an item only that source
    listed was returned, ranked by nothing (the item index of a tie at the floor), and could take the last
    places of a short list.
    """
    return valid & (w > 0)[:, None]


def _row_weights(weights: Mapping[str, WeightLike] | None, name: str, batch: int) -> np.ndarray:
    """The weight of source ``name`` for each of the ``batch`` rows (default 1.0)."""
    value = 1.0 if weights is None else weights.get(name, 1.0)
    try:
        w = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # "0.7x", a complex number: a raw numpy conversion error named nothing
        raise InvalidInputError(f"weight of source {name!r} must be a number or an array of numbers, got {value!r}") from None
    if w.ndim == 0:
        w = np.full(batch, float(w))
    if w.shape != (batch,):
        raise InvalidInputError(f"weight of source {name!r} must be a float or shape ({batch},), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInputError(f"weight of source {name!r} must be finite and non-negative")
    return w


class _RowSlots:
    """(row, item) keys sorted by row, then item, laid out as a table: each row's items side by side, in
    item order. A row's best ``k`` is then a partition with ties to the lower slot, the lower item (as
    ``coldkit.topk``): no sort of every key. Built once per fusion (the tuning's prepared fusion reuses it
    for every weighting it tries)."""

    def __init__(self, keys: np.ndarray, span: int, batch: int) -> None:
        self.batch = batch
        self.rows, self.items = keys // span, keys % span
        self.first = np.searchsorted(self.rows, np.arange(batch), side="left")  # each row's first key
        self.slot = np.arange(keys.size) - self.first[self.rows]
        self.width = int(self.slot.max()) + 1 if keys.size else 0

    def best(self, totals: np.ndarray, k: int, listed: np.ndarray | None = None) -> Ranked:
        """Each row's best ``k`` keys by ``totals`` (one per key), only the ``listed`` ones (None: all); rows
        with fewer are padded with -1 / -inf. A key's total may itself be ±inf: it is still listed."""
        out_idx = np.full((self.batch, k), -1, dtype=np.int64)
        out_scores = np.full((self.batch, k), -np.inf, dtype=np.float32)
        if self.width == 0:
            return Ranked(out_idx, out_scores)
        rows, slot = (self.rows, self.slot) if listed is None else (self.rows[listed], self.slot[listed])
        table = np.full((self.batch, self.width), -np.inf)
        table[rows, slot] = totals if listed is None else totals[listed]
        filled = np.zeros(table.shape, dtype=bool)
        filled[rows, slot] = True
        slots = best_per_row(table, k)
        best = np.take_along_axis(table, slots, axis=1)
        found = np.take_along_axis(filled, slots, axis=1)
        item_of = self.items[np.minimum(self.first[:, None] + slots, self.items.size - 1)]
        width = slots.shape[1]
        out_idx[:, :width] = np.where(found, item_of, -1)
        out_scores[:, :width] = np.where(found, best, -np.inf).astype(np.float32)
        return Ranked(out_idx, out_scores)


#: the dense (row, item) table of :func:`_union_keys` is used up to this many cells per listed entry (5 bytes
#: a cell: at 512 users x 4 sources x 200 entries, at most ~33 MB beside a sort's ~20 MB)
_DENSE_CELLS_PER_ENTRY = 16


def _union_keys(rows: np.ndarray, items: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(keys, inverse, span)``: the sorted distinct ``rows * span + items`` (span = the largest item + 1)
    and each entry's position among them, exactly as ``np.unique(..., return_inverse=True)`` gives.

    Why not ``np.unique``: it sorts every (row, item) entry, and the sources of a batch list few distinct
    items (at most the candidates: 2,700 of 27,000 for 512 users, 4 sources at depth 200 — 409,600 entries).
    The items are renumbered in order among those listed, so a (row, item) cell of a dense table stands for
    each key, marked and counted in one pass; the key order is the same. Where that table would be much
    larger than the entries (every item of a large catalogue listed), ``np.unique`` it is.
    """
    span = int(items.max()) + 1 if items.size else 1
    listed = np.zeros(span, dtype=bool)
    listed[items] = True
    distinct = np.flatnonzero(listed)
    cells = batch * distinct.size
    if items.size == 0 or items.size >= 1 << 31 or cells > _DENSE_CELLS_PER_ENTRY * items.size + (1 << 16):
        keys, inverse = np.unique(rows * span + items, return_inverse=True)
        return keys, inverse.ravel(), span
    renumbered = np.zeros(span, dtype=np.int64)
    renumbered[distinct] = np.arange(distinct.size)
    cell = rows * distinct.size + renumbered[items]
    taken = np.zeros(cells, dtype=bool)
    taken[cell] = True
    occupied = np.flatnonzero(taken)
    position = np.zeros(cells, dtype=np.int32)  # fewer keys than entries: int32 holds any position
    position[occupied] = np.arange(occupied.size, dtype=np.int32)
    keys = (occupied // distinct.size) * span + distinct[occupied % distinct.size]
    return keys, position[cell].astype(np.int64), span


def _top_k_of_union(
    rows: np.ndarray, items: np.ndarray, contributions: np.ndarray, base: np.ndarray, batch: int, k: int
) -> Ranked:
    """Sum ``contributions`` per (row, item), add the row's ``base``, keep the best ``k`` per row.

    Ties are broken by the lower item index, like ``coldkit.topk``, so fusion is deterministic.
    """
    keys, inverse, span = _union_keys(rows, items, batch)
    totals = np.bincount(inverse, weights=contributions, minlength=keys.size)
    layout = _RowSlots(keys, span, batch)
    # each row's items in a table, its best k by a partition (a lexsort of every key by row, score and item
    # did the same in 2x the time: at 138k users it was a quarter of recommend)
    return layout.best(totals + base[layout.rows], k)


def _positions(ranked: Ranked, valid: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(B, m) column of each ``items[b, j]`` in row ``b`` of ``ranked`` among its ``valid`` entries, -1 if absent."""
    out = np.full(items.shape, -1, dtype=np.int64)
    for b in range(items.shape[0]):
        cols = np.flatnonzero(valid[b])
        where = {int(i): int(c) for i, c in zip(ranked.indices[b, cols], cols)}
        out[b] = [where.get(int(i), -1) if i >= 0 else -1 for i in items[b]]
    return out


def _contribution_args(
    sources: Mapping[str, Ranked], weights: Mapping[str, WeightLike] | None, items: np.ndarray
) -> tuple[int, np.ndarray]:
    """The checks every strategy's ``contributions`` starts with: (batch size, ``items`` as int64)."""
    batch = _check_sources(sources, 1)
    _check_weight_names(weights, sources)
    return batch, _check_items(items, batch)


def _check_items(items: np.ndarray, batch: int) -> np.ndarray:
    items = np.asarray(items)
    if items.ndim != 2 or items.shape[0] != batch or items.dtype.kind not in "iu":
        raise InvalidInputError(f"contributions needs items as a ({batch}, m) integer array, got shape {items.shape}")
    return items.astype(np.int64)


class PreparedFusion:
    """One fusion of fixed source rankings, re-weighed cheaply: ``prepared(weights)`` equals
    ``fusion.fuse({s: sources[s] for s with a positive weight}, k, weights)``.

    Tuning the hybrid's blend fuses the same rankings under hundreds of weightings. Everything
    that does not depend on the weights — each source's first occurrences, normalised values and
    row floors, the union of (row, item) keys — is computed once here; a call only sums the
    weighted values per key and takes each row's top ``k`` (about ten times cheaper than ``fuse``).

    Args:
        parts: source name -> (rows, items, values, floors): the source's listed entries, each
            entry's weight-free contribution, and each row's floor (added to every item of the
            row, times the weight; zeros for rank fusion).
        batch: number of rows; k: list length.
    """

    def __init__(
        self,
        parts: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        batch: int,
        k: int,
        skipped: Sequence[str] = (),
    ) -> None:
        self.names = list(parts)
        self._skipped = list(skipped)  # sources that listed nothing: accepted in weights, add nothing
        self.batch, self.k = batch, k
        self._floors = [parts[n][3] for n in self.names]
        rows = [parts[n][0] for n in self.names]
        self._rows = np.concatenate(rows) if rows else np.empty(0, np.int64)
        items = np.concatenate([parts[n][1] for n in self.names]) if rows else np.empty(0, np.int64)
        self._values = np.concatenate([parts[n][2] for n in self.names]) if rows else np.empty(0)
        self._source = np.repeat(np.arange(len(self.names)), [len(r) for r in rows])
        keys, self._inverse, span = _union_keys(self._rows, items, batch)
        self._layout = _RowSlots(keys, span, batch)
        # Each source's values laid out over the keys (0 where it lists none), for weights that are one
        # number per source, as the tuning's ascent tries them: a trial is then a few sums over the
        # keys, not a gather of every entry's row weight and a bincount (17 -> ~10 ms a trial at 400
        # queries x 7 sources x 200 items; the ascent makes some 340 of them per fit at 10k items).
        bounds = np.cumsum([0] + [len(r) for r in rows])
        self._by_key: list[tuple[np.ndarray, np.ndarray]] = []
        for s in range(len(self.names)):
            at = self._inverse[bounds[s] : bounds[s + 1]]
            values = np.zeros(keys.size)
            values[at] = self._values[bounds[s] : bounds[s + 1]]
            listed = np.zeros(keys.size, dtype=bool)
            listed[at] = True
            self._by_key.append((values, listed))

    def __call__(self, weights: Mapping[str, WeightLike]) -> Ranked:
        out_idx = np.full((self.batch, self.k), -1, dtype=np.int64)
        out_scores = np.full((self.batch, self.k), -np.inf, dtype=np.float32)
        unknown = sorted(set(weights) - set(self.names) - set(self._skipped))
        if unknown:
            raise InvalidInputError(f"weights name unknown source(s) {unknown}; the sources are {sorted(self.names + self._skipped)}")
        # a source without a weight is left out (not weighed 1 as in fuse): the tuning names what it tries
        w = np.zeros((len(self.names), self.batch))
        for s, name in enumerate(self.names):
            if name in weights:
                w[s] = _row_weights(weights, name, self.batch)
        used = w.max(axis=1, initial=0.0) > 0
        if self._layout.width == 0 or not used.any():
            return Ranked(out_idx, out_scores)
        base = np.zeros(self.batch, dtype=np.float64)
        for s in np.flatnonzero(used).tolist():  # in source order, as fuse adds them
            base += w[s] * self._floors[s]
        if all(np.ndim(weights[name]) == 0 for name in self.names if name in weights):
            return self._one_weight_per_source(w[:, 0], base)
        w_used = np.where(used[:, None], w, 0.0)
        contributions = w_used[self._source, self._rows] * self._values
        totals = np.bincount(self._inverse, weights=contributions, minlength=self._layout.rows.size)
        # an item is a candidate of a row where some source weighted above 0 in that row lists it (as fuse)
        heard = (w_used[self._source, self._rows] > 0).astype(np.float64)
        present = np.bincount(self._inverse, weights=heard, minlength=self._layout.rows.size) > 0
        return self._layout.best(totals + base[self._layout.rows], self.k, listed=present)

    def _one_weight_per_source(self, w: np.ndarray, base: np.ndarray) -> Ranked:
        """``self(weights)`` where each source's weight is one number (``w``, by source), to the bit.

        The bincount above adds a key's entries in entry order, that is in source order, starting
        from 0: the same sums as adding each source's values over the keys in source order, a key a
        source does not list getting an exact 0 from it (x + 0.0 is x). A source weighted 0 adds
        only zeros, so it is skipped; it lists nothing either (a key is a candidate where a source
        weighted above 0 lists it).
        """
        totals = np.zeros(self._layout.rows.size)
        present = np.zeros(self._layout.rows.size, dtype=bool)
        for s in np.flatnonzero(w > 0).tolist():
            values, listed = self._by_key[s]
            totals += w[s] * values
            present |= listed
        return self._layout.best(totals + base[self._layout.rows], self.k, listed=present)


class WeightedFusion:
    """Weighted sum of per-source scores, each source normalised per row first.

    Scores from different models live on different scales (cosine in [-1, 1], EASE scores,
    popularity counts), so each source's row is normalised before weighting:

    * ``minmax`` (default): ``(s - min) / (max - min)`` over the row's candidates (all equal -> 1);
    * ``zscore``: ``(s - mean) / std`` over the row's candidates (std 0 -> 0);
    * ``none``: raw scores.

    "All equal" means equal up to float32 resolution (:func:`constant_rows`): a row whose scores
    differ only by rounding noise normalises as an exact tie, so it adds the same to every item and
    orders nothing (stretched to [0, 1], its noise decided the order at the source's full weight).

    An item a source did not return gets that source's lowest normalised score in the row: it
    ranked below everything the source listed. A source weighted 0 for a row proposes no item to it.

    Example::

        fusion = coldkit.get_fusion("weighted", normalization="minmax")
        fused = fusion.fuse({"cf": cf_ranked, "content": content_ranked}, k=10,
                            weights={"cf": 0.7, "content": 0.3})
    """

    name = "weighted"

    def __init__(self, normalization: str = "minmax") -> None:
        if normalization not in NORMALIZATIONS:
            raise InvalidInputError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
        self.normalization = normalization

    def _normalize(self, scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
        s = np.where(valid, scores.astype(np.float64), np.nan)
        if self.normalization == "none":
            return s  # raw scores: noise stays noise-sized, nothing to stretch
        flat = constant_rows(scores, valid)  # noise only: normalised as the exact tie it is
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.normalization == "minmax":
                lo = np.nanmin(np.where(valid, s, np.inf), axis=1, keepdims=True)
                hi = np.nanmax(np.where(valid, s, -np.inf), axis=1, keepdims=True)
                spread = hi - lo
                return np.where(flat | ~(spread > 0), 1.0, (s - lo) / np.where(spread > 0, spread, 1.0))
            count = valid.sum(axis=1, keepdims=True)
            mean = np.where(valid, s, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
            var = np.where(valid, (s - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
            std = np.sqrt(var)
            return np.where(flat | ~(std > 0), 0.0, (s - mean) / np.where(std > 0, std, 1.0))

    def fuse(self, sources: Mapping[str, Ranked], k: int, weights: Mapping[str, WeightLike] | None = None) -> Ranked:
        """Fuse ``sources`` into the top ``k`` per row (see the class docstring)."""
        batch = _check_sources(sources, k)
        _check_weight_names(weights, sources)
        rows_all, items_all, contrib_all = [], [], []
        base = np.zeros(batch, dtype=np.float64)
        for name, ranked in sources.items():
            w = _row_weights(weights, name, batch)
            valid = _weighed(_first_occurrences(ranked.indices, (ranked.indices >= 0) & np.isfinite(ranked.scores)), w)
            if not valid.any():
                continue
            normalized = self._normalize(ranked.scores, valid)
            # Missing items get the row's lowest normalised score: fold it into the row base and
            # let present items add only their excess over it.
            floor = np.nanmin(np.where(valid, normalized, np.inf), axis=1)
            floor = np.where(np.isfinite(floor), floor, 0.0)
            base += w * floor
            r, c = np.nonzero(valid)
            rows_all.append(r)
            items_all.append(ranked.indices[r, c])
            contrib_all.append(w[r] * (normalized[r, c] - floor[r]))
        if not rows_all:
            return _top_k_of_union(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), base, batch, k)
        return _top_k_of_union(
            np.concatenate(rows_all), np.concatenate(items_all), np.concatenate(contrib_all), base, batch, k
        )


    def contributions(
        self, sources: Mapping[str, Ranked], weights: Mapping[str, WeightLike] | None, items: np.ndarray
    ) -> dict[str, np.ndarray]:
        """What each source adds to the fused score of ``items[b, j]`` (a (B, m) array of item indices):
        its weight times the item's normalised score above the row's floor (the part every item of the
        row gets alike, listed or not, and so ranks nothing); 0 where the source did not list the item.
        The sum over sources plus the row's floors is the item's fused score (see :meth:`fuse`)."""
        batch, items = _contribution_args(sources, weights, items)
        parts = {}
        for name, ranked in sources.items():
            w = _row_weights(weights, name, batch)
            valid = _first_occurrences(ranked.indices, (ranked.indices >= 0) & np.isfinite(ranked.scores))
            part = np.zeros(items.shape)
            if valid.any():
                normalized = self._normalize(ranked.scores, valid)
                floor = np.nanmin(np.where(valid, normalized, np.inf), axis=1)
                floor = np.where(np.isfinite(floor), floor, 0.0)
                at = _positions(ranked, valid, items)
                rows = np.arange(batch)[:, None]
                excess = normalized[rows, np.maximum(at, 0)] - floor[:, None]
                part = np.where(at >= 0, w[:, None] * excess, 0.0)
            parts[name] = part
        return parts

    def prepare(self, sources: Mapping[str, Ranked], k: int) -> PreparedFusion:
        """``sources`` fused under any weights, cheaply (see :class:`PreparedFusion`)."""
        batch = _check_sources(sources, k)
        parts, skipped = {}, []
        for name, ranked in sources.items():
            valid = _first_occurrences(ranked.indices, (ranked.indices >= 0) & np.isfinite(ranked.scores))
            if not valid.any():
                skipped.append(name)
                continue
            normalized = self._normalize(ranked.scores, valid)
            floor = np.nanmin(np.where(valid, normalized, np.inf), axis=1)
            floor = np.where(np.isfinite(floor), floor, 0.0)
            r, c = np.nonzero(valid)
            parts[name] = (r, ranked.indices[r, c], normalized[r, c] - floor[r], floor)
        return PreparedFusion(parts, batch, k, skipped)


class ReciprocalRankFusion:
    """Reciprocal-rank fusion (Cormack et al., 2009): ``sum_s w_s / (c + rank_s)``, rank from 1.

    Uses only ranks, so it needs no score normalisation and is robust to one source's outliers.
    An item absent from a source gets nothing from it; a source weighted 0 for a row proposes no item to it. A row whose scores are one value up to float32
    resolution (:func:`constant_rows`) adds nothing: its ranks are its rounding noise's order, or the
    item index of an exact tie, which ``weighted`` ignores too.

    Example::

        fused = coldkit.get_fusion("rrf", c=60).fuse({"cf": cf_ranked, "content": content_ranked}, k=10)
    """

    name = "rrf"

    def __init__(self, c: float = 60.0) -> None:
        if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) or not np.isfinite(c) or c < 0:
            raise InvalidInputError(f"rrf constant c must be finite and >= 0, got {c!r}")
        self.c = float(c)

    @staticmethod
    def _flat(ranked: Ranked, valid: np.ndarray) -> np.ndarray:
        """(B,) whether each row is a tie up to float32 noise (:func:`constant_rows`); -inf scores count as listed."""
        finite = valid & np.isfinite(ranked.scores)
        return constant_rows(np.where(finite, ranked.scores, 0.0), finite)[:, 0] & (finite == valid).all(axis=1)

    def fuse(self, sources: Mapping[str, Ranked], k: int, weights: Mapping[str, WeightLike] | None = None) -> Ranked:
        """Fuse ``sources`` into the top ``k`` per row by reciprocal rank."""
        batch = _check_sources(sources, k)
        _check_weight_names(weights, sources)
        rows_all, items_all, contrib_all = [], [], []
        for name, ranked in sources.items():
            w = _row_weights(weights, name, batch)
            valid = _weighed(_first_occurrences(ranked.indices, ranked.indices >= 0), w)
            # Rank among the row's valid entries (padding sits at the end of a row, but don't rely on it).
            ranks = np.cumsum(valid, axis=1)
            r, c = np.nonzero(valid)
            rows_all.append(r)
            items_all.append(ranked.indices[r, c])
            heard = w * ~self._flat(ranked, valid)  # a tie up to noise ranks nothing: it adds 0 (its items stay candidates)
            contrib_all.append(heard[r] / (self.c + ranks[r, c]))
        rows = np.concatenate(rows_all) if rows_all else np.empty(0, np.int64)
        items = np.concatenate(items_all) if items_all else np.empty(0, np.int64)
        contrib = np.concatenate(contrib_all) if contrib_all else np.empty(0)
        return _top_k_of_union(rows, items, contrib, np.zeros(batch), batch, k)

    def contributions(
        self, sources: Mapping[str, Ranked], weights: Mapping[str, WeightLike] | None, items: np.ndarray
    ) -> dict[str, np.ndarray]:
        """What each source adds to the fused score of ``items[b, j]`` (a (B, m) array of item indices):
        ``w / (c + rank)`` where the source lists the item, else 0; their sum is the item's fused score."""
        batch, items = _contribution_args(sources, weights, items)
        parts = {}
        for name, ranked in sources.items():
            w = _row_weights(weights, name, batch)
            valid = _first_occurrences(ranked.indices, ranked.indices >= 0)
            ranks = np.cumsum(valid, axis=1)
            at = _positions(ranked, valid, items)
            rank = np.take_along_axis(ranks, np.maximum(at, 0), axis=1)
            heard = w * ~self._flat(ranked, valid)
            parts[name] = np.where(at >= 0, heard[:, None] / (self.c + rank), 0.0)
        return parts


@hookimpl
def coldkit_fusion_strategies() -> list[FusionSpec]:
    return [
        FusionSpec(
            name="weighted",
            description="Weighted sum of per-row normalised scores (minmax, zscore or none); per-query weights",
            factory=WeightedFusion,
            capabilities={"scores", "per-query-weights"},
        ),
        FusionSpec(
            name="rrf",
            description="Reciprocal-rank fusion: sum of w / (c + rank); per-query weights",
            factory=ReciprocalRankFusion,
            capabilities={"ranks", "per-query-weights"},
        ),
    ]
