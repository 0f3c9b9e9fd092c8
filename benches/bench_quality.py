"""Quality benchmark: the cold-start targets of issue 11, measured.

Targets (Recall@20, mean of 3 seeds, the default ``hybrid`` — which tunes itself on a validation
split carved from each training set — and no per-data-set tuning):

1. Cold items (cold-only candidates): ``hybrid`` >= 1.10x the best other model on every data set.
   Others: popularity, TF-IDF and LM content kNN, the content→CF ridge map, and the published
   cold-start models DropoutNet, Heater, CLCRec and ALDI (``--published``; they train torch
   networks and cost 15-80x the ridge map's fit); LightFM with item features when the ``lightfm``
   extra is installed (in both protocols).
2. Cold users: >= 1.05x the best other model at n = 1, 3, 5 and at n = 0 where users have profile
   text (ml-100k). Others: popularity, item-kNN, EASE, LM content kNN, and ``friends`` where there
   is a social graph (lastfm-2k).
3. Significant: the paired per-user Wilcoxon test (:func:`coldkit.evaluation.report.paired_test`)
   of ``hybrid`` against the best other model gives p < 0.05.

Run the full benchmark (real data under ``../shared/data`` or ``$COLDKIT_DATA``; LM = the ``bert``
encoder plugin when installed, else the built-in hashing encoder, which the report says)::

    COLDKIT_BENCH_FULL=1 .venv/bin/python benches/bench_quality.py --out docs/quality [--published]

Under pytest (CI, ``--benchmark-disable``) it runs a small subsample (embedded data cut to 150 users x
800 items, one seed, hashing encoder) so the whole pipeline is exercised quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from coldkit.data import load_dataset, shuffle_items, subsample
from coldkit.evaluation import ModelChoice, evaluate
from coldkit._atomic import atomic_write_bytes
from coldkit.evaluation.report import format_spread, paired_test, plot_result
from coldkit.models.registry import default_encoder_name

sys.path.insert(0, str(Path(__file__).parent))
from _args import positive_int  # noqa: E402 - this folder's shared command-line helpers

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
DATASETS = ("ml-100k", "ml-latest-small", "lastfm-2k")
TARGET_GAIN = {"cold-item": 0.10, "cold-user": 0.05}
SIGNIFICANCE = 0.05
PUBLISHED = ("dropoutnet", "heater", "clcrec", "aldi")


def lightfm_models(encoder: str, cold_items: bool = False) -> list[ModelChoice]:
    """LightFM with item content features, when the optional ``lightfm`` extra is installed.

    For cold items, items are content alone (``item_identity=False``, Kula's cold-start setting:
    better on cold items, see docs/models.md); for cold users, the default (warm item identities too).
    """
    import importlib.util

    if importlib.util.find_spec("lightfm") is None:
        return []
    options: dict[str, Any] = {"encoder": encoder, **({"item_identity": False} if cold_items else {})}
    return [ModelChoice(f"lightfm({encoder})", "lightfm", options)]


def cold_item_models(encoder: str, published: bool = False) -> tuple[list[ModelChoice], list[str], str]:
    """(choices, baseline labels, coldkit's configuration label)."""
    choices = [
        ModelChoice("popularity", "popularity"),
        ModelChoice("content-tfidf", "content", {"encoder": "hashing"}),
        ModelChoice(f"content-lm({encoder})", "content", {"encoder": encoder}),
        ModelChoice(f"cold-ridge({encoder})", "cold-ridge", {"encoder": encoder}),
    ]
    if published:
        choices += [ModelChoice(f"{name}({encoder})", name, {"encoder": encoder}) for name in PUBLISHED]
    choices += lightfm_models(encoder, cold_items=True)
    choices.append(ModelChoice(f"hybrid({encoder})", "hybrid", {"encoder": encoder}))
    return choices, [c.label for c in choices[:-1]], choices[-1].label


def cold_user_models(encoder: str, published: bool = False, timed: bool = False) -> tuple[list[ModelChoice], list[str], str]:
    """(choices, baseline labels, coldkit's configuration label); ``timed``: the data have timestamps, so
    recency-weighted popularity (its default 30-day half-life), a strong prior for new users, is a baseline too."""
    choices = [
        ModelChoice("popularity", "popularity"),
        *([ModelChoice("popularity-recent", "popularity-recent")] if timed else []),
        ModelChoice("item-knn", "item-knn"),
        ModelChoice("ease", "ease"),
        ModelChoice(f"content-lm({encoder})", "content", {"encoder": encoder}),
        ModelChoice("friends", "friends"),  # popularity among friends; plain popularity without a graph
        *lightfm_models(encoder),
        ModelChoice(f"hybrid({encoder})", "hybrid", {"encoder": encoder}),
    ]
    return choices, [c.label for c in choices[:-1]], choices[-1].label


def target_met(protocol: str, gain: float, p_value: float | None) -> bool:
    """The gain target of the protocol, and significance (paired Wilcoxon p < 0.05)."""
    return gain >= TARGET_GAIN[protocol] and p_value is not None and p_value < SIGNIFICANCE


def verdict(result: Any, task: str, baselines: list[str], ours: str, metric: str = "recall@20") -> dict[str, Any]:
    """Our mean vs the best baseline mean on one task; relative gain."""
    summary = result.summary()
    base = {b: summary[(b, task, metric)][0] for b in baselines if (b, task, metric) in summary}
    best_label = max(base, key=base.get)
    mine = summary[(ours, task, metric)]
    gain = mine[0] / base[best_label] - 1 if base[best_label] > 0 else float("inf")
    test = paired_test(result, ours, best_label, task)
    return {
        "p_value": test["p_value"] if test else None,
        "wins": test["wins"] if test else None,
        "losses": test["losses"] if test else None,
        "task": task,
        "metric": metric,
        "ours": ours,
        "ours_mean": mine[0],
        "ours_std": mine[1],  # the sample std over seeds (seed_spread); None from one seed
        "ours_seeds": mine[2],
        "best_baseline": best_label,
        "best_baseline_mean": base[best_label],
        "gain": gain,
    }


def run_quality(
    *,
    full: bool,
    out: Path,
    data_root: str | None = None,
    encoder: str | None = None,
    seeds: int | None = None,
    datasets: tuple[str, ...] | None = None,
    published: bool = False,
    protocols: tuple[str, ...] = ("cold-item", "cold-user"),
) -> dict[str, Any]:
    """Run both protocols; write ``quality.json``, ``quality.md`` and one PNG per run into ``out``."""
    encoder = encoder or (default_encoder_name() if full else "hashing")
    datasets = datasets or (DATASETS if full else ("ml-latest-small",))
    n_seeds = seeds or (3 if full else 1)
    report: dict[str, Any] = {"full": full, "encoder": encoder, "seeds": n_seeds, "runs": []}
    lines = [f"Encoder for LM models: `{encoder}`; seeds: {n_seeds}; {'full' if full else 'SMALL SUBSAMPLE'} run.", ""]
    for name in datasets:
        # CI: 150 users x the 800 most-interacted items, so every model fits in seconds.
        data: Any = load_dataset(name, data_root=data_root) if full else subsample(load_dataset(name), max_users=150, max_items=800)
        # Items renumbered at random: a data set's file order is no signal (ml-100k's follows
        # popularity, which every tie broken by item index — all cold items score 0 for popularity —
        # would read). coldkit.data.shuffle_items; the outside check shuffles its CSV files likewise.
        data = shuffle_items(data, seed=0)
        for protocol, factory in (("cold-item", cold_item_models), ("cold-user", cold_user_models)):
            if protocol not in protocols:
                continue
            timed = getattr(data.interactions, "timestamps", None) is not None
            specs, baselines, ours = factory(encoder, published, timed) if protocol == "cold-user" else factory(encoder, published)
            started = time.perf_counter()
            # keep_item_order: renumbered once above (seed 0) as in every published run, so its numbers repeat
            result = evaluate(
                data, specs, protocol=protocol, seeds=range(n_seeds), k=(10, 20), data_root=data_root, progress=None,
                keep_item_order=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            tasks = ["cold"] if protocol == "cold-item" else [t for t in result.tasks if t != "n=0" or _has_profiles(name)]
            verdicts = [verdict(result, t, baselines, ours) for t in tasks]
            run = {"dataset": name, "protocol": protocol, "seconds": seconds, "verdicts": verdicts, "result": result.to_dict()}
            report["runs"].append(run)
            stem = f"{name}-{protocol}"
            atomic_write_bytes(out / f"{stem}.png", plot_result(result))
            lines += [f"### {name} — {protocol} ({seconds:.0f} s)", "", "```", result.table(
                metrics=["recall@20", "ndcg@20", "hit_rate@20", "coverage@20"],
                tasks=tasks if protocol == "cold-item" else None,
            ), "```", ""]  # fmt: skip
            for v in verdicts:
                met = "MET" if target_met(protocol, v["gain"], v["p_value"]) else "MISSED"
                p = "n/a" if v["p_value"] is None else f"{v['p_value']:.2g}"
                lines.append(
                    f"- {v['task']}: {ours} {format_spread(v['ours_mean'], v['ours_std'], v['ours_seeds'], of=n_seeds)} vs best other "
                    f"{v['best_baseline']} {v['best_baseline_mean']:.4f} → {v['gain']:+.1%}, paired p = {p} "
                    f"(target ≥ +{TARGET_GAIN[protocol]:.0%}, p < {SIGNIFICANCE}): **{met}**"
                )
            lines.append("")
            print("\n".join(lines[-(len(verdicts) + 2) :]), file=sys.stderr)
            # Rewrite after every run so a long full benchmark never loses finished results.
            atomic_write_bytes(out / "quality.json", json.dumps(report, indent=2).encode("utf-8"))
            atomic_write_bytes(out / "quality.md", ("\n".join(lines) + "\n").encode("utf-8"))
    atomic_write_bytes(out / "quality.png", summary_chart(report))
    return report


def _has_profiles(name: str) -> bool:
    """n = 0 is judged only where new users have profile text (ml-100k's demographics)."""
    return name.startswith("ml-100k")


def summary_chart(report: dict[str, Any]) -> bytes:
    """One PNG: cold-item Recall@20 per model and data set (left); cold-user Recall@20 vs n (right)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    runs = report["runs"]
    # one colour per model in every panel (a data set without a baseline shifted the others' colours)
    names = list(dict.fromkeys(m for r in runs for m in r["result"]["models"]))
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colour = {name: palette(i) for i, name in enumerate(names)}
    cold_item = [r for r in runs if r["protocol"] == "cold-item"]
    cold_user = [r for r in runs if r["protocol"] == "cold-user"]
    fig, axes = plt.subplots(1, 1 + len(cold_user), figsize=(5 + 3.6 * len(cold_user), 4.2), dpi=110)
    axes = np.atleast_1d(axes)

    def means(run: dict[str, Any], task: str) -> dict[str, tuple[float, float]]:
        return {
            s["model"]: (s["mean"], np.nan if s["std"] is None else s["std"])  # no spread from one seed
            for s in run["result"]["summary"]
            if s["task"] == task and s["metric"] == "recall@20"
        }

    ax = axes[0]
    models = cold_item[0]["result"]["models"] if cold_item else []
    width = 0.8 / max(1, len(models))
    for j, model in enumerate(models):
        vals = [means(r, "cold").get(model, (np.nan, 0.0)) for r in cold_item]
        ax.bar(np.arange(len(cold_item)) + j * width, [v[0] for v in vals], width, yerr=[v[1] for v in vals], capsize=2,
               label=model, color=colour[model])
    ax.set_xticks(np.arange(len(cold_item)) + width * (len(models) - 1) / 2)
    ax.set_xticklabels([r["dataset"] for r in cold_item])
    ax.set_title("cold-item (cold candidates): Recall@20")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    for ax, run in zip(axes[1:], cold_user):
        ns = [int(t.split("=")[1]) for t in run["result"]["tasks"]]
        for model in run["result"]["models"]:
            vals = [means(run, t).get(model, (np.nan, 0.0)) for t in run["result"]["tasks"]]
            ax.errorbar(ns, [v[0] for v in vals], yerr=[v[1] for v in vals], marker="o", capsize=3, label=model,
                        color=colour[model])
        ax.set_xticks(ns)
        ax.set_xlabel("interactions revealed (n)")
        ax.set_title(f"cold-user {run['dataset']}: Recall@20", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"coldkit quality benchmark ({report['seeds']} seeds, LM encoder: {report['encoder']})", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def test_quality_pipeline(tmp_path: Path) -> None:
    """CI: the small run completes and reports a verdict per task (the targets are checked in the full run)."""
    out = Path(os.environ.get("COLDKIT_BENCH_OUT", tmp_path))
    report = run_quality(full=FULL, out=out)
    assert report["runs"], "no run"
    for run in report["runs"]:
        assert run["verdicts"]
        for v in run["verdicts"]:
            assert 0.0 <= v["ours_mean"] <= 1.0 and 0.0 <= v["best_baseline_mean"] <= 1.0
    assert (out / "quality.md").read_text().count("###") == len(report["runs"])
    assert (out / "quality.png").read_bytes()[:4] == b"\x89PNG"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="coldkit-results/quality")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--seeds", type=positive_int, default=None)
    parser.add_argument("--datasets", nargs="+", default=None, help=f"subset of {DATASETS}")
    parser.add_argument("--published", action="store_true", help="also run DropoutNet, Heater, CLCRec and ALDI (slow)")
    parser.add_argument("--protocols", nargs="+", default=["cold-item", "cold-user"], choices=["cold-item", "cold-user"])
    parser.add_argument("--merge", nargs="+", default=None, help="quality.json files to merge into OUT (no run)")
    parser.add_argument("--chart-only", action="store_true", help="redraw quality.png from OUT/quality.json")
    args = parser.parse_args()
    if args.merge:
        merged: dict[str, Any] = {}
        for path in args.merge:
            part = json.loads(Path(path).read_text(encoding="utf-8"))
            merged = merged or {k: v for k, v in part.items() if k != "runs"} | {"runs": []}
            merged["runs"] += part["runs"]
        order = {name: i for i, name in enumerate(DATASETS)}
        merged["runs"].sort(key=lambda r: (order.get(r["dataset"], 99), r["protocol"]))
        atomic_write_bytes(Path(args.out) / "quality.json", json.dumps(merged, indent=2).encode("utf-8"))
        args.chart_only = True
    if args.chart_only:
        saved = json.loads((Path(args.out) / "quality.json").read_text(encoding="utf-8"))
        atomic_write_bytes(Path(args.out) / "quality.png", summary_chart(saved))
        sys.exit(0)
    run_quality(
        full=FULL, out=Path(args.out), data_root=args.data_root, encoder=args.encoder, seeds=args.seeds,
        datasets=tuple(args.datasets) if args.datasets else None, published=args.published,
        protocols=tuple(args.protocols),
    )  # fmt: skip
