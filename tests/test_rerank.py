"""Constraint-aware re-ranking: hand-made cases with known optima, brute force, relaxation notes, MMR."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit
from coldkit import Constraints, ItemAttributes


def one_row(scores: list[float]) -> coldkit.Ranked:
    return coldkit.Ranked(np.arange(len(scores))[None, :], np.asarray(scores, dtype=np.float32)[None, :])


@pytest.fixture
def reranker() -> coldkit.Reranker:
    return coldkit.get_reranker("constraints")


def test_without_constraints_it_is_plain_top_k(reranker: coldkit.Reranker) -> None:
    result = reranker.rerank(one_row([0.1, 0.9, 0.5, 0.7]), k=2)
    assert result.ranked.indices.tolist() == [[1, 3]]
    assert result.relaxed == [[]]


def test_exclusions_are_hard(reranker: coldkit.Reranker) -> None:
    result = reranker.rerank(one_row([0.9, 0.8, 0.7]), k=3, constraints=Constraints(exclude={0, 2}))
    assert result.ranked.indices.tolist() == [[1, -1, -1]]
    assert "only 1 distinct candidates remain" in result.relaxed[0][0]


@pytest.mark.parametrize("bad", [[1.5], "abc", [0, "x"], [True], 3])
def test_exclusions_must_be_integer_indices(bad: object) -> None:
    # exclude=[1.5] was int()-ed into excluding item 1 (a silently wrong list); "abc" was a bare ValueError
    with pytest.raises(coldkit.InvalidInputError, match="exclude must"):
        Constraints(exclude=bad)  # type: ignore[arg-type]


def test_exclusions_from_a_generator_or_numpy_are_kept(reranker: coldkit.Reranker) -> None:
    for exclude in ((i for i in (0, 2)), np.array([0, 2]), [np.int64(0), 2]):
        result = reranker.rerank(one_row([0.9, 0.8, 0.7, 0.6]), k=2, constraints=Constraints(exclude=exclude))
        assert result.ranked.indices.tolist() == [[1, 3]]


def test_genre_quota_optimum_beats_greedy_with_multi_genre_items(reranker: coldkit.Reranker) -> None:
    # Greedy by score takes item 0 (action+comedy, 10) and then can take neither 1 (action) nor 2 (comedy)
    # under "at most 1 per genre", ending with 0 + 3 = 11. The optimum is 1 + 2 = 9 + 9 = 18.
    attrs = ItemAttributes(categories=[{"action", "comedy"}, {"action"}, {"comedy"}, {"drama"}])
    result = reranker.rerank(one_row([10, 9, 9, 1]), k=2, constraints=Constraints(max_per_category=1), items=attrs)
    assert result.ranked.indices.tolist() == [[1, 2]]
    assert result.relaxed == [[]]


def test_minimum_share_of_new_items(reranker: coldkit.Reranker) -> None:
    attrs = ItemAttributes(is_new=[False, False, False, True, True])
    result = reranker.rerank(one_row([5, 4, 3, 2, 1]), k=4, constraints=Constraints(min_new_share=0.5), items=attrs)
    assert result.ranked.indices.tolist() == [[0, 1, 3, 4]]
    np.testing.assert_allclose(result.ranked.scores, [[5, 4, 2, 1]])


def test_per_category_mapping_limits(reranker: coldkit.Reranker) -> None:
    attrs = ItemAttributes(categories=[{"a"}, {"a"}, {"a"}, {"b"}])
    cons = Constraints(max_per_category={"a": 2})  # "b" unlimited
    result = reranker.rerank(one_row([4, 3, 2, 1]), k=3, constraints=cons, items=attrs)
    assert result.ranked.indices.tolist() == [[0, 1, 3]]


def test_infeasible_new_share_is_relaxed_and_said(reranker: coldkit.Reranker) -> None:
    attrs = ItemAttributes(is_new=[False, False, False, True])
    result = reranker.rerank(one_row([4, 3, 2, 1]), k=3, constraints=Constraints(min_new_share=1.0), items=attrs)
    assert result.ranked.indices.tolist() == [[0, 1, 3]]
    # was "1 of the 3 required new items fit the other constraints": there were none; one new item was all there was
    assert result.relaxed[0] == ["min_new_share: 3 new items required, but only 1 of the 4 candidates are new; the list has 1 new item"]


def test_a_new_share_held_back_by_category_limits_says_so(reranker: coldkit.Reranker) -> None:
    # three new items, all in category "a" limited to one: the limits, not the pool, hold the share back
    attrs = ItemAttributes(is_new=[True, True, True, False, False], categories=[{"a"}, {"a"}, {"a"}, {"b"}, {"c"}])
    cons = Constraints(min_new_share=1.0, max_per_category=1, relax_order=("min_new_share",))
    result = reranker.rerank(one_row([5, 4, 3, 2, 1]), k=3, constraints=cons, items=attrs)
    assert result.ranked.indices.tolist() == [[0, 3, 4]]
    assert result.relaxed[0] == ["min_new_share: 1 of the 3 required new items fit the category limits"]
    excluded = reranker.rerank(one_row([5, 4, 3, 2, 1]), k=3, constraints=Constraints(min_new_share=1.0, exclude=[1, 2]), items=attrs)
    assert excluded.relaxed[0] == ["min_new_share: 3 new items required, but only 1 of the 3 candidates left after exclusions are new; the list has 1 new item"]


def test_infeasible_quota_is_relaxed_after_new_share(reranker: coldkit.Reranker) -> None:
    attrs = ItemAttributes(categories=[{"a"}, {"a"}, {"a"}])
    result = reranker.rerank(one_row([3, 2, 1]), k=3, constraints=Constraints(max_per_category=1), items=attrs)
    assert result.ranked.indices.tolist() == [[0, 1, 2]]
    assert result.relaxed[0] == ["max_per_category: limits raised by 2 to fill 3 slots"]


def test_raised_limits_bring_back_the_new_items_they_make_room_for(reranker: coldkit.Reranker) -> None:
    # one new item in two slots of one category limited to 1: the share was given up (to 0) and then the limit
    # raised by 1, which alone held both; "as little as it can" keeps the new item
    attrs = ItemAttributes(categories=[{"A"}] * 4, is_new=[False, False, False, True])
    cons = Constraints(max_per_category=1, min_new_share=0.5)
    result = reranker.rerank(one_row([4, 3, 2, 1]), k=2, constraints=cons, items=attrs)
    assert result.ranked.indices.tolist() == [[0, 3]]
    assert result.relaxed[0] == ["max_per_category: limits raised by 1 to fill 2 slots"]
    # the share comes back only as far as the raised limits allow, and says how far
    attrs = ItemAttributes(categories=[{"A"}] * 3 + [{"B"}] * 3, is_new=[False, True, True, False, False, False])
    cons = Constraints(max_per_category=1, min_new_share=1.0)
    result = reranker.rerank(one_row([6, 5, 4, 3, 2, 1]), k=3, constraints=cons, items=attrs)
    assert int(np.sum(np.isin(result.ranked.indices[0], [1, 2]))) == 2
    assert result.relaxed[0] == [
        "min_new_share: 3 new items required, but only 2 of the 6 candidates are new; the list has 2 new items",
        "max_per_category: limits raised by 1 to fill 3 slots",
    ]


def test_non_relaxable_constraint_shortens_the_list(reranker: coldkit.Reranker) -> None:
    attrs = ItemAttributes(categories=[{"a"}, {"a"}, {"b"}])
    cons = Constraints(max_per_category=1, relax_order=("min_new_share",))
    result = reranker.rerank(one_row([3, 2, 1]), k=3, constraints=cons, items=attrs)
    assert result.ranked.indices.tolist() == [[0, 2, -1]]
    assert "list shortened to 2 items" in result.relaxed[0][0]


def test_per_row_constraints_and_bad_input(reranker: coldkit.Reranker) -> None:
    ranked = coldkit.Ranked(np.array([[0, 1], [0, 1]]), np.array([[2, 1], [2, 1]], dtype=np.float32))
    result = reranker.rerank(ranked, k=1, constraints=[Constraints(), Constraints(exclude=[0])])
    assert result.ranked.indices.tolist() == [[0], [1]]
    with pytest.raises(coldkit.InvalidInputError, match="2 rows"):
        reranker.rerank(ranked, k=1, constraints=[Constraints()])
    with pytest.raises(coldkit.InvalidInputError, match="needs ItemAttributes.is_new"):
        reranker.rerank(ranked, k=1, constraints=Constraints(min_new_share=0.5))
    with pytest.raises(coldkit.InvalidInputError, match="needs ItemAttributes.categories"):
        reranker.rerank(ranked, k=1, constraints=Constraints(max_per_category=1))
    with pytest.raises(coldkit.InvalidInputError, match="no ItemAttributes.is_new"):
        reranker.rerank(ranked, k=1, items=ItemAttributes(is_new=[True]))
    with pytest.raises(coldkit.InvalidInputError, match="k must be"):
        reranker.rerank(ranked, k=0)
    with pytest.raises(coldkit.InvalidInputError, match="min_new_share"):
        Constraints(min_new_share=1.5)
    with pytest.raises(coldkit.InvalidInputError, match="integers >= 0"):
        Constraints(max_per_category=-1)
    with pytest.raises(coldkit.InvalidInputError, match="unknown constraints"):
        Constraints(relax_order=("exclude",))


def brute_force_best(scores, cats, new, k, limit, share):  # type: ignore[no-untyped-def]
    """Best total score over every k-subset that meets the constraints (None if none does)."""
    need = math.ceil(round(share * k, 9))
    best = None
    for subset in itertools.combinations(range(len(scores)), k):
        counts: dict[str, int] = {}
        for i in subset:
            for c in cats[i]:
                counts[c] = counts.get(c, 0) + 1
        if any(v > limit for v in counts.values()) or sum(new[i] for i in subset) < need:
            continue
        total = sum(scores[i] for i in subset)
        best = total if best is None else max(best, total)
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 20), min_size=n, max_size=n),
            st.lists(st.sets(st.sampled_from("abc"), max_size=2), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.integers(1, n),
            st.integers(1, 3),
            st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        )
    )
)
def test_optimal_against_brute_force(case) -> None:  # type: ignore[no-untyped-def]
    scores, cats, new, k, limit, share = case
    expected = brute_force_best(scores, cats, new, k, limit, share)
    attrs = ItemAttributes(categories=cats, is_new=new)
    cons = Constraints(max_per_category=limit, min_new_share=share)
    result = coldkit.get_reranker("constraints").rerank(one_row([float(s) for s in scores]), k, cons, attrs)
    chosen = [i for i in result.ranked.indices[0] if i >= 0]
    if expected is None:
        assert result.relaxed[0], "an infeasible case must say what was relaxed"
    else:
        assert result.relaxed == [[]]
        assert len(chosen) == k
        assert sum(scores[i] for i in chosen) == expected


def test_mmr_prefers_a_diverse_second_item() -> None:
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    attrs = ItemAttributes(vectors=vectors)
    ranked = one_row([1.0, 0.95, 0.6])
    plain = coldkit.get_reranker("mmr", lambda_=1.0).rerank(ranked, k=2, items=attrs)
    diverse = coldkit.get_reranker("mmr", lambda_=0.5).rerank(ranked, k=2, items=attrs)
    assert plain.ranked.indices.tolist() == [[0, 1]]
    # Second pick: item1 = .5*0.875 - .5*0.99 < item2 = .5*0 - .5*0 -> item2.
    assert diverse.ranked.indices.tolist() == [[0, 2]]


def test_mmr_honours_new_share_and_needs_vectors() -> None:
    vectors = np.eye(4, dtype=np.float32)
    attrs = ItemAttributes(vectors=vectors, is_new=[False, False, False, True])
    result = coldkit.get_reranker("mmr").rerank(
        one_row([4, 3, 2, 1]), k=2, constraints=Constraints(min_new_share=0.5), items=attrs
    )
    assert sorted(result.ranked.indices[0].tolist()) == [0, 3]
    with pytest.raises(coldkit.InvalidInputError, match="vectors"):
        coldkit.get_reranker("mmr").rerank(one_row([1.0]), k=1)


def test_mmr_raises_category_limits_as_little_as_the_exact_reranker() -> None:
    # when no candidate fitted the limits, mmr dropped them all for the rest of the list: under a limit of 3,
    # the most relevant category took 11 of 20 places where raising every limit evenly needs at most 6
    rng = np.random.default_rng(0)
    categories = [["Action"]] * 14 + [["Drama"]] * 4 + [["Comedy"]] * 3 + [["Horror"]] * 2 + [["War"]] * 1
    scores = np.sort(rng.random(len(categories)))[::-1].astype(np.float32).tolist()  # the Action films first
    attrs = ItemAttributes(categories=categories, vectors=rng.normal(size=(len(categories), 8)).astype(np.float32))
    cons = Constraints(max_per_category=3)
    exact = coldkit.get_reranker("constraints").rerank(one_row(scores), k=20, constraints=cons, items=attrs)
    for lambda_ in (0.3, 0.7, 1.0):
        mmr = coldkit.get_reranker("mmr", lambda_=lambda_).rerank(one_row(scores), k=20, constraints=cons, items=attrs)
        chosen = mmr.ranked.indices[0]
        assert len(set(chosen.tolist())) == 20
        action = sum(categories[i] == ["Action"] for i in chosen)
        exact_action = sum(categories[i] == ["Action"] for i in exact.ranked.indices[0])
        assert action == exact_action == 20 - 10, (lambda_, action, exact_action)  # every other film, then Action
        assert "max_per_category: limits raised by 7 to fill 20 slots" in mmr.relaxed[0] == exact.relaxed[0], (mmr.relaxed, exact.relaxed)


def test_mmr_reads_scores_equal_up_to_float_noise_as_a_tie() -> None:
    """Scores one float32 step apart are rounding noise (:func:`coldkit.builtins.fusion.constant_rows`): min-max
    stretched them to relevance 1, 0.5, 0, and with lambda 0.9 the noise chose the near-duplicate item 1.
    Read as the tie they are, relevance prefers none and diversity picks item 2, as for exactly equal scores."""
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    attrs = ItemAttributes(vectors=vectors)
    one = np.float32(1.0)
    below = np.nextafter(one, np.float32(0))
    noisy = coldkit.Ranked(np.arange(3)[None, :], np.array([[one, below, np.nextafter(below, np.float32(0))]], np.float32))
    reranker = coldkit.get_reranker("mmr", lambda_=0.9)
    tied = reranker.rerank(one_row([1.0, 1.0, 1.0]), k=2, items=attrs)
    # by hand, second pick: item1 = .9 * 1 - .1 * 0.99 = 0.801 < item2 = .9 * 1 - .1 * 0 = 0.9
    assert tied.ranked.indices.tolist() == [[0, 2]]
    assert reranker.rerank(noisy, k=2, items=attrs).ranked.indices.tolist() == [[0, 2]]
    # a real order among small scores is kept: 1e-6 apart at 1e-6 is far above float32 noise
    small = coldkit.Ranked(np.arange(3)[None, :], np.array([[3e-6, 2e-6, 1e-6]], np.float32))
    # item1 = .9 * .5 - .1 * .99 = 0.351 > item2 = .9 * 0 = 0
    assert reranker.rerank(small, k=2, items=attrs).ranked.indices.tolist() == [[0, 1]]


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5], float("nan"), -0.1])
def test_mmr_lambda_must_be_a_number_in_0_1(bad: object) -> None:
    """A string or None failed as a bare TypeError from the comparison; True was read as lambda 1.0."""
    with pytest.raises(coldkit.InvalidInputError, match="mmr lambda_ must be a number in"):
        coldkit.get_reranker("mmr", lambda_=bad)
    assert coldkit.get_reranker("mmr", lambda_=np.float32(0.25)).lambda_ == 0.25
    assert coldkit.get_reranker("mmr", lambda_=1).lambda_ == 1.0


@pytest.mark.parametrize("bad", ["0.5", None, True, float("nan")])
def test_min_new_share_must_be_a_number(bad: object) -> None:
    """"0.5" passed the check (float("0.5") is fine) and then failed deep in the reranker as a TypeError
    ('>' between str and int); None failed as float(None); True was a share of 1."""
    with pytest.raises(coldkit.InvalidInputError, match="min_new_share must be a number in"):
        Constraints(min_new_share=bad)  # type: ignore[arg-type]
    assert Constraints(min_new_share=np.float64(0.5)).min_new_share == 0.5


def test_item_attributes_refuse_non_finite_vectors_and_non_flat_flags() -> None:
    """A NaN vector made every similarity to it NaN, read as no similarity: the near-duplicate it was
    went unpenalised without a word. A 2-D is_new was flattened onto other items' positions."""
    with pytest.raises(coldkit.InvalidInputError, match=r"vectors hold non-finite values \(item 1"):
        ItemAttributes(vectors=np.array([[1.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(coldkit.InvalidInputError, match=r"is_new must be 1-D"):
        ItemAttributes(is_new=np.zeros((3, 2), dtype=bool))


@pytest.mark.parametrize("name", ["constraints", "mmr"])
def test_a_nan_score_of_a_listed_candidate_is_refused(name: str) -> None:
    """A NaN score was dropped as if the item were not listed; the fusions refuse it too."""
    ranked = coldkit.Ranked(np.array([[0, 1, 2]]), np.array([[3.0, np.nan, 1.0]], np.float32))
    attrs = ItemAttributes(vectors=np.eye(3, dtype=np.float32))
    with pytest.raises(coldkit.InvalidInputError, match=r"row 0: candidate item 1 has a NaN score"):
        coldkit.get_reranker(name).rerank(ranked, k=2, items=attrs)


@pytest.mark.parametrize("name", ["constraints", "mmr"])
def test_a_k_beyond_the_candidates_allocates_no_empty_positions(name: str) -> None:
    """k = 10**12 over three candidates asked for (1, 10**12) arrays of padding (a MemoryError; 10**9 took 12 GB):
    no list can hold more items than it has candidates (as recommend caps k at the catalogue)."""
    attrs = ItemAttributes(vectors=np.eye(3, dtype=np.float32))
    result = coldkit.get_reranker(name).rerank(one_row([3.0, 2.0, 1.0]), k=10**12, items=attrs)
    assert result.ranked.indices.shape == (1, 3) and sorted(result.ranked.indices[0].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("name", ["constraints", "mmr"])
def test_an_item_listed_twice_counts_once_at_its_best_score(name: str) -> None:
    # merged retrievals: [0, 0, 1, 1] showed item 0 twice, and the limits were raised to make room for it
    ranked = coldkit.Ranked(np.array([[1, 0, 0, 2, 1]]), np.array([[3.0, 4.0, 4.5, 1.0, 2.0]], dtype=np.float32))
    attrs = ItemAttributes(categories=[{"a"}, {"b"}, {"a"}], vectors=np.eye(3, dtype=np.float32))
    plain = coldkit.get_reranker(name).rerank(ranked, 4, items=attrs)
    assert plain.ranked.indices.tolist() == [[0, 1, 2, -1]]  # each item once; item 0 at its best copy (4.5)
    assert plain.ranked.scores[0, :3].tolist() == [4.5, 3.0, 1.0]
    assert "only 3 distinct candidates remain" in plain.relaxed[0][0]
    # items 0 and 2 share category "a": at most one of them, and no limit is loosened for a second copy of 0
    limited = coldkit.get_reranker(name).rerank(ranked, 2, Constraints(max_per_category=1), attrs)
    assert limited.ranked.indices.tolist() == [[0, 1]] and limited.relaxed == [[]]


def test_a_category_given_as_a_string_is_one_category(reranker: coldkit.Reranker) -> None:
    # "drama" was read as the letters d, r, a, m: a limit on "drama" limited nothing, and drama and comedy
    # shared 'd' and 'm'
    ranked = one_row([3.0, 2.0, 1.0])
    attrs = ItemAttributes(categories=["drama", "drama", "horror"])
    assert reranker.rerank(ranked, 2, Constraints(max_per_category={"drama": 1}), attrs).ranked.indices.tolist() == [[0, 2]]
    result = reranker.rerank(ranked, 2, Constraints(max_per_category=1), ItemAttributes(categories=["drama", "comedy", "horror"]))
    assert result.ranked.indices.tolist() == [[0, 1]] and result.relaxed == [[]]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda r: r.rerank(one_row([np.inf, 3, 2, 1]), 2), "candidate item 0 has a +inf score"),
        (lambda r: r.rerank(one_row([3, 2, 1]), 2, {"max_per_category": 1}), "constraints must be a Constraints"),
        (lambda r: r.rerank(one_row([3, 2, 1]), 2, [{"max_per_category": 1}]), "constraints[0] is a dict"),
        (lambda r: ItemAttributes(categories=[{"a"}, None]), "item 1 has NoneType"),
        (lambda r: r.rerank(coldkit.Ranked(np.array([[0.5, 1.0]]), np.array([[2, 1]], dtype=np.float32)), 1), "must be integers"),
        (lambda r: r.rerank(coldkit.Ranked(np.array([[-5, 1]]), np.array([[9, 1]], dtype=np.float32)), 1), "item index -5 is negative"),
        (lambda r: coldkit.Ranked([[0, 1]], [[1.0, 0.5]]), "Ranked takes numpy arrays"),
        (lambda r: Constraints(relax_order="min_new_share"), "relax_order takes a sequence of constraint names"),
    ],
)
def test_badly_shaped_rerank_input_is_named(reranker: coldkit.Reranker, call, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(coldkit.InvalidInputError, match=__import__("re").escape(words)):
        call(reranker)
