"""``POST /recommend`` latency (p50/p99) on a large catalogue, against baselines measured in the same run.

Three implementations answer the same query mix (a warm user by id; a new user's profile text; a
new user's three clicks), k = 10, one request at a time:

* ``topk``: ``coldkit.topk`` alone — one exact scan of the content matrix (k = 200): the floor;
* ``in-process``: ``ServingIndex.recommend`` (three source scans, fusion, "why" strings);
* ``http``: ``coldkit serve`` (FastAPI + uvicorn, its own process, the index saved and memory-mapped)
  on 127.0.0.1, called with httpx (JSON both ways).

The report gives each one's p50/p99 and the ratios http/in-process and in-process/topk.

The catalogue: the embedded ml-latest-small items (9,742 real texts, encoded by the default
encoder — ``bert`` (all-MiniLM-L6-v2) when its plugin is installed, else ``hashing``; interactions
of items with >= 10 ratings train the CF part) grown to ``N`` items with synthetic variants:
each synthetic item's content vector is ``normalize(0.7·c_j + 0.3·c_j' + noise)`` of two real
items' vectors, its CF vector the ridge map of that (as for any new item), its text the real
text plus " (variant n)". Encoding 90k more texts with MiniLM on 2 cores would take ~20 minutes
and measure the encoder, not the service.

Run::

    COLDKIT_BENCH_FULL=1 pytest benches/bench_serving.py --benchmark-only -s      # N = 100,000
    COLDKIT_BENCH_REPORT=/tmp/serving.json ...                                    # also write the numbers

By default (and under ``--benchmark-disable`` in CI) N is tiny and the hashing encoder is used.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import coldkit  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _catalog import variant_text, variant_vectors  # noqa: E402
from _args import write_report  # noqa: E402 - this folder's shared command-line helpers
from coldkit.data import Catalog, Interactions, load_dataset  # noqa: E402
from coldkit.serving import ServingIndex  # noqa: E402
from coldkit.serving.state import ItemMeta, Version  # noqa: E402

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
N_ITEMS = int(os.environ.get("COLDKIT_BENCH_SERVING_ITEMS", "100000" if FULL else "2000"))
N_REQUESTS = int(os.environ.get("COLDKIT_BENCH_SERVING_REQUESTS", "600" if FULL else "12"))
MIN_RATINGS = 10
K = 10


def _encoder_name() -> str:
    if os.environ.get("COLDKIT_BENCH_ENCODER"):
        return os.environ["COLDKIT_BENCH_ENCODER"]
    if not FULL:
        return "hashing"
    from coldkit.models.registry import default_encoder_name

    return default_encoder_name()


def training_data() -> Interactions:
    """ml-latest-small: every item in the catalogue, interactions of items with >= MIN_RATINGS ratings (full) or a cut (tiny)."""
    ds = load_dataset("ml-latest-small")
    inter = ds.interactions
    counts = inter.item_counts()
    if FULL:
        keep = counts >= MIN_RATINGS
        matrix = inter.matrix.tocsc()
        matrix = matrix[:, :].multiply(keep[None, :].astype(np.float32)).tocsr()
        return Interactions(inter.user_ids, ds.catalog, matrix)
    order = np.argsort(-counts, kind="stable")
    items = np.sort(order[:400])
    catalog = Catalog(ds.catalog.item_ids[items], ds.catalog.table.iloc[items].reset_index(drop=True), ds.catalog.text_columns)
    return Interactions(inter.user_ids[:150], catalog, inter.matrix[:150][:, items].tocsr())


def grow(index: ServingIndex, n_total: int, seed: int = 0) -> None:
    """Add synthetic variants of the real items until the catalogue holds ``n_total`` items (see the module docstring)."""
    v = index.version
    extra = n_total - v.n_items
    if extra <= 0:
        return
    base = np.arange(extra) % v.n_items
    content = variant_vectors(v.content, base, seed)
    mapped = index.model.map_to_cf(content)  # the ridge map, as for any new item
    ids = [f"syn-{n}" for n in range(extra)]
    meta = [ItemMeta(variant_text(v.row_meta[b].text, n + 1), v.row_meta[b].categories) for n, b in enumerate(base)]
    n = v.n_items + extra
    item_ids = list(v.item_ids[: v.n_items]) + ids
    grown = Version(
        number=v.number, n_rows=n,
        content=np.concatenate([v.content, content]), cf=np.concatenate([v.cf, mapped]),
        foldin=np.concatenate([v.foldin, mapped]), row_item=np.arange(n, dtype=np.int64),
        row_new=np.concatenate([v.row_new, np.ones(extra, dtype=bool)]), row_meta=list(v.row_meta) + meta,
        n_items=n, item_ids=item_ids, item_index={i: o for o, i in enumerate(item_ids)},
        item_row=np.arange(n, dtype=np.int64), item_count=np.concatenate([v.item_count, np.zeros(extra)]),
        n_users=v.n_users, user_ids=v.user_ids, user_index=v.user_index,
        base_indptr=v.base_indptr, base_items=v.base_items,
    )
    index.writer.replace_version(grown)


@pytest.fixture(scope="module")
def bench_index() -> ServingIndex:
    encoder = _encoder_name()
    if encoder == "bert":
        import torch

        torch.set_num_threads(int(os.environ.get("COLDKIT_BENCH_THREADS", "2")))
    started = time.perf_counter()
    index = ServingIndex.build(training_data(), encoder=encoder)
    built = time.perf_counter() - started
    grow(index, N_ITEMS)
    if encoder == "bert":
        import torch

        torch.set_num_threads(1)  # serve as the server process does (OMP_NUM_THREADS=1): one thread per request
    index.build_seconds = built  # type: ignore[attr-defined]
    return index


def queries(index: ServingIndex, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    v = index.version
    users = v.user_ids[: v.n_users]
    real_items = v.item_ids[:9000]
    texts = ["a space opera with robots", "romantic comedy in paris", "animated film for children",
             "dark crime thriller", "documentary about music", "world war two drama"]
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append({"user_id": str(users[rng.integers(len(users))]), "k": K})
        elif kind == 1:
            out.append({"text": texts[i % len(texts)], "k": K})
        else:
            out.append({"history": [str(real_items[j]) for j in rng.integers(0, len(real_items), 3)], "k": K})
    return out


class SubprocessServer:
    """``coldkit serve PATH`` in its own process (as deployed) on a free loopback port."""

    def __init__(self, path: Path) -> None:
        import subprocess
        import sys

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.log = open(path.parent / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "coldkit", "serve", str(path), "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"server did not start: {(path.parent / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.log.close()


def _latencies(calls: dict[str, Callable[[dict[str, Any]], Any]], bodies: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-request milliseconds of each implementation, interleaved request by request so that load
    from other processes on the machine hits all of them alike (the ratios stay meaningful)."""
    for call in calls.values():
        call(bodies[0])  # warm-up (first text encoding, connection set-up)
    out = {name: np.empty(len(bodies)) for name in calls}
    for i, body in enumerate(bodies):
        for name, call in calls.items():
            start = time.perf_counter()
            call(body)
            out[name][i] = (time.perf_counter() - start) * 1000.0
    return out


def test_recommend_latency(benchmark: Any, bench_index: ServingIndex, tmp_path: Path) -> None:
    import httpx

    from coldkit.serving import save

    index = bench_index
    bodies = queries(index, N_REQUESTS)
    v = index.version
    rng = np.random.default_rng(2)
    probe = v.content[rng.integers(0, v.n_rows, len(bodies))]

    def topk_call(body: dict[str, Any], _it: list[int] = [0]) -> Any:
        _it[0] = (_it[0] + 1) % len(probe)
        return coldkit.topk(probe[_it[0]][None, :], v.content, 200, metric="dot")

    def inprocess_call(body: dict[str, Any]) -> list[str]:
        return [i.id for i in index.recommend(body.get("user_id"), text=body.get("text"),
                                              history=body.get("history", ()), k=body["k"]).items]

    path = tmp_path / "index"
    started = time.perf_counter()
    save(index, path, attach=False)  # the server loads it memory-mapped, as in production
    save_seconds = time.perf_counter() - started
    server = SubprocessServer(path)
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=60)
    try:
        def http_call(body: dict[str, Any]) -> list[str]:
            r = client.post("/recommend", json=body)
            assert r.status_code == 200, r.text
            return [i["id"] for i in r.json()["items"]]

        # correctness: the service answers exactly what the library answers
        for body in bodies[:6]:
            assert http_call(body) == inprocess_call(body), body
        results = _latencies({"topk": topk_call, "in-process": inprocess_call, "http": http_call}, bodies)
        kinds = {"user": slice(0, None, 3), "text": slice(1, None, 3), "clicks": slice(2, None, 3)}
        by_kind = {kind: float(np.percentile(results["http"][part], 99)) for kind, part in kinds.items() if results["http"][part].size}
        summary: dict[str, Any] = {
            "items": v.n_items, "encoder": index.encoder_name, "content_dim": int(v.content.shape[1]),
            "cf_dim": int(v.cf.shape[1]), "requests": len(bodies), "k": K,
            "build_seconds": round(float(getattr(index, "build_seconds", 0.0)), 1),
            "save_seconds": round(save_seconds, 1),
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1),
        }
        for name, ms in results.items():
            summary[name] = {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
                             "mean_ms": round(float(ms.mean()), 3)}
        summary["http_p99_by_query_ms"] = {k: round(x, 3) for k, x in by_kind.items()}
        summary["ratio_p99_http_vs_inprocess"] = round(summary["http"]["p99_ms"] / summary["in-process"]["p99_ms"], 2)
        summary["ratio_p99_inprocess_vs_topk"] = round(summary["in-process"]["p99_ms"] / summary["topk"]["p99_ms"], 2)
        print("\n" + json.dumps(summary, indent=1))
        if os.environ.get("COLDKIT_BENCH_REPORT"):
            write_report(os.environ["COLDKIT_BENCH_REPORT"], json.dumps(summary, indent=1))
        benchmark.group = f"serving /recommend N={v.n_items} encoder={index.encoder_name}"
        benchmark.extra_info.update(summary)
        cycle = iter(bodies * 1000)
        benchmark.pedantic(lambda: http_call(next(cycle)), rounds=min(len(bodies), 100), iterations=1, warmup_rounds=1)
    finally:
        client.close()
        server.close()
