"""Exact top-k over a sharded catalogue: one Ray task per shard, an exact merge on the driver.

Each shard holds some catalogue rows (ascending global row numbers) in Ray's object store.
For a chunk of queries, every shard runs :func:`coldkit.topk` on its rows as a Ray task and
returns its best ``min(k, rows)`` as (score, global row). The driver merges them by (score
descending, global row ascending), the same total order that ``coldkit.topk`` uses, so the
result equals single-process ``coldkit.topk`` on the whole catalogue: any item of the global
top-k is within the top-k of its own shard under that order, and a shard's local tie rule
(lower local index first) is the global one because its rows are ascending.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from coldkit.distributed._ray import require_ray
from coldkit.distributed.store import read_manifest, read_shard
from coldkit.exceptions import ColdkitError, InvalidInputError
from coldkit.validation import check_k

__all__ = ["CatalogShards", "merge_topk", "shard_catalog", "shards_from_manifest", "sharded_topk"]

_NO_ROW = np.iinfo(np.int64).max
Metric = Literal["cosine", "dot", "pearson"]


@dataclass(frozen=True)
class CatalogShards:
    """A catalogue split into shards held in Ray's object store.

    Attributes:
        vectors: one object reference per shard to a float32 ``(n_s, dim)`` array.
        rows: one object reference per shard to its int64 global row numbers, ascending.
        counts: ``n_s`` per shard.
        dim: vector dimension (equal for every shard).
    """

    vectors: tuple[Any, ...]
    rows: tuple[Any, ...]
    counts: tuple[int, ...]
    dim: int

    @property
    def n_items(self) -> int:
        """Total number of catalogue rows."""
        return int(sum(self.counts))

    def __len__(self) -> int:
        return len(self.vectors)


def shard_catalog(catalog: np.ndarray | Sequence[np.ndarray], num_shards: int | None = None) -> CatalogShards:
    """Put a catalogue into Ray's object store as shards.

    Args:
        catalog: a float32 ``(N, dim)`` array split into ``num_shards`` contiguous slices, or a
            sequence of arrays taken as the shards in order (global rows numbered across them).
        num_shards: number of slices of a single array (default: the cluster's CPU count).

    Raises:
        InvalidInputError: empty catalogue, not 2-D, NaN/inf, shard dims that disagree, bad ``num_shards``.
    """
    ray = require_ray()
    from coldkit.distributed._ray import init

    init()
    if isinstance(catalog, np.ndarray):
        arr = _as_matrix(catalog, "catalog")
        if num_shards is None:
            num_shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
            raise InvalidInputError(f"num_shards must be a positive int, got {num_shards!r}")
        pieces = [p for p in np.array_split(arr, min(num_shards, max(arr.shape[0], 1))) if p.shape[0]]
    else:
        pieces = [_as_matrix(p, f"shard {i}") for i, p in enumerate(catalog)]
        pieces = [p for p in pieces if p.shape[0]]
    if not pieces:
        raise InvalidInputError("the catalogue is empty: sharded top-k needs at least one item")
    dims = {p.shape[1] for p in pieces}
    if len(dims) != 1:
        raise InvalidInputError(f"catalogue shards disagree on the vector dim: {[p.shape[1] for p in pieces]}")
    vectors, rows, counts = [], [], []
    offset = 0
    for piece in pieces:
        n = piece.shape[0]
        vectors.append(ray.put(np.ascontiguousarray(piece)))
        rows.append(ray.put(np.arange(offset, offset + n, dtype=np.int64)))
        counts.append(n)
        offset += n
    return CatalogShards(tuple(vectors), tuple(rows), tuple(counts), dims.pop())


def _load_shard_group(paths: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray task: read some Parquet shards into one (rows ascending, vectors) pair."""
    all_rows, all_vectors = [], []
    for path in paths:
        rows, _, vectors = read_shard(path)
        if vectors.shape[1] != dim:
            raise ColdkitError(f"shard {path}: vectors of dim {vectors.shape[1]}, the manifest says {dim}")
        all_rows.append(rows)
        all_vectors.append(vectors)
    rows = np.concatenate(all_rows)
    order = np.argsort(rows, kind="stable")
    return rows[order], np.ascontiguousarray(np.concatenate(all_vectors)[order])


def shards_from_manifest(out_dir: str | os.PathLike[str], num_shards: int | None = None) -> CatalogShards:
    """Load a distributed encoding's shards into the object store, on the workers.

    The Parquet files are read by Ray tasks (on a cluster: from the shared filesystem), so the
    vectors never pass through the driver; only the row numbers come back, to check that every
    item is held exactly once.

    Args:
        out_dir: the directory written by ``encode_catalog_distributed``.
        num_shards: number of top-k shards the files are grouped into (default: the cluster's
            CPU count, at most the number of files).

    Raises:
        ColdkitError: missing manifest or shard file, a shard whose dim disagrees, rows missing
            or held twice.
    """
    ray = require_ray()
    from coldkit.distributed._ray import init

    init()
    manifest = read_manifest(out_dir)
    paths = [str(p) for p in manifest.shard_paths()]
    for path in paths:
        if not os.path.isfile(path):
            raise ColdkitError(f"vector shard not found: {path!r} (listed in {str(manifest.directory)!r}'s manifest)")
    if not paths:
        raise ColdkitError(f"{str(manifest.directory)!r}: the manifest lists no shards")
    if num_shards is None:
        num_shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise InvalidInputError(f"num_shards must be a positive int, got {num_shards!r}")
    groups = [g.tolist() for g in np.array_split(np.array(paths, dtype=object), min(num_shards, len(paths)))]
    load = ray.remote(num_returns=2)(_load_shard_group)
    refs = [load.remote(group, manifest.dim) for group in groups]
    rows = [r for r, _ in refs]
    vectors = [v for _, v in refs]
    row_arrays = ray.get(rows)
    seen = np.zeros(manifest.count, dtype=np.int64)
    for arr in row_arrays:
        if arr.size and (arr.min() < 0 or arr.max() >= manifest.count):
            raise ColdkitError(f"a shard holds row {int(arr.max())}, outside the catalogue of {manifest.count}")
        np.add.at(seen, arr, 1)
    if (seen != 1).any():
        raise ColdkitError(
            f"shards of {str(manifest.directory)!r}: {int((seen == 0).sum())} items missing, "
            f"{int((seen > 1).sum())} held twice"
        )
    return CatalogShards(tuple(vectors), tuple(rows), tuple(int(a.size) for a in row_arrays), manifest.dim)


def _as_matrix(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be 2-D (rows, dim), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidInputError(f"{what} must be real numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{what} contains NaN or inf")
    return arr


def _local_exclusions(rows: np.ndarray, exclude: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Global row numbers to exclude -> positions within a shard whose (ascending) rows are ``rows``."""
    out = []
    for ex in exclude:
        pos = np.searchsorted(rows, ex)
        inside = pos < rows.size
        pos, wanted = pos[inside], ex[inside]
        out.append(np.unique(pos[rows[pos] == wanted]).astype(np.int64))
    return out


def _shard_topk(
    vectors: np.ndarray,
    rows: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric,
    normalized: bool,
    exclude: Sequence[np.ndarray] | None,
    threads: int | None,
    backend: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ray task: top-k of one shard for a chunk of queries, as (scores, global rows)."""
    from coldkit.similarity import topk

    local_exclude = None if exclude is None else _local_exclusions(rows, exclude)
    chosen = {} if backend is None else {"backend": backend}  # None: coldkit.topk's own default
    scores, local = topk(
        queries,
        vectors,
        min(k, rows.size),
        metric=metric,
        normalized=normalized,
        exclude=local_exclude,
        threads=threads,
        **chosen,
    )
    global_rows = np.where(local >= 0, rows[np.clip(local, 0, None)], -1).astype(np.int64)
    return np.asarray(scores, dtype=np.float32), global_rows


def merge_topk(parts: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard top-k lists exactly: score descending, then global row ascending.

    Args:
        parts: ``(scores (B, k_s), global rows (B, k_s))`` per shard; padding is ``-inf``/``-1``.
        k: how many to keep (the caller passes ``min(k, N)``).

    Returns:
        ``(scores float32 (B, k), rows int64 (B, k))``, padding last.
    """
    scores = np.concatenate([p[0] for p in parts], axis=1)
    rows = np.concatenate([p[1] for p in parts], axis=1)
    tie_key = np.where(rows < 0, _NO_ROW, rows)  # padding sorts after every real row
    order = np.lexsort((tie_key, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1).astype(np.float32), np.take_along_axis(rows, order, 1)


def _check_exclude(exclude: Any, n_queries: int, n_items: int) -> list[np.ndarray] | None:
    if exclude is None:
        return None
    if isinstance(exclude, np.ndarray) and exclude.ndim == 2:
        exclude = list(exclude)
    exclude = list(exclude)
    if len(exclude) != n_queries:
        raise InvalidInputError(f"exclude has {len(exclude)} entries, expected one per query ({n_queries})")
    out = []
    for i, ex in enumerate(exclude):
        arr = np.asarray([] if ex is None else ex)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"exclude[{i}] must hold integer item indices, got dtype {arr.dtype}")
        arr = arr.astype(np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= n_items):
            raise InvalidInputError(f"exclude[{i}] has an index outside [0, {n_items}): {arr[(arr < 0) | (arr >= n_items)][:3].tolist()}")
        out.append(arr)
    return out


def sharded_topk(
    queries: np.ndarray,
    shards: CatalogShards | Sequence[np.ndarray],
    k: int,
    *,
    metric: Metric = "cosine",
    normalized: bool = False,
    exclude: Sequence[Any] | None = None,
    threads: int | None = 1,
    backend: str | None = None,
    query_batch_size: int = 4096,
    max_chunks_in_flight: int = 4,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of many queries over a sharded catalogue, one Ray task per shard and query chunk.

    Equals ``coldkit.topk(queries, concatenated_catalogue, k, ...)``: same indices, same order
    (score descending, ties by lower global index), same ``-1``/``-inf`` padding.

    Args:
        queries: float32 ``(B, dim)``; a 1-D vector is one query, answered as ``coldkit.topk``
            answers it (1-D results, ``exclude`` one list of indices).
        shards: a :class:`CatalogShards` (:func:`shard_catalog`, :func:`shards_from_manifest`) or
            a sequence of arrays, the catalogue's consecutive slices, or one ``(N, dim)`` array (the
            whole catalogue, split as :func:`shard_catalog` does).
        k: results per query, ``>= 1``; ``min(k, N)`` are returned.
        metric: as in :func:`coldkit.topk`.
        normalized: as in :func:`coldkit.topk`.
        backend: similarity backend name (None: ``coldkit.topk``'s default, the Rust core).
        exclude: per query, global item indices never to return (already-seen items).
        threads: threads of ``coldkit.topk`` inside each task; each task reserves that many CPUs,
            so no more than the largest Ray node has (refused, not left queued forever; a cluster
            with no CPU node yet waits for its workers). None reserves one CPU per task.
        query_batch_size: queries per chunk (each chunk is one task per shard).
        max_chunks_in_flight: chunks submitted ahead, bounding driver and object-store memory.
        progress: tqdm bar over queries (None: automatic, for more than one chunk).

    Returns:
        ``(scores float32 (B, k'), indices int64 (B, k'))``, ``k' = min(k, N)``.

    Raises:
        InvalidInputError: ``k <= 0``, empty catalogue, query/shard dims that disagree,
            NaN/inf, exclusions out of range or of the wrong length, ``shards`` of another type,
            ``threads`` above the largest node's CPUs; ``coldkit.topk``'s own errors inside a
            shard task (a dot product past float32) are raised as they are, not as Ray's.
        UnknownComponentError: ``backend`` is not a registered name (checked before any task runs).

    Example::

        shards = distributed.shard_catalog(item_vectors, num_shards=4)
        scores, items = distributed.sharded_topk(user_vectors, shards, k=20, exclude=seen)
    """
    ray = require_ray()
    from coldkit.distributed._ray import init

    k = check_k(k)
    if metric not in ("cosine", "dot", "pearson"):
        raise InvalidInputError(f"unknown metric {metric!r}; expected 'cosine', 'dot' or 'pearson'")
    for name, value in (("query_batch_size", query_batch_size), ("max_chunks_in_flight", max_chunks_in_flight)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise InvalidInputError(f"threads must be None or a positive int, got {threads!r}")
    if not isinstance(normalized, (bool, np.bool_)):  # here, not in each shard task (a RayTaskError per shard)
        raise InvalidInputError(f"normalized must be True or False, got {normalized!r}")
    q = np.asarray(queries)
    single = q.ndim == 1  # one query, answered as coldkit.topk answers it: 1-D results, exclude one list
    if single:
        q = q[None, :]
        if exclude is not None:
            exclude = [exclude]
    q = _as_matrix(q, "queries")
    if isinstance(backend, str):
        from coldkit.plugins.manager import registry

        # here, not in every shard task: an unknown name came back as Ray's RayTaskError with its stack
        registry("similarity_backend").get(backend)
    elif backend is not None:
        raise InvalidInputError(f"backend must be a registered backend name or None, got {type(backend).__name__}")
    if shards is None or isinstance(shards, (str, bytes)):
        raise InvalidInputError(
            f"shards must be a CatalogShards (shard_catalog, shards_from_manifest), a (rows, dim) array or "
            f"a list of such arrays, got {type(shards).__name__}"
        )
    init()
    if isinstance(shards, np.ndarray):
        shards = shard_catalog(shards)  # the whole catalogue: was read as a list of 1-D "shards"
    elif not isinstance(shards, CatalogShards):
        shards = shard_catalog(list(shards))
    if shards.n_items == 0 or len(shards) == 0:
        raise InvalidInputError("the catalogue is empty: sharded top-k needs at least one item")
    if q.shape[1] != shards.dim:
        raise InvalidInputError(f"queries have dim {q.shape[1]}, the catalogue shards have dim {shards.dim}")
    ex = _check_exclude(exclude, q.shape[0], shards.n_items)
    k_out = min(k, shards.n_items)
    n_queries = q.shape[0]
    if n_queries == 0:
        return np.zeros((0, k_out), dtype=np.float32), np.zeros((0, k_out), dtype=np.int64)
    if threads is not None:  # one CPU reserved by default: a cluster's head may have none, and waits for workers
        _check_fits_a_node(ray, threads)

    task = ray.remote(num_cpus=threads or 1)(_shard_topk)
    starts = list(range(0, n_queries, query_batch_size))
    scores = np.empty((n_queries, k_out), dtype=np.float32)
    indices = np.empty((n_queries, k_out), dtype=np.int64)
    from tqdm.auto import tqdm

    bar = tqdm(
        total=n_queries, desc="sharded top-k", unit="query", leave=False,
        disable=(len(starts) < 2 or None) if progress is None else not progress,
    )
    pending: list[tuple[int, int, list[Any]]] = []

    def finish(start: int, stop: int, refs: list[Any]) -> None:
        try:
            parts = ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            # coldkit.topk's own error (a dot product past float32, a bad backend option) came back as Ray's
            # RayTaskError with the worker's stack, and each other shard's failure was logged as an
            # "Unhandled error": collect every task's outcome, then raise the error coldkit.topk raises
            _settle([ref for _, _, chunk in pending for ref in chunk] + list(refs))
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ColdkitError):
                raise cause from None
            raise
        scores[start:stop], indices[start:stop] = merge_topk(parts, k_out)
        bar.update(stop - start)

    try:
        for start in starts:
            stop = min(start + query_batch_size, n_queries)
            q_ref = ray.put(q[start:stop])  # one copy in the object store, shared by every shard task
            chunk_ex = None if ex is None else ex[start:stop]
            refs = [
                task.remote(v, r, q_ref, k, metric, normalized, chunk_ex, threads, backend)
                for v, r in zip(shards.vectors, shards.rows)
            ]
            pending.append((start, stop, refs))
            if len(pending) >= max_chunks_in_flight:
                finish(*pending.pop(0))
        while pending:
            finish(*pending.pop(0))
    finally:
        bar.close()
    if single:
        return scores[0], indices[0]
    return scores, indices


def _check_fits_a_node(ray: Any, cpus: int) -> None:
    """Refuse tasks that reserve more CPUs than any live Ray node has: Ray queued them forever (a hang,
    with an autoscaler line every half minute that names no coldkit argument)."""
    largest = max((float(node.get("Resources", {}).get("CPU", 0)) for node in ray.nodes() if node.get("Alive")), default=0.0)
    if cpus > largest >= 1:
        raise InvalidInputError(
            f"threads={cpus}: each shard task reserves that many CPUs, and the largest Ray node has {largest:g}; "
            f"pass threads={int(largest)} or fewer (or None: one CPU reserved, coldkit.topk's own threads)"
        )
    # no live node with a CPU yet (an autoscaling cluster's head started with num_cpus=0): the tasks wait for
    # the workers the autoscaler adds, whose size this process cannot know


def _settle(refs: list[Any]) -> None:
    """Wait for ``refs`` and fetch each one's outcome, so that no failed task is left unread (Ray logs those)."""
    import ray

    for ref in refs:
        try:
            ray.get(ref)
        except Exception:  # noqa: BLE001 - the first failure is the one raised; the rest are read to be quiet
            pass
