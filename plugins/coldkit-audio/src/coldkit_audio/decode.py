"""Audio files to mono float32 waveforms at the rate an encoder needs, with per-file errors.

Decoding goes through soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, MP3, AIFF ...). Every way a
file can be unusable raises :class:`~coldkit.exceptions.InvalidInputError` naming the file: not
found, not decodable, no samples, longer than the cap, or NaN/infinite samples (possible in float
WAV). The duration cap is checked from the header *before* decoding and again while reading (a
header can lie), so a huge file never fills memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from coldkit.exceptions import InvalidInputError
from coldkit.media import existing_media_path, file_problem

__all__ = ["DEFAULT_MAX_SECONDS", "check_audio_paths", "check_max_seconds", "load_audio", "resample"]

# Ten minutes: longer than any song preview, jingle or trailer soundtrack a catalogue holds, and
# still a bounded amount of memory (10 min of 48 kHz stereo float32 is 230 MB before mix-down).
DEFAULT_MAX_SECONDS = 600.0


def check_max_seconds(max_seconds: Any) -> float:
    """Validate the duration cap (seconds, > 0, finite)."""
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)):
        raise InvalidInputError(f"max_seconds must be a number of seconds, got {max_seconds!r}")
    if not math.isfinite(max_seconds) or max_seconds <= 0:
        raise InvalidInputError(f"max_seconds must be finite and > 0, got {max_seconds!r}")
    return float(max_seconds)


def check_audio_paths(paths: Sequence[Any]) -> list[Any]:
    """The paths as a list; a single path is refused (it would be read as characters)."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise InvalidInputError("audio must be a sequence of file paths, not a single path; wrap it in a list")
    try:
        return list(paths)
    except TypeError:
        raise InvalidInputError(f"audio must be a sequence of file paths, got {type(paths).__name__}") from None


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``, anti-aliased) from ``source_rate`` to ``target_rate``."""
    if source_rate == target_rate:
        return np.ascontiguousarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(source_rate), int(target_rate))
    out = resample_poly(wave.astype(np.float64), int(target_rate) // g, int(source_rate) // g)
    return np.ascontiguousarray(out, dtype=np.float32)


def load_audio(path: Any, sample_rate: int, *, max_seconds: float = DEFAULT_MAX_SECONDS, label: str = "audio") -> np.ndarray:
    """Decode ``path`` into a mono float32 waveform at ``sample_rate`` Hz (channels averaged).

    Args:
        path: a file path (``str`` or ``os.PathLike``).
        sample_rate: the rate the caller's model works at; the file is resampled to it.
        max_seconds: files longer than this are refused (before they are decoded).
        label: names the file in errors (e.g. ``"audio 3"`` or an item id).

    Raises:
        InvalidInputError: the path is not a path, the file is missing or undecodable, holds no
            samples, is longer than ``max_seconds``, or holds NaN/infinite samples.
    """
    import soundfile

    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"{label}: expected an audio file path, got {type(path).__name__}")
    file = Path(existing_media_path(path))  # a name in NFC finds the file a Mac stored as NFD (and back)
    problem = file_problem(file)  # stat only: opening a FIFO blocks until something writes to it
    if problem is not None:
        raise InvalidInputError(f"{label}: audio {problem}")
    cut = _wav_truncation(file)
    if cut is not None:
        raise InvalidInputError(
            f"{label}: {str(file)!r} is truncated: its header declares {cut[0]:,} bytes of audio data, the file "
            f"holds {cut[1]:,} (an interrupted copy or download?)"
        )
    try:
        with soundfile.SoundFile(str(file)) as sound:
            rate = int(sound.samplerate)
            if rate <= 0:
                raise InvalidInputError(f"{label}: {str(file)!r} declares a sample rate of {rate} Hz")
            limit = int(max_seconds * rate)
            declared = int(sound.frames) if sound.frames is not None else -1
            if declared > limit:
                raise InvalidInputError(
                    f"{label}: {str(file)!r} is {declared / rate:.1f} s long, above max_seconds={max_seconds:g}; "
                    "trim it or raise max_seconds"
                )
            # read one frame past the cap: a header that understates the length is caught too
            data = sound.read(frames=limit + 1, dtype="float32", always_2d=True)
    except InvalidInputError:
        raise
    except (RuntimeError, ValueError, OSError, TypeError, EOFError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise InvalidInputError(f"{label}: cannot decode audio file {str(file)!r}: {exc}") from exc
    if data.shape[0] > limit:
        raise InvalidInputError(
            f"{label}: {str(file)!r} is longer than max_seconds={max_seconds:g}; trim it or raise max_seconds"
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InvalidInputError(f"{label}: {str(file)!r} holds no audio samples (zero length)")
    finite = np.isfinite(data)
    if not finite.all():
        first = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InvalidInputError(f"{label}: {str(file)!r} holds NaN or infinite samples (first at sample {first})")
    mono = data.mean(axis=1, dtype=np.float64)  # mix-down: the average of the channels
    if data.shape[1] > 1:
        # Channels in opposite phase (L = x, R = -x) mix down to their rounding residue: encoders that ignore the
        # gain (the mel statistics) took that noise for the sound, with a full-weight vector
        loud = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
        left = float(np.sqrt(np.mean(np.square(mono))))
        if loud > 0 and left < _CANCELLED * loud:
            raise InvalidInputError(
                f"{label}: {str(file)!r}: its {data.shape[1]} channels cancel out when mixed to mono (the mix is "
                f"{20 * np.log10(max(left, 1e-300) / loud):.0f} dB below them: channels in opposite phase); "
                "save one channel, or the channels in phase"
            )
    return resample(mono, rate, sample_rate)


#: A mono mix this far below its channels (-60 dB) is what is left of channels that cancel out.
_CANCELLED = 1e-3


# Data sizes at or above this are placeholders of a WAV written as a stream (0xFFFFFFFF, 0x7FFFFFFF...):
# the length was unknown when the header was written, so a shorter file is not truncated.
_STREAMING_DATA_SIZE = 0x7FFF0000


def _wav_truncation(file: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of audio data when a RIFF/WAVE file is shorter than its header says, else None.

    libsndfile clamps the data chunk to the file and reads what is there, so a WAV cut short (an
    interrupted copy or download) decoded as a shorter clip, without a word. Other formats and
    unreadable headers are left to the decoder; a zero or streaming placeholder size is not checked.
    """
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(12)
            if head[:4] != b"RIFF" or head[8:] != b"WAVE":
                return None
            offset = 12
            while offset + 8 <= size:
                fh.seek(offset)
                header = fh.read(8)
                if len(header) < 8:
                    return None
                length = int.from_bytes(header[4:], "little")
                if header[:4] == b"data":
                    present = size - offset - 8
                    if 0 < length < _STREAMING_DATA_SIZE and present < length:
                        return length, present
                    return None
                offset += 8 + length + (length & 1)  # chunks are padded to an even size
    except OSError:
        return None  # the decoder reports an unreadable file in its own words
    return None
