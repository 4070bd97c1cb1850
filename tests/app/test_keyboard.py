"""Keyboard: Enter plays (or seeds), Space toggles play, Ctrl+F filters, menus list keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from tests.audio_factory import song, write_audio


def _playable(library, tmp_path: Path) -> None:
    """Point the fake library's tracks at a real WAV file."""
    path = write_audio(tmp_path / "play.wav", song(3, 62.0, sr=8000), sr=8000)
    library._all = [dataclasses.replace(t, path=path) for t in library._all]
    library._visible = list(library._all)


def _focus(qtbot, w, widget) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow(), timeout=3000)
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=3000)


def test_enter_plays_space_toggles_ctrl_enter_seeds(qtbot, make_main_window, library,
                                                   tmp_path: Path) -> None:
    _playable(library, tmp_path)
    w = make_main_window(library)
    view = w.library_panel.view
    _focus(qtbot, w, view)
    view.selectRow(2)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=3000)
    assert library.analyze_count == 0
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert w.player.state == "paused"
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert w.player.state == "playing"
    qtbot.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert library.calls[-2] == ("analyze_seed", w.library_panel.current_track().id)
    # in the results, Enter plays the matching part
    results = w.results.view
    _focus(qtbot, w, results)
    results.selectRow(1)
    w.player.stop()
    qtbot.keyClick(results, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=3000)
    assert abs(w.player.position - w.results.model.row(1).match_offset) < 0.05


def test_space_types_in_the_filter_and_ctrl_f_focuses_it(qtbot, make_main_window,
                                                         library) -> None:
    w = make_main_window(library)
    view = w.library_panel.view
    _focus(qtbot, w, view)
    qtbot.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    box = w.library_panel.filter
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClicks(box, "song 1")
    assert box.text() == "song 1"  # Space is a space here, not play/pause
    assert w.player.state == "stopped"


def test_menus_list_the_shortcuts(make_main_window, library) -> None:
    w = make_main_window(library)
    menus = {m.text().replace("&", ""): m.menu() for m in w.menuBar().actions()}
    keys = {a.text(): a.shortcut().toString() for menu in menus.values()
            for a in menu.actions()}
    assert keys["Play"] == "Return" and keys["Find similar songs"] == "Ctrl+Return"
    assert keys["Play the matching part"] == "Return"
    assert keys["Play / pause"] == "Space"
    assert keys["Filter library"] == QKeySequence("Ctrl+F").toString()


def test_the_empty_results_name_the_seeding_key(make_main_window, library) -> None:
    w = make_main_window(library)
    assert "Ctrl+Enter" in w.results.empty.text() and not w.results.strip_row.isVisible()
    w.actions_["settings"].trigger()
    combo = w.settings_dialog.enter
    combo.setCurrentIndex(combo.findData("seed"))
    w.settings_dialog.close()
    assert "press Enter" in w.results.empty.text()
