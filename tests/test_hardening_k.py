"""Issue 14: a ``k`` larger than the catalogue is capped before anything is allocated (models, CLI)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldkit.cli import main
from coldkit.data.interactions import UserQuery
from coldkit.models.registry import build_model, model_accepts
from coldkit.testing import synthetic_interactions
from coldkit.validation import check_k

HUGE = 10**12


def test_check_k_caps_at_most_but_still_refuses_bad_values() -> None:
    assert check_k(HUGE, at_most=300) == 300
    assert check_k(5, at_most=300) == 5
    assert check_k(5, at_most=0) == 1  # never below 1
    with pytest.raises(Exception, match="k must be >= 1"):
        check_k(0, at_most=300)


@pytest.mark.parametrize("name", ["popularity", "item-knn", "ease", "content", "cold-ridge", "hybrid", "random"])
def test_a_huge_k_ranks_the_whole_catalogue_without_allocating_for_it(name: str) -> None:
    train, profiles, _ = synthetic_interactions(0)
    options = {"encoder": "hashing"} if model_accepts(name, "encoder") else {}
    model = build_model(name, **options).fit(train)
    queries = [UserQuery(user=0), UserQuery(user=3), UserQuery(history=np.array([1, 2]))]
    tracemalloc.start()
    try:
        huge = model.recommend(queries, HUGE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    exact = model.recommend(queries, train.n_items)
    assert huge.indices.shape == (3, train.n_items)  # min(k, n_items) columns
    np.testing.assert_array_equal(huge.indices, exact.indices)
    np.testing.assert_array_equal(huge.scores, exact.scores)
    assert peak < 50_000_000  # a (3, 10**12) array would be terabytes


def test_cli_recommend_with_a_huge_k_writes_every_unseen_item_once(tmp_path: Path, tiny_files) -> None:
    interactions, items = tiny_files
    outputs = {}
    for k in (str(HUGE), "1000000", "30"):
        out = tmp_path / f"out-{k}.csv"
        assert main(["recommend", "--interactions", str(interactions), "--items", str(items), "--model", "popularity",
                     "--k", k, "--out", str(out), "--no-progress"]) == 0
        outputs[k] = pd.read_csv(out)
    pd.testing.assert_frame_equal(outputs[str(HUGE)], outputs["30"])
    pd.testing.assert_frame_equal(outputs["1000000"], outputs["30"])
    seen = pd.read_csv(interactions)
    n_items = len(pd.read_csv(items))
    per_user = outputs["30"].groupby("user_id").size()
    known = seen.groupby("user_id").size()
    assert (per_user == n_items - known[per_user.index]).all()  # every unseen item, each once
