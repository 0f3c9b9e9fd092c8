"""Published cold-item models, trained on top of any warm backbone and any encoder's vectors.

Each model learns, on the warm items, how content stands in for the collaborative (CF) vectors of
a warm model (the *teacher*, :class:`~coldkit.models.cold.WarmSpace`: ``score(u, i) = p_u · q_i``),
so a brand-new item is rankable from its content alone:

* :class:`DropoutNet` (Volkovs et al., NeurIPS 2017): two towers ``f_U(p_u)`` and ``f_V(q_i, c_i)``
  trained to reproduce the teacher's scores ``p_u · q_i``, with the item's preference input ``q_i``
  zeroed for a random ``dropout`` share of the rows, so the item tower learns to rely on content; a
  cold item is ``f_V(0, c_i)``.
* :class:`Heater` (Zhu et al., SIGIR 2020): a mixture-of-experts content transform
  ``φ(c) = Σ_k softmax(G c)_k E_k(c)``, a similarity constraint ``α ||φ(c_i) - q_i||²``, and
  randomized training: each row's item input is ``φ(c_i)`` with probability ``random_rate``, else
  ``q_i``; towers on top are trained on the interactions themselves (MSE to 1 for a training pair,
  0 for each of ``negatives`` sampled warm items), not on the teacher's scores. A cold item is ``f_V(φ(c_i))``.
* :class:`CLCRec` (Wei et al., ACM MM 2021): a content encoder ``g(c)`` trained with two InfoNCE
  losses at temperature ``temperature``: representation↔embedding (``g(c_i)`` against the item's
  CF vector ``q_i``, the other items of the batch as negatives) and user↔item (``p_u`` against its
  positive item and ``negatives`` sampled items, each item's input randomly ``g(c)`` instead of
  ``q`` with probability ``content_share``), weighted ``λ`` and ``1 - λ``. A cold item is ``g(c_i)``.
* :class:`ALDI` (Huang et al., SIGIR 2023): a student ``s(c)`` distilled from the teacher with BPR
  plus three alignment losses over ``(u, i, j)`` triples: rating distribution (``γ |t_ui - s_ui|``),
  ranking (``α BCE(s_ui - s_uj, σ(t_ui - t_uj))``) and identification distance (``β BCE`` between
  the student's and the teacher's ``v_i·v_i - mean_j v_i·v_j``, both times ``1 / RMS`` of the teacher's
  distances so the targets are not saturated). A cold item is ``s(c_i)``.

Adapted to coldkit (documented, deliberate): the teacher is fixed (CLCRec's paper learns the ID
embeddings jointly; here they are the warm backbone's); CLCRec and ALDI score with the teacher's
user vectors, so warm and cold items share one space (ALDI's reference code also maps users);
ALDI's popularity-aware weighting of the distillation losses is not implemented; DropoutNet and
Heater have no batch normalisation and only item-side content (coldkit users have no content
vectors). All four are trained with Adam on CPU, deterministic for a ``seed``.

Hyper-parameters: every option left at ``None`` is chosen on validation data. ``fit`` carves
pseudo-cold items out of the training data (``validation_share`` of the warm items, seeded: their
interactions are hidden), fits the warm backbone on the rest, trains each combination of a small
grid with early stopping on the pseudo-cold items' Recall@20, then refits with the best
combination and epoch count on all the data. ``chosen_params_`` records the choice,
``validation_scores_`` the grid. When the data are too small to carve a split, the documented
defaults are used and ``notes_`` says so (and a warning is issued).
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from coldkit.data.interactions import Interactions, UserQuery
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.models._ranking import rank_vectors
from coldkit.models._vectors import blend_by_count
from coldkit.models.cold import ColdAdapter, WarmSpace, median_norm
from coldkit.models.memory import check_budget, resolve_budget
from coldkit.plugins.types import Ranked
from coldkit.validation import check_flag, check_k, check_seed

__all__ = ["PublishedColdModel", "DropoutNet", "Heater", "CLCRec", "ALDI", "pseudo_cold_split"]

VALIDATION_K = 20
_MIN_VALIDATION_ITEMS = 5
_MIN_VALIDATION_USERS = 5
_MIN_TRAINING_ITEMS = 10


def _import_torch(model: str) -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ColdkitError(
            f"model {model!r} needs PyTorch: pip install torch (or use 'cold-ridge', which needs nothing)"
        ) from exc
    return torch


def pseudo_cold_split(train: Interactions, share: float, seed: int) -> tuple[Interactions, np.ndarray] | None:
    """Hide all interactions of a random ``share`` of the warm items: ``(rest, hidden items)``.

    None when the data are too small for a meaningful validation split (fewer than 5 hidden items,
    fewer than 10 items left to train on, or fewer than 5 users who interacted with a hidden item).
    """
    warm = np.flatnonzero(train.item_counts() > 0)
    n_hidden = int(round(share * warm.size))
    if n_hidden < _MIN_VALIDATION_ITEMS or warm.size - n_hidden < _MIN_TRAINING_ITEMS:
        return None
    hidden = np.sort(np.random.default_rng(seed).choice(warm, size=n_hidden, replace=False))
    matrix = train.matrix.copy()
    matrix.data[np.isin(matrix.indices, hidden)] = 0.0
    matrix.eliminate_zeros()
    users_with_hidden = np.unique(train.matrix[:, hidden].tocoo().row)
    if users_with_hidden.size < _MIN_VALIDATION_USERS:
        return None
    return Interactions(train.user_ids, train.catalog, matrix), hidden


@dataclass
class _Teacher:
    """The warm backbone's vectors as torch tensors, scaled so the teacher's scores have unit std."""

    users: Any  # (n_users, f_u) scaled p_u of every training user
    items: Any  # (n_items, f) scaled q_i (zero for cold items)
    content: Any  # (n_items, d) content vectors
    pair_users: Any  # (nnz,) user of each training interaction
    pair_items: Any  # (nnz,) item of each training interaction
    warm_items: Any  # (n_warm,) indices of the items with interactions
    user_scale: float  # p̃ = p * user_scale
    item_scale: float  # q̃ = q * item_scale
    # 1 / RMS of the scaled teacher's identification distances (ALDI; see _identity_scale); 1.0 = unscaled
    identity_scale: float = 1.0


def _identity_distances(items: np.ndarray, others: np.ndarray) -> np.ndarray:
    """ALDI's identification distance of each row of ``items``: ``v_i·v_i - mean_j v_i·v_j`` over ``others``."""
    return np.einsum("ij,ij->i", items, items) - items @ others.mean(axis=0)


def _identity_scale(items: np.ndarray) -> float:
    """``1 / RMS`` of the teacher's identification distances over its warm items (rows of ``items``).

    Why: ALDI's identification alignment is ``BCE(d_student, σ(d_teacher))``, whose targets depend on
    the teacher's scale. Scaled to unit entry std (as :func:`_teacher` does, so scores train in one
    range whatever the backbone), ``||q_i||²`` is about the dimension (64 for a 64-factor SVD, 1682 for
    EASE on ml-100k): ``σ(d_teacher) > 0.99`` for 80 % (SVD) to 100 % (EASE) of ml-100k's items, and the
    term only pushes the student's distances up instead of aligning them. Dividing the student's and
    the teacher's distances by the same constant keeps the loss's optimum (student distance = teacher
    distance) and puts the targets where the sigmoid is informative, as unit-RMS scores do for the
    ranking term.
    """
    x = np.asarray(items, dtype=np.float64)
    if x.shape[0] == 0:
        return 1.0
    rms = float(np.sqrt(np.mean(_identity_distances(x, x) ** 2)))
    return 1.0 / rms if rms > 0 and np.isfinite(rms) else 1.0


def _teacher(torch: Any, warm: WarmSpace, train: Interactions, features: np.ndarray) -> _Teacher:
    users = warm.user_vectors([UserQuery(user=u) for u in range(train.n_users)]).astype(np.float64)
    items = np.asarray(warm.item_vectors_, dtype=np.float64)
    warm_items = warm.warm_items_
    coo = warm.matrix_.tocoo()
    item_std = float(items[warm_items].std()) or 1.0
    items = items / item_std
    users_unit = users / (float(users.std()) or 1.0)
    # rescale users so that the teacher's scores on the training pairs have unit std: every model
    # then trains in the same numeric range, whatever the backbone's own scale
    scores = np.einsum("ij,ij->i", users_unit[coo.row], items[coo.col])
    score_std = float(np.sqrt(np.mean(scores**2))) or 1.0
    user_scale = 1.0 / ((float(users.std()) or 1.0) * score_std)
    return _Teacher(
        users=torch.as_tensor((users * user_scale).astype(np.float32)),
        items=torch.as_tensor(items.astype(np.float32)),
        content=torch.as_tensor(np.asarray(features, dtype=np.float32)),
        pair_users=torch.as_tensor(coo.row.astype(np.int64)),
        pair_items=torch.as_tensor(coo.col.astype(np.int64)),
        warm_items=torch.as_tensor(warm_items.astype(np.int64)),
        user_scale=user_scale,
        item_scale=1.0 / item_std,
        identity_scale=_identity_scale(items[warm_items]),
    )


class PublishedColdModel(ColdAdapter):
    """Shared machinery: teacher tensors, seeded torch training, validation-based selection.

    A subclass names its tunable options and their grid (``GRID``) and documented defaults
    (``DEFAULTS``), builds its network (:meth:`_network`), gives one mini-batch loss
    (:meth:`_batch_loss`), and maps content (and the teacher's vectors) to item vectors
    (:meth:`_cold_vectors`, :meth:`_warm_vectors`) and users to user vectors (:meth:`_user_side`).
    Everything is ranked by ``user_vector · item_vector`` through ``coldkit.topk``.
    """

    GRID: dict[str, tuple[Any, ...]] = {}
    DEFAULTS: dict[str, Any] = {}

    def __init__(
        self,
        *,
        lr: float | None = None,
        epochs: int = 20,
        patience: int = 2,
        eval_every: int = 2,
        batch_size: int = 4096,
        hidden: int = 200,
        weight_decay: float = 1e-5,
        content_dim: int | None = 128,
        tune: bool = True,
        validation_share: float = 0.15,
        seed: int = 0,
        threads: int | None = 1,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        for label, value in (("epochs", epochs), ("batch_size", batch_size), ("hidden", hidden),
                             ("patience", patience), ("eval_every", eval_every)):
            check_k(value, f"{self.name}: {label}")
        self.content_dim = None if content_dim is None else check_k(content_dim, f"{self.name}: content_dim")
        if not (isinstance(validation_share, (int, float)) and 0.0 < validation_share < 1.0):
            raise InvalidInputError(f"{self.name}: validation_share must be in (0, 1), got {validation_share!r}")
        if not (isinstance(weight_decay, (int, float)) and np.isfinite(weight_decay) and weight_decay >= 0):
            raise InvalidInputError(f"{self.name}: weight_decay must be >= 0, got {weight_decay!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidInputError(f"{self.name}: threads must be None or an integer >= 1, got {threads!r}")
        _import_torch(self.name)  # fail at construction, with a clear message, when torch is missing
        self.epochs, self.patience, self.eval_every = int(epochs), int(patience), int(eval_every)
        self.batch_size, self.hidden, self.weight_decay = int(batch_size), int(hidden), float(weight_decay)
        # bool("no") is True and int(0.5) is 0: a switch or seed from a config was silently another one
        self.tune, self.validation_share = check_flag(tune, f"{self.name}: tune"), float(validation_share)
        self.seed, self.threads = check_seed(seed, f"{self.name}: seed"), threads
        self.fixed_: dict[str, Any] = {}
        # Adam steps of more than 1 diverge (lr=1e10 "trained" to scores of 2e23, noted nowhere)
        self._fix("lr", lr, lambda v: 0 < v <= 1, "in (0, 1]")
        self.chosen_params_: dict[str, Any] = {}
        self.validation_scores_: list[tuple[dict[str, Any], float]] = []
        self.notes_: list[str] = []

    # ----------------------------------------------------------------- options

    def _fix(self, name: str, value: Any, valid: Callable[[float], bool], rule: str) -> None:
        """Record an option the user set (it leaves the grid); None means "choose on validation"."""
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or not valid(value):
            raise InvalidInputError(f"{self.name}: {name} must be {rule}, got {value!r}")
        self.fixed_[name] = float(value)

    def _grid(self) -> list[dict[str, Any]]:
        free = {k: v for k, v in self.GRID.items() if k not in self.fixed_}
        combos = [dict(zip(free, values)) for values in itertools.product(*free.values())] or [{}]
        base = {**self.DEFAULTS, **self.fixed_}
        return [{**base, **combo} for combo in combos]

    # ----------------------------------------------------------------- what subclasses implement

    def _network(self, torch: Any, teacher: _Teacher, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _batch_loss(
        self, torch: Any, net: Any, teacher: _Teacher, users: Any, items: Any, negatives: Any,
        params: dict[str, Any], generator: Any,
    ) -> Any:
        raise NotImplementedError

    def _cold_vectors(self, net: Any, content: Any) -> Any:
        """Item vectors from content alone (a cold item)."""
        raise NotImplementedError

    def _warm_vectors(self, net: Any, preference: Any, content: Any) -> Any:
        """Item vectors of items the teacher knows (default: the teacher's own vectors)."""
        return preference

    def _user_side(self, net: Any, users: Any) -> Any:
        """User vectors from the teacher's (scaled) user vectors (default: unchanged)."""
        return users

    # ----------------------------------------------------------------- training

    def _train(
        self, torch: Any, teacher: _Teacher, params: dict[str, Any], epochs: int,
        validate: Callable[[Any], float] | None = None,
    ) -> tuple[Any, int, list[float]]:
        """Train one network; with ``validate``, keep the best evaluated state (early stopping).

        Returns ``(net, epochs used, validation scores per evaluation)``.
        """
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        token = _NETWORK_BUDGET.set(resolve_budget(self.warm.memory_budget))
        try:
            net = self._network(torch, teacher, params)
        finally:
            _NETWORK_BUDGET.reset(token)
        optimiser = torch.optim.Adam(net.parameters(), lr=params["lr"], weight_decay=self.weight_decay)
        n_pairs = int(teacher.pair_users.shape[0])
        n_warm = int(teacher.warm_items.shape[0])
        best_score, best_epoch, best_state, waited = -np.inf, epochs, None, 0
        scores: list[float] = []
        for epoch in range(1, epochs + 1):
            net.train()
            order = torch.randperm(n_pairs, generator=generator)
            negatives = teacher.warm_items[torch.randint(0, n_warm, (n_pairs,), generator=generator)]
            for start in range(0, n_pairs, self.batch_size):
                batch = order[start : start + self.batch_size]
                loss = self._batch_loss(
                    torch, net, teacher, teacher.pair_users[batch], teacher.pair_items[batch],
                    negatives[batch], params, generator,
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if validate is not None and (epoch % self.eval_every == 0 or epoch == epochs):
                net.eval()
                with torch.no_grad():
                    score = float(validate(net))
                scores.append(score)
                if score > best_score + 1e-9:
                    best_score, best_epoch, waited = score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        return net.eval(), best_epoch, scores

    def _validation_recall(
        self, torch: Any, teacher: _Teacher, hidden: np.ndarray, train: Interactions
    ) -> Callable[[Any], float]:
        """Recall@20 of ranking the hidden (pseudo-cold) items for the users who took them."""
        held = sp.csr_matrix(train.matrix[:, hidden])
        users = np.flatnonzero(np.diff(held.indptr) > 0)
        truth = [held.indices[held.indptr[u] : held.indptr[u + 1]] for u in users]
        content = teacher.content[torch.as_tensor(hidden)]
        user_input = teacher.users[torch.as_tensor(users)]
        k = min(VALIDATION_K, hidden.size)

        def recall(net: Any) -> float:
            items = self._cold_vectors(net, content).numpy()
            queries = self._user_side(net, user_input).numpy()
            ranked = rank_vectors(queries, items, k, metric="dot")
            hits = [np.isin(row, t).sum() / min(k, t.size) for row, t in zip(ranked.indices, truth)]
            return float(np.mean(hits))

        return recall

    def _select(self, torch: Any, train: Interactions, features: np.ndarray) -> tuple[dict[str, Any], int]:
        """The grid combination and epoch count with the best pseudo-cold Recall@20."""
        defaults = {**self.DEFAULTS, **self.fixed_}
        split = pseudo_cold_split(train, self.validation_share, self.seed) if self.tune else None
        if split is None:
            if self.tune:
                note = (
                    f"{self.name}: too little data to carve a validation split "
                    f"({self.validation_share:.0%} of the warm items as pseudo-cold); using the defaults "
                    f"{defaults} and epochs={self.epochs}"
                )
                self.notes_.append(note)  # a note, not a warning: small data are a normal input
            return defaults, self.epochs
        grid = self._grid()
        rest, hidden = split
        warm = WarmSpace(self.warm.kind, self.warm.factors, self.warm.options).fit(rest)
        teacher = _teacher(torch, warm, rest, features)
        validate = self._validation_recall(torch, teacher, hidden, train)
        best: tuple[float, dict[str, Any], int] = (-np.inf, grid[0], self.epochs)
        for params in grid:
            _, epochs, scores = self._train(torch, teacher, params, self.epochs, validate)
            score = max(scores) if scores else -np.inf
            self.validation_scores_.append(({**params, "epochs": epochs}, score))
            if score > best[0]:
                best = (score, params, epochs)
        return best[1], best[2]

    # ----------------------------------------------------------------- ColdAdapter hooks

    def _fit_map(self, train: Interactions) -> "PublishedColdModel":
        torch = _import_torch(self.name)
        previous_threads = torch.get_num_threads()
        previous_deterministic = torch.are_deterministic_algorithms_enabled()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        torch.use_deterministic_algorithms(True)
        try:
            self._fit_reduction(self.content.item_vectors())
            features = self._reduce(self.content.item_vectors())
            self.notes_, self.validation_scores_ = [], []
            params, epochs = self._select(torch, train, features)
            self.chosen_params_ = {**params, "epochs": epochs}
            teacher = _teacher(torch, self.warm, train, features)
            self._net, _, _ = self._train(torch, teacher, params, epochs)
            self._user_scale, self._item_scale = teacher.user_scale, teacher.item_scale
            self._text_user_norm = median_norm(teacher.users.numpy()) / teacher.user_scale
            with torch.no_grad():
                mapped = self._cold_vectors(self._net, teacher.content).numpy().astype(np.float64)
                known = self._warm_vectors(self._net, teacher.items, teacher.content).numpy().astype(np.float64)
        finally:
            torch.set_num_threads(previous_threads)
            torch.use_deterministic_algorithms(previous_deterministic)
        self.mapped_vectors_ = mapped.astype(np.float32)
        self.item_vectors_ = blend_by_count(known.astype(np.float32), self.mapped_vectors_, self.warm.counts_,
                                            self.item_trust)
        return self

    def _fit_reduction(self, features: np.ndarray) -> None:
        """The top ``content_dim`` principal axes of the catalogue's content vectors.

        Why: the networks' first layer dominates training time, and encoders give 384-1024 dims
        whose tail carries little; projecting once makes every epoch several times cheaper.
        """
        x = np.asarray(features, dtype=np.float64)
        has_content = np.any(x != 0, axis=1)
        self._content_mean = x[has_content].mean(axis=0) if has_content.any() else np.zeros(x.shape[1])
        if self.content_dim is None or self.content_dim >= x.shape[1]:
            self._content_axes = np.eye(x.shape[1])
        else:
            centred = x[has_content] - self._content_mean
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            axes = vt[: self.content_dim].T
            # fix each axis' sign so results do not depend on the LAPACK build
            axes *= np.where(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])] < 0, -1.0, 1.0)
            self._content_axes = axes
        projected = (x[has_content] - self._content_mean) @ self._content_axes
        self._content_scale = 1.0 / (float(projected.std()) or 1.0)  # unit-scale network inputs

    def _reduce(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        out = (x - self._content_mean) @ self._content_axes * self._content_scale
        out[~np.any(x != 0, axis=1)] = 0.0  # an item without text stays "no content"
        return out.astype(np.float32)

    def map_content(self, features: np.ndarray) -> np.ndarray:
        """Item vectors (in this model's scoring space) of items known only by their content vectors."""
        torch = _import_torch(self.name)
        with torch.no_grad():
            out = self._cold_vectors(self._net, torch.as_tensor(self._reduce(features)))
        return np.asarray(out.numpy(), dtype=np.float64)

    def user_vectors(self, queries: Sequence[UserQuery]) -> np.ndarray:
        """(B, f') the vector each query is scored with: ``score(u, i) = user_vector · item_vector``.

        The teacher's ``p_u`` of a query counts its ``text`` as clicks on the warm items nearest to it in
        content (:meth:`~coldkit.models.cold.ColdAdapter.warm_user_vectors`), scaled to the norm of a
        typical training user (the towers were trained on users of that size, not on one-click users)."""
        torch = _import_torch(self.name)
        self._require_fitted()
        base = self.warm_user_vectors(queries).astype(np.float32) * np.float32(self._user_scale)
        with torch.no_grad():
            return np.asarray(self._user_side(self._net, torch.as_tensor(base)).numpy(), dtype=np.float32)

    def _recommend(
        self, queries: list[UserQuery], k: int, cand: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        return rank_vectors(
            self.user_vectors(queries),
            self.item_vectors(),
            k,
            metric="dot",
            exclude=self._exclusions(queries, exclude_known),
            candidates=cand, backend=self.backend,
        )


#: the memory budget the networks being built are checked against (:meth:`PublishedColdModel._train`
#: sets the model's own; unset: the default share of the machine)
_NETWORK_BUDGET: ContextVar[int | None] = ContextVar("coldkit_network_budget", default=None)


def _check_weights(weights: int, what: str) -> None:
    """Refuse a network whose float32 weights, gradients and Adam moments (16 bytes a weight) exceed the
    memory budget: hidden=10**12 was a torch RuntimeError traceback ("you tried to allocate
    36000000000000 bytes"), and Heater's experts=10**12 built small experts until the machine gave out."""
    budget = _NETWORK_BUDGET.get()
    check_budget(what, 16 * int(weights), resolve_budget(None) if budget is None else budget, "choose a smaller hidden, rank or experts")


def _mlp(torch: Any, sizes: Sequence[int], activation: Any) -> Any:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    _check_weights(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])), f"a network of layer sizes {[int(s) for s in sizes]}")
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return torch.nn.Sequential(*layers)


def _score_mse(torch: Any, teacher: _Teacher, users: Any, items: Any, predicted: Any) -> Any:
    """Mean squared error between predicted scores and the teacher's ``p_u · q_i``."""
    target = (teacher.users[users] * teacher.items[items]).sum(dim=1)
    return torch.nn.functional.mse_loss(predicted, target)


class DropoutNet(PublishedColdModel):
    """DropoutNet (Volkovs, Yu & Poutanen, NeurIPS 2017) over any warm backbone.

    Options: ``dropout`` (share of rows whose item preference input is zeroed while training;
    grid 0.5/0.8), ``lr`` (grid 3e-3/1e-2), ``rank`` (output dimension, 64), ``hidden`` (units of the
    tanh layer, 200), ``epochs`` (most epochs, 20), ``patience``/``eval_every`` (early stopping),
    ``batch_size``, ``weight_decay``, ``tune``, ``validation_share``, ``seed``, ``threads``, plus the
    options of ``cold-ridge`` except ``l2``/``kernel`` (``warm``, ``factors``, ``encoder``...).

    Example::

        model = coldkit.models.create("dropoutnet", encoder="hashing", warm="svd", seed=0).fit(train)
        model.chosen_params_     # e.g. {'dropout': 0.5, 'lr': 0.003, 'epochs': 8}
    """

    name = "dropoutnet"
    GRID = {"dropout": (0.5, 0.8), "lr": (3e-3, 1e-2)}
    DEFAULTS = {"dropout": 0.5, "lr": 3e-3}

    def __init__(self, dropout: float | None = None, rank: int = 64, **options: Any) -> None:
        super().__init__(**options)
        self._fix("dropout", dropout, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
        self.rank = check_k(rank, f"{self.name}: rank")

    def _network(self, torch: Any, teacher: _Teacher, params: dict[str, Any]) -> Any:
        tanh = torch.nn.Tanh
        net = torch.nn.Module()
        net.user = _mlp(torch, [teacher.users.shape[1], self.hidden, self.rank], tanh)
        net.item = _mlp(torch, [teacher.items.shape[1] + teacher.content.shape[1], self.hidden, self.rank], tanh)
        return net

    def _item(self, net: Any, preference: Any, content: Any) -> Any:
        import torch

        return net.item(torch.cat([preference, content], dim=1))

    def _batch_loss(self, torch, net, teacher, users, items, negatives, params, generator):  # type: ignore[no-untyped-def]
        who, user_rows = torch.unique(torch.cat([users, users]), return_inverse=True)
        both, item_rows = torch.unique(torch.cat([items, negatives]), return_inverse=True)
        preference = teacher.items[both]
        # the dropout decision is per item and mini-batch: each distinct item goes through the
        # tower once per step (what keeps an epoch cheap)
        keep = (torch.rand(both.shape[0], 1, generator=generator) >= params["dropout"]).to(preference.dtype)
        item_vectors = self._item(net, preference * keep, teacher.content[both])
        predicted = (net.user(teacher.users[who])[user_rows] * item_vectors[item_rows]).sum(1)
        return _score_mse(torch, teacher, who[user_rows], both[item_rows], predicted)

    def _cold_vectors(self, net: Any, content: Any) -> Any:
        import torch

        return self._item(net, torch.zeros(content.shape[0], net.item[0].in_features - content.shape[1]), content)

    def _warm_vectors(self, net: Any, preference: Any, content: Any) -> Any:
        return self._item(net, preference, content)

    def _user_side(self, net: Any, users: Any) -> Any:
        return net.user(users)


class _MixtureOfExperts:
    """Heater's content transform: ``φ(c) = Σ_k softmax(G c)_k · E_k(c)`` with tanh-MLP experts."""

    @staticmethod
    def build(torch: Any, d_in: int, hidden: int, d_out: int, experts: int) -> Any:
        _check_weights(experts * ((d_in + 1) * hidden + (hidden + 1) * d_out) + (d_in + 1) * experts, f"{experts:,} experts of layer sizes {[d_in, hidden, d_out]}")
        module = torch.nn.Module()
        module.experts = torch.nn.ModuleList(
            [_mlp(torch, [d_in, hidden, d_out], torch.nn.Tanh) for _ in range(experts)]
        )
        module.gate = torch.nn.Linear(d_in, experts)
        return module

    @staticmethod
    def apply(torch: Any, module: Any, content: Any) -> Any:
        gates = torch.softmax(module.gate(content), dim=1)  # (B, K)
        outputs = torch.stack([expert(content) for expert in module.experts], dim=1)  # (B, K, f)
        return (gates.unsqueeze(2) * outputs).sum(dim=1)


class Heater(PublishedColdModel):
    """Heater (Zhu et al., SIGIR 2020): mixture-of-experts content transform, similarity constraint
    and randomized training, over any warm backbone.

    Options: ``random_rate`` (probability that a training row's item input is the content
    representation instead of the CF vector; grid 0.5/0.8), ``alpha`` (weight of the similarity
    constraint ``||φ(c_i) - q_i||²``; grid 0.1/1.0), ``negatives`` (sampled warm items, labelled 0,
    per interaction, labelled 1: the towers regress these labels; 5), ``lr`` (3e-3), ``experts``
    (5), ``rank`` (64), ``hidden`` (200), plus the training and ``cold-ridge`` options of
    :class:`DropoutNet`.

    Example::

        model = coldkit.models.create("heater", encoder="hashing", experts=5, seed=0).fit(train)
    """

    name = "heater"
    GRID = {"random_rate": (0.5, 0.8), "alpha": (0.1, 1.0)}
    DEFAULTS = {"random_rate": 0.5, "alpha": 0.1, "lr": 3e-3}

    def __init__(
        self, random_rate: float | None = None, alpha: float | None = None, experts: int = 5, rank: int = 64,
        negatives: int = 5, **options: Any,
    ) -> None:
        super().__init__(**options)
        self._fix("random_rate", random_rate, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
        self._fix("alpha", alpha, lambda v: v >= 0, ">= 0")
        self.experts, self.rank = check_k(experts, f"{self.name}: experts"), check_k(rank, f"{self.name}: rank")
        self.negatives = check_k(negatives, f"{self.name}: negatives")

    def _network(self, torch: Any, teacher: _Teacher, params: dict[str, Any]) -> Any:
        tanh = torch.nn.Tanh
        f = teacher.items.shape[1]
        net = torch.nn.Module()
        net.moe = _MixtureOfExperts.build(torch, teacher.content.shape[1], self.hidden, f, self.experts)
        net.user = _mlp(torch, [teacher.users.shape[1], self.hidden, self.rank], tanh)
        net.item = _mlp(torch, [f, self.hidden, self.rank], tanh)
        return net

    def _batch_loss(self, torch, net, teacher, users, items, negatives, params, generator):  # type: ignore[no-untyped-def]
        if self.negatives > 1:
            # the 0-labelled pairs: `negatives` sampled warm items per interaction, as the authors'
            # code draws (5); the shared sampler gave one, the rest are drawn here
            n_warm = teacher.warm_items.shape[0]
            extra = torch.randint(0, n_warm, (items.shape[0] * (self.negatives - 1),), generator=generator)
            negatives = torch.cat([negatives, teacher.warm_items[extra]])
        who, user_rows = torch.unique(torch.cat([users, users.repeat(self.negatives)]), return_inverse=True)
        both, item_rows = torch.unique(torch.cat([items, negatives]), return_inverse=True)
        preference = teacher.items[both]
        represented = _MixtureOfExperts.apply(torch, net.moe, teacher.content[both])
        # randomized training, one draw per distinct item and mini-batch
        use_content = (torch.rand(both.shape[0], 1, generator=generator) < params["random_rate"]).to(preference.dtype)
        mixed = use_content * represented + (1.0 - use_content) * preference
        predicted = (net.user(teacher.users[who])[user_rows] * net.item(mixed)[item_rows]).sum(1)
        similarity = ((represented - preference) ** 2).sum(dim=1).mean()
        # joint training on the interactions themselves (1 for a training pair, 0 for each sampled
        # warm item), not on the teacher's scores: Heater's answer to DropoutNet's "error superimposition",
        # where the content transform's error adds to the teacher's own (Zhu et al. 2020; the authors'
        # code regresses these labels too)
        labels = torch.cat([torch.ones_like(items), torch.zeros_like(negatives)]).to(predicted.dtype)
        return torch.nn.functional.mse_loss(predicted, labels) + params["alpha"] * similarity

    def _cold_vectors(self, net: Any, content: Any) -> Any:
        import torch

        return net.item(_MixtureOfExperts.apply(torch, net.moe, content))

    def _warm_vectors(self, net: Any, preference: Any, content: Any) -> Any:
        return net.item(preference)

    def _user_side(self, net: Any, users: Any) -> Any:
        return net.user(users)


def _info_nce(torch: Any, logits: Any) -> Any:
    """InfoNCE with the positive in column 0: ``-log softmax(logits)[:, 0]``, averaged."""
    return -torch.log_softmax(logits, dim=1)[:, 0].mean()


class CLCRec(PublishedColdModel):
    """CLCRec (Wei et al., ACM MM 2021): contrastive learning between the CF embedding and a
    content encoder, item-side cold start, over any warm backbone.

    Options: ``temperature`` (InfoNCE temperature; grid 0.1/0.5), ``lam`` (weight ``λ`` of the
    representation↔embedding loss, ``1 - λ`` goes to user↔item; grid 0.5/0.9), ``negatives``
    (sampled items per user↔item pair, 16), ``content_share`` (share of the user↔item item inputs
    replaced by their content encoding, 0.5), ``lr`` (3e-3), ``hidden`` (200), plus the training and
    ``cold-ridge`` options of :class:`DropoutNet`.

    Example::

        model = coldkit.models.create("clcrec", encoder="hashing", temperature=0.2, seed=0).fit(train)
    """

    name = "clcrec"
    GRID = {"temperature": (0.1, 0.5), "lam": (0.5, 0.9)}
    DEFAULTS = {"temperature": 0.1, "lam": 0.5, "lr": 3e-3}

    def __init__(
        self, temperature: float | None = None, lam: float | None = None, negatives: int = 16,
        content_share: float = 0.5, **options: Any,
    ) -> None:
        super().__init__(**options)
        self._fix("temperature", temperature, lambda v: v > 0, "> 0")
        self._fix("lam", lam, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
        negatives = check_k(negatives, f"{self.name}: negatives")
        if not (isinstance(content_share, (int, float)) and 0.0 <= content_share <= 1.0):
            raise InvalidInputError(f"{self.name}: content_share must be in [0, 1], got {content_share!r}")
        self.negatives, self.content_share = negatives, float(content_share)

    def _network(self, torch: Any, teacher: _Teacher, params: dict[str, Any]) -> Any:
        return _mlp(torch, [teacher.content.shape[1], self.hidden, teacher.items.shape[1]], torch.nn.LeakyReLU)

    def _batch_loss(self, torch, net, teacher, users, items, negatives, params, generator):  # type: ignore[no-untyped-def]
        tau, lam = params["temperature"], params["lam"]
        normalize = torch.nn.functional.normalize
        # representation <-> embedding: each batch item's encoding against its own CF vector,
        # the batch's other (distinct) items as negatives
        unique = torch.unique(items)
        encoded = net(teacher.content[unique])
        sims = normalize(teacher.items[unique], dim=1) @ normalize(encoded, dim=1).T / tau
        loss_re = torch.nn.functional.cross_entropy(sims, torch.arange(unique.shape[0]))
        # user <-> item: the positive (column 0) against sampled warm items; each item input is
        # its content encoding with probability content_share, else its CF vector
        n_warm = teacher.warm_items.shape[0]
        sampled = teacher.warm_items[torch.randint(0, n_warm, (items.shape[0], self.negatives), generator=generator)]
        candidates = torch.cat([items.unsqueeze(1), sampled], dim=1)  # (B, 1 + n)
        distinct, rows = torch.unique(candidates.reshape(-1), return_inverse=True)
        # one draw per distinct item and mini-batch; each distinct item is encoded once per step
        swap = (torch.rand(distinct.shape[0], 1, generator=generator) < self.content_share).to(teacher.items.dtype)
        inputs = swap * net(teacher.content[distinct]) + (1.0 - swap) * teacher.items[distinct]
        logits = (teacher.users[users].unsqueeze(1) * inputs[rows].reshape(*candidates.shape, -1)).sum(2) / tau
        return lam * loss_re + (1.0 - lam) * _info_nce(torch, logits)

    def _cold_vectors(self, net: Any, content: Any) -> Any:
        return net(content)


def _aldi_terms(
    torch: Any, users: Any, teacher_pos: Any, teacher_neg: Any, student_pos: Any, student_neg: Any,
    identity_scale: float = 1.0,
) -> dict[str, Any]:
    """ALDI's four loss terms on a batch of ``(u, i, j)`` triples (row ``b`` of each tensor is one triple).

    ``users`` are the teacher's ``p_u`` (B, f); ``teacher_pos``/``teacher_neg`` its ``q_i``/``q_j``,
    ``student_pos``/``student_neg`` the student's ``s(c_i)``/``s(c_j)`` (B, f). Returns

    * ``basic``: BPR of the student, ``-mean log σ(s_ui - s_uj)``;
    * ``rating`` (rating distribution): ``mean(|t_ui - s_ui| + |t_uj - s_uj|)``;
    * ``ranking``: ``mean BCE(logit s_ui - s_uj, target σ(t_ui - t_uj))``;
    * ``identity`` (identification distance): ``mean BCE(logit c·d^S_i, target σ(c·d^T_i))`` with
      ``d_i = v_i·v_i - mean_j v_i·v_j`` over the batch's negatives and ``c = identity_scale``
      (see :func:`_identity_scale`; the reference code has ``c = 1`` on its own teacher's scale).
    """
    functional = torch.nn.functional
    teacher_ui, teacher_uj = (users * teacher_pos).sum(1), (users * teacher_neg).sum(1)
    student_ui, student_uj = (users * student_pos).sum(1), (users * student_neg).sum(1)
    # identification: how far an item is from itself vs from the batch's negatives
    # (mean_j v_i·v_j = v_i·mean_j v_j: one dot product instead of a batch x batch matrix)
    student_identity = (student_pos * student_pos).sum(1) - student_pos @ student_neg.mean(0)
    teacher_identity = (teacher_pos * teacher_pos).sum(1) - teacher_pos @ teacher_neg.mean(0)
    return {
        "basic": -functional.logsigmoid(student_ui - student_uj).mean(),
        "rating": ((teacher_ui - student_ui).abs() + (teacher_uj - student_uj).abs()).mean(),
        "ranking": functional.binary_cross_entropy_with_logits(
            student_ui - student_uj, torch.sigmoid(teacher_ui - teacher_uj)
        ),
        "identity": functional.binary_cross_entropy_with_logits(
            identity_scale * student_identity, torch.sigmoid(identity_scale * teacher_identity)
        ),
    }


class ALDI(PublishedColdModel):
    """ALDI (Huang et al., SIGIR 2023): a content student distilled from the warm teacher with
    rating-distribution, ranking and identification-distance alignment, over any warm backbone.

    Options: ``gamma`` (rating distribution alignment weight; grid 0.1/1.0), ``beta``
    (identification distance alignment weight; grid 0.1/1.0), ``alpha`` (ranking alignment
    weight, 1.0), ``lr`` (3e-3), ``hidden`` (width of the student's two tanh layers, 200), plus the
    training and ``cold-ridge`` options of :class:`DropoutNet`.

    Example::

        model = coldkit.models.create("aldi", encoder="hashing", warm="ease", seed=0).fit(train)
    """

    name = "aldi"
    GRID = {"gamma": (0.1, 1.0), "beta": (0.1, 1.0)}
    DEFAULTS = {"gamma": 0.1, "beta": 0.1, "alpha": 1.0, "lr": 3e-3}

    def __init__(
        self, gamma: float | None = None, beta: float | None = None, alpha: float | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self._fix("gamma", gamma, lambda v: v >= 0, ">= 0")
        self._fix("beta", beta, lambda v: v >= 0, ">= 0")
        self._fix("alpha", alpha, lambda v: v >= 0, ">= 0")

    def _network(self, torch: Any, teacher: _Teacher, params: dict[str, Any]) -> Any:
        return _mlp(torch, [teacher.content.shape[1], self.hidden, self.hidden, teacher.items.shape[1]], torch.nn.Tanh)

    def _batch_loss(self, torch, net, teacher, users, items, negatives, params, generator):  # type: ignore[no-untyped-def]
        distinct, rows = torch.unique(torch.cat([items, negatives]), return_inverse=True)
        student = net(teacher.content[distinct])[rows]  # each distinct item through the student once
        terms = _aldi_terms(
            torch, teacher.users[users], teacher.items[items], teacher.items[negatives],
            student[: items.shape[0]], student[items.shape[0] :], teacher.identity_scale,
        )
        return (terms["basic"] + params["gamma"] * terms["rating"] + params["alpha"] * terms["ranking"]
                + params["beta"] * terms["identity"])

    def _cold_vectors(self, net: Any, content: Any) -> Any:
        return net(content)
