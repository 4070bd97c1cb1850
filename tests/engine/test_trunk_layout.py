"""The trunk layout's bookkeeping: runs of consecutive segments, joined frames, pooling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import dsp
from engine.errors import ModelError
from engine.features import Segments, extract_features, segment_features, segment_starts
from engine.filecheck import file_digest
from engine.model import Embedder, load_card
from engine.trunk import MAX_RUN, contiguous_runs, join_frames, pool_columns
from tests.audio_factory import song


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


def _trunk_folder(tmp_path: Path) -> Path:
    from engine.model import default_model_dir

    shipped = default_model_dir()
    if load_card(shipped).layout != "trunk":
        pytest.skip("the shipped model is not in the trunk layout")
    return Path(shutil.copytree(shipped, tmp_path / "trunk"))


def test_a_trunk_folder_is_checked_file_by_file(tmp_path):
    folder = _trunk_folder(tmp_path)
    Embedder(folder).check()
    card = load_card(folder)
    head = folder / card.head["file"]
    head.write_bytes(head.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="does not match its card's sha256"):
        Embedder(folder)
    head.unlink()
    with pytest.raises(ModelError, match="model file missing"):
        Embedder(folder)
    data = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    del data["pool"]
    (folder / "card.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="lacks its 'head' or 'pool'"):
        load_card(folder)


def test_segments_in_a_run_and_alone_embed_alike(tmp_path):
    """A segment inside a run sees its neighbours' frames, one alone sees none: the two
    vectors differ a little. A wrong pooling offset would make them differ more, since
    every 6 s of this track sounds different."""
    folder = _trunk_folder(tmp_path)
    emb = Embedder(folder)
    cfg = emb.config
    sr = cfg.sr
    t = np.arange(int(6 * sr)) / sr
    rng = np.random.default_rng(1)
    parts = []
    for k in range(10):  # alternating tones, noise bursts and chords, 6 s each
        f0 = 110.0 * 2 ** (k / 5)
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3, 5))
        if k % 3 == 1:
            tone = tone * (rng.random(t.size) < 0.02) + 0.3 * rng.standard_normal(t.size)
        parts.append((0.2 * tone).astype(np.float32))
    y = np.concatenate(parts)
    segs = segment_features(extract_features(y, config=cfg), config=cfg,
                            starts=segment_starts(dsp.n_frames(y.size, cfg.hop_length),
                                                  length=cfg.segment_frames,
                                                  hop=cfg.segment_hop_frames))
    run = emb.embed(segs).fused
    alone = np.concatenate([emb.embed(Segments(segs.mel[i:i + 1], segs.chroma[i:i + 1],
                                               segs.tempo[i:i + 1], segs.starts[i:i + 1])).fused
                            for i in range(len(segs))])
    same = np.sum(run * alone, axis=1)
    assert same.min() > 0.97
    for shift in (2, -2):  # the segment two hops away (they share 10 of the 18 s)
        other = np.sum(np.roll(run, shift, axis=0) * alone, axis=1)[2:-2]
        assert same[2:-2].mean() > other.mean() + 0.005


def test_the_shipped_int8_trunk_embeds_as_its_fp32_trunk_on_this_cpu(tmp_path):
    """INT8 kernels differ by CPU (without VNNI, full-range int8 weights overflow 16-bit
    sums): whatever CPU runs this, the shipped INT8 trunk must stay at fp32's vectors."""
    folder = _trunk_folder(tmp_path)
    card = load_card(folder)
    assert card.precision == "int8"
    fp32 = Path(shutil.copytree(folder, tmp_path / "fp32"))
    data = json.loads((fp32 / "card.json").read_text(encoding="utf-8"))
    data.update(model_file="trunk.onnx", sha256=file_digest(fp32 / "trunk.onnx"),
                precision="fp32")
    (fp32 / "card.json").write_text(json.dumps(data), encoding="utf-8")
    int8_emb, fp32_emb = Embedder(folder), Embedder(fp32)
    cfg = card.features
    y = np.concatenate([song(s, 30.0, sr=cfg.sr) for s in range(3)])
    segs = segment_features(extract_features(y, config=cfg), config=cfg,
                            starts=segment_starts(dsp.n_frames(y.size, cfg.hop_length),
                                                  length=cfg.segment_frames,
                                                  hop=cfg.segment_hop_frames))
    a, b = int8_emb.embed(segs), fp32_emb.embed(segs)
    assert np.sum(a.fused * b.fused, axis=1).min() > 0.99
    for name, vectors in a.branches.items():
        assert np.sum(vectors * b.branches[name], axis=1).min() > 0.98, name
