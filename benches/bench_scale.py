"""End-to-end ``coldkit recommend`` at 10k, 100k and 1M items: time and peak RSS per stage, against an anchor.

Each size is a synthetic data set grown from ml-latest-small (see ``benches/_catalog.py``): item
texts are the real titles + genres and variants of them, interactions are resampled from the real
users (20 per item up to 100k items: 100k items x 2M interactions; 10 per item at 1M: 10M), 10,000
users, and a random 10 % of the items is held out as cold candidates (no interaction). Two
pipelines produce the same output — top-20 cold candidates for each of the 10k users, as CSV:

* ``coldkit``: :func:`coldkit.batch.recommend_files` with the default hybrid (the library call
  behind ``coldkit recommend``); its stage lines give load / encode / fit warm / fit adapters /
  recommend / write;
* ``anchor``: what one writes by hand with the standard tools — sentence-transformers
  (all-MiniLM-L6-v2) for item texts, ``implicit`` ALS on the interactions, a ridge map from text
  vectors to ALS item factors for the cold items, ``faiss.IndexFlatIP`` over the cold candidates
  searched with the ALS user factors.

Every (size, pipeline) runs in its own subprocess, so the peak RSS (``ru_maxrss``) is that
pipeline's alone. The 1M case passes item vectors instead of encoding 1M texts (the issue's
``--item-vectors`` case): the real items are encoded once and grown with
``_catalog.variant_vectors``; both pipelines get the same vectors.

Run (numbers into docs/scale.md)::

    COLDKIT_BENCH_FULL=1 python benches/bench_scale.py --sizes 10000 100000 --out /tmp/scale.json
    COLDKIT_BENCH_ENCODER=hashing ...      # coldkit with the hashing encoder (a first, fast measurement)

Under pytest (CI, ``--benchmark-disable``, no ``COLDKIT_BENCH_FULL``) only a tiny size runs, and
the test checks both pipelines' outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
from _catalog import grow_texts, resample_interactions, variant_bases, variant_vectors  # noqa: E402
from _args import positive_int, write_report  # noqa: E402 - this folder's shared command-line helpers

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
SIZES = (10_000, 100_000, 1_000_000)
TINY = 1_500
N_USERS = 10_000
K = 20
COLD_SHARE = 0.10
VECTORS_FROM = 1_000_000  # at and above this size the pipelines get item vectors, not texts
THREADS = int(os.environ.get("COLDKIT_BENCH_THREADS", "2"))


def interactions_for(n_items: int) -> int:
    return n_items * (10 if n_items >= 1_000_000 else 20)


def make_dataset(
    root: Path, n_items: int, n_users: int, vectors: bool, seed: int = 0, n_interactions: int | None = None
) -> dict[str, Any]:
    """Write items.csv, interactions.csv, candidates.txt, users.txt (and vectors.npy if ``vectors``) into ``root``.

    ``n_interactions``: how many to draw (default :func:`interactions_for` the size; resampling keeps at most
    that many, see ``_catalog.resample_interactions``)."""
    from coldkit.data import load_dataset

    real = load_dataset("ml-latest-small")
    table = real.catalog.table
    texts = [f"{t} | {g}" for t, g in zip(table["title"].astype(str), table["genres"].astype(str))]
    grown = grow_texts(texts, n_items)
    title, _, genres = zip(*(t.rpartition(" | ") for t in grown))
    item_ids = np.array([f"i{n}" for n in range(n_items)])
    pd.DataFrame({"item_id": item_ids, "title": title, "genres": genres}).to_csv(root / "items.csv", index=False)
    matrix = real.interactions.matrix.tocsr()
    users, items = resample_interactions(
        matrix.indptr, matrix.indices, matrix.shape[1], n_items, n_users, n_interactions or interactions_for(n_items), seed
    )
    rng = np.random.default_rng(seed + 1)
    cold = np.sort(rng.choice(n_items, int(COLD_SHARE * n_items), replace=False))
    keep = ~np.isin(items, cold)
    pd.DataFrame({"user_id": [f"u{u}" for u in users[keep]], "item_id": item_ids[items[keep]]}).to_csv(
        root / "interactions.csv", index=False
    )
    (root / "candidates.txt").write_text("\n".join(item_ids[cold]) + "\n")
    (root / "users.txt").write_text("\n".join(f"u{u}" for u in np.unique(users[keep])) + "\n")
    info = {"items": n_items, "users": int(np.unique(users[keep]).size), "interactions": int(keep.sum()), "cold": int(cold.size)}
    if vectors:
        encoder = _coldkit_encoder()
        real_vectors = np.asarray(encoder.encode_texts(texts), dtype=np.float32)
        base, variant = variant_bases(len(texts), n_items)
        vectors = np.where((variant == 0)[:, None], real_vectors[base], variant_vectors(real_vectors, base, seed))
        np.save(root / "vectors.npy", vectors.astype(np.float32))
        # The ids file makes vectors.npy a real ``--item-vectors`` file (coldkit.data.vectors).
        (root / "vectors.ids.txt").write_text("\n".join(item_ids) + "\n")
        info["vectors"] = True
    return info


def _encoder_name() -> str:
    if os.environ.get("COLDKIT_BENCH_ENCODER"):
        return os.environ["COLDKIT_BENCH_ENCODER"]
    from coldkit.models.registry import default_encoder_name

    return default_encoder_name() if FULL else "hashing"


def _coldkit_encoder() -> Any:
    import coldkit

    name = _encoder_name()
    return coldkit.get_encoder(name, threads=THREADS) if name == "bert" else coldkit.get_encoder(name)


# ---------------------------------------------------------------------------------------- children


def run_coldkit(root: Path, out: Path, use_vectors: bool) -> list[dict[str, Any]]:
    from coldkit._stages import recorded_stages
    from coldkit.batch import recommend_files

    options: dict[str, Any] = {"cache": False}
    encoder = None
    item_vectors = None
    if use_vectors:
        # The issue's ``--item-vectors`` case, through the same loader and validation as the CLI.
        item_vectors = str(root / "vectors.npy")
    else:
        encoder = _encoder_name()
        if encoder == "bert":
            options["encoder_options"] = {"threads": THREADS}
    with recorded_stages() as record:
        recommend_files(
            str(root / "interactions.csv"), str(root / "items.csv"), str(out), model="hybrid", k=K,
            candidates=str(root / "candidates.txt"), users=str(root / "users.txt"), encoder=encoder,
            item_vectors=item_vectors, options=options, progress=None,
        )  # fmt: skip
    return record


def run_anchor(root: Path, out: Path) -> list[dict[str, Any]]:
    """sentence-transformers + implicit ALS + ridge map + faiss flat, written as a user would."""
    import faiss
    import scipy.sparse as sp

    from coldkit._stages import peak_rss_bytes
    from coldkit.models.factorized import als_factors

    record: list[dict[str, Any]] = []
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def done(name: str) -> None:
        nonlocal clock, cpu_clock
        record.append({
            "stage": name, "seconds": time.perf_counter() - clock, "cpu_seconds": time.process_time() - cpu_clock,
            "peak_rss": peak_rss_bytes(),
        })  # fmt: skip
        clock, cpu_clock = time.perf_counter(), time.process_time()

    items = pd.read_csv(root / "items.csv", dtype=str, keep_default_na=False)
    inter = pd.read_csv(root / "interactions.csv", dtype=str)
    cand_ids = (root / "candidates.txt").read_text().split()
    user_ids = (root / "users.txt").read_text().split()
    item_index = pd.Index(items["item_id"])
    user_index = pd.Index(user_ids)
    rows, cols = user_index.get_indexer(inter["user_id"]), item_index.get_indexer(inter["item_id"])
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(user_ids), len(items)))
    done("load")
    texts = (items["title"] + " " + items["genres"]).tolist()
    if (root / "vectors.npy").exists():
        content = np.load(root / "vectors.npy")
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        import coldkit

        torch.set_num_threads(THREADS)
        model = SentenceTransformer(str(coldkit.get_encoder("bert").model_dir), device="cpu")
        content = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    done("encode")
    users, factors = als_factors(matrix, factors=64, iterations=15, threads=THREADS)
    done("fit ALS")
    warm = np.asarray(matrix.sum(axis=0)).ravel() > 0
    c = content[warm].astype(np.float64)
    weights = np.linalg.solve(c.T @ c + 10.0 * np.eye(c.shape[1]), c.T @ factors[warm])
    cand = item_index.get_indexer(cand_ids)
    cold_vectors = np.ascontiguousarray(content[cand] @ weights, dtype=np.float32)
    done("fit ridge map")
    faiss.omp_set_num_threads(THREADS)
    index = faiss.IndexFlatIP(cold_vectors.shape[1])
    index.add(cold_vectors)
    scores, found = index.search(np.ascontiguousarray(users, dtype=np.float32), K)
    done("recommend")
    ok = found >= 0
    r, k = np.nonzero(ok)
    pd.DataFrame({
        "user_id": np.asarray(user_ids, dtype=object)[r], "item_id": np.asarray(cand_ids, dtype=object)[found[r, k]],
        "rank": k + 1, "score": scores[r, k],
    }).to_csv(out, index=False, float_format="%.6g")  # fmt: skip
    done("write")
    return record


def child_main(pipeline: str, root: Path, report: Path, use_vectors: bool) -> None:
    from coldkit._stages import peak_rss_bytes

    started, cpu_started = time.perf_counter(), time.process_time()
    out = root / f"recs-{pipeline}.csv"
    stages = run_coldkit(root, out, use_vectors) if pipeline == "coldkit" else run_anchor(root, out)
    result = {
        "pipeline": pipeline, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started,
        "peak_rss": peak_rss_bytes(), "stages": stages,
    }  # fmt: skip
    write_report(report, json.dumps(result))


# ------------------------------------------------------------------------------------------ parent


def measure(
    n_items: int, n_users: int, pipelines: tuple[str, ...] = ("coldkit", "anchor"), timeout: float = 3600,
    n_interactions: int | None = None,
) -> dict[str, Any]:
    """Grow a data set of ``n_items`` (``n_interactions`` drawn, default :func:`interactions_for`) and run each
    pipeline on it in a fresh subprocess."""
    with tempfile.TemporaryDirectory(prefix=f"coldkit-scale-{n_items}-") as tmp:
        root = Path(tmp)
        # The anchor encodes with sentence-transformers when coldkit uses MiniLM (``bert``); with any
        # other coldkit encoder (hashing in CI) it reads that encoder's vectors, so both pipelines
        # rank with the same content vectors and the comparison is of everything else.
        use_vectors = n_items >= VECTORS_FROM
        # Linux keeps a process's peak RSS across fork + exec: the data is made in a child of its
        # own, so this parent stays small and each pipeline's ru_maxrss is its own.
        subprocess.run(
            [sys.executable, __file__, "--make", str(n_items), "--users", str(n_users), "--root", str(root)]
            + (["--vectors"] if use_vectors or _encoder_name() != "bert" else [])
            + (["--interactions", str(n_interactions)] if n_interactions else []),
            check=True, timeout=timeout,
        )  # fmt: skip
        info = json.loads((root / "data.json").read_text())
        info["encoder"] = "item vectors" if use_vectors else _encoder_name()
        info["anchor_encoder"] = f"{_encoder_name()} vectors (precomputed)" if info.get("vectors") else "sentence-transformers MiniLM"
        runs = {}
        for pipeline in pipelines:
            report = root / f"{pipeline}.json"
            # Both pipelines under the same OpenMP wait policy: coldkit's encoders choose PASSIVE
            # themselves (coldkit.encoding_torch.prefer_passive_openmp), and the anchor's torch would
            # otherwise spin at every barrier, which on shared cores costs it several times its CPU.
            env = {
                **os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS),
                "OMP_WAIT_POLICY": "PASSIVE",
            }  # fmt: skip
            proc = subprocess.run(
                [sys.executable, __file__, "--child", pipeline, "--root", str(root), "--report", str(report)]
                + (["--vectors"] if use_vectors else []),
                env=env, timeout=timeout, capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                runs[pipeline] = {"error": proc.stderr[-2000:]}
                continue
            runs[pipeline] = json.loads(report.read_text())
            runs[pipeline]["output"] = _check_output(root / f"recs-{pipeline}.csv", root)
        return {"data": info, "runs": runs}


def _check_output(path: Path, root: Path) -> dict[str, Any]:
    recs = pd.read_csv(path, dtype={"user_id": str, "item_id": str})
    cand = set((root / "candidates.txt").read_text().split())
    per_user = recs.groupby("user_id").size()
    return {
        "rows": len(recs), "users": int(per_user.size), "max_per_user": int(per_user.max()) if len(per_user) else 0,
        "only_candidates": bool(recs["item_id"].isin(cand).all()),
    }  # fmt: skip


def exponent(results: list[dict[str, Any]], pipeline: str) -> float | None:
    """log(time ratio) / log(size ratio) between the smallest and the largest measured size."""
    points = [(r["data"]["items"], r["runs"][pipeline]["seconds"]) for r in results if "seconds" in r["runs"].get(pipeline, {})]
    if len(points) < 2:
        return None
    (n0, t0), (n1, t1) = points[0], points[-1]
    return math.log(t1 / t0) / math.log(n1 / n0)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| items | pipeline | stage | seconds | CPU seconds | peak RSS (GB) |", "|---:|---|---|---:|---:|---:|"]
    for r in results:
        for name, run in r["runs"].items():
            if "error" in run:
                lines.append(f"| {r['data']['items']:,} | {name} | FAILED | | | |")
                continue
            for s in run["stages"]:
                cpu = f"{s['cpu_seconds']:.1f}" if "cpu_seconds" in s else ""
                lines.append(f"| {r['data']['items']:,} | {name} | {s['stage']} | {s['seconds']:.1f} | {cpu} | {s['peak_rss'] / 2**30:.2f} |")
            cpu = f"**{run['cpu_seconds']:.1f}**" if "cpu_seconds" in run else ""
            lines.append(f"| {r['data']['items']:,} | {name} | **total** | **{run['seconds']:.1f}** | {cpu} | **{run['peak_rss'] / 2**30:.2f}** |")
    return "\n".join(lines)


def test_scale_tiny(tmp_path: Path) -> None:
    """CI: both pipelines run end to end on a tiny grown data set and write valid top-k lists."""
    result = measure(TINY, 300, timeout=900)
    for name, run in result["runs"].items():
        assert "error" not in run, f"{name} failed: {run.get('error')}"
        out = run["output"]
        assert out["only_candidates"] and 0 < out["max_per_user"] <= K
        assert out["users"] > 0.9 * result["data"]["users"]
        stages = [s["stage"] for s in run["stages"]]
        assert all(s["seconds"] >= 0 and s["peak_rss"] > 0 for s in run["stages"])
        if name == "coldkit":
            assert any(s.startswith("fit warm model") for s in stages) and any(s.startswith("recommend") for s in stages)


def test_make_dataset_draws_the_interactions_asked(tmp_path: Path) -> None:
    """``--interactions`` with ``--users``: a log of many users with few interactions each, as asked (at most that
    many: resampling keeps distinct items per user), every file consistent with the others."""
    info = make_dataset(tmp_path, 2_000, 900, vectors=False, n_interactions=9_000)
    inter = pd.read_csv(tmp_path / "interactions.csv", dtype=str)
    assert 9_000 // 2 <= info["interactions"] == len(inter) <= 9_000  # short users and the cold items lose some
    assert set(inter["user_id"]) == set((tmp_path / "users.txt").read_text().split())
    assert not set(inter["item_id"]) & set((tmp_path / "candidates.txt").read_text().split())  # cold: no interaction


@pytest.mark.parametrize(
    ("flags", "words"),
    [(["--sizes", "0"], "expected a whole number >= 1, got 0"), (["--users", "-5"], "expected a whole number >= 1"),
     (["--pipelines", "bogus"], "invalid choice: 'bogus'")],
)
def test_bad_options_are_refused_before_any_work(tmp_path: Path, flags: list[str], words: str) -> None:
    # --sizes 0 reached the child as --make 0, read as "not given": it ran the whole default benchmark with both
    # pipelines; --pipelines bogus ran the anchor labelled "bogus"
    run = subprocess.run([sys.executable, __file__, *flags], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr
    assert not list(tmp_path.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=list(SIZES if FULL else (TINY,)))
    parser.add_argument("--users", type=positive_int, default=N_USERS if FULL else 300)
    parser.add_argument("--pipelines", nargs="+", default=["coldkit", "anchor"], choices=["coldkit", "anchor"])
    parser.add_argument(
        "--interactions", type=positive_int, default=None,
        help="interactions to draw (default 20 per item, 10 at 1M); with --users, the shape of a log with many users, "
        "e.g. --sizes 27000 --users 138000 --interactions 20000000 (ml-20m's shape)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make", type=positive_int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.root, args.report, args.vectors)
        return
    if args.make is not None:
        info = make_dataset(args.root, args.make, args.users, vectors=args.vectors, n_interactions=args.interactions)
        write_report(args.root / "data.json", json.dumps(info))
        return
    results = []
    for n in args.sizes:
        results.append(measure(n, args.users, tuple(args.pipelines), n_interactions=args.interactions))
        print(table(results[-1:]), file=sys.stderr, flush=True)
        if args.out:
            write_report(args.out, json.dumps({"results": results}, indent=2))
    print(table(results))
    for pipeline in args.pipelines:
        e = exponent(results, pipeline)
        print(f"cost exponent {pipeline}: {'n/a' if e is None else f'{e:.2f}'}")


if __name__ == "__main__":
    main()
