"""``coldkit evaluate``: table on stdout, JSON + PNG in --out, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coldkit.cli import main
from coldkit.exceptions import DataWarning


@pytest.fixture(scope="module")
def movie_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MovieLens-layout folder whose users each like one genre, so content can learn it."""
    folder = tmp_path_factory.mktemp("movies")
    rng = np.random.default_rng(0)
    genres = ["Western", "Horror", "Romance", "Animation"]
    movies = ["movieId,title,genres"]
    for i in range(400):
        g = genres[i % 4]
        movies.append(f"{i},{g} story number {i} ({1980 + i % 30}),{g}")
    ratings = ["userId,movieId,rating,timestamp"]
    for u in range(60):
        liked = [i for i in range(400) if i % 4 == u % 4]
        for i in rng.choice(liked, size=40, replace=False):
            ratings.append(f"{u},{i},{rng.integers(1, 6)},{rng.integers(10**8, 10**9)}")
    (folder / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    return folder


def test_evaluate_writes_table_json_and_png(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    code = main(
        ["evaluate", "--data", str(movie_folder), "--models", "popularity", "content:encoder=hashing,whitening=none",
         "--seeds", "2", "--k", "5", "10", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "recall@10" in captured.out and "±" in captured.out
    assert "encoder=" in captured.err
    payload = json.loads((out / "results.json").read_text())
    assert payload["models"] == ["popularity", "content[encoder=hashing,whitening=none]"]
    summary = {(r["model"], r["task"], r["metric"]): r["mean"] for r in payload["summary"]}
    # Users like one genre: content matching must find the held-out cold items of that genre far
    # better than popularity, which cannot rank items nobody has interacted with.
    content = summary[("content[encoder=hashing,whitening=none]", "cold", "recall@10")]
    assert content > 2 * summary[("popularity", "cold", "recall@10")] and content > 0.3
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / "results.txt").read_text()
    assert text.startswith("# coldkit ") and "\nmodel " in text


def test_evaluate_cold_user_protocol(movie_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cu"
    code = main(
        ["evaluate", "--data", str(movie_folder), "--protocol", "cold-user", "--models", "popularity",
         "--reveal", "0", "2", "--out", str(out), "--no-progress", "--no-chart"]
    )  # fmt: skip
    assert code == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["tasks"] == ["n=0", "n=2"]
    assert not (out / "results.png").exists()


def test_evaluate_errors_are_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data", "no-such-set", "--out", str(tmp_path)]) == 2
    assert "unknown data set 'no-such-set'" in capsys.readouterr().err
    # a path is not a misspelt name: say the folder is not there
    missing = tmp_path / "nowhere" / "data"
    assert main(["evaluate", "--data", str(missing), "--out", str(tmp_path)]) == 2
    assert f"{missing}: no such folder" in capsys.readouterr().err
    assert main(["evaluate", "--models", "nope", "--out", str(tmp_path), "--max-users", "5"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_python_dash_m_entry_point(movie_folder: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "coldkit", "evaluate", "--data", str(movie_folder), "--models", "popularity",
         "--k", "5", "--out", str(tmp_path / "m"), "--no-chart", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "recall@5" in proc.stdout


def _evaluate_folder_with(movie_folder: Path, tmp_path: Path, layout: str, extra_rows: str) -> list[str]:
    """``coldkit evaluate`` arguments for a copy of ``movie_folder`` (``generic`` file names with a column
    mapping, or MovieLens's own) whose ratings end with ``extra_rows``."""
    folder = tmp_path / layout
    folder.mkdir()
    names = ("interactions.csv", "items.csv") if layout == "generic" else ("ratings.csv", "movies.csv")
    (folder / names[0]).write_text((movie_folder / "ratings.csv").read_text(encoding="utf-8") + extra_rows, encoding="utf-8")
    (folder / names[1]).write_text((movie_folder / "movies.csv").read_text(encoding="utf-8"), encoding="utf-8")
    mapping = ["--interaction-columns", "user_id=userId", "item_id=movieId", "--item-columns", "item_id=movieId"]
    args = ["evaluate", "--data", str(folder), "--models", "popularity", "--out", str(tmp_path / "out"), "--no-progress", "--no-chart"]
    return args + (mapping if layout == "generic" else [])


@pytest.mark.parametrize("layout", ["generic", "movielens"])
def test_evaluate_duplicates_flag(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str) -> None:
    # The duplicate-rows error told an evaluate user to pass --duplicates, which only recommend had.
    first_row = (movie_folder / "ratings.csv").read_text(encoding="utf-8").splitlines()[1]
    args = _evaluate_folder_with(movie_folder, tmp_path, layout, first_row + "\n")
    assert main(args) == 2
    err = capsys.readouterr().err
    # the pair named by the file's own columns (userId, movieId), as mapped: the file has no user_id column
    assert "coldkit evaluate: error:" in err and "duplicate (userId (user_id), movieId (item_id))" in err and "--duplicates" in err
    assert main([*args, "--duplicates", "max"]) == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["models"] == ["popularity"]


@pytest.mark.parametrize("layout", ["generic", "movielens"])
def test_evaluate_unknown_items_flag(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str) -> None:
    # the unknown-item error names --unknown-items drop (coldkit recommend has it): evaluate must take it too
    args = _evaluate_folder_with(movie_folder, tmp_path, layout, "0,9999,5,123456789\n")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "coldkit evaluate: error:" in err and "not in the item table" in err and "--unknown-items drop" in err
    with pytest.warns(DataWarning, match=r"1 row\(s\) name item ids not in the item table and were dropped \(line 2402\), e\.g\. \['9999'\]"):
        assert main([*args, "--unknown-items", "drop"]) == 0
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert payload["dataset"]["interactions"] == 2400 and payload["settings"]["data"]["unknown_items"] == "drop"


def test_warm_temporal_without_timestamps_names_the_protocol_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id\n" + "".join(f"u{u},i{i}\n" for u in range(10) for i in range(u % 5, 8)), encoding="utf-8")
    (folder / "items.csv").write_text("item_id,title\n" + "".join(f"i{i},thing {i}\n" for i in range(8)), encoding="utf-8")
    args = ["evaluate", "--data", str(folder), "--protocol", "warm-temporal", "--models", "popularity", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "coldkit evaluate: error:" in err and "--protocol warm-temporal) needs timestamps: a timestamp column" in err, err


def test_a_huge_seed_count_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --seeds 1000000000000 built a list of 10^12 seeds: MemoryError traceback (found by test_fuzz_cli)
    assert main(["evaluate", "--seeds", "1000000000000", "--models", "popularity", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "coldkit evaluate: error: --seeds must be at most 10000" in err, err


def test_reveal_outside_the_cold_user_protocol_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --reveal 1 with the default cold-item protocol was ignored without a word
    args = ["evaluate", "--models", "popularity", "--reveal", "1", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 2
    assert "coldkit evaluate: error: --reveal applies to --protocol cold-user, not cold-item" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_unknown_encoder_and_an_empty_out_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a misspelt --encoder was recorded in results.json where no chosen model reads text; --out '' wrote into the cwd
    args = ["evaluate", "--models", "popularity", "--encoder", "nosuch", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 2
    assert "coldkit evaluate: error: unknown encoder 'nosuch'; available: " in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--models", "popularity", "--out", "", "--no-progress"]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_one_model_under_two_spellings_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # fitted twice, and the headline compared the hybrid with itself (+0.0 %, p = 1)
    for models, named in (
        (["popularity", "hybrid", "hybrid:encoder=hashing"], "--models hybrid and hybrid[encoder=hashing]"),
        (["ease:l2=5,binarize=true", "ease:binarize=true,l2=5"], "--models ease[l2=5,binarize=true] and ease[binarize=true,l2=5]"),
        (["ease:l2=5", "ease:l2=5.0"], "--models ease[l2=5] and ease[l2=5.0]"),
        # an option left out is its default: ease's l2 from its constructor
        (["ease", "ease:l2=300"], "--models ease and ease[l2=300]"),
    ):
        args = ["evaluate", "--encoder", "hashing", "--models", *models, "--out", str(tmp_path / "o"), "--no-progress"]
        assert main(args) == 2
        assert f"coldkit evaluate: error: {named} are the same model with the same options; give it once" in capsys.readouterr().err
    # without --encoder, the hybrid's encoder is the default one (its encoder=None)
    from coldkit.models.registry import default_encoder_name, model_defaults

    assert model_defaults("ease")["l2"] == 300 and model_defaults("hybrid")["encoder"] is None
    default = default_encoder_name()
    for models, named in ((["hybrid", f"hybrid:encoder={default}"], f"--models hybrid and hybrid[encoder={default}]"),):
        args = ["evaluate", "--models", *models, "--out", str(tmp_path / "o"), "--no-progress"]
        assert main(args) == 2
        assert f"coldkit evaluate: error: {named} are the same model with the same options; give it once" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    # other options are other models; the Python API's labelled lists may repeat one on purpose
    from coldkit.commands.evaluate import _refuse_one_model_twice
    from coldkit.evaluation.runner import ModelChoice, _as_choices

    _refuse_one_model_twice([ModelChoice.parse(m) for m in ("ease:l2=5", "ease:l2=6", "ease")])
    _refuse_one_model_twice([ModelChoice.parse(m) for m in ("hybrid", "hybrid:encoder=hashing", "content")])
    assert len(_as_choices({"a": lambda: None, "b": lambda: None})) == 2


def test_a_negative_reveal_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # it was the library's "reveal must hold integers >= 0, got int -1", naming no flag
    args = ["evaluate", "--models", "popularity", "--protocol", "cold-user", "--reveal", "1", "-1", "--out", str(tmp_path / "o"),
            "--no-progress"]
    assert main(args) == 2
    assert "coldkit evaluate: error: --reveal counts must be >= 0 (clicks revealed per cold user), got 1 -1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_items_table_of_ids_alone_serves_models_that_read_no_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # It was refused for every model, pointing to --item-vectors (a `coldkit recommend` flag), although
    # popularity reads no item text; `coldkit recommend` already accepted such a table.
    folder = tmp_path / "shop"
    folder.mkdir()
    rows = [(u, i) for u in range(12) for i in range(10) if (u + i) % 3]
    (folder / "interactions.csv").write_text("user_id,item_id\n" + "".join(f"u{u},i{i}\n" for u, i in rows), encoding="utf-8")
    (folder / "items.csv").write_text("item_id\n" + "".join(f"i{i}\n" for i in range(10)), encoding="utf-8")
    out = tmp_path / "o"
    base = ["evaluate", "--data", str(folder), "--out", str(out), "--no-progress", "--no-chart"]
    assert main([*base, "--models", "popularity"]) == 0
    assert "text columns: none (no chosen model reads item text)" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["models"] == ["popularity"]
    # a model that takes an encoder still needs the text, and the error names a flag that exists
    assert main([*base, "--models", "content:encoder=hashing"]) == 2
    err = capsys.readouterr().err
    assert "no text-like column besides item_id" in err and "coldkit recommend --item-vectors" in err


def test_data_notes_are_printed_before_an_error_that_follows_from_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one empty timestamp cell makes the data timeless (a note); popularity-recent then failed with "these have
    # none" of a file that has a timestamp column, and the note saying why was kept for the results and lost
    folder = tmp_path / "shop"
    folder.mkdir()
    rows = [(u, i) for u in range(12) for i in range(10) if (u + i) % 3]
    lines = [f"u{u},i{i},{1000 + 10 * u + i}" for u, i in rows]
    lines[3] = lines[3].rsplit(",", 1)[0] + ","  # data line 4 (file line 5) has no timestamp
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (folder / "items.csv").write_text("item_id\n" + "".join(f"i{i}\n" for i in range(10)), encoding="utf-8")
    args = ["evaluate", "--data", str(folder), "--models", "popularity-recent", "--out", str(tmp_path / "o"), "--no-progress", "--no-chart"]
    import warnings

    def interpreter_display(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():  # as in a shell: Python's default filters and display (pytest makes warnings errors)
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.showwarning = interpreter_display
        assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    note = [n for n, line in enumerate(err) if line.startswith("note: ") and "have no timestamp (line 5)" in line]
    error = [n for n, line in enumerate(err) if line.startswith("coldkit evaluate: error: ") and "needs a timestamp on every interaction" in line]
    assert note and error and note[0] < error[0] and error[0] == len(err) - 1, err  # the error stays the last line


@pytest.mark.parametrize("layout", ["generic", "movielens"])
def test_evaluate_encoding_flag(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str) -> None:
    # The latin-1 error told an evaluate user to pass --encoding latin-1, which only recommend had.
    from coldkit.data.datasets import load_dataset

    folder = tmp_path / layout
    folder.mkdir()
    names = ("interactions.csv", "items.csv") if layout == "generic" else ("ratings.csv", "movies.csv")
    (folder / names[0]).write_bytes((movie_folder / "ratings.csv").read_bytes())
    movies = (movie_folder / "movies.csv").read_text(encoding="utf-8").replace("Western story number 0 ", "Café western number 0 ")
    (folder / names[1]).write_bytes(movies.encode("latin-1"))
    mapping = ["--interaction-columns", "user_id=userId", "item_id=movieId", "--item-columns", "item_id=movieId"]
    args = ["evaluate", "--data", str(folder), "--models", "popularity", "--out", str(tmp_path / "out"), "--no-progress", "--no-chart"]
    args += mapping if layout == "generic" else []
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "coldkit evaluate: error:" in err and "--encoding latin-1" in err
    assert main([*args, "--encoding", "latin-1"]) == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["models"] == ["popularity"]
    columns = {"user_id": "userId", "item_id": "movieId"} if layout == "generic" else None
    data = load_dataset(folder, encoding="latin-1", columns=columns, item_columns={"item_id": "movieId"} if columns else None)
    assert "Café western number 0" in str(data.catalog.table["title"].iloc[0])


def test_results_record_the_data_folder_its_columns_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # results.json named the data set "shop" and nothing else: not the folder, not the columns mapped,
    # not the options, so a result found later could not be traced to its files or run again
    folder = tmp_path / "shop"
    folder.mkdir()
    rows = [(u, i) for u in range(30) for i in range(40) if (u + i) % 3 == 0]
    (folder / "interactions.csv").write_text("customer,sku\n" + "".join(f"c{u},s{i}\n" for u, i in rows), encoding="utf-8")
    (folder / "items.csv").write_text("sku,name,notes\n" + "".join(f"s{i},thing {i},x\n" for i in range(40)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "--data", "shop", "--interaction-columns", "user_id=customer", "item_id=sku", "--text-columns", "name",
            "--models", "popularity", "--k", "5", "--out", "o", "--no-progress", "--no-chart"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads((tmp_path / "o" / "results.json").read_text())
    assert payload["dataset"]["source"] == str(folder.resolve())
    read = payload["settings"]["data"]
    assert read["source"] == str(folder.resolve()) and read["data"] == "shop"
    assert read["interaction_columns"] == {"user_id": "customer", "item_id": "sku"} and read["item_columns"] is None
    assert read["text_columns"] == ["name"] and read["duplicates"] == "error" and read["encoding"] is None
    assert payload["settings"]["encoder"] is None  # no model read text: the default encoder's name was recorded
    command = payload["settings"]["command"]
    assert command["argv"] == ["coldkit", *argv] and command["working_directory"] == str(tmp_path)
    assert command["options"]["k"] == [5] and command["options"]["seeds"] == 1 and command["options"]["protocol"] == "cold-item"
    header = (tmp_path / "o" / "results.txt").read_text().split("\n\n")[0].splitlines()
    assert f"# read from {folder.resolve()}; interaction columns user_id=customer item_id=sku; text columns name" in header
    assert "# command: coldkit evaluate --data shop --interaction-columns user_id=customer item_id=sku --text-columns name " \
           "--models popularity --k 5 --out o --no-progress --no-chart" in header


class _ProbeEncoderPlugin:
    """A hashing encoder under another name, so a test can see which encoder a model was given."""

    @staticmethod
    def _build(**options: object) -> object:
        from coldkit.builtins.encoders import HashingEncoder

        class ProbeEncoder(HashingEncoder):
            name = "probe-hashing"

        return ProbeEncoder(**options)  # type: ignore[arg-type]

    @__import__("coldkit").hookimpl
    def coldkit_encoders(self) -> list[object]:
        import coldkit

        return [coldkit.EncoderSpec("probe-hashing", "hashing under another name", self._build, {"text"})]


def test_an_explicit_encoder_reaches_the_models_that_name_none(
    movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fresh_plugins: None
) -> None:
    # --encoder hashing --models hybrid ran the hybrid with MiniLM (its own default), while the first line
    # said "default encoder=hashing (for models that name none)"; content and cold-ridge kept their own
    # hashing whatever --encoder said. A model that names its encoder keeps it.
    from coldkit.plugins.manager import register_plugin

    register_plugin(_ProbeEncoderPlugin(), "probe")
    out = tmp_path / "enc"
    code = main(
        ["evaluate", "--data", str(movie_folder), "--models", "cold-ridge", "content:encoder=hashing",
         "--encoder", "probe-hashing", "--seeds", "1", "--k", "10", "--out", str(out), "--no-progress", "--no-chart"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    payload = json.loads((out / "results.json").read_text())
    used = {label: [e["name"] for e in encoders] for label, encoders in payload["encoders"].items()}
    assert used["cold-ridge"] == ["probe-hashing"]
    assert used["content[encoder=hashing]"] == ["hashing"]
    assert payload["models"] == ["cold-ridge", "content[encoder=hashing]"]


def test_a_read_only_results_file_is_not_replaced(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # results.json made read-only (a result kept for a paper) was replaced by the next run into the folder
    out = tmp_path / "kept"
    out.mkdir()
    (out / "results.json").write_text("{}", encoding="utf-8")
    (out / "results.json").chmod(0o444)
    try:
        code = main(["evaluate", "--data", str(movie_folder), "--models", "popularity", "--out", str(out), "--no-progress", "--no-chart"])
        assert code == 2
        assert f"--out {out / 'results.json'}: the file is read-only" in capsys.readouterr().err
        assert (out / "results.json").read_text(encoding="utf-8") == "{}" and not (out / "results.txt").exists()
    finally:
        (out / "results.json").chmod(0o644)


@pytest.mark.parametrize("bad", ["png-folder", "txt-folder", "png-link"])
@pytest.mark.parametrize("chart", [True, False])
def test_a_results_file_that_cannot_be_replaced_fails_before_the_run(
    movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str, chart: bool
) -> None:
    # only results.json was checked before the run: a results.png that was a folder or a link failed after it,
    # with results.json and .txt already replaced beside it (a new user's review)
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}", encoding="utf-8")
    name = "results.txt" if bad == "txt-folder" else "results.png"
    if bad.endswith("folder"):
        (out / name).mkdir()
    else:
        (tmp_path / "elsewhere.png").write_bytes(b"old")
        (out / name).symlink_to(tmp_path / "elsewhere.png")
    code = main(["evaluate", "--data", str(movie_folder), "--models", "popularity", "--out", str(out), "--no-progress",
                 *([] if chart else ["--no-chart"])])  # fmt: skip
    assert code == 2
    kind = "a directory" if bad.endswith("folder") else "a symbolic link"
    assert f"output path '{out / name}' is {kind}" in capsys.readouterr().err
    assert (out / "results.json").read_text(encoding="utf-8") == "{}"  # nothing replaced
    assert bad == "txt-folder" or not (out / "results.txt").exists()
    assert (tmp_path / "elsewhere.png").read_bytes() == b"old" if bad == "png-link" else True


@pytest.mark.parametrize(
    ("name", "header", "missing"),
    [("movies.csv", "movieId,Title,genres", "title"), ("movies.csv", "item_id,title,genres", "movieId"), ("tags.csv", "userId,movieId,Tag", "tag")],
)
def test_a_movielens_folder_missing_a_column_names_the_file_and_column(
    movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, header: str, missing: str
) -> None:
    # a movies.csv whose title column was named otherwise (or a tags.csv without 'tag') was a KeyError traceback
    folder = tmp_path / "ml"
    folder.mkdir()
    for table in ("movies.csv", "ratings.csv"):
        (folder / table).write_bytes((movie_folder / table).read_bytes())
    if name == "tags.csv":
        (folder / name).write_text(f"{header}\n1,1,funny\n", encoding="utf-8")
    else:
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        (folder / name).write_text("\n".join([header, *lines[1:]]) + "\n", encoding="utf-8")
    assert main(["evaluate", "--data", str(folder), "--models", "popularity", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{folder / name}: missing column(s) [{missing!r}]" in err and "Traceback" not in err


def test_a_file_given_as_data_says_that_data_takes_a_folder(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --data ratings.csv was "unknown data set 'ratings.csv'", as if the name were misspelt
    ratings = movie_folder / "ratings.csv"
    assert main(["evaluate", "--data", str(ratings), "--models", "popularity", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{ratings} is a file, not a data set: give the folder that holds the tables (--data {movie_folder})" in err
    assert "unknown data set" not in err


def test_implicit_threshold_help_says_what_the_run_does(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --help said "count only ratings >= this as relevant", read as "the lower ratings still train the
    # models"; the run drops them from the data before the split, training included
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--implicit-threshold IMPLICIT_THRESHOLD keep only the ratings >= this, for training and test alike" in text
    out = tmp_path / "t"
    assert main(["evaluate", "--data", str(movie_folder), "--models", "popularity", "--protocol", "warm", "--implicit-threshold", "4",
                 "--out", str(out), "--no-progress", "--no-chart"]) == 0  # fmt: skip
    ratings = [line.split(",") for line in (movie_folder / "ratings.csv").read_text(encoding="utf-8").splitlines()[1:]]
    kept = sum(float(row[2]) >= 4 for row in ratings)
    train, test = (int(n) for n in __import__("re").search(r"train (\d+), test (\d+) interactions", capsys.readouterr().err).groups())
    assert train + test == kept < len(ratings)


@pytest.mark.parametrize(("protocol", "expected"), [
    ("cold-item", "cold-item protocol: 4 items with interactions are too few to hold out 20 % of them (at least 2: half to "
                  "validate, half to test); it needs at least 8"),
    ("cold-user", "cold-user protocol: 2 users with interactions are too few to hold out 20 % of them; it needs at least 3"),
])  # fmt: skip
def test_too_small_a_data_set_for_the_protocol_says_how_much_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str, expected: str
) -> None:
    # "cold_item_split: 4 items with interactions is too few to hold out 20%": a function's name, and no word of how many
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "items.csv").write_text("item_id,title\n1,Alien\n2,Heat\n3,Toy Story\n4,Up\n5,Jaws\n", encoding="utf-8")
    (folder / "interactions.csv").write_text("user_id,item_id\nu1,1\nu1,2\nu2,3\nu2,4\n", encoding="utf-8")
    code = main(["evaluate", "--data", str(folder), "--protocol", protocol, "--models", "popularity", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert f"coldkit evaluate: error: {expected}\n" in capsys.readouterr().err



def test_a_cut_off_below_one_is_named_by_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # checked in the library, "k must be >= 1, got 0" named no flag
    assert main(["evaluate", "--models", "popularity", "--k", "10", "0"]) == 2
    assert "--k cut-offs must be >= 1, got 10 0" in capsys.readouterr().err
    assert main(["demo", "--k", "0"]) == 2
    assert "--k must be >= 1 (items per user), got 0" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["generic", "movielens"])
def test_evaluate_sep_flag_reads_a_semicolon_folder(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str) -> None:
    # a ';'-separated folder was read only if its files were renamed or converted: --sep reads it as it is
    folder = tmp_path / layout
    folder.mkdir()
    names = ("interactions.csv", "items.csv") if layout == "generic" else ("ratings.csv", "movies.csv")
    ratings = (movie_folder / "ratings.csv").read_text(encoding="utf-8").replace(",", ";")
    movies = (movie_folder / "movies.csv").read_text(encoding="utf-8").replace(",", ";")
    (folder / names[0]).write_text(ratings, encoding="utf-8")
    (folder / names[1]).write_text(movies, encoding="utf-8")
    mapping = ["--interaction-columns", "user_id=userId", "item_id=movieId", "--item-columns", "item_id=movieId"]
    args = ["evaluate", "--data", str(folder), "--models", "popularity", "--out", str(tmp_path / "out"), "--no-progress", "--no-chart"]
    args += mapping if layout == "generic" else []
    assert main(args) == 2
    assert "looks ';'-separated" in capsys.readouterr().err
    assert main([*args, "--sep", ";"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["models"] == ["popularity"] and results["settings"]["data"]["sep"] == ";"
    assert main(["evaluate", "--data", "ml-latest-small", "--sep", ";", "--out", str(tmp_path / "o2")]) == 2
    assert "separator are for a folder of your own" in capsys.readouterr().err


def test_evaluate_says_each_fitted_model_where_no_progress_bar_shows(movie_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # stderr into a file or a pipe (CI, `make evaluate | tee`): the bars are off, and a run of minutes said
    # nothing until its table; one line per model and seed now, none with --quiet
    args = ["evaluate", "--data", str(movie_folder), "--models", "popularity", "content:encoder=hashing", "--seeds", "2",
            "--k", "5", "--out", str(tmp_path / "out"), "--no-chart"]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " fitted in " in line]
    assert [line.split(" fitted in ")[0] for line in lines] == [
        "coldkit evaluate: seed 0: popularity", "coldkit evaluate: seed 0: content[encoder=hashing]",
        "coldkit evaluate: seed 1: popularity", "coldkit evaluate: seed 1: content[encoder=hashing]",
    ]
    assert all(line.endswith(f"(model {i % 2 + 1} of 2)") and "ranked 3 task(s)" in line for i, line in enumerate(lines))
    assert main([*args, "--quiet"]) == 0
    assert " fitted in " not in capsys.readouterr().err


def test_evaluate_lists_data_read_otherwise_as_a_note_as_recommend_does(movie_folder: Path, tmp_path: Path) -> None:
    # the same unread "Rating" column was a "note:" under coldkit recommend and a "warning:" line here
    import subprocess
    import sys

    folder = tmp_path / "shop"
    folder.mkdir()
    ratings = (movie_folder / "ratings.csv").read_text(encoding="utf-8").replace("rating", "Rating", 1)
    (folder / "interactions.csv").write_text(ratings, encoding="utf-8")
    (folder / "items.csv").write_text((movie_folder / "movies.csv").read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "coldkit", "evaluate", "--data", str(folder), "--models", "popularity", "--k", "5",
         "--interaction-columns", "user_id=userId", "item_id=movieId", "--item-columns", "item_id=movieId",
         "--out", str(tmp_path / "out"), "--no-chart", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    unread = [line for line in proc.stderr.splitlines() if "'Rating'" in line and "not read" in line]
    assert len(unread) == 1 and unread[0].startswith("note: "), proc.stderr
    assert "warning:" not in proc.stderr
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert any("'Rating'" in note for note in saved["notes"])


def test_a_named_dataset_without_its_posters_names_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """evaluate --data ml-latest-small --image-column image where the data root has no posters folder said only the
    encoder's "image column 'image' not in the item table": now, as serve --build --dataset, where they are looked for."""
    monkeypatch.delenv("COLDKIT_DATA", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no ../shared/data beside it: the embedded ml-latest-small, no posters
    (tmp_path / "media").mkdir()
    code = main(["evaluate", "--data", "ml-latest-small", "--image-column", "image", "--media-root", str(tmp_path / "media"),
                 "--models", "popularity", "--seeds", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "no such item column in the data set 'ml-latest-small'" in err and "--data-root DIR" in err
    assert "ml-1m-posters/MovieImages" in err and not (work / "coldkit-results").exists()
