"""Contract and behaviour tests for the example plugin (run after `pip install ./plugins/coldkit-example`)."""

import numpy as np
import pytest

import coldkit
from coldkit_example import CombMNZFusion


def test_found_through_the_entry_point() -> None:
    fusion = coldkit.get_fusion("combmnz")
    assert isinstance(fusion, CombMNZFusion)
    assert isinstance(fusion, coldkit.FusionStrategy)


def test_hand_computed_combmnz() -> None:
    # Source a: item 0 -> 1.0, item 1 -> 0.5, item 2 -> 0.0 (min-max of 4, 3, 2)
    # Source b: item 1 -> 1.0, item 3 -> 0.0                 (min-max of 9, 1)
    a = coldkit.Ranked(np.array([[0, 1, 2]]), np.array([[4.0, 3.0, 2.0]], dtype=np.float32))
    b = coldkit.Ranked(np.array([[1, 3]]), np.array([[9.0, 1.0]], dtype=np.float32))
    fused = CombMNZFusion().fuse({"a": a, "b": b}, k=4)
    # item 1: 2 votes * (0.5 + 1.0) = 3.0; item 0: 1 * 1.0; items 2 and 3: 1 * 0 (tie -> lower index first)
    assert fused.indices.tolist() == [[1, 0, 2, 3]]
    np.testing.assert_allclose(fused.scores, [[3.0, 1.0, 0.0, 0.0]])


def test_rejects_bad_k() -> None:
    a = coldkit.Ranked(np.array([[0]]), np.array([[1.0]], dtype=np.float32))
    with pytest.raises(coldkit.InvalidInputError):
        CombMNZFusion().fuse({"a": a}, k=0)


def test_rejects_no_sources() -> None:
    with pytest.raises(coldkit.InvalidInputError, match="at least one source"):
        CombMNZFusion().fuse({}, k=3)


def test_zero_weight_source_casts_no_vote() -> None:
    a = coldkit.Ranked(np.array([[0, 1]]), np.array([[2.0, 1.0]], dtype=np.float32))
    b = coldkit.Ranked(np.array([[1]]), np.array([[5.0]], dtype=np.float32))
    fused = CombMNZFusion().fuse({"a": a, "b": b}, k=2, weights={"a": 1.0, "b": 0.0})
    # b is switched off: item 1 has one vote and score 0 (a's min-max), item 0 one vote and score 1.
    assert fused.indices.tolist() == [[0, 1]]
    np.testing.assert_allclose(fused.scores, [[1.0, 0.0]])
