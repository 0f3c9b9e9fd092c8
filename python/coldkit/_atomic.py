"""Crash-safe file writes: the one place coldkit writes user data.

A reader (or a process restarted after a crash) sees either the old file or the complete new
one, never a torn mix: data goes to a temp file beside the target, is fsynced, renamed over the
target, and the directory is fsynced so the rename itself survives a power loss.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["fsync_dir", "atomic_write", "atomic_write_bytes", "check_output_path", "check_output_writable", "refuse_read_only"]


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


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, if it may be (re)placed by a regular file; else a clear error.

    A directory, a symbolic link, a device, a FIFO or a socket is never replaced: renaming a
    file over them would destroy what they are (or, for a link, silently write elsewhere).

    Raises:
        InvalidInputError: ``path`` exists and is not a regular file, or its parent is not a directory.
    """
    from coldkit.exceptions import InvalidInputError

    target = Path(path)
    for parent in reversed(target.parents):  # the first existing ancestor that is not a folder
        if parent.exists() and not parent.is_dir():
            raise InvalidInputError(f"output path {str(target)!r}: {str(parent)!r} is not a directory")
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InvalidInputError(f"output path {str(target)!r} cannot be checked: {exc.strerror}") from exc
    if info is not None and not stat.S_ISREG(info.st_mode):
        what = (
            "a directory" if stat.S_ISDIR(info.st_mode)
            else "a symbolic link" if stat.S_ISLNK(info.st_mode)
            else "a FIFO" if stat.S_ISFIFO(info.st_mode)
            else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise InvalidInputError(f"output path {str(target)!r} is {what}; give the path of a regular file to write")
    return target


def check_output_writable(path: str | os.PathLike[str]) -> Path:
    """:func:`check_output_path`, then prove a file can be created where ``path`` will be written.

    Called before long work (a fit of minutes): a read-only folder or a path under ``/proc``
    otherwise failed only at the final write, with the work lost (a disk that fills up meanwhile
    can still fail the write: one line then, see ``coldkit.cli``). The probe creates and
    removes one empty temp file in the folder (or, when the folder does not exist yet, in its first
    existing ancestor, where :func:`atomic_write` would create it), which also answers where
    permission bits do not (root, ACLs, read-only mounts).

    Raises:
        InvalidInputError: ``path`` may not be replaced, or nothing can be created there (the reason
            the system gives).
    """
    from coldkit.exceptions import InvalidInputError

    target = check_output_path(path)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError as exc:
        raise InvalidInputError(f"output path {str(target)!r} cannot be written: {exc.strerror} ({str(folder)!r})") from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)
    return target


def refuse_read_only(path: str | os.PathLike[str], flag: str = "--out") -> None:
    """Refuse to replace an existing file that is read-only (no write bit, or no write access).

    Why: :func:`atomic_write` renames a new file over the target, which needs write permission on
    the folder only (and root passes every check), so a result the user had protected with
    ``chmod a-w`` was replaced without a word, where a plain ``open(path, "w")`` is refused.
    Called by the commands for the files they are asked to write; ``flag`` names the option.

    Raises:
        InvalidInputError: ``path`` is a regular file without write permission.
    """
    from coldkit.exceptions import InvalidInputError

    try:
        info = os.stat(path)
    except OSError:
        return  # missing (or unreadable: the writability probe names that)
    if stat.S_ISREG(info.st_mode) and (not info.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise InvalidInputError(
            f"{flag} {os.fspath(path)}: the file is read-only; make it writable (chmod u+w) to replace it, or give another path"
        )


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> None:
    """Write ``path`` through ``write(file)`` into a temp file beside it, fsync, then rename over it.

    ``sync_dir=False`` skips the directory fsync, for callers that write many files and call
    :func:`fsync_dir` once at the end.
    """
    target = check_output_path(path)
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
