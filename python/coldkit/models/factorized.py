"""Factorised warm models whose cost is linear in the data: implicit ALS and sparse PureSVD.

EASE's dense items×items inverse is cubic in the catalogue; these keep ``f`` numbers per user and
per item, so 10⁵–10⁶ items fit in memory and fit in minutes:

* :func:`als_factors`: weighted-matrix-factorisation ALS (Hu, Koren & Volinsky 2008) from the
  `implicit <https://github.com/benfred/implicit>`_ package, confidence ``c = alpha·x``;
  :func:`als_fold_in` gives any click list its user vector with the same least-squares step ALS
  uses, so a new user's clicks fold in without refitting;
* :func:`sparse_svd_basis`: the top right singular vectors of the sparse matrix by ARPACK
  (``scipy.sparse.linalg.svds``) — never a dense copy of the matrix.

Example::

    >>> import scipy.sparse as sp, numpy as np
    >>> x = sp.random(50, 40, density=0.2, format="csr", random_state=0, dtype=np.float32)
    >>> x.data[:] = 1
    >>> users, items = als_factors(x, factors=8, iterations=3, seed=0)
    >>> items.shape
    (40, 8)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from coldkit.exceptions import ColdkitError, InvalidInputError

__all__ = ["ALS_ITERATIONS", "AlsFoldIn", "als_factors", "als_fold_in", "sparse_svd_basis", "have_implicit", "default_threads"]


def have_implicit() -> bool:
    """Whether the ``implicit`` package (ALS) is importable."""
    try:
        import implicit.cpu.als  # noqa: F401
    except ImportError:
        return False
    return True


def default_threads() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


#: ALS iterations of a fit from scratch (a continued fit runs a third: WarmSpace.continuing)
ALS_ITERATIONS = 15


def als_factors(
    matrix: sp.csr_matrix,
    factors: int = 64,
    regularization: float = 0.05,
    alpha: float = 10.0,
    iterations: int = ALS_ITERATIONS,
    seed: int = 0,
    threads: int | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(user factors (n_users, f), item factors (n_items, f)) of implicit ALS on ``matrix`` (users × items).

    Deterministic for a seed with one thread; ``threads`` (default: every core this process may
    use) goes to implicit's own OpenMP loop while BLAS is held to one thread — implicit's inner
    solves are tiny and an oversubscribed BLAS slows them down many times.

    ``start``: (user factors, item factors) to begin from instead of small random ones (a fit on most of
    the same data: see :meth:`coldkit.models.cold.WarmSpace.continuing`); shapes must match ``matrix``.

    Raises:
        ColdkitError: ``implicit`` is not installed (the message says how to install it).
    """
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:  # pragma: no cover - implicit is a dependency; this guards broken installs
        raise ColdkitError("warm model 'als' needs the implicit package: pip install implicit (or use warm=svd)") from exc
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit warns about a multi-threaded BLAS when it is created
        model: Any = AlternatingLeastSquares(
            factors=int(factors),
            regularization=float(regularization),
            alpha=float(alpha),
            iterations=int(iterations),
            calculate_training_loss=False,
            num_threads=int(threads or default_threads()),
            random_state=int(seed),
        )
        if start is not None:
            users, items = (np.array(part, dtype=np.float32, order="C") for part in start)  # implicit updates them in place
            if users.shape != (matrix.shape[0], factors) or items.shape != (matrix.shape[1], factors):
                raise InvalidInputError(
                    f"ALS start factors of shapes {users.shape} and {items.shape} do not fit a "
                    f"{matrix.shape[0]} x {matrix.shape[1]} matrix with {factors} factors"
                )
            model.user_factors, model.item_factors = users, items
        model.fit(sp.csr_matrix(matrix, dtype=np.float32), show_progress=False)
    return np.asarray(model.user_factors, dtype=np.float32), np.asarray(model.item_factors, dtype=np.float32)


def als_fold_in(rows: sp.csr_matrix, item_factors: np.ndarray, regularization: float, alpha: float) -> np.ndarray:
    """(B, f) user vectors of ``rows`` (B × items, sparse) by one ALS least-squares step.

    ``p = (YᵀY + λI + Σᵢ (cᵢ - 1) yᵢyᵢᵀ)⁻¹ Σᵢ cᵢ yᵢ`` over the row's items, ``cᵢ = alpha·xᵢ``:
    exactly the user update ALS makes while training, so a warm user folds in to (nearly) their
    trained vector and a new user's clicks get a vector of the same kind. Cost per row
    ``O(n_u f² + f³)``: it never touches items the row does not hold.
    """
    y = np.asarray(item_factors, dtype=np.float64)
    f = y.shape[1]
    rows = sp.csr_matrix(rows)
    base = y.T @ y + float(regularization) * np.eye(f)
    out = np.zeros((rows.shape[0], f), dtype=np.float64)
    systems = np.repeat(base[None], rows.shape[0], axis=0)
    rhs = np.zeros((rows.shape[0], f), dtype=np.float64)
    for b in range(rows.shape[0]):  # loops over queries, never over the catalogue
        start, end = rows.indptr[b], rows.indptr[b + 1]
        if start == end:
            continue
        factors = y[rows.indices[start:end]]
        confidence = float(alpha) * rows.data[start:end].astype(np.float64)
        systems[b] += (factors * (confidence - 1.0)[:, None]).T @ factors
        rhs[b] = confidence @ factors
    nonempty = np.diff(rows.indptr) > 0
    if nonempty.any():
        out[nonempty] = np.linalg.solve(systems[nonempty], rhs[nonempty][:, :, None])[:, :, 0]
    return out.astype(np.float32)


#: Users whose systems :class:`AlsFoldIn` holds at once (4,096 × 64² float64 = 134 MB at 64 factors).
FOLD_IN_CHUNK = 4096


class AlsFoldIn:
    """Folds click rows into a fitted ALS space: :func:`als_fold_in`'s system, built with BLAS-3.

    The per-user solves are the whole cost of recommending from an ALS space (at 10⁶ items and 10⁴
    users with 10³ clicks each). ``YᵀY + λI`` is formed once per space (float64); a user's own term
    ``Σ (cᵢ−1) yᵢyᵢᵀ`` is one float32 matrix product over the rows of the items they clicked
    (``(Y_u·(c−1))ᵀ Y_u``), added to it in float64, and a batch's systems are solved together.
    implicit's ``recalculate_user`` solves the same system with a rank-1 update per click (float32):
    3–4× slower at a 64-factor space with ~900 clicks per user, and less accurate. Vectors agree with
    :func:`als_fold_in` (float64 throughout) to about 1e-6 relative.
    """

    def __init__(self, item_factors: np.ndarray, regularization: float, alpha: float, threads: int | None = None) -> None:
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.regularization, self.alpha = float(regularization), float(alpha)
        self.threads = max(1, int(threads or default_threads()))
        y = self.item_factors.astype(np.float64)
        self._base = y.T @ y + self.regularization * np.eye(y.shape[1])  # YᵀY + λI, every BLAS thread

    def __call__(self, rows: sp.csr_matrix) -> np.ndarray:
        """(B, f) float32 user vectors of ``rows`` (B × items, sparse); an empty row gets zeros."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        if rows.shape[1] != self.item_factors.shape[0]:
            raise ColdkitError(f"click rows have {rows.shape[1]} columns, the ALS space {self.item_factors.shape[0]} items")
        batch = rows.shape[0]
        out = np.zeros((batch, self.item_factors.shape[1]), dtype=np.float32)
        nonempty = np.flatnonzero(np.diff(rows.indptr) > 0)
        from threadpoolctl import threadpool_limits

        # Each user's product is small (clicks × f × f): one BLAS thread each, the users split over
        # Python threads (numpy releases the GIL inside the product and the row gather).
        with threadpool_limits(1, "blas"):
            # one f × f float64 system per user: a bounded number at a time (the cold adapters' and
            # teachers' fits fold in every training user in one call: 1M users × 64² × 8 B = 33 GB)
            for start in range(0, nonempty.size, FOLD_IN_CHUNK):
                users = nonempty[start : start + FOLD_IN_CHUNK]
                out[users] = self._solve(rows, users)
        return out

    def _solve(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        """(len(users), f) float64 solutions of the ``users`` rows' systems (every row has a click)."""
        systems = np.repeat(self._base[None], users.size, axis=0)
        rhs = np.zeros((users.size, self._base.shape[0]), dtype=np.float64)
        parts = np.array_split(np.arange(users.size), min(self.threads, max(1, users.size // 64)))
        if len(parts) == 1:
            self._add_user_terms(rows, users, parts[0], systems, rhs)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(len(parts)) as pool:
                list(pool.map(lambda part: self._add_user_terms(rows, users, part, systems, rhs), parts))
        return np.linalg.solve(systems, rhs[:, :, None])[:, :, 0]

    def _add_user_terms(
        self, rows: sp.csr_matrix, nonempty: np.ndarray, part: np.ndarray, systems: np.ndarray, rhs: np.ndarray
    ) -> None:
        """Add ``Σ (cᵢ−1) yᵢyᵢᵀ`` to ``systems[j]`` and set ``rhs[j] = Σ cᵢ yᵢ`` for each ``j`` in ``part``."""
        alpha = np.float32(self.alpha)
        for j in part.tolist():
            b = int(nonempty[j])
            start, end = rows.indptr[b], rows.indptr[b + 1]
            factors = self.item_factors[rows.indices[start:end]]
            confidence = alpha * rows.data[start:end]
            systems[j] += (factors * (confidence - 1.0)[:, None]).T @ factors
            rhs[j] = confidence @ factors


def sparse_svd_basis(matrix: sp.spmatrix, factors: int, seed: int = 0) -> np.ndarray:
    """(n_cols, f) top-``factors`` right singular vectors of a sparse matrix, by ARPACK, largest first.

    The start vector is fixed by ``seed`` (ARPACK is otherwise random) and each axis' sign is
    fixed by its largest entry, so results repeat across runs and LAPACK builds.
    """
    from scipy.sparse.linalg import svds

    x = sp.csr_matrix(matrix, dtype=np.float64)
    k = int(min(factors, min(x.shape) - 1))
    if k < 1:
        raise ColdkitError(f"sparse SVD needs a matrix with at least 2 rows and columns, got {x.shape}")
    v0 = np.random.default_rng(seed).standard_normal(min(x.shape))
    _, sigma, vt = svds(x, k=k, v0=v0, random_state=seed)
    order = np.argsort(sigma)[::-1]
    order = order[sigma[order] > 1e-9 * max(float(sigma.max()), 1.0)]
    basis = vt[order].T
    basis *= np.where(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])] < 0, -1.0, 1.0)
    return basis
