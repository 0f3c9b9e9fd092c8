"""`coldkit serve` binds its port before it opens the index: --port 0 reports the port it got, a busy port is named."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coldkit.serving import load, save

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLDKIT_LOAD_PLUGINS": ""}


@pytest.fixture()
def saved(tmp_path: Path, make_tiny_index) -> Path:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    index.close()
    return tmp_path / "idx"


def test_port_0_prints_the_port_the_server_listens_on(saved: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "coldkit", "serve", str(saved), "--port", "0"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["port"] != 0  # was 0: the server listened on a port nobody could learn
        assert httpx.get(f"http://127.0.0.1:{started['port']}/health", timeout=30).json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reads and closes the pipe


def test_a_busy_port_is_named_before_the_index_is_opened(saved: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "coldkit", "serve", str(saved), "--port", str(port)], env=ENV,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving" not in done.stdout  # was: a "serving" line, then uvicorn's bind error
    load(saved).close()  # the writer lock was never taken


def test_a_second_writer_is_told_the_flag_not_the_python_argument(saved: Path) -> None:
    # it said "open it with read_only=True" (and "call its close()") to a user of the command line
    writer = load(saved)  # holds the writer lock, as a running server does
    try:
        done = subprocess.run([sys.executable, "-m", "coldkit", "serve", str(saved), "--port", "0"], env=ENV,
                              capture_output=True, text=True, timeout=120)
    finally:
        writer.close()
    assert done.returncode == 2, done.stderr
    assert "is open for writing by another process" in done.stderr and "serve it with --read-only" in done.stderr
    assert "read_only=True" not in done.stderr and "Traceback" not in done.stderr


def test_port_0_with_several_workers_is_refused(saved: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "coldkit", "serve", str(saved), "--port", "0", "--workers", "2",
                           "--read-only"], env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--port 0 needs --workers 1" in done.stderr


def test_accepted_connections_send_without_waiting_for_acks() -> None:
    """The listening socket says TCP, so asyncio (uvicorn's loop) turns Nagle off on each accepted connection:
    created with protocol 0 it did not, and every reply on a kept-alive connection waited ~40 ms for the
    client's delayed ACK (the serving benchmark's HTTP p50 was 47.6 ms against 2.5 ms in-process)."""
    import asyncio

    from coldkit.commands.serve import _listen

    listener = _listen("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
            while not seen:
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(asyncio.wait_for(main(), timeout=30))
    assert seen and seen[0] != 0
