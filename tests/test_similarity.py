"""coldkit.topk / cosine_matrix / normalize: semantics against numpy, and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

import coldkit
from coldkit.exceptions import InvalidInputError, UnknownComponentError

BACKENDS = ["rust", "numpy"]


def reference_topk(q: np.ndarray, c: np.ndarray, k: int, metric: str = "cosine", exclude=None):
    """Independent float64 brute force: full sort by (score desc, index asc)."""
    q64, c64 = np.atleast_2d(q).astype(np.float64), c.astype(np.float64)
    if metric == "pearson":
        q64 = q64 - q64.mean(axis=1, keepdims=True)
        c64 = c64 - c64.mean(axis=1, keepdims=True)
    if metric in ("cosine", "pearson"):
        for m in (q64, c64):
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            np.divide(m, norms, out=m, where=norms > 0)
            m[(norms == 0).ravel()] = 0.0
    s = q64 @ c64.T
    ids, scores = [], []
    for row in range(s.shape[0]):
        allowed = np.ones(c.shape[0], dtype=bool)
        if exclude is not None and exclude[row] is not None:
            allowed[np.asarray(exclude[row], dtype=np.int64)] = False
        cand = np.flatnonzero(allowed)
        order = cand[np.lexsort((cand, -s[row, cand]))][: min(k, c.shape[0])]
        ids.append(order)
        scores.append(s[row, order])
    return scores, ids


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    return rng.standard_normal((9, 24)).astype(np.float32), rng.standard_normal((500, 24)).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["cosine", "dot", "pearson"])
def test_topk_matches_brute_force(data, backend, metric):
    q, c = data
    scores, ids = coldkit.topk(q, c, 10, metric=metric, backend=backend)
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and scores.shape == ids.shape == (9, 10)
    want_scores, want_ids = reference_topk(q, c, 10, metric)
    for row in range(9):
        np.testing.assert_allclose(scores[row], want_scores[row], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(ids[row], want_ids[row])  # random data: no near-ties


def test_hand_computed_cosine_and_doc_example():
    catalog = np.eye(4, dtype=np.float32)
    scores, ids = coldkit.topk([1.0, 0.5, 0.0, 0.0], catalog, k=2)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(scores, [1 / np.sqrt(1.25), 0.5 / np.sqrt(1.25)], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_dimensional_query_returns_one_dimensional_result(data, backend):
    q, c = data
    scores, ids = coldkit.topk(q[3], c, 4, exclude=[1, 2], backend=backend)
    assert scores.shape == ids.shape == (4,)
    full_scores, full_ids = coldkit.topk(q[3:4], c, 4, exclude=[[1, 2]], backend=backend)
    np.testing.assert_array_equal(ids, full_ids[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_go_to_the_lower_index_deterministically(backend):
    catalog = np.array([[1, 0], [0, 1], [1, 0], [2, 0], [1, 0], [0, 0]], dtype=np.float32)
    # Cosine: rows 0, 2, 3, 4 all score exactly 1 against [1, 0]; zero row 5 scores 0.
    scores, ids = coldkit.topk([[1.0, 0.0]], catalog, 3, backend=backend)
    assert ids.tolist() == [[0, 2, 3]]
    assert scores.tolist() == [[1.0, 1.0, 1.0]]
    for threads in (1, 2):
        assert coldkit.topk([[1.0, 0.0]], catalog, 6, threads=threads, backend=backend)[1].tolist() == [
            [0, 2, 3, 4, 1, 5]
        ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_exclusions_and_padding(backend):
    catalog = np.arange(12, dtype=np.float32).reshape(6, 2)
    queries = np.ones((3, 2), dtype=np.float32)
    exclude = [[5, 5, 4], None, [0, 1, 2, 3, 4]]
    scores, ids = coldkit.topk(queries, catalog, 3, metric="dot", exclude=exclude, backend=backend)
    assert ids.tolist() == [[3, 2, 1], [5, 4, 3], [5, -1, -1]]
    assert scores[2, 0] == 21.0 and np.isneginf(scores[2, 1:]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_vectors_score_zero_not_nan(backend):
    catalog = np.array([[0, 0, 0], [1, 2, 3]], dtype=np.float32)
    for metric in ("cosine", "pearson"):
        scores, _ = coldkit.topk(np.zeros(3), catalog, 2, metric=metric, backend=backend)
        assert scores.tolist() == [0.0, 0.0]
    scores, ids = coldkit.topk([1.0, 1.0, 1.0], catalog, 2, backend=backend)
    assert ids.tolist() == [1, 0] and scores[1] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_k_larger_than_catalog_returns_everything(data, backend):
    q, c = data
    for k in (500, 501, 2**62):
        scores, ids = coldkit.topk(q[:2], c[:7], k, backend=backend)
        assert ids.shape == (2, 7)
        assert sorted(ids[0].tolist()) == list(range(7))


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_dtypes_and_layouts_are_converted(data, backend):
    q, c = data
    want = coldkit.topk(q, c, 5, backend=backend)[1]
    fortran = np.asfortranarray(c)
    strided = np.repeat(c, 2, axis=1)[:, ::2]
    for catalog in (c.astype(np.float64), fortran, strided, c.astype(np.float16).astype(np.float32)):
        got = coldkit.topk(q.astype(np.float64), catalog, 5, backend=backend)[1]
        if catalog.dtype == np.float32 and np.shares_memory(catalog, c) or catalog is fortran or catalog is strided:
            np.testing.assert_array_equal(got, want)
    ints = coldkit.topk(np.array([[1, 0]]), np.array([[0, 5], [3, 0], [2, 2]], dtype=np.int32), 2, backend=backend)
    assert ints[1].tolist() == [[1, 2]]


def test_unknown_backend_is_named():
    with pytest.raises(UnknownComponentError, match="nope"):
        coldkit.topk([1.0], [[1.0]], 1, backend="nope")


# ---------------------------------------------------------------------------------------------
# Bad input: every case is an InvalidInputError whose message names the problem.
# ---------------------------------------------------------------------------------------------

GOOD_Q = np.ones((2, 3), dtype=np.float32)
GOOD_C = np.arange(15, dtype=np.float32).reshape(5, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queries": np.ones((2, 3, 1))}, "queries must be 2-D"),
        ({"queries": np.float32(1.0)}, "queries must be 2-D"),
        ({"catalog": np.ones(3)}, "catalog must be 2-D"),
        ({"catalog": np.ones((4, 2))}, "dimension mismatch"),
        ({"queries": np.ones((2, 0)), "catalog": np.ones((5, 0))}, "0 columns"),
        ({"catalog": np.ones((0, 3))}, "catalog is empty"),
        ({"k": 0}, "k must be >= 1"),
        ({"k": -3}, "k must be >= 1"),
        ({"k": 2.5}, "k must be an integer"),
        ({"k": True}, "k must be an integer"),
        ({"queries": np.array([[1, np.nan, 0], [1, 1, 1]])}, "queries contains NaN"),
        ({"catalog": np.where(np.arange(15).reshape(5, 3) == 7, np.inf, 1.0)}, "catalog contains NaN"),
        ({"catalog": np.full((5, 3), 1e300)}, "catalog holds values beyond the float32 range"),
        ({"queries": np.ones((2, 3), dtype=bool)}, "queries must hold real numbers"),
        ({"catalog": np.ones((5, 3), dtype=complex)}, "catalog must hold real numbers"),
        ({"catalog": np.array([[object()] * 3] * 5)}, "catalog must hold real numbers"),
        ({"queries": [[1, 2, 3], [1, 2]]}, "queries is not a rectangular"),
        ({"exclude": [[0]]}, "one entry per query: expected 2, got 1"),
        ({"exclude": [[0], [5]]}, r"exclude\[1\] contains item index 5"),
        ({"exclude": [[-1], []]}, r"exclude\[0\] contains item index -1"),
        ({"exclude": [[0.5], []]}, r"exclude\[0\] must be a 1-D sequence of integer"),
        ({"exclude": "ab"}, "not a string"),
        ({"metric": "euclid"}, "unknown metric 'euclid'"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"threads": 10**6}, "threads must be between 1 and 1024"),
        ({"normalized": "yes"}, "normalized must be True or False"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(backend, kwargs, message):
    args = {"queries": GOOD_Q, "catalog": GOOD_C, "k": 2, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        coldkit.topk(args.pop("queries"), args.pop("catalog"), args.pop("k"), backend=backend, **args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dot_overflow_is_an_error_but_cosine_of_huge_vectors_works(backend):
    huge = np.full((4, 3), 3e38, dtype=np.float32)
    huge[1, 0] = 1e38
    with pytest.raises(InvalidInputError, match="overflow"):
        coldkit.topk(huge[:1], huge, 2, metric="dot", backend=backend)
    for metric in ("cosine", "pearson"):
        scores, ids = coldkit.topk(huge[:1], huge, 4, metric=metric, backend=backend)
        assert np.isfinite(scores).all() and (np.abs(scores) <= 1 + 1e-6).all()
        want_scores, _ = reference_topk(huge[:1], huge, 4, metric)
        np.testing.assert_allclose(scores[0], want_scores[0], atol=1e-5)


def test_normalize_and_cosine_matrix_against_numpy(data):
    q, c = data
    x = np.vstack([q, np.zeros((1, 24), dtype=np.float32)])
    got = coldkit.normalize(x)
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    want = np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert (got[-1] == 0).all()
    np.testing.assert_allclose(coldkit.normalize([3, 4]), [0.6, 0.8])
    sim = coldkit.cosine_matrix(x, c)
    assert sim.shape == (10, 500)
    np.testing.assert_allclose(sim, want @ (c / np.linalg.norm(c, axis=1, keepdims=True)).T, atol=1e-5)
    assert coldkit.cosine_matrix(x[0], c).shape == (500,)
    assert coldkit.cosine_matrix(x, c[0]).shape == (10,)
    assert coldkit.cosine_matrix(x[0], c[0]).shape == ()
    with pytest.raises(InvalidInputError, match="dimension mismatch"):
        coldkit.cosine_matrix(x, c[:, :3])
    with pytest.raises(InvalidInputError, match="x contains NaN"):
        coldkit.normalize([[1.0, np.nan]])
    with pytest.raises(InvalidInputError, match="b contains NaN"):
        coldkit.cosine_matrix([[1.0, 2.0]], [[1.0, np.inf]])


def test_simd_capabilities_reports_the_active_kernel():
    caps = coldkit.simd_capabilities()
    assert caps["active"] in caps["kernels"] and "scalar" in caps["kernels"]
    assert set(caps) >= {"arch", "cpu_features", "kernels", "active", "threads"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_returns_empty_arrays(data, backend):
    _, c = data
    scores, ids = coldkit.topk(np.empty((0, 24)), c, 5, backend=backend)
    assert scores.shape == ids.shape == (0, 5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64


def test_concurrent_calls_from_python_threads_agree(data):
    # The core releases the GIL; concurrent searches share the cached pools but no state.
    import threading

    q, c = data
    want = coldkit.topk(q, c, 6)[1]
    results: list[bool] = []

    def search() -> None:
        for threads in (1, 2, None):
            results.append(bool((coldkit.topk(q, c, 6, threads=threads)[1] == want).all()))

    workers = [threading.Thread(target=search) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [True] * 12
