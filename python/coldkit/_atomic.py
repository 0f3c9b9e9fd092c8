"""Crash-safe file writes: the one place coldkit writes user data.

A reader (or a process restarted after a crash) sees either the old file or the complete new
one, never a torn mix: data goes to a temp file beside the target, is fsynced, renamed over the
target, and the directory is fsynced so the rename itself survives a power loss.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["fsync_dir", "atomic_write", "atomic_write_bytes"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make renames inside ``directory`` durable; a no-op where the platform cannot fsync directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> None:
    """Write ``path`` through ``write(file)`` into a temp file beside it, fsync, then rename over it.

    ``sync_dir=False`` skips the directory fsync, for callers that write many files and call
    :func:`fsync_dir` once at the end.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # ".tmp-" marks an unfinished write: directory scans (cache shards, snapshots) skip it.
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        # mkstemp creates 0600 files; give the result the mode a plain open() would (or keep the
        # mode of the file being replaced), so outputs stay readable by the user's group/others.
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, sync_dir: bool = True) -> None:
    """:func:`atomic_write` of a bytes payload."""
    atomic_write(path, lambda handle: handle.write(data), sync_dir=sync_dir)
