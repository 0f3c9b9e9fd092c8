"""The pandas / external-id front door of every recommender (coldkit.models.frames + Recommender wrappers)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit.models as models
from coldkit.data import UserQuery
from coldkit.data.interactions import Interactions
from coldkit.exceptions import DataWarning, InvalidInputError, UnknownComponentError
from coldkit.models.registry import ModelOptionError, parse_option_value
from coldkit.plugins.types import Ranked

REPO = Path(__file__).resolve().parents[1]

# popularity by hand: a is liked by 3 users, b by 2, c by 1, d by nobody (only in the item table)
RATINGS = pd.DataFrame(
    {"user_id": ["u1", "u1", "u2", "u3", "u3", "u3"], "item_id": ["a", "b", "a", "a", "c", "b"],
     "rating": [5.0, 4.0, 3.0, 5.0, 2.0, 4.0]}
)
ITEMS = pd.DataFrame(
    {"item_id": ["a", "b", "c", "d"],
     "title": ["space robots", "a love story", "robots in love", "war drama"],
     "genres": ["Sci-Fi", "Romance", "Sci-Fi|Romance", "War"]}
)


def rows(frame: pd.DataFrame) -> list[tuple[object, str, float, int]]:
    return [(u, i, float(s), int(r)) for u, i, s, r in frame[["user_id", "item_id", "score", "rank"]].itertuples(index=False)]


def test_popularity_on_a_tiny_frame_matches_hand_counts() -> None:
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    recs = model.recommend(users=["u1", "u2", UserQuery(history=["c"])], k=3)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    # u1 has a, b -> c (1 user), d (0); u2 has a -> b (2), c (1), d (0); the new user has c -> a, b, d
    assert rows(recs) == [
        ("u1", "c", 1.0, 1), ("u1", "d", 0.0, 2),
        ("u2", "b", 2.0, 1), ("u2", "c", 1.0, 2), ("u2", "d", 0.0, 3),
        (None, "a", 3.0, 1), (None, "b", 2.0, 2), (None, "d", 0.0, 3),
    ]
    everything = model.recommend(users=["u1"], k=2, filter_seen=False)
    assert rows(everything) == [("u1", "a", 3.0, 1), ("u1", "b", 2.0, 2)]
    only = model.recommend(users={"visitor": UserQuery()}, k=5, items=["d", "c"])
    assert rows(only) == [("visitor", "c", 1.0, 1), ("visitor", "d", 0.0, 2)]
    with pytest.raises(InvalidInputError, match=r"user ids listed more than once \['u1'\]"):
        model.recommend(users=["u1", "u2", "u1"], k=2)  # one user's rows twice under one user_id
    labelled = model.recommend(users={"a": "u1", "b": "u1"}, k=1)  # labels of its own: nothing ambiguous
    assert list(labelled["user_id"]) == ["a", "b"] and labelled["item_id"].nunique() == 1


@pytest.mark.parametrize(
    "users",
    [
        ["u1", UserQuery(user="u1", text="robots")],
        [UserQuery(user="u1"), UserQuery(user="u1", text="robots")],
        [UserQuery(user="u1", history=["c"]), "u2", "u1"],
    ],
)
def test_a_user_twice_in_a_list_is_refused_pointing_to_the_dict_form(users: list) -> None:
    # [u1, UserQuery(user=u1, text=...)] returned two blocks both labelled "u1": a groupby("user_id")
    # merged them into one user with two rank-1 items, and nothing said which rows answered which query
    model = models.create("content", encoder="hashing").fit(RATINGS, items=ITEMS)
    with pytest.raises(InvalidInputError, match=r"user ids listed more than once \['u1'\] .*UserQuery\(user=\.\.\.\) counts as its "
                                                r"user.*name the queries with a dict, e.g. users=\{'u1': 'u1', 'u1 \(space\)': "):
        model.recommend(users=users, k=2)
    # the dict form asks for one user twice, each block under its own label, each as if asked alone
    both = model.recommend(users={"plain": "u1", "robots": UserQuery(user="u1", text="robots")}, k=2)
    assert list(dict.fromkeys(both["user_id"])) == ["plain", "robots"]
    alone = model.recommend(users=[UserQuery(user="u1", text="robots")], k=2)
    assert rows(both[both["user_id"] == "robots"].assign(user_id="u1")) == rows(alone)
    assert rows(both[both["user_id"] == "plain"].assign(user_id="u1")) == rows(model.recommend(users=["u1"], k=2))


def test_two_queries_without_a_user_in_a_list_are_refused_pointing_to_the_dict_form() -> None:
    # [UserQuery(text="robots"), UserQuery(text="paris")] returned two blocks labelled None: a groupby("user_id")
    # dropped both (None keys), and filled in they ran together as one user with two rank-1 items
    model = models.create("content", encoder="hashing").fit(RATINGS, items=ITEMS)
    with pytest.raises(InvalidInputError, match=r"2 queries without a user id in a list: each one's rows would be labelled None.*"
                                                r"name them with a dict"):
        model.recommend(users=[UserQuery(text="robots"), "u1", UserQuery(history=["a"])], k=2)
    # one is still fine, and the dict form labels each block, each as if asked alone
    alone = model.recommend(users=[UserQuery(text="robots")], k=2)
    assert alone["user_id"].isna().all() and alone["rank"].tolist() == [1, 2]
    both = model.recommend(users={"r": UserQuery(text="robots"), "h": UserQuery(history=["a"])}, k=2)
    assert list(dict.fromkeys(both["user_id"])) == ["r", "h"]
    assert rows(both[both["user_id"] == "r"].assign(user_id=None)) == rows(alone)


def test_without_items_the_catalogue_is_the_ids_seen_and_content_models_ask_for_items() -> None:
    model = models.create("popularity").fit(RATINGS)
    assert list(model.train_.catalog.item_ids) == ["a", "b", "c"]  # type: ignore[union-attr]
    for name in ("content", "hybrid"):
        with pytest.raises(InvalidInputError, match=r"items="):
            models.create(name, encoder="hashing").fit(RATINGS)


def test_dataframe_form_agrees_with_the_index_form_and_int_ids_round_trip() -> None:
    rng = np.random.default_rng(3)
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, 30, 400), rng.integers(0, 40, 400))}
    frame = pd.DataFrame(sorted(pairs), columns=["uid", "movie"])
    frame["uid"] += 1000
    frame["movie"] += 500  # external ids are ints that are NOT the indices
    model = models.create("item-knn").fit(frame, columns={"user_id": "uid", "item_id": "movie"})
    train = model.train_
    assert isinstance(train, Interactions)
    users = [1003, "1007", 1011]
    recs = model.recommend(users=users, k=5)
    index = train.user_index()
    ranked = model.recommend([UserQuery(user=index[str(u)]) for u in users], 5)
    assert isinstance(ranked, Ranked)
    for b, user in enumerate(users):
        mine = recs[recs.user_id == str(user)]
        expected = [train.catalog.item_ids[i] for i in ranked.indices[b] if i >= 0]
        assert mine.item_id.tolist() == expected
        assert mine["rank"].tolist() == list(range(1, len(expected) + 1))
        np.testing.assert_allclose(mine.score.to_numpy(), ranked.scores[b][: len(expected)], rtol=1e-6)
        seen = set(frame.movie[frame.uid == int(user)].astype(str))
        assert not seen & set(mine.item_id)
    # a history of int external ids means those items, not those indices
    history = [500, 501]
    cold = model.recommend(users=[UserQuery(history=history)], k=4)
    by_index = model.recommend([UserQuery(history=train.catalog.index_of(map(str, history)))], 4)
    assert cold.item_id.tolist() == [train.catalog.item_ids[i] for i in by_index.indices[0] if i >= 0]


def test_sparse_matrix_checked_as_a_dataframe_is() -> None:
    """A stored zero was accepted (in the pattern, so "known" to some models, with no weight to others), a
    negative weight counted as a like without the warning a DataFrame gets, a complex matrix lost its
    imaginary parts with only numpy's ComplexWarning."""
    ids = {"user_ids": ["a", "b"], "item_ids": ["x", "y"]}
    zero = sp.csr_matrix((np.array([1.0, 0.0]), ([0, 1], [0, 1])), shape=(2, 2))
    with pytest.raises(InvalidInputError, match=r"stores 1 explicit zero\(s\) \(e.g. row 1, column 1\).*eliminate_zeros"):
        models.create("popularity").fit(zero, **ids)
    zero.eliminate_zeros()
    models.create("popularity").fit(zero, **ids)  # as the message says: then it fits
    with pytest.raises(InvalidInputError, match="holds complex128 values; interactions are real weights"):
        models.create("popularity").fit(sp.csr_matrix(np.array([[1 + 1j, 0], [1, 1]])), **ids)
    with pytest.warns(DataWarning, match="1 interaction\\(s\\) have a negative weight in the sparse matrix"):
        models.create("popularity").fit(sp.csr_matrix(np.array([[-1.0, 0.0], [1.0, 1.0]])), **ids)


def test_sparse_matrix_input() -> None:
    dense = np.array([[1, 0, 1, 0], [0, 2, 1, 0], [0, 0, 1, 0]], dtype=np.float32)
    model = models.create("popularity").fit(sp.csr_matrix(dense), user_ids=["x", "y", "z"], item_ids=["p", "q", "r", "s"])
    assert rows(model.recommend(users=["x"], k=2)) == [("x", "q", 1.0, 1), ("x", "s", 0.0, 2)]
    plain = models.create("popularity").fit(sp.csr_matrix(dense))
    assert rows(plain.recommend(users=[0], k=1)) == [("0", "1", 1.0, 1)]  # ids default to "0", "1", ...
    # columns given in another order than the item table, which also holds a cold item
    items = pd.DataFrame({"item_id": ["r", "q", "p", "s", "new"], "title": list("abcde")})
    model = models.create("popularity").fit(sp.csr_matrix(dense), items=items, item_ids=["p", "q", "r", "s"])
    train = model.train_
    assert train is not None and train.matrix.shape == (3, 5)
    np.testing.assert_array_equal(train.item_counts(), [3, 1, 1, 0, 0])  # r, q, p, s, new
    with pytest.raises(InvalidInputError, match="5 items; pass item_ids"):
        models.create("popularity").fit(sp.csr_matrix(dense), items=items)
    with pytest.raises(InvalidInputError, match="2 ids for 3 matrix rows"):
        models.create("popularity").fit(sp.csr_matrix(dense), user_ids=["x", "y"])
    bad = sp.csr_matrix(dense)
    bad.data[0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        models.create("popularity").fit(bad)


def test_bad_input_gets_clear_errors() -> None:
    pop = models.create("popularity")
    # no users at all: "missing 1 required positional argument: 'queries'" named what the DataFrame form hides
    with pytest.raises(InvalidInputError, match=r"Popularity.recommend needs the users: recommend\(users=\["):
        models.create("popularity").fit(RATINGS).recommend(k=3)
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['item_id'\]"):
        pop.fit(RATINGS.drop(columns="item_id"))
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['user_id'\]"):
        pop.fit(RATINGS.drop(columns="user_id"), items=ITEMS)
    nan = RATINGS.copy()
    nan.loc[2, "rating"] = np.nan
    with pytest.raises(InvalidInputError, match=r"NaN.*rows \[2\]"):
        pop.fit(nan)
    with pytest.raises(InvalidInputError, match="not in the item table"):
        pop.fit(RATINGS, items=ITEMS[ITEMS.item_id != "c"])
    with pytest.raises(InvalidInputError, match="DataFrame.*sparse matrix.*list"):
        pop.fit([("u1", "a")])
    # columns= is {coldkit name: your column}: a typo or the reverse is named, not renamed to a name nothing reads
    theirs = RATINGS.rename(columns={"user_id": "userId"})
    with pytest.raises(InvalidInputError, match=r"columns= maps coldkit's names.*\['userid'\] is not one of them"):
        pop.fit(theirs, columns={"userid": "userId"})
    with pytest.raises(InvalidInputError, match=r"\['userId'\] is not one of them"):
        pop.fit(theirs, columns={"userId": "user_id"})
    # ids in the index (after set_index / groupby().sum()): said so, with reset_index (it listed only ['rating'])
    for indexed, names in ((RATINGS.set_index(["user_id", "item_id"]), "['user_id', 'item_id']"),
                           (RATINGS.set_index("user_id"), "['user_id']")):
        with pytest.raises(InvalidInputError, match=re.escape(f"{names} are in the frame's index, not its columns; pass df.reset_index()")):
            pop.fit(indexed)
    assert rows(pop.fit(RATINGS.set_index(["user_id", "item_id"]).reset_index()).recommend(users=["u2"], k=1)) == [("u2", "b", 2.0, 1)]
    with pytest.raises(InvalidInputError, match=re.escape("items DataFrame: 'item_id' is the frame's index, not a column; pass items=df.reset_index()")):
        pop.fit(RATINGS, items=ITEMS.set_index("item_id"))
    with pytest.raises(InvalidInputError, match=re.escape("'movieId' is the frame's index")):
        pop.fit(RATINGS, items=ITEMS.rename(columns={"item_id": "movieId"}).set_index("movieId"), item_columns={"item_id": "movieId"})
    # MovieLens names, no items=: both missing columns and the mapping at once (it named item_id alone, no hint)
    movielens = RATINGS.rename(columns={"user_id": "userId", "item_id": "movieId"})
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['user_id', 'item_id'\].*columns={'user_id': 'userId', 'item_id': 'movieId'}"):
        pop.fit(movielens)
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['item_id'\].*columns={'user_id': 'userId', 'item_id': 'movieId'}"):
        pop.fit(movielens, columns={"user_id": "userId"})
    # one column named as a bare string: not split into the letters t, i, t, l, e
    with pytest.raises(InvalidInputError, match=r"text_columns= takes a list.*\['title'\]"):
        models.create("content", encoder="hashing").fit(RATINGS, items=ITEMS, text_columns="title")
    pop.fit(RATINGS, items=ITEMS)
    with pytest.raises(InvalidInputError, match=r"unknown user ids \['nobody', 'ghost'\]"):
        pop.recommend(users=["u1", "nobody", "ghost"], k=2)
    with pytest.raises(InvalidInputError, match=r"unknown item ids in a history \['zz'\]"):
        pop.recommend(users=[UserQuery(history=["a", "zz"])], k=2)
    with pytest.raises(InvalidInputError, match=r"unknown item ids \['q'\]: .*fit again with them in items=.*upsert_items"):
        pop.recommend(users=["u1"], k=2, items=["a", "q"])
    with pytest.raises(InvalidInputError, match="wrap a single one in a list"):
        pop.recommend(users="u1", k=2)
    # a bare number id (MovieLens user 42) is refused the same way; it was "TypeError: 'int' object is not iterable"
    for lone in (42, np.int64(42), np.array(42), 42.0):
        with pytest.raises(InvalidInputError, match=r"users= takes a list .*got \w+ .*wrap a single one in a list: users=\["):
            pop.recommend(users=lone, k=2)
    with pytest.raises(InvalidInputError, match="items= instead of candidates="):
        pop.recommend(users=["u1"], k=2, candidates=np.array([0]))
    # strings in the index form are refused, not read as indices
    with pytest.raises(InvalidInputError, match="external ids.*users="):
        pop.recommend([UserQuery(history=["1"])], 2)
    # plain ids in the index form: the message says where external ids go
    with pytest.raises(InvalidInputError, match=r"query 0 is a str, expected coldkit.data.UserQuery.*recommend\(users=\[\.\.\.\], k=\.\.\.\)"):
        pop.recommend(["u1"], 2)


def test_index_form_is_unchanged() -> None:
    # fitted on frames, items and users are numbered by a hash of their ids (not the rows' order): the
    # index form takes the indices the fitted catalogue gives
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    catalog, users = model.train_.catalog, list(model.train_.user_ids)
    b, c, d = catalog.index_of(["b", "c", "d"])
    ranked = model.recommend([UserQuery(user=users.index("u2"))], 2, candidates=np.array([b, c, d]), exclude_known=True)
    assert isinstance(ranked, Ranked)
    np.testing.assert_array_equal(ranked.indices, [[b, c]])  # b (2 likes) before c (1); u2 has only a


def test_get_params_set_params_and_repr() -> None:
    model = models.create("popularity-recent", half_life_days=7)
    assert model.get_params() == {"half_life_days": 7}
    assert repr(model) == "RecentPopularity(half_life_days=7) (not fitted)"
    content = models.create("content", encoder="hashing", whitening="none")
    params = content.get_params()
    assert params["whitening"] == "none" and params["text_weight"] == 1.0 and params["encoder"] == "hashing"
    content.fit(RATINGS, items=ITEMS)
    assert repr(content) == "ContentRecommender(whitening='none') (fitted: 3 users x 4 items, 6 interactions)"
    assert content.set_params(whitening="center", text_weight=0.5) is content
    assert content.whitener.mode == "center" and content.text_weight == 0.5
    assert content.train_ is None  # rebuilt: fit again
    assert models.create("content", **content.get_params()).get_params() == content.get_params()
    with pytest.raises(InvalidInputError, match=r"unknown parameter\(s\) \['colour'\]; valid: \["):
        content.set_params(colour="red")
    with pytest.raises(InvalidInputError, match="half_life_days must be >= 0.000694444, got -1"):
        model.set_params(half_life_days=-1)
    # published models pass **options up to their parent: those names count too
    dropout = models.create("dropoutnet", epochs=3).get_params()
    assert dropout["epochs"] == 3 and dropout["rank"] == 64 and dropout["whitening"] == "center"


@pytest.mark.parametrize("name", ["federated", "dp-aldi", "dp-clcrec", "dp-dropoutnet", "dp-heater", "hybrid", "cold-ridge"])
def test_get_params_builds_the_same_model_again(name: str) -> None:
    # get_params() listed the options a parent takes and the model refuses ("the federated model does not take
    # 'warm'", "option 'batch_size' is not available in private mode"): neither the constructor nor
    # set_params (nor sklearn's clone) took its own output back
    model = models.create(name)
    params = model.get_params()
    again = models.create(name, **params)
    assert again.get_params() == params
    assert model.set_params(**params).get_params() == params
    if name == "federated":
        assert not {"warm", "warm_options", "memory_budget"} & set(params)


def test_a_rejected_backend_keeps_the_fitted_model() -> None:
    # set_params(backend="nope") failed after the model was rebuilt: the fitted model was gone
    model = models.create("ease").fit(RATINGS, items=ITEMS)
    with pytest.raises(UnknownComponentError):
        model.set_params(backend="nope")
    assert model.train_ is not None and model.backend is None
    assert model.set_params(l2=50.0, backend="numpy").backend == "numpy" and model.train_ is None


@pytest.mark.parametrize(
    ("name", "options"),
    [("profile-knn", {"user_profiles": {"u1": "x"}, "neighbors": 2.5}), ("dp-item-knn", {"neighbors": float("inf")}),
     ("dp-hybrid", {"depth": 2.5}), ("dp-hybrid", {"factors": float("inf")})],
)
def test_whole_number_options_refuse_fractions_and_infinity(name: str, options: dict) -> None:
    # int() truncated 2.5 to 2 and raised a bare OverflowError on inf, where item-knn and user-knn refuse both
    with pytest.raises(InvalidInputError, match="must be an integer, got float"):
        models.create(name, **options)


def test_cold_knn_get_params_reports_the_warm_space_it_uses() -> None:
    # cold-knn defaults to the EASE space (docs/models.md), unlike the other adapters' "svd":
    # get_params() must report the space the model is really built on
    model = models.create("cold-knn")
    assert model.warm.requested == "ease"
    assert model.get_params()["warm"] == "ease"
    assert models.create("cold-knn", **model.get_params()).warm.requested == "ease"
    assert models.create("cold-knn", warm="svd").get_params()["warm"] == "svd"
    assert models.create("cold-ridge").get_params()["warm"] == models.create("cold-ridge").warm.requested == "svd"


def test_readme_pandas_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own data (pandas)", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 14
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    recs = namespace["recs"]
    assert isinstance(recs, pd.DataFrame)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    # what the comment promises: the never-rated m4 comes first for ann and for the new user
    assert recs[recs["rank"] == 1].item_id.tolist() == ["m4", "m4"]
    assert "m4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"cf_knn": 0}', {"cf_knn": 0}),
        ('{"cf_knn": 0, "content": 1.5}', {"cf_knn": 0, "content": 1.5}),
        ('["hashing", "bert"]', ["hashing", "bert"]),
        ('"007"', "007"),
        ("3", 3),
        ("0.25", 0.25),
        ("true", True),
        ("False", False),
        ("null", None),
        ("none", "none"),
        ("center", "center"),
        (" whiten ", "whiten"),
    ],
)
def test_option_values_parse_json_then_scalars(text: str, value: object) -> None:
    assert parse_option_value(text) == value


def test_broken_json_option_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        parse_option_value("{cf_knn: 0}")


def test_json_option_reaches_the_model() -> None:
    hybrid = models.create("hybrid", encoder="hashing", weights=parse_option_value('{"cf_knn": 0}'))
    assert hybrid.get_params()["weights"] == {"cf_knn": 0}
    with pytest.raises(ModelOptionError):
        models.create("popularity", weights=parse_option_value('{"cf_knn": 0}'))


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.sets(st.tuples(st.integers(0, 7), st.integers(0, 11)), min_size=1, max_size=60),
    k=st.integers(1, 6),
    filter_seen=st.booleans(),
)
def test_popularity_frame_matches_a_pandas_reference(pairs: set[tuple[int, int]], k: int, filter_seen: bool) -> None:
    frame = pd.DataFrame(sorted(pairs), columns=["user_id", "item_id"]).sample(frac=1.0, random_state=0)
    frame["user_id"] = "user-" + frame.user_id.astype(str)
    frame["item_id"] = "item-" + frame.item_id.astype(str)
    model = models.create("popularity").fit(frame)
    users = sorted(frame.user_id.unique())
    recs = model.recommend(users=users, k=k, filter_seen=filter_seen)
    # reference: distinct users per item, ties broken by the catalogue order (a hash of the ids, whatever the rows' order)
    order = [str(i) for i in model.train_.catalog.item_ids]  # type: ignore[union-attr]
    assert order == [str(i) for i in models.create("popularity").fit(frame.sample(frac=1.0, random_state=1)).train_.catalog.item_ids]  # type: ignore[union-attr]
    counts = frame.groupby("item_id").user_id.nunique()
    for user in users:
        seen = set(frame.item_id[frame.user_id == user]) if filter_seen else set()
        ranked = sorted((i for i in order if i not in seen), key=lambda i: (-counts[i], order.index(i)))[:k]
        mine = recs[recs.user_id == user]
        assert mine.item_id.tolist() == ranked
        assert mine.score.tolist() == [float(counts[i]) for i in ranked]
        assert mine["rank"].tolist() == list(range(1, len(ranked) + 1))


def test_weight_and_timestamp_columns() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "weight": [2.0, 0.5, 1.0],
                          "timestamp": [0, 86400 * 30, 86400 * 30]})
    model = models.create("popularity-recent", half_life_days=30).fit(frame)
    train = model.train_
    assert train is not None
    np.testing.assert_allclose(train.matrix.toarray(), [[2.0, 0.5], [1.0, 0.0]])
    # x: one interaction 30 days before the newest (weight 1/2) plus one at the newest (1); y: 1
    np.testing.assert_allclose(model.item_scores(), [1.5, 1.0])
    renamed = models.create("popularity").fit(frame.rename(columns={"weight": "clicks"}), columns={"weight": "clicks"})
    assert renamed.train_ is not None and renamed.train_.matrix[0, 0] == 2.0
    # Last.fm's user_artists.dat: userID, artistID, weight, every column named in columns= (weight too, as itself
    # or as the rating): the same matrix by hand. It was "missing column(s) ['weight']; found [..., 'rating']"
    lastfm = frame.rename(columns={"user_id": "userID", "item_id": "artistID"})
    for mapping in ({"weight": "weight"}, {"rating": "weight"}):
        named = models.create("popularity").fit(lastfm, columns={"user_id": "userID", "item_id": "artistID", **mapping})
        assert named.train_ is not None
        np.testing.assert_allclose(named.train_.matrix.toarray(), [[2.0, 0.5], [1.0, 0.0]])
    # without a timestamp column the error named an attribute (Interactions.timestamps), not the column to add
    with pytest.raises(InvalidInputError, match=r"popularity-recent needs a timestamp on every interaction, and these have none"):
        models.create("popularity-recent").fit(frame.drop(columns="timestamp"))
    # a column with one empty cell is read as none: the error said the column was missing, and to map it
    gappy = frame.astype({"timestamp": float})
    gappy.loc[0, "timestamp"] = np.nan
    with pytest.warns(DataWarning, match="rows have no timestamp"), pytest.raises(InvalidInputError, match=r"a 'timestamp' column with empty cells is read as none"):
        models.create("popularity-recent").fit(gappy)


def test_recommend_names_the_known_id_an_unknown_one_looks_like() -> None:
    """The command line said "'007' is not '7'" for a users file; the Python API said only "unknown user ids"."""
    frame = pd.DataFrame({"user_id": ["7", "7", "8"], "item_id": ["001", "2", "001"]})
    model = models.create("popularity").fit(frame)
    with pytest.raises(InvalidInputError, match=re.escape("unknown user ids ['007']") + r".*ids are matched as text: '007' is not '7'"):
        model.recommend(users=["007"], k=2)
    with pytest.raises(InvalidInputError, match=re.escape("unknown item ids in a history ['1']; ids are matched as text: '1' is not '001'")):
        model.recommend(users=[UserQuery(history=["1"])], k=2)
    with pytest.raises(InvalidInputError) as info:  # nothing alike: no hint
        model.recommend(users=["ghost"], k=2)
    assert "matched as text" not in str(info.value)


def test_a_weight_column_is_named_where_its_values_are_refused() -> None:
    """fit(df) with a 'weight' column (a play count) and a value that is not a number: the message names the
    user's column. It said "rating(s) are NaN" of a frame without any rating column (fit renamed it first)."""
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "weight": ["3", "lots", "1"]})
    with pytest.raises(InvalidInputError, match=re.escape("1 rating(s) in weight are NaN, inf or not numbers (rows [1], e.g. 'lots')")):
        models.create("popularity").fit(frame)
    # mapped: the user's name and coldkit's, as for any renamed column
    with pytest.raises(InvalidInputError, match=re.escape("1 rating(s) in plays (weight) are NaN")):
        models.create("popularity").fit(frame.rename(columns={"weight": "plays"}), columns={"weight": "plays"})
    # a 'rating' column keeps its message
    with pytest.raises(InvalidInputError, match=re.escape("1 rating(s) are NaN")):
        models.create("popularity").fit(frame.rename(columns={"weight": "rating"}))
    # and the values, once numbers, are the weights, whichever name carries them
    fixed = frame.assign(weight=["3", "2", "1"])
    for data, mapping in ((fixed, None), (fixed.rename(columns={"weight": "plays"}), {"weight": "plays"})):
        fitted = models.create("popularity").fit(data, columns=mapping)
        np.testing.assert_allclose(_by_ids(fitted.train_, ["a", "b"], ["x", "y"]), [[3.0, 2.0], [1.0, 0.0]])


def test_a_mapped_weight_is_read_beside_a_rating_column() -> None:
    """columns={'weight': 'plays'} on a table that also has a 'rating' column: the play counts are the strength
    the mapping names. The ratings were read instead and the play counts dropped without a word (the loader
    skipped its weight rename whenever a 'rating' column existed)."""
    frame = pd.DataFrame({"user_id": ["1", "2", "1"], "item_id": ["a", "b", "b"], "rating": [5, 4, 3], "plays": [30, 1, 7]})
    plays = [[30.0, 7.0], [0.0, 1.0]]  # by hand: user 1 played a 30 times and b 7 times, user 2 b once
    fitted = models.create("popularity").fit(frame, columns={"weight": "plays"})
    np.testing.assert_allclose(_by_ids(fitted.train_, ["1", "2"], ["a", "b"]), plays)
    unmapped = models.create("popularity").fit(frame.rename(columns={"plays": "weight"}), columns={"weight": "weight"})
    np.testing.assert_allclose(_by_ids(unmapped.train_, ["1", "2"], ["a", "b"]), plays)


def _by_ids(train: Interactions | None, users: list[str], items: list[str]) -> np.ndarray:
    """The dense weights of ``users`` x ``items`` (external ids): fit numbers both by a hash of their ids."""
    assert train is not None
    rows = [list(train.user_ids).index(u) for u in users]
    return np.asarray(train.matrix.toarray()[rows][:, train.catalog.index_of(items)])
    # a mapped rating= still reads the ratings, and naming both is refused rather than one dropped
    rated = models.create("popularity").fit(frame, columns={"rating": "rating"})
    assert rated.train_ is not None
    np.testing.assert_allclose(rated.train_.matrix.toarray(), [[5.0, 3.0], [0.0, 4.0]])
    with pytest.raises(InvalidInputError, match=re.escape("names both rating='rating' and weight='plays'; coldkit reads one interaction strength")):
        models.create("popularity").fit(frame, columns={"rating": "rating", "weight": "plays"})


def test_scikit_learn_clone_rebuilds_an_unfitted_twin() -> None:
    from sklearn.base import clone

    model = models.create("content", encoder="hashing", whitening="none", encoder_options={"dim": 64})
    model.fit(RATINGS, items=ITEMS)
    twin = clone(model)
    assert type(twin) is type(model) and twin.get_params() == model.get_params() and twin.train_ is None


@pytest.mark.parametrize("name", ["ease", "popularity", "content", "hybrid"])
def test_scikit_learn_clone_keeps_the_backend(name: str) -> None:
    # get_params() reports the backend, and the constructors refused it: "EASE.__init__() got an unexpected
    # keyword argument 'backend'" from clone and from type(m)(**m.get_params()); repr did not show it
    from sklearn.base import clone

    options = {"encoder": "hashing"} if name in ("content", "hybrid") else {}
    model = models.create(name, backend="numpy", **options)
    twin = clone(model)
    assert twin.backend == "numpy" and twin.get_params() == model.get_params()
    assert type(model)(**model.get_params()).get_params() == model.get_params()
    assert "backend='numpy'" in repr(model) and "backend" not in repr(models.create(name, **options))
    assert type(model)(**options).backend is None  # no backend: the default, as before
    with pytest.raises(InvalidInputError, match="backend must be a similarity backend name, got 3"):
        type(model)(backend=3)
    with pytest.raises(UnknownComponentError):
        type(model)(backend="nope")


def test_repr_shows_a_long_option_by_its_size() -> None:
    # ml-100k's 943 profiles printed a repr tens of KB long
    profiles = {str(i): "a 25 year old artist who lives by the sea" for i in range(2000)}
    model = models.create("hybrid", user_profiles=profiles, whitening="whiten")
    assert repr(model) == "Hybrid(whitening='whiten', user_profiles={...2,000 entries}) (not fitted)"
    assert repr(models.create("hybrid", user_profiles={"1": "a"})) == "Hybrid(user_profiles={'1': 'a'}) (not fitted)"
    assert model.get_params()["user_profiles"] == profiles  # only the repr is short


def test_ids_from_a_float_column_are_found_as_fit_stored_them() -> None:
    # a column with a gap is float in pandas (862.0): fit stores "862", so the same values must find it again
    frame = pd.DataFrame({"user_id": [1.0, 1.0, 2.0, 3.0], "item_id": [862.0, 949.0, 862.0, 15602.0]})
    model = models.create("popularity").fit(frame)
    assert sorted(model.train_.user_ids) == ["1", "2", "3"]  # type: ignore[union-attr]
    recs = model.recommend(users=frame.user_id.unique(), k=2, items=frame.item_id.unique())
    assert rows(recs) == [("1", "15602", 1.0, 1), ("2", "949", 1.0, 1), ("2", "15602", 1.0, 2),
                          ("3", "862", 2.0, 1), ("3", "949", 1.0, 2)]
    assert rows(model.recommend(users=[np.float32(2.0)], k=1)) == [("2", "949", 1.0, 1)]
    # a sparse matrix's ids are read the same way
    dense = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]))
    plain = models.create("popularity").fit(dense, user_ids=[7.0, 8.0], item_ids=[10.0, 11.0])
    assert rows(plain.recommend(users=[7], k=1)) == [("7", "11", 1.0, 1)]
    # a missing id is named as missing, not looked up as the text 'nan' / 'None'
    with pytest.raises(InvalidInputError, match="missing"):
        model.recommend(users=[np.nan], k=2)
    with pytest.raises(InvalidInputError, match="missing"):
        model.recommend(users=["1"], k=2, items=["862", None])
    with pytest.raises(InvalidInputError, match=r"item_ids.*missing"):
        models.create("popularity").fit(dense, item_ids=["a", np.nan])
    with pytest.raises(InvalidInputError, match=r"user_ids.*missing"):
        models.create("popularity").fit(dense, user_ids=[None, "b"])


def test_an_unknown_friend_is_named_as_a_friend() -> None:
    # "unknown user ids ['zzz'] ... pass a new user as UserQuery(history=..., text=...)": advice about the asker
    model = models.create("popularity").fit(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "y"]}))
    with pytest.raises(InvalidInputError, match=re.escape("unknown user ids in a friends list ['zzz']")) as error:
        model.recommend(users={"new": UserQuery(friends=["zzz", "a"])}, k=1)
    assert "pass a new user" not in str(error.value)
    with pytest.raises(InvalidInputError, match=re.escape("unknown user ids ['ghost']")):
        model.recommend(users=[UserQuery(user="ghost", friends=["a"])], k=1)
    assert rows(model.recommend(users={"new": UserQuery(friends=["a"])}, k=1)) == [("new", "y", 2.0, 1)]


def test_a_fractional_number_is_no_id_and_no_index() -> None:
    # UserQuery used to truncate 10.7 to 10: a click on an item nobody named, silently
    model = models.create("popularity").fit(pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 20, 20]}))
    for bad in ([10.7], np.array([2.5]), [True], [np.nan]):
        with pytest.raises(InvalidInputError, match="whole number"):
            UserQuery(history=bad)
        with pytest.raises(InvalidInputError, match="whole number"):
            UserQuery(friends=bad)
    np.testing.assert_array_equal(UserQuery(history=[10.0, np.float32(20)]).history, [10, 20])  # whole floats stay
    assert rows(model.recommend(users=[UserQuery(history=[10.0])], k=1)) == [(None, "20", 2.0, 1)]
    with pytest.raises(InvalidInputError, match=r"user index 1\.5"):
        model.recommend([UserQuery(user=1.5)], 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="user index True"):
        model.recommend([UserQuery(user=True)], 1)


def test_zero_ratings_take_the_options_the_error_names() -> None:
    # the zero-weight error says "use implicit_threshold= or binary=True": fit() must take them
    frame = RATINGS.assign(rating=[0.0, 4.0, 3.0, 5.0, 2.0, 4.0])
    with pytest.raises(InvalidInputError, match="implicit_threshold= or binary=True"):
        models.create("popularity").fit(frame)
    binary = models.create("popularity").fit(frame, binary=True).train_
    assert binary is not None and binary.matrix.nnz == 6 and set(binary.matrix.data) == {1.0}
    liked = models.create("popularity").fit(frame, implicit_threshold=4).train_
    assert liked is not None
    assert sorted(zip(liked.user_ids[liked.matrix.nonzero()[0]], liked.catalog.item_ids[liked.matrix.nonzero()[1]])) == [
        ("u1", "b"), ("u3", "a"), ("u3", "b")]
    with pytest.raises(InvalidInputError, match="DataFrame's rating column"):
        models.create("popularity").fit(sp.csr_matrix(np.eye(2)), binary=True)


def test_an_item_table_as_items_is_refused_not_read_as_its_column_names() -> None:
    # iterating a DataFrame yields its column names: the error listed 'item_id', 'title' as unknown items
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    with pytest.raises(InvalidInputError, match=r"takes a list of item ids, not a DataFrame.*df\[\"item_id\"\]"):
        model.recommend(users=["u1"], k=3, items=ITEMS)
    assert rows(model.recommend(users=["u1"], k=3, items=ITEMS["item_id"])) == [("u1", "c", 1.0, 1), ("u1", "d", 0.0, 2)]


def test_items_that_are_not_a_list_get_a_clear_error() -> None:
    # a bare int reached list(items) and came back as a TypeError with no word of items=
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    for bad in (5, 2.5, np.int64(3), np.array(3)):
        with pytest.raises(InvalidInputError, match=r"items= takes a list of item ids, got"):
            model.recommend(users=["u1"], k=3, items=bad)


def test_filter_seen_must_be_a_bool() -> None:
    # "no" is a non-empty string, so it was read as True: the seen items were dropped, silently
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    for bad in ("no", "False", 0, 1, 0.0):
        with pytest.raises(InvalidInputError, match=r"filter_seen must be True or False, got"):
            model.recommend(users=["u1"], k=2, filter_seen=bad)
    assert rows(model.recommend(users=["u1"], k=2, filter_seen=np.bool_(False))) == [("u1", "a", 3.0, 1), ("u1", "b", 2.0, 2)]


def test_users_none_is_a_clear_error_not_a_missing_argument() -> None:
    # users=None fell into the index form: TypeError "missing 1 required positional argument: 'queries'"
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    with pytest.raises(InvalidInputError, match=r"users=None: pass a list of user ids and/or UserQuery objects"):
        model.recommend(users=None, k=2)
    assert model.recommend(users=[], k=2).empty
    assert rows(model.recommend(users=["u1"], k=2, filter_seen=False)) == [("u1", "a", 3.0, 1), ("u1", "b", 2.0, 2)]


# ---------------------------------------------------------------- a notebook user's frames (Dec 4 review)


def _frames(n_users: int = 30, n_items: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ratings = pd.DataFrame({"user_id": rng.integers(0, n_users, 300), "item_id": rng.integers(0, n_items, 300)}).drop_duplicates()
    topics = ["space robots", "crime heist", "kitchen recipes", "football match"]
    items = pd.DataFrame({"item_id": np.arange(n_items), "title": [f"{topics[i % 4]} film {i}" for i in range(n_items)]})
    return ratings, items


@pytest.mark.parametrize("name", ["content", "cold-ridge", "hybrid"])
def test_a_fit_that_fails_leaves_the_model_unfitted_not_half_replaced(name: str) -> None:
    from coldkit.exceptions import InvalidInputError
    from coldkit.models.base import NotFittedError

    ratings, items = _frames()
    model = models.create(name, encoder="hashing").fit(ratings, items=items)
    with pytest.raises(InvalidInputError):
        model.fit(ratings)  # no items=: no text to encode, after the new data was taken in
    # the new catalogue beside the old vectors ranked other items for a text, silently (or a bare assert)
    with pytest.raises(NotFittedError):
        model.recommend(users={"t": UserQuery(text="space robots")}, k=3)
    model.fit(ratings, items=items)  # and a good fit brings it back
    assert len(model.recommend(users={"t": UserQuery(text="space robots")}, k=3)) == 3


@pytest.mark.parametrize("kind", ["category", "object"])
def test_whole_float_ids_in_any_column_type_are_asked_for_by_their_own_values(kind: str) -> None:
    ratings, items = _frames()
    floats = ratings.assign(user_id=ratings["user_id"].astype(float).astype(kind))
    model = models.create("item-knn").fit(floats, items=items)
    asked = list(floats["user_id"].unique()[:2])  # 0.0, 3.0...: the column's own values
    recs = model.recommend(users=asked, k=2)
    assert set(recs["user_id"]) == {str(int(u)) for u in asked}
    mixed = ratings.assign(user_id=[float(u) if u % 2 else f"u{u}" for u in ratings["user_id"]])
    fitted = models.create("popularity").fit(mixed, items=items)
    assert set(fitted.train_.user_ids) == {str(u) if u % 2 else f"u{u}" for u in ratings["user_id"]}


def test_genres_given_as_lists_are_one_genre_each() -> None:
    ratings, items = _frames()
    genres = [["Sci-Fi", "Action"], ["Crime"], ["Drama"], ["Comedy", "Drama"]]
    model = models.create("popularity-genre").fit(ratings, items=items.assign(genres=[genres[i % 4] for i in range(len(items))]))
    assert model.genres_ == ["Action", "Comedy", "Crime", "Drama", "Sci-Fi"]
    top = model.recommend(users={"x": UserQuery(text="crime")}, k=5)["item_id"].astype(int)
    assert (top % 4 == 1).all()  # the crime films


def test_period_timestamps_are_their_start_and_durations_are_refused() -> None:
    from coldkit.exceptions import InvalidInputError

    ratings, items = _frames()
    days = pd.date_range("2022-01-01", periods=len(ratings), freq="D")
    by_day = models.create("popularity").fit(ratings.assign(timestamp=days.to_period("D")), items=items)
    by_date = models.create("popularity").fit(ratings.assign(timestamp=days), items=items)
    assert (by_day.train_.timestamps != by_date.train_.timestamps).nnz == 0  # 2022, not 1970
    with pytest.raises(InvalidInputError, match="holds durations"):
        models.create("popularity").fit(ratings.assign(timestamp=pd.to_timedelta(np.arange(len(ratings)), unit="D")), items=items)


def test_a_zero_one_liked_column_is_told_to_use_threshold_one() -> None:
    from coldkit.exceptions import InvalidInputError

    ratings, items = _frames()
    liked = ratings.assign(rating=np.arange(len(ratings)) % 2)
    with pytest.raises(InvalidInputError, match=r"a 0/1 \(liked\) column: use implicit_threshold=1"):
        models.create("popularity").fit(liked, items=items)


def test_fit_with_rows_of_unknown_items_is_told_to_filter_not_to_pass_an_option_it_lacks() -> None:
    # the loaders' hint "Python: unknown_items='drop'" reached fit(), which has no such keyword
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["Alien", "Heat"]})
    ratings = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["a", "zz"]})
    with pytest.raises(InvalidInputError, match=r"unknown_items='drop' of the loaders; fit\(\) takes the rows it is given, so filter its DataFrame"):
        models.create("popularity").fit(ratings, items=items)


def test_item_vectors_with_an_id_only_item_table() -> None:
    """docs/encoders.md: an item table of ids alone is enough with item vectors (``precomputed``).

    ``fit(df, items=ids_only)`` was refused ("no text-like column ... or bring item vectors") although the
    model's encoder was the item vectors; the catalogue's cold items (no rating) must still be listed.
    """
    rng = np.random.default_rng(3)
    ids = [f"i{j}" for j in range(12)]
    vectors = rng.normal(size=(12, 6))
    ratings = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["i0", "i1", "i1", "i2", "i3"]})
    only_ids = pd.DataFrame({"item_id": ids})  # i4 .. i11 nobody rated: cold items
    model = models.create("content", encoder=coldkit_encoder("precomputed", ids=ids, vectors=vectors),
                          whitening="none").fit(ratings, items=only_ids)
    recs = model.recommend(users=[UserQuery(history=["i5"])], k=11)
    # by hand: a one-click user is that item's vector; the list is every other item by cosine to it
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    want = [ids[j] for j in np.argsort(-(unit @ unit[5]), kind="stable") if j != 5]
    assert recs["item_id"].tolist() == want
    np.testing.assert_allclose(recs["score"], np.sort(unit @ unit[5])[::-1][1:], atol=1e-5)
    # by name with its options, and beside another encoder (which reads text: still refused, naming the way out)
    models.create("content", encoder="precomputed", encoder_options={"ids": ids, "vectors": vectors}).fit(ratings, items=only_ids)
    with pytest.raises(InvalidInputError, match="no text-like column"):
        models.create("content", encoder=["hashing", coldkit_encoder("precomputed", ids=ids, vectors=vectors)]).fit(
            ratings, items=only_ids)


def coldkit_encoder(name: str, **options: object) -> object:
    import coldkit

    return coldkit.get_encoder(name, **options)


def test_history_none_is_no_clicks() -> None:
    """``UserQuery(history=None)`` (e.g. ``history=clicks.get(user)``) is the default: no clicks, as ``text=None`` is no text.

    It was an InvalidInputError quoting ``int() argument must be ... not 'NoneType'``.
    """
    model = models.create("popularity").fit(RATINGS, items=ITEMS)
    for field in ("history", "friends"):
        query = UserQuery(**{field: None})  # type: ignore[arg-type]
        assert getattr(query, field).dtype == np.int64 and getattr(query, field).size == 0
    # by hand (the counts of the first test): a user with nothing known gets a (3), b (2), c (1), d (0)
    assert rows(model.recommend(users={"new": UserQuery(history=None, text=None)}, k=4)) == [
        ("new", "a", 3.0, 1), ("new", "b", 2.0, 2), ("new", "c", 1.0, 3), ("new", "d", 0.0, 4)]
    with pytest.raises(InvalidInputError, match="UserQuery.history must be"):
        UserQuery(history=[None])  # a missing id inside the list stays an error


# A partial columns= mapping: the user's table says uid / stars / when / movieId, coldkit's names are user_id /
# rating / timestamp / item_id. Errors raised after the renaming named coldkit's names ("empty user_id at row(s) [1]"
# of a frame without a user_id column); each case below is a real message of fit, checked for the user's name.
_OWN = pd.DataFrame({"uid": ["u1", "u1", "u2", "u3"], "item_id": ["a", "b", "a", "c"], "stars": [4.0, 3.0, 5.0, 2.0],
                     "when": [1_600_000_000, 1_600_000_100, 1_600_000_200, 1_600_000_300]})
_MAPPED = {"user_id": "uid", "rating": "stars", "timestamp": "when"}
_OWN_ITEMS = pd.DataFrame({"movieId": ["a", "b", "c"], "title": ["Heat", "Up", "Jaws"]})


def _own_case(change: str) -> tuple[pd.DataFrame, dict]:
    """The frame and fit's keywords of one bad input, with the partial mapping."""
    frame, kw = _OWN.copy(), {"columns": dict(_MAPPED)}
    if change == "nan-user":
        frame.loc[1, "uid"] = None
    elif change == "blank-user":
        frame.loc[1, "uid"] = "  "
    elif change == "nan-item-seen":  # no items=: the catalogue is built from the ids seen
        frame = frame.rename(columns={"item_id": "iid"})
        frame.loc[2, "iid"] = None
        kw["columns"]["item_id"] = "iid"
    elif change == "nan-item":
        frame = frame.rename(columns={"item_id": "iid"})
        frame.loc[2, "iid"] = None
        kw.update(columns={**_MAPPED, "item_id": "iid"}, items=_OWN_ITEMS, item_columns={"item_id": "movieId"})
    elif change == "bad-rating":
        frame = frame.astype({"stars": object})
        frame.loc[1, "stars"] = "five"
    elif change == "zero-rating":
        frame.loc[1, "stars"] = 0.0
    elif change == "bad-timestamp":
        frame = frame.astype({"when": object})
        frame.loc[1, "when"] = "soon"
    elif change == "mixed-units":
        frame.loc[1, "when"] = 1_600_000_000_000  # milliseconds beside seconds
    elif change == "beyond-9999":
        frame["when"] = [1e30] * 4
    elif change == "durations":
        frame["when"] = pd.to_timedelta(frame["when"], unit="s")
    elif change == "duplicate":
        frame.loc[1, "item_id"] = "a"
    elif change == "duplicate-sum-zero":
        frame.loc[1, ["item_id", "stars"]] = ["a", -4.0]
        kw["duplicates"] = "sum"
    elif change == "missing-item":
        frame = frame.drop(columns=["item_id"])
    elif change == "items-duplicate":
        kw.update(items=_OWN_ITEMS.assign(movieId=["a", "a", "c"]), item_columns={"item_id": "movieId"})
    elif change == "items-blank":
        kw.update(items=_OWN_ITEMS.assign(movieId=["a", " ", "c"]), item_columns={"item_id": "movieId"})
    elif change == "items-no-text":
        kw.update(items=_OWN_ITEMS.assign(title=[1, 2, 3]), item_columns={"item_id": "movieId"})
    elif change == "items-text-missing":
        kw.update(items=_OWN_ITEMS, item_columns={"item_id": "movieId"}, text_columns=["name"])
    return frame, kw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("nan-user", "empty uid (user_id) at row(s) [1]"),
        ("blank-user", "empty uid (user_id) at row(s) [1]"),
        ("nan-item-seen", "empty iid (item_id) at row(s) [2]"),
        ("nan-item", "empty iid (item_id) at row(s) [2]"),
        ("bad-rating", "1 rating(s) in stars (rating) are NaN, inf or not numbers (rows [1], e.g. 'five')"),
        ("zero-rating", "1 row(s) have weight 0 in stars (rating) (rows [1])"),
        ("bad-timestamp", "timestamps in when (timestamp) must be numbers (unix seconds) or ISO-8601 dates"),
        ("mixed-units", "timestamps in when (timestamp) mix units: row 1 is 1600000000000 (unix milliseconds)"),
        ("beyond-9999", "timestamp in when (timestamp) '1e+30' in row 0 is beyond the year 9999"),
        ("durations", "the when (timestamp) column holds durations"),
        ("duplicate", "1 duplicate (uid (user_id), item_id) row(s), e.g. [('u1', 'a')]"),
        ("duplicate-sum-zero", "1 (uid (user_id), item_id) pair(s) have weight 0 after duplicates='sum'"),
        ("missing-item", "missing column(s) ['item_id']; found ['uid', 'stars', 'when']"),
        ("items-duplicate", "duplicate item_id(s) in movieId (item_id) ['a'] (rows [0, 1])"),
        ("items-blank", "empty movieId (item_id) at row(s) [1]"),
        ("items-no-text", "no text-like column besides movieId (item_id) (ids, URLs and numbers do not count; columns: ['movieId', 'title'])"),
        ("items-text-missing", "missing column(s) ['name']; found ['movieId', 'title']"),
    ],
)
def test_errors_after_a_partial_mapping_name_the_users_own_columns(change: str, message: str) -> None:
    import contextlib

    frame, kw = _own_case(change)
    # the -4 that sums a pair to 0 is a thumbs-down, which fit says before the error
    said = pytest.warns(DataWarning, match="negative") if change == "duplicate-sum-zero" else contextlib.nullcontext()
    with said, pytest.raises(InvalidInputError) as raised:
        models.create("popularity").fit(frame, **kw)
    assert message in str(raised.value)


def test_errors_without_a_mapping_read_as_before() -> None:
    """Nothing renamed, nothing added: the messages name coldkit's columns, which the user's table has."""
    frame = _OWN.rename(columns={v: k for k, v in _MAPPED.items()})
    bad = frame.astype({"rating": object})
    bad.loc[1, "rating"] = "five"
    with pytest.raises(InvalidInputError, match=re.escape("1 rating(s) are NaN, inf or not numbers (rows [1], e.g. 'five')")):
        models.create("popularity").fit(bad)
    frame.loc[1, "item_id"] = "a"
    with pytest.raises(InvalidInputError, match=re.escape("1 duplicate (user_id, item_id) row(s)")):
        models.create("popularity").fit(frame)


def test_the_loaders_name_a_mapped_weight_column_by_the_users_name() -> None:
    """The command line's --interaction-columns weight=plays: the plays column is read as the rating."""
    from coldkit.data.loaders import catalog_from_frame, interactions_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["Heat", "Up"]}))
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "plays": ["x", 1]})
    with pytest.raises(InvalidInputError, match=re.escape("1 rating(s) in plays (weight) are NaN")):
        interactions_from_frame(frame, catalog, columns={"weight": "plays"})
    # an unmapped weight column is read as the rating as before, and its message is unchanged
    with pytest.raises(InvalidInputError, match=re.escape("1 row(s) have weight 0 (rows [0])")):
        interactions_from_frame(frame.rename(columns={"plays": "weight"}).assign(weight=[0, 1]), catalog)


def test_a_catalog_given_twice_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # fit(df) renumbers the items: a Catalog given as items= became a new object each fit, and the content model's
    # reuse of its vectors (same catalogue object) never applied, so every refit encoded the catalogue again
    import coldkit.models.content as content
    from coldkit.data.loaders import catalog_from_frame

    catalog = catalog_from_frame(ITEMS)
    calls: list[int] = []
    encode = content.encode_items
    monkeypatch.setattr(content, "encode_items", lambda *a, **k: calls.append(1) or encode(*a, **k))
    model = models.create("content", encoder="hashing", cache=False)
    first = model.fit(RATINGS, items=catalog).train_
    second = model.fit(RATINGS.sample(frac=1.0, random_state=0), items=catalog).train_
    assert calls == [1] and first is not None and second is not None and first.catalog is second.catalog
    # another Catalog object (the same rows) is encoded afresh: nothing is kept by value; nor by another model
    model.fit(RATINGS, items=catalog_from_frame(ITEMS))
    assert calls == [1, 1]
    models.create("content", encoder="hashing", cache=False).fit(RATINGS, items=catalog)
    assert calls == [1, 1, 1]
