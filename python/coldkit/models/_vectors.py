"""Shared vector plumbing of the CF and cold-item models: per-query interaction rows (what a CF model
folds in for a warm user or a new user's clicks) and the blend of learned and content-mapped item vectors."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery

__all__ = [
    "blend_by_count", "column_blocks", "interaction_rows", "nonzero_rows", "row_products", "sparse_times_blocks", "training_matrix",
    "transposed", "trust_by_count",
]

#: Rows per step of :func:`nonzero_rows`.
_NONZERO_ROWS = 4096
#: Rows of the source per step of :func:`transposed`: each step writes a run of this many floats into every
#: row of the result (2 KB of float32), the whole step's source read once.
_TRANSPOSE_ROWS = 512
#: Columns per block of :func:`column_blocks` (a 5.5k-row block of them is 5.6 MB of float32).
_WIDE_STEP_COLUMNS = 256


def nonzero_rows(x: np.ndarray) -> np.ndarray:
    """(n,) bool: the rows of ``x`` (n, d) with a non-zero value (an item with content).

    ``np.any(x != 0, axis=1)`` in steps of rows: its (n, d) bool temporary is 384 MB at 1M x 384, and
    new memory costs more to touch than the comparison (fresh process, 1M x 384: 1.9 s -> 0.2 s).
    """
    out = np.empty(x.shape[0], dtype=bool)
    for start in range(0, x.shape[0], _NONZERO_ROWS):
        out[start : start + _NONZERO_ROWS] = np.any(x[start : start + _NONZERO_ROWS] != 0, axis=1)
    return out


def transposed(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``np.ascontiguousarray(x[rows].T)`` (``rows`` None: all of ``x``), the same values, copied a block of
    :data:`_TRANSPOSE_ROWS` source rows at a time.

    Why: numpy's transposing copy walks the result row by row and strides through the whole source for
    each, missing the cache on every read; a block's source rows stay in cache while each result row
    takes its run of them (10k x 6,455 float32, an EASE-space adapter's item columns: 325 -> 104 ms).
    With ``rows`` the rows are gathered a block at a time too: no (rows, d) copy beside the result.
    """
    n = x.shape[0] if rows is None else len(rows)
    out = np.empty((x.shape[1], n), dtype=x.dtype)
    for start in range(0, n, _TRANSPOSE_ROWS):
        block = x[start : start + _TRANSPOSE_ROWS] if rows is None else x[rows[start : start + _TRANSPOSE_ROWS]]
        out[:, start : start + _TRANSPOSE_ROWS] = block.T
    return out


def column_blocks(dense: np.ndarray, rows: np.ndarray | None = None, dtype: Any = np.float32) -> list[np.ndarray]:
    """``dense[rows]`` (``rows`` None: all of it) in ``dtype`` as C-contiguous blocks of
    :data:`_WIDE_STEP_COLUMNS` columns, left to right (one block where it is at most twice that wide), for
    :func:`sparse_times_blocks`. Each block is gathered on its own: the blocks hold the table's bytes
    once, with no whole gathered copy beside them."""
    n_columns = dense.shape[1]
    steps = [(0, n_columns)] if n_columns <= 2 * _WIDE_STEP_COLUMNS else [
        (start, min(start + _WIDE_STEP_COLUMNS, n_columns)) for start in range(0, n_columns, _WIDE_STEP_COLUMNS)
    ]
    return [
        np.ascontiguousarray(dense[:, a:b] if rows is None else dense[rows, a:b], dtype=dtype) for a, b in steps
    ]


def sparse_times_blocks(weights: sp.csr_matrix, blocks: Sequence[np.ndarray]) -> np.ndarray:
    """``weights @ np.hstack(blocks)`` (sparse rows times a dense table held as :func:`column_blocks`), a
    block at a time: the same bits (scipy's kernel adds each output value's terms in the same order
    whatever the width it is handed).

    Why: each stored weight reads a whole row of the table; with EASE-space targets (one column per warm
    item) a row is 26 KB at 6.5k warm items, and 10k items x 50 neighbours read 13 GB from memory. A
    block of columns stays in cache across the rows (the kNN adapter's map at 10k items: 1.9 -> 0.7 s).
    """
    if len(blocks) == 1:
        return np.asarray(weights @ blocks[0])
    width = sum(block.shape[1] for block in blocks)
    out = np.empty((weights.shape[0], width), dtype=np.result_type(weights.dtype, blocks[0].dtype))
    start = 0
    for block in blocks:
        out[:, start : start + block.shape[1]] = weights @ block
        start += block.shape[1]
    return out


def row_products(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` (2-D by 2-D, in their common dtype), each row's product the same bits whatever
    rows sit beside it.

    Why not one ``@``: BLAS blocks a matrix product by the number of rows (and runs a one-row product
    as a matrix-vector kernel), so a query's vector came out an ulp or two apart alone and in a batch,
    and a recommendation list for one user depended on who else was in the batch. One matrix-vector
    product per row sums in one order for a given row. For small ``matrix`` (a text's whitening
    projection, d x d) the loop costs little next to encoding the text; against a catalogue it is ~20x
    one product (512 texts x 100k items: 6.7 vs 0.31 s), so it is not used there.
    """
    a, b = np.asarray(rows), np.asarray(matrix)
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a.dtype, b.dtype))
    for i in range(a.shape[0]):  # loops over queries, never over the catalogue
        np.matmul(a[i], b, out=out[i])
    return out


def training_matrix(train: Interactions, binarize: bool) -> sp.csr_matrix:
    """The training matrix as float32 CSR, with every stored weight set to 1 when ``binarize``."""
    matrix = train.matrix.astype(np.float32, copy=True)
    if binarize:
        matrix.data[:] = 1.0
    return matrix


def trust_by_count(counts: np.ndarray, item_trust: float) -> np.ndarray:
    """(n,) float64 weight ``α_i`` of an item's learned vector: ``c_i / (c_i + item_trust)``, or for
    ``item_trust = 0`` 1 where ``c_i > 0`` and 0 elsewhere (see :func:`blend_by_count`)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts / (counts + item_trust) if item_trust > 0 else (counts > 0).astype(np.float64)


#: Rows per step of :func:`blend_by_count` (a step's temporaries stay a few MB even 10k columns wide).
_BLEND_ROWS = 256


def blend_by_count(known: np.ndarray, mapped: np.ndarray, counts: np.ndarray, item_trust: float) -> np.ndarray:
    """(n, f) float32 item vectors: ``α_i · known_i + (1 − α_i) · mapped_i``, trusting an item's learned
    vector more the more interactions it has.

    ``α_i = c_i / (c_i + item_trust)`` for ``item_trust > 0``, else ``1`` for every item with an
    interaction and ``0`` for the rest (:func:`trust_by_count`; a cold item keeps its content-mapped
    vector exactly).
    Why float32 and only the rows with ``α > 0``: in the EASE space these are items × warm-items
    arrays, whose float64 temporaries cost seconds and gigabytes.

    Args:
        known: (n, f) vectors learned from interactions (zero rows for cold items are fine).
        mapped: (n, f) vectors predicted from content.
        counts: (n,) interactions per item (or a DP estimate of them).
        item_trust: the count at which both count half (0: any interaction means "known").

    Example::

        >>> blend_by_count(np.ones((2, 1)), np.zeros((2, 1)), np.array([3.0, 0.0]), 1.0).ravel().tolist()
        [0.75, 0.0]
    """
    alpha = trust_by_count(counts, item_trust)
    blended = np.array(mapped, dtype=np.float32)  # a copy: the caller keeps its mapped vectors
    seen = np.flatnonzero(alpha > 0)
    a = alpha[seen, None].astype(np.float32)
    # A few hundred rows at a time: the same arithmetic, but small temporaries reused instead of five
    # items × warm-items ones (10k-item benchmark, EASE space: the one-shot form took 9.2 s in the
    # hybrid's four calls, mostly allocating and faulting in those temporaries).
    for start in range(0, seen.size, _BLEND_ROWS):
        rows, w = seen[start : start + _BLEND_ROWS], a[start : start + _BLEND_ROWS]
        blended[rows] = w * known[rows] + (1.0 - w) * blended[rows]
    return blended


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
