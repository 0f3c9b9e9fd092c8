"""Federated training of the item factors and the content→CF adapter, with optional DP on the client updates.

The model ``federated`` (:class:`Federated`) fits and recommends like any coldkit model, but its
training never pools the interactions: the users are split into ``n_clients`` simulated clients
(devices or sites), each holding only its own users' rows, and a Flower server (:mod:`coldkit.privacy.flower`)
learns from what the clients send back — one array per client and round, of the model's shape.

**What is learned, and how** (PureSVD, the warm space the hybrid and the serving index use, learned
by federated subspace iteration — the *noisy power method* of Hardt & Price 2014):

1. *Item counts* (one round): each client sends ``Σ_u s_u x_u`` over its users (``x_u`` the binary
   row, ``s_u`` the per-user clipping factor); the server's noisy sum says which items are warm.
2. *Item factors* (``rounds`` rounds): the server holds an orthonormal basis ``Q`` (items × f) and
   sends it out; each client computes its users' vectors ``p_u = x_u Q`` **locally** (they never
   leave it) and returns ``Σ_u s_u x_uᵀ p_u`` — the gradient of ``½‖X_c Q‖²``; the server sums,
   adds noise and re-orthonormalises (QR). Without noise this is exact subspace iteration on
   ``XᵀX = Σ_c X_cᵀX_c``: for any number of clients it converges to the central PureSVD basis.
   The last aggregate also gives the Rayleigh–Ritz rotation (``B = QᵀU = Σ_c P_cᵀP_c``), which
   orders the factors by strength as the central SVD does.
3. *The content→CF adapter*: a ridge map ``W`` from item content to item factors whose normal
   equations are built from the clients' aggregated updates ``U = Σ_c X_cᵀP_c`` and ``B``:
   ``CᵀC W B + l2·b̄·W = Cᵀ U`` over the warm items (``b̄`` the mean eigenvalue of ``B``). It
   fits each factor like the central ridge on ``U B⁻¹ ≈ Q`` but shrinks weak factors more
   (penalty ``l2·b̄/b_j``), which is where DP noise sits. No extra round, no extra privacy cost.

Cold items get ``q̂ = c W + b`` (as :class:`~coldkit.models.cold.ColdRidge`); a user — warm or new —
is folded in on their own device: ``p = x Q`` over the items they clicked
(:func:`local_user_vector` for serving's on-device scoring).

**Differential privacy** (``dp_epsilon``, ``dp_delta``, ``clip``): each user's contribution to every
round is clipped to L2 norm ``clip`` *on the client* (``‖x_u‖·‖p_u‖`` for the factors, ``‖x_u‖`` for
the counts), and the server adds Gaussian noise ``σ = clip / sqrt(2ρ_round)`` to each sum
(central DP: the aggregator is trusted to add it, as in DP-FedAvg). Adding or removing one user
changes a round's sum by at most ``clip``, so each round is ρ-zCDP; the ``rounds + 1`` rounds share
the zCDP budget of ``(dp_epsilon, dp_delta)`` equally and :class:`~coldkit.privacy.accountant.PrivacyAccountant`
reports the total (``model.privacy_spent()``). The guarantee is *user-level* (a user lives on one
client), and it covers everything released: counts, factors and the adapter (post-processing).

Example::

    >>> from coldkit.models.registry import build_model
    >>> from coldkit.testing import synthetic_interactions
    >>> train, _, _ = synthetic_interactions(0)
    >>> model = build_model("federated", n_clients=4, rounds=20, factors=8, encoder="hashing").fit(train)
    >>> model.recommend([UserQuery(user=0)], 3).indices.shape
    (1, 3)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models._vectors import interaction_rows, training_matrix
from coldkit.models.base import NotFittedError
from coldkit.models.cold import ColdAdapter
from coldkit.privacy.accountant import PrivacyAccountant, PrivacySpent, check_budget, rho_for_budget, sigma_for_rho
from coldkit.privacy.mechanisms import noise_seed
from coldkit.privacy.modes import check_public_content
from coldkit.validation import check_k, check_seed

__all__ = [
    "Federated",
    "FederatedSpace",
    "partition_users",
    "factor_update",
    "user_counts",
    "local_user_vector",
    "have_flower",
]

#: Default factor rounds without DP (subspace iteration has converged for ranking by then on
#: ml-100k: Recall@20 within 0.003 of the central SVD) and under DP (each round costs budget; on
#: ml-100k at ε = 8, 3 rounds beat 10 on every task).
ROUNDS = 30
DP_ROUNDS = 3

#: Extra basis columns iterated beyond ``factors`` (dropped after the final Rayleigh–Ritz step):
#: subspace iteration converges at the rate of the gap after the last *iterated* column.
OVERSAMPLE = 10


def have_flower() -> bool:
    """Whether ``flwr`` (the optional extra ``federated``) is importable."""
    try:
        import flwr  # noqa: F401
    except ImportError:
        return False
    return True


def _clip_factor(norms: np.ndarray, clip: float | None) -> np.ndarray:
    """Per-user scale ``min(1, clip / norm)`` (1 everywhere when ``clip`` is None)."""
    if clip is None:
        return np.ones_like(norms)
    return np.minimum(1.0, clip / np.maximum(norms, 1e-300))


def factor_update(rows: sp.csr_matrix, basis: np.ndarray, clip: float | None) -> np.ndarray:
    """A client's item-factor update ``Σ_u s_u x_uᵀ (x_u Q)`` (items × f); its user vectors stay local.

    ``s_u = min(1, clip / (‖x_u‖ ‖x_u Q‖))`` bounds each user's contribution (a rank-one matrix
    ``x_uᵀp_u`` of Frobenius norm ``‖x_u‖·‖p_u‖``) to L2 norm ``clip``.

    Example::

        >>> x = sp.csr_matrix(np.array([[1.0, 0, 1], [0, 1, 1]]))
        >>> factor_update(x, np.eye(3)[:, :2], clip=None)      # = XᵀX Q
        array([[1., 0.],
               [0., 1.],
               [1., 1.]])
    """
    x = sp.csr_matrix(rows, dtype=np.float64)
    q = np.asarray(basis, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != x.shape[1]:
        raise InvalidInputError(f"basis must be ({x.shape[1]}, f), got {q.shape}")
    users = np.asarray(x @ q)  # the client's user vectors: computed here, never sent
    if clip is not None:
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()) * np.linalg.norm(users, axis=1)
        users *= _clip_factor(norms, clip)[:, None]
    return np.asarray(x.T @ users)


def user_counts(rows: sp.csr_matrix, clip: float | None) -> np.ndarray:
    """A client's item counts ``Σ_u s_u x_u`` (items,), each user's row clipped to L2 norm ``clip``."""
    x = sp.csr_matrix(rows, dtype=np.float64)
    scale = _clip_factor(np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()), clip)
    return np.asarray(x.T @ scale).ravel()


def partition_users(n_users: int, n_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Users split into ``n_clients`` disjoint, sorted index arrays of near-equal size (a seeded shuffle).

    Raises:
        InvalidInputError: ``n_clients`` below 1 or above ``n_users`` (a client with no user).
    """
    n_clients = check_k(n_clients, "n_clients")
    if n_clients > n_users:
        raise InvalidInputError(
            f"n_clients={n_clients} is more than the {n_users} users in the training data: every client must hold a user; "
            f"set n_clients={n_users} or fewer (command line: --option n_clients={n_users})"
        )
    order = np.random.default_rng(seed).permutation(n_users)
    return [np.sort(part).astype(np.int64) for part in np.array_split(order, int(n_clients))]


def _orthonormal(matrix: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(matrix)
    # QR's signs are arbitrary (LAPACK-dependent): make R's diagonal positive so runs repeat
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


class FederatedSpace:
    """The item factors, learned by federated subspace iteration (see the module docstring).

    Plays the part of :class:`~coldkit.models.cold.WarmSpace` (``kind="svd"``) in a cold adapter:
    ``item_vectors_``, ``warm_items_``, ``counts_`` and :meth:`user_vectors`, plus what the
    federated adapter is trained from: ``update_`` (``Σ_c X_cᵀP_c`` in the final basis) and
    ``gram_`` (``Σ_c P_cᵀP_c``, diagonal after Rayleigh–Ritz).
    """

    requested = kind = "federated"

    def __init__(
        self,
        factors: int = 64,
        n_clients: int = 10,
        rounds: int | None = None,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        clip: float | None = None,
        seed: int | None = None,
    ) -> None:
        factors, n_clients = check_k(factors, "factors"), check_k(n_clients, "n_clients")
        if rounds is not None:  # None: chosen below, by whether the run is private
            rounds = check_k(rounds, "rounds")
        # numpy's float32 inf is no Python float: it read as private (3 clipped rounds) while ε = inf trains 30 free ones
        self.private = dp_epsilon is not None and not (
            isinstance(dp_epsilon, (int, float, np.integer, np.floating)) and not isinstance(dp_epsilon, bool)
            and math.isinf(float(dp_epsilon))
        )
        if rounds is None:  # every round under DP costs budget: few noisy rounds beat many noisier ones
            rounds = DP_ROUNDS if self.private else ROUNDS
        if dp_delta is not None and dp_epsilon is None:
            # without ε the model trains with no noise at all; a δ alone read as "private" while it was not
            # (coldkit recommend refuses --dp-delta without --dp-epsilon for the same reason)
            raise InvalidInputError("dp_delta needs dp_epsilon too: without dp_epsilon the model is not private")
        if dp_epsilon is not None or dp_delta is not None:
            # validates ε > 0 and δ in (0, 1); δ < 1/users is checked in fit, when the users are known
            check_budget(math.inf if dp_epsilon is None else dp_epsilon, 1e-9 if dp_delta is None else dp_delta)
        if clip is not None:
            if isinstance(clip, bool) or not isinstance(clip, (int, float, np.integer, np.floating)) or not (
                math.isfinite(clip) and clip > 0
            ):
                raise InvalidInputError(f"clip must be a finite number > 0 (or None), got {clip!r}")
            clip = float(clip)
        self.factors, self.n_clients, self.rounds = int(factors), int(n_clients), int(rounds)
        self.dp_epsilon = None if dp_epsilon is None else float(dp_epsilon)
        self.dp_delta = None if dp_delta is None else float(dp_delta)
        # under DP every contribution must be bounded: default bound 1 (a user's whole row / update)
        self.clip = clip if clip is not None else (1.0 if self.private else None)
        # None: under DP a fresh secret seed per fit (a known seed lets anyone subtract the server's noise,
        # see coldkit.privacy.mechanisms.noise_seed); without DP nothing is secret, and 0 keeps runs repeatable
        self.seed = None if seed is None else check_seed(seed)
        self.accountant_: PrivacyAccountant | None = None

    # ------------------------------------------------------------------ training
    def _noise(self, n_users: int) -> tuple[float, float]:
        """(σ of the counts round, σ of each factor round); zero without DP."""
        if not self.private:
            return 0.0, 0.0
        assert self.dp_epsilon is not None and self.clip is not None
        delta = self.dp_delta if self.dp_delta is not None else 1.0 / (10.0 * n_users)
        eps, delta = check_budget(self.dp_epsilon, delta, n_users)
        self.delta_ = delta
        rho = rho_for_budget(eps, delta) / (self.rounds + 1)  # equal zCDP share per released sum
        sigma = sigma_for_rho(rho, self.clip)
        self.accountant_ = (
            PrivacyAccountant(delta=delta)
            .add_gaussian(sigma, self.clip, name="federated item counts")
            .add_gaussian(sigma, self.clip, steps=self.rounds, name="federated item-factor updates")
        )
        return sigma, sigma

    def fit(self, train: Interactions) -> "FederatedSpace":
        if not have_flower():
            raise ColdkitError("the federated model needs Flower: pip install 'coldkit[federated]' (or pip install flwr)")
        from coldkit.privacy.flower import InteractionClient, NoisySumStrategy, run_round

        self.matrix_ = training_matrix(train, binarize=True)
        n_users, n_items = self.matrix_.shape
        # the δ that privacy_spent reports ε at, noise or none: dp_delta, else the private models' default
        # 1/(10·users) (_noise checks it against the users when the run is private)
        self.delta_ = self.dp_delta if self.dp_delta is not None else 1.0 / (10.0 * max(n_users, 1))
        if self.dp_delta is not None and not self.private:  # dp_epsilon=inf: the δ it reports obeys the users rule too
            check_budget(math.inf, self.dp_delta, n_users)
        seed = noise_seed(self.seed, noisy=self.private)
        parts = partition_users(n_users, self.n_clients, seed)
        self.clients_ = [InteractionClient(self.matrix_[users], self.clip) for users in parts]
        sigma_counts, sigma_factors = self._noise(n_users)
        self.strategy_sigma_ = sigma_factors  # the noise std on every released sum
        rng = np.random.default_rng([seed, 1])  # the server's noise and initial basis

        counts_strategy = NoisySumStrategy((n_items,), sigma_counts, rng)
        counts = run_round(self.clients_, counts_strategy, [], "counts", 0)
        self.noisy_counts_ = counts
        # warm: counted by someone; under DP, above three noise deviations (a cold item passes with p ≈ 0.1 %)
        threshold = 3.0 * sigma_counts if self.private else 0.0
        if self.private and not np.any(counts > threshold):
            threshold = 0.0  # so much noise that nothing stands out: keep the positive counts (post-processing)
        self.counts_ = np.where(counts > threshold, np.maximum(counts, 0.0), 0.0)
        self.warm_items_ = np.flatnonzero(self.counts_ > 0)
        if self.warm_items_.size == 0:
            raise InvalidInputError("the training data has no interaction (or none survives the DP noise): nothing to learn")

        width = min(self.factors + OVERSAMPLE, n_items)
        basis = _orthonormal(rng.standard_normal((n_items, width)))
        strategy = NoisySumStrategy((n_items, width), sigma_factors, rng)
        self.received_ = [counts_strategy.received, strategy.received]
        update = basis
        for server_round in range(1, self.rounds + 1):
            update = run_round(self.clients_, strategy, [basis], "factors", server_round)
            if server_round < self.rounds:
                basis = _orthonormal(update)
        # Rayleigh–Ritz on the last round: B = QᵀU = Σ_c P_cᵀP_c (+ noise), rotate to its eigenvectors
        gram = basis.T @ update
        values, vectors = np.linalg.eigh((gram + gram.T) / 2.0)
        order = np.argsort(values)[::-1][: min(self.factors, width)]
        order = order[values[order] > 1e-9 * max(float(values.max()), 1.0)]  # drop the null space, as the central SVD
        if order.size == 0:
            raise InvalidInputError("the federated factors carry no signal (every eigenvalue is zero)")
        items = basis @ vectors[:, order]
        signs = np.where(items[np.argmax(np.abs(items), axis=0), np.arange(items.shape[1])] < 0, -1.0, 1.0)
        items *= signs
        self.item_vectors_ = items.astype(np.float32)
        self.update_ = (update @ vectors[:, order]) * signs
        self.gram_ = np.diag(values[order])
        return self

    # ------------------------------------------------------------------ fold-in
    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f) ``p = x Q`` of each query's training row and ``history`` (what its device computes)."""
        rows = interaction_rows(queries, self.matrix_, sparse=True)
        return np.asarray(rows @ self.item_vectors_, dtype=np.float32)

    def privacy_spent(self) -> PrivacySpent:
        """``(ε, δ)`` spent by training: ``ε = inf`` without DP, at the same δ a private run reports
        (``dp_delta``, else ``1/(10·users)``), as the ``dp-*`` models do at ``dp_epsilon=inf``.

        A run without noise promises nothing (no finite ε holds at any δ < 1); the δ is the one ε was
        measured at, never 0, which read as pure DP.
        """
        if self.accountant_ is None:
            if not hasattr(self, "delta_"):
                raise NotFittedError("federated: call fit(train) before asking what it spent")
            return PrivacySpent(math.inf, float(self.delta_))
        return self.accountant_.privacy_spent()


class Federated(ColdAdapter):
    """Hybrid-style cold-start model trained federated (see the module docstring): PureSVD item factors
    by federated subspace iteration, and a ridge content→CF adapter from the clients' aggregated updates.

    Options: ``n_clients`` (simulated clients, users split at random; ≤ users), ``rounds`` (factor
    rounds; default :data:`ROUNDS`, :data:`DP_ROUNDS` under DP), ``dp_epsilon`` / ``dp_delta`` (user-level DP on the client updates; None = no DP,
    δ defaults to 1/(10·users)), ``clip`` (per-user L2 bound on each update; default 1 under DP,
    none otherwise), ``seed`` (client split, initial basis, noise), ``factors``, ``l2`` (adapter
    ridge penalty, relative to the mean factor strength), ``item_trust``, and the content options
    of :class:`~coldkit.models.cold.ColdAdapter` (``encoder``, ``whitening``...). Needs ``flwr``.

    Example::

        model = coldkit.get_model("federated", n_clients=20, rounds=30, dp_epsilon=4).fit(train)
        model.privacy_spent()        # PrivacySpent(epsilon=3.99..., delta=...)
    """

    name = "federated"

    REFUSED_OPTIONS = frozenset({"warm", "warm_options", "memory_budget"})

    def __init__(
        self,
        n_clients: int = 10,
        rounds: int | None = None,
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        clip: float | None = None,
        seed: int | None = None,
        factors: int = 64,
        l2: float = 10.0,
        **options: Any,
    ) -> None:
        for fixed in sorted(self.REFUSED_OPTIONS):
            if fixed in options:
                raise InvalidInputError(f"the federated model does not take {fixed!r}: its item factors are federated PureSVD")
        super().__init__(factors=factors, **options)
        if isinstance(l2, bool) or not isinstance(l2, (int, float, np.integer, np.floating)) or not (math.isfinite(l2) and l2 >= 0):
            raise InvalidInputError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = float(l2)
        space = FederatedSpace(factors, n_clients, rounds, dp_epsilon, dp_delta, clip, seed)
        self.warm = space  # type: ignore[assignment]
        if space.private:  # without DP nothing is promised about the clicks; with it, content must be public
            check_public_content(self.content, self.name)

    def fit_sharing(self, train: Interactions, warm: Any, content: Any) -> "Federated":
        raise InvalidInputError("the federated model trains its own item factors; it cannot share a central warm space")

    def _learn_map(self, features: np.ndarray, targets: np.ndarray, train: Interactions) -> None:
        space: FederatedSpace = self.warm  # type: ignore[assignment]
        warm = space.warm_items_
        update = np.asarray(space.update_[warm], dtype=np.float64)  # Σ_c X_cᵀP_c over the warm items
        strength = np.maximum(np.diag(space.gram_), 1e-12)          # eigenvalues of Σ_c P_cᵀP_c
        f = np.asarray(features, dtype=np.float64)
        f_mean = f.mean(axis=0)
        fc = f - f_mean
        values, vectors = np.linalg.eigh(fc.T @ fc)
        rhs = vectors.T @ (fc.T @ update)  # (d, f) in the eigenbasis of CᵀC
        penalty = self.l2 * float(strength.mean())
        # column j solves (CᵀC b_j + l2·b̄) w_j = Cᵀ u_j: ridge on u_j / b_j ≈ q_j with penalty l2·b̄/b_j
        self.weights_ = vectors @ (rhs / (np.maximum(values, 0.0)[:, None] * strength[None, :] + max(penalty, 1e-12)))
        self.intercept_ = update.mean(axis=0) / strength - f_mean @ self.weights_

    def map_content(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.weights_ + self.intercept_

    def warm_user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f) ``p = x Q`` of each query's clicks; a ``text`` is not used (this model claims no ``"text"``).

        Why not the cold adapters' text path: it scales a text to the median norm of the training users'
        ``p_u``, which a server that never sees the clients' clicks cannot compute.
        """
        return self.warm.user_vectors(queries)

    def _tie_break_counts(self) -> np.ndarray:
        """The counts round's released sums (noisy under DP): the server never sees the raw counts."""
        self._require_fitted()
        space: FederatedSpace = self.warm  # type: ignore[assignment]
        return np.asarray(space.counts_, dtype=np.float64)

    def privacy_spent(self) -> PrivacySpent:
        """``(ε, δ)`` the training spent on the users' data (``ε = inf`` when trained without DP).

        Raises:
            NotFittedError: before ``fit``.
        """
        self._require_fitted()
        space: FederatedSpace = self.warm  # type: ignore[assignment]
        return space.privacy_spent()


def local_user_vector(
    history: Sequence[int] | Sequence[str] | np.ndarray,
    item_vectors: np.ndarray | Mapping[str, Sequence[float]],
    *,
    noise_scale: float = 0.0,
    seed: int | None = None,
) -> np.ndarray:
    """The user vector a device computes from its own clicks, to send instead of the clicks (on-device scoring).

    ``p = Σ_{i ∈ history} v_i (+ N(0, noise_scale²) per coordinate)``, each clicked item once: the PureSVD fold-in the serving
    index applies to a click history, so ``POST /recommend {"user_vector": p}`` ranks as
    ``{"history": [...]}`` would — without the server seeing the history.

    Args:
        history: the clicked items: row indices into ``item_vectors`` (an array), or ids (a mapping).
        item_vectors: (n_items, f) fold-in vectors (``ServingIndex.foldin_vectors()``), or ``{id: vector}``.
        noise_scale: standard deviation of Gaussian noise added on the device (0: none). One click
            moves ``p`` by at most ``max_i ‖v_i‖``, so
            ``noise_scale = analytic_gaussian_sigma(ε, δ, sensitivity=max_i ‖v_i‖)``
            (:mod:`coldkit.privacy.accountant`) makes each click (ε, δ)-DP locally.
        seed: seed of the noise (None: fresh randomness each call).

    Raises:
        InvalidInputError: an unknown / out-of-range item, non-finite vectors, a bad noise scale.

    Example::

        >>> local_user_vector([0, 2], np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
        array([1.5, 0.5], dtype=float32)
    """
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, (int, float, np.integer, np.floating)) or not (
        math.isfinite(noise_scale) and noise_scale >= 0
    ):
        raise InvalidInputError(f"noise_scale must be a finite number >= 0, got {noise_scale!r}")
    if isinstance(history, (str, bytes)):
        raise InvalidInputError("history must be a list of items, not a string")
    if seed is not None:
        seed = check_seed(seed)
    items = list(history)
    if isinstance(item_vectors, Mapping):
        # ids are matched as text, as the history's are: {1: [...]} with history [1] said "no vector: [1]"
        by_id = {str(key): value for key, value in item_vectors.items()}
        if len(by_id) < len(item_vectors):
            raise InvalidInputError("item_vectors holds two keys with the same text (e.g. 1 and '1'): give each id once")
        item_vectors = by_id
        missing = [i for i in items if str(i) not in item_vectors]
        if missing:
            raise InvalidInputError(f"history holds item id(s) with no vector: {missing[:10]}")
        if not item_vectors:
            raise InvalidInputError("item_vectors is empty")
        # a click log repeats items, and the server's fold-in of a history counts a repeated click once
        # (coldkit.models._vectors.interaction_rows: max, not sum); summing each repeat gave a vector
        # that ranked unlike the same {"history": [...]}
        items = list(dict.fromkeys(str(i) for i in items))
        try:
            dim = len(next(iter(item_vectors.values())))  # type: ignore[arg-type]
            rows = np.asarray([item_vectors[i] for i in items], dtype=np.float64).reshape(len(items), dim)
        except (TypeError, ValueError):  # a scalar or a ragged vector: numpy's message named nothing
            raise InvalidInputError("item_vectors must map each id to a list of numbers, all of one length") from None
    else:
        table = np.asarray(item_vectors, dtype=np.float64)
        if table.ndim != 2:
            raise InvalidInputError(f"item_vectors must be a 2-D array (items × f), got shape {table.shape}")
        index = np.asarray(items)
        if index.ndim > 1:  # [[0, 1]] returned a 2-D "vector", one row per click
            raise InvalidInputError(f"history must be a flat list of item row indices, got shape {index.shape}")
        index = np.unique(index) if index.size else index  # a repeated click counts once, as on the server
        if index.size and (index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= table.shape[0]):
            raise InvalidInputError(f"history must hold item row indices in [0, {table.shape[0]}), got {items[:10]}")
        dim = table.shape[1]
        rows = table[index.astype(np.int64)] if index.size else np.empty((0, dim))
    if not np.all(np.isfinite(rows)):
        raise InvalidInputError("item_vectors hold non-finite values for the history's items")
    vector = rows.sum(axis=0) if len(rows) else np.zeros(dim)
    if noise_scale > 0:
        vector = vector + np.random.default_rng(seed).normal(0.0, float(noise_scale), size=dim)
    return vector.astype(np.float32)
