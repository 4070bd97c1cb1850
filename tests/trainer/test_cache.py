"""Feature cache: engine parity, backends that agree, layouts that must match."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.audio import load_audio
from engine.features import extract_features, segment_features
from engine.timbre import pool_frames as pool_numpy
from trainer import cache as cache_mod
from trainer.cache import (
    RamCache,
    SQLiteCache,
    block_means,
    cache_path,
    fill,
    layout_of,
    open_store,
)
from trainer.config import TrainConfig
from trainer.data import Track, discover_tracks
from trainer.errors import TrainerError
from trainer.model import pool_frames
from trainer.sampler import cut_segment


def test_numpy_pooling_equals_model_stem(rng: np.random.Generator) -> None:
    mel = rng.normal(-50, 10, size=(32, 103)).astype(np.float32)
    chroma = rng.random((12, 103)).astype(np.float32)
    pm, pc = pool_frames(torch.from_numpy(mel)[None], torch.from_numpy(chroma)[None],
                         stem_freq=2, stem_time=4)
    np.testing.assert_allclose(pool_numpy(mel, 2, 4), pm[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(pool_numpy(chroma, 1, 4), pc[0].numpy(), atol=1e-6)


def test_block_means(rng: np.random.Generator) -> None:
    x = rng.random((3, 10)).astype(np.float32)
    got = block_means(x, 4)
    np.testing.assert_allclose(got[:, 0], x[:, :4].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(got[:, 2], x[:, 8:].mean(axis=1), rtol=1e-6)


def test_cached_segments_equal_pooled_engine_segments(tiny_config: TrainConfig,
                                                      cache_dir: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config))
    entry = store.entries()[0]
    feats_cfg = tiny_config.features
    track = extract_features(load_audio(entry.path, sr=feats_cfg.sr), config=feats_cfg)
    layout = store.layout
    aligned = layout.tempo_block * layout.stem_time  # raw frames per tempo block
    engine = segment_features(track, config=feats_cfg, starts=np.array([0, aligned]))
    pm, pc = pool_frames(torch.from_numpy(engine.mel), torch.from_numpy(engine.chroma),
                         stem_freq=layout.stem_freq, stem_time=layout.stem_time)
    for i, start in enumerate((0, layout.tempo_block)):
        mel, chroma, tempo = cut_segment(store.get(entry.song), start, layout.segment_length,
                                         layout.tempo_block)
        np.testing.assert_allclose(mel, pm[i].numpy(), atol=0.301)  # 0.6 dB steps
        np.testing.assert_allclose(chroma, pc[i].numpy(), atol=2.1e-3)
        np.testing.assert_allclose(tempo, engine.tempo[i], atol=2e-3)


def test_short_song_is_padded_like_the_engine(tiny_config: TrainConfig,
                                              cache_dir: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config))
    short = min(store.entries(), key=lambda e: e.n_frames)
    length = store.layout.segment_length
    assert short.n_frames < length
    mel, chroma, _ = cut_segment(store.get(short.song), 0, length, store.layout.tempo_block)
    assert mel.shape[1] == length
    assert np.all(mel[:, short.n_frames :] == -100.0)
    assert np.all(chroma[:, short.n_frames :] == 0.0)


def test_sqlite_and_ram_backends_agree(tiny_config: TrainConfig, cache_dir: Path) -> None:
    layout = layout_of(tiny_config)
    sql = open_store(cache_dir, layout, backend="sqlite", preload_ram=False)
    ram = open_store(cache_dir, layout, backend="ram")
    assert isinstance(sql, SQLiteCache) and isinstance(ram, RamCache)
    fresh = RamCache(layout)
    fill(fresh, discover_tracks(tiny_config.root), log=lambda _: None)
    assert sql.entries() == ram.entries() == fresh.entries()
    for entry in sql.entries():
        for other in (ram, fresh):
            a, b = sql.get(entry.song), other.get(entry.song)
            for x, y in ((a.mel, b.mel), (a.chroma, b.chroma), (a.tempo, b.tempo)):
                np.testing.assert_array_equal(x, y)


def test_ram_backend_without_database_computes_in_memory(tiny_config: TrainConfig,
                                                         tmp_path: Path) -> None:
    tracks = discover_tracks(tiny_config.root)[:2]
    store = open_store(tmp_path, layout_of(tiny_config), backend="ram", tracks=tracks)
    assert [e.song for e in store.entries()] == [t.song for t in tracks]
    assert not cache_path(tmp_path, layout_of(tiny_config)).exists()


def test_reuse_ram_across_trials(tiny_config: TrainConfig, cache_dir: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "_RAM_STORES", {})
    layout = layout_of(tiny_config)
    first = open_store(cache_dir, layout, backend="ram", reuse=True)
    assert open_store(cache_dir, layout, backend="ram", reuse=True) is first
    assert open_store(cache_dir, layout, backend="ram", reuse=False) is not first


def test_missing_cache_is_a_clear_error(tiny_config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match="precompute"):
        open_store(tmp_path, layout_of(tiny_config))


def test_layout_mismatch_is_refused(tiny_config: TrainConfig, tmp_path: Path) -> None:
    layout = layout_of(tiny_config)
    SQLiteCache(tmp_path / "x.db", layout).close()
    other = layout_of(tiny_config.with_overrides(max_seconds=5.0))
    with pytest.raises(TrainerError, match="other settings"):
        SQLiteCache(tmp_path / "x.db", other)


def test_cached_splits_follow_the_manifest(tiny_config: TrainConfig, cache_dir: Path,
                                          corpus_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from trainer.cache import store_of
    from trainer.train import split_store

    shutil.copytree(cache_dir, tmp_path / "cache")
    songs = sorted(p.name for p in corpus_dir.glob("*.wav"))
    splits = {s: "test" if i < 3 else "val" if i < 5 else "train" for i, s in enumerate(songs)}
    rows = [{"song": s, "path": str(corpus_dir / s), "split": splits[s]} for s in songs]
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"tracks": rows}), encoding="utf-8")
    cfg = tiny_config.with_overrides(root=str(root))
    with pytest.raises(TrainerError, match="precompute"):  # cached as a folder scan
        store_of(cfg, tmp_path / "cache")
    cache = SQLiteCache(cache_path(tmp_path / "cache", layout_of(cfg)))
    logs: list[str] = []
    assert fill(cache, discover_tracks(root), log=logs.append) == 0  # nothing recomputed
    assert logs == [f"[precompute] {len(songs)} cached tracks changed split"]
    cache.close()
    train, val = split_store(store_of(cfg, tmp_path / "cache"), cfg)
    assert {e.song for e in train} == {s for s in songs if splits[s] == "train"}
    assert {e.song for e in val} == {s for s in songs if splits[s] == "val"}


def test_unreadable_file_is_recorded_and_skipped(tiny_config: TrainConfig,
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    cache = SQLiteCache(tmp_path / "c.db", layout_of(tiny_config))
    added = fill(cache, [Track("bad", str(bad), "bad")], log=lambda _: None)
    assert added == 0 and cache.entries() == []
    assert cache.errors()[0][0] == str(bad)


def test_max_seconds_crops_long_songs(tiny_config: TrainConfig, tmp_path: Path) -> None:
    cfg = tiny_config.with_overrides(max_seconds=6.0)
    store = RamCache(layout_of(cfg))
    fill(store, discover_tracks(cfg.root)[:1], log=lambda _: None)
    assert store.entries()[0].duration == pytest.approx(6.0, abs=0.05)


def test_degraded_copies_are_cached_for_training_tracks_only(tiny_config: TrainConfig,
                                                             tmp_path: Path) -> None:
    from trainer.cache import original_entries, variant_map, variant_parent

    tracks = discover_tracks(tiny_config.root)[:2]
    tracks = [tracks[0], Track(tracks[1].song, tracks[1].path, tracks[1].group, "val")]
    layout = dataclasses.replace(layout_of(tiny_config), variants=2)
    store = RamCache(layout)
    fill(store, tracks, log=lambda _: None)
    first = tracks[0].song
    assert variant_map(store) == {first: [f"{first}::degraded-1", f"{first}::degraded-2"]}
    assert [e.song for e in original_entries(store)] == [t.song for t in tracks]
    assert variant_parent(f"{first}::degraded-2") == first and variant_parent(first) is None
    clean, copy = store.get(first), store.get(f"{first}::degraded-1")
    assert copy.mel.shape == clean.mel.shape
    assert np.abs(copy.mel.astype(int) - clean.mel.astype(int)).mean() > 3  # really degraded
