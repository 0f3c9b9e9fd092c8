"""The contract every coldkit recommender follows, plus the shared plumbing of the built-in models."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import weakref
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

import numpy as np

from coldkit._lists import require_lists
from coldkit.data.interactions import Interactions, UserQuery, _not_whole
from coldkit.exceptions import ColdkitError, ComponentContractError, InvalidInputError, NotExplainableError
from coldkit.plugins.types import Ranked
from coldkit.validation import check_item_index

__all__ = ["Recommender", "NotFittedError"]

_F = TypeVar("_F", bound=Callable[..., Any])


class NotFittedError(ColdkitError, RuntimeError):
    """A recommender was asked for recommendations before :meth:`Recommender.fit`."""


class Recommender(ABC):
    """Fit on training interactions (over a full catalogue), then rank items for users.

    Subclasses implement :meth:`fit` and :meth:`_recommend` (or override :meth:`recommend`). Every ranking goes through the
    similarity backend registry (``coldkit.topk``): nothing loops over the catalogue in Python.

    Helpers for subclasses (added, the abstract contract is unchanged): :meth:`_remember`
    stores the training data, :meth:`_check_queries` validates a batch of queries,
    :meth:`_known_items` / :meth:`_exclusions` give the items to drop with ``exclude_known``.

    Every model also speaks pandas and external ids, with no code of its own: ``fit`` takes a
    DataFrame or a scipy sparse matrix (plus ``items=``, see :func:`coldkit.models.frames.to_interactions`)
    and ``recommend(users=[...], k=10, items=None, filter_seen=True)`` returns a DataFrame
    ``user_id, item_id, score, rank``. Subclasses keep writing ``fit(train: Interactions)`` and
    ``recommend(queries, k, ...)``: :meth:`__init_subclass__` wraps the ones they define, so a
    plugin's model gets the same front door as the built-in ones. ``get_params`` / ``set_params``
    come from the constructor's arguments, recorded when the model is built.

    Example::

        model = coldkit.models.create("popularity").fit(ratings_df, items=movies_df)
        model.recommend(users=["u1", UserQuery(history=["tt0114709"])], k=5)   # a DataFrame
    """

    name: str = "recommender"
    train_: Interactions | None = None
    #: The similarity backend every ranking of this model goes through (None: coldkit's default,
    #: ``"rust"``); set it with :meth:`set_backend` or ``coldkit.get_model(name, backend=...)``.
    backend: str | None = None
    #: Options a parent class takes through ``**options`` that this model refuses (a federated model has no
    #: choice of warm model): left out of :meth:`get_params`, so its output builds the model again.
    REFUSED_OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def set_backend(self, name: str | None) -> "Recommender":
        """Rank with the similarity backend ``name`` from now on (``"rust"``, ``"int8"``, ``"faiss-hnsw"``...).

        Applies to the model and to every model it is built from (the hybrid's sources). Returns
        the model. Raises UnknownComponentError (listing the backends) for an unregistered name.

        Example::

            model = coldkit.get_model("content", encoder="hashing", backend="int8").fit(train)
        """
        from coldkit.plugins.manager import registry

        if name is not None:
            registry("similarity_backend").get(name)  # an unknown name fails here, naming the registered ones
        seen: set[int] = set()

        def apply(model: "Recommender") -> None:
            if id(model) in seen:
                return
            seen.add(id(model))
            model.backend = name
            for value in vars(model).values():
                parts = value if isinstance(value, (list, tuple)) else [value]
                for part in parts:
                    if isinstance(part, Recommender):
                        apply(part)

        apply(self)
        return self

    _init_params: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> "Recommender":
        self = super().__new__(cls)
        if "backend" not in cls._parameters():  # every model takes it, outside its own arguments (_takes_backend)
            kwargs.pop("backend", None)
        # Record the constructor's arguments for get_params/set_params/repr. A call __init__ will
        # refuse anyway (unknown keyword...) is left for __init__ to report in its own words.
        try:
            bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
        except TypeError:
            self._init_params = {}
        else:
            params = dict(bound.arguments)
            params.pop(next(iter(params)), None)  # self
            for name, param in inspect.signature(cls.__init__).parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    params.update(params.pop(name, {}))
                elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                    params.pop(name, None)
            self._init_params = params
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__ and not getattr(cls.__dict__["__init__"], "_takes_backend", False):
            cls.__init__ = _init_takes_backend(cls.__dict__["__init__"])  # type: ignore[method-assign]
        if "fit" in cls.__dict__ and not getattr(cls.__dict__["fit"], "_takes_frames", False):
            cls.fit = _fit_takes_frames(cls.__dict__["fit"])  # type: ignore[method-assign]
        if "recommend" in cls.__dict__ and not getattr(cls.__dict__["recommend"], "_takes_frames", False):
            cls.recommend = _recommend_takes_frames(cls.__dict__["recommend"])  # type: ignore[method-assign]

    # ------------------------------------------------------------------ sklearn-style parameters

    @classmethod
    def _parameters(cls) -> dict[str, inspect.Parameter]:
        """The constructor's keyword parameters, following ``**options`` pass-through up the class tree (less
        :attr:`REFUSED_OPTIONS`: a parent's option the model refuses is none of its parameters)."""
        found: dict[str, inspect.Parameter] = {}
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = list(inspect.signature(init).parameters.values())[1:]
            for p in params:
                named = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                if named and p.name not in found and p.name not in cls.REFUSED_OPTIONS:
                    found[p.name] = p
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return found

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor arguments this model was built with, defaults included (sklearn-style).

        ``deep`` is accepted for scikit-learn compatibility; models hold no nested estimators to expand.
        """
        params = {name: p.default for name, p in self._parameters().items() if p.default is not inspect.Parameter.empty}
        params.update(getattr(self, "_init_params", {}))
        if self.backend is not None:  # every model takes it, outside its constructor (see set_backend)
            params["backend"] = self.backend
        return params

    def set_params(self, **params: Any) -> "Recommender":
        """Change constructor arguments; the model is rebuilt (so every value is validated again) and unfitted.

        Raises:
            InvalidInputError: an argument the constructor does not take (the message lists the valid ones).
        """
        valid = self._parameters()
        backend = params.pop("backend", self.backend)
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise InvalidInputError(
                f"{type(self).__name__}.set_params: unknown parameter(s) {unknown}; valid: {sorted([*valid, 'backend'])}"
            )
        rebuilt = type(self)(**{**getattr(self, "_init_params", {}), **params})
        # the backend on the new model first: an unknown name left this one rebuilt and unfitted (a bad value of
        # any other parameter already failed above, with the fitted model kept)
        if backend is not None:
            rebuilt.set_backend(backend)
        self.__dict__.clear()
        self.__dict__.update(rebuilt.__dict__)
        return self

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in self._parameters().items()}
        shown = []
        for key, value in getattr(self, "_init_params", {}).items():
            default = defaults.get(key, inspect.Parameter.empty)
            try:
                same = value is default or bool(value == default)
            except Exception:  # noqa: BLE001 - arrays and odd objects compare oddly; show them
                same = False
            if not same:
                shown.append(f"{key}={_short_repr(value)}")
        if self.backend is not None:  # not a constructor argument, but a setting get_params reports
            shown.append(f"backend={self.backend!r}")
        text = f"{type(self).__name__}({', '.join(shown)})"
        train = self.train_
        if train is None:
            return text + " (not fitted)"
        return text + f" (fitted: {train.n_users} users x {train.n_items} items, {train.matrix.nnz} interactions)"

    @abstractmethod
    def fit(self, train: Interactions) -> "Recommender":
        """Learn from ``train``; the catalogue (``train.catalog``) may hold items with no interactions."""

    def recommend(
        self,
        queries: Sequence[UserQuery],
        k: int,
        *,
        candidates: np.ndarray | None = None,
        exclude_known: bool = True,
    ) -> Ranked:
        """Top ``k`` item indices and scores per query, best first.

        The DataFrame form ``recommend(users=[...], k=10, items=None, filter_seen=True)`` takes
        external ids and returns a ``pandas.DataFrame`` (``user_id, item_id, score, rank``); see
        :func:`_recommend_takes_frames`.

        Args:
            queries: who to recommend for (a warm user index, new clicks, profile text).
            k: list length, capped at the catalogue size (the result has ``min(k, n_items)``
                columns, so a huge ``k`` allocates nothing); rows are padded with index -1 /
                score -inf when fewer items qualify (exclusions, candidates).
            candidates: item indices allowed in the output (None = the whole catalogue).
            exclude_known: drop items the user already interacted with (training items of a
                warm user plus ``query.history``).

        A query without clicks that the model scores 0 everywhere (nothing known, or a text or
        friends that say nothing) gets the allowed items by training popularity (score 0), not the
        item-index order its ties would otherwise come out in.

        Validates the arguments once, then calls :meth:`_recommend`, which subclasses implement.
        """
        checked, k, allowed = self._validate(queries, k, candidates)
        ranked = self._check_ranked(self._recommend(checked, k, allowed, exclude_known), len(checked), k)
        if not type(self).__module__.startswith("coldkit."):  # coldkit's own are tested against it (a hybrid at 1M items
            # calls recommend once per source: the known-items check of every query, each time, adds up)
            self._check_lists(ranked, checked, allowed, exclude_known)
        return ranked

    def _recommend(
        self, queries: list[UserQuery], k: int, candidates: np.ndarray | None, exclude_known: bool
    ) -> Ranked:
        """Rank for already validated ``queries``, ``k`` and ``candidates`` (a checked index array or None)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _recommend() or recommend()")

    def _check_ranked(self, ranked: object, n_queries: int, k: int) -> Ranked:
        """``ranked`` after checking it against the output contract of :meth:`recommend`.

        ``_recommend`` is where a plugin's model (or a plugin fusion inside the hybrid) hands its
        answer back; a short row became a shorter list without a word, and an index past the
        catalogue an IndexError deep in the caller that named neither the model nor the problem.
        The check costs O(B * k).

        Raises:
            ComponentContractError: not a Ranked, not ``(n_queries, k)``, NaN scores or item indices
                outside ``[-1, n_items)``, naming the model.
        """
        where = f"model {self.name!r} ({type(self).__module__}.{type(self).__qualname__})"
        if not isinstance(ranked, Ranked):
            raise ComponentContractError(f"{where}: _recommend returned a {type(ranked).__name__}, not a coldkit.Ranked")
        indices, scores = np.asarray(ranked.indices), np.asarray(ranked.scores)
        if indices.shape != (n_queries, k):
            raise ComponentContractError(
                f"{where} returned {indices.shape[0]} row(s) x {indices.shape[1]} item(s) for {n_queries} "
                f"quer{'y' if n_queries == 1 else 'ies'} and k={k}; it must return exactly k columns per query "
                "(padded with index -1 / score -inf)"
            )
        if indices.dtype.kind not in "iu" or scores.dtype.kind not in "fiu":
            raise ComponentContractError(f"{where} returned indices of dtype {indices.dtype} and scores of dtype {scores.dtype}")
        if np.isnan(scores).any():
            raise ComponentContractError(f"{where} returned NaN scores")
        n_items = self._require_fitted().n_items
        bad = (indices < -1) | (indices >= n_items)
        if bad.any():
            raise ComponentContractError(
                f"{where} returned item indices outside [-1, {n_items}): {np.unique(indices[bad])[:5].tolist()}"
            )
        return ranked

    def _check_lists(
        self, ranked: Ranked, queries: list[UserQuery], candidates: np.ndarray | None, exclude_known: bool
    ) -> None:
        """The rest of :meth:`recommend`'s contract, per list: no item twice, best first, only
        candidates, none of the user's own items (with ``exclude_known``).

        A plugin model that broke these was written out as it came (an item at ranks 1, 2 and 3,
        rank 2 scoring above rank 1), or had its answer filtered to nothing by ``coldkit recommend``
        with a note blaming the user's history. O(B * k log k), and the known items once per query:
        run for models outside the ``coldkit`` package (plugins, your own subclasses); coldkit's own
        are tested against it (the whole suite passes with it on for every model).

        Raises:
            ComponentContractError: naming the model and the first query at fault.
        """
        where = f"model {self.name!r} ({type(self).__module__}.{type(self).__qualname__})"
        indices, scores = np.asarray(ranked.indices), np.asarray(ranked.scores, dtype=np.float64)
        if indices.size == 0:
            return
        listed = indices >= 0
        unbounded = listed & ~np.isfinite(scores)
        if unbounded.any():  # written as "inf" / "-inf" scores (a real item at -inf reads as padding elsewhere)
            row = int(np.flatnonzero(unbounded.any(axis=1))[0])
            raise ComponentContractError(
                f"{where} returned query {row}'s list with infinite scores for listed items: {scores[row][:10].tolist()} "
                "(-inf is the padding's score, with index -1)"
            )
        require_lists(indices, scores, f"{where} returned", " (an item once, best first, padding -1 only at the end)")
        if candidates is not None:
            allowed = np.isin(indices, candidates) | ~listed
            if not allowed.all():
                row = int(np.flatnonzero(~allowed.all(axis=1))[0])
                raise ComponentContractError(
                    f"{where} listed items outside the candidates for query {row}: {indices[row][~allowed[row]][:5].tolist()}"
                )
        if exclude_known:
            for row, query in enumerate(queries):
                known = self._known_items(query)
                if known.size and np.isin(indices[row][listed[row]], known).any():
                    bad = indices[row][listed[row] & np.isin(indices[row], known)]
                    raise ComponentContractError(
                        f"{where} listed items the user already has for query {row} (exclude_known=True): {bad[:5].tolist()}"
                    )

    # ------------------------------------------------------------------ shared helpers

    def _remember(self, train: Interactions) -> Interactions:
        if not isinstance(train, Interactions):
            raise InvalidInputError(f"{self.name}.fit expects coldkit.data.Interactions, got {type(train).__name__}")
        self.train_ = train
        self._counts_memo = None  # the last fit's counts would keep its training set alive
        return train

    _counts_memo: tuple[Interactions, np.ndarray] | None = None

    def _item_counts(self) -> np.ndarray:
        """Interactions per item of the training data, counted once per training set (a bincount over
        every interaction: 0.14 s at 9M, which a batch run would otherwise pay once per batch)."""
        train = self._require_fitted()
        memo = self._counts_memo
        if memo is None or memo[0] is not train:
            memo = self._counts_memo = (train, train.item_counts())
        return memo[1]

    def _tie_break_counts(self) -> np.ndarray:
        """(n_items,) the popularity that orders a list the model scored 0 everywhere (a query without clicks).

        The raw training counts, except for a private model (one with ``privacy_spent``): those are what its
        noise protects, so it overrides this with the counts it released, and one that does not gets zeros
        (item-index order) rather than a leak.
        """
        if callable(getattr(self, "privacy_spent", None)):
            return np.zeros(self._require_fitted().n_items, dtype=np.float64)
        return self._item_counts()

    def _require_fitted(self) -> Interactions:
        if self.train_ is None:
            raise NotFittedError(f"{self.name}: call fit(train) before recommend()")
        return self.train_

    def _validate(
        self, queries: Sequence[UserQuery], k: object, candidates: object
    ) -> tuple[list[UserQuery], int, np.ndarray | None]:
        """The checked queries, ``k`` and candidate indices (raises InvalidInputError / NotFittedError)."""
        from coldkit.models._ranking import check_candidates
        from coldkit.validation import check_k

        n_items = self._require_fitted().n_items
        k = check_k(k, at_most=n_items)  # no list longer than the catalogue: nothing allocated for k = 10**12
        checked = self._check_queries(queries)
        return checked, k, check_candidates(candidates, n_items)

    def _explain_args(self, query: object, item: object) -> tuple[UserQuery, int]:
        """``explain``'s arguments as a checked query of indices and an item index.

        Indices (a :class:`UserQuery` of indices and an ``int`` item), or your own ids as
        ``recommend(users=...)`` takes them: a user id (or a ``UserQuery`` of ids) and an item id,
        e.g. ``model.explain("u0", "i5")``. One form for both: a bare user id, a ``UserQuery`` of ids
        or an item id string make the call speak ids (an int item is then the id ``"37"``, and a
        query's int history ids), as ``recommend(users=[3])`` reads ``3`` as the id ``"3"``. Mixed,
        ``explain(3, 37)`` explained the item at *row* 37 for user *id* 3: another item, silently.
        """
        train = self._require_fitted()
        external = not isinstance(query, UserQuery) or query.has_external_ids or isinstance(item, str)
        if external:
            from coldkit.models.frames import external_item_index, resolve_users  # frames imports this module

            if query is None or (hasattr(query, "__iter__") and not isinstance(query, (str, bytes))):
                # resolve_users' own words ("users= entries are user ids or UserQuery") named an argument
                # explain does not have
                raise InvalidInputError(f"explain(user, item): the user is one user id or a UserQuery, got {query!r:.60}")
            try:
                _, (query,) = resolve_users(train, [query])
            except InvalidInputError as exc:  # its message starts with the call it was written for
                raise InvalidInputError(str(exc).replace("recommend(users=...)", "explain(user, item)", 1)) from None
            item = external_item_index(train, item)
        assert isinstance(query, UserQuery)  # the index form's, or resolve_users' answer
        (checked,) = self._check_queries([query])
        return checked, check_item_index(item, train.n_items)

    @classmethod
    def _explains(cls) -> bool:
        """Whether this class's :meth:`explain` gives reasons (not the refusal below)."""
        return cls.explain is not Recommender.explain

    def explain(self, query: UserQuery | str, item: int | str) -> str:
        """Why ``item`` is recommended to ``query``, in words (what really entered its score).

        Models that can say so override this; here, for every other model, it raises
        :class:`~coldkit.exceptions.NotExplainableError` naming the model and the models that do
        explain (the method used to be missing on them: a bare ``AttributeError``). The arguments are
        checked first, so a bad user or item is still reported as such.
        """
        self._explain_args(query, item)
        raise NotExplainableError(
            f"model {self.name!r} gives no reason for its rankings (explain); the models that do: "
            + ", ".join(explaining_models())
        )

    def _check_queries(self, queries: Sequence[UserQuery]) -> list[UserQuery]:
        """Validate user indices and history item indices of every query against the training data."""
        train = self._require_fitted()
        if isinstance(queries, UserQuery):
            raise InvalidInputError("recommend() takes a sequence of UserQuery; wrap a single query in a list")
        checked = list(queries)
        for row, query in enumerate(checked):
            if not isinstance(query, UserQuery):
                # most often a list of plain user ids: say where those go, not only what was expected
                raise InvalidInputError(
                    f"query {row} is a {type(query).__name__}, expected coldkit.data.UserQuery; "
                    "external ids go in recommend(users=[...], k=...)"
                )
            if query.has_external_ids:
                raise InvalidInputError(
                    f"query {row}: holds external ids (strings); recommend(queries, k) takes indices — "
                    "use recommend(users=[...], k=...) for external ids"
                )
            if query.user is not None and _not_whole(query.user):
                # int() would turn 1.5 into user 1 and True into user 1: another user's list, silently
                raise InvalidInputError(f"query {row}: user index {query.user!r} is not a whole number")
            if query.user is not None and not (0 <= int(query.user) < train.n_users):
                raise InvalidInputError(
                    f"query {row}: user index {query.user} out of range [0, {train.n_users}); "
                    "pass an unknown user as UserQuery(history=..., text=...) instead"
                )
            if query.history.size and (query.history.min() < 0 or query.history.max() >= train.n_items):
                bad = query.history[(query.history < 0) | (query.history >= train.n_items)]
                raise InvalidInputError(
                    f"query {row}: history has item indices outside [0, {train.n_items}): {bad[:10].tolist()}"
                )
            if query.friends.size and (query.friends.min() < 0 or query.friends.max() >= train.n_users):
                bad = query.friends[(query.friends < 0) | (query.friends >= train.n_users)]
                raise InvalidInputError(
                    f"query {row}: friends has user indices outside [0, {train.n_users}): {bad[:10].tolist()}"
                )
        return checked

    def _known_items(self, query: UserQuery) -> np.ndarray:
        """Items the user interacted with: training items of a warm user plus ``query.history`` (unique)."""
        train = self._require_fitted()
        if query.user is not None and query.history.size == 0 and train.matrix.has_canonical_format:
            # a canonical CSR row is already sorted and unique (np.unique per query cost seconds per 10k users)
            return train.items_of(int(query.user))
        parts = [query.history]
        if query.user is not None:
            parts.append(train.items_of(int(query.user)))
        return np.unique(np.concatenate(parts)).astype(np.int64)

    def _exclusions(self, queries: Sequence[UserQuery], exclude_known: bool) -> list[np.ndarray] | None:
        if not exclude_known:
            return None
        return [self._known_items(q) for q in queries]


def explaining_models() -> list[str]:
    """The registered model names whose class gives its own :meth:`Recommender.explain` (sorted)."""
    from coldkit.models.registry import _target, model_names  # the registry imports this module

    names = []
    for name in model_names():
        try:
            target = _target(name)
        except Exception:  # a plugin that fails to load is reported by `coldkit plugins`, not here
            continue
        if inspect.isclass(target) and issubclass(target, Recommender) and target._explains():
            names.append(name)
    return names


def _media_columns_of(model: Recommender) -> tuple[str, ...]:
    """The item-table columns a model's encoder reads as media files (``multimodal``'s image/audio columns).

    Why: an ``items=`` table is read before the model sees it, and there a column of poster paths
    was taken as item text, and a table of ids and photos alone was refused for having no text.
    """
    # the constructor's arguments as given (a plugin model that skips Recommender.__init__ has none)
    params = getattr(model, "_init_params", None) or {}
    encoder = params.get("encoder")
    options = params.get("encoder_options") or {}
    found: list[str] = []
    for key in ("image_column", "audio_column"):
        column = options.get(key) if isinstance(encoder, str) and isinstance(options, Mapping) else getattr(encoder, key, None)
        if isinstance(column, str) and column:
            found.append(column)
    return tuple(found)


def _reads_item_vectors(model: Recommender) -> bool:
    """Whether every encoder of a model looks item vectors up by id (``precomputed``) instead of reading item text.

    Why: docs/encoders.md promises that an item table of ids alone is enough with item vectors, and
    ``coldkit recommend --item-vectors`` reads it so; ``fit(df, items=ids_only)`` with a precomputed
    encoder was refused for having "no text-like column ... or bring item vectors", which it had.
    """
    params = getattr(model, "_init_params", None) or {}
    encoder = params.get("encoder")
    encoders = list(encoder) if isinstance(encoder, (list, tuple)) else [encoder]
    return bool(encoders) and all(
        (e if isinstance(e, str) else getattr(e, "name", None)) == "precomputed" for e in encoders
    )


def _fit_takes_frames(fit: _F) -> _F:
    """``fit(train)`` that also takes a DataFrame / sparse matrix and the options of ``to_interactions``."""

    @functools.wraps(fit)
    def wrapper(self: Recommender, *args: Any, **kwargs: Any) -> Any:
        from coldkit.models.frames import FIT_OPTIONS, to_interactions

        options = {key: kwargs.pop(key) for key in FIT_OPTIONS if key in kwargs}
        if args:
            data, rest = args[0], args[1:]
        elif "train" in kwargs:
            data, rest = kwargs.pop("train"), ()
        else:
            raise InvalidInputError(f"{type(self).__name__}.fit needs the training data (a DataFrame, sparse matrix or Interactions)")
        if options or not isinstance(data, Interactions):
            data = to_interactions(data, media_columns=_media_columns_of(self),
                                   require_text=not _reads_item_vectors(self), **options)
            data = _same_catalog_as_last_fit(self, options.get("items"), data)
        try:
            return fit(self, data, *rest, **kwargs)
        except BaseException:
            # a fit that stops half way has stored some of the new data beside tables of the old fit
            # (a content model held the new catalogue and the old vectors: another item's list,
            # silently; the adapters failed on a bare assert): the model is unfitted now
            if isinstance(self, Recommender):
                self.train_ = None
            raise

    wrapper._takes_frames = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _same_catalog_as_last_fit(model: Any, given: object, data: Interactions) -> Interactions:
    """``data`` over the renumbered Catalog this model's last fit made of ``given``, where ``given`` is the same
    Catalog object, holding the same ids.

    Why: ``to_interactions`` renumbers the items, so each ``fit(df, items=catalog)`` held a new Catalog, and the
    content models' reuse of their vectors for a refit on the same catalogue object never applied (every refit
    encoded the catalogue again). Kept on the model, as that reuse is: a new model reads the catalogue afresh.
    """
    from coldkit.data.interactions import Catalog

    if not isinstance(given, Catalog):
        return data
    kept = model.__dict__.get("_renumbered_catalog")
    if kept is not None and kept[0]() is given and np.array_equal(kept[1].item_ids, data.catalog.item_ids):
        return dataclasses.replace(data, catalog=kept[1])
    model.__dict__["_renumbered_catalog"] = (weakref.ref(given), data.catalog)
    return data


class _NotGiven:
    """``users=`` left out (the index form), told apart from an explicit ``users=None``."""

    def __repr__(self) -> str:
        return "<not given>"  # how the default reads in help() and the API pages


_USERS_NOT_GIVEN: Any = _NotGiven()


def _check_overridden(model: Recommender, args: tuple[Any, ...], kwargs: dict[str, Any], ranked: object) -> None:
    """:meth:`Recommender.recommend`'s checks for a model that overrides ``recommend()`` itself (the docstring
    allows it): its lists went out unchecked, and ``coldkit recommend`` then filtered an answer that ignored the
    exclusions down to shorter lists, its note blaming the users' histories."""
    queries = args[0] if args else kwargs.get("queries")
    k = args[1] if len(args) > 1 else kwargs.get("k")
    candidates = args[2] if len(args) > 2 else kwargs.get("candidates")
    exclude_known = args[3] if len(args) > 3 else kwargs.get("exclude_known", True)
    checked, width, allowed = model._validate(queries, k, candidates)  # type: ignore[arg-type]
    model._check_lists(model._check_ranked(ranked, len(checked), width), checked, allowed, bool(exclude_known))


def _recommend_takes_frames(recommend: _F) -> _F:
    """``recommend(queries, k, ...)`` plus the DataFrame form ``recommend(users=..., k=10, items=None, filter_seen=True)``.

    In the DataFrame form every id is external: ``users`` holds user ids seen in training and/or
    :class:`UserQuery` objects whose ``user``/``history``/``friends`` are external ids (a mapping
    ``{label: ...}`` names cold users in the output); ``items`` restricts the candidates by item id;
    ``filter_seen`` drops items the user already has. Other keywords go to the model's own
    ``recommend`` (e.g. ``use_text`` of the content model).
    """

    @functools.wraps(recommend)
    def wrapper(self: Recommender, *args: Any, users: Any = _USERS_NOT_GIVEN, items: Any = None,
                filter_seen: bool | None = None, **kwargs: Any) -> Any:
        if users is None:  # explicit users=None fell into the index form: "missing argument 'queries'"
            raise InvalidInputError("users=None: pass a list of user ids and/or UserQuery objects (users=[] for none)")
        if users is _USERS_NOT_GIVEN:
            users = None
        if users is None and items is None and filter_seen is None:
            if not args and "queries" not in kwargs:  # "missing argument 'queries'" named a parameter the DataFrame form hides
                raise InvalidInputError(
                    f"{type(self).__name__}.recommend needs the users: recommend(users=[user ids or UserQuery], k=...) "
                    "(or recommend(queries, k) with index queries)"
                )
            if "exclude_known" in kwargs:  # bool("no") is True: a silently wrong list
                from coldkit.validation import check_flag

                kwargs["exclude_known"] = check_flag(kwargs["exclude_known"], "exclude_known")
            ranked = recommend(self, *args, **kwargs)
            queries = args[0] if args else kwargs.get("queries")
            if recommend is not _BASE_RECOMMEND and self.train_ is not None and not type(self).__module__.startswith("coldkit."):
                # (a model that keeps its training data elsewhere than train_ tells no catalogue to check against)
                _check_overridden(self, args, kwargs, ranked)
            return _popular_when_nothing_known(self, queries, ranked, kwargs.get("candidates"))
        if users is None:
            raise InvalidInputError("items=/filter_seen= belong to the DataFrame form: recommend(users=[...], k=..., items=...)")
        if args or "queries" in kwargs:
            raise InvalidInputError(
                "recommend(users=...) takes keywords only (k=, items=, filter_seen=); "
                "queries of indices go in the other form, recommend(queries, k)"
            )
        for old, new in (("candidates", "items"), ("exclude_known", "filter_seen")):
            if old in kwargs:
                raise InvalidInputError(f"recommend(users=...) takes {new}= instead of {old}=")
        k = kwargs.pop("k", 10)
        from coldkit.models.frames import item_indices, ranked_frame, resolve_users
        from coldkit.validation import check_flag

        train = self._require_fitted()
        labels, queries = resolve_users(train, users)
        candidates = None if items is None else item_indices(train, items)
        # checked, not bool(): filter_seen="no" is a non-empty string, read as True
        exclude_known = True if filter_seen is None else check_flag(filter_seen, "filter_seen")
        ranked = recommend(self, queries, k, candidates=candidates, exclude_known=exclude_known, **kwargs)
        return ranked_frame(train, labels, _popular_when_nothing_known(self, queries, ranked, candidates))

    wrapper._takes_frames = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _init_takes_backend(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model's ``__init__`` so that it also takes ``backend=`` (applied with :meth:`Recommender.set_backend`).

    ``get_params`` reports the backend beside the constructor's own arguments, and scikit-learn's ``clone``
    (like ``type(m)(**m.get_params())``) rebuilds a model from them: ``EASE(backend="numpy")`` was a
    TypeError, so no model with a backend could be cloned into a grid search. A constructor that names
    ``backend`` itself keeps it. ``functools.wraps``: ``inspect.signature`` still reads the model's own.
    """
    if "backend" in inspect.signature(init).parameters:
        return init

    @functools.wraps(init)
    def wrapper(self: "Recommender", *args: Any, backend: Any = None, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if backend is not None and type(self).__init__ is wrapper:  # the outermost constructor applies it, once
            if not isinstance(backend, str):
                raise InvalidInputError(f"{type(self).__name__}: backend must be a similarity backend name, got {backend!r}")
            self.set_backend(backend)

    wrapper._takes_backend = True  # type: ignore[attr-defined]
    return wrapper


#: Longest option value :meth:`Recommender.__repr__` shows whole.
_REPR_CHARS = 80


def _short_repr(value: Any) -> str:
    """An option's value as ``repr`` shows it: whole when short, else its kind and size (ml-100k's 943 user
    profiles made a hybrid's repr tens of KB long)."""
    text = repr(value)
    if len(text) <= _REPR_CHARS:
        return text
    if isinstance(value, Mapping):
        return f"{{...{len(value):,} entries}}"
    if isinstance(value, tuple):
        return f"(...{len(value):,} items)"
    if isinstance(value, (list, np.ndarray)):
        return f"[...{len(value):,} items]"
    return text[: _REPR_CHARS - 3] + "..."


def _reads_no_clicks(train: Interactions, query: UserQuery, counts: Callable[[], np.ndarray]) -> bool:
    """A query without clicks the model could read: no training row with items, and no history item that the
    counts know (text or friends may be there). An item nobody clicked in training (a new item, or one only
    held-out users took) tells a collaborative model nothing: 11-14 % of lastfm-2k's new users with one
    revealed click had only such clicks, and item-kNN and EASE gave them the catalogue's index order."""
    if query.user is not None and train.items_of(int(query.user)).size:
        return False
    return not query.history.size or not counts()[query.history].any()


def _popular_when_nothing_known(
    model: Recommender, queries: Any, ranked: Any, candidates: Any
) -> Any:
    """Rows of a query the model knows nothing about get the most popular items instead of the index order.

    A model scores a query without clicks 0 everywhere when nothing else it was given says anything
    (no text, a text that shares no word with the catalogue, friends who clicked nothing), and a row
    of ties comes out in item-index order: an artefact of the catalogue's file order, not a
    recommendation. Those rows (every score exactly 0, no clicks) are refilled with the allowed items
    by training interaction count (:meth:`Recommender._tie_break_counts`: a private model's DP counts),
    most first (ties by index), still with score 0 — the model's own score for each. A row with any other
    score is the model's answer and is left alone; so is a row with clicks on items the counts know (a model
    whose scores can be negative may tie its best items at 0). Clicks only on items nobody clicked in training
    are none a collaborative model can read: such a row is refilled too.
    """
    if not isinstance(ranked, Ranked) or model.train_ is None or ranked.indices.shape[1] == 0:
        return ranked
    try:
        query_list = list(queries)
    except TypeError:
        return ranked
    if len(query_list) != ranked.indices.shape[0]:
        return ranked
    listed = ranked.indices >= 0
    silent = np.all((ranked.scores == 0) | ~listed, axis=1) & listed.any(axis=1)
    # a private model's released counts, never its raw ones; read once, only where a silent row has clicks
    tie_counts = functools.cache(model._tie_break_counts)
    rows = [
        b for b in np.flatnonzero(silent)
        if isinstance(query_list[b], UserQuery) and not query_list[b].has_external_ids
        and _reads_no_clicks(model.train_, query_list[b], tie_counts)
    ]
    if not rows:
        return ranked
    from coldkit.models._ranking import check_candidates

    allowed = check_candidates(candidates, model.train_.n_items)
    counts = tie_counts()
    pool = np.arange(counts.size) if allowed is None else allowed
    order = _most_counted(pool, counts[pool], int(listed[rows].sum(axis=1).max()))
    indices, scores = ranked.indices.copy(), ranked.scores.copy()
    for b in rows:
        m = int(listed[b].sum())  # as many as the model listed (it may have dropped excluded items)
        indices[b, :m] = order[:m]
        scores[b, :m] = 0.0
    return Ranked(indices, scores)


def _most_counted(items: np.ndarray, counts: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` of ``items`` (ascending) with the highest ``counts``, most first, ties by lower index.

    A partition, then a sort of the few kept: the same order as a stable sort of all of them, without
    sorting a million-item catalogue for a list of 20.
    """
    if m >= items.size:
        return items[np.argsort(-counts, kind="stable")]
    cut = np.partition(counts, counts.size - m)[counts.size - m]  # the m-th largest count
    above = np.flatnonzero(counts > cut)
    tied = np.flatnonzero(counts == cut)[: m - above.size]  # ascending items: the lower ones first
    keep = np.concatenate([above, tied])
    return items[keep[np.argsort(-counts[keep], kind="stable")]]


_BASE_RECOMMEND = Recommender.recommend  # checks its own lists; an override of it is checked by the wrapper
Recommender.recommend = _recommend_takes_frames(Recommender.recommend)  # type: ignore[method-assign]


def item_title(train: Interactions, item: int) -> str:
    """How an explanation names item ``item``: its ``title``, else its ``name`` (an artist), else its id."""
    table = train.catalog.table
    for column in ("title", "name"):
        if column in table.columns:
            return str(table[column].iloc[item])
    return str(train.catalog.item_ids[item])
