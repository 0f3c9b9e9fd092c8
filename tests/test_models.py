"""Baselines and collaborative filtering: popularity, random, item/user kNN, EASE, create()."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import coldkit.models as models
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError, UnknownComponentError
from coldkit.models.base import NotFittedError
from coldkit.models.popularity import NEGLIGIBLE_SHARE

TITLES = [
    "Space Robots", "Robot Wars", "Romantic Paris", "Paris in Love", "Basketball Legends",
    "Basketball Dreams", "Ocean Documentary", "Deep Ocean", "Comedy Night", "Laugh Out Loud",
]
GENRES = [
    "Sci-Fi", "Sci-Fi|Action", "Romance", "Romance|Comedy", "Sport", "Sport|Drama",
    "Documentary", "Documentary", "Comedy", "Comedy",
]


def make_data(seed: int = 0, n_users: int = 12, with_timestamps: bool = True) -> Interactions:
    """Users with two tastes over a 10-item catalogue; item 9 never interacted with (cold)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"item_id": [f"i{j}" for j in range(10)], "title": TITLES, "genres": GENRES})
    catalog = Catalog(table["item_id"].to_numpy(), table, text_columns=("title", "genres"))
    dense = np.zeros((n_users, 10), dtype=np.float32)
    for u in range(n_users):
        pool = [0, 1, 6, 7] if u % 2 == 0 else [2, 3, 4, 5, 8]
        picks = rng.choice(pool, size=rng.integers(2, len(pool) + 1), replace=False)
        dense[u, picks] = rng.integers(1, 6, size=len(picks))
    dense[:, 9] = 0.0
    dense[0, 8] = 3.0  # a cross-taste interaction so similarities are not trivially block-diagonal
    matrix = sp.csr_matrix(dense)
    ts = None
    if with_timestamps:
        stamps = sp.csr_matrix(matrix, dtype=np.int64)
        stamps.data = rng.integers(0, 100 * 86400, size=stamps.nnz).astype(np.int64)
        ts = stamps
    return Interactions(np.array([f"u{u}" for u in range(n_users)]), catalog, matrix, ts)


@pytest.fixture(scope="module")
def data() -> Interactions:
    return make_data()


def binary(train: Interactions) -> np.ndarray:
    return (train.matrix.toarray() > 0).astype(np.float64)


def ranking_from_scores(scores: np.ndarray, exclude: np.ndarray, k: int) -> list[int]:
    """Reference ranking: best score first, ties by lower index, excluded items dropped."""
    order = [i for i in np.lexsort((np.arange(scores.size), -scores)) if i not in set(exclude.tolist())]
    return order[:k]


# ------------------------------------------------------------------------------ registry


def test_available_lists_the_required_models() -> None:
    names = models.available()
    for required in ("popularity", "popularity-recent", "popularity-genre", "random", "item-knn", "user-knn",
                     "ease", "content", "cold-ridge", "cold-mlp", "hybrid", "router"):
        assert required in names
    assert set(models.describe()) == set(names)


def test_unknown_model_name_lists_valid_names() -> None:
    with pytest.raises(UnknownComponentError) as err:
        models.create("svd++")
    assert "svd++" in str(err.value) and "item-knn" in str(err.value) and "hybrid" in str(err.value)


def test_unknown_option_names_the_model() -> None:
    with pytest.raises(TypeError, match="item-knn"):
        models.create("item-knn", neighbours=3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "5"])
def test_bad_k_is_rejected(data: Interactions, bad: object) -> None:
    model = models.create("popularity").fit(data)
    with pytest.raises(InvalidInputError, match="k must"):
        model.recommend([UserQuery(user=0)], bad)  # type: ignore[arg-type]


def test_bad_queries_are_rejected(data: Interactions) -> None:
    model = models.create("item-knn").fit(data)
    with pytest.raises(InvalidInputError, match="user index 99"):
        model.recommend([UserQuery(user=99)], 3)
    with pytest.raises(InvalidInputError, match=r"outside \[0, 10\).*\[10\]"):
        model.recommend([UserQuery(history=np.array([1, 10]))], 3)
    with pytest.raises(InvalidInputError, match="sequence of UserQuery"):
        model.recommend(UserQuery(user=0), 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="candidates"):
        model.recommend([UserQuery(user=0)], 3, candidates=np.array([0, 42]))


def test_recommend_before_fit_is_an_error() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        models.create("ease").recommend([UserQuery(user=0)], 3)


# ------------------------------------------------------------------------------ popularity


def test_popularity_matches_hand_count(data: Interactions) -> None:
    counts = (data.matrix.toarray() > 0).sum(axis=0)
    model = models.create("popularity").fit(data)
    ranked = model.recommend([UserQuery()], 10, exclude_known=False)
    assert ranked.indices[0].tolist() == ranking_from_scores(counts.astype(float), np.empty(0, int), 10)
    np.testing.assert_allclose(ranked.scores[0], np.sort(counts)[::-1])


def test_popularity_exclude_known_and_candidates(data: Interactions) -> None:
    model = models.create("popularity").fit(data)
    known = data.items_of(1)
    history = np.array([0])
    ranked = model.recommend([UserQuery(user=1, history=history)], 10)
    row = ranked.indices[0]
    shown = row[row >= 0]
    assert not set(shown.tolist()) & (set(known.tolist()) | {0})
    assert len(shown) == 10 - len(set(known.tolist()) | {0})
    assert np.all(ranked.scores[0][row < 0] == -np.inf)  # padding convention
    cand = np.array([9, 2, 7])
    ranked = model.recommend([UserQuery()], 5, candidates=cand)
    assert set(ranked.indices[0][:3].tolist()) == {2, 7, 9}
    assert ranked.indices[0][3:].tolist() == [-1, -1]
    assert ranked.indices[0][2] == 9  # the cold item (count 0) comes last
    empty = model.recommend([UserQuery()], 3, candidates=np.array([], dtype=np.int64))
    assert empty.indices.tolist() == [[-1, -1, -1]]


def test_recent_popularity_decays_by_half_life(data: Interactions) -> None:
    model = models.create("popularity-recent", half_life_days=10).fit(data)
    ts = data.timestamps.tocsr()
    age = (ts.data.max() - ts.data) / 86400.0
    expected = np.bincount(ts.indices, weights=0.5 ** (age / 10), minlength=10)
    np.testing.assert_allclose(model.item_scores(), expected, rtol=1e-9)
    ranked = model.recommend([UserQuery()], 3, exclude_known=False)
    assert ranked.indices[0].tolist() == ranking_from_scores(expected, np.empty(0, int), 3)
    with pytest.raises(InvalidInputError, match="needs a timestamp on every interaction"):
        models.create("popularity-recent").fit(make_data(with_timestamps=False))
    with pytest.raises(InvalidInputError, match="half_life"):
        models.create("popularity-recent", half_life_days=0)


def test_recent_popularity_orders_items_long_faded_by_their_count() -> None:
    # 20 years of data and a 7-day half-life: an item last seen years ago decays below float32's
    # smallest numbers, and every such item tied at 0, ranked by catalogue order (the popular old
    # film as low as one watched once)
    from coldkit.data.loaders import catalog_from_frame, interactions_from_frame

    day, year = 86400, 365 * 86400
    rows = [("u0", "new", 20 * year)]  # the newest interaction
    rows += [(f"u{i}", "old-rare", day) for i in range(1, 2)]  # index 1: one user, 20 years ago
    rows += [(f"u{i}", "old-hit", 2 * day) for i in range(1, 40)]  # index 2: 39 users, 20 years ago
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": ["new", "old-rare", "old-hit", "never"], "title": ["a", "b", "c", "d"]})
    train = interactions_from_frame(frame, catalog_from_frame(items))
    model = models.create("popularity-recent", half_life_days=7).fit(train)
    scores = model.item_scores()
    assert scores[0] == 1.0 and scores[3] == 0.0  # the newest counts 1; a never-seen item stays 0
    assert scores[0] > scores[2] > scores[1] > 0  # the faded: by count, under the floor, above nothing
    assert scores[2] < NEGLIGIBLE_SHARE * scores[0]
    ranked = model.recommend([UserQuery()], 4, exclude_known=False)
    assert ranked.indices[0].tolist() == [0, 2, 1, 3]
    assert np.all(ranked.scores[0][:3] > 0)  # still distinct in the float32 the ranking reads


def test_genre_popularity_follows_the_users_genres(data: Interactions) -> None:
    model = models.create("popularity-genre", global_weight=0.0).fit(data)
    # a new user who clicked one Documentary: the other Documentary item wins
    ranked = model.recommend([UserQuery(history=np.array([6]))], 1)
    assert ranked.indices[0, 0] == 7
    # genre named in the text
    ranked = model.recommend([UserQuery(text="I want some romance")], 2)
    assert set(ranked.indices[0].tolist()) == {2, 3}
    # no information: plain popularity
    plain = models.create("popularity").fit(data).recommend([UserQuery()], 5)
    assert model.recommend([UserQuery()], 5).indices.tolist() == plain.indices.tolist()


def test_genre_popularity_reads_a_genre_named_in_either_unicode_form() -> None:
    d = make_data()
    table = d.catalog.table.copy()
    # the catalogue in one form (NFD "Documentaire" too), the user's text in either
    table["genres"] = [g.replace("Comedy", "Comédie").replace("Documentary", unicodedata.normalize("NFD", "Documentaire")) for g in GENRES]
    catalog = Catalog(d.catalog.item_ids, table, text_columns=("title", "genres"))
    model = models.create("popularity-genre", global_weight=0.0).fit(Interactions(d.user_ids, catalog, d.matrix))
    comedie = model.genres_.index("Comédie")
    texts = ["une COMÉDIE", unicodedata.normalize("NFD", "une COMÉDIE"), "un documentaire", "sports"]
    shares = model.genre_shares([UserQuery(text=t) for t in texts])
    assert shares[:2, comedie].tolist() == [1.0, 1.0]  # the decomposed text named no genre before
    assert shares[2].max() == 1.0 and shares[2].argmax() != comedie  # and the NFD genre matched no NFC text
    assert shares[3, model.genres_.index("Sport")] == 1.0  # its plain plural names it ("sports": names_genre)


#: ml-100k's genre names (u.genre) with ml-latest-small's "Children" and "IMAX", and two unspaced-script names
REAL_GENRES = ["Action", "Adventure", "Animation", "Children's", "Children", "Comedy", "Crime", "Documentary", "Drama",
               "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
               "Western", "Science Fiction", "科幻", "ลูกทุ่ง"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        # a genre's name inside another word names nothing (each of these named War, Drama, Action, Crime...)
        ("I work in software", []),
        ("a melodramatic transaction in the warehouse", []),
        ("discrimination, reaction, dramatic, crimean, warmth", []),
        # whole words, any case and punctuation; a several-word name as its words in order
        ("Something with WAR. And a drama!", ["Drama", "War"]),
        ("film noir, sci-fi or sci fi, science fiction", ["Film-Noir", "Sci-Fi", "Science Fiction"]),
        ("noir film, fiction science", []),
        # plain plurals and possessives of the last word
        ("westerns, comedies, documentaries, thrillers and musicals", ["Comedy", "Documentary", "Musical", "Thriller", "Western"]),
        ("children's films", ["Children", "Children's"]),
        ("for childrens and children", ["Children", "Children's"]),
        ("imax", ["IMAX"]),
        # a script without spaces: the name anywhere in the text, as its words have no boundary to find
        ("我喜欢科幻电影", ["科幻"]),
        ("ชอบเพลงลูกทุ่งมาก", ["ลูกทุ่ง"]),
    ],
)
def test_genre_popularity_names_a_genre_by_its_whole_words(text: str, named: list[str]) -> None:
    d = make_data()
    table = d.catalog.table.copy()
    table["genres"] = ["|".join(REAL_GENRES[j::10]) for j in range(10)]
    catalog = Catalog(d.catalog.item_ids, table, text_columns=("title", "genres"))
    model = models.create("popularity-genre", global_weight=0.0).fit(Interactions(d.user_ids, catalog, d.matrix))
    (shares,) = model.genre_shares([UserQuery(text=text)])
    assert sorted(model.genres_[j] for j in np.flatnonzero(shares)) == named
    if not named:  # before: "popular in your genres: War" for a user who works in software
        assert "nothing known of your genres" in model.explain(UserQuery(text=text), 0)


@pytest.mark.parametrize("sep", [", ", ";", " ; ", "mixed"])
def test_genre_popularity_reads_genres_written_with_another_separator(sep: str) -> None:
    """'Comedy, Romance' split on '|' alone was one genre of its own per combination, so the model ranked by
    plain popularity without a word: the same genres and scores as the '|'-separated column."""
    d = make_data()
    bars = d.catalog.table.copy()
    # "mixed": ';' in some values and ',' in others (one column written by two tools)
    commas = bars.assign(genres=[(";" if i % 2 else ", ").join(g.split("|")) if sep == "mixed" else sep.join(g.split("|"))
                                 for i, g in enumerate(bars["genres"])])
    fitted = [
        models.create("popularity-genre", global_weight=0.0).fit(Interactions(d.user_ids, Catalog(d.catalog.item_ids, t, text_columns=("title", "genres")), d.matrix))
        for t in (bars, commas)
    ]
    assert any("|" in g for g in bars["genres"])  # the kit has items of several genres
    assert fitted[0].genres_ == fitted[1].genres_
    queries = [UserQuery(user=u) for u in range(d.n_users)] + [UserQuery(text="comedy")]
    a, b = (m.recommend(queries, 5) for m in fitted)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_genre_popularity_needs_genres() -> None:
    d = make_data()
    table = d.catalog.table.drop(columns=["genres"])
    cat = Catalog(d.catalog.item_ids, table, text_columns=("title",))
    no_genres = Interactions(d.user_ids, cat, d.matrix)
    with pytest.raises(InvalidInputError, match="genres"):
        models.create("popularity-genre").fit(no_genres)


def test_random_is_seeded_and_respects_exclusions(data: Interactions) -> None:
    queries = [UserQuery(user=u) for u in range(6)]
    a = models.create("random", seed=3).fit(data).recommend(queries, 10)
    b = models.create("random", seed=3).fit(data).recommend(queries, 10)
    c = models.create("random", seed=4).fit(data).recommend(queries, 10)
    assert a.indices.tolist() == b.indices.tolist()
    assert a.indices.tolist() != c.indices.tolist()
    for u in range(6):
        row = a.indices[u][a.indices[u] >= 0]
        assert not set(row.tolist()) & set(data.items_of(u).tolist())
        assert len(set(row.tolist())) == len(row)


def test_random_first_position_is_roughly_uniform(data: Interactions) -> None:
    model = models.create("random", seed=0).fit(data)
    firsts = model.recommend([UserQuery(text=f"query {h}") for h in range(1000)], 1).indices[:, 0]
    counts = np.bincount(firsts, minlength=10)
    # expectation 100 each; a chi-square with 9 d.o.f. above 27.9 has probability 0.001
    assert ((counts - 100) ** 2 / 100).sum() < 27.9


# ------------------------------------------------------------------------------ item-kNN


def reference_item_knn(train: Interactions, similarity: str, shrinkage: float, neighbors: int) -> np.ndarray:
    """Item-item matrix by explicit loops over item pairs (independent of the vectorised code)."""
    x = binary(train)
    n = x.shape[1]
    sims = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a, b = x[:, i], x[:, j]
            if similarity == "pearson":
                if a.std() == 0 or b.std() == 0:
                    continue
                s = np.corrcoef(a, b)[0, 1]
            else:
                na, nb = np.linalg.norm(a), np.linalg.norm(b)
                s = 0.0 if na == 0 or nb == 0 else a @ b / (na * nb)
            co = np.sum((a != 0) & (b != 0))
            sims[i, j] = s * co / (co + shrinkage) if shrinkage else s
    pruned = np.zeros_like(sims)
    for target in range(n):  # keep the `neighbors` most similar source items of each target item
        order = np.lexsort((np.arange(n), -sims[:, target]))[:neighbors]
        pruned[order, target] = sims[order, target]
    return pruned


@pytest.mark.parametrize("similarity,shrinkage,neighbors", [("cosine", 0.0, 3), ("cosine", 2.0, 4), ("pearson", 1.5, 3), ("pearson", 0.0, 9)])
def test_item_knn_matches_reference(data: Interactions, similarity: str, shrinkage: float, neighbors: int) -> None:
    model = models.create("item-knn", similarity=similarity, shrinkage=shrinkage, neighbors=neighbors).fit(data)
    warm = np.flatnonzero(data.item_counts() > 0)
    # the model learns over warm items only (the cold item 9 has no column)
    reference = reference_item_knn_sub(data, warm, similarity, shrinkage, neighbors)
    np.testing.assert_allclose(model.item_matrix_, reference, atol=1e-5)
    x = binary(data)
    for u in (0, 1, 5):
        scores = np.zeros(10)
        scores[warm] = x[u, warm] @ reference
        expected = ranking_from_scores(scores, data.items_of(u), 4)
        got = model.recommend([UserQuery(user=u)], 4)
        np.testing.assert_allclose(got.scores[0], scores[expected], atol=1e-5)
        # same items, up to the order of exact float ties
        np.testing.assert_allclose(scores[got.indices[0]], scores[expected], atol=1e-5)


def reference_item_knn_sub(data: Interactions, warm: np.ndarray, similarity: str, shrinkage: float, neighbors: int) -> np.ndarray:
    sub_table = data.catalog.table.iloc[warm].reset_index(drop=True)
    sub = Interactions(data.user_ids, Catalog(data.catalog.item_ids[warm], sub_table), data.matrix[:, warm])
    return reference_item_knn(sub, similarity, shrinkage, min(neighbors, len(warm)))


def test_item_knn_folds_in_a_new_users_clicks(data: Interactions) -> None:
    model = models.create("item-knn", neighbors=5).fit(data)
    warm_user = model.recommend([UserQuery(user=2)], 5)
    new_user = model.recommend([UserQuery(history=data.items_of(2))], 5)
    assert warm_user.indices.tolist() == new_user.indices.tolist()
    np.testing.assert_allclose(warm_user.scores, new_user.scores)
    assert "because you liked" in model.explain(UserQuery(user=2), int(warm_user.indices[0, 0]))


@pytest.mark.parametrize("name, options", [("item-knn", {}), ("content", {"encoder": "hashing"}), ("hybrid", {"encoder": "hashing"})])
def test_explain_takes_an_item_index_and_refuses_anything_else(data: Interactions, name: str, options: dict) -> None:
    model = models.create(name, **options).fit(data)
    query = UserQuery(user=2)
    assert model.explain(query, np.int64(3)) == model.explain(query, 3)
    # your own ids, as recommend(users=...) takes them: a user id and an item id string
    assert model.explain(str(data.user_ids[2]), "i3") == model.explain(UserQuery(user=str(data.user_ids[2])), "i3")
    assert model.explain(str(data.user_ids[2]), "i3") == model.explain(query, int(data.catalog.index_of(["i3"])[0]))
    # was int(item): "3" (an id) explained row 3, 3.7 explained row 3, None was a bare TypeError
    with pytest.raises(InvalidInputError, match=r"unknown item id '3'"):
        model.explain(str(data.user_ids[2]), "3")
    # one form per call: with a user id, an int item is an id too (as recommend(users=[...]) reads ints), not row 3
    with pytest.raises(InvalidInputError, match=r"unknown item id '3'"):
        model.explain(str(data.user_ids[2]), 3)
    with pytest.raises(InvalidInputError, match=r"explain\(user, item\): unknown user ids \['nobody'\]"):
        model.explain("nobody", "i3")
    for bad in (3.7, 3.0, None, True, np.array([3])):
        with pytest.raises(InvalidInputError, match="item must be an item index"):
            model.explain(query, bad)
    # item-knn answered "no liked item is similar to this one" for these (-1 is the last row)
    for outside in (-1, 10, 10**30):
        with pytest.raises(InvalidInputError, match=rf"item index {outside} out of range \[0, 10\)"):
            model.explain(query, outside)


def test_item_knn_candidates_match_full_ranking_filtered(data: Interactions) -> None:
    model = models.create("item-knn", neighbors=None).fit(data)
    full = model.recommend([UserQuery(user=3)], 10)
    cand = np.array([1, 3, 5, 7, 9])
    part = model.recommend([UserQuery(user=3)], 10, candidates=cand)
    expected = [i for i in full.indices[0] if i in set(cand.tolist())]
    assert part.indices[0][: len(expected)].tolist() == expected


def test_item_knn_bad_options() -> None:
    with pytest.raises(InvalidInputError, match="similarity"):
        models.create("item-knn", similarity="jaccard")
    with pytest.raises(InvalidInputError, match="shrinkage"):
        models.create("item-knn", shrinkage=-1)
    with pytest.raises(InvalidInputError, match="neighbors"):
        models.create("item-knn", neighbors=0)


@pytest.mark.parametrize("name", ["item-knn", "user-knn"])
def test_knn_option_types_are_checked(name: str) -> None:
    # neighbors=2.5 was kept as 2 and "5" as 5, silently; shrinkage="3" reached a numpy ufunc error
    for bad in (2.5, "5", True, 5.0):
        with pytest.raises(InvalidInputError, match=r"neighbors must be an integer, got"):
            models.create(name, neighbors=bad)
    with pytest.raises(InvalidInputError, match=r"shrinkage must be a number, got str '3'"):
        models.create(name, shrinkage="3")
    assert models.create(name, neighbors=np.int64(5)).neighbors == 5  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ user-kNN


@pytest.mark.parametrize("similarity,shrinkage", [("cosine", 0.0), ("pearson", 2.0)])
def test_user_knn_matches_reference(data: Interactions, similarity: str, shrinkage: float) -> None:
    neighbors = 3
    model = models.create("user-knn", similarity=similarity, shrinkage=shrinkage, neighbors=neighbors).fit(data)
    x = binary(data)
    warm = np.flatnonzero(data.item_counts() > 0)
    for u in (0, 3):
        sims = np.full(x.shape[0], -np.inf)
        for v in range(x.shape[0]):
            if v == u:
                continue
            a, b = x[u, warm], x[v, warm]
            if similarity == "pearson":
                s = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
            else:
                s = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            co = np.sum((a != 0) & (b != 0))
            sims[v] = s * co / (co + shrinkage) if shrinkage else s
        top = np.lexsort((np.arange(len(sims)), -sims))[:neighbors]
        scores = sims[top] @ x[top]
        expected = ranking_from_scores(scores, data.items_of(u), 3)
        got = model.recommend([UserQuery(user=u)], 3)
        np.testing.assert_allclose(got.scores[0], scores[expected], atol=1e-5)


# ------------------------------------------------------------------------------ EASE


def test_ease_matches_per_column_constrained_least_squares(data: Interactions) -> None:
    l2 = 3.0
    model = models.create("ease", l2=l2).fit(data)
    warm = np.flatnonzero(data.item_counts() > 0)
    x = binary(data)[:, warm]
    n = x.shape[1]
    reference = np.zeros((n, n))
    for j in range(n):  # diag(B)=0 means column j is regressed on the other items only
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        reference[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n - 1), a.T @ x[:, j])
    np.testing.assert_allclose(model.item_matrix_, reference, atol=1e-4)
    ranked = model.recommend([UserQuery(user=4)], 3)
    scores = np.zeros(10)
    scores[warm] = x[4] @ reference
    np.testing.assert_allclose(ranked.scores[0], scores[ranking_from_scores(scores, data.items_of(4), 3)], atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_ease_ranks_new_users_clicks_like_a_dense_reference(seed: int) -> None:
    # the sparse path (a user's clicks pick rows of S) against x_u @ S in numpy, with candidate
    # subsets, exclusions, cold items (score 0) and ties broken by the lower index
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 25
    dense = (rng.random((n_users, n_items)) < 0.2).astype(np.float32)
    dense[:, -3:] = 0.0  # three items nobody interacted with
    table = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "title": [f"t{j}" for j in range(n_items)]})
    catalog = Catalog(table["item_id"].to_numpy(), table, text_columns=("title",))
    train = Interactions(np.array([f"u{u}" for u in range(n_users)]), catalog, sp.csr_matrix(dense))
    model = models.create("ease", l2=2.0).fit(train)
    warm = np.flatnonzero(train.item_counts() > 0)
    s_matrix = np.asarray(model.item_matrix_, dtype=np.float64)
    queries = [UserQuery(user=int(u)) for u in range(0, n_users, 7)]
    queries += [UserQuery(history=np.sort(rng.choice(n_items, size, replace=False))) for size in (1, 3, 5)]
    cand = np.sort(rng.choice(n_items, 15, replace=False))
    for candidates in (None, cand):
        got = model.recommend(queries, k=8, candidates=candidates)
        for b, q in enumerate(queries):
            clicked = train.items_of(q.user) if q.user is not None else q.history
            x = np.zeros(n_items)
            x[clicked] = 1.0
            scores = np.zeros(n_items)
            scores[warm] = x[warm] @ s_matrix
            allowed = np.ones(n_items, bool) if candidates is None else np.isin(np.arange(n_items), candidates)
            scores[~allowed] = -np.inf
            expected = [i for i in ranking_from_scores(scores, np.asarray(clicked), n_items) if allowed[i]][:8]
            listed = got.indices[b, : len(expected)]
            # rank by rank the reference's scores (items may swap only where scores tie within rounding)
            np.testing.assert_allclose(got.scores[b, : len(expected)], scores[expected], atol=1e-5)
            np.testing.assert_allclose(scores[listed], scores[expected], atol=1e-5)
            assert allowed[listed].all() and not np.isin(listed, clicked).any()


@pytest.mark.parametrize("name", ["ease", "item-knn"])
def test_item_item_models_answer_an_empty_batch(data: Interactions, name: str) -> None:
    # the sparse scoring path loops over chunks of queries: none must still give a (0, k) result
    model = models.create(name).fit(data)
    for candidates in (None, np.array([0, 2, 9])):
        ranked = model.recommend([], 3, candidates=candidates)
        assert ranked.indices.shape == (0, 3) and ranked.scores.shape == (0, 3)
        assert ranked.indices.dtype == np.int64 and ranked.scores.dtype == np.float32


def test_ease_cold_item_scores_zero_and_l2_validated(data: Interactions) -> None:
    model = models.create("ease").fit(data)
    assert np.all(model.item_vectors()[9] == 0)
    with pytest.raises(InvalidInputError, match="l2"):
        models.create("ease", l2=0)
    # a string reached np.isfinite, whose ufunc error named no option
    for bad in ("3", None, True):
        with pytest.raises(InvalidInputError, match=r"l2 must be a number, got"):
            models.create("ease", l2=bad)
    with pytest.raises(InvalidInputError, match=r"l2 must be a finite number, got nan"):
        models.create("ease", l2=float("nan"))
    assert models.create("ease", l2=np.float32(3)).l2 == 3.0  # type: ignore[attr-defined]


def test_ease_refuses_a_penalty_float32_cannot_carry(data: Interactions) -> None:
    """l2=1e308 overflowed the float32 Gram and gave an all-zero B: every item scored 0, silently."""
    with pytest.raises(InvalidInputError, match=r"l2 must be <= 1e\+30, got 1e\+308"):
        models.create("ease", l2=1e308)
    # within float32's range but so large that every weight underflows: an error, not a list of ties
    with pytest.raises(InvalidInputError, match=r"ease: l2=1e\+30 is too large for these data.*every item-item weight is 0"):
        models.create("ease", l2=1e30).fit(data)
    # no user with two items: B = 0 is EASE's right answer there, whatever λ, and no error
    one_each = sp.csr_matrix(np.eye(4, 10, dtype=np.float32))
    single = Interactions(np.array([f"u{u}" for u in range(4)]), data.catalog, one_each, None)
    assert not np.any(models.create("ease").fit(single).item_matrix_)  # type: ignore[attr-defined]


def test_ease_builds_its_item_vectors_only_when_read(data: Interactions) -> None:
    """Ranking reads S itself; the (items x warm items) table is made for its readers (the cold adapters'
    warm space, a backend scan) on first use, and is S's columns with zero rows for cold items."""
    model = models.create("ease", l2=5.0).fit(data)
    ranked = model.recommend([UserQuery(user=0)], 4)
    assert model._item_vectors is None and ranked.indices.shape == (1, 4)
    vectors = model.item_vectors()
    warm = np.flatnonzero(data.item_counts() > 0)
    expected = np.zeros((data.n_items, warm.size), dtype=np.float32)
    expected[warm] = np.asarray(model.item_matrix_).T
    np.testing.assert_array_equal(vectors, expected)
    assert model.item_vectors() is vectors
    model.fit(data)  # a refit drops the old table
    assert model._item_vectors is None


def test_switches_must_be_booleans() -> None:
    # bool("no") is True: a model built or asked with a string switch would silently do the opposite
    from coldkit.exceptions import InvalidInputError
    from coldkit.models import create
    from coldkit.testing import synthetic_interactions

    for name in ("item-knn", "user-knn", "ease"):
        with pytest.raises(InvalidInputError, match="binarize must be True or False, got 'no'"):
            create(name, binarize="no")
    train, _, _ = synthetic_interactions(seed=0)
    model = create("item-knn").fit(train)
    with pytest.raises(InvalidInputError, match="exclude_known must be True or False"):
        model.recommend([UserQuery(user=0)], k=3, exclude_known="no")
    kept = model.recommend([UserQuery(user=0)], k=3, exclude_known=np.bool_(False))
    assert kept.indices.shape == (1, 3)


@pytest.mark.parametrize(
    "name, option",
    [
        ("cold-ridge", "l2"), ("cold-ridge", "item_trust"), ("hybrid", "item_trust"), ("friends", "global_weight"),
        ("hybrid", "user_trust"), ("content", "text_weight"), ("cold-knn", "item_trust"), ("cold-knn", "power"),
        ("bilinear", "l2"), ("popularity-recent", "half_life_days"), ("dp-hybrid", "cf_trust"), ("dp-ease", "l2"),
    ],
)
def test_numeric_options_refuse_booleans_strings_and_nan_by_name(name: str, option: str) -> None:
    """``True`` is an int to Python: ``l2=True`` ran as λ = 1; ``"3"`` died in a ufunc error naming no option."""
    extra = {} if name in ("popularity-recent", "dp-ease", "friends") else {"encoder": "hashing"}
    for bad, says in ((True, "must be a number, got bool True"), ("3", "must be a number, got str '3'"),
                      (None, "must be a number, got NoneType"), (float("nan"), "must be a finite number, got nan")):
        with pytest.raises(InvalidInputError, match=f"{option} {says}"):
            models.create(name, **{option: bad}, **extra)
    with pytest.raises(InvalidInputError, match=f"{option} must be >"):
        models.create(name, **{option: -1.0}, **extra)


@pytest.mark.parametrize("weights", ["notjson", ["cf", 1.0], 3])
def test_hybrid_weights_that_are_not_a_mapping_are_named(weights: object) -> None:
    # "notjson" (a --option value that is no JSON object) came back as "dictionary update sequence element #0"
    with pytest.raises(InvalidInputError, match="weights must be a mapping of source -> weight"):
        models.create("hybrid", encoder="hashing", weights=weights)


def test_hybrid_weights_may_be_a_series_or_pairs() -> None:
    series = pd.Series({"cf": 0.5, "content": 2.0})
    for given in (series, [("cf", 0.5), ("content", 2.0)]):
        model = models.create("hybrid", encoder="hashing", weights=given)
        assert model.weights["cf"] == 0.5 and model.weights["content"] == 2.0


def test_explain_with_int_ids_reads_the_user_and_the_item_as_ids() -> None:
    """Int ids in the frames: explain(3, 37) explained the item at *row* 37 for user *id* 3 (another film)."""
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 60, 400)}).drop_duplicates()
    items = pd.DataFrame({"item_id": np.arange(60), "title": [f"film {i}" for i in range(60)]}).sample(frac=1.0, random_state=1)
    model = models.create("item-knn").fit(ratings, items=items)
    train = model.train_
    user = int(ratings["user_id"].iloc[0])
    row = int(train.catalog.index_of(["37"])[0])
    assert row != 37  # the items were shuffled: row and id differ
    by_index = model.explain(UserQuery(user=int(train.user_index()[str(user)])), row)
    assert model.explain(user, 37) == model.explain(user, "37") == model.explain(str(user), 37) == by_index
    # a query of ids (history 8 is the id "8", as recommend(users=...) reads it) with an item id
    history = int(train.catalog.index_of(["8"])[0])
    assert model.explain(UserQuery(history=["8"]), "37") == model.explain(UserQuery(history=[8]), "37")
    assert model.explain(UserQuery(history=[8]), "37") == model.explain(UserQuery(history=np.array([history])), row)
    # a list of users (as recommend(users=...) takes) is named as explain's mistake; the message was "users= entries ..."
    for many in ([user], (user,), np.array([user]), pd.Series([user]), None):
        with pytest.raises(InvalidInputError, match=r"^explain\(user, item\): the user is one user id or a UserQuery, got "):
            model.explain(many, "37")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["item-knn", "ease", "content"])
def test_explain_names_a_liked_item_by_its_name_column(name: str) -> None:
    """A catalogue of artists (lastfm: a ``name``, no ``title``): item-kNN and EASE read "because you
    liked 67" — the id — where content said "Madonna"; every model names the item alike now."""
    ratings = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u4"], "item_id": ["67", "89", "67", "89", "67", "89", "7"]})
    items = pd.DataFrame({"item_id": ["67", "89", "7"], "name": ["Madonna", "Madonna Remixed", "Kraftwerk"]})
    model = models.create(name, **({"encoder": "hashing"} if name == "content" else {})).fit(ratings, items=items)
    said = model.explain(UserQuery(history=["67"]), "89")
    assert said.startswith("because you liked Madonna") and "67" not in said, said


def test_explain_names_the_text_closeness_when_no_word_is_shared() -> None:
    """The hashing encoder stems ("robots" ~ "robot"): the text ranks the film first without a shared word.
    Its explanation said "no ... word of yours matches" (content) and "popular: 1 users" (hybrid), reasons
    that had not ranked it; now the closeness itself, equal to the text's cosine with the item."""
    ratings = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["m1", "m2", "m2", "m3"]})
    items = pd.DataFrame({"item_id": ["m1", "m2", "m3", "m4"],
                          "title": ["Space robots attack", "Alien love story", "Heat of the night", "Robotic spaceships"]})
    query = UserQuery(text="robot invasion")
    content = models.create("content", encoder="hashing", cache=False).fit(ratings, items=items)
    assert content.recommend(users={"q": query}, k=1)["item_id"].tolist() == ["m1"]
    m1 = int(content.train_.catalog.index_of(["m1"])[0])
    expected = float(content.encode_user_texts(["robot invasion"])[0] @ content.item_vectors()[m1])
    assert expected > 0.1
    reason = f"close to your words (content similarity {expected:.2f})"
    assert content.explain(query, "m1") == reason
    assert content.explain(query, "m2").startswith("no liked item")  # nothing close: no such claim
    hybrid = models.create("hybrid", encoder="hashing", cache=False).fit(ratings, items=items)
    # the text ranked it (popularity, at the text's weight, may speak for it too: coldkit.models.blend.speaking_sources)
    assert hybrid.explain(query, "m1").startswith(reason)
    assert hybrid.explain(UserQuery(text="robots"), "m1").startswith("matches your words: robots")  # a shared word is named as before


def test_explain_does_not_call_an_item_close_to_words_it_barely_touches() -> None:
    """Any positive cosine was "close to your words": with the hashing encoder on ml-100k about a quarter of
    the catalogue, down to "content similarity 0.00". Close now means at least half the text's best match
    (the server's rule, coldkit.models.blend.close_to_text). The text vector is set here so the cosines are known."""
    ratings = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["m1", "m2", "m2", "m3"]})
    items = pd.DataFrame({"item_id": ["m1", "m2", "m3", "m4"],
                          "title": ["Space robots attack", "Alien love story", "Heat of the night", "Garden of roses"]})
    query = UserQuery(text="robot invasion")
    for name in ("content", "hybrid"):
        model = models.create(name, encoder="hashing", cache=False).fit(ratings, items=items)
        content = model if name == "content" else model.content
        vectors = content.item_vectors().astype(np.float64)
        m1, m4 = (int(model.train_.catalog.index_of([i])[0]) for i in ("m1", "m4"))
        # a unit text vector in the plane of m1 and m4, turned from m1 until its cosine with m4 is 0.05
        along, across = vectors[m4] @ vectors[m1], vectors[m4] - (vectors[m4] @ vectors[m1]) * vectors[m1]
        radius, phase = float(np.hypot(along, np.linalg.norm(across))), float(np.arctan2(np.linalg.norm(across), along))
        turn = phase - float(np.arccos(0.05 / radius))
        text = np.cos(turn) * vectors[m1] + np.sin(turn) * across / np.linalg.norm(across)
        content.encode_user_texts = lambda texts, text=text: np.tile(text.astype(np.float32), (len(texts), 1))  # type: ignore[method-assign]
        sims = vectors @ text
        assert 0.01 < sims[m4] < 0.5 * sims.max() and sims[m1] == sims.max()
        assert model.explain(query, "m1").startswith(f"close to your words (content similarity {sims[m1]:.2f})")
        assert "close to your words" not in model.explain(query, "m4"), model.explain(query, "m4")


# ------------------------------------------------------------------------------ explain: every model


def test_popularity_explains_with_the_count_that_ranked_it(data: Interactions) -> None:
    """popularity had no explain at all (AttributeError): it says how many users took the item, and its place."""
    model = models.create("popularity").fit(data)
    users_per_item = (data.matrix.toarray() > 0).sum(axis=0)  # the reference: distinct users per item
    order = sorted(range(10), key=lambda i: (-users_per_item[i], i))
    for item in (order[0], order[4]):
        expected = f"popular: {users_per_item[item]} users interacted with it (#{order.index(item) + 1} of 10 items)"
        assert model.explain(UserQuery(user=1), item) == expected
        assert model.explain("u1", f"i{item}") == expected  # the ids form too, as the other models
    assert model.explain(UserQuery(), 9).startswith("no user interacted with it")  # item 9 is cold


def test_popularity_variants_explain_their_own_scores(data: Interactions) -> None:
    """popularity-recent ranks by a decayed count and popularity-genre by genre shares: neither may say the plain count alone."""
    recent = models.create("popularity-recent", half_life_days=10).fit(data)
    ts = data.timestamps.toarray().astype(np.float64)
    newest = ts[data.matrix.toarray() > 0].max()
    decayed = np.where(data.matrix.toarray() > 0, 0.5 ** ((newest - ts) / 86400 / 10), 0.0).sum(axis=0)
    assert recent.explain(UserQuery(user=0), 8).startswith(f"popular lately: {decayed[8]:.1f} interactions weighted by recency")
    genre = models.create("popularity-genre").fit(data)
    # the user's items are all Sci-Fi/Documentary; the text adds Comedy
    reason = genre.explain(UserQuery(history=np.array([0, 1]), text="I love Comedy"), 8)
    assert reason.startswith("popular in your genres: Comedy ("), reason
    assert "plain popularity" in genre.explain(UserQuery(), 8)


def test_cold_ridge_explains_by_the_shares_of_its_score(data: Interactions) -> None:
    """cold-ridge had no explain: for a new item it names the liked item with the largest share of
    p_u · q̂_i and the known items whose CF vectors the mapped vector lands nearest."""
    model = models.create("cold-ridge", warm="svd", encoder="hashing").fit(data)
    warm = np.flatnonzero((data.matrix.toarray() > 0).sum(axis=0))
    basis = model.warm.item_vectors_.astype(np.float64)  # svd: one click on j folds in to exactly q_j
    mapped = model.map_content(model.content.item_vectors()[[9]])[0].astype(np.float64)  # item 9 is cold: its vector is the map's
    liked = np.flatnonzero(data.matrix.toarray()[3] > 0)
    shares = basis[liked] @ mapped
    np.testing.assert_allclose(shares.sum(), model.recommend([UserQuery(user=3)], 10, exclude_known=False).scores[0][
        list(model.recommend([UserQuery(user=3)], 10, exclude_known=False).indices[0]).index(9)], rtol=1e-4)
    cosines = basis[warm] @ mapped / (np.linalg.norm(basis[warm], axis=1) * np.linalg.norm(mapped))
    nearest = [TITLES[j] for j in warm[np.argsort(-cosines, kind="stable")[:2]]]
    best = liked[np.argmax(shares)]
    assert model.explain(UserQuery(user=3), 9) == (
        f"because you liked {TITLES[best]} (its share of the score {shares.max():.3g}); "
        f"a new item: its content maps it near the CF vectors of {nearest[0]}, {nearest[1]}"
    )
    assert model.explain(UserQuery(), 9).startswith("nothing you liked or wrote adds to its score; a new item")
    assert model.explain(UserQuery(), 8) == (
        f"nothing you liked or wrote adds to its score; {int((data.matrix.toarray()[:, 8] > 0).sum())} users interacted with it (its CF vector)"
    )


@pytest.mark.parametrize("name, options", [
    ("user-knn", {}), ("random", {}), ("bilinear", {"encoder": "hashing"}), ("text-match", {}), ("friends", {}),
])
def test_a_model_without_reasons_says_so_by_name(data: Interactions, name: str, options: dict) -> None:
    """Every registered model has explain: one that gives no reason names itself (it was an AttributeError)."""
    from coldkit.exceptions import NotExplainableError

    model = models.create(name, **options).fit(data)
    with pytest.raises(NotExplainableError, match=rf"model '{name}' gives no reason .* the models that do: .*cold-ridge.*popularity"):
        model.explain(UserQuery(user=1), 3)
    with pytest.raises(InvalidInputError, match="out of range"):  # a bad item is still reported as such
        model.explain(UserQuery(user=1), 10)


def test_every_registered_model_has_explain() -> None:
    from coldkit.models.base import explaining_models

    # every model has the method (the base class's refuses by name, tested below); these give reasons
    assert {"popularity", "cold-ridge", "cold-knn", "content", "hybrid"} <= set(explaining_models())
    assert not {"aldi", "federated", "user-knn"} & set(explaining_models())  # they refuse: not listed as explaining


def test_router_does_not_make_up_a_reason_for_a_model_without_one(data: Interactions) -> None:
    """A route to a model without explain said "one of the most popular items" of whatever that model ranked."""
    from coldkit.exceptions import NotExplainableError

    router = models.create("router", cold=models.create("user-knn"), hybrid_options={"encoder": "hashing"}).fit(data)
    with pytest.raises(NotExplainableError, match="model 'user-knn' gives no reason"):
        router.explain(UserQuery(history=np.array([2])), 3)
    assert router.explain(UserQuery(), 8) == "[popular] " + models.create("popularity").fit(data).explain(UserQuery(), 8)


def test_router_explains_a_hybrid_route_by_the_candidates_it_ranked_from(data: Interactions) -> None:
    """Router.explain took no candidates, so its hybrid route explained a cold-candidate list as if ranked over
    the whole catalogue; it passes them to the hybrid now, and refuses an item outside them on every route."""
    router = models.create("router", hybrid_options={"encoder": "hashing", "cache": False}).fit(data)
    query = UserQuery(user=0)
    assert router.route([query]) == ["warm"]
    cand = np.arange(0, data.n_items, 2)
    item = int(router.recommend([query], k=1, candidates=cand).indices[0, 0])
    assert router.explain(query, item, candidates=cand) == "[warm] " + router.warm.explain(query, item, candidates=cand)
    outside = int(np.setdiff1d(np.arange(data.n_items), cand)[0])
    for asked in (query, UserQuery()):  # the hybrid route and the popularity route
        with pytest.raises(InvalidInputError, match="not among the"):
            router.explain(asked, outside, candidates=cand)
    assert router.explain(UserQuery(), 8) == router.explain(UserQuery(), 8, candidates=np.arange(data.n_items))


def test_cold_adapter_explain_names_what_the_content_map_gave_a_blended_item() -> None:
    """With item_trust > 0 a warm item's vector blends its CF vector with the content-mapped one. The reason
    said "blended with the N its content predicts" with N read off the blended vector (and named the items
    near the blend as where the map put it): the number the content predicts is the mapped vector's."""
    base = make_data(n_users=40)
    dense = base.matrix.toarray()
    dense[:, 0] = 1.0  # item 0 taken by everyone: far more than its content predicts
    data = Interactions(base.user_ids, base.catalog, sp.csr_matrix(dense))
    counts = (dense > 0).sum(axis=0)
    model = models.create("cold-ridge", warm="popularity", item_trust=5.0, encoder="hashing", cache=False).fit(data)
    # the reference: the ridge map applied to the item's content vector (what the blend mixes in)
    predicted = float(np.expm1(model.map_content(model.content.item_vectors()[[0]])[0, 0]))
    blended = float(np.expm1(model.item_vectors()[0, 0]))
    assert abs(predicted - blended) > 5, (predicted, blended)  # the case tells the two apart
    assert model.explain(UserQuery(user=0), 0) == (
        f"popular: {counts[0]} users interacted with it (blended with the {predicted:.0f} its content predicts)"
    )
    svd = models.create("cold-ridge", warm="svd", item_trust=5.0, encoder="hashing", cache=False).fit(data)
    mapped = svd.map_content(svd.content.item_vectors()[[1]])[0].astype(np.float64)
    warm = np.flatnonzero(counts > 0)
    basis = svd.warm.item_vectors_[warm].astype(np.float64)
    cosines = basis @ mapped / (np.linalg.norm(basis, axis=1) * np.linalg.norm(mapped))
    nearest = [TITLES[j] for j in warm[np.argsort(-cosines, kind="stable")] if j != 1][:2]
    assert svd.explain(UserQuery(), 1).endswith(f"of its vector from its content, mapped near the CF vectors of {nearest[0]}, {nearest[1]})")


def test_cold_adapter_explain_of_a_new_item_makes_no_copy_of_the_item_table() -> None:
    """Naming the known items nearest a new item's mapped vector copied the warm rows to float64 and took their
    norms and a full sort: ~3.5x the item table per explain call (1 GB and 3 s at 1M items x 64 factors). Now a
    step of rows at a time and a partition; the names are those of the float64 reference."""
    import tracemalloc

    n_items, n_users = 20_000, 300
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)],
                          "title": [f"w{j % 997} v{j % 13}" for j in range(n_items)]})
    rows, cols = rng.integers(0, n_users, 20_000), rng.integers(0, n_items - 10, 20_000)
    matrix = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    matrix.data[:] = 1.0
    train = Interactions(np.array([f"u{u}" for u in range(n_users)]),
                         Catalog(table["item_id"].to_numpy(), table, text_columns=("title",)), matrix)
    model = models.create("cold-ridge", warm="svd", factors=64, encoder="hashing", cache=False).fit(train)
    new = n_items - 1  # no interaction: its vector is the map's
    model.explain(UserQuery(), new)  # the item's row mapped, once
    tracemalloc.start()
    try:
        reason = model.explain(UserQuery(), new)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < model.warm.item_vectors_.nbytes, (peak, model.warm.item_vectors_.nbytes)
    warm = np.flatnonzero(np.asarray(matrix.sum(axis=0)).ravel() > 0)
    basis = model.warm.item_vectors_[warm].astype(np.float64)
    mapped = model.item_vectors()[new].astype(np.float64)
    cosines = basis @ mapped / (np.linalg.norm(basis, axis=1) * np.linalg.norm(mapped))
    nearest = [table["title"][j] for j in warm[np.argsort(-cosines, kind="stable")[:2]]]
    assert reason == f"nothing you liked or wrote adds to its score; a new item: its content maps it near the CF vectors of {nearest[0]}, {nearest[1]}"


@pytest.mark.parametrize("name", ["popularity", "popularity-recent", "popularity-genre"])
def test_popularity_explain_counts_the_interactions_once_per_fit(data: Interactions, name: str, monkeypatch) -> None:
    """Each explain counted every training interaction again (a bincount: 72 ms a call at 10M interactions, 0.7 s
    to explain a list of 10, against 4 ms to rank it); the counts are the fit's, read once."""
    model = models.create(name).fit(data)
    calls = []
    original = Interactions.item_counts
    monkeypatch.setattr(Interactions, "item_counts", lambda self: calls.append(1) or original(self))
    reasons = [model.explain(UserQuery(user=1), item) for item in range(10) for _ in range(2)]
    assert len(calls) <= 1, len(calls)
    monkeypatch.undo()
    assert reasons == [models.create(name).fit(data).explain(UserQuery(user=1), item) for item in range(10) for _ in range(2)]


def test_popularity_recent_explain_gives_the_place_the_ranking_gives() -> None:
    """The place was counted on the float64 scores while the ranking compares them in float32: two decayed counts
    closer than float32's resolution tie in the ranking (the lower index first) yet were told apart in the
    reason (ml-100k, half-life 1 day: 34 of 1,682 places off by one or two)."""
    table = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["a", "b", "c"]})
    catalog = Catalog(table["item_id"].to_numpy(), table, text_columns=("title",))
    day = 86400
    # a: one interaction at the newest time (1.0); b: the same plus one 30 half-lives older (1 + 2**-30)
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    stamps = sp.csr_matrix(np.array([[1000 * day, 1000 * day, 0], [0, 970 * day, 990 * day]], dtype=np.int64))
    data = Interactions(np.array(["u0", "u1"]), catalog, matrix, stamps)
    model = models.create("popularity-recent", half_life_days=1.0).fit(data)
    scores = model.item_scores()
    assert scores[1] > scores[0] and np.float32(scores[1]) == np.float32(scores[0])  # the case
    ranked = model.recommend([UserQuery()], 3, exclude_known=False).indices[0].tolist()
    assert ranked[:2] == [0, 1]  # the float32 tie: the lower index first
    for place, item in enumerate(ranked, start=1):
        assert f"(#{place} of 3 items)" in model.explain(UserQuery(), item), (item, model.explain(UserQuery(), item))


def test_cold_adapter_explain_in_the_users_space_names_a_blended_items_users() -> None:
    """In the 'users' space an item with interactions and item_trust > 0 (alpha 452/455 on ml-100k's Toy Story)
    was said to be ranked because "its content predicts who will take it": only an item without interactions is."""
    model = models.create("cold-ridge", warm="users", item_trust=3.0, encoder="hashing", cache=False).fit(make_data())
    data = make_data()
    counts = (data.matrix.toarray() > 0).sum(axis=0)
    item = int(np.argmax(counts))
    share = 1 - counts[item] / (counts[item] + 3.0)
    score = model.item_vectors()[item, 1]
    assert model.explain(UserQuery(user=1), item) == (
        f"{counts[item]} users interacted with it ({share:.0%} of its vector from its content); your score for it {score:.2f}"
    )
    assert model.explain(UserQuery(user=1), 9).startswith("its content predicts who will take it; ")  # item 9: none


def test_cold_adapter_explain_of_a_text_matches_it_against_the_catalogue_once(data: Interactions, monkeypatch) -> None:
    """explain matched the text against every warm item twice (text_clicks, then text_user_vectors again), each
    a copy of the warm items' content vectors: 0.37 s an explain at 30k items x 1024 dims, 0.28 s to rank."""
    import coldkit.models.cold as cold

    model = models.create("cold-ridge", warm="svd", encoder="hashing", cache=False).fit(data)
    query = UserQuery(text="robot wars in space")
    expected = model.explain(query, 1)
    assert "your words, read as clicks on" in expected
    calls = []
    original = cold.text_clicks
    monkeypatch.setattr(cold, "text_clicks", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert model.explain(query, 1) == expected
    assert len(calls) == 1


def test_names_genre_finds_a_genre_in_a_script_without_spaces_anywhere_in_the_text() -> None:
    from coldkit.models.popularity import names_genre

    # its words are CJK bigrams ("科幻", "幻电", "电影"...): the four-letter genre is in no one of them
    assert names_genre("我喜欢科幻电影", "科幻电影") and names_genre("我喜欢科幻电影", "科幻")
    assert not names_genre("我喜欢爱情片", "科幻电影")
    assert names_genre("I love westerns", "Western") and not names_genre("I work in software", "War")


def test_hybrid_and_router_explain_read_candidates_as_ids_in_the_id_form() -> None:
    """``explain(user_id, item_id, candidates=ids)``: the candidates were read as indices, so string ids failed on
    their dtype ("must hold integer item indices") and integer ids explained the item over other candidates."""
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user_id": rng.integers(0, 40, 600), "item_id": rng.integers(0, 80, 600)}).drop_duplicates()
    items = pd.DataFrame({"item_id": np.arange(100), "title": [f"film {i} {'war' if i % 3 else 'love'}" for i in range(100)]})
    items = items.sample(frac=1.0, random_state=2)  # rows and ids differ
    hybrid = models.create("hybrid", encoder="hashing", cache=False).fit(ratings, items=items)
    router = models.create("router", hybrid_options={"encoder": "hashing", "cache": False}).fit(ratings, items=items)
    cold = list(range(80, 100))  # nobody rated them: the cold-item regime
    user = int(ratings["user_id"].iloc[0])
    for model in (hybrid, router):
        top = str(model.recommend(users=[user], k=1, items=cold)["item_id"].iloc[0])
        train = model.train_
        rows = np.sort(train.catalog.index_of([str(c) for c in cold]))
        by_index = model.explain(UserQuery(user=int(train.user_index()[str(user)])), int(train.catalog.index_of([top])[0]), candidates=rows)
        assert model.explain(user, top, candidates=cold) == model.explain(str(user), top, candidates=[str(c) for c in cold]) == by_index
        with pytest.raises(InvalidInputError, match=rf"explain: item '{top}' is not among the 1 candidates"):
            model.explain(user, top, candidates=[c for c in cold if str(c) != top][:1])
        with pytest.raises(InvalidInputError, match=r"explain\(candidates=\.\.\.\): unknown item ids \['nope'\]"):
            model.explain(user, top, candidates=["nope"])


def test_ease_explain_names_no_liked_item_for_an_item_they_weigh_against(data: Interactions) -> None:
    """EASE's weights can be negative: the largest positive share named a liked item ("because you liked X")
    for an item whose score was below zero, at the bottom of the list."""
    model = models.create("ease", l2=1.0).fit(data)  # a small penalty: strong negative weights
    vectors = model.item_vectors()  # item x warm items
    for user in range(data.n_users):
        query = UserQuery(user=user)
        shares = model.user_rows([query])[0][None, :] * vectors  # each liked item's share of each item's score
        against = [i for i in range(data.n_items) if shares[i].sum() < 0 and (shares[i] > 0).any()]
        if against:
            break
    assert against, "the fixture should hold such an item"
    assert model.explain(query, against[0]).startswith("the items you liked weigh against this one")
    liked = [i for i in range(data.n_items) if shares[i].sum() > 0]
    assert model.explain(query, liked[0]).startswith("because you liked ")
