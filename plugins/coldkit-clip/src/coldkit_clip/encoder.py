"""CLIP as a coldkit encoder: texts and images into one projection space.

The text tower pools its last real token (end-of-text) and the image tower its class token;
both are projected to ``projection_dim`` and L2-normalised, so a text query ranks images and an
image ranks texts by cosine. ``get_text_features``/``get_image_features`` return a tensor in
transformers 4 and a ``BaseModelOutputWithPooling`` (projected vector in ``pooler_output``) in
transformers 5; both are handled.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from coldkit.encoding import load_image
from coldkit.encoding_torch import (
    TorchTextEncoder,
    apply_precision,
    check_model_type,
    check_pooling,
    check_remote_code,
    configure_threads,
    get_output_tensor,
    load_pretrained,
    model_attention_mask,
    precision_context,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
    resolve_precision,
)
from coldkit.exceptions import InvalidInputError

if TYPE_CHECKING:
    import torch

__all__ = ["CLIPEncoder", "CLIP_POOLINGS"]

# CLIP's shared space is defined by its own pooling: the projected end-of-text token, i.e. the
# last real token. Mean or CLS pooling would leave the space the image tower projects into.
CLIP_POOLINGS = ("last",)
_FEATURE_ATTRIBUTES = ("pooler_output", "text_embeds", "image_embeds")


def _image_processor_class() -> Any:
    try:  # transformers 5: the default CLIPImageProcessor needs torchvision; this one needs PIL only
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:  # transformers 4: CLIPImageProcessor is the PIL/numpy one
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


class CLIPEncoder(TorchTextEncoder):
    """A CLIP model (text + vision towers) as a coldkit encoder with modalities text and image.

    Args:
        model: local directory or Hugging Face Hub name (must be cached when ``HF_HUB_OFFLINE=1``);
            it needs ``preprocessor_config.json`` for images.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: texts or images per forward pass.
        max_length: text tokens kept (longer texts are truncated); default and maximum: the
            text tower's position limit (77 for OpenAI CLIP).
        pooling: only ``"last"`` (CLIP's own end-of-text pooling) is valid.
        dtype: ``"auto"`` (float32 on CPU, float16 on CUDA), ``"float32"``, ``"bfloat16"``, ``"float16"``.
        precision: reduced-precision inference, opt-in: ``"fp32"`` (default), ``"bf16"`` (autocast;
            fast on CPUs with AVX512-BF16/AMX), ``"int8"`` (dynamic quantisation, CPU) or ``"auto"``
            (bf16 where the CPU has it, else fp32); see ``coldkit.encoding_torch.resolve_precision``.
        threads: torch intra-op threads; None caps torch's default at the CPUs available.
        trust_remote_code: allow models that ship their own Python code (off by default).

    Example::

        clip = coldkit.get_encoder("clip", model="/models/clip-vit-base-patch32")
        posters = clip.encode_images(["posters/1.jpg", "posters/2.jpg"])
        query = clip.encode_texts(["an animated movie about toys"])
        best = (posters @ query.T).argmax()
    """

    name = "clip"
    modalities = frozenset({"text", "image"})

    def __init__(
        self,
        model: str | os.PathLike[str] = "openai/clip-vit-base-patch32",
        *,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        pooling: str = "last",
        dtype: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoTokenizer, CLIPModel

        self.pooling = check_pooling(pooling, CLIP_POOLINGS, what="clip")
        self.model_dir = resolve_model_dir(model, what="clip")
        check_remote_code(self.model_dir, trust_remote_code, what="clip")
        # CLIPModel loads any checkpoint: a BERT or GPT-2 folder gave a CLIP with every weight random
        check_model_type(self.model_dir, "clip", what="clip", instead="use the matching encoder (bert, gpt2) for it")
        self.batch_size = self.check_batch_size(batch_size)
        self.threads = configure_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_pretrained(
            AutoTokenizer, self.model_dir, what="clip tokenizer", trust_remote_code=trust_remote_code
        )
        self.model = load_pretrained(
            CLIPModel, self.model_dir, what="clip", trust_remote_code=trust_remote_code, dtype=self.dtype
        )
        self.model.to(self.device).eval()
        self.precision = resolve_precision(precision, self.device, self.dtype)
        self.model = apply_precision(self.model, self.precision)
        self._image_processor: Any = None
        text_config = self.model.config.text_config
        self.max_length = self.check_max_length(max_length, text_config.max_position_embeddings, self.tokenizer)
        self.dim = int(self.model.config.projection_dim)
        # The text tower finds its end-of-text token as the first one in the row, and CLIP pads
        # with that same token, so padding must go to the right.
        self.padding_side = "right"

    def _fingerprint_options(self) -> Mapping[str, Any]:
        """The torch encoder's options, plus how images become RGB: vectors cached before transparency
        was composited onto white (``coldkit.encoding.load_image``) must not be served for those images."""
        return {**super()._fingerprint_options(), "image_rgb": "alpha-on-white"}

    @property
    def image_processor(self) -> Any:
        """The model's image preprocessing (resize, centre crop, normalise), loaded on first use."""
        if self._image_processor is None:
            if not (self.model_dir / "preprocessor_config.json").is_file():
                raise InvalidInputError(
                    f"clip: {str(self.model_dir)!r} has no preprocessor_config.json, so images cannot be encoded"
                )
            cls = _image_processor_class()
            try:
                self._image_processor = cls.from_pretrained(str(self.model_dir))
            except (OSError, ValueError) as exc:
                raise InvalidInputError(f"clip: cannot load the image processor of {str(self.model_dir)!r}: {exc}") from exc
        return self._image_processor

    def _embed_batch(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        output = self.model.get_text_features(input_ids=input_ids, attention_mask=model_attention_mask(attention_mask))
        return get_output_tensor(output, *_FEATURE_ATTRIBUTES)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """Encode images (file paths or PIL images) into float32 ``(n, dim)`` L2-normalised rows.

        Raises:
            InvalidInputError: an image is missing, unreadable or of the wrong type (named by position).
        """
        import torch

        if isinstance(images, (str, bytes, os.PathLike)):
            raise InvalidInputError("images must be a sequence of paths or PIL images, not a single path")
        images = list(images)
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        processor = self.image_processor
        with torch.inference_mode(), precision_context(self.precision, self.device):
            for start in range(0, len(images), self.batch_size):
                batch = [load_image(img, f"image {start + i}") for i, img in enumerate(images[start : start + self.batch_size])]
                pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
                output = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
                vectors = get_output_tensor(output, *_FEATURE_ATTRIBUTES).float()
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                out[start : start + len(batch)] = vectors.cpu().numpy()
        return out

    def __repr__(self) -> str:
        return (
            f"CLIPEncoder(model={str(self.model_dir)!r}, dim={self.dim}, max_length={self.max_length}, "
            f"device={str(self.device)!r}, dtype={str(self.dtype)!r}, precision={self.precision!r})"
        )
