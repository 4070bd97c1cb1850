"""``run_app()``: the real entry point opens the default library and quits cleanly."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from resonance_app.app import WARM_UP_MODULES, app_icon, run_app


@pytest.fixture(autouse=True)
def native_stderr_restored() -> Iterator[None]:
    """run_app sends C-level stderr to a log file; later tests get the terminal back."""
    saved, python_stderr = os.dup(2), sys.stderr
    yield
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    sys.stderr = python_stderr


def test_run_app_opens_default_library_and_quits(qtbot, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    seen: list[str] = []

    def close_all() -> None:
        seen.extend(type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible())
        QApplication.closeAllWindows()

    QTimer.singleShot(800, close_all)
    assert run_app(["resonance"]) == 0
    assert "MainWindow" in seen
    assert (tmp_path / "data" / "resonance" / "library" / "library.db").exists()


def test_quit_timer_for_smoke_checks(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("RESONANCE_QUIT_AFTER_MS", "300")
    assert run_app(["resonance"]) == 0  # returns by itself


def test_icon_and_desktop_file() -> None:
    root = Path(__file__).resolve().parents[2] / "resources"
    assert not app_icon().isNull()
    assert (root / "icons" / "resonance.png").stat().st_size > 1000
    desktop = (root / "resonance.desktop").read_text()
    assert "Exec=resonance %F\n" in desktop and "Icon=resonance" in desktop
    assert "MimeType=audio/mpeg;" in desktop
    assert "onnxruntime" in WARM_UP_MODULES
