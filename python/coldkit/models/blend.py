"""The hybrid's per-query blend, written once: :class:`~coldkit.models.hybrid.Hybrid` and the serving index both call it.

One query is answered by several *sources* (CF, content, the user's own words, popularity...), each
a ranking; this module decides how much each source speaks for each query and fuses them:

* :func:`source_weights` — the adaptive weights: with ``n`` known interactions,
  ``β = n / (n + user_trust)``; CF sources get ``w·β``, popularity and the profile kNN ``w·(1-β)``,
  ``content`` speaks for users with clicks, ``text`` and ``profile`` for users with text;
* :func:`interest_vectors` — a user's position in the content space: the unit mean of their items'
  vectors (the *history*), plus their text vector weighted by ``text_weight``, re-normalised;
* :func:`blend` — asks each source that someone in the batch listens to for its ranking (sources
  nobody listens to are never computed) and merges them with a fusion strategy;
* :func:`words` / :func:`shared_words` / :func:`nearest_liked` — the tokenizer, the one stop-word
  list and the nearest liked item behind the "why" of a recommendation;
* :func:`source_parts` / :func:`speaking_sources` — what each source added to an item's fused score
  (asked of the fusion itself) and which sources an item's "why" therefore names (the hybrid's
  ``explain`` and the serving index's ``why`` both ask them, so both name the same sources for one item).

Everything here is a function over arrays: the hybrid feeds it its models' outputs, the serving
index its stored vectors, so a change to the blend is made in one place and both follow.

Example::

    import numpy as np
    from coldkit.models.blend import DEFAULT_WEIGHTS, source_weights

    w = source_weights(np.array([0, 3]), np.array([True, False]), DEFAULT_WEIGHTS, user_trust=3.0)
    w["cf"]           # array([0. , 0.5]): CF speaks for the user with three clicks, not the newcomer
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from coldkit import _core
from coldkit._lists import as_csr
from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.models._ranking import check_fused, pad_ranked, rank_side_by_side
from coldkit.plugins.types import FusionStrategy, Ranked
from coldkit.text import cjk_bigram, join_bigrams, reader_words

__all__ = [
    "SOURCES",
    "DEFAULT_WEIGHTS",
    "COLD_ITEM_WEIGHTS",
    "DEFAULT_USER_TRUST",
    "DEFAULT_DEPTH",
    "check_weights",
    "history_share",
    "source_weights",
    "interest_vectors",
    "blend",
    "words",
    "shared_words",
    "nearest_liked",
    "speaking_sources",
    "source_parts",
    "score_parts",
    "clicks_reason",
    "NO_SOURCE_REASON",
    "WEAK_TEXT_REASON",
    "STOP_WORDS",
]

#: Every source the blend knows, in the order they are fused.
SOURCES = ("cf", "cf_knn", "content", "text", "popularity", "profile", "item_knn", "ease", "tfidf", "friends", "trending")
#: Base weight of each source (the measured defaults; see docs/models.md). ``item_knn``,
#: ``tfidf`` and ``trending`` start at 0: the hybrid switches them on where its validation split says they help.
#: ``ease`` exists only in a tuned fit (its λ is chosen on the validation split) and starts at 1
#: there. Measured, MiniLM, 3 seeds, cold users n = 1 / 3 / 5, start 0 -> 1: ml-100k 0.1396 ->
#: 0.1439, 0.1442 -> 0.1449, 0.1417 -> 0.1448; ml-latest-small 0.1111 -> 0.1142, 0.1200 -> 0.1195,
#: 0.1239 -> 0.1244 (at 0 the t >= 3 bar rarely lets a few hundred carved users switch it on).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "cf": 1.0, "cf_knn": 1.0, "content": 0.1, "text": 0.5, "popularity": 0.5, "profile": 0.25,
    "item_knn": 0.0, "ease": 1.0, "tfidf": 0.0, "friends": 0.5, "trending": 0.0,
})
#: Where the cold-item regime (every candidate new) starts from other defaults. The kNN adapter is a
#: second, weaker estimate of the same CF vector as the ridge map: at equal weight it dilutes the
#: ridge map's list. Measured (MiniLM, seed 0, cold-item Recall@20, default hybrid vs this start):
#: ml-100k 0.4955 -> 0.5055, ml-latest-small 0.3082 -> 0.3133, lastfm-2k 0.4953 -> 0.5066 (0.5:
#: 0.5030, 0.3114, 0.5000); 3 seeds: 0.4702 -> 0.4808, 0.2919 -> 0.2916, 0.5025 -> 0.5060.
#: Only this regime: for known items the two sources give one list, so their sum weighs CF against
#: popularity and content for warm and new users, which stays as it was.
#: ``ease`` scores every new item 0, so it has nothing to say there (and is not computed).
COLD_ITEM_WEIGHTS: Mapping[str, float] = MappingProxyType({"cf_knn": 0.25, "ease": 0.0})
#: Known interactions at which the CF sources get half their base weight.
DEFAULT_USER_TRUST = 3.0
#: How many items each source hands to the fusion.
DEFAULT_DEPTH = 200

#: Words too common to explain anything ("matches your words: the" says nothing).
STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have i in is it its me my of on or so that the this to was "
    "were what who with you your like love likes loves about very really movie movies film films "
    # contractions, whole words to a reader (coldkit.text.reader_words): a negation or a pronoun shared
    # with a title ("I don't like horror", "Don't Look Now") is no reason to show
    "don't doesn't didn't can't won't isn't aren't wasn't weren't i'm i've i'd i'll you're you've".split()
)


def check_weights(weights: Mapping[str, float], sources: Sequence[str] = SOURCES, what: str = "hybrid") -> dict[str, float]:
    """``weights`` as floats, or InvalidInputError naming an unknown source or a negative / non-finite weight."""
    unknown = set(weights) - set(sources)
    if unknown:
        raise InvalidInputError(f"unknown {what} weight(s) {sorted(unknown)}; sources: {', '.join(sources)}")
    out = {}
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidInputError(f"{what} weight {name!r} must be a number, got {value!r}")
        out[name] = float(value)
    if any(not np.isfinite(w) or w < 0 for w in out.values()):
        raise InvalidInputError(f"{what} weights must be finite and >= 0, got {out}")
    return out


def history_share(n_known: np.ndarray, user_trust: float, adaptive: bool = True) -> np.ndarray:
    """β per query: how far the blend trusts a user's history, ``n / (n + user_trust)``.

    ``user_trust`` 0 trusts any history fully; ``adaptive=False`` gives every query β = 0.5.
    """
    n = np.asarray(n_known, dtype=np.float64)
    if not adaptive:
        return np.full(n.shape, 0.5)
    if user_trust > 0:
        return n / (n + user_trust)
    return (n > 0).astype(np.float64)


def source_weights(
    n_known: np.ndarray,
    has_text: np.ndarray,
    weights: Mapping[str, float],
    user_trust: float,
    *,
    adaptive: bool = True,
    has_friends: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-query weight of every source named in ``weights`` (in :data:`SOURCES` order).

    Args:
        n_known: (B,) known interactions per query (recorded ones plus this request's clicks).
        has_text: (B,) whether the query carries text (the user's words or profile).
        weights: base weight per source; a source absent here is not blended.
        user_trust: see :func:`history_share`.
        adaptive: False gives every query the same β = 0.5.
        has_friends: (B,) whether the query has friends in a social graph (default: none has).
    """
    n = np.asarray(n_known, dtype=np.float64)
    text = np.asarray(has_text, dtype=bool)
    beta = history_share(n, user_trust, adaptive)
    friends = np.zeros(n.shape, dtype=bool) if has_friends is None else np.asarray(has_friends, dtype=bool)
    clicked = (n > 0).astype(np.float64)
    factor = {
        "cf": beta,
        "cf_knn": beta,
        "content": clicked,
        "text": text.astype(np.float64),
        "popularity": 1.0 - beta,
        "profile": (1.0 - beta) * text,
        "item_knn": beta,
        "ease": beta,
        "tfidf": clicked,
        "friends": (1.0 - beta) * friends,
        "trending": 1.0 - beta,
    }
    return {name: float(weights[name]) * factor[name] for name in SOURCES if name in weights}


def _history_means(item_vectors: np.ndarray, histories: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(the queries with a history, (those queries, d) the mean of each one's history's item vectors).

    A float32 table's means come from the core (``row_means``): the rows summed where they lie, not
    gathered into a copy per query first (at 138k users of ~110 clicks: a recommend 50.7 → 43.3 s).
    The core adds the rows in numpy's order, so each mean is the bits of
    ``item_vectors[known].mean(axis=0)``, which the other tables (and one-column ones, where numpy
    sums pairwise) still use.
    """
    lists = [np.asarray(known) for known in histories]
    lengths = np.fromiter((known.size for known in lists), dtype=np.int64, count=len(lists))
    asked = np.flatnonzero(lengths)
    table, listed = item_vectors, [lists[b] for b in asked]
    if (
        listed and table.dtype == np.float32 and table.ndim == 2 and table.shape[1] >= 2 and table.flags.c_contiguous
        and all(known.ndim == 1 and known.dtype.kind in "iu" for known in listed)
    ):
        indptr, indices = as_csr(listed)
        if indices.min() >= 0:  # numpy reads -1 as the last row; the core refuses it
            return asked, _core.row_means(table, indptr, indices)
    if not listed:
        return asked, np.empty((0, table.shape[1]), dtype=np.float64)
    return asked, np.stack([table[known].mean(axis=0) for known in listed])  # a vectorised mean per query


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row over its L2 norm (a zero norm: the row as it is), by np.linalg.norm's own arithmetic
    for a real vector: the square root of BLAS's dot of the row with itself, in the row's dtype."""
    norms = np.sqrt(np.array([row.dot(row) for row in rows], dtype=rows.dtype))[:, None]
    return np.divide(rows, norms, out=rows.copy(), where=norms > 0)


def interest_vectors(
    item_vectors: np.ndarray,
    histories: Sequence[np.ndarray],
    text_vectors: np.ndarray | None = None,
    text_weight: float = 1.0,
) -> np.ndarray:
    """(B, d) float32 unit vectors: each query's interest in the content space.

    Row ``b`` is ``unit(unit(mean(item_vectors[histories[b]])) + text_weight · text_vectors[b])``; a
    query with neither history nor text gets a zero row (every item then scores 0).

    Args:
        item_vectors: (N, d) unit content vectors.
        histories: per query, the rows of ``item_vectors`` the user interacted with (may be empty).
        text_vectors: (B, d) unit vectors of the queries' texts (zero rows for queries without
            text), or None for history only.
        text_weight: weight of the text against the history.
    """
    out = np.zeros((len(histories), item_vectors.shape[1]), dtype=np.float64)
    asked, means = _history_means(item_vectors, histories)
    out[asked] = _unit_rows(means)
    if text_vectors is not None and text_weight > 1:
        # unit(h + w·t) = unit(h / w + t) where there is text: a huge weight (1e308) overflowed the
        # norm to inf, and the query's interest came out as a zero row (every item scored 0)
        text = np.asarray(text_vectors, dtype=np.float64)
        has_text = np.any(text != 0, axis=1)
        out[has_text] = out[has_text] / text_weight + text[has_text]
    elif text_vectors is not None and text_weight > 0:
        out += text_weight * np.asarray(text_vectors, dtype=np.float64)  # float32 would underflow tiny weights
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)


def blend(
    rankers: Mapping[str, Callable[[], Ranked]],
    weights: Mapping[str, np.ndarray],
    fusion: FusionStrategy,
    k: int,
    *,
    fallback: str = "popularity",
    inputs: dict[str, Any] | None = None,
) -> tuple[Ranked, dict[str, np.ndarray]]:
    """Fuse the sources someone in the batch listens to; return the top ``k`` and the weights that
    entered each query's ranking.

    The weights returned are ``weights`` less those of sources whose list says nothing for a query
    (every score 0: an anonymous user's CF vector, a history the source has not seen), which are 0
    for that query, plus the fallback's 1 for a query no weighed source spoke for. The fusion itself
    is given ``weights`` (a list of ties adds the same to every item it lists), so reporting these
    changes no ranking; a learned weight of 0.94 for a CF source with nothing to say was reported as
    if CF had ranked the list.

    Args:
        rankers: source name -> a call returning that source's :class:`Ranked` for the batch
            (only called when some query gives the source a positive weight).
        weights: source name -> (B,) per-query weights, e.g. from :func:`source_weights`.
        fusion: the fusion strategy (``coldkit.plugins.manager.get_fusion``).
        k: list length.
        fallback: the source that speaks alone, with weight 1, for a query whose every weight is zero
            (e.g. a hybrid restricted to ``cf`` asked for a user with no clicks and no text), or whose
            weighed sources all score every item 0 (its clicks are all on items they have not seen).
        inputs: when given, filled with what the fusion was given: ``"sources"`` (name -> Ranked) and
            ``"weights"`` (name -> (B,) weights), for :func:`source_parts` (the "why" of an item).
    """
    active = {name: np.asarray(w, dtype=np.float64) for name, w in weights.items() if np.any(np.asarray(w) > 0)}
    missing = set(active) - set(rankers)
    if missing:
        raise InvalidInputError(f"no ranking for blended source(s) {sorted(missing)}")
    sources = rank_side_by_side(rankers, list(active), len(next(iter(active.values()))) if active else 0)
    if not sources and fallback in rankers:  # no source at all: the fallback's list says how many queries
        sources[fallback] = rankers[fallback]()
    batch = len(next(iter(weights.values()))) if weights else (next(iter(sources.values())).indices.shape[0] if sources else 1)
    # Per query, not per batch: a query that no weighed source says anything for (every weight 0, or
    # every weighed list one tie of zeros: a new user whose clicks are all on items these sources have
    # not seen) would get an all-zero fusion, i.e. the items in index order; the fallback answers it alone
    heard = np.zeros(batch, dtype=bool)
    says = {name: _says_something(ranked) for name, ranked in sources.items()}
    for name in sources:
        if name in active:
            heard |= (active[name] > 0) & says[name]
    if not heard.all():
        if fallback not in rankers:
            raise InvalidInputError(f"no ranking for blended source(s) {[fallback]}")
        silent = ~heard
        active = {name: np.where(silent, 0.0, w) for name, w in active.items()}
        active[fallback] = np.where(silent, 1.0, active.get(fallback, np.zeros(batch)))
        if fallback not in sources:
            sources[fallback] = rankers[fallback]()
            says[fallback] = _says_something(sources[fallback])
    # A source someone else in the batch listens to lists nothing for a query that gives it weight 0:
    # alone, that query's blend never computes the source, and in a batch its items joined the
    # query's candidates at the floor score, where they could take the last places of a short list
    sources = {name: _heard_rows(ranked, active.get(name)) for name, ranked in sources.items()}
    fused = check_fused(fusion, fusion.fuse(sources, k, active), sources, k)
    if inputs is not None:
        inputs["sources"], inputs["weights"] = sources, active
    spoke = {name: np.where(says[name], w, 0.0) for name, w in active.items()}
    if not heard.all():  # the fallback answered the silent queries alone, whatever its list holds
        spoke[fallback] = np.where(~heard, 1.0, spoke[fallback])
    return pad_ranked(fused.indices, fused.scores, k), spoke


def _heard_rows(ranked: Ranked, weights: np.ndarray | None) -> Ranked:
    """``ranked`` with the rows of queries that weigh it 0 emptied (index -1, score -inf); as it is where
    every query weighs it (or no weights are given: the fusion's default 1)."""
    if weights is None or bool(np.all(weights > 0)):
        return ranked
    heard = (np.asarray(weights) > 0)[:, None]
    return Ranked(np.where(heard, ranked.indices, -1), np.where(heard, ranked.scores, -np.inf).astype(np.asarray(ranked.scores).dtype))


def _says_something(ranked: Ranked) -> np.ndarray:
    """(B,) whether each row of ``ranked`` scores some listed item other than 0 (padding is ``-inf``)."""
    scores = np.asarray(ranked.scores)
    return np.any(np.isfinite(scores) & (scores != 0), axis=1)


def words(text: str) -> set[str]:
    """The words of ``text`` that can explain a match: lower-case, no stop words, longer than one letter.

    Words are :func:`coldkit.text.reader_words`: the hashing encoder's words (any script's, with their
    combining marks, NFC and NFD alike: an a-z pattern found no word in "संगीत" and cut "café" to "caf"),
    joined across an apostrophe inside a word ("don't", never "don"), the possessive "'s" dropped."""
    return {w for w in reader_words(text) if w not in STOP_WORDS and len(w) > 1}


def shared_words(text: str, item_text: str, limit: int = 8) -> list[str]:
    """Up to ``limit`` words ``text`` and ``item_text`` share, sorted (the "matches your words" reason).

    Chinese, Japanese and Korean are read as character bigrams (:func:`coldkit.text.words`); bigrams
    shared one after another in ``text`` are shown as the run they spell ("科幻电影", not "幻电, 电影, 科幻")."""
    shared = words(text) & words(item_text)
    if not any(map(cjk_bigram, shared)):
        return sorted(shared)[:limit]
    # the text's shared bigrams in its order, a word not shared breaking a chain
    runs = join_bigrams([w if w in shared and cjk_bigram(w) else "" for w in reader_words(text)])
    shown = {w for w in runs if w} | {w for w in shared if not cjk_bigram(w)}
    return sorted(shown)[:limit]


#: the share of a text's best match an item's closeness must reach to be called "close to your words"
CLOSE_TO_TEXT_SHARE = 0.5

#: the why of an item whose every source part is 0 (see :func:`speaking_sources`); the hybrid's explain
#: and the serving index's why say the same words
NO_SOURCE_REASON = "no source ranked it above the other candidates"
#: the why of an item the text ranked without sharing a word and without being close (see close_to_text)
WEAK_TEXT_REASON = "among the closest to your words, though not close"


def clicks_reason(count: int, has_content: bool = True) -> str:
    """The collaborative sources' general why of an item with ``count`` training interactions.

    A new item without content (``has_content`` False) has the content-to-CF map's intercept for its CF
    vector, about the average item: "like those users with clicks like yours liked" claimed a likeness
    that nothing of the item shows.
    """
    if count:
        return "liked by users with clicks like yours"
    if not has_content:
        return "new item without content: placed as an average item for clicks like yours"
    return "new item like those users with clicks like yours liked"


def close_to_text(closeness: float, best: float) -> bool:
    """Whether an item whose content vector has dot product ``closeness`` with a query's text vector may be
    explained as "close to your words", ``best`` being the text's closest item (the catalogue's, or a
    request's pool).

    Why relative: the scale of these cosines differs by encoder (a sentence encoder puts most pairs above
    0.1; hashing with whitening gives unrelated items a few hundredths by word collisions), so any fixed
    floor names every item or none. At least half the best match keeps the claim to the items the text
    ranked near its top, and never names a closeness that prints as 0.00. One rule for the library's
    ``explain`` and the server's ``why``, so both say the same of one item.
    """
    return closeness > 0 and closeness >= CLOSE_TO_TEXT_SHARE * best


def nearest_liked(
    liked_vectors: np.ndarray, item_vector: np.ndarray, min_similarity: float | None = 0.0
) -> tuple[int, float] | None:
    """Position in ``liked_vectors`` of the item most similar to ``item_vector`` and the similarity, or None.

    None when nothing is liked, or when the best similarity is not above ``min_similarity``
    (None: the nearest liked item is named whatever its similarity).
    """
    if len(liked_vectors) == 0:
        return None
    sims = np.asarray(liked_vectors @ item_vector)
    best = int(np.argmax(sims))
    if min_similarity is not None and not sims[best] > min_similarity:
        return None
    return best, float(sims[best])


def source_parts(
    fusion: FusionStrategy, sources: Mapping[str, Ranked], weights: Mapping[str, np.ndarray], items: np.ndarray
) -> dict[str, np.ndarray]:
    """What each source added to the fused score of ``items[b, j]`` ((B, m) item indices) when ``fusion``
    fused ``sources`` under ``weights`` (what :func:`blend` gave it: its ``inputs``): name -> (B, m), >= 0.

    The fusion is asked itself: a strategy with a ``contributions(sources, weights, items)`` method (both
    built-ins: ``weighted`` gives ``w · (normalised score - the row's floor)``, ``rrf`` ``w / (c + rank)``,
    0 where the source did not list the item) says what it added. A plugin without one is measured with
    its own ``fuse``: a source's part is how much the item's fused score drops when that source's weight
    is set to 0, never below 0. An item that then drops out of the list was proposed by that source alone
    (a fusion lists no item only 0-weighted sources propose, and the list is long enough for every other
    one): it counts as 0, or as the list's lowest score where that is lower, so the source's part is its
    whole score. Score fusion and rank fusion differ here: an item at a text rank of 3 and a
    popularity rank of 1,600 owes its place to the text under ``rrf``, whatever the popularity count.
    """
    items = np.asarray(items, dtype=np.int64)
    names = list(sources)
    batch = items.shape[0]
    full = {name: np.asarray(weights.get(name, np.ones(batch)), dtype=np.float64) for name in names}
    told = getattr(fusion, "contributions", None)
    if callable(told):
        said = told(sources, full, items)
        where = f"fusion strategy {getattr(fusion, 'name', type(fusion).__name__)!r}"
        parts = {}
        for name in names:
            part = np.asarray(said.get(name, np.zeros(items.shape)) if isinstance(said, Mapping) else None, dtype=np.float64)
            if part.shape != items.shape or not np.isfinite(part).all():
                raise ComponentContractError(f"{where}: contributions() gave source {name!r} {part.shape}, expected finite {items.shape}")
            parts[name] = np.maximum(part, 0.0)
        return parts
    k = max(1, items.shape[1], sum(int((np.asarray(r.indices) >= 0).sum(axis=1).max(initial=0)) for r in sources.values()))

    def fused_at(w: Mapping[str, np.ndarray]) -> np.ndarray:
        fused = check_fused(fusion, fusion.fuse(sources, k, w), sources, k)
        out = np.full(items.shape, np.nan)
        for b in range(batch):
            row = {int(i): float(x) for i, x in zip(fused.indices[b], fused.scores[b]) if i >= 0 and np.isfinite(x)}
            # not listed: no source left proposes it (it scores nothing), not "the last listed" (that took
            # the other sources' lowest score off what the one source that proposed it gave it)
            floor = min(min(row.values(), default=0.0), 0.0)
            out[b] = [row.get(int(i), floor) if i >= 0 else np.nan for i in items[b]]
        return out

    with_all = fused_at(full)
    parts = {}
    for name in names:
        without = fused_at({**full, name: np.zeros(batch)})
        parts[name] = np.nan_to_num(np.maximum(with_all - without, 0.0), nan=0.0)
    return parts


def score_parts(scores: Mapping[str, tuple[float, float, float]]) -> dict[str, float]:
    """Each source's part by its scores alone: ``weight · max(score, 0) / best`` from (its weight, the
    item's score from it, its best score for the query). The fallback for an item no list of the
    blend holds (explained although not ranked: a known item, one below every source's depth), where
    the fusion added nothing to say."""
    return {name: weight * max(score, 0.0) / best for name, (weight, score, best) in scores.items()
            if weight > 0 and best > 0}


def speaking_sources(parts: Mapping[str, float]) -> list[str]:
    """The sources that ranked one item, strongest first: ``parts`` maps each source of the blend to its
    part in the item's fused score (:func:`source_parts`: what the fusion added for the item).

    A source speaks for the item when its part is at least half the largest part (``CLOSE_TO_TEXT_SHARE``,
    the share of "close to your words"): the strongest always does, so the item's why names what ranked
    it, and a source of small weight beside a strong one (``content`` 0.1 beside ``cf`` 0.93: "similar to
    'x' (content 0.03)" for an item CF ranked) is not given as a reason. No source speaks when every part
    is 0 (the item sits at the floor of every list). The serving index's ``why`` and
    :meth:`coldkit.models.hybrid.Hybrid.explain` both name the sources this returns.
    """
    clean = {name: float(part) for name, part in parts.items() if part > 0}
    strongest = max(clean.values(), default=0.0)
    if strongest <= 0:
        return []
    return sorted((name for name, part in clean.items() if part >= CLOSE_TO_TEXT_SHARE * strongest),
                  key=lambda name: -clean[name])
