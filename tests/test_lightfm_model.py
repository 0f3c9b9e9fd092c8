"""The ``lightfm`` model (optional extra): contract, a synthetic case with a known answer, a clear error without the extra."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models.registry import build_model

WORDS = {"alpha": "violin cello orchestra symphony sonata", "beta": "football goal striker league match"}


def two_topics(n_users: int = 40, per_topic: int = 12, cold_per_topic: int = 4, seed: int = 0):
    """Users each like one topic; the last ``cold_per_topic`` items of each topic have no interaction.

    Known answer: a user's cold items of their own topic belong at the top of their cold list.
    Returns (train, topic of each user, item indices per topic, cold item indices per topic).
    """
    rng = np.random.default_rng(seed)
    titles, items, cold = [], {}, {}
    for topic, words in WORDS.items():
        vocab = words.split()
        start = len(titles)
        for i in range(per_topic):  # every title: three of the topic's words, in a seeded order
            titles.append(" ".join(rng.choice(vocab, size=3, replace=False)) + f" {topic} no{i}")
        items[topic] = np.arange(start, start + per_topic)
        cold[topic] = items[topic][-cold_per_topic:]
    ids = [f"i{i}" for i in range(len(titles))]
    catalog = Catalog(np.array(ids, dtype=object), pd.DataFrame({"item_id": ids, "title": titles}), ("title",))
    topics = np.array([list(WORDS)[u % 2] for u in range(n_users)])
    rows, cols = [], []
    for u, topic in enumerate(topics):
        warm = items[topic][:-cold_per_topic]
        chosen = rng.choice(warm, size=5, replace=False)
        rows += [u] * chosen.size
        cols += chosen.tolist()
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, len(ids)))
    train = Interactions(np.array([f"u{u}" for u in range(n_users)], dtype=object), catalog, matrix)
    return train, topics, items, cold


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "the kit's cold-item relevance check now asks a fan of every topic: with its defaults LightFM gives the kit's "
    "cooking fans a sports cold item first (see KNOWN_FAILURES in test_conformance.py)"))
def test_conformance_kit() -> None:
    pytest.importorskip("lightfm")
    from coldkit.testing import check_model

    check_model("lightfm")


def test_cold_items_of_the_users_topic_come_first() -> None:
    pytest.importorskip("lightfm")
    train, topics, items, cold = two_topics()
    model = build_model("lightfm", encoder="hashing", cache=False, epochs=30, components=16).fit(train)
    candidates = np.sort(np.concatenate(list(cold.values())))
    n = len(cold["alpha"])
    ranked = model.recommend([UserQuery(user=u) for u in range(train.n_users)], n, candidates=candidates)
    # SGD on 40 users: a rare slot may go astray, the topic must not
    right = [len(set(ranked.indices[u].tolist()) & set(cold[topic].tolist())) for u, topic in enumerate(topics)]
    assert min(right) >= n - 1, right
    assert sum(right) >= 0.95 * n * len(topics), right


def test_new_users_clicks_and_text_are_folded_in() -> None:
    pytest.importorskip("lightfm")
    train, topics, items, cold = two_topics()
    model = build_model("lightfm", encoder="hashing", cache=False, epochs=30, components=16).fit(train)
    warm_beta = items["beta"][:-4]
    by_clicks = model.recommend([UserQuery(history=warm_beta[:2])], 5)
    assert set(by_clicks.indices[0].tolist()) <= set(items["beta"].tolist())
    by_text = model.recommend([UserQuery(text="violin sonata orchestra")], 5)
    assert set(by_text.indices[0].tolist()) <= set(items["alpha"].tolist())


def test_same_seed_same_model_and_seed_matters() -> None:
    pytest.importorskip("lightfm")
    train = two_topics()[0]
    fit = lambda seed: build_model("lightfm", encoder="hashing", cache=False, epochs=3, seed=seed).fit(train)  # noqa: E731
    np.testing.assert_array_equal(fit(1).item_vectors_, fit(1).item_vectors_)
    assert not np.array_equal(fit(1).item_vectors_, fit(2).item_vectors_)


@pytest.mark.parametrize(
    ("options", "word"),
    [({"components": 0}, "components"), ({"loss": "hinge"}, "loss"), ({"epochs": 1.5}, "epochs"),
     ({"learning_rate": 0.0}, "learning_rate"), ({"item_alpha": float("nan")}, "item_alpha")],
)  # fmt: skip
def test_bad_options_are_named(options: dict, word: str) -> None:
    pytest.importorskip("lightfm")
    with pytest.raises(InvalidInputError, match=word):
        build_model("lightfm", encoder="hashing", **options)


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightfm", None)  # `import lightfm` now raises ImportError
    with pytest.raises(ColdkitError, match=r"coldkit\[lightfm\]"):
        build_model("lightfm", encoder="hashing")


def test_components_too_large_for_memory_is_one_line_naming_it() -> None:
    """components=10**12 was numpy's MemoryError traceback ("Unable to allocate 320. TiB") inside LightFM."""
    pytest.importorskip("lightfm")
    from coldkit.models.memory import MemoryBudgetError

    train, *_ = two_topics()
    with pytest.raises(MemoryBudgetError, match=r"lightfm's embeddings \(.* features x components=1,000,000,000,000\) need .*, more than the .* a model may use on this machine; choose fewer components$"):
        build_model("lightfm", encoder="hashing", components=10**12).fit(train)
