"""The built-in, dependency-free text encoder: hashed TF-IDF.

It lets coldkit work (and be tested) without torch, and it is the classic lexical baseline
that language-model encoders have to beat. Tokens (lower-cased words, optionally word
bigrams) are hashed into ``dim`` buckets with a sign bit (the "hashing trick" of Weinberger
et al., 2009, which keeps collisions unbiased), weighted by sublinear term frequency and, once
:meth:`HashingEncoder.fit` has seen a corpus, by inverse document frequency; rows are
L2-normalised.

Empty or whitespace-only text encodes to the zero vector (cosine 0 with everything), so an
item without text never looks similar to anything by accident.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from typing import Iterable, Sequence

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import EncoderSpec

__all__ = ["HashingEncoder", "tokenize"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _strip_plural(word: str) -> str:
    # A deliberately tiny English normaliser ("movies" -> "movie", not "glass" -> "glas"): enough
    # for a lexical baseline to match plural and singular, without a stemming dependency.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str, ngrams: int = 1, stem: bool = True) -> list[str]:
    """Lower-cased word tokens of ``text`` (plural ``s`` stripped when ``stem``) plus word n-grams up to ``ngrams``."""
    words = _WORD.findall(text.lower())
    if stem:
        words = [_strip_plural(w) for w in words]
    tokens = list(words)
    for n in range(2, ngrams + 1):
        tokens.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return tokens


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InvalidInputError("encode_texts expects a sequence of strings, got a single str (wrap it in a list)")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"text #{i} is {type(text).__name__} ({text!r}), expected str")
    return out


class HashingEncoder:
    """Hashed TF-IDF text encoder (no dependencies, deterministic across processes and machines).

    Args:
        dim: number of hash buckets = vector dimension (>= 2).
        ngrams: 1 for words, 2 adds word bigrams.
        sublinear_tf: weight a term by ``1 + log(tf)`` instead of ``tf``.
        stem: strip English plural ``s`` so "movies" matches "movie".

    Example::

        encoder = coldkit.get_encoder("hashing", dim=1024)
        encoder.fit(catalog_texts)           # optional: learn IDF weights from the corpus
        vectors = encoder.encode_texts(["item1 is a basketball game."])
    """

    name = "hashing"
    modalities = frozenset({"text"})

    def __init__(self, dim: int = 1024, ngrams: int = 1, sublinear_tf: bool = True, stem: bool = True) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2:
            raise InvalidInputError(f"hashing encoder dim must be an integer >= 2, got {dim!r}")
        if ngrams not in (1, 2, 3):
            raise InvalidInputError(f"hashing encoder ngrams must be 1, 2 or 3, got {ngrams!r}")
        self.dim = dim
        self.ngrams = ngrams
        self.sublinear_tf = bool(sublinear_tf)
        self.stem = bool(stem)
        self.idf: np.ndarray | None = None

    def _bucket(self, token: str) -> tuple[int, float]:
        # crc32 is stable across processes (unlike hash()) and fast; the top bit gives the sign.
        h = zlib.crc32(token.encode("utf-8"))
        return h % self.dim, (1.0 if (h >> 31) & 1 else -1.0)

    def _term_weights(self, text: str) -> dict[int, float]:
        counts: dict[str, int] = {}
        for token in tokenize(text, self.ngrams, self.stem):
            counts[token] = counts.get(token, 0) + 1
        row: dict[int, float] = {}
        for token, tf in counts.items():
            bucket, sign = self._bucket(token)
            weight = 1.0 + math.log(tf) if self.sublinear_tf else float(tf)
            row[bucket] = row.get(bucket, 0.0) + sign * weight
        return row

    def fit(self, texts: Iterable[str]) -> "HashingEncoder":
        """Learn smoothed IDF weights ``log((1 + n) / (1 + df)) + 1`` per bucket from ``texts``."""
        docs = _check_texts(list(texts))
        df = np.zeros(self.dim, dtype=np.float64)
        for text in docs:
            buckets = {self._bucket(token)[0] for token in set(tokenize(text, self.ngrams, self.stem))}
            if buckets:
                df[list(buckets)] += 1.0
        self.idf = (np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors would: options and the learned IDF."""
        h = hashlib.sha256(f"hashing-tfidf/v1/dim={self.dim}/ngrams={self.ngrams}/sub={self.sublinear_tf}/stem={self.stem}".encode())
        if self.idf is not None:
            h.update(self.idf.tobytes())
        return h.hexdigest()[:32]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode to float32 (n, dim), rows L2-normalised; empty text gives a zero row."""
        docs = _check_texts(texts)
        out = np.zeros((len(docs), self.dim), dtype=np.float32)
        for i, text in enumerate(docs):
            for bucket, weight in self._term_weights(text).items():
                out[i, bucket] = weight
        if self.idf is not None:
            out *= self.idf
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self.dim}, ngrams={self.ngrams}, fitted={self.idf is not None})"


@hookimpl
def coldkit_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            name="hashing",
            description="Hashed TF-IDF over words (and optional bigrams); dependency-free lexical baseline",
            factory=HashingEncoder,
            capabilities={"text"},
        )
    ]
