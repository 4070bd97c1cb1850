"""The trunk layout's bookkeeping: runs of consecutive segments, joined frames, pooling."""

from __future__ import annotations

import numpy as np

from engine.trunk import MAX_RUN, contiguous_runs, join_frames, pool_columns


def test_consecutive_segments_form_runs_and_others_stand_alone():
    starts = np.array([0, 4, 8, 20, 24, 40], np.float32)
    assert contiguous_runs(starts, 4.0, tolerance=0.01) == [(0, 3), (3, 5), (5, 6)]
    assert contiguous_runs(np.zeros(0), 4.0, tolerance=0.01) == []
    long = np.arange(MAX_RUN + 5, dtype=np.float32) * 4 + 7200  # float32 starts of a long file
    assert contiguous_runs(long, 4.0, tolerance=0.01) == [(0, MAX_RUN), (MAX_RUN, MAX_RUN + 5)]


def test_joined_frames_are_the_frames_the_segments_were_cut_from():
    frames = np.random.default_rng(0).normal(size=(3, 50)).astype(np.float32)
    length, hop = 20, 6
    blocks = np.stack([frames[:, s:s + length] for s in range(0, 50 - length + 1, hop)])
    joined = join_frames(blocks, hop)
    assert np.array_equal(joined, frames[:, :joined.shape[1]])
    assert np.array_equal(join_frames(blocks[:1], hop), blocks[0])


def test_each_segment_pools_the_columns_it_covers():
    cmap = np.arange(2 * 12, dtype=np.float32).reshape(1, 2, 12)
    pooled = pool_columns(cmap, np.array([0, 8, 40]), stride=4, columns=5)
    # offsets 0 and 8 frames -> columns 0-4 and 2-6; 40 frames (column 10) is kept inside
    expected_first = [0, 2, 7]
    for row, first in zip(pooled, expected_first, strict=True):
        window = cmap[0][:, first:first + 5]
        assert np.array_equal(row, np.concatenate([window.mean(axis=1), window.max(axis=1)]))
