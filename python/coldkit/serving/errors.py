"""Errors of the serving layer; each is a :class:`coldkit.ColdkitError` so callers can catch them together.

The HTTP app maps them to status codes: :class:`UnknownIdError` → 404, :class:`InvalidInputError`
→ 422, :class:`ReadOnlyIndexError` → 409, :class:`IndexStorageError` → 503.
"""

from __future__ import annotations

from coldkit.exceptions import ColdkitError, InvalidInputError

__all__ = [
    "IndexFormatError",
    "IndexVersionError",
    "EncoderMismatchError",
    "IndexStorageError",
    "UnknownIdError",
    "ReadOnlyIndexError",
    "InvalidInputError",
]


class IndexFormatError(ColdkitError, ValueError):
    """A saved index directory is missing files, truncated, corrupted or inconsistent (names the file)."""


class IndexVersionError(IndexFormatError):
    """A saved index was written in a format this coldkit does not read (e.g. by a newer coldkit)."""


class EncoderMismatchError(ColdkitError, ValueError):
    """The encoder re-created on load does not produce the vectors the index was built with."""


class IndexStorageError(ColdkitError, OSError):
    """Writing the index or its write-ahead log failed (disk full, permissions...); nothing was acknowledged."""


class UnknownIdError(InvalidInputError, LookupError):
    """A user or item id the index does not hold (the message names it)."""

    def __init__(self, kind: str, ids: list[str]) -> None:
        self.kind = kind
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10]) + (" ..." if len(self.ids) > 10 else "")
        super().__init__(f"unknown {kind} id{'s' if len(self.ids) > 1 else ''}: {shown}")


class ReadOnlyIndexError(ColdkitError, RuntimeError):
    """A write was asked of an index opened read-only (e.g. one of several server workers)."""
