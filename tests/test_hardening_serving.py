"""Issue 14, serving: bad input is a 4xx / a clear error (never a 500 or a UnicodeEncodeError), damaged files are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from coldkit.exceptions import InvalidInputError
from coldkit.serving import IndexFormatError, load, save
from coldkit.serving.app import create_app

JSON = {"content-type": "application/json"}
SURROGATE = '"\\ud800"'  # a lone UTF-16 surrogate, as JSON text


@pytest.fixture()
def client(tmp_path: Path, make_tiny_index):
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    with TestClient(create_app(index), raise_server_exceptions=False) as c:
        yield c
    index.close()


BAD_BODIES = [
    ("/recommend", '{"k": NaN}'),
    ("/recommend", '{"text": "x", "constraints": {"min_new_share": NaN}}'),
    ("/recommend", '{"text": "x", "constraints": {"mmr_lambda": Infinity}}'),
    ("/recommend", '{"text": "x", "constraints": {"min_new_share": -Infinity}}'),
    ("/recommend", '{"text": "x", "constraints": {"min_new_share": 1e999}}'),
    ("/recommend", '{"text": %s}' % SURROGATE),
    ("/recommend", '{"user_id": %s}' % SURROGATE),
    ("/recommend", '{"history": [%s]}' % SURROGATE),
    ("/recommend", '{"text": "x", "candidates": ["i1", %s]}' % SURROGATE),
    ("/recommend", '{%s: 1}' % SURROGATE),
    ("/items", '{"items": [{"id": %s, "text": "x"}]}' % SURROGATE),
    ("/items", '{"items": [{"id": "n1", "text": "a \\udfff b"}]}'),
    ("/items", '{"items": [{"id": "n1", "text": "x", "categories": [%s]}]}' % SURROGATE),
    ("/items", '{"items": [{"id": "n1", "text": "x", "image": %s}]}' % SURROGATE),
    ("/users", '{"id": "u1", "text": %s}' % SURROGATE),
    ("/users", '{"id": "u1", "items": [%s]}' % SURROGATE),
    ("/interactions", '{"events": [{"user_id": %s, "item_id": "i1"}]}' % SURROGATE),
    ("/interactions", '{"events": [{"user_id": "u1", "item_id": "i1", "x": NaN}]}'),
]


@pytest.mark.parametrize("path, body", BAD_BODIES)
def test_nan_infinity_and_lone_surrogates_are_a_422_with_a_message(client: TestClient, path: str, body: str) -> None:
    version = client.get("/health").json()["version"]
    response = client.post(path, content=body.encode("utf-8"), headers=JSON)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "surrogate" in str(detail) or "finite" in str(detail)
    assert client.get("/health").json()["version"] == version  # nothing was written


def test_raw_invalid_utf8_bytes_are_a_4xx(client: TestClient) -> None:
    # bytes of an encoded surrogate (not valid UTF-8) decode to a lone surrogate in Python's json
    response = client.post("/items", content=b'{"items": [{"id": "n1", "text": "\xed\xa0\x80"}]}', headers=JSON)
    assert response.status_code == 422


def test_validation_errors_do_not_echo_the_input(client: TestClient) -> None:
    response = client.post("/recommend", content=b'{"k": "secret-value", "text": "x"}', headers=JSON)
    assert response.status_code == 422
    assert "secret-value" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "k"]


def test_an_unknown_id_with_escapes_still_renders(client: TestClient) -> None:
    response = client.get("/items/%ED%A0%80")
    assert response.status_code == 404


def test_health_shows_no_absolute_path(client: TestClient, tmp_path: Path) -> None:
    health = client.get("/health").json()
    assert health["path"] == "idx"
    assert str(tmp_path) not in json.dumps(health)


@pytest.mark.parametrize("write", [
    lambda ix: ix.upsert_items([{"id": "n1", "text": "bad \ud800"}]),
    lambda ix: ix.upsert_items([{"id": "n\udc00", "text": "x"}]),
    lambda ix: ix.upsert_items([{"id": "n1", "text": "x", "categories": ["\ud800"]}]),
    lambda ix: ix.upsert_items([{"id": "n1", "text": "x", "image": "\ud800.png"}]),
    lambda ix: ix.upsert_user("u\ud800", text="x"),
    lambda ix: ix.upsert_user("u1", text="\ud800"),
    lambda ix: ix.add_interactions([("u\ud800", "i1")]),
    lambda ix: ix.recommend(text="\ud800", k=3),
])
def test_python_api_refuses_lone_surrogates_clearly(tmp_path: Path, write, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    before = index.version.number
    with pytest.raises(InvalidInputError, match="surrogate"):
        write(index)
    assert index.version.number == before
    index.close()
    reopened = load(tmp_path / "idx")  # the log holds nothing half-written
    assert reopened.version.number == before
    reopened.close()


def _log_with(tmp_path: Path, record: dict, index) -> Path:
    path = tmp_path / "idx"
    save(index, path)
    index.upsert_user("u-new", text="likes heists")
    index.close()
    wal = sorted(path.glob("wal-*.jsonl"))[-1]
    lines = wal.read_text(encoding="utf-8").splitlines()
    lines.append(json.dumps({"version": index.version.number + 1, **record}))
    wal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("record, problem", [
    ({"op": "upsert_user"}, "lacks the field 'id'"),
    ({"op": "upsert_items"}, "lacks the field 'items'"),
    ({"op": "upsert_items", "items": [{"id": "x"}]}, "without 'id' and 'text'"),
    ({"op": "delete_items", "ids": "i1"}, "expected list"),
    ({"op": "interactions", "events": [["u1"]]}, "pair"),
    ({"op": "drop_everything"}, "unknown operation"),
])
def test_a_log_record_with_missing_fields_names_the_line(tmp_path: Path, record: dict, problem: str, make_tiny_index) -> None:
    path = _log_with(tmp_path, record, make_tiny_index())
    with pytest.raises(IndexFormatError, match=rf"line 2 .*{problem}"):
        load(path)


def test_a_log_record_that_cannot_be_replayed_names_the_line(tmp_path: Path, make_tiny_index) -> None:
    path = _log_with(tmp_path, {"op": "interactions", "events": [["u1", "no-such-item"]]}, make_tiny_index())
    with pytest.raises(IndexFormatError, match="line 2: record 2 .*no-such-item"):
        load(path)


# ---------------------------------------------------------------- loaded files: digests, finiteness, confinement
def _saved_index(tmp_path: Path, index) -> tuple[Path, Path]:
    path = tmp_path / "idx"
    save(index, path)
    index.close()
    return path, sorted(path.glob("snap-*"))[-1]


def _flip_last_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-1] ^= 0x01  # same size, different content
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["content.npy", "cf.npy", "item_count.npy", "user_items.npy", "items.json"])
def test_an_edited_file_of_the_same_size_is_detected_and_named(tmp_path: Path, make_tiny_index, name: str) -> None:
    path, snap = _saved_index(tmp_path, make_tiny_index())
    if name == "items.json":
        text = (snap / name).read_text(encoding="utf-8")
        (snap / name).write_text(text.replace("comedy", "COMEDY", 1), encoding="utf-8")
    else:
        _flip_last_byte(snap / name)
    with pytest.raises(IndexFormatError, match=rf"{name}.*SHA-256"):
        load(path)


def _rewrite_manifest(snap: Path, edit) -> None:
    manifest = json.loads((snap / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    pointer = json.loads((snap.parent / "CURRENT").read_text())  # as an index saved before CURRENT kept its digest
    pointer.pop("manifest_sha256", None)
    (snap.parent / "CURRENT").write_text(json.dumps(pointer))


@pytest.mark.parametrize("name", ["content", "cf", "foldin", "item_count", "map_weights"])
def test_nan_in_a_loaded_array_is_refused_naming_the_file(tmp_path: Path, make_tiny_index, name: str) -> None:
    import numpy as np

    path, snap = _saved_index(tmp_path, make_tiny_index())
    array = np.load(snap / f"{name}.npy")
    array.reshape(-1)[0] = np.nan
    np.save(snap / f"{name}.npy", array)  # same dtype and shape; the digest is dropped to reach the finiteness check
    _rewrite_manifest(snap, lambda m: m["arrays"][name].pop("sha256"))
    with pytest.raises(IndexFormatError, match=rf"{name}\.npy.* NaN or infinite"):
        load(path)


@pytest.mark.parametrize("entry", ["../content.npy", "/etc/passwd", "sub/content.npy", "..", ""])
def test_manifest_file_entries_are_confined_to_the_snapshot(tmp_path: Path, make_tiny_index, entry: str) -> None:
    path, snap = _saved_index(tmp_path, make_tiny_index())
    (path / "content.npy").write_bytes((snap / "content.npy").read_bytes())  # a valid file outside the snapshot
    _rewrite_manifest(snap, lambda m: m["arrays"]["content"].update(file=entry))
    with pytest.raises(IndexFormatError, match="not a file inside its snapshot directory"):
        load(path)


def test_a_symlink_out_of_the_snapshot_is_refused(tmp_path: Path, make_tiny_index) -> None:
    path, snap = _saved_index(tmp_path, make_tiny_index())
    outside = tmp_path / "elsewhere.npy"
    outside.write_bytes((snap / "content.npy").read_bytes())
    (snap / "content.npy").unlink()
    (snap / "content.npy").symlink_to(outside)
    with pytest.raises(IndexFormatError, match="not a file inside its snapshot directory"):
        load(path)


def test_nan_vectors_in_the_log_are_refused_naming_the_line(tmp_path: Path, make_tiny_index) -> None:
    import base64

    import numpy as np

    index = make_tiny_index()
    path = tmp_path / "idx"
    save(index, path)
    index.upsert_items([{"id": "n1", "text": "a new heist"}])
    index.close()
    wal = sorted(path.glob("wal-*.jsonl"))[-1]
    record = json.loads(wal.read_text(encoding="utf-8").splitlines()[0])
    content = np.frombuffer(base64.b64decode(record["content"]), dtype="<f4").copy()
    content[0] = np.inf
    record["content"] = base64.b64encode(content.tobytes()).decode("ascii")
    wal.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="line 1.*NaN or infinite"):
        load(path)


def test_an_edited_quantised_catalogue_of_the_same_size_is_detected(tmp_path: Path) -> None:
    import numpy as np

    from coldkit.quantized import QuantizedIndex

    vectors = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    QuantizedIndex(vectors, "int8").save(tmp_path / "q")
    QuantizedIndex.load(tmp_path / "q")  # intact: loads
    _flip_last_byte(tmp_path / "q" / "catalog.npy")
    with pytest.raises(InvalidInputError, match=r"catalog\.npy.*SHA-256"):
        QuantizedIndex.load(tmp_path / "q")


# ---------------------------------------------------------------- media paths
@pytest.fixture()
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "posters").mkdir(parents=True)
    (root / "posters" / "a.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "secret.jpg").write_bytes(b"outside")
    (root / "posters" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    return root


def _post_image(client: TestClient, image: str):
    return client.post("/items", json={"items": [{"id": "img-1", "text": "a poster", "image": image}]})


@pytest.mark.parametrize("image", ["../secret.jpg", "../no-such.jpg", "/etc/passwd", "/no/such/file.jpg",
                                   "posters/../../secret.jpg", "posters/link.jpg", "a\x00b.jpg"])
def test_image_paths_outside_the_media_root_get_the_same_422(make_tiny_index, media: Path, image: str) -> None:
    index = make_tiny_index()
    with TestClient(create_app(index, media_root=media), raise_server_exceptions=False) as client:
        response = _post_image(client, image)
        assert response.status_code == 422
        # one answer for files that exist and files that do not: the response probes nothing
        assert response.json() == {"detail": "item 'img-1': the image path is outside the server's media root"}
        assert client.get("/health").json()["items"] == 30


def test_image_paths_inside_the_media_root_reach_the_encoder(make_tiny_index, media: Path) -> None:
    from coldkit.serving.app import MediaRoot

    assert MediaRoot(media).resolve("posters/a.jpg", "x") == str((media / "posters" / "a.jpg").resolve())
    assert MediaRoot(media).resolve(str(media / "posters" / "a.jpg"), "x") == str((media / "posters" / "a.jpg").resolve())
    missing = MediaRoot(media).resolve("posters/none.jpg", "x")  # inside the root: the encoder says it is missing,
    assert MediaRoot(media).hide(f"image file not found: {missing!r}") == "image file not found: '<media root>/posters/none.jpg'"
    index = make_tiny_index()
    with TestClient(create_app(index, media_root=media), raise_server_exceptions=False) as client:
        response = _post_image(client, "posters/a.jpg")
        assert response.status_code == 422 and "encodes text only" in response.text  # past the confinement check


@pytest.mark.parametrize("image", ["", "   "])
def test_an_empty_image_path_is_no_image(make_tiny_index, media: Path, image: str) -> None:
    # "" resolved to the media root itself: 422 "image '<media root>' is a directory"; the Python API and the
    # item file read an empty path as no image, and serving.md says an item without content is accepted
    from coldkit.encoding import image_key, load_image
    from coldkit.media import file_problem

    index = make_tiny_index()
    with TestClient(create_app(index, media_root=media), raise_server_exceptions=False) as client:
        response = _post_image(client, image)
        assert response.status_code == 200, response.text
        assert client.get("/health").json()["items"] == 31
        assert client.get("/items/img-1").json()["image"] is None
    index.upsert_items([{"id": "img-2", "text": "another", "image": image}])  # the Python API: the same
    assert index.item_info("img-2")["image"] is None
    assert file_problem(image) == "path is empty"
    for read in (load_image, image_key):  # asked for an image and given none: said so, not "'.' is a directory"
        with pytest.raises(InvalidInputError, match="image path is empty"):
            read(image)


@pytest.mark.parametrize(
    "option, value",
    [("max_body_bytes", -1), ("max_body_bytes", 0), ("max_items_per_request", 0), ("max_body_bytes", 2.5),
     ("poll_interval", 0), ("poll_interval", -1.0), ("poll_interval", float("nan"))],
)  # fmt: skip
def test_create_app_refuses_limits_no_server_can_use(make_tiny_index, option: str, value: object) -> None:
    # max_body_bytes=-1 answered every request with 413; poll_interval=0 spun the follower at 100 % CPU
    index = make_tiny_index()
    with pytest.raises(InvalidInputError, match=f"create_app: {option} must be"):
        create_app(index, **{option: value})
    index.close()


@pytest.mark.parametrize("option", ["read_only", "mmap"])
def test_load_flags_must_be_booleans(tmp_path: Path, make_tiny_index, option: str) -> None:
    # load(path, read_only="no") opened the index read-only: "no" is a non-empty string
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    index.close()
    with pytest.raises(InvalidInputError, match=f"{option} must be True or False, got 'no'"):
        load(tmp_path / "idx", **{option: "no"})
    with pytest.raises(InvalidInputError, match=f"{option} must be True or False, got 'no'"):
        create_app(tmp_path / "idx", **{option: "no"})  # read_only="no" took the read-only follower path
    writer = load(tmp_path / "idx", read_only=False, mmap=False)  # the lock was not taken by the refused calls
    writer.close()


def test_without_a_media_root_no_image_path_is_taken(client: TestClient) -> None:
    response = _post_image(client, "posters/a.jpg")
    assert response.status_code == 422 and "--media-root" in response.text


@pytest.mark.parametrize("write, field, kind", [
    (lambda ix: ix.add_interactions([(5, "i1")]), "event 0 user_id", "int"),
    (lambda ix: ix.add_interactions([("u1", "i1"), ("u1", 2.0)]), "event 1 item_id", "float"),
    (lambda ix: ix.add_interactions([(b"u1", "i1")]), "event 0 user_id", "bytes"),
    (lambda ix: ix.add_interactions([(True, "i1")]), "event 0 user_id", "bool"),
    (lambda ix: ix.upsert_user(7, text="likes heists"), "user_id", "int"),
    (lambda ix: ix.upsert_items([{"id": 9, "text": "a heist"}]), "item 0 id", "int"),
    (lambda ix: ix.recommend(user_id=3, k=3), "user_id", "int"),
    (lambda ix: ix.delete_items([4]), "item id", "int"),
    (lambda ix: ix.similar_items(4, k=3), "item id", "int"),
    # lookups too: has_item(5) answered for the item "5"
    (lambda ix: ix.has_item(5), "item_id", "int"),
    (lambda ix: ix.has_user(np.int64(5)), "user_id", "int64"),
    (lambda ix: ix.item_info(5), "item_id", "int"),
    (lambda ix: ix.user_items(5), "user_id", "int"),
])
def test_python_api_refuses_non_string_ids_like_the_http_api(tmp_path: Path, write, field: str, kind: str,
                                                             make_tiny_index) -> None:
    # the HTTP API answers 422 to {"user_id": 5}; the Python API read 5 as the text "5" and created that user
    index = make_tiny_index()
    before = (index.version.number, index.version.n_users)
    with pytest.raises(InvalidInputError, match=rf"^{field} must be a string id, got {kind}\b"):
        write(index)
    assert (index.version.number, index.version.n_users) == before  # nothing was applied
    index.close()


@pytest.mark.parametrize("write, problem", [
    # each was a TypeError or a bare KeyError 0 from inside the writer, naming nothing
    (lambda ix: ix.add_interactions(None), r"^events must be a list of \(user_id, item_id\) pairs, got NoneType"),
    (lambda ix: ix.add_interactions({"u1": "i1"}), r"^events must be a list of \(user_id, item_id\) pairs, got dict"),
    (lambda ix: ix.add_interactions([5]), r"^event 0 must be a \(user_id, item_id\) pair, got 5"),
    (lambda ix: ix.add_interactions([("u1", "i1"), {"u1", "i1"}]), r"^event 1 must be a \(user_id, item_id\) pair"),
    (lambda ix: ix.add_interactions([{"user_id": "u1", "item_id": "i1"}]),
     r"^event 0 is a mapping; pass \(user_id, item_id\) pairs"),
    (lambda ix: ix.delete_items(None), r"^delete_items takes a list of ids, got NoneType"),
    (lambda ix: ix.delete_items(4), r"^delete_items takes a list of ids, got int"),
])
def test_python_api_refuses_writes_of_the_wrong_shape_naming_them(write, problem: str, make_tiny_index) -> None:
    index = make_tiny_index()
    before = (index.version.number, index.version.n_users, index.version.n_items)
    with pytest.raises(InvalidInputError, match=problem):
        write(index)
    assert (index.version.number, index.version.n_users, index.version.n_items) == before  # nothing was applied
    # the shapes that are right still work: a tuple, a list, a numpy row (the reference is the HTTP body's pair)
    user, item = "shape-user", index.version.item_ids[0]
    stats = index.add_interactions([(user, item), [user + "2", item], np.array([user + "3", item])])
    assert stats == {"recorded": 3, "duplicates": 0, "new_users": 3}
    assert list(index.user_items(user)) == [item]
    index.close()


def test_http_api_refuses_an_integer_user_id(client: TestClient) -> None:
    response = client.post("/interactions", json={"events": [{"user_id": 5, "item_id": "i1"}]})
    assert response.status_code == 422
    assert [str(part) for part in response.json()["detail"][0]["loc"]] == ["body", "events", "0", "user_id"]


@pytest.mark.parametrize("body, problem", [
    # an integer beyond float's range: a 500 "int too large to convert to float" in user_vector
    ('{"user_vector": [1%s<ZEROS>]}' % ("0" * 400), "out of range"),
    ('{"user_vector": [-1%s<ZEROS>]}' % ("0" * 310), "out of range"),
    ('{"text": "x", "constraints": {"max_per_category": 1%s}}' % ("0" * 400), "out of range"),
    ('{"k": %s}' % ("9" * 5000), "out of range"),  # past int()'s digit limit: was a 400 that did not say why
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was a 400 "There was an error parsing the body"
])
def test_json_numbers_and_nesting_the_parser_cannot_take_are_a_422_naming_them(
    client: TestClient, body: str, problem: str
) -> None:
    dim = client.get("/health").json()["cf_dim"]
    response = client.post("/recommend", content=body.replace("<ZEROS>", ", 0" * (dim - 1)).encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert problem in str(response.json()["detail"])


@pytest.mark.parametrize("path", ["/recommend", "/items"])
def test_a_body_that_is_not_utf8_is_a_422_naming_the_byte(client: TestClient, path: str) -> None:
    # Latin-1 text: a 400 "There was an error parsing the body", nothing of what was wrong
    body = b'{"text": "caf\xe9", "k": 1}' if path == "/recommend" else b'{"items": [{"id": "caf\xe9"}]}'
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert "not valid UTF-8: byte 0xe9 at position" in response.json()["detail"]


def test_a_large_integer_inside_float_range_is_still_a_number(client: TestClient) -> None:
    dim = client.get("/health").json()["cf_dim"]
    body = '{"user_vector": [1%s%s]}' % ("0" * 300, ", 0" * (dim - 1))  # 1e300: only the norm limit refuses it
    response = client.post("/recommend", content=body.encode(), headers=JSON)
    assert response.status_code == 422 and "norm" in response.json()["detail"]


@pytest.mark.parametrize("options, field", [
    ({"user_vector": "BIG"}, "user_vector"),  # was OverflowError: int too large to convert to float
    ({"text": "x", "min_new_share": 10**400}, "min_new_share"),
    ({"text": "x", "mmr_lambda": 10**400}, "mmr_lambda"),
    ({"text": "x", "mmr_lambda": True}, "mmr_lambda"),  # was taken as 1.0
])
def test_python_api_numbers_beyond_float_range_are_invalid_input(make_tiny_index, options: dict, field: str) -> None:
    index = make_tiny_index()
    if options.get("user_vector") == "BIG":
        options = {"user_vector": [10**400] + [0] * (index.version.cf.shape[1] - 1)}
    with pytest.raises(InvalidInputError, match=field):
        index.recommend(k=3, **options)


@pytest.mark.parametrize("path", ["/recommend", "/items", "/users", "/interactions"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])
def test_a_body_sent_as_another_content_type_is_refused_naming_json(client: TestClient, path: str, content_type: str | None) -> None:
    body = {"/recommend": '{"text": "space"}', "/items": '{"items": [{"id": "n1", "text": "x"}]}',
            "/users": '{"id": "u-ct"}', "/interactions": '{"events": [{"user_id": "u1", "item_id": "i1"}]}'}[path]
    response = client.post(path, content=body.encode(), headers={} if content_type is None else {"content-type": content_type})
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    # was 422 "Input should be a valid dictionary or object to extract fields from"
    named = "no content-type header" if content_type is None else content_type.split(";")[0]
    assert "application/json" in detail and named in detail, detail
    assert not client.get("/health").json()["version"]  # nothing was written


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json"])
def test_json_bodies_are_taken_as_before(client: TestClient, content_type: str) -> None:
    response = client.post("/recommend", content=b'{"text": "space", "k": 2}', headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 2


@pytest.mark.parametrize(("body", "kind"), [("null", "null"), ("[]", "an array"), ('"text"', "a string"), ("7", "a number")])
def test_a_json_body_that_is_not_an_object_is_said_so(client: TestClient, body: str, kind: str) -> None:
    response = client.post("/recommend", content=body.encode(), headers=JSON)
    assert response.status_code == 422
    # was "Input should be a valid dictionary or object to extract fields from"
    assert response.json()["detail"][0]["msg"] == f"the body must be a JSON object ({{...}}), got {kind}"


@pytest.mark.parametrize(("path", "body"), [
    ("/recommend", {"text": "space"}), ("/items", {"items": [{"id": "n1", "text": "x"}]}),
    ("/users", {"id": "u-q"}), ("/interactions", {"events": [{"user_id": "u1", "item_id": "i1"}]}),
])
def test_a_query_parameter_on_a_json_body_endpoint_is_refused_naming_it(client: TestClient, path: str, body: dict) -> None:
    """POST /recommend?k=5 answered the default 10 items: FastAPI ignores query parameters nobody declares.
    A body endpoint's fields go in the body; a query parameter is a 422 naming it, and nothing is written."""
    response = client.post(f"{path}?k=5&dry_run=1", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [["query", "dry_run"], ["query", "k"]]
    assert all("JSON body" in e["msg"] and e["type"] == "extra_forbidden" for e in detail)
    assert not client.get("/health").json()["version"]  # nothing was written
    assert client.post(path, json=body).status_code == 200  # the same body without them is taken


def test_k_in_the_body_is_the_list_length(client: TestClient) -> None:
    assert len(client.post("/recommend", json={"text": "space", "k": 5}).json()["items"]) == 5
    assert client.get("/items/i1/similar?k=3").status_code == 200  # declared query parameters are taken as before


def test_events_that_are_all_duplicates_are_acknowledged_without_a_new_version(tmp_path: Path, make_tiny_index) -> None:
    """POST /interactions with only events the index holds logged a write-ahead record and bumped the
    version: a reader waiting for that version saw a "new" one with nothing new. Now a no-op: acknowledged
    with the counts and the version that already holds them; the log is as it was."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    index.close()
    index = load(tmp_path / "idx")
    user = index.version.user_ids[0]
    held = index.user_items(user)[:2]  # the reference: what the index holds for this user
    assert len(held) == 2
    with TestClient(create_app(index), raise_server_exceptions=False) as c:
        first = c.post("/interactions", json={"events": [{"user_id": "fresh", "item_id": held[0]}]}).json()
        assert first["recorded"] == 1 and first["new_users"] == 1 and first["version"] == 1
        log = sorted((tmp_path / "idx").glob("wal-*.jsonl"))[-1]
        logged = log.read_bytes()
        events = [{"user_id": user, "item_id": i} for i in held] + [{"user_id": "fresh", "item_id": held[0]}]
        again = c.post("/interactions", json={"events": events})
        assert again.status_code == 200, again.text
        assert again.json() == {"recorded": 0, "duplicates": len(events), "new_users": 0, "version": 1}
        assert log.read_bytes() == logged and c.get("/health").json()["version"] == 1
        # a real write after it takes the next number
        assert c.post("/interactions", json={"events": [{"user_id": "fresh", "item_id": held[-1]}]}).json()["version"] == 2
    index.close()
    reopened = load(tmp_path / "idx")  # the log replays to the same state
    assert reopened.user_items("fresh")[0] == held[0]
    reopened.close()


def test_an_item_without_content_is_accepted_with_a_note(client: TestClient) -> None:
    """POST /items took {"text": ""} without a word, though no text, no image means the content sources
    score the item 0 for every request. It is accepted, as `coldkit recommend` takes a catalogue row without
    text with a note, and the answer now says so for that item alone."""
    response = client.post("/items", json={"items": [{"id": "blank", "text": "  "}, {"id": "told", "text": "space drama"}]})
    assert response.status_code == 200, response.text
    blank, told = response.json()["items"]
    assert blank["created"] and "no content" in blank["note"] and "note" not in told
    # the note's claims, checked against the index: 0 against a text, nothing similar
    v = client.app.state.index.version
    assert not v.content[v.item_row[v.item_index["blank"]]].any()  # a zero vector: every cosine with it is 0
    assert v.content[v.item_row[v.item_index["told"]]].any()
    assert client.get("/items/blank/similar").json()["items"] == []
    # the cf source places it as an average item (the ridge map's intercept), so it can be listed: the note
    # and its why say that, not "like those users ... liked" nor "popularity ranks it once it has interactions"
    assert "average item" in blank["note"] and "popularity ranks it" not in blank["note"]
    index = client.app.state.index
    no_clicks = np.empty(0, dtype=np.int64)
    blank_row, told_row = (int(v.item_row[v.item_index[i]]) for i in ("blank", "told"))
    said = index._why(v, blank_row, no_clicks, "", {}, {"cf": 0.5})  # what the cf source's part gives as the why
    assert said == "new item without content: placed as an average item for clicks like yours"
    assert index._why(v, told_row, no_clicks, "", {}, {"cf": 0.5}) == "new item like those users with clicks like yours liked"


def test_a_log_with_a_duplicate_only_record_of_an_older_coldkit_still_loads(tmp_path: Path, make_tiny_index) -> None:
    """Before duplicate-only events were acknowledged without a version, coldkit logged them as a version
    of their own. Replaying such a record now publishes nothing, so the next record "followed" the one
    before and the index could not be loaded ("a log file is missing"): every such index was lost by an
    upgrade. The record keeps its version number on replay, as a no-op."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    index.close()
    index = load(tmp_path / "idx")
    user = index.version.user_ids[0]
    held = index.user_items(user)[0]
    index.add_interactions([("fresh", held)])  # version 1
    index.upsert_items([{"id": "later", "text": "a gadget added later"}])  # version 2
    index.close()
    log = sorted((tmp_path / "idx").glob("wal-*.jsonl"))[-1]
    first, second = log.read_bytes().splitlines(keepends=True)
    # the log as the older coldkit wrote it: version 2, duplicates only; the item became version 3
    older = json.dumps({"version": 2, "op": "interactions", "events": [[user, held]]}, separators=(",", ":"))
    third = json.loads(second)
    third["version"] = 3
    log.write_bytes(first + older.encode() + b"\n" + json.dumps(third, separators=(",", ":")).encode() + b"\n")
    for read_only in (True, False):
        reopened = load(tmp_path / "idx", read_only=read_only)  # was: IndexFormatError "record 3 follows 1"
        assert reopened.version.number == 3
        assert reopened.has_item("later") and reopened.user_items("fresh") == [held]
        if not read_only:
            reopened.upsert_items([{"id": "newest", "text": "after the upgrade"}])
            assert reopened.version.number == 4
        reopened.close()
    assert load(tmp_path / "idx", read_only=True).version.number == 4


def test_an_unknown_id_that_is_a_known_one_written_otherwise_is_named(tmp_path: Path) -> None:
    # the loaders strip the ids of a file ("  42 " is served as "42"), a request's id is matched exactly: the
    # bare 404 "unknown user id: '  42 '" did not say that the user was there, a space away
    import unicodedata

    from coldkit.serving import build_index_from_files

    rows = [("  42 ", "item/ü-1"), ("  42 ", "i2"), ("u2", "i2"), ("u2", "007"), ("u3", "007"), ("u3", "item/ü-1")]
    (tmp_path / "ratings.csv").write_text("user_id,item_id\n" + "".join(f"{u},{i}\n" for u, i in rows), encoding="utf-8")
    (tmp_path / "items.csv").write_text(
        "item_id,title\nitem/ü-1,a heist in rome\ni2,robots in space\n007,a spy story\n", encoding="utf-8")
    index = build_index_from_files(tmp_path / "idx", interactions=tmp_path / "ratings.csv", items=tmp_path / "items.csv",
                                   encoder="hashing")
    # the reference: the ids as Python strips them, the form the index holds
    assert index.has_user("  42 ".strip()) and not index.has_user("  42 ")
    client = TestClient(create_app(index), raise_server_exceptions=False)
    answer = client.post("/recommend", json={"user_id": "  42 ", "k": 2})
    assert answer.status_code == 404
    assert answer.json()["detail"] == ("unknown user id: '  42 '; ids are matched exactly as written: '  42 ' is not '42' "
                                       "(ids read from files when the index was built are stripped of surrounding spaces)")
    nfd = unicodedata.normalize("NFD", "item/ü-1")
    answer = client.post("/interactions", json={"events": [{"user_id": "u9", "item_id": nfd}, {"user_id": "u9", "item_id": "7"}]})
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert detail.startswith("unknown item ids: ")
    assert f"{ascii(nfd)} is not {ascii('item/ü-1')} (one text in two Unicode forms)" in detail
    assert "'7' is not" not in detail  # "007" is known, but "7" is not a shorter "007": only known forms are probed
    answer = client.post("/recommend", json={"history": ["0007"], "k": 2})
    assert answer.json()["detail"] == "unknown item id: '0007'"  # "007" != "0007" stripped of zeros ("7"): no hint
    assert index.add_interactions([("u9", "007")])["new_users"] == 1  # nothing above was applied
    # matching stays exact: "  42 " written by a request is its own user, and round-trips as written
    assert client.post("/users", json={"id": "  42 ", "items": ["i2"]}).json()["created"] is True
    assert index.user_items("  42 ") == ["i2"] and sorted(index.user_items("42")) == sorted(["item/ü-1", "i2"])
    index.close()
    again = load(tmp_path / "idx")
    assert again.user_items("  42 ") == ["i2"]
    again.close()


# ---------------------------------------------------------------- ids with control characters
CONTROL_IDS = ["a\nb", "a\tb", "a\x00b", "a\rb", "a\x7fb", "a\x85b", "a\u2028b", "ab\n"]


@pytest.mark.parametrize("bad", CONTROL_IDS)
@pytest.mark.parametrize("path, body, field", [
    ("/items", lambda bad: {"items": [{"id": "fine", "text": "x"}, {"id": bad, "text": "x"}]}, "item 1 id"),
    ("/interactions", lambda bad: {"events": [{"user_id": bad, "item_id": "i1"}]}, "event 0 user_id"),
    ("/users", lambda bad: {"id": bad, "text": "likes heists"}, "user_id"),
])
def test_an_id_with_a_control_character_is_a_422_naming_the_field_and_the_escaped_id(
        client: TestClient, path: str, body, field: str, bad: str) -> None:
    # a newline, tab or NUL in an id breaks every line-based export: POST /items {"id": "a\nb"} was a 200
    before = client.get("/health").json()
    response = client.post(path, json=body(bad))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # the reference: the character the test put in, found independently of the code under test
    pos = next(p for p, ch in enumerate(bad) if ch in "\n\t\x00\r\x7f\x85\u2028")
    assert detail.startswith(f"{field} {ascii(bad)} holds a control character (U+{ord(bad[pos]):04X}) at position {pos}")
    assert "\n" not in detail and "\t" not in detail and "\x00" not in detail  # shown escaped, not raw
    after = client.get("/health").json()
    assert (after["version"], after["items"], after["users"]) == (before["version"], before["items"], before["users"])


@pytest.mark.parametrize("write, field", [
    (lambda ix: ix.upsert_items([{"id": "a\nb", "text": "a heist"}]), "item 0 id"),
    (lambda ix: ix.add_interactions([("u\x00", "i1")]), "event 0 user_id"),
    (lambda ix: ix.add_interactions([("u1", "i1"), ("new\tuser", "i2")]), "event 1 user_id"),
    (lambda ix: ix.upsert_user("x\ny", items=["i1"]), "user_id"),
])
def test_python_api_refuses_ids_with_control_characters_naming_the_field(write, field: str, make_tiny_index) -> None:
    index = make_tiny_index()
    before = (index.version.number, index.version.n_users, index.version.n_items)
    with pytest.raises(InvalidInputError, match=rf"^{field} '.*\\[ntx]\S*' holds a control character"):
        write(index)
    assert (index.version.number, index.version.n_users, index.version.n_items) == before  # nothing was applied
    assert index.add_interactions([("plain user", "i1")])["new_users"] == 1  # spaces and letters are ids as before
    index.close()


def test_ids_with_control_characters_read_from_files_stay_usable(tmp_path: Path) -> None:
    """The loaders take an id with an inner tab or newline as it is (only surrounding whitespace is stripped):
    an index built from such a file holds it, and its user or item can still be read and written, and a log
    written before the refusal (an item created online then) is still replayed."""
    import pandas as pd

    from coldkit.models.frames import to_interactions
    from coldkit.serving import ServingIndex

    frame = pd.DataFrame({"user_id": ["u\t1", "u\t1", "u2", "u2", "u3"],
                          "item_id": ["i\n1", "i2", "i2", "i3", "i\n1"]})
    items = pd.DataFrame({"item_id": ["i\n1", "i2", "i3", "i4"],
                          "title": ["a heist in rome", "robots in space", "a spy story", "a quiet drama"]})
    data = to_interactions(frame, items=items)
    assert "u\t1" in [str(u) for u in data.user_ids] and "i\n1" in [str(i) for i in data.catalog.item_ids]  # the reference
    index = ServingIndex.build(data, encoder="hashing", cache=False)
    assert index.has_user("u\t1") and index.has_item("i\n1")
    assert index.add_interactions([("u\t1", "i3"), ("u9", "i\n1")]) == {"recorded": 2, "duplicates": 0, "new_users": 1}
    assert index.upsert_items([{"id": "i\n1", "text": "a heist in rome, again"}])[0]["created"] is False
    assert index.upsert_user("u\t1", text="likes heists")["created"] is False
    assert sorted(index.user_items("u\t1")) == sorted(["i\n1", "i2", "i3"])
    save(index, tmp_path / "idx")
    index.close()
    # an older coldkit's log that created an item with a newline in its id: replayed as it was accepted then
    log = sorted((tmp_path / "idx").glob("wal-*.jsonl"))[-1]
    writer = load(tmp_path / "idx")
    writer.upsert_items([{"id": "later", "text": "a gadget"}])
    writer.close()
    log.write_text(log.read_text(encoding="utf-8").replace('"later"', json.dumps("la\nter")), encoding="utf-8")
    reopened = load(tmp_path / "idx")
    assert reopened.has_item("la\nter") and not reopened.has_item("later")
    with pytest.raises(InvalidInputError, match="holds a control character"):
        reopened.upsert_items([{"id": "la\nter2", "text": "a gadget"}])  # a new one is refused all the same
    reopened.close()


# ---------------------------------------------------------------- the build's notes survive a reload
def test_the_builds_notes_are_saved_with_the_index_and_loaded_back(tmp_path: Path, make_tiny_index) -> None:
    # ServingIndex.build kept the fit's notes in build_notes, but load(path).build_notes was [] (not saved)
    index = make_tiny_index()
    notes = list(index.build_notes)
    assert notes and all(isinstance(n, str) for n in notes)  # the tiny data's fit notes something
    path, snap = _saved_index(tmp_path, index)
    assert json.loads((snap / "manifest.json").read_text(encoding="utf-8"))["build_notes"] == notes  # JSON, in the snapshot
    for read_only in (False, True):
        loaded = load(path, read_only=read_only)
        assert loaded.build_notes == notes
        with TestClient(create_app(loaded), raise_server_exceptions=False) as c:
            assert c.get("/health").json()["build_notes"] == notes
        if not read_only:
            loaded.upsert_items([{"id": "later", "text": "a gadget"}])
            save(loaded, path)  # a later snapshot of the loaded index keeps them
        loaded.close()
    again = load(path)
    assert again.build_notes == notes and again.has_item("later")
    again.close()


def test_a_snapshot_saved_before_the_notes_were_kept_loads_with_none(tmp_path: Path, make_tiny_index) -> None:
    path, snap = _saved_index(tmp_path, make_tiny_index())
    _rewrite_manifest(snap, lambda m: m.pop("build_notes"))
    loaded = load(path)
    assert loaded.build_notes == []
    with TestClient(create_app(loaded), raise_server_exceptions=False) as c:
        assert c.get("/health").json()["build_notes"] == []
    loaded.close()


@pytest.mark.parametrize("notes", ["one note", [1, 2], None, {"a": "b"}])
def test_mangled_build_notes_in_a_manifest_are_named(tmp_path: Path, make_tiny_index, notes: object) -> None:
    path, snap = _saved_index(tmp_path, make_tiny_index())
    _rewrite_manifest(snap, lambda m: m.update(build_notes=notes))
    with pytest.raises(IndexFormatError, match="'build_notes' is not a list of strings"):
        load(path)


@pytest.mark.parametrize("flags", [[], ["--workers", "2", "--read-only"]])
def test_coldkit_serve_prints_the_saved_notes_when_it_opens_the_index(
        tmp_path: Path, make_tiny_index, flags: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], worker_env: None) -> None:
    import socket

    import uvicorn

    from coldkit.cli import main

    index = make_tiny_index()
    notes = list(index.build_notes)
    path, _ = _saved_index(tmp_path, index)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # opened, not served
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert main(["serve", str(path), "--port", str(port), *flags]) == 0
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.startswith("note: ")] == [f"note: {n}" for n in notes]
    assert "note:" not in captured.out  # stdout stays the one JSON line
    json.loads(captured.out.strip().splitlines()[-1])


# ---------------------------------------------------------------- a category no item has is named, not ignored
def test_a_category_no_item_has_is_named_in_the_answer(client: TestClient) -> None:
    # {"max_per_category": {"Comdy": 1}} answered 200 with relaxed: [] and no word: the misspelt limit held nothing
    index = client.app.state.index
    # the reference: every live item's categories, as GET /items/{id} shows them
    present = {c for i in index.version.item_ids for c in client.get(f"/items/{i}").json()["categories"]}
    assert "Comedy" in present and "Comdy" not in present
    answer = client.post("/recommend", json={"text": "comedy heist", "k": 6,
                                             "constraints": {"max_per_category": {"Comdy": 1, "Comedy": 2, "Western": 0}}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unknown_categories"] == ["Comdy", "Western"]
    shown = [client.get(f"/items/{item['id']}").json()["categories"] for item in body["items"]]
    assert sum("Comedy" in c for c in shown) <= 2 and body["relaxed"] == []  # the known limit still holds
    for constraints in ({"max_per_category": {"Comedy": 1}}, {"max_per_category": 1}, {}):
        answer = client.post("/recommend", json={"text": "comedy heist", "k": 3, "constraints": constraints})
        assert answer.json()["unknown_categories"] == []


def test_python_api_names_the_categories_no_current_item_has(make_tiny_index) -> None:
    index = make_tiny_index()
    limits = {"Comdy": 1, "Drama": 1}
    assert index.recommend(text="heist", k=3, max_per_category=limits).unknown_categories == ["Comdy"]
    assert index.recommend(text="heist", k=3).unknown_categories == []
    # a category an item added later brings is known from then on, and unknown again once no live item has it
    index.upsert_items([{"id": "typo-item", "text": "a heist", "categories": ["Comdy"]}])
    assert index.recommend(text="heist", k=3, max_per_category=limits).unknown_categories == []
    index.delete_items(["typo-item"])
    assert index.recommend(text="heist", k=3, max_per_category=limits).unknown_categories == ["Comdy"]
    # clicks leave the items alone: the next version keeps their categories (not a walk over every item per write)
    known = index.writer.version._memo["categories"]
    user = index.writer.version.user_ids[0]
    index.add_interactions([(user, index.writer.version.item_ids[0])])
    assert index.writer.version._memo.get("categories") is known
    assert index.recommend(text="heist", k=3, max_per_category=limits).unknown_categories == ["Comdy"]
    index.upsert_items([{"id": "typo-item-2", "text": "a heist", "categories": ["Comdy"]}])  # an item write: anew
    assert "categories" not in index.writer.version._memo
    assert index.recommend(text="heist", k=3, max_per_category=limits).unknown_categories == []
    index.close()
