"""On-device scoring: ``POST /recommend`` with the client's own ``user_vector`` instead of its click history.

The reference is the server's own history path: a device that sums the fold-in vectors (``GET /vectors``)
of its clicks with :func:`coldkit.privacy.federated.local_user_vector` gets the list the server would
give for those clicks — over real HTTP, from a real ``coldkit serve`` process — and bad vectors get a
422 that names the problem.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from coldkit.data import Catalog, Interactions, load_dataset
from coldkit.exceptions import InvalidInputError
from coldkit.privacy.federated import local_user_vector
from coldkit.serving import ServingIndex, save
from coldkit.serving.reads import MAX_USER_VECTOR_NORM, check_user_vector


def small_interactions(n_warm: int = 200, n_cold: int = 40, n_users: int = 150) -> Interactions:
    ds = load_dataset("ml-latest-small")
    order = np.argsort(-ds.interactions.item_counts(), kind="stable")
    items = np.concatenate([np.sort(order[:n_warm]), np.sort(order[-n_cold:])])
    table = ds.catalog.table.iloc[items].reset_index(drop=True)
    catalog = Catalog(ds.catalog.item_ids[items], table, ds.catalog.text_columns)
    matrix = ds.interactions.matrix[:n_users][:, items].tocsr().tolil()
    matrix[:, n_warm:] = 0
    return Interactions(ds.interactions.user_ids[:n_users], catalog, matrix.tocsr())


@pytest.fixture(scope="module")
def index() -> ServingIndex:
    # CF alone with full trust in any history (content 0, user_trust 0, no learned regimes): then the
    # server's history path and the device's vector path blend exactly the same source the same way
    return ServingIndex.build(
        small_interactions(), encoder="hashing", cache=False, tune=False, user_trust=0.0,
        weights={"cf": 1.0, "content": 0.0, "text": 0.5, "popularity": 0.5},
    )


def device_vector(index: ServingIndex, history: list[str], **noise) -> np.ndarray:
    ids, vectors = index.foldin_vectors()
    return local_user_vector(history, dict(zip(ids, vectors.tolist())), **noise)


def listing(rec) -> list[tuple[str, float]]:
    return [(item.id, round(item.score, 5)) for item in rec.items]


def test_the_device_vector_ranks_as_the_servers_history(index: ServingIndex) -> None:
    ids = index.version.item_ids
    for history in ([ids[3], ids[10], ids[42]], [ids[0]], [ids[7], ids[220]]):  # ids[220]: a cold item
        by_history = index.recommend(history=history, k=15, exclude_known=False, explain=False)
        by_vector = index.recommend(user_vector=device_vector(index, history), k=15, exclude_known=False, explain=False)
        assert [i.id for i in by_vector.items] == [i.id for i in by_history.items]
        np.testing.assert_allclose([i.score for i in by_vector.items], [i.score for i in by_history.items], rtol=1e-4, atol=1e-6)
        assert by_vector.sources == by_history.sources


def test_fold_in_vectors_are_the_served_ones_and_page(index: ServingIndex) -> None:
    v = index.version
    ids, vectors = index.foldin_vectors()
    assert ids == [v.item_ids[o] for o in range(v.n_items)] and vectors.shape == (v.n_items, v.cf.shape[1])
    np.testing.assert_array_equal(vectors, v.foldin[v.item_row[: v.n_items]])
    page_ids, page = index.foldin_vectors(offset=5, limit=7)
    assert page_ids == ids[5:12]
    np.testing.assert_array_equal(page, vectors[5:12])
    with pytest.raises(InvalidInputError, match="offset"):
        index.foldin_vectors(offset=-1)


def test_noise_on_the_device_moves_the_list_gracefully(index: ServingIndex) -> None:
    ids = index.version.item_ids
    history = [ids[i] for i in (1, 2, 3, 4, 5, 6)]
    clean = index.recommend(user_vector=device_vector(index, history), k=20, exclude_known=False)
    small = index.recommend(user_vector=device_vector(index, history, noise_scale=1e-4, seed=0), k=20, exclude_known=False)
    large = index.recommend(user_vector=device_vector(index, history, noise_scale=50.0, seed=0), k=20, exclude_known=False)
    clean_ids = {i.id for i in clean.items}
    assert len(clean_ids & {i.id for i in small.items}) >= 18
    assert len(clean_ids & {i.id for i in large.items}) < len(clean_ids & {i.id for i in small.items})


@pytest.mark.parametrize(
    "vector, message",
    [
        ([0.1, 0.2], r"^user_vector must hold 3 numbers \(this index's cf_dim, see /health\), got 2 numbers$"),
        ([0.1], r"^user_vector must hold 3 numbers \(this index's cf_dim, see /health\), got 1 number$"),
        ([], r"^user_vector must hold 3 numbers \(this index's cf_dim, see /health\), got 0 numbers$"),
        ("0.1,0.2", "must be a list"),
        ([True] * 3, "only numbers"),
        (np.zeros((2, 2)), "flat list"),
        ([float("nan")] * 3, "finite"),
        ([1e300] * 3, "norm"),
    ],
)
def test_check_user_vector(vector, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_user_vector(vector, 3)
    assert check_user_vector([1, 2.5, -3], 3).dtype == np.float32
    assert MAX_USER_VECTOR_NORM >= 1e6


def test_a_user_vector_of_the_wrong_length_is_said_in_plain_words() -> None:
    # {"user_vector": [1.0]} answered "user_vector has 1 numbers", without the length expected first
    with pytest.raises(InvalidInputError) as caught:
        check_user_vector([1.0], 8)
    assert str(caught.value) == "user_vector must hold 8 numbers (this index's cf_dim, see /health), got 1 number"
    with pytest.raises(InvalidInputError) as caught:
        check_user_vector([1.0, 2.0], 1)
    assert str(caught.value) == "user_vector must hold 1 number (this index's cf_dim, see /health), got 2 numbers"


def test_user_vector_replaces_user_and_history(index: ServingIndex) -> None:
    dim = index.version.cf.shape[1]
    with pytest.raises(InvalidInputError, match="replaces user_id and history"):
        index.recommend(index.version.user_ids[0], user_vector=[0.0] * dim)
    with pytest.raises(InvalidInputError, match="replaces user_id and history"):
        index.recommend(history=[index.version.item_ids[0]], user_vector=[0.0] * dim)


# ------------------------------------------------------------------------------------------ over real HTTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(index: ServingIndex, tmp_path_factory):
    path = tmp_path_factory.mktemp("vector") / "idx"
    save(index, path)
    index.close()  # release the directory's writer lock for the server; the index stays readable here
    port = free_port()
    log = open(path.parent / "server.log", "ab")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coldkit", "serve", str(path), "--port", str(port), "--token", "t"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError((path.parent / "server.log").read_text()[-2000:])
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_http_user_vector_equals_the_in_process_result(server: httpx.Client, index: ServingIndex) -> None:
    health = server.get("/health").json()
    dim = health["cf_dim"]
    # the device downloads the fold-in vectors page by page: they equal the in-process ones
    ids, rows, offset = [], [], 0
    while True:
        page = server.get("/vectors", params={"offset": offset, "limit": 64}).json()
        assert page["dim"] == dim
        if not page["ids"]:
            break
        ids += page["ids"]
        rows += page["vectors"]
        offset += len(page["ids"])
    local_ids, local_rows = index.foldin_vectors()
    assert ids == local_ids and offset == page["total"]
    np.testing.assert_allclose(np.asarray(rows), local_rows, rtol=1e-6)

    table = dict(zip(ids, rows))
    for history, text in (([ids[3], ids[10], ids[42]], None), ([ids[5]], "a funny animated comedy")):
        vector = local_user_vector(history, table, noise_scale=0.01, seed=1)
        body = {"user_vector": vector.tolist(), "k": 12, "exclude_known": False, "text": text}
        answer = server.post("/recommend", json=body)
        assert answer.status_code == 200, answer.text
        expected = index.recommend(user_vector=vector.tolist(), k=12, exclude_known=False, text=text)
        got = answer.json()
        assert [item["id"] for item in got["items"]] == [item.id for item in expected.items]
        np.testing.assert_allclose([item["score"] for item in got["items"]], [i.score for i in expected.items], rtol=1e-5)
        assert got["sources"] == pytest.approx(expected.sources)


def test_http_bad_vectors_get_422_naming_the_problem(server: httpx.Client, index: ServingIndex) -> None:
    dim = server.get("/health").json()["cf_dim"]
    user = index.version.user_ids[0]
    cases = [
        ({"user_vector": [0.5] * (dim + 1)}, f"user_vector must hold {dim} numbers (this index's cf_dim, see /health), got {dim + 1} numbers"),
        ({"user_vector": [1.0]}, f"user_vector must hold {dim} numbers (this index's cf_dim, see /health), got 1 number\""),
        ({"user_vector": []}, "got 0 numbers"),
        ({"user_vector": [1e200] * dim}, "norm"),
        ({"user_vector": ["0.5"] * dim}, "user_vector"),
        ({"user_vector": [True] * dim}, "user_vector"),
        ({"user_vector": [[0.5]] * dim}, "user_vector"),
        ({"user_vector": "0.5"}, "user_vector"),
        ({"user_vector": [0.5] * dim, "user_id": user}, "replaces user_id and history"),
        ({"user_vector": [0.5] * dim, "history": [index.version.item_ids[0]]}, "replaces user_id and history"),
    ]
    for body, message in cases:
        answer = server.post("/recommend", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert message in answer.text, (message, answer.text)
    # strict JSON: NaN / Infinity are not numbers
    for raw in (b'{"user_vector": [NaN]}', b'{"user_vector": [Infinity]}'):
        answer = server.post("/recommend", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code == 422, answer.text
    for params in ({"limit": 0}, {"offset": -1}, {"limit": 10**6}):
        assert server.get("/vectors", params=params).status_code == 422
