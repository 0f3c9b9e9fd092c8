"""Stage lines on stderr: what a long run is doing, how long each stage took and the peak memory so far.

Silent unless switched on with :func:`stage_reporting` (``coldkit recommend`` does, ``--quiet``
does not), so library users and tests see nothing they did not ask for::

    with stage_reporting(True):
        with stage("fit warm model (als)"):
            ...
    # stderr: "coldkit: fit warm model (als) … 12.3 s (peak RSS 1.4 GB)"
"""

from __future__ import annotations

import contextlib
import sys
import time
from contextvars import ContextVar
from typing import Iterator

__all__ = ["stage", "stage_reporting", "recorded_stages", "reporting_enabled", "peak_rss_bytes"]

_ENABLED: ContextVar[bool] = ContextVar("coldkit_stage_reporting", default=False)
_RECORD: ContextVar[list[dict[str, float | str]] | None] = ContextVar("coldkit_stage_record", default=None)


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes (``ru_maxrss``; 0 where unsupported)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB, macOS bytes


def reporting_enabled() -> bool:
    """Whether stage lines are printed in this context."""
    return _ENABLED.get()


@contextlib.contextmanager
def stage_reporting(enabled: bool) -> Iterator[None]:
    """Print (or not) stage lines for the duration of the block."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


@contextlib.contextmanager
def recorded_stages() -> Iterator[list[dict[str, float | str]]]:
    """Collect ``{"stage", "seconds", "peak_rss"}`` of every stage finished in the block (benchmarks)."""
    record: list[dict[str, float | str]] = []
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block; when reporting is on, print its start and its elapsed time to stderr."""
    show, record = _ENABLED.get(), _RECORD.get()
    if not show and record is None:
        yield
        return
    if show:
        print(f"coldkit: {name} …", file=sys.stderr, flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    yield
    elapsed = time.perf_counter() - started
    peak = peak_rss_bytes()
    if record is not None:
        # CPU seconds (all threads of this process) beside wall time: on a shared machine the wall
        # time moves with other jobs' load, the CPU time much less.
        record.append({"stage": name, "seconds": elapsed, "cpu_seconds": time.process_time() - cpu_started, "peak_rss": peak})
    if show:
        print(f"coldkit: {name} done in {elapsed:.1f} s (peak RSS {peak / 2**30:.2f} GB)", file=sys.stderr, flush=True)
