"""Id values read from a typed file (Parquet) before they become text: bytes decoded, nested values refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from coldkit.exceptions import InvalidInputError

#: What :func:`pandas.api.types.infer_dtype` calls a column of plain scalars (nothing to look at row by row).
_SCALAR_KINDS = frozenset({
    "empty", "string", "integer", "floating", "mixed-integer-float", "decimal", "boolean", "datetime64",
    "datetime", "date", "timedelta64", "timedelta", "time", "period",
})  # fmt: skip


def scalar_ids(values: Any, where: str) -> np.ndarray:
    """``values`` as an object array of scalar ids: a ``bytes`` id decoded as UTF-8 text (a Parquet binary
    column of ``b"i1"`` is the id ``"i1"``, not ``"b'i1'"``), missing values left missing.

    ``where`` names the column for a message (``"items.parquet: column 'item_id'"``).

    Raises:
        InvalidInputError: a value is a list, array, struct (dict) or set — a nested column is no id column,
            and its text (``"[1 2]"``, ``"{'a': 1.0}"``) would be written back as if it were one; or a bytes
            value is not UTF-8. The message names the first such row (its position, from 0).
    """
    array = np.asarray(values, dtype=object)  # no copy when it already is one
    if pd.api.types.infer_dtype(array, skipna=True) in _SCALAR_KINDS:
        return array
    out = array.copy()
    for row, value in enumerate(array):
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                out[row] = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"{where}: row {row} (from 0) holds bytes that are not UTF-8 text ({bytes(value)[:20]!r}); "
                    "ids must be text or numbers"
                ) from None
        elif isinstance(value, (list, tuple, dict, set, np.ndarray)):
            kind = "a struct" if isinstance(value, dict) else "a list"
            raise InvalidInputError(
                f"{where}: row {row} (from 0) holds {kind} ({str(value)[:40]}), not one id; "
                "an id column holds one text or number per row"
            )
    return out
