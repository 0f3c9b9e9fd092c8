"""Top-K ranking metrics, vectorised over users with NumPy.

Conventions (binary relevance; ``R_u`` = relevant items of user ``u``, ``hit_i`` = 1 when the item
at rank ``i`` (1-based) is relevant; padding ``-1`` never hits):

* ``precision@K = hits / K`` (K, not the list length: a short list is not rewarded)
* ``recall@K = hits / |R_u|``
* ``f1@K = 2 P R / (P + R)`` per user (0 when both are 0)
* ``ndcg@K = sum_i hit_i / log2(i + 1)  /  sum_{i <= min(|R_u|, K)} 1 / log2(i + 1)``
* ``hit_rate@K = 1`` if any hit
* ``mrr@K = 1 / rank of the first hit`` (0 if none)
* ``map@K = sum_i hit_i * precision@i / min(|R_u|, K)``

Users with no relevant item are left out (the metrics are undefined for them); every function
returns one value per *kept* user, and :func:`ranking_metrics` averages them.

Two catalogue-level numbers: ``coverage`` = share of the candidate items recommended to at least
one user, and ``cold_exposure`` = share of the filled recommendation slots taken by cold items
(items without a training interaction).

Example::

    >>> import numpy as np, scipy.sparse as sp
    >>> ranked = np.array([[3, 1, 2]]); truth = sp.csr_matrix(np.array([[0, 1, 0, 0]], dtype=bool))
    >>> round(ranking_metrics(ranked, truth, k=3)["mrr@3"], 3)
    0.5
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_k

__all__ = [
    "METRICS",
    "hit_matrix",
    "precision_at_k",
    "recall_at_k",
    "f1_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "mrr_at_k",
    "map_at_k",
    "coverage",
    "cold_exposure",
    "ranking_metrics",
]

METRICS: tuple[str, ...] = ("precision", "recall", "f1", "ndcg", "hit_rate", "mrr", "map")


def _validate(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> tuple[np.ndarray, sp.csr_matrix]:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise InvalidInputError(f"ranked must be 2-D (users, list), got shape {ranked.shape}")
    if not np.issubdtype(ranked.dtype, np.integer):
        raise InvalidInputError(f"ranked must hold integer item indices, got {ranked.dtype}")
    check_k(k)
    truth = sp.csr_matrix(truth)
    if truth.shape[0] != ranked.shape[0]:
        raise InvalidInputError(f"truth has {truth.shape[0]} rows for {ranked.shape[0]} ranked lists")
    if ranked.size and (ranked.max() >= truth.shape[1] or ranked.min() < -1):
        raise InvalidInputError(f"ranked holds item indices outside [-1, {truth.shape[1]})")
    truth = truth.astype(bool)
    truth.eliminate_zeros()
    truth.sum_duplicates()
    truth.sort_indices()
    return ranked[:, :k], truth


def hit_matrix(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hits bool (B, K), n_relevant int (B,))``: whether each ranked slot is relevant.

    Membership is found with one ``searchsorted`` over ``user * n_items + item`` keys, so nothing
    loops over users in Python. Lists shorter than ``k`` are padded with misses; an item repeated
    in a row counts once (later copies are misses).
    """
    top, t = _validate(ranked, truth, k)
    b, width = top.shape
    n_items = t.shape[1]
    rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(t.indptr))
    keys = rows * n_items + t.indices.astype(np.int64)  # sorted: CSR with sorted indices
    query = np.arange(b, dtype=np.int64)[:, None] * n_items + top.astype(np.int64)
    pos = np.searchsorted(keys, query)
    found = np.zeros(query.shape, dtype=bool)
    inside = pos < len(keys)
    found[inside] = keys[pos[inside]] == query[inside]
    found &= top >= 0
    if width > 1:  # a repeated item must not be counted twice
        order = np.argsort(top, axis=1, kind="stable")
        s = np.take_along_axis(top, order, axis=1)
        dup_sorted = np.zeros_like(s, dtype=bool)
        dup_sorted[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        found &= ~dup
    hits = np.zeros((b, k), dtype=bool)
    hits[:, :width] = found
    return hits, np.diff(t.indptr).astype(np.int64)


def _kept(hits: np.ndarray, n_rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = n_rel > 0
    return hits[keep], n_rel[keep]


def precision_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user precision@K (users with relevant items only)."""
    hits, n_rel = _kept(*hit_matrix(ranked, truth, k))
    return hits.sum(axis=1) / k


def recall_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user recall@K = hits / number of relevant items."""
    hits, n_rel = _kept(*hit_matrix(ranked, truth, k))
    return hits.sum(axis=1) / n_rel


def f1_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user harmonic mean of precision@K and recall@K."""
    hits, n_rel = _kept(*hit_matrix(ranked, truth, k))
    return _f1(hits, n_rel, k)


def _f1(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits.sum(axis=1)
    p, r = h / k, h / n_rel
    denom = p + r
    return np.divide(2 * p * r, denom, out=np.zeros_like(denom, dtype=np.float64), where=denom > 0)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user NDCG@K with binary gains."""
    hits, n_rel = _kept(*hit_matrix(ranked, truth, k))
    return _ndcg(hits, n_rel, k)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = _discounts(k)
    dcg = hits @ disc
    ideal = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    return dcg / ideal


def hit_rate_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user 1.0 if any of the top K is relevant."""
    hits, _ = _kept(*hit_matrix(ranked, truth, k))
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def mrr_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user reciprocal rank of the first relevant item in the top K (0 if none)."""
    hits, _ = _kept(*hit_matrix(ranked, truth, k))
    return _mrr(hits)


def _mrr(hits: np.ndarray) -> np.ndarray:
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def map_at_k(ranked: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Per-user average precision@K, normalised by ``min(|R_u|, K)``."""
    hits, n_rel = _kept(*hit_matrix(ranked, truth, k))
    return _map(hits, n_rel, k)


def _map(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return (precision_at_i * hits).sum(axis=1) / np.minimum(n_rel, k)


def coverage(ranked: np.ndarray, k: int, candidates: np.ndarray | int) -> float:
    """Share of the candidate items that appear in at least one top-K list.

    Args:
        candidates: the candidate item indices, or the catalogue size (all items are candidates).
    """
    top = np.asarray(ranked)[:, :k]
    shown = np.unique(top[top >= 0])
    if isinstance(candidates, (int, np.integer)):
        total = int(candidates)
    else:
        cand = np.unique(np.asarray(candidates, dtype=np.int64))
        shown = np.intersect1d(shown, cand, assume_unique=True)
        total = len(cand)
    return float(len(shown) / total) if total else 0.0


def cold_exposure(ranked: np.ndarray, k: int, cold_items: np.ndarray) -> float:
    """Share of the filled top-K slots (padding excluded) that hold cold items.

    Args:
        cold_items: bool (n_items,) mask of items with no training interaction.
    """
    top = np.asarray(ranked)[:, :k]
    filled = top[top >= 0]
    if filled.size == 0:
        return 0.0
    return float(np.asarray(cold_items, dtype=bool)[filled].mean())


def ranking_metrics(
    ranked: np.ndarray,
    truth: sp.spmatrix,
    k: int | Sequence[int],
    *,
    candidates: np.ndarray | int | None = None,
    cold_items: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean of every per-user metric at each K, plus coverage / cold exposure when given the inputs.

    Keys look like ``"recall@20"``; ``"users"`` is the number of users with relevant items.
    """
    ks = [k] if isinstance(k, (int, np.integer)) else list(k)
    if not ks:
        raise InvalidInputError("k must name at least one cut-off")
    out: dict[str, float] = {}
    for kk in ks:
        hits, n_rel = _kept(*hit_matrix(ranked, truth, int(kk)))
        if len(n_rel) == 0:
            raise InvalidInputError("no user has a relevant item: nothing to evaluate")
        h = hits.sum(axis=1)
        per_user = {
            "precision": h / kk,
            "recall": h / n_rel,
            "f1": _f1(hits, n_rel, kk),
            "ndcg": _ndcg(hits, n_rel, kk),
            "hit_rate": hits.any(axis=1).astype(np.float64),
            "mrr": _mrr(hits),
            "map": _map(hits, n_rel, kk),
        }
        for name in METRICS:
            out[f"{name}@{kk}"] = float(per_user[name].mean())
        if candidates is not None:
            out[f"coverage@{kk}"] = coverage(ranked, kk, candidates)
        if cold_items is not None:
            out[f"cold_exposure@{kk}"] = cold_exposure(ranked, kk, cold_items)
        out["users"] = float(len(n_rel))
    return out
