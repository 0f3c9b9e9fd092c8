"""The coldkit entry point of coldkit-faiss. Must stay light: faiss is imported by the factories."""

from __future__ import annotations

from typing import Any

import coldkit


def make_flat(**options: Any) -> Any:
    """Build a :class:`coldkit_faiss.backends.FaissFlatBackend` (imports faiss)."""
    from coldkit_faiss.backends import FaissFlatBackend

    return FaissFlatBackend(**options)


def make_hnsw(**options: Any) -> Any:
    """Build a :class:`coldkit_faiss.backends.FaissHNSWBackend` (imports faiss)."""
    from coldkit_faiss.backends import FaissHNSWBackend

    return FaissHNSWBackend(**options)


# Kept equal to the backend classes' ``capabilities`` (a test checks it) so that listing the
# plugin never imports faiss.
FLAT_CAPABILITIES = frozenset({"cosine", "dot", "exclude", "exact", "index"})
HNSW_CAPABILITIES = frozenset({"cosine", "dot", "exclude", "approximate", "index"})


@coldkit.hookimpl
def coldkit_similarity_backends() -> list[coldkit.SimilarityBackendSpec]:
    return [
        coldkit.SimilarityBackendSpec(
            name="faiss-flat",
            description="faiss IndexFlatIP: exact inner-product scan (BLAS for batches); index cached per catalogue",
            factory=make_flat,
            capabilities=FLAT_CAPABILITIES,
        ),
        coldkit.SimilarityBackendSpec(
            name="faiss-hnsw",
            description="faiss IndexHNSWFlat: approximate graph search (options M, efConstruction, efSearch); "
            "index cached per catalogue",
            factory=make_hnsw,
            capabilities=HNSW_CAPABILITIES,
        ),
    ]
