"""Privacy–utility benchmark (issue 13): Recall@20 against the privacy budget ε.

Systems, each fitted fresh per seed on the same split:

* ``dp-hybrid`` — :class:`coldkit.privacy.models.DPHybrid`, user-level (ε, δ)-DP, δ = 1/(10·users);
* ``federated`` — ``build_model("federated", dp_epsilon=..., dp_delta=..., n_clients=10)`` when a model of
  that name is registered when the benchmark runs; otherwise its rows say ``absent``;
* ``no-sharing`` — content kNN from the user's own clicks only (``content``, the same encoder): it learns
  nothing across users, so it needs no budget and is the same at every ε;
* ``hybrid`` — the non-private default hybrid (tuned on a carved validation split), the reference of the
  targets, measured in the same run.

Tasks: cold items (cold-only candidates; ``cold`` of the cold-item protocol) and cold users with n = 3
revealed clicks (``n=3`` of the cold-user protocol). ε ∈ {0.5, 1, 2, 4, 8, ∞} (∞ = the DP pipeline with
no noise). Data: ml-100k, lastfm-2k and ``pop50k``, a 50,000-user population resampled from ml-100k (each
synthetic user is a random real user keeping each of their interactions with probability 0.8; sparse).

Targets: on pop50k at ε = 4 cold-item Recall@20 >= 0.85x the non-private hybrid; on ml-100k at ε = 8
>= 0.85x, and at ε = 1 the DP hybrid beats no-sharing.

Items are renumbered at random (seed 0) before anything else (``--keep-item-order`` does not). In
ml-100k an item's index follows its popularity (Spearman 0.81 between index and popularity rank), so a
model that breaks ties by index, or a learned re-ranker fed a tied source's ranks, is handed a
popularity prior no real new item would carry; shuffling takes that away from every system alike.

Paired test: for every (data set, task, ε), the DP hybrid's per-query recall against no-sharing's on the
same queries, pooled over seeds — mean difference, paired t and two-sided p (``report["paired"]``).

Full run (writes OUT/privacy.json, privacy.md, privacy.png)::

    COLDKIT_BENCH_FULL=1 python benches/bench_privacy.py --out docs/privacy --data-root ../shared/data

Under pytest (CI, ``--benchmark-disable``) a small synthetic population, one seed and two ε values run
the whole pipeline in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pytest
import scipy.sparse as sp

from coldkit._atomic import atomic_write_bytes
from coldkit.data.datasets import load_dataset
from coldkit.data.interactions import Interactions
from coldkit.evaluation.metrics import recall_at_k
from coldkit.evaluation.runner import make_split
from coldkit.models.registry import build_model
from coldkit.plugins.manager import registry
from coldkit.privacy.models import DPHybrid

sys.path.insert(0, str(Path(__file__).parent))
from _charts import png_bytes  # noqa: E402
from _args import positive_epsilon, positive_int  # noqa: E402 - this folder's shared command-line helpers

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
TASKS = {"cold-item": ("cold-item", "cold"), "cold-user n=3": ("cold-user", "n=3")}
K = 20


def resample_population(base: Interactions, n_users: int, keep: float = 0.8, seed: int = 0) -> Interactions:
    """``n_users`` synthetic users, each a random user of ``base`` keeping each interaction with probability ``keep``.

    Sparse throughout (50k users of ml-100k: ~4M interactions, ~50 MB).
    """
    rng = np.random.default_rng(seed)
    source = rng.integers(0, base.n_users, n_users)
    matrix = sp.csr_matrix(base.matrix, dtype=np.float32, copy=True)
    matrix.data[:] = 1.0
    rows = matrix[source].tocoo()
    kept = rng.random(rows.nnz) < keep
    out = sp.csr_matrix((np.ones(int(kept.sum()), np.float32), (rows.row[kept], rows.col[kept])), shape=(n_users, base.n_items))
    ids = np.array([f"s{i}" for i in range(n_users)], dtype=object)
    return Interactions(ids, base.catalog, out)


def shuffle_items(data: Interactions, seed: int = 0) -> Interactions:
    """The same interactions with the items renumbered at random (ids, content and columns move together).

    A data set's item order is not information a model should use: in ml-100k it follows popularity.
    """
    from coldkit.data.interactions import Catalog

    perm = np.random.default_rng(seed).permutation(data.n_items)  # new index j holds old item perm[j]
    catalog = data.catalog
    shuffled = Catalog(catalog.item_ids[perm], catalog.table.iloc[perm].reset_index(drop=True), catalog.text_columns)
    stamps = None if data.timestamps is None else sp.csr_matrix(data.timestamps)[:, perm]
    return Interactions(data.user_ids, shuffled, sp.csr_matrix(data.matrix)[:, perm], stamps)


def systems(encoder: str, eps: float, delta: float) -> dict[str, Callable[[], Any] | None]:
    """System name -> a factory (None: not available in this build)."""
    federated: Callable[[], Any] | None = None
    if "federated" in registry("model"):
        def federated() -> Any:
            return build_model("federated", dp_epsilon=eps, dp_delta=delta, n_clients=10, encoder=encoder, seed=0)
    # seed=0: the published numbers repeat; a release would leave it out (a secret seed per fit)
    return {
        "dp-hybrid": lambda: DPHybrid(dp_epsilon=eps, dp_delta=delta, encoder=encoder, seed=0),
        "federated": federated,
    }


def _recall(model: Any, task: Any, max_users: int | None) -> np.ndarray:
    """Per-query Recall@K (the same ``max_users`` queries for every system, so systems can be paired)."""
    queries, truth = task.queries, task.truth
    if max_users is not None and len(queries) > max_users:
        keep = np.sort(np.random.default_rng(7919).choice(len(queries), size=max_users, replace=False))
        queries, truth = [queries[i] for i in keep], truth[keep]
    ranked = np.vstack([
        model.recommend(queries[s : s + 1024], K, candidates=task.candidates).indices for s in range(0, len(queries), 1024)
    ])
    return np.asarray(recall_at_k(ranked, truth, K), dtype=np.float64)


def run_dataset(
    name: str, data: Interactions, *, encoder: str, seeds: Sequence[int], epsilons: Sequence[float],
    max_users: int | None, log: Callable[[str], None] = print, reference: bool = True, max_memory: str | None = None,
    per_query: dict[tuple[str, str, str, float | None, int], np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{dataset, task, system, epsilon, seed, recall, fit_seconds}`` (epsilon None = ∞; recall None = absent).

    ``per_query``, if given, receives each run's per-query recalls under ``(dataset, task, system, epsilon, seed)``.
    """
    rows: list[dict[str, Any]] = []
    delta = 1.0 / (10 * data.n_users)
    for label, (protocol, task_name) in TASKS.items():
        for seed in seeds:
            split = make_split(protocol, data, seed, reveal=(3,))
            task = split.tasks[task_name]

            def record(system: str, eps: float | None, factory: Callable[[], Any] | None) -> None:
                if factory is None:
                    rows.append({"dataset": name, "task": label, "system": system, "epsilon": eps, "seed": seed,
                                 "recall": None, "fit_seconds": None})
                    return
                started = time.perf_counter()
                model = factory().fit(split.train)
                fit = time.perf_counter() - started
                recalls = _recall(model, task, max_users)
                recall = float(np.mean(recalls))
                if per_query is not None:
                    per_query[(name, label, system, eps, seed)] = recalls
                rows.append({"dataset": name, "task": label, "system": system, "epsilon": eps, "seed": seed,
                             "recall": recall, "fit_seconds": fit})
                log(f"{name} {label} seed={seed} {system} eps={eps}: recall@{K}={recall:.4f} (fit {fit:.1f}s)")

            if reference:  # the non-private hybrid (its EASE needs ~3.5 GB on lastfm-2k)
                extra = {} if max_memory is None else {"memory_budget": max_memory}  # the hybrid picks ALS when EASE does not fit
                record("hybrid", None, lambda: build_model("hybrid", encoder=encoder, **extra))
            record("no-sharing", None, lambda: build_model("content", encoder=encoder))
            for eps in epsilons:
                for system, factory in systems(encoder, eps, delta).items():
                    record(system, None if math.isinf(eps) else eps, factory)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, float | None], tuple[float, float, int] | None]:
    """(dataset, task, system, ε) -> (mean, std, seeds) over seeds, None for an absent system."""
    groups: dict[tuple[str, str, str, float | None], list[float | None]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["task"], r["system"], r["epsilon"]), []).append(r["recall"])
    out: dict[tuple[str, str, str, float | None], tuple[float, float, int] | None] = {}
    for key, values in groups.items():
        present = [v for v in values if v is not None]
        out[key] = (float(np.mean(present)), float(np.std(present)), len(present)) if present else None
    return out


def targets(summary: dict[Any, Any], epsilons: Sequence[float], paired: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The issue's three targets, each with the numbers it compares and whether it is met.

    "Beats no-sharing" needs a higher mean *and*, when a paired test is given for it, p < 0.05.
    """
    def mean(dataset: str, system: str, eps: float | None, task: str = "cold-item") -> float | None:
        value = summary.get((dataset, task, system, eps))
        return None if value is None else value[0]

    checks = []
    for dataset, eps in (("pop50k", 4.0), ("ml-100k", 8.0)):
        dp, ref = mean(dataset, "dp-hybrid", eps), mean(dataset, "hybrid", None)
        if dp is not None and ref:
            checks.append({"target": f"{dataset}: cold-item Recall@20 at ε={eps:g} >= 0.85x non-private hybrid",
                           "dp": dp, "reference": ref, "ratio": dp / ref, "met": dp >= 0.85 * ref})
    dp, base = mean("ml-100k", "dp-hybrid", 1.0), mean("ml-100k", "no-sharing", None)
    if dp is not None and base is not None:
        test = [p for p in paired if (p["dataset"], p["task"], p["epsilon"]) == ("ml-100k", "cold-item", 1.0)]
        p_value = test[0]["p"] if test else None
        checks.append({"target": "ml-100k: DP hybrid at ε=1 beats no-sharing (cold items)", "dp": dp, "reference": base,
                       "ratio": dp / base, "p": p_value, "met": dp > base and (p_value is None or p_value < 0.05)})
    return checks


def paired_tests(per_query: dict[tuple[str, str, str, float | None, int], np.ndarray]) -> list[dict[str, Any]]:
    """DP hybrid vs no-sharing per (data set, task, ε): per-query differences pooled over seeds, paired t, two-sided p."""
    from scipy import stats

    groups: dict[tuple[str, str, float | None], list[np.ndarray]] = {}
    for (dataset, task, system, eps, seed), recalls in per_query.items():
        base = per_query.get((dataset, task, "no-sharing", None, seed))
        if system == "dp-hybrid" and base is not None:
            groups.setdefault((dataset, task, eps), []).append(recalls - base)
    out = []
    for (dataset, task, eps), parts in groups.items():
        diff = np.concatenate(parts)
        sd = float(np.std(diff, ddof=1)) if diff.size > 1 else 0.0
        t = float(np.mean(diff) / (sd / math.sqrt(diff.size))) if sd > 0 else 0.0
        p = float(2 * stats.t.sf(abs(t), diff.size - 1)) if sd > 0 else 1.0
        out.append({"dataset": dataset, "task": task, "epsilon": eps, "vs": "no-sharing", "queries": int(diff.size),
                    "seeds": len(parts), "mean_diff": float(np.mean(diff)), "t": t, "p": p})
    return out


def _epsilons(report: dict[str, Any]) -> list[float]:
    """The report's ε values as floats (``null`` in the JSON file = ∞)."""
    return [math.inf if e is None else float(e) for e in report["epsilons"]]


def _dump(report: dict[str, Any]) -> bytes:
    """Strict JSON (no ``Infinity``): ε = ∞ is written as null, as in the rows."""
    strict = {**report, "epsilons": [None if math.isinf(e) else e for e in _epsilons(report)]}
    return json.dumps(strict, indent=2, allow_nan=False).encode("utf-8")


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/privacy.md: one per (data set, task), rows = systems, columns = ε."""
    summary = summarise(report["rows"])
    eps_cols: list[float | None] = [None if math.isinf(e) else e for e in _epsilons(report)]
    lines = []
    for dataset in report["datasets"]:
        for task in TASKS:
            if not any(k[0] == dataset and k[1] == task for k in summary):
                continue
            seeds = sorted({r["seed"] for r in report["rows"] if r["dataset"] == dataset and r["task"] == task})
            lines.append(f"\n**{dataset}, {task}** (Recall@20, mean ± std over seeds {seeds}; references do not depend on ε)\n")
            lines.append("| system | " + " | ".join("ε=∞" if e is None else f"ε={e:g}" for e in eps_cols) + " |")
            lines.append("|---|" + "---|" * len(eps_cols))
            for system in ("dp-hybrid", "federated", "no-sharing", "hybrid"):
                cells = []
                for e in eps_cols:
                    key = (dataset, task, system, None if system in ("no-sharing", "hybrid") else e)
                    if key not in summary:
                        cells.append("–")
                        continue
                    value = summary[key]
                    cells.append("absent" if value is None else f"{value[0]:.4f} ± {value[1]:.4f}")
                label = {"hybrid": "hybrid (non-private)", "no-sharing": "no-sharing (own clicks)"}.get(system, system)
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if report.get("paired"):
        lines.append("\n**DP hybrid − no-sharing, paired over the same queries** (pooled over seeds)\n")
        lines.append("| data set | task | ε | queries | mean difference | paired t | p (two-sided) |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in report["paired"]:
            eps = "∞" if r["epsilon"] is None else f"{r['epsilon']:g}"
            lines.append(f"| {r['dataset']} | {r['task']} | {eps} | {r['queries']} | {r['mean_diff']:+.4f} | {r['t']:.2f} | {r['p']:.3g} |")
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any]) -> bytes:
    """PNG: Recall@20 against ε per (data set, task), with the non-private and no-sharing references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(report["rows"])
    panels = [(d, t) for d in report["datasets"] for t in TASKS if any(k[0] == d and k[1] == t for k in summary)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    finite = [e for e in _epsilons(report) if not math.isinf(e)]
    x_inf = max(finite) * 2 if finite else 1.0
    for ax, (dataset, task) in zip(axes[0], panels):
        for system, style in (("dp-hybrid", "o-"), ("federated", "s--")):
            xs, ys = [], []
            for e in _epsilons(report):
                value = summary.get((dataset, task, system, None if math.isinf(e) else e))
                if value is not None:
                    xs.append(x_inf if math.isinf(e) else e)
                    ys.append(value[0])
            if xs:
                ax.plot(xs, ys, style, label=system, markersize=4)
        for system, color in (("hybrid", "black"), ("no-sharing", "tab:red")):
            value = summary.get((dataset, task, system, None))
            if value is not None:
                ax.axhline(value[0], color=color, linestyle=":", label=f"{system}")
        ax.set_xscale("log")
        ax.set_xticks([*finite, x_inf], [*(f"{e:g}" for e in finite), "∞"])
        ax.set_title(f"{dataset}: {task}", fontsize=9)
        ax.set_xlabel("ε (δ = 1/(10·users))", fontsize=8)
        ax.set_ylabel("Recall@20", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def run_privacy(
    *, full: bool, out: Path, data_root: str | None = None, encoder: str = "hashing", seeds: Sequence[int] | None = None,
    datasets: Sequence[str] | None = None, epsilons: Sequence[float] | None = None, max_users: int | None = None,
    reference: bool = True, max_memory: str | None = None, shuffle: bool = True,
) -> dict[str, Any]:
    """Run the benchmark and write OUT/privacy.json, privacy.md and privacy.png (rewritten after each data set)."""
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds if seeds is not None else ((0, 1, 2) if full else (0,)))
    epsilons = list(epsilons if epsilons is not None else (EPSILONS if full else (1.0, math.inf)))
    names = list(datasets if datasets is not None else (("ml-100k", "lastfm-2k", "pop50k") if full else ("pop-small",)))
    report: dict[str, Any] = {"encoder": encoder, "seeds": seeds, "epsilons": epsilons, "datasets": [], "rows": [],
                              "delta": "1/(10·users)", "max_users": max_users, "shuffled_items": shuffle}
    per_query: dict[tuple[str, str, str, float | None, int], np.ndarray] = {}
    for name in names:
        if name == "pop50k":
            base = load_dataset("ml-100k", data_root=data_root).interactions
            base = shuffle_items(base) if shuffle else base
            data = resample_population(base, 50_000, seed=0)
        elif name == "pop-small":  # CI: a few hundred users resampled from the embedded data set
            base = load_dataset("ml-latest-small", data_root=data_root).interactions
            from coldkit.data.datasets import Dataset, subsample

            small = subsample(Dataset("small", base, base.catalog), max_users=200, max_items=300, seed=0).interactions
            data = resample_population(small, 600, seed=0)
        else:
            data = load_dataset(name, data_root=data_root).interactions
            data = shuffle_items(data) if shuffle else data
        report["datasets"].append(name)
        report["rows"] += run_dataset(name, data, encoder=encoder, seeds=seeds, epsilons=epsilons, max_users=max_users,
                                      reference=reference, max_memory=max_memory, per_query=per_query)
        summary = summarise(report["rows"])
        report["paired"] = paired_tests(per_query)
        report["targets"] = targets(summary, epsilons, report["paired"])
        atomic_write_bytes(out / "privacy.json", _dump(report))
        atomic_write_bytes(out / "privacy.md", markdown(report).encode("utf-8"))
        atomic_write_bytes(out / "privacy.png", chart(report))
    return report


def test_privacy_pipeline(tmp_path: Path) -> None:
    """CI: the small run completes, every system has a row per ε, and the files are written."""
    report = run_privacy(full=FULL, out=tmp_path, max_users=300)
    summary = summarise(report["rows"])
    dp = [v for k, v in summary.items() if k[2] == "dp-hybrid" and v is not None]
    assert len(dp) == 2 * len(TASKS)
    assert all(0.0 <= v[0] <= 1.0 for v in dp)
    assert (tmp_path / "privacy.png").read_bytes()[:4] == b"\x89PNG"
    assert "dp-hybrid" in (tmp_path / "privacy.md").read_text()


def test_shuffle_items_moves_ids_content_and_columns_together() -> None:
    base = load_dataset("ml-latest-small").interactions
    shuffled = shuffle_items(base, seed=3)
    assert not np.array_equal(shuffled.catalog.item_ids, base.catalog.item_ids)
    old = base.catalog.index_of(shuffled.catalog.item_ids)  # where each new item was
    np.testing.assert_array_equal(shuffled.item_counts(), base.item_counts()[old])
    texts = base.catalog.texts()
    assert shuffled.catalog.texts() == [texts[i] for i in old]
    assert (shuffled.matrix != base.matrix[:, old]).nnz == 0


def test_paired_tests_match_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    a0, b0, a1, b1 = (rng.random(50) for _ in range(4))
    per_query = {("d", "t", "dp-hybrid", 1.0, 0): a0, ("d", "t", "no-sharing", None, 0): b0,
                 ("d", "t", "dp-hybrid", 1.0, 1): a1, ("d", "t", "no-sharing", None, 1): b1}
    [row] = paired_tests(per_query)
    expected = stats.ttest_rel(np.concatenate([a0, a1]), np.concatenate([b0, b1]))
    assert row["queries"] == 100 and row["seeds"] == 2
    assert row["t"] == pytest.approx(expected.statistic) and row["p"] == pytest.approx(expected.pvalue)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="coldkit-results/privacy")
    parser.add_argument("--data-root", default=os.environ.get("COLDKIT_DATA"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--epsilons", type=positive_epsilon, nargs="+", default=None, help="use inf for no noise")
    parser.add_argument("--max-users", type=positive_int, default=None, help="evaluate at most this many users per task")
    parser.add_argument("--merge", nargs="+", default=None, help="privacy.json files to merge into OUT (no run)")
    parser.add_argument("--no-reference", action="store_true", help="skip the non-private hybrid (memory-bound machines)")
    parser.add_argument("--only-reference", action="store_true", help="only the non-private hybrid and no-sharing")
    parser.add_argument("--max-memory", default=None, help="memory budget of the non-private hybrid, e.g. 2.5G")
    parser.add_argument("--keep-item-order", action="store_true", help="do not renumber the items first (see above)")
    args = parser.parse_args()
    if args.merge:
        merged: dict[str, Any] = {}
        for path in args.merge:
            part = json.loads(Path(path).read_text(encoding="utf-8"))
            merged = merged or {k: v for k, v in part.items() if k not in ("rows", "datasets", "paired")} | {"rows": [], "datasets": []}
            merged["rows"] += part["rows"]
            merged["paired"] = [*merged.get("paired", []), *part.get("paired", [])]
            merged["datasets"] += [d for d in part["datasets"] if d not in merged["datasets"]]
            # ε columns: every part's (null = ∞), finite ones ascending and ∞ last
            finite = {e for e in [*merged["epsilons"], *part["epsilons"]] if e is not None and not math.isinf(e)}
            has_inf = any(e is None or math.isinf(e) for e in [*merged["epsilons"], *part["epsilons"]])
            merged["epsilons"] = [*sorted(finite), *([math.inf] if has_inf else [])]
        merged["targets"] = targets(summarise(merged["rows"]), _epsilons(merged), merged.get("paired", []))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "privacy.json", _dump(merged))
        atomic_write_bytes(out / "privacy.md", markdown(merged).encode("utf-8"))
        atomic_write_bytes(out / "privacy.png", chart(merged))
    else:
        run_privacy(full=FULL, out=Path(args.out), data_root=args.data_root, encoder=args.encoder, seeds=args.seeds,
                    datasets=args.datasets, epsilons=[] if args.only_reference else args.epsilons, max_users=args.max_users,
                    reference=not args.no_reference, max_memory=args.max_memory, shuffle=not args.keep_item_order)
