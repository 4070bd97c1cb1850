"""Menus, toolbar and keyboard shortcuts of the main window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenuBar, QToolBar, QWidget

from resonance_app.icons import action_icon

if TYPE_CHECKING:
    from resonance_app.controller import LibraryController
    from resonance_app.folders import FolderFlow
    from resonance_app.playback import Player
    from resonance_app.seeding import SeedFlow
    from resonance_app.views.library_view import LibraryPanel
    from resonance_app.views.playlist_view import PlaylistPanel
    from resonance_app.views.record_dialog import RecordFlow
    from resonance_app.views.results_view import ResultsPanel
    from resonance_app.views.scan_bar import ScanBar


@dataclass(frozen=True)
class ActionTargets:
    """The controllers and panels the menus and the toolbar act on."""

    library: LibraryController  # rescan
    folders: FolderFlow  # add a music folder
    seeds: SeedFlow  # open a file as the seed
    recorder: RecordFlow  # record a seed
    player: Player  # play/pause, stop
    playlist: PlaylistPanel  # import, export
    library_panel: LibraryPanel  # its own actions, the filter
    results: ResultsPanel  # its own actions
    scan_bar: ScanBar  # the list of scan errors


class WindowCommands(Protocol):
    """What only the window does: its pages and dialogs, its menus and toolbar."""

    def open_settings(self) -> None: ...
    def show_about(self) -> None: ...
    def show_map(self) -> None: ...
    def show_mixes(self) -> None: ...
    def show_duplicates(self) -> None: ...
    def focus_filter(self) -> None: ...
    def close(self) -> bool: ...
    def menuBar(self) -> QMenuBar: ...
    def addToolBar(self, toolbar: QToolBar) -> None: ...
    def addAction(self, action: QAction) -> None: ...
    def window(self) -> QWidget: ...


def _action(window: WindowCommands, text: str, slot: object,
            shortcut: str | QKeySequence | QKeySequence.StandardKey = "",
            tip: str = "", icon: str = "") -> QAction:
    action = QAction(text, window.window())  # owned by the window, as its menus
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


def build_actions(w: WindowCommands, t: ActionTargets) -> dict[str, QAction]:
    """Create the actions, menus and toolbar of window ``w``, acting on ``t``; return the
    actions by name."""
    a = {
        "add_folder": _action(w, "Add music folder…", t.folders.choose, "Ctrl+Shift+O",
                              "Add a folder of music to the library", "add_folder"),
        "rescan": _action(w, "Rescan library", lambda: t.library.scan(), "F5",
                          "Look for new, changed and removed files", "rescan"),
        "open": _action(w, "Open file…", t.seeds.open_file, QKeySequence.StandardKey.Open,
                        "Find songs like an audio file", "open"),
        "record": _action(w, "Record…", t.recorder.open, "Ctrl+R",
                          "Find songs like what the microphone hears", "record"),
        "import_playlist": _action(w, "Import playlist…", t.playlist.choose_import, "Ctrl+I",
                                   "Import an M3U, M3U8 or XSPF playlist"),
        "export_playlist": _action(w, "Export playlist…", t.playlist.export, "Ctrl+E",
                                   "Write the playlist as M3U8 or XSPF"),
        "errors": _action(w, "Show scan errors", t.scan_bar.show_errors, "",
                          "Files that could not be read"),
        "settings": _action(w, "Settings…", w.open_settings,
                            QKeySequence.StandardKey.Preferences,
                            "Library folders, workers, model", "settings"),
        "play": _action(w, "Play / pause", t.player.toggle, "Space", "Play or pause"),
        "stop": _action(w, "Stop", t.player.stop, "Ctrl+.", "Stop playback"),
        "filter": _action(w, "Filter library", w.focus_filter, "Ctrl+F"),
        "quit": _action(w, "Quit", w.close, QKeySequence.StandardKey.Quit),
        "about": _action(w, "About Resonance", w.show_about),
        "map": _action(w, "Library map", w.show_map, "Ctrl+M",
                       "All songs on a map, neighbours sounding alike"),
        "mixes": _action(w, "Mixes", w.show_mixes, "Ctrl+Shift+M",
                         "The library in groups of songs that sound alike"),
        "duplicates": _action(w, "Find duplicate files…", w.show_duplicates, "",
                              "Files holding the same recording, and which copy to keep"),
    }
    a["settings"].setMenuRole(QAction.MenuRole.PreferencesRole)
    a["filter"].setShortcuts([QKeySequence("Ctrl+F"), QKeySequence("Ctrl+L")])
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    for key in ("add_folder", "rescan", None, "open", "record", None, "import_playlist",
                "export_playlist", None, "quit"):
        file_menu.addSeparator() if key is None else file_menu.addAction(a[key])
    lib_menu = bar.addMenu("&Library")
    lib_menu.addAction(t.library_panel.play_action)
    lib_menu.addAction(t.library_panel.find_action)
    lib_menu.addAction(a["filter"])
    lib_menu.addAction(t.library_panel.together_action)
    lib_menu.addAction(t.library_panel.path_action)
    lib_menu.addSeparator()
    lib_menu.addAction(a["map"])
    lib_menu.addAction(a["mixes"])
    lib_menu.addSeparator()
    lib_menu.addAction(a["errors"])
    lib_menu.addSeparator()
    lib_menu.addAction(a["settings"])
    results_menu = bar.addMenu("&Results")
    results_menu.addAction(t.results.play_action)
    results_menu.addAction(t.results.find_action)
    play_menu = bar.addMenu("&Playback")
    play_menu.addAction(a["play"])
    play_menu.addAction(a["stop"])
    bar.addMenu("&Tools").addAction(a["duplicates"])
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
