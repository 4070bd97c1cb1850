"""Decode a track for preview as a stream of chunks, so playback starts at once.

PyAV (FFmpeg) decodes and resamples frame by frame from the requested offset; the
player starts as soon as the first fraction of a second is there. A file PyAV cannot
open goes through the engine's own decoder (whole file), which also names the reason
when the file cannot be read at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.audio import intact_frames

if TYPE_CHECKING:  # PyAV loads on first use
    from av.audio.stream import AudioStream
    from av.container import InputContainer

CHUNK_SECONDS = 0.25


@dataclass
class PreviewStream:
    """Mono float32 chunks at the requested rate, starting at the requested offset."""

    duration: float | None  # of the whole track, when the container says
    chunks: Iterator[np.ndarray]


def from_array(y: np.ndarray, sr: int, offset: float,
               chunk_seconds: float = CHUNK_SECONDS) -> PreviewStream:
    """A stream over samples already in memory (a decoded file, or a test signal)."""
    y = np.asarray(y, np.float32).reshape(-1)
    start = int(min(max(0.0, offset), len(y) / sr) * sr)
    step = max(1, int(chunk_seconds * sr))
    return PreviewStream(len(y) / sr, (y[i:i + step] for i in range(start, len(y), step)))


def open_preview(path: str | Path, sr: int, offset: float = 0.0) -> PreviewStream:
    """Stream ``path`` from ``offset`` seconds as mono at ``sr`` Hz."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError):
        return _whole_file(path, sr, offset)
    if not container.streams.audio:
        container.close()
        return _whole_file(path, sr, offset)
    stream = container.streams.audio[0]
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    return PreviewStream(duration, _frames(container, stream, sr, offset))


def _whole_file(path: str | Path, sr: int, offset: float) -> PreviewStream:
    from engine.audio import load_audio

    return from_array(load_audio(path, sr=sr), sr, offset)


def _frames(container: InputContainer, stream: AudioStream, sr: int,
            offset: float) -> Iterator[np.ndarray]:
    """Resampled mono chunks from ``offset`` on; the container is closed at the end."""
    import av

    try:
        if offset > 0 and stream.time_base is not None:
            with contextlib.suppress(av.error.FFmpegError):
                container.seek(int(offset / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        skip: int | None = None if offset > 0 else 0
        pending: list[np.ndarray] = []
        have = 0
        step = int(CHUNK_SECONDS * sr)
        for frame in intact_frames(container, stream):
            if skip is None:  # samples between the seek point and the offset
                start = float(frame.pts * frame.time_base) if frame.pts is not None else offset
                skip = max(0, int(round((offset - start) * sr)))
            for out in resampler.resample(frame):
                arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if skip:
                    cut = min(skip, len(arr))
                    arr, skip = arr[cut:], skip - cut
                if len(arr):
                    pending.append(arr)
                    have += len(arr)
            if have >= step:
                yield np.concatenate(pending)
                pending, have = [], 0
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        if pending:
            yield np.concatenate(pending)
    finally:
        container.close()
