"""coldkit.distributed on a local Ray: encoding equals the single-process path, exact sharded top-k,
faults retried with every item exactly once, clear errors.

One local Ray (2 CPUs, 200 MB object store) serves the whole module; Ray's start costs ~10 s,
so the tests are few and each checks a lot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import coldkit  # noqa: E402
from coldkit import distributed  # noqa: E402
from coldkit.builtins.encoders import HashingEncoder  # noqa: E402
from coldkit.data.datasets import load_dataset  # noqa: E402
from coldkit.encoding import encode_catalog  # noqa: E402
from coldkit.exceptions import ColdkitError, InvalidInputError, UnknownComponentError  # noqa: E402

# Ray ships this module's plugin classes to its workers by value: the workers cannot import
# the test module by name.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

@pytest.fixture(scope="module")
def ray_session():
    """A local Ray for this module (or the one already running, which we then leave alone)."""
    if ray.is_initialized():
        yield
        return
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        log_to_driver=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def movies():
    """The embedded MovieLens latest-small catalogue (9,742 movies: title, genres, tags)."""
    return load_dataset("ml-latest-small").catalog


@pytest.fixture(scope="module")
def encoded(ray_session, movies, tmp_path_factory):
    """One distributed encoding of the movies with a driver-fitted hashing encoder."""
    table = movies.table
    fitted = HashingEncoder(dim=96).fit((table["title"].astype(str) + " " + table["genres"].astype(str)).tolist())
    out = tmp_path_factory.mktemp("vectors")
    manifest = distributed.encode_catalog_distributed(
        movies,
        "hashing",
        {"dim": 96},
        encoder_state={"idf": fitted.idf},
        expected_fingerprint=fitted.fingerprint,
        out_dir=out,
        num_actors=2,
        batch_size=1500,
    )
    return fitted, out, manifest


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def test_distributed_encoding_equals_single_process(encoded, movies):
    fitted, out, manifest = encoded
    reference = encode_catalog(movies, fitted, cache=False)  # the single-process path
    ids, vectors = distributed.load_vectors(out)

    assert ids == [str(i) for i in movies.item_ids]
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    np.testing.assert_array_equal(vectors, reference)  # bit-identical, row for row
    assert manifest.fingerprint == fitted.fingerprint
    assert manifest.dim == 96 and manifest.count == len(movies)
    assert len(manifest.shards) == -(-len(movies) // 1500)  # one shard per batch, none duplicated
    # The manifest on disk is the one returned, and every shard is a plain Parquet file.
    on_disk = distributed.read_manifest(out)
    assert on_disk.ids == manifest.ids and on_disk.shards == manifest.shards
    rows, shard_ids, shard_vectors = distributed.read_shard(on_disk.shard_paths()[0])
    np.testing.assert_array_equal(shard_vectors, reference[rows])
    assert shard_ids == [ids[r] for r in rows]


def test_unfitted_actors_are_caught_by_the_fingerprint(encoded, tmp_path):
    """Without the driver's IDF the actors would encode differently: refused, nothing committed."""
    fitted, _, _ = encoded
    with pytest.raises(ColdkitError, match="fingerprint"):
        distributed.encode_catalog_distributed(
            ["a basketball game", "a violin concerto", "basketball music"],
            "hashing",
            {"dim": 96},
            expected_fingerprint=fitted.fingerprint,
            out_dir=tmp_path,
            num_actors=1,
        )
    assert not (tmp_path / "manifest.json").exists()
    assert not list(tmp_path.glob("run-*"))


class FlakyPlugin:
    """A hashing encoder that counts its builds and kills its process on its second batch, once."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir

    @coldkit.hookimpl
    def coldkit_encoders(self):
        workdir = self.workdir

        def build(**options):
            Path(workdir, "builds", f"{os.getpid()}-{uuid.uuid4().hex}").touch()
            return FlakyEncoder(workdir, **options)

        return [coldkit.EncoderSpec("flaky-hashing", "hashing that crashes once", build, {"text"})]


class FlakyEncoder(HashingEncoder):
    def __init__(self, workdir: str, **options) -> None:
        super().__init__(**options)
        self.workdir = workdir
        self.calls = 0

    def encode_texts(self, texts):
        self.calls += 1
        Path(self.workdir, "batches", uuid.uuid4().hex).touch()
        if self.calls == 2:
            try:  # O_EXCL: exactly one process in the whole run gets to crash
                os.close(os.open(Path(self.workdir, "crashed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)  # the worker dies mid-batch, with no Python clean-up
        return super().encode_texts(texts)


def test_worker_dying_mid_batch_is_retried_and_every_item_arrives_once(ray_session, tmp_path):
    workdir = tmp_path / "flaky"
    (workdir / "builds").mkdir(parents=True)
    (workdir / "batches").mkdir()
    texts = [f"item {i} about {['jazz', 'basketball', 'space opera'][i % 3]} number {i % 7}" for i in range(600)]
    texts[5] = ""  # an empty text stays a zero row through the distributed path as well
    out = tmp_path / "out"

    manifest = distributed.encode_catalog_distributed(
        texts,
        "flaky-hashing",
        {"dim": 48},
        plugins={"flaky": FlakyPlugin(str(workdir))},
        out_dir=out,
        num_actors=2,
        batch_size=50,
        chunk_size=50,
        max_restarts=2,
        max_task_retries=2,
    )

    assert (workdir / "crashed").exists(), "the fault was never injected"
    ids, vectors = distributed.load_vectors(out)
    assert ids == [str(i) for i in range(600)]  # complete and unique, in item order
    np.testing.assert_array_equal(vectors, encode_catalog(texts, HashingEncoder(dim=48), cache=False))
    assert not vectors[5].any()
    # The failed batch ran twice, yet the output holds it once; nothing else is left in the run.
    batches = len(list((workdir / "batches").iterdir()))
    print("encode calls", batches, "shards", len(manifest.shards), [s.count for s in manifest.shards])
    assert batches > len(manifest.shards)  # at least the crashed batch ran twice
    assert sum(s.count for s in manifest.shards) == 600 and all(s.count <= 50 for s in manifest.shards)
    assert sorted(p.name for p in (out / manifest.extra["run"]).iterdir()) == sorted(
        s.file.split("/")[1] for s in manifest.shards
    )
    # One encoder build per actor process (2 actors + 1 restart), not one per batch.
    builders = [p.name.split("-")[0] for p in (workdir / "builds").iterdir()]
    assert len(builders) == len(set(builders)) == 3


@pytest.mark.slow
@pytest.mark.torch
def test_bert_distributed_matches_single_process(ray_session, tmp_path):
    pytest.importorskip("coldkit_bert")
    pytest.importorskip("torch")
    try:
        single = coldkit.get_encoder("bert", device="cpu", threads=1, precision="fp32")
    except ColdkitError as exc:  # the model files are absent on this machine
        pytest.skip(f"bert encoder unavailable: {exc}")
    texts = [
        "A space opera about rebels and an empire.",
        "A romantic comedy in Paris.",
        "Documentary on jazz musicians in New Orleans, with rare archive footage and interviews.",
        "",
        "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    ] * 4
    out = tmp_path / "bert"
    manifest = distributed.encode_catalog_distributed(
        texts, "bert", {"device": "cpu", "threads": 1, "precision": "fp32"}, out_dir=out, num_actors=1, batch_size=8, chunk_size=3
    )
    ids, vectors = distributed.load_vectors(out)
    reference = encode_catalog(texts, single, cache=False)
    assert manifest.fingerprint == single.fingerprint
    # Batches are padded differently from the single-process chunks: equal up to float rounding.
    np.testing.assert_allclose(vectors, reference, atol=2e-5)
    np.testing.assert_array_equal(
        coldkit.topk(vectors, vectors, 3)[1][:, 0], coldkit.topk(reference, reference, 3)[1][:, 0]
    )


# --------------------------------------------------------------------------------------------
# Sharded top-k
# --------------------------------------------------------------------------------------------


def _dyadic_catalogue(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Unit rows with four entries of +-0.5: every dot product is a multiple of 0.25, exact in
    float32 whatever the kernel's summation order, so rankings have many exact ties."""
    catalog = np.zeros((n, dim), dtype=np.float32)
    for row in catalog:
        row[rng.choice(dim, size=4, replace=False)] = rng.choice([-0.5, 0.5], size=4)
    return catalog


def assert_same_ranking(got, reference, atol=1e-6):
    """Equal up to float rounding: scores within ``atol``; ids may only swap between near-equal scores."""
    (scores, ids), (ref_scores, ref_ids) = got, reference
    assert ids.shape == ref_ids.shape
    np.testing.assert_allclose(scores, ref_scores, atol=atol, rtol=0)
    for r, p in zip(*np.nonzero(ids != ref_ids)):
        where = np.flatnonzero(ref_ids[r] == ids[r, p])
        if where.size:  # the same item, ranked elsewhere in the reference: only within a near-tie
            assert abs(float(ref_scores[r, where[0]]) - float(scores[r, p])) <= atol


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_sharded_topk_equals_single_process_topk_exactly(ray_session, metric):
    rng = np.random.default_rng(7)
    catalog = _dyadic_catalogue(rng, 301, 16)
    catalog[[40, 150, 299]] = catalog[7]  # exact duplicates in different shards: ties by global index
    catalog[200] = 0.0
    queries = np.vstack([catalog[[7, 200]], _dyadic_catalogue(rng, 37, 16)])
    exclude = [rng.choice(301, size=int(rng.integers(0, 20)), replace=False) for _ in range(len(queries))]
    exclude[0] = np.array([7, 299])  # the query's own duplicates, in two shards
    exclude[1] = np.setdiff1d(np.arange(301), [3, 250])  # leaves 2 items: the rest is padding
    uneven = [catalog[:5], catalog[5:160], catalog[160:]]  # k exceeds the first shard's size
    # normalized=True: the rows are unit already, so cosine scores are the exact dot products
    options = {"metric": metric, "normalized": metric == "cosine"}

    reference = coldkit.topk(queries, catalog, 12, exclude=exclude, **options)
    for shards in (distributed.shard_catalog(catalog, num_shards=4), uneven):
        scores, indices = distributed.sharded_topk(queries, shards, 12, exclude=exclude, query_batch_size=10, **options)
        np.testing.assert_array_equal(indices, reference[1])
        np.testing.assert_array_equal(scores, reference[0])
    assert indices[0, :2].tolist() == [40, 150]  # equal scores, lower global index first
    assert indices[1, 2:].tolist() == [-1] * 10 and np.isneginf(scores[1, 2:]).all()
    # k larger than the catalogue returns N results, as coldkit.topk does
    assert distributed.sharded_topk(queries[:2], uneven, 1000, **options)[1].shape == (2, 301)


def test_sharded_topk_on_float_vectors(ray_session, encoded, movies):
    rng = np.random.default_rng(3)
    catalog = rng.standard_normal((500, 24)).astype(np.float32)
    queries = rng.standard_normal((30, 24)).astype(np.float32)
    for metric in ("cosine", "pearson"):
        got = distributed.sharded_topk(queries, [catalog[:123], catalog[123:]], 15, metric=metric, query_batch_size=8)
        assert_same_ranking(got, coldkit.topk(queries, catalog, 15, metric=metric))

    # The distributed encoding's own shards, loaded by the workers from the Parquet files.
    fitted, out, _ = encoded
    _, vectors = distributed.load_vectors(out)
    shards = distributed.shards_from_manifest(out, num_shards=3)
    assert len(shards) == 3 and shards.n_items == len(movies) and shards.dim == 96
    users = fitted.encode_texts(["space adventure with robots", "romantic comedy in paris", "documentary jazz"])
    seen = [np.arange(0, 50), np.array([], dtype=np.int64), np.arange(9000, len(movies))]
    got = distributed.sharded_topk(users, shards, 25, exclude=seen, query_batch_size=2)
    assert_same_ranking(got, coldkit.topk(users, vectors, 25, exclude=seen))
    assert not np.isin(got[1][0], seen[0]).any() and not np.isin(got[1][2], seen[2]).any()


def test_merge_topk_orders_by_score_then_global_index():
    parts = [
        (np.array([[0.9, 0.5, -np.inf]], np.float32), np.array([[8, 3, -1]])),
        (np.array([[0.9, 0.7]], np.float32), np.array([[2, 5]])),
    ]
    scores, rows = distributed.merge_topk(parts, 4)
    assert rows.tolist() == [[2, 8, 5, 3]]
    np.testing.assert_allclose(scores, [[0.9, 0.9, 0.7, 0.5]])


# --------------------------------------------------------------------------------------------
# Connection and errors
# --------------------------------------------------------------------------------------------


def test_init_reuses_a_running_ray_and_connects_to_an_address(ray_session, tmp_path):
    connection = distributed.init()
    assert connection.started_here is False  # no second Ray in this process
    assert connection.resources["CPU"] == 2.0
    # Another process finds this Ray through RAY_ADDRESS, unchanged code, and ranks on it.
    script = (
        "import numpy as np\n"
        "from coldkit import distributed\n"
        "c = distributed.init()\n"
        "cat = np.eye(3, dtype=np.float32)\n"
        "s, i = distributed.sharded_topk(cat[[2]], [cat[:1], cat[1:]], k=2)\n"
        "print(c.started_here, c.address, i.tolist())\n"
    )
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    started, address, indices = done.stdout.strip().splitlines()[-1].split(" ", 2)
    assert started == "True" and address == env["RAY_ADDRESS"] and indices == "[[2, 0]]"


def test_errors_are_clear(ray_session, encoded, tmp_path):
    with pytest.raises(UnknownComponentError, match="no-such-encoder"):
        distributed.encode_catalog_distributed(["a"], "no-such-encoder", out_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="empty"):
        distributed.encode_catalog_distributed([], "hashing", out_dir=tmp_path)
    with pytest.raises(InvalidInputError, match="no content"):
        distributed.encode_catalog_distributed(["a", " "], "hashing", out_dir=tmp_path, empty="error")
    with pytest.raises(InvalidInputError, match="text at position 2, counted from 0"):
        distributed.encode_catalog_distributed(["a", "b", None], "hashing", out_dir=tmp_path)

    catalog = np.eye(4, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="k must be"):
        distributed.sharded_topk(catalog[:1], [catalog], 0)
    with pytest.raises(InvalidInputError, match="disagree"):
        distributed.shard_catalog([catalog, np.ones((2, 3), np.float32)])
    with pytest.raises(InvalidInputError, match="empty"):
        distributed.shard_catalog(np.zeros((0, 4), np.float32))
    with pytest.raises(InvalidInputError, match="dim 3"):
        distributed.sharded_topk(np.ones((1, 3)), [catalog], 2)
    with pytest.raises(InvalidInputError, match="outside"):
        distributed.sharded_topk(catalog[:1], [catalog[:2], catalog[2:]], 2, exclude=[[4]])

    with pytest.raises(ColdkitError, match="no manifest.json"):
        distributed.load_vectors(tmp_path / "nowhere")
    _, out, manifest = encoded
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    first = distributed.read_manifest(broken).shard_paths()[0]
    first.unlink()
    with pytest.raises(ColdkitError, match="shard not found"):
        distributed.load_vectors(broken)
    with pytest.raises(ColdkitError, match="shard not found"):
        distributed.shards_from_manifest(broken)
    # A shard of another dim, swapped in under the same name: caught on load.
    rows, ids, vectors = distributed.read_shard(distributed.read_manifest(out).shard_paths()[0])
    from coldkit.distributed.store import write_shard

    write_shard(first, rows, ids, vectors[:, :50])
    with pytest.raises(ColdkitError, match="dim 50"):
        distributed.load_vectors(broken)
    data = json.loads((broken / "manifest.json").read_text())
    data["shards"] = data["shards"][1:]
    (broken / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ColdkitError, match="do not add up"):
        distributed.read_manifest(broken)


class BoomPlugin:
    """An encoder whose ``encode_texts`` raises: a bug in a plugin, or a bad item deep in a batch."""

    @coldkit.hookimpl
    def coldkit_encoders(self):
        return [coldkit.EncoderSpec("boom-hashing", "hashing that raises", lambda **o: BoomEncoder(**o), {"text"})]


class BoomEncoder(HashingEncoder):
    def encode_texts(self, texts):
        raise ValueError("boom: the model cannot read this text")


def test_errors_in_the_actors_and_in_the_arguments_name_the_problem(ray_session, tmp_path):
    """Errors raised in an actor came back as Ray's ActorDiedError / RayTaskError(UserCodeException)
    whose text is Ray's stack ("UDF failed to process a data block."); unpicklable options as a
    page-long TypeError about a MapTransformer; an encoder object, blocks=0 and a file as out_dir
    as misleading or bare errors. Each is now one error naming the problem, and nothing is left."""
    import threading

    texts = [f"item {i}" for i in range(20)]
    out = tmp_path / "out"
    with pytest.raises(InvalidInputError, match=r"does not take the options \['dimm'\].*on a Ray worker, building encoder 'hashing'"):
        distributed.encode_catalog_distributed(texts, "hashing", {"dimm": 8}, out_dir=out, num_actors=1)
    with pytest.raises(ColdkitError, match=r"encoder 'boom-hashing' failed on a Ray worker, encoding the batch of rows .*ValueError: boom"):
        distributed.encode_catalog_distributed(
            texts, "boom-hashing", {"dim": 8}, plugins={"boom": BoomPlugin()}, out_dir=out, num_actors=2, batch_size=5,
            max_restarts=0, max_task_retries=0,
        )
    assert not (out / "manifest.json").exists() and not list(out.glob("run-*"))
    with pytest.raises(InvalidInputError, match=r"encoder_options\['lock'\] cannot be sent to the Ray workers"):
        distributed.encode_catalog_distributed(texts, "hashing", {"dim": 8, "lock": threading.Lock()}, out_dir=out)
    with pytest.raises(InvalidInputError, match=r"encoder_state\['idf'\] cannot be sent"):
        distributed.encode_catalog_distributed(texts, "hashing", {"dim": 8}, encoder_state={"idf": threading.Lock()}, out_dir=out)
    with pytest.raises(InvalidInputError, match="encoder_name must be a registered encoder name"):
        distributed.encode_catalog_distributed(texts, HashingEncoder(dim=8), out_dir=out)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="blocks must be"):
        distributed.encode_catalog_distributed(texts, "hashing", {"dim": 8}, out_dir=out, blocks=0)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(InvalidInputError, match="out_dir .* cannot hold the vectors"):
        distributed.encode_catalog_distributed(texts, "hashing", {"dim": 8}, out_dir=a_file)
    assert not list(out.glob("run-*"))

    catalog = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with pytest.raises(UnknownComponentError, match="no-such-backend"):
        distributed.sharded_topk(catalog[:2], [catalog], 2, backend="no-such-backend")
    with pytest.raises(InvalidInputError, match="shards must be"):
        distributed.sharded_topk(catalog[:2], None, 2)  # type: ignore[arg-type]
    # the whole catalogue as one array: was read as six 1-D "shards"
    scores, rows = distributed.sharded_topk(catalog[:2], catalog, 3)
    np.testing.assert_array_equal(rows, coldkit.topk(catalog[:2], catalog, 3)[1])


def test_sharded_topk_refuses_what_it_cannot_run_and_raises_topks_own_errors(ray_session):
    catalog = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    # each task reserves `threads` CPUs: above the largest node's, Ray queued them forever (a hang)
    largest = max(int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"])
    with pytest.raises(InvalidInputError, match=rf"threads={largest + 1}: .* the largest Ray node has {largest}"):
        distributed.sharded_topk(catalog[:2], [catalog[:4], catalog[4:]], 3, threads=largest + 1)
    with pytest.raises(InvalidInputError, match="normalized must be True or False, got 'yes'"):
        distributed.sharded_topk(catalog[:2], [catalog], 3, normalized="yes")  # type: ignore[arg-type]
    # coldkit.topk's own error inside the shard tasks: raised as coldkit.topk raises it, not as a RayTaskError
    huge = np.full((4, 8), 3e19, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="overflow") as caught:
        coldkit.topk(huge[:1], huge, 2, metric="dot")
    with pytest.raises(InvalidInputError, match="overflow") as sharded:
        distributed.sharded_topk(huge[:1], [huge[:2], huge[2:]], 2, metric="dot")
    assert not isinstance(sharded.value, ray.exceptions.RayTaskError) and str(sharded.value) == str(caught.value)
    # one 1-D query: 1-D results and one exclusion list, as coldkit.topk answers it
    want = coldkit.topk(catalog[0], catalog, 3, exclude=[0, 1])
    got = distributed.sharded_topk(catalog[0], [catalog[:3], catalog[3:]], 3, exclude=[0, 1])
    assert got[1].shape == (3,)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
