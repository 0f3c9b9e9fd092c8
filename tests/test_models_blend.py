"""coldkit.models.blend: the hybrid's per-query blend, checked against hand-computed values and plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit.exceptions import InvalidInputError
from coldkit.models.blend import (
    DEFAULT_WEIGHTS,
    blend,
    check_weights,
    history_share,
    interest_vectors,
    nearest_liked,
    shared_words,
    source_weights,
    words,
)
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Ranked


def test_source_weights_by_hand() -> None:
    n = np.array([0, 1, 3, 9])
    text = np.array([True, False, True, False])
    friends = np.array([True, True, False, False])
    w = source_weights(n, text, DEFAULT_WEIGHTS, user_trust=3.0, has_friends=friends)
    beta = np.array([0, 1 / 4, 3 / 6, 9 / 12])
    assert list(w) == ["cf", "cf_knn", "content", "text", "popularity", "profile", "item_knn", "ease", "tfidf", "friends", "trending"]
    np.testing.assert_allclose(w["trending"], 0.0 * (1 - beta))  # switched on only by tuning
    np.testing.assert_allclose(source_weights(n, text, {"trending": 2.0}, 3.0)["trending"], 2.0 * (1 - beta))  # as popularity
    np.testing.assert_allclose(w["item_knn"], 0.0 * beta)  # switched on only by tuning
    np.testing.assert_allclose(w["ease"], 1.0 * beta)  # only a tuned fit has the source
    np.testing.assert_allclose(w["tfidf"], [0, 0, 0, 0])
    np.testing.assert_allclose(w["friends"], 0.5 * (1 - beta) * friends)
    assert source_weights(n, text, {"friends": 1.0}, 3.0)["friends"].tolist() == [0, 0, 0, 0]  # nobody has friends
    np.testing.assert_allclose(w["cf"], 1.0 * beta)
    np.testing.assert_allclose(w["cf_knn"], 1.0 * beta)
    np.testing.assert_allclose(w["content"], [0, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(w["text"], [0.5, 0, 0.5, 0])
    np.testing.assert_allclose(w["popularity"], 0.5 * (1 - beta))
    np.testing.assert_allclose(w["profile"], 0.25 * (1 - beta) * text)
    # only the sources named are blended; user_trust 0 trusts any history; not adaptive: beta 0.5
    assert list(source_weights(n, text, {"cf": 2.0, "popularity": 1.0}, 3.0)) == ["cf", "popularity"]
    np.testing.assert_allclose(history_share(n, 0.0), [0, 1, 1, 1])
    np.testing.assert_allclose(history_share(n, 3.0, adaptive=False), [0.5] * 4)


def test_check_weights_names_the_problem() -> None:
    assert check_weights({"cf": 1, "text": 0.5}) == {"cf": 1.0, "text": 0.5}
    with pytest.raises(InvalidInputError, match="unknown hybrid weight.*bert"):
        check_weights({"bert": 1.0})
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        check_weights({"cf": -1.0})
    with pytest.raises(InvalidInputError, match="finite and >= 0"):
        check_weights({"cf": float("nan")})
    with pytest.raises(InvalidInputError, match="must be a number"):
        check_weights({"cf": "1"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match="fusion weight.*cf_knn"):
        check_weights({"cf_knn": 1.0}, ("cf", "text"), "fusion")


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_items=st.integers(1, 30),
    d=st.integers(1, 8),
    text_weight=st.floats(0.0, 3.0),
)
def test_interest_vectors_match_numpy(seed: int, n_items: int, d: int, text_weight: float) -> None:
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n_items, d)).astype(np.float32)
    histories = [rng.choice(n_items, size=rng.integers(0, n_items + 1), replace=False) for _ in range(4)]
    texts = rng.normal(size=(4, d)).astype(np.float32)
    texts[1] = 0.0  # a query without text
    got = interest_vectors(items, histories, texts, text_weight)
    for b, known in enumerate(histories):
        history = _unit(items[known].astype(np.float64).mean(axis=0)) if len(known) else np.zeros(d)
        expected = _unit(history + text_weight * texts[b].astype(np.float64))
        np.testing.assert_allclose(got[b], expected, atol=1e-5)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(interest_vectors(items, [np.empty(0, np.int64)]), np.zeros((1, d)))


def test_interest_vectors_survive_a_huge_text_weight() -> None:
    """A weight of 1e308 overflowed the norm to inf: the query's interest became a zero row (all items
    tied at 0). The text must dominate where there is text, and history-only rows must not move."""
    items = np.eye(3, dtype=np.float32)
    texts = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    histories = [np.array([0]), np.array([1])]
    for weight in (1e6, 1e308):
        got = interest_vectors(items, histories, texts, weight)
        np.testing.assert_allclose(got[0], [0.0, 0.0, 1.0], atol=1e-5)  # text wins
        np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0])  # no text: its history alone, as at weight 1
    np.testing.assert_allclose(interest_vectors(items, histories, texts, 2.0)[0], np.array([1, 0, 2]) / np.sqrt(5), atol=1e-6)


def test_blend_computes_only_what_someone_listens_to() -> None:
    called = []

    def ranking(name: str, order: list[int]) -> object:
        def call() -> Ranked:
            called.append(name)
            return Ranked(np.array([order]), np.array([[3.0, 2.0, 1.0]], dtype=np.float32))
        return call

    rankers = {"cf": ranking("cf", [0, 1, 2]), "text": ranking("text", [2, 1, 0]), "popularity": ranking("popularity", [1, 0, 2])}
    fusion = get_fusion("weighted")
    fused, used = blend(rankers, {"cf": np.array([1.0]), "text": np.array([0.0])}, fusion, 2)
    assert called == ["cf"] and list(used) == ["cf"] and fused.indices.tolist() == [[0, 1]]
    # nobody listens to anything: popularity speaks alone with weight 1
    called.clear()
    fused, used = blend(rankers, {"cf": np.array([0.0]), "text": np.array([0.0])}, fusion, 3)
    assert called == ["popularity"] and used["popularity"].tolist() == [1.0] and fused.indices.tolist() == [[1, 0, 2]]
    with pytest.raises(InvalidInputError, match="profile"):
        blend(rankers, {"profile": np.array([1.0])}, fusion, 2)


def test_a_mute_query_gets_the_fallback_beside_weighed_ones() -> None:
    # a batch where one query listens to cf and the other to nothing: the fallback answers the second
    # alone (before: one all-zero fusion row, i.e. the items in index order)
    def ranking(orders: list[list[int]]) -> object:
        return lambda: Ranked(np.array(orders), np.tile(np.array([3.0, 2.0, 1.0], dtype=np.float32), (len(orders), 1)))

    rankers = {"cf": ranking([[0, 1, 2], [0, 1, 2]]), "popularity": ranking([[2, 0, 1], [2, 0, 1]])}
    fused, used = blend(rankers, {"cf": np.array([1.0, 0.0]), "popularity": np.array([0.0, 0.0])}, get_fusion("weighted"), 3)
    assert fused.indices.tolist() == [[0, 1, 2], [2, 0, 1]]
    assert used["popularity"].tolist() == [0.0, 1.0] and used["cf"].tolist() == [1.0, 0.0]
    # a fallback already weighed for some queries keeps their weights
    fused, used = blend(rankers, {"cf": np.array([1.0, 0.0]), "popularity": np.array([0.5, 0.0])}, get_fusion("weighted"), 3)
    assert used["popularity"].tolist() == [0.5, 1.0] and fused.indices[1].tolist() == [2, 0, 1]


def test_words_and_reasons() -> None:
    assert words("The Matrix: a movie about a hacker's world") == {"matrix", "hacker's", "world"}
    assert shared_words("I love space robots and war", "Robots at war in space. Sci-Fi") == ["robots", "space", "war"]
    assert shared_words("a b c", "a b c") == []
    assert len(shared_words(" ".join(f"w{i}" for i in range(20)), " ".join(f"w{i}" for i in range(20)), limit=5)) == 5
    liked = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert nearest_liked(liked, np.array([0.0, 1.0], dtype=np.float32)) == (1, pytest.approx(0.8))
    assert nearest_liked(liked, np.array([-1.0, 0.0], dtype=np.float32)) is None
    assert nearest_liked(liked, np.array([-1.0, 0.0], dtype=np.float32), min_similarity=None) == (1, pytest.approx(-0.6))
    assert nearest_liked(np.empty((0, 2), np.float32), np.array([1.0, 0.0])) is None


def test_no_weighed_source_at_all_lets_the_fallback_answer_every_query() -> None:
    # a hybrid with no source left this fit (sources=["ease"] untuned) hands blend no weights: the
    # fallback's own list says how many queries there are (was: a (1,) weight against 3 rows)
    called = []

    def popular() -> Ranked:
        called.append("popularity")
        return Ranked(np.tile([2, 0, 1], (3, 1)), np.tile(np.array([3.0, 2.0, 1.0], dtype=np.float32), (3, 1)))

    fused, used = blend({"popularity": popular}, {}, get_fusion("weighted"), 3)
    assert called == ["popularity"]  # computed once
    assert fused.indices.tolist() == [[2, 0, 1]] * 3 and used["popularity"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(InvalidInputError, match="popularity"):
        blend({}, {}, get_fusion("weighted"), 3)


def test_a_query_whose_sources_have_nothing_to_say_gets_the_fallback() -> None:
    # query 1 listens to cf, but cf scores every item 0 for it (its clicks are all on items cf has
    # never seen): a list of one tie, i.e. the items in index order; the fallback answers it instead
    def ranking(orders: list[list[int]], scores: list[list[float]]) -> object:
        return lambda: Ranked(np.array(orders), np.array(scores, dtype=np.float32))

    rankers = {
        "cf": ranking([[1, 2, 0], [0, 1, 2]], [[3.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),
        "popularity": ranking([[2, 0, 1], [2, 0, 1]], [[5.0, 4.0, 1.0], [5.0, 4.0, 1.0]]),
    }
    fused, used = blend(rankers, {"cf": np.array([1.0, 0.5])}, get_fusion("weighted"), 3)
    assert fused.indices.tolist() == [[1, 2, 0], [2, 0, 1]]
    assert used["cf"].tolist() == [1.0, 0.0] and used["popularity"].tolist() == [0.0, 1.0]
    # a source that does speak for the query (any score not 0, negative included) keeps it
    rankers["cf"] = ranking([[1, 2, 0], [0, 1, 2]], [[3.0, 2.0, 1.0], [0.0, -1.0, -2.0]])
    fused, used = blend(rankers, {"cf": np.array([1.0, 0.5])}, get_fusion("weighted"), 3)
    assert fused.indices.tolist() == [[1, 2, 0], [0, 1, 2]] and "popularity" not in used
