"""Exact top-k throughput of the Rust core against its bounds: numpy, faiss, memory bandwidth, sgemm.

This file measures the float32 kernels against fixed baselines and machine bounds (thread
scaling, a streaming read, sgemm). The comparison of *every registered backend* (int8, bf16,
plugins such as faiss-flat / faiss-hnsw) on the same data is ``bench_backends.py``.

Backends (the ``backend`` parameter):

* ``rust``: ``coldkit.topk(..., normalized=True, threads=1)``;
* ``rust-2t``: the same with ``threads=2`` (thread scaling);
* ``numpy``: coldkit's numpy reference backend, BLAS limited to one thread;
* ``faiss``: ``faiss.IndexFlatIP`` with ``faiss.omp_set_num_threads(1)`` and
  ``faiss.cvar.distance_compute_blas_threshold = 2`` so every batch (B >= 2) uses BLAS;
* ``stream-read``: one streaming read of the catalogue (coldkit's branch-free NaN/inf scan),
  the memory-bandwidth bound a single query cannot beat (B = 1 groups only);
* ``sgemm``: numpy's single-threaded ``queries @ catalog.T`` alone, without any selection
  (the FLOP rate BLAS reaches; large-batch groups only).

Workloads are unit-norm float32 vectors, k = 10, plus the hybrid's deep lists: k = 200 out of a pool
of 2,700 candidates for a batch of 512 users (each source hands the fusion its top 200; there the
selection, not the scan, is most of the work). One ``benchmark.group`` per workload
(``N=... d=... B=... k=...``); ``extra_info`` records the backend, the sizes and whether the
result matched numpy's (asserted, too), and ``cpu_min``: the least CPU time of a round (the
calling thread's for single-threaded backends), which a busy shared machine distorts far less
than wall time. Print the ratio table with::

    COLDKIT_BENCH_FULL=1 pytest benches/bench_similarity.py --benchmark-only \\
        --benchmark-json=/tmp/sim.json
    python benches/report.py /tmp/sim.json

Sizes: tiny by default, so CI's ``--benchmark-disable`` run takes seconds;
``COLDKIT_BENCH_FULL=1`` runs the targets' sizes (100k and 1M x 384; B = 1, 64, 1024; the deep lists at
d = 64 and 384).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable

import numpy as np
import pytest

import coldkit
from coldkit import _core
from coldkit.builtins.similarity import NumpyBackend

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
K = 10
DEEP_K = 200  # the hybrid's depth (coldkit.models.blend.DEFAULT_DEPTH)

# (N, d, B, k) per workload.
if FULL:
    WORKLOADS = [
        (100_000, 384, 1, K), (1_000_000, 384, 1, K), (100_000, 384, 64, K), (100_000, 384, 1024, K),
        (2_700, 64, 512, DEEP_K), (2_700, 384, 512, DEEP_K),
    ]  # fmt: skip
else:
    WORKLOADS = [(2_000, 32, 1, K), (2_000, 32, 64, K), (600, 16, 64, DEEP_K)]
BACKENDS = ["rust", "rust-2t", "numpy", "faiss", "stream-read", "sgemm"]

_data: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
_reference: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}


def unit_rows(rng: np.random.Generator, rows: int, d: int) -> np.ndarray:
    x = rng.standard_normal((rows, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def workload(key: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    # Keep only one workload's data alive: 1M x 384 float32 is 1.5 GB.
    if key not in _data:
        _data.clear()
        n, d, b = key
        rng = np.random.default_rng(n + d + b)
        _data[key] = (unit_rows(rng, b, d), unit_rows(rng, n, d))
    return _data[key]


def reference(key: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    if key not in _reference:
        q, c = workload(key[:3])
        _reference[key] = NumpyBackend().topk(q, c, key[3], metric="dot", normalized=True, exclude=None, threads=None)
    return _reference[key]


def agrees(scores: np.ndarray, ids: np.ndarray, key: tuple[int, int, int, int]) -> bool:
    """Scores equal numpy's at every rank and ids agree except where scores (nearly) tie."""
    ref_scores, ref_ids = reference(key)
    if scores.shape != ref_scores.shape or not np.allclose(scores, ref_scores, atol=1e-4):
        return False
    differ = ids != ref_ids
    return bool((np.abs(scores - ref_scores)[differ] < 1e-4).all())


def runner(backend: str, q: np.ndarray, c: np.ndarray, k: int = K) -> Callable[[], Any] | None:
    """A zero-argument callable doing one search, or None if the backend does not apply."""
    b, d = q.shape
    if backend in ("rust", "rust-2t"):
        threads = 2 if backend == "rust-2t" else 1
        return lambda: coldkit.topk(q, c, k, metric="dot", normalized=True, threads=threads)
    if backend == "numpy":  # BLAS held to one thread around the whole benchmark (see one_blas_thread)
        numpy_backend = NumpyBackend()
        return lambda: numpy_backend.topk(q, c, k, metric="dot", normalized=True, exclude=None, threads=1)
    if backend == "faiss":
        faiss = pytest.importorskip("faiss")
        faiss.omp_set_num_threads(1)
        faiss.cvar.distance_compute_blas_threshold = 2
        index = faiss.IndexFlatIP(d)
        index.add(c)
        return lambda: index.search(q, k)
    if backend == "stream-read":
        return (lambda: (_core.find_non_finite(c), None)) if b == 1 else None
    if backend == "sgemm":
        if b < 64:
            return None
        return lambda: (q @ c.T, None)
    raise AssertionError(backend)


def one_blas_thread(backend: str) -> Any:
    """BLAS limited to one thread for the numpy baselines, set once around the timed rounds: entered inside each
    call (threadpoolctl), it added 0.5-1.5 ms to every numpy search and none to rust's (a 2,000 x 32 search read
    15x faster in rust for 1.7x)."""
    if backend not in ("numpy", "sgemm"):
        return contextlib.nullcontext()
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return threadpoolctl.threadpool_limits(1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", WORKLOADS, ids=[f"N{n}-d{d}-B{b}-k{k}" for n, d, b, k in WORKLOADS])
def test_topk_throughput(benchmark: Any, key: tuple[int, int, int, int], backend: str) -> None:
    n, d, b, k = key
    if backend == "sgemm" and b * n * 4 > 1 << 30:
        pytest.skip("score matrix too large")
    q, c = workload((n, d, b))
    run = runner(backend, q, c, k)
    if run is None:
        pytest.skip(f"{backend} does not apply to B={b}")
    benchmark.group = f"N={n} d={d} B={b} k={k}"
    benchmark.extra_info.update({"backend": backend, "N": n, "d": d, "B": b, "k": k})
    big = FULL and (b >= 64 or n >= 1_000_000)
    # Also record CPU time: on a shared machine, time spent descheduled inflates wall time.
    # Single-threaded backends: the calling thread's CPU time; rust-2t: the process's (its
    # total work, comparable only to itself).
    clock = time.process_time if backend == "rust-2t" else time.thread_time
    cpu_seconds: list[float] = []

    def timed() -> Any:
        start = clock()
        out = run()
        cpu_seconds.append(clock() - start)
        return out

    with one_blas_thread(backend):
        result = benchmark.pedantic(timed, rounds=3 if big else 10, iterations=1, warmup_rounds=1)
    benchmark.extra_info["cpu_min"] = min(cpu_seconds)
    if backend in ("rust", "rust-2t", "numpy", "faiss"):
        scores, ids = result
        ok = agrees(np.asarray(scores, np.float32), np.asarray(ids, np.int64), key)
        benchmark.extra_info["correct"] = ok
        assert ok, f"{backend} disagrees with the numpy reference"
    else:
        benchmark.extra_info["correct"] = True
