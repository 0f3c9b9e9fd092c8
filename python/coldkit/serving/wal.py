"""The write-ahead log of a serving index: append-only JSON lines, each write fsync-ed before it is acknowledged.

Each line is one write: ``{"version": N, "op": ..., ...}`` where ``N`` is the number of the version
the write published. New items carry their vectors (float32, base64) so that replaying the log
needs neither the encoder's time nor the image files.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from coldkit._atomic import fsync_dir
from coldkit.exceptions import InvalidInputError
from coldkit.serving.errors import IndexFormatError, IndexStorageError

__all__ = ["WriteAheadLog", "read_log", "encode_vectors", "decode_vectors"]


# ------------------------------------------------------------------------------------------ the log
class WriteAheadLog:
    """Append-only JSON lines; :meth:`append` returns only once the record is on disk (fsync).

    A line's newline is written after its record's fsync succeeded: readers in other processes
    apply complete lines only (see :func:`read_log`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        try:
            self._repair_tail()
            # Unbuffered, one descriptor: a buffered file kept the bytes of a failed write (disk full) in
            # its buffer and wrote them out with the next record, after the torn prefix its failed
            # truncate() had left, so the log got a corrupted line (the index could no longer be loaded)
            # and a write refused with 503 could come back on replay.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            self._size = os.fstat(self._fd).st_size  # where the last acknowledged record ends
        except OSError as exc:
            raise IndexStorageError(f"cannot open the write-ahead log {str(self.path)!r}: {exc}") from exc
        if not existed:
            fsync_dir(self.path.parent)
        self._lock = threading.Lock()

    def _repair_tail(self) -> None:
        """Drop a torn last line (a write cut by a crash, never acknowledged) so appends start clean."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
            complete = True
        except ValueError:
            complete = False
        with open(self.path, "r+b") as fh:
            if complete:
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
            else:
                fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: Mapping[str, Any]) -> None:
        try:
            data = (json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        except (UnicodeEncodeError, ValueError, TypeError) as exc:
            # the writers validate first; this is the last line of defence: refuse, never log half a record
            raise InvalidInputError(f"this write cannot be logged (lone surrogate, NaN or a non-JSON value): {exc}") from None
        with self._lock:
            if self._fd < 0:
                raise IndexStorageError(f"write-ahead log {str(self.path)!r} is closed; nothing applied")
            try:
                if os.fstat(self._fd).st_size != self._size:
                    # the bytes of an earlier failed write could not be cut off then: cut them now, or
                    # this record would be glued to a torn one
                    os.ftruncate(self._fd, self._size)
                # The line's newline is its commit mark, written only once the record is on disk:
                # followers (other processes) read complete lines only, so a record whose fsync
                # fails, visible in the file until it is cut back below, is never served by them.
                view = memoryview(data)[:-1]
                while view:  # os.write may write less than asked (e.g. the disk filled up mid-record)
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
                if os.write(self._fd, b"\n") != 1:
                    raise OSError("the newline that commits the record was not written")
            except OSError as exc:
                try:  # leave no half record behind a failed write (retried by the next append if this fails)
                    os.ftruncate(self._fd, self._size)
                    # the cut must be durable too: a record whose fsync succeeded but whose newline failed
                    # (a full disk) is on disk; without this fsync a power cut could bring the refused
                    # record back, and a recovery that completes a whole last line would replay it
                    os.fsync(self._fd)
                except OSError:
                    pass
                raise IndexStorageError(f"write-ahead log {str(self.path)!r}: write failed, nothing applied: {exc}") from exc
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_log(
    path: Path, data: bytes | None = None, first_line: int = 1, *, unterminated: bool = True
) -> Iterator[dict[str, Any]]:
    """Records of one log; a torn *last* line (an unacknowledged write cut by a crash) is skipped.

    ``data`` is the log's bytes (or a later part of them, starting at line ``first_line``) when the
    caller has read them already (a follower tailing the log); else the file is read.

    A whole record without its newline is the log's last line while the writer waits for the disk
    (the newline is written after fsync; if fsync fails the record is cut back and refused). The
    writer's own :func:`~coldkit.serving.load` passes ``unterminated=True`` (a crash may have lost the
    newline of an acknowledged, fsync-ed record: it is kept); a reader beside a live writer passes
    False and leaves it to the next read.
    """
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexFormatError(f"cannot read the write-ahead log {str(path)!r}: {exc}") from exc
    lines = data.split(b"\n")
    if not unterminated:
        lines[-1] = b""  # not yet committed (see above)
    for number, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            if number == first_line + len(lines) - 1:  # the tail: cut by a crash before it was acknowledged
                return
            raise IndexFormatError(f"write-ahead log {str(path)!r} line {number} is corrupted: {exc}") from exc
        if isinstance(record, dict) and "version" not in record and "seq" in record:
            record["version"] = record.pop("seq")  # format 1 called the version number "seq"
        if not isinstance(record, dict) or not isinstance(record.get("version"), int) or "op" not in record:
            raise IndexFormatError(f"write-ahead log {str(path)!r} line {number} is not a log record")
        problem = _record_problem(record)
        if problem:
            raise IndexFormatError(f"write-ahead log {str(path)!r} line {number} (version {record['version']}): {problem}")
        record["line"] = number
        yield record


#: what each operation's record must hold, and of which JSON type
_FIELDS: dict[str, dict[str, type]] = {
    "upsert_items": {"items": list},
    "delete_items": {"ids": list},
    "interactions": {"events": list},
    "upsert_user": {"id": str},
}


def _record_problem(record: Mapping[str, Any]) -> str | None:
    """What is wrong with a parsed record's fields (missing, wrong type, unknown op), or None."""
    op = record["op"]
    fields = _FIELDS.get(op) if isinstance(op, str) else None
    if fields is None:
        return f"unknown operation {op!r:.60}"
    for name, kind in fields.items():
        if name not in record:
            return f"{op} record lacks the field {name!r}"
        if not isinstance(record[name], kind):
            return f"{op} record field {name!r} is a {type(record[name]).__name__}, expected {kind.__name__}"
    if op == "upsert_items":
        if not all(isinstance(item, dict) and "id" in item and "text" in item for item in record["items"]):
            return "upsert_items record holds an item without 'id' and 'text'"
        if "content" in record and not all(k in record for k in ("mapped", "dims")):
            return "upsert_items record has item vectors without 'mapped' and 'dims'"
    if op == "interactions" and not all(isinstance(e, list) and len(e) == 2 for e in record["events"]):
        return "interactions record holds an event that is not a [user_id, item_id] pair"
    return None


# ------------------------------------------------------------------------------------------ item vectors in a record
def encode_vectors(content: np.ndarray, mapped: np.ndarray) -> dict[str, Any]:
    """Float32 arrays as base64 for a log record (exact, unlike decimal text)."""
    return {
        "content": base64.b64encode(np.ascontiguousarray(content, dtype="<f4").tobytes()).decode("ascii"),
        "mapped": base64.b64encode(np.ascontiguousarray(mapped, dtype="<f4").tobytes()).decode("ascii"),
        "dims": [int(content.shape[1]), int(mapped.shape[1])],
    }


def decode_vectors(record: Mapping[str, Any], rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The vectors a log record carries, or None when it carries none (then the item is encoded again)."""
    if "content" not in record:
        return None
    try:
        d_content, d_cf = (int(x) for x in record["dims"])
        content = np.frombuffer(base64.b64decode(record["content"]), dtype="<f4").reshape(rows, d_content)
        mapped = np.frombuffer(base64.b64decode(record["mapped"]), dtype="<f4").reshape(rows, d_cf)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"log record has malformed item vectors: {exc}") from exc
    if not (np.isfinite(content).all() and np.isfinite(mapped).all()):
        raise InvalidInputError("log record has item vectors holding NaN or infinite values")
    return content.astype(np.float32), mapped.astype(np.float32)
