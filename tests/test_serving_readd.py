"""Deleting an item and adding its id again makes a new item, the same whether or not a snapshot came between."""

from __future__ import annotations

from pathlib import Path

from coldkit.serving import load, save


def test_a_deleted_id_added_again_is_a_new_item_with_no_past(tmp_path: Path, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    v = index.version
    # a warm item and the users who clicked it (from the index's own tables, before the write)
    item = next(i for i in v.item_ids if v.item_count[v.item_index[i]] >= 3)
    clicked = [u for u in v.user_ids if item in index.user_items(u)]
    assert len(clicked) == v.item_count[v.item_index[item]]
    index.delete_items([item])
    assert index.upsert_items([{"id": item, "text": "an unrelated new gadget"}]) == [{"id": item, "created": True}]

    def check(ix) -> None:  # type: ignore[no-untyped-def]
        info = ix.item_info(item)
        assert info["new"] is True and info["interactions"] == 0  # was: the deleted item's count
        for user in clicked:
            assert item not in ix.user_items(user)  # was: counted as seen by everyone who clicked the old one
            listed = [i.id for i in ix.recommend(user, candidates=[item], k=1).items]
            assert listed == [item]  # was: [] (excluded as already seen)

    check(index)
    index.close()
    check(load(tmp_path / "idx", read_only=True))  # the log replays the same
    reopened = load(tmp_path / "idx")
    save(reopened, tmp_path / "idx")  # and a snapshot (compaction) keeps it
    reopened.close()
    check(load(tmp_path / "idx", read_only=True))


def test_a_reader_of_an_older_version_still_finds_an_item_deleted_and_added_again_meanwhile(make_tiny_index) -> None:
    """Readers take one version per request and never lock: one that took its version before the delete
    must find the item there (it was live) while the writer deletes it and adds the id again."""
    from coldkit.serving.state import resolve_items

    index = make_tiny_index()
    before = index.version  # a request in flight holds this version
    item = before.item_ids[0]
    ordinal = before.item_ordinal(item)
    assert ordinal is not None
    index.delete_items([item])
    deleted = index.version
    index.upsert_items([{"id": item, "text": "an unrelated new gadget"}])
    after = index.version
    assert before.item_ordinal(item) == ordinal  # was: None (the shared id table pointed past its items: a 404)
    assert list(resolve_items(before, [item], "item id")) == [ordinal]
    assert deleted.item_ordinal(item) is None  # deleted in that version
    assert after.item_ordinal(item) not in (None, ordinal)  # a new item, with a new ordinal
    # once more: each version sees its own item under the id
    index.delete_items([item])
    index.upsert_items([{"id": item, "text": "a third life"}])
    assert before.item_ordinal(item) == ordinal
    assert after.item_ordinal(item) == after.n_items - 1
    assert index.version.item_ordinal(item) == index.version.n_items - 1
    assert index.item_info(item)["text"] == "a third life"
