"""The quantised index (coldkit.quantized) against independent numpy references.

* every int8 kernel the host runs vs exact integer arithmetic (must match bit for bit);
* every bf16 kernel vs a float64 reference of the same bf16 values;
* the codes vs a numpy re-derivation of the quantisation;
* searches vs :func:`coldkit.topk` (exact float32), hypothesis property tests included;
* recall@10 = 1.0 with the default shortlist on real MiniLM vectors (slow, needs the bert
  plugin) and on hashing-encoder vectors (no torch) of real MovieLens titles;
* bad input and corrupted saved files.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coldkit
from coldkit import _core
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.quantized import QUANT_KERNEL_ENV, QuantizedIndex, quantized_capabilities

CAPS = quantized_capabilities()
INT8_KERNELS = CAPS["int8"]["kernels"]
BF16_KERNELS = CAPS["bf16"]["kernels"]
LAYOUTS: list[tuple[Any, Any]] = [("int8", "per-vector"), ("int8", "per-dimension"), ("bf16", "per-vector")]
REPO = Path(__file__).resolve().parents[1]
MOVIES = REPO.parent / "shared" / "data" / "ml-latest-small" / "movies.csv"


def embedding_like(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Unit rows sharing a common direction (the anisotropy of real sentence embeddings)."""
    mean = rng.standard_normal(d)
    x = 0.5 * mean / np.linalg.norm(mean) + rng.standard_normal((n, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, round to nearest even (independent of the Rust code)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16_bits(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


# ------------------------------------------------------------------------------------------ kernels
def test_capabilities_report_an_active_kernel_per_kind() -> None:
    for kind in ("int8", "bf16"):
        assert "scalar" in CAPS[kind]["kernels"]
        assert CAPS[kind]["active"] == CAPS[kind]["kernels"][-1]
    features = coldkit.simd_capabilities()["cpu_features"]
    assert ("avx512vnni" in INT8_KERNELS) == (features["avx512vnni"] and features["avx512bw"])
    assert ("avx512bf16" in BF16_KERNELS) == (features["avx512bf16"] and features["avx512bw"])


@pytest.mark.parametrize("kernel", INT8_KERNELS)
def test_int8_kernel_is_exact_integer_arithmetic(kernel: str) -> None:
    rng = np.random.default_rng(1)
    for d in (1, 7, 31, 32, 33, 63, 64, 65, 129, 384, 700):
        q = rng.integers(-127, 128, size=(3, d), dtype=np.int8)
        c = rng.integers(-127, 128, size=(9, d), dtype=np.int8)
        c[0] = 127  # the largest products, both signs
        q[0] = -127
        got = _core.quant_int8_dots(q, c, kernel)
        want = q.astype(np.int64) @ c.astype(np.int64).T
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want, err_msg=f"{kernel} d={d}")


@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_bf16_kernel_matches_float64_reference(kernel: str) -> None:
    rng = np.random.default_rng(2)
    for d in (1, 8, 31, 32, 33, 100, 384):
        q = rng.standard_normal((3, d)).astype(np.float32)
        c = to_bf16_bits(rng.standard_normal((7, d)).astype(np.float32))
        got = _core.quant_bf16_dots(q, c, kernel)
        want = from_bf16_bits(to_bf16_bits(q)).astype(np.float64) @ from_bf16_bits(c).astype(np.float64).T
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(d), err_msg=f"{kernel} d={d}")


def test_int8_codes_out_of_range_are_refused_by_the_kernel_entry_point() -> None:
    with pytest.raises(InvalidInputError, match="-127"):
        _core.quant_int8_dots(np.full((1, 4), -128, np.int8), np.zeros((2, 4), np.int8))


# ------------------------------------------------------------------------------------------ codes
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_int8_per_vector_codes_match_numpy_quantisation(metric: Any) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((200, 48)) * rng.uniform(0.1, 10, (200, 1))).astype(np.float32)
    x[5] = 0.0  # a zero row: zero codes, zero scale
    index = QuantizedIndex(x, "int8", metric=metric)
    codes, scales = index.codes(), index.scales()
    prepared = x.astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(prepared, axis=1, keepdims=True)
        prepared = np.divide(prepared, norms, out=np.zeros_like(prepared), where=norms > 0)
    want_scales = np.abs(prepared).max(axis=1) / 127
    np.testing.assert_allclose(scales, want_scales, rtol=1e-6)
    assert codes.dtype == np.int8 and codes.min() >= -127
    err = np.abs(codes * scales[:, None].astype(np.float64) - prepared)
    assert (err <= scales[:, None] * 0.5 * (1 + 1e-4) + 1e-12).all()
    nonzero = np.abs(prepared).max(axis=1) > 0
    assert (np.abs(codes[nonzero]).max(axis=1) == 127).all()
    assert (codes[5] == 0).all() and scales[5] == 0
    assert index.nbytes == 200 * 48 + 8 * 200


def test_int8_per_dimension_and_bf16_codes() -> None:
    rng = np.random.default_rng(4)
    x = embedding_like(rng, 300, 24)
    index = QuantizedIndex(x, "int8", scale="per-dimension", normalized=True)
    codes, scales = index.codes(), index.scales()
    np.testing.assert_allclose(scales, np.abs(x).max(axis=0) / 127, rtol=1e-6)
    assert (np.abs(codes * scales - x) <= scales * 0.5 * (1 + 1e-4) + 1e-9).all()
    assert index.nbytes == 300 * 24 + 4 * 24 + 4 * 300
    bf16 = QuantizedIndex(x, "bf16", metric="dot")
    np.testing.assert_array_equal(bf16.codes(), to_bf16_bits(x))
    assert bf16.codes().dtype == np.uint16 and bf16.nbytes == 2 * 300 * 24 and bf16.scales().size == 0


# ------------------------------------------------------------------------------------------ search
@pytest.fixture(scope="module")
def anisotropic() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = embedding_like(rng, 4000, 64)
    queries = x[rng.choice(4000, 40, replace=False)] + rng.standard_normal((40, 64)).astype(np.float32) * 0.05
    return x, queries.astype(np.float32)


@pytest.mark.parametrize("kind,scale", LAYOUTS)
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_search_equals_exact_topk_for_every_kernel(
    anisotropic: tuple[np.ndarray, np.ndarray], kind: Any, scale: Any, metric: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, queries = anisotropic
    catalog = x * np.float32(1.7)  # not unit rows: cosine must normalise
    index = QuantizedIndex(catalog, kind, scale=scale, metric=metric)
    exclude = [[int(i), (int(i) * 7) % 4000] for i in range(len(queries))]
    want_s, want_i = coldkit.topk(queries, catalog, 10, metric=metric, exclude=exclude, threads=1)
    results = []
    for kernel in CAPS[kind]["kernels"]:
        monkeypatch.setenv(QUANT_KERNEL_ENV, kernel)
        assert index.kernel == kernel
        for threads in (1, 2):
            s, i = index.search(queries, 10, exclude=exclude, threads=threads)
            np.testing.assert_array_equal(i, want_i, err_msg=f"{kernel} threads={threads}")
            np.testing.assert_allclose(s, want_s, rtol=1e-6, atol=1e-6)
            results.append((s, i))
    # The kernels of one kind rank identically (int8: the same integers; bf16: same shortlist here).
    for s, i in results[1:]:
        np.testing.assert_array_equal(i, results[0][1])


def test_one_query_vector_and_k_beyond_n() -> None:
    x = np.eye(5, dtype=np.float32) + 0.1
    index = QuantizedIndex(x, "int8")
    s, i = index.search(x[2], 3)
    assert s.shape == (3,) and i[0] == 2
    s, i = index.search(x[:2], 50, exclude=[[0, 1], None])
    assert s.shape == (2, 5)
    assert i[0].tolist()[-2:] == [-1, -1] and np.isneginf(s[0, -2:]).all()
    assert 0 not in i[0] and 1 not in i[0]


@pytest.mark.parametrize("kind", ["int8", "bf16"])
def test_k_and_shortlist_beyond_a_machine_word_mean_every_item(kind: str) -> None:
    # coldkit.topk takes k = 2**64; the index's own search raised a bare OverflowError for it.
    x = np.random.default_rng(5).standard_normal((30, 6)).astype(np.float32)
    index = QuantizedIndex(x, kind)
    exact = coldkit.topk(x[:3], x, 30)
    for k, shortlist in ((2**64, None), (2**80, 2**90), (3, 2**64)):
        s, i = index.search(x[:3], k, shortlist=shortlist)
        width = min(k, 30)
        np.testing.assert_array_equal(i, exact[1][:, :width])
        np.testing.assert_allclose(s, exact[0][:, :width], rtol=1e-6)
    with pytest.raises(InvalidInputError, match="shortlist must be >= k"):
        index.search(x[:3], 2**64, shortlist=5)


@pytest.mark.parametrize(("kind", "scale"), [("int8", "per-vector"), ("int8", "per-dimension"), ("bf16", "per-vector")])
def test_vectors_at_float32s_range_ends_give_the_exact_answer(kind: str, scale: str) -> None:
    # every exact score is finite (3.4, 1e-38, 0), but the codes' scales multiplied out of float32's range and
    # the search was refused as "scores overflow float32" while the rust backend answered
    catalog = np.array([[3.4e38, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    query = np.array([1e-38, 0.0], dtype=np.float32)
    exact = coldkit.topk(query, catalog, 3, metric="dot")
    got = QuantizedIndex(catalog, kind, scale=scale, metric="dot").search(query, 3)
    np.testing.assert_array_equal(got[1], exact[1])
    np.testing.assert_array_equal(got[0], exact[0])


@pytest.mark.parametrize("backend", ["int8", "bf16"])
def test_tiny_dot_product_vectors_rank_like_the_exact_scan(backend: str) -> None:
    # Entries ~1e-20 make products below float32's normal range: the AVX-512 BF16 scan flushed them
    # to 0 and returned the catalogue's first rows (int8 per-dimension underflowed the same way).
    rng = np.random.default_rng(8)
    catalog = (rng.standard_normal((3000, 32)) * 1e-20).astype(np.float32)
    queries = (rng.standard_normal((8, 32)) * 1e-20).astype(np.float32)
    exact = coldkit.topk(queries, catalog, 10, metric="dot")
    for layout in ({}, {"scale": "per-dimension"} if backend == "int8" else {}):
        got = coldkit.topk(queries, catalog, 10, metric="dot", backend=coldkit.get_similarity_backend(backend, **layout))
        np.testing.assert_array_equal(got[1], exact[1])


def test_threads_and_concurrent_callers_agree(anisotropic: tuple[np.ndarray, np.ndarray]) -> None:
    x, queries = anisotropic
    index = QuantizedIndex(x, "int8", normalized=True)
    want = index.search(queries, 5, threads=1)
    out: list[Any] = [None] * 4

    def work(slot: int) -> None:
        out[slot] = index.search(queries, 5, threads=None if slot % 2 else 2)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for s, i in out:
        np.testing.assert_array_equal(i, want[1])
        np.testing.assert_array_equal(s, want[0])


@st.composite
def search_cases(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 20))
    b = draw(st.integers(1, 4))
    # Small integers: many exact ties, and duplicate rows.
    values = st.integers(-3, 3)
    catalog = np.array(draw(st.lists(values, min_size=n * d, max_size=n * d)), dtype=np.float32).reshape(n, d)
    queries = np.array(draw(st.lists(values, min_size=b * d, max_size=b * d)), dtype=np.float32).reshape(b, d)
    k = draw(st.integers(1, n + 3))
    exclude = draw(st.one_of(st.none(), st.lists(st.lists(st.integers(0, n - 1), max_size=4), min_size=b, max_size=b)))
    layout = draw(st.sampled_from(LAYOUTS))
    metric = draw(st.sampled_from(["cosine", "dot"]))
    shortlist = draw(st.one_of(st.none(), st.integers(k, k + 40)))
    return dict(catalog=catalog, queries=queries, k=k, exclude=exclude, layout=layout, metric=metric, shortlist=shortlist)


def exact_scores(queries: np.ndarray, catalog: np.ndarray, metric: Any) -> np.ndarray:
    """float64 scores of every (query, item) pair; cosine of a zero vector is 0."""
    q, c = queries.astype(np.float64), catalog.astype(np.float64)
    if metric == "cosine":
        for m in (q, c):
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            np.divide(m, norms, out=m, where=norms > 0)
    return q @ c.T


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(search_cases())
def test_property_full_shortlist_is_exact_and_any_shortlist_is_a_valid_ranking(case: dict[str, Any]) -> None:
    catalog, queries, k, exclude = case["catalog"], case["queries"], case["k"], case["exclude"]
    (kind, scale), metric, n = case["layout"], case["metric"], catalog.shape[0]  # drawn from valid names
    index = QuantizedIndex(catalog, kind, scale=scale, metric=metric)
    reference = exact_scores(queries, catalog, metric)
    for row, banned in enumerate(exclude or []):
        reference[row, banned] = -np.inf
    for shortlist in (max(n, k), case["shortlist"]):
        s, i = index.search(queries, k, exclude=exclude, shortlist=shortlist)
        assert s.shape == i.shape == (queries.shape[0], min(k, n))
        for row in range(queries.shape[0]):
            kept = i[row][i[row] >= 0]
            available = int(np.isfinite(reference[row]).sum())
            # Padding only where exclusions leave fewer items than k; no repeats, none excluded.
            assert len(kept) == min(k, available) and len(set(kept.tolist())) == len(kept)
            assert np.isfinite(reference[row, kept]).all()
            assert (i[row][len(kept):] == -1).all() and np.isneginf(s[row][len(kept):]).all()
            # The scores are the float32 scores of the returned items, best first.
            np.testing.assert_allclose(s[row][: len(kept)], reference[row, kept], rtol=1e-5, atol=1e-5)
            assert (np.diff(s[row][: len(kept)]) <= 0).all()
            if shortlist is None or shortlist < n:
                continue
            # Full shortlist: exactly the top-k. Dot products of small integers are exact in
            # float32, so ties must also follow the lower index; cosine ties are only near-ties.
            best = np.sort(reference[row])[::-1][: len(kept)]
            np.testing.assert_allclose(reference[row, kept], best, rtol=1e-5, atol=1e-5)
            if metric == "dot":
                order = sorted(np.flatnonzero(np.isfinite(reference[row])), key=lambda j: (-reference[row, j], j))
                assert kept.tolist() == order[: len(kept)]


# ------------------------------------------------------------------------------------------ real vectors
def movie_titles(count: int) -> list[str]:
    if not MOVIES.exists():
        pytest.skip(f"MovieLens latest-small not found at {MOVIES}")
    import pandas as pd  # type: ignore[import-untyped]

    movies = pd.read_csv(MOVIES)
    return [f"{t}. {g.replace('|', ', ')}" for t, g in zip(movies["title"][:count], movies["genres"][:count])]


def check_recall(vectors: np.ndarray, n_catalog: int, k: int = 10) -> dict[str, float]:
    """recall@k of every layout (default shortlist) against the exact float32 top-k.

    A returned item is a hit when its exact score reaches the exact k-th score: items tied
    exactly with the k-th are interchangeable (sparse vectors such as the hashing encoder's
    tie often). Also checks the returned scores are the exact top-k scores.
    """
    catalog, queries = vectors[:n_catalog], vectors[n_catalog:]
    queries = queries[np.linalg.norm(queries, axis=1) > 0]
    exact_scores, _ = coldkit.topk(queries, catalog, k, threads=1)
    kth = exact_scores[:, -1:]
    reference = exact_scores_matrix(queries, catalog)
    recalls = {}
    for kind, scale in LAYOUTS:
        index = QuantizedIndex(catalog, kind, scale=scale)
        scores, ids = index.search(queries, k)
        hits = np.take_along_axis(reference, ids, axis=1) >= kth - 1e-6
        recalls[f"{kind}/{scale}"] = float(hits.mean())
        np.testing.assert_allclose(scores, exact_scores, rtol=0, atol=1e-6, err_msg=f"{kind}/{scale}")
    return recalls


def exact_scores_matrix(queries: np.ndarray, catalog: np.ndarray) -> np.ndarray:
    return exact_scores(queries, catalog, "cosine").astype(np.float32)


@pytest.mark.slow
@pytest.mark.torch
def test_recall_at_10_is_one_on_minilm_vectors_of_movie_titles() -> None:
    pytest.importorskip("coldkit_bert")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    texts = movie_titles(2300)
    try:
        encoder = coldkit.get_encoder("bert", device="cpu", threads=1)
    except ColdkitError as exc:  # model files absent on this machine
        pytest.skip(f"bert encoder unavailable: {exc}")
    vectors = coldkit.encode_catalog(texts, encoder, progress=False)  # cached: reruns are instant
    recalls = check_recall(vectors, 2000)
    assert all(r == 1.0 for r in recalls.values()), recalls


def test_recall_at_10_is_one_on_hashing_vectors_of_movie_titles() -> None:
    texts = movie_titles(2300)
    vectors = coldkit.encode_catalog(texts, coldkit.get_encoder("hashing", dim=384), cache=False, progress=False)
    recalls = check_recall(vectors, 2000)
    assert all(r == 1.0 for r in recalls.values()), recalls


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def small_index() -> QuantizedIndex:
    return QuantizedIndex(np.random.default_rng(6).standard_normal((50, 8)).astype(np.float32), "int8")


@pytest.mark.parametrize(
    "catalog,kwargs,match",
    [
        (np.zeros((0, 4), np.float32), {}, "empty"),
        (np.ones((3, 4, 2), np.float32), {}, "2-D"),
        (np.array([["a", "b"]]), {}, "real numbers"),
        (np.ones((3, 4), np.complex64), {}, "real numbers"),
        (np.array([[1.0, np.nan], [0.0, 1.0]], np.float32), {}, "NaN"),
        (np.ones((3, 4), np.float32), {"kind": "int4"}, "kind"),
        (np.ones((3, 4), np.float32), {"scale": "per-row"}, "scale"),
        (np.ones((3, 4), np.float32), {"metric": "pearson"}, "metric"),
        (np.ones((3, 4), np.float32), {"normalized": "yes"}, "normalized"),
        (np.ones((3, 4), np.float32), {"threads": 0}, "threads"),
    ],
)
def test_bad_build_arguments(catalog: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        QuantizedIndex(catalog, **kwargs)


@pytest.mark.parametrize(
    "queries,kwargs,match",
    [
        (np.ones(8, np.float32), {"k": 0}, "k must be >= 1"),
        (np.ones(8, np.float32), {"k": -2}, "k must be >= 1"),
        (np.ones(8, np.float32), {"k": 2.5}, "integer"),
        (np.ones(8, np.float32), {"k": 10, "shortlist": 5}, "shortlist must be >= k"),
        (np.ones(8, np.float32), {"k": 3, "shortlist": 0}, "shortlist"),
        (np.ones(7, np.float32), {"k": 3}, "dimension mismatch"),
        (np.full(8, np.inf, np.float32), {"k": 3}, "NaN or infinite"),
        (np.ones((2, 2, 8), np.float32), {"k": 3}, "2-D"),
        (np.ones(8, np.float32), {"k": 3, "exclude": [50]}, "outside the catalog range"),
        (np.ones((2, 8), np.float32), {"k": 3, "exclude": [[1]]}, "one entry per query"),
        (np.ones(8, np.float32), {"k": 3, "threads": 0}, "threads"),
    ],
)
def test_bad_search_arguments(small_index: QuantizedIndex, queries: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        small_index.search(queries, **kwargs)


def test_unknown_or_unsupported_kernels_are_refused(small_index: QuantizedIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    q = np.ones(8, np.float32)
    # the variable is named, and the kernel property (which reported it as the one in use) refuses it too
    for name in ("sse9", "avx512bf16") + tuple(k for k in ("neon", "avx512vnni", "avx512bw", "avx2") if k not in INT8_KERNELS):
        monkeypatch.setenv(QUANT_KERNEL_ENV, name)  # unknown, a bf16 kernel for int8 codes, another CPU's
        said = rf"COLDKIT_QUANT_KERNEL='{name}' cannot search int8 codes here; this CPU and build run 'scalar'"
        with pytest.raises(InvalidInputError, match=said):
            small_index.search(q, 3)
        with pytest.raises(InvalidInputError, match=said):
            small_index.kernel
    monkeypatch.setenv(QUANT_KERNEL_ENV, "scalar")  # a kernel of both kinds
    assert small_index.kernel == "scalar" and QuantizedIndex(np.eye(4, dtype=np.float32), "bf16").kernel == "scalar"
    monkeypatch.delenv(QUANT_KERNEL_ENV)
    with pytest.raises(InvalidInputError, match="kernel must be"):
        QuantizedIndex(np.ones((2, 2), np.float32), kernel=3)  # type: ignore[arg-type]
    # kernel= is checked when the index is built or loaded, not at its first search ("" was taken as auto)
    catalog = np.eye(4, dtype=np.float32)
    for kind, name in (("int8", "neon"), ("bf16", "avx512vnni"), ("int8", ""), ("bf16", "sse9")):
        with pytest.raises(InvalidInputError, match=f"kernel {name!r} cannot search {kind} codes here; this CPU and build run 'scalar'"):
            QuantizedIndex(catalog, kind=kind, kernel=name)
    assert QuantizedIndex(catalog, kind="bf16", kernel="auto").kernel == CAPS["bf16"]["active"]
    assert QuantizedIndex(catalog, kind="int8", kernel="scalar").kernel == "scalar"


def test_load_checks_the_kernel_too(small_index: QuantizedIndex, tmp_path: Path) -> None:
    small_index.save(tmp_path / "idx")
    with pytest.raises(InvalidInputError, match="kernel 'neon' cannot search int8 codes here"):
        QuantizedIndex.load(tmp_path / "idx", kernel="neon")


# ------------------------------------------------------------------------------------------ save / load
@pytest.mark.parametrize("kind,scale", LAYOUTS)
def test_save_and_load_round_trip_with_a_memory_mapped_catalog(
    anisotropic: tuple[np.ndarray, np.ndarray], tmp_path: Path, kind: Any, scale: Any
) -> None:
    x, queries = anisotropic
    index = QuantizedIndex(x, kind, scale=scale, metric="dot")
    index.save(tmp_path / "ix")
    assert not [p for p in (tmp_path / "ix").iterdir() if p.name.startswith(".tmp")]
    for mmap in (True, False):
        loaded = QuantizedIndex.load(tmp_path / "ix", mmap=mmap)
        assert isinstance(loaded.catalog, np.memmap) == mmap
        assert (loaded.kind, loaded.scale, loaded.metric, loaded.shape, loaded.nbytes) == (
            index.kind, index.scale, index.metric, index.shape, index.nbytes
        )
        np.testing.assert_array_equal(loaded.codes(), index.codes())
        for got, want in zip(loaded.search(queries, 7), index.search(queries, 7)):
            np.testing.assert_array_equal(got, want)
    # Saving again over the same directory replaces it atomically file by file.
    QuantizedIndex.load(tmp_path / "ix").save(tmp_path / "ix")
    assert QuantizedIndex.load(tmp_path / "ix").shape == index.shape


@pytest.mark.parametrize("kinds", [("int8", "int8"), ("int8", "bf16"), ("bf16", "int8")])
def test_a_crash_while_saving_over_an_index_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kinds: tuple[Any, Any]
) -> None:
    # The data files were rewritten in place before meta.json: a crash between the two left the new
    # codes beside the old meta.json, and the index no longer loaded ("corrupted").
    import coldkit.quantized as quantized

    rng = np.random.default_rng(11)
    old_x, new_x = rng.standard_normal((20, 6)).astype(np.float32), rng.standard_normal((25, 6)).astype(np.float32)
    QuantizedIndex(old_x, kinds[0]).save(tmp_path / "ix")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(quantized, "atomic_write_bytes", crash)  # dies just before meta.json is replaced
        with pytest.raises(OSError, match="power cut"):
            QuantizedIndex(new_x, kinds[1]).save(tmp_path / "ix")
    survivor = QuantizedIndex.load(tmp_path / "ix")
    assert (survivor.kind, survivor.shape) == (kinds[0], (20, 6))
    np.testing.assert_array_equal(np.asarray(survivor.catalog), old_x)
    # a completed save replaces it, and only the new index's files remain
    QuantizedIndex(new_x, kinds[1]).save(tmp_path / "ix")
    replaced = QuantizedIndex.load(tmp_path / "ix")
    assert (replaced.kind, replaced.shape) == (kinds[1], (25, 6))
    np.testing.assert_array_equal(np.asarray(replaced.catalog), new_x)
    names = sorted(p.name for p in (tmp_path / "ix").iterdir())
    assert len(names) == (4 if kinds[1] == "int8" else 3) and "meta.json" in names


def test_saving_onto_a_file_is_a_clear_error_and_leaves_it(tmp_path: Path) -> None:
    target = tmp_path / "catalog.qidx"
    target.write_text("mine")
    with pytest.raises(InvalidInputError, match="exists and is not a directory"):
        QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(target)  # was FileExistsError from mkdir
    assert target.read_text() == "mine"


def test_a_save_never_replaces_files_no_index_wrote(tmp_path: Path) -> None:
    # the user's own meta.json and catalog.npy were replaced without a word
    (tmp_path / "meta.json").write_text('{"experiment": 3}')
    (tmp_path / "catalog.npy").write_text("mine")
    with pytest.raises(InvalidInputError, match="holds catalog.npy, meta.json that no coldkit quantised index wrote"):
        QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(tmp_path)
    assert (tmp_path / "meta.json").read_text() == '{"experiment": 3}' and (tmp_path / "catalog.npy").read_text() == "mine"
    (tmp_path / "notes.txt").write_text("unrelated")  # files of other names may share the directory
    QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(tmp_path / "index")
    blocker = tmp_path / "notes.txt"
    with pytest.raises(InvalidInputError, match="cannot create the index directory"):  # was a bare NotADirectoryError
        QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(blocker / "sub")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("normalized", "false", "'normalized' must be true or false"),  # read as True: dot products for cosine
        ("n", 50.7, "'n' must be an integer"),
        ("catalog_bytes", 1e400, "'catalog_bytes' must be an integer"),  # Infinity: an OverflowError
        ("d", True, "'d' must be an integer"),
    ],
)
def test_meta_fields_of_the_wrong_type_are_refused(tmp_path: Path, field: str, value: Any, words: str) -> None:
    QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta[field] = value
    del meta["fields_sha256"]  # as an index saved before meta.json had its own digest: the fields are checked
    meta["version"] = 2
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match=words):
        QuantizedIndex.load(tmp_path)
    (tmp_path / "meta.json").write_text("[" * 100_000 + "]" * 100_000)  # deep nesting: a RecursionError
    with pytest.raises(InvalidInputError, match="unreadable or corrupted"):
        QuantizedIndex.load(tmp_path)


def test_a_files_entry_outside_the_known_names_is_refused(tmp_path: Path) -> None:
    QuantizedIndex(np.eye(4, dtype=np.float32), "int8").save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["files"] = {"codes": "../codes.npy", "scales": "scales.npy", "catalog": "catalog.npy"}
    del meta["fields_sha256"]  # an index saved before the fields' digest
    meta["version"] = 2
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match="bad 'files' field"):
        QuantizedIndex.load(tmp_path)


def test_an_index_of_format_version_1_still_loads_and_version_2_names_its_files(tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((40, 8)).astype(np.float32)
    index = QuantizedIndex(x, "int8")
    index.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["version"] == 3 and meta["files"]["codes"] == "codes.npy"
    # what a coldkit before the alternating names wrote: version 1, no 'files' (always the first set)
    del meta["files"], meta["fields_sha256"]
    meta["version"] = 1
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    loaded = QuantizedIndex.load(tmp_path)
    np.testing.assert_array_equal(loaded.search(x[:5], k=3)[1], index.search(x[:5], k=3)[1])
    # a version-1 meta naming files is no index any coldkit wrote
    meta["files"] = {"codes": "codes.b.npy", "scales": "scales.b.npy", "catalog": "catalog.b.npy"}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match="format version 1 does not have"):
        QuantizedIndex.load(tmp_path)


def corrupt(directory: Path, how: str) -> None:
    if how == "codes-byte":
        codes = bytearray((directory / "codes.npy").read_bytes())
        codes[-1] ^= 0x5A
        (directory / "codes.npy").write_bytes(bytes(codes))
    elif how == "catalog-truncated":
        data = (directory / "catalog.npy").read_bytes()
        (directory / "catalog.npy").write_bytes(data[:-16])
    elif how == "scales-missing":
        (directory / "scales.npy").unlink()
    elif how == "meta-missing":
        (directory / "meta.json").unlink()
    elif how == "meta-garbage":
        (directory / "meta.json").write_text("{not json")
    elif how == "meta-version":
        meta = json.loads((directory / "meta.json").read_text())
        meta["version"] = 99
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "meta-shape":
        meta = json.loads((directory / "meta.json").read_text())
        meta["d"] = 3
        del meta["fields_sha256"]  # reach the shape check (an index saved before the digest)
        meta["version"] = 2
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "meta-edited":  # a cosine index of raw rows marked normalised answered with dot products
        meta = json.loads((directory / "meta.json").read_text())
        meta["normalized"] = True
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "meta-digest-deleted":  # the same edit, with the digest removed
        meta = json.loads((directory / "meta.json").read_text())
        meta["normalized"] = True
        del meta["fields_sha256"]
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "catalog-shape":
        catalog = np.load(directory / "catalog.npy")
        np.save(directory / "catalog.npy", catalog[:, :4])
        meta = json.loads((directory / "meta.json").read_text())
        meta["catalog_bytes"] = (directory / "catalog.npy").stat().st_size
        meta["sha256"]["catalog.npy"] = hashlib.sha256((directory / "catalog.npy").read_bytes()).hexdigest()  # reach the shape check
        del meta["fields_sha256"]
        meta["version"] = 2
        (directory / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "how,match",
    [
        ("codes-byte", "corrupted"),
        ("catalog-truncated", "truncated"),
        ("scales-missing", "missing"),
        ("meta-missing", "no quantised index"),
        ("meta-garbage", "corrupted"),
        ("meta-version", "version"),
        ("meta-shape", "shape"),
        ("meta-edited", "was edited or is corrupted: its fields do not match their SHA-256"),
        ("meta-digest-deleted", "lacks its fields_sha256 \\(format version 3 has one\\): it was edited"),
        ("catalog-shape", "shape"),
    ],
)
def test_corrupted_saved_files_are_refused(tmp_path: Path, how: str, match: str) -> None:
    x = np.random.default_rng(7).standard_normal((30, 8)).astype(np.float32)
    QuantizedIndex(x, "int8").save(tmp_path)
    corrupt(tmp_path, how)
    with pytest.raises(InvalidInputError, match=match):
        QuantizedIndex.load(tmp_path)


def test_rust_side_validates_parts_without_trusting_the_digest() -> None:
    codes = np.zeros((3, 4), np.int8)
    scales = np.ones(3, np.float32)
    _core.QuantizedIndex.from_int8_parts(codes, scales, "per-vector", "cosine", False)
    bad = codes.copy()
    bad[1, 2] = -128
    with pytest.raises(InvalidInputError, match="row 1, column 2"):
        _core.QuantizedIndex.from_int8_parts(bad, scales, "per-vector", "cosine", False)
    with pytest.raises(InvalidInputError, match="scale 0"):
        _core.QuantizedIndex.from_int8_parts(codes, np.array([-1, 1, 1], np.float32), "per-vector", "cosine", False)
    with pytest.raises(InvalidInputError, match="scales expected"):
        _core.QuantizedIndex.from_int8_parts(codes, np.ones(3, np.float32), "per-dimension", "cosine", False)
    with pytest.raises(InvalidInputError, match="NaN or infinity"):
        _core.QuantizedIndex.from_bf16_parts(np.full((2, 2), 0x7FC0, np.uint16), "dot", False)
    index = _core.QuantizedIndex.from_int8_parts(codes, scales, "per-vector", "cosine", False)
    with pytest.raises(InvalidInputError, match="float32 catalogue has shape"):
        index.search(np.ones((1, 4), np.float32), np.ones((2, 4), np.float32), 1)
