"""The in-memory shapes every recommender, splitter and metric in coldkit agrees on.

External ids (strings) are mapped once to dense indices: users ``0..n_users-1`` and catalogue items
``0..n_items-1``. The item index space covers the *whole* catalogue, including cold items that have
content but no interaction yet, so a cold item can be ranked next to warm ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit.exceptions import InvalidInputError
from coldkit.text import text_cells

__all__ = ["Catalog", "Interactions", "UserQuery"]


@dataclass(frozen=True)
class Catalog:
    """Items: external ids in index order, plus their content columns.

    Attributes:
        item_ids: object array of str, ``item_ids[i]`` is the external id of item ``i``; unique.
        table: one row per item in index order, column ``item_id`` plus content columns
            (text such as ``title``/``genres``/``tags``; ``image`` paths; ``genres`` as a
            ``|``-separated string when the data set has them).
        text_columns: the columns joined (in this order) into each item's text.
    """

    item_ids: np.ndarray
    table: pd.DataFrame
    text_columns: tuple[str, ...] = ("title",)
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)  # built in __post_init__

    def __post_init__(self) -> None:
        ids = np.asarray(self.item_ids, dtype=object)
        object.__setattr__(self, "item_ids", ids)
        index = {str(item): i for i, item in enumerate(ids)}
        if len(index) != len(ids):
            raise InvalidInputError("Catalog.item_ids has duplicate ids")
        object.__setattr__(self, "_index", index)
        if len(self.table) != len(ids):
            raise InvalidInputError(f"Catalog.table has {len(self.table)} rows for {len(ids)} item ids")
        missing = [c for c in self.text_columns if c not in self.table.columns]
        if missing:
            raise InvalidInputError(f"Catalog.text_columns not in the item table: {missing}")

    def __len__(self) -> int:
        return len(self.item_ids)

    def index_of(self, item_ids: Iterable[str]) -> np.ndarray:
        """Dense indices of external item ids; raises InvalidInputError naming the unknown ones."""
        ids = [str(i) for i in item_ids]
        unknown = [i for i in ids if i not in self._index]
        if unknown:
            raise InvalidInputError(f"unknown item ids: {unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
        return np.fromiter((self._index[i] for i in ids), dtype=np.int64, count=len(ids))

    def texts(self, columns: Sequence[str] | None = None, separator: str = ". ") -> list[str]:
        """Each item's text: the non-empty values of ``columns`` (default ``text_columns``) joined."""
        cols = list(columns or self.text_columns)
        if not cols:
            raise InvalidInputError(
                "the catalogue has no text columns (its item table holds ids alone, or it was built from interaction ids); this model needs "
                "item text: pass the item table, e.g. model.fit(ratings, items=items_df) with item_id + text columns"
            )
        missing = [c for c in cols if c not in self.table.columns]
        if missing:
            raise InvalidInputError(f"text columns not in the item table: {missing}")
        parts = text_cells(self.table[cols]).fillna("")
        return [separator.join(v.strip() for v in row if v and v.strip()) for row in parts.itertuples(index=False)]

    def without_text(self) -> np.ndarray:
        """(n_items,) bool: the items :meth:`texts` gives an empty text (every text column empty or blank)."""
        parts = text_cells(self.table[list(self.text_columns)]).fillna("")
        return np.all([(parts[c].str.strip() == "").to_numpy(dtype=bool) for c in parts.columns], axis=0)


@dataclass(frozen=True)
class Interactions:
    """Who interacted with what: a sparse user x item matrix over a :class:`Catalog`.

    Attributes:
        user_ids: object array of str, external id of user ``u``.
        catalog: the item index space (all items, warm and cold).
        matrix: CSR float32 (n_users, n_items); the value is the interaction weight (1.0 for
            implicit feedback, the rating otherwise). Explicit zeros are not stored.
        timestamps: optional CSR int64 of the same pattern (seconds), for temporal splits
            and recency popularity.
    """

    user_ids: np.ndarray
    catalog: Catalog
    matrix: sp.csr_matrix
    timestamps: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.user_ids, dtype=object)
        object.__setattr__(self, "user_ids", ids)
        m = sp.csr_matrix(self.matrix, dtype=np.float32)
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        object.__setattr__(self, "matrix", m)
        if m.shape != (len(ids), len(self.catalog)):
            raise InvalidInputError(
                f"Interactions.matrix has shape {m.shape}, expected (n_users={len(ids)}, n_items={len(self.catalog)})"
            )
        if len(set(map(str, ids))) != len(ids):
            raise InvalidInputError("Interactions.user_ids has duplicate ids")
        if m.nnz and not np.isfinite(m.data).all():
            raise InvalidInputError("Interactions.matrix has NaN or inf weights")
        if self.timestamps is not None and self.timestamps.shape != m.shape:
            raise InvalidInputError(
                f"Interactions.timestamps has shape {self.timestamps.shape}, expected the matrix's {m.shape}"
            )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.catalog)

    def user_index(self) -> dict[str, int]:
        """External user id -> dense index."""
        return {str(u): i for i, u in enumerate(self.user_ids)}

    def items_of(self, user: int) -> np.ndarray:
        """Item indices user ``user`` interacted with (sorted)."""
        if not 0 <= user < self.n_users:
            raise InvalidInputError(f"user index {user} out of range [0, {self.n_users})")
        return self.matrix.indices[self.matrix.indptr[user] : self.matrix.indptr[user + 1]].astype(np.int64)

    def item_counts(self) -> np.ndarray:
        """Number of users per item (0 for cold items)."""
        return np.bincount(self.matrix.indices, minlength=self.n_items).astype(np.int64)


@dataclass(frozen=True)
class UserQuery:
    """What is known about the user a recommendation is for.

    Any combination is allowed; a recommender uses what it can:

    * ``user``: dense index of a user seen in training (warm), or None.
    * ``history``: item indices the user interacted with that training may not contain
      (a new user's first clicks, or online interactions); weights default to 1.
    * ``text``: the user's own words (profile text) for content matching.
    * ``friends``: dense indices of training users the user is connected to (a social graph),
      for models that use one (``friends``, the hybrid's ``friends`` source).

    Indices or external ids: ``model.recommend(queries, k)`` speaks dense indices. In the
    DataFrame form ``model.recommend(users=[...], k=...)`` every id is the *external* one — ``history``
    and ``friends`` (and ``user``, though a warm user is simply their id in ``users=``) hold the ids of
    your tables (str or int; an int is read as the id ``str(int)``, never as an index), and are
    mapped to indices there. Strings (e.g.
    ``history=["tt0114709"]``) are kept as an object array of str, which the index form refuses
    with an error that points to ``users=``.
    """

    user: int | None = None
    history: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    text: str | None = None
    friends: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", _ids_or_indices(self.history, "history"))
        object.__setattr__(self, "friends", _ids_or_indices(self.friends, "friends"))
        object.__setattr__(self, "text", _text_or_none(self.text))

    @property
    def has_text(self) -> bool:
        """Whether the query carries a text with something besides white space."""
        return bool(self.text and self.text.strip())

    @property
    def has_external_ids(self) -> bool:
        """Whether ``user``, ``history`` or ``friends`` hold external ids (strings) rather than indices."""
        return isinstance(self.user, str) or self.history.dtype == object or self.friends.dtype == object


def _text_or_none(text: object) -> str | None:
    """``text`` as a str; None, and a missing value (NaN: what pandas gives for an empty cell), stay None."""
    if text is None or isinstance(text, str):
        return text
    if isinstance(text, (np.str_, bytes)):
        return text.decode() if isinstance(text, bytes) else str(text)
    if isinstance(text, (float, np.floating)) and np.isnan(text):
        return None
    raise InvalidInputError(f"UserQuery.text must be a string or None, got {type(text).__name__} {text!r}")


def _not_whole(value: object) -> bool:
    """A bool, or a float that is not a whole number (NaN and inf included)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, (float, np.floating)) and not float(value).is_integer()


def _ids_or_indices(values: object, what: str) -> np.ndarray:
    """int64 indices, or an object array of str when any value is a string (external ids)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False).reshape(-1)  # the common case: nothing to inspect
    if values is None:
        # None is "no clicks" (UserQuery(history=clicks.get(user))), as the default is: it was read as the
        # empty list here but then passed on to int64 as None, an InvalidInputError quoting int()
        return np.empty(0, dtype=np.int64)
    array = np.asarray(values, dtype=object).reshape(-1)
    entries = array.tolist()
    if any(isinstance(v, (str, np.str_, bytes)) for v in entries):
        return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in entries], dtype=object)
    # int64 would truncate 10.7 to 10 (and True to 1): a click on an item nobody named, silently
    bad = [v for v in entries if _not_whole(v)]
    if bad:
        raise InvalidInputError(
            f"UserQuery.{what} holds {bad[0]!r}, which is not a whole number: indices and int ids are whole "
            "numbers (a whole float such as 10.0 is fine), other ids are strings"
        )
    try:
        return np.asarray(values, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"UserQuery.{what} must be item indices (ints) or external ids (str): {exc}") from None
