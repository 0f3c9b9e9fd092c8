"""The coldkit entry point of coldkit-clip. Must stay light: no torch or transformers import here."""

from __future__ import annotations

from typing import Any

import coldkit


def make_clip_encoder(**options: Any) -> Any:
    """Build a :class:`coldkit_clip.encoder.CLIPEncoder` (imports torch on first use)."""
    from coldkit_clip.encoder import CLIPEncoder

    return CLIPEncoder(**options)


@coldkit.hookimpl
def coldkit_encoders() -> list[coldkit.EncoderSpec]:
    return [
        coldkit.EncoderSpec(
            name="clip",
            description="CLIP text and image towers projected into one shared space",
            factory=make_clip_encoder,
            capabilities={"text", "image"},
        )
    ]
