"""The ``coldkit`` command: a thin shell over the library (everything it does is one Python call away).

Each sub-command lives in ``coldkit.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a ``run(args) -> int``. Command modules are imported only
when the parser is built, and import their heavy dependencies inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from coldkit.exceptions import ColdkitError

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS: tuple[str, ...] = ("plugins", "demo", "evaluate", "recommend", "serve", "cache")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command in :data:`COMMANDS`."""
    from coldkit import __version__

    parser = argparse.ArgumentParser(
        prog="coldkit",
        description="Cold-start recommendations with language models: evaluate, recommend, serve, list plugins.",
    )
    parser.add_argument("--version", action="version", version=f"coldkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"coldkit.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``coldkit`` and ``python -m coldkit``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ColdkitError as exc:
        # A user error: one clear line, no traceback.
        print(f"coldkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"coldkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
