"""Large catalogues grown from real items, shared by the benchmarks (serving, scale).

Real catalogues have 10⁵–10⁷ items; the real data sets here have ~10⁴. Both benchmarks grow one
the same way: synthetic item ``n`` is a *variant* of real item ``n mod n_real`` — its text is the
real text plus ``" (variant v)"`` and, where vectors are grown directly, its content vector is
``normalize(0.7·c_base + 0.3·c_other + noise)``. :func:`resample_interactions` adds interactions
that keep the real data's user tastes and popularity skew: each synthetic user copies a real
user's items, each mapped to a random variant of that item.
"""

from __future__ import annotations

import numpy as np

__all__ = ["variant_bases", "variant_text", "grow_texts", "variant_vectors", "resample_interactions"]


def variant_bases(n_real: int, n_total: int) -> tuple[np.ndarray, np.ndarray]:
    """(base real item, variant number) of items ``0..n_total-1``; items ``< n_real`` are variant 0 (the real one)."""
    index = np.arange(n_total, dtype=np.int64)
    return index % n_real, index // n_real


def variant_text(text: str, variant: int) -> str:
    """The text of variant ``variant`` of a real item (variant 0 is the real text itself)."""
    return text if variant == 0 else f"{text} (variant {variant})"


def grow_texts(texts: list[str], n_total: int) -> list[str]:
    """``n_total`` item texts: the real ones, then variants of them in turn."""
    base, variant = variant_bases(len(texts), n_total)
    return [variant_text(texts[b], int(v)) for b, v in zip(base, variant)]


def variant_vectors(content: np.ndarray, base: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unit content vectors of variants of rows ``base`` of ``content``: ``0.7·c_base + 0.3·c_other + noise``."""
    rng = np.random.default_rng(seed)
    other = rng.integers(0, content.shape[0], base.size)
    mixed = 0.7 * content[base] + 0.3 * content[other] + rng.normal(0, 0.02, (base.size, content.shape[1]))
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def resample_interactions(
    indptr: np.ndarray, indices: np.ndarray, n_real_items: int, n_items: int, n_users: int, n_interactions: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs of a synthetic data set resampled from a real CSR user × item matrix.

    Synthetic user ``u`` copies real user ``u mod n_real_users``: it draws twice ``n_interactions
    / n_users`` of that user's items (with replacement), each moved to a random variant of the item
    among the ``n_items`` grown items, and keeps up to ``n_interactions / n_users`` distinct ones.
    A real user with few items and few variants to spread them over gives fewer, so the total is
    at most ``n_interactions``.
    """
    rng = np.random.default_rng(seed)
    n_real_users = indptr.size - 1
    per_user = max(1, n_interactions // n_users)
    variants = int(np.ceil(n_items / n_real_items))
    users, items = [], []
    for u in range(n_users):  # loops over users, a few thousand
        real = u % n_real_users
        own = indices[indptr[real] : indptr[real + 1]]
        if own.size == 0:
            continue
        picked = rng.choice(own, 2 * per_user)
        grown = picked + n_real_items * rng.integers(0, variants, picked.size)
        grown = np.unique(grown[grown < n_items])
        if grown.size > per_user:
            grown = np.sort(rng.choice(grown, per_user, replace=False))
        users.append(np.full(grown.size, u, dtype=np.int64))
        items.append(grown)
    return np.concatenate(users), np.concatenate(items)
