"""Neighbourhood collaborative filtering: item-based and user-based kNN, plus EASE.

Item-item models (item-kNN, EASE) learn a matrix ``S`` over the *warm* items (those with at least
one training interaction) and score ``score(u, i) = sum_j x_uj S[j, i]`` where ``x_u`` is the user's
interaction row: the training row of a warm user plus any ``UserQuery.history`` clicks. A new
user's clicks therefore fold in without refitting. Cold items have no column in ``S`` and score 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import rank_vectors
from coldkit.models._vectors import interaction_rows, training_matrix
from coldkit.models.base import Recommender
from coldkit.plugins.types import Ranked

__all__ = ["ItemItemModel", "ItemKNN", "NeighbourVoting", "UserKNN", "EASE", "similarity_matrix", "keep_top_per_column"]

SIMILARITIES = ("cosine", "pearson")


def _check_similarity(similarity: str) -> str:
    if similarity not in SIMILARITIES:
        raise InvalidInputError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    return similarity


def _check_shrinkage(shrinkage: float) -> float:
    if not np.isfinite(shrinkage) or shrinkage < 0:
        raise InvalidInputError(f"shrinkage must be >= 0, got {shrinkage}")
    return float(shrinkage)


def similarity_matrix(
    left: np.ndarray, right: np.ndarray, similarity: str, shrinkage: float = 0.0
) -> np.ndarray:
    """(a, b) similarity of the rows of ``left`` (a, d) and ``right`` (b, d), float64.

    ``cosine`` is the cosine of the raw rows; ``pearson`` is the correlation of the rows (each row
    centred on its mean over all d entries, zeros included, which is what implicit 0/1 data
    needs). ``shrinkage`` multiplies each similarity by ``n / (n + shrinkage)``, ``n`` the number
    of dimensions where both rows are non-zero (co-raters), so similarities backed by few
    co-occurrences are damped. A zero-variance row has similarity 0 with everything.
    """
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    if similarity == "pearson":
        lc = left - left.mean(axis=1, keepdims=True)
        rc = right - right.mean(axis=1, keepdims=True)
    else:
        lc, rc = left, right
    dots = lc @ rc.T
    ln = np.linalg.norm(lc, axis=1)
    rn = np.linalg.norm(rc, axis=1)
    denom = np.outer(ln, rn)
    sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 1e-12)
    if shrinkage > 0:
        co = (left != 0).astype(np.float64) @ (right != 0).astype(np.float64).T
        sims *= co / (co + shrinkage)
    return sims


def keep_top_per_column(matrix: np.ndarray, k: int | None) -> np.ndarray:
    """Zero every entry of each column except its ``k`` largest (ties broken by lower row index)."""
    if k is None or k >= matrix.shape[0]:
        return matrix
    # stable sort on -value keeps lower row index first among ties; one vectorised call, no loop
    order = np.argsort(-matrix, axis=0, kind="stable")[:k]
    pruned = np.zeros_like(matrix)
    cols = np.broadcast_to(np.arange(matrix.shape[1]), order.shape)
    pruned[order, cols] = matrix[order, cols]
    return pruned


class ItemItemModel(Recommender):
    """Shared scoring of item-item models: ``score(u, i) = x_u . S[:, i]`` through the similarity core."""

    binarize: bool = True

    def __init__(self) -> None:
        self.warm_items_: np.ndarray | None = None
        self.item_matrix_: np.ndarray | None = None  # S over warm items, (n_warm, n_warm)
        self._item_vectors: np.ndarray | None = None  # (n_items, n_warm): row i = S[:, i] (0 for cold)

    def _learn_matrix(self, warm_matrix: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: Interactions) -> "ItemItemModel":
        train = self._remember(train)
        matrix = training_matrix(train, self.binarize)
        warm = np.flatnonzero(train.item_counts() > 0)
        self.warm_items_ = warm
        dense = np.asarray(matrix[:, warm].toarray(), dtype=np.float64)
        self.item_matrix_ = np.asarray(self._learn_matrix(dense), dtype=np.float32)
        vectors = np.zeros((train.n_items, warm.size), dtype=np.float32)
        vectors[warm] = self.item_matrix_.T
        self._item_vectors = vectors
        self._matrix = matrix
        return self

    def user_rows(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_warm) interaction rows of the queries over the warm items."""
        assert self.warm_items_ is not None
        return interaction_rows(queries, self._matrix, columns=self.warm_items_)

    def item_vectors(self) -> np.ndarray:
        """(n_items, n_warm): the vector each item is scored with (``S[:, i]``; zeros for cold items)."""
        self._require_fitted()
        assert self._item_vectors is not None
        return self._item_vectors

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        return rank_vectors(
            self.user_rows(queries),
            self.item_vectors(),
            k,
            metric="dot",
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand,
        )

    def explain(self, query: UserQuery, item: int) -> str:
        """Name the known item that contributes most to ``item``'s score ("because you liked X")."""
        (query,) = self._check_queries([query])
        train = self._require_fitted()
        row = self.user_rows([query])[0]
        contrib = row * self.item_vectors()[int(item)]
        if not np.any(contrib > 0):
            return "no liked item is similar to this one"
        assert self.warm_items_ is not None
        best = int(self.warm_items_[int(np.argmax(contrib))])
        return f"because you liked {_title(train, best)}"


def _title(train: Interactions, item: int) -> str:
    table = train.catalog.table
    if "title" in table.columns:
        return str(table["title"].iloc[item])
    return str(train.catalog.item_ids[item])


class ItemKNN(ItemItemModel):
    """Item-based kNN CF: each item keeps its ``neighbors`` most similar items.

    Options: ``similarity`` (``"cosine"`` or ``"pearson"``), ``neighbors`` (None = keep all),
    ``shrinkage`` (damps similarities with few co-raters), ``binarize`` (treat every interaction
    as 1; default True, since ranking cares about what was consumed, not the rating).

    Example::

        model = coldkit.models.create("item-knn", neighbors=50, shrinkage=10).fit(train)
        model.recommend([UserQuery(history=np.array([3, 17]))], k=10)   # a new user's two clicks
    """

    name = "item-knn"

    def __init__(
        self, similarity: str = "cosine", neighbors: int | None = 100, shrinkage: float = 0.0, binarize: bool = True
    ) -> None:
        super().__init__()
        self.similarity = _check_similarity(similarity)
        if neighbors is not None and (isinstance(neighbors, bool) or int(neighbors) < 1):
            raise InvalidInputError(f"neighbors must be >= 1 or None, got {neighbors!r}")
        self.neighbors = None if neighbors is None else int(neighbors)
        self.shrinkage = _check_shrinkage(shrinkage)
        self.binarize = bool(binarize)

    def _learn_matrix(self, warm_matrix: np.ndarray) -> np.ndarray:
        sims = similarity_matrix(warm_matrix.T, warm_matrix.T, self.similarity, self.shrinkage)
        np.fill_diagonal(sims, 0.0)
        return keep_top_per_column(sims, self.neighbors)


class EASE(ItemItemModel):
    """EASE (Steck 2019): ``B = argmin ||X - XB||² + λ||B||²`` with ``diag(B) = 0``, in closed form.

    ``P = (XᵀX + λI)⁻¹``, ``B[i, j] = -P[i, j] / P[j, j]`` for ``i != j``. Fitted on warm items only
    (a few seconds for ~10k items). Option ``l2`` is λ.

    Example::

        model = coldkit.models.create("ease", l2=300).fit(train)
    """

    name = "ease"

    def __init__(self, l2: float = 300.0, binarize: bool = True) -> None:
        super().__init__()
        if not np.isfinite(l2) or l2 <= 0:
            raise InvalidInputError(f"l2 must be > 0, got {l2}")
        self.l2 = float(l2)
        self.binarize = bool(binarize)

    def _learn_matrix(self, warm_matrix: np.ndarray) -> np.ndarray:
        gram = warm_matrix.T @ warm_matrix
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        return weights


class NeighbourVoting(Recommender):
    """Users vote for the items they interacted with, weighted by their similarity to the query.

    Subclasses set ``_item_vectors`` (n_items, n_users: who interacted with each item) in ``fit``
    and implement ``neighbour_weights(queries) -> (B, n_users)``.
    """

    _item_vectors: np.ndarray | None = None

    def neighbour_weights(self, queries: Sequence[UserQuery]) -> np.ndarray:
        raise NotImplementedError

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        assert self._item_vectors is not None  # recommend() checked that fit() ran
        return rank_vectors(
            self.neighbour_weights(queries),
            self._item_vectors,
            k,
            metric="dot",
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand,
        )


class UserKNN(NeighbourVoting):
    """User-based kNN CF: the ``neighbors`` training users most similar to the query user vote for items.

    ``score(u, i) = sum_{v in N(u)} sim(u, v) x_vi``. A new user is compared through their
    ``history`` clicks (fold-in, no refit). Options as :class:`ItemKNN`.

    Example::

        model = coldkit.models.create("user-knn", similarity="pearson", neighbors=30).fit(train)
    """

    name = "user-knn"

    def __init__(
        self, similarity: str = "cosine", neighbors: int = 50, shrinkage: float = 0.0, binarize: bool = True
    ) -> None:
        self.similarity = _check_similarity(similarity)
        if isinstance(neighbors, bool) or int(neighbors) < 1:
            raise InvalidInputError(f"neighbors must be >= 1, got {neighbors!r}")
        self.neighbors = int(neighbors)
        self.shrinkage = _check_shrinkage(shrinkage)
        self.binarize = bool(binarize)

    def fit(self, train: Interactions) -> "UserKNN":
        train = self._remember(train)
        self._matrix = training_matrix(train, self.binarize)
        self.warm_items_ = np.flatnonzero(train.item_counts() > 0)
        self._user_rows = np.asarray(self._matrix[:, self.warm_items_].toarray(), dtype=np.float64)
        self._item_vectors = np.ascontiguousarray(self._matrix.T.toarray(), dtype=np.float32)  # (n_items, n_users)
        return self

    def neighbour_weights(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_users) similarity to each training user, zero outside the ``neighbors`` nearest."""
        rows = interaction_rows(queries, self._matrix, columns=self.warm_items_)
        sims = similarity_matrix(rows, self._user_rows, self.similarity, self.shrinkage)
        for b, query in enumerate(queries):  # a user is not their own neighbour
            if query.user is not None:
                sims[b, query.user] = -np.inf
        weights = keep_top_per_column(sims.T, self.neighbors).T
        weights[~np.isfinite(weights)] = 0.0
        return weights

