"""Item vectors a user brings (from their own LLM or CLIP service): loading and validation.

Three file layouts, none of them pickle:

* ``vectors.npy`` — a float array ``(n, d)``, plus the ids in a sibling text file
  ``vectors.ids.txt`` (the ``.npy`` suffix replaced by ``.ids.txt``): one id per line, line ``i``
  naming row ``i``;
* ``vectors.npz`` — two arrays, ``ids`` (strings or integers) and ``vectors`` ``(n, d)``, as
  written by ``np.savez(path, ids=np.array(ids, dtype=str), vectors=matrix)``;
* ``vectors.parquet`` — an id column (default ``item_id``) and a vector column (default
  ``vector``) holding a list or fixed-size list of numbers per row.

Validation names the *first bad row* (rows count from 0, in file order) and what is wrong with
it: an empty or repeated id, a missing (null) vector, a vector whose length differs from the
first row's, or a NaN/inf value. Rows are L2-normalised on load; an all-zero row stays zero
and means "no content" (as an empty text does for a text encoder).

Example::

    from coldkit.data.vectors import load_item_vectors

    vectors = load_item_vectors("embeddings.parquet", vector_column="embedding")
    matrix = vectors.for_items(catalog.item_ids)   # (n_items, d), in catalogue order
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from coldkit import _core
from coldkit._paths import user_path
from coldkit.data._ids import scalar_ids
from coldkit.exceptions import InvalidInputError

__all__ = ["ItemVectors", "VectorMatch", "ids_path_for", "item_vectors_from_arrays", "load_item_vectors"]

#: Bytes of float64 rows normalised at a time: no overflow, bounded extra memory, and small enough (~2 MB)
#: to stay in the CPU's cache through the step's passes (1M x 384: 16k-row steps 10-12 s, these 5-6 s)
_NORMALIZE_BYTES = 1 << 21
MISSING_POLICIES = ("error", "zero")


@dataclass(frozen=True)
class VectorMatch:
    """How a vector file's ids line up with a catalogue.

    Attributes:
        rows: int64, for each catalogue item its row in the file, or -1 when it has none.
        missing: catalogue ids without a vector, in catalogue order.
        extra: number of file rows whose id is not in the catalogue (ignored).
    """

    rows: np.ndarray
    missing: list[str]
    extra: int


@dataclass(frozen=True)
class ItemVectors:
    """Validated item vectors: unique string ids and float32 rows of unit (or zero) norm.

    Build one with :func:`load_item_vectors` or :func:`item_vectors_from_arrays`, which check
    the input; the constructor trusts its arguments.
    """

    ids: np.ndarray  # object array of str, unique
    vectors: np.ndarray  # float32 (n, d), C-contiguous, rows L2-normalised or all zero
    source: str = "arrays"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def match(self, item_ids: Iterable[Any]) -> VectorMatch:
        """Line the file's rows up with ``item_ids`` (compared as strings)."""
        import pandas as pd

        wanted = [str(i) for i in item_ids]
        rows = pd.Index(self.ids).get_indexer(wanted).astype(np.int64)
        missing = [wanted[i] for i in np.flatnonzero(rows < 0)]
        used = np.zeros(len(self), dtype=bool)
        used[rows[rows >= 0]] = True
        return VectorMatch(rows=rows, missing=missing, extra=int((~used).sum()))

    def for_items(self, item_ids: Iterable[Any], *, missing: str = "error") -> np.ndarray:
        """float32 ``(len(item_ids), d)``: each item's vector, in the order of ``item_ids``.

        Args:
            item_ids: the catalogue's ids.
            missing: ``"error"`` (default): an id without a vector is an error naming it;
                ``"zero"``: such items get an all-zero row (no content, similar to nothing).

        Raises:
            InvalidInputError: an id has no vector (with ``missing="error"``).
        """
        if missing not in MISSING_POLICIES:
            raise InvalidInputError(f"unknown missing policy {missing!r}; choose one of {MISSING_POLICIES}")
        found = self.match(item_ids)
        if found.missing and missing == "error":
            first = found.missing[0]
            position = int(np.flatnonzero(found.rows < 0)[0])
            raise InvalidInputError(
                f"{self.source}: {len(found.missing)} catalogue item(s) have no vector; the first is item "
                f"{first!r} (catalogue position {position}). Add their vectors, or pass missing='zero' to "
                "treat them as items without content"
            )
        if len(found.rows) == len(self) and np.array_equal(found.rows, np.arange(len(self))):
            return self.vectors  # same ids in the same order: no copy
        if not found.missing:  # every item has its row: one gather (a zeroed copy filled through a boolean mask
            # took 13 s at 1M x 384, where coldkit recommend's catalogue is in the order of its ids' hash)
            return np.take(self.vectors, found.rows, axis=0)
        out = np.zeros((len(found.rows), self.dim), dtype=np.float32)
        present = np.flatnonzero(found.rows >= 0)
        out[present] = self.vectors[found.rows[present]]
        return out


def ids_path_for(path: str | os.PathLike[str]) -> Path:
    """The ids file that goes with a ``.npy`` vector file: ``x.npy`` → ``x.ids.txt``."""
    p = Path(path)
    return p.with_name(p.name[: -len(".npy")] + ".ids.txt") if p.name.endswith(".npy") else Path(f"{p}.ids.txt")


def load_item_vectors(
    path: str | os.PathLike[str],
    *,
    id_column: str = "item_id",
    vector_column: str = "vector",
    ids_path: str | os.PathLike[str] | None = None,
) -> ItemVectors:
    """Load and validate item vectors from ``.npy`` (+ ids file), ``.npz`` or ``.parquet``.

    Args:
        path: the vector file.
        id_column: the Parquet column of the item ids.
        vector_column: the Parquet column of the vectors.
        ids_path: ids file of a ``.npy`` (default :func:`ids_path_for`).

    Raises:
        InvalidInputError: unreadable file, unknown format, missing columns or ids file, or the
            first bad row (empty/duplicate id, null vector, wrong length, NaN/inf).
    """
    p = user_path(path)
    if p.is_dir():  # "no such file" of a folder that is there sent the user looking for it
        raise InvalidInputError(f"item vectors: {str(p)!r} is a directory; give the vector file (.npy, .npz or .parquet)")
    if not p.is_file():
        raise InvalidInputError(f"item vectors: no such file {str(p)!r}")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq") and (id_column, vector_column) != ("item_id", "vector"):
        # a .npy/.npz has no columns: the choice was ignored, so the user believed their columns were read
        raise InvalidInputError(
            f"item vectors: id_column/vector_column (--item-vector-columns) choose Parquet columns; {p.name!r} "
            "is not Parquet (a .npy takes its ids from the .ids.txt file, a .npz from its 'ids' array)"
        )
    if suffix == ".npy":
        ids_file = user_path(ids_path) if ids_path is not None else ids_path_for(p)
        vectors = _load_npy(p)
        ids = _read_ids_file(ids_file)
        return item_vectors_from_arrays(ids, vectors, source=str(p))
    if ids_path is not None:
        raise InvalidInputError(f"item vectors: ids_path applies to a .npy file, not to {p.name!r}")
    if suffix == ".npz":
        npz_ids, npz_vectors = _load_npz(p)
        return item_vectors_from_arrays(npz_ids, npz_vectors, source=str(p))
    if suffix in (".parquet", ".pq"):
        return _load_parquet(p, id_column, vector_column)
    raise InvalidInputError(
        # the ids file named is a .npy's (emb.npy -> emb.ids.txt): the hint named one for this file ("1px.png.ids.txt")
        f"item vectors: unknown format {p.name!r}; use .npy (+ {ids_path_for(p.with_suffix('.npy')).name} beside it), "
        ".npz (ids, vectors) or .parquet"
    )


def item_vectors_from_arrays(
    ids: Sequence[Any] | np.ndarray, vectors: Any, *, source: str = "item vectors"
) -> ItemVectors:
    """Validate ``ids`` and ``vectors`` (``(n, d)`` numbers) and return normalised :class:`ItemVectors`.

    Raises:
        InvalidInputError: lengths differ, ``vectors`` is not a 2-D array of real numbers, or a
            row is bad (the message names the first: row number and id).
    """
    id_strings = _ids_as_strings(ids, source)
    if isinstance(vectors, np.ndarray):
        arr = vectors
    else:
        try:
            arr = np.asarray(vectors)
        except ValueError:
            # rows of different lengths (embeddings from two models in one list): numpy said only "inhomogeneous
            # shape after 1 dimensions"; name the first row that differs, as the Parquet reader does
            _raise_ragged(vectors, id_strings, source)
            raise
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InvalidInputError(f"{source}: vectors must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidInputError(f"{source}: vectors must be a 2-D array (rows, dim >= 1), got shape {arr.shape}")
    if arr.shape[0] != len(id_strings):
        raise InvalidInputError(f"{source}: {len(id_strings)} ids but {arr.shape[0]} vector rows; they must match")
    if not len(id_strings):
        raise InvalidInputError(f"{source}: no vectors in the file")
    problems: list[tuple[int, str]] = []
    _check_ids(id_strings, problems)
    out = _unit_rows(arr, problems)
    _raise_first(problems, id_strings, source)
    return ItemVectors(ids=np.asarray(id_strings, dtype=object), vectors=out, source=source)


def _unit_rows(arr: np.ndarray, problems: list[tuple[int, str]]) -> np.ndarray:
    """float32 rows of unit norm (zero rows stay zero), each first divided by its largest |value| so
    that squaring huge values cannot overflow; a NaN/inf row is added to ``problems``."""
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        # the usual file (np.save of float32 embeddings): one pass in the core, numpy's bits below
        # (1M x 384: 2.3 s -> 0.9 s, most of it reading the file)
        try:
            return _core.unit_rows(arr, rescale=True)
        except InvalidInputError:
            found = _core.find_non_finite(arr)
            if found is None:
                raise
            problems.append((found[0], "has a NaN or infinite value"))
            return arr
    out = np.empty(arr.shape, dtype=np.float32)
    step = max(64, _NORMALIZE_BYTES // (8 * arr.shape[1]))
    for start in range(0, arr.shape[0], step):
        chunk = np.array(arr[start : start + step], dtype=np.float64)  # a copy: the input may be read-only
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            problems.append((row, "has a NaN or infinite value"))
            break
        scale = np.abs(chunk).max(axis=1, keepdims=True)
        np.divide(chunk, scale, out=chunk, where=scale > 0)
        norms = np.linalg.norm(chunk, axis=1, keepdims=True)
        np.divide(chunk, norms, out=chunk, where=norms > 0)
        out[start : start + len(chunk)] = chunk
    return out


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _raise_ragged(vectors: Any, ids: list[str], source: str) -> None:
    """Raise naming the first row of ``vectors`` (a sequence of rows) whose length differs from row 0's."""
    try:
        rows = list(vectors)
    except TypeError:
        return  # not a sequence at all: the caller re-raises numpy's own error
    lengths = []
    for row, values in enumerate(rows):
        try:
            lengths.append(len(values))
        except TypeError:
            # a number among the rows ([0.1, [0.2, 0.3]]): numpy's "inhomogeneous shape" error named no row either
            label = f" (id {ids[row]!r})" if row < len(ids) else ""
            raise InvalidInputError(f"{source}: vector row {row}{label} is {type(values).__name__} {values!r:.40}, not a list "
                                    "of numbers; every vector must be one") from None
    for row, length in enumerate(lengths):
        if length != lengths[0]:
            label = f" (id {ids[row]!r})" if row < len(ids) else ""
            raise InvalidInputError(f"{source}: vector row {row}{label} has {length} values, but the first vector "
                                    f"has {lengths[0]}; every vector must have the same length") from None


def _ids_as_strings(ids: Sequence[Any] | np.ndarray, source: str) -> list[str]:
    if isinstance(ids, (str, bytes)):
        raise InvalidInputError(f"{source}: ids must be a sequence of ids, not a single string")
    values = np.asarray(ids)
    if values.ndim != 1:
        raise InvalidInputError(f"{source}: ids must be one-dimensional, got shape {values.shape}")
    if np.issubdtype(values.dtype, np.floating):
        # ids read as numbers ("12.0") must match the same id read as text ("12"), as in the loaders
        whole = np.isfinite(values) & (values == np.round(values))
        if whole.all():
            return [str(int(v)) for v in values]
        return [str(v) if np.isfinite(v) else "" for v in values.tolist()]
    if values.dtype == object:  # a Parquet binary id column: b"i1" is the id "i1" (not "b'i1'"); a list is no id
        values = scalar_ids(values, f"{source}: the id column")
    return ["" if v is None else str(v).strip() for v in values.tolist()]


def _check_ids(ids: list[str], problems: list[tuple[int, str]]) -> None:
    seen: dict[str, int] = {}
    for row, item in enumerate(ids):
        if not item:
            problems.append((row, "has an empty id"))
            return
        first = seen.setdefault(item, row)
        if first != row:
            problems.append((row, f"repeats the id of row {first}"))
            return


def _raise_first(problems: list[tuple[int, str]], ids: Sequence[str], source: str) -> None:
    if problems:
        row, what = min(problems)
        raise InvalidInputError(f"{source}: row {row} (id {ids[row]!r}) {what}")


def _load_npy(path: Path) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise InvalidInputError(f"item vectors: cannot read {str(path)!r}: {exc}") from exc
    if not b"\x93NUMPY".startswith(magic):  # an empty or cut header is numpy's EOFError, below
        # np.load reads any other file as a pickle and refuses it with "This file contains pickled (object)
        # data. If you trust the file you can load it unsafely using allow_pickle=": wrong about a CSV named
        # .npy, and advice coldkit never follows
        raise InvalidInputError(
            f"item vectors: {str(path)!r} is not a .npy file (no .npy header; e.g. a text or CSV file named .npy): "
            "write it with numpy.save"
        )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which coldkit never loads
        raise InvalidInputError(f"item vectors: {str(path)!r} is not a numeric .npy array ({exc})") from exc
    except EOFError as exc:  # numpy's word for an empty or header-truncated file
        raise InvalidInputError(f"item vectors: {str(path)!r} is empty or truncated (not a complete .npy file)") from exc
    except OSError as exc:
        raise InvalidInputError(f"item vectors: cannot read {str(path)!r}: {exc}") from exc


def _read_ids_file(path: Path) -> list[str]:
    if not path.is_file():
        raise InvalidInputError(
            f"item vectors: the ids file {str(path)!r} is missing; a .npy needs one id per line (line i = row i)"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"item vectors: {str(path)!r} is not valid UTF-8 text (byte {exc.start})") from exc
    # ids are stripped as the tables' ids are ("m1 " is "m1" there); blank lines at the end are not rows
    # (a final CRLF, an editor's extra newline: "141 ids but 140 vector rows" named no cause)
    lines = [line.strip() for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # np.load picks the format from the first bytes, not the suffix: a .npz that is not a zip
    # archive would come back as a bare array (or, for anything else, be refused as "pickled
    # data"), so the zip signature is checked here to name the real problem. The file is opened
    # here, not by np.load, so that a damaged archive does not leave it open.
    try:
        with open(path, "rb") as handle:
            if handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise InvalidInputError(
                    f"item vectors: {str(path)!r} is not a .npz archive (empty, or not a zip file as np.savez writes)"
                )
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                names = set(archive.files)
                if not {"ids", "vectors"} <= names:
                    raise InvalidInputError(
                        f"item vectors: {str(path)!r} must hold arrays 'ids' and 'vectors', found {sorted(names)}"
                    )
                return archive["ids"], archive["vectors"]
    except InvalidInputError:  # ours, already clear (it is a ValueError: keep it out of the next clause)
        raise
    except ValueError as exc:  # an object array (e.g. ids of Python strings) needs pickle
        raise InvalidInputError(
            f"item vectors: {str(path)!r}: {exc}; save ids as a string array: np.array(ids, dtype=str)"
        ) from exc
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # a cut-off or damaged archive
        raise InvalidInputError(f"item vectors: {str(path)!r} is a damaged or truncated .npz archive ({exc})") from exc
    except OSError as exc:
        raise InvalidInputError(f"item vectors: cannot read {str(path)!r}: {exc}") from exc


def _load_parquet(path: Path, id_column: str, vector_column: str) -> ItemVectors:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InvalidInputError(f"{path}: reading Parquet needs pyarrow (pip install 'coldkit[eval]')") from exc
    source = str(path)
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own hierarchy; name the file
        raise InvalidInputError(f"item vectors: cannot read Parquet {source!r}: {exc}") from exc
    absent = [c for c in (id_column, vector_column) if c not in schema.names]
    if absent:
        raise InvalidInputError(
            f"item vectors: {source!r} has no column(s) {absent}; columns: {schema.names} "
            "(choose them with id_column=/vector_column=, or --item-vector-columns item_id=COL vector=COL)"
        )
    kind = schema.field(vector_column).type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise InvalidInputError(f"item vectors: column {vector_column!r} must hold a list of numbers per row, got {kind}")
    value_type = kind.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise InvalidInputError(f"item vectors: column {vector_column!r} must hold numbers, got lists of {value_type}")
    try:
        table = pq.read_table(path, columns=[id_column, vector_column])
    except Exception as exc:  # noqa: BLE001
        raise InvalidInputError(f"item vectors: cannot read Parquet {source!r}: {exc}") from exc
    id_array = table.column(id_column).combine_chunks()
    ids = _ids_as_strings(id_array.to_numpy(zero_copy_only=False), source)
    if not ids:
        raise InvalidInputError(f"{source}: no vectors in the file")
    column = table.column(vector_column).combine_chunks()
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)  # NaN where the vector is null
    problems: list[tuple[int, str]] = []
    _check_ids(ids, problems)
    null = np.isnan(lengths) if lengths.dtype.kind == "f" else np.zeros(len(lengths), dtype=bool)
    if null.any():
        problems.append((int(np.flatnonzero(null)[0]), "has no vector (null)"))
    dim = int(lengths[~null][0]) if (~null).any() else 0
    wrong = (~null) & (lengths != dim)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        problems.append((row, f"has {int(lengths[row])} values, but the first vector has {dim}"))
    if dim == 0 and not problems:
        problems.append((0, "has an empty vector"))
    _raise_first(problems, ids, source)
    # No null lists and one length: the flattened values are exactly n × dim; a null *element*
    # becomes NaN here and is then reported as a non-finite value of its row.
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return item_vectors_from_arrays(ids, flat.reshape(len(ids), dim), source=source)
