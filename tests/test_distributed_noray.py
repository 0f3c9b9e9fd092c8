"""coldkit.distributed parts that need no Ray: the shard/manifest format, its exactly-once checks,
the exact top-k merge, and the error when Ray is missing. Runs in every CI job, with or without
the ``ray`` extra."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from coldkit.distributed import load_vectors, merge_topk, read_manifest, read_shard
from coldkit.distributed.store import Manifest, ShardInfo, shard_name, write_manifest, write_shard
from coldkit.exceptions import ColdkitError


def _write_run(root, vectors, ids, pieces):
    """Shards holding the given row arrays (in any order) and the manifest listing them."""
    run = root / "run-test"
    run.mkdir(parents=True, exist_ok=True)
    shards = []
    for rows in pieces:
        rows = np.asarray(rows, dtype=np.int64)
        name = shard_name(rows)
        write_shard(run / name, rows, [ids[r] for r in rows], vectors[rows])
        shards.append(ShardInfo(f"run-test/{name}", int(rows.size)))
    write_manifest(Manifest(root, list(ids), vectors.shape[1], shards, {"name": "x", "fingerprint": "f"}))
    return shards


def test_round_trip_restores_item_order(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10, 3)).astype(np.float32)
    ids = [f"movie-{i}" for i in range(10)]
    # Scattered, unsorted rows: the reader puts every vector back at its item's position.
    _write_run(tmp_path, vectors, ids, [[7, 2, 9], [0, 1], [8, 3, 4, 6, 5]])
    got_ids, got = load_vectors(tmp_path)
    assert got_ids == ids
    np.testing.assert_array_equal(got, vectors)
    manifest = read_manifest(tmp_path)
    assert manifest.count == 10 and manifest.dim == 3 and manifest.fingerprint == "f"
    rows, shard_ids, shard_vectors = read_shard(manifest.shard_paths()[0])
    assert rows.tolist() == [7, 2, 9] and shard_ids == ["movie-7", "movie-2", "movie-9"]
    # The shard is plain Parquet with a fixed-size list column, readable without coldkit.
    import pyarrow as pa
    import pyarrow.parquet as pq

    vector_type = pq.read_schema(manifest.shard_paths()[0]).field("vector").type
    assert pa.types.is_fixed_size_list(vector_type) and vector_type.list_size == 3
    assert pa.types.is_float32(vector_type.value_type)
    # Same rows, same name: a retried batch overwrites its shard instead of adding one.
    assert shard_name(np.array([7, 2, 9])) == manifest.shards[0].file.split("/")[1]


def test_every_item_exactly_once_is_enforced(tmp_path):
    vectors = np.eye(4, dtype=np.float32)
    ids = ["a", "b", "c", "d"]
    _write_run(tmp_path / "twice", vectors, ids, [[0, 1], [1, 2]])  # row 1 twice, row 3 missing
    with pytest.raises(ColdkitError, match="already holds"):
        load_vectors(tmp_path / "twice")
    _write_run(tmp_path / "renamed", vectors, ["a", "b", "c", "zz"], [[0, 1, 2, 3]])
    manifest = read_manifest(tmp_path / "renamed")
    write_manifest(Manifest(manifest.directory, ids, 4, manifest.shards, manifest.encoder))
    with pytest.raises(ColdkitError, match="row 3 is item 'zz'"):
        load_vectors(tmp_path / "renamed")


def test_merge_breaks_ties_by_global_index_and_pads_last():
    parts = [
        (np.array([[0.5, -np.inf], [0.2, 0.1]], np.float32), np.array([[9, -1], [4, 6]])),
        (np.array([[0.5, 0.4], [0.3, 0.2]], np.float32), np.array([[1, 3], [0, 2]])),
    ]
    scores, rows = merge_topk(parts, 4)
    assert rows.tolist() == [[1, 9, 3, -1], [0, 2, 4, 6]]
    assert np.isneginf(scores[0, 3]) and scores[1].tolist() == pytest.approx([0.3, 0.2, 0.2, 0.1])


def test_driver_builds_the_same_texts_from_pandas_arrow_and_catalog():
    import pandas as pd
    import pyarrow as pa

    from coldkit.distributed.encode import catalog_texts
    from coldkit.exceptions import InvalidInputError

    frame = pd.DataFrame({"item_id": [10, 11, 12], "title": ["Up", None, "Heat"], "genres": ["Animation", "Drama", ""]})
    expected = (["10", "11", "12"], ["Up. Animation", "Drama", "Heat"])
    assert catalog_texts(frame, ["title", "genres"]) == expected
    assert catalog_texts(pa.Table.from_pandas(frame), ["title", "genres"]) == expected
    with pytest.raises(InvalidInputError, match="empty"):
        catalog_texts(frame.iloc[:0], ["title"])
    with pytest.raises(InvalidInputError, match="not in the item table"):
        catalog_texts(frame, ["plot"])


def test_missing_ray_is_explained():
    script = (
        "import sys; sys.modules['ray'] = None\n"  # as if ray were not installed
        "from coldkit import distributed\n"
        "try:\n"
        "    distributed.init()\n"
        "except distributed.RayNotInstalledError as exc:\n"
        "    print('ERR', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pip install 'coldkit[ray]'" in done.stdout
