"""The trunk model layout: the convolutions run once over consecutive segments.

A scan embeds a segment every 4 s, each 18 s long, so a per-segment model sees every
second of audio 4.5 times. A trunk model splits the network in two graphs. The *trunk*
takes the frames of a whole stretch of consecutive segments (``mel`` ``(1, n_mels, T)``,
``chroma`` ``(1, bins, T)``, standardised inside over a sliding window) and returns one
map per convolutional branch, ``(1, channels, T // stride)``. Each segment then pools
the ``columns`` map columns it covers (mean and max, as the per-segment model pools its
own), and the *head* graph turns the pooled vectors and the segment's tempo vector into
the embeddings. Segments that are not part of such a stretch (a seed's spread segments,
an excerpt's tiles) go through the trunk one at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from engine.config import FeatureConfig
from engine.features import Segments

if TYPE_CHECKING:
    from engine.model import ModelCard

#: The trunk's maps, and the head inputs their pooled columns feed.
MAPS = {"timbre": ("timbre_map", "timbre_pooled"), "harmony": ("harmony_map", "harmony_pooled")}
MAP_NAMES = tuple(m for m, _ in MAPS.values())
POOLED_NAMES = tuple(p for _, p in MAPS.values())
#: Most segments one trunk run covers (a scan's pieces hold 64; bounds the maps' memory).
MAX_RUN = 64


def contiguous_runs(starts: np.ndarray, hop_seconds: float, *,
                    tolerance: float) -> list[tuple[int, int]]:
    """``[a, b)`` index ranges of segments that follow each other at the hop (to within
    ``tolerance`` seconds, e.g. half a frame), at most :data:`MAX_RUN` long."""
    if not len(starts):
        return []
    steps = np.abs(np.diff(np.asarray(starts, np.float64)) - hop_seconds) < tolerance
    runs, a = [], 0
    for i, step in enumerate(steps, start=1):
        if not step or i - a >= MAX_RUN:
            runs.append((a, i))
            a = i
    runs.append((a, len(starts)))
    return runs


def join_frames(blocks: np.ndarray, hop: int) -> np.ndarray:
    """Frames ``(channels, T)`` of consecutive overlapping segments ``(n, channels, L)``."""
    n, channels, length = blocks.shape
    out = np.empty((channels, (n - 1) * hop + length), np.float32)
    out[:, :length] = blocks[0]
    if n > 1:
        tails = blocks[1:, :, length - hop:]  # (n - 1, channels, hop)
        out[:, length:] = tails.transpose(1, 0, 2).reshape(channels, -1)
    return out


def pool_columns(feature_map: np.ndarray, offsets: np.ndarray, *, stride: int,
                 columns: int) -> np.ndarray:
    """Mean and max over each segment's ``columns`` map columns -> ``(n, 2 * channels)``.

    A segment starting ``offset`` frames into the run covers the columns from
    ``round(offset / stride)`` (kept inside the map).
    """
    cmap = feature_map[0]  # (channels, T')
    first = np.minimum(np.floor(offsets / stride + 0.5).astype(int),
                       cmap.shape[1] - columns)
    first = np.maximum(first, 0)
    width = min(columns, cmap.shape[1])
    windows = np.lib.stride_tricks.sliding_window_view(cmap, width, axis=1)[:, first]
    return np.concatenate([windows.mean(axis=2).T, windows.max(axis=2).T], axis=1)


def trunk_feeds(segments: Segments, config: FeatureConfig
                ) -> list[tuple[tuple[int, int], dict[str, np.ndarray]]]:
    """The trunk's inputs for ``segments``: per run of consecutive segments (``[a, b)``
    indices, :func:`contiguous_runs`), its joined ``mel`` and ``chroma`` frames."""
    hop = config.segment_hop_frames
    runs = contiguous_runs(segments.starts, config.segment.hop_seconds,
                           tolerance=0.5 / config.frame_rate)
    return [((a, b), {"mel": join_frames(segments.mel[a:b], hop)[None],
                      "chroma": join_frames(segments.chroma[a:b], hop)[None]})
            for a, b in runs]


def trunk_outputs(trunk: Any, head: Any, segments: Segments, card: ModelCard
                  ) -> dict[str, np.ndarray]:
    """Run the trunk over each run of consecutive segments and the head on every segment.

    Returns the head's outputs by name (``embedding`` and one per branch), ``(n, dim)``.
    """
    if not len(segments):
        return {}
    hop = card.features.segment_hop_frames
    map_names = list(MAP_NAMES)
    pooled: dict[str, list[np.ndarray]] = {name: [] for _, name in MAPS.values()}
    for (a, b), feed in trunk_feeds(segments, card.features):
        maps = dict(zip(map_names, trunk.run(map_names, feed), strict=True))
        offsets = np.arange(b - a) * hop
        for branch, (map_name, pooled_name) in MAPS.items():
            spec = card.pool[branch]
            pooled[pooled_name].append(pool_columns(
                np.asarray(maps[map_name], np.float32), offsets, stride=int(spec["stride"]),
                columns=int(spec["columns"])))
    head_feed = {name: np.concatenate(parts).astype(np.float32)
                 for name, parts in pooled.items()}
    head_feed["tempo"] = np.asarray(segments.tempo, np.float32)
    names = [o.name for o in head.get_outputs()]
    return dict(zip(names, head.run(names, head_feed), strict=True))
