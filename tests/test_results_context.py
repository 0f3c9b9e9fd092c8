"""Results carry their context: results.json and results.txt say what was measured, on what, by which
coldkit and with which encoder; the chart marks the headline comparison and has no empty error bars."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import coldkit
from coldkit.builtins.encoders import HashingEncoder
from coldkit.data import Catalog, Dataset, Interactions
from coldkit.evaluation import EvaluationResult, evaluate
from coldkit.evaluation.report import draw_chart, format_header, headline
from coldkit.evaluation.runner import encoders_used
from coldkit.models.content import ContentRecommender
from coldkit.models.popularity import Popularity

matplotlib = pytest.importorskip("matplotlib")
import matplotlib.pyplot as plt  # noqa: E402


def genre_data(n_users: int = 40, n_items: int = 80, seed: int = 0) -> Dataset:
    """Users who each like one genre, items whose titles name their genre."""
    rng = np.random.default_rng(seed)
    genres = ["western", "horror", "romance", "animation"]
    ids = [f"i{i}" for i in range(n_items)]
    titles = [f"a {genres[i % 4]} story number {i}" for i in range(n_items)]
    catalog = Catalog(item_ids=np.array(ids, dtype=object), table=pd.DataFrame({"item_id": ids, "title": titles}))
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for u in range(n_users):
        liked = [i for i in range(n_items) if i % 4 == u % 4]
        dense[u, rng.choice(liked, size=8, replace=False)] = 1.0
    inter = Interactions(user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object), catalog=catalog,
                         matrix=sp.csr_matrix(dense))  # fmt: skip
    return Dataset("genres", inter, catalog)


def make_result(values: dict[tuple[str, str], list[float]], protocol: str = "cold-item") -> EvaluationResult:
    """A result with hand-set recall@20 values per (model, task), one record per seed."""
    models = list(dict.fromkeys(m for m, _ in values))
    tasks = list(dict.fromkeys(t for _, t in values))
    n_seeds = len(next(iter(values.values())))
    result = EvaluationResult(dataset={"name": "hand"}, protocol=protocol, seeds=list(range(n_seeds)), ks=[20],
                              models=models, tasks=tasks)  # fmt: skip
    for (model, task), per_seed in values.items():
        for seed, value in enumerate(per_seed):
            result.records.append({"model": model, "seed": seed, "task": task, "metric": "recall@20", "value": value})
    return result


def test_results_json_and_txt_carry_the_context(tmp_path: Path) -> None:
    encoder = HashingEncoder(dim=512)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = evaluate(
        genre_data(),
        [("popularity", Popularity), ("content", lambda: ContentRecommender(encoder=encoder, cache=False))],
        seeds=[3, 5], progress=False,
    )  # fmt: skip
    paths = result.save(str(tmp_path))
    payload = json.loads(Path(paths["json"]).read_text())

    assert payload["coldkit_version"] == coldkit.__version__
    assert payload["dataset"]["name"] == "genres" and payload["dataset"]["items"] == 80
    assert payload["protocol"] == "cold-item" and payload["seeds"] == [3, 5]
    created = datetime.datetime.fromisoformat(payload["created"])
    assert before <= created <= datetime.datetime.now(datetime.timezone.utc)
    # The encoder the model actually used: the very object it was given, fitted on the catalogue.
    # Both seeds fit the same catalogue, so one fingerprint; popularity uses no encoder.
    assert payload["encoders"] == {
        "popularity": [],
        "content": [{"name": "hashing", "fingerprint": encoder.fingerprint, "dim": 512}],
    }
    # ...and it is the fitted one: an unfitted encoder (no IDF) has another fingerprint.
    assert encoder.fingerprint != HashingEncoder(dim=512).fingerprint

    text = Path(paths["table"]).read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == f"# coldkit {coldkit.__version__} evaluation, {payload['created']}"
    assert "# data set: genres (40 users, 80 items" in text
    assert "# protocol: cold-item; seeds: 3, 5; k: 10, 20" in text
    assert f"content=hashing:{encoder.fingerprint[:12]}" in text
    # the header is followed by the unchanged table
    assert text.split("\n\n", 1)[1].strip() == result.table().strip()


def test_encoders_are_found_inside_composite_models() -> None:
    class Pair(Popularity):
        """A user's own composite model: encoders in a dict and inside a sub-model."""

        def __init__(self) -> None:
            super().__init__()
            self.parts = {"small": HashingEncoder(dim=64), "inner": ContentRecommender(encoder=HashingEncoder(dim=128))}

    model = Pair()
    found = encoders_used(model)
    assert [(e["name"], e["dim"]) for e in found] == [("hashing", 64), ("hashing", 128)]
    assert found[1]["fingerprint"] == model.parts["inner"].encoder.fingerprint
    assert encoders_used(Popularity()) == []


def test_hybrid_records_its_encoder() -> None:
    train = genre_data().interactions
    model = coldkit.models.create("hybrid", encoder="hashing").fit(train)
    found = encoders_used(model)
    assert found and {e["name"] for e in found} == {"hashing"}
    assert len({e["fingerprint"] for e in found}) == len(found)


def test_headline_is_the_hybrid_against_the_best_other_model() -> None:
    result = make_result({("a", "cold"): [0.40], ("hybrid", "cold"): [0.50], ("b", "cold"): [0.45],
                          ("a", "warm"): [0.9], ("hybrid", "warm"): [0.1], ("b", "warm"): [0.2]})  # fmt: skip
    head = headline(result)
    assert head is not None and head["model"] == "hybrid" and head["metric"] == "recall@20"
    # cold-item is judged on cold items only
    assert head["comparisons"] == [
        {"task": "cold", "model_value": 0.5, "baseline": "b", "baseline_value": 0.45, "relative": pytest.approx(0.5 / 0.45 - 1), "p_value": None}
    ]
    assert "headline (recall@20): cold: hybrid 0.5000 vs b 0.4500 (+11.1 %)" in format_header(result)


def test_headline_without_a_hybrid_and_for_cold_user() -> None:
    plain = make_result({("a", "cold"): [0.2], ("b", "cold"): [0.3], ("c", "cold"): [0.25]})
    head = headline(plain)
    assert head is not None and head["model"] == "b" and head["comparisons"][0]["baseline"] == "c"
    labelled = make_result({("hybrid[encoder=bert]", "n=0"): [0.2], ("pop", "n=0"): [0.2],
                            ("hybrid[encoder=bert]", "n=1"): [0.3], ("pop", "n=1"): [0.2]}, protocol="cold-user")  # fmt: skip
    head = headline(labelled)
    assert head is not None and head["model"] == "hybrid[encoder=bert]"
    assert [(c["task"], c["relative"]) for c in head["comparisons"]] == [("n=0", 0.0), ("n=1", pytest.approx(0.5))]
    assert headline(make_result({("only", "cold"): [0.1]})) is None


def _bar_errorbars(fig: Any) -> list[Any]:
    return [c.errorbar for c in fig.axes[0].containers if isinstance(c, matplotlib.container.BarContainer)]


def test_chart_marks_the_headline_and_skips_empty_error_bars() -> None:
    values = {("a", "cold"): [0.40], ("hybrid", "cold"): [0.50], ("b", "cold"): [0.45]}
    fig = draw_chart(make_result(values))
    try:
        (bars,) = [c for c in fig.axes[0].containers if isinstance(c, matplotlib.container.BarContainer)]
        assert bars.errorbar is None  # one seed: no error bars at all
        hatches = [bar.get_hatch() for bar in bars]
        edges = [bar.get_linewidth() for bar in bars]
        assert hatches == [None, "//", ""]  # a, hybrid (the headline model), b (its baseline)
        assert edges[0] < edges[1] == edges[2]
        assert "hybrid vs best other: cold +11.1 % (b)" in fig.axes[0].get_title()
    finally:
        plt.close(fig)

    two_seeds = make_result({k: [v[0], v[0] + 0.02] for k, v in values.items()})
    fig = draw_chart(two_seeds)
    try:
        assert all(e is not None for e in _bar_errorbars(fig))
    finally:
        plt.close(fig)


def test_cold_user_chart_has_no_empty_error_bars_with_one_seed() -> None:
    result = make_result({("hybrid", "n=0"): [0.2], ("pop", "n=0"): [0.1], ("hybrid", "n=1"): [0.3],
                          ("pop", "n=1"): [0.1]}, protocol="cold-user")  # fmt: skip
    fig = draw_chart(result)
    try:
        containers = fig.axes[0].containers
        assert containers and not any(c.has_yerr for c in containers)
        widths = {c.get_label(): c.lines[0].get_linewidth() for c in containers}
        assert widths["hybrid (headline)"] > widths["pop"]
        labels = sorted(t.get_text() for t in fig.axes[0].texts)
        assert labels == ["+100.0 % vs pop", "+200.0 % vs pop"]  # 0.2 / 0.1 and 0.3 / 0.1
    finally:
        plt.close(fig)


def test_missing_matplotlib_keeps_json_and_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = make_result({("a", "cold"): [0.4], ("hybrid", "cold"): [0.5]})
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ModuleNotFoundError
    with pytest.warns(UserWarning, match="matplotlib is not installed"):
        paths = result.save(str(tmp_path))
    assert "chart" not in paths and not (tmp_path / "results.png").exists()
    assert json.loads((tmp_path / "results.json").read_text())["headline"]["model"] == "hybrid"
    assert (tmp_path / "results.txt").read_text().startswith("# coldkit")


def test_the_header_says_when_the_run_was_a_subsample_or_read_likes_only() -> None:
    result = make_result({("a", "cold"): [0.2], ("b", "cold"): [0.3]})
    assert "subsample" not in format_header(result) and "likes only" not in format_header(result)
    result.settings = {**(result.settings or {}), "max_users": 50, "implicit_threshold": 4.0}
    assert "# at most 50 users per task (a subsample); likes only: ratings >= 4" in format_header(result).splitlines()


# ---------------------------------------------------------------- what ± means (leftovers review)


def test_a_cell_over_fewer_seeds_says_how_many_and_the_spread_is_the_sample_std(tmp_path: Path) -> None:
    import statistics

    result = make_result({("a", "cold"): [0.40, 0.42, 0.47], ("b", "cold"): [0.30, 0.34, 0.0]})
    # b measured nothing on seed 2 (a task with no user that seed): its cell averages two seeds, not three
    result.records = [r for r in result.records if not (r["model"] == "b" and r["seed"] == 2)]
    result.records += [{"model": "c", "seed": 1, "task": "cold", "metric": "recall@20", "value": 0.25}]
    result.models.append("c")
    paths = result.save(str(tmp_path), chart=False)

    # the recall@20 column (the other default columns have no value here: "-")
    rows = {line.split()[0]: line.split("  -")[0] for line in Path(paths["table"]).read_text().splitlines() if line[:2] in ("a ", "b ", "c ")}
    assert rows["a"].split()[2:] == [f"{statistics.mean([0.40, 0.42, 0.47]):.4f}", "±", f"{statistics.stdev([0.40, 0.42, 0.47]):.4f}"]
    assert rows["b"].split()[2:] == ["0.3200", "±", f"{statistics.stdev([0.30, 0.34]):.4f}", "(2", "seeds)"]
    assert rows["c"].split()[2:] == ["0.2500", "±", "n/a", "(1", "seed)"]  # one seed: no spread, not 0.0

    summary = {s["model"]: s for s in json.loads(Path(paths["json"]).read_text())["summary"]}
    assert summary["a"]["std"] == pytest.approx(statistics.stdev([0.40, 0.42, 0.47]))  # ddof 1, not the population's
    assert (summary["a"]["seeds"], summary["a"]["missing_seeds"]) == (3, [])
    assert (summary["b"]["seeds"], summary["b"]["missing_seeds"]) == (2, [2])
    assert summary["c"]["std"] is None and summary["c"]["missing_seeds"] == [0, 2]
    # the chart draws the seeds it has (no error bar where a single seed measured the number)
    plt.close(draw_chart(result))


def test_a_single_seed_run_shows_means_alone_and_json_has_no_spread(tmp_path: Path) -> None:
    result = make_result({("a", "cold"): [0.40], ("b", "cold"): [0.30]})
    paths = result.save(str(tmp_path), chart=False)
    row = next(line for line in Path(paths["table"]).read_text().splitlines() if line.startswith("a "))
    assert row.split()[2:4] == ["0.4000", "-"]
    assert [s["std"] for s in json.loads(Path(paths["json"]).read_text())["summary"]] == [None, None]
