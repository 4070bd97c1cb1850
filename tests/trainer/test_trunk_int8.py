"""``resonance-train trunk``: conversion, INT8 calibrated on audio, verdict, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.model import Embedder, default_model_dir, load_card
from tests.audio_factory import song, write_audio
from tests.trainer.test_onnx_weights import SHIPPED
from trainer import cli
from trainer.trunk_int8 import MIN_MEAN_COSINE, trunk_int8_verdict


def test_trunk_command_converts_and_quantises(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(2):
        write_audio(audio / f"song{i}.wav", song(i, 40.0))
    out = tmp_path / "trunk"
    assert cli.main(["trunk", "--from", str(SHIPPED), "--out", str(out),
                     "--calibration-audio", str(audio)]) == 0
    card = load_card(out)
    verdict = card.metrics["trunk_int8"]
    assert card.layout == "trunk" and verdict["calibration"]["tracks"] == 2
    assert [Path(f).name for f in verdict["audio"]["check"]] == ["song0.wav", "song1.wav"]
    assert verdict["segments"] == 2 * 7  # 40 s: starts 0, 4, ..., 20 s, and 22 s (the end)
    assert (card.precision == "int8") == verdict["ship_int8"]
    assert (out / "trunk.int8.onnx").is_file() == verdict["ship_int8"]
    assert (out / "trunk.onnx").is_file()
    # 7-bit weights: as close to fp32 on a CPU without VNNI as on one with it
    assert MIN_MEAN_COSINE <= verdict["cosine_mean"] <= 1.0 + 1e-6
    assert set(verdict["cpu"]) == {"name", "vnni"}
    Embedder(out).check()


def test_a_trunk_folder_is_quantised_again_from_its_fp32_trunk(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    write_audio(audio / "song.wav", song(3, 30.0))
    folder = Path(shutil.copytree(default_model_dir(), tmp_path / "default"))
    before = load_card(folder)
    assert before.precision == "int8"
    assert cli.main(["trunk", "--from", str(folder), "--out", str(folder),
                     "--calibration-audio", str(audio)]) == 0
    after = load_card(folder)
    assert after.name == before.name and after.head == before.head
    assert after.metrics["trunk_int8"]["calibration"]["tracks"] == 1
    assert after.model_file == ("trunk.int8.onnx" if after.metrics["trunk_int8"]["ship_int8"]
                                else "trunk.onnx")
    Embedder(folder).check()


def test_verdict_needs_speed_and_close_embeddings() -> None:
    good = {"speedup": 1.5, "cosine_mean": 0.998}
    assert trunk_int8_verdict(good)["ship_int8"]
    assert not trunk_int8_verdict({**good, "speedup": 0.9})["ship_int8"]
    assert not trunk_int8_verdict({**good, "cosine_mean": MIN_MEAN_COSINE - 0.001})["ship_int8"]


def test_trunk_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    int8_only = tmp_path / "int8"
    int8_only.mkdir()
    for name in ("card.json", "model.int8.onnx"):
        shutil.copy(SHIPPED / name, int8_only / name)
    assert cli.main(["trunk", "--from", str(int8_only), "--out", str(tmp_path / "o")]) == 1
    assert "no fp32 ONNX model" in capsys.readouterr().err
    assert cli.main(["trunk", "--from", str(tmp_path / "nothing"), "--out", "o"]) == 1
    assert "--from: no model card" in capsys.readouterr().err
    assert cli.main(["trunk", "--from", str(SHIPPED), "--out", str(tmp_path / "t")]) == 0
    data = json.loads((tmp_path / "t" / "card.json").read_text(encoding="utf-8"))
    assert data["precision"] == "fp32" and "trunk_int8" not in data["metrics"]
    capsys.readouterr()
    assert cli.main(["trunk", "--from", str(tmp_path / "t"), "--out", "o"]) == 1
    assert "already holds a trunk-layout model" in capsys.readouterr().err
    int8_trunk = Path(shutil.copytree(default_model_dir(), tmp_path / "int8-trunk"))
    (int8_trunk / "trunk.onnx").unlink()
    assert cli.main(["trunk", "--from", str(int8_trunk), "--out", str(int8_trunk),
                     "--calibration-audio", str(tmp_path)]) == 1
    assert "no fp32 trunk at" in capsys.readouterr().err
    assert cli.main(["trunk", "--from", str(SHIPPED), "--out", str(tmp_path / "u"),
                     "--calibration-audio", str(tmp_path / "missing")]) == 1
    assert "no audio file or folder at" in capsys.readouterr().err
