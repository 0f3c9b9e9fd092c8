"""coldkit-bert against sentence-transformers (the reference implementation) and the encoder contract."""

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
pytest.importorskip("coldkit_bert", reason="the bert plugin is not installed (pip install ./plugins/coldkit-bert)")

TEXTS = [
    "basketball game",
    "basketball jersey",
    "violin concerto",
    "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    "A much longer description of a film about a family of toys that come alive when nobody is looking, "
    "with jealousy, friendship and a daring rescue from the house of the boy next door.",
    "Ünïcödé — naïve café, 東京",
    "x",
]


def test_get_encoder_finds_the_offline_default_model(bert: Any, minilm_dir: Path) -> None:
    from coldkit_bert.encoder import BertEncoder

    assert isinstance(bert, BertEncoder) and isinstance(bert, coldkit.Encoder)
    assert bert.model_dir == minilm_dir
    assert (bert.dim, bert.pooling, bert.max_length) == (384, "mean", 256)
    assert bert.modalities == frozenset({"text"})


def test_matches_sentence_transformers(bert: Any, minilm_dir: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    long_text = "word " * 600  # beyond max_seq_length=256: both truncate
    texts = TEXTS + [long_text]
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = bert.encode_texts(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), 384) and got.flags.c_contiguous
    cosine = (got * expected).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine


def test_semantics_basketball(bert: Any) -> None:
    game, jersey, violin = bert.encode_texts(["basketball game", "basketball jersey", "violin concerto"])
    assert game @ jersey > game @ violin + 0.2


def test_batching_does_not_change_vectors(bert: Any) -> None:
    from coldkit_bert.encoder import BertEncoder

    one_by_one = np.concatenate([bert.encode_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(bert.encode_texts(TEXTS), one_by_one, atol=2e-6)


def test_openmp_wait_policy_does_not_change_vectors(minilm_dir: Path) -> None:
    """The PASSIVE wait policy coldkit sets before torch loads (prefer_passive_openmp) changes timing only:
    two threads, bf16 and fp32, give the same bits under PASSIVE (coldkit's default) and ACTIVE."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, json, os, numpy as np, coldkit;"
        "texts = json.loads(sys.argv[1]);"
        "out = [coldkit.get_encoder('bert', threads=2, precision=p).encode_texts(texts) for p in ('fp32', 'bf16')];"
        "sys.stdout.write(os.environ['OMP_WAIT_POLICY'] + ' ' + np.concatenate(out).tobytes().hex())"
    )
    runs = {}
    for policy in (None, "ACTIVE"):
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(TEXTS * 5)], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        runs[out[0]] = out[1]
    assert set(runs) == {"PASSIVE", "ACTIVE"}
    assert runs["PASSIVE"] == runs["ACTIVE"]


def test_cls_pooling_matches_a_direct_transformers_reference(minilm_dir: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    encoder = coldkit.get_encoder("bert", pooling="cls", device="cpu", threads=1, precision="fp32")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    model = AutoModel.from_pretrained(str(minilm_dir)).eval()
    with torch.no_grad():
        batch = tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
        cls = model(**batch).last_hidden_state[:, 0].numpy()
    expected = cls / np.linalg.norm(cls, axis=1, keepdims=True)
    np.testing.assert_allclose(encoder.encode_texts(TEXTS[:3]), expected, atol=1e-5)
    assert encoder.fingerprint != coldkit.get_encoder("bert", device="cpu").fingerprint


def test_empty_and_whitespace_texts_give_zero_rows(bert: Any) -> None:
    got = bert.encode_texts(["", "   ", "violin concerto", "\n\t"])
    assert not got[[0, 1, 3]].any()
    assert np.linalg.norm(got[2]) == pytest.approx(1.0, abs=1e-5)
    assert bert.encode_texts([]).shape == (0, 384)


@pytest.mark.parametrize("bad", [None, 3.5, ["nested"]])
def test_non_string_texts_are_named(bert: Any, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="text 1"):
        bert.encode_texts(["fine", bad])


def test_long_text_is_truncated_to_max_length(minilm_dir: Path) -> None:
    short = coldkit.get_encoder("bert", max_length=8, device="cpu", threads=1, precision="fp32")
    base = "one two three four five six seven eight nine ten"
    a, b = short.encode_texts([base, base + " and many more words after the cut"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(InvalidInputError, match="exceeds the model's limit"):
        coldkit.get_encoder("bert", max_length=100_000)


def test_unknown_pooling_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown pooling 'max'"):
        coldkit.get_encoder("bert", pooling="max")


def _copy_model(src: Path, dst: Path, *, weights: bool = True) -> Path:
    shutil.copytree(src, dst, ignore=None if weights else shutil.ignore_patterns("*.safetensors", "*.bin"))
    return dst


def test_model_directory_without_weights_is_refused(minilm_dir: Path, tmp_path: Path) -> None:
    empty = _copy_model(minilm_dir, tmp_path / "no-weights", weights=False)
    with pytest.raises(InvalidInputError, match="has no weights"):
        coldkit.get_encoder("bert", model=empty)


def test_missing_model_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        coldkit.get_encoder("bert", model=tmp_path / "nowhere")


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("1_Pooling/config.json", "{broken", r"unreadable .*1_Pooling/config.json"),  # was a bare JSONDecodeError
        ("sentence_bert_config.json", "[256]", "must hold a JSON object, got list"),  # was AttributeError: .get
        ("sentence_bert_config.json", '{"max_seq_length": "long"}', "has max_seq_length 'long'"),  # int("long")
    ],
)
def test_damaged_sentence_transformers_files_are_named(minilm_dir: Path, tmp_path: Path, file: str, text: str, message: str) -> None:
    model = _copy_model(minilm_dir, tmp_path / "damaged")
    (model / file).write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        coldkit.get_encoder("bert", model=model)


def test_truncated_weights_are_named(minilm_dir: Path, tmp_path: Path) -> None:
    # a half-copied model.safetensors raised safetensors' own SafetensorError as a bare traceback
    model = _copy_model(minilm_dir, tmp_path / "truncated")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(InvalidInputError, match=r"bert: cannot load AutoModel from .*truncated.*: Error while deserializing header"):
        coldkit.get_encoder("bert", model=model)


def test_model_needing_remote_code_is_refused_unless_trusted(minilm_dir: Path, tmp_path: Path) -> None:
    model = _copy_model(minilm_dir, tmp_path / "remote")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        coldkit.get_encoder("bert", model=model)


def test_fingerprint_depends_on_content_not_location(bert: Any, minilm_dir: Path, tmp_path: Path) -> None:
    copy = _copy_model(minilm_dir, tmp_path / "copy")
    same = coldkit.get_encoder("bert", model=copy, device="cpu", threads=1, precision="fp32")
    assert same.fingerprint == bert.fingerprint
    assert coldkit.get_encoder("bert", max_length=64, device="cpu").fingerprint != bert.fingerprint


def test_device_and_dtype_options_are_checked() -> None:
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="CUDA is not available"):
            coldkit.get_encoder("bert", device="cuda")
    with pytest.raises(InvalidInputError, match="unknown device"):
        coldkit.get_encoder("bert", device="tpu")
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        coldkit.get_encoder("bert", dtype="int8")
    with pytest.raises(InvalidInputError, match="batch_size"):
        coldkit.get_encoder("bert", batch_size=0)


def test_bfloat16_on_cpu_stays_close(bert: Any) -> None:
    low = coldkit.get_encoder("bert", dtype="bfloat16", device="cpu", threads=1)
    cosine = (low.encode_texts(TEXTS) * bert.encode_texts(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.98
    assert low.fingerprint != bert.fingerprint


def test_threads_option_sets_torch_threads() -> None:
    import torch

    coldkit.get_encoder("bert", threads=1, device="cpu")
    assert torch.get_num_threads() == 1


def test_encode_catalog_with_bert_uses_the_cache(bert: Any, tmp_path: Path) -> None:
    first = encode_catalog(TEXTS, bert, cache_dir=tmp_path)
    np.testing.assert_allclose(first, bert.encode_texts(TEXTS), atol=2e-6)

    class NoEncoding:
        """The same encoder identity, but any call to encode means the cache missed."""

        name, dim, modalities, fingerprint = bert.name, bert.dim, bert.modalities, bert.fingerprint

        def encode_texts(self, texts: Any) -> np.ndarray:
            raise AssertionError(f"cache miss for {list(texts)}")

    np.testing.assert_array_equal(encode_catalog(TEXTS, NoEncoding(), cache_dir=tmp_path), first)


def test_default_precision_is_bf16_only_where_bf16_hardware_is_measured_faster(bert: Any, minilm_dir: Path) -> None:
    from coldkit.encoding_torch import bf16_measured_faster, cpu_supports_bf16

    default = coldkit.get_encoder("bert", device="cpu", threads=1)
    assert default.precision == ("bf16" if cpu_supports_bf16() and bf16_measured_faster() else "fp32")
    # either way the vectors stay those of sentence-transformers' fp32 encode (cosine >= 0.9999)
    st = pytest.importorskip("sentence_transformers")
    expected = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS, normalize_embeddings=True)
    cosine = (default.encode_texts(TEXTS) * expected).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batches_side_by_side_match_one_at_a_time(precision: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU a batch per thread (each on one torch thread) gives one-batch-at-a-time's vectors:
    autocast and inference mode are per thread, so a worker that missed bf16 would differ by ~1e-3.
    torch's thread count is restored afterwards."""
    import threading

    import torch

    import coldkit.encoding_torch as et

    encoder = coldkit.get_encoder("bert", threads=2, device="cpu", batch_size=2, precision=precision)
    texts = TEXTS * 3
    ran_on: set[int] = set()
    embed = encoder._embed_batch

    def recording(*args: Any) -> Any:
        ran_on.add(threading.get_ident())
        assert torch.get_num_threads() == 1  # each batch on one thread
        return embed(*args)

    monkeypatch.setattr(encoder, "_embed_batch", recording)
    side_by_side = encoder.encode_texts(texts)
    assert len(ran_on) == 2 and threading.get_ident() not in ran_on
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(encoder, "_embed_batch", embed)
    monkeypatch.setattr(et, "batch_workers", lambda *args: 1)
    one_at_a_time = encoder.encode_texts(texts)
    np.testing.assert_allclose(side_by_side, one_at_a_time, atol=1e-6 if precision == "fp32" else 2e-3)
    if precision == "bf16":  # and both really ran in bf16
        fp32 = coldkit.get_encoder("bert", threads=2, device="cpu", batch_size=2, precision="fp32").encode_texts(texts)
        assert np.abs(side_by_side - fp32).max() > 1e-4


def test_long_batches_keep_torchs_threads_and_short_ones_run_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches wider than SIDE_BY_SIDE_MAX_TOKENS run one at a time on torch's threads (their own
    activations are large), the short ones side by side; the vectors are those of one at a time."""
    import threading

    import torch

    import coldkit.encoding_torch as et

    encoder = coldkit.get_encoder("bert", threads=2, device="cpu", batch_size=2, precision="fp32")
    texts = ["word " * 40, "word " * 41, "word " * 39, "word " * 42] + TEXTS[:4]  # 4 long (> 32 tokens), 4 short
    monkeypatch.setattr(et, "SIDE_BY_SIDE_MAX_TOKENS", 32)
    seen: list[tuple[int, int, int]] = []  # (width, thread, torch threads)
    embed = encoder._embed_batch

    def recording(input_ids: Any, attention_mask: Any) -> Any:
        seen.append((int(input_ids.shape[1]), threading.get_ident(), torch.get_num_threads()))
        return embed(input_ids, attention_mask)

    monkeypatch.setattr(encoder, "_embed_batch", recording)
    mixed = encoder.encode_texts(texts)
    main = threading.get_ident()
    assert {(t, n) for w, t, n in seen if w > 32} == {(main, 2)}  # long: the caller's thread, 2 torch threads
    assert {n for w, t, n in seen if w <= 32} == {1} and all(t != main for w, t, n in seen if w <= 32)
    monkeypatch.setattr(encoder, "_embed_batch", embed)
    monkeypatch.setattr(et, "batch_workers", lambda *args: 1)
    np.testing.assert_allclose(mixed, encoder.encode_texts(texts), atol=1e-6)


# ------------------------------------------------------------ model folders a user brings (Dec 4 review)


def test_weights_under_other_names_are_refused_not_drawn_at_random(minilm_dir: Path, tmp_path: Path) -> None:
    """Keys with a "model." prefix (a wrapper's state_dict) all counted as missing: transformers filled the
    model with random numbers, different at every load, under one fingerprint."""
    from safetensors.numpy import load_file, save_file

    folder = _copy_model(minilm_dir, tmp_path / "prefixed")
    weights = load_file(str(folder / "model.safetensors"))
    save_file({f"model.{k}": v for k, v in weights.items()}, str(folder / "model.safetensors"))
    with pytest.raises(InvalidInputError, match=r"has no weights for \d+ of the model's parameters"):
        coldkit.get_encoder("bert", model=folder)


def test_a_folder_without_tokenizer_files_is_refused(minilm_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(minilm_dir, tmp_path / "checkpoint-500")
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(InvalidInputError, match="has no tokenizer files"):
        coldkit.get_encoder("bert", model=folder)


def test_a_tokenizer_larger_than_the_embedding_table_is_refused(minilm_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(minilm_dir, tmp_path / "small-table")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 1000}))
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(folder / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    save_file({**weights, key: weights[key][:1000]}, str(folder / "model.safetensors"))
    with pytest.raises(InvalidInputError, match=r"tokenizer .* has 30,522 tokens but the model's embedding table 1,000"):
        coldkit.get_encoder("bert", model=folder)


def test_pooling_modes_and_modules_the_encoder_does_not_have_are_refused(minilm_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(minilm_dir, tmp_path / "max-pooling")
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}))
    with pytest.raises(InvalidInputError, match="pooling_mode_max_tokens.*mean or cls only"):
        coldkit.get_encoder("bert", model=folder)
    assert coldkit.get_encoder("bert", model=folder, pooling="mean").pooling == "mean"  # chosen knowingly
    dense = _copy_model(minilm_dir, tmp_path / "dense")
    modules = json.loads((dense / "modules.json").read_text())
    modules.append({"idx": len(modules), "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InvalidInputError, match="sentence_transformers.models.Dense"):
        coldkit.get_encoder("bert", model=dense)


def test_texts_of_characters_the_tokenizer_drops_are_empty(bert: Any) -> None:
    """NUL, a zero-width space, a byte-order mark: [CLS] [SEP] alone gave them all one shared unit vector."""
    vectors = bert.encode_texts(["\x00", "\u200b", "\ufeff", "\x01\x02", "a basketball game", "\u200bbasketball"])
    assert not vectors[:4].any()
    assert np.allclose(np.linalg.norm(vectors[4:], axis=1), 1.0)


def test_an_overwritten_weights_file_does_not_change_a_loaded_encoder(minilm_dir: Path, tmp_path: Path) -> None:
    """cp over model.safetensors (same inode) changed a loaded encoder's vectors under its old fingerprint."""
    from coldkit.encoding_torch import fingerprint_files
    from safetensors.numpy import load_file, save_file

    folder = _copy_model(minilm_dir, tmp_path / "live")
    encoder = coldkit.get_encoder("bert", model=folder, device="cpu", threads=1, precision="fp32")
    before, files_before = encoder.encode_texts(TEXTS), fingerprint_files(folder)
    weights = load_file(str(folder / "model.safetensors"))
    other = tmp_path / "other.safetensors"
    save_file({k: (v * 0.5).astype(v.dtype) for k, v in weights.items()}, str(other))
    stat = (folder / "model.safetensors").stat()
    shutil.copyfile(other, folder / "model.safetensors")  # in place: the same inode
    import os

    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p would
    np.testing.assert_array_equal(encoder.encode_texts(TEXTS), before)  # the loaded model is its own
    assert fingerprint_files(folder) != files_before  # same size and mtime: still another model for the cache


def test_an_mpnet_folder_keeps_to_its_position_table(minilm_dir: Path, tmp_path: Path) -> None:
    """MPNet offsets positions like RoBERTa: max_length was the table's size, and a long text a bare IndexError."""
    from transformers import MPNetConfig, MPNetModel

    folder = tmp_path / "mpnet"
    config = MPNetConfig(vocab_size=30527, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=34)
    MPNetModel(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, folder / name)
    encoder = coldkit.get_encoder("bert", model=folder, device="cpu", threads=1, precision="fp32")
    assert encoder.max_length == 32
    assert np.isclose(np.linalg.norm(encoder.encode_texts(["word " * 200])[0]), 1.0)


def _tiny_with_minilm_tokenizer(folder: Path, minilm_dir: Path, config_class: str, model_class: str, **sizes: Any) -> Path:
    """A random-init model of ``model_class`` saved with save_pretrained, with MiniLM's tokenizer files beside it."""
    import transformers

    config = getattr(transformers, config_class)(vocab_size=30522, **sizes)
    getattr(transformers, model_class)(config).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, folder / name)
    return folder


_SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.mark.parametrize(
    ("config_class", "model_class", "sizes"),
    [
        ("BertConfig", "BertModel", _SMALL),
        ("DistilBertConfig", "DistilBertModel", {"dim": 32, "n_layers": 1, "n_heads": 2, "hidden_dim": 64}),
        ("RobertaConfig", "RobertaModel", _SMALL),
        ("XLMRobertaConfig", "XLMRobertaModel", _SMALL),
        ("ElectraConfig", "ElectraModel", {**_SMALL, "embedding_size": 32}),
        ("DebertaV2Config", "DebertaV2Model", _SMALL),
    ],
)
def test_bert_family_models_load(minilm_dir: Path, tmp_path: Path, config_class: str, model_class: str, sizes: dict) -> None:
    folder = _tiny_with_minilm_tokenizer(tmp_path / model_class, minilm_dir, config_class, model_class, **sizes)
    encoder = coldkit.get_encoder("bert", model=folder, device="cpu", threads=1, precision="fp32")
    assert encoder.encode_texts(["a basketball game"]).shape == (1, 32)


@pytest.mark.parametrize(
    ("config_class", "model_class", "sizes", "message"),
    [
        # GPT-2 loaded and was mean-pooled without a word: vectors of a left-to-right model, named bert
        ("GPT2Config", "GPT2Model", {"n_embd": 32, "n_layer": 1, "n_head": 2},
         r"is a 'gpt2' model \(GPT2Model\), a causal .* use the gpt2 encoder for it"),
        ("LlamaConfig", "LlamaForCausalLM", {**_SMALL, "num_key_value_heads": 2},
         r"is a 'llama' model \(LlamaForCausalLM\), a causal .* use the gpt2 encoder for it"),
        ("T5Config", "T5Model", {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_heads": 2},
         r"is a 't5' model \(T5Model\), an encoder-decoder .* neither the bert nor the gpt2 encoder runs it"),
    ],
)
def test_a_model_of_another_family_is_refused(
    minilm_dir: Path, tmp_path: Path, config_class: str, model_class: str, sizes: dict, message: str
) -> None:
    folder = _tiny_with_minilm_tokenizer(tmp_path / model_class, minilm_dir, config_class, model_class, **sizes)
    with pytest.raises(InvalidInputError, match="bert: the model in .*" + message):
        coldkit.get_encoder("bert", model=folder, device="cpu", threads=1, precision="fp32")


def test_texts_tokenised_in_chunks_encode_and_count_as_in_one_call(bert: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue is tokenised a chunk at a time (a whole one at once took +3.2 GB at 30k long texts):
    the chunk boundaries change no vector and no count, blanks and dropped-character texts included."""
    import coldkit.encoding_torch as encoding_torch

    texts = ["a basketball game", "", "\u200b", "a violin concerto " * 60, "jazz", "\x00", "word " * 300, "a b c"] * 3
    whole_vectors, whole_counts = bert.encode_texts(texts), bert.token_counts(texts)
    monkeypatch.setattr(encoding_torch, "TOKENIZE_CHUNK", 2)
    np.testing.assert_array_equal(bert.encode_texts(texts), whole_vectors)
    np.testing.assert_array_equal(bert.token_counts(texts), whole_counts)
    assert not whole_vectors[[1, 2, 5]].any() and whole_counts[6] > bert.max_length  # blanks stay zero, counts untruncated
    # the reference: the tokenizer's own count of one text at a time
    assert whole_counts.tolist() == [len(bert.tokenizer(t, verbose=False)["input_ids"]) for t in texts]
