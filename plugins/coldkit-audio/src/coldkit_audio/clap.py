"""CLAP as a coldkit encoder: texts and audio files into one projection space.

The text tower (RoBERTa) and the audio tower (HTS-AT over a 10 s log-mel window) are projected to
``projection_dim`` and L2-normalised, so a text query ranks sounds and a sound ranks texts by
cosine. Files are decoded with :func:`coldkit_audio.decode.load_audio` (mono, resampled to the
feature extractor's rate) and prepared by the model's own ``ClapFeatureExtractor``.

The feature extractor picks *random* windows from clips longer than 10 s (``rand_trunc`` and
``fusion`` truncation); each file is prepared with numpy's RNG seeded to a fixed value and
restored after, so the same file always gives the same vector and the caller's RNG is untouched.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from coldkit.encoding_torch import (
    TorchTextEncoder,
    apply_precision,
    check_model_type,
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
from coldkit_audio.decode import DEFAULT_MAX_SECONDS, check_audio_paths, check_max_seconds, load_audio

__all__ = ["ClapEncoder"]

_FEATURE_ATTRIBUTES = ("pooler_output", "text_embeds", "audio_embeds")
_WINDOW_SEED = 0


@contextlib.contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class ClapEncoder(TorchTextEncoder):
    """A CLAP model (text + audio towers) as a coldkit encoder with modalities text and audio.

    Args:
        model: local directory written by ``save_pretrained`` (with ``preprocessor_config.json``
            for audio), or a Hub name already in the local cache when ``HF_HUB_OFFLINE=1``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: texts or audio files per forward pass.
        max_length: text tokens kept (longer texts are truncated); default and maximum: the text
            tower's position limit (512 for the released CLAPs).
        dtype, precision, threads, trust_remote_code: as for :class:`coldkit_clip.encoder.CLIPEncoder`.
        max_seconds: longer audio files are refused (checked before decoding).

    Example::

        clap = coldkit.get_encoder("clap", model="/models/larger_clap_music")
        sounds = clap.encode_audio(["previews/1.mp3", "previews/2.wav"])
        query = clap.encode_texts(["a calm piano piece"])
        best = (sounds @ query.T).argmax()
    """

    name = "clap"
    modalities = frozenset({"text", "audio"})

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        dtype: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        trust_remote_code: bool = False,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        from transformers import AutoTokenizer, ClapModel

        self.pooling = "projected"  # CLAP's own pooler + projection; the only meaningful choice
        self.model_dir = resolve_model_dir(model, what="clap")
        check_remote_code(self.model_dir, trust_remote_code, what="clap")
        # ClapModel loads any checkpoint: another kind of folder gave a CLAP with every weight random
        check_model_type(self.model_dir, "clap", what="clap")
        self.batch_size = self.check_batch_size(batch_size)
        self.max_seconds = check_max_seconds(max_seconds)
        self.threads = configure_threads(threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = load_pretrained(AutoTokenizer, self.model_dir, what="clap tokenizer", trust_remote_code=trust_remote_code)
        self.model = load_pretrained(ClapModel, self.model_dir, what="clap", trust_remote_code=trust_remote_code, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.precision = resolve_precision(precision, self.device, self.dtype)
        self.model = apply_precision(self.model, self.precision)
        self._feature_extractor: Any = None
        text_config = self.model.config.text_config
        # RoBERTa numbers positions from pad_token_id + 1, so that many fewer tokens fit
        limit = int(text_config.max_position_embeddings) - int(text_config.pad_token_id or 0) - 1
        self.max_length = self.check_max_length(max_length, limit)
        self.dim = int(self.model.config.projection_dim)
        self.padding_side = "right"

    def _fingerprint_options(self) -> Mapping[str, Any]:
        return {**super()._fingerprint_options(), "audio_window_seed": _WINDOW_SEED}

    @property
    def feature_extractor(self) -> Any:
        """The model's ``ClapFeatureExtractor`` (log-mel of a 10 s window), loaded on first use."""
        if self._feature_extractor is None:
            if not (self.model_dir / "preprocessor_config.json").is_file():
                raise InvalidInputError(
                    f"clap: {str(self.model_dir)!r} has no preprocessor_config.json, so audio cannot be encoded"
                )
            from transformers import ClapFeatureExtractor

            self._feature_extractor = load_pretrained(ClapFeatureExtractor, self.model_dir, what="clap feature extractor")
        return self._feature_extractor

    @property
    def sample_rate(self) -> int:
        """The rate (Hz) files are resampled to: the feature extractor's."""
        return int(self.feature_extractor.sampling_rate)

    def _embed_batch(self, input_ids: Any, attention_mask: Any) -> Any:
        output = self.model.get_text_features(input_ids=input_ids, attention_mask=model_attention_mask(attention_mask))
        return get_output_tensor(output, *_FEATURE_ATTRIBUTES)

    def _prepare(self, path: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
        wave = load_audio(path, self.sample_rate, max_seconds=self.max_seconds, label=label)
        with _seeded_numpy(_WINDOW_SEED):
            features = self.feature_extractor(wave, sampling_rate=self.sample_rate, return_tensors="np")
        return np.asarray(features["input_features"][0]), np.asarray(features["is_longer"][0])

    def encode_audio(self, paths: Sequence[Any]) -> np.ndarray:
        """Encode audio files into float32 ``(n, dim)`` L2-normalised rows.

        Raises:
            InvalidInputError: a bare path instead of a list, or a file that is missing,
                undecodable, empty, longer than ``max_seconds`` or holds NaN samples (named by position).
        """
        import torch

        files = check_audio_paths(paths)
        out = np.zeros((len(files), self.dim), dtype=np.float32)
        with torch.inference_mode(), precision_context(self.precision, self.device):
            for start in range(0, len(files), self.batch_size):
                prepared = [self._prepare(p, f"audio {start + i}") for i, p in enumerate(files[start : start + self.batch_size])]
                features = torch.from_numpy(np.stack([f for f, _ in prepared])).to(self.device, self.dtype)
                is_longer = torch.from_numpy(np.stack([longer for _, longer in prepared])).to(self.device)
                output = self.model.get_audio_features(input_features=features, is_longer=is_longer)
                vectors = torch.nn.functional.normalize(get_output_tensor(output, *_FEATURE_ATTRIBUTES).float(), p=2, dim=1)
                out[start : start + len(prepared)] = vectors.cpu().numpy()
        return out

    def __repr__(self) -> str:
        return (
            f"ClapEncoder(model={str(self.model_dir)!r}, dim={self.dim}, max_length={self.max_length}, "
            f"device={str(self.device)!r}, dtype={str(self.dtype)!r}, precision={self.precision!r})"
        )
