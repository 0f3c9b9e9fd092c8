"""The LambdaRank stacker: learns the source that carries the answer, is reproducible, round-trips without pickle, falls back."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from coldkit.data import load_dataset, subsample
from coldkit.data.interactions import UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models.hybrid import INTERACTION_ONLY_SOURCES, Hybrid
from coldkit.models.stacker import (
    AGREEMENT_TOP,
    ITEM_FEATURES,
    QUERY_FEATURES,
    Stacker,
    StackInputs,
    StackTask,
    candidate_features,
    content_popularity,
    decided_by_score,
    fit_stacker,
    regime_family,
    stacked_regimes,
)
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Ranked

pytest.importorskip("lightgbm")

N_ITEMS = 300


def _ranking(scores: np.ndarray, depth: int) -> Ranked:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    return Ranked(order.astype(np.int64), np.take_along_axis(scores, order, axis=1).astype(np.float32))


def _truth_task(name: str, batch: int, seed: int) -> tuple[StackTask, sp.csr_matrix]:
    """Two sources: ``oracle`` scores the relevant items highest (with noise below them), ``noise`` is random.

    The weighted blend gives the noise source four times the oracle's weight, so it ranks badly;
    the stacker must learn to follow the oracle.
    """
    rng = np.random.default_rng(seed)
    relevant = rng.random((batch, N_ITEMS)) < 0.03
    relevant[np.arange(batch), rng.integers(0, N_ITEMS, batch)] = True
    oracle = rng.random((batch, N_ITEMS)) + 2.0 * relevant
    noise = rng.random((batch, N_ITEMS))
    sources = {"oracle": _ranking(oracle, 200), "noise": _ranking(noise, 200)}
    blended = get_fusion("weighted").fuse(sources, 100, {"oracle": 0.25, "noise": 1.0})
    inputs = StackInputs(
        sources=sources,
        reach={"oracle": np.ones(batch), "noise": np.ones(batch)},
        blended=blended,
        query_features=np.zeros((batch, len(QUERY_FEATURES)), np.float32),
        item_features=np.zeros((N_ITEMS, len(ITEM_FEATURES)), np.float32),
    )
    truth = sp.csr_matrix(relevant)
    return StackTask(name, inputs, truth), truth


def _recall(indices: np.ndarray, truth: sp.csr_matrix, k: int) -> float:
    """Recall@k by a plain loop (an independent check of the library's vectorised recall)."""
    dense = truth.toarray()
    values = [len(set(indices[b, :k].tolist()) & set(np.flatnonzero(dense[b]).tolist())) / dense[b].sum() for b in range(len(dense))]
    return float(np.mean(values))


def test_stacker_learns_to_follow_the_source_that_is_the_truth() -> None:
    task, _ = _truth_task("n=3", 240, seed=0)
    stacker, notes = fit_stacker([task], ["oracle", "noise"], seed=0, k=20)
    assert stacker is not None, notes
    assert stacker.regimes == ["n=3"]
    fresh, truth = _truth_task("n=3", 120, seed=1)  # queries the stacker never saw
    ranked = stacker.rank(fresh.inputs, k=20)
    blend_recall = _recall(fresh.inputs.blended.indices, truth, 20)
    oracle_recall = _recall(fresh.inputs.sources["oracle"].indices, truth, 20)
    assert oracle_recall > 0.95 and blend_recall < 0.7  # the set-up: the blend listens to the wrong source
    assert _recall(ranked.indices, truth, 20) > 0.9
    # the cross-fitted validation numbers it reports agree with that
    before, after = stacker.validation["n=3"]
    assert after > before + 0.2


def test_same_seed_same_model_and_json_round_trip_without_pickle() -> None:
    task, _ = _truth_task("cold-items", 200, seed=2)
    first, _ = fit_stacker([task], ["oracle", "noise"], seed=7, k=20)
    second, _ = fit_stacker([task], ["oracle", "noise"], seed=7, k=20)
    assert first is not None and second is not None
    assert first.model_text == second.model_text
    text = json.dumps(first.to_json())
    assert "pickle" not in text and "tree" in text  # LightGBM's text format
    loaded = Stacker.from_json(json.loads(text))
    fresh, _ = _truth_task("cold-items", 50, seed=3)
    a, b = first.rank(fresh.inputs, 10), loaded.rank(fresh.inputs, 10)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores)
    with pytest.raises(InvalidInputError, match="stacker"):
        Stacker.from_json({"sources": ["oracle"]})


def test_fold_models_fit_side_by_side_equal_a_serial_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two cross-fit models train in two threads: the validation numbers, the regimes chosen and
    the final model are those of fitting the folds one after the other."""
    from coldkit.models import stacker as stacker_module

    task, _ = _truth_task("cold-items", 300, seed=4)
    side_by_side, notes = fit_stacker([task], ["oracle", "noise"], seed=5, k=20)

    class OneAfterTheOther:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> "OneAfterTheOther":
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def map(self, fn, items):  # type: ignore[no-untyped-def]
            return [fn(item) for item in items]

    monkeypatch.setattr(stacker_module, "ThreadPoolExecutor", OneAfterTheOther)
    serial, serial_notes = fit_stacker([task], ["oracle", "noise"], seed=5, k=20)
    assert side_by_side is not None and serial is not None
    assert side_by_side.validation == serial.validation
    assert side_by_side.regimes == serial.regimes
    assert side_by_side.model_text == serial.model_text
    assert notes == serial_notes


def test_candidate_features_match_a_hand_computed_row() -> None:
    sources = {
        "a": Ranked(np.array([[4, 2, -1]]), np.array([[3.0, 1.0, -np.inf]], np.float32)),
        "b": Ranked(np.array([[2, 7, 4]]), np.array([[5.0, 4.0, 1.0]], np.float32)),
    }
    blended = Ranked(np.array([[2, 4]]), np.array([[0.9, 0.5]], np.float32))
    inputs = StackInputs(
        sources, {"a": np.array([1.0]), "b": np.array([0.0])}, blended,
        np.array([[0.5, 1.0, 0.0, 0.0, 2.0]], np.float32), np.arange(20, dtype=np.float32).reshape(10, 2),
    )  # fmt: skip
    rows, items, x = candidate_features(inputs, ["a", "b"])
    assert rows.tolist() == [0, 0] and items.tolist() == [2, 4]  # b speaks for nobody: its item 7 is no candidate
    # columns: blend score, blend rrank, a score, a rrank, b score, b rrank, agreement, pop gap,
    # 5 query, 2 item features
    np.testing.assert_allclose(x[0, :6], [1.0, 1.0, 0.0, 0.5, np.nan, 0.0])
    np.testing.assert_allclose(x[1, :6], [0.0, 0.5, 1.0, 1.0, np.nan, 0.0])
    # only a speaks and lists both; pop gap = item_log_count (4, 8) - the history's mean (2)
    np.testing.assert_allclose(x[:, 6:8], [[1.0, 2.0], [1.0, 6.0]])
    np.testing.assert_allclose(x[:, 8:13], [[0.5, 1.0, 0.0, 0.0, 2.0]] * 2)
    np.testing.assert_allclose(x[:, 13:], [[4.0, 5.0], [8.0, 9.0]])


def test_a_source_constant_up_to_float_noise_gives_every_candidate_the_same_score_feature() -> None:
    """Its min-max feature is the exact tie's (1 for all), as the weighted fusion reads it: stretched to
    [0, 1], three ULPs of rounding looked to the model like a strong preference."""
    base = np.float32(0.3)
    noisy = (base + np.arange(3, -1, -1) * np.spacing(base)).astype(np.float32)
    sources = {"a": Ranked(np.array([[4, 2, 7, 1]]), noisy[None, :])}
    blended = Ranked(np.array([[1, 2, 4, 7]]), np.array([[0.9, 0.8, 0.7, 0.6]], np.float32))
    inputs = StackInputs(
        sources, {"a": np.array([1.0])}, blended,
        np.zeros((1, len(QUERY_FEATURES)), np.float32), np.zeros((10, len(ITEM_FEATURES)), np.float32),
    )  # fmt: skip
    _, items, x = candidate_features(inputs, ["a"])
    assert items.tolist() == [1, 2, 4, 7]
    np.testing.assert_array_equal(x[:, 2], 1.0)  # a's normalised score: one value, as for an exact tie


def test_agreement_counts_the_speaking_sources_that_list_a_candidate_in_their_top() -> None:
    # query 0: a and b speak; query 1: only a. AGREEMENT_TOP cuts b's list for query 0 after 20 items.
    a = Ranked(np.array([[1, 2, 3], [1, 2, 3]]), np.array([[3.0, 2.0, 1.0]] * 2, np.float32))
    b_items = np.array([[2] + list(range(10, 10 + AGREEMENT_TOP - 1)) + [3], [2, 1, 5] + [-1] * (AGREEMENT_TOP - 2)])
    b = Ranked(b_items, np.where(b_items >= 0, -np.arange(b_items.shape[1], dtype=np.float32), -np.inf))
    blended = Ranked(np.array([[1, 2, 3], [1, 2, 3]]), np.array([[3.0, 2.0, 1.0]] * 2, np.float32))
    queries = np.array([[0.0, 0.0, 0.0, 0.0, np.nan]] * 2, np.float32)  # no clicks: no popularity gap
    inputs = StackInputs({"a": a, "b": b}, {"a": np.ones(2), "b": np.array([1.0, 0.0])}, blended, queries,
                         np.zeros((40, 2), np.float32))  # fmt: skip
    rows, items, x = candidate_features(inputs, ["a", "b"])
    column = Stacker.feature_names_for(["a", "b"]).index("agreement")
    got = {(int(r), int(i)): float(v) for r, i, v in zip(rows, items, x[:, column])}
    # by hand: a lists 1, 2, 3 for both queries; b lists 2 (rank 1) for query 0 and 3 only at rank 21
    assert got[(0, 1)] == 1.0 and got[(0, 2)] == 2.0 and got[(0, 3)] == 1.0  # b's item 3 is at rank 21
    assert got[(1, 1)] == 1.0 and got[(1, 2)] == 1.0 and got[(1, 3)] == 1.0  # b speaks for nobody in row 1
    assert np.isnan(x[:, Stacker.feature_names_for(["a", "b"]).index("pop_gap")]).all()


def test_places_decided_only_by_an_items_index_count_as_unlisted() -> None:
    """Hand-computed: a tie cut by the list's depth (or filling a full list's end) is file order, not information."""
    full_ties = Ranked(np.array([[0, 1, 2, 3]]), np.array([[0.0, 0.0, 0.0, 0.0]], np.float32))  # e.g. popularity of cold items
    assert not decided_by_score(full_ties).any()
    distinct = Ranked(np.array([[5, 1, 2, 3]]), np.array([[4.0, 3.0, 2.0, 1.0]], np.float32))
    assert decided_by_score(distinct).all()
    tail_tie = Ranked(np.array([[5, 1, 2, 3]]), np.array([[4.0, 3.0, 1.0, 1.0]], np.float32))
    assert decided_by_score(tail_tie).tolist() == [[True, True, False, False]]
    # a cut at depth 2 through a tie with the third entry; a short (padded) list is complete
    cut = Ranked(np.array([[5, 1, 2, -1]]), np.array([[4.0, 2.0, 2.0, -np.inf]], np.float32))
    assert decided_by_score(cut, 2).tolist() == [[True, False]]
    assert decided_by_score(cut).tolist() == [[True, True, True, False]]


def test_candidate_features_carry_no_item_index_through_ties() -> None:
    """Renumbering the items permutes the candidates and leaves every feature row as it was.

    One source scores all items alike (popularity of cold items: zeros listed in index order), one
    ranks by a real signal, the blend follows the signal; the all-tied source must add neither
    candidates nor features, and tied scores share their rank.
    """
    rng = np.random.default_rng(5)
    n_items, batch = 60, 8
    signal = np.round(rng.random((batch, n_items)) * 4) / 4  # coarse: many ties inside the list
    perm = rng.permutation(n_items)  # new index j holds old item perm[j]

    def features(order: np.ndarray) -> dict[tuple[int, int], tuple[float, ...]]:
        sig = signal[:, order]
        sources = {"flat": _ranking(np.zeros((batch, n_items)), 30), "signal": _ranking(sig, 30)}
        blended = get_fusion("weighted").fuse({"signal": sources["signal"]}, 20, {"signal": 1.0})
        item_feats = np.zeros((n_items, len(ITEM_FEATURES)), np.float32)
        inputs = StackInputs(
            sources, {"flat": np.ones(batch), "signal": np.ones(batch)}, blended,
            np.zeros((batch, len(QUERY_FEATURES)), np.float32), item_feats,
        )  # fmt: skip
        rows, items, x = candidate_features(inputs, ["flat", "signal"], pool=20)
        assert np.isnan(x[:, 2]).all() and not x[:, 3].any()  # the flat source says nothing
        return {(int(r), int(order[i])): tuple(np.nan_to_num(row, nan=-9.0).round(6)) for r, i, row in zip(rows, items, x)}

    original, renumbered = features(np.arange(n_items)), features(perm)
    shared = set(original) & set(renumbered)
    # the pools differ only where the blend's own 20-deep cut falls inside a tie (the signal is coarse)
    assert len(shared) > 0.6 * len(original)
    for key in shared:
        assert original[key] == renumbered[key], key  # no feature of a candidate moves with its index


def test_content_popularity_in_row_blocks_is_the_whole_tables_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predicted a few rows at a time (the float64 table is never whole), each item's value is the one
    the whole-table formula gives, element for element; float32 and float64 input alike."""
    from coldkit.models import stacker

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((53, 9)).astype(np.float32)
    vectors[[4, 20]] = 0
    counts = np.where(rng.random(53) < 0.6, rng.integers(1, 40, 53), 0)
    x = vectors.astype(np.float64)
    y = np.log1p(counts.astype(np.float64))
    seen = y > 0
    xc = x[seen] - x[seen].mean(axis=0)
    coef = np.linalg.solve(xc.T @ xc + 10.0 * np.eye(9), xc.T @ (y[seen] - y[seen].mean()))
    reference = ((x - x[seen].mean(axis=0)) @ coef + y[seen].mean()).astype(np.float32)
    whole = content_popularity(vectors, counts)
    np.testing.assert_allclose(whole, reference, rtol=1e-6, atol=1e-6)
    monkeypatch.setattr(stacker, "_PREDICT_ROWS", 7)
    assert content_popularity(vectors, counts).tobytes() == whole.tobytes()
    assert content_popularity(x, counts).tobytes() == whole.tobytes()


def test_content_popularity_is_the_ridge_fit_of_sklearn() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    counts = rng.integers(0, 30, 60)
    seen = counts > 0
    reference = Ridge(alpha=10.0).fit(vectors[seen], np.log1p(counts[seen])).predict(vectors)
    np.testing.assert_allclose(content_popularity(vectors, counts, l2=10.0), reference, rtol=1e-4, atol=1e-4)
    assert not content_popularity(vectors, np.zeros(60)).any()


def test_no_lightgbm_means_the_weighted_blend_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    task, _ = _truth_task("n=1", 100, seed=4)
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises ImportError
    stacker, notes = fit_stacker([task], ["oracle", "noise"])
    assert stacker is None and len(notes) == 1 and "lightgbm is not installed" in notes[0]


def test_tiny_validation_split_falls_back_with_one_line_note() -> None:
    task, _ = _truth_task("n=1", 20, seed=5)
    stacker, notes = fit_stacker([task], ["oracle", "noise"], min_queries=50)
    assert stacker is None and len(notes) == 1 and "too small" in notes[0]


@pytest.fixture(scope="module")
def small_data():  # type: ignore[no-untyped-def]
    return subsample(load_dataset(), max_users=150, max_items=400, seed=0).interactions


def test_hybrid_with_stacker_is_deterministic_and_ranks_only_allowed_items(small_data) -> None:  # type: ignore[no-untyped-def]
    first = Hybrid(encoder="hashing", cache=False).fit(small_data)
    second = Hybrid(encoder="hashing", cache=False).fit(small_data)
    assert any(note.startswith("stacker") for note in first.notes_) or any("too small" in n for n in first.notes_)
    if first.stacker_ is not None:
        assert second.stacker_ is not None and first.stacker_.model_text == second.stacker_.model_text
    queries = [UserQuery(user=u) for u in range(20)] + [UserQuery(history=np.array([1, 5, 9]))]
    candidates = np.arange(0, 400, 3)
    a = first.recommend(queries, k=10, candidates=candidates)
    b = second.recommend(queries, k=10, candidates=candidates)
    np.testing.assert_array_equal(a.indices, b.indices)
    valid = a.indices[a.indices >= 0]
    assert np.isin(valid, candidates).all()
    known = small_data.matrix.tocsr()
    for u in range(20):  # known items are excluded, as without the stacker
        assert not np.isin(a.indices[u], known[u].indices).any()
        row = a.indices[u][a.indices[u] >= 0]
        assert len(set(row.tolist())) == len(row)
    # the cold-user query feature: the mean log(1 + interactions) of the clicked items (NaN without clicks)
    features = first._query_features([queries[0], queries[-1], UserQuery()], cold_candidates=False)
    counts = np.asarray((known > 0).sum(axis=0)).ravel()
    column = QUERY_FEATURES.index("history_log_pop")
    assert features[0, column] == pytest.approx(np.log1p(counts[known[0].indices]).mean(), rel=1e-5)
    assert features[1, column] == pytest.approx(np.log1p(counts[[1, 5, 9]]).mean(), rel=1e-5)
    assert np.isnan(features[2, column]) and features[2, QUERY_FEATURES.index("log_known")] == 0.0


def test_sources_without_popularity_keep_it_out_of_the_stacker(small_data) -> None:  # type: ignore[no-untyped-def]
    """sources=["tfidf", "cf"] is a user's ablation: the stacker read popularity all the same (counts as features)."""
    model = Hybrid(encoder="hashing", cache=False, sources=["tfidf", "cf"]).fit(small_data)
    assert not model._item_features.any()  # type: ignore[union-attr]
    queries = [UserQuery(user=0), UserQuery(history=np.array([1, 5, 9]))]
    features = model._query_features(queries, cold_candidates=False)
    assert np.isnan(features[:, QUERY_FEATURES.index("history_log_pop")]).all()
    assert features[1, QUERY_FEATURES.index("log_known")] == pytest.approx(np.log1p(3))  # the clicks still count
    with_popularity = Hybrid(encoder="hashing", cache=False, sources=["tfidf", "cf", "popularity"]).fit(small_data)
    assert with_popularity._item_features.any()  # type: ignore[union-attr]


def test_hybrid_on_a_tiny_catalogue_keeps_the_default_weights_with_a_note(small_data) -> None:  # type: ignore[no-untyped-def]
    tiny = subsample(load_dataset(), max_users=15, max_items=12, seed=0).interactions
    model = Hybrid(encoder="hashing", cache=False).fit(tiny)
    assert model.stacker_ is None and model.learned_ is None
    assert sum("validation split too small" in note for note in model.notes_) == 1
    # one line about tuning, not one per task that could not be carved (the warm-model and attribute notes aside)
    assert [note for note in model.notes_ if "warm='auto'" not in note and "item attributes" not in note] == [
        "hybrid: validation split too small to tune on; using the default weights"
    ]
    assert model.recommend([UserQuery(user=0)], k=3).indices.shape == (1, 3)


def test_new_item_cross_fit_does_not_reward_memorising_items() -> None:
    """A stacker that can only recognise *which* pseudo-cold items are liked (a per-item value that
    says nothing about new items) wins a users-only cross-fit, but must lose the items-and-users one."""
    rng = np.random.default_rng(11)
    batch = 300
    liked = rng.random(N_ITEMS) < 0.08  # the same items are liked by everyone...
    relevant = liked[None, :] & (rng.random((batch, N_ITEMS)) < 0.6)
    relevant[np.arange(batch), np.flatnonzero(liked)[rng.integers(0, liked.sum(), batch)]] = True
    identity = rng.random(N_ITEMS)  # ...and only an item's identity says so
    noise = {"noise": _ranking(rng.random((batch, N_ITEMS)), 200)}
    blended = get_fusion("weighted").fuse(noise, 100, {"noise": 1.0})
    item_feats = np.column_stack([np.zeros(N_ITEMS), identity]).astype(np.float32)
    inputs = StackInputs(noise, {"noise": np.ones(batch)}, blended, np.zeros((batch, len(QUERY_FEATURES)), np.float32), item_feats)
    truth = sp.csr_matrix(relevant)
    as_users, _ = fit_stacker([StackTask("cold-items", inputs, truth)], ["noise"], seed=0, k=20)
    assert as_users is not None  # shared items: memorising them looks like a win
    as_items, notes = fit_stacker([StackTask("cold-items", inputs, truth, cold_items=True)], ["noise"], seed=0, k=20)
    assert as_items is None and "not significantly better" in notes[0]


def test_new_item_cross_fit_learns_no_label_of_its_items_from_other_tasks() -> None:
    """The same pseudo-cold items come as candidates of other tasks too (a masked-click user clicks
    one; a second carve has the first's pseudo-cold items as warm ones). Their labels there, learned
    by the model scored on those items, made memorising them look like a win for new items."""
    rng = np.random.default_rng(11)
    batch = 300
    liked = rng.random(N_ITEMS) < 0.08
    identity = rng.random(N_ITEMS)  # only an item's identity says it is liked
    item_feats = np.column_stack([np.zeros(N_ITEMS), identity]).astype(np.float32)

    def task(name: str, cold_items: bool) -> StackTask:
        relevant = liked[None, :] & (rng.random((batch, N_ITEMS)) < 0.6)
        relevant[np.arange(batch), np.flatnonzero(liked)[rng.integers(0, liked.sum(), batch)]] = True
        noise = {"noise": _ranking(rng.random((batch, N_ITEMS)), 200)}
        blended = get_fusion("weighted").fuse(noise, 100, {"noise": 1.0})
        inputs = StackInputs(noise, {"noise": np.ones(batch)}, blended, np.zeros((batch, len(QUERY_FEATURES)), np.float32), item_feats)
        return StackTask(name, inputs, sp.csr_matrix(relevant), cold_items=cold_items)

    stacker, notes = fit_stacker([task("cold-items", True), task("warm", False)], ["noise"], seed=0, k=20)
    assert stacker is not None and stacker.regimes == ["warm"], notes  # warm items may be recognised: they are known
    cold_before, cold_after = stacker.validation["cold-items"]
    assert cold_after <= cold_before + 0.02, notes  # memorised labels no longer carry over to new items


def test_new_item_cross_fit_scores_each_fold_on_its_own_items_only() -> None:
    """The new-item cross-fit masks the truth to a fold's items with multiply(), which kept the other
    fold's items as stored False: counted as relevant, a blend that lists every relevant item first
    scored about 0.5 instead of 1.0, and users with nothing to find in the fold were compared too."""
    rng = np.random.default_rng(3)
    batch = 200
    relevant = rng.random((batch, N_ITEMS)) < 0.02
    relevant[np.arange(batch), rng.integers(0, N_ITEMS, batch)] = True
    assert relevant.sum(axis=1).max() <= 20  # the oracle's top 20 holds every relevant item
    oracle = {"oracle": _ranking(rng.random((batch, N_ITEMS)) + 2.0 * relevant, 200)}
    blended = get_fusion("weighted").fuse(oracle, 100, {"oracle": 1.0})
    inputs = StackInputs(
        oracle, {"oracle": np.ones(batch)}, blended,
        np.zeros((batch, len(QUERY_FEATURES)), np.float32), np.zeros((N_ITEMS, len(ITEM_FEATURES)), np.float32),
    )  # fmt: skip
    stacker, notes = fit_stacker([StackTask("cold-items", inputs, sp.csr_matrix(relevant), cold_items=True)], ["oracle"], seed=0, k=20)
    assert stacker is None  # nothing beats a perfect blend
    assert "cold-items 1.0000->" in notes[0], notes


def _gains(mean: float, spread: float, size: int, seed: int) -> np.ndarray:
    """Per-query gains with exactly this mean and sample std (so the paired t is known: mean / (spread / sqrt(size)))."""
    z = np.random.default_rng(seed).normal(size=size)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + spread * z


def test_cold_user_regimes_with_clicks_are_decided_together() -> None:
    # each n alone: t = 0.015 / (0.1 / sqrt(100)) = 1.5 < 2; pooled over 4 x 100 queries: t ~= 3.0 > 3
    weak = {f"n={n}": _gains(0.0152, 0.1, 100, seed=n) for n in (1, 3, 5, 10)}
    assert all(regime_family(name) == "clicks" for name in weak)
    assert regime_family("n=0") is None and regime_family("warm") is None and regime_family("cold-items") is None
    chosen = stacked_regimes({"cold-items": _gains(0.05, 0.1, 100, 9), "n=0": _gains(0.0152, 0.1, 100, 8), **weak})
    assert chosen == ["cold-items", "n=1", "n=3", "n=5", "n=10"]  # n=0 is decided alone: t = 1.5
    # one member losing keeps the whole family on the blend (unless a member passes on its own)
    losing = {**weak, "n=10": _gains(-0.001, 0.1, 100, 10), "n=1": _gains(0.03, 0.1, 100, 11)}
    assert stacked_regimes(losing) == ["n=1"]  # n=1 alone: t = 3
    # pooled t below 3: nothing
    assert stacked_regimes({f"n={n}": _gains(0.01, 0.1, 100, n) for n in (1, 3, 5, 10)}) == []


def test_the_stacker_fit_overlapping_the_final_fit_gives_the_same_model_and_never_outlives_a_failed_fit(
    small_data, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    """The stacker trains in a thread while the sources are refitted: the same stacker, lists and notes
    as fitting it first; a final fit that fails raises its own error, with no stacker thread left running."""
    import threading
    import time

    from coldkit.models import hybrid as hybrid_module

    overlapped = Hybrid(encoder="hashing", cache=False).fit(small_data)
    calls: list[str] = []
    original_fit_stacker = hybrid_module.fit_stacker

    def slow_fit_stacker(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # still training when the final fit of the sources starts
        calls.append("stacker")
        return original_fit_stacker(*args, **kwargs)

    monkeypatch.setattr(hybrid_module, "fit_stacker", slow_fit_stacker)
    slow = Hybrid(encoder="hashing", cache=False).fit(small_data)
    assert calls == ["stacker"]
    assert (overlapped.stacker_ is None) == (slow.stacker_ is None)
    if overlapped.stacker_ is not None:
        assert slow.stacker_ is not None and overlapped.stacker_.model_text == slow.stacker_.model_text
    assert overlapped.notes_ == slow.notes_  # the stacker's note before the warm-model note, as before
    queries = [UserQuery(user=u) for u in range(10)]
    np.testing.assert_array_equal(overlapped.recommend(queries, k=5).indices, slow.recommend(queries, k=5).indices)

    original_fit_sources = Hybrid._fit_sources
    fits: list[int] = []

    def failing_final_fit(self, train):  # type: ignore[no-untyped-def]
        fits.append(1)
        if len(fits) == 2:  # the validation fit passes, the final fit fails
            raise RuntimeError("disk full")
        return original_fit_sources(self, train)

    monkeypatch.setattr(Hybrid, "_fit_sources", failing_final_fit)
    with pytest.raises(RuntimeError, match="disk full"):
        Hybrid(encoder="hashing", cache=False).fit(small_data)
    workers = [t for t in threading.enumerate() if t.name.startswith("coldkit-stacker")]
    for worker in workers:  # its task is done (the fit waited for it); the idle worker exits right after
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)


def test_no_stacker_for_new_items_when_each_fold_would_rank_its_whole_pool() -> None:
    """Pools of 22 pseudo-cold items: each cross-fit fold ranks ~11, so a top 20 lists them all (1.0 -> 1.0)."""
    train = subsample(load_dataset(), max_users=250, max_items=450, seed=0).interactions
    model = Hybrid(encoder="hashing", cache=False).fit(train)
    assert any("no stacker for new items: a pool of 22 pseudo-cold items" in note for note in model.notes_)
    assert not any("cold-items" in note for note in model.notes_ if note.startswith("stacker"))
    assert model.learned_ is not None  # the blend's cold-item weights were still tuned on the 22 + 23 items


def _without(stacker: Stacker, x: np.ndarray, source: str) -> np.ndarray:
    """``x`` with ``source``'s features as for an item it did not list (score missing, rank 0)."""
    names = stacker.feature_names()
    out = x.copy()
    out[:, names.index(f"{source}_score")] = np.nan
    out[:, names.index(f"{source}_rrank")] = 0.0
    return out


def test_stacker_parts_sum_to_its_score_and_name_the_source_it_followed() -> None:
    """The stacker follows the oracle while the blend weighs the noise four times as much: the parts of
    its top items are the oracle's, and the independent check agrees — leaving the oracle's features out
    drops the item's score more than leaving the noise's out."""
    task, _ = _truth_task("n=3", 240, seed=0)
    stacker, notes = fit_stacker([task], ["oracle", "noise"], seed=0, k=20)
    assert stacker is not None, notes
    fresh, _ = _truth_task("n=3", 40, seed=1)
    ranked = stacker.rank(fresh.inputs, k=3)
    parts = stacker.feature_parts(fresh.inputs, ranked.indices)
    # SHAP values plus the bias are the raw score rank() ordered by (float32 in Ranked)
    np.testing.assert_allclose(sum(parts.values()), ranked.scores, rtol=1e-5, atol=1e-5)
    blend_parts = get_fusion("weighted").contributions(  # type: ignore[attr-defined]
        fresh.inputs.sources, {"oracle": 0.25, "noise": 1.0}, ranked.indices
    )
    by_source = stacker.source_parts(fresh.inputs, ranked.indices, blend_parts)
    assert set(by_source) == {"oracle", "noise"}
    n_items = fresh.inputs.item_features.shape[0]
    keys = (np.arange(40)[:, None] * n_items + ranked.indices).ravel()
    from coldkit.models.stacker import _features_at

    x = _features_at(fresh.inputs, stacker.sources, keys)
    score = stacker._booster.predict(x)
    drop = {s: score - stacker._booster.predict(_without(stacker, x, s)) for s in ("oracle", "noise")}
    named = np.where(by_source["oracle"].ravel() >= by_source["noise"].ravel(), "oracle", "noise")
    ablated = np.where(drop["oracle"] >= drop["noise"], "oracle", "noise")
    assert (named == "oracle").mean() > 0.9  # the stacker's parts name the source it follows...
    assert (named == ablated).mean() > 0.9  # ...the one whose removal moves the score most
    # while the blend's own parts (what the explanation used to give) name the noise for most of them
    assert (blend_parts["noise"] > blend_parts["oracle"]).mean() > 0.5
    with pytest.raises(InvalidInputError, match="feature_parts"):
        stacker.feature_parts(fresh.inputs, ranked.indices[:2])  # rows of another batch
    with pytest.raises(InvalidInputError, match="item indices"):
        stacker.feature_parts(fresh.inputs, np.full((40, 1), N_ITEMS))


def test_extend_ranked_appends_the_longer_rankings_new_items_below_the_head() -> None:
    from coldkit.models._ranking import extend_ranked

    head = Ranked(np.array([[4, 2, -1, -1], [7, 1, 3, 5]]), np.array([[0.9, 0.5, -np.inf, -np.inf], [1, 0.8, 0.7, 0.6]], np.float32))
    tail = Ranked(np.array([[2, 6, 4, 0, 9], [3, 8, 7, 6, -1]]), np.array([[3.0, 2.0, 1.5, 0.2, 0.1], [9, 8, 7, 6, -np.inf]], np.float32))
    out = extend_ranked(head, tail, 5)
    # by hand: row 0 keeps 4, 2 then the tail's new items 6, 0, 9 in its order, scores capped at 0.5 then 0.2, 0.1
    np.testing.assert_array_equal(out.indices, [[4, 2, 6, 0, 9], [7, 1, 3, 5, 8]])
    np.testing.assert_array_equal(out.scores, np.array([[0.9, 0.5, 0.5, 0.2, 0.1], [1, 0.8, 0.7, 0.6, 0.6]], np.float32))


def test_a_longer_list_begins_with_the_shorter_one(small_data) -> None:  # type: ignore[no-untyped-def]
    """Asking for more items used to rank every source deeper and re-normalise, so the head changed with k
    (untuned, ml-latest-small: the top 20 of a k = 300 list were the k = 20 list for 53 % of users). The blend's
    list is steady at any k, the stacker's up to its pool (POOL), with items after them from the deeper fusion."""
    import lightgbm

    from coldkit.models.stacker import POOL

    untuned = Hybrid(encoder="hashing", cache=False, tune=False).fit(small_data)
    stacked = Hybrid(encoder="hashing", cache=False).fit(small_data)
    sources = stacked._served_sources()
    names = Stacker.feature_names_for(sources)
    rng = np.random.default_rng(0)
    x = rng.random((3000, len(names))).astype(np.float32)
    labels = (x[:, names.index("popularity_score")] > 0.7).astype(np.float64)
    booster = lightgbm.train(
        {"objective": "lambdarank", "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0},
        lightgbm.Dataset(x, label=labels, group=[30] * 100), num_boost_round=30,
    )
    stacked.stacker_ = Stacker(sources, ["warm"], booster.model_to_string())  # answers the warm users below
    queries = [UserQuery(user=u) for u in range(0, 150, 5)] + [UserQuery(history=np.array([1, 5, 9]))]
    assert stacked.learned_ is not None
    answered = [stacked._stacker_of(stacked.learned_.regime_of(int(stacked._known_items(q).size), False)) for q in queries]
    assert any(a is not None for a in answered) and any(a is None for a in answered)  # both paths in one batch
    n_items = small_data.n_items
    assert n_items > untuned.depth + 50
    for model, short in ((untuned, 20), (stacked, 20), (stacked, POOL)):
        first = model.recommend(queries, k=short)
        for k in (short + 1, POOL + 30, model.depth + 30, n_items):
            longer = model.recommend(queries, k=k)
            np.testing.assert_array_equal(longer.indices[:, :short], first.indices)
            np.testing.assert_array_equal(longer.scores[:, :short], first.scores)
            for row, scores in zip(longer.indices, longer.scores):
                listed = row[row >= 0]
                assert len(set(listed.tolist())) == listed.size  # no item twice
                assert np.all(np.diff(scores[: listed.size]) <= 0)  # never rising
            known = small_data.matrix.tocsr()
            for q, row in zip(queries[:-1], longer.indices):  # known items stay out of the appended part too
                assert not np.isin(row, known[q.user].indices).any()
    # the full catalogue asked: every unknown item once, the head first
    everything = untuned.recommend(queries[:3], k=n_items)
    for q, row in zip(queries[:3], everything.indices):
        assert (row >= 0).sum() == n_items - small_data.matrix.tocsr()[q.user].nnz


def test_hybrid_explains_the_stackers_ranking_not_the_blends(small_data) -> None:  # type: ignore[no-untyped-def]
    """A stacker that ranks by popularity alone answers a warm user whose blend is CF's: the explanation
    must name popularity (the stacker's reason), as leaving each source's features out confirms."""
    import lightgbm

    model = Hybrid(encoder="hashing", cache=False).fit(small_data)  # its own stacker loses on these data: replaced below
    assert model.learned_ is not None
    sources = model._served_sources()
    assert "popularity" in sources and "cf" in sources
    names = Stacker.feature_names_for(sources)
    rng = np.random.default_rng(0)
    x = rng.random((3000, len(names))).astype(np.float32)
    labels = (x[:, names.index("popularity_score")] > 0.7).astype(np.float64)  # popularity alone decides
    booster = lightgbm.train(
        {"objective": "lambdarank", "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0},
        lightgbm.Dataset(x, label=labels, group=[30] * 100), num_boost_round=30,
    )
    model.stacker_ = Stacker(sources, ["warm"], booster.model_to_string())
    query = UserQuery(user=int(np.argmax(np.diff(small_data.matrix.tocsr().indptr))))  # the most active user: warm
    assert model.learned_.regime_of(int(model._known_items(query).size), False) == "warm"
    top = int(model.recommend([query], k=1).indices[0, 0])
    given: dict = {}
    lists = {name: ranker for name, ranker in model._rankers([query], model.depth, None, True).items()}
    from coldkit.models.blend import blend, source_parts, speaking_sources

    blend(lists, model.query_weights([query], None), model.fusion, 1, inputs=given)
    blend_named = speaking_sources({n: float(p[0, 0]) for n, p in source_parts(model.fusion, given["sources"], given["weights"], np.array([[top]])).items()})
    assert "popularity" not in blend_named  # the set-up: the blend would explain it by CF's sources
    named = model.explaining_sources(query, top)
    assert named and named[0] == "popularity"
    assert "popular: " in model.explain(query, top)
    # independent check: leaving each source's features out of the stacker's row, popularity's moves the score most
    inputs = model._stacker_inputs(model.stacker_, query, {n: r for n, r in model._rankers([query], model.depth, None, True).items()})
    from coldkit.models.stacker import _features_at

    row = _features_at(inputs, sources, np.array([top], dtype=np.int64))
    stacker = model.stacker_
    drops = {s: float(stacker._booster.predict(row)[0] - stacker._booster.predict(_without(stacker, row, s))[0]) for s in sources}
    assert max(drops, key=lambda s: drops[s]) == "popularity"


def test_hybrid_explains_a_cold_candidate_by_the_score_that_ranked_it(small_data) -> None:  # type: ignore[no-untyped-def]
    """Ranked from a cold-item split's candidates, the stacker read the cold-candidate feature, the lists over
    the candidates and the cold set's weights; the explanation read them as for the whole catalogue
    (cold=False) and so explained another score. Its parts must sum to the score recommend gave."""
    import lightgbm

    from coldkit.data.splits import cold_item_split

    split = cold_item_split(small_data, seed=0)
    model = Hybrid(encoder="hashing", cache=False).fit(split.train)
    assert model.learned_ is not None
    sources = model._served_sources()
    names = Stacker.feature_names_for(sources)
    rng = np.random.default_rng(0)
    x = rng.random((3000, len(names))).astype(np.float32)
    cold = x[:, names.index("cold_candidates")] > 0.5
    # over cold candidates the content decides, else popularity: the cold flag moves every score
    labels = np.where(cold, x[:, names.index("content_score")] > 0.6, x[:, names.index("popularity_score")] > 0.6)
    booster = lightgbm.train(
        {"objective": "lambdarank", "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 0},
        lightgbm.Dataset(x, label=labels.astype(np.float64), group=[30] * 100), num_boost_round=30,
    )
    model.stacker_ = Stacker(sources, ["warm"], booster.model_to_string())
    cand = split.tasks["cold"].candidates
    assert cand is not None and not split.train.item_counts()[cand].any()
    query = UserQuery(user=int(np.argmax(np.diff(split.train.matrix.tocsr().indptr))))
    assert model.learned_.regime_of(int(model._known_items(query).size), True) == "warm"  # the stacker ranks it
    ranked = model.recommend([query], k=5, candidates=cand)
    top = ranked.indices[:, ranked.indices[0] >= 0]
    parts = model._stacker_feature_parts(query, top, cand)
    assert parts is not None
    # the independent reference: the scores recommend ranked by (SHAP parts plus bias sum to the raw score)
    np.testing.assert_allclose(sum(parts.values()), ranked.scores[:, : top.shape[1]], rtol=1e-5, atol=1e-5)
    assert (parts["cold_candidates"] != 0).any()
    whole = model._stacker_feature_parts(query, top, None)  # what the explanation used to compute
    assert whole is not None and not np.allclose(sum(whole.values()), ranked.scores[:, : top.shape[1]], atol=1e-3)
    item = int(top[0, 0])
    named = model.explaining_sources(query, item, candidates=cand)
    # the sources silent over cold candidates (they read interactions only) gave the ranking nothing to explain by
    assert named and not set(named) & set(INTERACTION_ONLY_SOURCES)
    assert model.explain(query, item, candidates=cand)
    warm_item = int(np.flatnonzero(split.train.item_counts() > 0)[0])
    with pytest.raises(InvalidInputError, match="not among the 40 candidates"):
        model.explain(query, warm_item, candidates=cand)


def test_one_regimes_tasks_from_several_carves_are_pooled_into_one_decision() -> None:
    """The hybrid's second carve gives each regime a second task of the same name: the stacker splits
    each task in halves of its own, and decides and reports the regime once, over both tasks' queries."""
    first, truth_a = _truth_task("n=3", 120, seed=0)
    second, truth_b = _truth_task("n=3", 90, seed=5)
    stacker, notes = fit_stacker([first, second], ["oracle", "noise"], seed=0, k=20)
    assert stacker is not None, notes
    assert stacker.regimes == ["n=3"] and list(stacker.validation) == ["n=3"]
    (note,) = notes
    assert note.split("blend->stacker:")[1].count("n=3 ") == 1  # one validation pair for the regime
    # every query is held out in exactly one cross-fit half, so the blend's side is its recall over both tasks
    before, after = stacker.validation["n=3"]
    blend = (120 * _recall(first.inputs.blended.indices, truth_a, 20) + 90 * _recall(second.inputs.blended.indices, truth_b, 20)) / 210
    assert before == pytest.approx(blend, abs=1e-9)
    assert after > before + 0.2
