"""Type stubs for ``coldkit._core``, the compiled Rust extension (checked with ``mypy.stubtest``).

Use the typed wrappers in :mod:`coldkit.similarity`; these functions expect validated,
C-contiguous float32 arrays and are not part of the public API.
"""

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["__version__", "build_info", "topk", "normalize", "cosine_matrix", "find_non_finite", "row_means", "unit_rows", "simd_capabilities"]

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

def row_means(
    table: NDArray[np.float32],
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    threads: int | None = None,
) -> NDArray[np.float32]:
    """(lists, d): each list's mean of table rows (zero rows for empty lists), numpy's bits for d >= 2."""

def unit_rows(
    table: NDArray[np.float32],
    mean: NDArray[np.float64] | None = None,
    rescale: bool = False,
    threads: int | None = None,
) -> NDArray[np.float32]:
    """(rows, d): rows scaled to unit norm in float64 after a rescale and/or centring (in that order; rows
    all zeros as given stay zero); numpy's bits; NaN/inf refused by row and column; C-contiguous input only."""

def simd_capabilities() -> dict[str, Any]:
    """CPU features, runnable kernels, the active kernel and the core count."""

# ------------------------------------------------------------------------------------------
# Quantised index (rust/coldkit-py/src/quant.rs); wrapped by coldkit.quantized.QuantizedIndex.
# ------------------------------------------------------------------------------------------

from typing import final

__all__ += ["QuantizedIndex", "quant_kernels", "quant_int8_dots", "quant_bf16_dots", "quant_default_shortlist"]

@final
class QuantizedIndex:
    """A compressed (int8 or bf16) copy of a catalogue with an exact float32 re-rank."""

    @staticmethod
    def build(
        catalog: NDArray[np.float32],
        kind: str = "int8",
        scale: str = "per-vector",
        metric: str = "cosine",
        normalized: bool = False,
        threads: int | None = None,
    ) -> QuantizedIndex: ...
    @staticmethod
    def from_int8_parts(
        codes: NDArray[np.int8], scales: NDArray[np.float32], scale: str, metric: str, normalized: bool
    ) -> QuantizedIndex: ...
    @staticmethod
    def from_bf16_parts(codes: NDArray[np.uint16], metric: str, normalized: bool) -> QuantizedIndex: ...
    def search(
        self,
        queries: NDArray[np.float32],
        catalog: NDArray[np.float32],
        k: int,
        shortlist: int | None = None,
        exclude_indptr: NDArray[np.int64] | None = None,
        exclude_indices: NDArray[np.int64] | None = None,
        threads: int | None = None,
        kernel: str | None = None,
        exact_kernel: str | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]: ...
    def codes(self) -> NDArray[Any]: ...
    def scales(self) -> NDArray[np.float32]: ...
    def rowsums(self) -> NDArray[np.int32] | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def scale(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def normalized(self) -> bool: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def nbytes(self) -> int: ...

def quant_kernels() -> dict[str, Any]:
    """Quantised kernels per storage kind: {"int8": {"kernels": [...], "active": name}, ...}."""

def quant_int8_dots(
    queries: NDArray[np.int8], codes: NDArray[np.int8], kernel: str | None = None
) -> NDArray[np.int32]:
    """Exact int32 inner products of int8 codes by one kernel (testing aid)."""

def quant_bf16_dots(
    queries: NDArray[np.float32], codes: NDArray[np.uint16], kernel: str | None = None
) -> NDArray[np.float32]:
    """Inner products of bf16-rounded queries with bf16 codes by one kernel (testing aid)."""

def quant_default_shortlist(k: int) -> int:
    """The shortlist used when a search does not give one."""
