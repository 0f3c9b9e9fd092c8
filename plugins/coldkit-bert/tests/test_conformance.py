"""The bert encoder passes coldkit's conformance kit (real MiniLM weights, so the semantic check too)."""

from __future__ import annotations

from pathlib import Path

from coldkit.testing import check_encoder


def test_bert_passes_the_encoder_kit(minilm_dir: Path) -> None:
    check_encoder("bert", options={"device": "cpu", "threads": 1})
