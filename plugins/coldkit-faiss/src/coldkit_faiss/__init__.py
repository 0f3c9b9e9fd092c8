"""faiss similarity backends for coldkit: ``faiss-flat`` (exact) and ``faiss-hnsw`` (approximate).

Installed, they are ordinary coldkit backends::

    coldkit.topk(queries, catalog, k=10, backend="faiss-flat")
    coldkit.topk(queries, catalog, k=10, backend=coldkit.get_similarity_backend("faiss-hnsw", efSearch=128))

Importing this package does not import faiss; the backend classes live in
:mod:`coldkit_faiss.backends` (which does).
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
