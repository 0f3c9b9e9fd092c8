"""Argument checks shared by every layer, so the same bad value gets the same message everywhere.

``k`` (how many items to return) is checked here and nowhere else: ``coldkit.topk``, every model's
``recommend``, fusion, rerankers, metrics, the evaluation runner, batch files and sharded top-k all
call :func:`check_k`.
"""

from __future__ import annotations

import operator

import numpy as np

from coldkit.exceptions import InvalidInputError

__all__ = ["check_k"]


def check_k(k: object, what: str = "k") -> int:
    """``k`` as a Python ``int`` >= 1, else :class:`InvalidInputError` naming ``what``.

    Accepts Python and numpy integers (anything with ``__index__``); refuses booleans, floats
    (even ``2.0``: a silently truncated ``2.5`` would be a wrong answer) and values below 1.

    Example::

        >>> check_k(np.int64(3))
        3
        >>> check_k(0)
        Traceback (most recent call last):
        ...
        coldkit.exceptions.InvalidInputError: k must be >= 1, got 0
    """
    if isinstance(k, (bool, np.bool_)):
        raise InvalidInputError(f"{what} must be an integer, got {k!r}")
    try:
        value = operator.index(k)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidInputError(f"{what} must be an integer, got {type(k).__name__} {k!r}") from None
    if value < 1:
        raise InvalidInputError(f"{what} must be >= 1, got {value}")
    return value
