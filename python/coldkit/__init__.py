"""coldkit: cold-start recommendations with language models on a Rust similarity core.

The public API lives here; everything listed in ``__all__`` is stable.

Example::

    import coldkit
    encoder = coldkit.get_encoder("hashing")
    items = encoder.encode_texts(["item1 is a basketball game.", "item3 is a movie about basketball."])
    user = encoder.encode_texts(["user1 likes basketball and music."])
    scores, indices = coldkit.topk(user, items, k=2)
"""

from __future__ import annotations

from coldkit._core import __version__, build_info
from coldkit.encoding import VectorCache, default_cache_dir, encode_catalog
from coldkit.exceptions import (
    ColdkitError,
    DuplicateComponentError,
    InvalidInputError,
    PluginLoadWarning,
    UnknownComponentError,
)
from coldkit.plugins import (
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
    get_encoder,
    get_fusion,
    get_reranker,
    get_similarity_backend,
    hookimpl,
    plugin_report,
    register_plugin,
    unregister_plugin,
)
from coldkit.rerank import Constraints, ItemAttributes, Reranked, Reranker
from coldkit.similarity import cosine_matrix, normalize, simd_capabilities, topk

__all__ = [
    "__version__",
    "build_info",
    # similarity
    "topk",
    "cosine_matrix",
    "normalize",
    "simd_capabilities",
    # encoding
    "encode_catalog",
    "VectorCache",
    "default_cache_dir",
    # plugins
    "hookimpl",
    "get_encoder",
    "get_similarity_backend",
    "get_fusion",
    "get_reranker",
    "register_plugin",
    "unregister_plugin",
    "plugin_report",
    "ComponentSpec",
    "EncoderSpec",
    "SimilarityBackendSpec",
    "FusionSpec",
    "RerankerSpec",
    "Encoder",
    "ImageEncoder",
    "SimilarityBackend",
    "FusionStrategy",
    "Ranked",
    # re-ranking
    "Constraints",
    "ItemAttributes",
    "Reranked",
    "Reranker",
    # errors
    "ColdkitError",
    "InvalidInputError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginLoadWarning",
]
