"""``image-stats``: a weights-free image encoder (colour, layout and edge statistics).

No pretrained image model can be downloaded where coldkit often runs (offline CI, air-gapped
servers), and CLIP weights are large. ``image-stats`` needs nothing but Pillow and numpy and still
captures what a poster or cover says at a glance: its palette, where its colours sit, and how busy
or smooth it is. It is a baseline, not a semantic model: two horror posters are close when they
are both dark and red, not because the encoder knows what horror is. With real weights, use the
``clip`` plugin instead (``image_encoder="clip:model=/models/clip-vit-base-patch32"``).

The vector of one image (resized to 64 x 64 RGB) concatenates three unit-normalised groups:

* a joint HSV colour histogram (12 hue x 3 saturation x 3 value bins), square-rooted (Hellinger
  mapping, so cosine compares distributions fairly);
* the colour layout: mean RGB of a 4 x 4 grid, centred on mid-grey;
* edge orientation: gradient magnitude per 8 orientations in each quadrant (a tiny HOG).

Example::

    encoder = coldkit.get_encoder("image-stats")
    vectors = encoder.encode_images(["poster-1.jpg", "poster-2.jpg"])   # (2, 188) float32, unit rows
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from coldkit.encoding import MAX_IMAGE_PIXELS, load_image, normalize_rows
from coldkit.exceptions import InvalidInputError

__all__ = ["ImageStatsEncoder"]

_SIDE = 64
_HUE, _SAT, _VAL = 12, 3, 3
_GRID = 4
_ORIENT = 8
_GROUP_WEIGHTS = (0.5, 0.3, 0.2)  # colour distribution, layout, edges (squared shares of the cosine)


class ImageStatsEncoder:
    """Colour histogram + colour layout + edge orientations of an image; no weights (see the module docstring).

    Args:
        max_pixels: images larger than this (width x height) are refused before decoding.
    """

    name = "image-stats"
    modalities = frozenset({"image"})
    dim = _HUE * _SAT * _VAL + 3 * _GRID * _GRID + 4 * _ORIENT

    def __init__(self, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise InvalidInputError(f"image-stats: max_pixels must be a positive int, got {max_pixels!r}")
        self.max_pixels = max_pixels

    @property
    def fingerprint(self) -> str:
        # v2: transparency is composited onto white (v1 dropped the alpha channel: transparent pixels read as black)
        return f"image-stats:v2:side={_SIDE}:hsv={_HUE}x{_SAT}x{_VAL}:grid={_GRID}:orient={_ORIENT}"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise InvalidInputError(
            "image-stats encodes images only; encode text with a text encoder (hashing, bert...) and combine "
            "them with the multimodal encoder"
        )

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """float32 ``(len(images), dim)`` unit rows; ``images`` are file paths or PIL images.

        Raises:
            InvalidInputError: an image is missing, unreadable, too large or not a picture (named by position).
        """
        if isinstance(images, (str, bytes)):
            raise InvalidInputError("encode_images takes a list of images, not a single path; wrap it in a list")
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for i, image in enumerate(images):
            picture = load_image(image, f"image {i}", max_pixels=self.max_pixels)
            out[i] = _features(np.asarray(picture.resize((_SIDE, _SIDE)), dtype=np.float32) / 255.0)
        return normalize_rows(out)

    def __repr__(self) -> str:
        return f"ImageStatsEncoder(dim={self.dim})"


def _features(rgb: np.ndarray) -> np.ndarray:
    """The three weighted unit groups of one ``(side, side, 3)`` image in [0, 1]."""
    groups = [_hsv_histogram(rgb), _layout(rgb), _edges(rgb)]
    parts = []
    for weight, group in zip(_GROUP_WEIGHTS, groups):
        norm = float(np.linalg.norm(group))
        parts.append(np.sqrt(weight) * (group / norm if norm > 0 else group))
    return np.concatenate(parts)


def _hsv_histogram(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    spread = top - bottom
    safe = np.where(spread > 0, spread, 1.0)
    hue = np.where(top == r, ((g - b) / safe) % 6.0, np.where(top == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(spread > 0, hue / 6.0, 0.0)
    sat = np.where(top > 0, spread / np.where(top > 0, top, 1.0), 0.0)
    h = np.minimum((hue * _HUE).astype(np.int64), _HUE - 1)
    s = np.minimum((sat * _SAT).astype(np.int64), _SAT - 1)
    v = np.minimum((top * _VAL).astype(np.int64), _VAL - 1)
    counts = np.bincount(((h * _SAT + s) * _VAL + v).ravel(), minlength=_HUE * _SAT * _VAL).astype(np.float64)
    return np.sqrt(counts / counts.sum())


def _layout(rgb: np.ndarray) -> np.ndarray:
    cell = _SIDE // _GRID
    means = rgb.reshape(_GRID, cell, _GRID, cell, 3).mean(axis=(1, 3))
    return (means - 0.5).ravel()


def _edges(rgb: np.ndarray) -> np.ndarray:
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    dy, dx = np.gradient(grey)
    magnitude = np.hypot(dx, dy)
    # orientation modulo pi: an edge and its reverse are the same edge
    bins = np.minimum(((np.arctan2(dy, dx) % np.pi) / np.pi * _ORIENT).astype(np.int64), _ORIENT - 1)
    half = _SIDE // 2
    out = []
    for rows in (slice(0, half), slice(half, _SIDE)):
        for cols in (slice(0, half), slice(half, _SIDE)):
            out.append(np.bincount(bins[rows, cols].ravel(), weights=magnitude[rows, cols].ravel(), minlength=_ORIENT))
    return np.concatenate(out)
