"""The public surface: every exported name resolves, importing stays light, every hook is documented."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import coldkit
from coldkit.plugins import hookspecs
from coldkit.plugins.manager import KINDS

REPO = Path(__file__).resolve().parents[1]


def test_every_exported_name_resolves() -> None:
    missing = [name for name in coldkit.__all__ if not hasattr(coldkit, name)]
    assert missing == []
    assert len(set(coldkit.__all__)) == len(coldkit.__all__)


def test_import_coldkit_does_not_import_heavy_libraries() -> None:
    probe = "import sys, json, coldkit; print(json.dumps(sorted(m for m in ('torch', 'transformers', 'pandas', 'scipy', 'fastapi', 'ray', 'matplotlib') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_every_hook_has_a_kind_and_is_documented_with_its_signature() -> None:
    hooks = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("coldkit_")}
    assert hooks == {kind.hook for kind in KINDS.values()}
    readme = (REPO / "README.md").read_text()
    for hook in sorted(hooks):
        function = getattr(hookspecs, hook)
        assert f"`{hook}{inspect.signature(function).replace(return_annotation=inspect.Signature.empty)}`" in readme, hook
        assert function.__doc__ and "Example::" in function.__doc__, f"{hook} needs a docstring with an example"


def test_version_and_build_info() -> None:
    assert coldkit.__version__.count(".") >= 2
    assert "profile=" in coldkit.build_info
