"""Bring your own vectors: the vector-file loader, the ``precomputed`` encoder, ``--item-vectors``.

References are independent: numpy's own normalisation of the written matrix, and the hashing
encoder's vectors fed back through a file (a model on those must rank exactly as on the encoder).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit
from coldkit.batch import recommend_files
from coldkit.builtins.encoders import PrecomputedEncoder
from coldkit.cli import main
from coldkit.data.interactions import UserQuery
from coldkit.data.loaders import load_interactions, load_items
from coldkit.data.vectors import ids_path_for, item_vectors_from_arrays, load_item_vectors
from coldkit.exceptions import InvalidInputError
from coldkit.models.content import ContentRecommender

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ITEMS = """item_id,title,genres
a,Space robots adventure,Sci-Fi
b,Romantic comedy in Paris,Romance|Comedy
c,Robots fight in space,Sci-Fi|Action
d,Paris love story,Romance
e,Documentary about whales,Documentary
f,Whales and dolphins of the deep sea,Documentary
"""
TRAIN = """user_id,item_id,rating
u1,a,5
u1,b,2
u2,b,4
u2,d,5
u3,a,4
u3,e,3
u4,a,5
"""


def unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, n, out=np.zeros_like(m), where=n > 0)


def write_npy(path: Path, ids: list[str], vectors: np.ndarray) -> Path:
    np.save(path, vectors)
    ids_path_for(path).write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def write_parquet(path: Path, ids: list[str], vectors: np.ndarray, fixed: bool = False, **names: str) -> Path:
    values = pa.array(vectors.reshape(-1).astype(np.float32))
    column = (
        pa.FixedSizeListArray.from_arrays(values, vectors.shape[1])
        if fixed
        else pa.ListArray.from_arrays(pa.array(np.arange(0, len(values) + 1, vectors.shape[1], dtype=np.int32)), values)
    )
    table = pa.table({names.get("id", "item_id"): pa.array(ids), names.get("vector", "vector"): column})
    pq.write_table(table, path)
    return path


@pytest.fixture()
def matrix() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    return [f"id{i}" for i in range(7)], rng.normal(size=(7, 5)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# file formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["npy", "npz", "parquet", "parquet-fixed", "parquet-named"])
def test_every_layout_loads_the_same_normalised_rows(
    tmp_path: Path, matrix: tuple[list[str], np.ndarray], layout: str
) -> None:
    ids, vectors = matrix
    kwargs: dict[str, str] = {}
    if layout == "npy":
        path = write_npy(tmp_path / "v.npy", ids, vectors)
        assert ids_path_for(path).name == "v.ids.txt"
    elif layout == "npz":
        path = tmp_path / "v.npz"
        np.savez(path, ids=np.array(ids, dtype=str), vectors=vectors)
    elif layout == "parquet-named":
        path = write_parquet(tmp_path / "v.parquet", ids, vectors, id="movieId", vector="embedding")
        kwargs = {"id_column": "movieId", "vector_column": "embedding"}
    else:
        path = write_parquet(tmp_path / "v.parquet", ids, vectors, fixed=layout == "parquet-fixed")
    loaded = load_item_vectors(path, **kwargs)
    assert loaded.ids.tolist() == ids and loaded.dim == 5
    assert loaded.vectors.dtype == np.float32 and loaded.vectors.flags.c_contiguous
    np.testing.assert_allclose(loaded.vectors, unit(vectors), atol=1e-6)


def test_integer_ids_and_float64_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, ids=np.array([10, 11, 12]), vectors=np.array([[3.0, 4.0], [1e300, 1e300], [0.0, 0.0]]))
    loaded = load_item_vectors(path)
    assert loaded.ids.tolist() == ["10", "11", "12"]
    # huge float64 values do not overflow to inf; an all-zero row stays zero ("no content")
    np.testing.assert_allclose(loaded.vectors, [[0.6, 0.8], [2**-0.5, 2**-0.5], [0.0, 0.0]], atol=1e-7)


@given(
    n=st.integers(1, 30),
    dim=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_for_items_returns_each_items_row_in_catalogue_order(n: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim))
    ids = [f"x{i}" for i in rng.permutation(n)]
    loaded = item_vectors_from_arrays(ids, vectors)
    catalogue = list(rng.permutation(ids))
    got = loaded.for_items(catalogue)
    expected = unit(vectors)[[ids.index(c) for c in catalogue]]
    np.testing.assert_allclose(got, expected, atol=1e-6)


# --------------------------------------------------------------------------------------------
# bad input: a clear error naming the first bad row
# --------------------------------------------------------------------------------------------


def test_nan_names_row_and_id(tmp_path: Path, matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    vectors[4, 2] = np.nan
    vectors[6, 0] = np.inf
    with pytest.raises(InvalidInputError, match=r"row 4 \(id 'id4'\) has a NaN or infinite value"):
        load_item_vectors(write_npy(tmp_path / "v.npy", ids, vectors))


def test_first_bad_row_wins_across_kinds_of_fault(tmp_path: Path, matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    vectors[5, 0] = np.nan
    ids[3] = ids[1]
    with pytest.raises(InvalidInputError, match=r"row 3 \(id 'id1'\) repeats the id of row 1"):
        load_item_vectors(write_npy(tmp_path / "v.npy", ids, vectors))
    ids[3] = ""
    with pytest.raises(InvalidInputError, match=r"row 3 \(id ''\) has an empty id"):
        load_item_vectors(write_npy(tmp_path / "w.npy", ids, vectors))


def test_parquet_binary_ids_are_text_and_nested_ids_are_refused(tmp_path: Path) -> None:
    # binary ids b"a" read as "b'a'": every item was reported as having no vector, naming the same text
    vectors = [[1.0, 0.0], [0.0, 1.0]]
    pq.write_table(pa.table({"item_id": pa.array([b"a", b"b"], pa.binary()), "vector": vectors}), tmp_path / "b.parquet")
    assert list(load_item_vectors(tmp_path / "b.parquet").ids) == ["a", "b"]
    pq.write_table(pa.table({"item_id": pa.array([[1], [2]]), "vector": vectors}), tmp_path / "n.parquet")
    with pytest.raises(InvalidInputError, match=r"the id column: row 0 \(from 0\) holds a list"):
        load_item_vectors(tmp_path / "n.parquet")


def test_parquet_wrong_dimension_and_null_vector(tmp_path: Path) -> None:
    table = pa.table(
        {"item_id": ["a", "b", "c", "d"], "vector": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], None, [1.0, 2.0]]}
    )
    pq.write_table(table, tmp_path / "v.parquet")
    with pytest.raises(InvalidInputError, match=r"row 2 \(id 'c'\) has no vector \(null\)"):
        load_item_vectors(tmp_path / "v.parquet")
    table = pa.table({"item_id": ["a", "b", "c"], "vector": [[1.0, 0.0, 0.0], [0.0, 1.0], [1.0, 2.0, 3.0]]})
    pq.write_table(table, tmp_path / "w.parquet")
    with pytest.raises(InvalidInputError, match=r"row 1 \(id 'b'\) has 2 values, but the first vector has 3"):
        load_item_vectors(tmp_path / "w.parquet")
    table = pa.table({"item_id": ["a", "b"], "vector": [[1.0, 0.0], [None, 1.0]]})
    pq.write_table(table, tmp_path / "x.parquet")
    with pytest.raises(InvalidInputError, match=r"row 1 \(id 'b'\) has a NaN"):
        load_item_vectors(tmp_path / "x.parquet")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: pq.write_table(pa.table({"id": ["a"], "vector": [[1.0]]}), p / "v.parquet"), r"no column\(s\) \['item_id'\]"),
        (lambda p: pq.write_table(pa.table({"item_id": ["a"], "vector": ["x"]}), p / "v.parquet"), "list of numbers"),
        (lambda p: np.save(p / "v.npy", np.ones((2, 3))), "ids file .*v.ids.txt.* is missing"),
        (lambda p: (np.save(p / "v.npy", np.ones((2, 3))), (p / "v.ids.txt").write_text("a\n")), "1 ids but 2 vector rows"),
        (lambda p: np.save(p / "v.npy", np.array([["a", "b"]], dtype=object)), "not a numeric .npy"),
        # numpy took any other file for a pickle: "contains pickled (object) data ... allow_pickle="
        (lambda p: ((p / "v.npy").write_text("1.0,2.0\n"), (p / "v.ids.txt").write_text("a\n")), r"is not a \.npy file \(no \.npy header; e\.g\. a text or CSV file named \.npy\): write it with numpy\.save$"),
        (lambda p: np.savez(p / "v.npz", ids=np.array(["a"], dtype=object), vectors=np.ones((1, 2))), "string array"),
        # the message alone: it was wrapped in the unrelated "save ids as a string array" hint
        (lambda p: np.savez(p / "v.npz", vectors=np.ones((1, 2))), r"must hold arrays 'ids' and 'vectors', found \['vectors'\]$"),
        (lambda p: (p / "v.csv").write_text("a,1\n"), r"unknown format 'v.csv'; use .npy \(\+ v.ids.txt beside it\)"),  # not "v.csv.ids.txt"
        (lambda p: (p / "v.npy").mkdir(), r"is a directory; give the vector file"),  # was "no such file"
        # empty, cut-off and mislabelled files: numpy's EOFError / BadZipFile used to escape as tracebacks
        (lambda p: ((p / "v.npy").write_bytes(b""), (p / "v.ids.txt").write_text("a\n")), "empty or truncated"),
        (lambda p: (p / "v.npz").write_bytes(b""), "not a .npz archive"),
        (lambda p: (p / "v.npz").write_text("ids,vectors\n"), r"not a .npz archive \(empty, or not a zip file as np.savez writes\)$"),
        (lambda p: np.save(p / "v.npy", np.ones((2, 2))) or (p / "v.npy").rename(p / "v.npz"), "not a .npz archive"),
        (
            lambda p: (
                np.savez(p / "w.npz", ids=np.array(["a", "b"]), vectors=np.ones((2, 2))),
                (p / "v.npz").write_bytes((p / "w.npz").read_bytes()[:-30]),
            ),
            "damaged or truncated .npz",
        ),
    ],
)
def test_bad_files_get_clear_errors(tmp_path: Path, make: object, match: str) -> None:
    make(tmp_path)  # type: ignore[operator]
    path = next(p for p in tmp_path.iterdir() if p.name.startswith("v.") and not p.name.endswith(".txt"))
    with pytest.raises(InvalidInputError, match=match):
        load_item_vectors(path)


@pytest.mark.parametrize("name", ["v.npy", "v.npz"])
def test_parquet_column_choices_on_another_format_are_refused(
    tmp_path: Path, name: str, matrix: tuple[list[str], np.ndarray]
) -> None:
    # --item-vector-columns item_id=sku with a .npy was silently ignored
    ids, vectors = matrix
    if name == "v.npy":
        np.save(tmp_path / name, vectors)
        ids_path_for(tmp_path / name).write_text("\n".join(ids) + "\n")
    else:
        np.savez(tmp_path / name, ids=np.array(ids, dtype=str), vectors=vectors)
    with pytest.raises(InvalidInputError, match=f"choose Parquet columns; '{name}' is not Parquet"):
        load_item_vectors(tmp_path / name, id_column="sku")
    with pytest.raises(InvalidInputError, match="choose Parquet columns"):
        load_item_vectors(tmp_path / name, vector_column="emb")
    assert len(load_item_vectors(tmp_path / name, id_column="item_id", vector_column="vector")) == len(ids)


def test_missing_ids_are_an_error_naming_the_first_or_zero_rows(matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    loaded = item_vectors_from_arrays(ids, vectors)
    with pytest.raises(InvalidInputError, match=r"2 catalogue item\(s\) have no vector; the first is item 'new1'"):
        loaded.for_items(["id0", "new1", "id2", "new2"])
    got = loaded.for_items(["id0", "new1"], missing="zero")
    np.testing.assert_allclose(got, np.vstack([unit(vectors)[0], np.zeros(5)]), atol=1e-6)
    match = loaded.match(["id0", "id3"])
    assert match.extra == 5 and match.missing == [] and match.rows.tolist() == [0, 3]


# --------------------------------------------------------------------------------------------
# the encoder and the models
# --------------------------------------------------------------------------------------------


def _hashing_vectors(train_texts: list[str]) -> tuple[np.ndarray, object]:
    hashing = coldkit.get_encoder("hashing", dim=64)
    hashing.fit(train_texts)
    return hashing.encode_texts(train_texts), hashing


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
    (tmp_path / "train.csv").write_text(TRAIN, encoding="utf-8")
    return {"items": tmp_path / "items.csv", "train": tmp_path / "train.csv", "dir": tmp_path}


def test_content_model_on_precomputed_ranks_as_on_the_encoder_that_made_them(files: dict[str, Path]) -> None:
    catalog = load_items(files["items"])
    train = load_interactions(files["train"], catalog)
    vectors, hashing = _hashing_vectors(catalog.texts())
    # the file lists the items in another order, plus one item the catalogue does not have
    order = np.random.default_rng(1).permutation(len(catalog))
    ids = [str(catalog.item_ids[i]) for i in order] + ["zz"]
    rows = np.vstack([vectors[order], np.ones((1, 64))]) * 3.0  # not normalised: the loader does it
    encoder = coldkit.get_encoder("precomputed", ids=ids, vectors=rows)
    assert encoder.dim == 64 and encoder.name == "precomputed"
    mine = ContentRecommender(encoder, cache=False).fit(train)
    reference = ContentRecommender(hashing, cache=False).fit(train)  # type: ignore[arg-type]
    np.testing.assert_allclose(mine.item_vectors(), reference.item_vectors(), atol=1e-6)
    queries = [UserQuery(user=0), UserQuery(history=np.array([4]))]
    got, want = mine.recommend(queries, 3), reference.recommend(queries, 3)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)


def test_all_zero_given_vectors_are_named_as_the_problem_not_the_item_text(files: dict[str, Path]) -> None:
    # the items had text and vectors were given; the error said "give the items text or vectors"
    catalog = load_items(files["items"])
    train = load_interactions(files["train"], catalog)
    ids = [str(i) for i in catalog.item_ids]
    encoder = coldkit.get_encoder("precomputed", ids=ids, vectors=np.zeros((len(ids), 8)))
    with pytest.raises(InvalidInputError, match=r"0 of \d+ catalogue items have a non-zero item vector.*all-zero vector"):
        ContentRecommender(encoder, cache=False).fit(train)


def test_text_queries_need_a_text_encoder(matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    encoder = PrecomputedEncoder(ids=ids, vectors=vectors)
    with pytest.raises(InvalidInputError, match="no model for text .*text_encoder="):
        encoder.encode_texts(["a space adventure"])
    with pytest.raises(InvalidInputError, match="makes 64-d vectors but the item vectors .* are 5-d"):
        PrecomputedEncoder(ids=ids, vectors=vectors, text_encoder=coldkit.get_encoder("hashing", dim=64))
    hashing = coldkit.get_encoder("hashing", dim=5)
    with_text = PrecomputedEncoder(ids=ids, vectors=vectors, text_encoder=hashing)
    np.testing.assert_array_equal(with_text.encode_texts(["robots in space"]), hashing.encode_texts(["robots in space"]))
    assert with_text.fingerprint != encoder.fingerprint


def test_fingerprint_follows_the_vectors(matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    a = PrecomputedEncoder(ids=ids, vectors=vectors)
    assert a.fingerprint == PrecomputedEncoder(ids=ids, vectors=vectors * 2).fingerprint  # same unit rows
    changed = vectors.copy()
    changed[0, 0] += 1
    assert a.fingerprint != PrecomputedEncoder(ids=ids, vectors=changed).fingerprint


def test_encoder_arguments_are_checked(tmp_path: Path, matrix: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = matrix
    with pytest.raises(InvalidInputError, match="exactly one of"):
        coldkit.get_encoder("precomputed")
    with pytest.raises(InvalidInputError, match="exactly one of"):
        coldkit.get_encoder("precomputed", path=str(tmp_path / "v.npy"), ids=ids, vectors=vectors)
    with pytest.raises(InvalidInputError, match="unknown missing"):
        coldkit.get_encoder("precomputed", ids=ids, vectors=vectors, missing="skip")
    with pytest.raises(InvalidInputError, match="no such file"):
        coldkit.get_encoder("precomputed", path=str(tmp_path / "nope.parquet"))
    # rows of different lengths in a plain list: the first one that differs is named (numpy's
    # "inhomogeneous shape after 1 dimensions" ValueError came through before)
    rows = [list(v) for v in vectors[:3]]
    rows[2] = rows[2][:-1]
    with pytest.raises(InvalidInputError, match=rf"vector row 2 \(id '{ids[2]}'\) has {vectors.shape[1] - 1} values, but the first vector has {vectors.shape[1]}"):
        coldkit.get_encoder("precomputed", ids=ids[:3], vectors=rows)
    # a number among the rows (a vector's values spilled into the list): named too, not numpy's ValueError
    rows[1] = 0.5
    with pytest.raises(InvalidInputError, match=rf"vector row 1 \(id '{ids[1]}'\) is float 0.5, not a list of numbers"):
        coldkit.get_encoder("precomputed", ids=ids[:3], vectors=rows)


# --------------------------------------------------------------------------------------------
# coldkit recommend --item-vectors
# --------------------------------------------------------------------------------------------


def _cli(files: dict[str, Path], out: Path, *extra: str) -> int:
    return main(
        ["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]),
         "--out", str(out), "--no-progress", "--k", "3", *extra]
    )  # fmt: skip


def test_cli_item_vectors_equals_the_encoder_that_made_them(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_items(files["items"])
    vectors, _ = _hashing_vectors(catalog.texts())
    path = write_parquet(files["dir"] / "emb.parquet", [str(i) for i in catalog.item_ids] + ["extra"],
                         np.vstack([vectors, np.ones((1, 64), np.float32)]), id="movie", vector="emb")  # fmt: skip
    out = files["dir"] / "recs.csv"
    code = _cli(files, out, "--model", "hybrid", "--item-vectors", str(path), "--item-vector-columns",
                "item_id=movie", "vector=emb", "--option", "warm=item-knn", "--option", "cache=false")  # fmt: skip
    assert code == 0
    assert "1 vector(s) in" in capsys.readouterr().err
    by_vectors = recommend_files(
        str(files["train"]), str(files["items"]), str(files["dir"] / "by-vectors.csv"), model="hybrid", k=3,
        item_vectors=str(path), item_vector_columns={"item_id": "movie", "vector": "emb"},
        options={"warm": "item-knn", "cache": "false"},
    )  # fmt: skip
    assert by_vectors["rows"] > 0
    err = capsys.readouterr().err
    assert "coldkit: prepare 6 item vectors" in err and "item texts" not in err  # nothing is encoded: the stage says so
    reference = recommend_files(
        str(files["train"]), str(files["items"]), str(files["dir"] / "ref.csv"), model="hybrid", k=3,
        encoder="hashing", options={"warm": "item-knn", "cache": "false", "encoder_options": {"dim": 64}},
    )  # fmt: skip
    assert reference["rows"] > 0
    got = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    want = pd.read_csv(files["dir"] / "ref.csv", dtype={"user_id": str, "item_id": str})
    pd.testing.assert_frame_equal(got[["user_id", "item_id", "rank"]], want[["user_id", "item_id", "rank"]])
    np.testing.assert_allclose(got["score"], want["score"], atol=1e-5)


@pytest.mark.parametrize(
    "fault, extra, match",
    [
        ("nan", (), r"row 2 \(id 'c'\) has a NaN"),
        ("missing", (), r"1 item\(s\) of --items have no vector; the first is 'f' \(data row 6 of --items, counted from 1 below the header\)"),
        ("dim", (), r"row 3 \(id 'd'\) has 3 values, but the first vector has 4"),
        # ids saved in another case (or from a float array: '7.0'): the id each looks like is named, the vectors' first
        ("case", (), r"6 item\(s\) of --items have no vector; the first is 'a' \(data row 1 of --items, counted from 1 below "
                     r"the header\); ids are matched as text, the vectors' first: 'A' is not 'a', 'B' is not 'b', 'C' is not 'c'$"),
        ("ok", ("--model", "popularity"), "does not use item content"),
        ("ok", ("--item-vector-columns", "vec=x"), "unknown name"),
        # --encoder beside --item-vectors is the vectors' text encoder: the error says so, and to drop it
        ("ok", ("--encoder", "hashing"), r"makes 1024-d vectors but the item vectors .* are 4-d; .*--encoder names the encoder "
                                         r"that made the vectors .*: leave it out for vectors made elsewhere$"),
    ],
)
def test_cli_bad_vector_file_is_one_clear_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], fault: str, extra: tuple[str, ...], match: str
) -> None:
    ids = list("abcdef")
    rows: list[list[float] | None] = [[1.0, 0.0, 0.0, float(i)] for i in range(6)]
    if fault == "nan":
        rows[2] = [1.0, float("nan"), 0.0, 0.0]
    elif fault == "missing":
        ids, rows = ids[:5], rows[:5]
    elif fault == "dim":
        rows[3] = [1.0, 0.0, 0.0]
    elif fault == "case":
        ids = [i.upper() for i in ids]
    pq.write_table(pa.table({"item_id": ids, "vector": rows}), files["dir"] / "v.parquet")
    out = files["dir"] / "recs.csv"
    model = () if "--model" in extra else ("--model", "content")
    assert _cli(files, out, *model, "--item-vectors", str(files["dir"] / "v.parquet"), *extra) == 2
    err = capsys.readouterr().err
    assert "coldkit recommend: error:" in err and len(err.strip().splitlines()) == 1, err
    assert re.search(match, err), err
    assert not out.exists()


def test_cli_profiles_with_item_vectors_need_a_text_encoder(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_items(files["items"])
    vectors, _ = _hashing_vectors(catalog.texts())
    path = files["dir"] / "v.npz"
    np.savez(path, ids=np.array(catalog.item_ids, dtype=str), vectors=vectors)
    (files["dir"] / "profiles.csv").write_text("user_id,text\nnewbie,robots and space\n", encoding="utf-8")
    (files["dir"] / "users.txt").write_text("u1\nnewbie\n", encoding="utf-8")
    common = ("--model", "content", "--item-vectors", str(path), "--user-profiles", str(files["dir"] / "profiles.csv"),
              "--users", str(files["dir"] / "users.txt"), "--option", "cache=false")  # fmt: skip
    assert _cli(files, files["dir"] / "r.csv", *common) == 2
    assert "needs --encoder NAME" in capsys.readouterr().err
    # a profile file whose every text is empty is "no profile text" (docs), not profiles needing an encoder
    (files["dir"] / "profiles.csv").write_text("user_id,text\nnewbie,\nu1,  \n", encoding="utf-8")
    assert _cli(files, files["dir"] / "r.csv", *common) == 0
    assert "every profile text is empty" in capsys.readouterr().err


def test_precomputed_vectors_are_looked_up_without_joining_the_item_texts(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The precomputed encoder reads ids only: the catalogue's texts (seconds to join at 1M items) are not built."""
    from coldkit.data.interactions import Catalog
    from coldkit.models.content import encode_items

    catalog = load_items(files["items"])
    train = load_interactions(files["train"], catalog)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(catalog), 8)).astype(np.float32)
    encoder = PrecomputedEncoder(ids=[str(i) for i in catalog.item_ids], vectors=vectors)

    def no_texts(self: Catalog, *args: object, **kwargs: object) -> list[str]:
        raise AssertionError("item texts joined for an encoder that reads ids only")

    monkeypatch.setattr(Catalog, "texts", no_texts)
    got = encode_items(train, encoder)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(got, vectors / norms, rtol=1e-5, atol=1e-6)  # the loader stores unit rows


def test_item_vectors_with_an_item_table_of_ids_alone(tmp_path: Path) -> None:
    """Bring your own vectors: an item table without any text column is valid with --item-vectors (the
    hybrid then has no TF-IDF source and says so); without vectors it stays a clear error naming the ways out."""
    rng = np.random.default_rng(0)
    items = [f"i{i}" for i in range(120)]
    pd.DataFrame({"item_id": items}).to_csv(tmp_path / "items.csv", index=False)
    rows = [(f"u{u}", items[i]) for u in range(60) for i in rng.choice(100, 8, replace=False)]
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(tmp_path / "train.csv", index=False)
    np.save(tmp_path / "vec.npy", rng.standard_normal((120, 8)).astype(np.float32))
    (tmp_path / "vec.ids.txt").write_text("\n".join(items) + "\n")
    (tmp_path / "cand.txt").write_text("\n".join(items[100:]) + "\n")
    summary = recommend_files(
        str(tmp_path / "train.csv"), str(tmp_path / "items.csv"), str(tmp_path / "recs.csv"), k=5,
        candidates=str(tmp_path / "cand.txt"), item_vectors=str(tmp_path / "vec.npy"), options={"cache": False},
        progress=False,
    )  # fmt: skip
    recs = pd.read_csv(tmp_path / "recs.csv", dtype=str)
    assert summary["rows"] == len(recs) == 60 * 5
    assert recs["item_id"].isin(items[100:]).all()
    assert any("no TF-IDF source" in note for note in summary["notes"])
    with pytest.raises(InvalidInputError, match=r"no text-like column.*--item-vectors"):
        recommend_files(str(tmp_path / "train.csv"), str(tmp_path / "items.csv"), str(tmp_path / "r2.csv"),
                        encoder="hashing", progress=False)  # fmt: skip
    # a catalogue of ids: explained from the liked items
    from coldkit import models

    catalog = load_items(tmp_path / "items.csv", require_text=False)
    assert catalog.text_columns == ()
    train = load_interactions(tmp_path / "train.csv", catalog)
    vectors = np.load(tmp_path / "vec.npy")
    model = models.create("hybrid", encoder=PrecomputedEncoder(ids=items, vectors=vectors), cache=False).fit(train)
    assert "tfidf" not in model.used_sources
    user = UserQuery(user=0)
    top = int(model.recommend([user], 1).indices[0, 0])
    assert isinstance(model.explain(UserQuery(history=train.items_of(0)), top), str)
    # words the vectors cannot place: explain refuses them as recommend does (it explains a ranking)
    for call in (lambda q: model.recommend([q], 1), lambda q: model.explain(q, top)):
        with pytest.raises(InvalidInputError, match="no model for text"):
            call(UserQuery(history=train.items_of(0), text="space opera"))


def test_vectors_are_normalised_row_by_row_as_in_one_pass() -> None:
    from coldkit.data.vectors import item_vectors_from_arrays

    rng = np.random.default_rng(5)
    raw = (rng.normal(size=(3_000, 200)) * 1e3).astype(np.float32)
    raw[7] = 0.0
    loaded = item_vectors_from_arrays([f"i{n}" for n in range(len(raw))], raw)
    x = raw.astype(np.float64)
    scale = np.abs(x).max(axis=1, keepdims=True)
    x = np.divide(x, scale, out=np.zeros_like(x), where=scale > 0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    np.testing.assert_array_equal(loaded.vectors, x.astype(np.float32))


def test_an_ids_file_with_blank_lines_at_the_end_and_padded_ids(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(2, 3, dtype=np.float32))
    (tmp_path / "v.ids.txt").write_bytes(b" a \r\nb\r\n\r\n\n")
    assert load_item_vectors(tmp_path / "v.npy").ids.tolist() == ["a", "b"]
