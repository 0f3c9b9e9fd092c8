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

from coldkit.exceptions import InvalidInputError

__all__ = ["check_media_root", "resolve_in_root"]


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
