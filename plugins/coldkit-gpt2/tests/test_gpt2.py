"""coldkit-gpt2: pooling and padding against a direct, unpadded transformers reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import coldkit
from coldkit.exceptions import InvalidInputError

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("coldkit_gpt2", reason="the gpt2 plugin is not installed (pip install ./plugins/coldkit-gpt2)")

TEXTS = [
    "a basketball game",
    "x",
    "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    "a violin concerto in the evening",
    "Ünïcödé — naïve café",
]


def reference(model_dir: Path, texts: list[str], pooling: str) -> np.ndarray:
    """Each text alone through GPT2Model (no padding at all), pooled and normalised in numpy."""
    import torch
    from transformers import GPT2Model, GPT2Tokenizer

    tokenizer = GPT2Tokenizer.from_pretrained(str(model_dir))
    model = GPT2Model.from_pretrained(str(model_dir)).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            hidden = model(input_ids=ids).last_hidden_state[0].numpy()
            rows.append(hidden[-1] if pooling == "last" else hidden.mean(axis=0))
    out = np.stack(rows)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_get_encoder_loads_a_saved_model(tiny_gpt2_dir: Path) -> None:
    from coldkit_gpt2.encoder import GPT2Encoder

    encoder = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, device="cpu", threads=1)
    assert isinstance(encoder, GPT2Encoder) and isinstance(encoder, coldkit.Encoder)
    assert (encoder.dim, encoder.pooling, encoder.max_length) == (32, "last", 64)
    assert encoder.tokenizer.pad_token == encoder.tokenizer.eos_token  # GPT-2 has none; we set it


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padded_batches_match_unpadded_reference(tiny_gpt2_dir: Path, pooling: str, padding_side: str) -> None:
    encoder = coldkit.get_encoder(
        "gpt2", model=tiny_gpt2_dir, pooling=pooling, padding_side=padding_side, device="cpu", threads=1
    )
    got = encoder.encode_texts(TEXTS)  # one batch, padded to the longest text
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, reference(tiny_gpt2_dir, TEXTS, pooling), atol=2e-5)


def test_last_and_mean_pooling_differ(tiny_gpt2_dir: Path) -> None:
    last = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, pooling="last", device="cpu")
    mean = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, pooling="mean", device="cpu")
    assert np.abs(last.encode_texts(TEXTS[:1]) - mean.encode_texts(TEXTS[:1])).max() > 1e-3
    assert last.fingerprint != mean.fingerprint


def test_text_longer_than_the_context_is_truncated(tiny_gpt2_dir: Path) -> None:
    encoder = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, pooling="mean", device="cpu", threads=1)
    long_text = " ".join(f"word{i}" for i in range(200))  # far beyond n_positions=64
    a, b = encoder.encode_texts([long_text, long_text + " and a tail that is cut off"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)


def test_empty_and_bad_texts(tiny_gpt2_dir: Path) -> None:
    encoder = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, device="cpu", threads=1)
    got = encoder.encode_texts(["", "hello", "  "])
    assert not got[0].any() and not got[2].any() and got[1].any()
    with pytest.raises(InvalidInputError, match="text 2"):
        encoder.encode_texts(["a", "b", None])


@pytest.mark.parametrize("options, match", [
    ({"pooling": "cls"}, "unknown pooling 'cls'"),
    ({"padding_side": "middle"}, "padding_side"),
    ({"max_length": 1000}, "exceeds the model's limit"),
])
def test_bad_options_are_refused(tiny_gpt2_dir: Path, options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, **options)


def test_directory_without_weights_is_refused(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-weights"
    shutil.copytree(tiny_gpt2_dir, target, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(InvalidInputError, match="has no weights"):
        coldkit.get_encoder("gpt2", model=target)


def test_remote_code_is_refused_unless_trusted(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "remote"
    shutil.copytree(tiny_gpt2_dir, target)
    config = json.loads((target / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        coldkit.get_encoder("gpt2", model=target)


def test_default_hub_model_offline_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    # huggingface_hub reads its cache location at import time
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(InvalidInputError, match="HF_HUB_OFFLINE=1"):
        coldkit.get_encoder("gpt2")  # default model "gpt2" is not in the (empty) cache


def test_reduced_precision_stays_close_to_fp32(tiny_gpt2_dir: Path) -> None:
    texts = ["a basketball game", "Toy Story (1995). Adventure|Animation", "a violin concerto in D"]
    reference = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, device="cpu", threads=1)
    fast = coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, device="cpu", threads=1, precision="bf16")
    cosine = (fast.encode_texts(texts) * reference.encode_texts(texts)).sum(axis=1)
    assert cosine.min() >= 0.99, cosine
    assert fast.fingerprint != reference.fingerprint


def test_int8_is_refused_for_gpt2(tiny_gpt2_dir: Path) -> None:
    # dynamic int8 quantises nn.Linear layers; GPT-2's are Conv1D: the "int8" vectors were fp32's, bit for
    # bit, under another cache key
    with pytest.raises(InvalidInputError, match=r"precision='int8' quantises the model's nn.Linear layers and GPT2Model has none"):
        coldkit.get_encoder("gpt2", model=tiny_gpt2_dir, device="cpu", threads=1, precision="int8")


@pytest.mark.parametrize(
    ("config_class", "model_class", "sizes", "model_type"),
    [
        ("BertConfig", "BertModel", {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}, "bert"),
        ("DistilBertConfig", "DistilBertModel", {"dim": 32, "n_layers": 1, "n_heads": 2, "hidden_dim": 64}, "distilbert"),
        ("RobertaConfig", "RobertaModel", {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}, "roberta"),
    ],
)
def test_a_bert_family_model_is_refused(tiny_gpt2_dir: Path, tmp_path: Path, config_class: str, model_class: str, sizes: dict, model_type: str) -> None:
    # a BERT folder loaded and was last-token pooled without a word: the "summary" token of a model
    # that never learnt to summarise left to right
    import transformers

    folder = tmp_path / model_type
    config = getattr(transformers, config_class)(vocab_size=50257, **sizes)
    getattr(transformers, model_class)(config).save_pretrained(folder)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if (tiny_gpt2_dir / name).is_file():
            shutil.copy(tiny_gpt2_dir / name, folder / name)
    with pytest.raises(InvalidInputError, match=rf"gpt2: the model in .* is a '{model_type}' model \({model_class}\), a bidirectional "
                                                r"encoder .* use the bert encoder for it"):
        coldkit.get_encoder("gpt2", model=folder, device="cpu", threads=1)


def test_other_causal_models_still_load(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    from transformers import GPTNeoConfig, GPTNeoModel

    folder = tmp_path / "gpt-neo"
    GPTNeoModel(GPTNeoConfig(vocab_size=50257, hidden_size=32, num_layers=2, num_heads=2, attention_types=[[["global"], 2]],
                             max_position_embeddings=64)).save_pretrained(folder)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if (tiny_gpt2_dir / name).is_file():
            shutil.copy(tiny_gpt2_dir / name, folder / name)
    encoder = coldkit.get_encoder("gpt2", model=folder, device="cpu", threads=1)
    assert encoder.encode_texts(["a basketball game"]).shape == (1, 32)


def test_a_model_folder_replaced_after_loading_is_not_cached_under_the_new_hash(tmp_path: Path, tiny_gpt2_builder: Any) -> None:
    """The files' hash was read at the first encode_catalog, not at load: a folder retrained in between gave
    the old weights' vectors the new files' key, and every later process loading the new model read them."""
    from coldkit.encoding import encode_catalog

    build_tiny_gpt2 = tiny_gpt2_builder

    folder = build_tiny_gpt2(tmp_path / "model", seed=0)
    loaded = coldkit.get_encoder("gpt2", model=str(folder))
    shutil.rmtree(folder)
    build_tiny_gpt2(folder, seed=1)  # retrained into the same folder
    texts = ["a quiet space opera", "whales of the deep sea"]
    with pytest.raises(InvalidInputError, match="the model files in .* changed after this encoder loaded them"):
        encode_catalog(texts, loaded, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))  # nothing stored
    fresh = coldkit.get_encoder("gpt2", model=str(folder))  # loaded again: the files it holds
    cached = encode_catalog(texts, fresh, cache_dir=tmp_path / "cache")
    np.testing.assert_allclose(cached, fresh.encode_texts(texts), atol=1e-6)
    unchanged = coldkit.get_encoder("gpt2", model=str(folder))
    assert unchanged.fingerprint == fresh.fingerprint  # files untouched since: the same key, no error


def test_a_text_of_invisible_characters_is_no_text(tiny_gpt2_dir: Path) -> None:
    """GPT-2's byte-level BPE keeps a zero-width space, NUL or byte-order mark as tokens: every such text got one
    shared vector (BERT's tokenizer drops them: a zero row, as for an empty text)."""
    encoder = coldkit.get_encoder("gpt2", model=str(tiny_gpt2_dir))
    vectors = encoder.encode_texts(["\u200b", "\x00", "\ufeff", " \u200b\t", "a\u200b", "space opera"])
    assert not vectors[:4].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[4:], axis=1), 1.0, rtol=1e-5)  # a visible character is text
