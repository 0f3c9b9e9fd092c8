"""Bad paths and bad options give one clear line, never a traceback or a destroyed file (issue 14)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from coldkit._atomic import atomic_write_bytes, check_output_path
from coldkit.cli import main
from coldkit.encoding import check_texts, encode_catalog
from coldkit.exceptions import InvalidInputError
from coldkit.plugins.manager import get_encoder


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "int.csv").write_text("user_id,item_id\nu1,i1\nu1,i2\nu2,i2\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a space opera\ni2,a jazz record\ni3,robots\n")
    return tmp_path


def _recommend(files: Path, out: str, *extra: str) -> int:
    return main(
        ["recommend", "--interactions", str(files / "int.csv"), "--items", str(files / "items.csv"),
         "--model", "popularity", "--out", out, *extra]
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["directory", "symbolic link", "FIFO"])
def test_out_that_is_not_a_regular_file_is_refused_and_left_alone(
    files: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = files / "target"
    victim = files / "victim.txt"
    victim.write_text("keep me")
    if kind == "directory":
        target.mkdir()
    elif kind == "symbolic link":
        target.symlink_to(victim)
    else:
        os.mkfifo(target)
    assert _recommend(files, str(target)) == 2
    err = capsys.readouterr().err
    assert f"is a {kind}" in err and "Traceback" not in err
    assert victim.read_text() == "keep me"
    assert os.path.lexists(target)


@pytest.mark.parametrize("name", ["recs.parquet", "recs.csv.gz", "recs.TSV"])
def test_out_named_as_another_format_is_refused(files: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # CSV text was written under a .parquet / .csv.gz name, which the user's reader then failed on
    assert _recommend(files, str(files / name)) == 2
    err = capsys.readouterr().err
    assert "recommendations are written as plain CSV (user_id,item_id,rank,score)" in err and "name the file .csv" in err
    assert not (files / name).exists()
    assert _recommend(files, str(files / "recs.csv")) == 0


def test_regular_out_file_is_replaced_atomically(files: Path) -> None:
    out = files / "recs.csv"
    out.write_text("old")
    assert _recommend(files, str(out)) == 0
    assert out.read_text().startswith("user_id,item_id,rank,score")


def test_check_output_path_refuses_a_file_as_parent(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="is not a directory"):
        check_output_path(tmp_path / "file" / "out.csv")
    with pytest.raises(InvalidInputError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")


def test_unknown_text_encoding_names_the_option(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _recommend(files, str(files / "r.csv"), "--encoding", "bogus") == 2
    assert "unknown text encoding 'bogus' (--encoding)" in capsys.readouterr().err


def test_evaluate_refuses_negative_max_users_and_a_file_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--models", "popularity", "--max-users", "-1"]) == 2
    assert "--max-users must be >= 1" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["evaluate", "--models", "popularity", "--out", str(tmp_path / "afile")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "x"


def test_broken_pipe_exits_quietly() -> None:
    import subprocess

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) is gone before coldkit writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "coldkit", "plugins"], stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert b"Traceback" not in done.stderr and b"BrokenPipeError" not in done.stderr


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import coldkit.commands.demo as demo

    def needs_matplotlib(args: object) -> int:
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(demo, "run", needs_matplotlib)
    assert main(["demo"]) == 2
    assert "pip install 'coldkit[eval]'" in capsys.readouterr().err


def test_lone_surrogate_is_a_clear_error_naming_the_item() -> None:
    with pytest.raises(InvalidInputError, match=r"item 'b'.*lone surrogate '\\ud800'") as caught:
        check_texts(["fine", "bad \ud800 text"], labels=["a", "b"])
    # an item is named by its id alone: a catalogue's position is not the row of the user's table
    # (fit and coldkit recommend number items by a hash of their ids)
    assert "position" not in str(caught.value)


def test_none_in_a_dataframe_text_column_is_refused() -> None:
    frame = pd.DataFrame({"item_id": ["a", "b"], "title": ["x", None], "genres": ["y", " "]})
    # "row 1" did not say what it counted: the frame's position from 0 (iloc), not a label or a file line
    where = r"item 'b' \(at position 1 of the table, counted from 0: items\.iloc\[1\]\) has no text"
    with pytest.raises(InvalidInputError, match=where + ": field 'title' is missing"):
        encode_catalog(frame, get_encoder("hashing"), text_fields=["title"], cache=False)
    with pytest.raises(InvalidInputError, match=where):
        encode_catalog(frame, get_encoder("hashing"), text_fields=["title", "genres"], cache=False)
    # a missing field beside one with text simply drops out
    frame.loc[1, "genres"] = "Drama"
    vectors = encode_catalog(frame, get_encoder("hashing"), text_fields=["title", "genres"], cache=False)
    assert (abs(vectors).sum(axis=1) > 0).all()


def test_an_item_without_text_in_a_csv_is_named_by_id_and_file_line(tmp_path: Path) -> None:
    """An items CSV read with ``coldkit.data.read_table`` (blank lines and a header before the rows): the error
    names the file's line of the item, which a user finds in an editor; the row position (1) did not."""
    from coldkit.data import read_table

    path = tmp_path / "items.csv"
    path.write_text("item_id,title\n\na,Alpha\n\nb,\nc,Gamma\n", encoding="utf-8")
    with open(path, encoding="utf-8") as f:  # the independent reference: the line that holds b's row
        line = next(n for n, text in enumerate(f, start=1) if text.startswith("b,"))
    assert line == 5
    frame = read_table(path)
    with pytest.raises(InvalidInputError, match=rf"item 'b' \(line {line} of {re.escape(str(path))}\) has no text: field 'title'"):
        encode_catalog(frame, get_encoder("hashing"), text_fields=["title"], cache=False)
    # the same rows re-ordered are no longer the file's: the position, said as one
    with pytest.raises(InvalidInputError, match=r"item 'b' \(at position 0 of the table, counted from 0"):
        encode_catalog(frame.iloc[[1, 0, 2]], get_encoder("hashing"), text_fields=["title"], cache=False)


def test_serve_encoder_options_must_be_a_json_object(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", str(files / "idx"), "--build", "--interactions", str(files / "int.csv"),
            "--items", str(files / "items.csv"), "--encoder", "hashing", "--encoder-options"]  # fmt: skip
    assert main([*argv, "[1]"]) == 2
    assert "--encoder-options must be a JSON object" in capsys.readouterr().err
    assert main([*argv, "{not json"]) == 2
    assert "--encoder-options is not JSON" in capsys.readouterr().err
    assert not (files / "idx").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--port", "99999"], "--port must be 0..65535 (0: any free port), got 99999"),  # was an OverflowError traceback
        (["--port", "-1"], "--port must be 0..65535 (0: any free port), got -1"),
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--max-body-bytes", "-1"], "--max-body-bytes must be >= 1, got -1"),  # was a 413 for every request
    ],
)
def test_serve_refuses_unusable_server_numbers_before_loading(
    files: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(files / "idx"), "--build", "--interactions", str(files / "int.csv"),
                 "--items", str(files / "items.csv"), "--encoder", "hashing"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["serve", str(files / "idx"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (files / "idx" / "LOCK").exists() or _lock_is_free(files / "idx" / "LOCK")


def test_serve_build_flags_without_build_are_refused(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `coldkit serve idx --interactions new.csv` (no --build) served the old index, the files unread
    assert main(["serve", str(files / "idx"), "--build", "--interactions", str(files / "int.csv"),
                 "--items", str(files / "items.csv"), "--encoder", "hashing"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["serve", str(files / "idx"), "--interactions", str(files / "int.csv")]) == 2
    err = capsys.readouterr().err
    assert "--interactions only applies with --build" in err and "Traceback" not in err
    assert main(["serve", str(files / "idx"), "--items", "x.csv", "--fusion", "rrf", "--port", "1"]) == 2
    assert "--items, --fusion only apply with --build" in capsys.readouterr().err


def _lock_is_free(path: Path) -> bool:
    """True when no process holds the index's writer lock (the refused server never took it)."""
    import fcntl

    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_serve_token_on_the_command_line_warns_and_token_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from coldkit.commands.serve import _token

    assert _token(argparse.Namespace(token="s3cret", token_file=None)) == "s3cret"
    assert "$COLDKIT_TOKEN or use --token-file" in capsys.readouterr().err
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert _token(argparse.Namespace(token=None, token_file=str(secret))) == "from-file"
    assert capsys.readouterr().err == ""
    with pytest.raises(InvalidInputError, match="not both"):
        _token(argparse.Namespace(token="a", token_file=str(secret)))
    secret.write_text("\n")
    with pytest.raises(InvalidInputError, match="is empty"):
        _token(argparse.Namespace(token=None, token_file=str(secret)))


def test_serve_empty_token_is_refused_not_a_server_that_refuses_every_write(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the README's `coldkit serve my-index --token "$COLDKIT_TOKEN"` with the variable unset passes
    # --token "": the server started and answered every write 401, asking for a token nobody had
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app

    import argparse

    from coldkit.commands.serve import _token

    assert main(["serve", str(files / "idx"), "--build", "--interactions", str(files / "int.csv"),
                 "--items", str(files / "items.csv"), "--encoder", "hashing"]) == 0  # fmt: skip
    capsys.readouterr()
    for empty in ("", "  "):
        # _token, not main(["serve", ...]): without the check the server would start and block
        with pytest.raises(InvalidInputError, match=r"--token is empty \(is \$COLDKIT_TOKEN set\?\)"):
            _token(argparse.Namespace(token=empty, token_file=None))
        with pytest.raises(InvalidInputError, match="token must be a non-empty string"):
            create_app(files / "idx", token=empty)
    # a real token still guards the writes, and opens them
    client = TestClient(create_app(files / "idx", token="s3cret"))
    body = {"items": [{"id": "i9", "text": "a violin concerto"}]}
    assert client.post("/items", json=body).status_code == 401
    assert client.post("/items", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_encoder_for_a_model_without_one_is_noted(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # popularity reads no text: the run goes on, but the user is told the flag did nothing
    assert _recommend(files, str(files / "recs.csv"), "--encoder", "hashing") == 0
    assert "note: --encoder hashing has no effect on model popularity" in capsys.readouterr().err
    # a misspelt name is not "no effect": it is refused before any file is read (it passed unnoticed)
    assert _recommend(files, str(files / "other.csv"), "--encoder", "hashng") == 2
    assert "coldkit recommend: error: unknown encoder 'hashng'; available: " in capsys.readouterr().err
    assert not (files / "other.csv").exists()


def test_two_encoders_are_refused(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = files / "recs.csv"
    code = main(
        ["recommend", "--interactions", str(files / "int.csv"), "--items", str(files / "items.csv"),
         "--model", "content", "--out", str(out), "--encoder", "hashing", "--option", "encoder=bert"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "name two item encoders" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
