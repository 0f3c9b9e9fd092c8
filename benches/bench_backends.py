"""Every registered similarity backend, side by side, on the same data.

The backend list is read from the plugin registry when pytest collects this file
(:func:`backend_names`): coldkit's own (``rust``, ``numpy``, ``int8``, ``bf16``) and whatever
installed plugins register (``faiss-flat``, ``faiss-hnsw`` from ``plugins/coldkit-faiss``, or
yours): install a backend and it is benchmarked, nothing to edit here.

Every case calls ``coldkit.topk(queries, catalog, k, metric, normalized=True, threads=1,
backend=...)`` under ``threadpoolctl.threadpool_limits(1)`` (so BLAS/OpenMP backends run on one
thread too). The first call, which builds and caches an index for backends that have one, is
timed separately (``extra_info["first_call_s"]``); the benchmark rounds then measure searches.

Correctness, in ``extra_info``, against coldkit's numpy backend (an exact float32 scan):

* every backend: ``recall`` (recall@k) and ``ids_equal`` (the fraction of rows whose ids are
  identical), over the timed batch or, when it is smaller, over ``PROBE`` = 64 queries searched
  once more outside the timing;
* exact backends (capability ``"exact"``): ``correct`` = scores equal the reference to 1e-5 and
  ids differ only where scores (nearly) tie; asserted;
* approximate backends (``"approximate"``): ``correct`` = recall@k >= 0.5 (a sanity floor;
  the recall itself is the result).

Data: unit-norm float32 rows shaped like sentence embeddings: a shared mean direction (mean
pairwise cosine about 0.37, as MiniLM title vectors' 0.38) plus variation in a random
``LATENT``-dimensional subspace and a little full-rank noise (real embeddings have a low intrinsic
dimension; on full-rank noise an HNSW graph does far worse, see ``docs/similarity.md``). Queries
are catalogue rows plus a little noise. Seeded by the sizes.

Sizes: tiny by default (CI's ``--benchmark-disable`` run takes seconds); ``COLDKIT_BENCH_FULL=1``
runs 100k x 384 at B = 1 and B = 64, k = 10. The table and chart::

    COLDKIT_BENCH_FULL=1 pytest benches/bench_backends.py --benchmark-only \\
        --benchmark-json=/tmp/backends.json
    python benches/report.py --backends /tmp/backends.json --png docs/backends-benchmark.png
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Iterator

import numpy as np
import pytest

from coldkit.builtins.similarity import NumpyBackend
from coldkit.plugins.manager import get_similarity_backend, registry
from coldkit.similarity import recall_at_k, topk

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
K = 10
#: (N, d, B) per workload.
WORKLOADS = [(100_000, 384, 1), (100_000, 384, 64)] if FULL else [(2_000, 32, 1), (2_000, 32, 16)]
#: Dimension of the subspace the rows vary in (before a little full-rank noise): sentence
#: embeddings have a low intrinsic dimension, and full-rank noise would be the worst case for
#: graph indexes (see docs/similarity.md).
LATENT = 32
#: Queries on which recall and id equality are measured when the timed batch is smaller.
PROBE = 64
#: Relative score difference below which two backends may order items differently.
TIE = 1e-5


def backend_names() -> list[str]:
    """Every similarity backend registered now: built-in and installed plugins' alike."""
    return registry("similarity_backend").names()


BACKENDS = backend_names()  # read at collection time

_catalogs: dict[tuple[int, int], np.ndarray] = {}
_queries: dict[tuple[int, int, int], np.ndarray] = {}
_reference: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
#: (backend, N, d) whose first call on the current catalogue has run: a later B's first call finds the
#: index that call built (the report's "first call (build)" column showed that cached search as a build)
_first_called: set[tuple[str, int, int]] = set()


def workload(key: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(queries (B, d), catalogue (N, d)), unit rows.

    One catalogue per (N, d), the same array object for every B, so index backends build their
    (cached) index once per catalogue; only one catalogue is kept alive at a time.
    """
    n, d, b = key
    if (n, d) not in _catalogs:
        _catalogs.clear()
        _queries.clear()
        _reference.clear()
        _first_called.clear()  # a new catalogue array: every index is built again
        rng = np.random.default_rng(n + d)
        mean = rng.standard_normal(d).astype(np.float32)
        mean /= np.linalg.norm(mean)
        basis = np.linalg.qr(rng.standard_normal((d, LATENT)))[0].astype(np.float32)  # (d, LATENT) orthonormal
        catalog = np.empty((n, d), dtype=np.float32)
        for lo in range(0, n, 100_000):  # float32 chunks: no float64 copy of a big catalogue
            hi = min(n, lo + 100_000)
            latent = rng.standard_normal((hi - lo, LATENT), dtype=np.float32) @ basis.T
            block = latent * np.float32(0.8 / np.sqrt(LATENT))
            block += rng.standard_normal((hi - lo, d), dtype=np.float32) * np.float32(0.1 / np.sqrt(d))
            block += np.float32(0.6) * mean
            catalog[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
        _catalogs[(n, d)] = catalog
    catalog = _catalogs[(n, d)]
    if key not in _queries:
        rng = np.random.default_rng(n + d + b)
        picks = catalog[rng.choice(n, b, replace=False)]
        queries = picks + rng.standard_normal(picks.shape, dtype=np.float32) * np.float32(0.3 / np.sqrt(d))
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        _queries[key] = np.ascontiguousarray(queries, dtype=np.float32)
    return _queries[key], catalog


def reference(key: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The exact float32 top-k (coldkit's numpy backend: matmul + selection)."""
    if key not in _reference:
        q, c = workload(key)
        _reference[key] = NumpyBackend().topk(q, c, K, metric="dot", normalized=True, exclude=None, threads=1)
    return _reference[key]


def correctness(scores: np.ndarray, ids: np.ndarray, want: tuple[np.ndarray, np.ndarray], exact: bool) -> dict[str, Any]:
    """What ``extra_info`` records about one result against the exact scan."""
    want_scores, want_ids = want
    scores, ids = np.atleast_2d(scores), np.atleast_2d(ids)
    recall = recall_at_k(ids, want_ids)
    facts: dict[str, Any] = {
        "recall": recall,
        "ids_equal": float((ids == want_ids).all(axis=1).mean()),
    }
    if exact:
        close = scores.shape == want_scores.shape and np.allclose(scores, want_scores, rtol=0, atol=TIE)
        only_ties = close and bool((np.abs(scores - want_scores)[ids != want_ids] < TIE).all())
        facts["correct"] = bool(close and only_ties)
    else:
        facts["correct"] = recall >= 0.5
    return facts


def metric_for(capabilities: frozenset[str] | Any) -> str | None:
    """Unit-norm data: cosine (with ``normalized=True``) and dot rank alike; take what the backend has."""
    for metric in ("cosine", "dot"):
        if metric in capabilities:
            return metric
    return None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and OpenMP limited to one thread (faiss, numpy), when threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with the test extras
        yield
        return
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", WORKLOADS, ids=[f"N{n}-d{d}-B{b}" for n, d, b in WORKLOADS])
def test_backend(benchmark: Any, backend: str, key: tuple[int, int, int]) -> None:
    spec = registry("similarity_backend").get(backend)
    metric = metric_for(spec.capabilities)
    if metric is None:
        pytest.skip(f"{backend} supports neither cosine nor dot")
    n, d, b = key
    q, c = workload(key)
    want = reference(key)
    impl = get_similarity_backend(backend)
    exact = "exact" in spec.capabilities
    benchmark.group = f"backends N={n} d={d} B={b} k={K}"

    def search() -> tuple[np.ndarray, np.ndarray]:
        return topk(q, c, K, metric=metric, normalized=True, threads=1, backend=impl)  # type: ignore[arg-type]

    cpu_seconds: list[float] = []

    def timed() -> tuple[np.ndarray, np.ndarray]:
        start = time.thread_time()  # CPU time of this thread: robust to a busy shared machine
        out = search()
        cpu_seconds.append(time.thread_time() - start)
        return out

    builds = (backend, n, d) not in _first_called  # else the index of this catalogue is already cached
    _first_called.add((backend, n, d))
    with one_thread():
        start = time.perf_counter()
        search()  # builds (and caches) the index of index backends
        first_call = time.perf_counter() - start
        big = FULL and b >= 64
        scores, ids = benchmark.pedantic(timed, rounds=5 if big else 15 if FULL else 3, iterations=1, warmup_rounds=1)
    facts = correctness(scores, ids, want, exact)
    if b < PROBE:
        # One query says little about recall: also measure it on PROBE queries (not timed).
        probe_key = (n, d, PROBE)
        probe_q, _ = workload(probe_key)
        with one_thread():
            probe = topk(probe_q, c, K, metric=metric, normalized=True, threads=1, backend=impl)  # type: ignore[arg-type]
        probe_facts = correctness(*probe, reference(probe_key), exact)
        facts = {
            "recall": probe_facts["recall"],
            "ids_equal": probe_facts["ids_equal"],
            "correct": facts["correct"] and probe_facts["correct"],
            "probe_queries": PROBE,
        }
    benchmark.extra_info.update(
        {
            "backend": backend,
            "plugin": spec.plugin,
            "kind": "exact" if exact else "approximate" if "approximate" in spec.capabilities else "unknown",
            "metric": metric,
            "N": n,
            "d": d,
            "B": b,
            "k": K,
            "first_call_s": first_call,
            "first_call_builds": builds,
            "cpu_min": min(cpu_seconds) if cpu_seconds else None,
            **facts,
        }
    )
    assert facts["correct"], f"{backend}: {facts}"
