"""The served object: the online form of coldkit's hybrid recommender.

A :class:`ServingIndex` holds, as plain arrays, what :class:`coldkit.models.hybrid.Hybrid` (with a
factorised warm space) learned: whitened content vectors of every item, CF item vectors ``q_i``
(learned for warm items, mapped from content by the ridge adapter for cold ones), the ridge map
itself, the whitening, popularity counts and every user's interactions. It answers the same
question as the hybrid, through the same blend (:mod:`coldkit.models.blend`), and takes writes online:

* items are added, updated or deleted (a new item is encoded, whitened, mapped to a CF vector,
  appended, and is recommendable by the next request);
* interactions are recorded (a user's CF vector is a fold-in of their clicks, computed per request,
  so it is never stale); an unknown user becomes a new user;
* a new user can also be described by profile text.

The reads live in :mod:`coldkit.serving.reads` (:class:`~coldkit.serving.reads.IndexReader`, which
this class is), the writes in :mod:`coldkit.serving.writes` (``index.writer``): each write is
validated, appended to the write-ahead log (fsync) when the index is attached to a directory, and
only then published (see :mod:`coldkit.serving.state` for the versioning that lets readers run
during writes). :func:`coldkit.serving.save` snapshots it; :func:`coldkit.serving.load` reopens it
and replays the log (:mod:`coldkit.serving.replay`).

Example::

    import coldkit
    from coldkit.serving import ServingIndex

    data = coldkit.load_dataset("ml-latest-small")
    index = ServingIndex.build(data.interactions, encoder="hashing")
    index.upsert_items([{"id": "new-1", "text": "A space opera with robots", "categories": ["Sci-Fi"]}])
    index.recommend(text="robots in space", k=5)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit.data.interactions import Catalog, Interactions
from coldkit.data.loaders import DuplicatePolicy
from coldkit.exceptions import InvalidInputError
from coldkit.models.blend import DEFAULT_WEIGHTS
from coldkit.models.hybrid import Hybrid
from coldkit.models.popularity import genre_separator, split_genres
from coldkit.models.registry import ModelOptionError, default_encoder_name
from coldkit.models.whitening import Whitening
from coldkit.plugins.types import Encoder
from coldkit.serving.model import SERVED_SOURCES, FusionConfig, ServedModel
from coldkit.serving.reads import DEFAULT_BACKEND, MAX_K, IndexReader, Recommendation, RecommendedItem
from coldkit.serving.state import ItemMeta, Version
from coldkit.serving.writes import IndexWriter


def _hybrid_option_names() -> list[str]:
    """The keyword options :class:`Hybrid` takes (named in the error for an unknown one)."""
    import inspect

    return [n for n in inspect.signature(Hybrid.__init__).parameters if n != "self"]

__all__ = ["ServingIndex", "FusionConfig", "Recommendation", "RecommendedItem", "MAX_K", "SERVED_SOURCES"]


class ServingIndex(IndexReader):
    """The persistent, online-updatable hybrid recommender behind ``coldkit serve`` (see the module docstring).

    Build with :meth:`build` (from training interactions) or :meth:`from_hybrid` (from a fitted
    ``Hybrid(warm="svd")``); persist with ``coldkit.serving.save``; reopen with ``coldkit.serving.load``.
    Reads (inherited from :class:`~coldkit.serving.reads.IndexReader`) never block; writes go
    through ``self.writer`` (:class:`~coldkit.serving.writes.IndexWriter`) and are serialised.
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
        backend: str = DEFAULT_BACKEND,
    ) -> None:
        model = ServedModel(
            encoder=encoder, encoder_name=encoder_name, encoder_options=encoder_options, whitener=whitener,
            map_weights=map_weights, map_intercept=map_intercept, fusion=fusion,
        )
        writer = IndexWriter(model, version)
        self.writer = writer
        #: what the fit of :meth:`build` noted (the hybrid's ``notes_``, e.g. that a new user's words weigh 0 on
        #: this data); saved with each snapshot and loaded back (empty for an index made otherwise, or loaded
        #: from a snapshot written before the notes were saved)
        self.build_notes: list[str] = []
        # a closure over the writer, not a bound method: no reference cycle, so an index nobody holds
        # is freed (and its writer lock released) at once, as before the read/write split
        super().__init__(model, lambda: writer.version, backend=backend)

    # ================================================================== construction
    @classmethod
    def build(
        cls,
        interactions: Interactions | pd.DataFrame | sp.spmatrix | sp.sparray,
        *,
        items: pd.DataFrame | Catalog | None = None,
        columns: Mapping[str, str] | None = None,
        item_columns: Mapping[str, str] | None = None,
        text_columns: Sequence[str] | None = None,
        duplicates: DuplicatePolicy = "error",
        implicit_threshold: float | None = None,
        encoder: str | None = None,
        encoder_options: Mapping[str, Any] | None = None,
        fusion_options: Mapping[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        category_column: str | None = "genres",
        cache: bool = True,
        backend: str = DEFAULT_BACKEND,
        **hybrid_options: Any,
    ) -> "ServingIndex":
        """Fit a ``Hybrid(warm="svd")`` on ``interactions`` and turn it into a serving index.

        Args:
            interactions: training data over the full catalogue (cold items included):
                :class:`~coldkit.data.Interactions`, or a DataFrame of ``user_id, item_id[, rating,
                timestamp]`` rows (or a scipy sparse matrix) read exactly as ``model.fit`` reads it.
            items: with a DataFrame, the item table (``item_id`` + text columns; it may hold items
                nobody interacted with yet) — without it the catalogue is the ids seen, with no text.
            columns: renames the interaction columns, e.g. ``{"user_id": "userId", "item_id": "movieId"}``.
            item_columns: renames the item table's columns, e.g. ``{"item_id": "movieId"}``.
            text_columns: the item table's text columns (default: the text-like ones).
            duplicates: repeated (user, item) rows: ``"error"`` (default), ``"last"``, ``"sum"`` or ``"max"``.
            implicit_threshold: keep only the rows with ``rating >= threshold``.
            encoder: registered encoder name (default: ``"bert"`` if installed, else ``"hashing"``);
                it must be re-creatable by name + ``encoder_options`` for :func:`load`.
            fusion_options: options of the fusion strategy.
            weights: source weights (keys ``cf``, ``content``, ``text``, ``popularity``); the
                hybrid's defaults otherwise.
            category_column: catalogue column of categories (for per-category limits), separated by
                ``|``, or where no value has a ``|`` by ``;`` and ``,``
                (:func:`coldkit.models.popularity.genre_separator`, as the genre models read ``genres``);
                None or a missing column means no categories.
            cache: use the on-disk vector cache while encoding the catalogue.
            backend: similarity backend name every ranking uses by default (``"rust"``).
            hybrid_options: any other :class:`coldkit.models.hybrid.Hybrid` option (``whitening``,
                ``adapter_l2``, ``item_trust``, ``user_trust``, ``fusion``, ``depth``); the hybrid's
                defaults otherwise.
        """
        # A DataFrame was refused ("expects coldkit.data.Interactions") with no word on how to make one, while
        # every model's fit takes the same frame: it is read here by the same function, with the same options.
        frame_options: dict[str, Any] = {"items": items, "columns": columns, "item_columns": item_columns, "text_columns": text_columns,
                         "duplicates": duplicates, "implicit_threshold": implicit_threshold}
        if isinstance(interactions, Interactions):
            given = [name for name, value in frame_options.items()
                     if value is not None and not (name == "duplicates" and value == "error")]
            if given:
                raise InvalidInputError(f"ServingIndex.build: {', '.join(given)}= read a DataFrame; "
                                        "coldkit.data.Interactions already carry their catalogue and weights")
        elif not isinstance(interactions, pd.DataFrame) and not sp.issparse(interactions):
            raise InvalidInputError(
                "ServingIndex.build takes coldkit.data.Interactions or a pandas DataFrame of user_id, item_id[, rating, "
                f"timestamp] rows (with items= the item table), got {type(interactions).__name__}"
            )
        name = encoder or default_encoder_name()
        if not isinstance(name, str):
            raise InvalidInputError("ServingIndex.build needs the encoder's registered name, so load() can re-create it")
        for fixed in ("warm", "user_profiles", "encoder_options", "stack"):
            if fixed in hybrid_options:
                raise InvalidInputError(
                    f"ServingIndex.build does not take {fixed!r} (the served hybrid uses warm='svd', no profiles, the weighted blend)"
                )
        options = dict(encoder_options or {})
        unserved = {k: 0.0 for k in DEFAULT_WEIGHTS if k not in SERVED_SOURCES}  # e.g. the profile kNN: not served
        try:
            model = Hybrid(
                encoder=name, encoder_options=options, warm="svd", fusion_options=dict(fusion_options or {}),
                weights={**unserved, **dict(weights or {})}, cache=cache, stack=False,
                **{"lexical": False, "attributes": False, **hybrid_options},
            )  # the index serves the weighted blend over one encoder's space (no TF-IDF or attribute part
            # beside it: a text added at serve time has neither); the stacker is not served (yet)
        except TypeError as exc:
            if "unexpected keyword" not in str(exc) or isinstance(exc, InvalidInputError):
                raise
            unknown = str(exc).rsplit(" ", 1)[-1]
            raise ModelOptionError(
                f"ServingIndex.build: {unknown} is not an option of the served hybrid (coldkit.models.hybrid.Hybrid); "
                f"its options: {', '.join(sorted(_hybrid_option_names()))}"
            ) from exc
        if not isinstance(interactions, Interactions):
            from coldkit.models.base import _media_columns_of, _reads_item_vectors
            from coldkit.models.frames import to_interactions

            interactions = to_interactions(interactions, media_columns=_media_columns_of(model),
                                           require_text=not _reads_item_vectors(model), **frame_options)
        model.fit(interactions)
        fitted_options = getattr(model.content.encoder, "fitted_options", None)
        if callable(fitted_options):
            options = fitted_options()  # e.g. multimodal: its per-block centring and weights, for load()
        index = cls.from_hybrid(
            model, interactions, encoder_name=name, encoder_options=options,
            fusion_options=fusion_options, category_column=category_column, backend=backend,
        )
        # kept for `coldkit serve --build` to print, as `coldkit recommend` prints them: a learned weight of 0
        # for a new user's words made every words-only request a popularity list, and nothing said why
        # the encoder's own notes first (multimodal: how many items have each medium, the weights it chose), or
        # they were printed at --build and lost with the snapshot
        encoder_notes = [str(note) for note in getattr(model.content.encoder, "notes_", None) or ()]
        index.build_notes = encoder_notes + list(getattr(model, "notes_", []))
        return index

    @classmethod
    def from_hybrid(
        cls,
        model: Hybrid,
        interactions: Interactions,
        *,
        encoder_name: str,
        encoder_options: Mapping[str, Any] | None = None,
        fusion_options: Mapping[str, Any] | None = None,
        category_column: str | None = "genres",
        backend: str = DEFAULT_BACKEND,
    ) -> "ServingIndex":
        """A serving index from a fitted :class:`~coldkit.models.hybrid.Hybrid` whose warm space is ``"svd"``.

        The EASE / item-kNN warm spaces have one CF dimension per warm item, far too wide to
        serve a large catalogue; the factorised ``svd`` space (``factors`` wide) is what is served.
        """
        cf_model = model.cf
        if getattr(cf_model.warm, "kind", None) != "svd" or not hasattr(cf_model, "weights_"):
            # the whole recipe at once: naming only warm='svd' sent the user into the next two refusals
            # (the unserved sources' weights, the second encoder)
            zero_weights = {k: 0 for k in DEFAULT_WEIGHTS if k not in SERVED_SOURCES}
            raise InvalidInputError(
                "ServingIndex.from_hybrid needs a fitted Hybrid(warm='svd', lexical=False, attributes=False, stack=False, "
                f"weights={zero_weights}) (the served blend: a factorised warm space, one encoder, the sources "
                f"{', '.join(SERVED_SOURCES)}); or let ServingIndex.build(interactions, ...) fit that hybrid"
            )
        if len(getattr(model.content, "encoders", [model.content.encoder])) > 1:
            raise InvalidInputError(
                "ServingIndex.from_hybrid serves one encoder's space; build the Hybrid with lexical=False and "
                "attributes=False (its content vectors join several encoders)"
            )
        content = np.ascontiguousarray(model.content.item_vectors(), dtype=np.float32)
        cf = np.ascontiguousarray(cf_model.item_vectors(), dtype=np.float32)
        counts = interactions.item_counts().astype(np.float64)
        warm = counts > 0
        # A click on a warm item adds its learned basis row to the user's CF vector (PureSVD fold-in,
        # exactly WarmSpace.user_vectors); a click on a cold item adds its content-mapped vector.
        assert cf_model.mapped_vectors_ is not None
        foldin = np.where(warm[:, None], cf_model.warm.item_vectors_, cf_model.mapped_vectors_).astype(np.float32)
        catalog = interactions.catalog
        # an item table of ids and media alone (product photos) has no text to show, not an error
        texts = catalog.texts() if catalog.text_columns else [""] * len(catalog)
        categories: list[tuple[str, ...]] = [()] * len(catalog)
        if category_column and category_column in catalog.table.columns:
            values = catalog.table[category_column].astype("string").fillna("")
            # the genre models' rule, so "Comedy, Romance" is two categories here as it is two genres there
            # (split on '|' alone it was one category, and max_per_category capped the wrong groups)
            sep = genre_separator(values)
            categories = [tuple(split_genres(v, sep)) for v in values]  # "(no genres listed)" is no category either
        images: list[str | None] = [None] * len(catalog)
        image_column = getattr(model.content.encoder, "image_column", None)  # a multimodal encoder's posters
        if image_column is not None and image_column in catalog.table.columns:
            images = _image_paths(catalog.table[image_column].tolist(), getattr(model.content.encoder, "media_root", None))
        n = len(catalog)
        matrix = interactions.matrix
        version = Version(
            number=0,
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
        unserved = [name for name in model.used_sources if name not in SERVED_SOURCES]
        if unserved:
            raise InvalidInputError(
                f"the serving index serves the sources {', '.join(SERVED_SOURCES)}; "
                f"build the Hybrid with weight 0 for {sorted(unserved)}"
            )
        fitted = [name for name in ("stacker_", "words_stacker_") if getattr(model, name, None) is not None]
        if fitted:
            # name the one that is set: a hybrid whose only stacker answers the new users who give only
            # words has stacker_ None, and "the hybrid's stacker" sent its user looking at stacker_
            raise InvalidInputError(
                "the serving index serves the weighted blend, not the hybrid's LambdaRank stacker "
                f"({' and '.join(fitted)}; words_stacker_ answers the new users who give only words); "
                "build the Hybrid with stack=False"
            )
        if not model.adaptive:
            raise InvalidInputError("the serving index serves the adaptive blend; build the Hybrid with adaptive=True")
        # a source the hybrid does not blend (not among its ``sources``) is not served either
        used = set(model.used_sources)
        weights = {k: float(v) if k in used else 0.0 for k, v in model.weights.items() if k in SERVED_SOURCES}
        fusion = FusionConfig(
            strategy=model.fusion.name, options=dict(fusion_options or {}), weights=weights,
            user_trust=model.user_trust, depth=model.depth, text_weight=model.content.text_weight,
            learned=model.learned_,
        )
        return cls(
            version, encoder=model.content.encoder, encoder_name=encoder_name, encoder_options=encoder_options or {},
            whitener=model.content.whitener, map_weights=cf_model.weights_, map_intercept=cf_model.intercept_,
            fusion=fusion, backend=backend,
        )

    # ================================================================== writes (see IndexWriter)
    def upsert_items(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add new items or replace existing ones (by ``id``); each has ``text`` and optional ``categories``, ``image``.

        Returns one ``{"id", "created"}`` per item. A new item is recommendable by the next request. An
        item posted again as the index holds it (same text, categories, image and content vector) changes
        nothing: no row, no log record, and no new version when no item of the request changed.
        An item without content (empty text, no image or audio) is accepted, as ``coldkit recommend``
        takes a catalogue row without text, and its answer carries a ``"note"``
        (:data:`coldkit.serving.writes.NO_CONTENT_NOTE`): content matching cannot find it.
        """
        return self.writer.upsert_items(items)

    def delete_items(self, item_ids: Sequence[str]) -> None:
        """Delete items: they stop being recommended at once (tombstones; compacted on snapshot)."""
        self.writer.delete_items(item_ids)

    def add_interactions(self, events: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Record ``(user_id, item_id)`` interactions; an unknown user is created. Returns ``recorded``, ``duplicates``, ``new_users``."""
        return self.writer.add_interactions(events)

    def upsert_user(self, user_id: str, *, text: str | None = None, items: Sequence[str] = ()) -> dict[str, Any]:
        """Create or update a user from profile text and/or a few clicked items."""
        return self.writer.upsert_user(user_id, text=text, items=items)

    @property
    def read_only(self) -> bool:
        """Whether writes are refused (opened read-only, or closed after being attached to a directory)."""
        return self.writer.read_only

    @property
    def path(self) -> str | None:
        """The directory the index is attached to (its writes are logged there), if any."""
        return self.writer.path

    def close(self) -> None:
        """Close the write-ahead log and release the writer lock (the index stays readable, writes stop being logged)."""
        self.writer.close()


def _image_paths(values: Sequence[Any], media_root: str | None) -> list[str | None]:
    """Each item's image as its real path inside ``media_root`` (what ``GET /items`` shows relative to the root), else None."""
    import math

    from coldkit.media import resolve_in_root

    out: list[str | None] = []
    for value in values:
        if media_root is None or not isinstance(value, str) or not value.strip() or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append(resolve_in_root(value, media_root))
    return out
