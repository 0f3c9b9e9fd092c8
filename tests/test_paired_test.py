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


def test_evaluate_reports_the_headline_p_value() -> None:
    result = evaluate("ml-latest-small", ["popularity", "content:encoder=hashing"], seeds=[0], k=[20], max_users=80)
    head = headline(result)
    assert head is not None
    (comparison,) = head["comparisons"]
    assert 0.0 <= comparison["p_value"] <= 1.0
    assert result.per_user[("popularity", 0, "cold")].shape == result.per_user[("content[encoder=hashing]", 0, "cold")].shape
