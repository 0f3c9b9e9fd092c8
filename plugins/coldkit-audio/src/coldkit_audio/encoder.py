"""The weights-free ``audio`` encoder: statistics of the log-mel spectrogram and the MFCCs.

Each file becomes one vector of four blocks, computed over its audible frames:

1. the mean log-mel spectrum minus its own mean over bands (the spectral envelope, pitch and
   timbre; ``n_mels`` values),
2. the standard deviation over time of each log-mel band (how much each band moves; ``n_mels``),
3. the mean MFCCs 1..n_mfcc-1 (the smoothed envelope; c0, the loudness, is left out),
4. the standard deviation over time of the MFCC deltas 1..n_mfcc-1 (how fast the timbre changes:
   high for speech, zero for a steady tone).

Every block is a difference of log energies, so multiplying the waveform by a gain changes nothing:
the vector describes *what* sounds, not how loud it was recorded. The dynamic range is clamped to
80 dB below the loudest band (as ``librosa.power_to_db(top_db=80)`` does), and frames more than
60 dB below the loudest frame (leading/trailing silence) are left out of the statistics, so
padding a clip with silence barely moves it. Digital silence has no content: its row is all zeros,
like an empty text's.

No weights and no training: the same file gives the same vector on every machine, and the vectors
are comparable across catalogues. It knows nothing about meaning (a pretrained ``clap`` model does),
but it tells a tone from a chord, noise from speech, a bass from a whistle.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit_audio.decode import DEFAULT_MAX_SECONDS, check_audio_paths, check_max_seconds, load_audio
from coldkit_audio.features import LOG_FLOOR, delta, log_mel_spectrogram, mel_filterbank, mfcc

__all__ = ["MelStatsEncoder", "FEATURES_VERSION"]

# Bumped whenever the vector a given file and option set produce changes, so caches keyed by the
# fingerprint never mix vectors of two versions.
FEATURES_VERSION = 1
_TOP_DB = 80.0  # dynamic range kept below the loudest band
_ACTIVE_DB = 60.0  # frames this far below the loudest frame count as silence
_SHORTEST_PART = 16  # a clip shorter than n_fft / this is refused (too few samples for a spectrum)


def _db_to_nats(db: float) -> float:
    return db / 10.0 * math.log(10.0)


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class MelStatsEncoder:
    """Audio files to L2-normalised log-mel / MFCC statistics vectors (``modalities == {"audio"}``).

    Args:
        sample_rate: every file is mixed down to mono and resampled to this rate (Hz).
        n_fft: analysis window in samples (1024 at 16 kHz: 64 ms, which resolves a semitone at 260 Hz).
        hop_length: samples between frames.
        n_mels: mel bands.
        n_mfcc: cepstral coefficients (c0 is computed and dropped; ``n_mfcc - 1`` are used).
        fmin, fmax: the mel filters' frequency range (Hz); ``fmax`` defaults to ``sample_rate / 2``.
        max_seconds: longer files are refused with an error (checked before decoding).

    ``dim == 2 * n_mels + 2 * (n_mfcc - 1)`` (166 with the defaults).

    Example::

        audio = coldkit.get_encoder("audio")
        vectors = audio.encode_audio(["previews/1.mp3", "previews/2.wav"])
        similar = vectors @ vectors[0]
    """

    name = "audio"
    modalities = frozenset({"audio"})

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 64,
        n_mfcc: int = 20,
        fmin: float = 0.0,
        fmax: float | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.sample_rate = _positive_int(sample_rate, "sample_rate", 1000)
        self.n_fft = _positive_int(n_fft, "n_fft", 16)
        self.hop_length = _positive_int(hop_length, "hop_length")
        self.n_mels = _positive_int(n_mels, "n_mels", 2)
        self.n_mfcc = _positive_int(n_mfcc, "n_mfcc", 2)
        if self.n_mfcc > self.n_mels:
            raise InvalidInputError(f"n_mfcc={self.n_mfcc} cannot exceed n_mels={self.n_mels}")
        nyquist = self.sample_rate / 2.0
        self.fmax = nyquist if fmax is None else fmax
        self.fmin = fmin
        for value, label in ((self.fmin, "fmin"), (self.fmax, "fmax")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInputError(f"{label} must be a finite number of Hz, got {value!r}")
        if not 0.0 <= self.fmin < self.fmax <= nyquist:
            raise InvalidInputError(f"need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist:g}, got fmin={fmin!r}, fmax={fmax!r}")
        self.max_seconds = check_max_seconds(max_seconds)
        empty = np.flatnonzero(mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax).max(axis=1) <= 0)
        if empty.size:
            # a filter narrower than the FFT's bin spacing sees no bin: its band would be constant
            raise InvalidInputError(
                f"n_mels={self.n_mels} is too many for n_fft={self.n_fft} at {self.sample_rate} Hz: "
                f"mel bands {empty.tolist()} fall between FFT bins; lower n_mels or raise n_fft"
            )
        self.dim = 2 * self.n_mels + 2 * (self.n_mfcc - 1)

    def _options(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length,
            "n_mels": self.n_mels, "n_mfcc": self.n_mfcc, "fmin": float(self.fmin), "fmax": float(self.fmax),
        }

    @property
    def fingerprint(self) -> str:
        """``audio:v<features version>:<options>``; ``max_seconds`` only refuses files, so it is not part of it."""
        return f"audio:v{FEATURES_VERSION}:{json.dumps(self._options(), sort_keys=True, separators=(',', ':'))}"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Always refused: this encoder has no text modality.

        Raises:
            InvalidInputError: always; it names the encoders that do encode text.
        """
        raise InvalidInputError(
            "the 'audio' encoder encodes audio only (modalities {'audio'}): use encode_audio(paths); "
            "encode texts with a text encoder (bert, gpt2, hashing) or with 'clap', which embeds texts and audio in one space"
        )

    def features(self, wave: np.ndarray) -> np.ndarray:
        """The statistics vector (float64, not normalised) of a mono waveform at ``sample_rate``."""
        log_mel = log_mel_spectrogram(
            wave, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
        )
        log_mel = np.maximum(log_mel, log_mel.max() - _db_to_nats(_TOP_DB))
        frame_energy = np.log(np.exp(log_mel).sum(axis=1) + LOG_FLOOR)
        active = frame_energy >= frame_energy.max() - _db_to_nats(_ACTIVE_DB)
        cepstra = mfcc(log_mel, self.n_mfcc)
        speed = delta(cepstra)[active, 1:]
        kept = log_mel[active]
        envelope = kept.mean(axis=0)
        return np.concatenate([
            envelope - envelope.mean(),
            kept.std(axis=0),
            cepstra[active, 1:].mean(axis=0),
            speed.std(axis=0),
        ])

    def encode_audio(self, paths: Sequence[Any]) -> np.ndarray:
        """Encode audio files into float32 ``(n, dim)`` L2-normalised rows (all zeros for digital silence).

        Raises:
            InvalidInputError: a bare path instead of a list, or a file that is missing,
                undecodable, empty, shorter than a sixteenth of ``n_fft`` samples, longer than
                ``max_seconds``, holds NaN samples, or whose channels cancel out in the mono mix (named
                by position).
        """
        files = check_audio_paths(paths)
        out = np.zeros((len(files), self.dim), dtype=np.float32)
        for i, path in enumerate(files):
            wave = load_audio(path, self.sample_rate, max_seconds=self.max_seconds, label=f"audio {i}")
            shortest = max(1, self.n_fft // _SHORTEST_PART)
            if wave.size < shortest:
                # one sample (0.06 ms) made a unit vector that counted like a whole preview: its frames were the
                # zero padding around an impulse. A 10 ms blip still encodes (a click is a sound); below a
                # sixteenth of the window there are too few samples to tell one sound from another
                raise InvalidInputError(
                    f"audio {i}: {os.path.basename(str(path))!r} is {1000 * wave.size / self.sample_rate:.2f} ms long, "
                    f"too short to encode: the shortest is {shortest} samples ({1000 * shortest / self.sample_rate:.0f} ms "
                    f"at {self.sample_rate} Hz, a sixteenth of the n_fft={self.n_fft} window)"
                )
            vector = self.features(wave)
            norm = float(np.linalg.norm(vector))
            # digital silence: every block is exactly 0 up to rounding; keep such rows zero
            if norm > 1e-9:
                out[i] = vector / norm
        return out

    def __repr__(self) -> str:
        return f"MelStatsEncoder(dim={self.dim}, {', '.join(f'{k}={v!r}' for k, v in self._options().items())})"
