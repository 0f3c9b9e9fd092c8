"""A compressed similarity index: int8 or bf16 codes, exact float32 results.

:class:`QuantizedIndex` keeps a compressed copy of a catalogue in memory (int8: ``N*d`` bytes
plus 8 bytes per row; bf16: ``2*N*d`` bytes) and answers :func:`coldkit.topk`-style queries in
two steps:

1. a fused SIMD scan of the codes (AVX-512 VNNI / AVX-512BW / AVX2 / NEON for int8, AVX-512 BF16
   or a widening AVX2 path for bf16) keeps each query's best ``shortlist`` candidates;
2. those candidates are re-scored with coldkit's float32 kernel against the float32 catalogue
   (which may be a read-only memory map of the saved file), and the best ``k`` returned.

The returned scores are therefore float32 scores, ordered like :func:`coldkit.topk` (score
descending, lower index first). The results equal the exact top-k whenever the true top-k is
inside the shortlist; the default shortlist, ``max(4k, k + 32)``, gave recall@10 = 1.0 on real
MiniLM and hashing-encoder vectors (see ``docs/quantized.md``), and ``shortlist=`` widens it.

Example::

    >>> import numpy as np
    >>> from coldkit.quantized import QuantizedIndex
    >>> rng = np.random.default_rng(0)
    >>> catalog = rng.standard_normal((1000, 16)).astype(np.float32)
    >>> index = QuantizedIndex(catalog, kind="int8")
    >>> scores, ids = index.search(catalog[:2], k=3)
    >>> ids[:, 0].tolist()
    [0, 1]

Kernels: :func:`quantized_capabilities` lists the kernels this CPU can run and the one used by
default; ``kernel=`` (or the ``COLDKIT_QUANT_KERNEL`` environment variable, read at each
search) forces one, as ``COLDKIT_KERNEL`` does for the float32 kernels (which the re-rank uses).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coldkit import _core
from coldkit._atomic import atomic_write, atomic_write_bytes, fsync_dir
from coldkit._lists import as_csr
from coldkit.exceptions import InvalidInputError
from coldkit.similarity import ExcludeLike, _as_count, _as_exclusions, _as_matrix, _as_threads

__all__ = [
    "QuantizedIndex",
    "QUANT_KERNEL_ENV",
    "KINDS",
    "SCALES",
    "default_shortlist",
    "quantized_capabilities",
]

#: Environment variable read at each search (when no ``kernel=`` was given) to force a
#: quantised kernel: ``scalar``, ``avx2``, ``avx512bw``, ``avx512vnni``, ``avx512bf16``,
#: ``neon`` or ``auto``.
QUANT_KERNEL_ENV = "COLDKIT_QUANT_KERNEL"
#: The float32 kernel override shared with :func:`coldkit.topk` (used by the re-rank).
_EXACT_KERNEL_ENV = "COLDKIT_KERNEL"

Kind = Literal["int8", "bf16"]
Scale = Literal["per-vector", "per-dimension"]
QuantMetric = Literal["cosine", "dot"]
KINDS: tuple[str, ...] = ("int8", "bf16")
SCALES: tuple[str, ...] = ("per-vector", "per-dimension")
_METRICS: tuple[str, ...] = ("cosine", "dot")

#: Version of the on-disk layout written by :meth:`QuantizedIndex.save`.
#: 2: ``meta.json`` names the data files (``files``: a re-save writes the other name set). Version 1
#: (always the first set) is still read; a coldkit that reads only 1 refuses 2 by its version, instead
#: of reporting a re-saved index's ``codes.npy`` as missing. 3: ``meta.json`` carries ``fields_sha256``,
#: a digest of its own fields, required from version 3 on (a deleted digest cannot pass an edit).
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_META = "meta.json"
#: meta.json's own digest: of its other fields (the data files have theirs in ``sha256``).
_FIELDS_DIGEST = "fields_sha256"
_CODES = "codes.npy"
_SCALES = "scales.npy"
_CATALOG = "catalog.npy"
#: The two sets of data-file names a save alternates between. A save over an existing index writes
#: the set its meta.json does not name, then replaces meta.json (the commit), then deletes the old
#: set: rewriting the same names in place left new codes beside the old meta.json after a crash (an
#: index that no longer loaded), where this leaves the old index or the new one, both complete.
_FILE_SETS = (
    {"codes": _CODES, "scales": _SCALES, "catalog": _CATALOG},
    {"codes": "codes.b.npy", "scales": "scales.b.npy", "catalog": "catalog.b.npy"},
)
#: Every name a save writes: over anything else of these names (not from an index) a save refuses.
_OWN_NAMES = frozenset([_META, *(name for files in _FILE_SETS for name in files.values())])


def default_shortlist(k: int) -> int:
    """Candidates kept per query when ``search`` is not given ``shortlist=``: ``max(4k, k + 32)``."""
    return int(_core.quant_default_shortlist(_as_count(k, "k")))


def quantized_capabilities() -> dict[str, Any]:
    """Quantised kernels per storage kind: ``{"int8": {"kernels": [...], "active": name}, "bf16": {...}}``.

    ``kernels`` lists what this CPU and build can run (worst first); ``active`` is the default.
    """
    caps: dict[str, Any] = _core.quant_kernels()
    return caps


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def _check_kernel(kernel: Any, kind: str) -> str | None:
    """``kernel`` checked against what this CPU and build run for ``kind`` (None or "auto": the default).

    Checked when the index is built or loaded: a kernel of the other kind (``avx512vnni`` for bf16) or of
    another CPU (``neon``) was accepted and failed at the first search, and ``""`` was taken as "auto".
    """
    if kernel is None or kernel == "auto":
        return None
    if not isinstance(kernel, str):
        raise InvalidInputError(f"kernel must be a kernel name or None, got {kernel!r}")
    runnable = quantized_capabilities()[kind]["kernels"]
    if kernel not in runnable:
        raise InvalidInputError(
            f"kernel {kernel!r} cannot search {kind} codes here; this CPU and build run {', '.join(map(repr, runnable))} "
            "(or 'auto', the default)"
        )
    return kernel


def _kernel_from_env(kind: str) -> str | None:
    """``COLDKIT_QUANT_KERNEL`` checked for an index of ``kind`` (None: unset, empty or "auto").

    The variable forces one kernel for every quantised index of the process, int8 and bf16 alike: a
    kernel of one kind (``avx512vnni``) makes the other kind's searches fail, naming the variable
    (``kernel=`` forces one index's). The error named a kernel but not where it came from.
    """
    name = os.environ.get(QUANT_KERNEL_ENV) or None
    if name is None or name == "auto":
        return None
    runnable = quantized_capabilities()[kind]["kernels"]
    if name not in runnable:
        raise InvalidInputError(
            f"{QUANT_KERNEL_ENV}={name!r} cannot search {kind} codes here; this CPU and build run "
            f"{', '.join(map(repr, runnable))} (unset it for the best one; kernel= forces one index's kernel)"
        )
    return name


class QuantizedIndex:
    """A compressed copy of a float32 catalogue with exact float32 re-ranking.

    Args:
        catalog: ``(N, d)`` real matrix, ``N >= 1``, finite. Converted to C-contiguous float32
            once (float32 C-contiguous input is kept by reference, not copied: do not modify it
            afterwards, the re-rank reads it).
        kind: ``"int8"`` (symmetric codes in -127..127, 4x smaller than float32) or ``"bf16"``
            (bfloat16, 2x smaller).
        scale: int8 only: ``"per-vector"`` (one scale per row; default) or ``"per-dimension"``
            (one per column). Ignored for bf16.
        metric: ``"cosine"`` (rows and queries L2-normalised; zero vectors score 0) or ``"dot"``.
        normalized: promise that rows and queries are already unit length (cosine only),
            skipping the norms, as in :func:`coldkit.topk`.
        threads: threads for building (``None`` = all cores).
        kernel: force a quantised kernel for every search (see :func:`quantized_capabilities`);
            ``None`` reads ``COLDKIT_QUANT_KERNEL`` at each search, else the best available.

    Raises:
        InvalidInputError: bad shape, dtype, NaN/inf, empty catalogue, unknown option.
    """

    def __init__(
        self,
        catalog: ArrayLike,
        kind: Kind = "int8",
        *,
        scale: Scale = "per-vector",
        metric: QuantMetric = "cosine",
        normalized: bool = False,
        threads: int | None = None,
        kernel: str | None = None,
    ) -> None:
        kind = _check_choice(kind, "kind", KINDS)  # type: ignore[assignment]
        scale = _check_choice(scale, "scale", SCALES)  # type: ignore[assignment]
        metric = _check_choice(metric, "metric", _METRICS)  # type: ignore[assignment]
        if not isinstance(normalized, (bool, np.bool_)):
            raise InvalidInputError(f"normalized must be True or False, got {normalized!r}")
        threads = _as_threads(threads)
        self._kernel = _check_kernel(kernel, kind)
        matrix, _ = _as_matrix(catalog, "catalog", allow_vector=False)
        if matrix.shape[0] == 0:
            raise InvalidInputError("catalog is empty (0 rows); nothing to index")
        self._catalog: NDArray[np.float32] = matrix
        self._core = _core.QuantizedIndex.build(matrix, kind, scale, metric, bool(normalized), threads)

    # ----------------------------------------------------------------------------------------
    # Properties
    # ----------------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"int8"`` or ``"bf16"``."""
        return str(self._core.kind)

    @property
    def scale(self) -> str:
        """``"per-vector"`` or ``"per-dimension"`` (meaningful for int8 only)."""
        return str(self._core.scale)

    @property
    def metric(self) -> str:
        """``"cosine"`` or ``"dot"``."""
        return str(self._core.metric)

    @property
    def normalized(self) -> bool:
        """Whether rows and queries were promised to be unit length."""
        return bool(self._core.normalized)

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, d)`` of the indexed catalogue."""
        n, d = self._core.shape
        return int(n), int(d)

    @property
    def nbytes(self) -> int:
        """Bytes of the compressed index in memory (codes, scales, int8 row sums), without the
        float32 catalogue used for re-ranking."""
        return int(self._core.nbytes)

    @property
    def catalog(self) -> NDArray[np.float32]:
        """The float32 catalogue used for the re-rank (a read-only memory map after ``load``)."""
        return self._catalog

    @property
    def kernel(self) -> str:
        """The quantised kernel a search would use now.

        Raises:
            InvalidInputError: ``COLDKIT_QUANT_KERNEL`` names a kernel this index's kind cannot run here
                (a search would refuse it; the property reported it as the one in use).
        """
        name = self._kernel or _kernel_from_env(self.kind)
        return name if name is not None else str(quantized_capabilities()[self.kind]["active"])

    def codes(self) -> NDArray[Any]:
        """A copy of the codes: int8 ``(N, d)``, or uint16 bfloat16 bit patterns ``(N, d)``."""
        codes: NDArray[Any] = self._core.codes()
        return codes

    def scales(self) -> NDArray[np.float32]:
        """A copy of the int8 scales (``N`` per-vector, ``d`` per-dimension; empty for bf16).

        Row ``i`` of the catalogue (normalised first for cosine) is approximated by
        ``codes[i] * scales[i]`` (per-vector) or ``codes[i] * scales`` (per-dimension).
        """
        scales: NDArray[np.float32] = self._core.scales()
        return scales

    def __repr__(self) -> str:
        n, d = self.shape
        return (
            f"QuantizedIndex(kind={self.kind!r}, scale={self.scale!r}, metric={self.metric!r}, "
            f"n={n}, d={d}, nbytes={self.nbytes})"
        )

    # ----------------------------------------------------------------------------------------
    # Search
    # ----------------------------------------------------------------------------------------

    def search(
        self,
        queries: ArrayLike,
        k: int,
        *,
        shortlist: int | None = None,
        exclude: ExcludeLike = None,
        threads: int | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The ``k`` best catalogue rows for each query, with float32 scores.

        Args:
            queries: ``(B, d)`` matrix or one ``(d,)`` vector, finite.
            k: results per query, ``>= 1``; ``k > N`` returns ``N`` results.
            shortlist: candidates the quantised scan keeps per query before the float32
                re-rank; ``>= k``. Default :func:`default_shortlist` (``max(4k, k + 32)``).
                Larger is safer and slower.
            exclude: item indices never returned, as in :func:`coldkit.topk`.
            threads: ``None`` = all cores, ``1`` = the calling thread only.

        Returns:
            ``(scores, indices)``: float32 and int64, shape ``(B, min(k, N))`` (``(min(k, N),)``
            for a 1-D query), best first, ties by lower index; rows left short by exclusions
            end with score ``-inf`` and index ``-1``.

        Raises:
            InvalidInputError: bad shape or dtype, dimension mismatch, NaN/inf, ``k < 1``,
                ``shortlist < k``, bad ``exclude`` or ``threads``, unknown or unsupported kernel.
        """
        k = _as_count(k, "k")
        if shortlist is not None:
            shortlist = _as_count(shortlist, "shortlist")
            if shortlist < k:
                raise InvalidInputError(f"shortlist must be >= k ({k}), got {shortlist}")
        threads = _as_threads(threads)
        q, single = _as_matrix(queries, "queries", allow_vector=True)
        n, d = self.shape
        # The core takes machine-sized counts: k = 2**64 (fine for coldkit.topk) was an
        # OverflowError. Beyond N neither changes the answer (the shortlist is capped at N anyway).
        k = min(k, n)
        shortlist = None if shortlist is None else min(shortlist, n)
        if q.shape[1] != d:
            raise InvalidInputError(f"dimension mismatch: queries have {q.shape[1]} columns but the index has {d}")
        exclusions = _as_exclusions(exclude, q.shape[0], n, single)
        indptr: NDArray[np.int64] | None = None
        flat: NDArray[np.int64] | None = None
        if exclusions is not None:
            indptr, flat = as_csr(exclusions)
        kernel = self._kernel or _kernel_from_env(self.kind)
        exact_kernel = os.environ.get(_EXACT_KERNEL_ENV) or None
        scores, ids = self._core.search(
            q, self._catalog, k, shortlist, indptr, flat, threads, kernel, exact_kernel
        )
        if single:
            return scores[0], ids[0]
        return scores, ids

    # ----------------------------------------------------------------------------------------
    # Persistence
    # ----------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to directory ``path`` (created if missing): ``codes.npy``,
        ``scales.npy`` (int8), ``catalog.npy`` (the float32 catalogue) and ``meta.json``.

        Every file is written to a temp file, fsynced and renamed into place; ``meta.json``
        (with SHA-256 digests of every file and the catalogue's byte size) is written last.
        Over an existing index the data files go under the other set of names (``codes.b.npy``
        ...; ``meta.json`` says which), and the old ones are deleted only after ``meta.json``
        is replaced, so a crash leaves either the old index or a complete new one. No pickle anywhere.
        """
        directory = Path(path)
        if directory.exists() and not directory.is_dir():  # mkdir's bare FileExistsError did not say why
            raise InvalidInputError(f"{str(directory)!r} exists and is not a directory; an index is saved as a directory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a parent that is a file: a bare NotADirectoryError
            raise InvalidInputError(f"cannot create the index directory {str(directory)!r}: {exc.strerror or exc}") from None
        old_files = _committed_files(directory)
        if old_files is None:
            # only an index's own files are ever replaced: a user's meta.json or catalog.npy was overwritten unasked
            foreign = sorted(name for name in _OWN_NAMES if os.path.lexists(directory / name))
            if foreign:
                raise InvalidInputError(
                    f"{str(directory)!r} holds {', '.join(foreign)} that no coldkit quantised index wrote; "
                    "save into a new or empty directory"
                )
        files = _FILE_SETS[1] if old_files == _FILE_SETS[0] else _FILE_SETS[0]
        codes = self.codes()
        arrays = {files["codes"]: codes, files["catalog"]: self._catalog}
        if self.kind == "int8":
            arrays[files["scales"]] = self.scales()
        digests = {}
        for name, array in arrays.items():
            atomic_write(directory / name, partial(_save_npy, array=array), sync_dir=False)
            digests[name] = _digest(directory / name)  # the catalogue too: an edit of the same size is caught
        n, d = self.shape
        meta = {
            "format": "coldkit.quantized",
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "scale": self.scale,
            "metric": self.metric,
            "normalized": self.normalized,
            "n": n,
            "d": d,
            "sha256": digests,
            "catalog_bytes": (directory / files["catalog"]).stat().st_size,
            "files": files,
        }
        meta[_FIELDS_DIGEST] = _fields_digest(meta)
        fsync_dir(directory)  # the data files' renames are durable before meta.json names them
        atomic_write_bytes(directory / _META, json.dumps(meta, indent=2, sort_keys=True).encode())
        # committed: the other set's files (the old index) and an unused scales file are now stale
        stale = [name for other in _FILE_SETS if other is not files for name in other.values()]
        for name in stale + ([] if self.kind == "int8" else [files["scales"]]):
            try:
                (directory / name).unlink()
            except FileNotFoundError:
                pass
        return directory

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, kernel: str | None = None
    ) -> "QuantizedIndex":
        """Read an index written by :meth:`save`.

        Args:
            path: the directory.
            mmap: memory-map ``catalog.npy`` read-only (default) instead of reading it into
                memory; only the shortlisted rows are then touched per query.
            kernel: as in the constructor.

        Raises:
            InvalidInputError: missing files, unknown format/version, digest mismatch, arrays
                of the wrong dtype or shape, or codes/scales out of range (corruption).
        """
        directory = Path(path)
        try:
            meta = json.loads((directory / _META).read_text())
        except FileNotFoundError:
            raise InvalidInputError(f"{directory} holds no quantised index ({_META} is missing)") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise InvalidInputError(f"{directory / _META} is unreadable or corrupted: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != "coldkit.quantized":
            raise InvalidInputError(f"{directory / _META} is not a coldkit quantised index")
        version = meta.get("version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise InvalidInputError(
                f"{directory} has quantised-index format version {version!r}; "
                f"this coldkit reads versions {', '.join(map(str, READABLE_VERSIONS))}"
            )
        if version == 1 and "files" in meta:  # version 1 never named its files
            raise InvalidInputError(f"{directory / _META} has a 'files' field, which format version 1 does not have")
        # The data files' digests live in meta.json, which had none of its own: "normalized" set to true
        # on a cosine index of raw rows answered with dot products (scores of 14 and 20), "metric" edited
        # to "dot" ranked by dot, both without a word. Indexes saved before the digest (versions 1 and 2) are
        # read as they are; from version 3 it must be there (deleting it let an edit through)
        if version >= 3 and _FIELDS_DIGEST not in meta:
            raise InvalidInputError(f"{directory / _META} lacks its {_FIELDS_DIGEST} (format version {version} has one): it was edited")
        if _FIELDS_DIGEST in meta and meta[_FIELDS_DIGEST] != _fields_digest(meta):
            raise InvalidInputError(
                f"{directory / _META} was edited or is corrupted: its fields do not match their SHA-256 "
                f"({_FIELDS_DIGEST}); save the index again from its vectors"
            )
        try:
            kind = _check_choice(meta["kind"], "kind", KINDS)
            scale = _check_choice(meta["scale"], "scale", SCALES)
            metric = _check_choice(meta["metric"], "metric", _METRICS)
            # exact types: "false" read as True (a cosine index answered with dot products), 50.7 rows as 50,
            # Infinity as an OverflowError
            normalized = meta["normalized"]
            if not isinstance(normalized, bool):
                raise ValueError(f"'normalized' must be true or false, got {normalized!r}")
            n, d, catalog_bytes = (_whole_field(meta, name) for name in ("n", "d", "catalog_bytes"))
            digests = dict(meta["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{directory / _META} is missing or has a bad field: {exc}") from exc

        files = meta.get("files", _FILE_SETS[0])  # indexes saved before the alternating names: the first set
        if files not in _FILE_SETS:  # only the names coldkit writes: a file entry can never leave the directory
            raise InvalidInputError(f"{directory / _META} has a bad 'files' field: {files!r}")
        names = [files["codes"]] + ([files["scales"]] if kind == "int8" else [])
        for name in names:
            file = directory / name
            if not file.exists():
                raise InvalidInputError(f"{file} is missing")
            if _digest(file) != digests.get(name):
                raise InvalidInputError(f"{file} is corrupted (its SHA-256 does not match {_META})")
        catalog_file = directory / files["catalog"]
        if not catalog_file.exists() or catalog_file.stat().st_size != catalog_bytes:
            raise InvalidInputError(f"{catalog_file} is missing or truncated (expected {catalog_bytes} bytes)")
        # indexes saved before the catalogue had a digest are checked by size only
        if files["catalog"] in digests and _digest(catalog_file) != digests[files["catalog"]]:
            raise InvalidInputError(f"{catalog_file} is corrupted or was edited (its SHA-256 does not match {_META})")

        codes = _load_array(directory / files["codes"], np.int8 if kind == "int8" else np.uint16, (n, d), mmap=False)
        catalog = _load_array(catalog_file, np.float32, (n, d), mmap=mmap)
        if kind == "int8":
            scales = _load_array(directory / files["scales"], np.float32, (n if scale == "per-vector" else d,), mmap=False)
            core = _core.QuantizedIndex.from_int8_parts(codes, scales, scale, metric, normalized)
        else:
            core = _core.QuantizedIndex.from_bf16_parts(codes, metric, normalized)
        index = cls.__new__(cls)
        index._kernel = _check_kernel(kernel, kind)
        index._catalog = catalog
        index._core = core
        return index


def _fields_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of ``meta``'s fields but the digest itself, as canonical JSON."""
    fields = {name: value for name, value in meta.items() if name != _FIELDS_DIGEST}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _whole_field(meta: dict[str, Any], name: str) -> int:
    """``meta[name]`` as an integer >= 0 (a JSON number with a fraction, a bool or a string is refused)."""
    value = meta[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name!r} must be an integer >= 0, got {value!r}")
    return value


def _committed_files(directory: Path) -> dict[str, str] | None:
    """The file names the directory's current meta.json names (None: no readable index there)."""
    try:
        meta = json.loads((directory / _META).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != "coldkit.quantized":
        return None
    files = meta.get("files", _FILE_SETS[0])
    return files if files in _FILE_SETS else None


def _save_npy(handle: BinaryIO, array: NDArray[Any]) -> None:
    np.save(handle, array, allow_pickle=False)


def _digest(file: Path) -> str:
    sha = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def _load_array(file: Path, dtype: Any, shape: tuple[int, ...], *, mmap: bool) -> NDArray[Any]:
    """``np.load`` without pickle, checked for dtype, shape and C order."""
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InvalidInputError(f"{file} is unreadable or corrupted: {exc}") from exc
    if array.dtype != np.dtype(dtype) or array.shape != shape or not array.flags.c_contiguous:
        raise InvalidInputError(
            f"{file} holds a {array.dtype} array of shape {array.shape}; expected C-ordered "
            f"{np.dtype(dtype)} of shape {shape}"
        )
    return array
