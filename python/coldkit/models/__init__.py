"""coldkit's recommenders, built by name.

Example::

    import coldkit.models
    from coldkit.data import UserQuery, load_dataset

    data = load_dataset("ml-latest-small")
    model = coldkit.models.create("hybrid").fit(data.interactions)
    ranked = model.recommend([UserQuery(user=0), UserQuery(text="animated family comedy")], k=10)

``available()`` lists the names; every model takes its options as keyword arguments. A model of
your own subclasses :class:`Recommender` and ranks with :func:`rank_vectors` (see ``docs/plugins.md``).
"""

from __future__ import annotations

from typing import Any

from coldkit.models._ranking import rank_vectors
from coldkit.models.base import NotFittedError, Recommender
from coldkit.models.registry import ModelOptionError, build_model, model_descriptions, model_names

__all__ = ["Recommender", "NotFittedError", "ModelOptionError", "create", "available", "describe", "rank_vectors"]


def available() -> list[str]:
    """The names :func:`create` accepts (built-in and plugin models), sorted."""
    return model_names()


def describe() -> dict[str, str]:
    """Name -> one-line description of every model."""
    return model_descriptions()


def create(name: str, **options: Any) -> Recommender:
    """Build the model registered as ``name`` with keyword ``options`` (unfitted); same as ``coldkit.get_model``.

    Raises:
        UnknownComponentError: ``name`` is not a model (the message lists the valid names).
        InvalidInputError: an option has a bad value.
        ModelOptionError: an option the model does not take, or a required one missing (an
            ``InvalidInputError`` and a ``TypeError``).
    """
    return build_model(name, **options)
