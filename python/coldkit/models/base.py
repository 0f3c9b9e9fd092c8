"""The contract every coldkit recommender follows, plus the shared plumbing of the built-in models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.plugins.types import Ranked

__all__ = ["Recommender", "NotFittedError"]


class NotFittedError(ColdkitError, RuntimeError):
    """A recommender was asked for recommendations before :meth:`Recommender.fit`."""


class Recommender(ABC):
    """Fit on training interactions (over a full catalogue), then rank items for users.

    Subclasses implement :meth:`fit` and :meth:`_recommend` (or override :meth:`recommend`). Every ranking goes through the
    similarity backend registry (``coldkit.topk``): nothing loops over the catalogue in Python.

    Helpers for subclasses (added, the abstract contract is unchanged): :meth:`_remember`
    stores the training data, :meth:`_check_queries` validates a batch of queries,
    :meth:`_known_items` / :meth:`_exclusions` give the items to drop with ``exclude_known``.
    """

    name: str = "recommender"
    train_: Interactions | None = None

    @abstractmethod
    def fit(self, train: Interactions) -> "Recommender":
        """Learn from ``train``; the catalogue (``train.catalog``) may hold items with no interactions."""

    def recommend(
        self,
        queries: Sequence[UserQuery],
        k: int,
        *,
        candidates: np.ndarray | None = None,
        exclude_known: bool = True,
    ) -> Ranked:
        """Top ``k`` item indices and scores per query, best first.

        Args:
            queries: who to recommend for (a warm user index, new clicks, profile text).
            k: list length, capped at the catalogue size (the result has ``min(k, n_items)``
                columns, so a huge ``k`` allocates nothing); rows are padded with index -1 /
                score -inf when fewer items qualify (exclusions, candidates).
            candidates: item indices allowed in the output (None = the whole catalogue).
            exclude_known: drop items the user already interacted with (training items of a
                warm user plus ``query.history``).

        Validates the arguments once, then calls :meth:`_recommend`, which subclasses implement.
        """
        checked, k, allowed = self._validate(queries, k, candidates)
        return self._recommend(checked, k, allowed, exclude_known)

    def _recommend(
        self, queries: list[UserQuery], k: int, candidates: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        """Rank for already validated ``queries``, ``k`` and ``candidates`` (a checked index array or None)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _recommend() or recommend()")

    # ------------------------------------------------------------------ shared helpers

    def _remember(self, train: Interactions) -> Interactions:
        if not isinstance(train, Interactions):
            raise InvalidInputError(f"{self.name}.fit expects coldkit.data.Interactions, got {type(train).__name__}")
        self.train_ = train
        return train

    def _require_fitted(self) -> Interactions:
        if self.train_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) before recommend()")
        return self.train_

    def _validate(
        self, queries: Sequence[UserQuery], k: object, candidates: object
    ) -> tuple[list[UserQuery], int, np.ndarray | None]:
        """The checked queries, ``k`` and candidate indices (raises InvalidInputError / NotFittedError)."""
        from coldkit.models._ranking import check_candidates
        from coldkit.validation import check_k

        n_items = self._require_fitted().n_items
        k = check_k(k, at_most=n_items)  # no list longer than the catalogue: nothing allocated for k = 10**12
        checked = self._check_queries(queries)
        return checked, k, check_candidates(candidates, n_items)

    def _check_queries(self, queries: Sequence[UserQuery]) -> list[UserQuery]:
        """Validate user indices and history item indices of every query against the training data."""
        train = self._require_fitted()
        if isinstance(queries, UserQuery):
            raise InvalidInputError("recommend() takes a sequence of UserQuery; wrap a single query in a list")
        checked = list(queries)
        for row, query in enumerate(checked):
            if not isinstance(query, UserQuery):
                raise InvalidInputError(f"query {row} is a {type(query).__name__}, expected coldkit.data.UserQuery")
            if query.user is not None and not (0 <= int(query.user) < train.n_users):
                raise InvalidInputError(
                    f"query {row}: user index {query.user} out of range [0, {train.n_users}); "
                    "pass an unknown user as UserQuery(history=..., text=...) instead"
                )
            if query.history.size and (query.history.min() < 0 or query.history.max() >= train.n_items):
                bad = query.history[(query.history < 0) | (query.history >= train.n_items)]
                raise InvalidInputError(
                    f"query {row}: history has item indices outside [0, {train.n_items}): {bad[:10].tolist()}"
                )
            if query.friends.size and (query.friends.min() < 0 or query.friends.max() >= train.n_users):
                bad = query.friends[(query.friends < 0) | (query.friends >= train.n_users)]
                raise InvalidInputError(
                    f"query {row}: friends has user indices outside [0, {train.n_users}): {bad[:10].tolist()}"
                )
        return checked

    def _known_items(self, query: UserQuery) -> np.ndarray:
        """Items the user interacted with: training items of a warm user plus ``query.history`` (unique)."""
        train = self._require_fitted()
        parts = [query.history]
        if query.user is not None:
            parts.append(train.items_of(int(query.user)))
        return np.unique(np.concatenate(parts)).astype(np.int64)

    def _exclusions(self, queries: Sequence[UserQuery], exclude_known: bool) -> list[np.ndarray] | None:
        if not exclude_known:
            return None
        return [self._known_items(q) for q in queries]
