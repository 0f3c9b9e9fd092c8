"""The blocked layouts of the CF adapters' tables: ``transposed`` (the item columns of the EASE-space
adapters and EASE) must be numpy's ``np.ascontiguousarray(x[rows].T)``, and ``sparse_times_blocks`` over
``column_blocks`` (the kNN adapter's map) scipy's ``weights @ x[rows]`` to the bit, at every size around
their blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scipy.sparse as sp

from coldkit.models._vectors import _TRANSPOSE_ROWS, _WIDE_STEP_COLUMNS, column_blocks, sparse_times_blocks, transposed


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([0, 1, 7, _TRANSPOSE_ROWS - 1, _TRANSPOSE_ROWS, _TRANSPOSE_ROWS + 1, 2 * _TRANSPOSE_ROWS + 3]),
    st.integers(1, 9),
    st.sampled_from([np.float32, np.float64, np.int64]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_transposed_is_numpys_transposing_copy(n: int, d: int, dtype: type, gather: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, d)) * 1000).astype(dtype)
    rows = rng.integers(0, n, size=rng.integers(0, 2 * n + 1)) if gather and n else None  # repeats, any order
    want = np.ascontiguousarray((x if rows is None else x[rows]).T)
    got = transposed(x, rows)
    assert got.flags.c_contiguous and got.dtype == x.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_transposed_reads_a_strided_source() -> None:
    """A view (every other column of a wider table) is read as it is, not assumed contiguous."""
    table = np.arange(3 * (_TRANSPOSE_ROWS + 5) * 4, dtype=np.float32).reshape(-1, 4)
    view = table[:, ::2]
    np.testing.assert_array_equal(transposed(view), view.T)
    rows = np.array([5, 0, 5, len(view) - 1])
    np.testing.assert_array_equal(transposed(view, rows), view[rows].T)


def test_transposed_refuses_an_index_past_the_end() -> None:
    """A bad row index is numpy's IndexError, as ``x[rows]`` gives, not a silent wrap or a partial table."""
    with pytest.raises(IndexError):
        transposed(np.zeros((4, 2), np.float32), np.array([0, 4]))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([1, 5, 2 * _WIDE_STEP_COLUMNS, 2 * _WIDE_STEP_COLUMNS + 1, 3 * _WIDE_STEP_COLUMNS + 7]),
    st.integers(1, 60),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_sparse_times_blocks_is_scipys_product_to_the_bit(width: int, n_rows: int, gather: bool, seed: int) -> None:
    """Each output value is the same sum in the same order, so the bits match (float32: any other order of a
    neighbour-weighted sum of 50 rows would show in the last place)."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((n_rows, width)).astype(np.float32)
    rows = rng.integers(0, n_rows, size=n_rows + 3) if gather else None
    blocks = column_blocks(table, rows)
    picked = table if rows is None else table[rows]
    assert all(block.flags.c_contiguous and block.dtype == np.float32 for block in blocks)
    assert len(blocks) == (1 if width <= 2 * _WIDE_STEP_COLUMNS else -(-width // _WIDE_STEP_COLUMNS))
    np.testing.assert_array_equal(np.hstack(blocks), picked)
    weights = sp.random(17, picked.shape[0], density=0.3, format="csr", dtype=np.float32, random_state=int(seed % 2**31))
    want = np.asarray(weights @ picked)
    got = sparse_times_blocks(weights, blocks)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))
