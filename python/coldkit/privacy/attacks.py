"""Empirical membership inference: how much a released model tells an attacker about who trained it.

(ε, δ)-DP bounds every attack at once; these measure concrete attacks, to check that an implementation
delivers what its accountant claims (a code path that skips the noise shows up here, not in the ledger)
and to put the privacy–utility trade in numbers. One place for coldkit's attacks; docs/privacy.md lists
what they measured.

* :func:`dp_advantage_bound` — the largest ``TPR − FPR`` any test can reach against (ε, δ)-DP.
* :func:`popularity_canary_advantage` — one target user, the only user of a few *canary* items: is the
  target in the data behind a ``dp-popularity`` release? (worlds with and without the target, many fits.)
* :func:`membership_inference` — a population attack on any model that scores new users by their
  clicks (the private published adapters, ``dp-hybrid``...): fit on a random half of the users (the
  *members*), then tell members from non-members by how high the released model ranks each user's own
  items (the rank-threshold attack of Yeom et al., CSF 2018, with ranks instead of losses). Reported as
  the attack's ROC AUC over all thresholds (``advantage = AUC − 0.5``), beside the same ranks for
  non-members: the model's utility on users it never saw (0.5 = chance), so that "no advantage" from a
  model that learnt nothing is visible as such.
* :func:`taste_population` — the reference population for :func:`membership_inference`: users of two
  tastes with random picks, so a model can both generalise (the tastes) and memorise (the picks).

Example::

    from coldkit.models.registry import build_model
    from coldkit.privacy.attacks import membership_inference, taste_population

    data = taste_population(n_users=1200, seed=0)
    model = build_model("dp-dropoutnet", dp_epsilon=8.0, encoder="hashing", factors=8, seed=0)
    membership_inference(model, data, seed=0)   # MembershipResult(auc=0.57..., ...)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_k

__all__ = [
    "MembershipResult",
    "dp_advantage_bound",
    "membership_inference",
    "own_item_ranks",
    "popularity_canary_advantage",
    "roc_auc",
    "taste_population",
]


def dp_advantage_bound(epsilon: float, delta: float) -> float:
    """The largest ``TPR − FPR`` of any membership test against an (ε, δ)-DP release:
    ``(e^ε − 1 + 2δ) / (e^ε + 1)`` (from ``TPR ≤ e^ε FPR + δ`` and the same for the complements)."""
    epsilon, delta = _number(epsilon, "epsilon"), _number(delta, "delta")
    if epsilon < 0:
        raise InvalidInputError(f"epsilon must be >= 0 (inf: no privacy), got {epsilon}")
    if not 0.0 <= delta <= 1.0:
        raise InvalidInputError(f"delta must be in [0, 1], got {delta}")
    if math.isinf(epsilon):
        return 1.0
    return min(1.0, (math.exp(epsilon) - 1.0 + 2.0 * delta) / (math.exp(epsilon) + 1.0))


def _number(value: Any, name: str) -> float:
    """``value`` as a float that is not NaN, or a clear error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if math.isnan(float(value)):
        raise InvalidInputError(f"{name} must be a number, got NaN")
    return float(value)


def _seed(seed: Any) -> int:
    """``seed`` as an int >= 0 (what numpy's generators take), or a clear error."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def roc_auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """P(a member's statistic > a non-member's), ties counting one half (the Mann–Whitney U / n·m)."""
    a, b = np.asarray(members, dtype=np.float64).ravel(), np.asarray(nonmembers, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise InvalidInputError("roc_auc needs at least one member and one non-member statistic")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InvalidInputError("roc_auc: the statistics must be finite (a NaN or inf has no rank)")
    ranks = rankdata(np.concatenate([a, b]), method="average")  # ties share their mean rank
    return float((ranks[: a.size].sum() - a.size * (a.size + 1) / 2.0) / (a.size * b.size))


# ------------------------------------------------------------------------------------------ canary attack


def _two_taste_matrix(n_users: int, n_items: int, seed: int, density: float = 0.15) -> sp.csr_matrix:
    """Users with two tastes (even / odd items), each item taken independently."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 2, n_users)
    p = np.where((np.arange(n_items)[None, :] % 2) == taste[:, None], 2 * density, density / 4)
    return sp.csr_matrix((rng.random((n_users, n_items)) < p).astype(np.float32))


def _catalog(n_items: int) -> Catalog:
    table = pd.DataFrame({"title": [f"item {j} {'comedy heist' if j % 2 else 'drama war'}" for j in range(n_items)]})
    return Catalog(np.array([f"i{j}" for j in range(n_items)]), table, ("title",))


def popularity_canary_advantage(
    epsilon: float, trials: int = 300, delta: float = 1e-4, n_users: int = 300, canaries: int = 5, seed: int = 3
) -> float:
    """``TPR − FPR`` of a threshold attack on ``dp-popularity``'s released counts.

    Two worlds: ``n_users`` two-taste users who never take the last ``canaries`` items, plus one more
    user who is either the target (takes exactly the canaries) or empty. The attacker reads the noisy
    counts of the canaries and says "in" when their sum exceeds half of what the target contributes.
    Each world is released ``trials`` times (noise seeds ``0..trials-1``, ``max_items = canaries``).
    """
    from coldkit.privacy.models import DPPopularity  # the model under attack; the helpers above need no model

    trials, n_users, canaries = check_k(trials, "trials"), check_k(n_users, "n_users"), check_k(canaries, "canaries")
    seed = _seed(seed)

    n_items = 40 + canaries
    base = _two_taste_matrix(n_users, n_items, seed).tolil()
    base[:, n_items - canaries :] = 0
    target = np.zeros((1, n_items), dtype=np.float32)
    target[0, n_items - canaries :] = 1
    users = np.array([f"u{j}" for j in range(n_users + 1)])
    catalog = _catalog(n_items)
    hits = {}
    for member, row in ((True, target), (False, np.zeros_like(target))):
        world = Interactions(users, catalog, sp.vstack([sp.csr_matrix(base), sp.csr_matrix(row)]).tocsr())
        hits[member] = 0
        for t in range(trials):
            model = DPPopularity(dp_epsilon=epsilon, dp_delta=delta, max_items=canaries, seed=t).fit(world)
            assert model.stats_ is not None
            hits[member] += int(model.stats_.counts[n_items - canaries :].sum() > canaries / 2)
    return hits[True] / trials - hits[False] / trials


# ------------------------------------------------------------------------------------------ population attack


@dataclass(frozen=True)
class MembershipResult:
    """One run of :func:`membership_inference`.

    Attributes:
        auc: P(member's own-item rank > non-member's): 0.5 = the attacker learns nothing.
        advantage: ``auc − 0.5``.
        member_rank: mean own-item rank (share of the catalogue scored below a user's own items) of the members.
        nonmember_rank: the same for non-members: the model's utility on users it never saw (0.5 = chance).
        members: members attacked (as many non-members).
    """

    auc: float
    advantage: float
    member_rank: float
    nonmember_rank: float
    members: int


def taste_population(n_users: int = 1200, n_items: int = 40, per_user: int = 6, seed: int = 0) -> Interactions:
    """Users of two tastes (even / odd items, 4:1 odds), each taking ``per_user`` distinct items at random.

    Why this shape: the tastes are what a model should learn (shared by many users); which ``per_user``
    items a user took is noise only a memorising model knows, which is what the attack detects. Few items
    per user and few users per model make memorising easy without privacy.
    """
    n_users, n_items, per_user = check_k(n_users, "n_users"), check_k(n_items, "n_items"), check_k(per_user, "per_user")
    seed = _seed(seed)
    if per_user > n_items:
        raise InvalidInputError(f"taste_population: per_user ({per_user}) exceeds n_items ({n_items})")
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(n_users):
        odds = np.where(np.arange(n_items) % 2 == u % 2, 4.0, 1.0)
        cols.append(rng.choice(n_items, size=per_user, replace=False, p=odds / odds.sum()))
        rows.append(np.full(per_user, u))
    matrix = sp.csr_matrix(
        (np.ones(n_users * per_user, np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n_users, n_items)
    )
    return Interactions(np.array([f"u{j}" for j in range(n_users)]), _catalog(n_items), matrix)


def _check_items(n_items: int) -> None:
    """An own item's rank is a share of the *other* items: a one-item catalogue has none."""
    if n_items < 2:
        raise InvalidInputError(f"the rank attack needs a catalogue of at least 2 items, got {n_items}")


def own_item_ranks(model: Any, histories: list[np.ndarray]) -> np.ndarray:
    """(B,) for each click history: the mean over its items of the share of the catalogue the fitted
    ``model`` scores below that item (ties count one half), querying ``UserQuery(history=...)``.

    A black-box statistic: only the model's full scored list is read, so any recommender that takes new
    users' clicks can be attacked."""
    queries = [UserQuery(history=np.asarray(h, dtype=np.int64)) for h in histories]
    empty = [b for b, query in enumerate(queries) if query.history.size == 0]
    if empty:
        raise InvalidInputError(f"own_item_ranks: history {empty[0]} is empty (an own-item rank needs an item)")
    n_items = model.train_.n_items
    _check_items(n_items)
    ranked = model.recommend(queries, n_items, exclude_known=False)
    out = np.empty(len(queries))
    for b, (indices, scores) in enumerate(zip(ranked.indices, ranked.scores)):
        full = np.full(n_items, -np.inf)
        keep = indices >= 0
        full[indices[keep]] = scores[keep]
        own = full[queries[b].history][:, None]
        out[b] = float(np.mean((full[None, :] < own).sum(1) + 0.5 * ((full[None, :] == own).sum(1) - 1))) / (n_items - 1)
    return out


def membership_inference(model: Any, data: Interactions, seed: int = 0) -> MembershipResult:
    """Fit ``model`` on a random half of ``data``'s users (a fitted model is refitted) and attack it (see the module docstring).

    Members and non-members are queried the same way (their clicks as a new user's ``history``), so the
    only difference the attacker can see is whether the model was trained on them. ``seed`` picks the halves.
    """
    if not isinstance(data, Interactions):
        raise InvalidInputError(f"membership_inference needs coldkit Interactions, got {type(data).__name__}")
    if isinstance(model, type) or not (callable(getattr(model, "fit", None)) and callable(getattr(model, "recommend", None))):
        raise InvalidInputError(
            f"membership_inference needs a model instance with fit() and recommend() (e.g. "
            f"coldkit.models.create('dp-dropoutnet', ...)), got {model!r}"
        )
    seed = _seed(seed)
    _check_items(data.n_items)  # before the fit, which may take long
    active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
    if active.size < 4:
        raise InvalidInputError(f"membership_inference needs at least 4 users with clicks, got {active.size}")
    order = np.random.default_rng(seed).permutation(active)
    members, nonmembers = np.sort(order[: active.size // 2]), np.sort(order[active.size // 2 : 2 * (active.size // 2)])
    matrix = sp.csr_matrix(data.matrix)
    train = Interactions(np.asarray(data.user_ids)[members], data.catalog, matrix[members])
    model.fit(train)

    def histories(users: np.ndarray) -> list[np.ndarray]:
        return [matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]] for u in users]

    inside, outside = own_item_ranks(model, histories(members)), own_item_ranks(model, histories(nonmembers))
    auc = roc_auc(inside, outside)
    return MembershipResult(auc=auc, advantage=auc - 0.5, member_rank=float(inside.mean()),
                            nonmember_rank=float(outside.mean()), members=int(members.size))
