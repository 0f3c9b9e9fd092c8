"""coldkit.testing: every built-in component passes the conformance kit, and the kit catches broken ones."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pytest

from coldkit.builtins.fusion import WeightedFusion
from coldkit.builtins.similarity import NumpyBackend
from coldkit.models.popularity import Popularity
from coldkit.plugins.manager import DEFAULT_PLUGINS, get_encoder, registry
from coldkit.plugins.types import Ranked
from coldkit.testing import check_backend, check_encoder, check_fusion, check_model, synthetic_interactions


def _builtin(kind: str) -> list[str]:
    """Names registered by coldkit itself (plugins run the kit in their own tests)."""
    return sorted(spec.name for spec in registry(kind).specs() if spec.plugin in DEFAULT_PLUGINS)


# Options a built-in needs to stay fast and offline here (the kit itself picks encoder="hashing").
MODEL_OPTIONS: dict[str, dict[str, Any]] = {"router": {"hybrid_options": {"encoder": "hashing"}}}
HEAVY_MODELS = {"cold-mlp", "dropoutnet", "heater", "clcrec", "aldi"}  # train torch networks


def _precomputed_with_a_text_encoder() -> Any:
    """`precomputed` looks vectors up by item id; its text path is the encoder that made them."""
    from coldkit.plugins.manager import get_encoder

    text_encoder = get_encoder("hashing")
    text_encoder.fit(["a tiny catalogue", "of three items", "for the kit"])
    ids = ["a", "b", "c"]
    vectors = text_encoder.encode_texts(["a tiny catalogue", "of three items", "for the kit"])
    return get_encoder("precomputed", ids=ids, vectors=vectors, text_encoder=text_encoder)


@pytest.mark.parametrize("name", _builtin("encoder"))
def test_builtin_encoders_conform(name: str) -> None:
    # an encoder that needs data to exist at all is checked as a user would build it
    check_encoder(_precomputed_with_a_text_encoder() if name == "precomputed" else name)


@pytest.mark.parametrize("name", _builtin("similarity_backend"))
def test_builtin_backends_conform(name: str) -> None:
    check_backend(name)


@pytest.mark.parametrize("name", _builtin("fusion"))
def test_builtin_fusions_conform(name: str) -> None:
    check_fusion(name)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow, pytest.mark.torch]) if n in HEAVY_MODELS else n for n in _builtin("model")],
)
def test_builtin_models_conform(name: str) -> None:
    if name in HEAVY_MODELS:
        pytest.importorskip("torch")
    if name == "lightfm":  # the optional `lightfm` extra
        pytest.importorskip("lightfm")
    check_model(name, options=MODEL_OPTIONS.get(name))


def test_every_builtin_kind_is_covered() -> None:
    assert _builtin("encoder") and _builtin("fusion") and len(_builtin("model")) >= 10
    assert {"rust", "numpy"} <= set(_builtin("similarity_backend"))


def test_synthetic_data_is_what_the_kit_promises() -> None:
    train, profiles, topics = synthetic_interactions(0)
    counts = train.item_counts()
    for items in topics.values():
        assert np.all(counts[items[-2:]] == 0) and np.all(counts[items[:2]] >= 0)
    sports_users = [u for u in range(train.n_users) if u % 3 == 0]
    assert all(set(train.items_of(u).tolist()) <= set(topics["sports"].tolist()) for u in sports_users)
    assert set(profiles) == set(train.user_ids.tolist())


# ---------------------------------------------------------------- the kit must fail broken components


class UnnormalisedEncoder:
    name, dim, modalities, fingerprint = "unnormalised", 8, frozenset({"text"}), "v1"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        base = get_encoder("hashing", dim=8).encode_texts(texts)
        return np.ascontiguousarray(base * 2.0)


class IgnoresExclusions(NumpyBackend):
    def topk(self, queries: Any, catalog: Any, k: int, **kw: Any) -> Any:
        return super().topk(queries, catalog, k, **{**kw, "exclude": None})


class TiesToHigherIndex(NumpyBackend):
    """Scans the catalogue backwards, so equal scores come out higher index first."""

    def topk(self, queries: Any, catalog: Any, k: int, **kw: Any) -> Any:
        n = catalog.shape[0]
        exclude = kw.pop("exclude")
        flipped = None if exclude is None else [n - 1 - np.asarray(e, np.int64) for e in exclude]
        scores, indices = super().topk(queries, np.ascontiguousarray(catalog[::-1]), k, exclude=flipped, **kw)
        return scores, np.where(indices >= 0, n - 1 - indices, -1)


class IgnoresK(WeightedFusion):
    def fuse(self, sources: Mapping[str, Ranked], k: int, weights: Any = None) -> Ranked:
        return super().fuse(sources, k + 3, weights)


class IgnoresCandidates(Popularity):
    def _recommend(self, queries: Any, k: int, candidates: Any, exclude_known: bool) -> Ranked:
        return super()._recommend(queries, k, None, exclude_known)


@pytest.mark.parametrize(
    ("check", "component", "message"),
    [
        (check_encoder, UnnormalisedEncoder(), "L2 norm"),
        (check_backend, IgnoresExclusions(), "exclusions"),
        (check_backend, TiesToHigherIndex(), "ties"),
        (check_fusion, IgnoresK(), "shape"),
        (check_model, IgnoresCandidates(), "candidates"),
    ],
)
def test_kit_names_the_broken_property(check: Any, component: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(component)
