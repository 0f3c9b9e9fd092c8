"""Builds a tiny, randomly initialised CLIP model around CLIP's real BPE vocabulary.

No CLIP weights can be downloaded here, so the tests exercise the plugin's real loading code
(``from_pretrained`` on a directory written by ``save_pretrained``) on a model small enough to
build in a second. The vocabulary comes from open_clip_torch's wheel (a test dependency,
installed with --no-deps); it is converted to the vocab.json/merges.txt pair transformers reads,
exactly as OpenAI's SimpleTokenizer builds its vocabulary.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

def _bpe_vocabulary_file() -> Path:
    try:
        dist = importlib.metadata.distribution("open_clip_torch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("open_clip_torch (test dependency: pip install --no-deps open_clip_torch) is not installed")
    for f in dist.files or []:
        if f.name == "bpe_simple_vocab_16e6.txt.gz":
            return Path(str(f.locate()))
    pytest.skip("open_clip_torch has no bpe_simple_vocab_16e6.txt.gz")


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_clip_tokenizer_files(directory: Path) -> int:
    """Write vocab.json + merges.txt of OpenAI CLIP's tokenizer; return the vocabulary size."""
    lines = gzip.open(_bpe_vocabulary_file()).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (directory / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return len(vocab)


def _write_clip_tokenizer(directory: Path) -> Any:
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer_files(directory)
    tokenizer = CLIPTokenizer.from_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_full_size_clip(directory: Path, seed: int = 0) -> Path:
    """CLIP ViT-B/32's real architecture (CLIPConfig's defaults: 151M parameters), random-initialised,
    with the real tokenizer and the 224-pixel image processor: about 600 MB on disk."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _write_clip_tokenizer(directory)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    )
    import torch

    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    model.save_pretrained(str(directory))
    del model  # free it before anyone loads the copy on disk
    try:
        from transformers import CLIPImageProcessorPil as processor_cls
    except ImportError:
        from transformers import CLIPImageProcessor as processor_cls
    processor_cls().save_pretrained(str(directory))  # defaults: resize 224, centre-crop 224, CLIP mean/std
    return directory


def build_tiny_clip(directory: Path, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _write_clip_tokenizer(directory)
    vocab_size = len(tokenizer)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            image_size=32, patch_size=8, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2
        ),
        projection_dim=16,
    )
    import torch

    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(str(directory))
    try:
        from transformers import CLIPImageProcessorPil as processor_cls
    except ImportError:
        from transformers import CLIPImageProcessor as processor_cls
    processor_cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def clip_encoder(tiny_clip_dir: Path):  # type: ignore[no-untyped-def]
    from coldkit_clip.encoder import CLIPEncoder

    return CLIPEncoder(tiny_clip_dir, device="cpu", threads=1)


@pytest.fixture(scope="module")
def full_size_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CLIP ViT-B/32's real architecture (151M parameters), random-initialised: ~600 MB, removed after the module."""
    directory = build_full_size_clip(tmp_path_factory.mktemp("clip-vit-b32"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
