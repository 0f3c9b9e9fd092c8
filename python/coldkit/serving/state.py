"""The immutable versions a :class:`~coldkit.serving.ServingIndex` publishes, and the growable arrays behind them.

Concurrency scheme (readers never lock):

* Big per-row arrays (content vectors, CF vectors...) live in :class:`RowBuffer`\\ s that only ever
  grow. A version holds *views* of their first ``n_rows`` rows; a writer appends at row
  ``n_rows`` (beyond every published view) and publishes a new version with more rows. A row
  that was published is never written again: updating an item appends a new row and marks the
  old one dead. Growth is amortised (capacity x1.5), not a copy per add.
* Small per-item arrays (which row an item lives in, its interaction count) are copied on write:
  O(n_items) integers, ~0.1 ms for 100k items.
* Append-only Python lists and dicts (ids, texts) are shared between versions; a reader only looks
  at entries below its own ``n_items`` / ``n_rows``, so entries a writer adds are invisible to it.
* The writer (:class:`~coldkit.serving.writes.IndexWriter`) swaps its ``version`` (one reference
  assignment, atomic in CPython); a reader takes that reference once per request and sees one
  consistent version throughout.

Each version carries its ``number``: how many logged writes were applied since the index was built.
That number is what the HTTP responses call ``version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import unicodedata
from typing import Any, Callable, Iterable

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.serving.errors import UnknownIdError

__all__ = ["RowBuffer", "ItemMeta", "Version", "as_id", "check_text", "check_new_id", "resolve_items"]


class RowBuffer:
    """An append-only 2-D (or 1-D) array with amortised growth; published prefixes are never rewritten."""

    def __init__(self, initial: np.ndarray, growth: float = 1.5) -> None:
        self._data = initial  # may be a read-only memory map until the first append
        self._owned = False
        self.growth = growth

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def view(self, n: int) -> np.ndarray:
        """The first ``n`` rows (no copy)."""
        return self._data[:n]

    def put(self, n: int, rows: np.ndarray) -> np.ndarray:
        """Write ``rows`` at ``[n, n + len(rows))`` and return the view of the first ``n + len(rows)`` rows.

        ``n`` is the row count of the latest published version, so the write lands beyond every
        view a reader may hold. Rows past ``n`` left by a failed write are simply overwritten.
        """
        rows = np.asarray(rows, dtype=self._data.dtype)
        end = n + rows.shape[0]
        if not self._owned or end > self._data.shape[0]:
            capacity = max(end, int(self._data.shape[0] * self.growth) + 16) if self._owned else max(
                end, n + max(64, n // 8)
            )
            grown = np.empty((capacity,) + self._data.shape[1:], dtype=self._data.dtype)
            grown[:n] = self._data[:n]  # old versions keep the old buffer alive while they need it
            self._data = grown
            self._owned = True
        self._data[n:end] = rows
        return self._data[:end]


@dataclass(frozen=True)
class ItemMeta:
    """What the index keeps about one row besides vectors: its text, categories and image path."""

    text: str
    categories: tuple[str, ...] = ()
    image: str | None = None


@dataclass(frozen=True)
class Version:
    """One consistent state of the index. Never mutated after publication (derived arrays are memoised)."""

    number: int  # the version number: logged writes applied since the index was built
    # --- rows (one per stored item vector; append-only)
    n_rows: int
    content: np.ndarray  # (n_rows, d) float32, whitened + L2-normalised content vectors
    cf: np.ndarray  # (n_rows, f) float32, CF item vectors q_i (warm: learned, cold/new: content-mapped)
    foldin: np.ndarray  # (n_rows, f) float32, what one click on the row adds to a user's CF vector
    row_item: np.ndarray  # (n_rows,) int64, the item ordinal each row belongs to
    row_new: np.ndarray  # (n_rows,) bool, cold at build time or added online
    row_meta: list[ItemMeta]  # shared, append-only
    # --- items (ordinals; external ids never change ordinal until compaction)
    n_items: int
    item_ids: list[str]  # shared, append-only
    item_index: dict[str, int]  # shared, grows; check ordinal < n_items
    item_row: np.ndarray  # (n_items,) int64, current row of each item, -1 = deleted (copy-on-write)
    item_count: np.ndarray  # (n_items,) float64, distinct users per item (copy-on-write)
    # --- users
    n_users: int
    user_ids: list[str]  # shared, append-only
    user_index: dict[str, int]  # shared, grows; check ordinal < n_users
    base_indptr: np.ndarray  # CSR over users [0, n_base_users): item ordinals from the snapshot
    base_items: np.ndarray
    extra_items: dict[int, np.ndarray] = field(default_factory=dict)  # online clicks (copy-on-write dict)
    user_text: dict[int, str] = field(default_factory=dict)  # profile texts (copy-on-write dict)
    # shared, grows: the ordinals an id had before it was deleted and added again (item_index holds
    # its latest), so a reader of a version from before the re-add still finds the item it holds
    earlier_ordinals: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---------------------------------------------------------------- lookups
    def item_ordinal(self, item_id: str) -> int | None:
        """Ordinal of a *live* item in this version, else None."""
        ordinal = self.item_index.get(item_id)
        # The shared table may hold an entry of a write that was refused (e.g. the disk was full: the
        # log append failed) whose ordinal a later write gave to another id; the id list up to
        # n_items is exact, so check it, or the refused id would alias the later item.
        if ordinal is None or ordinal >= self.n_items or self.item_ids[ordinal] != item_id:
            # the id may have been deleted and added again after this version: item_index then names
            # the new ordinal, past this version's items; this version's own is one of the earlier ones
            ordinal = next((o for o in reversed(self.earlier_ordinals.get(item_id, ()))
                            if o < self.n_items and self.item_ids[o] == item_id), None)
            if ordinal is None:
                return None
        if self.item_row[ordinal] < 0:
            return None
        return ordinal

    def user_ordinal(self, user_id: str) -> int | None:
        """Ordinal of a user in this version, else None (an entry of a refused write is checked away as above)."""
        ordinal = self.user_index.get(user_id)
        if ordinal is None or ordinal >= self.n_users or self.user_ids[ordinal] != user_id:
            return None
        return ordinal

    def history(self, user: int) -> np.ndarray:
        """Item ordinals user ``user`` interacted with (unique, deleted items included)."""
        parts = []
        if user < self.base_indptr.size - 1:
            parts.append(self.base_items[self.base_indptr[user] : self.base_indptr[user + 1]])
        extra = self.extra_items.get(user)
        if extra is not None:
            parts.append(extra)
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(parts)).astype(np.int64)

    # ---------------------------------------------------------------- derived, memoised per version
    def dead_rows(self) -> np.ndarray:
        """Rows that are no item's current row (deleted or superseded by an update), sorted."""
        dead = self._memo.get("dead")
        if dead is None:
            current = self.item_row[self.row_item]
            dead = np.flatnonzero(current != np.arange(self.n_rows)).astype(np.int64)
            self._memo["dead"] = dead
        return dead

    def popularity(self) -> np.ndarray:
        """(n_rows, 1) float32: each row's item's interaction count (the popularity source's scores)."""
        pop = self._memo.get("pop")
        if pop is None:
            pop = np.ascontiguousarray(self.item_count[self.row_item].astype(np.float32)[:, None])
            self._memo["pop"] = pop
        return pop

    def categories(self) -> frozenset[str]:
        """The categories the live items have: those a ``max_per_category`` limit can apply to (memoised)."""
        found = self._memo.get("categories")
        if found is None:
            rows = self.item_row[self.item_row >= 0]
            found = frozenset(c for r in rows.tolist() for c in self.row_meta[r].categories)
            self._memo["categories"] = found
        return found

    @property
    def n_live_items(self) -> int:
        return int(np.count_nonzero(self.item_row >= 0))


def as_id(value: Any, what: str) -> str:
    """``value`` as an external id: a non-blank string of at most 256 characters, else InvalidInputError.

    Only strings are ids, as in the HTTP API (its ids are strict strings): an integer ``5`` read as
    ``"5"`` would quietly create user ``"5"`` beside an existing ``"05"`` or ``"5.0"``, so it is refused
    with the field and the type it had, never coerced.
    """
    text = id_text(value, what)
    if not text.strip() or len(text) > 256:  # blank ids cannot come from training data (its loaders strip ids)
        raise InvalidInputError(f"{what} must be a non-blank id of at most 256 characters, got {text!r:.60}")
    return check_text(text, what)


def id_text(value: Any, what: str) -> str:
    """``value`` as a plain ``str`` when it is a string, else InvalidInputError naming ``what`` and the type.

    The type check alone, for lookups (``has_item``, ``item_info``...): a blank or overlong string
    is simply no known id there, but ``5`` for ``"5"`` is the coercion the HTTP API refuses.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string id, got {type(value).__name__}: {value!r:.60}")
    return str(value)  # a str subclass (numpy.str_) as a plain str, for the log and the id tables


def check_text(text: str, what: str) -> str:
    """``text`` unchanged, or InvalidInputError when it holds a lone UTF-16 surrogate (``"\\ud800"``).

    Such a string cannot be written to the UTF-8 log, a snapshot or an HTTP response, so it is
    refused before anything is applied.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} holds a lone UTF-16 surrogate at position {exc.start} ({text[exc.start]!r}); it is not valid Unicode"
        ) from None
    return text


def _control_character(text: str) -> int | None:
    """Position of the first control character of ``text`` (Unicode category Cc: NUL, tab, newline, DEL,
    the C1 controls...) or line/paragraph separator (U+2028, U+2029: ``str.splitlines`` cuts there), else None."""
    for pos, char in enumerate(text):
        if char in "\u2028\u2029" or unicodedata.category(char) == "Cc":
            return pos
    return None


def check_new_id(text: str, what: str) -> str:
    """``text`` unchanged, or InvalidInputError when it holds a control character: for an id a write would create.

    A newline, tab or NUL in an id splits or shifts it in every line-based export (a CSV of
    recommendations, a list of ids, ``coldkit evaluate``'s files) and reads as corruption. The file
    loaders take such ids as they are (only surrounding whitespace is stripped), so an index built from
    files may hold one; ids already in the index stay usable, only new ones are refused here. The id is
    shown escaped (``ascii``): printed raw, its newline would cut the message itself.
    """
    pos = _control_character(text)
    if pos is not None:
        raise InvalidInputError(
            f"{what} {ascii(text)} holds a control character (U+{ord(text[pos]):04X}) at position {pos}; "
            "ids cannot hold control characters (newline, tab, NUL...): they break every line-based export of the ids"
        )
    return text


def resolve_items(v: Version, ids: Iterable[Any], what: str) -> np.ndarray:
    """Ordinals of the live items ``ids`` in ``v``, or UnknownIdError naming every unknown id."""
    ordinals, unknown = [], []
    for value in ids:
        item_id = as_id(value, what)
        ordinal = v.item_ordinal(item_id)
        if ordinal is None:
            unknown.append(item_id)
        else:
            ordinals.append(ordinal)
    if unknown:
        raise UnknownIdError("item", unknown, lookalikes(unknown, lambda i: v.item_ordinal(i) is not None))
    return np.asarray(ordinals, dtype=np.int64)


def lookalikes(unknown: Iterable[str], known: Callable[[str], bool]) -> list[tuple[str, str]]:
    """``(given, known)`` pairs where an unknown id is a known one with spaces around it, in another Unicode
    form (NFC) or, for a number, with other leading zeros (``"007"`` for ``"7"``), for the "unknown id"
    message; a few dictionary probes per id, no scan of the ids."""
    pairs = []
    for given in unknown:
        stripped = unicodedata.normalize("NFC", given.strip())
        forms = [given.strip(), stripped]
        if stripped.isascii() and stripped.isdigit():
            forms.append(stripped.lstrip("0") or "0")
        for near in dict.fromkeys(forms):
            if near != given and known(near):
                pairs.append((given, near))
                break
    return pairs
