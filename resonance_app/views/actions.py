"""Menus, toolbar and keyboard shortcuts of the main window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from resonance_app.icons import action_icon

if TYPE_CHECKING:
    from resonance_app.views.main_window import MainWindow


def _action(window: MainWindow, text: str, slot: object, shortcut: str | QKeySequence = "",
            tip: str = "", icon: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
    if icon:
        action.setIcon(action_icon(icon))
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def build_actions(w: MainWindow) -> dict[str, QAction]:
    """Create the actions, menus and toolbar; return the actions by name."""
    a = {
        "add_folder": _action(w, "Add music folder…", w.choose_folder, "Ctrl+Shift+O",
                              "Add a folder of music to the library", "add_folder"),
        "rescan": _action(w, "Rescan library", w.rescan, "F5",
                          "Look for new, changed and removed files", "rescan"),
        "open": _action(w, "Open file…", w.open_file, QKeySequence.StandardKey.Open,
                        "Find songs like an audio file", "open"),
        "record": _action(w, "Record…", w.record, "Ctrl+R",
                          "Find songs like what the microphone hears", "record"),
        "import_playlist": _action(w, "Import playlist…", w.playlist.choose_import, "Ctrl+I",
                                   "Import an M3U, M3U8 or XSPF playlist"),
        "export_playlist": _action(w, "Export playlist…", w.playlist.export, "Ctrl+E",
                                   "Write the playlist as M3U8 or XSPF"),
        "errors": _action(w, "Show scan errors", w.show_errors, "",
                          "Files that could not be read"),
        "settings": _action(w, "Settings…", lambda: open_settings(w),
                            QKeySequence.StandardKey.Preferences,
                            "Library folders, workers, model", "settings"),
        "play": _action(w, "Play / pause", w.player.toggle, "Space", "Play or pause"),
        "stop": _action(w, "Stop", w.player.stop, "Ctrl+.", "Stop playback"),
        "filter": _action(w, "Filter library", lambda: _focus_filter(w), "Ctrl+F"),
        "quit": _action(w, "Quit", w.close, QKeySequence.StandardKey.Quit),
        "about": _action(w, "About Resonance", lambda: _about(w)),
    }
    a["settings"].setMenuRole(QAction.MenuRole.PreferencesRole)
    a["filter"].setShortcuts([QKeySequence("Ctrl+F"), QKeySequence("Ctrl+L")])
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    for key in ("add_folder", "rescan", None, "open", "record", None, "import_playlist",
                "export_playlist", None, "quit"):
        file_menu.addSeparator() if key is None else file_menu.addAction(a[key])
    lib_menu = bar.addMenu("&Library")
    lib_menu.addAction(w.library_panel.play_action)
    lib_menu.addAction(w.library_panel.find_action)
    lib_menu.addAction(a["filter"])
    lib_menu.addAction(a["errors"])
    lib_menu.addSeparator()
    lib_menu.addAction(a["settings"])
    results_menu = bar.addMenu("&Results")
    results_menu.addAction(w.results.play_action)
    results_menu.addAction(w.results.find_action)
    play_menu = bar.addMenu("&Playback")
    play_menu.addAction(a["play"])
    play_menu.addAction(a["stop"])
    bar.addMenu("&Help").addAction(a["about"])
    tools = QToolBar("Main")
    tools.setObjectName("mainToolbar")
    tools.setMovable(False)
    tools.setIconSize(QSize(20, 20))
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for key in ("add_folder", "rescan", "open", "record", "settings"):
        tools.addAction(a[key])
    w.addToolBar(tools)
    return a


def _focus_filter(w: MainWindow) -> None:
    w.library_panel.filter.setFocus()
    w.library_panel.filter.selectAll()


def open_settings(w: MainWindow) -> None:
    """Show the (non-modal) settings dialog."""
    from resonance_app.views.settings_dialog import SettingsDialog

    if w.settings_dialog is None:
        w.settings_dialog = SettingsDialog(w)
    w.settings_dialog.show()
    w.settings_dialog.raise_()


def _about(w: MainWindow) -> None:
    """Show the (non-modal) About box; the model card is read off the GUI thread."""
    from resonance_app.crash import data_dir, default_log_file
    from resonance_app.views.about_dialog import AboutDialog

    if w.about_dialog is None:
        lib = w.controller.library
        paths = [("Data folder", str(data_dir())),
                 ("Library", str(getattr(lib, "folder", ""))),
                 ("Model in use", str(getattr(lib, "model_dir", "") or "")),
                 ("Settings file", w.settings.file_name),
                 ("Error log", str(default_log_file()))]
        dialog = AboutDialog(paths, w)
        w.about_dialog = dialog
        w.controller.call(lambda: lib.model_card, dialog.set_card,
                          lambda exc: dialog.set_card(None, f"cannot be loaded: {exc}"))
    w.about_dialog.show()
    w.about_dialog.raise_()
