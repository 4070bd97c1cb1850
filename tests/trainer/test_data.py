"""Track discovery (manifest, folder, pairs), the song split and storage quantisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trainer.cache import dequantize_chroma, dequantize_mel, quantize_chroma, quantize_mel
from trainer.config import TrainConfig, load_config
from trainer.data import Track, discover_tracks, split_songs
from trainer.errors import TrainerError


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_manifest_is_preferred(tmp_path: Path) -> None:
    _touch(tmp_path, "a.ogg", "b.ogg", "stray.wav")
    tracks = [{"path": "a.ogg", "song": "A", "source": "pkg", "kind": "recording",
               "group": "G", "split": "train", "duration": 30.0},
              {"path": "b.ogg", "song": "B", "source": "pkg", "kind": "rendition",
               "group": "G", "split": "val", "duration": 30.0}]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "tracks": tracks}))
    found = discover_tracks(tmp_path)
    assert [(t.song, t.group, t.split) for t in found] == [("A", "G", "train"),
                                                           ("B", "G", "val")]
    assert Path(found[0].path).is_absolute()
    train, val = split_songs(found, val_fraction=0.5)
    assert [t.song for t in train] == ["A"] and [t.song for t in val] == ["B"]


def test_folder_scan_and_pairs(tmp_path: Path) -> None:
    _touch(tmp_path, "x/one.mp3", "x/two.flac", "y/three.wav", "notes.txt")
    (tmp_path / "pairs.json").write_text(json.dumps({"groups": [["x/one.mp3", "y/three.wav"]]}))
    found = {t.song: t for t in discover_tracks(tmp_path, pairs_json=tmp_path / "pairs.json")}
    assert set(found) == {"x/one.mp3", "x/two.flac", "y/three.wav"}
    assert found["x/one.mp3"].group == found["y/three.wav"].group != found["x/two.flac"].group
    assert found["x/one.mp3"].source == "x"


def test_nothing_to_train_on(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match="no audio"):
        discover_tracks(tmp_path / "missing")
    with pytest.raises(TrainerError, match="no audio files"):
        discover_tracks(tmp_path)


def test_split_is_by_group_and_stable() -> None:
    tracks = [Track(f"s{i}", f"/s{i}", f"g{i // 3}") for i in range(300)]
    train, val = split_songs(tracks, val_fraction=0.2, seed=1)
    assert len(train) + len(val) == 300 and 30 < len(val) < 90
    assert not {t.group for t in train} & {t.group for t in val}
    assert split_songs(tracks, val_fraction=0.2, seed=1)[1] == val


def test_test_tracks_are_neither_trained_nor_validated_on() -> None:
    tracks = [Track(f"s{i}", f"/a/{i}.ogg", f"g{i}", split, "src")
              for i, split in enumerate(["train", "val", "test", "train", "test"])]
    train, val = split_songs(tracks, val_fraction=0.5)
    assert [t.song for t in train] == ["s0", "s3"] and [t.song for t in val] == ["s1"]
    unsplit = [Track(f"u{i}", f"/b/{i}.ogg", f"u{i}") for i in range(40)]
    train, val = split_songs(unsplit + tracks[2:3], val_fraction=0.5)  # hashed split
    assert len(train) + len(val) == 40 and "s2" not in {t.song for t in train + val}


def test_quantisation_error_is_bounded(rng: np.random.Generator) -> None:
    mel = rng.uniform(-100, 50, size=(8, 100)).astype(np.float32)
    assert np.abs(dequantize_mel(quantize_mel(mel)) - mel).max() <= 0.3 + 1e-4
    assert dequantize_mel(quantize_mel(np.array([-100.0])))[0] == -100.0
    chroma = rng.random((12, 100)).astype(np.float32)
    assert np.abs(dequantize_chroma(quantize_chroma(chroma)) - chroma).max() <= 0.5 / 255 + 1e-6


def test_shipped_base_config_parses() -> None:
    cfg = load_config()
    assert cfg.features.segment_frames == 900 and cfg.batch_identities == 96
    assert cfg.model.fusion_mode == "gated_add" and cfg.temperature == 0.05
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_recipe_of_the_shipped_model_parses() -> None:
    recipe = Path(__file__).parents[2] / "trainer" / "configs" / "default_model.yaml"
    cfg = load_config(recipe)
    assert cfg.features.mel.n_mels == 160 and cfg.model.stem_time == 4
