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
