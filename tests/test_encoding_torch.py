"""coldkit.encoding_torch: pooling against numpy, option checks, model-directory checks, fingerprints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coldkit.exceptions import InvalidInputError

torch = pytest.importorskip("torch")

from coldkit.encoding_torch import (  # noqa: E402 - after the torch skip
    available_cpus,
    batch_workers,
    check_pooling,
    check_remote_code,
    configure_threads,
    fingerprint_files,
    pool,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
)


def _batch(padding_side: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(1)
    lengths = [5, 2, 3]
    hidden = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.zeros((3, 5), dtype=np.int64)
    for row, n in enumerate(lengths):
        if padding_side == "right":
            mask[row, :n] = 1
        else:
            mask[row, 5 - n :] = 1
    return hidden, mask, lengths


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_mean_and_last_pooling_match_numpy(padding_side: str) -> None:
    hidden, mask, _ = _batch(padding_side)
    real = [hidden[r][mask[r] == 1] for r in range(3)]
    mean = pool(torch.from_numpy(hidden), torch.from_numpy(mask), "mean").numpy()
    last = pool(torch.from_numpy(hidden), torch.from_numpy(mask), "last").numpy()
    np.testing.assert_allclose(mean, np.stack([r.mean(axis=0) for r in real]), rtol=1e-6)
    np.testing.assert_allclose(last, np.stack([r[-1] for r in real]), rtol=1e-6)


def test_cls_pooling_is_the_first_position() -> None:
    hidden, mask, _ = _batch("right")
    np.testing.assert_array_equal(pool(torch.from_numpy(hidden), torch.from_numpy(mask), "cls").numpy(), hidden[:, 0])


def test_unknown_pooling_names_the_choices() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown pooling 'max'.*'mean'"):
        check_pooling("max")
    with pytest.raises(InvalidInputError, match="unknown pooling"):
        pool(torch.zeros(1, 1, 1), torch.ones(1, 1), "max")


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError, match="unknown device"):
        resolve_device("gpu")
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(InvalidInputError, match="not supported on CPU"):
        resolve_dtype("float16", cpu)
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        resolve_dtype("float64", cpu)


def test_thread_default_never_oversubscribes() -> None:
    code = (
        "import torch; from coldkit.encoding_torch import configure_threads, available_cpus;"
        "torch.set_num_threads(64); print(configure_threads(), available_cpus(), torch.get_num_threads())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    chosen, cpus, actual = map(int, out.stdout.split())
    assert chosen == actual == min(64, cpus) and cpus <= (os.cpu_count() or cpus)
    with pytest.raises(InvalidInputError, match="threads"):
        configure_threads(0)
    assert 1 <= available_cpus()


def test_batch_workers_one_per_thread_on_the_cpu_only() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert batch_workers(cpu, 2, 10) == 2 and batch_workers(cpu, 8, 3) == 3  # never more than the batches
    assert batch_workers(cpu, 4, 1) == 1 and batch_workers(cpu, None, 10) == 1
    assert batch_workers(gpu, 8, 10) == 1  # a GPU takes one batch at a time
    assert batch_workers(cpu, 64, 100) == 8  # capped: every batch in flight holds its own activations


def _wait_policy_after(code: str, **env_extra: str) -> str:
    """``OMP_WAIT_POLICY`` as a fresh interpreter sees it after running ``code`` (no OpenMP settings inherited)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY', '-'))"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return out.stdout.split()[-1]


def test_openmp_waits_passively_unless_the_user_chose() -> None:
    # importing the helpers (as every torch encoder plugin does before torch) sets PASSIVE ...
    assert _wait_policy_after("import coldkit.encoding_torch") == "PASSIVE"
    # ... and only then: the user's own choice stays, and once an OpenMP runtime is loaded it is too late
    assert _wait_policy_after("import coldkit.encoding_torch", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _wait_policy_after("import coldkit.encoding_torch", GOMP_SPINCOUNT="1000") == "-"
    assert _wait_policy_after("import torch; torch.ones(2).sum(); import coldkit.encoding_torch") == "-"


def _fake_model(directory: Path, *, weights: bool = True, config: dict | None = None) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config or {"model_type": "bert"}))
    if weights:
        (directory / "model.safetensors").write_bytes(b"\x00" * 64)
    return directory


def test_model_directory_checks(tmp_path: Path) -> None:
    good = _fake_model(tmp_path / "good")
    assert resolve_model_dir(good) == good
    with pytest.raises(InvalidInputError, match="has no weights"):
        resolve_model_dir(_fake_model(tmp_path / "empty", weights=False))
    with pytest.raises(InvalidInputError, match="does not exist"):
        resolve_model_dir(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match=f"'{good / 'model.safetensors'}' is a file; model= takes the model's directory \\(e.g. '{good}'\\)"):
        resolve_model_dir(good / "model.safetensors")
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(InvalidInputError, match="no config.json"):
        resolve_model_dir(tmp_path / "not-a-model")


def test_hub_name_offline_not_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(InvalidInputError, match="HF_HUB_OFFLINE=1"):
        resolve_model_dir("someone/some-model-that-is-not-cached")


def test_remote_code_refusal(tmp_path: Path) -> None:
    model = _fake_model(tmp_path / "m", config={"auto_map": {"AutoModel": "x.Y"}})
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        check_remote_code(model, False)
    check_remote_code(model, True)  # the user opted in
    # "false" (a JSON string in --encoder-options) is truthy and used to count as opting in
    for text in ("false", "no", 0):
        with pytest.raises(InvalidInputError, match=f"trust_remote_code must be True or False, got {text!r}"):
            check_remote_code(model, text)  # type: ignore[arg-type]
    check_remote_code(_fake_model(tmp_path / "plain"), False)


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    a = _fake_model(tmp_path / "a")
    (a / "README.md").write_text("docs do not change vectors")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "README.md").write_text("other docs")
    assert fingerprint_files(a) == fingerprint_files(b)
    (b / "model.safetensors").write_bytes(b"\x01" * 64)
    assert fingerprint_files(a) != fingerprint_files(b)


def test_plan_batches_covers_everything_and_wastes_less_padding_than_sorting() -> None:
    from coldkit.encoding_torch import plan_batches

    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 20, size=2000).tolist()
    batches = plan_batches(lengths, 16)
    assert sorted(i for b in batches for i in b) == list(range(2000))
    assert max(len(b) for b in batches) <= 16

    def padding(bs: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in bs)

    by_sort = sorted(range(2000), key=lambda i: -lengths[i])
    sorted_batches = [by_sort[i : i + 16] for i in range(0, 2000, 16)]
    assert padding(batches) <= padding(sorted_batches)
    uniform = [b for b in batches if len({lengths[i] for i in b}) == 1]
    assert sum(map(len, uniform)) >= 0.8 * 2000  # most texts sit in batches with no padding at all
    assert plan_batches([], 4) == []


@pytest.mark.parametrize(
    ("config", "family"),
    [
        ({"model_type": "bert", "architectures": ["BertModel"]}, "encoder"),
        ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "encoder"),
        ({"model_type": "distilbert"}, "encoder"),
        ({"model_type": "roberta"}, "encoder"),
        ({"model_type": "xlm-roberta"}, "encoder"),
        ({"model_type": "mpnet", "architectures": ["MPNetForMaskedLM"]}, "encoder"),
        ({"model_type": "electra"}, "encoder"),
        ({"model_type": "deberta"}, "encoder"),
        ({"model_type": "deberta-v2"}, "encoder"),
        ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, "decoder"),
        ({"model_type": "gpt_neo"}, "decoder"),
        ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, "decoder"),
        ({"model_type": "qwen2"}, "decoder"),
        ({"model_type": "t5"}, "encoder-decoder"),
        ({"model_type": "bart"}, "encoder-decoder"),
        ({"architectures": ["GPT2LMHeadModel"]}, "decoder"),  # an old config: the class names tell
        ({"model_type": "xlnet"}, None),  # causal head, bidirectional body: either encoder may read it
        ({"model_type": "my_custom_bert", "auto_map": {"AutoModel": "m.M"}}, None),  # custom code: not judged
        ({}, None),
    ],
)
def test_text_model_family_from_config(tmp_path: Path, config: dict, family: str | None) -> None:
    from coldkit.encoding_torch import text_model_family

    (tmp_path / "config.json").write_text(json.dumps(config))
    assert text_model_family(tmp_path)[0] == family


def test_a_model_of_the_other_family_is_refused_naming_what_was_found_and_the_encoder_to_use(tmp_path: Path) -> None:
    from coldkit.encoding_torch import check_text_family

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(InvalidInputError, match=r"bert: .* is a 'gpt2' model \(GPT2LMHeadModel\), a causal .* use the gpt2 encoder"):
        check_text_family(tmp_path, "encoder", what="bert")
    check_text_family(tmp_path, "decoder", what="gpt2")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    for family, what in (("encoder", "bert"), ("decoder", "gpt2")):
        with pytest.raises(InvalidInputError, match=rf"{what}: .* 't5' model, an encoder-decoder .* neither the bert nor the gpt2"):
            check_text_family(tmp_path, family, what=what)
