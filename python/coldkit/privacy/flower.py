"""The Flower side of federated training: one ``NumPyClient`` per simulated client, one FedAvg strategy.

Imported only when a federated model is fitted (``flwr`` is the optional extra ``federated``), so
the rest of coldkit imports without it. The numerics live in :mod:`coldkit.privacy.federated`
(:func:`~coldkit.privacy.federated.factor_update`, :func:`~coldkit.privacy.federated.user_counts`);
this module only carries them through Flower's messages:

* :class:`InteractionClient` holds one client's interaction rows and never returns them: its
  ``fit`` answers a round with *one* array — its users' clipped item-factor update, or its users'
  clipped item counts — and reports ``num_examples=1`` (how many users it holds is not sent);
* :class:`NoisySumStrategy` is Flower's ``FedAvg`` with a different aggregate: the clients'
  **sum** plus Gaussian noise (DP-FedAvg with central noise, McMahan et al. 2018); it refuses any
  result that is not exactly one finite array of the expected shape and logs what it received
  (shape and dtype), so a test can check that nothing else ever reaches the server;
* :func:`run_round` drives one round in-process: the parameters are serialised to Flower's
  ``Parameters`` on the way to each client and back, as over the network.

Why in-process and not ``flwr.simulation``: the simulation engine needs Ray, and ``flwr[simulation]``
pins its own Ray release (``ray==2.55.1`` for flwr 1.42), which conflicts with coldkit's ``[ray]``
extra (``ray[data]>=2.40,<2.64``, tested with 2.60); a round here is a few sparse products per
client, far below the cost of starting Ray workers on a 2-core machine. The messages, the client
and the strategy are Flower's own, so the same classes run under a real ``flwr`` deployment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from flwr.client import NumPyClient
from flwr.common import FitIns, FitRes, Parameters, Scalar, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.strategy import FedAvg

from coldkit.exceptions import ColdkitError
from coldkit.privacy.federated import factor_update, user_counts

__all__ = ["InteractionClient", "NoisySumStrategy", "run_round"]


class InteractionClient(NumPyClient):  # type: ignore[misc]
    """One federated client: its users' interaction rows stay here; only a clipped aggregate leaves.

    Args:
        rows: (users of this client, n_items) binary interaction matrix.
        clip: per-user L2 bound on each user's contribution (None: no clipping).
    """

    def __init__(self, rows: sp.csr_matrix, clip: float | None) -> None:
        self._rows = sp.csr_matrix(rows, dtype=np.float64)
        self._clip = clip

    def get_parameters(self, config: dict[str, Scalar]) -> list[np.ndarray]:
        return []  # the client holds no global parameters: its user vectors are private and never sent

    def fit(self, parameters: list[np.ndarray], config: dict[str, Scalar]) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        task = config.get("task")
        if task == "counts":
            return [user_counts(self._rows, self._clip)], 1, {}
        if task == "factors":
            (basis,) = parameters
            return [factor_update(self._rows, basis, self._clip)], 1, {}
        raise ColdkitError(f"federated client: unknown task {task!r}")


class NoisySumStrategy(FedAvg):  # type: ignore[misc]
    """FedAvg whose aggregate is the clients' sum plus ``N(0, sigma²)`` per entry (see the module docstring).

    Args:
        shape: the one array shape every client must return this round.
        sigma: noise standard deviation on the sum (0: no noise).
        rng: the server's noise generator (seeded by the model: runs repeat).
    """

    def __init__(self, shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> None:
        super().__init__(fraction_evaluate=0.0)
        self.shape = tuple(shape)
        self.sigma = float(sigma)
        self.rng = rng
        #: (round, shape, dtype) of every array a client sent: all the server ever saw from clients.
        self.received: list[tuple[int, tuple[int, ...], str]] = []

    def aggregate_fit(
        self, server_round: int, results: list[tuple[Any, FitRes]], failures: list[Any]
    ) -> tuple[Parameters, dict[str, Scalar]]:
        if failures:
            raise ColdkitError(f"federated round {server_round}: {len(failures)} client(s) failed")
        if not results:
            raise ColdkitError(f"federated round {server_round}: no client answered")
        total = np.zeros(self.shape, dtype=np.float64)
        for number, (_, res) in enumerate(results):
            arrays = parameters_to_ndarrays(res.parameters)
            for array in arrays:
                self.received.append((server_round, tuple(array.shape), str(array.dtype)))
            if len(arrays) != 1 or arrays[0].shape != self.shape:
                raise ColdkitError(
                    f"federated round {server_round}: client {number} sent {[a.shape for a in arrays]}, "
                    f"expected one array of shape {self.shape}"
                )
            if arrays[0].dtype.kind not in "biuf":  # complex or text failed as numpy's own casting/ufunc errors
                raise ColdkitError(
                    f"federated round {server_round}: client {number} sent an array of dtype {arrays[0].dtype}, "
                    "expected real numbers"
                )
            if not np.all(np.isfinite(arrays[0])):
                raise ColdkitError(f"federated round {server_round}: client {number} sent non-finite values")
            with np.errstate(over="ignore"):  # an overflow is refused below, once, naming the round
                total += arrays[0]
        if not np.all(np.isfinite(total)):  # finite updates can still overflow when summed (two of 1e308)
            raise ColdkitError(f"federated round {server_round}: the clients' sum overflowed to non-finite values")
        if self.sigma > 0:
            total += self.rng.normal(0.0, self.sigma, size=self.shape)
        return ndarrays_to_parameters([total]), {}


def run_round(
    clients: list[InteractionClient], strategy: NoisySumStrategy, arrays: list[np.ndarray], task: str, server_round: int
) -> np.ndarray:
    """One round: send ``arrays`` to every client as Flower ``FitIns``, aggregate their ``FitRes``; returns the noisy sum."""
    ins = FitIns(ndarrays_to_parameters(arrays), {"task": task})
    results = [(None, client.to_client().fit(ins)) for client in clients]
    parameters, _ = strategy.aggregate_fit(server_round, results, [])
    (total,) = parameters_to_ndarrays(parameters)
    return np.asarray(total, dtype=np.float64)
