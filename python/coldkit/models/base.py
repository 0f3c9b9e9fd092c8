"""The contract every coldkit recommender follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.plugins.types import Ranked

__all__ = ["Recommender"]


class Recommender(ABC):
    """Fit on training interactions (over a full catalogue), then rank items for users.

    Subclasses implement :meth:`fit` and :meth:`recommend`. Every ranking goes through the
    similarity backend registry (``coldkit.topk``): nothing loops over the catalogue in Python.
    """

    name: str = "recommender"

    @abstractmethod
    def fit(self, train: Interactions) -> "Recommender":
        """Learn from ``train``; the catalogue (``train.catalog``) may hold items with no interactions."""

    @abstractmethod
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
            k: list length; rows are padded with index -1 / score -inf when fewer items qualify.
            candidates: item indices allowed in the output (None = the whole catalogue).
            exclude_known: drop items the user already interacted with (training items of a
                warm user plus ``query.history``).
        """
