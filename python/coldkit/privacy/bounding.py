"""Per-user contribution bounding: the step that gives every DP statistic a known sensitivity.

User-level DP protects *everything* one user contributed. A statistic's noise is calibrated to how
much one user can move it, so each user's contribution is bounded first:

* :func:`bound_contributions` keeps at most ``max_items`` interactions per user (binarised), chosen
  uniformly at random without replacement — reproducibly, and per user: which items a user keeps depends
  only on ``seed``, the user's id and the ids of the user's own items (:func:`interaction_keys`), so
  adding or removing another user — or reordering rows or columns — changes no one else's sample;
* :func:`clip_rows` scales each user's row to L2 norm at most ``clip`` (a user with norm below it is
  left alone), so the user's outer product ``x xᵀ`` has Frobenius norm at most ``clip²``.

Example::

    import scipy.sparse as sp
    from coldkit.privacy.bounding import bound_contributions, clip_rows

    x = sp.random(100, 50, density=0.3, format="csr", random_state=0)
    bounded = bound_contributions(x, max_items=5, seed=0)     # <= 5 ones per row (rows keyed by position)
    # a fit's data: key each row by its user id and each column by its item id
    # bound_contributions(train.matrix, 5, seed, user_ids=train.user_ids, item_ids=train.catalog.item_ids)
    unit = clip_rows(bounded, clip=1.0)                        # rows of L2 norm <= 1
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_k

__all__ = ["bound_contributions", "interaction_keys", "clip_rows", "check_max_items", "check_clip"]


def check_max_items(max_items: object) -> int:
    """``max_items`` as an int >= 1, or InvalidInputError."""
    return check_k(max_items, "max_items (interactions kept per user)")


def check_clip(clip: object) -> float:
    """``clip`` as a finite float > 0, or InvalidInputError."""
    if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, (int, float, np.integer, np.floating)):
        # float(True) is 1.0: clip=True ran as the bound 1; a string ("1") passed through float()
        raise InvalidInputError(f"clip (per-user L2 bound) must be a number > 0, got {type(clip).__name__} {clip!r}")
    try:
        value = float(clip)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"clip (per-user L2 bound) must be a number > 0, got {clip!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"clip (per-user L2 bound) must be a finite number > 0, got {clip!r}")
    return value


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _digests(ids: Sequence[Any] | np.ndarray, prefix: str) -> np.ndarray:
    """(n,) uint64: the first 8 bytes of BLAKE2b over ``prefix`` + each id as text (stable across runs and machines,
    unlike Python's salted ``hash()``)."""
    out = np.empty(len(ids), dtype=np.uint64)
    for i, value in enumerate(ids):
        digest = hashlib.blake2b(f"{prefix}\x1f{value}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over a uint64 array (wraps modulo 2^64, elementwise: arrays never warn on overflow)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def interaction_keys(seed: int, user_ids: Sequence[Any] | np.ndarray, item_ids: Sequence[Any] | np.ndarray,
                     rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(nnz,) uint64 sampling key of each interaction ``(rows[j], cols[j])``: a stable hash of
    ``(seed, user id, item id)``.

    A function of the seed and the two ids only — not of the row's or the column's position — so a user's
    keys, and with them the items the user keeps, are the same in every data set that holds the user
    with the same items: contribution bounding then maps neighbouring data sets (one user added, removed
    or replaced) to bounded matrices that differ in that user's row alone, for every seed, which is what
    the sensitivity of each release assumes. Ids are hashed as text (``str(id)``), as coldkit stores them.
    """
    users = _digests(user_ids, f"coldkit-bounding-user\x1f{int(seed)}")
    items = _digests(item_ids, "coldkit-bounding-item")
    return _mix(users[rows] ^ _mix(items[cols] * _GOLDEN))


def bound_contributions(
    matrix: sp.spmatrix,
    max_items: int,
    seed: int = 0,
    *,
    user_ids: Sequence[Any] | np.ndarray | None = None,
    item_ids: Sequence[Any] | np.ndarray | None = None,
) -> sp.csr_matrix:
    """The binarised ``matrix`` with at most ``max_items`` interactions per row (user).

    A row with more is subsampled uniformly without replacement: each stored interaction gets the key
    :func:`interaction_keys` ``(seed, user id, item id)`` and a row keeps its ``max_items`` smallest keys.
    ``user_ids`` / ``item_ids`` (one per row / column) name the users and items; None keys them by position,
    which is right only for a matrix whose rows and columns never move — a fit passes its ids
    (``train.user_ids``, ``train.catalog.item_ids``) so that removing one user leaves every other user's
    kept items as they were.
    """
    m = check_max_items(max_items)
    if not sp.issparse(matrix):
        raise InvalidInputError(f"bound_contributions expects a scipy sparse matrix, got {type(matrix).__name__}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"bound_contributions: seed must be an integer, got {seed!r}")
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.eliminate_zeros()
    csr.sort_indices()
    n_rows, n_cols = csr.shape
    users = np.arange(n_rows) if user_ids is None else user_ids
    items = np.arange(n_cols) if item_ids is None else item_ids
    for label, ids, size in (("user_ids", users, n_rows), ("item_ids", items, n_cols)):
        if len(ids) != size:
            raise InvalidInputError(f"bound_contributions: {label} has {len(ids)} ids for a matrix of shape {csr.shape}")
    lengths = np.diff(csr.indptr)
    rows = np.repeat(np.arange(n_rows), lengths)
    if not np.any(lengths > m):  # nobody to subsample (hashing every interaction would find the same matrix)
        csr.data[:] = 1.0
        return csr
    keys = interaction_keys(int(seed), users, items, rows, csr.indices)
    order = np.lexsort((keys, rows))  # by row, then key (a 64-bit tie is ~n²/2^64 likely: then by column)
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
