"""coldkit's plugin system: hook specifications, spec records and name -> component registries."""

from coldkit.plugins.hookspecs import hookimpl, hookspec
from coldkit.plugins.manager import (
    get_encoder,
    get_fusion,
    get_plugin_manager,
    get_reranker,
    get_similarity_backend,
    load_plugins,
    plugin_report,
    register_plugin,
    registry,
    reset_plugins,
    unregister_plugin,
)
from coldkit.plugins.types import (
    ComponentSpec,
    Encoder,
    EncoderSpec,
    FusionSpec,
    FusionStrategy,
    ImageEncoder,
    Ranked,
    RerankerSpec,
    SimilarityBackend,
    SimilarityBackendSpec,
)

__all__ = [
    "hookimpl",
    "hookspec",
    "get_encoder",
    "get_fusion",
    "get_similarity_backend",
    "get_plugin_manager",
    "get_reranker",
    "load_plugins",
    "plugin_report",
    "register_plugin",
    "registry",
    "reset_plugins",
    "unregister_plugin",
    "ComponentSpec",
    "Encoder",
    "EncoderSpec",
    "FusionSpec",
    "FusionStrategy",
    "ImageEncoder",
    "Ranked",
    "RerankerSpec",
    "SimilarityBackend",
    "SimilarityBackendSpec",
]
