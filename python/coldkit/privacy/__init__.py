"""User-level differential privacy for everything coldkit learns from interactions.

* :mod:`coldkit.privacy.accountant` — :class:`PrivacyAccountant` (Gaussian / Laplace under Rényi DP,
  converted to ``(ε, δ)``), budget checks and noise calibration; reusable by any trainer;
* :mod:`coldkit.privacy.bounding` — per-user contribution bounding (reproducible sampling, row clipping);
* :mod:`coldkit.privacy.mechanisms` — DP item counts and DP item–item Gram matrices;
* :mod:`coldkit.privacy.models` — the private recommenders (``dp-popularity``, ``dp-item-knn``,
  ``dp-ease``, ``dp-hybrid``) and the no-sharing baseline (``own-content``);
* :mod:`coldkit.privacy.dpsgd` — DP-SGD for torch adapters with Opacus (optional extra ``privacy``);
* :mod:`coldkit.privacy.adapters` — the published torch cold-item adapters in private mode (``dp-dropoutnet``,
  ``dp-heater``, ``dp-clcrec``, ``dp-aldi``): a DP teacher plus user-level DP-SGD (Opacus);
* :mod:`coldkit.privacy.attacks` — empirical membership inference (the canary attack on DP popularity, the
  population rank attack on any model that scores new users' clicks, e.g. the private adapters);
* :mod:`coldkit.privacy.federated` — the ``federated`` model (item factors and the content→CF adapter
  trained over simulated Flower clients, optional DP on client updates; extra ``federated``) and
  ``local_user_vector`` for on-device scoring; :mod:`coldkit.privacy.flower` — its Flower client/strategy.

Only the accountant is imported here (numpy + scipy); the rest loads on first use.
See docs/privacy.md for the threat model and the privacy–utility measurements.
"""

from __future__ import annotations

from coldkit.privacy.accountant import (
    PrivacyAccountant,
    PrivacySpent,
    analytic_gaussian_sigma,
    check_budget,
    rho_for_budget,
    sigma_for_rho,
    zcdp_to_dp,
)

__all__ = [
    "PrivacyAccountant",
    "PrivacySpent",
    "analytic_gaussian_sigma",
    "check_budget",
    "rho_for_budget",
    "sigma_for_rho",
    "zcdp_to_dp",
]
