"""What coldkit does with a plugin component that breaks its output contract (or raises).

Every case is a third-party plugin written to the letter of docs/plugins.md but with one bug:
coldkit has to name the component and the broken property, never pass the garbage on (a short
list, another item's id) nor crash far away with an IndexError that names neither.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pytest

import coldkit
from coldkit.data import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models import Recommender, rank_vectors
from coldkit.plugins import manager
from coldkit.testing import synthetic_interactions


pytestmark = pytest.mark.usefixtures("fresh_plugins")  # conftest.py: a freshly loaded plugin set per test


class Faulty(Recommender):
    """Popularity, with one chosen fault in what ``_recommend`` returns."""

    name = "faulty"

    def __init__(self, fault: str = "none") -> None:
        self.fault = fault

    def fit(self, train: Interactions) -> "Faulty":
        self._remember(train)
        return self

    def _recommend(self, queries: list[UserQuery], k: int, candidates: Any, exclude_known: bool) -> coldkit.Ranked:
        counts = self._item_counts().astype(np.float32)[:, None]
        ranked = rank_vectors(
            np.ones((len(queries), 1), np.float32), counts, k, metric="dot",
            exclude=self._exclusions(queries, exclude_known), candidates=candidates,
        )  # fmt: skip
        if self.fault == "short":
            return coldkit.Ranked(ranked.indices[:, :1], ranked.scores[:, :1])
        if self.fault == "rows":
            return coldkit.Ranked(ranked.indices[:-1], ranked.scores[:-1])
        if self.fault == "past-the-end":
            return coldkit.Ranked(ranked.indices + 10_000, ranked.scores)
        if self.fault == "nan":
            return coldkit.Ranked(ranked.indices, np.full(ranked.scores.shape, np.nan, np.float32))
        if self.fault == "tuple":
            return ranked.indices, ranked.scores  # type: ignore[return-value]
        if self.fault == "repeated":
            return coldkit.Ranked(np.repeat(ranked.indices[:, :1], ranked.indices.shape[1], axis=1), ranked.scores)
        if self.fault == "rising":
            return coldkit.Ranked(ranked.indices, ranked.scores[:, ::-1].copy())
        if self.fault == "known":  # ranks as if nothing were known, whatever exclude_known says
            return rank_vectors(np.ones((len(queries), 1), np.float32), counts, k, metric="dot", candidates=candidates)
        if self.fault == "outside":  # ignores the candidates
            return rank_vectors(np.ones((len(queries), 1), np.float32), counts, k, metric="dot")
        return ranked


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("short", r"model 'faulty' .* returned 3 row\(s\) x 1 item\(s\) for 3 queries and k=4"),
        ("rows", r"model 'faulty' .* returned 2 row\(s\) x 4 item\(s\) for 3 queries"),
        ("past-the-end", r"model 'faulty' .* item indices outside \[-1, 24\)"),
        ("nan", r"model 'faulty' .* NaN scores"),
        ("tuple", r"model 'faulty' .* returned a tuple, not a coldkit.Ranked"),
    ],
)
def test_a_model_breaking_the_output_contract_is_named(fault: str, message: str) -> None:
    train, _, _ = synthetic_interactions()
    queries = [UserQuery(user=0), UserQuery(user=1), UserQuery(history=np.array([0]))]
    with pytest.raises(InvalidInputError, match=message):
        Faulty(fault).fit(train).recommend(queries, 4)
    # the same model without the fault: popularity, independently counted
    got = Faulty().fit(train).recommend(queries, 4, exclude_known=False)
    counts = np.asarray(train.matrix.getnnz(axis=0))
    want = np.lexsort((np.arange(len(counts)), -counts))[:4]
    np.testing.assert_array_equal(got.indices, np.tile(want, (3, 1)))


class _BadFusion:
    """Weighted-sum fusion that drops the last query's row or invents an item."""

    name = "bad-fusion"

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def fuse(self, sources: Mapping[str, coldkit.Ranked], k: int, weights: Any = None) -> coldkit.Ranked:
        fused = coldkit.get_fusion("weighted").fuse(sources, k, weights)
        if self.fault == "rows":
            return coldkit.Ranked(fused.indices[:-1], fused.scores[:-1])
        if self.fault == "unsorted":  # written out worst first, exit 0 (a plugin author's review)
            return coldkit.Ranked(fused.indices[:, ::-1].copy(), fused.scores[:, ::-1].copy())
        return coldkit.Ranked(np.where(fused.indices >= 0, fused.indices + 10_000, -1), fused.scores)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("repeated", r"model 'faulty' .* returned query 0's list that lists an item twice"),
        ("rising", r"model 'faulty' .* returned query \d's list that is not best first"),
        ("known", r"model 'faulty' .* listed items the user already has for query \d \(exclude_known=True\)"),
        ("outside", r"model 'faulty' .* listed items outside the candidates for query 0"),
    ],
)
def test_a_model_breaking_the_list_contract_is_named(fault: str, message: str) -> None:
    """An item at ranks 1, 2 and 3, a list whose scores rise, the user's own items or non-candidates
    were written out as the model gave them (or filtered to nothing, blamed on the user's history)."""
    train, _, _ = synthetic_interactions()
    queries = [UserQuery(user=0), UserQuery(user=1), UserQuery(history=np.array([0]))]
    candidates = np.arange(2, 12) if fault == "outside" else None
    with pytest.raises(InvalidInputError, match=message):
        Faulty(fault).fit(train).recommend(queries, 4, candidates=candidates)
    assert Faulty().fit(train).recommend(queries, 4, candidates=candidates).indices.shape == (3, 4)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("rows", r"fusion strategy 'bad-fusion': fuse\(\) returned 2 row\(s\) x \d+ item\(s\) for 3 queries"),
        ("invent", r"fusion strategy 'bad-fusion': fuse\(\) returned item\(s\) that no source listed in that row: \[100"),
        ("unsorted", r"fusion strategy 'bad-fusion': fuse\(\) returned query 0's list that (has padding|is not best first)"),
    ],
)
def test_a_fusion_plugin_breaking_the_contract_is_named_not_an_index_error(fault: str, message: str) -> None:
    class Plugin:
        @coldkit.hookimpl
        def coldkit_fusion_strategies(self) -> list[coldkit.FusionSpec]:
            return [coldkit.FusionSpec("bad-fusion", "broken", lambda: _BadFusion(fault))]

    coldkit.register_plugin(Plugin(), name="bad-fusion-plugin")
    train, _, _ = synthetic_interactions()
    model = coldkit.get_model("hybrid", encoder="hashing", fusion="bad-fusion").fit(train)
    queries = [UserQuery(user=0), UserQuery(user=1), UserQuery(user=2)]
    # a row short: numpy's broadcasting error in the caller; an invented item: IndexError there
    with pytest.raises(InvalidInputError, match=message):
        model.recommend(queries, 5)


class Exploding(Recommender):
    """A plugin model whose fit has a bug (a RuntimeError, not a coldkit error)."""

    name = "exploding"

    def fit(self, train: Interactions) -> "Exploding":
        raise RuntimeError("the plugin's own bug")

    def _recommend(self, queries: list[UserQuery], k: int, candidates: Any, exclude_known: bool) -> coldkit.Ranked:
        raise AssertionError("never reached")


class ExplodingPlugin:
    @coldkit.hookimpl
    def coldkit_models(self) -> list[coldkit.ModelSpec]:
        return [coldkit.ModelSpec("exploding", "fit raises", Exploding)]


def test_a_plugin_model_whose_fit_raises_is_one_line_naming_the_plugin(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from coldkit.cli import main

    (tmp_path / "inter.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a\ni2,b\n")
    coldkit.register_plugin(ExplodingPlugin(), name="exploding-plugin")
    argv = ["recommend", "--interactions", str(tmp_path / "inter.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "exploding", "--out", str(tmp_path / "out.csv"), "--quiet"]  # fmt: skip
    assert main(argv) == 2  # was: a traceback through coldkit's batch code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert "plugin 'exploding-plugin' failed (RuntimeError: the plugin's own bug)" in err[0]
    assert f"{__file__}:" in err[0] and "in fit" in err[0]
    assert not (tmp_path / "out.csv").exists()
    # the Python API keeps the plugin's own exception
    with pytest.raises(RuntimeError, match="the plugin's own bug"):
        coldkit.get_model("exploding").fit(synthetic_interactions()[0])


def test_coldkits_own_errors_are_not_blamed_on_a_plugin() -> None:
    coldkit.register_plugin(ExplodingPlugin(), name="exploding-plugin")
    manager.load_plugins()
    try:
        coldkit.Ranked(np.zeros((1, 2)), np.zeros((1, 3)))  # raised in coldkit's own code
    except ValueError as exc:
        assert manager.plugin_at_fault(exc) is None
    try:
        Exploding().fit(synthetic_interactions()[0])
    except RuntimeError as exc:
        culprit = manager.plugin_at_fault(exc)
        assert culprit is not None and culprit[0] == "exploding-plugin" and culprit[1].endswith("in fit")


class OwnRecommend(Recommender):
    """A plugin model that overrides recommend() itself (allowed), and lists an item past the catalogue."""

    name = "own-recommend"

    def fit(self, train: Interactions) -> "OwnRecommend":
        self._remember(train)
        return self

    def recommend(self, queries: Any, k: int, *, candidates: Any = None, exclude_known: bool = True) -> coldkit.Ranked:
        n = len(queries)
        return coldkit.Ranked(np.full((n, k), 10_000, np.int64), np.zeros((n, k), np.float32))


def test_a_model_overriding_recommend_is_checked_by_recommend_files(tmp_path: Any) -> None:
    from coldkit.batch import recommend_files

    class Plugin:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return [coldkit.ModelSpec("own-recommend", "overrides recommend", OwnRecommend)]

    coldkit.register_plugin(Plugin(), name="own-recommend-plugin")
    (tmp_path / "inter.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a\ni2,b\ni3,c\n")
    # was: IndexError: index 10000 is out of bounds for axis 0 with size 3
    with pytest.raises(InvalidInputError, match=r"model 'own-recommend' .*returned item indices outside \[-1, 3\)"):
        recommend_files(str(tmp_path / "inter.csv"), str(tmp_path / "items.csv"), str(tmp_path / "out.csv"), model="own-recommend", k=2)
    assert not (tmp_path / "out.csv").exists()


def test_the_conformance_kit_reports_a_broken_output_as_the_property() -> None:
    # with the output check in Recommender.recommend, check_model crashed with the check's error
    # instead of the documented AssertionError naming the property
    from coldkit.testing import check_model

    with pytest.raises(AssertionError, match=r"\[model 'faulty'\] output contract: model 'faulty' .* returned 6 row\(s\) x 1 item\(s\)"):
        check_model(Faulty("short"), capabilities=())
    with pytest.raises(coldkit.ComponentContractError):  # an InvalidInputError of its own type
        Faulty("past-the-end").fit(synthetic_interactions()[0]).recommend([UserQuery(user=0)], 3)
    check_model(Faulty(), capabilities=())  # the same model without the fault conforms


def _make_needs_missing_module() -> Recommender:
    import coldkit_test_module_that_is_not_installed  # noqa: F401 - the lazy import the docs advise

    raise AssertionError("never reached")


def test_a_plugin_factory_missing_its_dependency_is_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from coldkit.cli import main

    class Plugin:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return [coldkit.ModelSpec("needs-missing", "imports a missing module when built", _make_needs_missing_module)]

    (tmp_path / "inter.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a\ni2,b\n")
    coldkit.register_plugin(Plugin(), name="needs-missing-plugin")
    argv = ["recommend", "--interactions", str(tmp_path / "inter.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "needs-missing", "--out", str(tmp_path / "out.csv"), "--quiet"]  # fmt: skip
    assert main(argv) == 2  # was: a ModuleNotFoundError traceback
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "coldkit recommend: error: plugin 'needs-missing-plugin' needs the module 'coldkit_test_module_that_is_not_installed', "
        "which is not installed (imported at "
    )
    assert "in _make_needs_missing_module" in err[0]


class _OwnRecommend(coldkit.models.Recommender):
    """Overrides recommend() itself, as the base class's docstring allows, and breaks a rule of the lists."""

    name = "own-recommend"

    def __init__(self, fault: str = "none") -> None:
        super().__init__()
        self.fault = fault

    def fit(self, train: Interactions) -> "_OwnRecommend":
        self.train_ = train
        return self

    def recommend(self, queries, k, *, candidates=None, exclude_known=True):  # type: ignore[no-untyped-def, override]
        counts = np.asarray(self.train_.matrix.getnnz(axis=0), dtype=np.float32)[None, :]
        exclude = None if self.fault == "known" or not exclude_known else [self._known_items(q) for q in queries]
        ranked = rank_vectors(np.ones((len(queries), 1), np.float32), counts.T, k, metric="dot", exclude=exclude,
                              candidates=candidates)  # fmt: skip
        if self.fault == "inf":
            ranked.scores[:, 0] = np.inf
        return ranked


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("known", r"model 'own-recommend' .* listed items the user already has for query \d \(exclude_known=True\)"),
        ("inf", r"model 'own-recommend' .* infinite scores for listed items"),
    ],
)
def test_a_model_overriding_recommend_is_held_to_the_same_contract(fault: str, message: str) -> None:
    # its lists went out unchecked: coldkit recommend then filtered them to shorter lists, blaming the users' histories
    train, _, _ = synthetic_interactions()
    queries = [UserQuery(user=0), UserQuery(user=1)]
    with pytest.raises(InvalidInputError, match=message):
        _OwnRecommend(fault).fit(train).recommend(queries, 4)
    assert _OwnRecommend().fit(train).recommend(queries, 4).indices.shape == (2, 4)


class _MisusesTopk(coldkit.models.Recommender):
    """Its fit calls coldkit.topk with vectors of two widths: coldkit's input error, the plugin's mistake."""

    name = "misuses-topk"

    def fit(self, train: Interactions) -> "_MisusesTopk":
        coldkit.topk(np.ones((1, 3), np.float32), np.ones((4, 4), np.float32), 2)
        return self


def test_a_plugins_bad_call_into_coldkit_names_the_plugin(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # it read as the user's input error: "dimension mismatch: queries have 3 columns ...", the plugin unnamed
    from coldkit.cli import main

    class Plugin:
        @coldkit.hookimpl
        def coldkit_models(self) -> list[coldkit.ModelSpec]:
            return [coldkit.ModelSpec("misuses-topk", "calls topk wrongly", _MisusesTopk)]

    (tmp_path / "inter.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a\ni2,b\n")
    coldkit.register_plugin(Plugin(), name="misuses-topk-plugin")
    argv = ["recommend", "--interactions", str(tmp_path / "inter.csv"), "--items", str(tmp_path / "items.csv"),
            "--model", "misuses-topk", "--out", str(tmp_path / "out.csv"), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dimension mismatch" in err[0], err
    assert "(raised in coldkit, called by plugin 'misuses-topk-plugin' at " in err[0] and "in fit)" in err[0], err


class _WrongContributions:
    """The weighted fusion, whose ``contributions`` answers one column too many (a plugin's bug)."""

    name = "bad-contrib"

    def __init__(self) -> None:
        self._inner = coldkit.get_fusion("weighted")

    def fuse(self, sources: Mapping[str, coldkit.Ranked], k: int, weights: Any = None) -> coldkit.Ranked:
        return self._inner.fuse(sources, k, weights)

    def contributions(self, sources: Mapping[str, coldkit.Ranked], weights: Any, items: np.ndarray) -> dict[str, np.ndarray]:
        parts = self._inner.contributions(sources, weights, items)
        return {name: np.concatenate([part, part[:, :1]], axis=1) for name, part in parts.items()}


def test_a_served_plugin_that_breaks_its_contract_is_a_logged_500_not_the_clients_422(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fusion whose contributions() had the wrong shape answered every POST /recommend with 422, which tells
    the client to fix a body nothing was wrong with, and the server logged nothing."""
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app
    from coldkit.serving.index import ServingIndex

    class Plugin:
        @coldkit.hookimpl
        def coldkit_fusion_strategies(self) -> list[coldkit.FusionSpec]:
            return [coldkit.FusionSpec("bad-contrib", "broken contributions", _WrongContributions)]

    coldkit.register_plugin(Plugin(), name="bad-contrib-plugin")
    train, _, _ = synthetic_interactions()
    client = TestClient(create_app(ServingIndex.build(train, encoder="hashing", cache=False, fusion="bad-contrib")))
    user = str(train.user_ids[0])
    with caplog.at_level("ERROR", logger="coldkit.serving"):
        answer = client.post("/recommend", json={"user_id": user, "k": 3})
    assert answer.status_code == 500, answer.text
    assert answer.json()["detail"].startswith("the server's fusion strategy 'bad-contrib': contributions() gave source")
    assert any("broke its contract" in r.getMessage() and "bad-contrib" in r.getMessage() for r in caplog.records)
    # without the why, the same fusion serves
    assert client.post("/recommend", json={"user_id": user, "k": 3, "explain": False}).status_code == 200


class _NewFirst:
    """A business rule as a reranker plugin: new (cold) items before the others, each group in the fused order."""

    name = "test-new-first"

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit

    def rerank(self, ranked: coldkit.Ranked, k: int, constraints: Any = None, items: Any = None) -> Any:
        from coldkit.rerank import Reranked
        from coldkit.validation import check_k

        k = check_k(k)
        out_i = np.full((ranked.indices.shape[0], k), -1, dtype=np.int64)
        out_s = np.full((ranked.indices.shape[0], k), -np.inf, dtype=np.float32)
        for r in range(ranked.indices.shape[0]):
            listed = [j for j in range(ranked.indices.shape[1]) if ranked.indices[r, j] >= 0]
            order = sorted(listed, key=lambda j: not bool(items.is_new[ranked.indices[r, j]]))[:k]
            out_i[r, : len(order)] = ranked.indices[r, order]
            out_s[r, : len(order)] = ranked.scores[r, order]
        return Reranked(coldkit.Ranked(out_i, out_s), [[] for _ in range(ranked.indices.shape[0])])


class _Repeats(_NewFirst):
    name = "repeats"

    def rerank(self, ranked: coldkit.Ranked, k: int, constraints: Any = None, items: Any = None) -> Any:
        out = super().rerank(ranked, k, constraints, items)
        out.ranked.indices[:, 1] = out.ranked.indices[:, 0]  # the first item twice
        return out


class _RerankerPlugin:
    @coldkit.hookimpl
    def coldkit_rerankers(self) -> list[coldkit.RerankerSpec]:
        return [coldkit.RerankerSpec("test-new-first", "new items first", _NewFirst),
                coldkit.RerankerSpec("repeats", "a broken one", _Repeats)]


def test_a_server_re_ranks_every_list_with_a_plugin_reranker(caplog: pytest.LogCaptureFixture) -> None:
    """The server took no reranker by name (docs: "takes no other"): a plugin's business rule could not apply."""
    from fastapi.testclient import TestClient

    from coldkit.exceptions import UnknownComponentError
    from coldkit.serving import create_app
    from coldkit.serving.index import ServingIndex
    from coldkit.testing import check_reranker

    coldkit.register_plugin(_RerankerPlugin(), name="reranker-plugin")
    check_reranker("test-new-first")  # a plugin that declares no constraint passes the kit
    train, _, _ = synthetic_interactions()
    index = ServingIndex.build(train, encoder="hashing", cache=False)
    plain_client = TestClient(create_app(index))

    def new_flags(client: Any, user: str) -> list[bool]:
        answer = client.post("/recommend", json={"user_id": user, "k": 20, "explain": False})
        return [item["new"] for item in answer.json()["items"]]

    # a user whose fused list has old items before new ones
    user = next(str(u) for u in train.user_ids if (f := new_flags(plain_client, str(u))) != sorted(f, reverse=True))
    client = TestClient(create_app(index, reranker="test-new-first"))
    assert client.get("/health").json()["reranker"] == "test-new-first"
    flags = new_flags(client, user)
    assert any(flags) and not all(flags) and flags == sorted(flags, reverse=True), flags  # every new item first
    # the app's reranker travels with its requests: the index, and another app over it, keep their own
    assert index.reranker == "constraints" and plain_client.get("/health").json()["reranker"] == "constraints"
    assert new_flags(plain_client, user) != flags
    # a constraint the reranker does not declare is refused, naming both; mmr_lambda asks for the built-in mmr
    refused = client.post("/recommend", json={"user_id": user, "k": 5, "constraints": {"max_per_category": 1}})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("this server re-ranks with 'test-new-first', which does not take max_per_category")
    assert client.post("/recommend", json={"user_id": user, "k": 5, "constraints": {"mmr_lambda": 0.5}}).status_code == 200
    # a reranker that breaks the contract: the server's 500, logged
    broken = TestClient(create_app(index, reranker="repeats"))
    with caplog.at_level("ERROR", logger="coldkit.serving"):
        failed = broken.post("/recommend", json={"user_id": user, "k": 5})
    assert failed.status_code == 500 and "reranker 'repeats'" in failed.json()["detail"] and caplog.records
    with pytest.raises(UnknownComponentError, match="unknown reranker 'nosuch'"):
        create_app(index, reranker="nosuch")
    with pytest.raises(InvalidInputError, match="takes no option|unexpected keyword|does not take"):
        create_app(index, reranker="test-new-first", reranker_options={"nope": 1})
