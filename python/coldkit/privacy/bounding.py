"""Per-user contribution bounding: the step that gives every DP statistic a known sensitivity.

User-level DP protects *everything* one user contributed. A statistic's noise is calibrated to how
much one user can move it, so each user's contribution is bounded first:

* :func:`bound_contributions` keeps at most ``max_items`` interactions per user (binarised), chosen
  uniformly at random without replacement — reproducibly: the same ``seed`` keeps the same items;
* :func:`clip_rows` scales each user's row to L2 norm at most ``clip`` (a user with norm below it is
  left alone), so the user's outer product ``x xᵀ`` has Frobenius norm at most ``clip²``.

Example::

    import scipy.sparse as sp
    from coldkit.privacy.bounding import bound_contributions, clip_rows

    x = sp.random(100, 50, density=0.3, format="csr", random_state=0)
    bounded = bound_contributions(x, max_items=5, seed=0)     # <= 5 ones per row
    unit = clip_rows(bounded, clip=1.0)                        # rows of L2 norm <= 1
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_k

__all__ = ["bound_contributions", "clip_rows", "check_max_items", "check_clip"]


def check_max_items(max_items: object) -> int:
    """``max_items`` as an int >= 1, or InvalidInputError."""
    return check_k(max_items, "max_items (interactions kept per user)")


def check_clip(clip: object) -> float:
    """``clip`` as a finite float > 0, or InvalidInputError."""
    if isinstance(clip, (bool, np.bool_)):  # float(True) is 1.0: clip=True ran as the bound 1
        raise InvalidInputError(f"clip (per-user L2 bound) must be a number > 0, got {clip!r}")
    try:
        value = float(clip)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"clip (per-user L2 bound) must be a number > 0, got {clip!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"clip (per-user L2 bound) must be a finite number > 0, got {clip!r}")
    return value


def bound_contributions(matrix: sp.spmatrix, max_items: int, seed: int = 0) -> sp.csr_matrix:
    """The binarised ``matrix`` with at most ``max_items`` interactions per row (user).

    Rows with more are subsampled uniformly without replacement; each stored interaction gets a
    random key from ``numpy.random.default_rng(seed)`` and a row keeps its ``max_items`` smallest
    keys, so the result depends only on the matrix and ``seed``.
    """
    m = check_max_items(max_items)
    if not sp.issparse(matrix):
        raise InvalidInputError(f"bound_contributions expects a scipy sparse matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.eliminate_zeros()
    csr.sort_indices()
    n_rows = csr.shape[0]
    lengths = np.diff(csr.indptr)
    rows = np.repeat(np.arange(n_rows), lengths)
    keys = np.random.default_rng(seed).random(csr.nnz)
    order = np.lexsort((keys, rows))  # by row, then key
    rank = np.empty(csr.nnz, dtype=np.int64)
    rank[order] = np.arange(csr.nnz) - csr.indptr[rows[order]]
    keep = rank < m
    out = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], csr.indices[keep])), shape=csr.shape
    )
    out.sort_indices()
    return out


def clip_rows(matrix: sp.spmatrix, clip: float) -> sp.csr_matrix:
    """``matrix`` with every row scaled to L2 norm at most ``clip`` (``x · min(1, clip / ||x||)``)."""
    bound = check_clip(clip)
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    scale = np.ones_like(norms)
    big = norms > bound
    scale[big] = bound / norms[big]
    csr.data *= np.repeat(scale, np.diff(csr.indptr))
    return csr
