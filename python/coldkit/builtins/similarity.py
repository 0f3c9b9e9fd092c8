"""Built-in similarity backends: ``rust`` (the compiled core, default) and ``numpy`` (reference)."""

from __future__ import annotations

from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.types import SimilarityBackendSpec

# RustBackend and NumpyBackend are implemented below (owned by the similarity-core work).


@hookimpl
def coldkit_similarity_backends() -> list[SimilarityBackendSpec]:
    caps = {"cosine", "dot", "pearson", "exclude", "exact"}
    return [
        SimilarityBackendSpec(
            name="rust",
            description="coldkit's Rust core: SIMD kernels, fused exact top-k scan, rayon threads",
            factory=lambda **options: RustBackend(**options),
            capabilities=caps | {"threads"},
        ),
        SimilarityBackendSpec(
            name="numpy",
            description="NumPy reference: matmul + argpartition, same semantics as 'rust'",
            factory=lambda **options: NumpyBackend(**options),
            capabilities=caps,
        ),
    ]
