"""Fixtures for the trainer tests: a tiny configuration and a tiny synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.audio_factory import song, write_audio
from trainer.cache import SQLiteCache, cache_path, fill, layout_of
from trainer.config import TrainConfig
from trainer.data import discover_tracks

SR = 22050
N_SONGS = 10

TINY_BASE = {
    "data": {"val_fraction": 0.3,
             "segment": {"seconds": 4, "hop_seconds": 2, "segments_per_song": 4, "hpss": True}},
    "cache": {"backend": "sqlite", "preload_ram": False},
    "features": {"mel": {"sr": SR, "n_mels": 32, "hop_ms": 40, "n_fft": 1024},
                 "chroma": {"bins": 12}, "tempo": {"win": 32}},
    "fusion": {"mode": "gated_add", "embed_dim": 32},
    "model": {"timbre_channels": [8, 16, 16], "harmony_channels": [8, 16],
              "rhythm_hidden": 32},
    "train": {"use_amp": False, "lr": 1.0e-3, "epochs": 2, "warmup_epochs": 1,
              "batch_identities": 4, "views_per_song": 2, "steps_per_epoch": 2,
              "early_stopping": {"patience": 3}},
}


def tiny_base(root: Path) -> dict:
    """The tiny ``base.yaml`` mapping with ``data.root`` set."""
    base = json.loads(json.dumps(TINY_BASE))
    base["data"]["root"] = str(root)
    return base


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten distinct 16-second synthetic songs (one of them 3 s: shorter than a segment)."""
    root = tmp_path_factory.mktemp("corpus")
    for i in range(N_SONGS):
        seconds = 3.0 if i == N_SONGS - 1 else 16.0
        write_audio(root / f"song{i:02d}.wav", song(i, seconds, sr=SR), sr=SR)
    return root


@pytest.fixture(scope="session")
def tiny_config(corpus_dir: Path) -> TrainConfig:
    """The tiny training configuration over :func:`corpus_dir`."""
    return TrainConfig.from_base(tiny_base(corpus_dir))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, tiny_config: TrainConfig) -> Path:
    """A filled SQLite feature cache of the tiny corpus."""
    folder = tmp_path_factory.mktemp("cache")
    layout = layout_of(tiny_config)
    cache = SQLiteCache(cache_path(folder, layout), layout)
    fill(cache, discover_tracks(tiny_config.root), workers=1, log=lambda _: None)
    cache.close()
    return folder
