"""The discovery flows: the library map, the mixes and the duplicate files.

The views ask (a tab shown, a button pressed); the flow runs the jobs through
:class:`~resonance_app.discovery.Discovery`, off the GUI thread, and puts the answers
in the views. The map panel is made when first shown (pyqtgraph loads then), the
duplicates window when first opened. The map follows the library: it is laid out
again after a scan, or when tracks leave outside one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from resonance_app.reveal import reveal_in_folder
from resonance_app.views.duplicates_view import DuplicatesDialog

if TYPE_CHECKING:
    from engine.library import SearchResult, TrackInfo
    from resonance_app.controller import LibraryController, SearchSession
    from resonance_app.discovery import Discovery, DuplicatesFound, MapData, MixInfo
    from resonance_app.seeding import SeedFlow
    from resonance_app.settings import Settings
    from resonance_app.views.map_view import MapPanel
    from resonance_app.views.mixes_view import MixesPanel
    from resonance_app.views.playlist_flow import PlaylistFlow


class DiscoveryFlow(QObject):
    """Fills the map, the mixes panel and the duplicates window from the discovery jobs."""

    playRequested = Signal(object, float)  # TrackInfo, seconds: preview a file
    message = Signal(str)  # a passing note for the status bar

    def __init__(self, discovery: Discovery, library: LibraryController,
                 session: SearchSession, seeds: SeedFlow, playlists: PlaylistFlow,
                 settings: Settings, *, map_page: QWidget, mixes_panel: MixesPanel,
                 window: QWidget) -> None:
        super().__init__(window)
        self.discovery = discovery
        self.library = library
        self.session = session
        self.seeds = seeds
        self.playlists = playlists
        self.settings = settings
        self.map_page = map_page  # the map panel goes in here once made
        self.mixes_panel = mixes_panel
        self.window = window
        self.map_panel: MapPanel | None = None
        self.duplicates_dialog: DuplicatesDialog | None = None
        #: shows a file in the file manager (tests put a recorder here)
        self.reveal: Callable[[Path], None] = reveal_in_folder
        self._map_stale = True  # the library changed since the map was laid out
        self._searched_ids: set[int] = set()  # the tracks of the last duplicate search
        self._connect()

    def _connect(self) -> None:
        d, lib = self.discovery, self.library
        mixes = self.mixes_panel
        mixes.count.setValue(int(self.settings.mix_count))
        mixes.mixesRequested.connect(self._make_mixes)
        mixes.playlistRequested.connect(self.playlists.open_tracks)
        d.mixesReady.connect(self._mixes_ready)
        d.mapReady.connect(self._map_ready)
        d.failed.connect(self._failed)
        d.duplicatesProgress.connect(self._duplicates_progress)
        d.duplicatesReady.connect(self._duplicates_found)
        d.duplicatesFailed.connect(self._duplicates_failed)
        lib.tracksChanged.connect(self._tracks_changed)
        lib.scanFinished.connect(self._scan_finished)
        self.session.resultsReady.connect(self._results_ready)

    # -- map -------------------------------------------------------------------------------
    def map_shown(self) -> None:
        """The map page came to the front: lay the map out if the library changed."""
        panel = self._ensure_map_panel()
        if self._map_stale and not self.discovery.map_busy:
            self._map_stale = False
            panel.set_busy("Laying out the map of the library…")
            self.discovery.load_map(int(self.settings.mix_count) or None)

    def _ensure_map_panel(self) -> MapPanel:
        if self.map_panel is None:
            from resonance_app.views.map_view import MapPanel

            panel = MapPanel()
            panel.seedRequested.connect(self.seeds.from_track_id)
            panel.playlistRequested.connect(self.playlists.open_tracks)
            layout = self.map_page.layout()
            assert layout is not None
            layout.addWidget(panel)
            self.map_panel = panel
        return self.map_panel

    def _map_ready(self, data: MapData) -> None:
        panel = self._ensure_map_panel()
        panel.set_map(data, {t.id: t for t in self.library.tracks})
        self._results_ready(self.session.results)

    def _results_ready(self, results: list[SearchResult]) -> None:
        if self.map_panel is not None:
            self.map_panel.highlight(self.session.seed_track_ids,
                                     [r.track.id for r in results])

    def _tracks_changed(self, tracks: list[TrackInfo]) -> None:
        ok = {t.id for t in tracks if t.status == "ok"}
        if self.map_panel is not None:
            self.map_panel.set_tracks({t.id: t for t in tracks})
            data = self.map_panel.data
            # tracks that came or went outside a scan (a folder removed); a scan's end
            # lays the map out once, in _scan_finished
            if data is not None and not self.library.scanning and ok != set(data.ids.tolist()):
                self._map_stale = True
                if self.map_page.isVisible():
                    self.map_shown()
        dialog = self.duplicates_dialog
        if dialog is not None and not self.library.scanning and ok != self._searched_ids:
            dialog.set_stale()

    def _scan_finished(self, _cancelled: bool) -> None:
        self._map_stale = True
        if self.map_page.isVisible():
            self.map_shown()

    # -- mixes -----------------------------------------------------------------------------
    def mixes_shown(self) -> None:
        """The mixes panel came to the front: make mixes at the chosen count if none are
        shown."""
        if not self.mixes_panel.mixes and self.mixes_panel.make.isEnabled():
            self.mixes_panel.request()

    def _make_mixes(self, count: int | None) -> None:
        self.settings.mix_count = count or 0
        self.discovery.load_mixes(count)

    def _mixes_ready(self, mixes: list[MixInfo]) -> None:
        self.mixes_panel.set_mixes(mixes)
        if self.map_panel is not None:
            self.map_panel.set_mixes(mixes)  # the map's colours are the panel's mixes

    def _failed(self, message: str) -> None:
        self.mixes_panel.failed(message)
        if self.map_panel is not None:
            self.map_panel.set_busy(message)
        self.message.emit(message)

    # -- duplicates ------------------------------------------------------------------------
    def show_duplicates(self) -> None:
        """Open the duplicates window; search the library unless groups found before are
        shown (or a search is under way)."""
        dialog = self.duplicates_dialog
        if dialog is None:
            dialog = self.duplicates_dialog = DuplicatesDialog(self.window)
            dialog.searchRequested.connect(self.find_duplicates)
            dialog.cancelRequested.connect(self.cancel_duplicates)
            dialog.playRequested.connect(self.playRequested)
            dialog.revealRequested.connect(lambda path: self.reveal(path))
        if not dialog.busy and not dialog.groups:
            self.find_duplicates()
        dialog.show()
        dialog.raise_()

    def find_duplicates(self) -> None:
        """Search the library for duplicate files (in the background)."""
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.set_busy()
        self._searched_ids = {t.id for t in self.library.tracks if t.status == "ok"}
        self.discovery.find_duplicates()

    def cancel_duplicates(self) -> None:
        """Stop the duplicate search (what it found so far is dropped)."""
        self.discovery.cancel_duplicates()
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.set_cancelled()

    def _duplicates_progress(self, done: int, total: int) -> None:
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.set_progress(done, total)

    def _duplicates_found(self, found: DuplicatesFound) -> None:
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.set_found(found)

    def _duplicates_failed(self, message: str) -> None:
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.set_failed(message)

    def close(self) -> None:
        """Stop the duplicate search and close the duplicates window."""
        self.discovery.cancel_duplicates()
        if self.duplicates_dialog is not None:
            self.duplicates_dialog.close()
