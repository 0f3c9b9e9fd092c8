"""Encoder template: character n-grams hashed into a fixed number of buckets.

Dependency-free and deterministic, and it tolerates typos and word forms that a word-level encoder
misses ("basketball" and "basket-ball" share most trigrams). Copy this file to wrap your own model:
keep the contract (see ``coldkit.encoding``), swap the body of ``encode_texts``.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Sequence

import numpy as np

import coldkit
from coldkit.encoding import check_texts
from coldkit.text import normalize


class CharNgramEncoder:
    """Character ``n``-grams of the lower-cased (:func:`coldkit.text.normalize`: NFC too), space-padded
    text, hashed into ``dim`` buckets.

    Each bucket holds ``1 + log(count)`` (sublinear term frequency); rows are L2-normalised, and an
    empty text gives a zero row, as the encoder contract requires.

    Args:
        dim: number of hash buckets (the vector length), >= 8.
        n: n-gram length, 2..6.
    """

    name = "char-ngram"
    modalities = frozenset({"text"})

    def __init__(self, dim: int = 512, n: int = 3) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise coldkit.InvalidInputError(f"char-ngram: dim must be an integer >= 8, got {dim!r}")
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 6:
            raise coldkit.InvalidInputError(f"char-ngram: n must be an integer in [2, 6], got {n!r}")
        self.dim, self.n = dim, n

    @property
    def fingerprint(self) -> str:
        """Everything that changes the vectors: the algorithm version and the options."""
        # v2: the text is read through coldkit.text.normalize (NFC; v1 gave the two Unicode forms of
        # "Amélie" other vectors); ASCII text has the same vectors as in v1
        return hashlib.sha256(f"char-ngram/v2/dim={self.dim}/n={self.n}".encode()).hexdigest()[:32]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        docs, empty = check_texts(texts)  # InvalidInputError for None, non-strings, a bare string
        out = np.zeros((len(docs), self.dim), dtype=np.float32)
        for row, text in enumerate(docs):
            if empty[row]:
                continue
            # coldkit.text.normalize, as coldkit's own lexical features read text: NFC and lower case, so
            # both Unicode forms of "Amélie" (and "SİNAN" / "sinan") are one text. Not coldkit.text.words:
            # n-grams of characters want the text's characters (its punctuation, "basket-ball"), and words
            # reads Chinese as bigrams, whose characters joined again would be n-grams of nothing written
            padded = f" {' '.join(normalize(text).split())} ".ljust(self.n)  # a 1-letter text still has one n-gram
            grams = [padded[i : i + self.n] for i in range(len(padded) - self.n + 1)]
            buckets = np.fromiter((zlib.crc32(g.encode("utf-8")) % self.dim for g in grams), dtype=np.int64, count=len(grams))
            counts = np.bincount(buckets, minlength=self.dim).astype(np.float32)
            nonzero = counts > 0
            out[row, nonzero] = 1.0 + np.log(counts[nonzero])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
