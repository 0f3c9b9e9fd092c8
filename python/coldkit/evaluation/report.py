"""The result of an evaluation (:class:`EvaluationResult`) and its tables, JSON and charts.

:func:`coldkit.evaluation.runner.evaluate` fills an :class:`EvaluationResult`; this module only reads it.

Files are written atomically (temporary file in the same folder, fsync, ``os.replace``), so an
interrupted run never leaves a half-written result where a good one was.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from coldkit._atomic import atomic_write_bytes
from coldkit.exceptions import InvalidInputError

__all__ = ["EvaluationResult", "format_table", "save_result", "plot_result"]


@dataclass
class EvaluationResult:
    """Per-seed metric records and what produced them.

    ``records`` rows: ``{"model", "seed", "task", "metric", "value"}``; ``fit_seconds`` and
    ``recommend_seconds`` are recorded as metrics too.
    """

    dataset: dict[str, Any]
    protocol: str
    seeds: list[int]
    ks: list[int]
    models: list[str]
    tasks: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[tuple[str, str, str], tuple[float, float, int]]:
        """``{(model, task, metric): (mean, std, n_seeds)}`` (population std over seeds)."""
        groups: dict[tuple[str, str, str], list[float]] = {}
        for r in self.records:
            groups.setdefault((r["model"], r["task"], r["metric"]), []).append(float(r["value"]))
        return {key: (float(np.mean(v)), float(np.std(v)), len(v)) for key, v in groups.items()}

    def mean(self, model: str, task: str, metric: str) -> float:
        """Mean over seeds of one number, e.g. ``result.mean("hybrid", "cold", "recall@20")``."""
        key = (model, task, metric)
        summ = self.summary()
        if key not in summ:
            raise InvalidInputError(f"no result for {key}")
        return summ[key][0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: settings, per-seed records and the mean/std summary."""
        summary = [
            {"model": m, "task": t, "metric": k, "mean": mean, "std": std, "seeds": n}
            for (m, t, k), (mean, std, n) in self.summary().items()
        ]
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "seeds": self.seeds,
            "ks": self.ks,
            "models": self.models,
            "tasks": self.tasks,
            "settings": self.settings,
            "notes": self.notes,
            "summary": summary,
            "records": self.records,
        }

    def table(self, metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> str:
        """A plain-text table: one row per (model, task), ``mean ± std`` per metric."""
        return format_table(self, metrics=metrics, tasks=tasks)

    def save(self, out_dir: str, *, chart: bool = True) -> dict[str, str]:
        """Write ``results.json`` (and ``results.png``) into ``out_dir`` atomically; returns the paths."""
        return save_result(self, out_dir, chart=chart)


def _default_metrics(result: EvaluationResult) -> list[str]:
    k = 20 if 20 in result.ks else result.ks[-1]
    return [f"recall@{k}", f"ndcg@{k}", f"precision@{k}", f"hit_rate@{k}", f"coverage@{k}", f"cold_exposure@{k}"]


def format_table(
    result: EvaluationResult, metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None
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


def plot_result(result: EvaluationResult, metric: str | None = None) -> bytes:
    """A PNG chart: grouped bars of ``metric`` per model and task (cold / warm / all), or for the
    cold-user protocol, ``metric`` against the number of revealed interactions, one line per model.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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


def save_result(result: EvaluationResult, out_dir: str | os.PathLike[str], *, chart: bool = True) -> dict[str, str]:
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
