"""Built-in fusion strategies against hand-computed cases and a naive dictionary implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit
from coldkit.builtins.fusion import ReciprocalRankFusion, WeightedFusion, _first_occurrences


def ranked(rows: list[list[tuple[int, float]]], width: int | None = None) -> coldkit.Ranked:
    """Build a Ranked from per-row (item, score) lists, padding with -1 / -inf."""
    width = width or max(1, max(len(r) for r in rows))
    idx = np.full((len(rows), width), -1, dtype=np.int64)
    sc = np.full((len(rows), width), -np.inf, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, (item, score) in enumerate(row):
            idx[i, j], sc[i, j] = item, score
    return coldkit.Ranked(idx, sc)


def naive_fuse(sources, weights, k, mode, normalization="minmax", c=60.0):  # type: ignore[no-untyped-def]
    """Second implementation: plain Python dictionaries, one row at a time."""
    batch = next(iter(sources.values())).indices.shape[0]
    out = []
    for row in range(batch):
        totals: dict[int, float] = {}
        base = 0.0
        for name, r in sources.items():
            w = weights.get(name, 1.0) if weights else 1.0
            w = float(w[row]) if isinstance(w, np.ndarray) else float(w)
            pairs = [(int(i), float(s)) for i, s in zip(r.indices[row], r.scores[row]) if i >= 0]
            if not pairs or w == 0:  # a source weighted 0 for the row proposes nothing to it
                continue
            if mode == "rrf":
                if len({s for _, s in pairs}) == 1:  # one tie ranks nothing (its order is the item index)
                    for item, _ in pairs:
                        totals.setdefault(item, 0.0)
                    continue
                for rank, (item, _) in enumerate(pairs, 1):
                    totals[item] = totals.get(item, 0.0) + w / (c + rank)
                continue
            scores = [s for _, s in pairs]
            if normalization == "minmax":
                lo, hi = min(scores), max(scores)
                norm = [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]
            elif normalization == "zscore":
                mean = sum(scores) / len(scores)
                std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
                norm = [(s - mean) / std if std > 0 else 0.0 for s in scores]
            else:
                norm = scores
            floor = min(norm)
            base += w * floor
            for (item, _), value in zip(pairs, norm):
                totals[item] = totals.get(item, 0.0) + w * (value - floor)
        fused = sorted(((base + v, item) for item, v in totals.items()), key=lambda t: (-t[0], t[1]))[:k]
        out.append(fused)
    return out


def test_weighted_hand_computed() -> None:
    cf = ranked([[(0, 10.0), (1, 5.0), (2, 0.0)]])  # min-max: 1.0, 0.5, 0.0
    content = ranked([[(2, 0.9), (3, 0.1)]])  # min-max: 1.0, 0.0
    fused = WeightedFusion().fuse({"cf": cf, "content": content}, k=4, weights={"cf": 0.6, "content": 0.4})
    # item0: .6*1 + .4*0 (missing -> floor 0) = .6 ; item1: .3 ; item2: 0 + .4 = .4 ; item3: 0
    assert fused.indices.tolist() == [[0, 2, 1, 3]]
    np.testing.assert_allclose(fused.scores, [[0.6, 0.4, 0.3, 0.0]], rtol=1e-6)


def test_rrf_hand_computed() -> None:
    a = ranked([[(5, 0.9), (7, 0.8)]])
    b = ranked([[(7, 3.0), (9, 1.0)]])
    fused = ReciprocalRankFusion(c=1).fuse({"a": a, "b": b}, k=3)
    # item7: 1/3 + 1/2 ; item5: 1/2 ; item9: 1/3
    assert fused.indices.tolist() == [[7, 5, 9]]
    np.testing.assert_allclose(fused.scores, [[1 / 3 + 1 / 2, 1 / 2, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("name", ["weighted", "rrf", "combmnz"])
def test_a_source_weighted_zero_lists_none_of_its_items(name: str) -> None:
    """Called directly (not through the hybrid, which empties such rows itself), a fusion given a source of
    weight 0 listed that source's items after the others, ranked by nothing. Reference: by hand."""
    a = ranked([[(0, 3.0), (1, 2.0), (2, 1.0)], [(0, 3.0), (1, 2.0), (2, 1.0)]])
    b = ranked([[(5, 9.0), (1, 8.0), (6, 7.0)], [(5, 9.0), (1, 8.0), (6, 7.0)]])
    fusion = coldkit.get_fusion(name)
    alone = fusion.fuse({"a": a, "b": b}, 6, {"a": 1.0, "b": 0.0})
    assert alone.indices.tolist() == [[0, 1, 2, -1, -1, -1]] * 2  # "a" alone, in its order
    assert np.isneginf(alone.scores[:, 3:]).all()
    # per query: row 0 weighs "b" 0, row 1 weighs both 1
    per_query = fusion.fuse({"a": a, "b": b}, 6, {"a": np.ones(2), "b": np.array([0.0, 1.0])})
    assert per_query.indices[0].tolist() == [0, 1, 2, -1, -1, -1]
    assert set(per_query.indices[1].tolist()) == {0, 1, 2, 5, 6, -1}
    if name == "weighted":
        # min-max: a = 1, .5, 0; b = 1, .5, 0 -> item 1: .5 + .5; items 0, 5: 1; items 2, 6: 0
        assert per_query.indices[1].tolist() == [0, 1, 5, 2, 6, -1]
        np.testing.assert_allclose(per_query.scores[1, :5], [1.0, 1.0, 1.0, 0.0, 0.0])
    if name == "rrf":  # c = 60: item 1 is 2nd in both
        np.testing.assert_allclose(per_query.scores[1, 0], 2 / 62, rtol=1e-6)
    # every source weighted 0: nothing is listed
    assert (fusion.fuse({"a": a, "b": b}, 3, {"a": 0.0, "b": 0.0}).indices == -1).all()


def test_prepared_fusion_leaves_out_rows_weighted_zero() -> None:
    """The tuning's re-weighable fusion drops a source's items from the rows that weigh it 0, as fuse does."""
    a = ranked([[(0, 3.0), (1, 2.0)], [(0, 3.0), (1, 2.0)]])
    b = ranked([[(5, 9.0), (6, 7.0)], [(5, 9.0), (6, 7.0)]])
    fusion = WeightedFusion()
    weights = {"a": np.ones(2), "b": np.array([0.0, 1.0])}
    got = fusion.prepare({"a": a, "b": b}, 4)(weights)
    want = fusion.fuse({"a": a, "b": b}, 4, weights)
    assert got.indices.tolist() == want.indices.tolist() == [[0, 1, -1, -1], [0, 5, 1, 6]]
    np.testing.assert_array_equal(got.scores, want.scores)


def test_per_query_weights_switch_the_winner() -> None:
    cf = ranked([[(0, 1.0), (1, 0.0)], [(0, 1.0), (1, 0.0)]])
    content = ranked([[(1, 1.0), (0, 0.0)], [(1, 1.0), (0, 0.0)]])
    weights = {"cf": np.array([0.9, 0.1]), "content": np.array([0.1, 0.9])}
    fused = WeightedFusion().fuse({"cf": cf, "content": content}, k=1, weights=weights)
    assert fused.indices[:, 0].tolist() == [0, 1]


def test_padding_and_short_rows() -> None:
    a = ranked([[(3, 1.0)], []], width=2)
    fused = coldkit.get_fusion("weighted").fuse({"a": a}, k=3)
    assert fused.indices.tolist() == [[3, -1, -1], [-1, -1, -1]]
    assert np.isneginf(fused.scores[1]).all()


def test_bad_input() -> None:
    a = ranked([[(0, 1.0)]])
    b = ranked([[(0, 1.0)], [(1, 1.0)]])
    with pytest.raises(coldkit.InvalidInputError, match="number of queries"):
        WeightedFusion().fuse({"a": a, "b": b}, k=1)
    with pytest.raises(coldkit.InvalidInputError, match="k must be"):
        WeightedFusion().fuse({"a": a}, k=0)
    with pytest.raises(coldkit.InvalidInputError, match="at least one source"):
        ReciprocalRankFusion().fuse({}, k=1)
    with pytest.raises(coldkit.InvalidInputError, match="shape"):
        WeightedFusion().fuse({"a": a}, k=1, weights={"a": np.ones(3)})
    with pytest.raises(coldkit.InvalidInputError, match="non-negative"):
        WeightedFusion().fuse({"a": a}, k=1, weights={"a": -1.0})
    nan = coldkit.Ranked(np.array([[0]]), np.array([[np.nan]], dtype=np.float32))
    with pytest.raises(coldkit.InvalidInputError, match="NaN"):
        WeightedFusion().fuse({"a": nan}, k=1)
    with pytest.raises(ValueError, match="2-D"):
        coldkit.Ranked(np.array([0]), np.array([1.0]))


@pytest.mark.parametrize("fusion", [WeightedFusion(), ReciprocalRankFusion()], ids=["weighted", "rrf"])
def test_bad_weights_and_infinite_scores_are_named(fusion) -> None:  # type: ignore[no-untyped-def]
    a = ranked([[(0, 3.0), (1, 1.0)]])
    # a +inf score (the source's best item) was dropped by weighted fusion as if not listed:
    # {"a": [(0, inf), (1, 1.0)]} fused to [1, -1]
    best = coldkit.Ranked(np.array([[0, 1]]), np.array([[np.inf, 1.0]], dtype=np.float32))
    with pytest.raises(coldkit.InvalidInputError, match=r"'a' has \+inf scores"):
        fusion.fuse({"a": best}, k=2)
    # -inf still marks an excluded item: weighted skips it, the other item keeps its place
    excluded = coldkit.Ranked(np.array([[0, 1]]), np.array([[1.0, -np.inf]], dtype=np.float32))
    assert fusion.fuse({"a": excluded}, k=1).indices.tolist() == [[0]]
    for bad in ("0.7x", 1j):  # were a bare numpy ValueError / TypeError
        with pytest.raises(coldkit.InvalidInputError, match="weight of source 'a' must be a number"):
            fusion.fuse({"a": a}, k=1, weights={"a": bad})
    with pytest.raises(coldkit.InvalidInputError, match="weights must be a mapping"):  # was "unknown source(s) [0.7]"
        fusion.fuse({"a": a}, k=1, weights=[0.7])  # type: ignore[arg-type]


def test_rrf_constant_must_be_a_number() -> None:
    assert ReciprocalRankFusion(c=0).c == 0.0
    for bad in ("60", None, True):  # "60" was a numpy "ufunc 'isfinite' not supported" TypeError
        with pytest.raises(coldkit.InvalidInputError, match="rrf constant c"):
            ReciprocalRankFusion(c=bad)  # type: ignore[arg-type]


@st.composite
def source_sets(draw):  # type: ignore[no-untyped-def]
    batch = draw(st.integers(1, 3))
    n_items = draw(st.integers(1, 12))
    sources = {}
    for name in ("a", "b", "c")[: draw(st.integers(1, 3))]:
        rows = []
        for _ in range(batch):
            items = draw(st.lists(st.integers(0, n_items - 1), unique=True, max_size=n_items))
            # Scores from a small grid so ties happen; sorted best first as sources deliver them.
            scores = sorted((draw(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0])) for _ in items), reverse=True)
            rows.append(list(zip(items, scores)))
        sources[name] = ranked(rows, width=n_items)
    weights = {name: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for name in sources}
    return sources, weights, draw(st.integers(1, n_items + 2))


@settings(max_examples=150, deadline=None)
@given(source_sets(), st.sampled_from(["minmax", "zscore", "none", "rrf"]))
def test_matches_naive_implementation(case, mode) -> None:  # type: ignore[no-untyped-def]
    sources, weights, k = case
    if mode == "rrf":
        fused = ReciprocalRankFusion(c=10).fuse(sources, k, weights)
        expected = naive_fuse(sources, weights, k, "rrf", c=10)
    else:
        fused = WeightedFusion(mode).fuse(sources, k, weights)
        expected = naive_fuse(sources, weights, k, "weighted", mode)
    for row, exp in enumerate(expected):
        got = [(float(s), int(i)) for s, i in zip(fused.scores[row], fused.indices[row]) if i >= 0]
        assert len(got) == len(exp)
        np.testing.assert_allclose([s for s, _ in got], [s for s, _ in exp], rtol=1e-5, atol=1e-6)
        # Ids must agree wherever the expected scores are separated (float32 rounding may swap exact ties).
        for (gs, gi), (es, ei) in zip(got, exp):
            neighbours = [s for s, _ in exp if abs(s - es) < 1e-5]
            if len(neighbours) == 1:
                assert gi == ei


@pytest.mark.parametrize("name", ["weighted", "rrf"])
def test_weight_for_an_unknown_source_is_refused(name: str) -> None:
    a = coldkit.Ranked(np.array([[0, 1]]), np.array([[2.0, 1.0]], dtype=np.float32))
    b = coldkit.Ranked(np.array([[1, 0]]), np.array([[2.0, 1.0]], dtype=np.float32))
    with pytest.raises(coldkit.InvalidInputError, match="unknown source"):
        coldkit.get_fusion(name).fuse({"a": a, "b": b}, k=2, weights={"a": 1.0, "bb": 5.0})


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), width=st.integers(1, 12), items=st.integers(1, 15))
def test_first_occurrences_match_a_row_by_row_reference(seed: int, rows: int, width: int, items: int) -> None:
    """Each row keeps the first valid copy of an item and drops the later ones, whether or not any row
    repeats an item (the no-repeat case takes a shortcut)."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, items, size=(rows, width))
    if rng.random() < 0.5:  # rows without repeats (the common case): distinct items where the range allows
        indices = np.stack([rng.permutation(max(items, width))[:width] for _ in range(rows)])
    valid = rng.random((rows, width)) < 0.8
    want = np.zeros_like(valid)
    for r in range(rows):
        seen: set[int] = set()
        for c in range(width):
            if valid[r, c] and int(indices[r, c]) not in seen:
                want[r, c] = True
                seen.add(int(indices[r, c]))
    np.testing.assert_array_equal(_first_occurrences(indices, valid), want)


@pytest.mark.parametrize("name", ["weighted", "rrf"])
def test_an_item_repeated_in_one_source_counts_once(name: str) -> None:
    # Source "a" lists item 0 twice; its second copy must add nothing, so the fusion equals the
    # fusion of the same source without the repeat (which then ranks item 2 where the copy was).
    repeated = coldkit.Ranked(np.array([[0, 0, 1, 2]]), np.array([[3.0, 3.0, 2.0, 1.0]], dtype=np.float32))
    unique = coldkit.Ranked(np.array([[0, 1, 2, -1]]), np.array([[3.0, 2.0, 1.0, -np.inf]], dtype=np.float32))
    other = coldkit.Ranked(np.array([[1, 0]]), np.array([[2.0, 1.0]], dtype=np.float32))
    fusion = coldkit.get_fusion(name)
    got = fusion.fuse({"a": repeated, "b": other}, k=3)
    want = fusion.fuse({"a": unique, "b": other}, k=3)
    assert got.indices.tolist() == want.indices.tolist()
    np.testing.assert_allclose(got.scores, want.scores)


@settings(max_examples=150, deadline=None)
@given(source_sets(), st.sampled_from(["minmax", "zscore", "none"]))
def test_prepared_fusion_equals_fuse_over_the_weighed_sources(case, mode) -> None:  # type: ignore[no-untyped-def]
    """The tuning's re-weighable fusion gives exactly ``fuse`` over the sources with a positive weight."""
    sources, weights, k = case
    fusion = WeightedFusion(mode)
    prepared = fusion.prepare(sources, k)
    used = {name: ranked for name, ranked in sources.items() if weights[name] > 0}
    got = prepared({name: w for name, w in weights.items() if w > 0})
    if not used:
        assert (got.indices == -1).all()
        return
    expected = fusion.fuse(used, k, {name: weights[name] for name in used})
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.scores, expected.scores)
    # per-query weights are honoured too
    rows = sources["a"].indices.shape[0]
    per_query = {name: np.linspace(0.5, 2.0, rows) for name in sources}
    np.testing.assert_array_equal(prepared(per_query).indices, fusion.fuse(sources, k, per_query).indices)
    with pytest.raises(coldkit.InvalidInputError, match="unknown source"):
        prepared({"nope": 1.0})


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["minmax", "zscore", "none"]), st.integers(1, 4))
def test_prepared_fusion_one_weight_per_source_is_the_per_row_fusion_to_the_bit(seed, mode, named) -> None:  # type: ignore[no-untyped-def]
    """A weight given as one number per source (the tuning's ascent) takes a path of its own (sums over the
    keys); it must give the bits of the same weights given per row (a bincount over every entry), down to
    the float64 totals the lists are cut from: the order of a key's sums decides near ties, and a tie moved
    is another list. Random scores and weights: every mantissa bit counts, so a sum in another order shows."""
    rng = np.random.default_rng(seed)
    batch, n_items, depth = 5, 40, 12
    sources = {}
    for name in ("a", "b", "c", "d"):
        items = np.stack([rng.choice(n_items, depth, replace=False) for _ in range(batch)])
        scores = -np.sort(-rng.standard_normal((batch, depth)).astype(np.float32), axis=1)
        sources[name] = coldkit.Ranked(items, scores)
    weights = {name: float(w) for name, w in zip(list(sources)[:named], rng.uniform(0.0, 3.0, named))}
    if named > 2:
        weights["a"] = 0.0  # a source named with weight 0: it lists nothing and adds nothing
    prepared = WeightedFusion(mode).prepare(sources, 8)
    seen: list[np.ndarray] = []
    best = prepared._layout.best

    def capture(totals: np.ndarray, k: int, listed: np.ndarray | None = None) -> coldkit.Ranked:
        seen.append(np.where(listed, totals, np.nan) if listed is not None else totals)
        return best(totals, k, listed)

    prepared._layout.best = capture  # type: ignore[method-assign]
    scalar = prepared(weights)
    per_row = prepared({name: np.full(batch, w) for name, w in weights.items()})
    np.testing.assert_array_equal(seen[0].view(np.int64), seen[1].view(np.int64))
    np.testing.assert_array_equal(scalar.indices, per_row.indices)
    np.testing.assert_array_equal(scalar.scores.view(np.int32), per_row.scores.view(np.int32))


@pytest.mark.parametrize("dtype, scores", [
    # four float32 neighbours of 0.3 (3 ULPs apart: the noise of a float32 dot product)
    (np.float32, np.float32(0.3) + np.arange(3, -1, -1) * np.spacing(np.float32(0.3))),
    # a plugin handing float64 scores ~1 with a range of 1e-9, below float32 resolution
    (np.float64, 1.0 + np.array([3e-9, 2e-9, 1e-9, 0.0])),
])
@pytest.mark.parametrize("normalization", ["minmax", "zscore"])
def test_a_near_constant_source_does_not_decide_the_order(dtype, scores, normalization) -> None:  # type: ignore[no-untyped-def]
    """A source whose scores over the candidates are one value up to float noise says nothing about the
    query: min-max (or z-score) stretched its noise to the full range and, at its full weight, the
    noise reversed the other sources' order. It must rank as an exact tie does: adding nothing."""
    assert np.ptp(scores.astype(dtype)) > 0 and np.all(np.diff(scores.astype(dtype)) < 0)  # the noise ranks 3 > 2 > 1 > 0
    items = np.array([[3, 2, 1, 0]])
    noise = coldkit.Ranked(items, scores.astype(dtype)[None, :])
    tie = coldkit.Ranked(items, np.full((1, 4), scores[0], dtype=dtype))
    # the real sources agree: 0 > 1 > 2 > 3, by margins a full-weight noise source overturns
    real = coldkit.Ranked(np.array([[0, 1, 2, 3]]), np.array([[1.0, 0.9, 0.8, 0.7]], dtype=np.float32))
    fusion = WeightedFusion(normalization)
    weights = {"real": 0.5, "noise": 1.0}
    got = fusion.fuse({"real": real, "noise": noise}, k=4, weights=weights)
    want = fusion.fuse({"real": real, "noise": tie}, k=4, weights=weights)
    assert want.indices.tolist() == [[0, 1, 2, 3]]  # the independent reference: an exact tie ranks nothing
    assert got.indices.tolist() == want.indices.tolist()
    np.testing.assert_allclose(got.scores, want.scores)
    parts = fusion.contributions({"real": real, "noise": noise}, weights, np.array([[0, 1, 2, 3]]))
    np.testing.assert_array_equal(parts["noise"], 0.0)  # and the why names it for no item
    prepared = fusion.prepare({"real": real, "noise": noise}, 4)(weights)
    assert prepared.indices.tolist() == want.indices.tolist()


def test_a_real_small_spread_still_ranks() -> None:
    """The tolerance is relative to the scores' magnitude: a spread far above float32 resolution is
    information, however small in absolute terms (scores ~1e-6 apart by 1e-8)."""
    small = coldkit.Ranked(np.array([[3, 2, 1, 0]]), np.array([[4e-6, 3e-6, 2e-6, 1e-6]], dtype=np.float32))
    fused = WeightedFusion().fuse({"small": small}, k=4)
    assert fused.indices.tolist() == [[3, 2, 1, 0]]
    np.testing.assert_allclose(fused.scores, [[1.0, 2 / 3, 1 / 3, 0.0]], rtol=1e-6)


def test_rrf_near_constant_source_adds_nothing() -> None:
    """rrf reads ranks, and a near-constant source's ranks are its noise's order (or the item index
    of an exact tie): such a row adds nothing, as under ``weighted``."""
    base = np.float32(0.3)
    noise = coldkit.Ranked(np.array([[3, 2, 1, 0]]), (base + np.arange(3, -1, -1) * np.spacing(base)).astype(np.float32)[None, :])
    tie = coldkit.Ranked(np.array([[3, 2, 1, 0]]), np.full((1, 4), base, dtype=np.float32))
    real = coldkit.Ranked(np.array([[0, 1, 2, 3]]), np.array([[1.0, 0.9, 0.8, 0.7]], dtype=np.float32))
    fusion = ReciprocalRankFusion(c=1)
    weights = {"real": 0.5, "noise": 1.0}
    for source in (noise, tie):
        got = fusion.fuse({"real": real, "noise": source}, k=4, weights=weights)
        assert got.indices.tolist() == [[0, 1, 2, 3]]
        np.testing.assert_allclose(got.scores, fusion.fuse({"real": real}, k=4, weights={"real": 0.5}).scores)
        parts = fusion.contributions({"real": real, "noise": source}, weights, np.array([[0, 1, 2, 3]]))
        np.testing.assert_array_equal(parts["noise"], 0.0)


def test_an_item_whose_total_is_infinite_is_still_listed() -> None:
    """Weights near the float maximum can sum past it: such an item is still an item (first at +inf, last at
    -inf), and -1 only pads a row's end — the list is what the lexsort of every key gave."""
    from coldkit.builtins.fusion import _top_k_of_union

    ranked = _top_k_of_union(
        np.array([0, 0, 1]), np.array([5, 3, 2]), np.array([1.0, np.inf, 2.0]), np.array([0.0, -np.inf, 0.0]), 3, 3
    )
    np.testing.assert_array_equal(ranked.indices, [[3, 5, -1], [2, -1, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(ranked.scores[:2, :2], np.array([[np.inf, 1.0], [-np.inf, -np.inf]], dtype=np.float32))


@settings(max_examples=150, deadline=None)
@given(
    batch=st.integers(1, 30),
    span=st.integers(1, 5_000),
    n=st.integers(0, 3_000),
    few_items=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_union_keys_equal_numpy_unique(batch: int, span: int, n: int, few_items: bool, seed: int) -> None:
    """The dense (row, item) union of the fusions is np.unique's keys and inverse, both branches."""
    from coldkit.builtins.fusion import _union_keys

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, batch, n).astype(np.int64)
    pool = rng.integers(0, span, max(1, span // 100)) if few_items else np.arange(span)  # few: the dense table
    items = rng.choice(pool, n).astype(np.int64)
    keys, inverse, got_span = _union_keys(rows, items, batch)
    span_ref = int(items.max()) + 1 if n else 1
    want_keys, want_inverse = np.unique(rows * span_ref + items, return_inverse=True)
    assert got_span == span_ref
    np.testing.assert_array_equal(keys, want_keys)
    np.testing.assert_array_equal(inverse, want_inverse.ravel())
    assert keys.dtype == want_keys.dtype == np.int64
