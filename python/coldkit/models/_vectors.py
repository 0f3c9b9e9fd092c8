"""Dense per-query interaction rows: what a CF model folds in for a warm user or a new user's clicks."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery

__all__ = ["interaction_rows", "training_matrix"]


def training_matrix(train: Interactions, binarize: bool) -> sp.csr_matrix:
    """The training matrix as float32 CSR, with every stored weight set to 1 when ``binarize``."""
    matrix = train.matrix.astype(np.float32, copy=True)
    if binarize:
        matrix.data[:] = 1.0
    return matrix


def interaction_rows(
    queries: Sequence[UserQuery],
    matrix: sp.csr_matrix,
    columns: np.ndarray | None = None,
    history_weight: float = 1.0,
    sparse: bool = False,
) -> Any:
    """(B, n) float32: each query's training row (warm user) plus its ``history`` clicks.

    Args:
        queries: validated queries.
        matrix: (n_users, n_items) training matrix (already binarised if wanted).
        columns: keep only these item columns (e.g. the warm items a CF model was fitted on),
            in this order; None keeps all.
        history_weight: weight of each ``history`` click (a click already in training keeps
            the larger of the two weights).
        sparse: return a (B, n) CSR matrix instead (factorised models on large catalogues,
            where a dense batch of rows would be B × n_items floats).
    """
    n_items = matrix.shape[1]
    rows, cols, vals = [], [], []
    for b, query in enumerate(queries):  # loops over queries, never over the catalogue
        if query.user is not None:
            start, end = matrix.indptr[query.user], matrix.indptr[query.user + 1]
            cols.append(matrix.indices[start:end])
            vals.append(matrix.data[start:end])
            rows.append(np.full(end - start, b))
        if query.history.size:
            cols.append(query.history)
            vals.append(np.full(query.history.size, history_weight, dtype=np.float32))
            rows.append(np.full(query.history.size, b))
    batch = len(queries)
    if not rows:
        full = sp.csr_matrix((batch, n_items), dtype=np.float32)
    else:
        coo = sp.coo_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(batch, n_items),
        )
        # max, not sum: a click repeated in history and training must not count twice
        full = coo.tocsr()
        full.sum_duplicates()
        dup = sp.coo_matrix(
            (np.ones(len(coo.data), dtype=np.float32), (coo.row, coo.col)), shape=(batch, n_items)
        ).tocsr()
        if dup.nnz and dup.data.max() > 1:
            full = _rowwise_max(coo, batch, n_items)
    if columns is not None:
        full = full[:, columns]
    if sparse:
        return sp.csr_matrix(full, dtype=np.float32)
    return np.asarray(full.toarray(), dtype=np.float32)


def _rowwise_max(coo: sp.coo_matrix, batch: int, n_items: int) -> sp.csr_matrix:
    key = coo.row.astype(np.int64) * n_items + coo.col
    order = np.lexsort((-coo.data, key))
    key_sorted = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    keep = order[first]
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=(batch, n_items))
