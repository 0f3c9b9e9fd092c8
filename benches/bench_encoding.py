"""Encoding throughput: ``coldkit.encoding.encode_catalog`` with MiniLM vs sentence-transformers.

Workload: real item texts (title, genres and user tags of MovieLens latest-small movies, read from
``../shared/data``), encoded by all-MiniLM-L6-v2 on CPU. Three benchmarks in group
``encode-minilm``:

* ``sentence-transformers``: ``SentenceTransformer.encode`` (the baseline; it sorts by characters);
* ``encode_catalog first``: a cold cache (fresh directory each round), so hashing, exact-length
  batch planning, the model and the atomic cache writes are all timed;
* ``encode_catalog cached``: the same catalogue again, everything from the cache.

Each checks correctness (cosine >= 0.9999 against sentence-transformers, identical re-encode).
Ratios are measured in the same run by interleaving both implementations (minimum of 3 rounds
each, which damps noise from other processes), as wall time and as process CPU time (steadier on
a shared machine), and printed at the end (use ``-s``); set
``COLDKIT_BENCH_REPORT=path.json`` to also write them as JSON.

Sizes: ~64 texts by default (CI runs this file with ``--benchmark-disable``); ``COLDKIT_BENCH_FULL=1``
uses ``COLDKIT_BENCH_N`` (default 2000) texts. Threads: ``COLDKIT_BENCH_THREADS`` (default 1).

    COLDKIT_BENCH_FULL=1 HF_HUB_OFFLINE=1 pytest benches/bench_encoding.py -s --benchmark-only
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from coldkit.encoding import encode_catalog

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("coldkit_bert", reason="coldkit-bert plugin not installed (pip install ./plugins/coldkit-bert)")
sentence_transformers = pytest.importorskip("sentence_transformers")

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
N_TEXTS = int(os.environ.get("COLDKIT_BENCH_N", "2000")) if FULL else 64
ROUNDS = 3 if FULL else 1
THREADS = int(os.environ.get("COLDKIT_BENCH_THREADS", "1"))
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
GROUP = "encode-minilm"

_seconds: dict[str, list[float]] = {}
_cpu_seconds: dict[str, list[float]] = {}


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Record wall and CPU time of each call: on a shared box, CPU time is the steadier measure."""

    def run(*args: Any, **kwargs: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        _seconds.setdefault(name, []).append(time.perf_counter() - start)
        _cpu_seconds.setdefault(name, []).append(time.process_time() - start_cpu)
        return result

    return run


@pytest.fixture(scope="module")
def texts() -> list[str]:
    import pandas as pd

    if not (DATA / "movies.csv").is_file():
        pytest.skip(f"MovieLens latest-small not found at {DATA.resolve()}")
    movies = pd.read_csv(DATA / "movies.csv")
    tags = pd.read_csv(DATA / "tags.csv")
    tag_text = tags.groupby("movieId")["tag"].apply(lambda s: ", ".join(dict.fromkeys(s.astype(str))))
    movies["tags"] = movies["movieId"].map(tag_text).fillna("")
    all_texts = [
        f"{title}. {genres.replace('|', ', ')}" + (f". Tags: {tag}" if tag else "")
        for title, genres, tag in zip(movies["title"], movies["genres"], movies["tags"])
    ]
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(all_texts), size=min(N_TEXTS, len(all_texts)), replace=False)
    return [all_texts[i] for i in chosen]


@pytest.fixture(scope="module")
def bert() -> Any:
    import coldkit

    return coldkit.get_encoder("bert", device="cpu", threads=THREADS)


@pytest.fixture(scope="module")
def st_model(bert: Any) -> Any:
    torch.set_num_threads(THREADS)
    model = sentence_transformers.SentenceTransformer(str(bert.model_dir), device="cpu")
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="module")
def reference(st_model: Any, texts: list[str]) -> np.ndarray:
    return st_model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


@pytest.fixture(scope="module", autouse=True)
def report(texts: list[str], bert: Any, st_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield
    if FULL:  # interleaved head-to-head: the ratio comes from one run, alternating implementations
        for _ in range(ROUNDS):
            _timed("st interleaved", st_model.encode)(texts, batch_size=32, normalize_embeddings=True)
            fresh = tmp_path_factory.mktemp("cold")
            _timed("coldkit interleaved", encode_catalog)(texts, bert, cache_dir=fresh, progress=False)
    best = {name: min(times) for name, times in _seconds.items()}
    summary: dict[str, Any] = {"n_texts": len(texts), "threads": THREADS, "full": FULL}
    for name, seconds in best.items():
        summary[f"{name} items/s"] = round(len(texts) / seconds, 1)
    if "st interleaved" in best:
        best_cpu = {name: min(times) for name, times in _cpu_seconds.items()}
        summary["speedup vs sentence-transformers (wall)"] = round(
            best["st interleaved"] / best["coldkit interleaved"], 3
        )
        summary["speedup vs sentence-transformers (cpu time)"] = round(
            best_cpu["st interleaved"] / best_cpu["coldkit interleaved"], 3
        )
    if "first" in best and "cached" in best:
        summary["cached re-encode speed-up"] = round(best["first"] / best["cached"], 1)
    print("\nencoding benchmark:", json.dumps(summary, indent=1))
    if os.environ.get("COLDKIT_BENCH_REPORT"):
        Path(os.environ["COLDKIT_BENCH_REPORT"]).write_text(json.dumps(summary, indent=1))


def test_sentence_transformers_encode(benchmark: Any, st_model: Any, texts: list[str], reference: np.ndarray) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(implementation="sentence-transformers", n_texts=len(texts), threads=THREADS)
    run = _timed("st", st_model.encode)
    got = benchmark.pedantic(
        run, args=(texts,), kwargs=dict(batch_size=32, normalize_embeddings=True), rounds=ROUNDS, iterations=1
    )
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_encode_catalog_first_encode(
    benchmark: Any, bert: Any, texts: list[str], reference: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(implementation="coldkit encode_catalog (cold cache)", n_texts=len(texts))

    def fresh_cache() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (texts, bert), {"cache_dir": tmp_path_factory.mktemp("cold"), "progress": False}

    got = benchmark.pedantic(_timed("first", encode_catalog), setup=fresh_cache, rounds=ROUNDS, iterations=1)
    cosine = (got * reference).sum(axis=1)
    benchmark.extra_info["min_cosine_vs_sentence_transformers"] = float(cosine.min())
    assert cosine.min() >= 0.9999


def test_encode_catalog_cached(
    benchmark: Any, bert: Any, texts: list[str], reference: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(implementation="coldkit encode_catalog (warm cache)", n_texts=len(texts))
    cache_dir = tmp_path_factory.mktemp("warm")
    first = encode_catalog(texts, bert, cache_dir=cache_dir, progress=False)
    got = benchmark.pedantic(
        _timed("cached", encode_catalog),
        args=(texts, bert),
        kwargs={"cache_dir": cache_dir, "progress": False},
        rounds=ROUNDS * 5,
        iterations=1,
    )
    np.testing.assert_array_equal(got, first)
