"""The ``coldkit`` command: a thin shell over the library (everything it does is one Python call away).

Each sub-command lives in ``coldkit.commands.<name>`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a ``run(args) -> int``. Command modules are imported only
when the parser is built, and import their heavy dependencies inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
import warnings
from types import FrameType
from typing import Callable, Iterator, Sequence

from coldkit.exceptions import ColdkitError, ColdkitWarning, DataWarning

__all__ = ["main", "build_parser", "COMMANDS", "data_warnings_as_notes", "Terminated"]


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the command gets SIGTERM (``kill``, a container stop, a job's timeout).

    A kind of :class:`KeyboardInterrupt`, so that every cleanup written for Ctrl-C runs for it too:
    the atomic writer's ``except BaseException`` removes its ``.tmp-*`` file, and the previous output
    stays as it was. Python's default for SIGTERM ends the process on the spot, and such a file was
    left beside the output. (The writes guard themselves as well, for library callers and for a signal
    that lands while the temp file is created or removed: see :func:`coldkit._atomic.signals_guarded`.)
    """


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` in the main thread; the previous handler is
    put back afterwards. Outside the main thread (``main()`` called from a worker) nothing changes (Python
    lets only the main thread set handlers), nor where SIGTERM is ignored (the caller chose that)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

COMMANDS: tuple[str, ...] = ("plugins", "demo", "evaluate", "recommend", "serve", "cache")

# Optional dependencies -> the extra that installs them, for a one-line hint instead of a traceback.
OPTIONAL_EXTRAS: dict[str, str] = {
    "matplotlib": "eval",
    "pyarrow": "eval",
    "PIL": "eval",
    "fastapi": "serve",
    "uvicorn": "serve",
    "ray": "ray",
    "torch": "the encoder plugins (pip install coldkit-bert)",
    "transformers": "the encoder plugins (pip install coldkit-bert)",
}


def _missing_dependency_hint(exc: ModuleNotFoundError) -> str | None:
    top = (exc.name or "").split(".")[0]
    extra = OPTIONAL_EXTRAS.get(top)
    if extra is None:
        return None
    install = extra if extra.startswith("the ") else f"pip install 'coldkit[{extra}]'"
    return f"this needs the optional package {top!r}, which is not installed: {install}"


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


class _OneLineWarnings:
    """Formats coldkit's own warnings as ``coldkit CMD: warning: MESSAGE``, one line.

    Python's format (``/path/manager.py:120: PluginLoadWarning: ...`` and then the source line
    ``load_plugins()``) read like a bug at that line of coldkit, and a plugin that failed to load or
    data read other than as given is a message to the user, written to stand alone.

    It replaces :func:`warnings.formatwarning` only, never the display (``showwarning``) nor the
    filters: the interpreter's display writes the one line on stderr, while a caller of :func:`main`
    that records warnings (``warnings.catch_warnings(record=True)``, pytest) or shows them its own way
    gets coldkit's warnings themselves, and its filters (``"error"``, ``"ignore"``) decide as anywhere.
    (Replacing the display sent them to stderr past a caller's recorder.) Every other warning (a third
    party's) keeps Python's format, whose file and line say whom to tell.

    While :func:`data_warnings_as_notes` is active, a :class:`DataWarning` the display formats is kept
    as a note (the command prints it among its notes) and formats as nothing.
    """

    def __init__(self, previous: Callable[..., str]) -> None:
        self.previous = previous
        self.label = "coldkit"  # "coldkit recommend" once the command is known (plugins load in --help too)
        self.notes: list[str] | None = None

    def __call__(self, message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
        if not issubclass(category, ColdkitWarning):
            return self.previous(message, category, filename, lineno, line)
        if self.notes is not None and issubclass(category, DataWarning):
            self.notes.append(str(message))
            return ""
        # a plugin's exception may span lines (a SyntaxError's caret): one line, as the errors are
        text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        return f"{self.label}: warning: {text}\n"


@contextlib.contextmanager
def data_warnings_as_notes() -> Iterator[list[str]]:
    """Inside a command run by :func:`main`: the :class:`DataWarning` texts shown meanwhile, to print as
    ``note:`` lines (``coldkit recommend`` lists them with its other notes) instead of warning lines.

    Only what the display in force shows is collected: warnings a caller records or filters stay theirs.
    Outside :func:`main` nothing is collected and the warnings are shown as usual.
    """
    notes: list[str] = []
    display = warnings.formatwarning
    if not isinstance(display, _OneLineWarnings):
        yield notes
        return
    before, display.notes = display.notes, notes
    try:
        yield notes
    finally:
        display.notes = before


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``coldkit`` and ``python -m coldkit``; returns the exit status."""
    # catch_warnings restarts the "once per place" memory, so each run in one process shows its warnings
    # again; it does not restore formatwarning: that is put back by hand (main() is called in-process)
    with warnings.catch_warnings():
        previous = warnings.formatwarning
        display = _OneLineWarnings(previous)
        warnings.formatwarning = display
        try:
            return _main(argv, display)
        finally:
            warnings.formatwarning = previous


def _main(argv: Sequence[str] | None, display: _OneLineWarnings) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # the words the command was run with, for the outputs that record how to reproduce them (results.json)
    args.command_line = ["coldkit", *argv]
    display.label = f"coldkit {args.command}" if getattr(args, "command", None) else "coldkit"
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _sigterm_raises():
            return int(args.func(args) or 0)
    except BrokenPipeError:
        # `coldkit plugins | head`: the reader left. Point stdout at devnull so the interpreter's
        # final flush does not raise again, and exit like other Unix tools do.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ModuleNotFoundError as exc:
        hint = _missing_dependency_hint(exc)
        if hint is None:
            # a plugin importing its own dependency lazily, in its factory (as the docs advise)
            if _report_plugin_failure(args.command, exc):
                return 2
            raise
        print(f"coldkit {args.command}: error: {hint}", file=sys.stderr)
        return 2
    except ColdkitError as exc:
        # A user error: one clear line, no traceback (naming the plugin whose call into coldkit raised it)
        from coldkit.plugins.manager import plugin_calling

        caller = plugin_calling(exc)
        called = f" (raised in coldkit, called by plugin {caller[0]!r} at {caller[1]})" if caller else ""
        print(f"coldkit {args.command}: error: {exc}{called}", file=sys.stderr)
        return 2
    except ColdkitWarning as exc:
        # a warning the caller's filters made an error (python -W error): one line as well
        text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"coldkit {args.command}: error: {text}", file=sys.stderr)
        return 2
    except Terminated:
        # 128 + SIGTERM, as a shell reports a process that SIGTERM ended
        print(f"coldkit {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"coldkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # the system refused a read or a write (disk full, permissions, a vanished folder): one line
        # naming the file and the reason; a traceback through coldkit read like coldkit's own bug
        if _report_plugin_failure(args.command, exc):
            return 2
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"coldkit {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        # A third-party plugin's bug (its model's fit, its encoder...) surfaced as a traceback through
        # coldkit that read like coldkit's own; name the plugin and where it failed, in one line.
        # coldkit's own bugs keep their traceback.
        if _report_plugin_failure(args.command, exc):
            return 2
        raise


def _report_plugin_failure(command: str, exc: BaseException) -> bool:
    """Print one line naming the plugin when ``exc`` was raised in an installed plugin's code; whether it was."""
    from coldkit.plugins.manager import plugin_at_fault

    culprit = plugin_at_fault(exc)
    if culprit is None:
        return False
    plugin, where = culprit
    if isinstance(exc, ModuleNotFoundError):
        print(
            f"coldkit {command}: error: plugin {plugin!r} needs the module {exc.name!r}, which is not installed "
            f"(imported at {where}); install it, or leave the plugin out with COLDKIT_LOAD_PLUGINS",
            file=sys.stderr,
        )
        return True
    print(
        f"coldkit {command}: error: plugin {plugin!r} failed ({type(exc).__name__}: {exc}) at {where}; "
        f"a bug in that plugin: report it to its authors, or leave it out with COLDKIT_LOAD_PLUGINS",
        file=sys.stderr,
    )
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
