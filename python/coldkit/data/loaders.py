"""Read interactions and item tables from plain files (CSV or Parquet) into coldkit's shapes.

Every reader validates what it reads and raises :class:`~coldkit.exceptions.InvalidInputError`
naming the file and the problem (missing column, NaN rating, duplicate pair, unknown id, empty
file, undecodable text) instead of guessing.

Example::

    from coldkit.data import load_items, load_interactions
    catalog = load_items("items.csv", text_columns=["title", "genres"])
    train = load_interactions("train.csv", catalog)
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import os
import re
import threading
import unicodedata
import warnings
import weakref
import zlib
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, Literal, Mapping, Sequence, cast, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit._paths import user_path
from coldkit.data._ids import scalar_ids
from coldkit.data.interactions import Catalog, Interactions
from coldkit.exceptions import DataWarning, InvalidInputError
from coldkit.text import text_cells
from coldkit.validation import check_number

__all__ = [
    "read_table",
    "catalog_from_frame",
    "text_like_columns",
    "interactions_from_frame",
    "load_items",
    "load_interactions",
    "load_liked_and_rated",
    "load_user_profiles",
    "load_user_graph",
    "user_graph_from_pairs",
    "read_id_list",
    "DuplicatePolicy",
]

DuplicatePolicy = Literal["error", "last", "sum", "max"]

# Encodings tried in order when a text file is not valid UTF-8. Latin-1 decodes any byte string, so
# it is only used when the caller allows it explicitly (it would otherwise hide real corruption).
_UTF8 = ("utf-8-sig",)


def read_table(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    encoding: str | None = None,
    dtype: Mapping[str, object] | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV (optionally ``.gz``) or Parquet file into a DataFrame of strings and numbers.

    Args:
        path: ``.csv``, ``.tsv``, ``.dat``, ``.txt`` (optionally ``.gz``) or ``.parquet``/``.pq``.
        sep: field separator; default ``,`` (``\\t`` for ``.tsv``/``.dat``).
        encoding: text encoding; default UTF-8. A file that is not valid UTF-8 raises an error that
            names the byte offset and suggests ``encoding="latin-1"`` (e.g. ml-100k's ``u.item``).
            A file that is UTF-8 text with non-ASCII characters is read as UTF-8 whatever
            ``encoding`` says (one ``--encoding`` serves every input file; see ``_utf8_if_it_is``).
        dtype: pandas dtypes per column (ids are best read as ``str``).
        header: whether the first line names the columns.
        names: column names when ``header`` is False.

    Raises:
        InvalidInputError: the file is missing, empty, has no rows, or cannot be decoded.
    """
    p = user_path(path)
    if not p.is_file():
        raise InvalidInputError(_not_a_file(p))
    if p.stat().st_size == 0:
        raise InvalidInputError(f"{p}: the file is empty")
    suffixes = [s.lower() for s in p.suffixes]
    no_rows = f"{p}: has a header but no rows"
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(p)
        except ImportError as exc:  # pyarrow is an optional dependency
            raise InvalidInputError(f"{p}: reading Parquet needs pyarrow (pip install 'coldkit[eval]')") from exc
        except Exception as exc:  # pyarrow raises its own hierarchy; name the file
            raise InvalidInputError(f"{p}: not a readable Parquet file ({exc})") from exc
        for column, kind in (dtype or {}).items():
            if column in frame.columns:
                frame[column] = _parquet_text(frame[column], f"{p}: column {column!r}") if kind is str else frame[column].astype(kind)
    else:
        base = [s for s in suffixes if s != ".gz"]
        given = sep is not None
        if sep is None:
            sep = "\t" if base and base[-1] in (".tsv", ".dat") else ","
        elif sep == "":
            raise InvalidInputError(f"{p}: the separator is empty (--sep); give one character, e.g. ';' or '|' (tab: '\\t')")
        enc = encoding or _UTF8[0]
        try:
            codecs.lookup(enc)
        except LookupError:
            raise InvalidInputError(
                f"unknown text encoding {enc!r} (--encoding); use a Python codec name such as utf-8 or latin-1"
            ) from None
        enc = _utf8_if_it_is(p, enc)
        if header and names is None:
            _refuse_sep_line(p, sep, enc)
        try:
            if dtype and header and names is None:
                dtype = _dtypes_for_raw_names(p, sep, enc, dtype)
            frame = pd.read_csv(
                p,
                sep=sep,
                encoding=enc,
                dtype=dtype,  # type: ignore[arg-type]
                header=0 if header else None,
                names=list(names) if names is not None else None,
                keep_default_na=True,
                engine="c" if len(sep) == 1 else "python",
            )
            plain = False
            if sep == "\t":
                frame, plain = _unquoted_tsv(frame, p, enc, dtype, header, names)
        except UnicodeDecodeError as exc:
            # pandas decodes in chunks: exc.start is the offset inside one, not in the file
            line, offset, bad = _undecodable_at(p, enc) or (None, exc.start, exc.object[exc.start:exc.start + 1])
            at = f"line {line}, byte {offset:,}" if line is not None else f"byte {offset:,}"
            shown = "UTF-8" if codecs.lookup(enc).name in ("utf-8", "utf-8-sig") else enc
            raise InvalidInputError(
                f"{p}: not valid {shown} text ({at}: {bad!r}); "
                # the command line's name for it too: encoding= alone reads as a Python keyword only
                "pass encoding='latin-1' (command line: --encoding latin-1), or the right encoding, if the file uses another one"
            ) from exc
        except UnicodeError as exc:  # "UTF-16 stream does not start with BOM" and the like: not a decode offset
            raise InvalidInputError(f"{p}: cannot be read as {enc} text ({exc}); pass the file's own encoding (--encoding)") from exc
        except pd.errors.EmptyDataError as exc:
            raise InvalidInputError(f"{p}: the file is empty") from exc
        except (OSError, EOFError, zlib.error) as exc:
            if suffixes and suffixes[-1] == ".gz":  # a corrupt or cut-off download: BadGzipFile, EOFError, zlib.error
                raise InvalidInputError(f"{p}: not a readable gzip file ({exc})") from exc
            raise InvalidInputError(f"{p}: cannot read the file ({exc})") from exc
        except pd.errors.ParserError as exc:
            # pandas' message ends in a newline (the error was two lines), and a file in another
            # separator (ml-100k's u.item is '|'-separated) fails here, not at the column check
            detail = _parser_detail(p, sep, enc, " ".join(str(exc).split()))
            raise InvalidInputError(
                f"{p}: malformed {('TSV' if sep == chr(9) else 'CSV')} ({detail}){_separator_hint(p, sep, enc)}"
            ) from exc
        except ValueError as exc:
            if "zip" not in str(exc).lower():
                raise
            raise InvalidInputError(f"{p}: {exc}; put one file in the archive") from exc  # several files in one .zip
        frame = _literal_ids(frame, p, sep=sep, encoding=enc, dtype=dtype, header=header, names=names, plain=plain)
        if given and header and names is None and len(frame.columns) == 1:
            _refuse_unsplit_header(p, str(frame.columns[0]), sep)
        if header and names is None and any(re.fullmatch(r"(.*)\.\d+", str(c)) for c in frame.columns):
            _refuse_duplicate_names(p, sep, enc)  # "x.1" may be a real name: the raw header decides
        quoting = csv.QUOTE_NONE if plain else csv.QUOTE_MINIMAL
        if header and names is None and not isinstance(frame.index, pd.RangeIndex):
            # pandas reads a first data row with more fields than the header as "the extra leading
            # fields are an index": every column silently shifted by one, so refuse it
            n = len(frame.columns)
            starts = _record_lines(p, sep, enc, quoting)  # blank lines before it: not always line 2
            line = starts[1] if starts is not None and len(starts) > 1 else 2
            raise InvalidInputError(
                f"{p}: line {line} has {n + frame.index.nlevels} fields but the header names {n}; "
                # a '|' file whose text holds commas lands here, not at the one-column check: say what it looks like
                f"fix the header or the rows (a trailing separator on data lines only?){_separator_hint(p, sep, enc)}"
            )
        rows_read = len(frame)
        dropped: list[int] = []
        blank = frame.isna().all(axis=1).to_numpy(dtype=bool)
        if blank.any() and len(frame.columns) > 1 and isinstance(frame.index, pd.RangeIndex):
            # a row of bare separators (",,": a spreadsheet's formatted but empty rows, often at the end) holds
            # no value, like the blank line pandas skips; kept, it failed as an "empty user_id" row
            dropped = np.flatnonzero(blank).tolist()
            frame = frame.loc[~blank].reset_index(drop=True)
            if frame.empty:
                # "no rows" sent its user looking for missing lines: the rows are there, with no value in them
                n = len(dropped)
                no_rows = (f"{p}: its {n} data row{'s are all' if n > 1 else ' is'} empty "
                           f"(no value in any column, e.g. a line of bare {sep!r} separators)")
        # where each row is in the file, worked out only when an error names a row (see _rows_named)
        frame.attrs[_SOURCE] = {
            "path": str(p), "sep": sep, "encoding": enc, "quoting": quoting, "header": header, "rows": rows_read,
            "dropped": dropped,
        }  # fmt: skip
    frame.columns = [str(c).strip() for c in frame.columns]
    twice = sorted(name for name, n in collections.Counter(frame.columns).items() if n > 1)
    if twice:  # "user_id" and "user_id " are two columns to pandas, one after stripping: which would be read?
        raise InvalidInputError(f"{p}: column name(s) {twice} appear twice in the header (spaces around names do not count)")
    if frame.empty:
        raise InvalidInputError(no_rows)
    return frame


#: ``DataFrame.attrs`` key of a table read from a text file: what :func:`_rows_named` needs to name file lines
_SOURCE = "coldkit.source"


def _record_lines(path: Path, sep: str, encoding: str, quoting: int) -> list[int] | None:
    """The 1-based line of the file on which each record starts, blank lines skipped as pandas skips them
    (the header's line is the first); None where the file cannot be followed so (a multi-character separator).

    A record may span lines (a quoted field holding a line break), so a row's line is not its
    position plus a constant; the csv module follows the quoting as pandas does.
    """
    records = _records(path, sep, encoding, quoting)
    return None if records is None else [start for start, _ in records]


def _records(path: Path, sep: str, encoding: str, quoting: int) -> list[tuple[int, int]] | None:
    """(line on which it starts, number of fields) of each record of the file, as :func:`_record_lines`
    follows them; None where it cannot."""
    if len(sep) != 1:
        return None
    starts: list[tuple[int, int]] = []
    last = [""]

    def lines(handle: Iterable[str]) -> Iterator[str]:
        for raw in handle:
            last[0] = raw
            yield raw

    try:
        with _open_decompressed(path) as raw_handle:
            text = io.TextIOWrapper(raw_handle, encoding=encoding, errors="replace", newline="")  # type: ignore[type-var]
            reader = csv.reader(lines(text), delimiter=sep, quoting=csv.QUOTE_NONE if quoting == csv.QUOTE_NONE else csv.QUOTE_MINIMAL)
            consumed = 0
            for record in reader:
                first, consumed = consumed + 1, reader.line_num
                # pandas skips an empty line and one of spaces or tabs alone; a record of one empty
                # quoted field ("") is a row to it
                if not record or (consumed == first and not last[0].strip(" \t\r\n")):
                    continue
                starts.append((first, len(record)))
    except (OSError, EOFError, zlib.error, ValueError, csv.Error):
        return None
    return starts


def _parser_detail(path: Path, sep: str, encoding: str, detail: str) -> str:
    """pandas' tokenizer error ``detail`` with the file line of the row it names.

    Why: its "Expected 4 fields in line 6" and "EOF inside string starting at row 4" count records
    and blank lines, not the lines of the file: after a quoted line break (or, for the row, any blank
    line) the user opened the file at that line and found another row. Left as pandas says it where
    the file cannot be followed (the number is then pandas' own).
    """
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    unclosed = re.search(r"EOF inside string starting at row (\d+)", detail)
    if fields is None and unclosed is None:
        return detail
    records = _records(path, sep, encoding, csv.QUOTE_MINIMAL)
    if not records:
        return detail
    if fields is not None:
        expected, saw = int(fields.group(1)), int(fields.group(3))
        # the first record past the header with more fields than pandas expected: the one it stopped at
        line = next((start for start, n in records[1:] if n > expected and n == saw), None)
        return detail if line is None else detail.replace(fields.group(0), f"Expected {expected} fields in line {line}, saw {saw}")
    assert unclosed is not None
    # an unclosed quote runs to the end of the file: the last record is the one it opens
    return detail.replace(unclosed.group(0), f"EOF inside string starting at line {records[-1][0]}")


def _row_lines(table: pd.DataFrame | pd.Series, rows: Sequence[int]) -> list[int] | None:
    """The file lines of ``table``'s rows at positions ``rows``, when it was read from a text file by
    :func:`read_table` and its rows can be matched to the file's records; else None."""
    source = table.attrs.get(_SOURCE)
    index = table.index
    # a frame sorted or cut since it was read (attrs follow it) no longer has the file's rows in order
    if not isinstance(source, dict) or not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return None
    if len(table) != source["rows"] - len(source["dropped"]):
        return None
    starts = _record_lines(Path(source["path"]), source["sep"], source["encoding"], source["quoting"])
    if starts is None:
        return None
    if source["header"]:
        starts = starts[1:]
    if len(starts) != source["rows"]:  # the file was not followed as pandas read it: name no line rather than a wrong one
        return None
    if source["dropped"]:
        keep = np.ones(len(starts), dtype=bool)
        keep[source["dropped"]] = False
        starts = np.asarray(starts)[keep].tolist()
    return [int(starts[r]) for r in rows]


def _rows_named(table: pd.DataFrame | pd.Series, rows: Sequence[int], word: str = "rows") -> str:
    """``rows`` (positions in ``table``) as a message names them: ``line 5`` / ``lines [5, 9]`` of the file
    it was read from (the header is line 1), else ``{word} [3, 7]`` (positions, for a caller's own frame).

    Why: positions counted the data rows left after blank and bare-separator rows were skipped, and
    a user who opened the file at that line found another row (the header and each skipped line
    shifted it).
    """
    lines = _row_lines(table, rows)
    if lines is None:
        return f"{word} {list(rows)}"
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {lines}"


def _row_named(table: pd.DataFrame | pd.Series, row: int) -> str:
    """One row as a message names it: ``line 5`` of the file, else ``row 3`` (its position)."""
    lines = _row_lines(table, [row])
    return f"row {row}" if lines is None else f"line {lines[0]}"


def _refuse_unsplit_header(path: Path, name: str, sep: str) -> None:
    """Refuse a header that the separator the user gave (``--sep``) leaves whole, when it holds another one.

    Why: ``--sep ';'`` on a comma file read the header ``user_id,item_id`` as one column of that
    name, and the error then said ``user_id`` was missing from a file that has it. A table of one
    column (item ids alone) is fine: only a header holding another common separator is refused.
    """
    found = next((other for other in (",", ";", "\t", "|") if other != sep and other in name), None)
    if found is not None:
        raise InvalidInputError(
            f"{path}: the separator {sep!r} (--sep) does not split the header {name!r}, which reads as one column; "
            f"the header looks {found!r}-separated: pass --sep {_sep_flag(found)} (Python: sep={found!r}), or leave --sep out "
            "(--sep is one separator for every input file: where the files differ, convert one to the other's)"
        )


def _undecodable_at(path: Path, encoding: str) -> tuple[int, int, bytes] | None:
    """``(line, byte offset, the byte)`` of the first byte of ``path`` (decompressed) that ``encoding`` cannot
    decode, as an editor counts them (line 1 first, offsets from 0); None if the whole file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed, lines = 0, 1
    try:
        with _open_decompressed(path) as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    # the decoder may hold back a few bytes of an unfinished character from the chunk before
                    held = len(exc.object) - len(chunk)
                    start = consumed - held + exc.start
                    return lines + exc.object[: exc.start].count(b"\n"), start, exc.object[exc.start:exc.start + 1]
                consumed += len(chunk)
                lines += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error, ValueError):
        return None
    return None


def _refuse_sep_line(path: Path, sep: str, encoding: str) -> None:
    """A first line ``sep=;``: the separator line a spreadsheet (Excel) writes above the column names.

    Why: read as the header it gave "line 2 has 5 fields but the header names 2" (or a malformed-CSV
    error), naming neither that line nor what to do with it.
    """
    try:
        with io.TextIOWrapper(cast(io.BufferedReader, _open_decompressed(path)), encoding=_bom_skipping(encoding), errors="replace") as handle:
            first = handle.readline(256).lstrip("\ufeff").rstrip("\r\n")
    except (OSError, EOFError, zlib.error, ValueError, LookupError):
        return  # the read that follows names what is wrong with the file
    found = re.fullmatch(r"\s*sep=(.)\s*", first)
    if found is None:
        return
    other = found.group(1)
    then = "" if other == sep else f" and read the file with --sep {_sep_flag(other)} (Python: sep={other!r})"
    raise InvalidInputError(
        f"{path}: the first line {first!r} is a spreadsheet's separator line, not the column names; delete it{then}"
    )


def _sep_flag(sep: str) -> str:
    """``sep`` as the command line takes it: a tab as ``'\\t'``, others quoted for a shell."""
    return "'\\t'" if sep == "\t" else f"'{sep}'"


def _separator_hint(path: Path, sep: str, encoding: str) -> str:
    """`` — the header looks '|'-separated ...`` when the file's first line holds another separator and not ``sep``."""
    import gzip

    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding=encoding, errors="replace") as handle:  # type: ignore[operator]
            first = handle.readline()
    except (OSError, EOFError, zlib.error):
        return ""
    if sep in first:
        return ""
    found = next((other for other in (";", "\t", "|") if other != sep and other in first), None)
    if found is None:
        return ""
    return f" — the first line looks {found!r}-separated: {_separator_advice(found, str(path))}"


def _separator_advice(found: str, where: str) -> str:
    """What to do with a file in separator ``found``: a tab file needs only a ``.tsv`` name, others converting."""
    advice = "coldkit reads ',' in .csv and tab in .tsv/.dat files unless told otherwise; "
    base, dot, suffix = where.rpartition(".")
    # the way to read it as it is: the separator given on the command line (or to the Python loaders)
    given = f"pass --sep {_sep_flag(found)} (Python: sep={found!r})"
    if found == "\t" and dot and suffix.lower() in ("csv", "txt"):
        # converting a tab file to commas was asked where renaming it is all it needs
        return advice + f"{given}, or rename it to {Path(base).name}.tsv"
    return advice + given


#: column names (lower case, letters and digits only) that are a standard id column under another name
_ID_ALIASES = {
    "user_id": ("user", "userid", "uid", "customer", "customerid", "member", "memberid", "visitor", "visitorid",
                "account", "accountid", "client", "clientid", "reader", "readerid", "listener", "listenerid"),
    "item_id": ("item", "itemid", "movie", "movieid", "artist", "artistid", "product", "productid", "sku", "track",
                "trackid", "song", "songid", "book", "bookid", "isbn", "article", "articleid", "asin", "film", "filmid",
                # an ERP or shop export's codes and numbers
                "productcode", "productno", "productnumber", "itemcode", "itemno", "itemnumber", "articlecode", "articleno",
                "articlenumber", "skuid"),
}  # fmt: skip

#: the same for the other standard names a mapping flag takes (profiles' text, the social graph's friend)
_OTHER_ALIASES = {
    "text": ("text", "bio", "about", "aboutme", "profile", "description", "summary", "interests"),
    "friend_id": ("friend", "friendid", "followee", "followeeid", "contact", "contactid"),
}

#: where each mapping flag's mapping goes in Python (fit renames an items= table with item_columns=, and
#: recommend_files takes the profiles' and the graph's as profile_columns= / user_graph_columns=)
_PYTHON_MAPPING = {
    "--item-columns": ("item_columns={} of fit", "columns={} of load_items"),
    "--profile-columns": ("profile_columns={} of recommend_files", "columns={} of load_user_profiles"),
    "--user-graph-columns": ("user_graph_columns={} of recommend_files", "columns={} of load_user_graph"),
}


#: the ``where`` of the DataFrames ``Recommender.fit`` reads (see coldkit.models.frames), and the fit argument
#: that maps each one's columns: a user of fit got the command line's flag first, and no word of items=
_FIT_MAPPING = {"interactions DataFrame": "columns", "items DataFrame": "item_columns"}


def _mapping_hint(
    frame: pd.DataFrame, missing: Sequence[str], flag: str, columns: Mapping[str, str] | None, where: str = ""
) -> str:
    """``; map your columns: --interaction-columns user_id=userId item_id=movieId`` for standard columns a table
    names otherwise: a guess from the names (``_ID_ALIASES``; an items table's ``id`` too), else the flag's form.
    The user's own mapping is repeated, since a second use of the flag replaces the first. For a DataFrame given
    to ``fit`` (``where`` one of :data:`_FIT_MAPPING`) the hint is the fit call itself, with ``items=``."""
    taken = set((columns or {}).values())
    pairs = dict(columns or {})
    for standard in missing:
        aliases = (_ID_ALIASES.get(standard, ()) + _OTHER_ALIASES.get(standard, ()) + (("id",) if flag == "--item-columns" else ())
                   + tuple(re.sub(r"[^a-z0-9]", "", name) for name in _LOOKS_LIKE.get(standard, ())))
        guess = next(
            (str(c) for c in frame.columns if str(c) not in taken and re.sub(r"[^a-z0-9]", "", str(c).lower()) in aliases), None
        )
        pairs[standard] = guess or "COLUMN"
        taken.add(pairs[standard])
    if where in _FIT_MAPPING:
        mapping = repr({std: (col if col != "COLUMN" else "YOUR_COLUMN") for std, col in pairs.items()})
        if _FIT_MAPPING[where] == "columns":
            # fit and coldkit.evaluate read the same frame with the same arguments
            return (
                f"; map your columns: model.fit(df, columns={mapping}) (coldkit.evaluate(df, models, columns=...) alike); "
                "a model that reads item text (hybrid, content...) also needs the item table: model.fit(df, columns=..., "
                "items=items_df), items_df with item_id + text columns (item_columns= maps its names, e.g. "
                "item_columns={'item_id': 'movieId'})"
            )
        return (
            f"; map your columns: model.fit(df, items=items_df, item_columns={mapping}) (coldkit.evaluate(df, models, "
            "items=items_df, item_columns=...) alike; item_columns= maps the items= table's names, columns= those of the interactions)"
        )
    # fit() renames an items= table with item_columns= (its columns= names the interactions' columns), so
    # "Python: columns=..." sent a user who had passed exactly that mapping to fit back to it
    python = ", ".join(form.format(repr(pairs)) for form in _PYTHON_MAPPING.get(flag, ("columns={}",)))
    return f"; map your columns: {flag} " + " ".join(f"{std}={col}" for std, col in pairs.items()) + f" (Python: {python})"


def _require_columns(
    frame: pd.DataFrame,
    columns: Sequence[str],
    where: str,
    mapping: tuple[str, Mapping[str, str] | None] | None = None,
    renamed: Mapping[str, str] | None = None,
) -> None:
    """Raise naming the ``columns`` ``frame`` lacks; ``mapping`` (the flag that maps them, the mapping given)
    adds how to map them when no other cause (another separator, no header line) is seen. ``renamed``
    (``{standard name: the user's column}``) is the mapping ``frame`` was already renamed by (:func:`_rename`):
    the columns found are then listed by the user's names (``found ['uid', ...]``, not ``['user_id', ...]``)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        own = renamed or {}
        hint = ""
        if len(frame.columns) == 1 and "::" in str(frame.columns[0]):
            # MovieLens-1M's .dat files: '::' between fields and no header line. The one-character test below
            # found the genres' '|' and advised --sep '|', which reads them no better
            fields = str(frame.columns[0]).split("::")
            headerless = " and has no header line" if _is_number(fields[0].strip()) else ""
            hint = (
                f" — the first line looks '::'-separated (MovieLens-1M's .dat files){headerless}: the command line reads "
                "one-character separators, so convert it, e.g. sed 's/::/\\t/g' FILE > FILE.tsv (tab-separated: read as it is), "
                "and add a header line naming the columns if it has none (Python: read_table(path, sep='::', header=False, "
                f"names=[...{len(fields)} names]))"
            )
        elif len(frame.columns) == 1:  # one column named like "user_id;item_id": another separator
            found = next((sep for sep in (";", "\t", "|") if sep in str(frame.columns[0])), None)
            if found is not None:
                hint = f" — the header looks {found!r}-separated: {_separator_advice(found, where)}"
        elif frame.columns.size and all(_is_number(str(c)) for c in frame.columns):
            # every "name" is a number: the file has no header line and its first row was read as one (ml-100k's u.data)
            extra = ("rating", "timestamp") if "user_id" in missing else ("...",)  # an interactions table, or another
            names = ", ".join([*missing, *(c for c in extra if c not in missing)][: max(len(frame.columns), len(missing))])
            hint = f" — the first line looks like data, not column names: add a header line (e.g. {names})"
        elif mapping is not None:
            hint = _mapping_hint(frame, missing, *mapping, where=where)
        shown = [own.get(str(c), c) for c in frame.columns]  # the names of the user's table, as it knows it
        raise InvalidInputError(f"{where}: missing column(s) {missing}; found {shown}{hint}")


def _is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (a header cell that does is data, not a name)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _refuse_duplicate_names(path: Path, sep: str, encoding: str) -> None:
    """A header that names one column twice: pandas would call the second ``name.1`` and the first would win."""
    header = pd.read_csv(path, sep=sep, encoding=encoding, header=None, nrows=1, dtype=str,
                         engine="c" if len(sep) == 1 else "python")
    names = [str(name).strip() for name in header.iloc[0].tolist()] if len(header) else []
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # numbers named twice are data, not names: a file without a header line (ml-100k's u.item, whose first
        # row's 0/1 genre flags read as names), where "rename one of each" sent the user to edit a data row
        headerless = all(_is_number(name) for name in twice)
        hint = (" — the first line looks like data, not column names: the file has no header line; add one naming "
                "its columns") if headerless else "; rename one of each"
        raise InvalidInputError(f"{path}: the header names column(s) {twice} more than once{hint}")


def _rename(frame: pd.DataFrame, mapping: Mapping[str, str] | None, where: str) -> pd.DataFrame:
    """Apply a ``{standard name: file column}`` mapping, e.g. ``{"user_id": "userId"}``."""
    if not mapping:
        return frame
    _require_columns(frame, list(mapping.values()), where)
    # two standard names for one column, or a standard name the file already uses for another
    # column, would leave two columns of one name (a TypeError deep in pandas, or the wrong one read)
    by_source: dict[str, list[str]] = {}
    for std, src in mapping.items():
        by_source.setdefault(src, []).append(std)
    for src, stds in by_source.items():
        if len(stds) > 1:
            raise InvalidInputError(f"{where}: {' and '.join(f'{s}={src}' for s in stds)} name the same column")
    for std, src in mapping.items():
        if std != src and std in frame.columns and std not in by_source:
            raise InvalidInputError(
                f"{where}: {std}={src}, but the file already has a column {std!r}; map that column too or rename it"
            )
    return frame.rename(columns={src: std for std, src in mapping.items()})


def _own_name(standard: str, renamed: Mapping[str, str] | None) -> str:
    """A standard column as a message names it: ``uid (user_id)`` where ``renamed`` (``{standard name: the
    user's column}``, as :func:`_rename` applied it) made it of the user's ``uid``, else ``user_id``.

    Why: the errors raised after a ``columns=`` mapping was applied named coldkit's ``user_id`` where the
    user's table says ``uid`` ("empty user_id at row(s) [1]" of a frame without any ``user_id`` column).
    """
    source = (renamed or {}).get(standard)
    return standard if source is None or str(source) == standard else f"{source} ({standard})"


def _in_own_column(standard: str, renamed: Mapping[str, str] | None) -> str:
    """`` in stars (rating)`` where ``renamed`` made ``standard`` of another column of the user's, else ``""``
    (a message that names no column reads the same as before when nothing was renamed)."""
    named = _own_name(standard, renamed)
    return "" if named == standard else f" in {named}"


def _ids(values: pd.Series, what: str, where: str) -> np.ndarray:
    """External ids as stripped strings; empty/NaN ids are an error."""
    missing = values.isna().to_numpy()
    ids = _whole_floats_as_ints(values, values.astype(str).str.strip())
    empty = missing | (ids == "").to_numpy()
    if empty.any():
        raise _empty_ids_error(values, empty, what, where)
    return ids.to_numpy(dtype=object)


def _empty_ids_error(values: pd.Series, empty: np.ndarray, what: str, where: str) -> InvalidInputError:
    """The error for rows whose ``what`` is empty (``empty``: (n,) bool over ``values``): the first five named,
    and, where there are more, how many in all.

    Why: only the first five were named, with no count, so a log with 300 rows of empty ids read as five bad
    rows: a user who fixed those five met the next five on the next run (each one re-reading millions of rows).
    Empty ids (NaN or only spaces) are counted together, as both are refused.
    """
    rows = np.flatnonzero(empty)
    shown = _rows_named(values, rows[:5].tolist(), "row(s)")
    if rows.size <= 5:
        return InvalidInputError(f"{where}: empty {what} at {shown}")
    return InvalidInputError(
        f"{where}: empty {what} in {rows.size:,} rows, the first at {shown}; every row needs a {what}: "
        "delete those rows or fill them in"
    )


def _whole_floats_as_ints(values: pd.Series, text: pd.Series) -> pd.Series:
    """``text`` (the ids as text) with each whole float value written as its int: ``12.0`` is the id ``"12"``.

    Ids read as numbers ("12.0") would not match the same id read as text ("12"), and
    ``recommend(users=...)`` writes a whole float as its int (``frames._external``): the rule is per
    value, and holds whatever holds the floats — a float column, a categorical of floats, or an
    object column mixing them with strings (those were stored as ``"0.0"`` and could not be asked for).
    """
    kind = values.dtype.categories.dtype if isinstance(values.dtype, pd.CategoricalDtype) else values.dtype
    if pd.api.types.is_float_dtype(kind):
        numbers = np.asarray(values.astype(np.float64))
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        if whole.any():
            text = text.copy()
            text[whole] = numbers[whole].astype(np.int64).astype(str)
        return text
    if kind == object:
        floats = [
            (i, str(int(v))) for i, v in enumerate(values.tolist())
            if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer()
        ]
        if floats:
            text = text.copy()
            rows, values_as_int = zip(*floats)
            text.iloc[list(rows)] = list(values_as_int)
        return text
    return text


def _id_codes(values: pd.Series, what: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The ids of a long column as ``(codes, names)``: ``names[codes[r]]`` is row r's id as :func:`_ids` reads it.

    Why: at 10M interactions, stripping and converting every row's id to a Python string took seconds;
    hashing the raw column once and doing the text work on its distinct values (≤ the catalogue)
    gives the same ids. ``names`` holds each distinct id once, in order of first appearance.
    """
    raw_codes, raw_names = pd.factorize(values)  # a missing value's code is -1
    distinct = pd.Series(raw_names, dtype=values.dtype)
    text = _whole_floats_as_ints(distinct, distinct.astype(str).str.strip())
    empty = (text == "").to_numpy()
    if (raw_codes < 0).any() or empty.any():
        raise _empty_ids_error(values, (raw_codes < 0) | np.append(empty, False)[raw_codes], what, where)
    # two raw values may strip to one id (" u1" and "u1"): merge them
    merged, names = pd.factorize(text.to_numpy(dtype=object))
    return merged[raw_codes].astype(np.int64), np.asarray(names, dtype=object)


class _RowIds:
    """Some rows' external ids as codes into their distinct names; one id is made only when a message names it."""

    def __init__(self, codes: np.ndarray, names: np.ndarray) -> None:
        self.codes, self.names = codes, names

    def __getitem__(self, row: int) -> str:
        return str(self.names[self.codes[row]])


# A column *named* like an id or a link is not item text, whatever its values look like:
# item_id, imdbId, movie_id, uuid, url, pictureURL, homepage_link ...
_NOT_TEXT_NAME = re.compile(r"(?:^|_)(?:id|ids|uuid|guid|key|url|uri|link|href|path|image|img)$", re.I)
_NOT_TEXT_CAMEL = re.compile(r"[a-z](?:Id|ID|Url|URL|Uri|URI)$")  # case matters: movieId, not "valid"
#: The standard columns of an interactions file that an item table never has.
INTERACTION_ONLY_COLUMNS = frozenset({"user_id", "rating", "weight", "timestamp"})
#: the standard names an interaction column mapping (``columns=``, ``--interaction-columns``) may use
INTERACTION_NAMES = ("user_id", "item_id", "rating", "weight", "timestamp")
#: A text column whose non-empty values parse as numbers at least this often is numbers, not text
#: (and a column of numbers is an item attribute, see :mod:`coldkit.models.attributes`).
NUMBERS_SHARE = 0.9
#: Values distinct for at least this share of rows (with digits, or whole numbers) name the row: an identifier.
IDENTIFIER_SHARE = 0.9
_URL = re.compile(r"^(?:https?|ftp)://|^www\.|^[\w.-]+\.(?:com|org|net|io)(?:/|$)", re.I)


def text_like_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of an item table that hold item text, in table order — the default ``text_columns``.

    A column counts when its values are strings and it is not, by name or by content:

    * ``item_id``, an id (``imdbId``, ``movie_id``, ``uuid``) or a link/image column (``url``, ``pictureURL``, ``image``);
    * URLs (most non-empty values start with ``http://``, ``https://`` or ``www.``);
    * numbers stored as text (nearly all values parse as numbers: ``"1995"``, ``"4.5"``);
    * dates (nearly all values read as dates, :func:`date_days`: ``"01-Jan-1995"``, ``"2018-05-01"``);
    * prices written with their currency (:func:`money_numbers`: ``"$12.99"``, ``"12,99 €"``);
    * identifiers: single tokens that carry digits and are (nearly) unique per row (``tt0114709``, ``B00005JNOG``).

    Why: every such column used to be joined into the item text, so a lastfm URL became part of each
    artist's "description" and pulled unrelated artists together.

    Example::

        text_like_columns(pd.DataFrame({"item_id": [1], "title": ["Heat"], "url": ["http://x.org/1"]}))  # ['title']
    """
    chosen = []
    for column in frame.columns:
        name = str(column)
        values = frame[column]
        if name == "item_id" or _NOT_TEXT_NAME.search(name) or _NOT_TEXT_CAMEL.search(name):
            continue
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        present = values.dropna().astype(str).str.strip()
        present = present[present != ""]
        if present.empty:
            continue
        if _share_reaches(present, _url_like, 0.5):
            continue
        if _share_reaches(present, lambda part: pd.to_numeric(part, errors="coerce").notna().to_numpy(), NUMBERS_SHARE):
            continue
        # dates are an item attribute, not words; read once per table, attribute_columns asks again
        if _column_date_days(frame, column) is not None:
            continue
        if money_numbers(present) is not None:  # prices ("$12.99") too
            continue
        if _share_reaches(present, _token_with_digit, IDENTIFIER_SHARE) and present.nunique() >= IDENTIFIER_SHARE * len(present):
            continue
        chosen.append(name)
    return chosen


def _share_reaches(values: pd.Series, test: Callable[[pd.Series], np.ndarray], share: float, chunk: int = 1 << 12) -> bool:
    """Exactly ``test(values).mean() >= share``, decided a chunk of rows at a time.

    Why: a 1M-item table spent seconds parsing every title as a number to learn that it is text; the
    answer is known as soon as the rows left cannot change it (more than 10 % are not numbers).
    4,096 rows a chunk, not 65,536: a 20,000-item table of 200-500-word descriptions was one chunk, so
    every description was scanned for a URL and parsed as a number (0.8 s -> 0.3 s CPU for its columns).
    """
    n = len(values)
    hits = misses = 0
    for start in range(0, n, chunk):
        part = np.asarray(test(values.iloc[start : start + chunk]), dtype=bool)
        found = int(part.sum())
        hits, misses = hits + found, misses + part.size - found
        if hits / n >= share:
            return True
        if (n - misses) / n < share:
            return False
    return n > 0 and hits / n >= share


#: Written-out date formats a text column of an item table may hold, besides ISO-8601 (tried first).
#: "%m/%d/%Y" comes before "%d/%m/%Y": a column both read alike (no day above 12) is read the US way.
#: A month and a year ("Mar 1995", "03/1995": how books and magazines are dated) and the CJK way ("1995年3月26日")
#: are dates too: such columns were item text, or, near-unique per item, taken for an identifier and read not at all.
DATE_FORMATS = (
    "%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y",
    "%d.%m.%Y", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y",
    "%b %Y", "%B %Y", "%m/%Y", "%Y年%m月%d日", "%Y年%m月",
)  # fmt: skip
#: Distinct values a column's date format is first decided on (a column of titles fails there, unparsed).
_DATE_SAMPLE = 512
#: 1970-01-01 UTC at second resolution. pandas reads a date at the resolution it needs (microseconds for text,
#: a Parquet column's own unit), so "1605-01-16" or a "9999-12-31" sentinel are dates; subtracting a
#: nanosecond epoch converted them to nanoseconds, which overflowed (OutOfBoundsDatetime) and failed the load.
_EPOCH = pd.Timestamp(0, tz="UTC").as_unit("s")


def _days_since_epoch(moments: pd.Series) -> pd.Series:
    """UTC datetimes as float days since 1970-01-01, at their own resolution (:data:`_EPOCH`)."""
    return (moments - _EPOCH) / pd.Timedelta(days=1)


def date_days(values: pd.Series) -> pd.Series | None:
    """A column of dates as float days since 1970-01-01 (NaN where empty or unreadable), else None.

    A column is dates when its dtype is a datetime or a period (Parquet, pandas), or when at least
    :data:`NUMBERS_SHARE` of its non-empty values read as dates in one format: ISO-8601
    ("1995-01-01", "2018-05-01T10:00:00Z") or one of :data:`DATE_FORMATS` ("01-Jan-1995", as in
    MovieLens 100k's ``u.item``; "Jan 1, 1995"; "01.01.1995"). Where several formats read the column,
    the one that reads the most values is used. Where no one format does but several together do (a
    table merged from sources that write dates differently), each value is read in the first that fits,
    those that read more first, with at most one of month-first and day-first. Times with a zone are
    read in UTC, naive ones as UTC.

    Why: a release or publication date is one of the strongest signals of who a new item's audience
    is, and as text ("01-Jan-1995") it was three tokens in the item's words.
    """
    if isinstance(values.dtype, pd.PeriodDtype):
        values = values.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _days_since_epoch(pd.to_datetime(values, utc=True))
    if not _text_dtype(values):
        return None
    fitting = _date_formats_of_sample(values)
    if not fitting:
        return None
    return _read_dates(values, values.astype("string").str.strip(), fitting)


def _text_dtype(values: pd.Series) -> bool:
    """Whether a column holds text (or Python objects) that :func:`date_days` reads as written dates."""
    return bool(values.dtype == object or pd.api.types.is_string_dtype(values))


def present_text(values: pd.Series) -> tuple[pd.Series, pd.Series] | None:
    """(the column as stripped strings, which of them are non-empty), or None for a column that is not text
    or holds no non-empty value: where the readers of written numbers, prices and dates start."""
    if not _text_dtype(values):
        return None
    text = values.astype("string").str.strip()
    present = text.notna() & (text != "")
    return (text, present) if present.any() else None


def _nonempty(part: pd.Series) -> pd.Series:
    """The values of ``part`` as stripped strings, empty and missing ones left out."""
    text = part.astype("string").str.strip()
    return text[text.notna() & (text != "")]


def _read_as_dates(part: pd.Series, form: str) -> pd.Series:
    """``part`` read as dates in ``form`` (a strptime format or "ISO8601"), in UTC, NaT where it does not fit."""
    with warnings.catch_warnings():  # a format that does not fit warns before it coerces
        warnings.simplefilter("ignore")
        return pd.to_datetime(part, format=form, utc=True, errors="coerce")


def _date_formats_of_sample(values: pd.Series) -> list[str]:
    """The date formats that read the first distinct values of a text column, best first; [] for none.

    A column that no one format reads but several do together gives ``[_IN_TURN, format, ...]``: each value
    is read in the first of those formats that fits (:func:`_read_in_turn`).

    The format is decided on the first distinct values: a 1M-row column of titles is never parsed whole,
    nor converted and stripped whole (that alone took half the time text_like_columns spends on it).
    The sample is the first ``8 * _DATE_SAMPLE`` (4096) non-empty rows; when they all read as dates the
    whole column is parsed (:func:`_read_dates`), even where the rows below them are not dates.
    """
    head = _nonempty(values.iloc[: 8 * _DATE_SAMPLE])
    if len(head) < 8 * _DATE_SAMPLE and len(values) > 8 * _DATE_SAMPLE:
        head = _nonempty(values).iloc[: 8 * _DATE_SAMPLE]  # empty first rows: the first non-empty ones
    if head.empty:
        return []
    sample = pd.Series(head.unique()[:_DATE_SAMPLE])
    if not sample.str.contains(r"\d", regex=True).any():
        return []
    shares = {form: float(_read_as_dates(sample, form).notna().mean()) for form in ("ISO8601", *DATE_FORMATS)}
    # the formats that read the sample, best first (ties in the order above)
    fitting = sorted((form for form, share in shares.items() if share >= NUMBERS_SHARE), key=lambda f: -shares[f])
    if fitting:
        return fitting
    # a table merged from several sources writes its dates several ways ("26.03.1995", "1995-03-26",
    # "Mar 26, 1995"): no one format reads it, and the column was item text. Each value is read in the first
    # format that fits, the best first; of month-first and day-first only the better one, so that "01/02/2020"
    # is never read both ways in one column
    mixed = sorted((form for form, share in shares.items() if share > 0), key=lambda f: -shares[f])
    for first, second in (("%m/%d/%Y", "%d/%m/%Y"), ("%d/%m/%Y", "%m/%d/%Y")):
        if first in mixed and second in mixed and mixed.index(first) < mixed.index(second):
            mixed.remove(second)
    if len(mixed) < 2 or float(np.isfinite(_read_in_turn(sample, mixed)).mean()) < NUMBERS_SHARE:
        return []
    return [_IN_TURN, *mixed]


#: First of the formats :func:`_date_formats_of_sample` gives for a column of mixed formats: read each value in
#: the first of the others that fits (:func:`_read_in_turn`), not the whole column in the best one.
_IN_TURN = "in turn"


def _read_in_turn(part: pd.Series, forms: Sequence[str]) -> np.ndarray:
    """Days since 1970 of each value of ``part`` in the first of ``forms`` that reads it (NaN where none does).

    Days, not datetimes: two formats may read at different resolutions, and a 1605 date fits no nanoseconds.
    """
    days = np.full(len(part), np.nan)
    for form in forms:
        unread = np.isnan(days)
        if not unread.any():
            break
        days[unread] = _days_since_epoch(_read_as_dates(part[unread], form)).to_numpy(dtype=np.float64)
    return days


def _read_dates(values: pd.Series, text: pd.Series, fitting: Sequence[str]) -> pd.Series | None:
    """The whole column read in the best of ``fitting`` (``text``: its values as stripped strings), as
    :func:`date_days` gives it; None when under :data:`NUMBERS_SHARE` of its non-empty rows are dates."""
    present = text.notna() & (text != "")
    given = text[present]
    distinct = pd.Series(given.unique())
    if fitting[0] == _IN_TURN:  # several formats in one column
        days_of = pd.Series(_read_in_turn(distinct, fitting[1:]))
    else:
        moments = _read_as_dates(distinct, fitting[0])
        for form in fitting[1:]:
            # the sample can read alike in two formats ("01/02/2020" month or day first) where the column does
            # not ("25/12/2020" further down): the one that reads more of the whole column is the column's format
            if moments.notna().all():
                break
            other = _read_as_dates(distinct, form)
            if other.notna().sum() > moments.notna().sum():
                moments = other
        days_of = _days_since_epoch(moments)
    mapping = pd.Series(days_of.to_numpy(dtype=np.float64), index=distinct.to_numpy())
    days = pd.Series(np.nan, index=values.index, dtype=np.float64)
    days[present] = mapping.reindex(text[present].to_numpy()).to_numpy()
    if float(np.isfinite(days[present]).mean()) < NUMBERS_SHARE:
        return None
    return days


class _DatesRead:
    """One column's dates as :func:`_column_date_days` read them: the text parsed, and the days (None: no dates)."""

    __slots__ = ("text", "days")

    def __init__(self, text: pd.Series, days: np.ndarray | None) -> None:
        self.text, self.days = text, days


#: The text columns of a table read as dates so far, by ``id(table)`` (dropped when the table is, see
#: :func:`_column_date_days`), then by column.
_DATES_READ: dict[int, dict[object, _DatesRead]] = {}
_DATES_READ_LOCK = threading.Lock()


def _forget_dates_of(key: int) -> None:
    with _DATES_READ_LOCK:
        _DATES_READ.pop(key, None)


def _column_date_days(table: pd.DataFrame, column: object) -> pd.Series | None:
    """``date_days(table[column])``, the whole column parsed once per table while its text stays the same.

    Why: loading a catalogue asked twice whether a column is dates — :func:`text_like_columns` to keep it
    out of the item text, then :func:`coldkit.models.attributes.attribute_columns` to read it as an
    attribute — and a 1M-row column of distinct dates took seconds to parse each time. A column whose
    first rows are no dates is answered from them, as before, and never kept. A kept answer is used
    only while the column's text (each value as a stripped string: all that :func:`date_days` reads)
    equals the text it was read from, so a table changed in place, or a new table that reuses a freed
    one's id, is read anew. What is kept goes with the table (``weakref.finalize``).
    """
    values = table[column]
    if not _text_dtype(values):
        return date_days(values)  # a datetime or period column costs one conversion; numbers are no dates
    fitting = _date_formats_of_sample(values)
    if not fitting:
        return None
    text = values.astype("string").str.strip()
    key = id(table)
    with _DATES_READ_LOCK:
        read = _DATES_READ.get(key, {}).get(column)
    if read is not None and read.text.equals(text):
        return None if read.days is None else pd.Series(read.days.copy(), index=values.index)
    days = _read_dates(values, text, fitting)
    kept = _DatesRead(text, None if days is None else days.to_numpy(dtype=np.float64, copy=True))
    with _DATES_READ_LOCK:
        if key not in _DATES_READ:
            _DATES_READ[key] = {}
            weakref.finalize(table, _forget_dates_of, key)
        _DATES_READ[key][column] = kept
    return days


#: A price written with its currency, before or after the number: "$12.99", "12,99 €", "EUR 5", "¥1,200", "35元".
_MONEY = re.compile(
    r"^(?:[$€£¥₹]|(?:USD|EUR|GBP|JPY|CNY|RMB|CHF|CAD|AUD|INR)\s?)\s*(-?\d[\d.,' ]*)$"
    r"|^(-?\d[\d.,' ]*?)\s*(?:[$€£¥₹元]|(?:USD|EUR|GBP|JPY|CNY|RMB|CHF|CAD|AUD|INR))$"
)
#: The number of a price, written with a decimal point ("1,299.00") or a decimal comma ("1.299,00").
_POINT_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:[,' ]\d{3})+|\d+)(?:\.\d+)?$")
_COMMA_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:[.' ]\d{3})+|\d+)(?:,\d+)?$")


def money_numbers(values: pd.Series) -> pd.Series | None:
    """A column of prices written with their currency ("$12.99", "12,99 €") as floats (NaN where empty), else None.

    It is prices when some values carry a currency symbol or code and at least :data:`NUMBERS_SHARE` of the
    non-empty ones read as numbers with or without one. The numbers are read with a decimal point ("$1,299.00")
    where that reads the column, else with a decimal comma ("1.299,00 €").

    Why: such a column is neither numbers to pandas nor words; it was joined into every item's text, where "$12.99"
    matched items by price tokens, and the content models' attributes never read the price.
    """
    read = present_text(values)
    if read is None:
        return None
    text, present = read
    given = text[present]
    head = pd.Series(given.unique()[:_DATE_SAMPLE])
    # decided on the first distinct values: a column of titles fails here, unparsed
    if head.str.fullmatch(_MONEY).mean() == 0 or (head.str.fullmatch(_MONEY) | head.str.fullmatch(_POINT_NUMBER)).mean() < NUMBERS_SHARE:
        return None
    parts = given.str.extract(_MONEY)
    number = parts[0].fillna(parts[1]).fillna(given).str.strip()
    for pattern, drop, decimal in ((_POINT_NUMBER, r"[,' ]", "."), (_COMMA_NUMBER, r"[.' ]", ",")):
        readable = number.str.fullmatch(pattern).fillna(False).astype(bool)
        if float(readable.mean()) >= NUMBERS_SHARE:
            cleaned = number.where(readable).str.replace(drop, "", regex=True).str.replace(decimal, ".", regex=False)
            out = pd.Series(np.nan, index=values.index, dtype=np.float64)
            out[present] = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=np.float64)
            return out
    return None


def _url_like(values: pd.Series) -> np.ndarray:
    """Which values look like URLs (``_URL``); the regex runs only where a "." or "://" makes a match possible."""
    possible = (values.str.contains(".", regex=False) | values.str.contains("://", regex=False)).to_numpy(dtype=bool)
    found = np.zeros(len(values), dtype=bool)
    if possible.any():
        found[possible] = values[possible].str.contains(_URL).to_numpy(dtype=bool)
    return found


def _token_with_digit(values: pd.Series) -> np.ndarray:
    """Single tokens that carry a digit (``tt0114709``): what identifiers look like."""
    return (~values.str.contains(r"\s") & values.str.contains(r"\d")).to_numpy(dtype=bool)


def catalog_from_frame(
    frame: pd.DataFrame,
    *,
    text_columns: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    where: str = "items",
    require_text: bool = True,
    media_columns: Sequence[str] = (),
) -> Catalog:
    """Build a :class:`Catalog` from a table with an ``item_id`` column and content columns.

    Args:
        frame: one row per item.
        text_columns: the columns joined into each item's text; default: the text-like columns
            (:func:`text_like_columns`: not ids, URLs, numbers or image paths). The choice is
            ``catalog.text_columns``, for a caller to show.
        columns: ``{standard name: column in frame}``, e.g. ``{"item_id": "movieId"}``.
        where: a name for error messages (usually the file path).
        require_text: whether a table without any text-like column is an error (False: item
            vectors come from elsewhere, ``--item-vectors``; the catalogue then has no text columns).
        media_columns: columns of image/audio paths (``--image-column``/``--audio-column``), never
            taken as default text columns.

    Raises:
        InvalidInputError: ``item_id`` missing, empty or duplicated; a text column missing.
    """
    if isinstance(text_columns, (str, bytes)):
        # a bare string is a sequence of letters: 'title' was reported as missing columns t, i, t, l, e
        raise InvalidInputError(
            f"{where}: text_columns= takes a list of column names; wrap a single one in a list: [{text_columns!r}]"
        )
    frame = _rename(frame, columns, where)
    _require_columns(frame, ["item_id"], where, mapping=("--item-columns", columns), renamed=columns)
    ids = _ids(frame["item_id"], _own_name("item_id", columns), where)
    uniq, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:10].tolist()
        # the rows of each copy: in a long export the ids alone left the user searching for the rows to merge
        rows = np.flatnonzero(np.isin(ids.astype(str), dup))[:20].tolist()
        raise InvalidInputError(
            f"{where}: duplicate item_id(s){_in_own_column('item_id', columns)} {dup} ({_rows_named(frame, rows)}); keep one row per item"
        )
    table = frame.copy()
    table.attrs.pop(_SOURCE, None)  # the catalogue outlives the file (a saved index): no path of it kept
    table["item_id"] = ids
    table = table.reset_index(drop=True)
    _join_list_cells(table)
    if text_columns is None:
        # a media column is read as files, not words: a column named "poster" or "cover" passes the
        # text-like tests, and its paths ("posters/0042.jpg") were joined into every item's text
        text_columns = [c for c in text_like_columns(table) if c not in set(media_columns)]
        if not text_columns and require_text:
            # a column with no value at all (a title column left blank) is named as empty: "no text-like
            # column" of a table whose title column is right there sent the user checking its type
            blank = [str((columns or {}).get(str(c), c)) for c in table.columns
                     if c != "item_id" and c not in set(media_columns) and _missing_cells(table[c]).all()]
            if blank:
                raise InvalidInputError(
                    f"{where}: no text-like column besides {_own_name('item_id', columns)}: column(s) {blank} are empty on "
                    "every row, and ids, URLs and numbers do not count as item text; fill in a title or description, "
                    "name text columns with text_columns= (--text-columns), or bring item vectors (coldkit recommend --item-vectors)"
                )
            raise InvalidInputError(
                f"{where}: no text-like column besides {_own_name('item_id', columns)} (ids, URLs and numbers do not count; "
                f"columns: {[(columns or {}).get(str(c), c) for c in table.columns]}); name them with text_columns= (--text-columns), add a title or "
                "description column, or bring item vectors (coldkit recommend --item-vectors)"
            )
    else:
        text_columns = list(text_columns)
        # a name given twice picked a frame of two columns where each item's text is one string: the CLI
        # stopped on an AttributeError after loading everything (a new user's review), the API joined it twice
        repeated = sorted({str(c) for c in text_columns if text_columns.count(c) > 1})
        if repeated:
            raise InvalidInputError(f"{where}: text column(s) {repeated} named more than once in text_columns= (--text-columns); name each column once")
        # a text column that the mapping renamed (--item-columns genres=tags, or item_id=movieId, also inherited
        # from --interaction-columns) is read under its new name: it was reported as missing from a file that has
        # it, then refused as "an id" whatever it held; an id column is text like any other where it is asked for
        # (a catalogue keyed by names: artists, titles)
        renamed = {src: std for std, src in (columns or {}).items() if src != std}
        text_columns = [renamed[c] if c in renamed and c not in table.columns else c for c in text_columns]
        if len(set(text_columns)) != len(text_columns):  # "movieId" and "item_id": one column under both names
            raise InvalidInputError(f"{where}: text_columns= name one column twice, under its own name and the mapping's: {text_columns}")
        _require_columns(table, list(text_columns), where, renamed=columns)
    return Catalog(item_ids=ids, table=table, text_columns=tuple(text_columns))


def _join_list_cells(table: pd.DataFrame) -> None:
    """Turn columns of lists (a Parquet ``list<string>`` of tags, a DataFrame of Python lists) into text, in place.

    Why: such a cell was read as its repr, so the item text held ``['rock' 'indie']`` (numpy's repr,
    quotes and brackets included) and an empty list became the text ``[]``. Now the values are
    joined with ", " (``rock, indie``; a ``genres`` column with "|", its separator everywhere in
    coldkit) and an empty list is an empty text; a null stays null.
    Only columns whose first non-null value is a list are touched, so plain text tables cost one look;
    and only lists of strings (tags): a column of number lists (an embedding) is no text to join.
    """
    for column in table.columns:
        values = table[column]
        if values.dtype != object:
            continue
        first = values.first_valid_index()
        if first is None or not isinstance(values.iloc[values.index.get_loc(first)], (list, tuple, np.ndarray)):
            continue
        sample = next((cell for cell in values if isinstance(cell, (list, tuple, np.ndarray)) and len(cell)), None)
        if sample is not None and not isinstance(sample[0], str):
            continue
        # a genres column is '|'-separated wherever coldkit reads genres (popularity-genre): a list of
        # them joined by ", " was one genre named "Animation, Drama" there, matching no query
        joiner = "|" if str(column) == "genres" else ", "
        table[column] = [
            joiner.join(str(part) for part in cell if part is not None and str(part).strip())
            if isinstance(cell, (list, tuple, np.ndarray))
            else cell
            for cell in values
        ]


def interactions_from_frame(
    frame: pd.DataFrame,
    catalog: Catalog,
    *,
    columns: Mapping[str, str] | None = None,
    implicit_threshold: float | None = None,
    binary: bool = False,
    duplicates: DuplicatePolicy = "error",
    unknown_items: Literal["error", "drop"] = "error",
    user_ids: Sequence[str] | None = None,
    where: str = "interactions",
) -> Interactions:
    """Build :class:`Interactions` from a ``user_id,item_id[,rating,timestamp]`` table.

    Args:
        frame: the table.
        catalog: the item index space; every ``item_id`` must be in it (see ``unknown_items``).
        columns: ``{standard name: column in frame}``, e.g. ``{"user_id": "userId", "rating": "stars"}``.
        implicit_threshold: keep only rows with ``rating >= threshold``, as weight 1.0 (implicit
            feedback from explicit ratings). Needs a ``rating`` column.
        binary: store weight 1.0 for every kept row (implicit feedback without a threshold).
        duplicates: what to do with repeated (user, item) rows: ``"error"`` (default, names
            them), ``"last"`` (keep the latest by timestamp, else the last row), ``"sum"`` or
            ``"max"`` of the weights (timestamps: the latest).
        unknown_items: ``"error"`` (default) or ``"drop"`` rows whose item is not in the catalogue.
        user_ids: the user index order to use (e.g. to include users without interactions, who
            get an empty row); default: users in order of first appearance.
        where: a name for error messages.

    Raises:
        InvalidInputError: missing columns, NaN/inf/non-numeric ratings or timestamps, duplicates
            (with ``duplicates="error"``), unknown items, or no interaction left.
    """
    if unknown_items not in ("error", "drop"):
        # checked here, not where unknown rows are found: a bad value passed silently on data without any
        raise InvalidInputError(f"unknown_items must be 'error' or 'drop', got {unknown_items!r}")
    if duplicates not in get_args(DuplicatePolicy):  # likewise: "first" passed on data without repeats
        raise InvalidInputError(f"duplicates must be 'error', 'last', 'sum' or 'max', got {duplicates!r}")
    chosen = {"rating", "weight"} & set(columns or {})
    unknown = sorted(set(columns or {}) - set(INTERACTION_NAMES))
    if unknown:
        # bogus=user_id renamed the user column away, and the error then said user_id was missing
        raise InvalidInputError(
            f"{where}: interaction column mapping: {unknown} is not one of coldkit's names {list(INTERACTION_NAMES)} "
            "(the mapping reads coldkit_name=your_column, e.g. user_id=userId)"
        )
    if chosen == {"rating", "weight"}:
        # both read as the one interaction strength: whichever was kept, the other was dropped without a word
        mapped = dict(columns or {})
        raise InvalidInputError(
            f"{where}: the column mapping names both rating={mapped['rating']!r} and weight={mapped['weight']!r}; "
            "coldkit reads one interaction strength: map one of them"
        )
    frame = _rename(frame, columns, where)
    if chosen == {"weight"} and "rating" in frame.columns and "weight" in frame.columns:
        # the mapping names the weight as the strength (weight=plays): the table's own 'rating' column was
        # read instead and the play counts dropped without a word; a mapped rating= decides the same way
        frame = frame.drop(columns="rating")
    # the user's name of each renamed column ({standard: theirs}): the messages below name what their table says
    own = {std: src for std, src in (columns or {}).items() if str(src) != std}
    if "weight" in frame.columns and "rating" in frame.columns and not chosen:
        # the rating was read and the weight (a play count, a confidence) dropped without a word
        raise InvalidInputError(
            f"{where}: both a 'rating' and a 'weight' column; coldkit reads one interaction strength: remove the "
            "other column from the table"
        )
    # where messages say "rating(s)": the user's column, when theirs is named otherwise (" in stars (rating)", a
    # mapped weight column " in plays (weight)"; an unmapped 'rating' or 'weight' column: nothing added)
    rating_in = values_in = _in_own_column("rating", own)
    if "weight" in frame.columns and "rating" not in frame.columns:
        # ``rating | weight`` (README): a play count is the same thing as a rating here; ignored,
        # every row would silently weigh 1
        frame = frame.rename(columns={"weight": "rating"})
        rating_in = _in_own_column("weight", own)
        # an unmapped 'weight' is still named where its values are refused: the user's table has no
        # 'rating' column, so "rating(s) are NaN" sent them looking for one
        values_in = rating_in or " in weight"
        own["rating"] = own.pop("weight", "weight")
    _require_columns(frame, ["user_id", "item_id"], where, mapping=("--interaction-columns", columns), renamed=own)
    if implicit_threshold is not None:  # a string ("4", from a config) reached np.isfinite: a ufunc TypeError
        check_number(implicit_threshold, "implicit_threshold (--implicit-threshold)")  # the messages show it as given
    if implicit_threshold is not None and "rating" not in frame.columns:
        # checked before the unread-column warning: the command line stops at this error and never showed
        # that warning's way to map a 'stars' column, so the error carries the mapping itself
        raise InvalidInputError(
            f"{where}: implicit_threshold needs a 'rating' column; found {[own.get(str(c), c) for c in frame.columns]}"
            + _mapping_hint(frame, ["rating"], "--interaction-columns", columns, where=where)
        )
    _warn_unread_columns(frame, where, columns)
    try:
        user_codes, user_names = _id_codes(frame["user_id"], _own_name("user_id", own), where)
    except InvalidInputError as empty_users:
        # both id columns are checked before refusing: a log with empty user and item ids named the users'
        # first, and the items' only on the next run (each one re-reading millions of rows)
        try:
            _id_codes(frame["item_id"], _own_name("item_id", own), where)
        except InvalidInputError as empty_items:
            items_part = str(empty_items).removeprefix(f"{where}: ")
            raise InvalidInputError(f"{empty_users}; and {items_part}") from None
        raise
    item_codes, item_names = _id_codes(frame["item_id"], _own_name("item_id", own), where)

    if "rating" in frame.columns:
        ratings = pd.to_numeric(frame["rating"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(ratings)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            # the value itself: "4,5" (a spreadsheet's decimal comma) or "five" was left for the user to find
            example = frame["rating"].iloc[rows[0]]
            shown = "" if pd.isna(example) else f", e.g. {str(example)!r}"
            hint = _comma_number_hint(str(example).strip())
            raise InvalidInputError(
                f"{where}: {int(bad.sum())} rating(s){values_in} are NaN, inf or not numbers ({_rows_named(frame, rows)}{shown}){hint}; "
                "drop or fix them first"
            )
    else:
        ratings = np.ones(len(frame), dtype=np.float64)
    timestamps: np.ndarray | None = None
    stamped = "timestamp" in frame.columns
    if stamped:
        empty = _missing_cells(frame["timestamp"])
        if empty.all():
            stamped = False  # an empty column (a spreadsheet's export of one): the data have no timestamps
        elif empty.any():
            # a timestamp on some rows only: what reads time (the trending source, popularity-recent,
            # the time-aware validation carve) needs it on every row, so the column is read as none
            # rather than refused (every other row of the data is fine) or used half
            first = np.flatnonzero(empty)[:5].tolist()
            warnings.warn(
                f"{where}: {int(empty.sum()):,} of {len(frame):,} rows have no timestamp ({_rows_named(frame, first)}): the data are read "
                "without timestamps (no trending source, no time-aware validation); fill them in to use time",
                DataWarning,
                stacklevel=2,
            )
            stamped = False
    if stamped:
        ts = _unix_seconds(frame["timestamp"], where, _own_name("timestamp", own))
        if not np.isfinite(ts).all():
            rows = np.flatnonzero(~np.isfinite(ts))[:5].tolist()
            example = frame["timestamp"].iloc[rows[0]]
            raise InvalidInputError(
                f"{where}: timestamps{_in_own_column('timestamp', own)} must be numbers (unix seconds) or ISO-8601 dates, one kind per column; "
                f"bad {_rows_named(frame, rows)} (e.g. {example!r})"
            )
        beyond = np.abs(ts) > _LATEST_SECONDS
        if beyond.any():
            # 1e30 (even read as nanoseconds) overflowed the int64 cast into garbage, silently
            row = int(np.flatnonzero(beyond)[0])
            named = _row_named(frame, row)
            raise InvalidInputError(
                f"{where}: timestamp{_in_own_column('timestamp', own)} {str(frame['timestamp'].iloc[row])!r} {'on' if named.startswith('line') else 'in'} {named} "
                "is beyond the year 9999 in any unit "
                "(unix seconds, milli-, micro- or nanoseconds); fix or drop it"
            )
        timestamps = ts.astype(np.int64)
        _warn_yyyymmdd(ts, frame, where)

    negative = int(np.count_nonzero(ratings < 0)) if implicit_threshold is None and not binary else 0
    if negative:
        # a thumbs-down (-1) is still an interaction: popularity counts it, the hybrid's CF and adapters
        # binarize it, so a dislike silently counts as a like unless the user keeps only the likes
        warnings.warn(
            f"{negative:,} interaction(s) have a negative rating/weight (e.g. a thumbs-down): most models "
            "(popularity, hybrid, binarized kNN/EASE) read every interaction as positive feedback, so they count as "
            "likes; keep only the likes with implicit_threshold= (command line: --implicit-threshold), e.g. 0 or 4",
            DataWarning,
            stacklevel=2,
        )
    keep = np.ones(len(frame), dtype=bool)
    pair = f"({_own_name('user_id', own)}, {_own_name('item_id', own)})"  # how duplicates' messages name a pair
    # with repeats combined, the threshold reads the combined rating (see _combine_repeats), not each row
    combine_first = implicit_threshold is not None and duplicates in ("last", "sum", "max")
    if implicit_threshold is not None and not combine_first:
        keep &= ratings >= implicit_threshold
    weights = np.ones_like(ratings) if (binary or implicit_threshold is not None) else ratings
    # A zero weight cannot be stored in the sparse matrix (it would vanish and desynchronise the
    # timestamp pattern); an explicit zero rating is "no preference", so say so instead of hiding it.
    zero = keep & (weights == 0)
    if zero.any():
        raise InvalidInputError(
            f"{where}: {int(zero.sum())} row(s) have weight 0{rating_in} ({_rows_named(frame, np.flatnonzero(zero)[:5].tolist())}); "
            # the command line has --implicit-threshold but no binary flag: name what a CLI user can pass;
            # for a 0/1 "liked" column binary=True would count every 0 (a dislike) as a like
            + (
                "a 0/1 (liked) column: use implicit_threshold=1 (command line: --implicit-threshold 1) to keep the 1s as likes"
                if np.isin(ratings[np.isfinite(ratings)], (0.0, 1.0)).all() and (ratings == 1.0).any()
                else "every rating is 0: nothing is liked or rated, so there is nothing to learn from" if not (ratings != 0).any()
                else "use implicit_threshold= or binary=True, or drop them (command line: --implicit-threshold T keeps the ratings >= T, each as weight 1)"
            )
        )

    # one hashed lookup per distinct id (at 10M rows a per-row dict lookup took tens of seconds)
    item_idx = _positions(catalog.item_ids, item_names)[item_codes]
    unknown = item_idx < 0
    if unknown.any():
        if unknown_items == "error":
            names = item_names[pd.unique(item_codes[unknown])[:10]].tolist()
            # "3.0" for the item table's "3", "7" for its "007" (a spreadsheet or a float column
            # rewrote the ids): name the id each looks like, or the user hunts for a missing row
            lookalike = hint = _lookalike_hint([str(n) for n in names], (str(i) for i in catalog.item_ids))
            source = (columns or {}).get("item_id")
            if source and source != "item_id" and source in catalog.table.columns:
                # the items file had its own item_id column, which the interactions' rename did not replace
                hint += (
                    f"; the item table's ids come from its own 'item_id' column, and it also has a {source!r} column: "
                    f"to match by {source!r}, rename or drop the items file's 'item_id' column"
                )
            if unknown.mean() > 0.5 and not lookalike:
                # most rows match nothing (the few that do, by chance: 1..N ids of two kinds overlap): rather two id
                # columns of different things, a mapping naming the wrong column, than items missing from the table
                hint += (
                    f"; {unknown.mean():.0%} of the rows name no item of the table: check that both name the same ids, the interactions' "
                    "item column (" + ("columns={'item_id': ...} of fit" if where in _FIT_MAPPING else "--interaction-columns item_id=COL")
                    + ") and the item table's id column (" + ("item_columns={'item_id': ...} of fit" if where in _FIT_MAPPING else "--item-columns item_id=COL")
                    + f"; its ids look like {[str(i) for i in catalog.item_ids[:3]]})"
                )
            rows = np.flatnonzero(unknown)[:5].tolist()
            # the rows to look at, and the way out (both were left for the user to find)
            raise InvalidInputError(
                f"{where}: {int(unknown.sum())} row(s) name item ids not in the item table ({_rows_named(frame, rows)}), e.g. {names}{hint}; "
                "add those items to the item table, or drop those rows (command line: --unknown-items drop; Python: unknown_items='drop' of the loaders; fit() takes the rows it is given, so filter its DataFrame)"
            )
        # dropped, but said: rows of items deleted from the catalogue since the export, and the users they leave
        # without any row (they are then no users of this file: absent from an output that lists every user)
        names = item_names[pd.unique(item_codes[unknown])[:5]].tolist()
        rows = np.flatnonzero(unknown)[:5].tolist()
        orphans = np.setdiff1d(np.unique(user_codes[unknown]), np.unique(user_codes[~unknown]))
        left = (f"; {len(orphans)} user(s) had no other row ({', '.join(repr(str(u)) for u in user_names[orphans[:3]])}"
                f"{', ...' if len(orphans) > 3 else ''})" if len(orphans) else "")
        warnings.warn(
            f"{where}: {int(unknown.sum())} row(s) name item ids not in the item table and were dropped "
            f"({_rows_named(frame, rows)}), e.g. {names}{left}",
            DataWarning, stacklevel=2,
        )
        keep &= ~unknown
    if implicit_threshold is not None and duplicates == "error":
        # the threshold must not hide a repeat: a 5 then a 1 for the same pair kept the 5 alone as a
        # like, although the latest word was 1; the default policy refuses repeats, on either side of it
        counted = ~unknown
        if user_ids is not None:  # rows of users outside user_ids are not read (below the threshold) or refused
            counted &= _positions(np.asarray([str(u) for u in user_ids], dtype=object), user_names)[user_codes] >= 0
        known = np.flatnonzero(counted)
        _resolve_duplicates(
            user_codes[known].astype(np.int64), item_idx[known], ratings[known], None, len(catalog), "error", where,
            _RowIds(user_codes[known], user_names), _RowIds(item_codes[known], item_names), pair,
        )  # fmt: skip
    if combine_first:
        assert implicit_threshold is not None
        rep, ratings, combined_ts = _combine_repeats(user_codes, item_idx, ratings, timestamps, keep, duplicates)
        timestamps = combined_ts
        keep &= rep & (ratings >= implicit_threshold)

    if user_ids is None:
        seen = pd.unique(user_codes[keep])  # order of first appearance among the kept rows
        order = user_names[seen].tolist()
        position = np.full(len(user_names), -1, dtype=np.int64)
        position[seen] = np.arange(len(seen))
    else:
        order = [str(u) for u in user_ids]
        if len(set(order)) != len(order):
            raise InvalidInputError(f"{where}: user_ids has duplicates")
        position = _positions(np.asarray(order, dtype=object), user_names)
    user_idx = position[user_codes]
    if user_ids is not None and (keep & (user_idx < 0)).any():
        missing = user_names[pd.unique(user_codes[keep & (user_idx < 0)])[:10]].tolist()
        raise InvalidInputError(f"{where}: user ids not in user_ids: {missing}")

    # after the threshold, binary=True and dropped unknown items (a repeat that duplicates= drops is still read)
    _check_float32_range(np.where(keep, weights, 1.0), frame, where, values_in)
    rows, cols, vals = user_idx[keep], item_idx[keep], weights[keep]
    ts_kept = timestamps[keep] if timestamps is not None else None
    if len(rows) == 0:
        if len(frame) == 0:
            raise InvalidInputError(f"{where}: the interaction table has no rows")
        why = []
        if implicit_threshold is not None and (ratings < implicit_threshold).any():
            combined = f" (after combining repeated (user, item) rows, duplicates={duplicates!r})" if combine_first else ""
            why.append(f"{int((ratings < implicit_threshold).sum())} rating(s) below implicit_threshold={implicit_threshold}{combined}")
        if unknown.any():
            why.append(f"{int(unknown.sum())} row(s) name items not in the item table (unknown_items={unknown_items!r})")
        raise InvalidInputError(f"{where}: no interaction left of {len(frame)} row(s): {'; '.join(why) or 'none kept'}")
    rows, cols, vals, ts_kept = _resolve_duplicates(
        rows, cols, vals, ts_kept, len(catalog), duplicates, where,
        _RowIds(user_codes[keep], user_names), _RowIds(item_codes[keep], item_names), pair,
    )  # fmt: skip

    if (np.abs(vals) > np.finfo(np.float32).max).any():  # each row was in range: a sum of repeats may not be
        raise InvalidInputError(
            f"{where}: repeated {pair} rows combined by duplicates={duplicates!r} sum to more than float32 holds "
            f"({float(np.finfo(np.float32).max):.3g}); scale the ratings/weights down or use duplicates='max'"
        )
    shape = (len(order), len(catalog))
    matrix = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=shape)
    ts_matrix = None
    if ts_kept is not None:
        ts_matrix = sp.csr_matrix((ts_kept, (rows, cols)), shape=shape, dtype=np.int64)
        ts_matrix.sort_indices()
        # Timestamp 0 would be dropped as an implicit zero; keep the pattern equal to the weights'.
        if ts_matrix.nnz != matrix.nnz:
            ts_matrix = sp.csr_matrix((ts_kept + 1, (rows, cols)), shape=shape, dtype=np.int64)
            ts_matrix.data -= 1
            ts_matrix.sort_indices()
    return Interactions(user_ids=np.asarray(order, dtype=object), catalog=catalog, matrix=matrix, timestamps=ts_matrix)


def _check_float32_range(ratings: np.ndarray, frame: pd.DataFrame, where: str, values_in: str) -> None:
    """Refuse ratings/weights that float32 (the interaction matrix) cannot hold, naming the rows.

    Why: 1e-46 is positive in float64 and 0 in float32, so the interaction vanished from the matrix and
    the item was recommended back to the user who rated it; 1e39 became inf, and the error came later
    with neither the file nor the row (a new user's review).
    """
    limits = np.finfo(np.float32)
    magnitude = np.abs(ratings)
    bad = (magnitude > limits.max) | ((magnitude > 0) & (magnitude < limits.smallest_subnormal))
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InvalidInputError(
            f"{where}: {int(bad.sum())} rating(s){values_in} are outside the range interactions are stored in "
            f"(float32: magnitudes from {float(limits.smallest_subnormal):.3g} to {float(limits.max):.3g}; "
            f"{_rows_named(frame, rows)}, e.g. {float(ratings[rows[0]])!r}); scale or fix them first"
        )


def _comma_number_hint(value: str) -> str:
    """`` (a decimal comma? write 4.5)`` for ``"4,5"``, `` (a thousands separator? ...)`` for ``"13,883"``; else ``""``.

    ``"1,234"`` may be either (a lastfm play count, or 1.234 from a German spreadsheet): both are named.
    """
    decimal = re.fullmatch(r"-?\d+,\d+", value) is not None
    thousands = re.fullmatch(r"-?\d{1,3}(?:,\d{3})+", value) is not None
    whole, point = value.replace(",", ""), value.replace(",", ".")
    if decimal and thousands:
        return f" (a thousands separator or a decimal comma? write {whole} or {point})"
    if thousands:
        return f" (a thousands separator? write {whole})"
    if decimal:
        return f" (a decimal comma? write {point})"
    return ""


def _canonical_id(text: str) -> str:
    """An id with a float's ``.0`` and leading zeros dropped and letters in one case: ``"007"``, ``"7.0"``
    and ``"7"`` are one, and so are ``"Cust-1"`` and ``"cust-1"`` (two systems that disagree on case),
    and one text in two Unicode forms (``"café"`` with a combining accent, as macOS writes file names,
    and with a precomposed é; full-width ``"１２"`` and ``"12"``)."""
    text = unicodedata.normalize("NFKC", text)
    core = text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text
    return (core.lstrip("0") or core) if core.isdigit() else core.casefold()


def _lookalike_ids(unknown: Sequence[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """``(given, known)`` pairs where an unknown id differs from a known one only by ``.0``, leading zeros or
    letter case."""
    if not unknown:
        return []
    by_canonical: dict[str, str] = {}
    for name in known:
        by_canonical.setdefault(_canonical_id(name), name)
    pairs = [(u, by_canonical.get(_canonical_id(u), "")) for u in unknown]
    return [(u, k) for u, k in pairs if k and k != u]


def _lookalike_hint(unknown: Sequence[str], known: Iterable[str]) -> str:
    """``"; ids are matched as text: '007' is not '7'"`` where an unknown id is a known one written otherwise
    (:func:`_lookalike_ids`), else ``""``: the tail of every "unknown ids" message."""
    pairs = _lookalike_ids(unknown, known)
    return "; ids are matched as text: " + _lookalikes_text(pairs) if pairs else ""


def _lookalikes_text(pairs: Sequence[tuple[str, str]], limit: int = 3) -> str:
    """``"'7' is not '007', ..."`` for :func:`_lookalike_ids`' pairs; two ids that print alike (one text in
    two Unicode forms) are shown escaped, ``'cafe\\u0301' is not 'caf\\xe9'``, with what differs.

    Why: "'café' is not 'café'" read as a contradiction; the escapes show the combining accent.
    """
    shown = []
    for given, known in pairs[:limit]:
        if unicodedata.normalize("NFC", given) == unicodedata.normalize("NFC", known):
            shown.append(f"{ascii(given)} is not {ascii(known)} (one text in two Unicode forms: write every file in the "
                         "same one, e.g. NFC)")
        else:
            shown.append(f"{given!r} is not {known!r}")
    return ", ".join(shown)


# Unix seconds reach 1e11 in the year 5138: a larger number is an epoch in finer units (JavaScript
# and Kafka write milliseconds, Spark and pandas micro- or nanoseconds). Read as seconds, every
# time-based model (popularity-recent's half-life) and every temporal split was silently off.
_EPOCH_UNITS: tuple[tuple[float, float, str], ...] = (
    (1e11, 1.0, "seconds"),
    (1e14, 1e3, "milliseconds"),
    (1e17, 1e6, "microseconds"),
    (np.inf, 1e9, "nanoseconds"),
)


def _epoch_unit(numbers: np.ndarray) -> tuple[float, str]:
    """``(divisor, unit)`` of a column of unix epoch numbers, chosen by the magnitude of its values."""
    finite = np.abs(numbers[np.isfinite(numbers)])
    for limit, divisor, unit in _EPOCH_UNITS:
        if finite.size == 0 or finite.max() < limit:
            return divisor, unit
    return _EPOCH_UNITS[-1][1], _EPOCH_UNITS[-1][2]


#: 9999-12-31T23:59:59Z in unix seconds: no later date is a timestamp (and int64 seconds end not far beyond).
_LATEST_SECONDS = 253_402_300_799


def _missing_cells(column: pd.Series) -> np.ndarray:
    """(n,) bool: the cells with no value (NaN, None, NaT, or text that is only whitespace)."""
    missing = column.isna().to_numpy(dtype=bool, copy=True)  # pandas may hand out a read-only view
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        missing |= column.astype("string").str.strip().fillna("").eq("").to_numpy(dtype=bool)
    return missing


def _unix_seconds(column: pd.Series, where: str = "interactions", named: str = "timestamp") -> np.ndarray:
    """(n,) float64 unix seconds of a timestamp column; NaN where not a number or a date. ``named``: the column
    as messages name it (``when (timestamp)`` where a mapping renamed the user's ``when``).

    Numbers are unix epoch seconds, or milli-/micro-/nanoseconds when their size says so (see
    ``_EPOCH_UNITS``), converted to seconds; one unit per column.

    Raises:
        InvalidInputError: numbers of different units in one column (e.g. seconds and milliseconds).

    A datetime column (Parquet, pandas) becomes seconds since the epoch (naive times read as UTC):
    as a plain number it would be nano- or microseconds, and every time-based model (e.g.
    ``popularity-recent``'s half-life in days) would silently be off by a factor of 10^6 or more.
    """
    if isinstance(column.dtype, pd.PeriodDtype):  # a day or a month: its start (the ordinal was a number of days)
        column = column.dt.to_timestamp()
    if pd.api.types.is_timedelta64_dtype(column.dtype):
        # durations, not moments: read as numbers they were years (10 days) or 1970 (minutes), silently
        raise InvalidInputError(
            f"{where}: the {named} column holds durations ({column.dtype}), not points in time; give dates "
            "or unix seconds (a duration since a start date: add the start date first)"
        )
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        utc = pd.to_datetime(column, utc=True)
        return (utc - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(numbers).any() and not pd.api.types.is_numeric_dtype(column.dtype):
        # a CSV holds the same dates as text ("2018-05-01T10:00:00Z"); they were refused as "not numbers"
        # although a Parquet datetime column of them was read. Only a column without any number is read
        # as dates (naive ones as UTC, like the datetime columns): a mix with numbers stays an error.
        # (not one number: the column is dates, and the rows that are not are the bad ones to name)
        dates = pd.to_datetime(column.astype("string").str.strip(), utc=True, format="ISO8601", errors="coerce")
        return (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    divisor, unit = _epoch_unit(numbers)
    if divisor == 1.0:
        return numbers
    # every value of the column must be of that unit: seconds beside milliseconds can be neither
    # converted nor kept (0 and negative numbers, i.e. 1970 or earlier, are allowed as any unit)
    small = np.isfinite(numbers) & (np.abs(numbers) < 1e11) & (numbers > 0)
    if small.any():
        big = np.flatnonzero(np.isfinite(numbers) & (np.abs(numbers) >= 1e11))[0]
        first = np.flatnonzero(small)[0]
        raise InvalidInputError(
            f"{where}: timestamps{'' if named == 'timestamp' else ' in ' + named} mix units: {_row_named(column, big)} is {column.iloc[big]} (unix {unit}) but {_row_named(column, first)} is "
            f"{column.iloc[first]} (unix seconds); use one unit for the whole column"
        )
    return numbers / divisor


def _warn_yyyymmdd(seconds: np.ndarray, frame: pd.DataFrame, where: str) -> None:
    """A :class:`DataWarning` when every timestamp is a date written as a number ``YYYYMMDD`` (a warehouse's date
    key, 20180913): read as unix seconds they all fall in 1970, and fit() said nothing of it."""
    if not (seconds.size and (seconds >= 19_000_101).all() and (seconds <= 29_991_231).all()):
        return
    if not (seconds == np.round(seconds)).all():
        return
    distinct = np.unique(seconds.astype(np.int64))  # a date key repeats: parse each once
    days = pd.to_datetime(pd.Series(distinct.astype(str)), format="%Y%m%d", errors="coerce")
    if days.isna().any():
        return
    first = str(int(seconds[0]))
    example = pd.Timestamp(first)
    warnings.warn(
        f"{where}: every timestamp looks like a date written YYYYMMDD (e.g. {first} on {_row_named(frame, 0)}), but "
        "timestamps are unix seconds or ISO-8601 dates: these read as 1970; write them as ISO-8601 dates "
        f"({example:%Y-%m-%d}) for the time-aware parts (trending, popularity-recent, time-aware validation) to see them",
        DataWarning, stacklevel=3,
    )


def _parquet_text(column: pd.Series, where: str) -> pd.Series:
    """A Parquet column asked for as text. Float columns stay numbers: :func:`_ids` reads a whole
    float as an integer ("242", not "242.0", as a CSV's id), which a cast to str here would defeat.
    Other columns become strings, with missing values kept missing (named as empty ids, not "None");
    a binary column's bytes are decoded as UTF-8, and a nested one (lists, structs) is refused
    (:func:`coldkit.data._ids.scalar_ids`; ``where`` names the column)."""
    if pd.api.types.is_float_dtype(column.dtype):
        return column
    if column.dtype == object:
        column = pd.Series(scalar_ids(column.to_numpy(), where), index=column.index, name=column.name)
    missing = column.isna().to_numpy()
    text = column.astype(str).astype(object)
    text[missing] = None
    return text


def _positions(known: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(n,) int64 position of each of ``ids`` in ``known`` (unique strings), -1 where absent."""
    # ids are matched as text, like Catalog's index; ``ids`` are already strings (see _ids)
    table = pd.Index([str(x) for x in known], dtype=object)
    return table.get_indexer(pd.Index(ids, dtype=object)).astype(np.int64)


def _combine_repeats(
    user_codes: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray | None,
    usable: np.ndarray,
    policy: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Repeated (user, item) rows combined by ``policy`` *before* an implicit threshold reads them.

    Why: thresholding row by row first kept an old 5 of a pair whose latest rating is 1
    (``duplicates="last"``: the user changed their mind, yet the item stayed a like), and
    ``"sum"`` added the kept rows' 1s into a weight of 2 where implicit feedback is weight 1.

    Returns ``(representative, combined ratings, combined timestamps)``, all per row: one
    representative row per pair among ``usable`` rows (the latest, by timestamp else file
    order), each row's pair's combined rating (last / sum / max) and latest timestamp.
    """
    rows = np.flatnonzero(usable)
    key = user_codes[rows] * (int(item_idx.max(initial=0)) + 1) + item_idx[rows]
    order, group, last = _repeat_groups(key, timestamps[rows] if timestamps is not None else rows)
    per_group = _combined_values(ratings[rows][order], group, last, policy)
    representative = np.zeros(len(ratings), dtype=bool)
    representative[rows[order[last]]] = True
    combined = ratings.copy()
    combined[rows[order]] = per_group[group]
    combined_ts = None
    if timestamps is not None:
        combined_ts = timestamps.copy()
        combined_ts[rows[order]] = _latest_times(timestamps[rows][order], group)[group]
    return representative, combined, combined_ts


def _resolve_duplicates(
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    ts: np.ndarray | None,
    n_items: int,
    policy: str,
    where: str,
    user_names: "_RowIds",
    item_names: "_RowIds",
    pair: str = "(user_id, item_id)",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Collapse repeated (user, item) rows by ``policy`` (vectorised: one stable sort by key); ``pair`` names
    the two columns in messages, by the user's names where a mapping renamed them (``(uid (user_id), item_id)``)."""
    key = rows * n_items + cols
    # most logs repeat no pair: one sort of the keys says so (at 15M rows 0.8 s, where the grouping
    # below — a two-key sort, then running counts — took 3.7 s to find the same nothing)
    sorted_keys = np.sort(key, kind="stable")
    if not np.any(sorted_keys[1:] == sorted_keys[:-1]):
        return rows, cols, vals, ts
    del sorted_keys
    order, group, last = _repeat_groups(key, ts if ts is not None else np.arange(len(key)))
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    if first.all():
        return rows, cols, vals, ts
    if policy == "error":
        dup_pos = order[~first][:5]
        pairs = [(str(user_names[i]), str(item_names[i])) for i in dup_pos]
        raise InvalidInputError(
            f"{where}: {int((~first).sum())} duplicate {pair} row(s), e.g. {pairs}; "
            "pass duplicates='last', 'sum' or 'max' to combine them (command line: --duplicates last|sum|max)"
        )
    pick = order[last]  # latest row of each group
    new_vals = _combined_values(vals[order], group, last, policy)
    if policy == "sum":
        zero = new_vals == 0  # e.g. +5 and -5: the sparse matrix would drop the pair, as if never seen
        if zero.any():
            pairs = [(str(user_names[i]), str(item_names[i])) for i in pick[zero][:5]]
            raise InvalidInputError(
                f"{where}: {int(zero.sum())} {pair} pair(s) have weight 0 after duplicates='sum', e.g. {pairs}; "
                "use duplicates='last' or 'max', or drop them"
            )
    new_ts = _latest_times(ts[order], group) if ts is not None else None
    return rows[pick], cols[pick], np.asarray(new_vals, dtype=np.float64), new_ts


def _repeat_groups(key: np.ndarray, secondary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by ``key`` (a (user, item) pair), each group in ``secondary`` order (time, else file
    order): ``(order, group of each sorted row, whether a sorted row is its group's last = latest)``."""
    order = np.lexsort((secondary, key))
    key_s = key[order]
    first = np.ones(len(key_s), dtype=bool)
    first[1:] = key_s[1:] != key_s[:-1]
    last = np.ones(len(key_s), dtype=bool)
    last[:-1] = key_s[1:] != key_s[:-1]
    return order, np.cumsum(first) - 1, last


def _combined_values(sorted_values: np.ndarray, group: np.ndarray, last: np.ndarray, policy: str) -> np.ndarray:
    """One value per group by ``policy``: ``"sum"``, ``"max"`` or ``"last"`` (the latest row's)."""
    if policy == "sum":
        return np.bincount(group, weights=sorted_values)
    if policy == "max":
        out = np.full(int(group[-1]) + 1 if len(group) else 0, -np.inf)
        np.maximum.at(out, group, sorted_values)
        return out
    return sorted_values[last]


def _latest_times(sorted_times: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each group's latest timestamp."""
    out = np.full(int(group[-1]) + 1 if len(group) else 0, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(out, group, sorted_times)
    return out


def load_items(
    path: str | os.PathLike[str],
    *,
    text_columns: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    require_text: bool = True,
    media_columns: Sequence[str] = (),
    interaction_columns: Mapping[str, str] | None = None,
) -> Catalog:
    """Read an item table (``item_id`` + text/image columns) from CSV or Parquet.

    ``require_text=False`` accepts a table of ids alone (item vectors come from elsewhere);
    ``media_columns`` (image/audio path columns) are never default text columns.
    ``interaction_columns``: the interactions file's mapping. Its renames other than the interactions'
    own columns (user, rating, weight, time) apply here too — those ``columns`` does not name itself —
    wherever this file has the named column and not the standard one: MovieLens calls the item
    ``movieId`` in both files, and ``--interaction-columns item_id=movieId`` alone used to fail on
    ``movies.csv`` (and then did again once ``--item-columns`` mapped any other column, ``genres=tags``).

    Example::

        catalog = load_items("movies.csv", columns={"item_id": "movieId"}, text_columns=["title", "genres"])
    """
    own = dict(columns or {})
    shared = {
        std: src for std, src in (interaction_columns or {}).items() if std not in INTERACTION_ONLY_COLUMNS and std not in own
    }
    frame = read_table(path, sep=sep, encoding=encoding, dtype={**_id_dtypes(shared, "item_id"), **_id_dtypes(columns, "item_id")})
    if shared:
        inherited = {std: src for std, src in shared.items() if src in frame.columns and std not in frame.columns}
        columns = {**own, **inherited} or None
    return catalog_from_frame(
        frame, text_columns=text_columns, columns=columns, where=str(path), require_text=require_text, media_columns=media_columns
    )


def load_interactions(
    path: str | os.PathLike[str],
    catalog: Catalog,
    *,
    columns: Mapping[str, str] | None = None,
    implicit_threshold: float | None = None,
    binary: bool = False,
    duplicates: DuplicatePolicy = "error",
    unknown_items: Literal["error", "drop"] = "error",
    user_ids: Sequence[str] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> Interactions:
    """Read ``user_id,item_id[,rating,timestamp]`` rows from CSV or Parquet over ``catalog``.

    See :func:`interactions_from_frame` for the options. Example::

        train = load_interactions("ratings.csv", catalog,
                                  columns={"user_id": "userId", "item_id": "movieId"}, implicit_threshold=4)
    """
    dtypes = {**_id_dtypes(columns, "user_id"), **_id_dtypes(columns, "item_id")}
    frame = read_table(path, sep=sep, encoding=encoding, dtype=dtypes)
    return interactions_from_frame(
        frame,
        catalog,
        columns=columns,
        implicit_threshold=implicit_threshold,
        binary=binary,
        duplicates=duplicates,
        unknown_items=unknown_items,
        user_ids=user_ids,
        where=str(path),
    )


def load_liked_and_rated(
    path: str | os.PathLike[str],
    catalog: Catalog,
    *,
    implicit_threshold: float,
    columns: Mapping[str, str] | None = None,
    duplicates: DuplicatePolicy = "error",
    sep: str | None = None,
    encoding: str | None = None,
    unknown_items: Literal["error", "drop"] = "error",
) -> tuple[Interactions, Interactions]:
    """``(liked, rated)`` from one ratings file: what a model learns from, and what each user has seen.

    ``liked`` is :func:`load_interactions` with ``implicit_threshold`` (the rows with ``rating >=
    threshold``, weight 1). ``rated`` holds every (user, item) pair of the file, weight 1, over
    every user in it: a film rated 1 star is not a like, but it must not be recommended back, and a
    user who liked nothing is still a user to recommend for (``liked`` has no row for them).
    The file is read once; every check of ``load_interactions`` applies to it.
    """
    dtypes = {**_id_dtypes(columns, "user_id"), **_id_dtypes(columns, "item_id")}
    frame = read_table(path, sep=sep, encoding=encoding, dtype=dtypes)
    liked = interactions_from_frame(
        frame, catalog, columns=columns, implicit_threshold=implicit_threshold, duplicates=duplicates, where=str(path),
        unknown_items=unknown_items,
    )
    # the checks (ids, ratings, timestamps, duplicates) passed above, and warned once; repeats are one pair here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        rated = interactions_from_frame(frame, catalog, columns=columns, binary=True, duplicates="max", where=str(path),
                                        unknown_items=unknown_items)
    return liked, rated


def load_user_profiles(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str = "user_id",
    sep: str | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Read user profile texts (``user_id`` + ``text`` columns) into ``{user_id: text}``.

    ``columns`` maps the standard names to the file's like every other loader
    (``{"user_id": "uid", "text": "bio"}``); naming the text column there and another one as
    ``text_column`` is an error (``--profile-columns text=bio --profile-text-column about`` read ``bio``
    and dropped the other without a word).

    Raises:
        InvalidInputError: missing columns, an unknown standard name, two text columns, or a user listed twice.
    """
    if columns:
        unknown = set(columns) - {"user_id", "text"}
        if unknown:
            raise InvalidInputError(f"user profile column mapping: unknown standard name(s) {sorted(unknown)}; use user_id, text")
        if "text" in columns and text_column not in ("text", columns["text"]):
            raise InvalidInputError(
                f"two profile text columns: {columns['text']!r} (--profile-columns text=..., columns=) and {text_column!r} "
                "(--profile-text-column, text_column=); keep one"
            )
        id_column = columns.get("user_id", id_column)
        text_column = columns.get("text", text_column)
    # the text as the file writes it: read as numbers, an age column with one blank cell became "24.0"
    frame = read_table(path, sep=sep, encoding=encoding, dtype={id_column: str, text_column: str})
    _require_columns(frame, [id_column, text_column], str(path), mapping=_own_mapping(
        {"user_id": id_column, "text": text_column}, frame, "--profile-columns", columns))
    ids = _ids(frame[id_column], id_column, str(path))
    uniq, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        raise InvalidInputError(f"{path}: user(s) listed more than once: {uniq[counts > 1][:10].tolist()}")
    # whole numbers as written (a Parquet int column with a null is read as float: "24.0")
    texts = text_cells(frame[[text_column]]).iloc[:, 0].fillna("").astype(str).tolist()
    return dict(zip(map(str, ids), texts))


def _own_mapping(
    wanted: Mapping[str, str], frame: pd.DataFrame, flag: str, columns: Mapping[str, str] | None
) -> tuple[str, Mapping[str, str] | None] | None:
    """``_require_columns``' ``mapping`` for a table read under ``wanted`` (standard name -> column): the flag's
    hint only where every missing column is a standard name left unmapped (a column the user named themselves
    and the file lacks is reported as it is, not second-guessed)."""
    missing = {std: col for std, col in wanted.items() if col not in frame.columns}
    return (flag, columns) if missing and all(std == col for std, col in missing.items()) else None


def user_graph_from_pairs(users: "Sequence[object] | np.ndarray | pd.Series", friends: "Sequence[object] | np.ndarray | pd.Series") -> dict[str, tuple[str, ...]]:
    """``{user_id: friend ids}`` from parallel columns of (user, friend) pairs, made symmetric.

    A friendship is mutual for recommendation purposes (what my friends like and what I like
    inform each other), so a pair listed one way counts both ways. Self-loops are dropped and each
    friend appears once, in sorted order.
    """
    left = np.asarray(users, dtype=object).astype(str)
    right = np.asarray(friends, dtype=object).astype(str)
    if left.shape != right.shape:
        raise InvalidInputError(f"user graph: {len(left)} users for {len(right)} friends")
    graph: dict[str, set[str]] = {}
    for a, b in zip(left.tolist(), right.tolist()):
        if a == b:
            continue
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set()).add(a)
    return {user: tuple(sorted(friends_of)) for user, friends_of in graph.items()}


def load_user_graph(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> dict[str, tuple[str, ...]]:
    """Read a social graph, one (``user_id``, ``friend_id``) pair per row, into ``{user_id: friend ids}``.

    ``columns`` maps the standard names to the file's (e.g. ``{"user_id": "userID", "friend_id":
    "friendID"}``). Pairs count both ways (see :func:`user_graph_from_pairs`).

    Raises:
        InvalidInputError: missing columns or empty ids.
    """
    mapping = {"user_id": "user_id", "friend_id": "friend_id", **dict(columns or {})}
    unknown = set(mapping) - {"user_id", "friend_id"}
    if unknown:
        raise InvalidInputError(f"user graph column mapping: unknown standard name(s) {sorted(unknown)}; use user_id, friend_id")
    frame = read_table(path, sep=sep, encoding=encoding, dtype={mapping["user_id"]: str, mapping["friend_id"]: str})
    _require_columns(frame, [mapping["user_id"], mapping["friend_id"]], str(path),
                     mapping=_own_mapping(mapping, frame, "--user-graph-columns", columns))
    users = _ids(frame[mapping["user_id"]], mapping["user_id"], str(path))
    friends = _ids(frame[mapping["friend_id"]], mapping["friend_id"], str(path))
    return user_graph_from_pairs(users, friends)


def read_id_list(
    path: str | os.PathLike[str], *, what: str = "ids", encoding: str | None = None, known: Collection[str] = ()
) -> list[str]:
    """Read one id per line (blank lines and ``#`` comments skipped); duplicates are an error.

    ``encoding`` is the file's text encoding (default UTF-8, a byte-order mark skipped), the same as the tables'.
    ``known``: ids the data has. A line starting with ``#`` that is one of them is that id, not a
    comment: an item or user whose id starts with ``#`` (a hashtag, ``#42``) was silently dropped.
    """
    p = user_path(path)
    if not p.is_file():
        raise InvalidInputError(_not_a_file(p))
    try:
        text = p.read_text(encoding=_bom_skipping(_utf8_if_it_is(p, encoding or _UTF8[0])))
    except LookupError as exc:
        raise InvalidInputError(f"{p}: unknown text encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{p}: not valid {encoding or 'UTF-8'} text (byte {exc.start}); pass encoding='latin-1' (--encoding) "
            "or the right encoding if the file uses another one"
        ) from exc
    # a second byte-order mark under the codec's own (a UTF-8 file with one, converted to UTF-16) made the
    # first id "\ufeffu1": a known user ranked as a new one, and the items they had bought recommended back
    lines = text.removeprefix("\ufeff").splitlines()
    known_ids = known if isinstance(known, (set, frozenset, dict)) else set(known)
    ids = [_unquoted(ln.strip()) for ln in lines if ln.strip() and (not ln.lstrip().startswith("#") or ln.strip() in known_ids)]
    ids = [i for i in ids if i]
    if not ids:
        raise InvalidInputError(f"{p}: no {what} in the file")
    seen: set[str] = set()
    dups = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if dups:
        raise InvalidInputError(f"{p}: {what} listed more than once: {dups[:10]}")
    return ids


def _literal_ids(
    frame: pd.DataFrame,
    path: Path,
    *,
    sep: str,
    encoding: str,
    dtype: Mapping[str, object] | None,
    header: bool,
    names: Sequence[str] | None,
    plain: bool = False,
) -> pd.DataFrame:
    """``frame`` with its text id columns (``dtype`` ``str``) as written: ``NA``, ``None``, ``null``... kept.

    ``plain``: the frame was read without CSV quoting (see :func:`_unquoted_tsv`), and so is the column again.

    Why: pandas reads those words as missing values, so an item or user whose id is ``NA`` (a
    country code), ``None`` or ``null`` was refused as an "empty item_id" — a message naming a
    problem the file does not have. Only a column that has such a gap is read again (its fields
    alone, only an empty field missing); a truly empty id still fails as empty later.
    """
    gaps = [c for c, kind in (dtype or {}).items() if kind is str and c in frame.columns and frame[c].isna().any()]
    if not gaps:
        return frame
    literal = pd.read_csv(
        path, sep=sep, encoding=encoding, dtype={c: str for c in gaps}, usecols=gaps, header=0 if header else None,
        names=list(names) if names is not None else None, keep_default_na=False, na_values=[""],
        engine="c" if len(sep) == 1 else "python", quoting=csv.QUOTE_NONE if plain else csv.QUOTE_MINIMAL,
    )
    if len(literal) != len(frame):  # cannot happen for one file; never pair rows that do not match
        return frame
    frame = frame.copy()
    for column in gaps:
        frame[column] = literal[column].to_numpy(dtype=object)
    return frame


#: Column names read as a rating or a timestamp by a person, but not by the loaders (which read the
#: exact standard names, or a mapping): an interactions table with one of them is warned about.
_LOOKS_LIKE = {
    "rating": ("rating", "ratings", "stars", "score", "preference"),
    "timestamp": ("timestamp", "time", "date", "datetime", "ts", "created_at", "unix_time"),
}


def _warn_unread_columns(frame: pd.DataFrame, where: str, columns: Mapping[str, str] | None = None) -> None:
    """A :class:`DataWarning` for a column that looks like the rating or timestamp but is not read.

    Why: ``Rating`` / ``Timestamp`` (capitals) or ``stars`` / ``date`` were dropped without a word:
    every row weighed 1, and the hybrid lost its time-aware parts (the trending source, the time-aware
    validation) — 28 % of one output's slots moved — with nothing to say why.
    """
    unread = []
    for standard, names in _LOOKS_LIKE.items():
        if standard in frame.columns or (standard == "rating" and "weight" in frame.columns):
            continue
        found = [str(c) for c in frame.columns if str(c).strip().lower() in names]
        if found:
            unread.append((standard, found[0]))
    if unread:
        # the whole mapping, the user's own first: a second --interaction-columns replaces the first
        merged = {**(columns or {}), **dict(unread)}
        flags = " ".join(f"{standard}={column}" for standard, column in merged.items())
        warnings.warn(
            f"{where}: column(s) {', '.join(repr(column) for _, column in unread)} not read: the interactions' "
            f"columns are named {', '.join(repr(standard) for standard, _ in unread)}; to read them, map them "
            f"(command line: --interaction-columns {flags}; Python: the mapping {merged!r} as columns= of the loaders, "
            "interaction_columns= of recommend_files)",
            DataWarning, stacklevel=3,
        )


def _unquoted(line: str) -> str:
    """A line that is one CSV-quoted field (``"u1"``, as R's ``write.csv`` writes a one-column list) as the
    id the tables would read: the quotes removed, ``""`` read as ``"``. Other lines are returned as they are.

    Why: the tables read ids through CSV quoting, so ``"1"`` in an id list never matched user ``1``;
    every listed user became a new user with a popularity list, and ``"user_id"`` (the quoted
    header) one more.
    """
    if len(line) >= 2 and line[0] == line[-1] == '"' and '"' not in line[1:-1].replace('""', ""):
        return line[1:-1].replace('""', '"').strip()
    return line


def _dtypes_for_raw_names(path: Path, sep: str, encoding: str, dtype: Mapping[str, object]) -> dict[str, object]:
    """``dtype`` keyed by the header's names as written: ``{"user_id": str}`` also for a column ``" user_id"``.

    Why: the names are stripped after reading, but pandas matches ``dtype`` before, so a header
    written ``item_id, user_id`` (a space after the comma) read that id column as numbers: users
    ``007``, ``7`` and ``0007`` became one user ``7``, and ``1.0`` became ``1``, without a word.
    """
    raw = pd.read_csv(path, sep=sep, encoding=encoding, nrows=0, header=0, engine="c" if len(sep) == 1 else "python").columns
    out = dict(dtype)
    for name in raw:
        stripped = str(name).strip()
        if stripped != name and stripped in dtype and name not in out:
            out[name] = dtype[stripped]
    return out


def _unquoted_tsv(
    frame: pd.DataFrame, path: Path, encoding: str, dtype: Mapping[str, object] | None, header: bool, names: Sequence[str] | None
) -> tuple[pd.DataFrame, bool]:
    """The tab-separated table read again without CSV quoting where quoting swallowed rows.

    TSV has no quoting convention, but pandas applies CSV's: a title starting with ``"`` (``"12 inch
    remix``) opened a field that ran to the next ``"`` lines later, taking the rows between into one
    cell — items vanished from the catalogue without a word. A cell holding both a tab and a line
    break comes from that, or from a properly quoted field that really holds both (pandas' own TSV
    writer): the file is read again with quotes as plain characters only when every line of it has
    exactly the header's number of fields, which a real quoted tab or line break breaks. Returns the
    frame and whether it is the plain read.
    """
    text = frame.select_dtypes(include=["object", "string"])
    swallowed = False
    for column in text.columns:
        cells = text[column].dropna().astype(str)
        broken = cells[cells.str.contains("\n", regex=False)]  # rare: the tab test runs on these alone
        if broken.str.contains("\t", regex=False).any():
            swallowed = True
            break
    if not swallowed:
        return frame, False
    tabs = len(frame.columns) - 1
    with _open_decompressed(path) as handle:
        lines = handle.read().decode(encoding, errors="replace").split("\n")
    while lines and not lines[-1].strip("\r"):
        lines.pop()  # the final newline does not start a row
    if any(line.count("\t") != tabs for line in lines):
        return frame, False
    try:
        plain = pd.read_csv(
            path, sep="\t", encoding=encoding, dtype=dtype,  # type: ignore[arg-type]
            header=0 if header else None, names=list(names) if names is not None else None,
            keep_default_na=True, quoting=csv.QUOTE_NONE,
        )  # fmt: skip
    except pd.errors.ParserError:
        return frame, False
    if list(plain.columns) != list(frame.columns) or not isinstance(plain.index, pd.RangeIndex):
        return frame, False
    warnings.warn(
        f"{path}: a field starting with a double quote ran over tabs and line breaks ({len(frame):,} rows read "
        f"as quoted CSV, {len(plain):,} as plain TSV): read as plain tab-separated text, quotes kept as characters",
        DataWarning, stacklevel=4,
    )
    return plain, True


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a file: a folder was reported as "no such file", which it is not."""
    if path.is_dir():
        # the files it holds, not a made-up name: "e.g. adir/interactions.csv" was said of a candidates folder too
        try:
            inside = sorted(child.name for child in path.iterdir() if child.is_file())
        except OSError:
            inside = []
        shown = f" (it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})" if inside else " (it holds no file)"
        return f"{path}: is a folder; give the file itself{shown}"
    return f"{path}: no such file"


def _utf8_if_it_is(path: Path, encoding: str) -> str:
    """The codec to read ``path`` with: ``"utf-16"`` when it starts with a UTF-16 byte-order mark,
    ``"utf-8-sig"`` when ``encoding`` is another codec but the file is UTF-8 text it would misread,
    else ``encoding``.

    ``--encoding`` applies to every input file, and the loaders' own error for one latin-1 file
    advises it: the UTF-8 files beside it were then decoded as latin-1, and "José" came out as
    "JosÃ©" in the ids and the output, without a word. Text in a single-byte encoding with non-ASCII
    characters is practically never valid UTF-8 (an accented letter alone is an invalid byte), so
    such a file is read as UTF-8; a file that is not valid UTF-8 gets ``encoding``. An ASCII file is
    the same in every ASCII-compatible codec; under ``utf-16`` (not one) it was a traceback. A UTF-16
    byte-order mark (Excel's "Unicode Text") is unambiguous: no UTF-8 or latin-1 text starts with
    one. Compressed files (``.gz``, ``.bz2``, ``.xz``, ``.zip``) are checked decompressed. The check
    reads the file once more, only when an encoding other than UTF-8 is asked for (or the file may be UTF-16).
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding  # the caller names the unknown codec
    # one pass: the first chunk holds any byte-order mark, and the UTF-8 scan goes on from it
    decoder = codecs.getincrementaldecoder("utf-8")()
    non_ascii = has_nul = False
    try:
        with _open_decompressed(path) as handle:
            chunk = handle.read(1 << 20)
            if chunk[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):  # UTF-32's marks (the first begins like UTF-16's)
                return "utf-32"
            if chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
                return "utf-16"
            if name in ("utf-8", "utf-8-sig"):
                return encoding
            while chunk:
                decoder.decode(chunk)
                non_ascii = non_ascii or not chunk.isascii()
                has_nul = has_nul or b"\x00" in chunk
                chunk = handle.read(1 << 20)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return encoding
    except (OSError, EOFError, zlib.error, ValueError):
        return encoding  # unreadable: the reader itself names the problem
    ascii_compatible = "abc,\t\n".encode(encoding, errors="replace") == b"abc,\t\n"
    # UTF-16/32 text without a mark (SQL Server's bcp -w) is "valid UTF-8" too, NUL bytes between the
    # letters: the codec asked for reads it; an ASCII file without NULs is one it would misread
    return "utf-8-sig" if non_ascii or (not ascii_compatible and not has_nul) else encoding


def _open_decompressed(path: Path) -> io.BufferedIOBase:
    """``path`` opened for binary reading, decompressed as pandas would by its suffix (one member of a ``.zip``)."""
    import bz2
    import gzip
    import lzma
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise ValueError("a zip file holding one file is read")
        member = archive.open(members[0])  # streamed; it keeps the archive's file open until closed
        archive.close()
        return member  # type: ignore[return-value]
    return open(path, "rb")


def _bom_skipping(encoding: str | None) -> str:
    """The codec to read an id list with: UTF-8 under any spelling skips a byte-order mark.

    Why: the tables (pandas) drop a BOM whatever UTF-8 spelling ``--encoding`` gives, but Python's
    ``"utf-8"`` codec keeps it, so with ``--encoding utf-8`` a BOM-prefixed ``--users`` file made
    its first id ``"\ufeffu1"``: a known user silently recommended for as a cold one.
    """
    if encoding is None:
        return "utf-8-sig"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding  # the caller's read names the unknown encoding
    return "utf-8-sig" if name == "utf-8" else encoding


def _id_dtypes(columns: Mapping[str, str] | None, standard: str) -> dict[str, object]:
    """Read id columns as text so '007' stays '007' and ids never turn into floats."""
    name = (columns or {}).get(standard, standard)
    return {name: str}
