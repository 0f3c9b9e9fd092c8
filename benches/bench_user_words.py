"""New users who give only their own words: Recall@20 from a user's own tags, no click.

The sign-up case "tell us what you like": a new user types some words and has no click yet. The
words here are real users' own: the tags each user applied (lastfm-2k ``user_taggedartists``,
ml-latest-small ``tags.csv``), not text made from the items.

Split (per seed): 20 % of the users with at least 3 distinct tags (lastfm-2k; ml-latest-small has
few taggers, so all of them) leave training entirely. Item texts are rebuilt from the *training*
users' tags only, so a test user's own tags never reach an item's text. Each test user's query is
``UserQuery(text=<their distinct tags, most used first, up to 10>)``; the truth is every item they
played or rated.

Systems, fitted on the same training users: ``hybrid`` (the default ``coldkit`` hybrid: it learns
how much such words count on its own ``words`` validation task, :mod:`coldkit.models.tuning`),
``popularity`` and ``content`` (the words against the item texts alone, the same encoder).
``hybrid-no-words`` is the same fitted hybrid asked with no words (its list for any user without
clicks): the difference is what the words themselves add. Paired test: the hybrid's per-user recall
against each other system's, each user's difference averaged over the seeds that tested them, one
value per user (ml-latest-small tests the same users under every seed, lastfm-2k's draws overlap).

Words beside a few clicks: the same fitted hybrid is asked again for every test user with more than
``CLICKS + 1`` items, with ``CLICKS`` of their items revealed (drawn at random per seed) and the rest
their truth, once with their words (``hybrid+3``) and once without (``hybrid+3-no-words``); the
paired test of the two is what the words add beside clicks (the hybrid learns their weight there on
its ``words+clicks`` validation users).

Full run (writes OUT/user-words.json, user-words.md, user-words.png)::

    COLDKIT_BENCH_FULL=1 python benches/bench_user_words.py --encoder bert --out docs/user-words --data-root ../shared/data

Under pytest (CI, ``--benchmark-disable``) the embedded ml-latest-small, one seed and the hashing
encoder run the whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit._atomic import atomic_write_bytes
from coldkit.data.datasets import load_dataset
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.models.registry import build_model

sys.path.insert(0, str(Path(__file__).parent))
from _charts import png_bytes  # noqa: E402

FULL = os.environ.get("COLDKIT_BENCH_FULL") == "1"
K = 20
MAX_WORDS = 10
#: ``hybrid-no-words``: the same fitted hybrid asked without the words (what it gives any user without
#: clicks), so the words' own part is the difference
SYSTEMS = ("hybrid", "hybrid-no-words", "popularity", "content")
#: clicks revealed beside the words in the second comparison
CLICKS = 3
WITH_CLICKS = (f"hybrid+{CLICKS}", f"hybrid+{CLICKS}-no-words")


def _user_tags(name: str, data_root: str | None) -> pd.DataFrame:
    """(user, item, tag) rows of the users' own tags, lower-cased, empty tags dropped."""
    if name == "lastfm-2k":
        from coldkit.data.datasets import find_data_root

        found = find_data_root(data_root)  # as load_dataset looks (it read ./lastfm-2k without a --data-root)
        if found is None:
            raise SystemExit("lastfm-2k needs --data-root (or $COLDKIT_DATA, or ../shared/data) holding lastfm-2k/")
        root = found / "lastfm-2k"
        names = pd.read_csv(root / "tags.dat", sep="\t", encoding="latin-1", dtype=str)
        tagged = pd.read_csv(root / "user_taggedartists.dat", sep="\t", dtype=str)
        tagged["tag"] = tagged["tagID"].map(dict(zip(names["tagID"], names["tagValue"]))).fillna("")
        tags = tagged.rename(columns={"userID": "user", "artistID": "item"})
    elif name == "ml-latest-small":
        folder = Path(data_root) / "ml-latest-small" if data_root else Path(__file__).parents[1] / "python/coldkit/data/embedded/ml-latest-small"
        path = folder / "tags.csv" if (folder / "tags.csv").exists() else folder / "tags.csv.gz"
        tags = pd.read_csv(path, dtype=str).rename(columns={"userId": "user", "movieId": "item"})
    else:
        raise ValueError(f"no users' own tags known for {name!r} (lastfm-2k, ml-latest-small)")
    tags["tag"] = tags["tag"].fillna("").str.strip().str.lower()
    return tags.loc[tags["tag"] != "", ["user", "item", "tag"]]


def _without_rows(matrix: sp.spmatrix, drop: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with the entries of the rows ``drop`` removed (a timestamp of 0 is kept elsewhere)."""
    coo = matrix.tocoo()
    keep = ~drop[coo.row]
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape, dtype=matrix.dtype)


def words_split(
    name: str, data_root: str | None, seed: int
) -> tuple[Interactions, list[UserQuery], list[np.ndarray], list[str]]:
    """(training interactions with item texts from training users' tags, test queries, their truths, the
    test users' ids)."""
    data = load_dataset(name, data_root=data_root).interactions
    tags = _user_tags(name, data_root)
    index = data.user_index()
    active = {str(u) for u in data.user_ids[np.diff(data.matrix.indptr) > 0]}
    distinct = tags.groupby("user")["tag"].nunique()
    eligible = sorted(u for u, n in distinct.items() if n >= 3 and u in active)
    rng = np.random.default_rng(seed)
    n_test = len(eligible) if name == "ml-latest-small" else max(1, round(0.2 * len(eligible)))
    test = sorted(rng.choice(eligible, n_test, replace=False).tolist())
    is_test = np.zeros(data.n_users, dtype=bool)
    is_test[[index[u] for u in test]] = True
    kept = tags[~tags["user"].isin(set(test))]
    counts = kept.groupby(["item", "tag"]).size().reset_index(name="n")
    counts = counts.sort_values(["item", "n", "tag"], ascending=[True, False, True])
    item_tags = {item: ", ".join(group["tag"].head(30)) for item, group in counts.groupby("item")}
    table = data.catalog.table.copy()
    if "tags" in table.columns:
        table["tags"] = [item_tags.get(str(i), "") for i in table["item_id"]]
    catalog = Catalog(data.catalog.item_ids, table, data.catalog.text_columns)
    timestamps = None if data.timestamps is None else _without_rows(data.timestamps, is_test)
    train = Interactions(data.user_ids, catalog, _without_rows(data.matrix, is_test), timestamps)
    queries, truths = [], []
    for user in test:
        own = tags.loc[tags["user"] == user, "tag"].value_counts()
        said = sorted(own.index, key=lambda t: (-own[t], t))[:MAX_WORDS]
        queries.append(UserQuery(text=", ".join(said)))
        truths.append(data.matrix[index[user]].indices.copy())
    return train, queries, truths, [str(u) for u in test]


def with_clicks(
    queries: Sequence[UserQuery], truths: Sequence[np.ndarray], users: Sequence[str], seed: int
) -> tuple[list[UserQuery], list[UserQuery], list[np.ndarray], list[str]]:
    """(words + CLICKS revealed items, the same clicks alone, the rest as truth, their users) for each
    test user with more than ``CLICKS + 1`` items; the revealed ones drawn at random (per seed)."""
    rng = np.random.default_rng([seed, CLICKS])
    both, alone, rest, kept = [], [], [], []
    for query, truth, user in zip(queries, truths, users, strict=True):
        if len(truth) <= CLICKS + 1:
            continue
        shown = np.sort(rng.choice(truth, CLICKS, replace=False))
        both.append(UserQuery(history=shown, text=query.text))
        alone.append(UserQuery(history=shown))
        rest.append(np.setdiff1d(truth, shown))
        kept.append(user)
    return both, alone, rest, kept


def recall_per_user(indices: np.ndarray, truths: Sequence[np.ndarray], k: int = K) -> np.ndarray:
    """Recall@k per query: hits in the top k over min(k, relevant)."""
    return np.array([len(set(row[:k].tolist()) & set(t.tolist())) / min(k, len(t)) for row, t in zip(indices, truths)])


def _model(system: str, encoder: str, seed: int) -> Any:
    if system == "hybrid":
        return build_model("hybrid", encoder=encoder, validation_seed=seed)
    if system == "content":
        return build_model("content", encoder=encoder)
    return build_model(system)


def paired(
    per_user: dict[tuple[str, str, int], np.ndarray], dataset: str, seeds: Sequence[int],
    tested: Mapping[int, Sequence[str]], systems: Sequence[str] = SYSTEMS,
) -> list[dict[str, Any]]:
    """``systems[0]`` against each other of ``systems`` on the same users: mean difference, paired t, p.

    ``tested``: seed -> the ids of the users behind ``per_user``'s rows for that seed. A user tested
    under several seeds counts once, with the mean of their differences: pooling the seeds' rows
    counted ml-latest-small's 41 users (every seed tests them all) as 123 independent ones, and the
    two deterministic baselines gave three copies of each difference, inflating t by about sqrt(3).
    """
    from scipy import stats

    out = []
    for other in systems[1:]:
        by_user: dict[str, list[float]] = {}
        for s in seeds:
            gaps = per_user[(dataset, systems[0], s)] - per_user[(dataset, other, s)]
            for user, gap in zip(tested[s], gaps, strict=True):
                by_user.setdefault(user, []).append(float(gap))
        diff = np.array([np.mean(gaps) for gaps in by_user.values()])
        test = stats.ttest_rel(diff, np.zeros_like(diff)) if diff.size > 1 and np.std(diff) > 0 else None
        out.append({"dataset": dataset, "system": systems[0], "vs": other, "users": int(diff.size), "mean_diff": float(diff.mean()),
                    "t": float(test.statistic) if test else 0.0, "p": float(test.pvalue) if test else 1.0})
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Recall@{K} of new users from their own words (encoder {report['encoder']}, seeds {report['seeds']})", "",
             "| data set | users/seed | " + " | ".join(SYSTEMS) + " |", "|---|---|" + "---|" * len(SYSTEMS)]
    for dataset, row in report["summary"].items():
        cells = [f"{row[s]['mean']:.4f} ± {row[s]['std']:.4f}" for s in SYSTEMS]
        lines.append(f"| {dataset} | {row['users']} | " + " | ".join(cells) + " |")
    lines += ["", f"With {CLICKS} of their items revealed beside the words (the same fitted hybrid):", "",
              "| data set | users/seed | " + " | ".join(WITH_CLICKS) + " |", "|---|---|" + "---|" * len(WITH_CLICKS)]
    for dataset, row in report.get("with_clicks", {}).items():
        cells = [f"{row[s]['mean']:.4f} ± {row[s]['std']:.4f}" for s in WITH_CLICKS]
        lines.append(f"| {dataset} | {row['users']} | " + " | ".join(cells) + " |")
    lines += ["", "| data set | system | vs | users | mean diff | t | p |", "|---|---|---|---|---|---|---|"]
    for p in report["paired"]:
        lines.append(f"| {p['dataset']} | {p.get('system', 'hybrid')} | {p['vs']} | {p['users']} | {p['mean_diff']:+.4f} | {p['t']:.2f} | {p['p']:.2g} |")
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(report["summary"])
    panels = [("words only", report["summary"], SYSTEMS), (f"words + {CLICKS} clicks", report.get("with_clicks", {}), WITH_CLICKS)]
    panels = [panel for panel in panels if panel[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (1.8 + 2.2 * len(datasets)), 3.0), squeeze=False)
    for ax, (title, summary, systems) in zip(axes[0], panels):
        width = 0.8 / len(systems)
        for j, system in enumerate(systems):
            means = [summary[d][system]["mean"] for d in datasets]
            stds = [summary[d][system]["std"] for d in datasets]
            ax.bar(np.arange(len(datasets)) + j * width, means, width, yerr=stds, label=system, capsize=3)
        ax.set_xticks(np.arange(len(datasets)) + width * (len(systems) - 1) / 2, datasets)
        ax.set_ylabel(f"Recall@{K}")
        ax.set_title(f"new users, {title} ({report['encoder']})", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def run_user_words(
    *, out: Path, data_root: str | None = None, encoder: str = "hashing", seeds: Sequence[int] = (0,),
    datasets: Sequence[str] = ("ml-latest-small",),
) -> dict[str, Any]:
    """Run the benchmark; write OUT/user-words.json, .md and .png (rewritten after each data set)."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"encoder": encoder, "seeds": list(seeds), "summary": {}, "with_clicks": {}, "paired": []}
    per_user: dict[tuple[str, str, int], np.ndarray] = {}
    for dataset in datasets:
        tested: dict[int, list[str]] = {}
        tested_with_clicks: dict[int, list[str]] = {}
        for seed in seeds:
            train, queries, truths, tested[seed] = words_split(dataset, data_root, seed)
            for system in SYSTEMS:
                if system == "hybrid-no-words":  # the hybrid just fitted, asked without the words
                    asked = [UserQuery() for _ in queries]
                else:
                    model = _model(system, encoder, seed).fit(train)
                    asked = queries
                per_user[(dataset, system, seed)] = recall_per_user(model.recommend(asked, K).indices, truths)
                print(f"{dataset} seed {seed} {system}: Recall@{K} {per_user[(dataset, system, seed)].mean():.4f} ({len(queries)} users)", flush=True)
                if system == "hybrid":
                    both, clicks_only, rest, tested_with_clicks[seed] = with_clicks(queries, truths, tested[seed], seed)
                    for name, asked_now in zip(WITH_CLICKS, (both, clicks_only)):
                        per_user[(dataset, name, seed)] = recall_per_user(model.recommend(asked_now, K).indices, rest)
                        print(f"{dataset} seed {seed} {name}: Recall@{K} {per_user[(dataset, name, seed)].mean():.4f} ({len(rest)} users)", flush=True)
        report["summary"][dataset] = {"users": len(truths)} | {
            system: {"mean": float(np.mean([per_user[(dataset, system, s)].mean() for s in seeds])),
                     "std": float(np.std([per_user[(dataset, system, s)].mean() for s in seeds]))}
            for system in SYSTEMS
        }
        report["with_clicks"][dataset] = {"users": len(tested_with_clicks[seeds[-1]])} | {
            system: {"mean": float(np.mean([per_user[(dataset, system, s)].mean() for s in seeds])),
                     "std": float(np.std([per_user[(dataset, system, s)].mean() for s in seeds]))}
            for system in WITH_CLICKS
        }
        report["paired"] += paired(per_user, dataset, seeds, tested)
        report["paired"] += paired(per_user, dataset, seeds, tested_with_clicks, WITH_CLICKS)
        atomic_write_bytes(out / "user-words.json", json.dumps(report, indent=2, allow_nan=False).encode("utf-8"))
        atomic_write_bytes(out / "user-words.md", markdown(report).encode("utf-8"))
        atomic_write_bytes(out / "user-words.png", chart(report))
    return report


def test_user_words_pipeline(tmp_path: Path) -> None:
    """CI: the embedded ml-latest-small, one seed: every system has a recall, the files are written."""
    report = run_user_words(out=tmp_path, seeds=(0,) if not FULL else (0, 1, 2))
    row = report["summary"]["ml-latest-small"]
    assert row["users"] >= 20 and all(0.0 <= row[s]["mean"] <= 1.0 for s in SYSTEMS)
    assert {p["vs"] for p in report["paired"]} == {"hybrid-no-words", "popularity", "content", WITH_CLICKS[1]}
    clicked = report["with_clicks"]["ml-latest-small"]
    assert clicked["users"] >= 20 and all(0.0 <= clicked[s]["mean"] <= 1.0 for s in WITH_CLICKS)
    assert (tmp_path / "user-words.png").read_bytes()[:4] == b"\x89PNG"


def test_recall_per_user_is_hits_over_the_smaller_of_k_and_relevant() -> None:
    indices = np.array([[1, 2, 3], [4, 5, 6]])
    got = recall_per_user(indices, [np.array([2, 9]), np.array([7, 8, 9, 10])], k=3)
    assert got.tolist() == [0.5, 0.0]
    assert math.isclose(recall_per_user(indices, [np.array([1, 2, 3, 4])], k=3)[0], 1.0)


def test_paired_counts_a_user_tested_under_several_seeds_once() -> None:
    """ml-latest-small tests the same users under every seed: pooling the seeds' rows counted each
    user three times (123 "users" for 41) and inflated t; lastfm-2k's seeds draw overlapping users."""
    from scipy import stats

    hybrid = {0: np.array([0.5, 0.2, 0.4]), 1: np.array([0.3, 0.6])}
    other = {0: np.array([0.1, 0.2, 0.1]), 1: np.array([0.2, 0.1])}
    per_user = {("d", system, s): values[s] for s in (0, 1) for system, values in (("hybrid", hybrid), ("popularity", other))}
    per_user |= {("d", system, s): other[s] for s in (0, 1) for system in SYSTEMS if system not in ("hybrid", "popularity")}
    tested = {0: ["a", "b", "c"], 1: ["c", "d"]}  # c under both seeds: (0.3 + 0.1) / 2
    row = next(p for p in paired(per_user, "d", (0, 1), tested) if p["vs"] == "popularity")
    reference = stats.ttest_1samp([0.4, 0.0, 0.2, 0.5], 0.0)
    assert row["users"] == 4 and math.isclose(row["mean_diff"], 0.275)
    assert math.isclose(row["t"], float(reference.statistic)) and math.isclose(row["p"], float(reference.pvalue))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="coldkit-results/user-words")
    parser.add_argument("--data-root", default=os.environ.get("COLDKIT_DATA"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["lastfm-2k", "ml-latest-small"])
    args = parser.parse_args()
    run_user_words(out=Path(args.out), data_root=args.data_root, encoder=args.encoder, seeds=args.seeds, datasets=args.datasets)
