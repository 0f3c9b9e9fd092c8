"""Vector cache management: list / size / prune, the size limit applied on write, safe deletion, ``coldkit cache``."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldkit.builtins.encoders import HashingEncoder
from coldkit.cache import (
    CACHE_MAX_SIZE_ENV,
    DEFAULT_MAX_SIZE,
    cache_size,
    configured_max_size,
    enforce_cache_limit,
    list_entries,
    parse_duration,
    parse_size,
    prune,
)
from coldkit.cli import main
from coldkit.encoding import CacheUnavailableError, VectorCache, encode_catalog, text_key
from coldkit.exceptions import CacheWarning, InvalidInputError

TEXTS = [f"item {i} is a story about {'space robots westerns romance'.split()[i % 4]}" for i in range(40)]


@pytest.fixture(autouse=True)
def _no_limit_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_MAX_SIZE_ENV, raising=False)


def encode(root: Path, dim: int, texts: list[str] = TEXTS) -> VectorCache:
    """Encode ``texts`` through the real pipeline into the cache under ``root``; returns that encoder's cache."""
    encoder = HashingEncoder(dim=dim)
    encode_catalog(texts, encoder, cache_dir=root, chunk_size=16, progress=False)
    return VectorCache(root, encoder.fingerprint, dim, name=encoder.name)


def age(directory: Path, seconds_ago: float) -> None:
    """Make every file of a cache entry look last touched ``seconds_ago``."""
    stamp = time.time() - seconds_ago
    for path in directory.iterdir():
        os.utime(path, (stamp, stamp))


def disk_bytes(root: Path) -> int:
    """An independent measure: every regular file under ``root`` (no symlinks)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_list_reports_each_encoder_entry(tmp_path: Path) -> None:
    small = encode(tmp_path, 64, TEXTS + TEXTS[:5])  # repeated texts are one cached item
    big = encode(tmp_path, 128, TEXTS[:10])
    entries = {e.dim: e for e in list_entries(tmp_path)}
    assert set(entries) == {64, 128}
    assert entries[64].items == 40 and entries[128].items == 10
    assert entries[64].fingerprint == small.fingerprint and entries[128].fingerprint == big.fingerprint
    assert entries[64].encoder == "hashing" and entries[64].path == small.directory
    for e in entries.values():
        assert e.bytes == disk_bytes(e.path) and time.time() - 60 < e.last_used <= time.time() + 1
    # the 128-d vectors of 10 items: at least 10 * 128 * 4 bytes of .npy
    assert entries[128].bytes > 10 * 128 * 4
    assert cache_size(tmp_path) == disk_bytes(tmp_path)
    assert list_entries(tmp_path / "missing") == [] and cache_size(tmp_path / "missing") == 0


def test_prune_older_than_removes_only_stale_entries(tmp_path: Path) -> None:
    old = encode(tmp_path, 64)
    fresh = encode(tmp_path, 128)
    age(old.directory, 8 * 86400)
    report = prune(tmp_path, older_than=parse_duration("7d"))
    assert [e.path for e in report.removed] == [old.directory]
    assert not old.directory.exists() and report.remaining_bytes == disk_bytes(tmp_path)
    # the fresh entry still answers from disk, in a new process's view too
    found, vectors = VectorCache(tmp_path, fresh.fingerprint, 128, name="hashing").get_many([text_key(TEXTS[0])])
    assert found.all() and vectors.shape == (1, 128)
    # and the old encoder's vectors are simply encoded again next time
    again = encode(tmp_path, 64)
    assert len(again) == 40


def test_prune_max_size_evicts_least_recently_used_first(tmp_path: Path) -> None:
    caches = [encode(tmp_path, d) for d in (32, 64, 128)]
    for cache, days in zip(caches, (3, 1, 2)):  # use order, oldest first: 32, 128, 64
        age(cache.directory, days * 86400)
    sizes = {c.dim: disk_bytes(c.directory) for c in caches}
    report = prune(tmp_path, max_size=sizes[64] + 1)
    assert [e.dim for e in report.removed] == [32, 128]
    assert report.freed_bytes == sizes[32] + sizes[128] and cache_size(tmp_path) == sizes[64]
    # a dry run reports without deleting
    dry = prune(tmp_path, max_size=0, dry_run=True)
    assert [e.dim for e in dry.removed] == [64] and cache_size(tmp_path) == sizes[64]


def test_use_not_write_decides_recency(tmp_path: Path) -> None:
    first = encode(tmp_path, 64)
    second = encode(tmp_path, 128)
    age(first.directory, 3600)
    age(second.directory, 1800)
    encode(tmp_path, 64)  # all cache hits: nothing written, but the entry is used now
    report = prune(tmp_path, max_size=disk_bytes(first.directory))
    assert [e.path for e in report.removed] == [second.directory] and first.directory.exists()


def test_limit_is_enforced_on_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = encode(tmp_path, 64)
    age(old.directory, 600)
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, str(disk_bytes(old.directory) + 4096))
    new = encode(tmp_path, 32)  # smaller than the old entry: the two together are over the limit
    assert not old.directory.exists() and new.directory.exists()
    assert cache_size(tmp_path) <= configured_max_size()  # type: ignore[operator]
    # the entry in use alone over the limit: kept, with a warning naming the variable
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, "1k")
    with pytest.warns(UserWarning, match=CACHE_MAX_SIZE_ENV):
        encode(tmp_path, 32, TEXTS + ["one more text"])
    assert new.directory.exists() and len(VectorCache(tmp_path, new.fingerprint, 32, name="hashing")) == 41


def test_growth_by_another_writer_is_noticed_by_a_read_only_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = encode(tmp_path, 64)
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, str(disk_bytes(tmp_path) + 64 * 1024))
    b = encode(tmp_path, 32)  # both fit: a full scan finds the cache within the limit
    assert a.directory.exists() and b.directory.exists()
    # another process adds a large shard to b's entry (not through encode_catalog here)
    VectorCache(tmp_path, b.fingerprint, 32, name="hashing").put([f"k{i}" for i in range(1000)], np.ones((1000, 32), np.float32))
    encode(tmp_path, 64)  # only cache hits, but the cache changed on disk: scanned again, b evicted
    assert a.directory.exists() and not b.directory.exists()


def test_configured_max_size(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_max_size() == DEFAULT_MAX_SIZE == 2 * 1024**3
    for off in ("0", "none", "OFF"):
        monkeypatch.setenv(CACHE_MAX_SIZE_ENV, off)
        assert configured_max_size() is None
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, "500M")
    assert configured_max_size() == 500 * 1024**2
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, "lots")
    with pytest.raises(InvalidInputError, match=CACHE_MAX_SIZE_ENV):
        configured_max_size()


def test_deleting_touches_only_what_coldkit_wrote(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.npy"
    precious.write_bytes(b"x" * 100)
    cache = encode(root, 64)
    entry = cache.directory
    # foreign things: a user's file in an entry, a symlink named like a shard, a folder not named
    # like an entry, an entry-named symlink to a folder outside that looks like an entry
    (entry / "notes.txt").write_text("mine")
    (entry / "shard-00000000000000000001-0123456789ab.npy").symlink_to(precious)
    (root / "exports").mkdir()
    (root / "exports" / "shard-00000000000000000001-0123456789ab.npy").write_bytes(b"y")
    (outside / "encoder.json").write_text("{}")
    (root / f"hashing-{'a' * 24}").symlink_to(outside, target_is_directory=True)
    age(entry, 30 * 86400)

    report = prune(root, older_than=0.0)
    assert [e.path for e in report.removed] == [entry]
    assert precious.read_bytes() == b"x" * 100 and (outside / "encoder.json").exists()
    assert (root / "exports" / "shard-00000000000000000001-0123456789ab.npy").exists()
    assert (root / f"hashing-{'a' * 24}").is_symlink()
    # the entry folder stays because it holds a file that is not coldkit's; coldkit's files are gone
    assert sorted(p.name for p in entry.iterdir()) == ["notes.txt", "shard-00000000000000000001-0123456789ab.npy"]
    # a process that still holds the removed entry open misses and writes again, no crash
    cache.refresh()
    found, _ = cache.get_many([text_key(TEXTS[0])])
    assert not found.any()
    cache.put([text_key(TEXTS[0])], np.ones((1, 64), np.float32))
    assert len(VectorCache(root, cache.fingerprint, 64, name="hashing")) == 1


def test_recent_temp_files_survive(tmp_path: Path) -> None:
    cache = encode(tmp_path, 64)
    busy = cache.directory / ".tmp-abc123xy"
    busy.write_bytes(b"half a shard")  # another process's write in progress
    prune(tmp_path, max_size=0)
    assert busy.exists() and not (cache.directory / "encoder.json").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500M", 500 * 1024**2), ("2G", 2 * 1024**3), ("2GB", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3)),
     ("64k", 65536), ("4096", 4096), (" 7 m ", 7 * 1024**2), ("0", 0)],
)  # fmt: skip
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@given(st.integers(0, 10**6), st.sampled_from(["", "k", "M", "g", "T"]))
def test_parse_size_units_are_binary(n: int, unit: str) -> None:
    assert parse_size(f"{n}{unit}") == n * 1024 ** ["", "k", "m", "g", "t"].index(unit.lower())


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800.0), ("12h", 43200.0), ("30m", 1800.0), ("45s", 45.0), ("2w", 1209600.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "7", "7x", "-1d", "d7", "1e3d"])
def test_bad_durations_and_sizes_are_clear_errors(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="not a duration"):
        parse_duration(bad)
    with pytest.raises(InvalidInputError, match="not a size"):
        parse_size(bad + "x")


def test_cli_list_size_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = encode(tmp_path, 64)
    fresh = encode(tmp_path, 128)
    age(old.directory, 2 * 86400)
    assert main(["cache", "--dir", str(tmp_path), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["dim"], e["items"], e["fingerprint"]) for e in listed] == [(64, 40, old.fingerprint), (128, 40, fresh.fingerprint)]
    assert main(["cache", "--dir", str(tmp_path), "list"]) == 0
    table = capsys.readouterr().out
    assert "fingerprint" in table and old.fingerprint[:16] in table and "2 entries" in table
    assert old.directory.name in table  # the name prune prints when it removes the entry
    assert main(["cache", "--dir", str(tmp_path), "size", "--bytes"]) == 0
    assert int(capsys.readouterr().out) == disk_bytes(tmp_path)

    assert main(["cache", "--dir", str(tmp_path), "prune", "--older-than", "1d", "--dry-run"]) == 0
    assert "would remove 1 entries" in capsys.readouterr().out and old.directory.exists()
    assert main(["cache", "--dir", str(tmp_path), "prune", "--older-than", "1d"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert not old.directory.exists() and fresh.directory.exists()


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "--dir", str(tmp_path), "prune"]) == 2
    assert "prune needs --older-than DURATION and/or --max-size SIZE" in capsys.readouterr().err
    assert main(["cache", "--dir", str(tmp_path), "prune", "--older-than", "7x"]) == 2
    assert "not a duration: '7x'" in capsys.readouterr().err
    assert main(["cache", "--dir", str(tmp_path), "list"]) == 0
    assert "is empty" in capsys.readouterr().out


def test_cli_dir_that_is_a_file_is_refused_not_called_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `--dir some-file list` said "the vector cache ... is empty", as if the cache had been cleared
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for action in (["list"], ["size"], ["prune", "--max-size", "0"]):
        assert main(["cache", "--dir", str(target), *action]) == 2
        assert "is not a directory; the vector cache is a directory" in capsys.readouterr().err
    assert target.read_text() == "mine"


# --------------------------------------------------------------------------------------------
# A cache that cannot be written only costs time, never the encoding
# --------------------------------------------------------------------------------------------

_FULL_DISK_SCRIPT = """
import resource, sys, warnings
import numpy as np
from coldkit.builtins.encoders import HashingEncoder
from coldkit.encoding import encode_catalog
texts = [f"text number {i} about {i % 7}" for i in range(300)]
enc = HashingEncoder(dim=1024)
reference = encode_catalog(texts, enc, cache=False)
# like `ulimit -f 100`: any file past 100 KiB fails with EFBIG (Python ignores SIGXFSZ), as a full disk does
resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, resource.RLIM_INFINITY))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    vectors = encode_catalog(texts, enc, cache_dir=sys.argv[1], chunk_size=50)
assert np.array_equal(vectors, reference), "vectors differ from the uncached ones"
messages = [str(w.message) for w in caught]
assert len(messages) == 1 and "cannot be written" in messages[0], messages
print("ok")
"""


def test_a_full_disk_while_caching_warns_and_still_returns_the_vectors(tmp_path: Path) -> None:
    """`ulimit -f` (a full disk): the first cache shard cannot be written. The encoding used to
    fail with a bare ``OSError: 51200 requested and 25568 written``, losing the vectors."""
    import subprocess
    import sys

    root = tmp_path / "cache"
    run = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(root)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
    (entry,) = [d for d in root.iterdir()]
    # nothing half-written is left behind or served: no shard data without its commit marker
    assert not list(entry.glob("shard-*")) and not list(entry.glob(".tmp-*"))
    again = encode_catalog(TEXTS, HashingEncoder(dim=16), cache_dir=root)  # a writable run still caches
    np.testing.assert_array_equal(again, encode_catalog(TEXTS, HashingEncoder(dim=16), cache=False))


def test_a_cache_folder_that_cannot_be_created_warns_and_encodes_without_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    encoder = HashingEncoder(dim=16)
    with pytest.warns(CacheWarning, match="cannot create the vector cache directory"):
        vectors = encode_catalog(TEXTS, encoder, cache_dir=blocker / "cache")
    np.testing.assert_array_equal(vectors, encode_catalog(TEXTS, encoder, cache=False))
    with pytest.raises(CacheUnavailableError, match="Not a directory"):
        VectorCache(blocker / "cache", encoder.fingerprint, encoder.dim)  # built directly: the error itself


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"fingerprint": "someone else", "dim": 16}'])
def test_a_damaged_encoder_json_warns_and_encodes_without_the_entry(tmp_path: Path, damage: bytes) -> None:
    """An entry's encoder.json cut short, not an object ('list' has no .get: an AttributeError traceback) or
    another encoder's stopped the encoding with an error; the cache only saves time."""
    encoder = HashingEncoder(dim=16)
    first = encode_catalog(TEXTS, encoder, cache_dir=tmp_path)
    (meta,) = tmp_path.glob("*/encoder.json")
    meta.write_bytes(damage)
    with pytest.warns(CacheWarning, match="unreadable encoder.json|belongs to another encoder"):
        again = encode_catalog(TEXTS, encoder, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)
    with pytest.raises(CacheUnavailableError, match="remove"):
        VectorCache(tmp_path, encoder.fingerprint, encoder.dim, name=encoder.name)


def test_compaction_that_cannot_write_the_merged_shard_keeps_the_old_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import coldkit.encoding as encoding

    encoder = HashingEncoder(dim=8)
    cache = VectorCache(tmp_path, encoder.fingerprint, encoder.dim)
    for i in range(3):
        cache.put([text_key(f"t{i}")], np.full((1, 8), i, np.float32))

    def no_space(path: object, write: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(encoding, "atomic_write", no_space)
    with pytest.warns(CacheWarning, match="No space left"):
        cache.compact()
    reopened = VectorCache(tmp_path, encoder.fingerprint, encoder.dim)
    found, vectors = reopened.get_many([text_key(f"t{i}") for i in range(3)])
    assert found.all() and vectors[:, 0].tolist() == [0.0, 1.0, 2.0]


def _block_writes(entry: Path) -> Callable[[], None]:
    """Make the cache entry folder unwritable; returns how to undo it. ``chmod 555`` as a user; root
    ignores permission bits, so there the folder is made immutable (``chattr +i``), or the test skipped."""
    import shutil
    import subprocess

    def writable() -> bool:
        probe = entry / ".probe"
        try:
            probe.write_bytes(b"")
        except OSError:
            return False
        probe.unlink()
        return True

    os.chmod(entry, 0o555)
    if not writable():
        return lambda: os.chmod(entry, 0o755)
    os.chmod(entry, 0o755)
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(entry)], capture_output=True).returncode == 0:
        if not writable():
            return lambda: subprocess.run([chattr, "-i", str(entry)], check=True)
        subprocess.run([chattr, "-i", str(entry)], check=True)
    pytest.skip("cannot make a folder unwritable here (root, and no chattr +i on this file system)")


def test_a_cache_folder_replaced_by_a_file_warns_and_the_vectors_are_returned(tmp_path: Path) -> None:
    """atomic_write's path check (InvalidInputError, not OSError) escaped put and stopped the encoding."""
    encoder = HashingEncoder(dim=8)
    cache = VectorCache(tmp_path, encoder.fingerprint, encoder.dim, name=encoder.name)
    cache.put([text_key("before")], np.full((1, 8), 1, np.float32))
    shutil.rmtree(cache.directory)
    cache.directory.write_bytes(b"not a folder")
    with pytest.warns(CacheWarning, match="cannot be written.*is not a directory") as caught:
        for i in range(3):  # one cause: one warning
            cache.put([text_key(f"after {i}")], np.full((1, 8), 2, np.float32))
    assert len([w for w in caught if w.category is CacheWarning]) == 1
    assert cache.write_failures == 3 and text_key("after 0") not in cache and text_key("before") in cache


def test_a_cache_that_failed_a_write_writes_again_once_it_can(tmp_path: Path) -> None:
    """A failed write (read-only folder, full disk) stopped the cache writing for its whole lifetime: a
    long-lived cache a caller passes in stayed read-only after the folder became writable again."""
    import warnings

    encoder = HashingEncoder(dim=8)
    cache = VectorCache(tmp_path, encoder.fingerprint, encoder.dim, name=encoder.name)
    cache.put([text_key("before")], np.full((1, 8), 1, np.float32))
    undo = _block_writes(cache.directory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):  # three failures of one cause: one warning, not three
            cache.put([text_key(f"blocked {i}")], np.full((1, 8), 2, np.float32))
    messages = [str(w.message) for w in caught if w.category is CacheWarning]
    assert len(messages) == 1 and "cannot be written" in messages[0], messages
    assert text_key("blocked 0") not in cache
    undo()
    cache.put([text_key("after")], np.full((1, 8), 3, np.float32))  # writable again: written, no warning
    assert text_key("after") in cache and cache.write_error is None
    fresh = VectorCache(tmp_path, encoder.fingerprint, encoder.dim, name=encoder.name)  # what another run reads
    found, vectors = fresh.get_many([text_key("before"), text_key("blocked 1"), text_key("after")])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(vectors, [[1] * 8, [3] * 8])
    assert messages[0] == (
        f"vector cache {str(cache.directory)!r} cannot be written (Operation not permitted"  # chattr +i, as root
        if "not permitted" in messages[0] else f"vector cache {str(cache.directory)!r} cannot be written (Permission denied"
    ) + "); encoding continues without caching these vectors, later writes are tried again (not warned again while they fail the same way)"
    assert cache.write_failures == 3
    # a later failure is a new row of failures: warned again
    undo = _block_writes(cache.directory)
    with pytest.warns(CacheWarning, match="cannot be written"):
        cache.put([text_key("blocked again")], np.full((1, 8), 4, np.float32))
    undo()


_FREED_DISK_SCRIPT = """
import resource, sys, warnings
import numpy as np
from coldkit.builtins.encoders import HashingEncoder
from coldkit.encoding import VectorCache, encode_catalog
texts = [f"text number {i} about {i % 7}" for i in range(300)]
enc = HashingEncoder(dim=1024)
cache = VectorCache(sys.argv[1], enc.fingerprint, enc.dim, name=enc.name)  # one cache for the caller's lifetime
resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, resource.RLIM_INFINITY))  # a full disk
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    encode_catalog(texts[:150], enc, cache=cache, chunk_size=50)
assert len(caught) == 1 and "cannot be written" in str(caught[0].message), [str(w.message) for w in caught]
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space freed
with warnings.catch_warnings():
    warnings.simplefilter("error")
    vectors = encode_catalog(texts[150:], enc, cache=cache, chunk_size=50)
assert len(cache) == 150 and cache.write_error is None, (len(cache), cache.write_error)
print("ok")
"""


def test_a_long_lived_cache_writes_again_after_the_disk_has_room(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _FREED_DISK_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"


# --------------------------------------------------------------------------------------------
# A damaged entry costs that entry only (a seventh review)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [b'{"fingerprint": "x", "dim": Infinity}', b"[" * 100_000 + b"]" * 100_000, b'{"fingerprint": "x", "format": 99}'],
)
def test_one_damaged_entry_does_not_break_listing_pruning_or_other_encoders(tmp_path: Path, damage: bytes, capsys) -> None:  # type: ignore[no-untyped-def]
    # "dim": Infinity raised OverflowError, deep nesting RecursionError, out of `coldkit cache` and out of another
    # encoder's encode_catalog (its size check), after the encoding: its vectors were lost
    encode(tmp_path, 8)
    (meta,) = tmp_path.glob("*/encoder.json")
    meta.write_bytes(damage)
    (damaged,) = list_entries(tmp_path)
    assert damaged.dim is None and damaged.bytes > 0
    vectors = encode_catalog(TEXTS, HashingEncoder(dim=16), cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(vectors, encode_catalog(TEXTS, HashingEncoder(dim=16), cache=False))
    assert main(["cache", "--dir", str(tmp_path), "list"]) == 0
    assert main(["cache", "--dir", str(tmp_path), "prune", "--max-size", "0"]) == 0
    assert list_entries(tmp_path) == [] and not meta.exists()


def test_a_newer_cache_format_is_not_read_as_this_one(tmp_path: Path) -> None:
    encoder = HashingEncoder(dim=16)
    encode_catalog(TEXTS, encoder, cache_dir=tmp_path)
    (meta,) = tmp_path.glob("*/encoder.json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": 99}))
    with pytest.raises(CacheUnavailableError, match="format 99, newer than this coldkit reads"):
        VectorCache(tmp_path, encoder.fingerprint, encoder.dim, name=encoder.name)


@pytest.mark.parametrize("damage", ["empty npy", "keys null", "json array", "old nan"])
def test_a_damaged_shard_is_skipped_and_its_items_encoded_again(tmp_path: Path, damage: str) -> None:
    # a 0-byte .npy raised EOFError, a shard .json holding an array AttributeError, both out of encode_catalog;
    # a shard from before the checksum holding NaN was served as a NaN row
    encoder = HashingEncoder(dim=16)
    reference = encode_catalog(TEXTS, encoder, cache=False)
    encode_catalog(TEXTS, encoder, cache_dir=tmp_path, chunk_size=16)
    shard = sorted(tmp_path.glob("*/shard-*.json"))[0]
    data = shard.with_suffix(".npy")
    if damage == "empty npy":
        data.write_bytes(b"")
    elif damage == "keys null":
        shard.write_text(json.dumps({**json.loads(shard.read_text()), "keys": None}))
    elif damage == "json array":
        shard.write_text("[1]")
    else:
        meta = json.loads(shard.read_text())
        del meta["crc32"]
        shard.write_text(json.dumps(meta))
        rows = np.load(data)
        rows[0, 0] = np.nan
        np.save(data, rows)
    assert list_entries(tmp_path)  # counting items skips the shard
    with pytest.warns(CacheWarning, match="ignoring"):
        again = encode_catalog(TEXTS, encoder, cache_dir=tmp_path, chunk_size=16)
    np.testing.assert_array_equal(again, reference)


def test_two_compactions_at_once_finish_quietly(tmp_path: Path) -> None:
    # a compaction that found its old shards already merged by another process ended in KeyError: 'shard-...'
    writer = VectorCache(tmp_path, "fp", 4, name="t")
    for i in range(3):
        writer.put([f"k{i}"], np.full((1, 4), i, np.float32))
    first, second = VectorCache(tmp_path, "fp", 4, name="t"), VectorCache(tmp_path, "fp", 4, name="t")
    lookup = first.get_many
    first.get_many = lambda keys: (second.compact(), lookup(keys))[1]  # type: ignore[method-assign]
    first.compact()
    found, vectors = VectorCache(tmp_path, "fp", 4, name="t").get_many(["k0", "k1", "k2"])
    assert found.all() and vectors[:, 0].tolist() == [0.0, 1.0, 2.0]


def test_a_writer_whose_entry_was_evicted_keeps_it_listed(tmp_path: Path) -> None:
    # the folder was re-created without encoder.json: its shards were never listed, measured or pruned
    cache = VectorCache(tmp_path, "fp", 4, name="t")
    cache.put(["k1"], np.ones((1, 4), np.float32))
    prune(tmp_path, max_size=0)
    assert list_entries(tmp_path) == []
    cache.put(["k2"], np.ones((1, 4), np.float32))
    (entry,) = list_entries(tmp_path)
    assert entry.items == 1 and entry.bytes == disk_bytes(tmp_path) and cache_size(tmp_path) == entry.bytes


def test_prune_that_cannot_delete_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # a read-only cache printed "removed ..." and exited 0 with every file still there
    encode(tmp_path, 8)
    before = disk_bytes(tmp_path)

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", read_only)
    report = prune(tmp_path, max_size=0)
    assert report.removed == [] and report.freed_bytes == 0 and len(report.failed) == 1
    assert "Read-only file system" in report.failed[0][1]
    assert main(["cache", "--dir", str(tmp_path), "prune", "--max-size", "0"]) == 1
    captured = capsys.readouterr()
    assert "could not remove" in captured.err and "removed 0 entries" in captured.out
    assert disk_bytes(tmp_path) == before


def test_a_bad_size_limit_fails_before_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "2 gigs" was refused only after every item was encoded and cached: the vectors were lost
    monkeypatch.setenv(CACHE_MAX_SIZE_ENV, "2 gigs")
    calls: list[int] = []
    encoder = HashingEncoder(dim=16)
    original = encoder.encode_texts
    monkeypatch.setattr(encoder, "encode_texts", lambda texts: (calls.append(len(texts)), original(texts))[1])
    with pytest.raises(InvalidInputError, match=CACHE_MAX_SIZE_ENV):
        encode_catalog(TEXTS, encoder, cache_dir=tmp_path)
    assert calls == [] and not list(tmp_path.iterdir())
    encode_catalog(TEXTS, encoder, cache=False)  # without the cache the limit is not read


def test_swapped_arguments_and_a_path_under_a_file_are_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=r"encode_catalog\(items, encoder\): the second argument must be an encoder"):
        encode_catalog(HashingEncoder(dim=8), TEXTS)  # type: ignore[arg-type]
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    assert main(["cache", "--dir", str(blocker / "sub"), "list"]) == 2
    assert "is not a directory" in capsys.readouterr().err
