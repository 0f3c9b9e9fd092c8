"""The core's unit rows (rust/coldkit-core/src/unit.rs) against the numpy loops they replaced, and the
ridge map's normal equations read from a catalogue's warm rows without gathering them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit import _core
from coldkit.data.vectors import item_vectors_from_arrays
from coldkit.exceptions import InvalidInputError
from coldkit.models import cold as cold_module
from coldkit.models.cold import ridge_equations
from coldkit.models.whitening import Whitening


def numpy_centred_units(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Whitening.transform's numpy loop (mode "center" or "none", normalize=True), in one block."""
    block = x.astype(np.float64)
    zero_rows = ~np.any(block != 0, axis=1)
    out = block - mean
    out[zero_rows] = 0.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)


def numpy_rescaled_units(x: np.ndarray) -> np.ndarray:
    """The vector loader's numpy loop: divide by the largest |value|, then by the norm."""
    chunk = x.astype(np.float64)
    scale = np.abs(chunk).max(axis=1, keepdims=True)
    np.divide(chunk, scale, out=chunk, where=scale > 0)
    norms = np.linalg.norm(chunk, axis=1, keepdims=True)
    np.divide(chunk, norms, out=chunk, where=norms > 0)
    return chunk.astype(np.float32)


def bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(np.uint32)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 700),
    d=st.sampled_from([1, 2, 3, 7, 8, 9, 16, 127, 128, 129, 136, 255, 256, 257, 384, 385, 1408, 5000]),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e20, 1e30]),
    spread=st.sampled_from([0.0, 3.0]),
    threads=st.sampled_from([1, 2, 3, None]),
)
def test_core_unit_rows_are_the_numpy_loops_bits(seed: int, rows: int, d: int, scale: float, spread: float, threads: int | None) -> None:
    """Centred or rescaled, the core's unit rows are numpy's bits (pairwise-summed norms, zero rows,
    -0.0, tiny and huge values, widths around numpy's 8-wide unroll and 128-long blocks)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, d)) * np.exp(spread * rng.standard_normal((rows, d))) * scale).astype(np.float32)
    if rows > 3:
        x[1] = 0.0
        x[2] = -0.0
        x[3, : d // 2] = 0.0
    mean = x.mean(axis=0, dtype=np.float64) if rows else np.zeros(d)
    np.testing.assert_array_equal(bits(_core.unit_rows(x, mean, threads=threads)), bits(numpy_centred_units(x, mean)))
    np.testing.assert_array_equal(bits(_core.unit_rows(x, rescale=True, threads=threads)), bits(numpy_rescaled_units(x)))
    np.testing.assert_array_equal(bits(_core.unit_rows(x, np.zeros(d), threads=threads)), bits(numpy_centred_units(x, np.zeros(d))))


def test_core_unit_rows_refuse_bad_input_by_name() -> None:
    x = np.ones((600, 4), np.float32)
    x[450, 3] = np.inf
    x[300, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"table contains NaN or infinite values \(first at row 300, column 1\)"):
        _core.unit_rows(x, threads=2)
    with pytest.raises(InvalidInputError, match="mean has 3 values"):
        _core.unit_rows(np.ones((2, 4), np.float32), np.zeros(3))
    with pytest.raises(InvalidInputError, match="C-contiguous"):
        _core.unit_rows(np.ones((3, 4), np.float32)[:, ::2])
    fortran = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    for call in (lambda: _core.unit_rows(fortran), lambda: _core.find_non_finite(fortran), lambda: _core.topk(fortran, fortran, 1)):
        with pytest.raises(InvalidInputError, match="C-contiguous"):  # its buffer read row-major is another matrix
            call()


def test_the_loader_and_the_centring_take_the_core_with_the_numpy_paths_bits() -> None:
    """float32 C-contiguous input goes through the core; other dtypes through numpy: the same rows."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3_000, 384)) * 1e3).astype(np.float32)
    x[10] = 0.0
    ids = [f"i{i}" for i in range(len(x))]
    loaded = item_vectors_from_arrays(ids, x).vectors
    np.testing.assert_array_equal(bits(loaded), bits(item_vectors_from_arrays(ids, x.astype(np.float64)).vectors))
    for mode in ("center", "none"):
        w = Whitening(mode).fit(loaded)
        np.testing.assert_array_equal(
            bits(w.transform(loaded, normalize=True)), bits(w.transform(loaded.astype(np.float64), normalize=True))
        )


def test_non_finite_rows_are_named_on_both_paths() -> None:
    x = np.ones((400, 3), np.float32)
    x[333, 2] = np.nan
    ids = [f"i{i}" for i in range(len(x))]
    for values in (x, x.astype(np.float64)):
        with pytest.raises(InvalidInputError, match=r"row 333 \(id 'i333'\) has a NaN or infinite value"):
            item_vectors_from_arrays(ids, values)
    ids[200] = ids[0]  # an earlier problem of another kind is named first
    with pytest.raises(InvalidInputError, match=r"row 200 \(id 'i0'\) repeats the id of row 0"):
        item_vectors_from_arrays(ids, x)
    w = Whitening("center").fit(np.ones((2, 3)))
    for values in (x, x.astype(np.float64), np.asfortranarray(x)):
        with pytest.raises(InvalidInputError, match=r"whitening input: row 333 has a NaN or infinite value"):
            w.transform(values, normalize=True)
        with pytest.raises(InvalidInputError, match=r"whitening input: row 333 has a NaN or infinite value"):
            Whitening("center").fit(values)


def test_centring_rows_without_columns_gives_rows_without_columns() -> None:
    w = Whitening("center").fit(np.ones((2, 0), np.float32))
    for values in (np.ones((3, 0), np.float32), np.ones((3, 0))):
        assert w.transform(values, normalize=True).shape == (3, 0)


@pytest.mark.parametrize("width", [5, 700])  # factor targets (float64) and wide ones (float32 cross term)
def test_ridge_equations_from_warm_rows_are_the_gathered_rows_bits(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Read a block of warm rows at a time, the normal equations are those of the gathered copy, bit
    for bit: the column means summed row after row as numpy does, the same blocks in the products."""
    monkeypatch.setattr(cold_module, "_RIDGE_ROWS", 37)
    rng = np.random.default_rng(6)
    features = (rng.standard_normal((400, 9)) * np.exp(3 * rng.standard_normal((400, 9))) + 2.0).astype(np.float32)
    targets = (rng.standard_normal((400, width)) * 1e4).astype(np.float32)
    warm = np.sort(rng.choice(400, 251, replace=False))
    gathered = ridge_equations(features[warm], targets[warm])
    from_rows = ridge_equations(features, targets, rows=warm)
    for want, got in zip(gathered[:4], from_rows[:4]):
        assert want.dtype == got.dtype
        np.testing.assert_array_equal(want.view(np.uint64), got.view(np.uint64))
    assert from_rows[4] == gathered[4] == (251, 9)
    mask = np.zeros(400, bool)
    mask[warm] = True  # a boolean mask names the same rows
    np.testing.assert_array_equal(ridge_equations(features, targets, rows=mask)[0], gathered[0])
    # one float64 column is contiguous along the rows: numpy sums it pairwise, and so must the rows' means
    column = rng.standard_normal((400, 1)) * 10 + 3
    want = ridge_equations(column[warm], targets[warm])
    for a, b in zip(want[:4], ridge_equations(column, targets, rows=warm)[:4]):
        np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64))
