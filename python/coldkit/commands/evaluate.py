"""``coldkit evaluate``: run a cold-start protocol for several models, print a table, write JSON + PNG.

With no arguments it evaluates the default models on the embedded MovieLens latest-small data set
(cold-item protocol, one seed) with the default encoder (``bert`` when the coldkit-bert plugin is
installed, else the built-in ``hashing`` encoder)::

    coldkit evaluate
    coldkit evaluate --data ml-100k --data-root ../shared/data --protocol cold-user --seeds 3
    coldkit evaluate --models popularity item-knn "content:encoder=hashing" --k 10 20 --out results/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from coldkit.commands._flags import add_table_flags, notes_before_an_error
from coldkit.commands._media import add_media_flags

__all__ = ["register", "run", "default_model_choices", "models_help", "encoders_line", "choices_from_specs", "with_encoder"]

_MAX_SEEDS = 10_000  # --seeds above this is a typo, not a study: each seed refits every model


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate models with a cold-start protocol (table + JSON + PNG)",
        description=(
            "Run a protocol (cold-item, cold-user, warm) for several models on a data set and report "
            "Precision/Recall/F1/NDCG/HitRate/MRR/MAP@K, coverage and cold-item exposure as mean ± std over seeds."
        ),
        epilog=MODELS_EPILOG,
        formatter_class=_ModelListFormatter,
    )
    parser.add_argument(
        "--data", default="ml-latest-small",
        help="data set name, or a folder: interactions.csv + items.csv (any column names, see --interaction-columns), "
             "or movies.csv + ratings.csv (default: embedded ml-latest-small)",
    )  # fmt: skip
    parser.add_argument("--data-root", default=None, help="folder with the real data sets (default $COLDKIT_DATA or ../shared/data)")
    parser.add_argument(
        "--protocol", default="cold-item", choices=["cold-item", "cold-user", "warm", "warm-temporal"],
        help="evaluation protocol (default cold-item)",
    )  # fmt: skip
    parser.add_argument(
        "--models", nargs="+", default=None, metavar="SPEC",
        help="models as NAME or NAME:KEY=VALUE,... (e.g. content:encoder=bert), any registered model including plugin ones; default: a baseline set plus hybrid",
    )  # fmt: skip
    parser.add_argument(
        "--encoder", default=None,
        help="encoder for every model that names none (no encoder=... in its --models spec); without it the default "
        "set uses bert if installed, else hashing, and a --models NAME its own default (listed below)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds 0..N-1 (default 1; 3 for the full table)")
    parser.add_argument("--k", type=int, nargs="+", default=[10, 20], help="cut-offs (default 10 20)")
    parser.add_argument("--reveal", type=int, nargs="+", default=None, help="cold-user: revealed interactions (default 0 1 3 5)")
    add_table_flags(
        parser, files="the --data folder's CSV/TSV tables", scope="--data folder: ",
        implicit_threshold="keep only the ratings >= this, for training and test alike (the lower ones are dropped before the split)",
    )  # fmt: skip
    parser.add_argument("--max-users", type=int, default=None, help="evaluate at most this many users per task")
    parser.add_argument(
        "--keep-item-order", action="store_true",
        help="rank in the item file's own order (users in their order of first appearance); by default each seed orders the "
        "items and the users by a hash of the seed and their ids, so ties (every new item scores 0 for popularity) and the "
        "users a split holds out never read the files' order",
    )  # fmt: skip
    parser.add_argument("--out", default="coldkit-results", help="output folder for results.json/.txt/.png (default coldkit-results)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--images", default=None, metavar="DIR",
        help="image folder keyed by item id (DIR/<item id>.jpg, .png...), e.g. ml-1m-posters/MovieImages for ml-latest-small; "
        "adds the image column 'image' and is the media root unless --media-root is given",
    )  # fmt: skip
    parser.add_argument(
        "--modalities", nargs="+", default=None,
        help="blocks of the content vectors: text image audio, space- or comma-separated (default: text plus every media column given)",
    )  # fmt: skip
    parser.add_argument(
        "--only-with-media", action="store_true",
        help="keep only the items with a usable file in every media column given (e.g. movies with a poster), "
        "so runs with different --modalities compare the same items",
    )  # fmt: skip
    add_media_flags(parser)
    parser.set_defaults(func=run)


#: placeholder replaced by :func:`models_help` when --help is printed (building it imports every model
#: module, which a plain ``coldkit evaluate`` run must not pay for at parser construction)
MODELS_EPILOG = "<the registered models>"


class _ModelListFormatter(argparse.RawDescriptionHelpFormatter):
    def add_text(self, text: str | None) -> None:
        super().add_text(models_help() if text == MODELS_EPILOG else text)


def _default_text(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return None  # an object default (an encoder instance...) says nothing useful on one line


def models_help(width: int = 100) -> str:
    """The --help epilog: every registered model with its description and option defaults, and the default set."""
    import textwrap

    from coldkit.models.registry import default_encoder_name, model_defaults, model_descriptions

    lines = ["models for --models (NAME, NAME:KEY=VALUE,... or a table label such as content[encoder=hashing]):"]
    for name, description in model_descriptions().items():
        lines.append(f"  {name:<18} {description}")
        try:
            defaults = model_defaults(name)
        except Exception as exc:  # noqa: BLE001 - one broken plugin model must not hide the others' help
            defaults, note = {}, f"(options unavailable: {type(exc).__name__})"
        else:
            note = ""
        shown = [f"{k}={t}" for k, v in defaults.items() if (t := _default_text(v)) is not None]
        text = ("defaults: " + " ".join(shown)) if shown else note
        if text:
            lines += textwrap.wrap(text, width=width, initial_indent=" " * 21, subsequent_indent=" " * 23)
    from coldkit.exceptions import DuplicateComponentError

    try:
        encoder = default_encoder_name()
    except DuplicateComponentError as exc:  # two plugins register bert: the help still prints, and says so
        lines += ["", f"default set: the default encoder is ambiguous ({exc}); give --encoder"]
        return "\n".join(lines)
    lines.append("")
    lines.append(f"default set (no --models; encoder {encoder}, or --encoder), by label:")
    for protocol in ("cold-item", "warm"):
        choices, _ = default_model_choices(encoder, protocol)
        described = ", ".join(
            c.label if not c.options else f"{c.label} = {c.name}:" + ",".join(f"{k}={v}" for k, v in c.options.items())
            for c in choices
        )
        lines += textwrap.wrap(f"{protocol if protocol == 'cold-item' else 'cold-user/warm'}: {described}", width=width,
                               initial_indent="  ", subsequent_indent="    ")
    lines.append("these labels are accepted by --models too, e.g. --models content-tfidf hybrid")
    return "\n".join(lines)


def default_model_choices(encoder: str, protocol: str = "cold-item") -> tuple[list[Any], list[str]]:
    """The default comparison: popularity, item-kNN (cold-user), TF-IDF content, LM content (when the
    encoder is a language model), the content→CF ridge map and the hybrid. Returns ``(choices, skipped)``.
    """
    from coldkit.evaluation.runner import ModelChoice
    from coldkit.models.registry import model_accepts
    from coldkit.models import available

    names = set(available())
    wanted: list[tuple[str, str, dict[str, Any]]] = [("popularity", "popularity", {})]
    if protocol != "cold-item":
        wanted.append(("item-knn", "item-knn", {}))
    wanted.append(("content-tfidf", "content", {"encoder": "hashing"}))
    if encoder != "hashing":
        wanted.append((f"content-{encoder}", "content", {"encoder": encoder}))
    wanted += [("cold-ridge", "cold-ridge", {"encoder": encoder}), ("hybrid", "hybrid", {"encoder": encoder})]
    choices, skipped = [], []
    for label, name, options in wanted:
        if name not in names:
            skipped.append(name)
            continue
        options = {k: v for k, v in options.items() if model_accepts(name, k)}
        choices.append(ModelChoice(label=label, name=name, options=options))
    return choices, skipped


def choices_from_specs(specs: list[str], encoder: str) -> list[Any]:
    """``--models`` values as ModelChoices: ``NAME``, ``NAME:K=V,...``, a table label ``NAME[K=V,...]``, or a
    label of the default set (``content-tfidf``...) unless a model is registered under that name."""
    from coldkit.evaluation.runner import ModelChoice
    from coldkit.models.registry import model_names

    labelled = {c.label: c for protocol in ("cold-item", "warm") for c in default_model_choices(encoder, protocol)[0]}
    registered = set(model_names())
    return [
        labelled[s] if s in labelled and s not in registered
        else ModelChoice.parse(s.replace("encoder=default", f"encoder={encoder}"))
        for s in specs
    ]


def _refuse_one_model_twice(choices: list[Any]) -> None:
    """Refuse two ``--models`` specs that build the same model with the same options.

    Why: one model under two spellings (options in another order; ``hybrid`` beside ``hybrid:encoder=hashing``
    under ``--encoder hashing``) was fitted twice, and the headline compared the hybrid with itself (+0.0 %,
    p = 1). The specs' option values are text read by ``parse_option_value`` (numbers, words, JSON), compared
    as such; the Python API's labelled lists may repeat a model on purpose and are not checked. An option
    left out counts as its default (``hybrid`` is ``hybrid:encoder=bert`` without ``--encoder``, ``ease`` is
    ``ease:l2=300``), read from the model's constructor; the hybrid's ``encoder=None`` is the default encoder.
    """
    from coldkit.exceptions import InvalidInputError
    from coldkit.models.registry import default_encoder_name, model_defaults

    seen: dict[tuple[str, str], str] = {}
    for choice in choices:
        defaults = model_defaults(choice.name) if choice.factory is None else {}
        if "encoder" in defaults and defaults["encoder"] is None:
            defaults["encoder"] = default_encoder_name()
        options = {**defaults, **choice.options}
        key = (choice.name, json.dumps(_as_compared(options), sort_keys=True, default=repr))
        if key in seen:
            raise InvalidInputError(f"--models {seen[key]} and {choice.label} are the same model with the same options; give it once")
        seen[key] = choice.label


def _as_compared(value: Any) -> Any:
    """An option value as two specs are compared: ``5`` and ``5.0`` are one number (JSON writes them apart)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, dict, list, tuple)):
        return value
    if isinstance(value, dict):
        return {str(k): _as_compared(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_compared(v) for v in value]
    return float(value)


def with_encoder(choices: list[Any], encoder: str) -> list[Any]:
    """``choices`` with ``encoder`` given to each model that takes one and names none (labels unchanged).

    Why: ``--encoder hashing --models hybrid`` ran the hybrid with its own default (MiniLM), and
    ``--models cold-ridge`` kept its own hashing whatever ``--encoder`` said, while the run's first
    line called ``--encoder`` the encoder of the models that name none (as ``coldkit recommend
    --encoder`` is). A spec's own ``encoder=`` wins; a model without an encoder option is left alone.
    """
    from dataclasses import replace

    from coldkit.models.registry import model_accepts

    return [
        replace(c, options={**c.options, "encoder": encoder})
        if c.factory is None and "encoder" not in c.options and model_accepts(c.name, "encoder")
        else c
        for c in choices
    ]


def encoders_line(encoders: dict[str, list[dict[str, Any]]], labels: list[str]) -> str:
    """``label=encoder+encoder, ...`` from the encoders each fitted model held (``none`` for CF models)."""
    return ", ".join(f"{label}={'+'.join(e['name'] for e in encoders.get(label, [])) or 'none'}" for label in labels)


def run(args: argparse.Namespace) -> int:
    from coldkit.commands._flags import list_flag, parse_mapping
    from coldkit.data.datasets import load_dataset
    from coldkit.evaluation.runner import evaluate
    from coldkit.models.registry import default_encoder_name
    from coldkit.exceptions import ColdkitError, InvalidInputError

    from coldkit._paths import user_path_text

    # a leading ~ (a quoted shell word, --out=~/x) is the user's home, in the checks, the saved files and the record
    args.out = user_path_text(args.out)
    if args.seeds < 1:
        raise InvalidInputError(f"--seeds must be >= 1, got {args.seeds}")
    if args.seeds > _MAX_SEEDS:  # each seed refits every model; 10^12 seeds was a MemoryError
        raise InvalidInputError(f"--seeds must be at most {_MAX_SEEDS} (each seed fits every model again), got {args.seeds}")
    if args.reveal is not None and args.protocol != "cold-user":
        # it was ignored without a word, so a user thought they had measured n=1 on another protocol
        raise InvalidInputError(f"--reveal applies to --protocol cold-user, not {args.protocol}")
    if args.reveal is not None and any(n < 0 for n in args.reveal):  # the library's "reveal must hold ..." named no flag
        raise InvalidInputError(f"--reveal counts must be >= 0 (clicks revealed per cold user), got {' '.join(map(str, args.reveal))}")
    if any(k < 1 for k in args.k):  # the library's "k must be >= 1" named no flag
        raise InvalidInputError(f"--k cut-offs must be >= 1, got {' '.join(map(str, args.k))}")
    if args.max_users is not None and args.max_users < 1:
        raise InvalidInputError(f"--max-users must be >= 1 (or left out for every user), got {args.max_users}")
    if not args.out.strip():  # '' wrote results.* into the working folder
        raise InvalidInputError("--out is empty; give the folder for results.json/.txt/.png (default coldkit-results)")
    if os.path.lexists(args.out) and (os.path.islink(args.out) or not os.path.isdir(args.out)):
        raise InvalidInputError(f"--out {args.out!r} exists and is not a folder; results.json/.txt/.png go into a folder")
    from coldkit._atomic import check_output_path, check_output_writable, refuse_read_only

    check_output_writable(os.path.join(args.out, "results.json"))  # a read-only --out fails now, not after the runs
    for name in ("results.json", "results.txt", "results.png"):  # (a stale results.png is removed by --no-chart)
        # each one, not results.json alone: a results.png that was a folder or a link failed after the runs, with
        # results.json and .txt already replaced beside it (a failed run that left a mixed set of files)
        check_output_path(os.path.join(args.out, name))
        refuse_read_only(os.path.join(args.out, name))
    if args.encoder is not None:  # a misspelt name was recorded in results.json where no chosen model reads text
        from coldkit.plugins.manager import registry

        registry("encoder").get(args.encoder)
    from coldkit.exceptions import DuplicateComponentError

    try:
        encoder = args.encoder or default_encoder_name()
    except DuplicateComponentError:
        if not args.models:
            raise  # the default set compares language-model content: it needs the default encoder
        # two plugins register bert: --models that read no text (popularity, ease) run, and a model that would
        # take the default encoder (the hybrid) refuses when it is built, naming both plugins
        encoder = "bert"
    early_notes: list[str] = []
    if args.models:
        choices = choices_from_specs(args.models, encoder)
        if args.encoder is not None:
            choices = with_encoder(choices, args.encoder)
        _refuse_one_model_twice(choices)
    else:
        choices, skipped = default_model_choices(encoder, args.protocol)
        if skipped:  # printed after the run's header line, with the other notes
            early_notes.append(f"model(s) not available in this build, skipped: {', '.join(skipped)}")
    # Items of ids alone were refused even when no chosen model reads item content (and the error
    # offered --item-vectors, a recommend flag): as in `coldkit recommend`, only a model taking an
    # encoder (or media columns) needs item text; one that still reads text says so when fitted.
    from coldkit.models.registry import model_accepts

    media_given = any(getattr(args, f, None) for f in ("images", "image_column", "audio_column"))
    # with media, a table of ids and media is complete (the media describe the items)
    needs_text = not media_given and any(c.factory is not None or model_accepts(c.name, "encoder") for c in choices)
    media_columns = [c for c in (getattr(args, "image_column", None), getattr(args, "audio_column", None)) if c]
    interaction_columns = parse_mapping(args.interaction_columns, "--interaction-columns")
    item_columns = parse_mapping(args.item_columns, "--item-columns")
    from coldkit.cli import data_warnings_as_notes

    # data read other than as given (a DataWarning of the loaders) is listed with the run's notes, as
    # coldkit recommend lists it (it was a "warning:" line here, a "note:" there, for the same file)
    with data_warnings_as_notes() as data_notes, notes_before_an_error(data_notes, ColdkitError):
        dataset = load_dataset(
            args.data,
            data_root=args.data_root,
            columns=interaction_columns,
            item_columns=item_columns,
            text_columns=list_flag(args.text_columns),
            duplicates=args.duplicates,
            unknown_items=args.unknown_items,
            require_text=needs_text,
            encoding=args.encoding,
            sep=args.sep,
            media_columns=media_columns,
        )
    dataset, choices, media_settings, media_report = _apply_media(args, dataset, choices, encoder)
    # "encoder=bert" beside --models that all set their own read as if bert had run: say what it is for.
    # Without --encoder a --models NAME keeps the model's own default (content's is hashing), so the
    # line must not claim the default encoder for it
    if args.encoder is not None or not args.models:
        encoder_text = f"encoder={encoder} (for models that name none)"
    else:
        encoder_text = f"default encoder={encoder} (of the default set; --models without encoder= keep their own, see --help)"
    print(
        f"coldkit evaluate: data={args.data} protocol={args.protocol} {encoder_text} seeds={args.seeds}",
        file=sys.stderr,
    )
    print(f"text columns: {', '.join(dataset.catalog.text_columns) or 'none (no chosen model reads item text)'}", file=sys.stderr)
    print(f"models: {', '.join(s.label for s in choices)}", file=sys.stderr)
    # the notes of the setup come after the header and the lines that say what runs, as coldkit recommend
    # prints its notes after its "text columns:" line: printed before the header they read as another
    # command's output (or a stale one's) above the run's first line
    for note in early_notes:
        print(f"note: {note}", file=sys.stderr)
    media_report()
    with notes_before_an_error(data_notes, ColdkitError):
        result = evaluate(
            dataset,
            choices,
            protocol=args.protocol,
            seeds=list(range(args.seeds)),
            k=args.k,
            reveal=args.reveal if args.reveal is not None else [0, 1, 3, 5],
            implicit_threshold=args.implicit_threshold,
            max_users=args.max_users,
            keep_item_order=args.keep_item_order,
            progress=False if args.no_progress else None,
            # where no bar shows (stderr into a file, CI, `make evaluate | tee`), a run of several minutes said
            # nothing until its table: one line per model and seed instead
            log=None if args.no_progress or sys.stderr.isatty() else lambda line: print(f"coldkit evaluate: {line}", file=sys.stderr, flush=True),
        )
    # the flag's value only where a model read text with it (a popularity-only run recorded "bert")
    result.settings["encoder"] = encoder if any(c.factory is None and model_accepts(c.name, "encoder") for c in choices) else None
    # what reading the data again needs: a folder's path and the mapping of its columns were in no output,
    # so a result could not be traced to the files (or the columns) it measured
    result.settings["data"] = {
        "data": args.data,
        "source": str(os.path.abspath(dataset.source)) if dataset.source else None,
        "interaction_columns": interaction_columns,  # None: the standard names (or a named set's own)
        "item_columns": item_columns,
        "text_columns": list(dataset.catalog.text_columns),
        "duplicates": args.duplicates,
        "unknown_items": args.unknown_items,
        "encoding": args.encoding,
        "sep": args.sep,
    }
    result.settings["command"] = _command_record(args)
    result.settings.update(media_settings)
    result.notes.extend(media_settings.get("media_notes", []))
    result.notes.extend(note for note in data_notes if note not in result.notes)
    print("encoders used: " + encoders_line(result.encoders, [c.label for c in choices]), file=sys.stderr)
    print(result.table())
    for label, spent in result.privacy.items():
        eps = [row["epsilon"] for row in spent]
        if any(e is None for e in eps):  # "(inf, δ)-DP" read like a guarantee; as coldkit recommend says it
            print(f"privacy: {label}: no privacy guarantee (ε = inf: no noise added)", file=sys.stderr)
            continue
        print(f"privacy: {label}: user-level ({max(eps):.4g}, {spent[0]['delta']:.3g})-DP spent per fit", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    paths = result.save(args.out, chart=not args.no_chart)
    print("wrote " + ", ".join(paths.values()), file=sys.stderr)
    return 0


def _command_record(args: argparse.Namespace) -> dict[str, Any]:
    """The command line of this run (as typed, and every option after parsing, defaults included) and the
    folder it ran in (relative paths in it are relative to that)."""
    options = {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "command_line")}
    return {
        "argv": list(getattr(args, "command_line", None) or []),
        "options": {k: v if v is None or isinstance(v, (bool, int, float, str, list)) else str(v) for k, v in options.items()},
        "working_directory": os.getcwd(),
    }


def _apply_media(
    args: argparse.Namespace, dataset: Any, choices: list[Any], encoder: str
) -> tuple[Any, list[Any], dict[str, Any], Callable[[], None]]:
    """Media flags: attach an image folder, check every media file, restrict to items with media,
    and give each model that takes an encoder the ``multimodal`` encoder of the wanted modalities.

    The last value prints the media notes and errors; the caller calls it after the run's header line."""
    from dataclasses import replace

    import numpy as np

    from coldkit.commands._flags import list_flag
    from coldkit.commands._media import multimodal_options, print_media_report
    from coldkit.data.datasets import attach_images, check_media_columns, restrict_items
    from coldkit.exceptions import InvalidInputError
    from coldkit.models.modalities import MODALITIES, MultimodalEncoder
    from coldkit.models.registry import model_accepts, model_defaults

    image_column, media_root = args.image_column, args.media_root
    if args.images is not None:
        dataset = attach_images(dataset, args.images)
        image_column, media_root = image_column or "image", media_root or args.images
    # a media column the item table lacks (ml-latest-small without its posters' folder) is named with the flags
    # that give it, as serve --build --dataset says; the encoder said only "image column 'image' not in the item table"
    check_media_columns(
        args.data, list(dataset.catalog.table.columns), [c for c in (image_column, args.audio_column) if c],
        own_media="a data folder of your own (--data DIR) or an image folder keyed by item id (--images DIR)",
    )
    options = multimodal_options(args, encoder, image_column=image_column, media_root=media_root)
    if options is None:
        if args.modalities or args.only_with_media:
            raise InvalidInputError("--modalities/--only-with-media need a media column (--images DIR, --image-column or --audio-column)")
        return dataset, choices, {}, lambda: None
    media = [m for m in ("image", "audio") if f"{m}_column" in options]
    wanted = list_flag(args.modalities) or ["text", *media]
    unknown = [m for m in wanted if m not in MODALITIES or (m != "text" and m not in media)]
    if unknown:
        raise InvalidInputError(f"--modalities {unknown}: choose among text and the media columns given ({', '.join(media)})")
    checker = MultimodalEncoder(**{**options, "text_encoder": None})
    present = checker.media_presence(dataset.catalog)
    settings: dict[str, Any] = {"modalities": wanted, "media_errors": [str(e) for e in checker.errors_]}
    notes = [f"{int(has.sum()):,} of {len(has):,} items have a usable {m} file" for m, has in present.items()]
    if args.only_with_media:
        keep = np.logical_and.reduce([present[m] for m in media])
        if not keep.any():
            # restrict_items then said only "restricting the items left no interaction", and the media errors
            # that say why (unreadable files, paths outside the folder) were never printed
            bare = [m for m in media if not present[m].any()] or media
            first = next((e for e in checker.errors_ if e.modality in bare), None)
            raise InvalidInputError(
                f"--only-with-media: none of the {len(keep):,} items has a usable {' and '.join(bare)} file"
                + (f" (first: {first})" if first is not None else "")
            )
        dataset = restrict_items(dataset, keep, label=f"items with {' and '.join(media)}")
        notes.append(f"--only-with-media: kept {int(keep.sum()):,} items, {dataset.interactions.n_users:,} users")
    errors = list(checker.errors_)

    def report() -> None:
        print_media_report(errors, notes)

    settings["media_notes"] = notes + [str(e) for e in checker.errors_[:20]]
    if wanted == ["text"]:
        return dataset, choices, settings, report  # the text-only baseline: the models exactly as without media
    for m in media:
        if m not in wanted:
            options.pop(f"{m}_column"), options.pop(f"{m}_encoder")
    adapted = []
    for choice in choices:
        if choice.factory is None and model_accepts(choice.name, "encoder_options"):
            # the text block is the encoder the model would use without media, so the runs compare like with like
            own = choice.options.get("encoder") or model_defaults(choice.name).get("encoder") or encoder
            text = own if "text" in wanted else None
            extra: dict[str, Any] = {"encoder": "multimodal", "encoder_options": {**options, "text_encoder": text}}
            if text is None and model_accepts(choice.name, "sources"):
                # media only: the hybrid's item-text sources (TF-IDF, the user's words) are switched off too
                extra["weights"] = {**dict(choice.options.get("weights") or {}), "tfidf": 0.0, "text": 0.0}
            choice = replace(choice, options={**choice.options, **extra})
        adapted.append(choice)
    return dataset, adapted, settings, report
