"""Published cold-item models (DropoutNet, Heater, CLCRec, ALDI) on data where content decides.

The synthetic world: every item is a bag of topic words, its true CF factors are a fixed linear
function of its topics plus small noise, and users pick items by ``p_u · q_i``. A third of the
items are cold (no training interaction). Each model must rank the cold items for their users far
above random and not far below an oracle that knows the true factors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import coldkit.models as models
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models.published import pseudo_cold_split

pytest.importorskip("torch")

PUBLISHED = ("dropoutnet", "heater", "clcrec", "aldi")
TOPICS = [f"topic{t}" for t in range(10)]
# small, fast settings shared by the tests (each option is a real model option)
FAST = {"encoder": "hashing", "cache": False, "warm": "svd", "factors": 6, "batch_size": 256,
        "hidden": 32, "content_dim": 16, "seed": 0}
K = 10


def synthetic(seed: int = 0, n_users: int = 200, n_items: int = 150, n_cold: int = 60, dim: int = 4):
    """(train, full matrix, cold item indices, true user factors, true item factors)."""
    rng = np.random.default_rng(seed)
    topic_factors = rng.standard_normal((len(TOPICS), dim))
    bags = np.zeros((n_items, len(TOPICS)))
    texts = []
    for i in range(n_items):
        chosen = rng.choice(len(TOPICS), size=2, replace=False)
        bags[i, chosen] = 1.0
        texts.append(" ".join(TOPICS[t] for t in chosen))
    item_factors = bags @ topic_factors + 0.05 * rng.standard_normal((n_items, dim))
    user_factors = rng.standard_normal((n_users, dim))
    scores = user_factors @ item_factors.T
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for u in range(n_users):  # each user takes 12 items, sampled by softmax of the true scores
        p = np.exp(2.0 * (scores[u] - scores[u].max()))
        dense[u, rng.choice(n_items, size=12, replace=False, p=p / p.sum())] = 1.0
    cold = np.sort(rng.choice(n_items, size=n_cold, replace=False))
    table = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": texts})
    catalog = Catalog(table["item_id"].to_numpy(), table)
    train_dense = dense.copy()
    train_dense[:, cold] = 0.0
    users = np.array([f"u{u}" for u in range(n_users)])
    train = Interactions(users, catalog, sp.csr_matrix(train_dense))
    return train, dense, cold, user_factors, item_factors


@pytest.fixture(scope="module")
def world():
    return synthetic()


def cold_recall(ranked_indices: np.ndarray, dense: np.ndarray, users: np.ndarray, cold: np.ndarray) -> float:
    hits = []
    for row, u in zip(ranked_indices, users):
        truth = cold[dense[u, cold] > 0]
        hits.append(np.isin(row, truth).sum() / min(K, truth.size))
    return float(np.mean(hits))


def test_pseudo_cold_split_hides_whole_items(world) -> None:
    train = world[0]
    rest, hidden = pseudo_cold_split(train, 0.2, seed=3)
    warm = np.flatnonzero(train.item_counts() > 0)
    assert hidden.size == round(0.2 * warm.size) and np.isin(hidden, warm).all()
    assert rest.item_counts()[hidden].sum() == 0  # every interaction of a hidden item is gone
    keep = np.setdiff1d(np.arange(train.n_items), hidden)
    np.testing.assert_array_equal(rest.matrix[:, keep].toarray(), train.matrix[:, keep].toarray())
    again = pseudo_cold_split(train, 0.2, seed=3)
    assert again is not None and np.array_equal(again[1], hidden)  # seeded


@pytest.mark.parametrize("name", PUBLISHED)
def test_cold_items_ranked_near_the_oracle(world, name: str) -> None:
    train, dense, cold, user_factors, item_factors = world
    users = np.flatnonzero(dense[:, cold].sum(axis=1) > 0)
    model = models.create(name, epochs=10, tune=False, lr=0.01, **FAST).fit(train)
    ranked = model.recommend([UserQuery(user=int(u)) for u in users], k=K, candidates=cold)
    recall = cold_recall(ranked.indices, dense, users, cold)
    # oracle: the true factors, ranked the same way; random: the expected recall of a random list
    oracle_scores = user_factors[users] @ item_factors[cold].T
    oracle = cold_recall(cold[np.argsort(-oracle_scores, axis=1)[:, :K]], dense, users, cold)
    random = float(np.mean([K / cold.size / min(K, (dense[u, cold] > 0).sum()) * (dense[u, cold] > 0).sum()
                            for u in users]))
    assert recall > 2.5 * random, (name, recall, random, oracle)
    assert recall > 0.8 * oracle, (name, recall, random, oracle)


@pytest.mark.parametrize("name", PUBLISHED)
def test_hyper_parameters_chosen_on_validation(world, name: str) -> None:
    train = world[0]
    model = models.create(name, epochs=4, eval_every=2, **FAST).fit(train)
    grid = type(model).GRID
    assert len(model.validation_scores_) == np.prod([len(v) for v in grid.values()])
    best = max(model.validation_scores_, key=lambda pair: pair[1])[0]
    assert model.chosen_params_ == best  # the recorded choice is the best validated combination
    for key, values in grid.items():
        assert model.chosen_params_[key] in values
    assert 1 <= model.chosen_params_["epochs"] <= 4
    assert model.notes_ == []


def test_an_option_set_by_the_user_leaves_the_grid(world) -> None:
    model = models.create("dropoutnet", dropout=0.3, epochs=2, **FAST).fit(world[0])
    assert model.chosen_params_["dropout"] == 0.3
    assert {p["dropout"] for p, _ in model.validation_scores_} == {0.3}
    assert len(model.validation_scores_) == len(type(model).GRID["lr"])


def test_too_small_data_fall_back_to_defaults_with_a_note() -> None:
    train = synthetic(n_users=12, n_items=14, n_cold=2)[0]
    model = models.create("aldi", epochs=2, **FAST).fit(train)
    assert len(model.notes_) == 1 and "too little data" in model.notes_[0] and "defaults" in model.notes_[0]
    assert model.chosen_params_ == {**type(model).DEFAULTS, "epochs": 2}
    assert model.validation_scores_ == []


@pytest.mark.parametrize("name", PUBLISHED)
def test_deterministic_for_a_seed(world, name: str) -> None:
    train = world[0]
    a = models.create(name, epochs=3, tune=False, **FAST).fit(train)
    b = models.create(name, epochs=3, tune=False, **FAST).fit(train)
    np.testing.assert_array_equal(a.item_vectors(), b.item_vectors())
    queries = [UserQuery(user=0), UserQuery(history=np.array([1, 2]))]
    np.testing.assert_array_equal(a.recommend(queries, k=5).indices, b.recommend(queries, k=5).indices)
    c = models.create(name, epochs=3, tune=False, **{**FAST, "seed": 1}).fit(train)
    assert not np.array_equal(a.item_vectors(), c.item_vectors())


@pytest.mark.parametrize("name", PUBLISHED)
def test_new_text_and_new_users_are_scored_in_the_same_space(world, name: str) -> None:
    train, _, cold, _, _ = world
    model = models.create(name, epochs=2, tune=False, **FAST).fit(train)
    texts = list(train.catalog.texts())
    # a brand-new item described by a cold item's text gets that cold item's vector
    np.testing.assert_allclose(model.vector_for_text([texts[cold[0]]])[0], model.item_vectors()[cold[0]],
                               rtol=1e-4, atol=1e-5)
    # a new user with the same clicks as a training user gets the same ranking
    clicks = train.items_of(3)
    same = model.recommend([UserQuery(user=3), UserQuery(history=clicks)], k=8)
    np.testing.assert_array_equal(same.indices[0], same.indices[1])
    assert not np.isin(same.indices[0], clicks).any()  # known items are excluded


@pytest.mark.parametrize("name", [*PUBLISHED, *(f"dp-{n}" for n in PUBLISHED)])
def test_a_profile_text_ranks_its_own_topic_first(name: str) -> None:
    """The conformance kit's three-topic catalogue, one text per topic. Before texts counted as clicks,
    a text-only query got the empty user's vector: one text-blind list for every text (all-zero scores
    for CLCRec/ALDI, whose index-order ties happen to favour the first topic, sports)."""
    from coldkit.testing import TOPICS as KIT_TOPICS, synthetic_interactions

    options: dict = {"encoder": "hashing", "cache": False}
    if name.startswith("dp-"):
        pytest.importorskip("opacus")
        options["dp_epsilon"] = float("inf")  # the pipeline without noise: relevance, not privacy, is checked
    train, _, topic_items = synthetic_interactions(0)
    model = models.create(name, **options).fit(train)
    texts = [" ".join(titles[:3]) for titles in KIT_TOPICS.values()]
    ranked = model.recommend([UserQuery(text=t) for t in texts], k=5).indices
    hits = {topic: int(np.isin(row, topic_items[topic]).sum()) for topic, row in zip(KIT_TOPICS, ranked)}
    assert min(hits.values()) >= 3, (name, hits)  # a third of the catalogue per topic: chance is 5/3


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("dropoutnet", {"dropout": 1.5}, "dropout"),
        ("dropoutnet", {"rank": 0}, "rank"),
        ("heater", {"random_rate": -0.1}, "random_rate"),
        ("heater", {"experts": 0}, "experts"),
        ("heater", {"negatives": 0}, "negatives"),
        ("clcrec", {"temperature": 0.0}, "temperature"),
        ("clcrec", {"negatives": 0}, "negatives"),
        ("clcrec", {"content_share": 2.0}, "content_share"),
        ("aldi", {"gamma": -1.0}, "gamma"),
        ("aldi", {"lr": 0}, "lr"),
        ("aldi", {"epochs": 0}, "epochs"),
        ("aldi", {"validation_share": 1.0}, "validation_share"),
        ("aldi", {"content_dim": 0}, "content_dim"),
        ("aldi", {"threads": 0}, "threads"),
        ("aldi", {"warm": "nope"}, "warm"),
        ("heater", {"alpha": float("nan")}, "alpha"),
    ],
)
def test_bad_options_are_clear_errors(name: str, options: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        models.create(name, **options)


def test_registered_with_capabilities() -> None:
    from coldkit.builtins.models import BUILTIN_MODELS

    for name in PUBLISHED:
        assert name in models.available()
        assert {"cold-items", "torch"} <= BUILTIN_MODELS[name][2]


ML100K = Path("/work/shared/data/ml-100k")


@pytest.mark.slow
@pytest.mark.skipif(not ML100K.exists(), reason="ml-100k not available")
@pytest.mark.parametrize("name", PUBLISHED)
def test_warm_validation_items_on_ml100k(name: str) -> None:
    """Hide 20% of ml-100k's warm items; the model, fitted on the rest, must rank each user's
    hidden items above their other hidden items better than the mean warm item vector does.

    The mean vector gives every hidden item the same score (AUC exactly 0.5 for every user); the
    content-derived vectors must order them (mean per-user AUC over the hidden items).
    """
    from scipy.stats import rankdata

    from coldkit.data.datasets import load_dataset

    full = load_dataset("ml-100k", data_root=str(ML100K.parent)).interactions
    rest, hidden = pseudo_cold_split(full, 0.2, seed=1)
    model = models.create(name, epochs=3, tune=False, **{**FAST, "factors": 32, "hidden": 64,
                                                          "content_dim": 64, "batch_size": 4096}).fit(rest)
    truth = full.matrix[:, hidden].toarray() > 0
    users = np.flatnonzero(truth.any(axis=1) & ~truth.all(axis=1))
    vectors = model.user_vectors([UserQuery(user=int(u)) for u in users])
    predicted = vectors @ model.item_vectors()[hidden].T  # (users, hidden items)
    warm = np.flatnonzero(rest.item_counts() > 0)
    baseline = vectors @ model.item_vectors()[warm].mean(axis=0)  # one score per user, for every item

    def auc(scores: np.ndarray, positive: np.ndarray) -> float:
        ranks = rankdata(scores)  # ties share their mean rank
        n_pos, n_neg = positive.sum(), (~positive).sum()
        return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

    model_auc = np.mean([auc(predicted[r], truth[u]) for r, u in enumerate(users)])
    mean_auc = np.mean([auc(np.full(hidden.size, baseline[r]), truth[u]) for r, u in enumerate(users)])
    assert mean_auc == pytest.approx(0.5)
    assert model_auc > mean_auc + 0.1, (name, model_auc, mean_auc)


def test_aldi_loss_terms_by_hand() -> None:
    """ALDI's four terms (Huang et al. 2023; zfnWong/ALDI's loss) on three (u, i, j) triples, by hand."""
    import torch

    from coldkit.models.published import _aldi_terms

    rng = np.random.default_rng(0)
    p, tq_i, tq_j, s_i, s_j = (rng.standard_normal((3, 4)) for _ in range(5))
    scale = 0.3
    terms = _aldi_terms(torch, *(torch.as_tensor(x, dtype=torch.float64) for x in (p, tq_i, tq_j, s_i, s_j)), scale)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def bce(logit, target):
        return float(np.mean(-(target * np.log(sigmoid(logit)) + (1 - target) * np.log(1 - sigmoid(logit)))))

    t_ui, t_uj = (p * tq_i).sum(1), (p * tq_j).sum(1)
    s_ui, s_uj = (p * s_i).sum(1), (p * s_j).sum(1)
    # identification distance: v_i·v_i minus the mean of v_i·v_j over the batch's negatives j
    d_student = np.array([s_i[b] @ s_i[b] - np.mean([s_i[b] @ s_j[c] for c in range(3)]) for b in range(3)])
    d_teacher = np.array([tq_i[b] @ tq_i[b] - np.mean([tq_i[b] @ tq_j[c] for c in range(3)]) for b in range(3)])
    expected = {
        "basic": float(np.mean(-np.log(sigmoid(s_ui - s_uj)))),
        "rating": float(np.mean(np.abs(t_ui - s_ui) + np.abs(t_uj - s_uj))),
        "ranking": bce(s_ui - s_uj, sigmoid(t_ui - t_uj)),
        "identity": bce(scale * d_student, sigmoid(scale * d_teacher)),
    }
    for name, value in expected.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-9), name


def test_aldi_identification_targets_are_informative(world) -> None:
    """The identification alignment must align the student's distances with the teacher's. On coldkit's
    unit-std teacher, ``||q_i||²`` is about the dimension, so unscaled ``σ(d_teacher)`` is ~1 for almost every
    item (80 % of ml-100k's items with a 64-factor SVD, all with EASE) and the term cannot tell a student
    with the teacher's distances from one with inflated ones. With the teacher's identity scale it can."""
    import torch

    from coldkit.models.cold import WarmSpace
    from coldkit.models.published import _aldi_terms, _teacher

    train = world[0]
    warm = WarmSpace("svd", 32).fit(train)
    teacher = _teacher(torch, warm, train, np.zeros((train.n_items, 2), dtype=np.float32))
    generator = torch.Generator().manual_seed(0)
    pick = lambda: teacher.warm_items[torch.randint(0, teacher.warm_items.shape[0], (256,), generator=generator)]  # noqa: E731
    users = teacher.users[torch.randint(0, train.n_users, (256,), generator=generator)]
    pos, neg = teacher.items[pick()], teacher.items[pick()]
    c = teacher.identity_scale
    d_teacher = (pos * pos).sum(1) - pos @ neg.mean(0)
    assert float((torch.sigmoid(c * d_teacher) > 0.99).float().mean()) < 0.2
    faithful = _aldi_terms(torch, users, pos, neg, pos, neg, c)["identity"]
    inflated = _aldi_terms(torch, users, pos, neg, 1.5 * pos, 1.5 * neg, c)["identity"]
    assert float(inflated - faithful) > 0.05, (float(faithful), float(inflated))


def _tiny_teacher(n_users: int = 5, n_items: int = 6, f: int = 3, d: int = 4):
    """A hand-made teacher: random p_u, q_i, content; every (u, u mod n_items) a training pair."""
    import torch

    from coldkit.models.published import _Teacher

    rng = np.random.default_rng(1)
    tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return _Teacher(
        users=tensor(rng.standard_normal((n_users, f))), items=tensor(rng.standard_normal((n_items, f))),
        content=tensor(rng.standard_normal((n_items, d))),
        pair_users=torch.arange(n_users), pair_items=torch.arange(n_users) % n_items,
        warm_items=torch.arange(n_items), user_scale=1.0, item_scale=1.0,
    )


def test_dropoutnet_regresses_the_teacher_scores() -> None:
    """DropoutNet's objective (Volkovs et al. 2017, Eq. 2): ``(p_u·q_v − f_U(p_u)·f_V(q_v, c_v))²`` over the
    pairs, with the teacher's own score as the target for positives and sampled items alike."""
    import torch

    teacher = _tiny_teacher()
    model = models.create("dropoutnet", hidden=8, rank=4, encoder="hashing", cache=False)
    torch.manual_seed(0)
    net = model._network(torch, teacher, {"dropout": 0.0})
    users, items, negatives = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([4, 5, 3])
    loss = model._batch_loss(torch, net, teacher, users, items, negatives, {"dropout": 0.0},
                             torch.Generator().manual_seed(0))
    with torch.no_grad():
        u, i = torch.cat([users, users]), torch.cat([items, negatives])
        predicted = (net.user(teacher.users[u]) * net.item(torch.cat([teacher.items[i], teacher.content[i]], 1))).sum(1)
        target = (teacher.users[u] * teacher.items[i]).sum(1)
    assert loss.item() == pytest.approx(float(((predicted - target) ** 2).mean()), rel=1e-5)


def test_heater_regresses_the_interactions_not_the_teacher_scores() -> None:
    """Heater (Zhu et al. 2020) trains its towers on the interactions (1 for a training pair, 0 for a sampled
    item, as the authors' code does), plus ``alpha·mean ||φ(c_i) − q_i||²``: regressing the teacher's scores
    instead is DropoutNet's set-up, whose "error superimposition" Heater's joint training avoids."""
    import torch

    from coldkit.models.published import _MixtureOfExperts

    teacher = _tiny_teacher()
    model = models.create("heater", hidden=8, rank=4, experts=2, negatives=1, encoder="hashing", cache=False)
    params = {"random_rate": 0.0, "alpha": 0.5}  # every item input is its CF vector: no draw matters
    torch.manual_seed(0)
    net = model._network(torch, teacher, params)
    users, items, negatives = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([4, 5, 3])
    loss = model._batch_loss(torch, net, teacher, users, items, negatives, params, torch.Generator().manual_seed(0))
    with torch.no_grad():
        u, i = torch.cat([users, users]), torch.cat([items, negatives])
        predicted = (net.user(teacher.users[u]) * net.item(teacher.items[i])).sum(1)
        labels = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
        distinct = torch.unique(i)
        phi = _MixtureOfExperts.apply(torch, net.moe, teacher.content[distinct])
        similarity = ((phi - teacher.items[distinct]) ** 2).sum(1).mean()
    expected = float(((predicted - labels) ** 2).mean() + 0.5 * similarity)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_clcrec_loss_by_hand() -> None:
    """CLCRec's objective (Wei et al. 2021; weiyinwei/CLCRec's ``lr_lambda`` weighting): ``λ·L_RE + (1 − λ)·L_UI``,
    L_RE the InfoNCE of each item's CF vector against the content encodings (cosine / τ, its own encoding the
    positive), L_UI the InfoNCE of ``p_u`` against its positive and ``negatives`` sampled items (dot / τ)."""
    import torch

    teacher = _tiny_teacher()
    model = models.create("clcrec", hidden=8, negatives=3, content_share=0.0, encoder="hashing", cache=False)
    params = {"temperature": 0.5, "lam": 0.3}
    torch.manual_seed(0)
    net = model._network(torch, teacher, params)
    users, items, negatives = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 0]), torch.tensor([4, 5, 3, 1])
    loss = model._batch_loss(torch, net, teacher, users, items, negatives, params, torch.Generator().manual_seed(0))
    # the same draw of sampled items as the model's (content_share=0: every item input is its CF vector)
    sampled = teacher.warm_items[torch.randint(0, 6, (4, 3), generator=torch.Generator().manual_seed(0))].numpy()
    with torch.no_grad():
        encoded = net(teacher.content).numpy().astype(np.float64)
    q, p = teacher.items.numpy().astype(np.float64), teacher.users.numpy().astype(np.float64)

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def nce(logits):  # positive in column 0
        return float(np.mean([np.log(np.exp(row).sum()) - row[0] for row in logits]))

    distinct = np.unique(items.numpy())  # representation <-> embedding over the batch's distinct items
    re = np.mean([np.log(np.exp(unit(q[i]) @ unit(encoded[distinct]).T / 0.5).sum()) - unit(q[i]) @ unit(encoded[i]) / 0.5
                  for i in distinct])
    candidates = np.concatenate([items.numpy()[:, None], sampled], axis=1)
    ui = nce(np.einsum("bf,bcf->bc", p[users.numpy()], q[candidates]) / 0.5)
    assert loss.item() == pytest.approx(0.3 * re + 0.7 * ui, rel=1e-4)


@pytest.mark.parametrize("name, option", [("dropoutnet", "hidden"), ("clcrec", "hidden"), ("dropoutnet", "rank"), ("heater", "experts")])
def test_a_network_too_large_for_the_budget_is_one_line_naming_the_options(world, name: str, option: str) -> None:
    """hidden/rank=10**12 was a torch RuntimeError traceback ('you tried to allocate ... bytes');
    Heater's experts=10**12 built small experts one by one until the machine gave out."""
    from coldkit.models.memory import MemoryBudgetError

    train = world[0]
    options = {**FAST, "tune": False, "epochs": 1, option: 10**12}
    with pytest.raises(MemoryBudgetError, match=r"needs .* TB \(> memory budget .*\); choose a smaller hidden, rank or experts$"):
        models.create(name, **options).fit(train)
    # the model's own memory_budget is the bound: FAST's tiny towers fit 10 MB, 65,536 hidden units do not
    small = {**FAST, "tune": False, "epochs": 1, "memory_budget": "10M"}
    models.create(name, **small).fit(train)
    with pytest.raises(MemoryBudgetError, match=r"> memory budget 10 MB"):
        models.create(name, **{**small, "hidden": 65536}).fit(train)
