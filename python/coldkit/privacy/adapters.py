"""User-level DP versions of the published torch cold-item adapters, trained with DP-SGD (Opacus).

``dp-dropoutnet``, ``dp-heater``, ``dp-clcrec`` and ``dp-aldi`` learn exactly what
:mod:`coldkit.models.published` learns (the same networks and losses), with every use of the
interactions made (ε, δ) user-level differentially private. Needs the ``privacy`` extra (torch + opacus).

**Why DP-SGD on the adapter alone is not enough.** A published adapter learns from three things that
come from users' interactions: the warm teacher (item CF vectors ``q_i`` and user vectors ``p_u``,
fitted on every user's clicks), the training pairs ``(u, i)``, and the scales/validation choices made
on them. DP-SGD over the pairs would protect the pairs, but the *targets* ``q_i`` would still be a
non-private function of everyone's clicks. So the private adapter is built in two releases, both
accounted in one :class:`~coldkit.privacy.accountant.PrivacyAccountant` and composed in Rényi DP:

1. **The teacher is released with DP** (:func:`coldkit.privacy.models.private_statistics`, the DP
   hybrid's release: contribution bounding, Gaussian item counts and a Gaussian item–item Gram). The
   teacher's item vectors are DP-PureSVD factors of the noisy Gram (:func:`coldkit.privacy.models.dp_factors`):
   post-processing, no further cost. A user's vector is ``p_u = clip(x_u) V`` — a function of that user's
   own clicks and the public ``V``.
2. **The adapter is trained with user-level DP-SGD.** One DP-SGD *example* is one *user*: all of the
   user's (bounded) training pairs, their user vector and their sampled negatives. The per-user
   gradient (of the adapter's own loss on that user's pairs) is clipped to ``max_grad_norm`` and
   Gaussian noise is added to the sum (Opacus' :class:`~opacus.optimizers.DPOptimizer`); batches are
   Poisson samples of users (Opacus' ``UniformWithReplacementSampler``, rate ``batch_users / users``).
   Per-user gradients are computed one user at a time, so the published losses (which deduplicate
   items within a batch) run unchanged; within a step the in-batch negatives of CLCRec and ALDI are
   the user's own items and samples, so no gradient mixes two users.

The budget: the release gets ``release_share`` of the zCDP budget of ``(dp_epsilon, dp_delta)``; the
DP-SGD noise multiplier is then the smallest that keeps the *composition* of both within
``(dp_epsilon, dp_delta)`` (:func:`~coldkit.privacy.accountant.noise_multiplier_for_budget` with
``prior``). :meth:`privacy_spent` reports the accountant's ε over the whole ledger.

What is *not* done, because it would spend budget: the published models' validation grid and early
stopping (they ran on the users' clicks): the documented defaults and a fixed ``epochs`` are used;
the teacher's score-based scaling is replaced by a fixed one (``sqrt(factors)``; user rows are clipped to
norm 1 and ``V`` has orthonormal, shrunk columns, so ``||p_u|| <= 1`` before it). The warm-item blend uses
the DP counts. At query time a user's own clicks score for that user (the joint-DP "billboard" model
of :mod:`coldkit.privacy.models`). ``dp_epsilon=inf`` runs the same pipeline without noise (clipping kept).

Example::

    from coldkit.models.registry import build_model

    model = build_model("dp-dropoutnet", dp_epsilon=4.0, encoder="hashing").fit(train)
    model.privacy_spent()             # PrivacySpent(epsilon=3.99..., delta=...)
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._vectors import blend_by_count, interaction_rows, training_matrix
from coldkit.models.base import NotFittedError
from coldkit.models.cold import WarmSpace
from coldkit.models.published import (
    ALDI, CLCRec, DropoutNet, Heater, PublishedColdModel, _identity_scale, _import_torch, _Teacher,
)
from coldkit.privacy.accountant import (
    MIN_EPSILON,
    PrivacyAccountant,
    PrivacySpent,
    check_budget,
    noise_multiplier_for_budget,
    rho_for_budget,
    zcdp_to_dp,
)
from coldkit.privacy.bounding import bound_contributions, check_clip, check_max_items, clip_rows
from coldkit.privacy.dpsgd import require_opacus
from coldkit.privacy.models import DPEASE, DPStatistics, dp_factors, private_statistics
from coldkit.privacy.mechanisms import noise_seed
from coldkit.privacy.modes import check_public_content
from coldkit.validation import check_k, check_seed

__all__ = ["TEACHERS", "DPWarmSpace", "DPPublishedModel", "DPDropoutNet", "DPHeater", "DPCLCRec", "DPALDI"]

#: Options of the published models that the private mode cannot honour (they would spend budget or
#: bypass the DP teacher), and why.
_REFUSED = {
    "tune": "choosing hyper-parameters on the users' clicks would spend budget; set them explicitly",
    "warm": "the private teacher is always DP-PureSVD of the noisy Gram",
    "warm_options": "the private teacher is always DP-PureSVD of the noisy Gram",
    "batch_size": "DP-SGD batches are Poisson samples of users: use batch_users",
    "patience": "early stopping on the users' clicks would spend budget",
    "eval_every": "early stopping on the users' clicks would spend budget",
    "validation_share": "no validation split is carved in private mode",
    "memory_budget": "the private teacher's size is set by gram_items and factors",
}


#: The teachers a private adapter can learn from, both post-processing of the DP Gram.
TEACHERS = ("svd", "ease")


class DPWarmSpace(WarmSpace):
    """The teacher of the private adapters, from a DP release (everything here is post-processing).

    * ``"svd"``: DP-PureSVD — ``q_i`` the item's row of the noisy Gram's top eigenvectors above the noise
      (:func:`~coldkit.privacy.models.dp_factors`), ``p_u = clip(x_u) V``;
    * ``"ease"``: DP-EASE — ``q_i`` column ``i`` of ``B`` from the noisy Gram (:class:`~coldkit.privacy.models.DPEASE`),
      ``p_u = clip(x_u)``: one dimension per Gram item.

    ``x_u`` is the user's click row over the Gram's items, clipped to L2 norm ``clip`` (their own data only);
    items outside the Gram get ``q_i = 0``; ``counts_`` are the public (noisy, thresholded) counts.
    """

    def __init__(self, train: Interactions, stats: DPStatistics, factors: int, clip: float, teacher: str = "svd",
                 l2: float = 0.5) -> None:
        if teacher not in TEACHERS:
            raise InvalidInputError(f"teacher must be one of {TEACHERS}, got {teacher!r}")
        super().__init__("svd", factors)
        self.teacher, self.clip = teacher, check_clip(clip)
        self._last_fold_in = None
        self.matrix_ = training_matrix(train, binarize=True)
        self.counts_ = stats.public_counts()
        self.warm_items_ = stats.items
        if teacher == "svd":
            self.projection_ = dp_factors(stats, self.factors).astype(np.float32)  # (g, f)
            vectors = self.projection_
        else:
            self.projection_ = None
            vectors = DPEASE(l2=l2)._matrix(stats).T.astype(np.float32)  # row i = column i of B (as dp-hybrid)
        self.item_vectors_ = np.zeros((train.n_items, vectors.shape[1]), dtype=np.float32)
        self.item_vectors_[stats.items] = vectors

    def fit(self, train: Interactions) -> "DPWarmSpace":
        raise InvalidInputError("a DPWarmSpace is built from a DP release, not fitted on raw interactions")

    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f) ``clip(x_u) V`` (svd) or ``clip(x_u)`` (ease) of each query (training row and ``history`` clicks)."""
        rows = clip_rows(interaction_rows(queries, self.matrix_, columns=self.warm_items_, sparse=True), self.clip)
        if self.projection_ is None:
            return np.asarray(rows.toarray(), dtype=np.float32)
        return np.asarray(rows @ self.projection_, dtype=np.float32)


class DPPublishedModel(PublishedColdModel):
    """Shared private training of the published adapters (see the module docstring).

    Options (besides the adapter's own, e.g. ``dropoutnet``'s ``dropout``/``rank``/``lr``/``hidden``):
        dp_epsilon / dp_delta: the budget (δ default ``1/(10·users)``; ``dp_epsilon=inf``: no noise);
        release_share: share of the zCDP budget for the DP teacher (counts + Gram), the rest goes to DP-SGD;
        max_grad_norm: per-user gradient clipping bound C of DP-SGD;
        batch_users: expected users per DP-SGD step (Poisson rate ``batch_users / users``); smaller batches
            give more (noisier) steps for the same compute (one gradient per sampled user);
        epochs: passes over the users (steps = ``epochs · users / batch_users``), fixed (no early stopping);
        max_items: interactions kept per user (for the release and the training pairs);
        clip: per-user L2 row bound of the Gram and of ``p_u``; gram_items / count_share: the release's;
        factors: DP-PureSVD rank of the teacher; teacher: ``"svd"`` (DP-PureSVD) or ``"ease"`` (DP-EASE), see
            :class:`DPWarmSpace`.
    """

    REFUSED_OPTIONS = frozenset(_REFUSED)

    def __init__(
        self,
        dp_epsilon: float = 4.0,
        dp_delta: float | None = None,
        release_share: float = 0.5,
        max_grad_norm: float = 1.0,
        batch_users: int = 64,
        epochs: int = 10,
        max_items: int = 64,
        clip: float = 1.0,
        gram_items: int = 2000,
        count_share: float = 0.2,
        factors: int = 64,
        teacher: str = "svd",
        **options: Any,
    ) -> None:
        refused = sorted(set(options) & self.REFUSED_OPTIONS)
        if refused:
            raise InvalidInputError(
                f"{self.name}: option {refused[0]!r} is not available in private mode ({_REFUSED[refused[0]]})"
            )
        self.dp_epsilon, _ = check_budget(dp_epsilon, 0.5 if dp_delta is None else dp_delta)
        self.dp_delta = None if dp_delta is None else float(dp_delta)
        if not (isinstance(release_share, (int, float)) and not isinstance(release_share, bool) and 0 < release_share < 1):
            raise InvalidInputError(f"{self.name}: release_share must be in (0, 1), got {release_share!r}")
        try:
            self.max_grad_norm = check_clip(max_grad_norm)
        except InvalidInputError:
            raise InvalidInputError(
                f"{self.name}: max_grad_norm (per-user gradient clipping bound) must be a finite number > 0, "
                f"got {max_grad_norm!r}"
            ) from None
        self.release_share, self.batch_users = float(release_share), check_k(batch_users, f"{self.name}: batch_users")
        self.max_items, self.clip = check_max_items(max_items), check_clip(clip)
        if isinstance(gram_items, bool) or not isinstance(gram_items, (int, np.integer)) or gram_items < 2:
            raise InvalidInputError(f"{self.name}: gram_items must be an integer >= 2, got {gram_items!r}")
        if not 0 < float(count_share) < 1:
            raise InvalidInputError(f"{self.name}: count_share must be in (0, 1), got {count_share!r}")
        self.gram_items, self.count_share = int(gram_items), float(count_share)
        if teacher not in TEACHERS:
            raise InvalidInputError(f"{self.name}: teacher must be one of {TEACHERS}, got {teacher!r}")
        self.teacher = teacher
        seed = options.pop("seed", None)
        super().__init__(epochs=epochs, factors=factors, tune=False, warm="svd", **options)
        # None: a fresh secret seed per fit, for the release's noise, the user sampling and DP-SGD's noise alike
        # (a known seed lets anyone regenerate and subtract the noise; see coldkit.privacy.mechanisms.noise_seed)
        self.seed = None if seed is None else check_seed(seed, f"{self.name}: seed")  # type: ignore[assignment]
        self._fit_seed: int | None = None  # the noise seed while a fit runs, never kept after it (see fit)
        check_public_content(self.content, self.name)
        self.accountant_: PrivacyAccountant | None = None

    # ----------------------------------------------------------------- fitting

    def _release_epsilon(self, eps: float, delta: float) -> float:
        """The release's share of the budget ``(eps, delta)``, as the ε that share of ρ converts to at ``delta``."""
        return math.inf if math.isinf(eps) else zcdp_to_dp(self.release_share * rho_for_budget(eps, delta), delta)

    def _lowest_epsilon(self, delta: float) -> float:
        """The smallest ``dp_epsilon`` (to 1 %) whose release share converts to at least :data:`MIN_EPSILON` at ``delta``."""
        low, high = MIN_EPSILON, 1.0
        while self._release_epsilon(high, delta) < MIN_EPSILON:  # pragma: no cover - huge δ only
            low, high = high, high * 10
        while high / low > 1.01:
            mid = math.sqrt(low * high)
            low, high = (mid, high) if self._release_epsilon(mid, delta) < MIN_EPSILON else (low, mid)
        return high

    def fit(self, train: Interactions) -> "DPPublishedModel":
        require_opacus()
        train = self._remember(train)
        delta = 1.0 / (10.0 * train.n_users) if self.dp_delta is None else self.dp_delta
        eps, delta = check_budget(self.dp_epsilon, delta, train.n_users)
        self._delta = delta
        # Held only while this fit runs: nothing after it needs the seed, and whoever reads it can regenerate
        # and subtract the noise, so it is not left among the fitted attributes that outputs are built from.
        self._fit_seed = noise_seed(self.seed, f"{self.name}: seed", noisy=math.isfinite(eps))
        try:
            self.content.fit(train)  # public item text only
            release_eps = self._release_epsilon(eps, delta)
            if release_eps < MIN_EPSILON:
                # a tiny ε left the release's share below what the accountant takes, and the error named an ε of 0.0
                # the user never gave
                raise InvalidInputError(
                    f"{self.name}: dp_epsilon={eps:g} is too small for this model: the release's share "
                    f"({self.release_share:g}) of it converts to ε = {release_eps:.2g} at δ = {delta:.2g}, below the "
                    f"smallest the accountant takes ({MIN_EPSILON:g}); give dp_epsilon >= {self._lowest_epsilon(delta):.2g}"
                )
            self.stats_ = private_statistics(
                train, release_eps, delta, max_items=self.max_items, clip=self.clip, gram_items=self.gram_items,
                count_share=self.count_share, seed=self._fit_seed,
            )
            self.warm = DPWarmSpace(train, self.stats_, self.warm.factors, self.clip, self.teacher)
            self._fit_map(train)
        finally:
            self._fit_seed = None
        self.notes_.append(self._release_note(train.n_items))
        return self

    def _release_note(self, n_items: int) -> str:
        """What the release covers, from public quantities only (the Gram's size is post-processing of noisy counts).

        On small data most counts drown in the noise, and a user who clicked none of the Gram's items has a zero
        teacher vector: 190 of 200 rows of 40 users at ε = 2 scored 0 under ``dp-clcrec`` with nothing said.
        """
        kept = int(self.stats_.items.size)
        # CLCRec and ALDI score with the teacher's user vector as it is; DropoutNet and Heater pass it through a
        # network of their own, so a zero vector still ranks, the same way for every such user
        as_is = type(self)._user_side is PublishedColdModel._user_side
        outcome = ("every new item scores 0 for them and their lists follow the items' public counts" if as_is
                   else "they all get the same list of new items")
        return (
            f"{self.name}: the private release's item statistics cover {kept:,} of {n_items:,} items (those whose noisy "
            f"counts clear the noise); a user who clicked none of them has no preference vector, so {outcome}"
            + (" — too few items for this budget: a larger dp_epsilon or more users keep more" if kept < min(n_items, 20) else "")
        )

    def _noise_seed(self) -> int:
        """The seed of the fit in progress (InvalidInputError outside one: nothing is drawn then)."""
        if self._fit_seed is None:
            raise InvalidInputError(f"{self.name}: the noise seed exists only while fit() runs")
        return self._fit_seed

    def fit_sharing(self, train: Interactions, warm: WarmSpace, content: Any) -> "DPPublishedModel":
        raise InvalidInputError(f"{self.name} cannot share a (non-private) warm space: it releases its own DP teacher")

    def _fit_map(self, train: Interactions) -> "DPPublishedModel":
        torch = _import_torch(self.name)
        previous_threads = torch.get_num_threads()
        previous_deterministic = torch.are_deterministic_algorithms_enabled()
        if self.threads:
            torch.set_num_threads(int(self.threads))  # deliberate: results depend on it, and the box is shared
        torch.use_deterministic_algorithms(True)
        try:
            self._fit_reduction(self.content.item_vectors())
            features = self._reduce(self.content.item_vectors())
            params = {**self.DEFAULTS, **self.fixed_}
            self.notes_, self.validation_scores_ = [], []
            self.chosen_params_ = {**params, "epochs": self.epochs}
            teacher = self._private_teacher(torch, train, features)
            self._net = self._train_private(torch, teacher, train, params)
            self._user_scale, self._item_scale = teacher.user_scale, teacher.item_scale
            # a text query's size: the public bound on ||p_u|| (a median over the users would read their clicks)
            self._text_user_norm = self.clip
            with torch.no_grad():
                mapped = self._cold_vectors(self._net, teacher.content).numpy().astype(np.float64)
                known = self._warm_vectors(self._net, teacher.items, teacher.content).numpy().astype(np.float64)
        finally:
            torch.set_num_threads(previous_threads)
            torch.use_deterministic_algorithms(previous_deterministic)
        self.mapped_vectors_ = mapped.astype(np.float32)
        counts = np.zeros(train.n_items)
        counts[self.warm.warm_items_] = self.warm.counts_[self.warm.warm_items_]  # DP counts, Gram items only
        self.item_vectors_ = blend_by_count(known.astype(np.float32), self.mapped_vectors_, counts, self.item_trust)
        return self

    def _private_teacher(self, torch: Any, train: Interactions, features: np.ndarray) -> _Teacher:
        """The DP teacher as tensors: items scaled to unit std (a statistic of the DP release), users by the
        fixed ``sqrt(dimension)`` (``||p_u|| <= 1``: entries of unit RMS at most), so no scale is read off the raw clicks."""
        items = np.asarray(self.warm.item_vectors_, dtype=np.float64)
        gram_items = self.warm.warm_items_
        item_std = float(items[gram_items].std()) or 1.0
        users = self.warm.user_vectors([UserQuery(user=u) for u in range(train.n_users)]).astype(np.float64)
        user_scale = math.sqrt(items.shape[1])
        return _Teacher(
            users=torch.as_tensor((users * user_scale).astype(np.float32)),
            items=torch.as_tensor((items / item_std).astype(np.float32)),
            content=torch.as_tensor(np.asarray(features, dtype=np.float32)),
            pair_users=torch.zeros(0, dtype=torch.int64),  # DP-SGD takes pairs per user (see _user_pairs)
            pair_items=torch.zeros(0, dtype=torch.int64),
            warm_items=torch.as_tensor(gram_items.astype(np.int64)),
            user_scale=user_scale,
            item_scale=1.0 / item_std,
            # from the DP release's item vectors only: post-processing, no privacy cost
            identity_scale=_identity_scale(items[gram_items] / item_std),
        )

    def _user_pairs(self, train: Interactions) -> list[np.ndarray]:
        """Each user's training items: at most ``max_items`` (seeded sample), restricted to the teacher's items."""
        bounded = bound_contributions(training_matrix(train, binarize=True), self.max_items, seed=self._noise_seed(),
                                      user_ids=train.user_ids, item_ids=train.catalog.item_ids)
        known = np.zeros(train.n_items, dtype=bool)
        known[self.warm.warm_items_] = True
        out = []
        for u in range(train.n_users):
            own = bounded.indices[bounded.indptr[u] : bounded.indptr[u + 1]]
            out.append(np.sort(own[known[own]]).astype(np.int64))
        return out

    def _train_private(self, torch: Any, teacher: _Teacher, train: Interactions, params: dict[str, Any]) -> Any:
        """User-level DP-SGD: Poisson-sampled users, per-user gradients clipped and noised by Opacus' DPOptimizer."""
        n_users = train.n_users
        batch = min(self.batch_users, n_users)
        sample_rate = batch / n_users
        steps_per_epoch = int(1 / sample_rate)  # what Opacus' sampler yields per pass
        planned = self.epochs * steps_per_epoch
        if math.isinf(self.dp_epsilon):
            noise = 0.0
        else:
            noise = noise_multiplier_for_budget(self.dp_epsilon, self._delta, steps=planned, sample_rate=sample_rate,
                                                prior=self.stats_.accountant)
        seed = self._noise_seed()
        # torch's global generator (the network's initial weights, dropout) seeded inside a fork that is undone
        # on return: torch.manual_seed(seed) left torch.initial_seed() == the secret seed after fit, and from it
        # anyone could regenerate the release's and DP-SGD's noise
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._train_with_seed(torch, teacher, train, params, seed, noise, batch, sample_rate)

    def _train_with_seed(self, torch: Any, teacher: _Teacher, train: Interactions, params: dict[str, Any], seed: int,
                         noise: float, batch: int, sample_rate: float) -> Any:
        """The DP-SGD loop of :meth:`_train_private`, with torch's global generator already seeded in a fork."""
        from opacus.optimizers import DPOptimizer
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        n_users = train.n_users
        generator = torch.Generator().manual_seed(seed)  # the adapters' own randomness (dropout, negatives)
        sampling = torch.Generator().manual_seed(seed + 1)
        noise_generator = torch.Generator().manual_seed(seed + 2)
        net = self._network(torch, teacher, params)
        weights = [p for p in net.parameters() if p.requires_grad]
        with warnings.catch_warnings():
            # coldkit seeds the noise so a fit reproduces (see dpsgd.py: csprng is out of the threat model)
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            optimiser = DPOptimizer(
                torch.optim.Adam(weights, lr=params["lr"], weight_decay=self.weight_decay),
                noise_multiplier=noise, max_grad_norm=self.max_grad_norm, expected_batch_size=batch,
                loss_reduction="mean", generator=noise_generator,
            )
        sampler = UniformWithReplacementSampler(num_samples=n_users, sample_rate=sample_rate, generator=sampling)
        pairs = self._user_pairs(train)
        n_warm = int(teacher.warm_items.shape[0])
        steps = 0
        net.train()
        for _ in range(self.epochs):
            for sampled in sampler:
                users = [u for u in sampled if pairs[u].size]  # a user with no pair contributes a zero gradient
                per_user = [torch.zeros((len(users), *w.shape)) for w in weights]
                for row, u in enumerate(users):
                    items = torch.as_tensor(pairs[u])
                    negatives = teacher.warm_items[torch.randint(0, n_warm, (items.shape[0],), generator=generator)]
                    who = torch.full_like(items, u)
                    loss = self._batch_loss(torch, net, teacher, who, items, negatives, params, generator)
                    grads = torch.autograd.grad(loss, weights, allow_unused=True)
                    for k, g in enumerate(grads):
                        if g is not None:
                            per_user[k][row] = g
                for w, g in zip(weights, per_user):
                    w.grad_sample = g  # Opacus clips each user's row, sums, adds N(0, (zC)²), divides by batch
                optimiser.step()  # an empty sample still takes a (pure-noise) step, as the accounting assumes
                optimiser.zero_grad()
                steps += 1
        self.accountant_ = PrivacyAccountant(delta=self._delta, entries=list(self.stats_.accountant.entries),
                                             infinite=list(self.stats_.accountant.infinite))
        if noise > 0:
            self.accountant_.add_gaussian(noise * self.max_grad_norm, self.max_grad_norm, steps=steps,
                                          sample_rate=sample_rate, name="dp-sgd")
        else:
            self.accountant_.add_gaussian(0.0, name="sgd (no noise)")
        self.noise_multiplier_, self.steps_, self.sample_rate_ = noise, steps, sample_rate
        return net.eval()

    # ----------------------------------------------------------------- privacy

    def _tie_break_counts(self) -> np.ndarray:
        """The teacher's public DP counts (the raw ones would leak): orders a list of a query without clicks."""
        if getattr(self, "stats_", None) is None:
            raise NotFittedError(f"{self.name}: call fit(train) before recommend()")
        return self.stats_.public_counts()

    def privacy_spent(self) -> PrivacySpent:
        """``(epsilon, delta)`` of the DP teacher and the DP-SGD steps together (``inf`` without noise)."""
        if self.accountant_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) first")
        return self.accountant_.privacy_spent()

    def privacy_report(self) -> dict[str, Any]:
        """JSON-ready ``{"epsilon", "delta", "mechanisms", ...}`` (results files, CLI)."""
        if self.accountant_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) first")
        return {**self.accountant_.to_dict(), "max_items": self.max_items, "clip": self.clip,
                "max_grad_norm": self.max_grad_norm, "noise_multiplier": self.noise_multiplier_}


class DPDropoutNet(DPPublishedModel, DropoutNet):
    """DropoutNet trained with user-level DP (DP teacher + DP-SGD); see :mod:`coldkit.privacy.adapters`."""

    name = "dp-dropoutnet"


class DPHeater(DPPublishedModel, Heater):
    """Heater trained with user-level DP (DP teacher + DP-SGD); see :mod:`coldkit.privacy.adapters`."""

    name = "dp-heater"


class DPCLCRec(DPPublishedModel, CLCRec):
    """CLCRec trained with user-level DP (DP teacher + DP-SGD); see :mod:`coldkit.privacy.adapters`."""

    name = "dp-clcrec"


class DPALDI(DPPublishedModel, ALDI):
    """ALDI trained with user-level DP (DP teacher + DP-SGD); see :mod:`coldkit.privacy.adapters`."""

    name = "dp-aldi"
