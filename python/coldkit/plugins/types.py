"""Typed records that plugins hand to coldkit, and the interfaces the components implement.

A plugin never returns a ready-made component from a hook: it returns a frozen *spec* whose
``factory`` builds the component on demand. That keeps ``coldkit plugins`` (and every registry
lookup) cheap: listing the BERT encoder must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Mapping, Protocol, Sequence, Union, runtime_checkable

if TYPE_CHECKING:  # numpy is a hard dependency, but keep this module import-light for plugin authors
    import numpy as np

__all__ = [
    "ComponentSpec",
    "EncoderSpec",
    "SimilarityBackendSpec",
    "FusionSpec",
    "RerankerSpec",
    "ModelSpec",
    "Encoder",
    "ImageEncoder",
    "SimilarityBackend",
    "FusionStrategy",
    "Ranked",
]


_NAME_FORBIDDEN = frozenset(":,=[]\"'")


@dataclass(frozen=True)
class ComponentSpec:
    """What every registered component declares.

    Attributes:
        name: the name users type (``coldkit.get_encoder("bert")``); unique per kind.
        description: one line shown by ``coldkit plugins``.
        factory: builds the component; called with the user's keyword options. Import heavy
            dependencies *inside* the factory, never at module import time.
        capabilities: free-form tags a caller may filter on (``"text"``, ``"image"``,
            ``"exclude"``, ``"threads"``...).
        plugin: the plugin that registered the spec; filled in by the registry.
    """

    name: str
    description: str
    factory: Callable[..., Any]
    capabilities: AbstractSet[str] = field(default_factory=frozenset)  # stored as a frozenset
    plugin: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"{type(self).__name__}.name must be a non-empty string, got {self.name!r}")
        # Users type the name on the command line: `--models NAME:KEY=VALUE,...`, `NAME[...]` labels,
        # space-separated lists and flags. A name with one of these could be registered but never chosen.
        bad = sorted({c for c in self.name if c.isspace() or c in _NAME_FORBIDDEN})
        if bad or self.name.startswith("-"):
            raise TypeError(
                f"{type(self).__name__} name {self.name!r} cannot be typed on the command line: "
                f"{'it starts with -' if not bad else 'it holds ' + ', '.join(repr(c) for c in bad)}; "
                "use letters, digits, '-', '_' or '.'"
            )
        if not callable(self.factory):
            raise TypeError(f"{type(self).__name__} {self.name!r}: factory must be callable, got {self.factory!r}")
        # Accept any iterable of tags for convenience, store it immutably. Not a bare string:
        # capabilities="text" became {"t", "e", "x"}, and the component silently lost the capability.
        if isinstance(self.capabilities, (str, bytes)):
            raise TypeError(
                f"{type(self).__name__} {self.name!r}: capabilities must be a set of tags, got the string "
                f"{self.capabilities!r}; write {{{self.capabilities!r}}}"
            )
        try:
            tags = frozenset(self.capabilities)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__} {self.name!r}: capabilities must be a set of tags, got {self.capabilities!r}"
            ) from None
        if not all(isinstance(tag, str) for tag in tags):
            raise TypeError(f"{type(self).__name__} {self.name!r}: capabilities must be strings, got {sorted(map(repr, tags))}")
        object.__setattr__(self, "capabilities", tags)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``coldkit plugins``)."""
        return {
            "name": self.name,
            "description": self.description,
            "capabilities": sorted(self.capabilities),
            "plugin": self.plugin,
        }


@dataclass(frozen=True)
class EncoderSpec(ComponentSpec):
    """An encoder: turns item/user content (text, images) into L2-normalised float32 vectors.

    ``capabilities`` names the modalities it accepts: ``{"text"}``, ``{"text", "image"}``.
    """


@dataclass(frozen=True)
class SimilarityBackendSpec(ComponentSpec):
    """A similarity backend: exact (or documented approximate) top-k over a catalogue.

    Capabilities used by coldkit: ``"cosine"``, ``"dot"``, ``"pearson"`` (metrics it supports;
    ``coldkit.topk`` refuses the others), ``"exclude"`` (per-query exclusions inside the scan;
    without it ``coldkit.topk`` over-fetches and filters), ``"threads"`` (honours ``threads=``),
    ``"exact"`` (returns the true top-k), ``"approximate"`` (may miss some of it; report recall),
    ``"index"`` (builds an index per catalogue and caches it).
    """


@dataclass(frozen=True)
class FusionSpec(ComponentSpec):
    """A fusion strategy: merges several scored candidate lists into one ranking."""


@dataclass(frozen=True)
class RerankerSpec(ComponentSpec):
    """A reranker: picks the k items to show from scored candidates under constraints.

    See :mod:`coldkit.rerank` for the contract (``Constraints``, ``ItemAttributes``, ``Reranked``).
    """


@dataclass(frozen=True)
class ModelSpec(ComponentSpec):
    """A recommender: ``factory(**options)`` builds an unfitted :class:`coldkit.models.Recommender`.

    Capabilities used by coldkit: ``"cold-items"`` (ranks items without interactions),
    ``"cold-users"`` (ranks for a new user's clicks or text), ``"text"`` (uses item text, so it
    takes ``encoder=``), ``"torch"`` (needs torch).
    """


# --------------------------------------------------------------------------------------------
# Component interfaces. Structural (Protocol) so plugins need not inherit from coldkit classes.
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Encoder(Protocol):
    """Turns content into vectors of one space; see ``coldkit.encoding`` for the full contract."""

    name: str
    dim: int
    modalities: frozenset[str]

    @property
    def fingerprint(self) -> str:
        """Stable id of (model files + options); equal fingerprints give equal vectors."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> "np.ndarray":
        """Encode texts to a C-contiguous float32 array of shape (len(texts), dim), rows L2-normalised."""
        ...


@runtime_checkable
class ImageEncoder(Encoder, Protocol):
    """An encoder that also embeds images into the same space as its texts (e.g. CLIP)."""

    def encode_images(self, images: Sequence[Any]) -> "np.ndarray":
        """Encode image paths or PIL images to float32 (len(images), dim), rows L2-normalised."""
        ...


@runtime_checkable
class SimilarityBackend(Protocol):
    """Exact top-k search; called by ``coldkit.topk`` with already validated arguments."""

    name: str

    def topk(
        self,
        queries: "np.ndarray",
        catalog: "np.ndarray",
        k: int,
        *,
        metric: str,
        normalized: bool,
        exclude: "Sequence[np.ndarray] | None",
        threads: int | None,
    ) -> "tuple[np.ndarray, np.ndarray]":
        """Return ``(scores float32 (B, k'), indices int64 (B, k'))`` best first, ties by lower index.

        Arguments arrive validated: ``queries`` (B, d) and ``catalog`` (N, d) C-contiguous float32
        without NaN/inf; ``1 <= k``; ``k' = min(k, N)``; ``exclude`` is None or B int64 arrays of
        in-range indices (always None for a backend without the ``"exclude"`` capability).
        When exclusions leave a row with fewer than ``k'`` items, the row is padded with score
        ``-inf`` and index ``-1``.
        """
        ...


@dataclass(frozen=True)
class Ranked:
    """Scored candidate lists for a batch of B queries (one row per query).

    ``indices`` int64 (B, m) and ``scores`` float32 (B, m), best first within each row; ``-1``
    marks padding (its score is ``-inf``). Indices refer to one shared item index space.
    """

    indices: "np.ndarray"
    scores: "np.ndarray"

    def __post_init__(self) -> None:
        if not (hasattr(self.indices, "shape") and hasattr(self.scores, "shape")):
            # plain lists failed as "'list' object has no attribute 'shape'" wherever they were first read
            from coldkit.exceptions import InvalidInputError

            raise InvalidInputError(
                f"Ranked takes numpy arrays (indices int64, scores float32), got {type(self.indices).__name__} and "
                f"{type(self.scores).__name__}: wrap them in np.asarray"
            )
        if self.indices.shape != self.scores.shape or self.indices.ndim != 2:
            raise ValueError(
                f"Ranked needs indices and scores of one 2-D shape, got {self.indices.shape} and {self.scores.shape}"
            )


WeightLike = Union[float, "np.ndarray"]


@runtime_checkable
class FusionStrategy(Protocol):
    """Merges per-source rankings into one."""

    name: str

    def fuse(self, sources: Mapping[str, Ranked], k: int, weights: Mapping[str, WeightLike] | None = None) -> Ranked:
        """Fuse ``sources`` (name -> Ranked, same B) into the top ``k`` per row.

        ``weights`` maps a source name to a float or to a (B,) array of per-query weights
        (so an adaptive blend can trust content more for a user with few interactions).
        Missing names weigh 1.0. A source weighted 0 for a query proposes nothing to it: an item only
        such sources list is not listed (``coldkit.testing.check_fusion`` checks it).

        A strategy may also define ``contributions(sources, weights, items)`` returning, per source, a
        (B, m) array of what that source added to the fused score of ``items[b, j]``; the "why" of an
        item (``Hybrid.explain``, the server's ``why``) asks it, and measures a strategy without it by
        leaving each source out (:func:`coldkit.models.blend.source_parts`).
        """
        ...


def lazy_factory(target: str) -> Callable[..., Any]:
    """A spec's ``factory`` that imports ``"package.module:Class"`` only when a component is built.

    Plugins keep ``import coldkit`` and ``coldkit plugins`` fast by importing their heavy modules lazily;
    a hand-written ``def factory(**options): from my_pkg.model import MyModel; return MyModel(**options)``
    does that, but hides the class: coldkit reads a model's options from its factory (``--encoder``
    given to every model that takes an encoder, defaults in ``--help``, option hints, the conformance
    kit's encoder swap), and a bare ``**options`` says nothing. This factory carries a ``load()`` that
    returns the class, which coldkit follows (as it does for its own models).

    Example::

        ModelSpec(name="text-match", description="...", factory=coldkit.plugins.lazy_factory("my_pkg.model:TextMatch"))
    """
    if not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":")):
        from coldkit.exceptions import InvalidInputError

        raise InvalidInputError(f"lazy_factory takes 'package.module:Class', got {target!r}")
    module_name, class_name = target.split(":")

    def load() -> Any:
        import importlib

        return getattr(importlib.import_module(module_name), class_name)

    def factory(**options: Any) -> Any:
        return load()(**options)

    factory.load = load  # type: ignore[attr-defined]
    factory.__qualname__ = factory.__name__ = class_name
    factory.__doc__ = f"Build :class:`{module_name}.{class_name}` with ``options``."
    return factory
