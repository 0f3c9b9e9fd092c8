"""`coldkit recommend` does not read the files' row order.

An export without ``ORDER BY`` lists the same rows in another order. The loaders number items in the
item file's order and users in order of first appearance, and ties (equal counts, item-kNN's neighbour
cut) went to the earlier row while the hybrid drew its carved validation users over positions: a
first-time user's shop export, shuffled, changed the default hybrid's top 10 for 138 of 150 users.
`recommend_files` now numbers both by a hash of their ids (``coldkit.data.renumber_items`` /
``renumber_users``); the output lists the users in the file's order. So does ``fit`` on DataFrames
(a new user's review: shuffled rows kept 55 % of the API hybrid's top-10 places, a shuffled item
table 21 %), so the Python API and the command give the same lists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coldkit
from coldkit.data import load_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = load_dataset("ml-latest-small")  # embedded
    inter = ds.interactions
    users = np.arange(0, 120)
    counts = np.asarray(inter.matrix[users].sum(axis=0)).ravel()
    items = np.sort(np.argsort(-counts, kind="stable")[:300])
    items = np.concatenate([items, np.setdiff1d(np.arange(inter.n_items), items)[:30]])  # and 30 nobody here rated
    m = inter.matrix[users][:, items].tocoo()
    ratings = pd.DataFrame({
        "user_id": inter.user_ids[users][m.row], "item_id": inter.catalog.item_ids[items][m.col], "rating": m.data,
        "timestamp": np.asarray(inter.timestamps[users][:, items][m.row, m.col]).ravel(),
    })  # fmt: skip
    table = inter.catalog.table.iloc[items][["item_id", "title", "genres"]].reset_index(drop=True)
    return ratings, table


def _recommend(tmp: Path, ratings: pd.DataFrame, table: pd.DataFrame, model: str, tag: str) -> pd.DataFrame:
    ratings.to_csv(tmp / f"r-{tag}.csv", index=False)
    table.to_csv(tmp / f"i-{tag}.csv", index=False)
    out = tmp / f"out-{tag}-{model}.csv"
    coldkit.recommend_files(str(tmp / f"r-{tag}.csv"), str(tmp / f"i-{tag}.csv"), str(out), model=model, k=10,
                            encoder="hashing" if model == "hybrid" else None, options={"cache": False} if model == "hybrid" else None,
                            progress=False)  # fmt: skip
    return pd.read_csv(out, dtype={"user_id": str, "item_id": str})


@pytest.mark.parametrize("model", ["popularity", "item-knn", "hybrid"])
def test_the_same_rows_in_another_order_give_the_same_lists(tmp_path: Path, files, model: str) -> None:  # type: ignore[no-untyped-def]
    ratings, table = files
    first = _recommend(tmp_path, ratings, table, model, "a")
    rows = ratings.sample(frac=1.0, random_state=4).reset_index(drop=True)
    items = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = _recommend(tmp_path, rows, items, model, "b")
    key = ["user_id", "rank"]
    pd.testing.assert_frame_equal(first.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True))
    # the users are written in the order the interactions file names them first
    assert list(dict.fromkeys(again["user_id"])) == list(dict.fromkeys(rows["user_id"].astype(str)))


def test_fit_on_frames_reads_no_row_order_and_agrees_with_the_command(tmp_path: Path, files) -> None:  # type: ignore[no-untyped-def]
    ratings, table = files
    users = sorted(ratings["user_id"].astype(str).unique())
    cold = sorted(set(table["item_id"].astype(str)) - set(ratings["item_id"].astype(str)))

    def api(rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        model = coldkit.models.create("hybrid", encoder="hashing", cache=False).fit(rows, items=items)
        return model.recommend(users=users, k=10)

    first = api(ratings, table)
    again = api(ratings.sample(frac=1.0, random_state=4), table.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(first, again)
    # the cold items alone too (the regime of a new-item split, with its own weights)
    model = coldkit.models.create("hybrid", encoder="hashing", cache=False).fit(ratings.sample(frac=1.0, random_state=5), items=table)
    assert model.recommend(users=users, k=5, items=cold)["item_id"].tolist() == (
        coldkit.models.create("hybrid", encoder="hashing", cache=False).fit(ratings, items=table).recommend(users=users, k=5, items=cold)["item_id"].tolist()
    )
    # and the command's lists on the same data are the API's
    command = _recommend(tmp_path, ratings, table, "hybrid", "api")
    listed = first.assign(user_id=first["user_id"].astype(str), item_id=first["item_id"].astype(str))
    key = ["user_id", "rank"]
    assert command.sort_values(key)[["user_id", "item_id", "rank"]].reset_index(drop=True).equals(
        listed.sort_values(key)[["user_id", "item_id", "rank"]].reset_index(drop=True)
    )


def test_an_index_built_from_shuffled_files_serves_the_same_lists(tmp_path: Path, files) -> None:  # type: ignore[no-untyped-def]
    from coldkit.serving import build_index_from_files

    ratings, table = files
    built = []
    for tag, rows, items in (("a", ratings, table), ("b", ratings.sample(frac=1.0, random_state=6), table.sample(frac=1.0, random_state=7))):
        folder = tmp_path / tag  # the files, and the same files as a data folder of one's own (--dataset DIR)
        folder.mkdir()
        rows.to_csv(folder / "interactions.csv", index=False)
        items.to_csv(folder / "items.csv", index=False)
        built.append(build_index_from_files(tmp_path / f"idx-{tag}", interactions=folder / "interactions.csv",
                                            items=folder / "items.csv", encoder="hashing", cache=False))  # fmt: skip
        built.append(build_index_from_files(tmp_path / f"dir-{tag}", dataset=str(folder), encoder="hashing", cache=False))
    first, by_folder, again, again_by_folder = built
    try:
        for other in (by_folder, again_by_folder):
            assert other.version.item_ids == first.version.item_ids
            for user in sorted(ratings["user_id"].astype(str).unique())[:20]:
                assert [i.id for i in other.recommend(k=10, user_id=user).items] == [i.id for i in first.recommend(k=10, user_id=user).items]
    finally:
        by_folder.close()
        again_by_folder.close()
    try:
        assert first.version.item_ids == again.version.item_ids
        for user in sorted(ratings["user_id"].astype(str).unique())[:20]:
            got, want = again.recommend(k=10, user_id=user), first.recommend(k=10, user_id=user)
            assert [i.id for i in got.items] == [i.id for i in want.items], user
        text = {"text": "a space adventure with robots"}
        assert [i.id for i in again.recommend(k=10, **text).items] == [i.id for i in first.recommend(k=10, **text).items]
    finally:
        first.close()
        again.close()
