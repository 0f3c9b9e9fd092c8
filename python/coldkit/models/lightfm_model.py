"""LightFM (Kula 2015) with item content features: a hybrid factorisation baseline for cold start.

LightFM represents an item as the sum of the embeddings of its features, so an item with no
interaction still has a representation from its content. Here:

* item features = an identity feature for each *warm* item (``item_identity``) plus the item's
  content vector (any coldkit encoder: TF-IDF hashing, MiniLM...), centred and reduced to its
  ``content_dim`` leading principal axes, L2-normalised. A cold item has only its content part.
* user features = the items the user clicked (row-normalised, so a new user's clicks are folded in
  without retraining) plus the normalised mean content of those items; a new user's profile text
  takes the content slot (encoded by the same encoder).

Scores are ``user · item + item_bias``; the ranking goes through coldkit's similarity core like every
other model. Needs the optional ``lightfm`` extra (``pip install 'coldkit[lightfm]'``, which installs
the maintained ``rectools-lightfm`` build of LightFM: the original ``lightfm`` 1.17 sdist does not
build with current pip/setuptools).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit._stages import stage
from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models._ranking import rank_vectors
from coldkit.models._vectors import interaction_rows, training_matrix
from coldkit.models.base import Recommender
from coldkit.models.memory import MemoryBudgetError, format_bytes, resolve_budget
from coldkit.models.content import encode_items, resolve_encoder
from coldkit.plugins.types import Encoder, Ranked
from coldkit.validation import check_flag

__all__ = ["LightFMRecommender", "content_features"]

LOSSES = ("warp", "bpr", "logistic", "warp-kos")


def _lightfm_class() -> Any:
    try:
        from lightfm import LightFM
    except ImportError as exc:
        raise ColdkitError(
            "model 'lightfm' needs the LightFM package: pip install 'coldkit[lightfm]' "
            "(installs rectools-lightfm, a LightFM build that installs on current Python)"
        ) from exc
    return LightFM


def content_features(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (n, <=dim), mean, projection): centred ``vectors`` on their ``dim`` leading principal axes, unit rows.

    Rows that are all zero (items without text) stay zero. The mean and projection map user texts
    into the same space.
    """
    x = np.asarray(vectors, dtype=np.float64)
    has = np.any(x != 0, axis=1)
    if has.sum() < 2:
        raise InvalidInputError("model 'lightfm': fewer than 2 catalogue items have text to encode")
    mean = x[has].mean(axis=0)
    centred = x[has] - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    keep = np.argsort(eigenvalues)[::-1][: min(dim, x.shape[1])]
    projection = eigenvectors[:, keep]
    # a fixed sign per axis, so the features do not depend on the LAPACK build
    projection *= np.where(projection[np.argmax(np.abs(projection), axis=0), np.arange(projection.shape[1])] < 0, -1.0, 1.0)
    return _project(x, mean, projection), mean, projection


def _project(x: np.ndarray, mean: np.ndarray, projection: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    zero = ~np.any(x != 0, axis=1)
    out = (x - mean) @ projection
    out[zero] = 0.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return np.ascontiguousarray(out, dtype=np.float32)


class LightFMRecommender(Recommender):
    """LightFM hybrid matrix factorisation over item content features (cold items) and click features (cold users).

    Options:
        encoder: registered encoder name or instance for the item content (default ``"hashing"``).
        encoder_options: keyword options for ``coldkit.get_encoder``.
        components: embedding size.
        loss: ``"warp"`` (default), ``"bpr"``, ``"logistic"`` or ``"warp-kos"``.
        epochs: training epochs over the interactions.
        learning_rate, item_alpha, user_alpha: LightFM's Adagrad step and L2 penalties.
        item_identity: give each warm item its own identity feature (cold items have content only).
            Without it (Kula's cold-start setting) items are content alone: measured on ml-100k cold
            items better (Recall@20 0.448 vs 0.405, hashing, seed 0), on warm items much worse (0.117 vs 0.394).
        content_dim: principal axes of the content vectors kept as features (the dense features
            dominate training time: ~5 s CPU per epoch on ml-100k at 32, ~13 s at 128).
        seed: LightFM's ``random_state`` (deterministic with one thread).
        threads: LightFM's training threads.
        cache: use ``encode_catalog``'s on-disk vector cache.

    Example::

        model = coldkit.get_model("lightfm", encoder="hashing", epochs=20).fit(train)
        model.recommend([UserQuery(history=np.array([3, 7]))], k=10)
    """

    name = "lightfm"

    def __init__(
        self,
        encoder: str | Encoder = "hashing",
        encoder_options: dict[str, Any] | None = None,
        components: int = 64,
        loss: str = "warp",
        epochs: int = 10,
        learning_rate: float = 0.05,
        item_alpha: float = 1e-6,
        user_alpha: float = 1e-6,
        item_identity: bool = True,
        content_dim: int = 32,
        seed: int = 0,
        threads: int = 1,
        cache: bool = True,
    ) -> None:
        for key, value in (("components", components), ("epochs", epochs), ("content_dim", content_dim), ("threads", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"lightfm: {key} must be an integer >= 1, got {value!r}")
        if loss not in LOSSES:
            raise InvalidInputError(f"lightfm: loss must be one of {LOSSES}, got {loss!r}")
        for key, number in (("learning_rate", learning_rate), ("item_alpha", item_alpha), ("user_alpha", user_alpha)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not np.isfinite(number) or number < 0:
                raise InvalidInputError(f"lightfm: {key} must be a finite number >= 0, got {number!r}")
        if learning_rate <= 0:
            raise InvalidInputError(f"lightfm: learning_rate must be > 0, got {learning_rate!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            # LightFM's own "Seed must be between 0 and 2**32 - 1" came as a traceback at fit
            raise InvalidInputError(f"lightfm: seed must be an integer in [0, 2**32), got {seed!r}")
        _lightfm_class()  # a missing extra fails here, before any data is loaded or encoded
        self.encoder = resolve_encoder(encoder, encoder_options)
        self.components, self.loss, self.epochs = components, loss, epochs
        self.learning_rate, self.item_alpha, self.user_alpha = float(learning_rate), float(item_alpha), float(user_alpha)
        self.item_identity = check_flag(item_identity, "lightfm: item_identity")  # bool("no") is True
        self.content_dim, self.seed, self.threads = content_dim, seed, threads
        self.cache = check_flag(cache, "cache")  # bool("no") is True

    # ------------------------------------------------------------------ features

    def _user_features(self, clicks: sp.csr_matrix, texts: np.ndarray | None) -> sp.csr_matrix:
        """[clicks, row-normalised | content: the user's text, else the mean content of their clicks]."""
        counts = np.asarray(clicks.sum(axis=1)).ravel()
        scale = np.divide(1.0, counts, out=np.zeros_like(counts, dtype=np.float64), where=counts > 0)
        normalised = sp.diags(scale.astype(np.float32)) @ clicks
        taste = np.asarray(normalised @ self.content_, dtype=np.float64)
        if texts is not None:
            has_text = np.any(texts != 0, axis=1)
            taste[has_text] = texts[has_text]
        norms = np.linalg.norm(taste, axis=1, keepdims=True)
        taste = np.divide(taste, norms, out=np.zeros_like(taste), where=norms > 0)
        return sp.hstack([normalised, sp.csr_matrix(taste.astype(np.float32))], format="csr", dtype=np.float32)

    def fit(self, train: Interactions) -> "LightFMRecommender":
        LightFM = _lightfm_class()
        train = self._remember(train)
        raw = encode_items(train, self.encoder, cache=self.cache)
        self.content_, self._mean, self._projection = content_features(raw, self.content_dim)
        clicks = training_matrix(train, binarize=True)
        warm = np.asarray(clicks.getnnz(axis=0)).ravel() > 0
        identity = sp.diags(warm.astype(np.float32), format="csr") if self.item_identity else sp.csr_matrix((train.n_items, 0), dtype=np.float32)
        item_features = sp.hstack([identity, sp.csr_matrix(self.content_)], format="csr", dtype=np.float32)
        user_features = self._user_features(clicks, None)
        # LightFM draws its embeddings in float64, then keeps them, their gradients and momenta in float32:
        # components=10**12 was a MemoryError traceback ("Unable to allocate 320. TiB") naming no option
        n_features = item_features.shape[1] + user_features.shape[1]
        needed, budget = 20 * n_features * self.components, resolve_budget(None)
        if needed > budget:  # lightfm takes no memory_budget: the machine's share is the bound (not --max-memory)
            raise MemoryBudgetError(
                f"lightfm's embeddings ({n_features:,} features x components={self.components:,}) need "
                f"{format_bytes(needed)}, more than the {format_bytes(budget)} a model may use on this machine; choose fewer components"
            )
        model = LightFM(
            no_components=self.components, loss=self.loss, learning_rate=self.learning_rate,
            item_alpha=self.item_alpha, user_alpha=self.user_alpha, random_state=self.seed,
        )  # fmt: skip
        with stage(f"fit lightfm ({self.loss}, {self.epochs} epochs, {item_features.shape[1]:,} item features)"):
            model.fit(clicks.tocoo(), user_features=user_features, item_features=item_features,
                      epochs=self.epochs, num_threads=self.threads)  # fmt: skip
        biases, embeddings = model.get_item_representations(item_features)
        # score = user · item + item bias: the user side carries a constant 1 for the bias column
        self.item_vectors_ = np.ascontiguousarray(np.hstack([embeddings, biases[:, None]]), dtype=np.float32)
        self._model, self._clicks = model, clicks
        return self

    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, components + 1) each query's LightFM representation (clicks, history, profile text), plus the bias slot."""
        queries = self._check_queries(queries)  # a public entry: bad indices get a clear error
        rows = interaction_rows(queries, self._clicks, sparse=True)
        texts = None
        with_text = [(b, str(q.text)) for b, q in enumerate(queries) if q.has_text]
        if with_text:
            encoded = np.asarray(self.encoder.encode_texts([t for _, t in with_text]), dtype=np.float32)
            texts = np.zeros((len(queries), self.content_.shape[1]), dtype=np.float64)
            texts[[b for b, _ in with_text]] = _project(encoded, self._mean, self._projection)
        _, embeddings = self._model.get_user_representations(self._user_features(rows, texts))
        return np.ascontiguousarray(np.hstack([embeddings, np.ones((len(queries), 1))]), dtype=np.float32)

    def _recommend(self, queries: list[UserQuery], k: int, candidates: np.ndarray | None, exclude_known: bool) -> Ranked:
        return rank_vectors(
            self.user_vectors(queries), self.item_vectors_, k, metric="dot",
            exclude=self._exclusions(queries, exclude_known), candidates=candidates, backend=self.backend,
        )  # fmt: skip
