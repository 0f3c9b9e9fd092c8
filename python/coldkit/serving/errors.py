"""Errors of the serving layer; each is a :class:`coldkit.ColdkitError` so callers can catch them together.

The HTTP app maps them to status codes: :class:`UnknownIdError` → 404, :class:`InvalidInputError`
→ 422, :class:`ReadOnlyIndexError` → 409, :class:`IndexStorageError` → 503.
"""

from __future__ import annotations

import unicodedata

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

    def __init__(self, kind: str, ids: list[str], lookalikes: list[tuple[str, str]] | None = None) -> None:
        self.kind = kind
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10]) + (" ..." if len(self.ids) > 10 else "")
        hint = ""
        if lookalikes:
            # an id read from a file at build time was stripped of its surrounding spaces ("  42 " is "42"), while
            # a request's id is taken exactly as sent: the bare 404 did not say that the known id was a space away
            shown_pairs = []
            for given, near in lookalikes[:3]:
                # two ids that print alike (one text in two Unicode forms) are shown escaped, as the loaders do
                alike = given.strip() != near and unicodedata.normalize("NFC", given.strip()) == near
                shown_pairs.append(f"{ascii(given)} is not {ascii(near)} (one text in two Unicode forms)" if alike
                                   else f"{given!r} is not {near!r}")
            spaces = any(given.strip() != given for given, _ in lookalikes[:3])
            hint = f"; ids are matched exactly as written: {', '.join(shown_pairs)}" + (
                " (ids read from files when the index was built are stripped of surrounding spaces)" if spaces else "")
        super().__init__(f"unknown {kind} id{'s' if len(self.ids) > 1 else ''}: {shown}{hint}")


class ReadOnlyIndexError(ColdkitError, RuntimeError):
    """A write was asked of an index opened read-only (e.g. one of several server workers)."""
