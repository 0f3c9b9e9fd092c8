"""A user's text made only of words no catalogue item has ("zebra"), under hashed TF-IDF.

Its hashed vector is orthogonal to every item; centred on the catalogue's mean it became minus the
mean, so its cosine with an item was ~ -mean . item: the least typical items were recommended first
(here "Quiet jazz evening", the one item without "film"), a silent wrong answer. Such a text says
nothing the catalogue knows: the content signal must be neutral (every fitted item scores exactly 0;
the list falls to the other sources and the popularity tie-break), while an item added to a serving
index later with that word is found by it. Dense encoders (every dimension used) are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldkit import get_encoder, models
from coldkit.cli import main
from coldkit.data import UserQuery
from coldkit.models.whitening import Whitening

RATINGS = pd.DataFrame({
    "user_id": ["a", "a", "b", "b", "c", "c", "c", "d", "e"],
    "item_id": ["m1", "m2", "m2", "m3", "m2", "m3", "m4", "m1", "m5"],
})  # fmt: skip
ITEMS = pd.DataFrame({
    "item_id": ["m1", "m2", "m3", "m4", "m5"],
    "title": ["Space robot film", "Space robot film drama", "Robot film", "Quiet jazz evening", "Space drama film"],
})  # fmt: skip
#: The independent reference: by interaction count (m2 3, m1 2, m3 2, m4 1, m5 1), ties by catalogue order.
BY_POPULARITY = ["m2", "m1", "m3", "m4", "m5"]


def _unknown_to(model: models.Recommender, word: str) -> None:
    """The premise: ``word``'s hashed buckets are used by no catalogue item (no hash collision)."""
    encoder = model.encoders[0]  # type: ignore[attr-defined]
    buckets = np.flatnonzero(encoder.encode_texts([word])[0])
    assert buckets.size and not np.any(model.raw_vectors_[:, buckets])  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ the rule
def test_a_query_outside_the_fitted_support_is_not_centred_and_items_are_as_before() -> None:
    fitted = np.array([[1.0, 0, 2, 0, 0], [0, 0, 1, 0, 0], [3, 0, 0, 0, 0]])
    w = Whitening("center").fit(fitted)
    assert w.support_.tolist() == [True, False, True, False, False]
    items = w.transform(fitted, normalize=True)
    np.testing.assert_allclose(items, _unit(fitted - fitted.mean(axis=0)), rtol=1e-6)  # items: centred, as always
    outside = np.array([[0.0, 5, 0, 1, 0]])
    query = w.transform(outside, normalize=True, query=True)
    np.testing.assert_allclose(query, _unit(outside), rtol=1e-6)  # not centred
    assert np.all(query @ items.T == 0)  # exactly neutral against every fitted item
    np.testing.assert_array_equal(w.transform(outside, normalize=True), _unit(outside - w.mean_).astype(np.float32))
    later = w.transform(np.array([[0.5, 2, 0, 0, 0]]), normalize=True)  # an item added since, with the new dim
    assert (query @ later.T).item() > 0.5
    sharing = np.array([[1.0, 5, 0, 0, 0], [0, 0, 0, 0, 0]])  # a dim in common (and a zero row): as before
    np.testing.assert_array_equal(w.transform(sharing, normalize=True, query=True), w.transform(sharing, normalize=True))
    assert Whitening("none").fit(fitted).support_ is None  # nothing subtracted: nothing to guard


def test_whiten_keeps_a_query_outside_the_support_on_the_axes_no_fitted_dimension_enters() -> None:
    rng = np.random.default_rng(0)
    fitted = np.zeros((12, 8))
    fitted[:, :5] = rng.normal(size=(12, 5))  # dims 5, 6, 7 unused by the catalogue
    w = Whitening("whiten").fit(fitted)
    items = w.transform(fitted)
    outside = np.array([[0, 0, 0, 0, 0, 2.0, 0, 1.0]])
    later = np.array([[0.3, 0, 0, 0, 0, 1.0, 0, 0]])
    query = w.transform(outside, query=True)
    assert np.all(query @ items.T == 0)
    # reference: with every axis kept, P P^T = (C + floor I)^-1, which is I / floor on the unused dims, so
    # the query's dot with the later item is (outside . later) / floor
    cov = np.cov(fitted, rowvar=False)
    floor = w.eps * float(np.clip(np.linalg.eigvalsh(cov), 0, None).mean())
    np.testing.assert_allclose((query @ w.transform(later).T).item(), (outside @ later.T).item() / floor, rtol=1e-4)
    # the unused dims' axes cut off by dim=: the query is the zero vector (neutral), not noise
    cut = Whitening("whiten", dim=3).fit(fitted)
    assert not cut.transform(outside, normalize=True, query=True).any()


def test_dense_vectors_map_bit_for_bit_as_before() -> None:
    rng = np.random.default_rng(1)
    fitted = rng.normal(size=(50, 16)).astype(np.float32)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    for mode in ("center", "whiten"):
        w = Whitening(mode).fit(fitted)
        assert w.support_.all() and w.partial_support() is None
        np.testing.assert_array_equal(w.transform(queries, normalize=True, query=True), w.transform(queries, normalize=True))


@pytest.mark.torch
@pytest.mark.slow
def test_minilm_texts_map_bit_for_bit_as_before() -> None:
    import coldkit

    if "bert" not in coldkit.plugins.manager.registry("encoder").names():
        pytest.skip("the coldkit-bert plugin is not installed")
    for mode in ("center", "whiten"):
        model = models.create("content", encoder="bert", whitening=mode, cache=False).fit(RATINGS, items=ITEMS)
        assert model.whitener.partial_support() is None  # MiniLM uses every dimension
        texts = ["zebra", "a quiet jazz film", "xqzv"]
        raw = model.encoders[0].encode_texts(texts)
        np.testing.assert_array_equal(model.encode_user_texts(texts), model.whitener.transform(raw, normalize=True))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------ the models
@pytest.mark.parametrize("whitening", ["center", "whiten"])
def test_content_model_scores_an_unknown_word_0_and_lists_by_popularity(whitening: str) -> None:
    model = models.create("content", encoder="hashing", whitening=whitening, cache=False).fit(RATINGS, items=ITEMS)
    _unknown_to(model, "zebra")
    unknown = model.recommend(users={"q": UserQuery(text="zebra")}, k=5)
    assert unknown["item_id"].tolist() == BY_POPULARITY  # before: m4 "Quiet jazz evening" first (0.25)
    assert (unknown["score"] == 0).all()
    assert not np.any(model.encode_user_texts(["zebra"]) @ model.item_vectors().T)
    # a known word still ranks by content
    assert model.recommend(users={"q": UserQuery(text="zebra jazz")}, k=1)["item_id"].tolist() == ["m4"]


def test_hybrid_with_an_unknown_word_ranks_as_without_text() -> None:
    hybrid = models.create("hybrid", encoder="hashing", cache=False, tune=False, stack=False).fit(RATINGS, items=ITEMS)
    unknown = hybrid.recommend(users={"q": UserQuery(text="zebra")}, k=5)
    assert unknown["item_id"].tolist() == BY_POPULARITY  # before: m4 second, beside m2
    assert hybrid.recommend(users={"q": UserQuery()}, k=5)["item_id"].tolist() == BY_POPULARITY


@pytest.mark.parametrize("model", ["content", "hybrid"])
def test_coldkit_recommend_with_a_profile_of_unknown_words(tmp_path: Path, model: str) -> None:
    RATINGS.to_csv(tmp_path / "train.csv", index=False)
    ITEMS.to_csv(tmp_path / "items.csv", index=False)
    (tmp_path / "users.txt").write_text("newbie\n", encoding="utf-8")
    (tmp_path / "profiles.csv").write_text("user_id,text\nnewbie,zebra\n", encoding="utf-8")
    out = tmp_path / "recs.csv"
    code = main([
        "recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
        "--users", str(tmp_path / "users.txt"), "--user-profiles", str(tmp_path / "profiles.csv"),
        "--model", model, "--encoder", "hashing", "--k", "5", "--out", str(out), "--no-progress", "--quiet",
    ])  # fmt: skip
    assert code == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert recs["item_id"].tolist() == BY_POPULARITY


def test_multimodal_text_block_keeps_its_support_through_its_saved_state() -> None:
    encoder = get_encoder("multimodal", text_encoder="hashing", cache=False)
    model = models.create("content", encoder=encoder, cache=False).fit(RATINGS, items=ITEMS)
    assert not np.any(model.encode_user_texts(["zebra"]) @ model.item_vectors().T)
    assert model.recommend(users={"q": UserQuery(text="zebra")}, k=5)["item_id"].tolist() == BY_POPULARITY
    options = json.loads(json.dumps(encoder.fitted_options()))
    again = get_encoder("multimodal", **options)
    assert again.fingerprint == encoder.fingerprint
    np.testing.assert_array_equal(again.whiteners["text"].support_, encoder.whiteners["text"].support_)
    np.testing.assert_array_equal(again.encode_texts(["zebra", "space jazz"]), encoder.encode_texts(["zebra", "space jazz"]))
    options["state"]["blocks"]["text"].pop("unused")  # state written before the support was kept: as before
    old = get_encoder("multimodal", **options)
    assert old.whiteners["text"].support_ is None
    np.testing.assert_array_equal(
        old.encode_texts(["zebra"]), encoder._fuse({"text": encoder.whiteners["text"].transform(
            encoder.encoders["text"].encode_texts(["zebra"]), normalize=True)}, 1),
    )


# ------------------------------------------------------------------------------------------ serving
@pytest.fixture()
def index():
    from coldkit.models.frames import to_interactions
    from coldkit.models.blend import DEFAULT_WEIGHTS
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving import ServingIndex
    from coldkit.serving.model import SERVED_SOURCES

    train = to_interactions(RATINGS, items=ITEMS)
    weights = {name: (1.0 if name in ("cf", "content", "text") else 0.1 if name == "popularity" else 0.0) for name in DEFAULT_WEIGHTS}
    assert set(n for n, w in weights.items() if w) <= set(SERVED_SOURCES)
    hybrid = Hybrid(encoder="hashing", warm="svd", weights=weights, cache=False, stack=False, tune=False, attributes=False).fit(train)
    built = ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing")
    yield built
    built.close()


def _ids(result) -> list[str]:
    return [item.id for item in result.items]


def test_serving_a_text_of_unknown_words_finds_a_later_item_with_them_and_no_atypical_one(index, tmp_path: Path) -> None:
    from coldkit.serving import load, save

    v = index.version
    fitted = [v.item_row[v.item_ordinal(i)] for i in ITEMS["item_id"]]
    assert not np.any(index.encode_user_texts(["zebra"]) @ v.content[fitted].T)  # exactly neutral
    assert _ids(index.recommend(text="zebra", k=5)) == BY_POPULARITY  # before: m4 first
    save(index, tmp_path / "idx")
    assert index.model.whitener.support_ is not None and not index.model.whitener.support_.all()
    index.upsert_items([{"id": "z1", "text": "Zebra crossing"}])  # after the snapshot: in the log only
    found = _ids(index.recommend(text="zebra", k=6))
    assert found[0] == "z1" and found[1:] == BY_POPULARITY
    index.close()
    loaded = load(tmp_path / "idx")  # snapshot + log replay
    try:
        np.testing.assert_array_equal(loaded.model.whitener.support_, index.model.whitener.support_)
        assert _ids(loaded.recommend(text="zebra", k=6)) == found
        np.testing.assert_array_equal(loaded.encode_user_texts(["zebra"]), index.encode_user_texts(["zebra"]))
    finally:
        loaded.close()


def test_an_index_saved_without_the_support_loads_and_maps_texts_as_before(index, tmp_path: Path) -> None:
    from coldkit.serving import load, save

    path = tmp_path / "idx"
    save(index, path)
    index.close()
    snap = path / "snap-000001"
    manifest = json.loads((snap / "manifest.json").read_text())
    del manifest["arrays"]["whiten_support"]
    (snap / "manifest.json").write_text(json.dumps(manifest))
    _unsigned(path)
    (snap / "whiten_support.npy").unlink()
    old = load(path, read_only=True)
    try:
        assert old.model.whitener.support_ is None
        raw = old.model.encoder.encode_texts(["zebra"])
        np.testing.assert_array_equal(old.encode_user_texts(["zebra"]), old.model.whitener.transform(raw, normalize=True))
    finally:
        old.close()


def test_a_damaged_support_array_is_a_clear_format_error(index, tmp_path: Path) -> None:
    from coldkit.serving import IndexFormatError, load, save

    path = tmp_path / "idx"
    save(index, path)
    index.close()
    snap = path / "snap-000001"
    manifest = json.loads((snap / "manifest.json").read_text())
    bad = np.ones(3, dtype=bool)
    np.save(snap / "whiten_support.npy", bad, allow_pickle=False)
    spec = manifest["arrays"]["whiten_support"]
    spec.update(shape=[3], bytes=(snap / "whiten_support.npy").stat().st_size, sha256=None)
    (snap / "manifest.json").write_text(json.dumps(manifest))
    _unsigned(path)
    with pytest.raises(IndexFormatError, match="whiten_support.npy has dtype bool shape \\[3\\]"):
        load(path, read_only=True)


def _unsigned(root: Path) -> None:
    """CURRENT as an index saved before it kept the manifest's digest: the manifest edited below is read as is."""
    pointer = json.loads((root / "CURRENT").read_text())
    pointer.pop("manifest_sha256", None)
    (root / "CURRENT").write_text(json.dumps(pointer))
