"""Content → CF mapping for new items ("cold adapters").

A warm model scores ``p_u · q_i`` with a user vector ``p_u`` and an item vector ``q_i``
(see :class:`WarmSpace`). A cold item has content but no ``q_i``; an adapter learns
``f(content) ≈ q`` on the warm items and gives every brand-new item ``q̂_i = f(c_i)`` without
retraining anything:

* :class:`ColdRidge`: ``f`` linear, closed-form ridge regression (with intercept);
* :class:`ColdMLP`: ``f`` a small torch MLP trained with Adam on MSE (``loss="mse"``) or directly on
  the ranking objective (``loss="bpr"``: ``-log σ(p_u·(f(c_i) - f(c_j)))`` over a user's
  interaction ``i`` and a sampled non-interaction ``j``).

Items with few interactions blend the two: ``q̃_i = α_i q_i + (1 - α_i) q̂_i`` with
``α_i = n_i / (n_i + item_trust)``, so the CF vector takes over as evidence accumulates.

A new user's profile text has no place in a click space, so it counts as clicks on the warm items
nearest to it in content (:func:`add_text`; shared by every model here that folds users in from
clicks, and by the published adapters).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models._ranking import CandidateRows, CopyableLock, best_per_row, rank_sparse_rows, rank_vectors
from coldkit.models._vectors import (
    blend_by_count, column_blocks, interaction_rows, sparse_times_blocks, training_matrix, transposed, trust_by_count,
)
from coldkit.models.base import Recommender, item_title
from coldkit._stages import stage
from coldkit.models.content import ContentRecommender
from coldkit.models.factorized import ALS_ITERATIONS, AlsFoldIn, als_factors, have_implicit, sparse_svd_basis
from coldkit.models.memory import EASE_MAX_ITEMS, check_budget, estimate_warm_bytes, format_bytes, resolve_budget
from coldkit.models.neighbors import EASE, ItemKNN
from coldkit.plugins.types import Encoder, Ranked
from coldkit.validation import check_flag, check_k, check_number, check_options, check_seed

__all__ = [
    "WarmSpace", "ColdAdapter", "ColdRidge", "ColdKNN", "ColdMLP", "ridge_map", "WARM_KINDS",
    "text_clicks", "text_user_vectors", "add_text", "add_text_to_mean", "add_text_rows", "median_norm", "typical_user_norm",
]

WARM_KINDS = ("auto", "svd", "als", "ease", "item-knn", "interactions", "users", "popularity")

#: ``warm_options`` of the ``als`` warm model (passed to :func:`coldkit.models.factorized.als_factors`).
ALS_OPTIONS = frozenset({"regularization", "alpha", "iterations", "seed", "threads"})


def warm_option_names(kind: str) -> frozenset[str]:
    """The ``warm_options`` a warm model of ``kind`` takes: EASE's / item-kNN's constructor options,
    :data:`ALS_OPTIONS`, none for the spaces that are computed, not fitted (``svd`` has only ``factors``),
    and for ``"auto"`` those of either kind it may choose."""
    if kind in ("ease", "item-knn"):
        return frozenset(inspect.signature(EASE if kind == "ease" else ItemKNN).parameters)
    if kind == "als":
        return ALS_OPTIONS
    if kind == "auto":
        return warm_option_names("ease") | ALS_OPTIONS
    return frozenset()

def _check_als_options(options: dict[str, Any]) -> None:
    """The values of :data:`ALS_OPTIONS` in ``options`` (warm_options), checked as the EASE options are: before any
    fit, naming the option (implicit took ``threads=-2`` to an abort in libgomp, ``alpha=nan`` to a traceback
    after the fit, and fitted ``iterations=0`` into untrained factors without a word)."""
    try:
        if "iterations" in options:
            check_k(options["iterations"], "iterations")
        if "threads" in options and options["threads"] is not None:
            check_k(options["threads"], "threads")
        if "seed" in options:
            check_seed(options["seed"])
        if "alpha" in options:
            check_number(options["alpha"], "alpha", above=0)
        if "regularization" in options:
            check_number(options["regularization"], "regularization", at_least=0)
    except InvalidInputError as exc:
        raise InvalidInputError(f"warm_options: {exc}") from None


#: Above this many warm items the svd warm space switches from the exact Gram eigendecomposition
#: (dense users × items) to ARPACK on the sparse matrix.
EXACT_SVD_MAX = 5_000

#: ridge_map computes the cross term in float32 for targets wider than this (the EASE space).
WIDE_TARGETS = 512

#: A profile text counts as one click spread over this many warm items nearest to it in content.
TEXT_NEIGHBOURS = 10

#: The typical user norm a text is scaled to is a median over at most this many training users
#: (a fixed random sample beyond it: the norm is a statistic, not worth a fold-in of every user).
NORM_SAMPLE = 10_000

#: Warm spaces where a text adds nothing: ``popularity`` gives every user the same ``p_u = 1`` (no
#: personal dimension to move), ``users`` has one dimension per *training* user, and a new user (text
#: or clicks) has none of them.
TEXT_BLIND_KINDS = ("popularity", "users")

#: A content-kNN adapter searches its neighbours among at most this many warm items (a fixed
#: random sample beyond it), so mapping a catalogue costs O(items × pool), linear in the catalogue.
KNN_POOL = 10_000

#: Catalogue rows an adapter maps per step at most (bounds the temporaries of a 1M-item map).
MAP_ROWS = 65_536
#: ...and the bytes of one step's float32 output: in the EASE space a row is thousands of floats wide,
#: and a whole 10k-row step allocated (and page-faulted) several 250 MB temporaries per call.
MAP_STEP_BYTES = 32 << 20


def map_step_rows(width: int) -> int:
    """Rows per mapping step for item vectors ``width`` floats wide (:data:`MAP_ROWS`, :data:`MAP_STEP_BYTES`)."""
    return int(min(MAP_ROWS, max(256, MAP_STEP_BYTES // (4 * max(int(width), 1)))))


def choose_warm(
    n_users: int, n_items: int, n_warm: int, nnz: int, budget: int, factors: int = 64, item_tables: int = 1
) -> str:
    """The warm model ``warm="auto"`` picks: EASE where it fits the budget and is fast (at most
    :data:`EASE_MAX_ITEMS` warm items), else ALS (``svd`` when ``implicit`` is missing).

    ``item_tables``: the tables of item vectors held at once by the space and the models reading it
    (:func:`~coldkit.models.memory.estimate_warm_bytes`); EASE's are a column per warm item, so a
    large catalogue with few warm items can fit EASE's inverse and still not its adapters' tables.

    Raises:
        MemoryBudgetError: not even the factorised model fits the budget.
    """
    if n_warm <= EASE_MAX_ITEMS and estimate_warm_bytes("ease", n_users, n_items, n_warm, nnz, item_tables=item_tables) <= budget:
        return "ease"
    kind = "als" if have_implicit() else "svd"
    needed = estimate_warm_bytes(kind, n_users, n_items, n_warm, nnz, factors, item_tables)
    check_budget(
        f"the smallest warm model ({kind.upper()} on {n_items:,} items x {nnz:,} interactions)", needed, budget,
        "no model fits: raise --max-memory (or memory_budget=)",
    )
    return kind


def _right_singular_vectors(dense: np.ndarray, factors: int) -> np.ndarray:
    """The top ``factors`` right singular vectors of ``dense`` (users x items), as columns.

    Eigen-decomposes the *smaller* Gram matrix: exact and deterministic (no random start, unlike
    iterative SVD). With fewer users than items (ml-latest-small: 610 x 9.7k) the user-side Gram
    is ~250x cheaper, and ``V = X^T U / sigma`` recovers the item side.
    """
    n_users, n_items = dense.shape
    if n_users < n_items:
        eigenvalues, eigenvectors = np.linalg.eigh(dense @ dense.T)
        order = np.argsort(eigenvalues)[::-1][: min(factors, n_users)]
        order = order[eigenvalues[order] > 1e-9 * max(float(eigenvalues.max()), 1.0)]  # drop the null space
        sigma = np.sqrt(eigenvalues[order])
        return (dense.T @ eigenvectors[:, order]) / sigma
    eigenvalues, eigenvectors = np.linalg.eigh(dense.T @ dense)
    order = np.argsort(eigenvalues)[::-1][: min(factors, n_items)]
    return eigenvectors[:, order]


class WarmSpace:
    """The user and item vectors of a warm CF model, ``score(u, i) = p_u · q_i``.

    * ``"svd"`` (PureSVD, Cremonesi et al. 2010): ``q_i`` = row ``i`` of the top-``factors`` right
      singular vectors of the binarised matrix, ``p_u = x_u V`` (fold-in of any click list);
    * ``"als"``: implicit ALS factors (:mod:`coldkit.models.factorized`), ``p_u`` the ALS
      least-squares fold-in of any click list;
    * ``"ease"`` / ``"item-knn"``: ``p_u = x_u`` over warm items, ``q_i = S[:, i]`` (one dimension
      per warm item: quadratic memory, only for catalogues up to ~10⁴ items);
    * ``"auto"``: ``"ease"`` where it fits ``memory_budget`` and has at most
      :data:`~coldkit.models.memory.EASE_MAX_ITEMS` warm items, else ``"als"`` (see :func:`choose_warm`);
    * ``"interactions"``: ``p_u = x_u``, ``q_i = e_i`` (the identity: an item is its own column),
      so a content kNN map over it is plain content-based item-kNN;
    * ``"users"``: ``p_u = e_u`` (training users only), ``q_i = X[:, i]``: the map predicts *which
      users* will take a new item (no fold-in: a user unseen in training scores 0);
    * ``"popularity"``: ``p_u = 1``, ``q_i = log(1 + n_i)``: the map predicts how popular a new
      item will be from its content (a non-personalised prior that, unlike plain popularity,
      can rank cold items).

    Cold items get ``q_i = 0``. Before fitting, the model's peak memory is estimated and checked
    against ``memory_budget`` (bytes or ``"6G"``; default a share of the machine's RAM, see
    :mod:`coldkit.models.memory`): a model that does not fit fails at once with a message naming
    the option to change. ``options`` go to the warm model (EASE/item-kNN constructor options; for
    ``als``: ``regularization``, ``alpha``, ``iterations``, ``seed``, ``threads``).
    """

    def __init__(
        self,
        kind: str = "svd",
        factors: int = 64,
        options: dict[str, Any] | None = None,
        memory_budget: str | int | None = None,
    ) -> None:
        if kind not in WARM_KINDS:
            raise InvalidInputError(f"warm must be one of {WARM_KINDS}, got {kind!r}")
        # int(2.7) was 2 factors without a word, "16" a string taken, nan a conversion error naming no option
        factors = check_k(factors, "factors")
        self.requested = kind
        self.kind = kind  # "auto" becomes the chosen kind in fit()
        self.factors = factors
        self.options = check_options(options, "warm_options")
        # Checked here, not when the warm model is built: an unknown name was a TypeError traceback from
        # EASE.__init__ after the whole encoding (ease, item-knn, auto), or ignored without a word (svd...)
        taken = warm_option_names(kind)
        unknown = sorted(str(name) for name in set(self.options) - taken)
        if unknown:
            raise InvalidInputError(
                f"warm_options {unknown}: warm={kind!r} takes "
                + (", ".join(sorted(taken)) if taken else "none (use warm='als', 'ease' or 'item-knn' to set its options)")
            )
        if kind in ("ease", "item-knn", "auto"):  # a bad value (l2=-1) fails now too, not after the encoding
            neighbour_options = warm_option_names("ease" if kind == "auto" else kind)
            try:
                (ItemKNN if kind == "item-knn" else EASE)(**{k: v for k, v in self.options.items() if k in neighbour_options})
            except InvalidInputError as exc:
                raise InvalidInputError(f"warm_options: {exc}") from None
        if kind in ("als", "auto"):  # and ALS's values: threads=-2 aborted the process inside libgomp, iterations=0 fitted nothing
            _check_als_options(self.options)
        if memory_budget is not None:
            resolve_budget(memory_budget)  # a bad size fails at construction, not after loading data
        self.memory_budget = memory_budget
        # tables of item vectors held at once, this space's own included: the models reading the space
        # say how many they keep (a cold adapter two more, a hybrid's two adapters four), so the budget
        # check counts them before anything is allocated
        self.item_tables = 1
        self._kept_kind: str | None = None  # see keeping_kind
        self._validated_kind: str | None = None  # see choose_kind
        self._continuing = False  # see continuing
        self._carving = False  # see keeping_kind

    def check_fits(self, train: Interactions) -> None:
        """Raise :class:`~coldkit.models.memory.MemoryBudgetError` now if the warm model this space would
        fit on ``train`` does not fit the budget (a caller that first fits on a subset, such as the
        hybrid's validation carve, then fails early and names the whole data's sizes)."""
        counts = train.item_counts()
        self._check_memory(train, int(np.count_nonzero(counts)), int(train.matrix.nnz))

    @contextmanager
    def keeping_kind(self) -> Iterator["WarmSpace"]:
        """Fits inside keep the kind ``warm="auto"`` chose last (by :meth:`check_fits` on the whole data).

        The hybrid tunes on a validation carve, a subset with fewer warm items and interactions: chosen
        afresh, ``auto`` could give the carve EASE (under the item threshold, or inside the budget) and
        the whole data ALS, and the weights, penalties and stacker learned in one space then served
        the other (measured: 257 warm items in the carve, 285 in all, a threshold of 284).

        An ALS fit inside also keeps its user factors (users × factors floats) for :meth:`continuing`;
        a fit outside drops them.
        """
        self._kept_kind = self.kind if self.requested == "auto" else None
        self._carving = True  # an ALS fit inside keeps its user factors: the start of the fit on all data (continuing)
        try:
            yield self
        finally:
            self._kept_kind = None
            self._carving = False

    def choose_kind(self, kind: str | None) -> None:
        """Make ``warm="auto"`` fit ``kind`` from now on, in place of the size rule (None: the rule again).

        The hybrid compares its cold adapters over EASE and over ALS on its validation carve's pseudo-cold
        items and keeps the space that ranked them better (measured: lastfm-2k's long tail of artists,
        2,262 warm ones, where the size rule gives EASE, cold-item Recall@20 0.35 over EASE against
        0.42-0.44 over ALS). The caller has checked that ``kind`` fits the budget; inside
        :meth:`keeping_kind` the carve's next fits take it too.
        """
        if self.requested != "auto":
            raise InvalidInputError(f"choose_kind is for warm='auto'; this space was asked for {self.requested!r}")
        if kind is not None and (kind not in WARM_KINDS or kind == "auto"):
            raise InvalidInputError(f"choose_kind takes a kind of {[k for k in WARM_KINDS if k != 'auto']} or None, got {kind!r}")
        self._validated_kind = kind
        if kind is not None and self._kept_kind is not None:
            self._kept_kind = kind

    @contextmanager
    def continuing(self) -> Iterator["WarmSpace"]:
        """An ALS fit inside starts from the factors of this space's last ALS fit, for a third of the iterations.

        The hybrid's tuned fit fits ALS twice: on its validation carve (most of the interactions, inside
        :meth:`keeping_kind`, which keeps the user factors), then on all of them. Started from the carve's
        factors (an item the carve held out, or a user it did not have, from small random ones as a fresh
        fit), 5 iterations end below the training loss of 15 from scratch (measured: ml-20m's shape 0.01502
        against 0.01506, lastfm-2k 0.00931 against 0.00933), in a third of the time. Other kinds fit as always.
        """
        self._continuing = True
        try:
            yield self
        finally:
            self._continuing = False

    def _als_start(self, train: Interactions, last: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """(user, item) start factors over ``train``'s users and warm items from the ``last`` fit's
        (users, items, warm items), or None where there is none of this width."""
        if last is None:
            return None
        users, items, warm = last
        if items.shape[1] != self.factors:
            return None
        rng = np.random.default_rng(int(self._als.get("seed", 0)))
        # as a fresh fit starts (implicit's own draw): small positive values
        start_items = rng.random((self.warm_items_.size, self.factors), dtype=np.float32) * 0.01
        where = np.searchsorted(warm, self.warm_items_)
        known = (where < warm.size) & (warm[np.minimum(where, warm.size - 1)] == self.warm_items_)
        start_items[known] = items[where[known]]
        if users.shape[0] == train.n_users:
            start_users = users
        else:
            start_users = rng.random((train.n_users, self.factors), dtype=np.float32) * 0.01
        return start_users, start_items

    def _check_memory(self, train: Interactions, n_warm: int | None = None, nnz: int | None = None) -> None:
        budget = resolve_budget(self.memory_budget)
        if n_warm is None or nnz is None:
            n_warm, nnz = self.warm_items_.size, self.matrix_.nnz
        if self.requested == "auto":
            # a kept kind was checked on the whole data, of which this fit's data are a part; the size rule
            # checks its own choice; a validated kind (choose_kind) is checked below, as an asked one
            self.kind = self._kept_kind or self._validated_kind or choose_warm(train.n_users, train.n_items, n_warm, nnz, budget, self.factors, self.item_tables)
            other = sorted(set(self.options) - warm_option_names(self.kind))
            if other:  # the options were written for the kind "auto" did not choose: say so before any fit
                raise InvalidInputError(
                    f"warm='auto' chose {self.kind!r} for these data ({n_warm:,} warm items), which does not take "
                    f"warm_options {other}; pass warm='ease' or warm='als' to choose the kind they are for"
                )
            if self._kept_kind is not None or self._validated_kind is None:
                return
        needed = estimate_warm_bytes(self.kind, train.n_users, train.n_items, n_warm, nnz, self.factors, self.item_tables)
        alternative = "als" if have_implicit() else "svd"
        hint = (
            f"use --option warm={alternative} (warm=\"{alternative}\") or raise --max-memory"
            if self.kind in ("ease", "item-knn", "interactions", "users")
            else "raise --max-memory (or memory_budget=)"
        )
        held = f", with the {self.item_tables - 1} tables of item vectors the models on it keep," if self.item_tables > 1 else ""
        check_budget(f"warm model {self.kind!r} on {train.n_items:,} items ({n_warm:,} warm){held}", needed, budget, hint)

    def release_fit(self) -> None:
        """Drop the fitted item vectors (items × warm items floats for EASE) before a refit allocates
        new ones; the space is unusable until fitted again."""
        for name in ("item_vectors_", "_als_items", "_als_users", "_fitted_on", "_ease_setting"):  # set again by fit (absent before a first fit too)
            self.__dict__.pop(name, None)
        self.projection_: np.ndarray | None = None
        self._fold_in: AlsFoldIn | None = None
        self._last_fold_in: tuple[list[UserQuery], np.ndarray] | None = None

    def fit(self, train: Interactions) -> "WarmSpace":
        last = None
        if self._continuing and self.kind == "als" and "_als_users" in self.__dict__:
            # read before release_fit drops them
            last = (self.__dict__["_als_users"], self.__dict__["_als_items"], self.__dict__["warm_items_"])
        self.release_fit()
        self.matrix_ = training_matrix(train, binarize=True)
        self.counts_ = train.item_counts()
        self.warm_items_ = np.flatnonzero(self.counts_ > 0)
        if self.warm_items_.size == 0:
            raise InvalidInputError("the training data has no interaction: no warm item to learn from")
        self._check_memory(train)
        with stage(f"fit warm model {self.kind} ({self.warm_items_.size:,} warm items, {self.matrix_.nnz:,} interactions)"):
            self.item_vectors_ = self._fit_kind(train, last)
        self._fitted_on = train
        return self

    def ease_vectors(self, train: Interactions, l2: float, binarize: bool = True) -> np.ndarray | None:
        """This space's item vectors when they are exactly those of ``EASE(l2, binarize)`` fitted on
        ``train`` (the same object this space was fitted on), else ``None``: an ``ease`` model can
        then :meth:`~coldkit.models.neighbors.ItemItemModel.fit_from_vectors` them instead of
        inverting the same Gram matrix a second time."""
        if self.kind != "ease" or self.__dict__.get("_fitted_on") is not train:
            return None
        if self.__dict__.get("_ease_setting") != (float(l2), bool(binarize)):
            return None
        vectors: np.ndarray = self.item_vectors_
        return vectors

    def _fit_kind(self, train: Interactions, last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        if self.kind == "svd":
            warm_matrix = self.matrix_[:, self.warm_items_]
            if min(warm_matrix.shape) <= EXACT_SVD_MAX:  # exact and deterministic where the small Gram is cheap
                basis = _right_singular_vectors(np.asarray(warm_matrix.toarray(), dtype=np.float64), self.factors)
                # fix each axis' sign so results do not depend on the LAPACK build
                basis *= np.where(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])] < 0, -1.0, 1.0)
            else:
                basis = sparse_svd_basis(warm_matrix, self.factors)
            self.projection_ = basis.astype(np.float32)  # (n_warm, f)
            item = np.zeros((train.n_items, basis.shape[1]), dtype=np.float32)
            item[self.warm_items_] = basis
        elif self.kind == "als":
            unknown = set(self.options) - {"regularization", "alpha", "iterations", "seed", "threads"}
            if unknown:
                raise InvalidInputError(f"warm 'als' does not take option(s) {sorted(unknown)}")
            self._als = {"regularization": 0.05, "alpha": 10.0, **self.options}
            start = self._als_start(train, last)
            settings = dict(self._als)
            if start is not None:  # see continuing: a third of the iterations from a near start
                settings["iterations"] = max(1, round(int(settings.get("iterations", ALS_ITERATIONS)) / 3))
            users, factors = als_factors(self.matrix_[:, self.warm_items_], factors=self.factors, start=start, **settings)
            item = np.zeros((train.n_items, factors.shape[1]), dtype=np.float32)
            item[self.warm_items_] = factors
            self._als_items = factors
            if self._carving:  # only a continued fit reads them (10M users: 2.5 GB held for nothing otherwise)
                self._als_users = users
            self._fold_in = None  # built on first use (YᵀY + λI once)
        elif self.kind == "popularity":
            item = np.log1p(self.counts_.astype(np.float32))[:, None]
            self.projection_ = None
        elif self.kind == "users":
            item = np.ascontiguousarray(self.matrix_.T.toarray(), dtype=np.float32)
            self.projection_ = None
        elif self.kind == "interactions":
            item = np.zeros((train.n_items, self.warm_items_.size), dtype=np.float32)
            item[self.warm_items_, np.arange(self.warm_items_.size)] = 1.0
            self.projection_ = None
        else:
            model = (EASE if self.kind == "ease" else ItemKNN)(**self.options).fit(train)
            item = model.item_vectors()
            self.projection_ = None
            if isinstance(model, EASE):  # what ease_vectors compares a caller's EASE with
                self._ease_setting = (float(model.l2), bool(model.binarize))
        return item

    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f) ``p_u`` of each query from its training row and ``history`` clicks."""
        if self.kind == "popularity":
            return np.ones((len(queries), 1), dtype=np.float32)
        if self.kind == "users":
            out = np.zeros((len(queries), self.matrix_.shape[0]), dtype=np.float32)
            for b, query in enumerate(queries):
                if query.user is not None:
                    out[b, int(query.user)] = 1.0
            return out
        if self.kind == "als":
            # The hybrid's two adapters share this space and ask for the same batch, in turn or at once
            # (side by side): the least-squares fold-in (a small solve per user) is done once per batch,
            # not twice; the second asker waits for the first one's vectors. (setdefault: one lock even
            # when two threads arrive together; not made in __init__, which a subclass may not call.)
            with self.__dict__.setdefault("_fold_in_lock", CopyableLock()):
                last = getattr(self, "_last_fold_in", None)
                if last is not None and len(last[0]) == len(queries) and all(a is b for a, b in zip(last[0], queries)):
                    return np.array(last[1])
                rows = interaction_rows(queries, self.matrix_, columns=self.warm_items_, sparse=True)
                if getattr(self, "_fold_in", None) is None:
                    self._fold_in = AlsFoldIn(
                        self._als_items, self._als["regularization"], self._als["alpha"], threads=self._als.get("threads")
                    )
                assert self._fold_in is not None
                vectors = self._fold_in(rows)
                self._last_fold_in = (list(queries), vectors)
                return np.array(vectors)
        if self.projection_ is not None:
            rows = interaction_rows(queries, self.matrix_, columns=self.warm_items_, sparse=True)
            return np.asarray(rows @ self.projection_, dtype=np.float32)
        return interaction_rows(queries, self.matrix_, columns=self.warm_items_)


#: Rows per step of :func:`ridge_map`'s sums.
_RIDGE_ROWS = 32_768


def ridge_map(features: np.ndarray, targets: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge with an unpenalised intercept: ``targets ≈ features @ W + b``.

    Returns ``(W (d, f), b (f,))`` minimising ``||T - F W - b||² + l2 ||W||²``.
    """
    return ridge_solve(ridge_equations(features, targets), l2)


RidgeEquations = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]


def ridge_equations(features: np.ndarray, targets: np.ndarray, rows: np.ndarray | None = None) -> RidgeEquations:
    """The centred normal equations of :func:`ridge_map`: ``(FᵀF, FᵀT, mean F, mean T, F's shape)``.

    Everything but the penalty, so a search over ``l2`` (:func:`ridge_solve` each) reads the warm
    items' features and targets once: at 10k items that pass is most of a ridge fit's work.

    ``rows``: use only these rows of ``features`` and ``targets`` (the warm items of a catalogue's
    tables): the same equations as ``ridge_equations(features[rows], targets[rows])``, bit for bit,
    the features read a block at a time instead of gathered (1M items, 549k warm: 842 MB).
    """
    f = np.asarray(features)
    # Wide targets (EASE / item-kNN spaces: one column per warm item) take the cross term in
    # float32: it is d x warm items² multiply-adds and a float64 copy of the targets is warm
    # items² x 8 bytes. Factor targets (ALS, SVD: 64 columns) stay float64 throughout. The targets
    # are gathered: a fraction of the features' bytes at 1M items (64 columns), and a float64 block
    # of wide ones for their mean would be twice their size.
    dtype = np.float32 if np.shape(targets)[1] > WIDE_TARGETS else np.float64
    if rows is not None:
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    t = np.asarray(targets if rows is None else np.asarray(targets)[rows], dtype=dtype)
    if rows is not None and f.ndim == 2 and f.shape[1] <= 1:
        # one column is contiguous along the rows, and numpy sums it pairwise, not row after row as
        # _block_means does: gathered, it is a few bytes per row
        f, rows = f[rows], None
    n = f.shape[0] if rows is None else len(rows)

    def features_block(start: int) -> np.ndarray:
        picked = f[start : start + _RIDGE_ROWS] if rows is None else f[rows[start : start + _RIDGE_ROWS]]
        return np.asarray(picked, dtype=np.float64)

    f_mean = f.mean(axis=0, dtype=np.float64) if rows is None else _block_means(features_block, n, f.shape[1])
    t_mean = t.mean(axis=0, dtype=np.float64)
    t_shift = t_mean.astype(dtype)
    gram = np.zeros((f.shape[1], f.shape[1]))
    cross = np.zeros((f.shape[1], t.shape[1]))
    # A block of rows at a time, centred in float64: at 500k warm items a float64 copy of the
    # features is 1.5 GB, and allocating it cost more than the products (the sums are the same up
    # to the order of float64 additions)
    for start in range(0, n, _RIDGE_ROWS):
        fc = features_block(start) - f_mean
        gram += fc.T @ fc
        cross += fc.astype(dtype, copy=False).T @ (t[start : start + _RIDGE_ROWS] - t_shift)
    return gram, cross, f_mean, t_mean, (int(n), int(f.shape[1]))


def _block_means(block: Callable[[int], np.ndarray], n: int, width: int) -> np.ndarray:
    """Column means of ``n`` rows handed over as float64 blocks of :data:`_RIDGE_ROWS` (``block(start)``,
    a fresh array), with the bits of numpy's ``mean(axis=0, dtype=float64)`` of all the rows at once:
    numpy adds the rows one after another (its pairwise sums run only along a contiguous axis), so
    the running total is folded into each block's first row and the block summed on."""
    total = np.zeros(width)
    for start in range(0, n, _RIDGE_ROWS):
        rows = block(start)
        rows[0] += total
        total = rows.sum(axis=0)
    return total / n


def ridge_solve(equations: RidgeEquations, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of :func:`ridge_map` from its normal equations (left unchanged) and the penalty ``l2``."""
    gram, cross, f_mean, t_mean, shape = equations
    gram = gram.copy()
    gram[np.diag_indices_from(gram)] += l2
    singular = InvalidInputError(
        f"the content -> CF ridge map has no unique solution with l2={l2:g} ({shape[0]} warm items, "
        f"{shape[1]} content dimensions, some never used or collinear): use l2 > 0 (the option `l2` of cold-ridge, `adapter_l2` of the hybrid; default 10)"
    )
    try:
        weights = np.linalg.solve(gram, cross)
    except np.linalg.LinAlgError:  # only l2 = 0 can get here: any l2 > 0 makes the centred Gram positive definite
        raise singular from None
    if not np.isfinite(weights).all():  # numerically singular: solve "succeeds" with inf/NaN weights
        raise singular
    return weights, t_mean - f_mean @ weights


# ----------------------------------------------------------------------------- texts as clicks
#
# Why: a CF space knows users only by their clicks, so a text-only query (no clicks, no known user)
# folds in to the empty user, p_u = 0, and every item scores 0: a silent list in index order. These
# functions give a text a place in any click-based user space, the same way for every model that has
# one (the cold adapters, the bilinear model, the published adapters): the text stands for clicks on the
# TEXT_NEIGHBOURS warm items whose content is closest to it, weighted by their (positive) cosine
# similarity, ``t = Σ_j w_j p(click on j)``: one click beside the query's own clicks, a typical
# training user when it is all the query has (see add_text). Only the query's text and the public
# content are read.


#: A text "shares" something with an item only above this cosine similarity (below: float noise).
MIN_TEXT_SIMILARITY = 1e-4


def median_norm(vectors: np.ndarray) -> float:
    """Median L2 norm of the non-zero rows (1.0 when there are none)."""
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1)
    return float(np.median(norms[norms > 0])) if np.any(norms > 0) else 1.0


def typical_user_norm(
    fold_in: Callable[[Sequence[UserQuery]], np.ndarray], n_users: int, sample: int = NORM_SAMPLE, chunk: int = 1024
) -> float:
    """:func:`median_norm` of ``fold_in`` over the training users (a seeded sample of ``sample`` beyond
    that many), folded in ``chunk`` users at a time (an EASE-space user is a row over every warm item)."""
    users = np.arange(n_users)
    if n_users > sample:
        users = np.sort(np.random.default_rng(0).choice(n_users, size=sample, replace=False))
    norms = [
        np.linalg.norm(np.asarray(fold_in([UserQuery(user=int(u)) for u in users[s : s + chunk]]), dtype=np.float64), axis=1)
        for s in range(0, users.size, chunk)
    ]
    return median_norm(np.concatenate(norms)[:, None]) if norms else 1.0


def text_clicks(
    texts: Sequence[str], content: ContentRecommender, warm_items: np.ndarray, neighbours: int = TEXT_NEIGHBOURS
) -> sp.csr_matrix:
    """(T, n_warm) float64: each text as clicks on the ``neighbours`` warm items nearest to it in content.

    Column ``j`` is ``warm_items[j]``; the weights are the positive cosine similarities of the text
    and the items' content vectors, normalised to sum to 1 per text; a text that shares nothing with
    any warm item (no similarity above :data:`MIN_TEXT_SIMILARITY`) is a row of zeros: no click. Ties go to the lower index.
    """
    warm = np.asarray(warm_items, dtype=np.int64)
    width = min(int(neighbours), warm.size)
    if not len(texts) or width == 0:
        return sp.csr_matrix((len(texts), warm.size), dtype=np.float64)
    catalogue = transposed(content.item_vectors(), warm)
    parts = []
    for start in range(0, len(texts), 512):  # a chunk of texts x warm items of similarities at a time
        # one product (BLAS may round a text's similarities an ulp apart with other texts beside it; row by
        # row cost 20x: 512 texts x 100k warm items 0.31 -> 6.7 s, where batches of profile texts run)
        sims = content.encode_user_texts(list(texts[start : start + 512])) @ catalogue
        top = best_per_row(np.asarray(sims, dtype=np.float32), width)
        weights = np.take_along_axis(sims, top, axis=1).astype(np.float64)
        # float32 rounding leaves ~1e-8 where a text shares nothing with an item; normalised, that
        # noise would become a whole confident click on arbitrary items
        weights = np.where(weights > MIN_TEXT_SIMILARITY, weights, 0.0)
        totals = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
        rows = np.repeat(np.arange(top.shape[0]), width)
        parts.append(sp.csr_matrix((weights.ravel(), (rows, top.ravel())), shape=(top.shape[0], warm.size)))
    clicks = sp.vstack(parts, format="csr")
    clicks.eliminate_zeros()
    return clicks


def text_user_vectors(
    texts: Sequence[str],
    content: ContentRecommender,
    warm_items: np.ndarray,
    fold_in: Callable[[Sequence[UserQuery]], np.ndarray],
    width: int,
    clicks: sp.csr_matrix | None = None,
) -> np.ndarray:
    """(T, width) float64 user vector of each text: ``Σ_j w_j fold_in(click on j)`` over its
    :func:`text_clicks` (zero for a text without a click); ``clicks``: those already computed.

    ``fold_in`` maps queries to user vectors (a warm space's ``user_vectors``); it is asked only for the
    one-click users of the items the texts click. The weights sum to 1, so the vector is one click's
    worth; :func:`add_text` rescales a text that is all a query has.
    """
    warm = np.asarray(warm_items, dtype=np.int64)
    if clicks is None:
        clicks = text_clicks(texts, content, warm)
    clicked = np.unique(clicks.indices)
    if clicked.size == 0:
        return np.zeros((len(texts), width), dtype=np.float64)
    one_click = np.asarray(fold_in([UserQuery(history=warm[j : j + 1]) for j in clicked]), dtype=np.float64)
    return np.asarray(clicks[:, clicked] @ one_click, dtype=np.float64)


def add_text(
    queries: Sequence[UserQuery],
    base: np.ndarray,
    content: ContentRecommender,
    warm_items: np.ndarray,
    fold_in: Callable[[Sequence[UserQuery]], np.ndarray],
    norm: Callable[[], float] | None,
) -> np.ndarray:
    """``base`` (B, f: the queries' click-based user vectors, a *sum* over the clicks) with each query's
    text added as :func:`text_user_vectors`; ``base`` itself, untouched, when no query has a text.

    Beside clicks a text counts as **one** click (its weights sum to 1): a profile such as "a 25 year
    old artist" says less about taste than the items a user chose, and scaled up to a whole typical
    user it drowned 1–5 real clicks (cold-ridge on ml-100k at n = 5: Recall@20 0.154 → 0.047). A text
    alone is rescaled to ``norm()`` — a typical training user — because nonlinear user towers were
    trained on users of that size (for a linear score the scale does not change the ranking).
    ``norm`` is called (once) only when some query has nothing but a text (None: no rescaling).
    """
    rows = [b for b, query in enumerate(queries) if query.has_text]
    if not rows:
        return base
    out = np.array(base, dtype=np.float64)
    texts = [str(queries[b].text) for b in rows]
    text = text_user_vectors(texts, content, warm_items, fold_in, out.shape[1])
    alone = ~np.any(out[rows] != 0, axis=1)
    if norm is not None and alone.any():
        lengths = np.linalg.norm(text[alone], axis=1, keepdims=True)
        text[alone] = np.divide(text[alone] * float(norm()), lengths, out=np.zeros_like(text[alone]), where=lengths > 0)
    out[rows] += text
    return out


def add_text_to_mean(
    queries: Sequence[UserQuery],
    means: np.ndarray,
    counts: np.ndarray,
    content: ContentRecommender,
    warm_items: np.ndarray,
    fold_in: Callable[[Sequence[UserQuery]], np.ndarray],
    norm: Callable[[], float] | None,
    sqrt: bool = False,
) -> np.ndarray:
    """:func:`add_text` for spaces whose user vector is a *mean* over the clicks: ``means`` (B, f), each
    the sum over the query's ``counts`` (B,) clicks divided by ``n`` (``√n`` with ``sqrt``), as float32
    with the text as one more click, the division redone over ``n + 1`` where the text matched some
    item; ``means`` itself when no query has a text."""
    if not any(query.has_text for query in queries):
        return means

    def scale(n: np.ndarray) -> np.ndarray:
        return np.maximum(np.sqrt(n) if sqrt else n, 1.0)[:, None]

    counts = np.asarray(counts, dtype=np.float64)
    sums = np.asarray(means, dtype=np.float64) * scale(counts)
    with_text = add_text(queries, sums, content, warm_items, fold_in, norm)
    clicked = np.any(with_text != sums, axis=1).astype(np.float64)  # a text that matched some item
    return (with_text / scale(counts + clicked)).astype(np.float32)


def add_text_rows(
    queries: Sequence[UserQuery],
    rows: sp.csr_matrix,
    content: ContentRecommender,
    warm_items: np.ndarray,
    norm: Callable[[], float],
) -> sp.csr_matrix:
    """:func:`add_text` for spaces whose user vector *is* the click row over the warm items (EASE,
    item-kNN): there the one-click user of item ``j`` is ``e_j``, so a text's vector is its
    :func:`text_clicks` row itself — one click beside real clicks, rescaled to ``norm`` when it is all
    the query has — and stays sparse. ``rows`` itself when no query has a text."""
    with_text = [b for b, query in enumerate(queries) if query.has_text]
    if not with_text:
        return rows
    clicks = text_clicks([str(queries[b].text) for b in with_text], content, warm_items)
    alone = np.diff(rows.tocsr().indptr)[with_text] == 0
    scale = np.ones(len(with_text))
    if alone.any():
        norms = np.sqrt(np.asarray(clicks.multiply(clicks).sum(axis=1), dtype=np.float64).ravel())
        scale[alone] = np.divide(float(norm()), norms[alone], out=np.zeros(int(alone.sum())), where=norms[alone] > 0)
    placed = sp.csr_matrix(
        (scale, (np.asarray(with_text), np.arange(len(with_text)))), shape=(rows.shape[0], len(with_text))
    )
    return sp.csr_matrix(rows + placed @ clicks, dtype=np.float32)


#: Tables of item vectors (items × the warm space's width) a cold adapter keeps beside its warm space's
#: own: the blended vectors and their transposed copy that the sparse ranking over EASE columns reads.
ADAPTER_ITEM_TABLES = 2


class ColdAdapter(Recommender):
    """Shared parts of the adapters: warm space + content encoder + a learned map content → item vector."""

    def __init__(
        self,
        warm: str = "svd",
        factors: int = 64,
        warm_options: dict[str, Any] | None = None,
        encoder: str | Encoder = "hashing",
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        item_trust: float = 0.0,
        cache: bool = True,
        encoder_weights: Sequence[float] | None = None,
        memory_budget: str | int | None = None,
    ) -> None:
        self.warm = WarmSpace(warm, factors, warm_options, memory_budget=memory_budget)
        self.warm.item_tables = 1 + ADAPTER_ITEM_TABLES
        self.content = ContentRecommender(
            encoder, encoder_options, whitening=whitening, cache=cache, encoder_weights=encoder_weights
        )
        self.item_trust = check_number(item_trust, "item_trust", at_least=0)
        self._mapped: np.ndarray | None = None  # mapped_vectors_
        self._blended: np.ndarray | None = None  # item_vectors_
        # rows of the two arrays above not computed yet (None: all are; see _ensure_mapped)
        self._unmapped: np.ndarray | None = None
        self._map_features: np.ndarray | None = None  # the content vectors the pending rows are mapped from
        self._text_user_norm: float | None = None  # the norm a text is scaled to (see typical_user_norm)
        self._candidate_rows = CandidateRows()  # the last candidate set's item vectors (a batch run repeats it)

    @property
    def mapped_vectors_(self) -> np.ndarray | None:
        """(n_items, f) content-mapped vectors ``q̂`` of every item (None before fit).

        Computed on first read (the serving index is its one full reader; recommending needs only
        the blended :attr:`item_vectors_`), then kept.
        """
        if self._mapped is None and self._map_features is not None:
            features = self._map_features
            table = np.empty((features.shape[0], self._width()), dtype=np.float32)
            step = map_step_rows(table.shape[1])
            for start in range(0, table.shape[0], step):
                rows = np.arange(start, min(start + step, table.shape[0]))
                table[rows] = self._map_catalog(features[rows], rows)
            self._mapped = table
        return self._mapped

    @mapped_vectors_.setter
    def mapped_vectors_(self, vectors: np.ndarray | None) -> None:
        # a subclass that maps at fit time sets the whole table
        self._mapped, self._unmapped, self._map_features = vectors, None, None

    def _width(self) -> int:
        """Width of the item vectors (the warm space's)."""
        return int(self.warm.item_vectors_.shape[1])

    @property
    def item_vectors_(self) -> np.ndarray | None:
        """(n_items, f) item vectors: learned and content-mapped, blended by count (None before fit)."""
        self._ensure_mapped(None)
        return self._blended

    @item_vectors_.setter
    def item_vectors_(self, vectors: np.ndarray | None) -> None:
        self._blended, self._unmapped = vectors, None

    def _learn_map(self, features: np.ndarray, targets: np.ndarray, train: Interactions) -> None:
        raise NotImplementedError

    def map_content(self, features: np.ndarray) -> np.ndarray:
        """Item vectors ``q̂`` predicted from (whitened) content vectors (n, d)."""
        raise NotImplementedError

    def _map_catalog(self, features: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``q̂`` of the catalogue items ``items`` (their content vectors ``features``; an adapter may
        treat training items specially)."""
        return self.map_content(features)

    def release_fit(self) -> None:
        """Drop this adapter's item tables (each items × warm items floats on EASE) before a refit; the
        adapter is unusable until fitted again. The hybrid's final fit, after its validation fit, held
        both adapters' old tables (and their transposed copies) while EASE was refitted: ~1 GB at 10k items."""
        self._mapped = self._blended = self._unmapped = self._map_features = None
        self._columns_all: np.ndarray | None = None
        self._columns_last: tuple[np.ndarray, np.ndarray] | None = None
        self._candidate_rows = CandidateRows()

    def fit(self, train: Interactions) -> "ColdAdapter":
        train = self._remember(train)
        self.release_fit()
        self.warm.fit(train)
        given = all(getattr(e, "name", "") == "precomputed" for e in self.content.encoders)
        with stage(f"{'prepare' if given else 'encode'} {train.n_items:,} item {'vectors' if given else 'texts'}"):
            self.content.fit(train)
        return self._fit_map(train)

    def fit_sharing(self, train: Interactions, warm: WarmSpace, content: ContentRecommender) -> "ColdAdapter":
        """Fit only the map, reusing an already fitted warm space and content model (no second
        EASE inversion or encoding pass when a hybrid runs two adapters)."""
        train = self._remember(train)
        if self.warm.requested not in (warm.requested, warm.kind):
            raise InvalidInputError(f"shared warm space is {warm.kind!r}, this adapter expects {self.warm.requested!r}")
        self.release_fit()
        self.warm, self.content = warm, content
        return self._fit_map(train)

    def _fit_map(self, train: Interactions) -> "ColdAdapter":
        with stage(f"fit cold adapter {self.name} on {self.warm.kind} vectors"):
            return self._fit_map_now(train)

    def _fit_map_now(self, train: Interactions) -> "ColdAdapter":
        features = self.content.item_vectors()
        self._learn_map_rows(features, self.warm.item_vectors_, self.warm.warm_items_, train)
        return self._map_anew(train, features)

    def _learn_map_rows(self, features: np.ndarray, targets: np.ndarray, warm: np.ndarray, train: Interactions) -> None:
        """Learn the map from the rows ``warm`` of the catalogue's content ``features`` and warm-space
        ``targets``. Gathers them for :meth:`_learn_map`; an adapter that reads only some rows, or reads
        them a block at a time, overrides this (at 1M items the gathered features are 842 MB)."""
        self._learn_map(features[warm], targets[warm], train)

    def _map_anew(self, train: Interactions, features: np.ndarray) -> "ColdAdapter":
        """Forget every mapped row (a new map): they are computed again from ``features`` on demand."""
        # The catalogue is mapped on demand, the rows a request needs (_ensure_mapped): a run that
        # ranks only the new items of a 1M-item catalogue maps those 100k, not every warm item too.
        # Only the blended table is kept; the mapped one is made if read (mapped_vectors_).
        self._mapped = None
        self._blended = np.zeros((train.n_items, self._width()), dtype=np.float32)
        self._unmapped = np.ones(train.n_items, dtype=bool)
        self._map_features = features  # the content model's own table: a reference, not a copy
        self._candidate_rows = CandidateRows()  # not the old fit's table (it would stay in memory)
        self._columns_all = None
        self._columns_last = None
        self._text_user_norm = None  # computed on the first text query
        return self

    def _ensure_mapped(self, items: np.ndarray | None) -> None:
        """Compute the content-mapped and blended vectors of ``items`` (None: every item) not computed yet.

        Each row depends on its own item alone (the map is per item, the blend per row), so a row
        is the same whichever request computed it, up to float32 rounding: the linear map's matrix
        product is blocked by BLAS after the number of rows mapped together (measured: ~1e-7
        relative), and the kNN map's similarity scan by the SIMD kernel its batch size takes.
        """
        # Taken once: another caller (a second thread's recommend) may finish the map between our
        # steps; the arrays themselves stay valid (a refit replaces them, never edits them).
        features, blended_rows = self._map_features, self._blended
        pending = self._unmapped
        if pending is None:
            return
        assert features is not None and blended_rows is not None
        todo = np.flatnonzero(pending) if items is None else np.unique(np.asarray(items, dtype=np.int64)[pending[items]])
        known, counts = self.warm.item_vectors_, self.warm.counts_
        step = map_step_rows(blended_rows.shape[1])
        for start in range(0, todo.size, step):
            rows = todo[start : start + step]
            out = np.array(self._map_catalog(features[rows], rows), dtype=np.float32)  # ours to blend into
            # only items with interactions blend in a learned vector (α > 0): a new item keeps its mapped one
            seen = np.flatnonzero(counts[rows] > 0)
            if seen.size:
                out[seen] = blend_by_count(known[rows[seen]], out[seen], counts[rows[seen]], self.item_trust)
            blended_rows[rows] = out
            pending[rows] = False  # after the rows are written: a reader never sees a half-done row as done
        if not pending.any():
            self._unmapped = None

    def _vectors_for(self, items: np.ndarray | None) -> np.ndarray:
        """The item-vector table with (at least) the rows of ``items`` (None: all) computed."""
        self._require_fitted()
        self._ensure_mapped(items)
        assert self._blended is not None
        return self._blended

    def item_vectors(self) -> np.ndarray:
        """(n_items, f): CF vectors for warm items, content-mapped vectors for cold ones (blended by count)."""
        return self._vectors_for(None)

    def vector_for_text(self, texts: Sequence[str]) -> np.ndarray:
        """CF vectors of brand-new items described only by ``texts`` (no refit, no catalogue change)."""
        self._require_fitted()
        return np.asarray(self.map_content(self.content.encode_item_texts(list(texts))), dtype=np.float32)

    def _item_columns(self, cand: np.ndarray | None) -> np.ndarray:
        """(n_warm, C) C-contiguous item vectors of the candidates, transposed (all items, and the last
        candidate set asked for: cached — a batch run asks for the same candidates once per batch)."""
        if cand is not None:
            last = getattr(self, "_columns_last", None)
            if last is not None and np.array_equal(last[0], cand):
                return last[1]
            columns = transposed(self._vectors_for(cand), cand)
            self._columns_last = (np.array(cand, copy=True), columns)
            return columns
        if getattr(self, "_columns_all", None) is None:
            self._columns_all = transposed(self.item_vectors())
        assert self._columns_all is not None
        return self._columns_all

    def _typical_user_norm(self) -> float:
        """The L2 norm a text's user vector is scaled to: the median over the training users' ``p_u``
        (computed once, on the first text query; subclasses may fix it at fit time)."""
        if self._text_user_norm is None:
            train = self._require_fitted()
            self._text_user_norm = typical_user_norm(self.warm.user_vectors, train.n_users)
        return self._text_user_norm

    def warm_user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f) ``p_u`` of each query in the warm space: its training row and ``history`` clicks, plus
        its ``text`` counted as clicks on the warm items nearest to it in content (:func:`add_text`).

        Queries without text get exactly :meth:`WarmSpace.user_vectors`. In the ``popularity`` and
        ``users`` spaces (:data:`TEXT_BLIND_KINDS`) a text adds nothing.
        """
        queries = self._check_queries(queries)  # a public entry: bad indices get a clear error
        base = self.warm.user_vectors(queries)
        if self.warm.kind in TEXT_BLIND_KINDS:
            return base
        return add_text(queries, base, self.content, self.warm.warm_items_, self.warm.user_vectors, self._typical_user_norm)

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        exclude = self._exclusions(queries, exclude_known)
        if self.warm.kind in ("ease", "item-knn") and self.backend is None:
            # p_u is a sparse click row over the warm items: a sparse product, not a dense scan
            rows = interaction_rows(queries, self.warm.matrix_, columns=self.warm.warm_items_, sparse=True)
            rows = add_text_rows(queries, rows, self.content, self.warm.warm_items_, self._typical_user_norm)
            return rank_sparse_rows(rows, self._item_columns(cand), k, exclude=exclude, candidates=cand)
        return rank_vectors(
            self.warm_user_vectors(queries), self._vectors_for(cand), k, metric="dot", exclude=exclude,
            candidates=cand, backend=self.backend, candidate_rows=self._candidate_rows,
        )


    @classmethod
    def _explains(cls) -> bool:
        # the reasons below read this class's score, p_u · q_i: not a subclass that ranks otherwise
        return cls._recommend is ColdAdapter._recommend and cls.warm_user_vectors is ColdAdapter.warm_user_vectors

    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """Why ``item`` scores what it does for ``query``: ``score = p_u · q_i`` in the warm space.

        Both sides say what really entered the dot product. The item's: its CF vector, learned from
        its interactions, or (a new item) the vector the content map gave it, named by the known items
        whose CF vectors it lands nearest (cosine). The user's: the liked item with the largest share
        of the score (in the ``svd``, ``ease``, ``item-knn`` and ``interactions`` spaces ``p_u`` is a
        sum over the clicks, so each click's share is exact), or the words, which count as clicks on
        the warm items nearest them in content. In the ``als`` space the fold-in is no such sum: the
        liked item named is the one whose CF vector is closest to the item's. In the ``popularity``
        space the score is the (predicted) popularity alone; in ``users`` the item's entry for a
        training user.

        Subclasses that rank otherwise (the published adapters' user towers, the federated model)
        give no such reason: :class:`~coldkit.exceptions.NotExplainableError`.
        """
        if not self._explains():
            return super().explain(query, item)
        query, index = self._explain_args(query, item)
        train = self._require_fitted()
        vector = np.asarray(self._vectors_for(np.array([index]))[index], dtype=np.float64)
        count = int(self.warm.counts_[index])
        alpha = float(trust_by_count(np.array([count]), self.item_trust)[0])
        users = f"{count} user{'s' if count != 1 else ''} interacted with it"
        kind = self.warm.kind
        # what the content map gave the item: its whole vector for a new item (alpha 0), else only the part
        # the blend mixes in with its CF vector (the blended vector would name the blend, not the content)
        mapped = self._mapped_row(index) if 0 < alpha < 1 else vector
        if kind == "popularity":  # p_u = 1: the same score for every user
            predicted = max(0.0, float(np.expm1(mapped[0])))  # a map may predict a log-count below 0: no interaction
            if alpha == 0:
                return f"a new item whose content predicts about {predicted:.0f} interactions (cold-item popularity from content)"
            return f"popular: {users}" + ("" if alpha == 1 else f" (blended with the {predicted:.0f} its content predicts)")
        if kind == "users":  # p_u = e_u: the item's entry for a training user, 0 for anyone else
            if query.user is None:
                return "nothing ranks it for you: in the 'users' space only a training user has scores (all yours are 0)"
            # a blended item's vector is mostly its own column when it has interactions (alpha = c / (c + trust))
            side = (users if alpha == 1 else "its content predicts who will take it" if alpha == 0
                    else f"{users} ({1 - alpha:.0%} of its vector from its content)")
            return f"{side}; your score for it {vector[int(query.user)]:.2f}"
        reasons: list[str] = []
        warm = self.warm.warm_items_
        known = self._known_items(query)
        known = known[(self.warm.counts_[known] > 0) & (known != index)]  # clicks on cold items add nothing to p_u
        if known.size and kind in ("svd", "ease", "item-knn", "interactions"):
            # p_u is Σ_j p_(one click on j): each liked item's share of the score is exact
            shares = np.asarray(self.warm.user_vectors([UserQuery(history=known[j : j + 1]) for j in range(known.size)]), np.float64) @ vector
            if np.any(shares > 0):
                best = int(np.argmax(shares))
                reasons.append(f"because you liked {item_title(train, int(known[best]))} (its share of the score {shares[best]:.3g})")
        elif known.size:
            closeness = _cosines(self.warm.item_vectors_[known], vector)
            best = int(np.argmax(closeness))
            if closeness[best] > 0:
                reasons.append(
                    f"because you liked {item_title(train, int(known[best]))}, nearest to it in the {kind} space (cosine {closeness[best]:.2f})"
                )
        if query.has_text:
            clicks = text_clicks([str(query.text)], self.content, warm)
            # the same clicks: text_clicks copies the warm items' content vectors (a catalogue-sized table)
            text = text_user_vectors([str(query.text)], self.content, warm, self.warm.user_vectors, vector.size, clicks)[0]
            if clicks.nnz and float(text @ vector) > 0:
                top = clicks.indices[np.argsort(-clicks.data, kind="stable")[:2]]
                reasons.append("your words, read as clicks on " + " and ".join(item_title(train, int(warm[j])) for j in top))
        if alpha == 1:
            reasons.append(f"{users} (its CF vector)")
        else:
            # a new item's vector comes from its content alone: name where in the CF space the map put it
            # over the whole table (a cold row is zero: cosine 0), a step of rows at a time, and the best 3 by a
            # partition: a float64 copy of the warm rows and a sort of them took ~1 GB and 3 s at 1M items
            near = _cosines(self.warm.item_vectors_, mapped)[warm]
            order = [int(j) for j in best_per_row(near[None, :], 3)[0] if near[j] > 0 and warm[j] != index]
            place = f"near the CF vectors of {', '.join(item_title(train, int(warm[j])) for j in order[:2])}" if order else "nowhere near a known item"
            if alpha == 0:
                reasons.append(f"a new item: its content maps it {place}")
            else:
                reasons.append(f"{users} ({1 - alpha:.0%} of its vector from its content, mapped {place})")
        if len(reasons) == 1:  # only the item's side: nothing of the user's raised it
            reasons.insert(0, "nothing you liked or wrote adds to its score")
        return "; ".join(reasons)

    def _mapped_row(self, index: int) -> np.ndarray:
        """(f,) float64 content-mapped vector ``q̂`` of catalogue item ``index`` (before the blend by count)."""
        if self._mapped is not None:  # kept (read whole once, or set at fit by a subclass)
            return np.asarray(self._mapped[index], dtype=np.float64)
        assert self._map_features is not None
        return np.asarray(self._map_catalog(self._map_features[[index]], np.array([index]))[0], dtype=np.float64)


#: Rows per step of :func:`_cosines`: a float64 step of a 64-wide table is ~2 MB.
_COSINE_STEP_BYTES = 1 << 21


def _cosines(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """(n,) float64 cosine of each row of ``rows`` with ``vector`` (0 for a zero row or a zero vector).

    A step of rows at a time in float64: no float64 copy (nor squared copy) of a 1M-row table."""
    out = np.zeros(rows.shape[0])
    scale = float(np.linalg.norm(vector))
    if scale == 0 or rows.shape[0] == 0:
        return out
    step = max(64, _COSINE_STEP_BYTES // (8 * max(1, rows.shape[1])))
    for start in range(0, rows.shape[0], step):
        block = np.asarray(rows[start : start + step], dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block)) * scale
        np.divide(block @ vector, norms, out=out[start : start + step], where=norms > 0)
        del block  # before the next step's is made: one step in memory, not two
    return out


#: The rbf kernel's default width (``ColdRidge(kernel="rbf")``).
RBF_BANDWIDTH = 0.1


class ColdRidge(ColdAdapter):
    """Closed-form ridge map from content vectors to the warm model's item vectors.

    Options: ``warm`` (see :data:`WARM_KINDS`; default ``"svd"``), ``factors`` (svd rank),
    ``warm_options`` (options of the warm model), ``encoder``/``encoder_options``/``whitening``
    (as the ``content`` model), ``l2`` (ridge penalty), ``item_trust`` (see module docstring),
    ``kernel``: ``"linear"`` (default: ``W = (CᵀC + l2·I)⁻¹CᵀQ``) or ``"rbf"`` (kernel ridge with
    ``k(a, b) = exp((cos(a, b) - 1) / bandwidth)`` over the warm items: a smooth, local map).

    Example::

        model = coldkit.models.create("cold-ridge", encoder="hashing", l2=10.0).fit(train)
        vectors = model.vector_for_text(["A new animated comedy about talking cars"])
    """

    name = "cold-ridge"

    def __init__(self, l2: float = 10.0, kernel: str = "linear", bandwidth: float | None = None, **options: Any) -> None:
        super().__init__(**options)
        l2 = check_number(l2, "l2", at_least=0)
        if kernel not in ("linear", "rbf"):
            raise InvalidInputError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")
        if bandwidth is not None and kernel == "linear":  # the rbf kernel's width: the linear map has none, and ignored it
            raise InvalidInputError(f"bandwidth={bandwidth!r} is the rbf kernel's width; the linear map takes none (kernel='rbf' to use it)")
        bandwidth = RBF_BANDWIDTH if bandwidth is None else check_number(bandwidth, "bandwidth", above=0)
        self.l2, self.kernel, self.bandwidth = float(l2), kernel, float(bandwidth)
        # the last fit's normal equations, kept only while a caller searches the penalty (keep_equations)
        self.keep_equations = False
        self._equations: RidgeEquations | None = None

    def use_penalty(self, l2: float) -> "ColdRidge":
        """Re-learn the (linear) map with penalty ``l2`` on this fit's warm vectors and content.

        Needs the normal equations of the fit (``keep_equations = True`` before it): the hybrid
        searches the penalty on its validation split this way, one solve per value tried. The
        catalogue's mapped vectors are recomputed on demand, as after a fit.
        """
        if self.kernel != "linear" or self._equations is None:
            raise InvalidInputError("use_penalty needs a linear cold-ridge fitted with keep_equations = True")
        self.l2 = check_number(l2, "l2", at_least=0)
        self.weights_, self.intercept_ = ridge_solve(self._equations, self.l2)
        assert self._map_features is not None
        self._map_anew(self._require_fitted(), self._map_features)
        return self

    def forget_equations(self) -> None:
        """Drop the normal equations kept for :meth:`use_penalty` (d × warm items floats)."""
        self._equations = None

    def release_fit(self) -> None:
        super().release_fit()
        self._equations = None

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # cos ≤ 1, but a unit vector's rounded self-product can be 1 + 1e-16: divided by a tiny
        # bandwidth that overflowed exp to inf, and the NaN that followed was blamed on the catalogue
        cosine = np.minimum(np.asarray(a, np.float64) @ np.asarray(b, np.float64).T, 1.0)
        return np.exp((cosine - 1.0) / self.bandwidth)

    def _learn_map_rows(self, features: np.ndarray, targets: np.ndarray, warm: np.ndarray, train: Interactions) -> None:
        if self.kernel == "linear":  # the normal equations read the warm rows a block at a time
            self._learn_linear(ridge_equations(features, targets, rows=warm))
        else:
            super()._learn_map_rows(features, targets, warm, train)

    def _learn_linear(self, equations: RidgeEquations) -> None:
        self._equations = equations if self.keep_equations else None
        self.weights_, self.intercept_ = ridge_solve(equations, self.l2)

    def _learn_map(self, features: np.ndarray, targets: np.ndarray, train: Interactions) -> None:
        if self.kernel == "linear":
            self._learn_linear(ridge_equations(features, targets))
            return
        self._support = np.asarray(features, dtype=np.float64)
        t = np.asarray(targets, dtype=np.float64)
        self.intercept_ = t.mean(axis=0)
        gram = self._kernel(self._support, self._support)
        gram[np.diag_indices_from(gram)] += max(self.l2, 1e-6)
        self.weights_ = np.linalg.solve(gram, t - self.intercept_)

    def map_content(self, features: np.ndarray) -> np.ndarray:
        if self.kernel == "linear":
            # float32 product: on EASE targets this is items × d × warm items multiply-adds
            mapped = np.asarray(features, dtype=np.float32) @ self.weights_.astype(np.float32)
            mapped += self.intercept_.astype(np.float32)
            return mapped
        return self._kernel(features, self._support) @ self.weights_ + self.intercept_


class ColdKNN(ColdAdapter):
    """Non-parametric map: a new item's CF vector is the similarity-weighted mean of the CF vectors
    of its ``neighbors`` nearest warm items in content space.

    ``q̂_i = sum_j w_ij q_j`` with ``w_ij ∝ max(cos(c_i, c_j), 0) ** power`` over the nearest warm
    items ``j != i`` (weights sum to 1 when ``normalize``, else raw similarities). Nothing is
    trained; the neighbour search runs in the similarity core. With ``warm="interactions"`` this
    is content-based item-kNN; with ``warm="ease"`` a cold item borrows the EASE columns of the
    warm items that read most like it.

    ``pool``: neighbours are searched among at most this many warm items (default
    :data:`KNN_POOL`; a fixed random sample of the warm items beyond it, ``None`` = all). Mapping
    the catalogue is a scan of items × pool, so the cap keeps it linear in the catalogue: without
    it 1M items × 900k warm items would be ~10¹² similarity rows.

    Example::

        model = coldkit.models.create("cold-knn", warm="ease", neighbors=30).fit(train)
    """

    name = "cold-knn"

    def __init__(
        self, neighbors: int = 50, power: float = 1.0, normalize: bool = False, pool: int | None = KNN_POOL,
        warm: str = "ease", **options: Any,
    ) -> None:
        # ``warm`` is spelled out (not an options.setdefault) so that get_params()/repr report the
        # "ease" this model really uses, not the "svd" default of the adapter base class.
        super().__init__(warm=warm, **options)
        # integers, not truncated (neighbors=2.5 was 2) nor read from strings (pool="10")
        self.pool = None if pool is None else check_k(pool, "pool")
        neighbors = check_k(neighbors, "neighbors")
        power = check_number(power, "power", above=0)
        # normalize="no" (or nan, -1) was bool()-ed to True: weights summing to 1 that nobody asked for
        self.neighbors, self.power, self.normalize = neighbors, float(power), check_flag(normalize, "normalize")

    def _learn_map(self, features: np.ndarray, targets: np.ndarray, train: Interactions) -> None:
        self._learn_map_rows(features, targets, np.arange(len(features)), train)

    def _learn_map_rows(self, features: np.ndarray, targets: np.ndarray, warm: np.ndarray, train: Interactions) -> None:
        # only the pool's rows are read, not a copy of every warm item's features (1M items: 842 MB)
        n_warm = len(warm)
        if self.pool is not None and n_warm > self.pool:
            keep = np.sort(np.random.default_rng(0).choice(n_warm, self.pool, replace=False))
        else:
            keep = np.arange(n_warm)
        self._pool_rows = keep  # positions (among the warm items) of the searched neighbours
        self._warm_features = np.ascontiguousarray(features[warm[keep]], dtype=np.float32)
        # in blocks of columns: the map's sparse product reads them a block at a time (see sparse_times_blocks)
        self._warm_targets = column_blocks(targets, warm[keep])

    def neighbour_weights(self, features: np.ndarray, items: np.ndarray | None = None) -> sp.csr_matrix:
        """(n, n_warm) sparse weights of each row's nearest warm items.

        ``items``: the catalogue indices of the rows, when they are catalogue items: a warm item then
        never counts itself as a neighbour (it must not borrow its own vector).
        """
        from coldkit.similarity import topk

        feats = np.ascontiguousarray(features, dtype=np.float32)
        train = self._require_fitted()
        exclude = None
        if items is not None:
            position = np.full(train.n_items, -1, dtype=np.int64)
            position[self.warm.warm_items_[self._pool_rows]] = np.arange(self._pool_rows.size)
            exclude = [np.array([p]) if p >= 0 else np.empty(0, np.int64) for p in position[items]]
        k = min(self.neighbors, self._warm_features.shape[0])
        sims, nbrs = topk(feats, self._warm_features, k, metric="dot", exclude=exclude)
        valid = (nbrs >= 0) & np.isfinite(sims)
        w = np.where(valid, np.maximum(sims, 0.0), 0.0) ** self.power
        if self.normalize:
            total = w.sum(axis=1, keepdims=True)
            w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        rows = np.repeat(np.arange(feats.shape[0]), nbrs.shape[1])
        return sp.csr_matrix(
            (w.ravel(), (rows, np.where(valid, nbrs, 0).ravel())), shape=(feats.shape[0], self._warm_features.shape[0])
        )

    def map_content(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(sparse_times_blocks(self.neighbour_weights(features), self._warm_targets), dtype=np.float32)

    def _map_catalog(self, features: np.ndarray, items: np.ndarray) -> np.ndarray:
        # a warm catalogue item must not borrow its own CF vector
        return np.asarray(sparse_times_blocks(self.neighbour_weights(features, items), self._warm_targets), dtype=np.float32)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ColdkitError(
            "model 'cold-mlp' needs PyTorch: pip install torch (or use 'cold-ridge', which needs nothing)"
        ) from exc
    return torch


class ColdMLP(ColdAdapter):
    """A small torch MLP from content vectors to the warm model's item vectors.

    Options (besides those of :class:`ColdRidge` except ``l2``): ``loss`` (``"bpr"`` or
    ``"mse"``), ``hidden`` (units of the hidden layer), ``epochs``, ``lr`` (Adam), ``batch_size``,
    ``weight_decay``, ``seed`` (training is deterministic for a seed on CPU), ``threads`` (torch
    intra-op threads during training).

    Example::

        model = coldkit.models.create("cold-mlp", loss="bpr", epochs=10, seed=0).fit(train)
    """

    name = "cold-mlp"

    def __init__(
        self,
        loss: str = "bpr",
        hidden: int = 256,
        epochs: int = 10,
        lr: float = 1e-3,
        batch_size: int = 1024,
        weight_decay: float = 1e-5,
        seed: int = 0,
        threads: int | None = 1,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if loss not in ("bpr", "mse"):
            raise InvalidInputError(f"loss must be 'bpr' or 'mse', got {loss!r}")
        # checked as the published models check theirs: int(2.5) was 2 without a word, and a negative or
        # NaN weight_decay, threads=-1 or "abc" failed only at fit, inside torch (ValueError/RuntimeError)
        hidden, epochs, batch_size = (check_k(v, label) for v, label in ((hidden, "hidden"), (epochs, "epochs"), (batch_size, "batch_size")))
        if not lr > 0:
            raise InvalidInputError(f"lr must be > 0, got {lr}")
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not (np.isfinite(weight_decay) and weight_decay >= 0):
            raise InvalidInputError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidInputError(f"threads must be None or an integer >= 1, got {threads!r}")
        _import_torch()  # fail at construction, with a clear message, when torch is missing
        self.loss, self.hidden, self.epochs = loss, hidden, epochs
        self.lr, self.batch_size, self.weight_decay = float(lr), batch_size, float(weight_decay)
        self.seed, self.threads = check_seed(seed), threads  # int(0.5) was seed 0, silently
        self.losses_: list[float] = []

    def _learn_map(self, features: np.ndarray, targets: np.ndarray, train: Interactions) -> None:
        torch = _import_torch()
        from tqdm.auto import tqdm

        previous_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            generator = torch.Generator().manual_seed(self.seed)
            torch.manual_seed(self.seed)
            d_in, d_out = features.shape[1], targets.shape[1]
            # weights, their gradients and Adam's two moments, float32: hidden=10**12 was a torch
            # RuntimeError traceback ("you tried to allocate 4096000000000000 bytes") naming no option
            weights = (d_in + 1) * self.hidden + (self.hidden + 1) * d_out
            check_budget(
                f"cold-mlp's network ({d_in:,} -> hidden={self.hidden:,} -> {d_out:,})", 16 * weights,
                resolve_budget(self.warm.memory_budget), "choose a smaller hidden",
            )
            net = torch.nn.Sequential(
                torch.nn.Linear(d_in, self.hidden), torch.nn.GELU(), torch.nn.Linear(self.hidden, d_out)
            )
            optimiser = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            x = torch.as_tensor(np.asarray(features, dtype=np.float32))
            y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
            # train in unit scale; map_content scales back. One target value (a single warm item with a
            # one-dimensional vector) has no std: torch's NaN made every mapped vector NaN, and the fit
            # ended in "catalog contains NaN or infinite values" naming nothing the user could change
            spread = float(y.std()) if y.numel() > 1 else 0.0
            scale = spread if np.isfinite(spread) and spread > 0 else 1.0
            y = y / scale
            if self.loss == "bpr":
                users, positives = self._pairs(train)
                user_vecs = torch.as_tensor(self.warm.user_vectors([UserQuery(user=int(u)) for u in range(train.n_users)]))
                user_vecs = user_vecs / (user_vecs.norm(dim=1, keepdim=True) + 1e-8)
            self.losses_ = []
            for _ in tqdm(range(self.epochs), desc="cold-mlp", leave=False, disable=None):
                if self.loss == "mse":
                    order = torch.randperm(x.shape[0], generator=generator)
                    total = 0.0
                    for start in range(0, len(order), self.batch_size):
                        batch = order[start : start + self.batch_size]
                        loss = torch.nn.functional.mse_loss(net(x[batch]), y[batch])
                        optimiser.zero_grad()
                        loss.backward()
                        optimiser.step()
                        total += loss.item() * len(batch)
                    self.losses_.append(total / len(order))
                else:
                    order = torch.randperm(len(users), generator=generator)
                    negatives = torch.randint(0, x.shape[0], (len(users),), generator=generator)
                    total = 0.0
                    for start in range(0, len(order), self.batch_size):
                        batch = order[start : start + self.batch_size]
                        p = user_vecs[users[batch]]
                        pos = (p * net(x[positives[batch]])).sum(dim=1)
                        neg = (p * net(x[negatives[batch]])).sum(dim=1)
                        loss = -torch.nn.functional.logsigmoid(pos - neg).mean()
                        optimiser.zero_grad()
                        loss.backward()
                        optimiser.step()
                        total += loss.item() * len(batch)
                    self.losses_.append(total / len(order))
            self._net = net.eval()
            self._scale = scale
        finally:
            torch.set_num_threads(previous_threads)

    def _pairs(self, train: Interactions) -> tuple[Any, Any]:
        """(user, warm-item position) of every training interaction, as torch index tensors."""
        torch = _import_torch()
        coo = self.warm.matrix_.tocoo()
        position = np.full(train.n_items, -1, dtype=np.int64)
        position[self.warm.warm_items_] = np.arange(self.warm.warm_items_.size)
        return torch.as_tensor(coo.row.astype(np.int64)), torch.as_tensor(position[coo.col])

    def map_content(self, features: np.ndarray) -> np.ndarray:
        torch = _import_torch()
        with torch.no_grad():
            out = self._net(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()
        return out.astype(np.float64) * self._scale


def bilinear_ridge(
    left: np.ndarray, right: np.ndarray, targets: np.ndarray, l2: float
) -> np.ndarray:
    """Closed-form ``W = argmin ||T - L W Rᵀ||² + l2 ||W||²`` (``L`` (m, a), ``R`` (n, b), ``T`` (m, n)).

    With thin SVDs ``L = U₁S₁V₁ᵀ`` and ``R = U₂S₂V₂ᵀ`` the problem decouples per pair of singular
    directions: ``W = V₁ [ s₁ᵢ s₂ⱼ / (s₁ᵢ² s₂ⱼ² + l2) ∘ (U₁ᵀ T U₂) ] V₂ᵀ``.
    """
    u1, s1, v1t = np.linalg.svd(np.asarray(left, dtype=np.float64), full_matrices=False)
    u2, s2, v2t = np.linalg.svd(np.asarray(right, dtype=np.float64), full_matrices=False)
    core = u1.T @ (targets @ u2) if not hasattr(targets, "tocsr") else u1.T @ np.asarray(targets @ u2)
    outer = np.outer(s1, s2)
    core *= outer / (outer**2 + l2)
    return v1t.T @ core @ v2t


class ContentBilinear(Recommender):
    """Collaboratively trained content model: ``score(u, i) = (x̄_u C) W c_iᵀ``.

    ``x̄_u C`` is the mean content vector of the user's items, ``c_i`` the item's content vector
    (both with a constant 1 appended, so ``W`` also learns a content-predicted popularity), and
    ``W`` the closed-form ridge solution of ``X ≈ (X̄ C) W C_warmᵀ`` over all warm items — EASE's
    "reconstruct the interaction matrix" objective, but through content, so an item scores the
    moment it has a description. New users fold in through their clicks.

    Options: ``encoder``/``encoder_options``/``whitening`` (as ``content``), ``l2``,
    ``user_norm`` (``"mean"`` or ``"sqrt"``: divide the user's summed content by ``n`` or ``√n``).

    Example::

        model = coldkit.models.create("bilinear", encoder="hashing", l2=100.0).fit(train)
    """

    name = "bilinear"

    def __init__(
        self,
        encoder: str | Encoder = "hashing",
        encoder_options: dict[str, Any] | None = None,
        whitening: str = "center",
        l2: float = 100.0,
        user_norm: str = "mean",
        cache: bool = True,
    ) -> None:
        self.content = ContentRecommender(encoder, encoder_options, whitening=whitening, cache=cache)
        l2 = check_number(l2, "l2", at_least=0)
        if user_norm not in ("mean", "sqrt"):
            raise InvalidInputError(f"user_norm must be 'mean' or 'sqrt', got {user_norm!r}")
        self.l2, self.user_norm = float(l2), user_norm

    def _features(self) -> np.ndarray:
        vectors = self.content.item_vectors()
        return np.hstack([vectors, np.ones((vectors.shape[0], 1), dtype=np.float32)])

    def _user_side(self, rows: Any) -> np.ndarray:
        counts = np.asarray(rows.sum(axis=1)).reshape(-1, 1).astype(np.float64)
        scale = counts if self.user_norm == "mean" else np.sqrt(counts)
        summed = np.asarray(rows @ self._features(), dtype=np.float64)
        return np.divide(summed, scale, out=np.zeros_like(summed), where=scale > 0)

    def fit(self, train: Interactions) -> "ContentBilinear":
        train = self._remember(train)
        self.content.fit(train)
        self._matrix = training_matrix(train, binarize=True)
        warm = np.flatnonzero(train.item_counts() > 0)
        users = self._user_side(self._matrix)
        self.weights_ = bilinear_ridge(users, self._features()[warm], self._matrix[:, warm], self.l2)
        self.item_vectors_ = np.ascontiguousarray(self._features() @ self.weights_.T, dtype=np.float32)
        self._warm_items, self._text_user_norm = warm, median_norm(users)
        return self

    def _click_user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, d+1) float32 the mean content vector (plus the constant) of each query's known items."""
        rows = sp.csr_matrix(interaction_rows(queries, self._matrix))
        return self._user_side(rows).astype(np.float32)

    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, d+1) the mean content vector (plus the constant) of each query's known items, its ``text``
        counted as one more click spread over the warm items nearest to it in content (:func:`add_text`)."""
        queries = self._check_queries(queries)  # a public entry: bad indices get a clear error
        base = self._click_user_vectors(queries)
        if not any(query.has_text for query in queries):
            return base
        counts = np.asarray(sp.csr_matrix(interaction_rows(queries, self._matrix)).sum(axis=1), dtype=np.float64).ravel()
        return add_text_to_mean(queries, base, counts, self.content, self._warm_items, self._click_user_vectors,
                                lambda: self._text_user_norm, sqrt=self.user_norm == "sqrt")

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        return rank_vectors(
            self.user_vectors(queries),
            self.item_vectors_,
            k,
            metric="dot",
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand, backend=self.backend,
        )
