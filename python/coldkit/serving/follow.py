"""Read-only processes that follow the writer's log, so every acknowledged write is served everywhere.

A :class:`LogFollower` holds a read-only index of a directory and, on each :meth:`~LogFollower.refresh`
(the HTTP app calls it from a background thread every ``poll_interval`` seconds), applies the log
records the writer appended since the last call. Only complete lines are read (a record the writer
is still writing waits for the next poll). When the writer snapshots (``CURRENT`` names a new
generation), or anything looks out of order, the follower loads the directory afresh and swaps the
new index in; requests in flight finish on the old one.

Example::

    follower = LogFollower("my-index")
    follower.refresh()          # apply what the writer logged meanwhile
    follower.index.recommend(text="space opera", k=5)
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from coldkit.exceptions import ColdkitError
from coldkit.serving.index import ServingIndex
from coldkit.serving.replay import apply_record
from coldkit.serving.storage import live_generation, load, log_files
from coldkit.serving.wal import read_log

__all__ = ["LogFollower"]

_log = logging.getLogger("coldkit.serving")


class LogFollower:
    """A read-only index of ``path`` kept up to date with the writer's log (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, mmap: bool = True) -> None:
        self.root = Path(path).expanduser().resolve()
        self.mmap = mmap
        self.lock = threading.Lock()
        self.index: ServingIndex
        self._reload()

    def _generation(self) -> int | None:
        return live_generation(self.root)

    def _reload(self) -> None:
        gen = self._generation()  # read before loading: if it moves meanwhile, the next refresh reloads again
        self.index = load(self.root, read_only=True, mmap=self.mmap)
        self.generation = gen
        self._offsets: dict[int, tuple[int, int]] = {}  # log generation -> (bytes applied, lines applied)
        self._last_read: int | None = None  # the version of the last record read: the logs' numbers only go up

    def refresh(self) -> int:
        """Apply the writer's new log records (or reload after a snapshot); returns how many were applied.

        Never raises for a directory in flux (a log deleted by a snapshot, a half-written line): the
        next call catches up. A log that is really corrupt is logged and retried by a full reload.
        """
        with self.lock:
            try:
                if self._generation() != self.generation:
                    self._reload()
                    return 0
                return self._tail()
            except (ColdkitError, OSError, ValueError) as exc:
                _log.warning("coldkit: following the log of %s failed (%s); reloading", self.root.name, exc)
                try:
                    self._reload()
                except (ColdkitError, OSError, ValueError) as again:
                    _log.warning("coldkit: reloading %s failed (%s); will retry", self.root.name, again)
                return 0

    def _tail(self) -> int:
        assert self.generation is not None
        writer = self.index.writer
        applied = 0
        for g, path in log_files(self.root, self.generation):
            offset, lines = self._offsets.get(g, (0, 0))
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            complete = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
            if complete == 0:
                continue
            chunk = data[:complete]
            for record in read_log(path, chunk, first_line=lines + 1):
                number = record["version"]
                if self._last_read is not None and number <= self._last_read:
                    # two records with one number (logs merged by hand, a copied line): skipped as "applied",
                    # one acknowledged write was lost without a word, where load() refuses the log
                    raise ColdkitError(
                        f"log {path.name} line {record['line']}: record {number} repeats the version of an earlier record "
                        f"({self._last_read})"
                    )
                self._last_read = number
                if number <= writer.version.number:
                    continue  # already in the snapshot or applied
                if number != writer.version.number + 1:
                    raise ColdkitError(f"log {path.name}: record {number} follows {writer.version.number}")
                apply_record(writer, record)
                applied += 1
            self._offsets[g] = (offset + complete, lines + chunk.count(b"\n"))
        return applied

    def follow(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Refresh every ``poll_interval`` seconds until ``stop`` is set (the body of a daemon thread)."""
        while not stop.wait(poll_interval):
            self.refresh()

    def close(self) -> None:
        self.index.close()
