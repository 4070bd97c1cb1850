"""Features for only the segments that will be embedded.

A whole-file seed outside the library embeds a few evenly spread segments, yet
computing the features of the whole track costs several times the decoding (scans
embed every segment and use :mod:`engine.stream`). Every feature stage is local in
time (STFT frames, HPSS medians, onset flux, the centred tempogram window), so the
features of a segment only depend on the audio within a fixed context around it.
:func:`selected_segments` computes features on those windows alone (merged when they
overlap) and cuts the same segments :func:`engine.features.segment_features` would
cut from the whole track, to float rounding (tested in ``test_windowed.py``).
"""

from __future__ import annotations

import numpy as np

from engine import dsp
from engine.config import FeatureConfig
from engine.features import (
    HPSS_KERNEL,
    Segments,
    extract_features,
    segment_features,
    segment_starts,
    select_starts,
)

#: Use windows only when they skip at least this fraction of the track.
MIN_SAVING = 0.15


def context_frames(config: FeatureConfig) -> int:
    """Frames of audio on each side of a segment that its features depend on."""
    stft = config.mel.n_fft // config.hop_length + 1
    return config.tempo.win // 2 + config.tempo.stride + HPSS_KERNEL // 2 + 2 * stft + 2


def _spans(starts: np.ndarray, *, length: int, context: int, total: int,
           align: int = 1) -> list[list[int]]:
    spans: list[list[int]] = []
    for s in starts:
        a, b = max(0, int(s) - context), min(total, int(s) + length + context)
        a -= a % align  # strided tempogram columns sit where the whole track has them
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return spans


def selected_segments(y: np.ndarray, *, config: FeatureConfig,
                      max_segments: int | None) -> Segments:
    """The model segments of a whole signal, computing features only where needed.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono audio at ``config.sr``
    config : the model's feature configuration
    max_segments : keep at most this many segments, evenly spread (None: all)

    Returns
    -------
    Segments
        The same segments as ``segment_features(extract_features(y), ...)``.
    """
    hop, length = config.hop_length, config.segment_frames
    total = dsp.n_frames(int(np.asarray(y).size), hop)
    starts = select_starts(segment_starts(total, length=length, hop=config.segment_hop_frames),
                           max_segments)
    spans = _spans(starts, length=length, context=context_frames(config), total=total,
                   align=config.tempo.stride)
    if total <= length or sum(b - a for a, b in spans) > (1 - MIN_SAVING) * total:
        return segment_features(extract_features(y, config=config), config=config,
                                starts=starts)
    parts = []
    for a, b in spans:
        piece = y[a * hop: b * hop] if b < total else y[a * hop:]
        inside = starts[(starts >= a) & (starts < b)] - a
        parts.append(segment_features(extract_features(piece, config=config), config=config,
                                      starts=inside))
    return Segments(mel=np.concatenate([p.mel for p in parts]),
                    chroma=np.concatenate([p.chroma for p in parts]),
                    tempo=np.concatenate([p.tempo for p in parts]),
                    starts=(starts * hop / config.sr).astype(np.float32))
