"""``coldkit cache``: list, measure and prune the on-disk vector cache.

::

    coldkit cache list                      # entry, encoder, fingerprint, items, size, last use of each entry
    coldkit cache size
    coldkit cache prune --older-than 7d     # entries unused for a week
    coldkit cache prune --max-size 500M     # least recently used entries until the cache fits
    coldkit cache prune --max-size 0 --dry-run

Everything here is :mod:`coldkit.cache` with the folder defaulting to
:func:`coldkit.encoding.default_cache_dir` (``$COLDKIT_CACHE_DIR`` or ``~/.cache/coldkit/vectors``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "cache",
        help="list, measure and prune the vector cache",
        description=(
            "Manage the on-disk cache of encoded item vectors (one entry per encoder fingerprint). "
            "Its size is also limited on every write: $COLDKIT_CACHE_MAX_SIZE (default 2G; 0 or none: no limit), "
            "least recently used entries evicted first."
        ),
    )
    parser.add_argument("--dir", default=None, help="cache folder (default $COLDKIT_CACHE_DIR or ~/.cache/coldkit/vectors)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="one line per entry: entry (the name prune prints), encoder, fingerprint, items, size, last used")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    size = actions.add_parser("size", help="total bytes the cache takes")
    size.add_argument("--bytes", action="store_true", help="print the plain number of bytes")
    pruning = actions.add_parser("prune", help="remove unused or least recently used entries")
    pruning.add_argument("--older-than", metavar="DURATION", help="remove entries unused for longer than this (e.g. 7d, 12h, 30m)")
    pruning.add_argument("--max-size", metavar="SIZE", help="remove least recently used entries until the cache fits (e.g. 500M, 2G)")
    pruning.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    parser.set_defaults(func=run, cache_parser=parser)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "path": str(entry.path), "encoder": entry.encoder, "fingerprint": entry.fingerprint, "dim": entry.dim,
        "items": entry.items, "bytes": entry.bytes, "last_used": _when(entry.last_used),
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from coldkit.cache import cache_size, format_size, list_entries, parse_duration, parse_size, prune
    from coldkit.encoding import default_cache_dir
    from coldkit.exceptions import InvalidInputError

    from coldkit._paths import user_path

    root = default_cache_dir() if args.dir is None else user_path(args.dir)  # --dir "~/x": the home's
    existing = Path(root)
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        # a file given as --dir (or a path under one, "somefile/sub") was reported as "the vector cache ... is empty"
        raise InvalidInputError(f"--dir {str(root)!r} is not a directory; the vector cache is a directory")
    if args.action is None:
        args.cache_parser.print_help()
        return 2
    if args.action == "list":
        entries = list_entries(root)
        if args.json:
            print(json.dumps([_entry_json(e) for e in entries], indent=2))
            return 0
        if not entries:
            print(f"the vector cache {str(root)!r} is empty")
            return 0
        # the entry (its folder name) is what `prune` prints when it removes one: the two can be matched
        rows = [["entry", "encoder", "fingerprint", "items", "size", "last used (UTC)"]]
        rows += [
            [e.path.name, e.encoder, (e.fingerprint or "?")[:16], str(e.items), format_size(e.bytes), _when(e.last_used)]
            for e in entries
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(c.rjust(w) if i in (3, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        print(f"{len(entries)} entries, {format_size(sum(e.bytes for e in entries))} in {str(root)!r}")
        return 0
    if args.action == "size":
        total = cache_size(root)
        print(total if args.bytes else f"{format_size(total)} ({total} bytes) in {str(root)!r}")
        return 0
    # prune
    if args.older_than is None and args.max_size is None:
        raise InvalidInputError("prune needs --older-than DURATION and/or --max-size SIZE")
    report = prune(
        root,
        older_than=None if args.older_than is None else parse_duration(args.older_than),
        max_size=None if args.max_size is None else parse_size(args.max_size),
        dry_run=args.dry_run,
    )
    verb = "would remove" if args.dry_run else "removed"
    for entry in report.removed:
        print(f"{verb} {entry.path.name} ({format_size(entry.bytes)}, last used {_when(entry.last_used)})")
    for entry, reason in report.failed:  # a read-only cache printed "removed" and exited 0 with every file kept
        print(f"coldkit cache: could not remove {entry.path.name}: {reason}", file=sys.stderr)
    print(
        f"{verb} {len(report.removed)} entries, {format_size(report.freed_bytes)}; "
        f"{format_size(report.remaining_bytes)} left in {str(root)!r}"
    )
    return 1 if report.failed else 0
