"""A learning-to-rank stacker over the hybrid's sources (LightGBM LambdaRank).

The weighted blend gives each source one weight per regime; a stacker looks at every candidate
item of a query and learns *when* to trust which source: a CF score counts for more when the user
has many clicks, a content match for an item content predicts to be popular, a source's top rank
for more than its tenth... It re-ranks a pool of candidates — the weighted blend's top
:data:`POOL` plus each source's top :data:`SOURCE_TOP` — from these features:

* per source: its min-max normalised score within the query's list and its reciprocal rank
  (missing where the item is not in its list, or the source does not speak for the query);
  tied scores share a rank, and a tie cut by the list's end counts as unlisted — a list's order
  among equal scores is the catalogue's file order, which no feature may carry
  (:func:`decided_by_score`);
* the weighted blend's own normalised fused score and reciprocal rank (so the stacker starts
  from the blend and learns corrections);
* per candidate: how many of the sources that speak for the query list it in their top
  :data:`AGREEMENT_TOP` (sources that agree are rarely all wrong);
* per query: log(1 + known clicks), text present, friends present, every candidate cold, and the
  mean log(1 + interactions) of the items the user clicked (a cold user's taste for popular or
  niche items: with few clicks it is the one thing known about them besides the clicks);
* per item: log(1 + interactions) in training and its *content-predicted* popularity (a ridge
  map from content vectors to log(1 + interactions), fitted on the items that have some, so a
  brand-new item gets one too); and the gap between the item's log(1 + interactions) and the
  user's clicked items' mean (NaN for a user without clicks).

The hybrid fits it on the validation split it carves for tuning (:mod:`coldkit.models.tuning`):
labels are the carved queries' hidden items, nothing from a test set. It is used only for the
regimes where it beats the weighted blend in a 2-fold cross-fit over the validation queries
(:func:`fit_stacker`; the cold-user regimes with clicks may also be decided together); elsewhere, and when ``lightgbm`` is not installed, the blend answers. The
model is stored as LightGBM's text format (:meth:`Stacker.to_json`), never pickled.

Example::

    stacker, notes = fit_stacker(tasks, item_features, seed=0, k=20)
    if stacker is not None:
        ranked = stacker.rank(stacker_inputs, k=10)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.builtins.fusion import constant_rows
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import pad_ranked
from coldkit.plugins.types import Ranked

__all__ = [
    "POOL",
    "SOURCE_TOP",
    "decided_by_score",
    "QUERY_FEATURES",
    "ITEM_FEATURES",
    "PAIR_FEATURES",
    "AGREEMENT_TOP",
    "StackInputs",
    "Stacker",
    "candidate_features",
    "content_popularity",
    "fit_stacker",
    "lightgbm_available",
    "regime_family",
    "stacked_regimes",
]

#: The blend's top items re-ranked by the stacker (plus each source's top :data:`SOURCE_TOP`).
POOL = 100
SOURCE_TOP = 10
QUERY_FEATURES = ("log_known", "has_text", "has_friends", "cold_candidates", "history_log_pop")
ITEM_FEATURES = ("item_log_count", "item_content_pop")
#: A candidate's agreement: the number of speaking sources that list it in their top this many.
AGREEMENT_TOP = 20
#: Features computed per candidate from several inputs (after the sources', before the query's).
PAIR_FEATURES = ("agreement", "pop_gap")
#: LambdaRank settings: small trees and a strong leaf minimum, so a few hundred validation
#: queries are not over-fitted; one thread and ``deterministic`` make a seed reproduce the model.
_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 40,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
_ROUNDS = 150
#: LightGBM threads for the model fitted on every validation query (the cross-fit folds use one each).
FINAL_THREADS = 2
#: A regime switches to the stacker only when its cross-fitted recall beats the blend's by this paired t.
_MIN_T = 2.0
#: The masked-click regimes with clicks (``n=1``, ``n=3``… of :mod:`coldkit.models.tuning`) are
#: also decided together: pooled over them, the stacker must beat the blend by this paired t, and
#: lose on none. A few hundred carved users give each regime too few queries to show a 5 % gain
#: at t >= 2 alone; the bar is higher than a single regime's because the pooled queries are the
#: same users at different n (correlated), which inflates t.
_FAMILY_T = 3.0


def regime_family(name: str) -> str | None:
    """The family a regime is decided with: ``"clicks"`` for ``n=1``, ``n=3``…; None for a regime decided alone."""
    if name.startswith("n=") and name[2:].isdigit() and int(name[2:]) > 0:
        return "clicks"
    return None


def stacked_regimes(gains: Mapping[str, np.ndarray]) -> list[str]:
    """The regimes the stacker answers, from each regime's per-query gain over the blend (cross-fitted recall).

    A regime on its own: paired t >= 2. A family (:func:`regime_family`) as a whole: its pooled
    gains reach a paired t >= 3 and no member's mean gain is <= 0. Returned in ``gains`` order.

    Example::

        stacked_regimes({"n=1": np.array([0.1, 0.0, 0.2]), "warm": np.array([-0.1, 0.0, 0.0])})   # ['n=1']
    """
    chosen = {name for name, gain in gains.items() if _paired_t(np.asarray(gain, dtype=np.float64)) >= _MIN_T}
    families: dict[str, list[str]] = {}
    for name in gains:
        family = regime_family(name)
        if family is not None:
            families.setdefault(family, []).append(name)
    for members in families.values():
        pooled = np.concatenate([np.asarray(gains[name], dtype=np.float64) for name in members])
        if _paired_t(pooled) >= _FAMILY_T and all(float(np.mean(gains[name])) > 0 for name in members):
            chosen.update(members)
    return [name for name in gains if name in chosen]


def _paired_t(diff: np.ndarray) -> float:
    """Paired t statistic of per-query differences (inf for a uniform gain, 0 for none or a loss)."""
    mean = float(diff.mean()) if diff.size else 0.0
    if mean <= 0:
        return 0.0
    spread = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    return mean / (spread / np.sqrt(diff.size)) if spread > 0 else float("inf")


def lightgbm_available() -> bool:
    """Whether the optional ``lightgbm`` package (``pip install coldkit[rank]``) is importable."""
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return False
    return True


#: Rows of :func:`content_popularity`'s prediction at a time (a block's float64 copy: 4,096 x 1,424 features = 47 MB).
_PREDICT_ROWS = 4096


def content_popularity(vectors: np.ndarray, counts: np.ndarray, l2: float = 10.0) -> np.ndarray:
    """(n_items,) log(1 + interactions) predicted from content by a ridge fit on the items that have interactions.

    Items with no content (zero vectors) get the mean of the fitted items. Returns zeros when
    fewer than two items have interactions.

    Example::

        content_popularity(np.eye(3, dtype=np.float32), np.array([4, 0, 1]))   # shape (3,)
    """
    x = np.asarray(vectors)
    y = np.log1p(np.asarray(counts, dtype=np.float64))
    seen = y > 0
    if seen.sum() < 2:
        return np.zeros(len(y), dtype=np.float32)
    # float64 for the fitted items only, centred in place, and the prediction a block of rows at a time:
    # the whole table in float64, its fitted rows twice and the centred table (20,000 items x 1,424
    # features: 0.2 GB each) made this stage the run's peak RSS; the same arithmetic, element for element
    xc = np.asarray(x[seen], dtype=np.float64)
    mean_x, mean_y = xc.mean(axis=0), y[seen].mean()
    xc -= mean_x
    gram = xc.T @ xc + l2 * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ (y[seen] - mean_y))
    del xc, gram
    out = np.empty(len(y), dtype=np.float32)
    for start in range(0, len(y), _PREDICT_ROWS):
        block = np.asarray(x[start : start + _PREDICT_ROWS], dtype=np.float64) - mean_x
        out[start : start + len(block)] = block @ coef + mean_y
    return out


@dataclass
class StackInputs:
    """What the stacker needs for a batch of B queries.

    Attributes:
        sources: source name -> that source's :class:`Ranked` for the batch.
        reach: source name -> (B,) whether the source speaks for each query (its adaptive factor > 0).
        blended: the weighted blend's ranking of the batch (at least :data:`POOL` deep).
        query_features: (B, len(QUERY_FEATURES)); ``history_log_pop`` NaN for a query without clicks.
        item_features: (n_items, len(ITEM_FEATURES)).
    """

    sources: Mapping[str, Ranked]
    reach: Mapping[str, np.ndarray]
    blended: Ranked
    query_features: np.ndarray
    item_features: np.ndarray


def _normalised(ranked: Ranked) -> tuple[np.ndarray, np.ndarray]:
    """Per-row min-max normalised scores (all equal, up to float32 noise -> 1) and the validity mask,
    as the weighted fusion does (:func:`coldkit.builtins.fusion.constant_rows`)."""
    valid = (ranked.indices >= 0) & np.isfinite(ranked.scores)
    s = np.where(valid, ranked.scores, np.nan).astype(np.float64)
    flat = constant_rows(ranked.scores, valid)
    with np.errstate(invalid="ignore", all="ignore"):
        lo = np.nanmin(np.where(valid, s, np.inf), axis=1, keepdims=True)
        hi = np.nanmax(np.where(valid, s, -np.inf), axis=1, keepdims=True)
        span = hi - lo
        out = np.where(flat | ~(span > 0), 1.0, (s - lo) / np.where(span > 0, span, 1.0))
    return np.where(valid, out, np.nan), valid


def _lookup(keys: np.ndarray, table_keys: np.ndarray, values: np.ndarray, missing: float) -> np.ndarray:
    """values[table_keys == key] for each key (``missing`` where absent); ``table_keys`` sorted and unique."""
    if table_keys.size == 0:
        return np.full(keys.shape, missing, dtype=np.float32)
    pos = np.minimum(np.searchsorted(table_keys, keys), table_keys.size - 1)
    found = table_keys[pos] == keys
    return np.where(found, values[pos], missing).astype(np.float32)


def decided_by_score(ranked: Ranked, depth: int | None = None) -> np.ndarray:
    """(B, depth) mask of the entries of each row's top ``depth`` whose place is decided by their score.

    A list is cut at a depth and its ties go to the lower item index. Entries tied with the first
    entry cut off (at ``depth``) — or, in a full list, a group of two or more tied at its end —
    are in the list only because of their index: the catalogue's file order, which is not
    information (in ml-100k it follows popularity, and a re-ranker fed those places learns the
    file order). They count as unlisted, like every other item with that score.
    """
    scores, indices = ranked.scores, ranked.indices
    width = indices.shape[1]
    depth = width if depth is None else min(int(depth), width)
    valid = (indices[:, :depth] >= 0) & np.isfinite(scores[:, :depth])
    top = scores[:, :depth]
    if depth < width:
        nxt = scores[:, depth : depth + 1]
        cut = (indices[:, depth : depth + 1] >= 0) & np.isfinite(nxt)
        return valid & ~(cut & (top == nxt))
    if depth == 0:
        return valid
    last = scores[:, -1:]
    full = (indices[:, -1:] >= 0) & np.isfinite(last)
    tail = top == last
    return valid & ~(full & (tail.sum(axis=1, keepdims=True) >= 2) & tail)


def _competition_places(scores: np.ndarray) -> np.ndarray:
    """0-based place of each entry where tied scores share the best place of their group (1, 2, 2, 4)."""
    places = np.arange(scores.shape[1])[None, :].repeat(scores.shape[0], axis=0)
    if scores.shape[1] > 1:
        same = np.zeros(scores.shape, dtype=bool)
        same[:, 1:] = scores[:, 1:] == scores[:, :-1]
        places = np.maximum.accumulate(np.where(same, 0, places), axis=1)
    return places


def _table(ranked: Ranked, n_items: int, rows_on: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique (row, item) keys of a ranking with their normalised score and reciprocal rank.

    Tied scores share a rank and a tie group cut by the list's end counts as unlisted
    (:func:`decided_by_score`): no feature carries an item's catalogue index.
    """
    norm, valid = _normalised(ranked)
    valid &= decided_by_score(ranked)
    if rows_on is not None:
        valid &= rows_on[:, None]
    places = _competition_places(ranked.scores)
    b, r = np.nonzero(valid)
    keys = b.astype(np.int64) * n_items + ranked.indices[b, r]
    keys, first = np.unique(keys, return_index=True)  # the first (best) place of a repeated item
    return keys, norm[b, r][first], 1.0 / (1.0 + places[b, r][first])


def candidate_features(inputs: StackInputs, sources: Sequence[str], pool: int = POOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pool of each query and its feature rows.

    Returns ``(rows, items, X)``: candidate ``j`` is item ``items[j]`` of query ``rows[j]`` (rows
    ascending, items ascending within a row), ``X`` (M, F) float32 with NaN for a missing value;
    columns as :meth:`Stacker.feature_names`.
    """
    n_items = inputs.item_features.shape[0]
    keys = _pool_keys(inputs, sources, pool)
    return keys // n_items, keys % n_items, _features_at(inputs, sources, keys)


def _pool_keys(inputs: StackInputs, sources: Sequence[str], pool: int) -> np.ndarray:
    """Sorted unique ``row * n_items + item`` keys of each query's candidate pool (see :func:`candidate_features`)."""
    n_items = inputs.item_features.shape[0]
    blended = inputs.blended
    batch = blended.indices.shape[0]
    parts = [(blended.indices[:, :pool], np.ones(batch, dtype=bool))]
    for name in sources:
        if name in inputs.sources:
            source = inputs.sources[name]
            # a source's top entries that are there only by item index (a cut tie) do not enter the pool
            top = np.where(decided_by_score(source, SOURCE_TOP), source.indices[:, :SOURCE_TOP], -1)
            parts.append((top, np.asarray(inputs.reach[name]) > 0))
    keys_list = []
    for idx, on in parts:
        b, r = np.nonzero((idx >= 0) & on[:, None])
        keys_list.append(b.astype(np.int64) * n_items + idx[b, r])
    return np.unique(np.concatenate(keys_list)) if keys_list else np.empty(0, np.int64)


def _features_at(inputs: StackInputs, sources: Sequence[str], keys: np.ndarray) -> np.ndarray:
    """(len(keys), F) float32 feature rows of the (row, item) ``keys`` (``row * n_items + item``)."""
    n_items = inputs.item_features.shape[0]
    blended = inputs.blended
    batch = blended.indices.shape[0]
    rows, items = keys // n_items, keys % n_items
    columns = []
    everyone: np.ndarray | None = None  # the blend speaks for every query
    listed: list[tuple[Ranked | None, np.ndarray | None]] = [(blended, everyone)] + [
        (inputs.sources.get(name), np.asarray(inputs.reach.get(name, np.zeros(batch))) > 0) for name in sources
    ]
    for ranked, speaks in listed:
        if ranked is None:
            columns += [np.full(keys.shape, np.nan, np.float32), np.zeros(keys.shape, np.float32)]
            continue
        table_keys, norm, rrank = _table(ranked, n_items, speaks)
        columns += [_lookup(keys, table_keys, norm, np.nan), _lookup(keys, table_keys, rrank, 0.0)]
    query = np.asarray(inputs.query_features, dtype=np.float32)[rows]
    item = np.asarray(inputs.item_features, dtype=np.float32)[items]
    agreement = np.zeros(keys.shape, np.float32)
    for name in sources:
        if name in inputs.sources:
            speaks = np.asarray(inputs.reach[name]) > 0
            source = inputs.sources[name]
            top = source.indices[:, :AGREEMENT_TOP]
            # a place won only by item index (a tie cut at the top) is no vote
            b, r = np.nonzero((top >= 0) & decided_by_score(source, AGREEMENT_TOP) & speaks[:, None])
            listed_keys = np.unique(b.astype(np.int64) * n_items + top[b, r])
            agreement += _lookup(keys, listed_keys, np.ones(listed_keys.size), 0.0)
    pop_gap = item[:, ITEM_FEATURES.index("item_log_count")] - query[:, QUERY_FEATURES.index("history_log_pop")]
    return np.column_stack(columns + [agreement, pop_gap, query, item]).astype(np.float32)


def _booster(x: np.ndarray, labels: np.ndarray, rows: np.ndarray, seed: int, threads: int = 1) -> Any:
    import lightgbm

    groups = np.bincount(np.unique(rows, return_inverse=True)[1])
    data = lightgbm.Dataset(x, label=labels, group=groups, free_raw_data=True, params={"verbose": -1})
    params = {**_PARAMS, "seed": int(seed), "bagging_seed": int(seed), "feature_fraction_seed": int(seed), "num_threads": int(threads)}
    return lightgbm.train(params, data, num_boost_round=_ROUNDS)


def _top_k(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, batch: int, k: int) -> Ranked:
    """Each row's ``k`` best candidates by ``scores`` (ties: lower item index)."""
    order = np.lexsort((items, -scores, rows))
    rows, items, scores = rows[order], items[order], scores[order]
    starts = np.searchsorted(rows, np.arange(batch))
    place = np.arange(len(rows)) - starts[rows]
    keep = place < k
    indices = np.full((batch, k), -1, dtype=np.int64)
    out = np.full((batch, k), -np.inf, dtype=np.float32)
    indices[rows[keep], place[keep]] = items[keep]
    out[rows[keep], place[keep]] = scores[keep]
    return pad_ranked(indices, out, k)


@dataclass
class Stacker:
    """A fitted LambdaRank stacker: which sources it reads, for which regimes it answers, and the model.

    Attributes:
        sources: the sources whose features it reads, in feature order.
        regimes: the tuning regimes (``"cold-items"``, ``"n=3"``…) it answers for.
        model_text: the LightGBM booster in LightGBM's text format.
        validation: regime -> (cross-fitted Recall@k of the weighted blend, of the stacker).
    """

    sources: list[str]
    regimes: list[str]
    model_text: str
    validation: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import lightgbm

        self._booster = lightgbm.Booster(model_str=self.model_text)
        expected = len(self.feature_names())
        if self._booster.num_feature() != expected:
            raise InvalidInputError(f"stacker model reads {self._booster.num_feature()} features, expected {expected}")

    def feature_names(self) -> list[str]:
        """The feature columns, in order."""
        return self.feature_names_for(self.sources)

    @staticmethod
    def feature_names_for(sources: Sequence[str]) -> list[str]:
        """The columns of :func:`candidate_features` for ``sources``, in order."""
        names = ["blend_score", "blend_rrank"]
        for name in sources:
            names += [f"{name}_score", f"{name}_rrank"]
        return names + list(PAIR_FEATURES) + list(QUERY_FEATURES) + list(ITEM_FEATURES)

    def rank(self, inputs: StackInputs, k: int) -> Ranked:
        """The top ``k`` of each query's candidate pool by the stacker's score."""
        rows, items, x = candidate_features(inputs, self.sources, max(POOL, k))
        scores = self._booster.predict(x, num_threads=1) if len(rows) else np.empty(0)
        return _top_k(rows, items, np.asarray(scores, dtype=np.float64), inputs.blended.indices.shape[0], k)

    def feature_parts(self, inputs: StackInputs, items: np.ndarray) -> dict[str, np.ndarray]:
        """What each feature added to the stacker's score of ``items[b, j]`` ((B, m) item indices):
        feature name -> (B, m), plus ``"bias"`` (the model's expected score); their sum is the raw score
        :meth:`rank` orders by.

        These are LightGBM's SHAP values (``predict(pred_contrib=True)``, TreeSHAP): a feature's part
        is how far its value moved the item's score from the model's average candidate. An item need
        not be in the query's candidate pool: its features are computed as for a pooled one.
        """
        items = np.asarray(items, dtype=np.int64)
        batch = inputs.blended.indices.shape[0]
        if items.ndim != 2 or items.shape[0] != batch:
            raise InvalidInputError(f"feature_parts needs items as a ({batch}, m) integer array, got shape {items.shape}")
        n_items = inputs.item_features.shape[0]
        if items.size and (items.min() < 0 or items.max() >= n_items):
            raise InvalidInputError(f"feature_parts: item indices must lie in [0, {n_items}), got {items.min()}..{items.max()}")
        keys = (np.arange(batch, dtype=np.int64)[:, None] * n_items + items).ravel()
        x = _features_at(inputs, self.sources, keys)
        names = self.feature_names() + ["bias"]
        if not len(keys):
            return {name: np.zeros(items.shape) for name in names}
        shap = np.asarray(self._booster.predict(x, num_threads=1, pred_contrib=True), dtype=np.float64)
        return {name: shap[:, f].reshape(items.shape) for f, name in enumerate(names)}

    def source_parts(
        self, inputs: StackInputs, items: np.ndarray, blend_parts: Mapping[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """What each source added to the stacker's score of ``items[b, j]`` (source name -> (B, m)), from
        :meth:`feature_parts`: a source's own score and rank features are its own; the blend's score and
        rank are shared among the sources in proportion to ``blend_parts`` (what each added to the item's
        fused score, :func:`coldkit.models.blend.source_parts`; without it they go to no source); the
        agreement is shared equally among the sources that voted for the item (listed it in their top
        :data:`AGREEMENT_TOP` while speaking for the query); the item's interaction count and its gap to
        the user's clicks go to ``popularity`` where it is a source. The query's features and the
        content-predicted popularity belong to no source. A part may be negative (the feature pushed the
        item down).
        """
        items = np.asarray(items, dtype=np.int64)
        features = self.feature_parts(inputs, items)
        parts = {name: features[f"{name}_score"] + features[f"{name}_rrank"] for name in self.sources}
        blend_part = features["blend_score"] + features["blend_rrank"]
        if blend_parts is not None:
            shares = {name: np.maximum(np.asarray(part, dtype=np.float64), 0.0) for name, part in blend_parts.items()}
            total = sum(shares.values(), np.zeros(items.shape))
            for name, share in shares.items():
                given = np.divide(share, total, out=np.zeros(items.shape), where=total > 0) * blend_part
                parts[name] = parts.get(name, np.zeros(items.shape)) + given
        votes = {name: self._votes(inputs, name, items) for name in self.sources}
        voters = sum(votes.values(), np.zeros(items.shape))
        for name, vote in votes.items():
            parts[name] += np.divide(vote, voters, out=np.zeros(items.shape), where=voters > 0) * features["agreement"]
        if "popularity" in parts:
            parts["popularity"] += features["item_log_count"] + features["pop_gap"]
        return parts

    @staticmethod
    def _votes(inputs: StackInputs, name: str, items: np.ndarray) -> np.ndarray:
        """(B, m) 1 where source ``name`` counted in the agreement of ``items[b, j]`` (as :func:`candidate_features` counts)."""
        source = inputs.sources.get(name)
        if source is None:
            return np.zeros(items.shape)
        speaks = np.asarray(inputs.reach.get(name, np.zeros(items.shape[0]))) > 0
        top = np.where(decided_by_score(source, AGREEMENT_TOP) & speaks[:, None], source.indices[:, :AGREEMENT_TOP], -1)
        return np.array([np.isin(items[b], top[b][top[b] >= 0]) for b in range(items.shape[0])], dtype=np.float64).reshape(items.shape)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (LightGBM's text model inside; no pickle)."""
        return {
            "sources": list(self.sources),
            "regimes": list(self.regimes),
            "model": self.model_text,
            "validation": {r: list(v) for r, v in self.validation.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Stacker":
        """Inverse of :meth:`to_json`."""
        try:
            return cls(
                [str(s) for s in data["sources"]],
                [str(r) for r in data["regimes"]],
                str(data["model"]),
                {str(r): (float(v[0]), float(v[1])) for r, v in dict(data.get("validation", {})).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a stacker model: {exc}") from exc


@dataclass
class StackTask:
    """One regime's validation queries as the stacker sees them: its inputs and what each query should find."""

    name: str
    inputs: StackInputs
    truth: sp.csr_matrix
    #: the candidates are new items (pseudo-cold): the cross-fit then also splits the items
    cold_items: bool = False


def _labels(truth: sp.csr_matrix, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    t = truth.tocsr()
    n_items = t.shape[1]
    keys = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr)) * n_items + t.indices
    keys = np.unique(keys)
    return _lookup(rows.astype(np.int64) * n_items + items, keys, np.ones(keys.size), 0.0)


def _keep_items(ranked: Ranked, keep: np.ndarray) -> Ranked:
    """The ranking with only the items where ``keep`` is true, in their order (padded with -1)."""
    on = (ranked.indices >= 0) & keep[np.where(ranked.indices >= 0, ranked.indices, 0)]
    order = np.argsort(~on, axis=1, kind="stable")  # kept entries first, in their places' order
    indices = np.where(np.take_along_axis(on, order, axis=1), np.take_along_axis(ranked.indices, order, axis=1), -1)
    scores = np.where(indices >= 0, np.take_along_axis(ranked.scores, order, axis=1), -np.inf).astype(np.float32)
    return Ranked(indices, scores)


def _recall(ranked: Ranked, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """Recall@k of every query, one value per row of ``truth`` (0 for a query without relevant
    items: the caller drops them). ``recall_per_query`` returns only the rows with relevant items."""
    from coldkit.models.tuning import _relevant, recall_per_query

    out = np.zeros(truth.shape[0])
    out[np.diff(_relevant(truth).indptr) > 0] = recall_per_query(ranked.indices, truth, k)
    return out


def fit_stacker(
    tasks: Sequence[StackTask], sources: Sequence[str], *, seed: int = 0, k: int = 20, min_queries: int = 50
) -> tuple[Stacker | None, list[str]]:
    """Fit the stacker on the carved validation tasks; keep it for the regimes where it beats the blend.

    Each task's queries are split in two halves (seeded); a model fitted on one half ranks the
    other, so every validation query is ranked by a model that did not see it. For new-item tasks
    (``cold_items``) the items are split too: the held-out queries rank only held-out items, and
    the blend is scored on the same items; the model scored on them learns from no row of theirs,
    whatever task the row comes from. A regime switches to the stacker when its cross-fitted
    Recall@``k`` beats the weighted blend's by a paired t >= 2, or when its family
    (:func:`regime_family`: the cold-user regimes with clicks) does so pooled, by a paired t >= 3
    with no member regime losing; the returned model is then refitted on every validation query.

    Returns ``(stacker or None, notes)``; None when lightgbm is missing, the tasks are too small,
    or the blend is at least as good on every regime.
    """
    if not lightgbm_available():
        return None, ["stacker: lightgbm is not installed (pip install 'coldkit[rank]'): weighted blend"]
    prepared = []
    for task in tasks:
        rows, items, x = candidate_features(task.inputs, sources)
        labels = _labels(task.truth, rows, items)
        batch = task.inputs.blended.indices.shape[0]
        relevant = np.diff(task.truth.tocsr().indptr) > 0
        prepared.append((task, rows, items, x, labels, batch, relevant))
    useful = [p for p in prepared if p[5] >= min_queries and p[4].sum() > 0]
    if not useful:
        return None, ["stacker: validation split too small to fit a stacker; using the weighted blend"]
    rng = np.random.default_rng(seed)
    # by position, not by name: a regime may come as several tasks (the hybrid's carves, pooled by name below)
    halves: dict[int, np.ndarray] = {id(p[0]): np.asarray(rng.random(p[5]) < 0.5) for p in useful}
    # For new items the held-out fold also holds out *items*: a per-item feature (its predicted
    # popularity, its scores) identifies an item, so a model fitted on some users' labels can
    # memorise which pseudo-cold items are liked and "win" on other users of the same items — a
    # gain that cannot carry over to items nobody has seen.
    n_items = useful[0][0].inputs.item_features.shape[0]
    item_half = np.asarray(rng.random(n_items) < 0.5)
    # The same pseudo-cold items also come as candidates of the other tasks: a masked-click user may
    # click one, and a later carve's tasks have the first carve's pseudo-cold items as warm ones. The
    # model scored on a fold's new items must not learn those items' labels there either.
    pseudo_cold = np.zeros(n_items, dtype=bool)
    for task, _, items, *_ in useful:
        if task.cold_items:
            pseudo_cold[items] = True

    def in_fold(task: StackTask, rows: np.ndarray, items: np.ndarray, fold: bool) -> np.ndarray:
        on = halves[id(task)][rows] == fold
        return on & (item_half[items] == fold) if task.cold_items else on

    def trains_for(task: StackTask, rows: np.ndarray, items: np.ndarray, fold: bool) -> np.ndarray:
        """The rows the model scored on ``fold`` learns from: the other half's queries, none of this fold's new items."""
        return (halves[id(task)][rows] != fold) & ~(pseudo_cold[items] & (item_half[items] == fold))

    def fit_on(fold: bool | None, threads: int = 1) -> Any:
        xs, ys, rs, offset = [], [], [], 0
        for task, rows, items, x, labels, batch, _ in useful:
            on = np.ones(len(rows), bool) if fold is None else trains_for(task, rows, items, fold)
            # queries with no relevant candidate carry no ranking signal
            has_pos = np.bincount(rows[on], weights=labels[on], minlength=batch) > 0
            on &= has_pos[rows]
            xs.append(x[on])
            ys.append(labels[on])
            rs.append(rows[on] + offset)
            offset += batch
        return _booster(np.vstack(xs), np.concatenate(ys), np.concatenate(rs), seed, threads)

    validation: dict[str, tuple[float, float]] = {}
    gains: dict[str, np.ndarray] = {}
    ours_by: dict[str, list[np.ndarray]] = {p[0].name: [] for p in useful}
    theirs_by: dict[str, list[np.ndarray]] = {p[0].name: [] for p in useful}

    def fit_and_score(fold: bool) -> list[np.ndarray]:
        """The fold's model's scores of each task's held-out rows (its other half's queries)."""
        model = fit_on(fold)
        held_scores = []
        for task, rows, items, x, *_ in useful:
            held = in_fold(task, rows, items, fold)
            # a row's score is its trees' sum alone: the same on one thread whatever runs beside it
            held_scores.append(model.predict(x[held], num_threads=1) if held.any() else np.empty(0))
        return held_scores

    # The two fold models are independent: fit side by side, each on one LightGBM thread (so each
    # is the model a serial fit gives, bit for bit), and each scores its held-out rows in its own thread
    # (1.2 s of predictions at 10k items, one after the other before). The hybrid's final fit runs beside
    # this one, and a serial pair left one of the two cores idle for ~5 s at 10k items.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="coldkit-stacker-fold") as folds:
        fold_scores = dict(zip((True, False), folds.map(fit_and_score, (True, False))))
    for fold, scored in fold_scores.items():
        for (task, rows, items, x, _, batch, _), held_scores in zip(useful, scored):
            held = in_fold(task, rows, items, fold)
            queries = halves[id(task)] == fold
            truth, blended = task.truth.tocsr(), task.inputs.blended
            if task.cold_items:  # both rankings and the truth keep only this fold's items
                truth = sp.csr_matrix(truth.multiply(item_half[None, :] == fold))
                # multiply() keeps the other fold's items as stored False: dropped, or they counted as
                # relevant items no ranking of this fold can reach, and every user of a pseudo-cold
                # item stayed "asked" even with nothing of this fold to find
                truth.eliminate_zeros()
                blended = _keep_items(blended, item_half == fold)
            scores = np.full(len(rows), -np.inf)
            scores[held] = held_scores
            stacked = _top_k(rows[held], items[held], scores[held], batch, k)
            asked = queries & (np.diff(truth.indptr) > 0)
            ours_by[task.name].append(_recall(stacked, truth, k)[asked])
            theirs_by[task.name].append(_recall(blended, truth, k)[asked])
    for name in ours_by:  # one regime's tasks (one per carve) pooled
        ours, theirs = np.concatenate(ours_by[name]), np.concatenate(theirs_by[name])
        if ours.size == 0:
            continue
        validation[name] = (float(theirs.mean()), float(ours.mean()))
        gains[name] = ours - theirs
    chosen = stacked_regimes(gains)
    summary = ", ".join(f"{r} {b:.4f}->{s:.4f}" for r, (b, s) in validation.items())
    if not chosen:
        # "not better" read wrong beside a mean that rose (warm 0.3921->0.3991): the bar is a paired t
        return None, [f"stacker: not significantly better than the weighted blend on validation (no regime reaches paired t ≥ {_MIN_T:g}, nor a family pooled t ≥ {_FAMILY_T:g}; {summary}); weighted blend"]
    # Alone by now (the folds are done; the hybrid mostly waits for this), so two threads: a fixed
    # count, not the machine's, keeps the model the same on every machine (LightGBM's sums follow it).
    final = fit_on(None, threads=FINAL_THREADS)
    stacker = Stacker(list(sources), chosen, final.model_to_string(), validation)
    return stacker, [f"stacker: LambdaRank for {', '.join(chosen)} (cross-fitted Recall@{k} blend->stacker: {summary})"]
