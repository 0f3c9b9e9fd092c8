"""The bearer token from $COLDKIT_TOKEN or create_app(token=...): one a client can send, or a clear refusal at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coldkit.exceptions import InvalidInputError
from coldkit.serving import save
from coldkit.serving.app import TOKEN_ENV, create_app

BODY = {"items": [{"id": "n1", "text": "a violin concerto"}]}


@pytest.fixture()
def index(tmp_path: Path, make_tiny_index):  # type: ignore[no-untyped-def]
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    yield index
    index.close()


@pytest.mark.parametrize("value", ["s3cret\n", "s3cret\r\n", " s3cret "])
def test_a_secret_with_a_trailing_newline_in_the_environment_still_opens_the_writes(
    index, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # a secret read from a file ends in a newline: HTTP strips it from the header, so the server
    # answered every write 403, even to a client sending exactly the configured token
    monkeypatch.setenv(TOKEN_ENV, value)
    client = TestClient(create_app(index))
    assert client.post("/items", json=BODY).status_code == 401
    assert client.post("/items", json=BODY, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/items", json=BODY, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_blank_token_in_the_environment_is_refused_not_a_server_nobody_can_write_to(
    index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "  ")
    with pytest.raises(InvalidInputError, match=r"\$COLDKIT_TOKEN holds only whitespace"):
        create_app(index)
    monkeypatch.setenv(TOKEN_ENV, "")  # empty is unset: no token, as documented
    assert TestClient(create_app(index)).post("/items", json=BODY).status_code == 200


@pytest.mark.parametrize("token", ["s3cret ", "\ts3cret", "pässwort", "s3\ncret"])
def test_a_token_no_client_can_send_is_refused(index, token: str) -> None:
    with pytest.raises(InvalidInputError, match="token must be printable ASCII without whitespace at its ends"):
        create_app(index, token=token)


def test_a_token_with_an_inner_space_works(index) -> None:
    client = TestClient(create_app(index, token="s3 cret"))
    assert client.post("/items", json=BODY, headers={"Authorization": "Bearer s3 cret"}).status_code == 200


def test_coldkit_serve_names_where_an_unsendable_token_came_from(
    tmp_path: Path, index, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the refusal said "create_app: token must be ..." whichever flag or variable the operator had set
    from coldkit.cli import main

    path = str(tmp_path / "idx")
    index.close()  # the server opens it itself
    secret = tmp_path / "token"
    secret.write_text("pässwort\n", encoding="utf-8")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    for extra, named in (
        (["--token", "pässwort"], "--token must be printable ASCII"),
        (["--token-file", str(secret)], f"the token in --token-file {str(secret)!r} must be printable ASCII"),
    ):
        assert main(["serve", path, "--port", "0", *extra]) == 2
        err = capsys.readouterr().err
        assert named in err and "create_app" not in err, err
    monkeypatch.setenv(TOKEN_ENV, "pässwort")
    assert main(["serve", path, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "$COLDKIT_TOKEN must be printable ASCII" in err and "create_app" not in err, err


def test_a_refused_token_leaves_the_index_closed(tmp_path: Path, index, monkeypatch: pytest.MonkeyPatch) -> None:
    # create_app(path) opened the index (its lock and log files) before checking $COLDKIT_TOKEN, and raised
    # without closing it: in-process the index then stayed locked to every later writer
    import gc

    from coldkit.serving import load

    index.close()
    monkeypatch.setenv(TOKEN_ENV, "pässwort")
    gc.disable()  # the leaked handles must not be rescued by the collector
    try:
        with pytest.raises(InvalidInputError, match="must be printable ASCII"):
            create_app(str(tmp_path / "idx"))
        load(tmp_path / "idx").close()  # the writer's lock is free
    finally:
        gc.enable()


WRITES = [("POST", "/items"), ("DELETE", "/items/1"), ("POST", "/interactions"), ("POST", "/users"), ("POST", "/snapshot")]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("body", [
    {"content": b"items=x", "headers": {"content-type": "application/x-www-form-urlencoded"}},  # curl -d: was 415 first
    {"content": b"{not json", "headers": {"content-type": "application/json"}},  # malformed JSON: was 422 first
    {"content": b'{"x": 1}', "headers": {"content-type": "application/json"}, "params": {"surprise": "1"}},  # unknown query: was 422
])
def test_every_write_checks_the_token_before_the_body(index, method: str, path: str, body: dict) -> None:
    """A client without a token (or with a wrong one) learns nothing of the body rules: 401/403 first."""
    client = TestClient(create_app(index, token="s3cret"))
    assert client.request(method, path, **body).status_code == 401
    wrong = {**body, "headers": {**body["headers"], "Authorization": "Bearer nope"}}
    assert client.request(method, path, **wrong).status_code == 403
    right = {**body, "headers": {**body["headers"], "Authorization": "Bearer s3cret"}}
    assert client.request(method, path, **right).status_code not in (401, 403)
