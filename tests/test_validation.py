"""``k`` is checked in one place (coldkit.validation.check_k): every entry point says the same thing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from coldkit.batch import recommend_files
from coldkit.data import UserQuery
from coldkit.evaluation import evaluate, precision_at_k
from coldkit.exceptions import InvalidInputError
from coldkit.models.registry import build_model
from coldkit.plugins.manager import get_fusion
from coldkit.plugins.types import Ranked
from coldkit.similarity import topk
from coldkit.testing import synthetic_interactions
from coldkit.validation import check_flag, check_k


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(2), np.uint8(5)])
def test_accepts_python_and_numpy_integers(value: Any) -> None:
    assert check_k(value) == int(value) and type(check_k(value)) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "k must be >= 1, got 0"), (-3, "k must be >= 1, got -3"), (2.0, "k must be an integer, got float 2.0"),
     (True, "k must be an integer, got True"), ("5", "k must be an integer, got str '5'"), (None, "k must be an integer")],
)
def test_rejects_with_one_message(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_k(value)
    assert str(info.value).startswith(message)


def test_names_what_it_checks() -> None:
    with pytest.raises(InvalidInputError, match="cutoff must be >= 1"):
        check_k(0, what="cutoff")


def _entry_points(tmp_path: Path) -> dict[str, Callable[[Any], object]]:
    train, _, _ = synthetic_interactions(0)
    model = build_model("popularity").fit(train)
    ranked = Ranked(np.array([[0, 1]]), np.array([[2.0, 1.0]], dtype=np.float32))
    items, interactions = tmp_path / "items.csv", tmp_path / "train.csv"
    items.write_text("item_id,title\na,A\nb,B\n")
    interactions.write_text("user_id,item_id\nu,a\n")
    return {
        "coldkit.topk": lambda k: topk(np.ones((1, 4), np.float32), np.ones((3, 4), np.float32), k),
        "Recommender.recommend": lambda k: model.recommend([UserQuery(user=0)], k),
        "fusion": lambda k: get_fusion("rrf").fuse({"a": ranked}, k),
        "metrics": lambda k: precision_at_k(np.array([[0, 1]]), np.array([[1, 0]]), k),
        "evaluate": lambda k: evaluate(train, ["popularity"], protocol="warm", k=[5, k], progress=False),
        "recommend_files": lambda k: recommend_files(str(interactions), str(items), str(tmp_path / "o.csv"), model="popularity", k=k),
    }


@pytest.mark.parametrize("bad", [0, 2.5])
def test_every_entry_point_gives_the_same_message(tmp_path: Path, bad: Any) -> None:
    expected = "k must be >= 1, got 0" if bad == 0 else "k must be an integer, got float 2.5"
    for name, call in _entry_points(tmp_path).items():
        with pytest.raises(InvalidInputError) as info:
            call(bad)
        assert str(info.value) == expected, name


def test_check_flag_takes_python_and_numpy_bools_only() -> None:
    assert check_flag(True, "x") is True and check_flag(np.bool_(False), "x") is False
    for bad in ("no", "", 0, 1, 1.0, None):
        with pytest.raises(InvalidInputError, match=rf"x must be True or False, got {bad!r}"):
            check_flag(bad, "x")


@pytest.mark.parametrize("name, options", [
    ("content", {"encoder": "hashing"}),
    ("lightfm", {}),
])
def test_model_cache_switch_takes_booleans_only(name: str, options: dict) -> None:
    """cache="no" was bool("no") == True: the vector cache was written by a model told not to."""
    import coldkit

    if name == "lightfm":
        pytest.importorskip("lightfm")
    assert coldkit.models.create(name, cache=False, **options).cache is False
    with pytest.raises(InvalidInputError, match="cache must be True or False, got 'no'"):
        coldkit.models.create(name, cache="no", **options)


def test_multimodal_cache_switch_takes_booleans_only() -> None:
    import coldkit

    with pytest.raises(InvalidInputError, match="cache must be True or False, got 'off'"):
        coldkit.get_encoder("multimodal", text_encoder="hashing", cache="off")


@pytest.mark.parametrize("name, option, options", [
    ("hybrid", "stack", {"encoder": "hashing"}),
    ("hybrid", "adaptive", {"encoder": "hashing"}),
    ("dropoutnet", "tune", {"encoder": "hashing"}),
    ("lightfm", "item_identity", {}),
])
def test_model_switches_take_booleans_only(name: str, option: str, options: dict) -> None:
    """stack="no" (what --option stack=no gives: only true/false are parsed) was bool("no") == True:
    the hybrid fitted and used its stacker, the published models tuned, lightfm kept the identities."""
    import coldkit
    from coldkit.models.registry import parse_option_value

    if name == "lightfm":
        pytest.importorskip("lightfm")
    if name == "dropoutnet":
        pytest.importorskip("torch")
    assert getattr(coldkit.get_model(name, **{option: False}, **options), option) is False
    for bad in (parse_option_value("no"), parse_option_value("nan"), "false"):
        with pytest.raises(InvalidInputError, match=rf"{option} must be True or False, got {bad!r}"):
            coldkit.get_model(name, **{option: bad}, **options)


@pytest.mark.parametrize("name, option, options", [
    ("hybrid", "validation_seed", {"encoder": "hashing"}),
    ("random", "seed", {}),
    ("cold-mlp", "seed", {"encoder": "hashing"}),
    ("aldi", "seed", {"encoder": "hashing"}),
])
def test_model_seeds_are_non_negative_integers(name: str, option: str, options: dict) -> None:
    """int(0.5) silently made seed 0 (another split than the one asked for), and a negative seed
    failed only at fit or recommend, inside numpy, as a bare ValueError."""
    import coldkit

    if name in ("cold-mlp", "aldi"):
        pytest.importorskip("torch")
    assert getattr(coldkit.get_model(name, **{option: 7}, **options), option) == 7
    for bad in (0.5, -1, float("inf"), True, "3"):
        with pytest.raises(InvalidInputError, match=rf"{option} must be an integer >= 0, got {bad!r}"):
            coldkit.get_model(name, **{option: bad}, **options)


def test_hybrid_user_profiles_must_be_a_mapping() -> None:
    """A string or number was an AttributeError ('str' object has no attribute 'values')."""
    import pandas as pd

    import coldkit

    for bad, shown in (("bios.csv", "str"), (3, "int"), (pd.Series({"u1": "likes jazz"}), r"Series \(a pandas Series: .to_dict\(\)\)")):
        with pytest.raises(InvalidInputError, match=rf"user_profiles must be a mapping user id -> profile text, got {shown}"):
            coldkit.get_model("hybrid", encoder="hashing", user_profiles=bad)
    assert coldkit.get_model("hybrid", encoder="hashing", user_profiles={"u1": "likes jazz"}).profile is not None


def test_check_options_takes_a_mapping_and_names_anything_else() -> None:
    from coldkit.validation import check_options

    assert check_options(None, "warm_options") == {}
    given = {"l2": 300}
    taken = check_options(given, "warm_options")
    assert taken == given and taken is not given  # a copy: the caller's dict is not kept and changed
    for bad, shown in (("l2=300", "str 'l2=300'"), ([("l2", 3)], "list [('l2', 3)]"), ({1: 2}, "dict {1: 2}"), ("x" * 100, "str 'xxxx")):
        with pytest.raises(InvalidInputError, match=re.escape(f"warm_options must be a mapping of option name -> value (e.g. {{'name': value}}), got {shown}")):
            check_options(bad, "warm_options")
