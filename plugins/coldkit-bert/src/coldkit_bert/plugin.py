"""The coldkit entry point of coldkit-bert. Must stay light: no torch or transformers import here."""

from __future__ import annotations

from typing import Any

import coldkit


def make_bert_encoder(**options: Any) -> Any:
    """Build a :class:`coldkit_bert.encoder.BertEncoder` (imports torch on first use)."""
    from coldkit_bert.encoder import BertEncoder

    return BertEncoder(**options)


@coldkit.hookimpl
def coldkit_encoders() -> list[coldkit.EncoderSpec]:
    return [
        coldkit.EncoderSpec(
            name="bert",
            description="BERT-family sentence encoder (default all-MiniLM-L6-v2, 384-d, mean pooling)",
            factory=make_bert_encoder,
            capabilities={"text"},
        )
    ]
