"""Batch recommendations from plain files: what ``coldkit recommend`` runs, as a library call.

Writes ``user_id,item_id,rank,score`` (rank 1 = best, at most ``k`` rows per user). Items a user
already interacted with are never returned, and only candidate items are.

Example::

    from coldkit.batch import recommend_files

    summary = recommend_files("train.csv", "items.csv", "recs.csv", model="hybrid", k=20,
                              candidates="cold_items.txt", text_columns=["title", "genres"])
    print(summary["rows"], summary["notes"], summary["seconds"])

With ``progress`` on (the CLI's default; ``--quiet`` turns it off) every stage — load, encode, fit
of each model part, recommend — prints a line with its elapsed time and the peak memory so far on
stderr; ``summary["seconds"]`` holds the same timings. ``max_memory`` (``"6G"``) is the budget the
model may use (see :mod:`coldkit.models.memory`).
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any, BinaryIO, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from coldkit import _atomic
from coldkit._atomic import check_output_writable, refuse_read_only
from coldkit._paths import user_path_text
from coldkit._stages import stage, stage_reporting
from coldkit.data.datasets import renumber_items, renumber_users
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.data.loaders import (
    _lookalike_hint, _lookalike_ids, _lookalikes_text, load_interactions, load_items, load_liked_and_rated, load_user_graph, load_user_profiles, read_id_list,
)
from coldkit.data.vectors import ids_path_for
from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.models.registry import build_model, default_encoder_name, model_accepts, model_requires, parse_option_value
from coldkit.models.social import FriendsPopularity
from coldkit.privacy.modes import privacy_of
from coldkit.validation import check_k, check_options

__all__ = ["recommend_files", "write_recommendations"]


def recommend_files(
    interactions: str,
    items: str,
    out: str,
    *,
    model: str = "hybrid",
    k: int = 20,
    text_columns: Sequence[str] | None = None,
    user_profiles: str | None = None,
    profile_text_column: str = "text",
    profile_columns: dict[str, str] | None = None,
    candidates: str | None = None,
    users: str | None = None,
    options: dict[str, Any] | None = None,
    encoder: str | None = None,
    item_vectors: str | None = None,
    item_vector_columns: dict[str, str] | None = None,
    user_graph: str | None = None,
    user_graph_columns: dict[str, str] | None = None,
    interaction_columns: dict[str, str] | None = None,
    item_columns: dict[str, str] | None = None,
    implicit_threshold: float | None = None,
    duplicates: str = "error",
    encoding: str | None = None,
    sep: str | None = None,
    progress: bool | None = None,
    batch_size: int = 512,
    unknown_items: str = "error",
    max_memory: str | int | None = None,
    media: dict[str, Any] | None = None,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
) -> dict[str, Any]:
    """Fit ``model`` on the files and write ``user_id,item_id,rank,score`` to ``out``; returns a summary.

    Args (besides the files and the model): ``progress`` True/None prints stage lines and bars on
    stderr (None: bars only on a terminal), False is silent; ``max_memory`` is the memory budget
    (bytes or ``"6G"``; default a share of the machine's memory) for models that take
    ``memory_budget``. ``dp_epsilon`` / ``dp_delta`` run the model's private counterpart
    (``hybrid`` → ``dp-hybrid``, see :mod:`coldkit.privacy.modes`) with user-level (ε, δ)-DP
    (δ defaults to 1/(10·users)); ``summary["privacy"]`` then holds what it spent.

    ``item_vectors`` (a ``.npy`` + ``.ids.txt``, ``.npz`` or Parquet file; see
    :mod:`coldkit.data.vectors`) replaces item-text encoding with the user's own vectors (encoder
    ``precomputed``); ``item_vector_columns`` maps ``item_id``/``vector`` to Parquet columns, and
    ``encoder`` then names the encoder for profile texts (the one that made the vectors).

    ``unknown_items="drop"`` drops the interaction rows whose item is not in ``items`` (a
    :class:`~coldkit.exceptions.DataWarning` says how many, where, and which users had no other row);
    the default ``"error"`` refuses them.

    ``sep`` is the field separator of the CSV/TSV tables (interactions, items, profiles, graph); default:
    ``,`` for ``.csv``, tab for ``.tsv`` (``coldkit recommend --sep``).

    ``user_graph`` (one ``user_id,friend_id`` pair per row; ``user_graph_columns`` maps the names)
    is a social graph: models that take one (``hybrid``, ``friends``) get it, and a user without
    interactions is recommended for from what their friends liked.

    ``media`` (options of the ``multimodal`` encoder: ``image_column``, ``audio_column``,
    ``media_root``, ``image_encoder``...) adds the items' images/audio to their text; every media
    file that cannot be used is listed in ``summary["media_errors"]`` and the run continues.

    ``summary["users"]`` counts the users asked for, ``summary["users_written"]`` those with at least one
    row in ``out`` (a user with nothing left to recommend has none; a note names them).

    ``summary["notes"]`` says what the run decided or noticed (a model part it tuned, users without
    interactions...). Data read other than as given (a timestamp column with empty cells, negative
    ratings) is a :class:`~coldkit.exceptions.DataWarning`, a warning under the caller's filters
    (``warnings.simplefilter("error", DataWarning)`` stops the run; ``catch_warnings(record=True)``
    records it); ``coldkit recommend`` prints those among its notes.

    Raises:
        InvalidInputError: any bad input file or id (missing columns, unknown candidate ids,
            duplicates, NaN ratings, empty files, undecodable text, k < 1, an item vector file
            with a missing id, NaN or a wrong dimension: its first bad row); an ``out`` that exists
            and is read-only (it is not replaced).
        MemoryBudgetError: the model does not fit ``max_memory`` (an ``InvalidInputError``).
    """
    # a DataFrame (or None) here was a TypeError from os.fspath with no word of which argument
    for label, value, required in (
        ("interactions", interactions, True), ("items", items, True), ("out", out, True),
        ("user_profiles", user_profiles, False), ("candidates", candidates, False), ("users", users, False),
        ("item_vectors", item_vectors, False), ("user_graph", user_graph, False),
    ):  # fmt: skip
        if (value is not None or required) and not isinstance(value, (str, os.PathLike)):
            hint = " (for DataFrames: coldkit.get_model(NAME).fit(df, items=...).recommend(users=..., k=...))" if label != "out" else ""
            raise InvalidInputError(f"recommend_files reads and writes files: {label}= must be a path, got {type(value).__name__}{hint}")
    # a leading ~ is the user's home wherever the path came from (a quoted shell word, Python): see coldkit._paths
    interactions, items, out = user_path_text(interactions), user_path_text(items), user_path_text(out)
    user_profiles, candidates, users, item_vectors, user_graph = (
        None if path is None else user_path_text(path) for path in (user_profiles, candidates, users, item_vectors, user_graph)
    )
    k = check_k(k)
    batch_size = check_k(batch_size, "batch_size")  # 0 failed after the whole fit; -1 wrote no row and said it had
    options = check_options(options, "options")
    if not out.strip():  # "" read as the working directory: "output path '.' is a directory"
        raise InvalidInputError("--out is empty: give the CSV file to write, e.g. recs.csv")
    if out.strip() == "-":
        # not standard output: it was a file named "-" in the working directory, written without a word
        raise InvalidInputError("--out -: recommendations are written to a CSV file (atomically), not to standard output; give a path, e.g. recs.csv")
    check_output_writable(out)  # before any work: a directory/FIFO/link or read-only --out fails in a second, not after the fit
    refuse_read_only(out)  # the atomic rename would replace a file the user made read-only
    _check_out_is_csv(out)
    _check_out_is_no_input(
        out,
        {
            "--interactions": interactions, "--items": items, "--user-profiles": user_profiles, "--candidates": candidates,
            "--users": users, "--item-vectors": item_vectors, "--user-graph": user_graph,
            # a .npy's ids live beside it, and a later run read the recommendations as its ids
            "--item-vectors ids": str(ids_path_for(item_vectors)) if item_vectors is not None and item_vectors.endswith(".npy") else None,
        },
    )  # fmt: skip
    if max_memory is not None:
        from coldkit.models.memory import parse_memory

        try:
            max_memory = parse_memory(max_memory)  # a bad size fails before any file is read
        except InvalidInputError as exc:
            # "memory size must be ..." alone did not say which of the command's values it was
            raise InvalidInputError(f"max_memory (--max-memory): {exc}") from None
    if dp_epsilon is not None or dp_delta is not None:
        from coldkit.privacy.accountant import check_budget
        from coldkit.privacy.modes import private_model

        if dp_epsilon is None:
            if "dp_epsilon" in (options or {}):  # ε given as --option: "needs dp_epsilon too" read as if it were not
                raise InvalidInputError(
                    "dp_delta (--dp-delta) and --option dp_epsilon=... give the budget in two places; "
                    "give both as options (--option dp_delta=...) or both as --dp-epsilon/--dp-delta"
                )
            raise InvalidInputError("dp_delta (--dp-delta) needs dp_epsilon (--dp-epsilon) too")
        try:
            check_budget(dp_epsilon, 0.5 if dp_delta is None else dp_delta)  # δ vs 1/users is checked at fit
        except InvalidInputError as error:
            # the command line's user typed --dp-epsilon, the API's dp_epsilon: the message names both
            named = str(error).replace("dp_epsilon", "dp_epsilon (--dp-epsilon)").replace("dp_delta", "dp_delta (--dp-delta)")
            raise InvalidInputError(named) from None
        # --dp-epsilon 1 --option dp_epsilon=3 ran at ε = 1 and dropped the 3 without a word: two budgets
        clash = sorted(key for key in ("dp_epsilon", "dp_delta") if key in (options or {}))
        if clash:
            raise InvalidInputError(
                f"--dp-epsilon/--dp-delta and --option {', '.join(f'{key}=...' for key in clash)} name two privacy budgets; keep one"
            )
        model = private_model(model)
        # δ left out takes the model's default (1/(10·users)); passing None on showed "dp_delta=None"
        # in the run's summary, read as "no δ" (pure ε-DP), beside the "privacy: (ε, δ)" line with the real δ
        options = {**(options or {}), "dp_epsilon": dp_epsilon, **({} if dp_delta is None else {"dp_delta": dp_delta})}
    with stage_reporting(progress is not False):
        return _recommend_files(
            interactions, items, out, model=model, k=k, text_columns=text_columns, user_profiles=user_profiles,
            profile_text_column=profile_text_column, profile_columns=profile_columns, candidates=candidates, users=users, options=options,
            encoder=encoder, item_vectors=item_vectors, item_vector_columns=item_vector_columns,
            user_graph=user_graph, user_graph_columns=user_graph_columns,
            interaction_columns=interaction_columns, item_columns=item_columns,
            implicit_threshold=implicit_threshold, duplicates=duplicates, encoding=encoding, sep=sep, progress=progress,
            unknown_items=unknown_items,
            batch_size=batch_size, max_memory=max_memory, media=media,
        )


def _recommend_files(
    interactions: str,
    items: str,
    out: str,
    *,
    model: str,
    k: int,
    text_columns: Sequence[str] | None,
    user_profiles: str | None,
    profile_text_column: str,
    profile_columns: dict[str, str] | None,
    candidates: str | None,
    users: str | None,
    options: dict[str, Any] | None,
    encoder: str | None,
    item_vectors: str | None,
    item_vector_columns: dict[str, str] | None,
    user_graph: str | None,
    user_graph_columns: dict[str, str] | None,
    interaction_columns: dict[str, str] | None,
    item_columns: dict[str, str] | None,
    implicit_threshold: float | None,
    duplicates: str,
    encoding: str | None,
    sep: str | None,
    progress: bool | None,
    batch_size: int,
    max_memory: int | None,
    media: dict[str, Any] | None = None,
    unknown_items: str = "error",
) -> dict[str, Any]:
    if encoder is not None and "encoder" in (options or {}):  # checked before any file is read
        raise InvalidInputError(f"--encoder {encoder} and --option encoder=... name two item encoders; keep one")
    if isinstance(encoder, str):  # a misspelt name passed unnoticed where the model reads no text (popularity)
        from coldkit.plugins.manager import registry

        registry("encoder").get(encoder)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    notes: list[str] = []
    # what the loaders read other than as given (a timestamp column with empty cells...) is a DataWarning,
    # under the caller's filters like any warning; `coldkit recommend` prints those as notes
    with stage("load items and interactions"):
        # with item vectors, ids alone are a valid item table (the vectors stand for the content); so
        # they are for a model without an encoder (popularity, item-knn, ease...): one that still
        # reads item text (text-match) says so itself when it is fitted
        # and so they are with an image or audio column: the media describe the items (a catalogue of
        # product photos has no words), and the multimodal encoder leaves the text block empty
        needs_text = item_vectors is None and media is None and model_accepts(model, "encoder")
        media_columns = [media[key] for key in ("image_column", "audio_column") if media and media.get(key)]
        catalog = load_items(
            items, text_columns=text_columns, columns=item_columns, encoding=encoding, sep=sep, require_text=needs_text, media_columns=media_columns,
            interaction_columns=interaction_columns,
        )
        # with a threshold, the ratings below it are no likes but still seen: ``rated`` keeps them out
        # of the lists, and keeps a user who liked nothing among the users (as a new user)
        rated: Interactions | None = None
        if implicit_threshold is not None:
            train, rated = load_liked_and_rated(
                interactions, catalog, implicit_threshold=implicit_threshold, columns=interaction_columns,
                duplicates=duplicates, encoding=encoding, sep=sep, unknown_items=unknown_items,  # type: ignore[arg-type]
            )  # fmt: skip
        else:
            train = load_interactions(
                interactions,
                catalog,
                columns=interaction_columns,
                duplicates=duplicates,  # type: ignore[arg-type]
                encoding=encoding,
                sep=sep,
                unknown_items=unknown_items,  # type: ignore[arg-type]
            )
        file_users = [str(u) for u in (rated if rated is not None else train).user_ids]  # the output's order
        file_catalog = catalog  # what messages about rows of --items count in
        # The files' row order is no input: items and users are numbered by a hash of their ids. Ties (equal
        # counts, item-kNN's neighbour cut) went to the earlier row, and the hybrid's carved validation users
        # were drawn over positions: an export without ORDER BY, shuffled, changed the default hybrid's top 10
        # for 138 of 150 users (a first-time user's review).
        train = renumber_users(renumber_items(train))
        if rated is not None:
            rated = renumber_users(renumber_items(rated))
        catalog = train.catalog
        seen = rated if rated is not None else train  # what each user has interacted with, liked or not
        profiles = (
            load_user_profiles(user_profiles, text_column=profile_text_column, columns=profile_columns, encoding=encoding, sep=sep) if user_profiles else {}
        )
        graph = load_user_graph(user_graph, columns=user_graph_columns, encoding=encoding, sep=sep) if user_graph else {}
        if user_graph and not graph:
            # its rows all paired a user with itself (dropped): the friends model then said "without --user-graph"
            notes.append(f"--user-graph {user_graph}: no friendship left: every row pairs a user with itself, and those are dropped")
        known_users = {str(u) for u in seen.user_ids} | set(profiles) | set(graph)
        user_list = read_id_list(users, what="user ids", encoding=encoding, known=known_users) if users else file_users
        if users:
            _check_id_lines(user_list, users, "--users", known_users, "user_id", interaction_columns)
        cand = None
        if candidates:
            catalog_ids = {str(i) for i in catalog.item_ids}
            cand_ids = read_id_list(candidates, what="candidate item ids", encoding=encoding, known=catalog_ids)
            _check_id_lines(cand_ids, candidates, "--candidates", catalog_ids, "item_id", item_columns)
            try:
                cand = np.sort(catalog.index_of(cand_ids))  # raises naming unknown ids
            except InvalidInputError as exc:  # say which file: the message names only the ids
                # "7" for the catalogue's "007" (a spreadsheet dropped the zeros): name the id it looks like
                unknown = [c for c in cand_ids if c not in catalog._index]
                hint = _lookalike_hint(unknown, catalog._index)
                raise InvalidInputError(f"--candidates {candidates}: {exc}{hint}") from None
    seconds["load"] = time.perf_counter() - clock
    if needs_text and media is None and catalog.text_columns:  # with media, images/audio still rank them
        blank = file_catalog.without_text()
        if blank.any():
            # a mostly empty description column ran without a word: those items are invisible to every
            # content source, and a cold one among them can only come from popularity
            notes.append(
                f"{int(blank.sum()):,} of {len(catalog):,} item(s) have no text in {', '.join(catalog.text_columns)} "
                f"(e.g. {file_catalog.item_ids[int(np.flatnonzero(blank)[0])]!r}): content matching cannot rank them; "
                "add text columns with --text-columns"
            )
    # (negative ratings, read as likes, are warned of by the loader: a DataWarning above)
    notes.extend(_timestamp_notes(seen))
    n_cand = len(cand) if cand is not None else len(catalog)
    if n_cand < k:
        notes.append(f"only {n_cand} candidate item(s) for k={k}: lists have at most {n_cand} items")

    opts = dict(options or {})
    if item_vectors is not None:
        # a profile file whose every text is empty means "no profile text" (noted below), not profiles to place
        # beside the vectors: it was refused here first ("--user-profiles with --item-vectors needs --encoder")
        has_profile_text = bool(profiles) and any(str(text).strip() for text in profiles.values())
        opts["encoder"] = _precomputed_encoder(
            item_vectors, item_vector_columns, file_catalog.item_ids, model, opts, encoder, has_profile_text, notes
        )
    multimodal = None
    if media is not None:
        multimodal = _multimodal_encoder(media, model, opts, item_vectors, encoder)
        opts["encoder"] = multimodal
    if "encoder" not in opts and model_accepts(model, "encoder"):
        opts["encoder"] = encoder or default_encoder_name()
    elif encoder is not None and not model_accepts(model, "encoder"):  # say so: the user expects text to count
        notes.append(f"--encoder {encoder} has no effect on model {model} (it reads no item or profile text)")
    opts = {key: (parse_option_value(v) if isinstance(v, str) else v) for key, v in opts.items()}
    if profiles and not any(text.strip() for text in profiles.values()):
        notes.append("--user-profiles: every profile text is empty; recommending without profile text")
        profiles = {}
    if profiles and "user_profiles" not in opts and model_accepts(model, "user_profiles"):
        opts["user_profiles"] = profiles
    # (an option the model does not take is the first thing to say: build_model names it, and what it takes)
    takes_every_option = all(model_accepts(model, key) for key in opts)
    if "user_profiles" in model_requires(model) and "user_profiles" not in opts and takes_every_option:
        # the constructor's own "missing 1 required positional argument: 'user_profiles'" names a
        # Python keyword the command line's user never typed; name the flag that fills it
        given = " (every text in it is empty)" if user_profiles else ""
        raise InvalidInputError(
            f"model {model!r} ranks users by their profile texts and needs --user-profiles{given}: a file of "
            "user_id,text rows for the training users (--profile-columns maps other column names)"
        )
    if "user_profiles" in model_requires(model) and isinstance(opts.get("user_profiles"), dict) and takes_every_option:
        training_users = train.user_index()
        if not any(uid in training_users for uid in opts["user_profiles"]):
            # the model's own "no training user has a profile text" did not say why
            hint = _lookalike_hint(list(opts["user_profiles"])[:10], training_users)
            raise InvalidInputError(
                f"--user-profiles {user_profiles}: no profile belongs to a user of --interactions, and model {model!r} "
                f"ranks users by the training users' profile texts{hint}"
            )
    elif profiles and "encoder" not in opts and not model_accepts(model, "encoder"):
        # a model with no encoder reads no query text either: the profiles were loaded for nothing,
        # and the user believes new users were ranked by them (--user-graph is refused alike)
        notes.append(f"--user-profiles has no effect on model {model} (it reads no profile text); choose e.g. hybrid or content")
    if graph:
        if not model_accepts(model, "user_graph"):
            raise InvalidInputError(f"--user-graph: model {model!r} does not use a social graph; choose e.g. hybrid or friends")
        if model_accepts(model, "dp_epsilon"):
            # they accept the graph (the evaluation hands it to every model) and learn nothing from it: a friend's
            # clicks are another user's data, outside the budget; the lists were those of a run without it
            raise InvalidInputError(
                f"--user-graph: the private model {model!r} does not use a social graph (a friend's clicks are another "
                "user's data, outside the privacy budget); leave it out, or drop --dp-epsilon for the hybrid's friends source"
            )
        opts.setdefault("user_graph", graph)
    if max_memory is not None and "memory_budget" not in opts:
        if model_accepts(model, "memory_budget"):
            opts["memory_budget"] = max_memory
        else:  # say so rather than let the user believe the run was bounded
            notes.append(f"--max-memory has no effect on model {model} (it builds no large matrix to budget)")
    # building loads the encoder (torch and the model's weights: seconds, more from a cold disk)
    with stage(f"load model {model}"):
        recommender = build_model(model, **opts)
    if isinstance(recommender, FriendsPopularity) and not recommender.user_graph and not user_graph:
        # on the command line a query's friends come from --user-graph alone: without it every user's
        # list was the catalogue's popularity, written under the name of the friends model without a word
        notes.append(
            f"model {model} without --user-graph: nobody has friends, so every list is the most popular items "
            "(pass --user-graph, a user_id,friend_id file)"
        )
    clock = time.perf_counter()
    with stage(f"fit {model} on {train.n_users:,} users x {train.n_items:,} items ({train.matrix.nnz:,} interactions)"):
        recommender.fit(train)
    seconds["fit"] = time.perf_counter() - clock
    notes.extend(str(note) for note in getattr(recommender, "notes_", None) or ())  # e.g. what the hybrid tuned
    if needs_text and media is None and item_vectors is None and catalog.text_columns:
        cut = _truncated_texts_note(recommender, catalog)
        if cut:
            notes.append(cut)
    media_errors = [str(e) for e in multimodal.errors_] if multimodal is not None else []
    if multimodal is not None:
        notes.extend(multimodal.notes_)  # how many items have each medium, the weights chosen

    uindex = train.user_index()
    seen_index = seen.user_index()  # with --implicit-threshold, also the users who liked nothing
    queries, cold, cold_text, cold_friends = [], 0, 0, 0
    for uid in user_list:
        row = uindex.get(uid)
        friends = [uindex[f] for f in graph.get(uid, ()) if f in uindex] if row is None else []
        query = UserQuery(user=row, text=profiles.get(uid), friends=np.array(sorted(friends), dtype=np.int64))
        queries.append(query)
        if uid not in seen_index:  # no interaction at all (the note below counts those who liked nothing)
            cold += 1
            cold_text += query.has_text
            cold_friends += bool(friends)
    disliked_only = [uid for uid in user_list if uid not in uindex and uid in seen_index]
    if disliked_only:
        # without the ratings file's other rows they vanished from the output without a word
        notes.append(
            f"{len(disliked_only)} user(s) rated nothing at or above --implicit-threshold {implicit_threshold:g} ({_first_ids(disliked_only)}): "
            f"no like to learn from, so model {model} ranks them as new users; the items they rated are not recommended back"
        )
    if cold:
        # what is known about them; how the model uses it (popularity, text, friends, or nothing) is the model's
        known = f"{cold_text} with a profile text" + (f", {cold_friends} with friends" if graph else "")
        nobody = [u for u in user_list if u not in seen_index]
        notes.append(f"{cold} user(s) have no interaction ({known}; {_first_ids(nobody)}): model {model} ranks them from that alone")
        lookalikes = _lookalike_ids(nobody, seen_index)
        if lookalikes:
            shown = _lookalikes_text(lookalikes)
            notes.append(f"--users: ids are matched as text: {shown} (check how the users list was written)")
    requested = set(user_list)  # once: built per profile, 100k unknown profiles x 500k users took hours
    unknown_profiles = [u for u in profiles if u not in uindex and u not in requested]
    if unknown_profiles and users is None:
        notes.append(f"{len(unknown_profiles)} profile(s) belong to users not in --interactions (pass --users to include them)")
    profile_lookalikes = _lookalike_ids(unknown_profiles, seen_index)
    if profile_lookalikes:
        # a profiles file saved from a float column ("1.0") matched no user, and the note above called them new users
        notes.append(f"--user-profiles: ids are matched as text: {_lookalikes_text(profile_lookalikes)} "
                     "(check how the profiles file was written)")
    if graph:
        # a graph whose ids match no training user ("1.0" for "1") gave every user no friend, and the friends
        # model (or the hybrid's friends source) ranked without them without a word
        friend_ids = sorted({f for fs in graph.values() for f in fs})
        strangers = [f for f in friend_ids if f not in uindex]
        if friend_ids and len(strangers) == len(friend_ids):
            notes.append(f"--user-graph: none of its {len(friend_ids):,} friend id(s) is a user of --interactions "
                         f"(e.g. {friend_ids[0]!r}), so no user has a friend to learn from")
        graph_lookalikes = _lookalike_ids(strangers, seen_index)
        if graph_lookalikes:
            notes.append(f"--user-graph: ids are matched as text: {_lookalikes_text(graph_lookalikes)} "
                         "(check how the graph file was written)")

    cand_mask = None
    if cand is not None:
        cand_mask = np.zeros(len(catalog), dtype=bool)
        cand_mask[cand] = True
    frames = []
    empty_users: list[str] = []  # users every allowed item is excluded for: no row at all in the output
    disable = None if progress is None else not progress
    clock = time.perf_counter()
    seen_rows = np.asarray([seen_index.get(uid, -1) for uid in user_list], dtype=np.int64)
    # items a user rated below the threshold are not in the model's data, so it may rank them: ask for
    # that many more and drop them below (0 without a threshold: the model excludes what it knows). One
    # depth for every batch, the most any user needs: a depth per batch made a user's list (its ties at
    # the cut, a hybrid's fusion depth) depend on which users shared its batch
    unliked = np.zeros(len(user_list), dtype=np.int64)
    if rated is not None:
        has_row = seen_rows >= 0
        unliked[has_row] = np.diff(rated.matrix.indptr)[seen_rows[has_row]]
        liked_rows = np.asarray([-1 if q.user is None else int(q.user) for q in queries], dtype=np.int64)
        unliked[liked_rows >= 0] -= np.diff(train.matrix.indptr)[liked_rows[liked_rows >= 0]]
    depth = min(k + int(unliked.max(initial=0)), n_cand)
    with stage(f"recommend k={k} for {len(queries):,} users over {n_cand:,} candidates"):
        for start in tqdm(range(0, len(queries), batch_size), desc="recommending", disable=disable):
            batch = queries[start : start + batch_size]
            ranked = recommender.recommend(batch, depth, candidates=cand, exclude_known=True)
            idx = np.asarray(ranked.indices, dtype=np.int64)[:, :depth]
            scores = np.asarray(ranked.scores, dtype=np.float64)[:, :depth]
            # Recommender.recommend checks what _recommend returns; a model that overrides recommend()
            # itself is checked here, or a short batch or a past-the-end index was an IndexError below
            if idx.shape[0] != len(batch) or ((idx < -1) | (idx >= len(catalog))).any():
                raise ComponentContractError(
                    f"model {model!r} returned {idx.shape[0]} row(s) for {len(batch)} user(s), or item indices "
                    f"outside [-1, {len(catalog)})"
                )
            # Enforce the output contract whatever the model does: no padding, only candidates, never
            # an item the user already interacted with.
            valid = idx >= 0
            if cand_mask is not None:
                valid &= cand_mask[np.where(idx >= 0, idx, 0)]
            valid &= ~_known_to(seen, seen_rows[start : start + len(batch)], idx)
            valid &= np.cumsum(valid, axis=1) <= k  # the extra depth asked for above, beyond k, goes
            rows, cols = np.nonzero(valid)
            listed = valid.sum(axis=1)
            empty_users.extend(user_list[start + int(b)] for b in np.flatnonzero(listed == 0))
            ranks = np.cumsum(valid, axis=1)[rows, cols]
            frames.append(
                pd.DataFrame(
                    {
                        "user_id": np.asarray(user_list[start : start + len(batch)], dtype=object)[rows],
                        "item_id": catalog.item_ids[idx[rows, cols]],
                        "rank": ranks.astype(np.int64),
                        "score": scores[rows, cols],
                    }
                )
            )
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["user_id", "item_id", "rank", "score"])
    seconds["recommend"] = time.perf_counter() - clock
    if empty_users:
        # without this a requested user is simply absent from the file, which reads like a lost user
        notes.append(
            f"{len(empty_users)} user(s) get no recommendation and have no row in {out} ({_first_ids(empty_users)}): "
            f"no {'candidate' if cand is not None else 'catalogue'} item was left for them after removing the items "
            "they interacted with, or the model listed none"
        )
    clock = time.perf_counter()
    with stage(f"write {len(table):,} rows"):
        write_recommendations(out, table)
    seconds["write"] = time.perf_counter() - clock
    return {
        "out": out, "users": len(user_list), "users_written": len(user_list) - len(empty_users), "rows": len(table),
        "model": model, "options": opts, "notes": notes,
        "media_errors": media_errors,
        "text_columns": list(catalog.text_columns),
        "seconds": seconds,
        "privacy": privacy_of(recommender),
    }


#: rows formatted at a time by :func:`write_recommendations`: ~5 MB of CSV text for typical ids
_WRITE_CHUNK_ROWS = 100_000


def write_recommendations(out: str | os.PathLike[str], table: pd.DataFrame, *, chunk_rows: int = _WRITE_CHUNK_ROWS) -> None:
    """Write ``table`` (``user_id,item_id,rank,score``) to ``out`` as CSV, atomically, ``chunk_rows`` rows at a time.

    Why in chunks: the whole file's text was built in memory (a ``StringIO``, then its bytes) before the
    write, two more copies of the output beside the table: at 1M users x k=20 the peak memory doubled.
    Each chunk is formatted and written to the temp file that :func:`coldkit._atomic.atomic_write` renames
    over ``out`` once complete, so the guarantees stay (no partial file visible, the temp file removed on an
    error or a stop signal). The bytes are those of ``table.to_csv(index=False, float_format="%.6g")``:
    pandas formats each value alone, and the header goes with the first chunk only (an empty table is
    its header line).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")

    def write(handle: BinaryIO) -> None:
        for start in range(0, max(len(table), 1), chunk_rows):
            part = table.iloc[start : start + chunk_rows]
            handle.write(part.to_csv(index=False, header=start == 0, float_format="%.6g").encode("utf-8"))

    # looked up on the module at call time, as atomic_write_bytes does (tests slow the write down there)
    _atomic.atomic_write(out, write)


#: suffixes of other formats than the plain CSV that is written: the inputs may be Parquet or
#: gzipped, and an --out recs.parquet (or .csv.gz) got CSV text under that name, which the user's
#: reader then failed on (or, for .tsv, split wrongly)
_NOT_CSV_SUFFIXES = (".parquet", ".pq", ".gz", ".bz2", ".xz", ".zip", ".zst", ".tsv", ".json", ".jsonl", ".xlsx", ".xls",
                     ".feather", ".arrow")  # fmt: skip


def _check_out_is_csv(out: str | os.PathLike[str]) -> None:
    text = os.fspath(out)
    if text.endswith(("/", os.sep)) and text.strip("/" + os.sep):
        # "--out results/" means a folder; the path without its slash was written as a file named "results"
        raise InvalidInputError(
            f"--out {text!r} ends in '/': --out is the CSV file to write, not a folder; e.g. {os.path.join(text, 'recs.csv')}"
        )
    name = text.lower()
    wrong = next((suffix for suffix in _NOT_CSV_SUFFIXES if name.endswith(suffix)), None)
    if wrong is not None:
        raise InvalidInputError(
            f"--out {os.fspath(out)!r}: recommendations are written as plain CSV (user_id,item_id,rank,score), "
            f"not {wrong}; name the file .csv"
        )


def _check_out_is_no_input(out: str, inputs: dict[str, str | None]) -> None:
    """Refuse an ``out`` that is one of the input files: the write would replace the user's data.

    Raises:
        InvalidInputError: ``out`` is (or links to, or resolves to) the file of one of ``inputs`` (flag -> path).
    """
    # by the path it resolves to as well: "new/../inter.csv" names the input through a folder the atomic
    # writer creates, and samefile() needs the out path to exist already
    real_out = os.path.realpath(out)
    for flag, path in inputs.items():
        if path is None:
            continue
        same_path = os.path.realpath(path) == real_out
        if same_path or (os.path.exists(out) and os.path.exists(path) and os.path.samefile(out, path)):  # hard links too
            raise InvalidInputError(f"--out {out} is the {flag} file; writing there would replace your input, give another path")


def _check_id_lines(
    ids: Sequence[str], path: str, flag: str, known: set[str], standard: str, columns: dict[str, str] | None
) -> None:
    """Refuse an id file that is really a table: a header line, or comma/tab-separated rows.

    An unknown user id is a valid cold user, so without this a ``user_id`` header or ``u1,2026-01-01``
    rows would each get popular items, silently; an id that is known is always accepted as is.

    Raises:
        InvalidInputError: the first id is unknown and is the column's name; an unknown id holds a comma or tab.
    """
    headers = {standard, (columns or {}).get(standard, standard)}
    if ids and ids[0] not in known and ids[0] in headers:
        raise InvalidInputError(f"{flag} {path}: first line {ids[0]!r} looks like a header; give one id per line, no header")
    for line in ids:
        if line not in known and ("," in line or "\t" in line):
            raise InvalidInputError(f"{flag} {path}: line {line!r} looks like a CSV row; give one id per line, nothing else")


#: Item texts whose length ``coldkit recommend`` measures for its note on texts cut at the encoder's limit.
TRUNCATION_SAMPLE = 2000


def _truncated_texts_note(model: Any, catalog: Catalog, sample: int = TRUNCATION_SAMPLE) -> str | None:
    """A note when a share (≥ 1 %) of the item texts is longer than the text encoder reads (``max_length``
    tokens), counted on at most ``sample`` items (a seeded sample beyond that); None otherwise.

    Why: ``bert`` (MiniLM) reads 256 tokens. An item text joined from a title, a 200–500-word description and
    then a category was cut inside the description for 98 % of the items of a shop's catalogue, so the category
    never reached the encoder, and the run said nothing. Only encoders that can count their tokens
    (``token_counts``: the transformer encoders) are asked; others have no limit to report.
    """
    from coldkit.evaluation.runner import encoder_instances  # lazy: the command's helper, not the data layer's

    counting = [e for e in encoder_instances(model) if callable(getattr(e, "token_counts", None))
                and isinstance(getattr(e, "max_length", None), int)]
    if not counting:
        return None
    encoder = counting[0]
    n = len(catalog)
    rows = np.arange(n) if n <= sample else np.sort(np.random.default_rng(0).choice(n, sample, replace=False))
    # the sampled items alone: joining every item's text (twice) cost seconds at 30k items, minutes at 1M
    table = catalog.table.iloc[rows].reset_index(drop=True)
    part = Catalog(np.asarray(catalog.item_ids)[rows], table, tuple(catalog.text_columns))
    texts = part.texts()
    measured = [t for t in texts if t]
    if not measured:
        return None
    counts = np.asarray(encoder.token_counts(measured), dtype=np.int64)
    cut = int((counts > encoder.max_length).sum())
    if cut < max(1, 0.01 * len(measured)):
        return None
    columns = list(catalog.text_columns)
    share = f"{cut:,} of {len(measured):,}" + ("" if n <= sample else f" sampled ({n:,} items)")
    where = ""
    if len(columns) > 1:
        # the items whose columns before the last already fill the limit: none of the last column is read
        before = part.texts(columns[:-1])
        last = table[columns[-1]].astype("string").fillna("").str.strip().to_numpy()
        kept = [i for i in range(len(rows)) if texts[i] and last[i]]
        lost = int((np.asarray(encoder.token_counts([before[i] for i in kept]), dtype=np.int64)
                    >= encoder.max_length - 1).sum()) if kept else 0  # the separator takes a token
        if lost:
            where = f"; for {lost:,} of them nothing of {columns[-1]} (the last of {', '.join(columns)}) is read"
            # shortest first keeps the most columns inside the limit; the longest one is then what gets cut.
            # Offered, not done: whether it ranks better depends on the data (a description that already
            # repeats the category loses its own words instead)
            lengths = {c: float(table[c].astype("string").fillna("").str.len().median()) for c in columns}
            order = sorted(columns, key=lambda c: (lengths[c], columns.index(c)))
            if order != columns:
                where += f"; to have it read, put the short columns first: --text-columns {' '.join(order)}"
    name = getattr(encoder, "name", type(encoder).__name__)
    return (f"{share} item texts ({cut / len(measured):.0%}) are longer than the {encoder.max_length} tokens {name} "
            f"reads (median {int(np.median(counts)):,} tokens) and are cut there{where}")


def _multimodal_encoder(
    media: dict[str, Any], model: str, options: dict[str, Any], item_vectors: str | None, text_encoder: str | None
) -> Any:
    """The ``multimodal`` encoder for media columns (text block: ``text_encoder``), checked before any fitting."""
    from coldkit.models.modalities import MultimodalEncoder

    if not model_accepts(model, "encoder"):
        raise InvalidInputError(f"media columns need a model that takes an encoder (e.g. hybrid, content); {model!r} does not")
    if item_vectors is not None or "encoder" in options:
        raise InvalidInputError("media columns build the item encoder themselves; drop --item-vectors / --option encoder=...")
    return MultimodalEncoder(**{"text_encoder": text_encoder or default_encoder_name(), **media})


def _first_ids(ids: Sequence[str], shown: int = 3) -> str:
    """``'a', 'b', 'c', ...``: the first few of ``ids`` for a note."""
    return ", ".join(repr(u) for u in ids[:shown]) + (", ..." if len(ids) > shown else "")


def _timestamp_notes(data: Interactions, now: float | None = None) -> list[str]:
    """Notes on timestamps that are surely not what the user meant: dated more than a day after
    ``now`` (default: the clock), or all within 1970 (years or day numbers read as unix seconds).

    The time-aware parts (the hybrid's ``trending`` source, ``popularity-recent``, the validation
    carve's newest items and latest arrivals) measure age from the newest interaction in seconds:
    one row dated decades ahead (a typo, a default of 2099) makes every real interaction look
    ancient, and a column of years (2019, 2020) spans half an hour.
    """
    ts = data.timestamps
    if ts is None or ts.nnz == 0:
        return []
    notes = []
    ahead = ts.data > (time.time() if now is None else now) + 86400.0
    if ahead.any():
        # datetime, not pd.Timestamp: pandas 2 holds nanoseconds, which end in 2262 (the loader allows 9999)
        newest = datetime.datetime.fromtimestamp(int(ts.data.max()), datetime.timezone.utc).strftime("%Y-%m-%d")
        notes.append(
            f"{int(ahead.sum()):,} interaction(s) are dated after today (the newest: {newest}): the trending source, "
            "popularity-recent and the time-aware validation measure age from the newest interaction, so every other "
            "one looks that much older; fix or drop those rows"
        )
    if ts.data.min() >= 0 and ts.data.max() < 366 * 86400:
        notes.append(
            f"every timestamp falls in 1970 (the largest is {int(ts.data.max()):,}): they are read as unix seconds; "
            "if they are years or day numbers, give unix seconds or ISO-8601 dates instead"
        )
    return notes


def _known_to(seen: Interactions, users: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(B, k) whether ``idx[r, j]`` is an item of row ``users[r]`` of ``seen`` (-1: none; one vectorised test per batch)."""
    rows = np.flatnonzero(users >= 0)
    if rows.size == 0:
        return np.zeros(idx.shape, dtype=bool)
    part = seen.matrix[users[rows]]
    n = seen.n_items
    known_keys = np.repeat(rows, np.diff(part.indptr)).astype(np.int64) * n + part.indices
    if known_keys.size > 1 and not bool(np.all(known_keys[1:] >= known_keys[:-1])):
        known_keys = np.sort(known_keys)  # rows ascending and sorted CSR indices make it sorted already
    keys = np.arange(len(users), dtype=np.int64)[:, None] * n + np.where(idx >= 0, idx, 0)
    # a binary search of the (B, k) keys in the sorted known keys: np.isin sorted both sides per batch
    at = np.minimum(np.searchsorted(known_keys, keys), max(known_keys.size - 1, 0))
    found = known_keys[at] == keys if known_keys.size else np.zeros(keys.shape, dtype=bool)
    return found & (idx >= 0)


def _precomputed_encoder(
    path: str,
    columns: dict[str, str] | None,
    item_ids: np.ndarray,
    model: str,
    options: dict[str, Any],
    text_encoder: str | None,
    has_profiles: bool,
    notes: list[str],
) -> Any:
    """The ``precomputed`` encoder for ``--item-vectors``, checked against the catalogue before any fitting."""
    from coldkit.builtins.encoders import PrecomputedEncoder
    from coldkit.data.vectors import load_item_vectors

    if not model_accepts(model, "encoder"):
        raise InvalidInputError(f"--item-vectors: model {model!r} does not use item content; choose e.g. hybrid or content")
    if "encoder" in options:
        raise InvalidInputError("--item-vectors replaces the item encoder; drop --option encoder=...")
    unknown = set(columns or {}) - {"item_id", "vector"}
    if unknown:
        raise InvalidInputError(f"--item-vector-columns: unknown name(s) {sorted(unknown)}; use item_id=COL vector=COL")
    if has_profiles and text_encoder is None:
        raise InvalidInputError(
            "--user-profiles with --item-vectors needs --encoder NAME: the encoder that made the vectors, "
            "so profile texts land in the same space"
        )
    loaded = load_item_vectors(
        path, id_column=(columns or {}).get("item_id", "item_id"), vector_column=(columns or {}).get("vector", "vector")
    )
    matched = loaded.match(item_ids)
    if matched.missing:
        first = int(np.flatnonzero(matched.rows < 0)[0])
        # "1.0" for the items' "1" (ids saved from a float array), "7" for "007": name the id each looks like
        pairs = _lookalike_ids([str(m) for m in matched.missing[:10]], (str(i) for i in loaded.ids))
        hint = "; ids are matched as text, the vectors' first: " + _lookalikes_text([(k, g) for g, k in pairs]) if pairs else ""
        raise InvalidInputError(
            f"--item-vectors {path}: {len(matched.missing)} item(s) of --items have no vector; the first is "
            f"{matched.missing[0]!r} (data row {first + 1} of --items, counted from 1 below the header){hint}"
        )
    if matched.extra:
        notes.append(f"{matched.extra} vector(s) in {path} belong to ids not in --items and were ignored")
    try:
        return PrecomputedEncoder(item_vectors=loaded, text_encoder=text_encoder)
    except InvalidInputError as exc:
        if text_encoder is None:
            raise
        # the encoder's message names its own argument; say what --encoder is for beside --item-vectors
        # "leave it out" is refused beside --user-profiles, which need an encoder of the vectors' space
        way_out = ("drop --user-profiles too (their texts need the vectors' own encoder)" if has_profiles
                   else "leave it out for vectors made elsewhere")
        raise InvalidInputError(
            f"{exc}; beside --item-vectors, --encoder names the encoder that made the vectors (it encodes user texts "
            f"into their space): {way_out}"
        ) from None
