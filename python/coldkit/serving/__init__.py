"""Serving: a persistent, online-updatable index of the hybrid recommender, and its HTTP service.

Example::

    import coldkit
    from coldkit.serving import ServingIndex, save, load, create_app

    data = coldkit.load_dataset("ml-latest-small")
    index = ServingIndex.build(data.interactions, encoder="hashing")
    save(index, "my-index")                     # atomic snapshot; later writes are logged there
    index.close()                               # release the writer lock (one writer per index)
    index = load("my-index")                    # memory-mapped, log replayed
    index.upsert_items([{"id": "new-1", "text": "A heist comedy in Rome", "categories": ["Comedy"]}])
    index.recommend(text="funny heist", k=5).items
    app = create_app(index)                     # a FastAPI app; or: coldkit serve my-index

See ``docs/serving.md`` for the file format, the durability and concurrency guarantees and the
HTTP API.
"""

from __future__ import annotations

from typing import Any

from coldkit.serving.errors import (
    EncoderMismatchError,
    IndexFormatError,
    IndexStorageError,
    IndexVersionError,
    ReadOnlyIndexError,
    UnknownIdError,
)
from coldkit.serving.index import MAX_K, FusionConfig, Recommendation, RecommendedItem, ServingIndex
from coldkit.serving.reads import IndexReader
from coldkit.serving.storage import FORMAT_VERSION, load, save
from coldkit.serving.writes import IndexWriter

__all__ = [
    "ServingIndex",
    "IndexReader",
    "IndexWriter",
    "FusionConfig",
    "Recommendation",
    "RecommendedItem",
    "save",
    "load",
    "create_app",
    "build_index_from_files",
    "MAX_K",
    "FORMAT_VERSION",
    "IndexFormatError",
    "IndexVersionError",
    "EncoderMismatchError",
    "IndexStorageError",
    "UnknownIdError",
    "ReadOnlyIndexError",
]


def create_app(index_or_path: Any, **options: Any) -> Any:
    """The FastAPI app serving an index (or the path of a saved one); see :func:`coldkit.serving.app.create_app`."""
    from coldkit.serving.app import create_app as _create_app  # fastapi is an optional dependency

    return _create_app(index_or_path, **options)


def build_index_from_files(*args: Any, **kwargs: Any) -> ServingIndex:
    """Build an index from interaction and item files; see :func:`coldkit.serving.build.build_index_from_files`."""
    from coldkit.serving.build import build_index_from_files as _build

    return _build(*args, **kwargs)
