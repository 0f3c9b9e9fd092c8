"""Named data sets: the embedded MovieLens copy (and its terms), and the real-data loaders."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coldkit.data as data
from coldkit import models
from coldkit.data.datasets import EMBEDDED_DIR
from coldkit.exceptions import InvalidInputError, UnknownComponentError

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared" / "data").resolve()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data sets not found at {SHARED}")


@pytest.fixture(scope="module")
def embedded() -> data.Dataset:
    return data.load_dataset("ml-latest-small")


def test_embedded_copy_is_complete_small_and_keeps_its_terms(embedded: data.Dataset) -> None:
    folder = EMBEDDED_DIR / "ml-latest-small"
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 1.5 * 2**20
    terms = (folder / "README.txt").read_text(encoding="utf-8")
    assert "redistribute the data set, including transformations, so long as it is distributed under these same" in terms
    assert "Harper" in embedded.citation and "same terms" in embedded.licence
    assert embedded.describe()["users"] == 610
    assert embedded.describe()["items"] == 9742
    assert embedded.interactions.matrix.nnz == 100836
    assert embedded.interactions.timestamps is not None


def test_embedded_ratings_equal_an_independent_read(embedded: data.Dataset) -> None:
    with gzip.open(EMBEDDED_DIR / "ml-latest-small" / "ratings.csv.gz", "rt", encoding="utf-8") as f:
        frame = pd.read_csv(f, dtype={"userId": str, "movieId": str})
    inter = embedded.interactions
    users = inter.user_index()
    items = {str(i): n for n, i in enumerate(inter.catalog.item_ids)}
    sample = frame.sample(200, random_state=0)
    for u, i, r in zip(sample["userId"], sample["movieId"], sample["rating"]):
        assert inter.matrix[users[u], items[i]] == pytest.approx(r)
    assert frame["rating"].sum() == pytest.approx(inter.matrix.sum(), rel=1e-6)


def test_item_text_has_title_genres_and_tags(embedded: data.Dataset) -> None:
    table = embedded.catalog.table.set_index("item_id")
    assert table.loc["1", "title"] == "Toy Story (1995)"
    assert "Animation" in table.loc["1", "genres"]
    assert "pixar" in table.loc["1", "tags"]
    assert embedded.catalog.text_columns == ("title", "genres", "tags")
    assert embedded.describe()["items_without_interactions"] == 18  # 18 movies are tagged but unrated


def test_implicit_views(embedded: data.Dataset) -> None:
    binary = data.implicit(embedded)
    assert binary.interactions.matrix.nnz == 100836 and set(binary.interactions.matrix.data) == {1.0}
    high = data.implicit(embedded, 4.0)
    ratings = embedded.interactions.matrix.data
    assert high.interactions.matrix.nnz == int((ratings >= 4.0).sum())
    assert high.interactions.timestamps.nnz == high.interactions.matrix.nnz
    assert high.interactions.n_users == embedded.interactions.n_users  # user indices do not move


def test_unknown_name_and_missing_root(tmp_path: Path) -> None:
    with pytest.raises(UnknownComponentError, match="unknown data set 'nope'"):
        data.load_dataset("nope")
    with pytest.raises(InvalidInputError, match="not shipped"):
        data.load_dataset("ml-100k", data_root=tmp_path)


def test_folder_in_movielens_layout(tmp_path: Path) -> None:
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,(no genres listed)\n", encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,10\n2,2,3,11\n", encoding="utf-8")
    ds = data.load_dataset(tmp_path)
    assert ds.catalog.texts() == ["A. Drama", "B"]
    assert ds.interactions.matrix.nnz == 2


def test_a_movielens_folder_takes_a_column_mapping_too(tmp_path: Path) -> None:
    # it worked without a mapping; with --interaction-columns user_id=userId item_id=movieId it was refused:
    # "needs an interactions table and an items table ... missing: interactions, items"
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,Comedy\n", encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,10\n2,2,3,11\n", encoding="utf-8")
    mapped = data.load_dataset(tmp_path, columns={"user_id": "userId", "item_id": "movieId"})
    assert list(mapped.catalog.item_ids) == ["1", "2"] and mapped.interactions.matrix.nnz == 2
    assert mapped.catalog.text_columns == ("title", "genres")
    (tmp_path / "movies.csv").unlink()  # half the layout: the mapping does not hide what is missing
    with pytest.raises(InvalidInputError, match="missing: interactions, items"):
        data.load_dataset(tmp_path, columns={"user_id": "userId", "item_id": "movieId"})


@pytest.mark.parametrize("files", [[], ["ratings.txt", "products.csv"]])
def test_a_folder_of_neither_layout_names_both(tmp_path: Path, files: list[str]) -> None:
    # it used to ask only for movies.csv and ratings.csv, a layout a user with their own data never meant
    for name in files:
        (tmp_path / name).write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"no data tables found; .*interactions\.csv \+ items\.csv.*movies\.csv \+ ratings\.csv"):
        data.load_dataset(tmp_path)


def test_a_half_movielens_folder_still_names_the_missing_file(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,10\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="needs movies.csv and ratings.csv"):
        data.load_dataset(tmp_path)


@needs_shared
def test_ml100k_latin1_titles_profiles_and_posters() -> None:
    ds = data.load_dataset("ml-100k", data_root=SHARED)
    assert (ds.interactions.n_users, len(ds.catalog), ds.interactions.matrix.nnz) == (943, 1682, 100000)
    titles = ds.catalog.table["title"].tolist()
    assert any("Misérables" in t for t in titles)  # ISO-8859-1 decoded correctly
    assert ds.catalog.table.loc[0, "genres"] == "Animation|Children's|Comedy"
    assert ds.user_profiles is not None and "technician" in ds.user_profiles["1"]
    images = ds.catalog.table["image"].dropna()
    assert 1500 < len(images) <= 1682 and all(Path(p).is_file() for p in images[:20])


@needs_shared
def test_lastfm_tags_and_latest_small_from_root() -> None:
    fm = data.load_dataset("lastfm-2k", data_root=SHARED)
    assert (fm.interactions.n_users, len(fm.catalog), fm.interactions.matrix.nnz) == (1892, 17632, 92834)
    assert fm.catalog.text_columns == ("name", "tags")
    assert (fm.catalog.table["tags"] != "").sum() > 10000
    assert fm.interactions.item_counts().min() >= 1
    root_copy = data.load_dataset("ml-latest-small", data_root=SHARED)
    emb = data.load_dataset("ml-latest-small")
    assert (root_copy.interactions.matrix != emb.interactions.matrix).nnz == 0
    images = root_copy.catalog.table["image"].dropna()
    assert len(images) == 2947  # the count the data README documents
    np.testing.assert_array_equal(root_copy.catalog.item_ids, emb.catalog.item_ids)


@needs_shared
def test_embedded_files_decompress_to_the_grouplens_bytes() -> None:
    for name in ("ratings", "movies", "tags"):
        shipped = gzip.open(EMBEDDED_DIR / "ml-latest-small" / f"{name}.csv.gz").read()
        original = (SHARED / "ml-latest-small" / f"{name}.csv").read_bytes()
        assert hashlib.sha256(shipped).digest() == hashlib.sha256(original).digest(), name


def test_subsample_keeps_ids_texts_and_timestamps(embedded: data.Dataset) -> None:
    small = data.subsample(embedded, max_users=50, max_items=300, seed=1)
    inter = small.interactions
    assert inter.n_users <= 50 and len(small.catalog) <= 300
    assert (np.diff(inter.matrix.indptr) > 0).all() and inter.item_counts().min() > 0
    assert inter.timestamps.nnz == inter.matrix.nnz
    full_users, full_items = embedded.interactions.user_index(), {str(i): n for n, i in enumerate(embedded.catalog.item_ids)}
    coo = inter.matrix.tocoo()
    for r, c, v in list(zip(coo.row, coo.col, coo.data))[:100]:
        u, i = full_users[str(inter.user_ids[r])], full_items[str(small.catalog.item_ids[c])]
        assert embedded.interactions.matrix[u, i] == v
    assert small.catalog.texts()[0] == embedded.catalog.texts()[full_items[str(small.catalog.item_ids[0])]]


def test_shuffle_items_moves_ids_texts_clicks_and_timestamps_together(embedded: data.Dataset) -> None:
    small = data.subsample(embedded, max_users=40, max_items=200, seed=2)
    shuffled = data.shuffle_items(small, seed=3)
    assert shuffled.catalog.item_ids.tolist() != small.catalog.item_ids.tolist()  # renumbered...
    assert sorted(shuffled.catalog.item_ids.tolist()) == sorted(small.catalog.item_ids.tolist())  # ...nothing lost
    old = {str(i): n for n, i in enumerate(small.catalog.item_ids)}
    texts_before, texts_after = small.catalog.texts(), shuffled.catalog.texts()
    for new, item in enumerate(shuffled.catalog.item_ids):
        o = old[str(item)]
        assert texts_after[new] == texts_before[o]
        assert (shuffled.interactions.matrix[:, new] != small.interactions.matrix[:, o]).nnz == 0
        assert (shuffled.interactions.timestamps[:, new] != small.interactions.timestamps[:, o]).nnz == 0
    assert shuffled.interactions.user_ids.tolist() == small.interactions.user_ids.tolist()
    assert data.shuffle_items(small, seed=3).catalog.item_ids.tolist() == shuffled.catalog.item_ids.tolist()  # seeded


@pytest.mark.parametrize("threshold", [float("nan"), float("inf")])
def test_implicit_threshold_must_be_finite(tmp_path: Path, threshold: float) -> None:
    # NaN was "no interaction has rating >= nan"; inf likewise blamed the ratings, not the threshold
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,Comedy\n", encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,10\n2,2,3,11\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"implicit_threshold \(--implicit-threshold\) must be a finite number"):
        data.load_dataset(tmp_path, implicit_threshold=threshold)
    kept = data.load_dataset(tmp_path, implicit_threshold=4.0)
    assert kept.interactions.matrix.nnz == 1  # only the 5-star rating is >= 4


@pytest.mark.parametrize("threshold", ["4", True])
def test_implicit_threshold_must_be_a_number(tmp_path: Path, threshold: object) -> None:
    # a string (from a config) was numpy's "ufunc 'isfinite' not supported for the input types"; True read as 1
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,Comedy\n", encoding="utf-8")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,10\n2,2,3,11\n", encoding="utf-8")
    words = r"implicit_threshold \(--implicit-threshold\) must be a number, got"
    with pytest.raises(InvalidInputError, match=words):
        data.load_dataset(tmp_path, implicit_threshold=threshold)
    with pytest.raises(InvalidInputError, match=words):
        data.implicit(data.load_dataset(tmp_path), threshold)  # type: ignore[arg-type]
    frame = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "rating": [5, 3]})
    with pytest.raises(InvalidInputError, match=words):
        models.create("popularity").fit(frame, implicit_threshold=threshold)


def test_latest_small_from_a_root_without_it_points_to_the_embedded_copy(tmp_path: Path) -> None:
    # the message said "'ml-latest-small' is not shipped with coldkit"; it is, embedded
    with pytest.raises(InvalidInputError, match=r"holds no ml-latest-small/ folder; leave data_root= \(--data-root\) out"):
        data.load_dataset("ml-latest-small", data_root=tmp_path)
    with pytest.raises(InvalidInputError, match="'ml-100k' is not shipped with coldkit"):
        data.load_dataset("ml-100k", data_root=tmp_path)


def test_a_threshold_on_a_table_without_ratings_says_there_are_none(tmp_path: Path) -> None:
    # "no interaction has rating >= 4.0" sent the user looking for low ratings in a table that has none
    (tmp_path / "interactions.csv").write_text("user_id,item_id\nu1,a\nu2,b\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item_id,title\na,Heat\nb,Alien\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"rating >= 4.0; every interaction weighs 1.0: the interactions have no rating column"):
        data.load_dataset(tmp_path, implicit_threshold=4.0)
    (tmp_path / "interactions.csv").write_text("user_id,item_id,rating\nu1,a,2\nu2,b,3\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"no interaction has rating >= 4.0$"):
        data.load_dataset(tmp_path, implicit_threshold=4.0)


def test_a_dataframe_is_not_read_as_a_data_set_name() -> None:
    # evaluate(df) / load_dataset(df) said "unknown data set '  user_id item_id\n0 ...'" (the frame's repr)
    frame = pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]})
    with pytest.raises(InvalidInputError, match=r"a data set is a name \(.*ml-latest-small.*\) or a folder path, got DataFrame; "
                       r"for DataFrames of your own, coldkit.evaluate\(ratings_df, models, items=items_df"):
        data.load_dataset(frame)  # type: ignore[arg-type]
    from coldkit.evaluation import evaluate

    # evaluate reads a DataFrame itself now (test_evaluation_runner): this one is read, and is too small to split
    with pytest.raises(InvalidInputError, match="cold-item protocol: 1 items with interactions are too few"):
        evaluate(frame, ["popularity"], progress=False)


def test_a_data_root_that_is_not_a_folder_is_refused_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a mistyped data_root quietly read $COLDKIT_DATA (or ../shared/data) instead: the run measured other files
    from coldkit.data.datasets import find_data_root

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "ml-100k").mkdir(parents=True)
    monkeypatch.setenv("COLDKIT_DATA", str(elsewhere))
    assert find_data_root() == elsewhere
    with pytest.raises(InvalidInputError, match="is not a folder"):
        find_data_root(tmp_path / "typo")
    with pytest.raises(InvalidInputError, match="is not a folder"):
        data.load_dataset("ml-100k", data_root=tmp_path / "typo")
