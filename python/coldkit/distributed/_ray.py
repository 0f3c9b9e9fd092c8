"""Connecting to Ray: a local instance or an existing cluster, never two at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from coldkit.exceptions import ColdkitError

__all__ = ["RayConnection", "RayNotInstalledError", "init", "require_ray"]

RAY_ADDRESS_ENV = "RAY_ADDRESS"


class RayNotInstalledError(ColdkitError, ImportError):
    """``coldkit.distributed`` was used but Ray (``ray[data]``) is not installed."""


def require_ray() -> ModuleType:
    """Import and return the ``ray`` module, or explain how to install it.

    Raises:
        RayNotInstalledError: Ray is not importable (install ``coldkit[ray]``).
    """
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is a separate extra of ray; fail here, not mid-run
    except ImportError as exc:
        raise RayNotInstalledError(
            "coldkit.distributed needs Ray Data: pip install 'coldkit[ray]' (or pip install 'ray[data]')"
        ) from exc
    return ray


@dataclass(frozen=True)
class RayConnection:
    """Where this process's Ray lives.

    Attributes:
        address: the address connected to (``"local"`` for a Ray started in this process).
        started_here: True when :func:`init` started Ray, so the caller owns its shutdown.
        resources: the cluster's total resources as Ray reports them (``{"CPU": 2.0, ...}``).
    """

    address: str
    started_here: bool
    resources: dict[str, float]


def init(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    **ray_init_kwargs: Any,
) -> RayConnection:
    """Connect to Ray once: an existing cluster when an address is known, else a local Ray.

    The address is ``address`` if given, else ``$RAY_ADDRESS``. It may be ``"auto"`` (a cluster
    started with ``ray start --head`` on this machine), ``"host:6379"`` or a Ray Client
    address ``"ray://head:10001"``. Without either, a local Ray is started with ``num_cpus`` and
    ``object_store_memory`` (bytes); these two are ignored when connecting to a cluster, whose
    resources were fixed by ``ray start``.

    If Ray is already initialised in this process (by the caller, a test fixture, or an earlier
    call), nothing is started and that Ray is used, so library code can call ``init()`` freely.

    Args:
        address: cluster address, see above.
        num_cpus: CPUs of a local Ray (default: all of this machine's).
        object_store_memory: object store size in bytes of a local Ray (default: Ray's choice,
            30 % of memory).
        **ray_init_kwargs: passed to ``ray.init`` (e.g. ``runtime_env={"pip": [...]}``).

    Returns:
        A :class:`RayConnection` describing the Ray in use.

    Example::

        from coldkit import distributed
        distributed.init()                              # local Ray, or $RAY_ADDRESS if set
        distributed.init("ray://head.example:10001")    # a remote cluster through Ray Client
    """
    ray = require_ray()
    if ray.is_initialized():
        return RayConnection(address=_current_address(ray), started_here=False, resources=_resources(ray))
    target = address if address is not None else os.environ.get(RAY_ADDRESS_ENV) or None
    kwargs = dict(ray_init_kwargs)
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("log_to_driver", True)
    if target is None:
        if num_cpus is not None:
            kwargs["num_cpus"] = int(num_cpus)
        if object_store_memory is not None:
            kwargs["object_store_memory"] = int(object_store_memory)
        ray.init(**kwargs)
        return RayConnection(address="local", started_here=True, resources=_resources(ray))
    if target.startswith("ray://"):
        kwargs.pop("include_dashboard", None)  # a Ray Client connection does not start a dashboard
    try:
        ray.init(address=target, **kwargs)
    except ConnectionError as exc:
        raise ColdkitError(f"cannot connect to the Ray cluster at {target!r}: {exc}") from exc
    return RayConnection(address=target, started_here=True, resources=_resources(ray))


def _current_address(ray: ModuleType) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001 - Ray Client contexts lack some fields; the address is informative only
        return "unknown"


def _resources(ray: ModuleType) -> dict[str, float]:
    return {str(k): float(v) for k, v in ray.cluster_resources().items()}
