"""Type stubs for ``coldkit._core``, the compiled Rust extension (checked with ``mypy.stubtest``).

Use the typed wrappers in :mod:`coldkit.similarity`; these functions expect validated,
C-contiguous float32 arrays and are not part of the public API.
"""

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["__version__", "build_info", "topk", "normalize", "cosine_matrix", "find_non_finite", "simd_capabilities"]

__version__: str
build_info: str

def topk(
    queries: NDArray[np.float32],
    catalog: NDArray[np.float32],
    k: int,
    metric: str = "cosine",
    normalized: bool = False,
    exclude_indptr: NDArray[np.int64] | None = None,
    exclude_indices: NDArray[np.int64] | None = None,
    threads: int | None = None,
    kernel: str | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Exact top-k of each query row (fused scan, GIL released); raises InvalidInputError."""

def normalize(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit L2 norm; zero rows stay zero."""

def cosine_matrix(
    a: NDArray[np.float32],
    b: NDArray[np.float32],
    threads: int | None = None,
    kernel: str | None = None,
) -> NDArray[np.float32]:
    """Dense (m, n) cosine similarities."""

def find_non_finite(x: NDArray[np.float32]) -> tuple[int, int] | None:
    """(row, column) of the first NaN/inf, or None."""

def simd_capabilities() -> dict[str, Any]:
    """CPU features, runnable kernels, the active kernel and the core count."""
