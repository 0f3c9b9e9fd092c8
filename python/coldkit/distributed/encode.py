"""Encoding a catalogue with Ray Data: an actor pool of encoders writing Parquet shards.

The driver validates the catalogue and builds each item's text (the same way as
:func:`coldkit.encoding.encode_catalog`), then hands Ray Data a table of ``(row, item_id,
text)``. ``map_batches`` runs it through a pool of :class:`EncodeActor` actors: each actor
builds its encoder once, by name from the plugin registry, in ``__init__`` (so a BERT model
loads once per actor, not once per batch), encodes each batch with ``encode_catalog`` and
writes the vectors straight to a shard on the output directory, so vectors never travel
through the driver. Only ``(row, shard, fingerprint)`` comes back; the driver checks that
every item arrived exactly once and that every actor had the same encoder (fingerprint),
then commits the manifest.

Fault tolerance: actors run with ``max_restarts``/``max_task_retries``; a batch whose actor
dies is re-run on a restarted actor. Shard names depend only on the rows they hold, so a
re-run batch overwrites its own shard (atomically) and cannot create a duplicate.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from coldkit.distributed._ray import require_ray
from coldkit.distributed.store import Manifest, ShardInfo, shard_name, sync_directory, write_manifest, write_shard
from coldkit.encoding import EMPTY_POLICIES, check_texts, encode_catalog, gather_inputs, input_label
from coldkit.exceptions import ColdkitError, InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from coldkit.data.interactions import Catalog

__all__ = ["EncodeActor", "catalog_texts", "encode_catalog_distributed"]

_RUN_PREFIX = "run-"


def _encoder_names_of(plugin: object) -> list[str]:
    hook = getattr(plugin, "coldkit_encoders", None)
    if hook is None:
        return []
    return [spec.name for spec in hook() or []]


class EncodeActor:
    """One Ray Data actor: builds its encoder once, then encodes and writes batches.

    Args:
        encoder_name: registry name (``"hashing"``, ``"bert"``...).
        encoder_options: keyword options of the encoder's factory.
        encoder_state: attributes set on the encoder after it is built, e.g. ``{"idf": ...}``
            of a ``hashing`` encoder fitted on the driver, so every actor encodes alike.
        plugins: ``{name: plugin}`` registered in the actor before the encoder is built, for
            plugins that are not installed as packages (defined in a notebook or a test).
        shard_dir: where this run writes its shards (a filesystem every worker can reach).
        chunk_size: texts per ``encode_texts`` call inside a batch.
        cache_dir: an optional shared :class:`coldkit.encoding.VectorCache` directory.
    """

    def __init__(
        self,
        encoder_name: str,
        encoder_options: Mapping[str, Any],
        encoder_state: Mapping[str, Any],
        plugins: Mapping[str, object],
        shard_dir: str,
        chunk_size: int,
        cache_dir: str | None,
    ) -> None:
        from coldkit.plugins.manager import get_encoder, get_plugin_manager, register_plugin

        self.shard_dir = Path(shard_dir)
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir
        self.fingerprint = ""
        # An exception raised here or in a batch reached the driver as Ray's ActorDiedError or
        # RayTaskError(UserCodeException), whose text is Ray's own stack and whose cause is lost
        # ("UDF failed to process a data block."). It is reported as a record instead, and the
        # driver raises it naming the problem (see _raise_worker_error).
        self.error: str | None = None
        try:
            for name, plugin in plugins.items():
                if not get_plugin_manager().has_plugin(name):  # a reused worker process keeps its registry
                    register_plugin(plugin, name=name)
            # Built here, once per actor: plugin encoders (torch models) load once, not per batch.
            self.encoder = get_encoder(encoder_name, **dict(encoder_options))
            for attribute, value in encoder_state.items():
                setattr(self.encoder, attribute, value)
            self.fingerprint = str(self.encoder.fingerprint)
        except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises it
            self.error = _describe_error(exc, f"building encoder {encoder_name!r}")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Encode one batch, write its shard, return ``(row, shard, fingerprint, error)`` per item."""
        rows = np.asarray(batch["row"], dtype=np.int64)
        order = np.argsort(rows, kind="stable")  # shards hold rows ascending: the name is canonical
        rows = rows[order]
        n = rows.size
        failed = self.shard_dir / _FAILED_MARKER
        if self.error is None and failed.exists():
            return _records(rows, "", self.fingerprint, _SKIPPED)  # another actor failed: stop early
        if self.error is None:
            try:
                texts = [str(t) for t in np.asarray(batch["text"], dtype=object)[order]]
                item_ids = [str(i) for i in np.asarray(batch["item_id"], dtype=object)[order]]
                vectors = encode_catalog(
                    texts,
                    self.encoder,
                    cache=self.cache_dir is not None,
                    cache_dir=self.cache_dir,
                    chunk_size=self.chunk_size,
                    progress=False,
                )
                name = shard_name(rows)
                write_shard(self.shard_dir / name, rows, item_ids, vectors)
            except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises it
                first = int(rows[0]) if n else 0
                self.error = _describe_error(exc, f"encoding the batch of rows {first}..{first + n - 1}")
            else:
                return _records(rows, name, self.fingerprint, "")
        try:
            failed.touch()  # tells the other actors to skip their remaining batches
        except OSError:
            pass
        return _records(rows, "", self.fingerprint, self.error)


_FAILED_MARKER = ".failed"
_SKIPPED = "skipped: another actor failed"  # a batch skipped after another actor's error; never reported itself


def _records(rows: np.ndarray, shard: str, fingerprint: str, error: str) -> dict[str, np.ndarray]:
    n = rows.size
    return {
        "row": rows,
        "shard": np.full(n, shard, dtype=object),
        "fingerprint": np.full(n, fingerprint, dtype=object),
        "error": np.full(n, error, dtype=object),
    }


def _describe_error(exc: BaseException, doing: str) -> str:
    """``module.Class|what the actor was doing|message``: text, since it travels through Arrow."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}|{doing}|{exc}"


def _raise_worker_error(errors: Any, encoder_name: str) -> None:
    """Raise the first error an actor reported: coldkit's own error types keep their type."""
    import coldkit.exceptions as exceptions

    reported = [str(e) for e in errors if str(e) and str(e) != _SKIPPED]
    if not reported:
        return
    qualified, doing, message = reported[0].split("|", 2)
    module, _, name = qualified.rpartition(".")
    where = f"on a Ray worker, {doing}; nothing was committed"
    cls = getattr(exceptions, name, None) if module == exceptions.__name__ else None
    if isinstance(cls, type) and issubclass(cls, ColdkitError):
        raise cls(f"{message} ({where})")
    raise ColdkitError(f"encoder {encoder_name!r} failed {where}: {name}: {message}")


def catalog_texts(
    items: Any, text_fields: Sequence[str] | str | None = None, separator: str = ". ", *, empty: str = "zero"
) -> tuple[list[str], list[str]]:
    """The item ids and texts the actors will encode, built and validated on the driver.

    Texts are built exactly as :func:`coldkit.encoding.encode_catalog` builds them, so both
    paths encode the same strings. ``items`` may also be a ``pyarrow.Table`` (converted to pandas).

    Raises:
        InvalidInputError: empty catalogue, missing text fields, a None/non-string text, or an
            empty text with ``empty="error"`` (each message names the item).
    """
    if type(items).__module__.startswith("pyarrow") and hasattr(items, "to_pandas"):
        items = items.to_pandas()
    inputs = gather_inputs(items, text_fields, None, None, separator)
    if inputs.texts is None:
        raise InvalidInputError("encode_catalog_distributed: nothing to encode (no text fields)")
    texts, empty_mask = check_texts(inputs.texts, inputs.labels)
    if not texts:
        raise InvalidInputError("encode_catalog_distributed: the catalogue is empty (no items to encode)")
    if empty == "error" and empty_mask.any():
        first = int(np.flatnonzero(empty_mask)[0])
        raise InvalidInputError(f"{input_label(inputs.labels, first)} has no content (empty text)")
    return [str(label) for label in inputs.labels], texts


def encode_catalog_distributed(
    items: "Catalog | pd.DataFrame | Sequence[str]",
    encoder_name: str,
    encoder_options: Mapping[str, Any] | None = None,
    *,
    out_dir: str | os.PathLike[str],
    text_fields: Sequence[str] | str | None = None,
    separator: str = ". ",
    encoder_state: Mapping[str, Any] | None = None,
    expected_fingerprint: str | None = None,
    plugins: Mapping[str, object] | None = None,
    num_actors: int = 2,
    batch_size: int = 256,
    chunk_size: int = 64,
    num_cpus_per_actor: float = 1.0,
    num_gpus_per_actor: float = 0.0,
    empty: str = "zero",
    cache_dir: str | os.PathLike[str] | None = None,
    max_restarts: int = 3,
    max_task_retries: int = 3,
    blocks: int | None = None,
) -> Manifest:
    """Encode a catalogue on Ray (local or a cluster) into Parquet shards plus a manifest.

    The vectors equal those of ``coldkit.encode_catalog(items, coldkit.get_encoder(encoder_name,
    **encoder_options), text_fields=..., cache=False)`` row for row (bit-identical for encoders
    whose output for a text does not depend on the other texts of its batch, such as
    ``hashing``). Read them back with :func:`coldkit.distributed.load_vectors`.

    Args:
        items: a :class:`~coldkit.data.interactions.Catalog`, a pandas DataFrame or pyarrow
            Table (an ``item_id`` column names the items, else the row index) or a list of
            texts (ids ``"0"``, ``"1"``...).
        encoder_name: registry name; an unknown name raises the registry's
            :class:`~coldkit.exceptions.UnknownComponentError` before Ray does any work.
        encoder_options: factory options, e.g. ``{"dim": 1024}``; must be picklable by Ray.
        out_dir: output directory; on a cluster, a filesystem every worker and the driver see.
        text_fields: how an item's text is built (as in ``encode_catalog``).
        separator: how an item's text is built (as in ``encode_catalog``).
        encoder_state: attributes set on every actor's encoder after construction. A fitted
            ``hashing`` encoder needs its IDF shipped: ``{"idf": fitted.idf}``.
        expected_fingerprint: if given, every actor's encoder must have this fingerprint
            (e.g. ``fitted.fingerprint``), a guard against actors that encode differently.
        plugins: ``{name: plugin}`` to register in each actor (plugins not installed as packages).
        num_actors: size of the actor pool (parallel encoders).
        batch_size: items per Ray Data batch = per shard file.
        chunk_size: texts per ``encode_texts`` call within a batch.
        num_cpus_per_actor: resources each actor reserves.
        num_gpus_per_actor: resources each actor reserves.
        empty: ``"zero"`` (empty text gives a zero row) or ``"error"`` (raise naming the item).
        cache_dir: optional shared vector cache used by every actor (see ``VectorCache``).
        max_restarts: how often Ray restarts a dead actor and retries its batch.
        max_task_retries: how often Ray restarts a dead actor and retries its batch.
        blocks: number of Ray Data blocks the input is split into (default: ~4 per actor).

    Returns:
        The :class:`~coldkit.distributed.store.Manifest` written to ``out_dir/manifest.json``.

    Raises:
        InvalidInputError: empty catalogue, bad texts, bad sizes.
        UnknownComponentError: ``encoder_name`` is not registered.
        ColdkitError: an item came back twice or not at all, or actors disagreed on the
            encoder fingerprint; nothing is committed then.

    Example::

        from coldkit import distributed
        distributed.init()
        fitted = coldkit.get_encoder("hashing", dim=1024).fit(texts)
        manifest = distributed.encode_catalog_distributed(
            texts, "hashing", {"dim": 1024}, encoder_state={"idf": fitted.idf}, out_dir="vectors/")
        ids, vectors = distributed.load_vectors("vectors/")
    """
    import pandas as pd

    from coldkit.distributed._ray import init
    from coldkit.plugins.manager import registry

    timings: dict[str, float] = {}
    started = time.perf_counter()
    options = dict(encoder_options or {})
    state = dict(encoder_state or {})
    extra_plugins = dict(plugins or {})
    for name, value in (("num_actors", num_actors), ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    if blocks is not None and (not isinstance(blocks, int) or isinstance(blocks, bool) or blocks < 1):
        raise InvalidInputError(f"blocks must be None or a positive int, got {blocks!r}")
    if empty not in EMPTY_POLICIES:
        raise InvalidInputError(f"unknown empty policy {empty!r}; choose one of {EMPTY_POLICIES}")
    if not isinstance(encoder_name, str):
        # An encoder object (what coldkit.encode_catalog takes) was reported as "unknown encoder
        # HashingEncoder(dim=8, ...)": each actor builds its own encoder from a name.
        raise InvalidInputError(
            f"encoder_name must be a registered encoder name (a str), got {type(encoder_name).__name__}; "
            "the actors build their own encoder: pass its name and options, and a fitted encoder's "
            "state as encoder_state (e.g. 'hashing', {'dim': 1024}, encoder_state={'idf': fitted.idf})"
        )
    if not any(encoder_name in _encoder_names_of(p) for p in extra_plugins.values()):
        registry("encoder").get(encoder_name)  # the registry's own error for unknown/duplicate names

    ids, texts = catalog_texts(items, text_fields, separator, empty=empty)
    n = len(texts)
    timings["prepare_s"] = time.perf_counter() - started

    ray = require_ray()
    _check_serializable(ray, {"encoder_options": options, "encoder_state": state, "plugins": extra_plugins})
    init()
    directory = Path(out_dir).expanduser().resolve()
    run_name = f"{_RUN_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    shard_dir = directory / run_name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        shard_dir.mkdir()
    except OSError as exc:  # a file given as out_dir was a bare FileExistsError
        raise InvalidInputError(f"out_dir {str(out_dir)!r} cannot hold the vectors: {exc.strerror or exc}") from None

    table = pd.DataFrame({"row": np.arange(n, dtype=np.int64), "item_id": ids, "text": texts})
    n_blocks = blocks if blocks is not None else max(1, min(n // max(batch_size, 1) + 1, 4 * num_actors))
    # One DataFrame per block, split here: contiguous row ranges, and no Ray-version-specific splitting.
    bounds = np.linspace(0, n, min(n_blocks, n) + 1).astype(int)
    encode_started = time.perf_counter()
    try:
        dataset = ray.data.from_pandas([table.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
        with warnings.catch_warnings():
            # Ray 2.5x-2.6x has no named parameter for actor restarts and warns about the generic
            # remote-args route; it is still the way to bound them (see docs/distributed.md).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            encoded = _map_batches(
                ray, dataset, encoder_name, options, state, extra_plugins, shard_dir, chunk_size, cache_dir,
                batch_size, num_actors, num_cpus_per_actor, num_gpus_per_actor, max_restarts, max_task_retries,
            )
        results = encoded.to_pandas()  # small: (row, shard, fingerprint, error) per item
        _raise_worker_error(results["error"].unique(), encoder_name)
    except BaseException:
        shutil.rmtree(shard_dir, ignore_errors=True)  # nothing committed: leave no half run behind
        raise
    timings["encode_s"] = time.perf_counter() - encode_started

    commit_started = time.perf_counter()
    try:
        shards = _check_results(results, n, shard_dir, expected_fingerprint)
    except BaseException:
        shutil.rmtree(shard_dir, ignore_errors=True)
        raise
    fingerprint = str(results["fingerprint"].iloc[0])
    manifest = Manifest(
        directory=directory,
        ids=ids,
        dim=_shard_dim(shard_dir / shards[0].file.split("/", 1)[1]),
        shards=shards,
        encoder={"name": encoder_name, "options": options, "fingerprint": fingerprint},
        extra={
            "text_fields": None if text_fields is None else list(np.atleast_1d(text_fields).tolist()),
            "num_actors": num_actors,
            "batch_size": batch_size,
            "run": run_name,
            "timings": timings,
        },
    )
    sync_directory(shard_dir)  # every shard's rename is durable before the manifest points at it
    timings["commit_s"] = time.perf_counter() - commit_started  # before the write: the manifest records it
    write_manifest(manifest)
    _remove_stale_runs(directory, keep=run_name, shard_dir=shard_dir, shards=shards)
    return manifest


def _check_serializable(ray: Any, arguments: Mapping[str, Mapping[str, Any]]) -> None:
    """Each value the actors receive must pickle; Ray's own failure is a page-long TypeError about
    its ``MapTransformer`` that never names the argument."""
    for argument, values in arguments.items():
        for key, value in values.items():
            try:
                ray.cloudpickle.dumps(value)
            except Exception as exc:  # noqa: BLE001 - any pickling failure means the same to the user
                raise InvalidInputError(
                    f"{argument}[{key!r}] cannot be sent to the Ray workers, it is not serialisable "
                    f"({type(exc).__name__}: {exc}); pass plain values (numbers, strings, arrays), or a "
                    "plugin object whose attributes pickle"
                ) from None


def _map_batches(
    ray: Any, dataset: Any, encoder_name: str, options: dict[str, Any], state: dict[str, Any],
    plugins: dict[str, object], shard_dir: Path, chunk_size: int, cache_dir: str | os.PathLike[str] | None,
    batch_size: int, num_actors: int, num_cpus: float, num_gpus: float, max_restarts: int, max_task_retries: int,
) -> Any:
    """The Ray Data stage: a fixed pool of ``num_actors`` :class:`EncodeActor` over ``dataset``."""
    return dataset.map_batches(
        EncodeActor,
        fn_constructor_kwargs={
            "encoder_name": encoder_name,
            "encoder_options": options,
            "encoder_state": state,
            "plugins": plugins,
            "shard_dir": str(shard_dir),
            "chunk_size": chunk_size,
            "cache_dir": None if cache_dir is None else str(Path(cache_dir).expanduser().resolve()),
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_restarts=max_restarts,
        max_task_retries=max_task_retries,
    )


def _check_results(results: "pd.DataFrame", n: int, shard_dir: Path, expected: str | None) -> list[ShardInfo]:
    """Exactly-once check of what the actors returned; the shard list for the manifest."""
    # A batch re-run after a failure reports its (row, shard) again under the same shard name.
    unique = results.drop_duplicates(subset=["row", "shard"])
    rows = unique["row"].to_numpy(dtype=np.int64)
    if rows.size != n or np.unique(rows).size != n or rows.min() != 0 or rows.max() != n - 1:
        counts = np.bincount(rows, minlength=n) if rows.size else np.zeros(n, dtype=np.int64)
        raise ColdkitError(
            f"distributed encoding lost or duplicated items: {int((counts == 0).sum())} missing, "
            f"{int((counts > 1).sum())} in two shards; nothing was committed"
        )
    fingerprints = set(unique["fingerprint"].astype(str))
    if len(fingerprints) != 1:
        raise ColdkitError(
            f"actors built encoders with {len(fingerprints)} different fingerprints {sorted(fingerprints)}; "
            "pass the fitted state (encoder_state=...) so every actor encodes alike"
        )
    if expected is not None and expected not in fingerprints:
        raise ColdkitError(
            f"actors' encoder fingerprint {next(iter(fingerprints))!r} differs from the expected {expected!r}; "
            "pass the fitted state (encoder_state=...) or the same encoder_options"
        )
    counts = unique.groupby("shard", sort=True)["row"].size()
    shards = []
    dims: dict[int, str] = {}
    for name, count in counts.items():
        path = shard_dir / str(name)
        if not path.is_file():
            raise ColdkitError(f"shard {name} was reported but is missing from {str(shard_dir)!r}")
        dims.setdefault(_shard_dim(path), str(name))
        shards.append(ShardInfo(file=f"{shard_dir.name}/{name}", count=int(count)))
    if len(dims) != 1:
        raise ColdkitError(f"shards disagree on the vector dim: {dims} (dim -> first shard with it)")
    return shards


def _shard_dim(path: Path) -> int:
    import pyarrow.parquet as pq

    vector_type = pq.read_schema(path).field("vector").type
    return int(vector_type.list_size)


def _remove_stale_runs(directory: Path, *, keep: str, shard_dir: Path, shards: Sequence[ShardInfo]) -> None:
    """After a commit: drop older runs' shards and this run's orphans (from dead attempts)."""
    for run in directory.glob(f"{_RUN_PREFIX}*"):
        if run.is_dir() and run.name != keep:
            shutil.rmtree(run, ignore_errors=True)
    listed = {s.file.split("/", 1)[1] for s in shards}
    for path in shard_dir.iterdir():
        if path.name not in listed:
            path.unlink(missing_ok=True)
