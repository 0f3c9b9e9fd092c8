"""Shared fixtures: a tiny serving index built in well under a second (hashing encoder), for the hardening and fuzz tests;
a freshly loaded plugin set, for the plugin tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from coldkit.data import Catalog, Interactions
import pytest

from coldkit.plugins import manager
from coldkit.serving import ServingIndex

N_ITEMS, N_COLD, N_USERS = 30, 5, 20


def tiny_interactions(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    ids = np.array([f"i{j}" for j in range(N_ITEMS)])
    table = pd.DataFrame({
        "title": [f"movie {j} {'comedy heist' if j % 2 else 'drama war'} story" for j in range(N_ITEMS)],
        "genres": ["Comedy" if j % 2 else "Drama" for j in range(N_ITEMS)],
    })
    matrix = (rng.random((N_USERS, N_ITEMS)) < 0.3).astype(np.float32)
    matrix[:, N_ITEMS - N_COLD:] = 0  # the last items are cold
    return Interactions(np.array([f"u{j}" for j in range(N_USERS)]), Catalog(ids, table, ["title"]),
                        sparse.csr_matrix(matrix))


def tiny_index(seed: int = 0) -> ServingIndex:
    return ServingIndex.build(tiny_interactions(seed), encoder="hashing", cache=False)


@pytest.fixture(scope="session")
def make_tiny_index():
    """A function building a fresh tiny index (writes do not leak between tests)."""
    return tiny_index


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> tuple:
    """(interactions.csv, items.csv) of the tiny data set, for the CLI."""
    data = tiny_interactions()
    root = tmp_path_factory.mktemp("tiny-files")
    users, items = data.matrix.nonzero()
    pd.DataFrame({"user_id": data.user_ids[users], "item_id": data.catalog.item_ids[items]}).to_csv(
        root / "interactions.csv", index=False)
    table = data.catalog.table.copy()
    table.insert(0, "item_id", data.catalog.item_ids)
    table.to_csv(root / "items.csv", index=False)
    return root / "interactions.csv", root / "items.csv"


@pytest.fixture()
def fresh_plugins(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The test starts from a freshly loaded plugin set and leaves none of its plugins behind
    (``pytestmark = pytest.mark.usefixtures("fresh_plugins")`` in a plugin test module)."""
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV, raising=False)
    manager.reset_plugins()
    yield
    manager.reset_plugins()


@pytest.fixture()
def worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``coldkit serve --workers N`` hands its settings to the workers through the environment: each variable is
    set, then removed, so monkeypatch restores what the command writes there (a delenv of an unset variable
    records nothing, and the settings leaked into every later test)."""
    from coldkit.serving.app import MEDIA_ROOT_ENV, MMAP_ENV, PATH_ENV, RERANKER_ENV, RERANKER_OPTIONS_ENV

    for name in (PATH_ENV, MMAP_ENV, MEDIA_ROOT_ENV, RERANKER_ENV, RERANKER_OPTIONS_ENV, "COLDKIT_MAX_BODY_BYTES"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
