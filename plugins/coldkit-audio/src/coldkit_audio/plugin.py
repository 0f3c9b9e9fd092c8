"""The coldkit entry point of coldkit-audio. Must stay light: no scipy, soundfile or torch import here."""

from __future__ import annotations

from typing import Any

import coldkit


def make_audio_encoder(**options: Any) -> Any:
    """Build a :class:`coldkit_audio.encoder.MelStatsEncoder` (the weights-free default)."""
    from coldkit_audio.encoder import MelStatsEncoder

    return MelStatsEncoder(**options)


def make_clap_encoder(**options: Any) -> Any:
    """Build a :class:`coldkit_audio.clap.ClapEncoder` (imports torch and transformers on first use)."""
    from coldkit_audio.clap import ClapEncoder

    return ClapEncoder(**options)


@coldkit.hookimpl
def coldkit_encoders() -> list[coldkit.EncoderSpec]:
    return [
        coldkit.EncoderSpec(
            name="audio",
            description="weights-free log-mel / MFCC statistics of audio files (offline default)",
            factory=make_audio_encoder,
            capabilities={"audio"},
        ),
        coldkit.EncoderSpec(
            name="clap",
            description="pretrained CLAP: texts and audio files in one shared space (needs local weights)",
            factory=make_clap_encoder,
            capabilities={"text", "audio"},
        ),
    ]
