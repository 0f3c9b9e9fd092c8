"""Model template: rank items by how well their text matches what the user liked or wrote.

A cold-start recommender in a few lines: items are encoded from their catalogue text by any
registered encoder, so a brand-new item is rankable the moment it has a title; a user is the mean
of the vectors of the items they interacted with plus their own words. Copy this file and change
how ``fit`` builds item vectors and how ``_query_vectors`` builds user vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import coldkit
from coldkit.data import Interactions, UserQuery
from coldkit.models import Recommender, rank_vectors


class TextMatch(Recommender):
    """Cosine of a user vector and item text vectors; popularity ranks users we know nothing about.

    Args:
        encoder: a registered encoder name (``"char-ngram"`` from this plugin, ``"hashing"``,
            ``"bert"``...) or an encoder instance.
        text_weight: weight of the user's own words (``UserQuery.text``) against their items.
    """

    name = "text-match"

    def __init__(self, encoder: Any = "char-ngram", text_weight: float = 1.0) -> None:
        if isinstance(text_weight, bool) or not isinstance(text_weight, (int, float)) or not text_weight >= 0:
            raise coldkit.InvalidInputError(f"text-match: text_weight must be a number >= 0, got {text_weight!r}")
        self.encoder = coldkit.get_encoder(encoder) if isinstance(encoder, str) else encoder
        self.text_weight = float(text_weight)
        self.item_vectors_: np.ndarray | None = None

    def fit(self, train: Interactions) -> "TextMatch":
        train = self._remember(train)
        texts = train.catalog.texts()
        fit = getattr(self.encoder, "fit", None)
        if callable(fit):  # corpus-fitted encoders (TF-IDF) learn their weights from the catalogue
            fit(texts)
        content = self.encoder.encode_texts(texts)
        popularity = train.item_counts().astype(np.float32)
        # The last column is used only by users with no signal (see _query_vectors): popularity.
        self.item_vectors_ = np.hstack([content, (popularity / (popularity.max() + 1.0))[:, None]]).astype(np.float32)
        return self

    def _query_vectors(self, queries: list[UserQuery]) -> np.ndarray:
        assert self.item_vectors_ is not None
        dim = self.item_vectors_.shape[1] - 1
        out = np.zeros((len(queries), dim + 1), dtype=np.float32)
        texts = [q.text or "" for q in queries]
        words = self.encoder.encode_texts(texts) if any(texts) else np.zeros((len(queries), dim), np.float32)
        for row, query in enumerate(queries):
            items = self._known_items(query)
            if items.size:
                out[row, :dim] = self.item_vectors_[items, :dim].mean(axis=0)
            out[row, :dim] += self.text_weight * words[row]
            norm = float(np.linalg.norm(out[row, :dim]))
            if norm > 0:
                out[row, :dim] /= norm
            else:
                out[row, dim] = 1.0  # nothing known about this user: most popular first
        return out

    def _recommend(
        self, queries: list[UserQuery], k: int, candidates: np.ndarray | None, exclude_known: bool
    ) -> coldkit.Ranked:
        assert self.item_vectors_ is not None
        return rank_vectors(
            self._query_vectors(queries), self.item_vectors_, k, metric="dot",
            exclude=self._exclusions(queries, exclude_known), candidates=candidates,
            backend=self.backend,  # --option backend=NAME; it ran on coldkit's own backend whatever that said
        )
