"""Ranked results with per-modality bars, and the actions that build playlists from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QPainter
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resonance_app.models import ResultsModel, format_duration
from resonance_app.views.controls import MODALITIES, MODALITY_COLORS
from resonance_app.views.library_view import assign_enter, configure_table, view_action
from resonance_app.views.match_strip import MatchStrip

if TYPE_CHECKING:
    from engine.library import SearchResult, TrackInfo


class ModalityDelegate(QStyledItemDelegate):
    """Paints timbre / harmony / rhythm similarity as three stacked bars."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter,
                                option.widget)
        values = index.data(ResultsModel.MODALITY_ROLE) or {}
        rect = option.rect.adjusted(4, 3, -4, -3)
        bar_h = max(2, (rect.height() - 4) // 3)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(option.palette.color(option.palette.ColorRole.Mid))
        track.setAlpha(70)
        for i, name in enumerate(MODALITIES):
            y = rect.top() + i * (bar_h + 2)
            full = QRect(rect.left(), y, rect.width(), bar_h)
            painter.setBrush(track)
            painter.drawRoundedRect(full, 1.5, 1.5)
            value = float(min(1.0, max(0.0, values.get(name, 0.0))))
            painter.setBrush(QColor(MODALITY_COLORS[name]))
            painter.drawRoundedRect(QRect(full.left(), y, int(full.width() * value), bar_h),
                                    1.5, 1.5)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(110, 20)


class ResultsPanel(QWidget):
    """The ranked list for the current seed."""

    playRequested = Signal(object, float)  # TrackInfo, offset seconds
    findSimilar = Signal(object)  # TrackInfo
    addToPlaylist = Signal(list)  # list[TrackInfo]
    playlistFromSeed = Signal(int)  # N tracks
    pathTo = Signal(object)  # TrackInfo: a song path from the seed to it
    matchShown = Signal(object)  # track id (int) of the result on the strip, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ResultsModel(self)
        self.view = QTableView()
        configure_table(self.view)
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(ResultsModel.MATCH_COLUMN, ModalityDelegate(self.view))
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.viewport().installEventFilter(self)
        self.play_action = view_action(self.view, "Play the matching part",
                                       lambda: self._current_do(self._play_match))
        self.find_action = view_action(self.view, "Find similar to this",
                                       lambda: self._current_do(self._find_similar))
        self.path_action = view_action(
            self.view, "Path to here from the seed",
            lambda: self._current_do(lambda i: self.pathTo.emit(self.model.row(i.row()).track)))
        self.view.doubleClicked.connect(lambda _idx: self._enter_action().trigger())
        self.view.customContextMenuRequested.connect(self._menu)
        self.empty = QLabel()
        self.set_enter_action("play")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)
        self.segment_seconds = 10.0  # length of the matching part (from the model card)
        self.excerpt_seconds: float | None = None  # an excerpt seed matches its own length
        self.strip = MatchStrip()
        self.strip.playFrom.connect(self._play_from)
        self.strip_label = QLabel()
        self.strip_label.setEnabled(False)
        self.note = QLabel("Variety re-ordered this list: some lower-scored songs moved up to "
                           "mix styles. Set Variety to 0 for a list by score.")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        self.note.hide()
        self.add_all = QPushButton("Add all to playlist")
        self.add_all.clicked.connect(lambda: self.addToPlaylist.emit(self.model.rows_tracks()))
        self.add_selected = QPushButton("Add selected")
        self.add_selected.clicked.connect(lambda: self.addToPlaylist.emit(self.selected_tracks()))
        self.seed_count = QSpinBox()
        self.seed_count.setRange(5, 200)
        self.seed_count.setValue(25)
        self.seed_count.setSuffix(" tracks")
        self.from_seed = QPushButton("Playlist from seed")
        self.from_seed.setToolTip("Build a playlist of the seed's N closest songs in one click")
        self.from_seed.clicked.connect(lambda: self.playlistFromSeed.emit(self.seed_count.value()))
        buttons = QHBoxLayout()
        for w in (self.add_all, self.add_selected):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.seed_count)
        buttons.addWidget(self.from_seed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty, 1)
        self.strip_row = QWidget()
        strip_row = QHBoxLayout(self.strip_row)
        strip_row.setContentsMargins(0, 0, 0, 0)
        strip_row.addWidget(self.strip_label)
        strip_row.addWidget(self.strip, 1)
        layout.addWidget(self.strip_row)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.view.selectionModel().currentRowChanged.connect(lambda _c, _p: self._show_match())
        self.set_results([])

    def set_results(self, results: list[SearchResult]) -> None:
        """Show ranked SearchResults (keeps the selected track selected)."""
        selected = {t.id for t in self.selected_tracks()}
        self.model.set_rows(results)
        for row, r in enumerate(results):
            if r.track.id in selected:
                self.view.selectRow(row)
        has = bool(results)
        self.note.setVisible(self.model.reordered())
        self.strip_row.setVisible(has)
        self.view.setVisible(has)
        self.empty.setVisible(not has)
        for w in (self.add_all, self.add_selected):
            w.setEnabled(has)
        self._show_match()

    def current_result(self) -> SearchResult | None:
        """The result of the current row, or None."""
        index = self.view.currentIndex()
        return self.model.row(index.row()) if index.isValid() else None

    def region_of(self, result: SearchResult) -> tuple[float, float]:
        """Where ``result`` matches the seed, in seconds of its track."""
        start = float(result.match_offset)
        return start, start + (self.excerpt_seconds or self.segment_seconds)

    def region_for(self, track: TrackInfo) -> tuple[float, float] | None:
        """The matching region of ``track`` if it is among the results."""
        result = next((r for r in self.model.rows() if r.track.id == track.id), None)
        return None if result is None else self.region_of(result)

    def set_playing(self, track_id: int | None, seconds: float) -> None:
        """Mark the playback position on the strip when its track is the one playing."""
        result = self.current_result()
        playing = result is not None and result.track.id == track_id
        self.strip.set_position(seconds if playing else None)

    def _show_match(self) -> None:
        result = self.current_result()
        if result is None:
            self.strip.set_match(0.0, None)
            self.strip_label.setText("Where it matches:")
            self.matchShown.emit(None)
            return
        duration = result.track.duration or self.region_of(result)[1]
        self.strip.set_match(duration, self.region_of(result))
        a, b = self.strip.region or (0.0, 0.0)
        confidence = result.match_confidence
        sure = f" (alignment {100 * confidence:.0f} %)" if confidence > 0 else ""
        self.strip_label.setText(f"Matches at {format_duration(a)}–{format_duration(b)}{sure}:")
        self.matchShown.emit(result.track.id)

    def show_profile(self, track_id: int, starts: Sequence[float],
                     scores: Sequence[float]) -> None:
        """Draw the seed's similarity along ``track_id`` if it is still the one shown."""
        result = self.current_result()
        if result is not None and result.track.id == track_id:
            self.strip.set_profile(starts, scores, self.segment_seconds)

    def _play_from(self, seconds: float) -> None:
        result = self.current_result()
        if result is not None:
            self.playRequested.emit(result.track, float(seconds))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def fit_columns(self) -> None:
        """Title and artist share the room; the bars shrink first on a narrow pane."""
        fm = self.view.fontMetrics()
        avail = self.view.viewport().width()
        rank = fm.horizontalAdvance("000") + 12
        score = fm.horizontalAdvance("0.000") + 14
        at = fm.horizontalAdvance("00:00") + 14
        bars = max(44, min(110, int(avail * 0.15)))
        rest = max(0, avail - rank - score - at - bars)
        artist = int(rest * 0.36)
        for col, width in enumerate((rank, rest - artist, artist, score, bars, at)):
            self.view.setColumnWidth(col, width)

    def title_chars(self) -> float:
        """How many average characters the Title column shows (readability check)."""
        return self.view.columnWidth(1) / max(1, self.view.fontMetrics().averageCharWidth())

    def selected_tracks(self) -> list[TrackInfo]:
        """The selected results' tracks, in rank order."""
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.track(r) for r in rows]

    def set_enter_action(self, enter_action: str) -> None:
        """What Enter and double-click do on a result: "play" or "seed" (find similar)."""
        self.enter_action = enter_action
        assign_enter(self.play_action, self.find_action, enter_action)
        keys = "Enter" if enter_action == "seed" else "Ctrl+Enter"
        self.empty.setText(f"Drop a song on the window, pick one in the library and press "
                           f"{keys}, or record one with the microphone.\n"
                           "The songs that sound most alike will appear here.")

    def _enter_action(self) -> QAction:
        return self.find_action if self.enter_action == "seed" else self.play_action

    def _current_do(self, fn: Callable[[QModelIndex], None]) -> None:
        index = self.view.currentIndex()
        if index.isValid():
            fn(index)

    def _play_match(self, index: QModelIndex) -> None:
        r = self.model.row(index.row())
        self.playRequested.emit(r.track, float(r.match_offset))

    def _find_similar(self, index: QModelIndex) -> None:
        self.findSimilar.emit(self.model.row(index.row()).track)

    def _menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        r = self.model.row(index.row())
        self.view.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction(self.play_action)
        menu.addAction("Play from the start", lambda: self.playRequested.emit(r.track, 0.0))
        menu.addAction(self.find_action)
        menu.addSeparator()
        menu.addAction("Add to playlist", lambda: self.addToPlaylist.emit(self.selected_tracks()
                                                                         or [r.track]))
        menu.addAction(self.path_action)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu_ref = menu
