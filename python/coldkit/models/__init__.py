"""coldkit's recommenders, built by name.

Example::

    import coldkit.models
    from coldkit.data import UserQuery, load_dataset

    data = load_dataset("ml-latest-small")
    model = coldkit.models.create("hybrid").fit(data.interactions)
    ranked = model.recommend([UserQuery(user=0), UserQuery(text="animated family comedy")], k=10)

``available()`` lists the names; every model takes its options as keyword arguments.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from coldkit.exceptions import InvalidInputError, UnknownComponentError
from coldkit.models.base import NotFittedError, Recommender

__all__ = ["Recommender", "NotFittedError", "ModelOptionError", "create", "available", "describe"]


class ModelOptionError(InvalidInputError, TypeError):
    """A model got an option it does not take, or lacks a required one.

    A user error (``coldkit recommend --option``/``evaluate --models`` print it as one line, not a
    traceback), and still a ``TypeError`` for callers that catch what ``create`` used to raise.
    """

# name -> ("module:Class", one-line description). Modules import lazily: torch only loads for cold-mlp.
_MODELS: dict[str, tuple[str, str]] = {
    "popularity": ("coldkit.models.popularity:Popularity", "most-interacted items first"),
    "popularity-recent": ("coldkit.models.popularity:RecentPopularity", "popularity with exponentially decayed interactions"),
    "popularity-genre": ("coldkit.models.popularity:GenrePopularity", "popularity within the user's genres"),
    "random": ("coldkit.models.popularity:RandomRecommender", "uniformly random, seeded"),
    "item-knn": ("coldkit.models.neighbors:ItemKNN", "item-based kNN CF (cosine/Pearson, shrinkage)"),
    "user-knn": ("coldkit.models.neighbors:UserKNN", "user-based kNN CF (cosine/Pearson, shrinkage)"),
    "ease": ("coldkit.models.neighbors:EASE", "EASE closed-form item-item linear model"),
    "content": ("coldkit.models.content:ContentRecommender", "content matching with any encoder, centred/whitened"),
    "cold-ridge": ("coldkit.models.cold:ColdRidge", "closed-form ridge map content -> CF item vectors for new items"),
    "cold-knn": ("coldkit.models.cold:ColdKNN", "content kNN map: a new item borrows the CF vectors of similar warm items"),
    "bilinear": ("coldkit.models.cold:ContentBilinear", "content model trained on interactions (closed-form bilinear ridge)"),
    "cold-mlp": ("coldkit.models.cold:ColdMLP", "torch MLP map content -> CF item vectors (MSE or BPR), needs torch"),
    "hybrid": ("coldkit.models.hybrid:Hybrid", "recommended default: EASE + cold adapter + content + popularity, adaptive fusion"),
    "router": ("coldkit.models.hybrid:Router", "known user -> hybrid, text/few clicks -> content+popularity, else popularity"),
    "profile-knn": ("coldkit.models.hybrid:ProfileKNN", "user-based kNN on profile texts (needs user_profiles)"),
}


def _register(name: str, target: str, description: str) -> None:
    _MODELS[name] = (target, description)


def available() -> list[str]:
    """The names :func:`create` accepts, sorted."""
    return sorted(_MODELS)


def describe() -> dict[str, str]:
    """Name -> one-line description of every model."""
    return {name: _MODELS[name][1] for name in available()}


def _resolve(name: str) -> Callable[..., Recommender]:
    if not isinstance(name, str) or name not in _MODELS:
        raise UnknownComponentError(f"unknown model {name!r}; available: {', '.join(available())}")
    module_name, class_name = _MODELS[name][0].split(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def create(name: str, **options: Any) -> Recommender:
    """Build the model registered as ``name`` with keyword ``options`` (unfitted).

    Raises:
        UnknownComponentError: ``name`` is not a model (the message lists the valid names).
        InvalidInputError: an option has a bad value.
        ModelOptionError: an option the model does not take, or a required one missing (an
            ``InvalidInputError`` and a ``TypeError``).
    """
    factory = _resolve(name)
    try:
        return factory(**options)
    except TypeError as exc:
        message = str(exc)
        if "unexpected keyword" in message or "required" in message and "argument" in message:
            raise ModelOptionError(f"model {name!r}: {exc}") from exc
        raise
