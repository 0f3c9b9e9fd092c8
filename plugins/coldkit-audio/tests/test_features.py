"""The log-mel / MFCC pipeline against independent references: a direct DFT, filters built another
way, an explicit DCT matrix, and the closed-form power of a Hann-windowed pure tone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit_audio.decode import resample
from coldkit_audio.features import LOG_FLOOR, delta, log_mel_spectrogram, mel_filterbank, mfcc, power_spectrogram


def _mel_natural_log(hz: np.ndarray) -> np.ndarray:
    # the HTK mel scale written with the natural log: 2595 log10(1 + f/700) == (2595 / ln 10) ln(1 + f/700)
    return 2595.0 / np.log(10.0) * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


@pytest.mark.parametrize(("rate", "n_fft", "n_mels", "fmin", "fmax"), [(16000, 1024, 64, 0.0, None), (22050, 512, 40, 50.0, 9000.0)])
def test_filterbank_matches_triangles_interpolated_on_the_mel_axis(rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> None:
    top = rate / 2 if fmax is None else fmax
    centres_mel = np.linspace(_mel_natural_log(fmin), _mel_natural_log(top), n_mels + 2)
    centres_hz = 700.0 * np.expm1(centres_mel * np.log(10.0) / 2595.0)
    bins_hz = np.arange(n_fft // 2 + 1) * rate / n_fft
    expected = np.stack([
        np.interp(bins_hz, centres_hz[m : m + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0) for m in range(n_mels)
    ])
    np.testing.assert_allclose(mel_filterbank(rate, n_fft, n_mels, fmin, fmax), expected, atol=1e-9)


def test_filters_partition_unity_between_the_first_and_last_centre() -> None:
    filters = mel_filterbank(16000, 1024, 64)
    bins_hz = np.arange(513) * 16000 / 1024
    centres = bins_hz[filters.argmax(axis=1)]
    inside = (bins_hz >= centres[0] + 16) & (bins_hz <= centres[-1] - 16)
    np.testing.assert_allclose(filters.sum(axis=0)[inside], 1.0, atol=1e-9)


def test_power_spectrogram_matches_a_direct_dft() -> None:
    from scipy.signal import get_window

    rng = np.random.default_rng(0)
    wave = rng.standard_normal(3001)
    n_fft, hop = 256, 100
    padded = np.concatenate([np.zeros(n_fft // 2), wave, np.zeros(n_fft // 2)])
    window = get_window("hann", n_fft)  # periodic Hann, built independently
    k = np.arange(n_fft // 2 + 1)[:, None]
    dft = np.exp(-2j * np.pi * k * np.arange(n_fft)[None, :] / n_fft)
    starts = range(0, padded.size - n_fft + 1, hop)
    expected = np.stack([np.abs(dft @ (padded[s : s + n_fft] * window)) ** 2 for s in starts])
    got = power_spectrogram(wave, n_fft, hop)
    assert got.shape == expected.shape == (1 + wave.size // hop, n_fft // 2 + 1)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("bin_index", "amplitude"), [(20, 0.5), (57, 0.9), (150, 0.01)])
def test_log_mel_of_a_pure_tone_matches_its_closed_form_power(bin_index: int, amplitude: float) -> None:
    """A Hann-windowed sine centred on FFT bin k puts (A N / 4)^2 in bin k and (A N / 8)^2 in bins
    k +- 1, and nothing elsewhere: 3 A^2 N^2 / 32 in all. The mel filters sum to 1 there, so the
    mel energies of an inner frame add up to exactly that, and each band holds its filter's
    weights times those three bins."""
    rate, n_fft, hop, n_mels = 16000, 1024, 256, 64
    frequency = bin_index * rate / n_fft
    wave = amplitude * np.cos(2 * np.pi * frequency * np.arange(rate) / rate + 0.7)
    log_mel = log_mel_spectrogram(wave, rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    inner = log_mel[4:-4]  # frames that lie wholly inside the signal
    total = np.exp(inner).sum(axis=1) - n_mels * LOG_FLOOR
    np.testing.assert_allclose(total, 3 * amplitude**2 * n_fft**2 / 32, rtol=1e-6)
    spectrum = np.zeros(n_fft // 2 + 1)
    spectrum[bin_index - 1 : bin_index + 2] = np.array([1 / 64, 1 / 16, 1 / 64]) * amplitude**2 * n_fft**2
    expected = mel_filterbank(rate, n_fft, n_mels) @ spectrum
    np.testing.assert_allclose(np.exp(inner) - LOG_FLOOR, np.tile(expected, (len(inner), 1)), rtol=1e-6, atol=1e-6)


def test_digital_silence_sits_at_the_log_floor() -> None:
    np.testing.assert_allclose(log_mel_spectrogram(np.zeros(4000), 16000), np.log(LOG_FLOOR))


def test_mfcc_matches_an_explicit_orthonormal_dct_matrix() -> None:
    rng = np.random.default_rng(1)
    log_mel = rng.standard_normal((7, 40))
    m = np.arange(40)
    basis = np.stack([np.cos(np.pi * k * (2 * m + 1) / 80) for k in range(13)]) * np.sqrt(2 / 40)
    basis[0] /= np.sqrt(2)
    np.testing.assert_allclose(mfcc(log_mel, 13), log_mel @ basis.T, atol=1e-12)


def test_delta_of_a_ramp_is_its_slope() -> None:
    frames = np.arange(20, dtype=float)[:, None] * np.array([[0.5, -2.0, 0.0]])
    np.testing.assert_allclose(delta(frames)[2:-2], np.tile([0.5, -2.0, 0.0], (16, 1)), atol=1e-12)


def test_resampling_keeps_a_tone_on_its_analytic_curve() -> None:
    source, target, f = 22050, 16000, 1000.0
    wave = 0.5 * np.sin(2 * np.pi * f * np.arange(source) / source)
    got = resample(wave, source, target)
    expected = 0.5 * np.sin(2 * np.pi * f * np.arange(target) / target)
    assert got.dtype == np.float32 and got.size == target
    assert np.abs(got - expected)[500:-500].max() < 2e-3  # away from the edges the filter sees zeros at


@settings(max_examples=25, deadline=None)
@given(gain=st.floats(1e-3, 1.0), frequency=st.floats(100.0, 6000.0))
def test_the_audio_vector_ignores_the_recording_gain(gain: float, frequency: float) -> None:
    from coldkit_audio.encoder import MelStatsEncoder

    encoder = MelStatsEncoder()
    wave = 0.9 * np.sin(2 * np.pi * frequency * np.arange(8000) / 16000)
    reference, scaled = encoder.features(wave), encoder.features(gain * wave)
    cosine = reference @ scaled / np.linalg.norm(reference) / np.linalg.norm(scaled)
    assert cosine > 0.9999
