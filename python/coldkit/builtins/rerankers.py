"""Built-in rerankers: ``constraints`` (exact, integer programming) and ``mmr`` (diversity, greedy).

``constraints`` finds the k items with the largest total score that satisfy every constraint,
by solving a small 0/1 integer program per list with HiGHS (``scipy.optimize.milp``): a few
hundred candidates solve in milliseconds, and unlike a greedy pass the result is optimal when
items carry several categories. ``mmr`` is Maximal Marginal Relevance (Carbonell & Goldstein,
1998): greedy by ``lambda * relevance - (1 - lambda) * max similarity to what is already picked``,
honouring the same constraints as it goes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from coldkit.builtins.fusion import constant_rows
from coldkit.exceptions import InvalidInputError
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import Ranked, RerankerSpec
from coldkit.rerank import Constraints, ItemAttributes, Reranked, per_row_constraints, required_new, unit_number
from coldkit.validation import check_k

__all__ = ["ConstraintReranker", "MMRReranker"]


class _Row:
    """One list's candidates after exclusions, with what the constraints need to know about them."""

    def __init__(self, indices: np.ndarray, scores: np.ndarray, cons: Constraints, items: ItemAttributes | None):
        excluded = np.fromiter((int(i) for i in cons.exclude), dtype=np.int64)
        keep = (indices >= 0) & np.isfinite(scores) & ~np.isin(indices, excluded)
        self.items = indices[keep]
        self.scores = scores[keep].astype(np.float64)
        if self.items.size > 1:
            # an item listed twice (merged retrievals) was shown twice, and the limits loosened to make room for it:
            # each item keeps its best-scored copy (the earlier one on a tie), in the row's own order
            order = np.lexsort((-self.scores, self.items))
            first = np.ones(order.size, dtype=bool)
            first[1:] = self.items[order[1:]] != self.items[order[:-1]]
            if not first.all():
                best = np.sort(order[first])
                self.items, self.scores = self.items[best], self.scores[best]
        self.cons = cons
        self.is_new = np.zeros(self.items.size, dtype=bool)
        self.groups: dict[str, np.ndarray] = {}
        if cons.min_new_share > 0:
            if items is None or items.is_new is None:
                raise InvalidInputError("min_new_share needs ItemAttributes.is_new")
            self.is_new = items.is_new[self.items]
        if cons.max_per_category is not None:
            if items is None or items.categories is None:
                raise InvalidInputError("max_per_category needs ItemAttributes.categories")
            members: dict[str, list[int]] = {}
            for pos, item in enumerate(self.items):
                for category in items.categories[item]:
                    members.setdefault(category, []).append(pos)
            self.groups = {c: np.asarray(p) for c, p in members.items() if cons.limit_for(c) is not None}

    def limits(self, boost: int) -> dict[str, int]:
        return {c: int(self.cons.limit_for(c)) + boost for c in self.groups}  # type: ignore[arg-type]


def _shortage_note(row: _Row, k: int) -> str:
    length = min(k, row.items.size)
    return f"exclude: only {row.items.size} distinct candidates remain after exclusions, list has {length} items"


def _new_share_note(row: _Row, new: int, fewer: int) -> str:
    """Why only ``fewer`` of the ``new`` required new items are in the list: there were no more among the
    candidates, or the category limits left no room for more. It said "fit the other constraints" also
    where there were none (a pool short of new items)."""
    available = int(row.is_new.sum())
    if fewer >= available:
        excluded = " left after exclusions" if row.cons.exclude else ""
        return (f"min_new_share: {new} new items required, but only {available} of the {row.items.size} "
                f"candidates{excluded} are new; the list has {fewer} new item{'' if fewer == 1 else 's'}")
    return f"min_new_share: {fewer} of the {new} required new items fit the category limits"


def _relax(
    row: _Row, k: int, feasible: Callable[[int, int, int], bool]
) -> tuple[int, int, int, list[str]]:
    """Relax constraints in ``row.cons.relax_order`` until ``feasible(length, new, boost)`` holds.

    Returns (list length, required new items, category-limit boost, notes).
    """
    notes: list[str] = []
    length = min(k, row.items.size)
    if length < k:
        notes.append(_shortage_note(row, k))
    new = required_new(row.cons, length)
    boost = 0
    for name in row.cons.relax_order:
        if feasible(length, new, boost):
            break
        if name == "min_new_share" and new > 0:
            fewer = next((n for n in range(new - 1, -1, -1) if feasible(length, n, boost)), 0)
            notes.append(_new_share_note(row, new, fewer))
            new = fewer
        elif name == "max_per_category" and row.groups:
            raised = next((b for b in range(1, length + 1) if feasible(length, new, b)), length)
            notes.append(f"max_per_category: limits raised by {raised} to fill {length} slots")
            boost = raised
    wanted = required_new(row.cons, length)
    if boost > 0 and new < wanted:
        # The new items were given up before the limits were raised, and raised limits may hold them again:
        # relaxed "as little as it can", the share comes back as far as the raised limits allow (max 1 per
        # category and one new item in 2 slots of one category gave up the new item and raised the limit,
        # where raising the limit alone held both).
        restored = next((n for n in range(wanted, new, -1) if feasible(length, n, boost)), new)
        if restored > new:
            notes = [note for note in notes if not note.startswith("min_new_share:")]
            if restored < wanted:
                notes.insert(len(notes) - 1, _new_share_note(row, wanted, restored))
            new = restored
    while length > 0 and not feasible(length, min(new, length), boost):
        length -= 1  # constraints the caller forbade relaxing: show fewer items instead
    if length < min(k, row.items.size):
        notes.append(f"list shortened to {length} items: the non-relaxable constraints allow no more")
    return length, min(new, length), boost, notes


def _plain_top(row: _Row, k: int) -> np.ndarray:
    """Positions of the best ``k`` candidates by score (ties: lower item index), best first."""
    order = np.lexsort((row.items, -row.scores))
    return order[: min(k, row.items.size)]


def _satisfies(row: _Row, chosen: np.ndarray, new: int) -> bool:
    """Whether the chosen positions meet the new-item minimum and every category limit."""
    if int(row.is_new[chosen].sum()) < new:
        return False
    limits = row.limits(0)
    return all(np.isin(members, chosen).sum() <= limits[c] for c, members in row.groups.items())


class ConstraintReranker:
    """Optimal constrained top-k: maximise the summed score subject to the constraints (HiGHS MILP).

    Ties between equally good lists are broken towards higher-ranked candidates, so results are
    deterministic. The output keeps each chosen item's original score, best first.
    """

    name = "constraints"

    def _solve(self, row: _Row, length: int, new: int, boost: int) -> np.ndarray | None:
        from scipy.optimize import Bounds, LinearConstraint, milp

        n = row.items.size
        if length == 0:
            return np.empty(0, dtype=np.int64)
        rows: list[np.ndarray] = [np.ones(n)]
        lower: list[float] = [length]
        upper: list[float] = [length]
        if new > 0:
            rows.append(row.is_new.astype(float))
            lower.append(new)
            upper.append(np.inf)
        for category, limit in row.limits(boost).items():
            a = np.zeros(n)
            a[row.groups[category]] = 1.0
            rows.append(a)
            lower.append(0)
            upper.append(limit)
        # A rank bonus far below any score difference prefers earlier candidates among equal sets.
        spread = float(np.ptp(row.scores)) if n > 1 else 1.0
        bonus = (spread or 1.0) * 1e-9 * (n - np.arange(n)) / n
        result = milp(
            c=-(row.scores + bonus),
            constraints=LinearConstraint(np.vstack(rows), lower, upper),
            integrality=np.ones(n),
            bounds=Bounds(0, 1),
        )
        if result.status != 0 or result.x is None:
            return None
        return np.flatnonzero(result.x > 0.5)

    def rerank(
        self,
        ranked: Ranked,
        k: int,
        constraints: Constraints | Sequence[Constraints] | None = None,
        items: ItemAttributes | None = None,
    ) -> Reranked:
        """Pick the best ``k`` per row under the constraints; see :mod:`coldkit.rerank`."""
        return _rerank_rows(ranked, k, constraints, items, self._pick)

    def _pick(self, row: _Row, k: int) -> tuple[np.ndarray, list[str]]:
        top = _plain_top(row, k)
        if _satisfies(row, top, required_new(row.cons, top.size)):
            # The unconstrained optimum already meets every constraint: no solver needed.
            return top, [] if top.size == k else [_shortage_note(row, k)]
        length, new, boost, notes = _relax(row, k, lambda n, r, b: self._solve(row, n, r, b) is not None)
        chosen = self._solve(row, length, new, boost)
        assert chosen is not None
        order = np.lexsort((row.items[chosen], -row.scores[chosen]))
        return chosen[order], notes


class MMRReranker:
    """Maximal Marginal Relevance with the same constraints, greedy.

    Args:
        lambda_: weight of relevance (1.0 = plain score order, 0.0 = pure diversity). Scores are
            min-max normalised per row first so ``lambda_`` means the same for every model. A row whose
            scores are all equal up to float32 resolution (:func:`coldkit.builtins.fusion.constant_rows`,
            as the fusions read them) gives every candidate relevance 1: the scores prefer none, so the
            first pick is the row's first candidate and diversity decides the rest (min-max would
            stretch the rounding noise to [0, 1] and let it choose).

    Needs ``ItemAttributes.vectors``; similarity is cosine. Output order is the selection order.
    """

    name = "mmr"

    def __init__(self, lambda_: float = 0.7) -> None:
        # a string or None failed as a bare TypeError, and True was read as 1.0
        self.lambda_ = unit_number(lambda_, "mmr lambda_")

    def rerank(
        self,
        ranked: Ranked,
        k: int,
        constraints: Constraints | Sequence[Constraints] | None = None,
        items: ItemAttributes | None = None,
    ) -> Reranked:
        """Greedy diverse top-``k`` per row under the constraints."""
        if items is None or items.vectors is None:
            raise InvalidInputError("the mmr reranker needs ItemAttributes.vectors")
        norms = np.linalg.norm(items.vectors, axis=1, keepdims=True)
        unit = np.divide(items.vectors, norms, out=np.zeros_like(items.vectors), where=norms > 0)
        return _rerank_rows(ranked, k, constraints, items, lambda row, k: self._pick(row, k, unit))

    def _pick(self, row: _Row, k: int, unit: np.ndarray) -> tuple[np.ndarray, list[str]]:
        n = row.items.size
        length = min(k, n)
        notes = [] if length == k else [_shortage_note(row, k)]
        # a tie up to float32 noise is a tie (no candidates: constant too)
        if bool(constant_rows(row.scores[None, :], np.ones((1, n), dtype=bool))[0, 0]):
            relevance = np.ones(n)
        else:
            lo, hi = row.scores.min(), row.scores.max()
            relevance = (row.scores - lo) / (hi - lo)
        vectors = unit[row.items]
        max_sim = np.full(n, -np.inf)
        taken = np.zeros(n, dtype=bool)
        counts = {c: 0 for c in row.groups}
        boost = 0  # how far every category limit was raised (as little as fills the list)
        limits = row.limits(boost)
        member_of = {c: set(p.tolist()) for c, p in row.groups.items()}
        need_new = required_new(row.cons, length)
        chosen: list[int] = []
        for slot in range(length):
            allowed = ~taken
            over = [c for c in counts if counts[c] >= limits[c]]
            quota_ok = allowed.copy()
            for c in over:
                quota_ok[list(member_of[c])] = False
            new_missing = need_new - int(row.is_new[chosen].sum()) if chosen else need_new
            if new_missing >= length - slot and new_missing > 0:
                if (quota_ok & row.is_new).any():
                    quota_ok &= row.is_new
                elif (allowed & row.is_new).any() and "max_per_category" in row.cons.relax_order:
                    quota_ok = allowed & row.is_new
                    notes.append("max_per_category: exceeded to place a required new item")
                else:
                    notes.append(f"min_new_share: only {need_new - new_missing} of {need_new} new items could be placed")
                    need_new -= new_missing
            if not quota_ok.any():
                if "max_per_category" not in row.cons.relax_order:
                    notes.append(f"list shortened to {slot} items: category limits allow no more")
                    break
                # raised evenly, as little as fills this slot (as the exact reranker relaxes them): dropping every
                # limit here let one category take the rest of the list (11 Action films of 20 under a limit of 3)
                while not quota_ok.any():
                    boost += 1
                    limits = row.limits(boost)
                    quota_ok = allowed.copy()
                    for c in (c for c in counts if counts[c] >= limits[c]):
                        quota_ok[list(member_of[c])] = False
            penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
            value = self.lambda_ * relevance - (1.0 - self.lambda_) * penalty
            value = np.where(quota_ok, value, -np.inf)
            best = int(np.argmax(value))  # first maximum = best-ranked candidate among ties
            chosen.append(best)
            taken[best] = True
            max_sim = np.maximum(max_sim, vectors @ vectors[best])
            for c in counts:
                if best in member_of[c]:
                    counts[c] += 1
        if boost:
            notes.append(f"max_per_category: limits raised by {boost} to fill {len(chosen)} slots")
        return np.asarray(chosen, dtype=np.int64), list(dict.fromkeys(notes))


def _rerank_rows(
    ranked: Ranked,
    k: int,
    constraints: Constraints | Sequence[Constraints] | None,
    items: ItemAttributes | None,
    pick: Callable[[_Row, int], tuple[np.ndarray, list[str]]],
) -> Reranked:
    # no list holds more items than its candidates: k = 10**12 allocated padding for every position
    k = check_k(k, at_most=ranked.indices.shape[1])
    batch = ranked.indices.shape[0]
    rows = per_row_constraints(constraints, batch)
    if ranked.indices.dtype.kind not in "iu":  # 0.5 was truncated to item 0
        raise InvalidInputError(f"rerank: Ranked.indices must be integers, got dtype {ranked.indices.dtype}")
    below = ranked.indices < -1
    if below.any():  # -1 is padding; -5 scored 9 was dropped as padding without a word
        r, c = (int(v[0]) for v in np.nonzero(below))
        raise InvalidInputError(
            f"rerank: row {r}: item index {int(ranked.indices[r, c])} is negative; indices are >= 0, or -1 for padding"
        )
    for bad, what in ((np.isnan(ranked.scores), "a NaN"), (np.isposinf(ranked.scores), "a +inf")):
        bad &= ranked.indices >= 0
        if bad.any():  # dropped as unlisted, it went without a word; the fusions refuse it too
            r, c = (int(v[0]) for v in np.nonzero(bad))
            raise InvalidInputError(
                f"rerank: row {r}: candidate item {int(ranked.indices[r, c])} has {what} score "
                f"({int(bad.sum())} such score(s) in all); score it -inf or give it index -1 to leave it out"
            )
    if items is not None:
        items.check_covers(ranked.indices)
    out_idx = np.full((batch, k), -1, dtype=np.int64)
    out_scores = np.full((batch, k), -np.inf, dtype=np.float32)
    relaxed: list[list[str]] = []
    for r in range(batch):
        row = _Row(ranked.indices[r], ranked.scores[r], rows[r], items)
        chosen, notes = pick(row, k)
        out_idx[r, : chosen.size] = row.items[chosen]
        out_scores[r, : chosen.size] = row.scores[chosen]
        relaxed.append(notes)
    return Reranked(Ranked(out_idx, out_scores), relaxed)


@hookimpl
def coldkit_rerankers() -> list[RerankerSpec]:
    return [
        RerankerSpec(
            name="constraints",
            description="Optimal top-k under exclusions, per-category limits and a minimum share of new items (MILP)",
            factory=ConstraintReranker,
            capabilities={"exclude", "max_per_category", "min_new_share", "optimal"},
        ),
        RerankerSpec(
            name="mmr",
            description="Maximal Marginal Relevance diversity, greedy, with the same constraints",
            factory=MMRReranker,
            capabilities={"exclude", "max_per_category", "min_new_share", "diversity"},
        ),
    ]
