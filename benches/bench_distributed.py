"""Benchmarks of coldkit.distributed on this machine: encoding throughput vs number of Ray
workers (1 and 2) against the single-process pipeline, and sharded top-k vs ``coldkit.topk``.

CI runs this file with ``--benchmark-disable``: tiny sizes, each body once, a few seconds after
Ray's start. The numbers in ``docs/distributed.md`` come from the full run::

    COLDKIT_BENCH_FULL=1 .venv/bin/pytest benches/bench_distributed.py -s \\
        --benchmark-columns=min,mean,rounds --benchmark-group-by=group

Every benchmark checks its result against the single-process reference (``extra_info["correct"]``)
and records items/s; ratios to the single-process baseline of the same run are printed at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import coldkit  # noqa: E402
from coldkit import distributed  # noqa: E402
from coldkit.data.datasets import load_dataset  # noqa: E402
from coldkit.encoding import encode_catalog  # noqa: E402

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
# Full: the embedded MovieLens catalogue repeated 10x (97k items) for hashing, 2,000 items for
# BERT, a 200k x 128 catalogue with 5,000 users for top-k. CI: tiny.
CATALOG_REPEAT = 10 if FULL else 0
CI_ITEMS = 300
BERT_ITEMS = 2000
TOPK_ITEMS, TOPK_DIM, TOPK_USERS, TOPK_K = (200_000, 128, 5000, 20) if FULL else (2000, 32, 64, 10)
ROUNDS = 2 if FULL else 1
# CI checks one Ray path per stage (Ray's start and each actor pool cost seconds); the full run
# compares 1 and 2 workers.
WORKERS = [0, 1, 2] if FULL else [0, 2]
SHARDS = [1, 2] if FULL else [2]
full_only = pytest.mark.skipif(not FULL, reason="part of the full benchmark (COLDKIT_BENCH_FULL=1)")

_results: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def ray_session():
    if ray.is_initialized():
        yield 0.0
        return
    started = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=(400 if FULL else 200) * 1024**2,
        log_to_driver=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}},
    )
    seconds = time.perf_counter() - started
    _results["ray.init"] = {"seconds": seconds}
    yield seconds
    ray.shutdown()
    _print_summary()


def _print_summary() -> None:
    print("\n\ncoldkit.distributed benchmark summary (min over rounds)")
    for name, row in _results.items():
        cells = ", ".join(f"{k}={v:.4g}" for k, v in row.items())
        print(f"  {name:<34} {cells}")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    table = load_dataset("ml-latest-small").catalog.table
    base = (table["title"].astype(str) + ". " + table["genres"].astype(str) + ". " + table["tags"].fillna("").astype(str))
    items = base.tolist()
    if not CATALOG_REPEAT:
        return items[:CI_ITEMS]
    # Distinct texts per copy, so nothing is deduplicated away.
    return [f"{text} (copy {c})" for c in range(CATALOG_REPEAT) for text in items]


def _record(name: str, benchmark, items: int, seconds: float, **extra: float) -> None:
    row = {"items": float(items), "seconds": seconds, "items_per_s": items / seconds, **extra}
    previous = _results.get(name)
    if previous is None or previous["seconds"] > seconds:
        _results[name] = row
    benchmark.extra_info.update(row)


def _bench(benchmark, fn, rounds: int = ROUNDS):
    """Run ``fn`` under pytest-benchmark (once when disabled); return (fastest seconds, last result)."""
    times: list[float] = []

    def timed():
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        return result

    result = benchmark.pedantic(timed, rounds=rounds, iterations=1)
    return min(times), result


_reference_vectors: dict[str, np.ndarray] = {}
_topk_reference: dict[str, tuple[np.ndarray, np.ndarray]] = {}


# --------------------------------------------------------------------------------------------
# Encoding throughput: single process vs Ray Data with 1 and 2 actors
# --------------------------------------------------------------------------------------------


def _encoder_setup(name: str):
    if name == "hashing":
        return {"dim": 256}, {}
    pytest.importorskip("coldkit_bert")
    pytest.importorskip("torch")
    return {"device": "cpu", "threads": 1}, {}


@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"ray-{w}-actors" if w else "single-process")
@pytest.mark.parametrize("encoder_name", ["hashing", "bert"])
def test_encode_throughput(benchmark, ray_session, texts, tmp_path, encoder_name, workers):
    if encoder_name == "bert" and not FULL:
        pytest.skip("bert encoding is benchmarked with COLDKIT_BENCH_FULL=1")
    options, _ = _encoder_setup(encoder_name)
    items = texts if encoder_name == "hashing" else texts[:BERT_ITEMS]
    benchmark.group = f"encode-{encoder_name}"
    encoder = coldkit.get_encoder(encoder_name, **options)

    if workers == 0:
        def run():
            return encode_catalog(items, encoder, cache=False, progress=False)
    else:
        def run():
            out = tmp_path / f"run-{time.perf_counter_ns()}"
            distributed.encode_catalog_distributed(
                items, encoder_name, options, out_dir=out, num_actors=workers, batch_size=1024 if encoder_name == "hashing" else 128
            )
            ids, vectors = distributed.load_vectors(out)
            shutil.rmtree(out)
            return vectors

    seconds, vectors = _bench(benchmark, run)
    if encoder_name not in _reference_vectors:
        _reference_vectors[encoder_name] = encode_catalog(items, encoder, cache=False, progress=False)
    reference = _reference_vectors[encoder_name]
    if encoder_name == "hashing":
        correct = bool(np.array_equal(vectors, reference))
    else:  # batches are padded differently from single-process chunks
        correct = bool(np.allclose(vectors, reference, atol=2e-5))
    assert correct
    name = f"encode/{encoder_name}/" + ("single" if workers == 0 else f"ray-{workers}")
    _record(name, benchmark, len(items), seconds, correct=float(correct))
    single = _results.get(f"encode/{encoder_name}/single")
    if single is not None and workers:
        benchmark.extra_info["speed_vs_single"] = single["seconds"] / seconds
        _results[name]["speed_vs_single"] = single["seconds"] / _results[name]["seconds"]


@full_only
def test_fixed_cost_of_a_distributed_run(benchmark, ray_session, tmp_path):
    """A 10-item run: what Ray Data costs before any real work (actor start, planning, commit)."""
    benchmark.group = "encode-fixed-cost"
    items = [f"item {i}" for i in range(10)]

    def run():
        out = tmp_path / f"run-{time.perf_counter_ns()}"
        manifest = distributed.encode_catalog_distributed(items, "hashing", {"dim": 64}, out_dir=out, num_actors=2)
        shutil.rmtree(out)
        return manifest

    seconds, manifest = _bench(benchmark, run)
    _record("encode/fixed-cost(10 items, 2 actors)", benchmark, 10, seconds, **manifest.extra["timings"])


# --------------------------------------------------------------------------------------------
# Batch recommendation: sharded top-k vs single-process top-k
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def topk_data():
    rng = np.random.default_rng(0)
    catalog = rng.standard_normal((TOPK_ITEMS, TOPK_DIM), dtype=np.float32)
    users = rng.standard_normal((TOPK_USERS, TOPK_DIM), dtype=np.float32)
    seen = [rng.choice(TOPK_ITEMS, size=20, replace=False) for _ in range(TOPK_USERS)]
    return catalog, users, seen


def test_topk_single_process(benchmark, topk_data):
    catalog, users, seen = topk_data
    benchmark.group = "topk-batch-recommendation"
    seconds, result = _bench(benchmark, lambda: coldkit.topk(users, catalog, TOPK_K, exclude=seen))
    _topk_reference["result"] = result
    _record("topk/single-process(all cores)", benchmark, TOPK_USERS, seconds)


@pytest.mark.parametrize("num_shards", SHARDS)
def test_topk_sharded(benchmark, ray_session, topk_data, num_shards):
    catalog, users, seen = topk_data
    benchmark.group = "topk-batch-recommendation"
    put_started = time.perf_counter()
    shards = distributed.shard_catalog(catalog, num_shards=num_shards)
    put_seconds = time.perf_counter() - put_started

    def run():
        return distributed.sharded_topk(users, shards, TOPK_K, exclude=seen, query_batch_size=1024, threads=1)

    seconds, (scores, indices) = _bench(benchmark, run)
    reference = _topk_reference.get("result") or coldkit.topk(users, catalog, TOPK_K, exclude=seen)
    np.testing.assert_allclose(scores, reference[0], atol=1e-5)
    same_ids = float(np.mean(indices == reference[1]))
    _record(f"topk/sharded-{num_shards}", benchmark, TOPK_USERS, seconds, put_seconds=put_seconds, same_ids=same_ids)
    single = _results.get("topk/single-process(all cores)")
    if single is not None:
        _results[f"topk/sharded-{num_shards}"]["speed_vs_single"] = single["seconds"] / _results[f"topk/sharded-{num_shards}"]["seconds"]


@full_only
def test_load_stages(benchmark, ray_session, texts, tmp_path):
    """Cost of reading a run back: load_vectors on the driver, shards_from_manifest on the workers."""
    benchmark.group = "load"
    out = tmp_path / "vectors"
    distributed.encode_catalog_distributed(texts, "hashing", {"dim": 256}, out_dir=out, num_actors=2, batch_size=1024)
    seconds, _ = _bench(benchmark, lambda: distributed.load_vectors(out))
    _record("load/load_vectors(driver)", benchmark, len(texts), seconds)
    started = time.perf_counter()
    shards = distributed.shards_from_manifest(out, num_shards=2)
    _results["load/shards_from_manifest(workers)"] = {"seconds": time.perf_counter() - started, "items": float(shards.n_items)}
    assert Path(out, "manifest.json").is_file()
