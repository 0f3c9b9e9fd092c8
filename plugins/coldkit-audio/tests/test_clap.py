"""The ``clap`` encoder on a small random CLAP saved with ``save_pretrained`` and loaded back by path:
both towers against a direct transformers reference, determinism on long clips, the kit, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import coldkit
from coldkit.exceptions import InvalidInputError
from coldkit.testing import check_encoder

pytest.importorskip("torch")
pytest.importorskip("transformers")

TEXTS = ["a calm piano piece", "dog barking", "Ünïcödé café — 表記", "x"]


@pytest.fixture(scope="module")
def clap(small_clap_dir: Path) -> Any:
    return coldkit.get_encoder("clap", model=small_clap_dir, device="cpu", threads=1)


def _reference_model(directory: Path) -> Any:
    from transformers import ClapModel

    return ClapModel.from_pretrained(str(directory)).eval()


def _pooled(output: Any) -> Any:
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def test_loads_by_path_with_the_right_shape(clap: Any) -> None:
    assert isinstance(clap, coldkit.Encoder)
    assert clap.modalities == frozenset({"text", "audio"})
    assert (clap.dim, clap.max_length, clap.sample_rate) == (24, 512, 48000)


def test_passes_the_encoder_kit(small_clap_dir: Path) -> None:
    # random weights carry no meaning: the semantic checks are off, every contract check runs
    encoder = check_encoder("clap", options={"model": small_clap_dir, "device": "cpu", "threads": 1}, semantic=False)
    assert "audio" in encoder.modalities


def test_text_tower_matches_unpadded_reference(clap: Any, small_clap_dir: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(small_clap_dir))
    model = _reference_model(small_clap_dir)
    with torch.no_grad():
        rows = [_pooled(model.get_text_features(**tokenizer(t, return_tensors="pt")))[0].numpy() for t in TEXTS]
    expected = np.stack(rows)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(clap.encode_texts(TEXTS), expected, atol=2e-5)


def test_audio_tower_matches_reference(clap: Any, small_clap_dir: Path, synth: SimpleNamespace, tmp_path: Path) -> None:
    """Files written at the model's 48 kHz, so the reference sees the very samples the encoder decodes."""
    import soundfile
    import torch
    from transformers import ClapFeatureExtractor

    waves = [synth.tone(440.0, 1.0, rate=48000), synth.tone([261.63, 329.63, 392.0], 2.5, rate=48000), synth.vowel((700.0, 1220.0), 120.0, 3.0, rate=48000)]
    paths = [synth.write(tmp_path / f"{i}.wav", w, rate=48000, subtype="FLOAT") for i, w in enumerate(waves)]
    extractor = ClapFeatureExtractor.from_pretrained(str(small_clap_dir))
    model = _reference_model(small_clap_dir)
    with torch.no_grad():
        rows = []
        for path in paths:
            samples, _ = soundfile.read(str(path), dtype="float32")
            inputs = extractor(samples, sampling_rate=48000, return_tensors="pt")
            rows.append(_pooled(model.get_audio_features(**inputs))[0].numpy())
    expected = np.stack(rows)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(clap.encode_audio(paths), expected, atol=2e-5)


def test_long_clips_are_deterministic_and_leave_the_callers_rng_alone(clap: Any, synth: SimpleNamespace, tmp_path: Path) -> None:
    """Past 10 s the feature extractor crops a random window; the encoder fixes it per file."""
    long = synth.write(tmp_path / "long.wav", synth.vowel((300.0, 2300.0), 130.0, 14.0))
    np.random.seed(123)
    state = np.random.get_state()
    first = clap.encode_audio([long])
    after = np.random.get_state()
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(state, after))
    np.testing.assert_array_equal(clap.encode_audio([long]), first)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_resamples_and_mixes_down_any_file(clap: Any, synth: SimpleNamespace, tmp_path: Path) -> None:
    mono = synth.write(tmp_path / "mono.wav", synth.tone(440.0, 1.0, rate=48000), rate=48000, subtype="FLOAT")
    stereo = synth.write(tmp_path / "stereo.flac", np.stack([synth.tone(440.0)] * 2, axis=1))  # 22.05 kHz, 2 channels
    vectors = clap.encode_audio([mono, stereo])
    assert vectors.shape == (2, clap.dim) and np.isfinite(vectors).all()


def test_bad_files_are_named(clap: Any, synth: SimpleNamespace, tmp_path: Path) -> None:
    good = synth.write(tmp_path / "good.wav", synth.tone(440.0))
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"OggS" + bytes(200))
    with pytest.raises(InvalidInputError, match="audio 1: audio file not found"):
        clap.encode_audio([good, tmp_path / "missing.wav"])
    with pytest.raises(InvalidInputError, match="audio 2: cannot decode audio file"):
        clap.encode_audio([good, good, junk])
    with pytest.raises(InvalidInputError, match="not a single path"):
        clap.encode_audio(str(good))
    assert clap.encode_audio([]).shape == (0, clap.dim)


def test_bad_model_directories(small_clap_dir: Path, synth: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        coldkit.get_encoder("clap", model=tmp_path / "nowhere")
    without_extractor = tmp_path / "no-extractor"
    shutil.copytree(small_clap_dir, without_extractor)
    (without_extractor / "preprocessor_config.json").unlink()
    encoder = coldkit.get_encoder("clap", model=without_extractor, device="cpu", threads=1)
    assert encoder.encode_texts(["still encodes text"]).shape == (1, 24)
    with pytest.raises(InvalidInputError, match="no preprocessor_config.json"):
        encoder.encode_audio([synth.write(tmp_path / "a.wav", synth.tone(440.0))])
    with pytest.raises(InvalidInputError, match="max_seconds"):
        coldkit.get_encoder("clap", model=small_clap_dir, max_seconds=-1)


def test_a_model_of_another_kind_is_refused(small_clap_dir: Path, tmp_path: Path) -> None:
    # ClapModel loaded a BERT folder with every weight random, and encoded without an error
    import json

    target = tmp_path / "bert-like"
    shutil.copytree(small_clap_dir, target)
    (target / "config.json").write_text(json.dumps({"model_type": "bert", "max_position_embeddings": 64}))
    with pytest.raises(InvalidInputError, match=r"is a 'bert' model, not clap"):
        coldkit.get_encoder("clap", model=target)
