"""The encoder contract, the catalogue encoding pipeline and its on-disk vector cache.

An *encoder* (see :class:`coldkit.Encoder`) turns content into L2-normalised float32 vectors of
one space. Every encoder, built in or from a plugin, honours the same rules:

* ``encode_texts(texts)`` returns a C-contiguous float32 array of shape ``(len(texts), dim)``.
* ``None`` or a non-string text raises :class:`~coldkit.exceptions.InvalidInputError` naming its
  position. An empty or whitespace-only text is *defined*, not an error: its row is all zeros
  (it carries no content, so it is similar to nothing). Every other row has unit norm.
* A text longer than the encoder's ``max_length`` tokens is truncated, never rejected.
* Encoders with ``"image"`` in ``modalities`` also have ``encode_images(images)`` taking file
  paths or PIL images; a missing or unreadable image raises ``InvalidInputError`` naming it.
* Encoders with ``"audio"`` in ``modalities`` also have ``encode_audio(paths)`` taking a list of
  audio file paths (mixed down to mono, resampled to the model's rate); a missing, undecodable,
  empty, over-long (above the encoder's ``max_seconds``) or NaN-holding file raises
  ``InvalidInputError`` naming it. An encoder without ``"text"`` in ``modalities`` (an audio-only
  one, e.g. ``coldkit-audio``'s ``audio``) refuses ``encode_texts`` with ``InvalidInputError``.
* ``fingerprint`` identifies (model files + options that change the vectors); it keys the cache.

:func:`encode_catalog` runs an encoder over a whole catalogue: it builds each item's text from
chosen fields, encodes only what the cache does not already hold (deduplicating identical
content), feeds the encoder length-sorted chunks (less padding), shows a progress bar on long
runs and writes each finished chunk to the cache atomically, so an interrupted run keeps its work.

This module must stay importable without torch: neural encoders live in plugins, and their
shared torch helpers in :mod:`coldkit.encoding_torch`, which imports torch lazily.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
import uuid
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from coldkit._atomic import atomic_write
from coldkit.cache import configured_max_size, enforce_cache_limit
from coldkit.exceptions import CacheWarning, ColdkitError, ComponentContractError, InvalidInputError
from coldkit.media import existing_media_path, file_problem
from coldkit.plugins.types import Encoder
from coldkit.text import text_cells

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image as PILImage

    from coldkit.data.interactions import Catalog

__all__ = [
    "CACHE_DIR_ENV",
    "COMBINE_MODES",
    "EMPTY_POLICIES",
    "CatalogInputs",
    "VectorCache",
    "check_texts",
    "CacheUnavailableError",
    "content_key",
    "default_cache_dir",
    "encode_catalog",
    "gather_inputs",
    "IMAGE_MODES",
    "MAX_IMAGE_PIXELS",
    "image_key",
    "media_file_key",
    "media_path_key",
    "input_label",
    "IMAGE_PIPELINE_VERSION",
    "GREY16_MODES",
    "load_image",
    "normalize_rows",
    "text_key",
]

CACHE_DIR_ENV = "COLDKIT_CACHE_DIR"
COMBINE_MODES = ("concat", "mean")
EMPTY_POLICIES = ("zero", "error")
_CACHE_FORMAT = 1
_SHARD_PREFIX = "shard-"


# --------------------------------------------------------------------------------------------
# Contract helpers shared by every encoder
# --------------------------------------------------------------------------------------------


def input_label(labels: Sequence[Any] | None, position: int) -> str:
    """How an error names one input: an item by its id, a bare text by its position.

    A catalogue's position is not the user's: ``fit(df)`` and ``coldkit recommend`` number items by a
    hash of their ids, so "position 7" pointed at another row of the user's table. The id is what they
    can find.
    """
    if labels is None:  # an encoder's own list of texts: "text 2", as encoders have always said it
        return f"text {position}"
    if not isinstance(labels[position], str):  # encode_catalog of a bare list: its positions
        return f"the text at position {position}, counted from 0"
    return f"item {labels[position]!r}"


def check_texts(texts: Iterable[Any], labels: Sequence[Any] | None = None) -> tuple[list[str], np.ndarray]:
    """Validate texts for encoding; return them as a list and a boolean mask of the empty ones.

    Args:
        texts: the texts; a single ``str`` is refused (it would be read as characters).
        labels: optional item ids used in error messages instead of positions.

    Returns:
        ``(texts, empty)`` where ``empty[i]`` is True for an empty or whitespace-only text.

    Raises:
        InvalidInputError: ``texts`` is a string, or an element is ``None`` or not a ``str``
            (the message names the first offending item).
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError("texts must be a sequence of strings, not a single string; wrap it in a list")
    out = list(texts)
    for i, text in enumerate(out):
        if text is None:
            raise InvalidInputError(f"{input_label(labels, i)} is None; expected a string (use '' for no text)")
        if not isinstance(text, str):
            raise InvalidInputError(f"{input_label(labels, i)} is a {type(text).__name__}, expected a string: {text!r:.80}")
    _check_encodable(out, labels)
    empty = np.fromiter((_NO_VISIBLE_CHARACTER.fullmatch(t) is not None for t in out), dtype=bool, count=len(out))
    return out, empty


#: A text of only whitespace, control and invisible format characters (NUL, a zero-width space, a byte-order
#: mark...): no content. BERT's tokenizer drops them (a zero row), GPT-2's byte-level BPE kept them as tokens and
#: gave every such text one shared vector. ``fullmatch`` stops at a text's first visible character.
_NO_VISIBLE_CHARACTER = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*"
)


def _check_encodable(texts: list[str], labels: Sequence[Any] | None) -> None:
    """Refuse lone UTF-16 surrogates (``"\\ud800"``): no tokenizer or UTF-8 file can hold them."""
    try:
        "".join(texts).encode("utf-8")  # one pass for the common case; locate only on failure
    except UnicodeEncodeError:
        for i, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidInputError(
                    f"{input_label(labels, i)} holds a lone surrogate {text[exc.start]!r} at character {exc.start}, "
                    "which is not valid Unicode text; decode the source with errors='replace' or remove it"
                ) from None


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return float32 C-contiguous rows scaled to unit L2 norm; all-zero rows stay zero."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


#: Largest image (width x height, in pixels) coldkit decodes: 40 megapixels is a 6,000 x 6,500 photo,
#: far above any poster or cover, while a "decompression bomb" (a small file that decodes to
#: gigapixels) is refused from its header, before a byte of pixels is allocated.
MAX_IMAGE_PIXELS = 40_000_000

#: 16-bit greyscale modes (a 16-bit greyscale PNG or TIFF opens as ``I;16``; older Pillow, and some
#: files, give ``I``): their 0..65535 range is scaled to 0..255. ``convert("L")`` clips instead, so a
#: scan whose values lie above 255 (nearly all of them) came out as a white sheet.
GREY16_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})

#: Pillow modes coldkit converts to RGB. Others (float greyscale ``F``, measurements or depth maps
#: rather than pictures) are refused by name rather than clipped into a misleading picture.
IMAGE_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "La"}) | GREY16_MODES

#: The version of the way :func:`load_image` turns an image file into the RGB picture an encoder sees.
#: It is part of every image file's cache key (:func:`media_file_key`), so vectors cached under an older
#: pipeline are never served for the same file, whichever the encoder: a plugin's fingerprint knows
#: nothing of coldkit's image handling (the transparency fix changed only image-stats' and clip's).
#: 1: ``convert("RGB")``; 2: transparency composited onto white; 3: EXIF orientation applied, 16-bit
#: greyscale scaled (it was refused).
IMAGE_PIPELINE_VERSION = 3


def load_image(image: Any, label: str = "image", max_pixels: int = MAX_IMAGE_PIXELS) -> "PILImage.Image":
    """Open ``image`` (a path or a PIL image) fully decoded as RGB.

    Args:
        image: a file path or a PIL image.
        label: names the item in error messages.
        max_pixels: refuse images larger than this (width x height) before decoding them.

    Raises:
        InvalidInputError: the path does not exist, is not a file, is not a readable image, is
            larger than ``max_pixels`` (a decompression bomb) or has a mode that is not a picture
            (see :data:`IMAGE_MODES`); the message names ``label``, the path and the problem.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        _check_picture(image, label, "the image", max_pixels)
        return _to_rgb(_upright(image), label, "the image")
    if not isinstance(image, (str, os.PathLike)):
        raise InvalidInputError(f"{label}: expected an image path or a PIL image, got {type(image).__name__}")
    found = existing_media_path(image)  # café.jpg named in NFC finds the file a Mac stored as NFD
    # stat only: a FIFO must not be opened (it blocks); checked before Path(), which reads "" as "."
    problem = file_problem(found)
    if problem is not None:
        raise InvalidInputError(f"{label}: image {problem}")
    path = Path(found)
    try:
        with warnings.catch_warnings():
            # our own pixel limit decides; Pillow's warning (and its 2x error) must not pre-empt it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                _check_picture(img, label, repr(str(path)), max_pixels)
                img.load()  # decode now, so a truncated file fails here and not inside the model
                return _to_rgb(_upright(img), label, repr(str(path)))
    except InvalidInputError:
        raise  # our own refusal (size, mode), already naming the label and the file: not "cannot read image"
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(f"{label}: image {str(path)!r} is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidInputError(f"{label}: cannot read image {str(path)!r}: {exc}") from exc


def _upright(img: "PILImage.Image") -> "PILImage.Image":
    """``img`` turned as its EXIF orientation tag says (a phone stores a portrait photo sideways and
    tags it). Neither ``convert`` nor transformers' CLIP processor reads the tag, so such a photo was
    encoded lying on its side; a picture already turned upright has no tag left and is kept as it is."""
    from PIL import ImageOps

    try:
        turned = ImageOps.exif_transpose(img)
    except (ValueError, TypeError, OSError, SyntaxError):  # a damaged EXIF block: the pixels are still the picture
        return img
    return img if turned is None else turned


def _grey16_to_l(img: "PILImage.Image", label: str, what: str) -> "PILImage.Image":
    """A 16-bit greyscale image as 8-bit ``L``, 0..65535 scaled to 0..255 (rounded), not clipped.

    Mode ``I`` holds 32-bit integers: values outside 0..65535 are no 16-bit picture (a depth map, a
    count) and are refused by name rather than squeezed into one.
    """
    from PIL import Image

    # int32 holds every step below (65535 * 255 + 32767 < 2**31): half the memory of int64 on a large scan
    values = np.asarray(img).astype(np.int32, copy=False)
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > 65535:
        raise InvalidInputError(
            f"{label}: {what} has mode {img.mode!r} with values {low}..{high}, outside the 0..65535 of a 16-bit "
            "greyscale picture; scale it to 8 bits (mode 'L') first"
        )
    if img.mode == "I" and 0 < high <= 255:
        # 32-bit integers that never pass 255: 8-bit values in a wide array (Image.fromarray of an int
        # array), or a 16-bit picture almost black? Scaled as 16 bits the first would come out black
        # without a word: refused, as the mode was before it was read at all
        raise InvalidInputError(
            f"{label}: {what} has mode 'I' (32-bit integers) with values {low}..{high}: 8-bit values or a nearly "
            "black 16-bit picture? convert it to mode 'L' (8-bit) or 'I;16' (16-bit) first"
        )
    grey = Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    transparency = img.info.get("transparency")
    if isinstance(transparency, int) and not isinstance(transparency, bool):
        # a 16-bit PNG's tRNS names one grey value as transparent: composited onto white, as below
        grey = grey.convert("RGB")
        grey.paste((255, 255, 255), mask=Image.fromarray(((values == transparency) * 255).astype(np.uint8), mode="L"))
    return grey


def _to_rgb(img: "PILImage.Image", label: str = "image", what: str = "the image") -> "PILImage.Image":
    """``img`` as RGB, transparency composited onto white (as transformers' ``convert_to_rgb`` does).

    ``convert("RGB")`` drops the alpha channel and keeps whatever colour lies under the transparent
    pixels, usually black: a product photo on a transparent background was encoded as if on black,
    unlike the same photo as a JPEG on white and unlike CLIP's own preprocessing of the file.
    16-bit greyscale is scaled to 8 bits first (:func:`_grey16_to_l`).
    """
    from PIL import Image

    if img.mode in GREY16_MODES:
        return _grey16_to_l(img, label, what).convert("RGB")
    if "A" not in img.getbands() and "a" not in img.getbands() and img.info.get("transparency") is None:
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _check_picture(img: "PILImage.Image", label: str, what: str, max_pixels: int) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise InvalidInputError(f"{label}: {what} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise InvalidInputError(
            f"{label}: {what} is {width}x{height} = {width * height:,} pixels, above the limit of {max_pixels:,} "
            "(a possible decompression bomb); downscale it first"
        )
    if img.mode not in IMAGE_MODES:
        raise InvalidInputError(
            f"{label}: {what} has mode {img.mode!r}, which is not a colour or greyscale picture "
            f"(accepted: {', '.join(sorted(IMAGE_MODES))}); convert it to RGB first"
        )


def content_key(kind: str, payload: bytes) -> str:
    """Cache key of one piece of content: a 128-bit BLAKE2b of ``kind`` and ``payload``."""
    return hashlib.blake2b(kind.encode() + b"\0" + payload, digest_size=16).hexdigest()


def media_file_key(modality: str, data: bytes) -> str:
    """Cache key of a media file's bytes (``"image"``, ``"audio"``); an image's includes
    :data:`IMAGE_PIPELINE_VERSION`, since the same bytes become another picture when the pipeline changes."""
    return content_key(_media_kind(modality), data)


def _media_kind(modality: str) -> str:
    """The kind a media file's key is made under; an image's carries :data:`IMAGE_PIPELINE_VERSION`."""
    return f"{modality}-file" if modality != "image" else f"image-file:v{IMAGE_PIPELINE_VERSION}"


def media_path_key(modality: str, path: str | os.PathLike[str]) -> str:
    """:func:`media_file_key` of the file at ``path``, read in 1 MiB steps: the same key, without holding the file.

    Reading the whole file for its key came before every size check: a 1.5 GB file named ``.jpg`` or a WAV
    whose header says 13 hours took 3.2 GB of memory, and then got its clear error from the decoder.

    Raises:
        OSError: the file cannot be opened or read.
    """
    digest = hashlib.blake2b(_media_kind(modality).encode() + b"\0", digest_size=16)  # as content_key(kind, bytes)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    """Cache key of a text (exact content; no normalisation, since encoders see the exact text)."""
    return content_key("text", text.encode("utf-8", "surrogatepass"))


def image_key(image: Any, label: str = "image") -> str:
    """Cache key of an image: hash of the file's bytes, or of the decoded pixels of a PIL image."""
    if isinstance(image, (str, os.PathLike)):
        # checked before reading: read_bytes on a FIFO waits for a writer forever, and a folder was an
        # "[Errno 21]" read error
        image = existing_media_path(image)
        problem = file_problem(image)
        if problem is not None:
            raise InvalidInputError(f"{label}: image {problem}")
        try:
            return media_path_key("image", image)
        except FileNotFoundError as exc:  # removed since the check
            raise InvalidInputError(f"{label}: image file not found: {str(image)!r}") from exc
        except OSError as exc:
            raise InvalidInputError(f"{label}: cannot read image {str(image)!r}: {exc}") from exc
    img = load_image(image, label)  # the pixels after the pipeline: a change of it changes them (no version needed)
    return content_key("image-pixels", f"{img.mode}{img.size}".encode() + img.tobytes())


# --------------------------------------------------------------------------------------------
# The vector cache
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$COLDKIT_CACHE_DIR`` if set, else ``~/.cache/coldkit/vectors``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "coldkit" / "vectors"


def encode_queries(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Users' texts as ``encoder`` places queries: its ``encode_query_texts`` where it has one (the multimodal
    encoder also places words beside CLIP pictures and CLAP sounds), else ``encode_texts``; items' texts always
    go through ``encode_texts``."""
    method = getattr(encoder, "encode_query_texts", None)
    return np.asarray(method(texts) if callable(method) else encoder.encode_texts(texts))


def open_cache(encoder: Encoder, dim: int, cache_dir: str | os.PathLike[str] | None = None) -> "VectorCache | None":
    """The vector cache of ``encoder`` (``dim`` floats a vector), or None with a :class:`CacheWarning` where it
    cannot be opened: the cache only saves time, and a folder that cannot be created (read-only home, full
    disk, a file in the way) must not stop the encoding itself."""
    try:
        return VectorCache(cache_dir if cache_dir is not None else default_cache_dir(), encoder.fingerprint, dim, name=encoder.name)
    except CacheUnavailableError as exc:
        warnings.warn(f"{exc}; encoding without the vector cache", CacheWarning, stacklevel=3)
        return None


def finish_cache_use(store: "VectorCache") -> None:
    """What every encoding does with its cache entry at the end: compact many small shards (lookups stay
    cheap after many incremental runs), mark the entry used and evict least-recently-used others over
    ``COLDKIT_CACHE_MAX_SIZE``. Media entries skipped this: never marked used, they were evicted first (a
    poster catalogue re-encoded on every run under a limit) and the limit was not enforced after them."""
    if store.shard_count > 64:
        store.compact()
    enforce_cache_limit(store.directory)


class CacheUnavailableError(ColdkitError):
    """The vector cache's folder cannot be created or initialised (read-only, full disk, not a folder), or its
    ``encoder.json`` is unreadable or another encoder's.

    :func:`encode_catalog` turns it into a :class:`~coldkit.exceptions.CacheWarning` and encodes
    without the cache; a :class:`VectorCache` built directly raises it.
    """


@dataclass
class _Shard:
    name: str
    keys: list[str]
    vectors: np.ndarray | None = None  # memory-mapped on first use
    crc32: int | None = None  # of the vectors' bytes; shards written before it have none (not checked)


def _crc32(vectors: np.ndarray) -> int:
    """CRC-32 of a shard's float32 rows (C order), in steps of 64 MB (a memory map is read once)."""
    flat = np.ascontiguousarray(vectors).reshape(-1).view(np.uint8)
    crc, step = 0, 1 << 26
    for start in range(0, flat.size, step):
        crc = zlib.crc32(flat[start : start + step].data, crc)
    return crc


class VectorCache:
    """Content-addressed vectors of one encoder (one fingerprint) on disk.

    Layout: ``<root>/<encoder-name>-<hash of fingerprint>/`` holds ``encoder.json`` (the full
    fingerprint and ``dim``) and shards: ``shard-*.npy`` (float32 ``(n, dim)``) each committed by a
    ``shard-*.json`` listing its ``n`` content keys. A shard's ``.npy`` is written (atomically)
    before its ``.json``, so a reader or a crash never sees half a shard. There is no global
    index file to race on: writers only ever add new, uniquely named shards; concurrent readers
    pick new shards up on their next lookup. No pickle anywhere.

    Example::

        cache = VectorCache(default_cache_dir(), encoder.fingerprint, encoder.dim, name=encoder.name)
        found, vectors = cache.get_many([text_key("a basketball game")])
    """

    def __init__(self, root: str | os.PathLike[str], fingerprint: str, dim: int, *, name: str = "encoder") -> None:
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InvalidInputError(f"cache fingerprint must be a non-empty string, got {fingerprint!r}")
        if int(dim) <= 0:
            raise InvalidInputError(f"cache dim must be positive, got {dim!r}")
        self.fingerprint = fingerprint
        self.dim = int(dim)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "encoder"
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]
        self.directory = Path(root).expanduser() / f"{slug}-{digest}"
        self._lock = threading.RLock()
        self._shards: dict[str, _Shard] = {}
        self._where: dict[str, tuple[str, int]] = {}
        self._bad: set[str] = set()  # corrupt shards: skipped until the files change (rewritten or removed)
        # why the last put() could not write (full disk, read-only), None once a write succeeds; see put()
        self.write_error: str | None = None
        self._warned_causes: set[tuple[object, ...]] = set()  # failures already warned of, in this row of failures
        self.write_failures = 0  # puts that could not be written, over this cache's lifetime
        self._open()

    # -- set-up ---------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailableError(
                f"cannot create the vector cache directory {str(self.directory)!r}: {exc.strerror or exc}"
            ) from exc
        meta_path = self.directory / "encoder.json"
        if meta_path.exists():
            # Either way the entry cannot be trusted, and encode_catalog encodes without it (with a warning):
            # the cache only saves time, so a damaged entry must not stop the encoding
            try:
                found = json.loads(meta_path.read_text())
                if not isinstance(found, dict):
                    raise ValueError(f"a JSON {type(found).__name__}, not an object")
            except (OSError, ValueError, RecursionError) as exc:
                raise CacheUnavailableError(
                    f"vector cache {str(self.directory)!r}: unreadable encoder.json ({exc}); remove that folder to "
                    "rebuild it"
                ) from exc
            written = found.get("format", _CACHE_FORMAT)
            if not isinstance(written, int) or isinstance(written, bool) or written > _CACHE_FORMAT:
                # the number was written and never read: a later layout would have been read as this one
                raise CacheUnavailableError(
                    f"vector cache {str(self.directory)!r} was written in format {written!r}, newer than this coldkit "
                    f"reads ({_CACHE_FORMAT}); upgrade coldkit or choose another cache_dir"
                )
            if found.get("fingerprint") != self.fingerprint or found.get("dim") != self.dim:
                raise CacheUnavailableError(
                    f"vector cache {str(self.directory)!r} belongs to another encoder "
                    f"(fingerprint/dim mismatch); remove the directory or choose another cache_dir"
                )
        else:
            try:
                self._write_entry_meta()
            except OSError as exc:
                raise CacheUnavailableError(
                    f"cannot write {str(meta_path)!r} of the vector cache: {exc.strerror or exc}"
                ) from exc
        self.refresh()

    def _write_entry_meta(self) -> None:
        """The entry's ``encoder.json`` (format, fingerprint, dim), atomically; what marks the folder as an entry."""
        meta = {"format": _CACHE_FORMAT, "fingerprint": self.fingerprint, "dim": self.dim}
        atomic_write(self.directory / "encoder.json", lambda fh: fh.write(json.dumps(meta, indent=1).encode()))

    def refresh(self) -> None:
        """Pick up shards written (or removed by compaction) since the last look, e.g. by another process."""
        with self._lock:
            on_disk = {p.stem for p in self.directory.glob(f"{_SHARD_PREFIX}*.json")} - self._bad
            gone = set(self._shards) - on_disk
            for name in gone:
                del self._shards[name]
            if gone:
                self._where = {k: v for k, v in self._where.items() if v[0] not in gone}
            for name in sorted(on_disk - set(self._shards)):
                shard = self._read_shard_keys(name)
                if shard is None:
                    continue
                self._shards[name] = shard
                for row, key in enumerate(shard.keys):
                    self._where.setdefault(key, (name, row))
            # keys whose shard went away may still live in another shard
            if gone:
                for name, shard in self._shards.items():
                    for row, key in enumerate(shard.keys):
                        self._where.setdefault(key, (name, row))

    def _read_shard_keys(self, name: str) -> _Shard | None:
        path = self.directory / f"{name}.json"
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            return None  # compacted away between listing and reading
        except (OSError, ValueError, RecursionError) as exc:
            self._skip(name, f"vector cache: ignoring unreadable shard {str(path)!r}: {exc}")
            return None
        if not isinstance(meta, dict):  # a JSON array failed as "'list' object has no attribute 'get'"
            self._skip(name, f"vector cache: ignoring malformed shard {str(path)!r}")
            return None
        keys = meta.get("keys")
        if meta.get("dim") != self.dim or not isinstance(keys, list) or meta.get("count") != len(keys):
            self._skip(name, f"vector cache: ignoring malformed shard {str(path)!r}")
            return None
        crc = meta.get("crc32")
        return _Shard(name=name, keys=[str(k) for k in keys], crc32=crc if isinstance(crc, int) else None)

    def _skip(self, name: str, warning: str) -> None:
        """Warn of a shard whose keys cannot be read and leave it out of every later look: each refresh
        (one per lookup that finds a shard gone) read it again and warned again, within one call."""
        warnings.warn(warning, CacheWarning, stacklevel=4)
        self._bad.add(name)

    # -- queries ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    @property
    def shard_count(self) -> int:
        """Number of committed shards."""
        return len(self._shards)

    def _vectors_of(self, name: str) -> np.ndarray | None:
        shard = self._shards[name]
        if shard.vectors is None:
            path = self.directory / f"{name}.npy"
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                return None
            except (OSError, ValueError, EOFError) as exc:  # EOFError: a 0-byte file (a crash, a full disk)
                warnings.warn(f"vector cache: ignoring unreadable shard {str(path)!r}: {exc}", CacheWarning, stacklevel=4)
                return None
            if arr.dtype != np.float32 or arr.shape != (len(shard.keys), self.dim):
                warnings.warn(f"vector cache: ignoring shard {str(path)!r} with shape {arr.shape}", CacheWarning, stacklevel=4)
                return None
            # bytes changed in place (a disk error, a bad copy) kept the shape: NaN then failed as "the
            # data have NaN", finite garbage gave other recommendations silently; the checksum reads
            # the shard once per process (~GB/s)
            if shard.crc32 is not None and _crc32(arr) != shard.crc32:
                warnings.warn(f"vector cache: ignoring corrupt shard {str(path)!r} (checksum mismatch); its items are encoded again", CacheWarning, stacklevel=4)
                return None
            if shard.crc32 is None and not np.isfinite(arr).all():
                # a shard from before the checksum: the encoder's output is checked for NaN, a cached row was not
                warnings.warn(f"vector cache: ignoring shard {str(path)!r} with non-finite values; its items are encoded again", CacheWarning, stacklevel=4)
                return None
            shard.vectors = arr
        return shard.vectors

    def get_many(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Look ``keys`` up.

        Returns:
            ``(found, vectors)``: a bool mask over ``keys`` and float32 ``(found.sum(), dim)`` rows
            for the found keys, in order.
        """
        with self._lock:
            while True:
                found = np.zeros(len(keys), dtype=bool)
                by_shard: dict[str, tuple[list[int], list[int]]] = {}
                for i, key in enumerate(keys):
                    hit = self._where.get(key)
                    if hit is not None:
                        found[i] = True
                        positions, rows = by_shard.setdefault(hit[0], ([], []))
                        positions.append(i)
                        rows.append(hit[1])
                out = np.empty((len(keys), self.dim), dtype=np.float32)
                broken = [name for name in by_shard if self._vectors_of(name) is None]
                if not broken:
                    for name, (positions, rows) in by_shard.items():
                        out[positions] = self._vectors_of(name)[rows]  # type: ignore[index]
                    return found, np.ascontiguousarray(out[found])
                # A shard vanished (compacted by another process) or is corrupt: forget it, re-list
                # the directory (a merged shard may hold the same keys) and look up again. Each
                # round removes at least one shard, so this ends.
                for name in broken:
                    if (self.directory / f"{name}.json").exists():
                        self._bad.add(name)
                    self._shards.pop(name, None)
                self._where = {}
                for name, shard in self._shards.items():
                    for row, key in enumerate(shard.keys):
                        self._where.setdefault(key, (name, row))
                self.refresh()

    # -- writes -------------------------------------------------------------------------------
    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``keys[i]`` as one new shard (atomic: all or nothing)."""
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (len(keys), self.dim):
            raise InvalidInputError(f"cache.put: vectors shape {vecs.shape} does not match ({len(keys)}, {self.dim})")
        if not len(keys):
            return
        name = f"{_SHARD_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        meta = {"format": _CACHE_FORMAT, "dim": self.dim, "count": len(keys), "keys": list(keys), "crc32": _crc32(vecs)}
        with self._lock:
            try:
                if not (self.directory / "encoder.json").exists():
                    # the entry was evicted (pruned by another process) while this cache was open: shards written
                    # into a folder without encoder.json were never listed, measured, pruned or counted
                    self._write_entry_meta()
                atomic_write(self.directory / f"{name}.npy", lambda fh: np.save(fh, vecs, allow_pickle=False))
                atomic_write(self.directory / f"{name}.json", lambda fh: fh.write(json.dumps(meta).encode()))
            except (OSError, InvalidInputError) as exc:
                # A full disk, a read-only or foreign-owned cache, its folder replaced by a file
                # (atomic_write's path check: InvalidInputError): the vectors are already computed,
                # so failing the whole encoding (a bare "OSError: 51200 requested and 25568 written")
                # threw away work for the sake of an optimisation. Every later put tries again (it
                # used to stop writing for the cache's lifetime: a long-lived cache given by a caller
                # stayed read-only after space was freed), warning once per distinct cause while they
                # keep failing; a write that succeeds ends the row, so a new failure warns again.
                try:
                    (self.directory / f"{name}.npy").unlink(missing_ok=True)  # data without its commit marker
                except OSError:
                    pass  # the folder itself is gone or no folder (NotADirectoryError): nothing of ours in it
                self.write_failures += 1
                errno = getattr(exc, "errno", None)
                self.write_error = f"{getattr(exc, 'strerror', None) or exc}"
                # errno, not the message: the message names each new shard's temporary file (and a path
                # check's message the shard itself: one cause, whatever the shard)
                cause = (type(exc).__name__, errno) if errno is not None or isinstance(exc, InvalidInputError) else (type(exc).__name__, self.write_error)
                if cause not in self._warned_causes:
                    self._warned_causes.add(cause)
                    warnings.warn(
                        f"vector cache {str(self.directory)!r} cannot be written ({self.write_error}); "
                        "encoding continues without caching these vectors, later writes are tried again "
                        "(not warned again while they fail the same way)",
                        CacheWarning,
                        stacklevel=3,
                    )
                return
            self.write_error = None
            self._warned_causes.clear()
            self._shards[name] = _Shard(name=name, keys=list(keys), vectors=vecs)
            for row, key in enumerate(keys):
                self._where.setdefault(key, (name, row))

    def compact(self) -> None:
        """Merge every shard into one (new shard first, then old ones removed), dropping duplicates."""
        with self._lock:
            self.refresh()
            old = list(self._shards)
            if len(old) <= 1:
                return
            keys = list(self._where)
            found, vectors = self.get_many(keys)
            keys = [k for k, f in zip(keys, found) if f]
            self.put(keys, vectors)
            new = [n for n in self._shards if n not in old]
            if not new:
                return  # the merged shard could not be written (put warned): keep the old ones
            for name in old:
                # remove the commit marker first, so no reader picks up a shard whose data is gone
                try:
                    (self.directory / f"{name}.json").unlink(missing_ok=True)
                    (self.directory / f"{name}.npy").unlink(missing_ok=True)
                except OSError:
                    pass  # a read-only folder: the old shard stays, its keys are also in the new one
                self._shards.pop(name, None)  # another process's compaction may have removed it already
            self._where = {}
            for name in new:
                for row, key in enumerate(self._shards[name].keys):
                    self._where.setdefault(key, (name, row))


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


@dataclass
class CatalogInputs:
    labels: list[Any]
    texts: list[str] | None
    images: list[Any] | None  # path / PIL image / None (no image)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _table_row(table: "pd.DataFrame", row: int) -> str:
    """Where row ``row`` (a position) of ``table`` is, in words a user can follow: the file's line where
    the table was read by :func:`coldkit.data.read_table` and still has the file's rows, else the position,
    said as one. A bare "row 1" read as a label, a 1-based count or a file line: each finds another item.
    """
    from coldkit.data.loaders import _SOURCE, _row_lines  # the loaders import this module's users

    lines = _row_lines(table, [row])
    if lines is not None:
        return f"line {lines[0]} of {table.attrs[_SOURCE]['path']}"
    return f"at position {row} of the table, counted from 0: items.iloc[{row}]"


def _join_fields(table: "pd.DataFrame", fields: Sequence[str], separator: str) -> list[str]:
    missing = [c for c in fields if c not in table.columns]
    if missing:
        raise InvalidInputError(f"text fields not in the item table: {missing}; columns: {list(table.columns)}")
    # An item whose text fields are all missing or blank, with a None/NaN among them, is refused
    # rather than read as "": a silently empty text would give the item a zero vector. A missing
    # field next to fields with text just drops out of the joined text.
    cells = table[list(fields)]
    nulls = cells.isna().to_numpy()
    if nulls.any():
        blank = text_cells(cells).fillna("").apply(lambda col: col.str.strip() == "").to_numpy()
        empty_rows = np.flatnonzero(blank.all(axis=1) & nulls.any(axis=1))
        if empty_rows.size:
            row = int(empty_rows[0])
            col = int(np.flatnonzero(nulls[row])[0])
            label = table["item_id"].iloc[row] if "item_id" in table.columns else table.index[row]
            raise InvalidInputError(
                f"item {str(label)!r} ({_table_row(table, row)}) has no text: field {fields[col]!r} is missing (None/NaN) and the "
                f"others are empty; fill it first (e.g. df[{list(fields)!r}].fillna('')) or drop the item"
            )
    parts = text_cells(table[list(fields)]).fillna("")
    return [separator.join(v.strip() for v in row if v and v.strip()) for row in parts.itertuples(index=False)]


def gather_inputs(
    items: Any,
    text_fields: Sequence[str] | None,
    image_field: str | None,
    image_root: str | os.PathLike[str] | None,
    separator: str,
) -> CatalogInputs:
    """The labels, texts and images of ``items`` (a Catalog, DataFrame or list), as ``encode_catalog`` reads them."""
    import pandas as pd

    from coldkit.data.interactions import Catalog

    if isinstance(text_fields, str):
        text_fields = (text_fields,)
    table: pd.DataFrame
    if isinstance(items, Catalog):
        table = items.table
        labels = [str(i) for i in items.item_ids]
        fields = tuple(items.text_columns) if text_fields is None else tuple(text_fields)
    elif isinstance(items, pd.DataFrame):
        table = items
        labels = [str(i) for i in (items["item_id"] if "item_id" in items.columns else items.index)]
        if text_fields is None:
            if image_field is not None:
                fields = ()
            else:
                raise InvalidInputError(
                    "encode_catalog(DataFrame) needs text_fields=[...] (and/or image_field=...); "
                    f"columns: {list(items.columns)}"
                )
        else:
            fields = tuple(text_fields)
    else:
        if image_field is not None or text_fields is not None:
            raise InvalidInputError("text_fields/image_field apply to a Catalog or a DataFrame, not to a list of texts")
        if isinstance(items, (str, bytes)):
            raise InvalidInputError("items must be a list of texts, a DataFrame or a Catalog, not a single string")
        try:
            listed = list(items)
        except TypeError as exc:
            raise InvalidInputError(
                f"items must be a list of texts, a DataFrame or a Catalog, got {type(items).__name__}"
            ) from exc
        return CatalogInputs(labels=list(range(len(listed))), texts=listed, images=None)

    texts: list[str] | None = None
    if fields:
        # A Catalog defines its own item text; a DataFrame gets the same rule.
        texts = items.texts(fields, separator) if isinstance(items, Catalog) else _join_fields(table, fields, separator)
    images: list[Any] | None = None
    if image_field is not None:
        if image_field not in table.columns:
            raise InvalidInputError(f"image field {image_field!r} not in the item table: {list(table.columns)}")
        root = Path(image_root) if image_root is not None else None
        images = []
        for value in table[image_field].tolist():
            if _is_missing(value):
                images.append(None)
            elif isinstance(value, (str, os.PathLike)) and root is not None and not Path(value).is_absolute():
                images.append(root / value)
            else:
                images.append(value)
    if texts is None and images is None:
        raise InvalidInputError("encode_catalog: nothing to encode (no text fields and no image field)")
    return CatalogInputs(labels=labels, texts=texts, images=images)


def _check_output(vectors: Any, n: int, dim: int, encoder: Encoder, what: str) -> np.ndarray:
    arr = np.asarray(vectors)
    if arr.shape != (n, dim):
        raise ComponentContractError(
            f"encoder {getattr(encoder, 'name', encoder)!r}: {what} returned shape {arr.shape}, expected ({n}, {dim})"
        )
    if arr.dtype.kind not in "fiu":
        # strings or objects were cast (numeric text) or failed with a bare ValueError; complex lost its imaginary part
        raise ComponentContractError(f"encoder {getattr(encoder, 'name', encoder)!r}: {what} returned {arr.dtype} values, not real numbers")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ComponentContractError(f"encoder {getattr(encoder, 'name', encoder)!r}: {what} returned NaN or inf")
    return arr


def _progress_bar(total: int, show: bool | None, desc: str) -> Any:
    from tqdm.auto import tqdm

    # None = automatic: only long runs get a bar (and tqdm hides it when stderr is not a TTY).
    disable = (total < 512 or None) if show is None else not show
    return tqdm(total=total, desc=desc, unit="item", disable=disable, leave=False)


def _encode_modality(
    kind: str,
    keys: list[str | None],
    payloads: list[Any],
    labels: list[Any],
    encoder: Encoder,
    dim: int,
    cache: VectorCache | None,
    chunk_size: int,
    progress: bool | None,
) -> np.ndarray:
    """Vectors of one modality for all items; rows whose key is None (no content) stay zero."""
    out = np.zeros((len(keys), dim), dtype=np.float32)
    first_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            first_of.setdefault(key, i)
    unique = list(first_of)
    vectors_of: dict[str, np.ndarray] = {}
    if cache is not None and unique:
        cache.refresh()
        found, cached = cache.get_many(unique)
        for key, vec in zip((k for k, f in zip(unique, found) if f), cached):
            vectors_of[key] = vec
    todo = [k for k in unique if k not in vectors_of]
    if todo:
        if kind == "text":
            # Longest first, so equal-length texts share a chunk (less padding) and the
            # progress bar's early estimate is pessimistic rather than optimistic.
            todo.sort(key=lambda k: -len(payloads[first_of[k]]))
        bar = _progress_bar(len(todo), progress, f"encoding {kind}s")
        try:
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start : start + chunk_size]
                rows = [first_of[k] for k in chunk]
                if kind == "text":
                    result = encoder.encode_texts([payloads[r] for r in rows])
                else:
                    images = [load_image(payloads[r], input_label(labels, r)) for r in rows]
                    result = encoder.encode_images(images)  # type: ignore[attr-defined]
                vecs = _check_output(result, len(chunk), dim, encoder, f"encode_{kind}s")
                if cache is not None:
                    cache.put(chunk, vecs)  # finished work survives an interruption
                for key, vec in zip(chunk, vecs):
                    vectors_of[key] = vec
                bar.update(len(chunk))
        finally:
            bar.close()
    for i, key in enumerate(keys):
        if key is not None:
            out[i] = vectors_of[key]
    return out


def encode_catalog(
    items: "Catalog | pd.DataFrame | Sequence[str]",
    encoder: Encoder,
    *,
    text_fields: Sequence[str] | str | None = None,
    image_field: str | None = None,
    image_root: str | os.PathLike[str] | None = None,
    separator: str = ". ",
    combine: str = "concat",
    image_weight: float = 0.5,
    empty: str = "zero",
    cache: bool | VectorCache = True,
    cache_dir: str | os.PathLike[str] | None = None,
    chunk_size: int = 512,
    progress: bool | None = None,
) -> np.ndarray:
    """Encode every item of a catalogue into one float32 ``(n_items, d)`` array, in item order.

    Args:
        items: a :class:`coldkit.data.interactions.Catalog`, a pandas DataFrame (one row per
            item; an ``item_id`` column, if present, names items in errors) or a list of texts.
        encoder: any :class:`coldkit.Encoder`, e.g. ``coldkit.get_encoder("bert")``.
        text_fields: columns joined (with ``separator``, skipping empty values) into each item's
            text. Default for a Catalog: its ``text_columns``; a DataFrame needs them named.
            Pass ``()`` with an ``image_field`` for image-only vectors.
        image_field: column of image paths (or PIL images); needs an encoder with the
            ``"image"`` modality. An empty value means "no image" for that item; a path that
            does not exist or is not a readable image is an error naming the item.
        image_root: directory that relative image paths are resolved against.
        combine: how text and image vectors of one item merge: ``"concat"`` gives
            ``[sqrt(1-w)·t, sqrt(w)·i]`` (d = d_text + d_image; cosine = (1-w)·cos_t + w·cos_i),
            ``"mean"`` gives ``normalize((1-w)·t + w·i)`` and needs both in one space (CLIP).
            Either way a missing part is left out and the row re-normalised.
        image_weight: ``w`` above, in [0, 1].
        empty: ``"zero"`` (default): an item with empty/whitespace text (and no image) gets an
            all-zero row, similar to nothing; ``"error"``: raise naming the first such item.
        cache: True uses the on-disk :class:`VectorCache` in ``cache_dir``; False disables it; a
            ``VectorCache`` instance is used as is.
        cache_dir: default ``$COLDKIT_CACHE_DIR`` or ``~/.cache/coldkit/vectors``.
        chunk_size: items per encoder call and per cache shard (work lost on interruption is at
            most one chunk).
        progress: show a tqdm bar: True, False, or None (automatic: runs of 512+ new items).

    Returns:
        C-contiguous float32 ``(len(items), d)``; rows have unit norm except all-zero rows of
        items without content.

    Raises:
        InvalidInputError: bad arguments, a None/non-string text, an empty text with
            ``empty="error"``, a missing or unreadable image (each message names the item).

    Example::

        encoder = coldkit.get_encoder("hashing")
        vectors = coldkit.encode_catalog(["a basketball game", "a violin concerto"], encoder)
    """
    if combine not in COMBINE_MODES:
        raise InvalidInputError(f"unknown combine {combine!r}; choose one of {COMBINE_MODES}")
    if empty not in EMPTY_POLICIES:
        raise InvalidInputError(f"unknown empty policy {empty!r}; choose one of {EMPTY_POLICIES}")
    if not (isinstance(image_weight, (int, float)) and 0.0 <= float(image_weight) <= 1.0):
        raise InvalidInputError(f"image_weight must be a number in [0, 1], got {image_weight!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if not isinstance(separator, str):  # was AttributeError: 'NoneType' object has no attribute 'join'
        raise InvalidInputError(f"separator must be a string (e.g. '. '), got {separator!r}")
    if not isinstance(cache, (bool, np.bool_, VectorCache)):
        # any truthy value turned the on-disk cache on, so cache="no" or cache="off" wrote to it
        raise InvalidInputError(f"cache must be True, False or a VectorCache, got {cache!r}")
    if isinstance(encoder, str):  # was AttributeError: 'str' object has no attribute 'dim'
        raise InvalidInputError(f"encode_catalog takes an encoder object, not its name: coldkit.get_encoder({encoder!r})")
    if not any(callable(getattr(encoder, m, None)) for m in ("encode_texts", "encode_images")):
        # encode_catalog(encoder, items) failed as "'list' object has no attribute 'dim'"
        raise InvalidInputError(
            f"encode_catalog(items, encoder): the second argument must be an encoder (coldkit.get_encoder(...)), "
            f"got {type(encoder).__name__}"
        )
    if isinstance(cache, VectorCache) or cache:
        configured_max_size()  # a bad $COLDKIT_CACHE_MAX_SIZE failed only after the whole encoding, its vectors lost
    modalities = frozenset(getattr(encoder, "modalities", frozenset({"text"})))
    dim = encoder.dim
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)) or dim < 1:
        # a plugin encoder's dim of "x" (an option passed through unchecked) was a bare ValueError from int()
        raise ComponentContractError(f"encoder {getattr(encoder, 'name', encoder)!r}: dim must be an integer >= 1, got {dim!r}")
    dim = int(dim)

    inputs = gather_inputs(items, text_fields, image_field, image_root, separator)
    n = len(inputs.labels)
    if inputs.texts is not None and "text" not in modalities:
        raise InvalidInputError(f"encoder {encoder.name!r} does not encode text (modalities: {sorted(modalities)})")
    if inputs.images is not None and "image" not in modalities:
        raise InvalidInputError(
            f"encoder {encoder.name!r} does not encode images (modalities: {sorted(modalities)}); "
            "use an image encoder such as 'clip' or drop image_field"
        )

    # Validate and hash everything before encoding anything: bad input fails fast, not after an hour.
    text_keys: list[str | None] | None = None
    texts: list[str] = []
    if inputs.texts is not None:
        texts, empty_mask = check_texts(inputs.texts, inputs.labels)
        text_keys = [None if e else text_key(t) for t, e in zip(texts, empty_mask)]
    image_keys: list[str | None] | None = None
    if inputs.images is not None:
        image_keys = [
            None if img is None else image_key(img, input_label(inputs.labels, i)) for i, img in enumerate(inputs.images)
        ]
    if empty == "error":
        for i in range(n):
            has_text = text_keys is not None and text_keys[i] is not None
            has_image = image_keys is not None and image_keys[i] is not None
            if not (has_text or has_image):
                raise InvalidInputError(f"{input_label(inputs.labels, i)} has no content (empty text and no image)")

    store: VectorCache | None
    if isinstance(cache, VectorCache):
        if cache.fingerprint != encoder.fingerprint or cache.dim != dim:
            raise InvalidInputError("the VectorCache given belongs to another encoder (fingerprint or dim differ)")
        store = cache
    elif cache:
        store = open_cache(encoder, dim, cache_dir)
    else:
        store = None

    parts: list[np.ndarray] = []
    if text_keys is not None:
        parts.append(
            _encode_modality("text", text_keys, texts, inputs.labels, encoder, dim, store, chunk_size, progress)
        )
    if image_keys is not None:
        parts.append(
            _encode_modality(
                "image", image_keys, inputs.images or [], inputs.labels, encoder, dim, store, chunk_size, progress
            )
        )
    if store is not None:
        finish_cache_use(store)

    if len(parts) == 1:
        return normalize_rows(parts[0]) if n else np.zeros((0, dim), dtype=np.float32)
    text_vecs, image_vecs = parts
    w = float(image_weight)
    if combine == "concat":
        joined = np.concatenate([math.sqrt(1.0 - w) * text_vecs, math.sqrt(w) * image_vecs], axis=1)
        return normalize_rows(joined)
    return normalize_rows((1.0 - w) * text_vecs + w * image_vecs)
