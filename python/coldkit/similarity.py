"""Similarity search: ``topk``, ``cosine_matrix``, ``normalize``, ``simd_capabilities``.

``topk`` validates and converts its arguments once, then hands them to a similarity backend
chosen by name from the plugin registry (``"rust"``: coldkit's compiled core, the default;
``"numpy"``: the reference implementation; ``"int8"``/``"bf16"``: the compressed index with an
exact float32 re-rank; plugins add more, e.g. ``coldkit-faiss``). Exact backends return the
same rankings.

This module also holds what backend authors share: :class:`IndexCache` (reuse an index built
from a catalogue across calls), :func:`topk_by_overfetch` (exclusions for a search that cannot
skip items) and :func:`recall_at_k` (how close an approximate backend gets).

Example::

    >>> import numpy as np, coldkit
    >>> catalog = np.eye(4, dtype=np.float32)
    >>> scores, ids = coldkit.topk([1.0, 0.5, 0.0, 0.0], catalog, k=2)
    >>> ids.tolist()
    [0, 1]
"""

from __future__ import annotations

import hashlib
import operator
import threading
import weakref
from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Generic, Hashable, Literal, Sequence, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coldkit import _core
from coldkit._lists import require_lists
from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.plugins.manager import check_built, is_builtin, registry
from coldkit.plugins.types import SimilarityBackend
from coldkit.validation import check_k

__all__ = [
    "Metric",
    "METRICS",
    "MAX_THREADS",
    "topk",
    "cosine_matrix",
    "normalize",
    "simd_capabilities",
    "IndexCache",
    "topk_by_overfetch",
    "recall_at_k",
]

Metric = Literal["cosine", "dot", "pearson"]
METRICS: tuple[str, ...] = ("cosine", "dot", "pearson")
#: Largest ``threads=`` accepted (the core refuses to spawn more).
MAX_THREADS = 1024

ExcludeLike = Union[Sequence[Any], NDArray[np.integer[Any]], None]
Scores = NDArray[np.float32]
Indices = NDArray[np.int64]


def topk(
    queries: ArrayLike,
    catalog: ArrayLike,
    k: int,
    *,
    metric: Metric = "cosine",
    normalized: bool = False,
    exclude: ExcludeLike = None,
    threads: int | None = None,
    backend: str | SimilarityBackend = "rust",
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The ``k`` catalogue rows most similar to each query, best first.

    Args:
        queries: ``(B, d)`` matrix, or one ``(d,)`` vector. Any real dtype; converted to
            C-contiguous float32 once (float32 C-contiguous input is used without a copy).
        catalog: ``(N, d)`` matrix, ``N >= 1``. Backends that build an index (``int8``,
            ``bf16``, faiss) reuse it while the same float32 C-contiguous array is passed again;
            any other input is converted on every call, so they rebuild on every call.
        k: how many results per query, ``>= 1``. ``k > N`` returns ``N`` results.
        metric: ``"cosine"`` (zero vectors score 0), ``"dot"`` (inner product) or ``"pearson"``
            (cosine of mean-centred vectors; constant vectors score 0).
        normalized: promise that the inputs are already prepared for the metric (unit rows for
            cosine, centred unit rows for Pearson), which skips the per-row norms. Ignored for
            ``"dot"``. A false promise gives dot-product scores, not an error.
        exclude: item indices that must not be returned (e.g. items the user has seen). For
            2-D ``queries``: one sequence (or None) per query. For a 1-D query: a single
            sequence of indices. Indices must lie in ``0..N``; duplicates are fine. Backends
            with the ``"exclude"`` capability skip them inside the scan; for the others
            ``topk`` fetches ``k`` + (the most exclusions of any query) results and filters
            them (:func:`topk_by_overfetch`), with the same result.
        threads: ``None`` = all cores, ``1`` = the calling thread only, ``n`` = n threads
            (backends without the ``"threads"`` capability ignore it).
        backend: name of a registered similarity backend (``"rust"``, ``"numpy"``, ``"int8"``,
            ``"bf16"``, a plugin's such as ``"faiss-flat"``), or a backend object, e.g.
            ``coldkit.get_similarity_backend("int8", shortlist=100)`` to pass options.

    Returns:
        ``(scores, indices)``: float32 and int64 arrays of shape ``(B, min(k, N))`` (or
        ``(min(k, N),)`` for a 1-D query), best first; equal scores are ordered by the lower
        catalogue index, so results are deterministic. When exclusions leave fewer than
        ``min(k, N)`` items (or an approximate backend finds fewer), the row ends with
        padding: index ``-1``, score ``-inf``.

    Raises:
        InvalidInputError: wrong rank, dtype (bool, complex, object...), dimension mismatch,
            empty catalogue, ``k < 1``, NaN/inf values (the message names the array), bad
            ``exclude``, bad ``threads``, unknown metric, a metric the backend does not
            support, or dot products overflowing float32.
        UnknownComponentError: no backend is registered as ``backend`` (the message lists
            the registered names).
    """
    if metric not in METRICS:
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(map(repr, METRICS))}")
    if not isinstance(normalized, (bool, np.bool_)):
        raise InvalidInputError(f"normalized must be True or False, got {normalized!r}")
    k = check_k(k)
    threads = _as_threads(threads)
    impl, capabilities = _resolve_backend(backend)
    if capabilities is not None and metric not in capabilities:
        supported = ", ".join(repr(m) for m in METRICS if m in capabilities) or "(none)"
        raise InvalidInputError(
            f"similarity backend {impl.name!r} does not support metric {metric!r}; it supports {supported}"
        )
    q, single = _as_matrix(queries, "queries", allow_vector=True)
    c, _ = _as_matrix(catalog, "catalog", allow_vector=False)
    n = c.shape[0]
    if n == 0:
        raise InvalidInputError("catalog is empty (0 rows); nothing to rank")
    if q.shape[1] != c.shape[1]:
        raise InvalidInputError(
            f"dimension mismatch: queries have {q.shape[1]} columns but catalog rows have {c.shape[1]}"
        )
    exclusions = _as_exclusions(exclude, q.shape[0], n, single)
    # A backend that rejects NaN/inf itself (the Rust core spots them inside its scan; an
    # index-building backend checks the catalogue once, when it builds) spares the catalogue
    # a second pass through memory; any other gets checked input.
    if not getattr(impl, "checks_finite", False):
        _require_finite(q, "queries")
        _require_finite(c, "catalog")
    options: dict[str, Any] = {"metric": metric, "normalized": bool(normalized), "threads": threads}
    if exclusions is not None and capabilities is not None and "exclude" not in capabilities:

        def search(rows: NDArray[np.float32], fetch: int) -> tuple[Scores, Indices]:
            return impl.topk(rows, c, fetch, exclude=None, **options)

        scores, indices = topk_by_overfetch(search, q, min(k, n), exclusions, n)
    else:
        scores, indices = impl.topk(q, c, min(k, n), exclude=exclusions, **options)
    scores, indices = _check_backend_output(impl, scores, indices, (q.shape[0], min(k, n)), n, exclusions)
    if single:
        return scores[0], indices[0]
    return scores, indices


def _check_backend_output(
    impl: SimilarityBackend,
    scores: Any,
    indices: Any,
    shape: tuple[int, int],
    n: int,
    exclude: Sequence[NDArray[np.int64]] | None = None,
) -> tuple[Scores, Indices]:
    """The backend's ``(scores, indices)`` as float32 / int64, after checking them against the contract.

    A plugin backend that returned too few columns, NaN scores or indices past the catalogue was
    passed on as it was: the caller then read another item's id (or crashed far away, with an
    IndexError that named neither the backend nor the problem). One that declares ``"exclude"`` but
    ignores ``exclude`` returned the user's own items, which callers then dropped: shorter lists
    without a word. The check costs O(B * k) plus the exclusions.

    Raises:
        ComponentContractError: wrong shape, non-numeric output, NaN scores, out-of-range indices or
            excluded items returned, naming the backend.
    """
    where = f"similarity backend {getattr(impl, 'name', type(impl).__name__)!r}"
    try:
        scores_arr = np.asarray(scores, dtype=np.float32)
        raw = np.asarray(indices)
        if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(raw == np.round(raw))):
            raise TypeError(f"indices of dtype {raw.dtype}")
        indices_arr = raw.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise ComponentContractError(f"{where} returned no numeric (scores, indices) arrays: {exc}") from None
    if scores_arr.shape != shape or indices_arr.shape != shape:
        raise ComponentContractError(
            f"{where} returned scores of shape {scores_arr.shape} and indices of shape {indices_arr.shape}; "
            f"expected {shape} (queries x min(k, catalogue size), padded with -1 / -inf)"
        )
    if np.isnan(scores_arr).any():
        raise ComponentContractError(f"{where} returned NaN scores")
    bad = (indices_arr < -1) | (indices_arr >= n)
    if bad.any():
        raise ComponentContractError(
            f"{where} returned item indices outside [-1, {n}): {np.unique(indices_arr[bad])[:5].tolist()}"
        )
    if not is_builtin(impl):  # coldkit's own backends are tested for it (hypothesis, against numpy)
        # unsorted, repeated or padding-first rows were passed on: a model wrote them out worst first, an item
        # at ranks 1 and 2, or lost its best item behind the padding (evaluate's metrics fell without a word)
        require_lists(indices_arr, scores_arr, f"{where} returned",
                      "; a backend returns each query's best items first, each once, padded with -1 / -inf at the end")
    # coldkit's own backends are tested to skip the excluded items; the check is O(exclusions)
    if exclude is not None and not is_builtin(impl) and any(len(e) for e in exclude):
        rows = np.repeat(np.arange(len(exclude), dtype=np.int64), [len(e) for e in exclude])
        excluded = rows * n + np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
        listed = indices_arr >= 0
        keys = (np.arange(shape[0], dtype=np.int64)[:, None] * n + indices_arr)[listed]
        leaked = np.isin(keys, excluded)
        if leaked.any():
            row = int(keys[leaked][0] // n)
            raise ComponentContractError(
                f"{where} returned excluded items (query {row}: {sorted({int(x % n) for x in keys[leaked] if x // n == row})[:5]}); "
                "a backend with the 'exclude' capability must skip them"
            )
    return scores_arr, indices_arr


def _resolve_backend(backend: Any) -> tuple[SimilarityBackend, frozenset[str] | None]:
    """The backend object and its capabilities (None: unknown, so nothing is assumed missing)."""
    if isinstance(backend, str):
        spec = registry("similarity_backend").get(backend)  # UnknownComponentError lists the names
        return check_built("similarity_backend", backend, spec.factory()), frozenset(spec.capabilities)
    if not callable(getattr(backend, "topk", None)) or not isinstance(getattr(backend, "name", None), str):
        raise InvalidInputError(
            f"backend must be a registered backend name or a similarity backend object, got {backend!r}"
        )
    declared = getattr(backend, "capabilities", None)
    if declared is not None:
        return backend, frozenset(declared)
    reg = registry("similarity_backend")
    return backend, (frozenset(reg.get(backend.name).capabilities) if backend.name in reg else None)


# --------------------------------------------------------------------------------------------
# Helpers for backend authors.
# --------------------------------------------------------------------------------------------


def topk_by_overfetch(
    search: Callable[[NDArray[np.float32], int], tuple[ArrayLike, ArrayLike]],
    queries: NDArray[np.float32],
    k: int,
    exclude: Sequence[NDArray[np.int64]] | None,
    n: int,
) -> tuple[Scores, Indices]:
    """Exclusions for a search that cannot skip items: fetch more, drop the excluded, pad.

    ``search(queries, fetch)`` must return ``(scores, ids)`` of shape ``(B, fetch)``, best
    first (ids ``-1`` where it found nothing). This calls it once with ``fetch = min(N, k + m)``,
    ``m`` being the largest number of distinct exclusions of any query, so each row still holds
    ``k`` admissible items when the search is exact: the result then equals an in-scan exclusion
    (same items, same order). Rows left short are padded with index ``-1`` and score ``-inf``.

    Args:
        search: the plain top-k of the backend, on validated queries.
        queries: ``(B, d)`` float32.
        k: results wanted per row (already ``<= n``).
        exclude: ``None`` or one int64 array of item indices per query.
        n: catalogue size.

    Example::

        >>> import numpy as np
        >>> scores = np.array([3.0, 2.0, 1.0], np.float32)
        >>> def search(q, fetch):
        ...     order = np.argsort(-scores)[:fetch]
        ...     return scores[order][None, :], order[None, :]
        >>> topk_by_overfetch(search, np.zeros((1, 1), np.float32), 2, [np.array([0])], 3)[1].tolist()
        [[1, 2]]
    """
    if queries.shape[0] == 0:
        # reshape(0, -1) of an empty result cannot infer a width (a ValueError that named
        # nothing): no queries, no rows.
        return np.empty((0, k), dtype=np.float32), np.empty((0, k), dtype=np.int64)
    unique = None if exclude is None else [np.unique(np.asarray(e, dtype=np.int64)) for e in exclude]
    extra = max((len(u) for u in unique), default=0) if unique is not None else 0
    fetch = min(n, k + extra)
    raw_scores, raw_ids = search(queries, fetch)
    scores = np.asarray(raw_scores, dtype=np.float32).reshape(queries.shape[0], -1)
    ids = np.asarray(raw_ids, dtype=np.int64).reshape(queries.shape[0], -1)
    keep = ids >= 0
    if unique is not None and extra:
        # One vectorised membership test: key = row * n + id for both sides.
        rows = np.arange(ids.shape[0], dtype=np.int64)
        excluded_keys = np.concatenate([u + r * n for r, u in zip(rows, unique)])
        keep &= ~np.isin(rows[:, None] * n + ids, excluded_keys)
    rank = np.cumsum(keep, axis=1) - 1
    take = keep & (rank < k)
    out_scores = np.full((ids.shape[0], k), -np.inf, dtype=np.float32)
    out_ids = np.full((ids.shape[0], k), -1, dtype=np.int64)
    row_of, col_of = np.nonzero(take)
    out_scores[row_of, rank[take]] = scores[row_of, col_of]
    out_ids[row_of, rank[take]] = ids[row_of, col_of]
    return out_scores, out_ids


def recall_at_k(found: ArrayLike, exact: ArrayLike) -> float:
    """Mean fraction of each row of ``exact`` ids that ``found`` also returned (recall@k).

    Both are ``(B, k)`` id arrays (or ``(k,)``) as :func:`topk` returns them; ``-1`` padding is
    ignored on both sides, and a row whose exact answer is empty counts as fully recalled.

    Example::

        >>> recall_at_k([[0, 1, 2]], [[0, 2, 3]])
        0.6666666666666666
    """
    arrays = []
    for name, ids in (("found", found), ("exact", exact)):
        arr = np.atleast_2d(np.asarray(ids))
        if arr.size and arr.dtype.kind not in "iu":
            # scores passed for ids (topk returns (scores, indices)) were cast to int and gave a recall
            raise InvalidInputError(
                f"{name} must hold integer item ids, got dtype {arr.dtype}; topk returns (scores, indices): pass the indices"
            )
        arrays.append(arr.astype(np.int64))
    got, want = arrays
    if got.shape[0] != want.shape[0]:
        raise InvalidInputError(f"found has {got.shape[0]} rows but exact has {want.shape[0]}")
    total = 0.0
    for got_row, want_row in zip(got, want):
        target = set(want_row[want_row >= 0].tolist())
        total += len(target & set(got_row.tolist())) / len(target) if target else 1.0
    return total / max(1, want.shape[0])


_IndexT = TypeVar("_IndexT")


class IndexCache(Generic[_IndexT]):
    """A small LRU of indexes built from catalogue arrays, so repeated searches reuse them.

    A backend's ``topk`` receives the raw catalogue on every call; building an index from it
    (quantising, adding to faiss) costs far more than one search. The cache keys an index by
    the catalogue's identity (object and data pointer), shape, strides, the build options, and
    a cheap content fingerprint (a hash of up to 64 evenly spaced rows) that catches a
    recycled object id or a replaced array. An in-place change of rows the fingerprint does not
    sample goes unnoticed: after modifying a catalogue in place, call :meth:`clear`.

    An entry lives while its catalogue array does (a weak reference; note that an index which
    keeps the catalogue itself, such as :class:`coldkit.quantized.QuantizedIndex`, keeps it
    alive until evicted) and at most ``max_entries`` entries are held, least recently used
    evicted first. Memory held: the entries' indexes (e.g. int8: ``N*d`` bytes of codes plus
    the float32 catalogue it re-ranks against; a faiss flat index: a ``4*N*d`` byte copy).

    Thread-safe: lookups take a lock; builds run outside it (two threads missing at once may
    both build; one result is kept).
    """

    def __init__(self, max_entries: int = 4) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise InvalidInputError(f"max_entries must be an integer >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, bytes, _IndexT]] = OrderedDict()
        self._dead: list[tuple[Hashable, Any]] = []  # (key, weakref) of catalogues collected since

    def get(self, catalog: NDArray[Any], options: Hashable, build: Callable[[], _IndexT]) -> _IndexT:
        """The index cached for (``catalog``, ``options``), or ``build()``'s result, cached."""
        data_pointer = catalog.__array_interface__["data"][0]
        key = (id(catalog), data_pointer, catalog.shape, catalog.strides, catalog.dtype.str, options)
        fingerprint = _fingerprint(catalog)
        with self._lock:
            self._purge()
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is catalog and entry[1] == fingerprint:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[2]
            self.misses += 1
        index = build()
        ref = weakref.ref(catalog, partial(self._drop, key))
        with self._lock:
            self._purge()
            self._entries[key] = (ref, fingerprint, index)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return index

    def _drop(self, key: Hashable, ref: Any) -> None:
        """Weak-reference callback: the catalogue is gone. It may run inside any allocation
        (garbage collection), even while this thread holds the lock, so it only records the
        key; :meth:`_purge` removes the entry under the lock later."""
        self._dead.append((key, ref))

    def _purge(self) -> None:
        """Remove entries whose catalogue died (call with the lock held)."""
        while self._dead:
            key, ref = self._dead.pop()
            entry = self._entries.get(key)
            if entry is not None and entry[0] is ref:
                del self._entries[key]

    def clear(self) -> None:
        """Forget every cached index (and reset the hit/miss counters)."""
        with self._lock:
            self._entries.clear()
            self._dead.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._entries)

    def __repr__(self) -> str:
        return f"IndexCache(entries={len(self)}, max_entries={self.max_entries}, hits={self.hits}, misses={self.misses})"


def _fingerprint(catalog: NDArray[Any], samples: int = 64) -> bytes:
    """A hash of up to ``samples`` evenly spaced rows (first and last included) and the shape."""
    rows = catalog.shape[0] if catalog.ndim else 0
    picks: NDArray[np.int64] = np.unique(np.linspace(0, max(rows - 1, 0), num=min(samples, rows)).astype(np.int64))
    digest = hashlib.blake2b(repr(catalog.shape).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(catalog[picks]).tobytes())
    return digest.digest()


def normalize(x: ArrayLike) -> NDArray[np.float32]:
    """Rows of ``x`` (or the vector ``x``) scaled to unit L2 norm, as float32; zero rows stay zero.

    Norms are accumulated in float64, so huge finite values do not overflow.

    Raises:
        InvalidInputError: wrong rank or dtype, zero columns, NaN/inf values.
    """
    arr, single = _as_matrix(x, "x", allow_vector=True)
    out: NDArray[np.float32] = _core.normalize(arr)
    return out[0] if single else out


def cosine_matrix(a: ArrayLike, b: ArrayLike, *, threads: int | None = None) -> NDArray[np.float32]:
    """Dense cosine similarities: ``out[i, j] = cos(a[i], b[j])`` (0 where either is a zero vector).

    ``a`` is ``(m, d)`` or ``(d,)``, ``b`` is ``(n, d)`` or ``(d,)``; a 1-D argument drops its
    axis from the result, as in :func:`numpy.dot`. This materialises ``m x n`` floats: for
    ranking use :func:`topk`, which never does.

    Raises:
        InvalidInputError: wrong rank or dtype, dimension mismatch, NaN/inf values.
    """
    threads = _as_threads(threads)
    a_arr, a_single = _as_matrix(a, "a", allow_vector=True)
    b_arr, b_single = _as_matrix(b, "b", allow_vector=True)
    if a_arr.shape[1] != b_arr.shape[1]:
        raise InvalidInputError(f"dimension mismatch: a has {a_arr.shape[1]} columns but b has {b_arr.shape[1]}")
    out: NDArray[np.float32] = _core.cosine_matrix(a_arr, b_arr, threads)
    if a_single:
        out = out[0]
    if b_single:
        out = out[..., 0]
    return out


def simd_capabilities() -> dict[str, Any]:
    """What this CPU and build support.

    Keys: ``arch``; ``cpu_features`` (feature name -> bool); ``kernels`` (kernels this machine
    can run, each usable as ``coldkit.get_similarity_backend("rust", kernel=name)`` or via the
    ``COLDKIT_KERNEL`` environment variable); ``active`` (the kernel used by default);
    ``threads`` (cores available).
    """
    caps: dict[str, Any] = _core.simd_capabilities()
    return caps


# --------------------------------------------------------------------------------------------
# Validation helpers (shared with the built-in backends).
# --------------------------------------------------------------------------------------------

_NUMERIC_KINDS = frozenset("fiu")


def _as_matrix(x: ArrayLike, name: str, *, allow_vector: bool) -> tuple[NDArray[np.float32], bool]:
    """``x`` as a C-contiguous float32 ``(rows, d)`` array, and whether it was a 1-D vector."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise InvalidInputError(f"{name} is not a rectangular numeric array: {exc}") from exc
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise InvalidInputError(f"{name} must hold real numbers (int or float), got dtype {arr.dtype}")
    single = False
    if arr.ndim == 1 and allow_vector:
        arr, single = arr[np.newaxis, :], True
    elif arr.ndim != 2:
        expected = "2-D (rows, dim) or 1-D (dim,)" if allow_vector else "2-D (rows, dim)"
        raise InvalidInputError(f"{name} must be {expected}, got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name} has 0 columns; vectors need at least one dimension")
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr, single
    wider_float = arr.dtype.kind == "f" and arr.dtype.itemsize > 4
    with np.errstate(over="ignore", invalid="ignore"):
        converted = np.ascontiguousarray(arr, dtype=np.float32)
    if wider_float and _core.find_non_finite(converted) is not None and bool(np.isfinite(arr).all()):
        raise InvalidInputError(f"{name} holds values beyond the float32 range (|x| > 3.4e38)")
    return converted, single


def _require_finite(x: NDArray[np.float32], name: str) -> None:
    where = _core.find_non_finite(x)
    if where is not None:
        row, col = where
        raise InvalidInputError(f"{name} contains NaN or infinite values (first at row {row}, column {col})")


def _as_count(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if count < 1:
        raise InvalidInputError(f"{name} must be >= 1, got {count}")
    return count


def _as_threads(threads: Any) -> int | None:
    if threads is None:
        return None
    count = _as_count(threads, "threads")
    if count > MAX_THREADS:
        raise InvalidInputError(f"threads must be between 1 and {MAX_THREADS} (or None for all cores), got {count}")
    return count


def _as_exclusions(exclude: ExcludeLike, rows: int, n: int, single: bool) -> list[NDArray[np.int64]] | None:
    """Per-query int64 arrays of in-range item indices, or None."""
    if exclude is None:
        return None
    if isinstance(exclude, (str, bytes)):
        raise InvalidInputError("exclude must be a sequence of item indices, not a string")
    entries: Sequence[Any] | NDArray[Any] = [exclude] if single else exclude
    try:
        count = len(entries)
    except TypeError:
        raise InvalidInputError(f"exclude must be a sequence, got {type(exclude).__name__}") from None
    if count != rows:
        raise InvalidInputError(f"exclude must have one entry per query: expected {rows}, got {count}")
    out: list[NDArray[np.int64]] = []
    for i, entry in enumerate(entries):
        label = "exclude" if single else f"exclude[{i}]"
        if entry is None:
            out.append(np.empty(0, dtype=np.int64))
            continue
        try:
            arr = np.asarray(entry)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{label} is not a sequence of item indices: {exc}") from exc
        if arr.size == 0:
            out.append(np.empty(0, dtype=np.int64))
            continue
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise InvalidInputError(
                f"{label} must be a 1-D sequence of integer item indices, got dtype {arr.dtype} shape {arr.shape}"
            )
        low, high = arr.min(), arr.max()
        if low < 0 or high >= n:
            bad = int(low) if low < 0 else int(high)
            raise InvalidInputError(f"{label} contains item index {bad}, outside the catalog range 0..{n}")
        out.append(arr.astype(np.int64, copy=False))
    return out
