"""Tables, JSON and charts for :class:`~coldkit.evaluation.runner.EvaluationResult`.

Files are written atomically (temporary file in the same folder, fsync, ``os.replace``), so an
interrupted run never leaves a half-written result where a good one was.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from coldkit._atomic import atomic_write_bytes

if TYPE_CHECKING:
    from coldkit.evaluation.runner import EvaluationResult

__all__ = ["atomic_write_bytes", "format_table", "save_result", "plot_result"]


def _default_metrics(result: "EvaluationResult") -> list[str]:
    k = 20 if 20 in result.ks else result.ks[-1]
    return [f"recall@{k}", f"ndcg@{k}", f"precision@{k}", f"hit_rate@{k}", f"coverage@{k}", f"cold_exposure@{k}"]


def format_table(
    result: "EvaluationResult", metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None
) -> str:
    """Rows = (model, task); columns = metrics as ``mean ± std`` over seeds."""
    summary = result.summary()
    metrics = list(metrics or _default_metrics(result))
    tasks = list(tasks or result.tasks)
    header = ["model", "task", *metrics]
    rows: list[list[str]] = []
    for model in result.models:
        for task in tasks:
            cells = []
            for metric in metrics:
                value = summary.get((model, task, metric))
                if value is None:
                    cells.append("-")
                elif value[2] > 1:
                    cells.append(f"{value[0]:.4f} ± {value[1]:.4f}")
                else:
                    cells.append(f"{value[0]:.4f}")
            if any(c != "-" for c in cells):
                rows.append([model, task, *cells])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def plot_result(result: "EvaluationResult", metric: str | None = None) -> bytes:
    """A PNG chart: grouped bars of ``metric`` per model and task (cold / warm / all), or for the
    cold-user protocol, ``metric`` against the number of revealed interactions, one line per model.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    metric = metric or ("recall@20" if 20 in result.ks else f"recall@{result.ks[-1]}")
    summary = result.summary()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(result.models) + 3), 4.2), dpi=110)
    try:
        if result.protocol == "cold-user":
            ns = [int(t.split("=")[1]) for t in result.tasks]
            for model in result.models:
                vals = [summary.get((model, t, metric), (np.nan, 0.0, 0)) for t in result.tasks]
                ax.errorbar(ns, [v[0] for v in vals], yerr=[v[1] for v in vals], marker="o", capsize=3, label=model)
            ax.set_xlabel("interactions revealed per new user (n)")
            ax.set_xticks(ns)
        else:
            width = 0.8 / max(1, len(result.tasks))
            x = np.arange(len(result.models))
            for j, task in enumerate(result.tasks):
                vals = [summary.get((m, task, metric), (np.nan, 0.0, 0)) for m in result.models]
                ax.bar(x + j * width, [v[0] for v in vals], width, yerr=[v[1] for v in vals], capsize=2, label=task)
            ax.set_xticks(x + width * (len(result.tasks) - 1) / 2)
            ax.set_xticklabels(result.models, rotation=20, ha="right", fontsize=8)
        name = result.dataset.get("name", "data")
        ax.set_title(f"{metric} — {result.protocol} on {name} ({len(result.seeds)} seed(s))")
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def save_result(result: "EvaluationResult", out_dir: str | os.PathLike[str], *, chart: bool = True) -> dict[str, str]:
    """Write ``results.json``, ``results.txt`` (the table) and ``results.png`` into ``out_dir``."""
    out = Path(out_dir)
    paths: dict[str, str] = {}
    payload: dict[str, Any] = result.to_dict()
    atomic_write_bytes(out / "results.json", json.dumps(payload, indent=2).encode("utf-8"))
    paths["json"] = str(out / "results.json")
    atomic_write_bytes(out / "results.txt", (result.table() + "\n").encode("utf-8"))
    paths["table"] = str(out / "results.txt")
    if chart:
        atomic_write_bytes(out / "results.png", plot_result(result))
        paths["chart"] = str(out / "results.png")
    return paths
