"""Federated training (coldkit.privacy.federated): the recommender contract, the central PureSVD as the
reference, what reaches the server, the DP accounting, determinism and bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models.cold import ColdRidge, WarmSpace
from coldkit.models.registry import build_model
from coldkit.privacy.federated import (
    Federated,
    factor_update,
    have_flower,
    local_user_vector,
    partition_users,
    user_counts,
)
from coldkit.testing import check_model, synthetic_interactions

#: Fitting needs Flower (the optional extra [federated]); the rest runs without it.
needs_flower = pytest.mark.skipif(not have_flower(), reason="flwr (coldkit[federated]) is not installed")


def planted(seed: int = 0, n_users: int = 240, n_items: int = 120, topics: int = 4, cold: int = 12) -> Interactions:
    """Users who each like one topic (70 % of their clicks) plus random clicks; the last ``cold`` items have none."""
    rng = np.random.default_rng(seed)
    warm = n_items - cold
    topic_of_item = np.arange(n_items) % topics
    rows, cols = [], []
    for u in range(n_users):
        liked = np.flatnonzero(topic_of_item[:warm] == u % topics)
        picks = set(rng.choice(liked, 10, replace=False).tolist()) | set(rng.choice(warm, 4, replace=False).tolist())
        rows += [u] * len(picks)
        cols += sorted(picks)
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    words = ["sports football match", "music guitar concert", "cooking recipe kitchen", "travel beach island"]
    ids = [f"i{i}" for i in range(n_items)]
    titles = [f"{words[topic_of_item[i]]} {rng.choice(words[topic_of_item[i]].split())} item{i}" for i in range(n_items)]
    catalog = Catalog(np.array(ids, dtype=object), pd.DataFrame({"item_id": ids, "title": titles}), ("title",))
    return Interactions(np.array([f"u{u}" for u in range(n_users)], dtype=object), catalog, matrix)


def subspace_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Spectral norm of the difference of the orthogonal projectors onto span(a) and span(b) (0 = same subspace)."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return float(np.linalg.norm(qa @ qa.T - qb @ qb.T, 2))


# ---------------------------------------------------------------------------------- contract


@needs_flower
@pytest.mark.parametrize("options", [{"n_clients": 4, "rounds": 20}, {"n_clients": 3, "dp_epsilon": 4.0, "clip": 2.0}])
def test_federated_passes_the_model_contract(options):
    model = check_model("federated", options=options)
    assert isinstance(model, Federated)


# ---------------------------------------------------------------------------------- central reference


def test_client_update_is_the_gradient_of_its_users_fold_in():
    rng = np.random.default_rng(1)
    x = sp.random(9, 14, density=0.3, format="csr", random_state=2)
    x.data[:] = 1
    q = rng.standard_normal((14, 3))
    dense = x.toarray()
    np.testing.assert_allclose(factor_update(x, q, None), dense.T @ dense @ q, atol=1e-12)
    # clipped: each user's rank-one contribution x_uᵀ(x_u Q) scaled to Frobenius norm <= clip, by hand
    expected = np.zeros((14, 3))
    for row in dense:
        contribution = np.outer(row, row @ q)
        norm = np.linalg.norm(contribution)
        expected += contribution * min(1.0, 0.5 / norm) if norm > 0 else 0
    np.testing.assert_allclose(factor_update(x, q, 0.5), expected, atol=1e-12)
    counts = np.zeros(14)
    for row in dense:
        norm = np.linalg.norm(row)
        counts += row * min(1.0, 1.5 / norm) if norm > 0 else 0
    np.testing.assert_allclose(user_counts(x, 1.5), counts, atol=1e-12)


@needs_flower
def test_split_into_clients_changes_nothing_without_noise():
    train = planted()
    one = build_model("federated", n_clients=1, rounds=15, factors=6, encoder="hashing").fit(train)
    many = build_model("federated", n_clients=7, rounds=15, factors=6, encoder="hashing").fit(train)
    # the server only ever sums the clients' updates: any split gives the same factors
    np.testing.assert_allclose(one.warm.item_vectors_, many.warm.item_vectors_, atol=1e-5)
    np.testing.assert_allclose(one.item_vectors(), many.item_vectors(), atol=1e-4)


@needs_flower
def test_federated_factors_reach_the_central_svd():
    train = planted()
    central = WarmSpace("svd", factors=4).fit(train)
    fed = build_model("federated", n_clients=5, rounds=40, factors=4, encoder="hashing").fit(train)
    warm = central.warm_items_
    np.testing.assert_array_equal(fed.warm.warm_items_, warm)
    assert subspace_gap(fed.warm.item_vectors_[warm], central.item_vectors_[warm]) < 1e-4
    # same scores for every user as the central PureSVD (x Vᵀ V is rotation-free)
    queries = [UserQuery(user=u) for u in range(train.n_users)]
    central_scores = central.user_vectors(queries) @ central.item_vectors_.T
    fed_scores = fed.warm.user_vectors(queries) @ fed.warm.item_vectors_.T
    np.testing.assert_allclose(fed_scores, central_scores, atol=1e-3)


@needs_flower
def test_federated_cold_items_match_the_central_ridge_quality():
    """Rank cold items for every user: the federated adapter is as good as the central ColdRidge on PureSVD."""
    train = planted(seed=3)
    n_items, cold = train.n_items, np.arange(train.n_items - 12, train.n_items)
    topic = np.arange(n_items) % 4
    central = ColdRidge(warm="svd", factors=4, encoder="hashing").fit(train)
    fed = build_model("federated", n_clients=6, rounds=40, factors=4, encoder="hashing").fit(train)

    def hit_rate(model) -> float:
        ranked = model.recommend([UserQuery(user=u) for u in range(train.n_users)], 3, candidates=cold)
        return float(np.mean([topic[i] == u % 4 for u in range(train.n_users) for i in ranked.indices[u]]))

    central_rate, fed_rate = hit_rate(central), hit_rate(fed)
    assert central_rate > 0.5  # the reference itself finds the user's topic among the new items
    assert fed_rate >= central_rate - 0.02


# ---------------------------------------------------------------------------------- what leaves a client


@needs_flower
def test_the_server_only_receives_arrays_of_the_models_shape():
    train = planted()
    model = build_model("federated", n_clients=5, rounds=4, factors=6, encoder="hashing").fit(train)
    counts_log, factor_log = model.warm.received_
    width = 6 + 10  # factors + oversampling
    assert [entry[1] for entry in counts_log] == [(train.n_items,)] * 5
    assert [entry[1] for entry in factor_log] == [(train.n_items, width)] * (5 * 4)
    assert {entry[0] for entry in factor_log} == {1, 2, 3, 4}
    # a client never hands out its rows or user vectors
    client = model.warm.clients_[0]
    assert client.get_parameters({}) == []
    update, examples, metrics = client.fit([np.eye(train.n_items)[:, :width]], {"task": "factors"})
    assert [a.shape for a in update] == [(train.n_items, width)] and examples == 1 and metrics == {}


@needs_flower
def test_a_client_that_sends_something_else_is_refused():
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    from coldkit.privacy.flower import NoisySumStrategy

    strategy = NoisySumStrategy((5, 2), 0.0, np.random.default_rng(0))
    ok = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.ones((5, 2))]), 1, {})
    rows = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.ones((3, 5))]), 1, {})
    with pytest.raises(ColdkitError, match="expected one array of shape"):
        strategy.aggregate_fit(1, [(None, ok), (None, rows)], [])
    nan = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.full((5, 2), np.nan)]), 1, {})
    with pytest.raises(ColdkitError, match="non-finite"):
        strategy.aggregate_fit(1, [(None, nan)], [])
    # complex or text arrays failed as numpy's own casting errors, naming no client
    for dtype in (np.complex128, np.str_):
        odd = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.ones((5, 2)).astype(dtype)]), 1, {})
        with pytest.raises(ColdkitError, match="client 1 sent an array of dtype"):
            strategy.aggregate_fit(1, [(None, ok), (None, odd)], [])
    # finite updates whose sum overflows: an inf aggregate was passed on
    huge = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.full((5, 2), 1e308)]), 1, {})
    with pytest.raises(ColdkitError, match="sum overflowed"):
        strategy.aggregate_fit(1, [(None, huge), (None, huge)], [])


# ---------------------------------------------------------------------------------- DP


@needs_flower
def test_privacy_spent_meets_the_budget_and_the_closed_form():
    train = planted()
    n = train.n_users
    model = build_model("federated", n_clients=4, rounds=5, dp_epsilon=2.0, clip=1.5, factors=4, encoder="hashing")
    with pytest.raises(ColdkitError):
        model.privacy_spent()  # not fitted
    model.fit(train)
    eps, delta = model.privacy_spent()
    assert delta == pytest.approx(1 / (10 * n))
    assert eps == pytest.approx(2.0, abs=1e-6)
    # closed form: 6 Gaussian releases, sensitivity clip, noise σ -> ρ = 6 clip² / (2σ²) zCDP, and
    # ρ-zCDP is (ρ + 2 sqrt(ρ log(1/δ)), δ)-DP (Bun & Steinke 2016), never tighter than the accountant
    sigma = model.warm.strategy_sigma_
    rho = 6 * 1.5**2 / (2 * sigma**2)
    assert eps <= rho + 2 * math.sqrt(rho * math.log(1 / delta)) + 1e-9
    assert build_model("federated", encoder="hashing").fit(train).privacy_spent().epsilon == math.inf


@needs_flower
def test_non_private_federated_reports_infinite_epsilon_at_the_default_delta(tmp_path, capsys):
    """Without DP it reported (inf, 0): δ = 0 reads as pure DP, and evaluate printed "(inf, 0)-DP spent per fit".
    Now: ε = inf at the δ every private model measures at (dp_delta, else 1/(10·users)), never 0."""
    import json

    from coldkit.cli import main
    from coldkit.privacy.modes import privacy_of

    train = planted()
    plain = build_model("federated", n_clients=3, factors=4, encoder="hashing").fit(train)
    assert tuple(plain.privacy_spent()) == (math.inf, pytest.approx(1 / (10 * train.n_users)))
    assert privacy_of(plain) == {"epsilon": None, "delta": pytest.approx(1 / (10 * train.n_users))}
    # the same as a dp-* model without noise reports
    reference = build_model("dp-popularity", dp_epsilon=math.inf).fit(train).privacy_spent()
    assert tuple(plain.privacy_spent()) == (reference.epsilon, pytest.approx(reference.delta))
    infinite = build_model("federated", n_clients=3, factors=4, dp_epsilon=math.inf, dp_delta=1e-4, encoder="hashing")
    assert tuple(infinite.fit(train).privacy_spent()) == (math.inf, 1e-4)
    with pytest.raises(InvalidInputError, match="dp_delta"):  # δ >= 1/users is refused with ε = inf too, as dp-*
        build_model("federated", n_clients=3, dp_epsilon=math.inf, dp_delta=0.1, encoder="hashing").fit(train)
    rows, cols = train.matrix.nonzero()
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"user_id": train.user_ids[rows], "item_id": train.catalog.item_ids[cols]}).to_csv(folder / "interactions.csv", index=False)
    pd.DataFrame({"item_id": train.catalog.item_ids, "title": train.catalog.table["title"]}).to_csv(folder / "items.csv", index=False)
    assert main(["evaluate", "--data", str(folder), "--models", "federated:n_clients=3,factors=4,encoder=hashing",
                 "--k", "5", "--out", str(tmp_path / "out"), "--no-chart", "--quiet"]) == 0
    err = capsys.readouterr().err
    label = "federated[n_clients=3,factors=4,encoder=hashing]"
    assert f"privacy: {label}: no privacy guarantee (ε = inf: no noise added)" in err, err
    assert "-DP spent per fit" not in err
    (spent,) = json.loads((tmp_path / "out" / "results.json").read_text())["privacy"][label]
    assert spent["epsilon"] is None and 0 < spent["delta"] < 1


@needs_flower
def test_dp_noise_has_the_calibrated_size():
    train = planted()
    model = build_model("federated", n_clients=3, rounds=2, dp_epsilon=1.0, factors=4, encoder="hashing", seed=0).fit(train)
    space = model.warm
    exact = user_counts(space.matrix_, space.clip)
    noise = space.noisy_counts_ - exact
    assert noise.std() == pytest.approx(space.strategy_sigma_, rel=0.2)  # 120 draws of N(0, σ²)


@needs_flower
def test_more_privacy_costs_accuracy():
    train = planted(seed=5)
    queries = [UserQuery(user=u) for u in range(train.n_users)]
    topic = np.arange(train.n_items) % 4

    def topic_hits(eps):
        model = build_model("federated", n_clients=8, dp_epsilon=eps, factors=4, encoder="hashing", seed=1).fit(train)
        ranked = model.recommend(queries, 5)
        return float(np.mean([topic[i] == u % 4 for u in range(train.n_users) for i in ranked.indices[u] if i >= 0]))

    assert topic_hits(None) > topic_hits(0.05)


# ---------------------------------------------------------------------------------- determinism


@needs_flower
def test_same_seed_same_model_other_seed_other_noise():
    train, _, _ = synthetic_interactions(0)
    queries = [UserQuery(user=u) for u in range(8)]

    def fit(seed):
        return build_model("federated", n_clients=4, dp_epsilon=2.0, seed=seed, factors=4, encoder="hashing").fit(train)

    a, b, c = fit(3), fit(3), fit(4)
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())
    np.testing.assert_array_equal(a.recommend(queries, 5).indices, b.recommend(queries, 5).indices)
    assert not np.array_equal(a.item_vectors(), c.item_vectors())


@needs_flower
def test_private_noise_is_secret_by_default_and_new_users_get_the_noisy_counts_order():
    # the default seed was a public 0, so anyone could regenerate the server's noise; and a query without
    # clicks (scored 0 everywhere) was ordered by the raw training counts the server never saw
    train, _, _ = synthetic_interactions(0)

    def fit(**options):
        return build_model("federated", n_clients=4, dp_epsilon=2.0, factors=4, encoder="hashing", **options).fit(train)

    a, b = fit(), fit()
    assert not np.array_equal(a.warm.noisy_counts_, b.warm.noisy_counts_)
    seeded = fit(seed=0)
    order = np.argsort(-np.asarray(seeded.warm.counts_, dtype=np.float64), kind="stable")
    raw = np.argsort(-np.asarray((train.matrix > 0).sum(axis=0)).ravel(), kind="stable")
    assert not np.array_equal(order[:5], raw[:5])
    np.testing.assert_array_equal(seeded.recommend([UserQuery()], 5).indices[0], order[:5])
    plain = build_model("federated", n_clients=4, factors=4, encoder="hashing").fit(train)  # no DP: seed 0, repeatable
    again = build_model("federated", n_clients=4, factors=4, encoder="hashing").fit(train)
    np.testing.assert_array_equal(plain.item_vectors(), again.item_vectors())


def test_partition_is_disjoint_complete_and_seeded():
    parts = partition_users(23, 5, seed=2)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(23)) and {len(p) for p in parts} <= {4, 5}
    assert all(np.array_equal(p, q) for p, q in zip(parts, partition_users(23, 5, seed=2)))
    # more clients than users: one line naming the option and the largest value that works
    with pytest.raises(InvalidInputError, match=r"n_clients=10 is more than the 3 users .* set n_clients=3 or fewer \(command line: --option n_clients=3\)"):
        partition_users(3, 10)


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_clients": 0}, "n_clients must be >= 1, got 0"),
        ({"n_clients": -3}, "n_clients must be >= 1, got -3"),
        ({"n_clients": 2.5}, "n_clients must be an integer, got float 2.5"),
        ({"n_clients": True}, "n_clients must be an integer, got True"),
        ({"rounds": 0}, "rounds must be >= 1, got 0"),
        ({"dp_epsilon": 0.0}, "dp_epsilon must be > 0"),
        ({"dp_epsilon": -1.0}, "dp_epsilon must be > 0"),
        ({"dp_epsilon": float("nan")}, "dp_epsilon must be > 0"),
        ({"dp_epsilon": 1.0, "dp_delta": 0.0}, "dp_delta must be in"),
        ({"dp_epsilon": 1.0, "dp_delta": 1.0}, "dp_delta must be in"),
        ({"dp_epsilon": 1.0, "dp_delta": -0.1}, "dp_delta must be in"),
        ({"clip": 0.0}, "clip must be a finite number > 0"),
        ({"clip": float("inf")}, "clip must be a finite number > 0"),
        ({"warm": "ease"}, "does not take 'warm'"),
        ({"l2": -1.0}, "l2 must be"),
        ({"dp_epsilon": True}, "dp_epsilon must be a number, got bool True"),  # ran as ε = 1
        ({"dp_delta": 1e-3}, "dp_delta needs dp_epsilon too"),  # trained with no noise, δ reported as spent
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),  # a bare numpy ValueError at fit
        ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),  # truncated to 1
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(InvalidInputError, match=message):
        build_model("federated", encoder="hashing", **options)


@needs_flower
def test_bad_input_known_only_at_fit():
    train, _, _ = synthetic_interactions(0)  # 24 users
    with pytest.raises(InvalidInputError, match="more than the 24 users"):
        build_model("federated", n_clients=25, encoder="hashing").fit(train)
    with pytest.raises(InvalidInputError, match="not below 1/users"):
        build_model("federated", dp_epsilon=1.0, dp_delta=0.05, n_clients=2, encoder="hashing").fit(train)


# ---------------------------------------------------------------------------------- the device's user vector


def test_local_user_vector_is_the_fold_in_of_the_clicks():
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.testing.assert_allclose(local_user_vector([0, 3], table), table[0] + table[3])
    np.testing.assert_allclose(local_user_vector(["b"], {"a": [1.0, 0.0], "b": [0.0, 2.0]}), [0.0, 2.0])
    assert local_user_vector([], table).tolist() == [0.0, 0.0, 0.0]
    noisy = [local_user_vector([1], table, noise_scale=0.5, seed=s) for s in (7, 7, 8)]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    assert not np.array_equal(noisy[0], noisy[2])
    draws = np.stack([local_user_vector([1], table, noise_scale=0.5, seed=s) for s in range(400)]) - table[1]
    assert draws.std() == pytest.approx(0.5, rel=0.1)


def test_mapping_keys_are_matched_as_text_like_the_history():
    # {1: [...]} with history [1] said "history holds item id(s) with no vector: [1]"
    np.testing.assert_allclose(local_user_vector([1, "2"], {1: [1.0, 0.0], 2: [0.0, 1.0]}), [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="two keys with the same text"):
        local_user_vector([1], {1: [1.0, 0.0], "1": [0.0, 1.0]})


@pytest.mark.parametrize("infinity", [math.inf, np.float32("inf"), np.float64("inf")])
def test_an_infinite_budget_of_any_float_type_is_not_private(infinity) -> None:  # type: ignore[no-untyped-def]
    # numpy's float32 inf read as private: 3 clipped rounds instead of the 30 free ones, both reporting ε = inf
    model = build_model("federated", dp_epsilon=infinity)
    assert model.warm.private is False and model.warm.rounds == build_model("federated").warm.rounds


def test_a_repeated_click_counts_once_as_on_the_server():
    # a device's click log repeats items; the server's fold-in counts a repeat once, the device summed it
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.testing.assert_allclose(local_user_vector([0, 3, 0, 0], table), table[0] + table[3])
    np.testing.assert_allclose(local_user_vector(["b", "a", "b"], {"a": [1.0, 0.0], "b": [0.0, 2.0]}), [1.0, 2.0])


@needs_flower
def test_device_vector_of_a_history_with_repeats_is_the_models_fold_in():
    train = planted()
    model = build_model("federated", n_clients=3, rounds=5, factors=4, encoder="hashing").fit(train)
    clicks = np.array([1, 4, 1, 1, 6])
    device = local_user_vector(clicks, model.warm.item_vectors_)
    np.testing.assert_allclose(device, model.warm.user_vectors([UserQuery(history=clicks)])[0], rtol=1e-5, atol=1e-6)


@needs_flower
def test_device_vector_of_a_warm_user_is_the_models_fold_in():
    train = planted()
    model = build_model("federated", n_clients=3, rounds=5, factors=4, encoder="hashing").fit(train)
    device = local_user_vector(train.items_of(7), model.warm.item_vectors_)
    np.testing.assert_allclose(device, model.warm.user_vectors([UserQuery(user=7)])[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "history, vectors, options, message",
    [
        ([5], np.zeros((4, 2)), {}, r"indices in \[0, 4\)"),
        ([-1], np.zeros((4, 2)), {}, r"indices in \[0, 4\)"),
        ("abc", np.zeros((4, 2)), {}, "not a string"),
        (["x"], {"a": [1.0]}, {}, "no vector"),
        ([0], np.zeros(4), {}, "2-D"),
        ([0], np.full((2, 2), np.nan), {}, "non-finite"),
        ([0], np.zeros((2, 2)), {"noise_scale": -1.0}, "noise_scale"),
        ([0], np.zeros((2, 2)), {"noise_scale": float("nan")}, "noise_scale"),
        ([[0, 1]], np.zeros((2, 2)), {}, r"flat list of item row indices, got shape \(1, 2\)"),  # was a 2-D result
        (["a"], {"a": 3.0}, {}, "list of numbers, all of one length"),  # was TypeError: no len()
        (["a", "b"], {"a": [1.0], "b": [1.0, 2.0]}, {}, "list of numbers, all of one length"),  # numpy ValueError
        ([0], np.zeros((2, 2)), {"noise_scale": 1.0, "seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_local_user_vector_bad_input(history, vectors, options, message):
    with pytest.raises(InvalidInputError, match=message):
        local_user_vector(history, vectors, **options)


def test_core_imports_without_flower():
    """Without flwr, coldkit and the federated module import, the model builds, and fit says what to install."""
    code = (
        "import sys; sys.modules['flwr'] = None\n"
        "import coldkit\n"
        "from coldkit.models.registry import build_model\n"
        "from coldkit.testing import synthetic_interactions\n"
        "from coldkit.exceptions import ColdkitError\n"
        "model = build_model('federated', encoder='hashing')\n"
        "try:\n"
        "    model.fit(synthetic_interactions(0)[0])\n"
        "except ColdkitError as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'coldkit[federated]'" in out.stdout
