"""GPT-2 as a text encoder: final hidden states pooled at the last real token (or averaged).

A causal model's last token has attended to the whole text, so it summarises it; mean pooling
is the alternative. Padding needs care: GPT-2 has no pad token (we use its end-of-text token,
masked out) and absolute positions, so with left padding the position ids are computed from the
attention mask; last-token pooling reads the last *real* token for either padding side.
"""

from __future__ import annotations

import os
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

__all__ = ["GPT2Encoder", "GPT2_POOLINGS"]

GPT2_POOLINGS = ("last", "mean")
PADDING_SIDES = ("right", "left")


class GPT2Encoder(TorchTextEncoder):
    """A GPT-2 family causal language model as a coldkit text encoder.

    Args:
        model: local directory or Hugging Face Hub name (must be cached when ``HF_HUB_OFFLINE=1``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: texts per forward pass.
        max_length: tokens kept per text (longer texts are truncated); default ``n_positions``.
        pooling: ``"last"`` (the last real token, default) or ``"mean"`` over real tokens.
        padding_side: ``"right"`` (default) or ``"left"``; both give the same vectors.
        dtype: ``"auto"`` (float32 on CPU, float16 on CUDA), ``"float32"``, ``"bfloat16"``, ``"float16"``.
        precision: reduced-precision inference, opt-in: ``"fp32"`` (default), ``"bf16"`` (autocast;
            fast on CPUs with AVX512-BF16/AMX), ``"int8"`` (dynamic quantisation, CPU) or ``"auto"``
            (bf16 where the CPU has bf16 hardware and bf16 is measured at least 1.25x faster than fp32,
            else fp32); see ``coldkit.encoding_torch.resolve_precision``.
        threads: torch intra-op threads; None caps torch's default at the CPUs available.
        trust_remote_code: allow models that ship their own Python code (off by default).

    Example::

        encoder = coldkit.get_encoder("gpt2", model="/models/gpt2", pooling="last")
        vectors = encoder.encode_texts(["a basketball game"])  # (1, 768)
    """

    name = "gpt2"

    def __init__(
        self,
        model: str | os.PathLike[str] = "gpt2",
        *,
        device: str = "auto",
        batch_size: int = 16,
        max_length: int | None = None,
        pooling: str = "last",
        padding_side: str = "right",
        dtype: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.pooling = check_pooling(pooling, GPT2_POOLINGS, what="gpt2")
        if padding_side not in PADDING_SIDES:
            raise InvalidInputError(f"gpt2: unknown padding_side {padding_side!r}; choose one of {PADDING_SIDES}")
        self.padding_side = padding_side
        self.model_dir = resolve_model_dir(model, what="gpt2")
        check_remote_code(self.model_dir, trust_remote_code, what="gpt2")
        check_text_model(self.model_dir, what="gpt2")
        check_text_family(self.model_dir, "decoder", what="gpt2")  # a BERT folder loaded and pooled without a word
        self.batch_size = self.check_batch_size(batch_size)
        self.threads = configure_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_pretrained(
            AutoTokenizer, self.model_dir, what="gpt2 tokenizer", trust_remote_code=trust_remote_code
        )
        if self.tokenizer.pad_token_id is None:
            # GPT-2 has no pad token; any id works because padded positions are masked out and
            # never pooled. The end-of-text token is the conventional choice.
            if self.tokenizer.eos_token is None:
                raise InvalidInputError("gpt2: the tokenizer has neither a pad nor an end-of-text token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_pretrained(
            AutoModel, self.model_dir, what="gpt2", trust_remote_code=trust_remote_code, dtype=self.dtype
        )
        check_vocabulary(self.tokenizer, self.model, self.model_dir, what="gpt2")
        self.model.to(self.device).eval()
        self.precision = resolve_precision(precision, self.device, self.dtype)
        self.model = apply_precision(self.model, self.precision)
        config = self.model.config
        limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        self.max_length = self.check_max_length(max_length, limit)
        self.dim = int(getattr(config, "n_embd", None) or config.hidden_size)

    def _embed_batch(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        # Absolute positions must count real tokens only, or left padding would shift them.
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        output = self.model(
            input_ids=input_ids, attention_mask=model_attention_mask(attention_mask), position_ids=position_ids
        )
        return pool(output.last_hidden_state, attention_mask, self.pooling)

    def __repr__(self) -> str:
        return (
            f"GPT2Encoder(model={str(self.model_dir)!r}, dim={self.dim}, pooling={self.pooling!r}, "
            f"padding_side={self.padding_side!r}, max_length={self.max_length}, device={str(self.device)!r}, precision={self.precision!r})"
        )
