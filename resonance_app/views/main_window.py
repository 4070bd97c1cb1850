"""The main window: welcome page on first run, then library | seed + results | playlist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resonance_app.audio_io import AudioBackend, SoundDeviceBackend
from resonance_app.controller import LibraryController, SearchSession
from resonance_app.discovery import Discovery
from resonance_app.drops import read_drop
from resonance_app.folders import FolderFlow
from resonance_app.icons import app_icon
from resonance_app.playback import Player
from resonance_app.seeding import SeedFlow
from resonance_app.settings import Settings
from resonance_app.views.actions import ActionTargets, build_actions
from resonance_app.views.controls import SearchControls
from resonance_app.views.discovery_flow import DiscoveryFlow
from resonance_app.views.library_view import LibraryPanel
from resonance_app.views.mixes_view import MixesPanel
from resonance_app.views.player_bar import PlayerBar
from resonance_app.views.playlist_flow import PlaylistFlow
from resonance_app.views.playlist_view import PlaylistPanel
from resonance_app.views.prompts import Prompts
from resonance_app.views.record_dialog import RecordDialog, RecordFlow
from resonance_app.views.results_view import ResultsPanel
from resonance_app.views.scan_bar import ErrorsDialog, ScanBar
from resonance_app.views.seed_view import SeedArea
from resonance_app.views.welcome import WelcomePage
from resonance_app.workers import Pools

if TYPE_CHECKING:
    from engine.library import SearchResult, TrackInfo
    from engine.model import ModelCard
    from resonance_app.library_api import LibraryFacade
    from resonance_app.views.about_dialog import AboutDialog
    from resonance_app.views.duplicates_view import DuplicatesDialog
    from resonance_app.views.map_view import MapPanel
    from resonance_app.views.settings_dialog import SettingsDialog


class MainWindow(QMainWindow):
    """Everything the user sees; engine work goes through the controller's pools."""

    def __init__(self, library: LibraryFacade, *, settings: Settings | None = None,
                 pools: Pools | None = None, audio: AudioBackend | None = None,
                 prompts: Prompts | None = None, record_countdown: int = 3) -> None:
        super().__init__()
        from engine.library import SearchParams

        self.settings = settings or Settings()
        self.pools = pools or Pools()
        self.audio = audio or SoundDeviceBackend()
        self.prompts = prompts or Prompts(self)
        self.controller = LibraryController(library, self.pools,
                                            workers=int(self.settings.worker_count), parent=self)
        self.session = SearchSession(library, self.pools, parent=self)
        self.discovery = Discovery(library, self.pools, parent=self)
        self.player = Player(self.audio, self.pools, parent=self)
        self.folders = FolderFlow(self.controller, self.pools.playback, self.prompts,
                                  self.settings, parent=self)
        self.recorder = RecordFlow(self.audio, self.settings, countdown=record_countdown,
                                   parent=self)
        self.settings_dialog: SettingsDialog | None = None
        self.about_dialog: AboutDialog | None = None
        self._playing_id: int | None = None
        self.setWindowTitle("Resonance")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build(SearchParams)
        self.seeds = SeedFlow(self.session, self.controller, self.controls.params, self.prompts,
                              self.settings, parent=self)
        self.playlists = PlaylistFlow(self.playlist, self.session, self.discovery,
                                      self.controller, self.controls.params, self.prompts,
                                      self.settings, parent=self)
        self.discovery_flow = DiscoveryFlow(
            self.discovery, self.controller, self.session, self.seeds, self.playlists,
            self.settings, map_page=self.map_page, mixes_panel=self.mixes_panel, window=self)
        self.actions_ = build_actions(self, ActionTargets(
            self.controller, self.folders, self.seeds, self.recorder, self.player, self.playlist,
            self.library_panel, self.results, self.scan_bar))
        self._connect()
        self._restore_state()
        self._start()

    # -- construction ------------------------------------------------------------------
    def _build(self, params_type: type) -> None:
        self.welcome = WelcomePage(app_icon())
        self.library_panel = LibraryPanel()
        self.mixes_panel = MixesPanel()
        self.map_page = QWidget()  # holds the map panel once first shown
        QVBoxLayout(self.map_page).setContentsMargins(0, 0, 0, 0)
        self.seed_area = SeedArea()
        self.controls = SearchControls(params_type, self.settings)
        self.results = ResultsPanel()
        self.results.seed_count.setValue(int(self.settings.playlist_size))
        self.set_enter_action(str(self.settings.enter_action))
        self.playlist = PlaylistPanel(self.controller, self.prompts, self.settings)
        self.scan_bar = ScanBar()
        self.player_bar = PlayerBar(self.player, float(self.settings.volume))
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.seed_area)
        centre_layout.addWidget(self.controls)
        self.centre_tabs = QTabWidget()
        self.centre_tabs.setDocumentMode(True)
        self.centre_tabs.addTab(self.results, "Results")
        self.centre_tabs.addTab(self.map_page, "Map")
        centre_layout.addWidget(self.centre_tabs, 1)
        self.left_tabs = QTabWidget()
        self.left_tabs.setDocumentMode(True)
        self.left_tabs.addTab(self.library_panel, "Library")
        self.left_tabs.addTab(self.mixes_panel, "Mixes")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for w in (self.left_tabs, centre, self.playlist):
            self.splitter.addWidget(w)
        self.splitter.setSizes([470, 640, 270])
        self.splitter.setStretchFactor(1, 1)  # the results take what the window gains
        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(6, 6, 6, 0)
        main_layout.addWidget(self.scan_bar)
        main_layout.addWidget(self.splitter, 1)
        main_layout.addWidget(self.player_bar)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(main)
        self.main_page = main
        self.setCentralWidget(self.stack)
        self.library_label = QLabel()
        self.model_label = QLabel()
        self.scan_waiting = QLabel()  # an automatic scan waits (e.g. another scan runs)
        self.scan_waiting.setObjectName("scanWaiting")
        self.scan_waiting.hide()
        self.statusBar().addPermanentWidget(self.scan_waiting)
        self.shared_label = QLabel()  # shown when another process has the library open
        self.shared_label.setObjectName("sharedLibraryWarning")
        self.shared_label.hide()
        self.statusBar().addPermanentWidget(self.shared_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.library_label)

    def _connect(self) -> None:
        c, s = self.controller, self.session
        self._connect_folders()
        c.scanStarted.connect(self.scan_bar.start)
        c.scanStarted.connect(lambda: self.library_panel.empty.setText(
            "Looking for music… tracks appear here as they are found."))
        c.scanProgress.connect(self.scan_bar.update_progress)
        c.scanFinished.connect(self._scan_finished)
        c.scanFailed.connect(self._scan_failed)
        c.tracksChanged.connect(self._tracks_changed)
        c.errorsChanged.connect(
            lambda errors: self.scan_bar.set_errors(errors, scanning=c.scanning))
        c.failed.connect(lambda m: self.prompts.error("Resonance", m))
        self.scan_bar.cancelRequested.connect(c.cancel_scan)
        lib = self.library_panel
        seeds = self.seeds
        seeds.folderDropped.connect(self.folders.add)
        seeds.playlistDropped.connect(self.playlist.import_file)
        lib.findSimilar.connect(seeds.from_track)
        lib.playRequested.connect(lambda t: self.play(t, 0.0))
        lib.addToPlaylist.connect(self.playlist.add_tracks)
        lib.currentChanged.connect(self._current_track_changed)
        c.coverReady.connect(self.library_panel.show_cover)
        c.modelCardChanged.connect(self._model_card)
        self.seed_area.dropped.connect(seeds.drop)
        self.seed_area.openFile.connect(seeds.open_file)
        self.seed_area.record.connect(self.recorder.open)
        self.recorder.recorded.connect(seeds.from_recording)
        self.recorder.failed.connect(lambda m: self.prompts.error("Recording", m))
        self.controls.paramsChanged.connect(s.set_params)
        s.analysing.connect(self.seed_area.set_analysing)
        s.resultsReady.connect(self._results_ready)
        s.failed.connect(self._seed_failed)
        self.results.playRequested.connect(self.play)
        self.results.findSimilar.connect(seeds.from_track)
        self.results.addToPlaylist.connect(self.playlist.add_tracks)
        self.results.playlistFromSeed.connect(self.playlists.from_seed)
        self.results.matchShown.connect(s.load_profile)
        s.profileReady.connect(self.results.show_profile)
        self.playlist.playRequested.connect(lambda t: self.play(t, 0.0))
        self._connect_discovery()
        self.player.error.connect(lambda m: self.prompts.error("Playback", m))
        self.player.positionChanged.connect(
            lambda seconds, _d: self.results.set_playing(self._playing_id, seconds))
        self.player.stateChanged.connect(self._player_state)

    def _connect_folders(self) -> None:
        f = self.folders
        self.welcome.chooseFolder.connect(f.choose)
        f.folderAdded.connect(lambda _path: self.stack.setCurrentWidget(self.main_page))
        f.updating.connect(lambda: self.statusBar().showMessage(
            "Music folders changed: updating the library…", 5000))
        f.deferred.connect(self._scan_deferred)
        f.waitingOver.connect(self.scan_waiting.hide)

    def _connect_discovery(self) -> None:
        self.library_panel.moreLikeThese.connect(self.seeds.from_tracks)
        self.playlist.moreLikeThese.connect(self.seeds.from_tracks)
        self.library_panel.pathTo.connect(self.playlists.path_to)
        self.results.pathTo.connect(self.playlists.path_to)
        self.centre_tabs.currentChanged.connect(self._centre_tab_changed)
        self.left_tabs.currentChanged.connect(self._left_tab_changed)
        self.discovery_flow.playRequested.connect(self.play)
        self.discovery_flow.message.connect(lambda m: self.statusBar().showMessage(m, 8000))

    def _centre_tab_changed(self, _index: int) -> None:
        if self.centre_tabs.currentWidget() is self.map_page:
            self.discovery_flow.map_shown()

    def _left_tab_changed(self, _index: int) -> None:
        if self.left_tabs.currentWidget() is self.mixes_panel:
            self.discovery_flow.mixes_shown()

    def _current_track_changed(self, track: TrackInfo | None) -> None:
        self.library_panel.show_cover(None)  # until the new one is read
        self.controller.load_cover(track)

    def _player_state(self, state: str) -> None:
        if state == "stopped":
            self.results.set_playing(None, 0.0)

    def _start(self) -> None:
        lib = self.controller.library
        has_roots = bool(lib.roots())
        self.stack.setCurrentWidget(self.main_page if has_roots else self.welcome)
        self.refresh_model_label()
        if has_roots:
            self.folders.watch_roots()
        self.controller.refresh()
        self.controller.refresh_playlists()
        self.controller.call(lib.others_open, self._show_shared)

    def _show_shared(self, others: int) -> None:
        """Warn that another Resonance (or a command-line scan) has this library open."""
        if others <= 0:
            self.shared_label.hide()
            return
        self.shared_label.setText("\u26a0 Library also open elsewhere")
        self.shared_label.setToolTip(
            f"{others} other Resonance process{'es' if others > 1 else ''} (the app or the "
            "command line) has this library open. Scans run one at a time; what the other "
            "one adds appears here after its scan.")
        self.shared_label.show()

    def open_settings(self) -> None:
        """Show the (non-modal) settings dialog."""
        from resonance_app.views.settings_dialog import SettingsDialog

        if self.settings_dialog is None:
            dialog = SettingsDialog(self.controller, self.settings, self.prompts, self)
            dialog.addFolder.connect(self.folders.add)
            dialog.rescanRequested.connect(self.controller.scan)
            dialog.modelChanged.connect(self._model_changed)
            dialog.watchChanged.connect(self.folders.set_watching)
            dialog.enterActionChanged.connect(self.set_enter_action)
            self.settings_dialog = dialog
        self.settings_dialog.show()
        self.settings_dialog.raise_()

    def show_about(self) -> None:
        """Show the (non-modal) About box; the model card is read off the GUI thread."""
        from resonance_app.crash import data_dir, default_log_file
        from resonance_app.views.about_dialog import AboutDialog

        if self.about_dialog is None:
            lib = self.controller.library
            paths = [("Data folder", str(data_dir())),
                     ("Library", str(lib.folder)),
                     ("Model in use", str(lib.model_dir)),
                     ("Settings file", self.settings.file_name),
                     ("Error log", str(default_log_file()))]
            dialog = AboutDialog(paths, self)
            self.about_dialog = dialog
            self.controller.call(lambda: lib.model_card, dialog.set_card,
                                 lambda exc: dialog.set_card(None, f"cannot be loaded: {exc}"))
        self.about_dialog.show()
        self.about_dialog.raise_()

    def _model_changed(self) -> None:
        self.refresh_model_label()
        self.controller.scan()  # re-embed every track with the new model

    def focus_filter(self) -> None:
        """Bring the library to the front with the cursor in its filter."""
        self.stack.setCurrentWidget(self.main_page)
        self.left_tabs.setCurrentWidget(self.library_panel)
        self.library_panel.focus_filter()

    def set_enter_action(self, enter_action: str) -> None:
        """Enter/double-click on a track plays it ("play") or finds similar ("seed")."""
        self.settings.enter_action = enter_action
        self.library_panel.set_enter_action(enter_action)
        self.results.set_enter_action(enter_action)

    def refresh_model_label(self) -> None:
        """Show the model in use (its card is read off the GUI thread)."""
        self.controller.load_model_card()

    def _model_card(self, card: ModelCard | None) -> None:
        self.model_label.setText(f"Model: {card.name}" if card is not None
                                 else "No model installed")
        if card is not None:
            self.results.segment_seconds = float(card.features.segment.seconds)

    # -- library -----------------------------------------------------------------------
    def _scan_finished(self, cancelled: bool) -> None:
        self.scan_bar.hide()
        self.playlist.reload_if_saved()
        self.library_panel.empty.setText("No music found yet. Add a folder that holds "
                                         "audio files (File ▸ Add music folder…).")
        n = len(self.controller.tracks)
        self.statusBar().showMessage("Scan cancelled; what was analysed is kept." if cancelled
                                     else f"Scan finished: {n:,} tracks.", 8000)

    def _scan_failed(self, title: str, message: str) -> None:
        self.scan_bar.hide()
        self.prompts.error(title, message)

    def _scan_deferred(self, message: str, retry: bool) -> None:
        """An automatic update could not start: say so once, in the status bar (no
        dialog for what the user did not ask)."""
        self.scan_bar.hide()
        again = " Trying again shortly." if retry else ""
        self.scan_waiting.setText("\u26a0 Library not updated" + (": waiting" if retry else ""))
        self.scan_waiting.setToolTip(message + again)
        self.scan_waiting.show()

    def _tracks_changed(self, tracks: list[TrackInfo]) -> None:
        self.library_panel.set_tracks(tracks, keep_order=self.controller.scanning)
        counts: dict[str, int] = {}
        for t in tracks:
            counts[t.status] = counts.get(t.status, 0) + 1
        ready = counts.pop("ok", 0)
        text = f"{ready:,} track{'s' if ready != 1 else ''}"
        names = {"pending": "waiting", "error": "unreadable"}
        for status, n in sorted(counts.items()):
            text += f" · {n:,} {names.get(status, status)}"
        self.library_label.setText(text)

    @property
    def errors_dialog(self) -> ErrorsDialog | None:
        """The list of unreadable files, once opened."""
        return self.scan_bar.errors_dialog

    # -- seeds -------------------------------------------------------------------------
    @property
    def record_dialog(self) -> RecordDialog | None:
        """The recording dialog while it is open."""
        return self.recorder.dialog

    def _results_ready(self, results: list[SearchResult]) -> None:
        seed = self.session.seed
        excerpt = bool(getattr(seed, "excerpt", False))
        self.results.excerpt_seconds = float(getattr(seed, "duration", 0.0)) if excerpt else None
        self.results.set_results(results)
        self.seed_area.set_seed(self.session.seed_label, len(results))

    def _seed_failed(self, message: str) -> None:
        self.results.set_results([])  # never leave the last seed's results under the error
        self.seed_area.set_failed(message)
        self.prompts.error("Cannot use this song", message)

    # -- discovery ---------------------------------------------------------------------
    @property
    def map_panel(self) -> MapPanel | None:
        """The library map, once first shown."""
        return self.discovery_flow.map_panel

    @property
    def duplicates_dialog(self) -> DuplicatesDialog | None:
        """The duplicates window, once opened."""
        return self.discovery_flow.duplicates_dialog

    def show_map(self) -> None:
        """Bring the library map to the front (laid out in the background if needed)."""
        self.stack.setCurrentWidget(self.main_page)
        self.centre_tabs.setCurrentWidget(self.map_page)

    def show_mixes(self) -> None:
        """Bring the mixes to the front, making them at the chosen count if none are shown."""
        self.stack.setCurrentWidget(self.main_page)
        self.left_tabs.setCurrentWidget(self.mixes_panel)
        self.discovery_flow.mixes_shown()

    def show_duplicates(self) -> None:
        """Open the list of duplicate files (searched in the background)."""
        self.discovery_flow.show_duplicates()

    # -- playback ----------------------------------------------------------------------
    def play(self, track: TrackInfo, offset: float = 0.0) -> None:
        """Preview ``track`` from ``offset`` seconds."""
        label = track.display_title
        self._playing_id = track.id
        self.player_bar.set_region(self.results.region_for(track))
        self.player.play(track.path, offset=offset,
                         label=f"{label} — {track.artist}" if track.artist else label)

    # -- window ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or read_drop(event.mimeData()).kind == "tracks":
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.seeds.drop(read_drop(event.mimeData()))

    def _restore_state(self) -> None:
        s = self.settings
        if not s.geometry.isEmpty():
            self.restoreGeometry(s.geometry)
        else:
            self.resize(1360, 820)
        if not s.window_state.isEmpty():
            self.restoreState(s.window_state)
        if not s.main_splitter.isEmpty():
            self.splitter.restoreState(s.main_splitter)
        self.library_panel.restore_header(s.library_header)
        self.left_tabs.setCurrentIndex(int(s.left_tab))
        self.centre_tabs.setCurrentIndex(int(s.centre_tab))

    def closeEvent(self, event: QCloseEvent) -> None:
        s = self.settings
        s.geometry = QByteArray(self.saveGeometry())
        s.window_state = QByteArray(self.saveState())
        s.main_splitter = QByteArray(self.splitter.saveState())
        s.library_header = self.library_panel.header_state()
        s.volume = self.player.volume
        s.playlist_size = self.results.seed_count.value()
        s.left_tab = self.left_tabs.currentIndex()
        s.centre_tab = self.centre_tabs.currentIndex()
        s.sync()
        self.controller.cancel_scan()
        self.player.stop()
        self.scan_bar.close_errors()
        self.recorder.close()
        self.discovery_flow.close()
        for dialog in (self.settings_dialog, self.about_dialog):
            if dialog is not None:
                dialog.close()
        self.pools.shutdown()
        super().closeEvent(event)

