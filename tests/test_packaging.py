"""Release packaging: the abi3 wheel and the plugin wheels build, carry the licence, and install
offline into a fresh virtualenv where ``coldkit demo`` runs; README links resolve in the repo and sdist.

The wheels are built once per session (``maturin build --release`` reuses the cargo target cache,
so after ``scripts/setup.sh`` only the extension crate is relinked). The fresh virtualenv gets
nothing from the network: its dependencies come from ``.wheelhouse/``, which ``scripts/setup.sh``
fills with the wheels of coldkit's runtime dependencies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import coldkit

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".wheelhouse"
LICENSE = (ROOT / "LICENSE").read_bytes()
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def run(cmd: list[str | Path], *, timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python or pip at this checkout or at an index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coldkit's release wheel and one wheel per plugin, built from this checkout."""
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which("maturin")
    assert maturin, "maturin is not installed (scripts/setup.sh installs it)"
    out = tmp_path_factory.mktemp("wheels")
    run([maturin, "build", "--release", "--quiet", "-o", out, "-i", sys.executable], cwd=ROOT)
    for plugin in PLUGINS:
        # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
        source = shutil.copytree(plugin, out.parent / "src" / plugin.name,
                                 ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))  # fmt: skip
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source])
    return out


@pytest.mark.slow
def test_core_wheel_is_abi3_and_ships_the_licence(wheels: Path) -> None:
    (wheel,) = wheels.glob("coldkit-*.whl")
    # one wheel for every CPython >= 3.10 (pyo3's abi3-py310 feature), named for this version
    assert re.fullmatch(rf"coldkit-{re.escape(coldkit.__version__)}-cp310-abi3-[a-z0-9_.]+\.whl", wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"coldkit-{coldkit.__version__}.dist-info"
        assert zf.read(f"{info}/licenses/LICENSE") == LICENSE
        metadata = zf.read(f"{info}/METADATA").decode()
        assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
        assert "Tag: cp310-abi3-" in zf.read(f"{info}/WHEEL").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        assert re.search(r"^coldkit\s*=\s*coldkit\.cli:main$", entry_points, flags=re.MULTILINE), entry_points
    assert "coldkit/_core.abi3.so" in names and "coldkit/py.typed" in names and "coldkit/_core.pyi" in names


@pytest.mark.slow
@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_plugin_wheels_build_with_licence_and_entry_point(wheels: Path, plugin: Path) -> None:
    distribution = plugin.name.replace("-", "_")
    (wheel,) = wheels.glob(f"{distribution}-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = next(n.split("/")[0] for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        assert zf.read(f"{info}/licenses/LICENSE") == LICENSE
        assert (plugin / "LICENSE").read_bytes() == LICENSE
        assert "[coldkit]" in zf.read(f"{info}/entry_points.txt").decode()


@pytest.mark.slow
def test_fresh_virtualenv_installs_offline_and_runs_the_demo(wheels: Path, tmp_path: Path) -> None:
    if not any(WHEELHOUSE.glob("numpy-*.whl")):
        pytest.fail(f"{WHEELHOUSE} holds no dependency wheels: run scripts/setup.sh (it fills it)")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    # the outer pip installs into the new environment; --no-index: nothing comes from the network
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
         "--find-links", wheels, "--find-links", WHEELHOUSE, "coldkit", "coldkit-example"],
        env=clean_env())  # fmt: skip
    work = tmp_path / "elsewhere"  # not the checkout: nothing of python/ can be picked up
    work.mkdir()
    env = clean_env(HOME=str(tmp_path), COLDKIT_CACHE_DIR=str(tmp_path / "cache"))

    where = run([python, "-c", "import coldkit, sys; print(coldkit.__file__); print(coldkit.__version__); "
                 "print('torch' in sys.modules)"], cwd=work, env=env).stdout.split()  # fmt: skip
    assert Path(where[0]).is_relative_to(venv) and where[1] == coldkit.__version__ and where[2] == "False"

    demo = run([venv / "bin" / "coldkit", "demo"], cwd=work, env=env).stdout
    # the same output as the checkout's own demo, and what the README promises
    reference = run([sys.executable, "-m", "coldkit", "demo"], cwd=ROOT).stdout
    assert demo == reference
    user2 = demo.split("user2", 1)[1]
    assert user2.splitlines()[1].split()[1] == "item3"

    plugins = json.loads(run([venv / "bin" / "coldkit", "plugins"], cwd=work, env=env).stdout)
    example = [p for p in plugins["plugins"] if p["name"] == "example"]
    assert example and [f["name"] for f in example[0]["fusion_strategies"]] == ["combmnz"]
    assert plugins.get("errors", []) == []


def test_the_sdist_ships_the_licence_and_every_file_the_readme_links_to(tmp_path: Path) -> None:
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which("maturin")
    assert maturin
    run([maturin, "sdist", "-o", tmp_path], cwd=ROOT)
    (sdist,) = tmp_path.glob("coldkit-*.tar.gz")
    with tarfile.open(sdist) as tf:
        prefix = f"coldkit-{coldkit.__version__}/"
        members = {m.name.removeprefix(prefix) for m in tf.getmembers()}
        licence = tf.extractfile(prefix + "LICENSE")
        assert licence is not None and licence.read() == LICENSE
    assert set(readme_link_targets()) <= members


def readme_link_targets() -> list[str]:
    """Relative link targets in README.md (markdown links and images), without anchors."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]
    return [t for t in local if t]


def test_readme_links_resolve_in_the_repository() -> None:
    targets = readme_link_targets()
    assert "docs/similarity.md" in targets and "LICENSE" in targets  # the check sees the links
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert missing == []
    # every absolute link is https (no http://, no links into a local machine)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not re.findall(r"\]\((?:http://|file:|/)", text)
