"""Placeholder: replaced by the similarity-core work (issue 2)."""
from __future__ import annotations
import numpy as np

def normalize(x):
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)

def cosine_matrix(a, b):
    return normalize(a) @ normalize(b).T

def simd_capabilities():
    return {}

def topk(queries, catalog, k, *, metric="cosine", normalized=False, exclude=None, threads=None, backend=None):
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    s = cosine_matrix(q, catalog) if metric == "cosine" else q @ np.asarray(catalog, np.float32).T
    if exclude is not None:
        for r, ex in enumerate(exclude):
            s[r, np.asarray(ex, dtype=np.int64)] = -np.inf
    k = min(k, s.shape[1])
    idx = np.lexsort((np.broadcast_to(np.arange(s.shape[1]), s.shape), -s), axis=1)[:, :k]
    return np.take_along_axis(s, idx, 1).astype(np.float32), idx.astype(np.int64)
