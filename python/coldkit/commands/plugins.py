"""``coldkit plugins``: list installed plugins and what each registers, as JSON (never imports torch)."""

from __future__ import annotations

import argparse
import json
import warnings

__all__ = ["register", "run"]


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed plugins and their components as JSON",
        description="List built-in and installed coldkit plugins, what each registers, name conflicts and load errors.",
    )
    parser.add_argument("--indent", type=int, default=2, help="JSON indentation (default 2; 0 for one line)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coldkit.exceptions import InvalidInputError
    from coldkit.plugins import plugin_report

    if not 0 <= args.indent <= 16:  # json takes -1 silently (newlines, no indent); 10**6 spaces is a typo
        raise InvalidInputError(f"--indent must be 0..16 (0 for one line), got {args.indent}")

    # Load errors are part of the JSON report; don't also print them as warnings on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = plugin_report()
    print(json.dumps(report, indent=args.indent or None, sort_keys=False))
    return 0
