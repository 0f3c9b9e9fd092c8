"""Quantised index throughput: int8 / bf16 shortlist + exact float32 re-rank vs float32 scans.

Backends (the ``backend`` parameter), all single-threaded, k = 10, one query per call (B = 1):

* ``int8``: ``QuantizedIndex(kind="int8", scale="per-vector")`` (VNNI where present), default
  shortlist (``max(4k, k + 32)`` = 42), exact float32 re-rank;
* ``int8-perdim``: the same with ``scale="per-dimension"``;
* ``bf16``: ``QuantizedIndex(kind="bf16")`` (AVX-512 BF16 where present);
* ``coldkit-f32``: ``coldkit.topk(..., normalized=True, threads=1)``, coldkit's exact float32 scan;
* ``faiss``: ``faiss.IndexFlatIP`` with ``faiss.omp_set_num_threads(1)``.

Data: unit-norm float32 vectors with the anisotropy of real sentence embeddings: every row is
``0.6 * m + 0.8 * g / sqrt(d)`` (then normalised), with one shared mean direction ``m`` and
Gaussian noise ``g``, so rows have a mean pairwise cosine of about 0.36 (measured; MiniLM vectors
of MovieLens "title. genres" texts: 0.38) instead of the 0 of isotropic noise, which is what makes
quantisation errors matter for ranking. Queries are catalogue rows plus a little noise (their
nearest neighbours are close, as for "more like this" queries).

Every round searches the same ``QUERIES`` queries one at a time; each result is checked against
``coldkit.topk`` (exact float32): identical ids (except exact-score near-ties) and scores equal
to 1e-6. ``extra_info`` records queries/s; the last test prints the ratios from the same run::

    COLDKIT_BENCH_FULL=1 pytest benches/bench_quantized.py -s   # not --benchmark-only: it skips the report

Sizes: tiny by default, so CI's ``--benchmark-disable`` run takes seconds; ``COLDKIT_BENCH_FULL=1``
runs 100k x 384 and 1M x 384.

The shortlist table of ``docs/quantized.md`` (smallest shortlist giving the exact top-k, per
query) comes from ``python benches/bench_quantized.py --shortlist`` (needs the bert plugin and
``/work/shared/data``-style MovieLens data next to the repository).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np
import pytest

import coldkit
from coldkit.quantized import QuantizedIndex, default_shortlist, quantized_capabilities

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
K = 10
QUERIES = 20 if FULL else 4
WORKLOADS = [(100_000, 384), (1_000_000, 384)] if FULL else [(5_000, 48)]
BACKENDS = ["int8", "int8-perdim", "bf16", "coldkit-f32", "faiss"]

_data: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
_reference: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
#: (workload, backend) -> best seconds per query, for the closing ratio table.
_results: dict[tuple[tuple[int, int], str], float] = {}


def anisotropic_unit_rows(rng: np.random.Generator, rows: int, d: int, mean: np.ndarray) -> np.ndarray:
    """``0.6 * mean + 0.8 * noise / sqrt(d)``, normalised; built in float32 chunks (1M x 384 = 1.5 GB)."""
    out = np.empty((rows, d), dtype=np.float32)
    for lo in range(0, rows, 100_000):
        hi = min(rows, lo + 100_000)
        block = rng.standard_normal((hi - lo, d), dtype=np.float32) * np.float32(0.8 / np.sqrt(d))
        block += np.float32(0.6) * mean
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[lo:hi] = block
    return out


def workload(key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if key not in _data:
        _data.clear()  # one workload alive at a time
        n, d = key
        rng = np.random.default_rng(n + d)
        mean = rng.standard_normal(d).astype(np.float32)
        mean /= np.linalg.norm(mean)
        catalog = anisotropic_unit_rows(rng, n, d, mean)
        picks = catalog[rng.choice(n, QUERIES, replace=False)]
        queries = picks + rng.standard_normal(picks.shape, dtype=np.float32) * np.float32(0.3 / np.sqrt(d))
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        _data[key] = (queries.astype(np.float32), catalog)
    return _data[key]


def reference(key: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    if key not in _reference:
        queries, catalog = workload(key)
        _reference[key] = [coldkit.topk(q, catalog, K, metric="dot", normalized=True, threads=1) for q in queries]
    return _reference[key]


def exact(results: list[tuple[np.ndarray, np.ndarray]], key: tuple[int, int]) -> bool:
    """Every query's (scores, ids) equal the exact float32 top-k (ids may differ only at near-ties)."""
    for (scores, ids), (want_s, want_i) in zip(results, reference(key)):
        scores, ids = np.asarray(scores, np.float32).ravel(), np.asarray(ids, np.int64).ravel()
        if not np.allclose(scores, want_s, rtol=0, atol=1e-6):
            return False
        if not (np.abs(scores - want_s)[ids != want_i] < 1e-6).all():
            return False
    return True


def runner(backend: str, queries: np.ndarray, catalog: np.ndarray) -> tuple[Callable[[], Any], dict[str, Any]]:
    """A zero-argument callable searching every query one at a time, and facts to record."""
    if backend in ("int8", "int8-perdim", "bf16"):
        kind = "bf16" if backend == "bf16" else "int8"
        scale = "per-dimension" if backend == "int8-perdim" else "per-vector"
        index = QuantizedIndex(catalog, kind, scale=scale, metric="dot", normalized=True)  # type: ignore[arg-type]
        info = {
            "kernel": index.kernel,
            "shortlist": default_shortlist(K),
            "index_bytes": index.nbytes,
            "bytes_per_row": index.nbytes / catalog.shape[0],
        }
        return (lambda: [index.search(q, K, threads=1) for q in queries]), info
    if backend == "coldkit-f32":
        kernel = coldkit.simd_capabilities()["active"]
        return (lambda: [coldkit.topk(q, catalog, K, metric="dot", normalized=True, threads=1) for q in queries]), {
            "kernel": kernel,
            "index_bytes": catalog.nbytes,
        }
    if backend == "faiss":
        faiss = pytest.importorskip("faiss")
        faiss.omp_set_num_threads(1)
        index = faiss.IndexFlatIP(catalog.shape[1])
        index.add(catalog)
        return (lambda: [index.search(q[None, :], K) for q in queries]), {"index_bytes": catalog.nbytes}
    raise AssertionError(backend)


@pytest.mark.parametrize("key", WORKLOADS, ids=[f"N{n}-d{d}" for n, d in WORKLOADS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_quantized_throughput(benchmark: Any, key: tuple[int, int], backend: str) -> None:
    n, d = key
    queries, catalog = workload(key)
    reference(key)  # computed outside the timed rounds
    run, info = runner(backend, queries, catalog)
    benchmark.group = f"quantized N={n} d={d} B=1 k={K}"
    benchmark.extra_info.update({"backend": backend, "N": n, "d": d, "B": 1, "k": K, "queries": QUERIES, **info})
    cpu_seconds: list[float] = []

    def timed() -> Any:
        start = time.thread_time()  # CPU time of this thread: robust to a busy shared machine
        out = run()
        cpu_seconds.append(time.thread_time() - start)
        return out

    results = benchmark.pedantic(timed, rounds=5 if FULL else 2, iterations=1, warmup_rounds=1)
    ok = exact(results, key)
    benchmark.extra_info["exact"] = ok
    assert ok, f"{backend} is not the exact float32 top-{K}"
    best_cpu = min(cpu_seconds)
    benchmark.extra_info["cpu_min_per_query"] = best_cpu / QUERIES
    if benchmark.stats is not None:  # None under --benchmark-disable
        best_wall = benchmark.stats.stats.min / QUERIES
        benchmark.extra_info["queries_per_s"] = 1.0 / best_wall
        _results[(key, backend)] = best_wall
    else:
        _results[(key, backend)] = best_cpu / QUERIES


def test_zz_report_ratios() -> None:
    """Print queries/s and the target ratios measured in this run (no timing assertion)."""
    if not _results:
        pytest.skip("no throughput measured in this run")
    caps = quantized_capabilities()
    lines = [
        f"quantised kernels: int8={caps['int8']['active']} bf16={caps['bf16']['active']}; "
        f"float32: {coldkit.simd_capabilities()['active']}; shortlist={default_shortlist(K)}"
    ]
    for key in WORKLOADS:
        row = {b: _results[(key, b)] for b in BACKENDS if (key, b) in _results}
        if not row:
            continue
        lines.append(f"N={key[0]} d={key[1]} B=1 k={K}: " + ", ".join(f"{b} {1 / s:,.0f} q/s" for b, s in row.items()))
        for fast in ("int8", "int8-perdim", "bf16"):
            if fast in row and "faiss" in row and "coldkit-f32" in row:
                lines.append(
                    f"    {fast}: {row['faiss'] / row[fast]:.2f}x faiss IndexFlatIP (target >= 2x), "
                    f"{row['coldkit-f32'] / row[fast]:.2f}x coldkit float32 (target >= 1.3x)"
                )
    print("\n" + "\n".join(lines))


def needed_shortlists(index: QuantizedIndex, queries: np.ndarray, catalog: np.ndarray, k: int) -> np.ndarray:
    """Per query, the smallest shortlist whose re-ranked scores equal the exact top-k scores.

    Binary search: a larger shortlist holds every candidate of a smaller one (same heap order).
    """
    exact_scores, _ = coldkit.topk(queries, catalog, k, threads=1)
    out = []
    for row, query in enumerate(queries):
        lo, hi = k, catalog.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            scores, _ = index.search(query, k, shortlist=mid, threads=1)
            if np.allclose(scores, exact_scores[row], rtol=0, atol=1e-6):
                hi = mid
            else:
                lo = mid + 1
        out.append(lo)
    return np.array(out)


def _report_shortlists() -> None:  # pragma: no cover - a measurement script, run by hand
    from pathlib import Path

    import pandas as pd  # type: ignore[import-untyped]

    movies = pd.read_csv(Path(__file__).resolve().parents[2] / "shared/data/ml-latest-small/movies.csv")
    texts = [f"{t}. {g.replace('|', ', ')}" for t, g in zip(movies["title"], movies["genres"])]
    rng = np.random.default_rng(0)
    sets = {
        "minilm": coldkit.encode_catalog(texts, coldkit.get_encoder("bert", device="cpu", threads=1), progress=False),
        "hashing": coldkit.encode_catalog(texts, coldkit.get_encoder("hashing", dim=384), cache=False, progress=False),
    }
    for name, vectors in sets.items():
        order = rng.permutation(len(vectors))
        queries, catalog = vectors[order[:300]], vectors[np.sort(order[300:])]
        queries = queries[np.linalg.norm(queries, axis=1) > 0]
        for kind, scale in (("int8", "per-vector"), ("int8", "per-dimension"), ("bf16", "per-vector")):
            index = QuantizedIndex(catalog, kind, scale=scale)  # type: ignore[arg-type]
            for k in (10, 100):
                need = needed_shortlists(index, queries, catalog, k)
                print(
                    f"{name} N={len(catalog)} {kind}/{scale} k={k}: needed shortlist median={np.median(need):.0f} "
                    f"p99={np.percentile(need, 99):.0f} max={need.max()} (default {default_shortlist(k)})",
                    flush=True,
                )


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(
        description="The throughput benchmark runs under pytest (see the module docstring); run as a script, this "
        "prints docs/quantized.md's shortlist table."
    )
    parser.add_argument("--shortlist", action="store_true", required=True,
                        help="the smallest shortlist giving the exact top-k per query, on MiniLM vectors of MovieLens")
    parser.parse_args()  # --help, or anything else: argparse answers (it printed nothing and exited 0)
    _report_shortlists()
