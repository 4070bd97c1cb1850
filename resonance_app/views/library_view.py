"""The library: a filterable, sortable table of every track, with the selected cover."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resonance_app.models import TrackFilterProxy, TrackTableModel, format_duration

if TYPE_CHECKING:
    from engine.library import TrackInfo


def size_columns(view: QTableView, widths: tuple[int, ...], stretch: int) -> None:
    """Fixed starting widths, with column ``stretch`` taking the spare room."""
    header = view.horizontalHeader()
    header.setStretchLastSection(False)
    for col, width in enumerate(widths):
        view.setColumnWidth(col, width)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


ENTER = (QKeySequence("Return"), QKeySequence("Enter"))
CTRL_ENTER = (QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter"))


def view_action(view: QTableView, text: str, slot: Callable[[], object]) -> QAction:
    """An action on the current row of ``view``, active while the view has focus."""
    action = QAction(text, view)
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    action.triggered.connect(slot)
    view.addAction(action)
    return action


def assign_enter(play: QAction, find: QAction, enter_action: str) -> None:
    """Enter does ``enter_action`` ("play" or "seed"); Ctrl+Enter does the other."""
    first, second = (find, play) if enter_action == "seed" else (play, find)
    first.setShortcuts(list(ENTER))
    second.setShortcuts(list(CTRL_ENTER))


def configure_table(view: QTableView) -> None:
    """Settings shared by the app's track tables (fast at 20,000 rows)."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setHighlightSections(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setDragEnabled(True)
    view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)


class LibraryPanel(QWidget):
    """Filter box, track table and cover art of the current track."""

    findSimilar = Signal(object)  # TrackInfo
    playRequested = Signal(object)  # TrackInfo
    addToPlaylist = Signal(list)  # list[TrackInfo]
    currentChanged = Signal(object)  # TrackInfo | None
    moreLikeThese = Signal(list)  # list[TrackInfo]: several seeds at once
    pathTo = Signal(object)  # TrackInfo: a song path from the seed to it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TrackTableModel(self)
        self.proxy = TrackFilterProxy(self.model, self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by title, artist, album…  (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self._filter_timer = QTimer(self, singleShot=True, interval=150)
        self._filter_timer.timeout.connect(self._apply_filter)
        self.filter.textChanged.connect(lambda _t: self._filter_timer.start())
        self.view = QTableView()
        configure_table(self.view)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        for col, width in enumerate((200, 110, 110, 50, 52, 76, 160, 200, 48, 90, 44, 70,
                                     120)):
            self.view.setColumnWidth(col, width)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.viewport().installEventFilter(self)
        for col, name in enumerate(self.model.COLUMNS):
            self.view.setColumnHidden(col, name not in self.model.DEFAULT_VISIBLE)
        header = self.view.horizontalHeader()
        header.setSectionsMovable(True)
        header.sectionResized.connect(self._section_resized)
        header.setFirstSectionMovable(False)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        self.view.doubleClicked.connect(lambda _idx: self._enter_action().trigger())
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.selectionModel().currentRowChanged.connect(lambda cur, _p: self._current())
        self.empty = QLabel("No tracks yet. Add a music folder to get started.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)
        self.count = QLabel()
        self.count.setEnabled(False)
        self._layout()
        self._add_shortcuts()
        self.set_tracks([])

    def _layout(self) -> None:
        self.cover = QLabel()
        self.cover.setFixedSize(96, 96)
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cover.setObjectName("cover")
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        bottom = QHBoxLayout()
        bottom.addWidget(self.cover)
        bottom.addWidget(self.info, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(bottom)

    def _add_shortcuts(self) -> None:
        self.find_action = view_action(self.view, "Find similar songs",
                                       lambda: self._emit_for(self.findSimilar, None))
        self.play_action = view_action(self.view, "Play",
                                       lambda: self._emit_for(self.playRequested, None))
        self.together_action = view_action(
            self.view, "More like these together",
            lambda: self.moreLikeThese.emit(self.selected_tracks()))
        self.path_action = view_action(self.view, "Path to here from the seed",
                                       lambda: self._emit_for(self.pathTo, None))
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._selection())
        self._selection()
        self.set_enter_action("play")

    def focus_filter(self) -> None:
        """Put the cursor in the filter, its text selected."""
        self.filter.setFocus()
        self.filter.selectAll()

    def set_enter_action(self, enter_action: str) -> None:
        """What Enter and double-click do on a track: "play" or "seed" (find similar)."""
        self.enter_action = enter_action
        assign_enter(self.play_action, self.find_action, enter_action)

    def _enter_action(self) -> QAction:
        return self.find_action if self.enter_action == "seed" else self.play_action

    # -- data ------------------------------------------------------------------------
    def set_tracks(self, tracks: list[TrackInfo], *, keep_order: bool = False) -> None:
        """Show ``tracks``, keeping the selected track and the scroll position.

        ``keep_order`` (while a scan fills in tags): rows already shown stay where they
        are and new ones go last; the next full refresh sorts again.
        """
        current = self.current_track()
        scroll = self.view.verticalScrollBar().value()
        self.view.setUpdatesEnabled(False)
        if keep_order and self.model.rowCount():
            self.model.set_rows_keeping_order(tracks)
        else:
            self.model.set_rows(tracks)
            self.proxy.sort(self.view.horizontalHeader().sortIndicatorSection(),
                            self.view.horizontalHeader().sortIndicatorOrder())
        self.view.setUpdatesEnabled(True)
        self.view.setVisible(bool(tracks))
        self.empty.setVisible(not tracks)
        self._update_count()
        if current is not None:
            self.select_track(current.id, scroll=False)
        self.view.verticalScrollBar().setValue(scroll)

    TITLE_MIN_WIDTH = 180

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_title()
        return super().eventFilter(watched, event)

    def fit_title(self) -> None:
        """The Title column takes the room the other columns leave, but never less than
        ``TITLE_MIN_WIDTH`` (with many columns shown, the table scrolls sideways)."""
        others = sum(self.view.columnWidth(c) for c in range(1, self.model.columnCount())
                     if not self.view.isColumnHidden(c))
        spare = self.view.viewport().width() - others
        self.view.setColumnWidth(0, max(self.TITLE_MIN_WIDTH, spare))

    def _section_resized(self, column: int, _old: int, _new: int) -> None:
        if column != 0:  # the title follows what the other columns leave
            self.fit_title()

    def _show_column(self, column: int, shown: bool) -> None:
        self.view.setColumnHidden(column, not shown)
        self.fit_title()

    def header_state(self) -> QByteArray:
        """Column order, widths, hidden columns and sort order, for the settings."""
        return QByteArray(self.view.horizontalHeader().saveState())

    def restore_header(self, state: QByteArray) -> None:
        """Bring back what :meth:`header_state` saved (ignored when it does not fit)."""
        header = self.view.horizontalHeader()
        if not state.isEmpty() and header.restoreState(state):
            self.proxy.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
            self.fit_title()

    def select_track(self, track_id: int, *, scroll: bool = True) -> bool:
        """Make the row of ``track_id`` current; False when it is not shown."""
        for row in range(self.model.rowCount()):
            if self.model.track(row).id == track_id:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if index.isValid():
                    self.view.selectRow(index.row())
                    if scroll:
                        self.view.scrollTo(index)
                    return True
        return False

    def current_track(self) -> TrackInfo | None:
        """The TrackInfo of the current row, or None."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        return self.model.track(self.proxy.mapToSource(index).row())

    def selected_tracks(self) -> list[TrackInfo]:
        """The selected tracks, in view order."""
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.track(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
                for r in rows]

    def show_cover(self, data: bytes | None) -> None:
        """Show cover image bytes (or the placeholder)."""
        pix = QPixmap()
        if data and pix.loadFromData(data):
            dpr = self.devicePixelRatioF()
            pix = pix.scaled(int(96 * dpr), int(96 * dpr), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
            pix.setDevicePixelRatio(dpr)
            self.cover.setPixmap(pix)
        else:
            self.cover.setPixmap(QPixmap())
            self.cover.setText("♪")

    # -- internals -------------------------------------------------------------------
    def _apply_filter(self) -> None:
        self.proxy.set_filter_text(self.filter.text())
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} tracks")

    def _current(self) -> None:
        track = self.current_track()
        if track is None:
            self.info.clear()
        else:
            bits = [b for b in (track.artist, track.album, str(track.year or "")) if b]
            self.info.setText(f"<b>{_esc(track.display_title)}</b><br>{_esc(' · '.join(bits))}"
                              f"<br><small>{format_duration(track.duration)} · "
                              f"{_esc(track.format or '')}</small>")
        self.currentChanged.emit(track)

    def _emit_for(self, signal: SignalInstance, row: int | None) -> None:
        if row is None:
            track = self.current_track()
        else:
            track = self.model.track(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
        if track is not None:
            signal.emit(track)

    def _selection(self) -> None:
        n = len(self.view.selectionModel().selectedRows())
        self.together_action.setText(f"More like these {n} together" if n > 1
                                     else "More like these together")
        self.together_action.setEnabled(n > 1)

    def _header_menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        for col, name in enumerate(self.model.COLUMNS):
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(not self.view.isColumnHidden(col))
            action.setEnabled(col != 0)
            action.toggled.connect(lambda on, c=col: self._show_column(c, on))
        menu.popup(self.view.horizontalHeader().mapToGlobal(pos))
        self._menu_ref = menu

    def _menu(self, pos: QPoint) -> None:
        if not self.view.indexAt(pos).isValid():
            return
        menu = QMenu(self)
        menu.addAction(self.play_action)
        menu.addAction(self.find_action)
        menu.addAction("Add to playlist", lambda: self.addToPlaylist.emit(self.selected_tracks()))
        menu.addSeparator()
        menu.addAction(self.together_action)
        menu.addAction(self.path_action)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu_ref = menu


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
