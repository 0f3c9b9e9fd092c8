"""The built-in encoders: hashed TF-IDF text (dependency-free) and ``precomputed`` item vectors.

It lets coldkit work (and be tested) without torch, and it is the classic lexical baseline
that language-model encoders have to beat. Tokens (lower-cased words, optionally word
bigrams) are hashed into ``dim`` buckets with a sign bit (the "hashing trick" of Weinberger
et al., 2009, which keeps collisions unbiased), weighted by sublinear term frequency and, once
:meth:`HashingEncoder.fit` has seen a corpus, by inverse document frequency; rows are
L2-normalised.

Empty or whitespace-only text encodes to the zero vector (cosine 0 with everything), so an
item without text never looks similar to anything by accident.

:class:`PrecomputedEncoder` holds vectors a user made elsewhere (their own LLM or CLIP service),
looked up by item id through the optional ``encode_items(item_ids, texts)`` method that the
content model prefers over ``encode_texts`` when an encoder has it.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import Encoder, EncoderSpec
from coldkit.text import words as _words
from coldkit.validation import check_flag

if TYPE_CHECKING:
    from coldkit.data.vectors import ItemVectors

__all__ = ["HashingEncoder", "PrecomputedEncoder", "tokenize"]



def _strip_plural(word: str) -> str:
    # A deliberately tiny English normaliser ("movies" -> "movie", not "glass" -> "glas"): enough
    # for a lexical baseline to match plural and singular, without a stemming dependency.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str, ngrams: int = 1, stem: bool = True) -> list[str]:
    """Lower-cased word tokens of ``text`` (plural ``s`` stripped when ``stem``) plus word n-grams up to ``ngrams``.

    Words are :func:`coldkit.text.words`: NFC-normalised, with their combining marks (Hindi "संगीत" is one
    word, not three fragments that unrelated words share), Chinese, Japanese and Korean as overlapping
    character bigrams ("科幻电影" -> "科幻", "幻电", "电影")."""
    words = _words(text)
    if stem:
        words = [_strip_plural(w) for w in words]
    tokens = list(words)
    for n in range(2, ngrams + 1):
        tokens.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return tokens


def _check_texts(texts: Iterable[str], what: str = "encode_texts") -> list[str]:
    if isinstance(texts, str):
        raise InvalidInputError(f"{what} expects a sequence of strings, got a single str (wrap it in a list)")
    if not isinstance(texts, Iterable):  # None was "TypeError: 'NoneType' object is not iterable"
        raise InvalidInputError(f"{what} expects a sequence of strings, got {type(texts).__name__}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"text #{i} is {type(text).__name__} ({text!r}), expected str")
    return out


#: The largest ``dim`` of :class:`HashingEncoder`: its vectors are dense, 4 MiB per item at this size.
MAX_HASHING_DIM = 2**20


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
        if dim > MAX_HASHING_DIM:
            # the vectors are dense float32 (dim * 4 bytes per item): dim=10**12 died in a 3.6 TiB
            # MemoryError at the first text; and crc32 has 2**32 values, so more buckets stay empty
            raise InvalidInputError(
                f"hashing encoder dim must be at most {MAX_HASHING_DIM:,} (its vectors are dense: 4 bytes x dim per item), got {dim:,}"
            )
        if ngrams not in (1, 2, 3):
            raise InvalidInputError(f"hashing encoder ngrams must be 1, 2 or 3, got {ngrams!r}")
        self.dim = dim
        self.ngrams = ngrams
        # bool("no") is True: stem="no" (e.g. from a config or a spec "hashing:stem=no") stemmed anyway
        self.sublinear_tf = check_flag(sublinear_tf, "hashing encoder sublinear_tf")
        self.stem = check_flag(stem, "hashing encoder stem")
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
        # not list(texts) first: a bare string became its characters, and the IDF was learnt from letters
        docs = _check_texts(texts, "fit")
        df = np.zeros(self.dim, dtype=np.float64)
        for text in docs:
            buckets = {self._bucket(token)[0] for token in set(tokenize(text, self.ngrams, self.stem))}
            if buckets:
                df[list(buckets)] += 1.0
        self.idf = (np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors would: options, the learned IDF and the tokenizer's version."""
        # v2: coldkit.text.words keeps combining marks in words; a v1 cache holds fragment vectors for
        # such texts (keyed by the text alone), so it must not be read (text without marks encodes alike).
        # v3: Chinese, Japanese and Korean runs are read as character bigrams (a v2 vector of such a
        # text hashed the whole run as one word)
        return self._fingerprint_of("v3")

    @property
    def fingerprint_v1(self) -> str:
        """The fingerprint the same options and IDF had before combining marks stayed in words: an index
        built then holds the same vectors wherever its texts tokenise alike (:func:`coldkit.text.split_apart_before`)."""
        return self._fingerprint_of("v1")

    @property
    def fingerprint_v2(self) -> str:
        """The fingerprint the same options and IDF had before CJK runs were read as character bigrams: an
        index built then holds the same vectors wherever its texts tokenise alike (every text without
        Chinese, Japanese or Korean letters; :func:`coldkit.text.split_apart_before` with ``"v2"``)."""
        return self._fingerprint_of("v2")

    def _fingerprint_of(self, version: str) -> str:
        h = hashlib.sha256(f"hashing-tfidf/{version}/dim={self.dim}/ngrams={self.ngrams}/sub={self.sublinear_tf}/stem={self.stem}".encode())
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


class PrecomputedEncoder:
    """Item vectors made elsewhere (your own LLM or CLIP service), looked up by item id.

    Give exactly one source: ``path`` (a ``.npy`` with its ``.ids.txt``, a ``.npz`` or a
    ``.parquet``; see :mod:`coldkit.data.vectors`), ``ids`` + ``vectors`` arrays, or a loaded
    :class:`~coldkit.data.vectors.ItemVectors`. Rows are validated (the first bad row is named)
    and L2-normalised on load; no vector cache is involved.

    Models get item vectors through :meth:`encode_items` (by id). Text has no vector here: a
    new user's words or profile text need ``text_encoder``, the encoder that made the vectors
    (same space and dimension); without one, :meth:`encode_texts` raises a clear error.

    Args:
        path: vector file; ``id_column``/``vector_column`` name the Parquet columns.
        ids, vectors: in-memory ids (``n``) and ``(n, d)`` numbers.
        item_vectors: an already loaded :class:`~coldkit.data.vectors.ItemVectors`.
        missing: a catalogue item without a vector is an ``"error"`` (default) or gets a
            ``"zero"`` row (no content, similar to nothing).
        text_encoder: registered name or instance that embeds texts into the same space.

    Example::

        encoder = coldkit.get_encoder("precomputed", path="embeddings.parquet")
        model = coldkit.models.create("content", encoder=encoder).fit(train)
    """

    #: :func:`coldkit.models.content.encode_items` need not join the item texts for it (ids only).
    reads_item_texts = False

    name = "precomputed"
    modalities = frozenset({"text"})

    def __init__(
        self,
        path: "str | os.PathLike[str] | None" = None,
        *,
        ids: Sequence[Any] | np.ndarray | None = None,
        vectors: Any = None,
        item_vectors: "ItemVectors | None" = None,
        id_column: str = "item_id",
        vector_column: str = "vector",
        missing: str = "error",
        text_encoder: "str | Encoder | None" = None,
    ) -> None:
        from coldkit.data.vectors import MISSING_POLICIES, item_vectors_from_arrays, load_item_vectors

        given = [path is not None, ids is not None or vectors is not None, item_vectors is not None]
        if sum(given) != 1:
            raise InvalidInputError(
                "precomputed encoder: give exactly one of path=, ids= + vectors=, or item_vectors="
            )
        if missing not in MISSING_POLICIES:
            raise InvalidInputError(f"precomputed encoder: unknown missing={missing!r}; choose one of {MISSING_POLICIES}")
        if item_vectors is not None:
            self.item_vectors = item_vectors
        elif path is not None:
            self.item_vectors = load_item_vectors(path, id_column=id_column, vector_column=vector_column)
        else:
            if ids is None or vectors is None:
                raise InvalidInputError("precomputed encoder: ids= and vectors= go together")
            self.item_vectors = item_vectors_from_arrays(ids, vectors, source="precomputed vectors")
        self.dim = self.item_vectors.dim
        self.missing = missing
        self.text_encoder: Encoder | None = None
        if text_encoder is not None:
            if isinstance(text_encoder, str):
                from coldkit.plugins.manager import get_encoder

                text_encoder = get_encoder(text_encoder)
            if int(text_encoder.dim) != self.dim:
                raise InvalidInputError(
                    f"precomputed encoder: text_encoder {text_encoder.name!r} makes {text_encoder.dim}-d vectors but "
                    f"the item vectors in {self.item_vectors.source} are {self.dim}-d; use the encoder that made them"
                )
            self.text_encoder = text_encoder

    @property
    def fingerprint(self) -> str:
        """Hash of the ids and the (normalised) vectors, plus the text encoder's fingerprint."""
        cached = getattr(self, "_fingerprint", None)
        if cached is None:
            digest = hashlib.blake2b(digest_size=16)
            digest.update("\0".join(self.item_vectors.ids.tolist()).encode("utf-8", "surrogatepass"))
            digest.update(self.item_vectors.vectors.data)  # C-contiguous: hashed in place, no copy
            text = self.text_encoder.fingerprint if self.text_encoder is not None else "-"
            cached = f"precomputed:{digest.hexdigest()}:missing={self.missing}:text={text}"
            self._fingerprint = cached
        return cached

    def encode_items(self, item_ids: Sequence[Any], texts: Sequence[str] | None = None) -> np.ndarray:
        """float32 ``(len(item_ids), dim)``: the vector of each item id (``texts`` are not used).

        Raises:
            InvalidInputError: an id has no vector and ``missing="error"`` (names the first).
        """
        return self.item_vectors.for_items(item_ids, missing=self.missing)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with ``text_encoder``; without one there is no text model, so this raises."""
        if self.text_encoder is None:
            raise InvalidInputError(
                f"the precomputed encoder ({self.item_vectors.source}) has vectors per item id but no model for text "
                "(a new user's words or profile text); pass text_encoder=<the encoder that made the vectors> "
                "(--encoder NAME with --item-vectors), or recommend for such users from their clicks"
            )
        return self.text_encoder.encode_texts(texts)

    def __repr__(self) -> str:
        text = f", text_encoder={self.text_encoder.name!r}" if self.text_encoder is not None else ""
        return f"PrecomputedEncoder({self.item_vectors.source!r}, n={len(self.item_vectors)}, dim={self.dim}{text})"


@hookimpl
def coldkit_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            name="hashing",
            description="Hashed TF-IDF over words (and optional bigrams); dependency-free lexical baseline",
            factory=HashingEncoder,
            capabilities={"text"},
        ),
        EncoderSpec(
            name="precomputed",
            description="Your own item vectors (.npy + ids, .npz or Parquet), looked up by item id",
            factory=PrecomputedEncoder,
            capabilities={"item-ids"},
        ),
        EncoderSpec(
            name="image-stats",
            description="Weights-free image vectors: colour histogram, colour layout and edge orientations (Pillow)",
            factory=_image_stats,
            capabilities={"image"},
        ),
        EncoderSpec(
            name="multimodal",
            description="Text + image + audio columns, each with its own encoder, centred per block, fused with validated weights",
            factory=_multimodal,
            capabilities={"text", "image", "audio"},
        ),
    ]


def _image_stats(**options: Any) -> Any:
    from coldkit.builtins.image_encoders import ImageStatsEncoder  # Pillow only when asked for

    return ImageStatsEncoder(**options)


def _multimodal(**options: Any) -> Any:
    from coldkit.models.modalities import MultimodalEncoder

    return MultimodalEncoder(**options)
