"""``resonance selftest`` with the shipped model: the installation check users can run."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.slow
def test_selftest_passes_with_the_shipped_model(tmp_path, capsys):
    assert main(["selftest", "--keep", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(" ok") == 6 and "passed" in out
    assert len(list((tmp_path / "music").glob("*.flac"))) == 6


@pytest.mark.slow
def test_selftest_reports_a_missing_model_in_one_line(tmp_path, capsys):
    assert main(["selftest", "--model", str(tmp_path / "nowhere"), "--keep",
                 str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("resonance: error:")
