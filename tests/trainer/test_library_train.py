"""``resonance-train library``: train on a scanned library, check against its model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.library import Library
from tests.audio_factory import song, write_audio
from tests.trainer.conftest import SR, tiny_base
from trainer.checkpoint import new_model
from trainer.cli import main
from trainer.config import TrainConfig
from trainer.export import export_folder


@pytest.mark.slow
def test_library_training_reports_progress_and_scores_both_models(tmp_path, capsys):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(16):
        write_audio(music / f"track{i:02d}.flac", song(100 + i, 9.0, sr=SR), sr=SR)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_base(music)))
    cfg = TrainConfig.from_base(tiny_base(music))
    current = tmp_path / "current"
    export_folder(new_model(cfg).eval(), cfg, current, name="current",
                  training={"stem": [cfg.model.stem_freq, cfg.model.stem_time]})
    with Library.open(tmp_path / "lib", model_dir=current) as lib:
        lib.add_root(music)
        list(lib.scan(workers=1))
        assert lib.count() == 16
    out = tmp_path / "models" / "mine"
    code = main(["library", "--library", str(tmp_path / "lib"), "--out", str(out),
                 "--config", str(recipe), "--epochs", "2", "--steps_per_epoch", "2",
                 "--batch_identities", "4", "--workers", "1", "--device", "cpu",
                 "--progress", "jsonl"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    fractions = [e["progress"] for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    card = json.loads((out / "card.json").read_text())
    assert card["layout"] == "trunk"  # scans of the library run the fast layout
    heldout = card["metrics"]["heldout"]
    assert heldout["songs"] >= 3 and 0.0 <= heldout["recall@5"] <= 1.0
    assert 0.0 <= heldout["baseline_recall@5"] <= 1.0
    assert heldout["baseline_model"] == json.loads((current / "card.json").read_text())["sha256"]
    Library.open(tmp_path / "lib").set_model(Path(out))  # the app can switch to it


def test_the_held_out_tracks_are_the_same_on_every_run(tmp_path):
    from trainer.errors import TrainerError
    from trainer.library_train import write_manifest

    paths = [f"/music/track{i:02d}.flac" for i in range(20)]
    first = json.loads((write_manifest(paths, tmp_path / "a", 0.15) / "manifest.json")
                       .read_text(encoding="utf-8"))["tracks"]
    again = json.loads((write_manifest(paths[::-1], tmp_path / "b", 0.15) / "manifest.json")
                       .read_text(encoding="utf-8"))["tracks"]
    held_out = {t["path"] for t in first if t["split"] == "val"}
    assert len(held_out) == 3 and held_out == {t["path"] for t in again if t["split"] == "val"}
    assert all(t["song"] == t["path"] for t in first)  # each track is its own song
    with pytest.raises(TrainerError, match="too few tracks"):
        write_manifest(paths[:10], tmp_path / "c", 0.15)
