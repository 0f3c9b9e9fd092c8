"""The model plugin in docs/plugins.md, written from the page alone, works in ``coldkit recommend --model``.

The test copies the page's ``# file:`` code blocks into a temporary package, makes it an installed
distribution (a ``.dist-info`` with the entry points from the page's own pyproject.toml) on
``sys.path``, and checks ``coldkit recommend``'s output against co-visitation counts computed here
by hand.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from coldkit.cli import main
from coldkit.plugins import manager

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"```(?:python|toml)\n# file: (?P<path>\S+)\n(?P<body>.*?)```", re.S)

ITEMS = "item_id,title\na,Alpha\nb,Bravo\nc,Charlie\nd,Delta\ne,Echo\nf,Foxtrot\n"
TRAIN = "user_id,item_id\nu1,a\nu1,b\nu1,c\nu2,a\nu2,b\nu3,b\nu3,c\nu3,d\nu4,e\nu4,a\nu5,f\nu5,c\n"


def doc_files() -> dict[str, str]:
    files = {m["path"]: m["body"] for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}
    assert {"pyproject.toml", "src/coldkit_covisit/plugin.py", "tests/test_covisit.py"} <= set(files), sorted(files)
    return files


@pytest.fixture()
def covisit_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The documented package, installed-looking: sources plus a dist-info with its entry points."""
    files = doc_files()
    package = tmp_path / "coldkit-covisit"
    for relative, body in files.items():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    project = tomllib.loads(files["pyproject.toml"])["project"]
    site = package / "src"
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = "\n".join(f"{name} = {target}" for name, target in project["entry-points"]["coldkit"].items())
    info.joinpath("entry_points.txt").write_text(f"[coldkit]\n{points}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV, raising=False)
    manager.reset_plugins()
    yield package
    manager.reset_plugins()
    for name in [m for m in sys.modules if m == "coldkit_covisit" or m.startswith("coldkit_covisit.")]:
        del sys.modules[name]


def reference(train: pd.DataFrame, items: list[str], k: int, min_count: int = 1) -> dict[str, list[str]]:
    """Top-k by co-visitation count, then popularity, then the order `coldkit recommend` numbers the items in
    (a hash of their ids, not the file's order: coldkit.data.datasets.id_order); own items excluded."""
    from coldkit.data.datasets import id_order

    place = {items[i]: pos for pos, i in enumerate(id_order(items))}
    users_of = {i: set(train.loc[train.item_id == i, "user_id"]) for i in items}
    out = {}
    for user, group in train.groupby("user_id"):
        known = set(group.item_id)
        scored = []
        for item in items:
            pos = place[item]
            if item in known:
                continue
            shared = [len(users_of[item] & users_of[j]) for j in known]
            count = sum(c for c in shared if c >= min_count)
            scored.append((-count, -len(users_of[item]), pos, item))
        out[str(user)] = [item for *_, item in sorted(scored)[:k]]
    return out


@pytest.mark.parametrize("min_count", [1, 2])
def test_documented_plugin_runs_in_coldkit_recommend(covisit_installed: Path, tmp_path: Path, min_count: int) -> None:
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "train.csv").write_text(TRAIN)
    out = tmp_path / "recs.csv"
    code = main(["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
                 "--model", "covisit", "--option", f"min_count={min_count}", "--k", "3", "--out", str(out), "--no-progress"])
    assert code == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    got = {str(u): g.sort_values("rank").item_id.tolist() for u, g in recs.groupby("user_id")}
    train = pd.read_csv(tmp_path / "train.csv", dtype=str)
    expected = reference(train, list("abcdef"), 3, min_count)
    assert got == expected
    # u1 = {a, b, c}: d shares u3 with b and c (count 2); e shares u4 with a; f shares u5 with c.
    if min_count == 1:
        assert got["u1"][0] == "d"


def test_documented_plugin_is_listed_and_passes_the_kit(covisit_installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    report = json.loads(capsys.readouterr().out)
    plugin = next(p for p in report["plugins"] if p["name"] == "covisit")
    assert [m["name"] for m in plugin["models"]] == ["covisit"] and plugin["package"] == "coldkit-covisit"
    namespace: dict[str, object] = {}
    exec(compile(doc_files()["tests/test_covisit.py"], "tests/test_covisit.py", "exec"), namespace)  # the page's own test
    namespace["test_covisit_conforms"]()  # type: ignore[operator]


def test_documented_plugin_rejects_a_bad_option(covisit_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "train.csv").write_text(TRAIN)
    code = main(["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
                 "--model", "covisit", "--option", "min_count=0", "--out", str(tmp_path / "r.csv"), "--no-progress"])
    assert code != 0
    assert "min_count must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_evaluate_accepts_the_plugin_model(covisit_installed: Path) -> None:
    from coldkit.evaluation import evaluate
    from coldkit.testing import synthetic_interactions

    train, _, _ = synthetic_interactions(0)
    result = evaluate(train, ["popularity", "covisit:min_count=1"], protocol="warm", k=5, progress=False)
    assert result.models == ["popularity", "covisit[min_count=1]"]
    assert np.isfinite(result.mean("covisit[min_count=1]", "all", "recall@5"))
