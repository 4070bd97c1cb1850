"""Every menu action and toolbar button, Help ▸ About, and the uncaught-exception reporter."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu, QToolBar

from resonance_app.about import app_version
from resonance_app.views.about_dialog import AboutDialog
from tests.model_factory import build_model


def _menu_actions(menu: QMenu) -> list[QAction]:
    out: list[QAction] = []
    for action in menu.actions():
        if action.menu() is not None:
            out += _menu_actions(action.menu())
        elif not action.isSeparator():
            out.append(action)
    return out


def test_every_menu_action_and_toolbar_button_runs_cleanly(qtbot, make_main_window, library,
                                                           reporter) -> None:
    w = make_main_window(library)
    actions = [a for m in w.menuBar().actions() if m.menu() for a in _menu_actions(m.menu())]
    names = {a.text().replace("&", "") for a in actions}
    assert {"About Resonance", "Settings…", "Record…", "Quit"} <= names
    quit_action = w.actions_["quit"]
    for action in actions:
        if action is not quit_action and action.isEnabled():
            action.trigger()
            QApplication.processEvents()
    toolbar = w.findChild(QToolBar, "mainToolbar")
    buttons = [toolbar.widgetForAction(a) for a in toolbar.actions() if not a.isSeparator()]
    assert len(buttons) >= 5
    for button in buttons:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        QApplication.processEvents()
    assert reporter.count == 0, reporter.log_file.read_text()
    # triggered(bool) must not reach a slot's optional argument: Rescan scans every folder
    assert library.scanned_roots and all(r is None for r in library.scanned_roots)
    quit_action.trigger()
    assert not w.isVisible()
    assert reporter.count == 0


def test_about_shows_version_model_licences_and_folders(make_main_window, library,
                                                        tmp_path) -> None:
    library.set_model(build_model(tmp_path / "model"))
    w = make_main_window(library)
    w.actions_["about"].trigger()
    dialog = w.about_dialog
    assert isinstance(dialog, AboutDialog) and dialog.isVisible()
    text = dialog.text.toPlainText()
    assert f"Resonance {app_version()}" in text
    assert library.card.name in text
    assert "numpy" in text and "BSD" in text  # a bundled library and its licence
    assert "Error log" in text and str(tmp_path / "data" / "resonance") in text
    assert w.settings.file_name in text


def test_uncaught_exception_is_logged_and_shown_and_the_app_goes_on(
        qtbot, make_main_window, library, reporter) -> None:
    w = make_main_window(library)

    def broken(_tracks: object, **_kw: object) -> None:
        raise RuntimeError("the table fell over")

    w.library_panel.set_tracks = broken
    w.actions_["rescan"].trigger()  # the scan ends by refreshing the table: it raises
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    log = reporter.log_file.read_text()
    assert "RuntimeError: the table fell over" in log and "Traceback" in log
    assert str(reporter.log_file) in reporter.dialog.text()
    assert "the table fell over" in reporter.dialog.detailedText()
    # the app is still usable: a search from the library still answers
    del w.library_panel.set_tracks
    w.controller.refresh()
    view = w.library_panel.view
    view.setFocus()
    view.selectRow(0)
    w.library_panel.find_action.trigger()
    assert w.results.model.rowCount() > 0
    reporter.dialog.close()
    assert reporter.dialog is None


def test_exception_in_a_worker_thread_is_reported(qtbot, reporter, real_pools) -> None:
    from resonance_app.workers import run_task

    def fail() -> None:
        raise OSError("disk went away")

    run_task(fail, pool=real_pools.interactive)  # no error handler: reported, not swallowed
    qtbot.waitUntil(lambda: reporter.count == 1, timeout=5000)
    assert "OSError: disk went away" in reporter.log_file.read_text()


def test_decoder_chatter_stays_off_the_terminal(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 20)
    log = tmp_path / "logs" / "native-stderr.log"
    app_log = tmp_path / "logs" / "resonance-app.log"
    script = ("import sys; from pathlib import Path\n"
              "from resonance_app.crash import divert_native_stderr, open_log_file\n"
              "from engine.audio import load_audio\n"
              f"assert divert_native_stderr(Path({str(log)!r}))\n"
              "import logging; logging.getLogger().setLevel(logging.INFO)\n"
              f"assert open_log_file(Path({str(app_log)!r}))\n"
              f"try: load_audio({str(corrupt)!r}, sr=22050)\n"
              "except Exception as exc: print('python says:', exc, file=sys.stderr)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)},
                         timeout=60, check=True)
    assert "python says:" in out.stderr  # Python's own messages still reach the terminal
    assert "corrupt" in out.stderr and "does not exist" not in out.stderr  # the real reason
    assert "mpeg" not in out.stderr.lower()
    # libmpg123's notes are in the app's log (the engine keeps them off stderr)
    assert "libmpg123" in app_log.read_text() and "mpeg" not in log.read_text().lower()
