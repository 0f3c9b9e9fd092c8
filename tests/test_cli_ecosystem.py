"""CLI hitches of issue 15: list flags, --help listing models, labels as model names, encoders used, text columns."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coldkit.models as models
from coldkit.cli import main
from coldkit.commands import serve
from coldkit.commands._flags import list_flag
from coldkit.commands.evaluate import choices_from_specs, encoders_line
from coldkit.data.loaders import catalog_from_frame, load_items, text_like_columns
from coldkit.evaluation.runner import ModelChoice, encoders_used
from coldkit.exceptions import InvalidInputError

DATA = Path("/work/shared/data")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["title", "genres"], ["title", "genres"]),
        (["title,genres"], ["title", "genres"]),
        (["title, genres", "tags"], ["title", "genres", "tags"]),
        ("title,genres", ["title", "genres"]),
        (None, None),
    ],
)
def test_list_flag_reads_spaces_and_commas_alike(values: list[str] | str | None, expected: list[str] | None) -> None:
    assert list_flag(values) == expected


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coldkit")
    serve.register(parser.add_subparsers())
    return parser


def test_serve_build_text_columns_space_separated_like_recommend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(12)],
                          "title": [f"film {i} about {w}" for i, w in enumerate(["space", "love", "war"] * 4)],
                          "genres": ["Sci-Fi", "Romance", "War"] * 4})
    items.to_csv(tmp_path / "items.csv", index=False)
    rows = [(f"u{u}", f"m{(u + j) % 10}") for u in range(8) for j in range(3)]
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(tmp_path / "ratings.csv", index=False)
    base = ["serve", str(tmp_path / "idx"), "--build", "--interactions", str(tmp_path / "ratings.csv"),
            "--items", str(tmp_path / "items.csv"), "--encoder", "hashing"]
    for form in (["title", "genres"], ["title,genres"]):
        assert _serve_parser().parse_args([*base, "--text-columns", *form]).text_columns == form
    # the list reaches the loader: an unknown column is named
    bad = _serve_parser().parse_args([*base, "--text-columns", "title", "plot"])
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['plot'\]"):
        bad.func(bad)
    ok = _serve_parser().parse_args([*base, "--text-columns", "title", "genres"])
    assert ok.func(ok) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 12


def test_serve_build_reads_movielens_column_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # docs/serving.md builds from ratings.csv + movies.csv: MovieLens names them userId / movieId, and
    # `serve --build` had no column mapping (recommend and evaluate have) -> "missing column(s) ['item_id']"
    pd.DataFrame({"movieId": [1, 2, 3, 4], "title": ["Heat", "Alien", "Up", "Jaws"],
                  "genres": ["Crime", "Sci-Fi", "Animation", "Horror"]}).to_csv(tmp_path / "movies.csv", index=False)
    rows = [(u, m) for u in range(1, 7) for m in (1, 2, 3) if (u + m) % 4]
    pd.DataFrame(rows, columns=["userId", "movieId"]).to_csv(tmp_path / "ratings.csv", index=False)
    base = ["serve", str(tmp_path / "idx"), "--build", "--interactions", str(tmp_path / "ratings.csv"),
            "--items", str(tmp_path / "movies.csv"), "--encoder", "hashing"]
    # the item_id rename of --interaction-columns also names the item file's id column
    assert main([*base, "--interaction-columns", "user_id=userId", "item_id=movieId"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert (built["items"], built["users"]) == (4, 6)
    assert main([*base, "--force", "--interaction-columns", "user_id=userId", "item_id=movieId",
                 "--item-columns", "item_id=movieId"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 4
    assert main([*base, "--force", "--interaction-columns", "user_id=userId", "item_id=movieId",
                 "--item-columns", "item_id=film"]) == 2
    assert "missing column(s) ['film']" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "idx"), "--item-columns", "item_id=movieId"]) == 2
    assert "--item-columns only applies with --build" in capsys.readouterr().err


def test_default_text_columns_skip_ids_urls_numbers() -> None:
    frame = pd.DataFrame(
        {
            "item_id": ["1", "2", "3", "4"],
            "title": ["Heat", "Se7en", "Alien", "Up"],
            "url": ["http://x.org/1", "https://x.org/2", None, "http://x.org/4"],
            "homepage": ["www.a.com", "www.b.com", "c.org/x", "www.d.net"],
            "year": ["1995", "1995", "1979", "2009"],
            "imdbId": ["0113277", "0114369", "0078748", "1049413"],
            "asin": ["B00X1A", "B00X2B", "B00X3C", "B00X4D"],
            "movie_id": ["a", "b", "c", "d"],
            "image": ["p.jpg", "q.jpg", "r.jpg", "s.jpg"],
            "tags": ["heist", "serial killer", "space", "balloons"],
            "valid": ["yes", "no", "yes", "no"],  # 'id' at the end of a word is not an id column
            "empty": [None, None, None, None],
        }
    )
    assert text_like_columns(frame) == ["title", "tags", "valid"]
    assert catalog_from_frame(frame).text_columns == ("title", "tags", "valid")
    with pytest.raises(InvalidInputError, match="no text-like column"):
        catalog_from_frame(frame[["item_id", "url", "year"]])
    # a text column left blank on every row is named as empty, not "no text-like column" of a table that has one
    with pytest.raises(InvalidInputError, match=r"no text-like column besides item_id: column\(s\) \['empty'\] are empty on every row, and ids, URLs and numbers do not count"):
        catalog_from_frame(frame[["item_id", "url", "year", "empty"]])
    blank = frame[["item_id", "year"]].assign(title=["", "  ", None, ""])
    with pytest.raises(InvalidInputError, match=r"\['title'\] are empty on every row"):
        catalog_from_frame(blank)
    assert catalog_from_frame(frame[["item_id", "title", "empty"]]).text_columns == ("title",)  # one with text: fine


@pytest.mark.skipif(not (DATA / "lastfm-2k" / "artists.dat").is_file(), reason="needs the shared lastfm-2k data")
def test_lastfm_urls_stay_out_of_the_item_text() -> None:
    catalog = load_items(DATA / "lastfm-2k" / "artists.dat", sep="\t", columns={"item_id": "id"})
    assert catalog.text_columns == ("name",)  # url and pictureURL used to be item text


@pytest.mark.parametrize(
    "spec",
    [
        "content:encoder=hashing",
        "content[encoder=hashing]",
        "content:encoder=hashing,whitening=none,text_weight=0.5",
        'hybrid:encoder=hashing,weights={"cf_knn":0,"content":1}',
        'content:encoder=["hashing","hashing"],encoder_weights=[1,2]',
        'random:seed="7"',
    ],
)
def test_table_labels_parse_back_to_the_same_choice(spec: str) -> None:
    choice = ModelChoice.parse(spec)
    again = ModelChoice.parse(choice.label)
    assert again == choice
    assert again.name in models.available()


def test_json_options_keep_their_commas_and_bad_brackets_are_named() -> None:
    choice = ModelChoice.parse('hybrid:encoder=hashing,weights={"cf_knn":0,"content":1}')
    assert choice.options == {"encoder": "hashing", "weights": {"cf_knn": 0, "content": 1}}
    with pytest.raises(InvalidInputError, match="unbalanced"):
        ModelChoice.parse('hybrid:weights={"cf_knn":0')
    with pytest.raises(InvalidInputError, match="closing"):
        ModelChoice.parse("content[encoder=hashing")


def test_default_set_labels_work_as_model_names() -> None:
    choices = choices_from_specs(["content-tfidf", "popularity", "content[encoder=hashing]"], "hashing")
    assert [(c.label, c.name, dict(c.options)) for c in choices] == [
        ("content-tfidf", "content", {"encoder": "hashing"}),
        ("popularity", "popularity", {}),
        ("content[encoder=hashing]", "content", {"encoder": "hashing"}),
    ]


def test_evaluate_help_lists_every_model_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["evaluate", "--help"])
    assert exit_code.value.code == 0
    out = capsys.readouterr().out
    for name in models.available():
        assert f"\n  {name} " in out, name
    assert "half_life_days=30.0" in out and "whitening=center" in out
    assert "content-tfidf = content:encoder=hashing" in out


def test_encoders_line_names_what_the_fitted_models_used() -> None:
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user_id": rng.integers(0, 10, 60).astype(str), "item_id": rng.integers(0, 8, 60).astype(str)})
    items = pd.DataFrame({"item_id": [str(i) for i in range(8)], "title": [f"film about topic {w}" for w in "abcdefgh"]})
    content = models.create("content", encoder="hashing").fit(ratings, items=items, duplicates="sum")
    pop = models.create("popularity").fit(ratings, duplicates="sum")
    used = {"content": encoders_used(content), "pop": encoders_used(pop)}
    assert encoders_line(used, ["content", "pop"]) == "content=hashing, pop=none"


def test_recommend_option_takes_a_json_dict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(12)],
                          "title": [f"film {i} about {w}" for i, w in enumerate(["space", "love", "war"] * 4)]})
    items.to_csv(tmp_path / "items.csv", index=False)
    rows = [(f"u{u}", f"m{(u + j) % 10}") for u in range(8) for j in range(3)]
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(tmp_path / "ratings.csv", index=False)
    argv = ["recommend", "--interactions", str(tmp_path / "ratings.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "hybrid", "--encoder", "hashing", "--k", "3", "--out", str(tmp_path / "recs.csv"), "--no-progress"]
    assert main([*argv, "--option", 'weights={"cf_knn": 0}']) == 0
    assert "weights={'cf_knn': 0}" in capsys.readouterr().err  # a dict reached the model, not a string
    assert main([*argv, "--option", "weights={cf_knn: 0}"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def _shop_folder(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(1)
    words = ["red", "blue", "wool", "cotton", "shirt", "scarf", "boots", "hat"]
    items = pd.DataFrame({
        "sku": [f"S{i:03d}" for i in range(60)],
        "name": [f"{words[i % 8]} {words[(i * 3 + 1) % 8]} {words[(i * 5 + 2) % 8]}" for i in range(60)],
        "url": [f"https://shop.example.com/p/{i}" for i in range(60)],
        "price": [f"{10 + i}.99" for i in range(60)],
    })
    items.to_csv(folder / "items.csv", index=False)
    pairs = sorted({(f"c{u}", f"S{int(i):03d}") for u in range(40) for i in rng.integers(0, 60, 8)})
    pd.DataFrame(pairs, columns=["customer", "sku"]).to_csv(folder / "interactions.csv", index=False)
    return folder


def test_generic_folder_with_a_column_mapping(tmp_path: Path) -> None:
    from coldkit.data import load_dataset

    folder = _shop_folder(tmp_path / "shop")
    data = load_dataset(folder, columns={"user_id": "customer", "item_id": "sku"}, item_columns={"item_id": "sku"})
    assert data.catalog.text_columns == ("name",)  # not the URL, not the prices
    assert data.interactions.n_users == 40 and data.interactions.n_items == 60
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['user_id', 'item_id'\]"):
        load_dataset(folder, item_columns={"item_id": "sku"})
    (folder / "items.csv").unlink()
    with pytest.raises(InvalidInputError, match="missing: items"):
        load_dataset(folder)
    with pytest.raises(InvalidInputError, match="named data set"):
        load_dataset("ml-latest-small", columns={"user_id": "userId"})


def test_evaluate_reads_a_generic_folder_and_names_what_it_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _shop_folder(tmp_path / "shop")
    code = main(["evaluate", "--data", str(folder), "--interaction-columns", "user_id=customer", "item_id=sku",
                 "--item-columns", "item_id=sku", "--models", "popularity", "content:encoder=hashing",
                 "--k", "5", "--no-chart", "--no-progress", "--out", str(tmp_path / "out")])
    assert code == 0
    captured = capsys.readouterr()
    assert "text columns: name\n" in captured.err
    assert "encoders used: popularity=none, content[encoder=hashing]=hashing" in captured.err
    assert "content[encoder=hashing]" in captured.out
    assert json.loads((tmp_path / "out" / "results.json").read_text())["dataset"]["name"] == "shop"


def test_user_profiles_take_a_column_mapping(tmp_path: Path) -> None:
    from coldkit.data.loaders import load_user_profiles

    path = tmp_path / "users.csv"
    pd.DataFrame({"uid": ["a", "b"], "bio": ["likes jazz", "likes films"]}).to_csv(path, index=False)
    assert load_user_profiles(path, columns={"user_id": "uid", "text": "bio"}) == {"a": "likes jazz", "b": "likes films"}
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['text'\]"):
        load_user_profiles(path, columns={"user_id": "uid"})
    with pytest.raises(InvalidInputError, match="unknown standard name"):
        load_user_profiles(path, columns={"user": "uid"})


def test_serve_build_reads_a_pipe_separated_pair_of_files_with_sep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # serve --build read ',' (.csv) or tab (.tsv) alone; --sep passes the separator to both readers
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(6)], "title": [f"film {i}, about things" for i in range(6)]})
    items.to_csv(tmp_path / "items.csv", sep="|", index=False)
    pd.DataFrame([(f"u{u}", f"m{(u + j) % 6}") for u in range(5) for j in range(2)],
                 columns=["user_id", "item_id"]).to_csv(tmp_path / "ratings.csv", sep="|", index=False)
    base = ["serve", str(tmp_path / "idx"), "--build", "--interactions", str(tmp_path / "ratings.csv"),
            "--items", str(tmp_path / "items.csv"), "--encoder", "hashing"]
    without = _serve_parser().parse_args(base)
    with pytest.raises(InvalidInputError, match=r"looks '\|'-separated: .*pass --sep '\|'"):
        without.func(without)
    args = _serve_parser().parse_args([*base, "--sep", "|"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 6
    served = _serve_parser().parse_args(["serve", str(tmp_path / "idx"), "--sep", "|"])
    with pytest.raises(InvalidInputError, match=r"--sep only applies with --build"):
        served.func(served)
