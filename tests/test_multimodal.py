"""Multimodal content (text + images + audio): fusion, validated weights, media safety, CLI and serving.

Everything runs on files the tests make: posters drawn with Pillow (red vs blue "genres"), WAV tones
written with the stdlib ``wave`` module and encoded by a small real spectral encoder registered
through a test plugin (the coldkit-audio plugin's ``audio`` encoder is used instead when installed).
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import re
import wave
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import coldkit
from coldkit.data.datasets import Dataset, attach_images, restrict_items
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.encoding import MAX_IMAGE_PIXELS, load_image
from coldkit.exceptions import InvalidInputError
from coldkit.media import check_media_root, resolve_in_root
from coldkit.models.modalities import MultimodalEncoder, choose_weights, encoder_from_spec, fuse_blocks
from coldkit.plugins.hookspecs import hookimpl
from coldkit.plugins.manager import get_encoder, register_plugin, unregister_plugin
from coldkit.plugins.types import EncoderSpec

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

N_ITEMS, N_USERS = 60, 50
RED, BLUE = (200, 30, 30), (30, 40, 200)


# ------------------------------------------------------------------------------------------ fixtures
def _poster(path: Path, colour: tuple[int, int, int], seed: int) -> None:
    """A 48x64 'poster': a flat colour with noise and a pale band, so no two are identical."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 18, (64, 48, 3)), 0, 255)
    pixels[20:26, :, :] = 230
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(path)


def _tone(path: Path, frequency: float, seconds: float = 0.25, rate: int = 8000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.6 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def _taste_interactions(table: pd.DataFrame, seed: int = 0) -> Interactions:
    """Users each like one group (even items = group 0, odd = group 1); the last 10 items are cold."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for u in range(N_USERS):
        group = u % 2
        liked = [j for j in range(N_ITEMS - 10) if j % 2 == group]
        matrix[u, rng.choice(liked, size=12, replace=False)] = 1.0
    catalog = Catalog(np.array([f"i{j}" for j in range(N_ITEMS)]), table, ("title",))
    return Interactions(np.array([f"u{u}" for u in range(N_USERS)]), catalog, sparse.csr_matrix(matrix))


@pytest.fixture()
def poster_data(tmp_path: Path) -> tuple[Interactions, Path]:
    """Posters coloured by group (red = even items, blue = odd); titles carry no group signal."""
    media = tmp_path / "media"
    media.mkdir()
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    rng = np.random.default_rng(1)
    titles, images = [], []
    for j in range(N_ITEMS):
        titles.append(" ".join(rng.choice(words, size=3)) + f" {j}")
        if j % 7 == 3:
            images.append(None)  # some items have no poster: normal
            continue
        _poster(media / f"i{j}.png", RED if j % 2 == 0 else BLUE, seed=j)
        images.append(f"i{j}.png")
    table = pd.DataFrame({"title": titles, "poster": images})
    return _taste_interactions(table), media


# ------------------------------------------------------------------------------------------ a real audio encoder for tests
class SpectralAudioEncoder:
    """Log band energies of a WAV file's spectrum (numpy FFT), L2-normalised: a small real audio encoder."""

    name = "test-spectral"
    modalities = frozenset({"audio"})
    dim = 16
    fingerprint = "test-spectral:v1"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise InvalidInputError("test-spectral encodes audio only")

    def encode_audio(self, paths: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        for i, path in enumerate(paths):
            try:
                with wave.open(str(path), "rb") as src:
                    frames = src.readframes(src.getnframes())
                    rate = src.getframerate()
            except (wave.Error, EOFError, OSError) as exc:
                raise InvalidInputError(f"audio {i}: cannot decode {os.path.basename(str(path))!r}: {exc}") from exc
            signal = np.frombuffer(frames, dtype="<i2").astype(np.float64)
            spectrum = np.abs(np.fft.rfft(signal))
            freqs = np.fft.rfftfreq(signal.size, 1 / rate)
            edges = np.geomspace(50, rate / 2, self.dim + 1)
            bands = np.array([spectrum[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
            out[i] = np.log1p(bands)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


class _AudioPlugin:
    @hookimpl
    def coldkit_encoders(self) -> list[EncoderSpec]:
        return [EncoderSpec(name="test-spectral", description="test spectral audio", factory=SpectralAudioEncoder,
                            capabilities={"audio"})]


@pytest.fixture()
def audio_encoder_name() -> Any:
    name = register_plugin(_AudioPlugin(), name="test-audio-plugin")
    yield "test-spectral"
    unregister_plugin(name)


# ------------------------------------------------------------------------------------------ image decoding safety
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # 81 Mpx in a few KB
    assert bomb.stat().st_size < 100_000 and 9000 * 9000 > MAX_IMAGE_PIXELS
    with pytest.raises(InvalidInputError, match=r"poster 7: .*81,000,000 pixels.*decompression bomb"):
        load_image(bomb, "poster 7")


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(path)
    assert load_image(path).size == (20, 20)
    with pytest.raises(InvalidInputError, match="400 pixels, above the limit of 100"):
        load_image(path, max_pixels=100)


@pytest.mark.parametrize("mode", ["F"])
def test_non_picture_modes_are_refused_by_name(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "depth.tif"
    Image.new(mode, (8, 8)).save(path)
    with pytest.raises(InvalidInputError, match=f"mode '{re_escape(mode)}'.*not a colour or greyscale picture"):
        load_image(path, "item 'x'")


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "1"])
def test_picture_modes_are_converted_to_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    Image.new(mode, (6, 5)).save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (6, 5)


def test_truncated_and_fake_images_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), RED).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    for path in (truncated, fake):
        with pytest.raises(InvalidInputError, match=path.name):
            load_image(path, "item 'a'")


# ------------------------------------------------------------------------------------------ media root
def test_resolve_in_root_confines_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    real = check_media_root(root)
    assert resolve_in_root("sub/a.jpg", real) == str(root / "sub" / "a.jpg")
    assert resolve_in_root(str(root / "sub" / "a.jpg"), real) == str(root / "sub" / "a.jpg")  # absolute inside: fine
    for bad in ("../secret.jpg", str(tmp_path / "secret.jpg"), "link.jpg", "sub/../../secret.jpg", "a\x00.jpg"):
        assert resolve_in_root(bad, real) is None, bad
    with pytest.raises(InvalidInputError, match="not a directory"):
        check_media_root(tmp_path / "secret.jpg")


# ------------------------------------------------------------------------------------------ the image-stats encoder
def test_image_stats_colour_histogram_matches_colorsys(tmp_path: Path) -> None:
    """The HSV histogram block equals one computed pixel by pixel with the stdlib's colorsys."""
    from coldkit.builtins.image_encoders import _GROUP_WEIGHTS, _HUE, _SAT, _SIDE, _VAL

    path = tmp_path / "p.png"
    _poster(path, (120, 200, 40), seed=3)
    vector = get_encoder("image-stats").encode_images([path])[0]
    rgb = np.asarray(Image.open(path).convert("RGB").resize((_SIDE, _SIDE)), dtype=np.float32) / 255.0
    counts = np.zeros(_HUE * _SAT * _VAL)
    for r, g, b in rgb.reshape(-1, 3):
        h, s, v = colorsys.rgb_to_hsv(float(r), float(g), float(b))
        hb, sb, vb = (min(int(x * n), n - 1) for x, n in ((h, _HUE), (s, _SAT), (v, _VAL)))
        counts[(hb * _SAT + sb) * _VAL + vb] += 1
    reference = np.sqrt(counts / counts.sum())
    reference *= math.sqrt(_GROUP_WEIGHTS[0]) / np.linalg.norm(reference)
    # the row is unit: the three groups' weights sum to 1, so the histogram block is not rescaled
    np.testing.assert_allclose(vector[: reference.size], reference, atol=2e-3)


def test_image_stats_puts_like_colours_together(tmp_path: Path) -> None:
    paths = []
    for j, colour in enumerate([RED, RED, BLUE]):
        paths.append(tmp_path / f"{j}.png")
        _poster(paths[-1], colour, seed=j)
    vectors = get_encoder("image-stats").encode_images(paths)
    assert vectors.dtype == np.float32 and vectors.shape == (3, get_encoder("image-stats").dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1
    np.testing.assert_array_equal(vectors, get_encoder("image-stats").encode_images(paths))  # deterministic


def test_image_stats_refuses_text_and_single_paths() -> None:
    encoder = get_encoder("image-stats")
    with pytest.raises(InvalidInputError, match="images only"):
        encoder.encode_texts(["a"])
    with pytest.raises(InvalidInputError, match="wrap it in a list"):
        encoder.encode_images("poster.jpg")


# ------------------------------------------------------------------------------------------ fusion
def test_fused_cosine_is_the_weighted_mean_of_block_cosines() -> None:
    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    text, image = unit(rng.normal(size=(5, 7))), unit(rng.normal(size=(5, 4)))
    fused = fuse_blocks({"text": text, "image": image}, {"text": 3.0, "image": 1.0})
    expected = 0.75 * (text @ text.T) + 0.25 * (image @ image.T)
    np.testing.assert_allclose(fused @ fused.T, expected, atol=1e-5)
    # an item without an image is compared on its text alone (its row stays unit)
    image[2] = 0
    fused = fuse_blocks({"text": text, "image": image}, {"text": 3.0, "image": 1.0})
    np.testing.assert_allclose(np.linalg.norm(fused[2]), 1.0, atol=1e-6)
    np.testing.assert_allclose(fused[2] @ fused[0], text[2] @ text[0] * math.sqrt(0.75) * 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="not all be 0"):
        fuse_blocks({"text": text}, {"text": 0.0})


def test_validated_weights_follow_the_modality_that_carries_the_signal(poster_data) -> None:
    train, media = poster_data
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    fused = encoder.encode_training(train)
    assert fused.shape == (N_ITEMS, encoder.dim)
    # posters hold the group, titles do not: validation must weigh the image block more
    assert encoder.weights_["image"] > encoder.weights_["text"], encoder.notes_
    assert any("chosen on" in note for note in encoder.notes_)
    assert encoder.errors_ == []
    # an item without a poster keeps a unit vector made of its text block only
    text_dim = encoder.encoders["text"].dim
    no_poster = 3
    assert pd.isna(train.catalog.table["poster"].iloc[no_poster])
    np.testing.assert_allclose(np.linalg.norm(fused[no_poster]), 1.0, atol=1e-5)
    assert np.all(fused[no_poster, text_dim:] == 0)


def test_choose_weights_keeps_equal_weights_on_too_little_data() -> None:
    table = pd.DataFrame({"title": ["a", "b", "c"]})
    train = Interactions(np.array(["u"]), Catalog(np.array(["1", "2", "3"]), table, ("title",)),
                         sparse.csr_matrix(np.ones((1, 3), dtype=np.float32)))
    weights, note = choose_weights({"text": np.eye(3, dtype=np.float32), "image": np.eye(3, dtype=np.float32)}, train)
    assert weights is None and "too few" in note


def test_fixed_and_bad_weights(poster_data) -> None:
    _, media = poster_data
    encoder = MultimodalEncoder(image_column="poster", media_root=media, weights={"text": 2, "image": 1}, cache=False)
    assert encoder.weights_ == {"text": 2.0, "image": 1.0}
    for bad in ({"audio": 1.0}, {"text": -1.0}, {"text": 0.0, "image": 0.0}, "best", {"text": float("nan")}):
        with pytest.raises(InvalidInputError):
            MultimodalEncoder(image_column="poster", media_root=media, weights=bad, cache=False)  # type: ignore[arg-type]
    # True ran as weight 1.0; "x" was a bare ValueError from float(); "1" (a JSON string) was read as 1.0
    for value in (True, "x", None, "1"):
        with pytest.raises(InvalidInputError, match=f"modality weight of 'image' must be a number, got {re_escape(repr(value))}"):
            MultimodalEncoder(image_column="poster", media_root=media, weights={"text": 1.0, "image": value}, cache=False)
    # each finite, their sum not: every block was scaled to 0 and the zeros blamed on the items' text
    with pytest.raises(InvalidInputError, match="sum past the largest float; only their ratios matter"):
        MultimodalEncoder(image_column="poster", media_root=media, weights={"text": 1e308, "image": 1e308}, cache=False)


def test_weights_for_some_modalities_only_name_the_blocks_left_out(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    # {"text": 0.5} beside an image column gave the image block weight 0 without a word: the run
    # ranked on text alone while the user believed the posters counted
    from coldkit.cli import main

    train, media = poster_data
    encoder = MultimodalEncoder(image_column="poster", media_root=media, weights={"text": 0.5}, cache=False)
    fused = encoder.encode_training(train)
    assert encoder.weights_ == {"text": 0.5, "image": 0.0}
    text_dim = int(encoder.encoders["text"].dim)
    assert not np.any(fused[:, text_dim:])  # the image block is really out: the note tells the truth
    left_out = [n for n in encoder.notes_ if "no weight" in n]
    assert left_out == [
        "multimodal: the modality weights give image no weight, so that block is left out "
        "(a modality missing from the weights weighs 0; give it a weight to use it)"
    ], encoder.notes_
    # named with weight 0 on purpose: no note; all named: no note
    for weights in ({"text": 0.5, "image": 0.0}, {"text": 0.5, "image": 0.5}):
        named = MultimodalEncoder(image_column="poster", media_root=media, weights=weights, cache=False)
        named.encode_training(train)
        assert not [n for n in named.notes_ if "no weight" in n], named.notes_
    # coldkit recommend prints it with the run's notes
    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    items, ratings = _write_files(tmp_path, train)
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--text-columns", "title",
                 "--image-column", "poster", "--media-root", str(media), "--modality-weights", '{"text": 0.5}',
                 "--model", "content", "--k", "3", "--out", str(tmp_path / "recs.csv"), "--quiet"])
    assert code == 0
    assert "note: multimodal: the modality weights give image no weight, so that block is left out" in capsys.readouterr().err


def test_modality_weights_flag_takes_the_words_equal_and_auto() -> None:
    """The docs name the choices "equal" and "auto"; --modality-weights equal was refused as "not JSON"
    (it wanted '"equal"', quoted twice on a shell line)."""
    import argparse

    from coldkit.commands._media import multimodal_options

    def options(weights: str) -> Any:
        args = argparse.Namespace(image_column="poster", audio_column=None, media_root="/m", image_encoder="image-stats",
                                  audio_encoder=None, modality_weights=weights)
        return multimodal_options(args, "hashing")["weights"]

    assert options("equal") == "equal" and options(" auto ") == "auto" and options('"equal"') == "equal"
    assert options('{"text": 0.7, "image": 0.3}') == {"text": 0.7, "image": 0.3}
    with pytest.raises(InvalidInputError, match="neither equal, auto nor JSON"):
        options("equals")


def test_configuration_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs media_root"):
        MultimodalEncoder(image_column="poster")
    with pytest.raises(InvalidInputError, match="not a directory"):
        MultimodalEncoder(image_column="poster", media_root=tmp_path / "nope")
    with pytest.raises(InvalidInputError, match="does not encode image"):
        MultimodalEncoder(image_column="poster", image_encoder="hashing", media_root=tmp_path)
    with pytest.raises(InvalidInputError, match="no modality"):
        MultimodalEncoder(text_encoder=None)
    with pytest.raises(InvalidInputError, match="not KEY=VALUE"):
        encoder_from_spec("hashing:dim")
    assert encoder_from_spec("hashing:dim=64").dim == 64


def test_bad_media_files_are_listed_and_the_run_continues(poster_data) -> None:
    train, media = poster_data
    outside = media.parent / "outside.png"
    _poster(outside, RED, seed=99)
    Image.new("1", (9000, 9000)).save(media / "bomb.png")
    Image.new("F", (8, 8)).save(media / "depth.tif")  # float greyscale: a depth map, not a picture
    (media / "fake.png").write_text("not an image")
    (media / "link.png").symlink_to(outside)
    table = train.catalog.table.copy()
    table["poster"] = table["poster"].astype(object)
    bad = {0: "../outside.png", 2: "bomb.png", 4: "depth.tif", 6: "fake.png", 8: "link.png", 10: "missing.png", 12: 42}
    for row, value in bad.items():
        table.loc[row, "poster"] = value  # type: ignore[call-overload]
    catalog = Catalog(train.catalog.item_ids, table, ("title",))
    train = Interactions(train.user_ids, catalog, train.matrix)
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    fused = encoder.encode_training(train)
    by_item = {e.item: e.message for e in encoder.errors_}
    assert set(by_item) == {f"i{row}" for row in bad}, by_item
    assert "'../outside.png' is outside the media root" in by_item["i0"]
    # a link inside the root that leads out: "outside the media root" read as false of link.png
    assert "'link.png' is inside the media root" in by_item["i8"] and "symbolic link on its way leads outside it" in by_item["i8"]
    assert str(outside) not in by_item["i8"]  # the link's target is not named
    assert "decompression bomb" in by_item["i2"]
    assert "mode 'F'" in by_item["i4"]
    assert "cannot read image" in by_item["i6"]
    assert "file not found" in by_item["i10"]
    assert "expected a file path" in by_item["i12"]
    assert str(media) not in by_item["i6"]  # the root's absolute path is not echoed in decode errors
    assert any("could not be used" in n for n in encoder.notes_)
    # every item still has a unit vector (its text), and the good posters were used
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    text_dim = encoder.encoders["text"].dim
    for row in bad:
        assert np.all(fused[row, text_dim:] == 0)
    assert np.any(fused[14, text_dim:] != 0)


def _special_media(media: Path) -> dict[str, str]:
    """A folder and a FIFO named like images inside ``media``: path -> what the error must say."""
    (media / "folder.png").mkdir()
    os.mkfifo(media / "pipe.png")
    return {"folder.png": "'folder.png' is a directory, not a file", "pipe.png": "'pipe.png' is not a regular file (a FIFO)"}


def _unless_it_hangs(call: Any, fifo: Path, seconds: float = 10.0) -> Any:
    """``call()``, failing the test (not hanging it) if it blocks opening ``fifo``: a writer then frees it."""
    import threading

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with open(fifo, "wb"):  # the reader is blocked in open(): this lets it go on (to an empty read)
            pass
        thread.join(seconds)
        pytest.fail(f"the call blocked opening the FIFO {fifo.name}")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_a_folder_or_fifo_named_like_a_media_file_says_what_it_is(poster_data) -> None:
    # both were "file not found: 'folder.png'", which sends the user looking for a file that is there
    train, media = poster_data
    expected = _special_media(media)
    table = train.catalog.table.copy()
    table.loc[0, "poster"], table.loc[2, "poster"] = "folder.png", "pipe.png"
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ("title",)), train.matrix)
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    _unless_it_hangs(lambda: encoder.encode_training(train), media / "pipe.png")
    by_item = {e.item: e.message for e in encoder.errors_}
    assert by_item == {"i0": expected["folder.png"], "i2": expected["pipe.png"]}


def test_the_image_readers_name_a_folder_or_fifo_and_never_open_the_fifo(tmp_path: Path) -> None:
    from coldkit.encoding import encode_catalog, load_image

    media = tmp_path / "media"
    media.mkdir()
    expected = _special_media(media)
    for name, problem in expected.items():
        path = str(media / name)
        with pytest.raises(InvalidInputError, match=re_escape(f"image 0: image {problem.replace(repr(name), repr(path))}")):
            _unless_it_hangs(lambda: load_image(path, "image 0"), media / "pipe.png")
    # encode_catalog hashes each image file for its cache key first: it read the FIFO and waited forever
    _poster(media / "ok.png", RED, seed=1)
    table = pd.DataFrame({"poster": ["ok.png", "pipe.png"]}, index=["a", "b"])
    with pytest.raises(InvalidInputError, match=r"is not a regular file \(a FIFO\)"):
        _unless_it_hangs(lambda: encode_catalog(table, encoder_from_spec("image-stats"), image_field="poster",
                                                image_root=media, cache=False), media / "pipe.png")


def test_models_take_the_multimodal_encoder(poster_data) -> None:
    from coldkit.models.registry import build_model

    train, media = poster_data
    cold = np.arange(N_ITEMS - 10, N_ITEMS)
    options = {"image_column": "poster", "media_root": str(media), "cache": False}
    for name in ("content", "hybrid"):
        model = build_model(name, encoder="multimodal", encoder_options=options).fit(train)
        # a user of group 0 (red posters) gets mostly red cold items
        ranked = model.recommend([UserQuery(user=0)], k=4, candidates=cold)
        groups = [int(i) % 2 for i in np.asarray(ranked.indices)[0]]
        assert groups.count(0) >= 3, (name, groups)
    text_model = build_model("content", encoder="hashing").fit(train)
    ranked = text_model.recommend([UserQuery(user=0)], k=4, candidates=cold)
    assert isinstance(ranked.indices, np.ndarray)


def test_encode_texts_lands_in_the_text_block(poster_data) -> None:
    train, media = poster_data
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    encoder.encode_training(train)
    vectors = encoder.encode_texts(["alpha bravo", ""])
    text_dim = encoder.encoders["text"].dim
    np.testing.assert_allclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    assert np.all(vectors[:, text_dim:] == 0) and np.all(vectors[1] == 0)
    image_only = MultimodalEncoder(text_encoder=None, image_column="poster", media_root=media, cache=False)
    with pytest.raises(InvalidInputError, match="no text encoder"):
        image_only.encode_texts(["a"])


def test_fitted_state_round_trips(poster_data) -> None:
    train, media = poster_data
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    encoder.encode_training(train)
    options = json.loads(json.dumps(encoder.fitted_options()))
    again = get_encoder("multimodal", **options)
    assert again.fingerprint == encoder.fingerprint
    images = [str(media / "i0.png"), None]
    np.testing.assert_allclose(
        again.encode_contents(["alpha bravo 1", "golf"], images), encoder.encode_contents(["alpha bravo 1", "golf"], images), atol=1e-6
    )
    with pytest.raises(InvalidInputError, match="item 'n1' image"):
        encoder.encode_contents(["x"], [str(media.parent / "nothing.png")], labels=["n1"])
    # a saved index moved to a machine without the build's media folder still loads its encoder
    moved = get_encoder("multimodal", **{**options, "media_root": str(media.parent / "gone")})
    assert moved.fingerprint == encoder.fingerprint and moved.media_root is None


# ------------------------------------------------------------------------------------------ audio
def test_audio_column_through_a_plugin_encoder(tmp_path: Path, audio_encoder_name: str) -> None:
    media = tmp_path / "audio"
    media.mkdir()
    sounds: list[str | None] = []
    for j in range(N_ITEMS):
        if j == 5:
            sounds.append(None)
            continue
        _tone(media / f"i{j}.wav", 220.0 * (1 + 0.02 * (j % 5)) if j % 2 == 0 else 1760.0 * (1 + 0.02 * (j % 5)))
        sounds.append(f"i{j}.wav")
    (media / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    sounds[7] = "broken.wav"
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    rng = np.random.default_rng(2)  # titles that share words at random: noise the weights must see through
    table = pd.DataFrame({"title": [" ".join(rng.choice(words, size=3)) for _ in range(N_ITEMS)], "sound": sounds})
    train = _taste_interactions(table)
    encoder = MultimodalEncoder(audio_column="sound", audio_encoder=audio_encoder_name, media_root=media, cache=False)
    assert "audio" in encoder.modalities
    fused = encoder.encode_training(train)
    assert [e.item for e in encoder.errors_] == ["i7"] and "cannot decode" in encoder.errors_[0].message
    assert encoder.weights_["audio"] > encoder.weights_["text"], encoder.notes_
    low, high, other_low = fused[0], fused[1], fused[2]
    assert low @ other_low > low @ high


def test_silent_audio_files_are_counted_with_the_unusable_media(tmp_path: Path) -> None:
    # coldkit-audio's encoder gives digital silence an all-zero row (no sound to describe): the item
    # then had no audio block, like one whose file failed, but no error listed it and the note's count
    # of unusable files left it out
    pytest.importorskip("coldkit_audio")
    media = tmp_path / "audio"
    media.mkdir()
    sounds = []
    for j in range(N_ITEMS):
        _tone(media / f"i{j}.wav", 220.0 * (1 + 0.02 * (j % 5)) if j % 2 == 0 else 1760.0 * (1 + 0.02 * (j % 5)))
        sounds.append(f"i{j}.wav")
    with wave.open(str(media / "silence.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.zeros(2000, dtype="<i2").tobytes())
    sounds[3] = sounds[8] = "silence.wav"
    (media / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    sounds[11] = "broken.wav"
    table = pd.DataFrame({"title": [f"title {j}" for j in range(N_ITEMS)], "sound": sounds})
    encoder = MultimodalEncoder(audio_column="sound", audio_encoder="audio", media_root=media, weights="equal", cache=False)
    fused = encoder.encode_training(_taste_interactions(table))
    by_item = {e.item: e.message for e in encoder.errors_}
    assert set(by_item) == {"i3", "i8", "i11"}, by_item
    assert by_item["i3"] == by_item["i8"] == "'silence.wav' holds only silence: its audio vector is all zeros"
    assert "multimodal: 3 item(s) have a media file that could not be used (they keep their other modalities)" in encoder.notes_
    assert f"multimodal: {N_ITEMS - 3} of {N_ITEMS} items have audio" in encoder.notes_  # the same three
    text_dim = int(encoder.encoders["text"].dim)
    assert not np.any(fused[[3, 8, 11], text_dim:]) and np.all(np.any(fused[[0, 1, 2], text_dim:], axis=1))
    # a new item sent to a server (all or nothing) with silent audio is refused, naming the item and the file
    with pytest.raises(InvalidInputError, match=r"item 'new-1' audio: 'silence.wav' holds only silence.*without its audio"):
        encoder.encode_contents(["title x"], audio=[str(media / "silence.wav")], labels=["new-1"])
    assert encoder.encode_contents(["title x"], audio=[str(media / "i0.wav")], labels=["new-2"]).shape[0] == 1


# ------------------------------------------------------------------------------------------ data helpers
def test_poster_paths_from_a_relative_data_root_lie_inside_the_media_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/multimodal.md's ``coldkit serve idx --build --dataset ml-latest-small --data-root ../shared/data
    --image-column image --media-root ../shared/data/ml-1m-posters/MovieImages``: the poster paths the loader
    (and ``attach_images``) writes must be found inside that media root, not read relative to it (they were
    relative to the working directory, so every poster was refused as outside the root)."""
    from coldkit.data import load_dataset
    from coldkit.data.datasets import EMBEDDED_DIR

    posters = tmp_path / "data" / "ml-1m-posters" / "MovieImages"
    posters.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(posters / "1.jpg")
    (tmp_path / "data" / "ml-latest-small").symlink_to(EMBEDDED_DIR / "ml-latest-small")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    root = check_media_root("../data/ml-1m-posters/MovieImages")
    data = load_dataset("ml-latest-small", data_root="../data")
    named = data.catalog.table["image"].dropna().tolist()
    assert len(named) == 1
    assert resolve_in_root(named[0], root) == str(posters.resolve() / "1.jpg")
    attached = attach_images(data, "../data/ml-1m-posters/MovieImages").catalog.table["image"].dropna().tolist()
    assert [resolve_in_root(p, root) for p in attached] == [str(posters.resolve() / "1.jpg")]


def test_attach_images_and_restrict_items(tmp_path: Path) -> None:
    folder = tmp_path / "posters"
    folder.mkdir()
    for name in ("a.jpg", "c.png"):
        Image.new("RGB", (4, 4)).save(folder / name)
    table = pd.DataFrame({"title": ["A", "B", "C"]})
    matrix = sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    inter = Interactions(np.array(["u1", "u2", "u3"]), Catalog(np.array(["a", "b", "c"]), table, ("title",)), matrix)
    data = Dataset(name="tiny", interactions=inter, catalog=inter.catalog)
    data = attach_images(data, folder)
    shown = [None if pd.isna(v) else v for v in data.catalog.table["image"]]
    assert shown == [str(folder / "a.jpg"), None, str(folder / "c.png")]
    kept = restrict_items(data, data.catalog.table["image"].notna().to_numpy())
    assert list(kept.catalog.item_ids) == ["a", "c"]
    assert list(kept.interactions.user_ids) == ["u1", "u3"]  # u2 only liked b: dropped
    np.testing.assert_array_equal(kept.interactions.matrix.toarray(), [[1, 0], [0, 1]])
    with pytest.raises(InvalidInputError, match="not a directory"):
        attach_images(data, tmp_path / "none")
    with pytest.raises(InvalidInputError, match="shape"):
        restrict_items(data, np.ones(2, bool))
    with pytest.raises(InvalidInputError, match="no interaction"):
        restrict_items(data, np.array([False, True, False]) & False)


def test_attach_images_refuses_a_folder_where_no_file_is_named_after_an_item_id(tmp_path: Path) -> None:
    # a user's item ids 'mv00001' beside the poster folder's '1.jpg': every lookup missed, the evaluation ran
    # its "text + image" models on an empty image block, and the only sign was "0 of 3 items have a usable image file"
    folder = tmp_path / "posters"
    folder.mkdir()
    for name in ("1.jpg", "2.jpg"):
        Image.new("RGB", (4, 4)).save(folder / name)
    table = pd.DataFrame({"title": ["A", "B", "C"]})
    matrix = sparse.csr_matrix(np.eye(3, dtype=np.float32))
    ids = np.array(["mv00001", "mv00002", "mv00003"], dtype=object)
    inter = Interactions(np.array(["u1", "u2", "u3"]), Catalog(ids, table, ("title",)), matrix)
    data = Dataset(name="tiny", interactions=inter, catalog=inter.catalog)
    with pytest.raises(InvalidInputError, match=r"posters': no file in it is named after an item id: looked for "
                                                r"'mv00001\.jpg' \(or \.jpeg, \.png.*\) .*the folder holds e\.g\. '1\.jpg'"):
        attach_images(data, folder)
    (folder / "mv00002.png").write_bytes((folder / "1.jpg").read_bytes())  # one match is a folder keyed by id
    shown = [None if pd.isna(v) else v for v in attach_images(data, folder).catalog.table["image"]]
    assert shown == [None, str(folder / "mv00002.png"), None]


# ------------------------------------------------------------------------------------------ CLI and serving
def _write_files(tmp_path: Path, train: Interactions) -> tuple[Path, Path]:
    items = train.catalog.table.assign(item_id=train.catalog.item_ids)
    items.to_csv(tmp_path / "items.csv", index=False)
    rows, cols = train.matrix.nonzero()
    pd.DataFrame({"user_id": train.user_ids[rows], "item_id": train.catalog.item_ids[cols]}).to_csv(tmp_path / "interactions.csv", index=False)
    return tmp_path / "items.csv", tmp_path / "interactions.csv"


def test_cli_recommend_with_images_lists_bad_files(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    (media / "fake.png").write_text("no")
    table = train.catalog.table.copy()
    table.loc[0, "poster"] = "fake.png"
    table.loc[2, "poster"] = "../../etc/passwd"
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ("title",)), train.matrix)
    items, ratings = _write_files(tmp_path, train)
    out = tmp_path / "recs.csv"
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--text-columns", "title",
                 "--image-column", "poster", "--media-root", str(media), "--encoder", "hashing", "--model", "content",
                 "--k", "3", "--out", str(out), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "media errors (2" in err and "item 'i0' image" in err and "item 'i2' image: path '../../etc/passwd' is outside" in err
    recs = pd.read_csv(out)
    assert len(recs) == 3 * N_USERS
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--image-column", "poster",
                 "--out", str(tmp_path / "x.csv"), "--quiet"])
    assert code != 0 and "--media-root" in capsys.readouterr().err


def test_media_column_is_not_taken_as_item_text(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """Without --text-columns the default text columns left a column named "poster" in: its paths were item text."""
    from coldkit.cli import main
    from coldkit.data import load_items
    from coldkit.serving.build import build_index_from_files

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    # posters named by words, as a shop's "red-dress.png": not id-like, so the poster column looks like text
    table = train.catalog.table.copy()
    for row, name in enumerate(table["poster"]):
        if isinstance(name, str):
            worded = "poster-" + "".join(chr(ord("a") + int(d)) for d in name[1:-4]) + ".png"
            (media / name).rename(media / worded)
            table.loc[row, "poster"] = worded
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ("title",)), train.matrix)
    items, ratings = _write_files(tmp_path, train)
    assert load_items(items).text_columns == ("title", "poster")  # no media column named: it is text-like
    assert load_items(items, media_columns=["poster"]).text_columns == ("title",)
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--image-column", "poster",
                 "--media-root", str(media), "--encoder", "hashing", "--model", "content", "--k", "3",
                 "--out", str(tmp_path / "recs.csv"), "--quiet"])
    assert code == 0
    assert "text columns: title\n" in capsys.readouterr().err
    import coldkit.serving.build as build_module

    seen = []
    real_build = build_module.ServingIndex.build
    monkeypatch.setattr(build_module.ServingIndex, "build", lambda data, **kw: seen.append(data.catalog.text_columns) or real_build(data, **kw))
    options = {"text_encoder": "hashing", "image_column": "poster", "media_root": str(media), "cache": False}
    build_index_from_files(tmp_path / "idx", interactions=ratings, items=items, encoder="multimodal", encoder_options=options).close()
    assert seen == [("title",)]


def test_item_table_of_ids_and_images_alone(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """A shop's catalogue of product photos has no words: it was refused as "no text-like column".

    The posters carry each item's group (red = even, blue = odd), users like one group: the cold
    items (the last 10) must come in the user's colour first, from the images alone.
    """
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    table = train.catalog.table[["poster"]].copy()
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ()), train.matrix)
    items, ratings = _write_files(tmp_path, train)
    cold = [f"i{j}" for j in range(N_ITEMS - 10, N_ITEMS) if j % 7 != 3]  # the cold items that have a poster
    (tmp_path / "cold.txt").write_text("\n".join(cold) + "\n")
    out = tmp_path / "recs.csv"
    for model in ("content", "hybrid"):
        code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--image-column", "poster",
                     "--media-root", str(media), "--encoder", "hashing", "--model", model, "--candidates",
                     str(tmp_path / "cold.txt"), "--k", "2", "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert "described by their media alone" in err
        recs = pd.read_csv(out, dtype=str)
        group_of_user = recs["user_id"].str[1:].astype(int) % 2
        group_of_item = recs["item_id"].str[1:].astype(int) % 2
        assert (group_of_user == group_of_item).mean() >= 0.9, model
    from coldkit.serving.build import build_index_from_files

    options = {"text_encoder": "hashing", "image_column": "poster", "media_root": str(media), "cache": False}
    index = build_index_from_files(tmp_path / "idx", interactions=ratings, items=items, encoder="multimodal", encoder_options=options)
    try:  # the serving index too (it keeps each item's text for explanations: here none)
        assert index.stats()["items"] == N_ITEMS
        shown = [item.id for item in index.recommend("u0", k=3, candidates=cold).items]
        assert all(int(i[1:]) % 2 == 0 for i in shown)  # u0 likes the red (even) posters
    finally:
        index.close()
    folder = tmp_path / "shop"  # and coldkit evaluate on a folder of one's own
    folder.mkdir()
    items.rename(folder / "items.csv")
    ratings.rename(folder / "interactions.csv")
    code = main(["evaluate", "--data", str(folder), "--image-column", "poster", "--media-root", str(media), "--encoder",
                 "hashing", "--models", "content", "popularity", "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert code == 0, err
    summary = json.loads((tmp_path / "eval" / "results.json").read_text())["summary"]
    ndcg = {r["model"]: r["mean"] for r in summary if r["task"] == "cold" and r["metric"] == "ndcg@10"}
    assert ndcg["content"] > ndcg["popularity"]  # the posters rank the held-out items


def test_fit_on_frames_reads_the_encoders_media_columns_as_files(poster_data, tmp_path: Path, monkeypatch) -> None:
    """fit(df, items=table) read the table before the model: a worded poster column became item text,
    and a table of ids and posters alone was refused; the model's multimodal encoder names its columns."""
    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    rows, cols = train.matrix.nonzero()
    ratings = pd.DataFrame({"user_id": train.user_ids[rows], "item_id": train.catalog.item_ids[cols]})
    table = train.catalog.table.assign(item_id=train.catalog.item_ids)
    for row, name in enumerate(table["poster"]):
        if isinstance(name, str):  # worded file names pass the text-like tests
            worded = "poster-" + "".join(chr(ord("a") + int(d)) for d in name[1:-4]) + ".png"
            (media / name).rename(media / worded)
            table.loc[row, "poster"] = worded
    options = {"text_encoder": "hashing", "image_column": "poster", "media_root": str(media), "cache": False}
    by_name = coldkit.models.create("content", encoder="multimodal", encoder_options=options).fit(ratings, items=table)
    assert by_name.train_.catalog.text_columns == ("title",)
    instance = get_encoder("multimodal", **options)
    photos_only = coldkit.models.create("content", encoder=instance).fit(ratings, items=table[["item_id", "poster"]])
    assert photos_only.train_.catalog.text_columns == ()
    recs = photos_only.recommend(users=list(train.user_ids), k=2, items=[f"i{j}" for j in range(N_ITEMS - 10, N_ITEMS) if j % 7 != 3])
    same_group = recs["user_id"].str[1:].astype(int) % 2 == recs["item_id"].str[1:].astype(int) % 2
    assert same_group.mean() >= 0.9
    with pytest.raises(InvalidInputError, match="no text-like column"):  # without media, ids alone stay refused
        coldkit.models.create("content", encoder="hashing").fit(ratings, items=table[["item_id"]].assign(n=1))


def test_a_media_column_whose_files_all_fail_is_an_error(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """--image-column title ran on, every "file" failing and the images weighted 0: a wrong column or root is an error."""
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    items, ratings = _write_files(tmp_path, train)
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--text-columns", "title",
                 "--image-column", "title", "--media-root", str(media), "--encoder", "hashing", "--model", "content",
                 "--out", str(tmp_path / "recs.csv"), "--quiet"])
    err = capsys.readouterr().err
    # names an item (coldkit recommend ranks the catalogue in the order of its ids' hash, not the file's)
    assert code != 0 and "none of the" in err and "column 'title'" in err and re.search(r"item 'i\d+'", err), err
    assert not (tmp_path / "recs.csv").exists()
    code = main(["recommend", "--interactions", str(ratings), "--items", str(items), "--text-columns", "title",
                 "--image-column", "poster", "--media-root", str(tmp_path), "--encoder", "hashing", "--model", "content",
                 "--out", str(tmp_path / "recs.csv"), "--quiet"])  # the right column, the wrong root
    err = capsys.readouterr().err
    assert code != 0 and "none of the" in err and "media_root" in err


def test_cli_evaluate_three_ways_on_items_with_images(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    folder = tmp_path / "data"
    folder.mkdir()
    items, ratings = _write_files(folder, train)
    images = tmp_path / "by-id"
    images.mkdir()
    for path in media.glob("i*.png"):
        (images / path.name).write_bytes(path.read_bytes())  # keyed by item id: i<j>.png
    recalls = {}
    for modalities in ("text", "image", "text,image"):
        out = tmp_path / f"out-{modalities}"
        code = main(["evaluate", "--data", str(folder), "--text-columns", "title", "--images", str(images),
                     "--only-with-media", "--modalities", modalities, "--models", "content", "--encoder", "hashing",
                     "--k", "2", "--no-chart", "--out", str(out), "--quiet"])
        assert code == 0
        result = json.loads((out / "results.json").read_text())
        assert result["settings"]["modalities"] == modalities.split(",")
        recalls[modalities] = next(r["mean"] for r in result["summary"]
                                   if r["task"] == "cold" and r["metric"] == "ndcg@2")
    err = capsys.readouterr().err
    # the posters carry the taste groups, the titles do not: images must help on cold items
    assert recalls["image"] > recalls["text"] + 0.1 and recalls["text,image"] > recalls["text"] + 0.1, recalls
    n_with = sum(1 for j in range(N_ITEMS) if j % 7 != 3)
    assert f"kept {n_with} items" in err


def test_cli_evaluate_only_with_media_and_no_usable_file_names_why(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    # every image named by id but none usable (here: not images; in the field: symlinks out of the folder)
    # stopped at "restricting the items left no interaction", the media errors that say why never printed
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, _ = poster_data
    folder = tmp_path / "data"
    folder.mkdir()
    _write_files(folder, train)
    images = tmp_path / "by-id"
    images.mkdir()
    for item in train.catalog.item_ids:
        (images / f"{item}.png").write_bytes(b"not an image")
    code = main(["evaluate", "--data", str(folder), "--text-columns", "title", "--images", str(images), "--only-with-media",
                 "--models", "content", "--encoder", "hashing", "--no-chart", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(rf"error: --only-with-media: none of the {N_ITEMS} items has a usable image file \(first: item 'i0' image: cannot read image .+\)", err), err
    assert "restricting the items left no interaction" not in err




def test_serving_build_and_post_items_with_images(poster_data, tmp_path: Path, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app
    from coldkit.serving.build import build_index_from_files

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    items, ratings = _write_files(tmp_path, train)
    options = {"text_encoder": "hashing", "image_column": "poster", "media_root": str(media), "cache": False}
    index = build_index_from_files(tmp_path / "idx", interactions=ratings, items=items, text_columns=["title"],
                                   encoder="multimodal", encoder_options=options)
    index.close()
    client = TestClient(create_app(tmp_path / "idx", token="t", media_root=media))
    auth = {"Authorization": "Bearer t"}
    assert client.get("/items/i0").json()["image"] == "i0.png"
    _poster(media / "new.png", RED, seed=500)
    (media / "bad.png").write_text("no")
    ok = client.post("/items", json={"items": [{"id": "n1", "text": "charlie", "image": "new.png"}]}, headers=auth)
    assert ok.status_code == 200
    bad = client.post("/items", json={"items": [{"id": "n2", "text": "x", "image": "bad.png"}]}, headers=auth)
    assert bad.status_code == 422 and "n2" in bad.json()["detail"] and str(media) not in bad.json()["detail"]
    # the position of the server's one-file call ("item 'n2' image: image 0: cannot read ...") is not said
    assert bad.json()["detail"].startswith("item 'n2' image: ") and "image 0" not in bad.json()["detail"]
    outside = client.post("/items", json={"items": [{"id": "n3", "text": "x", "image": "../items.csv"}]}, headers=auth)
    assert outside.status_code == 422 and "outside" in outside.json()["detail"]
    # a URL is said to be one, as the batch path says (joined to the root, it was "file not found")
    url = client.post("/items", json={"items": [{"id": "n4", "text": "x", "image": "http://example.com/a.jpg"}]}, headers=auth)
    assert url.status_code == 422, url.text
    assert url.json()["detail"] == "item 'n4': the image 'http://example.com/a.jpg' is a URL; media are not downloaded: save the files under the media root and name them by path"
    similar = [i["id"] for i in client.get("/items/n1/similar?k=5").json()["items"]]
    assert sum(int(i[1:]) % 2 == 0 for i in similar) >= 4  # a red poster is near red posters


def test_post_items_with_audio(tmp_path: Path, monkeypatch, audio_encoder_name: str) -> None:
    from fastapi.testclient import TestClient

    from coldkit.serving import create_app
    from coldkit.serving.index import ServingIndex
    from coldkit.serving.storage import save

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    media = tmp_path / "audio"
    media.mkdir()
    for j in range(N_ITEMS):
        _tone(media / f"i{j}.wav", 220.0 if j % 2 == 0 else 1760.0)
    table = pd.DataFrame({"title": [f"track {j}" for j in range(N_ITEMS)], "sound": [f"i{j}.wav" for j in range(N_ITEMS)]})
    options = {"text_encoder": "hashing", "audio_column": "sound", "audio_encoder": audio_encoder_name,
               "media_root": str(media), "cache": False}
    index = ServingIndex.build(_taste_interactions(table), encoder="multimodal", encoder_options=options)
    save(index, tmp_path / "idx")
    index.close()
    client = TestClient(create_app(tmp_path / "idx", token="t", media_root=media))
    auth = {"Authorization": "Bearer t"}
    _tone(media / "new.wav", 1760.0)
    ok = client.post("/items", json={"items": [{"id": "n1", "text": "track", "audio": "new.wav"}]}, headers=auth)
    assert ok.status_code == 200, ok.json()
    similar = [i["id"] for i in client.get("/items/n1/similar?k=5").json()["items"]]
    assert all(int(i[1:]) % 2 == 1 for i in similar), similar  # a high tone is near the high tones
    (media / "bad.wav").write_bytes(b"RIFFjunk")
    bad = client.post("/items", json={"items": [{"id": "n2", "text": "x", "audio": "bad.wav"}]}, headers=auth)
    assert bad.status_code == 422 and "item 'n2' audio" in bad.json()["detail"]
    outside = client.post("/items", json={"items": [{"id": "n3", "text": "x", "audio": "../x.wav"}]}, headers=auth)
    assert outside.status_code == 422 and "audio path is outside" in outside.json()["detail"]


def test_post_items_with_audio_to_a_text_index_is_refused(make_tiny_index) -> None:
    index = make_tiny_index()
    with pytest.raises(InvalidInputError, match="encodes no audio"):
        index.upsert_items([{"id": "n", "text": "x", "audio": "a.wav"}])


def test_a_bad_file_shared_by_several_items_is_reported_for_each(poster_data) -> None:
    # identical files are encoded once; a failure was listed only for the first item naming the file,
    # so the others silently lost their image (in no error list, not in the run summary)
    train, media = poster_data
    (media / "fake.png").write_text("not an image")
    Image.new("F", (8, 8)).save(media / "depth.tif")  # float greyscale: a depth map, not a picture
    table = train.catalog.table.copy()
    table["poster"] = table["poster"].astype(object)
    shared = {0: "fake.png", 2: "fake.png", 4: "depth.tif", 6: "fake.png", 8: "depth.tif"}
    for row, value in shared.items():
        table.loc[row, "poster"] = value  # type: ignore[call-overload]
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ("title",)), train.matrix)
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    fused = encoder.encode_training(train)
    by_item = {e.item: e.message for e in encoder.errors_}
    assert set(by_item) == {f"i{row}" for row in shared}, by_item
    assert by_item["i0"] == by_item["i2"] == by_item["i6"] and "fake.png" in by_item["i0"]
    assert by_item["i4"] == by_item["i8"] and "mode 'F'" in by_item["i4"]
    assert len(encoder.errors_) == len(shared)
    assert any(f"{len(shared)} item(s) have a media file that could not be used" in n for n in encoder.notes_)
    text_dim = encoder.encoders["text"].dim
    assert not np.any(fused[list(shared), text_dim:])


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P-tRNS"])
def test_transparency_is_composited_onto_white(tmp_path: Path, mode: str) -> None:
    # convert("RGB") dropped the alpha channel: the colour under transparent pixels (usually black) was
    # encoded, so a product photo on a transparent background looked nothing like the same photo on white
    rgba = np.zeros((6, 8, 4), dtype=np.uint8)  # transparent black
    rgba[1:5, 2:6] = (200, 30, 30, 255)  # an opaque red square
    rgba[0, :] = (30, 40, 200, 128)  # a half-transparent blue row
    picture = Image.fromarray(rgba, "RGBA")
    path = tmp_path / "x.png"
    if mode == "LA":
        picture = picture.convert("LA")
    elif mode == "P-tRNS":  # a palette image with one transparent colour index (GIF/PNG tRNS)
        rgba[..., 3] = np.where(rgba[..., 3] == 0, 0, 255)
        rgba[0, :] = (30, 40, 200, 255)
        picture = Image.fromarray(rgba[..., :3], "RGB").convert("P")
        picture.info["transparency"] = picture.getpixel((0, 5))  # the black background's index
    picture.save(path)
    # independent reference: alpha blending by hand, 255 * (1 - a) + colour * a
    opened = Image.open(path)
    source = np.asarray(opened.convert("RGBA"), dtype=np.float64)
    alpha = source[..., 3:4] / 255.0
    expected = np.round(source[..., :3] * alpha + 255.0 * (1 - alpha))
    got = np.asarray(load_image(path), dtype=np.float64)
    np.testing.assert_allclose(got, expected, atol=1)
    assert got[5, 0].tolist() == [255, 255, 255]  # a transparent pixel is white, not black
    np.testing.assert_allclose(np.asarray(load_image(opened), dtype=np.float64), expected, atol=1)  # a PIL image too


def test_image_refusals_are_not_wrapped_as_read_errors(tmp_path: Path) -> None:
    # load_image's own refusal was caught as a ValueError and wrapped again:
    # "image 0: cannot read image 'x': image 0: 'x' has mode 'F' ..."
    path = tmp_path / "depth.tif"
    Image.new("F", (8, 8)).save(path)
    with pytest.raises(InvalidInputError) as info:
        load_image(path, "image 0")
    assert str(info.value).startswith("image 0: ") and str(info.value).count("image 0") == 1
    assert "cannot read image" not in str(info.value)


def test_a_url_in_a_media_column_is_named_as_a_url(poster_data) -> None:
    # catalogues often hold poster URLs; the error was "file not found: 'https://...'"
    train, media = poster_data
    table = train.catalog.table.copy()
    table.loc[0, "poster"] = "https://images.example.com/posters/1.jpg"
    table.loc[2, "poster"] = "file:///data/posters/2.jpg"
    train = Interactions(train.user_ids, Catalog(train.catalog.item_ids, table, ("title",)), train.matrix)
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=False)
    encoder.encode_training(train)
    by_item = {e.item: e.message for e in encoder.errors_}
    assert set(by_item) == {"i0", "i2"}
    for message in by_item.values():
        assert "is a URL" in message and "not downloaded" in message and "file not found" not in message


# ------------------------------------------------------------------ 16-bit greyscale, EXIF orientation, NFC/NFD names


GREY16 = np.array([[0, 257, 1000, 20000], [32896, 40000, 65278, 65535]], dtype=np.uint16)


@pytest.mark.parametrize("form", ["png", "tif", "pil-I;16", "pil-I"])
def test_16_bit_greyscale_is_scaled_not_refused_or_clipped(tmp_path: Path, form: str) -> None:
    """A 16-bit greyscale scan (mode I;16, or I) was refused; Pillow's own convert clips it (everything above 255 white)."""
    expected = np.round(GREY16.astype(np.float64) * 255 / 65535)  # the reference: 0..65535 onto 0..255
    if form.startswith("pil-"):
        picture = Image.fromarray(GREY16 if form == "pil-I;16" else GREY16.astype(np.int32))
        assert picture.mode == form[4:]
        got = load_image(picture)
    else:
        path = tmp_path / f"scan.{form}"
        Image.fromarray(GREY16).save(path)
        with Image.open(path) as opened:
            assert opened.mode in ("I;16", "I")
        got = load_image(path)
    assert got.mode == "RGB" and got.size == (4, 2)
    for channel in range(3):
        np.testing.assert_array_equal(np.asarray(got)[..., channel], expected)


def test_a_32_bit_image_outside_the_16_bit_range_is_refused_by_name() -> None:
    depth = Image.fromarray(np.array([[0, 70000]], dtype=np.int32))
    with pytest.raises(InvalidInputError, match=r"item 'x': the image has mode 'I' with values 0\.\.70000, outside the 0\.\.65535"):
        load_image(depth, "item 'x'")


def test_a_32_bit_image_of_8_bit_values_is_refused_not_read_as_black() -> None:
    """Image.fromarray of an int array holding 0..255 has mode I; read as 16 bits it became a black picture."""
    values = np.array([[0, 128, 255]], dtype=np.int32)
    with pytest.raises(InvalidInputError, match=r"item 'x': the image has mode 'I' \(32-bit integers\) with values 0\.\.255: 8-bit"):
        load_image(Image.fromarray(values), "item 'x'")
    same = load_image(Image.fromarray(values.astype(np.uint8)), "item 'x'")  # the way out the message names
    np.testing.assert_array_equal(np.asarray(same)[0, :, 0], [0, 128, 255])


def _sideways_photo(path: Path, orientation: int) -> np.ndarray:
    """A 6 x 4 photo stored as a phone stores it, with an EXIF orientation tag; returns the stored pixels."""
    stored = np.zeros((4, 6, 3), dtype=np.uint8)
    stored[:, :3] = RED  # red on the stored left, blue on the right, a green top-left corner
    stored[:, 3:] = BLUE
    stored[0, 0] = (0, 200, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif)
    return stored


@pytest.mark.parametrize("orientation, turn", [(1, lambda a: a), (3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, -1)),
                                               (8, lambda a: np.rot90(a, 1)), (2, lambda a: a[:, ::-1])])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, turn: Any) -> None:
    """A phone photo stored sideways with an orientation tag was encoded sideways (CLIP's processor ignores the tag too)."""
    path = tmp_path / "photo.png"
    stored = _sideways_photo(path, orientation)
    expected = turn(stored)  # the reference: the EXIF spec's turn, by numpy (6: 90° clockwise, 8: counter-clockwise)
    got = np.asarray(load_image(path))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    with Image.open(path) as opened:  # a PIL image opened by the caller too
        np.testing.assert_array_equal(np.asarray(load_image(opened)), expected)
    upright = load_image(path)
    np.testing.assert_array_equal(np.asarray(load_image(upright)), expected)  # turned once, never twice


def test_cached_image_vectors_of_an_older_pipeline_are_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The image cache key names the file's bytes; the EXIF turn makes other pixels of the same bytes,
    so vectors cached before it (under any encoder's fingerprint, a plugin's too) must not be reused."""
    from coldkit.encoding import VectorCache, content_key, encode_catalog, image_key

    path = tmp_path / "photo.png"
    _sideways_photo(path, 6)
    encoder = get_encoder("image-stats")
    stale = VectorCache(tmp_path / "cache", encoder.fingerprint, encoder.dim, name=encoder.name)
    old_key = content_key("image-file", path.read_bytes())  # the key of pipelines 1 and 2
    stale.put([old_key], np.full((1, encoder.dim), 1.0, np.float32))
    assert image_key(path) != old_key
    items = pd.DataFrame({"item_id": ["a"], "poster": [str(path)]})
    cached = encode_catalog(items, encoder, text_fields=(), image_field="poster", cache_dir=tmp_path / "cache")
    fresh = encode_catalog(items, encoder, text_fields=(), image_field="poster", cache=False)
    np.testing.assert_array_equal(cached, fresh)


def _nfc(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", name)


def _nfd(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFD", name)


@pytest.mark.parametrize("stored, named", [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_name_in_the_other_unicode_form_finds_the_file(tmp_path: Path, stored: str, named: str) -> None:
    """macOS stores "café.jpg" decomposed (NFD); an items file names it composed (NFC), or the reverse: it was "file not found"."""
    form = {"NFC": _nfc, "NFD": _nfd}
    folder = tmp_path / form[stored]("affiches été")
    folder.mkdir()
    _poster(folder / form[stored]("café.png"), RED, seed=1)
    asked = form[named]("affiches été/café.png")
    assert asked.encode() != form[stored]("affiches été/café.png").encode()
    with Image.open(folder / form[stored]("café.png")) as opened:
        reference = np.asarray(opened.convert("RGB"))
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / asked)), reference)
    root = check_media_root(tmp_path)
    assert resolve_in_root(asked, root) == os.path.join(root, form[stored]("affiches été/café.png"))
    # the multimodal encoder (coldkit recommend --media-root) reads it without an error
    table = pd.DataFrame({"item_id": ["i0", "i1"], "title": ["a cafe", "a tea room"], "poster": [asked, asked]})
    train = Interactions(np.array(["u0"]), Catalog(table["item_id"].to_numpy(), table, ("title",)), sparse.csr_matrix(np.ones((1, 2))))
    encoder = MultimodalEncoder(image_column="poster", media_root=tmp_path, cache=False)
    encoder.encode_training(train)
    assert encoder.errors_ == []


def test_the_exact_name_wins_over_its_other_unicode_form(tmp_path: Path) -> None:
    _poster(tmp_path / _nfc("café.png"), RED, seed=1)
    _poster(tmp_path / _nfd("café.png"), BLUE, seed=2)
    for name, colour_file in ((_nfc("café.png"), _nfc("café.png")), (_nfd("café.png"), _nfd("café.png"))):
        with Image.open(tmp_path / colour_file) as opened:
            expected = np.asarray(opened.convert("RGB"))
        np.testing.assert_array_equal(np.asarray(load_image(tmp_path / name)), expected)
    with pytest.raises(InvalidInputError, match="file not found"):
        load_image(tmp_path / _nfc("thé.png"))  # neither form: still not found, under the name given
    root = check_media_root(tmp_path)
    assert resolve_in_root(_nfc("../café.png"), root) is None  # the other form never leads out of the root


def test_cli_evaluate_prints_its_media_notes_after_its_header(poster_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """The notes on the media (how many items have a usable file, each bad file) came before the run's first
    line ``coldkit evaluate: data=...``; as in coldkit recommend, they follow the lines that say what runs."""
    from coldkit.cli import main

    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(tmp_path / "cache"))
    train, media = poster_data
    folder = tmp_path / "data"
    folder.mkdir()
    items_path, _ = _write_files(folder, train)
    items = pd.read_csv(items_path, dtype=str)
    items.loc[0, "poster"] = "missing.png"  # one bad file: a media error line too
    items.to_csv(items_path, index=False)
    code = main(["evaluate", "--data", str(folder), "--text-columns", "title", "--image-column", "poster", "--media-root",
                 str(media), "--models", "content", "--encoder", "hashing", "--k", "2", "--no-chart", "--quiet",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("coldkit evaluate: data="), err
    header = [lines.index(next(ln for ln in lines if ln.startswith(start))) for start in ("text columns:", "models:")]
    usable = lines.index(next(ln for ln in lines if "have a usable image file" in ln))
    errors = lines.index(next(ln for ln in lines if ln.startswith("media errors (1;")))
    assert max(header) < usable < errors, err


@pytest.mark.parametrize("flags, named", [
    (["--image-encoder", "clip:model=/nowhere"], "--image-encoder needs a media column"),
    (["--audio-encoder", "nonsense"], "--audio-encoder needs a media column"),
    (["--media-root", "."], "--media-root needs a media column"),
    (["--image-column", "poster", "--media-root", ".", "--audio-encoder", "audio"], "--audio-encoder needs --audio-column"),
])
def test_a_media_flag_without_its_column_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str) -> None:
    """A forgotten --image-column left --image-encoder, --audio-encoder and --media-root ignored without a word: the
    run wrote its lists, and the user believed the posters were read."""
    from coldkit.cli import main

    (tmp_path / "items.csv").write_text("item_id,title,poster\na,space robots,a.png\nb,love in paris,b.png\n", encoding="utf-8")
    (tmp_path / "train.csv").write_text("user_id,item_id\nu1,a\nu2,b\n", encoding="utf-8")
    out = tmp_path / "recs.csv"
    code = main(["recommend", "--interactions", str(tmp_path / "train.csv"), "--items", str(tmp_path / "items.csv"),
                 "--encoder", "hashing", "--out", str(out), "--no-progress", *flags])
    assert code == 2 and named in capsys.readouterr().err and not out.exists()


def test_a_media_file_is_hashed_in_steps_to_the_key_its_bytes_had(tmp_path: Path) -> None:
    """The cache key read the whole file first, before any size check: a 1.5 GB file named .jpg took 3.2 GB.
    Read in steps, the key is the one the whole bytes gave (vectors cached before stay found)."""
    import tracemalloc

    from coldkit.encoding import image_key, media_file_key, media_path_key

    big = tmp_path / "big.jpg"
    block = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    with open(big, "wb") as fh:
        for _ in range(48):  # 48 MB of junk
            fh.write(block)
    tracemalloc.start()
    try:
        key = media_path_key("image", big)
        assert image_key(big) == key
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"hashing a 48 MB file held {peak / 2**20:.0f} MB"
    assert key == media_file_key("image", big.read_bytes())
    wav = tmp_path / "a.wav"
    _tone(wav, 440.0)
    assert media_path_key("audio", wav) == media_file_key("audio", wav.read_bytes()) != media_path_key("image", wav)


def test_media_encoding_survives_an_unusable_cache_and_keeps_its_entries_in_use(
    poster_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coldkit.exceptions import CacheWarning

    train, media = poster_data
    # a file where the cache folder should be: the text path warned and went on, the media path failed
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(blocker / "cache"))
    encoder = MultimodalEncoder(image_column="poster", media_root=media, cache=True)
    with pytest.warns(CacheWarning, match="encoding without the vector cache"):
        without = encoder.encode_training(train)
    # with a cache, the media entry is marked used (it was never: evicted first, re-encoded on every run under
    # a size limit) and the limit is enforced after it
    cache = tmp_path / "cache"
    monkeypatch.setenv("COLDKIT_CACHE_DIR", str(cache))
    with_cache = MultimodalEncoder(image_column="poster", media_root=media, cache=True).encode_training(train)
    np.testing.assert_array_equal(with_cache, without)
    entries = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert any(name.startswith("image-stats") for name in entries), entries
    for name in entries:
        assert (cache / name / "last-used.json").is_file(), name


class ColourWords:
    """A small joint text-image encoder, as CLIP is one: the words red / green / blue and a picture's mean
    colour land in one 3-d space (counts of the words; the mean RGB), L2-normalised."""

    name = "test-colour-words"
    modalities = frozenset({"text", "image"})
    dim = 3
    fingerprint = "test-colour-words:v1"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.array([[t.lower().split().count(w) for w in ("red", "green", "blue")] for t in texts], dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        rows = np.array([np.asarray(load_image(image, f"image {i}"), dtype=np.float32).mean(axis=(0, 1))
                         for i, image in enumerate(images)], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_users_words_reach_the_pictures_through_an_encoder_that_embeds_both(poster_data) -> None:
    """A catalogue known by its posters alone: a user's text went to the empty text block only, so every item
    scored 0 for every text, without a word, though CLIP puts words and pictures in one space."""
    from coldkit.exceptions import ColdkitWarning
    from coldkit.models.registry import build_model

    poster_train, media = poster_data
    photos_only = Catalog(poster_train.catalog.item_ids, poster_train.catalog.table[["poster"]], ())
    train = Interactions(poster_train.user_ids, photos_only, poster_train.matrix)
    joint = MultimodalEncoder(text_encoder=None, image_encoder=ColourWords(), image_column="poster", media_root=media,
                              cache=False)
    model = build_model("content", encoder=joint).fit(train)
    assert joint.text_blocks() == ["image"]
    with_poster = np.flatnonzero(np.any(model.item_vectors() != 0, axis=1))
    for word, group in (("red", 0), ("blue", 1)):
        ranked = model.recommend([UserQuery(text=f"something {word}")], k=10, candidates=with_poster)
        listed = np.asarray(ranked.indices)[0]
        assert all(int(i) % 2 == group for i in listed), (word, listed)  # red posters are the even items
        assert np.all(np.asarray(ranked.scores)[0] > 0)
    assert any("words are matched to their image (test-colour-words embeds texts too)" in n for n in joint.notes_), joint.notes_
    # an image encoder without texts: the words cannot match the pictures, and the encoder says so
    stats = MultimodalEncoder(text_encoder="hashing", image_column="poster", media_root=media, cache=False)
    build_model("content", encoder=stats).fit(train)
    assert any("a user's own words cannot match them" in n for n in stats.notes_), stats.notes_
    with pytest.warns(ColdkitWarning, match="a user's text cannot match any item here"):
        assert not stats.encode_query_texts(["something red"]).any()
    with pytest.raises(InvalidInputError, match="no text encoder and no media encoder that embeds texts"):
        MultimodalEncoder(text_encoder=None, image_column="poster", media_root=media, cache=False).encode_query_texts(["red"])
    # an item's text (a new item described by words) stays in the text block: its image block is its image's,
    # as POST /items (encode_contents) gives it, not its words' (the query path alone reaches the pictures)
    both = MultimodalEncoder(text_encoder="hashing", image_encoder=ColourWords(), image_column="poster", media_root=media,
                             cache=False)
    build_model("content", encoder=both).fit(poster_train)
    text_dim = both.encoders["text"].dim
    item = both.encode_texts(["alpha bravo red"])
    np.testing.assert_array_equal(item, both.encode_contents(["alpha bravo red"], images=[None]))
    assert not item[:, text_dim:].any() and both.encode_query_texts(["alpha bravo red"])[:, text_dim:].any()
