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

Reduced precision (``precision="bf16"`` / ``"int8"``, group ``encode-minilm-precision``): each
encodes the same texts; ``extra_info`` holds min and mean cosine to sentence-transformers' fp32
vectors, and the full run adds both to the interleaved rounds, so their speed-ups against
sentence-transformers come from the same run.

Sizes: ~64 texts by default (CI runs this file with ``--benchmark-disable``); ``COLDKIT_BENCH_FULL=1``
uses ``COLDKIT_BENCH_N`` (default 2000) texts. Threads: ``COLDKIT_BENCH_THREADS`` (default 1).

    COLDKIT_BENCH_FULL=1 HF_HUB_OFFLINE=1 pytest benches/bench_encoding.py -s --benchmark-only

The whole precision gate of issue 10 (speed ≥ 2× sentence-transformers, cosine ≥ 0.995 to its
fp32 vectors, cold-item Recall@20 within 1 % of fp32) runs in one process as a script; it
prints and writes a JSON report (speed interleaved over ``--rounds``, CPU time; cosine and
Recall@20 on the whole ml-latest-small catalogue, seeds ``--seeds``)::

    HF_HUB_OFFLINE=1 python benches/bench_encoding.py --gate --out coldkit-results/precision-gate.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from coldkit.encoding import encode_catalog

sys.path.insert(0, str(Path(__file__).parent))
from _args import positive_int, write_report  # noqa: E402 - this folder's shared command-line helpers

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
PRECISION_GROUP = "encode-minilm-precision"
REDUCED = ("bf16", "int8")
# cosine floors against sentence-transformers' fp32 vectors: bf16 meets the issue's 0.995 gate;
# dynamic int8 does not on MiniLM (min ≈ 0.95), so it stays opt-in with this looser floor
COSINE_FLOOR = {"bf16": 0.995, "int8": 0.9}

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

    return coldkit.get_encoder("bert", device="cpu", threads=THREADS, precision="fp32")


@pytest.fixture(scope="module")
def reduced() -> dict[str, Any]:
    import coldkit

    return {p: coldkit.get_encoder("bert", device="cpu", threads=THREADS, precision=p) for p in REDUCED}


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
def report(
    texts: list[str], bert: Any, reduced: dict[str, Any], st_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    yield
    if FULL:  # interleaved head-to-head: the ratio comes from one run, alternating implementations
        for _ in range(ROUNDS):
            _timed("st interleaved", st_model.encode)(texts, batch_size=32, normalize_embeddings=True)
            fresh = tmp_path_factory.mktemp("cold")
            _timed("coldkit interleaved", encode_catalog)(texts, bert, cache_dir=fresh, progress=False)
            for precision, encoder in reduced.items():
                _timed(f"{precision} interleaved", encoder.encode_texts)(texts)
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
        for precision in REDUCED:
            name = f"{precision} interleaved"
            summary[f"{precision} speedup vs sentence-transformers (wall)"] = round(best["st interleaved"] / best[name], 3)
            summary[f"{precision} speedup vs sentence-transformers (cpu time)"] = round(
                best_cpu["st interleaved"] / best_cpu[name], 3
            )
    if "first" in best and "cached" in best:
        summary["cached re-encode speed-up"] = round(best["first"] / best["cached"], 1)
    print("\nencoding benchmark:", json.dumps(summary, indent=1))
    if os.environ.get("COLDKIT_BENCH_REPORT"):
        write_report(os.environ["COLDKIT_BENCH_REPORT"], json.dumps(summary, indent=1))


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


@pytest.mark.parametrize("precision", REDUCED)
def test_reduced_precision_encode(
    benchmark: Any, reduced: dict[str, Any], texts: list[str], reference: np.ndarray, precision: str
) -> None:
    benchmark.group = PRECISION_GROUP
    encoder = reduced[precision]
    benchmark.extra_info.update(implementation=f"coldkit bert precision={precision}", n_texts=len(texts), threads=THREADS)
    got = benchmark.pedantic(_timed(precision, encoder.encode_texts), args=(texts,), rounds=ROUNDS, iterations=1)
    cosine = (got * reference).sum(axis=1)
    benchmark.extra_info.update(
        min_cosine_vs_sentence_transformers=float(cosine.min()), mean_cosine_vs_sentence_transformers=float(cosine.mean())
    )
    assert cosine.min() >= COSINE_FLOOR[precision], (precision, float(cosine.min()))


# --------------------------------------------------------------------------------------------
# the precision gate of issue 10, as one script run
# --------------------------------------------------------------------------------------------


def precision_gate(
    n_speed: int,
    rounds: int,
    seeds: list[int],
    threads: int,
    models: list[str],
    checkpoint: Callable[[dict[str, Any]], None] = lambda report: None,
) -> dict[str, Any]:
    """Speed, cosine and cold-item Recall@20 of bf16/int8 against sentence-transformers fp32, in one run.

    * speed: ``n_speed`` catalogue texts, implementations interleaved for ``rounds`` rounds, best
      round each, as process CPU time (steady on a shared machine) and wall time;
    * cosine: every ml-latest-small item text (title, genres, tags), each precision against
      sentence-transformers' fp32 ``encode`` of the same text;
    * Recall@20: the cold-item protocol (cold candidates) on ml-latest-small for each model in
      ``models`` and each seed; the item vectors of each precision are handed to the model
      through the ``precomputed`` encoder, so every model sees exactly the vectors measured above.

    ``checkpoint(report)`` is called after each stage with the report so far (long runs on a
    busy machine keep what they measured).
    """
    import coldkit
    from coldkit.builtins.encoders import PrecomputedEncoder
    from coldkit.data import load_dataset
    from coldkit.encoding_torch import cpu_supports_bf16
    from coldkit.evaluation import ModelChoice, evaluate

    torch.set_num_threads(threads)
    data = load_dataset("ml-latest-small")
    catalog = data.interactions.catalog
    all_texts = catalog.texts()
    rng = np.random.default_rng(0)
    speed_texts = [all_texts[i] for i in rng.choice(len(all_texts), size=min(n_speed, len(all_texts)), replace=False)]
    encoders = {p: coldkit.get_encoder("bert", device="cpu", threads=threads, precision=p) for p in ("fp32", *REDUCED)}
    st_model = sentence_transformers.SentenceTransformer(str(encoders["fp32"].model_dir), device="cpu")
    st_model.encode(["warm up"])
    for encoder in encoders.values():
        encoder.encode_texts(["warm up"])

    def st_encode(batch: list[str]) -> np.ndarray:
        return st_model.encode(batch, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    runners: dict[str, Callable[[list[str]], np.ndarray]] = {"sentence-transformers fp32": st_encode}
    runners.update({f"coldkit {p}": e.encode_texts for p, e in encoders.items()})
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, run in runners.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run(speed_texts)
            wall.setdefault(name, []).append(time.perf_counter() - start)
            cpu.setdefault(name, []).append(time.process_time() - start_cpu)
    base = "sentence-transformers fp32"
    report: dict[str, Any] = {
        "n_speed_texts": len(speed_texts), "rounds": rounds, "threads": threads, "seeds": seeds,
        "cpu": str(torch.backends.cpu.get_cpu_capability()),
        "bf16_hardware": cpu_supports_bf16(),
        "seconds_cpu_best": {k: round(min(v), 3) for k, v in cpu.items()},
        "speedup_vs_st_cpu": {k: round(min(cpu[base]) / min(v), 3) for k, v in cpu.items()},
        "speedup_vs_st_wall": {k: round(min(wall[base]) / min(v), 3) for k, v in wall.items()},
    }  # fmt: skip

    checkpoint(report)
    # the whole catalogue once per arithmetic (coldkit fp32 is left out: it equals
    # sentence-transformers to cosine >= 0.9999, asserted in test_encode_catalog_first_encode)
    vectors = {"sentence-transformers fp32": st_encode(all_texts)}
    vectors.update({f"coldkit {p}": encoders[p].encode_texts(all_texts) for p in REDUCED})
    reference = vectors[base]
    report["n_cosine_texts"] = len(all_texts)
    report["cosine_vs_st_fp32"] = {
        name: {"min": float((v * reference).sum(1).min()), "mean": float((v * reference).sum(1).mean())}
        for name, v in vectors.items()
    }
    checkpoint(report)
    compared = list(vectors)
    specs = [
        ModelChoice(f"{model}|{name}", model, {"encoder": PrecomputedEncoder(ids=catalog.item_ids, vectors=vectors[name]), "cache": False})
        for model in models
        for name in compared
    ]
    result = evaluate(data, specs, protocol="cold-item", seeds=seeds, k=(20,), progress=False)
    recall: dict[str, dict[str, Any]] = {}
    for model in models:
        per = {name: result.mean(f"{model}|{name}", "cold", "recall@20") for name in compared}
        recall[model] = {
            "recall@20": {k: round(v, 5) for k, v in per.items()},
            "relative_to_st_fp32": {k: round(v / per[base] - 1.0, 5) for k, v in per.items()},
        }
    report["cold_item_recall"] = recall
    gate: dict[str, bool] = {}
    for p in REDUCED:
        name = f"coldkit {p}"
        gate[p] = bool(
            report["speedup_vs_st_cpu"][name] >= 2.0
            and report["cosine_vs_st_fp32"][name]["min"] >= 0.995
            and all(abs(recall[m]["relative_to_st_fp32"][name]) <= 0.01 for m in models)
        )
    report["gate_holds"] = gate
    return report


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="precision gate: reduced-precision MiniLM vs sentence-transformers")
    parser.add_argument("--gate", action="store_true", required=True)
    parser.add_argument("--n", type=positive_int, default=2000, help="texts in the speed comparison")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--models", nargs="+", default=["content", "hybrid"], help="models for Recall@20")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    def write(report: dict[str, Any]) -> None:
        text = json.dumps(report, indent=1)
        print(text, flush=True)
        if args.out:
            from coldkit._atomic import atomic_write_bytes

            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(args.out, text.encode())

    write(precision_gate(args.n, args.rounds, args.seeds, args.threads, args.models, checkpoint=write))
