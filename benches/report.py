"""Print a similarity benchmark's table from a ``--benchmark-json`` file.

    python benches/report.py /tmp/sim.json                       # bench_similarity.py
    python benches/report.py --backends /tmp/backends.json --png docs/backends-benchmark.png
                                                                 # bench_backends.py

``--backends``: one row per (workload, backend) of ``bench_backends.py``, every registered backend:
queries/s (wall and CPU time), ratios against ``numpy`` and ``faiss-flat`` measured in the same
run, the first call's time (index build; "index cached" where an earlier workload on the same catalogue
built it), and correctness (exact backends: "ids = exact" or
"near-ties only"; approximate ones: recall@k). ``--png`` also draws queries/s per backend
(from CPU time).

Default (``bench_similarity.py``):

For each workload group: queries/s of every backend (from the minimum round time, the least
disturbed by other processes), then coldkit's speed-up over faiss and numpy, the 2-thread
scaling, the memory-bandwidth bound (B = 1: time of one streaming read of the catalogue) and
the FLOP rate reached (large B, next to numpy's sgemm alone). The CPU-time columns compare
single-threaded backends by CPU time (``extra_info["cpu_min"]``), robust to a busy machine.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> backend -> {"min": seconds, "info": extra_info}.

    Raises:
        SystemExit: the file is missing, not JSON, or not a ``--benchmark-json`` file (one line naming it).
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SystemExit(f"report.py: cannot read {path} as JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise SystemExit(f"report.py: {path} is not a pytest-benchmark file (no 'benchmarks' list; write one with --benchmark-json=FILE)")
    groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "backend" not in info or not bench.get("stats"):
            continue
        groups[bench["group"]][info["backend"]] = {"min": bench["stats"]["min"], "info": info}
    return groups


def ratio(groups: dict[str, dict[str, Any]], slow: str, fast: str, cpu: bool = False) -> str:
    """How many times faster ``fast`` is than ``slow`` (wall time, or CPU time with ``cpu``)."""
    if slow not in groups or fast not in groups:
        return "-"
    if cpu:
        a, b = groups[slow]["info"].get("cpu_min"), groups[fast]["info"].get("cpu_min")
        return f"{a / b:.2f}x" if a and b else "-"
    return f"{groups[slow]['min'] / groups[fast]['min']:.2f}x"


def render(groups: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| workload | rust q/s | rust-2t q/s | faiss q/s | numpy q/s | rust vs faiss | rust vs numpy "
        "| 2t vs 1t | CPU-time: rust vs faiss | CPU-time: rust vs numpy | bound | rust at bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in sorted(groups, key=lambda g: [int(p.split("=")[1]) for p in g.split()]):
        rows = groups[group]
        any_info = next(iter(rows.values()))["info"]
        n, d, b = any_info["N"], any_info["d"], any_info["B"]

        def qps(name: str) -> str:
            return f"{b / rows[name]['min']:,.0f}" if name in rows else "-"

        bound, at_bound = "-", "-"
        if "stream-read" in rows and "rust" in rows:
            seconds = rows["stream-read"]["min"]
            bound = f"read {n * d * 4 / seconds / 1e9:.1f} GB/s"
            at_bound = f"{seconds / rows['rust']['min']:.0%}"
        elif "sgemm" in rows and "rust" in rows:
            flop = 2.0 * n * d * b
            bound = f"sgemm {flop / rows['sgemm']['min'] / 1e9:.0f} GFLOP/s"
            at_bound = f"{flop / rows['rust']['min'] / 1e9:.0f} GFLOP/s"
        lines.append(
            f"| {group} | {qps('rust')} | {qps('rust-2t')} | {qps('faiss')} | {qps('numpy')} "
            f"| {ratio(rows, 'faiss', 'rust')} | {ratio(rows, 'numpy', 'rust')} | {ratio(rows, 'rust', 'rust-2t')} "
            f"| {ratio(rows, 'faiss', 'rust', cpu=True)} | {ratio(rows, 'numpy', 'rust', cpu=True)} "
            f"| {bound} | {at_bound} |"
        )
    wrong = [f"{g}/{b}" for g, rows in groups.items() for b, r in rows.items() if not r["info"].get("correct", True)]
    if wrong:
        lines.append(f"\nINCORRECT results: {', '.join(wrong)}")
    return "\n".join(lines)


def _workload_order(group: str) -> list[int]:
    return [int(part.split("=")[1]) for part in group.split() if "=" in part]


def render_backends(groups: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The side-by-side table of ``bench_backends.py``: one row per (workload, backend)."""
    lines = [
        "| workload | backend | kind | q/s | CPU q/s | vs numpy | vs faiss-flat | CPU vs numpy | CPU vs faiss-flat "
        "| first call (build) | correctness |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in sorted(groups, key=_workload_order):
        rows = groups[group]
        for name in sorted(rows, key=lambda r: -rows[r]["info"]["B"] / rows[r]["min"]):
            info = rows[name]["info"]
            b = info["B"]
            cpu = info.get("cpu_min")
            if info.get("kind") == "exact":
                check = "ids = exact" if info.get("ids_equal") == 1.0 else "near-ties only" if info.get("correct") else "WRONG"
            else:
                check = f"recall@{info['k']} = {info.get('recall', float('nan')):.3f}"
            workload = group.removeprefix("backends ")
            lines.append(
                f"| {workload} | {name} | {info.get('kind', '?')} | {b / rows[name]['min']:,.0f} "
                f"| {f'{b / cpu:,.0f}' if cpu else '-'} | {ratio(rows, 'numpy', name)} | {ratio(rows, 'faiss-flat', name)} "
                f"| {ratio(rows, 'numpy', name, cpu=True)} | {ratio(rows, 'faiss-flat', name, cpu=True)} "
                f"| {_first_call(info)} | {check} |"
            )
    return "\n".join(lines)


def _first_call(info: dict[str, Any]) -> str:
    """The first call's time; where an earlier workload had built this catalogue's index, it says so."""
    seconds = f"{info.get('first_call_s', float('nan')):.2f} s"
    return seconds if info.get("first_call_builds", True) else f"{seconds} (index cached)"


def plot_backends(groups: dict[str, dict[str, dict[str, Any]]], png: Path) -> Path:
    """Queries/s (from CPU time) of every backend per workload, log scale; recall on approximate ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coldkit._atomic import atomic_write_bytes
    from _charts import png_bytes  # this folder: the script's own

    ordered = sorted(groups, key=_workload_order)
    names = sorted({name for rows in groups.values() for name in rows})
    fig, axes = plt.subplots(1, len(ordered), figsize=(5.5 * len(ordered), 4.2), squeeze=False)
    for ax, group in zip(axes[0], ordered):
        rows = groups[group]
        present = [n for n in names if n in rows]
        # CPU time of the calling thread (every case runs on one thread): a busy shared machine
        # distorts it far less than wall time; wall time where it was not recorded.
        qps = [rows[n]["info"]["B"] / (rows[n]["info"].get("cpu_min") or rows[n]["min"]) for n in present]
        colours = ["tab:orange" if rows[n]["info"].get("kind") == "approximate" else "tab:blue" for n in present]
        bars = ax.bar(present, qps, color=colours)
        for bar, name in zip(bars, present):
            info = rows[name]["info"]
            label = f"R@{info['k']}={info['recall']:.3f}" if info.get("kind") == "approximate" else ""
            if label:
                ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(group.removeprefix("backends "), fontsize=10)
        ax.set_ylabel("queries/s (1 thread, CPU time, best round)")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("coldkit similarity backends (blue: exact, orange: approximate)")
    fig.tight_layout()
    atomic_write_bytes(png, png_bytes(fig))
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    parser.add_argument("--backends", action="store_true", help="the file comes from bench_backends.py")
    parser.add_argument("--png", type=Path, help="with --backends: also draw queries/s per backend here")
    args = parser.parse_args(argv)
    if args.png and not args.backends:  # it was ignored: no chart, no word
        parser.error("--png draws bench_backends.py's chart: add --backends (bench_similarity.py's table has no chart)")
    groups = load(args.json)
    wanted, bench = ("backends ", "bench_backends.py") if args.backends else ("N=", "bench_similarity.py")
    groups = {g: rows for g, rows in groups.items() if g.startswith(wanted)}
    if not groups:  # an empty table was printed for another benchmark's file
        other = "" if args.backends else " (for bench_backends.py's, add --backends)"
        raise SystemExit(f"report.py: {args.json} holds no {bench} results{other}")
    if args.backends:
        print(render_backends(groups))
        if args.png:
            print(f"chart: {plot_backends(groups, args.png)}")
    else:
        print(render(groups))


if __name__ == "__main__":
    main()
