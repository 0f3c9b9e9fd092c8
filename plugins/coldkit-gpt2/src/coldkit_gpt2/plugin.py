"""The coldkit entry point of coldkit-gpt2. Must stay light: no torch or transformers import here."""

from __future__ import annotations

from typing import Any

import coldkit


def make_gpt2_encoder(**options: Any) -> Any:
    """Build a :class:`coldkit_gpt2.encoder.GPT2Encoder` (imports torch on first use)."""
    from coldkit_gpt2.encoder import GPT2Encoder

    return GPT2Encoder(**options)


@coldkit.hookimpl
def coldkit_encoders() -> list[coldkit.EncoderSpec]:
    return [
        coldkit.EncoderSpec(
            name="gpt2",
            description="GPT-2 family text encoder (last-token or mean pooling of the final hidden states)",
            factory=make_gpt2_encoder,
            capabilities={"text"},
        )
    ]
