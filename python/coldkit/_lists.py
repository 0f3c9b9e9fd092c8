"""Per-row lists of indices as the core takes them: one flat int64 array and its offsets (CSR)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coldkit.exceptions import ComponentContractError


def as_csr(lists: Sequence[ArrayLike]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(indptr, indices)``: list ``i`` is ``indices[indptr[i]:indptr[i + 1]]``, both int64 (the core
    borrows the two buffers instead of a Python list of arrays)."""
    flat = [np.asarray(entries, dtype=np.int64).reshape(-1) for entries in lists]
    indptr = np.zeros(len(flat) + 1, dtype=np.int64)
    np.cumsum([entries.size for entries in flat], out=indptr[1:])
    indices = np.concatenate(flat) if flat else np.empty(0, dtype=np.int64)
    return indptr, indices


def list_problem(indices: ArrayLike, scores: ArrayLike) -> tuple[int, str] | None:
    """The first query whose ranked row breaks a list's rules, and which: an item twice, the padding (-1)
    before an item, or a score above the one before it (scores best first). None when every row keeps them.

    One check for every component that hands coldkit ranked rows (a model's ``_recommend``, a similarity
    backend, a fusion strategy): a plugin that broke these was written out as it came (worst first, an
    item at ranks 1 and 2) or lost its best item behind the padding. Vectorised, O(B * k log k).
    """
    idx = np.asarray(indices)
    val = np.asarray(scores, dtype=np.float64)
    if idx.ndim != 2 or idx.size == 0:
        return None
    listed = idx >= 0
    ordered = np.sort(np.where(listed, idx, -1), axis=1)
    repeated = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1)
    after_padding = (listed[:, 1:] & ~listed[:, :-1]).any(axis=1)
    rises = ((val[:, 1:] > val[:, :-1]) & listed[:, 1:] & listed[:, :-1]).any(axis=1)  # no subtraction: -inf pads
    for broken, what in ((repeated, "lists an item twice"), (after_padding, "has padding (-1) before an item"),
                         (rises, "is not best first (a score rises down the list)")):  # fmt: skip
        if broken.any():
            row = int(np.flatnonzero(broken)[0])
            return row, what
    return None


def require_lists(indices: ArrayLike, scores: ArrayLike, where: str, advice: str = "") -> None:
    """Raise :class:`ComponentContractError` naming ``where`` (the component, e.g. "similarity backend 'x'
    returned"), the first query whose row breaks :func:`list_problem`'s rules, how, and its items and scores."""
    broken = list_problem(indices, scores)
    if broken is None:
        return
    row, what = broken
    raise ComponentContractError(
        f"{where} query {row}'s list that {what}: items {np.asarray(indices)[row][:10].tolist()}, "
        f"scores {np.asarray(scores)[row][:10].tolist()}{advice}"
    )
