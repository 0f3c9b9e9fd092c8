"""Audio files the tests write themselves, and a small randomly initialised CLAP model.

No CLAP weights can be downloaded here, so the clap tests exercise the plugin's real loading path
(``from_pretrained`` on a directory written by ``save_pretrained``) on a model built from a small
``ClapConfig``: the real HTS-AT audio tower (spec_size 256, 64 mel bins) with two thin stages, and
a one-layer RoBERTa text tower over a byte-level vocabulary (256 byte symbols, no merges).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE = 22050  # not the encoders' rate, so every file goes through resampling


def write_wave(path: Path, wave: np.ndarray, rate: int = RATE, subtype: str | None = None) -> Path:
    import soundfile

    soundfile.write(str(path), wave, rate, subtype=subtype)
    return path


def tone(frequency: float | list[float], seconds: float = 1.0, amplitude: float = 0.5, rate: int = RATE, phase: float = 0.3) -> np.ndarray:
    """A sine (or a chord: equal-amplitude sines) of ``seconds``."""
    t = np.arange(int(seconds * rate)) / rate
    freqs = [frequency] if isinstance(frequency, (int, float)) else frequency
    wave = sum(np.sin(2 * np.pi * f * t + phase * (k + 1)) for k, f in enumerate(freqs))
    return amplitude * wave / len(freqs)


def vowel(formants: tuple[float, float], f0: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """A speech-like signal: a glottal pulse train at ``f0`` through two formant resonators,
    with a 4 Hz syllable envelope (source-filter model of a vowel)."""
    from scipy.signal import lfilter

    n = int(seconds * rate)
    t = np.arange(n) / rate
    jitter = 1 + 0.03 * np.sin(2 * np.pi * 3 * t)  # slow pitch drift, as a voice has
    phase = np.cumsum(f0 * jitter / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    signal = pulses
    for formant, bandwidth in zip(formants, (80.0, 120.0)):
        r = np.exp(-np.pi * bandwidth / rate)
        theta = 2 * np.pi * formant / rate
        signal = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], signal)
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 4 * t)
    signal = signal * envelope
    return 0.5 * signal / np.abs(signal).max()


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_small_clap(directory: Path, seed: int = 0) -> Path:
    """Write a random-init CLAP (config, safetensors, tokenizer, feature extractor) to ``directory``."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, RobertaTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + list(_bytes_to_unicode().values()) + ["<mask>"]
    (directory / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = RobertaTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=512)
    tokenizer.save_pretrained(str(directory))
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=514, pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        ),
        audio_config=dict(
            patch_embeds_hidden_size=16, hidden_size=32, depths=[1, 1], num_attention_heads=[1, 2],
            enable_fusion=False,
        ),
        projection_dim=24,
    )
    torch.manual_seed(seed)
    ClapModel(config).eval().save_pretrained(str(directory))
    ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad").save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def small_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return build_small_clap(tmp_path_factory.mktemp("small-clap"))


@pytest.fixture(scope="session")
def synth() -> SimpleNamespace:
    """The signal makers above, for tests (conftest is not importable under --import-mode=importlib)."""
    return SimpleNamespace(tone=tone, vowel=vowel, write=write_wave, rate=RATE)
