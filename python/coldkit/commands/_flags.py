"""Argument helpers shared by the sub-commands, so a list flag reads the same in every command."""

from __future__ import annotations

from typing import Sequence

__all__ = ["list_flag", "parse_mapping"]


def list_flag(values: Sequence[str] | str | None) -> list[str] | None:
    """A list flag's values: space-separated (``nargs="+"``), with commas also splitting, blanks dropped.

    ``--text-columns title genres``, ``--text-columns title,genres`` and ``--text-columns "title, genres"``
    all give ``["title", "genres"]``; None (flag not given) stays None.

    Example::

        list_flag(["title,genres", "tags"])   # ['title', 'genres', 'tags']
    """
    if values is None:
        return None
    parts = [values] if isinstance(values, str) else list(values)
    return [name.strip() for part in parts for name in part.split(",") if name.strip()]


def parse_mapping(pairs: Sequence[str] | None, flag: str, form: str = "STANDARD=COLUMN (e.g. user_id=userId)") -> dict[str, str] | None:
    """``STD=COL`` values of a column-mapping flag as ``{standard name: your column}``; None when not given.

    ``form`` is what the error message asks for (``--option`` takes ``KEY=VALUE``, not columns).

    Raises:
        InvalidInputError: a value that is not ``STD=COL`` (the flag is named).
    """
    from coldkit.exceptions import InvalidInputError

    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InvalidInputError(f"{flag}: {pair!r} is not {form}")
        out[key.strip()] = value.strip()
    return out
