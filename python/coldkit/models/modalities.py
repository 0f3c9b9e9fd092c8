"""Multimodal item content: text, image and audio columns, each with its own encoder, fused into one space.

:class:`MultimodalEncoder` (registered as the encoder ``"multimodal"``) reads an item's text
columns, an image column and an audio column of the catalogue and builds one content vector:

1. each modality is encoded by its own encoder (text: ``hashing``/``bert``/``gpt2``; images:
   ``clip`` or the weights-free ``image-stats``; audio: ``audio``/``clap`` from coldkit-audio);
2. each block is centred (or whitened) on the catalogue items that have that modality, then
   L2-normalised — separately, because the spaces have unrelated anisotropy and scale;
3. the blocks are concatenated as ``[sqrt(w_text)·t, sqrt(w_image)·i, sqrt(w_audio)·a]`` and the
   row is L2-normalised again, so the cosine of two items with every modality is
   ``Σ w_m · cos_m`` and an item without an image or audio is compared on the modalities it has;
4. the weights ``w`` are chosen on a validation split carved from the *training* interactions
   (``weights="auto"``): a seeded 15 % of the items with interactions become pseudo-cold, and the
   weights on a simplex grid (steps of 0.1, none 0) that best rank them for the users who interacted with them — a user
   being the mean of the fused vectors of their other items — win (Recall@20). Nothing of a test set
   is seen. Fixed weights (``weights={"text": 0.7, "image": 0.3}``) skip the search.

Why one fused space rather than one hybrid source per modality: every model that takes an encoder
(content, the cold adapters, the hybrid and its serving index) then gets multimodal items with no
change of its own — the fused vectors flow through the encoder's ``encode_training`` path — and the
content→CF adapters learn from all modalities jointly instead of from one at a time.

Media paths are read only inside ``media_root`` (see :mod:`coldkit.media`). A bad media file —
outside the root, missing, a folder or FIFO, undecodable, a decompression bomb, a non-picture mode,
an audio file the decoder refuses or one of digital silence (an all-zero vector) — is a per-item
error: it is listed in :attr:`MultimodalEncoder.errors_` (and in the run summary of ``coldkit
recommend`` / ``coldkit evaluate``), that item is encoded from the modalities it still has, and the
run continues.

Example::

    encoder = coldkit.get_encoder(
        "multimodal", text_encoder="bert", image_column="image", image_encoder="clip:model=/models/clip",
        media_root="/data/posters",
    )
    model = coldkit.models.create("hybrid", encoder=encoder).fit(train)
    encoder.errors_        # [MediaError(item='42', modality='image', message='... cannot read image ...')]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.encoding import encode_catalog, finish_cache_use, media_path_key, normalize_rows, open_cache
from coldkit.exceptions import ColdkitWarning, InvalidInputError
from coldkit.media import URL_REFUSAL, check_media_root, file_problem, is_url, resolve_in_root
from coldkit.models.whitening import Whitening
from coldkit.plugins.manager import get_encoder
from coldkit.plugins.types import Encoder
from coldkit.validation import check_flag

if TYPE_CHECKING:
    from coldkit.data.interactions import Interactions

__all__ = ["MODALITIES", "MediaError", "MultimodalEncoder", "choose_weights", "encoder_from_spec", "fuse_blocks"]

MODALITIES = ("text", "image", "audio")
_MEDIA_METHOD = {"image": "encode_images", "audio": "encode_audio"}
_MEDIA_CHUNK = 32  # files per encoder call; a failing chunk is retried item by item
_GRID_STEP = 0.1  # weight grid of the validation search (9 settings for 2 modalities, 36 for 3)


@dataclass(frozen=True)
class MediaError:
    """One item's media file that could not be used (the item keeps its other modalities)."""

    item: str
    modality: str
    message: str

    def __str__(self) -> str:
        return f"item {self.item!r} {self.modality}: {self.message}"


def encoder_from_spec(spec: str | Encoder, options: Mapping[str, Any] | None = None) -> Encoder:
    """An encoder from ``"NAME"``, ``"NAME:KEY=VALUE,..."`` (e.g. ``"clip:model=/models/clip"``) or an instance.

    Example::

        encoder_from_spec("hashing:dim=512")
    """
    from coldkit.models.registry import parse_option_value

    if not isinstance(spec, str):
        if not hasattr(spec, "dim") or not hasattr(spec, "fingerprint"):
            raise InvalidInputError(f"expected an encoder name or instance, got {type(spec).__name__}")
        return spec
    name, _, rest = spec.partition(":")
    parsed: dict[str, Any] = dict(options or {})
    for part in (p for p in rest.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise InvalidInputError(f"encoder option {part!r} in {spec!r} is not KEY=VALUE")
        parsed[key.strip()] = parse_option_value(value)
    return get_encoder(name.strip(), **parsed)


def fuse_blocks(blocks: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """``normalize([sqrt(w_m)·block_m ...])``: cosine = Σ w_m cos_m where both items have every block.

    Blocks are unit (or zero) rows; a missing modality is a zero row and so drops out of the item's
    norm: the item is compared on the modalities it has.
    """
    total = sum(float(weights[m]) for m in blocks)
    if total <= 0:
        raise InvalidInputError(f"modality weights must not all be 0: {dict(weights)}")
    parts = [math.sqrt(float(weights[m]) / total) * np.asarray(block, dtype=np.float32) for m, block in blocks.items()]
    return normalize_rows(np.hstack(parts))


def _weight_grid(modalities: Sequence[str], step: float = _GRID_STEP) -> list[dict[str, float]]:
    """Every weight vector on the simplex grid of ``step`` with each weight > 0 (sums to 1).

    No weight is 0: an item that lacks the other media must still be described by this one.
    """
    n = round(1 / step)
    return [
        {m: c / n for m, c in zip(modalities, combo)}
        for combo in itertools.product(range(1, n + 1), repeat=len(modalities))
        if sum(combo) == n
    ]


def choose_weights(
    blocks: Mapping[str, np.ndarray],
    train: "Interactions",
    *,
    seed: int = 0,
    k: int = 20,
    item_fraction: float = 0.15,
    max_users: int = 2000,
) -> tuple[dict[str, float] | None, str]:
    """Modality weights chosen on pseudo-cold items carved from ``train`` (see the module docstring).

    Returns ``(weights, note)``; ``weights`` is None when the data are too small to validate on
    (then the caller keeps equal weights; ``note`` says why).
    """
    names = list(blocks)
    equal = {m: 1.0 / len(names) for m in names}
    if len(names) == 1:
        return {names[0]: 1.0}, f"one modality ({names[0]}): nothing to weigh"
    matrix = train.matrix.tocsr().astype(np.float32)
    matrix.data[:] = 1.0
    warm = np.flatnonzero(np.diff(matrix.tocsc().indptr) > 0)
    rng = np.random.default_rng(seed)
    n_cold = int(round(item_fraction * warm.size))
    if n_cold < 5:
        return None, f"only {warm.size} items with interactions: too few to validate modality weights"
    cold = np.sort(rng.choice(warm, size=n_cold, replace=False))
    is_cold = np.zeros(matrix.shape[1], dtype=bool)
    is_cold[cold] = True
    history = (matrix @ sp.diags((~is_cold).astype(np.float32))).tocsr()
    targets = matrix[:, cold].tocsr()
    users = np.flatnonzero((np.diff(history.indptr) > 0) & (np.diff(targets.indptr) > 0))
    if users.size < 20:
        return None, f"only {users.size} users interacted with pseudo-cold items: too few to validate modality weights"
    if users.size > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    history, targets = history[users], targets[users]
    relevant = np.asarray(targets.sum(axis=1)).ravel()
    truth = targets.toarray().astype(bool)
    # Recall at a cut-off well below the candidate count (else every setting scores 1), and the
    # pairwise ranking accuracy (AUC) as the tie-breaker: it sees order changes recall cannot.
    cut = max(1, min(k, n_cold // 5))

    def score(weights: Mapping[str, float]) -> tuple[float, float]:
        fused = fuse_blocks(blocks, weights)
        profiles = normalize_rows(np.asarray(history @ fused, dtype=np.float32))
        scores = profiles @ fused[cold].T
        top = np.argpartition(-scores, cut - 1, axis=1)[:, :cut]
        hits = np.take_along_axis(truth, top, axis=1).sum(axis=1)
        recall = float(np.mean(hits / np.minimum(relevant, cut)))
        ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1) + 1  # 1 = lowest score
        negatives = n_cold - relevant
        usable = negatives > 0
        auc = (np.where(truth, ranks, 0).sum(axis=1) - relevant * (relevant + 1) / 2)[usable] / (relevant * negatives)[usable]
        return recall, float(np.mean(auc)) if auc.size else 0.5

    scored = [(score(w), -sum(abs(w[m] - equal[m]) for m in names), w) for w in _weight_grid(names)]
    (best, best_auc), _, weights = max(scored, key=lambda s: (s[0][0], s[0][1], s[1]))
    baseline, baseline_auc = score(equal)
    shown = ", ".join(f"{m} {weights[m]:.2f}" for m in names)
    return weights, (
        f"modality weights {shown} chosen on {n_cold} pseudo-cold training items, {users.size} users "
        f"(Recall@{cut} {best:.4f}, AUC {best_auc:.4f}; equal weights {baseline:.4f}, {baseline_auc:.4f})"
    )


def _without_call_position(exc: BaseException) -> str:
    """An encoder's error for a one-file call, without the file's position in that call ("image 0: ...")."""
    return re.sub(r"^(image|audio) 0: ", "", str(exc))


class MultimodalEncoder:
    """Text + image + audio content of catalogue items in one space (see the module docstring).

    Args:
        text_encoder: text encoder name/spec/instance (default ``"hashing"``; None: no text block).
        image_encoder: image encoder name/spec/instance (default ``"image-stats"``, weights-free;
            ``"clip:model=PATH"`` with real CLIP weights). Used only with ``image_column``.
        audio_encoder: audio encoder name/spec/instance (default ``"audio"``, from coldkit-audio).
            Used only with ``audio_column``.
        text_columns: catalogue columns joined into the text (default: the catalogue's text columns).
        image_column: catalogue columns of media paths; an empty value means the item
            has no such medium.
        audio_column: catalogue columns of media paths; an empty value means the item
            has no such medium.
        media_root: the folder media paths must lie in (relative paths are taken from it);
            required with a media column.
        weights: ``"auto"`` (validated on the training data), ``"equal"``, or a mapping modality -> weight.
        whitening: per-block ``"center"`` (default), ``"whiten"`` or ``"none"``.
        cache: use the on-disk vector cache (text and media, keyed by content).
        seed: seed of the validation split.
        state: the fitted state (:meth:`fitted_options` writes it; a serving index reloads it).
    """

    name = "multimodal"

    def __init__(
        self,
        text_encoder: str | Encoder | None = "hashing",
        image_encoder: str | Encoder = "image-stats",
        audio_encoder: str | Encoder = "audio",
        *,
        text_columns: Sequence[str] | str | None = None,
        image_column: str | None = None,
        audio_column: str | None = None,
        media_root: str | os.PathLike[str] | None = None,
        weights: str | Mapping[str, float] = "auto",
        whitening: str = "center",
        cache: bool = True,
        seed: int = 0,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.encoders: dict[str, Encoder] = {}
        self.specs: dict[str, Any] = {}
        if text_encoder is not None:
            self.encoders["text"] = encoder_from_spec(text_encoder)
            self.specs["text"] = text_encoder if isinstance(text_encoder, str) else self.encoders["text"].name
        for modality, column, spec in (("image", image_column, image_encoder), ("audio", audio_column, audio_encoder)):
            if column is None:
                continue
            if not isinstance(column, str) or not column:
                raise InvalidInputError(f"{modality}_column must be a column name, got {column!r}")
            enc = encoder_from_spec(spec)
            if modality not in set(getattr(enc, "modalities", ())) or not callable(getattr(enc, _MEDIA_METHOD[modality], None)):
                raise InvalidInputError(
                    f"{modality} encoder {enc.name!r} does not encode {modality} (modalities: "
                    f"{sorted(getattr(enc, 'modalities', ()))}); choose e.g. "
                    f"{'image-stats or clip' if modality == 'image' else 'audio or clap (coldkit-audio)'}"
                )
            self.encoders[modality] = enc
            self.specs[modality] = spec if isinstance(spec, str) else enc.name
        if not self.encoders:
            raise InvalidInputError("multimodal encoder: no modality (give a text_encoder, an image_column or an audio_column)")
        self.text_columns = (text_columns,) if isinstance(text_columns, str) else (tuple(text_columns) if text_columns else None)
        self.image_column, self.audio_column = image_column, audio_column
        self.media_root: str | None = None
        if state and (media_root is None or not os.path.isdir(media_root)):
            # re-created from a saved index (maybe on another machine): the catalogue is already
            # encoded, and new items' paths are confined by the server's own --media-root
            pass
        elif media_root is not None:
            self.media_root = check_media_root(media_root)
        elif image_column is not None or audio_column is not None:
            raise InvalidInputError(
                "multimodal encoder: a media column needs media_root= (--media-root): the folder media files are read from"
            )
        self._unweighted: list[str] = []
        if isinstance(weights, str):
            if weights not in ("auto", "equal"):
                raise InvalidInputError(f"weights must be 'auto', 'equal' or a mapping modality -> weight, got {weights!r}")
        else:
            # a modality the mapping leaves out weighs 0 (its block drops out), as an explicit 0 does;
            # unlike the 0, it may be an oversight ({"text": 0.5} beside an image column), so the fit says so
            self._unweighted = [m for m in self.encoders if m not in weights] if isinstance(weights, Mapping) else []
            weights = self._check_weights(weights)
        self.weights_option: str | dict[str, float] = weights if isinstance(weights, str) else dict(weights)
        self.whitening = whitening
        Whitening(whitening)  # an unknown mode fails now
        self.cache = check_flag(cache, "multimodal encoder cache")  # bool("no") is True
        self.seed = int(seed)
        self.modalities = frozenset(self.encoders)
        self.dim = int(sum(int(e.dim) for e in self.encoders.values()))
        self.whiteners: dict[str, Whitening] = {}
        self.weights_: dict[str, float] = (
            dict(self.weights_option) if isinstance(self.weights_option, dict)
            else {m: 1.0 / len(self.encoders) for m in self.encoders}
        )
        self.errors_: list[MediaError] = []
        self.notes_: list[str] = []
        if state:
            self._load_state(state)

    # ------------------------------------------------------------------ identity
    def _check_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(weights, Mapping):
            raise InvalidInputError(f"weights must be 'auto', 'equal' or a mapping modality -> weight, got {weights!r}")
        unknown = sorted(set(weights) - set(self.encoders))
        if unknown:
            raise InvalidInputError(f"weights for modalities this encoder does not have: {unknown} (it has {sorted(self.encoders)})")
        out = {}
        for m in self.encoders:
            value = weights.get(m, 0.0)
            try:
                # float(True) is 1.0 and float("x") a bare ValueError: name the modality instead; a string
                # ("1" in JSON) is refused too, as the other numeric options are: it is not what was meant
                if isinstance(value, (bool, np.bool_, str, bytes)):
                    raise TypeError
                out[m] = float(value)
            except (TypeError, ValueError):
                raise InvalidInputError(f"modality weight of {m!r} must be a number, got {value!r}") from None
        if any(not math.isfinite(w) or w < 0 for w in out.values()) or sum(out.values()) <= 0:
            raise InvalidInputError(f"modality weights must be finite, >= 0 and not all 0, got {dict(weights)}")
        if not math.isfinite(sum(out.values())):
            # 1e308 + 1e308 is inf: every block was scaled by sqrt(w / inf) = 0, and the zero vectors were
            # then blamed on the items' text
            raise InvalidInputError(
                f"modality weights {dict(weights)} sum past the largest float; only their ratios matter: scale them down"
            )
        return out

    @property
    def reads_interactions(self) -> bool:
        """True when fitting reads the training interactions: ``weights="auto"`` with two or more modalities
        chooses the weights on pseudo-cold training items. A private model refuses such an encoder (that choice
        would be learned from the users' clicks without noise or accounting)."""
        return self.weights_option == "auto" and len(self.encoders) > 1

    @property
    def fingerprint(self) -> str:
        parts = {m: e.fingerprint for m, e in self.encoders.items()}
        digest = hashlib.blake2b(
            json.dumps([parts, self.weights_, self.whitening, self._state_digest()], sort_keys=True).encode(), digest_size=12
        ).hexdigest()
        return f"multimodal:{digest}"

    def _state_digest(self) -> str:
        h = hashlib.blake2b(digest_size=12)
        for m in sorted(self.whiteners):
            w = self.whiteners[m]
            if w.mean_ is not None:
                h.update(np.ascontiguousarray(w.mean_).tobytes())
            if w.projection_ is not None:
                h.update(np.ascontiguousarray(w.projection_).tobytes())
            support = w.partial_support()
            if support is not None:  # it changes how texts map (a dense block has none: as before)
                h.update(np.packbits(support).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ fitting on a catalogue
    def encode_training(self, train: "Interactions") -> np.ndarray:
        """Fused ``(n_items, dim)`` vectors of the catalogue; fits the per-block whitening and the weights.

        Called by the content models in place of plain text encoding (see
        :func:`coldkit.models.content.encode_items`). Media errors go to :attr:`errors_`.
        """
        catalog = train.catalog
        labels = [str(i) for i in catalog.item_ids]
        self.errors_, self.notes_ = [], []
        raw: dict[str, np.ndarray] = {}
        if "text" in self.encoders and (self.text_columns or catalog.text_columns):
            texts = catalog.texts(self.text_columns)
            enc = self.encoders["text"]
            fit = getattr(enc, "fit", None)
            if callable(fit):
                fit(texts)  # TF-IDF learns its IDF from the catalogue text, as the content model does
            raw["text"] = np.asarray(encode_catalog(texts, enc, cache=self.cache, progress=False), dtype=np.float32)
        for modality, column in (("image", self.image_column), ("audio", self.audio_column)):
            if column is None:
                continue
            if column not in catalog.table.columns:
                raise InvalidInputError(f"{modality} column {column!r} not in the item table: {list(catalog.table.columns)}")
            paths = self._media_paths(modality, catalog.table[column].tolist(), labels)
            raw[modality] = self._encode_media(modality, paths, labels)
            failed = [e for e in self.errors_ if e.modality == modality]
            if failed and not np.any(raw[modality] != 0):
                # every file named failed: a wrong column (--image-column title) or a wrong --media-root,
                # not a catalogue that lacks posters; going on would silently rank without the medium asked for
                raise InvalidInputError(
                    f"multimodal encoder: none of the {len(failed):,} {modality} file(s) named in column {column!r} could be used "
                    f"(first: item {failed[0].item!r}: {failed[0].message}); check the {modality} column and media_root ({self.media_root})"
                )
        if "text" not in raw:
            # an item table of ids and media (product photos, no words): the media describe the items,
            # the text block stays empty; a user's own words reach the items only through a media encoder
            # that embeds texts too (clip, clap)
            through = [m for m in self.text_blocks() if m != "text"]
            self.notes_.append(
                ("multimodal: the item table has no text columns: " if "text" in self.encoders else "multimodal: no text encoder: ")
                + "items are described by their media alone; "
                + (f"a user's own words are matched to their {' and '.join(through)} ({', '.join(self.encoders[m].name for m in through)} embeds texts too)"
                   if through else "a user's own words cannot match them (an image encoder such as clip would place words beside the pictures)")
            )
        blocks: dict[str, np.ndarray] = {}
        self.whiteners = {}
        for modality, vectors in raw.items():
            has = np.any(vectors != 0, axis=1)
            if has.sum() < 2:
                self.notes_.append(f"multimodal: only {int(has.sum())} item(s) have {modality}: that block is left out")
                continue
            self.whiteners[modality] = Whitening(self.whitening).fit(vectors[has])
            blocks[modality] = self.whiteners[modality].transform(vectors, normalize=True)
            if modality != "text":
                self.notes_.append(f"multimodal: {int(has.sum()):,} of {len(labels):,} items have {modality}")
        if not blocks:
            raise InvalidInputError("multimodal encoder: fewer than 2 catalogue items have any content to encode")
        if self.weights_option == "auto":
            chosen, note = choose_weights(blocks, train, seed=self.seed)
            self.notes_.append(f"multimodal: {note}")
            self.weights_ = chosen if chosen is not None else {m: 1.0 / len(blocks) for m in blocks}
        elif self.weights_option == "equal":
            self.weights_ = {m: 1.0 / len(blocks) for m in blocks}
        else:
            self.weights_ = dict(self.weights_option)  # type: ignore[arg-type]
            if self._unweighted:
                self.notes_.append(
                    f"multimodal: the modality weights give {', '.join(self._unweighted)} no weight, so "
                    f"{'that block is' if len(self._unweighted) == 1 else 'those blocks are'} left out "
                    "(a modality missing from the weights weighs 0; give it a weight to use it)"
                )
        self.weights_ = {m: self.weights_.get(m, 0.0) for m in self.encoders}
        if self.errors_:
            # counted per item, not per file: several items may share one bad file, each losing its block
            self.notes_.append(f"multimodal: {len(self.errors_)} item(s) have a media file that could not be used (they keep their other modalities)")
        return self._fuse({m: blocks.get(m) for m in self.encoders}, len(labels))

    def media_presence(self, catalog: Any) -> dict[str, np.ndarray]:
        """For each media modality, which catalogue items have a usable file (encodes them; the cache keeps the work).

        Bad files are listed in :attr:`errors_` and count as absent. Used to restrict an evaluation
        to the items that have a medium, before any model is fitted.
        """
        labels = [str(i) for i in catalog.item_ids]
        self.errors_ = []
        out: dict[str, np.ndarray] = {}
        for modality, column in (("image", self.image_column), ("audio", self.audio_column)):
            if column is None:
                continue
            if column not in catalog.table.columns:
                raise InvalidInputError(f"{modality} column {column!r} not in the item table: {list(catalog.table.columns)}")
            paths = self._media_paths(modality, catalog.table[column].tolist(), labels)
            out[modality] = np.any(self._encode_media(modality, paths, labels) != 0, axis=1)
        return out

    def _fuse(self, blocks: Mapping[str, np.ndarray | None], n: int) -> np.ndarray:
        """Fuse with the fitted weights; an absent block is zero columns, so the layout is fixed."""
        parts = {m: (b if b is not None else np.zeros((n, int(self.encoders[m].dim)), np.float32)) for m, b in blocks.items()}
        weights = {m: (self.weights_.get(m, 0.0) if blocks[m] is not None else 0.0) for m in blocks}
        if sum(weights.values()) <= 0:
            return np.zeros((n, self.dim), dtype=np.float32)
        return fuse_blocks(parts, weights)

    # ------------------------------------------------------------------ media files
    def _media_paths(self, modality: str, values: Sequence[Any], labels: Sequence[str]) -> list[str | None]:
        """Each item's real media path inside the root, or None (no medium, or a refused path: then an error is listed)."""
        if self.media_root is None:
            raise InvalidInputError(f"multimodal encoder: reading the {modality} column needs media_root= (a folder that exists here)")
        out: list[str | None] = []
        for label, value in zip(labels, values):
            if value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip()):
                out.append(None)
                continue
            if not isinstance(value, (str, os.PathLike)):
                self.errors_.append(MediaError(label, modality, f"expected a file path, got {type(value).__name__} {value!r:.60}"))
                out.append(None)
                continue
            if is_url(value):
                # a poster URL read as a path was "file not found: 'https://...'": say what it is instead
                self.errors_.append(MediaError(label, modality, f"{value!r:.120} {URL_REFUSAL}"))
                out.append(None)
                continue
            real = resolve_in_root(value, self.media_root)
            if real is None:
                self.errors_.append(MediaError(label, modality, _outside_root(os.fspath(value), self.media_root)))
            elif (problem := file_problem(real, shown=os.fspath(value))) is not None:
                # a folder or FIFO named x.jpg is not "not found"; and a FIFO is never opened (it would block)
                self.errors_.append(MediaError(label, modality, problem))
                real = None
            out.append(real)
        return out

    def _encode_media(self, modality: str, paths: list[str | None], labels: Sequence[str]) -> np.ndarray:
        """Vectors of one medium (zero rows where there is none or it failed); failures go to ``errors_``."""
        encoder = self.encoders[modality]
        dim = int(encoder.dim)
        out = np.zeros((len(paths), dim), dtype=np.float32)
        keys: list[str | None] = []
        for i, path in enumerate(paths):
            if path is None:
                keys.append(None)
                continue
            try:
                keys.append(media_path_key(modality, path))  # an image's key carries the pipeline's version
            except OSError as exc:
                self.errors_.append(MediaError(labels[i], modality, f"cannot read {os.path.basename(path)!r}: {exc.strerror or exc}"))
                keys.append(None)
        store = open_cache(encoder, dim) if self.cache else None
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key is not None:
                first.setdefault(key, i)
        vectors: dict[str, np.ndarray] = {}
        if store is not None and first:
            found, cached = store.get_many(list(first))
            vectors.update(zip((k for k, f in zip(first, found) if f), cached))
        todo = [k for k in first if k not in vectors]
        failed: dict[str, str] = {}  # content key -> why it could not be encoded
        for start in range(0, len(todo), _MEDIA_CHUNK):
            chunk = todo[start : start + _MEDIA_CHUNK]
            done = self._encode_chunk(modality, encoder, [str(paths[first[k]]) for k in chunk])
            good = [(k, v) for k, v in zip(chunk, done) if isinstance(v, np.ndarray)]
            failed.update((k, v) for k, v in zip(chunk, done) if isinstance(v, str))
            if store is not None and good:
                store.put([k for k, _ in good], np.stack([v for _, v in good]))
            vectors.update(good)
        for i, key in enumerate(keys):
            if key is not None and key in failed:
                # identical files are encoded once, but every item naming a bad one has lost its medium:
                # each is listed (in item order), not only the first
                self.errors_.append(MediaError(labels[i], modality, failed[key]))
            elif key is not None and key in vectors:
                out[i] = vectors[key]
                if not np.any(out[i]):
                    # read and encoded, yet nothing to compare it by (the audio encoder's answer to digital
                    # silence): the item is without this medium as surely as with an undecodable file, so it
                    # is listed and counted with those (cached or not: checked on every use)
                    self.errors_.append(MediaError(labels[i], modality, _empty_vector_message(modality, str(paths[i]))))
        if store is not None:
            finish_cache_use(store)
        return out

    def _encode_chunk(self, modality: str, encoder: Encoder, paths: list[str]) -> list[np.ndarray | str]:
        """Encode files: a vector each, or why it failed; a chunk that fails is retried one file at a time to find the bad ones."""
        method = getattr(encoder, _MEDIA_METHOD[modality])
        if len(paths) > 1:
            try:
                return list(self._checked(method(paths), len(paths), encoder, modality))
            except InvalidInputError:
                pass  # some file in the chunk is bad: find which, one at a time
        out: list[np.ndarray | str] = []
        for path in paths:
            try:
                out.append(self._checked(method([path]), 1, encoder, modality)[0])
            except InvalidInputError as exc:
                # the encoder names the file by its position in this one-file call ("image 0: ..."): drop that
                out.append(_without_call_position(exc).replace(self.media_root or "\x00", "<media root>"))
        return out

    @staticmethod
    def _checked(vectors: Any, n: int, encoder: Encoder, modality: str) -> np.ndarray:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.shape != (n, int(encoder.dim)) or not np.isfinite(arr).all():
            raise InvalidInputError(f"{modality} encoder {encoder.name!r} returned shape {arr.shape} or non-finite values for {n} file(s)")
        return arr

    # ------------------------------------------------------------------ queries and new items
    def _block(self, modality: str, raw: np.ndarray, *, query: bool = False) -> np.ndarray:
        whitener = self.whiteners.get(modality)
        if whitener is None:
            return normalize_rows(raw)  # not fitted yet (or the block had no data): unit rows as encoded
        # a user's text is a query: with nothing in the dimensions the catalogue uses it is not centred
        # (see Whitening.transform), new items are centred as the catalogue's were
        return whitener.transform(raw, normalize=True, query=query)

    def text_blocks(self) -> list[str]:
        """The blocks a user's text is placed in: the text block, and each media block whose encoder embeds
        texts in its own space (``clip`` for images, ``clap`` for audio)."""
        return [m for m, enc in self.encoders.items() if m == "text" or "text" in set(getattr(enc, "modalities", ()))]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts in the fused space as an item's text: the text block only (centred as the catalogue's), unit rows.

        A new item described by text (``cold-ridge``'s ``vector_for_text``, ``encode_item_texts``) gets what
        :meth:`encode_contents` gives it: its image block is its image's, not its words'. A user's words go
        through :meth:`encode_query_texts`.
        """
        if "text" not in self.encoders:
            raise InvalidInputError("this multimodal encoder has no text encoder, so it cannot place texts in its space")
        texts = self._text_list(texts)
        raw = np.asarray(self.encoders["text"].encode_texts(texts), dtype=np.float32)
        blocks: dict[str, np.ndarray | None] = {m: None for m in self.encoders}
        blocks["text"] = self._block("text", raw, query=True)
        return self._fuse(blocks, raw.shape[0])

    def encode_query_texts(self, texts: Sequence[str]) -> np.ndarray:
        """A user's words in the fused space, unit rows: in the text block (centred as the catalogue's) and
        in each media block whose encoder embeds texts beside its media (:meth:`text_blocks`).

        Why the media blocks: CLIP puts a text and a picture in one space, yet a user's words went to the
        text block alone; in a catalogue known by its posters (no item text) every item then scored 0 for
        every text, without a word, and beside item text the posters could not answer the words. The
        content model and the serving index ask queries this way (:func:`coldkit.encoding.encode_queries`).
        """
        placed = self.text_blocks()
        if not placed:
            raise InvalidInputError(
                "this multimodal encoder has no text encoder and no media encoder that embeds texts (clip, clap), "
                "so it cannot place texts in its space"
            )
        texts = self._text_list(texts)
        blocks: dict[str, np.ndarray | None] = {m: None for m in self.encoders}
        for modality in placed:
            raw = np.asarray(self.encoders[modality].encode_texts(texts), dtype=np.float32)
            blocks[modality] = self._block(modality, raw, query=True)
        if texts and self.whiteners and not any(self.weights_.get(m, 0.0) > 0 and m in self.whiteners for m in placed):
            warnings.warn(
                "multimodal encoder: a user's text cannot match any item here: the blocks it is placed in "
                f"({', '.join(placed)}) hold no item content; give the items text, or encode their media with an "
                "encoder that embeds texts in the same space (clip for images, clap for audio)",
                ColdkitWarning,
                stacklevel=2,
            )
        return self._fuse(blocks, len(texts))

    @staticmethod
    def _text_list(texts: Sequence[str]) -> list[str]:
        if isinstance(texts, (str, bytes)):  # list("red") would be three one-letter texts
            raise InvalidInputError("encode_texts takes a list of texts; wrap a single one in a list")
        return list(texts)

    def encode_contents(
        self,
        texts: Sequence[str],
        images: Sequence[str | None] | None = None,
        audio: Sequence[str | None] | None = None,
        labels: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Fused vectors of new items (e.g. ``POST /items``), with the fitted whitening and weights.

        Paths must already be real paths the caller allowed (the server confines them to its
        ``--media-root``). A bad file raises InvalidInputError naming the item: a write is all or nothing.
        """
        n = len(texts)
        labels = list(labels) if labels is not None else [str(i) for i in range(n)]
        blocks: dict[str, np.ndarray | None] = {m: None for m in self.encoders}
        if "text" in self.encoders:
            blocks["text"] = self._block("text", np.asarray(self.encoders["text"].encode_texts(list(texts)), dtype=np.float32))
        for modality, given in (("image", images), ("audio", audio)):
            wanted = [i for i, p in enumerate(given or ()) if p]
            if not wanted:
                continue
            if modality not in self.encoders:
                raise InvalidInputError(
                    f"item {labels[wanted[0]]!r} has {modality} but this index encodes no {modality}; "
                    f"build it with --{modality}-column"
                )
            encoder = self.encoders[modality]
            raw = np.zeros((n, int(encoder.dim)), dtype=np.float32)
            method = getattr(encoder, _MEDIA_METHOD[modality])
            for i in wanted:
                try:
                    raw[i] = self._checked(method([given[i]]), 1, encoder, modality)[0]  # type: ignore[index]
                except InvalidInputError as exc:
                    # "item 'n2' image: image 0: cannot read...": the position is of this one-file call
                    raise InvalidInputError(f"item {labels[i]!r} {modality}: {_without_call_position(exc)}") from None
                if not np.any(raw[i]):  # digital silence: as unusable as a broken file (see _encode_media)
                    raise InvalidInputError(
                        f"item {labels[i]!r} {modality}: {_empty_vector_message(modality, str(given[i]))}; "  # type: ignore[index]
                        f"send the item without its {modality}"
                    )
            blocks[modality] = self._block(modality, raw)
        return self._fuse(blocks, n)

    # ------------------------------------------------------------------ persistence (serving)
    def fitted_options(self) -> dict[str, Any]:
        """Options that re-create this fitted encoder with ``get_encoder("multimodal", **options)`` (JSON-safe)."""
        blocks: dict[str, dict[str, Any]] = {
            m: {"mean": w.mean_.tolist() if w.mean_ is not None else None,
                "projection": w.projection_.tolist() if w.projection_ is not None else None}
            for m, w in self.whiteners.items()
        }  # fmt: skip
        for m, w in self.whiteners.items():
            support = w.partial_support()
            if support is not None:  # the dimensions the block's catalogue leaves unused (a dense block has none)
                blocks[m]["unused"] = np.flatnonzero(~support).tolist()
        options: dict[str, Any] = {
            "text_encoder": self.specs.get("text"),
            "text_columns": list(self.text_columns) if self.text_columns else None,
            "weights": dict(self.weights_), "whitening": self.whitening, "cache": self.cache, "seed": self.seed,
            "state": {"blocks": blocks},
        }
        idf = getattr(self.encoders.get("text"), "idf", None)
        if idf is not None:  # a corpus-fitted text encoder (hashing TF-IDF): its IDF is part of the space
            options["state"]["text_idf"] = np.asarray(idf, dtype=np.float64).tolist()
        for modality, column in (("image", self.image_column), ("audio", self.audio_column)):
            if column is not None:
                options[f"{modality}_encoder"] = self.specs[modality]
                options[f"{modality}_column"] = column
        if self.media_root is not None:
            options["media_root"] = self.media_root
        return options

    def _load_state(self, state: Mapping[str, Any]) -> None:
        blocks = state.get("blocks") if isinstance(state, Mapping) else None
        if not isinstance(blocks, Mapping):
            raise InvalidInputError("multimodal state must hold 'blocks'")
        if state.get("text_idf") is not None and "text" in self.encoders:
            self.encoders["text"].idf = np.asarray(state["text_idf"], dtype=np.float32)  # type: ignore[attr-defined]
        for modality, saved in blocks.items():
            if modality not in self.encoders or not isinstance(saved, Mapping) or saved.get("mean") is None:
                raise InvalidInputError(f"multimodal state: bad block {modality!r}")
            whitener = Whitening(self.whitening)
            whitener.mean_ = np.asarray(saved["mean"], dtype=np.float64)
            if saved.get("projection") is not None:
                whitener.projection_ = np.asarray(saved["projection"], dtype=np.float64)
            if whitener.mean_.shape != (int(self.encoders[modality].dim),):
                raise InvalidInputError(f"multimodal state: block {modality!r} has {whitener.mean_.size} dims, the encoder {self.encoders[modality].dim}")
            if saved.get("unused") is not None:
                # state written without it (before it was kept, or a dense block): texts map as they did
                whitener.support_ = _support_from_unused(saved["unused"], whitener.mean_.size, modality)
            self.whiteners[modality] = whitener

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}={e.name}" for m, e in self.encoders.items())
        return f"MultimodalEncoder({parts}, weights={self.weights_})"


def _support_from_unused(unused: Any, dim: int, modality: str) -> np.ndarray:
    """The support of a saved block: every dimension but the ``unused`` ones (checked: distinct, in range)."""
    try:
        positions = np.asarray(unused, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInputError(f"multimodal state: block {modality!r} has a malformed 'unused' list") from None
    if positions.size and (positions.min() < 0 or positions.max() >= dim or np.unique(positions).size != positions.size):
        raise InvalidInputError(f"multimodal state: block {modality!r} lists 'unused' dimensions outside [0, {dim}) or twice")
    support = np.ones(dim, dtype=bool)
    support[positions] = False
    return support


def _empty_vector_message(modality: str, path: str) -> str:
    """Why a media file that was read still gives the item nothing: its vector is all zeros."""
    name = os.path.basename(path)
    if modality == "audio":
        return f"{name!r} holds only silence: its audio vector is all zeros"
    return f"{name!r} gave an all-zero {modality} vector (nothing the encoder could describe)"


def media_error_lines(errors: Sequence[MediaError], limit: int = 20) -> list[str]:
    """Summary lines for a run: one per bad media file (at most ``limit``, then a count)."""
    lines = [str(e) for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more media error(s)")
    return lines


def _outside_root(path: str, root: str) -> str:
    """Why ``path`` (refused by :func:`coldkit.media.resolve_in_root`) is not read: outside ``root`` as
    written, or inside it as written with a symbolic link on the way that leads out ("is outside the
    media root" read as false for ``posters/mv1.jpg`` linked to a shared folder). The link's target is
    not named: a served request must not learn about files outside the root."""
    if "\x00" in path:  # refused for it, and it was blamed on a symbolic link that is not there
        return f"path {path!r} holds a NUL character, which no file name can"
    lexical = os.path.normpath(os.path.join(root, path))
    if os.path.commonpath([lexical, root]) == root:
        return (f"path {path!r} is inside the media root {root!r} as written, but a symbolic link on its way "
                "leads outside it: copy the file into the root (links out of it are not followed)")
    return f"path {path!r} is outside the media root {root!r}"
