"""User-level DP: the accountant against Opacus and closed forms, bounding, unbiased noisy statistics,
the private models, their error messages, and an empirical membership-inference attack."""

from __future__ import annotations

from typing import Any
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from coldkit.data import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models.base import NotFittedError
from coldkit.models.popularity import Popularity
from coldkit.models.registry import build_model
from coldkit.privacy.accountant import (
    PrivacyAccountant,
    analytic_gaussian_delta,
    analytic_gaussian_sigma,
    check_budget,
    laplace_rdp,
    rho_for_budget,
    sigma_for_rho,
    zcdp_to_dp,
)
from coldkit.privacy.attacks import (
    dp_advantage_bound,
    membership_inference,
    own_item_ranks,
    popularity_canary_advantage,
    roc_auc,
    taste_population,
)
from coldkit.privacy.bounding import bound_contributions, clip_rows
from coldkit.privacy.mechanisms import dp_gram, dp_item_counts
from coldkit.privacy.models import DPHybrid, DPPopularity, private_statistics

OPACUS_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def population(n_users: int = 400, n_items: int = 40, seed: int = 0, density: float = 0.15) -> Interactions:
    """Users with two tastes (even / odd items), so item-item statistics carry signal."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 2, n_users)
    p = np.where((np.arange(n_items)[None, :] % 2) == taste[:, None], 2 * density, density / 4)
    matrix = (rng.random((n_users, n_items)) < p).astype(np.float32)
    table = pd.DataFrame({"title": [f"item {j} {'comedy heist' if j % 2 else 'drama war'}" for j in range(n_items)]})
    catalog = Catalog(np.array([f"i{j}" for j in range(n_items)]), table, ["title"])
    return Interactions(np.array([f"u{j}" for j in range(n_users)]), catalog, sp.csr_matrix(matrix))


# ---------------------------------------------------------------------------------------------- accountant


@pytest.mark.parametrize("q, z, steps", [(1.0, 1.1, 1), (1.0, 0.7, 20), (0.01, 1.1, 1000), (0.05, 0.8, 300)])
def test_accountant_matches_opacus_rdp(q: float, z: float, steps: int) -> None:
    rdp = pytest.importorskip("opacus.accountants.analysis.rdp")
    # the subsampled Gaussian is exact at integer orders in both; compare on the orders both compute
    orders = OPACUS_ORDERS if q == 1.0 else [a for a in OPACUS_ORDERS if a == int(a)]
    curve = rdp.compute_rdp(q=q, noise_multiplier=z, steps=steps, orders=orders)
    expected, _ = rdp.get_privacy_spent(orders=orders, rdp=curve, delta=1e-5)
    acc = PrivacyAccountant(delta=1e-5).add_gaussian(sigma=2 * z, sensitivity=2.0, steps=steps, sample_rate=q)
    np.testing.assert_allclose(acc.rdp(orders), curve, rtol=1e-9)
    assert acc.privacy_spent(orders=orders).epsilon == pytest.approx(expected, rel=1e-9)


def test_full_batch_gaussian_is_zcdp_and_sound_against_the_exact_curve() -> None:
    for z in (0.5, 1.0, 3.0, 10.0):
        rho = 1 / (2 * z * z)
        eps = PrivacyAccountant(delta=1e-6).add_gaussian(sigma=z).privacy_spent().epsilon
        assert eps == pytest.approx(zcdp_to_dp(rho, 1e-6))
        assert eps <= rho + 2 * math.sqrt(rho * math.log(1e6)) + 1e-12  # Bun & Steinke's conversion is looser
        # sound: the exact (analytic) δ of the Gaussian at this ε is within the budget
        assert analytic_gaussian_delta(eps, z) <= 1e-6 * (1 + 1e-6)


def test_composition_adds_rho() -> None:
    one = PrivacyAccountant(delta=1e-5).add_gaussian(sigma=2.0, steps=4)
    other = PrivacyAccountant(delta=1e-5).add_gaussian(sigma=1.0)  # 4 · 1/(2·4) = 1/2 = ρ of σ=1
    assert one.privacy_spent().epsilon == pytest.approx(other.privacy_spent().epsilon)


def test_laplace_rdp_closed_form_and_cap() -> None:
    eps0 = 0.7
    expected_at_2 = math.log(2 / 3 * math.exp(eps0) + 1 / 3 * math.exp(-2 * eps0))
    assert laplace_rdp([2.0], eps0)[0] == pytest.approx(expected_at_2)
    assert laplace_rdp([1e6], eps0)[0] <= eps0
    # pure ε₀-DP composes to at most k·ε₀
    acc = PrivacyAccountant(delta=1e-6).add_laplace(eps0, steps=3)
    assert acc.privacy_spent().epsilon <= 3 * eps0


def test_analytic_gaussian_calibration() -> None:
    sigma = analytic_gaussian_sigma(1.0, 1e-5)
    assert analytic_gaussian_delta(1.0, sigma) == pytest.approx(1e-5, rel=1e-6)
    assert sigma < math.sqrt(2 * math.log(1.25 / 1e-5))  # tighter than the classical calibration
    assert sigma == pytest.approx(3.7306, abs=1e-3)  # Balle & Wang 2018


def test_analytic_gaussian_at_the_ends_of_the_epsilon_range() -> None:
    # references: Φ(1/(2z) − εz) − e^ε Φ(−1/(2z) − εz) in 50-digit mpmath
    assert analytic_gaussian_delta(1.0, 3.0) == pytest.approx(2.07512202052734e-4, rel=1e-9)
    # e^800 overflowed: OverflowError: math range error (ε ≈ 710 and up)
    assert analytic_gaussian_delta(800.0, 0.05) == pytest.approx(1.960599162420212e-198, rel=1e-9)
    sigma = analytic_gaussian_sigma(800.0, 1e-5)
    assert 0 < sigma < analytic_gaussian_sigma(8.0, 1e-5) and analytic_gaussian_delta(800.0, sigma) <= 1e-5
    # ε = inf (no privacy, accepted by check_budget) returned the bisection's floor 1e-4·Δ instead of no noise
    assert analytic_gaussian_sigma(math.inf, 1e-5, sensitivity=2.0) == 0.0


@given(st.floats(0.05, 20.0), st.sampled_from([1e-4, 1e-6, 1e-9]))
@settings(max_examples=25, deadline=None)
def test_rho_for_budget_round_trip(eps: float, delta: float) -> None:
    rho = rho_for_budget(eps, delta)
    spent = PrivacyAccountant(delta=delta).add_gaussian(sigma=sigma_for_rho(rho, 1.0)).privacy_spent().epsilon
    assert spent <= eps  # strictly within the budget: it reported 1.0000000000000002 for a budget of 1
    assert spent >= eps * 0.999


def test_infinite_epsilon_means_no_noise() -> None:
    assert rho_for_budget(math.inf, 1e-6) == math.inf
    assert sigma_for_rho(math.inf, 1.0) == 0.0
    assert PrivacyAccountant(delta=1e-6).add_gaussian(sigma=0.0).privacy_spent().epsilon == math.inf


@pytest.mark.parametrize(
    "eps, delta, users, words",
    [(0, 1e-6, None, "dp_epsilon must be > 0"), (-1, 1e-6, None, "dp_epsilon"), (math.nan, 1e-6, None, "dp_epsilon"),
     (1, 0, None, "dp_delta must be in (0, 1)"), (1, 1.0, None, "dp_delta"), (1, 0.01, 100, "1/users"),
     ("x", 1e-6, None, "dp_epsilon must be a number, got str 'x'"), (1, "1e-6", None, "dp_delta must be a number, got str"),
     # at 1e-17 the accountant reported 1.02e-17 spent, more than the budget; at 1e-300, 1.97e-17
     (1e-17, 1e-6, None, "at least 1e-06"), (1e-300, 1e-6, None, "cannot certify")],
)
def test_bad_budgets_are_named(eps: object, delta: object, users: int | None, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_budget(eps, delta, users)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- bounding


@given(st.integers(0, 10_000), st.integers(1, 8), st.floats(0.05, 0.9))
@settings(max_examples=40, deadline=None)
def test_bounding_keeps_an_exact_subset(seed: int, m: int, density: float) -> None:
    x = sp.random(30, 25, density=density, format="csr", random_state=seed, dtype=np.float32)
    out = bound_contributions(x, m, seed=seed)
    original = (x != 0).toarray()
    kept = out.toarray()
    assert set(np.unique(kept)) <= {0.0, 1.0}
    assert np.all(kept.sum(axis=1) == np.minimum(original.sum(axis=1), m))  # exactly min(n_u, m) per user
    assert not np.any(kept.astype(bool) & ~original)  # only the user's own interactions
    np.testing.assert_array_equal(bound_contributions(x, m, seed=seed).toarray(), kept)  # reproducible


def test_bounding_samples_uniformly() -> None:
    x = sp.csr_matrix(np.ones((1, 10), dtype=np.float32))
    kept = np.vstack([bound_contributions(x, 3, seed=s).toarray() for s in range(3000)])
    freq = kept.mean(axis=0)
    se = math.sqrt(0.3 * 0.7 / 3000)
    assert np.all(np.abs(freq - 0.3) < 5 * se)


def _kept_by_id(data: Interactions, bounded: sp.csr_matrix) -> dict[str, set[str]]:
    items = data.catalog.item_ids
    return {str(u): {str(items[j]) for j in bounded.indices[bounded.indptr[r]:bounded.indptr[r + 1]]}
            for r, u in enumerate(data.user_ids)}


def _without_user(data: Interactions, row: int) -> Interactions:
    keep = np.arange(data.n_users) != row
    return Interactions(data.user_ids[keep], data.catalog, data.matrix[keep])


@pytest.mark.parametrize("dropped", [0, 1, 137])
def test_bounding_a_neighbouring_data_set_keeps_every_other_users_items(dropped: int) -> None:
    """With a fixed seed, dropping one user must not change which items any other user keeps: the keys came from
    one default_rng(seed) stream in row order, so every later user's sample was reshuffled."""
    data = population(n_users=200, n_items=40, density=0.3)
    assert np.diff(data.matrix.indptr).max() > 6  # users to subsample
    ids = {"user_ids": data.user_ids, "item_ids": data.catalog.item_ids}
    full = _kept_by_id(data, bound_contributions(data.matrix, 6, seed=11, **ids))
    fewer = _without_user(data, dropped)
    part = _kept_by_id(fewer, bound_contributions(fewer.matrix, 6, seed=11, user_ids=fewer.user_ids,
                                                  item_ids=fewer.catalog.item_ids))
    assert part == {u: kept for u, kept in full.items() if u != str(data.user_ids[dropped])}
    # and by item id, not column position: the same catalogue in another order keeps the same items
    perm = np.random.default_rng(0).permutation(data.n_items)
    shuffled = bound_contributions(data.matrix[:, perm], 6, seed=11, user_ids=data.user_ids[::-1][::-1],
                                   item_ids=data.catalog.item_ids[perm])
    items = data.catalog.item_ids[perm]
    assert {str(u): {str(items[j]) for j in shuffled.indices[shuffled.indptr[r]:shuffled.indptr[r + 1]]}
            for r, u in enumerate(data.user_ids)} == full


def test_neighbouring_releases_differ_by_one_users_bounded_row() -> None:
    """The sensitivity the counts' noise is calibrated to: without noise (ε = inf), the counts of two data sets
    that differ in one user differ by that user's kept row — a 0/1 vector with min(n_u, max_items) ones."""
    data = population(n_users=200, n_items=40, density=0.3)
    full = private_statistics(data, math.inf, 1e-4, max_items=6, seed=5)
    for dropped in (0, 50):
        diff = full.counts - private_statistics(_without_user(data, dropped), math.inf, 1e-4, max_items=6, seed=5).counts
        np.testing.assert_array_equal(np.unique(diff), [0.0, 1.0])
        assert diff.sum() == min(data.items_of(dropped).size, 6)
        assert not np.any((diff > 0) & ~(data.matrix[dropped].toarray().ravel() > 0))


def test_interaction_keys_are_a_stable_hash() -> None:
    """Fixed values: the same (seed, user, item) gives the same key on every run and machine (not Python's salted hash)."""
    from coldkit.privacy.bounding import interaction_keys

    script = ("from coldkit.privacy.bounding import interaction_keys; import numpy as np; "
              "print(interaction_keys(7, ['u1', 'u2'], ['a', 'b'], np.array([0, 1]), np.array([1, 0])).tolist())")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    here = interaction_keys(7, ["u1", "u2"], ["a", "b"], np.array([0, 1]), np.array([1, 0])).tolist()
    assert runs == {f"{here}\n"}
    assert interaction_keys(8, ["u1"], ["a"], np.array([0]), np.array([0]))[0] != interaction_keys(
        7, ["u1"], ["a"], np.array([0]), np.array([0]))[0]


def test_clip_rows_bounds_norms_and_keeps_directions() -> None:
    x = sp.csr_matrix(np.array([[3.0, 4.0, 0.0], [0.1, 0.0, 0.2], [0.0, 0.0, 0.0]]))
    out = clip_rows(x, 1.0).toarray()
    np.testing.assert_allclose(out[0], [0.6, 0.8, 0.0])
    np.testing.assert_allclose(out[1], [0.1, 0.0, 0.2])  # already inside: untouched
    np.testing.assert_allclose(out[2], 0.0)


@pytest.mark.parametrize("kwargs, words", [({"max_items": 0}, "max_items"), ({"max_items": 2.5}, "max_items"),
                                            ({"clip": 0}, "clip"), ({"clip": math.inf}, "clip"), ({"clip": -1}, "clip")])
def test_invalid_bounds_are_named(kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        DPHybrid(dp_epsilon=1.0, encoder="hashing", **kwargs)


# ---------------------------------------------------------------------------------------------- mechanisms


def test_dp_counts_are_unbiased_with_the_calibrated_variance() -> None:
    data = population(n_users=300, n_items=12)
    m = 5
    bounded = bound_contributions(data.matrix, m, seed=0)
    truth = np.asarray(bounded.sum(axis=0)).ravel()
    sigma = sigma_for_rho(rho_for_budget(1.0, 1e-5) * 0.2, math.sqrt(m))
    rng = np.random.default_rng(1234)
    draws = np.stack([dp_item_counts(bounded, sigma, rng) for _ in range(4000)])
    mean_err = (draws.mean(axis=0) - truth) / (sigma / math.sqrt(4000))
    assert np.all(np.abs(mean_err) < 4.5)  # unbiased (z-scores of the mean)
    var_ratio = draws.var(axis=0, ddof=1) / sigma**2
    assert np.all(np.abs(var_ratio - 1) < 6 * math.sqrt(2 / 3999))  # Var = σ²


def test_dp_gram_is_symmetric_and_unbiased() -> None:
    x = clip_rows(bound_contributions(population(100, 8).matrix, 4), 1.0)
    truth = (x.T @ x).toarray()
    rng = np.random.default_rng(0)
    draws = np.stack([dp_gram(x, np.arange(8), 0.5, rng) for _ in range(2000)])
    assert np.all(draws == np.transpose(draws, (0, 2, 1)))
    assert np.all(np.abs(draws.mean(axis=0) - truth) < 5 * 0.5 / math.sqrt(2000))


def test_the_noise_is_not_drawn_from_the_sampling_keys_stream() -> None:
    """bound_contributions keyed each interaction with default_rng(seed).random() (now a hash of seed and ids); the
    counts' noise came from default_rng(seed) too, i.e. from the same bits that chose which items each user kept."""
    from coldkit.privacy.bounding import bound_contributions

    data = population(n_users=400)
    stats = private_statistics(data, 1.0, 1e-4, max_items=8, seed=3)
    kept = bound_contributions(data.matrix > 0, 8, seed=3, user_ids=data.user_ids, item_ids=data.catalog.item_ids)
    noise = stats.counts - np.asarray(kept.sum(axis=0), dtype=np.float64).ravel()
    keys_stream = np.random.default_rng(3).normal(0.0, stats.sigma_counts, size=noise.size)
    assert not np.allclose(noise, keys_stream)
    np.testing.assert_allclose(noise, np.random.default_rng([3, 1]).normal(0.0, stats.sigma_counts, size=noise.size))
    assert abs(float(np.corrcoef(noise, keys_stream)[0, 1])) < 0.3  # unrelated draws


def test_private_statistics_spend_the_budget() -> None:
    data = population()
    stats = private_statistics(data, 2.0, 1e-4, max_items=8, clip=1.0)
    eps, delta = stats.accountant.privacy_spent()
    assert delta == 1e-4
    assert 2.0 * 0.999 <= eps <= 2.0 * (1 + 1e-9)
    assert stats.sigma_counts == pytest.approx(sigma_for_rho(rho_for_budget(2.0, 1e-4) * 0.2, math.sqrt(8)))
    default = private_statistics(data, 2.0, None)
    assert default.accountant.delta == pytest.approx(1 / (10 * data.n_users))


# ---------------------------------------------------------------------------------------------- models


def test_dp_hybrid_fits_recommends_and_reports() -> None:
    data = population(n_users=600)
    model = build_model("dp-hybrid", dp_epsilon=2.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=3).fit(data)
    eps, delta = model.privacy_spent()
    assert 2.0 * 0.999 <= eps <= 2.0 * (1 + 1e-9) and delta == 1e-5
    ranked = model.recommend([UserQuery(user=0), UserQuery(history=np.array([1, 3, 5]))], 5, candidates=np.arange(10, 30))
    assert np.all((ranked.indices >= 10) & (ranked.indices < 30))
    again = DPHybrid(dp_epsilon=2.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=3).fit(data)  # a seed reproduces
    np.testing.assert_array_equal(again.recommend([UserQuery(user=0)], 5).indices, model.recommend([UserQuery(user=0)], 5).indices)
    assert model.privacy_report()["mechanisms"][0]["name"] == "item counts"


def test_default_noise_is_secret_and_only_a_given_seed_reproduces() -> None:
    # the default seed was a public 0: regenerating default_rng(0)'s normals and subtracting them from
    # DP popularity's released counts gave back every true count (to 1e-14), whatever ε
    data = population(n_users=600)
    true = np.asarray((data.matrix > 0).sum(axis=0), dtype=np.float64).ravel()  # max_items 64 > 40 items: all kept
    fits = [DPPopularity(dp_epsilon=1.0).fit(data)._released() for _ in range(2)]  # the counts alone
    for stats in fits:
        guess = np.random.default_rng(0).normal(0.0, stats.sigma, size=true.size)
        assert np.abs(stats.counts - guess - true).max() > stats.sigma  # the attacker is left with noise
    assert not np.allclose(fits[0].counts, fits[1].counts)  # a fresh secret seed per fit
    seeded = [DPPopularity(dp_epsilon=1.0, seed=s).fit(data)._released() for s in (5, 5, 6)]
    np.testing.assert_array_equal(seeded[0].counts, seeded[1].counts)
    grams = [private_statistics(data, 1.0, None, seed=5).gram for _ in range(2)]  # the Gram's noise too
    np.testing.assert_array_equal(grams[0], grams[1])
    assert not np.allclose(seeded[0].counts, seeded[2].counts)
    # the noise is unbiased around the same counts under any seed (a z-test over the items)
    z = (seeded[2].counts - true) / seeded[2].sigma
    assert abs(z.mean()) < 4 / math.sqrt(true.size)


@pytest.mark.parametrize("name", ["dp-item-knn", "dp-ease", "dp-popularity", "dp-hybrid"])
def test_a_query_without_clicks_is_never_ordered_by_the_raw_counts(name: str) -> None:
    # dp-item-knn and dp-ease score a query without clicks 0 everywhere, and the base class refilled such a
    # row with the items by their raw training counts: the exact popularity order, unnoised and unaccounted
    data = population(n_users=600)
    options = {"encoder": "hashing", "cache": False} if name == "dp-hybrid" else {}
    model = build_model(name, dp_epsilon=1.0, seed=0, **options).fit(data)
    public = model._released().public_counts()
    raw = np.argsort(-np.asarray((data.matrix > 0).sum(axis=0)).ravel(), kind="stable")
    released = np.argsort(-public, kind="stable")
    assert not np.array_equal(raw[:10], released[:10])  # the case tells the two apart
    ranked = model.recommend([UserQuery()], k=10)
    assert not np.array_equal(ranked.indices[0], raw[:10])
    if name != "dp-hybrid":  # the hybrid blends its own (DP) popularity source; the others fall back to ties
        np.testing.assert_array_equal(ranked.indices[0], released[:10])
    frame = model.recommend(users=[UserQuery()], k=10)  # the DataFrame form takes the same path
    assert list(frame["item_id"]) == list(data.catalog.item_ids[ranked.indices[0]])


def test_private_models_refuse_an_encoder_that_learns_from_the_clicks(tmp_path: Any) -> None:
    # the multimodal encoder's weights="auto" chose the modality weights on pseudo-cold training items:
    # --dp-epsilon with an --image-column put that choice, learned from raw clicks, into every list
    from coldkit.models.modalities import MultimodalEncoder

    def media(weights: Any) -> MultimodalEncoder:
        return MultimodalEncoder(text_encoder="hashing", image_column="poster", media_root=str(tmp_path), weights=weights)

    for build in (
        lambda enc: DPHybrid(dp_epsilon=1.0, encoder=enc, cache=False),
        lambda enc: build_model("federated", dp_epsilon=1.0, encoder=enc, cache=False),
    ):
        with pytest.raises(InvalidInputError, match="learns from the training interactions.*--modality-weights"):
            build(media("auto"))
        build(media("equal"))  # fixed weights read no click
        build(media({"text": 0.7, "image": 0.3}))
    assert not MultimodalEncoder(text_encoder="hashing", weights="auto").reads_interactions  # one modality: nothing chosen
    build_model("federated", encoder=media("auto"), cache=False)  # without DP nothing is promised


def test_private_models_refuse_a_plugin_encoder_handed_the_clicks_unless_it_says_it_ignores_them() -> None:
    """An encoder with encode_training(train) is given the interactions; a plugin's that does not declare
    reads_interactions = False passed the check (only the multimodal encoder's flag was read)."""
    from coldkit.builtins.encoders import HashingEncoder
    from coldkit.models.attributes import AttributeFeatures

    class ClickAware(HashingEncoder):
        name = "click-aware"

        def encode_training(self, train: Any) -> np.ndarray:  # could weigh items by their clicks
            return np.asarray(self.encode_texts(train.catalog.texts()), dtype=np.float32)

    class ItemTableOnly(ClickAware):
        reads_interactions = False

    with pytest.raises(InvalidInputError, match="'click-aware' is given the training interactions.*reads_interactions = False"):
        DPHybrid(dp_epsilon=1.0, encoder=ClickAware(), cache=False)
    with pytest.raises(InvalidInputError, match="click-aware"):
        build_model("federated", dp_epsilon=1.0, encoder=ClickAware(), cache=False)
    DPHybrid(dp_epsilon=1.0, encoder=ItemTableOnly(), cache=False)  # declared: item table only
    assert AttributeFeatures().reads_interactions is False  # the built-in one reads the item table only
    build_model("federated", encoder=ClickAware(), cache=False)  # without DP nothing is promised


@pytest.mark.parametrize("declared", [1, np.True_])
def test_private_models_refuse_an_encoder_whose_reads_interactions_is_truthy_but_not_true(declared: Any) -> None:
    """``declared is True`` let ``reads_interactions = 1`` or numpy's True through (neither is None either)."""
    from coldkit.builtins.encoders import HashingEncoder

    class Reads(HashingEncoder):
        name = "reads"
        reads_interactions = declared

        def encode_training(self, train: Any) -> np.ndarray:
            return np.asarray(self.encode_texts(train.catalog.texts()), dtype=np.float32)

    with pytest.raises(InvalidInputError, match="'reads' learns from the training interactions"):
        DPHybrid(dp_epsilon=1.0, encoder=Reads(), cache=False)
    Reads.reads_interactions = "no"
    with pytest.raises(InvalidInputError, match="reads_interactions = 'no'; it must be True or False"):
        DPHybrid(dp_epsilon=1.0, encoder=Reads(), cache=False)
    Reads.reads_interactions = np.False_
    DPHybrid(dp_epsilon=1.0, encoder=Reads(), cache=False)


def test_dp_hybrid_without_noise_learns_the_tastes() -> None:
    data = population(n_users=600)
    model = DPHybrid(dp_epsilon=math.inf, dp_delta=1e-5, encoder="hashing", cache=False, weights={"content": 0, "popularity": 0}).fit(data)
    assert model.privacy_spent().epsilon == math.inf
    ranked = model.recommend([UserQuery(history=np.array([0, 2, 4, 6]))], 5, exclude_known=True)
    assert np.all(ranked.indices % 2 == 0)  # the even-item taste


def _ridge_reference(x: np.ndarray, y: np.ndarray, fit: np.ndarray, l2: float) -> np.ndarray:
    """Ridge with an unpenalised intercept, solved as least squares on an augmented system (an independent route)."""
    mean_x, mean_y = x[fit].mean(axis=0), y[fit].mean()
    a = np.vstack([x[fit] - mean_x, math.sqrt(l2) * np.eye(x.shape[1])])
    b = np.concatenate([y[fit] - mean_y, np.zeros(x.shape[1])])
    coef = np.linalg.lstsq(a, b, rcond=None)[0]
    return (x - mean_x) @ coef + mean_y


def _prediction_noise_share(x: np.ndarray, sigma: float, l2: float, predicted: np.ndarray) -> float:
    """1 − (mean noise variance of the ridge predictions) / (their variance), from the explicit hat matrix."""
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    hat = centred @ np.linalg.solve(centred.T @ centred + l2 * np.eye(x.shape[1]), centred.T) + np.full((n, n), 1.0 / n)
    noise = sigma**2 * float(np.sum(hat**2)) / n  # E|H ε|² / n for ε ~ N(0, σ² I)
    return min(max(1.0 - noise / float(predicted.var()), 0.0), 1.0)


def test_dp_hybrid_prior_is_post_processing_of_the_dp_counts() -> None:
    from coldkit.models.attributes import AttributeFeatures

    data = population(n_users=600)
    model = DPHybrid(dp_epsilon=2.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=0).fit(data)
    stats = model.stats_
    assert stats is not None
    raw = np.asarray((data.matrix > 0).sum(axis=0)).ravel().astype(np.float64)
    assert np.max(np.abs(stats.counts - raw)) > 1.0  # at ε = 2 the released counts are noisy
    # the prior from the released counts (raw for the regression, thresholded for an item's own count) and the
    # public item table, recomputed independently
    x = np.hstack([model.content.item_vectors(), AttributeFeatures().encode_training(data)]).astype(np.float64)
    predicted = _ridge_reference(x, stats.counts, np.ones(data.n_items, dtype=bool), model.adapter_l2)
    counts = stats.public_counts()
    share = counts / (counts + model.item_trust)
    estimate = share * counts + (1 - share) * predicted
    # the prior is each item's quantile by that estimate (average ranks for ties): clearly larger estimates get
    # larger quantiles, equal ones (up to float rounding) the same
    prior = model.prior_scores().astype(np.float64)
    above = estimate[None, :] > estimate[:, None] + 1e-3
    assert above.any() and np.all(prior[None, :] > prior[:, None], where=above)
    same = np.abs(estimate[None, :] - estimate[:, None]) < 1e-9
    assert np.all(prior[None, :] == prior[:, None], where=same)
    assert prior.min() > 0 and prior.max() <= 1.0
    assert prior.sum() == pytest.approx((data.n_items + 1) / 2)  # the ranks 1..n (ties averaged) over n
    assert model.prior_signal_share_ == pytest.approx(
        _prediction_noise_share(x, stats.sigma_counts, model.adapter_l2, predicted), rel=1e-6, abs=1e-9)
    assert model.prior_signal_share_ < 1.0  # 40 items cannot average the noise of ε = 2 out (0 here)
    # ... and not what the raw counts would give
    from_raw = raw / (raw + model.item_trust) * raw
    assert not np.array_equal(np.argsort(model.prior_scores(), kind="stable"), np.argsort(from_raw, kind="stable"))


def test_prior_signal_share_follows_the_noise() -> None:
    from coldkit.privacy.models import predicted_counts

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    truth = 50.0 + 20.0 * x[:, 0].astype(np.float64)
    exact, exact_share = predicted_counts(x, truth, 0.0, 1.0)
    assert exact_share == 1.0  # no noise: all of it is signal
    np.testing.assert_allclose(exact, _ridge_reference(x.astype(np.float64), truth, np.ones(400, bool), 1.0), rtol=1e-9)
    shares = []
    for sigma in (1.0, 30.0, 300.0, 3000.0):
        noisy = truth + rng.normal(scale=sigma, size=400)
        predicted, share = predicted_counts(x, noisy, sigma, 1.0)
        assert share == pytest.approx(_prediction_noise_share(x.astype(np.float64), sigma, 1.0, predicted), rel=1e-9, abs=1e-12)
        shares.append(share)
    assert shares[0] > 0.99 and shares[-1] < 0.1 and shares == sorted(shares, reverse=True)
    # blocks of rows give the same numbers as one block
    import coldkit.privacy.models as private

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(private, "_PRIOR_ROWS", 7)
        blocked, blocked_share = predicted_counts(x, truth + 5.0 * x[:, 1], 3.0, 1.0)
    whole, whole_share = predicted_counts(x, truth + 5.0 * x[:, 1], 3.0, 1.0)
    np.testing.assert_allclose(blocked, whole, rtol=1e-9)
    assert blocked_share == pytest.approx(whole_share, rel=1e-9)
    # ... and blocks of columns side by side the same as their joined table
    split, split_share = predicted_counts([x[:, :2], x[:, 2:]], truth + 5.0 * x[:, 1], 3.0, 1.0)
    np.testing.assert_allclose(split, whole, rtol=1e-9)
    assert split_share == pytest.approx(whole_share, rel=1e-9)
    for bad in (x[:10], [x, x[:10]], []):
        with pytest.raises(InvalidInputError, match="features"):
            predicted_counts(bad, truth, 1.0, 1.0)


def test_prior_of_a_large_catalogue_is_fitted_on_a_fixed_sample() -> None:
    """Above ``max_rows`` items the ridge is fitted on a seeded sample (chosen without the counts) and predicts
    every item; at or below it, the whole catalogue as before, to the bit."""
    from coldkit.privacy.models import predicted_counts

    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = 40.0 + 15.0 * x[:, 0] + rng.normal(scale=10.0, size=600)
    whole, whole_share = predicted_counts(x, y, 10.0, 1.0)
    at_cap, at_cap_share = predicted_counts(x, y, 10.0, 1.0, max_rows=600)
    assert np.array_equal(whole, at_cap) and whole_share == at_cap_share
    part, share = predicted_counts(x, y, 10.0, 1.0, max_rows=200)
    np.testing.assert_array_equal(part, predicted_counts(x, y, 10.0, 1.0, max_rows=200)[0])  # a fixed sample
    # the ridge of the sampled rows (the seeded choice the docstring names) predicting every row, by least squares
    chosen = np.zeros(600, dtype=bool)
    chosen[np.random.default_rng(0).choice(600, 200, replace=False)] = True
    np.testing.assert_allclose(part, _ridge_reference(x.astype(np.float64), y, chosen, 1.0), rtol=1e-9)
    # the sample does not depend on the counts: other counts are fitted on the same rows
    other = 5.0 - 3.0 * x[:, 2] + rng.normal(scale=10.0, size=600)
    np.testing.assert_allclose(predicted_counts(x, other, 10.0, 1.0, max_rows=200)[0],
                               _ridge_reference(x.astype(np.float64), other, chosen, 1.0), rtol=1e-9)
    # its share is the sample's hat-matrix noise over the spread of all the predictions
    assert share == pytest.approx(_prediction_noise_share(x[chosen].astype(np.float64), 10.0, 1.0, part), rel=1e-9)
    assert share < whole_share  # fewer items average out less noise
    assert np.corrcoef(part, whole)[0, 1] > 0.95


def test_dp_hybrid_prior_reads_the_item_tables_dates() -> None:
    """Newer items are clicked more: brand-new items are then ranked by their release date, which the text
    does not carry, and the prior's weight goes to brand-new candidates, not to items with counts."""
    rng = np.random.default_rng(1)
    n_users, n_items = 800, 60
    dates = pd.date_range("1990-01-01", periods=n_items, freq="90D")[rng.permutation(n_items)]
    newness = (dates - dates.min()).days.to_numpy() / (dates.max() - dates.min()).days
    matrix = sp.csr_matrix((rng.random((n_users, n_items)) < 0.02 + 0.3 * newness[None, :]).astype(np.float32))
    table = pd.DataFrame({"title": [f"film {j}" for j in range(n_items)], "released": dates.strftime("%d-%b-%Y")})
    catalog = Catalog(np.array([f"i{j}" for j in range(n_items)]), table, ["title"])
    train = _with_new_items(Interactions(np.array([f"u{j}" for j in range(n_users)]), catalog, matrix), 45)
    model = DPHybrid(dp_epsilon=4.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=0).fit(train)
    assert model.attributes_used_ == ["released"]
    assert model.prior_signal_share_ > 0.5
    # the run says which columns the prior read (coldkit recommend prints a model's notes_)
    assert model.notes_ == [
        f"dp-hybrid: item attributes read for the popularity prior of new items: released (signal share {model.prior_signal_share_:.2f})"
    ]
    cold = np.arange(45, 60)
    spearman = pd.Series(model.prior_scores()[cold]).corr(pd.Series(newness[cold]), method="spearman")
    assert spearman > 0.8
    factors = model.noise_factors(cold)
    assert factors["popularity"] == 0.0 and factors["prior"] == pytest.approx(model.prior_signal_share_)
    assert model.noise_factors(np.arange(45))["prior"] < 0.05  # the counts speak for warm items
    # a user without clicks gets the brand-new items newest first
    ranked = model.recommend([UserQuery(history=np.array([], dtype=np.int64))], 5, candidates=cold)
    assert np.mean(newness[ranked.indices[0]]) > np.mean(newness[cold])


def test_dp_hybrid_longer_list_begins_with_the_shorter_one() -> None:
    """Above its depth the DP hybrid ranked every source deeper and re-normalised: the head changed with k."""
    from coldkit.data import load_dataset, subsample

    data = subsample(load_dataset(), max_users=150, max_items=400, seed=0).interactions
    model = DPHybrid(dp_epsilon=4.0, encoder="hashing", seed=1, cache=False).fit(data)
    queries = [UserQuery(user=u) for u in range(0, 150, 5)] + [UserQuery(history=np.array([2, 4]))]
    short = model.recommend(queries, 20)
    for k in (model.depth, model.depth + 60, data.n_items):
        longer = model.recommend(queries, k)
        np.testing.assert_array_equal(longer.indices[:, :20], short.indices)
        np.testing.assert_array_equal(longer.scores[:, :20], short.scores)
        for row, scores in zip(longer.indices, longer.scores):
            listed = row[row >= 0]
            assert len(set(listed.tolist())) == listed.size and np.all(np.diff(scores[: listed.size]) <= 0)


def test_dp_hybrid_prior_costs_no_budget_and_is_seeded() -> None:
    data = population(n_users=600)
    with pytest.raises(NotFittedError, match="fit"):
        DPHybrid(dp_epsilon=1.0, encoder="hashing").prior_scores()
    plain = DPHybrid(dp_epsilon=1.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=0).fit(data)
    with_prior = DPHybrid(dp_epsilon=1.0, dp_delta=1e-5, encoder="hashing", cache=False, weights={"prior": 1.0}, seed=0).fit(data)
    assert with_prior.privacy_spent() == plain.privacy_spent()
    assert [m["name"] for m in with_prior.privacy_report()["mechanisms"]] == ["item counts", "item-item Gram"]
    np.testing.assert_array_equal(with_prior.prior_scores(), plain.prior_scores())
    other = DPHybrid(dp_epsilon=1.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=1).fit(data)
    assert not np.array_equal(other.prior_scores(), plain.prior_scores())  # other noise, other prior


def test_dp_hybrid_prior_ranks_new_items_by_their_predicted_popularity() -> None:
    data = population(n_users=600)
    # items 30..39 become brand-new: nobody interacted with them in training
    matrix = sp.csr_matrix(data.matrix).tolil()
    matrix[:, 30:] = 0
    train = Interactions(data.user_ids, data.catalog, sp.csr_matrix(matrix))
    only_prior = {"cf": 0.0, "content": 0.0, "text": 0.0, "popularity": 0.0, "prior": 1.0}
    model = DPHybrid(dp_epsilon=math.inf, dp_delta=1e-5, encoder="hashing", cache=False, weights=only_prior).fit(train)
    cold = np.arange(30, 40)
    prior = model.prior_scores()
    ranked = model.recommend([UserQuery(history=np.array([0, 2, 4]))], 10, candidates=cold)
    np.testing.assert_array_equal(ranked.indices[0], cold[np.argsort(-prior[cold], kind="stable")])
    # a new item's prior is its content prediction: titles that differ only in a word no trained item has agree
    assert prior[30] == pytest.approx(prior[32]) and prior[31] == pytest.approx(prior[33])


def test_delta_too_large_for_the_users_fails_at_fit() -> None:
    with pytest.raises(InvalidInputError, match="1/users"):
        DPPopularity(dp_epsilon=1.0, dp_delta=0.01).fit(population(n_users=200))


@pytest.mark.parametrize("bad", [0, -2.0, math.nan])
def test_dp_models_refuse_a_bad_epsilon(bad: float) -> None:
    with pytest.raises(InvalidInputError, match="dp_epsilon"):
        build_model("dp-hybrid", dp_epsilon=bad, encoder="hashing")


def test_privacy_module_imports_without_torch() -> None:
    code = "import sys, coldkit.privacy, coldkit.privacy.models; print('torch' in sys.modules, 'opacus' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False False"


# ---------------------------------------------------------------------------------------------- attack


def test_dp_popularity_spends_its_whole_budget_on_the_counts() -> None:
    """dp-popularity released a Gram too, with 80 % of the budget, that nothing read: its counts carried sqrt(5) times
    the noise they needed. Fitted alone it now releases the counts alone; inside dp-hybrid it shares the hybrid's."""
    data = population(n_users=300)
    model = DPPopularity(dp_epsilon=1.0, dp_delta=1e-4, max_items=8, seed=2).fit(data)
    assert [m["name"] for m in model.privacy_report()["mechanisms"]] == ["item counts"]
    sigma = sigma_for_rho(rho_for_budget(1.0, 1e-4), math.sqrt(8))  # the whole zCDP budget, sensitivity sqrt(8)
    assert model.stats_.sigma == pytest.approx(sigma, rel=1e-12)
    assert model.privacy_spent().epsilon == pytest.approx(1.0, rel=1e-6)
    truth = np.asarray(bound_contributions(data.matrix, 8, seed=2, user_ids=data.user_ids,
                                           item_ids=data.catalog.item_ids).sum(axis=0)).ravel()
    np.testing.assert_allclose(model.stats_.counts - truth, np.random.default_rng([2, 1]).normal(0.0, sigma, truth.size))
    hybrid = DPHybrid(dp_epsilon=1.0, dp_delta=1e-4, encoder="hashing", cache=False, seed=2).fit(data)
    assert hybrid.popularity.stats_ is hybrid.stats_  # one release, one budget
    assert hybrid.popularity.privacy_spent() == hybrid.privacy_spent()


def test_membership_advantage_shrinks_with_epsilon() -> None:
    """The canary attack on DP popularity (coldkit.privacy.attacks): is the target, the only user of five
    items, in the data? 300 releases per world; the advantage is TPR - FPR."""
    advantages = {eps: popularity_canary_advantage(eps, trials=300) for eps in (math.inf, 4.0, 1.0, 0.25)}
    assert advantages[math.inf] == 1.0
    values = [advantages[e] for e in (math.inf, 4.0, 1.0, 0.25)]
    slack = 3 * math.sqrt(0.5 / 300)  # two binomial rates' standard error, bounded
    assert all(b <= a + slack for a, b in zip(values, values[1:]))
    assert advantages[0.25] < 0.25
    for eps in (4.0, 1.0, 0.25):  # (ε, δ)-DP caps any test's advantage
        assert advantages[eps] <= dp_advantage_bound(eps, 1e-4) + slack


def test_own_item_ranks_against_the_popularity_order() -> None:
    """The attack's statistic on a model whose scores are known: popularity ranks by item count."""
    train = population(n_users=200, n_items=30, seed=1)
    model = build_model("popularity").fit(train)
    counts = np.asarray(train.matrix.sum(axis=0)).ravel()
    histories = [np.array([0, 3, 7]), np.array([12]), np.array([5, 29])]
    expected = [
        np.mean([((counts < counts[i]).sum() + 0.5 * ((counts == counts[i]).sum() - 1)) / 29 for i in h]) for h in histories
    ]
    np.testing.assert_allclose(own_item_ranks(model, histories), expected)


def test_membership_inference_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="Interactions"):
        membership_inference(build_model("popularity"), np.zeros((3, 3)))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="per_user"):
        taste_population(n_users=10, n_items=4, per_user=5)


def test_advantage_bound_and_auc_against_hand_values() -> None:
    assert dp_advantage_bound(math.inf, 1e-4) == 1.0
    assert dp_advantage_bound(1.0, 0.0) == pytest.approx((math.e - 1) / (math.e + 1))
    # AUC: 3 of the 4 member/non-member pairs ordered right, one tie (counts one half) -> (3 + 0.5) / 6
    assert roc_auc(np.array([2.0, 3.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(5.5 / 6)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50), rng.standard_normal(40) + 0.3
    assert roc_auc(a, b) == pytest.approx(float(np.mean(a[:, None] > b[None, :])))  # no ties: the pair count
    with pytest.raises(InvalidInputError, match="at least one member"):
        roc_auc(np.array([]), b)


# ---------------------------------------------------------------------------------------------- entry points


def test_evaluate_records_privacy_in_the_results() -> None:
    from coldkit.evaluation.runner import evaluate

    data = population(n_users=500)
    result = evaluate(data, {"dp": lambda: DPHybrid(dp_epsilon=1.0, encoder="hashing", cache=False)}, seeds=(0,), k=5, progress=False)
    spent = result.to_dict()["privacy"]["dp"]
    assert spent[0]["seed"] == 0 and 0.99 <= spent[0]["epsilon"] <= 1.0 + 1e-9


def test_evaluate_gives_a_private_model_the_split_seed_so_a_run_repeats() -> None:
    from coldkit.evaluation.runner import evaluate

    data = population(n_users=300)
    runs = [evaluate(data, ["dp-hybrid:encoder=hashing,cache=false"], seeds=(0, 1), k=5, progress=False) for _ in range(2)]
    first, second = ([r for r in run.records if not r["metric"].endswith("_seconds")] for run in runs)
    assert first and first == second
    assert [p["epsilon"] for p in next(iter(runs[0].privacy.values()))] == pytest.approx([1.0, 1.0], rel=1e-6)


def test_cli_recommend_with_dp_epsilon(tmp_path) -> None:
    data = population(n_users=800)
    rows, cols = data.matrix.nonzero()
    pd.DataFrame({"user_id": data.user_ids[rows], "item_id": data.catalog.item_ids[cols]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"item_id": data.catalog.item_ids, "title": data.catalog.table["title"]}).to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "recs.csv"
    run = subprocess.run(
        [sys.executable, "-m", "coldkit", "recommend", "--interactions", str(tmp_path / "train.csv"), "--items",
         str(tmp_path / "items.csv"), "--out", str(out), "--k", "5", "--encoder", "hashing", "--quiet",
         "--dp-epsilon", "1", "--dp-delta", "1e-6"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "privacy: user-level (1, 1e-06)-DP spent by this run (publishing another run on the same data spends it again)" in run.stderr
    assert "model dp-hybrid" in run.stderr
    assert len(pd.read_csv(out)) == 5 * len(set(data.user_ids[rows]))  # every user with an interaction gets 5
    bad = subprocess.run(
        [sys.executable, "-m", "coldkit", "recommend", "--interactions", str(tmp_path / "train.csv"), "--items",
         str(tmp_path / "items.csv"), "--out", str(out), "--quiet", "--dp-epsilon", "0"],
        capture_output=True, text=True,
    )
    assert bad.returncode != 0 and "dp_epsilon (--dp-epsilon) must be > 0" in bad.stderr and "Traceback" not in bad.stderr
    bad_delta = subprocess.run(
        [sys.executable, "-m", "coldkit", "recommend", "--interactions", str(tmp_path / "train.csv"), "--items",
         str(tmp_path / "items.csv"), "--out", str(out), "--quiet", "--dp-epsilon", "1", "--dp-delta", "2"],
        capture_output=True, text=True,
    )
    assert bad_delta.returncode != 0 and "dp_delta (--dp-delta) must be in (0, 1)" in bad_delta.stderr


# ---------------------------------------------------------------------------------------------- own-content


def _scrambled_raw_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Interactions.item_counts() (the raw training counts) reversed: a model that reads them orders otherwise."""
    original = Interactions.item_counts
    monkeypatch.setattr(Interactions, "item_counts", lambda self: original(self)[::-1].copy())


def test_own_content_orders_users_without_clicks_by_its_dp_counts_never_the_raw_ones(monkeypatch) -> None:
    """The content model (no sharing but for one thing) ordered a no-click user's list by raw training counts, so
    --dp-epsilon refused it. own-content orders that list by its released DP counts and reads the raw ones nowhere."""
    from coldkit.privacy.models import OwnContent, private_counts

    data = population(n_users=300, n_items=40)
    queries = [UserQuery(), UserQuery(history=np.array([1, 3])), UserQuery(user=5)]

    def lists(name: str, **options: Any) -> tuple[np.ndarray, ...]:
        model = build_model(name, encoder="hashing", cache=False, **options).fit(data)
        ranked = model.recommend(queries, 10)
        return ranked.indices, ranked.scores

    private = lists("own-content", dp_epsilon=1.0, dp_delta=1e-4, max_items=8, seed=3)
    plain = lists("content")
    with monkeypatch.context() as patch:
        _scrambled_raw_counts(patch)
        for got, want in zip(lists("own-content", dp_epsilon=1.0, dp_delta=1e-4, max_items=8, seed=3), private):
            np.testing.assert_array_equal(got, want)  # change the raw counts: the same lists
        assert not np.array_equal(lists("content")[0][0], plain[0][0])  # the plain model does read them
    # the no-click list, against the release recomputed here: most public DP count first, ties by index
    released = private_counts(data, 1.0, 1e-4, max_items=8, seed=3).public_counts()
    assert released.any()
    np.testing.assert_array_equal(private[0][0], np.argsort(-released, kind="stable")[:10])
    np.testing.assert_array_equal(private[0][1:], plain[0][1:])  # users with clicks: the same content kNN
    model = OwnContent(dp_epsilon=1.0, dp_delta=1e-4, max_items=8, encoder="hashing", cache=False).fit(data)
    eps, delta = model.privacy_spent()
    assert eps == pytest.approx(1.0, rel=1e-6) and delta == 1e-4  # the count release is the whole budget
    assert [m["name"] for m in model.privacy_report()["mechanisms"]] == ["item counts"]
    assert OwnContent(dp_epsilon=math.inf, encoder="hashing", cache=False).fit(data).privacy_spent().epsilon == math.inf
    for bad, words in (({"dp_epsilon": 0}, "dp_epsilon"), ({"dp_epsilon": float("nan")}, "dp_epsilon"),
                       ({"dp_delta": 0.5}, "dp_delta"), ({"max_items": 0}, "max_items")):
        with pytest.raises(InvalidInputError, match=words):
            OwnContent(encoder="hashing", cache=False, **bad).fit(data)


def test_cli_recommend_content_with_dp_epsilon_runs_own_content(tmp_path) -> None:
    from coldkit.privacy.models import private_counts

    data = population(n_users=300)
    rows, cols = data.matrix.nonzero()
    pd.DataFrame({"user_id": data.user_ids[rows], "item_id": data.catalog.item_ids[cols]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"item_id": data.catalog.item_ids, "title": data.catalog.table["title"]}).to_csv(tmp_path / "items.csv", index=False)
    (tmp_path / "users.txt").write_text("u0\nnewcomer\n")
    out = tmp_path / "recs.csv"
    run = subprocess.run(
        [sys.executable, "-m", "coldkit", "recommend", "--interactions", str(tmp_path / "train.csv"), "--items",
         str(tmp_path / "items.csv"), "--out", str(out), "--k", "5", "--encoder", "hashing", "--quiet", "--model", "content",
         "--users", str(tmp_path / "users.txt"), "--dp-epsilon", "2", "--dp-delta", "1e-6", "--option", "seed=4"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "privacy: user-level (2, 1e-06)-DP spent by this run (publishing another run on the same data spends it again)" in run.stderr
    assert "(model own-content " in run.stderr, run.stderr
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    newcomer = recs[recs["user_id"] == "newcomer"].sort_values("rank")["item_id"].tolist()
    # coldkit recommend numbers items and users by a hash of their ids, and the release draws its noise in that order
    from coldkit.data.datasets import renumber_items, renumber_users

    seen = renumber_users(renumber_items(data))
    released = private_counts(seen, 2.0, 1e-6, seed=4).public_counts()
    assert newcomer == seen.catalog.item_ids[np.argsort(-released, kind="stable")[:5]].tolist()


# ---------------------------------------------------------------------------------------------- DP-SGD (Opacus)


def test_dp_sgd_tower_spends_its_budget_as_opacus_counts_it() -> None:
    rdp = pytest.importorskip("opacus.accountants.analysis.rdp")
    from coldkit.privacy.accountant import INTEGER_ORDERS
    from coldkit.privacy.dpsgd import DPContentTower

    from opacus.data_loader import DPDataLoader
    from torch.utils.data import DataLoader

    data = population(n_users=300, n_items=20)
    model = DPContentTower(dp_epsilon=3.0, dp_delta=1e-4, encoder="hashing", cache=False, epochs=2, batch_size=100, dim=8).fit(data)
    eps, delta = model.privacy_spent()
    assert 3.0 * 0.99 <= eps <= 3.0 * (1 + 1e-9) and delta == 1e-4
    (entry,) = model.accountant_.ledger()
    # the rate Opacus' own Poisson loader samples at (1 / len(loader) = 1/3, not 100/279): the 279 users who
    # train (2 or more interactions) do not split evenly into batches of 100, which an even split could not tell
    users = int((np.diff(data.matrix.indptr) >= 2).sum())
    assert users == 279
    opacus_rate = DPDataLoader.from_data_loader(DataLoader([(u,) for u in range(users)], batch_size=100)).sample_rate
    assert entry["sample_rate"] == opacus_rate == 1 / 3 and entry["steps"] == 2 * 3
    orders = list(INTEGER_ORDERS)
    curve = rdp.compute_rdp(q=entry["sample_rate"], noise_multiplier=model.noise_multiplier_, steps=entry["steps"], orders=orders)
    expected, _ = rdp.get_privacy_spent(orders=orders, rdp=curve, delta=1e-4)
    assert eps == pytest.approx(expected, rel=1e-9)


def test_the_accountant_refuses_a_fractional_step_count_and_a_bad_delta_by_its_own_value() -> None:
    from coldkit.privacy.accountant import PrivacyAccountant, noise_multiplier_for_budget

    # 2.7 steps were recorded as 2 (ε under-reported), "3" taken as text, 2.5 calibrated for 2 steps
    for steps in (2.7, "3", 2.0, 0, True):
        with pytest.raises(InvalidInputError, match="steps must be"):
            PrivacyAccountant(delta=1e-5).add_gaussian(1.0, steps=steps, sample_rate=0.1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="steps must be"):
            PrivacyAccountant(delta=1e-5).add_laplace(1.0, steps=steps)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="steps must be"):
            noise_multiplier_for_budget(1.0, 1e-5, steps=steps)  # type: ignore[arg-type]
    # delta=2.0 was taken, and privacy_spent() blamed "got None" (its own unset argument)
    for delta in (2.0, 0.0, -1e-5, float("nan"), "1e-5", True):
        with pytest.raises(InvalidInputError, match=rf"PrivacyAccountant: delta must be a number in \(0, 1\), got {re.escape(repr(delta))}"):
            PrivacyAccountant(delta=delta)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"delta must be in \(0, 1\), got 3.0"):
        PrivacyAccountant(delta=1e-5).add_gaussian(1.0).privacy_spent(delta=3)


def test_dp_sgd_tower_without_noise_learns_the_tastes() -> None:
    pytest.importorskip("opacus")
    from coldkit.privacy.dpsgd import DPContentTower

    data = population(n_users=400, n_items=40)
    model = DPContentTower(dp_epsilon=math.inf, dp_delta=1e-4, encoder="hashing", cache=False, epochs=20, batch_size=200,
                           lr=2.0, dim=16).fit(data)
    ranked = model.recommend([UserQuery(history=np.array([0, 2, 4, 6]))], 6)
    assert np.mean(ranked.indices % 2 == 0) >= 5 / 6


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dp_advantage_bound(-1.0, 1e-5), "epsilon must be >= 0"),
        (lambda: dp_advantage_bound(float("nan"), 1e-5), "epsilon must be a number"),
        (lambda: dp_advantage_bound("1", 1e-5), "epsilon must be a number"),
        (lambda: dp_advantage_bound(1.0, 1.5), "delta must be in"),
        (lambda: dp_advantage_bound(1.0, -0.1), "delta must be in"),
        (lambda: roc_auc(np.array([0.1, np.nan]), np.array([0.2])), "finite"),
        (lambda: popularity_canary_advantage(1.0, trials=0), "trials"),
        (lambda: popularity_canary_advantage(1.0, trials=2, canaries=2.5), "canaries must be an integer"),
        (lambda: popularity_canary_advantage(1.0, trials=2, seed=-1), "seed must be an integer >= 0"),
        (lambda: taste_population(n_users=10, seed=-1), "seed must be an integer >= 0"),
        (lambda: taste_population(n_users=10.0), "n_users must be an integer"),
        (lambda: membership_inference("cold-ridge", taste_population(n_users=40, seed=0)), "model instance"),
        (lambda: membership_inference(Popularity, taste_population(n_users=40, seed=0)), "model instance"),
        (lambda: membership_inference(Popularity(), taste_population(n_users=40, seed=0), seed=-1), "seed"),
        # a history without items has no own-item rank (was a NaN, then roc_auc's "finite" error)
        (lambda: own_item_ranks(Popularity().fit(taste_population(n_users=40, seed=0)), [np.array([1]), np.array([], np.int64)]),
         "history 1 is empty"),
        # one item: no other item to rank an own item against (was a ZeroDivisionError)
        (lambda: membership_inference(Popularity(), taste_population(n_users=40, n_items=1, per_user=1)), "at least 2 items"),
    ],
)
def test_attack_helpers_reject_bad_input_clearly(call: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        call()


# ------------------------------------------------------------------ the DP hybrid's noise-aware source weights


def _stats_with_gram(gram: np.ndarray, sigma_gram: float, sigma_counts: float = 1.0) -> Any:
    from coldkit.privacy.models import DPStatistics

    g = gram.shape[0]
    return DPStatistics(np.zeros(g), np.arange(g), gram.astype(np.float32), sigma_counts, sigma_gram, PrivacyAccountant(1e-5))


def test_gram_signal_share_against_a_hand_spectrum() -> None:
    from coldkit.privacy.models import gram_signal_share

    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    values = np.array([30.0, 12.0, 3.0, -2.0])
    gram = basis @ np.diag(values) @ basis.T
    stats = _stats_with_gram(gram, sigma_gram=2.5)  # edge = 2 · 2.5 · √4 = 10
    assert stats.noise_edge == pytest.approx(10.0)
    expected = ((30 - 10) ** 2 + (12 - 10) ** 2) / float(np.sum(values**2))  # by hand: 404 / 1057
    assert gram_signal_share(stats) == pytest.approx(expected, rel=1e-5)
    assert gram_signal_share(stats, eigenvalues=values) == pytest.approx(expected)
    assert gram_signal_share(_stats_with_gram(gram, sigma_gram=0.0)) == 1.0  # no noise: all signal
    assert gram_signal_share(_stats_with_gram(gram, sigma_gram=100.0)) == 0.0  # everything under the noise edge


def test_dp_content_tower_leaves_torch_global_generator_as_it_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """fit seeded torch's global generator with the secret noise seed: torch.initial_seed() gave it back."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("opacus")
    import coldkit.privacy.dpsgd as dpsgd

    drawn: list[int] = []
    real = dpsgd.noise_seed
    monkeypatch.setattr(dpsgd, "noise_seed", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    dpsgd.DPContentTower(dp_epsilon=3.0, dp_delta=1e-4, encoder="hashing", cache=False, epochs=1, batch_size=60, dim=8).fit(population(n_users=300, n_items=20))
    assert len(drawn) == 1 and torch.initial_seed() != drawn[0]
    assert torch.initial_seed() == 1234 and torch.equal(torch.get_rng_state(), before)


def test_noise_count_mass_is_what_noise_alone_leaves_above_three_sigma() -> None:
    from coldkit.privacy.models import DPStatistics, noise_count_mass

    sigma, n = 7.0, 400_000
    assert noise_count_mass(1, 1.0) == pytest.approx(0.0044318484, rel=1e-7)  # φ(3), the standard normal density
    noisy = DPStatistics(np.random.default_rng(3).normal(0.0, sigma, n), np.arange(2), np.eye(2, dtype=np.float32),
                         sigma, 1.0, PrivacyAccountant(1e-5))
    kept = noisy.public_counts().sum()  # Monte Carlo: zero counts + noise, thresholded as the model does
    assert kept == pytest.approx(noise_count_mass(n, sigma), rel=0.05)
    assert noise_count_mass(0, sigma) == 0.0 and noise_count_mass(10, 0.0) == 0.0


@pytest.mark.parametrize("n", [1, 10, 30, 200, 1683, 16_000])
def test_noise_mass_quantile_is_exceeded_by_noise_alone_in_one_fit_in_a_thousand(n: int) -> None:
    """Against an independent Monte Carlo (another generator, scipy's truncated normal rather than the inverse
    tail the function uses): noise alone exceeds the quantile ~0.1 % of the time. Mean + 3 sd, the rule before,
    was exceeded in 1-4 % of fits for 10-1,000 items."""
    from scipy.stats import truncnorm

    from coldkit.privacy.models import noise_count_mass, noise_mass_quantile

    sigma, draws = 5.0, 200_000
    rng = np.random.default_rng(11)
    tail = 0.5 * math.erfc(3 / math.sqrt(2))
    kept = rng.binomial(n, tail, size=draws)  # how many of the n items clear 3σ, then their values
    values = sigma * truncnorm.rvs(3.0, np.inf, size=int(kept.sum()), random_state=rng)
    mass = np.bincount(np.repeat(np.arange(draws), kept), weights=values, minlength=draws)
    q = noise_mass_quantile(n, sigma)
    assert 0.0005 < float(np.mean(mass > q)) < 0.0016, (n, q, float(np.mean(mass > q)))
    gaussian = noise_count_mass(n, sigma) + 3 * sigma * math.sqrt(n * (3 * 0.0044318484 + tail - 0.0044318484**2))
    assert q > gaussian  # heavier than a Gaussian view of it
    assert noise_mass_quantile(0, sigma) == 0.0 and noise_mass_quantile(n, 0.0) == 0.0
    assert 3.2 * sigma < noise_mass_quantile(200, sigma)  # one chance 3.2σ count among 200 new items is noise


@pytest.mark.parametrize("call, match", [
    (lambda f: f(-1, 1.0), "n_items"), (lambda f: f(2.5, 1.0), "n_items"), (lambda f: f(3, -1.0), "sigma"),
    (lambda f: f(3, math.inf), "sigma"),
])
def test_noise_count_mass_rejects_bad_input(call: Any, match: str) -> None:
    from coldkit.privacy.models import noise_count_mass, noise_mass_quantile

    with pytest.raises(InvalidInputError, match=match):
        call(noise_count_mass)
    with pytest.raises(InvalidInputError, match=match):
        call(noise_mass_quantile)
    for level in (1.0, 0.2, math.nan, True):
        with pytest.raises(InvalidInputError, match="level"):
            noise_mass_quantile(3, 1.0, level)


def _with_new_items(data: Interactions, start: int) -> Interactions:
    matrix = sp.csr_matrix(data.matrix).tolil()
    matrix[:, start:] = 0  # items start.. are brand-new: nobody took them in training
    return Interactions(data.user_ids, data.catalog, sp.csr_matrix(matrix))


def test_dp_hybrid_noise_factors_on_warm_and_brand_new_items() -> None:
    from coldkit.privacy.models import gram_signal_share, noise_mass_quantile

    train = _with_new_items(population(n_users=3000), 30)
    model = DPHybrid(dp_epsilon=1.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=0).fit(train)
    stats = model.stats_
    assert stats is not None
    cold, warm = np.arange(30, 40), np.arange(0, 30)
    factors = model.noise_factors(cold)
    # brand-new items: no public count is backed by data, so popularity says nothing and CF speaks through the map only
    assert factors["popularity"] == 0.0
    assert factors["cf"] == pytest.approx(gram_signal_share(stats) ** 2)
    # warm items: the counts stand far above the noise, and CF's own vectors back them
    counts = stats.public_counts()[warm]
    assert np.all(counts > 0)
    on_warm = model.noise_factors(warm)
    # what noise alone could put on 30 never-seen items (its 99.9 % quantile, checked against Monte Carlo above)
    noise = noise_mass_quantile(30, stats.sigma_counts)
    assert on_warm["popularity"] == pytest.approx(1 - noise / counts.sum(), rel=1e-6)
    share = counts / (counts + model.item_trust)
    backed = ((counts * share).sum() - noise) / counts.sum()
    assert on_warm["cf"] == pytest.approx(backed * model.cf_factor_ + (1 - backed) * factors["cf"], rel=1e-6)
    # post-processing only: the ledger is the two releases
    assert [m["name"] for m in model.privacy_report()["mechanisms"]] == ["item counts", "item-item Gram"]


def test_dp_hybrid_ranks_brand_new_items_as_own_content_when_cf_is_noise() -> None:
    from coldkit.models.content import ContentRecommender

    train = _with_new_items(population(n_users=300), 30)
    model = DPHybrid(dp_epsilon=0.5, dp_delta=1e-5, encoder="hashing", cache=False, seed=0).fit(train)
    cold = np.arange(30, 40)
    assert model.noise_factors(cold)["cf"] < 1e-3  # 300 users at ε = 0.5: nothing of the Gram clears the noise
    # with CF's weight near 0 the DP hybrid ranks brand-new items as the user's own content kNN does (no-sharing)
    queries = [UserQuery(history=np.array([0, 2, 4, 6])), UserQuery(history=np.array([1, 3, 5]))]
    baseline = ContentRecommender(encoder="hashing", cache=False).fit(train)
    np.testing.assert_array_equal(model.recommend(queries, 10, candidates=cold).indices,
                                  baseline.recommend(queries, 10, candidates=cold).indices)


def test_dp_hybrid_noise_factors_without_noise_and_bad_input() -> None:
    train = _with_new_items(population(n_users=600), 30)
    exact = DPHybrid(dp_epsilon=math.inf, dp_delta=1e-5, encoder="hashing", cache=False).fit(train)
    # ε = ∞: the full weights, and the prior only where no count speaks
    assert exact.noise_factors(np.arange(30)) == {"cf": 1.0, "popularity": 1.0, "prior": 0.0}
    assert exact.noise_factors(np.arange(30, 40))["prior"] == 1.0
    assert exact.noise_factors(np.arange(30, 40))["cf"] == 1.0
    off = DPHybrid(dp_epsilon=1.0, dp_delta=1e-5, encoder="hashing", cache=False, seed=0, cf_trust=0).fit(train)
    assert off.noise_factors(np.arange(30, 40))["cf"] == 1.0  # cf_trust = 0 turns the noise-aware CF weight off
    with pytest.raises(NotFittedError, match="fit"):
        DPHybrid(dp_epsilon=1.0, encoder="hashing").noise_factors()
    for bad in (np.array([0, 40]), np.array([-1]), np.array([0.5])):
        with pytest.raises(InvalidInputError, match="candidates"):
            exact.noise_factors(bad)


def test_dp_hybrid_items_outside_the_gram_keep_their_content_vector() -> None:
    """An item with interactions but outside the DP Gram has no CF vector of its own: it must keep its
    content-mapped vector, not a blend with a zero CF vector (which shrank it by c / (c + item_trust))."""
    from coldkit.models.cold import ridge_map

    data = population(n_users=600)
    model = DPHybrid(dp_epsilon=math.inf, dp_delta=1e-5, warm="svd", gram_items=10, encoder="hashing", cache=False).fit(data)
    stats = model.stats_
    assert stats is not None and stats.items.size == 10
    outside = np.setdiff1d(np.arange(data.n_items), stats.items)
    assert (stats.public_counts()[outside] > 0).all()  # they have interactions
    content = model.content.item_vectors()
    weights, bias = ridge_map(content[stats.items], model.projection_, model.adapter_l2)
    mapped = content.astype(np.float64) @ weights + bias
    np.testing.assert_allclose(model.item_vectors_[outside], mapped[outside], rtol=1e-4, atol=1e-5)


def test_cli_default_delta_is_not_shown_as_none(tmp_path, capsys) -> None:
    # --dp-epsilon alone printed "dp_delta=None" in the summary (read as pure ε-DP) beside the δ it used
    from coldkit.cli import main

    data = population(n_users=200)
    rows, cols = data.matrix.nonzero()
    pd.DataFrame({"user_id": data.user_ids[rows], "item_id": data.catalog.item_ids[cols]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"item_id": data.catalog.item_ids, "title": data.catalog.table["title"]}).to_csv(tmp_path / "items.csv", index=False)
    n_users = len(set(data.user_ids[rows]))
    assert main(["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
                 "--out", str(tmp_path / "recs.csv"), "--k", "3", "--model", "popularity", "--quiet", "--dp-epsilon", "1"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "dp_delta=None" not in err and "model dp-popularity dp_epsilon=1.0)" in err, err
    assert f"privacy: user-level (1, {1 / (10 * n_users):.3g})-DP spent" in err, err  # the documented default 1/(10·users)


def test_cli_two_budgets_are_refused(tmp_path, capsys) -> None:
    # --dp-epsilon 1 --option dp_epsilon=3 ran at ε = 1 and dropped the 3 without a word
    from coldkit.cli import main

    data = population(n_users=50)
    rows, cols = data.matrix.nonzero()
    pd.DataFrame({"user_id": data.user_ids[rows], "item_id": data.catalog.item_ids[cols]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"item_id": data.catalog.item_ids, "title": data.catalog.table["title"]}).to_csv(tmp_path / "items.csv", index=False)
    base = ["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
            "--out", str(tmp_path / "recs.csv"), "--k", "3", "--model", "popularity", "--quiet", "--dp-epsilon", "1"]
    for option, named in (("dp_epsilon=3", "dp_epsilon=..."), ("dp_delta=1e-9", "dp_delta=...")):
        assert main([*base, "--option", option]) == 2
        err = capsys.readouterr().err
        assert f"--dp-epsilon/--dp-delta and --option {named} name two privacy budgets; keep one" in err, err
    assert not (tmp_path / "recs.csv").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),  # a bare numpy ValueError at fit
        ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),  # truncated to 1
        ({"clip": True}, r"clip \(per-user L2 bound\) must be a number > 0, got bool True"),  # ran with clip 1
        ({"clip": "1"}, r"clip \(per-user L2 bound\) must be a number > 0, got str '1'"),  # float("1") ran, repr showed '1'
        ({"dp_epsilon": "1"}, r"dp_epsilon must be a number, got str '1'"),
        ({"count_share": "x"}, r"count_share \(budget share of the item counts\) must be a number in \(0, 1\), got 'x'"),
    ],
)
def test_dp_models_name_a_bad_seed_clip_or_share(options, message) -> None:
    for name in ("dp-popularity", "dp-hybrid"):
        with pytest.raises(InvalidInputError, match=message):
            build_model(name, **{"dp_epsilon": 1.0, **options})
