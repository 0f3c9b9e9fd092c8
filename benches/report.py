"""Print the similarity benchmark's ratio table from a ``--benchmark-json`` file.

    python benches/report.py /tmp/sim.json

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
    """group -> backend -> {"min": seconds, "info": extra_info}."""
    data = json.loads(path.read_text())
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    args = parser.parse_args(argv)
    print(render(load(args.json)))


if __name__ == "__main__":
    main()
