"""ServingIndex in process: equivalence with the Hybrid it serves, online updates, persistence, corruption, concurrency."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import coldkit
from coldkit.data import Catalog, Interactions, UserQuery, load_dataset, renumber_items, renumber_users
from coldkit.serving import (
    EncoderMismatchError,
    IndexFormatError,
    IndexStorageError,
    IndexVersionError,
    ServingIndex,
    UnknownIdError,
    load,
    save,
)
from coldkit.serving.wal import WriteAheadLog

WEIGHTS = {"cf": 1.0, "content": 1.0, "text": 1.0, "popularity": 0.1}


def small_interactions(n_warm: int = 300, n_cold: int = 60, n_users: int = 200) -> Interactions:
    """The embedded ml-latest-small cut down: the most-rated items (warm) plus least-rated ones made cold."""
    ds = load_dataset("ml-latest-small")
    counts = ds.interactions.item_counts()
    order = np.argsort(-counts, kind="stable")
    items = np.concatenate([np.sort(order[:n_warm]), np.sort(order[-n_cold:])])
    table = ds.catalog.table.iloc[items].reset_index(drop=True)
    catalog = Catalog(ds.catalog.item_ids[items], table, ds.catalog.text_columns)
    matrix = ds.interactions.matrix[:n_users][:, items].tocsr().tolil()
    matrix[:, n_warm:] = 0  # the last n_cold items have no interaction: cold
    return Interactions(ds.interactions.user_ids[:n_users], catalog, matrix.tocsr())


@pytest.fixture(scope="module")
def train() -> Interactions:
    return small_interactions()


@pytest.fixture(scope="module")
def hybrid(train: Interactions):
    from coldkit.models.blend import DEFAULT_WEIGHTS
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving.model import SERVED_SOURCES

    unserved = {name: 0.0 for name in DEFAULT_WEIGHTS if name not in SERVED_SOURCES}  # e.g. the profile kNN
    return Hybrid(
        encoder="hashing", warm="svd", weights={**unserved, **WEIGHTS}, cache=False, stack=False, attributes=False
    ).fit(train)


@pytest.fixture()
def index(train: Interactions, hybrid) -> ServingIndex:
    # a fresh index per test (building from the fitted hybrid is cheap), so writes don't leak between tests
    return ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing")


def ids_of(result) -> list[str]:
    return [item.id for item in result.items]


# ------------------------------------------------------------------------------------------ the served model
def test_recommend_matches_the_hybrid_item_for_item(index: ServingIndex, train: Interactions, hybrid) -> None:
    """The served index answers as the Hybrid it was built from: every source, every blend weight."""
    ids = [str(i) for i in train.catalog.item_ids]
    # Clicks on warm items only: a click on a cold item is one place the two differ on purpose. The
    # index folds in the item's content-mapped CF vector (so clicks on items added online count),
    # while the Hybrid's warm space has no column for an item nobody had clicked at fit time.
    queries = (
        [UserQuery(user=u) for u in range(0, 200, 7)]  # warm users: CF-led
        + [UserQuery(text=t) for t in ("space robots war", "romantic comedy paris")]  # words only
        + [UserQuery(history=np.array([3, 50, 120]))]  # a new user's clicks
        + [UserQuery(history=np.array([12]), text="crime thriller")]  # clicks and words: all four sources
        + [UserQuery(user=5, text="animated family adventure")]  # a known user adding words
    )
    reference = hybrid.recommend(queries, k=10)
    for row, query in enumerate(queries):
        got = index.recommend(
            None if query.user is None else str(train.user_ids[query.user]),
            text=query.text, history=[ids[i] for i in query.history], k=10, explain=False,
        )
        expected = reference.indices[row][reference.indices[row] >= 0]
        got_ids = [item.id for item in got.items]
        scores = reference.scores[row][: len(expected)]
        assert len(got_ids) == len(expected)
        np.testing.assert_allclose([i.score for i in got.items], scores, atol=1e-4)
        # the CF fold-in is summed in another order than the hybrid's matmul: a swap is allowed only
        # between items whose fused scores tie
        for pos, (a, b) in enumerate(zip(got_ids, (ids[i] for i in expected))):
            if a != b:
                tied = [abs(scores[pos] - scores[p]) < 1e-5 for p in (pos - 1, pos + 1) if 0 <= p < len(scores)]
                assert any(tied), (query, pos, got_ids, [ids[i] for i in expected])
        # the weights reported are the hybrid's (learned on its validation split), query for query, as they
        # entered the ranking (a source with nothing to say for the query at 0)
        weights = hybrid.effective_weights([query])
        assert got.sources == pytest.approx({name: float(weights[name][0]) for name in got.sources})


def test_a_source_with_nothing_to_say_for_a_query_is_reported_at_weight_zero(train: Interactions, hybrid) -> None:
    """A text-only request whose candidates are all cold reported ``sources`` with cf 0.94 (the learned
    cold-item regime's weight), though an anonymous user's CF vector is zero and CF scored every item 0.
    The weights reported are those that entered the ranking; the ranking itself is unchanged."""
    import copy

    from coldkit.models.tuning import COLD_ITEMS, LearnedWeights

    model = copy.copy(hybrid)  # the module's hybrid stays as fitted
    model.learned_ = LearnedWeights({COLD_ITEMS: {"cf": 0.94, "content": 0.0, "text": 0.3, "popularity": 0.1}})
    index = ServingIndex.from_hybrid(model, train, encoder_name="hashing")
    cold = np.flatnonzero(train.item_counts() == 0)
    ids = [str(i) for i in train.catalog.item_ids]
    query = UserQuery(text="space robots war")
    # the reference: what each source says of these candidates, asked directly
    cf = model.cf.recommend([UserQuery()], 10, candidates=cold)
    assert not np.any(cf.scores[0][cf.indices[0] >= 0])  # no clicks, no vector: every cold item scores 0
    assert model.query_weights([query], cold)["cf"][0] == pytest.approx(0.94)  # what the blend is given
    got = index.recommend(text=query.text, candidates=[ids[i] for i in cold], k=10)
    assert got.sources["cf"] == 0.0 and got.sources["text"] == pytest.approx(0.3)
    assert got.sources["popularity"] == 0.0  # the cold items have no clicks: popularity ranks nothing either
    library = model.effective_weights([query], cold)
    assert {name: float(w[0]) for name, w in library.items() if name in got.sources} == pytest.approx(got.sources)
    reference = model.recommend([query], 10, candidates=cold)
    assert [item.id for item in got.items] == [ids[i] for i in reference.indices[0] if i >= 0]


#: the source behind each phrase of a why: the server's and the library's words for one source
PHRASES = {
    "cf": ("liked by users with clicks like yours", "new item like those users with clicks like yours liked", "people who liked "),
    "content": ("similar to ", "because you liked "),
    "text": ("matches your words", "close to your words"),
    "popularity": ("popular: ", "new item"),
}


def _sources_of(why: str) -> list[str]:
    return [next(name for name, starts in PHRASES.items() if part.startswith(starts)) for part in why.split("; ")]


def test_the_hybrids_explain_and_the_servers_why_name_the_same_sources(index: ServingIndex, train: Interactions, hybrid) -> None:
    """Hybrid.explain gave every reason it found ("because you liked X" for an item CF ranked, content at
    a fraction of CF's weight) while the server's why names only the sources whose part counts: for one
    model and one query the two named different things."""
    ids = [str(i) for i in train.catalog.item_ids]
    queries = (
        [UserQuery(user=u) for u in range(0, 200, 25)]
        + [UserQuery(text="space robots war"), UserQuery(history=np.array([3, 50, 120])),
           UserQuery(history=np.array([12]), text="crime thriller")]
    )
    compared = 0
    for query in queries:
        got = index.recommend(
            None if query.user is None else str(train.user_ids[query.user]),
            text=query.text, history=[ids[i] for i in query.history], k=5, explain=True,
        )
        for item in got.items:
            position = ids.index(item.id)
            ours = hybrid.explain(query, position)
            assert _sources_of(ours) == _sources_of(item.why or ""), (query, item.id, ours, item.why)
            compared += 1
    assert compared == 5 * len(queries)


def test_the_refusal_of_a_default_hybrid_gives_a_recipe_that_is_accepted(train: Interactions) -> None:
    # It named only warm='svd'; a user who followed it met the next refusal (the unserved sources' weights).
    import ast
    import re

    from coldkit.models.hybrid import Hybrid

    default = Hybrid(encoder="hashing", cache=False, stack=False, tune=False).fit(train)
    with pytest.raises(coldkit.InvalidInputError, match=r"needs a fitted Hybrid\(warm='svd', lexical=False, attributes=False, stack=False, weights=") as caught:
        ServingIndex.from_hybrid(default, train, encoder_name="hashing")
    weights = ast.literal_eval(re.search(r"weights=(\{[^}]*\})", str(caught.value)).group(1))
    recipe = Hybrid(
        encoder="hashing", warm="svd", lexical=False, attributes=False, stack=False, weights=weights, cache=False, tune=False
    )
    index = ServingIndex.from_hybrid(recipe.fit(train), train, encoder_name="hashing")
    assert index.stats()["items"] == train.n_items


@pytest.mark.parametrize("sources", [["cf"], ["cf", "content"]])
def test_an_index_from_a_hybrid_of_some_sources_serves_only_those(train: Interactions, sources: list[str]) -> None:
    """``Hybrid(sources=[...])`` blends only the named sources (popularity answers a query none of them
    can rank); its index must not add the unnamed served ones back (was: their default weights)."""
    from coldkit.models.hybrid import Hybrid

    model = Hybrid(
        encoder="hashing", warm="svd", sources=sources, cache=False, stack=False, tune=False, attributes=False
    ).fit(train)
    index = ServingIndex.from_hybrid(model, train, encoder_name="hashing")
    ids = [str(i) for i in train.catalog.item_ids]
    queries = [UserQuery(user=5), UserQuery(), UserQuery(history=np.array([3, 50, 120])), UserQuery(text="space robots war")]
    reference = model.recommend(queries, k=10)
    for row, query in enumerate(queries):
        got = index.recommend(
            None if query.user is None else str(train.user_ids[query.user]), text=query.text,
            history=[ids[i] for i in query.history], k=10, explain=False,
        )
        expected = [ids[i] for i in reference.indices[row] if i >= 0]
        assert [item.id for item in got.items] == expected, (sources, query)
        assert {name for name, w in got.sources.items() if w > 0} <= {*sources, "popularity"}


def test_the_index_serves_the_weights_the_hybrid_learned(index: ServingIndex, hybrid) -> None:
    assert hybrid.learned_ is not None and hybrid.learned_.regimes
    assert index.model.fusion.learned == hybrid.learned_
    assert set().union(*hybrid.learned_.regimes.values()) <= {"cf", "content", "text", "popularity"}


def test_serving_defaults_are_the_hybrids() -> None:
    """One definition of the blend's defaults: a FusionConfig() is the Hybrid()'s settings on the served sources."""
    from coldkit.models.blend import DEFAULT_DEPTH, DEFAULT_USER_TRUST, DEFAULT_WEIGHTS
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving import FusionConfig
    from coldkit.serving.model import SERVED_SOURCES

    config = FusionConfig()
    model = Hybrid(encoder="hashing")
    assert dict(config.weights) == {name: model.weights[name] for name in SERVED_SOURCES}
    assert dict(config.weights) == {name: DEFAULT_WEIGHTS[name] for name in SERVED_SOURCES}
    assert config.user_trust == model.user_trust == DEFAULT_USER_TRUST
    assert config.depth == model.depth == DEFAULT_DEPTH


def test_backend_is_chosen_per_index_and_per_request(train: Interactions, hybrid) -> None:
    """``backend=`` reaches the similarity registry: the numpy backend ranks as the Rust one, an unknown name is refused."""
    index = ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing", backend="numpy")
    rust = ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing")
    assert index.backend == "numpy" and rust.backend == "rust" and index.stats()["backend"] == "numpy"
    user = str(train.user_ids[2])
    assert ids_of(index.recommend(user, k=10)) == ids_of(rust.recommend(user, k=10))
    assert ids_of(rust.recommend(user, k=10, backend="numpy")) == ids_of(rust.recommend(user, k=10))
    assert [i.id for i in index.similar_items(str(train.catalog.item_ids[0]), k=5)] == [
        i.id for i in rust.similar_items(str(train.catalog.item_ids[0]), k=5)
    ]
    with pytest.raises(coldkit.UnknownComponentError, match="no-such-backend"):
        rust.recommend(user, k=5, backend="no-such-backend")
    with pytest.raises(coldkit.UnknownComponentError, match="no-such-backend"):
        ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing", backend="no-such-backend")


def test_cold_items_get_the_ridge_mapped_cf_vector(index: ServingIndex, hybrid, train: Interactions) -> None:
    v = index.version
    cold = np.flatnonzero(train.item_counts() == 0)
    np.testing.assert_allclose(v.cf[cold], hybrid.cf.mapped_vectors_[cold], rtol=1e-5, atol=1e-6)
    assert v.row_new[cold].all() and not v.row_new[train.item_counts() > 0].any()


def test_added_item_is_encoded_mapped_and_recommendable_at_once(index: ServingIndex, hybrid) -> None:
    text = "Zorblax the intergalactic accordion player. Musical|Sci-Fi"
    result = index.upsert_items([{"id": "new-1", "text": text, "categories": ["Musical", "Sci-Fi"]}])
    assert result == [{"id": "new-1", "created": True}]
    v = index.version
    row = v.item_row[v.item_ordinal("new-1")]
    np.testing.assert_allclose(v.content[row], hybrid.content.encode_user_texts([text])[0], atol=1e-6)
    np.testing.assert_allclose(v.cf[row], hybrid.cf.vector_for_text([text])[0], rtol=1e-4, atol=1e-5)
    top = index.recommend(text="intergalactic accordion player", k=3)
    assert top.items[0].id == "new-1" and top.items[0].new
    assert "accordion" in top.items[0].why
    assert index.similar_items("new-1", k=3)[0].id != "new-1"


def test_update_replaces_content_and_keeps_a_warm_items_cf_vector(index: ServingIndex, train: Interactions) -> None:
    warm_id = str(train.catalog.item_ids[0])
    before = index.version
    old_cf = before.cf[before.item_row[before.item_ordinal(warm_id)]].copy()
    assert index.upsert_items([{"id": warm_id, "text": "Quux the platypus detective"}]) == [{"id": warm_id, "created": False}]
    v = index.version
    row = v.item_row[v.item_ordinal(warm_id)]
    np.testing.assert_array_equal(v.cf[row], old_cf)
    assert index.item_info(warm_id)["text"] == "Quux the platypus detective"
    assert ids_of(index.recommend(text="platypus detective", k=1)) == [warm_id]
    # the superseded row is dead: the item shows up once, never twice
    listed = ids_of(index.recommend(text="platypus detective", k=50))
    assert listed.count(warm_id) == 1
    # an old version taken before the write still answers with the old text
    assert before.row_meta[before.item_row[before.item_ordinal(warm_id)]].text != "Quux the platypus detective"


def test_delete_hides_the_item_everywhere(index: ServingIndex, train: Interactions) -> None:
    item = str(train.catalog.item_ids[5])
    assert item in ids_of(index.recommend(text=train.catalog.texts()[5], k=5))
    index.delete_items([item])
    assert item not in ids_of(index.recommend(text=train.catalog.texts()[5], k=200))
    assert all(i.id != item for i in index.similar_items(str(train.catalog.item_ids[6]), k=200))
    with pytest.raises(UnknownIdError, match=item):
        index.recommend(text="x", candidates=[item])
    with pytest.raises(UnknownIdError):
        index.delete_items([item])
    # re-adding the id brings it back as a new item
    index.upsert_items([{"id": item, "text": "back again"}])
    assert index.item_info(item)["new"] is True


def test_interactions_make_a_new_user_and_count(index: ServingIndex, train: Interactions) -> None:
    a, b = str(train.catalog.item_ids[10]), str(train.catalog.item_ids[20])
    count = index.item_info(a)["interactions"]
    stats = index.add_interactions([("fresh", a), ("fresh", b), ("fresh", a)])
    assert stats == {"recorded": 2, "duplicates": 1, "new_users": 1}
    assert sorted(index.user_items("fresh")) == sorted([a, b])
    assert index.item_info(a)["interactions"] == count + 1
    rec = index.recommend("fresh", k=20)
    assert a not in ids_of(rec) and b not in ids_of(rec)  # seen items are excluded
    trust = index.fusion.user_trust  # the hybrid's user_trust
    assert rec.sources["cf"] == pytest.approx(WEIGHTS["cf"] * 2 / (2 + trust))
    # the same clicks given as the history of an anonymous request give the same list
    assert ids_of(index.recommend(history=[a, b], k=20)) == ids_of(rec)
    with pytest.raises(UnknownIdError, match="nope"):
        index.add_interactions([("fresh", "nope")])


def test_user_from_profile_text(index: ServingIndex) -> None:
    assert index.upsert_user("writer", text="dark crime thriller noir") == {"id": "writer", "created": True}
    assert ids_of(index.recommend("writer", k=10)) == ids_of(index.recommend(text="dark crime thriller noir", k=10))
    with pytest.raises(UnknownIdError, match="ghost"):
        index.recommend("ghost", k=3)


def test_constraints_candidates_and_limits(index: ServingIndex, train: Interactions) -> None:
    user = str(train.user_ids[3])
    plain = index.recommend(user, k=10)
    limited = index.recommend(user, k=10, max_per_category=2)
    counts: dict[str, int] = {}
    for item in limited.items:
        for c in index.item_info(item.id)["categories"]:
            counts[c] = counts.get(c, 0) + 1
    assert max(counts.values()) <= 2 or limited.relaxed
    fresh = index.recommend(user, k=10, min_new_share=0.3)
    assert sum(i.new for i in fresh.items) >= 3 or fresh.relaxed
    excluded = plain.items[0].id
    assert excluded not in ids_of(index.recommend(user, k=10, exclude=[excluded, "long-gone-item"]))
    allowed = [str(i) for i in train.catalog.item_ids[:30]]
    assert set(ids_of(index.recommend(user, k=10, candidates=allowed))) <= set(allowed)
    diverse = index.recommend(user, k=10, mmr_lambda=0.3)
    assert len(diverse.items) == 10
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(coldkit.InvalidInputError, match="k must be"):
            index.recommend(user, k=bad)
    with pytest.raises(coldkit.InvalidInputError):
        index.recommend(user, k=5, min_new_share=2.0)
    # exclude_known="no" is truthy: it dropped the user's items, silently
    for bad in ("no", 0, None):
        with pytest.raises(coldkit.InvalidInputError, match="exclude_known must be True or False, got"):
            index.recommend(user, k=5, exclude_known=bad)  # type: ignore[arg-type]
    assert ids_of(index.recommend(user, k=5, exclude_known=np.bool_(False))) == ids_of(index.recommend(user, k=5, exclude_known=False))
    with pytest.raises(coldkit.InvalidInputError, match="explain must be True or False, got 'no'"):
        index.recommend(user, k=5, explain="no")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ persistence
def test_save_load_round_trip_with_log_replay(index: ServingIndex, train: Interactions, tmp_path: Path) -> None:
    path = tmp_path / "idx"
    save(index, path)
    index.upsert_items([{"id": "after-snapshot", "text": "a ballet about volcanoes"}])
    index.delete_items([str(train.catalog.item_ids[1])])
    index.add_interactions([("u-new", "after-snapshot")])
    index.upsert_user("u-text", text="volcano documentaries")
    expected = {
        "user": ids_of(index.recommend(str(train.user_ids[0]), k=10)),
        "new": ids_of(index.recommend("u-new", k=10)),
        "text": ids_of(index.recommend("u-text", k=10)),
    }
    index.close()  # as if the writer died: its lock released, its files as they are
    loaded = load(path)
    assert isinstance(loaded.version.content, np.ndarray)
    assert loaded.encoder.fingerprint == index.encoder.fingerprint  # hashing IDF restored
    np.testing.assert_array_equal(loaded.encoder.idf, index.encoder.idf)
    assert loaded.version.number == index.version.number == 4
    assert loaded.has_item("after-snapshot") and not loaded.has_item(str(train.catalog.item_ids[1]))
    # the log carries the new item's vectors (replay needs no encoder run, no image file): bit-identical rows
    record = json.loads((path / "wal-000001.jsonl").read_text().splitlines()[0])
    assert record["op"] == "upsert_items" and record["dims"] == [index.version.content.shape[1], index.version.cf.shape[1]]
    for name in ("content", "cf"):
        live, back = getattr(index.version, name), getattr(loaded.version, name)
        np.testing.assert_array_equal(back[loaded.version.item_row[loaded.version.item_ordinal("after-snapshot")]],
                                      live[index.version.item_row[index.version.item_ordinal("after-snapshot")]])
    assert ids_of(loaded.recommend(str(train.user_ids[0]), k=10)) == expected["user"]
    assert ids_of(loaded.recommend("u-new", k=10)) == expected["new"]
    assert ids_of(loaded.recommend("u-text", k=10)) == expected["text"]
    # a second snapshot compacts: the deleted item's row is gone, the log starts afresh
    save(loaded, path)
    names = sorted(p.name for p in path.iterdir())
    assert names == ["CURRENT", "LOCK", "snap-000002", "wal-000002.jsonl"]
    assert loaded.stats()["dead_rows"] == 0
    manifest = json.loads((path / "snap-000002" / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["version"] == 4 and "after-snapshot" in manifest["item_ids"]
    assert str(train.catalog.item_ids[1]) not in manifest["item_ids"]
    loaded.close()
    again = load(path, mmap=True)
    assert isinstance(again.version.content, np.memmap)
    assert ids_of(again.recommend("u-new", k=10)) == expected["new"]
    # writing to a memory-mapped index copies it into memory first (the files are never written)
    again.upsert_items([{"id": "x", "text": "y"}])
    assert again.has_item("x")
    again.close()


def test_format_1_indexes_still_load(index: ServingIndex, tmp_path: Path) -> None:
    """Format 1 called the version number ``seq`` (manifest and log); such an index opens unchanged."""
    path = tmp_path / "idx"
    save(index, path)
    index.upsert_items([{"id": "old-1", "text": "a silent film about lighthouses"}])
    index.close()
    manifest_path = path / "snap-000001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 1
    manifest["seq"] = manifest.pop("version")
    manifest_path.write_text(json.dumps(manifest))
    _unsigned(path)
    wal = path / "wal-000001.jsonl"
    records = [json.loads(line) for line in wal.read_text().splitlines()]
    wal.write_text("".join(json.dumps({"seq": r.pop("version"), **r}) + "\n" for r in records))
    loaded = load(path, read_only=True)
    assert loaded.has_item("old-1") and loaded.version.number == 1


def test_second_writer_is_refused_readers_are_not(index: ServingIndex, tmp_path: Path) -> None:
    path = tmp_path / "idx"
    save(index, path)
    with pytest.raises(IndexStorageError, match="another process") as refused:
        load(path)
    assert "close()" in str(refused.value)  # the same process holding it is told how to let go
    reader = load(path, read_only=True)
    with pytest.raises(coldkit.ColdkitError, match="read-only"):
        reader.upsert_items([{"id": "z", "text": "z"}])
    index.close()


def _saved(index: ServingIndex, tmp_path: Path) -> Path:
    path = tmp_path / "idx"
    save(index, path)
    index.close()
    return path


def test_corrupted_directories_give_clear_errors(index: ServingIndex, tmp_path: Path) -> None:
    path = _saved(index, tmp_path)
    snap = path / "snap-000001"
    pristine = tmp_path / "pristine"
    shutil.copytree(path, pristine)

    def reset() -> None:
        shutil.rmtree(path)
        shutil.copytree(pristine, path)

    with pytest.raises(IndexFormatError, match="not a coldkit index"):
        load(tmp_path)
    # the snapshot directory and a QuantizedIndex directory said only "CURRENT missing"
    with pytest.raises(IndexFormatError, match=r"is one snapshot inside the index .*idx.*: load that directory"):
        load(snap)
    coldkit.QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(tmp_path / "qidx")
    with pytest.raises(IndexFormatError, match=r"holds a compressed catalogue \(QuantizedIndex\).*QuantizedIndex.load"):
        load(tmp_path / "qidx")
    data = (snap / "cf.npy").read_bytes()
    (snap / "cf.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="truncated"):
        load(path)
    reset()
    # overwritten in place, same size: numpy took it for a pickle and the message advised allow_pickle=
    (snap / "cf.npy").write_bytes(b"garbage" + data[7:])
    with pytest.raises(IndexFormatError, match=r"cf\.npy' is corrupted or was replaced: it is not a \.npy array file") as info:
        load(path)
    assert "pickle" not in str(info.value)
    reset()
    (snap / "content.npy").unlink()
    with pytest.raises(IndexFormatError, match="content.*missing"):
        load(path)
    reset()
    manifest = json.loads((snap / "manifest.json").read_text())
    (snap / "manifest.json").write_text(json.dumps({**manifest, "item_ids": [manifest["item_ids"][1], manifest["item_ids"][0], *manifest["item_ids"][2:]]}))
    with pytest.raises(IndexFormatError, match=r"manifest\.json' is corrupted or was edited: its SHA-256 does not match"):
        load(path)  # two ids swapped: each item was served as the other
    _unsigned(path)  # the checks below, as an index saved before CURRENT kept the manifest's digest reads them
    (snap / "manifest.json").write_text(json.dumps({**manifest, "dims": {**manifest["dims"], "cf": 32}, "counts": {**manifest["counts"], "items": 10}}))
    with pytest.raises(IndexFormatError, match=r"does not match its files: dims\.cf 32 \(the files hold \d+\); counts\.items 10"):
        load(path)
    (snap / "manifest.json").write_text(json.dumps({**manifest, "encoder": {**manifest["encoder"], "dim": 7}}))
    with pytest.raises(EncoderMismatchError, match=r"gives \d+-d vectors, the manifest says 7"):
        load(path)
    (snap / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexVersionError, match="format_version 99"):
        load(path)
    (snap / "manifest.json").write_text(json.dumps({**manifest, "item_ids": manifest["item_ids"][:-1]}))
    with pytest.raises(IndexFormatError, match="rows for"):
        load(path)
    (snap / "manifest.json").write_text(json.dumps({**manifest, "encoder": {**manifest["encoder"], "options": {"dim": 512}}}))
    with pytest.raises(EncoderMismatchError, match="fingerprint"):
        load(path)
    (snap / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="corrupted"):
        load(path)
    reset()
    (path / "CURRENT").write_text(json.dumps({"format": "coldkit-serving-index", "generation": 9}))
    with pytest.raises(IndexFormatError, match="manifest missing"):
        load(path)
    # JSON true is a Python int: it was read as generation 1 ("manifest missing: snap-000001")
    (path / "CURRENT").write_text(json.dumps({"format": "coldkit-serving-index", "generation": True}))
    with pytest.raises(IndexFormatError, match="bad generation True"):
        load(path)


def _two_logged_writes(index: ServingIndex, path: Path) -> Path:
    """``index`` saved to ``path``, two item writes logged after it, closed; returns the log file."""
    save(index, path)
    index.upsert_items([{"id": "a1", "text": "first"}])
    index.upsert_items([{"id": "a2", "text": "second"}])
    index.close()
    return path / "wal-000001.jsonl"


def test_log_tail_cut_by_a_crash_is_dropped_but_a_corrupt_middle_is_an_error(index: ServingIndex, tmp_path: Path) -> None:
    path = tmp_path / "idx"
    wal = _two_logged_writes(index, path)
    lines = wal.read_bytes().splitlines(keepends=True)
    wal.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])  # the second write was cut mid-record
    loaded = load(path)
    assert loaded.has_item("a1") and not loaded.has_item("a2")
    loaded.upsert_items([{"id": "a3", "text": "third"}])  # appends after the repaired tail
    loaded.close()
    assert load(path, read_only=True).has_item("a3")
    records = wal.read_bytes().splitlines()
    wal.write_bytes(b"\n".join([records[0], b"{garbage", records[-1]]) + b"\n")
    with pytest.raises(IndexFormatError, match="line 2 is corrupted"):
        load(path, read_only=True)


def test_a_version_logged_twice_is_an_error_not_a_silent_skip(index: ServingIndex, tmp_path: Path) -> None:
    """Two records with one version number (logs merged by hand, a copied line): replay applied the first
    and skipped the second as "already in the snapshot", so one acknowledged write vanished without a
    word (a follower tailing the log refuses it too: test_serving_follow.py)."""
    path = tmp_path / "idx"
    wal = _two_logged_writes(index, path)
    first, second = wal.read_bytes().splitlines(keepends=True)
    record = json.loads(second)
    record["version"] -= 1  # the second write now claims the first's number
    wal.write_bytes(first + (json.dumps(record) + "\n").encode())
    for read_only in (False, True):
        with pytest.raises(IndexFormatError, match=r"line 2: record \d+ repeats the version of an earlier record"):
            load(path, read_only=read_only)


def test_a_deleted_log_is_an_error_not_a_silent_loss(index: ServingIndex, tmp_path: Path) -> None:
    """Deleting the live ``wal-<g>.jsonl`` (by hand, a cleanup job) loaded the snapshot alone: every write
    acknowledged since was dropped without a word."""
    path = tmp_path / "idx"
    save(index, path)
    assert json.loads((path / "CURRENT").read_text())["log"] is True
    index.upsert_items([{"id": "acknowledged", "text": "a write the client was told is safe"}])
    index.close()
    (path / "wal-000001.jsonl").unlink()
    for read_only in (False, True):
        with pytest.raises(IndexFormatError, match="wal-000001.jsonl of snapshot 1 is missing.*create it empty"):
            load(path, read_only=read_only)
    (path / "wal-000001.jsonl").touch()  # the operator accepts the loss, by name
    loaded = load(path)
    assert not loaded.has_item("acknowledged") and loaded.has_item(str(index.version.item_ids[0]))
    loaded.close()


def test_a_reader_that_races_a_snapshot_opens_the_new_one(index: ServingIndex, tmp_path: Path, monkeypatch) -> None:
    """A reader that read CURRENT just before the writer's snapshot swapped it finds the old log removed:
    that is a moved index, not a lost log."""
    import coldkit.serving.storage as storage

    path = tmp_path / "idx"
    save(index, path)
    index.upsert_items([{"id": "first", "text": "before the second snapshot"}])
    real_generations = storage._generations
    calls = []

    def snapshot_meanwhile(root, pattern):  # the writer snapshots between the reader's CURRENT and its log listing
        if pattern is storage._WAL and not calls:
            calls.append(1)
            save(index, path)
        return real_generations(root, pattern)

    monkeypatch.setattr(storage, "_generations", snapshot_meanwhile)
    reader = load(path, read_only=True)  # reads generation 1's CURRENT; the writer moves to 2 meanwhile
    assert calls and not (path / "wal-000001.jsonl").exists()
    assert reader.has_item("first") and json.loads((path / "CURRENT").read_text())["generation"] == 2
    index.close()


def test_a_copy_saved_unattached_gets_its_log_noticed_once_a_writer_opens_it(index: ServingIndex, tmp_path: Path) -> None:
    path = tmp_path / "copy"
    save(index, path, attach=False)  # a copy: nobody writes through it, no log yet
    assert "log" not in json.loads((path / "CURRENT").read_text())
    assert load(path, read_only=True).version.number == index.version.number  # a reader needs no log
    writer = load(path)
    assert json.loads((path / "CURRENT").read_text())["log"] is True  # the writer started one
    writer.upsert_items([{"id": "w1", "text": "written through the copy"}])
    writer.close()
    assert load(path, read_only=True).has_item("w1")
    (path / "wal-000001.jsonl").unlink()
    with pytest.raises(IndexFormatError, match="is missing"):
        load(path, read_only=True)


def test_a_failed_open_closes_the_log_it_opened(index: ServingIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening an unattached copy starts its log, then records that in CURRENT; when that record fails the
    open fails, and the log's descriptor (a raw one since the disk-full fix: no garbage collector closes it)
    must be closed with the lock, or every failed open leaks a descriptor."""
    import coldkit.serving.storage as storage
    import coldkit.serving.wal as wal

    path = tmp_path / "copy"
    save(index, path, attach=False)
    opened: list[WriteAheadLog] = []
    real_init = wal.WriteAheadLog.__init__

    def remember(self: WriteAheadLog, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(self)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wal.WriteAheadLog, "__init__", remember)
    monkeypatch.setattr(storage, "_write_current", disk_full)
    with pytest.raises(OSError, match="No space"):
        load(path)
    assert opened and all(log._fd < 0 for log in opened)  # closed, not left to leak
    monkeypatch.undo()
    load(path).close()  # and the lock was released: a writer opens it


def test_refuses_to_write_into_a_foreign_directory(index: ServingIndex, tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(IndexStorageError, match="not a coldkit index"):
        save(index, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_wal_append_is_durable_json_lines(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path / "wal-000001.jsonl")
    log.append({"version": 1, "op": "x", "text": "é"})
    log.close()
    assert json.loads((tmp_path / "wal-000001.jsonl").read_text(encoding="utf-8")) == {"version": 1, "op": "x", "text": "é"}


# ------------------------------------------------------------------------------------------ concurrency
def test_readers_see_consistent_versions_during_writes(index: ServingIndex, train: Interactions) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()
    seen_versions: list[int] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                v = index.version
                result = index.recommend(text="space adventure", k=20, explain=False)
                assert result.version >= v.number
                assert len(set(ids_of(result))) == len(result.items)  # never the same item twice
                seen_versions.append(result.version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):  # adds, updates (new rows) and deletes while readers run
        index.upsert_items([{"id": f"c{i}", "text": f"space adventure number {i}"}])
        if i % 3 == 0:
            index.upsert_items([{"id": f"c{i}", "text": f"space adventure remastered {i}"}])
        if i % 5 == 0:
            index.delete_items([f"c{i}"])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(seen_versions) > 0
    assert index.version.number == 60 + 20 + 12
    assert sum(index.has_item(f"c{i}") for i in range(60)) == 60 - 12


# ------------------------------------------------------------------------------------------ a neural encoder
@pytest.mark.slow
@pytest.mark.torch
def test_bert_index_round_trips(tmp_path: Path) -> None:
    from coldkit.plugins.manager import registry

    if "bert" not in registry("encoder").names():
        pytest.skip("the coldkit-bert plugin is not installed")
    import torch

    torch.set_num_threads(1)
    train = small_interactions(n_warm=40, n_cold=10, n_users=60)
    index = ServingIndex.build(train, encoder="bert", cache=False, weights={"content": 1.0, "popularity": 0.0})
    index.upsert_items([{"id": "b-1", "text": "A heist movie where robbers steal the crown jewels"}])
    assert "b-1" in ids_of(index.recommend(text="thieves rob a museum", k=3))  # semantic: no word in common
    expected = ids_of(index.recommend(text="thieves rob a museum", k=10))
    save(index, tmp_path / "idx")
    index.close()
    loaded = load(tmp_path / "idx")
    assert loaded.encoder.fingerprint == index.encoder.fingerprint
    assert ids_of(loaded.recommend(text="thieves rob a museum", k=10)) == expected
    loaded.close()


def test_save_takes_a_fitted_hybrid(hybrid, train: Interactions, tmp_path: Path) -> None:
    save(hybrid, tmp_path / "h")
    loaded = load(tmp_path / "h")  # not locked by the converted index
    expected = hybrid.recommend([UserQuery(user=4)], k=10)
    assert ids_of(loaded.recommend(str(train.user_ids[4]), k=10)) == [str(train.catalog.item_ids[i]) for i in expected.indices[0]]
    loaded.close()
    with pytest.raises(coldkit.InvalidInputError, match="ServingIndex or a fitted Hybrid"):
        save(object(), tmp_path / "x")


def test_save_never_replaces_another_index_silently_nor_one_a_writer_holds(hybrid, index: ServingIndex, tmp_path: Path) -> None:
    """coldkit.save(other, DIR) wrote a new generation over the index in DIR and deleted its log, even while
    a server wrote there and kept acknowledging writes that a restart then lost."""
    live = tmp_path / "live"
    save(index, live)  # attached: this index is the directory's writer now
    index.upsert_items([{"id": "acked", "text": "acknowledged before the other save"}])
    for force in (False, True):  # a writer holds it: refused either way, before anything is written
        with pytest.raises(IndexStorageError, match="open for writing by another process"):
            save(hybrid, live, force=force)
    index.upsert_items([{"id": "acked-after", "text": "acknowledged after"}])
    index.close()
    reopened = load(live, read_only=True)
    assert reopened.has_item("acked") and reopened.has_item("acked-after")
    # no writer, but another index lives there: replaced only when asked to
    with pytest.raises(IndexStorageError, match=r"already holds an index \(.*items.*\); save\(\.\.\., force=True\) replaces it"):
        save(hybrid, live)
    save(hybrid, live, force=True)
    assert not load(live, read_only=True).has_item("acked")  # the hybrid's own catalogue now
    # an index saving its own directory, and a first save into an empty or new one, need no force
    fresh = load(live)
    save(fresh, live)
    fresh.close()
    save(hybrid, tmp_path / "new")


def test_a_save_that_fails_before_attaching_lets_go_of_the_lock(index: ServingIndex, tmp_path: Path, monkeypatch) -> None:
    from coldkit.serving import storage

    def no_log(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "WriteAheadLog", no_log)
    with pytest.raises(OSError, match="No space left"):
        save(index, tmp_path / "full")
    monkeypatch.undo()
    assert index.path is None  # not attached
    held = storage._acquire_writer_lock(tmp_path / "full")  # the LOCK was left held by the failed save
    held.close()


def test_serve_command_builds_an_index_from_files(tmp_path: Path, capsys) -> None:
    import argparse

    from coldkit.commands import serve

    genres = ["Comedy", "Drama", "Sci-Fi", "Horror", "Romance"]
    rng = np.random.default_rng(0)
    items = ["item_id,title,genres"] + [f"m{i},Film number {i} about {genres[i % 5].lower()},{genres[i % 5]}|{genres[(i + 2) % 5]}"
                                        for i in range(40)]
    (tmp_path / "items.csv").write_text("\n".join(items) + "\n")
    rows = {(f"u{u}", f"m{int(i)}") for u in range(25) for i in rng.integers(0, 30, 6)}  # m30..m39 stay cold
    (tmp_path / "ratings.csv").write_text("user_id,item_id,rating\n" + "\n".join(f"{u},{i},4" for u, i in sorted(rows)) + "\n")
    parser = argparse.ArgumentParser(prog="coldkit")
    serve.register(parser.add_subparsers())
    out = tmp_path / "index"
    args = parser.parse_args(["serve", str(out), "--build", "--interactions", str(tmp_path / "ratings.csv"),
                              "--items", str(tmp_path / "items.csv"), "--encoder", "hashing",
                              "--encoder-options", '{"dim": 256}'])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] == 40 and report["users"] == 25 and report["content_dim"] == 256
    index = load(out)
    assert index.item_info("m35")["new"] is True and index.item_info("m35")["categories"] == ["Comedy", "Sci-Fi"]
    assert len(index.recommend("u3", k=5).items) == 5
    index.close()
    bad = parser.parse_args(["serve", str(tmp_path / "other"), "--build", "--items", str(tmp_path / "items.csv")])
    with pytest.raises(coldkit.InvalidInputError, match="interactions"):
        bad.func(bad)


def test_serving_input_that_was_silently_taken_or_a_bare_type_error(index: ServingIndex, train: Interactions) -> None:
    before = index.version.n_items
    # an item's text is "text": a "title" key was dropped without a word, and the item indexed as text-less
    with pytest.raises(coldkit.InvalidInputError, match=r"unknown field\(s\) \['title'\]"):
        index.upsert_items([{"id": "n-1", "text": "", "title": "A heist comedy"}])
    # a blank id cannot come from training data, and could not be asked for again by a client that strips ids
    with pytest.raises(coldkit.InvalidInputError, match="non-blank id"):
        index.upsert_items([{"id": "   ", "text": "a heist comedy"}])
    assert index.version.n_items == before  # nothing applied
    user = str(train.user_ids[0])
    # history=None / exclude=None: nothing clicked, nothing excluded (was len(None))
    assert ids_of(index.recommend(user, k=5, history=None, exclude=None)) == ids_of(index.recommend(user, k=5))  # type: ignore[arg-type]
    with pytest.raises(coldkit.InvalidInputError, match="history must be a list of item ids, got int"):
        index.recommend(user, k=5, history=5)  # type: ignore[arg-type]


def test_build_names_an_option_the_served_hybrid_does_not_take() -> None:
    """``factors=0`` (an option of the PureSVD model, not of the hybrid) is named, not a bare TypeError."""
    train = small_interactions(n_warm=30, n_cold=5, n_users=20)
    with pytest.raises(coldkit.models.registry.ModelOptionError, match=r"'factors' is not an option of the served hybrid.*whitening"):
        ServingIndex.build(train, encoder="hashing", cache=False, factors=0)
    with pytest.raises(coldkit.InvalidInputError, match="does not take 'warm'"):
        ServingIndex.build(train, encoder="hashing", cache=False, warm="ease")


def test_an_item_without_content_has_no_similar_items(make_tiny_index) -> None:
    index = make_tiny_index()
    index.upsert_items([{"id": "blank", "text": ""}])
    row = int(index.version.item_row[index.version.item_ordinal("blank")])
    assert not index.version.content[row].any()  # the encoder gives empty text no content
    assert index.similar_items("blank", k=3) == []  # was: the first 3 items in index order, each with score 0.0
    assert len(index.similar_items(index.version.item_ids[0], k=3)) == 3


def test_a_request_with_words_and_no_click_is_served_with_the_words_regime(train: Interactions, hybrid) -> None:
    """A hybrid that learned how much a new user's own words count (the ``words`` regime) and its index
    must weigh a text-only request alike: the index chose the regime by clicks alone (``n=0``)."""
    import copy
    import dataclasses

    from coldkit.models.tuning import WORDS

    model = copy.deepcopy(hybrid)
    assert model.learned_ is not None
    model.learned_ = dataclasses.replace(model.learned_, regimes={**model.learned_.regimes, WORDS: {"text": 4.0, "popularity": 0.1}})
    index = ServingIndex.from_hybrid(model, train, encoder_name="hashing")
    ids = [str(i) for i in train.catalog.item_ids]
    for text in ("space robots war", "romantic comedy in paris"):
        got = index.recommend(text=text, k=10)
        reference = model.recommend([UserQuery(text=text)], 10)
        assert [item.id for item in got.items] == [ids[i] for i in reference.indices[0] if i >= 0]
        assert got.sources["text"] == pytest.approx(4.0) and got.sources["popularity"] == pytest.approx(0.1)
    # a click takes the clicks' regime again, with or without words
    with_click = index.recommend(text="space robots war", history=[ids[3]], k=10)
    assert with_click.sources["text"] != pytest.approx(4.0)


def test_from_hybrid_names_the_words_stacker_it_refuses(train: Interactions, hybrid) -> None:
    """A hybrid whose only stacker is the words users' own (``stacker_`` None) was refused as "the
    hybrid's LambdaRank stacker": its user found ``stacker_`` None and nothing to turn off."""
    import copy

    model = copy.deepcopy(hybrid)
    assert model.stacker_ is None
    model.words_stacker_ = object()  # set by a fit with stack=True; what it holds does not matter here
    with pytest.raises(coldkit.InvalidInputError, match=r"\(words_stacker_; words_stacker_ answers the new users who give only words\); build the Hybrid with stack=False"):
        ServingIndex.from_hybrid(model, train, encoder_name="hashing")


def test_build_takes_the_dataframes_fit_takes() -> None:
    """``ServingIndex.build(ratings_df, items=movies_df, columns=...)`` serves what the same data as Interactions serves.

    It refused a DataFrame ("expects coldkit.data.Interactions") although every model's ``fit`` reads one.
    """
    train = small_interactions(n_warm=40, n_cold=6, n_users=30)
    coo = train.matrix.tocoo()
    ratings = pd.DataFrame({"userId": train.user_ids[coo.row], "movieId": train.catalog.item_ids[coo.col],
                            "rating": coo.data})
    movies = train.catalog.table.rename(columns={"item_id": "movieId"})
    options = {"encoder": "hashing", "cache": False, "weights": WEIGHTS}
    from_frames = ServingIndex.build(
        ratings, items=movies, columns={"user_id": "userId", "item_id": "movieId"},
        item_columns={"item_id": "movieId"}, text_columns=list(train.catalog.text_columns), **options)
    # a DataFrame's items and users are numbered by a hash of their ids, as fit numbers them (not the rows' order)
    reference = ServingIndex.build(renumber_users(renumber_items(train)), **options)
    assert from_frames.version.item_ids == reference.version.item_ids  # the cold items too
    assert sorted(from_frames.version.item_ids) == sorted(str(i) for i in train.catalog.item_ids)
    cold = str(train.catalog.item_ids[-1])
    assert from_frames.has_item(cold) and train.item_counts()[-1] == 0
    for request in ({"user_id": str(train.user_ids[0])}, {"text": "space adventure"},
                    {"history": [str(train.catalog.item_ids[3])]}):
        got, want = from_frames.recommend(k=8, **request), reference.recommend(k=8, **request)
        assert ids_of(got) == ids_of(want), request
        np.testing.assert_allclose([i.score for i in got.items], [i.score for i in want.items], rtol=1e-5)
    with pytest.raises(coldkit.InvalidInputError, match=r"ServingIndex.build takes coldkit.data.Interactions or a pandas DataFrame.*got list"):
        ServingIndex.build([("u1", "m1")], encoder="hashing")
    with pytest.raises(coldkit.InvalidInputError, match=r"items= read a DataFrame"):
        ServingIndex.build(train, items=movies, encoder="hashing")
    with pytest.raises(coldkit.InvalidInputError, match=r"missing column\(s\) \['user_id', 'item_id'\].*columns={'user_id': 'userId'"):
        ServingIndex.build(ratings, items=movies, item_columns={"item_id": "movieId"}, encoder="hashing")


def test_writes_given_a_dataframe_say_how_to_pass_its_rows(index: ServingIndex) -> None:
    """A DataFrame of new items or events was iterated as its column names ("item 0 must be an object ..., got str",
    "event 0 must be a (user_id, item_id) pair, got 'user_id'"); the error now names the frame and the conversion,
    and the conversion it names is accepted."""
    new_items = pd.DataFrame({"movieId": [900001, 900002], "title": ["robots in space", "a quiet love story"]})
    with pytest.raises(coldkit.InvalidInputError, match=r"not a DataFrame: .*to_dict\('records'\)"):
        index.upsert_items(new_items)  # type: ignore[arg-type]
    records = new_items.rename(columns={"movieId": "id", "title": "text"}).astype({"id": str}).to_dict("records")
    assert [r["created"] for r in index.upsert_items(records)] == [True, True]  # type: ignore[arg-type]
    assert index.has_item("900001") and index.has_item("900002")
    events = pd.DataFrame({"user_id": ["visitor", "visitor"], "item_id": [900001, 900002]})
    with pytest.raises(coldkit.InvalidInputError, match=r"not a DataFrame: .*itertuples"):
        index.add_interactions(events)  # type: ignore[arg-type]
    pairs = list(events[["user_id", "item_id"]].astype(str).itertuples(index=False, name=None))
    assert index.add_interactions(pairs) == {"recorded": 2, "duplicates": 0, "new_users": 1}
    assert set(index.user_items("visitor")) == {"900001", "900002"}


def test_recommend_matches_the_hybrid_where_items_have_no_text() -> None:
    """Items without text score as the average item (0 after centring) in the hybrid's content and text sources
    and in the served index's alike: the two answer the same lists for a catalogue where some items have none."""
    from coldkit.models.blend import DEFAULT_WEIGHTS
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving.model import SERVED_SOURCES

    base = small_interactions(n_warm=120, n_cold=30, n_users=150)
    table = base.catalog.table.copy()
    blank = np.arange(len(table)) % 4 == 0  # every 4th item, warm and cold alike, without any text
    for column in base.catalog.text_columns:
        table[column] = table[column].where(~blank, "")
    catalog = Catalog(base.catalog.item_ids, table, base.catalog.text_columns)
    train = Interactions(base.user_ids, catalog, base.matrix)
    unserved = {name: 0.0 for name in DEFAULT_WEIGHTS if name not in SERVED_SOURCES}
    hybrid = Hybrid(encoder="hashing", warm="svd", weights={**unserved, **WEIGHTS}, cache=False, stack=False,
                    attributes=False).fit(train)
    index = ServingIndex.from_hybrid(hybrid, train, encoder_name="hashing")
    ids = [str(i) for i in train.catalog.item_ids]
    # clicks on warm items only (the first 120), as in test_recommend_matches_the_hybrid_item_for_item
    queries = [UserQuery(text="space war robots"), UserQuery(text="romantic comedy"), UserQuery(history=np.array([3, 50, 110])),
               UserQuery(history=np.array([12]), text="crime thriller"), UserQuery(user=5)]
    reference = hybrid.recommend(queries, k=20)
    for row, query in enumerate(queries):
        got = index.recommend(None if query.user is None else str(train.user_ids[query.user]), text=query.text,
                              history=[ids[i] for i in query.history], k=20, explain=False)
        expected = reference.indices[row][reference.indices[row] >= 0]
        np.testing.assert_allclose([i.score for i in got.items], reference.scores[row][: len(expected)], atol=1e-4)
        got_ids = [item.id for item in got.items]
        # the items without text the served list holds are those the hybrid's holds (ties may swap places)
        assert {i for i in got_ids if blank[ids.index(i)]} == {ids[i] for i in expected if blank[i]}, (query, got_ids)


def test_categories_split_as_the_genre_models_split_genres() -> None:
    """A ``genres`` column separated by ',' or ';' gives the categories its '|' twin gives.

    The index split on '|' alone, so "Comedy, Romance" was one category and ``max_per_category`` capped
    items that share no genre; it now reads the column by ``genre_separator``, as the genre models do.
    """
    from scipy import sparse

    n, rng = 30, np.random.default_rng(0)
    item_ids = np.array([f"i{j}" for j in range(n)])
    titles = [f"movie {j} {'comedy heist' if j % 2 else 'drama war'} story" for j in range(n)]
    matrix = (rng.random((20, n)) < 0.3).astype(np.float32)
    matrix[:, n - 5:] = 0  # the last items are cold
    user_ids = np.array([f"u{u}" for u in range(20)])
    piped = ["Comedy|Romance", "Drama", "Sci-Fi|Action|Drama", "", "Comedy", " Romance | Comedy "]
    commas = ["Comedy, Romance", "Drama", "Sci-Fi;Action, Drama", "", "Comedy", " Romance ; Comedy "]
    # the categories written out by hand, not by the rule under test
    expected = [["Comedy", "Romance"], ["Drama"], ["Sci-Fi", "Action", "Drama"], [], ["Comedy"], ["Romance", "Comedy"]]

    def index_with(genres: list[str]) -> ServingIndex:
        table = pd.DataFrame({"title": titles, "genres": [genres[j % len(genres)] for j in range(n)]})
        data = Interactions(user_ids, Catalog(item_ids, table, ["title"]), sparse.csr_matrix(matrix))
        return ServingIndex.build(data, encoder="hashing", cache=False)

    by_pipe, by_comma = index_with(piped), index_with(commas)
    ids = [str(i) for i in item_ids]
    for j, item in enumerate(ids):
        assert by_pipe.item_info(item)["categories"] == expected[j % len(expected)], item
        assert by_comma.item_info(item)["categories"] == expected[j % len(expected)], item
    # the same categories, so the same capped ranking (the text column is "title" alone: same content vectors)
    for request in ({"user_id": "u3"}, {"text": "comedy heist"}):
        got, want = by_comma.recommend(k=8, max_per_category=1, **request), by_pipe.recommend(k=8, max_per_category=1, **request)
        assert ids_of(got) == ids_of(want) and got.relaxed == want.relaxed, request
    # one '|' anywhere in the column: '|' is the separator and a comma stays inside a name (MovieLens titles)
    named = index_with(["Drama|Crime, Noir", "Comedy, Romance"])
    assert named.item_info(ids[0])["categories"] == ["Drama", "Crime, Noir"]
    assert named.item_info(ids[1])["categories"] == ["Comedy, Romance"]
    # MovieLens's "(no genres listed)" is no category (the genre models drop it too): such items share no group
    listed = index_with(["(no genres listed)", "Comedy|(no genres listed)"])
    assert listed.item_info(ids[0])["categories"] == [] and listed.item_info(ids[1])["categories"] == ["Comedy"]


def _unsigned(root: Path) -> None:
    """CURRENT as an index saved before it kept the manifest's digest: the manifest edited below is read as is."""
    pointer = json.loads((root / "CURRENT").read_text())
    pointer.pop("manifest_sha256", None)
    (root / "CURRENT").write_text(json.dumps(pointer))


def _servable_hybrid(train: Interactions, encoder: Any, **options: Any) -> Any:
    """A hybrid fitted as the index serves it (only served sources weigh), with ``encoder``."""
    from coldkit.models.blend import DEFAULT_WEIGHTS
    from coldkit.models.hybrid import Hybrid
    from coldkit.serving.model import SERVED_SOURCES

    unserved = {name: 0.0 for name in DEFAULT_WEIGHTS if name not in SERVED_SOURCES}
    return Hybrid(encoder=encoder, warm="svd", weights={**unserved, **WEIGHTS}, cache=False, stack=False,
                  lexical=False, attributes=False, **options).fit(train)  # fmt: skip


def _check_saved_serves_like(model: Any, train: Interactions, path: Path) -> None:
    """Saved and loaded, the index lists what the fitted hybrid lists."""
    save(model, path)
    loaded = load(path, read_only=True)
    try:
        expected = model.recommend([UserQuery(user=4)], k=10)
        assert ids_of(loaded.recommend(str(train.user_ids[4]), k=10)) == [str(train.catalog.item_ids[i]) for i in expected.indices[0]]
    finally:
        loaded.close()


def test_save_of_a_hybrid_keeps_its_encoders_name_and_options(train: Interactions, tmp_path: Path) -> None:
    """A plugin encoder built by name with options (char-ngram, n=4) was saved without them, and the index
    could never be opened: "re-created with options {} has fingerprint ..." (a plugin author's review)."""
    pytest.importorskip("coldkit_example")
    _check_saved_serves_like(_servable_hybrid(train, "char-ngram", encoder_options={"n": 4}), train, tmp_path / "h")


def test_a_hybrid_given_an_encoder_object_saves_its_options(train: Interactions, tmp_path: Path) -> None:
    """An encoder object from coldkit.get_encoder with options of its own was saved as its name alone, and
    every load failed on its fingerprint ("different model files or version?"). Its options are saved now;
    one built by its class, whose options no load can know, is refused at save with what to do."""
    pytest.importorskip("coldkit_example")
    from coldkit_example.encoder import CharNgramEncoder

    _check_saved_serves_like(_servable_hybrid(train, coldkit.get_encoder("char-ngram", n=4)), train, tmp_path / "h")
    with pytest.raises(coldkit.InvalidInputError, match=r"encoder 'char-ngram' was built with options a load cannot know"):
        save(_servable_hybrid(train, CharNgramEncoder(n=5)), tmp_path / "class-built")
    assert not (tmp_path / "class-built").exists() or not any((tmp_path / "class-built").iterdir())
    save(_servable_hybrid(train, CharNgramEncoder()), tmp_path / "defaults")  # its defaults are what a load builds


def test_save_refuses_a_hybrid_whose_encoder_no_load_could_re_create(train: Interactions, tmp_path: Path) -> None:
    """An encoder object that calls itself by no registered name was saved, and every load then said it "is not
    installed here": refused at save, naming the name and what to build the Hybrid with."""
    encoder = coldkit.get_encoder("hashing")
    encoder.name = "Word Hash v1"  # type: ignore[misc]
    model = _servable_hybrid(train, encoder)
    with pytest.raises(coldkit.InvalidInputError, match=r"encoder calls itself 'Word Hash v1', which is no registered encoder's name"):
        save(model, tmp_path / "h")
    assert not (tmp_path / "h").exists() or not any((tmp_path / "h").iterdir())
