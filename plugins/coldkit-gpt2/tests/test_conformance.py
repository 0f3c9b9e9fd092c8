"""The gpt2 encoder passes coldkit's conformance kit, on the tiny random GPT-2 the conftest builds.

Random weights carry no meaning, so the kit's semantic check is off; every contract check runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coldkit.testing import check_encoder


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_gpt2_passes_the_encoder_kit(tiny_gpt2_dir: Path, pooling: str) -> None:
    check_encoder("gpt2", options={"model": tiny_gpt2_dir, "pooling": pooling, "device": "cpu", "threads": 1}, semantic=False)
