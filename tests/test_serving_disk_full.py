"""A full disk while serving: refused writes (503) stay refused, later writes are logged cleanly and reload.

The disk is filled for real, not mocked: ``RLIMIT_FSIZE`` makes the kernel refuse to grow a file past
a size (``EFBIG``; Python ignores ``SIGXFSZ``), exactly where a full disk refuses with ``ENOSPC`` —
including a short write that puts only the first part of a record on disk.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from coldkit.serving import IndexStorageError, load, save
from coldkit.serving.app import create_app
from coldkit.serving.wal import WriteAheadLog, read_log

resource = pytest.importorskip("resource")
if not hasattr(resource, "RLIMIT_FSIZE"):  # pragma: no cover - POSIX only
    pytest.skip("no RLIMIT_FSIZE on this platform", allow_module_level=True)


@contextmanager
def disk_full_beyond(size: int) -> Iterator[None]:
    """No file of this process may grow past ``size`` bytes while inside (the soft limit; restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_log_write_cut_short_by_a_full_disk_leaves_no_trace(tmp_path: Path) -> None:
    path = tmp_path / "wal-000001.jsonl"
    log = WriteAheadLog(path)
    log.append({"version": 1, "op": "delete_items", "ids": ["a"]})
    size = path.stat().st_size
    big = {"version": 2, "op": "delete_items", "ids": ["x" * 5000]}
    with disk_full_beyond(size + 100):  # the record's first 100 bytes fit, the rest does not
        for _ in range(3):
            with pytest.raises(IndexStorageError, match="write failed, nothing applied"):
                log.append(big)
    assert path.stat().st_size == size  # no half record left behind
    log.append({"version": 2, "op": "delete_items", "ids": ["b"]})  # the disk has room again
    log.close()
    assert [r["ids"] for r in read_log(path)] == [["a"], ["b"]]


def test_after_a_full_disk_every_acknowledged_write_reloads_and_no_refused_one(tmp_path: Path, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    wal = next((tmp_path / "idx").glob("wal-*.jsonl"))
    with TestClient(create_app(index), raise_server_exceptions=False) as client:
        assert client.post("/items", json={"items": [{"id": "ok1", "text": "written before"}]}).status_code == 200
        with disk_full_beyond(wal.stat().st_size + 20):  # part of a record fits, no whole one
            for name in ("lost1", "lost2"):
                refused = client.post("/items", json={"items": [{"id": name, "text": "refused: the disk is full"}]})
                assert refused.status_code == 503, refused.text
            assert client.post("/users", json={"id": "lost-user"}).status_code == 503
        assert client.post("/items", json={"items": [{"id": "ok2", "text": "written after"}]}).status_code == 200
        assert client.post("/users", json={"id": "ok-user", "text": "space opera"}).status_code == 200
        served = client.get("/health").json()["version"]
    index.close()
    for line in wal.read_bytes().splitlines():
        json.loads(line)  # every line a whole record (a glued, torn line made the index unloadable)
    reopened = load(tmp_path / "idx", read_only=True)
    assert reopened.version.number == served
    assert reopened.has_item("ok1") and reopened.has_item("ok2") and reopened.has_user("ok-user")
    assert not reopened.has_item("lost1") and not reopened.has_item("lost2") and not reopened.has_user("lost-user")


def test_the_ids_of_refused_writes_do_not_alias_later_items_or_users(tmp_path: Path, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    wal = next((tmp_path / "idx").glob("wal-*.jsonl"))
    with TestClient(create_app(index), raise_server_exceptions=False) as client:
        with disk_full_beyond(wal.stat().st_size + 20):
            assert client.post("/items", json={"items": [{"id": "ghost", "text": "refused"}]}).status_code == 503
            assert client.post("/interactions", json={"events": [{"user_id": "ghost-user", "item_id": "i1"}]}).status_code == 503
        # the next new item and user take the ordinals the refused writes had picked
        assert client.post("/items", json={"items": [{"id": "real", "text": "a real item"}]}).status_code == 200
        assert client.post("/interactions", json={"events": [{"user_id": "real-user", "item_id": "i2"}]}).status_code == 200
        assert client.get("/items/ghost").status_code == 404  # was: the real item's text, under the refused id
        assert client.post("/recommend", json={"user_id": "ghost-user"}).status_code == 404  # was: real-user's list
        # was: 200, a click on the real item logged under the refused id, and the index could not be reloaded
        clicked = client.post("/interactions", json={"events": [{"user_id": "real-user", "item_id": "ghost"}]})
        assert clicked.status_code == 404 and "ghost" in clicked.text
        assert client.post("/items", json={"items": [{"id": "ghost", "text": "now it fits"}]}).json()["items"][0]["created"]
        assert client.get("/items/real").json()["text"] == "a real item"  # the retried write did not replace it
        assert client.post("/users", json={"id": "ghost-user"}).json()["created"] is True
        assert client.get("/health").json()["users"] == index.version.n_users
    index.close()
    reopened = load(tmp_path / "idx", read_only=True)
    assert reopened.item_info("real")["text"] == "a real item" and reopened.item_info("ghost")["text"] == "now it fits"
    assert reopened.user_items("real-user") == ["i2"] and reopened.user_items("ghost-user") == []


def test_a_snapshot_on_a_full_disk_says_the_disk_is_probably_full(tmp_path: Path, make_tiny_index) -> None:
    """numpy reports a short write as '9984000 requested and 7648 written' (no errno): the refusal now says
    what that means, and the index stays as it was."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    with disk_full_beyond(2_000):  # the snapshot's arrays do not fit
        with pytest.raises(IndexStorageError, match="saving the index .* failed") as refused:
            save(index, tmp_path / "idx")
    assert "written: a short write, the disk is probably full" in str(refused.value)
    save(index, tmp_path / "idx")  # room again: the snapshot succeeds
    index.close()


def test_a_record_refused_after_its_fsync_is_cut_back_durably(tmp_path: Path, monkeypatch) -> None:
    """The record is fsync-ed, then its newline cannot be written (the disk filled up): the write is
    refused and cut back. That cut must itself reach the disk (an fsync after the ftruncate), or a power
    cut could restore the refused record, whole, and a recovery that completes a whole last line would
    replay a write the client was told had failed."""
    import errno
    import os

    path = tmp_path / "wal-000001.jsonl"
    log = WriteAheadLog(path)
    log.append({"version": 1, "op": "kept"})
    kept = path.read_bytes()
    calls: list[str] = []
    real_write, real_fsync, real_ftruncate = os.write, os.fsync, os.ftruncate

    def write(fd: int, data: bytes) -> int:
        if bytes(data) == b"\n":
            calls.append("newline")
            raise OSError(errno.ENOSPC, "No space left on device")
        calls.append("write")
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def ftruncate(fd: int, size: int) -> None:
        calls.append("ftruncate")
        real_ftruncate(fd, size)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "ftruncate", ftruncate)
    with pytest.raises(IndexStorageError, match="nothing applied"):
        log.append({"version": 2, "op": "refused"})
    monkeypatch.undo()
    log.close()
    assert calls[calls.index("newline"):] == ["newline", "ftruncate", "fsync"]
    assert path.read_bytes() == kept
