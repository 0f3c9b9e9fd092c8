"""Log replay and compaction: how :func:`coldkit.serving.load` catches up with the log and :func:`coldkit.serving.save` snapshots.

* :func:`apply_record` re-applies one write-ahead-log record through the writer (without logging
  it again), so a replayed write goes through exactly the code that applied it the first time;
* :func:`compacted` is a version without dead rows or deleted items (rows == items, renumbered):
  what a snapshot stores.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.serving.state import Version
from coldkit.serving.wal import decode_vectors
from coldkit.serving.writes import IndexWriter

__all__ = ["apply_record", "compacted"]


def apply_record(writer: IndexWriter, record: Mapping[str, Any]) -> None:
    """Re-apply one write-ahead-log record (not logged again; allowed on a read-only index)."""
    op = record.get("op")
    try:
        with writer.unlogged():
            if op == "upsert_items":
                items = record["items"]
                before = writer.version.number
                writer.upsert_items(items, vectors=decode_vectors(record, len(items)))
                if writer.version.number == before:
                    # items posted again as they were: an older coldkit logged them as a version of their own
                    # (now they are acknowledged without one); keep its number, as for duplicate clicks below
                    writer.commit({}, writer.version)
            elif op == "delete_items":
                # an id deleted twice in a row is harmless on replay
                live = [i for i in record["ids"] if writer.version.item_ordinal(str(i)) is not None]
                if live:
                    writer.delete_items(live)
                else:
                    writer.commit({}, writer.version)
            elif op == "interactions":
                before = writer.version.number
                writer.add_interactions([tuple(e) for e in record["events"]])
                if writer.version.number == before:
                    # duplicates only: an older coldkit logged them as a version of their own (now they
                    # are acknowledged without one); keep its number, or the next record "follows" a gap
                    writer.commit({}, writer.version)
            elif op == "upsert_user":
                writer.upsert_user(record["id"], text=record.get("text"), items=record.get("items") or [])
            else:
                raise InvalidInputError(f"unknown log operation {op!r}")
    except ColdkitError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # read_log checks the fields; this is a safety net
        raise InvalidInputError(f"{op} record lacks or mangles a field: {exc!r}") from exc


def compacted(v: Version) -> Version:
    """``v`` without dead rows or deleted items: rows == items, renumbered (same version number).

    The items are numbered in the order of their rows, not of their old numbers: ties are broken by
    row, and a re-posted item's row comes after the items posted since; numbered by item, two tied
    items swapped places in the same request's answer after a snapshot."""
    live = np.flatnonzero(v.item_row >= 0)
    live = live[np.argsort(v.item_row[live], kind="stable")]
    rows = v.item_row[live]
    renumber = np.full(v.n_items, -1, dtype=np.int64)
    renumber[live] = np.arange(live.size)
    indptr = [0]
    chunks = []
    for user in range(v.n_users):  # loops over users once per snapshot, never per request
        items = renumber[v.history(user)]
        items = np.sort(items[items >= 0])
        chunks.append(items)
        indptr.append(indptr[-1] + items.size)
    item_ids = [v.item_ids[o] for o in live]
    return Version(
        number=v.number,
        n_rows=live.size,
        content=np.ascontiguousarray(v.content[rows]),
        cf=np.ascontiguousarray(v.cf[rows]),
        foldin=np.ascontiguousarray(v.foldin[rows]),
        row_item=np.arange(live.size, dtype=np.int64),
        row_new=np.ascontiguousarray(v.row_new[rows]),
        row_meta=[v.row_meta[int(r)] for r in rows],
        n_items=live.size,
        item_ids=item_ids,
        item_index={item_id: o for o, item_id in enumerate(item_ids)},
        item_row=np.arange(live.size, dtype=np.int64),
        item_count=v.item_count[live].copy(),
        n_users=v.n_users,
        user_ids=list(v.user_ids[: v.n_users]),
        user_index={u: o for o, u in enumerate(v.user_ids[: v.n_users])},
        base_indptr=np.asarray(indptr, dtype=np.int64),
        base_items=np.concatenate(chunks).astype(np.int64) if chunks else np.empty(0, dtype=np.int64),
        extra_items={},
        user_text={u: t for u, t in v.user_text.items()},
    )
