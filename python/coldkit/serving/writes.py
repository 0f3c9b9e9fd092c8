"""The write path of a serving index: validated writes, logged (fsync) before they are published.

One :class:`IndexWriter` per index owns the published :class:`~coldkit.serving.state.Version`, the
growable row buffers behind it and the write-ahead log. Writes are serialised by one lock; each
builds a new version (appending rows beyond every published view, copying the small per-item
arrays), appends its record to the log and only then swaps the new version in, so a reader sees
either the whole write or none of it (see :mod:`coldkit.serving.state`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from coldkit.exceptions import InvalidInputError
from coldkit.serving.errors import ReadOnlyIndexError
from coldkit.serving.model import ServedModel
from coldkit.serving.state import ItemMeta, RowBuffer, Version, as_id, check_new_id, check_text, resolve_items
from coldkit.serving.wal import WriteAheadLog, encode_vectors

__all__ = ["IndexWriter", "NO_CONTENT_NOTE"]

_ROW_ARRAYS = ("content", "cf", "foldin", "row_item", "row_new")


#: What ``upsert_items`` says of an item without content (its content vector is zero).
NO_CONTENT_NOTE = (
    "no content (empty text, no image or audio): it scores 0 against every text and every clicked item's "
    "content and has no similar items; the cf source places it as an average item (the content-to-CF map "
    "of no content), and keeps it there until the index is built again with its interactions"
)

#: How far an item's content vector may move and still be the same item posted again: a torch encoder's
#: vector of one text moves by at most ~3e-7 with the batch it is encoded in; an edit of the text, image or
#: audio moves a unit vector by orders of magnitude more.
SAME_VECTOR_ATOL = 1e-5


def _is_iterable(value: object) -> bool:
    """Whether ``value`` can be iterated (a list, tuple, array, generator...)."""
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return True


class IndexWriter:
    """Applies writes to an index and publishes each as a new version (see the module docstring).

    Attributes:
        version: the published version (readers take it once per request).
        wal: the write-ahead log every write goes to before it is published (None: not logged).
        path: the index directory the log lives in (None: in memory only).
        read_only: writes raise :class:`~coldkit.serving.errors.ReadOnlyIndexError`.
        lock: serialises writes (and snapshots' hand-over to a new log).
    """

    def __init__(self, model: ServedModel, version: Version) -> None:
        self.model = model
        self.version = version
        self.lock = threading.RLock()
        self.wal: WriteAheadLog | None = None
        self.path: str | None = None
        self.read_only = False
        self.lock_file: Any = None  # the open LOCK file that makes this process the directory's one writer
        # replaying the log: its records were accepted once and are applied as they are (an id a later
        # coldkit refuses, e.g. with a control character, must not make an index written before unloadable)
        self.replaying = False
        self._buffers = {name: RowBuffer(getattr(version, name)) for name in _ROW_ARRAYS}

    # ------------------------------------------------------------------ plumbing
    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyIndexError("this index was opened read-only; writes go to the single writer process")

    def commit(self, record: dict[str, Any], new: Version) -> Version:
        """Log ``record`` (fsync) then publish ``new``: a write is acknowledged only once durable."""
        number = self.version.number + 1
        old = self.version
        # a write that leaves the items alone (clicks, users) keeps the live items' categories: recomputing them
        # walked every item in Python on the first category-limited request after each write. An item write
        # makes a new item_row (upserts concatenate, deletes copy), so the same array means the same items
        kept = {"categories": old._memo["categories"]} if new.item_row is old.item_row and "categories" in old._memo else {}
        new = replace(new, number=number, _memo=kept)
        if self.wal is not None:
            self.wal.append({"version": number, **record})
        self.version = new
        return new

    def replace_version(self, new: Version) -> None:
        """Swap in ``new`` (same content, e.g. compacted) and rebase the row buffers on it."""
        self.version = new
        self._buffers = {name: RowBuffer(getattr(new, name)) for name in _ROW_ARRAYS}

    @contextmanager
    def unlogged(self) -> Iterator[None]:
        """Apply writes without logging them and despite ``read_only`` (log replay: they are logged already)."""
        with self.lock:
            wal, self.wal = self.wal, None
            read_only, self.read_only = self.read_only, False
            replaying, self.replaying = self.replaying, True
            try:
                yield
            finally:
                self.wal, self.read_only, self.replaying = wal, read_only, replaying

    def refuse_new_ids_with_controls(self, v: Version, ids: Sequence[tuple[str, str]], kind: str) -> None:
        """InvalidInputError for the first ``(id, what)`` of ``ids`` that holds a control character and that this write
        would create (``kind`` ``"item"`` or ``"user"``): an id already in ``v`` (e.g. read from a file at build time,
        where the loaders take it) stays usable. Not during log replay (see ``replaying``)."""
        if self.replaying:
            return
        known = v.item_ordinal if kind == "item" else v.user_ordinal
        for ident, what in ids:
            if known(ident) is None:
                check_new_id(ident, what)

    def close(self) -> None:
        """Close the log and release the writer lock; an index attached to a directory then refuses writes."""
        with self.lock:
            if self.wal is not None:
                self.wal.close()
                self.wal = None
            if self.lock_file is not None:
                self.lock_file.close()
                self.lock_file = None
            if self.path is not None:
                self.read_only = True  # unlogged writes would be lost silently: refuse them instead

    # ------------------------------------------------------------------ items
    def upsert_items(
        self, items: Sequence[Mapping[str, Any]], *, vectors: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[dict[str, Any]]:
        """Add or replace items (by ``id``); ``vectors`` = their (content, mapped CF) rows when already known (replay).

        One ``{"id", "created"}`` per item, plus ``"note"`` (:data:`NO_CONTENT_NOTE`) for an item whose
        content vector is zero (empty text, no image or audio)."""
        clean = _check_items(items)
        self.check_writable()
        labels = [(item["id"], f"item {pos} id") for pos, item in enumerate(clean)]
        self.refuse_new_ids_with_controls(self.version, labels, "item")  # before the (slow) encoding
        if vectors is None:
            # encode outside the write lock: it needs no index state and may be slow (BERT, images)
            vectors = self.model.encode_items(
                [i["text"] for i in clean], [i["image"] for i in clean], [i["id"] for i in clean],
                audio=[i.get("audio") for i in clean],
            )
        content, mapped = vectors
        if not (np.isfinite(content).all() and np.isfinite(mapped).all()):
            raise InvalidInputError("item vectors hold NaN or infinite values; nothing was applied")
        v = self.version
        if content.shape[1] != v.content.shape[1] or mapped.shape[1] != v.cf.shape[1]:
            raise InvalidInputError(f"item vectors have dims {content.shape[1]}/{mapped.shape[1]}, the index "
                                    f"{v.content.shape[1]}/{v.cf.shape[1]}")
        with self.lock:
            self.check_writable()
            self.refuse_new_ids_with_controls(self.version, labels, "item")  # again: another write may have deleted one
            # An item posted again as it is (a catalogue sync re-posting every item each hour) gave a new row each
            # time and left the old one dead: memory grew with every sync until a snapshot. Such items change
            # nothing, and are acknowledged as they are (no row, no log record; no version when none changed).
            changed = ~self._unchanged(self.version, clean, content)
            created = [False] * len(clean)
            if changed.any():
                kept = [item for item, on in zip(clean, changed) if on]
                new, made = self._apply_upsert(self.version, kept, content[changed], mapped[changed])
                # the vectors travel in the log: replay needs neither the encoder's time nor the image files
                self.commit({"op": "upsert_items", "items": kept, **encode_vectors(content[changed], mapped[changed])}, new)
                for pos, was_made in zip(np.flatnonzero(changed).tolist(), made):
                    created[pos] = was_made
        out: list[dict[str, Any]] = [{"id": item["id"], "created": c} for item, c in zip(clean, created)]
        for pos, record in enumerate(out):
            if not np.any(content[pos]):
                # accepted, as `coldkit recommend` takes a catalogue row without text (with a note): the
                # item exists and clicks can rank it, but the client should know content cannot
                record["note"] = NO_CONTENT_NOTE
        return out

    @staticmethod
    def _unchanged(v: Version, items: list[dict[str, Any]], content: np.ndarray) -> np.ndarray:
        """Per item: it is live in ``v`` with the same text, categories and image, and the same content
        vector (so the same image and audio files' contents too).

        The vector is compared to within :data:`SAME_VECTOR_ATOL`: a text encoded in another batch may
        differ in its last bits (torch encoders: ≤ 3e-7), and a new item's CF vector is a fixed map of it."""
        same = np.zeros(len(items), dtype=bool)
        for pos, item in enumerate(items):
            ordinal = v.item_ordinal(item["id"])
            if ordinal is None:
                continue
            row = int(v.item_row[ordinal])
            same[pos] = v.row_meta[row] == ItemMeta(item["text"], tuple(item["categories"]), item["image"]) and bool(
                np.allclose(v.content[row], content[pos], rtol=0.0, atol=SAME_VECTOR_ATOL)
            )
        return same

    def _apply_upsert(
        self, v: Version, items: list[dict[str, Any]], content: np.ndarray, mapped: np.ndarray
    ) -> tuple[Version, list[bool]]:
        n_rows, n_items = v.n_rows, v.n_items
        new_ids: list[str] = []
        ordinals = np.empty(len(items), dtype=np.int64)
        created = []
        cf_rows = mapped.copy()
        foldin_rows = mapped.copy()
        new_flags = np.ones(len(items), dtype=bool)
        for pos, item in enumerate(items):
            ordinal = v.item_ordinal(item["id"])  # None: unknown, or deleted (see Version.item_ordinal)
            if ordinal is None:
                # a new id, or a deleted one added again: a new item with a fresh ordinal. Reusing the
                # deleted one's ordinal gave the "new" item the old one's interaction count and hid it
                # from every user who had clicked the old one (as already seen), until a snapshot
                # compacted the old ordinal away; the dead ordinal keeps those clicks instead
                ordinal = n_items + len(new_ids)
                new_ids.append(item["id"])
                created.append(True)
            else:
                old_row = int(v.item_row[ordinal])
                created.append(False)
                if not v.row_new[old_row]:
                    # a warm item keeps what its interactions taught CF; only its content changes
                    cf_rows[pos] = v.cf[old_row]
                    foldin_rows[pos] = v.foldin[old_row]
                    new_flags[pos] = False
            ordinals[pos] = ordinal
        rows = np.arange(n_rows, n_rows + len(items), dtype=np.int64)
        del v.row_meta[n_rows:]  # drop leftovers of a failed write (never published)
        v.row_meta.extend(ItemMeta(i["text"], tuple(i["categories"]), i["image"]) for i in items)
        del v.item_ids[n_items:]
        v.item_ids.extend(new_ids)
        for offset, item_id in enumerate(new_ids):
            previous = v.item_index.get(item_id)
            if previous is not None and previous < n_items and v.item_ids[previous] == item_id:
                # a deleted id added again: remember its published ordinal *before* item_index moves
                # on, so readers of older versions (they never lock) still find their item
                v.earlier_ordinals[item_id] = v.earlier_ordinals.get(item_id, ()) + (previous,)
            v.item_index[item_id] = n_items + offset
        item_row = np.concatenate([v.item_row, np.full(len(new_ids), -1, dtype=np.int64)])
        item_row[ordinals] = rows
        item_count = np.concatenate([v.item_count, np.zeros(len(new_ids))])
        b = self._buffers
        new = replace(
            v,
            n_rows=n_rows + len(items),
            content=b["content"].put(n_rows, content),
            cf=b["cf"].put(n_rows, cf_rows),
            foldin=b["foldin"].put(n_rows, foldin_rows),
            row_item=b["row_item"].put(n_rows, ordinals),
            row_new=b["row_new"].put(n_rows, new_flags),
            n_items=n_items + len(new_ids),
            item_row=item_row,
            item_count=item_count,
        )
        return new, created

    def delete_items(self, item_ids: Sequence[str]) -> None:
        """Delete items: they stop being recommended at once (tombstones; compacted on snapshot)."""
        if isinstance(item_ids, (str, bytes)) or not _is_iterable(item_ids) or isinstance(item_ids, Mapping):
            # None (or one id given bare as a number) was a TypeError from deep in the lookup
            raise InvalidInputError(f"delete_items takes a list of ids, got {type(item_ids).__name__}")
        with self.lock:
            self.check_writable()
            v = self.version
            ordinals = resolve_items(v, item_ids, "item id")
            item_row = v.item_row.copy()
            item_row[ordinals] = -1
            self.commit({"op": "delete_items", "ids": [v.item_ids[o] for o in ordinals]}, replace(v, item_row=item_row))

    # ------------------------------------------------------------------ users and interactions
    def _new_users(self, v: Version, user_ids: list[str]) -> tuple[dict[str, int], list[str]]:
        """Ordinals for ``user_ids``, allocating new ones (not yet published) for unknown users."""
        del v.user_ids[v.n_users :]
        ordinals: dict[str, int] = {}
        added: list[str] = []
        for uid in user_ids:
            ordinal = v.user_ordinal(uid)
            if ordinal is None:
                ordinal = ordinals.get(uid)
                if ordinal is None:
                    ordinal = v.n_users + len(added)
                    added.append(uid)
            ordinals[uid] = ordinal
        return ordinals, added

    @staticmethod
    def _publish_users(v: Version, added: list[str]) -> None:
        v.user_ids.extend(added)
        for offset, uid in enumerate(added):
            v.user_index[uid] = v.n_users + offset

    def add_interactions(self, events: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Record ``(user_id, item_id)`` interactions; an unknown user is created (a new user from a few clicks).

        Returns counts: ``recorded`` (new user-item pairs), ``duplicates`` (already known pairs),
        ``new_users``. Events that are all duplicates change nothing: they are acknowledged without a log
        record or a new version (the version stays the one that already holds them).
        """
        if isinstance(events, (str, bytes)):
            raise InvalidInputError("events must be a list of (user_id, item_id) pairs")
        if isinstance(events, pd.DataFrame):
            # iterating a frame yields its column names, each refused as "event 0 must be a pair, got 'user_id'"
            raise InvalidInputError(
                "events must be a list of (user_id, item_id) pairs, not a DataFrame: pass its two id columns' rows as "
                "strings, e.g. list(df[['user_id', 'item_id']].astype(str).itertuples(index=False, name=None))"
            )
        if not _is_iterable(events) or isinstance(events, Mapping):
            raise InvalidInputError(f"events must be a list of (user_id, item_id) pairs, got {type(events).__name__}")
        pairs = []
        for pos, event in enumerate(events):
            if isinstance(event, Mapping):
                # the HTTP body's shape: it was a bare KeyError 0 (and a dict of other keys, indexed by position,
                # could never be right)
                raise InvalidInputError(
                    f"event {pos} is a mapping; pass (user_id, item_id) pairs, e.g. (event['user_id'], event['item_id'])"
                )
            if isinstance(event, (str, bytes, set, frozenset)) or not hasattr(event, "__getitem__") or len(event) != 2:
                # an int had no len(), a set no order: both were TypeErrors, not an error naming the event
                raise InvalidInputError(f"event {pos} must be a (user_id, item_id) pair, got {event!r:.60}")
            pairs.append((as_id(event[0], f"event {pos} user_id"), as_id(event[1], f"event {pos} item_id")))
        with self.lock:
            self.check_writable()
            v = self.version
            ordinals = resolve_items(v, [p[1] for p in pairs], "item id")
            self.refuse_new_ids_with_controls(v, [(p[0], f"event {pos} user_id") for pos, p in enumerate(pairs)], "user")
            new, stats = self._apply_interactions(v, [p[0] for p in pairs], ordinals)
            if stats["recorded"] or stats["new_users"]:
                # only duplicates: logging them bumped the version (a client waiting for it on a reader
                # saw a "new" version with nothing new) and grew the log by a record that replays to nothing
                self.commit({"op": "interactions", "events": [list(p) for p in pairs]}, new)
        return stats

    def _apply_interactions(self, v: Version, user_ids: list[str], ordinals: np.ndarray) -> tuple[Version, dict[str, int]]:
        users, added = self._new_users(v, user_ids)
        extra = dict(v.extra_items)
        count = v.item_count.copy()
        recorded = duplicates = 0
        by_user: dict[int, list[int]] = {}
        for uid, ordinal in zip(user_ids, ordinals):
            by_user.setdefault(users[uid], []).append(int(ordinal))
        for user, items in by_user.items():
            known = v.history(user) if user < v.n_users else np.empty(0, dtype=np.int64)
            fresh = np.setdiff1d(np.unique(np.asarray(items, dtype=np.int64)), known)
            duplicates += len(items) - fresh.size
            if fresh.size:
                previous = extra.get(user)
                extra[user] = fresh if previous is None else np.concatenate([previous, fresh])
                np.add.at(count, fresh, 1.0)
                recorded += fresh.size
        self._publish_users(v, added)
        new = replace(v, n_users=v.n_users + len(added), extra_items=extra, item_count=count)
        return new, {"recorded": recorded, "duplicates": duplicates, "new_users": len(added)}

    def upsert_user(self, user_id: str, *, text: str | None = None, items: Sequence[str] = ()) -> dict[str, Any]:
        """Create or update a user from profile text and/or a few clicked items."""
        uid = as_id(user_id, "user_id")
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        if text is not None:
            check_text(text, f"user {uid!r} text")
        if isinstance(items, (str, bytes)):
            raise InvalidInputError("items must be a list of item ids")
        with self.lock:
            self.check_writable()
            v = self.version
            ordinals = resolve_items(v, items, "item id")
            self.refuse_new_ids_with_controls(v, [(uid, "user_id")], "user")
            created = v.user_ordinal(uid) is None
            new = self._apply_user(v, uid, text, ordinals)
            self.commit({"op": "upsert_user", "id": uid, "text": text, "items": [v.item_ids[o] for o in ordinals]}, new)
        return {"id": uid, "created": created}

    def set_user_texts_unlogged(self, texts: Mapping[str, str]) -> int:
        """Give users their profile text in one new version, creating the unknown ones (no interaction yet),
        without a log record: only for an index not yet saved (``coldkit serve --build --user-profiles``), whose
        snapshot then holds the texts. What :meth:`upsert_user` with ``text`` does for one user, at once for
        all: one upsert per user copied the whole text dict each time (quadratic in the profiles). Blank texts
        are skipped. Returns the number of users created.

        Raises:
            InvalidInputError: a text that is not valid Unicode (named by its user), or the index has a log.
        """
        if self.wal is not None:
            raise InvalidInputError("profile texts are set in bulk only before an index is saved; use upsert_user on a live index")
        clean = {as_id(uid, "user_id"): check_text(text, f"user {uid!r} text") for uid, text in texts.items()}
        with self.lock:
            self.check_writable()
            v = self.version
            _, added = self._new_users(v, list(clean))
            self._publish_users(v, added)
            user_text = dict(v.user_text)
            user_text.update({v.user_index[uid]: text for uid, text in clean.items() if text.strip()})
            self.replace_version(replace(v, n_users=v.n_users + len(added), user_text=user_text, _memo={}))
        return len(added)

    def _apply_user(self, v: Version, uid: str, text: str | None, ordinals: np.ndarray) -> Version:
        new, _ = self._apply_interactions(v, [uid] * len(ordinals), ordinals) if len(ordinals) else (v, None)
        if len(ordinals) == 0 and new.user_ordinal(uid) is None:
            users, added = self._new_users(new, [uid])
            self._publish_users(new, added)
            new = replace(new, n_users=new.n_users + len(added))
        if text is not None:
            user = new.user_index[uid]
            texts = dict(new.user_text)
            if text.strip():
                texts[user] = text
            else:
                texts.pop(user, None)
            new = replace(new, user_text=texts)
        return new


#: The fields an upserted item may carry (the HTTP API refuses others too).
ITEM_FIELDS = ("id", "text", "categories", "image", "audio")


def _check_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items as clean ``{"id", "text", "categories", "image"}`` dicts, or InvalidInputError naming the bad one."""
    if isinstance(items, pd.DataFrame):
        # iterating a frame yields its column names: "item 0 must be an object ..., got str" named no frame
        raise InvalidInputError(
            "items must be a list of {'id', 'text', ...} objects, not a DataFrame: name its columns id and text and "
            "pass its rows, e.g. df.rename(columns={'movieId': 'id', 'title': 'text'}).to_dict('records') "
            "(ids are strings: .astype({'id': str}))"
        )
    if isinstance(items, Mapping) or isinstance(items, (str, bytes)):
        raise InvalidInputError("items must be a list of {'id', 'text', ...} objects")
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for pos, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"item {pos} must be an object with 'id' and 'text', got {type(item).__name__}")
        unknown = sorted(str(key) for key in item if key not in ITEM_FIELDS)
        if unknown:  # a "title" or "genres" key would be silently dropped: the item's text is "text"
            raise InvalidInputError(f"item {pos}: unknown field(s) {unknown}; an item has {list(ITEM_FIELDS)}")
        item_id = as_id(item.get("id"), f"item {pos} id")
        if item_id in seen:
            raise InvalidInputError(f"item id {item_id!r} appears twice in one request")
        seen.add(item_id)
        text = item.get("text")
        if not isinstance(text, str):
            raise InvalidInputError(f"item {item_id!r}: text must be a string, got {type(text).__name__}")
        check_text(text, f"item {item_id!r} text")
        categories = item.get("categories") or []
        if not isinstance(categories, (list, tuple)) or not all(isinstance(c, str) for c in categories):
            raise InvalidInputError(f"item {item_id!r}: categories must be a list of strings")
        for category in categories:
            check_text(category, f"item {item_id!r} category")
        image = item.get("image")
        if image is not None and not isinstance(image, str):
            raise InvalidInputError(f"item {item_id!r}: image must be a file path string")
        if image is not None:
            check_text(image, f"item {item_id!r} image")
        # an empty or blank path is no image (a blank one was kept, and failed as the working directory)
        record = {"id": item_id, "text": text, "categories": [c.strip() for c in categories if c.strip()], "image": image if image and image.strip() else None}
        audio = item.get("audio")
        if audio is not None:  # only multimodal indexes built with an audio column encode it
            if not isinstance(audio, str):
                raise InvalidInputError(f"item {item_id!r}: audio must be a file path string")
            check_text(audio, f"item {item_id!r} audio")
            record["audio"] = audio if audio.strip() else None
        clean.append(record)
    return clean
