"""The clip encoder passes coldkit's conformance kit (texts and images), on the tiny random CLIP the conftest builds.

Random weights carry no meaning, so the kit's semantic check is off; every contract check runs,
including ``encode_images`` (shape, unit rows, determinism, a missing file named in the error).
"""

from __future__ import annotations

from pathlib import Path

from coldkit.testing import check_encoder


def test_clip_passes_the_encoder_kit(tiny_clip_dir: Path) -> None:
    encoder = check_encoder("clip", options={"model": tiny_clip_dir, "device": "cpu", "threads": 1}, semantic=False)
    assert "image" in encoder.modalities  # so the image checks ran
