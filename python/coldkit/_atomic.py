"""Crash-safe file writes: the one place coldkit writes user data.

A reader (or a process restarted after a crash) sees either the old file or the complete new
one, never a torn mix: data goes to a temp file beside the target, is fsynced, renamed over the
target, and the directory is fsynced so the rename itself survives a power loss.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Callable, Iterator

from coldkit._paths import user_path

__all__ = [
    "fsync_dir", "atomic_write", "atomic_write_bytes", "check_output_path", "check_output_writable", "refuse_read_only",
    "signals_guarded",
]  # fmt: skip

#: the signals a user stops a run with; a write defers them while it creates or removes its temp file.
#: SIGHUP (the terminal closed: an ssh session dropped, a terminal window shut) ends a process by default
#: as SIGTERM does, and left the temp file beside the output; Windows has no SIGHUP
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopSignal(BaseException):
    """A stop signal whose disposition was the default (end the process at once) arrived during a guarded write.

    Raised by :class:`_SignalGuard` instead of dying on the spot, so that the temp file is removed first;
    :func:`signals_guarded` then ends the process by that signal, as the default action would have.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


class _SignalGuard:
    """SIGINT/SIGTERM/SIGHUP handling while a file is written, in the main thread.

    Why: ``except BaseException`` removes the temp file only when the signal becomes an exception. A
    library caller (a script calling ``recommend_files``, the serving index's save) leaves SIGTERM at
    Python's default, which ends the process on the spot, temp file left beside the output; and even
    where the signal raises (Ctrl-C, ``coldkit``'s SIGTERM handler) it could land between the temp file's
    creation and the line that records its name, or inside the cleanup before the unlink. The guard
    raises for the default disposition too, and defers both signals inside :meth:`critical` sections
    (creating and removing the temp file), delivering them when the section ends. Outside those sections
    the signal acts at once (a long write stays interruptible). A caller's own handler is called as it
    was; an ignored signal stays ignored.
    """

    active: "_SignalGuard | None" = None  # one guard at a time: a write inside a write keeps the outer one

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.depth = 0
        self.pending: list[int] = []

    def install(self) -> bool:
        """Take over the stop signals (main thread only: Python runs signal handlers there); whether it did."""
        if _SignalGuard.active is not None or threading.current_thread() is not threading.main_thread():
            return False
        for signum in _STOP_SIGNALS:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or previous is None:  # ignored (the caller chose that), or set outside Python
                continue
            self.previous[signum] = previous
            signal.signal(signum, self._handle)
        _SignalGuard.active = self
        return True

    def restore(self) -> None:
        """Put the previous handlers back (idempotent)."""
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        self.previous = {}
        if _SignalGuard.active is self:
            _SignalGuard.active = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.depth:
            self.pending.append(signum)
            return
        self._deliver(signum, frame)

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)  # coldkit's Terminated, Python's KeyboardInterrupt, or the caller's own
            return
        raise _StopSignal(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A section no stop signal interrupts; one that arrived meanwhile is delivered when it ends, also
        when it ends by an error (which the signal's exception then carries as its ``__context__``): delivered
        only on a clean end, it was lost with the guard where no later section ran (a failed mkstemp)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending:
                signum, self.pending = self.pending[0], []
                self._deliver(signum, None)


@contextlib.contextmanager
def _no_guard() -> Iterator[None]:
    yield


@contextlib.contextmanager
def signals_guarded() -> Iterator[Callable[[], "contextlib.AbstractContextManager[None]"]]:
    """While the block runs, a stop signal (SIGINT, SIGTERM, SIGHUP where the platform has it) is an exception even where the process would have
    died on the spot; yields ``critical()``, a section that defers them (create and remove temp files in it).

    After the block, a signal whose default was to end the process ends it, by that signal (exit status
    ``-SIGTERM`` as before), once the block's cleanup (``except``/``finally``) has run. Outside the main thread
    nothing changes and ``critical()`` guards nothing (Python runs handlers in the main thread only).
    """
    guard = _SignalGuard()
    if not guard.install():
        yield _no_guard
        return
    try:
        yield guard.critical
    except _StopSignal as stop:
        guard.restore()
        # the default action, now that the cleanup ran: the process ends as the signal asked
        os.kill(os.getpid(), stop.signum)
        raise  # pragma: no cover - reached only where the signal does not end the process
    finally:
        guard.restore()


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

    target = user_path(path)
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
    with signals_guarded() as critical, critical():  # a stop signal between create and remove left the probe behind
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
        path = user_path(path)
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

    On every way out short of SIGKILL or a power loss (an exception, Ctrl-C, SIGTERM, ``sys.exit`` in
    ``write``) the temp file is removed and ``path`` holds its old content or the complete new one. A
    SIGTERM the process had left at Python's default still ends it (by SIGTERM), after that cleanup:
    see :func:`signals_guarded`.
    """
    target = check_output_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with signals_guarded() as critical:
        fd: int | None = None
        tmp: str | None = None
        try:
            # ".tmp-" marks an unfinished write: directory scans (cache shards, snapshots) skip it.
            # Created in a critical section: a signal there would leave a file whose name nobody knows.
            with critical():
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            # mkstemp creates 0600 files; give the result the mode a plain open() would (or keep the
            # mode of the file being replaced), so outputs stay readable by the user's group/others.
            os.fchmod(fd, _mode_for(target))
            with critical():  # the handle owns the descriptor from here: the cleanup must not close it twice
                handle = os.fdopen(fd, "wb")
                fd = None
            with handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with critical():  # a second Ctrl-C / SIGTERM here skipped the unlink
                if fd is not None:
                    os.close(fd)
                if tmp is not None:
                    Path(tmp).unlink(missing_ok=True)  # already renamed when the signal came after os.replace
            raise
    if sync_dir:
        fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, sync_dir: bool = True) -> None:
    """:func:`atomic_write` of a bytes payload."""
    atomic_write(path, lambda handle: handle.write(data), sync_dir=sync_dir)
