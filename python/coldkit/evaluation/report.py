"""The result of an evaluation (:class:`EvaluationResult`) and its tables, JSON and charts.

:func:`coldkit.evaluation.runner.evaluate` fills an :class:`EvaluationResult`; this module only reads it.

Files are written atomically (temporary file in the same folder, fsync, ``os.replace``), so an
interrupted run never leaves a half-written result where a good one was.

Every output carries its context: ``results.json`` records the data set, protocol, seeds, coldkit
version, date and each model's encoders; ``results.txt`` starts with the same as ``#`` header
lines; the chart marks the *headline comparison* (:func:`headline`: the hybrid against the best
other model) and draws error bars only when there is more than one seed.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import warnings
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from coldkit._atomic import atomic_write_bytes
from coldkit._core import __version__ as _coldkit_version
from coldkit.exceptions import ColdkitWarning, InvalidInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EvaluationResult",
    "format_table",
    "format_header",
    "headline",
    "paired_test",
    "save_result",
    "plot_result",
    "draw_chart",
    "seed_spread",
    "format_spread",
]

# The model a comparison is about: coldkit's recommended default. Its label may carry options
# ("hybrid[encoder=bert]").
HEADLINE_MODEL = "hybrid"


@dataclass
class EvaluationResult:
    """Per-seed metric records and what produced them.

    ``records`` rows: ``{"model", "seed", "task", "metric", "value"}``; ``fit_seconds`` and
    ``recommend_seconds`` are recorded as metrics too. ``encoders`` maps each model label to the
    encoders its fitted instances actually used (``name``, ``fingerprint``, ``dim``; one entry per
    distinct fingerprint over the seeds), so a result says which vectors it was measured on.
    ``coldkit_version`` and ``created`` (UTC, ISO 8601) say by what and when.
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
    encoders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: model label -> per seed, the privacy its fitted instance spent (private models only; see coldkit.privacy)
    privacy: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (model, seed, task) -> per-user Recall@max(ks), users in the task's order (for paired tests).
    per_user: dict[tuple[str, int, str], np.ndarray] = field(default_factory=dict, repr=False)
    #: (seed, task) -> the external ids of those users, in the same order (the paired test counts each user once).
    per_user_ids: dict[tuple[int, str], np.ndarray] = field(default_factory=dict, repr=False)
    coldkit_version: str = _coldkit_version
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

    def summary(self) -> dict[tuple[str, str, str], tuple[float, float | None, int]]:
        """``{(model, task, metric): (mean, std, n_seeds)}`` over the seeds that measured it (see :func:`seed_spread`:
        the sample std, ``None`` from a single seed). ``n_seeds`` may be below ``len(seeds)``: a task with no
        user on some seed is skipped there."""
        groups: dict[tuple[str, str, str], list[float]] = {}
        for r in self.records:
            groups.setdefault((r["model"], r["task"], r["metric"]), []).append(float(r["value"]))
        return {key: seed_spread(v) for key, v in groups.items()}

    def mean(self, model: str, task: str, metric: str) -> float:
        """Mean over seeds of one number, e.g. ``result.mean("hybrid", "cold", "recall@20")``."""
        key = (model, task, metric)
        summ = self.summary()
        if key not in summ:
            # name which part is unknown: "no result for (...)" left the user guessing among three names
            models, tasks, metrics = (sorted({key[i] for key in summ}) for i in range(3))
            raise InvalidInputError(
                f"no result for {key}; models: {', '.join(models)}; tasks: {', '.join(tasks)}; metrics: {', '.join(metrics)}"
            )
        return summ[key][0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the context (data set, protocol, seeds, coldkit version, date, each model's
        encoders), settings, per-seed records and the mean/std summary."""
        # "seeds" counts the seeds averaged; "missing_seeds" names the run's seeds that did not measure the
        # number (a task with no user on that seed), so a mean over fewer seeds is never read as one over all
        measured: dict[tuple[str, str, str], set[int]] = {}
        for r in self.records:
            measured.setdefault((r["model"], r["task"], r["metric"]), set()).add(r["seed"])
        summary = [
            {"model": m, "task": t, "metric": k, "mean": mean, "std": std, "seeds": n,
             "missing_seeds": [s for s in self.seeds if s not in measured[(m, t, k)]]}
            for (m, t, k), (mean, std, n) in self.summary().items()
        ]  # fmt: skip
        return {
            "coldkit_version": self.coldkit_version,
            "created": self.created,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "seeds": self.seeds,
            "ks": self.ks,
            "models": self.models,
            "tasks": self.tasks,
            "encoders": self.encoders,
            "headline": headline(self),
            "settings": self.settings,
            "notes": self.notes,
            "privacy": self.privacy,
            "summary": summary,
            "records": self.records,
        }

    def table(self, metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> str:
        """A plain-text table: one row per (model, task), ``mean ± std`` per metric."""
        return format_table(self, metrics=metrics, tasks=tasks)

    def save(self, out_dir: str, *, chart: bool = True) -> dict[str, str]:
        """Write ``results.json``, ``results.txt`` (a context header and the table) and ``results.png``
        into ``out_dir`` atomically; returns the paths (see :func:`coldkit.evaluation.report.save_result`)."""
        return save_result(self, out_dir, chart=chart)


def seed_spread(values: Sequence[float]) -> tuple[float, float | None, int]:
    """``(mean, std, n)`` of one number measured on ``n`` seeds: the one definition of coldkit's ``±``.

    ``std`` is the sample standard deviation over the seeds (``ddof=1``): how far one seed's value
    typically lies from the mean, not a standard error of the mean. One seed has no spread: ``std`` is
    ``None`` (the population std, ``ddof=0``, printed a spread of 0.0 nobody measured, and understated
    it by a factor √((n-1)/n) otherwise). Tables, JSON, charts and the benchmarks all take it from here.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise InvalidInputError("no value to summarise over seeds")
    std = float(np.std(data, ddof=1)) if data.size > 1 else None
    return float(np.mean(data)), std, int(data.size)


def format_spread(mean: float, std: float | None, n: int, of: int | None = None, digits: int = 4) -> str:
    """A ``mean ± std`` cell (:func:`seed_spread`'s numbers): ``"0.4100 ± 0.0200"``, ``"± n/a"`` from one seed.

    ``of`` is the number of seeds of the run: a cell averaging fewer says how many (``"0.4100 ± 0.0200
    (2 seeds)"``), and in a run of a single seed the means stand alone (no cell has a spread to show).
    """
    text = f"{mean:.{digits}f}"
    if of == 1 and n == 1:
        return text
    text += " ± " + ("n/a" if std is None else f"{std:.{digits}f}")
    if of is not None and n != of:
        text += f" ({n} seed{'' if n == 1 else 's'})"
    return text


def _default_metrics(result: EvaluationResult, k: int | None = None) -> list[str]:
    if k is None:
        k = 20 if 20 in result.ks else result.ks[-1]
    return [f"recall@{k}", f"ndcg@{k}", f"precision@{k}", f"hit_rate@{k}", f"coverage@{k}", f"cold_exposure@{k}"]


def _default_metric(result: "EvaluationResult") -> str:
    return "recall@20" if 20 in result.ks else f"recall@{result.ks[-1]}"


def _headline_tasks(result: "EvaluationResult") -> list[str]:
    """The tasks a protocol is judged on: cold items for cold-item, every n for cold-user, else all."""
    if result.protocol == "cold-item" and "cold" in result.tasks:
        return ["cold"]
    if result.protocol == "cold-user":
        return list(result.tasks)
    return list(result.tasks[:1])


def headline(result: "EvaluationResult", metric: str | None = None) -> dict[str, Any] | None:
    """The comparison a result is about: the hybrid (a model labelled ``hybrid...``) against the best
    *other* model on each headline task (cold items for cold-item, each n for cold-user).

    Without a hybrid, the best model on the first headline task is compared with the rest. ``None``
    with fewer than two models or no value for ``metric``.

    Returns:
        ``{"metric", "model", "comparisons": [{"task", "model_value", "baseline", "baseline_value",
        "relative", "p_value"}]}``; ``relative`` is ``model / baseline - 1`` (``None`` when the
        baseline is 0); ``p_value`` is :func:`paired_test`'s (``None`` without per-user values).
    """
    summary = result.summary()
    tasks = _headline_tasks(result)
    if len(result.models) < 2 or not tasks:
        return None
    if metric is None:
        metric = _default_metric(result)
        # a cut-off at which every model lists every candidate (16 cold items, k = 20) scores 1 for all
        # and compares nothing: the largest cut-off that still tells the models apart
        def all_one(name: str) -> bool:
            return all((entry := summary.get((m, t, name))) is not None and entry[0] >= 1.0 for m in result.models for t in tasks)

        if all_one(metric):
            metric = next((f"recall@{k}" for k in sorted(result.ks, reverse=True) if not all_one(f"recall@{k}")), metric)

    def value(model: str, task: str) -> float | None:
        entry = summary.get((model, task, metric))
        return None if entry is None else entry[0]

    hybrids = [m for m in result.models if m == HEADLINE_MODEL or m.startswith(HEADLINE_MODEL + "[")]
    if hybrids:
        model = hybrids[0]
    else:
        # the best over all headline tasks, ties by name: on the first task alone (cold users at n = 0,
        # where every CF model is popularity) the order of --models chose it, and the sign of the gain
        scored = [(float(np.mean(vs)), m) for m in result.models if (vs := [v for t in tasks if (v := value(m, t)) is not None])]
        if not scored:
            return None
        model = min(scored, key=lambda vm: (-vm[0], vm[1]))[1]
    comparisons = []
    for task in tasks:
        mine = value(model, task)
        others = [(v, m) for m in result.models if m != model and (v := value(m, task)) is not None]
        if mine is None or not others:
            continue
        best_value, best = min(others, key=lambda vm: (-vm[0], vm[1]))  # a tie to the name, not the order given
        test = paired_test(result, model, best, task) if metric == f"recall@{max(result.ks)}" else None
        comparisons.append({
            "task": task, "model_value": mine, "baseline": best, "baseline_value": best_value,
            "relative": (mine / best_value - 1.0) if best_value > 0 else None,
            "p_value": test["p_value"] if test else None,
        })  # fmt: skip
    if not comparisons:
        return None
    return {"metric": metric, "model": model, "comparisons": comparisons}


def paired_test(result: "EvaluationResult", model: str, baseline: str, task: str) -> dict[str, Any] | None:
    """Paired per-user test of ``model`` against ``baseline`` on ``task`` (Recall@max(ks)).

    The two models ranked the same users on the same splits, so each (seed, user) is a pair of values.
    Where the users' ids are known (:attr:`EvaluationResult.per_user_ids`), a user held out on several
    seeds is one pair, its differences averaged over those seeds: a cold-user split with timestamps
    reveals the same earliest clicks on every seed, so such a user's (query, truth) was the same pair
    again (17 % of ml-latest-small's pooled n = 3 pairs over three seeds), and on any split a user's
    results on two seeds are not independent. Without ids, the (seed, user) pairs are pooled (warm-temporal:
    the first seed's only, its split does not change with the seed). The two-sided Wilcoxon signed-rank
    test (scipy) asks whether the differences are centred on 0. ``None`` when per-user values are missing.

    Returns:
        ``{"p_value", "mean_difference", "pairs", "wins", "losses"}``; ``pairs`` counts users (or pooled
        (seed, user) pairs); ``p_value`` is 1.0 when every difference is zero.
    """
    from scipy.stats import wilcoxon

    diffs, ids = [], []
    # a temporal split is the same for every seed (up to tied timestamps): its users counted once per
    # seed were the same pairs again, and the p-value shrank with --seeds alone (0.19 -> 6e-5 at 10)
    seeds = result.seeds[:1] if result.protocol == "warm-temporal" else result.seeds
    for seed in seeds:
        a, b = result.per_user.get((model, seed, task)), result.per_user.get((baseline, seed, task))
        if a is None or b is None or len(a) != len(b):
            return None
        diffs.append(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        users = result.per_user_ids.get((seed, task))
        ids.append(None if users is None or len(users) != len(a) else np.asarray(users).astype(str))
    d = np.concatenate(diffs) if diffs else np.empty(0)
    if d.size == 0:
        return None
    known = [users for users in ids if users is not None]
    if len(known) == len(ids):  # each user once: the mean of its differences over the seeds
        codes, user = np.unique(np.concatenate(known), return_inverse=True)
        d = np.bincount(user, weights=d, minlength=codes.size) / np.bincount(user, minlength=codes.size)
    nonzero = d[d != 0]
    p_value = 1.0 if nonzero.size == 0 else float(wilcoxon(nonzero).pvalue)
    return {
        "p_value": p_value, "mean_difference": float(d.mean()), "pairs": int(d.size),
        "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
    }  # fmt: skip


def _relative(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} %"


def _headline_line(head: dict[str, Any]) -> str:
    parts = []
    for c in head["comparisons"]:
        parts.append(
            f"{c['task']}: {head['model']} {c['model_value']:.4f} vs {c['baseline']} {c['baseline_value']:.4f} "
            f"({_relative(c['relative'])}"
            + (f", p={c['p_value']:.3g}" if c.get("p_value") is not None else "")
            + ")"
        )
    return f"headline ({head['metric']}): " + "; ".join(parts)


def format_header(result: "EvaluationResult") -> str:
    """The context of a result as ``#`` comment lines: what was measured, on what, by which coldkit, when."""
    d = result.dataset
    counts = ", ".join(f"{d[k]} {k}" for k in ("users", "items", "interactions") if k in d)
    lines = [
        f"# coldkit {result.coldkit_version} evaluation, {result.created}",
        f"# data set: {d.get('name', 'unknown')}" + (f" ({counts})" if counts else ""),
        f"# protocol: {result.protocol}; seeds: {', '.join(map(str, result.seeds))}; "
        f"k: {', '.join(map(str, result.ks))}",
    ]
    # what makes the numbers not those of a full run: a 50-user subsample read as the whole data set
    settings = result.settings or {}
    subsets = []
    if settings.get("max_users") is not None:
        subsets.append(f"at most {settings['max_users']} users per task (a subsample)")
    if settings.get("implicit_threshold") is not None:
        subsets.append(f"likes only: ratings >= {settings['implicit_threshold']:g}")
    if subsets:
        lines.append("# " + "; ".join(subsets))
    read = settings.get("data") or {}
    if read.get("source"):  # coldkit evaluate: the files and the columns read
        mapped = [
            f"{flag.replace('_', ' ')} " + " ".join(f"{k}={v}" for k, v in read[flag].items())
            for flag in ("interaction_columns", "item_columns") if read.get(flag)
        ]  # fmt: skip
        if read.get("text_columns"):
            mapped.append(f"text columns {' '.join(read['text_columns'])}")
        lines.append("; ".join([f"# read from {read['source']}", *mapped]))
    argv = (settings.get("command") or {}).get("argv")
    if argv:
        import shlex

        lines.append("# command: " + shlex.join(argv))
    used = [
        f"{model}=" + "+".join(f"{e['name']}:{e['fingerprint'][:12]}" for e in encoders)
        for model, encoders in result.encoders.items()
        if encoders
    ]
    if used:
        lines.append("# encoders (name:fingerprint): " + ", ".join(used))
    head = headline(result)
    if head is not None:
        lines.append("# " + _headline_line(head))
    return "\n".join(lines)


def format_table(
    result: EvaluationResult, metrics: Sequence[str] | None = None, tasks: Sequence[str] | None = None
) -> str:
    """Rows = (model, task); columns = metrics as ``mean ± std`` over seeds (:func:`format_spread`).

    Without ``metrics``, one block per cut-off of the run (``recall@k`` … ``cold_exposure@k``), each
    headed ``cut-off k`` when there are several: a run asked for ``k=(10, 20)`` used to print the
    cut-off 20 alone, so the numbers asked for at 10 were only in the JSON.
    """
    summary = result.summary()
    # A misspelt name gave an empty table and a string was split into one column per letter: the
    # names asked for must exist (the defaults may name metrics a run lacks: those are skipped)
    for what, asked, known in (
        ("metrics", metrics, sorted({k for _, _, k in summary})),
        ("tasks", tasks, list(result.tasks)),
    ):
        if asked is None:
            continue
        if isinstance(asked, (str, bytes)):
            raise InvalidInputError(f"{what}= takes a list of names; wrap a single one in a list: [{asked!r}]")
        unknown = [name for name in asked if name not in known]
        if unknown:
            raise InvalidInputError(f"unknown {what} {unknown}; this result has: {', '.join(known)}")
    tasks = list(tasks or result.tasks)
    if metrics is not None:
        return _table_block(result, summary, list(metrics), tasks)
    if len(result.ks) == 1:
        return _table_block(result, summary, _default_metrics(result), tasks)
    return "\n\n".join(f"cut-off {k}\n" + _table_block(result, summary, _default_metrics(result, k), tasks) for k in result.ks)


def _table_block(
    result: EvaluationResult, summary: Mapping[tuple[str, str, str], tuple[float, float | None, int]], metrics: list[str], tasks: list[str]
) -> str:
    header = ["model", "task", *metrics]
    rows: list[list[str]] = []
    for model in result.models:
        for task in tasks:
            cells = []
            for metric in metrics:
                value = summary.get((model, task, metric))
                # a cell over fewer seeds than the run (a task with no user on some seed) says how many
                cells.append("-" if value is None else format_spread(*value, of=len(result.seeds)))
            if any(c != "-" for c in cells):
                rows.append([model, task, *cells])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def plot_result(result: "EvaluationResult", metric: str | None = None) -> bytes:
    """A PNG chart of ``metric`` (see :func:`draw_chart`)."""
    import matplotlib.pyplot as plt

    if metric is not None:  # a misspelt metric drew an empty chart
        known = sorted({k for _, _, k in result.summary()})
        if metric not in known:
            raise InvalidInputError(f"unknown metric {metric!r}; this result has: {', '.join(known)}")
    fig = draw_chart(result, metric)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def draw_chart(result: "EvaluationResult", metric: str | None = None) -> "Figure":
    """The matplotlib figure behind ``results.png`` (close it with ``plt.close(fig)``).

    Grouped bars of ``metric`` per model and task (cold / warm / all), or for the cold-user
    protocol, ``metric`` against the number of revealed interactions, one line per model. The
    headline comparison (:func:`headline`) is marked: the model's bar outlined and hatched and the
    best other model's outlined (a thick line for cold-user), with the gains in the title. Error
    bars (std over seeds) only with more than one seed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    metric = metric or _default_metric(result)
    summary = result.summary()
    # One seed has no spread: drawing zero-height error bars would suggest a measured std of 0.
    spread = len(result.seeds) > 1
    head = headline(result, metric)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(result.models) + 3), 4.6), dpi=110)
    try:
        if result.protocol == "cold-user":
            ns = [int(t.split("=")[1]) for t in result.tasks]
            for model in result.models:
                vals = [summary.get((model, t, metric), (np.nan, 0.0, 0)) for t in result.tasks]
                marked = head is not None and model == head["model"]
                ax.errorbar(
                    ns, [v[0] for v in vals], yerr=[np.nan if v[1] is None else v[1] for v in vals] if spread else None, marker="o", capsize=3,
                    label=model + (" (headline)" if marked else ""), linewidth=2.8 if marked else 1.2,
                    zorder=3 if marked else 2,
                )  # fmt: skip
            for c in head["comparisons"] if head is not None else []:
                # each n's gain over that n's best other model, above the headline model's point
                n = int(c["task"].split("=")[1])
                ax.annotate(
                    f"{_relative(c['relative'])} vs {c['baseline']}", (n, c["model_value"]), textcoords="offset points",
                    xytext=(0, 9), fontsize=7, ha="right" if n == ns[-1] else "left" if n == ns[0] else "center",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                )  # fmt: skip
            ax.margins(y=0.12)
            ax.set_xlabel("interactions revealed per new user (n)")
            ax.set_xticks(ns)
        else:
            width = 0.8 / max(1, len(result.tasks))
            x = np.arange(len(result.models))
            for j, task in enumerate(result.tasks):
                vals = [summary.get((m, task, metric), (np.nan, 0.0, 0)) for m in result.models]
                bars = ax.bar(
                    x + j * width, [v[0] for v in vals], width, yerr=[np.nan if v[1] is None else v[1] for v in vals] if spread else None,
                    capsize=2, label=task,
                )  # fmt: skip
                marks = [(head["model"], c["baseline"]) for c in head["comparisons"] if c["task"] == task] if head else []
                for model, baseline in marks:
                    # the two bars of the headline comparison: outlined, the model's also hatched
                    for label, hatch in ((model, "//"), (baseline, "")):
                        bar = bars[result.models.index(label)]
                        bar.set_edgecolor("black")
                        bar.set_linewidth(1.8)
                        bar.set_hatch(hatch)
            ax.set_xticks(x + width * (len(result.tasks) - 1) / 2)
            ax.set_xticklabels(result.models, rotation=20, ha="right", fontsize=8)
        name = result.dataset.get("name", "data")
        title = f"{metric} — {result.protocol} on {name} ({len(result.seeds)} seed(s))"
        if head is not None and result.protocol == "cold-user":
            title += f"\n{head['model']} (thick) vs the best other model at each n"
        elif head is not None:
            gains = " / ".join(f"{c['task']} {_relative(c['relative'])} ({c['baseline']})" for c in head["comparisons"])
            title += f"\n{head['model']} vs best other: {gains}"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(metric)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return fig


def save_result(result: "EvaluationResult", out_dir: str | os.PathLike[str], *, chart: bool = True) -> dict[str, str]:
    """Write ``results.json``, ``results.txt`` (context header + table) and ``results.png`` into ``out_dir``.

    The chart needs matplotlib (the ``eval`` extra); without it the JSON and the table are still
    written and a warning says how to get the chart, so a long run is never lost to a missing plot library.
    A ``results.png`` of an earlier run in ``out_dir`` is removed when no chart is written: beside the
    new JSON and table it would show numbers this run did not measure.
    """
    from coldkit._paths import user_path

    out = user_path(out_dir)  # a leading ~ is the user's home (see coldkit._paths)
    paths: dict[str, str] = {}
    payload: dict[str, Any] = result.to_dict()
    data = json.dumps(payload, indent=2).encode("utf-8")
    text = format_header(result) + "\n\n" + result.table() + "\n"
    # everything is made before the first file is replaced: the chart takes a second or two (matplotlib),
    # and a Ctrl-C or a plotting error there left this run's JSON and table beside the earlier run's chart
    png: bytes | None = None
    if chart:
        try:
            png = plot_result(result)
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("matplotlib"):
                raise
            warnings.warn(
                "results.png not written: matplotlib is not installed (pip install 'coldkit[eval]')", ColdkitWarning, stacklevel=2
            )
    atomic_write_bytes(out / "results.json", data)
    paths["json"] = str(out / "results.json")
    atomic_write_bytes(out / "results.txt", text.encode("utf-8"))
    paths["table"] = str(out / "results.txt")
    if png is not None:
        atomic_write_bytes(out / "results.png", png)
        paths["chart"] = str(out / "results.png")
    else:
        (out / "results.png").unlink(missing_ok=True)
    return paths
