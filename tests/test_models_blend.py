"""coldkit.models.blend: the hybrid's per-query blend, checked against hand-computed values and plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit import _core
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


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(1, 300),
    d=st.sampled_from([2, 3, 8, 64, 384, 385, 1408]),
    queries=st.integers(0, 40),
    threads=st.sampled_from([1, 2, 3, None]),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e20]),
)
def test_core_row_means_are_numpys_bits(seed: int, n_items: int, d: int, queries: int, threads: int | None, scale: float) -> None:
    """The core's per-list mean is numpy's ``table[rows].mean(axis=0)`` bit for bit (repeats, empty
    lists, long lists, tiny and huge values), on any thread count."""
    rng = np.random.default_rng(seed)
    table = (rng.standard_normal((n_items, d)) * scale).astype(np.float32)
    lists = [rng.integers(0, n_items, size=int(rng.choice([0, 1, 2, 7, 50, 700]))) for _ in range(queries)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in lists])]).astype(np.int64)
    indices = np.concatenate([np.empty(0, np.int64), *lists]).astype(np.int64)
    got = _core.row_means(table, indptr, indices, threads)
    assert got.shape == (queries, d) and got.dtype == np.float32
    for q, rows in enumerate(lists):
        want = table[rows].mean(axis=0) if rows.size else np.zeros(d, np.float32)
        np.testing.assert_array_equal(got[q].view(np.uint32), want.view(np.uint32))


def test_interest_vectors_are_the_gathered_means_bits() -> None:
    """interest_vectors through the core gives the bits of the per-query numpy loop it replaced,
    and keeps numpy for the tables and indices the core does not take."""
    rng = np.random.default_rng(7)

    def loop(items: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), items.shape[1]))
        for b, known in enumerate(histories):
            if len(known):
                out[b] = _unit(items[known].mean(axis=0))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)

    for d in (1, 2, 384):
        items = rng.standard_normal((500, d)).astype(np.float32)
        histories = [rng.integers(0, 500, size=n) for n in (0, 1, 5, 300, 0, 40)]
        histories[1] = histories[1].astype(np.int32)
        np.testing.assert_array_equal(interest_vectors(items, histories), loop(items, histories))
        negative = [np.array([-1, 3])]  # numpy's "last row": the fallback keeps numpy's meaning
        np.testing.assert_array_equal(interest_vectors(items, negative), loop(items, negative))
        as_lists = [list(map(int, h)) for h in histories]
        np.testing.assert_array_equal(interest_vectors(items, as_lists), loop(items, histories))  # type: ignore[arg-type]
        wide = items.astype(np.float64)
        np.testing.assert_array_equal(interest_vectors(wide, histories), loop(wide, histories))


def test_core_row_means_refuse_bad_lists_by_name() -> None:
    table = np.ones((3, 2), np.float32)
    with pytest.raises(InvalidInputError, match="list 1 names row 3"):
        _core.row_means(table, np.array([0, 1, 2]), np.array([0, 3]))
    with pytest.raises(InvalidInputError, match="must not decrease"):
        _core.row_means(table, np.array([0, 2, 1]), np.array([0, 1]))
    with pytest.raises(InvalidInputError, match="C-contiguous"):
        _core.row_means(np.ones((3, 4), np.float32)[:, ::2], np.array([0, 1]), np.array([0]))


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


def test_shared_words_are_whole_words_in_any_script() -> None:
    # an a-z pattern found no word in Hindi and cut "café" (either Unicode form) to "caf"
    assert shared_words("शास्त्रीय संगीत", "संगीत सभा") == ["संगीत"]
    assert shared_words("cafe\u0301 music", "Café Tacvba") == ["café"]
    assert shared_words("ดนตรี ลูกทุ่ง", "เพลง ลูกทุ่ง") == ["ลูกทุ่ง"]
    assert shared_words("संगीत", "सात रंग") == []  # no word in common, only letters


def test_words_and_reasons() -> None:
    # the hashing encoder's words (coldkit.text.words): "hacker's" is "hacker" and a one-letter "s"
    assert words("The Matrix: a movie about a hacker's world") == {"matrix", "hacker", "world"}
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


# ------------------------------------------------------------------ what each source added to an item
def _two_sources() -> dict[str, Ranked]:
    return {
        "text": Ranked(np.array([[5, 3, 9, -1]]), np.array([[0.9, 0.5, 0.1, -np.inf]], dtype=np.float32)),
        "popularity": Ranked(np.array([[3, 7, 5, 1]]), np.array([[100.0, 50.0, 10.0, 10.0]], dtype=np.float32)),
    }


def test_source_parts_under_rank_fusion_are_w_over_c_plus_rank() -> None:
    from coldkit.models.blend import source_parts

    weights = {"text": np.array([0.5]), "popularity": np.array([0.25])}
    items = np.array([[5, 3, 9, 7, 2]])
    parts = source_parts(get_fusion("rrf", c=60), _two_sources(), weights, items)
    np.testing.assert_allclose(parts["text"], [[0.5 / 61, 0.5 / 62, 0.5 / 63, 0.0, 0.0]])  # by hand
    np.testing.assert_allclose(parts["popularity"], [[0.25 / 63, 0.25 / 61, 0.0, 0.25 / 62, 0.0]])


def test_source_parts_under_score_fusion_are_the_normalised_excess() -> None:
    from coldkit.models.blend import source_parts

    weights = {"text": np.array([0.5]), "popularity": np.array([0.25])}
    items = np.array([[5, 3, 9, 7, 2]])
    parts = source_parts(get_fusion("weighted"), _two_sources(), weights, items)
    # min-max by hand: text (0.9, 0.5, 0.1) -> (1, 0.5, 0); popularity (100, 50, 10, 10) -> (1, 4/9, 0, 0)
    np.testing.assert_allclose(parts["text"], [[0.5, 0.25, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(parts["popularity"], [[0.0, 0.25, 0.0, 0.25 * 4 / 9, 0.0]])


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_the_parts_add_up_to_the_fused_scores_differences(fusion: str) -> None:
    """Across items of one row, fused score differences are the differences of the summed parts."""
    from coldkit.models.blend import source_parts

    strategy = get_fusion(fusion)
    sources, weights = _two_sources(), {"text": np.array([0.7]), "popularity": np.array([0.3])}
    fused = strategy.fuse(sources, 6, weights)
    listed = fused.indices[:, fused.indices[0] >= 0]
    parts = source_parts(strategy, sources, weights, listed)
    total = parts["text"] + parts["popularity"]
    np.testing.assert_allclose(np.diff(total[0]), np.diff(fused.scores[0][fused.indices[0] >= 0]), atol=1e-6)


class _OnlyFuse:
    """A plugin fusion that cannot say what each source added (no ``contributions``)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name = inner, "only-fuse"

    def fuse(self, sources, k, weights=None):  # type: ignore[no-untyped-def]
        return self.inner.fuse(sources, k, weights)  # type: ignore[attr-defined]


class _MaxRank:
    """Each item's best single weighted reciprocal rank: the other sources add nothing to it."""

    name = "max-rank"

    def fuse(self, sources, k, weights=None):  # type: ignore[no-untyped-def]
        best: dict[int, float] = {}
        for name, ranked in sources.items():
            w = float(np.asarray((weights or {}).get(name, 1.0)).reshape(-1)[0])
            for rank, item in enumerate(ranked.indices[0][ranked.indices[0] >= 0], start=1):
                best[int(item)] = max(best.get(int(item), 0.0), w / (60 + rank))
        top = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        indices = np.full((1, k), -1, dtype=np.int64)
        scores = np.full((1, k), -np.inf, dtype=np.float32)
        indices[0, : len(top)] = [i for i, _ in top]
        scores[0, : len(top)] = [s for _, s in top]
        return Ranked(indices, scores)


def test_a_fusion_that_cannot_say_is_measured_by_leaving_each_source_out() -> None:
    from coldkit.models.blend import source_parts, speaking_sources

    weights = {"text": np.array([0.5]), "popularity": np.array([0.25])}
    items = np.array([[5, 3, 9, 7]])
    # an additive fusion: leaving a source out takes exactly its part away
    parts = source_parts(_OnlyFuse(get_fusion("rrf", c=60)), _two_sources(), weights, items)
    np.testing.assert_allclose(parts["text"], [[0.5 / 61, 0.5 / 62, 0.5 / 63, 0.0]], rtol=1e-5)
    np.testing.assert_allclose(parts["popularity"], [[0.25 / 63, 0.25 / 61, 0.0, 0.25 / 62]], rtol=1e-5)
    # a max: the source that did not give the item its score added only what it beat the other by
    parts = source_parts(_MaxRank(), _two_sources(), weights, items)
    assert parts["popularity"][0, 0] == 0.0  # item 5: the text's 0.5/61 is its score, popularity's 0.25/63 counts not
    assert speaking_sources({n: float(p[0, 0]) for n, p in parts.items()}) == ["text"]
    assert speaking_sources({n: float(p[0, 3]) for n, p in parts.items()}) == ["popularity"]  # item 7: popularity alone


def test_a_fusion_whose_contributions_break_the_contract_is_named() -> None:
    from coldkit.exceptions import ComponentContractError
    from coldkit.models.blend import source_parts

    class Broken:
        name = "broken"

        def fuse(self, sources, k, weights=None):  # type: ignore[no-untyped-def]
            return get_fusion("rrf").fuse(sources, k, weights)

        def contributions(self, sources, weights, items):  # type: ignore[no-untyped-def]
            return {name: np.full((1, 1), np.nan) for name in sources}

    with pytest.raises(ComponentContractError, match="'broken'.*contributions"):
        source_parts(Broken(), _two_sources(), {"text": np.array([1.0]), "popularity": np.array([1.0])}, np.array([[5, 3]]))


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_a_source_only_other_queries_weigh_adds_nothing_to_a_querys_list(fusion: str) -> None:
    # query 0 weighs "text" 0, query 1 weighs it 1: in one batch the text's items joined query 0's
    # candidates at the floor and filled its short list, which alone (text never computed) holds 2 items
    popularity = Ranked(np.array([[4, 7], [4, 7]]), np.array([[9.0, 1.0], [9.0, 1.0]], dtype=np.float32))
    text = Ranked(np.array([[1, 2], [1, 2]]), np.array([[0.9, 0.5], [0.9, 0.5]], dtype=np.float32))
    rankers = {"popularity": lambda: popularity, "text": lambda: text}
    weights = {"popularity": np.array([1.0, 1.0]), "text": np.array([0.0, 1.0])}
    together, _ = blend(rankers, weights, get_fusion(fusion), 4)
    first = {"popularity": lambda: Ranked(popularity.indices[:1], popularity.scores[:1]), "text": lambda: Ranked(text.indices[:1], text.scores[:1])}
    alone, _ = blend(first, {name: w[:1] for name, w in weights.items()}, get_fusion(fusion), 4)
    assert alone.indices[0].tolist() == [4, 7, -1, -1]
    np.testing.assert_array_equal(together.indices[0], alone.indices[0])
    np.testing.assert_array_equal(together.scores[0], alone.scores[0])
