"""Social graph: loading it, carrying it into cold-user queries, and the friends model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.data.loaders import load_user_graph, user_graph_from_pairs
from coldkit.data.splits import cold_user_split
from coldkit.exceptions import InvalidInputError
from coldkit.models.registry import build_model
from coldkit.models.social import FriendsPopularity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _train() -> Interactions:
    # users u0..u3, items i0..i4
    rows = [0, 0, 1, 1, 2, 3, 3, 3]
    cols = [0, 1, 1, 2, 2, 2, 3, 4]
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(4, 5))
    ids = np.array([f"i{i}" for i in range(5)], dtype=object)
    catalog = Catalog(item_ids=ids, table=pd.DataFrame({"item_id": ids, "title": ids}))
    return Interactions(user_ids=np.array(["u0", "u1", "u2", "u3"], dtype=object), catalog=catalog, matrix=matrix)


def test_graph_from_pairs_is_symmetric_without_self_loops() -> None:
    graph = user_graph_from_pairs(["a", "a", "b", "c"], ["b", "a", "c", "a"])
    assert graph == {"a": ("b", "c"), "b": ("a", "c"), "c": ("a", "b")}


def test_load_user_graph_maps_columns_and_names_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "friends.csv"
    path.write_text("userID,friendID\n1,2\n2,3\n")
    assert load_user_graph(path, columns={"user_id": "userID", "friend_id": "friendID"}) == {
        "1": ("2",), "2": ("1", "3"), "3": ("2",)
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="friend_id"):
        load_user_graph(path)
    with pytest.raises(InvalidInputError, match="unknown standard name"):
        load_user_graph(path, columns={"friend": "friendID"})


def test_friends_model_counts_friends_votes_and_falls_back_to_popularity() -> None:
    train = _train()
    model = FriendsPopularity(user_graph={"u0": ("u3",), "u3": ("u0",)}).fit(train)
    # new user whose friends are u1 and u3: votes i2 (2 friends), i1, i3, i4 (1 each); popularity breaks ties
    ranked = model.recommend([UserQuery(friends=np.array([1, 3]))], k=5, exclude_known=False)
    counts = np.array([1, 2, 3, 1, 1])  # users per item
    expected = np.array([0, 1, 2, 1, 1]) + 0.01 * counts / counts.max()
    assert ranked.indices[0].tolist() == np.lexsort((np.arange(5), -expected)).tolist()
    assert ranked.scores[0] == pytest.approx(np.sort(expected)[::-1], rel=1e-6)
    # a known user's friends come from the graph; its own items are excluded by default
    known = model.recommend([UserQuery(user=0)], k=2)
    assert known.indices[0].tolist() == [2, 3]  # u3's items not seen by u0: i2 (most popular), then i3
    # nobody to ask: global popularity
    alone = model.recommend([UserQuery()], k=3, exclude_known=False)
    assert alone.indices[0].tolist() == [2, 1, 0]


def test_friends_out_of_range_are_a_clear_error() -> None:
    model = build_model("friends").fit(_train())
    with pytest.raises(InvalidInputError, match="friends has user indices outside"):
        model.recommend([UserQuery(friends=np.array([9]))], k=2)


def test_cold_user_split_gives_each_held_out_user_its_training_friends() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 60, 30
    matrix = sp.random(n_users, n_items, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    matrix.data[:] = 1
    ids = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    users = np.array([f"u{u}" for u in range(n_users)], dtype=object)
    inter = Interactions(users, Catalog(ids, pd.DataFrame({"item_id": ids, "title": ids})), matrix)
    graph = user_graph_from_pairs([f"u{u}" for u in range(n_users)], [f"u{(u + 1) % n_users}" for u in range(n_users)])
    split = cold_user_split(inter, seed=0, reveal=(0,), user_graph=graph)
    task = split.tasks["n=0"]
    train_ids = list(split.train.user_ids)
    for uid, query in zip(task.users, task.queries):
        expected = sorted(train_ids.index(f) for f in graph[str(uid)] if f in train_ids)
        assert query.friends.tolist() == expected


@pytest.mark.skipif(not (DATA / "lastfm-2k").is_dir(), reason="needs ../shared/data/lastfm-2k")
def test_lastfm_ships_its_friend_graph() -> None:
    from coldkit.data.datasets import load_dataset

    data = load_dataset("lastfm-2k", data_root=DATA)
    assert data.user_graph is not None and len(data.user_graph) > 1800
    some_user, friends = next(iter(data.user_graph.items()))
    assert all(some_user in data.user_graph[f] for f in friends)


def test_recommend_command_uses_the_user_graph_for_a_user_without_clicks(tmp_path: Path) -> None:
    from coldkit.cli import main

    (tmp_path / "int.csv").write_text("user_id,item_id\nu1,i1\nu1,i3\nu2,i1\nu2,i2\nu3,i2\nu3,i1\nu4,i1\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,space opera\ni2,jazz record\ni3,robot poems\ni4,quiet film\n")
    (tmp_path / "friends.csv").write_text("userID,friendID\nu5,u1\n")
    (tmp_path / "users.txt").write_text("u5\nu4\n")
    out = tmp_path / "recs.csv"
    argv = ["recommend", "--interactions", str(tmp_path / "int.csv"), "--items", str(tmp_path / "items.csv"),
            "--users", str(tmp_path / "users.txt"), "--user-graph", str(tmp_path / "friends.csv"),
            "--user-graph-columns", "user_id=userID", "friend_id=friendID", "--k", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main([*argv, "--model", "friends"]) == 0
    recs = pd.read_csv(out)
    first = recs[recs["user_id"] == "u5"].sort_values("rank")["item_id"].tolist()
    # u5's only friend u1 clicked i1 (also the most popular) and i3: both ahead of i2
    assert first == ["i1", "i3"]
    # u4 is a known user whose graph entry is empty: plain popularity among items u4 has not seen
    assert recs[recs["user_id"] == "u4"].sort_values("rank")["item_id"].tolist()[0] == "i2"
    assert main([*argv, "--model", "popularity"]) == 2  # a model without a graph says so


def test_a_friend_list_given_as_one_string_is_refused_not_split_into_letters() -> None:
    # {"u0": "u12"} made users 'u', '1' and '2' the friends of u0; a bare number failed naming nothing
    for friends in ("u12", 12):
        with pytest.raises(InvalidInputError, match=r"user_graph: the friends of user 'u0' must be a list of user ids"):
            FriendsPopularity(user_graph={"u0": friends})  # type: ignore[dict-item]
    assert FriendsPopularity(user_graph={"u0": ["u12"], 3: (4, "5")}).user_graph == {"u0": ("u12",), "3": ("4", "5")}
