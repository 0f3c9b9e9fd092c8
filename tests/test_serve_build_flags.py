"""``coldkit serve --build`` reads files with the same flags, and the same meaning, as ``coldkit recommend`` and
``coldkit evaluate``: it had no ``--encoding`` (a latin-1 item file could not be served) nor ``--duplicates``
(repeated rows were silently collapsed to the last one, where the other commands refuse them)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldkit.cli import build_parser, main

#: the reading flags every command that reads interaction + item tables takes
TABLE_FLAGS = ("--interaction-columns", "--item-columns", "--text-columns", "--implicit-threshold", "--duplicates", "--unknown-items", "--encoding", "--sep")
#: coldkit recommend's extra input files, which serve --build takes in order to refuse them with the reason
USER_FLAGS = ("--user-profiles", "--profile-text-column", "--profile-columns", "--user-graph", "--user-graph-columns",
              "--item-vectors", "--item-vector-columns")  # fmt: skip


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag: action for action in sub.choices[command]._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["evaluate", "serve"])
def test_the_reading_flags_are_the_same_in_every_command(command: str) -> None:
    reference = _actions("recommend")
    theirs = _actions(command)
    for flag in TABLE_FLAGS + (USER_FLAGS if command == "serve" else ()):
        assert flag in theirs, f"coldkit {command} lacks {flag}"
        mine, ref = theirs[flag], reference[flag]
        assert (mine.dest, mine.default, mine.choices, mine.nargs, mine.type) == (ref.dest, ref.default, ref.choices, ref.nargs, ref.type), flag


@pytest.fixture()
def latin1(tmp_path: Path) -> Path:
    # written as latin-1 bytes: "é" is the single byte 0xE9, invalid as UTF-8
    (tmp_path / "items.csv").write_bytes("item_id,title\ni1,Amélie\ni2,Café society\ni3,robots at war\n".encode("latin-1"))
    (tmp_path / "int.csv").write_text("user_id,item_id,rating\nu1,i1,5\nu1,i2,2\nu2,i2,4\nu2,i3,4\n", encoding="ascii")
    return tmp_path


def _build(files: Path, *extra: str) -> int:
    return main(["serve", str(files / "idx"), "--build", "--interactions", str(files / "int.csv"),
                 "--items", str(files / "items.csv"), "--encoder", "hashing", *extra])  # fmt: skip


def test_a_latin1_items_file_is_built_with_encoding_and_the_index_answers(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app

    # without --encoding: the loader's one-line error, which names the flag serve --build now has
    assert _build(latin1) == 2
    err = capsys.readouterr().err
    assert "--encoding latin-1" in err and "Traceback" not in err
    assert not (latin1 / "idx").exists()
    assert _build(latin1, "--encoding", "latin-1") == 0
    capsys.readouterr()
    client = TestClient(create_app(latin1 / "idx"))
    # the reference: Python's own latin-1 decoding of the bytes on disk
    expected = (latin1 / "items.csv").read_bytes().decode("latin-1").splitlines()[1].split(",")[1]
    assert expected == "Amélie"
    assert client.get("/items/i1").json()["text"] == expected
    answer = client.post("/recommend", json={"user_id": "u1", "k": 3})
    assert answer.status_code == 200, answer.text
    assert [item["id"] for item in answer.json()["items"]] == ["i3"]  # u1 has i1 and i2 already


def test_duplicates_are_refused_by_default_as_in_recommend(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the last row won without a word (the library's default), where recommend and evaluate refuse repeats
    (latin1 / "int.csv").write_text("user_id,item_id,rating\nu1,i1,5\nu1,i1,1\nu2,i2,4\n", encoding="ascii")
    assert _build(latin1, "--encoding", "latin-1") == 2
    err = capsys.readouterr().err
    assert "--duplicates" in err and "Traceback" not in err
    assert _build(latin1, "--encoding", "latin-1", "--duplicates", "max") == 0


def test_implicit_threshold_keeps_the_likes_only(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from coldkit.serving import load

    assert _build(latin1, "--encoding", "latin-1", "--implicit-threshold", "4") == 0
    capsys.readouterr()
    frame = pd.read_csv(latin1 / "int.csv")
    liked = frame[frame["rating"] >= 4]
    index = load(latin1 / "idx", read_only=True)
    v = index.version
    for user, rows in liked.groupby("user_id"):
        history = {v.item_ids[o] for o in v.history(v.user_index[user])}
        assert history == set(rows["item_id"]), user


def test_a_dataset_folder_is_read_with_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --dataset DIR took none of the reading flags: a ';'-separated latin-1 folder could not be built
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "items.csv").write_bytes("sku;title\ns1;Amélie\ns2;Café society\ns3;robots\n".encode("latin-1"))
    (folder / "interactions.csv").write_text("customer;sku\nc1;s1\nc1;s2\nc2;s2\n", encoding="ascii")
    argv = ["serve", str(tmp_path / "idx"), "--build", "--dataset", str(folder), "--encoder", "hashing",
            "--interaction-columns", "user_id=customer", "item_id=sku", "--sep", ";"]  # fmt: skip
    assert main(argv) == 2
    assert "--encoding latin-1" in capsys.readouterr().err
    assert main([*argv, "--encoding", "latin-1"]) == 0
    assert '"items": 3' in capsys.readouterr().out


@pytest.mark.parametrize(
    "flag, value, reason",
    [
        ("--profile-columns", "user_id=uid", "describes the --user-profiles file"),
        ("--profile-text-column", "bio", "describes the --user-profiles file"),
        ("--user-graph", "friends.csv", "no friends source"),
        ("--item-vectors", "vectors.npz", "re-creates its encoder by name"),
        ("--item-vector-columns", "vector=emb", "re-creates its encoder by name"),
    ],
)
def test_recommends_extra_files_are_refused_with_the_reason(
    latin1: Path, flag: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # they were "unrecognized arguments", which read as a typo of the flag
    assert _build(latin1, "--encoding", "latin-1", flag, value) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert not (latin1 / "idx").exists()


@pytest.mark.parametrize("problem", ["no index", "media root", "port in use"])
def test_several_workers_check_the_index_and_port_before_starting(
    latin1: Path, problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # each worker opened PATH itself: a bad one crashed every worker with a traceback, uvicorn restarted them,
    # and `coldkit serve bad --workers 2 --read-only` never ended; a port in use was uvicorn's log line
    import socket

    import uvicorn

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("uvicorn was started")

    monkeypatch.setattr(uvicorn, "run", started)
    assert _build(latin1, "--encoding", "latin-1") == 0
    capsys.readouterr()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    if problem != "port in use":
        busy.close()
    try:
        path = latin1 / ("missing" if problem == "no index" else "idx")
        extra = ["--media-root", str(latin1 / "nope")] if problem == "media root" else []
        assert main(["serve", str(path), "--workers", "2", "--read-only", "--port", str(port), *extra]) == 2
    finally:
        busy.close()
    err = capsys.readouterr().err
    expected = {"no index": "no coldkit index at", "media root": "is not a directory", "port in use": f"cannot listen on 127.0.0.1:{port}"}
    assert expected[problem] in err and "Traceback" not in err


def _mapped_arrays(app: object) -> int:
    """How many of the served index's arrays (one level into its objects) are memory-mapped."""
    seen, count = set(), 0
    todo = [app.state.index]  # type: ignore[attr-defined]
    for depth in range(3):
        nxt = []
        for obj in todo:
            for value in list(getattr(obj, "__dict__", {}).values()) + (list(obj.values()) if isinstance(obj, dict) else []):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                if isinstance(value, np.memmap):
                    count += 1
                elif not isinstance(value, np.ndarray):
                    nxt.append(value)
        todo = nxt
    return count


@pytest.mark.parametrize("flags", [[], ["--no-mmap"]])
def test_several_workers_are_told_no_mmap(latin1: Path, flags: list[str], monkeypatch: pytest.MonkeyPatch, worker_env: None) -> None:
    # the workers' app factory read the index path and media root from the environment, but not --no-mmap:
    # each worker memory-mapped the arrays whatever the flag said
    import socket

    import uvicorn

    from coldkit.serving.app import app_from_env

    apps: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: apps.append(app_from_env()))
    assert _build(latin1, "--encoding", "latin-1") == 0
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert main(["serve", str(latin1 / "idx"), "--workers", "2", "--read-only", "--port", str(port), *flags]) == 0
    assert len(apps) == 1
    mapped = _mapped_arrays(apps[0])
    assert (mapped == 0) if flags else (mapped > 0)


def test_serve_build_drops_interactions_of_unknown_items_when_asked(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the loaders' error names --unknown-items drop; serve --build did not have the flag
    from coldkit.serving import load

    (latin1 / "int.csv").write_text("user_id,item_id,rating\nu1,i1,5\nu1,i9,2\nu2,i2,4\nu2,i3,4\n", encoding="ascii")
    assert _build(latin1, "--encoding", "latin-1") == 2
    err = capsys.readouterr().err
    assert "i9" in err and "--unknown-items drop" in err and "Traceback" not in err
    from coldkit.exceptions import DataWarning

    with pytest.warns(DataWarning, match=r"1 row\(s\) name item ids not in the item table and were dropped \(line 3\)"):
        assert _build(latin1, "--encoding", "latin-1", "--unknown-items", "drop") == 0
    index = load(latin1 / "idx", read_only=True)
    assert all(index.has_item(i) for i in ("i1", "i2", "i3")) and not index.has_item("i9")
    assert sorted(index.user_items("u1")) == ["i1"]  # its i9 row dropped, the others kept


@pytest.mark.parametrize(
    "given",
    [["--unknown-items", "drop"], ["--duplicates", "sum"], ["--encoding", "latin-1"], ["--implicit-threshold", "4"]],
    ids=lambda given: given[0],
)
def test_a_reading_flag_without_build_is_refused_by_name(tmp_path: Path, given: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # --unknown-items joined the shared reading flags but not the list of build-only flags: `coldkit serve PATH
    # --unknown-items drop` served (or failed to find) the index at PATH as if the flag had been read
    assert main(["serve", str(tmp_path / "idx"), *given]) == 2
    assert f"{given[0]} only applies with --build" in capsys.readouterr().err


def _shop(folder: Path, media: Path) -> None:
    """A shop's catalogue of product photos: item ids and worded file names (text-like), no text column."""
    from PIL import Image

    folder.mkdir()
    media.mkdir()
    names = []
    for j in range(24):
        name = f"photo-{'abcdefgh'[j % 8]}-{'red' if j % 2 else 'blue'}.png"
        Image.fromarray(np.full((8, 8, 3), (255 * (j % 2), 0, 255 * (1 - j % 2)), dtype=np.uint8)).save(media / name)
        names.append(name)
    pd.DataFrame({"item_id": [f"i{j}" for j in range(24)], "photo": names}).to_csv(folder / "items.csv", index=False)
    rng = np.random.default_rng(0)
    pd.DataFrame([(f"u{u}", f"i{j}") for u in range(16) for j in rng.choice(24, 6, replace=False)],
                 columns=["user_id", "item_id"]).to_csv(folder / "interactions.csv", index=False)


def test_a_dataset_folder_passes_its_media_columns_as_the_files_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dataset DIR --image-column photo read the folder without its media columns: the photos' file names
    became the items' text (the encoder then had a text block of file names beside the images)."""
    import coldkit.serving.build as build_module

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    _shop(tmp_path / "shop", tmp_path / "media")
    seen: list[tuple[str, ...]] = []
    real_build = build_module.ServingIndex.build
    monkeypatch.setattr(build_module.ServingIndex, "build",
                        lambda data, **kw: seen.append(tuple(data.catalog.text_columns)) or real_build(data, **kw))
    media = ["--image-column", "photo", "--media-root", str(tmp_path / "media"), "--encoder", "hashing"]
    assert main(["serve", str(tmp_path / "a"), "--build", "--dataset", str(tmp_path / "shop"), *media]) == 0, capsys.readouterr().err
    # the reference: the same tables given as files
    assert main(["serve", str(tmp_path / "b"), "--build", "--interactions", str(tmp_path / "shop" / "interactions.csv"),
                 "--items", str(tmp_path / "shop" / "items.csv"), *media]) == 0, capsys.readouterr().err
    assert seen == [(), ()]


def test_the_media_notes_of_a_build_are_saved_with_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--build printed the multimodal encoder's notes (items with each medium, the weights chosen), but only the
    hybrid's were saved: re-opening the index, /health and load(path).build_notes lost the weights."""
    from coldkit.serving import load

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    _shop(tmp_path / "shop", tmp_path / "media")
    media = ["--image-column", "photo", "--media-root", str(tmp_path / "media"), "--encoder", "hashing"]
    assert main(["serve", str(tmp_path / "idx"), "--build", "--dataset", str(tmp_path / "shop"), *media]) == 0
    printed = [line[len("note: "):] for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    media_notes = [note for note in printed if note.startswith("multimodal: ")]
    assert media_notes, printed
    assert len(printed) == len(set(printed))  # each note once
    index = load(tmp_path / "idx", read_only=True)
    try:
        assert index.build_notes == printed
    finally:
        index.close()


def test_a_named_dataset_without_the_media_column_names_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ml-latest-small has its 'image' column only where its posters are found: the encoder's "not in the item
    table" did not say so, nor which flag gives the folder they are looked for in."""
    monkeypatch.delenv("COLDKIT_DATA", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no ../shared/data beside it
    (tmp_path / "media").mkdir()
    code = main(["serve", str(tmp_path / "idx"), "--build", "--dataset", "ml-latest-small", "--image-column", "image",
                 "--media-root", str(tmp_path / "media"), "--encoder", "hashing"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "no such item column in the data set 'ml-latest-small'" in err and "--data-root DIR" in err
    assert "ml-1m-posters/MovieImages" in err and not (tmp_path / "idx").exists()


def test_user_profiles_become_the_users_texts_in_the_built_index(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--user-profiles was refused by serve --build, though the index keeps a text per user (POST /users):
    each profile is now its user's text, answered over HTTP as the same text posted to POST /users is."""
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app

    (latin1 / "items.csv").write_text("item_id,title\ni1,a quiet french romance\ni2,jazz in a paris cafe\ni3,robots at war\n"
                                     "i4,space robots and lasers\ni5,a cafe love story\n", encoding="utf-8")
    (latin1 / "int.csv").write_text("user_id,item_id\nu1,i1\nu1,i2\nu2,i2\nu2,i3\nu3,i4\n", encoding="ascii")
    profiles = {"newbie": "I love robots and lasers in space", "u1": "romance, always romance"}
    pd.DataFrame({"uid": list(profiles), "bio": list(profiles.values())}).to_csv(latin1 / "profiles.csv", index=False)
    assert _build(latin1, "--user-profiles", str(latin1 / "profiles.csv"), "--profile-columns", "user_id=uid", "text=bio") == 0, \
        capsys.readouterr().err
    built = TestClient(create_app(latin1 / "idx"))
    # the reference: the index built without profiles, then the same texts through the HTTP API
    reference_dir = latin1 / "reference"
    reference_dir.mkdir()
    for name in ("items.csv", "int.csv"):
        (reference_dir / name).write_bytes((latin1 / name).read_bytes())
    assert _build(reference_dir) == 0
    reference = TestClient(create_app(reference_dir / "idx"))
    assert reference.post("/recommend", json={"user_id": "newbie", "k": 2}).status_code == 404  # unknown there
    for uid, text in profiles.items():
        assert reference.post("/users", json={"id": uid, "text": text}).status_code == 200
    for uid in ("newbie", "u1", "u2"):
        mine = built.post("/recommend", json={"user_id": uid, "k": 3})
        theirs = reference.post("/recommend", json={"user_id": uid, "k": 3})
        assert mine.status_code == theirs.status_code == 200, mine.text
        assert [(i["id"], round(i["score"], 6)) for i in mine.json()["items"]] == \
            [(i["id"], round(i["score"], 6)) for i in theirs.json()["items"]], uid
    assert built.post("/recommend", json={"user_id": "newbie", "k": 1}).json()["items"][0]["id"] == "i4"
    built.app.state.index.close()
    from coldkit.serving import load

    saved = load(latin1 / "idx", read_only=True)  # the texts are in the snapshot on disk, not only in memory
    try:
        assert saved.stats()["users"] == 4  # u1, u2, u3 and newbie, created from its profile
    finally:
        saved.close()


def test_build_prints_the_fits_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # on ml-latest-small the learned weight of a new user's words was 0 (one validation carve): every {"text": ...}
    # request got the popularity list, and `serve --build` printed only its JSON line, where `coldkit recommend`
    # says why. Every note of the fit is printed: that one where the words weigh 0, the carves' always.
    import json

    out = tmp_path / "idx"
    assert main(["serve", str(out), "--build", "--dataset", "ml-latest-small", "--encoder", "hashing"]) == 0
    err = capsys.readouterr().err
    # the reference: the words regime's weights the index saved (independent of the note's wording)
    manifest = json.loads(next(out.glob("snap-*/manifest.json")).read_text())
    words = manifest["fusion"]["learned"]["regimes"]["words"]
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert any("new user's own words weigh 0" in line for line in notes) == (words.get("text") == 0.0), (words, err)
    assert any(line.startswith("note: validation (seed 0)") for line in notes), err
    assert any(line.startswith("note: hybrid: the weights are learned on 2 carves pooled") for line in notes), err


def test_the_reranker_flag_is_checked_before_serving_and_reaches_the_workers(
    latin1: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], worker_env: None
) -> None:
    import socket

    import uvicorn

    from coldkit.serving.app import app_from_env

    assert _build(latin1, "--encoding", "latin-1", "--reranker", "mmr") == 2  # a serving choice, not saved with the index
    assert "--reranker and --reranker-options apply when serving" in capsys.readouterr().err
    assert _build(latin1, "--encoding", "latin-1") == 0
    capsys.readouterr()
    path = str(latin1 / "idx")
    for extra, said in ((["--reranker", "nosuch"], "unknown reranker 'nosuch'"),
                        (["--reranker-options", "{}"], "--reranker-options needs --reranker NAME"),
                        (["--reranker", "mmr", "--reranker-options", "[1]"], "--reranker-options must be a JSON object")):
        assert main(["serve", path, "--port", "0", *extra]) == 2, extra
        assert said in capsys.readouterr().err
    apps: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: apps.append(app_from_env()))
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    argv = ["serve", path, "--workers", "2", "--read-only", "--port", str(port), "--reranker", "mmr", "--reranker-options", '{"lambda_": 0.4}']
    assert main(argv) == 0 and len(apps) == 1
    from fastapi.testclient import TestClient

    client = TestClient(apps[0])  # type: ignore[arg-type]
    assert client.get("/health").json()["reranker"] == "mmr"
    assert client.post("/recommend", json={"user_id": "u1", "k": 2}).status_code == 200
