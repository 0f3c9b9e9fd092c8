"""Cold items without content (no interactions, no text) in the cold adapters and the sources built on them.

Such an item has nothing to map: ``cold-ridge`` gave it the map's intercept (about the average warm
item, so it ranked among the cold items with text for every user) and ``cold-knn`` a zero vector
(score 0: above every item scored below 0). The standalone models now list them after every item
they can score; the hybrid's ``cf`` / ``cf_knn`` sources and the private hybrid's ``cf`` leave them
unlisted, as the content sources leave an item without text.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldkit import models
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.models.blend import SOURCES

FAST = {"encoder": "hashing", "cache": False}
TITLES = [
    "space robots", "robot wars", "romantic paris", "paris in love", "basketball legends", "ocean deep",
    "deep space robots", "love in paris", "", "basketball robots", "ocean love", "",
]
COLD = np.arange(6, 12)  # no interactions
BLANK = np.array([8, 11])  # cold and without text


def _data(seed: int = 0, n_users: int = 40) -> Interactions:
    rng = np.random.default_rng(seed)
    ids = [f"i{j}" for j in range(len(TITLES))]
    dense = (rng.random((n_users, len(ids))) < 0.35).astype(np.float32)
    dense[:, COLD] = 0.0
    catalog = Catalog(np.array(ids, dtype=object), pd.DataFrame({"item_id": ids, "title": TITLES}), text_columns=("title",))
    return Interactions(np.array([f"u{u}" for u in range(n_users)]), catalog, sp.csr_matrix(dense))


#: (model, options, whether the blank items' own scores put them above a cold item with text for some user here:
#: cold-knn over EASE maps with non-negative weights onto non-negative targets, so nothing scores below their 0)
CASES = [("cold-ridge", {}, True), ("cold-ridge", {"warm": "ease"}, True), ("cold-knn", {"warm": "svd", "factors": 4}, True),
         ("cold-knn", {}, False)]


@pytest.mark.parametrize("name, options, misplaced", CASES)
def test_standalone_adapters_list_cold_items_without_content_last(name: str, options: dict, misplaced: bool) -> None:
    train = _data()
    model = models.create(name, **FAST, **options).fit(train)
    users = [u for u in range(train.n_users) if train.items_of(u).size]
    queries = [UserQuery(user=u) for u in users]
    # the reference: p_u . q_i in numpy over the items with a vector to score, the blank ones after them
    p = np.asarray(model.warm_user_vectors(queries), dtype=np.float64)
    q = np.asarray(model.item_vectors(), dtype=np.float64)
    scores = p @ q.T
    ranked = model.recommend(queries, 12, exclude_known=False)
    cold_ranked = model.recommend(queries, 6, candidates=COLD)
    scorable = np.setdiff1d(np.arange(12), BLANK)
    with_text = np.setdiff1d(COLD, BLANK)
    for row, u in enumerate(users):
        assert sorted(ranked.indices[row, -2:].tolist()) == BLANK.tolist(), (row, ranked.indices[row])
        np.testing.assert_allclose(ranked.scores[row, :10], np.sort(scores[row, scorable])[::-1], rtol=1e-4, atol=1e-5)
        assert set(ranked.indices[row, :10].tolist()) == set(scorable.tolist())
        assert np.all(ranked.scores[row, -2:] < ranked.scores[row, 9]) or np.all(ranked.scores[row] == 0)
        assert sorted(cold_ranked.indices[row, -2:].tolist()) == BLANK.tolist()
        assert set(cold_ranked.indices[row, :4].tolist()) == set(with_text.tolist())
    assert np.all(np.diff(ranked.scores.astype(np.float64), axis=1) <= 1e-6)
    assert np.array_equal(model.items_without_content(), BLANK)
    # the case at hand: scored by their own vectors, they were above some cold item with text for some user
    cold_scores = scores[:, COLD]
    above = cold_scores[:, [list(COLD).index(b) for b in BLANK]].min(axis=1) > cold_scores[:, [list(COLD).index(t) for t in with_text]].min(axis=1)
    assert above.any() == misplaced
    # exclusions and the hybrid-source form
    first = model.recommend([UserQuery(history=np.array([0, 8]))], 12)
    assert 8 not in first.indices[0] and first.indices[0, 9] == 11 and first.indices[0, 10] == -1
    assert not set(BLANK) & set(model.recommend(queries, 12, list_without_content=False).indices.ravel().tolist())


def test_ridge_gave_a_cold_item_without_content_the_intercept() -> None:
    """Why they must not be ranked by their vector: the map of a zero content vector is the intercept."""
    model = models.create("cold-ridge", **FAST).fit(_data())
    np.testing.assert_allclose(model.item_vectors()[BLANK], np.repeat(model.intercept_[None, :], 2, axis=0), atol=1e-6)


def test_a_query_without_clicks_still_gets_the_popularity_list() -> None:
    model = models.create("cold-ridge", **FAST).fit(_data())
    ranked = model.recommend([UserQuery()], 12)
    counts = model.train_.item_counts()
    assert np.all(ranked.scores == 0) and ranked.indices[0].tolist() == np.argsort(-counts, kind="stable").tolist()


@pytest.mark.parametrize("source", ["cf", "cf_knn"])
@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_hybrid_cf_sources_leave_cold_items_without_content_unlisted(source: str, fusion: str) -> None:
    train = _data()
    weights = {**{name: 0.0 for name in SOURCES}, source: 1.0}
    hybrid = models.create("hybrid", weights=weights, fusion=fusion, tune=False, **FAST).fit(train)
    adapter = hybrid.cf if source == "cf" else hybrid.cf_knn
    users = [u for u in range(train.n_users) if train.items_of(u).size][:8]
    for u in users:
        row = hybrid.recommend([UserQuery(user=u)], 12).indices[0]
        assert not set(BLANK) & set(row.tolist()), (u, row)
        alone = adapter.recommend([UserQuery(user=u)], 12, list_without_content=False).indices[0]
        assert row[row >= 0].tolist() == alone[alone >= 0].tolist() and not set(BLANK) & set(row.tolist()), (u, row)
    cold = hybrid.recommend([UserQuery(user=users[0])], 6, candidates=COLD).indices[0]
    assert not set(BLANK) & set(cold.tolist())


def test_private_hybrid_cf_leaves_cold_items_without_content_unlisted() -> None:
    train = _data(n_users=200)
    weights = {"cf": 1.0, "content": 0.0, "text": 0.0, "popularity": 0.0, "prior": 0.0}
    model = models.create("dp-hybrid", dp_epsilon=math.inf, weights=weights, cf_trust=0.0, seed=0, **FAST).fit(train)
    users = [u for u in range(train.n_users) if train.items_of(u).size][:10]
    lists = model.recommend([UserQuery(user=u) for u in users], 12).indices
    assert not set(BLANK) & set(lists.ravel().tolist())
    assert set(np.setdiff1d(COLD, BLANK).tolist()) <= set(lists[0].tolist())
    assert np.array_equal(model.unmapped_items_, BLANK)


def test_bilinear_lists_items_without_content_last() -> None:
    """bilinear scores every item through its content vector and W's bias column: an item without content got
    the bias alone (a content-predicted popularity of nothing), listed among the items with text."""
    train = _data()
    model = models.create("bilinear", **FAST).fit(train)
    users = [u for u in range(train.n_users) if train.items_of(u).size]
    queries = [UserQuery(user=u) for u in users]
    scores = np.asarray(model.user_vectors(queries), np.float64) @ np.asarray(model.item_vectors_, np.float64).T
    ranked = model.recommend(queries, 12, exclude_known=False)
    scorable = np.setdiff1d(np.arange(12), BLANK)
    for row in range(len(users)):
        assert sorted(ranked.indices[row, -2:].tolist()) == BLANK.tolist(), ranked.indices[row]
        np.testing.assert_allclose(ranked.scores[row, :10], np.sort(scores[row, scorable])[::-1], rtol=1e-4, atol=1e-5)
    assert (scores[:, BLANK].min(axis=1) > scores[:, scorable].min(axis=1)).any()  # where their bias put them


def test_explain_says_a_cold_item_without_content_has_nothing_to_map() -> None:
    """explain named where "its content maps it" (near some warm items' CF vectors) for an item without content."""
    model = models.create("cold-ridge", **FAST).fit(_data())
    said = model.explain(UserQuery(user=0), 8)
    assert "without content" in said and "maps it" not in said
    assert "its content maps it" in model.explain(UserQuery(user=0), 6)
