"""coldkit-faiss: both backends against coldkit's exact scan, exclusions and padding, the index
cache, recall@k of HNSW, and the plugin's light entry point."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Iterator

import numpy as np
import pytest

import coldkit
from coldkit.exceptions import InvalidInputError
from coldkit.plugins import manager

faiss = pytest.importorskip("faiss")

from coldkit_faiss import plugin  # noqa: E402
from coldkit_faiss.backends import FaissFlatBackend, FaissHNSWBackend  # noqa: E402


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV, raising=False)
    manager.reset_plugins()
    FaissFlatBackend.cache.clear()
    FaissHNSWBackend.cache.clear()
    yield
    FaissFlatBackend.cache.clear()
    FaissHNSWBackend.cache.clear()


@pytest.fixture(scope="module")
def embeddings() -> tuple[np.ndarray, np.ndarray]:
    """10k x 64 anisotropic rows (a shared mean direction + noise, like sentence embeddings),
    scaled by varying norms so cosine and dot rank differently; queries are noisy rows."""
    rng = np.random.default_rng(11)
    mean = rng.standard_normal(64).astype(np.float32)
    mean /= np.linalg.norm(mean)
    x = 0.6 * mean + rng.standard_normal((10_000, 64)).astype(np.float32) * np.float32(0.1)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.5, 2.0, (10_000, 1))
    catalog = x.astype(np.float32)
    queries = catalog[rng.choice(10_000, 30, replace=False)] + rng.standard_normal((30, 64)).astype(np.float32) * 0.05
    return queries.astype(np.float32), catalog


def test_registered_with_the_declared_capabilities() -> None:
    reg = manager.registry("similarity_backend")
    assert {"faiss-flat", "faiss-hnsw"} <= set(reg.names())
    assert reg.get("faiss-flat").capabilities == FaissFlatBackend.capabilities == plugin.FLAT_CAPABILITIES
    assert reg.get("faiss-hnsw").capabilities == FaissHNSWBackend.capabilities == plugin.HNSW_CAPABILITIES
    assert "exact" in plugin.FLAT_CAPABILITIES and "approximate" in plugin.HNSW_CAPABILITIES


@pytest.mark.parametrize("metric", ["cosine", "dot"])
@pytest.mark.parametrize("batch", [1, 30])  # faiss's SIMD path (B < 20) and its BLAS path
def test_flat_equals_the_exact_scan(embeddings: tuple[np.ndarray, np.ndarray], metric: str, batch: int) -> None:
    queries, catalog = embeddings
    want_scores, want_ids = coldkit.topk(queries[:batch], catalog, 10, metric=metric, backend="rust")
    scores, ids = coldkit.topk(queries[:batch], catalog, 10, metric=metric, backend="faiss-flat")
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-5)
    differ = ids != want_ids
    assert (np.abs(scores - want_scores)[differ] < 1e-5).all()  # ids differ only at near-ties


def test_exclusions_padding_and_tie_order() -> None:
    # Integer data: exact float arithmetic and many exact ties, so everything must match bit for bit.
    rng = np.random.default_rng(5)
    queries = rng.integers(-3, 4, (5, 6)).astype(np.float32)
    catalog = rng.integers(-3, 4, (50, 6)).astype(np.float32)
    exclude: list[Any] = [[0, 1, 2], None, list(range(47)), [7, 7], list(range(50))]
    want = coldkit.topk(queries, catalog, 6, metric="dot", exclude=exclude, backend="rust")
    got = coldkit.topk(queries, catalog, 6, metric="dot", exclude=exclude, backend="faiss-flat")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1][2].tolist() == [47, 48, 49, -1, -1, -1] or (got[1][2][3:] == -1).all()
    assert (got[1][4] == -1).all() and np.isneginf(got[0][4]).all()
    hnsw = coldkit.topk(queries, catalog, 6, metric="dot", exclude=exclude, backend="faiss-hnsw")
    for row, excluded in enumerate(exclude):
        found = hnsw[1][row][hnsw[1][row] >= 0]
        assert not set(found.tolist()) & set(excluded or [])
        assert np.isneginf(hnsw[0][row][len(found) :]).all() and (hnsw[1][row][len(found) :] == -1).all()
        assert (np.diff(hnsw[0][row][: len(found)]) <= 0).all()


def test_both_backends_pass_the_conformance_kit() -> None:
    # the kit was never run on this package: it would have shown faiss-flat keeping whichever tied items its
    # heap met first (items 7, 10... for 0, 4, 5, 6 at a tie at the cut), and the kit asked it for k > N
    from coldkit.testing import check_backend

    check_backend("faiss-flat")
    check_backend("faiss-hnsw", approximate=True)


@pytest.mark.parametrize("k", [1, 5, 12, 39, 40, 41])
def test_a_tie_at_the_cut_goes_to_the_lower_indices(k: int) -> None:
    # 0/1 vectors: a few distinct scores shared by many items, so the cut falls inside a tie
    rng = np.random.default_rng(0)
    catalog = rng.integers(0, 2, (40, 6)).astype(np.float32)
    queries = rng.integers(0, 2, (5, 6)).astype(np.float32)
    want = coldkit.topk(queries, catalog, k, metric="dot", backend="numpy")
    got = coldkit.topk(queries, catalog, k, metric="dot", backend="faiss-flat")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_zero_vectors_score_zero_under_cosine() -> None:
    catalog = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0]], np.float32)
    scores, ids = coldkit.topk(np.array([0.0, -1.0, 0.0]), catalog, 3, backend="faiss-flat")
    assert ids.tolist() == [0, 1, 2] and scores.tolist() == [0.0, 0.0, -1.0]


def test_hnsw_recall_and_options(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    queries, catalog = embeddings
    backend = coldkit.get_similarity_backend("faiss-hnsw")
    assert isinstance(backend, FaissHNSWBackend)
    recall = backend.recall_at_k(queries, catalog, 10)
    assert 0.9 <= recall <= 1.0, recall
    # A tiny search beam finds less; a wide one finds (nearly) everything; both share one index.
    narrow = coldkit.get_similarity_backend("faiss-hnsw", efSearch=1).recall_at_k(queries, catalog, 10)
    wide = coldkit.get_similarity_backend("faiss-hnsw", efSearch=512).recall_at_k(queries, catalog, 10)
    assert narrow <= recall <= wide and wide >= 0.99
    assert len(FaissHNSWBackend.cache) == 1
    with pytest.raises(InvalidInputError, match="efSearch"):
        coldkit.get_similarity_backend("faiss-hnsw", efSearch=0)
    with pytest.raises(InvalidInputError, match="M must"):
        coldkit.get_similarity_backend("faiss-hnsw", M=1)


def test_index_cache_builds_once(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    queries, catalog = embeddings
    for _ in range(3):
        coldkit.topk(queries, catalog, 5, backend="faiss-flat")
    assert (FaissFlatBackend.cache.misses, FaissFlatBackend.cache.hits) == (1, 2)
    coldkit.topk(queries, catalog, 5, backend="faiss-flat", metric="dot")  # dot indexes the raw rows
    assert FaissFlatBackend.cache.misses == 2


def test_bad_input_is_refused_clearly() -> None:
    catalog = np.ones((4, 3), np.float32)
    with pytest.raises(InvalidInputError, match="does not support metric 'pearson'"):
        coldkit.topk(np.ones(3), catalog, 2, metric="pearson", backend="faiss-flat")
    with pytest.raises(InvalidInputError, match="queries contains NaN"):
        coldkit.topk(np.array([1.0, np.nan, 0.0]), catalog, 2, backend="faiss-hnsw")
    bad = catalog.copy()
    bad[2, 1] = np.inf
    with pytest.raises(InvalidInputError, match="catalog contains NaN or infinite values"):
        coldkit.topk(np.ones(3), bad, 2, metric="dot", backend="faiss-flat")
    huge = np.full((2, 4), 3e30, np.float32)
    with pytest.raises(InvalidInputError, match="overflow"):
        coldkit.topk(huge[0], huge, 1, metric="dot", backend="faiss-flat")


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-hnsw"])
def test_a_bad_catalogue_is_named_under_cosine_too(backend: str) -> None:
    # cosine normalises the catalogue first, and normalize()'s message named its argument "x"
    bad = np.ones((4, 3), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"catalog contains NaN or infinite values \(first at row 2, column 1\)"):
        coldkit.topk(np.ones(3), bad, 2, backend=backend)


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-hnsw"])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_no_queries_give_no_rows(backend: str, metric: str) -> None:
    # the other backends answer a (0, d) batch with (0, k) arrays; faiss raised "cannot reshape array of size 0"
    catalog = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    for exclude in (None, []):
        scores, ids = coldkit.topk(np.zeros((0, 4), np.float32), catalog, 3, metric=metric, backend=backend, exclude=exclude)
        assert scores.shape == ids.shape == (0, 3) and scores.dtype == np.float32 and ids.dtype == np.int64


def test_listing_the_plugin_does_not_import_faiss() -> None:
    code = (
        "import sys, coldkit; from coldkit.plugins.manager import registry; "
        "names = registry('similarity_backend').names(); "
        "assert 'faiss-flat' in names and 'faiss-hnsw' in names; "
        "assert 'faiss' not in sys.modules, 'faiss imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
