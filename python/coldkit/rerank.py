"""Constraint-aware re-ranking: the contract shared by reranker plugins.

A reranker takes a scored candidate list per query (a :class:`coldkit.Ranked`, usually a few
times longer than ``k``) and picks the ``k`` items to show, subject to business constraints:

* ``exclude``: items never shown (already seen, blocked) — hard, never relaxed;
* ``max_per_category``: at most ``m`` items per category (e.g. genre) — an int for every category or a
  mapping category -> limit; an item with several categories counts towards each;
* ``min_new_share``: at least ``ceil(share * k)`` items flagged new (cold), so new items get exposure.

When the constraints cannot all be met, the reranker relaxes them in ``relax_order`` (by default
first the new-item share, then the category limits) as little as it can, and says so in
:attr:`Reranked.relaxed`; if the candidates run out after exclusions, the row is shorter (padded
with -1) and that is said too. A ``k`` beyond the candidate lists' width is capped to it (no list
can hold more items than its candidates), as ``recommend`` caps ``k`` at the catalogue. A listed
candidate (index >= 0) with a NaN or +inf score is refused; one scored -inf counts as unlisted; an item
listed twice in a row (merged retrievals) counts once, at its best score. Indices must be integers >= -1.

Example::

    reranker = coldkit.get_reranker("constraints")
    attrs = coldkit.ItemAttributes(categories=[{"drama"}, {"comedy"}, {"drama"}], is_new=[False, True, False])
    result = reranker.rerank(ranked, k=2, constraints=coldkit.Constraints(max_per_category=1, min_new_share=0.5),
                             items=attrs)
    result.ranked.indices, result.relaxed
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Collection, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.plugins.types import Ranked
from coldkit.validation import check_number

__all__ = ["Constraints", "ItemAttributes", "Reranked", "Reranker", "RELAXABLE"]

RELAXABLE = ("min_new_share", "max_per_category")


@dataclass(frozen=True)
class Constraints:
    """What a list shown to one user must satisfy (see the module docstring)."""

    exclude: Collection[int] = ()
    max_per_category: int | Mapping[str, int] | None = None
    min_new_share: float = 0.0
    relax_order: tuple[str, ...] = RELAXABLE

    def __post_init__(self) -> None:
        # "0.5" passed float() here and failed later as a TypeError ('>' between str and int); True was a share of 1
        object.__setattr__(self, "min_new_share", unit_number(self.min_new_share, "min_new_share"))
        # exclude=[1.5] was int()-ed into excluding item 1, and exclude="abc" failed as a bare ValueError
        if isinstance(self.exclude, Iterator):  # checked below, so kept: a generator would be spent by the check
            object.__setattr__(self, "exclude", tuple(self.exclude))
        if isinstance(self.exclude, (str, bytes)) or not isinstance(self.exclude, Iterable):
            raise InvalidInputError(f"exclude must be a collection of item indices, got {type(self.exclude).__name__} {self.exclude!r}")
        for item in self.exclude:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
                raise InvalidInputError(f"exclude must hold integer item indices, got {type(item).__name__} {item!r}")
        limits = self.max_per_category
        values = limits.values() if isinstance(limits, Mapping) else ([] if limits is None else [limits])
        for value in values:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"max_per_category limits must be integers >= 0, got {value!r}")
        if isinstance(self.relax_order, (str, bytes)):  # read letter by letter, it named ['_', 'a', 'e', ...] as unknown
            raise InvalidInputError(
                f"relax_order takes a sequence of constraint names, e.g. ({self.relax_order!r},); relaxable: {RELAXABLE}"
            )
        unknown = set(self.relax_order) - set(RELAXABLE)
        if unknown:
            raise InvalidInputError(f"relax_order names unknown constraints {sorted(unknown)}; relaxable: {RELAXABLE}")

    def limit_for(self, category: str) -> int | None:
        """The most items of ``category`` a list may hold (None = unlimited)."""
        if self.max_per_category is None:
            return None
        if isinstance(self.max_per_category, Mapping):
            limit = self.max_per_category.get(category)
            return None if limit is None else int(limit)
        return int(self.max_per_category)


@dataclass(frozen=True)
class ItemAttributes:
    """What rerankers know about each catalogue item (arrays over the item index space).

    Attributes:
        categories: per item, the set of its categories (e.g. genres); None when unused.
        is_new: bool (n_items,), True for new/cold items; None when unused.
        vectors: float32 (n_items, d) item vectors, for diversity (MMR); None when unused.
    """

    categories: Sequence[Collection[str]] | None = None
    is_new: np.ndarray | None = None
    vectors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.is_new is not None:
            flags = np.asarray(self.is_new, dtype=bool)
            if flags.ndim != 1:  # flattened, a (n, 2) array put its flags on other items' positions
                raise InvalidInputError(f"ItemAttributes.is_new must be 1-D (one flag per item), got shape {flags.shape}")
            object.__setattr__(self, "is_new", flags)
        if self.categories is not None:
            object.__setattr__(self, "categories", [_category_set(c, item) for item, c in enumerate(self.categories)])
        if self.vectors is not None:
            vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
            if vectors.ndim != 2:
                raise InvalidInputError(f"ItemAttributes.vectors must be 2-D, got shape {vectors.shape}")
            bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
            if bad.size:  # a NaN similarity was read as none: the item escaped the diversity penalty unsaid
                raise InvalidInputError(
                    f"ItemAttributes.vectors hold non-finite values (item {int(bad[0])}"
                    f"{f' and {bad.size - 1} more' if bad.size > 1 else ''}): give every item a finite vector"
                )
            object.__setattr__(self, "vectors", vectors)

    def check_covers(self, indices: np.ndarray) -> None:
        """Raise if a candidate index has no attributes."""
        valid = indices[indices >= 0]
        if valid.size == 0:
            return
        top = int(valid.max())
        for name, value in (("categories", self.categories), ("is_new", self.is_new), ("vectors", self.vectors)):
            if value is not None and top >= len(value):
                raise InvalidInputError(f"candidate item {top} has no ItemAttributes.{name} (length {len(value)})")


def _category_set(categories: object, item: int) -> frozenset[str]:
    """One item's categories as a set: a lone string is one category (read letter by letter, "drama" and
    "comedy" shared the categories 'd' and 'm', and a limit on "drama" limited nothing)."""
    if isinstance(categories, str):
        return frozenset((categories,))
    if isinstance(categories, bytes) or not isinstance(categories, Iterable):
        raise InvalidInputError(
            f"ItemAttributes.categories: item {item} has {type(categories).__name__} {categories!r:.60}; give each item "
            "a collection of category names (an empty set for none)"
        )
    return frozenset(categories)


@dataclass(frozen=True)
class Reranked:
    """The re-ranked lists and, per row, what had to give (empty list = every constraint met)."""

    ranked: Ranked
    relaxed: list[list[str]] = field(default_factory=list)


@runtime_checkable
class Reranker(Protocol):
    """Picks ``k`` items per row from scored candidates under constraints."""

    name: str

    def rerank(
        self,
        ranked: Ranked,
        k: int,
        constraints: Constraints | Sequence[Constraints] | None = None,
        items: ItemAttributes | None = None,
    ) -> Reranked:
        """Return the chosen ``k`` items per row (``constraints`` may be one per row or shared)."""
        ...


def unit_number(value: object, what: str) -> float:
    """``value`` as a float in [0, 1], else :class:`InvalidInputError` naming ``what`` (no bool, string or NaN)."""
    try:
        return check_number(value, what, at_least=0.0, at_most=1.0)
    except InvalidInputError:
        raise InvalidInputError(f"{what} must be a number in [0, 1], got {type(value).__name__} {value!r:.60}") from None


def required_new(constraints: Constraints, k: int) -> int:
    """How many new items a list of ``k`` must hold."""
    return math.ceil(round(constraints.min_new_share * k, 9))


def per_row_constraints(constraints: Constraints | Sequence[Constraints] | None, batch: int) -> list[Constraints]:
    """One Constraints per row, validating the count."""
    if constraints is None:
        return [Constraints()] * batch
    if isinstance(constraints, Constraints):
        return [constraints] * batch
    if isinstance(constraints, (Mapping, str, bytes)) or not isinstance(constraints, Iterable):
        # a dict was iterated as its keys and failed as "'str' object has no attribute 'exclude'"
        raise InvalidInputError(
            f"constraints must be a Constraints (e.g. Constraints(max_per_category=1)) or one per row, "
            f"got {type(constraints).__name__}"
        )
    rows = list(constraints)
    wrong = [i for i, row in enumerate(rows) if not isinstance(row, Constraints)]
    if wrong:
        raise InvalidInputError(
            f"constraints[{wrong[0]}] is a {type(rows[wrong[0]]).__name__}, not a Constraints "
            "(build each row's as Constraints(...))"
        )
    if len(rows) != batch:
        raise InvalidInputError(f"got {len(rows)} Constraints for {batch} rows")
    return rows
