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

from typing import TYPE_CHECKING

from coldkit._core import __version__, build_info
from coldkit.encoding import VectorCache, default_cache_dir, encode_catalog
from coldkit.exceptions import (
    ColdkitError,
    ColdkitWarning,
    ComponentContractError,
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
    ModelSpec,
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

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from coldkit import models
    from coldkit.data import Catalog, Dataset, Interactions, UserQuery, load_dataset
    from coldkit.batch import recommend_files
    from coldkit.models.registry import build_model as get_model
    from coldkit.evaluation import EvaluationResult, evaluate
    from coldkit.quantized import QuantizedIndex
    from coldkit.serving import ServingIndex, load, save

# Data, models, evaluation and serving pull in pandas/scipy: import them on first use so that
# `import coldkit` (and `coldkit plugins`) stays light. name -> (module, attribute).
_LAZY: dict[str, tuple[str, str]] = {
    "load_dataset": ("coldkit.data", "load_dataset"),
    "Dataset": ("coldkit.data", "Dataset"),
    "Catalog": ("coldkit.data", "Catalog"),
    "Interactions": ("coldkit.data", "Interactions"),
    "UserQuery": ("coldkit.data", "UserQuery"),
    "evaluate": ("coldkit.evaluation", "evaluate"),
    "EvaluationResult": ("coldkit.evaluation", "EvaluationResult"),
    "recommend_files": ("coldkit.batch", "recommend_files"),
    "get_model": ("coldkit.models.registry", "build_model"),  # models sit above the plugin host
    "save": ("coldkit.serving", "save"),
    "load": ("coldkit.serving", "load"),
    "ServingIndex": ("coldkit.serving", "ServingIndex"),
    "QuantizedIndex": ("coldkit.quantized", "QuantizedIndex"),
    "models": ("coldkit.models", ""),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'coldkit' has no attribute {name!r}")
    import importlib

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "build_info",
    # similarity
    "topk",
    "cosine_matrix",
    "normalize",
    "simd_capabilities",
    # data, models, evaluation, serving (imported on first use)
    "load_dataset",
    "Dataset",
    "Catalog",
    "Interactions",
    "UserQuery",
    "models",
    "evaluate",
    "EvaluationResult",
    "recommend_files",
    "save",
    "load",
    "ServingIndex",
    "QuantizedIndex",
    # encoding
    "encode_catalog",
    "VectorCache",
    "default_cache_dir",
    # plugins
    "hookimpl",
    "get_encoder",
    "get_similarity_backend",
    "get_fusion",
    "get_model",
    "get_reranker",
    "register_plugin",
    "unregister_plugin",
    "plugin_report",
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
    "ComponentContractError",
    "ColdkitWarning",
    "PluginLoadWarning",
]
