"""Recommendations from a social graph: what a user's friends interacted with.

A brand-new user has no clicks, but often has connections (friends, follows, a team). On data with
a social graph the items popular among a new user's friends are a strong first guess — on
lastfm-2k better than global popularity for cold users — so coldkit has it as a model of its own
and as a source of the hybrid.

Example::

    from coldkit.data import UserQuery, load_dataset
    from coldkit.models.social import FriendsPopularity

    data = load_dataset("lastfm-2k")
    model = FriendsPopularity(user_graph=data.user_graph).fit(data.interactions)
    model.recommend([UserQuery(user=0), UserQuery(friends=np.array([3, 17]))], k=10)
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_number
from coldkit.models._ranking import rank_vectors
from coldkit.models.base import Recommender
from coldkit.plugins.types import Ranked

__all__ = ["FriendsPopularity", "friend_indices"]


def friend_indices(
    queries: Sequence[UserQuery], train: Interactions, user_graph: Mapping[str, Sequence[str]] | None
) -> list[np.ndarray]:
    """Each query's friends as training-user indices: ``query.friends`` plus, for a known user, its graph entry."""
    index = train.user_index() if user_graph else {}
    out = []
    for query in queries:
        parts = [query.friends]
        if user_graph and query.user is not None:
            uid = str(train.user_ids[int(query.user)])
            parts.append(np.array([index[f] for f in user_graph.get(uid, ()) if f in index], dtype=np.int64))
        friends = np.unique(np.concatenate(parts)).astype(np.int64)
        if query.user is not None:
            friends = friends[friends != int(query.user)]
        out.append(friends)
    return out


def _friend_ids(user: object, friends: object) -> tuple[str, ...]:
    """One user's friends as id strings. A bare string or number was iterated: ``{"1": "23"}`` made users '2'
    and '3' the friends of '1' (a string), or failed with "'int' object is not iterable" naming nothing."""
    if isinstance(friends, (str, bytes)) or not isinstance(friends, Iterable):
        raise InvalidInputError(
            f"user_graph: the friends of user {str(user)!r} must be a list of user ids, got "
            f"{type(friends).__name__} {friends!r:.60} (one friend: [{friends!r:.40}])"
        )
    return tuple(str(f) for f in friends)


class FriendsPopularity(Recommender):
    """Popularity among the user's friends: ``score(u, i) = #friends of u who interacted with i + ε·popularity(i)``.

    Friends come from ``UserQuery.friends`` (training-user indices) and, for a known training user,
    from ``user_graph`` (external user id -> friend ids). ``global_weight`` (ε, relative to the
    most popular item) breaks ties and ranks for users without friends, so the model degrades to
    popularity instead of to catalogue order.

    Options:
        user_graph: external user id -> friend ids, e.g. ``load_dataset("lastfm-2k").user_graph``.
        global_weight: weight of normalised global popularity (default 0.01, below one friend).
    """

    name = "friends"

    def __init__(self, user_graph: Mapping[str, Sequence[str]] | None = None, global_weight: float = 0.01) -> None:
        if user_graph is not None and not isinstance(user_graph, Mapping):
            raise InvalidInputError(f"user_graph must be a mapping user id -> friend ids, got {type(user_graph).__name__}")
        self.user_graph = {str(u): _friend_ids(u, fs) for u, fs in (user_graph or {}).items()}
        global_weight = check_number(global_weight, "global_weight", at_least=0)
        self.global_weight = float(global_weight)

    def fit(self, train: Interactions) -> "FriendsPopularity":
        train = self._remember(train)
        binary = train.matrix.tocsc(copy=True)
        binary.data[:] = 1.0
        counts = np.asarray(binary.sum(axis=0)).ravel()
        # Item vectors: who interacted with the item, plus a last column for its normalised popularity.
        self._item_vectors = np.ascontiguousarray(
            np.column_stack([binary.T.toarray(), counts / max(counts.max(), 1.0)]), dtype=np.float32
        )
        return self

    def friends_of(self, queries: Sequence[UserQuery]) -> list[np.ndarray]:
        """Each query's friends as training-user indices."""
        return friend_indices(queries, self._require_fitted(), self.user_graph)

    def _recommend(self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool) -> Ranked:
        train = self._require_fitted()
        weights = np.zeros((len(queries), train.n_users + 1), dtype=np.float32)
        for b, friends in enumerate(self.friends_of(queries)):
            weights[b, friends] = 1.0
        weights[:, -1] = self.global_weight
        return rank_vectors(
            weights, self._item_vectors, k, metric="dot", exclude=self._exclusions(queries, exclude_known), candidates=cand, backend=self.backend
        )
