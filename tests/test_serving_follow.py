"""Issue 14: read-only servers follow the writer's log, so acknowledged writes are served everywhere within 1 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coldkit.serving import UnknownIdError, load, save
from coldkit.serving.app import create_app
from coldkit.serving.follow import LogFollower


@pytest.fixture()
def writer(tmp_path: Path, make_tiny_index):
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    yield index
    index.close()


def test_refresh_applies_new_records_and_survives_snapshots(writer, tmp_path: Path) -> None:
    follower = LogFollower(tmp_path / "idx")
    assert follower.refresh() == 0
    writer.upsert_items([{"id": "n1", "text": "a heist comedy in rome", "categories": ["Comedy"]}])
    writer.add_interactions([("u-new", "n1"), ("u1", "i3")])
    assert follower.refresh() == 2
    assert follower.index.item_info("n1")["text"] == "a heist comedy in rome"
    assert follower.index.version.number == writer.version.number
    save(writer, tmp_path / "idx")  # the writer snapshots: a new generation, the old log is deleted
    writer.upsert_user("u-text", text="space opera")
    follower.refresh()
    assert follower.index.version.number == writer.version.number
    assert [i.id for i in follower.index.recommend("u-new", k=5).items] == [i.id for i in writer.recommend("u-new", k=5).items]
    writer.delete_items(["n1"])
    follower.refresh()
    with pytest.raises(UnknownIdError):
        follower.index.item_info("n1")


def test_a_half_written_line_waits_for_the_next_poll(writer, tmp_path: Path) -> None:
    follower = LogFollower(tmp_path / "idx")
    writer.upsert_user("u-a", text="jazz")
    wal = sorted((tmp_path / "idx").glob("wal-*.jsonl"))[-1]
    complete = wal.read_bytes()
    wal.write_bytes(complete[:-20])  # as if the writer were half-way through this line
    assert follower.refresh() == 0
    wal.write_bytes(complete)
    assert follower.refresh() == 1


def test_a_read_only_server_serves_the_writers_writes_within_a_second(writer, tmp_path: Path) -> None:
    latencies = []
    with TestClient(create_app(tmp_path / "idx", read_only=True, poll_interval=0.05)) as reader:
        for n in range(20):
            if n == 10:
                save(writer, tmp_path / "idx")  # a snapshot rotation in the middle
            writer.upsert_items([{"id": f"w{n}", "text": f"item number {n} about robots"}])
            acknowledged = time.monotonic()
            while reader.get(f"/items/w{n}").status_code != 200:
                assert time.monotonic() - acknowledged < 5, f"write {n} not visible after 5 s"
                time.sleep(0.01)
            latencies.append(time.monotonic() - acknowledged)
        assert reader.get("/health").json()["version"] == writer.version.number
        assert reader.post("/users", json={"id": "x"}).status_code == 409  # still read-only
    assert max(latencies) < 1.0, latencies
