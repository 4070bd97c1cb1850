"""A model's timbre graph: the "sounds alike" branch, learned on its own.

A card of format 3 may name a second ONNX graph under ``timbre``
(``{"file", "sha256", "stem": [freq, time]}``). It gives the model's ``timbre`` vectors
in place of the main graph's: a small network trained on real recordings to place
music of one soundtrack, album or production together (``trainer.timbre``), while the
main graph's fused vector keeps what it is trained for (the same song, excerpts,
versions). Its input ``mel_pooled`` ``(B, n_mels // freq, frames // time)`` is a
segment's log-mel average-pooled by the stem (as the training cache stores it) and
rounded through float16, so that a scan can keep every segment's pooled mel cheaply
and run the graph only on the segments it keeps (:func:`engine.stream.embed_stream`).
"""

from __future__ import annotations

import numpy as np

from engine.config import FeatureConfig
from engine.features import Segments
from engine.trunk import contiguous_runs, join_frames

#: Input and output tensor names of a timbre graph.
TIMBRE_INPUT = "mel_pooled"
TIMBRE_OUTPUT = "timbre"


def pool_frames(frames: np.ndarray, freq: int, time: int) -> np.ndarray:
    """Average-pool the last two axes ``(..., F, T)`` by ``freq`` x ``time`` (cropping to
    whole blocks), as the models' stem pools; float32."""
    f, t = frames.shape[-2] // freq, frames.shape[-1] // time
    lead = frames.shape[:-2]
    x = frames[..., : f * freq, : t * time].reshape(*lead, f, freq, t, time)
    pooled: np.ndarray = x.mean(axis=(-3, -1), dtype=np.float32)
    return pooled


def pooled_mel(mel: np.ndarray, stem: tuple[int, int]) -> np.ndarray:
    """Segments' mel ``(n, n_mels, frames)`` as the timbre graph reads it, float16."""
    return pool_frames(np.asarray(mel, np.float32), *stem).astype(np.float16)


def pooled_segments(segments: Segments, config: FeatureConfig,
                    stem: tuple[int, int]) -> np.ndarray:
    """:func:`pooled_mel` of every segment, pooling the frames of consecutive segments
    once (a scan's segments overlap 4.5 times) when their hop is whole stem blocks."""
    hop, length = config.segment_hop_frames, segments.mel.shape[-1]
    if not len(segments) or hop % stem[1] or length % stem[1]:
        return pooled_mel(segments.mel, stem)
    step, width = hop // stem[1], length // stem[1]
    parts = []
    for a, b in contiguous_runs(segments.starts, config.segment.hop_seconds,
                                tolerance=0.5 / config.frame_rate):
        joined = pool_frames(join_frames(np.asarray(segments.mel[a:b], np.float32), hop),
                             *stem)
        parts.append(np.stack([joined[:, i * step: i * step + width] for i in range(b - a)]))
    return np.concatenate(parts).astype(np.float16)
