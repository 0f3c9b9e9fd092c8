"""Built-in similarity backends: ``rust`` (the compiled core, default), ``numpy`` (reference),
``int8`` and ``bf16`` (the compressed index of :mod:`coldkit.quantized`, exact float32 re-rank)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numpy.typing import NDArray

from coldkit._lists import as_csr
from coldkit.exceptions import InvalidInputError
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import SimilarityBackendSpec
from coldkit.similarity import IndexCache, _require_finite

if TYPE_CHECKING:
    from coldkit.quantized import QuantizedIndex

#: Environment variable read on every call by :class:`RustBackend` (when no ``kernel=`` was
#: given) to force a kernel: ``scalar``, ``avx2``, ``avx512``, ``neon`` or ``auto``.
KERNEL_ENV = "COLDKIT_KERNEL"

Scores = NDArray[np.float32]
Indices = NDArray[np.int64]


class RustBackend:
    """coldkit's compiled core: SIMD kernels, a fused exact top-k scan, rayon threads.

    Args:
        kernel: force a kernel (``"scalar"``, ``"avx2"``, ``"avx512"``, ``"neon"``); ``None``
            reads ``COLDKIT_KERNEL`` at each call and falls back to the best the CPU supports.
            See :func:`coldkit.simd_capabilities`.

    The core rejects NaN/inf itself (spotted inside the scan, no extra pass over the
    catalogue), hence ``checks_finite = True``: :func:`coldkit.topk` skips its own check.
    """

    name = "rust"
    checks_finite = True

    def __init__(self, kernel: str | None = None) -> None:
        if kernel is not None and not isinstance(kernel, str):
            raise InvalidInputError(f"kernel must be a kernel name or None, got {kernel!r}")
        if kernel is not None:  # an unknown or unsupported kernel is named here, not at the first search
            from coldkit import _core

            one = np.ones((1, 1), dtype=np.float32)
            _core.topk(one, one, 1, "dot", False, None, None, 1, kernel)
        self.kernel = kernel

    def topk(
        self,
        queries: NDArray[np.float32],
        catalog: NDArray[np.float32],
        k: int,
        *,
        metric: str,
        normalized: bool,
        exclude: Sequence[NDArray[np.int64]] | None,
        threads: int | None,
    ) -> tuple[Scores, Indices]:
        """See :class:`coldkit.plugins.types.SimilarityBackend` (validated arguments)."""
        from coldkit import _core

        kernel = self.kernel or os.environ.get(KERNEL_ENV) or None
        indptr: Indices | None = None
        indices: Indices | None = None
        if exclude is not None:
            indptr, indices = as_csr(exclude)
        scores, ids = _core.topk(queries, catalog, k, metric, normalized, indptr, indices, threads, kernel)
        return scores, ids


class NumpyBackend:
    """The reference implementation: matmul + argpartition, with coldkit's exact semantics.

    Scores a block of queries at a time (``block_scores`` floats at most per block) so memory
    stays bounded for large catalogues. Uses whatever threads numpy's BLAS uses.
    """

    name = "numpy"
    checks_finite = False

    def __init__(self, block_scores: int = 1 << 24) -> None:
        if block_scores < 1:
            raise InvalidInputError(f"block_scores must be >= 1, got {block_scores}")
        self.block_scores = int(block_scores)

    def topk(
        self,
        queries: NDArray[np.float32],
        catalog: NDArray[np.float32],
        k: int,
        *,
        metric: str,
        normalized: bool,
        exclude: Sequence[NDArray[np.int64]] | None,
        threads: int | None,
    ) -> tuple[Scores, Indices]:
        """See :class:`coldkit.plugins.types.SimilarityBackend` (validated arguments)."""
        del threads  # numpy's BLAS decides
        b, n = queries.shape[0], catalog.shape[0]
        k = min(k, n)
        prepare = metric != "dot" and not normalized
        centre = metric == "pearson"
        q = _prepared_rows(queries, centre) if prepare else queries
        scale = _inverse_norms(catalog, centre) if prepare else None
        scores = np.empty((b, k), dtype=np.float32)
        indices = np.empty((b, k), dtype=np.int64)
        step = max(1, self.block_scores // n)
        for lo in range(0, b, step):
            hi = min(b, lo + step)
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected just below
                block = q[lo:hi] @ catalog.T
                if scale is not None:
                    block *= scale
            if not np.isfinite(block).all():
                block = self._overflow_fallback(q[lo:hi], queries[lo:hi], catalog, metric, prepare, centre)
            excluded = None if exclude is None else exclude[lo:hi]
            scores[lo:hi], indices[lo:hi] = select_topk(block, k, excluded)
        return scores, indices

    @staticmethod
    def _overflow_fallback(
        q: NDArray[np.float32],
        raw_q: NDArray[np.float32],
        catalog: NDArray[np.float32],
        metric: str,
        prepare: bool,
        centre: bool,
    ) -> NDArray[np.float32]:
        # Inputs are finite, so a non-finite score is float32 overflow of the raw inner product.
        if not prepare:
            raise InvalidInputError(
                "scores overflow float32: the vectors are finite but too large; scale them down or use metric='cosine'"
            )
        prepared = _prepared_rows(raw_q, centre).astype(np.float64) @ _prepared_rows(catalog, centre).T.astype(
            np.float64
        )
        return prepared.astype(np.float32)


class QuantizedBackend:
    """The compressed index as a backend: int8 or bf16 codes, shortlist, exact float32 re-rank.

    The first search of a catalogue builds a :class:`coldkit.quantized.QuantizedIndex` (its
    catalogue is checked for NaN/inf then, once) and caches it in :attr:`cache`, shared by every
    instance of the class: later searches of the same float32 C-contiguous array reuse it. The
    cache holds at most 4 indexes (least recently used evicted); each holds its codes (int8:
    ``N*d + 8*N`` bytes; bf16: ``2*N*d``) and a reference to the float32 catalogue it re-ranks
    against, which therefore stays alive while cached. ``cache.clear()`` frees them.

    Results equal the exact float32 scan whenever the true top-k lies in the shortlist (see
    ``docs/quantized.md``): ids can differ from the ``rust`` backend's only among items whose
    float32 scores tie, or nearly tie (within about 1e-7), at the k-th place.

    Args:
        kind: ``"int8"`` or ``"bf16"``.
        scale: int8 only: ``"per-vector"`` (default) or ``"per-dimension"``.
        shortlist: candidates re-ranked per query (default ``max(4k, k + 32)``).
        kernel: force a quantised kernel (see :func:`coldkit.quantized.quantized_capabilities`).
    """

    checks_finite = True
    #: Indexes built so far, shared by all instances: (catalogue, options) -> QuantizedIndex.
    cache: IndexCache[QuantizedIndex] = IndexCache(max_entries=4)

    def __init__(
        self, kind: str = "int8", *, scale: str = "per-vector", shortlist: int | None = None, kernel: str | None = None
    ) -> None:
        from coldkit.quantized import KINDS, SCALES

        if kind not in KINDS:
            raise InvalidInputError(f"unknown kind {kind!r}; expected one of {', '.join(map(repr, KINDS))}")
        if scale not in SCALES:
            raise InvalidInputError(f"unknown scale {scale!r}; expected one of {', '.join(map(repr, SCALES))}")
        if shortlist is not None and (isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1):
            raise InvalidInputError(f"shortlist must be an integer >= 1 or None, got {shortlist!r}")
        if kernel is not None and not isinstance(kernel, str):
            raise InvalidInputError(f"kernel must be a kernel name or None, got {kernel!r}")
        if kernel is not None:  # an unknown or unsupported kernel is named here, not at the first search
            from coldkit.quantized import QuantizedIndex

            one = np.ones((1, 1), dtype=np.float32)
            QuantizedIndex(one, kind, kernel=kernel)  # type: ignore[arg-type]  # (it checks its kernel when built)
        self.name = kind
        self.kind = kind
        self.scale = scale if kind == "int8" else "per-vector"
        self.shortlist = shortlist
        self.kernel = kernel

    def index_for(
        self, catalog: NDArray[np.float32], *, metric: str, normalized: bool, threads: int | None = None
    ) -> "QuantizedIndex":
        """The (cached) compressed index of ``catalog`` for ``metric``."""
        from coldkit.quantized import QuantizedIndex

        normalized = bool(normalized) and metric == "cosine"  # the promise only matters for cosine
        options = (self.kind, self.scale, metric, normalized, self.kernel)
        return self.cache.get(
            catalog,
            options,
            lambda: QuantizedIndex(
                catalog, self.kind, scale=self.scale, metric=metric, normalized=normalized,  # type: ignore[arg-type]
                threads=threads, kernel=self.kernel,
            ),
        )

    def topk(
        self,
        queries: NDArray[np.float32],
        catalog: NDArray[np.float32],
        k: int,
        *,
        metric: str,
        normalized: bool,
        exclude: Sequence[NDArray[np.int64]] | None,
        threads: int | None,
    ) -> tuple[Scores, Indices]:
        """See :class:`coldkit.plugins.types.SimilarityBackend` (validated arguments)."""
        if metric not in ("cosine", "dot"):
            raise InvalidInputError(
                f"similarity backend {self.name!r} supports metrics 'cosine' and 'dot', not {metric!r}"
            )
        _require_finite(queries, "queries")  # the catalogue is checked when its index is built
        index = self.index_for(catalog, metric=metric, normalized=normalized, threads=threads)
        shortlist = None if self.shortlist is None else max(self.shortlist, k)
        return index.search(queries, k, shortlist=shortlist, exclude=exclude, threads=threads)


def select_topk(
    scores: NDArray[np.float32], k: int, exclude: Sequence[NDArray[np.int64]] | None = None
) -> tuple[Scores, Indices]:
    """Top ``k`` of each row of a dense score matrix: best first, ties by lower index.

    Excluded columns never appear; rows left with fewer than ``k`` candidates are padded
    with index ``-1`` and score ``-inf``. ``scores`` is modified in place (exclusions).
    """
    b, n = scores.shape
    valid = np.full(b, n, dtype=np.int64)
    if exclude is not None:
        for row, excluded in enumerate(exclude):
            if len(excluded):
                unique = np.unique(excluded)
                scores[row, unique] = -np.inf
                valid[row] -= len(unique)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (b, n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    # argpartition breaks ties at the k-th value arbitrarily; redo rows where it had a choice.
    kth = vals.min(axis=1)
    ambiguous = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
    for ambiguous_row in ambiguous:
        r = int(ambiguous_row)
        candidates = np.flatnonzero(scores[r] >= kth[r])
        order = np.lexsort((candidates, -scores[r, candidates]))[:k]
        part[r] = candidates[order]
        vals[r] = scores[r, part[r]]
    order = np.lexsort((part, -vals), axis=-1)
    out_idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    out_scores = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    pad = np.arange(k)[None, :] >= valid[:, None]
    out_idx[pad] = -1
    out_scores[pad] = -np.inf
    return out_scores, out_idx


def _prepared_rows(x: NDArray[np.float32], centre: bool) -> NDArray[np.float32]:
    """Rows centred (Pearson) and scaled to unit length; zero rows stay zero (norms in float64)."""
    x64 = x.astype(np.float64)
    if centre:
        x64 -= x64.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", x64, x64))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (x64 * inv[:, None]).astype(np.float32)


def _inverse_norms(x: NDArray[np.float32], centre: bool) -> NDArray[np.float32]:
    """1/|row| (1/|row - mean| for Pearson), 0 for zero rows, computed in float64."""
    if centre:
        # Two-pass (subtract the mean first) to avoid cancellation for near-constant rows.
        x64 = x.astype(np.float64)
        x64 -= x64.mean(axis=1, keepdims=True)
        ss = np.einsum("ij,ij->i", x64, x64)
    else:
        ss = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    norms = np.sqrt(ss)
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)


def _quantized_factory(kind: str) -> Any:
    """The factory of the ``kind`` backend: its kind is its name (``kind=`` as an option was a bare TypeError,
    "got multiple values for argument 'kind'")."""

    def build(**options: Any) -> QuantizedBackend:
        if "kind" in options:
            raise InvalidInputError(
                f"the {kind!r} backend's kind is its name: drop kind= (for {options['kind']!r:.20} codes ask for the "
                "backend of that name, get_similarity_backend('int8') or get_similarity_backend('bf16'))"
            )
        return QuantizedBackend(kind, **options)

    return build


@hookimpl
def coldkit_similarity_backends() -> list[SimilarityBackendSpec]:
    caps = {"cosine", "dot", "pearson", "exclude", "exact"}
    return [
        SimilarityBackendSpec(
            name="rust",
            description="coldkit's Rust core: SIMD kernels, fused exact top-k scan, rayon threads",
            factory=lambda **options: RustBackend(**options),
            capabilities=frozenset(caps | {"threads"}),
        ),
        SimilarityBackendSpec(
            name="numpy",
            description="NumPy reference: matmul + argpartition, same semantics as 'rust'",
            factory=lambda **options: NumpyBackend(**options),
            capabilities=frozenset(caps),
        ),
        SimilarityBackendSpec(
            name="int8",
            description="compressed index: int8 codes (4x smaller), SIMD shortlist, exact float32 re-rank",
            factory=_quantized_factory("int8"),
            capabilities=frozenset({"cosine", "dot", "exclude", "threads", "exact", "index"}),
        ),
        SimilarityBackendSpec(
            name="bf16",
            description="compressed index: bfloat16 codes (2x smaller), SIMD shortlist, exact float32 re-rank",
            factory=_quantized_factory("bf16"),
            capabilities=frozenset({"cosine", "dot", "exclude", "threads", "exact", "index"}),
        ),
    ]
