"""`coldkit serve` as a real process on a loopback port, exercised over real HTTP (httpx).

Covers every endpoint, the 4xx contract (never a 5xx for bad input), a bounded load test (throughput,
p50/p99, zero errors) and crash safety: SIGKILL during ``/snapshot``, restart, nothing acknowledged lost.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from coldkit.data import Catalog, Interactions, load_dataset
from coldkit.serving import ServingIndex, save

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOAD_REQUESTS = int(os.environ.get("COLDKIT_LOAD_REQUESTS", "2000"))
LOAD_CLIENTS = 8
CRASH_ATTEMPTS = int(os.environ.get("COLDKIT_CRASH_ATTEMPTS", "2"))


def small_interactions(n_warm: int = 300, n_cold: int = 60, n_users: int = 200) -> Interactions:
    ds = load_dataset("ml-latest-small")
    counts = ds.interactions.item_counts()
    order = np.argsort(-counts, kind="stable")
    items = np.concatenate([np.sort(order[:n_warm]), np.sort(order[-n_cold:])])
    table = ds.catalog.table.iloc[items].reset_index(drop=True)
    catalog = Catalog(ds.catalog.item_ids[items], table, ds.catalog.text_columns)
    matrix = ds.interactions.matrix[:n_users][:, items].tocsr().tolil()
    matrix[:, n_warm:] = 0
    return Interactions(ds.interactions.user_ids[:n_users], catalog, matrix.tocsr())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m coldkit serve PATH`` in a subprocess, ready when ``/health`` answers."""

    def __init__(self, path: Path, log: Path, env: dict[str, str] | None = None, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coldkit", "serve", str(path), "--port", str(self.port), "--token", TOKEN, *extra],
            env=environment, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def train() -> Interactions:
    return small_interactions()


@pytest.fixture(scope="module")
def built(train: Interactions, tmp_path_factory) -> Path:
    """A saved index, copied by each test that writes (building once keeps the module fast)."""
    path = tmp_path_factory.mktemp("built") / "idx"
    index = ServingIndex.build(train, encoder="hashing", weights={"cf": 1.0, "content": 1.0, "text": 1.0, "popularity": 0.1}, cache=False)
    save(index, path)
    index.close()
    return path


def fresh_copy(built: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "idx"
    shutil.copytree(built, target, ignore=shutil.ignore_patterns("LOCK"))
    return target


@pytest.fixture(scope="module")
def server(built: Path, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("served") / "idx"
    shutil.copytree(built, path, ignore=shutil.ignore_patterns("LOCK"))
    srv = Server(path, path.parent / "server.log")
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------------------ every endpoint
def test_every_endpoint(server: Server, train: Interactions) -> None:
    user = str(train.user_ids[0])
    with server.client() as c:
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["items"] == 360 and health["users"] == 200
        assert isinstance(health["version"], int) and "seq" not in health and health["backend"] == "rust"
        # one word per concept: the old field names are refused, not silently ignored
        for old in ({"recent_items": []}, {"exclude_seen": False}):
            assert c.post("/recommend", json={"user_id": user, **old}).status_code == 422

        r = c.post("/recommend", json={"user_id": user, "k": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) == 5 and body["relaxed"] == [] and body["sources"]["cf"] > 0
        assert all(set(i) == {"id", "score", "new", "why"} for i in body["items"])
        assert [i["score"] for i in body["items"]] == sorted((i["score"] for i in body["items"]), reverse=True)

        cands = [str(i) for i in train.catalog.item_ids[:40]]
        r = c.post("/recommend", json={"text": "space war", "history": cands[:2], "k": 8, "candidates": cands,
                                        "constraints": {"exclude": cands[2:4], "max_per_category": 2, "min_new_share": 0.0}})
        got = [i["id"] for i in r.json()["items"]]
        assert r.status_code == 200 and set(got) <= set(cands[4:]) and len(got) == 8
        r = c.post("/recommend", json={"text": "comedy", "k": 10, "constraints": {"mmr_lambda": 0.5, "min_new_share": 0.2}})
        assert r.status_code == 200 and sum(i["new"] for i in r.json()["items"]) >= 2

        item = str(train.catalog.item_ids[3])
        assert c.get(f"/items/{item}").json()["id"] == item
        similar = c.get(f"/items/{item}/similar", params={"k": 4}).json()
        assert len(similar["items"]) == 4 and item not in [i["id"] for i in similar["items"]]

        # writes: the new item is recommendable by the very next request
        r = c.post("/items", json={"items": [{"id": "http-1", "text": "An opera sung by penguins in Antarctica",
                                              "categories": ["Musical"]}]}, headers=AUTH)
        assert r.status_code == 200 and r.json()["items"] == [{"id": "http-1", "created": True}]
        top = c.post("/recommend", json={"text": "penguins opera antarctica", "k": 1}).json()["items"]
        assert top[0]["id"] == "http-1" and top[0]["new"] is True

        r = c.post("/interactions", json={"events": [{"user_id": "http-user", "item_id": "http-1"}]}, headers=AUTH)
        assert r.json()["recorded"] == 1 and r.json()["new_users"] == 1
        rec = c.post("/recommend", json={"user_id": "http-user", "k": 5}).json()
        assert "http-1" not in [i["id"] for i in rec["items"]]

        r = c.post("/users", json={"id": "http-text", "text": "penguins singing"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["created"] is True
        assert c.post("/recommend", json={"user_id": "http-text", "k": 3}).json()["items"][0]["id"] == "http-1"

        assert c.delete("/items/http-1", headers=AUTH).status_code == 200
        assert c.get("/items/http-1").status_code == 404
        top = c.post("/recommend", json={"text": "penguins opera antarctica", "k": 50}).json()["items"]
        assert "http-1" not in [i["id"] for i in top]

        r = c.post("/snapshot", headers=AUTH)
        assert r.status_code == 200 and r.json()["snapshot"] == "snap-000002"
        assert c.get("/health").json()["dead_rows"] == 0

        schema = c.get("/openapi.json").json()
        for route in ("/recommend", "/items", "/items/{item_id}", "/items/{item_id}/similar", "/interactions",
                      "/health", "/snapshot", "/users"):
            assert route in schema["paths"]


# ------------------------------------------------------------------------------------------ 4xx, never 5xx
def test_bad_requests_get_clear_4xx(server: Server) -> None:
    big = {"text": "x" * 3_000_000}
    cases = [
        # (method, path, kwargs, expected status, text expected in the message)
        ("POST", "/recommend", {"content": b"{bad json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ("POST", "/recommend", {"content": b"", "headers": {"content-type": "application/json"}}, 422, ""),
        ("POST", "/recommend", {"json": [1, 2]}, 422, ""),
        ("POST", "/recommend", {"json": {"k": "10"}}, 422, "integer"),
        ("POST", "/recommend", {"json": {"k": 0}}, 422, "greater than or equal"),
        ("POST", "/recommend", {"json": {"k": 1001}}, 422, "less than or equal"),
        ("POST", "/recommend", {"json": {"k": 2.5}}, 422, "integer"),
        ("POST", "/recommend", {"json": {"user_id": 7}}, 422, "string"),
        ("POST", "/recommend", {"json": {"user_id": "nobody"}}, 404, "nobody"),
        ("POST", "/recommend", {"json": {"history": ["no-such-item"]}}, 404, "no-such-item"),
        ("POST", "/recommend", {"json": {"candidates": "not-a-list"}}, 422, "list"),
        ("POST", "/recommend", {"json": {"surprise": 1}}, 422, "Extra inputs"),
        ("POST", "/recommend", {"json": {"exclude_known": "no"}}, 422, "valid boolean"),  # not truthy text
        ("POST", "/recommend", {"json": {"exclude_known": 0}}, 422, "valid boolean"),
        ("POST", "/recommend", {"json": {"constraints": {"min_new_share": 1.5}}}, 422, "less than or equal"),
        ("POST", "/recommend", {"json": {"constraints": {"max_per_category": -1}}}, 422, ">= 0"),
        ("POST", "/recommend", {"json": {"constraints": {"relax_order": ["nonsense"]}}}, 422, ""),
        ("POST", "/recommend", {"json": big}, 413, "exceeds"),
        ("GET", "/items/no-such-item/similar", {}, 404, "no-such-item"),
        ("GET", "/items/1/similar", {"params": {"k": 0}}, 422, ""),
        ("GET", "/items/1/similar", {"params": {"k": "many"}}, 422, ""),
        ("POST", "/items", {"json": {"items": [{"id": "a", "text": "b"}]}}, 401, "Bearer"),
        ("POST", "/items", {"json": {"items": [{"id": "a", "text": "b"}]}, "headers": {"Authorization": "Bearer nope"}}, 403, "invalid"),
        ("POST", "/items", {"json": {"items": []}, "headers": AUTH}, 422, ""),
        ("POST", "/items", {"json": {"items": [{"id": "a", "text": None}]}, "headers": AUTH}, 422, ""),
        ("POST", "/items", {"json": {"items": [{"id": "a", "text": "t"}, {"id": "a", "text": "u"}]}, "headers": AUTH}, 422, "twice"),
        ("POST", "/items", {"json": {"items": [{"id": f"i{n}", "text": "t"} for n in range(1001)]}, "headers": AUTH}, 422, "at most"),
        ("POST", "/items", {"json": {"items": [{"id": "img", "text": "t", "image": "/no/such.jpg"}]}, "headers": AUTH}, 422, "image"),
        ("DELETE", "/items/no-such-item", {"headers": AUTH}, 404, "no-such-item"),
        ("DELETE", "/items/1", {}, 401, ""),
        ("POST", "/interactions", {"json": {"events": [{"user_id": "u", "item_id": "no-such-item"}]}, "headers": AUTH}, 404, "no-such-item"),
        ("POST", "/interactions", {"json": {"events": [{"user_id": 1, "item_id": "1"}]}, "headers": AUTH}, 422, "string"),
        ("POST", "/users", {"json": {"id": "u", "items": ["no-such-item"]}, "headers": AUTH}, 404, "no-such-item"),
        ("POST", "/snapshot", {}, 401, ""),
    ]
    with server.client() as c:
        for method, path, kwargs, status, fragment in cases:
            r = c.request(method, path, **kwargs)
            assert r.status_code == status, (method, path, kwargs.get("json"), r.status_code, r.text[:300])
            assert fragment in r.text, (path, r.text[:300])
        # a chunked body (no Content-Length) over the limit is cut off too
        r = c.post("/recommend", content=iter([b'{"text": "', b"y" * 3_000_000, b'"}']),
                   headers={"content-type": "application/json"})
        assert r.status_code == 413
        # random junk of every JSON type in every field: always a 4xx (or 200), never a 5xx
        rng = random.Random(0)
        junk = [None, True, -1, 0, 3.7, 1e308, "", "x", [], [1, "a"], {}, {"a": [None]}, "é" * 50]
        fields = ["user_id", "text", "history", "k", "candidates", "exclude_known", "explain", "constraints"]
        for _ in range(150):
            body = {f: rng.choice(junk) for f in rng.sample(fields, rng.randint(1, 4))}
            r = c.post("/recommend", json=body)
            assert r.status_code < 500, (body, r.status_code, r.text[:300])
        for _ in range(40):
            cons = {f: rng.choice(junk) for f in rng.sample(["exclude", "max_per_category", "min_new_share", "mmr_lambda", "relax_order"], 2)}
            r = c.post("/recommend", json={"text": "drama", "constraints": cons})
            assert r.status_code < 500, (cons, r.status_code, r.text[:300])
        assert c.get("/health").status_code == 200


# ------------------------------------------------------------------------------------------ load
@pytest.mark.slow
def test_load_2000_requests_from_8_clients(server: Server, train: Interactions) -> None:
    users = [str(u) for u in train.user_ids[:200]]
    items = [str(i) for i in train.catalog.item_ids[:300]]
    rng = random.Random(1)
    bodies = []
    for n in range(LOAD_REQUESTS):
        kind = n % 8  # one request in eight carries constraints (the exact MILP reranker costs ~30 ms)
        if kind in (0, 4, 6):
            bodies.append({"user_id": rng.choice(users), "k": 10})
        elif kind in (1, 5):
            bodies.append({"text": rng.choice(["space war", "romantic comedy", "animated family", "crime thriller"]), "k": 10})
        elif kind in (2, 7):
            bodies.append({"history": rng.sample(items, 3), "k": 20, "explain": False})
        else:
            bodies.append({"user_id": rng.choice(users), "k": 10, "constraints": {"max_per_category": 3}})
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(share: list[dict]) -> None:
        with server.client() as c:
            for body in share:
                start = time.perf_counter()
                try:
                    r = c.post("/recommend", json=body)
                    ok = r.status_code == 200 and len(r.json()["items"]) > 0
                    message = "" if ok else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    message = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if message:
                        errors.append(message)

    started = time.perf_counter()
    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        list(pool.map(client, [bodies[i::LOAD_CLIENTS] for i in range(LOAD_CLIENTS)]))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    print(
        f"\nload: {len(ms)} requests, {LOAD_CLIENTS} clients, {len(ms) / wall:.0f} req/s, "
        f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, errors {len(errors)}"
    )
    assert len(ms) == LOAD_REQUESTS
    assert not errors, errors[:5]


# ------------------------------------------------------------------------------------------ crash safety
def _acknowledged_write(c: httpx.Client, n: int) -> tuple[str, str]:
    """One item add + one interaction, both acknowledged (200) before returning."""
    item = f"crash-item-{n}"
    r = c.post("/items", json={"items": [{"id": item, "text": f"crash test item number {n}"}]}, headers=AUTH)
    assert r.status_code == 200, r.text
    r = c.post("/interactions", json={"events": [{"user_id": f"crash-user-{n % 3}", "item_id": item}]}, headers=AUTH)
    assert r.status_code == 200, r.text
    return item, f"crash-user-{n % 3}"


@pytest.mark.slow
def test_kill_during_snapshot_loses_nothing_acknowledged(built: Path, tmp_path: Path) -> None:
    path = fresh_copy(built, tmp_path)
    acknowledged: list[tuple[str, str]] = []
    rng = random.Random(7)
    # 0.5 s after each snapshot file: a snapshot takes ~7 s, so kills land inside it
    delay = {"COLDKIT_TEST_SNAPSHOT_DELAY": "0.5"}
    n = 0
    for attempt in range(CRASH_ATTEMPTS):
        srv = Server(path, tmp_path / "server.log", delay)
        with srv.client() as c:
            for _ in range(3):
                acknowledged.append(_acknowledged_write(c, n))
                n += 1
            snapshot_result: dict = {}

            def snapshot() -> None:
                try:
                    snapshot_result["status"] = httpx.post(srv.url + "/snapshot", headers=AUTH, timeout=60).status_code
                except httpx.HTTPError as exc:  # the kill cuts the connection
                    snapshot_result["error"] = type(exc).__name__

            thread = threading.Thread(target=snapshot)
            thread.start()
            deadline = time.monotonic() + 30
            while not any(p.name.startswith(".tmp-snap-") for p in path.iterdir()):
                assert time.monotonic() < deadline, "the snapshot never started"
                time.sleep(0.02)
            # writes acknowledged while the snapshot is being written must survive too
            for _ in range(2):
                acknowledged.append(_acknowledged_write(c, n))
                n += 1
            time.sleep(rng.uniform(0.0, 1.5))
            in_progress = any(p.name.startswith(".tmp-snap-") for p in path.iterdir())
            srv.kill()
            assert in_progress, "the snapshot finished before the kill; raise COLDKIT_TEST_SNAPSHOT_DELAY"
            thread.join()
            assert "status" not in snapshot_result, "the snapshot finished before the kill; the test hit nothing"
        restarted = Server(path, tmp_path / "server.log")
        with restarted.client() as c:
            health = c.get("/health").json()
            for item, user in acknowledged:
                assert c.get(f"/items/{item}").status_code == 200, f"acknowledged item {item} lost (attempt {attempt})"
                rec = c.post("/recommend", json={"user_id": user, "k": 5})
                assert rec.status_code == 200, f"acknowledged user {user} lost"
            assert health["version"] == 2 * n
            # the server that restarted finishes a snapshot; the next kill hits the one after it
            assert c.post("/snapshot", headers=AUTH).status_code == 200
        restarted.kill()
        leftovers = [p.name for p in path.iterdir() if p.name.startswith(".tmp-")]
        assert not leftovers, leftovers
    current = json.loads((path / "CURRENT").read_text())
    assert current["generation"] == 1 + 2 * CRASH_ATTEMPTS  # each killed snapshot used a generation number too
