"""The weights-free ``audio`` encoder on files the tests write: what is close to what, invariances,
and a clear per-file error for every way a file can be unusable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import coldkit
from coldkit.exceptions import InvalidInputError
from coldkit.testing import check_encoder
from coldkit_audio.encoder import MelStatsEncoder

C_MAJOR = [261.63, 329.63, 392.0]


@pytest.fixture(scope="module")
def encoder() -> MelStatsEncoder:
    return coldkit.get_encoder("audio")  # type: ignore[return-value]


def _write_all(directory: Path, synth: SimpleNamespace, signals: dict[str, np.ndarray]) -> list[str]:
    return [str(synth.write(directory / f"{name}.wav", wave)) for name, wave in signals.items()]


def test_passes_the_encoder_kit() -> None:
    encoder = check_encoder("audio")
    assert encoder.modalities == frozenset({"audio"})


def test_listed_by_coldkit_plugins_without_importing_heavy_modules() -> None:
    # a fresh interpreter: listing must not import scipy, soundfile or torch
    code = (
        "import json, sys, contextlib, io\n"
        "from coldkit.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    assert main(['plugins']) == 0\n"
        "heavy = sorted(m for m in ('scipy', 'soundfile', 'torch', 'transformers') if m in sys.modules)\n"
        "print(json.dumps({'report': json.loads(buf.getvalue()), 'heavy': heavy}))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout)
    plugin = next(p for p in result["report"]["plugins"] if p["name"] == "audio")
    assert plugin["package"] == "coldkit-audio"
    encoders = {e["name"]: e for e in plugin["encoders"]}
    assert encoders["audio"]["capabilities"] == ["audio"]
    assert encoders["clap"]["capabilities"] == ["audio", "text"]
    assert "soundfile" not in result["heavy"] and "torch" not in result["heavy"]


def test_each_pitch_is_closest_to_itself(encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path) -> None:
    pitches = [220.0, 261.63, 293.66, 440.0, 466.16, 880.0, 1760.0, 3520.0]
    first = _write_all(tmp_path, synth, {f"a{f:g}": synth.tone(f, 1.0, 0.5, phase=0.3) for f in pitches})
    # the same pitches again: another loudness, phase and length
    second = _write_all(tmp_path, synth, {f"b{f:g}": synth.tone(f, 1.4, 0.07, phase=2.0) for f in pitches})
    a, b = encoder.encode_audio(first), encoder.encode_audio(second)
    similarity = a @ b.T
    assert (similarity.argmax(axis=1) == np.arange(len(pitches))).all(), similarity.round(3)
    assert np.diag(similarity).min() > 0.99
    off_diagonal = similarity[~np.eye(len(pitches), dtype=bool)]
    assert off_diagonal.max() < np.diag(similarity).min()


def test_chords_noise_and_vowels_find_their_twins(encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    signals = {
        "c-major": synth.tone(C_MAJOR),
        "c-major-again": synth.tone(C_MAJOR, 1.3, 0.1, phase=1.1),
        "a-minor": synth.tone([220.0, 261.63, 329.63]),
        "a-minor-again": synth.tone([220.0, 261.63, 329.63], 0.8, 0.3, phase=2.2),
        "f-sharp-major": synth.tone([369.99, 466.16, 554.37]),
        "f-sharp-major-again": synth.tone([369.99, 466.16, 554.37], 1.2, 0.8, phase=0.5),
        "noise": 0.2 * rng.standard_normal(synth.rate),
        "noise-again": 0.05 * rng.standard_normal(int(1.4 * synth.rate)),
        "vowel-a": synth.vowel((700.0, 1220.0), 120.0),
        "vowel-a-again": synth.vowel((700.0, 1220.0), 150.0, 1.3),  # another speaker's pitch
        "vowel-i": synth.vowel((300.0, 2300.0), 120.0),
        "vowel-i-again": synth.vowel((300.0, 2300.0), 150.0, 1.3),
    }
    names = list(signals)
    vectors = encoder.encode_audio(_write_all(tmp_path, synth, signals))
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    for i, name in enumerate(names):
        twin = name[: -len("-again")] if name.endswith("-again") else f"{name}-again"
        assert names[int(similarity[i].argmax())] == twin, (name, dict(zip(names, similarity[i].round(3))))
    # noise is far from every tonal or voiced sound
    noise = names.index("noise")
    assert similarity[noise, [names.index(n) for n in names if "noise" not in n]].max() < 0.3


def test_gain_silence_padding_channels_and_sample_rate_do_not_move_a_sound(
    encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path
) -> None:
    wave = synth.tone(C_MAJOR, 1.0, 0.5)
    base = synth.write(tmp_path / "base.wav", wave)
    # float samples: 16-bit PCM would add its quantisation noise 56 dB below a tone this quiet
    quiet = synth.write(tmp_path / "quiet.wav", wave / 50, subtype="FLOAT")
    padded = synth.write(tmp_path / "padded.wav", np.concatenate([np.zeros(synth.rate // 2), wave, np.zeros(synth.rate // 3)]))
    stereo = synth.write(tmp_path / "stereo.wav", np.stack([wave, wave], axis=1))
    rate48k = synth.write(tmp_path / "48k.flac", synth.tone(C_MAJOR, 1.0, 0.5, rate=48000), rate=48000)
    vectors = encoder.encode_audio([base, quiet, padded, stereo, rate48k])
    cosines = vectors @ vectors[0]
    assert cosines[1] > 0.999, "gain"
    assert cosines[2] > 0.99, "leading and trailing silence"
    np.testing.assert_allclose(vectors[3], vectors[0], atol=1e-6)  # two equal channels mix down to the mono file
    assert cosines[4] > 0.99, "the same chord recorded at 48 kHz (FLAC)"


def test_mix_down_averages_the_channels(encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path) -> None:
    low, high = synth.tone(300.0), synth.tone(2000.0)
    stereo = synth.write(tmp_path / "stereo.wav", np.stack([low, high], axis=1), subtype="FLOAT")
    mixed = synth.write(tmp_path / "mixed.wav", (low + high) / 2, subtype="FLOAT")
    a, b = encoder.encode_audio([stereo, mixed])
    np.testing.assert_allclose(a, b, atol=1e-5)  # float32 samples: the sums round differently


def test_digital_silence_gives_a_zero_row(encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path) -> None:
    silent = synth.write(tmp_path / "silent.wav", np.zeros(synth.rate))
    tone = synth.write(tmp_path / "tone.wav", synth.tone(440.0))
    vectors = encoder.encode_audio([silent, tone])
    assert not vectors[0].any()
    assert abs(np.linalg.norm(vectors[1]) - 1) < 1e-6


def test_a_file_shorter_than_one_window_still_encodes(encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path) -> None:
    blip = synth.write(tmp_path / "blip.wav", synth.tone(1000.0, 0.01))  # 220 samples, 160 after resampling
    vector = encoder.encode_audio([blip])
    assert vector.shape == (1, encoder.dim) and abs(np.linalg.norm(vector) - 1) < 1e-6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, s: d / "missing.wav", "audio 1: audio file not found"),
        (lambda d, s: d, "audio 1: audio .* is a directory, not a file"),  # a directory is not a file
        (lambda d, s: _bytes(d / "junk.wav", b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(300)), "audio 1: cannot decode audio file"),
        (lambda d, s: _bytes(d / "text.mp3", b"this is not audio at all\n" * 50), "audio 1: cannot decode audio file"),
        (lambda d, s: _bytes(d / "empty.wav", b""), "audio 1: cannot decode audio file"),
        (lambda d, s: s.write(d / "zero.wav", np.zeros(0)), "holds no audio samples"),
        (lambda d, s: s.write(d / "nan.wav", np.where(np.arange(2000) == 1234, np.nan, 0.1), subtype="FLOAT"), "NaN or infinite samples \\(first at sample 1234\\)"),
        (lambda d, s: s.write(d / "inf.wav", np.where(np.arange(2000) == 5, np.inf, 0.1), subtype="DOUBLE"), "NaN or infinite samples"),
        (lambda d, s: s.write(d / "long.wav", np.zeros(3 * s.rate)), "is 3.0 s long, above max_seconds=2"),
        # one sample (an impulse padded with zeros) was a full-weight vector like a whole preview
        (lambda d, s: s.write(d / "one.wav", np.full(1, 0.5)), r"'one.wav' is 0.\d+ ms long, too short to encode: the shortest is 64 samples \(4 ms at 16000 Hz"),
        # channels in opposite phase mix down to their rounding residue, which was encoded as the sound
        (lambda d, s: s.write(d / "phase.wav", np.stack([s.tone(440.0), -s.tone(440.0)], axis=1)), "its 2 channels cancel out when mixed to mono"),
        (lambda d, s: 42, "audio 1: expected an audio file path, got int"),
        (lambda d, s: None, "audio 1: expected an audio file path, got NoneType"),
    ],
    ids=["missing", "directory", "bad-wav", "not-mp3", "zero-bytes", "zero-length", "nan", "inf", "too-long", "one-sample",
         "opposite-phase", "int", "none"],
)
def test_each_bad_file_gets_a_clear_error(synth: SimpleNamespace, tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    encoder = MelStatsEncoder(max_seconds=2)
    good = synth.write(tmp_path / "good.wav", synth.tone(440.0))
    with pytest.raises(InvalidInputError, match=message):
        encoder.encode_audio([good, make(tmp_path, synth)])


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_duration_cap_is_exact(synth: SimpleNamespace, tmp_path: Path) -> None:
    """2.001 s is refused under a 2 s cap and accepted under a 2.01 s one."""
    path = synth.write(tmp_path / "just-over.wav", np.full(int(2.001 * 16000), 0.1), rate=16000)
    with pytest.raises(InvalidInputError, match="above max_seconds=2"):
        MelStatsEncoder(max_seconds=2).encode_audio([path])
    assert MelStatsEncoder(max_seconds=2.01).encode_audio([path]).shape == (1, 166)


def test_bad_arguments(synth: SimpleNamespace, tmp_path: Path, encoder: MelStatsEncoder) -> None:
    path = synth.write(tmp_path / "a.wav", synth.tone(440.0))
    with pytest.raises(InvalidInputError, match="not a single path"):
        encoder.encode_audio(str(path))
    with pytest.raises(InvalidInputError, match="not a single path"):
        encoder.encode_audio(path)  # type: ignore[arg-type]
    assert encoder.encode_audio([]).shape == (0, encoder.dim)
    with pytest.raises(InvalidInputError, match="encodes audio only"):
        encoder.encode_texts(["a calm piano piece"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_mfcc": 80}, "n_mfcc=80 cannot exceed n_mels=64"),
        ({"fmin": 5000.0, "fmax": 4000.0}, "fmin < fmax"),
        ({"fmax": 9000.0}, "fmax <= sample_rate / 2"),
        ({"fmin": float("nan")}, "fmin must be a finite number"),
        ({"n_mels": 128, "n_fft": 128}, "fall between FFT bins"),
        ({"max_seconds": 0}, "max_seconds must be finite and > 0"),
        ({"max_seconds": float("inf")}, "max_seconds must be finite and > 0"),
        ({"max_seconds": True}, "max_seconds must be a number"),
        ({"sample_rate": 8000.5}, "sample_rate must be an int"),
        ({"hop_length": 0}, "hop_length must be an int >= 1"),
    ],
)
def test_options_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MelStatsEncoder(**options)  # type: ignore[arg-type]


def test_fingerprint_follows_the_options_that_change_vectors() -> None:
    assert MelStatsEncoder().fingerprint == coldkit.get_encoder("audio").fingerprint
    assert MelStatsEncoder(max_seconds=30).fingerprint == MelStatsEncoder().fingerprint  # only refuses files
    assert MelStatsEncoder(n_mels=40).fingerprint != MelStatsEncoder().fingerprint
    assert MelStatsEncoder(n_mels=40).dim == 2 * 40 + 2 * 19


def test_a_streaming_wav_header_does_not_trip_the_cap(synth: SimpleNamespace, tmp_path: Path) -> None:
    """Streamed WAVs declare 0xFFFFFFFF bytes of data; libsndfile clamps that to the file, so a
    1 s file is read as 1 s (not refused as hours long, not read past its end)."""
    path = synth.write(tmp_path / "stream.wav", synth.tone(440.0, 1.0), subtype="PCM_16")
    data = bytearray(path.read_bytes())
    chunk = data.find(b"data")
    data[4:8] = data[chunk + 4 : chunk + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    reference = synth.write(tmp_path / "plain.wav", synth.tone(440.0, 1.0), subtype="PCM_16")
    a, b = MelStatsEncoder(max_seconds=2).encode_audio([path, reference])
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_a_truncated_wav_is_refused(synth: SimpleNamespace, tmp_path: Path, subtype: str) -> None:
    """A WAV cut short (an interrupted copy or download) holds less data than its header declares.
    libsndfile quietly reads what is there, so the first third of a clip was encoded as the clip."""
    whole = synth.write(tmp_path / "whole.wav", synth.tone(440.0, 1.0), subtype=subtype)
    data = whole.read_bytes()
    cut = _bytes(tmp_path / "cut.wav", data[: len(data) // 3])
    declared = int.from_bytes(data[data.find(b"data") + 4 : data.find(b"data") + 8], "little")
    with pytest.raises(InvalidInputError, match=f"audio 1: .*cut.wav' is truncated: its header declares {declared:,} bytes of audio"):
        MelStatsEncoder().encode_audio([whole, cut])
    # a WAV with a pad byte after an odd-sized data chunk, or other chunks after it, is not truncated
    MelStatsEncoder().encode_audio([_bytes(tmp_path / "tail.wav", data + b"LIST\x04\x00\x00\x00INFO")])


@pytest.mark.parametrize("stored, named", [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_file_name_in_the_other_unicode_form_is_found(
    encoder: MelStatsEncoder, synth: SimpleNamespace, tmp_path: Path, stored: str, named: str
) -> None:
    """macOS stores "Café Olé.wav" decomposed (NFD), an items file names it composed (NFC), or the
    reverse: the file was "not found" though it is there. The exact name wins when both exist."""
    import unicodedata

    wave = synth.tone(C_MAJOR, 1.0, 0.5)
    there = synth.write(tmp_path / unicodedata.normalize(stored, "Café Olé.wav"), wave)
    asked = tmp_path / unicodedata.normalize(named, "Café Olé.wav")
    assert not asked.exists()
    np.testing.assert_array_equal(encoder.encode_audio([str(asked)]), encoder.encode_audio([str(there)]))
    other = synth.write(asked, synth.tone([440.0], 1.0, 0.5))  # now both forms exist: each name reads its own file
    assert not np.allclose(encoder.encode_audio([str(other)]), encoder.encode_audio([str(there)]))
