"""The media flags shared by ``coldkit recommend``, ``coldkit evaluate`` and ``coldkit serve --build``.

``--image-column`` / ``--audio-column`` name item-table columns of media paths; ``--media-root``
is the only folder those paths are read from; ``--image-encoder`` / ``--audio-encoder`` pick the
encoder of each medium (``NAME`` or ``NAME:KEY=VALUE,...``, e.g. ``clip:model=/models/clip``);
``--modality-weights`` fixes the fusion weights instead of validating them. With any media column
the models' encoder becomes ``multimodal`` (see :mod:`coldkit.models.modalities`) with the text
encoder (``--encoder``) as its text block.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_media_flags", "multimodal_options", "print_media_report"]


#: The encoders of an image / audio column when none is named.
IMAGE_ENCODER, AUDIO_ENCODER = "image-stats", "audio"


def add_media_flags(parser: "argparse.ArgumentParser | argparse._ArgumentGroup", *, media_root: bool = True) -> None:
    """The media flags; ``media_root=False`` leaves ``--media-root`` to the caller (``coldkit serve`` declares
    it among the server's flags: it also bounds the image paths of ``POST /items``)."""
    parser.add_argument("--image-column", default=None, help="item column of image paths (relative to --media-root); adds an image block")
    parser.add_argument("--audio-column", default=None, help="item column of audio file paths (relative to --media-root); adds an audio block")
    if media_root:
        parser.add_argument("--media-root", default=None, help="the only folder media paths are read from (required with a media column)")
    # None by default (IMAGE_ENCODER / AUDIO_ENCODER are applied with a media column): given without one, they are
    # refused, not ignored without a word (a forgotten --image-column read as "the posters were used")
    parser.add_argument(
        "--image-encoder", default=None,
        help=f"image encoder NAME or NAME:KEY=VALUE,... (default {IMAGE_ENCODER}, weights-free; e.g. clip:model=/models/clip)",
    )  # fmt: skip
    parser.add_argument("--audio-encoder", default=None, help=f"audio encoder NAME or NAME:KEY=VALUE,... (default {AUDIO_ENCODER}, from coldkit-audio)")
    parser.add_argument(
        "--modality-weights", default=None, metavar="WEIGHTS",
        help='fixed fusion weights: equal, or JSON such as \'{"text": 0.7, "image": 0.3}\' (default auto: chosen on a validation split of the training data)',
    )  # fmt: skip


def multimodal_options(
    args: argparse.Namespace, text_encoder: str | None, *, image_column: str | None = None, media_root: str | None = None,
    lone_root: bool = True,
) -> dict[str, Any] | None:
    """``encoder_options`` of the ``multimodal`` encoder the flags ask for, or None when no media column is given.

    A media flag given without the column it is for is refused (it was ignored: the run said nothing of the
    images it never read); ``lone_root=False`` lets ``--media-root`` stand alone (``coldkit serve``: it also
    bounds the image paths of ``POST /items``)."""
    from coldkit.exceptions import InvalidInputError

    image_column = image_column or args.image_column
    audio_column = args.audio_column
    if image_column is None and audio_column is None:
        lone = [flag for flag, value in (("--modality-weights", args.modality_weights), ("--image-encoder", args.image_encoder),
                                         ("--audio-encoder", args.audio_encoder)) if value is not None]
        if lone_root and getattr(args, "media_root", None) is not None:
            lone.append("--media-root")
        if lone:
            raise InvalidInputError(f"{'/'.join(lone)} need{'s' if len(lone) == 1 else ''} a media column (--image-column / --audio-column)")
        return None
    if image_column is None and args.image_encoder is not None:
        raise InvalidInputError("--image-encoder needs --image-column (an audio column alone is read by --audio-encoder)")
    if audio_column is None and args.audio_encoder is not None:
        raise InvalidInputError("--audio-encoder needs --audio-column (an image column alone is read by --image-encoder)")
    root = media_root or args.media_root
    if root is None:
        raise InvalidInputError("--image-column/--audio-column need --media-root DIR: the only folder media files are read from")
    options: dict[str, Any] = {"media_root": root}
    if text_encoder is not None:
        options["text_encoder"] = text_encoder
    if image_column is not None:
        options.update(image_column=image_column, image_encoder=args.image_encoder or IMAGE_ENCODER)
    if audio_column is not None:
        options.update(audio_column=audio_column, audio_encoder=args.audio_encoder or AUDIO_ENCODER)
    if args.modality_weights is not None:
        options["weights"] = _modality_weights(args.modality_weights)
    return options


def _modality_weights(text: str) -> Any:
    """``--modality-weights``: ``equal`` / ``auto`` as the words themselves (the docs name them so; JSON would
    want them quoted twice on a shell line), or a JSON mapping modality -> weight."""
    from coldkit.exceptions import InvalidInputError

    if text.strip() in ("equal", "auto"):
        return text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"--modality-weights is neither equal, auto nor JSON ({exc.msg}); e.g. equal or '{{\"text\": 0.7, \"image\": 0.3}}'"
        ) from None


def print_media_report(errors: list[Any], notes: list[str]) -> None:
    """The media part of a run summary on stderr: the notes, then every bad media file."""
    from coldkit.models.modalities import media_error_lines

    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if errors:
        print(f"media errors ({len(errors)}; those items use their other modalities):", file=sys.stderr)
        for line in media_error_lines(errors):
            print(f"  {line}", file=sys.stderr)
