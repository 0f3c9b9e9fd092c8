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
import re
import stat
import unicodedata
from pathlib import Path

from coldkit._paths import user_path
from coldkit.exceptions import InvalidInputError

__all__ = ["check_media_root", "existing_media_path", "file_problem", "resolve_in_root"]


#: What a media cell that is a URL starts with (http://, https://, s3://, file://): not a path under the root.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: Said of a URL where a media path belongs (the batch encoder and ``POST /items`` alike).
URL_REFUSAL = "is a URL; media are not downloaded: save the files under the media root and name them by path"


def is_url(value: object) -> bool:
    """Whether a media cell is a URL (read as a path, it was "file not found: '<root>/http:/...'")."""
    return isinstance(value, str) and _URL.match(value) is not None


def check_media_root(root: str | os.PathLike[str]) -> str:
    """The real (symlink-free, absolute) path of ``root``; InvalidInputError when it is not a directory."""
    given = user_path(root)
    real = os.path.realpath(given)
    if not os.path.isdir(real):
        raise InvalidInputError(f"media root {str(given)!r} is not a directory")
    return real


def resolve_in_root(path: str | os.PathLike[str], root: str) -> str | None:
    """The real path of ``path`` (relative paths are taken from ``root``) if it lies inside ``root``, else None.

    ``root`` must already be real (see :func:`check_media_root`). ``realpath`` follows symbolic
    links, so a link inside the root that points out of it is refused too. Whether the file exists
    changes the answer only in the Unicode form of its names (see :func:`existing_media_path`),
    judged inside the root, so a caller's error cannot be used to probe the file system outside it.
    """
    text = os.fspath(path)
    if "\x00" in text:
        return None
    # the other Unicode form of a name is looked for only when the exact one is absent; the root
    # check below judges the path found, so it can never lead outside the root
    real = os.path.realpath(existing_media_path(os.path.join(root, text)))
    return real if os.path.commonpath([real, root]) == root else None


def existing_media_path(path: str | os.PathLike[str]) -> str:
    """``path``, or, when nothing has that exact name, the same path with names in the other Unicode
    normal form (NFC ↔ NFD) where such a file or folder exists.

    macOS writes file names decomposed (NFD: ``e`` + combining accent), while an items file typed or
    exported elsewhere names ``café.jpg`` composed (NFC); the bytes differ, so the file was "not
    found" although it is there. The exact name always wins: the other form is tried only when the
    exact path is absent, name by name (a folder copied from a Mac, a file named on Linux), with one
    ``lstat`` per form, never a directory listing. Answers ``path`` itself when no form exists.

    Example::

        existing_media_path("posters/caf\u00e9.jpg")   # 'posters/cafe\u0301.jpg' where only that file exists
    """
    text = os.fspath(path)
    if not isinstance(text, str) or "\x00" in text or os.path.lexists(text):
        return text  # bytes paths are the caller's own exact bytes
    if text == unicodedata.normalize("NFC", text) == unicodedata.normalize("NFD", text):
        return text  # no name in it has another form (plain ASCII, most names): nothing else to try
    parts = Path(text).parts
    anchored = bool(Path(text).anchor)  # "/" (or a drive) is the first part of an absolute path
    found = Path(parts[0]) if anchored else Path()
    for name in parts[1:] if anchored else parts:
        candidates = [name] + [form for form in (unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)) if form != name]
        for candidate in candidates:
            if os.path.lexists(found / candidate):
                found = found / candidate
                break
        else:
            return text
    return os.fspath(found)


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
    if not str(os.fspath(path) if shown is None else shown).strip():  # "" is the working directory to os.stat
        return "path is empty"
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
