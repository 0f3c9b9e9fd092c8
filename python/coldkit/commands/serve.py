"""``coldkit serve``: serve a saved index over HTTP, or build one from files.

Examples::

    COLDKIT_TOKEN=s3cret coldkit serve my-index --host 127.0.0.1 --port 8000
    coldkit serve my-index --token-file /run/secrets/coldkit-token
    coldkit serve my-index --build --interactions ratings.csv --items movies.csv --encoder hashing \
        --interaction-columns user_id=userId item_id=movieId     # MovieLens column names
    coldkit serve my-index --build --dataset ml-latest-small
    coldkit serve my-index --build --force --dataset ml-latest-small   # replace an existing index

A thin shell over :mod:`coldkit.serving` (``build_index_from_files``, ``create_app``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from coldkit.commands._flags import USER_DATA_FLAGS, add_table_flags, add_user_data_flags
from coldkit.commands._media import add_media_flags

__all__ = ["register", "run"]


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a saved index over HTTP (FastAPI + uvicorn), or --build one",
        description="Serve PATH (a coldkit index directory) over HTTP; with --build, build PATH from files first.",
    )
    parser.add_argument("path", metavar="PATH", help="index directory")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--token", default=None,
        help="bearer token for write endpoints; prefer $COLDKIT_TOKEN or --token-file (argv is visible in ps)",
    )  # fmt: skip
    parser.add_argument("--token-file", default=None, help="file whose first line is the bearer token")
    parser.add_argument("--workers", type=int, default=1, help="worker processes; more than 1 needs --read-only")
    parser.add_argument(
        "--read-only", action="store_true",
        help="serve without taking the writer lock, following the writer's log (its writes served within ~1 s); writes get 409",
    )  # fmt: skip
    parser.add_argument("--max-body-bytes", type=int, default=None, help="larger request bodies get 413 (default 2 MB)")
    parser.add_argument(
        "--media-root", default=None,
        help="directory that image paths in POST /items must lie in (default: no image paths over HTTP)",
    )  # fmt: skip
    parser.add_argument(
        "--reranker", default=None,
        help="a registered reranker (a plugin's) that re-ranks every list with the request's constraints "
             "(default: the built-in constraints reranker, for lists that ask for constraints)",
    )  # fmt: skip
    parser.add_argument("--reranker-options", default=None, help="the reranker's options as JSON, e.g. '{\"boost\": 2}'")
    parser.add_argument("--no-mmap", action="store_true", help="read the arrays into memory instead of memory-mapping")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    build = parser.add_argument_group("building an index")
    build.add_argument("--build", action="store_true", help="build PATH from --interactions/--items or --dataset, then exit")
    build.add_argument(
        "--force", action="store_true",
        help="with --build: replace an index already at PATH (its online writes are dropped); the swap is atomic",
    )  # fmt: skip
    build.add_argument("--interactions", help="interaction table (CSV/Parquet: user_id,item_id[,rating,timestamp])")
    build.add_argument("--items", help="item table (CSV/Parquet: item_id + text columns)")
    build.add_argument("--dataset", help="build from a named data set or a folder of your own instead (as coldkit evaluate --data)")
    build.add_argument("--data-root", default=None, help="folder with the real data sets for --dataset (default $COLDKIT_DATA or ../shared/data)")
    # the same reading flags, with the same meaning, as coldkit recommend and coldkit evaluate (declared once)
    add_table_flags(
        build, files="--interactions and --items (or a --dataset folder)",
        implicit_threshold="keep only the ratings >= this as implicit feedback (the lower ones are dropped: the index learns from the likes only)",
    )  # fmt: skip
    # the profiles become the users' texts; the others are refused with the reason (the served index has no
    # such source), see _refuse_user_data
    add_user_data_flags(build, note=" (coldkit recommend only: serve --build refuses it, saying why)",
                        profile_note=" (serve --build: each profile becomes that user's text in the index, as POST /users with text)")
    build.add_argument("--encoder", default=None, help="encoder name (default: bert if installed, else hashing)")
    build.add_argument("--encoder-options", default=None, help="encoder options as JSON, e.g. '{\"dim\": 512}'")
    build.add_argument("--fusion", default="weighted", help="fusion strategy (default weighted)")
    add_media_flags(build, media_root=False)  # --media-root is a server flag above (it bounds POST /items' images too)
    # the flags that only building reads, taken from the group itself: a hand-kept list of them and their
    # defaults drifted (--unknown-items joined the table flags and was silently ignored without --build)
    only_build = [(action.option_strings[0], action.dest, action.default) for action in build._group_actions
                  if action.dest not in ("build", "force")]
    parser.set_defaults(func=run, build_only_flags=only_build)


def _token(args: argparse.Namespace) -> str | None:
    """The bearer token from --token-file, --token (with a warning) or $COLDKIT_TOKEN."""
    from coldkit.exceptions import InvalidInputError
    from coldkit.serving.app import check_token  # named by its flag here (create_app's message said "create_app")

    if args.token is not None and args.token_file is not None:
        raise InvalidInputError("give the token once: --token or --token-file, not both")
    if args.token_file is not None:
        try:
            lines = Path(args.token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"--token-file {args.token_file!r} cannot be read: {exc}") from exc
        token = lines[0].strip() if lines else ""
        if not token:
            raise InvalidInputError(f"--token-file {args.token_file!r} is empty")
        return check_token(token, f"the token in --token-file {args.token_file!r}")
    if args.token is not None and not args.token.strip():
        # `--token "$COLDKIT_TOKEN"` (the README's form) with the variable unset: the server started, then
        # answered every write 401 asking for a token nobody had
        raise InvalidInputError(
            "--token is empty (is $COLDKIT_TOKEN set?); give the token, or leave --token out: the server then "
            "reads $COLDKIT_TOKEN itself, and serves writes without a token when it is unset"
        )
    if args.token is not None:
        check_token(args.token, "--token")
        print(
            "coldkit serve: warning: --token on the command line is visible to other users in `ps`; "
            "set $COLDKIT_TOKEN or use --token-file instead",
            file=sys.stderr,
        )
    return args.token  # None: create_app falls back to $COLDKIT_TOKEN


def _json_object_flag(text: str | None, flag: str) -> dict[str, object] | None:
    from coldkit.exceptions import InvalidInputError

    if not text:
        return None
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{flag} is not JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise InvalidInputError(
            f"{flag} must be a JSON object such as '{{\"dim\": 512}}', got {type(options).__name__}: {text!r:.60}"
        )
    return options


#: why ``serve --build`` cannot honour each of coldkit recommend's extra input files (the served hybrid has
#: no such source), and what to do instead
_USER_DATA_REFUSALS = {
    "user_graph": "the served index has no friends source; use coldkit recommend --user-graph",
    "item_vectors": "the served index re-creates its encoder by name when it is loaded, which your own vectors cannot be; "
    "use coldkit recommend --item-vectors",
}


def _refuse_user_data(args: argparse.Namespace) -> None:
    """An error naming the flag and why, for coldkit recommend's extra files given to ``serve --build``.

    They are declared here (the same flags as coldkit recommend's) so that the answer is this reason rather
    than argparse's "unrecognized arguments", which read as a typo; a mapping flag alone names its file.
    """
    from coldkit.exceptions import InvalidInputError

    for flag, attr in USER_DATA_FLAGS:
        if attr in ("user_profiles", "profile_columns"):  # read: each profile becomes its user's text
            continue
        if getattr(args, attr) is not None:
            base = attr if attr in _USER_DATA_REFUSALS else {"user_graph_columns": "user_graph",
                                                               "item_vector_columns": "item_vectors"}[attr]
            raise InvalidInputError(f"{flag} does not apply to serve --build: {_USER_DATA_REFUSALS[base]}")
    if args.user_profiles is None:
        # a mapping of the profile file without the file: it was read as a profile file given elsewhere
        for flag, given in (("--profile-columns", args.profile_columns is not None), ("--profile-text-column", args.profile_text_column != "text")):
            if given:
                raise InvalidInputError(f"{flag} describes the --user-profiles file; give that file too")


def _check_server_flags(args: argparse.Namespace) -> None:
    """Refuse numbers no server can use before the index is loaded (its writer lock taken).

    An out-of-range port only failed inside uvicorn's bind, as an OverflowError traceback; a
    negative --max-body-bytes answered every request with 413; --workers 0 quietly ran one.
    """
    from coldkit.exceptions import InvalidInputError

    if not 0 <= args.port <= 65535:
        raise InvalidInputError(f"--port must be 0..65535 (0: any free port), got {args.port}")
    if args.workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {args.workers}")
    if args.max_body_bytes is not None and args.max_body_bytes < 1:
        raise InvalidInputError(f"--max-body-bytes must be >= 1, got {args.max_body_bytes}")


def run(args: argparse.Namespace) -> int:
    from coldkit.exceptions import InvalidInputError

    from coldkit._paths import user_path_text

    # a leading ~ (a quoted shell word, --flag=~/x) is the user's home: the workers' environment, the printed path
    # and --token-file are read with it expanded (the loaders and the index storage expand theirs too)
    for attr in ("path", "token_file", "media_root", "interactions", "items", "user_profiles"):
        if getattr(args, attr) is not None:
            setattr(args, attr, user_path_text(getattr(args, attr)))
    if args.force and not args.build:
        raise InvalidInputError("--force only applies with --build (it replaces an existing index)")
    if not args.build:
        # without --build these were ignored and the existing index at PATH was served as it was
        # (or "no coldkit index"): the user believed it was built from their files
        given = [flag for flag, dest, default in args.build_only_flags if getattr(args, dest) != default]
        if given:
            raise InvalidInputError(
                f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} with --build "
                f"(coldkit serve PATH --build ... builds the index, then exits; coldkit serve PATH serves it)"
            )
    if args.build:
        from coldkit.commands._flags import list_flag, parse_mapping
        from coldkit.serving import build_index_from_files

        from coldkit.commands._media import multimodal_options, print_media_report
        from coldkit.models.registry import default_encoder_name

        _refuse_user_data(args)
        if args.reranker is not None or args.reranker_options is not None:
            # a serving choice, not saved with the index: taken and dropped, the user would believe it kept
            raise InvalidInputError("--reranker and --reranker-options apply when serving (coldkit serve PATH --reranker NAME), not with --build")
        options = _json_object_flag(args.encoder_options, "--encoder-options")
        encoder = args.encoder
        media = multimodal_options(args, encoder or default_encoder_name(), lone_root=False)
        if media is not None:
            if options:
                raise InvalidInputError("--encoder-options applies to a plain encoder; with media columns use --encoder for the text block")
            encoder, options = "multimodal", media
        index = build_index_from_files(
            args.path,
            interactions=args.interactions,
            items=args.items,
            dataset=args.dataset,
            data_root=args.data_root,
            text_columns=list_flag(args.text_columns),
            columns=parse_mapping(args.interaction_columns, "--interaction-columns"),
            item_columns=parse_mapping(args.item_columns, "--item-columns"),
            duplicates=args.duplicates,
            unknown_items=args.unknown_items,
            implicit_threshold=args.implicit_threshold,
            encoding=args.encoding,
            sep=args.sep,
            encoder=encoder,
            encoder_options=options,
            fusion=args.fusion,
            force=args.force,
            user_profiles=args.user_profiles,
            profile_text_column=args.profile_text_column,
            profile_columns=parse_mapping(args.profile_columns, "--profile-columns"),
        )
        multimodal = index.model.encoder if media is not None else None
        if multimodal is not None:
            print_media_report(getattr(multimodal, "errors_", []), [])  # its notes are among the build's, below
        _print_build_notes(index.build_notes)
        try:
            print(json.dumps({"built": args.path, **index.stats()}))
        finally:
            index.close()  # release the index's lock and log files: this process is done with it
        return 0

    _check_server_flags(args)
    rerank_options = _json_object_flag(args.reranker_options, "--reranker-options")
    if rerank_options is not None and args.reranker is None:
        raise InvalidInputError("--reranker-options needs --reranker NAME (the built-in constraints reranker takes none)")
    if args.reranker is not None:
        from coldkit.serving.reads import build_reranker

        build_reranker(args.reranker, rerank_options or {})  # an unknown name or option fails before the index is opened
    token = _token(args)
    import uvicorn

    max_body = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    if args.workers > 1:
        if args.port == 0:
            raise InvalidInputError("--port 0 needs --workers 1 (the workers share one port: give it)")
        if not args.read_only:
            raise InvalidInputError(
                "--workers > 1 needs --read-only: each worker holds its own copy of the index, so only one process may write"
            )
        from coldkit.serving.app import MEDIA_ROOT_ENV, MMAP_ENV, PATH_ENV, RERANKER_ENV, RERANKER_OPTIONS_ENV

        # each worker opens the index (and the media root) itself: a bad PATH crashed every worker with a
        # traceback, uvicorn started them again, and the command never ended; and uvicorn's own bind reported
        # a port in use as a log line. Checked here first, as the single-process server does
        stats, notes = _probe_index(args)
        _listen(args.host, args.port).close()
        print(json.dumps({"serving": os.path.abspath(args.path), "host": args.host, "port": args.port,
                          "workers": args.workers, **stats}), flush=True)
        _print_build_notes(notes)  # after the line, as the single-process server prints them
        os.environ[PATH_ENV] = os.path.abspath(args.path)
        os.environ[MMAP_ENV] = "0" if args.no_mmap else "1"  # --no-mmap was not passed on to the workers
        if args.media_root is not None:
            os.environ[MEDIA_ROOT_ENV] = os.path.abspath(args.media_root)
        if args.max_body_bytes is not None:
            os.environ["COLDKIT_MAX_BODY_BYTES"] = str(args.max_body_bytes)
        if args.reranker is not None:
            os.environ[RERANKER_ENV] = args.reranker
            os.environ[RERANKER_OPTIONS_ENV] = json.dumps(rerank_options or {})
        uvicorn.run("coldkit.serving.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
        return 0
    from coldkit.serving import create_app
    from coldkit.serving.errors import IndexStorageError

    # bound before the index is opened: a port in use is an error naming it (it was a "serving" line,
    # then uvicorn's exit), and with --port 0 the line below says which port was chosen (it said 0)
    sock = _listen(args.host, args.port)
    try:
        try:
            app = create_app(args.path, token=token, read_only=args.read_only, mmap=not args.no_mmap,
                             media_root=args.media_root, reranker=args.reranker, reranker_options=rerank_options, **max_body)
        except IndexStorageError as exc:
            if "is open for writing by another process" not in str(exc):
                raise
            # the library's words name its argument (read_only=True) and close(); a second server takes the flag
            raise IndexStorageError(
                f"index {args.path!r} is open for writing by another process (another coldkit serve, or a script "
                "holding it); serve it with --read-only beside that one, or stop it first"
            ) from None
        port = sock.getsockname()[1]
        print(json.dumps({"serving": os.path.abspath(args.path), "host": args.host, "port": port, **app.state.index.stats()}),
              flush=True)
        # after the "serving" line: a client reading the first line of the output (stderr with it, too) still gets it
        _print_build_notes(app.state.index.build_notes)
        config = uvicorn.Config(app, host=args.host, port=port, log_level=args.log_level, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _print_build_notes(notes: list[str]) -> None:
    """The fit's notes as ``note:`` lines on stderr, as `coldkit recommend` prints them: after ``--build``, and each
    time an index is opened to serve (saved with it), so a learned weight of 0 is said where it takes effect."""
    for note in notes:
        print(f"note: {note}", file=sys.stderr, flush=True)


def _probe_index(args: argparse.Namespace) -> tuple[dict[str, object], list[str]]:
    """Open PATH read-only (and check --media-root) as each worker will, then close it; the index's stats and
    its build's notes.

    Raises the errors the workers would have raised (no index there, a damaged one, a missing media root).
    """
    from coldkit.serving import load
    from coldkit.serving.app import MediaRoot

    MediaRoot(args.media_root)
    index = load(args.path, mmap=not args.no_mmap, read_only=True)
    try:
        return dict(index.stats()), list(index.build_notes)
    finally:
        index.close()


def _listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port), or InvalidInputError naming the address."""
    from coldkit.exceptions import InvalidInputError

    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets whose protocol says TCP;
    # with 0 every reply on a kept-alive connection waited ~40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart reuses the port at once
        sock.bind((host, port))
    except (OSError, UnicodeError) as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    sock.set_inheritable(True)
    return sock
