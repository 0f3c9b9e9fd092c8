"""User-given paths, read one way everywhere: ``~`` and ``~user`` expanded.

Why: a shell expands ``~`` only at the start of an unquoted word, so ``--items "~/movies.csv"``,
``--out=~/recs.csv`` (bash leaves ``~`` after ``=`` in many positions) and every Python call such as
``coldkit.load_dataset("~/data/ml")`` reached coldkit with a literal ``~``, which then failed as
"no such file" (or, for an output, created a folder named ``~`` in the working directory). Every
place that reads or writes a path the user gave goes through :func:`user_path`, so errors name the
expanded path the user can check.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_path", "user_path_text"]


def user_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` with a leading ``~`` / ``~user`` expanded (nothing else changes:
    no environment variables, no resolving; a ``~user`` that does not exist stays as given)."""
    return Path(user_path_text(path))


def user_path_text(path: str | os.PathLike[str]) -> str:
    """:func:`user_path` as text, exactly as given otherwise (a trailing ``/``, which a Path drops, is kept:
    ``--out results/`` is refused as a folder by what it says)."""
    return os.path.expanduser(os.fspath(path))
