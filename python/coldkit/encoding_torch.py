"""Torch helpers shared by coldkit's neural encoder plugins (``coldkit-bert``, ``-gpt2``, ``-clip``).

Why here and not in one of the plugins: the three plugins need the same pooling, device/dtype/
thread resolution, model-directory checks, ``trust_remote_code`` refusal and length-bucketed
batching. Copying that three times would let the copies drift; making ``coldkit-clip`` depend on
``coldkit-bert`` would couple unrelated release cycles and install a text model nobody asked
for. So the helpers live in core as a public, documented module that *imports torch and
transformers lazily, inside functions*: ``import coldkit.encoding_torch`` costs nothing and works
without torch, and core's own tests do not need torch.

The main piece is :class:`TorchTextEncoder`: a plugin subclasses it, loads its model and tokenizer,
and implements :meth:`TorchTextEncoder._embed_batch`; tokenising, bucketing by token length,
padding (left or right), ``inference_mode``, normalisation and the encoder contract of
:mod:`coldkit.encoding` (zero rows for empty texts, errors naming bad items) come from here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterator, Mapping, Sequence

import numpy as np

from coldkit.encoding import check_texts
from coldkit.exceptions import InvalidInputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "POOLINGS",
    "DTYPES",
    "PRECISIONS",
    "WEIGHT_FILES",
    "TorchTextEncoder",
    "available_cpus",
    "batch_workers",
    "check_pooling",
    "apply_precision",
    "check_model_type",
    "check_text_model",
    "check_text_family",
    "text_model_family",
    "check_remote_code",
    "configure_threads",
    "cpu_supports_bf16",
    "fingerprint_files",
    "get_output_tensor",
    "load_pretrained",
    "model_attention_mask",
    "one_thread_per_op",
    "plan_batches",
    "pool",
    "precision_context",
    "prefer_passive_openmp",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_dir",
    "resolve_precision",
]

POOLINGS = ("mean", "cls", "last")
DTYPES = ("auto", "float32", "float16", "bfloat16")
PRECISIONS = ("fp32", "bf16", "int8", "auto")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# Files that determine a model's vectors (weights, config, tokenizer); READMEs etc. do not count.
_FINGERPRINT_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model", ".bpe", ".gz")
_FINGERPRINT_SKIP = {"README.md", ".gitattributes", "data_config.json"}
_HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.model", "*.bpe"]


# --------------------------------------------------------------------------------------------
# threads, device, dtype
# --------------------------------------------------------------------------------------------


def _openmp_loaded() -> bool:
    """Whether an OpenMP runtime (libgomp, libiomp) is already mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            return any("libgomp" in line or "libiomp" in line for line in fh)
    except OSError:  # not Linux: fall back to the one library that matters here
        return "torch" in sys.modules


def prefer_passive_openmp() -> bool:
    """Let idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), unless the user chose.

    Why: torch runs its intra-op threads on OpenMP (libgomp), whose workers by default spin at
    every barrier before they sleep. A transformer forward pass has hundreds of barriers per batch,
    so on cores that other processes use too, a worker spinning for a descheduled partner burns the
    core that partner needs. Measured on this project's shared 2-core machine (load 4-6, MiniLM
    bf16, 2,000 item texts, 2 torch threads): 38-42 CPU-s and 55-71 s wall by default, 6.8-6.9
    CPU-s and 7-11 s with ``PASSIVE`` (1 thread: 5.5-6.3 CPU-s); the vectors are bit-identical.
    The cost on idle cores is a futex wake per barrier (microseconds against milliseconds of work).

    libgomp reads the variable once, when it is loaded, so this only takes effect before torch (or
    any other OpenMP library: ``implicit``, ``faiss``) is loaded; it leaves ``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT`` set by the user alone. Called when this module is imported: the encoder
    plugins import it before torch. Returns whether it set the variable.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ or _openmp_loaded():
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


prefer_passive_openmp()


def available_cpus() -> int:
    """CPUs this process may really use: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, n)


_threads_lock = threading.Lock()
#: The most torch threads :func:`configure_threads` sets per CPU this process may use (more only oversubscribe).
MAX_THREADS_PER_CPU = 4


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    ``threads=None`` never *raises* torch's count and caps it at :func:`available_cpus`, so a
    container with a 2-CPU quota on a 64-core host does not run 64 threads (torch counts the
    host's cores). ``OMP_NUM_THREADS``, which torch honours at start-up, is thereby respected.
    Note that torch's setting is process-wide.
    """
    import torch

    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise InvalidInputError(f"threads must be a positive int or None, got {threads!r}")
    if threads is not None and threads > MAX_THREADS_PER_CPU * available_cpus():
        # torch's count is process-wide: threads=10**6 left it there after a bare MemoryError, and every
        # torch encoder built after it in the process failed to start its threads
        raise InvalidInputError(
            f"threads={threads} is more than {MAX_THREADS_PER_CPU} per CPU this process may use ({available_cpus()}); "
            "give at most the CPUs to use (None: all of them)"
        )
    with _threads_lock:
        want = threads if threads is not None else min(torch.get_num_threads(), available_cpus())
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
        return want


def resolve_device(device: str | None = "auto") -> "torch.device":
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    import torch

    name = "auto" if device is None else str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device {name!r} requested but CUDA is not available; use device='cpu' or 'auto'")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise InvalidInputError(f"invalid device {name!r}: {exc}") from exc
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidInputError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise InvalidInputError(f"unknown device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")


def resolve_dtype(dtype: str | None, device: "torch.device") -> "torch.dtype":
    """Model weight dtype: ``"auto"`` is float32 on CPU and float16 on CUDA."""
    import torch

    name = "auto" if dtype is None else str(dtype).replace("torch.", "")
    if name not in DTYPES:
        raise InvalidInputError(f"unknown dtype {dtype!r}; choose one of {DTYPES}")
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name == "float16" and device.type == "cpu":
        raise InvalidInputError("dtype='float16' is not supported on CPU (slow or missing kernels); use 'bfloat16'")
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


# --------------------------------------------------------------------------------------------
# reduced-precision inference (opt-in)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware: AVX512-BF16 or AMX-BF16 (x86 Linux).

    Read from ``/proc/cpuinfo`` flags, with torch's own dispatch level (``AMX``) as a fallback
    where that file is missing. Without such hardware bf16 matmuls are emulated and slower than fp32.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    try:
        import torch

        return "AMX" in str(torch.backends.cpu.get_cpu_capability()).upper()
    except (ImportError, AttributeError):
        return False


@functools.lru_cache(maxsize=1)
def bf16_measured_faster(margin: float = 1.25) -> bool:
    """Whether bf16 autocast runs a transformer-sized block at least ``margin`` times faster than float32 here.

    The CPU flag alone is not enough: on this project's 2-core box (AVX512-BF16, no AMX) bf16 was
    2.1x faster with one torch build and 1.5x *slower* with torch 2.15 (oneDNN's bf16 path), so
    ``"auto"`` measures once per process (~0.1 s): a 512-token batch through a 384 -> 1536 -> 384
    MLP, MiniLM's own feed-forward shape, best of five in each precision, the two alternating.

    It times one torch thread by that thread's CPU clock, not the wall clock: on a busy machine
    (beside a test suite, other processes on every core) wall-clock timings swung the ratio from 3.4
    to 1.1 between runs, so a run's precision, and so its vectors and lists, depended on the load at
    start; the thread's own CPU time gave 1.9-2.0 on the same machine busy or quiet. One thread is
    also how the encoder runs on the CPU (batches side by side, one torch thread each: :func:`one_thread_per_op`).
    """
    import time

    import torch

    generator = torch.Generator().manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Linear(384, 1536), torch.nn.GELU(), torch.nn.Linear(1536, 384))
    tokens = torch.randn(512, 384, generator=generator)

    def cpu_time(bf16: bool) -> float:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            start = time.thread_time()
            block(tokens)
            return time.thread_time() - start

    with one_thread_per_op():
        cpu_time(True), cpu_time(False)  # warm-up: kernel selection and JIT happen on the first call
        bf16_times, fp32_times = [], []
        for _ in range(5):
            bf16_times.append(cpu_time(True))
            fp32_times.append(cpu_time(False))
    return min(bf16_times) * margin <= min(fp32_times)


def resolve_precision(precision: str | None, device: "torch.device", dtype: "torch.dtype") -> str:
    """The arithmetic a text encoder runs in: ``"fp32"``, ``"bf16"`` or ``"int8"``.

    * ``"fp32"``: the weights' own dtype, unchanged (the reference; the default);
    * ``"bf16"``: ``torch.autocast`` to bfloat16 — matmuls in bf16, normalisations and softmax
      in float32; fast on CPUs with AVX512-BF16 or AMX and on CUDA;
    * ``"int8"``: dynamic int8 quantisation of every ``Linear`` layer (CPU only). Faster still,
      but it moves MiniLM's vectors much more (see ``docs/encoders.md``);
    * ``"auto"``: ``"bf16"`` on a CPU with bf16 hardware and float32 weights where bf16 is
      measured faster (:func:`bf16_measured_faster`), else ``"fp32"``.

    Raises:
        InvalidInputError: an unknown name, ``"int8"`` off the CPU or with non-float32 weights.
    """
    import torch

    name = "fp32" if precision is None else str(precision).lower()
    if name not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if name == "auto":
        on_bf16_cpu = device.type == "cpu" and dtype == torch.float32 and cpu_supports_bf16()
        return "bf16" if on_bf16_cpu and bf16_measured_faster() else "fp32"
    if name == "int8":
        if device.type != "cpu":
            raise InvalidInputError("precision='int8' (dynamic quantisation) runs on the CPU only; use 'bf16' on CUDA")
        if dtype != torch.float32:
            raise InvalidInputError("precision='int8' quantises float32 weights; leave dtype at 'float32'/'auto'")
    return name


def apply_precision(model: Any, precision: str) -> Any:
    """The model to run for ``precision``: int8 swaps each ``nn.Linear`` for a dynamically quantised one
    (int8 weights with per-channel scales, activations quantised per batch); others run it as is."""
    if precision != "int8":
        return model
    import warnings

    import torch

    if not any(isinstance(module, torch.nn.Linear) for module in model.modules()):
        # GPT-2's layers are Conv1D: nothing was quantised, the vectors were fp32's, the cache keyed apart
        raise InvalidInputError(
            f"precision='int8' quantises the model's nn.Linear layers and {type(model).__name__} has none "
            "(GPT-2's are Conv1D): use precision='bf16' or 'fp32'"
        )

    with warnings.catch_warnings():  # torch >= 2.9 flags the eager API as deprecated; it still works
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        # per-output-channel scales: on MiniLM, min cosine to fp32 0.95 instead of 0.89 per tensor
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8)


#: At most this many batches side by side (each holds its own activations, and every worker runs
#: the model's Python code under the GIL): a 32-core host does not run 32 batches at once.
SIDE_BY_SIDE_MAX_WORKERS = 8
#: Batches of sequences up to this many tokens run side by side; longer ones (descriptions, 256–512
#: tokens) make matrices big enough for torch's own threads, and keep one batch's activations.
SIDE_BY_SIDE_MAX_TOKENS = 128

#: texts tokenised together (``_tokenize``, ``token_counts``): the tokenizer's encodings of a whole
#: catalogue at once cost ~100 bytes a token (+3.2 GB at 30,000 texts of 256 tokens)
TOKENIZE_CHUNK = 1024


def batch_workers(device: "torch.device", threads: int | None, batches: int) -> int:
    """How many batches a CPU encoder runs at once, each on one thread (1: one batch at a time).

    A text batch (32 titles of ~17 tokens) makes matrices too small to keep several threads busy
    inside one operation: with torch's threads splitting each operation, 2 cores ran at 1.2–1.5
    cores' worth (each of the model's ~100 operations per batch waits for its threads to wake and
    meet), while two batches side by side, each on one thread, ran at ~1.8 and used less CPU in
    all (6,000 titles with MiniLM, fp32, 2 threads: 19–25 → 11–15 s). GPUs keep one batch at a time.
    """
    if device.type != "cpu" or batches < 2:
        return 1
    return max(1, min(int(threads or 1), batches, SIDE_BY_SIDE_MAX_WORKERS))


@contextlib.contextmanager
def one_thread_per_op() -> Any:
    """torch's intra-op threads set to 1 for the block (the batches run side by side instead), then
    restored. With OpenMP the count is per thread (each worker sets its own, see ``encode_texts``)
    but MKL's is process-wide, so the block holds the lock :func:`configure_threads` takes: two
    encoders in two threads take turns rather than undo each other's setting, and building an
    encoder waits for an encoding in another thread to finish. (A thread of the caller's own that
    first uses torch inside the block starts with torch's count at 1.)"""
    import torch

    with _threads_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def precision_context(precision: str, device: "torch.device") -> ContextManager[Any]:
    """``torch.autocast`` to bfloat16 for ``"bf16"``; a no-op otherwise."""
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# --------------------------------------------------------------------------------------------
# model directories
# --------------------------------------------------------------------------------------------


def _has_weights(directory: Path) -> bool:
    return any((directory / name).is_file() for name in WEIGHT_FILES)


def resolve_model_dir(model: str | os.PathLike[str], *, what: str = "model", need_weights: bool = True) -> Path:
    """Find a model's local directory: a path, or a Hugging Face Hub name already in the local cache.

    Nothing is downloaded when ``HF_HUB_OFFLINE=1``; otherwise a Hub name not yet cached is
    fetched (config, tokenizer and safetensors weights only).

    Raises:
        InvalidInputError: the directory does not exist, has no ``config.json``, or (with
            ``need_weights``) no weight file; or the Hub name is not available offline.
    """
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise InvalidInputError(f"{what}: model must be a local directory or a Hub name, got {model!r}")
    path = Path(model).expanduser()
    text = str(model)
    # Hub ids are "name" or "org/name"; anything else that does not exist is a mistyped path.
    looks_like_path = path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path:
        if path.is_file():
            # a common slip: the weights or config.json file instead of the folder holding them,
            # which was reported as "does not exist" although the file plainly does
            raise InvalidInputError(
                f"{what}: {text!r} is a file; model= takes the model's directory (e.g. {str(path.parent)!r})"
            )
        if not path.is_dir():
            raise InvalidInputError(f"{what}: model directory {text!r} does not exist")
        directory = path
    else:
        directory = _hub_snapshot(text, what)
    if not (directory / "config.json").is_file():
        raise InvalidInputError(f"{what}: {str(directory)!r} has no config.json; is it a transformers model directory?")
    if need_weights and not _has_weights(directory):
        raise InvalidInputError(
            f"{what}: model directory {str(directory)!r} has no weights (looked for {', '.join(WEIGHT_FILES)})"
        )
    return directory


def _hub_snapshot(repo_id: str, what: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # transformers depends on it, so this is a broken install
        raise InvalidInputError(f"{what}: {repo_id!r} is not a local directory and huggingface_hub is missing") from exc
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=_HUB_PATTERNS))
    except Exception as cached_exc:  # noqa: BLE001 - any Hub error means "not in the cache"
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
        if offline:
            raise InvalidInputError(
                f"{what}: model {repo_id!r} is neither a local directory nor in the Hugging Face cache, and "
                "HF_HUB_OFFLINE=1 forbids downloading it; pass model=<local directory>"
            ) from cached_exc
    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS))
    except Exception as exc:  # noqa: BLE001
        raise InvalidInputError(f"{what}: cannot fetch model {repo_id!r} from the Hugging Face Hub: {exc}") from exc


def check_remote_code(model_dir: Path, trust_remote_code: bool, *, what: str = "model") -> None:
    """Refuse a model whose config asks for its own Python code unless the user opted in.

    Such a model (``auto_map`` in ``config.json``) runs arbitrary code from its directory or
    the Hub when loaded; coldkit never does that silently.
    """
    from coldkit.validation import check_flag

    # trust_remote_code="false" (a JSON string in --encoder-options) is truthy: it ran the model's code
    check_flag(trust_remote_code, "trust_remote_code")
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{what}: unreadable config.json in {str(model_dir)!r}: {exc}") from exc
    if config.get("auto_map") and not trust_remote_code:
        raise InvalidInputError(
            f"{what}: the model in {str(model_dir)!r} needs trust_remote_code=True (its config maps to custom "
            f"code: {sorted(config['auto_map'])}); that runs Python shipped with the model, so pass "
            "trust_remote_code=True only for a model you trust"
        )


def _model_type(model_dir: Path) -> Any:
    """``model_type`` of ``model_dir/config.json`` (OSError/ValueError/AttributeError when unreadable)."""
    return json.loads((model_dir / "config.json").read_text()).get("model_type")


def check_model_type(model_dir: Path, expected: str, *, what: str = "model", instead: str = "") -> None:
    """Refuse a model directory whose ``config.json`` names another ``model_type`` than ``expected``.

    Why: a fixed architecture class (``CLIPModel``, ``ClapModel``) loads *any* checkpoint; from a
    BERT or GPT-2 folder it builds the architecture with every weight freshly random, transformers
    only logs a load report, and the encoder then returns random vectors without an error.
    """
    try:
        model_type = _model_type(model_dir)
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{what}: unreadable config.json in {str(model_dir)!r}: {exc}") from exc
    if model_type != expected:
        raise InvalidInputError(
            f"{what}: the model in {str(model_dir)!r} is a {model_type!r} model, not {expected} "
            f"(config.json model_type must be {expected!r}){'; ' + instead if instead else ''}"
        )


#: model_type of checkpoints that pair a text tower with another medium: their own encoder reads them.
_PAIRED_MODEL_ENCODERS = {"clip": "clip", "clap": "clap", "siglip": "clip", "chinese_clip": "clip"}


def check_text_model(model_dir: Path, *, what: str) -> None:
    """Refuse a text-and-image (CLIP) or text-and-audio (CLAP) checkpoint given to a text encoder.

    Why: ``bert``/``gpt2`` given a CLIP folder failed with "max_length is required: the model does
    not state its limit", which sends the user after the wrong setting; such a model belongs to the
    encoder that reads both of its towers.
    """
    try:
        model_type = _model_type(model_dir)
    except (OSError, ValueError, AttributeError):
        return  # the loader names an unreadable config itself
    if model_type in _PAIRED_MODEL_ENCODERS:
        encoder = _PAIRED_MODEL_ENCODERS[model_type]
        raise InvalidInputError(
            f"{what}: the model in {str(model_dir)!r} is a {model_type!r} model (text paired with "
            f"{'audio' if encoder == 'clap' else 'images'}), not a text model; use the {encoder} encoder for it "
            f"(e.g. get_encoder({encoder!r}, model=PATH))"
        )


#: what the families are called in messages, and the encoder that reads each
_FAMILY_NAMES = {
    "encoder": "a bidirectional encoder (the BERT family)",
    "decoder": "a causal (left-to-right) language model (the GPT family)",
    "encoder-decoder": "an encoder-decoder (sequence-to-sequence) model",
}
_FAMILY_ENCODERS = {"encoder": "bert", "decoder": "gpt2"}
#: used when transformers' own tables cannot be read (their module moved): the common types of each family
_ENCODER_TYPES = frozenset({
    "albert", "bert", "big_bird", "camembert", "convbert", "data2vec-text", "deberta", "deberta-v2", "distilbert",
    "electra", "ernie", "flaubert", "funnel", "ibert", "longformer", "megatron-bert", "mobilebert", "modernbert",
    "mpnet", "nezha", "rembert", "roberta", "roberta-prelayernorm", "roformer", "squeezebert", "xlm", "xlm-roberta",
    "xlm-roberta-xl", "xmod",
})  # fmt: skip
_DECODER_TYPES = frozenset({
    "bloom", "codegen", "falcon", "gemma", "gemma2", "gpt2", "gpt_bigcode", "gpt_neo", "gpt_neox", "gptj", "llama",
    "mistral", "mixtral", "mpt", "olmo", "openai-gpt", "opt", "phi", "phi3", "qwen2", "qwen3", "stablelm", "starcoder2",
})  # fmt: skip
_SEQ2SEQ_TYPES = frozenset({"bart", "mbart", "t5", "mt5", "umt5", "pegasus", "marian", "mvp", "led", "longt5", "bigbird_pegasus"})
#: causal in transformers' tables (they have a causal head) but read bidirectionally by AutoModel: either encoder may take them
_EITHER_TYPES = frozenset({"xlnet", "transfo-xl", "reformer"})


def _family_tables() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(encoder, decoder, encoder-decoder) model types, from the installed transformers' auto tables.

    A type with a masked-LM head is bidirectional (BERT also has a causal head: it counts as an encoder);
    one with a causal-LM head alone is a decoder; one with a sequence-to-sequence head is neither.
    """
    try:
        from transformers.models.auto import modeling_auto as auto

        masked = frozenset(auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES)
        causal = frozenset(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
        seq2seq = frozenset(auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    except (ImportError, AttributeError):  # pragma: no cover - a transformers that moved its tables
        return _ENCODER_TYPES, _DECODER_TYPES, _SEQ2SEQ_TYPES
    return (masked | _ENCODER_TYPES) - seq2seq, (causal | _DECODER_TYPES) - masked - seq2seq, seq2seq | _SEQ2SEQ_TYPES


def text_model_family(model_dir: Path) -> tuple[str | None, Any, list[str]]:
    """``(family, model_type, architectures)`` of ``model_dir/config.json``.

    ``family`` is ``"encoder"`` (bidirectional: BERT, DistilBERT, RoBERTa, XLM-R, MPNet, ELECTRA, DeBERTa...),
    ``"decoder"`` (causal: GPT-2, GPT-Neo, Llama, Mistral, Qwen...), ``"encoder-decoder"`` (T5, BART), or
    ``None`` when neither the ``model_type`` nor the ``architectures`` tell (a model of custom code: let through).
    """
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None, None, []  # the loader names an unreadable config itself
    if not isinstance(config, dict):
        return None, None, []
    model_type = config.get("model_type")
    found = config.get("architectures")
    architectures = [str(a) for a in found] if isinstance(found, list) else []
    encoders, decoders, seq2seq = _family_tables()
    if isinstance(model_type, str) and model_type not in _EITHER_TYPES:
        for family, types in (("encoder-decoder", seq2seq), ("encoder", encoders), ("decoder", decoders)):
            if model_type in types:
                return family, model_type, architectures
    if model_type is None and architectures:  # an old config without model_type: its classes' names tell
        if all(a.endswith(("ForCausalLM", "LMHeadModel")) and not a.startswith(("Bert", "Roberta")) for a in architectures):
            return "decoder", model_type, architectures
        if any(a.endswith("ForMaskedLM") for a in architectures):
            return "encoder", model_type, architectures
    return None, model_type, architectures


def check_text_family(model_dir: Path, family: str, *, what: str) -> None:
    """Refuse a text model of another family than ``family`` (``"encoder"`` for bert, ``"decoder"`` for gpt2).

    Why: ``AutoModel`` loads any checkpoint, so a GPT-2 folder given to ``bert`` (or a BERT folder to
    ``gpt2``) loaded and pooled without a word: mean vectors of a model that reads each token without
    the words after it, or the "last token" of a model trained to fill in masked words — vectors of
    another kind than the encoder's documentation describes, under a name that says otherwise.
    """
    found, model_type, architectures = text_model_family(model_dir)
    if found is None or found == family:
        return
    described = f"a {model_type!r} model" if model_type is not None else "a model"
    classes = f" ({', '.join(architectures)})" if architectures else ""
    other = _FAMILY_ENCODERS.get(found)
    advice = (
        f"use the {other} encoder for it (e.g. get_encoder({other!r}, model=PATH), or in a model spec "
        f"encoder={other},encoder_options={{\"model\":PATH}})"
        if other is not None
        else "neither the bert nor the gpt2 encoder runs it: encode the texts elsewhere and give coldkit the vectors (--item-vectors)"
    )
    raise InvalidInputError(
        f"{what}: the model in {str(model_dir)!r} is {described}{classes}, {_FAMILY_NAMES[found]}, "
        f"not {_FAMILY_NAMES[family]} as this encoder needs (config.json model_type / architectures); {advice}"
    )


_fingerprint_memo: dict[tuple[str, tuple[tuple[str, int, int, int, int], ...]], str] = {}


def _fingerprinted_files(model_dir: Path) -> list[Path]:
    """The files of ``model_dir`` that determine a model's vectors, sorted."""
    return sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file()
        and p.suffix in _FINGERPRINT_SUFFIXES
        and p.name not in _FINGERPRINT_SKIP
        and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
        and not any(part in {"onnx", "openvino"} for part in p.relative_to(model_dir).parts)
    )


def model_file_stats(model_dir: Path, files: list[Path] | None = None) -> tuple[tuple[str, int, int, int, int], ...]:
    """(name, size, mtime, inode, ctime) of each file :func:`fingerprint_files` reads: what changes when any of
    them is written, replaced or copied over (the ctime cannot be set back)."""
    files = _fingerprinted_files(model_dir) if files is None else files
    stats = [(p, p.stat()) for p in files]
    return tuple((str(p.relative_to(model_dir)), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) for p, st in stats)


def fingerprint_files(model_dir: Path) -> str:
    """BLAKE2b over the names and bytes of the files that determine a model's vectors.

    Content-based, so a copied or re-downloaded model keeps its cache; memoised per process by
    (path, size, mtime, inode, ctime) so the weights are read once. Size and mtime alone let a
    checkpoint of the same shape written over the file with its mtime restored (``cp -p``, ``tar x``)
    keep the old fingerprint, and the cache served the old model's vectors; the ctime cannot be set back.
    """
    files = _fingerprinted_files(model_dir)
    stat_key = model_file_stats(model_dir, files)
    memo_key = (str(model_dir.resolve()), stat_key)
    if memo_key in _fingerprint_memo:
        return _fingerprint_memo[memo_key]
    digest = hashlib.blake2b(digest_size=16)
    for p in files:
        digest.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    result = digest.hexdigest()
    _fingerprint_memo[memo_key] = result
    return result


def load_pretrained(
    cls: Any, model_dir: Path, *, what: str, trust_remote_code: bool = False, **kwargs: Any
) -> Any:
    """``cls.from_pretrained(model_dir, ...)`` with errors turned into :class:`InvalidInputError`.

    ``dtype=`` is passed as ``torch_dtype=`` to transformers 4 (5 renamed it).
    """
    import transformers

    if "dtype" in kwargs and int(transformers.__version__.split(".")[0]) < 5:
        kwargs["torch_dtype"] = kwargs.pop("dtype")
    # transformers 5 draws a "Loading weights" bar for every load: noise in coldkit's stage lines
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    damaged: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, RuntimeError)
    try:  # a truncated or damaged model.safetensors raises safetensors' own error, a bare traceback before
        from safetensors import SafetensorError

        damaged += (SafetensorError,)
    except ImportError:  # pragma: no cover - transformers depends on safetensors
        pass
    is_model = cls.__name__.startswith("AutoModel") or (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel))
    if "Tokenizer" in cls.__name__ and not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        # transformers 5 then builds a tokenizer of five special tokens: every text was [CLS] [UNK] [SEP],
        # one vector for all (a Trainer's checkpoint-N/ folder holds weights and config alone)
        raise InvalidInputError(
            f"{what}: {str(model_dir)!r} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); "
            "copy them from the model the weights were trained from"
        )
    # the files as they were before reading them: TorchTextEncoder.fingerprint checks they are still these
    files_before = model_file_stats(model_dir)
    try:
        if not is_model:
            return _stamped(cls.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code, **kwargs), files_before)
        model, info = cls.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code, output_loading_info=True, **kwargs)
    except pickle.UnpicklingError as exc:  # its own advice (weights_only=False) would run the file's code
        raise InvalidInputError(f"{what}: {str(model_dir)!r} holds a damaged or unsafe pytorch_model.bin ({exc.__class__.__name__}); "
                                "re-save the weights (model.safetensors)") from exc
    except damaged as exc:
        raise InvalidInputError(f"{what}: cannot load {cls.__name__} from {str(model_dir)!r}: {exc}") from exc
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    missing = sorted(k for k in info.get("missing_keys", ()) if not _OPTIONAL_WEIGHT.search(k))
    if missing:
        # transformers fills what the file lacks with random numbers and only logs it: weights of another
        # architecture (GPT-2 weights in a BERT folder) or under other names ("model." prefixes) gave random
        # vectors that changed at every load, under one fingerprint
        raise InvalidInputError(
            f"{what}: {str(model_dir)!r} has no weights for {len(missing)} of the model's parameters (e.g. "
            f"{', '.join(missing[:3])}): weights of another model, or saved under other names; transformers "
            "would fill them with random numbers"
        )
    _own_memory(model)
    return _stamped(model, files_before)


def _stamped(loaded: Any, files: tuple[tuple[str, int, int, int, int], ...]) -> Any:
    """``loaded`` with the stats of the model files it was read from (:data:`LOADED_FILES_ATTRIBUTE`)."""
    try:
        setattr(loaded, LOADED_FILES_ATTRIBUTE, files)
    except (AttributeError, TypeError):  # pragma: no cover - an object that takes no attributes: nothing to check
        pass
    return loaded


#: Set by :func:`load_pretrained` on what it loads: the model files' stats before they were read.
LOADED_FILES_ATTRIBUTE = "_coldkit_model_files"


#: files one of which a tokenizer folder holds (WordPiece, BPE, SentencePiece, or the fast tokenizer's one file)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
#: weights a checkpoint may leave out on purpose: the pooler (sentence-transformers models drop it), buffers
_OPTIONAL_WEIGHT = re.compile(r"(^|\.)pooler\.|position_ids$|\.num_batches_tracked$")


def _own_memory(model: Any) -> None:
    """Move a loaded model's tensors out of the memory-mapped weights file into memory of its own.

    Why: safetensors maps the file, and ``cp`` over it (the same inode) changed a loaded encoder's
    vectors under its old fingerprint — the cache stored model B's vectors under model A's key — and
    truncating it killed the process with SIGBUS. A copy per tensor costs one tensor's bytes at a time.
    """
    import torch

    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:  # each once, shared (tied) ones included
            tensor.data = tensor.data.clone()


def check_vocabulary(tokenizer: Any, model: Any, model_dir: Path, *, what: str) -> None:
    """Refuse a tokenizer with more tokens than the model's embedding table (a token past it was a bare IndexError
    at the first text that used it: a GPT-2 tokenizer in a BERT folder)."""
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    if isinstance(size, int) and len(tokenizer) > size:
        raise InvalidInputError(
            f"{what}: the tokenizer in {str(model_dir)!r} has {len(tokenizer):,} tokens but the model's embedding table "
            f"{size:,}: the tokenizer files belong to another model"
        )


# --------------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------------


def check_pooling(pooling: str, allowed: Sequence[str] = POOLINGS, *, what: str = "encoder") -> str:
    """Return ``pooling`` if it is one of ``allowed``, else raise naming the valid choices."""
    if pooling not in allowed:
        raise InvalidInputError(f"{what}: unknown pooling {pooling!r}; choose one of {tuple(allowed)}")
    return pooling


def pool(hidden: "torch.Tensor", attention_mask: "torch.Tensor", pooling: str) -> "torch.Tensor":
    """Pool token states ``(b, t, d)`` into ``(b, d)`` (float32).

    * ``mean``: average over tokens where the mask is 1 (as sentence-transformers does);
    * ``cls``: the first position (BERT's [CLS]; needs right padding);
    * ``last``: the last position whose mask is 1, correct for left *and* right padding.
    """
    import torch

    check_pooling(pooling)
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        summed = (hidden * mask).sum(dim=1, dtype=torch.float32)
        return summed / mask.sum(dim=1, dtype=torch.float32).clamp(min=1e-9)
    if pooling == "cls":
        return hidden[:, 0].float()
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.long() * (positions + 1)).argmax(dim=1)  # highest position holding a real token
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()


def get_output_tensor(output: Any, *attributes: str) -> "torch.Tensor":
    """A tensor from a transformers return value that is a tensor (v4) or a ModelOutput (v5).

    E.g. ``CLIPModel.get_text_features`` returns the projected tensor in transformers 4 and a
    ``BaseModelOutputWithPooling`` whose ``pooler_output`` holds it in transformers 5.
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for attribute in attributes:
        value = getattr(output, attribute, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"expected a tensor or an output with one of {attributes}, got {type(output).__name__}")


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Order sequence indices into batches of at most ``batch_size`` that waste (almost) no padding.

    Sequences of *equal* token length fill whole batches first (no padding at all, and the model
    may skip the attention mask); the few left over per length are then batched longest-first,
    so neighbours differ by a token or two. Equal lengths keep their input order, so results do
    not depend on how a caller chunked its texts.
    """
    by_length: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        by_length.setdefault(length, []).append(index)
    batches: list[list[int]] = []
    leftovers: list[int] = []
    for length in sorted(by_length, reverse=True):
        group = by_length[length]
        full = len(group) - len(group) % batch_size
        batches.extend(group[i : i + batch_size] for i in range(0, full, batch_size))
        leftovers.extend(group[full:])
    batches.extend(leftovers[i : i + batch_size] for i in range(0, len(leftovers), batch_size))
    return batches


def model_attention_mask(attention_mask: "torch.Tensor") -> "torch.Tensor | None":
    """``None`` for a batch without padding (lets attention skip masking), else the mask itself."""
    return None if bool(attention_mask.all()) else attention_mask


# --------------------------------------------------------------------------------------------
# the shared text encoder
# --------------------------------------------------------------------------------------------


class TorchTextEncoder:
    """Base of the transformer text encoders: the encoder contract around one ``_embed_batch``.

    Subclasses set the attributes below (usually in ``__init__`` after loading) and implement
    :meth:`_embed_batch`. ``encode_texts`` tokenises every text once (truncating to
    ``max_length``), sorts by token count so each batch holds texts of (nearly) equal length,
    pads each batch only to its own longest text, and runs under ``torch.inference_mode``.
    """

    name: str = "torch"
    modalities: frozenset[str] = frozenset({"text"})
    dim: int
    model_dir: Path
    tokenizer: Any
    device: "torch.device"
    dtype: "torch.dtype"
    batch_size: int
    max_length: int
    pooling: str
    padding_side: str = "right"
    normalize: bool = True
    precision: str = "fp32"  # resolved: "fp32", "bf16" or "int8" (see resolve_precision)

    def _fingerprint_options(self) -> Mapping[str, Any]:
        """Options that change the vectors; subclasses may add theirs."""
        options: dict[str, Any] = {
            "encoder": self.name,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "dtype": str(self.dtype).replace("torch.", ""),
            "normalize": self.normalize,
        }
        if self.precision != "fp32":
            # reduced precision moves the vectors, so the cache must keep them apart; fp32 stays
            # out of the key so caches written before this option existed remain valid
            options["precision"] = self.precision
        return options

    @property
    def fingerprint(self) -> str:
        """``<name>:<hash of model files>:<options>``; stable across machines and copies of the model."""
        cached = getattr(self, "_fingerprint", None)
        if cached is None:
            # The hash is read from the files when first asked (often at the first encode_catalog), not when
            # the weights were loaded: a model folder replaced in between (a retrain saved into the same
            # folder) gave the old weights' vectors the new files' hash, and every later process loading the
            # new model read the old vectors from the cache.
            now = model_file_stats(self.model_dir)
            for part in (getattr(self, "tokenizer", None), getattr(self, "model", None)):
                loaded = getattr(part, LOADED_FILES_ATTRIBUTE, None)
                if loaded is not None and loaded != now:
                    raise InvalidInputError(
                        f"{self.name}: the model files in {str(self.model_dir)!r} changed after this encoder loaded them: "
                        "its vectors are not those of the files now there (the vector cache keys them by the files' hash); "
                        "load the encoder again"
                    )
            options = json.dumps(dict(self._fingerprint_options()), sort_keys=True, separators=(",", ":"))
            cached = f"{self.name}:{fingerprint_files(self.model_dir)}:{options}"
            self._fingerprint = cached
        return cached

    @staticmethod
    def check_batch_size(batch_size: int) -> int:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        return batch_size

    @staticmethod
    def check_max_length(max_length: int | None, model_limit: int | None, tokenizer: Any = None) -> int:
        """``max_length`` (default: the model's limit), refused above what the model can embed, and where the
        ``tokenizer``'s own special tokens ([CLS], [SEP]) would take every place: max_length=2 on BERT
        embedded no word of any text (zero vectors, as for an empty text) without a word."""
        if max_length is None:
            if model_limit is None:
                raise InvalidInputError("max_length is required: the model does not state its limit")
            return int(model_limit)
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
            raise InvalidInputError(f"max_length must be an int >= 2, got {max_length!r}")
        if model_limit is not None and max_length > model_limit:
            raise InvalidInputError(f"max_length={max_length} exceeds the model's limit of {model_limit} tokens")
        special = int(tokenizer.num_special_tokens_to_add()) if hasattr(tokenizer, "num_special_tokens_to_add") else 0
        if max_length <= special:
            raise InvalidInputError(
                f"max_length={max_length} leaves no token for the text: the tokenizer adds {special} of its own; give at least {special + 1}"
            )
        return max_length

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def _embed_batch(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        """Return ``(b, dim)`` embeddings (not yet normalised) for one padded batch."""
        raise NotImplementedError

    def _token_id_chunks(self, texts: Sequence[str], **options: Any) -> Iterator[list[list[int]]]:
        """The tokenizer's ids of ``texts``, :data:`TOKENIZE_CHUNK` texts at a time (``options``: truncation...).

        Why chunks: the tokenizer's per-text encodings (ids, offsets, token strings, masks) of a whole
        catalogue at once, and the ids as Python lists of ints, took +3.2 GB RSS for 30,000 texts of 256
        tokens; a caller that keeps only compact arrays or counts of each chunk needs +0.2 GB.
        """
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            encoded = self.tokenizer(
                list(texts[start : start + TOKENIZE_CHUNK]), padding=False, return_attention_mask=False,
                return_token_type_ids=False, **options,
            )
            yield encoded["input_ids"]

    def _tokenize(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's token ids (truncated to ``max_length``), an int32 array per text."""
        chunks = self._token_id_chunks(texts, truncation=True, max_length=self.max_length)
        return [np.asarray(ids, dtype=np.int32) for chunk in chunks for ids in chunk]

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) int64: the tokens each text has *before* truncation, special tokens included.

        A count above :attr:`max_length` means :meth:`encode_texts` reads only the start of that text.

        Why: an item text of a title, a long description and then a category was cut at ``max_length``
        tokens (256 for MiniLM) without a word, so the columns after the description never reached the
        encoder; ``coldkit recommend`` counts the cut texts with this and says so in a note.
        """
        # verbose=False: counting long texts is the point here, not transformers' "longer than the maximum" warning
        chunks = self._token_id_chunks([str(t) for t in texts], truncation=False, verbose=False)
        return np.array([len(ids) for chunk in chunks for ids in chunk], dtype=np.int64)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts into float32 ``(n, dim)``; L2-normalised rows, all-zero rows for empty texts.

        Raises:
            InvalidInputError: a text is None or not a string (the message names its position).
        """
        import torch

        texts, empty = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = np.flatnonzero(~empty)
        if not len(todo):
            return out
        token_ids = self._tokenize([texts[i] for i in todo])
        # A non-blank text can still yield no tokens of its own (only characters the tokenizer drops:
        # NUL, a zero-width space, a byte-order mark): treat it like an empty text. Its [CLS] [SEP] alone
        # gave every such text one shared vector, 0.6 from real texts. [UNK] is a token of the text.
        special_ids = set(getattr(self.tokenizer, "all_special_ids", ())) - {getattr(self.tokenizer, "unk_token_id", None)}
        special = np.array(sorted(special_ids), dtype=np.int64)
        lengths = np.array([len(ids) for ids in token_ids], dtype=np.int64)
        own = ~np.isin(np.concatenate(token_ids), special)  # one pass over every token, not one call per text
        own_per_text = np.bincount(np.repeat(np.arange(len(token_ids)), lengths), weights=own, minlength=len(token_ids))
        kept = np.flatnonzero(own_per_text > 0).tolist()
        if len(kept) < len(token_ids):
            todo = todo[kept]
            token_ids = [token_ids[j] for j in kept]
            if not len(todo):
                return out
        pad_id = self._pad_id()
        batches = plan_batches([len(ids) for ids in token_ids], self.batch_size)

        def encode_batch(batch: list[int]) -> None:  # inside inference mode (and autocast) of its thread
            width = max(len(token_ids[j]) for j in batch)
            ids = np.full((len(batch), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, j in enumerate(batch):
                seq = token_ids[j]
                if self.padding_side == "left":
                    ids[row, width - len(seq) :] = seq
                    mask[row, width - len(seq) :] = 1
                else:
                    ids[row, : len(seq)] = seq
                    mask[row, : len(seq)] = 1
            input_ids = torch.from_numpy(ids).to(self.device)
            attention_mask = torch.from_numpy(mask).to(self.device)
            vectors = self._embed_batch(input_ids, attention_mask).float()
            if self.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            out[todo[batch]] = vectors.cpu().numpy()

        def encode_all(share: list[list[int]]) -> None:
            # inference mode and autocast are per thread: entered once by whichever thread runs a share
            with torch.inference_mode(), precision_context(self.precision, self.device):
                for batch in share:
                    encode_batch(batch)

        # long sequences keep torch's own threads (big enough to share, and one batch's activations
        # at a time); short ones run side by side
        fits = [max(len(token_ids[j]) for j in b) <= SIDE_BY_SIDE_MAX_TOKENS for b in batches]
        short = [b for b, ok in zip(batches, fits) if ok]
        workers = batch_workers(self.device, getattr(self, "threads", 1), len(short))
        if workers == 1:
            encode_all(batches)
        else:
            from concurrent.futures import ThreadPoolExecutor

            encode_all([b for b, ok in zip(batches, fits) if not ok])
            shares = [short[w::workers] for w in range(workers)]  # length-sorted: interleaving balances them
            with one_thread_per_op(), ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
                list(pool.map(encode_all, shares))
        return out
