"""Items without content in the serving index: its content and text sources (and CF, for a new item) leave
them unlisted, as the Hybrid it serves does; scored 0 (a cosine with nothing) they were listed above every
item whose cosine is negative, and a new one's CF row (the map's intercept) among the average items."""

from __future__ import annotations

import numpy as np
import pytest

from coldkit.data import Catalog, Interactions, UserQuery, load_dataset
from coldkit.models.blend import DEFAULT_WEIGHTS
from coldkit.models.hybrid import Hybrid
from coldkit.serving import ServingIndex
from coldkit.serving.model import SERVED_SOURCES


def small_interactions(n_warm: int = 300, n_cold: int = 60, n_users: int = 200) -> Interactions:
    """As tests/test_serving.py: the embedded ml-latest-small's most-rated items (warm) and least-rated ones made cold."""
    ds = load_dataset("ml-latest-small")
    order = np.argsort(-ds.interactions.item_counts(), kind="stable")
    items = np.concatenate([np.sort(order[:n_warm]), np.sort(order[-n_cold:])])
    catalog = Catalog(ds.catalog.item_ids[items], ds.catalog.table.iloc[items].reset_index(drop=True), ds.catalog.text_columns)
    matrix = ds.interactions.matrix[:n_users][:, items].tocsr().tolil()
    matrix[:, n_warm:] = 0
    return Interactions(ds.interactions.user_ids[:n_users], catalog, matrix.tocsr())


@pytest.fixture(scope="module")
def train() -> tuple[Interactions, np.ndarray]:
    """The serving tests' data with the text of two cold items and one warm item emptied."""
    base = small_interactions()
    counts = base.item_counts()
    blank = np.concatenate([np.flatnonzero(counts == 0)[[2, 7]], np.flatnonzero(counts > 0)[[4]]])
    table = base.catalog.table.copy()
    for column in base.catalog.text_columns:
        table[column] = table[column].astype(object)
        table.loc[table.index[blank], column] = ""
    catalog = Catalog(base.catalog.item_ids, table, base.catalog.text_columns)
    return Interactions(base.user_ids, catalog, base.matrix), np.sort(blank)


def _hybrid(train: Interactions, weights: dict[str, float]) -> Hybrid:
    unserved = {name: 0.0 for name in DEFAULT_WEIGHTS if name not in SERVED_SOURCES}
    return Hybrid(encoder="hashing", warm="svd", weights={**unserved, **weights}, cache=False, stack=False,
                  attributes=False).fit(train)


QUERIES = [UserQuery(user=u) for u in range(0, 200, 25)] + [
    UserQuery(text="space robots war"), UserQuery(history=np.array([3, 50, 120])),
    UserQuery(history=np.array([12]), text="crime thriller"),
]


@pytest.mark.parametrize("weights", [
    {"cf": 0.0, "content": 0.0, "text": 1.0, "popularity": 0.0},
    {"cf": 0.0, "content": 1.0, "text": 0.0, "popularity": 0.0},
    {"cf": 1.0, "content": 0.0, "text": 0.0, "popularity": 0.0},
    {"cf": 1.0, "content": 1.0, "text": 1.0, "popularity": 0.1},
])
def test_the_index_answers_as_the_hybrid_with_items_without_content(train, weights) -> None:
    data, blank = train
    hybrid = _hybrid(data, weights)
    index = ServingIndex.from_hybrid(hybrid, data, encoder_name="hashing")
    ids = [str(i) for i in data.catalog.item_ids]
    k = 60
    reference = hybrid.recommend(QUERIES, k=k)
    for row, query in enumerate(QUERIES):
        got = index.recommend(None if query.user is None else str(data.user_ids[query.user]), text=query.text,
                              history=[ids[i] for i in query.history], k=k, explain=False)
        expected = reference.indices[row][reference.indices[row] >= 0]
        assert [item.id for item in got.items if item.id in {ids[b] for b in blank}] == [ids[i] for i in expected if i in blank]
        got_ids = [item.id for item in got.items]
        scores = reference.scores[row][: len(expected)]
        assert len(got_ids) == len(expected), (query, got_ids)
        np.testing.assert_allclose([i.score for i in got.items], scores, atol=1e-4)
        for pos, (a, b) in enumerate(zip(got_ids, (ids[i] for i in expected))):
            if a != b:  # the CF fold-in sums in another order: a swap only between tied items
                assert any(abs(scores[pos] - scores[p]) < 1e-5 for p in (pos - 1, pos + 1) if 0 <= p < len(scores))


def test_an_item_added_without_content_joins_no_content_list(train) -> None:
    data, _ = train
    index = ServingIndex.from_hybrid(_hybrid(data, {"cf": 0.0, "content": 0.0, "text": 1.0, "popularity": 0.0}), data,
                                     encoder_name="hashing")
    before = [item.id for item in index.recommend(text="space robots war", k=500, explain=False).items]
    answer = index.upsert_items([{"id": "no-text", "text": ""}, {"id": "robots", "text": "space robots at war"}])
    assert "note" in answer[0] and "note" not in answer[1]
    after = [item.id for item in index.recommend(text="space robots war", k=500, explain=False).items]
    assert "no-text" not in after and after[0] == "robots" and after[1:] == before
    # similar items: the content model lists items without content after the rest; nothing is similar to them here
    similar = [item.id for item in index.similar_items("robots", k=500)]
    assert "no-text" not in similar and not {str(data.catalog.item_ids[b]) for b in train[1]} & set(similar)
