"""An item posted again as it is changes nothing: no row, no log record, no version (a catalogue sync re-posts
every item); one whose text, categories, image or vector changed is still a new row."""

from __future__ import annotations

import json
from pathlib import Path

from coldkit.serving import load, save


def _log_records(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (path / "wal-000001.jsonl").read_text().splitlines() if line.strip()]


def test_an_item_posted_again_as_it_is_adds_no_row_record_or_version(tmp_path: Path, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    item = {"id": "gadget", "text": "a folding bicycle for the city", "categories": ["bikes"]}
    assert index.upsert_items([item]) == [{"id": "gadget", "created": True}]
    v = index.version
    for _ in range(3):  # each sync re-posts the catalogue: it gave a new row each time, the old one dead
        assert index.upsert_items([dict(item)]) == [{"id": "gadget", "created": False}]
    assert index.version is v and index.version.n_rows == v.n_rows
    assert len(_log_records(tmp_path / "idx")) == 1
    # a warm item posted again as it is (its text and categories as the index holds them)
    warm_id = next(i for i in v.item_ids if v.item_count[v.item_index[i]] >= 1)
    meta = v.row_meta[int(v.item_row[v.item_index[warm_id]])]
    assert index.upsert_items([{"id": warm_id, "text": meta.text, "categories": list(meta.categories)}]) == [
        {"id": warm_id, "created": False}
    ]
    assert index.version is v
    index.close()


def test_a_changed_item_beside_unchanged_ones_is_the_only_one_written(tmp_path: Path, make_tiny_index) -> None:
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    same = {"id": "same", "text": "a folding bicycle for the city", "categories": ["bikes"]}
    edited = {"id": "edited", "text": "a kettle", "categories": []}
    index.upsert_items([same, edited])
    rows = index.version.n_rows
    out = index.upsert_items([dict(same), {**edited, "text": "an electric kettle with a timer"}, {**same, "id": "fresh"}])
    assert out == [{"id": "same", "created": False}, {"id": "edited", "created": False}, {"id": "fresh", "created": True}]
    assert index.version.n_rows == rows + 2  # the edited item and the new one
    assert [i["id"] for i in _log_records(tmp_path / "idx")[-1]["items"]] == ["edited", "fresh"]
    # a category change alone is a change too
    index.upsert_items([{**same, "categories": ["bikes", "sale"]}])
    assert index.version.n_rows == rows + 3
    assert index.item_info("same")["categories"] == ["bikes", "sale"]
    expected = {i: index.item_info(i) for i in ("same", "edited", "fresh")}
    number = index.version.number
    index.close()
    replayed = load(tmp_path / "idx", read_only=True)  # the log replays to the same items and version
    assert {i: replayed.item_info(i) for i in expected} == expected
    assert replayed.version.number == number


def test_an_older_log_with_an_identical_re_post_still_replays_in_order(tmp_path: Path, make_tiny_index) -> None:
    """An older coldkit logged an identical re-post as a version of its own: replay must keep its number,
    or the record after it "follows" a gap and the index cannot be opened."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    item = {"id": "gadget", "text": "a folding bicycle for the city", "categories": ["bikes"]}
    index.upsert_items([item])
    index.upsert_items([{"id": "after", "text": "a tent for two"}])
    index.close()
    wal = tmp_path / "idx" / "wal-000001.jsonl"
    first, second = _log_records(tmp_path / "idx")
    repeated = {**first, "version": first["version"] + 1}  # the re-post, as the older coldkit logged it
    second["version"] += 1
    wal.write_text("".join(json.dumps(r) + "\n" for r in (first, repeated, second)))
    loaded = load(tmp_path / "idx", read_only=True)
    assert loaded.version.number == second["version"] and loaded.has_item("after") and loaded.has_item("gadget")


def test_tied_items_keep_their_order_through_a_snapshot(tmp_path: Path, make_tiny_index) -> None:
    """Ties are broken by row. A re-posted item moves to a new row at the end; a snapshot numbered the rows
    by item instead, so two tied items swapped places in the same request's answer after `save`."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    twin = "a folding bicycle for the city"
    index.upsert_items([{"id": "first", "text": twin}, {"id": "second", "text": twin}])
    index.upsert_items([{"id": "first", "text": twin, "categories": ["bikes"]}])  # same vector, a row after "second"

    def order(ix) -> list[str]:  # type: ignore[no-untyped-def]
        answer = ix.recommend(text="folding bicycle", candidates=["first", "second"], k=2, explain=False)
        assert answer.items[0].score == answer.items[1].score  # a real tie
        return [i.id for i in answer.items]

    before = order(index)
    save(index, tmp_path / "idx")  # compacts: rows == items
    assert order(index) == before
    index.close()
    assert order(load(tmp_path / "idx", read_only=True)) == before


def test_a_user_who_clicked_edited_items_gets_the_same_answer_through_a_snapshot(tmp_path: Path, make_tiny_index) -> None:
    """A snapshot renumbers the items in row order; the user's clicked items were summed in item order,
    so after edits of their clicks every score moved in its last bits and two items swapped places."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    v = index.version
    user = max(range(v.n_users), key=lambda u: len(v.history(u)))
    clicked = [v.item_ids[o] for o in v.history(user)][:3]
    for item in clicked:  # edited: each moves to a row at the end
        meta = v.row_meta[int(v.item_row[v.item_index[item]])]
        index.upsert_items([{"id": item, "text": meta.text + " (director's cut)", "categories": list(meta.categories)}])

    def answer(ix) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
        return [(i.id, i.score) for i in ix.recommend(v.user_ids[user], k=25, explain=False).items]

    before = answer(index)
    save(index, tmp_path / "idx")
    assert answer(index) == before  # ids and scores, to the last bit
    index.close()
    assert answer(load(tmp_path / "idx", read_only=True)) == before


def test_pages_of_the_fold_in_vectors_stay_the_same_items_through_a_snapshot(tmp_path: Path, make_tiny_index) -> None:
    """A snapshot keeps the version number and renumbers the items in row order; paged by item number, a
    device that read page 1 before it and page 2 after got an edited item twice and missed another."""
    index = make_tiny_index()
    save(index, tmp_path / "idx")
    first = index.version.item_ids[0]
    index.upsert_items([{"id": first, "text": "an edited description"}])  # its row moves to the end
    number = index.version.number
    page_one, _ = index.foldin_vectors(0, 15)
    save(index, tmp_path / "idx")
    assert index.version.number == number
    page_two, vectors = index.foldin_vectors(15)
    ids = page_one + page_two
    assert len(ids) == len(set(ids)) == index.version.n_items  # every live item once
    assert first in ids
    whole_ids, whole = index.foldin_vectors()
    assert whole_ids == ids and (whole[15:] == vectors).all()
    index.close()
