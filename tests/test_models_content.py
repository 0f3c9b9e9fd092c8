"""Content models, whitening, cold adapters, the hybrid and the router."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import coldkit
import coldkit.models as models
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models.blend import NO_SOURCE_REASON
from coldkit.models.cold import bilinear_ridge, ridge_map
from coldkit.models.whitening import Whitening, mean_pairwise_cosine

TITLES = [
    "Space Robots", "Robot Wars", "Romantic Paris", "Paris in Love", "Basketball Legends",
    "Basketball Dreams", "Ocean Documentary", "Deep Ocean", "Comedy Night", "Laugh Out Loud",
]
GENRES = ["Sci-Fi", "Sci-Fi|Action", "Romance", "Romance|Comedy", "Sport", "Sport|Drama",
          "Documentary", "Documentary", "Comedy", "Comedy"]
FAST = {"encoder": "hashing", "cache": False}


def make_data(seed: int = 0, n_users: int = 16) -> Interactions:
    """Two tastes (sci-fi/ocean vs romance/sport/comedy); item 9 ("Laugh Out Loud") is cold."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"item_id": [f"i{j}" for j in range(10)], "title": TITLES, "genres": GENRES})
    catalog = Catalog(table["item_id"].to_numpy(), table, text_columns=("title", "genres"))
    dense = np.zeros((n_users, 10), dtype=np.float32)
    for u in range(n_users):
        pool = [0, 1, 6, 7] if u % 2 == 0 else [2, 3, 4, 5, 8]
        dense[u, rng.choice(pool, size=rng.integers(2, len(pool) + 1), replace=False)] = 1.0
    dense[:, 9] = 0.0
    return Interactions(np.array([f"u{u}" for u in range(n_users)]), catalog, sp.csr_matrix(dense))


@pytest.fixture(scope="module")
def data() -> Interactions:
    return make_data()


# ------------------------------------------------------------------------------ whitening


def anisotropic(n: int = 400, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])[:, None]
    return rng.standard_normal((n, d)) @ mixing + 4.0  # a large common direction, like LM vectors


def test_whitening_gives_identity_covariance() -> None:
    x = anisotropic()
    out = Whitening("whiten", eps=0.0).fit(x).transform(x)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(x.shape[1]), atol=1e-4)
    reduced = Whitening("whiten", dim=3, eps=0.0).fit(x).transform(x)
    assert reduced.shape == (x.shape[0], 3)
    np.testing.assert_allclose(np.cov(reduced, rowvar=False), np.eye(3), atol=1e-4)


def test_centering_removes_the_common_direction() -> None:
    x = anisotropic()
    assert mean_pairwise_cosine(x) > 0.5
    centred = Whitening("center").fit(x).transform(x)
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-5)
    assert abs(mean_pairwise_cosine(centred)) < 0.01
    np.testing.assert_allclose(Whitening("none").fit(x).transform(x), x.astype(np.float32))


def test_whitening_keeps_zero_rows_and_validates() -> None:
    x = anisotropic()
    w = Whitening("whiten").fit(x)
    out = w.transform(np.vstack([x[:2], np.zeros((1, 6))]), normalize=True)
    assert np.all(out[2] == 0)
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 1.0, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="whitening must be"):
        Whitening("pca")
    with pytest.raises(InvalidInputError, match="shape"):
        w.transform(np.ones((2, 5)))
    with pytest.raises(InvalidInputError, match="NaN"):
        Whitening().fit(np.full((3, 2), np.nan))


def test_centring_in_steps_is_the_one_pass_arithmetic() -> None:
    # many steps of rows (a 1M-row catalogue): each row must come out as numpy's one-pass formula gives it
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5_000, 300)).astype(np.float32)
    x[17] = 0.0  # a row without content stays zero
    w = Whitening("center").fit(x)
    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    centred[17] = 0.0
    reference = (centred / np.linalg.norm(centred, axis=1, keepdims=True).clip(1e-300)).astype(np.float32)
    np.testing.assert_array_equal(w.transform(x, normalize=True), reference)


# ------------------------------------------------------------------------------ content


def test_content_matches_text_and_liked_items(data: Interactions) -> None:
    model = models.create("content", **FAST).fit(data)
    ranked = model.recommend([UserQuery(text="basketball"), UserQuery(history=np.array([6]))], 2)
    assert set(ranked.indices[0].tolist()) == {4, 5}
    assert ranked.indices[1, 0] == 7  # the other ocean documentary
    # cosine in [-1, 1] and best first
    assert np.all(np.diff(ranked.scores, axis=1) <= 1e-6) and np.all(np.abs(ranked.scores) <= 1 + 1e-5)


def test_content_scores_equal_numpy_cosine(data: Interactions) -> None:
    model = models.create("content", whitening="none", **FAST).fit(data)
    raw = model.raw_vectors_
    profile = raw[[2, 3]].mean(axis=0)
    expected = raw @ profile / (np.linalg.norm(raw, axis=1) * np.linalg.norm(profile) + 1e-12)
    ranked = model.recommend([UserQuery(history=np.array([2, 3]))], 8)
    np.testing.assert_allclose(ranked.scores[0], expected[ranked.indices[0]], atol=1e-5)
    assert 2 not in ranked.indices[0] and 3 not in ranked.indices[0]


def test_content_item_to_item_and_explanations(data: Interactions) -> None:
    model = models.create("content", **FAST).fit(data)
    similar = model.similar_items([0, 4], 1)
    assert similar.indices[:, 0].tolist() == [1, 5]
    why = model.explain(UserQuery(history=np.array([4]), text="I like basketball dreams"), 5)
    assert "because you liked Basketball Legends" in why and "matches your words" in why and "basketball" in why
    assert "no liked item" in model.explain(UserQuery(), 3)
    with pytest.raises(InvalidInputError, match="out of range"):
        model.explain(UserQuery(), 10)


def test_content_explain_names_no_liked_item_whose_similarity_is_not_positive(data: Interactions) -> None:
    model = models.create("content", **FAST).fit(data)
    vectors = model.item_vectors()
    sims = vectors @ vectors.T  # centred: unlike items have negative cosines
    np.fill_diagonal(sims, np.inf)
    liked, item = np.unravel_index(int(np.argmin(sims)), sims.shape)
    assert sims[liked, item] < 0
    why = model.explain(UserQuery(history=np.array([liked])), int(item))
    assert "because you liked" not in why and why.startswith("no liked item")


def test_content_with_two_encoders_averages_cosines(data: Interactions) -> None:
    one = models.create("content", **FAST).fit(data)
    two = models.create("content", encoder=["hashing", "hashing"], cache=False).fit(data)
    q = [UserQuery(history=np.array([0, 6]))]
    np.testing.assert_allclose(two.recommend(q, 5).scores, one.recommend(q, 5).scores, atol=1e-5)
    with pytest.raises(InvalidInputError, match="encoder_weights"):
        models.create("content", encoder=["hashing"], encoder_weights=[1.0, 2.0])


def test_content_accepts_an_encoder_instance(data: Interactions) -> None:
    encoder = coldkit.get_encoder("hashing", dim=256)
    model = models.create("content", encoder=encoder, cache=False).fit(data)
    assert model.item_vectors().shape == (10, 256)
    with pytest.raises(InvalidInputError, match="encoder"):
        models.create("content", encoder=42)


@pytest.mark.torch
@pytest.mark.slow
def test_content_with_bert_when_installed(data: Interactions) -> None:
    if "bert" not in coldkit.plugins.manager.registry("encoder").names():
        pytest.skip("the coldkit-bert plugin is not installed")
    model = models.create("content", encoder="bert", cache=False).fit(data)
    ranked = model.recommend([UserQuery(text="a film about basketball players")], 2)
    assert set(ranked.indices[0].tolist()) == {4, 5}


# ------------------------------------------------------------------------------ cold adapters


def test_ridge_map_matches_sklearn() -> None:
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    features, targets = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    weights, intercept = ridge_map(features, targets, 2.5)
    reference = sklearn_linear.Ridge(alpha=2.5, fit_intercept=True).fit(features, targets)
    np.testing.assert_allclose(weights, reference.coef_.T, atol=1e-10)
    np.testing.assert_allclose(intercept, reference.intercept_, atol=1e-10)


def test_ridge_map_matches_normal_equations_without_intercept_shift() -> None:
    rng = np.random.default_rng(2)
    f = rng.standard_normal((30, 4))
    f -= f.mean(axis=0)
    t = rng.standard_normal((30, 2))
    t -= t.mean(axis=0)
    weights, intercept = ridge_map(f, t, 0.7)
    np.testing.assert_allclose(weights, np.linalg.solve(f.T @ f + 0.7 * np.eye(4), f.T @ t), atol=1e-10)
    np.testing.assert_allclose(intercept, 0.0, atol=1e-12)


def test_an_unpenalised_singular_ridge_map_is_a_clear_error(data: Interactions) -> None:
    # l2=0 is allowed, but hashed content leaves dimensions unused: the Gram is singular (was a bare LinAlgError)
    with pytest.raises(InvalidInputError, match=r"l2=0 .*use l2 > 0"):
        models.create("cold-ridge", warm="ease", l2=0, **FAST).fit(data)
    with pytest.raises(InvalidInputError, match=r"l2=0 .*use l2 > 0 .*adapter_l2. of the hybrid"):
        ridge_map(np.ones((5, 3)), np.ones((5, 2)), 0.0)
    rng = np.random.default_rng(4)  # a full-rank system still solves without a penalty
    features, targets = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    weights, _ = ridge_map(features, targets, 0.0)
    centred = features - features.mean(axis=0)
    np.testing.assert_allclose(weights, np.linalg.lstsq(centred, targets - targets.mean(axis=0), rcond=None)[0], atol=1e-10)


@pytest.mark.parametrize("width", [3, 700])  # factor targets (float64) and wide ones (float32 cross term)
def test_ridge_map_over_several_row_blocks_matches_the_augmented_normal_equations(monkeypatch, width: int) -> None:
    """ridge_map sums its Gram and cross term over row blocks: with blocks of 37 rows (and a last
    short one) it is the one-shot ridge with an unpenalised intercept, solved here with numpy."""
    from coldkit.models import cold as cold_module

    monkeypatch.setattr(cold_module, "_RIDGE_ROWS", 37)
    rng = np.random.default_rng(4)
    f = (rng.standard_normal((250, 6)) + 3.0).astype(np.float32)  # off-centre: the centring matters
    t = (rng.standard_normal((250, width)) - 1.0).astype(np.float32)
    weights, intercept = ridge_map(f, t, 1.3)
    x = np.hstack([f.astype(np.float64), np.ones((250, 1))])
    penalty = np.diag([1.3] * 6 + [0.0])
    reference = np.linalg.solve(x.T @ x + penalty, x.T @ t.astype(np.float64))
    atol = 1e-9 if width <= cold_module.WIDE_TARGETS else 1e-5  # wide targets: float32 cross term
    np.testing.assert_allclose(weights, reference[:-1], atol=atol)
    np.testing.assert_allclose(intercept, reference[-1], atol=atol)


def test_bilinear_ridge_matches_kronecker_solve() -> None:
    rng = np.random.default_rng(3)
    left, right, target = rng.standard_normal((6, 3)), rng.standard_normal((5, 4)), rng.standard_normal((6, 5))
    w = bilinear_ridge(left, right, target, 0.9)
    design = np.kron(right, left)  # vec(L W Rᵀ) = (R ⊗ L) vec(W), column-major vec
    vec = np.linalg.solve(design.T @ design + 0.9 * np.eye(12), design.T @ target.ravel(order="F"))
    np.testing.assert_allclose(w, vec.reshape(3, 4, order="F"), atol=1e-9)


@pytest.mark.parametrize("warm", ["svd", "ease", "item-knn", "interactions", "popularity"])
def test_cold_ridge_maps_content_for_cold_items(data: Interactions, warm: str) -> None:
    model = models.create("cold-ridge", warm=warm, factors=4, l2=1.0, **FAST).fit(data)
    features = model.content.item_vectors()
    warm_items = np.flatnonzero(data.item_counts() > 0)
    weights, intercept = ridge_map(features[warm_items], model.warm.item_vectors_[warm_items], 1.0)
    np.testing.assert_allclose(model.item_vectors()[9], features[9] @ weights + intercept, atol=1e-4)
    np.testing.assert_allclose(model.item_vectors()[warm_items], model.warm.item_vectors_[warm_items])
    new = model.vector_for_text(["Laugh Out Loud. Comedy"])
    np.testing.assert_allclose(new[0], model.item_vectors()[9], atol=1e-4)
    ranked = model.recommend([UserQuery(user=1)], 3, candidates=np.array([9, 0]))
    assert set(ranked.indices[0, :2].tolist()) == {0, 9} and ranked.indices[0, 2] == -1


def test_rbf_kernel_ridge_with_a_tiny_bandwidth_is_the_mean_not_a_nan(data: Interactions) -> None:
    """A unit vector's rounded self-product can exceed 1: over bandwidth=1e-308 exp overflowed to inf,
    and the NaN that followed was blamed on the catalogue. The kernel is then the identity, and a cold
    item (similar to no warm item) gets the warm items' mean CF vector: kernel ridge's limit."""
    model = models.create("cold-ridge", kernel="rbf", bandwidth=1e-308, warm="ease", **FAST).fit(data)
    warm_items = np.flatnonzero(data.item_counts() > 0)
    mean = model.warm.item_vectors_[warm_items].mean(axis=0)
    np.testing.assert_allclose(model.item_vectors()[9], mean, atol=1e-6)
    assert np.isfinite(model.item_vectors()).all()


def test_cold_ridge_item_trust_blends_by_count(data: Interactions) -> None:
    model = models.create("cold-ridge", warm="ease", item_trust=2.0, **FAST).fit(data)
    counts = data.item_counts().astype(float)
    alpha = counts / (counts + 2.0)
    expected = alpha[:, None] * model.warm.item_vectors_ + (1 - alpha[:, None]) * model.mapped_vectors_
    np.testing.assert_allclose(model.item_vectors(), expected, atol=1e-5)


def test_cold_knn_is_the_weighted_mean_of_neighbours(data: Interactions) -> None:
    model = models.create("cold-knn", warm="ease", neighbors=3, normalize=True, **FAST).fit(data)
    features = model.content.item_vectors()
    warm = np.flatnonzero(data.item_counts() > 0)
    sims = features[warm] @ features[9]
    top = np.lexsort((np.arange(len(warm)), -sims))[:3]
    w = np.maximum(sims[top], 0)
    expected = (w / w.sum()) @ model.warm.item_vectors_[warm[top]]
    np.testing.assert_allclose(model.item_vectors()[9], expected, atol=1e-5)


def test_cold_item_gets_a_sensible_rank_from_its_text(data: Interactions) -> None:
    """The cold comedy should rank above the cold-looking sci-fi item for a comedy fan."""
    model = models.create("cold-ridge", warm="ease", **FAST).fit(data)
    comedy_fan = UserQuery(history=np.array([8, 3]))  # Comedy Night, Paris in Love (Romance|Comedy)
    scores = model.warm.user_vectors([comedy_fan]) @ model.vector_for_text(["Laugh Out Loud. Comedy", "Robot Wars II. Sci-Fi"]).T
    assert scores[0, 0] > scores[0, 1]


def test_adapter_sharing_a_fitted_warm_space(data: Interactions) -> None:
    ridge = models.create("cold-ridge", warm="ease", **FAST).fit(data)
    alone = models.create("cold-knn", warm="ease", neighbors=3, **FAST).fit(data)
    shared = models.create("cold-knn", warm="ease", neighbors=3, **FAST).fit_sharing(data, ridge.warm, ridge.content)
    np.testing.assert_allclose(shared.item_vectors(), alone.item_vectors(), atol=1e-5)
    with pytest.raises(InvalidInputError, match="shared warm space"):
        models.create("cold-knn", warm="svd", **FAST).fit_sharing(data, ridge.warm, ridge.content)


def test_cold_mlp_trains_deterministically(data: Interactions) -> None:
    pytest.importorskip("torch")
    for loss in ("mse", "bpr"):
        a = models.create("cold-mlp", loss=loss, epochs=30, hidden=16, factors=4, seed=5, lr=0.01, **FAST).fit(data)
        b = models.create("cold-mlp", loss=loss, epochs=30, hidden=16, factors=4, seed=5, lr=0.01, **FAST).fit(data)
        np.testing.assert_allclose(a.item_vectors(), b.item_vectors())
        assert a.losses_[-1] < a.losses_[0]
        assert np.any(a.item_vectors()[9] != 0)
    with pytest.raises(InvalidInputError, match="loss"):
        models.create("cold-mlp", loss="hinge")


def test_cold_mlp_with_a_single_warm_item_fits_finite_vectors() -> None:
    # one warm item (a 1 x 1 target): torch's std of one value is NaN, every mapped vector was NaN and
    # the fit ended in "catalog contains NaN or infinite values (first at row 0, column 0)"
    pytest.importorskip("torch")
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["space robots", "love story"]})
    frame = pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]})
    model = models.create("cold-mlp", encoder="hashing", epochs=3, hidden=4, seed=0).fit(frame, items=items)
    assert np.isfinite(model.item_vectors()).all()
    recs = model.recommend(users=["u1"], k=5)
    assert recs["item_id"].tolist() == ["b"] and np.isfinite(recs["score"]).all()  # a is known to u1


# ------------------------------------------------------------------------------ hybrid and router


@pytest.fixture(scope="module")
def hybrid(data: Interactions) -> models.Recommender:
    return models.create("hybrid", **FAST).fit(data)


def test_hybrid_ranks_a_cold_item_matching_the_text(data: Interactions, hybrid: models.Recommender) -> None:
    query = UserQuery(history=np.array([8]), text="laugh out loud")
    ranked = hybrid.recommend([query], 3)
    assert 9 in ranked.indices[0].tolist()  # cold item: no interactions at all
    popular = models.create("popularity").fit(data).recommend([query], 3)
    assert 9 not in popular.indices[0].tolist()
    assert "matches your words: laugh, loud" in hybrid.explain(query, 9)


def test_hybrid_adaptive_weights(data: Interactions, hybrid: models.Recommender) -> None:
    queries = [UserQuery(), UserQuery(history=np.array([1])), UserQuery(user=0), UserQuery(text="ocean")]
    w = hybrid.source_weights(queries)
    n = np.array([0, 1, len(data.items_of(0)), 0], dtype=float)
    np.testing.assert_allclose(w["cf"], n / (n + 3.0))
    np.testing.assert_allclose(w["cf_knn"], n / (n + 3.0))
    np.testing.assert_allclose(w["popularity"], 0.5 * (1 - n / (n + 3.0)))
    assert w["content"].tolist() == [0.0, 0.1, 0.1, 0.0]
    assert w["text"].tolist() == [0.0, 0.0, 0.0, 0.5]


def test_hybrid_respects_exclusions_and_candidates(data: Interactions, hybrid: models.Recommender) -> None:
    ranked = hybrid.recommend([UserQuery(user=u) for u in range(4)], 10)
    for u in range(4):
        row = ranked.indices[u]
        assert not set(row[row >= 0].tolist()) & set(data.items_of(u).tolist())
    cold_only = hybrid.recommend([UserQuery(user=0)], 5, candidates=np.array([9]))
    assert cold_only.indices[0].tolist() == [9, -1, -1, -1, -1]
    assert hybrid.explain(UserQuery(user=1), int(ranked.indices[1, 0]))  # what it says: the test below
    with pytest.raises(InvalidInputError, match="weight"):
        models.create("hybrid", weights={"bert": 1.0}, **FAST)


#: each source's own ranking, as the hybrid asks it (the collaborative sources read the clicks, not the text)
SOURCE_SCORES = {
    "cf": lambda h, q: h.cf, "cf_knn": lambda h, q: h.cf_knn, "popularity": lambda h, q: h.popularity,
    "ease": lambda h, q: h.ease, "item_knn": lambda h, q: h.item_knn, "trending": lambda h, q: h.trending,
}


def _scores_by(hybrid: models.Recommender, name: str, query: UserQuery) -> np.ndarray:
    """(n_items,) every item's score from source ``name`` for ``query``, each model asked directly."""
    n = hybrid.train_.n_items
    if name == "content":
        ranked = hybrid.content.recommend([query], n, exclude_known=False, use_text=False)
    elif name == "text":
        ranked = hybrid.content.recommend([query], n, exclude_known=False, use_history=False)
    else:
        ranked = SOURCE_SCORES[name](hybrid, query).recommend([UserQuery(user=query.user, history=query.history)], n, exclude_known=False)
    scores = np.zeros(n)
    scores[ranked.indices[0]] = ranked.scores[0]
    return scores


def _list_by(hybrid: models.Recommender, name: str, query: UserQuery) -> dict[int, float]:
    """Source ``name``'s top-``depth`` list for ``query`` (known items left out, as recommend asks), item -> score."""
    n = hybrid.depth
    if name == "content":
        ranked = hybrid.content.recommend([query], n, use_text=False)
    elif name == "text":
        ranked = hybrid.content.recommend([query], n, use_history=False)
    else:
        ranked = SOURCE_SCORES[name](hybrid, query).recommend([UserQuery(user=query.user, history=query.history)], n)
    keep = (ranked.indices[0] >= 0) & np.isfinite(ranked.scores[0])
    return dict(zip(ranked.indices[0][keep].tolist(), ranked.scores[0][keep].astype(np.float64).tolist()))


def test_hybrid_explain_names_only_the_sources_that_ranked_the_item(data: Interactions, hybrid: models.Recommender) -> None:
    """The hybrid's explain gave every reason it could find, whatever the source's weight: "because you
    liked X (content similarity 0.4)" for an item CF ranked, with content at a tenth of CF's weight, while the
    server's why for the same model and query follows the parts rule (coldkit.models.blend.speaking_sources).
    The parts are what the (min-max weighted) fusion added, computed here from each source model's own list:
    ``w · (s - min) / (max - min)`` over its top-depth list, 0 for an item it did not list."""
    said_content = 0
    for query in [UserQuery(user=u) for u in range(8)] + [UserQuery(history=np.array([0, 1])), UserQuery(text="ocean space")]:
        weights = hybrid.query_weights([query], None)
        ranked = hybrid.recommend([query], 3)
        for item in ranked.indices[0][ranked.indices[0] >= 0]:
            parts = {}
            for name, w in weights.items():
                if w[0] > 0:
                    listed = _list_by(hybrid, name, query)
                    lo, hi = min(listed.values()), max(listed.values())
                    if int(item) in listed:
                        parts[name] = w[0] * ((listed[int(item)] - lo) / (hi - lo) if hi > lo else 0.0)
            top = max(parts.values())
            expected = sorted((s for s, p in parts.items() if p > 0 and p >= 0.5 * top), key=lambda s: -parts[s])
            assert hybrid.explaining_sources(query, int(item)) == expected, (query, item, parts)
            why = hybrid.explain(query, int(item))
            assert ("content similarity" in why) == ("content" in expected and "because you liked" in why), why
            said_content += "content similarity" in why
            if expected[0] in ("cf", "cf_knn"):
                assert why.startswith(("people who liked", "liked by users with clicks like yours", "new item like those")), why
            if expected == ["popularity"]:
                assert why.startswith("popular: "), why
            assert "popular" not in why or {"popularity", "trending"} & set(expected), why
    assert said_content < 5  # the old explain gave the content reason for nearly every item of a user with clicks


def test_hybrid_with_rrf_and_profiles(data: Interactions) -> None:
    profiles = {f"u{u}": ("science fiction fan" if u % 2 == 0 else "romantic sports fan") for u in range(16)}
    model = models.create("hybrid", fusion="rrf", user_profiles=profiles, **FAST).fit(data)
    ranked = model.recommend([UserQuery(text="science fiction fan")], 2)
    assert set(ranked.indices[0].tolist()) <= {0, 1, 6, 7}  # what the sci-fi fans liked


@pytest.mark.parametrize("trained_with_text", [0, 1])
def test_hybrid_with_profiles_of_new_users_only_reads_their_text(data: Interactions, trained_with_text: int) -> None:
    # onboarding texts for new users only (none, or one, training user with a profile): the fit failed
    # ("profile-knn: no training user has a profile text"), or the profile source scored every item alike
    # while the text source sat at 0 beside it, so "space robots" got the plain popularity list
    profiles = {"new": "space robots sci-fi", **{f"u{u}": "likes romance" for u in range(trained_with_text)}}
    model = models.create("hybrid", user_profiles=profiles, **FAST).fit(data)
    query = [UserQuery(text=profiles["new"])]
    plain = models.create("hybrid", **FAST).fit(data).recommend(query, 4)
    ranked = model.recommend(query, 4)
    assert ranked.indices[0].tolist() == plain.indices[0].tolist()  # as if no profile file had been given
    assert ranked.indices[0][0] in (0, 1)  # "Space Robots" / "Robot Wars" first
    assert any("no profile source" in note for note in model.notes_)


def test_profile_knn_matches_reference(data: Interactions) -> None:
    profiles = {f"u{u}": f"user number {u % 4} likes {'space' if u % 2 == 0 else 'love'}" for u in range(16)}
    model = models.create("profile-knn", user_profiles=profiles, neighbors=4).fit(data)
    query = UserQuery(text="user number 2 likes space")
    q = model.encoder.encode_texts([query.text])[0]
    sims = model.user_vectors_ @ q
    top = np.lexsort((np.arange(16), -sims))[:4]
    scores = np.maximum(sims[top], 0) @ (data.matrix.toarray()[top] > 0)
    ranked = model.recommend([query], 3)
    np.testing.assert_allclose(ranked.scores[0], np.sort(scores)[::-1][:3], atol=1e-5)
    with pytest.raises(InvalidInputError, match="user_profiles"):
        models.create("profile-knn", user_profiles={})


def test_profile_knn_reads_a_training_users_own_profile(data: Interactions) -> None:
    """A training user asked without text got every item at score 0 in the catalogue's index order."""
    profiles = {f"u{u}": f"user number {u % 4} likes {'space' if u % 2 == 0 else 'love'}" for u in range(15)}  # u15: none
    model = models.create("profile-knn", user_profiles=profiles, neighbors=4).fit(data)
    clicked = data.matrix.toarray() > 0
    user = next(u for u in range(0, 15, 2) if clicked[u].sum() < 4)  # a space fan with a space item left to find
    q = model.encoder.encode_texts([profiles[f"u{user}"]])[0]
    sims = model.user_vectors_ @ q / np.maximum(np.linalg.norm(model.user_vectors_, axis=1) * np.linalg.norm(q), 1e-12)
    sims[user] = -np.inf  # never their own neighbour
    top = np.lexsort((np.arange(16), -sims))[:4]
    scores = np.maximum(sims[top], 0) @ clicked[top]
    scores[clicked[user]] = -np.inf  # their own items are excluded
    ranked = model.recommend([UserQuery(user=user)], 3)
    np.testing.assert_allclose(ranked.scores[0], np.sort(scores)[::-1][:3], atol=1e-5)
    assert ranked.scores[0][0] > 0
    # the same as asking with that text, the user still excluded as their own neighbour
    asked = model.recommend([UserQuery(user=user, text=profiles[f"u{user}"])], 3)
    np.testing.assert_array_equal(ranked.indices, asked.indices)
    # no profile of their own (u15), or switched off: nothing to read
    assert not model.recommend([UserQuery(user=15)], 3).scores.any()
    off = models.create("profile-knn", user_profiles=profiles, neighbors=4, stored_profiles=False).fit(data)
    assert not off.recommend([UserQuery(user=user)], 3).scores.any()
    with pytest.raises(InvalidInputError, match="stored_profiles"):
        models.create("profile-knn", user_profiles=profiles, stored_profiles="no")


def test_router_decisions(data: Interactions) -> None:
    router = models.create("router", min_clicks=3, hybrid_options=FAST).fit(data)
    queries = [UserQuery(user=1), UserQuery(history=np.array([1, 2, 3])), UserQuery(history=np.array([1])),
               UserQuery(text="space"), UserQuery()]
    assert router.route(queries) == ["warm", "warm", "cold", "cold", "popular"]
    ranked = router.recommend(queries, 4)
    popular = models.create("popularity").fit(data).recommend([UserQuery()], 4)
    assert ranked.indices[4].tolist() == popular.indices[0].tolist()
    warm = router.warm.recommend(queries[:2], 4)
    assert ranked.indices[:2].tolist() == warm.indices.tolist()
    cold = router.cold.recommend(queries[2:4], 4)
    assert ranked.indices[2:4].tolist() == cold.indices.tolist()
    assert router.explain(UserQuery(text="space"), 0).startswith("[cold]")
    with pytest.raises(InvalidInputError, match="min_clicks"):
        models.create("router", min_clicks=0)


def test_router_refuses_what_is_not_a_model_at_construction(data: Interactions) -> None:
    """--option warm=ease reached the router as the string 'ease' and failed at fit, after the encoding,
    as AttributeError: 'str' object has no attribute 'fit'."""
    from coldkit.cli import main

    with pytest.raises(InvalidInputError, match=r"router: warm must be a model .*coldkit.get_model\('ease'\)"):
        models.create("router", warm="ease", hybrid_options=FAST)
    with pytest.raises(InvalidInputError, match=r"router: cold must be a model .*got dict"):
        models.create("router", cold={"encoder": "hashing"}, hybrid_options=FAST)
    with pytest.raises(InvalidInputError, match="min_clicks must be an integer, got float 2.5"):
        models.create("router", min_clicks=2.5)  # was int(2.5): routed at 2 clicks without a word
    ease = models.create("ease")
    router = models.create("router", warm=ease, hybrid_options=FAST).fit(data)
    query = [UserQuery(user=1)]
    assert router.recommend(query, 4).indices.tolist() == ease.recommend(query, 4).indices.tolist()


def test_cold_adapter_options_are_checked_at_construction() -> None:
    """cold-knn normalize="no" was bool()-ed to True; cold-mlp's hidden=2.5 ran with 2 units, and a
    negative weight_decay or threads=-1 failed at fit inside torch (ValueError / RuntimeError)."""
    with pytest.raises(InvalidInputError, match="normalize must be True or False, got 'no'"):
        models.create("cold-knn", normalize="no", **FAST)
    assert models.create("cold-knn", normalize=False, **FAST).normalize is False
    pytest.importorskip("torch")
    for option, value, message in (
        ("hidden", 2.5, "hidden must be an integer, got float 2.5"),
        ("epochs", 0, "epochs must be >= 1, got 0"),
        ("weight_decay", -1.0, "weight_decay must be a finite number >= 0, got -1.0"),
        ("weight_decay", float("nan"), "weight_decay must be a finite number >= 0, got nan"),
        ("threads", -1, "threads must be None or an integer >= 1, got -1"),
        ("threads", "abc", "threads must be None or an integer >= 1, got 'abc'"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            models.create("cold-mlp", **{option: value}, **FAST)


def test_cold_mlp_too_large_for_the_budget_is_one_line_naming_hidden(data: Interactions) -> None:
    """hidden=10**12 was a torch RuntimeError traceback ("you tried to allocate 4096000000000000 bytes")."""
    pytest.importorskip("torch")
    from coldkit.models.memory import MemoryBudgetError

    with pytest.raises(MemoryBudgetError, match=r"cold-mlp's network \(.* -> hidden=1,000,000,000,000 -> .*\) needs .*choose a smaller hidden"):
        models.create("cold-mlp", hidden=10**12, epochs=1, **FAST).fit(data)
    with pytest.raises(MemoryBudgetError, match="hidden=4,096"):  # the budget is the model's memory_budget
        models.create("cold-mlp", hidden=4096, epochs=1, memory_budget="1M", warm="svd", **FAST).fit(data)


# ------------------------------------------------------------------------------ real data (skips without it)

DATA_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.mark.skipif(not (DATA_ROOT / "ml-100k" / "u.data").is_file(), reason="ml-100k not found at ../shared/data")
def test_cold_adapter_beats_random_on_ml100k_cold_items() -> None:
    from coldkit.data import load_dataset
    from coldkit.data.splits import cold_item_split
    from coldkit.evaluation.metrics import recall_at_k

    dataset = load_dataset("ml-100k", data_root=DATA_ROOT)
    split = cold_item_split(dataset.interactions, 0)
    task = split.tasks["cold"]
    recalls = {}
    for name, options in {"random": {}, "cold-ridge": {"warm": "ease", **FAST}}.items():
        ranked = models.create(name, **options).fit(split.train).recommend(task.queries, 20, candidates=task.candidates)
        recalls[name] = float(np.mean(recall_at_k(ranked.indices, task.truth, 20)))
    assert recalls["cold-ridge"] > 1.2 * recalls["random"], recalls


def test_hybrid_cold_item_queries_start_from_the_cold_item_weights(data: Interactions, hybrid: models.Recommender) -> None:
    from coldkit.models.blend import COLD_ITEM_WEIGHTS

    queries = [UserQuery(history=np.array([1, 2])), UserQuery(user=0)]
    warm, cold = hybrid.source_weights(queries), hybrid.source_weights(queries, cold_items=True)
    beta = np.array([2, len(data.items_of(0))], dtype=float)
    beta = beta / (beta + 3.0)
    np.testing.assert_allclose(warm["cf_knn"], beta)
    np.testing.assert_allclose(cold["cf_knn"], COLD_ITEM_WEIGHTS["cf_knn"] * beta)
    for source in warm:  # only the kNN adapter's weight differs
        if source != "cf_knn":
            np.testing.assert_allclose(cold[source], warm[source])
    # a weight the user gave holds in the cold-item regime too
    given = models.create("hybrid", **FAST, weights={"cf_knn": 0.7}, tune=False).fit(data)
    np.testing.assert_allclose(given.source_weights(queries, cold_items=True)["cf_knn"], 0.7 * beta)


def test_a_catalogue_with_one_described_item_says_what_would_work() -> None:
    """One item with text: the hybrid's content sources cannot compare anything; the error says what to do instead."""
    from coldkit.data.loaders import catalog_from_frame, interactions_from_frame

    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(50)], "title": ["space robots"] + [""] * 49})
    rows = [{"user_id": f"u{u}", "item_id": f"i{k}"} for u in range(30) for k in rng.choice(50, 8, replace=False)]
    train = interactions_from_frame(pd.DataFrame(rows), catalog_from_frame(items))
    for name in ("content", "hybrid"):
        with pytest.raises(InvalidInputError, match=r"1 of 50 catalogue items have text to encode \(hashing; at least 2"):
            coldkit.get_model(name, encoder="hashing").fit(train)
    with pytest.raises(InvalidInputError, match="use a model that reads no content"):
        coldkit.get_model("hybrid", encoder="hashing").fit(train)
    # a hybrid restricted to popularity still learns its content maps: the error says so, not "use popularity"
    with pytest.raises(InvalidInputError, match=r"--model popularity, item-knn or ease; the hybrid reads content whatever its sources"):
        coldkit.get_model("hybrid", encoder="hashing", sources=["popularity"]).fit(train)
    assert coldkit.get_model("ease").fit(train).recommend([UserQuery(user=0)], k=5).indices.shape == (1, 5)


def test_a_one_item_catalogue_is_named_as_the_problem_not_its_text() -> None:
    # the one item had text; the error asked for text or vectors
    import pandas as pd

    from coldkit.models.frames import to_interactions

    train = to_interactions(pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]}), items=pd.DataFrame({"item_id": ["a"], "title": ["robots"]}))
    with pytest.raises(InvalidInputError, match=r"the catalogue has 1 item\(s\); comparing content needs at least 2 items"):
        models.create("content", encoder="hashing", cache=False).fit(train)
    # a hybrid's user never chose "content": the message no longer opens with "content model:"
    with pytest.raises(InvalidInputError, match=r"1 item\(s\); comparing content needs at least 2 items \(the content model, and the content part of hybrid"):
        models.create("hybrid", encoder="hashing", cache=False).fit(train)


def test_an_encoder_returning_zero_vectors_is_named_not_the_item_text() -> None:
    # the items had text; the error asked for text
    import pandas as pd

    from coldkit.models.frames import to_interactions

    class Zeros:
        name, dim, fingerprint, modalities = "zeros", 4, "zeros-v1", frozenset({"text"})

        def encode_texts(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 4), np.float32)

    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["robots", "whales", "paris"]})
    train = to_interactions(pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]}), items=items)
    with pytest.raises(InvalidInputError, match=r"encoder 'zeros' returned a zero vector for all but 0 of 3 catalogue items, though 3 have text"):
        models.create("content", encoder=Zeros(), cache=False).fit(train)


def test_texts_without_a_word_are_named_not_the_encoder() -> None:
    # emoji or punctuation alone: the hashing encoder rightly gives zeros, and the error sent the user to its options
    from coldkit.models.frames import to_interactions

    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["😀", "!!!", "🎬 🎵", "..."], "genres": ["", "-", "", "|"]})
    train = to_interactions(pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]}), items=items)
    for name in ("content", "hybrid"):
        with pytest.raises(InvalidInputError, match=r"4 catalogue items have text in title, genres, but none of them hold a word") as caught:
            models.create(name, encoder="hashing", cache=False).fit(train)
        assert "check its options" not in str(caught.value)
    # one text with a word is not enough to compare either, and the message says so
    one = items.assign(title=["space robots", "!!!", "🎬 🎵", "..."])
    with pytest.raises(InvalidInputError, match=r"but only 1 of them hold a word"):
        models.create("content", encoder="hashing", cache=False).fit(to_interactions(pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]}), items=one))
    # words in any script count: two CJK titles encode and rank
    cjk = items.assign(title=["東京の夜", "パリの朝", "🎬", "..."])
    fitted = models.create("content", encoder="hashing", cache=False).fit(to_interactions(pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]}), items=cjk))
    assert fitted.recommend([UserQuery(user=0)], k=1).indices.shape == (1, 1)


def test_hybrid_explain_under_rank_fusion_names_what_the_ranks_added(data: Interactions) -> None:
    """Under ``rrf`` a source adds ``w / (c + rank)``; the parts were weight x score / best (the rule of score
    fusion). And with ``cf`` and ``cf_knn`` both speaking, the why read "people who liked X also liked it;
    liked by users with clicks like yours": one claim twice, now one collaborative reason, the specific one."""
    hybrid = models.create("hybrid", fusion="rrf", **FAST).fit(data)
    both = 0
    for query in [UserQuery(user=u) for u in range(data.n_users)]:
        weights = hybrid.query_weights([query], None)
        ranked = hybrid.recommend([query], 5)
        for item in ranked.indices[0][ranked.indices[0] >= 0]:
            parts = {}
            for name, w in weights.items():
                # a list of ties (cf_knn's zeros where its adapter knows none of the clicks) ranks nothing
                if w[0] > 0 and len(set((listed := _list_by(hybrid, name, query)).values())) > 1:
                    order = list(listed)  # the list's order: rank 1 first
                    if int(item) in order:
                        parts[name] = w[0] / (60.0 + order.index(int(item)) + 1)
            top = max(parts.values())
            expected = sorted((s for s, p in parts.items() if p >= 0.5 * top), key=lambda s: -parts[s])
            assert hybrid.explaining_sources(query, int(item)) == expected, (query, item, parts)
            why = hybrid.explain(query, int(item))
            collaborative = sum(why.count(p) for p in ("people who liked", "users with clicks like yours"))
            assert collaborative <= 1, why
            both += {"cf", "cf_knn"} <= set(expected)
    assert both > 5


def test_hybrid_explain_of_the_only_candidate_says_what_the_sources_say(data: Interactions, hybrid: models.Recommender) -> None:
    # alone in every list, the item sat at each list's floor (min-max): "no source ranked it above the other
    # candidates" was said where there were none. Its sources speak as for the same item among others.
    query = UserQuery(user=0)
    top = int(hybrid.recommend([query], 1).indices[0, 0])
    among = hybrid.explaining_sources(query, top)
    alone = hybrid.explaining_sources(query, top, candidates=np.array([top]))
    assert alone and alone[0] in among, (alone, among)
    assert hybrid.explain(query, top, candidates=np.array([top])) != NO_SOURCE_REASON
    # the cold item for words it shares: the text speaks
    assert "laugh" in hybrid.explain(UserQuery(text="laugh out loud"), 9, candidates=np.array([9]))
    # nothing said for it by any source: not "above the other candidates"
    why = hybrid.explain(UserQuery(text="zzzz qqqq"), 9, candidates=np.array([9]))
    assert "other candidates" not in why, why


def test_hybrid_explain_gives_one_collaborative_reason(data: Interactions, hybrid: models.Recommender) -> None:
    """``cf`` and ``cf_knn`` speaking together read "people who liked X also liked it; liked by users with
    clicks like yours" (19 of this data's top-5 items): the same claim twice. One is kept, the specific one."""
    both = 0
    for query in [UserQuery(user=u) for u in range(data.n_users)]:
        for item in hybrid.recommend([query], 5).indices[0]:
            why = hybrid.explain(query, int(item))
            claims = [p for p in why.split("; ") if p.startswith(("people who liked", "liked by users with clicks", "new item like those"))]
            assert len(claims) <= 1, why
            named = hybrid.explaining_sources(query, int(item))
            if {"cf", "cf_knn"} <= set(named):
                both += 1
                assert claims, why  # merged, not dropped
    assert both > 5


def test_hybrid_explain_never_names_popularity_for_what_the_text_ranked(data: Interactions) -> None:
    """Only the text weighed: below "close" (here every other cosine is negative) the why was "popular: 6 users
    interacted with it", a source of weight 0. Now the text, with its similarity (computed here)."""
    hybrid = models.create("hybrid", weights={"cf": 0.0, "cf_knn": 0.0, "content": 0.0, "text": 1.0, "popularity": 0.0},
                           tune=False, **FAST).fit(data)
    query = UserQuery(text="ocean space")
    cosines = hybrid.content.item_vectors() @ hybrid.content.encode_user_texts(["ocean space"])[0]
    weak = 0
    for item in hybrid.recommend([query], 10).indices[0]:
        why = hybrid.explain(query, int(item))
        assert "popular" not in why, why
        if "matches your words" not in why and hybrid.explaining_sources(query, int(item)) == ["text"]:
            assert why == f"among the closest to your words, though not close (content similarity {cosines[item]:.2f})"
            weak += 1
    assert weak >= 3 and (cosines < 0).sum() >= 3


def test_profiles_keyed_by_int_ids_and_several_encoders_reach_the_profile_source() -> None:
    """Ids are compared as text (an int 101 is the id "101"): int keys matched no training user, the hybrid
    dropped its profile source and profile-knn said no user had a text. A list of encoders beside profiles
    failed with "'list' object has no attribute 'encode_texts'"."""
    from coldkit.models.hybrid import ProfileKNN

    n_users = 16
    data = make_data(n_users=n_users)
    numbered = Interactions(np.array([str(100 + u) for u in range(n_users)]), data.catalog, data.matrix)
    words = {0: "space robots science fiction", 1: "romance and paris love"}
    as_text = {str(100 + u): words[u % 2] for u in range(n_users)}
    as_int = {100 + u: words[u % 2] for u in range(n_users)}
    query = [UserQuery(text="robots in space")]
    by_text = ProfileKNN(as_text, encoder="hashing").fit(numbered).recommend(query, 5)
    by_int = ProfileKNN(as_int, encoder="hashing").fit(numbered).recommend(query, 5)  # type: ignore[arg-type]
    np.testing.assert_array_equal(by_int.indices, by_text.indices)
    np.testing.assert_array_equal(by_int.scores, by_text.scores)
    # numbers and missing values as profile texts: their digits, and no text
    assert ProfileKNN({1: 24.0, 2: float("nan"), 3: None, 4: 7, 5: pd.NA, 6: np.float32("nan"), 7: 1.5}).user_profiles == {  # type: ignore[dict-item]
        "1": "24", "2": "", "3": "", "4": "7", "5": "", "6": "", "7": "1.5"}
    for bad in (b"bytes", ["a", "b"], True):  # str() made "b'bytes'" the user's words
        with pytest.raises(InvalidInputError, match="user_profiles: the profile of user '9' is"):
            ProfileKNN({1: "text", 9: bad})  # type: ignore[dict-item]
    hybrid = models.create("hybrid", encoder=["hashing", "hashing"], user_profiles=as_int, tune=False, cache=False).fit(numbered)
    assert hybrid.profile is not None and hybrid.profile.encoder.name == "hashing"
    assert not any("have a profile text" in note for note in hybrid.notes_), hybrid.notes_
    assert hybrid.recommend(query, 5).indices.shape == (1, 5)


def test_each_encoder_of_a_list_takes_its_own_options_by_spec(data: Interactions) -> None:
    """encoder_options went to every encoder of a list: bert's precision=fp32 beside hashing failed ("hashing does
    not take the options ['precision']"). A spec "NAME:KEY=VALUE" gives each its own."""
    from coldkit.models.hybrid import ProfileKNN

    model = models.create("content", encoder=["hashing:dim=64", "hashing:dim=128"], cache=False).fit(data)
    assert [e.dim for e in model.encoders] == [64, 128]
    with pytest.raises(InvalidInputError, match="does not take the options"):
        models.create("content", encoder=["hashing", "hashing"], encoder_options={"nope": 1}, cache=False)
    assert ProfileKNN({"u0": "space"}, encoder="hashing:dim=32").encoder.dim == 32
    hybrid = models.create("hybrid", encoder="hashing:dim=256", tune=False, cache=False).fit(data)
    assert hybrid.content.encoder.dim == 256
    profiles = {f"u{u}": "robots in space" if u % 2 == 0 else "romance in paris" for u in range(16)}
    both = models.create("hybrid", encoder=["hashing:dim=64", "hashing"], user_profiles=profiles, tune=False, cache=False).fit(data)
    assert both.profile is not None and both.profile.encoder.dim == 64
