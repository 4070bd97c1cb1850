"""``resonance-train``'s parsing and dispatch, and its one-line errors (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer import cli

COMMANDS = {
    "precompute": [], "features": [], "search": [], "refine": [], "train": [],
    "evaluate": ["--load", "x"], "export": ["--load", "x"], "onnx-eval": ["--load", "x"],
    "onnx_eval": ["--load", "x"], "index": ["--load", "x"], "index_build": ["--load", "x"],
    "library": ["--library", "lib", "--out", "out"], "trunk": ["--from", "m", "--out", "out"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_sub_command_names_its_handler_function(command: str) -> None:
    args = cli.build_parser().parse_args([command, *COMMANDS[command]])
    assert callable(args.handler) and args.handler.__module__ == "trainer.cli"


def test_no_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert "precompute" in out and "library" in out and "corpus" in out


def test_errors_are_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert cli.main(["export", "--load", str(tmp_path), "--formats", "onnx,tflite"]) == 1
    assert capsys.readouterr().err == ("resonance-train: error: unknown --formats "
                                       "['onnx', 'tflite']; use onnx and/or int8\n")
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 16)
    assert cli.main(["evaluate", "--load", str(tmp_path / "weights.bin")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unable to auto-detect backend from --load" in err
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "card.json").write_text("{}", encoding="utf-8")
    assert cli.main(["export", "--load", str(tmp_path / "exported")]) == 1
    assert "export needs a torch checkpoint" in capsys.readouterr().err
