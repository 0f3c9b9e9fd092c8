"""Where media files (images, audio) may be read from: one configured root folder.

Item tables and HTTP requests name media by path. A path read on a user's behalf must not reach
outside the folder they configured (``--media-root``): ``../../etc/passwd`` or a symbolic link
inside the root pointing out of it are refused. Both the batch paths (``coldkit recommend``,
``coldkit evaluate``) and the server (``POST /items``) confine paths with :func:`resolve_in_root`.

Example::

    from coldkit.media import resolve_in_root

    resolve_in_root("posters/1.jpg", "/data")      # '/data/posters/1.jpg'
    resolve_in_root("../secret.jpg", "/data")      # None: outside the root
"""

from __future__ import annotations

import os
import stat

from coldkit.exceptions import InvalidInputError

__all__ = ["check_media_root", "file_problem", "resolve_in_root"]


def check_media_root(root: str | os.PathLike[str]) -> str:
    """The real (symlink-free, absolute) path of ``root``; InvalidInputError when it is not a directory."""
    real = os.path.realpath(os.fspath(root))
    if not os.path.isdir(real):
        raise InvalidInputError(f"media root {os.fspath(root)!r} is not a directory")
    return real


def resolve_in_root(path: str | os.PathLike[str], root: str) -> str | None:
    """The real path of ``path`` (relative paths are taken from ``root``) if it lies inside ``root``, else None.

    ``root`` must already be real (see :func:`check_media_root`). ``realpath`` follows symbolic
    links, so a link inside the root that points out of it is refused too. The answer does not
    depend on whether the file exists, so a caller's error cannot be used to probe the file system.
    """
    text = os.fspath(path)
    if "\x00" in text:
        return None
    real = os.path.realpath(os.path.join(root, text))
    return real if os.path.commonpath([real, root]) == root else None


def file_problem(path: str | os.PathLike[str], shown: str | None = None) -> str | None:
    """Why ``path`` cannot be read as a media file, or None when it is a regular file (links followed).

    The answer names the path as ``shown`` (default: ``path``) and reads on its own:
    ``"file not found: 'x.jpg'"``, ``"'x.jpg' is a directory, not a file"``,
    ``"'x.jpg' is not a regular file (a FIFO)"``. A folder or a named pipe called ``x.jpg`` was
    reported as not found, which sends the user looking for a file that is there. Only ``stat``
    is used, never ``open``: opening a FIFO blocks until something writes to it, so a run (or a
    server thread) would hang on one item.
    """
    name = repr(os.fspath(path) if shown is None else shown)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # NotADirectory: "a.jpg/b.jpg" below a file
        return f"file not found: {name}"
    except ValueError:  # an embedded NUL: no file can have that name
        return f"file not found: {name}"
    except OSError as exc:  # a folder on the way without search permission, a path too long...
        return f"{name} cannot be accessed ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return f"{name} is a directory, not a file"
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"
        )
        return f"{name} is not a regular file ({kind})"
    return None
