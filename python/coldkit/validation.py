"""Argument checks shared by every layer, so the same bad value gets the same message everywhere.

``k`` (how many items to return) is checked here and nowhere else: ``coldkit.topk``, every model's
``recommend``, fusion, rerankers, metrics, the evaluation runner, batch files and sharded top-k all
call :func:`check_k`. Other counts that must be a positive integer (``epochs``, ``rank``, ``depth``,
``n_clients``, ``max_items``, ...) use it too, passing their own name, so they refuse the same values
with the same wording. On/off switches that a caller may pass from a config or a form
(``filter_seen``, ``exclude_known``) go through :func:`check_flag`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from coldkit.exceptions import InvalidInputError

__all__ = ["check_flag", "check_integer", "check_item_index", "check_k", "check_options", "check_seed"]


def check_k(k: object, what: str = "k", *, at_most: int | None = None) -> int:
    """``k`` as a Python ``int`` >= 1, else :class:`InvalidInputError` naming ``what``.

    Accepts Python and numpy integers (anything with ``__index__``); refuses booleans, floats
    (even ``2.0``: a silently truncated ``2.5`` would be a wrong answer) and values below 1.
    With ``at_most`` (e.g. the catalogue size), a larger ``k`` is capped to it (but not below 1),
    so that nothing is ever allocated for list positions no item can fill: ``k = 10**12`` on a
    300-item catalogue ranks 300 items.

    Example::

        >>> check_k(np.int64(3))
        3
        >>> check_k(10**12, at_most=300)
        300
        >>> check_k(0)
        Traceback (most recent call last):
        ...
        coldkit.exceptions.InvalidInputError: k must be >= 1, got 0
    """
    value = check_integer(k, what, name_type=True)
    if value < 1:
        raise InvalidInputError(f"{what} must be >= 1, got {value}")
    if at_most is not None:
        value = min(value, max(int(at_most), 1))
    return value


def check_integer(value: object, what: str, rule: str = "must be an integer", *, name_type: bool = False) -> int:
    """``value`` as a Python ``int`` (anything with ``__index__``: numpy ints too), else
    :class:`InvalidInputError` "``what`` ``rule``, got ...". Booleans are refused: ``True`` is no
    count, and ``int(1.5)`` would truncate a float without a word. Bounds are the caller's."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{what} {rule}, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        shown = f"{type(value).__name__} {value!r}" if name_type else repr(value)
        raise InvalidInputError(f"{what} {rule}, got {shown}") from None


def check_number(
    value: object, what: str, *, at_least: float | None = None, above: float | None = None, at_most: float | None = None
) -> float:
    """``value`` as a finite float (``>= at_least``, ``> above``, ``<= at_most``), else :class:`InvalidInputError` naming ``what``.

    Checked before any arithmetic: ``True`` is an ``int`` to Python and was read as 1 (``l2=True``),
    and a string from a config (``"3"``) reached ``np.isfinite``, whose ufunc error named no option.

    Example::

        >>> check_number(10, "l2", at_least=0)
        10.0
        >>> check_number(True, "l2")
        Traceback (most recent call last):
        ...
        coldkit.exceptions.InvalidInputError: l2 must be a number, got bool True
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range (10**400): Python's own error names no option
        raise InvalidInputError(f"{what} must be a finite number, got an integer of {len(str(value))} digits") from None
    if not np.isfinite(number):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}")
    if at_least is not None and number < at_least:
        raise InvalidInputError(f"{what} must be >= {at_least:g}, got {value!r}")
    if above is not None and number <= above:
        raise InvalidInputError(f"{what} must be > {above:g}, got {value!r}")
    if at_most is not None and number > at_most:
        raise InvalidInputError(f"{what} must be <= {at_most:g}, got {value!r}")
    return number


def check_flag(value: object, what: str) -> bool:
    """``value`` as a Python ``bool``, else :class:`InvalidInputError` naming ``what`` and the value.

    Accepts ``True``/``False`` and numpy booleans only: ``"no"`` or ``"false"`` are non-empty strings,
    so ``bool()`` would read them as True, and ``0``/``1`` are as likely a count as a switch — each
    would be a silently wrong answer.

    Example::

        >>> check_flag(np.bool_(False), "filter_seen")
        False
        >>> check_flag("no", "filter_seen")
        Traceback (most recent call last):
        ...
        coldkit.exceptions.InvalidInputError: filter_seen must be True or False, got 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def check_options(value: object, what: str) -> dict[str, Any]:
    """``value`` (None: no options) as a dict of option name -> value, else :class:`InvalidInputError`.

    Why: options that are themselves options (``warm_options``, ``encoder_options``, ``recommend_files``'
    ``options``) were unpacked with ``**`` or ``dict()``, and a list or a string failed inside with
    Python's own words ("argument after ** must be a mapping, not str", "dictionary update sequence
    element #0 has length 4"), naming neither the option nor what it takes.

    Example::

        >>> check_options({"l2": 300}, "warm_options")
        {'l2': 300}
        >>> check_options("l2=300", "warm_options")
        Traceback (most recent call last):
        ...
        coldkit.exceptions.InvalidInputError: warm_options must be a mapping of option name -> value (e.g. {'name': value}), got str 'l2=300'
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InvalidInputError(
            f"{what} must be a mapping of option name -> value (e.g. {{'name': value}}), got {type(value).__name__} {shown}"
        )
    return dict(value)


def check_item_index(item: object, n_items: int) -> int:
    """``item`` as a catalogue row index in ``[0, n_items)``, else :class:`InvalidInputError`.

    ``model.explain(query, item)`` takes the item's *index*. It used to run ``int(item)``, so an
    external id such as ``"42"`` silently explained the item at row 42, a float ``5.7`` explained
    row 5, and item-kNN answered "no liked item is similar" for ``-1`` or an index past the end;
    ``None`` or ``"abc"`` were bare ``TypeError``/``ValueError``.
    """
    if isinstance(item, str):
        raise InvalidInputError(
            f"item must be an item index (int), got the string {item!r}; for an item id use "
            f"train.catalog.index_of([{item!r}])[0]"
        )
    value = check_integer(item, "item", "must be an item index (int)", name_type=True)
    if not 0 <= value < n_items:
        raise InvalidInputError(f"item index {value} out of range [0, {n_items})")
    return value


def check_seed(seed: object, what: str = "seed") -> int:
    """``seed`` as a Python ``int`` >= 0, else :class:`InvalidInputError`.

    ``int(seed)`` truncated ``1.5`` to 1 without a word, and a negative seed failed later inside
    numpy's ``default_rng`` as a bare ``ValueError: expected non-negative integer``.
    """
    value = check_integer(seed, what, "must be an integer >= 0")
    if value < 0:
        raise InvalidInputError(f"{what} must be an integer >= 0, got {seed!r}")
    return value
