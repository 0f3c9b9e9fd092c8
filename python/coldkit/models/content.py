"""Content-based recommendation: item↔item and user-interest matching in an encoder's vector space.

Items are encoded once from their catalogue text (through ``coldkit.encode_catalog``'s cache), then
centred or whitened (see :mod:`coldkit.models.whitening`). A user is the normalised mean of the
items they interacted with, plus their own profile text encoded by the same encoder, so a brand-new
item is rankable the moment it has a description.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.encoding import encode_queries
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import CandidateRows, check_candidates, rank_vectors
from coldkit.models._vectors import nonzero_rows
from coldkit.models.base import Recommender, item_title
from coldkit.models.blend import close_to_text, interest_vectors, nearest_liked, shared_words
from coldkit.models.modalities import encoder_from_spec
from coldkit.models.whitening import Whitening
from coldkit.plugins.manager import get_encoder
from coldkit.plugins.types import Encoder, Ranked
from coldkit.validation import check_flag, check_k, check_number, check_options

__all__ = ["ContentRecommender", "resolve_encoder", "encode_items"]


def resolve_encoder(encoder: str | Encoder, options: dict[str, Any] | None = None) -> Encoder:
    """An encoder instance from a registered name (``"hashing"``, ``"bert"``...), a name with its options
    (``"bert:precision=fp32"``: each encoder of a list its own, where ``encoder_options`` goes to them
    all) or an instance."""
    if isinstance(encoder, str):
        if ":" in encoder:
            return encoder_from_spec(encoder, check_options(options, "encoder_options"))
        return get_encoder(encoder, **check_options(options, "encoder_options"))
    if not hasattr(encoder, "encode_texts"):
        raise InvalidInputError(f"encoder must be a registered name or an Encoder, got {type(encoder).__name__}")
    return encoder


def encode_items(train: Interactions, encoder: Encoder, fit_encoder: bool = True, cache: bool = True) -> np.ndarray:
    """(n_items, d) float32 vectors of the catalogue's texts.

    An encoder with a ``fit(texts)`` method (the hashing TF-IDF learns its IDF) is fitted on the
    catalogue texts first; item texts are content, not interactions, so cold items may take part.
    An encoder with an ``encode_items(item_ids, texts)`` method (``precomputed``: vectors the user
    brought, keyed by item id; ``texts`` is None for one whose ``reads_item_texts`` is False) is
    asked for the items' vectors by id instead, and one with an
    ``encode_training(train)`` method (``multimodal``: text, image and audio columns, weights
    validated on ``train``) encodes the whole catalogue itself.
    """
    by_training = getattr(encoder, "encode_training", None)
    if callable(by_training):
        # an encoder that needs the training data itself (multimodal: media columns, validated weights)
        fused = np.asarray(by_training(train), dtype=np.float32)
        if fused.shape != (train.n_items, int(encoder.dim)):
            raise InvalidInputError(
                f"encoder {encoder.name!r}: encode_training returned shape {fused.shape}, "
                f"expected ({train.n_items}, {encoder.dim})"
            )
        return fused
    by_id = getattr(encoder, "encode_items", None)
    if callable(by_id):
        # an encoder keyed by id may not read the texts at all (precomputed): joining 1M texts takes seconds
        texts = train.catalog.texts() if getattr(encoder, "reads_item_texts", True) else None
        vectors = np.asarray(by_id(train.catalog.item_ids, texts), dtype=np.float32)
        if vectors.shape != (train.n_items, int(encoder.dim)):
            raise InvalidInputError(
                f"encoder {encoder.name!r}: encode_items returned shape {vectors.shape}, "
                f"expected ({train.n_items}, {encoder.dim})"
            )
        return vectors
    texts = train.catalog.texts()
    fit = getattr(encoder, "fit", None)
    if fit_encoder and callable(fit):
        fit(texts)
    try:
        from coldkit.encoding import encode_catalog
    except ImportError:  # pragma: no cover - the encoding module ships with coldkit
        return np.asarray(encoder.encode_texts(texts), dtype=np.float32)
    from coldkit._stages import reporting_enabled

    # a bar only where stage lines are wanted (coldkit recommend without --quiet)
    progress = None if reporting_enabled() else False
    return np.asarray(encode_catalog(texts, encoder, cache=cache, progress=progress), dtype=np.float32)


class ContentRecommender(Recommender):
    """Rank items by cosine between the user's interest vector and each item's content vector.

    Options:
        encoder: registered encoder name or an instance (default ``"hashing"``; ``"bert"`` when the
            coldkit-bert plugin is installed), or a list of them: their (whitened, unit) vectors
            are concatenated so cosine becomes the weighted mean of per-encoder cosines.
        encoder_weights: one positive weight per encoder (default equal).
        encoder_options: keyword options for ``coldkit.get_encoder``.
        whitening: ``"none"``, ``"center"`` (default, measured best) or ``"whiten"`` — see :class:`Whitening`.
        whitening_dim: keep this many principal axes when whitening (None = all).
        text_weight: weight of the user's own profile text against their items' mean.
        cache: use ``encode_catalog``'s on-disk vector cache.

    Example::

        model = coldkit.models.create("content", encoder="hashing", whitening="center").fit(train)
        model.recommend([UserQuery(text="space adventure with robots")], k=10)
        model.similar_items([42], k=5)                         # item ↔ item
        model.explain(UserQuery(history=np.array([42])), item=7)
    """

    name = "content"

    def __init__(
        self,
        encoder: str | Encoder | Sequence[str | Encoder] = "hashing",
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        whitening_dim: int | None = None,
        text_weight: float = 1.0,
        cache: bool = True,
        encoder_weights: Sequence[float] | None = None,
    ) -> None:
        many = isinstance(encoder, (list, tuple))
        encoders: list[str | Encoder] = list(encoder) if many else [encoder]  # type: ignore[arg-type, list-item]
        if not encoders:
            raise InvalidInputError("content model needs at least one encoder")
        self.encoders = [resolve_encoder(e, encoder_options) for e in encoders]
        self.encoder = self.encoders[0]
        if encoder_weights is not None and (isinstance(encoder_weights, str) or not isinstance(encoder_weights, Sequence | np.ndarray)):
            raise InvalidInputError(f"encoder_weights must be a list of {len(encoders)} positive numbers, got {encoder_weights!r}")
        weights = [1.0] * len(encoders) if encoder_weights is None else [
            check_number(w, "each of encoder_weights", above=0) for w in encoder_weights  # True ran as weight 1
        ]
        if len(weights) != len(encoders):
            raise InvalidInputError(f"encoder_weights must be {len(encoders)} positive numbers, got {encoder_weights!r}")
        self.encoder_weights = weights
        if whitening_dim is not None:
            whitening_dim = check_k(whitening_dim, "whitening_dim")  # 2.5 was 2 axes, "abc" a bare ValueError
        if whitening_dim is not None and whitening != "whiten":
            # it keeps principal axes, which only "whiten" computes: with "center" or "none" it changed nothing
            raise InvalidInputError(f"whitening_dim={whitening_dim!r} keeps principal axes, which only whitening='whiten' computes (got {whitening!r})")
        self.whiteners = [Whitening(whitening, dim=whitening_dim) for _ in encoders]
        self.whitener = self.whiteners[0]
        self.text_weight = check_number(text_weight, "text_weight", at_least=0)
        self.cache = check_flag(cache, "cache")  # bool("no") is True: the cache was written anyway
        self.raw_vectors_: np.ndarray | None = None
        #: keep every encoder's raw vectors after a fit (not only the first's) until :meth:`release_raw`:
        #: set by a model whose other content models share an encoder with this one (see ``fit``'s ``reuse``)
        self.keep_raw = False
        self._raw_kept: list[np.ndarray] | None = None
        self.item_vectors_: np.ndarray | None = None
        self._fitted_on: tuple[Any, ...] | None = None
        self._candidate_rows = CandidateRows()  # the last candidate set's vectors (a batch run repeats it)
        self._widths: list[int] | None = None  # each encoder's part of the joined vectors (set by fit)

    def _join(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        # several encoders: concatenate unit parts scaled by sqrt(weight / total), so the cosine of
        # two joined vectors is the weighted mean of the per-encoder cosines
        if len(parts) == 1:
            return parts[0]
        total = sum(self.encoder_weights)
        return np.hstack([np.sqrt(w / total) * p for w, p in zip(self.encoder_weights, parts)]).astype(np.float32)

    def fit(self, train: Interactions, *, reuse: "ContentRecommender | None" = None) -> "ContentRecommender":
        """Encode (or reuse) the catalogue's vectors; ``reuse``: a content model already fitted on
        this catalogue that holds one of our encoders (the same object), as its first or, while it
        keeps them (``keep_raw``), any: its raw vectors are taken instead of encoding the catalogue
        again (the hybrid's ridge map reads the encoder beside the item attributes, its content
        sources read it alone: one MiniLM pass, not two; and its TF-IDF features are its ``tfidf``
        source's: one IDF and one encoding of every long text, not three).
        """
        same = self._fitted_on is not None and self._fitted_on[0] is train.catalog and all(
            a is b for a, b in zip(self._fitted_on[1:], self.encoders)
        ) and len(self._fitted_on) == len(self.encoders) + 1
        if self.item_vectors_ is not None and same:
            # Same catalogue object, same encoders: the vectors depend on neither the interactions
            # nor anything else, so a refit (the hybrid fits once on its validation split, then on
            # everything) keeps them instead of encoding the whole catalogue again.
            self._remember(train)
            return self
        train = self._remember(train)
        self.release_raw()
        parts = []
        kept: list[np.ndarray] = []
        for encoder, whitener in zip(self.encoders, self.whiteners):
            raw = _encoded_by(reuse, encoder, train)
            if raw is None:
                raw = encode_items(train, encoder, cache=self.cache)
            if self.keep_raw:
                kept.append(raw)
            has_content = nonzero_rows(raw)
            if has_content.sum() < 2:
                # every content source (and the hybrid's adapters) needs items to compare: say what would do
                raise _too_little_content(train, encoder, int(has_content.sum()))
            whitener.fit(raw if has_content.all() else raw[has_content])  # no 1.5 GB copy at 1M items
            parts.append(whitener.transform(raw, normalize=True))
            if len(parts) == 1:
                self.raw_vectors_ = raw  # the first encoder's raw vectors (used for measurements)
        self._widths = [int(part.shape[1]) for part in parts]
        self.item_vectors_ = self._join(parts)
        self._candidate_rows = CandidateRows()  # not the old catalogue's rows (they would stay in memory)
        self._texts: list[str] | None = None  # the item texts, joined on the first explanation that needs them
        self._fitted_on = (train.catalog, *self.encoders)  # compared by identity
        self._raw_kept = kept if self.keep_raw else None
        return self

    def release_raw(self) -> None:
        """Forget the raw vectors kept for other content models (``keep_raw``); the first encoder's stay."""
        self._raw_kept = None

    def item_vectors(self) -> np.ndarray:
        """(n_items, d') the whitened, L2-normalised content vector of every item."""
        self._require_fitted()
        assert self.item_vectors_ is not None
        return self.item_vectors_

    def encode_user_texts(self, texts: Sequence[str]) -> np.ndarray:
        """User texts in the item space (same encoder and whitening), L2-normalised.

        An encoder that describes items only (``encodes_texts = False``: the item attributes) gives
        a zero part: centred, its zeros would become minus the items' mean and pull a text towards
        items with below-average attributes. For the same reason a text with nothing in the
        dimensions the catalogue's vectors use (hashed TF-IDF: only words no item has) is not
        centred (:meth:`Whitening.transform`'s ``query``): it scores 0 against every fitted item,
        not highest against the least typical ones.
        """
        return self._encode_texts(texts, query=True)

    def encode_item_texts(self, texts: Sequence[str]) -> np.ndarray:
        """New items described by ``texts`` in the item space, transformed as the catalogue's items
        (centred even when all their words are new: an item, unlike a user's text, is one of the
        vectors the mean stands for), L2-normalised."""
        return self._encode_texts(texts, query=False)

    def _encode_texts(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        texts = list(texts)
        widths: list[int | None] = list(getattr(self, "_widths", None) or [None] * len(self.encoders))
        parts = []
        for encoder, whitener, width in zip(self.encoders, self.whiteners, widths):
            if width is not None and getattr(encoder, "encodes_texts", True) is False:
                parts.append(np.zeros((len(texts), width), dtype=np.float32))
                continue
            raw = np.asarray(encode_queries(encoder, texts) if query else encoder.encode_texts(texts), dtype=np.float32)
            parts.append(whitener.transform(raw, normalize=True, query=query))
        return self._join(parts)

    def user_vectors(
        self, queries: Sequence[UserQuery], *, use_history: bool = True, use_text: bool = True
    ) -> np.ndarray:
        """(B, d') each query's interest vector: mean of known items' vectors (+ weighted text vector).

        ``use_history`` / ``use_text`` select the parts (the hybrid weighs them as separate
        sources). A query with neither known items nor text gets a zero vector (every item scores 0;
        ``recommend`` then lists the most popular items, see :meth:`Recommender.recommend`).
        """
        queries = self._check_queries(queries)  # a public entry: bad indices get a clear error
        items = self.item_vectors()
        empty = np.empty(0, np.int64)
        histories = [self._known_items(q) if use_history else empty for q in queries]
        texts = [(b, str(q.text)) for b, q in enumerate(queries) if use_text and q.has_text]
        text_vectors = None
        if texts and self.text_weight > 0:
            text_vectors = np.zeros((len(queries), items.shape[1]), dtype=np.float32)
            text_vectors[[b for b, _ in texts]] = self.encode_user_texts([t for _, t in texts])
        return interest_vectors(items, histories, text_vectors, self.text_weight)

    def recommend(
        self,
        queries: Sequence[UserQuery],
        k: int,
        *,
        candidates: np.ndarray | None = None,
        exclude_known: bool = True,
        use_history: bool = True,
        use_text: bool = True,
    ) -> Ranked:
        """See :meth:`Recommender.recommend`; ``use_history``/``use_text`` as :meth:`user_vectors`."""
        queries, k, cand = self._validate(queries, k, candidates)
        return rank_vectors(
            self.user_vectors(queries, use_history=use_history, use_text=use_text),
            self.item_vectors(),
            k,
            metric="dot",  # both sides are unit vectors (or zero): dot == cosine
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand, backend=self.backend, candidate_rows=self._candidate_rows,
        )

    def similar_items(self, items: Sequence[int] | np.ndarray, k: int, *, candidates: np.ndarray | None = None) -> Ranked:
        """Item ↔ item: the ``k`` items whose content is nearest each of ``items`` (itself excluded)."""
        train = self._require_fitted()
        k = check_k(k, at_most=train.n_items)
        idx = np.asarray(items, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= train.n_items):
            raise InvalidInputError(f"item indices outside [0, {train.n_items}): {idx[(idx < 0) | (idx >= train.n_items)][:10].tolist()}")
        vectors = self.item_vectors()
        return rank_vectors(
            vectors[idx], vectors, k, metric="dot", exclude=[np.array([i]) for i in idx],
            candidates=check_candidates(candidates, train.n_items), backend=self.backend,
        )

    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """Why ``item`` suits ``query``: the nearest item they liked and/or words shared with their text."""
        query, item = self._explain_args(query, item)
        reasons = [r for r in (self.liked_reason(query, int(item)), self.text_reason(query, int(item))) if r]
        return "; ".join(reasons) if reasons else "no liked item or word of yours matches this item"

    def liked_reason(self, query: UserQuery, item: int, measure: str = "content similarity") -> str | None:
        """"because you liked X (content similarity 0.83)": the liked item nearest ``item`` (a query of
        indices), or None when no liked item has a positive similarity. ``measure`` names the similarity."""
        train = self._require_fitted()
        known = self._known_items(query)
        known = known[known != int(item)]
        # only a positive similarity is a reason: centred vectors of unlike items have negative cosines,
        # and "because you liked X (content similarity -0.19)" would name what pulled it down
        liked = nearest_liked(self.item_vectors()[known], self.item_vectors()[int(item)])
        if liked is None:
            return None
        best, similarity = liked
        return f"because you liked {item_title(train, int(known[best]))} ({measure} {similarity:.2f})"

    def text_reason(self, query: UserQuery, item: int) -> str | None:
        """"matches your words: ..." (the words ``item`` shares with the query's text) or "close to your
        words (content similarity 0.28)" (see :func:`~coldkit.models.blend.close_to_text`), else None."""
        train = self._require_fitted()
        if not (query.text and train.catalog.text_columns):  # a catalogue of ids alone has no words to match
            return None
        if getattr(self, "_texts", None) is None:
            self._texts = train.catalog.texts()  # once per fit: 1M items take seconds to join
        assert self._texts is not None
        shared = shared_words(query.text, self._texts[int(item)])
        if shared:
            return "matches your words: " + ", ".join(shared)
        if self.text_weight > 0:
            # no word in common, yet the text may have ranked it by meaning (a stemmed form, a synonym
            # under a sentence encoder): say so with the closeness, not fall back to a popularity that
            # did not rank it (the hybrid's last resort); "close" as the server's why says it, against
            # the text's best match in the catalogue (any positive cosine named ~a quarter of ml-100k,
            # down to "content similarity 0.00")
            text = self.encode_user_texts([query.text])[0]
            vectors = self.item_vectors()
            closeness = float(text @ vectors[int(item)])
            if close_to_text(closeness, float(np.max(vectors @ text))):
                return f"close to your words (content similarity {closeness:.2f})"
        return None


def _encoded_by(other: ContentRecommender | None, encoder: Encoder, train: Interactions) -> np.ndarray | None:
    """``other``'s raw vectors of ``train``'s catalogue by ``encoder`` (the same object), when it kept them
    (its first encoder's always; any encoder's while it keeps them all, ``keep_raw``)."""
    if other is None or other.raw_vectors_ is None or other._fitted_on is None or other._fitted_on[0] is not train.catalog:
        return None
    if other.encoders[0] is encoder:
        return other.raw_vectors_
    kept = other._raw_kept
    if kept is None:
        return None
    return next((raw for e, raw in zip(other.encoders, kept) if e is encoder), None)


#: A letter or digit in any script: a text without one (emoji, punctuation) has no word to encode.
_HAS_WORD = re.compile(r"[^\W_]")


def _too_little_content(train: Interactions, encoder: Encoder, with_content: int) -> InvalidInputError:
    """The error for a catalogue where fewer than 2 items got a non-zero vector, naming the cause:
    one item in all, an encoder that gave zeros for items with text, all-zero given vectors, or no text."""
    name = str(getattr(encoder, "name", encoder))
    if train.n_items < 2:  # the item may well have text: there is nothing to compare it with
        # said for whichever model holds the content part (a hybrid's user never chose "content")
        return InvalidInputError(
            f"the catalogue has {train.n_items} item(s); comparing content needs at least 2 items (the content model, and "
            "the content part of hybrid, router and the cold-* models); popularity, item-knn and ease take one item"
        )
    described = int((~train.catalog.without_text()).sum()) if train.catalog.text_columns else 0
    worded = sum(1 for text in train.catalog.texts() if _HAS_WORD.search(text)) if described >= 2 else 0
    if name != "precomputed" and described >= 2 and worded < 2:
        # emoji or punctuation alone: a word encoder rightly gives them zeros, and "check the encoder's
        # options" sent a new user looking in the wrong place
        return InvalidInputError(
            f"content model: {described:,} catalogue items have text in {', '.join(map(str, train.catalog.text_columns))}, but "
            f"{'only ' + str(worded) if worded else 'none'} of them hold a word (a letter or digit; symbols, punctuation "
            f"and emoji are no words), and encoder {name!r} found nothing to encode: name text columns with words "
            "(text_columns / --text-columns) or give item vectors (--item-vectors)"
        )
    if name != "precomputed" and described >= 2:  # the text is there: the encoder gave zeros for it
        return InvalidInputError(
            f"content model: encoder {name!r} returned a zero vector for all but {with_content} of "
            f"{train.n_items:,} catalogue items, though {described:,} have text: an encoder must give "
            "non-zero vectors (check its options)"
        )
    if name == "precomputed":  # the items may well have text: it is the given vectors that are empty
        return InvalidInputError(
            f"content model: {with_content} of {train.n_items:,} catalogue items have a non-zero "
            "item vector (--item-vectors / the precomputed encoder; at least 2 are needed): an all-zero "
            "vector has no direction to compare; give real vectors, or leave --item-vectors out to encode "
            "the item text"
        )
    return InvalidInputError(
        f"content model: {with_content} of {train.n_items:,} catalogue items have text to encode "
        f"({name}; at least 2 are needed): give the items text "
        "(text_columns / --text-columns) or vectors (--item-vectors), or use a model that reads no content "
        "(--model popularity, item-knn or ease; the hybrid reads content whatever its sources)"
    )
