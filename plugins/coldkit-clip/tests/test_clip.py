"""coldkit-clip: both towers against a direct transformers reference, the shared space, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import coldkit
from coldkit.encoding import encode_catalog
from coldkit.exceptions import InvalidInputError

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("coldkit_clip", reason="the clip plugin is not installed (pip install ./plugins/coldkit-clip)")

TEXTS = ["a photo of a cat", "dog", "Toy Story (1995). Adventure|Animation|Children", "Ünïcödé café"]


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _features(output: Any) -> Any:
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = tmp_path_factory.mktemp("img") / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40 + 7 * i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_get_encoder_loads_a_saved_model(clip_encoder: Any, tiny_clip_dir: Path) -> None:
    encoder = coldkit.get_encoder("clip", model=tiny_clip_dir, device="cpu", threads=1)
    assert isinstance(encoder, coldkit.Encoder)
    assert encoder.modalities == frozenset({"text", "image"})
    assert (encoder.dim, encoder.max_length) == (16, 77)


def test_text_tower_matches_unpadded_reference(clip_encoder: Any, tiny_clip_dir: Path) -> None:
    import torch
    from transformers import CLIPModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_clip_dir))
    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).eval()
    with torch.no_grad():
        rows = [_features(model.get_text_features(**tokenizer(t, return_tensors="pt")))[0].numpy() for t in TEXTS]
    got = clip_encoder.encode_texts(TEXTS)  # padded batch
    np.testing.assert_allclose(got, _normalise(np.stack(rows)), atol=2e-5)


def test_image_tower_matches_reference(clip_encoder: Any, tiny_clip_dir: Path, images: list[Path]) -> None:
    import torch
    from PIL import Image
    from transformers import CLIPModel

    from coldkit_clip.encoder import _image_processor_class

    processor = _image_processor_class().from_pretrained(str(tiny_clip_dir))
    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).eval()
    pil = [Image.open(p).convert("RGB") for p in images]
    with torch.no_grad():
        expected = _features(model.get_image_features(**processor(images=pil, return_tensors="pt"))).numpy()
    got_paths = clip_encoder.encode_images(images)
    got_pil = clip_encoder.encode_images(pil)
    np.testing.assert_allclose(got_paths, _normalise(expected), atol=2e-5)
    np.testing.assert_allclose(got_pil, got_paths, atol=1e-6)
    assert got_paths.dtype == np.float32 and got_paths.shape == (3, 16)


def test_real_poster_from_shared_data(clip_encoder: Any) -> None:
    poster = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "ml-1m-posters" / "MovieImages" / "1.jpg"
    if not poster.is_file():
        pytest.skip(f"shared data set not found at {poster}")
    vec = clip_encoder.encode_images([poster])
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


def test_missing_and_corrupt_images_are_named(clip_encoder: Any, images: list[Path], tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"image 1: image file not found"):
        clip_encoder.encode_images([images[0], tmp_path / "missing.jpg"])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InvalidInputError, match=r"image 0: cannot read image"):
        clip_encoder.encode_images([corrupt])
    with pytest.raises(InvalidInputError, match="expected an image path or a PIL image"):
        clip_encoder.encode_images([42])


def test_text_longer_than_77_tokens_is_truncated(clip_encoder: Any) -> None:
    long_text = " ".join(f"word{i}" for i in range(300))
    a, b = clip_encoder.encode_texts([long_text, long_text + " tail"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_only_clip_pooling_is_accepted(tiny_clip_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown pooling 'mean'"):
        coldkit.get_encoder("clip", model=tiny_clip_dir, pooling="mean")


def test_model_without_weights_or_preprocessor(tiny_clip_dir: Path, tmp_path: Path) -> None:
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_clip_dir, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(InvalidInputError, match="has no weights"):
        coldkit.get_encoder("clip", model=no_weights)
    no_processor = tmp_path / "no-processor"
    shutil.copytree(tiny_clip_dir, no_processor, ignore=shutil.ignore_patterns("preprocessor_config.json"))
    encoder = coldkit.get_encoder("clip", model=no_processor, device="cpu")
    assert encoder.encode_texts(["text still works"]).shape == (1, 16)
    with pytest.raises(InvalidInputError, match="preprocessor_config.json"):
        encoder.encode_images([Path(__file__)])


def test_a_model_of_another_kind_is_refused(tiny_clip_dir: Path, tmp_path: Path) -> None:
    # a GPT-2 folder loaded as CLIPModel with every weight random, and encoded without an error
    target = tmp_path / "gpt2-like"
    shutil.copytree(tiny_clip_dir, target)
    (target / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_positions": 64}))
    with pytest.raises(InvalidInputError, match=r"is a 'gpt2' model, not clip"):
        coldkit.get_encoder("clip", model=target)


def test_remote_code_is_refused(tiny_clip_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "remote"
    shutil.copytree(tiny_clip_dir, target)
    config = json.loads((target / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_x.X"}
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        coldkit.get_encoder("clip", model=target)


def test_both_transformers_return_types_are_handled() -> None:
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    from coldkit.encoding_torch import get_output_tensor

    tensor = torch.ones(2, 3)
    assert get_output_tensor(tensor, "pooler_output") is tensor  # transformers 4
    wrapped = BaseModelOutputWithPooling(last_hidden_state=torch.zeros(2, 5, 3), pooler_output=tensor)
    assert get_output_tensor(wrapped, "pooler_output") is tensor  # transformers 5
    with pytest.raises(TypeError):
        get_output_tensor(object(), "pooler_output")


# ------------------------------------------------------------- the shared space, with trained weights


@pytest.fixture(scope="module")
def colour_clip(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny CLIP trained for a few seconds to match colour words to colour images, then saved.

    Random weights carry no meaning, so this is how a test can check that the plugin puts text and
    images into *one* space (wrong pooling or a missing projection would break the ranking).
    """
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPTokenizer

    from coldkit_clip.encoder import _image_processor_class

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    colours = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 30, 230)}
    texts = [f"a {name} picture" for name in colours]
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_clip_dir))
    processor = _image_processor_class().from_pretrained(str(tiny_clip_dir))
    model = CLIPModel.from_pretrained(str(tiny_clip_dir))
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    tokens = tokenizer(texts, padding=True, return_tensors="pt")
    for _ in range(60):
        pics = [
            Image.fromarray(np.clip(np.array(rgb) + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8))
            for rgb in colours.values()
        ]
        pixels = processor(images=pics, return_tensors="pt")["pixel_values"]
        loss = model(**tokens, pixel_values=pixels, return_loss=True).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    target = tmp_path_factory.mktemp("colour-clip")
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        if (tiny_clip_dir / name).exists():
            shutil.copy(tiny_clip_dir / name, target / name)
    model.eval().save_pretrained(str(target))
    return target


def test_text_ranks_images_and_images_rank_texts(colour_clip: Path, tmp_path: Path) -> None:
    from PIL import Image

    encoder = coldkit.get_encoder("clip", model=colour_clip, device="cpu", threads=1)
    colours = {"red": (200, 40, 30), "green": (40, 180, 60), "blue": (40, 50, 210)}
    paths = []
    for name, rgb in colours.items():
        paths.append(tmp_path / f"{name}.png")
        Image.new("RGB", (48, 40), rgb).save(paths[-1])
    image_vecs = encoder.encode_images(paths)
    text_vecs = encoder.encode_texts([f"a {name} picture" for name in colours])
    scores = text_vecs @ image_vecs.T
    assert scores.argmax(axis=1).tolist() == [0, 1, 2]  # each text finds its image
    assert scores.argmax(axis=0).tolist() == [0, 1, 2]  # each image finds its text


def test_encode_catalog_combines_text_and_image_in_one_space(colour_clip: Path, tmp_path: Path) -> None:
    import pandas as pd
    from PIL import Image

    encoder = coldkit.get_encoder("clip", model=colour_clip, device="cpu", threads=1)
    paths = []
    for name, rgb in {"r": (200, 40, 30), "b": (40, 50, 210)}.items():
        paths.append(str(tmp_path / f"{name}.png"))
        Image.new("RGB", (40, 40), rgb).save(paths[-1])
    table = pd.DataFrame({"item_id": ["r", "b"], "title": ["a red picture", "a blue picture"], "poster": paths})
    got = encode_catalog(
        table, encoder, text_fields=["title"], image_field="poster", combine="mean", image_weight=0.5, cache=False
    )
    t = encoder.encode_texts(table["title"].tolist())
    i = encoder.encode_images(paths)
    np.testing.assert_allclose(got, _normalise(0.5 * t + 0.5 * i), atol=1e-5)
    query = encoder.encode_texts(["a blue picture"])
    assert (got @ query.T).argmax() == 1


@pytest.mark.parametrize("precision, floor", [("bf16", 0.99), ("int8", 0.95)])
def test_reduced_precision_text_and_images_stay_close(
    clip_encoder: Any, tiny_clip_dir: Path, images: list[Path], precision: str, floor: float
) -> None:
    fast = coldkit.get_encoder("clip", model=tiny_clip_dir, device="cpu", threads=1, precision=precision)
    for got, want in (
        (fast.encode_texts(TEXTS), clip_encoder.encode_texts(TEXTS)),
        (fast.encode_images(images), clip_encoder.encode_images(images)),
    ):
        cosine = (got * want).sum(axis=1)
        assert cosine.min() >= floor, (precision, cosine)
    assert fast.fingerprint != clip_encoder.fingerprint


@pytest.mark.parametrize("text_encoder", ["bert", "gpt2"])
def test_text_encoders_refuse_a_clip_folder_by_name(tiny_clip_dir: Path, text_encoder: str) -> None:
    """bert/gpt2 given a CLIP folder said "max_length is required", pointing at the wrong setting."""
    pytest.importorskip(f"coldkit_{text_encoder}")
    with pytest.raises(InvalidInputError, match=r"is a 'clip' model \(text paired with images\).*use the clip encoder"):
        coldkit.get_encoder(text_encoder, model=tiny_clip_dir, device="cpu")


def test_transparent_images_match_the_reference_preprocessing(clip_encoder: Any, tiny_clip_dir: Path, tmp_path: Path) -> None:
    # transformers composites transparency onto white; coldkit converted to RGB first, dropping the alpha
    # channel, so a product photo on a transparent background was encoded as if on black (cos 0.33 here)
    import torch
    from PIL import Image
    from transformers import CLIPModel

    from coldkit_clip.encoder import _image_processor_class

    pixels = np.zeros((40, 40, 4), dtype=np.uint8)  # transparent black ...
    pixels[10:30, 10:30] = (220, 20, 20, 255)  # ... around an opaque red square
    pixels[5:10, 5:35] = (20, 20, 220, 128)  # and a half-transparent blue band
    path = tmp_path / "product.png"
    Image.fromarray(pixels, "RGBA").save(path)
    processor = _image_processor_class().from_pretrained(str(tiny_clip_dir))
    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).eval()
    with torch.no_grad():
        expected = _features(model.get_image_features(**processor(images=[Image.open(path)], return_tensors="pt"))).numpy()
    np.testing.assert_allclose(clip_encoder.encode_images([path]), _normalise(expected), atol=2e-5)
    np.testing.assert_allclose(clip_encoder.encode_images([Image.open(path)]), _normalise(expected), atol=2e-5)


def test_a_sideways_phone_photo_is_encoded_upright(clip_encoder: Any, tiny_clip_dir: Path, tmp_path: Path) -> None:
    """A photo stored sideways with an EXIF orientation tag (6: turn 90° clockwise) was encoded lying on its
    side: transformers' processor ignores the tag. The reference: the model on the pixels turned by numpy."""
    import torch
    from PIL import Image
    from transformers import CLIPModel

    from coldkit_clip.encoder import _image_processor_class

    stored = np.zeros((30, 50, 3), dtype=np.uint8)
    stored[:, :25] = (220, 20, 20)
    stored[:10, 25:] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    upright = Image.fromarray(np.ascontiguousarray(np.rot90(stored, -1)))
    processor = _image_processor_class().from_pretrained(str(tiny_clip_dir))
    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).eval()
    with torch.no_grad():
        expected = _features(model.get_image_features(**processor(images=[upright], return_tensors="pt"))).numpy()
    np.testing.assert_allclose(clip_encoder.encode_images([path]), _normalise(expected), atol=2e-5)
