"""File loaders: what they read, and a clear error for each kind of bad input (nothing silently lost)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit.data import interactions_from_frame, load_interactions, load_items, load_user_profiles, read_id_list
from coldkit.data.loaders import catalog_from_frame, load_user_graph, read_table
from coldkit.exceptions import DataWarning, InvalidInputError


@pytest.fixture()
def items_csv(tmp_path: Path) -> Path:
    p = tmp_path / "items.csv"
    p.write_text("item_id,title,genres\n10,Alpha,Drama\n20,Beta,Comedy\n30,Gamma,\n", encoding="utf-8")
    return p


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_reads_interactions_with_ratings_and_timestamps(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    assert catalog.text_columns == ("title", "genres")
    assert catalog.texts() == ["Alpha. Drama", "Beta. Comedy", "Gamma"]
    inter = load_interactions(
        write(tmp_path, "r.csv", "user_id,item_id,rating,timestamp\nu1,10,4.5,100\nu2,30,2,50\nu1,20,1,300\n"), catalog
    )
    assert inter.user_ids.tolist() == ["u1", "u2"]
    dense = inter.matrix.toarray()
    np.testing.assert_array_equal(dense, [[4.5, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(inter.timestamps.toarray(), [[100, 300, 0], [0, 0, 50]])


def test_implicit_threshold_and_binary(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id,rating\nu1,10,4.5\nu2,30,2\nu1,20,4\n")
    inter = load_interactions(path, catalog, implicit_threshold=4)
    np.testing.assert_array_equal(inter.matrix.toarray(), [[1.0, 1.0, 0.0]])  # u2 dropped: nothing >= 4
    assert load_interactions(path, catalog, binary=True).matrix.data.tolist() == [1.0, 1.0, 1.0]


def test_column_mapping(tmp_path: Path) -> None:
    catalog = load_items(write(tmp_path, "m.csv", "movieId,name\n007,Bond\n1,One\n"), columns={"item_id": "movieId"})
    assert catalog.item_ids.tolist() == ["007", "1"]  # ids stay text: '007' is not 7
    inter = load_interactions(
        write(tmp_path, "r.csv", "userId,movieId,stars\n5,007,3\n"),
        catalog,
        columns={"user_id": "userId", "item_id": "movieId", "rating": "stars"},
    )
    assert inter.matrix.toarray().tolist() == [[3.0, 0.0]]


def test_parquet_round_trip(tmp_path: Path, items_csv: Path) -> None:
    pytest.importorskip("pyarrow")
    catalog = load_items(items_csv)
    frame = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["10", "20"], "rating": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "r.parquet")
    inter = load_interactions(tmp_path / "r.parquet", catalog)
    assert inter.matrix.toarray().tolist() == [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]


def test_parquet_ids_stored_as_numbers_match_the_same_ids_in_a_csv(tmp_path: Path, items_csv: Path) -> None:
    """Parquet keeps a column's type: ids 10.0 (float) and 20 (int) are the CSV's "10" and "20"."""
    pytest.importorskip("pyarrow")
    catalog = load_items(items_csv)
    pd.DataFrame({"user_id": [1, 2], "item_id": [10.0, 20.0]}).to_parquet(tmp_path / "f.parquet")
    inter = load_interactions(tmp_path / "f.parquet", catalog)
    assert inter.user_ids.tolist() == ["1", "2"]
    assert inter.matrix.toarray().tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    items = pd.read_csv(items_csv, dtype=str)
    items["item_id"] = items["item_id"].astype(float)  # the item table as floats too
    items.to_parquet(tmp_path / "items.parquet")
    assert load_items(tmp_path / "items.parquet").item_ids.tolist() == catalog.item_ids.tolist()


def test_parquet_missing_id_is_named_not_read_as_nan(tmp_path: Path, items_csv: Path) -> None:
    pytest.importorskip("pyarrow")
    catalog = load_items(items_csv)
    pd.DataFrame({"user_id": [1.0, np.nan], "item_id": [10.0, 20.0]}).to_parquet(tmp_path / "n.parquet")
    with pytest.raises(InvalidInputError, match=r"empty user_id at row\(s\) \[1\]"):
        load_interactions(tmp_path / "n.parquet", catalog)
    pd.DataFrame({"user_id": ["a", None], "item_id": ["10", "20"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(InvalidInputError, match=r"empty user_id at row\(s\) \[1\]"):
        load_interactions(tmp_path / "s.parquet", catalog)


def test_parquet_binary_ids_are_their_utf8_text_and_other_bytes_are_named(tmp_path: Path, items_csv: Path) -> None:
    """A binary id column (bytes) holds text: b"a" is the id "a", not "b'a'"; bytes that are not UTF-8 are
    an error naming the file, the column and the row (was pandas' UnicodeDecodeError traceback)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    catalog = load_items(items_csv)
    pq.write_table(pa.table({"user_id": pa.array([b"a", b"b"], pa.binary()), "item_id": ["10", "20"]}), tmp_path / "b.parquet")
    assert load_interactions(tmp_path / "b.parquet", catalog).user_ids.tolist() == ["a", "b"]
    pq.write_table(pa.table({"user_id": pa.array([b"a", b"\x00\xff"], pa.binary()), "item_id": ["10", "20"]}), tmp_path / "x.parquet")
    with pytest.raises(InvalidInputError, match=r"x.parquet: column 'user_id': row 1 \(from 0\) holds bytes that are not UTF-8 text"):
        load_interactions(tmp_path / "x.parquet", catalog)


@pytest.mark.parametrize("nested, kind", [([[1], [2]], "a list"), ([{"a": 1}, {"a": 2}], "a struct")])
def test_parquet_nested_id_column_is_refused(tmp_path: Path, items_csv: Path, nested: list[object], kind: str) -> None:
    """Lists or structs in an id column were written back as "[1]" and "{'a': 1.0, 'b': None}": ids that are
    in no input file. A nested column is no id column."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"user_id": pa.array(nested), "item_id": ["10", "20"]}), tmp_path / "n.parquet")
    with pytest.raises(InvalidInputError, match=rf"column 'user_id': row 0 \(from 0\) holds {kind} .*not one id"):
        load_interactions(tmp_path / "n.parquet", load_items(items_csv))


# ---------------------------------------------------------------- bad input


def test_missing_columns_are_named(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['item_id'\]"):
        load_interactions(write(tmp_path, "r.csv", "user_id,movie\nu1,10\n"), catalog)
    with pytest.raises(InvalidInputError, match="missing column"):
        load_items(write(tmp_path, "i.csv", "id,title\n1,x\n"))
    with pytest.raises(InvalidInputError, match=r"missing column.*nope"):
        load_items(items_csv, text_columns=["title", "nope"])


def test_unknown_items_error_or_drop(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id\nu1,10\nu1,99\n")
    with pytest.raises(InvalidInputError, match=r"not in the item table.*'99'"):
        load_interactions(path, catalog)
    # dropped, and said (it was silent: a user whose every row named a deleted item vanished without a word)
    with pytest.warns(DataWarning, match=r"r\.csv: 1 row\(s\) name item ids not in the item table and were dropped \(line 3\), e\.g\. \['99'\]$"):
        assert load_interactions(path, catalog, unknown_items="drop").matrix.nnz == 1


def test_duplicate_interactions(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id,rating,timestamp\nu1,10,2,5\nu1,10,5,1\nu1,20,1,3\n")
    with pytest.raises(InvalidInputError, match=r"1 duplicate \(user_id, item_id\).*\('u1', '10'\)"):
        load_interactions(path, catalog)
    last = load_interactions(path, catalog, duplicates="last")  # latest by timestamp: rating 2 at t=5
    assert last.matrix.toarray().tolist() == [[2.0, 1.0, 0.0]]
    assert last.timestamps.toarray().tolist() == [[5, 3, 0]]
    assert load_interactions(path, catalog, duplicates="sum").matrix.toarray().tolist() == [[7.0, 1.0, 0.0]]
    assert load_interactions(path, catalog, duplicates="max").matrix.toarray().tolist() == [[5.0, 1.0, 0.0]]


def test_duplicate_item_ids(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"duplicate item_id.*'1'"):
        load_items(write(tmp_path, "i.csv", "item_id,title\n1,a\n1,b\n"))


def test_nan_ratings_are_reported(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    with pytest.raises(InvalidInputError, match=r"2 rating\(s\) are NaN.*\(lines \[3, 4\]\)"):
        load_interactions(write(tmp_path, "r.csv", "user_id,item_id,rating\nu1,10,1\nu1,20,\nu2,30,abc\n"), catalog)
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["10"], "rating": [np.inf]})
    with pytest.raises(InvalidInputError, match="NaN, inf"):
        interactions_from_frame(frame, catalog)


def test_empty_files(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    with pytest.raises(InvalidInputError, match="is empty"):
        load_interactions(write(tmp_path, "r.csv", ""), catalog)
    with pytest.raises(InvalidInputError, match="header but no rows"):
        load_interactions(write(tmp_path, "r2.csv", "user_id,item_id\n"), catalog)
    with pytest.raises(InvalidInputError, match="no such file"):
        load_items(tmp_path / "absent.csv")
    with pytest.raises(InvalidInputError, match="no candidate"):
        read_id_list(write(tmp_path, "c.txt", "\n# only a comment\n"), what="candidate item ids")


def test_non_utf8_text_gets_a_clear_error_and_latin1_works(tmp_path: Path) -> None:
    raw = "item_id,title\n1,Misérables\n".encode("latin-1")
    path = write(tmp_path, "i.csv", raw)
    with pytest.raises(InvalidInputError, match=r"not valid UTF-8 text \(line 2, byte 19: b'\\xe9'\).*latin-1"):
        load_items(path)
    assert load_items(path, encoding="latin-1").texts() == ["Misérables"]


def test_no_interaction_left_and_zero_weights(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    with pytest.raises(InvalidInputError, match=r"no interaction left of 1 row\(s\): 1 rating\(s\) below implicit_threshold=4"):
        load_interactions(write(tmp_path, "r.csv", "user_id,item_id,rating\nu1,10,1\n"), catalog, implicit_threshold=4)
    with pytest.raises(InvalidInputError, match=r"no interaction left of 1 row\(s\): 1 row\(s\) name items not in the item table"), \
            pytest.warns(DataWarning, match=r"and were dropped \(line 2\), e\.g\. \['nope'\]; 1 user\(s\) had no other row \('u1'\)"):
        load_interactions(write(tmp_path, "n.csv", "user_id,item_id\nu1,nope\n"), catalog, unknown_items="drop")
    with pytest.raises(InvalidInputError, match="the interaction table has no rows"):
        interactions_from_frame(pd.DataFrame({"user_id": [], "item_id": []}), catalog)
    # every rating 0: the hint for a 0/1 "liked" column (keep the 1s) made no sense without a 1
    with pytest.raises(InvalidInputError, match="weight 0.*every rating is 0: nothing is liked or rated") as zero:
        load_interactions(write(tmp_path, "z.csv", "user_id,item_id,rating\nu1,10,0\n"), catalog)
    assert "implicit-threshold 1" not in str(zero.value)
    with pytest.raises(InvalidInputError, match=r"a 0/1 \(liked\) column: use implicit_threshold=1"):
        load_interactions(write(tmp_path, "l.csv", "user_id,item_id,rating\nu1,10,0\nu2,10,1\n"), catalog)


def test_users_and_items_without_interactions(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    inter = load_interactions(
        write(tmp_path, "r.csv", "user_id,item_id\nu1,10\n"), catalog, user_ids=["u0", "u1"]
    )
    assert inter.items_of(0).tolist() == [] and inter.items_of(1).tolist() == [0]
    assert inter.item_counts().tolist() == [1, 0, 0]  # items 20, 30 are cold but stay in the catalogue
    with pytest.raises(InvalidInputError, match=r"not in user_ids.*'u1'"):
        load_interactions(write(tmp_path, "r2.csv", "user_id,item_id\nu1,10\n"), catalog, user_ids=["u0"])


def test_profiles_and_id_lists(tmp_path: Path) -> None:
    profiles = load_user_profiles(write(tmp_path, "p.csv", "user_id,text\n1,likes jazz\n2,\n"))
    assert profiles == {"1": "likes jazz", "2": ""}
    with pytest.raises(InvalidInputError, match=r"missing column.*'text'"):
        load_user_profiles(write(tmp_path, "p2.csv", "user_id,bio\n1,x\n"))
    assert load_user_profiles(write(tmp_path, "p3.csv", "user_id,bio\n1,x\n"), text_column="bio") == {"1": "x"}
    with pytest.raises(InvalidInputError, match="more than once"):
        load_user_profiles(write(tmp_path, "p4.csv", "user_id,text\n1,a\n1,b\n"))
    assert read_id_list(write(tmp_path, "ids.txt", "a\n\n b \n# c\n")) == ["a", "b"]
    # a "#" line is a comment unless it is one of the known ids
    assert read_id_list(write(tmp_path, "h.txt", "#a\n# b\nc\n"), known={"#a", "c"}) == ["#a", "c"]
    with pytest.raises(InvalidInputError, match=r"more than once: \['a'\]"):
        read_id_list(write(tmp_path, "d.txt", "a\na\n"))


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF8", "utf_8"])
def test_id_list_skips_a_bom_under_any_utf8_spelling(tmp_path: Path, encoding: str | None) -> None:
    # with encoding="utf-8" (--encoding utf-8) the BOM used to stay on the first id: "\ufeffu1",
    # so a known user in --users was silently recommended for as a cold user
    path = write(tmp_path, "users.txt", b"\xef\xbb\xbfu1\r\nu2\r\n")
    assert read_id_list(path, encoding=encoding) == ["u1", "u2"]


@pytest.mark.parametrize("encoding", [None, "utf-16"])
def test_id_list_skips_a_second_bom_under_the_codecs_own(tmp_path: Path, encoding: str | None) -> None:
    # a UTF-8 list with a BOM converted to UTF-16 carries two: the first id was "\ufeffu1", a known user ranked
    # as new and their items recommended back (a first-time user's review)
    path = write(tmp_path, "users.txt", "\ufeffu1\r\nu2\r\n".encode("utf-16"))
    assert read_id_list(path, encoding=encoding) == ["u1", "u2"]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_datetime_timestamps_are_unix_seconds(items_csv: Path, tz: str | None) -> None:
    # A Parquet/pandas datetime column used to be read as nanoseconds, so popularity-recent's
    # half-life (in days of seconds) decayed every interaction but the newest to 0.
    seconds = np.array([964982703, 964981247, 1_700_000_000])
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["10", "20", "10"]})
    catalog = load_items(items_csv)
    reference = interactions_from_frame(frame.assign(timestamp=seconds), catalog)
    stamps = pd.to_datetime(seconds, unit="s", utc=tz is not None)
    if tz is not None:
        stamps = stamps.tz_convert(tz)
    got = interactions_from_frame(frame.assign(timestamp=stamps), catalog)
    assert got.timestamps is not None and reference.timestamps is not None
    np.testing.assert_array_equal(got.timestamps.toarray(), reference.timestamps.toarray())


def test_rows_with_one_field_more_than_the_header_are_an_error(tmp_path: Path, items_csv: Path) -> None:
    # pandas silently made the first field an index, shifting every column left by one: user "u1"
    # rated item 10 became user "10" (the item) with item "4" ... or, as here, a wrong item.
    path = write(tmp_path, "r.csv", "user_id,item_id,rating\nu1,10,4,extra\nu2,20,3,extra\n")
    with pytest.raises(InvalidInputError, match=r"r.csv: line 2 has 4 fields but the header names 3"):
        load_interactions(path, load_items(items_csv))


@pytest.mark.parametrize("content", [b"garbage, not gzip", b"\x1f\x8b\x08\x00truncated"])
def test_a_corrupt_gz_file_is_a_clear_error(tmp_path: Path, items_csv: Path, content: bytes) -> None:
    # was a gzip.BadGzipFile / EOFError traceback from inside pandas
    path = write(tmp_path, "r.csv.gz", content)
    with pytest.raises(InvalidInputError, match=r"r.csv.gz: not a readable gzip file"):
        load_interactions(path, load_items(items_csv))


def test_a_weight_column_is_the_interaction_weight(tmp_path: Path, items_csv: Path) -> None:
    # README: fit(df) takes ``rating | weight``; the file loader ignored ``weight`` and gave every row 1
    catalog = load_items(items_csv)
    expected = [[100.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    path = write(tmp_path, "w.csv", "user_id,item_id,weight\nu1,10,100\nu2,20,2\n")
    assert load_interactions(path, catalog).matrix.toarray().tolist() == expected
    mapped = write(tmp_path, "plays.csv", "user_id,item_id,plays\nu1,10,100\nu2,20,2\n")
    assert load_interactions(mapped, catalog, columns={"weight": "plays"}).matrix.toarray().tolist() == expected


def test_a_mapping_onto_a_name_the_file_already_has_is_an_error(tmp_path: Path, items_csv: Path) -> None:
    # rating=timestamp in a file that has a rating column gave two 'rating' columns and a TypeError traceback
    path = write(tmp_path, "r.csv", "user_id,item_id,rating,timestamp\nu1,10,4,964982703\n")
    with pytest.raises(InvalidInputError, match=r"r.csv: rating=timestamp, but the file already has a column 'rating'"):
        load_interactions(path, load_items(items_csv), columns={"rating": "timestamp"})
    with pytest.raises(InvalidInputError, match=r"r.csv: user_id=item_id and item_id=item_id name the same column"):
        load_interactions(path, load_items(items_csv), columns={"user_id": "item_id", "item_id": "item_id"})
    swapped = load_interactions(path, load_items(items_csv), columns={"rating": "timestamp", "timestamp": "rating"})
    assert swapped.timestamps is not None and swapped.timestamps.toarray().tolist() == [[4, 0, 0]]  # a swap is fine


@pytest.mark.parametrize("sep", [";", "|"])
def test_other_separator_gets_a_hint(tmp_path: Path, items_csv: Path, sep: str) -> None:
    path = write(tmp_path, "int.csv", f"user_id{sep}item_id\nu1{sep}10\n")
    with pytest.raises(InvalidInputError, match=f"looks '\\{sep}'-separated") as info:
        load_interactions(path, load_items(items_csv))
    assert "missing column(s) ['user_id', 'item_id']" in str(info.value)
    # the Python loaders read it once told the separator
    assert load_interactions(path, load_items(items_csv), sep=sep).n_users == 1


def test_a_column_named_twice_is_refused(tmp_path: Path, items_csv: Path) -> None:
    # pandas would read the second as "rating.1" and the first would silently be the one used
    path = write(tmp_path, "int.csv", "user_id,item_id,rating,rating\nu1,10,5,1\n")
    with pytest.raises(InvalidInputError, match=r"names column\(s\) \['rating'\] more than once"):
        load_interactions(path, load_items(items_csv))
    with pytest.raises(InvalidInputError, match=r"\['rating'\] more than once; rename one of each$"):
        load_interactions(path, load_items(items_csv))
    # numbers named twice are a data row read as the header (ml-100k's u.item under --sep '|': its 0/1 genre
    # flags): "rename one of each" sent the user to edit a data row
    headerless = write(tmp_path, "u.item", "1|Toy Story (1995)|01-Jan-1995||0|1|1|0\n2|GoldenEye (1995)|01-Jan-1995||1|0|0|0\n")
    with pytest.raises(InvalidInputError, match=r"names column\(s\) \['0', '1'\] more than once — the first line looks like data, "
                                                r"not column names: the file has no header line; add one naming its columns$"):
        load_items(headerless, sep="|")
    # a real column called "x.1" is fine
    ok = write(tmp_path, "ok.csv", "user_id,item_id,x.1\nu1,10,5\n")
    assert load_interactions(ok, load_items(items_csv)).n_users == 1


@pytest.mark.parametrize("threshold", [float("nan"), float("inf")])
def test_non_finite_implicit_threshold_is_refused(tmp_path: Path, items_csv: Path, threshold: float) -> None:
    path = write(tmp_path, "int.csv", "user_id,item_id,rating\nu1,10,5\n")
    with pytest.raises(InvalidInputError, match="must be a finite number"):
        load_interactions(path, load_items(items_csv), implicit_threshold=threshold)


def test_ids_that_differ_only_in_spaces_or_as_float_text_are_one_id(tmp_path: Path) -> None:
    from coldkit.data.loaders import catalog_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["7", "8"], "title": ["a", "b"]}))
    frame = pd.DataFrame({"user_id": [" u1", "u1 ", "u2"], "item_id": [7.0, 8.0, 7.0]})
    train = interactions_from_frame(frame, catalog)
    assert train.user_ids.tolist() == ["u1", "u2"]
    assert train.matrix.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]
    with pytest.raises(InvalidInputError, match=r"empty user_id at row\(s\) \[1\]"):
        interactions_from_frame(pd.DataFrame({"user_id": ["u1", "  ", "u2"], "item_id": ["7", "8", "7"]}), catalog)
    with pytest.raises(InvalidInputError, match=r"duplicate \(user_id, item_id\).*\('u1', '7'\)"):
        interactions_from_frame(pd.DataFrame({"user_id": ["u1", " u1"], "item_id": ["7", "7"]}), catalog)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.booleans(), min_size=0, max_size=300),
    st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
    st.integers(min_value=1, max_value=40),
)
def test_share_reaches_is_the_mean_rule_decided_early(flags: list[bool], share: float, chunk: int) -> None:
    from coldkit.data.loaders import _share_reaches

    values = pd.Series(flags, dtype=bool)
    expected = bool(len(flags)) and bool(np.mean(flags) >= share)
    assert _share_reaches(values, lambda part: part.to_numpy(), share, chunk=chunk) == expected


def test_ids_spelled_like_missing_values_are_ids(tmp_path: Path) -> None:
    # pandas reads NA/None/null as missing: these items and users were refused as "empty item_id"
    catalog = load_items(write(tmp_path, "items.csv", "item_id,title\nNA,Namibia guide\nNone,The None album\nnull,Null book\nx1,Jazz\n"))
    assert catalog.item_ids.tolist() == ["NA", "None", "null", "x1"]
    assert catalog.texts()[:1] == ["Namibia guide"]
    inter = load_interactions(write(tmp_path, "r.csv", "user_id,item_id\nNULL,NA\nNULL,x1\nu2,null\n"), catalog)
    assert inter.user_ids.tolist() == ["NULL", "u2"]
    assert inter.matrix.toarray().tolist() == [[1, 0, 0, 1], [0, 0, 1, 0]]
    # a field that is really empty is still refused, with its row
    with pytest.raises(InvalidInputError, match=r"empty item_id at line 3$"):
        load_items(write(tmp_path, "items2.csv", "item_id,title\nNA,Namibia\n,nothing\n"))


@pytest.mark.parametrize(
    ("policy", "with_time", "expected"),
    [
        # u1 rated a 5 at t=100, then 1 at t=200 (file order reversed when timestamps decide)
        ("last", True, [[0.0, 1.0], [1.0, 0.0]]),  # the latest rating (1) is below 4: a is no like any more
        ("last", False, [[0.0, 1.0], [1.0, 0.0]]),  # without timestamps the file's last row (1) decides
        ("max", True, [[1.0, 1.0], [1.0, 0.0]]),
        ("sum", True, [[1.0, 1.0], [1.0, 0.0]]),  # 5 + 1 = 6 >= 4; weight 1, not a count of kept rows
    ],
)
def test_repeats_are_combined_before_the_implicit_threshold(policy: str, with_time: bool, expected: list[list[float]]) -> None:
    # the threshold used to read each row first: "last" kept the old 5 of a pair whose latest
    # rating is 1, and "sum" of two kept rows gave weight 2 where implicit feedback is weight 1
    from coldkit.data import catalog_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    frame = pd.DataFrame(
        {"user_id": ["u1", "u2", "u1", "u1", "u2"], "item_id": ["a", "a", "a", "b", "a"],
         "rating": [5, 4, 1, 5, 5], "timestamp": [100, 10, 200, 50, 20]}
    )  # fmt: skip
    if not with_time:
        frame = frame.drop(columns="timestamp")
    inter = interactions_from_frame(frame, catalog, duplicates=policy, implicit_threshold=4)  # type: ignore[arg-type]
    assert inter.user_ids.tolist() == ["u1", "u2"]
    assert inter.matrix.toarray().tolist() == expected
    if with_time:
        assert inter.timestamps is not None and int(inter.timestamps[1, 0]) == 20  # the pair's latest time
    if policy == "last":  # when nothing is left, the message says the ratings it read were combined ones
        only_u1_a = frame[(frame["user_id"] == "u1") & (frame["item_id"] == "a")]
        with pytest.raises(InvalidInputError, match=r"2 rating\(s\) below implicit_threshold=4 \(after combining repeated"):
            interactions_from_frame(only_u1_a, catalog, duplicates=policy, implicit_threshold=4)  # type: ignore[arg-type]


def test_a_text_column_the_mapping_renamed_is_named_as_such(tmp_path: Path) -> None:
    # --item-columns item_id=movieId --text-columns movieId said "missing column(s) ['movieId']; found
    # ['item_id', ...]" about a file that has movieId
    path = write(tmp_path, "movies.csv", "movieId,title\n1,Alpha\n2,Beta\n")
    # read under the name the mapping gives it (an id is text like any column where it is asked for)
    assert load_items(path, columns={"item_id": "movieId"}, text_columns=["movieId", "title"]).texts() == ["1. Alpha", "2. Beta"]
    tags = write(tmp_path, "tags.csv", "item_id,tags\n1,space opera\n2,heist\n")
    assert load_items(tags, columns={"genres": "tags"}, text_columns=["tags"]).texts() == ["space opera", "heist"]
    with pytest.raises(InvalidInputError, match="name one column twice, under its own name and the mapping's"):
        load_items(path, columns={"item_id": "movieId"}, text_columns=["movieId", "item_id"])
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['plot'\]"):  # a truly absent column still is
        load_items(path, columns={"item_id": "movieId"}, text_columns=["title", "plot"])


def test_iso_8601_timestamps_in_a_csv_are_unix_seconds(tmp_path: Path, items_csv: Path) -> None:
    # the same dates as a Parquet datetime column were read, but as text they were refused as "not numbers"
    catalog = load_items(items_csv)
    iso = load_interactions(
        write(tmp_path, "iso.csv", "user_id,item_id,timestamp\nu1,10,2018-05-01T10:00:00Z\nu1,20,2018-05-01T12:00:00+02:00\n"
              "u2,30,2018-05-01 10:00:01\nu2,10,1969-12-31\n"),
        catalog,
    )  # fmt: skip
    assert iso.timestamps is not None
    assert iso.timestamps.toarray().tolist() == [[1525168800, 1525168800, 0], [-86400, 0, 1525168801]]
    with pytest.raises(InvalidInputError, match=r"ISO-8601 dates, one kind per column; bad line 3 \(e.g. 'yesterday'\)"):
        load_interactions(write(tmp_path, "bad.csv", "user_id,item_id,timestamp\nu1,10,2018-05-01\nu2,10,yesterday\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"bad line 3 "):  # numbers and dates mixed: the numbers decide
        load_interactions(write(tmp_path, "mix.csv", "user_id,item_id,timestamp\nu1,10,1525168800\nu2,10,2018-05-01\n"), catalog)


def test_a_folder_given_as_a_file_is_called_a_folder(tmp_path: Path, items_csv: Path) -> None:
    # it was "no such file" about a path that exists
    with pytest.raises(InvalidInputError, match=r"is a folder; give the file itself \(it holds items.csv\)"):
        load_interactions(tmp_path, load_items(items_csv))
    # the files it holds, not a made-up "interactions.csv" (said of a candidates folder too)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"is a folder; give the file itself \(it holds no file\)"):
        read_id_list(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="is a folder"):
        read_id_list(tmp_path)
    with pytest.raises(InvalidInputError, match="no such file"):
        read_id_list(tmp_path / "absent.txt")


def test_list_cells_become_joined_text_not_their_repr(tmp_path: Path) -> None:
    # A Parquet list<string> tags column was read as numpy's repr: "['rock' 'indie']", and [] as "[]"
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from coldkit.data.loaders import catalog_from_frame

    table = pa.table({"item_id": ["a", "b", "c", "d"], "title": ["Heat", "Alien", "Up", "Jaws"],
                      "tags": [["crime", "heist"], ["space"], [], None]})  # fmt: skip
    pq.write_table(table, tmp_path / "items.parquet")
    catalog = load_items(tmp_path / "items.parquet")
    assert catalog.text_columns == ("title", "tags")
    assert catalog.texts() == ["Heat. crime, heist", "Alien. space", "Up", "Jaws"]
    # the same from a DataFrame of Python lists (fit(..., items=df))
    frame = pd.DataFrame({"item_id": ["a", "b"], "tags": [["sci-fi", "space opera"], ("drama",)]})
    assert catalog_from_frame(frame).texts() == ["sci-fi, space opera", "drama"]
    # a column of number lists (an embedding beside the text) is left as it is: no text to join
    vectors = pd.DataFrame({"item_id": ["a"], "title": ["Heat"], "emb": [np.array([0.5, 0.25])]})
    kept = catalog_from_frame(vectors, text_columns=["title"]).table["emb"][0]
    assert isinstance(kept, np.ndarray) and kept.tolist() == [0.5, 0.25]


@pytest.mark.parametrize(("unit", "factor"), [("milliseconds", 10**3), ("microseconds", 10**6), ("nanoseconds", 10**9)])
def test_epoch_milli_micro_nanoseconds_become_unix_seconds(tmp_path: Path, items_csv: Path, unit: str, factor: int) -> None:
    # JavaScript/Kafka epoch milliseconds were read as seconds: 1000x too far apart, so a 30-day
    # half-life (popularity-recent) or a temporal split saw them as 30,000 days
    catalog = load_items(items_csv)
    seconds = [1525168800, 1525255200, 0, -86400]  # 0 and before 1970 are valid in any unit
    text = "user_id,item_id,timestamp\n" + "".join(
        f"{u},{i},{s * factor}\n" for (u, i), s in zip([("u1", 10), ("u1", 20), ("u2", 30), ("u2", 10)], seconds)
    )
    got = load_interactions(write(tmp_path, f"{unit}.csv", text), catalog)
    assert got.timestamps is not None
    assert got.timestamps.toarray().tolist() == [[1525168800, 1525255200, 0], [-86400, 0, 0]]
    pd.DataFrame({"user_id": ["u1"], "item_id": [10], "timestamp": [seconds[0] * factor]}).to_parquet(tmp_path / "t.parquet")
    assert load_interactions(tmp_path / "t.parquet", catalog).timestamps.toarray()[0, 0] == seconds[0]  # type: ignore[union-attr]


def test_seconds_and_milliseconds_in_one_column_are_refused(tmp_path: Path, items_csv: Path) -> None:
    catalog = load_items(items_csv)
    path = write(tmp_path, "mix.csv", "user_id,item_id,timestamp\nu1,10,1525168800000\nu2,10,1525168800\n")
    with pytest.raises(InvalidInputError, match=r"mix.csv: timestamps mix units: line 2 is 1525168800000 \(unix milliseconds\) but line 3 is 1525168800"):
        load_interactions(path, catalog)


def test_unknown_item_ids_name_the_id_they_look_like(tmp_path: Path, items_csv: Path) -> None:
    # the error listed '10.0' and '010' as unknown, and the user looked for missing rows in a
    # table that has them as '10' (a spreadsheet or a float column rewrote the ids)
    catalog = load_items(items_csv)  # ids 10, 20, 30
    path = write(tmp_path, "r.csv", "user_id,item_id\nu1,10.0\nu1,020\nu2,99\n")
    with pytest.raises(InvalidInputError, match=r"r.csv: 3 row\(s\) name item ids not in the item table \(lines \[2, 3, 4\]\), e.g. \['10.0', '020', '99'\]; "
                                                 r"ids are matched as text: '10.0' is not '10', '020' is not '20'; add those items"):
        load_interactions(path, catalog)
    with pytest.raises(InvalidInputError, match=r"e.g. \['99'\]; add those items"):  # nothing alike: no hint
        load_interactions(write(tmp_path, "s.csv", "user_id,item_id\nu1,10\nu2,99\n"), catalog)


def test_a_pipe_separated_file_that_breaks_the_csv_parser_is_named_in_one_line(tmp_path: Path) -> None:
    # ml-100k's u.item: the comma in a title made pandas fail first, with a two-line message and no
    # word about the separator (a one-column header got the hint; this never reached that check)
    path = write(tmp_path, "items.csv", "item_id|title\n1|Toy Story (1995)\n2|Seven, the movie|x\n")
    with pytest.raises(InvalidInputError) as info:
        load_items(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: malformed CSV (")
    assert message.endswith("— the first line looks '|'-separated: coldkit reads ',' in .csv and tab in .tsv/.dat files "
                            "unless told otherwise; pass --sep '|' (Python: sep='|')")
    # a comma file broken by a quote is malformed too, with no separator hint
    bad = write(tmp_path, "bad.csv", 'item_id,title\n1,"open quote\n2,x,y,z\n')
    with pytest.raises(InvalidInputError, match=r"bad.csv: malformed CSV") as info:
        load_items(bad)
    assert "looks" not in str(info.value) and "\n" not in str(info.value)


def test_one_encoding_flag_does_not_garble_the_utf8_files_beside_a_latin1_one(tmp_path: Path) -> None:
    # --encoding latin-1 (which the error for the latin-1 items file advises) applied to the UTF-8
    # interactions too: "José" became "JosÃ©" in the ids and in the output, without a word
    items = write(tmp_path, "items.csv", "item_id,title\ni1,Café\ni2,Crème brûlée\n".encode("latin-1"))
    inter = write(tmp_path, "inter.csv", "user_id,item_id\nJosé,i1\nZoë,i2\n")
    users = write(tmp_path, "users.txt", "José\nZoë\n")
    catalog = load_items(items, encoding="latin-1")
    assert catalog.table["title"].tolist() == ["Café", "Crème brûlée"]
    got = load_interactions(inter, catalog, encoding="latin-1")
    assert sorted(str(u) for u in got.user_ids) == ["José", "Zoë"]
    assert read_id_list(users, encoding="latin-1") == ["José", "Zoë"]
    # plain ASCII and latin-1 files keep the encoding asked for
    ascii_file = write(tmp_path, "a.csv", "user_id,item_id\nu1,i1\n")
    assert load_interactions(ascii_file, catalog, encoding="latin-1").user_ids.tolist() == ["u1"]
    latin = write(tmp_path, "l.csv", "user_id,item_id\nJosé,i1\n".encode("latin-1"))
    assert load_interactions(latin, catalog, encoding="latin-1").user_ids.tolist() == ["José"]
def test_rating_and_weight_columns_together_are_refused() -> None:
    """Both columns: the rating was read and the weight (a play count, a confidence) dropped without a word."""
    import pandas as pd

    from coldkit.data.loaders import catalog_from_frame, interactions_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    both = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "b"], "rating": [5, 1], "weight": [1, 40]})
    with pytest.raises(InvalidInputError, match="both a 'rating' and a 'weight' column"):
        interactions_from_frame(both, catalog)
    # one of them chosen by name: that one is read (here the file's stars; the weight column is not the strength)
    named = interactions_from_frame(both.rename(columns={"rating": "stars"}), catalog, columns={"rating": "stars"})
    assert named.matrix.toarray().tolist() == [[5.0, 0.0], [0.0, 1.0]]
    alone = interactions_from_frame(both.drop(columns="rating"), catalog)
    assert alone.matrix.toarray().tolist() == [[1.0, 0.0], [0.0, 40.0]]


def test_a_timestamp_column_with_empty_cells_is_read_as_no_timestamps_with_a_warning() -> None:
    from coldkit.data import catalog_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"], "timestamp": [1.6e9, np.nan, 1.6e9 + 60]})
    with pytest.warns(DataWarning, match=r"1 of 3 rows have no timestamp \(rows \[1\]\)"):
        data = interactions_from_frame(frame, catalog)
    assert data.timestamps is None and data.matrix.nnz == 3
    # a datetime column with a NaT, and blank text cells, alike
    for column in (pd.to_datetime(["2020-01-01", None, "2020-01-02"]), ["2020-01-01", "  ", "2020-01-02"]):
        with pytest.warns(DataWarning, match="1 of 3 rows have no timestamp"):
            assert interactions_from_frame(frame.assign(timestamp=column), catalog).timestamps is None
    # every cell empty: no timestamps, nothing to warn about
    assert interactions_from_frame(frame.assign(timestamp=[None] * 3), catalog).timestamps is None
    # a value that is not a time is still an error naming it
    with pytest.raises(InvalidInputError, match="bad rows \\[1\\]"):
        interactions_from_frame(frame.assign(timestamp=["2020-01-01", "soon", "2020-01-02"]), catalog)


def test_an_unknown_name_in_an_interaction_column_mapping_is_named() -> None:
    # bogus=user_id renamed the user column away and the error said user_id was missing
    from coldkit.data import catalog_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]})
    with pytest.raises(InvalidInputError, match=r"\['bogus'\] is not one of coldkit's names \['user_id', 'item_id'"):
        interactions_from_frame(frame, catalog, columns={"bogus": "user_id"})


def test_negative_ratings_read_as_likes_are_warned_about_in_the_python_api_too() -> None:
    # the command line noted them; fit(df) counted a thumbs-down as a like without a word
    from coldkit.data import catalog_from_frame

    catalog = catalog_from_frame(pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]}))
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["a", "a", "b"], "rating": [-1, -1, 1]})
    with pytest.warns(DataWarning, match="2 interaction\\(s\\) have a negative rating/weight.*implicit_threshold="):
        interactions_from_frame(frame, catalog)
    # keeping only the likes, or every row as 1, says nothing
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        interactions_from_frame(frame, catalog, implicit_threshold=0)
        interactions_from_frame(frame, catalog, binary=True)


# ---------------------------------------------------------------- valid but unusual exports (Dec 4 review)


def test_a_space_after_the_headers_comma_keeps_the_ids_as_written(tmp_path: Path) -> None:
    """" user_id" (a space after a comma) escaped the read-ids-as-text rule: 007, 7 and 0007 became one user 7."""
    items = write(tmp_path, "items.csv", "item_id, title\n10,a\n11,b\n12,c\n13,d\n14,e\n")
    inter = write(tmp_path, "i.csv", "item_id, user_id, rating\n10,007,5\n11,007,4\n12,7,5\n13,7,3\n14,0007,4\n10,1.0,4\n11,1,3\n")
    data = load_interactions(inter, load_items(items))
    assert sorted(data.user_ids) == ["0007", "007", "1", "1.0", "7"]
    assert list(data.catalog.item_ids) == ["10", "11", "12", "13", "14"]


def test_a_repeat_on_both_sides_of_the_threshold_is_still_a_duplicate(tmp_path: Path, items_csv: Path) -> None:
    inter = write(tmp_path, "i.csv", "user_id,item_id,rating,timestamp\nu,10,5,100\nu,10,1,200\nu,20,5,100\nv,10,4,100\n")
    with pytest.raises(InvalidInputError, match="duplicate"):
        load_interactions(inter, load_items(items_csv), implicit_threshold=4)
    # a policy combines them first, then reads the threshold (the latest word, 1: not a like)
    liked = load_interactions(inter, load_items(items_csv), implicit_threshold=4, duplicates="last")
    assert liked.matrix[list(liked.user_ids).index("u"), 0] == 0


def test_a_tsv_title_starting_with_a_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    items = write(tmp_path, "items.tsv", 'item_id\ttitle\tgenres\n1\t"12 inch remix\tMusical\n2\tHeat\tCrime\n3\t"7 inch single\tMusical\n4\tAlien\tSci-Fi\n')
    with pytest.warns(DataWarning, match="read as plain tab-separated text"):
        catalog = load_items(items)
    assert list(catalog.item_ids) == ["1", "2", "3", "4"]
    assert catalog.table["title"].tolist() == ['"12 inch remix', "Heat", '"7 inch single', "Alien"]
    # a TSV whose quoting is real (pandas' own writer quotes a field holding a tab) keeps it
    frame = pd.DataFrame({"item_id": ["1", "2"], "title": ["tab\there", "plain"]})
    quoted = tmp_path / "quoted.tsv"
    frame.to_csv(quoted, sep="\t", index=False)
    assert load_items(quoted).table["title"].tolist() == ["tab\there", "plain"]


def test_rating_and_timestamp_columns_under_other_names_are_named_not_dropped_silently(tmp_path: Path, items_csv: Path) -> None:
    inter = write(tmp_path, "i.csv", "user_id,item_id,Rating,date\nu,10,5,2020-01-01\nv,20,4,2020-01-02\n")
    with pytest.warns(DataWarning, match=r"'Rating', 'date' not read.*--interaction-columns rating=Rating timestamp=date"):
        data = load_interactions(inter, load_items(items_csv))
    assert data.timestamps is None
    mapped = load_interactions(inter, load_items(items_csv), columns={"rating": "Rating", "timestamp": "date"})
    assert mapped.timestamps is not None and mapped.matrix.max() == 5


def test_an_id_list_written_by_r_is_read_without_its_quotes(tmp_path: Path) -> None:
    ids = write(tmp_path, "users.txt", b'"1"\r\n"2"\r\n"a ""quoted"" id"\r\nplain\r\n')
    assert read_id_list(ids) == ["1", "2", 'a "quoted" id', "plain"]


@pytest.mark.parametrize("suffix", [".zip", ".bz2", ".xz", ".gz"])
def test_utf8_files_stay_utf8_under_another_encoding_when_compressed(tmp_path: Path, suffix: str) -> None:
    items = write(tmp_path, "items.csv", "item_id,title\n10,a\n11,b\n")
    frame = pd.DataFrame({"user_id": ["Zoë", "Zoë", "bob"], "item_id": ["10", "11", "10"]})
    path = tmp_path / f"i.csv{suffix}"
    frame.to_csv(path, index=False, encoding="utf-8")
    data = load_interactions(path, load_items(items), encoding="latin-1")
    assert sorted(data.user_ids) == ["Zoë", "bob"]


def test_utf16_files_are_read_and_an_ascii_file_survives_encoding_utf16(tmp_path: Path) -> None:
    items = write(tmp_path, "items.csv", "item_id,title\n10,a\n11,b\n")
    utf16 = write(tmp_path, "i.csv", "user_id\titem_id\nZoë\t10\nbob\t11\n".replace("\t", ",").encode("utf-16"))
    assert sorted(load_interactions(utf16, load_items(items)).user_ids) == ["Zoë", "bob"]  # the byte-order mark says so
    # --encoding utf-16 given for the one Excel file also applies to the plain ASCII ones beside it
    assert list(load_items(items, encoding="utf-16").item_ids) == ["10", "11"]
    assert read_id_list(write(tmp_path, "u.txt", "bob\n"), encoding="utf-16") == ["bob"]


def test_an_explicit_utf16_or_utf32_encoding_is_kept_and_utf32_marks_are_not_utf16(tmp_path: Path) -> None:
    # SQL Server's bcp -w writes UTF-16-LE without a byte-order mark: NUL bytes between ASCII letters,
    # "valid UTF-8" to a decoder, so the encoding asked for must decide
    items = write(tmp_path, "items.csv", "item_id,title\n10,a\n11,b\n")
    bcp = write(tmp_path, "bcp.csv", "user_id,item_id\nu1,10\nu2,11\n".encode("utf-16-le"))
    assert list(load_interactions(bcp, load_items(items), encoding="utf-16-le").user_ids) == ["u1", "u2"]
    assert read_id_list(write(tmp_path, "ids16.txt", "u1\nu2\n".encode("utf-16-le")), encoding="utf-16-le") == ["u1", "u2"]
    utf32 = write(tmp_path, "u32.csv", "user_id,item_id\nZoë,10\n".encode("utf-32"))  # FF FE 00 00: begins like UTF-16's mark
    assert list(load_interactions(utf32, load_items(items)).user_ids) == ["Zoë"]


def test_a_properly_quoted_tsv_field_with_a_tab_and_a_line_break_stays_one_field(tmp_path: Path) -> None:
    frame = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "title": ["A\tB\nC", "plain", "x"], "genres": ["drama", "comedy", "war"]})
    path = tmp_path / "items.tsv"
    frame.to_csv(path, sep="\t", index=False)
    catalog = load_items(path)
    assert list(catalog.item_ids) == ["i1", "i2", "i3"] and catalog.table["title"].tolist()[0] == "A\tB\nC"
    two = pd.DataFrame({"item_id": ["i1", "i2"], "title": ["A\tB\nC\tD", "plain"]})  # a quoted line with extra tabs
    two.to_csv(tmp_path / "two.tsv", sep="\t", index=False)
    assert load_items(tmp_path / "two.tsv").table["title"].tolist() == ["A\tB\nC\tD", "plain"]


def test_a_plain_tsv_read_keeps_ids_like_na(tmp_path: Path) -> None:
    items = write(tmp_path, "items.tsv", 'item_id\ttitle\nNA\t"12 inch\nnull\tHeat\nx\t"7 inch\n')
    with pytest.warns(DataWarning, match="plain tab-separated"):
        assert list(load_items(items).item_ids) == ["NA", "null", "x"]


def test_the_threshold_duplicate_check_reads_only_the_users_asked_for(tmp_path: Path, items_csv: Path) -> None:
    inter = write(tmp_path, "i.csv", "user_id,item_id,rating\nu1,10,5\nu2,20,4\nu9,10,1\nu9,10,2\n")
    data = load_interactions(inter, load_items(items_csv), implicit_threshold=4, user_ids=["u1", "u2"])
    assert list(data.user_ids) == ["u1", "u2"] and data.matrix.nnz == 2


def test_the_unread_column_note_gives_the_whole_mapping(tmp_path: Path, items_csv: Path) -> None:
    inter = write(tmp_path, "i.csv", "uid,iid,stars\nu,10,5\nv,20,4\n")
    with pytest.warns(DataWarning, match=r"--interaction-columns user_id=uid item_id=iid rating=stars;"):
        load_interactions(inter, load_items(items_csv), columns={"user_id": "uid", "item_id": "iid"})


def test_a_zip_with_several_files_is_a_clear_error(tmp_path: Path, items_csv: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "i.csv.zip", "w") as archive:
        archive.writestr("a.csv", "user_id,item_id\nu,10\n")
        archive.writestr("b.csv", "user_id,item_id\nv,20\n")
    with pytest.raises(InvalidInputError, match="one file in the archive"):
        load_interactions(tmp_path / "i.csv.zip", load_items(items_csv))


def test_a_header_naming_one_column_twice_up_to_spaces_is_refused(tmp_path: Path, items_csv: Path) -> None:
    inter = write(tmp_path, "i.csv", "user_id,item_id,user_id \nu,10,v\n")
    with pytest.raises(InvalidInputError, match=r"\['user_id'\] appear twice"):
        load_interactions(inter, load_items(items_csv))


def test_rows_of_separators_alone_are_blank_lines(tmp_path: Path, items_csv: Path) -> None:
    # a spreadsheet's export ends in rows of bare separators (",,") where cells were once formatted:
    # pandas skips blank lines but read these as rows, and the run failed on an "empty user_id" row
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id,rating\r\nu1,10,5\r\n,,\r\nu2,20,4\r\n,,\r\n,,\r\n")
    data = load_interactions(path, catalog)
    assert list(data.user_ids) == ["u1", "u2"] and data.matrix.nnz == 2
    items = load_items(write(tmp_path, "i.csv", "item_id,title\n10,Alpha\n,\n20,Beta\n"))
    assert list(items.item_ids) == ["10", "20"]
    with pytest.raises(InvalidInputError, match=r"empty user_id at line 3$"):  # a row with data is still checked
        load_interactions(write(tmp_path, "s.csv", "user_id,item_id,rating\nu1,10,5\n,20,4\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"t\.csv: its 2 data rows are all empty \(no value in any column"):
        load_interactions(write(tmp_path, "t.csv", "user_id,item_id\n,\n,\n"), catalog)


def test_a_file_of_empty_rows_is_not_told_it_has_no_rows(tmp_path: Path) -> None:
    """Data rows that are all bare separators were reported as "has a header but no rows": the rows are there,
    empty, and the message says so (with their number); a file with no data row at all keeps the old message."""
    cases = [
        ("empty2.csv", "item_id,title\n,\n,\n", {}, r"empty2\.csv: its 2 data rows are all empty \(no value in any column, e\.g\. a line of bare ',' separators\)$"),
        ("empty1.csv", "item_id,title,genres\r\n,,\r\n", {}, r"empty1\.csv: its 1 data row is empty \(no value"),
        ("semi.csv", "item_id;title\n;\n\n;\n;\n", {"sep": ";"}, r"semi\.csv: its 3 data rows are all empty .*bare ';' separators"),
        ("header.csv", "item_id,title\n", {}, r"header\.csv: has a header but no rows$"),
        ("blank.csv", "item_id,title\n\n\n", {}, r"blank\.csv: has a header but no rows$"),  # blank lines are no rows
    ]
    for name, text, options, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            load_items(write(tmp_path, name, text), **options)
    # one row with a value among the empty ones is a file with rows
    assert list(load_items(write(tmp_path, "one.csv", "item_id,title\n,\n7,Seven\n,\n")).item_ids) == ["7"]


def test_a_tab_separated_csv_is_told_to_be_named_tsv(tmp_path: Path, items_csv: Path) -> None:
    # "convert the file" for a file that only needs the name coldkit reads tabs under
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id\titem_id\nu1\t10\n")
    with pytest.raises(InvalidInputError, match=r"the header looks '\\t'-separated: .*pass --sep '\\t' \(Python: sep='\\t'\), or rename it to r\.tsv$"):
        load_interactions(path, catalog)
    semicolons = write(tmp_path, "s.csv", "user_id;item_id\nu1;10\n")
    with pytest.raises(InvalidInputError, match=r"looks ';'-separated: .*; pass --sep ';' \(Python: sep=';'\)$"):
        load_interactions(semicolons, catalog)


def test_a_table_without_a_header_line_is_told_to_get_one(tmp_path: Path, items_csv: Path) -> None:
    # ml-100k's u.data (and many exports) have no header: "found ['196', '242', '3', '881250949']" left the
    # user to see that the first row of data had been read as the column names
    catalog = load_items(items_csv)
    path = write(tmp_path, "u.tsv", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    with pytest.raises(InvalidInputError, match=r"found \['196', '242', '3', '881250949'\] — the first line looks like data, "
                                                r"not column names: add a header line \(e\.g\. user_id, item_id, rating, timestamp\)$"):
        load_interactions(path, catalog)
    with pytest.raises(InvalidInputError, match=r"found \['user', 'item'\]; map your columns"):  # names that are words: no such hint
        load_interactions(write(tmp_path, "v.csv", "user,item\nu1,10\n"), catalog)


def test_errors_name_the_file_line_of_a_row(tmp_path: Path, items_csv: Path) -> None:
    # positions counted the data rows left after blank and bare-separator rows were skipped: a user who
    # opened the file at the named place found another row. The lines are counted here by hand.
    catalog = load_items(items_csv)  # ids 10, 20, 30
    body = 'user_id,item_id,rating\n\nu1,10,5\n,,\n"u2","20",4\n   \nu3,"3\n0",4\n\nu4,20,five\nu5,30,x\n'
    # lines: 1 header, 2 blank, 3 u1, 4 ",,", 5 u2, 6 spaces, 7-8 u3 (a quoted line break), 9 blank, 10 u4, 11 u5
    with pytest.raises(InvalidInputError, match=r"2 rating\(s\) are NaN, inf or not numbers \(lines \[10, 11\], e.g. 'five'\)"):
        load_interactions(write(tmp_path, "r.csv", body), catalog)
    with pytest.raises(InvalidInputError, match=r"r2.csv: 1 row\(s\) name item ids not in the item table \(line 6\)"):
        load_interactions(write(tmp_path, "r2.csv", "user_id,item_id\n\nu1,10\n\n\nu2,99\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"r3.csv: empty user_id at lines \[4, 6\]$"):
        load_interactions(write(tmp_path, "r3.csv", "user_id,item_id\nu1,10\n\n,10\n,\n,20\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"bad line 4 \(e.g. 'soon'\)"):
        load_interactions(write(tmp_path, "t.tsv", "user_id\titem_id\ttimestamp\n\nu1\t10\t5\nu2\t10\tsoon\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"timestamp '1e\+30' on line 4 is beyond the year 9999"):
        load_interactions(write(tmp_path, "t2.csv", "user_id,item_id,timestamp\n\nu1,10,0\nu2,10,1e30\n"), catalog)
    with pytest.raises(InvalidInputError, match=r"i.csv: empty item_id at line 4$"):
        load_items(write(tmp_path, "i.csv", "item_id,title\n\n1,a\n,b\n"))
    with pytest.raises(InvalidInputError, match=r"p.csv: empty user_id at line 5$"):
        load_user_profiles(write(tmp_path, "p.csv", "user_id,text\nu1,hi\n\n,\n,there\n"))
    with pytest.raises(InvalidInputError, match=r"g.csv: empty friend_id at line 4$"):
        load_user_graph(write(tmp_path, "g.csv", "user_id,friend_id\n\nu1,u2\nu2,\n"))
    # a frame of the caller's own has no lines: its row positions are named, as before
    with pytest.raises(InvalidInputError, match=r"empty user_id at row\(s\) \[1\]"):
        interactions_from_frame(pd.DataFrame({"user_id": ["u1", ""], "item_id": ["10", "20"]}), catalog)
    # a file read with a multi-character separator is not followed line by line: its positions, never a wrong line
    with pytest.raises(InvalidInputError, match=r"empty item_id at row\(s\) \[1\]"):
        catalog_from_frame(read_table(write(tmp_path, "m.txt", "item_id::title\n1::a\n::b\n"), sep="::"))
    # the leading-index check named line 2 whatever came before it
    with pytest.raises(InvalidInputError, match=r"line 3 has 3 fields but the header names 2"):
        read_table(write(tmp_path, "x.csv", "a,b\n\n1,2,3\n"))


def test_a_separator_given_reads_the_file_and_one_that_splits_nothing_is_named(tmp_path: Path) -> None:
    # a ';' or '|' file was read only under a name coldkit guesses tabs for; sep= (--sep) reads it as it is
    items = write(tmp_path, "items.csv", "item_id;title\n10;Alpha, the film\n20;Beta\n")
    catalog = load_items(items, sep=";")
    assert catalog.item_ids.tolist() == ["10", "20"] and catalog.texts() == ["Alpha, the film", "Beta"]
    inter = load_interactions(write(tmp_path, "r.txt", "user_id|item_id|rating\nu1|10|5\nu2|20|3\n"), catalog, sep="|")
    assert inter.matrix.toarray().tolist() == [[5.0, 0.0], [0.0, 3.0]]
    tsv_named_csv = write(tmp_path, "t.csv", "user_id\titem_id\nu1\t20\n")
    assert load_interactions(tsv_named_csv, catalog, sep="\t").matrix.toarray().tolist() == [[0.0, 1.0]]
    # the separator given leaves the header whole: the file and both separators are named
    comma = write(tmp_path, "c.csv", "user_id,item_id\nu1,10\n")
    with pytest.raises(InvalidInputError, match=r"c.csv: the separator ';' \(--sep\) does not split the header 'user_id,item_id'.*"
                                                 r"looks ','-separated: pass --sep ','"):
        load_interactions(comma, catalog, sep=";")
    with pytest.raises(InvalidInputError, match=r"p.csv: the separator '\|' \(--sep\) does not split the header 'user_id\\tfriend_id'"):
        load_user_graph(write(tmp_path, "p.csv", "user_id\tfriend_id\nu1\tu2\n"), sep="|")
    # a table of one column is no error in itself (item ids alone, with item vectors)
    assert load_items(write(tmp_path, "ids.csv", "item_id\n1\n2\n"), sep=";", require_text=False).item_ids.tolist() == ["1", "2"]


def test_a_malformed_row_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    """pandas' tokenizer counts records and blank lines, not file lines: a row with a field too many
    after a quoted line break and blank lines was "line 6" in a file where it is line 8, and an
    unclosed quote "row 4" where it opens on line 6."""
    extra = write(tmp_path, "extra.csv", 'user_id,item_id,rating,note\nu0,10,4,"a\nb\nc"\n\n\nu0,20,4,x\nu1,30,4,y,EXTRA\n')
    with pytest.raises(InvalidInputError, match=r"extra.csv: malformed CSV \(.*Expected 4 fields in line 8, saw 5\)"):
        read_table(extra)
    crlf = write(tmp_path, "crlf.csv", "user_id,item_id,rating\r\n\r\nu0,10,4\r\nu1,30,4,9\r\n")
    with pytest.raises(InvalidInputError, match=r"Expected 3 fields in line 4, saw 4"):
        read_table(crlf)
    unclosed = write(tmp_path, "open.csv", 'user_id,item_id,rating,note\n\nu0,10,4,"a\nb"\nu0,20,4,x\nu1,30,4,"oops\nu2,10,4,z\n')
    with pytest.raises(InvalidInputError, match=r"open.csv: malformed CSV \(.*EOF inside string starting at line 6\)"):
        read_table(unclosed)


def test_a_separator_that_fits_another_table_says_it_serves_every_table(tmp_path: Path) -> None:
    """``--sep ';'`` for a ';' ratings file beside a ',' item table: the item table's error said "pass
    --sep ',' or leave --sep out", and either fails on the ratings file; the user went round in circles."""
    with pytest.raises(InvalidInputError, match=r"--sep is one separator for every input file"):
        load_items(write(tmp_path, "items.csv", "item_id,title\n10,Alpha\n"), sep=";")


def test_an_items_frame_without_item_id_names_fits_item_columns_not_the_columns_already_given() -> None:
    # fit(ratings, items=movies, columns={"item_id": "movieId"}) renames the ratings only; the items error
    # then told the user "Python: columns={'item_id': 'movieId'}" -- exactly what they had passed
    import coldkit

    ratings = pd.DataFrame({"userId": ["u1", "u2"], "movieId": ["m1", "m2"]})
    movies = pd.DataFrame({"movieId": ["m1", "m2"], "title": ["Alien", "Heat"]})
    model = coldkit.models.create("popularity")
    with pytest.raises(InvalidInputError, match=r"items DataFrame: .*map your columns: model\.fit\(df, items=items_df, "
                                                r"item_columns=\{'item_id': 'movieId'\}\)"):
        model.fit(ratings, items=movies, columns={"user_id": "userId", "item_id": "movieId"})
    with pytest.raises(InvalidInputError, match=r"map your columns: model\.fit\(df, columns=\{'user_id': 'userId', 'item_id': 'movieId'\}\)"):
        model.fit(ratings, items=movies, item_columns={"item_id": "movieId"})
    fitted = model.fit(ratings, items=movies, columns={"user_id": "userId", "item_id": "movieId"}, item_columns={"item_id": "movieId"})
    assert set(fitted.recommend(users=["u1"], k=1)["item_id"]) == {"m2"}


def test_duplicate_item_ids_name_the_file_lines_of_every_copy(tmp_path: Path) -> None:
    # "duplicate item_id(s) ['m2']" sent the user searching a 4,000-line export for the two rows to merge
    path = write(tmp_path, "items.csv", "\ufeffitem_id;title\r\nm1;Alien\r\nm2;\"Heat\r\n(1995)\"\r\nm3;Up\r\nm2;Heat\r\n")
    with pytest.raises(InvalidInputError, match=r"items\.csv: duplicate item_id\(s\) \['m2'\] \(lines \[3, 6\]\); "
                                                r"keep one row per item"):
        load_items(path, sep=";")
    frame = pd.DataFrame({"item_id": ["a", "b", "a", "a"], "title": ["x", "y", "z", "w"]})  # a caller's frame: positions
    with pytest.raises(InvalidInputError, match=r"duplicate item_id\(s\) \['a'\] \(rows \[0, 2, 3\]\); keep one row per item"):
        catalog_from_frame(frame)


def test_implicit_threshold_without_a_rating_column_shows_the_mapping_to_read_one(tmp_path: Path, items_csv: Path) -> None:
    # "implicit_threshold needs a 'rating' column" on a file with a 'stars' column: the unread-column warning
    # that says how to map it never reached the command line, which stops at the error
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "customer,sku,stars\nu1,10,5\nu2,20,2\n")
    with pytest.raises(InvalidInputError, match=r"r\.csv: implicit_threshold needs a 'rating' column; found \['customer', 'sku', 'stars'\]; "
                                                r"map your columns: --interaction-columns user_id=customer item_id=sku rating=stars "
                                                r"\(Python: columns=\{'user_id': 'customer', 'item_id': 'sku', 'rating': 'stars'\}\)"):
        load_interactions(path, catalog, columns={"user_id": "customer", "item_id": "sku"}, implicit_threshold=4)
    path = write(tmp_path, "s.csv", "user_id,item_id\nu1,10\n")  # nothing to guess from: the flag's form
    with pytest.raises(InvalidInputError, match=r"needs a 'rating' column; found \['user_id', 'item_id'\]; map your columns: "
                                                r"--interaction-columns rating=COLUMN"):
        load_interactions(path, catalog, implicit_threshold=4)


@pytest.mark.parametrize("sep", [None, ";"])
def test_a_spreadsheets_sep_directive_line_is_named_not_read_as_the_header(tmp_path: Path, items_csv: Path, sep: str | None) -> None:
    # Excel's "sep=;" first line: read as the header it made "line 2 has 3 fields but the header names 2"
    # (under --sep ';') or a malformed-CSV error (under ','), neither naming the line to delete
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "\ufeffsep=;\r\nuser_id;item_id;rating\r\nu1;10;5\r\n")
    then = r"; delete it and read the file with --sep ';' \(Python: sep=';'\)$" if sep is None else "; delete it$"
    with pytest.raises(InvalidInputError, match=r"r\.csv: the first line 'sep=;' is a spreadsheet's separator line, not the column "
                                                r"names" + then):
        load_interactions(path, catalog, sep=sep)
    write(tmp_path, "ok.csv", "\ufeffuser_id;item_id;rating\r\nu1;10;5\r\n")  # without that line: read
    assert load_interactions(tmp_path / "ok.csv", catalog, sep=";").matrix.nnz == 1
    gz = tmp_path / "r.csv.gz"
    import gzip
    gz.write_bytes(gzip.compress(b"sep=,\nuser_id,item_id\nu1,10\n"))
    with pytest.raises(InvalidInputError, match=r"the first line 'sep=,' is a spreadsheet's separator line.*; delete it$"):
        load_interactions(gz, catalog)


def test_a_double_colon_file_is_named_as_such_not_as_pipe_separated(tmp_path: Path, items_csv: Path) -> None:
    # MovieLens-1M's movies.dat ("1::Toy Story (1995)::Animation|Children's|Comedy", no header) was answered
    # "the header looks '|'-separated: pass --sep '|'" (the genres' bars), which reads it no better
    path = write(tmp_path, "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n")
    with pytest.raises(InvalidInputError, match=r"movies\.dat: missing column\(s\) \['item_id'\]; found \[.*\] — the first line looks "
                                                r"'::'-separated \(MovieLens-1M's \.dat files\) and has no header line"):
        load_items(path)
    with pytest.raises(InvalidInputError) as caught:
        load_items(path)
    assert "--sep '|'" not in str(caught.value)
    assert "sed 's/::/\\t/g'" in str(caught.value) and "sep='::'" in str(caught.value)
    # the way the message gives, in Python: read with sep='::' and names, as a headerless table
    frame = read_table(path, sep="::", header=False, names=["item_id", "title", "genres"])
    assert catalog_from_frame(frame).texts()[1] == "Jumanji (1995). Adventure"
    ratings = write(tmp_path, "ratings.dat", "u1::1::5::978300760\nu1::2::3::978300761\n")  # interactions: the same hint
    with pytest.raises(InvalidInputError, match=r"looks '::'-separated"):
        load_interactions(ratings, catalog_from_frame(frame))


def test_a_non_utf8_byte_deep_in_a_file_is_named_at_its_own_line_and_byte(tmp_path: Path) -> None:
    # pandas decodes in chunks and reported the offset inside the chunk: "byte 222771" for a byte at 2,057,779
    # (line 80,001), so the user looked at the wrong place
    lines = ["item_id,title"] + [f"m{i},Title number {i}" for i in range(100_000)]
    lines[80_000] = "m79999x,Caf\xe9 society"
    data = ("\n".join(lines) + "\n").encode("latin-1")
    where = data.index(b"\xe9")
    path = write(tmp_path, "items.csv", data)
    with pytest.raises(InvalidInputError, match=rf"items\.csv: not valid UTF-8 text \(line 80001, byte {where:,}: b'\\xe9'\); "
                                                r"pass encoding='latin-1'"):
        load_items(path)
    import gzip

    packed = tmp_path / "items.csv.gz"
    packed.write_bytes(gzip.compress(data))  # the position in the decompressed text, as an editor shows it
    with pytest.raises(InvalidInputError, match=rf"not valid UTF-8 text \(line 80001, byte {where:,}: "):
        load_items(packed)
    assert load_items(path, encoding="latin-1").texts()[79_999] == "Café society"


@pytest.mark.parametrize("name", ["product_code", "ItemCode", "article_number", "ProductNo"])
def test_the_mapping_hint_guesses_code_and_number_id_columns(tmp_path: Path, name: str) -> None:
    # an ERP export's "product_code" got "--item-columns item_id=COLUMN", though the id column is plain to see
    path = write(tmp_path, "items.csv", f"{name},title\nm1,Alien\n")
    with pytest.raises(InvalidInputError, match=rf"map your columns: --item-columns item_id={name} "):
        load_items(path)


def test_timestamps_written_as_yyyymmdd_numbers_are_named_not_read_silently_as_1970(tmp_path: Path, items_csv: Path) -> None:
    # a warehouse's date keys (20180913) read as unix seconds put every interaction in August 1970; fit()
    # said nothing (only the command line's "every timestamp falls in 1970" note hinted at it)
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id,timestamp\nu1,10,20180913\nu2,20,20191231\nu2,30,20170101\n")
    with pytest.warns(DataWarning, match=r"r\.csv: every timestamp looks like a date written YYYYMMDD \(e\.g\. 20180913 on line 2\), "
                                         r"but timestamps are unix seconds or ISO-8601 dates: these read as 1970; write them as "
                                         r"ISO-8601 dates \(2018-09-13\)"):
        inter = load_interactions(path, catalog)
    assert inter.timestamps is not None and inter.timestamps.max() == 20191231  # read as given, and said
    import warnings as _warnings

    with _warnings.catch_warnings():
        _warnings.simplefilter("error")  # real unix seconds, and numbers that are no dates, stay quiet
        load_interactions(write(tmp_path, "s.csv", "user_id,item_id,timestamp\nu1,10,964982703\nu2,20,964982224\n"), catalog)
        load_interactions(write(tmp_path, "t.csv", "user_id,item_id,timestamp\nu1,10,20181399\nu2,20,20180913\n"), catalog)


def test_a_named_data_set_refuses_unknown_items_by_name() -> None:
    # refused since unknown_items= reached load_dataset, but the message listed every folder option except it
    from coldkit.data import load_dataset

    with pytest.raises(InvalidInputError, match=r"named data set: .*unknown items, .*are for a folder of your own"):
        load_dataset("ml-latest-small", unknown_items="drop")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("unknown_items", v, r"unknown_items must be 'error' or 'drop', got ") for v in ("skip", "DROP", None)]
    # likewise: recommend_files(..., duplicates="first") ran on data without a repeated pair
    + [("duplicates", v, r"duplicates must be 'error', 'last', 'sum' or 'max', got ") for v in ("first", "LAST", None)],
)
def test_a_bad_row_policy_is_refused_even_where_no_row_needs_it(
    tmp_path: Path, items_csv: Path, option: str, value: object, message: str
) -> None:
    # the value was checked only where a row needed it (an unknown item, a repeated pair): on clean data it passed
    catalog = load_items(items_csv)
    path = write(tmp_path, "r.csv", "user_id,item_id\nu1,10\n")
    with pytest.raises(InvalidInputError, match=message):
        load_interactions(path, catalog, **{option: value})


def test_fit_on_a_movielens_frame_says_what_to_pass(tmp_path: Path) -> None:
    """A new user's first call, ``get_model("hybrid").fit(ratings)`` on MovieLens columns (userId, movieId), said
    only "missing column(s) ['item_id']": no word of the columns= mapping, nor of items= that the hybrid needs."""
    import coldkit

    ratings = pd.DataFrame({"userId": [1, 1, 2, 3], "movieId": [10, 20, 10, 30], "rating": [4.0, 3.5, 5.0, 2.0]})
    movies = pd.DataFrame({"movieId": [10, 20, 30], "title": ["Alien (1979)", "Heat (1995)", "Up (2009)"],
                           "genres": ["Horror|Sci-Fi", "Crime", "Animation"]})
    model = coldkit.get_model("hybrid", encoder="hashing")
    with pytest.raises(InvalidInputError) as info:
        model.fit(ratings)
    text = str(info.value)
    assert "missing column(s) ['user_id', 'item_id']; found ['userId', 'movieId', 'rating']" in text
    assert "model.fit(df, columns={'user_id': 'userId', 'item_id': 'movieId'})" in text
    assert "items=items_df" in text and "item_columns=" in text and "--interaction-columns" not in text
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['item_id'\].*columns=\{'user_id': 'userId', 'item_id': 'movieId'\}"):
        model.fit(ratings, columns={"user_id": "userId"})  # half a mapping: the whole one to pass
    # ids of another kind in the item table (imdb ids for MovieLens ids): the hint names both mappings
    imdb = movies.assign(imdbId=[78748, 113277, 1049413]).drop(columns="movieId")
    with pytest.raises(InvalidInputError, match=r"100% of the rows name no item of the table: check that both name the same ids.*"
                                                r"item_columns=\{'item_id': \.\.\.\} of fit; its ids look like \['78748', '113277', '1049413'\]"):
        model.fit(ratings, columns={"user_id": "userId", "item_id": "movieId"}, items=imdb, item_columns={"item_id": "imdbId"})
    fitted = model.fit(ratings, columns={"user_id": "userId", "item_id": "movieId"}, items=movies, item_columns={"item_id": "movieId"})
    assert len(fitted.recommend(users=[1], k=1)) == 1  # the mapping the errors name is the one that works


def test_empty_ids_say_how_many_rows_have_none(tmp_path: Path, items_csv: Path) -> None:
    # a log with hundreds of rows of empty ids named only the first five, with no count: a user who fixed
    # those five met the next five on the next run. Reference: the rows counted here with the csv module.
    import csv

    catalog = load_items(items_csv)  # ids 10, 20, 30
    rng = np.random.default_rng(3)
    users = [("" if rng.random() < 0.2 else ("  " if rng.random() < 0.05 else f"u{i}")) for i in range(300)]
    body = "user_id,item_id\n" + "".join(f"{u},{['10', '20', '30'][i % 3]}\n" for i, u in enumerate(users))
    path = write(tmp_path, "r.csv", body)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    empty_lines = [line for line, row in enumerate(rows, start=1) if line > 1 and row[0].strip() == ""]
    assert len(empty_lines) > 5  # both a bare empty field and spaces among them
    expected = (rf"r.csv: empty user_id in {len(empty_lines)} rows, the first at lines "
                rf"\[{', '.join(map(str, empty_lines[:5]))}\]; every row needs a user_id")
    with pytest.raises(InvalidInputError, match=expected):
        load_interactions(path, catalog)
    # the item table's ids (another reader): the same count
    item_rows = "item_id,title\n" + "".join(f"{'' if i % 4 == 0 else i},t{i}\n" for i in range(1, 30))
    n_empty = sum(1 for i in range(1, 30) if i % 4 == 0)
    with pytest.raises(InvalidInputError, match=rf"i.csv: empty item_id in {n_empty} rows, the first at lines \[5, 9, 13, 17, 21\]"):
        load_items(write(tmp_path, "i.csv", item_rows))
    # five or fewer: all of them named, the message as before
    with pytest.raises(InvalidInputError, match=r"r2.csv: empty user_id at lines \[3, 4\]$"):
        load_interactions(write(tmp_path, "r2.csv", "user_id,item_id\nu1,10\n,20\n  ,30\n"), catalog)
    # empty user ids and empty item ids: both named in one error, not the items' on the next run
    both = write(tmp_path, "r3.csv", "user_id,item_id\nu1,10\n,20\nu2,\nu3, \n")
    with pytest.raises(InvalidInputError, match=r"r3.csv: empty user_id at line 3; and empty item_id at lines \[4, 5\]$"):
        load_interactions(both, catalog)


def test_text_columns_named_twice_are_refused_and_the_id_column_is_text(tmp_path: Path, items_csv: Path) -> None:
    # twice: the CLI loaded everything, then stopped on an AttributeError (a frame of two 'title' columns)
    with pytest.raises(InvalidInputError, match=r"text column\(s\) \['title'\] named more than once"):
        load_items(items_csv, text_columns=["title", "genres", "title"])
    frame = pd.DataFrame({"item_id": ["a", "b"], "title": ["x", "y"]})
    with pytest.raises(InvalidInputError, match="named more than once"):
        catalog_from_frame(frame, text_columns=["title", "title"])
    # the id column as text is allowed: a catalogue keyed by names (artists, titles) reads its ids as text
    assert load_items(items_csv, text_columns=["item_id", "title"]).texts()[0] == "10. Alpha"
    movies = write(tmp_path, "movies.csv", "movieId,title\n1,Alpha\n2,Beta\n")
    # mapped by the interactions' mapping (no --item-columns given): read under the mapped name, as with --item-columns
    assert load_items(movies, interaction_columns={"item_id": "movieId"}, text_columns=["movieId", "title"]).texts() == ["1. Alpha", "2. Beta"]


@pytest.mark.filterwarnings("ignore::coldkit.exceptions.DataWarning")  # a negative value is also named as a thumbs-down
@pytest.mark.parametrize("value", ["1e-46", "-1e-46", "1e39", "-4e38"])
def test_ratings_float32_cannot_hold_are_refused_naming_the_line(tmp_path: Path, items_csv: Path, value: str) -> None:
    # 1e-46 became 0 in the float32 matrix: the interaction vanished and the item came back to its user;
    # 1e39 became inf, refused later without the file or the line
    path = write(tmp_path, "r.csv", f"user_id,item_id,rating\nu1,10,4\nu1,20,{value}\nu2,30,5\n")
    with pytest.raises(InvalidInputError, match=r"r.csv: 1 rating\(s\) are outside the range interactions are stored in .*line 3"):
        load_interactions(path, load_items(items_csv))
    # the largest and smallest float32 magnitudes are kept as they are
    fine = write(tmp_path, "ok.csv", "user_id,item_id,rating\nu1,10,3e38\nu1,20,1.5e-45\n")
    assert load_interactions(fine, load_items(items_csv)).matrix.nnz == 2
    # only what reaches the matrix is checked: a rating the threshold drops or turns into weight 1, or a row of
    # an unknown item that is dropped, loads as before
    assert load_interactions(path, load_items(items_csv), implicit_threshold=4).matrix.nnz == 2 + (value == "1e39")
    unknown = write(tmp_path, "u.csv", f"user_id,item_id,rating\nu1,10,4\nu1,99,{value}\n")
    assert load_interactions(unknown, load_items(items_csv), unknown_items="drop").matrix.nnz == 1


def test_repeats_summed_past_float32_are_refused(tmp_path: Path, items_csv: Path) -> None:
    path = write(tmp_path, "r.csv", "user_id,item_id,weight\nu1,10,3e38\nu1,10,3e38\nu2,20,1\n")
    with pytest.raises(InvalidInputError, match=r"rows combined by duplicates='sum' sum to more than float32 holds"):
        load_interactions(path, load_items(items_csv), duplicates="sum")
    assert load_interactions(path, load_items(items_csv), duplicates="max").matrix.max() == pytest.approx(3e38, rel=1e-6)


def test_whole_numbers_of_a_column_with_a_blank_cell_are_text_as_the_file_writes_them(tmp_path: Path) -> None:
    """pandas reads an integer column with one blank cell as float: "1995" was the text "1995.0" (and the hashing
    encoder's word "0" was shared by every such item); an age in a profile file was "24.0"."""
    from coldkit.data.loaders import load_items, load_user_profiles
    from coldkit.text import text_cells

    items = tmp_path / "items.csv"
    items.write_text("item_id,title,year,price\na,Toy Story,1995,1.5\nb,Heat,,2.25\nc,Alien,1979,\n", encoding="utf-8")
    assert load_items(items, text_columns=["title", "year", "price"]).texts() == ["Toy Story. 1995. 1.5", "Heat. 2.25", "Alien. 1979"]
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("user_id,age\n1,24\n2,\n3,53\n", encoding="utf-8")
    assert load_user_profiles(profiles, columns={"text": "age"}) == {"1": "24", "2": "", "3": "53"}
    # a Parquet int column with a null comes back as float too
    pd.DataFrame({"user_id": ["a", "b", "c"], "age": pd.array([24, None, 31], dtype="Int64")}).to_parquet(tmp_path / "p.parquet")
    assert load_user_profiles(tmp_path / "p.parquet", columns={"text": "age"}) == {"a": "24", "b": "", "c": "31"}
    frame = pd.DataFrame({"n": [1.0, np.nan, -3.0], "x": [0.5, 1.0, np.nan], "big": [2.0**60, 1.0, np.nan], "full": [4.0, 5.0, 6.0]})
    cells = text_cells(frame).fillna("")
    assert cells["n"].tolist() == ["1", "", "-3"] and cells["x"].tolist() == ["0.5", "1.0", ""]
    assert cells["big"].tolist()[1] == "1.0"  # beyond 2**53 a float is not read as a whole number
    assert cells["full"].tolist() == ["4.0", "5.0", "6.0"]  # no blank: the column is float in the file itself
