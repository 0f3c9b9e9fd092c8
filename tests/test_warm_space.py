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


def test_choose_kind_makes_auto_fit_that_kind_checked_against_the_budget() -> None:
    """choose_kind replaces the size rule of warm="auto" (the hybrid's validated choice) and is budget-checked
    like an asked kind; None gives the size rule back; only an auto space takes it."""
    from coldkit.data import load_dataset, subsample
    from coldkit.exceptions import InvalidInputError
    from coldkit.models.cold import WarmSpace
    from coldkit.models.memory import MemoryBudgetError

    data = subsample(load_dataset("ml-latest-small"), max_users=60, max_items=200).interactions
    space = WarmSpace("auto", factors=8)
    assert space.fit(data).kind == "ease"
    space.choose_kind("als")
    assert space.fit(data).kind == "als" and space.item_vectors_.shape == (data.n_items, 8)
    space.choose_kind(None)
    assert space.fit(data).kind == "ease"
    tight = WarmSpace("auto", factors=8, memory_budget="1K")
    tight.choose_kind("als")
    with pytest.raises(MemoryBudgetError, match="warm model 'als'"):
        tight.fit(data)
    with pytest.raises(InvalidInputError, match="choose_kind is for warm='auto'"):
        WarmSpace("ease").choose_kind("als")
    for wrong in ("bert", "auto"):  # "auto" is what it replaces: it fitted item-kNN without a word
        with pytest.raises(InvalidInputError, match="choose_kind takes a kind of"):
            space.choose_kind(wrong)
