"""Private recommenders: every statistic learned across users is (ε, δ) user-level DP.

What is released (and accounted) at ``fit``:

1. contribution bounding: each user keeps at most ``max_items`` interactions (seeded sample);
2. DP item counts (Gaussian, L2 sensitivity ``sqrt(max_items)``) — a share ``count_share`` of the budget;
3. a DP item–item Gram matrix over the ``gram_items`` items with the largest *noisy* counts, from
   rows clipped to L2 norm ``clip`` (sensitivity ``clip²``) — the rest of the budget.

The budget is split in zCDP (:func:`coldkit.privacy.accountant.rho_for_budget`): the composed
release is ``(dp_epsilon, dp_delta)``-DP, and :meth:`privacy_spent` reports what the accountant
computes from the noise actually added. Everything else is post-processing of these two releases and
of *public* item content: popularity, item-kNN cosine, EASE, the CF factors (eigenvectors of the
noisy Gram, keeping only those above the noise's spectral edge ``2σ√n``), the content→CF ridge map
for cold items, and the popularity the public item table predicts for them (:func:`predicted_counts`).
The blend's weights are fixed (the non-private hybrid tunes them on the training data, which would
spend budget).

At query time a user's own interactions (their training row, their clicks) are used to score for
that user: the recommendations to user u depend on u's data and the DP model only, which is the
"billboard" model of joint differential privacy. What a user's list reveals about *other* users is
bounded by the model's (ε, δ).

``dp_epsilon=inf`` runs the same pipeline with no noise (the non-private reference of the same model).

Example::

    from coldkit.privacy.models import DPHybrid

    model = DPHybrid(dp_epsilon=1.0, dp_delta=1e-6, encoder="hashing").fit(train)
    model.privacy_spent()          # PrivacySpent(epsilon=0.99..., delta=1e-06)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy.stats import rankdata

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import empty_ranked, head_then_deeper, rank_vectors
from coldkit.models._vectors import blend_by_count, training_matrix, trust_by_count
from coldkit.models.attributes import AttributeFeatures
from coldkit.models.base import NotFittedError, Recommender
from coldkit.models.blend import DEFAULT_DEPTH, DEFAULT_USER_TRUST, blend, check_weights, source_weights
from coldkit.models.cold import ridge_map
from coldkit.models.content import ContentRecommender
from coldkit.models.registry import default_encoder_name
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Encoder, Ranked
from coldkit.privacy.accountant import PrivacyAccountant, PrivacySpent, check_budget, rho_for_budget, sigma_for_rho
from coldkit.privacy.bounding import bound_contributions, check_clip, check_max_items, clip_rows
from coldkit.privacy.mechanisms import dp_gram, dp_item_counts, noise_seed
from coldkit.privacy.modes import check_public_content
from coldkit.validation import check_k, check_number, check_seed

__all__ = ["DPStatistics", "private_statistics", "DPCounts", "private_counts", "OwnContent", "gram_signal_share", "noise_count_mass", "noise_mass_quantile", "predicted_counts", "DPPopularity", "DPItemKNN", "DPEASE", "DPHybrid", "PrivateModel"]

#: Sources of the private hybrid and their base weights (the hybrid's defaults for the same sources, plus
#: ``prior``: the DP popularity estimate with a popularity predicted from the public item table for items
#: without a public count, see :meth:`DPHybrid.prior_scores`). ``prior``'s weight is scaled at query time by
#: the prediction's signal share and by how little the candidates' counts say (:meth:`DPHybrid.noise_factors`);
#: its weight and form were chosen on ml-100k seeds 3–9 and ml-latest-small seeds 0–1, not the benchmark's
#: seeds (docs/privacy.md).
DP_WEIGHTS = {"cf": 1.0, "content": 0.1, "text": 0.5, "popularity": 0.5, "prior": 0.04}


#: Noisy counts below ``PUBLIC_COUNT_SIGMAS · σ`` are treated as noise (:meth:`DPStatistics.public_counts`).
PUBLIC_COUNT_SIGMAS = 3.0


@dataclass
class DPStatistics:
    """The two DP releases a private model learns from, and the ledger that accounts for them."""

    counts: np.ndarray  # (n_items,) noisy user counts, float64
    items: np.ndarray  # (g,) item indices of the Gram, chosen by noisy count
    gram: np.ndarray  # (g, g) noisy symmetric Gram over ``items`` (float32)
    sigma_counts: float
    sigma_gram: float
    accountant: PrivacyAccountant

    @property
    def noise_edge(self) -> float:
        """≈ the spectral norm of the Gram's noise (``2σ√g``): eigen-directions below it are mostly noise."""
        return 2.0 * self.sigma_gram * math.sqrt(max(self.items.size, 1))

    def public_counts(self) -> np.ndarray:
        """Noisy counts with those indistinguishable from noise (below ``3σ``) set to 0, never negative."""
        counts = np.maximum(self.counts, 0.0)
        counts[counts < PUBLIC_COUNT_SIGMAS * self.sigma_counts] = 0.0
        return counts


def private_statistics(
    train: Interactions,
    dp_epsilon: float,
    dp_delta: float | None,
    *,
    max_items: int = 64,
    clip: float = 1.0,
    gram_items: int = 2000,
    count_share: float = 0.2,
    seed: int | None = None,
) -> DPStatistics:
    """Bound each user's contribution, then release DP counts and a DP Gram (see the module docstring).

    ``dp_delta`` None gives ``1 / (10 · users)``. ``seed`` None draws the noise from a fresh secret seed
    (:func:`~coldkit.privacy.mechanisms.noise_seed`); a given seed reproduces the release, and whoever
    knows it can subtract the noise. Raises InvalidInputError for ε <= 0, δ outside (0, 1/users), bad
    ``max_items`` / ``clip`` / ``gram_items`` / ``count_share`` / ``seed``.
    """
    n_users = train.n_users
    delta = 1.0 / (10.0 * max(n_users, 1)) if dp_delta is None else dp_delta
    eps, delta = check_budget(dp_epsilon, delta, n_users)
    m, c = check_max_items(max_items), check_clip(clip)
    if isinstance(gram_items, bool) or not isinstance(gram_items, (int, np.integer)) or gram_items < 2:
        raise InvalidInputError(f"gram_items must be an integer >= 2, got {gram_items!r}")
    if not 0 < float(count_share) < 1:
        raise InvalidInputError(f"count_share (budget share of the item counts) must be in (0, 1), got {count_share!r}")
    seed = noise_seed(seed, noisy=math.isfinite(eps))
    rho = rho_for_budget(eps, delta)
    sigma_counts = sigma_for_rho(rho * count_share, math.sqrt(m))
    sigma_gram = sigma_for_rho(rho * (1 - count_share), c * c)
    # the noise from a stream of its own: the Gaussian mechanism's proof takes it independent of everything
    # else, including which items bounding kept (keyed by a hash of (seed, user id, item id), not by this stream)
    rng = np.random.default_rng([seed, 1])
    # keyed by ids, not positions: removing one user leaves every other user's kept items as they were
    bounded = bound_contributions(training_matrix(train, binarize=True), m, seed=seed,
                                  user_ids=train.user_ids, item_ids=train.catalog.item_ids)
    counts = dp_item_counts(bounded, sigma_counts, rng)
    # the Gram's items: those with the largest noisy counts, clearly above the noise (post-processing)
    threshold = max(3.0 * sigma_counts, 0.5)
    eligible = np.flatnonzero(counts > threshold)
    items = np.sort(eligible[np.argsort(-counts[eligible], kind="stable")[: int(gram_items)]])
    if items.size < 2:  # nothing stands out from the noise: CF will be mostly noise (and weighed down), but defined
        items = np.sort(np.argsort(-counts, kind="stable")[: min(2, train.n_items)])
    gram = dp_gram(clip_rows(bounded, c), items, sigma_gram, rng)
    accountant = PrivacyAccountant(delta=delta)
    accountant.add_gaussian(sigma_counts, math.sqrt(m), name="item counts")
    accountant.add_gaussian(sigma_gram, c * c, name="item-item Gram")
    return DPStatistics(counts, items, gram, sigma_counts, sigma_gram, accountant)


@dataclass
class DPCounts:
    """A DP release of the item counts alone (what :class:`OwnContent` orders a user without clicks by)."""

    counts: np.ndarray  # (n_items,) noisy user counts, float64
    sigma: float
    accountant: PrivacyAccountant

    def public_counts(self) -> np.ndarray:
        """Noisy counts with those indistinguishable from noise (below ``3σ``) set to 0, never negative."""
        counts = np.maximum(self.counts, 0.0)
        counts[counts < PUBLIC_COUNT_SIGMAS * self.sigma] = 0.0
        return counts


def private_counts(train: Interactions, dp_epsilon: float, dp_delta: float | None, *, max_items: int = 64,
                   seed: int | None = None) -> DPCounts:
    """Bound each user's contribution (:func:`~coldkit.privacy.bounding.bound_contributions`, keyed by ids) and
    release the per-item user counts with Gaussian noise, spending the whole ``(dp_epsilon, dp_delta)`` on them
    (L2 sensitivity ``sqrt(max_items)``). ``dp_delta`` None gives ``1 / (10 · users)``; ``seed`` as
    :func:`private_statistics`. Raises InvalidInputError as :func:`private_statistics` does."""
    n_users = train.n_users
    delta = 1.0 / (10.0 * max(n_users, 1)) if dp_delta is None else dp_delta
    eps, delta = check_budget(dp_epsilon, delta, n_users)
    m = check_max_items(max_items)
    seed = noise_seed(seed, noisy=math.isfinite(eps))
    sigma = sigma_for_rho(rho_for_budget(eps, delta), math.sqrt(m))
    bounded = bound_contributions(training_matrix(train, binarize=True), m, seed=seed,
                                  user_ids=train.user_ids, item_ids=train.catalog.item_ids)
    counts = dp_item_counts(bounded, sigma, np.random.default_rng([seed, 1]))
    accountant = PrivacyAccountant(delta=delta).add_gaussian(sigma, math.sqrt(m), name="item counts")
    return DPCounts(counts, sigma, accountant)


class PrivateModel(Recommender):
    """Shared parts of the private models: budget options, the DP releases, :meth:`privacy_spent`."""

    name = "dp-model"

    def __init__(
        self,
        dp_epsilon: float = 1.0,
        dp_delta: float | None = None,
        max_items: int = 64,
        clip: float = 1.0,
        gram_items: int = 2000,
        count_share: float = 0.2,
        seed: int | None = None,
    ) -> None:
        # checked here too, so a bad budget fails before any data are loaded (δ vs users: at fit)
        self.dp_epsilon, _ = check_budget(dp_epsilon, 0.5 if dp_delta is None else dp_delta)
        self.dp_delta = None if dp_delta is None else float(dp_delta)
        self.max_items, self.clip = check_max_items(max_items), check_clip(clip)
        try:
            count_share = float(count_share)
        except (TypeError, ValueError):  # its range is checked with the release; "x" was a bare ValueError
            raise InvalidInputError(f"count_share (budget share of the item counts) must be a number in (0, 1), got {count_share!r}") from None
        # None: a fresh secret seed per fit (noise_seed); a given one reproduces the fit and must stay secret
        self.gram_items, self.count_share = gram_items, count_share
        self.seed = None if seed is None else check_seed(seed)
        # DPCounts: a dp-popularity fitted on its own releases the counts alone
        self.stats_: DPStatistics | DPCounts | None = None

    def _release(self, train: Interactions) -> DPStatistics:
        self.stats_ = private_statistics(
            train, self.dp_epsilon, self.dp_delta, max_items=self.max_items, clip=self.clip,
            gram_items=self.gram_items, count_share=self.count_share, seed=self.seed,
        )
        return self.stats_

    def _stats(self) -> DPStatistics:
        stats = self._released()
        if not isinstance(stats, DPStatistics):
            raise InvalidInputError(f"{self.name}: its fit released the item counts alone, no item-item Gram")
        return stats

    def _released(self) -> "DPStatistics | DPCounts":
        """The release the model was fitted on (the counts and Gram, or the counts alone)."""
        if self.stats_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) before asking for its DP statistics")
        return self.stats_

    def _tie_break_counts(self) -> np.ndarray:
        """The public DP counts (the raw ones would leak): orders a list of a query the model knows nothing of."""
        return self._released().public_counts()

    def privacy_spent(self) -> PrivacySpent:
        """``(epsilon, delta)`` the fitted model spent (from the accountant's ledger; ``inf`` without noise)."""
        return self._released().accountant.privacy_spent()

    def privacy_report(self) -> dict[str, Any]:
        """JSON-ready ``{"epsilon", "delta", "mechanisms", "max_items", "clip"}`` (results files, CLI)."""
        report = {**self._released().accountant.to_dict(), "max_items": self.max_items}
        # clip bounds the Gram's rows: a counts-only release (dp-popularity) does not use it
        return report if isinstance(self.stats_, DPCounts) else {**report, "clip": self.clip}

    def _gram_user_rows(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, g) each query's known items over the Gram's items (0/1)."""
        stats = self._stats()
        position = np.full(self._require_fitted().n_items, -1, dtype=np.int64)
        position[stats.items] = np.arange(stats.items.size)
        rows = np.zeros((len(queries), stats.items.size), dtype=np.float32)
        for b, query in enumerate(queries):
            pos = position[self._known_items(query)]
            rows[b, pos[pos >= 0]] = 1.0
        return rows


class DPPopularity(PrivateModel):
    """Most-interacted items first, from DP counts (counts within the noise count as 0).

    Fitted on its own it releases the counts alone, with the whole budget (:func:`private_counts`):
    ``clip``, ``gram_items`` and ``count_share`` concern the Gram, which it does not release. Inside
    :class:`DPHybrid` it reads the hybrid's release instead (one budget for both).
    """

    name = "dp-popularity"

    def fit(self, train: Interactions) -> "DPPopularity":
        # the counts alone: releasing the Gram too spent (1 - count_share) = 80 % of the budget on a
        # matrix nothing read, and left the counts with sqrt(5) times the noise they need
        self.stats_ = private_counts(self._remember(train), self.dp_epsilon, self.dp_delta, max_items=self.max_items,
                                     seed=self.seed)
        return self

    def item_scores(self) -> np.ndarray:
        """(n_items,) the public (post-processed) noisy counts."""
        return self._released().public_counts()

    def _recommend(self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool) -> Ranked:
        scores = self.item_scores().astype(np.float32)[:, None]
        return rank_vectors(np.ones((len(queries), 1), np.float32), scores, k, exclude=self._exclusions(queries, exclude_known),
                            candidates=cand, backend=self.backend)


class _GramItemModel(PrivateModel):
    """An item–item model ``score = x_u S`` with ``S`` computed from the noisy Gram (items outside it score 0)."""

    def _matrix(self, stats: DPStatistics) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: Interactions) -> "_GramItemModel":
        stats = self._release(self._remember(train))
        self.similarity_ = self._matrix(stats).astype(np.float32)  # (g, g)
        vectors = np.zeros((train.n_items, stats.items.size), dtype=np.float32)
        vectors[stats.items] = self.similarity_.T  # item i's column of S, as a row
        self.item_vectors_ = vectors
        return self

    def _recommend(self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool) -> Ranked:
        return rank_vectors(self._gram_user_rows(queries), self.item_vectors_, k,
                            exclude=self._exclusions(queries, exclude_known), candidates=cand, backend=self.backend)


class DPItemKNN(_GramItemModel):
    """Item-kNN with cosine similarities from the noisy Gram: ``S_ij = G̃_ij / sqrt(G̃_ii G̃_jj)``, top ``neighbors``
    per item, negatives dropped."""

    name = "dp-item-knn"

    def __init__(self, neighbors: int = 100, **options: Any) -> None:
        super().__init__(**options)
        # check_k: 2.5 was truncated to 2, inf an OverflowError
        self.neighbors = check_k(neighbors, "neighbors")

    def _matrix(self, stats: DPStatistics) -> np.ndarray:
        gram = stats.gram.astype(np.float64)
        diag = np.maximum(np.diag(gram), stats.noise_edge / 2 + 1e-9)  # a noisy norm is floored, never divides by ~0
        sim = gram / np.sqrt(np.outer(diag, diag))
        np.fill_diagonal(sim, 0.0)
        sim = np.maximum(sim, 0.0)
        if self.neighbors < sim.shape[0]:
            cut = np.partition(sim, -self.neighbors, axis=0)[-self.neighbors]
            sim[sim < cut[None, :]] = 0.0
        return sim


class DPEASE(_GramItemModel):
    """EASE from the noisy Gram: ``P = (G̃ + λI)⁻¹``, ``B = I - P / diag(P)`` with zero diagonal.

    ``λ = max(l2, noise_edge)``: the ridge grows with the noise's spectral norm so ``G̃ + λI`` stays
    positive definite and the noise-dominated directions are damped.
    """

    name = "dp-ease"

    def __init__(self, l2: float = 0.5, **options: Any) -> None:
        super().__init__(**options)
        self.l2 = check_number(l2, "l2", above=0)

    def _matrix(self, stats: DPStatistics) -> np.ndarray:
        gram = stats.gram.astype(np.float64)
        gram[np.diag_indices_from(gram)] += max(self.l2, stats.noise_edge)
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        return b


def dp_factors(stats: DPStatistics, factors: int) -> np.ndarray:
    """(g, f) item factors: eigenvectors of the noisy Gram whose eigenvalue is above the noise edge (at most ``factors``),
    scaled by ``sqrt(1 - edge/λ)`` (a Wiener-like shrinkage of the noisier directions). DP-PureSVD."""
    values, vectors = np.linalg.eigh(stats.gram.astype(np.float64))
    order = np.argsort(values)[::-1][:factors]
    edge = stats.noise_edge
    keep = order[values[order] > max(edge, 1e-9)]
    if keep.size == 0:
        keep = order[:1]  # the popularity direction always survives
    shrink = np.sqrt(np.clip(1.0 - edge / np.maximum(values[keep], 1e-12), 0.05, 1.0))
    basis = vectors[:, keep] * shrink[None, :]
    basis *= np.where(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])] < 0, -1.0, 1.0)
    return basis


#: A candidate set's public count mass counts as real only beyond this quantile of what noise alone gives
#: it (:meth:`DPHybrid.noise_factors`): noise-only candidate sets then read as real in 0.1 % of fits. (Mean +
#: 3 standard deviations, tried first, let noise through in 1-4 % of fits: the mass is a sum of a few rare
#: counts above 3σ, far from Gaussian.)
NOISE_MASS_LEVEL = 0.999
#: Monte Carlo draws of the noise-only mass (fixed seed: a numerical integration, not noise) while few counts
#: clear 3σ by chance; above :data:`_QUANTILE_MC_KEPT` expected such counts, a Cornish-Fisher expansion.
_QUANTILE_DRAWS = 50_000
_QUANTILE_MC_KEPT = 20.0


def _check_mass_args(n_items: int, sigma_counts: float) -> None:
    """InvalidInputError unless ``n_items`` is an integer >= 0 and ``sigma_counts`` a finite number >= 0."""
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 0:
        raise InvalidInputError(f"n_items must be an integer >= 0, got {n_items!r}")
    if not np.isfinite(sigma_counts) or sigma_counts < 0:
        raise InvalidInputError(f"sigma_counts must be a finite number >= 0, got {sigma_counts!r}")


def noise_count_mass(n_items: int, sigma_counts: float) -> float:
    """Expected public count mass that noise alone gives ``n_items`` never-seen items: ``n · σ · φ(3)``.

    A zero count plus ``N(0, σ²)`` noise is kept by :meth:`DPStatistics.public_counts` when it exceeds
    ``3σ``; the expected kept value is ``σ · E[Z · 1(Z > 3)] = σ · φ(3)`` (``φ`` the standard normal density).
    Its quantiles, which decide what counts as real, are :func:`noise_mass_quantile`'s.
    """
    _check_mass_args(n_items, sigma_counts)
    z = PUBLIC_COUNT_SIGMAS
    return float(n_items) * float(sigma_counts) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def noise_mass_quantile(n_items: int, sigma_counts: float, level: float = NOISE_MASS_LEVEL) -> float:
    """The ``level`` quantile of the public count mass noise alone gives ``n_items`` never-seen items.

    Each item's zero count plus ``N(0, σ²)`` is kept when above ``3σ``: the mass is ``σ · Σ Z 1(Z > 3)``, a
    binomial number (``n``, ``Q(3)``) of standard normals truncated below at 3. While few are expected
    (``n · Q(3)`` ≤ 20, i.e. up to ~15,000 items) the quantile is read from a fixed-seed Monte Carlo of that
    sum (deterministic, cached per ``n``); above, from the Cornish-Fisher expansion with the compound sum's
    skewness (``E[Z³ 1(Z > 3)] = 11 φ(3)``). Post-processing of public quantities (σ, the candidates): no budget.
    """
    _check_mass_args(n_items, sigma_counts)
    if isinstance(level, bool) or not isinstance(level, (float, int, np.floating)) or not 0.5 <= float(level) < 1.0:
        raise InvalidInputError(f"level must be a number in [0.5, 1), got {level!r}")
    return float(sigma_counts) * _standard_mass_quantile(int(n_items), float(level))


@functools.lru_cache(maxsize=1024)
def _standard_mass_quantile(n: int, level: float) -> float:
    """:func:`noise_mass_quantile` for σ = 1 (cached: a batch run asks once per candidate-set size)."""
    from scipy.special import ndtri

    z = PUBLIC_COUNT_SIGMAS
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    if n == 0:
        return 0.0
    if n * tail <= _QUANTILE_MC_KEPT:
        rng = np.random.default_rng(20_201)
        kept = rng.binomial(n, tail, size=_QUANTILE_DRAWS)
        values = -ndtri(rng.random(int(kept.sum())) * tail)  # Z given Z > 3, by the inverse of its tail
        mass = np.bincount(np.repeat(np.arange(_QUANTILE_DRAWS), kept), weights=values, minlength=_QUANTILE_DRAWS)
        return float(np.quantile(mass, level))
    mean = n * density
    second = n * (z * density + tail) - n * density * density  # binomial: n (E[X²] - E[X]²)
    third = n * 11.0 * density  # ≈ the third cumulant (the compound-Poisson view; E[X]³ terms are ~1e-7 of it)
    skew = third / second**1.5
    q = float(ndtri(level))
    return mean + math.sqrt(second) * (q + (q * q - 1.0) * skew / 6.0)


def gram_signal_share(stats: DPStatistics, eigenvalues: np.ndarray | None = None) -> float:
    """Share of the noisy Gram's energy that stands above the noise: ``Σ (λ - edge)₊² / Σ λ²`` over its eigenvalues.

    ``edge`` is :attr:`DPStatistics.noise_edge` (≈ the spectral norm of the noise), so a Gram that is all noise
    gives ≈ 0 and a noise-free one (``sigma_gram = 0``) gives 1. Post-processing of the Gram release: no budget.
    ``eigenvalues``: the Gram's, when the caller has them already.
    """
    if stats.sigma_gram <= 0:
        return 1.0
    values = np.linalg.eigvalsh(stats.gram.astype(np.float64)) if eigenvalues is None else np.asarray(eigenvalues, np.float64)
    total = float(np.sum(values**2))
    return float(np.sum(np.maximum(values - stats.noise_edge, 0.0) ** 2)) / total if total > 0 else 0.0


#: Rows per step of :func:`predicted_counts` (a step's float64 copy stays a few hundred MB at 1,000 dimensions).
_PRIOR_ROWS = 32_768


#: The prior's ridge regression is fitted on at most this many items: a fixed sample of the catalogue, chosen
#: without looking at any count (public), predicts every item. Its normal equations cost items × d² (1,056-d
#: MiniLM + attributes: 5 s at 100k items, 9.6 s at 300k, ~30 s at 1M), while the zero-mean noise averages out
#: over far fewer items than a million; catalogues up to this size (every benchmark here) are fitted whole.
PRIOR_FIT_ROWS = 131_072


def predicted_counts(
    features: np.ndarray | Sequence[np.ndarray], noisy_counts: np.ndarray, sigma: float, l2: float,
    max_rows: int = PRIOR_FIT_ROWS,
) -> tuple[np.ndarray, float]:
    """Each item's user count predicted from public item features, and the share of the prediction that is signal.

    A ridge regression of the *raw* noisy counts on ``features`` over every item of the catalogue: the noise is
    zero-mean, so the fit averages it out over many items, where thresholded counts (those above ``3σ``) keep only
    the few most popular items at a small ε (35 of 1,682 on ml-100k at ε = 1) and log counts of noisy values are
    biased. Post-processing of the count release and of public features: no budget. Above ``max_rows`` items the
    regression is fitted on a fixed sample of ``max_rows`` of them (seeded, independent of the counts) and
    predicts them all.

    The share is ``1 − (noise variance of the prediction) / (variance of the prediction)``, clipped to [0, 1]: with
    ``X`` centred and ``e_j`` the eigenvalues of ``XᵀX`` over the ``m`` fitted items, the noise ``σ²I`` of the
    counts reaches the predictions with average variance ``σ² (Σ_j (e_j / (e_j + l2))² + 1) / m`` (the ``+ 1``: the
    mean; for items outside a sample the same in expectation, their features spread as the sample's). It is 1
    without noise and falls towards 0 as the noise's share of what the features predict grows — ml-100k's dates
    and titles at ε = 1: 0.60, ml-latest-small's titles at ε = 1: 0.17 (where the prior tied), both 0.79–0.99 at ε = 8.

    ``features``: (n_items, d), or a list of (n_items, d_k) blocks read side by side (no joined copy is made).
    Returns ``(predictions (n_items,) float64, share)``.
    """
    parts = [np.asarray(features)] if isinstance(features, np.ndarray) else [np.asarray(f) for f in features]
    y = np.asarray(noisy_counts, dtype=np.float64)
    n = y.size
    if not parts or any(p.ndim != 2 or p.shape[0] != n for p in parts):
        raise InvalidInputError(f"features must be (n_items, d) for {n} counts, got shapes {[p.shape for p in parts]}")
    if n < 2:
        return np.full(n, float(y.mean()) if n else 0.0), 0.0
    d = sum(p.shape[1] for p in parts)
    fitted = np.arange(n) if n <= max_rows else np.sort(np.random.default_rng(0).choice(n, int(max_rows), replace=False))
    m = fitted.size

    def rows(index: np.ndarray | slice) -> np.ndarray:
        # in float64 blocks of rows: a whole float64 copy of a large catalogue's features would be gigabytes
        # (a slice where the rows run on: no float32 copy before the float64 one)
        return np.hstack([p[index].astype(np.float64) for p in parts])

    # the whole catalogue in slices; a sample in blocks of its (sorted) rows
    blocks: list[np.ndarray | slice] = (
        [slice(start, start + _PRIOR_ROWS) for start in range(0, n, _PRIOR_ROWS)] if m == n
        else [fitted[start : start + _PRIOR_ROWS] for start in range(0, m, _PRIOR_ROWS)]
    )
    mean_x = np.zeros(d)
    for block_rows in blocks:
        mean_x += rows(block_rows).sum(axis=0)
    mean_x /= m
    mean_y = float(y[fitted].mean())
    gram = np.zeros((d, d))
    rhs = np.zeros(d)
    for block_rows in blocks:
        block = rows(block_rows) - mean_x
        gram += block.T @ block
        rhs += block.T @ (y[block_rows] - mean_y)
    coef = np.linalg.solve(gram + l2 * np.eye(d), rhs)
    predicted = np.empty(n)
    for start in range(0, n, _PRIOR_ROWS):
        every = slice(start, start + _PRIOR_ROWS)
        predicted[every] = (rows(every) - mean_x) @ coef + mean_y
    if sigma <= 0:
        return predicted, 1.0
    spread = float(predicted.var())
    if spread <= 0:
        return predicted, 0.0
    eigenvalues = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    noise = sigma**2 * (float(np.sum((eigenvalues / (eigenvalues + l2)) ** 2)) + 1.0) / m
    return predicted, min(max(1.0 - noise / spread, 0.0), 1.0)


class DPHybrid(PrivateModel):
    """The private hybrid: DP CF (noisy-Gram factors or EASE, with a content→CF ridge map for new items),
    content from the user's own items and words, and DP popularity, blended adaptively with fixed weights.

    Options (besides the budget ones of :class:`PrivateModel`):
        encoder / encoder_options / whitening: the content space (public item text);
        warm: ``"ease"`` (default, the non-private hybrid's warm model) or ``"svd"`` (DP-PureSVD);
        factors: most factors for ``warm="svd"``; l2: EASE ridge floor; adapter_l2: ridge map penalty;
        item_trust: noisy count at which an item's own CF vector gets half the weight of its mapped one;
        user_trust / weights / fusion / depth: the blend (sources ``cf``, ``content``, ``text``, ``popularity``,
            ``prior``; ``prior`` — :meth:`prior_scores`, the same weight for every query — speaks for candidates
            without public counts, such as brand-new items, see :meth:`noise_factors`);
        cf_trust: noise-aware CF weight: the ``cf`` weight is multiplied by ``k / (k + cf_trust)``, ``k`` the
            number of eigen-directions of the noisy Gram above the noise edge (post-processing, no budget): with
            few users or a small ε, CF is mostly noise and content speaks instead (``cf_trust=0`` turns this off);
            items ranked through the content→CF map (brand-new ones) get ``f²`` instead, see :meth:`noise_factors`.

    Example::

        model = DPHybrid(dp_epsilon=4.0, encoder="hashing").fit(train)
        model.recommend([UserQuery(history=np.array([3, 9, 12]))], k=20)
        model.privacy_spent()
    """

    name = "dp-hybrid"

    def __init__(
        self,
        dp_epsilon: float = 1.0,
        dp_delta: float | None = None,
        encoder: str | Encoder | None = None,
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        warm: str = "ease",
        factors: int = 64,
        l2: float = 0.5,
        adapter_l2: float = 10.0,
        item_trust: float = 2.0,
        user_trust: float = DEFAULT_USER_TRUST,
        weights: dict[str, float] | None = None,
        fusion: str = "weighted",
        depth: int = DEFAULT_DEPTH,
        cf_trust: float = 100.0,
        max_items: int = 64,
        clip: float = 1.0,
        gram_items: int = 2000,
        count_share: float = 0.2,
        seed: int | None = None,
        cache: bool = True,
        user_profiles: Any = None,
        user_graph: Any = None,
    ) -> None:
        # user_profiles / user_graph are accepted (the evaluation passes them to every model) and not used:
        # learning from them across users would need a budget of its own.
        super().__init__(dp_epsilon, dp_delta, max_items, clip, gram_items, count_share, seed)
        if warm not in ("ease", "svd"):
            raise InvalidInputError(f"dp-hybrid warm must be 'ease' or 'svd', got {warm!r}")
        self.warm = warm
        # check_k: 2.5 was truncated to 2, inf an OverflowError
        self.factors = check_k(factors, "factors")
        for label, value in (("l2", l2), ("adapter_l2", adapter_l2)):
            check_number(value, label, above=0)
        for label, value in (("item_trust", item_trust), ("user_trust", user_trust), ("cf_trust", cf_trust)):
            check_number(value, label, at_least=0)
        self.l2, self.adapter_l2, self.item_trust, self.user_trust = float(l2), float(adapter_l2), float(item_trust), float(user_trust)
        self.cf_trust = float(cf_trust)
        self.weights = {**DP_WEIGHTS, **check_weights(dict(weights or {}), sources=tuple(DP_WEIGHTS), what="dp-hybrid")}
        # check_k: 2.5 was truncated to 2, inf an OverflowError
        self.depth = check_k(depth, "depth")
        self.fusion = get_fusion(fusion)
        self.content = ContentRecommender(
            encoder=default_encoder_name() if encoder is None else encoder, encoder_options=encoder_options,
            whitening=whitening, cache=cache,
        )
        check_public_content(self.content, self.name)
        self.popularity = DPPopularity(dp_epsilon, dp_delta, max_items, clip, gram_items, count_share, seed)

    def fit(self, train: Interactions) -> "DPHybrid":
        train = self._remember(train)
        stats = self._release(train)
        self.content.fit(train)  # public item text only
        # popularity shares the same release (one budget), so it is not released twice
        self.popularity._remember(train)
        self.popularity.stats_ = stats
        self.projection_: np.ndarray | None
        if self.warm == "svd":
            self.projection_ = dp_factors(stats, self.factors).astype(np.float32)  # (g, f): p_u = x_u V, q_i = V_i
            warm_vectors = self.projection_
        else:
            self.projection_ = None
            ease = DPEASE(self.l2)
            warm_vectors = ease._matrix(stats).T.astype(np.float32)  # row i = column i of B
        content = self.content.item_vectors()
        weights, bias = ridge_map(content[stats.items], warm_vectors, self.adapter_l2)
        mapped = (content.astype(np.float64) @ weights + bias).astype(np.float32)  # every item's content-mapped vector
        own = np.zeros_like(mapped)
        own[stats.items] = warm_vectors
        counts = stats.public_counts()
        share = trust_by_count(counts, self.item_trust)
        # only the Gram's items have a CF vector: one outside it keeps its content-mapped vector (a
        # blend with its zero row would shrink it towards 0 the more users it has)
        gram_counts = np.zeros_like(counts)
        gram_counts[stats.items] = counts[stats.items]
        self.item_vectors_ = blend_by_count(own, mapped, gram_counts, self.item_trust)
        eigenvalues = np.linalg.eigvalsh(stats.gram.astype(np.float64))
        self.signal_directions_ = int(np.sum(eigenvalues > stats.noise_edge)) if stats.sigma_gram > 0 else stats.items.size
        k = self.signal_directions_
        # no noise (ε = inf): CF keeps its full weight, as in the non-private hybrid
        self.cf_factor_ = k / (k + self.cf_trust) if self.cf_trust > 0 and stats.sigma_gram > 0 else 1.0
        self.signal_share_ = gram_signal_share(stats, eigenvalues)
        # an item without its own DP vector is ranked by CF only through the content->CF map fitted on the noisy
        # Gram: its reliability is the squared signal share (see noise_factors)
        self.mapped_cf_factor_ = self.signal_share_ ** 2
        self.own_share_ = share  # (n_items,) weight of each item's own DP vector in its CF vector
        # popularity predicted from the public item table (its text's vectors and its attributes: dates, numbers,
        # titles' years) on the raw noisy counts: post-processing of the count release, no budget
        reader = AttributeFeatures()
        attributes = reader.encode_training(train)
        self.attributes_used_ = list(reader.used_)  # the item table's columns the prior read besides the text
        predicted, self.prior_signal_share_ = predicted_counts(
            [content, attributes], stats.counts, stats.sigma_counts, self.adapter_l2
        )
        # the prior is the item's place in that order (its quantile in the catalogue), not the size of the estimate:
        # a regression on noisy counts gives a few items extreme values, and the blend's per-list min-max then
        # squashed every other candidate together (ml-100k seeds 3-9, ε = 1 / 8: +0.0055 / +0.0183 over no-sharing
        # with the sizes, +0.0095 / +0.0227 with the quantiles; ml-latest-small ε = 8: +0.0076 -> +0.0206)
        # (rounded first: estimates equal but for float rounding, as two items with the same features, tie)
        estimate = np.round(share * counts + (1 - share) * predicted, 6)
        self.prior_ = (rankdata(estimate) / counts.size).astype(np.float32)
        # what the prior read is the user's to check (a date column that did not read as dates is item text and
        # says nothing of newness): `coldkit recommend` prints a model's notes_, as it does the hybrid's
        read = ", ".join(self.attributes_used_) if self.attributes_used_ else "none (the item text only)"
        self.notes_ = [
            f"dp-hybrid: item attributes read for the popularity prior of new items: {read} "
            f"(signal share {self.prior_signal_share_:.2f})"
        ]
        return self

    def noise_factors(self, candidates: np.ndarray | None = None) -> dict[str, float]:
        """Noise-aware factors of the ``cf``, ``popularity`` and ``prior`` weights for a batch ranking ``candidates`` (None: all).

        Both sources read the DP releases, and on some candidate sets those say nothing but noise — brand-new
        items have a true count of 0, so whatever count or CF score they get is noise. Post-processing only (no
        budget); both factors are 1 without noise (ε = inf) on items with counts.

        * ``popularity``: the share of the candidates' public count mass above what the noise alone could put
          on them (:func:`noise_mass_quantile`, its :data:`NOISE_MASS_LEVEL` quantile: among never-seen items a
          few counts clear ``3σ`` by chance); 0 when the candidates have no public count.
        * ``cf``: CF ranks an item through its own DP vector (items whose noisy count stands out) or through the
          content→CF map (every other item, e.g. a brand-new one), and the two are not equally reliable. Own
          vectors get ``k / (k + cf_trust)``, ``k`` the eigen-directions of the noisy Gram above the noise edge;
          mapped vectors get ``f²``, ``f`` = :func:`gram_signal_share` — the map is fitted on noisy targets and
          read through noisy user rows (on ml-100k at ε = 1 CF alone ranks brand-new items near chance; see
          docs/privacy.md). The factor mixes the two by the share of the candidates' count mass (above the
          noise's) that own vectors back. ``cf_trust = 0`` turns all of this off for CF (factor 1).
        * ``prior``: speaks where the counts do not — ``1 − popularity``'s factor — times the signal share of the
          popularity the item table predicts (:func:`predicted_counts`): on brand-new items it is the one estimate
          of who will want them that others' clicks give, and on items with counts popularity says it better.
        """
        if not hasattr(self, "own_share_"):
            raise NotFittedError(f"{self.name}: call fit(train) before asking for its noise factors")
        stats = self._stats()
        counts = stats.public_counts()
        items = np.arange(counts.size) if candidates is None else np.asarray(candidates).ravel()
        if items.size and (items.dtype.kind not in "iu" or items.min() < 0 or items.max() >= counts.size):
            raise InvalidInputError(f"candidates must be item indices in [0, {counts.size}), got {candidates!r}")
        mass = counts[items]
        total = float(mass.sum())
        # what noise alone could put on them (its 99.9 % quantile), not only its mean: among ~170 brand-new
        # items one count clears 3σ by chance every few fits, and against the mean (0.75σ) that one count read
        # as a 76 % "real" share, so popularity and the CF items' own vectors spoke for items nobody had
        # clicked (ml-100k cold items, noise seeds 0-7: up to -0.01 Recall@20 against no-sharing in those fits)
        noise = noise_mass_quantile(int(items.size), stats.sigma_counts)

        def share(part: float) -> float:
            return min(max((part - noise) / total, 0.0), 1.0) if total > 0 else 0.0

        backed = share(float((mass * self.own_share_[items]).sum()))
        cf = 1.0 if self.cf_trust == 0 else backed * self.cf_factor_ + (1.0 - backed) * self.mapped_cf_factor_
        popularity = share(total)
        return {"cf": cf, "popularity": popularity, "prior": (1.0 - popularity) * self.prior_signal_share_}

    def prior_scores(self) -> np.ndarray:
        """(n_items,) the ``prior`` source: each item's quantile in the catalogue by estimated number of users (ties
        share their average rank), from DP releases and public data only.

        The estimate is ``s·c̃ + (1 - s)·p̂`` with ``c̃`` the public noisy count (0 below ``3σ``), ``s = c̃ / (c̃ + item_trust)`` and
        ``p̂`` the popularity the public item table predicts (:func:`predicted_counts`: a ridge regression of the
        raw noisy counts of every item on its text's vectors and its attributes — dates, numbers, a title's year,
        :class:`~coldkit.models.attributes.AttributeFeatures`): a brand-new item gets the popularity that items
        like it have. ``prior_signal_share_`` is the share of ``p̂`` that is not noise; ``attributes_used_``
        names the attribute columns read.
        """
        if not hasattr(self, "prior_"):
            raise NotFittedError(f"{self.name}: call fit(train) before asking for its prior")
        return self.prior_

    def _cf_user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        rows = self._gram_user_rows(queries)
        return rows if self.projection_ is None else rows @ self.projection_

    def _rankers(self, queries: list[UserQuery], depth: int, cand: np.ndarray | None, exclude_known: bool) -> dict[str, Callable[[], Ranked]]:
        exclusions = self._exclusions(queries, exclude_known)
        return {
            "cf": lambda: rank_vectors(self._cf_user_vectors(queries), self.item_vectors_, depth, exclude=exclusions,
                                       candidates=cand, backend=self.backend),
            "content": lambda: self.content.recommend(queries, depth, candidates=cand, exclude_known=exclude_known, use_text=False),
            "text": lambda: self.content.recommend(queries, depth, candidates=cand, exclude_known=exclude_known, use_history=False),
            "popularity": lambda: self.popularity.recommend(queries, depth, candidates=cand, exclude_known=exclude_known),
            "prior": lambda: rank_vectors(np.ones((len(queries), 1), np.float32), self.prior_[:, None], depth,
                                          exclude=exclusions, candidates=cand, backend=self.backend),
        }

    def _recommend(self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool) -> Ranked:
        if not queries:
            return empty_ranked(0, k)
        n_items = self._require_fitted().n_items
        n = np.array([self._known_items(q).size for q in queries], dtype=np.float64)
        has_text = np.array([q.has_text for q in queries], dtype=bool)
        factors = self.noise_factors(cand)
        base = {**self.weights, **{name: self.weights[name] * factor for name, factor in factors.items()}}
        weights = source_weights(n, has_text, base, self.user_trust)
        weights["prior"] = np.full(len(queries), base["prior"])  # the same for every query, like a bias term

        def fused_at(depth: int, n: int) -> Ranked:
            return blend(self._rankers(queries, min(depth, n_items), cand, exclude_known), weights, self.fusion, n)[0]

        return head_then_deeper(fused_at, k, self.depth)  # a longer list begins with the shorter one, as the hybrid's


class OwnContent(ContentRecommender):
    """The no-sharing recommender in private mode: content kNN from the user's own clicks and text.

    It learns nothing across users — a user's list is computed from that user's clicks (or text) and the
    public item content — except for one thing: a user with no clicks and no text that matches (every score
    0) gets a list ordered by popularity, and the plain ``content`` model reads the raw training counts for
    it. This model orders those lists by DP item counts instead (:func:`private_counts`: the whole
    ``(dp_epsilon, dp_delta)`` goes to them, so :meth:`privacy_spent` reports that release) and reads the
    training data nowhere else. ``dp_epsilon=inf`` releases the (bounded) counts without noise.

    Options: ``dp_epsilon`` / ``dp_delta`` (default ``1/(10·users)``), ``max_items`` (interactions per user
    counted), ``seed`` (None: a fresh secret seed per fit), and those of
    :class:`~coldkit.models.content.ContentRecommender`. ``coldkit recommend --model content --dp-epsilon``
    runs it.

    Example::

        model = OwnContent(dp_epsilon=1.0, encoder="hashing").fit(train)
        model.recommend([UserQuery(history=np.array([3, 9]))], k=10)   # the user's own content kNN
        model.privacy_spent()                                          # the counts' (1.0, 1/(10·users))
    """

    name = "own-content"

    def __init__(
        self,
        dp_epsilon: float = 1.0,
        dp_delta: float | None = None,
        max_items: int = 64,
        seed: int | None = None,
        encoder: str | Encoder | Sequence[str | Encoder] = "hashing",
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        whitening_dim: int | None = None,
        text_weight: float = 1.0,
        cache: bool = True,
        encoder_weights: Sequence[float] | None = None,
    ) -> None:
        # the budget first: a bad one fails before an encoder is loaded (δ against the users at fit)
        self.dp_epsilon, _ = check_budget(dp_epsilon, 0.5 if dp_delta is None else dp_delta)
        self.dp_delta = None if dp_delta is None else float(dp_delta)
        self.max_items = check_max_items(max_items)
        self.seed = None if seed is None else check_seed(seed)
        super().__init__(encoder=encoder, encoder_options=encoder_options, whitening=whitening, whitening_dim=whitening_dim,
                         text_weight=text_weight, cache=cache, encoder_weights=encoder_weights)
        check_public_content(self, self.name)  # an encoder that learns from the clicks would share them
        self.counts_: DPCounts | None = None

    def fit(self, train: Interactions, *, reuse: ContentRecommender | None = None) -> "OwnContent":
        super().fit(train, reuse=reuse)
        self.counts_ = private_counts(train, self.dp_epsilon, self.dp_delta, max_items=self.max_items, seed=self.seed)
        return self

    def _released(self) -> DPCounts:
        if self.counts_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) before asking what it spent")
        return self.counts_

    def _tie_break_counts(self) -> np.ndarray:
        """The released DP counts (public part): the raw ones are what the budget protects."""
        return self._released().public_counts()

    def privacy_spent(self) -> PrivacySpent:
        """``(epsilon, delta)`` of the count release, the only statistic learned across users (``inf`` without noise)."""
        return self._released().accountant.privacy_spent()

    def privacy_report(self) -> dict[str, Any]:
        """JSON-ready ``{"epsilon", "delta", "mechanisms", "max_items"}`` (results files, CLI)."""
        return {**self._released().accountant.to_dict(), "max_items": self.max_items}
