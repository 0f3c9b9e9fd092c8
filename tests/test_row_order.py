"""`coldkit recommend` does not read the files' row order.

An export without ``ORDER BY`` lists the same rows in another order. The loaders number items in the
item file's order and users in order of first appearance, and ties (equal counts, item-kNN's neighbour
cut) went to the earlier row while the hybrid drew its carved validation users over positions: a
first-time user's shop export, shuffled, changed the default hybrid's top 10 for 138 of 150 users.
`recommend_files` now numbers both by a hash of their ids (``coldkit.data.renumber_items`` /
``renumber_users``); the output lists the users in the file's order.
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
