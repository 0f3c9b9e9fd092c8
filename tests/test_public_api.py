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


def test_atomic_writes_get_normal_file_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from coldkit._atomic import atomic_write_bytes

    old = os.umask(0o022)
    try:
        target = tmp_path / "out.csv"
        atomic_write_bytes(target, b"a,b\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o600)  # replacing a file keeps its mode
        atomic_write_bytes(target, b"c,d\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.read_bytes() == b"c,d\n"
    finally:
        os.umask(old)


def test_interactions_reject_bad_user_index_and_timestamp_shape() -> None:
    import numpy as np
    import pandas as pd
    import pytest
    import scipy.sparse as sp

    catalog = coldkit.Catalog(np.array(["a", "b"]), pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    matrix = sp.csr_matrix(np.array([[1.0, 0.0]]))
    data = coldkit.Interactions(np.array(["u"]), catalog, matrix)
    assert data.items_of(0).tolist() == [0]
    with pytest.raises(coldkit.InvalidInputError, match="out of range"):
        data.items_of(-1)
    with pytest.raises(coldkit.InvalidInputError, match="timestamps has shape"):
        coldkit.Interactions(np.array(["u"]), catalog, matrix, timestamps=sp.csr_matrix((2, 2), dtype=np.int64))
