"""Per-row lists of indices as the core takes them: one flat int64 array and its offsets (CSR)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_csr(lists: Sequence[ArrayLike]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(indptr, indices)``: list ``i`` is ``indices[indptr[i]:indptr[i + 1]]``, both int64 (the core
    borrows the two buffers instead of a Python list of arrays)."""
    flat = [np.asarray(entries, dtype=np.int64).reshape(-1) for entries in lists]
    indptr = np.zeros(len(flat) + 1, dtype=np.int64)
    np.cumsum([entries.size for entries in flat], out=indptr[1:])
    indices = np.concatenate(flat) if flat else np.empty(0, dtype=np.int64)
    return indptr, indices
