"""Non-personalised and lightly personalised baselines: popularity (global, recent, per genre) and random.

Each one is written as ``score = dot(query_vector, item_vector)`` so ranking, exclusions and
candidate restriction run in the similarity core like every other model.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import empty_ranked, rank_by_item_scores, rank_vectors
from coldkit.models.base import Recommender
from coldkit.plugins.types import Ranked
from coldkit.text import normalize, unspaced, words
from coldkit.validation import check_number, check_seed

__all__ = ["Popularity", "RecentPopularity", "GenrePopularity", "RandomRecommender", "genre_matrix", "names_genre"]

#: An English possessive ending ("Children's", "children’s"): a reader's "children" and "children's" name
#: one genre (ml-100k says "Children's", ml-latest-small "Children").
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b", re.IGNORECASE)


def _said_words(text: str) -> list[str]:
    """The words of ``text`` (:func:`coldkit.text.words`) with English possessives dropped."""
    return words(_POSSESSIVE.sub("", text))


@lru_cache(maxsize=4096)
def _name_words(genre: str) -> list[str]:
    """A genre name's words, once per name (a batch reads every genre for every query)."""
    return _said_words(genre)


def _plural_of(word: str, name: str) -> bool:
    """Whether ``word`` is ``name`` or its plain English plural: +s ("sports"), +es, y -> ies ("comedies")."""
    return word in (name, name + "s", name + "es") or (name.endswith("y") and word == name[:-1] + "ies")


@lru_cache(maxsize=256)
def _text_read(text: str) -> tuple[list[str], str]:
    """(its words, possessives dropped; its normalised text), once per text (every genre reads both)."""
    return _said_words(text), normalize(text)


def names_genre(text: str, genre: str) -> bool:
    """Whether ``text`` names ``genre``.

    A genre is named by its whole words in order ("Film-Noir" by "film noir" or "film-noir", "Sci-Fi" by
    "sci-fi"), the last one also in its plain plural ("westerns", "comedies") or possessive ("Children's"
    by "children", "children's" and "childrens"). Never by a part of a word: "war" is not in "software",
    "drama" not in "melodramatic", "action" not in "transaction". The reverse plural is not read ("new"
    does not name "News"). A genre written in a script without spaces between words (Chinese, Japanese,
    Thai...) has no word boundary to match at and is looked for anywhere in the text, as before.
    """
    said, normalized = _text_read(text)
    if unspaced(genre):
        # no word boundary to match at: the genre's letters anywhere in the text (not in its words, which
        # read CJK runs as bigrams: "科幻电影" is in no one of them)
        return normalize(genre) in normalized
    name = _name_words(genre)
    if not name:
        return False
    n = len(name)
    for i in range(len(said) - n + 1):
        if said[i : i + n - 1] == name[:-1] and _plural_of(said[i + n - 1], name[-1]):
            return True
    return False


class Popularity(Recommender):
    """Most-interacted items first (number of distinct users per item; ties by lower index).

    Example::

        model = coldkit.models.create("popularity").fit(train)
        top = model.recommend([UserQuery(user=0)], k=10)
    """

    name = "popularity"

    def __init__(self) -> None:
        self.scores_: np.ndarray | None = None

    def _item_scores(self, train: Interactions) -> np.ndarray:
        return train.item_counts().astype(np.float64)

    def fit(self, train: Interactions) -> "Popularity":
        train = self._remember(train)
        self.scores_ = np.asarray(self._item_scores(train), dtype=np.float64)
        return self

    def item_scores(self) -> np.ndarray:
        """(n_items,) the popularity score of every catalogue item (0 for cold items)."""
        self._require_fitted()
        assert self.scores_ is not None
        return self.scores_

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        exclude = self._exclusions(queries, exclude_known)
        if self.backend is None:  # one order for everyone: sorted once, not scanned per query
            return rank_by_item_scores(self.item_scores(), len(queries), k, exclude=exclude, candidates=cand)
        query_vectors = np.ones((len(queries), 1), dtype=np.float32)
        item_vectors = self.item_scores().astype(np.float32)[:, None]
        return rank_vectors(query_vectors, item_vectors, k, metric="dot", exclude=exclude, candidates=cand, backend=self.backend)


    def _place(self, item: int) -> str:
        """``item``'s place in the whole catalogue by :meth:`item_scores`, ties by lower index (as ranked)."""
        # in float32, as the ranking compares them: float64 tells apart what the ranking ties (decayed counts)
        scores = self.item_scores().astype(np.float32)
        score = scores[item]
        place = 1 + int(np.count_nonzero(scores > score)) + int(np.count_nonzero(scores[:item] == score))
        return f"#{place} of {scores.size:,} items"

    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """The count that ranked ``item`` (the same for every user): ``"popular: N users interacted with
        it (#3 of 1,682 items)"``; the query is checked but does not change the answer."""
        _, index = self._explain_args(query, item)
        count = int(self._item_counts()[index])  # counted once per fit (a bincount of every interaction)
        if count == 0:
            return f"no user interacted with it: it follows the items someone did, by catalogue order ({self._place(index)})"
        return f"popular: {count} user{'s' if count != 1 else ''} interacted with it ({self._place(index)})"


#: ``popularity-recent``: a decayed count under this share of the top one carries no recency worth
#: ranking by (and is near float32's smallest numbers); such items are ordered by their all-time count.
NEGLIGIBLE_SHARE = 1e-30

#: The shortest half-life ``popularity-recent`` (and the hybrid's ``trending`` source) accepts: one minute.
MIN_HALF_LIFE_DAYS = 1.0 / 1440


class RecentPopularity(Popularity):
    """Popularity with exponentially decayed interactions: one from ``half_life_days`` before the
    newest training interaction counts half.

    Needs ``train.timestamps``.

    Example::

        model = coldkit.models.create("popularity-recent", half_life_days=14).fit(train)
    """

    name = "popularity-recent"

    def __init__(self, half_life_days: float = 30.0) -> None:
        super().__init__()
        # under a minute only the newest interaction keeps any weight (and 1e-308 overflowed the exponent)
        self.half_life_days = check_number(half_life_days, "half_life_days", at_least=MIN_HALF_LIFE_DAYS)

    def _item_scores(self, train: Interactions) -> np.ndarray:
        if train.timestamps is None:
            # say what to add to the data, not which attribute is empty
            raise InvalidInputError(
                "popularity-recent needs a timestamp on every interaction, and these have none: a 'timestamp' column "
                "with empty cells is read as none (the DataWarning given when the data were read names those rows: "
                "fill them in); a column of another name, command line: --interaction-columns timestamp=COL, "
                "Python: columns={'timestamp': 'COL'}"
            )
        ts = train.timestamps.tocsr()
        if ts.nnz == 0:
            return np.zeros(train.n_items)
        age_days = (float(ts.data.max()) - ts.data.astype(np.float64)) / 86400.0
        weights = np.power(0.5, age_days / self.half_life_days)
        decayed = np.bincount(ts.indices, weights=weights, minlength=train.n_items)
        # Far below the top (an item last seen hundreds of half-lives ago: years of data and a short
        # half-life, or one row dated decades ahead) the decayed sums underflow, to 0 in float64 and
        # sooner in the float32 the ranking reads, and such items tied, ranked by catalogue order.
        # Under a floor 1e-30 of the top score, which says nothing about recency any more, they are
        # ordered by their all-time count instead, still below every item above the floor.
        floor = NEGLIGIBLE_SHARE * float(decayed.max())
        faded = decayed < floor
        if faded.any():
            counts = train.item_counts().astype(np.float64)
            decayed[faded] = floor * counts[faded] / (float(counts.max()) + 1.0)
        return decayed


    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """The recency-weighted count that ranked ``item`` (the same for every user), beside its all-time one."""
        _, index = self._explain_args(query, item)
        count = int(self._item_counts()[index])
        scores = self.item_scores()
        if count == 0:
            return f"no user interacted with it: it follows the items someone did, by catalogue order ({self._place(index)})"
        if scores[index] < NEGLIGIBLE_SHARE * float(scores.max()):  # _item_scores' faded items
            return (
                f"interacted with too long ago to count as recent (half-life {self.half_life_days:g} days): ranked below the "
                f"recent items by its all-time count, {count} users ({self._place(index)})"
            )
        return (
            f"popular lately: {scores[index]:.1f} interactions weighted by recency (one {self.half_life_days:g} days before "
            f"the newest counts half; {count} user{'s' if count != 1 else ''} all told) ({self._place(index)})"
        )


def genre_separator(values: "pd.Series[str]") -> str:
    """The separator of a genres column, as a regular expression: ``|`` (MovieLens) where any value has one
    (a genre name may then hold a comma), else ``;`` and ``,`` both (a column may mix them).

    Why: "Comedy, Romance" split on ``|`` alone was one genre named "Comedy, Romance", so every item with two
    genres had a genre of its own and the model ranked by plain popularity without a word.
    """
    return r"\|" if values.str.contains("|", regex=False).any() else "[;,]"


#: MovieLens's value for a film without genres: not a genre (a group of every such item would be one).
NO_GENRES = "(no genres listed)"


def split_genres(value: object, sep: str) -> list[str]:
    """The genres of one cell, split by ``sep`` (:func:`genre_separator`), stripped, without :data:`NO_GENRES`."""
    return [g.strip() for g in re.split(sep, str(value)) if g.strip() and g.strip() != NO_GENRES]


def genre_matrix(train: Interactions) -> tuple[list[str], np.ndarray]:
    """Genre names and the (n_items, n_genres) 0/1 matrix from the catalogue's ``genres`` column."""
    table = train.catalog.table
    if "genres" not in table.columns:
        # "in catalog.table" named an attribute, not what to add to the items file or which flag maps it
        raise InvalidInputError(
            "this model needs a 'genres' column in the item table ('|'-, ';'- or ','-separated, e.g. 'Comedy|Romance'), and it has "
            "none (command line: --item-columns genres=COL names yours; Python: item_columns={'genres': 'COL'})"
        )
    raw = table["genres"].astype("string").fillna("")
    sep = genre_separator(raw)
    per_item = [split_genres(v, sep) for v in raw]
    names = sorted({g for gs in per_item for g in gs})
    column = {g: j for j, g in enumerate(names)}
    matrix = np.zeros((len(per_item), len(names)), dtype=np.float32)
    rows = [i for i, gs in enumerate(per_item) for _ in gs]
    cols = [column[g] for gs in per_item for g in gs]
    matrix[rows, cols] = 1.0
    return names, matrix


class GenrePopularity(Popularity):
    """Popularity within the genres the user likes.

    ``score(u, i) = pop(i) * (global_weight + sum_g share_u(g) * [i in g])`` where ``share_u`` is the
    genre distribution of the user's known items (training items + ``history``) plus any genre
    named in the user's ``text`` by its whole words (:func:`names_genre`). A user with neither gets
    plain popularity.

    Example::

        model = coldkit.models.create("popularity-genre").fit(train)
        model.recommend([UserQuery(text="I love Comedy and Romance")], k=10)
    """

    name = "popularity-genre"

    def __init__(self, global_weight: float = 0.05) -> None:
        super().__init__()
        # nan/inf failed at recommend naming no option, "0.1" as a '<' between str and int, True was 1
        self.global_weight = check_number(global_weight, "global_weight", at_least=0)
        self.genres_: list[str] = []
        self.genre_matrix_: np.ndarray | None = None

    def fit(self, train: Interactions) -> "GenrePopularity":
        super().fit(train)
        self.genres_, self.genre_matrix_ = genre_matrix(train)
        return self

    def genre_shares(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_genres) each user's genre distribution (rows sum to 1, or 0 with no information)."""
        assert self.genre_matrix_ is not None
        shares = np.zeros((len(queries), len(self.genres_)), dtype=np.float64)
        for b, query in enumerate(queries):
            known = self._known_items(query)
            if known.size:
                shares[b] += self.genre_matrix_[known].sum(axis=0)
            if query.text:
                # the genre's whole words in the text (names_genre: "war" is not named by "software"),
                # both read as coldkit.text reads words: NFC, lower case (a decomposed "Comédie" names
                # "comédie" too); a genre in a script without spaces, anywhere in the text
                for j, g in enumerate(self.genres_):  # loops over genre names (tens), not items
                    if names_genre(query.text, g):
                        shares[b, j] += max(1.0, shares[b].sum())
        total = shares.sum(axis=1, keepdims=True)
        return np.divide(shares, total, out=np.zeros_like(shares), where=total > 0)

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        train = self._require_fitted()
        assert self.genre_matrix_ is not None
        pop = self.item_scores()
        pop = pop / pop.max() if pop.max() > 0 else pop
        shares = self.genre_shares(queries)
        no_info = shares.sum(axis=1) == 0
        query_vectors = np.hstack([np.where(no_info, 1.0, self.global_weight)[:, None], shares])
        item_vectors = pop[:, None] * np.hstack([np.ones((train.n_items, 1)), self.genre_matrix_])
        return rank_vectors(
            query_vectors, item_vectors, k, metric="dot", exclude=self._exclusions(queries, exclude_known), candidates=cand, backend=self.backend
        )


    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """The two factors of ``item``'s score: its popularity and the user's share of its genres."""
        query, index = self._explain_args(query, item)
        assert self.genre_matrix_ is not None
        count = int(self._item_counts()[index])
        popular = f"{count} user{'s' if count != 1 else ''} interacted with it" if count else "no user interacted with it"
        (shares,) = self.genre_shares([query])
        if not shares.any():
            return f"popular: {popular} (nothing known of your genres: plain popularity, {self._place(index)})"
        mine = [(self.genres_[g], shares[g]) for g in np.flatnonzero(self.genre_matrix_[index] > 0) if shares[g] > 0]
        if not mine:
            return f"popular: {popular}, though none of its genres is among yours (weighted {self.global_weight:g})"
        mine.sort(key=lambda pair: (-pair[1], pair[0]))
        return f"popular in your genres: {', '.join(f'{g} ({share:.0%} of your taste)' for g, share in mine)}; {popular}"


class RandomRecommender(Recommender):
    """Uniformly random rankings, reproducible from ``seed``.

    Each query draws i.i.d. uniform scores for every item from a generator seeded by (seed, user,
    history, text), so every ordering is equally likely and the same query always gets the same
    list. The scores go through ``coldkit.topk`` as a one-dimensional catalogue (one call per
    query), so exclusions and candidates behave exactly as in every other model.

    Example::

        model = coldkit.models.create("random", seed=7).fit(train)
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = check_seed(seed)  # int(0.5) was seed 0, and -1 failed only at recommend

    def fit(self, train: Interactions) -> "RandomRecommender":
        self._remember(train)
        return self

    def _scores(self, query: UserQuery, n_items: int) -> np.ndarray:
        key = zlib.crc32(query.history.tobytes() + (query.text or "").encode("utf-8"))
        user = -1 if query.user is None else int(query.user)
        return np.random.default_rng([self.seed, user + 1, key]).random(n_items)

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        train = self._require_fitted()
        exclusions = self._exclusions(queries, exclude_known)
        out = empty_ranked(len(queries), k)
        for b, query in enumerate(queries):  # one scan per query: each query has its own random scores
            part = rank_vectors(
                np.ones((1, 1), dtype=np.float32),
                self._scores(query, train.n_items)[:, None],
                k,
                metric="dot",
                exclude=None if exclusions is None else [exclusions[b]],
                candidates=cand, backend=self.backend,
            )
            out.indices[b], out.scores[b] = part.indices[0], part.scores[0]
        return out
