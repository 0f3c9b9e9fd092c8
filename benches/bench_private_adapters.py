"""Private published adapters (issue 13, DP-SGD with Opacus): cold-item Recall@20 on ml-100k.

One run, the same cold-item split per seed (the cold-item protocol, cold-only candidates), the
``hashing`` encoder, δ = 1/(10·users):

* ``dp-<adapter>`` at each ε (``coldkit.privacy.adapters``: DP teacher + user-level DP-SGD), and at
  ε = ∞ (the same pipeline with no noise);
* ``<adapter>``, the non-private published adapter (its default: tuned on a carved validation split);
* ``dp-hybrid`` at each ε (the private hybrid, the other private cold-item model);
* ``no-sharing``: content kNN from the user's own clicks (learns nothing across users).

Run::

    python benches/bench_private_adapters.py --data-root ../shared/data --seeds 0 1 --out runs/private-adapters

Under pytest (CI, ``--benchmark-disable``) a small resampled population, one seed and ε = 8 run in seconds.
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

from coldkit._atomic import atomic_write_bytes
from coldkit.data.datasets import Dataset, load_dataset, subsample
from coldkit.data.interactions import Interactions
from coldkit.evaluation.metrics import recall_at_k
from coldkit.evaluation.runner import make_split
from coldkit.models.registry import build_model

sys.path.insert(0, str(Path(__file__).parent))
from _args import positive_epsilon  # noqa: E402 - this folder's shared command-line helpers

K = 20


def systems(adapter: str, epsilons: Sequence[float], delta: float, encoder: str, dp_options: dict[str, Any] | None = None,
            **options: Any) -> dict[str, Callable[[], Any]]:
    """Label -> a factory of an unfitted model (``options`` go to both versions of the adapter, ``dp_options``
    to the private one only)."""
    dp_options = {**options, **(dp_options or {})}
    out: dict[str, Callable[[], Any]] = {
        "no-sharing": lambda: build_model("content", encoder=encoder),
        adapter: lambda: build_model(adapter, encoder=encoder, **options),
    }
    for eps in epsilons:
        label = "inf" if math.isinf(eps) else f"{eps:g}"
        out[f"dp-{adapter} eps={label}"] = lambda eps=eps: build_model(f"dp-{adapter}", dp_epsilon=eps, dp_delta=delta,
                                                                        encoder=encoder, **{"seed": 0, **dp_options})
        out[f"dp-hybrid eps={label}"] = lambda eps=eps: build_model("dp-hybrid", dp_epsilon=eps, dp_delta=delta,
                                                                    encoder=encoder, seed=0)
    return out


def run(data: Interactions, *, adapter: str, seeds: Sequence[int], epsilons: Sequence[float], encoder: str,
        log: Callable[[str], None] = print, **options: Any) -> list[dict[str, Any]]:
    """Rows ``{system, seed, recall, fit_seconds, epsilon_spent}`` on the cold items of each seed's split."""
    delta = 1.0 / (10 * data.n_users)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        split = make_split("cold-item", data, seed)
        task = split.tasks["cold"]
        for label, factory in systems(adapter, epsilons, delta, encoder, **options).items():
            started = time.perf_counter()
            model = factory().fit(split.train)
            fit = time.perf_counter() - started
            ranked = model.recommend(task.queries, K, candidates=task.candidates).indices
            recall = float(np.mean(recall_at_k(ranked, task.truth, K)))
            spent = model.privacy_spent().epsilon if hasattr(model, "privacy_spent") else None
            rows.append({"system": label, "seed": seed, "recall": recall, "fit_seconds": fit,
                         "epsilon_spent": None if spent is None or math.isinf(spent) else spent})
            log(f"seed={seed} {label}: recall@{K}={recall:.4f} (fit {fit:.1f}s, ε spent {spent})")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per system, the mean over seeds and each seed's value."""
    lines = ["| system | Recall@20 (mean) | per seed | fit s (mean) |", "|---|---|---|---|"]
    for system in dict.fromkeys(r["system"] for r in rows):
        mine = [r for r in rows if r["system"] == system]
        per_seed = ", ".join(f"{r['recall']:.4f}" for r in mine)
        lines.append(f"| {system} | {np.mean([r['recall'] for r in mine]):.4f} | {per_seed} | "
                     f"{np.mean([r['fit_seconds'] for r in mine]):.1f} |")
    return "\n".join(lines)


def test_private_adapters_pipeline(tmp_path: Path) -> None:
    """CI: a small population, one seed, ε = 8: every system gives a recall in [0, 1], the DP one spends ≤ ε."""
    base = load_dataset("ml-latest-small").interactions
    small = subsample(Dataset("small", base, base.catalog), max_users=300, max_items=400, seed=0).interactions
    rows = run(small, adapter="dropoutnet", seeds=[0], epsilons=[8.0], encoder="hashing", log=lambda _: None,
               epochs=2, hidden=32)
    assert {r["system"] for r in rows} == {"no-sharing", "dropoutnet", "dp-dropoutnet eps=8", "dp-hybrid eps=8"}
    assert all(0.0 <= r["recall"] <= 1.0 for r in rows)
    assert next(r for r in rows if r["system"] == "dp-dropoutnet eps=8")["epsilon_spent"] <= 8.0 * (1 + 1e-9)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="coldkit-results/private-adapters")
    parser.add_argument("--data-root", default=os.environ.get("COLDKIT_DATA"))
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--adapter", default="dropoutnet", choices=["dropoutnet", "heater", "clcrec", "aldi"])
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epsilons", type=positive_epsilon, nargs="+", default=[1.0, 8.0, math.inf], help="use inf for no noise")
    parser.add_argument("--population", type=int, default=None,
                        help="resample this many users from the data set (as bench_privacy's pop50k)")
    parser.add_argument("--dp-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the private adapter only, e.g. epochs=3")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset, data_root=args.data_root).interactions
    if args.population:
        from bench_privacy import resample_population  # the same resampling as the privacy benchmark

        dataset = resample_population(dataset, args.population, seed=0)
    from coldkit.models.registry import parse_option_value

    dp_options = {k: parse_option_value(v) for k, v in (item.split("=", 1) for item in args.dp_option)}
    result = run(dataset, adapter=args.adapter, seeds=args.seeds, epsilons=args.epsilons, encoder=args.encoder,
                 dp_options=dp_options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "private-adapters.json", json.dumps({"dataset": args.dataset, "rows": result}, indent=1).encode())
    atomic_write_bytes(out / "private-adapters.md", (table(result) + "\n").encode())
    print(table(result))
