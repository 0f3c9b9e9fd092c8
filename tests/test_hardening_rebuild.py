"""Issue 14: ``coldkit serve DIR --build`` never silently replaces an index; ``--force`` swaps atomically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coldkit.cli import main
from coldkit.serving import IndexStorageError, UnknownIdError, build_index_from_files, load
from coldkit.serving import storage


def _build_argv(path: Path, tiny_files, *extra: str) -> list[str]:
    interactions, items = tiny_files
    return ["serve", str(path), "--build", "--interactions", str(interactions), "--items", str(items),
            "--encoder", "hashing", "--encoder-options", '{"dim": 128}', *extra]


def _index_with_an_online_write(tmp_path: Path, tiny_files) -> Path:
    path = tmp_path / "idx"
    assert main(_build_argv(path, tiny_files)) == 0
    index = load(path)
    index.upsert_items([{"id": "online-1", "text": "a heist comedy written online"}])
    index.close()
    return path


def _has_the_online_write(path: Path) -> bool:
    index = load(path)
    try:
        index.item_info("online-1")
        return True
    except UnknownIdError:
        return False
    finally:
        index.close()


def test_rebuilding_an_existing_index_is_refused_without_force(tmp_path: Path, tiny_files, capsys) -> None:
    path = _index_with_an_online_write(tmp_path, tiny_files)
    files_before = {p.name: p.stat().st_mtime_ns for p in path.rglob("*")}
    capsys.readouterr()
    assert main(_build_argv(path, tiny_files)) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "1 online write" in err and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in path.rglob("*")} == files_before
    assert _has_the_online_write(path)
    assert main(["serve", str(path), "--force"]) == 2  # --force alone means nothing
    assert "--force only applies with --build" in capsys.readouterr().err


def test_a_directory_of_orphan_snapshots_or_logs_is_refused_without_force(tmp_path: Path, tiny_files, capsys) -> None:
    # only a CURRENT pointer was checked: a build replaced leftover snapshot/log files without --force
    path = _index_with_an_online_write(tmp_path, tiny_files)
    (path / "CURRENT").unlink()
    capsys.readouterr()
    assert main(_build_argv(path, tiny_files)) == 2
    err = capsys.readouterr().err
    assert "snapshot or log files without a CURRENT pointer" in err and "--force" in err
    assert main(_build_argv(path, tiny_files, "--force")) == 0


def test_force_replaces_the_index_and_removes_the_old_files(tmp_path: Path, tiny_files) -> None:
    path = _index_with_an_online_write(tmp_path, tiny_files)
    old_snapshots = sorted(p.name for p in path.glob("snap-*"))
    assert main(_build_argv(path, tiny_files, "--force")) == 0
    assert not _has_the_online_write(path)
    assert not set(old_snapshots) & {p.name for p in path.glob("snap-*")}
    index = load(path)
    assert index.stats()["items"] == 30 and len(index.recommend("u1", k=3).items) == 3
    index.close()


def test_a_failure_during_the_forced_rebuild_leaves_the_old_index_intact(
    tmp_path: Path, tiny_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _index_with_an_online_write(tmp_path, tiny_files)
    calls = []

    def fail_midway() -> None:
        calls.append(1)
        if len(calls) == 3:  # after a few snapshot files are written
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(storage, "_test_delay", fail_midway)
    interactions, items = tiny_files
    with pytest.raises(IndexStorageError, match="disk full"):
        build_index_from_files(path, interactions=interactions, items=items, encoder="hashing",
                               encoder_options={"dim": 128}, force=True)
    assert _has_the_online_write(path)


def test_a_forced_rebuild_is_refused_while_a_writer_holds_the_index(tmp_path: Path, tiny_files, capsys) -> None:
    path = _index_with_an_online_write(tmp_path, tiny_files)
    writer = load(path)
    try:
        assert main(_build_argv(path, tiny_files, "--force")) != 0
        assert "open for writing" in capsys.readouterr().err
    finally:
        writer.close()
    assert _has_the_online_write(path)


def test_kill_9_during_the_forced_rebuild_leaves_the_old_index_loadable(tmp_path: Path, tiny_files) -> None:
    path = _index_with_an_online_write(tmp_path, tiny_files)
    env = {**os.environ, storage.SNAPSHOT_DELAY_ENV: "0.3", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "coldkit", *_build_argv(path, tiny_files, "--force")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(path.glob(".tmp-snap-*/*.npy")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the rebuild finished before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert _has_the_online_write(path)  # the half-written new snapshot is ignored
    assert main(_build_argv(path, tiny_files, "--force")) == 0  # and a later rebuild cleans it up
    assert not _has_the_online_write(path) and not any(path.glob(".tmp-*"))


def test_a_rebuild_without_force_of_a_served_index_says_it_is_served_not_to_pass_force(tmp_path: Path, tiny_files, capsys) -> None:
    """Advising --force was a dead end: with --force the rebuild is refused again, for the server."""
    path = _index_with_an_online_write(tmp_path, tiny_files)
    writer = load(path)
    try:
        assert main(_build_argv(path, tiny_files)) != 0
        err = capsys.readouterr().err
        assert "open for writing" in err and "--force" not in err, err
        assert "stop" in err, err
    finally:
        writer.close()
    assert _has_the_online_write(path)


def test_a_build_without_files_names_the_cli_options_too(tmp_path: Path, capsys) -> None:
    assert main(["serve", str(tmp_path / "idx"), "--build", "--interactions", "x.csv"]) != 0
    err = capsys.readouterr().err
    assert "--items" in err and "--dataset" in err, err
