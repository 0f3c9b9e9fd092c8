"""Privacy accounting: compose Gaussian and Laplace mechanisms under Rényi DP and report (ε, δ).

Every mechanism coldkit runs on interactions is recorded in a :class:`PrivacyAccountant`. The
accountant keeps each mechanism's Rényi-DP curve ``RDP(α)`` (Mironov 2017), adds the curves
(RDP composes by addition, order by order) and converts the total to ``(ε, δ)`` with the
conversion of Balle et al. 2020 (the one Opacus uses), minimised over the orders ``α``:

    ε(δ) = min_α  RDP(α) + log((α-1)/α) - (log δ + log α) / (α - 1)

Curves:

* Gaussian mechanism, noise ``σ`` on a query of L2 sensitivity ``Δ`` (noise multiplier ``z = σ/Δ``):
  ``RDP(α) = α / (2 z²)``, i.e. ρ-zCDP with ``ρ = 1/(2 z²)`` (Bun & Steinke 2016);
* Poisson-subsampled Gaussian (DP-SGD), sample rate ``q`` < 1: the exact binomial expansion at
  integer orders (Mironov, Talwar & Zhang 2019); non-integer orders are left out for it;
* Laplace mechanism giving ``ε₀``-DP: ``RDP(α) = 1/(α-1) log(α/(2α-1) e^{(α-1)ε₀} + (α-1)/(2α-1) e^{-αε₀})``
  (Mironov 2017, Prop. 6), never above ``ε₀``.

Budget splitting works in zCDP: :func:`rho_for_budget` gives the total ρ a target ``(ε, δ)`` allows,
a caller splits ρ across its statistics and calibrates each one's σ with :func:`sigma_for_rho`.

Example::

    from coldkit.privacy.accountant import PrivacyAccountant, rho_for_budget, sigma_for_rho

    rho = rho_for_budget(epsilon=1.0, delta=1e-6)            # what (1, 1e-6)-DP allows in zCDP
    acc = PrivacyAccountant(delta=1e-6)
    acc.add_gaussian(sigma=sigma_for_rho(rho / 2, sensitivity=1.0), sensitivity=1.0, name="counts")
    acc.add_gaussian(sigma=sigma_for_rho(rho / 2, sensitivity=1.0), sensitivity=1.0, name="gram")
    eps, delta = acc.privacy_spent()                         # eps <= 1.0 (up to the bisection's tolerance)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np
from scipy.special import gammaln, log_ndtr, logsumexp, ndtr  # ndtr is norm.cdf, without importing scipy.stats (0.7 s)

from coldkit.exceptions import InvalidInputError
from coldkit.validation import check_k

__all__ = [
    "PrivacySpent",
    "PrivacyAccountant",
    "DEFAULT_ORDERS",
    "gaussian_rdp",
    "subsampled_gaussian_rdp",
    "laplace_rdp",
    "rdp_to_dp",
    "zcdp_to_dp",
    "rho_for_budget",
    "sigma_for_rho",
    "analytic_gaussian_delta",
    "analytic_gaussian_sigma",
    "check_budget",
    "noise_multiplier_for_budget",
    "INTEGER_ORDERS",
]

#: The Rényi orders the accountant minimises over: dense near 1 (small ε) and up to 10⁴ (large ε),
#: plus every integer to 256 (where the subsampled Gaussian is exact).
DEFAULT_ORDERS: np.ndarray = np.unique(np.concatenate([1.0 + np.geomspace(1e-3, 1e4, 1500), np.arange(2, 257)]))


#: The orders where the subsampled Gaussian's RDP is exact (used for DP-SGD / sampled client updates).
INTEGER_ORDERS: np.ndarray = np.arange(2, 257, dtype=np.float64)


#: The smallest ε :func:`check_budget` accepts.
MIN_EPSILON = 1e-6


class PrivacySpent(NamedTuple):
    """The ``(epsilon, delta)`` a model's training spent (unpacks like a tuple)."""

    epsilon: float
    delta: float


def check_budget(epsilon: float, delta: float, n_users: int | None = None) -> tuple[float, float]:
    """Validate a privacy budget; returns ``(epsilon, delta)`` as floats.

    ``epsilon`` must be > 0 (``math.inf`` means "no privacy", allowed); ``delta`` in (0, 1), and
    below ``1 / n_users`` when the number of users is known (a δ of 1/n lets a mechanism publish
    one user's data outright and still be "(ε, δ)-DP").

    Raises:
        InvalidInputError: naming the bad value and the rule it breaks.
    """
    for label, value in (("dp_epsilon", epsilon), ("dp_delta", delta)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            # float(True) is 1.0: dp_epsilon=True ran as a (1, δ)-DP model instead of being refused; a
            # string ("1", from a config) passed through float() and was reported back as the string
            raise InvalidInputError(f"{label} must be a number, got {type(value).__name__} {value!r}")
    try:
        eps, dlt = float(epsilon), float(delta)
    except (TypeError, ValueError):
        raise InvalidInputError(f"dp_epsilon and dp_delta must be numbers, got {epsilon!r} and {delta!r}") from None
    if math.isnan(eps) or eps <= 0:
        raise InvalidInputError(f"dp_epsilon must be > 0 (inf = no privacy), got {epsilon!r}")
    if eps < MIN_EPSILON:
        # at ε = 1e-17 the accountant's float64 sums reported 1.02e-17 spent, above the budget; far
        # before that the noise is millions of times every count, so nothing is learned anyway
        raise InvalidInputError(
            f"dp_epsilon must be at least {MIN_EPSILON:g} (below it the noise drowns everything learned and the "
            f"accountant cannot certify the budget in float64), got {epsilon!r}"
        )
    if not math.isfinite(dlt) or not 0 < dlt < 1:
        raise InvalidInputError(f"dp_delta must be in (0, 1), got {delta!r}")
    if n_users is not None and n_users > 0 and dlt >= 1.0 / n_users:
        raise InvalidInputError(
            f"dp_delta={dlt:g} is not below 1/users = 1/{n_users} = {1.0 / n_users:.3g}: such a δ allows publishing "
            f"a whole user's data; use e.g. dp_delta={1.0 / (10 * n_users):.2g}"
        )
    return eps, dlt


def _orders(orders: Sequence[float] | np.ndarray | None) -> np.ndarray:
    out = DEFAULT_ORDERS if orders is None else np.asarray(orders, dtype=np.float64)
    if out.ndim != 1 or out.size == 0 or np.any(~np.isfinite(out)) or np.any(out <= 1):
        raise InvalidInputError("Rényi orders must be a non-empty list of finite numbers > 1")
    return out


def _positive(label: str, value: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise InvalidInputError(f"{label} must be a finite number > 0, got {value!r}")
    return x


def gaussian_rdp(orders: Sequence[float] | np.ndarray, noise_multiplier: float) -> np.ndarray:
    """RDP of one Gaussian mechanism with ``σ = noise_multiplier · Δ``: ``α / (2 z²)``."""
    z = _positive("noise_multiplier", noise_multiplier)
    return np.asarray(orders, dtype=np.float64) / (2.0 * z * z)


def subsampled_gaussian_rdp(orders: Sequence[float] | np.ndarray, noise_multiplier: float, sample_rate: float) -> np.ndarray:
    """RDP of one step of the Poisson-subsampled Gaussian mechanism (DP-SGD).

    Exact at integer orders (``log Σ_k C(α,k) (1-q)^{α-k} q^k e^{(k²-k)/(2z²)} / (α-1)``,
    Mironov, Talwar & Zhang 2019); ``inf`` (unused by the minimisation) at non-integer orders
    when ``sample_rate < 1``.
    """
    z = _positive("noise_multiplier", noise_multiplier)
    q = float(sample_rate)
    if not 0 < q <= 1:
        raise InvalidInputError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    alphas = np.asarray(orders, dtype=np.float64)
    if q == 1.0:
        return gaussian_rdp(alphas, z)
    out = np.full(alphas.shape, np.inf)
    integer = alphas == np.floor(alphas)

    def log_terms(a: np.ndarray, k: np.ndarray) -> np.ndarray:
        log_binom = gammaln(a + 1) - gammaln(k + 1) - gammaln(a - k + 1)
        return log_binom + (a - k) * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * z * z)  # type: ignore[no-any-return]

    # the usual orders (<= 512) all at once, one row per order with the terms k > α masked out:
    # calibration calls this inside a bisection, where a Python loop over them cost seconds per fit
    small = np.flatnonzero(integer & (alphas <= 512))
    if small.size:
        a = alphas[small][:, None]
        k = np.arange(int(a.max()) + 1, dtype=np.float64)[None, :]
        valid = k <= a
        terms = np.where(valid, log_terms(a, np.where(valid, k, 0.0)), -np.inf)
        out[small] = logsumexp(terms, axis=1) / (a[:, 0] - 1)
    for i in np.flatnonzero(integer & (alphas > 512)):  # rare very large orders, one at a time
        k = np.arange(int(alphas[i]) + 1, dtype=np.float64)
        out[i] = float(logsumexp(log_terms(np.float64(alphas[i]), k))) / (alphas[i] - 1)
    return out


def laplace_rdp(orders: Sequence[float] | np.ndarray, epsilon0: float) -> np.ndarray:
    """RDP of the Laplace mechanism with scale ``Δ/ε₀`` (Mironov 2017, Prop. 6), capped at ``ε₀``."""
    e0 = _positive("epsilon0", epsilon0)
    a = np.asarray(orders, dtype=np.float64)
    log_terms = np.logaddexp(
        np.log(a / (2 * a - 1)) + (a - 1) * e0,
        np.log((a - 1) / (2 * a - 1)) - a * e0,
    )
    return np.minimum(log_terms / (a - 1), e0)


def rdp_to_dp(orders: Sequence[float] | np.ndarray, rdp: Sequence[float] | np.ndarray, delta: float) -> tuple[float, float]:
    """The smallest ε over ``orders`` for ``delta`` (Balle et al. 2020; Opacus' conversion); returns ``(ε, best α)``."""
    a = _orders(orders)
    r = np.asarray(rdp, dtype=np.float64)
    if r.shape != a.shape:
        raise InvalidInputError(f"rdp has shape {r.shape}, orders {a.shape}")
    if not 0 < delta < 1:
        raise InvalidInputError(f"delta must be in (0, 1), got {delta!r}")
    with np.errstate(invalid="ignore", over="ignore"):
        eps = r - (math.log(delta) + np.log(a)) / (a - 1) + np.log((a - 1) / a)
    eps = np.where(np.isnan(eps), np.inf, eps)
    best = int(np.argmin(eps))
    return max(float(eps[best]), 0.0), float(a[best])


def zcdp_to_dp(rho: float, delta: float) -> float:
    """ε of ρ-zCDP at ``delta`` (RDP ``αρ`` converted as :func:`rdp_to_dp`, minimised over real α)."""
    if rho == 0:
        return 0.0
    if not math.isfinite(rho):
        return math.inf
    from scipy.optimize import minimize_scalar

    def eps(alpha: float) -> float:
        return alpha * rho - (math.log(delta) + math.log(alpha)) / (alpha - 1) + math.log((alpha - 1) / alpha)

    with np.errstate(over="ignore"):  # ε = 1e308 asks for ρ near the float limit: α·ρ is inf there, which is right
        grid_eps, grid_alpha = rdp_to_dp(DEFAULT_ORDERS, DEFAULT_ORDERS * rho, delta)
    lo, hi = max(1.0 + 1e-9, grid_alpha / 1.5), grid_alpha * 1.5
    found = minimize_scalar(eps, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return max(min(grid_eps, float(found.fun)), 0.0)


def rho_for_budget(epsilon: float, delta: float) -> float:
    """The largest zCDP ρ whose conversion (:func:`zcdp_to_dp`) stays within ``(epsilon, delta)``.

    ``epsilon = inf`` gives ``inf`` (no noise).
    """
    eps, dlt = check_budget(epsilon, delta)
    if math.isinf(eps):
        return math.inf
    lo, hi = 0.0, max(eps, 1.0)
    while zcdp_to_dp(hi, dlt) < eps:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if zcdp_to_dp(mid, dlt) <= eps:
            lo = mid
        else:
            hi = mid
    # a hair under the bound: ρ → σ → ρ again (and a budget split over mechanisms) rounds in the last
    # bits, and privacy_spent() reported ε = 1.0000000000000002 for a budget of 1
    return lo * (1.0 - 1e-9)


def sigma_for_rho(rho: float, sensitivity: float) -> float:
    """Gaussian noise σ giving ρ-zCDP for a query of L2 ``sensitivity``: ``Δ / sqrt(2ρ)`` (0 for ρ = inf)."""
    if math.isinf(rho):
        return 0.0
    return _positive("sensitivity", sensitivity) / math.sqrt(2.0 * _positive("rho", rho))


def analytic_gaussian_delta(epsilon: float, noise_multiplier: float) -> float:
    """The exact δ(ε) of one Gaussian mechanism (Balle & Wang 2018, Thm. 8), ``z = σ/Δ``:
    ``Φ(1/(2z) - εz) - e^ε Φ(-1/(2z) - εz)``."""
    z = _positive("noise_multiplier", noise_multiplier)
    eps = float(epsilon)
    # e^ε·Φ(x) in log space: math.exp(ε) overflowed (OverflowError) from ε ≈ 710 on
    return float(ndtr(0.5 / z - eps * z) - math.exp(eps + log_ndtr(-0.5 / z - eps * z)))


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """The smallest σ for which one Gaussian mechanism is (ε, δ)-DP (bisection on :func:`analytic_gaussian_delta`)."""
    eps, dlt = check_budget(epsilon, delta)
    scale = _positive("sensitivity", sensitivity)
    if math.isinf(eps):  # no privacy asked: no noise (the bisection's NaN δ returned its floor, 1e-4·Δ)
        return 0.0
    lo, hi = 1e-4, 1.0
    while analytic_gaussian_delta(eps, hi) > dlt:
        hi *= 2.0
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if analytic_gaussian_delta(eps, mid) > dlt:
            lo = mid
        else:
            hi = mid
    return hi * scale


def noise_multiplier_for_budget(
    epsilon: float, delta: float, *, steps: int, sample_rate: float = 1.0, prior: "PrivacyAccountant | None" = None
) -> float:
    """The smallest noise multiplier ``z = σ/Δ`` for which ``steps`` Poisson-sampled Gaussian steps stay
    within ``(epsilon, delta)`` by this module's accounting (0 for ``epsilon = inf``).

    Use it to calibrate DP-SGD or DP federated rounds so that :meth:`PrivacyAccountant.privacy_spent`
    reports at most the target. ``prior``: mechanisms already run on the same users (e.g. DP statistics
    released before training); the steps then get what is left of the budget after composing with them.

    Example::

        z = noise_multiplier_for_budget(4.0, 1e-5, steps=500, sample_rate=0.01)
    """
    eps, dlt = check_budget(epsilon, delta)
    if math.isinf(eps):
        return 0.0
    steps = check_k(steps, "steps")  # 2.5 was calibrated for 2 steps
    before = [] if prior is None else list(prior.entries)
    if prior is not None and prior.infinite:
        raise InvalidInputError(f"the prior mechanisms {prior.infinite} added no noise: no budget is left to calibrate")
    subsampled = sample_rate < 1 or any(e.params.get("sample_rate", 1.0) < 1 for e in before)
    orders = INTEGER_ORDERS if subsampled else DEFAULT_ORDERS
    if before:
        already = PrivacyAccountant(delta=dlt, entries=list(before)).privacy_spent(orders=orders).epsilon
        if already >= eps:
            raise InvalidInputError(f"the prior mechanisms already spend ε={already:.4g} of ε={eps:g}: nothing is left")

    def spent(z: float) -> float:
        acc = PrivacyAccountant(delta=dlt, entries=list(before)).add_gaussian(z, 1.0, steps=int(steps), sample_rate=sample_rate)
        return acc.privacy_spent(orders=orders).epsilon

    lo, hi = 1e-3, 1.0
    while spent(hi) > eps:
        hi *= 2.0
        if hi > 1e6:
            raise InvalidInputError(f"no noise multiplier reaches ε={eps:g} with {steps} steps at sample rate {sample_rate:g}")
    while hi / lo > 1 + 1e-6:
        mid = math.sqrt(lo * hi)
        if spent(mid) > eps:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class _Entry:
    kind: str
    name: str
    params: dict[str, float]
    steps: int

    def rdp(self, orders: np.ndarray) -> np.ndarray:
        if self.kind == "gaussian":
            curve = subsampled_gaussian_rdp(orders, self.params["noise_multiplier"], self.params["sample_rate"])
        else:
            curve = laplace_rdp(orders, self.params["epsilon0"])
        return self.steps * curve


@dataclass
class PrivacyAccountant:
    """A ledger of the mechanisms run on one data set, and the (ε, δ) they spent together.

    ``delta`` is the default δ of :meth:`privacy_spent`. Mechanisms with no noise (``sigma=0``)
    make the total ε infinite. Reusable by any trainer: record each release with
    :meth:`add_gaussian` / :meth:`add_laplace`, read :meth:`privacy_spent`.

    Example::

        acc = PrivacyAccountant(delta=1e-5)
        acc.add_gaussian(sigma=2.0, sensitivity=1.0, steps=100, sample_rate=0.01, name="dp-sgd")
        acc.privacy_spent()          # PrivacySpent(epsilon=..., delta=1e-05)
    """

    delta: float | None = None
    entries: list[_Entry] = field(default_factory=list)
    infinite: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # checked here: PrivacyAccountant(delta=2.0) was taken, and privacy_spent() then blamed "got None",
        # the value of its own (unset) argument
        if self.delta is not None and (
            isinstance(self.delta, bool) or not isinstance(self.delta, (int, float, np.integer, np.floating))
            or not 0 < float(self.delta) < 1
        ):
            raise InvalidInputError(f"PrivacyAccountant: delta must be a number in (0, 1), got {self.delta!r}")

    def add_gaussian(
        self, sigma: float, sensitivity: float = 1.0, *, steps: int = 1, sample_rate: float = 1.0, name: str = "gaussian"
    ) -> "PrivacyAccountant":
        """Record ``steps`` runs of a Gaussian mechanism (noise ``sigma`` on a query of L2 ``sensitivity``),
        each on a Poisson sample of rate ``sample_rate`` of the users. ``sigma=0`` = no privacy."""
        delta_l2 = _positive("sensitivity", sensitivity)
        steps = check_k(steps, "steps")  # 2.7 was recorded as 2 steps, and "3" taken as text
        if float(sigma) == 0.0:
            self.infinite.append(name)
            return self
        z = _positive("sigma", sigma) / delta_l2
        if not 0 < float(sample_rate) <= 1:
            raise InvalidInputError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
        self.entries.append(_Entry("gaussian", name, {"noise_multiplier": z, "sample_rate": float(sample_rate)}, int(steps)))
        return self

    def add_laplace(self, epsilon0: float, *, steps: int = 1, name: str = "laplace") -> "PrivacyAccountant":
        """Record ``steps`` runs of an ``epsilon0``-DP Laplace mechanism (scale ``Δ/ε₀``); ``inf`` = no privacy."""
        steps = check_k(steps, "steps")  # 2.7 was recorded as 2 steps, and "3" taken as text
        if math.isinf(float(epsilon0)):
            self.infinite.append(name)
            return self
        self.entries.append(_Entry("laplace", name, {"epsilon0": _positive("epsilon0", epsilon0)}, int(steps)))
        return self

    def rdp(self, orders: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """The total RDP curve at ``orders`` (default :data:`DEFAULT_ORDERS`)."""
        a = _orders(orders)
        total = np.zeros_like(a)
        for entry in self.entries:
            total = total + entry.rdp(a)
        return total

    def privacy_spent(self, delta: float | None = None, orders: Sequence[float] | np.ndarray | None = None) -> PrivacySpent:
        """``(epsilon, delta)`` of everything recorded (``delta`` defaults to the accountant's).

        Full-batch Gaussian mechanisms alone are zCDP and are converted exactly over real orders;
        otherwise the minimum is taken over ``orders``.
        """
        dlt = self.delta if delta is None else delta
        if dlt is None:
            raise InvalidInputError("privacy_spent needs a delta (PrivacyAccountant(delta=...) or privacy_spent(delta=...))")
        dlt = float(dlt)
        if not 0 < dlt < 1:
            raise InvalidInputError(f"delta must be in (0, 1), got {dlt!r}")
        if self.infinite:
            return PrivacySpent(math.inf, dlt)
        if not self.entries:
            return PrivacySpent(0.0, dlt)
        full_gaussian = all(e.kind == "gaussian" and e.params["sample_rate"] == 1.0 for e in self.entries)
        if full_gaussian and orders is None:
            rho = sum(e.steps / (2 * e.params["noise_multiplier"] ** 2) for e in self.entries)
            return PrivacySpent(zcdp_to_dp(rho, dlt), dlt)
        a = _orders(orders)
        eps, _ = rdp_to_dp(a, self.rdp(a), dlt)
        if all(e.kind == "laplace" for e in self.entries):  # pure DP: basic composition may be tighter
            eps = min(eps, sum(e.steps * e.params["epsilon0"] for e in self.entries))
        return PrivacySpent(eps, dlt)

    def ledger(self) -> list[dict[str, Any]]:
        """One JSON-ready row per recorded mechanism (name, kind, parameters, steps)."""
        rows = [{"name": e.name, "mechanism": e.kind, "steps": e.steps, **e.params} for e in self.entries]
        rows += [{"name": name, "mechanism": "none", "steps": 1} for name in self.infinite]
        return rows

    def to_dict(self, delta: float | None = None) -> dict[str, Any]:
        """``{"epsilon", "delta", "mechanisms": [...]}`` for results files (``epsilon`` None when infinite)."""
        spent = self.privacy_spent(delta)
        return {
            "epsilon": spent.epsilon if math.isfinite(spent.epsilon) else None,
            "delta": spent.delta,
            "mechanisms": self.ledger(),
        }
