"""The template plugin package installs with pip and is found through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "plugins" / "coldkit-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the example plugin into a private target directory (not the shared environment)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return target


def _path(target: Path) -> str:
    """The installed plugin, and this checkout's coldkit (not whichever one the environment holds)."""
    return os.pathsep.join([str(target), str(REPO / "python")])


def _coldkit(target: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "COLDKIT_LOAD_PLUGINS"}
    environment.update(PYTHONPATH=_path(target), **env)
    return subprocess.run([sys.executable, "-m", "coldkit", *args], capture_output=True, text=True,
                          env=environment, timeout=120)


def test_coldkit_plugins_lists_the_installed_example(installed_example: Path) -> None:
    result = _coldkit(installed_example, "plugins")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    example = next(p for p in report["plugins"] if p["name"] == "example")
    assert example["builtin"] is False
    assert example["package"] == "coldkit-example" and example["version"] == "0.1.0"
    assert [f["name"] for f in example["fusion_strategies"]] == ["combmnz"]
    assert [e["name"] for e in example["encoders"]] == ["char-ngram"]
    assert [m["name"] for m in example["models"]] == ["text-match"]
    assert [r["name"] for r in example["rerankers"]] == ["new-first"]


def test_selection_env_can_leave_it_out(installed_example: Path) -> None:
    result = _coldkit(installed_example, "plugins", COLDKIT_LOAD_PLUGINS="")
    assert result.returncode == 0, result.stderr
    assert "example" not in {p["name"] for p in json.loads(result.stdout)["plugins"]}


def test_example_plugin_own_tests_pass(installed_example: Path) -> None:
    env = {**os.environ, "PYTHONPATH": _path(installed_example)}
    env.pop("COLDKIT_LOAD_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=env, timeout=300, cwd=EXAMPLE,
    )
    assert result.returncode == 0, result.stdout + result.stderr
