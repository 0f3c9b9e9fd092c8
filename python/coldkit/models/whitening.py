"""Centring and whitening of embedding spaces before cosine similarity.

Language-model sentence vectors of one catalogue share a large common direction (anisotropy): every
pair has a high cosine, so cosine mostly measures that shared component. Centring removes the mean;
whitening (BERT-whitening, Su et al. 2021; the closed-form counterpart of UniSRec's parametric
whitening) also rescales the principal directions to unit variance so the covariance becomes ~I.
"""

from __future__ import annotations

import numpy as np

from coldkit import _core
from coldkit.exceptions import InvalidInputError
from coldkit.models._vectors import row_products
from coldkit.validation import check_k, check_number

__all__ = ["Whitening", "WHITENING_MODES", "mean_pairwise_cosine"]

WHITENING_MODES = ("none", "center", "whiten")

#: Bytes of one float64 temporary per step of :meth:`Whitening.transform`: ~2 MB stays in the CPU's
#: cache through the step's five passes (16k rows, 50 MB at 384-d, went to memory for each: 1M rows
#: 9.2 s -> 7.1 s). Each row's arithmetic does not depend on the step.
_STEP_BYTES = 1 << 21


def _step_rows(width: int) -> int:
    return max(64, _STEP_BYTES // (8 * max(1, width)))


class Whitening:
    """Learned on a catalogue's vectors, applied to items and user profiles alike.

    Args:
        mode: ``"none"``, ``"center"`` (subtract the mean) or ``"whiten"`` (subtract the mean, then
            map to the principal axes scaled by ``1 / sqrt(eigenvalue + eps * mean_eigenvalue)``).
        dim: keep only the ``dim`` leading principal axes when whitening (None = all).
        eps: relative regulariser of small eigenvalues (keeps near-null directions from exploding).

    Example::

        w = Whitening("whiten").fit(item_vectors)
        white_items = w.transform(item_vectors)          # covariance ~ identity
    """

    def __init__(self, mode: str = "whiten", dim: int | None = None, eps: float = 1e-3) -> None:
        if mode not in WHITENING_MODES:
            raise InvalidInputError(f"whitening must be one of {WHITENING_MODES}, got {mode!r}")
        if dim is not None:
            dim = check_k(dim, "whitening dim")  # 2.5 was 2 axes without a word
        eps = check_number(eps, "whitening eps", at_least=0)
        self.mode = mode
        self.dim = None if dim is None else int(dim)
        self.eps = float(eps)
        self.mean_: np.ndarray | None = None
        self.projection_: np.ndarray | None = None
        #: (d,) bool: the dimensions some fitted vector uses (None: not recorded, as in a serving index
        #: saved before it was, or ``mode="none"``, which subtracts nothing). See :meth:`transform`'s ``query``.
        self.support_: np.ndarray | None = None

    def fit(self, vectors: np.ndarray) -> "Whitening":
        """Learn the mean (and the whitening projection) from ``vectors`` (n, d)."""
        x = np.asarray(vectors)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise InvalidInputError(f"whitening needs a 2-D array of at least 2 vectors, got shape {x.shape}")
        bad = _first_non_finite_row(x)
        if bad is not None:
            raise InvalidInputError(f"whitening input: row {bad} has a NaN or infinite value")
        # accumulated in float64 without a float64 copy of the input (1M x 384: 3 GB); the same sums
        self.mean_ = x.mean(axis=0, dtype=np.float64) if self.mode != "none" else np.zeros(x.shape[1])
        self.support_ = _support(x) if self.mode != "none" else None
        if self.mode == "whiten":
            centred = x.astype(np.float64) - self.mean_
            cov = centred.T @ centred / (x.shape[0] - 1)
            eigenvalues, eigenvectors = np.linalg.eigh(cov)
            order = np.argsort(eigenvalues)[::-1]
            eigenvalues = np.clip(eigenvalues[order], 0.0, None)
            eigenvectors = eigenvectors[:, order]
            keep = eigenvalues.size if self.dim is None else min(self.dim, eigenvalues.size)
            floor = self.eps * max(float(eigenvalues.mean()), 1e-12)
            scale = 1.0 / np.sqrt(eigenvalues[:keep] + floor)
            self.projection_ = eigenvectors[:, :keep] * scale[None, :]
        return self

    def transform(self, vectors: np.ndarray, normalize: bool = False, *, query: bool = False) -> np.ndarray:
        """Apply the learned map to (n, d) vectors; optionally L2-normalise the rows (zero rows stay zero).

        ``query=True`` marks the rows as queries (a user's text), not items; each query row is then
        projected on its own, so its vector is the same bits alone or in any batch. A query with nothing in
        the dimensions the fitted vectors use (:attr:`support_`; with a sparse encoder such as hashed
        TF-IDF, a text whose every word the catalogue lacks) shares nothing with what the mean was
        computed from, so it is not centred: centred, it would be minus the mean, and rank the least
        typical items first. Uncentred, it scores exactly 0 against every fitted item, while an item
        added later with its words (centred as items are) scores above 0. With ``"whiten"`` it keeps
        only its part on the principal axes that no fitted dimension enters (the near-null axes of the
        words the catalogue lacks; none when ``dim`` cut them off, and then it is the zero vector),
        for the same exact 0 against fitted items. Items, and queries that share a dimension with the
        catalogue, are transformed as without ``query``; so is every row of a dense encoder (its
        fitted vectors use every dimension) and of a whitener without a recorded support.
        """
        if self.mean_ is None:
            raise InvalidInputError("Whitening.transform called before fit")
        x = np.asarray(vectors)
        if x.ndim != 2 or x.shape[1] != self.mean_.size:
            raise InvalidInputError(f"expected vectors of shape (n, {self.mean_.size}), got {x.shape}")
        support, free_axes = self._query_support() if query else (None, None)
        if normalize and self.projection_ is None and support is None and x.dtype == np.float32 and x.flags.c_contiguous and x.shape[1]:
            # centred (or not) and scaled to unit length, the bits of the loop below in one pass in the
            # core (1M x 384: 5.6 s -> 1.3 s); a catalogue's items take this path
            try:  # the core refuses NaN/inf itself: the row is looked for only then, not in a pass before
                return _core.unit_rows(x, np.ascontiguousarray(self.mean_, dtype=np.float64))
            except InvalidInputError:
                bad = _first_non_finite_row(x)
                if bad is None:
                    raise
                raise InvalidInputError(f"whitening input: row {bad} has a NaN or infinite value") from None
        width = self.mean_.size if self.projection_ is None else self.projection_.shape[1]
        result = np.empty((x.shape[0], width), dtype=np.float32)
        # a block of rows at a time: the float64 temporaries of a 1M-row catalogue would be gigabytes
        # (each row's arithmetic is the same as in one pass)
        step = _step_rows(max(x.shape[1], width))
        for start in range(0, x.shape[0], step):
            block = np.asarray(x[start : start + step], dtype=np.float64)
            bad = _first_non_finite_row(block)
            if bad is not None:
                raise InvalidInputError(f"whitening input: row {start + bad} has a NaN or infinite value")
            nonzero = block != 0
            zero_rows = ~np.any(nonzero, axis=1)
            out = block - self.mean_
            if self.projection_ is not None:
                # a query's vector row by row, so it does not depend on the queries beside it in its
                # batch (BLAS blocks by the row count); a catalogue's items in one product, for speed
                out = row_products(out, self.projection_) if query else out @ self.projection_
            if support is not None:
                # a bool mask, not a float copy of the block's supported columns (at dim 2**20: 64 MB, not 512)
                outside = ~np.any(nonzero & support, axis=1) & ~zero_rows
                if outside.any():
                    own = block[outside]
                    if self.projection_ is not None:
                        own = row_products(own, self.projection_) * free_axes
                    out[outside] = own
            out[zero_rows] = 0.0  # an item without content stays "similar to nothing"
            if normalize:
                norms = np.linalg.norm(out, axis=1, keepdims=True)
                out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
            result[start : start + step] = out
        return result

    def partial_support(self) -> np.ndarray | None:
        """:attr:`support_` when the fitted vectors leave some dimension unused, else None (a dense
        encoder's, or none recorded): what a saved whitener must keep for queries to map as here."""
        if self.support_ is None or bool(self.support_.all()):
            return None
        return self.support_

    def _query_support(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(support, free axes) for :meth:`transform`'s ``query``; (None, None) when no query can fall outside.

        The free axes are the projection's columns with no weight on a supported dimension: a query
        outside the support, projected on them alone, has a dot product of exactly 0 (not rounding
        noise) with every fitted item, whose centred vectors lie on the support.
        """
        support = self.partial_support()
        if support is None or self.mode == "none":
            return None, None  # a dense encoder: a query outside its support is the zero vector
        if self.projection_ is None:
            return support, None
        return support, ~np.any(self.projection_[support] != 0, axis=0)


def _first_non_finite_row(x: np.ndarray) -> int | None:
    """The first row of ``x`` (n, d) with a NaN/inf value, or None. float32 C-contiguous rows are checked in
    place by the core; ``np.isfinite`` makes an (n, d) bool temporary (384 MB at 1M x 384)."""
    if x.dtype == np.float32 and x.flags.c_contiguous and x.ndim == 2:
        found = _core.find_non_finite(x)
        return None if found is None else int(found[0])
    finite = np.isfinite(x)
    if finite.all():
        return None
    return int(np.flatnonzero(~finite.reshape(len(x), -1).all(axis=1))[0])


def _support(x: np.ndarray) -> np.ndarray:
    """(d,) bool: the columns of ``x`` with a non-zero entry, a step of rows at a time (no (n, d) bool
    temporary of a 1M-row catalogue), stopping once every column is used (a dense encoder's first step)."""
    used = np.zeros(x.shape[1], dtype=bool)
    step = _step_rows(x.shape[1])
    for start in range(0, x.shape[0], step):
        used |= np.any(x[start : start + step] != 0, axis=0)
        if used.all():
            break
    return used


def mean_pairwise_cosine(vectors: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Mean cosine over distinct pairs of (up to ``sample``) rows: the anisotropy measure."""
    x = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if x.shape[0] > sample:
        x = x[rng.choice(x.shape[0], sample, replace=False)]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    gram = x @ x.T
    n = x.shape[0]
    return float((gram.sum() - np.trace(gram)) / max(1, n * (n - 1)))
