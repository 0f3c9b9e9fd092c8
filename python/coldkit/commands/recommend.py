"""``coldkit recommend``: batch recommendations from plain files, for any outside evaluator.

Writes ``user_id,item_id,rank,score`` (rank 1 = best, at most ``k`` rows per user). Items a user
already interacted with are never returned, and only candidate items are::

    coldkit recommend --interactions train.csv --items items.csv --text-columns title genres \\
        --candidates cold_items.txt --users test_users.txt --k 20 --model hybrid --out recs.csv

Profile files (``--user-profiles``) hold ``user_id`` + a ``text`` column; users listed in
``--users`` with no interaction are recommended for from their profile text (or popularity).
The same thing in Python is :func:`recommend_files`.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any, Sequence

__all__ = ["register", "run", "recommend_files"]


def _parse_mapping(pairs: Sequence[str] | None, what: str) -> dict[str, str]:
    from coldkit.exceptions import InvalidInputError

    out: dict[str, str] = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InvalidInputError(f"{what}: {pair!r} is not STANDARD=COLUMN (e.g. user_id=userId)")
        out[key.strip()] = value.strip()
    return out


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="batch top-k recommendations from CSV/Parquet files to user_id,item_id,rank,score",
        description="Fit a model on an interactions file and write the top-k items per user as CSV.",
    )
    parser.add_argument("--interactions", required=True, help="user_id,item_id[,rating,timestamp] (CSV or Parquet)")
    parser.add_argument("--items", required=True, help="item_id + text/image columns (CSV or Parquet)")
    parser.add_argument("--text-columns", nargs="+", default=None, help="item columns joined into the item text (default: all text columns)")
    parser.add_argument("--user-profiles", default=None, help="user_id + text column (profile texts)")
    parser.add_argument("--profile-text-column", default="text", help="text column of --user-profiles (default text)")
    parser.add_argument("--candidates", default=None, help="file with one candidate item id per line (default: all items)")
    parser.add_argument("--users", default=None, help="file with one user id per line (default: every user in --interactions)")
    parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    parser.add_argument("--model", default="hybrid", help="model name (default hybrid, the recommended configuration)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="model option (repeatable)")
    parser.add_argument("--encoder", default=None, help="encoder for models that take one (default: bert if installed, else hashing)")
    parser.add_argument("--interaction-columns", nargs="+", metavar="STD=COL", help="column mapping, e.g. user_id=userId item_id=movieId")
    parser.add_argument("--item-columns", nargs="+", metavar="STD=COL", help="column mapping, e.g. item_id=movieId")
    parser.add_argument("--implicit-threshold", type=float, default=None, help="keep ratings >= this as implicit feedback")
    parser.add_argument(
        "--duplicates", default="error", choices=["error", "last", "sum", "max"],
        help="repeated (user,item) rows: error (default), keep the last, sum or max the weights",
    )  # fmt: skip
    parser.add_argument("--encoding", default=None, help="text encoding of the input files (default UTF-8; e.g. latin-1)")
    parser.add_argument("--out", required=True, help="output CSV path (written atomically)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


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
    candidates: str | None = None,
    users: str | None = None,
    options: dict[str, Any] | None = None,
    encoder: str | None = None,
    interaction_columns: dict[str, str] | None = None,
    item_columns: dict[str, str] | None = None,
    implicit_threshold: float | None = None,
    duplicates: str = "error",
    encoding: str | None = None,
    progress: bool | None = None,
    batch_size: int = 512,
) -> dict[str, Any]:
    """Fit ``model`` on the files and write ``user_id,item_id,rank,score`` to ``out``; returns a summary.

    Raises:
        InvalidInputError: any bad input file or id (missing columns, unknown candidate ids,
            duplicates, NaN ratings, empty files, undecodable text, k < 1).
    """
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    import coldkit.models as models
    from coldkit.data.interactions import UserQuery
    from coldkit.data.loaders import load_interactions, load_items, load_user_profiles, read_id_list
    from coldkit._atomic import atomic_write_bytes
    from coldkit.evaluation.runner import _parse_value, default_encoder, model_accepts
    from coldkit.exceptions import InvalidInputError

    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"--k must be a positive integer, got {k!r}")
    catalog = load_items(items, text_columns=text_columns, columns=item_columns, encoding=encoding)
    train = load_interactions(
        interactions,
        catalog,
        columns=interaction_columns,
        implicit_threshold=implicit_threshold,
        duplicates=duplicates,  # type: ignore[arg-type]
        encoding=encoding,
    )
    profiles = (
        load_user_profiles(user_profiles, text_column=profile_text_column, encoding=encoding) if user_profiles else {}
    )
    user_list = read_id_list(users, what="user ids") if users else [str(u) for u in train.user_ids]
    cand = None
    if candidates:
        cand_ids = read_id_list(candidates, what="candidate item ids")
        cand = np.sort(catalog.index_of(cand_ids))  # raises naming unknown ids
    notes: list[str] = []
    n_cand = len(cand) if cand is not None else len(catalog)
    if n_cand < k:
        notes.append(f"only {n_cand} candidate item(s) for k={k}: lists have at most {n_cand} items")

    opts = dict(options or {})
    if "encoder" not in opts and model_accepts(model, "encoder"):
        opts["encoder"] = encoder or default_encoder()
    opts = {key: (_parse_value(v) if isinstance(v, str) else v) for key, v in opts.items()}
    if profiles and "user_profiles" not in opts and model_accepts(model, "user_profiles"):
        opts["user_profiles"] = profiles
    recommender = models.create(model, **opts)
    recommender.fit(train)

    uindex = train.user_index()
    queries, cold = [], 0
    for uid in user_list:
        row = uindex.get(uid)
        if row is None:
            cold += 1
        queries.append(UserQuery(user=row, text=profiles.get(uid)))
    if cold:
        notes.append(f"{cold} user(s) have no interaction: recommended from profile text or popularity")
    unknown_profiles = [u for u in profiles if u not in uindex and u not in set(user_list)]
    if unknown_profiles and users is None:
        notes.append(f"{len(unknown_profiles)} profile(s) belong to users not in --interactions (pass --users to include them)")

    cand_mask = None
    if cand is not None:
        cand_mask = np.zeros(len(catalog), dtype=bool)
        cand_mask[cand] = True
    frames = []
    disable = None if progress is None else not progress
    for start in tqdm(range(0, len(queries), batch_size), desc="recommending", disable=disable):
        batch = queries[start : start + batch_size]
        ranked = recommender.recommend(batch, k, candidates=cand, exclude_known=True)
        idx = np.asarray(ranked.indices, dtype=np.int64)[:, :k]
        scores = np.asarray(ranked.scores, dtype=np.float64)[:, :k]
        # Enforce the output contract whatever the model does: no padding, only candidates, never
        # an item the user already interacted with.
        valid = idx >= 0
        if cand_mask is not None:
            valid &= cand_mask[np.where(idx >= 0, idx, 0)]
        for r, q in enumerate(batch):
            if q.user is not None:
                valid[r] &= ~np.isin(idx[r], train.items_of(q.user))
        rows, cols = np.nonzero(valid)
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
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))
    return {"out": out, "users": len(user_list), "rows": len(table), "model": model, "options": opts, "notes": notes}


def run(args: argparse.Namespace) -> int:
    summary = recommend_files(
        args.interactions,
        args.items,
        args.out,
        model=args.model,
        k=args.k,
        text_columns=args.text_columns,
        user_profiles=args.user_profiles,
        profile_text_column=args.profile_text_column,
        candidates=args.candidates,
        users=args.users,
        options=_parse_mapping(args.option, "--option"),
        encoder=args.encoder,
        interaction_columns=_parse_mapping(args.interaction_columns, "--interaction-columns"),
        item_columns=_parse_mapping(args.item_columns, "--item-columns"),
        implicit_threshold=args.implicit_threshold,
        duplicates=args.duplicates,
        encoding=args.encoding,
        progress=False if args.no_progress else None,
    )
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    opts = ", ".join(f"{k}={v}" for k, v in summary["options"].items() if k != "user_profiles")
    print(
        f"wrote {summary['rows']} recommendations for {summary['users']} user(s) to {summary['out']} "
        f"(model {summary['model']}{' ' + opts if opts else ''})",
        file=sys.stderr,
    )
    return 0
