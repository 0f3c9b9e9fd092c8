"""Build a serving index from files or a named data set (what ``coldkit serve --build`` calls)."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from coldkit._paths import user_path
from coldkit.exceptions import InvalidInputError
from coldkit.serving.errors import IndexStorageError
from coldkit.serving.index import ServingIndex
from coldkit.serving.storage import check_index_target, check_no_writer, describe_existing_index, save

__all__ = ["build_index_from_files"]


def build_index_from_files(
    out: str | os.PathLike[str],
    *,
    interactions: str | os.PathLike[str] | None = None,
    items: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
    text_columns: Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    item_columns: Mapping[str, str] | None = None,
    duplicates: str | None = None,
    unknown_items: str = "error",
    implicit_threshold: float | None = None,
    encoding: str | None = None,
    sep: str | None = None,
    force: bool = False,
    user_profiles: str | os.PathLike[str] | None = None,
    profile_text_column: str = "text",
    profile_columns: Mapping[str, str] | None = None,
    **build_options: Any,
) -> ServingIndex:
    """Build an index from an item table + an interaction table (CSV/Parquet), or a named data set, and save it to ``out``.

    Args:
        out: the index directory to create (see :func:`coldkit.serving.save`).
        interactions: the interaction file (``user_id,item_id[,rating,timestamp]``).
        items: the item file (``item_id`` + text columns).
        dataset: instead of files, a name for ``coldkit.load_dataset`` (e.g. ``"ml-latest-small"``).
        data_root: with ``dataset``, the folder holding the real data sets (see ``coldkit.load_dataset``).
        text_columns: the item columns joined into the text (files only; default: the text-like columns).
        columns: column renames of the interaction file (files only), e.g. ``{"user_id": "userId", "item_id":
            "movieId"}``; its ``item_id`` rename also applies to the item file unless ``item_columns`` is given.
        item_columns: column renames of the item file (files only), e.g. ``{"item_id": "movieId"}``.
        duplicates: what to do with repeated (user, item) rows (see ``coldkit.load_interactions``): ``"error"``,
            ``"last"``, ``"sum"`` or ``"max"``; default ``"last"`` for files (``coldkit serve --build`` passes its
            ``--duplicates``, ``"error"`` by default) and ``"error"`` for a ``dataset`` folder.
        unknown_items: interaction rows whose item is not in the item table: ``"error"`` (default) or ``"drop"``
            (a :class:`~coldkit.exceptions.DataWarning` says how many and where; files, or a ``dataset`` folder).
        implicit_threshold: keep only the ratings ``>= implicit_threshold`` (as implicit feedback); the lower
            ones are dropped: the index learns from the likes only.
        encoding: the text encoding of the CSV/TSV files when they are not UTF-8 (e.g. ``"latin-1"``; files, or
            a ``dataset`` folder).
        sep: the field separator of the CSV/TSV files (default: ``,`` for ``.csv``, tab for ``.tsv``; files, or
            a ``dataset`` folder).

        ``columns``, ``item_columns``, ``text_columns``, ``duplicates``, ``unknown_items``, ``encoding`` and ``sep`` also apply to a
        ``dataset`` that is a folder of your own (as ``coldkit evaluate --data DIR``); a named data set refuses them.
        force: replace an index already at ``out`` (with its online writes). Without it, an existing
            index is refused before anything is built. The replacement is atomic: the new
            snapshot is written beside the old one and ``CURRENT`` is switched only once it is
            complete, so a crash or kill at any point leaves the old index loadable.
        user_profiles: a profile file (``user_id`` + ``text`` columns, CSV/Parquet; see
            :func:`coldkit.data.load_user_profiles`): each profile becomes that user's text in the index, as
            ``POST /users`` with ``text`` makes it (a user without interactions is created from it). The served
            hybrid reads a user's text beside their clicks; ``encoding`` and ``sep`` apply to the file too.
        profile_text_column: the text column of ``user_profiles`` (default ``"text"``).
        profile_columns: column renames of ``user_profiles``, e.g. ``{"user_id": "uid", "text": "bio"}``.
        build_options: passed to :meth:`ServingIndex.build` (``encoder``, ``fusion``, ``weights``...).

    Example::

        build_index_from_files("my-index", interactions="ratings.csv", items="movies.csv", encoder="hashing",
                               columns={"user_id": "userId", "item_id": "movieId"})   # MovieLens column names
    """
    check_index_target(out)  # a file or a foreign directory at ``out``: fail now, not after the build
    existing = describe_existing_index(out)
    if existing is not None:
        # a server writing there would make the final save fail: say so before the build, and before the
        # advice to pass --force (which it refused next, for the server)
        try:
            check_no_writer(out)
        except IndexStorageError as exc:
            raise IndexStorageError(
                f"{exc}; stop the server that writes to it before rebuilding it (its acknowledged writes would be lost)"
            ) from None
    if existing is not None and not force:
        raise InvalidInputError(
            f"{str(out)!r} already holds a coldkit index ({existing}); rebuilding replaces it and drops its online "
            "writes: pass --force (force=True) to do so, or choose another directory"
        )
    media = build_options.get("encoder_options") or {}  # the multimodal encoder's, with media columns
    media_columns = [media[key] for key in ("image_column", "audio_column") if isinstance(media, dict) and media.get(key)]
    if dataset is not None:
        if interactions is not None or items is not None:
            raise InvalidInputError("give either dataset= or interactions= + items=, not both")
        from coldkit.data import load_dataset

        # the reading options mean for a folder what they mean for files (load_dataset refuses them, by name,
        # for a named data set); they were ignored here, and a folder was read with the defaults. The media
        # columns too, as for files: without them a folder's poster file names were read as item text
        train = load_dataset(
            dataset, data_root=data_root, columns=columns, item_columns=item_columns, text_columns=text_columns,
            duplicates=duplicates or "error", implicit_threshold=implicit_threshold, encoding=encoding, sep=sep,  # type: ignore[arg-type]
            unknown_items=unknown_items, media_columns=media_columns, require_text=not media_columns,  # type: ignore[arg-type]
        ).interactions
        from coldkit.data.datasets import check_media_columns

        check_media_columns(dataset, train.catalog.table.columns, media_columns)
    else:
        if interactions is None or items is None:
            raise InvalidInputError(
                "building an index needs an interactions file and an items file (--interactions and --items; "
                "interactions= and items= in Python), or a data set (--dataset, dataset=)"
            )
        from coldkit.data import load_interactions, load_items

        for label, path in (("interactions", interactions), ("items", items)):
            if not user_path(path).is_file():
                raise InvalidInputError(f"{label} file not found: {str(user_path(path))!r}")
        # with media columns a table of ids and media is complete (product photos have no words); the
        # interactions' ``item_id`` rename reaches the item file too (see load_items)
        catalog = load_items(items, text_columns=text_columns, columns=item_columns, media_columns=media_columns,
                             require_text=not media_columns, interaction_columns=columns, sep=sep, encoding=encoding)
        train = load_interactions(
            interactions, catalog, columns=columns, duplicates=duplicates or "last", implicit_threshold=implicit_threshold,  # type: ignore[arg-type]
            sep=sep, encoding=encoding, unknown_items=unknown_items,  # type: ignore[arg-type]
        )  # fmt: skip

    from coldkit.data import dataset_names, renumber_items, renumber_users

    # The files' row order is no input, as for `coldkit recommend` and fit(df): items and users are numbered by a
    # hash of their ids, so an export without ORDER BY, shuffled, builds an index serving the same lists; so is a
    # folder of one's own files (--dataset DIR). A named data set keeps its own order: the index is then the one
    # ServingIndex.build of its Interactions gives, as docs/serving.md builds it.
    if dataset is None or dataset not in dataset_names():
        train = renumber_users(renumber_items(train))
    profiles = None
    if user_profiles is not None:  # read before the build: a bad file fails in a second, not after the fit
        from coldkit.data import load_user_profiles

        profiles = load_user_profiles(user_profiles, text_column=profile_text_column, columns=profile_columns,
                                      sep=sep, encoding=encoding)
    index = ServingIndex.build(train, **build_options)
    if profiles:
        # in the snapshot saved below, as POST /users {"id", "text"} would have put them, in one version
        index.writer.set_user_texts_unlogged(profiles)
    # atomic over an existing index (--force was checked above; save refuses a writer, and without force an
    # orphan snapshot or log too): the old one stays live until CURRENT names the new snapshot
    save(index, out, force=force)
    return index
