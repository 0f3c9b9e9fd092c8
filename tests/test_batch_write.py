"""``coldkit recommend``'s output is written in chunks (the whole CSV text was built in memory first, doubling
the peak at 1M users x k): the bytes must be those of the one-piece ``to_csv``, the reference here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coldkit._atomic as atomic
from coldkit.batch import write_recommendations


def _in_memory(table: pd.DataFrame) -> bytes:
    """The write as it was: the whole text in a StringIO (the reference)."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    return buffer.getvalue().encode("utf-8")


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    odd = np.array(['plain', 'with,comma', 'with "quote"', "line\nbreak", "ünïcödé ✓", " padded ", "#hash", ""], dtype=object)
    users = np.repeat(np.array([f"u{i}" for i in range(n // 20 + 1)], dtype=object), 20)[:n]
    users[::97] = odd[rng.integers(0, len(odd), len(users[::97]))]
    items = np.array([f"i{j}" for j in rng.integers(0, 40_000, n)], dtype=object)
    items[::89] = odd[rng.integers(0, len(odd), len(items[::89]))]
    scores = rng.standard_normal(n) * 10.0 ** rng.integers(-9, 9, n)  # %.6g switches to exponent notation
    scores[::1001] = 0.0
    return pd.DataFrame({"user_id": users, "item_id": items, "rank": np.tile(np.arange(1, 21), n // 20 + 1)[:n].astype(np.int64),
                         "score": scores})


@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 100_000])
def test_chunked_write_is_byte_identical_to_the_in_memory_csv(tmp_path: Path, chunk_rows: int | None) -> None:
    n = 250_003 if chunk_rows in (None, 100_000) else 1_000  # a real size: several chunks and a partial last one
    table = _table(n)
    out = tmp_path / "recs.csv"
    write_recommendations(out, table, **({} if chunk_rows is None else {"chunk_rows": chunk_rows}))
    assert out.read_bytes() == _in_memory(table)
    assert pd.read_csv(out, dtype={"user_id": str, "item_id": str}, keep_default_na=False).shape == (n, 4)


def test_an_empty_table_is_its_header_line(tmp_path: Path) -> None:
    table = pd.DataFrame(columns=["user_id", "item_id", "rank", "score"])
    write_recommendations(tmp_path / "recs.csv", table)
    assert (tmp_path / "recs.csv").read_bytes() == _in_memory(table) == b"user_id,item_id,rank,score\n"


def test_a_failure_mid_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "recs.csv"
    out.write_bytes(b"old\n")
    table = _table(50)
    calls = []
    real = pd.DataFrame.to_csv

    def fail_on_the_third_chunk(self: pd.DataFrame, *args: object, **kwargs: object) -> object:
        calls.append(len(self))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_on_the_third_chunk)
    with pytest.raises(OSError, match="No space"):
        write_recommendations(out, table, chunk_rows=10)
    assert out.read_bytes() == b"old\n" and list(tmp_path.glob(".tmp-*")) == []
    assert atomic._SignalGuard.active is None


def test_the_write_is_streamed_not_built_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write to the temp file holds one chunk's text, not the file's."""
    sizes: list[int] = []
    real = atomic.atomic_write

    def recording(path: object, write: object, **kw: object) -> None:
        def spy(handle: object) -> None:
            class Spy:
                def write(self, data: bytes) -> int:
                    sizes.append(len(data))
                    return handle.write(data)  # type: ignore[attr-defined, no-any-return]

            write(Spy())  # type: ignore[operator]

        real(path, spy, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic, "atomic_write", recording)
    table = _table(1_000)
    write_recommendations(tmp_path / "recs.csv", table, chunk_rows=100)
    assert len(sizes) == 10 and max(sizes) < len(_in_memory(table)) / 5
    assert (tmp_path / "recs.csv").read_bytes() == _in_memory(table)
