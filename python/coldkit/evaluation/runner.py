"""Run an evaluation protocol for several models over several seeds and collect the metrics.

Example::

    from coldkit.evaluation import evaluate

    result = evaluate("ml-latest-small", ["popularity", "content:encoder=hashing"], seeds=[0, 1, 2])
    print(result.table())
    result.save("coldkit-results/")        # results.json + a PNG chart, written atomically
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union, cast

import numpy as np
import pandas as pd

from coldkit.data.datasets import Dataset, implicit, load_dataset, renumber_items, renumber_users
from coldkit.data.loaders import DuplicatePolicy
from coldkit.data.interactions import Interactions
from coldkit.data.splits import EvalTask, Split, cold_item_split, cold_user_split, warm_split
from coldkit.evaluation.metrics import ranking_metrics, recall_at_k
from coldkit.evaluation.report import EvaluationResult
from coldkit.exceptions import ComponentContractError, InvalidInputError
from coldkit.models.registry import build_model, default_encoder_name, model_accepts, model_requires, parse_option_value
from coldkit.plugins.manager import registry
from coldkit.privacy.modes import privacy_of
from coldkit.validation import check_integer, check_k

__all__ = ["ModelChoice", "evaluate", "make_split", "encoders_used", "PROTOCOLS"]

PROTOCOLS: tuple[str, ...] = ("cold-item", "cold-user", "warm", "warm-temporal")

ModelLike = Union[str, "ModelChoice", tuple[str, Callable[[], Any]]]


@dataclass(frozen=True)
class ModelChoice:
    """A model to evaluate: a label for tables, and how to build a fresh instance per seed.

    Build from text with :meth:`parse`: ``"NAME"`` or ``"NAME:KEY=VALUE,KEY=VALUE"`` (e.g.
    ``"content:encoder=bert"``); ``encoder=default`` means :func:`coldkit.models.registry.default_encoder_name`. Or pass
    ``factory`` to evaluate any :class:`~coldkit.models.base.Recommender` of your own.
    """

    label: str
    name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    factory: Callable[[], Any] | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelChoice":
        """A choice from ``"NAME"``, ``"NAME:KEY=VALUE,..."`` or a table label ``"NAME[KEY=VALUE,...]"``.

        Values are read by :func:`~coldkit.models.registry.parse_option_value` (JSON for ``{``/``[``/``"``,
        so ``hybrid:weights={"cf_knn":0,"content":1}`` works; commas inside JSON do not split options).
        The label is written back in the bracket form, which this method accepts again.
        """
        text = text.strip()
        if not text:
            raise InvalidInputError("empty model name")
        bracket = text.find("[")
        colon = text.find(":")
        if bracket > 0 and (colon < 0 or bracket < colon):
            if not text.endswith("]"):
                raise InvalidInputError(f"model {text!r}: NAME[KEY=VALUE,...] needs the closing ']'")
            name, rest = text[:bracket], text[bracket + 1 : -1]
        else:
            name, _, rest = text.partition(":")
        options: dict[str, Any] = {}
        for part in _split_options(rest, text):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise InvalidInputError(f"model option {part!r} in {text!r} is not KEY=VALUE")
            if key.strip() in options:  # "ease:l2=1,l2=2" ran l2=2 without a word
                raise InvalidInputError(f"model {text!r} sets option {key.strip()!r} twice; keep one")
            options[key.strip()] = parse_option_value(value)
        if options.get("encoder") == "default":
            options["encoder"] = default_encoder_name()
        label = name.strip()
        if options:
            label += "[" + ",".join(f"{k}={_option_text(v)}" for k, v in options.items()) + "]"
        return cls(label=label, name=name.strip(), options=options)

    def build(self, context: Mapping[str, Any] | None = None) -> Any:
        """A fresh, unfitted model.

        ``context`` holds data-set side information (``user_profiles``, ``user_graph``) that is passed to
        models whose constructor takes it, unless the choice sets that option itself.
        """
        if self.factory is not None:
            return self.factory()
        options = dict(self.options)
        for key, value in (context or {}).items():
            if value is not None and key not in options and model_accepts(self.name, key):
                options[key] = value
        return build_model(self.name, **options)


def _split_options(rest: str, text: str) -> list[str]:
    """``KEY=VALUE`` parts split on commas outside JSON brackets and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(rest):
        if char == '"' and (i == 0 or rest[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "[{":
            depth += 1
        elif not quoted and char in "]}":
            depth -= 1
        elif char == "," and depth == 0 and not quoted:
            parts.append(rest[start:i])
            start = i + 1
    if depth or quoted:
        raise InvalidInputError(f"model {text!r}: unbalanced brackets or quotes in the options")
    parts.append(rest[start:])
    return [p.strip() for p in parts if p.strip()]


def _option_text(value: Any) -> str:
    """An option value as :meth:`ModelChoice.parse` reads it back (JSON for lists, dicts and None)."""
    if isinstance(value, (dict, list, tuple)) or value is None or isinstance(value, bool):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and (value.strip() != value or parse_option_value(value) != value):
        return json.dumps(value)  # "3" or "true" as a string: quoted, so it does not come back as a number
    return str(value)


def _is_sequence(value: Any) -> bool:
    """A list-like of values (not a string, which iterates over its characters)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0  # a 0-d array is one number
    return not isinstance(value, (str, bytes, Mapping)) and isinstance(value, Iterable)


def _whole(value: Any, what: str) -> int:
    """``value`` as an int >= 0 (numpy ints too); floats, booleans and strings are refused, not truncated."""
    rule = "must hold integers >= 0"
    number = check_integer(value, what, rule, name_type=True)
    if number < 0:
        raise InvalidInputError(f"{what} {rule}, got {type(value).__name__} {value!r}")
    return number


def _as_choices(models: Iterable[ModelLike] | Mapping[str, Callable[[], Any]]) -> list[ModelChoice]:
    if isinstance(models, Mapping):
        choices = [ModelChoice(label=str(k), factory=v) for k, v in models.items()]
    else:
        choices = []
        for m in models:
            if isinstance(m, ModelChoice):
                choices.append(m)
            elif isinstance(m, str):
                choices.append(ModelChoice.parse(m))
            elif isinstance(m, tuple) and len(m) == 2 and callable(m[1]):
                choices.append(ModelChoice(label=str(m[0]), factory=m[1]))
            else:
                raise InvalidInputError(f"not a model choice: {m!r} (use a name, 'name:k=v', or (label, factory))")
    if not choices:
        raise InvalidInputError("no model to evaluate")
    for choice in choices:
        if choice.factory is None:
            registry("model").get(choice.name)  # an unknown name fails now, listing the valid ones, not after loading data
    labels = [s.label for s in choices]
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"model labels must be unique, got {labels}")
    return choices


def make_split(
    protocol: str,
    interactions: Interactions,
    seed: int,
    *,
    reveal: Sequence[int] = (0, 1, 3, 5),
    user_profiles: dict[str, str] | None = None,
    user_graph: Mapping[str, Sequence[str]] | None = None,
) -> Split:
    """The split of ``protocol`` (one of :data:`PROTOCOLS`) for ``seed``."""
    if protocol == "cold-item":
        return cold_item_split(interactions, seed)
    if protocol == "cold-user":
        return cold_user_split(interactions, seed, reveal=reveal, user_profiles=user_profiles, user_graph=user_graph)
    if protocol == "warm":
        return warm_split(interactions, seed)
    if protocol == "warm-temporal":
        return warm_split(interactions, seed, temporal=True)
    raise InvalidInputError(f"unknown protocol {protocol!r}; choose from {list(PROTOCOLS)}")


def _subsample(task: EvalTask, max_users: int | None, seed: int) -> EvalTask:
    """At most ``max_users`` queries of ``task`` (seeded), for quick runs."""
    if max_users is None or len(task) <= max_users:
        return task
    keep = np.sort(np.random.default_rng(seed + 7919).choice(len(task), size=max_users, replace=False))
    return EvalTask(
        name=task.name,
        queries=[task.queries[i] for i in keep],
        truth=task.truth[keep],
        candidates=task.candidates,
        cold_items=task.cold_items,
        users=task.users[keep],
        exclude=None if task.exclude is None else [task.exclude[i] for i in keep],
    )


def evaluate(
    data: str | Dataset | Interactions | pd.DataFrame = "ml-latest-small",
    models: Iterable[ModelLike] | Mapping[str, Callable[[], Any]] = ("popularity",),
    *,
    items: pd.DataFrame | None = None,
    columns: Mapping[str, str] | None = None,
    item_columns: Mapping[str, str] | None = None,
    text_columns: Sequence[str] | None = None,
    duplicates: DuplicatePolicy = "error",
    protocol: str = "cold-item",
    seeds: Sequence[int] = (0,),
    k: int | Sequence[int] = (10, 20),
    reveal: Sequence[int] = (0, 1, 3, 5),
    data_root: str | None = None,
    implicit_threshold: float | None = None,
    max_users: int | None = None,
    batch_size: int = 512,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    keep_item_order: bool = False,
) -> EvaluationResult:
    """Evaluate ``models`` on ``data`` with ``protocol`` for every seed.

    Interactions are used as implicit feedback: every interaction is relevant (or only
    ``rating >= implicit_threshold``). Each model is built fresh and fitted on each seed's training
    split, then asked for the top ``max(k)`` items of every task's queries with the task's
    candidates; items the user already interacted with are excluded.

    Args:
        data: a data set name or folder (see :func:`coldkit.load_dataset`), a :class:`Dataset`,
            :class:`Interactions`, or a DataFrame of ``user_id, item_id[, rating, timestamp]`` rows
            read as ``model.fit`` reads it (with ``items``, ``columns``, ``item_columns``,
            ``text_columns``, ``duplicates``).
        items: with a DataFrame, the item table (``item_id`` + text columns), cold items included;
            without it the catalogue is the item ids seen, with no text (content models then refuse).
        columns: renames the DataFrame's columns, e.g. ``{"user_id": "userId", "item_id": "movieId"}``.
        item_columns: renames the item table's columns, e.g. ``{"item_id": "movieId"}``.
        text_columns: the item table's text columns (default: the text-like ones).
        duplicates: the DataFrame's repeated (user, item) rows: ``"error"``, ``"last"``, ``"sum"`` or ``"max"``.
        models: model choices (``"popularity"``, ``"content:encoder=bert"``), :class:`ModelChoice`
            objects, ``(label, factory)`` pairs or a ``{label: factory}`` mapping.
        protocol: ``"cold-item"`` (tasks cold / warm / all), ``"cold-user"`` (tasks n=0, n=1...),
            ``"warm"`` or ``"warm-temporal"`` (task all).
        seeds: one split (and one fresh fit) per seed.
        k: cut-offs.
        reveal: revealed interaction counts for the cold-user protocol.
        max_users: evaluate at most this many users per task (seeded sample) — for quick runs.
        batch_size: queries per ``recommend`` call.
        progress: show tqdm bars (default: when stderr is a terminal).
        keep_item_order: keep the catalogue in the data's own item order (and the users in their order of
            first appearance). By default each seed renumbers the items and the users in an order set by the
            seed and their ids alone (:func:`coldkit.data.renumber_items`, :func:`coldkit.data.renumber_users`):
            every model that breaks ties by item index (all brand-new items score 0 for popularity) would
            otherwise read the item file's order, which often follows popularity or age, the users a split
            holds out were drawn over the interaction file's row order, and the same rows in another order
            would measure something else.
        log: called with one line per model and seed once it is fitted and has ranked every task
            (``coldkit evaluate`` prints them where no bar shows: a log file, CI), e.g. ``"seed 0: hybrid
            fitted in 41.2 s, ranked 3 task(s) in 2.1 s (model 2 of 5)"``.

    Raises:
        InvalidInputError: bad protocol, k, seeds or models.
    """
    from tqdm.auto import tqdm

    # A string or a lone number where a list is expected used to be iterated (k="10" checked the
    # cut-offs "1" and "0", reveal="12" meant n = 1 and 2, models="popularity" the model "p") or
    # to fail as a TypeError; seeds=[0.5] was silently seed 0.
    if isinstance(models, (str, bytes)):
        raise InvalidInputError(f"models= takes a list of model names; wrap a single one in a list: [{models!r}]")
    if not isinstance(models, Iterable):  # None was "TypeError: 'NoneType' object is not iterable"
        raise InvalidInputError(f"models= takes a list of model names (e.g. ['hybrid', 'popularity']), got {type(models).__name__}")
    cutoffs: list[Any] = list(cast(Iterable[Any], k)) if _is_sequence(k) else [k]
    if not cutoffs:
        raise InvalidInputError("k must hold at least one cut-off, got an empty list")
    ks = sorted({check_k(x) for x in cutoffs})
    if not _is_sequence(seeds):
        raise InvalidInputError(f"seeds must be a list of distinct integers >= 0 (e.g. range(3)), got {type(seeds).__name__} {seeds!r}")
    seeds = [_whole(s, "seeds") for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidInputError(f"seeds must be distinct integers, got {seeds}")
    if not _is_sequence(reveal):
        raise InvalidInputError(f"reveal must be a list of click counts (e.g. [0, 1, 3, 5]), got {type(reveal).__name__} {reveal!r}")
    reveal = [_whole(n, "reveal") for n in reveal]
    if max_users is not None:
        max_users = check_k(max_users, "max_users")
    batch_size = check_k(batch_size, "batch_size")
    if protocol not in PROTOCOLS:
        raise InvalidInputError(f"unknown protocol {protocol!r}; choose from {list(PROTOCOLS)}")
    choices = _as_choices(models)

    # A DataFrame was refused (write it to a folder, or build Interactions by hand) while every model's fit
    # reads one: it is read here by the same function, so evaluate and fit see the same data.
    frame_options: dict[str, Any] = {"items": items, "columns": columns, "item_columns": item_columns,
                                     "text_columns": text_columns, "duplicates": duplicates}
    if isinstance(data, pd.DataFrame):
        from coldkit.models.frames import to_interactions

        # as `coldkit evaluate`: a table of bare ids serves models that read no item content (popularity,
        # item-knn, ease...); a model of one's own (a factory) may read anything
        needs_text = any(c.factory is not None or model_accepts(c.name, "encoder") for c in choices)
        # keep_item_order keeps the frame's own orders (without it every seed renumbers below)
        data = to_interactions(data, require_text=needs_text, keep_order=keep_item_order, **frame_options)
    else:
        given = [name for name, value in frame_options.items()
                 if value is not None and not (name == "duplicates" and value == "error")]
        if given:
            raise InvalidInputError(
                f"evaluate: {', '.join(given)}= read a DataFrame of interactions; for a data set name or folder use "
                "coldkit.load_dataset(path, columns=..., item_columns=..., text_columns=..., duplicates=...)"
            )
    profiles: dict[str, str] | None = None
    graph: dict[str, tuple[str, ...]] | None = None
    if isinstance(data, Interactions):
        interactions = data
        info: dict[str, Any] = {"name": "interactions", "users": data.n_users, "items": data.n_items}
        interactions = implicit(Dataset("interactions", data, data.catalog), implicit_threshold).interactions
    else:
        dataset = load_dataset(data, data_root=data_root) if not isinstance(data, Dataset) else data
        dataset = implicit(dataset, implicit_threshold)
        interactions, profiles, graph = dataset.interactions, dataset.user_profiles, dataset.user_graph
        info = dataset.describe()
        if dataset.source:  # where the data were read from (a folder of one's own, or a named set's copy)
            info["source"] = os.path.abspath(dataset.source)
    # a model that cannot be built without the data set's side information fails before any split is
    # made, naming what is missing (it failed on seed 0 with its constructor's "missing 1 required
    # positional argument: 'user_profiles'", a keyword the command line's user never typed)
    side = {"user_profiles": ("user profile texts", profiles, "ml-100k"), "user_graph": ("a social graph", graph, "lastfm-2k")}
    for choice in choices:
        if choice.factory is not None:
            continue
        for option in model_requires(choice.name):
            if option in side and option not in choice.options and side[option][1] is None:
                what, _, example = side[option]
                raise InvalidInputError(
                    f"{choice.label}: model {choice.name!r} needs {what} ({option}), and the data set "
                    f"{info['name']!r} has none (of the built-in data sets, {example} has them)"
                )
    # a cut-off beyond the catalogue ranks the whole catalogue: nothing is allocated for list
    # positions no item can fill (k = 10**12 would otherwise ask for terabytes)
    beyond = [x for x in ks if x > interactions.n_items]
    ks = sorted({min(x, max(interactions.n_items, 1)) for x in ks})
    kmax = ks[-1]
    result = EvaluationResult(
        dataset=info,
        protocol=protocol,
        seeds=seeds,
        ks=ks,
        models=[s.label for s in choices],
        tasks=[],
        settings={
            "implicit_threshold": implicit_threshold,
            "max_users": max_users,
            "reveal": list(reveal) if protocol == "cold-user" else None,
            "item_order": "kept" if keep_item_order else "items and users renumbered by (seed, id)",
        },
    )
    if beyond:
        # the metric columns are then named @n_items, not @k as asked: say so rather than rename silently
        result.notes.append(
            f"k {', '.join(map(str, beyond))} exceed(s) the catalogue's {interactions.n_items} items: "
            f"reported at k = {interactions.n_items} (the whole catalogue ranked)"
        )
    disable = None if progress is None else not progress
    for seed in seeds:
        # items and users in an order of (seed, id): not the files' (ties, and the users a split holds out)
        seen = interactions if keep_item_order else renumber_users(renumber_items(interactions, seed), seed)
        split = make_split(protocol, seen, seed, reveal=reveal, user_profiles=profiles, user_graph=graph)
        result.notes.extend(split.notes)
        tasks = {name: _subsample(t, max_users, seed) for name, t in split.tasks.items()}
        cut = [name for name in tasks if len(tasks[name]) < len(split.tasks[name])]
        if cut:  # the split's note counts its test users before the cap: "cold 40" read as 40 users evaluated
            result.notes.append(
                f"seed {seed}: max_users={max_users}: users evaluated "
                + ", ".join(f"{name} {len(tasks[name])} of {len(split.tasks[name])}" for name in tasks)
            )
        for name in tasks:
            if name not in result.tasks:
                result.tasks.append(name)
        if all(len(t) == 0 for t in tasks.values()):
            result.notes.append(f"seed {seed}: no task has a user; no model fitted")
            continue  # fitting every model to rank for nobody would only cost time
        for task in tasks.values():
            n_candidates = len(task.candidates) if task.candidates is not None else interactions.n_items
            trivial = [x for x in ks if x >= n_candidates]
            if len(task) and trivial:
                # every model lists every candidate within k: the recall there is 1 for all and says
                # nothing about the models (a tiny catalogue's few cold items)
                result.notes.append(
                    f"seed {seed}: task {task.name} ranks only {n_candidates} candidate item(s): at k = "
                    f"{', '.join(map(str, trivial))} every model lists them all (recall 1), which compares nothing"
                )
        for number, choice in enumerate(tqdm(choices, desc=f"seed {seed}: models", disable=disable, leave=False), 1):
            with _naming(choice.label, seed):
                context: dict[str, Any] = {"user_profiles": profiles, "user_graph": graph}
                if choice.factory is None and model_accepts(choice.name, "dp_epsilon") and model_accepts(choice.name, "seed"):
                    # a private model draws a secret seed per fit (its noise must be unknown to protect a release);
                    # an evaluation is a simulation, and the split's seed makes it repeat (an option's seed wins)
                    context["seed"] = seed
                model = choice.build(context)
                started = time.perf_counter()
                model.fit(split.train)
            fit_seconds = time.perf_counter() - started
            if getattr(model, "name", None) == "friends" and not getattr(model, "user_graph", None) and graph is None:
                note = f"{choice.label}: the data set has no social graph, so no query has friends: it ranks by popularity"
                if note not in result.notes:  # identical numbers to popularity in every cell, with nothing to say why
                    result.notes.append(note)
            _note_encoders(result.encoders.setdefault(choice.label, []), model)
            spent = privacy_of(model)
            if spent is not None:
                result.privacy.setdefault(choice.label, []).append({"seed": seed, **spent})
            result.records.append(_record(choice.label, seed, "-", "fit_seconds", fit_seconds))
            ranking_seconds = 0.0
            for task in tasks.values():
                if len(task) == 0:
                    note = f"seed {seed}: task {task.name} has no user; skipped"
                    if note not in result.notes:  # once per seed, not once per model
                        result.notes.append(note)
                    continue
                started = time.perf_counter()
                with _naming(choice.label, seed):
                    ranked = _recommend_all(model, task, kmax, batch_size, tqdm, disable, choice.label, interactions.n_items)
                seconds = time.perf_counter() - started
                candidates = task.candidates if task.candidates is not None else interactions.n_items
                metrics = ranking_metrics(ranked, task.truth, ks, candidates=candidates, cold_items=task.cold_items)
                for metric, value in metrics.items():
                    result.records.append(_record(choice.label, seed, task.name, metric, value))
                # per-user recall at the largest cut-off, same user order for every model: paired tests
                result.per_user[(choice.label, seed, task.name)] = recall_at_k(ranked, task.truth, kmax)
                result.per_user_ids[(seed, task.name)] = np.asarray(task.users)
                result.records.append(_record(choice.label, seed, task.name, "recommend_seconds", seconds))
                ranking_seconds += seconds
            if log is not None:
                ranked_tasks = sum(1 for task in tasks.values() if len(task))
                log(f"seed {seed}: {choice.label} fitted in {fit_seconds:.1f} s, ranked {ranked_tasks} task(s) in "
                    f"{ranking_seconds:.1f} s (model {number} of {len(choices)})")
    if not result.per_user:
        # A split that leaves no test user anywhere measured nothing: an empty table written as a
        # result (exit 0) read as a run that worked. Say why instead, with the split's own notes.
        raise InvalidInputError(
            f"nothing to evaluate: no {protocol} task of any seed has a test user "
            f"(data set {info.get('name')!r}: {info.get('users')} users, {info.get('items')} items); "
            + "; ".join(result.notes)
        )
    return result


@contextlib.contextmanager
def _naming(label: str, seed: int) -> Iterator[None]:
    """Errors inside name the model and the seed: ``--models popularity popularity-genre`` failed with
    "this model needs a 'genres' column" (which model?), a plugin model's RuntimeError with nothing."""
    try:
        yield
    except InvalidInputError as exc:  # a coldkit error stays one (one CLI line, exit 2), the model named first
        raise InvalidInputError(f"{label} (seed {seed}): {exc}") from exc
    except Exception as exc:
        add_note = getattr(exc, "add_note", None)  # Python 3.11+: shown under the traceback
        if add_note is not None:
            add_note(f"coldkit evaluate: while fitting or ranking with {label} on seed {seed}")
        raise


def encoders_used(model: Any) -> list[dict[str, Any]]:
    """The encoders a (fitted) model holds, found by walking its attributes: one
    ``{"name", "fingerprint", "dim"}`` per distinct fingerprint, in the order first met.

    Works for any model without it declaring anything: a hybrid's encoders sit inside its
    sub-models (``model.cf.content.encoders``...), a plain CF model has none (``[]``).

    Example::

        model = coldkit.models.create("content", encoder="hashing").fit(train)
        encoders_used(model)      # [{"name": "hashing", "fingerprint": "9c1f...", "dim": 1024}]
    """
    found: list[dict[str, Any]] = []
    _note_encoders(found, model)
    return found


def encoder_instances(model: Any, max_depth: int = 6) -> list[Any]:
    """The encoder objects a (fitted) model holds, one per distinct fingerprint, in the order first met
    (what :func:`encoders_used` describes; ``coldkit recommend`` asks them how long the item texts are)."""
    found: list[Any] = []
    seen: set[int] = set()

    def walk(value: Any, depth: int) -> None:
        if depth > max_depth or id(value) in seen or isinstance(value, (str, bytes, int, float, np.ndarray)):
            return
        seen.add(id(value))
        if _is_encoder(value):
            if all(e.fingerprint != value.fingerprint for e in found):
                found.append(value)
            return
        if isinstance(value, Mapping):
            children: Iterable[Any] = list(value.values())
        elif isinstance(value, (list, tuple)):
            children = value
        elif _may_hold_encoders(value):
            children = list(vars(value).values())
        else:
            return  # data (arrays, frames, interactions of other libraries): no encoder inside
        for child in children:
            walk(child, depth + 1)

    walk(model, 0)
    return found


def _is_encoder(value: Any) -> bool:
    return isinstance(getattr(value, "fingerprint", None), str) and callable(getattr(value, "encode_texts", None))


def _note_encoders(found: list[dict[str, Any]], model: Any, max_depth: int = 6) -> None:
    """Add the encoders inside ``model`` to ``found`` (skipping fingerprints already there)."""
    for value in encoder_instances(model, max_depth):
        fingerprint = value.fingerprint
        if all(e["fingerprint"] != fingerprint for e in found):
            found.append({"name": str(getattr(value, "name", type(value).__name__)),
                          "fingerprint": fingerprint, "dim": int(getattr(value, "dim", 0) or 0)})


def _may_hold_encoders(value: Any) -> bool:
    """coldkit's own objects and any model (a class with ``recommend``) are walked; other data is not."""
    if isinstance(value, type) or not hasattr(value, "__dict__"):
        return False
    return type(value).__module__.startswith("coldkit") or callable(getattr(value, "recommend", None))


def _record(model: str, seed: int, task: str, metric: str, value: float) -> dict[str, Any]:
    return {"model": model, "seed": seed, "task": task, "metric": metric, "value": float(value)}


def _recommend_all(
    model: Any, task: EvalTask, k: int, batch_size: int, tqdm: Any, disable: bool | None, label: str, n_items: int
) -> np.ndarray:
    """Top-k item indices for every query of ``task`` (rows padded with -1), each query's ``task.exclude`` items
    dropped: the model is asked for that many more, one depth for the whole task (as ``coldkit recommend`` asks
    for the items a user rated below the threshold), and they are removed from its list."""
    out = np.full((len(task), k), -1, dtype=np.int64)
    extra = max((len(e) for e in task.exclude), default=0) if task.exclude is not None else 0
    depth = k + extra
    if task.candidates is not None:
        depth = min(depth, max(k, len(task.candidates)))
    starts = range(0, len(task), batch_size)
    for start in tqdm(starts, desc=f"{label} / {task.name}", disable=disable if len(starts) > 1 else True, leave=False):
        batch = task.queries[start : start + batch_size]
        ranked = model.recommend(batch, depth, candidates=task.candidates, exclude_known=True)
        idx = np.asarray(ranked.indices, dtype=np.int64)
        if idx.shape[0] != len(batch) or idx.shape[1] > depth:
            raise InvalidInputError(
                f"model {label!r} returned shape {idx.shape} for {len(batch)} queries at k={depth}"
            )
        if idx.size and (idx.min() < -1 or idx.max() >= n_items):
            # the metrics refused it later as "ranked holds item indices outside ...", naming no model
            raise ComponentContractError(f"model {label!r} returned item indices outside [-1, {n_items})")
        if task.candidates is not None and idx.size:
            filled = idx[idx >= 0]
            if not np.isin(filled, task.candidates).all():
                raise ComponentContractError(f"model {label!r} returned items outside the candidate set")
        if extra:
            for row in range(idx.shape[0]):
                kept = idx[row][~np.isin(idx[row], task.exclude[start + row]) & (idx[row] >= 0)][:k]  # type: ignore[index]
                out[start + row, : kept.size] = kept
        else:
            out[start : start + len(batch), : idx.shape[1]] = idx
    return out
