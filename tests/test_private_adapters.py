"""The published torch adapters in private mode (dp-dropoutnet, dp-heater, dp-clcrec, dp-aldi):
accounting against Opacus' RDP analysis, utility against the non-private adapter on a synthetic case
where content decides the tastes, determinism, and the errors for bad budgets and bounds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldkit.data import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models.registry import build_model
from coldkit.privacy.attacks import membership_inference, taste_population
from coldkit.privacy.accountant import INTEGER_ORDERS, PrivacyAccountant, noise_multiplier_for_budget
from coldkit.privacy.modes import private_model, privacy_of

pytest.importorskip("torch")
rdp_analysis = pytest.importorskip("opacus.accountants.analysis.rdp")

#: small networks: the tests check behaviour, not the paper-sized models
SMALL = {"encoder": "hashing", "cache": False, "hidden": 32, "content_dim": 16}


def cold_case(n_users: int = 600, n_items: int = 60, n_cold: int = 20, seed: int = 0) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Users with one of two tastes (even / odd items); an item's text names its kind, so content decides
    who takes it. The last ``n_cold`` items have no training interaction. Returns (train, taste, cold items)."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 2, n_users)  # 0: even items, 1: odd items
    p = np.where((np.arange(n_items)[None, :] % 2) == taste[:, None], 0.4, 0.05)
    matrix = (rng.random((n_users, n_items)) < p).astype(np.float32)
    matrix[:, n_items - n_cold :] = 0.0
    table = pd.DataFrame({"title": [f"item {j} {'comedy heist' if j % 2 else 'drama war'}" for j in range(n_items)]})
    catalog = Catalog(np.array([f"i{j}" for j in range(n_items)]), table, ["title"])
    train = Interactions(np.array([f"u{j}" for j in range(n_users)]), catalog, sp.csr_matrix(matrix))
    return train, taste, np.arange(n_items - n_cold, n_items)


def cold_precision(model, train: Interactions, taste: np.ndarray, cold: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Share of each user's top-5 cold items that match their taste (0.5 = chance)."""
    users = np.flatnonzero(np.diff(train.matrix.indptr) > 0)
    ranked = model.recommend([UserQuery(user=int(u)) for u in users], 5, candidates=cold).indices
    return float(np.mean(ranked % 2 == taste[users][:, None]))


@pytest.fixture(scope="module")
def case() -> tuple[Interactions, np.ndarray, np.ndarray]:
    return cold_case()


@pytest.fixture(scope="module")
def dropoutnet(case) -> dict[float, object]:  # type: ignore[no-untyped-def]
    """dp-dropoutnet fitted at a small and a large ε (600 users, 3 epochs of 10 Poisson batches)."""
    train, _, _ = case
    return {eps: build_model("dp-dropoutnet", dp_epsilon=eps, epochs=3, batch_users=60, seed=0, **SMALL).fit(train) for eps in (0.3, 8.0)}


# ---------------------------------------------------------------------------------------------- accounting


def test_the_ledger_spends_the_budget_as_opacus_counts_it(dropoutnet) -> None:  # type: ignore[no-untyped-def]
    model = dropoutnet[8.0]
    eps, delta = model.privacy_spent()
    assert delta == pytest.approx(1 / 6000) and 8.0 * 0.99 <= eps <= 8.0 * (1 + 1e-9)  # δ default 1/(10·users)
    rows = {row["name"]: row for row in model.accountant_.ledger()}
    assert set(rows) == {"item counts", "item-item Gram", "dp-sgd"}
    sgd = rows["dp-sgd"]
    assert sgd["steps"] == model.steps_ == 3 * 10 and sgd["sample_rate"] == pytest.approx(60 / 600)
    assert sgd["noise_multiplier"] == pytest.approx(model.noise_multiplier_)
    # Opacus' own RDP analysis of the same three mechanisms (two full-batch Gaussians + the DP-SGD steps), composed
    orders = list(INTEGER_ORDERS)
    curve = sum(
        rdp_analysis.compute_rdp(q=row["sample_rate"], noise_multiplier=row["noise_multiplier"], steps=row["steps"], orders=orders)
        for row in rows.values()
    )
    expected, _ = rdp_analysis.get_privacy_spent(orders=orders, rdp=curve, delta=delta)
    assert eps == pytest.approx(expected, rel=1e-9)
    # the DP teacher alone (release_share = 1/2 of the zCDP budget) spends clearly less than the whole
    release = sum(rdp_analysis.compute_rdp(q=1.0, noise_multiplier=rows[name]["noise_multiplier"], steps=1, orders=orders)
                  for name in ("item counts", "item-item Gram"))
    assert rdp_analysis.get_privacy_spent(orders=orders, rdp=release, delta=delta)[0] < 0.8 * eps
    assert privacy_of(model)["epsilon"] == pytest.approx(eps) and privacy_of(model)["noise_multiplier"] > 0
    assert dropoutnet[0.3].noise_multiplier_ > model.noise_multiplier_


def test_noise_calibration_leaves_room_for_a_prior_release() -> None:
    prior = PrivacyAccountant(delta=1e-5).add_gaussian(3.0, 1.0, name="release")
    z = noise_multiplier_for_budget(4.0, 1e-5, steps=300, sample_rate=0.05, prior=prior)
    orders = list(INTEGER_ORDERS)
    curve = rdp_analysis.compute_rdp(q=1.0, noise_multiplier=3.0, steps=1, orders=orders) + rdp_analysis.compute_rdp(
        q=0.05, noise_multiplier=z, steps=300, orders=orders
    )
    spent, _ = rdp_analysis.get_privacy_spent(orders=orders, rdp=curve, delta=1e-5)
    assert 4.0 * 0.999 <= spent <= 4.0 * (1 + 1e-9)
    assert z > noise_multiplier_for_budget(4.0, 1e-5, steps=300, sample_rate=0.05)  # less left, more noise
    with pytest.raises(InvalidInputError, match="already spend"):
        noise_multiplier_for_budget(0.1, 1e-5, steps=10, sample_rate=0.05, prior=prior)


def test_subsampled_rdp_matches_the_binomial_sum_at_every_integer_order() -> None:
    from scipy.special import comb

    from coldkit.privacy.accountant import subsampled_gaussian_rdp

    q, z = 0.05, 1.3
    orders = np.array([1.5, 2.0, 3.0, 64.0, 256.0, 600.0, 2.5])
    got = subsampled_gaussian_rdp(orders, z, q)
    for alpha, value in zip(orders, got):
        if alpha != int(alpha):
            assert math.isinf(value)
            continue
        a = int(alpha)
        k = np.arange(a + 1)
        # the sum in log space (exact=False binomials overflow past ~1000 only)
        terms = np.log(comb(a, k)) + (a - k) * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * z * z)
        expected = (terms.max() + math.log(np.exp(terms - terms.max()).sum())) / (a - 1)
        assert value == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------- utility


def test_larger_epsilon_is_closer_to_the_non_private_adapter(case, dropoutnet) -> None:  # type: ignore[no-untyped-def]
    train, taste, cold = case
    reference = cold_precision(build_model("dropoutnet", tune=False, epochs=20, **SMALL).fit(train), train, taste, cold)
    private = {eps: cold_precision(model, train, taste, cold) for eps, model in dropoutnet.items()}
    assert reference >= 0.9  # content decides the tastes: the non-private adapter ranks cold items right
    assert private[8.0] >= 0.85
    assert abs(private[8.0] - reference) < abs(private[0.3] - reference) - 0.2
    assert private[0.3] < 0.7  # ε = 0.3 over 600 users: the noise drowns the signal (chance is 0.5)


def test_membership_inference_advantage_shrinks_as_epsilon_falls() -> None:
    """The population attack of coldkit.privacy.attacks on dp-dropoutnet: fit on 600 of 1,200 two-taste users
    (6 random picks each, 40 items: few users, so the non-private pipeline memorises which items a user took),
    then tell members from non-members by how high the model ranks their own items. Two seeds, averaged;
    the numbers (5 seeds) are in docs/privacy.md."""
    results: dict[float, list] = {}
    for seed in (0, 1):
        data = taste_population(n_users=1200, seed=seed)
        for eps in (math.inf, 8.0, 1.0):
            model = build_model("dp-dropoutnet", dp_epsilon=eps, encoder="hashing", cache=False, hidden=32,
                                content_dim=16, factors=8, batch_users=32, seed=seed)
            results.setdefault(eps, []).append(membership_inference(model, data, seed=seed))
    auc = {eps: float(np.mean([r.auc for r in rs])) for eps, rs in results.items()}
    utility = {eps: float(np.mean([r.nonmember_rank for r in rs])) for eps, rs in results.items()}
    # each AUC is over 600 x 600 users: its standard error is about 0.017, 0.012 for the mean of two seeds
    assert auc[math.inf] > 0.6, auc  # without noise the attack works (measured 0.64-0.66 per seed)...
    assert utility[math.inf] > 0.7, utility  # ...on a model that also generalises to users it never saw
    assert auc[8.0] < auc[math.inf] - 0.04, auc
    assert auc[1.0] < auc[8.0], auc
    assert abs(auc[1.0] - 0.5) < 0.05, auc  # ε = 1: no measurable advantage (nor utility, at 600 users)


@pytest.mark.parametrize("name", ["dp-heater", "dp-clcrec", "dp-aldi"])
def test_every_adapter_trains_through_the_private_pipeline(name: str) -> None:
    # without noise (ε = inf: the same DP teacher pipeline and clipped DP-SGD steps, no noise), small and fast;
    # the accounting and the noise path are the same code for every adapter (checked on dp-dropoutnet above)
    train, taste, cold = cold_case(n_users=300)
    model = build_model(name, dp_epsilon=math.inf, epochs=3, batch_users=30, **SMALL).fit(train)
    assert math.isinf(model.privacy_spent().epsilon)
    assert cold_precision(model, train, taste, cold) >= 0.75
    assert model.vector_for_text(["a comedy heist"]).shape == (1, model.item_vectors().shape[1])


def test_the_dp_ease_teacher_gives_one_dimension_per_gram_item() -> None:
    train, taste, cold = cold_case(n_users=300)
    model = build_model("dp-aldi", dp_epsilon=math.inf, teacher="ease", epochs=3, batch_users=30, **SMALL).fit(train)
    assert model.item_vectors().shape == (train.n_items, model.warm.warm_items_.size)
    assert cold_precision(model, train, taste, cold) >= 0.75


# ---------------------------------------------------------------------------------------------- reproducibility


def test_a_seed_reproduces_the_fit_and_threads_are_restored() -> None:
    import torch

    train, _, _ = cold_case(n_users=200, n_items=30, n_cold=6)
    before = torch.get_num_threads()

    def fit(seed: int) -> np.ndarray:
        return build_model("dp-aldi", dp_epsilon=4.0, epochs=2, batch_users=50, seed=seed, threads=1, **SMALL).fit(train).item_vectors()

    first, again, other = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.allclose(first, other)  # the DP teacher's rank may differ too
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------------------------------- errors and modes


@pytest.mark.parametrize(
    "options, words",
    [
        ({"dp_epsilon": 0.0}, "dp_epsilon must be > 0"),
        ({"dp_epsilon": -1.0}, "dp_epsilon must be > 0"),
        ({"dp_epsilon": float("nan")}, "dp_epsilon must be > 0"),
        ({"dp_delta": 1.0}, "dp_delta must be in"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"max_grad_norm": -2.0}, "max_grad_norm"),
        ({"max_grad_norm": math.inf}, "max_grad_norm"),
        ({"clip": 0.0}, "clip"),
        ({"max_items": 0}, "max_items"),
        ({"batch_users": 0}, "batch_users"),
        ({"release_share": 1.0}, "release_share"),
        ({"tune": True}, "not available in private mode"),
        ({"warm": "ease"}, "not available in private mode"),
        ({"teacher": "als"}, "teacher must be one of"),
    ],
)
def test_bad_options_are_named(options: dict, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        build_model("dp-dropoutnet", encoder="hashing", **options)


def test_delta_not_below_one_over_users_fails_at_fit() -> None:
    train, _, _ = cold_case(n_users=50, n_items=20, n_cold=4)
    with pytest.raises(InvalidInputError, match="not below 1/users"):
        build_model("dp-clcrec", dp_epsilon=1.0, dp_delta=0.05, **SMALL).fit(train)


def test_private_mode_maps_each_published_adapter() -> None:
    for name in ("dropoutnet", "heater", "clcrec", "aldi"):
        assert private_model(name) == f"dp-{name}"
        assert private_model(f"dp-{name}") == f"dp-{name}"


def test_the_secret_noise_seed_is_not_kept_after_fit(dropoutnet) -> None:  # type: ignore[no-untyped-def]
    """The seed a fit drew its noise from lives only during the fit; methods that need it say so outside one."""
    model = dropoutnet[8.0]
    assert model._fit_seed is None
    with pytest.raises(InvalidInputError, match="only while fit"):
        model._noise_seed()


def test_fit_leaves_torch_global_generator_as_it_found_it(case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """fit seeded torch's global generator with the secret noise seed and left it there: torch.initial_seed()
    after fit returned that seed, from which the release's and DP-SGD's noise can be regenerated."""
    import torch

    import coldkit.privacy.adapters as adapters

    drawn: list[int] = []
    real = adapters.noise_seed
    monkeypatch.setattr(adapters, "noise_seed", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    train, _, _ = case
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    build_model("dp-dropoutnet", dp_epsilon=8.0, epochs=1, batch_users=60, **SMALL).fit(train)
    assert len(drawn) == 1 and torch.initial_seed() != drawn[0]
    assert torch.initial_seed() == 1234 and torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", ["dp-clcrec", "dp-dropoutnet"])
def test_a_release_that_keeps_few_items_is_noted_with_what_it_means(name: str) -> None:
    # 40 users at ε = 2: most counts drown in the noise, and users who clicked none of the kept items had a
    # zero teacher vector with nothing said (dp-clcrec: 190 of 200 rows scored 0)
    train, _, cold = cold_case(n_users=40)
    model = build_model(name, dp_epsilon=2.0, epochs=1, batch_users=10, seed=0, **SMALL).fit(train)
    kept = int(model.stats_.items.size)
    note = model.notes_[-1]
    assert note.startswith(f"{name}: the private release's item statistics cover {kept:,} of {train.n_items} items")
    users = [UserQuery(user=int(u)) for u in range(train.n_users)]
    vectors = model.warm.user_vectors(users)
    empty = np.flatnonzero(~np.abs(vectors).any(axis=1))
    assert empty.size, "the case must hold a user who clicked none of the kept items"
    scores = model.recommend([users[u] for u in empty], 5, candidates=cold).scores
    if name == "dp-clcrec":  # the teacher's user vector is used as it is: every new item scores 0
        assert "every new item scores 0" in note and np.all(scores == 0)
    else:  # DropoutNet's own user network maps the zero vector: the same scores for all of them
        assert "the same list" in note and np.allclose(scores, scores[0])
    if kept < 20:
        assert "too few items for this budget" in note
