"""The built-in hashed TF-IDF encoder: hand-computed vectors, determinism, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

import coldkit
from coldkit.builtins.encoders import HashingEncoder, tokenize


def manual_vector(text: str, dim: int, idf: np.ndarray | None = None) -> np.ndarray:
    """Independent re-derivation: count tokens, hash with crc32, sublinear tf, IDF, L2 norm."""
    vec = np.zeros(dim, dtype=np.float64)
    counts: dict[str, int] = {}
    for token in tokenize(text):
        counts[token] = counts.get(token, 0) + 1
    for token, tf in counts.items():
        h = zlib.crc32(token.encode())
        vec[h % dim] += (1 if h >> 31 else -1) * (1 + np.log(tf))
    if idf is not None:
        vec *= idf
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


def test_tokenize() -> None:
    assert tokenize("Movies, about BASKETBALL!") == ["movie", "about", "basketball"]
    assert tokenize("glass bus basis") == ["glass", "bus", "basis"]
    assert tokenize("a b c", ngrams=2, stem=False) == ["a", "b", "c", "a b", "b c"]


def test_matches_manual_computation_before_and_after_fit() -> None:
    texts = ["basketball game game", "basketball jersey", "violin concerto"]
    enc = coldkit.get_encoder("hashing", dim=64)
    np.testing.assert_allclose(enc.encode_texts(texts), [manual_vector(t, 64) for t in texts], atol=1e-6)
    enc.fit(texts)
    # "basketball" occurs in 2 of 3 documents: idf = log(4/3) + 1; unseen buckets: log(4/1) + 1.
    df = np.zeros(64)
    for t in texts:
        for b in {zlib.crc32(tok.encode()) % 64 for tok in tokenize(t)}:
            df[b] += 1
    idf = np.log(4 / (1 + df)) + 1
    np.testing.assert_allclose(enc.idf, idf, rtol=1e-6)
    np.testing.assert_allclose(enc.encode_texts(texts), [manual_vector(t, 64, idf) for t in texts], atol=1e-6)


def test_rows_are_unit_norm_and_empty_text_is_zero() -> None:
    enc = HashingEncoder(dim=128)
    vectors = enc.encode_texts(["hello world", "", "   ", "!!!"])
    assert vectors.dtype == np.float32 and vectors.shape == (4, 128) and vectors.flags.c_contiguous
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0)
    assert not vectors[1:].any()


def test_semantic_sanity_lexical() -> None:
    enc = HashingEncoder(dim=2048)
    query, near, far = enc.encode_texts(["basketball movies", "a movie about basketball", "violin concerto"])
    assert query @ near > query @ far


def test_fingerprint_tracks_options_and_fit() -> None:
    a, b = HashingEncoder(dim=64), HashingEncoder(dim=64)
    assert a.fingerprint == b.fingerprint
    assert HashingEncoder(dim=32).fingerprint != a.fingerprint
    assert HashingEncoder(dim=64, ngrams=2).fingerprint != a.fingerprint
    b.fit(["some corpus"])
    assert b.fingerprint != a.fingerprint


def test_deterministic_across_processes() -> None:
    code = "import coldkit, json; print(json.dumps(coldkit.get_encoder('hashing', dim=32).encode_texts(['x y z']).tolist()))"
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    np.testing.assert_array_equal(np.asarray(other, dtype=np.float32), HashingEncoder(dim=32).encode_texts(["x y z"]))


@pytest.mark.parametrize(
    "texts, message",
    [
        (["ok", None], "text #1 is NoneType"),
        (["ok", 3], "text #1 is int"),
        ("a single string", "single str"),
    ],
)
def test_bad_texts(texts: object, message: str) -> None:
    with pytest.raises(coldkit.InvalidInputError, match=message):
        HashingEncoder().encode_texts(texts)  # type: ignore[arg-type]


def test_fit_refuses_a_single_string_and_learns_from_texts() -> None:
    # fit("a b") learnt its IDF from the letters "a", " ", "b" (list() of a string), silently
    with pytest.raises(coldkit.InvalidInputError, match="fit expects a sequence of strings, got a single str"):
        HashingEncoder(dim=64).fit("space opera")
    with pytest.raises(coldkit.InvalidInputError, match="fit expects a sequence of strings, got NoneType"):
        HashingEncoder(dim=64).fit(None)  # type: ignore[arg-type]  # was "'NoneType' object is not iterable"
    fitted = HashingEncoder(dim=64).fit(iter(["space opera", "opera"]))  # any iterable of texts still works
    assert fitted.idf is not None
    # hand-computed: "opera" is in both documents -> log(3/3) + 1 = 1; "space" in one -> log(3/2) + 1
    bucket = lambda word: fitted._bucket(word)[0]  # noqa: E731
    assert fitted.idf[bucket("opera")] == pytest.approx(1.0)
    assert fitted.idf[bucket("space")] == pytest.approx(np.log(1.5) + 1.0)


@pytest.mark.parametrize("options", [{"dim": 1}, {"dim": 2.5}, {"ngrams": 0}])
def test_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(coldkit.InvalidInputError):
        coldkit.get_encoder("hashing", **options)


def test_satisfies_the_encoder_protocol() -> None:
    assert isinstance(HashingEncoder(), coldkit.Encoder)


@pytest.mark.parametrize("option", ["stem", "sublinear_tf"])
def test_switches_must_be_booleans(option: str) -> None:
    # bool("no") is True: stem="no" stemmed anyway ("hashing:stem=no" in an --image/--encoder spec)
    with pytest.raises(coldkit.InvalidInputError, match=f"hashing encoder {option} must be True or False, got 'no'"):
        coldkit.get_encoder("hashing", **{option: "no"})
    from coldkit.models.modalities import encoder_from_spec

    assert getattr(encoder_from_spec(f"hashing:{option}=false"), option) is False  # a spelled-out bool still works


def test_dimension_beyond_the_dense_limit_is_refused_by_name() -> None:
    """dim=10**12 was accepted and died in a 3.6 TiB MemoryError at the first text (the vectors are dense)."""
    from coldkit.builtins.encoders import MAX_HASHING_DIM
    from coldkit.exceptions import InvalidInputError

    assert HashingEncoder(dim=MAX_HASHING_DIM).encode_texts(["x"]).shape == (1, MAX_HASHING_DIM)
    for bad in (MAX_HASHING_DIM + 1, 10**12):
        with pytest.raises(InvalidInputError, match="at most 1,048,576"):
            coldkit.get_encoder("hashing", dim=bad)
