"""encode_catalog and the vector cache, with a small deterministic numpy encoder (no torch needed).

The test encoder is a real (if simple) encoder: hashed character trigrams for text, a 4x4 colour
thumbnail for images. The pipeline's output is checked against calling that encoder directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pytest

from coldkit.data.interactions import Catalog
from coldkit.encoding import (
    VectorCache,
    check_texts,
    default_cache_dir,
    encode_catalog,
    load_image,
    normalize_rows,
    text_key,
)
from coldkit.exceptions import ColdkitError, ComponentContractError, InvalidInputError

DIM = 64


class TrigramEncoder:
    """Hashed character trigrams (text) and a 4x4 RGB thumbnail (images), counting its calls."""

    name = "trigram-test"
    dim = DIM

    def __init__(self, modalities: Sequence[str] = ("text",), fail_after_calls: int | None = None) -> None:
        self.modalities = frozenset(modalities)
        self.fingerprint = f"trigram-test/v1/dim={DIM}"
        self.calls: list[list[str]] = []
        self.image_calls = 0
        self.fail_after_calls = fail_after_calls

    def _text_vector(self, text: str) -> np.ndarray:
        vec = np.zeros(DIM, dtype=np.float64)
        padded = f"  {text.lower()} "
        for i in range(len(padded) - 2):
            h = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest(), "little")
            vec[h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
        return vec

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after_calls is not None and len(self.calls) >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated interruption")
        texts, empty = check_texts(texts)
        self.calls.append(list(texts))
        out = np.stack([self._text_vector(t) for t in texts]) if texts else np.zeros((0, DIM))
        out[empty] = 0.0
        return normalize_rows(out)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        self.image_calls += 1
        rows = []
        for i, image in enumerate(images):
            img = load_image(image, f"image {i}").resize((4, 4))
            vec = np.zeros(DIM)
            vec[:48] = np.asarray(img, dtype=np.float64).reshape(-1) / 255.0 + 0.01
            rows.append(vec)
        return normalize_rows(np.stack(rows)) if rows else np.zeros((0, DIM), dtype=np.float32)


TEXTS = [
    "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    "Jumanji (1995). Adventure|Children|Fantasy",
    "Heat (1995). Action|Crime|Thriller",
    "a basketball game",
    "a violin concerto",
    "x",
    "Grumpier Old Men (1995). Comedy|Romance",
]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "vectors"


def test_matches_direct_encoding_in_item_order(cache_dir: Path) -> None:
    enc = TrigramEncoder()
    got = encode_catalog(TEXTS, enc, cache_dir=cache_dir, chunk_size=3)
    expected = TrigramEncoder().encode_texts(TEXTS)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (len(TEXTS), DIM)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_chunks_are_length_sorted_and_sized(cache_dir: Path) -> None:
    enc = TrigramEncoder()
    encode_catalog(TEXTS, enc, cache_dir=cache_dir, chunk_size=3)
    assert [len(c) for c in enc.calls] == [3, 3, 1]
    lengths = [len(t) for call in enc.calls for t in call]
    assert lengths == sorted(lengths, reverse=True)


def test_unchanged_catalogue_is_not_re_encoded(cache_dir: Path) -> None:
    first = encode_catalog(TEXTS, TrigramEncoder(), cache_dir=cache_dir)
    again_enc = TrigramEncoder()
    again = encode_catalog(TEXTS, again_enc, cache_dir=cache_dir)
    assert again_enc.calls == []
    np.testing.assert_array_equal(first, again)


def test_adding_items_encodes_only_the_new_ones(cache_dir: Path) -> None:
    base = [f"movie number {i} about topic {i % 7}" for i in range(40)]
    encode_catalog(base, TrigramEncoder(), cache_dir=cache_dir)
    new = [f"a brand new film {i}" for i in range(10)]
    enc = TrigramEncoder()
    got = encode_catalog(base[:20] + new + base[20:], enc, cache_dir=cache_dir)
    assert sorted(t for call in enc.calls for t in call) == sorted(new)
    np.testing.assert_allclose(got, TrigramEncoder().encode_texts(base[:20] + new + base[20:]), atol=1e-6)


def test_duplicate_texts_are_encoded_once(cache_dir: Path) -> None:
    enc = TrigramEncoder()
    got = encode_catalog(["same", "other", "same"], enc, cache=False)
    assert sorted(t for call in enc.calls for t in call) == ["other", "same"]
    np.testing.assert_array_equal(got[0], got[2])


def test_interrupted_run_keeps_finished_chunks(cache_dir: Path) -> None:
    texts = [f"item text {i} " + "w" * i for i in range(10)]
    with pytest.raises(KeyboardInterrupt):
        encode_catalog(texts, TrigramEncoder(fail_after_calls=2), cache_dir=cache_dir, chunk_size=3)
    enc = TrigramEncoder()
    got = encode_catalog(texts, enc, cache_dir=cache_dir, chunk_size=3)
    assert sum(len(c) for c in enc.calls) == 10 - 6  # the two finished chunks came from the cache
    np.testing.assert_allclose(got, TrigramEncoder().encode_texts(texts), atol=1e-6)
    assert not list(cache_dir.rglob(".tmp-*")), "no temp files left behind"


def test_cache_disabled_writes_nothing(cache_dir: Path) -> None:
    encode_catalog(TEXTS, TrigramEncoder(), cache=False, cache_dir=cache_dir)
    assert not cache_dir.exists()


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    encode_catalog(TEXTS[:2], TrigramEncoder())
    assert list((tmp_path / "env-cache").glob("trigram-test-*/shard-*.npy"))


def test_cache_files_are_json_and_npy_only(cache_dir: Path) -> None:
    encode_catalog(TEXTS, TrigramEncoder(), cache_dir=cache_dir, chunk_size=4)
    (directory,) = cache_dir.iterdir()
    suffixes = {p.suffix for p in directory.iterdir()}
    assert suffixes == {".json", ".npy"}
    meta = json.loads((directory / "encoder.json").read_text())
    assert meta["fingerprint"] == TrigramEncoder().fingerprint and meta["dim"] == DIM
    for shard in directory.glob("shard-*.json"):
        keys = json.loads(shard.read_text())["keys"]
        vectors = np.load(shard.with_suffix(".npy"), allow_pickle=False)
        assert vectors.shape == (len(keys), DIM)


# ---------------------------------------------------------------- the cache on its own


def test_cache_sees_shards_written_by_another_instance(cache_dir: Path) -> None:
    reader = VectorCache(cache_dir, "fp", 4, name="t")
    writer = VectorCache(cache_dir, "fp", 4, name="t")
    writer.put(["a", "b"], np.eye(2, 4, dtype=np.float32))
    found, vecs = reader.get_many(["a", "b", "c"])
    assert found.tolist() == [False, False, False]  # not refreshed yet
    reader.refresh()
    found, vecs = reader.get_many(["b", "c", "a"])
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(vecs, np.eye(2, 4, dtype=np.float32)[[1, 0]])


def test_compaction_by_another_instance_does_not_break_a_reader(cache_dir: Path) -> None:
    writer = VectorCache(cache_dir, "fp", 3, name="t")
    for i in range(5):
        writer.put([f"k{i}"], np.full((1, 3), i, dtype=np.float32))
    reader = VectorCache(cache_dir, "fp", 3, name="t")  # knows the 5 small shards, not yet mapped
    writer.compact()
    assert writer.shard_count == 1 and len(list(writer.directory.glob("shard-*.npy"))) == 1
    found, vecs = reader.get_many([f"k{i}" for i in range(5)])
    assert found.all()
    np.testing.assert_array_equal(vecs[:, 0], np.arange(5, dtype=np.float32))


def test_corrupt_shard_is_ignored_with_a_warning(cache_dir: Path) -> None:
    cache = VectorCache(cache_dir, "fp", 2, name="t")
    cache.put(["good"], np.ones((1, 2), dtype=np.float32))
    cache.put(["bad"], np.ones((1, 2), dtype=np.float32))
    bad = next(p for p in cache.directory.glob("shard-*.json") if "bad" in p.read_text())
    bad.with_suffix(".npy").write_bytes(b"not a numpy file")
    fresh = VectorCache(cache_dir, "fp", 2, name="t")
    with pytest.warns(UserWarning, match="unreadable shard"):
        found, vecs = fresh.get_many(["good", "bad"])
    assert found.tolist() == [True, False]


@pytest.mark.parametrize("damage", ["unreadable", "malformed"])
def test_a_shard_whose_keys_cannot_be_read_is_warned_of_once(cache_dir: Path, damage: str) -> None:
    cache = VectorCache(cache_dir, "fp", 2, name="t")
    cache.put(["good"], np.ones((1, 2), dtype=np.float32))
    cache.put(["bad"], np.ones((1, 2), dtype=np.float32))
    bad = next(p for p in cache.directory.glob("shard-*.json") if "bad" in p.read_text())
    bad.write_text("{not json" if damage == "unreadable" else "[1, 2]")
    with pytest.warns(UserWarning, match=f"{damage} shard") as caught:
        fresh = VectorCache(cache_dir, "fp", 2, name="t")
        fresh.refresh()
        found, _ = fresh.get_many(["good", "bad"])
    assert found.tolist() == [True, False]
    assert len([w for w in caught if "shard" in str(w.message)]) == 1  # every refresh read it again and warned


@pytest.mark.parametrize("garbage", ["nan", "finite"])
def test_a_shard_whose_bytes_changed_in_place_is_ignored_not_served(cache_dir: Path, garbage: str) -> None:
    # same shape, other bytes: NaN failed later as "whitening input has NaN", finite values were served
    cache = VectorCache(cache_dir, "fp", 4, name="t")
    cache.put(["a", "b"], np.arange(8, dtype=np.float32).reshape(2, 4))
    (npy,) = cache.directory.glob("shard-*.npy")
    raw = bytearray(npy.read_bytes())
    raw[-8:] = b"\xff" * 8 if garbage == "nan" else np.array([7.5, -3.25], dtype=np.float32).tobytes()
    npy.write_bytes(bytes(raw))
    fresh = VectorCache(cache_dir, "fp", 4, name="t")
    with pytest.warns(UserWarning, match="corrupt shard .*checksum mismatch"):
        found, _ = fresh.get_many(["a", "b"])
    assert found.tolist() == [False, False]  # encoded again by the caller, not read
    intact = VectorCache(cache_dir / "other", "fp", 4, name="t")
    intact.put(["a"], np.ones((1, 4), dtype=np.float32))
    found, vecs = VectorCache(cache_dir / "other", "fp", 4, name="t").get_many(["a"])
    assert found.all() and (vecs == 1).all()  # an intact shard passes its checksum


def test_cache_refuses_a_directory_of_another_encoder(cache_dir: Path) -> None:
    cache = VectorCache(cache_dir, "fp", 2, name="t")
    (cache.directory / "encoder.json").write_text(json.dumps({"format": 1, "fingerprint": "other", "dim": 2}))
    with pytest.raises(ColdkitError, match="another encoder"):
        VectorCache(cache_dir, "fp", 2, name="t")


def test_cache_put_checks_shape(cache_dir: Path) -> None:
    cache = VectorCache(cache_dir, "fp", 2, name="t")
    with pytest.raises(InvalidInputError, match="shape"):
        cache.put(["a"], np.ones((1, 3), dtype=np.float32))


# ---------------------------------------------------------------- inputs: Catalog, DataFrame


def test_catalog_input_uses_its_text_columns(cache_dir: Path) -> None:
    table = pd.DataFrame(
        {"item_id": ["m1", "m2"], "title": ["Heat (1995)", "Toy Story"], "genres": ["Action|Crime", None]}
    )
    catalog = Catalog(item_ids=np.array(["m1", "m2"], dtype=object), table=table, text_columns=("title", "genres"))
    got = encode_catalog(catalog, TrigramEncoder(), cache=False)
    expected = TrigramEncoder().encode_texts(["Heat (1995). Action|Crime", "Toy Story"])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    only_genres = encode_catalog(catalog, TrigramEncoder(), text_fields=["genres"], cache=False)
    np.testing.assert_allclose(only_genres[0], TrigramEncoder().encode_texts(["Action|Crime"])[0], atol=1e-6)
    assert not only_genres[1].any()  # no genres: empty text, zero row


def test_dataframe_input_needs_text_fields() -> None:
    df = pd.DataFrame({"item_id": ["a"], "title": ["x"]})
    with pytest.raises(InvalidInputError, match="text_fields"):
        encode_catalog(df, TrigramEncoder(), cache=False)
    with pytest.raises(InvalidInputError, match="nope"):
        encode_catalog(df, TrigramEncoder(), text_fields=["nope"], cache=False)


# ---------------------------------------------------------------- bad input


def test_empty_and_whitespace_texts_give_zero_rows_or_a_named_error(cache_dir: Path) -> None:
    got = encode_catalog(["real text", "", "   \n"], TrigramEncoder(), cache_dir=cache_dir)
    assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-6)
    assert not got[1].any() and not got[2].any()
    df = pd.DataFrame({"item_id": ["ok", "blank"], "title": ["fine", " "]})
    with pytest.raises(InvalidInputError, match="'blank'"):
        encode_catalog(df, TrigramEncoder(), text_fields=["title"], empty="error", cache=False)


@pytest.mark.parametrize("bad", [None, 42, b"bytes"])
def test_non_string_text_names_the_item_and_writes_nothing(cache_dir: Path, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="position 1"):
        encode_catalog(["fine", bad, "also fine"], TrigramEncoder(), cache_dir=cache_dir)
    assert not list(cache_dir.rglob("shard-*"))


def test_single_string_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="single string"):
        encode_catalog("just one text", TrigramEncoder(), cache=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"combine": "sum"}, "combine"),
        ({"empty": "skip"}, "empty"),
        ({"image_weight": 2.0}, "image_weight"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"separator": None}, r"separator must be a string"),  # was AttributeError: no attribute 'join'
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        encode_catalog(TEXTS, TrigramEncoder(), cache=False, **kwargs)


def test_a_cache_flag_that_is_not_a_bool_is_refused(tmp_path: Path) -> None:
    # any truthy value turned the on-disk cache on: cache="no" wrote vectors under cache_dir
    with pytest.raises(InvalidInputError, match=r"cache must be True, False or a VectorCache, got 'no'"):
        encode_catalog(TEXTS, TrigramEncoder(), cache="no", cache_dir=tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_name_is_refused_with_the_call_to_make() -> None:
    # encode_catalog(items, "hashing") was AttributeError: 'str' object has no attribute 'dim'
    with pytest.raises(InvalidInputError, match=r"takes an encoder object, not its name: coldkit.get_encoder\('hashing'\)"):
        encode_catalog(TEXTS, "hashing", cache=False)  # type: ignore[arg-type]


def test_encoder_returning_a_wrong_shape_is_caught() -> None:
    class Broken(TrigramEncoder):
        def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((len(texts), DIM + 1), dtype=np.float32)

    with pytest.raises(ColdkitError, match="shape"):
        encode_catalog(TEXTS, Broken(), cache=False)



@pytest.mark.parametrize("dim", ["64", 0, True, 2.5, None])
def test_an_encoder_with_a_bad_dim_is_named(dim: Any) -> None:
    # a plugin encoder that kept its dim option unchecked ("x" from --option encoder_options=...)
    # was a bare ValueError from int() inside encode_catalog, or (2.5, True) silently truncated
    class BadDim(TrigramEncoder):
        pass

    enc = BadDim()
    enc.dim = dim
    with pytest.raises(ComponentContractError, match=r"encoder '.*': dim must be an integer >= 1, got"):
        encode_catalog(TEXTS, enc, cache=False)
    enc.dim = np.int64(DIM)  # a numpy integer is a fine dim
    assert encode_catalog(TEXTS, enc, cache=False).shape == (len(TEXTS), DIM)



@pytest.mark.parametrize("dtype", [object, str, np.complex64])
def test_an_encoder_returning_non_real_vectors_is_named(dtype: Any) -> None:
    # strings of numbers were cast silently, other objects a bare ValueError, complex lost half of itself
    class Odd(TrigramEncoder):
        def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
            return np.full((len(texts), DIM), "0.5" if dtype is str else 0.5).astype(dtype)

    with pytest.raises(ComponentContractError, match=r"encoder 'trigram-test': encode_texts returned \S+ values, not real numbers"):
        encode_catalog(TEXTS, Odd(), cache=False)


# ---------------------------------------------------------------- images and combination


@pytest.fixture
def image_table(tmp_path: Path) -> pd.DataFrame:
    from PIL import Image

    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 200, 30), (10, 10, 250)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (8, 6), colour).save(path)
        paths.append(str(path))
    return pd.DataFrame(
        {"item_id": ["r", "g", "b"], "title": ["red thing", "green thing", ""], "image": paths}
    )


@pytest.mark.parametrize("combine", ["concat", "mean"])
def test_text_and_image_vectors_combine_as_documented(image_table: pd.DataFrame, combine: str) -> None:
    enc = TrigramEncoder(modalities=("text", "image"))
    w = 0.3
    got = encode_catalog(
        image_table, enc, text_fields=["title"], image_field="image", combine=combine, image_weight=w, cache=False
    )
    t = TrigramEncoder().encode_texts(image_table["title"].tolist())
    i = TrigramEncoder(modalities=("image",)).encode_images(image_table["image"].tolist())
    if combine == "concat":
        expected = normalize_rows(np.concatenate([np.sqrt(1 - w) * t, np.sqrt(w) * i], axis=1))
        assert got.shape == (3, 2 * DIM)
        # cosine of combined vectors is the weighted sum of per-modality cosines (rows 0, 1 have both)
        assert got[0] @ got[1] == pytest.approx((1 - w) * (t[0] @ t[1]) + w * (i[0] @ i[1]), abs=1e-5)
    else:
        expected = normalize_rows((1 - w) * t + w * i)
        assert got.shape == (3, DIM)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got[2], normalize_rows(i[2:3])[0] if combine == "mean" else expected[2], atol=1e-6)


def test_images_are_cached_too(image_table: pd.DataFrame, tmp_path: Path) -> None:
    kwargs = dict(text_fields=["title"], image_field="image", cache_dir=tmp_path / "c")
    first = encode_catalog(image_table, TrigramEncoder(modalities=("text", "image")), **kwargs)
    enc = TrigramEncoder(modalities=("text", "image"))
    again = encode_catalog(image_table, enc, **kwargs)
    assert enc.image_calls == 0 and enc.calls == []
    np.testing.assert_array_equal(first, again)


def test_missing_image_value_means_text_only(image_table: pd.DataFrame) -> None:
    image_table.loc[1, "image"] = None
    got = encode_catalog(
        image_table, TrigramEncoder(("text", "image")), text_fields=["title"], image_field="image", cache=False
    )
    t = TrigramEncoder().encode_texts(["green thing"])[0]
    np.testing.assert_allclose(got[1], np.concatenate([t, np.zeros(DIM)]), atol=1e-6)


def test_missing_image_file_names_the_item(image_table: pd.DataFrame, tmp_path: Path) -> None:
    image_table.loc[1, "image"] = str(tmp_path / "does-not-exist.jpg")
    with pytest.raises(InvalidInputError, match=r"item 'g'.*not found"):
        encode_catalog(image_table, TrigramEncoder(("text", "image")), text_fields=["title"], image_field="image")


def test_corrupt_image_file_names_the_item(image_table: pd.DataFrame, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    image_table.loc[2, "image"] = str(bad)
    with pytest.raises(InvalidInputError, match=r"item 'b'.*cannot read image"):
        encode_catalog(
            image_table, TrigramEncoder(("text", "image")), text_fields=["title"], image_field="image", cache=False
        )


def test_image_field_needs_an_image_encoder(image_table: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="does not encode images"):
        encode_catalog(image_table, TrigramEncoder(), text_fields=["title"], image_field="image", cache=False)


def test_relative_image_paths_resolve_against_image_root(image_table: pd.DataFrame, tmp_path: Path) -> None:
    relative = image_table.assign(image=[Path(p).name for p in image_table["image"]])
    kwargs = dict(text_fields=["title"], image_field="image", cache=False)
    got = encode_catalog(relative, TrigramEncoder(("text", "image")), image_root=tmp_path, **kwargs)
    expected = encode_catalog(image_table, TrigramEncoder(("text", "image")), **kwargs)
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- import hygiene


def test_encoding_module_does_not_import_torch() -> None:
    code = "import sys, coldkit.encoding; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.split() == ["False", "False"]


def test_text_key_is_exact_content() -> None:
    assert text_key("a") != text_key("a ")
    assert text_key("é") == text_key("é")


def test_pipeline_with_the_builtin_hashing_encoder(cache_dir: Path) -> None:
    import coldkit

    encoder = coldkit.get_encoder("hashing", dim=256)
    got = encode_catalog(TEXTS + ["", "Heat (1995). Action|Crime|Thriller"], encoder, cache_dir=cache_dir)
    expected = coldkit.get_encoder("hashing", dim=256).encode_texts(TEXTS + ["", "Heat (1995). Action|Crime|Thriller"])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not got[len(TEXTS)].any()  # same empty-text rule as every encoder
    cache = VectorCache(cache_dir, encoder.fingerprint, 256, name="hashing")
    assert len(cache) == len(TEXTS)  # the duplicate "Heat" text and the empty text are not stored twice / at all


def test_progress_bar_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    encode_catalog(TEXTS, TrigramEncoder(), cache=False, progress=True)
    assert "encoding texts" in capsys.readouterr().err
    encode_catalog(TEXTS, TrigramEncoder(), cache=False)  # automatic: short runs stay quiet
    assert "encoding texts" not in capsys.readouterr().err


def test_concurrent_processes_share_one_cache(cache_dir: Path) -> None:
    """Two processes encode overlapping catalogues into one cache at once; nothing is lost or torn."""
    script = (
        "import sys, coldkit\n"
        "from coldkit.encoding import encode_catalog\n"
        "start, stop = int(sys.argv[1]), int(sys.argv[2])\n"
        "texts = [f'shared catalogue item {i} ' + 'x' * (i % 13) for i in range(start, stop)]\n"
        "encode_catalog(texts, coldkit.get_encoder('hashing', dim=64), cache_dir=sys.argv[3], chunk_size=7)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(a), str(b), str(cache_dir)], env=os.environ)
        for a, b in [(0, 120), (60, 180)]
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    import coldkit

    encoder = coldkit.get_encoder("hashing", dim=64)
    texts = [f"shared catalogue item {i} " + "x" * (i % 13) for i in range(180)]
    cache = VectorCache(cache_dir, encoder.fingerprint, 64, name="hashing")
    found, vectors = cache.get_many([text_key(t) for t in texts])
    assert found.all()
    np.testing.assert_allclose(vectors, encoder.encode_texts(texts), atol=1e-6)
    assert not list(cache_dir.rglob(".tmp-*"))
