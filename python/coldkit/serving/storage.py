"""Saving, loading and logging a :class:`~coldkit.serving.ServingIndex`: JSON + ``.npy``, no pickle anywhere.

Directory layout (``PATH`` is what users pass to ``save``/``load``/``coldkit serve``)::

    PATH/CURRENT                 {"format": ..., "generation": 7}  -- replaced atomically, names the live snapshot
    PATH/snap-000007/            one complete snapshot (compacted: no deleted items)
        manifest.json            coldkit version, format_version, encoder (name, options, fingerprint), dims,
                                 item/user ids, fusion config, every array's file/dtype/shape/size
        content.npy cf.npy ...   arrays (memory-mapped on load)
        items.json users.json    item texts/categories/images, user profile texts
    PATH/wal-000007.jsonl        write-ahead log: every write acknowledged after snapshot 7 (JSON lines)
    PATH/LOCK                    held (flock) by the one process that writes

Saving writes ``snap-<g+1>`` into a temp dir next to it, fsyncs every file and the dir, renames it,
then replaces ``CURRENT``; only then are older snapshots and logs removed. Writes acknowledged
while a snapshot is being written go to ``wal-<g+1>``. Loading reads the snapshot ``CURRENT``
names and replays every log with generation >= g in order, so a crash (even ``kill -9``) at any
point loses nothing that was acknowledged: either the old snapshot + both logs, or the new
snapshot + the new log, are complete on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from contextlib import AbstractContextManager as ContextManager
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from coldkit._atomic import atomic_write_bytes, fsync_dir, signals_guarded
from coldkit._core import __version__
from coldkit.builtins.encoders import HashingEncoder
from coldkit.exceptions import ColdkitError, InvalidInputError, UnknownComponentError
from coldkit.models.hybrid import Hybrid
from coldkit.models.whitening import Whitening
from coldkit.text import split_apart_before
from coldkit.plugins.manager import BUILT_WITH, get_encoder, registry
from coldkit.serving.errors import EncoderMismatchError, IndexFormatError, IndexStorageError, IndexVersionError
from coldkit.serving.index import FusionConfig, ServingIndex
from coldkit.serving.reads import DEFAULT_BACKEND
from coldkit.serving.replay import apply_record, compacted
from coldkit.serving.state import ItemMeta, Version
from coldkit.serving.wal import WriteAheadLog, read_log

__all__ = ["save", "load", "log_files", "live_generation", "describe_existing_index", "check_no_writer", "check_index_target", "WriteAheadLog", "FORMAT", "FORMAT_VERSION", "SNAPSHOT_DELAY_ENV"]

FORMAT = "coldkit-serving-index"
#: 2: the version number is called ``version`` in the manifest and the log (1 called it ``seq``; still read).
FORMAT_VERSION = 2
SNAPSHOT_DELAY_ENV = "COLDKIT_TEST_SNAPSHOT_DELAY"  # test-only: seconds to sleep between snapshot files
_SNAP = re.compile(r"^snap-(\d{6,})$")
_WAL = re.compile(r"^wal-(\d{6,})\.jsonl$")
_save_locks: dict[int, threading.Lock] = {}
_save_locks_guard = threading.Lock()


# ------------------------------------------------------------------------------------------ fs helpers
def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _test_delay() -> None:
    delay = os.environ.get(SNAPSHOT_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def _generations(path: Path, pattern: re.Pattern[str]) -> list[int]:
    out = []
    for entry in path.iterdir() if path.is_dir() else ():
        m = pattern.match(entry.name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def log_files(path: Path, since: int) -> list[tuple[int, Path]]:
    """``(generation, file)`` of the write-ahead logs of index directory ``path`` with generation >= ``since``, in order."""
    return [(g, _wal_path(path, g)) for g in _generations(path, _WAL) if g >= since]


def _snap_dir(path: Path, gen: int) -> Path:
    return path / f"snap-{gen:06d}"


def _wal_path(path: Path, gen: int) -> Path:
    return path / f"wal-{gen:06d}.jsonl"


# ------------------------------------------------------------------------------------------ locking
def _acquire_writer_lock(path: Path) -> Any:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one writer is the user's responsibility
        return None
    fh = open(path / "LOCK", "a+b")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        raise IndexStorageError(
            f"index {str(path)!r} is open for writing by another process (or by an index this process "
            "saved or loaded and has not closed: call its close() first); open it with read_only=True"
        ) from exc
    return fh


def check_no_writer(path: str | os.PathLike[str]) -> None:
    """IndexStorageError now, when another process holds ``path`` for writing (before a long rebuild, not after)."""
    root = Path(path).expanduser().resolve()
    if (root / "LOCK").exists():
        fh = _acquire_writer_lock(root)
        if fh is not None:
            fh.close()


def _save_lock(index: ServingIndex) -> threading.Lock:
    with _save_locks_guard:
        return _save_locks.setdefault(id(index), threading.Lock())


# ------------------------------------------------------------------------------------------ save
def describe_existing_index(path: str | os.PathLike[str]) -> str | None:
    """A short description of the index at ``path`` (items, logged online writes), or None when there is none."""
    root = Path(path).expanduser()
    if not (root / "CURRENT").exists():
        # snapshots or logs without the pointer (a save killed before its first CURRENT, a hand-made copy)
        return "snapshot or log files without a CURRENT pointer: an unfinished or damaged index" if holds_index(root) else None
    try:
        current = json.loads((root / "CURRENT").read_text(encoding="utf-8"))
        gen = int(current["generation"])
        manifest = json.loads((_snap_dir(root, gen) / "manifest.json").read_text(encoding="utf-8"))
        items = len(manifest["item_ids"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"
    writes = 0
    for g in _generations(root, _WAL):
        if g >= gen:
            try:
                writes += sum(1 for line in _wal_path(root, g).read_bytes().split(b"\n") if line.strip())
            except OSError:
                pass
    return f"{items} items, {writes} online write(s) since its last snapshot"


def check_index_target(path: str | os.PathLike[str]) -> None:
    """IndexStorageError when :func:`save` could not write to ``path`` (a file, a foreign directory): say so before a build."""
    _prepare_directory(Path(path).expanduser().resolve(), create=False)


def _prepare_directory(path: Path, create: bool = True) -> None:
    if path.exists() and not path.is_dir():
        raise IndexStorageError(f"{str(path)!r} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / "CURRENT").exists():
        ours = all(_SNAP.match(p.name) or _WAL.match(p.name) or p.name.startswith(".tmp-") or p.name == "LOCK"
                   for p in path.iterdir())
        if not ours:
            raise IndexStorageError(
                f"{str(path)!r} is a non-empty directory that is not a coldkit index; refusing to write into it"
            )
    if not create:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexStorageError(f"cannot create the index directory {str(path)!r}: {exc}") from exc


def _encoder_options(encoder: Any) -> dict[str, Any]:
    """The options that re-create ``encoder`` by name (the built-in hashing encoder's; others: defaults)."""
    if isinstance(encoder, HashingEncoder):
        return {"dim": encoder.dim, "ngrams": encoder.ngrams, "sublinear_tf": encoder.sublinear_tf, "stem": encoder.stem}
    return {}


def _check_recreated(encoder: Any, name: str, options: dict[str, Any]) -> None:
    """Refuse to save an encoder *object* that a load would re-create as another encoder.

    Built by its class with options of its own (``BertEncoder(max_length=64)``), it was saved as the
    name alone, and every load then failed on its fingerprint ("different model files or version?").
    The hashing encoder's options and fitted IDF are saved whole (:func:`_encoder_options`).
    """
    if isinstance(encoder, HashingEncoder):
        return
    again = get_encoder(name, **options)
    if again.fingerprint != encoder.fingerprint:
        raise InvalidInputError(
            f"coldkit.save: the hybrid's encoder {name!r} was built with options a load cannot know: re-created as "
            f"get_encoder({name!r}, **{options!r}) its fingerprint is {again.fingerprint}, the hybrid's is "
            f"{encoder.fingerprint}; build it with coldkit.get_encoder({name!r}, ...) or build the Hybrid with "
            f"encoder={name!r} and encoder_options={{...}}"
        )


def _as_index(obj: Any) -> ServingIndex:
    if isinstance(obj, ServingIndex):
        return obj
    if isinstance(obj, Hybrid) and obj.train_ is not None:
        encoder = obj.content.encoder
        name, options = encoder.name, _encoder_options(encoder)
        given = obj.get_params()
        if isinstance(given.get("encoder"), str):
            # built by name: the name and options it was built with re-create it (a plugin encoder's options were
            # not kept, and the saved index could never be opened: "re-created with options {} has fingerprint ...")
            name, options = given["encoder"], {**options, **dict(given.get("encoder_options") or {})}
        elif name not in registry("encoder").names():
            # an encoder object whose name is no registered encoder's: saved, the index said at every load
            # "built with encoder 'Word Hash v1', which is not installed here" (a plugin author's review)
            raise InvalidInputError(
                f"coldkit.save: the hybrid's encoder calls itself {name!r}, which is no registered encoder's name, so a "
                "load could not re-create it; build the Hybrid with encoder=<registered name> (and encoder_options=...)"
            )
        else:
            built = getattr(encoder, BUILT_WITH, None)  # an object from coldkit.get_encoder: its own options
            if isinstance(built, tuple) and len(built) == 2 and built[0] == name:
                options = {**options, **dict(built[1])}
            _check_recreated(encoder, name, options)
        index = ServingIndex.from_hybrid(obj, obj.train_, encoder_name=name, encoder_options=options)
        # saved with it, as build()'s: the encoder's notes (multimodal: its media and weights), then the fit's
        notes = [*(getattr(encoder, "notes_", None) or ()), *getattr(obj, "notes_", [])]
        index.build_notes = [str(note) for note in notes]
        return index
    raise InvalidInputError(
        f"coldkit.save takes a ServingIndex or a fitted Hybrid(warm='svd'), got {type(obj).__name__}"
    )


def save(index: ServingIndex | Any, path: str | os.PathLike[str], *, attach: bool = True, force: bool = False) -> Path:
    """Write a snapshot of ``index`` to the directory ``path`` atomically; return the snapshot directory.

    ``index`` is a :class:`ServingIndex`, or a fitted ``Hybrid(warm="svd")`` (saved as the index it
    serves as; reopen it with :func:`load`).

    A crash or kill at any moment leaves the previous snapshot (and its log) loadable. Writes keep
    being served and acknowledged while the snapshot is written (they go to the next log).
    With ``attach`` (default), an index not yet attached to a directory becomes attached to
    ``path``: from then on every write is logged there before it is acknowledged.

    ``path`` holding another index is replaced only with ``force=True``, and never while a process
    (a running server) holds it for writing: its acknowledged writes would be lost.

    Raises:
        IndexStorageError: ``path`` is a file or a foreign non-empty directory, holds another index
            (without ``force``) or one another process writes to, or the disk write failed.
    """
    if not isinstance(index, ServingIndex):
        attach = False  # the converted index is not returned: nobody could write through it
    index = _as_index(index)
    target = Path(path).expanduser().resolve()
    with _save_lock(index):
        _prepare_directory(target)
        here = index.path is not None and Path(index.path) == target
        lock_fh = None
        guard_fh = None  # the writer lock held only while another index's directory is written over
        if attach and index.path is None and not index.read_only:
            lock_fh = _acquire_writer_lock(target)  # refuses a directory a server writes to
        elif index.read_only and here:
            raise IndexStorageError("a read-only index cannot snapshot its own directory (the writer process does that)")
        elif not here:
            guard_fh = _acquire_writer_lock(target)
        try:
            if not here and not force and holds_index(target):
                # another index lives there: replacing it silently dropped its snapshot and its log
                raise IndexStorageError(
                    f"{str(target)!r} already holds an index ({describe_existing_index(target)}); "
                    "save(..., force=True) replaces it"
                )
            return _save_into(index, target, here, lock_fh)
        except BaseException:
            if lock_fh is not None and index.writer.lock_file is not lock_fh:
                lock_fh.close()  # refused, or failed before attaching (e.g. no new log): let go of LOCK
            raise
        finally:
            if guard_fh is not None:
                guard_fh.close()


def holds_index(path: Path) -> bool:
    """Whether ``path`` has an index's files (a CURRENT pointer, a snapshot or a log)."""
    return (path / "CURRENT").exists() or bool(_generations(path, _SNAP) + _generations(path, _WAL))


def _why_write_failed(exc: OSError) -> str:
    """An OSError of a write, readable: numpy's short write ("9984000 requested and 7648 written", no errno)
    is what a full disk looks like from ``ndarray.tofile``, and says so only to those who know."""
    text = str(exc)
    if exc.errno is None and "requested and" in text and "written" in text:
        return f"{text}: a short write, the disk is probably full"
    return text


def _save_into(index: ServingIndex, target: Path, here: bool, lock_fh: Any) -> Path:
    """:func:`save`'s write, with the directory checked and locked as it needs."""
    existing = _generations(target, _SNAP) + _generations(target, _WAL)
    gen = (max(existing) if existing else 0) + 1
    old_wal = None
    writer = index.writer
    logged = False
    with writer.lock:
        version = writer.version
        if here or lock_fh is not None:
            logged = True
            new_wal = WriteAheadLog(_wal_path(target, gen))
            old_wal, writer.wal = writer.wal, new_wal
            writer.path = str(target)
            if lock_fh is not None:
                writer.lock_file = lock_fh
    try:
        compact = compacted(version)
        snap = _write_snapshot(target, gen, index, compact)
        _write_current(target, gen, snap.name, logged=logged, manifest_sha256=_sha256(snap / "manifest.json"))
    except BaseException as exc:
        if lock_fh is not None:  # attaching failed: detach again, so no lock or log file is left open
            with writer.lock:
                writer.wal, attached_wal = old_wal, writer.wal
                writer.path, writer.lock_file = None, None
                old_wal = None
            if attached_wal is not None:
                attached_wal.close()
                if attached_wal.path.stat().st_size == 0:
                    attached_wal.path.unlink(missing_ok=True)
            lock_fh.close()
        if isinstance(exc, OSError):
            raise IndexStorageError(f"saving the index to {str(target)!r} failed: {_why_write_failed(exc)}") from exc
        raise
    finally:
        if old_wal is not None:
            old_wal.close()
    # the new snapshot is live: older snapshots, logs and leftovers can go
    for old in _generations(target, _SNAP):
        if old < gen:
            shutil.rmtree(_snap_dir(target, old), ignore_errors=True)
    for old in _generations(target, _WAL):
        if old < gen:
            _wal_path(target, old).unlink(missing_ok=True)
    for leftover in target.glob(".tmp-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    fsync_dir(target)
    with writer.lock:
        if writer.version is version:  # nothing written meanwhile: serve the compacted arrays
            writer.replace_version(compact)
    return snap


def _write_snapshot(target: Path, gen: int, index: ServingIndex, v: Version) -> Path:
    """Write snapshot ``gen`` into a temp folder, renamed into place once complete.

    Under :func:`~coldkit._atomic.signals_guarded`: a SIGTERM in a script that left it at Python's default
    ended the process with the half-written folder left in the index directory; now the folder is removed
    first (and a signal cannot land between its creation and the ``try`` that removes it).
    """
    with signals_guarded() as critical:
        return _write_snapshot_guarded(target, gen, index, v, critical)


def _write_snapshot_guarded(
    target: Path, gen: int, index: ServingIndex, v: Version, critical: Callable[[], ContextManager[None]]
) -> Path:
    model = index.model
    arrays: dict[str, np.ndarray] = {
        "content": v.content,
        "cf": v.cf,
        "foldin": v.foldin,
        "item_new": v.row_new,
        "item_count": v.item_count,
        "user_indptr": v.base_indptr,
        "user_items": v.base_items,
        "map_weights": model.map_weights,
        "map_intercept": model.map_intercept,
        "whiten_mean": np.asarray(model.whitener.mean_, dtype=np.float64),
    }
    if model.whitener.projection_ is not None:
        arrays["whiten_projection"] = np.asarray(model.whitener.projection_, dtype=np.float64)
    if model.whitener.partial_support() is not None:
        # the dimensions the fitted catalogue uses: a text outside them is not centred (Whitening.transform);
        # optional (a dense encoder's uses every one): a snapshot without it maps texts as before it was kept
        arrays["whiten_support"] = np.asarray(model.whitener.partial_support(), dtype=bool)
    idf = getattr(model.encoder, "idf", None)
    if isinstance(idf, np.ndarray):  # a corpus-fitted encoder (hashed TF-IDF): its fitted state travels along
        arrays["encoder_idf"] = idf
    described: dict[str, Any] = {}
    with critical():
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-snap-", dir=target))
    try:
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            file = tmp / f"{name}.npy"
            with open(file, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            described[name] = {
                "file": file.name, "dtype": array.dtype.str, "shape": list(array.shape), "bytes": file.stat().st_size,
                "sha256": _sha256(file),
            }
            _test_delay()
        items = {
            "texts": [m.text for m in v.row_meta],
            "categories": [list(m.categories) for m in v.row_meta],
            "images": [m.image for m in v.row_meta],
        }
        _write_file(tmp / "items.json", json.dumps(items, ensure_ascii=False).encode("utf-8"))
        users = {"texts": {v.user_ids[u]: t for u, t in v.user_text.items()}}
        _write_file(tmp / "users.json", json.dumps(users, ensure_ascii=False).encode("utf-8"))
        tables = {name: {"sha256": _sha256(tmp / name)} for name in ("items.json", "users.json")}
        _test_delay()
        whitener = model.whitener
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "coldkit_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "version": v.number,
            "encoder": {
                "name": model.encoder_name,
                "options": model.encoder_options,
                "fingerprint": model.encoder.fingerprint,
                "dim": int(model.encoder.dim),
            },
            "dims": {"content": int(v.content.shape[1]), "cf": int(v.cf.shape[1])},
            "whitening": {"mode": whitener.mode, "dim": whitener.dim, "eps": whitener.eps},
            "fusion": model.fusion.to_json(),
            "counts": {"items": v.n_items, "users": v.n_users},
            "item_ids": list(v.item_ids[: v.n_items]),
            "user_ids": list(v.user_ids[: v.n_users]),
            "arrays": described,
            "tables": tables,
            # what the fit noted (e.g. "a new user's own words weigh 0 here"): `coldkit serve` prints them each time it
            # opens the index, /health shows them; they were lost on the first reload. Optional on load (older snapshots)
            "build_notes": [str(note) for note in index.build_notes],
        }
        # the manifest is written last: a snapshot directory without one is incomplete by construction
        _write_file(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
        fsync_dir(tmp)
        final = _snap_dir(target, gen)
        os.rename(tmp, final)
        fsync_dir(target)
        return final
    except BaseException:
        with critical():  # a second signal here skipped the removal
            shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------ load
def _sha256(file: Path) -> str:
    sha = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def _check_digest(file: Path, expected: Any) -> None:
    """IndexFormatError naming ``file`` when its SHA-256 is not ``expected`` (None: an older index without digests)."""
    if expected is not None and _sha256(file) != expected:
        raise IndexFormatError(
            f"index file {str(file)!r} is corrupted or was edited: its SHA-256 does not match the manifest"
        )


def _snapshot_file(snap: Path, name: Any, what: str) -> Path:
    """``snap / name`` for a manifest file entry that is a plain file name inside the snapshot directory."""
    text = str(name)
    file = snap / text
    if (not text or text in (".", "..") or "/" in text or "\\" in text or Path(text).is_absolute()
            or file.resolve().parent != snap.resolve()):
        raise IndexFormatError(
            f"index manifest {str(snap / 'manifest.json')!r}: {what} names {text[:200]!r}, which is not a file "
            "inside its snapshot directory"
        )
    return file


def _read_json(path: Path, what: str, sha256: Any = None) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IndexFormatError(f"{what} missing: {str(path)!r}") from exc
    except OSError as exc:
        raise IndexFormatError(f"{what} unreadable: {str(path)!r}: {exc}") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise IndexFormatError(f"index file {str(path)!r} is corrupted or was edited: its SHA-256 does not match the manifest")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise IndexFormatError(f"{what} unreadable or corrupted: {str(path)!r}: {exc}") from exc


def _load_array(snap: Path, name: str, spec: Mapping[str, Any], mmap: bool) -> np.ndarray:
    if not isinstance(spec, Mapping):
        raise IndexFormatError(f"index manifest {str(snap / 'manifest.json')!r}: array {name!r} is not described")
    file = _snapshot_file(snap, spec.get("file", f"{name}.npy"), f"array {name!r}")
    if not file.is_file():
        raise IndexFormatError(f"index array {name!r} missing: {str(file)!r}")
    if file.stat().st_size != spec.get("bytes"):
        raise IndexFormatError(
            f"index array {str(file)!r} is truncated or altered: {file.stat().st_size} bytes, manifest says {spec.get('bytes')}"
        )
    with open(file, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        # np.load reads a file without the .npy magic as a pickle and refuses it with "If you trust the
        # file you can load it unsafely using allow_pickle=": advice to unpickle a damaged index file
        raise IndexFormatError(f"index array {str(file)!r} is corrupted or was replaced: it is not a .npy array file")
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"index array {str(file)!r} is unreadable: {exc}") from exc
    if array.dtype.str != spec.get("dtype") or list(array.shape) != list(spec.get("shape", [])):
        raise IndexFormatError(
            f"index array {str(file)!r} has dtype {array.dtype.str} shape {list(array.shape)}, "
            f"manifest says {spec.get('dtype')} {spec.get('shape')}"
        )
    _check_digest(file, spec.get("sha256"))
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        # NaN/inf in a vector or a count would poison every score it touches: refuse the file, naming it
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise IndexFormatError(f"index array {str(file)!r} holds {bad} NaN or infinite value(s)")
    return array


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise IndexFormatError(message)


def live_generation(root: Path) -> int | None:
    """The generation ``CURRENT`` names now (None: unreadable), to tell a snapshot taken meanwhile from a lost log."""
    try:
        gen = json.loads((root / "CURRENT").read_text(encoding="utf-8")).get("generation")
    except (OSError, ValueError, AttributeError):
        return None
    return gen if isinstance(gen, int) and not isinstance(gen, bool) else None


def _write_current(root: Path, gen: int, snapshot: str, *, logged: bool, manifest_sha256: Any = None) -> None:
    """Replace ``CURRENT`` atomically. ``logged``: a write-ahead log ``wal-<gen>`` was started with this
    snapshot, so a load that does not find it knows acknowledged writes went missing (see :func:`load`).
    ``manifest_sha256``: the snapshot's manifest digest (the manifest holds every other file's): an edited
    or damaged manifest (two ids swapped) loaded without a word, each item then served as the other."""
    pointer: dict[str, Any] = {"format": FORMAT, "generation": gen, "snapshot": snapshot}
    if logged:
        pointer["log"] = True
    if isinstance(manifest_sha256, str):
        pointer["manifest_sha256"] = manifest_sha256
    atomic_write_bytes(root / "CURRENT", json.dumps(pointer).encode())


def _refuse_retokenised(root: Path, tokenizer: str, what: str, texts: Sequence[str]) -> None:
    """EncoderMismatchError where some of ``texts`` tokenise otherwise than under ``tokenizer``, the one the
    index at ``root`` was built with (its vectors for them are not today's)."""
    changed = [t for t in texts if split_apart_before(t, tokenizer)]
    if changed:
        raise EncoderMismatchError(
            f"index {str(root)!r} was built with the hashing encoder's {what}; {len(changed)} of its item and "
            f"user texts tokenise differently now (e.g. {changed[0][:60]!r}): rebuild it (coldkit serve PATH --build ... --force)"
        )


def load(
    path: str | os.PathLike[str], *, mmap: bool = True, read_only: bool = False, backend: str = DEFAULT_BACKEND
) -> ServingIndex:
    """Open the index saved at ``path``: the snapshot ``CURRENT`` names plus every acknowledged logged write.

    Args:
        path: the index directory given to :func:`save` / ``coldkit serve``.
        mmap: memory-map the arrays (fast start, shared page cache); the first write copies them.
        read_only: open without taking the writer lock (several read-only processes may share
            a directory); writes raise :class:`~coldkit.serving.errors.ReadOnlyIndexError`.
        backend: the similarity backend the reopened index ranks with (``"rust"``).

    Raises:
        IndexFormatError: not an index, a missing/truncated/corrupted file, ids inconsistent with arrays.
        IndexVersionError: written by a coldkit with a newer index format.
        EncoderMismatchError: the encoder re-created from the manifest gives different vectors.
        IndexStorageError: another process holds the index for writing (unless ``read_only``).
    """
    from coldkit.validation import check_flag

    # read_only="no" is a non-empty string: it opened the index read-only (and mmap="no" mapped it)
    read_only, mmap = check_flag(read_only, "read_only"), check_flag(mmap, "mmap")
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise IndexFormatError(f"no coldkit index at {str(root)!r} (not a directory)")
    if not (root / "CURRENT").exists():
        # the two directories a user most often opens by mistake get their right door named
        if (root / "manifest.json").is_file() and (root.parent / "CURRENT").is_file():
            raise IndexFormatError(f"{str(root)!r} is one snapshot inside the index {str(root.parent)!r}: load that directory")
        if (root / "meta.json").is_file() and any(root.glob("codes*.npy")):
            raise IndexFormatError(
                f"{str(root)!r} holds a compressed catalogue (QuantizedIndex), not a serving index: "
                "open it with coldkit.QuantizedIndex.load"
            )
    current = _read_json(root / "CURRENT", f"{str(root)!r} is not a coldkit index: CURRENT")
    _check(isinstance(current, dict) and current.get("format") == FORMAT, f"{str(root / 'CURRENT')!r} is not a coldkit index pointer")
    gen = current.get("generation")
    _check(isinstance(gen, int) and not isinstance(gen, bool) and gen >= 1, f"{str(root / 'CURRENT')!r}: bad generation {gen!r}")
    snap = _snap_dir(root, gen)
    # an index saved before the pointer kept the manifest's digest has none: its manifest is read unchecked
    manifest = _read_json(snap / "manifest.json", "index manifest", current.get("manifest_sha256"))
    _check(isinstance(manifest, dict) and manifest.get("format") == FORMAT, f"{str(snap)!r}: not a coldkit index manifest")
    version_found = manifest.get("format_version")
    if not isinstance(version_found, int) or version_found > FORMAT_VERSION or version_found < 1:
        raise IndexVersionError(
            f"index {str(root)!r} has format_version {version_found!r} (written by coldkit "
            f"{manifest.get('coldkit_version')}); this coldkit {__version__} reads format_version <= {FORMAT_VERSION}"
        )
    try:
        specs = manifest["arrays"]
        item_ids = [str(i) for i in manifest["item_ids"]]
        user_ids = [str(u) for u in manifest["user_ids"]]
        enc = manifest["encoder"]
        wh = manifest["whitening"]
        fusion = FusionConfig.from_json(manifest["fusion"])
        number = int(manifest["version"] if "version" in manifest else manifest["seq"])  # format 1: "seq"
        build_notes = manifest.get("build_notes", [])  # absent in a snapshot written before the notes were kept
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"index manifest {str(snap / 'manifest.json')!r} lacks or mangles a field: {exc}") from exc
    _check(isinstance(specs, dict), f"index manifest {str(snap / 'manifest.json')!r}: 'arrays' is not an object")
    _check(isinstance(build_notes, list) and all(isinstance(note, str) for note in build_notes),
           f"index manifest {str(snap / 'manifest.json')!r}: 'build_notes' is not a list of strings")
    required = ["content", "cf", "foldin", "item_new", "item_count", "user_indptr", "user_items", "map_weights",
                "map_intercept", "whiten_mean"]
    missing = [name for name in required if name not in specs]
    _check(not missing, f"index manifest {str(snap)!r} lists no array(s) {missing}")
    arrays = {name: _load_array(snap, name, spec, mmap) for name, spec in specs.items()}
    n_items, n_users = len(item_ids), len(user_ids)
    for name in ("content", "cf", "foldin", "item_new", "item_count"):
        _check(arrays[name].shape[0] == n_items,
               f"index {str(snap)!r}: {name}.npy has {arrays[name].shape[0]} rows for {n_items} item ids")
    _check(arrays["user_indptr"].shape == (n_users + 1,),
           f"index {str(snap)!r}: user_indptr.npy has shape {arrays['user_indptr'].shape} for {n_users} user ids")
    indptr = np.asarray(arrays["user_indptr"])
    _check(bool(indptr[0] == 0 and indptr[-1] == arrays["user_items"].shape[0] and np.all(np.diff(indptr) >= 0)),
           f"index {str(snap)!r}: user_indptr.npy is not a valid offset array")
    users_items = np.asarray(arrays["user_items"])
    _check(users_items.size == 0 or (users_items.min() >= 0 and users_items.max() < n_items),
           f"index {str(snap)!r}: user_items.npy holds item positions outside [0, {n_items})")
    _check(len(set(item_ids)) == n_items and len(set(user_ids)) == n_users, f"index {str(snap)!r}: duplicate ids")
    dims, counts = manifest.get("dims"), manifest.get("counts")
    described = {"dims.content": arrays["content"].shape[1:], "dims.cf": arrays["cf"].shape[1:], "counts.items": (n_items,),
                 "counts.users": (n_users,)}  # fmt: skip
    said = {"dims.content": (dims or {}).get("content"), "dims.cf": (dims or {}).get("cf"),
            "counts.items": (counts or {}).get("items"), "counts.users": (counts or {}).get("users")}  # fmt: skip
    wrong = [f"{name} {said[name]!r} (the files hold {shape[0] if shape else None})"
             for name, shape in described.items() if said[name] is not None and (not shape or said[name] != shape[0])]
    _check(not wrong, f"index manifest {str(snap / 'manifest.json')!r} does not match its files: {'; '.join(wrong)}")
    tables = manifest.get("tables")
    digests = {name: spec.get("sha256") for name, spec in tables.items() if isinstance(spec, dict)} if isinstance(tables, dict) else {}
    items = _read_json(snap / "items.json", "index item table", digests.get("items.json"))
    users = _read_json(snap / "users.json", "index user table", digests.get("users.json"))
    try:
        meta = [ItemMeta(str(t), tuple(str(c) for c in cats), None if im is None else str(im))
                for t, cats, im in zip(items["texts"], items["categories"], items["images"], strict=True)]
        user_texts = {str(k): str(t) for k, t in dict(users["texts"]).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"index {str(snap)!r}: items.json / users.json malformed: {exc}") from exc
    _check(len(meta) == n_items, f"index {str(snap)!r}: items.json has {len(meta)} rows for {n_items} item ids")

    # the encoder: re-created from its registry name + options, fitted state restored, then verified
    try:
        encoder = get_encoder(enc["name"], **dict(enc.get("options") or {}))
    except UnknownComponentError as exc:
        raise EncoderMismatchError(
            f"index {str(root)!r} was built with encoder {enc['name']!r}, which is not installed here: {exc}"
        ) from exc
    if "encoder_idf" in arrays:
        encoder.idf = np.array(arrays["encoder_idf"])  # type: ignore[attr-defined]
    # the hashing encoder's earlier tokenizers, and what each did that today's does not
    before = {getattr(encoder, f"fingerprint_{v}"): (v, what) for v, what in (
        ("v1", "first tokenizer, which cut words with combining marks apart"),
        ("v2", "tokenizer before Chinese, Japanese and Korean text was read as character bigrams"),
    ) if isinstance(getattr(encoder, f"fingerprint_{v}", None), str)}
    earlier: tuple[str, str] | None = None  # (tokenizer, what it did) of an index built before a tokenizer change
    if encoder.fingerprint != enc.get("fingerprint") and enc.get("fingerprint") in before:
        # built with the hashing encoder before a tokenizer change: its vectors are today's wherever its
        # texts tokenise alike (every ASCII catalogue, every one without CJK since v2); otherwise rebuild it
        earlier = before[enc.get("fingerprint")]
        _refuse_retokenised(root, *earlier, [m.text for m in meta] + list(user_texts.values()))
    elif encoder.fingerprint != enc.get("fingerprint"):
        raise EncoderMismatchError(
            f"index {str(root)!r}: encoder {enc['name']!r} re-created with options {enc.get('options')} has fingerprint "
            f"{encoder.fingerprint}, the index was built with {enc.get('fingerprint')} (different model files or version?)"
        )
    if enc.get("dim") is not None and enc.get("dim") != encoder.dim:
        raise EncoderMismatchError(
            f"index {str(root)!r}: encoder {enc['name']!r} re-created gives {encoder.dim}-d vectors, the manifest says {enc.get('dim')!r}"
        )
    whitener = Whitening(str(wh["mode"]), dim=wh.get("dim"), eps=float(wh["eps"]))
    whitener.mean_ = np.array(arrays["whiten_mean"], dtype=np.float64)
    whitener.projection_ = np.array(arrays["whiten_projection"]) if "whiten_projection" in arrays else None
    if "whiten_support" in arrays:
        support = np.array(arrays["whiten_support"])
        _check(support.dtype == np.bool_ and support.shape == whitener.mean_.shape,
               f"index {str(snap)!r}: whiten_support.npy has dtype {support.dtype} shape {list(support.shape)}, "
               f"expected bool {list(whitener.mean_.shape)} (one flag per dimension of the whitening mean)")
        whitener.support_ = support

    user_index = {u: o for o, u in enumerate(user_ids)}
    version = Version(
        number=number,
        n_rows=n_items,
        content=arrays["content"],
        cf=arrays["cf"],
        foldin=arrays["foldin"],
        row_item=np.arange(n_items, dtype=np.int64),
        row_new=np.asarray(arrays["item_new"], dtype=bool),
        row_meta=meta,
        n_items=n_items,
        item_ids=item_ids,
        item_index={i: o for o, i in enumerate(item_ids)},
        item_row=np.arange(n_items, dtype=np.int64),
        item_count=np.array(arrays["item_count"], dtype=np.float64),
        n_users=n_users,
        user_ids=user_ids,
        user_index=user_index,
        base_indptr=indptr.astype(np.int64),
        base_items=users_items.astype(np.int64),
        user_text={user_index[u]: t for u, t in user_texts.items() if u in user_index},
    )
    index = ServingIndex(
        version, encoder=encoder, encoder_name=str(enc["name"]), encoder_options=dict(enc.get("options") or {}),
        whitener=whitener, map_weights=np.array(arrays["map_weights"]), map_intercept=np.array(arrays["map_intercept"]),
        fusion=fusion, backend=backend,
    )
    index.build_notes = list(build_notes)
    writer = index.writer
    snapshot_rows = len(meta)  # the version's row_meta is this list: replayed items are appended to it
    lock_fh = None if read_only else _acquire_writer_lock(root)
    try:
        logs = [g for g in _generations(root, _WAL) if g >= gen]
        if current.get("log") is True and gen not in logs:
            if read_only and live_generation(root) not in (None, gen):
                # not lost: the writer snapshotted meanwhile and removed the old log; open the new snapshot
                return load(path, mmap=mmap, read_only=True, backend=backend)
            # the log this snapshot's writer started is gone (deleted by hand, a cleanup job, a bad
            # copy): loading on would silently drop every write acknowledged since the snapshot
            raise IndexFormatError(
                f"{str(root)!r}: the write-ahead log {_wal_path(root, gen).name} of snapshot {gen} is missing, so the "
                "writes acknowledged after that snapshot are lost; restore the file, or create it empty to open "
                "the index as the snapshot holds it"
            )
        for g in logs:
            # read-only beside a live writer: a record without its newline is still waiting for its fsync
            for record in read_log(_wal_path(root, g), unterminated=not read_only):
                if record["version"] <= number:
                    continue  # already in the snapshot
                if record["version"] <= writer.version.number:
                    # two records with one number (logs merged by hand, a copied line): skipping this one as
                    # "already applied" dropped an acknowledged write without a word
                    raise IndexFormatError(
                        f"write-ahead log {str(_wal_path(root, g))!r} line {record['line']}: record {record['version']} "
                        f"repeats the version of an earlier record (the log is replayed up to {writer.version.number}); "
                        "two writes claim one number, so one of them would be lost: restore the log from the writer's copy"
                    )
                if record["version"] != writer.version.number + 1:
                    raise IndexFormatError(
                        f"write-ahead log {str(_wal_path(root, g))!r}: record {record['version']} follows "
                        f"{writer.version.number}; a log file is missing"
                    )
                try:
                    apply_record(writer, record)
                except ColdkitError as exc:
                    raise IndexFormatError(
                        f"write-ahead log {str(_wal_path(root, g))!r} line {record['line']}: record {record['version']} "
                        f"cannot be replayed: {exc}"
                    ) from exc
        if earlier is not None:
            # an item written online is logged with the vectors it was given then, by the tokenizer the index
            # was built with: its texts are checked as the snapshot's were (replayed, it would keep a vector
            # today's queries cannot match)
            v = writer.version
            _refuse_retokenised(root, *earlier, [m.text for m in v.row_meta[snapshot_rows:]] + list(v.user_text.values()))
        if not read_only:
            writer.wal = WriteAheadLog(_wal_path(root, logs[-1] if logs else gen))
            writer.lock_file = lock_fh
            if current.get("log") is not True:  # from now on a missing log is noticed (a copy saved unattached)
                fsync_dir(root)
                _write_current(
                    root, gen, str(current.get("snapshot") or _snap_dir(root, gen).name), logged=True,
                    manifest_sha256=current.get("manifest_sha256"),
                )
    except BaseException:
        if writer.wal is not None:  # opened above when recording the attached log failed: its descriptor too
            writer.wal.close()
            writer.wal = None
        if lock_fh is not None:
            lock_fh.close()
        raise
    writer.read_only = read_only
    writer.path = str(root)
    return index
