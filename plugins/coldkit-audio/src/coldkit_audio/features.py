"""Log-mel spectrogram and MFCC in plain numpy/scipy (no weights, no torch).

Conventions, chosen to be the textbook ones so each step can be checked by hand:

* frames: ``n_fft`` samples every ``hop_length``, centred (the signal is zero-padded by
  ``n_fft // 2`` on both sides), periodic Hann window;
* power spectrum: ``|rfft(frame * window)|**2``, unnormalised;
* mel scale: HTK, ``mel = 2595 * log10(1 + hz / 700)``; ``n_mels`` triangular filters with peak 1,
  centres equally spaced in mel between ``fmin`` and ``fmax``. Adjacent triangles sum to 1 between
  the first and the last centre, so the mel energies of a tone in that range add up to its power;
* log-mel: natural log of the mel energies plus a tiny floor;
* MFCC: orthonormal DCT-II of each log-mel frame, first ``n_mfcc`` coefficients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hz_to_mel", "mel_to_hz", "mel_filterbank", "power_spectrogram", "log_mel_spectrogram", "mfcc", "delta"]

# Added to mel energies before the log, so digital silence gives a finite (very low) value.
LOG_FLOOR = 1e-10
# Frames of the STFT computed at once: bounds the complex spectrum held in memory (~8 MB at n_fft=512).
_FRAME_CHUNK = 4096


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters (peak 1) over the rfft bins."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def _window(n_fft: int) -> np.ndarray:
    # periodic Hann (the STFT convention): w[n] = 0.5 - 0.5 cos(2 pi n / N)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def power_spectrogram(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``(frames, n_fft // 2 + 1)`` float64 power of the centred, Hann-windowed STFT.

    A signal shorter than one frame still gives one frame (zero-padded).
    """
    x = np.asarray(wave, dtype=np.float64)
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = _window(n_fft)
    out = np.empty((frames.shape[0], n_fft // 2 + 1), dtype=np.float64)
    for start in range(0, frames.shape[0], _FRAME_CHUNK):
        spectrum = np.fft.rfft(frames[start : start + _FRAME_CHUNK] * window, axis=1)
        out[start : start + _FRAME_CHUNK] = spectrum.real**2 + spectrum.imag**2
    return out


def log_mel_spectrogram(
    wave: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 512,
    hop_length: int = 160,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """``(frames, n_mels)`` natural-log mel energies of ``wave`` (mono, at ``sample_rate``)."""
    filters = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    mel = power_spectrogram(wave, n_fft, hop_length) @ filters.T
    return np.log(mel + LOG_FLOOR)


def mfcc(log_mel: np.ndarray, n_mfcc: int) -> np.ndarray:
    """``(frames, n_mfcc)`` cepstral coefficients: orthonormal DCT-II over the mel axis."""
    from scipy.fft import dct

    return dct(np.asarray(log_mel, dtype=np.float64), type=2, norm="ortho", axis=-1)[..., :n_mfcc]


def delta(features: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression slope over ``2 * width + 1`` frames (the HTK delta), edges repeated."""
    x = np.asarray(features, dtype=np.float64)
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = x.shape[0]
    out = np.zeros_like(x)
    for k in range(1, width + 1):
        out += k * (padded[width + k : width + k + n] - padded[width - k : width - k + n])
    return out / (2.0 * sum(k * k for k in range(1, width + 1)))
