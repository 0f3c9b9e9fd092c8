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
  the query's text vote for what they liked (user-based hybrid: demographic/text kNN);
* ``trending`` (interactions with timestamps): popularity with decayed interactions, at a
  half-life chosen on the validation split: what is popular *now*, for users who just arrived;
* ``item_knn``, ``tfidf`` and ``trending`` start at weight 0 and speak where the validation split says they
  help; ``ease`` (only in a tuned fit) starts at 1 · β, at 0 for the ``warm`` regime and new items.
  ``ease`` is EASE with its own penalty λ, chosen on that split for the users' clicks:
  the ``cf`` source keeps the λ that suits the content→CF map (a sharp item–item matrix), while a
  new user's first clicks are often best read by a far more regularised one, which leans towards
  co-occurrence with popular items (measured on ml-100k cold users: λ 300 → 30,000 lifts EASE's
  Recall@20 at n = 5 from 0.135 to 0.150; on ml-latest-small it barely moves). Only where EASE is
  cheap (:data:`coldkit.models.memory.EASE_MAX_ITEMS` warm items and room in the memory budget
  beside the ``cf`` source's own warm model).

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

import contextvars
import inspect
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from coldkit._stages import stage
from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import check_fused, empty_ranked, head_then_deeper, rank_side_by_side, stack_rows
from coldkit.models.base import Recommender, _media_columns_of, item_title
from coldkit.models.blend import (
    COLD_ITEM_WEIGHTS,
    DEFAULT_DEPTH,
    DEFAULT_USER_TRUST,
    DEFAULT_WEIGHTS,
    NO_SOURCE_REASON,
    SOURCES,
    WEAK_TEXT_REASON,
    blend,
    check_weights,
    clicks_reason,
    score_parts,
    source_parts,
    source_weights,
    speaking_sources,
)
from coldkit.models.attributes import AttributeFeatures
from coldkit.models.cold import ADAPTER_ITEM_TABLES, ColdKNN, ColdRidge, choose_warm
from coldkit.models.content import ContentRecommender
from coldkit.models.factorized import have_implicit
from coldkit.models.memory import EASE_MAX_ITEMS, MemoryBudgetError, estimate_warm_bytes, format_bytes, resolve_budget
from coldkit.models.neighbors import EASE, ItemKNN, NeighbourVoting
from coldkit.models.popularity import MIN_HALF_LIFE_DAYS, Popularity, RecentPopularity
from coldkit.models.modalities import encoder_from_spec
from coldkit.models.registry import default_encoder_name
from coldkit.models.social import FriendsPopularity, friend_indices
from coldkit.models.stacker import ITEM_FEATURES, POOL, Stacker, StackInputs, StackTask, content_popularity, fit_stacker
from coldkit.models.tuning import (
    COLD_ITEMS,
    CarvedValidation,
    WARM,
    WEIGHT_GRID,
    WORDS,
    WORDS_AND_CLICKS,
    WORDS_CLICKS,
    LearnedWeights,
    ValidationTask,
    carve_validation,
    fully_timed,
    climb_grid,
    coordinate_ascent,
    fused_recall_objective,
    recall_per_query,
)
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Encoder, Ranked
from coldkit.similarity import topk
from coldkit.validation import check_flag, check_k, check_number, check_options, check_seed

__all__ = ["Hybrid", "Router", "ProfileKNN", "DEFAULT_WEIGHTS", "AUTO_TUNE_MAX_ITEMS"]

#: The item attributes' weight in the ridge map's (``cf``'s) content features, against 1 for the encoder (and 1
#: for TF-IDF beside it): see :mod:`coldkit.models.attributes`; chosen on off-benchmark seeds (docs/evaluation.md).
ATTRIBUTE_WEIGHT = 0.5

#: Sources that read the item text itself (not the encoder's vectors): a catalogue without text has none.
TEXT_SOURCES = ("tfidf",)

#: ``tune="auto"`` learns the blend's weights for catalogues up to this size (tuning fits twice).
AUTO_TUNE_MAX_ITEMS = 50_000

#: Training users with a profile text below which the ``profile`` source sits a fit out and the query's
#: own text speaks (``text`` at its default weight). A vote of fewer users' lists says nothing general:
#: with none, the profile kNN could not even be fitted, and the common cold-start shape (an onboarding
#: text for new users only) failed; with one, it scored every item alike and the text was ignored.
PROFILE_MIN_USERS = 10

#: The penalties λ the ``ease`` source may take (steps of ~√10 from EASE's default 300). The
#: validation split climbs from :data:`EASE_SEARCH_START` to the best neighbour until none is better,
#: so it fits 3–5 EASE models on the carved split rather than all of them (one direction is climbed).
EASE_PENALTIES: tuple[float, ...] = (300.0, 1_000.0, 3_000.0, 10_000.0, 30_000.0, 100_000.0)
EASE_SEARCH_START = 2  # 3,000: the middle of the grid, one step each way tells the direction
#: The ``cf`` source's content→CF ridge penalties a tuned fit may choose (``adapter_l2="auto"``): on the
#: carved pseudo-cold items, climbing from :data:`ADAPTER_SEARCH_START` (10, the fixed penalty before)
#: while a neighbour's Recall@``tune_k`` is higher; one solve of the same normal equations per value.
ADAPTER_PENALTIES: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
ADAPTER_SEARCH_START = 4  # 10
#: The ``trending`` source's half-lives in days a tuned fit may choose (``trending_half_life="auto"``; interactions
#: with timestamps): popularity with each interaction decayed by its age before the newest one. New users click
#: what is popular *now*: on ml-100k's latest-arriving users (seeds 0–2, 177 per n) a 30-day half-life found
#: 0.163 of their items at n = 0 against 0.122 for plain counts. An untuned fit that weighs it uses 30.
TRENDING_HALF_LIVES: tuple[float, ...] = (365.0, 180.0, 90.0, 60.0, 30.0, 14.0, 7.0)
TRENDING_DEFAULT_HALF_LIFE = 30.0
#: Sources made for new users: the ``warm`` regime (users with long histories) starts them at 0. The
#: ``ease`` λ is chosen on masked-click users; starting it at 1 for warm users too cost ml-100k's warm
#: task 0.4144 -> 0.3994 (3 seeds), and the t >= 3 bar did not take it out.
NEW_USER_SOURCES = ("ease",)
#: Sources that score every item without interactions 0: over new items only, their lists are one
#: tie, which the stacker reads as "not listed" (:func:`coldkit.models.stacker.decided_by_score`),
#: so they are not computed for it there (at 10k users x 1,000 new items: seconds for nothing).
INTERACTION_ONLY_SOURCES = ("item_knn", "ease", "trending")
#: Sources that count interactions by their time: off when the interactions have no timestamps.
TIMED_SOURCES = ("trending",)
#: At most this many queries per validation task in one carve (a seeded sample beyond it; see
#: :func:`coldkit.models.tuning.carve_validation`). A carve holding out fewer users than this makes
#: ``validation_carves="auto"`` pool a second one.
MAX_VALIDATION_QUERIES = 400


def _check_sources(sources: object) -> list[str]:
    """``sources`` as a list of known source names, or InvalidInputError naming what is wrong."""
    if isinstance(sources, str):
        raise InvalidInputError(
            f"sources must be a list of source names, e.g. [{sources!r}] "
            f"(--option sources='[\"{sources}\"]'), not the single string {sources!r}"
        )
    if not isinstance(sources, (list, tuple, set, frozenset)):
        raise InvalidInputError(f"sources must be a list of source names ({', '.join(SOURCES)}), got {sources!r}")
    unknown = [name for name in sources if not isinstance(name, str) or name not in SOURCES]
    if unknown:
        raise InvalidInputError(f"unknown source(s) {unknown} in sources; the hybrid's sources: {', '.join(SOURCES)}")
    return list(sources)


def _profile_text(text: object, user: object = None) -> str:
    """A profile's text: missing (None, NaN, pandas' NA) is no text; a number is its digits (an age of 24 is
    "24", 24.0 too); anything else (bytes, a list) is refused, naming the user: ``str()`` made it "b'...'" or
    "['a', 'b']" and the profile source read that as the user's words."""
    if text is None or text is pd.NA or text is pd.NaT or (isinstance(text, (float, np.floating)) and np.isnan(text)):
        return ""
    if isinstance(text, str):
        return text
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        return str(int(text)) if float(text).is_integer() else str(text)
    raise InvalidInputError(
        f"user_profiles: the profile of user {str(user)!r} is {type(text).__name__} {text!r:.60}; give a text "
        "(a string; a number is read as its digits; None for no text)"
    )


class ProfileKNN(NeighbourVoting):
    """User-based kNN on profile *text*: the training users whose profiles read most like the query's text.

    ``score(q, i) = sum_{v in N(q)} cos(text_q, text_v) x_vi``. Needs ``user_profiles``
    (external user id -> text) for the training users. A query without text reads its user's own
    profile when it is a training user who has one (``stored_profiles=True``, the default), the user
    never being their own neighbour; any other query without text scores 0 everywhere (one without
    clicks then gets the most popular items).

    Example::

        model = ProfileKNN(user_profiles=data.user_profiles, encoder="hashing").fit(train)
        model.recommend([UserQuery(text="A 25 year old woman who works as artist.")], k=10)
        model.recommend([UserQuery(user=3)], k=10)  # user 3's own profile text
    """

    name = "profile-knn"

    def __init__(
        self, user_profiles: Mapping[str, str], encoder: str | Encoder | Sequence[str | Encoder] = "hashing", neighbors: int = 50,
        stored_profiles: bool = True,
    ) -> None:
        if not isinstance(user_profiles, Mapping) or not user_profiles:
            raise InvalidInputError("profile-knn needs user_profiles: a non-empty mapping user id -> text")
        # ids compared as text, as everywhere (an int 101 is the id "101"): int keys matched no training user,
        # and the hybrid dropped its profile source with "only 0 training user(s) have a profile text"
        self.user_profiles = {str(user): _profile_text(text, user) for user, text in user_profiles.items()}
        encoder = _first_encoder(encoder, "profile-knn")  # several encoders (the hybrid's): profiles are read by the first
        self.encoder: Encoder = encoder_from_spec(encoder) if isinstance(encoder, str) else encoder
        self.neighbors = check_k(neighbors, "neighbors")  # int() truncated 2.5 to 2 and failed on inf as OverflowError
        # A training user asked without text got every item at score 0, in the catalogue's index order
        # (clicks known, so no popularity fallback either), though their profile is right here. The
        # hybrid turns it off: there the text's presence decides the source's weight, and a query
        # without text is answered by the click sources.
        self.stored_profiles = check_flag(stored_profiles, "stored_profiles")

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
        rows = [b for b, q in enumerate(queries) if q.has_text]
        if rows:
            encoded = np.asarray(self.encoder.encode_texts([str(queries[b].text) for b in rows]), dtype=np.float32)
            self._vote(weights, rows, encoded, queries)
        if self.stored_profiles:
            # their own stored vectors, apart from the texts: a batch of texts alone ranks as it always did
            stored = [b for b, q in enumerate(queries) if not q.has_text and q.user is not None and self._has_text[int(q.user)]]
            if stored:
                self._vote(weights, stored, self.user_vectors_[[int(queries[b].user) for b in stored]], queries)  # type: ignore[arg-type]
        return weights

    def _vote(self, weights: np.ndarray, rows: list[int], vectors: np.ndarray, queries: Sequence[UserQuery]) -> None:
        """Fill ``weights[rows]`` with the cosines of their ``neighbors`` nearest training users (the user not their own)."""
        exclude = [np.array([queries[b].user]) if queries[b].user is not None else np.empty(0, np.int64) for b in rows]
        scores, users = topk(vectors, self.user_vectors_, self.neighbors, metric="cosine", exclude=exclude)
        valid = (users >= 0) & np.isfinite(scores)
        r = np.repeat(np.asarray(rows), users.shape[1]).reshape(users.shape)
        weights[r[valid], users[valid]] = np.maximum(scores[valid], 0.0)



#: (known clicks, has text, has friends) per query: what the blend and the stacker read of a batch.
_Facts = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _CarveTask:
    """One validation task of one carve, as the weights' search and the stacker read it.

    Everything that depends on the sources' fit is taken while they are fitted on this carve: a
    later carve fits them again, on data that holds this carve's held-out users' clicks.
    """

    task: ValidationTask
    queries: list[UserQuery]
    reach: dict[str, np.ndarray]
    exercised: list[str]
    ranked: Future[dict[str, Ranked]] | None
    #: (the stacker's query features, its item features) under this carve's fit; None without a stacker
    facts: tuple[np.ndarray, np.ndarray] | None

    def result(self) -> dict[str, Ranked]:
        assert self.ranked is not None
        return self.ranked.result()


def _pooled(objectives: Sequence[Callable[[Mapping[str, float]], np.ndarray]]) -> Callable[[Mapping[str, float]], np.ndarray]:
    """One objective over several carves' tasks: each unit's recall (a query's, or a new item's) side by side."""
    if len(objectives) == 1:
        return objectives[0]
    return lambda weights: np.concatenate([objective(weights) for objective in objectives])


def _places_words(encoder: Any) -> bool:
    """Whether ``encoder`` (or each of a list that encodes texts) can place a user's words among the
    items: not the precomputed encoder without its ``text_encoder``, nor a multimodal one without a
    text block (both raise on a text; asked before fitting, so told by their form, not by a call)."""
    for part in encoder if isinstance(encoder, (list, tuple)) else [encoder]:
        if getattr(part, "encodes_texts", True) is False:
            continue  # item attributes: a zero part for any text, which is no failure
        name = getattr(part, "name", None)
        if name == "precomputed" and getattr(part, "text_encoder", None) is None:
            return False
        if name == "multimodal" and "text" not in getattr(part, "encoders", {"text": None}):
            return False
    return True


class Hybrid(Recommender):
    """coldkit's recommended configuration: CF + cold adapters + content + popularity, fused with learned weights.

    By default (``tune=True``) the hybrid learns its source weights from the training data it is
    given: it carves a validation split out of them (pseudo-cold items, hidden clicks of known
    users, masked clicks of held-out users; see :mod:`coldkit.models.tuning`), fits itself on the
    rest, picks per regime the weights that maximise Recall@``tune_k`` on the carved queries, and
    refits on everything. Nothing from a test set is seen. When the data are too small to carve a
    usable split it keeps the documented default weights and says so in ``notes_``.

    Options:
        encoder: encoder name or instance for content and the adapter (default: ``"bert"`` if
            installed, else ``"hashing"``); ``encoder_options`` for ``get_encoder``.
        whitening: ``"center"`` (default, measured best), ``"whiten"`` or ``"none"``.
        warm: warm model of the CF source: ``"auto"`` (default: EASE up to ~10⁴ items where it
            fits the memory budget, else ALS; see ``coldkit.models.cold.choose_warm``; where the size
            rule gives EASE, a tuned fit without ``warm_options`` also fits the cold adapters over ALS on
            its validation carve (when ``implicit`` is installed, the carve has pseudo-cold items and ALS
            fits the budget beside EASE) and keeps ALS when they rank those items better:
            ``warm_search_``), ``"ease"``, ``"als"``, ``"svd"`` or ``"item-knn"``; ``warm_options``.
        memory_budget: bytes or a size like ``"6G"`` the warm model may use (default: a share
            of the machine's memory, so the choice is repeatable); a model that does not fit fails before allocating.
        adapter_l2: ridge penalty of the content→CF ridge map (the ``cf`` source): a number, or
            ``"auto"`` (default): a tuned fit chooses it among :data:`ADAPTER_PENALTIES` on its
            pseudo-cold validation items (``adapter_search_``; an untuned fit uses 10).
        fusion: ``"weighted"`` (default, per-row min-max normalised scores) or ``"rrf"``, or any
            registered strategy; ``fusion_options`` for it.
        weights: base weight per source (keys of :data:`coldkit.models.blend.SOURCES`); the
            defaults are :data:`coldkit.models.blend.DEFAULT_WEIGHTS` (``text`` 0 with
            ``user_profiles``); queries whose candidates are all new items start from
            :data:`coldkit.models.blend.COLD_ITEM_WEIGHTS` instead, for the sources not given here.
            A source given weight 0 here is switched off, also for tuning.
        sources: restrict the hybrid to these sources (default: every source it can serve:
            ``profile`` needs ``user_profiles``, ``friends`` needs ``user_graph``).
        user_trust: interactions at which CF gets half its weight (the adaptive default blend).
        item_trust: interactions at which an item's CF vector gets half the weight of its
            content-mapped vector.
        depth: how many items each source contributes to the fusion (at least ``k``).
        user_profiles: optional external user id -> profile text; adds the ``profile`` source.
        user_graph: optional external user id -> friend ids; adds the ``friends`` source.
        adaptive: False uses the base weights for every query (and turns tuning off).
        tune: learn the weights on a carved validation split: ``True``, ``False`` or ``"auto"``
            (default: tune catalogues up to :data:`AUTO_TUNE_MAX_ITEMS` items; tuning fits the
            hybrid twice, so larger catalogues keep the default weights unless ``tune=True``).
        tune_k: the list length whose recall the tuning maximises (default 20).
        stack: also fit a LambdaRank stacker over the sources on the same validation split
            (:mod:`coldkit.models.stacker`; needs ``lightgbm``) and let it answer the regimes where
            it beats the weighted blend there; ``stacker_`` holds it, ``words_stacker_`` the one of the
            new users who give only words (both None: the blend answers all).
        validation_seed: seed of the carved validation split.
        validation_carves: how many validation splits the weights (and the stacker) are learned on,
            pooled: each holds out other users and items, and costs one more fit of the sources on
            it. ``"auto"`` (default): 2 where the first holds out fewer than
            :data:`MAX_VALIDATION_QUERIES` users (a small data set, where one draw of a few hundred
            users decides the weights), else 1.
        lexical: ``"auto"`` (default), ``True`` or ``False``: the content→CF adapters (and the content
            sources) read the item text through the LM encoder *and* the built-in ``hashing`` (TF-IDF)
            encoder at once, their vectors concatenated. Exact words (tags, years, names) are what a
            sentence encoder blurs and what new items often share with the old ones. ``"auto"``: when
            the encoder is a text model (not ``hashing`` or ``precomputed``) and the catalogue has at
            most :data:`AUTO_TUNE_MAX_ITEMS` items (the content-kNN adapter's cost grows with the
            dimension). See docs/evaluation.md for the measurement.
        attributes: ``"auto"`` (default), ``True`` or ``False``: the content→CF ridge map (the ``cf``
            source) also reads the item table's numeric columns (a year, a price, a 0/1 flag) and a
            year at the end of the titles ("Heat (1995)"), as smooth features
            (:mod:`coldkit.models.attributes`). ``"auto"``: whenever the table has any and the
            catalogue has at most :data:`AUTO_TUNE_MAX_ITEMS` items (not beside a list of encoders:
            that is the user's own joined space); ``True``: also beside a list, and an
            error when the table has none. ``attributes_used_`` names what a fit read.
        attribute_weight: the attributes' weight in the ridge map's features beside the encoder's 1
            (and TF-IDF's 1), default 0.5.
        trending_half_life: the ``trending`` source (popularity with decayed interactions: one that many
            days before the newest counts half; needs timestamps) uses this half-life, or with ``"auto"``
            (default) a tuned fit chooses among :data:`TRENDING_HALF_LIVES` by the source's own
            Recall@``tune_k`` on the masked-click users (``trending_search_``; untuned: 30 days).

    Example::

        model = coldkit.models.create("hybrid", encoder="hashing").fit(train)
        ranked = model.recommend([UserQuery(user=3), UserQuery(history=np.array([10]), text="space opera")], k=10)
        print(model.explain(UserQuery(user=3), int(ranked.indices[0, 0])))
        print(model.learned_.regimes)        # the weights it chose, per regime
    """

    name = "hybrid"

    def __init__(
        self,
        encoder: str | Encoder | None = None,
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        warm: str = "auto",
        warm_options: dict[str, Any] | None = None,
        adapter_l2: float | str = "auto",
        fusion: str = "weighted",
        fusion_options: dict[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        user_trust: float = DEFAULT_USER_TRUST,
        item_trust: float = 2.0,
        depth: int = DEFAULT_DEPTH,
        user_profiles: Mapping[str, str] | None = None,
        user_graph: Mapping[str, Sequence[str]] | None = None,
        adaptive: bool = True,
        cache: bool = True,
        sources: Sequence[str] | None = None,
        tune: bool | str = "auto",
        tune_k: int = 20,
        validation_seed: int = 0,
        validation_carves: int | str = "auto",
        memory_budget: str | int | None = None,
        stack: bool = True,
        lexical: bool | str = "auto",
        attributes: bool | str = "auto",
        attribute_weight: float = ATTRIBUTE_WEIGHT,
        trending_half_life: float | str = "auto",
    ) -> None:
        if user_profiles is not None and not isinstance(user_profiles, Mapping):
            # a string or a number here was an AttributeError on .values(), a traceback naming no option
            hint = " (a pandas Series: .to_dict())" if hasattr(user_profiles, "to_dict") else ""
            raise InvalidInputError(
                f"user_profiles must be a mapping user id -> profile text, got {type(user_profiles).__name__}{hint}"
            )
        if user_profiles and not any(_profile_text(text, user).strip() for user, text in user_profiles.items()):
            user_profiles = None  # every profile is empty: there is no profile text, which is fine
        if encoder is None:
            encoder = default_encoder_name()
        enc = encoder_from_spec(encoder, check_options(encoder_options, "encoder_options")) if isinstance(encoder, str) else encoder
        defaults = dict(DEFAULT_WEIGHTS)
        try:  # a mapping, a pandas Series or (source, weight) pairs, as dict() reads them
            as_dict = {} if weights is None else dict(weights)
        except (TypeError, ValueError):
            # "notjson" came back as "dictionary update sequence element #0 has length 1; 2 is required"
            raise InvalidInputError(
                f"weights must be a mapping of source -> weight, e.g. weights={{\"cf\": 1, \"content\": 0.5}} "
                f"(on the command line a JSON object), got {weights!r}"
            ) from None
        given = check_weights(as_dict)
        # with profiles, the profile source reads a query's text (``text`` starts at 0) — unless the
        # user switched it off (weights={"profile": 0}): then the text is matched against item texts
        profiles_speak = bool(user_profiles) and given.get("profile", DEFAULT_WEIGHTS["profile"]) > 0
        if profiles_speak:
            defaults["text"] = 0.0
        if sources is not None:
            sources = _check_sources(sources)
            # a source the user named starts weighed: item-kNN and TF-IDF start at 0 only because the
            # full hybrid tries them on its validation split, and 0 would switch off what was chosen
            # (text, 0 beside profiles, takes its own default back)
            defaults.update({name: DEFAULT_WEIGHTS[name] or 1.0 for name in sources if defaults[name] == 0})
            ignored = sorted(name for name, w in given.items() if w > 0 and name not in sources)
            if ignored:  # a weight that could never act: a typo or a forgotten source, not a silent no-op
                raise InvalidInputError(
                    f"weights give {ignored} a weight but sources={list(sources)} leaves them out: "
                    "add them to sources or drop their weights"
                )
        self.weights = {**defaults, **given}
        # the cold-item regime's start; a weight the user gave holds there too
        self._cold_item_weights = {**self.weights, **{k: v for k, v in COLD_ITEM_WEIGHTS.items() if k not in given}}
        available = set(SOURCES if sources is None else sources)
        if not user_profiles:
            available.discard("profile")
        if not user_graph:
            available.discard("friends")
        # A source the user switched off stays off; the rest may be weighed by tuning.
        self.sources = [name for name in SOURCES if name in available and not (name in given and given[name] == 0)]
        if not self.sources:
            named = list(SOURCES if sources is None else sources)
            if not named:
                raise InvalidInputError(f"sources is empty: name at least one of {', '.join(SOURCES)}")
            # a source the user named that has no data to read (the full hybrid just leaves it out)
            why = [f"{name!r} needs {needs} (none given, or all empty)" for name, needs, data in
                   (("profile", "user_profiles", user_profiles), ("friends", "user_graph", user_graph))
                   if sources is not None and name in named and not data]
            off = sorted({name for name in named if given.get(name, 1.0) == 0})
            if off:
                why.append(f"weight 0 switches off {off}")
            raise InvalidInputError(f"the hybrid has no source left: {'; '.join(why)}")
        for label, value in (("user_trust", user_trust), ("item_trust", item_trust)):
            check_number(value, label, at_least=0)
        if isinstance(adapter_l2, str) and adapter_l2 != "auto":
            raise InvalidInputError(f"adapter_l2 must be a number >= 0 or 'auto', got {adapter_l2!r}")
        # "auto": a tuned fit chooses it (_choose_adapter_penalty); it starts from, and untuned fits keep, 10
        self._adapter_l2_auto = adapter_l2 == "auto"
        adapter_l2 = ADAPTER_PENALTIES[ADAPTER_SEARCH_START] if self._adapter_l2_auto else check_number(adapter_l2, "adapter_l2", at_least=0)
        self.user_trust, self.item_trust = float(user_trust), float(item_trust)
        self.depth, self.tune_k = check_k(depth, "depth"), check_k(tune_k, "tune_k")
        # switches are checked, not bool()-ed: bool("no") and bool(nan) are True, so --option stack=no
        # (or adaptive=off) ran the stacker (the adaptive blend) anyway, without a word
        self.adaptive = check_flag(adaptive, "adaptive")
        if tune not in (True, False, "auto"):
            raise InvalidInputError(f"tune must be True, False or 'auto', got {tune!r}")
        self.tune: bool | str = tune if self.adaptive else False
        # int() truncated 0.5 to 0, and a negative seed failed only at fit, inside numpy
        self.validation_seed = check_seed(validation_seed, "validation_seed")
        if validation_carves != "auto" and not (isinstance(validation_carves, (int, np.integer)) and not isinstance(validation_carves, bool) and 1 <= validation_carves <= 5):
            raise InvalidInputError(f"validation_carves must be 'auto' or an integer from 1 to 5, got {validation_carves!r}")
        self.validation_carves: int | str = validation_carves if validation_carves == "auto" else int(validation_carves)
        self.stack = check_flag(stack, "stack")
        self.fusion = get_fusion(fusion, **(fusion_options or {}))
        if lexical not in (True, False, "auto"):
            raise InvalidInputError(f"lexical must be True, False or 'auto', got {lexical!r}")
        self.lexical: bool | str = lexical
        if attributes not in (True, False, "auto"):
            raise InvalidInputError(f"attributes must be True, False or 'auto', got {attributes!r}")
        self.attributes: bool | str = attributes
        check_number(attribute_weight, "attribute_weight", above=0)
        self.attribute_weight = float(attribute_weight)
        if isinstance(trending_half_life, str) and trending_half_life != "auto":
            raise InvalidInputError(f"trending_half_life must be a number of days > 0 or 'auto', got {trending_half_life!r}")
        self._half_life_auto = trending_half_life == "auto"
        half_life = (
            TRENDING_DEFAULT_HALF_LIFE if self._half_life_auto
            else check_number(trending_half_life, "trending_half_life", at_least=MIN_HALF_LIFE_DAYS)
        )
        self.trending = RecentPopularity(half_life_days=half_life)
        self.trending_search_: dict[float, float] = {}  # half-life tried -> validation Recall@tune_k (the last fit's)
        self._encoder = enc
        self._adapter_options: dict[str, Any] = dict(
            warm=warm, warm_options=warm_options, whitening=whitening, item_trust=item_trust, cache=cache
        )
        self._adapter_l2, self._memory_budget = adapter_l2, memory_budget
        self._build_adapters(enc)
        # what the adapters read besides the encoder: (TF-IDF features?, attribute columns); a user's list never changes
        self._features_key: tuple[bool, tuple[str, ...]] = (False, ())
        self.attributes_used_: list[str] = []  # the item attributes the last fit read (see ``attributes``)
        self._attributes_reader: AttributeFeatures | None = None  # made on first use (see _attribute_reader)
        self.popularity = Popularity()
        self.profile = (
            ProfileKNN(user_profiles, encoder=_fresh_encoder(encoder, encoder_options), stored_profiles=False) if user_profiles else None
        )
        self.item_knn = ItemKNN()
        self.ease = self._fresh_ease()
        self.ease_search_: dict[float, float] = {}  # λ tried -> validation Recall@tune_k (the last fit's)
        self.adapter_search_: dict[float, float] = {}  # the cf ridge map's λ tried -> validation cold-item Recall@tune_k
        # warm kind compared -> the cold adapters' validation Recall@tune_k (the last fit's; see _choose_warm_space)
        self.warm_search_: dict[str, dict[str, float]] = {}
        # TF-IDF over the same item text: on tag-like text (lastfm) it beats sentence encoders
        self.tfidf = ContentRecommender(encoder="hashing", whitening="none", cache=cache)
        self.friends = FriendsPopularity(user_graph=user_graph) if user_graph else None
        self.learned_: LearnedWeights | None = None
        self.stacker_: Stacker | None = None
        # the new users who give only words have a stacker of their own (see _learn_weights)
        self.words_stacker_: Stacker | None = None
        self._item_features: np.ndarray | None = None
        self.notes_: list[str] = []
        self._tuning: bool | None = None
        self._text_less = False  # set by fit: the catalogue has no item text (ids + item vectors)
        self._untimed = False  # set by fit: not every interaction has a timestamp (no ``trending`` source)
        # set by fit: no ``ease`` source this fit (EASE too large here, or no validation split to choose its λ on)
        self._ease_off = False
        # asked for by a weight or by name: an untuned fit says it is dropped
        self._ease_asked = given.get("ease", 0.0) > 0 or (sources is not None and "ease" in sources)
        # set by fit: too few training users have a profile text for the ``profile`` source (PROFILE_MIN_USERS)
        self._profile_off = False
        # the text weight as built, and whether its 0 is only the "profiles speak for the text" default
        # (not the user's weight): that 0 is lifted in a fit whose profile source sits out
        self._text_weight_init = self.weights["text"]
        self._text_zero_for_profiles = profiles_speak and "text" not in given and self.weights["text"] == 0.0

    def _build_adapters(self, features: Any, attributes: AttributeFeatures | None = None) -> None:
        """The two content→CF adapters over ``features`` (an encoder, or a list: concatenated vectors).

        ``attributes`` join the ridge map's features only. A regression learns how much a year or a
        price says about the CF vector; a cosine neighbourhood cannot, and with them the content-kNN
        adapter picked same-era neighbours over same-topic ones (MiniLM + TF-IDF, cold-item Recall@20:
        ml-latest-small seeds 0–1 0.2701 → 0.2438, while the ridge map rose 0.2819 → 0.2927).
        """
        self.cf, self.cf_knn = self._new_adapters(features, attributes)
        # the content sources share an adapter's fitted ContentRecommender (one encoding pass): the
        # ridge map's when it reads what they read, else the content-kNN adapter's (no attributes)
        self.content: ContentRecommender = self.cf.content if attributes is None else self.cf_knn.content

    def _new_adapters(
        self, features: Any, attributes: AttributeFeatures | None = None, warm: str | None = None
    ) -> tuple[ColdRidge, ColdKNN]:
        """The (``cf``, ``cf_knn``) adapters of :meth:`_build_adapters`, unfitted; ``warm``: another warm kind than the option's."""
        options = self._adapter_options if warm is None else {**self._adapter_options, "warm": warm}
        if attributes is None:
            cf = ColdRidge(l2=self._adapter_l2, encoder=features, memory_budget=self._memory_budget, **options)
        else:
            parts = list(features) if isinstance(features, (list, tuple)) else [features]
            weights = [1.0] * len(parts) + [self.attribute_weight]
            cf = ColdRidge(
                l2=self._adapter_l2, encoder=[*parts, attributes], memory_budget=self._memory_budget,
                **{**options, "encoder_weights": weights},
            )  # fmt: skip
        cf_knn = ColdKNN(neighbors=50, normalize=True, encoder=features, **options)
        # both adapters rank over the cf source's warm space (fit_sharing): its budget check counts both
        # adapters' tables, not one's (at 40k items over 6.5k warm ones EASE's estimate alone is 2.1 GB, the fit's peak 5.1 GB)
        cf.warm.item_tables = 1 + ADAPTER_ITEM_TABLES * (2 if "cf_knn" in self.sources else 1)
        return cf, cf_knn

    def _check_profiles(self, train: Interactions) -> None:
        """Switch the ``profile`` source off for this fit when fewer than :data:`PROFILE_MIN_USERS`
        training users have a profile text, and give the query's own text its default weight back.

        With ``user_profiles`` the query text is read as a profile like the training users' (``text``
        at 0, ``profile`` speaks); that needs training users with profiles to vote. Profiles written
        for new users only are statements of interest with no one to compare them to.
        """
        self._profile_off = False
        if self.profile is not None and "profile" in self.sources:
            profiles = self.profile.user_profiles
            with_text = sum(1 for user in train.user_ids if str(profiles.get(str(user)) or "").strip())
            if with_text < PROFILE_MIN_USERS:
                self._profile_off = True
                instead = (
                    "a user's profile text is matched against the item texts instead" if "text" in self.sources
                    else "a user's profile text is not used (no 'text' among the sources)"
                )
                self.notes_.append(
                    f"hybrid: only {with_text} training user(s) have a profile text (fewer than {PROFILE_MIN_USERS}): "
                    f"no profile source; {instead}"
                )
        lifted = self._profile_off and self._text_zero_for_profiles
        self.weights["text"] = self._cold_item_weights["text"] = DEFAULT_WEIGHTS["text"] if lifted else self._text_weight_init

    def _lexical_applies(self, train: Interactions) -> bool:
        """Whether this fit adds TF-IDF features to the LM encoder's (see ``lexical``)."""
        name = str(getattr(self._encoder, "name", ""))
        if self.lexical is False or isinstance(self._encoder, (list, tuple)) or name in ("hashing", "precomputed"):
            return False
        if not train.catalog.text_columns:  # ids and media only (product photos): no words to count
            return False
        return self.lexical is True or train.n_items <= AUTO_TUNE_MAX_ITEMS

    def _attribute_names(self, train: Interactions) -> tuple[str, ...]:
        """The item attributes this fit reads (see ``attributes``): numbers in the item table, titles' years."""
        if self.attributes is False:
            return ()
        given: Any = self._encoder
        own_list = isinstance(given, (list, tuple))
        if any(isinstance(e, AttributeFeatures) for e in (given if own_list else [given])):
            return ()  # the user's own encoder (list) reads them already
        if own_list and self.attributes == "auto":
            return ()  # a list of encoders is the user's own joined space (as for ``lexical``); True adds them
        if self.attributes == "auto" and train.n_items > AUTO_TUNE_MAX_ITEMS:
            # with attributes the ridge map reads its own content table beside the others' (at 1M items
            # and 384-d, another 1.5 GB); measured only on catalogues this size (docs/evaluation.md)
            return ()
        found = self._attribute_reader().found(train)
        if self.attributes is True and not found:
            raise InvalidInputError(
                "attributes=True but the item table has no numeric attribute column and no title ending in a year "
                f"(columns: {[c for c in train.catalog.table.columns if c != 'item_id']})"
            )
        return tuple(found)

    def _adapter_features(self, lexical: bool, attributes: tuple[str, ...]) -> tuple[Any, AttributeFeatures | None]:
        """The adapters' encoders (the encoder, TF-IDF beside it) and the attributes for the ridge map."""
        if not lexical:
            features: Any = self._encoder
        else:
            own = list(self._encoder) if isinstance(self._encoder, (list, tuple)) else [self._encoder]
            # the tfidf source's own encoder (the same hashed TF-IDF): fitted on the same catalogue, its
            # IDF and vectors are computed once and shared (see _fit_sources), not once per content model
            features = [*own, self.tfidf.encoder]
        # the reader that found ``attributes`` on this catalogue: it encodes them without parsing the table again
        return features, (self._attribute_reader() if attributes else None)

    def _attribute_reader(self) -> AttributeFeatures:
        """The item attributes' encoder: every numeric column and title year but the media columns.

        One per hybrid, so the columns found when choosing the features are the ones it encodes
        (its columns follow the catalogue; another set of columns rebuilds the adapters, see ``fit``).
        """
        if self._attributes_reader is None:
            self._attributes_reader = AttributeFeatures(skip=_media_columns_of(self))
        return self._attributes_reader

    def _served_sources(self) -> list[str]:
        """:attr:`sources` less those this fit's data cannot serve (no item text: no ``tfidf``; no
        timestamps: no ``trending``)."""
        off = (
            (TEXT_SOURCES if self._text_less else ()) + (("ease",) if self._ease_off else ())
            + (("profile",) if self._profile_off else ()) + (TIMED_SOURCES if self._untimed else ())
        )  # fmt: skip
        return [name for name in self.sources if name not in off]

    def _uses(self, name: str) -> bool:
        """Whether source ``name`` can get a positive weight (so must be fitted)."""
        if name not in self._served_sources():
            return False
        tuning = getattr(self, "_tuning", None)  # set by fit: whether this fit learns the weights
        return bool(self.tune if tuning is None else tuning) or self.weights.get(name, 0.0) > 0

    def _will_tune(self, train: Interactions) -> bool:
        """Whether fitting on ``train`` learns the weights (``tune="auto"``: up to :data:`AUTO_TUNE_MAX_ITEMS` items).

        When it does not, sources whose default weight is 0 (item-kNN, TF-IDF) are never fitted: at
        100k items they cost minutes and would not be used.
        """
        return self.tune is True or (self.tune == "auto" and train.n_items <= AUTO_TUNE_MAX_ITEMS)

    @property
    def used_sources(self) -> list[str]:
        """The sources that can speak for a query: not switched off, and weighed or tuned."""
        return [name for name in self._served_sources() if self._uses(name)]

    def _fit_sources(self, train: Interactions) -> None:
        # the ridge map keeps its raw TF-IDF vectors until the content and tfidf sources took them: hashing
        # 20,000 item texts of 200-500 words (the IDF, then the vectors or their cache) took 6-9 s per model
        self.cf.content.keep_raw = any(e is self.tfidf.encoder for e in self.cf.content.encoders)
        try:
            self._fit_sources_now(train)
        finally:
            self.cf.content.keep_raw = False
            self.cf.content.release_raw()

    def _fit_sources_now(self, train: Interactions) -> None:
        self._remember(train)
        # a tuned fit's second pass: nothing of the validation fit is read again, so its big tables go
        # now, not as each source is refitted (cf_knn and ease are refitted after cf's EASE, the peak)
        self.cf_knn.release_fit()
        self.ease.release_fit()
        self.cf.fit(train)
        if self.content is not self.cf.content:
            # the ridge map reads the attributes beside the encoder, the other sources the encoder alone:
            # they whiten the encoder's vectors the ridge map already has (one encoding pass, not two)
            self.content.fit(train, reuse=self.cf.content)
        if not self._uses("tfidf"):
            self.cf.content.release_raw()  # no one else takes them
        if self._uses("cf_knn"):
            self.cf_knn.fit_sharing(train, self.cf.warm, self.content)
        self.popularity.fit(train)
        if self.profile is not None and self._uses("profile"):
            self.profile.fit(train)
        if self._uses("item_knn"):
            with stage(f"fit item_knn source (item-kNN, {int(np.count_nonzero(train.item_counts())):,} warm items)"):
                self.item_knn.fit(train)
        if self._uses("ease"):
            self._fit_ease(self.ease, train)
        if self._uses("tfidf"):
            with stage(f"fit tfidf source (TF-IDF of the words of {train.n_items:,} items)"):
                self.tfidf.fit(train, reuse=self.cf.content)
                self.cf.content.release_raw()  # taken: not held through the rest of the fit
        if self.friends is not None and self._uses("friends"):
            self.friends.fit(train)
        if self._uses("trending"):
            self.trending.fit(train)
        if self.stack and self._tuning:
            # the stacker's item features: popularity in training, and as content predicts it (only a
            # tuned fit can have a stacker; at 1M items the float64 ridge input alone would be 3 GB)
            # sources without ``popularity`` (sources=["tfidf"]: an ablation) keep it out of the stacker
            # too: constant features, on which LightGBM never splits
            self._item_features = np.zeros((train.n_items, len(ITEM_FEATURES)), dtype=np.float32)
            if self._reads_popularity():
                with stage(f"fit the stacker's item features (popularity as content predicts it, {train.n_items:,} items)"):
                    counts = train.item_counts()
                    predicted = content_popularity(self.content.item_vectors(), counts)
                    self._item_features = np.column_stack([np.log1p(counts), predicted]).astype(np.float32)

    def fit(self, train: Interactions) -> "Hybrid":
        # the attribute columns are remembered within one fit: the table may change in place between
        # fits, and a model should not keep (or save) the catalogue of a fit before
        try:
            return self._fit_on(train)
        finally:
            if self._attributes_reader is not None:
                self._attributes_reader.forget()
            if not self.attributes_used_:  # asked, found none: not an encoder of this model (results list them)
                self._attributes_reader = None

    def _fit_on(self, train: Interactions) -> "Hybrid":
        train = self._remember(train)
        self.learned_, self.stacker_, self.words_stacker_, self.notes_ = None, None, None, []
        # item vectors without item text (--item-vectors with an id-only table): no TF-IDF source
        self._text_less = not train.catalog.text_columns
        if self._text_less and any(name in TEXT_SOURCES for name in self.sources):
            self.notes_.append("hybrid: the item table has no text column: no TF-IDF source (the item vectors or media stand for the content)")
        self._untimed = not fully_timed(train)
        if self._untimed and any(self.weights.get(name, 0.0) > 0 for name in TIMED_SOURCES if name in self.sources):
            # only where the user weighed it: without timestamps the default hybrid just has no such source
            self.notes_.append("hybrid: the interactions have no timestamps (or not on every row): no trending source")
        self._check_profiles(train)
        key = (self._lexical_applies(train), self._attribute_names(train))
        if key != self._features_key:  # the adapters' features depend on the catalogue (its size, its columns)
            self._build_adapters(*self._adapter_features(*key))
            self._features_key = key
            if self.backend is not None:  # the new sub-models rank through the backend set on the hybrid
                self.set_backend(self.backend)
        self.attributes_used_ = list(key[1])
        if self.cf.warm.requested == "auto":  # the kind a validation chose last fit is chosen afresh (_choose_warm_space)
            self.cf.warm.choose_kind(None)
        self.warm_search_ = {}
        if key[1]:
            self.notes_.append(f"hybrid: item attributes read as content: {', '.join(key[1])}")
        self._tuning = self._will_tune(train)
        # the ease source exists only with the λ a validation split chose for it (see _choose_ease_penalty)
        self._ease_off = not (self._tuning and self._ease_fits(train))  # _tuning implies tune (see _will_tune)
        self.ease = self._fresh_ease()  # a refit searches afresh
        self.ease_search_ = {}
        if self._adapter_l2_auto:  # so does the cf source's penalty; an untuned fit keeps the start
            self.cf.l2 = ADAPTER_PENALTIES[ADAPTER_SEARCH_START]
        self.adapter_search_ = {}
        if self._half_life_auto:  # and the trending source's half-life
            self.trending.half_life_days = TRENDING_DEFAULT_HALF_LIFE
        self.trending_search_ = {}
        if self._ease_off and self._tuning and "ease" in self.sources:
            self.notes_.append(
                f"hybrid: no ease source: {int(np.count_nonzero(train.item_counts())):,} warm items is above "
                f"{EASE_MAX_ITEMS:,} or leaves no room in the memory budget beside the cf source"
            )
        elif self._ease_off and self._ease_asked and "ease" in self.sources:
            self.notes_.append("hybrid: no ease source: its λ is chosen on the validation split, which only a tuned fit carves")
        if self.tune == "auto" and not self._tuning:
            self.notes_.append(
                f"hybrid: {train.n_items:,} items is above {AUTO_TUNE_MAX_ITEMS:,}: default weights "
                "(tune=True learns them anyway, at the cost of a second fit)"
            )
        stacking: Future[tuple[Stacker | None, Stacker | None, list[str]]] | None = None
        if self._tuning and self.tune:
            self.cf.warm.check_fits(train)  # a budget too small fails now, naming the data's own sizes, not the carve's
            with self.cf.warm.keeping_kind():  # the carve's sources in the space the final ones will have
                self.learned_, stacking = self._learn_weights(train)
        try:
            # the second pass of a tuned fit: say why the sources are fitted again
            refit = stage(f"refit the sources on all {train.matrix.nnz:,} training interactions") if self.learned_ is not None else nullcontext()
            # after a carve's fit, an ALS warm model starts from the carve's factors (a third of the iterations)
            continued = self.cf.warm.continuing() if self.learned_ is not None else nullcontext()
            with refit, continued:
                self._fit_sources(train)
        except BaseException:
            if stacking is not None:
                wait([stacking])  # no thread outlives a failed fit; the fit's own error is the one raised
            raise
        if stacking is not None:
            with stage("wait for the LambdaRank stacker (it trains beside the final fit)"):
                self.stacker_, self.words_stacker_, notes = stacking.result()
            self.notes_.extend(notes)
        words = self.learned_.regimes.get(WORDS) if self.learned_ is not None else None
        if words is not None and words.get("text") == 0.0 and self.words_stacker_ is None and "text" in self._served_sources():
            # a user's own words then change nothing, and the list alone cannot tell them why
            _, after = self.learned_.validation.get(WORDS, (float("nan"), float("nan")))  # type: ignore[union-attr]
            self.notes_.append(
                f"hybrid: a new user's own words weigh 0 here: on the validation users who describe their "
                f"clicks, no weight of their words found more of those clicks (Recall@{self.tune_k} "
                f"{after:.4f} without them); a query with words and no clicks gets the no-clicks list "
                "(weights={'text': w} with tune=False sets one by hand)"
            )
        served = self._served_sources()
        if not served:
            self.notes_.append(
                f"hybrid: none of its sources ({', '.join(self.sources)}) is left this fit: every query gets "
                "the popularity list, the blend's fallback"
            )
        elif not {"popularity", "trending"} & set(served):  # both rank a query without clicks or text
            self.notes_.append(
                "hybrid: a query none of its sources can rank (no clicks and no text for "
                f"{', '.join(served)}) gets the popularity list, the blend's fallback"
            )
        warm = self.cf.warm
        if warm.requested == "auto":  # say which model ran: the choice depends on the data's size and the budget
            self.notes_.append(
                f"hybrid: warm='auto' chose {warm.kind} ({warm.warm_items_.size:,} warm items, "
                f"memory budget {format_bytes(resolve_budget(warm.memory_budget))})"
            )
        return self

    def _learn_weights(
        self, train: Interactions
    ) -> tuple[LearnedWeights | None, Future[tuple[Stacker | None, Stacker | None, list[str]]] | None]:
        """Fit on a carved split, then choose each regime's weights on its validation queries.

        Returns the learned weights and, when a stacker is fitted, its fit running in a thread of its
        own: it reads only the validation tasks, so it overlaps the final fit of the sources (LightGBM
        trains on a fixed number of threads, deterministic whatever runs beside it, and releases the GIL).
        The ``words`` task gets a stacker of its own (``words_stacker_``): the main stacker is one model
        over every other regime's candidates, and its words drawn from item texts would change what
        that model learns for the regimes it already answered.
        """
        with stage(f"carve a validation split from {train.n_users:,} users x {train.n_items:,} items"):
            carved = self._carve(train)
        if not carved.tasks:
            # one note, not a warning and not one per task: a tiny catalogue is a normal input, and the
            # defaults are documented
            self.notes_.append("hybrid: validation split too small to tune on; using the default weights")
            self._ease_off = True  # nothing to choose its λ on
            return None, None
        self.notes_.extend(carved.notes)
        searching = (
            self._adapter_l2_auto and COLD_ITEMS in carved.tasks and self.cf.kernel == "linear" and "cf" in self._served_sources()
        )
        comparing = self._compares_warm_spaces(carved, train)
        self.cf.keep_equations = searching  # one pass over the warm items' features, then a solve per λ tried
        try:
            with stage(f"fit the sources on the validation split's training part ({carved.train.matrix.nnz:,} interactions)"):
                self._fit_sources(carved.train)
            if comparing:
                self._choose_warm_space(carved.tasks[COLD_ITEMS], carved.train)
            if searching:
                self._choose_adapter_penalty(carved.tasks[COLD_ITEMS])
        finally:
            self.cf.keep_equations = False
            self.cf.forget_equations()  # the normal equations are d × warm items floats: not kept past the search
        if self._uses("ease"):
            self._choose_ease_penalty(carved)
        if self._half_life_auto and self._uses("trending") and fully_timed(carved.train):
            self._choose_trending_half_life(carved)
        regimes: dict[str, dict[str, float]] = {}
        scores: dict[str, tuple[float, float]] = {}
        stack_tasks: list[StackTask] = []
        carves = [carved]
        n_queries = sum(len(task.queries) for task in carved.tasks.values())
        n_carves = self._carve_count(carved)
        with stage(
            f"learn the blend weights on {len(carved.tasks)} validation tasks ({n_queries:,} queries"
            + (f", and those of {n_carves - 1} more carve(s)" if n_carves > 1 else "") + ", every source ranks each)"
        ):
            # One worker ranks the tasks in turn while this thread climbs the weights of the one before
            # (the climb reads only its lists, and calls no BLAS: the worker's ALS fold-in limits BLAS's
            # threads process-wide): the same calls in the same order as one after the other, so the
            # same lists, the lazy item maps included.
            ranking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coldkit-rank-task")
            failed = threading.Event()

            def rank_in_turn(task: ValidationTask, queries: list[UserQuery], exercised: list[str]) -> dict[str, Ranked]:
                if failed.is_set():  # a task before this one failed: its error is the one raised, no point ranking on
                    raise RuntimeError("not ranked: an earlier validation task failed")
                try:
                    return self._rank_task(task, queries, exercised)
                except BaseException:
                    failed.set()
                    raise

            def reached(queries: list[UserQuery]) -> tuple[dict[str, np.ndarray], list[str]]:
                """Each source's reach of ``queries``, and the sources that reach any: only those are tuned
                (no query has text: `text` is not)."""
                reach = self._source_factors(queries)
                return reach, [source for source in self._served_sources() if np.any(reach[source] > 0)]

            def submit(task: ValidationTask, exercised: list[str] | None) -> _CarveTask:
                """``task`` of the carve the sources are fitted on now: its queries, what the stacker reads
                of that fit, and its ranking by the ``exercised`` sources (None: found from its queries)."""
                queries = self._check_queries(task.queries)
                reach, reaching = reached(queries)
                if exercised is None:
                    exercised = reaching
                ranked_later = ranking.submit(contextvars.copy_context().run, rank_in_turn, task, queries, exercised) if exercised else None
                cold = task.candidates is not None
                facts = (self._query_features(queries, cold), self._stack_items()) if self.stack else None
                return _CarveTask(task, queries, reach, exercised, ranked_later, facts)

            # the words+clicks users of each carve, ranked under that carve's fit (only their words' weight is
            # learned, after the click regimes': _words_beside_clicks), and their default weights under the first's
            beside_clicks: list[_CarveTask] = []
            beside_defaults: list[dict[str, np.ndarray]] = []

            def submit_beside_clicks(carve: CarvedValidation) -> None:
                task = carve.words_with_clicks
                if task is None:
                    return
                if beside_clicks:
                    beside_clicks.append(submit(task, beside_clicks[0].exercised))
                    return
                queries = self._check_queries(task.queries)
                _, exercised = reached(queries)
                if "text" in exercised:  # else their words cannot speak: nothing to learn
                    beside_clicks.append(submit(task, exercised))
                    beside_defaults.append(self.source_weights(queries, cold_items=False))

            try:
                asked: dict[str, list[_CarveTask]] = {name: [submit(task, None)] for name, task in carved.tasks.items()}
                first = {name: parts[0] for name, parts in asked.items()}
                defaults_of = {name: self.source_weights(part.queries, cold_items=part.task.candidates is not None) for name, part in first.items()}
                submit_beside_clicks(carved)
                for fold in range(1, n_carves):
                    # the sources are fitted again on the next carve: every ranking of this one first, and a
                    # source's error now, before another fit (the tasks after it say only that one failed)
                    for part in [*(p for parts in asked.values() for p in parts), *beside_clicks]:
                        if part.ranked is not None:
                            part.ranked.result()
                    more = self._carve(train, fold=fold, after=carves)
                    usable = {name: task for name, task in more.tasks.items() if first.get(name) is not None and first[name].exercised}
                    if not usable:
                        break
                    carves.append(more)
                    self.notes_.extend(more.notes)
                    with stage(f"fit the sources on carve {fold + 1}'s training part ({more.train.matrix.nnz:,} interactions)"):
                        self._fit_sources(more.train)
                    for name, task in usable.items():
                        asked[name].append(submit(task, first[name].exercised))
                    submit_beside_clicks(more)
                for name, parts in asked.items():
                    task, queries, exercised = parts[0].task, parts[0].queries, parts[0].exercised
                    if not exercised:
                        # none of the chosen sources can speak here (sources=["cf"] and users without clicks):
                        # nothing to tune; the defaults give every source 0 and the blend's fallback answers
                        regimes[name] = {}
                        continue
                    ranked_by = [part.result() for part in parts]
                    defaults = defaults_of[name]
                    start = {source: float(np.mean(defaults[source])) for source in exercised}
                    if name == WARM:
                        start.update({source: 0.0 for source in NEW_USER_SOURCES if source in start})
                    if not any(v > 0 for v in start.values()):
                        if "popularity" in start:
                            start["popularity"] = 1.0
                        else:  # the blend's fallback is not among the chosen sources: start from all of them
                            start = {source: 1.0 for source in start}
                    # new items: the item is the unit a gain must hold over (queries share a few pseudo-cold items)
                    unit = "item" if task.candidates is not None else "query"
                    objective = _pooled([
                        fused_recall_objective(self.fusion, ranked, part.task.truth, self.tune_k, unit=unit)
                        for part, ranked in zip(parts, ranked_by)
                    ])
                    before = float(np.mean(objective(start)))
                    if name == WORDS:
                        start = _words_start(start, regimes.get("n=0"), objective, before)
                    regimes[name], after = coordinate_ascent(lambda w: objective(w), start)
                    scores[name] = (before, after)
                    if self.stack:
                        for part, ranked in zip(parts, ranked_by):  # one stack task per carve, pooled by name
                            if self._too_small_to_stack(part.task):  # each carve's pools are other items
                                continue
                            used = {s: ranked[s] for s, w in regimes[name].items() if w > 0}
                            blended = check_fused(self.fusion, self.fusion.fuse(used, POOL, {s: regimes[name][s] for s in used}), used, POOL)
                            assert part.facts is not None
                            query_features, item_features = part.facts
                            inputs = StackInputs(ranked, part.reach, blended, query_features, item_features)
                            stack_tasks.append(StackTask(name, inputs, part.task.truth, cold_items=task.candidates is not None))
            except Exception:
                ranking.shutdown(wait=True, cancel_futures=True)  # the error now, the tasks queued after it not ranked
                raise
            except BaseException:
                ranking.shutdown(wait=False, cancel_futures=True)  # an interrupt: at once, not after the running task
                raise
            ranking.shutdown(wait=True)
            if beside_clicks:
                learned = self._words_beside_clicks(beside_clicks, beside_defaults[0], regimes)
                if learned is not None:
                    regimes[WORDS_AND_CLICKS], scores[WORDS_AND_CLICKS] = learned
            if len(carves) > 1:
                why = (
                    f"fewer than {MAX_VALIDATION_QUERIES} held-out users in one" if self.validation_carves == "auto"
                    else f"validation_carves={self.validation_carves}"
                )
                self.notes_.append(
                    f"hybrid: the weights are learned on {len(carves)} carves pooled ({why}; the later ones hold out other "
                    "users and items): "
                    + "; ".join(f"{name} {sum(len(p.task.queries) for p in parts):,} queries" for name, parts in asked.items())
                    + (f"; {WORDS_AND_CLICKS} {sum(len(p.queries) for p in beside_clicks):,} queries" if beside_clicks else "")
                )
        stacking = None
        if stack_tasks:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coldkit-stacker")
            stacking = pool.submit(_fit_stackers, stack_tasks, self._served_sources(), self.validation_seed, self.tune_k)
            pool.shutdown(wait=False)  # the worker ends with its one task
        return LearnedWeights(regimes, scores, list(carved.notes)), stacking

    def _carve(self, train: Interactions, fold: int = 0, after: Sequence[CarvedValidation] = ()) -> CarvedValidation:
        """The validation split (:func:`coldkit.models.tuning.carve_validation`); ``fold`` >= 1 for a
        further carve holding out other users and items than the carves ``after``."""
        return carve_validation(
            train,
            seed=self.validation_seed,
            max_queries=MAX_VALIDATION_QUERIES,
            user_profiles=self.profile.user_profiles if self.profile is not None else None,
            user_graph=self.friends.user_graph if self.friends is not None else None,
            min_pool=self.tune_k,
            item_texts=self._describable_texts(train),
            fold=fold,
            after=after,
        )

    def _carve_count(self, carved: CarvedValidation) -> int:
        """How many carves the weights are learned on: ``validation_carves``, or with ``"auto"`` 2 where the
        first held out fewer than :data:`MAX_VALIDATION_QUERIES` users (a small data set), else 1.

        Why: on a few hundred held-out users the weights (and the stacker) follow the draw: ml-100k's
        outside sign-up check moved ±2 points of Recall@20 with the validation seed, and 22–25 % of the
        top 20 changed with it. A second carve holding out other users and items doubles the queries
        where that is cheap (the sources fitted once more on a small data set); a large one already
        has :data:`MAX_VALIDATION_QUERIES` queries per task in one carve.
        """
        if self.validation_carves != "auto":
            return int(self.validation_carves)
        return 2 if 0 < len(carved.held_users) < MAX_VALIDATION_QUERIES else 1

    def _words_beside_clicks(
        self, parts: Sequence[_CarveTask], defaults: Mapping[str, np.ndarray], regimes: Mapping[str, Mapping[str, float]]
    ) -> tuple[dict[str, float], tuple[float, float]] | None:
        """The ``text`` weight for queries with words and clicks (``{"text": w}``) and the ``words+clicks``
        users' recall before and after, or None where their words cannot speak or no weight finds more.

        A line search over :data:`WEIGHT_GRID` (a tie to the smaller weight) with every other source at the
        weight the click regime of these users learned (its default where it learned none): the query keeps
        that regime, and the words are the one thing these users are there to tell. The start's ``text``
        weight (the default, the one the user gave, or the one a click regime learned on profile texts)
        stays unless a weight finds more, as in :func:`_words_start`: taking the smallest of tied weights
        set the words to 0 where these users could not tell the weights apart.

        ``parts``: these users of each carve, ranked under its fit by the sources the first carve's users
        exercise (``text`` among them), pooled; ``defaults``: the first carve's users' default weights.
        """
        exercised = parts[0].exercised
        regime = LearnedWeights({name: dict(w) for name, w in regimes.items()}).regime_of(WORDS_CLICKS, False)
        base = {source: float(np.mean(defaults[source])) for source in exercised}
        base.update({source: w for source, w in regimes.get(regime or "", {}).items() if source in base})
        objective = _pooled([
            fused_recall_objective(self.fusion, part.result(), part.task.truth, self.tune_k) for part in parts
        ])
        queries = [query for part in parts for query in part.queries]
        before = float(np.mean(objective(base)))
        best, recall = _best_text_weight(base, objective)
        if recall <= before:
            # nothing learned: no layer, so each click regime keeps its own (or the default) words' weight
            self.notes_.append(
                f"hybrid: no words' weight beside clicks found more than the start ({base['text']:g}) on the "
                f"{len(queries)} {WORDS_AND_CLICKS} validation users (Recall@{self.tune_k} {before:.4f}): kept"
            )
            return None
        return {"text": best}, (before, recall)

    def _describable_texts(self, train: Interactions) -> list[str] | None:
        """The item texts the validation's ``words`` users describe their clicks with, or None where a
        query's own words are not read against the items (no ``text`` source; item vectors without item
        text; an encoder with no model for text, as ``--item-vectors`` without ``--encoder``, which would
        fail the whole fit on these words; profiles speak for a query's text, so its validation text is
        the held-out users' profiles)."""
        if "text" not in self._served_sources() or self._text_less or not _places_words(self._encoder):
            return None
        if "profile" in self._served_sources():
            return None
        return train.catalog.texts()

    def _fit_ease(self, model: EASE, train: Interactions) -> None:
        """Fit the ``ease`` source ``model`` on ``train``, taking the warm model's matrix where the cf
        source's warm space is EASE at the same λ on the same data (one inversion, not two)."""
        shared = self.cf.warm.ease_vectors(train, model.l2, model.binarize)
        if shared is not None:
            with stage(f"fit ease source (EASE, λ = {model.l2:g}: the warm model's, not inverted again)"):
                model.fit_from_vectors(train, shared)
            return
        with stage(f"fit ease source (EASE, λ = {model.l2:g})"):
            model.fit(train)

    def _fresh_ease(self, l2: float = EASE_PENALTIES[EASE_SEARCH_START]) -> EASE:
        """An unfitted ``ease`` source at penalty ``l2`` that ranks through the backend set on the
        hybrid (:meth:`set_backend` reaches only the sub-models that exist when it is called)."""
        model = EASE(l2=l2, memory_budget=self._memory_budget)
        model.backend = self.backend
        return model

    def _ease_fits(self, train: Interactions) -> bool:
        """Whether the ``ease`` source is cheap enough here: EASE's size rule, and its bytes fit the
        budget beside the ``cf`` source's warm model (both are held at once)."""
        counts = train.item_counts()
        n_warm, nnz = int(np.count_nonzero(counts)), int(train.matrix.nnz)
        if n_warm > EASE_MAX_ITEMS:
            return False
        budget, warm = resolve_budget(self._memory_budget), self.cf.warm
        kind = warm.requested
        if kind == "auto":
            # the kind "auto" will choose, with the adapters' tables: counted as EASE it was the EASE that did
            # not fit, so the ease source sat out wherever auto took ALS for the tables, even with room beside ALS
            try:
                kind = choose_warm(train.n_users, train.n_items, n_warm, nnz, budget, warm.factors, warm.item_tables)
            except MemoryBudgetError:
                return False  # nothing fits: the warm space's own check says so, naming the data's sizes
        beside = estimate_warm_bytes(kind, train.n_users, train.n_items, n_warm, nnz, warm.factors, warm.item_tables)
        return estimate_warm_bytes("ease", train.n_users, train.n_items, n_warm, nnz) + beside <= budget

    def _too_small_to_stack(self, task: ValidationTask) -> bool:
        """Whether the stacker's cross-fit could only rank all of a cold-item task's candidates.

        Its two folds split the pseudo-cold items too (each ranks about half of each pool), so a pool
        of up to 2 × ``tune_k`` items gives folds whose top ``tune_k`` lists everything: the blend's
        recall and the stacker's tie at 1 and the comparison says nothing (a note says so).
        """
        if task.candidates is None:
            return False
        smallest = min(len(candidates) for _, candidates in task.parts() if candidates is not None)
        if smallest > 2 * self.tune_k:
            return False
        self.notes_.append(
            f"hybrid: no stacker for new items: a pool of {smallest} pseudo-cold items, about half of it per cross-fit "
            f"fold, is no more than the top {self.tune_k} each ranks"
        )
        return True

    def _compares_warm_spaces(self, carved: CarvedValidation, train: Interactions) -> bool:
        """Whether this tuned fit compares its cold adapters over EASE and over ALS (:meth:`_choose_warm_space`):
        ``warm="auto"`` took EASE, ALS is installed, no ``warm_options`` (they are written for one kind),
        the carve has pseudo-cold items, and the ALS pair fits the budget beside what is held while it is
        tried: the EASE space with its adapters' tables and the ``ease`` source (whole data's sizes)."""
        warm = self.cf.warm
        if warm.requested != "auto" or warm.kind != "ease" or warm.options or not have_implicit():
            return False
        if COLD_ITEMS not in carved.tasks or not {"cf", "cf_knn"} & set(self._served_sources()):
            return False
        n_warm, nnz = int(np.count_nonzero(train.item_counts())), int(train.matrix.nnz)
        sizes = (train.n_users, train.n_items, n_warm, nnz)
        held = estimate_warm_bytes("ease", *sizes, warm.factors, warm.item_tables)
        if self._uses("ease"):
            held += estimate_warm_bytes("ease", *sizes)
        return held + estimate_warm_bytes("als", *sizes, warm.factors, warm.item_tables) <= resolve_budget(warm.memory_budget)

    def _choose_warm_space(self, task: ValidationTask, train: Interactions) -> None:
        """Keep the cold adapters (``cf``, ``cf_knn``) over EASE, or move them and the ``cf`` source to ALS,
        whichever ranks the carve's pseudo-cold items better: the mean of the two sources' Recall@``tune_k``
        alone, ALS only when strictly higher (``warm_search_``).

        Why: ``warm="auto"`` picks EASE by size, and which space a content map predicts best is the
        data's. Measured outside the project (MiniLM + TF-IDF, seeds 0-2, Recall@20 of the adapter alone):
        lastfm-2k's long tail of artists (2,262 warm ones) ridge 0.353 over EASE, 0.422 over ALS, kNN
        0.440 over ALS; ml-100k's newest films ridge 0.333 over EASE, 0.304 over ALS. The ALS pair is
        fitted beside the EASE one and dropped when EASE wins; when ALS wins the warm space is fitted again
        in place, so the carve's later fits (a second carve, the final fit) take ALS too.
        """
        queries = self._check_queries(task.queries)
        sources = [source for source in ("cf", "cf_knn") if source in self._served_sources()]

        with stage(f"compare the cold adapters over EASE and over ALS on {len(queries):,} pseudo-cold-item queries"):
            over_ease = self._task_recalls(task, queries, sources)
            fitted = self.cf, self.cf_knn
            trial_cf, trial_knn = self._new_adapters(*self._adapter_features(*self._features_key), warm="als")
            trial_cf.backend = trial_knn.backend = self.backend
            trial_cf.warm.fit(train)
            trial_cf.fit_sharing(train, trial_cf.warm, self.cf.content)
            if "cf_knn" in sources:
                trial_knn.fit_sharing(train, trial_cf.warm, self.content)
            self.cf, self.cf_knn = trial_cf, trial_knn
            try:
                over_als = self._task_recalls(task, queries, sources)
            finally:
                self.cf, self.cf_knn = fitted
        self.warm_search_ = {"ease": over_ease, "als": over_als}
        shown = {kind: ", ".join(f"{source} {value:.4f}" for source, value in found.items()) for kind, found in self.warm_search_.items()}
        if np.mean(list(over_als.values())) <= np.mean(list(over_ease.values())):
            self.notes_.append(
                f"hybrid: the cold adapters stay over EASE (validation cold-item Recall@{self.tune_k} over EASE: "
                f"{shown['ease']}; over ALS: {shown['als']})"
            )
            return
        self.notes_.append(
            f"hybrid: warm='auto' takes ALS, not EASE: its cold adapters ranked the validation split's pseudo-cold items "
            f"better (Recall@{self.tune_k} over ALS: {shown['als']}; over EASE: {shown['ease']})"
        )
        del trial_cf, trial_knn
        self.cf.warm.choose_kind("als")
        # fitted again in place (not the trial's pair): the carve's ALS keeps its user factors for the final fit
        self.cf.warm.fit(train)
        self.cf.fit_sharing(train, self.cf.warm, self.cf.content)
        if self._uses("cf_knn"):
            self.cf_knn.fit_sharing(train, self.cf.warm, self.content)

    def _choose_adapter_penalty(self, task: ValidationTask) -> None:
        """Pick the ``cf`` source's content→CF ridge penalty on the carved pseudo-cold items: Recall@``tune_k``
        of that source alone, climbing :data:`ADAPTER_PENALTIES` from the start while a neighbour is better.

        Why: the penalty that maps content to CF vectors best depends on the catalogue (how many warm
        items, how informative the text): measured on ml-100k cold items (MiniLM + TF-IDF + attributes,
        seeds 0–2) λ = 3 gave 0.4896 against 0.4781 at the fixed 10. ``self.cf`` ends with the best λ's map.
        """
        queries = self._check_queries(task.queries)

        def recall(step: int) -> float:
            if self.cf.l2 != ADAPTER_PENALTIES[step]:  # the start is the fitted map
                self.cf.use_penalty(ADAPTER_PENALTIES[step])
            return self._task_recalls(task, queries, ["cf"])["cf"]

        with stage(f"choose the cf source's ridge penalty on {len(queries):,} pseudo-cold-item queries"):
            best, tried = climb_grid(len(ADAPTER_PENALTIES), ADAPTER_SEARCH_START, recall)
        if self.cf.l2 != ADAPTER_PENALTIES[best]:
            self.cf.use_penalty(ADAPTER_PENALTIES[best])
        self.adapter_search_ = {ADAPTER_PENALTIES[i]: value for i, value in sorted(tried.items())}
        self.notes_.append(
            f"hybrid: cf source ridge penalty λ = {ADAPTER_PENALTIES[best]:g} (validation cold-item Recall@{self.tune_k} "
            + ", ".join(f"λ {ADAPTER_PENALTIES[i]:g}: {tried[i]:.4f}" for i in sorted(tried)) + ")"
        )

    def _choose_ease_penalty(self, carved: CarvedValidation) -> None:
        """Pick the ``ease`` source's λ on the carved split: Recall@``tune_k`` of EASE alone over the
        masked-click users with clicks (the new users the source is for), climbing
        :data:`EASE_PENALTIES` from the start while a neighbour is better. ``self.ease`` ends as the
        best model fitted on ``carved.train`` (the tasks are then ranked with it)."""
        asked: list[tuple[list[UserQuery], Any]] = []
        # not the new items (EASE scores them all 0) nor the warm users: users with long histories are the
        # cf source's (they prefer its sharp λ, and outnumber the new users: pooled, they would decide)
        for task in carved.masked_click_tasks():
            queries = self._check_queries(task.queries)
            rows = [b for b, q in enumerate(queries) if self._known_items(q).size]
            if rows:
                asked.append(([queries[b] for b in rows], task.truth[rows]))
        if not asked:
            self._ease_off = True  # no new user to choose its λ for: the source sits this fit out
            # and the EASE _fit_sources fitted on the carved split is not kept (items² bytes, never used)
            self.ease = self._fresh_ease()
            # "no held-out user with clicks" read as a carve that held none out, beside a note counting 40 of them:
            # there were some, too few (< min_queries) for any masked-click task
            self.notes_.append(
                "hybrid: no ease source: the validation split has no masked-click task (n >= 1) to choose its λ on"
            )
            return

        def recall(model: EASE) -> float:
            found = [recall_per_query(model.recommend(qs, self.tune_k, exclude_known=True).indices, truth, self.tune_k) for qs, truth in asked]
            return float(np.mean(np.concatenate(found))) if found else 0.0

        kept = [float("-inf")]  # the recall of the model self.ease holds: the best so far

        def score(step: int) -> float:
            model = self.ease  # the start's model is the one fitted with the sources
            if step != EASE_SEARCH_START:
                model = self._fresh_ease(EASE_PENALTIES[step])
                self._fit_ease(model, carved.train)
            value = recall(model)
            if value > kept[0]:
                self.ease, kept[0] = model, value  # only the best model is kept: two EASE matrices at most
            return value

        n_users = sum(len(qs) for qs, _ in asked)
        with stage(f"choose the ease source's λ on {n_users:,} held-out users"):
            best, tried = climb_grid(len(EASE_PENALTIES), EASE_SEARCH_START, score)
        self.ease_search_ = {EASE_PENALTIES[i]: value for i, value in sorted(tried.items())}
        self.notes_.append(
            f"hybrid: ease source λ = {EASE_PENALTIES[best]:g} (validation Recall@{self.tune_k} "
            + ", ".join(f"λ {EASE_PENALTIES[i]:g}: {tried[i]:.4f}" for i in sorted(tried)) + ")"
        )

    def _choose_trending_half_life(self, carved: CarvedValidation) -> None:
        """Pick the ``trending`` source's half-life on the carved split: Recall@``tune_k`` of that source
        alone over every masked-click query (the new users it speaks for), each of
        :data:`TRENDING_HALF_LIVES` tried (a count per item: cheap), a tie to the longer one.

        Why: how fast interest moves depends on the data (films with a release calendar, songs played
        for years), and the blend can only weigh the list it is given. ``self.trending`` ends fitted on
        ``carved.train`` with the best half-life; its weight per regime is then tuned like any source's.
        """
        asked = [(self._check_queries(task.queries), task.truth) for task in carved.masked_click_tasks()]
        if not asked:
            return
        tried: dict[float, float] = {}
        n_queries = sum(len(qs) for qs, _ in asked)
        with stage(f"choose the trending source's half-life on {n_queries:,} masked-click queries"):
            for half_life in TRENDING_HALF_LIVES:  # the longest first: a tie keeps it
                self.trending.half_life_days = half_life
                self.trending.fit(carved.train)
                found = [
                    recall_per_query(self.trending.recommend(qs, self.tune_k, exclude_known=True).indices, truth, self.tune_k)
                    for qs, truth in asked
                ]
                tried[half_life] = float(np.mean(np.concatenate(found)))
        best = max(tried, key=lambda h: tried[h])  # the first of the best: the longest half-life
        self.trending.half_life_days = best
        self.trending.fit(carved.train)
        self.trending_search_ = tried
        self.notes_.append(
            f"hybrid: trending source half-life {best:g} days (validation Recall@{self.tune_k} of the source alone, "
            f"{n_queries:,} masked-click queries: " + ", ".join(f"{h:g} d {v:.4f}" for h, v in tried.items()) + ")"
        )

    def _task_recalls(self, task: ValidationTask, queries: list[UserQuery], sources: Sequence[str]) -> dict[str, float]:
        """Each source's mean Recall@``tune_k`` alone on a validation task (a search over one source's setting)."""
        ranked = self._rank_task(task, queries, sources)
        return {source: float(np.mean(recall_per_query(ranked[source].indices, task.truth, self.tune_k))) for source in sources}

    def _rank_task(self, task: ValidationTask, queries: list[UserQuery], sources: Sequence[str]) -> dict[str, Ranked]:
        """Each source's ranking of a validation task's queries, each pool of candidates ranked on its own."""
        parts: dict[str, list[Ranked]] = {source: [] for source in sources}
        for rows, candidates in task.parts():
            asked = queries[rows]
            rankers = self._rankers(asked, max(self.tune_k, self.depth), candidates, exclude_known=True)
            for source, ranked in rank_side_by_side(rankers, sources, len(asked)).items():
                parts[source].append(ranked)
        return {source: stack_rows(ranked) for source, ranked in parts.items()}

    def _reads_popularity(self) -> bool:
        """Whether the stacker may read popularity (counts): only when ``popularity`` is one of the sources."""
        return "popularity" in self._served_sources()

    def _stack_items(self) -> np.ndarray:
        assert self._item_features is not None
        return self._item_features

    def _query_facts(self, queries: Sequence[UserQuery]) -> _Facts:
        """(known clicks, has text, has friends) of each query."""
        n = np.array([self._known_items(q).size for q in queries], dtype=np.float64)
        has_text = np.array([q.has_text for q in queries], dtype=bool)
        has_friends = np.array([q.friends.size > 0 for q in queries], dtype=bool)
        if self.friends is not None:
            train = self._require_fitted()
            has_friends = np.array([f.size > 0 for f in friend_indices(queries, train, self.friends.user_graph)])
        return n, has_text, has_friends

    def _query_features(self, queries: Sequence[UserQuery], cold_candidates: bool, facts: _Facts | None = None) -> np.ndarray:
        """The stacker's per-query features (:data:`coldkit.models.stacker.QUERY_FEATURES`); ``facts``: :meth:`_query_facts`, if known."""
        n, has_text, has_friends = facts if facts is not None else self._query_facts(queries)
        cold = np.full(len(queries), float(cold_candidates))
        # how popular the items a user clicked are: mainstream and niche new users want different lists
        log_counts = np.log1p(self._require_fitted().item_counts().astype(np.float64))
        history_pop = np.full(len(queries), np.nan)
        for b, query in enumerate(queries if self._reads_popularity() else ()):
            known = self._known_items(query)
            if known.size:
                history_pop[b] = log_counts[known].mean()
        return np.column_stack([np.log1p(n), has_text, has_friends, cold, history_pop]).astype(np.float32)

    def source_weights(self, queries: Sequence[UserQuery], cold_items: bool = False) -> dict[str, np.ndarray]:
        """Per-query default weight of each source (the adaptive blend of :func:`coldkit.models.blend.source_weights`).

        ``cold_items``: the queries rank only items without interactions; the defaults then start from
        :data:`coldkit.models.blend.COLD_ITEM_WEIGHTS` where the user gave no weight.
        """
        base = self._cold_item_weights if cold_items else self.weights
        return self._source_factors(queries, {name: base[name] for name in self._served_sources()})

    def _source_factors(
        self, queries: Sequence[UserQuery], base: Mapping[str, float] | None = None, facts: _Facts | None = None
    ) -> dict[str, np.ndarray]:
        """:func:`coldkit.models.blend.source_weights` for ``queries``; ``base`` None gives every source 1."""
        n, has_text, has_friends = facts if facts is not None else self._query_facts(queries)
        served = {name: 1.0 for name in self._served_sources()} if base is None else dict(base)
        return source_weights(n, has_text, served, self.user_trust, adaptive=self.adaptive, has_friends=has_friends)

    def query_weights(self, queries: Sequence[UserQuery], candidates: np.ndarray | None) -> dict[str, np.ndarray]:
        """The weights the blend is given for each query: the learned regime's, else the defaults.

        A source with nothing to say for a query (an anonymous user's CF) keeps its weight here; what
        entered each query's ranking is :meth:`effective_weights`.
        """
        cold = self._cold_candidates(candidates)
        defaults = self.source_weights(queries, cold_items=cold)
        if self.learned_ is None:
            return defaults
        n = np.array([self._known_items(q).size for q in queries], dtype=np.int64)
        has_text = np.array([q.has_text for q in queries], dtype=bool)
        return self.learned_.for_queries(n, cold, defaults, has_text=has_text)

    def effective_weights(
        self, queries: Sequence[UserQuery], candidates: np.ndarray | None = None, exclude_known: bool = True
    ) -> dict[str, np.ndarray]:
        """The weight each source had in each query's ranking by the blend (what the serving index reports
        as ``sources``): :meth:`query_weights`, less the sources whose list scores every item 0 for a
        query (0 there: a text-only query's CF, whose user vector is zero, ranked nothing even where
        the learned regime gives CF 0.94), plus popularity's 1 for a query no weighed source ranked.

        Ranks the queries with every weighed source (as :meth:`recommend` does) to know which spoke.
        Where the stacker answers a regime these are still the blend's weights, not the stacker's.
        """
        queries, _, cand = self._validate(queries, 1, candidates)
        rankers = self._rankers(queries, self.depth, cand, check_flag(exclude_known, "exclude_known"))
        given = self.query_weights(queries, cand)
        _, spoke = blend(rankers, given, self.fusion, 1)
        return {name: spoke.get(name, np.zeros(len(queries))) for name in {**given, **spoke}}

    def _cold_candidates(self, candidates: np.ndarray | None) -> bool:
        """Whether every candidate is an item without interactions (the cold-item regime)."""
        if candidates is None or len(candidates) == 0:
            return False
        return not bool(self._item_counts()[candidates].any())  # counted once per training set

    def _rankers(
        self, queries: list[UserQuery], depth: int, cand: np.ndarray | None, exclude_known: bool
    ) -> dict[str, Callable[[], Ranked]]:
        """Source name -> a call ranking ``queries`` with that source (only called when it is weighed)."""
        def call(model: Recommender, asked: list[UserQuery] = queries, **extra: Any) -> Callable[[], Ranked]:
            return lambda: model.recommend(asked, depth, candidates=cand, exclude_known=exclude_known, **extra)  # type: ignore[call-arg]

        # The CF sources speak for the clicks (weight β); the query's text has its own sources (text,
        # profile), so the adapters are asked without it: a profile text ("a 25 year old artist") read
        # as interests would only blur their lists. One list for both keeps the ALS fold-in shared.
        clicks = [replace(q, text=None) if q.text else q for q in queries]
        served = self._served_sources()
        if self.cf.warm.kind == "als" and ("cf" in served or "cf_knn" in served):
            # Folded in now, in this thread, before the sources may rank side by side: the fold-in limits
            # BLAS to one thread for the whole process while it runs (threadpoolctl), and another source's
            # BLAS product in that window would run on one thread too, whose bits can differ (OpenBLAS's
            # small-matrix path). cf and cf_knn then read these vectors from the space's batch cache.
            self.cf.warm_user_vectors(clicks)
        rankers = {
            "cf": call(self.cf, clicks),
            "cf_knn": call(self.cf_knn, clicks),
            "content": call(self.content, use_text=False),
            "text": call(self.content, use_history=False),
            "popularity": call(self.popularity),
            "item_knn": call(self.item_knn),
            "ease": call(self.ease),
            "tfidf": call(self.tfidf, use_text=False),
            "trending": call(self.trending),
        }
        if self.profile is not None:
            rankers["profile"] = call(self.profile)
        if self.friends is not None:
            rankers["friends"] = call(self.friends)
        # popularity is the blend's fallback for a query no chosen source can rank (always fitted: cheap)
        return {name: ranker for name, ranker in rankers.items() if name in served or name == "popularity"}

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        """The fused top ``k``; a longer list begins with the shorter one.

        The sources hand ``depth`` items each to the fusion, and the stacker re-ranks a pool of
        :data:`~coldkit.models.stacker.POOL`: asking more than those (``k`` = 300, or above the pool where
        a stacker answers) used to rank every source deeper and re-normalise over the longer lists, so
        the head of the list changed with ``k`` (ml-latest-small, untuned: the top 20 of a k = 300 list
        were the k = 20 list for 53 % of users, of a k = 5,000 list for none) and lost the depth the
        weights were learned at. Now the list up to that length is always the same, and the items
        after it come from the deeper fusion, in its order, their scores capped so none is above the
        one before it.
        """
        if not queries:
            return empty_ranked(0, k)
        weights = self.query_weights(queries, cand)
        stacked = not ((self.stacker_ is None and self.words_stacker_ is None) or self.learned_ is None)
        lists: dict[int, dict[str, Callable[[], Ranked]]] = {}  # by depth: the head and the rest may share them

        def fused_at(depth: int, n: int) -> Ranked:
            if depth not in lists:
                lists[depth] = {name: _once(r) for name, r in self._rankers(queries, depth, cand, exclude_known).items()}
            return self._fused(queries, lists[depth], weights, n, cand, stacked)

        # the stacker's list is steady up to its pool, the blend's to any k
        return head_then_deeper(fused_at, k, self.depth, POOL if stacked else None)

    def _fused(
        self, queries: list[UserQuery], rankers: Mapping[str, Callable[[], Ranked]], weights: Mapping[str, np.ndarray],
        k: int, cand: np.ndarray | None, stacked: bool,
    ) -> Ranked:
        """The blend's top ``k`` of the sources' lists, or the stackers' for the regimes they answer."""
        if not stacked:
            fused, _ = blend(rankers, weights, self.fusion, k)
            return fused
        return self._stacked(queries, rankers, weights, k, cand)

    def _stacker_of(self, regime: str | None) -> Stacker | None:
        """The stacker that answers ``regime`` (None: the blend does)."""
        if regime is None:
            return None
        if regime == WORDS:
            own = self.words_stacker_
            return own if own is not None and WORDS in own.regimes else None
        return self.stacker_ if self.stacker_ is not None and regime in self.stacker_.regimes else None

    def _stacked(
        self, queries: list[UserQuery], rankers: Mapping[str, Callable[[], Ranked]],
        weights: Mapping[str, np.ndarray], k: int, cand: np.ndarray | None,
    ) -> Ranked:
        """The stackers' lists for the queries of the regimes they answer, the blend's for the rest."""
        assert self.learned_ is not None
        cold = self._cold_candidates(cand)
        facts = self._query_facts(queries)  # once per batch: it walks every query (and its friends)
        answering = [
            self._stacker_of(self.learned_.regime_of(int(known), cold, bool(text))) for known, text in zip(facts[0], facts[1])
        ]
        blended, _ = blend(rankers, weights, self.fusion, max(POOL, k))
        indices, scores = blended.indices[:, :k].copy(), blended.scores[:, :k].copy()
        if all(stacker is None for stacker in answering):
            return Ranked(indices, scores)
        reach = self._source_factors(queries, facts=facts)
        silent = INTERACTION_ONLY_SOURCES if cold else ()
        features = self._query_features(queries, cold, facts)
        for stacker in [fitted for fitted in (self.stacker_, self.words_stacker_) if fitted is not None]:
            rows = np.array([s is stacker for s in answering], dtype=bool)
            if not rows.any():
                continue
            spoken = {s: rankers[s]() for s in stacker.sources if s in rankers and s not in silent and np.any(reach[s] > 0)}
            ranked = stacker.rank(StackInputs(spoken, reach, blended, features, self._stack_items()), k)
            indices[rows], scores[rows] = ranked.indices[rows], ranked.scores[rows]
        return Ranked(indices, scores)

    def explain(self, query: UserQuery | str, item: int | str, candidates: np.ndarray | None = None) -> str:
        """Why ``item`` was recommended: what the sources that ranked it say, strongest first.

        ``candidates``: the items the list was ranked from, as given to :meth:`recommend` (None = the whole
        catalogue): indices, or item ids where the query and item are ids (``recommend(users=..., items=...)``).
        The explanation ranks as that call did: a candidate set of items without
        interactions (a cold-item split) is the cold-item regime, with its weights, its stacker inputs
        (the ``cold_candidates`` feature, the interaction-only sources silent) and the sources' lists
        over the candidates; explained over the whole catalogue, such an item was explained by another
        score than the one that ranked it. An item outside ``candidates`` is refused.

        The sources named are :meth:`explaining_sources` (the serving index's ``why`` rule, so both name
        the same sources for one item); each says its own reason: the liked item with the largest
        share of a co-click score ("people who liked X also liked it") or "liked by users with clicks
        like yours" (``cf``, ``cf_knn``, ``ease``, ``item_knn``: one collaborative reason, the most
        specific, where several of them speak), the nearest liked item ("because you liked X (content
        similarity 0.83)"), the words shared with the query's text or its closeness to it (or, when the
        text ranked it without being close, "among the closest to your words, though not close"), the
        users with profiles like the query's, the friends, or the item's (recent) popularity. Popularity
        is named only where it is among the sources that ranked the item.

        Where the LambdaRank stacker answers the query's regime, the sources are those that drove the
        stacker's score for the item (its SHAP values, :meth:`coldkit.models.stacker.Stacker.source_parts`),
        not the blend's; an item no source pushed up is said to be ranked by the stacker, with the
        features that raised its score most.
        """
        query, index, cand = _explained_inputs(self, query, item, candidates)
        named = self._explaining_sources(query, index, cand)
        reasons: list[str] = []
        for name in named:
            reason = self._source_reason(name, query, index)
            if reason and reason not in reasons:
                reasons.append(reason)
        reasons = _one_collaborative(reasons)
        if reasons:
            return "; ".join(reasons)
        if not named:  # every part 0: at the floor of each list that holds it (the serving index's words)
            # under the stacker, no source pushed it up: say what the stacker weighed instead
            alone = cand is not None and cand.size == 1  # no other candidate to be ranked above
            return self._stacker_reason(query, index, cand) or ("the only candidate; no source found anything for it" if alone else NO_SOURCE_REASON)
        if {"popularity", "trending"} & set(named):
            return self._popularity_reason(query, index, cand)
        return f"ranked by the {' and '.join(named)} source{'s' if len(named) > 1 else ''}"

    def explaining_sources(self, query: UserQuery | str, item: int | str, candidates: np.ndarray | None = None) -> list[str]:
        """The sources that ranked ``item`` for ``query`` (from ``candidates``, as :meth:`explain` takes them), strongest first, by
        :func:`coldkit.models.blend.speaking_sources`: each source's part is what the fusion added for
        the item from that source (:func:`coldkit.models.blend.source_parts`: under ``weighted``, its
        weight times the item's normalised score above the list's floor; under ``rrf``, ``w / (c +
        rank)``), with each source's top-``depth`` list as :meth:`recommend` ranks (known items
        excluded); a source speaks when its part is at least half the largest.

        An item no list holds (a known item, one below every source's depth) was added nothing by the
        fusion: its parts are then each source's weight times the item's score over its best score
        (:func:`coldkit.models.blend.score_parts`).

        Where the stacker answers the query's regime (it ranked the list :meth:`recommend` gives), each
        source's part is instead what it added to the stacker's score of the item
        (:meth:`coldkit.models.stacker.Stacker.source_parts`: the SHAP values of its features, and its
        share of the blend's and the agreement's).
        """
        query, index, cand = _explained_inputs(self, query, item, candidates)
        return self._explaining_sources(query, index, cand)

    def _explaining_sources(self, query: UserQuery, index: int, cand: np.ndarray | None) -> list[str]:
        """:meth:`explaining_sources` for a checked query, item index and candidates."""
        lists = {name: _once(ranker) for name, ranker in self._rankers([query], self.depth, cand, True).items()}
        given: dict[str, Any] = {}
        _, weights = blend(lists, self.query_weights([query], cand), self.fusion, 1, inputs=given)
        parts = source_parts(self.fusion, given["sources"], given["weights"], np.array([[index]]))
        stacked = self._stacker_parts(query, index, lists, parts, cand)
        if stacked is not None:  # the stacker ranked this query's list: its parts, not the blend's, say why
            return speaking_sources({name: float(part[0, 0]) for name, part in stacked.items()})
        named = speaking_sources({name: float(part[0, 0]) for name, part in parts.items()})
        holding = [ranked for ranked in given["sources"].values() if np.any(ranked.indices[0] == index)]
        # at the floor of a list with others in it, the item was ranked last there: no source speaks. Alone in
        # every list that holds it (one candidate), the floor is its own score: "no source ranked it above the
        # other candidates" was said where there were none, so its scores speak, as for an item no list holds
        alone = bool(holding) and all(int(np.count_nonzero(ranked.indices[0] >= 0)) == 1 for ranked in holding)
        if named or (holding and not alone):
            return named
        at_item = self._rankers([query], 1, np.array([index]), False)
        # alone, the item's own score is each list's best, and every source above 0 spoke with its full weight (a
        # content cosine of 0.001 as loud as a strong CF score): measured against the source's best in the catalogue
        if alone:
            whole = {name: _once(ranker) for name, ranker in self._rankers([query], self.depth, None, True).items()}
            lists = {**lists, **whole}
        scores: dict[str, tuple[float, float, float]] = {}
        for name, weight in weights.items():
            if not weight[0] > 0:
                continue
            ranked = lists[name]()
            listed = ranked.scores[0][ranked.indices[0] >= 0]
            own = at_item[name]()
            score = float(own.scores[0, 0]) if own.indices[0, 0] >= 0 else 0.0
            # a known item (explained although recommend leaves it out) may score above the list's best
            best = max(float(listed.max()) if listed.size else 0.0, score)
            scores[name] = (float(weight[0]), score, best)
        return speaking_sources(score_parts(scores))

    def _stacker_for(self, query: UserQuery, cand: np.ndarray | None = None) -> Stacker | None:
        """The stacker that answers ``query`` ranked from ``cand`` (None: the catalogue), as :meth:`_stacked`
        picks it (None: the blend answers)."""
        if self.learned_ is None:
            return None
        cold = self._cold_candidates(cand)
        return self._stacker_of(self.learned_.regime_of(int(self._known_items(query).size), cold, query.has_text))

    def _stacker_inputs(
        self, stacker: Stacker, query: UserQuery, lists: Mapping[str, Callable[[], Ranked]], cand: np.ndarray | None = None
    ) -> StackInputs:
        """What ``stacker`` reads for ``query`` ranked from ``cand`` (``lists``: the sources' lists over
        them), built as :meth:`_stacked` builds it: the same weights, the same cold-candidate feature and
        the same sources silent for a cold candidate set."""
        cold = self._cold_candidates(cand)
        facts = self._query_facts([query])
        blended, _ = blend(lists, self.query_weights([query], cand), self.fusion, POOL)
        reach = self._source_factors([query], facts=facts)
        silent = INTERACTION_ONLY_SOURCES if cold else ()
        spoken = {s: lists[s]() for s in stacker.sources if s in lists and s not in silent and np.any(reach[s] > 0)}
        return StackInputs(spoken, reach, blended, self._query_features([query], cold, facts), self._stack_items())

    def _stacker_parts(
        self, query: UserQuery, index: int, lists: Mapping[str, Callable[[], Ranked]], blend_parts: Mapping[str, np.ndarray],
        cand: np.ndarray | None = None,
    ) -> dict[str, np.ndarray] | None:
        """What each source added to the stacker's score of ``index`` (:meth:`Stacker.source_parts`: its
        SHAP values mapped to sources), or None where the blend answers ``query``."""
        stacker = self._stacker_for(query, cand)
        if stacker is None:
            return None
        inputs = self._stacker_inputs(stacker, query, lists, cand)
        return stacker.source_parts(inputs, np.array([[index]]), blend_parts)

    def _stacker_feature_parts(self, query: UserQuery, items: np.ndarray, cand: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
        """What each feature added to the stacker's score of ``items`` ((1, m)) for ``query`` ranked from
        ``cand`` (:meth:`Stacker.feature_parts`, whose sum is the score :meth:`recommend` gave), or None
        where the blend answers."""
        stacker = self._stacker_for(query, cand)
        if stacker is None:
            return None
        lists = {name: _once(ranker) for name, ranker in self._rankers([query], self.depth, cand, True).items()}
        return stacker.feature_parts(self._stacker_inputs(stacker, query, lists, cand), items)

    def _stacker_reason(self, query: UserQuery, item: int, cand: np.ndarray | None = None) -> str | None:
        """Under the stacker, for an item no source pushed up: the features that raised its score most
        (the stacker's own terms), or None where the blend answers ``query`` or no feature raised it."""
        parts = self._stacker_feature_parts(query, np.array([[item]]), cand)
        if parts is None:
            return None
        raised = sorted(((float(p[0, 0]), name) for name, p in parts.items() if name != "bias" and p[0, 0] > 0), reverse=True)
        if not raised:
            return None
        return "ranked by the LambdaRank stacker, which weighed " + ", ".join(f"{name} (+{part:.2f})" for part, name in raised[:3])

    def _source_reason(self, name: str, query: UserQuery, item: int) -> str | None:
        """What source ``name`` says of ``item`` for ``query`` (None: nothing true to say)."""
        train = self._require_fitted()
        count = int(train.item_counts()[item])
        if name in ("cf", "cf_knn", "ease", "item_knn"):
            known = self._known_items(query)
            model = {"ease": self.ease, "item_knn": self.item_knn}.get(name)
            if name == "cf" and known.size and count > 0 and self.cf.warm.kind in ("ease", "item-knn"):
                row = self.cf.warm.user_vectors([replace(query, text=None)])[0]
                contrib = row * self.cf._vectors_for(np.array([item]))[item]  # maps this one item, not the catalogue
                # the item is no reason for itself: a warm item's cf vector blends in its content map (few
                # clicks), so its own entry is positive and a user who has it read "people who liked <it> also liked it"
                contrib[self.cf.warm.warm_items_ == item] = 0.0
                if np.any(contrib > 0):
                    return f"people who liked {item_title(train, int(self.cf.warm.warm_items_[int(np.argmax(contrib))]))} also liked it"
            elif model is not None and known.size:
                said = model.explain(query, item)  # "because you liked X": the click with the largest share of the score
                if said.startswith("because you liked "):
                    return f"people who liked {said[len('because you liked '):]} also liked it"
            # the collaborative sources read the clicks only (the text has its own sources); a new item without
            # content has the content map's intercept for its cf vector, the average item (as the server says)
            return clicks_reason(count, has_content=bool(np.any(self.content.item_vectors()[item])))
        if name == "content":
            return self.content.liked_reason(query, item)
        if name == "tfidf":
            return self.tfidf.liked_reason(query, item, measure="TF-IDF similarity")
        if name == "text":
            reason = self.content.text_reason(query, item)
            if reason is None and query.text:
                # the text ranked it (it is named) without a shared word and not "close" (every match weak,
                # or negative): say so with the similarity; popularity, which had not ranked it, was named
                closeness = float(self.content.encode_user_texts([query.text])[0] @ self.content.item_vectors()[item])
                reason = f"{WEAK_TEXT_REASON} (content similarity {closeness:.2f})"
            return reason
        if name == "profile":
            return "liked by users whose profiles are like yours"
        if name == "friends":
            return "liked by your friends"
        if name == "trending" and count:
            # the trending source ranks it for its recent interactions, not its all-time count
            recent = self._recent_interactions(item)
            return f"popular lately: {recent} of its {count} interactions in the last {self.trending.half_life_days:g} days"
        if name == "popularity" and count:
            return f"popular: {count} users interacted with it"
        return None

    def _popularity_reason(self, query: UserQuery, item: int, cand: np.ndarray | None = None) -> str:
        """The last resort: the item's popularity (recent, where the trending source speaks for the query)."""
        count = int(self._require_fitted().item_counts()[item])
        if count and "trending" in self._served_sources() and self.query_weights([query], cand).get("trending", np.zeros(1))[0] > 0:
            return self._source_reason("trending", query, item) or ""
        return f"popular: {count} users interacted with it" if count else "new item matching the catalogue's taste"

    def _recent_interactions(self, item: int) -> int:
        """How many of ``item``'s training interactions fall within one trending half-life of the newest one."""
        train = self._require_fitted()
        assert train.timestamps is not None  # the trending source is served only with timestamps
        times = train.timestamps.tocsc()
        column = times.data[times.indptr[item] : times.indptr[item + 1]]
        newest = float(times.data.max()) if times.nnz else 0.0
        return int(np.count_nonzero(column >= newest - self.trending.half_life_days * 86400.0))


#: the reasons of the collaborative sources (cf, cf_knn, ease, item_knn): one is given per item
_COLLABORATIVE = ("people who liked ", clicks_reason(1), clicks_reason(0), clicks_reason(0, has_content=False))


def _one_collaborative(reasons: list[str]) -> list[str]:
    """``reasons`` with one collaborative reason where several speak (at the first one's place): the
    first "people who liked X also liked it", else the first general one. ``cf`` and ``cf_knn`` both
    speaking read "people who liked X also liked it; liked by users with clicks like yours": one claim twice."""
    collaborative = [r for r in reasons if r.startswith(_COLLABORATIVE)]
    if len(collaborative) < 2:
        return reasons
    keep = next((r for r in collaborative if r.startswith("people who liked ")), collaborative[0])
    out: list[str] = []
    for reason in reasons:
        if reason not in collaborative:
            out.append(reason)
        elif keep not in out:
            out.append(keep)
    return out


def _once(ranker: Callable[[], Ranked]) -> Callable[[], Ranked]:
    """``ranker`` computed at most once (the blend and the stacker both read a source's list)."""
    memo: list[Ranked] = []

    def call() -> Ranked:
        if not memo:
            memo.append(ranker())
        return memo[0]

    return call


def _words_start(
    start: dict[str, float], no_clicks: Mapping[str, float] | None, objective: Callable[[Mapping[str, float]], np.ndarray],
    at_start: float,
) -> dict[str, float]:
    """Where the ``words`` regime's ascent starts: the weights the users without clicks learned (``n=0``)
    with the words' weight that finds most of the words users' clicks beside them (a line search over
    :data:`WEIGHT_GRID`, a tie to the smaller weight), or the defaults where those find more.

    Why: the ascent keeps a move only at paired t >= 3, so with a hundred validation users its start is
    the answer. A words user is a user without clicks first, and the words' weight is the one thing the
    words users are there to tell. Starting from the defaults kept a hand-set text 0.5 beside popularity
    0.5; on ml-latest-small users' own tags that list found 0.38 of their films against 0.55 without
    the words, while the carved words users could not tell 0.1 from 0.5 (Recall@20 0.0777 vs 0.0765).
    """
    base = {**start, **{source: weight for source, weight in (no_clicks or {}).items() if source in start}}
    if "text" not in base:
        return start
    best, recall = _best_text_weight(base, objective)
    return {**base, "text": best} if recall > at_start else start


def _best_text_weight(base: Mapping[str, float], objective: Callable[[Mapping[str, float]], np.ndarray]) -> tuple[float, float]:
    """(the ``text`` weight of :data:`WEIGHT_GRID` whose blend with ``base`` scores best, that score): a line
    search, a tie to the smaller weight."""
    found = {weight: float(np.mean(objective({**base, "text": weight}))) for weight in WEIGHT_GRID}
    best = max(found, key=lambda weight: (found[weight], -weight))
    return best, found[best]


def _fit_stackers(
    tasks: Sequence[StackTask], sources: Sequence[str], seed: int, k: int
) -> tuple[Stacker | None, Stacker | None, list[str]]:
    """(the stacker of every regime but ``words``, the ``words`` regime's own, their notes)."""
    main, notes = fit_stacker([t for t in tasks if t.name != WORDS], sources, seed=seed, k=k)
    words = [t for t in tasks if t.name == WORDS]
    own: Stacker | None = None
    if words:
        own, more = fit_stacker(words, sources, seed=seed, k=k)
        notes += [f"{note} (the words users)" for note in more if note not in notes]
    return main, own, notes


def _fresh_encoder(encoder: str | Encoder | Sequence[str | Encoder], options: dict[str, Any] | None) -> str | Encoder:
    """The profile kNN's encoder: its own instance when built by name (it fits its own IDF on user texts);
    of several encoders (``encoder=["hashing", "bert"]``), the first (a list reached ProfileKNN as it was,
    and failed with "'list' object has no attribute 'encode_texts'")."""
    encoder = _first_encoder(encoder, "hybrid")
    return encoder_from_spec(encoder, check_options(options, "encoder_options")) if isinstance(encoder, str) else encoder


def _first_encoder(encoder: str | Encoder | Sequence[str | Encoder], who: str) -> str | Encoder:
    """``encoder``, or the first of several (the profile kNN reads profiles with one encoder)."""
    if isinstance(encoder, (list, tuple)):
        if not encoder:
            raise InvalidInputError(f"{who}: encoder= is an empty list; name at least one encoder")
        return encoder[0]  # type: ignore[no-any-return]
    return encoder  # type: ignore[return-value]


class Router(Recommender):
    """Route each query to the model that suits what is known about it.

    * known user (``user`` given) or at least ``min_clicks`` known interactions → ``warm`` model
      (default: a :class:`Hybrid`);
    * profile text or fewer than ``min_clicks`` clicks → ``cold`` model (default: content +
      popularity, i.e. a Hybrid with CF weight 0);
    * nothing → popularity (all-time counts: the router does not learn, as the hybrid does on its
      validation split, whether what is popular *now* — its ``trending`` source — serves them better).

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
        self.min_clicks = check_k(min_clicks, "min_clicks")  # int(2.5) was 2 without a word
        for label, given in (("warm", warm), ("cold", cold)):
            # a model name here ("--option warm=ease") was kept as a string and failed at fit as
            # AttributeError: 'str' object has no attribute 'fit', after the encoding
            if given is not None and not isinstance(given, Recommender):
                hint = f" (e.g. coldkit.get_model({given!r}))" if isinstance(given, str) else ""
                raise InvalidInputError(
                    f"router: {label} must be a model (a coldkit.models.Recommender){hint}, got {type(given).__name__} {given!r}; "
                    "the default hybrids take hybrid_options"
                )
        options = check_options(hybrid_options, "router: hybrid_options")
        taken = sorted(inspect.signature(Hybrid).parameters)
        unknown = sorted(set(options) - set(taken))
        if unknown:  # Python's own error listed the router's options, not the hybrid's the user meant
            raise InvalidInputError(f"router: hybrid_options {unknown} are not options of the hybrid; it takes {', '.join(taken)}")
        if user_profiles and "user_profiles" not in options:
            options["user_profiles"] = user_profiles
        self.warm = warm if warm is not None else Hybrid(**options)
        # no CF source: cf, cf_knn, and ease and item-kNN (over the clicks; a tuned fit would weigh them)
        click_sources = ("cf", "cf_knn", "ease", "item_knn")
        cold_weights = {**dict(options.pop("weights", {}) or {}), **{name: 0.0 for name in click_sources}}
        if options.get("sources") is not None:
            # the warm hybrid's sources less the click ones; none left (sources=["cf"]): the documented
            # content + popularity default, not a hybrid without sources
            kept = [name for name in _check_sources(options["sources"]) if name not in click_sources]
            options["sources"] = kept or None
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
            elif n > 0 or query.has_text:
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

    def explain(self, query: UserQuery | str, item: int | str, candidates: np.ndarray | None = None) -> str:
        """The route taken and the chosen model's reason; ``candidates``: those the list was ranked from
        (a hybrid route explains the score of that ranking, see :meth:`Hybrid.explain`)."""
        query, item, cand = _explained_inputs(self, query, item, candidates)  # refused as a hybrid would
        (route,) = self.route([query])
        model = {"warm": self.warm, "cold": self.cold, "popular": self.popular}[route]
        # a route's model that gives no reason says so (NotExplainableError, naming it): the old stand-in,
        # "one of the most popular items", was said of whatever that model ranked
        if isinstance(model, Hybrid):
            return f"[{route}] {model.explain(query, item, candidates=cand)}"
        return f"[{route}] {model.explain(query, item)}"  # the others' reasons ignore the candidates


def _explained_inputs(model: Recommender, query: object, item: object, candidates: object) -> tuple[UserQuery, int, np.ndarray | None]:
    """``explain``'s checked query, item index and candidate indices (a hybrid's, a router's). In the id form (a
    user id, a query of ids or an item id, see :meth:`Recommender._explain_args`) the candidates are item ids
    too, as ``recommend(users=..., items=...)`` takes them: they were read as indices, so string ids failed on
    their dtype and integer ids explained the item over other candidates (another regime, other lists)."""
    speaks_ids = not isinstance(query, UserQuery) or query.has_external_ids or isinstance(item, str)
    checked, index = model._explain_args(query, item)
    train = model._require_fitted()
    if not speaks_ids or candidates is None:
        return checked, index, _explained_candidates(index, candidates, train.n_items)
    from coldkit.models.frames import item_indices  # frames imports this module

    try:
        cand = np.unique(item_indices(train, candidates))  # type: ignore[arg-type]  # checked inside
    except InvalidInputError as exc:  # its words are recommend's
        raise InvalidInputError(str(exc).replace("recommend(items=...)", "explain(candidates=...)")) from None
    if not np.isin(index, cand):
        raise InvalidInputError(
            f"explain: item {train.catalog.item_ids[index]!r} is not among the {len(cand)} candidates, so no list "
            "ranked from them holds it"
        )
    return checked, index, cand


def _explained_candidates(index: int, candidates: object, n_items: int) -> np.ndarray | None:
    """``candidates`` checked as :meth:`Recommender.recommend` checks them, holding ``index`` (None: the catalogue)."""
    from coldkit.models._ranking import check_candidates

    cand = check_candidates(candidates, n_items)
    if cand is not None and not np.isin(index, cand):
        raise InvalidInputError(f"explain: item {index} is not among the {len(cand)} candidates, so no list ranked from them holds it")
    return cand
