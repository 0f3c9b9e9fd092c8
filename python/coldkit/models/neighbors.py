"""Neighbourhood collaborative filtering: item-based and user-based kNN, plus EASE.

Item-item models (item-kNN, EASE) learn a matrix ``S`` over the *warm* items (those with at least
one training interaction) and score ``score(u, i) = sum_j x_uj S[j, i]`` where ``x_u`` is the user's
interaction row: the training row of a warm user plus any ``UserQuery.history`` clicks. A new
user's clicks therefore fold in without refitting. Cold items have no column in ``S`` and score 0.

Sizes: EASE's ``S`` is dense by nature (an inverse), so it checks its memory estimate against
``memory_budget`` before allocating (:mod:`coldkit.models.memory`). Item-kNN keeps ``S`` sparse
(``neighbors`` entries per column): similarities are computed one block of target columns at a
time (a sparse product) and pruned to the top ``neighbors`` before the next block, so no
items×items matrix is ever held, and scoring multiplies sparse rows by sparse ``S``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import InvalidInputError
from coldkit.models._ranking import best_per_row, empty_ranked, pad_ranked, rank_vectors
from coldkit.models._vectors import interaction_rows, training_matrix, transposed
from coldkit.models.factorized import default_threads
from coldkit.models.base import Recommender, item_title
from coldkit.models.memory import check_budget, estimate_warm_bytes, resolve_budget
from coldkit.plugins.types import Ranked
from coldkit.validation import check_flag, check_k, check_number

__all__ = [
    "ItemItemModel", "ItemKNN", "NeighbourVoting", "UserKNN", "EASE", "similarity_matrix", "keep_top_per_column",
    "sparse_item_similarities", "cholesky_inverse", "ease_weights", "gram_plus_ridge",
]

#: Item-kNN guesses a column's k-th largest similarity from a sample of its entries, as the
#: sample's KTH_SAMPLE_DEPTH-th largest (see ``_at_least_kth``): deep enough that the guess is almost
#: never too high (it is checked, so a bad guess costs time only), shallow enough that the sample is small.
KTH_SAMPLE_DEPTH = 32
#: At most this many item-kNN blocks are computed at once (the sparse products gain little beyond a few cores,
#: and memory grows with every block in flight).
MAX_KNN_THREADS = 4
#: Bytes a block of the sparse cosine path can hold, as a multiple of its dense size: where co-occurrence is
#: dense (popular items, heavy users) each product entry carries its sparse index, its row and column, its
#: norm and similarity, and the copies the pruning makes (measured 12.1x with tracemalloc, 30 % density).
#: Charged for every block run beside the first; the first keeps the estimate it always had.
SPARSE_BLOCK_FACTOR = 12
#: Bytes of one dense block of similarities (items × block columns, float64) in the sparse item-kNN fit.
BLOCK_BYTES = 128 * 2**20

SIMILARITIES = ("cosine", "pearson")


def _check_similarity(similarity: str) -> str:
    if similarity not in SIMILARITIES:
        raise InvalidInputError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    return similarity


def _check_shrinkage(shrinkage: float) -> float:
    return check_number(shrinkage, "shrinkage", at_least=0)


def similarity_matrix(
    left: np.ndarray, right: np.ndarray, similarity: str, shrinkage: float = 0.0
) -> np.ndarray:
    """(a, b) similarity of the rows of ``left`` (a, d) and ``right`` (b, d), float64.

    ``cosine`` is the cosine of the raw rows; ``pearson`` is the correlation of the rows (each row
    centred on its mean over all d entries, zeros included, which is what implicit 0/1 data
    needs). ``shrinkage`` multiplies each similarity by ``n / (n + shrinkage)``, ``n`` the number
    of dimensions where both rows are non-zero (co-raters), so similarities backed by few
    co-occurrences are damped. A zero-variance row has similarity 0 with everything.
    """
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    if similarity == "pearson":
        lc = left - left.mean(axis=1, keepdims=True)
        rc = right - right.mean(axis=1, keepdims=True)
    else:
        lc, rc = left, right
    dots = lc @ rc.T
    ln = np.linalg.norm(lc, axis=1)
    rn = np.linalg.norm(rc, axis=1)
    denom = np.outer(ln, rn)
    sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 1e-12)
    if shrinkage > 0:
        co = (left != 0).astype(np.float64) @ (right != 0).astype(np.float64).T
        sims *= co / (co + shrinkage)
    return sims


def keep_top_per_column(matrix: np.ndarray, k: int | None) -> np.ndarray:
    """Zero every entry of each column except its ``k`` largest (ties broken by lower row index)."""
    if k is None or k >= matrix.shape[0]:
        return matrix
    # stable sort on -value keeps lower row index first among ties; one vectorised call, no loop
    order = np.argsort(-matrix, axis=0, kind="stable")[:k]
    pruned = np.zeros_like(matrix)
    cols = np.broadcast_to(np.arange(matrix.shape[1]), order.shape)
    pruned[order, cols] = matrix[order, cols]
    return pruned


def _top_per_column_mask(block: np.ndarray, k: int, nonzero: bool = False) -> np.ndarray:
    """Mask of each column's ``k`` largest entries, ties broken by lower row index (as
    :func:`keep_top_per_column`), in O(rows × cols) with ``argpartition`` instead of a full sort.

    ``nonzero``: the mask also drops every zero entry (``mask & (block != 0)``). Then a column
    whose ``k``-th largest value is 0 — an item with fewer than ``k`` co-occurring items, most of
    them in sparse data — needs no tie-break among its zeros, and only the columns whose ties do
    not all fit pay for the cumulative count (on lastfm-2k the count over every column was a
    quarter of item-kNN's fit).
    """
    kth = -np.partition(-block, k - 1, axis=0)[k - 1]  # each column's k-th largest value
    greater = block > kth
    ties = block == kth
    if nonzero:
        ties &= (kth != 0)[None, :]
    room = k - greater.sum(axis=0)
    keep = greater | ties
    over = np.flatnonzero(ties.sum(axis=0) > room)  # columns where not every tie fits: lower rows first
    if over.size:
        tied = ties[:, over]
        keep[:, over] = greater[:, over] | (tied & (np.cumsum(tied, axis=0) <= room[over]))
    if nonzero:
        keep &= block != 0
    return keep


def sparse_item_similarities(
    matrix: sp.spmatrix, similarity: str, shrinkage: float, neighbors: int | None, block_bytes: int = BLOCK_BYTES,
    threads: int | None = None,
) -> sp.csr_matrix:
    """Sparse ``S`` (items × items): column ``j`` holds the ``neighbors`` items most similar to ``j``.

    The same numbers as ``keep_top_per_column(similarity_matrix(X.T, X.T, ...), neighbors)`` with
    a zero diagonal, computed from sparse products one block of columns at a time: memory is
    ``O(items × block + items × neighbors)``, never items². Pearson uses the centred dot product
    ``x·y - d·μx·μy`` so the matrix is never densified. Cosine blocks are computed ``threads`` at a
    time (default: the cores this process may use, at most :data:`MAX_KNN_THREADS`; the result does
    not depend on it; each block in flight holds memory, see :data:`SPARSE_BLOCK_FACTOR`).
    """
    x = sp.csc_matrix(matrix, dtype=np.float64)
    d, n = x.shape
    squares = np.asarray(x.multiply(x).sum(axis=0)).ravel()
    if similarity == "pearson":
        means = np.asarray(x.sum(axis=0)).ravel() / d
        norms = np.sqrt(np.maximum(squares - d * means**2, 0.0))
    else:
        means = np.zeros(n)
        norms = np.sqrt(squares)
    xt = x.T.tocsr()
    binary = x.copy()
    binary.data[:] = 1.0
    binary_t = binary.T.tocsr()
    k = n if neighbors is None else min(int(neighbors), n)
    width = max(1, int(block_bytes // (8 * max(n, 1))))
    rows, cols, vals = [], [], []
    if similarity != "pearson":
        # cosine is 0 wherever two items share no user, which is almost everywhere: only the
        # products' non-zeros are divided and ranked (a dense block cost O(items²) in all: at 32k
        # warm items 45 s, most of a tuned fit's time)
        # blocks side by side (scipy's sparse product and numpy's sorts release the GIL): each block's
        # columns are its own, and the parts are joined in block order, so the matrix is the same on any
        # number of threads. Heavy users make the products dominate: a user with n items adds n² of them
        # (138k users, the longest history 9,000: 7.7e9 products, ~100 CPU-s)
        def block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return _block_neighbours(xt, x, binary_t, binary, norms, start, min(n, start + width), shrinkage, k)

        starts = range(0, n, width)
        workers = max(1, min(threads or min(default_threads(), MAX_KNN_THREADS), len(starts)))
        if workers == 1:
            parts = [block(start) for start in starts]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coldkit-item-knn") as pool:
                parts = list(pool.map(block, starts))
        for r, c, v in parts:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        if not rows:  # no item at all (no warm item to compare)
            return sp.csr_matrix((n, n), dtype=np.float32)
        return sp.csr_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
    for start in range(0, n, width):
        stop = min(n, start + width)
        dots = np.asarray((xt @ x[:, start:stop]).toarray())
        if similarity == "pearson":
            dots -= d * np.outer(means, means[start:stop])
        denom = np.outer(norms, norms[start:stop])
        sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 1e-12)
        if shrinkage > 0:
            co = np.asarray((binary_t @ binary[:, start:stop]).toarray())
            sims *= co / (co + shrinkage)
        # an item is not its own neighbour: its 0 once ranked above a negative correlation and took one of the
        # k places (neighbors=2 kept one other item where two had a similarity); -inf ranks it last, never kept
        diagonal = (np.arange(start, stop), np.arange(stop - start))
        sims[diagonal] = -np.inf
        keep = _top_per_column_mask(sims, k, nonzero=True) if k < n else np.isfinite(sims) & (sims != 0)
        keep[diagonal] = False
        r, c = np.nonzero(keep)
        rows.append(r)
        cols.append(c + start)
        vals.append(sims[r, c])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def _block_neighbours(
    xt: sp.csr_matrix, x: sp.csc_matrix, binary_t: sp.csr_matrix, binary: sp.csc_matrix, norms: np.ndarray,
    start: int, stop: int, shrinkage: float, k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, cosines) kept for columns ``start:stop``: the sparse form of the dense block's
    ``_top_per_column_mask(sims, k, nonzero=True)``, entry for entry.

    The dense block ranks every row, its zeros included: a column's negative similarities (ratings
    below 0) come after all its zeros, so they are kept only when the positives and the zeros leave
    room. The values are the dense block's to the bit: the same sparse products, the same divisions.
    """
    n = x.shape[1]
    # scipy's product leaves out entries that sum to 0; CSC groups them by column, rows ascending
    dots = (xt @ x[:, start:stop]).tocsc()
    r = dots.indices.astype(np.int64)
    c = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(dots.indptr))
    d = dots.data
    denom = norms[r] * norms[start + c]
    sims = np.divide(d, denom, out=np.zeros_like(d), where=denom > 1e-12)
    if shrinkage > 0:
        co = (binary_t @ binary[:, start:stop]).tocsc()
        co.sort_indices()
        # each dot's co-occurrence count: co's pattern holds every pair with a shared user
        co_keys = np.repeat(np.arange(co.shape[1], dtype=np.int64), np.diff(co.indptr)) * n + co.indices
        counts = co.data[np.searchsorted(co_keys, c * n + r)]
        sims *= counts / (counts + shrinkage)
    live = (sims != 0) & (r != start + c)  # the diagonal is no neighbour (-inf in the dense block)
    r, c, sims = r[live], c[live], sims[live]
    # a negative entry ranks behind the column's zeros: every other row not listed (the item itself is none)
    zeros = n - 1 - np.bincount(c, minlength=stop - start)
    if c.size:
        r, c, sims = _at_least_kth(r, c, sims, stop - start, k)
    order = np.lexsort((r, -sims, c))  # per column: largest first, ties by lower row (as the dense mask)
    r, c, sims = r[order], c[order], sims[order]
    per_column = np.bincount(c, minlength=stop - start)
    first = np.r_[0, np.cumsum(per_column)[:-1]]
    rank = np.arange(c.size) - first[c]
    rank = np.where(sims < 0, rank + zeros[c], rank)
    keep = rank < k
    return r[keep], c[keep] + start, sims[keep]


def _at_least_kth(
    r: np.ndarray, c: np.ndarray, sims: np.ndarray, n_columns: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries at or above their column's ``k``-th largest non-zero value: every entry the
    exact ranking can keep, and only those a few more (ties), in their given order. The sort that
    ranks them exactly then sees about ``k`` entries per column, not all of them (thousands per item:
    a sort of every co-occurrence was most of item-kNN's fit). ``c`` must be grouped (non-decreasing).

    Each column's ``k``-th largest is found in two steps: a guess first, the :data:`KTH_SAMPLE_DEPTH`-th
    largest of every ``3k / KTH_SAMPLE_DEPTH``-th entry (about ``3k`` entries reach it; columns are
    contiguous, so every ``s``-th entry of the block samples every column, at an offset), then the
    ``k``-th largest of the entries that reach the guess. The bound is checked, not trusted:
    where fewer than ``k`` entries reach it (an unlucky sample) the column ranks every entry, so the
    answer never depends on the sample, only the time does. Ranking every entry of every column
    (one ``np.partition`` over a table padded to the longest column) was 2/3 of item-kNN's fit at
    24k warm items x 15M interactions: 53 of 100 s.
    """
    longest = int(np.bincount(c, minlength=n_columns).max())
    if longest <= k:
        return r, c, sims
    stride = max(1, (3 * k) // KTH_SAMPLE_DEPTH)
    if stride > 1 and longest >= 8 * k:
        # every stride-th entry of the block samples each column at that stride (columns are contiguous)
        guess = _kth_largest_per_column(sims[::stride], c[::stride], n_columns, KTH_SAMPLE_DEPTH)
        live = sims >= guess[c]
        kth = _kth_largest_per_column(sims[live], c[live], n_columns, k)
        short = np.flatnonzero(np.bincount(c[live], minlength=n_columns) < k)  # a guess above the k-th largest
        if short.size:  # those columns rank every entry, in a table of their own (one would widen the block's)
            rows = np.isin(c, short)
            kth[short] = _kth_largest_per_column(sims[rows], np.searchsorted(short, c[rows]), short.size, k)
    else:  # a short block ranks every entry at once: cheaper than a sample
        kth = _kth_largest_per_column(sims, c, n_columns, k)
    keep = sims >= kth[c]
    return r[keep], c[keep], sims[keep]


def _kth_largest_per_column(values: np.ndarray, c: np.ndarray, n_columns: int, k: int) -> np.ndarray:
    """Each column's ``k``-th largest of ``values`` (grouped by column ``c``, non-decreasing); -inf
    where a column has fewer than ``k``. One ``np.partition`` over the columns padded with -inf."""
    per_column = np.bincount(c, minlength=n_columns)
    longest = int(per_column.max()) if per_column.size else 0
    if longest < k:
        return np.full(n_columns, -np.inf)
    first = np.r_[0, np.cumsum(per_column)[:-1]]
    padded = np.full((n_columns, longest), -np.inf)
    padded[c, np.arange(c.size) - first[c]] = values
    return np.partition(padded, longest - k, axis=1)[:, longest - k]


def _rank_score_rows(
    scores: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None, candidates: np.ndarray | None
) -> Ranked:
    """Top ``k`` of dense score rows (B, n_items): exclusions dropped, ties to the lower index — at the
    cut too, so a list of ``k`` is the head of any longer one. (``argpartition`` chose among the items
    tied at the k-th place: item-kNN with 400 candidates listed 7156 where a deeper list, and the
    tie rule, put 4980.)"""
    scores = np.array(scores, dtype=np.float32)
    if exclude is not None:
        for b, items in enumerate(exclude):  # loops over queries, not the catalogue
            scores[b, np.asarray(items, dtype=np.int64)] = -np.inf
    index = np.arange(scores.shape[1], dtype=np.int64)
    if candidates is not None:
        scores, index = scores[:, candidates], candidates
    if min(k, scores.shape[1]) == 0:
        return empty_ranked(scores.shape[0], k)
    part = best_per_row(scores, k)
    return pad_ranked(index[part], np.take_along_axis(scores, part, axis=1), k)


class ItemItemModel(Recommender):
    """Shared scoring of item-item models: ``score(u, i) = x_u . S[:, i]`` through the similarity core."""

    binarize: bool = True
    memory_budget: str | int | None = None
    #: whether a similarity backend set on the model scans its dense item vectors (item-kNN: no,
    #: its ``S`` stays sparse and a dense copy would be items² bytes)
    backend_scans: bool = True

    def __init__(self) -> None:
        self.warm_items_: np.ndarray | None = None
        self._item_matrix: np.ndarray | None = None  # S over warm items, (n_warm, n_warm)
        self._item_vectors: np.ndarray | None = None  # (n_items, n_warm): row i = S[:, i] (0 for cold)

    @property
    def item_matrix_(self) -> np.ndarray | None:
        """``S`` over the warm items as a dense (n_warm, n_warm) array (None before ``fit``)."""
        return self._item_matrix

    def _learn_matrix(self, warm_matrix: sp.csr_matrix) -> np.ndarray:
        """``S`` over the warm items from the sparse (users, warm items) training matrix."""
        raise NotImplementedError

    def fit(self, train: Interactions) -> "ItemItemModel":
        train = self._remember(train)
        matrix = training_matrix(train, self.binarize)
        warm = np.flatnonzero(train.item_counts() > 0)
        self.warm_items_ = warm
        needed = estimate_warm_bytes(self.name, train.n_users, train.n_items, warm.size, matrix.nnz)
        check_budget(
            f"{self.name.upper()} on {warm.size:,} warm items", needed, resolve_budget(self.memory_budget),
            "use a factorised model (--model cold-ridge --option warm=als, or the hybrid's default warm=auto) "
            "or raise --max-memory",
        )
        self.release_fit()  # the old S is not held while the new one is computed (a refit's peak)
        self._item_matrix = np.asarray(self._learn_matrix(matrix[:, warm].tocsr()), dtype=np.float32)
        self._item_vectors = None  # made on first use (item_vectors): ranking reads S itself
        self._matrix = matrix
        return self

    def release_fit(self) -> None:
        """Drop the fitted item-item tables (n_warm² floats each) before a refit: the model is then
        unusable until fitted again. A refit on the same catalogue held the old tables while making new ones."""
        self._item_matrix = self._item_vectors = None

    def fit_from_vectors(self, train: Interactions, item_vectors: np.ndarray) -> "ItemItemModel":
        """``fit(train)`` from the :meth:`item_vectors` another model of the same kind and options
        made on the same ``train``: ``S`` is read back from its warm items' rows, not computed again.

        Why: the hybrid's warm model and its ``ease`` source are both EASE on the same clicks, and at
        the λ they share one Cholesky inversion of the items × items Gram matrix is the whole cost of
        the second (3.8 of the 10k-item benchmark's 10.9 s refit). The caller vouches that the vectors
        are this model's on ``train`` (:meth:`coldkit.models.cold.WarmSpace.ease_vectors` checks it).
        """
        train = self._remember(train)
        matrix = training_matrix(train, self.binarize)
        warm = np.flatnonzero(train.item_counts() > 0)
        if item_vectors.shape != (train.n_items, warm.size) or item_vectors.dtype != np.float32:
            raise InvalidInputError(
                f"{self.name}: item vectors of shape {item_vectors.shape} ({item_vectors.dtype}) are not a fit on these data "
                f"(expected ({train.n_items}, {warm.size}) float32)"
            )
        self.release_fit()
        self.warm_items_ = warm
        self._item_matrix = transposed(item_vectors, warm)  # vectors[warm] = Sᵀ: the fit's S to the bit
        self._matrix = matrix
        return self

    def user_rows(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_warm) interaction rows of the queries over the warm items."""
        assert self.warm_items_ is not None
        return interaction_rows(queries, self._matrix, columns=self.warm_items_)

    def item_vectors(self) -> np.ndarray:
        """(n_items, n_warm): the vector each item is scored with (``S[:, i]``; zeros for cold items).

        Built on first use (the cold adapters' warm space and a backend's dense scan read it): a
        transposed copy of ``S`` costs ~0.7 s and items × warm-items floats at 6.5k warm items, and
        an EASE that only ranks clicks (the hybrid's ``ease`` source and its λ climb) never needs it.
        """
        train = self._require_fitted()
        if self._item_vectors is None:
            assert self._item_matrix is not None and self.warm_items_ is not None
            vectors = np.zeros((train.n_items, self.warm_items_.size), dtype=np.float32)
            vectors[self.warm_items_] = self._item_matrix.T
            self._item_vectors = vectors
        return self._item_vectors

    def _warm_scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """(B, n_warm) dense scores of the warm items for sparse click rows: ``rows @ S``."""
        assert self._item_matrix is not None
        return np.asarray(rows @ self._item_matrix, dtype=np.float32)

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        exclude = self._exclusions(queries, exclude_known)
        if self.backend is not None and self.backend_scans:  # a similarity backend plugin scans the dense item vectors
            return rank_vectors(
                self.user_rows(queries), self.item_vectors(), k, metric="dot", exclude=exclude,
                candidates=cand, backend=self.backend,
            )  # fmt: skip
        # A user's clicks pick a few rows of S: a sparse product of B × clicks × warm items, not the
        # dense scan of B × items × warm items (at 10k items and 600 new users with five clicks:
        # 3·10⁷ multiply-adds instead of 3·10¹⁰). Items without interactions score 0.
        train = self._require_fitted()
        assert self.warm_items_ is not None
        if not queries:  # no chunk to concatenate
            return empty_ranked(0, k)
        chunk = max(1, (16 * 2**20) // max(train.n_items, 1))  # dense score rows stay near 64 MB
        parts = []
        for start in range(0, len(queries), chunk):
            batch = queries[start : start + chunk]
            rows = interaction_rows(batch, self._matrix, columns=self.warm_items_, sparse=True)
            scores = np.zeros((len(batch), train.n_items), dtype=np.float32)
            scores[:, self.warm_items_] = self._warm_scores(rows)
            parts.append(
                _rank_score_rows(scores, k, None if exclude is None else exclude[start : start + chunk], cand)
            )
        return Ranked(np.concatenate([p.indices for p in parts]), np.concatenate([p.scores for p in parts]))

    def _item_column(self, item: int) -> np.ndarray:
        """``S[:, item]`` over the warm items (zeros for a cold item)."""
        return self.item_vectors()[item]

    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """Name the known item that contributes most to ``item``'s score ("because you liked X")."""
        query, item = self._explain_args(query, item)
        train = self._require_fitted()
        row = self.user_rows([query])[0]
        contrib = row * self._item_column(item)
        if not np.any(contrib > 0):
            return "no liked item is similar to this one"
        total = float(contrib.sum())
        if total <= 0:
            # EASE's weights can be negative: the largest positive share named a liked item for an item at
            # the bottom of the list ("because you liked X" of a score of -0.0094)
            return f"the items you liked weigh against this one (its score {total:.3g} is at most 0)"
        assert self.warm_items_ is not None
        best = int(self.warm_items_[int(np.argmax(contrib))])
        return f"because you liked {item_title(train, best)}"



class ItemKNN(ItemItemModel):
    """Item-based kNN CF: each item keeps its ``neighbors`` most similar items.

    Options: ``similarity`` (``"cosine"`` or ``"pearson"``), ``neighbors`` (None = keep all),
    ``shrinkage`` (damps similarities with few co-raters), ``binarize`` (treat every interaction
    as 1; default True, since ranking cares about what was consumed, not the rating).

    Example::

        model = coldkit.models.create("item-knn", neighbors=50, shrinkage=10).fit(train)
        model.recommend([UserQuery(history=np.array([3, 17]))], k=10)   # a new user's two clicks
    """

    name = "item-knn"
    backend_scans = False

    def __init__(
        self,
        similarity: str = "cosine",
        neighbors: int | None = 100,
        shrinkage: float = 0.0,
        binarize: bool = True,
        memory_budget: str | int | None = None,
    ) -> None:
        super().__init__()
        self.memory_budget = memory_budget
        self.similarities_: sp.csr_matrix | None = None
        self.similarity = _check_similarity(similarity)
        # check_k, not int(): int() kept 2.5 as 2 and read "5" as 5 (None keeps every neighbour)
        self.neighbors = None if neighbors is None else check_k(neighbors, "neighbors")
        self.shrinkage = _check_shrinkage(shrinkage)
        self.binarize = check_flag(binarize, "binarize")  # bool("no") is True

    def fit(self, train: Interactions) -> "ItemKNN":
        train = self._remember(train)
        self._matrix = training_matrix(train, self.binarize)
        self.warm_items_ = np.flatnonzero(train.item_counts() > 0)
        self._item_vectors = None
        n_warm = self.warm_items_.size
        width = n_warm if self.neighbors is None else min(self.neighbors, n_warm)
        # S holds `neighbors` entries per column plus one dense block of similarities at a time; a block is
        # at most the whole items × items product (1,238 warm items were said to need 386 MB: three full
        # blocks of 128 MB for a product of 12 MB)
        block = min(BLOCK_BYTES, 8 * n_warm * n_warm)
        budget = resolve_budget(self.memory_budget)

        def needed(side_by_side: int) -> int:
            extra = block * SPARSE_BLOCK_FACTOR * (side_by_side - 1)  # each block beside the first, at its worst
            return 12 * n_warm * width + block * 3 + extra + 24 * self._matrix.nnz

        # cosine blocks are computed side by side, one per thread (sparse_item_similarities), as many as the
        # budget holds: a many-core machine runs fewer at once rather than fail a budget one at a time meets
        blocks = -(-8 * n_warm * n_warm // max(block, 1))
        side_by_side = 1 if self.similarity == "pearson" else max(1, min(default_threads(), blocks, MAX_KNN_THREADS))
        while side_by_side > 1 and needed(side_by_side) > budget:
            side_by_side -= 1
        check_budget(
            f"item-kNN on {n_warm:,} warm items with {width} neighbours", needed(side_by_side), budget,
            "lower neighbors or raise --max-memory",
        )
        self.similarities_ = sparse_item_similarities(
            self._matrix[:, self.warm_items_], self.similarity, self.shrinkage, self.neighbors, threads=side_by_side
        )
        return self

    @property
    def item_matrix_(self) -> np.ndarray | None:
        """``S`` as a dense (n_warm, n_warm) array: for inspection on small data; scoring stays sparse."""
        return None if self.similarities_ is None else self.similarities_.toarray()

    def item_vectors(self) -> np.ndarray:
        """(n_items, n_warm) dense item vectors (``S[:, i]``), built on first use: the cold adapters'
        ``warm="item-knn"`` space needs them (its memory estimate guards the size)."""
        train = self._require_fitted()
        if self._item_vectors is None:
            assert self.similarities_ is not None and self.warm_items_ is not None
            vectors = np.zeros((train.n_items, self.warm_items_.size), dtype=np.float32)
            vectors[self.warm_items_] = self.similarities_.T.toarray()
            self._item_vectors = vectors
        return self._item_vectors

    def _warm_scores(self, rows: sp.csr_matrix) -> np.ndarray:
        assert self.similarities_ is not None
        return np.asarray((rows @ self.similarities_).toarray(), dtype=np.float32)

    def _item_column(self, item: int) -> np.ndarray:
        assert self.similarities_ is not None and self.warm_items_ is not None
        position = np.searchsorted(self.warm_items_, item)
        if position >= self.warm_items_.size or self.warm_items_[position] != item:
            return np.zeros(self.warm_items_.size, dtype=np.float32)
        return np.asarray(self.similarities_[:, position].toarray()).ravel()


# EASE's Gram and its inverse are float32 (see cholesky_inverse): P's diagonal is about 1/λ, which
# leaves float32's normal range (≥ 1.2e-38) as λ nears its largest value (3.4e38), and B = -P/diag(P)
# then divides by zero. l2=1e308 overflowed to an all-zero B: every item scored 0, silently.
EASE_MAX_L2 = 1e30


class EASE(ItemItemModel):
    """EASE (Steck 2019): ``B = argmin ||X - XB||² + λ||B||²`` with ``diag(B) = 0``, in closed form.

    ``P = (XᵀX + λI)⁻¹``, ``B[i, j] = -P[i, j] / P[j, j]`` for ``i != j``. Fitted on warm items only;
    cubic time and quadratic memory in them, so ``fit`` first checks its memory estimate against
    ``memory_budget``. ``P`` comes from a Cholesky factorisation (``XᵀX + λI`` is symmetric
    positive definite): half the work of a general inverse, done in float32 (``B`` is stored in
    float32 anyway; ``λ`` keeps the matrix well conditioned, see :func:`cholesky_inverse`). Option ``l2`` is λ.

    Example::

        model = coldkit.models.create("ease", l2=300).fit(train)
    """

    name = "ease"

    def __init__(self, l2: float = 300.0, binarize: bool = True, memory_budget: str | int | None = None) -> None:
        super().__init__()
        self.memory_budget = memory_budget
        self.l2 = check_number(l2, "l2", above=0, at_most=EASE_MAX_L2)
        self.binarize = check_flag(binarize, "binarize")  # bool("no") is True

    def _learn_matrix(self, warm_matrix: sp.csr_matrix) -> np.ndarray:
        weights = ease_weights(cholesky_inverse(gram_plus_ridge(warm_matrix, self.l2, np.float32), dtype=np.float32))
        co_occur = bool(np.any(np.diff(warm_matrix.indptr) >= 2))  # else B = 0 is the right answer
        if co_occur and not weights.any():
            # P's off-diagonal (≈ -Gᵢⱼ/λ²) underflowed float32: every item would score 0 for every user
            raise InvalidInputError(
                f"ease: l2={self.l2:g} is too large for these data: every item-item weight is 0 in float32 "
                "(every item would score the same); use a smaller l2 (the default is 300)"
            )
        return weights


def gram_plus_ridge(matrix: sp.spmatrix, l2: float, dtype: type = np.float64) -> np.ndarray:
    """Dense ``XᵀX + l2·I`` (``dtype``) from the sparse matrix: O(nnz × items per user), never a dense
    users × items copy (a dense float64 product was 19 of the 48 s EASE took at 6.5k warm items).
    For a binary ``X`` the entries are co-occurrence counts, exact in float32 up to 2²⁴."""
    sparse = sp.csr_matrix(matrix, dtype=dtype)
    gram: np.ndarray = np.asarray((sparse.T @ sparse).toarray(), dtype=dtype)
    gram[np.diag_indices_from(gram)] += l2
    return gram


def cholesky_inverse(matrix: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (overwritten when it has ``dtype``) by LAPACK
    ``potrf`` + ``potri``, in ``dtype`` (``np.float64`` or ``np.float32``).

    About half the floating-point work of ``np.linalg.inv`` (measured 5.3 vs 10.3 CPU-s at 5.5k
    items). float32 (``spotrf``/``spotri``) takes ~60 % of float64's time and half its memory: on
    the 10k-item benchmark's EASE Gram (6,455 items, λ = 300) 3.3 vs 5.6 CPU-s on one core, with
    ``|P₃₂ − P₆₄| ≤ 5·10⁻⁷ · max|P|``. Raises :class:`InvalidInputError` if the matrix is not
    positive definite.
    """
    from scipy.linalg import lapack

    single = np.dtype(dtype) == np.float32
    if not single and np.dtype(dtype) != np.float64:
        raise InvalidInputError(f"cholesky_inverse: dtype must be float32 or float64, got {np.dtype(dtype)}")
    n = matrix.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=dtype)
    potrf, potri = (lapack.spotrf, lapack.spotri) if single else (lapack.dpotrf, lapack.dpotri)
    # the transpose of a C-ordered symmetric matrix is the same matrix in Fortran order: no copy
    factor, info = potrf(np.asarray(matrix, dtype=dtype).T, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise InvalidInputError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK info {info})")
    inverse, info = potri(factor, lower=0, overwrite_c=1)
    if info != 0:  # pragma: no cover - potrf succeeded, so the factor is invertible
        raise InvalidInputError(f"EASE: inverting the Cholesky factor failed (LAPACK info {info})")
    _mirror_upper(inverse)
    return inverse.T  # symmetric: the C-ordered view is the same matrix


def _mirror_upper(matrix: np.ndarray, block: int = 512) -> None:
    """Copy the upper triangle onto the lower one, in place, one block of rows at a time (no n² temporary)."""
    n = matrix.shape[0]
    for start in range(0, n, block):
        stop = min(n, start + block)
        matrix[start:stop, :start] = matrix[:start, start:stop].T
        diagonal = matrix[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        diagonal[lower] = diagonal.T[lower]


def ease_weights(inverse: np.ndarray) -> np.ndarray:
    """EASE's ``B`` (float32) from ``P``, overwriting ``P``: ``B[i, j] = -P[i, j] / P[j, j]``, zero diagonal."""
    inverse *= (-1.0 / np.diag(inverse))[None, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse.astype(np.float32, copy=False)


class NeighbourVoting(Recommender):
    """Users vote for the items they interacted with, weighted by their similarity to the query.

    Subclasses set ``_item_vectors`` (n_items, n_users: who interacted with each item) in ``fit``
    and implement ``neighbour_weights(queries) -> (B, n_users)``.
    """

    _item_vectors: np.ndarray | None = None

    def neighbour_weights(self, queries: Sequence[UserQuery]) -> np.ndarray:
        raise NotImplementedError

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        assert self._item_vectors is not None  # recommend() checked that fit() ran
        return rank_vectors(
            self.neighbour_weights(queries),
            self._item_vectors,
            k,
            metric="dot",
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand, backend=self.backend,
        )


class UserKNN(NeighbourVoting):
    """User-based kNN CF: the ``neighbors`` training users most similar to the query user vote for items.

    ``score(u, i) = sum_{v in N(u)} sim(u, v) x_vi``. A new user is compared through their
    ``history`` clicks (fold-in, no refit). Options as :class:`ItemKNN`.

    Example::

        model = coldkit.models.create("user-knn", similarity="pearson", neighbors=30).fit(train)
    """

    name = "user-knn"

    def __init__(
        self, similarity: str = "cosine", neighbors: int = 50, shrinkage: float = 0.0, binarize: bool = True
    ) -> None:
        self.similarity = _check_similarity(similarity)
        self.neighbors = check_k(neighbors, "neighbors")  # not int(): it kept 2.5 as 2 and read "5" as 5
        self.shrinkage = _check_shrinkage(shrinkage)
        self.binarize = check_flag(binarize, "binarize")  # bool("no") is True

    def fit(self, train: Interactions) -> "UserKNN":
        train = self._remember(train)
        self._matrix = training_matrix(train, self.binarize)
        self.warm_items_ = np.flatnonzero(train.item_counts() > 0)
        self._user_rows = np.asarray(self._matrix[:, self.warm_items_].toarray(), dtype=np.float64)
        self._item_vectors = np.ascontiguousarray(self._matrix.T.toarray(), dtype=np.float32)  # (n_items, n_users)
        return self

    def neighbour_weights(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, n_users) similarity to each training user, zero outside the ``neighbors`` nearest."""
        rows = interaction_rows(queries, self._matrix, columns=self.warm_items_)
        sims = similarity_matrix(rows, self._user_rows, self.similarity, self.shrinkage)
        for b, query in enumerate(queries):  # a user is not their own neighbour
            if query.user is not None:
                sims[b, query.user] = -np.inf
        weights = keep_top_per_column(sims.T, self.neighbors).T
        weights[~np.isfinite(weights)] = 0.0
        return weights

