"""PureSVD factors of the warm space against numpy's SVD, for tall and wide interaction matrices."""

import numpy as np
import pytest

from coldkit.models.cold import _right_singular_vectors


@pytest.mark.parametrize("shape", [(30, 80), (80, 30), (25, 25)])
def test_right_singular_vectors_match_numpy_svd(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    x = (rng.random(shape) < 0.2).astype(np.float64)
    factors = 6
    ours = _right_singular_vectors(x, factors)
    _, sigma, vt = np.linalg.svd(x, full_matrices=False)
    reference = vt[:factors].T
    assert ours.shape == reference.shape
    # Singular vectors are defined up to sign: compare |cosine| per factor.
    np.testing.assert_allclose(np.abs((ours * reference).sum(axis=0)), 1.0, atol=1e-9)


def test_rank_deficient_matrix_drops_the_null_space() -> None:
    x = np.zeros((3, 10))
    x[0, :4] = 1.0
    x[1, :4] = 1.0  # rank 1
    basis = _right_singular_vectors(x, 5)
    assert basis.shape == (10, 1)
    np.testing.assert_allclose(np.abs(basis[:4, 0]), 0.5)
