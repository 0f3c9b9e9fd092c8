"""Private mode for any entry point: which model a ``--dp-epsilon`` request runs, and what it spent.

:func:`private_model` maps a model name to its private counterpart (``hybrid`` → ``dp-hybrid``,
``popularity`` → ``dp-popularity``...); a model that takes ``dp_epsilon`` itself (a registered
``dp-*`` model, or a plugin's such as ``federated``) keeps its name. :func:`privacy_of` reads the
privacy a fitted model spent, for results files and summaries (None for a non-private model).

Example::

    from coldkit.privacy.modes import private_model

    private_model("hybrid")      # 'dp-hybrid'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coldkit.exceptions import InvalidInputError

__all__ = ["PRIVATE_COUNTERPARTS", "private_model", "privacy_of", "check_public_content"]

#: model name -> the registered model that learns the same thing under user-level DP
PRIVATE_COUNTERPARTS = {
    "hybrid": "dp-hybrid",
    "popularity": "dp-popularity",
    "item-knn": "dp-item-knn",
    "ease": "dp-ease",
    # content kNN reads nothing across users but the counts that order a no-click user's list: DP counts there
    "content": "own-content",
    # the published torch adapters: DP teacher + user-level DP-SGD (coldkit.privacy.adapters)
    "dropoutnet": "dp-dropoutnet",
    "heater": "dp-heater",
    "clcrec": "dp-clcrec",
    "aldi": "dp-aldi",
}


def private_model(name: str) -> str:
    """The model to run for ``name`` in private mode; InvalidInputError if it has none."""
    from coldkit.models.registry import model_accepts

    if name in PRIVATE_COUNTERPARTS:
        return PRIVATE_COUNTERPARTS[name]
    if model_accepts(name, "dp_epsilon"):
        return name
    raise InvalidInputError(
        f"model {name!r} has no private mode (--dp-epsilon); choose one of "
        f"{sorted(set(PRIVATE_COUNTERPARTS) | set(PRIVATE_COUNTERPARTS.values()))} or a model taking dp_epsilon"
    )


def privacy_of(model: Any) -> dict[str, Any] | None:
    """``{"epsilon", "delta", ...}`` a fitted model spent (``epsilon`` None = no noise), or None if it is not private."""
    report = getattr(model, "privacy_report", None)
    if callable(report):
        return dict(report())
    spent = getattr(model, "privacy_spent", None)
    if callable(spent):
        eps, delta = spent()
        return {"epsilon": float(eps) if math.isfinite(eps) else None, "delta": float(delta)}
    return None


def check_public_content(content: Any, model: str) -> None:
    """Refuse a content model whose encoders learn from the training interactions (InvalidInputError).

    A private model treats item content as public and everything learned from clicks as private: an
    encoder that reads the clicks while it is fitted (``reads_interactions``, e.g. the multimodal encoder
    choosing its modality weights on pseudo-cold training items) would put what it learned into every
    recommendation without noise or accounting. An encoder with ``encode_training(train)`` is handed the
    interactions, so unless it declares ``reads_interactions = False`` (it reads the item table only) it is
    refused too: a plugin's encoder cannot be assumed to leave the clicks alone.
    """
    for encoder in getattr(content, "encoders", ()) or ():
        name = getattr(encoder, "name", type(encoder).__name__)
        declared = getattr(encoder, "reads_interactions", None)
        # anything but a false value reads the clicks: a plugin's ``reads_interactions = 1`` (or numpy's True)
        # passed an ``is True`` test, and one that has encode_training but says nothing is refused below
        if declared is not None and _declares_reading(declared, model, name):
            hint = (
                " (weights='auto' chooses the modality weights on the users' clicks); fix the weights: weights='equal' or "
                "a mapping, on the command line --modality-weights equal or '{\"text\": 0.5, \"image\": 0.5}'"
                if hasattr(encoder, "weights_option") else ""
            )
            raise InvalidInputError(
                f"{model}: encoder {name!r} learns from the training interactions while it is fitted{hint}, which a "
                "private model cannot account for"
            )
        if declared is None and callable(getattr(encoder, "encode_training", None)):
            raise InvalidInputError(
                f"{model}: encoder {name!r} is given the training interactions (it has encode_training(train)) and does not "
                "say whether it learns from the clicks, which a private model cannot account for; an encoder that reads "
                "only the item table declares reads_interactions = False"
            )


def _declares_reading(declared: Any, model: str, name: str) -> bool:
    """``reads_interactions`` as a bool; a value that is not one (a string, an array) is an error, not a guess."""
    if isinstance(declared, (bool, np.bool_)) or (isinstance(declared, (int, np.integer)) and declared in (0, 1)):
        return bool(declared)
    raise InvalidInputError(f"{model}: encoder {name!r} declares reads_interactions = {declared!r}; it must be True or False")
