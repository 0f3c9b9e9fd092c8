"""CLIP ViT-B/32's real architecture (151M parameters: a 12-layer 512-wide text tower over the real
49,408-token BPE, a 12-layer 768-wide ViT over 224-pixel images in 32-pixel patches, 512-d
projections) through the plugin's user path: random-initialised, written by ``save_pretrained``
(about 600 MB of safetensors) and loaded back with ``coldkit.get_encoder("clip", model=PATH)``.

The load and the encoding run in a fresh interpreter so its peak RSS is the plugin's own. Load
time, peak RSS, texts/s and images/s are printed and attached to the test report
(``record_property``); nothing is asserted about them. The vectors are checked: dimension 512,
finite, unit rows, identical on a second pass, and equal to a direct transformers forward pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("coldkit_clip", reason="the clip plugin is not installed (pip install ./plugins/coldkit-clip)")

TEXTS = [
    "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    "a photo of a cat",
    "a movie poster with a spaceship",
    "Ünïcödé — naïve café, 表記",
] * 4  # 16 texts

_MEASURE = r"""
import json, os, sys, time
import numpy as np

def rss_mb(field):
    # /proc's VmHWM (peak) / VmRSS belong to this process's own memory map; getrusage's ru_maxrss
    # would report the parent's peak (Linux keeps it across fork + exec)
    try:
        with open("/proc/self/status") as status:
            return round(int(next(line.split()[1] for line in status if line.startswith(field + ":"))) / 1024)
    except (OSError, StopIteration):  # not Linux: no memory figure rather than a wrong one
        return None
started = time.perf_counter()
import torch, transformers, coldkit, coldkit_clip.encoder
imported, imported_cpu = time.perf_counter(), time.process_time()
rss_imported = rss_mb("VmRSS")
encoder = coldkit.get_encoder("clip", model=sys.argv[1], device="cpu", threads=1)
loaded, loaded_cpu = time.perf_counter(), time.process_time()
rss_loaded = rss_mb("VmRSS")
encoder.fingerprint
fingerprinted, fingerprinted_cpu = time.perf_counter(), time.process_time()
texts, images = json.loads(sys.argv[2]), json.loads(sys.argv[3])
text_vectors = encoder.encode_texts(texts)
texts_done, texts_cpu = time.perf_counter(), time.process_time()
image_vectors = encoder.encode_images(images)
images_done, images_cpu = time.perf_counter(), time.process_time()
np.savez(sys.argv[4], texts=np.stack([text_vectors, encoder.encode_texts(texts)]),
         images=np.stack([image_vectors, encoder.encode_images(images)]))
print(json.dumps({
    "import_s": round(imported - started, 2), "load_s": round(loaded - imported, 2), "load_cpu_s": round(loaded_cpu - imported_cpu, 2),
    "fingerprint_s": round(fingerprinted - loaded, 2),
    "texts_per_s": round(len(texts) / (texts_done - fingerprinted), 1), "texts_per_cpu_s": round(len(texts) / (texts_cpu - fingerprinted_cpu), 1),
    "images_per_s": round(len(images) / (images_done - texts_done), 1), "images_per_cpu_s": round(len(images) / (images_cpu - texts_cpu), 1),
    "rss_imports_mb": rss_imported, "rss_after_load_mb": rss_loaded,
    "peak_rss_mb": rss_mb("VmHWM"), "load_average_1min": round(os.getloadavg()[0], 1),
    "threads": 1, "dim": encoder.dim, "max_length": encoder.max_length,
}))
"""


@pytest.fixture(scope="module")
def poster_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Eight poster-sized images (random pixels, mixed sizes and modes), written as JPEG and PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    directory = tmp_path_factory.mktemp("posters")
    paths = []
    for i, (height, width) in enumerate([(450, 300), (300, 450), (224, 224), (1000, 675)] * 2):
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        if i % 4 == 3:
            image = image.convert("L")  # a greyscale poster: the encoder converts it to RGB
        path = directory / f"{i}.{'jpg' if i % 2 else 'png'}"
        image.save(path)
        paths.append(str(path))
    return paths


@pytest.mark.slow
def test_full_size_clip_saved_and_loaded_back(
    full_size_clip_dir: Path, poster_files: list[str], tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    weights = sum(f.stat().st_size for f in full_size_clip_dir.glob("*.safetensors"))
    assert weights > 550e6  # 151M float32 parameters: the real size, not a tiny stand-in
    out = tmp_path / "vectors.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(full_size_clip_dir), json.dumps(TEXTS), json.dumps(poster_files), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    metrics["weights_mb"] = round(weights / 1e6)
    print(f"\nfull-size clip (ViT-B/32, 151M, fp32, CPU): {metrics}")
    for key, value in metrics.items():
        record_property(key, value)

    saved = np.load(out)
    texts, images = saved["texts"], saved["images"]
    assert (metrics["dim"], metrics["max_length"]) == (512, 77)
    for name, (first, second), n in (("texts", texts, len(TEXTS)), ("images", images, len(poster_files))):
        assert first.shape == (n, 512) and first.dtype == np.float32, name
        assert np.isfinite(first).all(), name
        np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(first, second, err_msg=f"{name}: not deterministic")
    np.testing.assert_allclose(texts[0, :4], texts[0, 4:8], atol=1e-5)  # the same text, another batch position

    # the full-size path equals transformers run directly (one text alone; two posters)
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPTokenizer

    from coldkit_clip.encoder import _image_processor_class

    model = CLIPModel.from_pretrained(str(full_size_clip_dir)).eval()
    tokenizer = CLIPTokenizer.from_pretrained(str(full_size_clip_dir))
    processor = _image_processor_class().from_pretrained(str(full_size_clip_dir))

    def pooled(output: Any) -> np.ndarray:
        tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
        vectors = tensor.numpy()
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # type: ignore[no-any-return]

    with torch.no_grad():
        text = pooled(model.get_text_features(**tokenizer(TEXTS[0], return_tensors="pt")))
        pixels = processor(images=[Image.open(p).convert("RGB") for p in poster_files[:2]], return_tensors="pt")
        image = pooled(model.get_image_features(pixel_values=pixels["pixel_values"]))
    np.testing.assert_allclose(texts[0, :1], text, atol=1e-4)
    np.testing.assert_allclose(images[0, :2], image, atol=1e-4)
