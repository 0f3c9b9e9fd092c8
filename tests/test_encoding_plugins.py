"""The encoder plugin packages as installed: listed without importing torch, found by name."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

PLUGINS = {"bert": "coldkit-bert", "gpt2": "coldkit-gpt2", "clip": "coldkit-clip", "audio": "coldkit-audio", "clap": "coldkit-audio"}


def _installed() -> dict[str, str]:
    found = {}
    for name, dist in PLUGINS.items():
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist
    return found


def test_listing_plugins_does_not_import_torch() -> None:
    installed = _installed()
    if not installed:
        pytest.skip("no coldkit encoder plugin installed (pip install ./plugins/coldkit-bert ...)")
    code = (
        "import json, sys, coldkit\n"
        "report = coldkit.plugin_report()\n"
        "names = sorted(e['name'] for p in report['plugins'] for e in p['encoders'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'PIL', 'soundfile') if m in sys.modules)\n"
        "print(json.dumps({'names': names, 'heavy': heavy, 'errors': report['errors']}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COLDKIT_LOAD_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(installed) <= set(result["names"])
    assert result["heavy"] == [], f"listing plugins imported {result['heavy']}"
    assert not [e for e in result["errors"] if any(n in e["plugin"] for n in installed)]


def test_plugin_selection_env_var_hides_uninstalled_choices() -> None:
    if "bert" not in _installed():
        pytest.skip("coldkit-bert not installed")
    code = "import json, coldkit; print(json.dumps(coldkit.plugins.registry('encoder').names()))"
    env = {**os.environ, "COLDKIT_LOAD_PLUGINS": "bert"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert "bert" in names and "gpt2" not in names and "clip" not in names
