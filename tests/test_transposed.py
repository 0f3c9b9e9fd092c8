"""``transposed``: the blocked transposing copy the CF adapters and EASE build their item columns with
must be numpy's ``np.ascontiguousarray(x[rows].T)``, value for value, at every size around its block."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit.models._vectors import _TRANSPOSE_ROWS, transposed


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
