"""The playlist being built: reorder by drag, remove, save by name, export, drag out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resonance_app.controller import LibraryController
from resonance_app.models import (
    PlaylistModel,
    format_duration,
    rows_from_mime,
    track_ids_from_mime,
)
from resonance_app.views.library_view import configure_table, size_columns

EXPORT_FILTERS = "M3U8 playlist (*.m3u8);;XSPF playlist (*.xspf)"


class PlaylistView(QTableView):
    """A track table that reorders its rows by drag and accepts library rows."""

    tracksDropped = Signal(list, int)  # track ids, row to insert before

    def __init__(self, model: PlaylistModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_table(self)
        self.setModel(model)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        size_columns(self, (160, 120, 50), stretch=0)

    def _drop_row(self, event: QDropEvent) -> int:
        index = self.indexAt(event.position().toPoint())
        return index.row() if index.isValid() else self.model().rowCount()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802, D102
        if track_ids_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802, D102
        if track_ids_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802, D102
        row = self._drop_row(event)
        rows = rows_from_mime(event.mimeData())
        if rows and event.source() in (self, None):  # None: a synthesised (test) drop
            self.model().move_rows(rows, row)
            event.setDropAction(Qt.DropAction.CopyAction)  # nothing for Qt to delete
            event.accept()
            return
        ids = track_ids_from_mime(event.mimeData())
        if ids:
            self.tracksDropped.emit(ids, row)
            event.acceptProposedAction()


class PlaylistPanel(QWidget):
    """Build, save, load, export playlists through the library."""

    playRequested = Signal(object)  # TrackInfo

    def __init__(self, controller: LibraryController, prompts: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.prompts = prompts
        self.model = PlaylistModel(self)
        self.view = PlaylistView(self.model)
        self.view.tracksDropped.connect(self._insert_ids)
        self.view.doubleClicked.connect(
            lambda i: self.playRequested.emit(self.model.track(i.row())))
        self.saved = QComboBox()
        self.saved.setPlaceholderText("Saved playlists")
        self.saved.setMinimumContentsLength(12)
        self.saved.activated.connect(lambda _i: self.load(self.saved.currentText()))
        self.summary = QLabel()
        self.summary.setEnabled(False)
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(self.save)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self.export)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(lambda: self.set_tracks([]))
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
        for sig in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            sig.connect(self._update)
        controller.playlistsChanged.connect(self._set_saved)
        self.view.selectionModel().selectionChanged.connect(self._selection)
        self._update()

    # -- building ----------------------------------------------------------------------
    def add_tracks(self, tracks: list[Any]) -> None:
        """Append tracks to the playlist."""
        self.model.append(tracks)

    def set_tracks(self, tracks: list[Any], name: str = "") -> None:
        """Replace the playlist."""
        self.name = name
        self.model.set_rows(tracks)
        self._update()

    def remove_selected(self) -> None:
        """Remove the selected rows."""
        self.model.remove_rows([i.row() for i in self.view.selectionModel().selectedRows()])

    def _insert_ids(self, ids: list[int], row: int) -> None:
        by_id = {t.id: t for t in self.controller.tracks}
        lib = self.controller.library

        def resolve() -> list[Any]:
            return [by_id.get(i) or lib.track(i) for i in ids]

        def insert(tracks: list[Any]) -> None:
            rows = self.model.rows()
            self.model.set_rows(rows[:row] + tracks + rows[row:])

        self.controller.call(resolve, insert)

    # -- library -----------------------------------------------------------------------
    def save(self) -> None:
        """Save under a name asked from the user."""
        if not self.model.rowCount():
            self.prompts.info("Save playlist", "The playlist is empty: add some songs first.")
            return
        name = self.prompts.text("Save playlist", "Name:", self.name or "My playlist")
        if not name:
            return
        ids = [t.id for t in self.model.rows()]
        lib = self.controller.library
        self.name = name
        self._update()
        self.controller.call(lambda: lib.save_playlist(name, ids),
                             lambda _r: self.controller.refresh_playlists())

    def load(self, name: str) -> None:
        """Replace the playlist with the saved one called ``name``."""
        if name:
            lib = self.controller.library
            self.controller.call(lambda: lib.playlist(name), lambda t: self.set_tracks(t, name))

    def export(self) -> None:
        """Write the playlist as M3U8 or XSPF (chosen by the file extension)."""
        if not self.model.rowCount():
            self.prompts.info("Export playlist", "The playlist is empty.")
            return
        path = self.prompts.save_file("Export playlist", f"{self.name or 'playlist'}.m3u8",
                                      EXPORT_FILTERS)
        if not path:
            return
        out = Path(path)
        fmt = "xspf" if out.suffix.lower() == ".xspf" else "m3u8"
        if out.suffix.lower() not in (".xspf", ".m3u8", ".m3u"):
            out = out.with_suffix(".m3u8")
        ids = [t.id for t in self.model.rows()]
        lib = self.controller.library
        self.controller.call(lambda: lib.export_playlist(ids, out, fmt=fmt),
                             lambda _r: self.summary.setText(f"Exported to {out.name}"))

    def _set_saved(self, names: list[str]) -> None:
        self.saved.clear()
        self.saved.addItems(names)
        if self.name in names:
            self.saved.setCurrentText(self.name)
        else:
            self.saved.setCurrentIndex(-1)

    def _update(self, *_args: object) -> None:
        rows = self.model.rows()
        name = self.name.replace("&", "&amp;").replace("<", "&lt;")
        self.title.setText(f"<b>Playlist</b> — {name}" if name else "<b>Playlist</b>")
        self.title.setToolTip(self.name)
        total = sum(t.duration or 0 for t in rows)
        self.summary.setText(f"{len(rows)} track{'s' if len(rows) != 1 else ''} · "
                             f"{format_duration(total)}" if rows else
                             "Add results here, or drag songs in from the library.")
        for b in (self.save_button, self.export_button, self.clear_button):
            b.setEnabled(bool(rows))
        self._selection()

    def _selection(self, *_args: object) -> None:
        self.remove_button.setEnabled(self.view.selectionModel().hasSelection())
