"""Exact similarity search: ``topk``, ``cosine_matrix``, ``normalize``, ``simd_capabilities``.

``topk`` validates and converts its arguments once, then hands them to a similarity backend
chosen by name from the plugin registry (``"rust"``: coldkit's compiled core, the default;
``"numpy"``: the reference implementation). Both return identical rankings.

Example::

    >>> import numpy as np, coldkit
    >>> catalog = np.eye(4, dtype=np.float32)
    >>> scores, ids = coldkit.topk([1.0, 0.5, 0.0, 0.0], catalog, k=2)
    >>> ids.tolist()
    [0, 1]
"""

from __future__ import annotations

import operator
from typing import Any, Literal, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coldkit import _core
from coldkit.exceptions import InvalidInputError
from coldkit.plugins.manager import get_similarity_backend
from coldkit.validation import check_k

__all__ = ["Metric", "METRICS", "MAX_THREADS", "topk", "cosine_matrix", "normalize", "simd_capabilities"]

Metric = Literal["cosine", "dot", "pearson"]
METRICS: tuple[str, ...] = ("cosine", "dot", "pearson")
#: Largest ``threads=`` accepted (the core refuses to spawn more).
MAX_THREADS = 1024

ExcludeLike = Union[Sequence[Any], NDArray[np.integer[Any]], None]


def topk(
    queries: ArrayLike,
    catalog: ArrayLike,
    k: int,
    *,
    metric: Metric = "cosine",
    normalized: bool = False,
    exclude: ExcludeLike = None,
    threads: int | None = None,
    backend: str = "rust",
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The ``k`` catalogue rows most similar to each query, best first.

    Args:
        queries: ``(B, d)`` matrix, or one ``(d,)`` vector. Any real dtype; converted to
            C-contiguous float32 once (float32 C-contiguous input is used without a copy).
        catalog: ``(N, d)`` matrix, ``N >= 1``.
        k: how many results per query, ``>= 1``. ``k > N`` returns ``N`` results.
        metric: ``"cosine"`` (zero vectors score 0), ``"dot"`` (inner product) or ``"pearson"``
            (cosine of mean-centred vectors; constant vectors score 0).
        normalized: promise that the inputs are already prepared for the metric (unit rows for
            cosine, centred unit rows for Pearson), which skips the per-row norms. Ignored for
            ``"dot"``. A false promise gives dot-product scores, not an error.
        exclude: item indices that must not be returned (e.g. items the user has seen), applied
            inside the scan. For 2-D ``queries``: one sequence (or None) per query. For a 1-D
            query: a single sequence of indices. Indices must lie in ``0..N``; duplicates are fine.
        threads: ``None`` = all cores, ``1`` = the calling thread only, ``n`` = n threads
            (backends without the ``"threads"`` capability ignore it).
        backend: name of a registered similarity backend (``"rust"``, ``"numpy"``, ...).

    Returns:
        ``(scores, indices)``: float32 and int64 arrays of shape ``(B, min(k, N))`` (or
        ``(min(k, N),)`` for a 1-D query), best first; equal scores are ordered by the lower
        catalogue index, so results are deterministic. When exclusions leave fewer than
        ``min(k, N)`` items, the row ends with padding: index ``-1``, score ``-inf``.

    Raises:
        InvalidInputError: wrong rank, dtype (bool, complex, object...), dimension mismatch,
            empty catalogue, ``k < 1``, NaN/inf values (the message names the array), bad
            ``exclude``, bad ``threads``, unknown metric, or dot products overflowing float32.
        UnknownComponentError: no backend is registered as ``backend``.
    """
    if metric not in METRICS:
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(map(repr, METRICS))}")
    if not isinstance(normalized, (bool, np.bool_)):
        raise InvalidInputError(f"normalized must be True or False, got {normalized!r}")
    k = check_k(k)
    threads = _as_threads(threads)
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
    impl = get_similarity_backend(backend)
    # A backend that rejects NaN/inf itself (the Rust core spots them inside its scan) spares
    # the catalogue a second pass through memory; any other gets checked input.
    if not getattr(impl, "checks_finite", False):
        _require_finite(q, "queries")
        _require_finite(c, "catalog")
    scores, indices = impl.topk(
        q, c, min(k, n), metric=metric, normalized=bool(normalized), exclude=exclusions, threads=threads
    )
    scores = np.asarray(scores, dtype=np.float32)
    indices = np.asarray(indices, dtype=np.int64)
    if single:
        return scores[0], indices[0]
    return scores, indices


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
