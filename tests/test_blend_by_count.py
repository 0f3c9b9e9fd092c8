"""coldkit.models._vectors.blend_by_count: the one place where learned and content-mapped item vectors meet
(cold adapters, published adapters and their private versions, the DP hybrid)."""

from __future__ import annotations

import numpy as np
import pytest

from coldkit.models._vectors import blend_by_count, trust_by_count


@pytest.mark.parametrize("item_trust", [0.0, 0.5, 4.0])
def test_blend_equals_the_formula_row_by_row(item_trust: float) -> None:
    rng = np.random.default_rng(0)
    known, mapped = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)).astype(np.float32)
    counts = np.array([0.0, 1.0, 2.0, 10.0, 0.0, 3.5])
    before = mapped.copy()
    out = blend_by_count(known, mapped, counts, item_trust)
    for i, c in enumerate(counts):  # reference: the rule written out per item, in float64
        alpha = (c / (c + item_trust)) if item_trust > 0 else float(c > 0)
        np.testing.assert_allclose(out[i], alpha * known[i] + (1 - alpha) * mapped[i], rtol=1e-6, atol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[counts == 0], mapped[counts == 0])  # a cold item keeps its mapped vector exactly
    np.testing.assert_array_equal(mapped, before)  # the caller's array is not written
    np.testing.assert_array_equal(trust_by_count(counts, 2.0), counts / (counts + 2.0))


def test_blend_in_row_blocks_equals_the_whole_array_expression() -> None:
    """blend_by_count works a few hundred rows at a time (no items x warm-items temporaries); the
    result is bit for bit the one-shot float32 expression, across block edges and with cold rows between."""
    from coldkit.models import _vectors

    rng = np.random.default_rng(1)
    n = 3 * _vectors._BLEND_ROWS + 17
    known = rng.standard_normal((n, 5)).astype(np.float32)
    mapped = rng.standard_normal((n, 5)).astype(np.float32)
    counts = rng.integers(0, 4, n).astype(np.float64)  # about a quarter cold
    out = blend_by_count(known, mapped, counts, 2.0)
    alpha = trust_by_count(counts, 2.0)
    seen = np.flatnonzero(alpha > 0)
    a = alpha[seen, None].astype(np.float32)
    reference = mapped.copy()
    reference[seen] = a * known[seen] + (1.0 - a) * mapped[seen]
    np.testing.assert_array_equal(out, reference)
