"""The served object: the online form of coldkit's hybrid recommender.

A :class:`ServingIndex` holds, as plain arrays, what :class:`coldkit.models.hybrid.Hybrid` (with a
factorised warm space) learned: whitened content vectors of every item, CF item vectors ``q_i``
(learned for warm items, mapped from content by the ridge adapter for cold ones), the ridge map
itself, the whitening, popularity counts and every user's interactions. It answers the same
question as the hybrid — one adaptive, fused ranking per query — and takes writes online:

* items are added, updated or deleted (a new item is encoded, whitened, mapped to a CF vector,
  appended, and is recommendable by the next request);
* interactions are recorded (a user's CF vector is a fold-in of their clicks, computed per request,
  so it is never stale); an unknown user becomes a new user;
* a new user can also be described by profile text.

Each write is validated, appended to the write-ahead log (fsync) when the index is attached to a
directory, and only then published (see :mod:`coldkit.serving.state` for the versioning that lets
readers run during writes). :func:`coldkit.serving.save` snapshots it; :func:`coldkit.serving.load`
reopens it and replays the log.

Example::

    import coldkit
    from coldkit.serving import ServingIndex

    data = coldkit.load_dataset("ml-latest-small")
    index = ServingIndex.build(data.interactions, encoder="hashing")
    index.upsert_items([{"id": "new-1", "text": "A space opera with robots", "categories": ["Sci-Fi"]}])
    index.recommend(text="robots in space", k=5)
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

import coldkit
from coldkit.data.interactions import Interactions
from coldkit.encoding import check_texts, normalize_rows
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import pad_ranked, rank_vectors
from coldkit.models.whitening import Whitening
from coldkit.plugins.types import Encoder, Ranked
from coldkit.rerank import RELAXABLE, Constraints, ItemAttributes
from coldkit.serving.errors import ReadOnlyIndexError, UnknownIdError
from coldkit.serving.state import ItemMeta, RowBuffer, Version

if TYPE_CHECKING:
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving.storage import WriteAheadLog

__all__ = ["ServingIndex", "FusionConfig", "Recommendation", "RecommendedItem", "MAX_K"]

MAX_K = 1000
SOURCES = ("cf", "content", "text", "popularity")
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    "a an and are as at be but by for from has have i in is it its me my of on or so that the this to was "
    "were what who with you your like love likes loves about very really".split()
)


@dataclass(frozen=True)
class FusionConfig:
    """How the sources are blended (the hybrid's adaptive fusion).

    Per query with ``n`` known interactions, ``β = n / (n + user_trust)`` and the weights are
    ``cf: weights["cf"]·β``, ``content: weights["content"]`` (users with clicks: the mean of their
    items' content vectors), ``text: weights["text"]`` (users with profile/request text),
    ``popularity: weights["popularity"]·(1 - β)``; the ``strategy`` fusion plugin merges each
    source's top ``depth`` items. The defaults are the Hybrid's.
    """

    strategy: str = "weighted"
    options: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"cf": 1.0, "content": 0.1, "text": 0.5, "popularity": 0.5}
    )
    user_trust: float = 5.0
    depth: int = 200
    text_weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
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
        )
        config.validate()
        return config

    def validate(self) -> None:
        unknown = set(self.weights) - set(SOURCES)
        if unknown:
            raise InvalidInputError(f"unknown fusion weight(s) {sorted(unknown)}; sources: {', '.join(SOURCES)}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights.values()):
            raise InvalidInputError(f"fusion weights must be finite and >= 0, got {dict(self.weights)}")
        if not np.isfinite(self.user_trust) or self.user_trust < 0:
            raise InvalidInputError(f"user_trust must be >= 0, got {self.user_trust}")
        if self.depth < 1:
            raise InvalidInputError(f"depth must be >= 1, got {self.depth}")
        coldkit.get_fusion(self.strategy, **dict(self.options))  # unknown name/options fail here


@dataclass(frozen=True)
class RecommendedItem:
    """One recommended item: external id, fused score, whether it is new (cold), and why."""

    id: str
    score: float
    new: bool
    why: str | None = None


@dataclass(frozen=True)
class Recommendation:
    """A recommendation list plus what the reranker had to relax (empty = every constraint met)."""

    items: list[RecommendedItem]
    relaxed: list[str]
    sources: dict[str, float]  # weight each source got for this query
    seq: int  # the index version that answered


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _encode_vectors(content: np.ndarray, mapped: np.ndarray) -> dict[str, Any]:
    """Float32 arrays as base64 for a log record (exact, unlike decimal text)."""
    return {
        "content": base64.b64encode(np.ascontiguousarray(content, dtype="<f4").tobytes()).decode("ascii"),
        "mapped": base64.b64encode(np.ascontiguousarray(mapped, dtype="<f4").tobytes()).decode("ascii"),
        "dims": [int(content.shape[1]), int(mapped.shape[1])],
    }


def _decode_vectors(record: Mapping[str, Any], rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The vectors a log record carries, or None when it carries none (then the item is encoded again)."""
    if "content" not in record:
        return None
    try:
        d_content, d_cf = (int(x) for x in record["dims"])
        content = np.frombuffer(base64.b64decode(record["content"]), dtype="<f4").reshape(rows, d_content)
        mapped = np.frombuffer(base64.b64decode(record["mapped"]), dtype="<f4").reshape(rows, d_cf)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"log record has malformed item vectors: {exc}") from exc
    return content.astype(np.float32), mapped.astype(np.float32)


def _as_id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
        raise InvalidInputError(f"{what} must be a string (or integer) id, got {type(value).__name__}: {value!r:.60}")
    text = str(value)
    if not text or len(text) > 256:
        raise InvalidInputError(f"{what} must be a non-empty id of at most 256 characters, got {text!r:.60}")
    return text


class ServingIndex:
    """The persistent, online-updatable hybrid recommender behind ``coldkit serve`` (see the module docstring).

    Build with :meth:`build` (from training interactions) or :meth:`from_hybrid` (from a fitted
    ``Hybrid(warm="svd")``); persist with ``coldkit.serving.save``; reopen with ``coldkit.serving.load``.
    All public methods are thread-safe: reads never block, writes are serialised.
    """

    def __init__(
        self,
        version: Version,
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
        self._version = version
        self.encoder = encoder
        self.encoder_name = encoder_name
        self.encoder_options = dict(encoder_options)
        self.whitener = whitener
        self.map_weights = np.asarray(map_weights, dtype=np.float64)
        self.map_intercept = np.asarray(map_intercept, dtype=np.float64)
        self.fusion = fusion
        self._fusion = coldkit.get_fusion(fusion.strategy, **dict(fusion.options))
        self._write_lock = threading.RLock()
        self._encode_lock = threading.Lock()  # encoders are not promised to be thread-safe
        self.wal: "WriteAheadLog | None" = None
        self.path: str | None = None
        self.read_only = False
        self._buffers = {
            "content": RowBuffer(version.content),
            "cf": RowBuffer(version.cf),
            "foldin": RowBuffer(version.foldin),
            "row_item": RowBuffer(version.row_item),
            "row_new": RowBuffer(version.row_new),
        }

    # ================================================================== construction
    @classmethod
    def build(
        cls,
        interactions: Interactions,
        *,
        encoder: str | None = None,
        encoder_options: Mapping[str, Any] | None = None,
        fusion_options: Mapping[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        category_column: str | None = "genres",
        cache: bool = True,
        **hybrid_options: Any,
    ) -> "ServingIndex":
        """Fit a ``Hybrid(warm="svd")`` on ``interactions`` and turn it into a serving index.

        Args:
            interactions: training data over the full catalogue (cold items included).
            encoder: registered encoder name (default: ``"bert"`` if installed, else ``"hashing"``);
                it must be re-creatable by name + ``encoder_options`` for :func:`load`.
            fusion_options: options of the fusion strategy.
            weights: source weights (keys ``cf``, ``content``, ``text``, ``popularity``); the
                hybrid's defaults otherwise.
            category_column: catalogue column of ``|``-separated categories (for per-category
                limits); None or a missing column means no categories.
            cache: use the on-disk vector cache while encoding the catalogue.
            hybrid_options: any other :class:`coldkit.models.hybrid.Hybrid` option (``whitening``,
                ``adapter_l2``, ``item_trust``, ``user_trust``, ``fusion``, ``depth``); the hybrid's
                defaults otherwise.
        """
        from coldkit.models.hybrid import DEFAULT_WEIGHTS, Hybrid
        from coldkit.models.registry import default_encoder_name

        if not isinstance(interactions, Interactions):
            raise InvalidInputError(f"ServingIndex.build expects coldkit.data.Interactions, got {type(interactions).__name__}")
        name = encoder or default_encoder_name()
        if not isinstance(name, str):
            raise InvalidInputError("ServingIndex.build needs the encoder's registered name, so load() can re-create it")
        for fixed in ("warm", "user_profiles", "encoder_options"):
            if fixed in hybrid_options:
                raise InvalidInputError(f"ServingIndex.build does not take {fixed!r} (the served hybrid uses warm='svd', no profiles)")
        options = dict(encoder_options or {})
        unserved = {k: 0.0 for k in DEFAULT_WEIGHTS if k not in SOURCES}  # e.g. the profile kNN: not served
        model = Hybrid(
            encoder=name, encoder_options=options, warm="svd", fusion_options=dict(fusion_options or {}),
            weights={**unserved, **dict(weights or {})}, cache=cache, **hybrid_options,
        )
        model.fit(interactions)
        return cls.from_hybrid(
            model, interactions, encoder_name=name, encoder_options=options,
            fusion_options=fusion_options, category_column=category_column,
        )

    @classmethod
    def from_hybrid(
        cls,
        model: "Hybrid",
        interactions: Interactions,
        *,
        encoder_name: str,
        encoder_options: Mapping[str, Any] | None = None,
        fusion_options: Mapping[str, Any] | None = None,
        category_column: str | None = "genres",
    ) -> "ServingIndex":
        """A serving index from a fitted :class:`~coldkit.models.hybrid.Hybrid` whose warm space is ``"svd"``.

        The EASE / item-kNN warm spaces have one CF dimension per warm item, far too wide to
        serve a large catalogue; the factorised ``svd`` space (``factors`` wide) is what is served.
        """
        cf_model = model.cf
        if getattr(cf_model.warm, "kind", None) != "svd" or not hasattr(cf_model, "weights_"):
            raise InvalidInputError("ServingIndex.from_hybrid needs a fitted Hybrid(warm='svd') (ridge adapter)")
        content = np.ascontiguousarray(model.content.item_vectors(), dtype=np.float32)
        cf = np.ascontiguousarray(cf_model.item_vectors(), dtype=np.float32)
        counts = interactions.item_counts().astype(np.float64)
        warm = counts > 0
        # A click on a warm item adds its learned basis row to the user's CF vector (PureSVD fold-in,
        # exactly WarmSpace.user_vectors); a click on a cold item adds its content-mapped vector.
        assert cf_model.mapped_vectors_ is not None
        foldin = np.where(warm[:, None], cf_model.warm.item_vectors_, cf_model.mapped_vectors_).astype(np.float32)
        catalog = interactions.catalog
        texts = catalog.texts()
        categories: list[tuple[str, ...]] = [()] * len(catalog)
        if category_column and category_column in catalog.table.columns:
            values = catalog.table[category_column].astype("string").fillna("")
            categories = [tuple(c.strip() for c in str(v).split("|") if c.strip()) for v in values]
        images: list[str | None] = [None] * len(catalog)
        n = len(catalog)
        matrix = interactions.matrix
        version = Version(
            seq=0,
            n_rows=n,
            content=content,
            cf=cf,
            foldin=np.ascontiguousarray(foldin),
            row_item=np.arange(n, dtype=np.int64),
            row_new=~warm,
            row_meta=[ItemMeta(t, c, i) for t, c, i in zip(texts, categories, images)],
            n_items=n,
            item_ids=[str(i) for i in catalog.item_ids],
            item_index={str(i): o for o, i in enumerate(catalog.item_ids)},
            item_row=np.arange(n, dtype=np.int64),
            item_count=counts,
            n_users=interactions.n_users,
            user_ids=[str(u) for u in interactions.user_ids],
            user_index=interactions.user_index(),
            base_indptr=matrix.indptr.astype(np.int64),
            base_items=matrix.indices.astype(np.int64),
        )
        unserved = {k: w for k, w in model.weights.items() if k not in SOURCES and w > 0}
        if unserved:
            raise InvalidInputError(
                f"the serving index serves the sources {', '.join(SOURCES)}; build the Hybrid with weight 0 for {sorted(unserved)}"
            )
        weights = {k: float(v) for k, v in model.weights.items() if k in SOURCES}
        fusion = FusionConfig(
            strategy=model.fusion.name, options=dict(fusion_options or {}), weights=weights,
            user_trust=model.user_trust, depth=model.depth, text_weight=model.content.text_weight,
        )
        return cls(
            version, encoder=model.content.encoder, encoder_name=encoder_name, encoder_options=encoder_options or {},
            whitener=model.content.whitener, map_weights=cf_model.weights_, map_intercept=cf_model.intercept_,
            fusion=fusion,
        )

    def close(self) -> None:
        """Close the write-ahead log and release the writer lock (the index stays readable, writes stop being logged)."""
        with self._write_lock:
            if self.wal is not None:
                self.wal.close()
                self.wal = None
            lock = getattr(self, "_lock_fh", None)
            if lock is not None:
                lock.close()
                self._lock_fh = None
            if self.path is not None:
                self.read_only = True  # unlogged writes would be lost silently: refuse them instead

    # ================================================================== introspection
    @property
    def version(self) -> Version:
        """The current immutable version (take it once and use it for a whole request)."""
        return self._version

    def stats(self) -> dict[str, Any]:
        """Counts for ``/health``."""
        v = self._version
        return {
            "items": v.n_live_items,
            "rows": v.n_rows,
            "dead_rows": int(v.dead_rows().size),
            "users": v.n_users,
            "seq": v.seq,
            "encoder": self.encoder_name,
            "content_dim": int(v.content.shape[1]),
            "cf_dim": int(v.cf.shape[1]),
        }

    def has_item(self, item_id: str) -> bool:
        return self._version.item_ordinal(str(item_id)) is not None

    def has_user(self, user_id: str) -> bool:
        return self._version.user_ordinal(str(user_id)) is not None

    def user_items(self, user_id: str) -> list[str]:
        """The live items user ``user_id`` interacted with."""
        v = self._version
        user = v.user_ordinal(str(user_id))
        if user is None:
            raise UnknownIdError("user", [str(user_id)])
        return [v.item_ids[o] for o in v.history(user) if v.item_row[o] >= 0]

    def item_info(self, item_id: str) -> dict[str, Any]:
        """Text, categories, image, whether new, and interaction count of a live item."""
        v = self._version
        ordinal = v.item_ordinal(str(item_id))
        if ordinal is None:
            raise UnknownIdError("item", [str(item_id)])
        row = int(v.item_row[ordinal])
        meta = v.row_meta[row]
        return {
            "id": v.item_ids[ordinal], "text": meta.text, "categories": list(meta.categories), "image": meta.image,
            "new": bool(v.row_new[row]), "interactions": int(v.item_count[ordinal]),
        }

    # ================================================================== encoding
    def encode_user_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts in the item content space (encoder, whitening, L2 norm)."""
        texts, _ = check_texts(texts)
        with self._encode_lock:
            raw = np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
        return self.whitener.transform(raw, normalize=True)

    def _encode_items(self, texts: list[str], images: list[str | None], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(content, mapped CF) vectors of new item contents."""
        texts, _ = check_texts(texts, labels)
        with self._encode_lock:
            raw = np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)
            wanted = [i for i, image in enumerate(images) if image]
            if wanted:
                if "image" not in getattr(self.encoder, "modalities", frozenset()):
                    raise InvalidInputError(
                        f"item {labels[wanted[0]]!r} has an image but encoder {self.encoder_name!r} encodes text only; "
                        "build the index with an image encoder (e.g. 'clip') or drop the image"
                    )
                from coldkit.encoding import load_image

                pictures = [load_image(images[i], f"item {labels[i]!r}") for i in wanted]
                pics = normalize_rows(self.encoder.encode_images(pictures))  # type: ignore[attr-defined]
                # same space (CLIP): the mean of text and image, as encode_catalog(combine="mean")
                raw[wanted] = normalize_rows(0.5 * raw[wanted] + 0.5 * pics)
        if raw.shape != (len(texts), self.whitener.mean_.size if self.whitener.mean_ is not None else raw.shape[1]):
            raise InvalidInputError(f"encoder returned shape {raw.shape} for {len(texts)} texts")
        content = self.whitener.transform(raw, normalize=True)
        mapped = (content.astype(np.float64) @ self.map_weights + self.map_intercept).astype(np.float32)
        return content, mapped

    # ================================================================== reads
    def _resolve_items(self, v: Version, ids: Iterable[Any], what: str) -> np.ndarray:
        """Item ordinals of live items, or UnknownIdError naming every unknown id."""
        ordinals, unknown = [], []
        for value in ids:
            item_id = _as_id(value, what)
            ordinal = v.item_ordinal(item_id)
            if ordinal is None:
                unknown.append(item_id)
            else:
                ordinals.append(ordinal)
        if unknown:
            raise UnknownIdError("item", unknown)
        return np.asarray(ordinals, dtype=np.int64)

    def recommend(
        self,
        user_id: str | None = None,
        *,
        text: str | None = None,
        recent_items: Sequence[str] = (),
        k: int = 10,
        candidates: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        exclude_seen: bool = True,
        max_per_category: int | Mapping[str, int] | None = None,
        min_new_share: float = 0.0,
        mmr_lambda: float | None = None,
        relax_order: Sequence[str] = RELAXABLE,
        explain: bool = True,
    ) -> Recommendation:
        """Top ``k`` items for a known user and/or profile text and/or recent clicks.

        Args:
            user_id: a known user (their recorded interactions and profile text are used).
            text: the user's own words (added to a stored profile text).
            recent_items: item ids clicked in this session (count as interactions for this request).
            k: list length, 1..1000.
            candidates: only these item ids may be recommended (None = the whole catalogue).
            exclude: item ids never to show (hard constraint; ids the index does not hold are ignored).
            exclude_seen: drop items the user already interacted with (default True).
            max_per_category: at most this many items per category (int, or category -> limit).
            min_new_share: at least this share of the list must be new (cold) items.
            mmr_lambda: when set, diversify with MMR (1.0 = pure relevance, 0.0 = pure diversity).
            relax_order: which constraints may be relaxed, in order, when they cannot all hold.
            explain: add a short reason to every item.

        Raises:
            UnknownIdError: an unknown user or item id (named).
            InvalidInputError: ``k`` out of range, a bad constraint.
        """
        v = self._version  # one consistent version for the whole request
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= MAX_K:
            raise InvalidInputError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
        k = int(k)
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        if isinstance(recent_items, (str, bytes)) or isinstance(exclude, (str, bytes)) or isinstance(candidates, (str, bytes)):
            raise InvalidInputError("recent_items, exclude and candidates must be lists of item ids, not a string")
        user = None
        texts = []
        if user_id is not None:
            uid = _as_id(user_id, "user_id")
            user = v.user_ordinal(uid)
            if user is None:
                raise UnknownIdError("user", [uid])
            if v.user_text.get(user):
                texts.append(v.user_text[user])
        if text and text.strip():
            texts.append(text)
        query_text = ". ".join(texts)
        known = [self._resolve_items(v, recent_items, "recent_items")]
        if user is not None:
            known.append(v.history(user))
        known_ord = np.unique(np.concatenate(known)).astype(np.int64)
        known_rows = v.item_row[known_ord]
        known_rows = known_rows[known_rows >= 0]
        # excluding an id the index does not hold (e.g. deleted meanwhile) is harmless: ignore it
        excluded = [v.item_ordinal(_as_id(i, "exclude")) for i in exclude]
        excluded_rows = v.item_row[np.asarray([o for o in excluded if o is not None], dtype=np.int64)]
        cand_rows = None
        if candidates is not None:
            cand_rows = np.unique(v.item_row[self._resolve_items(v, candidates, "candidates")])
        if isinstance(min_new_share, bool) or not isinstance(min_new_share, (int, float)):
            raise InvalidInputError(f"min_new_share must be a number in [0, 1], got {min_new_share!r}")
        if isinstance(relax_order, (str, bytes)):
            raise InvalidInputError("relax_order must be a list of constraint names")
        constraints = Constraints(
            max_per_category=max_per_category, min_new_share=float(min_new_share), relax_order=tuple(relax_order)
        )
        if mmr_lambda is not None and not (isinstance(mmr_lambda, (int, float)) and 0.0 <= float(mmr_lambda) <= 1.0):
            raise InvalidInputError(f"mmr_lambda must be a number in [0, 1], got {mmr_lambda!r}")
        rerank = mmr_lambda is not None or max_per_category is not None or min_new_share > 0

        # --- the adaptive weights (as Hybrid.source_weights)
        n = float(known_rows.size)
        trust = self.fusion.user_trust
        beta = n / (n + trust) if trust > 0 else float(n > 0)
        w = self.fusion.weights
        weights = {
            "cf": w.get("cf", 0.0) * beta,
            "content": w.get("content", 0.0) * (1.0 if n > 0 else 0.0),
            "text": w.get("text", 0.0) * (1.0 if query_text else 0.0),
            "popularity": w.get("popularity", 0.0) * (1.0 - beta),
        }
        pool = min(max(3 * k, k + 50), MAX_K * 3) if rerank else k
        if min_new_share > 0:
            # new items rarely top a fused list: give the reranker the sources' whole depth to find them
            pool = max(pool, self.fusion.depth)
        depth = max(pool, self.fusion.depth)
        drop = [v.dead_rows(), excluded_rows]
        if exclude_seen:
            drop.append(known_rows)
        exclusions = [np.unique(np.concatenate(drop)).astype(np.int64)]

        def rank(query: np.ndarray, vectors: np.ndarray) -> Ranked:
            return rank_vectors(query[None, :], vectors, depth, metric="dot", exclude=exclusions, candidates=cand_rows)

        text_vector = self.encode_user_texts([query_text])[0] if (query_text and weights["text"] > 0) else None
        sources: dict[str, Ranked] = {}
        if weights["cf"] > 0:
            sources["cf"] = rank(v.foldin[known_rows].sum(axis=0), v.cf)
        if weights["content"] > 0:
            # as ContentRecommender.user_vectors: the normalised mean of the clicked items' vectors
            profile = _unit(_unit(v.content[known_rows].mean(axis=0)).astype(np.float64))
            sources["content"] = rank(profile.astype(np.float32), v.content)
        if weights["text"] > 0 and text_vector is not None and self.fusion.text_weight > 0:
            sources["text"] = rank(_unit(self.fusion.text_weight * text_vector.astype(np.float64)).astype(np.float32), v.content)
        if weights["popularity"] > 0:
            sources["popularity"] = rank(np.ones(1, dtype=np.float32), v.popularity())
        if not sources:
            sources = {"popularity": rank(np.ones(1, dtype=np.float32), v.popularity())}
            weights = {"popularity": 1.0}
        fused = self._fusion.fuse(sources, pool, {name: np.array([weights[name]]) for name in sources})
        fused = pad_ranked(fused.indices, fused.scores, pool)
        relaxed: list[str] = []
        if rerank:
            fused, relaxed = self._rerank(v, fused, k, constraints, mmr_lambda)
        rows = fused.indices[0]
        scores = fused.scores[0]
        keep = rows >= 0
        rows, scores = rows[keep][:k], scores[keep][:k]
        items = [
            RecommendedItem(
                id=v.item_ids[int(v.row_item[r])], score=float(s), new=bool(v.row_new[r]),
                why=self._why(v, int(r), known_rows, query_text) if explain else None,
            )
            for r, s in zip(rows, scores)
        ]
        return Recommendation(items=items, relaxed=relaxed, sources={k_: float(x) for k_, x in weights.items()}, seq=v.seq)

    def _rerank(
        self, v: Version, fused: Ranked, k: int, constraints: Constraints, mmr_lambda: float | None
    ) -> tuple[Ranked, list[str]]:
        """Re-rank the fused pool under constraints, with attributes of the pool's items only (O(pool), not O(catalogue))."""
        rows = fused.indices[0]
        valid = rows >= 0
        local = np.where(valid, np.arange(rows.size), -1)[None, :]
        pool_rows = np.where(valid, rows, 0)
        attrs = ItemAttributes(
            categories=[v.row_meta[int(r)].categories for r in pool_rows],
            is_new=v.row_new[pool_rows],
            vectors=v.content[pool_rows] if mmr_lambda is not None else None,
        )
        if mmr_lambda is not None:
            reranker = coldkit.get_reranker("mmr", lambda_=float(mmr_lambda))
        else:
            reranker = coldkit.get_reranker("constraints")
        result = reranker.rerank(Ranked(local.astype(np.int64), fused.scores), k, constraints=constraints, items=attrs)
        chosen = result.ranked.indices[0]
        out = np.where(chosen >= 0, rows[np.clip(chosen, 0, None)], -1)
        return Ranked(out[None, :], result.ranked.scores), list(result.relaxed[0]) if result.relaxed else []

    def _why(self, v: Version, row: int, known_rows: np.ndarray, text: str) -> str:
        reasons = []
        if known_rows.size:
            recent = known_rows[-200:]
            sims = v.content[recent] @ v.content[row]
            best = int(np.argmax(sims))
            if sims[best] > 0:
                reasons.append(f"similar to {v.item_ids[int(v.row_item[recent[best]])]!r} (content {float(sims[best]):.2f})")
        if text:
            shared = sorted(_words(text) & _words(v.row_meta[row].text))
            if shared:
                reasons.append("matches your words: " + ", ".join(shared[:6]))
        if not reasons:
            count = int(v.item_count[int(v.row_item[row])])
            reasons.append(f"popular: {count} users" if count else "new item")
        return "; ".join(reasons)

    def similar_items(self, item_id: str, k: int = 10, *, candidates: Sequence[str] | None = None) -> list[RecommendedItem]:
        """The ``k`` live items whose content is nearest ``item_id``'s (itself excluded)."""
        v = self._version
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= MAX_K:
            raise InvalidInputError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
        (ordinal,) = self._resolve_items(v, [item_id], "item id")
        row = int(v.item_row[ordinal])
        cand = None
        if candidates is not None:
            cand = np.unique(v.item_row[self._resolve_items(v, candidates, "candidates")])
        exclusions = [np.unique(np.append(v.dead_rows(), row)).astype(np.int64)]
        ranked = rank_vectors(v.content[row][None, :], v.content, int(k), metric="dot", exclude=exclusions, candidates=cand)
        return [
            RecommendedItem(id=v.item_ids[int(v.row_item[r])], score=float(s), new=bool(v.row_new[r]))
            for r, s in zip(ranked.indices[0], ranked.scores[0])
            if r >= 0
        ]

    # ================================================================== writes
    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyIndexError("this index was opened read-only; writes go to the single writer process")

    def _commit(self, record: dict[str, Any], new: Version) -> Version:
        """Log ``record`` (fsync) then publish ``new``: a write is acknowledged only once durable."""
        seq = self._version.seq + 1
        new = replace(new, seq=seq, _memo={})
        if self.wal is not None:
            self.wal.append({"seq": seq, **record})
        self._version = new
        return new

    def upsert_items(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add new items or replace existing ones (by ``id``); each has ``text`` and optional ``categories``, ``image``.

        Returns one ``{"id", "created"}`` per item. A new item is recommendable by the next request.
        """
        return self._upsert(items)

    def _upsert(self, items: Sequence[Mapping[str, Any]], logged: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        clean = self._check_items(items)
        self._check_writable()
        vectors = _decode_vectors(logged, len(clean)) if logged is not None else None
        if vectors is None:
            # encode outside the write lock: it needs no index state and may be slow (BERT, images)
            vectors = self._encode_items([i["text"] for i in clean], [i["image"] for i in clean], [i["id"] for i in clean])
        content, mapped = vectors
        if content.shape[1] != self._version.content.shape[1] or mapped.shape[1] != self._version.cf.shape[1]:
            raise InvalidInputError(f"item vectors have dims {content.shape[1]}/{mapped.shape[1]}, the index "
                                    f"{self._version.content.shape[1]}/{self._version.cf.shape[1]}")
        with self._write_lock:
            self._check_writable()
            v = self._version
            new, created = self._apply_upsert(v, clean, content, mapped)
            # the vectors travel in the log: replay needs neither the encoder's time nor the image files
            self._commit({"op": "upsert_items", "items": clean, **_encode_vectors(content, mapped)}, new)
        return [{"id": item["id"], "created": c} for item, c in zip(clean, created)]

    @staticmethod
    def _check_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if isinstance(items, Mapping) or isinstance(items, (str, bytes)):
            raise InvalidInputError("items must be a list of {'id', 'text', ...} objects")
        clean: list[dict[str, Any]] = []
        seen: set[str] = set()
        for pos, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise InvalidInputError(f"item {pos} must be an object with 'id' and 'text', got {type(item).__name__}")
            item_id = _as_id(item.get("id"), f"item {pos} id")
            if item_id in seen:
                raise InvalidInputError(f"item id {item_id!r} appears twice in one request")
            seen.add(item_id)
            text = item.get("text")
            if not isinstance(text, str):
                raise InvalidInputError(f"item {item_id!r}: text must be a string, got {type(text).__name__}")
            categories = item.get("categories") or []
            if isinstance(categories, str) or not all(isinstance(c, str) for c in categories):
                raise InvalidInputError(f"item {item_id!r}: categories must be a list of strings")
            image = item.get("image")
            if image is not None and not isinstance(image, str):
                raise InvalidInputError(f"item {item_id!r}: image must be a file path string")
            clean.append({"id": item_id, "text": text, "categories": [c.strip() for c in categories if c.strip()], "image": image or None})
        return clean

    def _apply_upsert(
        self, v: Version, items: list[dict[str, Any]], content: np.ndarray, mapped: np.ndarray
    ) -> tuple[Version, list[bool]]:
        n_rows, n_items = v.n_rows, v.n_items
        new_ids: list[str] = []
        ordinals = np.empty(len(items), dtype=np.int64)
        created = []
        cf_rows = mapped.copy()
        foldin_rows = mapped.copy()
        new_flags = np.ones(len(items), dtype=bool)
        for pos, item in enumerate(items):
            ordinal = v.item_index.get(item["id"])
            if ordinal is None or ordinal >= n_items:
                ordinal = n_items + len(new_ids)
                new_ids.append(item["id"])
                created.append(True)
            else:
                old_row = int(v.item_row[ordinal])
                created.append(old_row < 0)
                if old_row >= 0 and not v.row_new[old_row]:
                    # a warm item keeps what its interactions taught CF; only its content changes
                    cf_rows[pos] = v.cf[old_row]
                    foldin_rows[pos] = v.foldin[old_row]
                    new_flags[pos] = False
            ordinals[pos] = ordinal
        rows = np.arange(n_rows, n_rows + len(items), dtype=np.int64)
        del v.row_meta[n_rows:]  # drop leftovers of a failed write (never published)
        v.row_meta.extend(ItemMeta(i["text"], tuple(i["categories"]), i["image"]) for i in items)
        del v.item_ids[n_items:]
        v.item_ids.extend(new_ids)
        for offset, item_id in enumerate(new_ids):
            v.item_index[item_id] = n_items + offset
        item_row = np.concatenate([v.item_row, np.full(len(new_ids), -1, dtype=np.int64)])
        item_row[ordinals] = rows
        item_count = np.concatenate([v.item_count, np.zeros(len(new_ids))])
        b = self._buffers
        new = replace(
            v,
            n_rows=n_rows + len(items),
            content=b["content"].put(n_rows, content),
            cf=b["cf"].put(n_rows, cf_rows),
            foldin=b["foldin"].put(n_rows, foldin_rows),
            row_item=b["row_item"].put(n_rows, ordinals),
            row_new=b["row_new"].put(n_rows, new_flags),
            n_items=n_items + len(new_ids),
            item_row=item_row,
            item_count=item_count,
        )
        return new, created

    def delete_items(self, item_ids: Sequence[str]) -> None:
        """Delete items: they stop being recommended at once (tombstones; compacted on snapshot)."""
        if isinstance(item_ids, (str, bytes)):
            raise InvalidInputError("delete_items takes a list of ids")
        with self._write_lock:
            self._check_writable()
            v = self._version
            ordinals = self._resolve_items(v, item_ids, "item id")
            item_row = v.item_row.copy()
            item_row[ordinals] = -1
            self._commit({"op": "delete_items", "ids": [v.item_ids[o] for o in ordinals]}, replace(v, item_row=item_row))

    def _new_users(self, v: Version, user_ids: list[str]) -> tuple[dict[str, int], list[str]]:
        """Ordinals for ``user_ids``, allocating new ones (not yet published) for unknown users."""
        del v.user_ids[v.n_users :]
        ordinals: dict[str, int] = {}
        added: list[str] = []
        for uid in user_ids:
            ordinal = v.user_ordinal(uid)
            if ordinal is None:
                ordinal = ordinals.get(uid)
                if ordinal is None:
                    ordinal = v.n_users + len(added)
                    added.append(uid)
            ordinals[uid] = ordinal
        return ordinals, added

    def _publish_users(self, v: Version, added: list[str]) -> None:
        v.user_ids.extend(added)
        for offset, uid in enumerate(added):
            v.user_index[uid] = v.n_users + offset

    def add_interactions(self, events: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Record ``(user_id, item_id)`` interactions; an unknown user is created (a new user from a few clicks).

        Returns counts: ``recorded`` (new user-item pairs), ``duplicates`` (already known pairs),
        ``new_users``.
        """
        if isinstance(events, (str, bytes)):
            raise InvalidInputError("events must be a list of (user_id, item_id) pairs")
        pairs = []
        for pos, event in enumerate(events):
            if isinstance(event, (str, bytes)) or len(event) != 2:
                raise InvalidInputError(f"event {pos} must be a (user_id, item_id) pair, got {event!r:.60}")
            pairs.append((_as_id(event[0], f"event {pos} user_id"), _as_id(event[1], f"event {pos} item_id")))
        with self._write_lock:
            self._check_writable()
            v = self._version
            ordinals = self._resolve_items(v, [p[1] for p in pairs], "item id")
            new, stats = self._apply_interactions(v, [p[0] for p in pairs], ordinals)
            self._commit({"op": "interactions", "events": [list(p) for p in pairs]}, new)
        return stats

    def _apply_interactions(self, v: Version, user_ids: list[str], ordinals: np.ndarray) -> tuple[Version, dict[str, int]]:
        users, added = self._new_users(v, user_ids)
        extra = dict(v.extra_items)
        count = v.item_count.copy()
        recorded = duplicates = 0
        by_user: dict[int, list[int]] = {}
        for uid, ordinal in zip(user_ids, ordinals):
            by_user.setdefault(users[uid], []).append(int(ordinal))
        for user, items in by_user.items():
            known = v.history(user) if user < v.n_users else np.empty(0, dtype=np.int64)
            fresh = np.setdiff1d(np.unique(np.asarray(items, dtype=np.int64)), known)
            duplicates += len(items) - fresh.size
            if fresh.size:
                previous = extra.get(user)
                extra[user] = fresh if previous is None else np.concatenate([previous, fresh])
                np.add.at(count, fresh, 1.0)
                recorded += fresh.size
        self._publish_users(v, added)
        new = replace(v, n_users=v.n_users + len(added), extra_items=extra, item_count=count)
        return new, {"recorded": recorded, "duplicates": duplicates, "new_users": len(added)}

    def upsert_user(self, user_id: str, *, text: str | None = None, items: Sequence[str] = ()) -> dict[str, Any]:
        """Create or update a user from profile text and/or a few clicked items."""
        uid = _as_id(user_id, "user_id")
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        if isinstance(items, (str, bytes)):
            raise InvalidInputError("items must be a list of item ids")
        with self._write_lock:
            self._check_writable()
            v = self._version
            ordinals = self._resolve_items(v, items, "item id")
            created = v.user_ordinal(uid) is None
            new = self._apply_user(v, uid, text, ordinals)
            self._commit({"op": "upsert_user", "id": uid, "text": text, "items": [v.item_ids[o] for o in ordinals]}, new)
        return {"id": uid, "created": created}

    def _apply_user(self, v: Version, uid: str, text: str | None, ordinals: np.ndarray) -> Version:
        new, _ = self._apply_interactions(v, [uid] * len(ordinals), ordinals) if len(ordinals) else (v, None)
        if len(ordinals) == 0 and new.user_ordinal(uid) is None:
            users, added = self._new_users(new, [uid])
            self._publish_users(new, added)
            new = replace(new, n_users=new.n_users + len(added))
        if text is not None:
            user = new.user_index[uid]
            texts = dict(new.user_text)
            if text.strip():
                texts[user] = text
            else:
                texts.pop(user, None)
            new = replace(new, user_text=texts)
        return new

    # ================================================================== log replay and compaction
    def apply_record(self, record: Mapping[str, Any]) -> None:
        """Re-apply one write-ahead-log record (used by :func:`coldkit.serving.load`; not logged again)."""
        op = record.get("op")
        with self._write_lock:
            wal, self.wal = self.wal, None
            read_only, self.read_only = self.read_only, False
            try:
                if op == "upsert_items":
                    self._upsert(record["items"], logged=record)
                elif op == "delete_items":
                    # an id deleted twice in a row is harmless on replay
                    live = [i for i in record["ids"] if self._version.item_ordinal(str(i)) is not None]
                    if live:
                        self.delete_items(live)
                    else:
                        self._commit({}, self._version)
                elif op == "interactions":
                    self.add_interactions([tuple(e) for e in record["events"]])
                elif op == "upsert_user":
                    self.upsert_user(record["id"], text=record.get("text"), items=record.get("items") or [])
                else:
                    raise InvalidInputError(f"unknown log operation {op!r}")
            finally:
                self.wal, self.read_only = wal, read_only

    def compacted(self, v: Version | None = None) -> Version:
        """``v`` (default: the current version) without dead rows or deleted items: rows == items, renumbered."""
        v = self._version if v is None else v
        live = np.flatnonzero(v.item_row >= 0)
        rows = v.item_row[live]
        renumber = np.full(v.n_items, -1, dtype=np.int64)
        renumber[live] = np.arange(live.size)
        indptr = [0]
        chunks = []
        for user in range(v.n_users):  # loops over users once per snapshot, never per request
            items = renumber[v.history(user)]
            items = np.sort(items[items >= 0])
            chunks.append(items)
            indptr.append(indptr[-1] + items.size)
        item_ids = [v.item_ids[o] for o in live]
        return Version(
            seq=v.seq,
            n_rows=live.size,
            content=np.ascontiguousarray(v.content[rows]),
            cf=np.ascontiguousarray(v.cf[rows]),
            foldin=np.ascontiguousarray(v.foldin[rows]),
            row_item=np.arange(live.size, dtype=np.int64),
            row_new=np.ascontiguousarray(v.row_new[rows]),
            row_meta=[v.row_meta[int(r)] for r in rows],
            n_items=live.size,
            item_ids=item_ids,
            item_index={item_id: o for o, item_id in enumerate(item_ids)},
            item_row=np.arange(live.size, dtype=np.int64),
            item_count=v.item_count[live].copy(),
            n_users=v.n_users,
            user_ids=list(v.user_ids[: v.n_users]),
            user_index={u: o for o, u in enumerate(v.user_ids[: v.n_users])},
            base_indptr=np.asarray(indptr, dtype=np.int64),
            base_items=np.concatenate(chunks).astype(np.int64) if chunks else np.empty(0, dtype=np.int64),
            extra_items={},
            user_text={u: t for u, t in v.user_text.items()},
        )

    def _replace_version(self, new: Version) -> None:
        """Swap in ``new`` (same content, e.g. compacted) and rebase the row buffers on it."""
        self._version = new
        self._buffers = {
            "content": RowBuffer(new.content),
            "cf": RowBuffer(new.cf),
            "foldin": RowBuffer(new.foldin),
            "row_item": RowBuffer(new.row_item),
            "row_new": RowBuffer(new.row_new),
        }

