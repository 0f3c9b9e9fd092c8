"""The faiss backends. Built by the factories in :mod:`coldkit_faiss.plugin`; importing this imports faiss.

Both follow coldkit's backend contract (:class:`coldkit.plugins.types.SimilarityBackend`):

* **cosine** = L2-normalise rows (zero rows stay zero, so they score 0) and take inner
  products; ``normalized=True`` skips that, as in :func:`coldkit.topk`. **dot** = raw inner
  products. Pearson is not offered (``coldkit.topk`` says so before calling).
* **Order**: every returned row is sorted by (score descending, index ascending), as coldkit's
  own backends do; faiss's heap alone does not order equal scores.
* **Exclusions**: faiss cannot skip items inside its scan, so a search fetches ``k`` plus the
  largest number of any query's exclusions, drops the excluded and keeps the first ``k``
  (:func:`coldkit.similarity.topk_by_overfetch`); rows left short end with index ``-1`` and
  score ``-inf`` (faiss's own ``-1`` labels get ``-inf`` too).
* **Index cache**: the first search of a catalogue builds a faiss index (for cosine: from a
  normalised copy) and keeps it in the class's :class:`coldkit.similarity.IndexCache` (4
  entries, least recently used evicted), keyed by the catalogue array's identity, shape and a
  content fingerprint: pass the same float32 C-contiguous array again to reuse it. Memory per
  entry: faiss copies the vectors (``4*N*d`` bytes; HNSW adds ``about 8*M*N`` bytes of graph
  links). ``FaissFlatBackend.cache.clear()`` frees them.
* **Threads**: faiss uses its own OpenMP pool (``OMP_NUM_THREADS`` or
  ``faiss.omp_set_num_threads``, process-wide); ``threads=`` is ignored (no ``"threads"``
  capability).
"""

from __future__ import annotations

from typing import Any, Sequence

import faiss
import numpy as np
from numpy.typing import NDArray

from coldkit.exceptions import InvalidInputError
from coldkit.similarity import IndexCache, normalize, recall_at_k, topk, topk_by_overfetch

from coldkit_faiss.plugin import FLAT_CAPABILITIES, HNSW_CAPABILITIES

__all__ = ["FaissFlatBackend", "FaissHNSWBackend"]

Scores = NDArray[np.float32]
Indices = NDArray[np.int64]


def _first_non_finite(x: NDArray[np.float32], name: str) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InvalidInputError(f"{name} contains NaN or infinite values (first at row {row}, column {col})")


class _FaissBackend:
    """What both backends share: preparing vectors, the cache, ordering, exclusions, overflow."""

    name = ""
    checks_finite = True  # the catalogue is checked when its index is built, queries per call
    capabilities: frozenset[str] = frozenset()
    cache: IndexCache[Any]
    #: whether a tie at the cut is completed by fetching more, so that ties go to the lower index (exact scans)
    complete_ties: bool = False

    def _options(self) -> tuple[Any, ...]:
        return ()

    def _new_index(self, d: int) -> Any:
        raise NotImplementedError

    def _search(self, index: Any, queries: NDArray[np.float32], fetch: int) -> tuple[Any, Any]:
        return index.search(queries, fetch)

    def index_for(self, catalog: NDArray[np.float32], *, metric: str, normalized: bool) -> Any:
        """The (cached) faiss index holding ``catalog`` prepared for ``metric``."""
        prepare = metric == "cosine" and not normalized

        def build() -> Any:
            # Checked here, once per build, for both metrics: normalize() rejects NaN/inf too, but
            # its message names its own argument ("x"), not the catalogue.
            _first_non_finite(catalog, "catalog")
            vectors = normalize(catalog) if prepare else catalog
            index = self._new_index(catalog.shape[1])
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            return index

        return self.cache.get(catalog, (type(self).__name__, prepare, *self._options()), build)

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
        del threads  # faiss's OpenMP pool decides
        if metric not in ("cosine", "dot"):
            raise InvalidInputError(
                f"similarity backend {self.name!r} supports metrics 'cosine' and 'dot', not {metric!r}"
            )
        _first_non_finite(queries, "queries")
        index = self.index_for(catalog, metric=metric, normalized=normalized)
        prepared = normalize(queries) if metric == "cosine" and not normalized else queries
        n = catalog.shape[0]

        def search(rows: NDArray[np.float32], fetch: int) -> tuple[Scores, Indices]:
            scores, ids = ordered(rows, fetch)
            wider = fetch
            # An exact scan breaks ties by the lower index (coldkit's contract): faiss keeps whichever tied items
            # its heap met first, so a tie at the cut could drop lower indices (conformance kit, exact integer
            # ties). While a row's last fetched score still equals its cut score, the tie may go on: fetch more.
            while self.complete_ties and wider < n and fetch > 0:
                cut, edge = scores[:, fetch - 1], scores[:, wider - 1]
                if not bool(np.any((edge == cut) & np.isfinite(cut))):
                    break
                wider = min(n, 2 * wider)
                scores, ids = ordered(rows, wider)
            return scores[:, :fetch], ids[:, :fetch]

        def ordered(rows: NDArray[np.float32], fetch: int) -> tuple[Scores, Indices]:
            raw_scores, raw_ids = self._search(index, rows, fetch)
            ids = np.asarray(raw_ids, dtype=np.int64)
            scores = np.asarray(raw_scores, dtype=np.float32).copy()
            missing = ids < 0
            scores[missing] = -np.inf
            if not np.isfinite(scores[~missing]).all():
                raise InvalidInputError(
                    "scores overflow float32: the vectors are finite but too large; scale them down or use metric='cosine'"
                )
            # coldkit's order: score descending, then the lower index (padding last).
            order = np.lexsort((np.where(missing, n, ids), -scores), axis=-1)
            return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)

        return topk_by_overfetch(search, prepared, k, exclude, n)


class FaissFlatBackend(_FaissBackend):
    """``faiss.IndexFlatIP``: an exact scan (faiss's SIMD loop for small batches, BLAS from
    ``blas_threshold`` queries, default 20: faiss's value before 1.8).

    Exact: the same ids as coldkit's exact scan, ties at the k-th place to the lower index (a tie at the cut
    is fetched whole), except among items whose scores nearly tie (faiss sums in another order, so scores
    differ by about 1e-7).
    """

    name = "faiss-flat"
    capabilities = FLAT_CAPABILITIES
    complete_ties = True
    cache: IndexCache[Any] = IndexCache(max_entries=4)

    def __init__(self, blas_threshold: int = 20) -> None:
        if isinstance(blas_threshold, bool) or not isinstance(blas_threshold, (int, np.integer)) or blas_threshold < 1:
            raise InvalidInputError(f"blas_threshold must be an integer >= 1, got {blas_threshold!r}")
        self.blas_threshold = int(blas_threshold)

    def _new_index(self, d: int) -> Any:
        return faiss.IndexFlatIP(d)

    def _search(self, index: Any, queries: NDArray[np.float32], fetch: int) -> tuple[Any, Any]:
        # faiss >= 1.8 defaults distance_compute_blas_threshold to 128000 queries, so a batch of
        # 64 runs its per-pair loop, ~9x slower than its BLAS path (measured at 100k x 384).
        # The knob is process-wide: set it for this search, then put the old value back (another
        # thread's concurrent faiss search may see either value; only its speed differs).
        previous = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = self.blas_threshold
        try:
            return index.search(queries, fetch)
        finally:
            faiss.cvar.distance_compute_blas_threshold = previous


class FaissHNSWBackend(_FaissBackend):
    """``faiss.IndexHNSWFlat`` with inner product: approximate graph search, for catalogues
    where an exact scan is too slow.

    Args:
        M: graph links per node (memory ``about 8*M`` bytes a row; more = better recall, slower build).
        efConstruction: candidate list size while building (more = better graph, slower build).
        efSearch: candidate list size while searching (more = better recall, slower search);
            a search of ``k`` results uses at least ``k``.

    Defaults: ``M=32, efConstruction=40`` (faiss's own efConstruction), ``efSearch=64``; their
    recall@10 on the benchmark's 100k x 384 vectors is in ``docs/similarity.md``. Measure your
    own data with :meth:`recall_at_k`.
    """

    name = "faiss-hnsw"
    capabilities = HNSW_CAPABILITIES
    cache: IndexCache[Any] = IndexCache(max_entries=4)

    def __init__(self, M: int = 32, efConstruction: int = 40, efSearch: int = 64) -> None:  # noqa: N803 - faiss's names
        for label, value in (("M", M), ("efConstruction", efConstruction), ("efSearch", efSearch)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInputError(f"{label} must be an integer >= 1, got {value!r}")
        if M < 2:
            raise InvalidInputError(f"M must be >= 2, got {M}")
        self.M, self.efConstruction, self.efSearch = int(M), int(efConstruction), int(efSearch)

    def _options(self) -> tuple[Any, ...]:
        return (self.M, self.efConstruction)  # efSearch is a search-time setting

    def _new_index(self, d: int) -> Any:
        index = faiss.IndexHNSWFlat(d, self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.efConstruction
        return index

    def _search(self, index: Any, queries: NDArray[np.float32], fetch: int) -> tuple[Any, Any]:
        # Per-call parameters, so instances with different efSearch can share a cached index.
        params = faiss.SearchParametersHNSW(efSearch=max(self.efSearch, fetch))  # type: ignore[attr-defined]
        return index.search(queries, fetch, params=params)

    def recall_at_k(
        self,
        queries: Any,
        catalog: Any,
        k: int,
        *,
        metric: str = "cosine",
        normalized: bool = False,
        exclude: Any = None,
    ) -> float:
        """Recall@k of this backend against coldkit's exact scan on the same call.

        Runs both searches (this one through :func:`coldkit.topk`, so with the same validation)
        and returns the mean fraction of the exact top-k ids found (:func:`coldkit.similarity.recall_at_k`).
        """
        options: dict[str, Any] = {"metric": metric, "normalized": normalized, "exclude": exclude}
        _, found = topk(queries, catalog, k, backend=self, **options)
        _, exact = topk(queries, catalog, k, backend="rust", **options)
        return recall_at_k(found, exact)
