"""The hooks a coldkit plugin can implement.

A plugin is a module (or any object) with functions decorated by ``coldkit.hookimpl``, exposed
through an entry point in the ``coldkit`` group::

    # pyproject.toml of your package
    [project.entry-points.coldkit]
    my_plugin = "my_package.plugin"

    # my_package/plugin.py
    from coldkit.plugins import EncoderSpec, hookimpl

    @hookimpl
    def coldkit_encoders():
        return [EncoderSpec(name="mine", description="...", factory=_make, capabilities={"text"})]

Every hook returns a list of spec records; coldkit gathers them from all plugins into one
registry per kind. Hooks must be cheap: build nothing heavy here, put that in ``factory``.
"""

from __future__ import annotations

from typing import Sequence

import pluggy

from coldkit.plugins.types import EncoderSpec, FusionSpec, ModelSpec, RerankerSpec, SimilarityBackendSpec

PROJECT_NAME = "coldkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "hookimpl",
    "coldkit_encoders",
    "coldkit_similarity_backends",
    "coldkit_fusion_strategies",
    "coldkit_rerankers",
    "coldkit_models",
]


@hookspec
def coldkit_encoders() -> Sequence[EncoderSpec]:
    """Return the encoders this plugin provides.

    Returns:
        A list of :class:`coldkit.EncoderSpec`. ``factory(**options)`` builds the encoder;
        ``capabilities`` names its modalities (``"text"``, ``"image"``).

    Example::

        @coldkit.hookimpl
        def coldkit_encoders():
            return [coldkit.EncoderSpec("bert", "BERT-family sentence encoder", _make_bert, {"text"})]
    """


@hookspec
def coldkit_similarity_backends() -> Sequence[SimilarityBackendSpec]:
    """Return the similarity backends this plugin provides.

    Returns:
        A list of :class:`coldkit.SimilarityBackendSpec`. ``factory()`` builds an object with a
        ``topk(queries, catalog, k, *, metric, normalized, exclude, threads)`` method (see
        :class:`coldkit.SimilarityBackend`).

    Example::

        @coldkit.hookimpl
        def coldkit_similarity_backends():
            return [coldkit.SimilarityBackendSpec("faiss", "FAISS IndexFlatIP", FaissBackend, {"cosine", "dot"})]
    """


@hookspec
def coldkit_fusion_strategies() -> Sequence[FusionSpec]:
    """Return the fusion strategies this plugin provides.

    Returns:
        A list of :class:`coldkit.FusionSpec`. ``factory(**options)`` builds an object with a
        ``fuse(sources, k, weights=None)`` method (see :class:`coldkit.FusionStrategy`).

    Example::

        @coldkit.hookimpl
        def coldkit_fusion_strategies():
            return [coldkit.FusionSpec("max", "Max of normalised scores", MaxFusion)]
    """


@hookspec
def coldkit_rerankers() -> Sequence[RerankerSpec]:
    """Return the rerankers this plugin provides.

    Returns:
        A list of :class:`coldkit.RerankerSpec`. ``factory(**options)`` builds an object with a
        ``rerank(ranked, k, constraints=None, items=None) -> Reranked`` method (see
        :mod:`coldkit.rerank`).

    Example::

        @coldkit.hookimpl
        def coldkit_rerankers():
            return [coldkit.RerankerSpec("fresh-first", "Newest items first", FreshFirst)]
    """


@hookspec
def coldkit_models() -> Sequence[ModelSpec]:
    """Return the recommenders this plugin provides.

    Returns:
        A list of :class:`coldkit.ModelSpec`. ``factory(**options)`` builds an unfitted
        :class:`coldkit.models.Recommender` (``fit(train)``, ``recommend(queries, k, ...)``);
        ``coldkit.get_model(name, **options)``, ``coldkit recommend --model NAME`` and
        ``coldkit evaluate --models NAME`` all build it through this hook.

    Example::

        @coldkit.hookimpl
        def coldkit_models():
            return [coldkit.ModelSpec("most-recent", "Newest items first", MostRecent, {"cold-items"})]
    """
