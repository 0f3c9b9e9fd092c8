"""Argument helpers shared by the sub-commands, so a list flag reads the same in every command."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Iterator, Sequence

#: how a tab may be written after --sep (a literal tab is hard to type in a shell)
_TAB_SPELLINGS = ("\\t", "tab", "TAB")

__all__ = ["notes_before_an_error", "list_flag", "parse_mapping", "add_sep_flag", "sep_flag", "add_table_flags", "add_user_data_flags", "USER_DATA_FLAGS"]


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


def add_table_flags(
    parser: "argparse.ArgumentParser | argparse._ArgumentGroup",
    *,
    files: str,
    scope: str = "",
    implicit_threshold: str,
    encoded: str | None = None,
) -> None:
    """How the interaction and item tables are read, declared once for ``coldkit recommend``, ``coldkit
    evaluate`` and ``coldkit serve --build``: ``--interaction-columns``, ``--item-columns``,
    ``--text-columns``, ``--implicit-threshold``, ``--duplicates``, ``--unknown-items``, ``--encoding`` and ``--sep``.

    Why one place: each command declared its own copy, and they drifted (``serve --build`` had no
    ``--encoding`` nor ``--duplicates``, so a latin-1 item file could not be served and repeated rows
    were silently collapsed there while the other commands refused them). ``files`` names the tables
    ``--sep`` reads (and ``--encoding``, unless ``encoded`` names more files), ``scope`` prefixes the help of the flags that apply to part of the
    command only (``"--data folder: "``), ``implicit_threshold`` says what happens to the ratings below
    the threshold (the one meaning that differs between the commands).
    """
    parser.add_argument(
        "--interaction-columns", nargs="+", metavar="STD=COL",
        help=f"{scope}interaction column mapping, e.g. user_id=userId item_id=movieId (its item_id also names the items' "
        "id column unless --item-columns maps item_id itself)",
    )  # fmt: skip
    parser.add_argument("--item-columns", nargs="+", metavar="STD=COL", help=f"{scope}item column mapping, e.g. item_id=movieId")
    parser.add_argument(
        "--text-columns", nargs="+", default=None,
        help=f"{scope}item columns joined into the item text, space- or comma-separated (default: the text-like columns: "
        "not ids, URLs or numbers)",
    )  # fmt: skip
    parser.add_argument("--implicit-threshold", type=float, default=None, help=implicit_threshold)
    parser.add_argument(
        "--duplicates", default="error", choices=["error", "last", "sum", "max"],
        help=f"{scope}repeated (user,item) rows: error (default), keep the last, sum or max the weights",
    )  # fmt: skip
    # the loaders' error for interaction rows of items the item table lacks names this flag
    parser.add_argument(
        "--unknown-items", default="error", choices=["error", "drop"],
        help=f"{scope}interaction rows whose item is not in the item table: error (default), or drop them (a note says how many and where)",
    )  # fmt: skip
    # the loaders' error for a latin-1 file names --encoding: every command that reads tables takes it
    parser.add_argument(
        "--encoding", default=None,
        help=f"text encoding of {encoded or files} when they are not UTF-8 (default UTF-8; e.g. latin-1); UTF-8 files stay UTF-8",
    )  # fmt: skip
    add_sep_flag(parser, files)


#: (flag, attribute) of the user-side files of :func:`add_user_data_flags`
USER_DATA_FLAGS = (
    ("--user-profiles", "user_profiles"),
    ("--profile-columns", "profile_columns"),
    ("--user-graph", "user_graph"),
    ("--user-graph-columns", "user_graph_columns"),
    ("--item-vectors", "item_vectors"),
    ("--item-vector-columns", "item_vector_columns"),
)


def add_user_data_flags(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", *, note: str = "", profile_note: str | None = None) -> None:
    """The extra input files of ``coldkit recommend`` (profile texts, social graph, own item vectors),
    declared once: ``coldkit serve --build`` takes the same flags so that it can say what it does with
    them (an unknown-argument error read as a typo); ``note`` ends each help (what that command does with them),
    ``profile_note`` that of the profile flags (default ``note``)."""
    profile_note = note if profile_note is None else profile_note
    parser.add_argument("--user-profiles", default=None, help=f"user_id + text column (profile texts){profile_note}")
    parser.add_argument("--profile-text-column", default="text", help=f"text column of --user-profiles (default text){profile_note}")
    parser.add_argument("--profile-columns", nargs="+", metavar="STD=COL", help=f"--user-profiles column mapping, e.g. user_id=uid text=bio{profile_note}")
    parser.add_argument(
        "--user-graph", default=None,
        help=f"social graph: one user_id,friend_id pair per row (e.g. lastfm's user_friends.dat); adds the friends source{note}",
    )  # fmt: skip
    parser.add_argument("--user-graph-columns", nargs="+", metavar="STD=COL", help=f"--user-graph column mapping, e.g. user_id=userID friend_id=friendID{note}")
    parser.add_argument(
        "--item-vectors", default=None, metavar="PATH",
        help="your own item vectors instead of encoding item text: X.npy with one id per line in X.ids.txt, "
        f".npz (arrays ids, vectors) or Parquet (columns item_id, vector){note}",
    )  # fmt: skip
    parser.add_argument(
        "--item-vector-columns", nargs="+", metavar="STD=COL", help=f"Parquet columns of --item-vectors, e.g. item_id=movieId vector=embedding{note}"
    )


@contextlib.contextmanager
def notes_before_an_error(notes: list[str], errors: type[BaseException]) -> Iterator[None]:
    """On an ``errors`` exception, print ``notes`` (the data notes gathered so far) as ``note:`` lines first.

    Why: a note on how the data were read explains an error that follows from it ("popularity-recent needs
    timestamps ... these have none" after a timestamp column with one empty cell was read without
    timestamps); the notes were printed after a successful run only, and lost with a failed one.
    """
    try:
        yield
    except errors:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        raise
