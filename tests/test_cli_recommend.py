"""``coldkit recommend``: output contract and bad-input handling (clear error, existing output untouched)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest

from coldkit.cli import main
from coldkit.exceptions import InvalidInputError

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


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "items": tmp_path / "items.csv",
        "train": tmp_path / "train.csv",
        "users": tmp_path / "users.txt",
        "profiles": tmp_path / "profiles.csv",
        "cands": tmp_path / "cands.txt",
        "out": tmp_path / "recs.csv",
    }
    paths["items"].write_text(ITEMS, encoding="utf-8")
    paths["train"].write_text(TRAIN, encoding="utf-8")
    paths["users"].write_text("u1\nu2\nnewbie\n", encoding="utf-8")
    paths["profiles"].write_text("user_id,text\nnewbie,I love robots and space\n", encoding="utf-8")
    paths["cands"].write_text("a\nc\nd\ne\nf\n", encoding="utf-8")
    return paths


@contextlib.contextmanager
def as_in_a_shell() -> Iterator[None]:
    """Warnings as `coldkit` meets them in a shell: Python's default filters and its display on stderr.

    (pytest records every warning, and this suite turns them into errors: main() respects both.)
    """

    def interpreter_display(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.showwarning = interpreter_display
        yield


def run(files: dict[str, Path], *extra: str, model: str = "popularity", shell: bool = False) -> int:
    """main() on the files; ``shell``: with the warning filters and display of a shell (see as_in_a_shell)."""
    with as_in_a_shell() if shell else contextlib.nullcontext():
        return main(
            ["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]),
             "--model", model, "--out", str(files["out"]), "--no-progress", *extra]
        )  # fmt: skip


def check_contract(recs: pd.DataFrame, train: pd.DataFrame, k: int, candidates: set[str] | None) -> None:
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    for user, group in recs.groupby("user_id"):
        assert len(group) <= k
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert group["score"].is_monotonic_decreasing
        assert group["item_id"].is_unique
        known = set(train.loc[train["user_id"] == user, "item_id"])
        assert not known & set(group["item_id"]), f"{user} got an item it already has"
        if candidates is not None:
            assert set(group["item_id"]) <= candidates


def test_popularity_all_users_all_items(files: dict[str, Path]) -> None:
    assert run(files, "--k", "2") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    train = pd.read_csv(files["train"], dtype=str)
    check_contract(recs, train, 2, None)
    assert sorted(recs["user_id"].unique()) == ["u1", "u2", "u3", "u4"]
    # popularity: a (3 users) first for everyone who lacks it
    assert recs.loc[recs["user_id"] == "u2"].iloc[0]["item_id"] == "a"


def test_content_with_users_profiles_and_candidates(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        files, "--users", str(files["users"]), "--user-profiles", str(files["profiles"]),
        "--candidates", str(files["cands"]), "--k", "3", "--encoder", "hashing", "--text-columns", "title", "genres",
        model="content",
    )  # fmt: skip
    assert code == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    check_contract(recs, pd.read_csv(files["train"], dtype=str), 3, set("acdef"))
    assert sorted(recs["user_id"].unique()) == ["newbie", "u1", "u2"]
    assert "1 user(s) have no interaction (1 with a profile text; 'newbie'): model content ranks them from that alone" in capsys.readouterr().err


def test_candidate_set_smaller_than_k(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["cands"].write_text("c\nd\n", encoding="utf-8")
    assert run(files, "--candidates", str(files["cands"]), "--k", "5") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert set(recs["item_id"]) <= {"c", "d"}
    assert len(recs[recs["user_id"] == "u2"]) == 1  # d is known to u2: only c is left
    assert "only 2 candidate item(s) for k=5" in capsys.readouterr().err


def _fails_cleanly(files: dict[str, Path], capsys: pytest.CaptureFixture[str], match: str, *extra: str) -> None:
    files["out"].write_text("previous results\n", encoding="utf-8")
    assert run(files, *extra, shell=True) == 2  # as in a shell: a warning before the error is not the error
    err = capsys.readouterr().err
    assert "coldkit recommend: error:" in err and match in err, err
    assert files["out"].read_text(encoding="utf-8") == "previous results\n"  # nothing lost


def test_a_user_who_has_seen_every_candidate_is_named_not_silently_absent(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # u1 interacted with a and b, the only candidates: no row can be written for u1, which used to
    # leave a requested user missing from the output without a word
    files["cands"].write_text("a\nb\n", encoding="utf-8")
    files["users"].write_text("u1\nu2\n", encoding="utf-8")
    assert run(files, "--candidates", str(files["cands"]), "--users", str(files["users"]), "--k", "3") == 0
    recs = pd.read_csv(files["out"], dtype=str)
    assert recs["user_id"].tolist() == ["u2"] and recs["item_id"].tolist() == ["a"]  # u2 saw b, not a
    err = capsys.readouterr().err
    assert "1 user(s) get no recommendation" in err and "'u1'" in err and "no candidate item was left for them" in err
    # the closing line counted u1 among the users written for ("wrote 1 recommendations for 2 user(s)")
    assert "wrote 1 recommendations for 1 of 2 user(s) to" in err, err


def test_negative_ratings_are_noted_as_read_as_likes(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # thumbs-up/down data: popularity counted the four -1 rows of item "a" as four users who like it,
    # and nothing said so; --implicit-threshold keeps the likes only (and the note goes)
    files["train"].write_text("user_id,item_id,rating\nu1,a,-1\nu2,a,-1\nu3,a,-1\nu4,a,-1\nu1,b,1\nu2,b,1\n", encoding="utf-8")
    files["users"].write_text("u3\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--k", "1", shell=True) == 0
    assert pd.read_csv(files["out"], dtype=str)["item_id"].tolist() == ["b"]  # u3 saw a
    assert "note: 4 interaction(s) have a negative rating/weight" in capsys.readouterr().err
    files["users"].write_text("u5\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--k", "1", "--implicit-threshold", "0", shell=True) == 0
    assert pd.read_csv(files["out"], dtype=str)["item_id"].tolist() == ["b"]  # the liked item, not the disliked one
    assert "negative rating" not in capsys.readouterr().err


def test_items_without_text_are_counted(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # a mostly empty description column: those items are invisible to content matching, and nothing said so
    files["items"].write_text("item_id,title,desc\na,x,robots in space\nb,x,\nc,x, \nd,x,\ne,x,whales\nf,x,\n", encoding="utf-8")
    assert run(files, "--text-columns", "desc", model="content") == 0
    err = capsys.readouterr().err
    assert "4 of 6 item(s) have no text in desc (e.g. 'b')" in err
    assert run(files, model="content") == 0  # title + desc: every item has text
    assert "have no text" not in capsys.readouterr().err


def test_zero_ratings_error_names_the_command_line_flag(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # the message named only the Python keywords (implicit_threshold=, binary=True): neither is a flag
    files["train"].write_text("user_id,item_id,rating\nu1,a,0\nu2,b,1\n", encoding="utf-8")
    assert run(files) == 2
    assert "1 row(s) have weight 0 (line 2)" in (err := capsys.readouterr().err) and "--implicit-threshold" in err
    assert run(files, "--implicit-threshold", "0") == 0


def test_unknown_candidate_ids(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["cands"].write_text("a\nzzz\n", encoding="utf-8")
    _fails_cleanly(files, capsys, f"--candidates {files['cands']}: unknown item ids: ['zzz']", "--candidates", str(files["cands"]))


def test_unknown_candidate_ids_that_look_like_known_ones_get_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the catalogue's ids have leading zeros, the candidate file lost them
    files = {"items": tmp_path / "i.csv", "train": tmp_path / "t.csv", "cands": tmp_path / "c.txt", "out": tmp_path / "o.csv"}
    files["items"].write_text("item_id,title\n007,spy\n010,ten\n", encoding="utf-8")
    files["train"].write_text("user_id,item_id\nu1,007\n", encoding="utf-8")
    files["cands"].write_text("7\n010\n", encoding="utf-8")
    assert run(files, "--candidates", str(files["cands"])) == 2
    assert "unknown item ids: ['7']; ids are matched as text: '7' is not '007'" in capsys.readouterr().err


def test_missing_columns(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text("user,item_id\nu1,a\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "missing column(s) ['user_id']")


def test_column_mapping_flags(files: dict[str, Path]) -> None:
    files["train"].write_text("uid,iid\nu1,a\nu2,b\n", encoding="utf-8")
    assert run(files, "--interaction-columns", "user_id=uid", "item_id=iid", "--k", "1") == 0
    assert len(pd.read_csv(files["out"])) == 2


def test_interaction_columns_name_the_items_id_too(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # MovieLens calls the item movieId in both files: --interaction-columns item_id=movieId alone
    # failed on the items file ("missing column(s) ['item_id']"); serve --build already read it so
    items = pd.read_csv(files["items"]).rename(columns={"item_id": "movieId"})
    items.to_csv(files["items"], index=False)
    files["train"].write_text(TRAIN.replace("user_id,item_id", "userId,movieId"), encoding="utf-8")
    mapping = ["--interaction-columns", "user_id=userId", "item_id=movieId", "--k", "2"]
    assert run(files, *mapping) == 0
    first = pd.read_csv(files["out"], dtype=str)
    assert set(first["item_id"]) <= set(items["movieId"].astype(str)) and len(first) == 8
    assert run(files, *mapping, "--item-columns", "item_id=movieId") == 0  # the items' own mapping: the same
    pd.testing.assert_frame_equal(pd.read_csv(files["out"], dtype=str), first)
    capsys.readouterr()
    assert run(files, *mapping, "--item-columns", "item_id=film") == 2  # the items' own mapping wins
    assert "missing column(s) ['film']" in capsys.readouterr().err
    # an item mapping that names another column keeps the inherited id: any --item-columns switched it off
    items.rename(columns={"genres": "tags"}).to_csv(files["items"], index=False)
    assert run(files, *mapping, "--model", "popularity-genre", "--item-columns", "genres=tags") == 0, capsys.readouterr().err
    assert set(pd.read_csv(files["out"], dtype=str)["item_id"]) <= set(items["movieId"].astype(str))
    items.to_csv(files["items"], index=False)
    # an items file with its own item_id column keeps it; when the ids do not match, the error names the way out
    items.insert(0, "item_id", [f"x{i}" for i in range(len(items))])
    items.to_csv(files["items"], index=False)
    assert run(files, *mapping) == 2
    assert "it also has a 'movieId' column: to match by 'movieId', rename or drop the items file's 'item_id'" in capsys.readouterr().err
    items.rename(columns={"item_id": "old_id"}).to_csv(files["items"], index=False)
    assert run(files, *mapping) == 0


def test_duplicate_interactions(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text(TRAIN + "u1,a,3\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "duplicate (user_id, item_id)")
    assert run(files, "--duplicates", "max") == 0


def test_nan_ratings(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text(TRAIN + "u5,c,\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "NaN")


def test_empty_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text("", encoding="utf-8")
    _fails_cleanly(files, capsys, "empty")


def test_non_utf8_items(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["items"].write_bytes(ITEMS.replace("Paris love story", "Misérables").encode("latin-1"))
    _fails_cleanly(files, capsys, "--encoding latin-1")  # the flag, not only the Python keyword
    assert run(files, "--encoding", "latin-1") == 0


def test_bad_k_and_unknown_model(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(files, capsys, "--k must be >= 1 (items per user), got 0", "--k", "0")
    files["out"].unlink()
    assert run(files, model="no-such-model") == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert not files["out"].exists()


def test_user_with_no_interaction_and_no_profile_gets_popular_items(files: dict[str, Path]) -> None:
    files["users"].write_text("ghost\nu1\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--k", "2") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert recs.loc[recs["user_id"] == "ghost", "item_id"].tolist() == ["a", "b"]  # a: 3 users, b: 2 users


def test_unknown_or_missing_model_option(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # A typo in --option (or a model needing an option not given) is a user error: exit 2 with
    # one line naming the model, not a TypeError traceback.
    _fails_cleanly(files, capsys, "unexpected keyword argument 'bogus'", "--option", "bogus=1")
    # and names what the model does take
    _fails_cleanly(files, capsys, "; its options: adapter_l2, adaptive, attribute_weight, attributes, cache,", "--model", "hybrid", "--option", "bogus=1")
    _fails_cleanly(files, capsys, "'popularity': Popularity.__init__() got an unexpected keyword argument 'bogus'; it takes no options",
                   "--model", "popularity", "--option", "bogus=1")
    _fails_cleanly(files, capsys, "its options: encoder, neighbors, stored_profiles, user_profiles", "--model", "profile-knn", "--option", "bogus=1")
    _fails_cleanly(files, capsys, "'profile-knn'", "--model", "profile-knn")
    # and the option a misspelt or shortened one may mean, first (--option seed=1 for the hybrid's validation_seed)
    _fails_cleanly(files, capsys, "argument 'seed' (did you mean validation_seed?); its options: adapter_l2,",
                   "--model", "hybrid", "--option", "seed=1")
    _fails_cleanly(files, capsys, "argument 'neighbours' (did you mean neighbors?); its options:",
                   "--model", "item-knn", "--option", "neighbours=5")


def test_a_model_that_needs_profiles_names_the_flag_when_none_are_given(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # profile-knn cannot run without profile texts; the command line's user got the constructor's
    # "ProfileKNN.__init__() missing 1 required positional argument: 'user_profiles'"
    _fails_cleanly(files, capsys, "model 'profile-knn' ranks users by their profile texts and needs --user-profiles:",
                   "--model", "profile-knn", "--encoder", "hashing")
    files["profiles"].write_text("user_id,text\nu1,\nu2,\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "needs --user-profiles (every text in it is empty)",
                   "--model", "profile-knn", "--encoder", "hashing", "--user-profiles", str(files["profiles"]))
    # with texts it runs: u2's profile reads like u1's, so u1's other item (a) comes first for u2 -- by hand:
    # cos(u2, u1) > 0 and u1 is u2's only neighbour with a profile; u2 already has b and d
    files["profiles"].write_text("user_id,text\nu1,robots in space\nu2,space robots\n", encoding="utf-8")
    assert run(files, "--model", "profile-knn", "--encoder", "hashing", "--user-profiles", str(files["profiles"]),
               "--k", "1") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert recs.loc[recs["user_id"] == "u2", "item_id"].tolist() == ["a"]


def test_profiles_that_are_all_empty_mean_no_profile_text(tmp_path) -> None:
    from coldkit.cli import main

    (tmp_path / "int.csv").write_text("user_id,item_id\nu1,i1\nu1,i2\nu2,i2\nu3,i1\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,space opera\ni2,jazz record\ni3,robot poems\n")
    (tmp_path / "profiles.csv").write_text("user_id,text\nu1,\nu2,  \nu9,\n")
    out = tmp_path / "recs.csv"
    code = main(["recommend", "--interactions", str(tmp_path / "int.csv"), "--items", str(tmp_path / "items.csv"),
                 "--user-profiles", str(tmp_path / "profiles.csv"), "--model", "hybrid", "--option", "encoder=hashing",
                 "--k", "2", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    assert out.read_text().startswith("user_id,item_id,rank,score")


def test_model_option_of_the_wrong_type(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # An option the model takes, with a value it cannot use, is a user error too: one line naming
    # the model and the bad value, exit 2, no ValueError/TypeError traceback from the constructor.
    common = ("--model", "content", "--encoder", "hashing", "--option")
    _fails_cleanly(files, capsys, "whitening_dim must be an integer, got str 'abc'", *common, "whitening_dim=abc")
    _fails_cleanly(files, capsys, "text_weight must be a number, got str 'x'", *common, 'text_weight="x"')  # names the option


def test_option_flag_that_is_not_key_value_says_key_value(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(files, capsys, "--option: 'bogus' is not KEY=VALUE", "--option", "bogus")


def test_users_file_with_a_header_line_is_an_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # "user_id" is not a user: recommending popular items for a cold user named "user_id" would be
    # a silent wrong row in the evaluator's file.
    files["users"].write_text("user_id\nu1\nu2\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "first line 'user_id' looks like a header", "--users", str(files["users"]))
    files["cands"].write_text("item_id\na\nc\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "first line 'item_id' looks like a header", "--candidates", str(files["cands"]))
    # R's write.csv quotes the header and every id: read as the tables read them, the header is found
    files["users"].write_bytes(b'"user_id"\r\n"u1"\r\n"u2"\r\n')
    _fails_cleanly(files, capsys, "first line 'user_id' looks like a header", "--users", str(files["users"]))


def test_users_file_that_is_a_csv_table_is_an_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # every line "u1,2026-01-01" would be an unknown (cold) user: popular items for all, silently
    files["users"].write_text("u1,2026-01-01\nu2,2026-01-02\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "'u1,2026-01-01' looks like a CSV row", "--users", str(files["users"]))


def test_users_file_may_name_a_user_called_like_the_header_when_that_user_exists(files: dict[str, Path]) -> None:
    files["train"].write_text(TRAIN + "user_id,c,4\n", encoding="utf-8")
    files["users"].write_text("user_id\nu1\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--k", "2") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert set(recs["user_id"]) == {"user_id", "u1"}


def test_duplicates_summing_to_zero_are_an_error_not_a_lost_interaction(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # u1 rated a twice (5 and -5): summed, the weight is 0 and the sparse matrix drops the pair, so
    # a was recommended back to u1 although u1 interacted with it.
    files["train"].write_text(TRAIN + "u1,a,-5\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "weight 0 after duplicates='sum', e.g. [('u1', 'a')]", "--duplicates", "sum")
    assert run(files, "--duplicates", "last", shell=True) == 0  # the last row (-5) is a real, non-zero weight (noted)
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert not ((recs["user_id"] == "u1") & (recs["item_id"] == "a")).any()


@pytest.mark.parametrize("flag", ["--interactions", "--items", "--candidates", "--users"])
def test_out_that_is_an_input_file_is_refused(files: dict[str, Path], capsys: pytest.CaptureFixture[str], flag: str) -> None:
    # a slip like --out train.csv replaced the user's input with recommendations
    inputs = {"--interactions": files["train"], "--items": files["items"], "--candidates": files["cands"], "--users": files["users"]}
    target = inputs[flag]
    before = target.read_bytes()
    files["out"] = target.parent / "." / target.name  # the same file under another spelling
    extra = ["--candidates", str(files["cands"]), "--users", str(files["users"])]
    assert run(files, *extra) == 2
    err = capsys.readouterr().err
    assert f"--out {files['out']} is the {flag} file" in err, err
    assert target.read_bytes() == before


def test_out_through_a_folder_not_made_yet_is_still_the_input(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # "new/../train.csv" names train.csv through a folder the atomic writer creates; the check compared only
    # existing paths, so the run replaced the interactions with recommendations and exited 0
    before = files["train"].read_bytes()
    files["out"] = files["train"].parent / "not-yet" / ".." / files["train"].name
    assert run(files) == 2
    assert f"--out {files['out']} is the --interactions file" in capsys.readouterr().err
    assert files["train"].read_bytes() == before and not (files["train"].parent / "not-yet").exists()


def test_out_that_is_the_ids_file_of_the_item_vectors_is_refused(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # a .npy's ids live in x.ids.txt beside it: --out x.ids.txt replaced them, and the next run failed on its own vectors
    vectors = files["train"].parent / "v.npy"
    np.save(vectors, np.eye(3, dtype=np.float32))
    ids = files["train"].parent / "v.ids.txt"
    ids.write_text("a\nb\nc\n", encoding="utf-8")
    files["out"] = ids
    assert run(files, "--item-vectors", str(vectors), model="hybrid") == 2
    assert f"--out {ids} is the --item-vectors ids file" in capsys.readouterr().err
    assert ids.read_text(encoding="utf-8") == "a\nb\nc\n"


def test_out_dash_is_refused_not_written_as_a_file_named_dash(files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(files["train"].parent)
    files["out"] = Path("-")
    assert run(files) == 2
    assert "--out -: recommendations are written to a CSV file" in capsys.readouterr().err
    assert not (files["train"].parent / "-").exists()
    for empty in ("", "  "):  # was "output path '.' is a directory"
        assert main(["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]), "--out", empty]) == 2
        assert "--out is empty: give the CSV file to write" in capsys.readouterr().err


@pytest.mark.parametrize("option, named", [("warm_options=[1]", "warm_options"), ("encoder_options=xyz", "encoder_options")])
def test_an_options_option_that_is_no_mapping_is_named(files: dict[str, Path], capsys: pytest.CaptureFixture[str], option: str, named: str) -> None:
    # was "bad option value (cannot convert dictionary update sequence element #0 to a sequence)"
    assert run(files, "--encoder", "hashing", "--option", option, model="hybrid") == 2
    err = capsys.readouterr().err
    assert f"{named} must be a mapping of option name -> value" in err and "sequence" not in err, err


def test_recommend_files_refuses_a_bad_batch_size_and_options_before_reading(files: dict[str, Path]) -> None:
    """The Python API's ``batch_size`` and ``options``: -1 wrote a header-only file and reported every user
    written; 0 was ``range() arg 3 must not be zero`` after the whole fit; a list of options a bare ValueError."""
    from coldkit.batch import recommend_files

    missing = files["train"].parent / "absent.csv"  # checked before any file is read: no file error first
    for bad, message in ((-1, "batch_size must be >= 1, got -1"), (0, "batch_size must be >= 1, got 0"), (2.5, "batch_size")):
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            recommend_files(str(missing), str(files["items"]), str(files["out"]), batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"options must be a mapping of option name -> value .* got list \['l2=5'\]"):
        recommend_files(str(missing), str(files["items"]), str(files["out"]), options=["l2=5"])  # type: ignore[arg-type]
    assert not files["out"].exists()


def test_encoding_applies_to_the_id_files_too(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # --encoding latin-1 read the tables but not --users / --candidates, which failed as "not UTF-8"
    files["train"].write_bytes((TRAIN + "José,c,4\n").encode("latin-1"))
    files["users"].write_bytes("José\nu1\n".encode("latin-1"))
    _fails_cleanly(files, capsys, "latin-1", "--users", str(files["users"]))
    assert run(files, "--users", str(files["users"]), "--encoding", "latin-1", "--k", "2") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str}, encoding="utf-8")
    assert set(recs["user_id"]) == {"José", "u1"}
    assert "c" not in set(recs.loc[recs["user_id"] == "José", "item_id"])  # known to José: excluded


def test_final_line_does_not_print_the_whole_user_graph(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # the "wrote ..." line listed user_graph={...every edge...}: megabytes of stderr for a real graph
    graph = files["train"].parent / "friends.csv"
    graph.write_text("user_id,friend_id\nu1,u2\nnewbie,u1\n", encoding="utf-8")
    assert run(files, "--user-graph", str(graph), "--users", str(files["users"]), "--k", "2", model="friends") == 0
    wrote = [line for line in capsys.readouterr().err.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1 and "user_graph" not in wrote[0] and "newbie" not in wrote[0], wrote


def test_ids_in_two_unicode_forms_are_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "josé" typed on one system (U+00E9) and saved from a macOS file name on another (e + U+0301) print
    # alike: the error read "unknown item ids: ['café']" of a table holding café, and a users list in the
    # other form made a known user cold without a hint
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    (tmp_path / "int.csv").write_text(f"user_id,item_id\njos\u00e9,{composed}\njos\u00e9,b\nann,b\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text(f"item_id,title\n{decomposed},coffee place\nb,bar\nc,cafe bar\n", encoding="utf-8")
    out = tmp_path / "recs.csv"
    base = ["recommend", "--interactions", str(tmp_path / "int.csv"), "--model", "popularity", "--out", str(out), "--quiet"]
    assert main([*base, "--items", str(tmp_path / "items.csv")]) == 2
    err = capsys.readouterr().err
    assert "ids are matched as text: 'caf\\xe9' is not 'cafe\\u0301' (one text in two Unicode forms" in err, err
    (tmp_path / "items.csv").write_text(f"item_id,title\n{composed},coffee place\nb,bar\nc,cafe bar\n", encoding="utf-8")
    (tmp_path / "users.txt").write_text("jose\u0301\n", encoding="utf-8")
    assert main([*base, "--items", str(tmp_path / "items.csv"), "--users", str(tmp_path / "users.txt")]) == 0
    assert "--users: ids are matched as text: 'jose\\u0301' is not 'jos\\xe9' (one text in two Unicode forms" in capsys.readouterr().err
    (tmp_path / "cands.txt").write_text(f"{decomposed}\nc\n", encoding="utf-8")
    assert main([*base, "--items", str(tmp_path / "items.csv"), "--candidates", str(tmp_path / "cands.txt")]) == 2
    assert "'cafe\\u0301' is not 'caf\\xe9' (one text in two Unicode forms" in capsys.readouterr().err
    # ids that differ otherwise keep the plain form of the hint
    (tmp_path / "cands.txt").write_text("B\n", encoding="utf-8")
    assert main([*base, "--items", str(tmp_path / "items.csv"), "--candidates", str(tmp_path / "cands.txt")]) == 2
    assert "ids are matched as text: 'B' is not 'b'" in capsys.readouterr().err


def test_models_missing_a_column_name_the_flag_that_maps_one(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # the messages named Python's columns= and an attribute ("in catalog.table"), not the flag to pass
    _fails_cleanly(files, capsys, "a column of another name, command line: --interaction-columns timestamp=COL", "--model", "popularity-recent")
    plain = files["items"].read_text(encoding="utf-8").replace("genres", "kind")
    files["items"].write_text(plain, encoding="utf-8")
    _fails_cleanly(files, capsys, "this model needs a 'genres' column in the item table ('|'-, ';'- or ','-separated, e.g. 'Comedy|Romance'), "
                   "and it has none (command line: --item-columns genres=COL names yours", "--model", "popularity-genre")
    # and the flag it names works. By hand: u1 liked a (Sci-Fi); b (Romance) has 2 users, c (Sci-Fi) 1, so
    # popularity alone gives b, and the genres give c: 1 x (0.05 + 1) against 2 x 0.05
    files["items"].write_text("item_id,title,kind\na,x,Sci-Fi\nb,y,Romance\nc,z,Sci-Fi\nd,w,Romance\n", encoding="utf-8")
    files["train"].write_text("user_id,item_id\nu1,a\nu2,b\nu3,b\nu4,c\nu5,d\n", encoding="utf-8")
    assert run(files, "--item-columns", "genres=kind", "--k", "1", model="popularity-genre") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert recs.loc[recs["user_id"] == "u1", "item_id"].tolist() == ["c"]


def test_profiles_whose_ids_differ_in_form_are_named(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # a profiles file saved from a float column ("1.0") matched no user: the note called them users "not in
    # --interactions", and profile-knn failed with "no training user has a profile text"
    (tmp := files["train"].parent / "int.csv").write_text("user_id,item_id\n1,a\n1,b\n2,b\n2,d\n3,a\n", encoding="utf-8")
    files["profiles"].write_text("user_id,text\n1.0,robots in space\n2.0,paris love\n", encoding="utf-8")
    base = ["recommend", "--interactions", str(tmp), "--items", str(files["items"]), "--user-profiles", str(files["profiles"]),
            "--encoder", "hashing", "--out", str(files["out"]), "--quiet"]
    assert main([*base, "--model", "content"]) == 0
    err = capsys.readouterr().err
    assert "--user-profiles: ids are matched as text: '1.0' is not '1', '2.0' is not '2' (check how the profiles file was written)" in err, err
    assert main([*base, "--model", "profile-knn"]) == 2
    err = capsys.readouterr().err
    assert "error: --user-profiles " in err and ": no profile belongs to a user of --interactions, and model 'profile-knn' ranks users " \
        "by the training users' profile texts; ids are matched as text: '1.0' is not '1', '2.0' is not '2'" in err, err
    # ids as the interactions write them: no hint
    files["profiles"].write_text("user_id,text\n1,robots in space\n2,paris love\n", encoding="utf-8")
    assert main([*base, "--model", "profile-knn"]) == 0
    assert "matched as text" not in capsys.readouterr().err


def test_a_graph_whose_ids_match_no_user_is_named(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # a graph saved from float columns ("1.0"): nobody had a friend, and the friends model wrote popularity silently
    (tmp := files["train"].parent / "int.csv").write_text("user_id,item_id\n1,a\n1,b\n2,b\n2,d\n3,e\n", encoding="utf-8")
    graph = files["train"].parent / "friends.csv"
    graph.write_text("user_id,friend_id\n1.0,2.0\n3.0,2.0\n", encoding="utf-8")
    base = ["recommend", "--interactions", str(tmp), "--items", str(files["items"]), "--user-graph", str(graph),
            "--model", "friends", "--k", "1", "--out", str(files["out"]), "--quiet"]
    assert main(base) == 0
    err = capsys.readouterr().err
    # (a friendship goes both ways: 1.0, 2.0 and 3.0 are all friends of someone)
    assert "--user-graph: none of its 3 friend id(s) is a user of --interactions (e.g. '1.0'), so no user has a friend" in err, err
    assert "--user-graph: ids are matched as text: '1.0' is not '1', '2.0' is not '2', '3.0' is not '3' (check how" in err, err
    # written as the interactions write them, friends count: by hand, 3's friend 2 has b and d, b first (2 users)
    graph.write_text("user_id,friend_id\n1,2\n3,2\n", encoding="utf-8")
    assert main(base) == 0
    assert "--user-graph:" not in capsys.readouterr().err
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert recs.loc[recs["user_id"] == "3", "item_id"].tolist() == ["b"]


def test_data_notes_are_printed_before_an_error_that_follows_from_them(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # one empty timestamp cell makes the data timeless (a note after a successful run); popularity-recent failed
    # with "these have none" of a file with a timestamp column, and the note saying why was lost with the run
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,100\nu2,b,\nu3,a,300\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "needs a timestamp on every interaction", "--model", "popularity-recent")
    files["out"].unlink()
    assert run(files, "--model", "popularity-recent", shell=True) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("note: ") and "1 of 3 rows have no timestamp (line 3)" in err[0], err
    assert err[1].startswith("coldkit recommend: error: popularity-recent needs a timestamp on every interaction"), err


def test_friends_model_without_a_graph_says_its_lists_are_popularity(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # without --user-graph nobody has friends: the friends model's lists were plain popularity, written
    # under its name without a word
    assert run(files, "--k", "1", model="friends") == 0
    err = capsys.readouterr().err
    assert "model friends without --user-graph: nobody has friends, so every list is the most popular items" in err, err
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    # by hand from TRAIN: a has 3 users, b 2, d and e 1 (tied: e, first in the order of the ids' hash, which
    # `coldkit recommend` numbers items by, never the file's); each user's most popular item not yet theirs
    assert dict(zip(recs["user_id"], recs["item_id"])) == {"u1": "e", "u2": "a", "u3": "b", "u4": "b"}
    graph = files["train"].parent / "friends.csv"
    graph.write_text("user_id,friend_id\nu1,u2\n", encoding="utf-8")
    assert run(files, "--user-graph", str(graph), "--k", "1", model="friends") == 0
    assert "without --user-graph" not in capsys.readouterr().err
    # a graph of self-loops only (dropped): the note said "without --user-graph" of a run given one
    graph.write_text("user_id,friend_id\nu1,u1\n", encoding="utf-8")
    assert run(files, "--user-graph", str(graph), "--k", "1", model="friends") == 0
    err = capsys.readouterr().err
    assert "without --user-graph" not in err and "no friendship left: every row pairs a user with itself" in err, err


def test_cold_users_that_look_like_a_known_id_written_as_a_float_get_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a users list saved from a float column ("1.0") makes every user cold, silently served popular items
    (tmp_path / "int.csv").write_text("user_id,item_id\n1,a\n1,b\n2,b\n007,a\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
    (tmp_path / "users.txt").write_text("1.0\n2\n7\n", encoding="utf-8")
    out = tmp_path / "recs.csv"
    code = main(["recommend", "--interactions", str(tmp_path / "int.csv"), "--items", str(tmp_path / "items.csv"),
                 "--users", str(tmp_path / "users.txt"), "--model", "popularity", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "2 user(s) have no interaction" in err
    assert "ids are matched as text: '1.0' is not '1', '7' is not '007'" in err, err



def test_cold_users_and_unknown_items_that_differ_from_known_ids_only_in_letter_case_get_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ids from two systems that disagree on case ('Cust-1' in the users list, 'cust-1' in the export) made the
    # user a new one, served popular items, with only "1 user(s) have no interaction" to go on
    (tmp_path / "int.csv").write_text("user_id,item_id\ncust-1,a\ncust-1,b\ncust-2,b\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text(ITEMS, encoding="utf-8")
    (tmp_path / "users.txt").write_text("Cust-1\ncust-2\n", encoding="utf-8")
    out = tmp_path / "recs.csv"
    args = ["recommend", "--interactions", str(tmp_path / "int.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "popularity", "--out", str(out), "--quiet"]
    assert main([*args, "--users", str(tmp_path / "users.txt")]) == 0
    err = capsys.readouterr().err
    assert "1 user(s) have no interaction" in err and "ids are matched as text: 'Cust-1' is not 'cust-1'" in err, err
    (tmp_path / "int.csv").write_text("user_id,item_id\ncust-1,A\n", encoding="utf-8")  # items: the same hint
    assert main(args) == 2
    assert "ids are matched as text: 'A' is not 'a'" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["popularity", "item-knn", "ease"])
def test_a_model_that_reads_no_item_content_runs_on_an_items_file_of_ids(files: dict[str, Path], model: str) -> None:
    # an items file of bare ids was refused ("no text-like column") although these models never read text
    files["items"].write_text("item_id\na\nb\nc\nd\ne\nf\n", encoding="utf-8")
    assert run(files, "--k", "2", model=model) == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    check_contract(recs, pd.read_csv(files["train"], dtype=str), 2, None)


def test_a_content_model_on_an_items_file_of_ids_is_still_an_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["items"].write_text("item_id\na\nb\nc\nd\ne\nf\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "no text-like column", "--model", "content")
    # the example plugin's text-match: its options are read through its lazy factory, so it is known to take an
    # encoder and gets the content model's answer before fitting (it failed inside its fit: "needs item text")
    _fails_cleanly(files, capsys, "no text-like column", "--model", "text-match")


def test_ids_that_start_with_a_hash_are_ids_not_comments(files: dict[str, Path]) -> None:
    # hashtag-like ids (#robots) in --users / --candidates were read as comments and silently dropped;
    # a '#' line that is a known id is that id, any other '#' line is still a comment
    files["items"].write_text(ITEMS.replace("\nc,", "\n#c,"), encoding="utf-8")
    files["train"].write_text(TRAIN.replace("u4,a,5", "#u4,a,5"), encoding="utf-8")
    files["users"].write_text("# users of run 3\n#u4\nu2\n", encoding="utf-8")
    files["cands"].write_text("#c\n# the new ones\ne\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--candidates", str(files["cands"]), "--k", "2") == 0
    recs = pd.read_csv(files["out"], dtype=str, keep_default_na=False)
    assert sorted(set(recs["user_id"])) == ["#u4", "u2"]
    assert set(recs["item_id"]) == {"#c", "e"}


def test_recommend_files_names_an_argument_that_is_not_a_path(files: dict[str, Path]) -> None:
    # a DataFrame passed to the file API was "TypeError: expected str, bytes or os.PathLike object"
    from coldkit import recommend_files

    frame = pd.read_csv(files["train"])
    with pytest.raises(InvalidInputError, match=r"interactions= must be a path, got DataFrame \(for DataFrames: coldkit.get_model"):
        recommend_files(frame, str(files["items"]), str(files["train"].parent / "r.csv"), model="popularity")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="out= must be a path, got NoneType"):
        recommend_files(str(files["train"]), str(files["items"]), None, model="popularity")  # type: ignore[arg-type]
    summary = recommend_files(files["train"], files["items"], files["train"].parent / "r.csv", model="popularity", k=2)  # Paths are fine
    assert summary["rows"] > 0


def test_profiles_for_a_model_that_reads_no_text_are_noted(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # popularity ranks every user alike: profiles given to it changed nothing, without a word
    assert run(files, "--users", str(files["users"]), "--user-profiles", str(files["profiles"]), "--k", "2") == 0
    assert "--user-profiles has no effect on model popularity" in capsys.readouterr().err
    assert run(files, "--users", str(files["users"]), "--user-profiles", str(files["profiles"]), "--k", "2", model="content") == 0
    assert "--user-profiles has no effect" not in capsys.readouterr().err


def test_implicit_threshold_keeps_users_who_liked_nothing_and_never_recommends_a_rated_item(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # rows below the threshold were dropped before anything else: u1's b (rated 2) came back as a
    # recommendation, and u5, who rated everything low, had no row in the output and no note
    files["train"].write_text(
        TRAIN + "u5,a,1\nu5,c,2\nu5,e,1\n", encoding="utf-8"
    )
    assert run(files, "--k", "6", "--implicit-threshold", "4") == 0
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    train = pd.read_csv(files["train"], dtype={"user_id": str, "item_id": str})
    check_contract(recs, train, 6, None)  # every rated item excluded, the low ratings too
    assert sorted(recs["user_id"].unique()) == ["u1", "u2", "u3", "u4", "u5"]
    assert set(recs.loc[recs["user_id"] == "u5", "item_id"]) == {"b", "d", "f"}  # all it has not rated
    assert "b" not in set(recs.loc[recs["user_id"] == "u1", "item_id"])  # rated 2: seen, not liked
    err = capsys.readouterr().err
    assert "1 user(s) rated nothing at or above --implicit-threshold 4 ('u5')" in err and "ranks them as new users" in err
    # asked for by --users, the same
    files["users"].write_text("u5\n", encoding="utf-8")
    assert run(files, "--users", str(files["users"]), "--k", "6", "--implicit-threshold", "4") == 0
    assert set(pd.read_csv(files["out"], dtype=str)["item_id"]) == {"b", "d", "f"}


def test_timestamps_on_some_rows_only_are_read_as_none_with_a_note(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # the empty cells were refused as "not numbers or ISO-8601 dates", naming nan: the problem was their absence
    files["train"].write_text(
        "user_id,item_id,timestamp\nu1,a,1600000000\nu1,b,\nu2,b,1600000100\nu2,d,1600000200\nu3,a,\n", encoding="utf-8"
    )
    assert run(files, "--k", "2", shell=True) == 0
    err = capsys.readouterr().err
    assert "note: " + str(files["train"]) + ": 2 of 5 rows have no timestamp (lines [3, 6]): the data are read without timestamps" in err
    # an empty column is simply no timestamps, without a note
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,\nu2,b,\n", encoding="utf-8")
    assert run(files, "--k", "2", shell=True) == 0
    assert "no timestamp" not in capsys.readouterr().err
    # a value that is there but not a time is still an error naming it
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,1600000000\nu2,b,yesterday\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "bad line 3 (e.g. 'yesterday')")


def test_interactions_dated_in_the_future_get_a_note(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,1600000000\nu2,b,4102444800\nu3,c,1600000100\n", encoding="utf-8")
    assert run(files, "--k", "2") == 0
    assert "1 interaction(s) are dated after today (the newest: 2100-01-01)" in capsys.readouterr().err
    # years, not unix seconds: 2019 and 2020 are half an hour apart in 1970
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,2019\nu2,b,2020\nu3,c,2020\n", encoding="utf-8")
    assert run(files, "--k", "2") == 0
    assert "every timestamp falls in 1970 (the largest is 2,020)" in capsys.readouterr().err
    # 1e30 is past the year 9999 even as nanoseconds: it overflowed the int64 cast into garbage, silently
    files["train"].write_text("user_id,item_id,timestamp\nu1,a,1600000000000000000\nu2,b,1e30\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "timestamp '1e+30' on line 3 is beyond the year 9999")


def test_an_output_folder_that_cannot_be_written_fails_before_the_fit(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a read-only folder (or /proc, a full disk) failed only at the final write, with a traceback
    # and the fit's minutes lost
    import errno
    import tempfile

    import coldkit.batch

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    fitted = []
    monkeypatch.setattr(coldkit.batch, "build_model", lambda *a, **k: fitted.append(1))
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert run(files) == 2
    err = capsys.readouterr().err
    assert f"output path {str(files['out'])!r} cannot be written: Permission denied" in err and not fitted


def test_a_failed_write_is_one_line_not_a_traceback(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import coldkit._atomic

    def disk_full(path: object, write: object, **kw: object) -> None:  # the output's write, streamed in chunks
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(coldkit._atomic, "atomic_write", disk_full)
    assert run(files) == 1
    err = capsys.readouterr().err
    assert f"coldkit recommend: error: No space left on device ({files['out']})" in err and "Traceback" not in err


def test_with_a_threshold_a_users_list_does_not_depend_on_its_batch(files: dict[str, Path], tmp_path: Path) -> None:
    # the extra depth asked for (the most items any user rated below the threshold) was the batch's
    # maximum, so ties at the cut fell differently with other users beside it
    from coldkit.batch import recommend_files

    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(60)], "title": [f"film {j % 7} robots" for j in range(60)]})
    items.to_csv(files["items"], index=False)
    rows = [(f"u{u}", f"i{j}", int(rng.integers(1, 6))) for u in range(12) for j in rng.choice(60, 15, replace=False)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).to_csv(files["train"], index=False)
    outs = []
    for size in (3, 512):
        out = tmp_path / f"recs-{size}.csv"
        recommend_files(str(files["train"]), str(files["items"]), str(out), model="item-knn", k=40,
                        implicit_threshold=4, batch_size=size, progress=False)  # fmt: skip
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_the_new_user_note_counts_only_users_without_any_interaction(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["train"].write_text(TRAIN + "u5,a,1\n", encoding="utf-8")  # u5 liked nothing at 4
    files["users"].write_text("u5\nnewbie\n", encoding="utf-8")
    files["profiles"].write_text("user_id,text\nnewbie,robots\nu5,whales\n", encoding="utf-8")
    code = run(files, "--users", str(files["users"]), "--user-profiles", str(files["profiles"]), "--implicit-threshold", "4",
               "--encoder", "hashing", model="content")  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "1 user(s) have no interaction (1 with a profile text; 'newbie')" in err
    assert "1 user(s) rated nothing at or above --implicit-threshold 4 ('u5')" in err


def test_a_warning_from_the_loaders_keeps_its_module_for_the_users_filters(files: dict[str, Path]) -> None:
    # recommend_files recorded every warning of its load stage and warned it again with warn_explicit,
    # whose module then came from the file's path ("/.../coldkit/data/loaders"): a filter naming the
    # module coldkit.data missed it the second time, so here the "always" below lost to the "error"
    # and pandas' mixed-column warning (real on a file this long) became an exception
    from pandas.errors import DtypeWarning

    from coldkit import recommend_files

    n = 300_000  # pandas reads in chunks this long only past ~2**18 rows; the mixed column spans two
    source = np.arange(n).astype(str).astype(object)
    source[-10:] = "web"
    frame = pd.DataFrame({"user_id": np.char.add("u", (np.arange(n) % 4).astype(str)),
                          "item_id": np.array(list("abcdef"))[np.arange(n) % 6], "source": source})
    frame.to_csv(files["train"], index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")  # as `python -W error` (and this suite's own setting)
        warnings.filterwarnings("always", category=DtypeWarning, module=r"coldkit\.data")
        summary = recommend_files(files["train"], files["items"], files["out"], model="popularity", k=2,
                                  duplicates="sum", progress=False)
    assert summary["rows"] > 0
    # shown once, from where it arose (the loader's read), not from batch.py's re-warning
    assert [(w.category, Path(w.filename).name) for w in caught] == [(DtypeWarning, "loaders.py")]


# ---------------------------------------------------------------- warnings: the caller's in Python (leftovers review)

NEGATIVE = "user_id,item_id,rating\nu1,a,-1\nu2,a,-1\nu1,b,1\nu2,b,1\nu3,c,1\n"


def test_recommend_files_warns_under_the_callers_filters(files: dict[str, Path]) -> None:
    # every DataWarning became a note whatever the caller's filters said: "error" never stopped the run,
    # and a recorder saw nothing
    from coldkit.batch import recommend_files
    from coldkit.exceptions import DataWarning

    files["train"].write_text(NEGATIVE, encoding="utf-8")
    call = lambda: recommend_files(str(files["train"]), str(files["items"]), str(files["out"]), model="popularity", k=1, progress=False)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        with pytest.raises(DataWarning, match="2 interaction\\(s\\) have a negative rating"):
            call()
    assert not files["out"].exists()
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        summary = call()
    assert [(w.category, "negative rating" in str(w.message)) for w in recorded] == [(DataWarning, True)]
    assert not any("negative rating" in note for note in summary["notes"])  # a warning, not also a note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        assert call()["rows"] == 3


def test_main_in_process_leaves_coldkits_warnings_to_the_callers_recorder(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # main() replaced the display: coldkit's warnings went to stderr past a caller's catch_warnings(record=True)
    from coldkit.exceptions import DataWarning

    files["train"].write_text(NEGATIVE, encoding="utf-8")
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        assert run(files, "--k", "1") == 0
    assert [w.category for w in recorded] == [DataWarning]
    assert "negative rating" not in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # python -W error: the warning stops the run, as one line
        assert run(files, "--k", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("coldkit recommend: error: 2 interaction(s) have a negative rating") and "Traceback" not in err


def test_the_command_in_a_shell_still_prints_data_warnings_as_notes(files: dict[str, Path]) -> None:
    files["train"].write_text("user_id,item_id,rating,timestamp\nu1,a,-1,100\nu2,b,1,\nu2,a,1,200\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "coldkit", "recommend", "--interactions", str(files["train"]), "--items", str(files["items"]),
         "--model", "popularity", "--k", "1", "--out", str(files["out"]), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "text columns: title, genres"
    assert lines[1] == f"note: {files['train']}: 1 of 3 rows have no timestamp (line 3): the data are read without timestamps " \
                       "(no trending source, no time-aware validation); fill them in to use time"
    assert lines[2].startswith("note: 1 interaction(s) have a negative rating/weight")
    assert lines[3].startswith("wrote 2 recommendations for 2 user(s)") and len(lines) == 4


def test_a_read_only_output_file_is_not_replaced(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # the atomic write renamed a new file over a read-only --out (rename needs only the folder's write
    # permission, and root passes every check): results the user had protected with chmod a-w were lost
    files["out"].write_text("user_id,item_id,rank,score\nkept,a,1,1\n", encoding="utf-8")
    files["out"].chmod(0o444)
    try:
        assert run(files) == 2
        err = capsys.readouterr().err
        assert f"--out {files['out']}: the file is read-only" in err and "chmod u+w" in err
        assert files["out"].read_text(encoding="utf-8") == "user_id,item_id,rank,score\nkept,a,1,1\n"
    finally:
        files["out"].chmod(0o644)
    assert run(files) == 0  # writable again: replaced as before
    assert files["out"].read_text(encoding="utf-8").startswith("user_id,item_id,rank,score\nu1,")


def test_a_rating_that_is_no_number_is_shown_with_its_value(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # "1 rating(s) are NaN, inf or not numbers (rows [1])" left the user to find why: here a decimal comma
    files["train"].write_text('user_id,item_id,rating\nu1,a,5\nu1,b,"4,5"\nu2,b,4\n', encoding="utf-8")
    _fails_cleanly(files, capsys, "1 rating(s) are NaN, inf or not numbers (line 3, e.g. '4,5'")
    _fails_cleanly(files, capsys, "a decimal comma? write 4.5")
    files["train"].write_text("user_id,item_id,rating\nu1,a,5\nu1,b,five\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "(line 3, e.g. 'five'); drop")
    files["train"].write_text('user_id,item_id,weight\nu1,a,5\nu1,b,"13,883"\nu2,b,"1,234,567"\n', encoding="utf-8")
    _fails_cleanly(files, capsys, "(lines [3, 4], e.g. '13,883') (a thousands separator or a decimal comma? write 13883 or 13.883)")
    files["train"].write_text('user_id,item_id,weight\nu1,a,5\nu1,b,"1,234,567"\n', encoding="utf-8")
    _fails_cleanly(files, capsys, "(a thousands separator? write 1234567)")


def test_a_bad_row_after_blank_lines_is_named_by_its_line_in_the_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # the message counted data rows after the blank and bare-separator rows were skipped ("rows [2]"):
    # the user opened the file there and found another row; the line is its line in the file (header: 1)
    files["train"].write_text("user_id,item_id,rating\nu1,a,5\n\nu2,b,4\n,,\nu3,c,five\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "1 rating(s) are NaN, inf or not numbers (line 6, e.g. 'five')")
    files["train"].write_text("user_id,item_id\n\nu1,a\n\n,b\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "empty user_id at line 5")


def test_an_output_path_ending_in_a_slash_is_a_folder_not_a_file_name(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # --out results/ (a folder meant) wrote the CSV as a file named "results"
    folder = files["out"].parent / "results"
    assert main(["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]), "--model", "popularity",
                 "--out", str(folder) + "/", "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"--out {str(folder) + '/'!r} ends in '/'" in err and f"{folder}/recs.csv" in err
    assert not folder.exists()


def test_missing_standard_columns_name_the_mapping_flag_with_a_guess(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # "missing column(s) ['user_id', 'item_id']; found ['userId', 'movieId', 'rating']" did not say that columns
    # can be mapped, nor how: a new user with MovieLens-named columns was stuck at the first run
    files["train"].write_text("userId,movieId,rating\nu1,a,5\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "found ['userId', 'movieId', 'rating']; map your columns: --interaction-columns user_id=userId item_id=movieId")
    files["train"].write_text("who,what\nu1,a\n", encoding="utf-8")  # nothing to guess from: the form of the flag
    _fails_cleanly(files, capsys, "found ['who', 'what']; map your columns: --interaction-columns user_id=COLUMN item_id=COLUMN")
    files["items"].write_text("sku,title\na,Space robots\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "found ['sku', 'title']; map your columns: --item-columns item_id=sku")


def test_profiles_and_graph_files_without_the_standard_columns_name_their_mapping_flag(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # "missing column(s) ['user_id', 'text']; found ['listener', 'about_me']": the interactions and items said how
    # to map their columns, the profiles and the social graph (lastfm's userID,friendID) did not
    files["profiles"].write_text("listener,notes\nnewbie,I love robots\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "found ['listener', 'notes']; map your columns: --profile-columns user_id=listener text=COLUMN "
                   "(Python: profile_columns={'user_id': 'listener', 'text': 'COLUMN'} of recommend_files",
                   "--user-profiles", str(files["profiles"]))
    files["profiles"].write_text("listener,bio\nnewbie,I love robots\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "map your columns: --profile-columns user_id=listener text=bio", "--user-profiles", str(files["profiles"]))
    assert run(files, "--user-profiles", str(files["profiles"]), "--profile-columns", "user_id=listener", "text=bio") == 0
    # two text columns named: --profile-text-column was dropped without a word
    _fails_cleanly(files, capsys, "two profile text columns: 'bio' (--profile-columns text=..., columns=) and 'nosuch' "
                   "(--profile-text-column, text_column=); keep one", "--user-profiles", str(files["profiles"]),
                   "--profile-columns", "user_id=listener", "text=bio", "--profile-text-column", "nosuch")
    assert run(files, "--user-profiles", str(files["profiles"]), "--profile-columns", "user_id=listener", "text=bio",
               "--profile-text-column", "bio") == 0  # the same column twice: no conflict
    # a column the user named themselves and the file lacks: no guess over their own mapping
    _fails_cleanly(files, capsys, "missing column(s) ['uid']; found ['listener', 'bio']",
                   "--user-profiles", str(files["profiles"]), "--profile-columns", "user_id=uid", "text=bio")
    graph = files["train"].parent / "friends.tsv"
    graph.write_text("userID\tfriendID\nu1\tu2\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "found ['userID', 'friendID']; map your columns: --user-graph-columns user_id=userID friend_id=friendID",
                   "--user-graph", str(graph))
    assert run(files, "--user-graph", str(graph), "--user-graph-columns", "user_id=userID", "friend_id=friendID", model="friends") == 0


def test_interactions_with_items_missing_from_the_items_file_name_the_rows_and_the_way_out(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # "2 row(s) name item ids not in the item table, e.g. ['z']": no row to look at, no word of what to do
    files["train"].write_text("user_id,item_id\nu1,a\nu1,z\nu2,b\nu2,z\n", encoding="utf-8")
    _fails_cleanly(files, capsys, "2 row(s) name item ids not in the item table (lines [3, 5]), e.g. ['z']; add those items to "
                                  "the item table, or drop those rows (command line: --unknown-items drop; Python: "
                                  "unknown_items='drop' of the loaders; fit() takes the rows it is given, so filter its DataFrame)")  # fmt: skip


@pytest.mark.parametrize("threshold", [None, "3"])
def test_unknown_items_drop_reads_the_other_rows_and_says_what_it_dropped(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], threshold: str | None
) -> None:
    # a database export holds a few rows of items since deleted from the catalogue: the loader could drop
    # them (unknown_items='drop'), the command line could not, and the error's way out was to edit the file
    files["train"].write_text("user_id,item_id,rating\nu1,a,5\nu1,z,5\nu2,b,4\nu2,y,4\nu3,z,5\n", encoding="utf-8")
    extra = ("--implicit-threshold", threshold) if threshold else ()
    assert run(files, "--unknown-items", "drop", "--k", "6", *extra, shell=True) == 0
    err = capsys.readouterr().err
    assert "3 row(s) name item ids not in the item table and were dropped (lines [3, 5, 6]), e.g. ['z', 'y']" in err, err
    assert "1 user(s) had no other row ('u3')" in err, err
    recs = pd.read_csv(files["out"], dtype={"user_id": str, "item_id": str})
    assert set(recs["user_id"]) == {"u1", "u2"}  # u3's only row was dropped: not a user of this file any more
    assert not ({"z", "y"} & set(recs["item_id"]))
    assert "a" not in set(recs.loc[recs["user_id"] == "u1", "item_id"])  # seen items stay excluded
    check_contract(recs, pd.read_csv(files["train"], dtype=str), 6, None)


def test_sep_reads_semicolon_and_pipe_tables_and_names_a_separator_that_splits_nothing(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # there was no --sep: a ';' or '|' file was read only after renaming or converting it
    assert run(files) == 0
    expected = files["out"].read_text(encoding="utf-8")
    originals = {name: pd.read_csv(files[name], dtype=str, keep_default_na=False) for name in ("train", "items", "profiles")}
    graph = files["train"].with_name("friends.csv")
    for flag, sep in ((";", ";"), ("|", "|"), ("\\t", "\t"), ("tab", "\t")):
        for name, frame in originals.items():
            frame.to_csv(files[name], sep=sep, index=False)  # pandas quotes the fields holding sep ("Romance|Comedy")
        files["out"].unlink()
        assert run(files, "--sep", flag) == 0, capsys.readouterr().err
        assert files["out"].read_text(encoding="utf-8") == expected  # the same lists as from the comma files
        graph.write_text(f"user_id{sep}friend_id\nnewbie{sep}u1\n", encoding="utf-8")
        extra = ["--user-profiles", str(files["profiles"]), "--user-graph", str(graph), "--users", str(files["users"])]
        assert run(files, "--sep", flag, *extra, model="hybrid") == 0, capsys.readouterr().err
        assert "\nnewbie," in files["out"].read_text(encoding="utf-8")
    capsys.readouterr()
    # a separator that leaves the header whole: the file and both separators are named, nothing is written
    _fails_cleanly(files, capsys, "items.csv: the separator ';' (--sep) does not split the header 'item_id\\ttitle\\tgenres'", "--sep", ";")
    with pytest.raises(SystemExit):
        run(files, "--sep", ";;")
    assert "argument --sep: ';;' is not one character" in capsys.readouterr().err


_BLOCK_MID_WRITE = """
import sys, time
from pathlib import Path

import coldkit._atomic as atomic
from coldkit.cli import main

ready = Path(sys.argv[1])
real = atomic.atomic_write


def blocking(path, write, **kw):
    def slow(handle):
        write(handle)  # the new output is in the temp file, not yet renamed over the old one
        handle.flush()
        ready.write_text("writing", encoding="utf-8")
        time.sleep(300)  # SIGTERM arrives here
    return real(path, slow, **kw)


atomic.atomic_write = blocking
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_during_the_write_leaves_no_temp_file_and_the_old_output(files: dict[str, Path], tmp_path: Path) -> None:
    # Python's default SIGTERM (kill, a container stop, a job timeout) ended the process on the spot:
    # the atomic writer's cleanup (run for Ctrl-C) never ran and a .tmp-* file was left beside the output
    import os
    import signal
    import subprocess
    import sys
    import time

    files["out"].write_text("previous results\n", encoding="utf-8")
    ready = tmp_path / "ready"
    script = tmp_path / "block.py"
    script.write_text(_BLOCK_MID_WRITE, encoding="utf-8")
    argv = ["recommend", "--interactions", str(files["train"]), "--items", str(files["items"]), "--model", "popularity",
            "--out", str(files["out"]), "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(ready), *argv], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # the hook says when the temp file holds the new output: no guessed delay
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the write never started"
            time.sleep(0.05)
        assert [p.name for p in files["out"].parent.glob(".tmp-*")], "the write is under way"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "coldkit recommend: terminated (SIGTERM)" in err
    assert list(files["out"].parent.glob(".tmp-*")) == []
    assert files["out"].read_text(encoding="utf-8") == "previous results\n"


def test_the_sigterm_handler_is_the_callers_again_after_a_command(files: dict[str, Path]) -> None:
    import signal

    mine = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert run(files) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
