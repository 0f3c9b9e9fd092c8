"""``coldkit recommend``: batch recommendations from plain files, for any outside evaluator.

Writes ``user_id,item_id,rank,score`` (rank 1 = best, at most ``k`` rows per user). Items a user
already interacted with are never returned, and only candidate items are::

    coldkit recommend --interactions train.csv --items items.csv --text-columns title genres \\
        --candidates cold_items.txt --users test_users.txt --k 20 --model hybrid --out recs.csv

With ``--image-column poster --media-root DIR`` (and/or ``--audio-column``) the items' media are
encoded too, each medium by its own encoder, and fused with the text (see docs/multimodal.md); a
bad media file is listed in the summary and that item keeps its other modalities.

Profile files (``--user-profiles``) hold ``user_id`` + a ``text`` column; users listed in
``--users`` with no interaction are recommended for from their profile text (or popularity).
The same thing in Python is :func:`coldkit.batch.recommend_files`.

Each stage (load, encode, fit of each model part, recommend) prints a line with its elapsed time
and peak memory on stderr; ``--quiet`` silences them. ``--max-memory 6G`` caps what the model may
allocate: the default hybrid picks EASE or ALS from the data's size and this budget.
"""

from __future__ import annotations

import argparse
import sys

from coldkit.commands._flags import add_table_flags, add_user_data_flags, list_flag, notes_before_an_error, parse_mapping
from coldkit.commands._media import add_media_flags, multimodal_options

__all__ = ["register", "run"]


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="batch top-k recommendations from CSV/Parquet files to user_id,item_id,rank,score",
        description="Fit a model on an interactions file and write the top-k items per user as CSV.",
    )
    parser.add_argument("--interactions", required=True, help="user_id,item_id[,rating or weight,timestamp] (CSV or Parquet)")
    parser.add_argument("--items", required=True, help="item_id + text/image columns (CSV or Parquet)")
    add_user_data_flags(parser)
    parser.add_argument(
        "--candidates", default=None,
        help="file with one candidate item id per line (default: all items); the models rank among them, so a "
        "fusing model (hybrid) may order them otherwise than its list over all items filtered to them",
    )  # fmt: skip
    parser.add_argument("--users", default=None, help="file with one user id per line (default: every user in --interactions)")
    parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    parser.add_argument(
        "--model", default="hybrid",
        help="any registered model, built-in or from a plugin (coldkit plugins lists them); default hybrid, the recommended configuration",
    )  # fmt: skip
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="model option (repeatable)")
    parser.add_argument("--encoder", default=None, help="encoder for models that take one (default: bert if installed, else hashing)")
    add_table_flags(
        parser, files="--interactions, --items, --user-profiles and --user-graph",
        encoded="--interactions, --items, --user-profiles, --user-graph, --users and --candidates",
        implicit_threshold="keep ratings >= this as implicit feedback (the lower ones still count as seen: never recommended)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="output CSV path (written atomically)")
    parser.add_argument(
        "--quiet", "--no-progress", dest="quiet", action="store_true",
        help="no stage lines or progress bars on stderr (--no-progress is the old name)",
    )  # fmt: skip
    parser.add_argument(
        "--max-memory", default=None, metavar="SIZE",
        help="memory the model may use, e.g. 6G or 512M (default: 60%% of the machine's memory: RAM or the container limit); "
        "a model that does not fit fails at once, naming the option to change",
    )  # fmt: skip
    add_media_flags(parser)
    parser.add_argument(
        "--dp-epsilon", type=float, default=None, metavar="EPS",
        help="private mode: user-level (ε, δ)-differential privacy for everything learned across users "
        "(hybrid -> dp-hybrid, popularity -> dp-popularity...; see docs/privacy.md)",
    )  # fmt: skip
    parser.add_argument("--dp-delta", type=float, default=None, metavar="DELTA", help="δ of --dp-epsilon (default 1/(10·users))")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coldkit.batch import recommend_files
    from coldkit.cli import data_warnings_as_notes
    from coldkit.exceptions import ColdkitError, InvalidInputError

    if args.k < 1:  # the library's "k must be >= 1" named no flag
        raise InvalidInputError(f"--k must be >= 1 (items per user), got {args.k}")
    # data read other than as given (a DataWarning of the loaders) is listed with the run's notes
    with data_warnings_as_notes() as data_notes, notes_before_an_error(data_notes, ColdkitError):
        summary = recommend_files(
            args.interactions,
            args.items,
            args.out,
            model=args.model,
            k=args.k,
            text_columns=list_flag(args.text_columns),
            profile_columns=parse_mapping(args.profile_columns, "--profile-columns"),
            user_profiles=args.user_profiles,
            profile_text_column=args.profile_text_column,
            candidates=args.candidates,
            users=args.users,
            options=parse_mapping(args.option, "--option", "KEY=VALUE (e.g. whitening=none)"),
            encoder=args.encoder,
            item_vectors=args.item_vectors,
            item_vector_columns=parse_mapping(args.item_vector_columns, "--item-vector-columns"),
            user_graph=args.user_graph,
            user_graph_columns=parse_mapping(args.user_graph_columns, "--user-graph-columns"),
            interaction_columns=parse_mapping(args.interaction_columns, "--interaction-columns"),
            item_columns=parse_mapping(args.item_columns, "--item-columns"),
            implicit_threshold=args.implicit_threshold,
            duplicates=args.duplicates,
            unknown_items=args.unknown_items,
            encoding=args.encoding,
            sep=args.sep,
            progress=False if args.quiet else None,
            max_memory=args.max_memory,
            media=multimodal_options(args, args.encoder),
            dp_epsilon=args.dp_epsilon,
            dp_delta=args.dp_delta,
        )
    print(f"text columns: {', '.join(summary['text_columns']) or '(none)'}", file=sys.stderr)
    for note in [*data_notes, *summary["notes"]]:
        print(f"note: {note}", file=sys.stderr)
    if summary.get("media_errors"):
        print(f"media errors ({len(summary['media_errors'])}; those items use their other modalities):", file=sys.stderr)
        for line in summary["media_errors"][:20]:
            print(f"  {line}", file=sys.stderr)
        if len(summary["media_errors"]) > 20:
            print(f"  ... and {len(summary['media_errors']) - 20} more", file=sys.stderr)
    privacy = summary.get("privacy")
    if privacy is not None:
        eps = privacy["epsilon"]
        if eps is None or eps == float("inf"):  # "(inf, δ)-DP" read like a guarantee: ε = inf is none
            print("privacy: no privacy guarantee (ε = inf: no noise added)", file=sys.stderr)
        else:
            # the guarantee is per release: each run draws fresh noise, and publishing two runs on the same
            # data spends the budget twice (docs/privacy.md); the line says so where the budget is read
            print(
                f"privacy: user-level ({eps:.4g}, {privacy['delta']:.3g})-DP spent by this run (publishing another run "
                "on the same data spends it again)",
                file=sys.stderr,
            )
    # the profile texts and the social graph are data, not settings: they would flood the line
    opts = ", ".join(f"{k}={v}" for k, v in summary["options"].items() if k not in ("user_profiles", "user_graph"))
    # a user with no row (nothing left to recommend) was counted among those written for
    written = summary.get("users_written", summary["users"])
    for_users = f"{summary['users']}" if written == summary["users"] else f"{written} of {summary['users']}"
    print(
        f"wrote {summary['rows']} recommendations for {for_users} user(s) to {summary['out']} "
        f"(model {summary['model']}{' ' + opts if opts else ''})",
        file=sys.stderr,
    )
    return 0
