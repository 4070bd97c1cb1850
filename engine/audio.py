"""Decode any common music file to mono float32 at a requested sample rate.

libsndfile (through soundfile) reads WAV, FLAC, OGG/Vorbis, Opus, AIFF and MP3 in
process and fast; PyAV (FFmpeg) reads everything else (M4A/AAC, WMA, ...). Both run
in this process: no subprocess per file. Resampling is done with soxr.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from engine.decoder_notes import quiet_mpg123
from engine.errors import DecodeError, ParameterError
from engine.filecheck import check_audio_file

#: File extensions Resonance treats as music (lower case, with the dot).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac",
     ".aif", ".aiff", ".aifc", ".wma", ".wv", ".ape", ".mka", ".webm"}
)

# Extensions libsndfile is tried on first (it is the faster decoder for these);
# anything else, Opus included (PyAV decodes it twice as fast), goes to PyAV.
_SNDFILE_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc"})


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read without decoding it."""

    duration: float
    sample_rate: int
    channels: int
    codec: str


def load_audio(
    path: str | os.PathLike[str],
    *,
    sr: int,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : the audio file
    sr : target sample rate in Hz
    offset : seconds to skip from the start
    duration : seconds to decode at most (None: to the end)

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono signal (channels averaged), finite values.

    Raises
    ------
    DecodeError
        The file is missing, empty, unreadable, not audio, or corrupt.
    """
    if sr <= 0:
        raise ParameterError(f"sample rate must be positive, got {sr}")
    if offset < 0 or (duration is not None and duration < 0):
        raise ParameterError("offset and duration must not be negative")
    path = Path(path)
    check_audio_file(path)
    data, native_sr = _decode(path, offset, duration)
    y = to_mono(data)
    y = resample(y, orig_sr=native_sr, target_sr=sr)
    return sanitize(y)


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Duration, rate, channels and codec of ``path`` from its header."""
    path = Path(path)
    check_audio_file(path)
    if path.suffix.lower() in _SNDFILE_EXTENSIONS:
        try:
            with _quiet(path):
                info = sf.info(str(path))
            if info.frames > 0 and info.samplerate > 0:
                return AudioInfo(info.frames / info.samplerate, info.samplerate,
                                 info.channels, info.format.lower())
        except (sf.LibsndfileError, RuntimeError, TypeError):
            pass
    return _av_info(path)


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels: ``(n, channels)`` or ``(n,)`` to ``(n,)`` float32."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        channels = data.shape[1]
        if channels == 1:
            return data[:, 0]
        return data @ np.full(channels, 1.0 / channels, dtype=np.float32)  # BLAS: fast
    return data.reshape(-1)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling of a mono signal (soxr, high quality)."""
    if orig_sr == target_sr or y.size == 0:
        return np.ascontiguousarray(y, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(y, dtype=np.float32), orig_sr, target_sr, "HQ")
    return np.asarray(out, dtype=np.float32)


def sanitize(y: np.ndarray) -> np.ndarray:
    """Replace NaN/inf by 0 and clip to [-1, 1] (decoders may overshoot slightly)."""
    y = np.asarray(y, dtype=np.float32)
    if not np.isfinite(y).all():
        y = np.nan_to_num(y, nan=0.0, posinf=1.0, neginf=-1.0)
    elif not y.flags.writeable:
        y = y.copy()
    return np.clip(y, -1.0, 1.0, out=y)


# -- internals -----------------------------------------------------------------------

def _quiet(path: Path) -> contextlib.AbstractContextManager[None]:
    """libsndfile's MP3 decoder (libmpg123) prints notes on damaged files to stderr:
    kept off it (:mod:`engine.decoder_notes`)."""
    return quiet_mpg123() if path.suffix.lower() == ".mp3" else contextlib.nullcontext()


def _decode(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    sndfile_error: str | None = None
    if path.suffix.lower() in _SNDFILE_EXTENSIONS:
        try:
            with _quiet(path):
                return _decode_sndfile(path, offset, duration)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            sndfile_error = str(exc)
    try:
        return _decode_av(path, offset, duration)
    except DecodeError as exc:
        if sndfile_error and "not an audio file" in exc.reason:
            # libsndfile's own text says "File does not exist" for a corrupt file: not shown
            raise DecodeError(path, "not a readable audio file (corrupt, or a format "
                                    "that cannot be decoded)") from None
        raise


def _decode_sndfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as f:
        rate = f.samplerate
        if rate <= 0 or f.channels <= 0:
            raise RuntimeError("invalid header")
        start = int(round(offset * rate))
        frames = -1 if duration is None else int(round(duration * rate))
        if f.seekable() and start:
            if f.frames > 0 and start >= f.frames:
                return np.zeros((0, f.channels), np.float32), rate
            f.seek(start)
        elif start:
            f.read(start, dtype="float32", always_2d=True)
        data = f.read(frames, dtype="float32", always_2d=True)
    if data.shape[0] == 0 and start == 0:
        raise RuntimeError("no audio frames")
    return data, rate


def _audio_stream(container: Any, path: Path) -> tuple[Any, int]:
    """The first audio stream of an open container and its sample rate."""
    if not container.streams.audio:
        raise DecodeError(path, "not an audio file (no audio stream)")
    stream = container.streams.audio[0]
    rate = int(stream.codec_context.sample_rate or stream.rate or 0)
    if rate <= 0:
        raise DecodeError(path, "audio stream has no sample rate")
    return stream, rate


def _decode_av(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    import av  # lazy: PyAV loads FFmpeg's shared libraries

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream, rate = _audio_stream(container, path)
            if offset > 0 and stream.time_base:  # else frames before offset are dropped
                container.seek(int(offset / stream.time_base), stream=stream, backward=True)
            chunks, got = _read_av_frames(container, stream, rate, offset, duration)
    except DecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError, KeyError) as exc:
        raise DecodeError(path, _av_reason(exc), transient=_transient(exc)) from None
    if not chunks:
        if offset > 0:
            return np.zeros((0, 1), np.float32), rate
        raise DecodeError(path, "no audio could be decoded (corrupt or truncated file)")
    data = np.concatenate(chunks, axis=0)
    return data[:got] if got is not None else data, rate


def _read_av_frames(container: Any, stream: Any, rate: int, offset: float,
                    duration: float | None) -> tuple[list[np.ndarray], int | None]:
    """Decode frames to ``(n, channels)`` float32 chunks from ``offset`` on."""

    want = None if duration is None else int(round(duration * rate))
    chunks: list[np.ndarray] = []
    have = 0
    for frame in intact_frames(container, stream):
        arr = _frame_to_array(frame)
        if offset > 0 and frame.pts is not None and frame.time_base is not None:
            skip = int(round((offset - float(frame.pts * frame.time_base)) * rate))
            if skip >= arr.shape[0]:
                continue
            if skip > 0:
                arr = arr[skip:]
        chunks.append(arr)
        have += arr.shape[0]
        if want is not None and have >= want:
            break
    return chunks, want


def intact_frames(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames of ``stream``, skipping damaged packets as players do (each packet
    is decoded on its own, so junk in the middle of a file loses only its own packets,
    not the rest of the file)."""
    import av

    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        yield from frames


def _frame_to_array(frame: Any) -> np.ndarray:
    arr: np.ndarray = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    arr = arr.astype(np.float32, copy=False)
    if frame.format.is_planar:
        return arr.reshape(channels, -1).T
    return arr.reshape(-1, channels)


def _av_info(path: Path) -> AudioInfo:
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise DecodeError(path, "not an audio file (no audio stream)")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / 1_000_000
            rate = int(stream.codec_context.sample_rate or 0)
            return AudioInfo(seconds, rate, stream.codec_context.channels or 1,
                             stream.codec_context.name)
    except DecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(path, _av_reason(exc)) from None


#: OS error numbers whose cause can go away without the file changing.
_TRANSIENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.ENOMEM,
                               errno.ESTALE, errno.ENODEV, errno.ENXIO, errno.ETIMEDOUT})


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or getattr(exc, "errno", None) in _TRANSIENT_ERRNOS


def _av_reason(exc: Exception) -> str:
    import av

    if isinstance(exc, av.error.InvalidDataError):
        return "not an audio file, or the file is corrupt"
    if isinstance(exc, PermissionError):
        return "permission denied"
    message = getattr(exc, "strerror", None) or str(exc)
    return f"decoder error: {message}"


# -- streaming -----------------------------------------------------------------------

#: Seconds of audio per block of :func:`stream_audio`.
STREAM_BLOCK_SECONDS = 30.0


def stream_audio(path: str | os.PathLike[str], *, sr: int,
                 block_seconds: float = STREAM_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block to mono float32 at ``sr`` Hz.

    Memory stays bounded by a few blocks however long the file is: this is how scans
    read long files (a 2-hour file would be 1.3 GB of samples at 44.1 kHz).

    Yields
    ------
    y : np.ndarray [shape=(n,), dtype=float32], consecutive pieces of the signal

    Raises
    ------
    DecodeError
        As :func:`load_audio`.
    """
    if sr <= 0 or block_seconds <= 0:
        raise ParameterError("sample rate and block length must be positive")
    path = Path(path)
    check_audio_file(path)
    blocks: Iterator[tuple[np.ndarray, int]] | None = None
    if path.suffix.lower() in _SNDFILE_EXTENSIONS:
        blocks = _sndfile_blocks(path, block_seconds)
    if blocks is None:
        blocks = _av_blocks(path, block_seconds)
    resampler = None
    got = False
    for data, native_sr in blocks:
        y = to_mono(data)
        if native_sr != sr:
            if resampler is None:
                resampler = soxr.ResampleStream(native_sr, sr, 1, dtype="float32",
                                                quality="HQ")
            y = resampler.resample_chunk(np.ascontiguousarray(y))
        if y.size:
            got = True
            yield sanitize(y)
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        if tail.size:
            yield sanitize(tail)
    if not got:
        raise DecodeError(path, "no audio could be decoded (corrupt or truncated file)")


def _sndfile_blocks(path: Path, block_seconds: float) -> Iterator[tuple[np.ndarray, int]] | None:
    """libsndfile blocks, or None when libsndfile cannot open the file."""
    try:
        with _quiet(path):
            f = sf.SoundFile(str(path))
        if f.samplerate <= 0 or f.channels <= 0:
            f.close()
            return None
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None

    def blocks() -> Iterator[tuple[np.ndarray, int]]:
        done, rate = 0, f.samplerate  # frames given so far
        with f:
            size = max(1, int(block_seconds * rate))
            try:
                while True:
                    with _quiet(path):
                        data = f.read(size, dtype="float32", always_2d=True)
                    if data.shape[0] == 0:
                        return
                    done += data.shape[0]
                    yield data, rate
            except (sf.LibsndfileError, RuntimeError) as exc:
                error = exc
        # damaged mid-file: FFmpeg resynchronises past the damage, from where we are
        try:
            yield from _av_blocks(path, block_seconds, offset=done / rate)
        except DecodeError:
            raise DecodeError(path, f"decoder error: {error}") from None

    return blocks()


def _av_blocks(path: Path, block_seconds: float, *, offset: float = 0.0
               ) -> Iterator[tuple[np.ndarray, int]]:
    """PyAV frames gathered into blocks of about ``block_seconds``, from ``offset`` s."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(path, _av_reason(exc)) from None
    with container:
        stream, rate = _audio_stream(container, path)
        size = max(1, int(block_seconds * rate))
        pending: list[np.ndarray] = []
        have = 0
        try:
            if offset > 0 and stream.time_base:
                container.seek(int(offset / stream.time_base), stream=stream, backward=True)
            for frame in intact_frames(container, stream):
                arr = _frame_to_array(frame)
                if offset > 0 and frame.pts is not None and frame.time_base is not None:
                    arr = arr[max(0, int(round((offset - float(frame.pts * frame.time_base))
                                               * rate))):]
                pending.append(arr)
                have += pending[-1].shape[0]
                if have >= size:
                    yield np.concatenate(pending), rate
                    pending, have = [], 0
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise DecodeError(path, _av_reason(exc)) from None
        if pending:
            yield np.concatenate(pending), rate
