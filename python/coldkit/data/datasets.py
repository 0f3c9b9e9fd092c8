"""Named real data sets: the embedded MovieLens latest-small, and loaders for ml-100k and Last.fm 2K.

Example::

    from coldkit.data import load_dataset

    ds = load_dataset("ml-latest-small")                  # the copy shipped inside coldkit
    print(ds.name, ds.interactions.n_users, len(ds.catalog))
    ds = load_dataset("ml-100k", data_root="../shared/data")

The real files of ml-100k and Last.fm are *not* shipped (their terms forbid redistribution or
commercial use); point ``data_root`` (or the ``COLDKIT_DATA`` environment variable) at a folder
holding ``ml-100k/``, ``lastfm-2k/``, ``ml-latest-small/`` and optionally ``ml-1m-posters/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldkit._paths import user_path
from coldkit.data.interactions import Catalog, Interactions
from coldkit.data.loaders import (
    DuplicatePolicy,
    _require_columns,
    catalog_from_frame,
    interactions_from_frame,
    load_interactions,
    load_items,
    read_table,
    user_graph_from_pairs,
)
from coldkit.exceptions import InvalidInputError, UnknownComponentError
from coldkit.validation import check_number

__all__ = [
    "Dataset", "load_dataset", "load_folder", "dataset_names", "find_data_root", "EMBEDDED_DIR", "IMAGE_SUFFIXES",
    "attach_images", "id_order", "implicit", "renumber_items", "renumber_users", "restrict_items", "shuffle_items", "subsample", "check_media_columns",
]

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"

_MOVIELENS_CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872"
)
_LASTFM_CITATION = (
    "Cantador, Brusilovsky, Kuflik. 2nd Workshop on Information Heterogeneity and Fusion in Recommender "
    "Systems (HetRec 2011), RecSys 2011. Data: Last.fm, http://www.lastfm.com"
)


@dataclass(frozen=True)
class Dataset:
    """A loaded data set.

    Attributes:
        name: e.g. ``"ml-latest-small"``.
        interactions: users x whole catalogue (weights = ratings / play counts unless an
            implicit threshold was applied).
        catalog: the items, with text columns (and ``image`` poster paths when found).
        user_profiles: ``{user_id: text}`` for data sets with user side information, else None.
        user_graph: ``{user_id: friend ids}`` for data sets with a social graph (lastfm-2k), else None.
        licence: the terms of use, in short.
        citation: what to cite when publishing results on it.
        source: where it was read from.
    """

    name: str
    interactions: Interactions
    catalog: Catalog
    user_profiles: dict[str, str] | None = None
    user_graph: dict[str, tuple[str, ...]] | None = None
    licence: str = ""
    citation: str = ""
    source: str = ""

    def describe(self) -> dict[str, object]:
        """Counts for reports: users, items, interactions, density, cold items (no interaction)."""
        counts = self.interactions.item_counts()
        n_u, n_i, nnz = self.interactions.n_users, len(self.catalog), int(self.interactions.matrix.nnz)
        return {
            "name": self.name,
            "users": n_u,
            "items": n_i,
            "interactions": nnz,
            "density": nnz / max(1, n_u * n_i),
            "items_without_interactions": int((counts == 0).sum()),
            "has_images": "image" in self.catalog.table.columns,
            "has_user_profiles": self.user_profiles is not None,
        }


def implicit(dataset: Dataset, threshold: float | None = None) -> Dataset:
    """The same data set as implicit feedback: weight 1.0 for every interaction (``rating >= threshold``).

    Users left with no interaction keep their (empty) row, so user indices do not move.
    """
    if threshold is not None:
        # NaN compares false with every rating, which read as "no interaction has rating >= nan"; a string
        # reached np.isfinite, whose ufunc error named no option
        check_number(threshold, "implicit_threshold (--implicit-threshold)")  # the messages show it as given
    inter = dataset.interactions
    coo = inter.matrix.tocoo()
    keep = np.ones(coo.nnz, dtype=bool) if threshold is None else coo.data >= threshold
    if not keep.any():
        # a table without a rating column weighs every row 1.0: say so, or the user hunts for low ratings
        hint = (
            "; every interaction weighs 1.0: the interactions have no rating column (name yours with "
            "--interaction-columns rating=COL / columns={'rating': COL})"
            if coo.nnz and np.all(coo.data == 1.0)
            else ""
        )
        raise InvalidInputError(f"{dataset.name}: no interaction has rating >= {threshold}{hint}")
    rows, cols = coo.row[keep], coo.col[keep]
    shape = inter.matrix.shape
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    ts = None
    if inter.timestamps is not None:
        # Same (sorted) pattern as the weights, so positions line up entry by entry.
        ts_values = np.asarray(inter.timestamps[coo.row, coo.col]).ravel()[keep].astype(np.int64)
        ts = sp.csr_matrix((ts_values, (rows, cols)), shape=shape, dtype=np.int64)
        ts.sort_indices()
    out = Interactions(user_ids=inter.user_ids, catalog=inter.catalog, matrix=matrix, timestamps=ts)
    return replace(dataset, interactions=out)


def find_data_root(data_root: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the real data sets live: ``data_root`` when given, else ``$COLDKIT_DATA``, else ``../shared/data``.

    Returns None when no default is a folder.

    Raises:
        InvalidInputError: ``data_root`` was given and is not a folder (a mistyped one quietly read
            ``$COLDKIT_DATA`` or ``../shared/data`` instead, and the run measured other files than asked).
    """
    if data_root is not None and str(data_root) != "":
        if user_path(data_root).is_dir():
            return user_path(data_root)
        raise InvalidInputError(f"data_root {user_path(data_root)} is not a folder")
    for candidate in (os.environ.get("COLDKIT_DATA"), Path.cwd().parent / "shared" / "data"):
        if candidate and user_path(candidate).is_dir():
            return user_path(candidate)
    return None


def _need_root(name: str, data_root: str | os.PathLike[str] | None) -> Path:
    root = find_data_root(data_root)
    if name == "ml-latest-small" and (root is None or not (root / name).is_dir()):
        # it *is* shipped: the generic message below told a user with a data_root that it was not
        raise InvalidInputError(
            f"data root {str(root)!r} holds no {name}/ folder; leave data_root= (--data-root) out to use the "
            "copy embedded in coldkit"
        )
    if root is None or not (root / name).is_dir():
        raise InvalidInputError(
            f"data set {name!r} is not shipped with coldkit; pass data_root= (or set COLDKIT_DATA) to a folder "
            f"that holds {name}/ (looked in {root or 'data_root, $COLDKIT_DATA, ../shared/data'})"
        )
    return root / name


def _poster_dir(data_root: str | os.PathLike[str] | None) -> Path | None:
    try:
        root = find_data_root(data_root)
    except InvalidInputError:
        return None
    if root is None:
        return None
    # absolute: a relative data root would give paths relative to the working directory, which a
    # media root (``--media-root``) then reads as relative to itself and refuses as outside it
    posters = (root / "ml-1m-posters" / "MovieImages").absolute()
    return posters if posters.is_dir() else None


def _attach_posters(table: pd.DataFrame, ml1m_ids: pd.Series, posters: Path | None) -> pd.DataFrame:
    """Add an ``image`` column: the poster path where ``<ml1m id>.jpg`` exists, else None."""
    if posters is None:
        return table
    available = {p.stem for p in posters.glob("*.jpg")}
    table = table.copy()
    table["image"] = [str(posters / f"{i}.jpg") if (isinstance(i, str) and i in available) else None for i in ml1m_ids]
    return table


# ------------------------------------------------------------------------------------------ latest-small


def _latest_small_frames(folder: Path, encoding: str | None = None, sep: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    def pick(stem: str) -> Path | None:
        for name in (f"{stem}.csv", f"{stem}.csv.gz"):
            if (folder / name).is_file():
                return folder / name
        return None

    movies_p, ratings_p, tags_p = pick("movies"), pick("ratings"), pick("tags")
    if movies_p is None or ratings_p is None:
        raise InvalidInputError(f"{folder}: needs movies.csv and ratings.csv (optionally .gz)")
    movies = read_table(movies_p, dtype={"movieId": str}, encoding=encoding, sep=sep)
    # the columns read by name below: without these checks a movies.csv with 'Title' (or a tags.csv
    # without 'tag') was a KeyError traceback naming no file
    _require_columns(movies, ["movieId", "title"], str(movies_p))
    ratings = read_table(ratings_p, dtype={"userId": str, "movieId": str}, encoding=encoding, sep=sep)
    tags = read_table(tags_p, dtype={"userId": str, "movieId": str, "tag": str}, encoding=encoding, sep=sep) if tags_p else None
    if tags is not None:
        _require_columns(tags, ["movieId", "tag"], str(tags_p))
    return movies, ratings, tags


def _aggregate_tags(item_ids: pd.Series, tags: pd.Series, limit: int = 30) -> dict[str, str]:
    """``{item_id: "tag1, tag2, ..."}``: distinct lower-cased tags, most frequent first."""
    frame = pd.DataFrame({"item": item_ids.astype(str), "tag": tags.astype(str).str.strip().str.lower()})
    frame = frame[frame["tag"] != ""]
    counts = frame.groupby(["item", "tag"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values(["item", "n", "tag"], ascending=[True, False, True])
    return {item: ", ".join(group["tag"].head(limit)) for item, group in counts.groupby("item", sort=False)}


def _load_latest_small(data_root: str | os.PathLike[str] | None, *, embedded: bool) -> Dataset:
    folder = EMBEDDED_DIR / "ml-latest-small" if embedded else _need_root("ml-latest-small", data_root)
    movies, ratings, tags = _latest_small_frames(folder)
    table = pd.DataFrame(
        {
            "item_id": movies["movieId"].astype(str),
            "title": movies["title"].astype(str),
            "genres": movies["genres"].astype(str).replace("(no genres listed)", ""),
        }
    )
    tag_text = _aggregate_tags(tags["movieId"], tags["tag"]) if tags is not None else {}
    table["tags"] = [tag_text.get(i, "") for i in table["item_id"]]
    # ml-latest-small movie ids are the MovieLens-1M ids the posters are named by.
    table = _attach_posters(table, table["item_id"], _poster_dir(data_root))
    catalog = catalog_from_frame(table, text_columns=("title", "genres", "tags"), where=str(folder / "movies.csv"))
    interactions = interactions_from_frame(
        ratings,
        catalog,
        columns={"user_id": "userId", "item_id": "movieId"},
        where=str(folder / "ratings.csv"),
    )
    return Dataset(
        name="ml-latest-small",
        interactions=interactions,
        catalog=catalog,
        licence=(
            "MovieLens latest-small (2018-09-26) usage licence: research use, no commercial use without GroupLens' "
            "permission, no endorsement implied, cite Harper & Konstan 2015, redistribute only under the same terms "
            f"(full text: {EMBEDDED_DIR / 'ml-latest-small' / 'README.txt'})"
        ),
        citation=_MOVIELENS_CITATION,
        source=str(folder),
    )


# ------------------------------------------------------------------------------------------ ml-100k

_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def _ml100k_poster_ids(titles: pd.Series, data_root: str | os.PathLike[str] | None) -> pd.Series | None:
    """ML-1M ids for ml-100k titles by exact lower-cased title match (the join the data README documents)."""
    posters = _poster_dir(data_root)
    if posters is None:
        return None
    movies_dat = posters.parent / "movies.dat"
    if not movies_dat.is_file():
        return None
    ml1m = read_table(movies_dat, sep="::", encoding="latin-1", header=False, names=["id", "title", "genres"], dtype={"id": str})
    by_title = dict(zip(ml1m["title"].astype(str).str.strip().str.lower(), ml1m["id"].astype(str)))
    return titles.astype(str).str.strip().str.lower().map(by_title)


def _load_ml100k(data_root: str | os.PathLike[str] | None) -> Dataset:
    folder = _need_root("ml-100k", data_root)
    # u.item is ISO-8859-1 (accented titles such as "Misérables"); read it as such, not as UTF-8.
    items = read_table(
        folder / "u.item",
        sep="|",
        encoding="latin-1",
        header=False,
        names=["item_id", "title", "release_date", "video_release_date", "url", *_ML100K_GENRES],
        dtype={"item_id": str},
    )
    flags = items[list(_ML100K_GENRES)].to_numpy(dtype=np.int64)
    genres = ["|".join(g for g, on in zip(_ML100K_GENRES, row) if on and g != "unknown") for row in flags]
    table = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str),
            "title": items["title"].fillna("").astype(str),
            "genres": genres,
            # "01-Jan-1995" as the file writes it: the hybrid reads it as a date attribute (models/attributes.py)
            "release_date": items["release_date"].fillna("").astype(str),
        }
    )
    poster_ids = _ml100k_poster_ids(table["title"], data_root)
    if poster_ids is not None:
        table = _attach_posters(table, poster_ids, _poster_dir(data_root))
    catalog = catalog_from_frame(table, text_columns=("title", "genres"), where=str(folder / "u.item"))
    ratings = read_table(
        folder / "u.data", sep="\t", header=False, names=["user_id", "item_id", "rating", "timestamp"],
        dtype={"user_id": str, "item_id": str},
    )  # fmt: skip
    interactions = interactions_from_frame(ratings, catalog, where=str(folder / "u.data"))
    profiles = None
    if (folder / "u.user").is_file():
        users = read_table(
            folder / "u.user", sep="|", encoding="latin-1", header=False,
            names=["user_id", "age", "gender", "occupation", "zip"], dtype={"user_id": str, "zip": str},
        )  # fmt: skip
        gender = users["gender"].map({"M": "man", "F": "woman"}).fillna("person")
        profiles = {
            str(u): f"A {age} year old {g} who works as {occ}."
            for u, age, g, occ in zip(users["user_id"], users["age"], gender, users["occupation"])
        }
    return Dataset(
        name="ml-100k",
        interactions=interactions,
        catalog=catalog,
        user_profiles=profiles,
        licence="MovieLens 100K: research use only, no commercial use, cite Harper & Konstan 2015, no redistribution",
        citation=_MOVIELENS_CITATION,
        source=str(folder),
    )


# ------------------------------------------------------------------------------------------ lastfm-2k


def _load_lastfm(data_root: str | os.PathLike[str] | None) -> Dataset:
    folder = _need_root("lastfm-2k", data_root)
    artists = read_table(folder / "artists.dat", sep="\t", dtype={"id": str}, encoding="utf-8")
    tags = read_table(folder / "tags.dat", sep="\t", encoding="latin-1", dtype={"tagID": str})
    tagged = read_table(folder / "user_taggedartists.dat", sep="\t", dtype={"artistID": str, "tagID": str})
    plays = read_table(folder / "user_artists.dat", sep="\t", dtype={"userID": str, "artistID": str})
    friends = read_table(folder / "user_friends.dat", sep="\t", dtype={"userID": str, "friendID": str})
    tag_names = dict(zip(tags["tagID"].astype(str), tags["tagValue"].astype(str)))
    tag_text = _aggregate_tags(tagged["artistID"], tagged["tagID"].astype(str).map(tag_names).fillna(""))
    table = pd.DataFrame({"item_id": artists["id"].astype(str), "name": artists["name"].fillna("").astype(str)})
    table["tags"] = [tag_text.get(i, "") for i in table["item_id"]]
    catalog = catalog_from_frame(table, text_columns=("name", "tags"), where=str(folder / "artists.dat"))
    interactions = interactions_from_frame(
        plays,
        catalog,
        columns={"user_id": "userID", "item_id": "artistID", "rating": "weight"},
        where=str(folder / "user_artists.dat"),
    )
    return Dataset(
        name="lastfm-2k",
        interactions=interactions,
        catalog=catalog,
        user_graph=user_graph_from_pairs(friends["userID"], friends["friendID"]),
        licence="HetRec 2011 Last.fm 2K: non-commercial use; commercial use needs Last.fm's permission",
        citation=_LASTFM_CITATION,
        source=str(folder),
    )


_LOADERS: dict[str, Callable[[str | os.PathLike[str] | None], Dataset]] = {
    "ml-latest-small": lambda root: _load_latest_small(root, embedded=root is None),
    "ml-100k": _load_ml100k,
    "lastfm-2k": _load_lastfm,
}


def dataset_names() -> list[str]:
    """Names :func:`load_dataset` understands."""
    return sorted(_LOADERS)


def check_media_columns(
    dataset: str, have: Sequence[object], wanted: Sequence[str], own_media: str = "a data folder of your own (--dataset DIR) or --items"
) -> None:
    """An error naming the flags when a media column is not among the data set's item columns.

    ``dataset``: the name or folder given (``--dataset`` of ``serve --build``, ``--data`` of ``evaluate``);
    ``have``: the item table's columns; ``wanted``: the media columns asked for; ``own_media``: how the
    command takes media of one's own (said of a named set that has none). The encoder's own message ("image column 'image' not in the item table") did not
    say that a named MovieLens set has its ``image`` column only where its posters are found, nor where
    they are looked for.
    """
    missing = [column for column in wanted if column not in have]
    if not missing:
        return
    shown = [str(c) for c in have]
    hint = ""
    if dataset in ("ml-latest-small", "ml-100k"):
        hint = (
            f"; {dataset}'s 'image' column (its posters) is there only when the data root holds ml-1m-posters/MovieImages: "
            "give it with --data-root DIR (data_root=) or $COLDKIT_DATA"
        )
    elif dataset in dataset_names():
        hint = f"; {dataset} has no media files: --image-column/--audio-column need {own_media}"
    raise InvalidInputError(
        f"--image-column/--audio-column {missing}: no such item column in the data set {dataset!r} "
        f"(its item columns: {shown}){hint}"
    )


def load_dataset(
    name_or_path: str | os.PathLike[str] = "ml-latest-small",
    *,
    data_root: str | os.PathLike[str] | None = None,
    implicit_threshold: float | None = None,
    binary: bool = False,
    columns: Mapping[str, str] | None = None,
    item_columns: Mapping[str, str] | None = None,
    text_columns: Sequence[str] | None = None,
    duplicates: DuplicatePolicy = "error",
    require_text: bool = True,
    encoding: str | None = None,
    media_columns: Sequence[str] = (),
    sep: str | None = None,
    unknown_items: Literal["error", "drop"] = "error",
) -> Dataset:
    """Load a named data set, or a folder of your own.

    Args:
        name_or_path: ``"ml-latest-small"`` (the copy embedded in coldkit unless ``data_root`` is
            given), ``"ml-100k"``, ``"lastfm-2k"``, or a folder: either the generic layout of
            :func:`load_folder` (``interactions`` + ``items`` tables) or the MovieLens one
            (``movies.csv`` + ``ratings.csv`` (+ ``tags.csv``), optionally gzipped).
        columns: for a generic folder, see :func:`load_folder`.
        item_columns: for a generic folder, see :func:`load_folder`.
        text_columns: for a generic folder, see :func:`load_folder`.
        data_root: folder holding the real data sets (default ``$COLDKIT_DATA``, then
            ``../shared/data``). Posters (``ml-1m-posters/``) are also looked up there.
        implicit_threshold: turn ratings into implicit feedback, keeping ``rating >= threshold``.
        binary: implicit feedback with every interaction kept (weight 1.0).
        duplicates: for a folder, repeated (user, item) rows: ``"error"`` (default), ``"last"``,
            ``"sum"`` or ``"max"`` (see :func:`coldkit.data.loaders.interactions_from_frame`).
        require_text: for a generic folder, whether an items table of ids alone is an error
            (False: for models that read no item content, as ``coldkit evaluate --models popularity``).
        encoding: for a folder, the text encoding of its CSV/TSV files (default UTF-8, e.g. ``"latin-1"``).
        media_columns: for a generic folder, the items table's image/audio path columns: never default text.
        sep: for a folder, the field separator of its CSV/TSV tables (default: ``,`` for ``.csv``, tab for ``.tsv``).
        unknown_items: for a folder, interaction rows whose item is not in the items table: ``"error"``
            (default) or ``"drop"`` (a :class:`~coldkit.exceptions.DataWarning` says how many and where).

    Raises:
        UnknownComponentError: an unknown name that is not a folder (or a file) either.
        InvalidInputError: the data set's files are missing or malformed; a file given instead of its folder.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        # a DataFrame was str()-ed into "unknown data set '  user_id item_id\n0 ...'" (its whole repr)
        raise InvalidInputError(
            f"a data set is a name ({', '.join(dataset_names())}) or a folder path, got {type(name_or_path).__name__}; "
            "for DataFrames of your own, coldkit.evaluate(ratings_df, models, items=items_df, columns=...) reads them "
            "as model.fit does (or write them to a folder as interactions.csv + items.csv)"
        )
    key = str(name_or_path)
    if key not in _LOADERS:  # a folder: a leading ~ is the user's home (see coldkit._paths)
        key = str(user_path(key))
    folder_options = columns is not None or item_columns is not None or text_columns is not None
    if key in _LOADERS:
        if folder_options or duplicates != "error" or unknown_items != "error" or encoding is not None or sep is not None:
            raise InvalidInputError(
                f"{key} is a named data set: column mappings, text columns, duplicates, unknown items, encoding and separator are for a folder of your own"
            )
        dataset = _LOADERS[key](data_root)
    elif Path(key).is_dir():
        generic = _find_table(Path(key), "interactions") is not None or _find_table(Path(key), "items") is not None
        movielens = any((Path(key) / name).is_file() for name in ("movies.csv", "movies.csv.gz", "ratings.csv", "ratings.csv.gz"))
        if generic or folder_options:
            dataset = load_folder(key, columns=columns, item_columns=item_columns, text_columns=text_columns, duplicates=duplicates,
                                  require_text=require_text, encoding=encoding, media_columns=media_columns, sep=sep,
                                  unknown_items=unknown_items)
        elif not movielens:
            # a folder of neither layout: name both, not only the MovieLens files (a user with their
            # own data was told to bring movies.csv and ratings.csv)
            raise InvalidInputError(
                f"{key}: no data tables found; a data folder holds interactions.csv + items.csv (.tsv, .parquet "
                "or .gz too; any column names, see --interaction-columns), or the MovieLens movies.csv + ratings.csv"
            )
        else:
            dataset = _load_latest_small_folder(Path(key), duplicates, encoding, sep, unknown_items)
    elif Path(key).is_file():
        # "unknown data set 'ratings.csv'" read as a misspelt name: the folder is what is read
        raise InvalidInputError(
            f"{key} is a file, not a data set: give the folder that holds the tables (--data {Path(key).parent}), with "
            "interactions.csv + items.csv (.tsv, .parquet or .gz too) or the MovieLens movies.csv + ratings.csv"
        )
    elif any(sep in key for sep in ("/", "\\")) or key.startswith(("~", ".")):
        # a path, not a misspelt name: "unknown data set '/data/x'" did not say that the folder is not there
        raise InvalidInputError(f"{key}: no such folder (a data set is one of {dataset_names()} or the folder that holds its tables)")
    else:
        raise UnknownComponentError(f"unknown data set {key!r}; known: {dataset_names()} or a folder path")
    if implicit_threshold is not None or binary:
        dataset = implicit(dataset, implicit_threshold)
    return dataset


_TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")


def _find_table(folder: Path, stem: str) -> Path | None:
    found = [folder / f"{stem}{suffix}" for suffix in _TABLE_SUFFIXES if (folder / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        raise InvalidInputError(f"{folder}: more than one {stem} table ({', '.join(p.name for p in found)}); keep one")
    return found[0] if found else None


def load_folder(
    folder: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    item_columns: Mapping[str, str] | None = None,
    text_columns: Sequence[str] | None = None,
    duplicates: DuplicatePolicy = "error",
    require_text: bool = True,
    encoding: str | None = None,
    media_columns: Sequence[str] = (),
    sep: str | None = None,
    unknown_items: Literal["error", "drop"] = "error",
) -> Dataset:
    """A data set from a folder holding ``interactions`` and ``items`` tables (CSV, TSV or Parquet; ``.gz`` too).

    ``interactions.csv`` has ``user_id,item_id[,rating,timestamp]`` and ``items.csv`` ``item_id`` +
    content columns; ``columns`` / ``item_columns`` map the standard names to yours (e.g.
    ``{"user_id": "userId"}``; unless ``item_columns`` maps ``item_id`` itself, the ``item_id`` rename
    applies to the items table too, where it has that column), ``text_columns`` picks the item text (default: the text-like
    columns, see :func:`coldkit.data.loaders.text_like_columns`; ``dataset.catalog.text_columns`` says which).

    Example::

        data = load_folder("shop/", columns={"user_id": "customer", "item_id": "sku"}, text_columns=["name", "description"])

    ``encoding`` is the text encoding of CSV/TSV tables (default UTF-8; e.g. ``"latin-1"``), ``sep`` their
    field separator (default: ``,`` for ``.csv``, tab for ``.tsv``; e.g. ``";"``).
    A MovieLens folder (``ratings.csv`` + ``movies.csv``, no tables of the names above) is read the same
    way with these mappings: ratings are the interactions, movies the items.

    Raises:
        InvalidInputError: a table missing (both are named), or any problem of the tables themselves.
    """
    path = user_path(folder)
    tables = {stem: _find_table(path, stem) for stem in ("interactions", "items")}
    if not any(tables.values()):
        # the MovieLens layout with a column mapping: ratings.csv + movies.csv are the two tables (without
        # a mapping load_dataset reads them with MovieLens' own names; with one, "missing: interactions,
        # items" refused the folder that worked a flag earlier)
        movielens = {"interactions": _find_table(path, "ratings"), "items": _find_table(path, "movies")}
        if all(movielens.values()):
            tables = movielens
    missing = [stem for stem, found in tables.items() if found is None]
    if missing:
        raise InvalidInputError(
            f"{path}: needs an interactions table and an items table (interactions.csv, items.csv; .tsv, .parquet "
            f"or .gz too); missing: {', '.join(missing)}"
        )
    assert tables["interactions"] is not None and tables["items"] is not None
    catalog = load_items(tables["items"], text_columns=text_columns, columns=item_columns, require_text=require_text,
                         media_columns=media_columns, encoding=encoding, interaction_columns=columns, sep=sep)
    interactions = load_interactions(tables["interactions"], catalog, columns=columns, duplicates=duplicates, encoding=encoding, sep=sep,
                                     unknown_items=unknown_items)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.resolve().name) or "dataset"
    return Dataset(name=name, interactions=interactions, catalog=catalog, source=str(path))


def _load_latest_small_folder(
    folder: Path, duplicates: DuplicatePolicy = "error", encoding: str | None = None, sep: str | None = None,
    unknown_items: Literal["error", "drop"] = "error",
) -> Dataset:
    """A user folder in the MovieLens CSV layout (movies.csv, ratings.csv, tags.csv)."""
    movies, ratings, tags = _latest_small_frames(folder, encoding, sep)
    table = pd.DataFrame({"item_id": movies["movieId"].astype(str), "title": movies["title"].astype(str)})
    text_cols = ["title"]
    if "genres" in movies.columns:
        table["genres"] = movies["genres"].fillna("").astype(str).replace("(no genres listed)", "")
        text_cols.append("genres")
    if tags is not None:
        tag_text = _aggregate_tags(tags["movieId"], tags["tag"])
        table["tags"] = [tag_text.get(i, "") for i in table["item_id"]]
        text_cols.append("tags")
    catalog = catalog_from_frame(table, text_columns=text_cols, where=str(folder))
    interactions = interactions_from_frame(
        ratings, catalog, columns={"user_id": "userId", "item_id": "movieId"}, duplicates=duplicates, where=str(folder / "ratings.csv"),
        unknown_items=unknown_items,
    )
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name) or "dataset"
    return Dataset(name=name, interactions=interactions, catalog=catalog, source=str(folder))


def subsample(dataset: Dataset, *, max_users: int | None = None, max_items: int | None = None, seed: int = 0) -> Dataset:
    """A smaller copy for quick runs: the ``max_items`` most-interacted items and ``max_users`` random users.

    Items and users left without any interaction are dropped; ids, texts and timestamps are kept.
    Raises:
        InvalidInputError: nothing would be left.
    """
    inter = dataset.interactions
    counts = inter.item_counts()
    items = np.arange(len(counts))
    if max_items is not None and max_items < len(items):
        items = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    users = np.arange(inter.n_users)
    if max_users is not None and max_users < len(users):
        users = np.sort(np.random.default_rng(seed).choice(len(users), size=max_users, replace=False))
    matrix = inter.matrix[users][:, items]
    keep_users = np.diff(matrix.indptr) > 0
    users, matrix = users[keep_users], matrix[keep_users]
    keep_items = np.bincount(matrix.indices, minlength=len(items)) > 0
    items = items[keep_items]
    if len(users) == 0 or len(items) == 0:
        raise InvalidInputError(f"{dataset.name}: subsample left no interaction")
    table = dataset.catalog.table.iloc[items].reset_index(drop=True)
    catalog = Catalog(item_ids=dataset.catalog.item_ids[items], table=table, text_columns=dataset.catalog.text_columns)
    ts = inter.timestamps[users][:, items] if inter.timestamps is not None else None
    # ``items`` is already cut to the kept columns: the timestamps need no second cut
    new = Interactions(user_ids=inter.user_ids[users], catalog=catalog, matrix=matrix[:, keep_items], timestamps=ts)
    profiles = None
    if dataset.user_profiles is not None:
        wanted = set(map(str, new.user_ids))
        profiles = {u: t for u, t in dataset.user_profiles.items() if u in wanted}
    graph = None
    if dataset.user_graph is not None:
        wanted = set(map(str, new.user_ids))
        graph = {u: tuple(f for f in fs if f in wanted) for u, fs in dataset.user_graph.items() if u in wanted}
    return replace(
        dataset, name=f"{dataset.name} (subsample)", interactions=new, catalog=catalog, user_profiles=profiles, user_graph=graph
    )


def id_order(ids: Sequence[object] | np.ndarray, seed: int = 0) -> np.ndarray:
    """Positions of ``ids`` in the order of a keyed hash of (``seed``, id): the same ids in any order give the
    same order of ids (ties of equal hashes, in practice none, by position). What :func:`renumber_items` and
    :func:`renumber_users` number by."""
    key = f"coldkit-{int(seed) % 10**8:08d}"  # siphash key: 16 characters
    return np.argsort(pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=key), kind="stable")


def renumber_items(interactions: Interactions, seed: int = 0) -> Interactions:
    """The same interactions with the items in an order set by a hash of (``seed``, item id) alone.

    The order depends on the ids and the seed, never on the row order of the item file: two files
    with the same rows in another order give the same catalogue order, so an evaluation of either
    measures the same thing. Why: every tie a model breaks by item index (all brand-new items
    score 0 for popularity or item-kNN) otherwise reads the file order, which often follows
    popularity or age (ml-100k's: Spearman 0.81 with popularity) — a first-time user's evaluation of
    a books catalogue read popularity's cold-item Recall@20 as 0.26 in file order and 0.04 shuffled,
    against 0.07–0.10 for a random ranking. Ids, texts, columns and timestamps move together.
    """
    return _items_in_order(interactions, id_order(interactions.catalog.item_ids, seed))


def renumber_users(interactions: Interactions, seed: int = 0) -> Interactions:
    """The same interactions with the users in an order set by a hash of (``seed``, user id) alone.

    The users' counterpart of :func:`renumber_items`: the loaders number users in order of their first
    row, so the same interactions in another row order (an export without ``ORDER BY``) numbered them
    otherwise, and everything seeded over user positions — the held-out users of a split, the hybrid's
    carved validation users — drew other users. A first-time user's shop export, shuffled, changed
    the default hybrid's top 10 for 138 of 150 users and `coldkit evaluate`'s hybrid cold Recall@20 from
    0.8175 to 0.7998. Rows of the matrix and of the timestamps move with their ids.
    """
    order = id_order(interactions.user_ids, seed)
    matrix = sp.csr_matrix(interactions.matrix)[order]
    stamps = None if interactions.timestamps is None else sp.csr_matrix(interactions.timestamps)[order]
    return Interactions(user_ids=np.asarray(interactions.user_ids)[order], catalog=interactions.catalog, matrix=matrix, timestamps=stamps)


def _items_in_order(interactions: Interactions, order: np.ndarray) -> Interactions:
    """The same interactions with new item index j holding old item ``order[j]`` (ids, table rows, columns of the
    matrix and of the timestamps moved together)."""
    catalog = interactions.catalog
    table = catalog.table.iloc[order].reset_index(drop=True)
    moved = Catalog(item_ids=catalog.item_ids[order], table=table, text_columns=catalog.text_columns)
    matrix = sp.csr_matrix(interactions.matrix)[:, order]
    stamps = None if interactions.timestamps is None else sp.csr_matrix(interactions.timestamps)[:, order]
    return Interactions(user_ids=interactions.user_ids, catalog=moved, matrix=matrix, timestamps=stamps)


def shuffle_items(dataset: Dataset, seed: int = 0) -> Dataset:
    """The same data set with its items renumbered at random (ids, texts, columns and timestamps move together).

    An item's position in the catalogue is not information a model should get: in ml-100k the
    item index follows popularity (Spearman 0.81), so any ranking that breaks ties by index —
    every cold item scores 0 for popularity or item-kNN — reads popularity from file order, and a
    learned re-ranker learns that order. Benchmarks renumber per seed so no model can profit.
    """
    perm = np.random.default_rng(seed).permutation(len(dataset.catalog))  # new index j holds old item perm[j]
    moved = _items_in_order(dataset.interactions, perm)
    return replace(dataset, interactions=moved, catalog=moved.catalog)


#: File name suffixes :func:`attach_images` looks for, in this order.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


def attach_images(dataset: Dataset, folder: str | os.PathLike[str], column: str = "image") -> Dataset:
    """A copy whose catalogue has ``column``: ``folder/<item id>.jpg`` (or .png...) where it exists, else None.

    For image folders keyed by item id, e.g. ``ml-1m-posters/MovieImages/<movieId>.jpg`` for
    ml-latest-small (the same movie ids). An existing ``column`` is replaced.

    Raises:
        InvalidInputError: ``folder`` is not a directory, or no file in it is named after an item id.
    """
    root = user_path(folder).absolute()  # absolute for the same reason as the posters' (see _poster_dir)
    if not root.is_dir():
        raise InvalidInputError(f"image folder {str(folder)!r} is not a directory")
    present = {p.name for p in root.iterdir()}
    paths: list[str | None] = []
    for item in dataset.catalog.item_ids:
        found = next((f"{item}{s}" for s in IMAGE_SUFFIXES if f"{item}{s}" in present), None)
        paths.append(str(root / found) if found is not None else None)
    if len(dataset.catalog) and all(path is None for path in paths):
        # item ids that are not the file names (ids 'mv00001' beside '1.jpg'): every lookup missed and the
        # "text + image" models ran on an empty image block, a note among the results the only sign of it
        example = sorted(present)[:1]
        held = f"the folder holds e.g. {example[0]!r}" if example else "the folder is empty"
        raise InvalidInputError(
            f"image folder {str(folder)!r}: no file in it is named after an item id: looked for "
            f"{str(dataset.catalog.item_ids[0]) + IMAGE_SUFFIXES[0]!r} (or {', '.join(IMAGE_SUFFIXES[1:])}) and so on; "
            f"{held}. Name the images <item id>.jpg, or give an item column of image paths (--image-column, --media-root)"
        )
    table = dataset.catalog.table.copy()
    table[column] = paths
    catalog = Catalog(item_ids=dataset.catalog.item_ids, table=table, text_columns=dataset.catalog.text_columns)
    interactions = replace(dataset.interactions, catalog=catalog)
    return replace(dataset, catalog=catalog, interactions=interactions)


def restrict_items(dataset: Dataset, keep: np.ndarray, label: str = "restricted") -> Dataset:
    """A copy with only the items where ``keep`` (bool, catalogue order) is True, and their interactions.

    Users left without any interaction are dropped. Used to compare modalities on the same items
    (e.g. only movies that have a poster).

    Raises:
        InvalidInputError: ``keep`` has the wrong length, or nothing would be left.
    """
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (len(dataset.catalog),):
        raise InvalidInputError(f"restrict_items: keep has shape {keep.shape}, expected ({len(dataset.catalog)},)")
    items = np.flatnonzero(keep)
    inter = dataset.interactions
    matrix = inter.matrix[:, items].tocsr()
    users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    if users.size == 0 or items.size == 0:
        raise InvalidInputError(f"{dataset.name}: restricting the items left no interaction")
    table = dataset.catalog.table.iloc[items].reset_index(drop=True)
    catalog = Catalog(item_ids=dataset.catalog.item_ids[items], table=table, text_columns=dataset.catalog.text_columns)
    ts = inter.timestamps[:, items].tocsr()[users] if inter.timestamps is not None else None
    new = Interactions(user_ids=inter.user_ids[users], catalog=catalog, matrix=matrix[users], timestamps=ts)
    wanted = set(map(str, new.user_ids))
    profiles = {u: t for u, t in dataset.user_profiles.items() if u in wanted} if dataset.user_profiles is not None else None
    graph = (
        {u: tuple(f for f in fs if f in wanted) for u, fs in dataset.user_graph.items() if u in wanted}
        if dataset.user_graph is not None else None
    )
    return replace(dataset, name=f"{dataset.name} ({label})", interactions=new, catalog=catalog, user_profiles=profiles, user_graph=graph)
