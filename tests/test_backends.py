"""Similarity backends through the registry: dispatch, capabilities, the exclusion fallback,
the int8/bf16 compressed-index backends and their index cache, recall@k.

References are independent: a float64 brute force (``reference_topk`` of test_similarity) and
coldkit's numpy backend; the compressed backends are compared with the exact Rust scan.
"""

from __future__ import annotations

import gc
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit
from coldkit.builtins.similarity import NumpyBackend, QuantizedBackend
from coldkit.exceptions import InvalidInputError, UnknownComponentError
from coldkit.plugins import manager
from coldkit.similarity import IndexCache, recall_at_k, topk_by_overfetch


def reference_topk(q: np.ndarray, c: np.ndarray, k: int, exclude: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Float64 brute-force dot-product top-k: full sort by (score desc, index asc), minus exclusions."""
    s = q.astype(np.float64) @ c.astype(np.float64).T
    scores, ids = [], []
    for row in range(s.shape[0]):
        allowed = np.ones(c.shape[0], dtype=bool)
        if exclude[row] is not None:
            allowed[np.asarray(exclude[row], dtype=np.int64)] = False
        cand = np.flatnonzero(allowed)
        order = cand[np.lexsort((cand, -s[row, cand]))][: min(k, c.shape[0])]
        ids.append(order)
        scores.append(s[row, order])
    return scores, ids


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(manager.LOAD_PLUGINS_ENV, raising=False)
    manager.reset_plugins()
    QuantizedBackend.cache.clear()
    yield
    manager.reset_plugins()
    QuantizedBackend.cache.clear()


def anisotropic_unit_rows(rng: np.random.Generator, rows: int, d: int, mean: np.ndarray) -> np.ndarray:
    """Rows like sentence embeddings: a shared mean direction plus noise (mean cosine ~0.36)."""
    x = np.float32(0.6) * mean + rng.standard_normal((rows, d), dtype=np.float32) * np.float32(0.8 / np.sqrt(d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def embeddings() -> tuple[np.ndarray, np.ndarray]:
    """20k x 96 anisotropic catalogue; queries are noisy catalogue rows ("more like this")."""
    rng = np.random.default_rng(7)
    mean = rng.standard_normal(96).astype(np.float32)
    mean /= np.linalg.norm(mean)
    catalog = anisotropic_unit_rows(rng, 20_000, 96, mean)
    picks = catalog[rng.choice(20_000, 40, replace=False)]
    queries = picks + rng.standard_normal(picks.shape, dtype=np.float32) * np.float32(0.3 / np.sqrt(96))
    return queries.astype(np.float32), catalog


class MatmulBackend:
    """A real exact backend WITHOUT the "exclude" capability; it records what it was asked."""

    name = "matmul"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def topk(self, queries, catalog, k, *, metric, normalized, exclude, threads):  # type: ignore[no-untyped-def]
        self.calls.append({"k": k, "exclude": exclude, "metric": metric})
        return NumpyBackend().topk(queries, catalog, k, metric=metric, normalized=normalized, exclude=None, threads=1)


_last_matmul: list[MatmulBackend] = []


def _make_matmul() -> MatmulBackend:
    backend = MatmulBackend()
    _last_matmul.append(backend)
    return backend


class MatmulPlugin:
    @coldkit.hookimpl
    def coldkit_similarity_backends(self) -> list[coldkit.SimilarityBackendSpec]:
        return [coldkit.SimilarityBackendSpec("matmul", "exact, no exclusions", _make_matmul, {"cosine", "dot", "exact"})]


# ---------------------------------------------------------------------------------------------
# Dispatch and capabilities
# ---------------------------------------------------------------------------------------------


def test_builtin_backends_are_registered_with_capabilities() -> None:
    reg = manager.registry("similarity_backend")
    assert {"rust", "numpy", "int8", "bf16"} <= set(reg.names())
    for name in ("int8", "bf16"):
        caps = reg.get(name).capabilities
        assert {"cosine", "dot", "exclude", "threads", "exact", "index"} <= caps and "pearson" not in caps


def test_unknown_backend_lists_the_registered_names() -> None:
    with pytest.raises(UnknownComponentError) as err:
        coldkit.topk(np.ones(3), np.ones((4, 3)), 2, backend="no-such-backend")
    message = str(err.value)
    assert "no-such-backend" in message and all(name in message for name in ("rust", "numpy", "int8", "bf16"))


def test_a_metric_the_backend_lacks_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match=r"backend 'int8' does not support metric 'pearson'.*'cosine', 'dot'"):
        coldkit.topk(np.ones(3), np.ones((4, 3)), 2, metric="pearson", backend="int8")


def test_validation_happens_before_dispatch() -> None:
    coldkit.register_plugin(MatmulPlugin(), name="matmul-plugin")
    _last_matmul.clear()
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        coldkit.topk(np.ones(3), np.ones((4, 3)), 0, backend="matmul")
    with pytest.raises(InvalidInputError, match="catalog contains NaN"):
        coldkit.topk(np.ones(3), np.array([[1, 2, np.nan]]), 1, backend="matmul")
    assert all(not b.calls for b in _last_matmul)  # the backend never saw bad input


def test_a_backend_object_is_accepted_and_a_bad_one_refused(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    queries, catalog = embeddings
    want = coldkit.topk(queries[:3], catalog, 10, backend="rust")[1]
    tuned = coldkit.get_similarity_backend("int8", shortlist=200, scale="per-dimension")
    np.testing.assert_array_equal(coldkit.topk(queries[:3], catalog, 10, backend=tuned)[1], want)
    with pytest.raises(InvalidInputError, match="backend must be"):
        coldkit.topk(queries[:3], catalog, 10, backend=42)  # type: ignore[arg-type]


def test_a_backend_without_exclude_gets_overfetch_and_equals_in_scan_exclusion() -> None:
    coldkit.register_plugin(MatmulPlugin(), name="matmul-plugin")
    rng = np.random.default_rng(3)
    queries = rng.integers(-3, 4, (6, 5)).astype(np.float32)  # small integers: many exact ties
    catalog = rng.integers(-3, 4, (40, 5)).astype(np.float32)
    exclude: list[Any] = [[0, 1, 2], None, list(range(38)), [], [5, 5, 5], list(range(40))]
    _last_matmul.clear()
    scores, ids = coldkit.topk(queries, catalog, 4, metric="dot", exclude=exclude, backend="matmul")
    call = _last_matmul[-1].calls[-1]
    assert call["exclude"] is None and call["k"] == 40  # k + most exclusions (40), capped at N
    want_scores, want_ids = reference_topk(queries, catalog, 4, exclude)
    for row in range(6):
        got = ids[row][ids[row] >= 0]
        np.testing.assert_array_equal(got, want_ids[row])
        np.testing.assert_allclose(scores[row][: len(got)], want_scores[row], rtol=1e-6)
        assert (ids[row][len(got) :] == -1).all() and np.isneginf(scores[row][len(got) :]).all()
    # Same answer as a backend that excludes inside its scan (ties included).
    rust_scores, rust_ids = coldkit.topk(queries, catalog, 4, metric="dot", exclude=exclude, backend="rust")
    np.testing.assert_array_equal(ids, rust_ids)
    np.testing.assert_array_equal(scores, rust_scores)


# ---------------------------------------------------------------------------------------------
# topk_by_overfetch and recall_at_k
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    b=st.integers(1, 4),
    k=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_overfetch_equals_reference_selection(n: int, b: int, k: int, seed: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(-2, 3, (b, n)).astype(np.float32)  # ties on purpose
    k = min(k, n)
    exclude = [
        np.asarray(data.draw(st.lists(st.integers(0, n - 1), max_size=n + 3)), dtype=np.int64) for _ in range(b)
    ]

    def search(queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.lexsort((np.broadcast_to(np.arange(n), (b, n)), -scores), axis=-1)[:, :fetch]
        return np.take_along_axis(scores, order, axis=1), order

    got_scores, got_ids = topk_by_overfetch(search, np.zeros((b, 1), np.float32), k, exclude, n)
    from coldkit.builtins.similarity import select_topk

    want_scores, want_ids = select_topk(scores.copy(), k, exclude)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got_scores, want_scores)


def test_overfetch_turns_missing_results_into_padding() -> None:
    def search(queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        return np.array([[0.9, 0.5, -3.0e38]], np.float32)[:, :fetch], np.array([[4, 2, -1]])[:, :fetch]

    scores, ids = topk_by_overfetch(search, np.zeros((1, 1), np.float32), 3, [np.array([4])], 5)
    assert ids.tolist() == [[2, -1, -1]]
    assert scores[0, 0] == np.float32(0.5) and np.isneginf(scores[0, 1:]).all()


def test_overfetch_of_no_queries_is_no_rows() -> None:
    # A (0, d) batch through a backend without the "exclude" capability (or the faiss plugin, which
    # over-fetches itself) raised numpy's "cannot reshape array of size 0 into shape (0,newaxis)".
    def search(queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        return np.empty((queries.shape[0], fetch), np.float32), np.empty((queries.shape[0], fetch), np.int64)

    for exclude in (None, []):
        scores, ids = topk_by_overfetch(search, np.zeros((0, 2), np.float32), 3, exclude, 5)
        assert scores.shape == ids.shape == (0, 3) and scores.dtype == np.float32 and ids.dtype == np.int64


def test_recall_at_k_hand_computed() -> None:
    assert recall_at_k([[0, 1, 2], [5, 6, 7]], [[0, 2, 3], [5, 6, 7]]) == pytest.approx((2 / 3 + 1) / 2)
    assert recall_at_k([3, -1], [3, -1]) == 1.0  # padding ignored
    assert recall_at_k([[-1, -1]], [[-1, -1]]) == 1.0  # nothing to find
    with pytest.raises(InvalidInputError, match="rows"):
        recall_at_k([[1]], [[1], [2]])
    # the scores half of topk's (scores, indices) was cast to ids: 0.9/0.4 became item 0 and "recalled" it
    with pytest.raises(InvalidInputError, match=r"found must hold integer item ids, got dtype float32; .* pass the indices"):
        recall_at_k(np.array([[0.9, 0.4]], dtype=np.float32), [[0, 3]])


# ---------------------------------------------------------------------------------------------
# IndexCache
# ---------------------------------------------------------------------------------------------


class Built:
    """An index that, unlike QuantizedIndex, does not keep its catalogue alive."""

    def __init__(self, catalog: np.ndarray) -> None:
        self.total = float(catalog.sum())


def test_cache_reuses_by_identity_and_content_and_is_bounded() -> None:
    cache: IndexCache[Built] = IndexCache(max_entries=2)
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    first = cache.get(a, "opts", lambda: Built(a))
    assert cache.get(a, "opts", lambda: Built(a)) is first and (cache.hits, cache.misses) == (1, 1)
    a[0, 0] = 100.0  # an in-place change the fingerprint sees (it samples every row of a small catalogue)
    rebuilt = cache.get(a, "opts", lambda: Built(a))
    assert rebuilt is not first and rebuilt.total == float(a.sum())
    assert cache.get(a, "other-opts", lambda: Built(a)) is not rebuilt  # options are part of the key
    b = a.copy()
    assert cache.get(b, "opts", lambda: Built(b)) is not rebuilt  # another array, even if equal
    assert len(cache) == 2  # bounded: the least recently used entry (a, "opts") went
    assert cache.get(a, "opts", lambda: Built(a)) is not rebuilt
    assert cache.misses == 5 and cache.hits == 1


def test_cache_entry_dies_with_its_catalogue() -> None:
    cache: IndexCache[Built] = IndexCache(max_entries=4)
    a = np.ones((5, 2), dtype=np.float32)
    cache.get(a, None, lambda: Built(a))
    assert len(cache) == 1
    del a
    gc.collect()
    assert len(cache) == 0


def test_cache_rejects_a_bad_size() -> None:
    with pytest.raises(InvalidInputError, match="max_entries"):
        IndexCache(max_entries=0)


# ---------------------------------------------------------------------------------------------
# int8 / bf16 backends
# ---------------------------------------------------------------------------------------------


def assert_exact(
    got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray], *, tie: float = 1e-6
) -> None:
    """Scores equal the exact ones; ids equal except among (near-)tied scores."""
    (scores, ids), (want_scores, want_ids) = got, want
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=tie)
    differ = ids != want_ids
    assert (np.abs(scores - want_scores)[differ] < tie).all()


@pytest.mark.parametrize("backend", ["int8", "bf16"])
@pytest.mark.parametrize("metric, normalized", [("cosine", True), ("cosine", False), ("dot", False)])
def test_compressed_backends_equal_the_exact_scan(
    embeddings: tuple[np.ndarray, np.ndarray], backend: str, metric: str, normalized: bool
) -> None:
    queries, catalog = embeddings
    if not normalized:  # unnormalised rows make cosine differ from dot
        catalog = catalog * np.linspace(0.5, 2.0, catalog.shape[0], dtype=np.float32)[:, None]
    options: dict[str, Any] = {"metric": metric, "normalized": normalized}
    want = coldkit.topk(queries, catalog, 10, backend="rust", **options)
    got = coldkit.topk(queries, catalog, 10, backend=backend, **options)
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64 and got[1].shape == (40, 10)
    assert_exact(got, want)
    assert (got[1] == want[1]).mean() == 1.0  # dense vectors: no near-ties here, ids identical


@pytest.mark.parametrize("backend", ["int8", "bf16"])
def test_compressed_backends_exclusions_padding_vectors_and_threads(
    embeddings: tuple[np.ndarray, np.ndarray], backend: str
) -> None:
    queries, catalog = embeddings
    small = catalog[:30]
    exclude = [list(range(0, 30, 2)), list(range(28)), None]
    want = coldkit.topk(queries[:3], small, 5, exclude=exclude, backend="rust")
    got = coldkit.topk(queries[:3], small, 5, exclude=exclude, backend=backend, threads=2)
    np.testing.assert_array_equal(got[1], want[1])
    assert got[1][1].tolist()[2:] == [-1, -1, -1] and np.isneginf(got[0][1][2:]).all()
    one_scores, one_ids = coldkit.topk(queries[0], catalog, 3, backend=backend, threads=1)
    assert one_ids.shape == (3,)
    np.testing.assert_array_equal(one_ids, coldkit.topk(queries[0], catalog, 3)[1])


def test_compressed_index_is_built_once_per_catalogue(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    queries, catalog = embeddings
    cache = QuantizedBackend.cache
    for _ in range(3):
        coldkit.topk(queries, catalog, 10, backend="int8")
    assert (cache.misses, cache.hits) == (1, 2)
    coldkit.topk(queries, catalog, 10, backend="int8", metric="dot")  # another metric, another index
    coldkit.topk(queries, catalog, 10, backend="bf16")
    assert cache.misses == 3 and len(cache) == 3
    # float64 input is converted on every call: a new array each time, so no reuse (documented).
    coldkit.topk(queries, catalog.astype(np.float64), 10, backend="int8")
    assert cache.misses == 4


def test_compressed_backend_rejects_nan_queries_and_catalogue() -> None:
    catalog = np.ones((8, 4), np.float32)
    with pytest.raises(InvalidInputError, match="queries contains NaN"):
        coldkit.topk(np.array([1, np.nan, 0, 0]), catalog, 2, backend="int8")
    bad = catalog.copy()
    bad[3, 1] = np.inf
    with pytest.raises(InvalidInputError, match="NaN|inf"):
        coldkit.topk(np.ones(4), bad, 2, backend="bf16")


def test_compressed_backend_options_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="scale"):
        coldkit.get_similarity_backend("int8", scale="per-row")
    with pytest.raises(InvalidInputError, match="shortlist"):
        coldkit.get_similarity_backend("int8", shortlist=0)


def test_capabilities_of_registered_backends_are_honest(embeddings: tuple[np.ndarray, np.ndarray]) -> None:
    """Every registered exact backend (plugins included) ranks like the exact scan."""
    queries, catalog = embeddings
    q, c = queries[:5], catalog[:3000]
    want = coldkit.topk(q, c, 10, metric="dot", normalized=True, backend="numpy")
    for spec in manager.registry("similarity_backend").specs():
        if "exact" not in spec.capabilities or "dot" not in spec.capabilities:
            continue
        got = coldkit.topk(q, c, 10, metric="dot", normalized=True, backend=spec.name, exclude=[[1]] * 5)
        ref = coldkit.topk(q, c, 10, metric="dot", normalized=True, backend="numpy", exclude=[[1]] * 5)
        assert_exact(got, ref, tie=1e-5)
        assert_exact(coldkit.topk(q, c, 10, metric="dot", normalized=True, backend=spec.name), want, tie=1e-5)



class _GarbageBackend:
    """A plugin backend that breaks its contract in one chosen way (exact answers otherwise)."""

    name = "garbage"

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def topk(self, queries: np.ndarray, catalog: np.ndarray, k: int, **_: Any) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ catalog.T
        ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(scores, ids, axis=1)
        if self.fault == "short":
            return top[:, :-1], ids[:, :-1]
        if self.fault == "nan":
            top[:, 0] = np.nan
        if self.fault == "past-the-end":
            ids = ids + catalog.shape[0]
        if self.fault == "text":
            return top, np.full(ids.shape, "x")
        if self.fault == "unsorted":
            return top[:, ::-1], ids[:, ::-1]
        if self.fault == "repeated":
            ids[:, 1], top[:, 1] = ids[:, 0], top[:, 0]
        if self.fault == "padding-first":
            ids[:, 0], top[:, 0] = -1, -np.inf
        return top, ids


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("short", r"'garbage' returned scores of shape \(2, 2\) and indices of shape \(2, 2\); expected \(2, 3\)"),
        ("nan", r"'garbage' returned NaN scores"),
        ("past-the-end", r"'garbage' returned item indices outside \[-1, 5\): \[5, "),
        ("text", r"'garbage' returned no numeric"),
        # these were written out as they came (a plugin author's review): worst first, an item twice, the best lost
        ("unsorted", r"'garbage' returned query 0's list that is not best first"),
        ("repeated", r"'garbage' returned query 0's list that lists an item twice"),
        ("padding-first", r"'garbage' returned query 0's list that has padding \(-1\) before an item"),
    ],
)
def test_a_backend_breaking_its_output_contract_is_named(fault: str, message: str) -> None:
    # these went through: a short row became a short list, a past-the-end index another item's id
    rng = np.random.default_rng(0)
    queries, catalog = rng.standard_normal((2, 4)), rng.standard_normal((5, 4))
    with pytest.raises(InvalidInputError, match=message):
        coldkit.topk(queries, catalog, 3, metric="dot", backend=_GarbageBackend(fault))
    scores, ids = coldkit.topk(queries, catalog, 3, metric="dot", backend=_GarbageBackend("none"))
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, reference_topk(queries, catalog, 3, [None, None])[1])


class _IgnoresExclude(_GarbageBackend):
    """Declares the "exclude" capability and ignores ``exclude``."""

    capabilities = frozenset({"dot", "exclude"})


class _NoExclude(_GarbageBackend):
    """Ignores ``exclude`` and says so: no "exclude" capability."""

    capabilities = frozenset({"dot"})


def test_a_backend_that_ignores_exclude_is_named() -> None:
    # the user's own items came back and callers dropped them: shorter lists without a word
    rng = np.random.default_rng(1)
    queries, catalog = rng.standard_normal((2, 4)), rng.standard_normal((6, 4))
    top = reference_topk(queries, catalog, 1, [None, None])[1]
    exclude = [[int(top[0][0])], []]
    with pytest.raises(InvalidInputError, match=rf"'garbage' returned excluded items \(query 0: \[{int(top[0][0])}\]\)"):
        coldkit.topk(queries, catalog, 3, metric="dot", exclude=exclude, backend=_IgnoresExclude("none"))
    # without the capability, topk over-fetches and filters for it: the same backend is then fine
    scores, ids = coldkit.topk(queries, catalog, 3, metric="dot", exclude=exclude, backend=_NoExclude("none"))
    np.testing.assert_array_equal(ids, reference_topk(queries, catalog, 3, exclude)[1])
