"""Argument helpers shared by the sub-commands, so a list flag reads the same in every command."""

from __future__ import annotations

import argparse
from typing import Sequence

#: how a tab may be written after --sep (a literal tab is hard to type in a shell)
_TAB_SPELLINGS = ("\\t", "tab", "TAB")

__all__ = ["list_flag", "parse_mapping", "add_sep_flag", "sep_flag"]


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


def sep_flag(text: str) -> str:
    """The ``--sep`` value as the readers take it: one character; ``\\t`` or ``tab`` for a tab.

    Raises:
        argparse.ArgumentTypeError: anything but one character (argparse names the flag; pandas would
            read a longer separator as a regular expression, where ``|`` matches between every letter).
    """
    if text in _TAB_SPELLINGS:
        return "\t"
    if len(text) != 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character; give the field separator of the tables, e.g. ';' or '|' (a tab: '\\t' or tab)"
        )
    if text in "\r\n\"":
        raise argparse.ArgumentTypeError(f"{text!r} cannot separate fields (it ends lines or quotes them)")
    return text


def add_sep_flag(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", which: str) -> None:
    """``--sep``: the field separator of the CSV/TSV tables ``which`` names (default: by the file name)."""
    parser.add_argument(
        "--sep", type=sep_flag, default=None, metavar="CHAR",
        help=f"field separator of {which}, e.g. ';' or '|' (tab: '\\t'); default: ',' for .csv/.txt, tab for .tsv/.dat "
        "(Parquet files have none)",
    )  # fmt: skip
