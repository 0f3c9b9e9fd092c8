"""Managing the on-disk vector cache: list its entries, measure it, prune it, and keep it under a size limit.

The cache itself (:class:`coldkit.encoding.VectorCache`) keeps one *entry* per encoder
fingerprint: a folder ``<root>/<encoder-name>-<24 hex digits>/`` holding ``encoder.json`` and
committed shards ``shard-<time>-<id>.npy`` + ``.json``. This module only manages those entries:

* :func:`list_entries` / :func:`cache_size` — what is there (encoder, fingerprint, items, bytes, last use);
* :func:`prune` — remove entries unused for longer than a duration, or the least recently used
  ones until the cache fits a size;
* :func:`enforce_cache_limit` — called by :func:`coldkit.encoding.encode_catalog` after each use of
  the cache: it marks the entry used and evicts least-recently-used *other* entries while the cache
  is over its limit (``$COLDKIT_CACHE_MAX_SIZE``, default 2 GiB; ``0``/``none`` switches it off).

Deleting is deliberately narrow: only folders named like an entry that hold an ``encoder.json``,
and inside them only the file names coldkit writes; symbolic links are never followed nor removed,
so nothing outside the cache folder (or of another program inside it) is ever touched. A shard's
``.json`` (its commit marker) goes before its ``.npy``, so a reader in another process never sees
half a shard — it just misses and re-encodes.

Example::

    from coldkit.cache import list_entries, prune, parse_duration
    from coldkit.encoding import default_cache_dir

    for entry in list_entries(default_cache_dir()):
        print(entry.encoder, entry.items, entry.bytes)
    prune(default_cache_dir(), older_than=parse_duration("7d"))
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from coldkit.exceptions import CacheWarning, InvalidInputError

__all__ = [
    "CACHE_MAX_SIZE_ENV",
    "DEFAULT_MAX_SIZE",
    "CacheEntry",
    "PruneReport",
    "cache_size",
    "configured_max_size",
    "enforce_cache_limit",
    "format_size",
    "list_entries",
    "mark_used",
    "parse_duration",
    "parse_size",
    "prune",
]

CACHE_MAX_SIZE_ENV = "COLDKIT_CACHE_MAX_SIZE"
DEFAULT_MAX_SIZE = 2 * 1024**3

# The names coldkit writes (see coldkit.encoding.VectorCache and coldkit._atomic); nothing else is ever deleted.
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}-[0-9a-f]{24}")
_SHARD_FILE = re.compile(r"shard-[0-9]{20}-[0-9a-f]{12}\.(npy|json)")
_TEMP_FILE = re.compile(r"\.tmp-[A-Za-z0-9_]{1,16}")
_META_FILE = "encoder.json"
_LAST_USED_FILE = "last-used.json"  # its modification time is the last use; JSON like every cache file
# A temporary file younger than this may belong to a write in progress in another process.
_TEMP_GRACE_SECONDS = 3600.0

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass(frozen=True)
class CacheEntry:
    """One encoder's vectors in the cache.

    ``items`` counts distinct cached contents (texts or images); ``last_used`` is a Unix time:
    the latest of the entry's last use by :func:`~coldkit.encoding.encode_catalog` and its last write.
    """

    path: Path
    encoder: str
    fingerprint: str | None
    dim: int | None
    items: int
    bytes: int
    last_used: float
    files: tuple[Path, ...] = field(repr=False, default=())


@dataclass
class PruneReport:
    """What :func:`prune` removed (or, with ``dry_run``, would remove)."""

    removed: list[CacheEntry] = field(default_factory=list)
    freed_bytes: int = 0
    remaining_bytes: int = 0
    #: entries that could not be removed (a read-only cache, another user's files), with the first reason
    failed: list[tuple[CacheEntry, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Parsing sizes and durations (CLI flags and the environment variable)
# --------------------------------------------------------------------------------------------


def parse_size(text: str | int) -> int:
    """Bytes from ``"500M"``, ``"2G"``, ``"1.5GiB"``, ``"64k"`` or a plain number (binary units: 1K = 1024).

    >>> parse_size("500M"), parse_size("2GB"), parse_size(4096)
    (524288000, 2147483648, 4096)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), flags=re.IGNORECASE)
        if match is None:
            raise InvalidInputError(f"not a size: {text!r} (use e.g. 500M, 2G, 1.5GiB or a number of bytes)")
        value, unit = float(match.group(1)), match.group(2).lower()
    if value < 0 or not math.isfinite(value):
        raise InvalidInputError(f"a size must be a non-negative number, got {text!r}")
    return int(value * _SIZE_UNITS[unit])


def parse_duration(text: str) -> float:
    """Seconds from ``"7d"``, ``"12h"``, ``"30m"``, ``"45s"`` or ``"2w"``.

    >>> parse_duration("7d"), parse_duration("12h"), parse_duration("1.5m")
    (604800.0, 43200.0, 90.0)
    """
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([smhdw])\s*", str(text), flags=re.IGNORECASE)
    if match is None:
        raise InvalidInputError(f"not a duration: {text!r} (use a number and a unit s, m, h, d or w, e.g. 7d or 12h)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def format_size(n_bytes: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def configured_max_size() -> int | None:
    """The cache size limit: ``$COLDKIT_CACHE_MAX_SIZE`` (a size, or ``0``/``none``/``off`` for no
    limit), else :data:`DEFAULT_MAX_SIZE` (2 GiB). ``None`` means unlimited.

    Raises:
        InvalidInputError: the variable is set to something that is not a size.
    """
    raw = os.environ.get(CACHE_MAX_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_SIZE
    if raw.lower() in {"none", "off", "unlimited"}:
        return None
    try:
        limit = parse_size(raw)
    except InvalidInputError as exc:
        raise InvalidInputError(f"${CACHE_MAX_SIZE_ENV}: {exc}") from None
    return limit or None


# --------------------------------------------------------------------------------------------
# Reading the cache
# --------------------------------------------------------------------------------------------


def _regular_files(directory: Path) -> list[os.DirEntry[str]]:
    """Plain files directly in ``directory``; symbolic links and sub-folders are left out."""
    try:
        with os.scandir(directory) as it:
            return [e for e in it if e.is_file(follow_symlinks=False)]
    except OSError:  # gone, not a folder, or not ours to read (another user's 0700 entry): not listed
        return []


def _is_ours(name: str) -> bool:
    return bool(_SHARD_FILE.fullmatch(name) or _TEMP_FILE.fullmatch(name)) or name in (_META_FILE, _LAST_USED_FILE)


def _entry_dirs(root: Path) -> list[Path]:
    """Folders in ``root`` that coldkit created: an entry name and a regular ``encoder.json``, no symlink."""
    try:
        with os.scandir(root) as it:
            candidates = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False) and _ENTRY_NAME.fullmatch(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:  # an unreadable cache folder: said, as an empty listing would mislead
        raise InvalidInputError(f"the vector cache {str(root)!r} cannot be read: {exc.strerror or exc}") from None
    return [d for d in sorted(candidates) if any(f.name == _META_FILE for f in _regular_files(d))]


def _read_entry(directory: Path, count_items: bool) -> CacheEntry | None:
    files = [f for f in _regular_files(directory) if _is_ours(f.name)]
    if not files:
        return None
    total, last_used = 0, 0.0
    for f in files:
        try:
            st = f.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed by another process while we looked
        total += st.st_size
        if not _TEMP_FILE.fullmatch(f.name):
            last_used = max(last_used, st.st_mtime)
    fingerprint: str | None = None
    dim: int | None = None
    try:
        meta = json.loads((directory / _META_FILE).read_text())
        if isinstance(meta, dict):
            fingerprint = str(meta["fingerprint"]) if "fingerprint" in meta else None
            dim = int(meta["dim"]) if "dim" in meta else None
    # listed anyway: its files are still coldkit's and take space. A damaged file ("dim": Infinity, deep
    # nesting) raised OverflowError / RecursionError out of `coldkit cache` and every encoder's size check.
    except (OSError, ValueError, TypeError, OverflowError, RecursionError):
        fingerprint, dim = None, None
    items = 0
    if count_items:
        keys: set[str] = set()
        for f in files:
            if f.name.endswith(".json") and _SHARD_FILE.fullmatch(f.name):
                try:
                    keys.update(str(k) for k in json.loads(Path(f.path).read_text()).get("keys", []))
                except (OSError, ValueError, AttributeError, TypeError, RecursionError):
                    continue  # a damaged shard ({"keys": null}) counts nothing; encode_catalog skips it too
        items = len(keys)
    encoder = directory.name.rsplit("-", 1)[0]
    return CacheEntry(directory, encoder, fingerprint, dim, items, total, last_used, tuple(Path(f.path) for f in files))


def list_entries(root: str | os.PathLike[str], *, count_items: bool = True) -> list[CacheEntry]:
    """The cache entries under ``root``, least recently used first. A missing ``root`` is an empty cache.

    ``count_items=False`` skips reading the shards' key lists (sizes and times only: cheaper).
    """
    entries = [e for d in _entry_dirs(Path(root).expanduser()) if (e := _read_entry(d, count_items)) is not None]
    return sorted(entries, key=lambda e: (e.last_used, e.path.name))


def cache_size(root: str | os.PathLike[str]) -> int:
    """Bytes taken by coldkit's cache entries under ``root``."""
    return sum(e.bytes for e in list_entries(root, count_items=False))


# --------------------------------------------------------------------------------------------
# Changing the cache
# --------------------------------------------------------------------------------------------


def mark_used(entry_dir: str | os.PathLike[str]) -> None:
    """Record that the entry was just used (its ``last-used`` file's time), for least-recently-used eviction."""
    path = Path(entry_dir) / _LAST_USED_FILE
    # O_NOFOLLOW: a symbolic link planted here is never followed (its target is neither written nor touched).
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o644)
            os.write(fd, b"{}\n")
        except FileExistsError:
            fd = os.open(path, os.O_WRONLY | nofollow)
    except OSError:
        return  # a read-only cache still works; it just cannot record use
    try:
        os.utime(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_entry(entry: CacheEntry, now: float) -> tuple[int, str | None]:
    """Delete the entry's files (commit markers before data) and its folder if empty; returns the bytes freed
    and why a file could not be deleted (None: every file went, or was gone already)."""
    freed, failure = 0, None

    def order(path: Path) -> int:
        if path.name.startswith("shard-"):
            return 0 if path.suffix == ".json" else 1
        return 2  # encoder.json, last-used, temporary files: after every shard

    for path in sorted(entry.files, key=order):
        try:
            st = path.stat(follow_symlinks=False)
            if _TEMP_FILE.fullmatch(path.name) and now - st.st_mtime < _TEMP_GRACE_SECONDS:
                continue  # may be another process's write in progress
            path.unlink()
            freed += st.st_size
        except FileNotFoundError:
            continue  # gone already (another process)
        except OSError as exc:  # a read-only cache, another user's file: said, not reported as removed
            failure = failure or f"{path.name}: {exc.strerror or exc}"
    try:
        entry.path.rmdir()  # only succeeds when empty: anything else in it is not ours to delete
    except OSError:
        pass
    return freed, failure


def prune(
    root: str | os.PathLike[str],
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    keep: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Remove cache entries: those unused for more than ``older_than`` seconds, then the least
    recently used ones until the cache takes at most ``max_size`` bytes.

    Args:
        root: the cache folder (e.g. :func:`coldkit.encoding.default_cache_dir`).
        older_than: seconds since last use (see :func:`parse_duration`).
        max_size: bytes (see :func:`parse_size`).
        keep: an entry folder that is never removed (the one in use).
        dry_run: only report what would be removed.
        now: the current Unix time (default: the clock).

    Raises:
        InvalidInputError: neither ``older_than`` nor ``max_size`` given, or a negative value.
    """
    if older_than is None and max_size is None:
        raise InvalidInputError("prune needs older_than and/or max_size")
    if (older_than is not None and older_than < 0) or (max_size is not None and max_size < 0):
        raise InvalidInputError(f"older_than and max_size must be >= 0, got {older_than!r} and {max_size!r}")
    now = time.time() if now is None else now
    kept = Path(keep).expanduser().resolve() if keep is not None else None
    entries = list_entries(root, count_items=False)
    report = PruneReport(remaining_bytes=sum(e.bytes for e in entries))
    for entry in entries:  # least recently used first
        if kept is not None and entry.path.resolve() == kept:
            continue
        stale = older_than is not None and now - entry.last_used > older_than
        too_big = max_size is not None and report.remaining_bytes > max_size
        if not (stale or too_big):
            continue
        freed, failure = (entry.bytes, None) if dry_run else _remove_entry(entry, now)
        if failure is None:
            report.removed.append(entry)
        else:
            report.failed.append((entry, failure))
        report.freed_bytes += freed
        report.remaining_bytes -= freed
    return report


# root -> (the entry folders' modification times, total bytes) at the last full scan that found
# the cache within its limit. Adding or removing a shard changes its folder's time, so an unchanged
# snapshot means an unchanged size, and a run that only read from the cache skips the scan.
_WITHIN_LIMIT: dict[Path, tuple[tuple[tuple[str, int], ...], int]] = {}


def _snapshot(root: Path) -> tuple[tuple[str, int], ...]:
    try:
        with os.scandir(root) as it:
            return tuple(sorted(
                (e.name, e.stat(follow_symlinks=False).st_mtime_ns)
                for e in it if e.is_dir(follow_symlinks=False) and _ENTRY_NAME.fullmatch(e.name)
            ))  # fmt: skip
    except OSError:
        return ()


def enforce_cache_limit(entry_dir: str | os.PathLike[str]) -> PruneReport | None:
    """Mark ``entry_dir`` used, then evict the least recently used other entries of its cache while
    the cache is over :func:`configured_max_size`. Returns what was removed (``None``: no limit, or
    nothing changed on disk since the last check found the cache within the limit).

    Warns when the entry in use alone is over the limit: it is kept (evicting what was just
    written would only make the next run encode it again), so the limit should be raised.
    """
    entry = Path(entry_dir)
    mark_used(entry)
    limit = configured_max_size()
    if limit is None:
        return None
    root = entry.parent
    snapshot = _snapshot(root)
    known = _WITHIN_LIMIT.get(root)
    if known is not None and known[0] == snapshot and known[1] <= limit:
        return None
    report = prune(root, max_size=limit, keep=entry)
    if report.remaining_bytes > limit:
        _WITHIN_LIMIT.pop(root, None)
        warnings.warn(
            f"the vector cache ({format_size(report.remaining_bytes)} in {str(root)!r}) is over its limit "
            f"{format_size(limit)} with only the entry in use left; raise ${CACHE_MAX_SIZE_ENV} (e.g. 4G)",
            CacheWarning,
            stacklevel=3,
        )
    else:
        _WITHIN_LIMIT[root] = (_snapshot(root), report.remaining_bytes)
    return report
