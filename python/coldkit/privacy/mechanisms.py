"""DP statistics of an interaction matrix: noisy item counts and a noisy item–item Gram matrix.

Both are Gaussian mechanisms on contribution-bounded data (:mod:`coldkit.privacy.bounding`):

* :func:`dp_item_counts` — per-item user counts of a matrix with at most ``max_items`` ones per
  row: one user changes the count vector by at most ``sqrt(max_items)`` in L2;
* :func:`dp_gram` — ``XᵀX`` over chosen item columns of a matrix whose rows have L2 norm ``<= clip``:
  one user changes it by ``x xᵀ``, Frobenius norm ``<= clip²``. The noise is symmetric (one draw per
  entry of the upper triangle, mirrored), so the release is a symmetric matrix.

Noise is unbiased: ``E[dp_item_counts] = counts`` and ``Var = sigma²`` per item. Everything computed
from these outputs afterwards (top items, factors, similarities) is post-processing and costs no
further privacy.

Example::

    import numpy as np, scipy.sparse as sp
    from coldkit.privacy.mechanisms import dp_item_counts

    x = sp.csr_matrix(np.eye(3, dtype=np.float32))
    dp_item_counts(x, sigma=1.0, rng=np.random.default_rng(0))   # [1, 1, 1] + N(0, 1) noise
"""

from __future__ import annotations

import secrets

import numpy as np
import scipy.sparse as sp

from coldkit.exceptions import InvalidInputError

__all__ = ["dp_item_counts", "dp_gram", "symmetric_noise", "noise_seed"]


def noise_seed(seed: object, what: str = "seed", *, noisy: bool = True) -> int:
    """The seed a private fit draws its noise (and samples) from: ``seed`` itself, or for None a fresh
    secret one from the operating system's entropy (0 when the fit adds no noise, ``noisy=False``:
    ε = inf has nothing to keep secret, and a repeatable run is worth more).

    Why: DP noise protects only while it is unknown. With a fixed public default (coldkit's was 0) anyone
    could regenerate the noise and subtract it from the release — ``DPPopularity(dp_epsilon=1)`` on
    ml-100k gave back every released count exactly. An explicit seed still reproduces a fit (tests,
    benchmarks), and must then be kept as secret as the data.
    """
    if seed is None:
        return secrets.randbits(62) if noisy else 0  # < 2**63 - 3: torch seeds ``seed + 2`` and takes at most 2**64 - 1
    from coldkit.validation import check_seed

    return check_seed(seed, what)


def _check_sigma(sigma: float) -> float:
    value = float(sigma)
    if not np.isfinite(value) or value < 0:
        raise InvalidInputError(f"noise sigma must be a finite number >= 0, got {sigma!r}")
    return value


def dp_item_counts(matrix: sp.spmatrix, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Per-item count of users (column sums of ``matrix``) plus N(0, ``sigma``²) per item (float64)."""
    s = _check_sigma(sigma)
    counts = np.asarray(sp.csr_matrix(matrix).sum(axis=0), dtype=np.float64).ravel()
    if s > 0:
        counts = counts + rng.normal(0.0, s, size=counts.shape)
    return counts


def symmetric_noise(n: int, sigma: float, rng: np.random.Generator, dtype: type = np.float32) -> np.ndarray:
    """An (n, n) symmetric matrix: N(0, sigma²) i.i.d. on and above the diagonal, mirrored below."""
    noise: np.ndarray = rng.normal(0.0, _check_sigma(sigma), size=(n, n)).astype(dtype)
    upper = np.triu(noise)
    return upper + np.triu(noise, 1).T


def dp_gram(matrix: sp.spmatrix, items: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``X[:, items]ᵀ X[:, items]`` (dense float32, ``len(items)`` square) plus symmetric Gaussian noise.

    ``matrix`` rows must already be clipped (sensitivity of the release is the clip bound squared).
    """
    s = _check_sigma(sigma)
    cols = np.asarray(items, dtype=np.int64)
    sub = sp.csr_matrix(matrix)[:, cols]
    gram = np.asarray((sub.T @ sub).toarray(), dtype=np.float32)
    if s > 0:
        gram += symmetric_noise(cols.size, s, rng)
    return gram
