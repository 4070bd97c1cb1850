"""The playlist being built: reorder by drag, remove, save by name, export, drag out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from resonance_app.controller import LibraryController
from resonance_app.drops import PLAYLIST_SUFFIXES
from resonance_app.models import (
    MissingEntry,
    PlaylistModel,
    format_duration,
    rows_from_mime,
    track_ids_from_mime,
)
from resonance_app.settings import Settings
from resonance_app.views.library_view import configure_table, size_columns

if TYPE_CHECKING:
    from engine.library import TrackInfo
    from resonance_app.views.prompts import Prompts

M3U8_FILTER = "M3U8 playlist (*.m3u8)"
XSPF_FILTER = "XSPF playlist (*.xspf)"
EXPORT_FILTERS = f"{M3U8_FILTER};;{XSPF_FILTER}"
IMPORT_FILTERS = "Playlists (*.m3u *.m3u8 *.xspf);;All files (*)"


def _button(text: str) -> QToolButton:
    """A compact text button (the panel stays narrow on small screens)."""
    button = QToolButton()
    button.setText(text)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


def write_playlist_file(rows: Sequence[TrackInfo | MissingEntry], path: Path, fmt: str,
                        title: str | None) -> Path:
    """Write ``rows`` as an M3U8 or XSPF file, missing files included (by their path, as
    a player keeps a dead entry), so the list reads back whole once the files return."""
    from engine.playlist_files import PlaylistEntry, write_m3u8, write_xspf

    entries = [PlaylistEntry(Path(t.path), t.title, t.artist, t.duration) for t in rows]
    if fmt == "xspf":
        return write_xspf(path, entries, title=title)
    return write_m3u8(path, entries, title=title)


def playlist_files(mime: QMimeData) -> list[Path]:
    """The playlist files (M3U, M3U8, XSPF) among dropped URLs."""
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in PLAYLIST_SUFFIXES]


class PlaylistView(QTableView):
    """A track table that reorders its rows by drag and accepts library rows."""

    tracksDropped = Signal(list, int)  # track ids, row to insert before
    filesDropped = Signal(list, int)  # paths from another program, row to insert before
    playlistsDropped = Signal(list)  # playlist file paths to import

    def __init__(self, model: PlaylistModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_table(self)
        self._rows = model  # the view's model, typed: drops move its rows
        self.setModel(model)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        size_columns(self, (160, 120, 50), stretch=0)

    def _drop_row(self, event: QDropEvent) -> int:
        index = self.indexAt(event.position().toPoint())
        return index.row() if index.isValid() else self._rows.rowCount()

    @staticmethod
    def _wanted(mime: QMimeData) -> bool:
        return bool(track_ids_from_mime(mime) or playlist_files(mime))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._wanted(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._wanted(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = playlist_files(event.mimeData())
        if files and not track_ids_from_mime(event.mimeData()):
            event.acceptProposedAction()
            self.playlistsDropped.emit(files)
            return
        row = self._drop_row(event)
        rows = rows_from_mime(event.mimeData())
        if rows and event.source() is self:  # rows of this very list: a reorder
            self._rows.move_rows(rows, row)
            event.setDropAction(Qt.DropAction.CopyAction)  # nothing for Qt to delete
            event.accept()
            return
        if event.source() is None:  # another program (or Resonance on another library):
            # its row numbers and track ids mean nothing here, its files do
            paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
            self.filesDropped.emit(paths, row)
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            return
        ids = track_ids_from_mime(event.mimeData())
        if ids:
            self.tracksDropped.emit(ids, row)
            event.acceptProposedAction()


class PlaylistPanel(QWidget):
    """Build, save, load, export playlists through the library."""

    NAME_WIDTH = 170  # pixels of the playlist's name beside the panel's title

    playRequested = Signal(object)  # TrackInfo
    moreLikeThese = Signal(list)  # list[TrackInfo]: the playlist (or its selection) as seeds

    def __init__(self, controller: LibraryController, prompts: Prompts, settings: Settings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.prompts = prompts
        self.settings = settings
        self.model = PlaylistModel(self)
        self.view = PlaylistView(self.model)
        self.view.tracksDropped.connect(self._insert_ids)
        self.view.filesDropped.connect(self._insert_files)
        self.view.playlistsDropped.connect(self._import_files)
        self.view.doubleClicked.connect(lambda i: self._play_row(i.row()))
        self._saved_keys: list[int | str] = []
        self.saved = QComboBox()
        self.saved.setPlaceholderText("Saved playlists")
        self.saved.setMinimumContentsLength(12)
        self.saved.activated.connect(lambda _i: self.load(self.saved.currentText()))
        self.saved.setToolTip("Saved playlists (drop an M3U, M3U8 or XSPF file on the list "
                              "to import one)")
        self.summary = QLabel()
        self.summary.setEnabled(False)
        self.summary.setWordWrap(True)  # a long message must not widen the panel
        self.save_button = _button("Save…")
        self.save_button.clicked.connect(self.save)
        self.export_button = _button("Export…")
        self.export_button.clicked.connect(self.export)
        self.remove_button = _button("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = _button("Clear")
        self.clear_button.clicked.connect(lambda: self.set_tracks([]))
        self.like_button = _button("More like these")
        self.like_button.setToolTip("Find songs like the whole playlist (or the selected "
                                    "songs) at once")
        self.like_button.clicked.connect(self._more_like_these)
        QShortcut(QKeySequence.StandardKey.Delete, self.view, self.remove_selected,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self.name = ""
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.saved, 1)
        buttons = QHBoxLayout()
        for b in (self.save_button, self.export_button, self.remove_button, self.clear_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.like_button)
        for sig in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            sig.connect(self._update)
        controller.playlistsChanged.connect(self._set_saved)
        self.view.selectionModel().selectionChanged.connect(self._selection)
        self._update()

    # -- building ----------------------------------------------------------------------
    def add_tracks(self, tracks: list[TrackInfo]) -> None:
        """Append tracks to the playlist."""
        self.model.append(tracks)

    def set_tracks(self, tracks: Sequence[TrackInfo | MissingEntry], name: str = "", *,
                   saved: bool = False) -> None:
        """Replace the playlist (``saved``: it is what the library holds under ``name``)."""
        self.name = name
        self.model.set_rows(tracks)
        if saved:
            self._saved_keys = self.model.keys()
        self._update()

    def has_unsaved_changes(self) -> bool:
        """Whether replacing the playlist now would lose something."""
        return bool(self.model.rowCount()) and self.model.keys() != self._saved_keys

    def may_replace(self, what: str) -> bool:
        """Ask before ``what`` replaces unsaved changes; True when it may go ahead."""
        if not self.has_unsaved_changes():
            return True
        return self.prompts.confirm(
            "Replace the playlist?", f"The playlist has changes that are not saved. {what} "
            "replaces it.", "Replace")

    def start_new(self, tracks: list[TrackInfo], name: str) -> None:
        """Show ``tracks`` as a new, unsaved playlist (ask with ``may_replace`` first)."""
        self._saved_keys = []
        self.set_tracks(tracks, name)

    def remove_selected(self) -> None:
        """Remove the selected rows."""
        self.model.remove_rows([i.row() for i in self.view.selectionModel().selectedRows()])

    def _play_row(self, row: int) -> None:
        track = self.model.track(row)
        if track.id is None:
            self.prompts.info("Cannot play", f"{track.path.name}: {track.error}")
        else:
            self.playRequested.emit(track)

    def _insert_ids(self, ids: list[int], row: int) -> None:
        by_id = {t.id: t for t in self.controller.tracks}
        lib = self.controller.library

        def resolve() -> list[TrackInfo]:
            return [by_id.get(i) or lib.track(i) for i in ids]

        def insert(tracks: list[TrackInfo]) -> None:
            rows = self.model.rows()
            self.model.set_rows(rows[:row] + tracks + rows[row:])

        self.controller.call(resolve, insert)

    def _insert_files(self, paths: list[Path], row: int) -> None:
        """Insert the dropped files that are library tracks; say how many are not."""
        by_path = {Path(t.path): t for t in self.controller.tracks}
        found = [by_path[p] for p in paths if p in by_path]
        if found:
            rows = self.model.rows()
            self.model.set_rows(rows[:row] + found + rows[row:])
        if len(found) < len(paths):
            n = len(paths) - len(found)
            self.summary.setText(f"Left out {n} dropped file{'s' if n != 1 else ''} that "
                                 "the library does not hold.")

    # -- library -----------------------------------------------------------------------
    def save(self) -> None:
        """Save under a name asked from the user (missing entries are kept)."""
        if not self.model.rowCount():
            self.prompts.info("Save playlist", "The playlist is empty: add some songs first.")
            return
        name = self.prompts.text("Save playlist", "Name:", self.name or "My playlist")
        if not name:
            return
        items = [t.id if t.id is not None else t.path for t in self.model.rows()]
        keys = self.model.keys()
        lib = self.controller.library
        self.name = name
        self._update()

        def saved(_r: object) -> None:
            self._saved_keys = keys
            self.controller.refresh_playlists()

        self.controller.call(lambda: lib.save_playlist(name, items), saved)

    def load(self, name: str, *, ask: bool = True) -> None:
        """Replace the playlist with the saved one called ``name`` (asks about changes)."""
        if not name or (ask and not self.may_replace(f"Opening '{name}'")):
            self._set_saved([self.saved.itemText(i) for i in range(self.saved.count())])
            return
        lib = self.controller.library

        def rows() -> list[TrackInfo | MissingEntry]:
            return [i.track if i.track is not None else MissingEntry(i.path, i.reason or "")
                    for i in lib.playlist_items(name)]

        self.controller.call(rows, lambda tracks: self.set_tracks(tracks, name, saved=True))

    def reload_if_saved(self) -> None:
        """Re-read a saved, unchanged playlist (after a scan: files that came back return)."""
        if self.name and self.model.rowCount() and not self.has_unsaved_changes() and any(
                t.id is None or t.status != "ok" for t in self.model.rows()):
            self.load(self.name, ask=False)

    def _import_files(self, paths: list[Path]) -> None:
        for path in paths:
            self.import_file(path)

    def choose_import(self) -> None:
        """Ask for a playlist file and import it."""
        path = self.prompts.open_file("Import playlist", str(self.settings.playlist_dir),
                                      IMPORT_FILTERS)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Import an M3U/M3U8/XSPF file as a saved playlist and open it.

        Its name is the file's own title (or file name); an existing playlist of that
        name is replaced only if the user agrees, else another name is asked for.
        """
        lib = self.controller.library
        self.settings.playlist_dir = str(path.parent)

        def ask_name(found: tuple[str, list[str]]) -> None:
            title, names = found
            name = title
            if title in names and not self.prompts.confirm(
                    "Import playlist", f"A playlist called '{title}' exists already. "
                    "Replace it with the imported one?", "Replace"):
                name = self.prompts.text("Import playlist", "Import under another name:",
                                         f"{title} (imported)")
                if not name or (name in names and not self.prompts.confirm(
                        "Import playlist", f"Replace the playlist '{name}'?", "Replace")):
                    return
            if self.may_replace(f"Importing '{name}'"):
                self.controller.call(lambda: lib.import_playlist(path, name=name), imported)

        def imported(name: str) -> None:
            self.controller.refresh_playlists()
            self.load(name, ask=False)  # already asked

        self.controller.call(lambda: (lib.playlist_file_title(path), lib.playlists()),
                             ask_name)

    def export(self) -> None:
        """Write the playlist as M3U8 or XSPF: the file's extension, else the chosen type."""
        if not self.model.rowCount():
            self.prompts.info("Export playlist", "The playlist is empty.")
            return
        folder = Path(str(self.settings.playlist_dir or Path.home()))
        last = str(self.settings.playlist_format)
        start = folder / f"{self.name or 'playlist'}.{last}"
        path, chosen = self.prompts.save_file_as(
            "Export playlist", str(start), EXPORT_FILTERS,
            XSPF_FILTER if last == "xspf" else M3U8_FILTER)
        if not path:
            return
        out = Path(path)
        suffix = out.suffix.lower()
        if suffix in (".xspf", ".m3u8", ".m3u"):
            fmt = "xspf" if suffix == ".xspf" else "m3u8"
        else:
            fmt = "xspf" if chosen == XSPF_FILTER else "m3u8"
            out = out.with_name(f"{out.name}.{fmt}")
        self.settings.playlist_dir = str(out.parent)
        self.settings.playlist_format = fmt
        rows, title = self.model.rows(), self.name or None
        missing = sum(1 for t in rows if t.id is None)
        kept = (f" (with {missing} missing file{'s' if missing != 1 else ''}, kept by path)"
                if missing else "")
        self.controller.call(lambda: write_playlist_file(rows, out, fmt, title),
                             lambda _r: self.summary.setText(f"Exported to {out.name}{kept}"))

    def _set_saved(self, names: list[str]) -> None:
        self.saved.clear()
        self.saved.addItems(names)
        self._show_saved_name()

    def _show_saved_name(self) -> None:
        """Point the saved-playlists box at the playlist shown, when it is a saved one."""
        self.saved.setCurrentIndex(self.saved.findText(self.name) if self.name else -1)

    def _update(self, *_args: object) -> None:
        self._show_saved_name()
        rows = self.model.rows()
        # elided: a long name (a song path, a mix) must not widen the panel
        shown = self.title.fontMetrics().elidedText(self.name, Qt.TextElideMode.ElideRight,
                                                    self.NAME_WIDTH)
        name = shown.replace("&", "&amp;").replace("<", "&lt;")
        self.title.setText(f"<b>Playlist</b> — {name}" if name else "<b>Playlist</b>")
        self.title.setToolTip(self.name)
        total = sum(t.duration or 0 for t in rows)
        self.summary.setText(f"{len(rows)} track{'s' if len(rows) != 1 else ''} · "
                             f"{format_duration(total)}" if rows else
                             "Add results here, or drag songs in from the library.")
        for b in (self.save_button, self.export_button, self.clear_button):
            b.setEnabled(bool(rows))
        self.like_button.setEnabled(any(t.id is not None for t in rows))
        self._selection()

    def _more_like_these(self) -> None:
        """The selected songs (or the whole playlist) found in the library, as seeds."""
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        tracks = [self.model.track(r) for r in rows] or self.model.rows()
        found = [t for t in tracks if t.id is not None]
        if found:
            self.moreLikeThese.emit(found)

    def _selection(self, *_args: object) -> None:
        self.remove_button.setEnabled(self.view.selectionModel().hasSelection())
