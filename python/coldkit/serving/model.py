"""What a serving index serves besides its rows: the encoder, the whitening, the content→CF map and the blend's settings.

Readers use it to put a request's text into the content space; the writer uses it to encode and map
new items. The blend itself (weights, history vectors, fusion) is :mod:`coldkit.models.blend`'s:
:class:`FusionConfig` only records which settings the served hybrid was built with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from coldkit.encoding import check_texts, encode_queries, load_image, normalize_rows
from coldkit.exceptions import InvalidInputError
from coldkit.models.blend import DEFAULT_DEPTH, DEFAULT_USER_TRUST, DEFAULT_WEIGHTS, check_weights
from coldkit.models.tuning import LearnedWeights
from coldkit.models.whitening import Whitening
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Encoder, FusionStrategy

__all__ = ["SERVED_SOURCES", "FusionConfig", "ServedModel"]

#: The hybrid's sources a serving index answers with (the item-kNN adapter and the profile kNN
#: need the whole training matrix, which the index does not keep).
SERVED_SOURCES = ("cf", "content", "text", "popularity")


def _default_weights() -> dict[str, float]:
    return {name: DEFAULT_WEIGHTS[name] for name in SERVED_SOURCES}


@dataclass(frozen=True)
class FusionConfig:
    """The blend settings of the served hybrid (see :func:`coldkit.models.blend.source_weights`).

    ``weights`` (keys :data:`SERVED_SOURCES`), ``user_trust`` and ``depth`` default to the Hybrid's
    (:data:`coldkit.models.blend.DEFAULT_WEIGHTS`...); ``strategy`` + ``options`` name the fusion
    plugin; ``text_weight`` is the content model's weight of a user's text against their history;
    ``learned`` holds the per-regime weights the hybrid learned on its validation split (None: the
    adaptive defaults speak for every query).
    """

    strategy: str = "weighted"
    options: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=_default_weights)
    user_trust: float = DEFAULT_USER_TRUST
    depth: int = DEFAULT_DEPTH
    text_weight: float = 1.0
    learned: LearnedWeights | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "learned": self.learned.to_json() if self.learned is not None else None,
            "strategy": self.strategy,
            "options": dict(self.options),
            "weights": dict(self.weights),
            "user_trust": self.user_trust,
            "depth": self.depth,
            "text_weight": self.text_weight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FusionConfig":
        config = cls(
            strategy=str(data["strategy"]),
            options=dict(data.get("options") or {}),
            weights={str(k): float(v) for k, v in dict(data["weights"]).items()},
            user_trust=float(data["user_trust"]),
            depth=int(data["depth"]),
            text_weight=float(data.get("text_weight", 1.0)),
            learned=LearnedWeights.from_json(data["learned"]) if data.get("learned") else None,
        )
        config.validate()
        return config

    def validate(self) -> None:
        check_weights(self.weights, SERVED_SOURCES, "fusion")
        for regime, weights in (self.learned.regimes.items() if self.learned is not None else ()):
            check_weights(weights, SERVED_SOURCES, f"learned {regime!r}")
        if not np.isfinite(self.user_trust) or self.user_trust < 0:
            raise InvalidInputError(f"user_trust must be >= 0, got {self.user_trust}")
        if self.depth < 1:
            raise InvalidInputError(f"depth must be >= 1, got {self.depth}")
        if not np.isfinite(self.text_weight) or self.text_weight < 0:
            raise InvalidInputError(f"text_weight must be >= 0, got {self.text_weight}")
        get_fusion(self.strategy, **dict(self.options))  # unknown name/options fail here

    def strategy_instance(self) -> FusionStrategy:
        """The fusion plugin these settings name."""
        return get_fusion(self.strategy, **dict(self.options))


class ServedModel:
    """The fitted parts of the served hybrid that turn text into vectors: encoder, whitening, content→CF map."""

    def __init__(
        self,
        *,
        encoder: Encoder,
        encoder_name: str,
        encoder_options: Mapping[str, Any],
        whitener: Whitening,
        map_weights: np.ndarray,
        map_intercept: np.ndarray,
        fusion: FusionConfig,
    ) -> None:
        fusion.validate()
        self.encoder = encoder
        self.encoder_name = encoder_name
        self.encoder_options = dict(encoder_options)
        self.whitener = whitener
        self.map_weights = np.asarray(map_weights, dtype=np.float64)
        self.map_intercept = np.asarray(map_intercept, dtype=np.float64)
        self.fusion = fusion
        self.fusion_strategy = fusion.strategy_instance()
        self._encode_lock = threading.Lock()  # encoders are not promised to be thread-safe

    def encode_user_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts in the item content space (encoder, whitening as a query, L2 norm).

        A query, not an item: a text with nothing in the dimensions the fitted catalogue uses is not
        centred (see :meth:`Whitening.transform`), so it scores 0 against the fitted items while an
        item added since with its words is found; items (:meth:`encode_items`) are centred as always.
        """
        texts, _ = check_texts(texts)
        with self._encode_lock:
            raw = np.asarray(encode_queries(self.encoder, texts), dtype=np.float32)
        return self.whitener.transform(raw, normalize=True, query=True)

    def encode_items(
        self, texts: list[str], images: list[str | None], labels: list[str], audio: list[str | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(content, mapped CF) vectors of new item contents."""
        texts, _ = check_texts(texts, labels)
        by_contents = getattr(self.encoder, "encode_contents", None)
        if callable(by_contents):  # multimodal: each medium by its own encoder, fused with the fitted weights
            with self._encode_lock:
                raw = np.asarray(by_contents(texts, images, audio, labels), dtype=np.float32)
            content = self.whitener.transform(raw, normalize=True)
            return content, self.map_to_cf(content)
        if audio is not None and any(audio):
            first = next(i for i, a in enumerate(audio) if a)
            raise InvalidInputError(
                f"item {labels[first]!r} has audio but encoder {self.encoder_name!r} encodes no audio; "
                "build the index with --audio-column"
            )
        with self._encode_lock:
            raw = np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
            wanted = [i for i, image in enumerate(images) if image]
            if wanted:
                if "image" not in getattr(self.encoder, "modalities", frozenset()):
                    raise InvalidInputError(
                        f"item {labels[wanted[0]]!r} has an image but encoder {self.encoder_name!r} encodes text only; "
                        "build the index with an image encoder (e.g. 'clip') or drop the image"
                    )
                pictures = [load_image(str(images[i]), f"item {labels[i]!r}") for i in wanted]
                pics = normalize_rows(self.encoder.encode_images(pictures))  # type: ignore[attr-defined]
                # same space (CLIP): the mean of text and image, as encode_catalog(combine="mean")
                raw[wanted] = normalize_rows(0.5 * raw[wanted] + 0.5 * pics)
        if raw.shape != (len(texts), self.whitener.mean_.size if self.whitener.mean_ is not None else raw.shape[1]):
            raise InvalidInputError(f"encoder returned shape {raw.shape} for {len(texts)} texts")
        content = self.whitener.transform(raw, normalize=True)
        return content, self.map_to_cf(content)

    def map_to_cf(self, content: np.ndarray) -> np.ndarray:
        """CF vectors of content vectors (the ridge adapter: what a cold item's clicks fold in)."""
        return (np.asarray(content, dtype=np.float64) @ self.map_weights + self.map_intercept).astype(np.float32)
