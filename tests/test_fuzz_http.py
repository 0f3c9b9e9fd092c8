"""Fuzz the HTTP schema (issue 14): random JSON bodies and fields for every endpoint never get a 5xx.

In-process (FastAPI's TestClient over the real app and a real tiny index saved to disk), so each
request costs milliseconds; CI-lean: a few hundred requests in a few seconds.
"""

from __future__ import annotations

import json
import string
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldkit.serving import save
from coldkit.serving.app import create_app

fastapi_testclient = pytest.importorskip("fastapi.testclient")

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])

# strings that have broken servers before: lone surrogates, path tricks, ids that exist, empties, long ones
SPECIAL_TEXT = ["\ud800", "a\udfffb", "../etc/passwd", "/etc/passwd", "", " ", "i1", "i3", "u1", "u2", "\x00",
                "x" * 300, "é☃😀", "NaN", "null"]
texts = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=20),
                  st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3))
numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 10, 1000, 1001, 10**12, 0.5, 1.5]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(texts, inner, max_size=4)), max_leaves=12)
ids = st.one_of(st.sampled_from(["i1", "i2", "i29", "u1", "u3", "nope"]), texts)


def maybe(value: st.SearchStrategy, **kwargs: st.SearchStrategy) -> st.SearchStrategy:
    """A dict with some of the schema's fields (each drawn from its plausible values or from anything)."""
    return st.fixed_dictionaries({}, optional={name: st.one_of(strategy, json_values) for name, strategy in kwargs.items()})


constraints = maybe(st.none(), exclude=st.lists(ids, max_size=3), max_per_category=st.one_of(numbers, st.dictionaries(texts, numbers)),
                    min_new_share=numbers, mmr_lambda=numbers,
                    relax_order=st.lists(st.sampled_from(["min_new_share", "max_per_category", "x"]), max_size=3))
BODIES = {
    "/recommend": maybe(st.none(), user_id=ids, text=texts, history=st.lists(ids, max_size=4), k=numbers,
                        candidates=st.lists(ids, max_size=4), exclude_known=st.booleans(), explain=st.booleans(),
                        constraints=constraints,
                        user_vector=st.one_of(st.lists(numbers, max_size=70), st.lists(st.floats(-3, 3), min_size=1, max_size=70))),
    "/items": maybe(st.none(), items=st.lists(maybe(st.none(), id=ids, text=texts, categories=st.lists(texts, max_size=3),
                                                     image=texts), max_size=3)),
    "/interactions": maybe(st.none(), events=st.lists(maybe(st.none(), user_id=ids, item_id=ids), max_size=3)),
    "/users": maybe(st.none(), id=ids, text=texts, items=st.lists(ids, max_size=3)),
    "/snapshot": json_values,
}


def encode(body: object) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes; allow_nan writes NaN/Infinity, as a sloppy client would
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode("ascii")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, make_tiny_index):
    root = tmp_path_factory.mktemp("fuzz-http")
    (root / "media").mkdir()
    index = make_tiny_index()
    save(index, root / "idx")
    with fastapi_testclient.TestClient(create_app(index, token=TOKEN, media_root=root / "media"),
                                       raise_server_exceptions=False) as test_client:
        yield test_client
    index.close()


def check(response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    response.json()  # every answer, error or not, is JSON


@pytest.mark.parametrize("path", sorted(BODIES))
@FUZZ
@given(data=st.data())
def test_post_endpoints_never_answer_5xx(client, path: str, data: st.DataObject) -> None:
    body = data.draw(st.one_of(BODIES[path], json_values), label="body")
    check(client.post(path, content=encode(body), headers={**AUTH, "content-type": "application/json"}))


@FUZZ
@given(raw=st.binary(max_size=64), content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"]))
def test_raw_bytes_never_get_a_5xx(client, raw: bytes, content_type: str) -> None:
    for path in BODIES:
        check(client.post(path, content=raw, headers={**AUTH, "content-type": content_type}))


path_parts = st.text(alphabet=string.ascii_letters + string.digits + "%-._~!$&'()*+,;=:@", max_size=12)


@FUZZ
@given(item=st.one_of(st.sampled_from(["i1", "i2", "nope", "%ED%A0%80", "%00", "%FF%FE"]), path_parts),
       k=st.one_of(st.integers(-5, 2000).map(str), st.sampled_from(["", "NaN", "1e3", "x", "10" * 30])))
def test_get_and_delete_endpoints_never_answer_5xx(client, item: str, k: str) -> None:
    check(client.get(f"/items/{item}"))
    check(client.get(f"/items/{item}/similar", params={"k": k}))
    check(client.get("/health"))
    check(client.get("/vectors", params={"offset": k, "limit": k}))
    if item not in ("i1", "i2"):  # keep most of the catalogue for the other cases
        check(client.delete(f"/items/{item}", headers=AUTH))
