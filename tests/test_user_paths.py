"""A leading ``~`` in a path the user gives (Python, a quoted shell word) is their home, on every read and write.

The reference is the path written out by hand under a fake $HOME: the file read through ``~/...`` must be
the one at ``$HOME/...``, an output given as ``~/...`` must appear there (and no ``~`` folder in the
working directory), and an error names the expanded path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coldkit.cli import main
from coldkit.exceptions import InvalidInputError

ITEMS = "item_id,title\na,Space robots adventure\nb,Romantic comedy in Paris\nc,Robots fight in space\nd,Paris love story\n"
TRAIN = "user_id,item_id\nu1,a\nu1,b\nu2,b\nu2,d\nu3,a\n"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home with the tables in it; the working directory is elsewhere (a literal ~ would land there)."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "items.csv").write_text(ITEMS, encoding="utf-8")
    (home / "data" / "interactions.csv").write_text(TRAIN, encoding="utf-8")
    (home / "data" / "users.txt").write_text("u1\nu2\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def test_loaders_read_a_path_under_home(home: Path) -> None:
    from coldkit.data.loaders import load_interactions, load_items, read_id_list

    catalog = load_items("~/data/items.csv")
    assert list(catalog.item_ids) == ["a", "b", "c", "d"]
    train = load_interactions("~/data/interactions.csv", catalog)
    assert train.n_users == 3 and train.matrix.nnz == 5
    assert read_id_list("~/data/users.txt") == ["u1", "u2"]


def test_a_missing_file_under_home_is_named_expanded(home: Path) -> None:
    from coldkit.data.loaders import load_items

    with pytest.raises(InvalidInputError) as info:
        load_items("~/data/nope.csv")
    assert str(home / "data" / "nope.csv") in str(info.value)
    assert "~" not in str(info.value)


def test_a_data_folder_under_home(home: Path) -> None:
    import coldkit

    dataset = coldkit.load_dataset("~/data")
    assert dataset.interactions.n_users == 3


def test_recommend_files_reads_and_writes_under_home(home: Path) -> None:
    from coldkit.batch import recommend_files

    summary = recommend_files("~/data/interactions.csv", "~/data/items.csv", "~/out/recs.csv", model="popularity", k=2,
                              users="~/data/users.txt", progress=False)
    written = home / "out" / "recs.csv"
    assert written.is_file() and summary["out"] == str(written)
    assert written.read_text(encoding="utf-8").startswith("user_id,item_id,rank,score\n")
    assert not Path("~").exists()  # no folder named ~ in the working directory


def test_cli_quoted_tilde_paths(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # what a shell passes for --items "~/data/items.csv" or --out=~/recs.csv: a literal ~
    code = main(["recommend", "--interactions", "~/data/interactions.csv", "--items", "~/data/items.csv",
                 "--model", "popularity", "--k", "2", "--quiet", "--out=~/recs.csv"])
    assert code == 0, capsys.readouterr().err
    assert (home / "recs.csv").is_file() and not Path("~").exists()


def test_evaluate_out_under_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = home / "bigger"  # enough users for a warm split
    folder.mkdir()
    folder.joinpath("items.csv").write_text("item_id,title\n" + "".join(f"i{j},title {j}\n" for j in range(40)), encoding="utf-8")
    folder.joinpath("interactions.csv").write_text(
        "user_id,item_id\n" + "".join(f"u{u},i{(u * 7 + j * 3) % 40}\n" for u in range(30) for j in range(8)), encoding="utf-8"
    )
    code = main(["evaluate", "--data", "~/bigger", "--models", "popularity", "--k", "2", "--no-chart", "--quiet",
                 "--protocol", "warm", "--out", "~/results"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((home / "results" / "results.json").read_text(encoding="utf-8"))
    assert saved["settings"]["data"]["source"] == str(home / "bigger")
    assert not Path("~").exists()


def test_item_vectors_and_media_root_under_home(home: Path) -> None:
    from coldkit.data.vectors import load_item_vectors
    from coldkit.media import check_media_root

    np.save(home / "data" / "v.npy", np.eye(2, dtype=np.float32))
    (home / "data" / "v.ids.txt").write_text("a\nb\n", encoding="utf-8")
    assert len(load_item_vectors("~/data/v.npy")) == 2
    assert check_media_root("~/data") == str((home / "data").resolve())


def test_cache_dir_under_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "vectors").mkdir()
    assert main(["cache", "--dir", "~/vectors", "size", "--bytes"]) == 0, capsys.readouterr().err
    (home / "afile").write_text("x", encoding="utf-8")
    assert main(["cache", "--dir", "~/afile", "list"]) == 2
    assert str(home / "afile") in capsys.readouterr().err
