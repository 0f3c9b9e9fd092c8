"""What the benchmark scripts share on their command lines: counts checked before any work, reports written
atomically. A count of 0 or a negative one was taken (``--sizes 0`` started the whole default benchmark,
``--seeds 0`` ran the default seeds, ``--max-users 0`` failed minutes later), and a report written with
``Path.write_text`` into a missing folder lost a finished run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from coldkit._atomic import atomic_write_bytes

__all__ = ["positive_int", "positive_epsilon", "write_report"]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse turns the ValueError into a one-line usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def positive_epsilon(text: str) -> float:
    """An argparse type: a privacy budget ε > 0, or ``inf`` for no noise (0 or a negative one failed only after
    the models before it were fitted)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ε > 0 or inf, got {text!r}") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected ε > 0 or inf, got {text}")
    return value


def write_report(path: str | Path, text: str) -> None:
    """``text`` to ``path`` atomically (temp file + rename), its folder made if missing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, text.encode("utf-8"))
