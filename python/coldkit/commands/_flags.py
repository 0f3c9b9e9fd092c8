"""Argument helpers shared by the sub-commands, so a list flag reads the same in every command."""

from __future__ import annotations

from typing import Sequence

__all__ = ["list_flag"]


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
