"""Memory budgets: how many bytes a warm model needs, how many we may use, and a clear error when it does not fit.

Every warm model estimates its peak working set *before* allocating it (:func:`estimate_warm_bytes`),
so a catalogue too large for EASE's dense items×items inverse fails in a second with a message that
names the option to change, instead of swapping for ten minutes or crashing inside BLAS.

The budget is ``memory_budget=`` on the models (bytes or a string like ``"6G"``) and
``coldkit recommend --max-memory``; by default it is :data:`DEFAULT_FRACTION` of the machine's
memory (:func:`machine_memory`: physical RAM, or the container's cgroup limit when that is lower).
The default is a property of the machine, not of the moment: a budget from the memory *free* at
fit time would let ``warm="auto"`` pick EASE on a quiet machine and ALS on a busy one, so the same
code, data and seed would give different recommendations.

Example::

    >>> parse_memory("6G")
    6442450944
    >>> format_bytes(115 * 2**30)
    '115 GB'
"""

from __future__ import annotations

import os
import re

from coldkit.exceptions import InvalidInputError

__all__ = [
    "MemoryBudgetError",
    "parse_memory",
    "format_bytes",
    "machine_memory",
    "resolve_budget",
    "estimate_warm_bytes",
    "item_table_width",
    "check_budget",
    "DEFAULT_FRACTION",
    "EASE_MAX_ITEMS",
]

#: Share of the machine's memory a model may use by default: leaves room for the encoder, the
#: content vectors, the output table and whatever else runs on the machine.
DEFAULT_FRACTION = 0.6

#: Above this many warm items the size-aware default (``warm="auto"``) leaves EASE for a factorised
#: model, even when the inverse would fit: EASE's O(n³) Gram + inverse took 24 s at 5k items and
#: 225 s at 10k on this project's shared 2-core machine (docs/scale.md), so at 15k it would take
#: ~13 min. 10k keeps EASE for MovieLens-sized catalogues (ml-latest-small: 9.7k items).
EASE_MAX_ITEMS = 10_000

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)


class MemoryBudgetError(InvalidInputError):
    """A model would need more memory than its budget allows (the message names the option to change)."""


def parse_memory(value: str | int | float) -> int:
    """Bytes from ``"6G"``, ``"512M"``, ``"1.5GB"``, ``"2GiB"`` or a plain number of bytes.

    Raises:
        InvalidInputError: not a positive size.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"memory size must be like 6G or 512M, got {value!r}")
    if isinstance(value, (int, float)):
        size = float(value)
    else:
        match = _PATTERN.match(str(value))
        if not match:
            raise InvalidInputError(f"memory size must be like 6G, 512M or a number of bytes, got {value!r}")
        size = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if not 0 < size < float("inf"):  # also refuses NaN
        raise InvalidInputError(f"memory size must be a finite size > 0, like 6G or 512M, got {value!r}")
    if size < 1:
        raise InvalidInputError(f"memory size {value!r} is less than one byte; a unit is missing (e.g. {value}G)")
    return int(size)


def format_bytes(size: float) -> str:
    """A short human size: ``'115 GB'``, ``'740 MB'`` (binary units, written as users type them)."""
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{int(size)} B"


def _cgroup_limit() -> int | None:
    """The memory limit of this process's container (cgroup v2 ``memory.max`` or v1), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 2**60:  # v1 writes a huge number for "no limit"
            return int(text)
    return None


def machine_memory() -> int:
    """Bytes of memory this process may use at most: physical RAM (``MemTotal``), or the
    container's cgroup limit when that is lower. Unlike the memory free right now, it does not
    change with what else runs, so defaults derived from it are repeatable."""
    total = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if total is None:
        try:
            total = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            total = 8 * 2**30
    limit = _cgroup_limit()
    return min(total, limit) if limit is not None else total


def resolve_budget(budget: str | int | float | None) -> int:
    """The budget in bytes: ``budget`` parsed, or :data:`DEFAULT_FRACTION` of :func:`machine_memory`."""
    if budget is None:
        return int(DEFAULT_FRACTION * machine_memory())
    return parse_memory(budget)


def item_table_width(kind: str, n_users: int, n_warm: int, factors: int = 64) -> int:
    """Floats per item in a warm space's item vectors: a column per warm item (``ease``, ``item-knn``,
    ``interactions``), per training user (``users``), per factor (``als``, ``svd``), or one (``popularity``)."""
    if kind in ("ease", "item-knn", "interactions"):
        return n_warm
    if kind == "users":
        return n_users
    if kind in ("als", "svd"):
        return factors
    return 1


def estimate_warm_bytes(
    kind: str, n_users: int, n_items: int, n_warm: int, nnz: int, factors: int = 64, item_tables: int = 1
) -> int:
    """Peak bytes a warm model needs to fit and hold its item vectors (a deliberate over-estimate).

    * ``ease``: the sparse matrix, the float64 Gram, its inverse and the weights, the float32
      copy and the (items × warm) item vectors;
    * ``item-knn`` as a *warm space* (dense item vectors over warm items, as the cold adapters need);
    * ``als`` / ``svd``: the sparse matrix (a few copies) plus user and item factors and a Krylov /
      least-squares working set, all linear in the data.

    ``item_tables``: how many float32 tables of the item vectors' shape (items × :func:`item_table_width`)
    are held at once, the space's own included. A cold adapter keeps two more (its blended vectors and
    their transposed copy for the sparse ranking), so a hybrid's two adapters over one EASE space hold
    five: at 40,000 items over 6,455 warm ones the estimate is 5.9 GB, the space's alone 2.1 GB, and the
    fit's measured peak 5.1 GB (docs/scale.md, "Memory budget").
    """
    extra = 4 * n_items * item_table_width(kind, n_users, n_warm, factors) * max(int(item_tables) - 1, 0)
    if kind == "ease":
        return 3 * 12 * nnz + 3 * 8 * n_warm * n_warm + 4 * n_warm * n_warm + 4 * n_items * n_warm + extra
    if kind == "item-knn":
        return 8 * n_users * n_warm + 8 * n_warm * n_warm + 4 * n_items * n_warm + extra
    if kind in ("als", "svd"):
        sparse = 3 * 12 * nnz
        dense = 8 * (n_users + n_items) * (factors + 10) * 3
        return sparse + dense + extra
    if kind == "interactions":
        return 4 * n_items * n_warm + extra
    if kind == "users":
        return 4 * n_items * n_users + extra
    return 16 * n_items + extra


def check_budget(what: str, needed: int, budget: int, hint: str) -> None:
    """Raise :class:`MemoryBudgetError` when ``needed`` bytes exceed ``budget``.

    ``what`` names the model and size ("EASE on 120,000 items"); ``hint`` the way out ("use
    --option warm=als").
    """
    if needed > budget:
        raise MemoryBudgetError(
            f"{what} needs {format_bytes(needed)} (> memory budget {format_bytes(budget)}, "
            f"--max-memory / memory_budget=); {hint}"
        )
