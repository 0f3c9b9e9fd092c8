"""The generic backend benchmark picks up a backend installed from a throw-away package.

The package is "installed" the way pip leaves it on disk, without pip: a module plus a
``*.dist-info`` directory whose ``entry_points.txt`` declares it in coldkit's ``coldkit`` group,
in a temporary directory put on ``sys.path`` (``importlib.metadata`` finds it there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from coldkit.plugins import manager

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benches" / "bench_backends.py"

# A real (if plain) exact backend: float64 matmul, full sort by (score desc, index asc). No
# "exclude" capability, so coldkit.topk over-fetches for it.
THROWAWAY_MODULE = """
    import numpy as np
    import coldkit

    class SortBackend:
        name = "throwaway-sort"

        def topk(self, queries, catalog, k, *, metric, normalized, exclude, threads):
            q, c = queries.astype(np.float64), catalog.astype(np.float64)
            if metric == "cosine" and not normalized:
                q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
                c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
            scores = q @ c.T
            order = np.lexsort((np.broadcast_to(np.arange(c.shape[0]), scores.shape), -scores), axis=-1)[:, :k]
            return np.take_along_axis(scores, order, axis=1).astype(np.float32), order.astype(np.int64)

    @coldkit.hookimpl
    def coldkit_similarity_backends():
        return [coldkit.SimilarityBackendSpec("throwaway-sort", "float64 sort", SortBackend, {"cosine", "dot", "exact"})]
"""


def install_throwaway(root: Path) -> Path:
    """Write the package where an installer would: ``root/ck_throwaway.py`` + its dist-info."""
    (root / "ck_throwaway.py").write_text(textwrap.dedent(THROWAWAY_MODULE))
    info = root / "ck_throwaway-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ck-throwaway\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[coldkit]\nthrowaway = ck_throwaway\n")
    return root


@pytest.fixture()
def throwaway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV, raising=False)
    install_throwaway(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager.reset_plugins()
    yield tmp_path
    monkeypatch.delitem(sys.modules, "ck_throwaway", raising=False)
    manager.reset_plugins()


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_backends_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_backend_list_includes_an_installed_backend(throwaway: Path) -> None:
    bench = load_bench()
    assert "throwaway-sort" in bench.BACKENDS  # read from the registry at import (collection) time
    assert {"rust", "numpy", "int8", "bf16"} <= set(bench.backend_names())
    report = manager.plugin_report()
    plugin = next(p for p in report["plugins"] if p["name"] == "throwaway")
    assert plugin["package"] == "ck-throwaway"
    # Gone again once the package is gone.
    sys.path.remove(str(throwaway))
    manager.reset_plugins()
    assert "throwaway-sort" not in load_bench().backend_names()


def test_benchmark_runs_the_installed_backend_and_records_correctness(throwaway: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(throwaway), os.environ.get("PYTHONPATH", "")])}
    env.pop("COLDKIT_BENCH_FULL", None)
    env.pop(manager.LOAD_PLUGINS_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BENCH), "-k", "throwaway",
         "--benchmark-min-rounds=1", f"--benchmark-json={out}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    benchmarks = json.loads(out.read_text())["benchmarks"]
    assert len(benchmarks) == 2  # one per (tiny) workload
    for bench in benchmarks:
        info = bench["extra_info"]
        assert info["backend"] == "throwaway-sort" and info["plugin"] == "throwaway" and info["kind"] == "exact"
        assert info["correct"] is True and info["recall"] == 1.0 and info["ids_equal"] == 1.0
    # the two workloads share one catalogue: only the first one's first call can build an index
    assert sorted(b["extra_info"]["first_call_builds"] for b in benchmarks) == [False, True]
    report = [sys.executable, str(REPO / "benches" / "report.py")]
    table = subprocess.run([*report, "--backends", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "| throwaway-sort |" in line]
    assert len(rows) == 2 and sum("(index cached)" in row for row in rows) == 1
    assert "B=1 " in next(row for row in rows if "(index cached)" not in row)  # the first workload built it


def test_report_refuses_what_it_cannot_draw_or_read(tmp_path: Path) -> None:
    """--png without --backends was ignored; another benchmark's file printed an empty table."""
    report = [sys.executable, str(REPO / "benches" / "report.py")]
    backends_only = tmp_path / "backends.json"
    backends_only.write_text(json.dumps({"benchmarks": [{"group": "backends N=10 d=4 B=1 k=5", "stats": {"min": 0.1},
                                                         "extra_info": {"backend": "numpy", "B": 1, "k": 5}}]}))
    not_a_benchmark = tmp_path / "other.json"
    not_a_benchmark.write_text(json.dumps({"results": []}))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    cases = [
        ([str(backends_only), "--png", str(tmp_path / "chart.png")], "add --backends"),
        ([str(backends_only)], "holds no bench_similarity.py results (for bench_backends.py's, add --backends)"),
        ([str(not_a_benchmark), "--backends"], "is not a pytest-benchmark file"),
        ([str(garbage)], "cannot read"),
        ([str(tmp_path / "missing.json")], "cannot read"),
    ]
    for args, words in cases:
        done = subprocess.run([*report, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode != 0 and words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert not (tmp_path / "chart.png").exists()
