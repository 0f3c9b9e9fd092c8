"""Ranking metrics: hand-computed cases, a naive per-user reference, and sklearn's ndcg_score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from coldkit.evaluation import metrics as M
from coldkit.exceptions import InvalidInputError


def truth_of(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items), dtype=bool)
    for u, items in enumerate(rows):
        dense[u, items] = True
    return sp.csr_matrix(dense)


# ---------------------------------------------------------------- hand-computed

RANKED = np.array([[3, 1, 2, 0], [0, 1, 2, 3]])
TRUTH = truth_of([[1, 0], [4]], n_items=5)  # user 0: relevant {0, 1}; user 1: {4}


def test_hand_computed_user0_at_4() -> None:
    # user 0 ranks 3,1,2,0: hits at ranks 2 and 4. user 1: no hit.
    assert M.precision_at_k(RANKED, TRUTH, 4) == pytest.approx([2 / 4, 0.0])
    assert M.recall_at_k(RANKED, TRUTH, 4) == pytest.approx([1.0, 0.0])
    assert M.f1_at_k(RANKED, TRUTH, 4) == pytest.approx([2 * 0.5 * 1.0 / 1.5, 0.0])
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert M.ndcg_at_k(RANKED, TRUTH, 4) == pytest.approx([dcg / idcg, 0.0])
    assert M.hit_rate_at_k(RANKED, TRUTH, 4) == pytest.approx([1.0, 0.0])
    assert M.mrr_at_k(RANKED, TRUTH, 4) == pytest.approx([0.5, 0.0])
    assert M.map_at_k(RANKED, TRUTH, 4) == pytest.approx([(1 / 2 + 2 / 4) / 2, 0.0])


def test_hand_computed_cutoff_two() -> None:
    assert M.precision_at_k(RANKED, TRUTH, 2) == pytest.approx([0.5, 0.0])
    assert M.recall_at_k(RANKED, TRUTH, 2) == pytest.approx([0.5, 0.0])
    # MAP@2 normalises by min(|R|, K) = 2: only the hit at rank 2 (precision 1/2) counts.
    assert M.map_at_k(RANKED, TRUTH, 2) == pytest.approx([0.25, 0.0])
    assert M.ndcg_at_k(RANKED, TRUTH, 2) == pytest.approx([(1 / math.log2(3)) / (1 + 1 / math.log2(3)), 0.0])


def test_padding_and_short_lists_never_hit_and_precision_uses_k() -> None:
    ranked = np.array([[1, -1, -1]])
    truth = truth_of([[1, 2]], 3)
    assert M.precision_at_k(ranked, truth, 3) == pytest.approx([1 / 3])
    assert M.recall_at_k(ranked, truth, 3) == pytest.approx([0.5])
    # A list shorter than k is padded with misses.
    assert M.precision_at_k(np.array([[1]]), truth, 5) == pytest.approx([1 / 5])


def test_repeated_item_counts_once() -> None:
    ranked = np.array([[1, 1, 1]])
    truth = truth_of([[1]], 3)
    assert M.precision_at_k(ranked, truth, 3) == pytest.approx([1 / 3])
    assert M.hit_matrix(ranked, truth, 3)[0].tolist() == [[True, False, False]]


def test_users_without_relevant_items_are_left_out() -> None:
    truth = truth_of([[0], []], 3)
    assert len(M.recall_at_k(np.array([[0, 1], [0, 1]]), truth, 2)) == 1
    with pytest.raises(InvalidInputError, match="no user has a relevant item"):
        M.ranking_metrics(np.array([[0]]), truth_of([[]], 3), 1)


def test_coverage_and_cold_exposure_hand_computed() -> None:
    ranked = np.array([[0, 1, -1], [1, 4, 2]])
    assert M.coverage(ranked, 2, 5) == pytest.approx(3 / 5)  # {0, 1, 4}
    assert M.coverage(ranked, 3, np.array([1, 2, 3, 3])) == pytest.approx(2 / 3)  # {1, 2} of {1, 2, 3}
    cold = np.array([False, False, True, False, True])
    # filled top-3 slots: 0, 1, 1, 4, 2 -> cold ones: 4, 2
    assert M.cold_exposure(ranked, 3, cold) == pytest.approx(2 / 5)
    assert M.cold_exposure(np.full((2, 2), -1), 2, cold) == 0.0


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="2-D"):
        M.recall_at_k(np.array([1, 2]), TRUTH, 2)
    with pytest.raises(InvalidInputError, match="integer"):
        M.recall_at_k(RANKED.astype(float), TRUTH, 2)
    with pytest.raises(InvalidInputError, match="k must"):
        M.recall_at_k(RANKED, TRUTH, 0)
    with pytest.raises(InvalidInputError, match="rows"):
        M.recall_at_k(RANKED[:1], TRUTH, 2)
    with pytest.raises(InvalidInputError, match="outside"):
        M.recall_at_k(np.array([[9, 0], [0, 1]]), TRUTH, 2)


# ---------------------------------------------------------------- independent references


def naive_metrics(ranked: np.ndarray, truth_sets: list[set[int]], k: int) -> dict[str, float]:
    """A plain per-user loop written straight from the textbook definitions."""
    sums = {name: 0.0 for name in M.METRICS}
    users = 0
    for row, relevant in zip(ranked, truth_sets):
        if not relevant:
            continue
        users += 1
        seen: set[int] = set()
        hits = []
        for item in list(row[:k]) + [-1] * (k - len(row[:k])):
            hit = item >= 0 and item in relevant and item not in seen
            seen.add(int(item))
            hits.append(hit)
        h = sum(hits)
        p, r = h / k, h / len(relevant)
        sums["precision"] += p
        sums["recall"] += r
        sums["f1"] += 0.0 if p + r == 0 else 2 * p * r / (p + r)
        dcg = sum(1 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        sums["ndcg"] += dcg / idcg
        sums["hit_rate"] += float(h > 0)
        sums["mrr"] += next((1 / (i + 1) for i, hit in enumerate(hits) if hit), 0.0)
        ap, running = 0.0, 0
        for i, hit in enumerate(hits):
            if hit:
                running += 1
                ap += running / (i + 1)
        sums["map"] += ap / min(len(relevant), k)
    return {f"{name}@{k}": v / users for name, v in sums.items()}


def random_case(seed: int, users: int = 60, items: int = 40, width: int = 15):
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(items)[:width] for _ in range(users)])
    ranked[rng.random(ranked.shape) < 0.05] = -1  # some padding
    truth_sets = [set(rng.choice(items, size=rng.integers(0, 8), replace=False).tolist()) for _ in range(users)]
    truth = truth_of([sorted(s) for s in truth_sets], items)
    return ranked, truth, truth_sets


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_matches_naive_implementation(seed: int, k: int) -> None:
    ranked, truth, truth_sets = random_case(seed)
    got = M.ranking_metrics(ranked, truth, k)
    want = naive_metrics(ranked, truth_sets, k)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert got["users"] == sum(1 for s in truth_sets if s)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(100 + seed)
    users, items = 30, 25
    # Full rankings (no padding): score = items - rank, distinct, so sklearn's tie handling is moot.
    ranked = np.stack([rng.permutation(items) for _ in range(users)])
    truth_sets = [set(rng.choice(items, size=rng.integers(1, 6), replace=False).tolist()) for _ in range(users)]
    truth = truth_of([sorted(s) for s in truth_sets], items)
    y_true = truth.toarray().astype(float)
    y_score = np.zeros((users, items))
    np.put_along_axis(y_score, ranked, np.arange(items, 0, -1, dtype=float)[None, :].repeat(users, 0), axis=1)
    want = [sklearn_metrics.ndcg_score(y_true[u : u + 1], y_score[u : u + 1], k=k) for u in range(users)]
    assert M.ndcg_at_k(ranked, truth, k) == pytest.approx(want, abs=1e-12)
    assert M.ranking_metrics(ranked, truth, k)[f"ndcg@{k}"] == pytest.approx(np.mean(want), abs=1e-12)


def test_precision_recall_match_sklearn_on_top_k_sets() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    ranked, truth, truth_sets = random_case(7, width=20)
    k = 10
    dense = truth.toarray()
    prec, rec = M.precision_at_k(ranked, truth, k), M.recall_at_k(ranked, truth, k)
    j = 0
    for u in range(len(ranked)):
        if not truth_sets[u]:
            continue
        predicted = np.zeros(dense.shape[1], dtype=bool)
        top = ranked[u, :k]
        predicted[top[top >= 0]] = True
        assert rec[j] == pytest.approx(sklearn_metrics.recall_score(dense[u], predicted, zero_division=0))
        # sklearn's precision divides by the filled slots; ours by K (padding counts as a miss).
        assert prec[j] * k == pytest.approx(sklearn_metrics.precision_score(dense[u], predicted, zero_division=0) * predicted.sum())
        j += 1
