"""The paired per-user significance test behind the headline comparison."""

from __future__ import annotations

import numpy as np
import pytest

from coldkit.evaluation import evaluate
from coldkit.evaluation.report import EvaluationResult, headline, paired_test


def _result(a: list[list[float]], b: list[list[float]]) -> EvaluationResult:
    result = EvaluationResult(
        dataset={"name": "t"}, protocol="cold-item", seeds=list(range(len(a))), ks=[20],
        models=["hybrid", "base"], tasks=["cold"],
    )  # fmt: skip
    for seed, (xa, xb) in enumerate(zip(a, b)):
        result.per_user[("hybrid", seed, "cold")] = np.array(xa)
        result.per_user[("base", seed, "cold")] = np.array(xb)
        for model, values in (("hybrid", xa), ("base", xb)):
            result.records.append({"model": model, "seed": seed, "task": "cold", "metric": "recall@20", "value": float(np.mean(values))})
    return result


def test_ten_wins_out_of_ten_give_the_exact_sign_rank_p_value() -> None:
    # every one of 10 pairs favours the model: the exact two-sided p is 2 / 2**10
    gains = [0.1 * (i + 1) for i in range(10)]
    result = _result([gains[:5], gains[5:]], [[0.0] * 5, [0.0] * 5])
    test = paired_test(result, "hybrid", "base", "cold")
    assert test is not None
    assert test["p_value"] == pytest.approx(2 / 2**10)
    assert (test["wins"], test["losses"], test["pairs"]) == (10, 0, 10)
    assert test["mean_difference"] == pytest.approx(np.mean(gains))


def test_identical_models_are_not_significant_and_missing_values_give_none() -> None:
    same = [[0.2, 0.5, 0.0]]
    assert paired_test(_result(same, same), "hybrid", "base", "cold")["p_value"] == 1.0  # type: ignore[index]
    result = _result(same, same)
    del result.per_user[("base", 0, "cold")]
    assert paired_test(result, "hybrid", "base", "cold") is None


def test_a_user_on_several_seeds_is_one_pair_with_its_differences_averaged() -> None:
    """A cold-user split with timestamps reveals the same earliest clicks on every seed: the same (query,
    truth) pair counted once per seed shrank the p-value with --seeds alone. With the users' ids each user
    is one pair, the mean of its differences (scipy's Wilcoxon on those means, an independent reference)."""
    from scipy.stats import wilcoxon

    seed0 = {"u1": (0.5, 0.0), "u2": (0.4, 0.1), "u3": (0.0, 0.2), "u4": (0.3, 0.0), "u5": (0.9, 0.1)}
    seed1 = {"u1": (0.5, 0.0), "u2": (0.1, 0.3), "u6": (0.7, 0.2), "u5": (0.9, 0.1)}  # u1, u5: the same pair again
    result = _result([[a for a, _ in seed0.values()], [a for a, _ in seed1.values()]],
                     [[b for _, b in seed0.values()], [b for _, b in seed1.values()]])
    pooled = paired_test(result, "hybrid", "base", "cold")
    assert pooled is not None and pooled["pairs"] == 9  # no ids: (seed, user) pairs
    result.per_user_ids[(0, "cold")] = np.array(list(seed0), dtype=object)
    result.per_user_ids[(1, "cold")] = np.array(list(seed1), dtype=object)
    test = paired_test(result, "hybrid", "base", "cold")
    means = {}
    for seeds in (seed0, seed1):
        for user, (a, b) in seeds.items():
            means.setdefault(user, []).append(a - b)
    per_user = np.array([np.mean(v) for _, v in sorted(means.items())])
    assert test is not None and test["pairs"] == 6
    assert test["p_value"] == pytest.approx(float(wilcoxon(per_user[per_user != 0]).pvalue))
    assert test["mean_difference"] == pytest.approx(per_user.mean())
    assert (test["wins"], test["losses"]) == (int((per_user > 0).sum()), int((per_user < 0).sum()))


def test_evaluate_reports_the_headline_p_value() -> None:
    result = evaluate("ml-latest-small", ["popularity", "content:encoder=hashing"], seeds=[0], k=[20], max_users=80)
    head = headline(result)
    assert head is not None
    (comparison,) = head["comparisons"]
    assert 0.0 <= comparison["p_value"] <= 1.0
    assert result.per_user[("popularity", 0, "cold")].shape == result.per_user[("content[encoder=hashing]", 0, "cold")].shape
    assert len(result.per_user_ids[(0, "cold")]) == len(result.per_user[("popularity", 0, "cold")])  # each user once
