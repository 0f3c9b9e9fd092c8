"""The hybrid recommender (coldkit's recommended default) and the router.

:class:`Hybrid` asks several scorers for their top-``depth`` lists and fuses them with a fusion
strategy plugin (``coldkit.get_fusion``):

* ``cf``: EASE (ALS above ~10k items or a tight memory budget: ``warm="auto"``) whose item vectors for cold / barely-seen items come from a
  content→CF ridge adapter, so one scorer covers warm *and* brand-new items; a new user's clicks
  fold in without refitting;
* ``cf_knn``: the same EASE, with cold items mapped by the content-kNN adapter instead (a
  second, local view of content→CF that errs differently from the global ridge map);
* ``content``: user-interest matching in an encoder's (centred) space from the texts of the items
  the user interacted with;
* ``text``: the same space queried with the user's own words (``UserQuery.text``);
* ``popularity``: the prior for users we know little about;
* ``profile`` (optional, with ``user_profiles``): training users whose profile text is nearest to
  the query's text vote for what they liked (user-based hybrid: demographic/text kNN).

The adaptive blend trusts CF for users with many interactions and content/popularity for users
with few: per query, ``β = n / (n + user_trust)`` (``n`` = known interactions) and the weights are
``cf: w_cf·β``, ``cf_knn: w_cf_knn·β``, ``content: w_content`` (users with clicks), ``text: w_text`` (users with text),
``popularity: w_pop·(1-β)``, ``profile: w_profile·(1-β)`` (users with text). With ``user_profiles``
the query text is taken to be a profile like the training users' (age, job...) rather than a
statement of interests, so ``text`` defaults to 0 and ``profile`` speaks for it.
A source that cannot tell candidates apart (e.g. popularity over cold-only candidates) gives
every candidate the same normalised score and so does not move the ranking.

:class:`Router` sends each query to the model that suits what is known about it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import coldkit
from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import empty_ranked, pad_ranked
from coldkit.models.base import Recommender
from coldkit.models.cold import ColdKNN, ColdRidge
from coldkit.models.content import ContentRecommender, _title
from coldkit.models.neighbors import NeighbourVoting
from coldkit.models.popularity import Popularity
from coldkit.models.registry import default_encoder_name
from coldkit.plugins.types import Encoder, Ranked

__all__ = ["Hybrid", "Router", "ProfileKNN"]

DEFAULT_WEIGHTS = {"cf": 1.0, "cf_knn": 1.0, "content": 0.1, "text": 0.5, "popularity": 0.5, "profile": 0.25}


class ProfileKNN(NeighbourVoting):
    """User-based kNN on profile *text*: the training users whose profiles read most like the query's text.

    ``score(q, i) = sum_{v in N(q)} cos(text_q, text_v) x_vi``. Needs ``user_profiles``
    (external user id -> text) for the training users; queries without text score 0 everywhere.

    Example::

        model = ProfileKNN(user_profiles=data.user_profiles, encoder="hashing").fit(train)
        model.recommend([UserQuery(text="A 25 year old woman who works as artist.")], k=10)
    """

    name = "profile-knn"

    def __init__(
        self, user_profiles: Mapping[str, str], encoder: str | Encoder = "hashing", neighbors: int = 50
    ) -> None:
        if not isinstance(user_profiles, Mapping) or not user_profiles:
            raise InvalidInputError("profile-knn needs user_profiles: a non-empty mapping user id -> text")
        self.user_profiles = dict(user_profiles)
        self.encoder = coldkit.get_encoder(encoder) if isinstance(encoder, str) else encoder
        if isinstance(neighbors, bool) or int(neighbors) < 1:
            raise InvalidInputError(f"neighbors must be >= 1, got {neighbors!r}")
        self.neighbors = int(neighbors)

    def fit(self, train: Interactions) -> "ProfileKNN":
        train = self._remember(train)
        texts = [self.user_profiles.get(str(u), "") or "" for u in train.user_ids]
        self._has_text = np.array([bool(t.strip()) for t in texts])
        if not self._has_text.any():
            raise InvalidInputError("profile-knn: no training user has a profile text")
        fit = getattr(self.encoder, "fit", None)
        if callable(fit):
            fit([t for t in texts if t.strip()])
        self.user_vectors_ = np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
        matrix = train.matrix.copy()
        matrix.data[:] = 1.0
        self._item_vectors = np.ascontiguousarray(matrix.T.toarray(), dtype=np.float32)  # (n_items, n_users)
        return self

    def neighbour_weights(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_users): cosine of profile texts for the ``neighbors`` nearest training users, else 0."""
        weights = np.zeros((len(queries), self.user_vectors_.shape[0]), dtype=np.float32)
        rows = [b for b, q in enumerate(queries) if q.text and q.text.strip()]
        if not rows:
            return weights
        encoded = np.asarray(self.encoder.encode_texts([str(queries[b].text) for b in rows]), dtype=np.float32)
        exclude = [np.array([queries[b].user]) if queries[b].user is not None else np.empty(0, np.int64) for b in rows]
        scores, users = coldkit.topk(encoded, self.user_vectors_, self.neighbors, metric="cosine", exclude=exclude)
        valid = (users >= 0) & np.isfinite(scores)
        r = np.repeat(np.asarray(rows), users.shape[1]).reshape(users.shape)
        weights[r[valid], users[valid]] = np.maximum(scores[valid], 0.0)
        return weights



class Hybrid(Recommender):
    """coldkit's recommended configuration: CF + cold adapter + content + popularity, adaptively fused.

    Options:
        encoder: encoder name or instance for content and the adapter (default: ``"bert"`` if
            installed, else ``"hashing"``); ``encoder_options`` for ``get_encoder``.
        whitening: ``"center"`` (default, measured best), ``"whiten"`` or ``"none"``.
        warm: warm model of the CF source: ``"auto"`` (default: EASE up to ~10⁴ items where it
            fits the memory budget, else ALS; see ``coldkit.models.cold.choose_warm``),
            ``"ease"``, ``"als"``, ``"svd"`` or ``"item-knn"``; ``warm_options``.
        memory_budget: bytes or a size like ``"6G"`` the warm model may use (default: a share
            of the available memory); a model that does not fit fails before allocating.
        adapter_l2: ridge penalty of the content→CF adapter.
        fusion: ``"weighted"`` (default, per-row min-max normalised scores) or ``"rrf"``, or any
            registered strategy; ``fusion_options`` for it.
        weights: base weight per source (keys ``cf``, ``cf_knn``, ``content``, ``text``,
            ``popularity``, ``profile``); defaults ``1.0, 1.0, 0.1, 0.5, 0.5, 0.25`` (``text`` 0
            with ``user_profiles``; ``cf_knn`` 0 turns the second adapter off).
        user_trust: interactions at which CF gets half its weight (the adaptive blend).
        item_trust: interactions at which an item's CF vector gets half the weight of its
            content-mapped vector.
        depth: how many items each source contributes to the fusion (at least ``k``).
        user_profiles: optional external user id -> profile text; adds the ``profile`` source.
        adaptive: False uses the base weights for every query.

    Example::

        model = coldkit.models.create("hybrid", encoder="hashing").fit(train)
        ranked = model.recommend([UserQuery(user=3), UserQuery(history=np.array([10]), text="space opera")], k=10)
        print(model.explain(UserQuery(user=3), int(ranked.indices[0, 0])))
    """

    name = "hybrid"

    def __init__(
        self,
        encoder: str | Encoder | None = None,
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        warm: str = "auto",
        warm_options: dict[str, Any] | None = None,
        adapter_l2: float = 10.0,
        fusion: str = "weighted",
        fusion_options: dict[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        user_trust: float = 3.0,
        item_trust: float = 2.0,
        depth: int = 200,
        user_profiles: Mapping[str, str] | None = None,
        adaptive: bool = True,
        cache: bool = True,
        memory_budget: str | int | None = None,
    ) -> None:
        if encoder is None:
            encoder = default_encoder_name()
        enc = coldkit.get_encoder(encoder, **(encoder_options or {})) if isinstance(encoder, str) else encoder
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise InvalidInputError(f"unknown hybrid weight(s) {sorted(unknown)}; sources: {sorted(DEFAULT_WEIGHTS)}")
        defaults = dict(DEFAULT_WEIGHTS)
        if user_profiles:
            defaults["text"] = 0.0
        self.weights = {**defaults, **dict(weights or {})}
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()):
            raise InvalidInputError(f"hybrid weights must be finite and >= 0, got {self.weights}")
        for label, value in (("user_trust", user_trust), ("item_trust", item_trust)):
            if not np.isfinite(value) or value < 0:
                raise InvalidInputError(f"{label} must be >= 0, got {value}")
        if isinstance(depth, bool) or int(depth) < 1:
            raise InvalidInputError(f"depth must be >= 1, got {depth!r}")
        self.user_trust, self.item_trust, self.depth = float(user_trust), float(item_trust), int(depth)
        self.adaptive = bool(adaptive)
        self.fusion = coldkit.get_fusion(fusion, **(fusion_options or {}))
        self.cf = ColdRidge(
            l2=adapter_l2, warm=warm, warm_options=warm_options, encoder=enc, whitening=whitening,
            item_trust=item_trust, cache=cache, memory_budget=memory_budget,
        )
        self.cf_knn = ColdKNN(
            neighbors=50, normalize=True, warm=warm, warm_options=warm_options, encoder=enc,
            whitening=whitening, item_trust=item_trust, cache=cache,
        )
        # the content sources share the adapter's fitted ContentRecommender (one encoding pass)
        self.content: ContentRecommender = self.cf.content
        self.popularity = Popularity()
        self.profile = ProfileKNN(user_profiles, encoder=_fresh_encoder(encoder, encoder_options)) if user_profiles else None

    def fit(self, train: Interactions) -> "Hybrid":
        train = self._remember(train)
        self.cf.fit(train)
        if self.weights["cf_knn"] > 0:
            self.cf_knn.fit_sharing(train, self.cf.warm, self.cf.content)
        self.popularity.fit(train)
        if self.profile is not None:
            self.profile.fit(train)
        return self

    def source_weights(self, queries: Sequence[UserQuery]) -> dict[str, np.ndarray]:
        """Per-query weight of each source (the adaptive blend; see the module docstring)."""
        n = np.array([self._known_items(q).size for q in queries], dtype=np.float64)
        if self.adaptive:
            beta = n / (n + self.user_trust) if self.user_trust > 0 else (n > 0).astype(np.float64)
        else:
            beta = np.full(len(queries), 0.5)
        has_text = np.array([bool(q.text and q.text.strip()) for q in queries])
        weights = {
            "cf": self.weights["cf"] * beta,
            "cf_knn": self.weights["cf_knn"] * beta,
            "content": self.weights["content"] * (n > 0),
            "text": self.weights["text"] * has_text,
            "popularity": self.weights["popularity"] * (1.0 - beta),
        }
        if self.profile is not None:
            weights["profile"] = self.weights["profile"] * (1.0 - beta) * has_text
        return weights

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        if not queries:
            return empty_ranked(0, k)
        depth = max(k, self.depth)
        weights = self.source_weights(queries)
        calls: dict[str, Any] = {
            "cf": lambda: self.cf.recommend(queries, depth, candidates=cand, exclude_known=exclude_known),
            "cf_knn": lambda: self.cf_knn.recommend(queries, depth, candidates=cand, exclude_known=exclude_known),
            "content": lambda: self.content.recommend(
                queries, depth, candidates=cand, exclude_known=exclude_known, use_text=False
            ),
            "text": lambda: self.content.recommend(
                queries, depth, candidates=cand, exclude_known=exclude_known, use_history=False
            ),
            "popularity": lambda: self.popularity.recommend(queries, depth, candidates=cand, exclude_known=exclude_known),
        }
        if self.profile is not None:
            profile = self.profile
            calls["profile"] = lambda: profile.recommend(queries, depth, candidates=cand, exclude_known=exclude_known)
        sources = {}
        for name, call in calls.items():
            if not np.any(weights[name] > 0):
                continue  # a source nobody in this batch listens to is not computed
            sources[name] = call()
        if not sources:  # every weight is zero: fall back to popularity alone
            sources = {"popularity": self.popularity.recommend(queries, depth, candidates=cand, exclude_known=exclude_known)}
            weights = {"popularity": np.ones(len(queries))}
        fused = self.fusion.fuse(sources, k, {name: weights[name] for name in sources})
        return pad_ranked(fused.indices, fused.scores, k)

    def explain(self, query: UserQuery, item: int) -> str:
        """Why ``item`` was recommended: the liked item with the largest CF contribution, content
        similarity and matching words, or popularity."""
        (query,) = self._check_queries([query])
        train = self._require_fitted()
        if not 0 <= int(item) < train.n_items:
            raise InvalidInputError(f"item index {item} out of range [0, {train.n_items})")
        reasons = []
        known = self._known_items(query)
        if known.size and train.item_counts()[int(item)] > 0 and self.cf.warm.kind in ("ease", "item-knn"):
            row = self.cf.warm.user_vectors([query])[0]
            contrib = row * self.cf.item_vectors()[int(item)]
            if np.any(contrib > 0):
                best = int(self.cf.warm.warm_items_[int(np.argmax(contrib))])
                reasons.append(f"people who liked {_title(train, best)} also liked it")
        content_reason = self.content.explain(query, int(item))
        if not content_reason.startswith("no liked item"):
            reasons.append(content_reason)
        if not reasons:
            count = int(train.item_counts()[int(item)])
            reasons.append(f"popular: {count} users interacted with it" if count else "new item matching the catalogue's taste")
        return "; ".join(reasons)


def _fresh_encoder(encoder: str | Encoder, options: dict[str, Any] | None) -> str | Encoder:
    # the profile kNN fits its own IDF on user texts, so it needs its own instance when built by name
    return coldkit.get_encoder(encoder, **(options or {})) if isinstance(encoder, str) else encoder


class Router(Recommender):
    """Route each query to the model that suits what is known about it.

    * known user (``user`` given) or at least ``min_clicks`` known interactions → ``warm`` model
      (default: a :class:`Hybrid`);
    * profile text or fewer than ``min_clicks`` clicks → ``cold`` model (default: content +
      popularity, i.e. a Hybrid with CF weight 0);
    * nothing → popularity.

    Options: ``min_clicks``, ``warm``/``cold`` (Recommender instances), ``hybrid_options``
    (options for the default hybrids), ``user_profiles`` (passed to the default hybrids).

    Example::

        router = coldkit.models.create("router", hybrid_options={"encoder": "hashing"}).fit(train)
        router.route([UserQuery(user=1), UserQuery(text="jazz"), UserQuery()])   # ['warm', 'cold', 'popular']
    """

    name = "router"
    ROUTES = ("warm", "cold", "popular")

    def __init__(
        self,
        min_clicks: int = 3,
        warm: Recommender | None = None,
        cold: Recommender | None = None,
        hybrid_options: dict[str, Any] | None = None,
        user_profiles: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(min_clicks, bool) or int(min_clicks) < 1:
            raise InvalidInputError(f"min_clicks must be >= 1, got {min_clicks!r}")
        self.min_clicks = int(min_clicks)
        options = dict(hybrid_options or {})
        if user_profiles and "user_profiles" not in options:
            options["user_profiles"] = user_profiles
        self.warm = warm if warm is not None else Hybrid(**options)
        cold_weights = {**dict(options.pop("weights", {}) or {}), "cf": 0.0, "cf_knn": 0.0}
        self.cold = cold if cold is not None else Hybrid(**options, weights=cold_weights)
        self.popular = Popularity()

    def fit(self, train: Interactions) -> "Router":
        train = self._remember(train)
        self.warm.fit(train)
        if self.cold is not self.warm:
            self.cold.fit(train)
        self.popular.fit(train)
        return self

    def route(self, queries: Sequence[UserQuery]) -> list[str]:
        """The route (``"warm"``, ``"cold"`` or ``"popular"``) each query takes."""
        queries = self._check_queries(queries)
        routes = []
        for query in queries:
            n = self._known_items(query).size
            if query.user is not None or n >= self.min_clicks:
                routes.append("warm")
            elif n > 0 or (query.text and query.text.strip()):
                routes.append("cold")
            else:
                routes.append("popular")
        return routes

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        routes = np.array(self.route(queries))
        out = empty_ranked(len(queries), k)
        models = {"warm": self.warm, "cold": self.cold, "popular": self.popular}
        for route, model in models.items():
            rows = np.flatnonzero(routes == route)
            if rows.size == 0:
                continue
            part = model.recommend([queries[r] for r in rows], k, candidates=cand, exclude_known=exclude_known)
            out.indices[rows] = part.indices
            out.scores[rows] = part.scores
        return out

    def explain(self, query: UserQuery, item: int) -> str:
        """The route taken and the chosen model's reason."""
        (route,) = self.route([query])
        model = {"warm": self.warm, "cold": self.cold, "popular": self.popular}[route]
        explain = getattr(model, "explain", None)
        reason = explain(query, item) if explain else "one of the most popular items"
        return f"[{route}] {reason}"
