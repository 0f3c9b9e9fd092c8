"""A query that carries nothing (no training row, clicks, text or friends) gets popular items, not index order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit.data.interactions import UserQuery
from coldkit.models import create
from coldkit.testing import synthetic_interactions

# Models that score an empty query 0 everywhere (before the fallback their list was the item-index order).
SILENT_MODELS = ["content", "item-knn", "ease", "cold-ridge", "cold-knn", "user-knn"]


@pytest.fixture(scope="module")
def train():  # type: ignore[no-untyped-def]
    interactions, _, _ = synthetic_interactions(seed=0)  # unequal counts, not in index order (checked below)
    return interactions


def _by_count(train, allowed: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    counts = train.item_counts()
    # an independent reference: Python's stable sort on (-count, index)
    return np.array(sorted(allowed.tolist(), key=lambda i: (-counts[i], i)), dtype=np.int64)


@pytest.mark.parametrize("name", SILENT_MODELS)
def test_empty_query_gets_the_most_popular_items(train, name: str) -> None:  # type: ignore[no-untyped-def]
    model = create(name).fit(train)
    ranked = model.recommend([UserQuery()], k=6)
    expected = _by_count(train, np.arange(train.n_items))[:6]
    assert ranked.indices[0].tolist() == expected.tolist()
    assert np.all(ranked.scores[0] == 0)  # the model's own score: it knows nothing
    assert not np.array_equal(expected, np.sort(expected)), "the reference must differ from index order"


@pytest.mark.parametrize("name", ["content", "item-knn"])
def test_the_fallback_keeps_to_the_candidates(train, name: str) -> None:  # type: ignore[no-untyped-def]
    model = create(name).fit(train)
    candidates = np.arange(1, train.n_items, 3)
    ranked = model.recommend([UserQuery()], k=4, candidates=candidates)
    assert ranked.indices[0].tolist() == _by_count(train, candidates)[:4].tolist()


def test_only_the_empty_rows_change(train) -> None:  # type: ignore[no-untyped-def]
    model = create("item-knn").fit(train)
    informed = UserQuery(history=np.array([0, 1]))
    alone = model.recommend([informed], k=5)
    mixed = model.recommend([informed, UserQuery(), UserQuery(user=0)], k=5)
    np.testing.assert_array_equal(mixed.indices[0], alone.indices[0])
    np.testing.assert_array_equal(mixed.indices[2], model.recommend([UserQuery(user=0)], k=5).indices[0])
    assert mixed.indices[1].tolist() == _by_count(train, np.arange(train.n_items))[:5].tolist()


def test_dataframe_form_falls_back_too(train) -> None:  # type: ignore[no-untyped-def]
    model = create("content").fit(train)
    frame = model.recommend(users={"newcomer": UserQuery()}, k=3)
    expected = [str(train.catalog.item_ids[i]) for i in _by_count(train, np.arange(train.n_items))[:3]]
    assert frame["item_id"].astype(str).tolist() == expected


def test_a_text_that_says_nothing_is_no_text(train) -> None:  # type: ignore[no-untyped-def]
    model = create("item-knn").fit(train)  # reads no text: the query is as empty as UserQuery()
    both = model.recommend([UserQuery(text="zxqv blorf"), UserQuery()], k=5)
    np.testing.assert_array_equal(both.indices[0], both.indices[1])
    assert both.indices[1].tolist() == _by_count(train, np.arange(train.n_items))[:5].tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=60), st.integers(min_value=1, max_value=70))
def test_most_counted_is_a_stable_sort_cut_to_m(counts: list[int], m: int) -> None:
    from coldkit.models.base import _most_counted

    items = np.arange(0, 3 * len(counts), 3)  # ascending, not 0..n-1
    expected = items[np.argsort(-np.asarray(counts), kind="stable")][:m]
    assert _most_counted(items, np.asarray(counts), m)[:m].tolist() == expected.tolist()


@pytest.mark.parametrize("name", ["item-knn", "ease", "user-knn"])
def test_clicks_only_on_items_nobody_clicked_are_no_clicks(name: str) -> None:  # type: ignore[no-untyped-def]
    # a new user whose only clicks are on items without a training interaction (new items, or ones only
    # held-out users took: 11-14 % of lastfm-2k's new users at n = 1) got the catalogue's index order
    interactions, _, _ = synthetic_interactions(seed=0)
    matrix = interactions.matrix.tolil()
    unknown = [3, 7]
    for item in unknown:
        matrix[:, item] = 0
    train = replace(interactions, matrix=matrix.tocsr())
    train.matrix.eliminate_zeros()
    model = create(name).fit(train)
    got = model.recommend([UserQuery(history=np.array(unknown))], 10)
    assert got.scores.tolist() == [[0.0] * 10]
    assert got.indices[0].tolist() == [i for i in _by_count(train, np.arange(train.n_items)) if i not in unknown][:10]
    # one known click: the model's own answer, untouched
    known = model.recommend([UserQuery(history=np.array([unknown[0], 0]))], 10)
    assert np.any(known.scores != 0)
