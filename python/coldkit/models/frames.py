"""The DataFrame side of every recommender: pandas/scipy in, external ids in and out.

:class:`~coldkit.models.base.Recommender` routes ``fit(df | csr, items=...)`` and
``recommend(users=[...])`` through these functions, so the models themselves only ever see
:class:`~coldkit.data.interactions.Interactions` and dense indices.

Example::

    import pandas as pd
    from coldkit.models.frames import to_interactions

    ratings = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"]})
    train = to_interactions(ratings)               # items: the ids seen (no text)
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping, Sequence, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit.data.datasets import renumber_items, renumber_users
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.data.loaders import INTERACTION_NAMES, DuplicatePolicy, _lookalike_hint, catalog_from_frame, interactions_from_frame
from coldkit.exceptions import DataWarning, InvalidInputError
from coldkit.plugins.types import Ranked

__all__ = [
    "to_interactions", "resolve_users", "item_indices", "external_item_index", "ranked_frame", "FIT_OPTIONS"]

#: the names ``columns=`` maps from (``{coldkit's name: your column}``).
INTERACTION_COLUMNS = INTERACTION_NAMES

#: keyword arguments ``Recommender.fit`` takes besides the training data (all go to :func:`to_interactions`).
FIT_OPTIONS = ("items", "columns", "item_columns", "text_columns", "user_ids", "item_ids", "duplicates",
               "implicit_threshold", "binary")


def to_interactions(
    data: Any,
    *,
    items: pd.DataFrame | Catalog | None = None,
    columns: Mapping[str, str] | None = None,
    item_columns: Mapping[str, str] | None = None,
    text_columns: Sequence[str] | None = None,
    user_ids: Sequence[object] | None = None,
    item_ids: Sequence[object] | None = None,
    duplicates: DuplicatePolicy = "error",
    implicit_threshold: float | None = None,
    binary: bool = False,
    media_columns: Sequence[str] = (),
    require_text: bool = True,
    keep_order: bool = False,
) -> Interactions:
    """Training data in coldkit's shape from a DataFrame, a scipy sparse matrix or Interactions.

    Args:
        data: a DataFrame of ``user_id, item_id[, rating | weight, timestamp]`` rows (``columns``
            renames, e.g. ``{"user_id": "userId"}``); a scipy sparse matrix users x items
            (values are the weights); or :class:`Interactions` (returned as is).
        items: the item table, ``item_id`` + text columns (``item_columns`` renames, ``text_columns``
            picks the text; default: the text-like columns), or a :class:`Catalog`. It may hold cold
            items without interactions. Without it the catalogue is the item ids seen, with no text:
            content models then ask for it.
        user_ids: for a sparse matrix, the external id of each row (default ``"0", "1", ...``).
        item_ids: for a sparse matrix, the external id of each column (default
            ``"0", "1", ...``; with ``items`` and no ``item_ids`` the columns follow the item table).
        duplicates: repeated (user, item) rows: ``"error"`` (default), ``"last"``, ``"sum"`` or ``"max"``.
        implicit_threshold: DataFrame only: keep the rows with ``rating >= threshold``, as weight 1.
            The rows below it are not kept at all: the model may recommend those items back, and a
            user with no rating at or above it is unknown to it (``coldkit recommend
            --implicit-threshold`` excludes both, see :func:`coldkit.data.load_liked_and_rated`).
        binary: DataFrame only: weight 1 for every row (ratings of 0 included).
        media_columns: columns of ``items`` holding image/audio paths (the model's ``multimodal``
            encoder's; ``fit`` passes them): never default text, and a table of ids and media alone is accepted.
        require_text: whether an ``items`` table without a text-like column is an error; ``fit`` passes
            False for a model whose encoder reads item vectors by id (``precomputed``), where a table of
            ids alone is the whole catalogue.
        keep_order: DataFrame only: number the items in the item table's order and the users in order of
            their first row instead of by a hash of their ids (``evaluate(..., keep_item_order=True)``).

    A DataFrame's items and users are numbered by a hash of their ids
    (:func:`coldkit.data.renumber_items` / :func:`~coldkit.data.renumber_users`), never by its rows' order
    or the item table's, as ``coldkit recommend`` numbers its files; a sparse matrix keeps its rows and columns.

    Raises:
        InvalidInputError: a missing column, NaN/inf rating, unknown or duplicate id, a shape that
            does not match the ids, or an unsupported type — each named.
    """
    if not isinstance(data, pd.DataFrame) and (implicit_threshold is not None or binary):
        # the zero-weight error of a DataFrame points here; a matrix's values are the weights as given
        raise InvalidInputError("implicit_threshold=/binary= read a DataFrame's rating column; "
                                "for a sparse matrix or Interactions, set the values themselves")
    if isinstance(data, Interactions):
        if any(v is not None for v in (items, columns, item_columns, text_columns, user_ids, item_ids)):
            raise InvalidInputError("fit(Interactions) takes no items=/columns=/ids: the Interactions already carry them")
        return data
    catalog = _catalog(items, item_columns, text_columns, media_columns, require_text)
    if isinstance(data, pd.DataFrame):
        if user_ids is not None or item_ids is not None:
            raise InvalidInputError("user_ids=/item_ids= are for a sparse matrix; a DataFrame names its ids in its columns")
        unknown = [name for name in (columns or {}) if name not in INTERACTION_COLUMNS]
        if unknown:
            # a typo or a reversed mapping renamed the user's column to a name nothing reads, and the
            # error then listed columns their frame does not have
            raise InvalidInputError(
                f"columns= maps coldkit's names {list(INTERACTION_COLUMNS)} to your columns, e.g. "
                f"{{'user_id': 'userId'}}; {unknown} is not one of them"
            )
        wanted = [(columns or {}).get(name, name) for name in ("user_id", "item_id")]
        in_index = [name for name in wanted if name not in data.columns and name in [str(n) for n in data.index.names]]
        if in_index:
            # a frame after groupby/set_index keeps its ids in the index, and the error listed only the
            # remaining columns ("missing user_id, item_id; found ['rating']")
            raise InvalidInputError(
                f"interactions DataFrame: {in_index} are in the frame's index, not its columns; pass df.reset_index()"
            )
        # a 'weight' column (mapped or not) is read by the loader as the interaction strength, which
        # names it in its messages; renaming it to 'rating' here made a NaN play count "a NaN rating"
        if catalog is None:
            catalog = _catalog_of_seen_items(data, columns)
        train = interactions_from_frame(data, catalog, columns=columns, duplicates=duplicates, where="interactions DataFrame",
                                        implicit_threshold=implicit_threshold, binary=binary)
        # The frame's row order is no input, as the files' is not for `coldkit recommend`: items and users
        # are numbered by a hash of their ids. Numbered by first row, the same ratings shuffled (a query
        # without ORDER BY) drew other validation users for the hybrid and broke ties otherwise: 55 % of
        # its top-10 places kept, 21 % with the item table shuffled (a new user's review).
        return train if keep_order else renumber_users(renumber_items(train))
    if sp.issparse(data):
        if columns is not None:
            raise InvalidInputError("columns= renames DataFrame columns; a sparse matrix has none (use user_ids=/item_ids=)")
        return _from_sparse(sp.csr_matrix(data), catalog, user_ids, item_ids)
    raise InvalidInputError(
        f"fit() takes a pandas DataFrame (user_id, item_id[, rating, timestamp]), a scipy sparse matrix "
        f"(users x items) or coldkit.data.Interactions, got {type(data).__name__}"
    )


def _catalog(
    items: pd.DataFrame | Catalog | None,
    columns: Mapping[str, str] | None,
    text_columns: Sequence[str] | None,
    media_columns: Sequence[str] = (),
    require_text: bool = True,
) -> Catalog | None:
    if items is None:
        if columns is not None or text_columns is not None:
            raise InvalidInputError("item_columns=/text_columns= describe the items= table; pass items= too")
        return None
    if isinstance(items, Catalog):
        return items
    if not isinstance(items, pd.DataFrame):
        raise InvalidInputError(f"items= must be a pandas DataFrame (item_id + text columns), got {type(items).__name__}")
    id_name = (columns or {}).get("item_id", "item_id")
    if id_name not in items.columns and id_name in [str(n) for n in items.index.names]:
        # movies.set_index("movieId") is common: the error listed only the text columns left
        raise InvalidInputError(f"items DataFrame: {id_name!r} is the frame's index, not a column; pass items=df.reset_index()")
    # media columns are files, never default text; with them a table of ids and media is complete
    return catalog_from_frame(items, text_columns=text_columns, columns=columns, where="items DataFrame",
                              require_text=require_text and not media_columns, media_columns=media_columns)


def _catalog_without_text(ids: Iterable[object]) -> Catalog:
    """A catalogue of bare ids: models that need item text raise an error asking for ``items=``."""
    item_ids = np.asarray(list(ids), dtype=object)
    return Catalog(item_ids=item_ids, table=pd.DataFrame({"item_id": item_ids}), text_columns=())


def _catalog_of_seen_items(frame: pd.DataFrame, columns: Mapping[str, str] | None) -> Catalog:
    # the same id normalisation interactions_from_frame applies, so every row finds its item
    from coldkit.data.loaders import _ids, _own_name, _rename, _require_columns

    where = "interactions DataFrame"
    # the columns interactions_from_frame then reads, checked here first with the same message: how to map
    # them in the fit call (and that a text model needs items=); it said only which column was missing
    _require_columns(_rename(frame, columns, where), ["user_id", "item_id"], where, mapping=("--interaction-columns", columns),
                     renamed=columns)
    name = (columns or {}).get("item_id", "item_id")

    # named by the user's column: "empty item_id" of a frame whose ids are in 'iid' sent them looking for a column they lack
    seen = _ids(frame[name], _own_name("item_id", columns), where)
    return _catalog_without_text(dict.fromkeys(seen.tolist()))


def _id_list(values: Sequence[object] | None, n: int, what: str) -> list[str]:
    if values is None:
        return [str(i) for i in range(n)]
    values = list(values)
    missing = [pos for pos, v in enumerate(values) if _is_missing(v)]
    if missing:
        raise InvalidInputError(f"{what} has missing ids (None/NaN) at position(s) {missing[:5]}")
    ids = [_external(v) for v in values]
    if len(ids) != n:
        raise InvalidInputError(f"{what} has {len(ids)} ids for {n} matrix {'rows' if what == 'user_ids' else 'columns'}")
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"{what} has duplicates")
    return ids


def _from_sparse(
    matrix: sp.csr_matrix, catalog: Catalog | None, user_ids: Sequence[object] | None, item_ids: Sequence[object] | None
) -> Interactions:
    n_users, n_cols = matrix.shape
    users = _id_list(user_ids, n_users, "user_ids")
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool) or np.iscomplexobj(matrix.data):
        # a complex matrix lost its imaginary parts with only numpy's ComplexWarning
        raise InvalidInputError(f"the sparse matrix holds {matrix.dtype} values; interactions are real weights (float or int)")
    if matrix.nnz and not np.isfinite(matrix.data).all():
        raise InvalidInputError("the sparse matrix has NaN or inf values; drop or fix them first")
    zero = np.flatnonzero(matrix.data == 0)
    if zero.size:
        # a stored 0 is in the matrix's pattern (a "known" item to some models) with no weight (to others):
        # a DataFrame's 0 rating is refused alike (see coldkit.data.loaders)
        row = int(np.searchsorted(matrix.indptr, zero[0], side="right") - 1)
        raise InvalidInputError(
            f"the sparse matrix stores {zero.size:,} explicit zero(s) (e.g. row {row}, column {int(matrix.indices[zero[0]])}): "
            "an interaction needs a weight; drop them with matrix.eliminate_zeros(), or mark the likes with weights > 0"
        )
    negative = int(np.count_nonzero(matrix.data < 0))
    if negative:
        # as the DataFrame path warns: a dislike stored as -1 is still an interaction to most models
        warnings.warn(
            f"{negative:,} interaction(s) have a negative weight in the sparse matrix (e.g. a thumbs-down): most models "
            "(popularity, hybrid, binarized kNN/EASE) read every interaction as positive feedback, so they count as likes; "
            "keep only the likes (e.g. matrix.multiply(matrix > 0))",
            DataWarning,
            stacklevel=4,
        )
    if catalog is None:
        return Interactions(user_ids=np.asarray(users, dtype=object), catalog=_catalog_without_text(_id_list(item_ids, n_cols, "item_ids")), matrix=matrix)
    if item_ids is None:
        if n_cols != len(catalog):
            raise InvalidInputError(
                f"the sparse matrix has {n_cols} columns but items= has {len(catalog)} items; "
                "pass item_ids= naming the item of each column"
            )
        return Interactions(user_ids=np.asarray(users, dtype=object), catalog=catalog, matrix=matrix)
    columns = catalog.index_of(_id_list(item_ids, n_cols, "item_ids"))
    # column j of the input is catalogue item columns[j]; items= may also hold cold items
    moved = sp.csr_matrix((matrix.data, columns[matrix.indices], matrix.indptr), shape=(n_users, len(catalog)))
    return Interactions(user_ids=np.asarray(users, dtype=object), catalog=catalog, matrix=moved)


def _is_missing(value: object) -> bool:
    """None, NaN or pandas' NA: an empty cell, never an id."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _external(value: object) -> str:
    """An external id as the loaders store it: stripped text.

    A whole float is its int's text (``862.0`` -> ``"862"``): a pandas id column with a gap is
    float, and fit stores the same values as ints (``coldkit.data.loaders._ids``), so the values of
    the very column fit read must find their ids again.
    """
    if isinstance(value, bytes):
        return value.decode().strip()
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def resolve_users(
    train: Interactions, users: Sequence[object] | Mapping[object, object] | pd.Series | np.ndarray
) -> tuple[list[object], list[UserQuery]]:
    """Labels for the ``user_id`` column and index-based queries, from external ids and/or UserQuery.

    Each entry of ``users`` is an external user id seen in training, or a :class:`UserQuery` whose
    ``user`` / ``history`` / ``friends`` are external ids. A mapping ``{label: id or UserQuery}``
    names cold users in the output, and queries for one user apart; in a list, an entry's label is its
    user id (a query without ``user`` gets the label None), so each user may appear once, and so may one
    query without a user.

    Raises:
        InvalidInputError: unknown user or item ids (all named), a user listed more than once in a list
            (as an id or a ``UserQuery(user=...)``), more than one query without a user in a list, or a
            bare string instead of a list.
    """
    if isinstance(users, (str, bytes, UserQuery)):
        raise InvalidInputError("users= takes a list (of user ids or UserQuery); wrap a single one in a list")
    if isinstance(users, Mapping):
        pairs = list(users.items())
    else:
        # a bare number (users=42, a numpy scalar, a 0-d array) is one user id given without its list: it
        # failed as "TypeError: 'int' object is not iterable" from inside this function
        values = users.tolist() if isinstance(users, (pd.Series, pd.Index, np.ndarray)) else users
        try:
            entries = list(cast(Iterable[object], values))
        except TypeError:
            raise InvalidInputError(f"users= takes a list (of user ids or UserQuery), got {type(users).__name__} "
                                    f"{users!r:.60}; wrap a single one in a list: users=[{users!r:.60}]") from None
        pairs = [(None, u) for u in entries]
    user_index = train.user_index()
    labels: list[object] = []
    queries: list[UserQuery] = []
    unknown_users: list[str] = []
    unknown_items: list[str] = []
    unknown_friends: list[str] = []  # apart: "pass a new user as UserQuery(...)" was advice about the asker, not a friend
    # the user ids labelling the list's entries so far: [0, UserQuery(user=0, text=...)] gave two blocks of
    # rows both labelled "0", which a groupby on user_id merged (two rank-1 rows); the dict form names them
    asked: set[str] = set()
    repeated: list[str] = []
    for label, entry in pairs:
        if isinstance(entry, UserQuery):
            user = None
            if entry.user is not None:
                user = user_index.get(_external(entry.user))
                if user is None:
                    unknown_users.append(_external(entry.user))
            history = [_external(v) for v in entry.history.tolist()]
            unknown_items += [h for h in history if h not in train.catalog._index]
            friends = [_external(v) for v in entry.friends.tolist()]
            unknown_friends += [f for f in friends if f not in user_index]
            if unknown_users or unknown_items or unknown_friends:
                continue
            if label is None and entry.user is not None:
                repeated += [_external(entry.user)] if _external(entry.user) in asked else []
                asked.add(_external(entry.user))
            queries.append(
                UserQuery(
                    user=user,
                    history=np.asarray([train.catalog._index[h] for h in history], dtype=np.int64),
                    text=entry.text,
                    friends=np.asarray([user_index[f] for f in friends], dtype=np.int64),
                )
            )
            labels.append(label if label is not None else (_external(entry.user) if entry.user is not None else None))
        else:
            if entry is None or isinstance(entry, (list, tuple, dict, set, np.ndarray)):
                raise InvalidInputError(f"users= entries are user ids or UserQuery, got {entry!r}")
            if _is_missing(entry):
                raise InvalidInputError(f"users= holds a missing id ({entry!r}): drop the empty cells first")
            key = _external(entry)
            if key not in user_index:
                unknown_users.append(key)
                continue
            if label is None:  # a mapping's own labels keep two queries for one user apart
                if key in asked:
                    # 119 and "119" are one user: the frame would hold two blocks of rows under one user_id
                    repeated.append(key)
                asked.add(key)
            queries.append(UserQuery(user=user_index[key]))
            labels.append(label if label is not None else key)
    problems = []
    anonymous = sum(1 for label in labels if label is None)
    if anonymous > 1:
        # each one's rows were labelled None: a groupby("user_id") drops None keys (pandas' default) or,
        # once filled, merges them, so the lists of new users vanished or ran together without a word
        problems.append(
            f"{anonymous} queries without a user id in a list: each one's rows would be labelled None, and nothing would "
            "tell them apart; name them with a dict, e.g. users={'new 1': UserQuery(text=...), 'new 2': UserQuery(history=[...])}"
        )
    if unknown_users:
        names = list(dict.fromkeys(unknown_users))
        problems.append(f"unknown user ids {names[:10]}{' ...' if len(names) > 10 else ''} (not in the training data, "
                        "where a user whose every rating is below fit's implicit_threshold= has no row either; "
                        "pass a new user as UserQuery(history=[item ids], text=...))" + _lookalike_hint([str(n) for n in names[:10]], user_index))
    if unknown_friends:
        names = list(dict.fromkeys(unknown_friends))
        problems.append(f"unknown user ids in a friends list {names[:10]}{' ...' if len(names) > 10 else ''} (a friend is read by "
                        "what they clicked: only users of the training data can be friends)" + _lookalike_hint([str(n) for n in names[:10]], user_index))
    if unknown_items:
        names = list(dict.fromkeys(unknown_items))
        problems.append(f"unknown item ids in a history {names[:10]}{' ...' if len(names) > 10 else ''}"
                        + _lookalike_hint([str(n) for n in names[:10]], train.catalog._index))
    if repeated:
        names = list(dict.fromkeys(repeated))
        shown = names[0]
        problems.append(
            f"user ids listed more than once {names[:10]}{' ...' if len(names) > 10 else ''} (ids are compared as text; "
            "a UserQuery(user=...) counts as its user): in a list each user's rows are labelled by their id alone; to ask "
            f"for one user twice (e.g. with two texts), name the queries with a dict, e.g. users={{{shown!r}: {shown!r}, "
            f"{shown + ' (space)'!r}: UserQuery(user={shown!r}, text='space')}}"
        )
    if problems:
        raise InvalidInputError("recommend(users=...): " + "; ".join(problems))
    return labels, queries


def item_indices(train: Interactions, items: Iterable[object]) -> np.ndarray:
    """Catalogue indices of external item ids (``recommend(items=...)``); unknown ids are named."""
    if isinstance(items, (str, bytes)):
        raise InvalidInputError("items= takes a list of item ids; wrap a single one in a list")
    if isinstance(items, pd.DataFrame):
        # iterating a frame yields its column names, which came back as "unknown item ids"; the id
        # column is not taken silently either: fit's item_columns= may have named it otherwise
        raise InvalidInputError('recommend(items=...) takes a list of item ids, not a DataFrame: '
                                'pass its id column, e.g. items=df["item_id"]')
    if isinstance(items, (pd.Series, pd.Index, np.ndarray)) and np.ndim(items):  # a 0-d array is one number
        values = items.tolist()
    else:
        try:
            values = list(items)
        except TypeError:  # a bare number: the TypeError of list() said nothing about items=
            raise InvalidInputError(f"recommend(items=...): items= takes a list of item ids, got "
                                    f"{type(items).__name__} {items!r}") from None
    if any(_is_missing(v) for v in values):
        raise InvalidInputError("recommend(items=...) holds missing ids (None/NaN): drop the empty cells first")
    ids = [_external(v) for v in values]
    unknown = [i for i in dict.fromkeys(ids) if i not in train.catalog._index]
    if unknown:
        # items that came after fit are the usual reason: say where they go (a refit, or the serving index's
        # online writes), not only that they are unknown
        raise InvalidInputError(
            f"recommend(items=...): unknown item ids {unknown[:10]}{' ...' if len(unknown) > 10 else ''}: the candidates "
            "are items of the catalogue fit read (its items= table, which may hold items nobody rated); for items "
            "added since, fit again with them in items=, or add them online to a coldkit.serving.ServingIndex "
            "(index.upsert_items)"
        )
    return np.unique(np.asarray([train.catalog._index[i] for i in ids], dtype=np.int64))


def external_item_index(train: Interactions, item: object) -> int:
    """The catalogue index of one external item id (``explain(user, item)``), read as ``items=`` reads ids."""
    if isinstance(item, bool) or _is_missing(item) or isinstance(item, (list, tuple, np.ndarray, pd.Series)):
        raise InvalidInputError(f"explain(user, item): the item is one item id, got {item!r:.60}")
    key = _external(item)
    if key not in train.catalog._index:
        raise InvalidInputError(f"explain(user, item): unknown item id {key!r}")
    return int(train.catalog._index[key])


def ranked_frame(train: Interactions, labels: Sequence[object], ranked: Ranked) -> pd.DataFrame:
    """A long DataFrame ``user_id, item_id, score, rank`` (rank 1 = best; padding dropped)."""
    indices = np.asarray(ranked.indices)
    valid = indices >= 0
    rows, cols = np.nonzero(valid)
    label_array = np.empty(len(labels), dtype=object)
    label_array[:] = list(labels)
    return pd.DataFrame(
        {
            # a Series keeps None as None (a bare object array would turn it into NaN)
            "user_id": pd.Series(label_array[rows] if len(labels) else [], dtype=object),
            "item_id": train.catalog.item_ids[indices[valid]] if valid.any() else np.empty(0, dtype=object),
            "score": np.asarray(ranked.scores, dtype=np.float64)[valid],
            "rank": (cols + 1).astype(np.int64),
        }
    )
