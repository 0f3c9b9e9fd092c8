"""Evaluation: ranking metrics, cold-start protocols, result tables and charts.

Example::

    from coldkit.evaluation import evaluate

    result = evaluate("ml-latest-small", ["popularity", "content:encoder=hashing"])
    print(result.table())
"""

from __future__ import annotations

from coldkit.data.splits import EvalTask, LeakageError, Split, check_no_leakage, cold_item_split, cold_user_split, warm_split
from coldkit.evaluation.metrics import (
    METRICS,
    cold_exposure,
    coverage,
    f1_at_k,
    hit_matrix,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from coldkit.evaluation.report import EvaluationResult
from coldkit.evaluation.runner import PROTOCOLS, ModelChoice, evaluate, make_split

__all__ = [
    "evaluate",
    "EvaluationResult",
    "ModelChoice",
    "PROTOCOLS",
    "make_split",
    "Split",
    "EvalTask",
    "LeakageError",
    "check_no_leakage",
    "cold_item_split",
    "cold_user_split",
    "warm_split",
    "METRICS",
    "ranking_metrics",
    "hit_matrix",
    "precision_at_k",
    "recall_at_k",
    "f1_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "mrr_at_k",
    "map_at_k",
    "coverage",
    "cold_exposure",
]
