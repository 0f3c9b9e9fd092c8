"""The read path of a serving index: recommendations, similar items and lookups over one published version.

A reader never locks: each request takes the current :class:`~coldkit.serving.state.Version` once and
answers from it alone. The scoring is the hybrid's: source weights, history/text vectors, fusion
and explanation words all come from :mod:`coldkit.models.blend`; this module only says where each
source's vectors live in a version (CF: the sum of the clicked rows' fold-in vectors; content and
text: the content rows; popularity: the interaction counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.models._ranking import extend_ranked, head_then_deeper, pad_ranked, rank_vectors
from coldkit.models.blend import (
    NO_SOURCE_REASON, WEAK_TEXT_REASON, blend, clicks_reason, close_to_text, interest_vectors, nearest_liked, shared_words,
    source_parts, source_weights, speaking_sources,
)
from coldkit.plugins.manager import get_reranker, get_similarity_backend, registry
from coldkit.plugins.types import Encoder, Ranked
from coldkit.rerank import RELAXABLE, Constraints, ItemAttributes, required_new
from coldkit.serving.errors import UnknownIdError
from coldkit.serving.model import FusionConfig, ServedModel
from coldkit.serving.state import Version, as_id, check_text, id_text, lookalikes, resolve_items
from coldkit.validation import check_flag

__all__ = [
    "IndexReader", "Recommendation", "RecommendedItem", "MAX_K", "DEFAULT_BACKEND", "check_list_length",
    "check_user_vector", "MAX_USER_VECTOR_NORM",
]

MAX_K = 1000
#: The similarity backend a serving index ranks with unless told otherwise.
DEFAULT_BACKEND = "rust"
#: The largest L2 norm a client's ``user_vector`` may have: a fold-in of every item of a large catalogue
#: stays far below it, and it keeps every float32 score finite.
MAX_USER_VECTOR_NORM = 1e6


def check_user_vector(vector: Any, dim: int) -> np.ndarray:
    """A client's user vector as float32 of length ``dim``, or InvalidInputError naming what is wrong.

    It must be a flat list of numbers (no bools, no strings), exactly ``dim`` long (the index's CF
    dimension, ``cf_dim`` in ``/health``), finite, with L2 norm at most :data:`MAX_USER_VECTOR_NORM`.
    """
    if isinstance(vector, (str, bytes, Mapping)):
        raise InvalidInputError(f"user_vector must be a list of {dim} numbers, got {type(vector).__name__}")
    if isinstance(vector, np.ndarray):
        if vector.ndim != 1:
            raise InvalidInputError(f"user_vector must be a flat list of {dim} numbers, got an array of shape {vector.shape}")
        values = vector.tolist()
    else:
        try:
            values = list(vector)
        except TypeError:
            raise InvalidInputError(f"user_vector must be a list of {dim} numbers, got {type(vector).__name__}") from None
    bad = [i for i, x in enumerate(values) if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating))]
    if bad:
        raise InvalidInputError(f"user_vector must hold only numbers; position {bad[0]} holds {values[bad[0]]!r:.40}")
    if len(values) != dim:
        # "user_vector has 1 numbers" did not read, nor say first what was expected
        raise InvalidInputError(
            f"user_vector must hold {_numbers(dim)} (this index's cf_dim, see /health), got {_numbers(len(values))}"
        )
    try:
        out = np.asarray(values, dtype=np.float64)
    except OverflowError:  # a Python int beyond float's range: the same answer as an infinite number
        raise InvalidInputError("user_vector must be finite; it holds an integer beyond the float range") from None
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"user_vector must be finite; position {int(np.flatnonzero(~np.isfinite(out))[0])} is not")
    largest = float(np.abs(out).max()) if out.size else 0.0
    norm = largest * float(np.linalg.norm(out / largest)) if largest > 0 else 0.0  # scaled: no overflow
    if not norm <= MAX_USER_VECTOR_NORM:
        raise InvalidInputError(f"user_vector's norm {norm:.3g} is above {MAX_USER_VECTOR_NORM:g}: not a fold-in of clicks")
    return out.astype(np.float32)


def _numbers(count: int) -> str:
    """``"1 number"``, ``"3 numbers"``."""
    return f"{count} number{'' if count == 1 else 's'}"


def check_list_length(k: Any) -> int:
    """``k`` as an int in ``[1, MAX_K]``, or InvalidInputError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= MAX_K:
        raise InvalidInputError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
    return int(k)


#: The reranker of lists that ask for constraints, unless a server chooses another (``coldkit serve --reranker``).
DEFAULT_RERANKER = "constraints"


@dataclass(frozen=True)
class RecommendedItem:
    """One recommended item: external id, fused score, whether it is new (cold), and why."""

    id: str
    score: float
    new: bool
    why: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """A recommendation list plus what the reranker had to relax (empty = every constraint met).

    ``unknown_categories``: the categories of a ``max_per_category`` mapping that no live item of the
    answering version has (a misspelling, ``"Comdy"``, or a category no item brings yet); their limits
    applied to nothing. Not an error: items added later may bring them.
    """

    items: list[RecommendedItem]
    relaxed: list[str]
    sources: dict[str, float]  # weight each source got for this query
    version: int  # the number of the index version that answered
    unknown_categories: list[str] = field(default_factory=list)


class IndexReader:
    """Answers queries from whatever version ``published()`` returns (see the module docstring).

    Args:
        model: the served encoder, whitening, content→CF map and blend settings.
        published: returns the current version (the writer's); called once per request.
        backend: the similarity backend name every ranking uses by default (``"rust"``).
    """

    def __init__(self, model: ServedModel, published: Callable[[], Version], backend: str = DEFAULT_BACKEND) -> None:
        if not isinstance(backend, str) or not backend:
            raise InvalidInputError(f"backend must be a similarity backend name, got {backend!r}")
        get_similarity_backend(backend)  # an unknown name fails here, naming the registered ones
        self.model = model
        self._published = published
        self.backend = backend
        # (name, options): the reranker of lists with constraints (the built-in ``constraints``), or of every
        # list where another one is chosen (:meth:`use_reranker`); one attribute, so a request never reads a
        # new name beside the old options
        self._reranker_choice: tuple[str, dict[str, Any]] = (DEFAULT_RERANKER, {})

    @property
    def reranker(self) -> str:
        """The name of the reranker this index re-ranks with (see :meth:`use_reranker`)."""
        return self._reranker_choice[0]

    @property
    def reranker_options(self) -> dict[str, Any]:
        return dict(self._reranker_choice[1])

    def use_reranker(self, name: str = DEFAULT_RERANKER, **options: Any) -> None:
        """Re-rank with the reranker registered as ``name`` (a plugin's, built with ``options``).

        The built-in ``constraints`` (the default) re-ranks the lists that ask for constraints. Another
        reranker re-ranks every list, from the fused pool (``max(3k, k + 50)`` items), with the request's
        constraints: a business rule a plugin implements applies to every answer. A request that asks for
        a constraint the reranker does not declare among its capabilities (``max_per_category``,
        ``min_new_share``) is refused, naming both; ``mmr_lambda`` still asks for the built-in ``mmr``.
        A reranker answer that breaks the contract (another row's items, repeats) is a
        :class:`~coldkit.exceptions.ComponentContractError` naming it. One reranker object is built per
        request, so a plugin's state is never shared between concurrent requests.

        Raises:
            UnknownComponentError: no reranker is registered as ``name``.
            InvalidInputError: options the reranker does not take (checked by building it once now).
        """
        build_reranker(name, options)  # an unknown name or a bad option fails here, not at the first request
        self._reranker_choice = (name, dict(options))

    # ------------------------------------------------------------------ introspection
    @property
    def version(self) -> Version:
        """The current immutable version (take it once and use it for a whole request)."""
        return self._published()

    @property
    def encoder(self) -> Encoder:
        return self.model.encoder

    @property
    def encoder_name(self) -> str:
        return self.model.encoder_name

    @property
    def fusion(self) -> FusionConfig:
        return self.model.fusion

    def stats(self) -> dict[str, Any]:
        """Counts for ``/health``."""
        v = self.version
        return {
            "items": v.n_live_items,
            "rows": v.n_rows,
            "dead_rows": int(v.dead_rows().size),
            "users": v.n_users,
            "version": v.number,
            "encoder": self.model.encoder_name,
            "backend": self.backend,
            "reranker": self.reranker,
            "content_dim": int(v.content.shape[1]),
            "cf_dim": int(v.cf.shape[1]),
        }

    def has_item(self, item_id: str) -> bool:
        """Whether ``item_id`` (a string id) is a live item of the index (deleted items are not)."""
        return self.version.item_ordinal(id_text(item_id, "item_id")) is not None

    def has_user(self, user_id: str) -> bool:
        """Whether ``user_id`` (a string id) is a user of the index (from training or added online)."""
        return self.version.user_ordinal(id_text(user_id, "user_id")) is not None

    def user_items(self, user_id: str) -> list[str]:
        """The live items user ``user_id`` interacted with."""
        v = self.version
        uid = id_text(user_id, "user_id")
        user = v.user_ordinal(uid)
        if user is None:
            raise UnknownIdError("user", [uid], lookalikes([uid], lambda u: v.user_ordinal(u) is not None))
        return [v.item_ids[o] for o in v.history(user) if v.item_row[o] >= 0]

    def item_info(self, item_id: str) -> dict[str, Any]:
        """Text, categories, image, whether new, and interaction count of a live item."""
        v = self.version
        iid = id_text(item_id, "item_id")
        ordinal = v.item_ordinal(iid)
        if ordinal is None:
            raise UnknownIdError("item", [iid], lookalikes([iid], lambda i: v.item_ordinal(i) is not None))
        row = int(v.item_row[ordinal])
        meta = v.row_meta[row]
        return {
            "id": v.item_ids[ordinal], "text": meta.text, "categories": list(meta.categories), "image": meta.image,
            "new": bool(v.row_new[row]), "interactions": int(v.item_count[ordinal]),
        }

    def foldin_vectors(
        self, offset: int = 0, limit: int | None = None, *, version: Version | None = None
    ) -> tuple[list[str], np.ndarray]:
        """``(ids, vectors)`` of live items, in row order: what a click adds to a user's CF vector.

        A device downloads these once (they hold no user's data) and computes its own user vector
        with :func:`coldkit.privacy.federated.local_user_vector`, to send as ``user_vector``.
        ``offset`` / ``limit`` page through a large catalogue; ``version`` (default: the current
        one) pins the version a caller already took, so the page and its version number agree.
        Rows, not item numbers: a snapshot renumbers the items in row order and keeps the version
        number, so pages of one version stay the same items across it.
        """
        v = self.version if version is None else version
        for label, value in (("offset", offset), ("limit", limit)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
                raise InvalidInputError(f"{label} must be an integer >= 0, got {value!r}")
        rows = np.arange(v.n_rows, dtype=np.int64)
        live = rows[v.item_row[v.row_item[: v.n_rows]] == rows]  # a row is live while its item points to it
        page = live[int(offset):] if limit is None else live[int(offset): int(offset) + int(limit)]
        return [v.item_ids[int(o)] for o in v.row_item[page]], np.asarray(v.foldin[page], dtype=np.float32)

    def encode_user_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts in the item content space (encoder, whitening, L2 norm)."""
        return self.model.encode_user_texts(texts)

    # ------------------------------------------------------------------ recommendations
    def recommend(
        self,
        user_id: str | None = None,
        *,
        text: str | None = None,
        history: Sequence[str] = (),
        k: int = 10,
        candidates: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        exclude_known: bool = True,
        max_per_category: int | Mapping[str, int] | None = None,
        min_new_share: float = 0.0,
        mmr_lambda: float | None = None,
        relax_order: Sequence[str] = RELAXABLE,
        explain: bool = True,
        backend: str | None = None,
        user_vector: Sequence[float] | np.ndarray | None = None,
        reranker: str | None = None,
        reranker_options: Mapping[str, Any] | None = None,
    ) -> Recommendation:
        """Top ``k`` items for a known user and/or profile text and/or this session's clicks — or a device's user vector.

        Args:
            user_id: a known user (their recorded interactions and profile text are used).
            text: the user's own words (added to a stored profile text).
            history: item ids clicked in this session (count as interactions for this request).
            user_vector: on-device scoring: the user's CF vector, computed (and optionally noised) on
                their device from their clicks (:func:`coldkit.privacy.federated.local_user_vector`
                over :meth:`foldin_vectors`), sent *instead of* ``user_id`` and ``history``, so the
                server never sees the click history. The CF source ranks with it and speaks with full
                trust (as for a user with a long history); the content-of-history source, which needs
                the clicks, does not speak; ``text`` and the constraints work as usual. Nothing is known
                to exclude: the device drops its own seen items (ask for ``k`` plus their number).
            k: list length, 1..1000.
            candidates: only these item ids may be recommended (None = the whole catalogue).
            exclude: item ids never to show (hard constraint; ids the index does not hold are ignored).
            exclude_known: drop items the user already interacted with (default True; a bool, not "no").
            max_per_category: at most this many items per category (int, or category -> limit; the
                categories of a mapping no live item has are listed in ``unknown_categories``).
            min_new_share: at least this share of the list must be new (cold) items.
            mmr_lambda: when set, diversify with MMR (1.0 = pure relevance, 0.0 = pure diversity).
            relax_order: which constraints may be relaxed, in order, when they cannot all hold.
            explain: add a short reason to every item.
            backend: similarity backend for this request (default: the index's ``backend``).
            reranker: the reranker of this request, built with ``reranker_options`` (default: the index's,
                :meth:`use_reranker`); an app started with one (``coldkit serve --reranker``) passes it here,
                so two apps over one index never change each other's.

        Raises:
            UnknownIdError: an unknown user or item id (named).
            InvalidInputError: ``k`` out of range, a bad constraint.
        """
        v = self.version  # one consistent version for the whole request
        k = check_list_length(k)
        exclude_known = check_flag(exclude_known, "exclude_known")  # "no" would be truthy: a silent wrong list
        explain = check_flag(explain, "explain")
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        if text is not None:
            check_text(text, "text")
        if isinstance(history, (str, bytes)) or isinstance(exclude, (str, bytes)) or isinstance(candidates, (str, bytes)):
            raise InvalidInputError("history, exclude and candidates must be lists of item ids, not a string")
        history = () if history is None else history  # None: nothing clicked (was a bare TypeError)
        exclude = () if exclude is None else exclude
        for name, ids in (("history", history), ("exclude", exclude), ("candidates", candidates)):
            if ids is not None and not hasattr(ids, "__len__"):
                raise InvalidInputError(f"{name} must be a list of item ids, got {type(ids).__name__}")
        vector = None
        if user_vector is not None:
            if user_id is not None or len(history):
                raise InvalidInputError(
                    "user_vector replaces user_id and history (on-device scoring): send one or the other, not both"
                )
            vector = check_user_vector(user_vector, int(v.cf.shape[1]))
        user = None
        texts = []
        if user_id is not None:
            uid = as_id(user_id, "user_id")
            user = v.user_ordinal(uid)
            if user is None:
                raise UnknownIdError("user", [uid], lookalikes([uid], lambda u: v.user_ordinal(u) is not None))
            if v.user_text.get(user):
                texts.append(v.user_text[user])
        if text and text.strip():
            texts.append(text)
        query_text = ". ".join(texts)
        known = [resolve_items(v, history, "history")]
        if user is not None:
            known.append(v.history(user))
        known_ord = np.unique(np.concatenate(known)).astype(np.int64)
        known_rows = v.item_row[known_ord]
        # in row order, which a snapshot keeps (it renumbers the items): the user's vectors are summed in
        # the same order before and after it, so the same request gets the same scores to the last bit
        known_rows = np.sort(known_rows[known_rows >= 0])
        # excluding an id the index does not hold (e.g. deleted meanwhile) is harmless: ignore it
        excluded = [v.item_ordinal(as_id(i, "exclude")) for i in exclude]
        excluded_rows = v.item_row[np.asarray([o for o in excluded if o is not None], dtype=np.int64)]
        cand_rows = None
        if candidates is not None:
            cand_rows = np.unique(v.item_row[resolve_items(v, candidates, "candidates")])
        if isinstance(min_new_share, bool) or not isinstance(min_new_share, (int, float)) or not 0 <= min_new_share <= 1:
            # checked before float(): an int beyond float's range was an OverflowError there
            raise InvalidInputError(f"min_new_share must be a number in [0, 1], got {min_new_share!r:.60}")
        if isinstance(relax_order, (str, bytes)):
            raise InvalidInputError("relax_order must be a list of constraint names")
        constraints = Constraints(
            max_per_category=max_per_category, min_new_share=float(min_new_share), relax_order=tuple(relax_order)
        )
        unknown_categories: list[str] = []
        if isinstance(max_per_category, Mapping):
            # a misspelt category ("Comdy") limited nothing and the answer said relaxed: [], as if it held;
            # named, not refused: an item added later may bring the category
            present = v.categories()
            unknown_categories = [str(c) for c in max_per_category if c not in present]
        if mmr_lambda is not None and not (
            isinstance(mmr_lambda, (int, float)) and not isinstance(mmr_lambda, bool) and 0 <= mmr_lambda <= 1
        ):
            raise InvalidInputError(f"mmr_lambda must be a number in [0, 1], got {mmr_lambda!r:.60}")
        rerank_name, rerank_options = (reranker, dict(reranker_options or {})) if reranker is not None else self._reranker_choice
        chosen = rerank_name != DEFAULT_RERANKER and mmr_lambda is None  # a server's own reranker: every list
        own_reranker = None
        if chosen:
            own_reranker, takes = build_reranker(rerank_name, rerank_options)  # one per request: no state shared
            asked = [c for c, on in (("max_per_category", max_per_category is not None), ("min_new_share", min_new_share > 0)) if on]
            lacking = [c for c in asked if c not in takes]
            if lacking:
                raise InvalidInputError(
                    f"this server re-ranks with {rerank_name!r}, which does not take {', '.join(lacking)} (it declares "
                    f"{', '.join(sorted(takes)) or 'no constraint'}); drop {'it' if len(lacking) == 1 else 'them'} "
                    "or ask for mmr_lambda (the built-in mmr reranker)"
                )
        rerank = chosen or mmr_lambda is not None or max_per_category is not None or min_new_share > 0
        backend = self.backend if backend is None else backend

        fusion = self.model.fusion
        if vector is not None:
            # the device's vector stands for a history the server does not see: trust it fully (β = 1);
            # the content-of-history source needs the clicks themselves and stays silent
            weights = source_weights(np.array([1]), np.array([bool(query_text)]), fusion.weights, 0.0)
            if "content" in weights:
                weights["content"] = np.zeros(1)
        else:
            weights = source_weights(
                np.array([known_rows.size]), np.array([bool(query_text)]), fusion.weights, fusion.user_trust
            )
        if fusion.learned is not None and vector is None:  # the hybrid's learned regimes, chosen exactly as Hybrid.query_weights does
            cold_candidates = (
                cand_rows is not None and cand_rows.size > 0 and not v.item_count[v.row_item[cand_rows]].any()
            )
            weights = fusion.learned.for_queries(
                np.array([known_rows.size]), bool(cold_candidates), weights, has_text=np.array([bool(query_text)])
            )
        pool = min(max(3 * k, k + 50), MAX_K * 3) if rerank else k
        if min_new_share > 0:
            # new items rarely top a fused list: give the reranker the sources' whole depth to find them
            pool = max(pool, fusion.depth)
        # Known items (and deleted rows) leave every source's list before the fusion, as in the hybrid; the
        # request's own blocklist leaves the fused list after it, so blocking an item only removes it: taken out
        # of a source's list first, it moved that list's min-max bounds and re-ordered every other item.
        drop = [v.dead_rows()]
        if exclude_known:
            drop.append(known_rows)
        exclusions = [np.unique(np.concatenate(drop)).astype(np.int64)]
        blocked = np.setdiff1d(excluded_rows, exclusions[0]).astype(np.int64)
        if cand_rows is not None:
            blocked = np.intersect1d(blocked, cand_rows)
        need_new = required_new(constraints, k) if min_new_share > 0 else 0
        new_rows = np.flatnonzero(v.row_new) if need_new else None
        if new_rows is not None:
            if cand_rows is not None:
                new_rows = np.intersect1d(new_rows, cand_rows)
            new_rows = np.setdiff1d(new_rows, blocked)

        def rank(query: np.ndarray, vectors: np.ndarray, depth: int, with_new: bool) -> Ranked:
            ranked = rank_vectors(
                query.reshape(1, -1), vectors, depth, metric="dot", exclude=exclusions, candidates=cand_rows,
                backend=backend,
            )
            if not with_new:
                return ranked
            # Each source also lists its best `need_new` new items: a source that ranks them last (popularity:
            # no clicks yet) left the reranker a pool without new items once the catalogue outgrew the
            # depth, and min_new_share was "relaxed" while new items were there to show
            best_new = rank_vectors(
                query.reshape(1, -1), vectors, need_new, metric="dot", exclude=exclusions, candidates=new_rows,
                backend=backend,
            )
            return _merged(ranked, best_new)

        encoded: dict[str, np.ndarray] = {}

        def text_vector() -> np.ndarray:
            if "text" not in encoded:  # once per request: the "why" below reuses it
                encoded["text"] = self.model.encode_user_texts([query_text])
            return encoded["text"]

        def ranked_text(ranked: Ranked) -> Ranked:
            if "best" not in encoded:  # the best text match's score, from the lists at the fusion's depth
                top = ranked.scores[0][ranked.indices[0] >= 0]
                encoded["best"] = np.asarray([float(top.max()) if top.size else 0.0])
            return ranked

        none = np.empty(0, dtype=np.int64)

        def rankers(depth: int, with_new: bool = False) -> dict[str, Callable[[], Ranked]]:
            return {
                # a click's fold-in vector is what it adds to the user's CF vector (PureSVD fold-in)
                "cf": lambda: rank(v.foldin[known_rows].sum(axis=0) if vector is None else vector, v.cf, depth, with_new),
                "content": lambda: rank(interest_vectors(v.content, [known_rows]), v.content, depth, with_new),
                "text": lambda: ranked_text(rank(
                    interest_vectors(v.content, [none], text_vector(), fusion.text_weight), v.content, depth, with_new)),
                "popularity": lambda: rank(np.ones(1, dtype=np.float32), v.popularity(), depth, with_new),
            }

        # What each fusion was given, by depth: the "why" asks the deepest one what each source added.
        fusions: dict[int, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}

        def fused_at(depth: int, n: int) -> Ranked:
            inputs: dict[str, Any] = {}
            ranked, used_here = blend(rankers(depth), weights, self.model.fusion_strategy, n, inputs=inputs)
            fusions[depth] = (used_here, inputs)
            return ranked

        # The sources' lists at the fusion's depth make the head whatever k, pool or blocklist (the hybrid's
        # head_then_deeper): sources ranked deeper for a longer list re-normalised over it, so the first item
        # for a user changed with k above a third of the depth.
        fused = head_then_deeper(fused_at, pool + blocked.size, fusion.depth)
        if blocked.size:
            fused = _without(fused, blocked, pool)
        used = fusions[fusion.depth][0]
        fused_from = fusions[max(fusions)][1]  # the deepest lists: every item of the list is in them
        if new_rows is not None and new_rows.size:
            # below the pool, the best new items of the sources' lists with their best new items merged in
            # (a fusion apart: merged into the lists the head comes from, they moved its bounds too)
            fused_from = {}  # the new items are in these lists only
            merged, _ = blend(
                rankers(fusion.depth, with_new=True), weights, self.model.fusion_strategy, 4 * (fusion.depth + need_new),
                inputs=fused_from,
            )
            fused = _with_new(fused, merged, new_rows, need_new)
        sources = {name: float(w[0]) for name, w in {**weights, **used}.items()}
        relaxed: list[str] = []
        if rerank:
            fused, relaxed = self._rerank(v, fused, k, constraints, mmr_lambda, own_reranker, rerank_name)
        rows = fused.indices[0]
        scores = fused.scores[0]
        keep = rows >= 0
        rows, scores = rows[keep][:k], scores[keep][:k]
        parts: dict[str, np.ndarray] = {}
        if explain and rows.size:
            # what the fusion added for each listed item, per source (rank fusion and score fusion differ)
            parts = source_parts(self.model.fusion_strategy, fused_from["sources"], fused_from["weights"], rows[None, :])
        items = [
            RecommendedItem(
                id=v.item_ids[int(v.row_item[r])], score=float(s), new=bool(v.row_new[r]),
                why=self._why(v, int(r), known_rows, query_text, encoded,
                              {name: float(part[0, j]) for name, part in parts.items()}) if explain else None,
            )
            for j, (r, s) in enumerate(zip(rows, scores))
        ]
        return Recommendation(items=items, relaxed=relaxed, sources=sources, version=v.number,
                              unknown_categories=unknown_categories)

    def _rerank(
        self, v: Version, fused: Ranked, k: int, constraints: Constraints, mmr_lambda: float | None,
        own: Any = None, own_name: str = DEFAULT_RERANKER,
    ) -> tuple[Ranked, list[str]]:
        """Re-rank the fused pool under constraints, with attributes of the pool's items only (O(pool), not O(catalogue))."""
        rows = fused.indices[0]
        valid = rows >= 0
        local = np.where(valid, np.arange(rows.size), -1)[None, :]
        pool_rows = np.where(valid, rows, 0)
        attrs = ItemAttributes(
            categories=[v.row_meta[int(r)].categories for r in pool_rows],
            is_new=v.row_new[pool_rows],
            # MMR reads them, and so may a server's own reranker (diversity): only the pool's rows
            vectors=v.content[pool_rows] if mmr_lambda is not None or own is not None else None,
        )
        if mmr_lambda is not None:
            reranker = get_reranker("mmr", lambda_=float(mmr_lambda))
        elif own is not None:
            reranker = own
        else:
            reranker = get_reranker(DEFAULT_RERANKER)
        result = reranker.rerank(Ranked(local.astype(np.int64), fused.scores), k, constraints=constraints, items=attrs)
        if reranker is own:
            _check_reranked(result, local[0], k, own_name)
        chosen = result.ranked.indices[0]
        out = np.where(chosen >= 0, rows[np.clip(chosen, 0, None)], -1)
        return Ranked(out[None, :], result.ranked.scores), list(result.relaxed[0]) if result.relaxed else []

    def _why(
        self, v: Version, row: int, known_rows: np.ndarray, text: str, encoded: Mapping[str, np.ndarray],
        parts: Mapping[str, float],
    ) -> str:
        """The reason shown with an item: what the sources that ranked it say (the nearest recent click,
        the words it shares with the query or its closeness to the query's text, users with similar clicks,
        its popularity).

        ``parts``: what each source of the blend added to this item's fused score (:func:`source_parts`);
        only the sources :func:`speaking_sources` finds among them give a reason, so popularity is named
        only where popularity ranked the item. ``encoded`` holds the text's vector and best score.
        """
        reasons = []
        for name in speaking_sources(parts):
            if name == "content":
                recent = known_rows[-200:]  # at most 200 of the user's items: bounded work per listed item
                liked = nearest_liked(v.content[recent], v.content[row])
                if liked is not None:
                    best, similarity = liked
                    reasons.append(f"similar to {v.item_ids[int(v.row_item[recent[best]])]!r} (content {similarity:.2f})")
            elif name == "text" and text:
                reasons.extend(self._text_reason(v, row, text, encoded))
            elif name == "cf":
                # the collaborative source: the user's clicks (or on-device vector) folded into the CF space
                reasons.append(clicks_reason(int(v.item_count[int(v.row_item[row])]), bool(v.content[row].any())))
            elif name == "popularity":
                reasons.append(self._popular(v, row))
        # every part 0: the item sits at the bottom of each list that holds it (a min-max floor), tied with
        # what no source listed; popularity, which had not ranked it, was named here
        return "; ".join(reasons or [NO_SOURCE_REASON])

    @staticmethod
    def _popular(v: Version, row: int) -> str:
        count = int(v.item_count[int(v.row_item[row])])
        # "popular: 1 users" for an item with one click (the models' own reasons say "1 user")
        return f"popular: {count} user{'s' if count != 1 else ''}" if count else "new item"

    def _text_reason(self, v: Version, row: int, text: str, encoded: Mapping[str, np.ndarray]) -> list[str]:
        """The words the item shares with the query's text, or its closeness to that text (close_to_text),
        or, when the text ranked it without being close (every match weak, or negative), that closeness."""
        reasons = []
        if text:
            shared = shared_words(text, v.row_meta[row].text)
            if shared:
                reasons.append("matches your words: " + ", ".join(shared))
            elif "text" in encoded and "best" in encoded:
                # ranked by the text's meaning without a shared word (a synonym for a sentence encoder);
                # the popularity fallback named a count (often 1 user) that had not ranked it. Close: see
                # close_to_text, against the best match of this request
                closeness = float(v.content[row] @ encoded["text"][0])
                if close_to_text(closeness, float(encoded["best"][0])):
                    reasons.append(f"close to your words (content {closeness:.2f})")
                else:
                    # the text ranked it (it is named), yet it is not "close": the candidates' best matches
                    # are weak (or all negative); say that, with the honest similarity, not popularity
                    reasons.append(f"{WEAK_TEXT_REASON} (content {closeness:.2f})")
        return reasons

    def similar_items(
        self, item_id: str, k: int = 10, *, candidates: Sequence[str] | None = None, backend: str | None = None
    ) -> list[RecommendedItem]:
        """The ``k`` live items whose content is nearest ``item_id``'s (itself excluded); none for an item
        without content (a zero content vector: empty text and no image)."""
        v = self.version
        k = check_list_length(k)
        (ordinal,) = resolve_items(v, [item_id], "item id")
        row = int(v.item_row[ordinal])
        if not np.any(v.content[row]):
            # an item without content (empty text, no image): every item scored 0 and the first k in
            # index order were listed as "similar"; nothing is similar to it
            return []
        cand = None
        if candidates is not None:
            cand = np.unique(v.item_row[resolve_items(v, candidates, "candidates")])
        exclusions = [np.unique(np.append(v.dead_rows(), row)).astype(np.int64)]
        ranked = rank_vectors(
            v.content[row][None, :], v.content, k, metric="dot", exclude=exclusions, candidates=cand,
            backend=self.backend if backend is None else backend,
        )
        return [
            RecommendedItem(id=v.item_ids[int(v.row_item[r])], score=float(s), new=bool(v.row_new[r]))
            for r, s in zip(ranked.indices[0], ranked.scores[0])
            if r >= 0
        ]



def _merged(first: Ranked, second: Ranked) -> Ranked:
    """One row: the items of both lists, each once, by score (the lists score alike: one query, one source)."""
    indices = np.concatenate([first.indices[0], second.indices[0]])
    scores = np.concatenate([first.scores[0], second.scores[0]]).astype(np.float32)
    keep = indices >= 0
    indices, scores = indices[keep], scores[keep]
    _, once = np.unique(indices, return_index=True)
    indices, scores = indices[once], scores[once]
    order = np.argsort(-scores, kind="stable")
    return pad_ranked(indices[order][None, :], scores[order][None, :], first.indices.shape[1] + second.indices.shape[1])


def _with_new(pool: Ranked, merged: Ranked, new_rows: np.ndarray, need_new: int) -> Ranked:
    """The reranker's pool: ``pool`` as fused, then the best ``need_new`` of ``merged``'s items among ``new_rows``
    (the new items the request allows: candidates, not blocked) that it does not hold, their scores capped so
    none is above the one before it."""
    indices = merged.indices[0]
    new = (indices >= 0) & np.isin(indices, new_rows) & ~np.isin(indices, pool.indices[0][pool.indices[0] >= 0])
    picked = np.flatnonzero(new)[:need_new]
    tail = Ranked(indices[picked][None, :], merged.scores[0][picked][None, :])
    width = int(np.count_nonzero(pool.indices[0] >= 0)) + picked.size
    return extend_ranked(pool, tail, width)


def _without(fused: Ranked, blocked: np.ndarray, k: int) -> Ranked:
    """``fused``'s first row less the ``blocked`` items, its first ``k``."""
    indices, scores = fused.indices[0], fused.scores[0]
    keep = (indices >= 0) & ~np.isin(indices, blocked)
    return pad_ranked(indices[keep][None, :k], scores[keep][None, :k], k)


def build_reranker(name: object, options: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    """The reranker registered as ``name``, built with ``options``, and the constraints it declares it takes."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"reranker must be a registered reranker name, got {name!r}")
    built = get_reranker(name, **options)
    return built, frozenset(registry("reranker").get(name).capabilities) | frozenset(getattr(built, "capabilities", ()) or ())


def _check_reranked(result: Any, pool: np.ndarray, k: int, name: str) -> None:
    """A server's own reranker answered one row of at most ``k`` of the pool's items, each once, with finite
    scores; else :class:`ComponentContractError` naming it (another row's index would have shown another item)."""
    from coldkit.rerank import Reranked

    where = f"reranker {name!r}"
    if not isinstance(result, Reranked):
        raise ComponentContractError(f"{where}: rerank() must return coldkit.Reranked, got {type(result).__name__}")
    idx, scores = np.asarray(result.ranked.indices), np.asarray(result.ranked.scores)
    if idx.ndim != 2 or idx.shape[0] != 1 or idx.shape[1] > k or scores.shape != idx.shape or idx.dtype.kind not in "iu":
        raise ComponentContractError(f"{where}: rerank() gave indices {idx.shape} ({idx.dtype}), scores {scores.shape}; expected 1 row of at most {k} integers")
    shown = idx[0][idx[0] >= 0]
    valid = set(pool[pool >= 0].tolist())
    if not set(shown.tolist()) <= valid or len(set(shown.tolist())) != shown.size or not np.isfinite(scores[0][idx[0] >= 0]).all():
        raise ComponentContractError(f"{where}: rerank() listed {idx[0].tolist()[:20]}: items outside its {len(valid)} candidates, repeats or non-finite scores")
    if not isinstance(result.relaxed, list) or (result.relaxed and not all(isinstance(n, str) for n in result.relaxed[0])):
        raise ComponentContractError(f"{where}: rerank()'s relaxed must be one list of strings per row, got {result.relaxed!r:.100}")
