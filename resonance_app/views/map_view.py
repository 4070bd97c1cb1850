"""The library map: every track as a dot, neighbours sounding alike (pyqtgraph).

Wheel zooms, dragging pans; hovering a dot names the track, clicking it finds songs
like it. With "Lasso" on, dragging draws a loop and the tracks inside become the
selection, which "Playlist from selection" turns into a playlist. The seed of the
current search and its results are ringed.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resonance_app.models import waiting_text

if TYPE_CHECKING:
    from engine.library import TrackInfo
    from resonance_app.discovery import MapData, MixInfo

#: Colours shown in the legend; further groups share a neutral grey.
COLOURS = 16
OTHER = QColor(150, 150, 150, 160)
COLOUR_BY = ("Mix", "Genre", "Artist", "Album")


def palette(count: int) -> list[QColor]:
    """``count`` distinct colours (golden-ratio hues)."""
    out = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65 if i % 2 else 0.5,
                                      0.95 if i % 3 else 0.8)
        out.append(QColor(int(r * 255), int(g * 255), int(b * 255), 210))
    return out


def dot_size(count: int) -> int:
    """Dot diameter in pixels: large for a few tracks, small for tens of thousands."""
    return 6 if count > 5000 else 8 if count > 500 else 10


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which ``points`` ``(n, 2)`` lie inside ``polygon`` ``(m, 2)`` (even-odd rule).

    Only points in the polygon's bounding box are tested, one edge at a time, so a
    long lasso over 50,000 points takes milliseconds and no ``(n, m)`` array.
    """
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    boxed = np.flatnonzero(np.all((points >= low) & (points <= high), axis=1))
    x, y = points[boxed, 0], points[boxed, 1]
    odd = np.zeros(len(boxed), bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if y0 == y1:
            continue  # a horizontal edge is never crossed by a horizontal ray
        crosses = (y0 > y) != (y1 > y)
        odd ^= crosses & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    out = np.zeros(len(points), bool)
    out[boxed[odd]] = True
    return out


class MapViewBox(pg.ViewBox):
    """A view box whose left drag draws a lasso instead of panning while ``lasso`` is on."""

    def __init__(self, on_lasso: Callable[[np.ndarray], None]) -> None:
        super().__init__()
        self.lasso = False
        self._on_lasso = on_lasso
        self._trail: list[QPointF] = []
        self.band = QGraphicsPathItem()
        pen = QPen(QColor(40, 120, 220), 0)
        pen.setCosmetic(True)
        self.band.setPen(pen)
        self.band.setBrush(QBrush(QColor(40, 120, 220, 40)))
        self.band.setZValue(1e6)
        self.band.hide()
        self.addItem(self.band, ignoreBounds=True)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if not self.lasso or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._trail = [self.mapToView(ev.buttonDownPos())]
        self._trail.append(self.mapToView(ev.pos()))
        path = QPainterPath(self._trail[0])
        for p in self._trail[1:]:
            path.lineTo(p)
        path.closeSubpath()
        self.band.setPath(path)
        self.band.show()
        if ev.isFinish():
            self.band.hide()
            polygon = np.array([(p.x(), p.y()) for p in self._trail], np.float64)
            self._trail = []
            if len(polygon) >= 3:
                self._on_lasso(polygon)


class MapPanel(QWidget):
    """The zoomable, pannable scatter of the library with its controls."""

    seedRequested = Signal(int)  # track id
    playlistRequested = Signal(list, str)  # track ids, playlist name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: MapData | None = None
        self.tracks: dict[int, TrackInfo] = {}
        self.selected = np.zeros(0, np.int64)
        self._row: dict[int, int] = {}
        self._stale_colours = False
        self.box = MapViewBox(self._lassoed)
        self.box.setAspectLocked(True)
        self.box.setMenuEnabled(False)
        self.plot = pg.PlotWidget(viewBox=self.box, background=None)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setAntialiasing(False)
        self.scatter = pg.ScatterPlotItem(size=6, pen=None, hoverable=True,
                                          hoverSize=10, tip=self._tip)
        self.scatter.sigClicked.connect(self._clicked)
        self.chosen = pg.ScatterPlotItem(size=9, brush=None, pen=pg.mkPen(70, 70, 70, width=2))
        self.hits = pg.ScatterPlotItem(size=11, brush=None, pen=pg.mkPen(255, 140, 0, width=2))
        self.seed_dot = pg.ScatterPlotItem(size=18, symbol="star",
                                           brush=pg.mkBrush(255, 200, 0),
                                           pen=pg.mkPen(60, 40, 0, width=1))
        for item in (self.scatter, self.chosen, self.hits, self.seed_dot):
            self.plot.addItem(item)
        self.colour_by = QComboBox()
        self.colour_by.addItems(COLOUR_BY)
        self.colour_by.currentIndexChanged.connect(lambda _i: self._colour())
        self.lasso = QPushButton("Lasso")
        self.lasso.setCheckable(True)
        self.lasso.setToolTip("Drag a loop around tracks to select them (dragging pans "
                              "when this is off)")
        self.lasso.toggled.connect(lambda on: setattr(self.box, "lasso", on))
        self.to_playlist = QPushButton("Playlist from selection")
        self.to_playlist.setEnabled(False)
        self.to_playlist.clicked.connect(self._selection_to_playlist)
        self.fit = QPushButton("Show all")
        self.fit.clicked.connect(lambda: self.box.autoRange(padding=0.02))
        self.status = QLabel("The map appears here once the library has been analysed.")
        self.status.setEnabled(False)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        top = QHBoxLayout()
        top.addWidget(QLabel("Colour by"))
        top.addWidget(self.colour_by)
        top.addStretch(1)
        for w in (self.lasso, self.to_playlist, self.fit):
            top.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.status)

    # -- data ------------------------------------------------------------------------
    def set_busy(self, text: str) -> None:
        """Say what the background is doing."""
        self.status.setText(text)

    def set_map(self, data: MapData, tracks: dict[int, TrackInfo]) -> None:
        """Show ``data``; ``tracks`` gives titles and tags by id."""
        self.data, self.tracks = data, tracks
        self._row = {int(t): r for r, t in enumerate(data.ids)}
        size = dot_size(len(data.ids))
        self.scatter.setData(pos=data.xy, data=data.ids, size=size)
        self.chosen.setSize(size + 4)
        self.hits.setSize(size + 6)
        self.scatter.points()  # pyqtgraph's per-dot items: made now, not at the first hover
        self._colour()
        self.box.autoRange(padding=0.02)
        self.selected = np.zeros(0, np.int64)
        self._show_selection()
        n = len(data.ids)
        waiting = sum(1 for t in tracks.values() if t.status == "pending")
        note = f" · {waiting_text(waiting)}" if waiting else ""
        self.status.setText(f"{n:,} track{'s' if n != 1 else ''}{note} · wheel zooms, "
                            "drag pans, click a dot to find similar songs")

    def set_mixes(self, mixes: list[MixInfo]) -> None:
        """Colour the dots by new mixes (made at another count in the mixes panel)."""
        if self.data is not None:
            from resonance_app.discovery import with_mixes

            self.data = with_mixes(self.data.ids, self.data.xy, mixes)
            self._colour()

    def set_tracks(self, tracks: dict[int, TrackInfo]) -> None:
        """New titles and tags (refreshes come every second while a scan runs): the
        dots are recoloured only when coloured by a tag, and once the map is shown."""
        self.tracks = tracks
        if self.data is not None and self.colour_by.currentText() != "Mix":
            if self.isVisible():
                self._colour()
            else:
                self._stale_colours = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale_colours:
            self._colour()

    def highlight(self, seed_ids: list[int], result_ids: list[int]) -> None:
        """Star the seed's tracks and ring its results."""
        self.seed_dot.setData(pos=self._positions(seed_ids))
        self.hits.setData(pos=self._positions(result_ids))

    # -- internals -------------------------------------------------------------------
    def _positions(self, track_ids: list[int]) -> np.ndarray:
        if self.data is None:
            return np.zeros((0, 2))
        rows = [self._row[t] for t in track_ids if t in self._row]
        return self.data.xy[rows].reshape(-1, 2)

    def _groups(self) -> tuple[np.ndarray, list[str]]:
        """Each point's group index (-1: other) and the groups' names, largest first."""
        assert self.data is not None
        by = self.colour_by.currentText()
        if by == "Mix":
            return self.data.mix, [f"{m.name} ({len(m.track_ids)})" for m in self.data.mixes]
        attr = by.lower()
        values = [getattr(self.tracks.get(int(t)), attr, None) or "" for t in self.data.ids]
        counts: dict[str, int] = {}
        for v in values:
            if v:
                counts[v] = counts.get(v, 0) + 1
        names = sorted(counts, key=lambda v: (-counts[v], v.casefold()))
        index = {v: i for i, v in enumerate(names)}
        return (np.array([index.get(v, -1) for v in values], np.int64),
                [f"{v} ({counts[v]})" for v in names])

    def _colour(self) -> None:
        self._stale_colours = False
        if self.data is None:
            return
        groups, names = self._groups()
        colours = palette(COLOURS)
        brushes = [QBrush(c) for c in colours] + [QBrush(OTHER)]
        self.scatter.setBrush([brushes[g] if 0 <= g < COLOURS else brushes[-1]
                               for g in groups.tolist()])
        entries = [f"<span style='color:{colours[i].name()}'>\u25cf</span>&nbsp;{_esc(n)}"
                   for i, n in enumerate(names[:COLOURS])]
        if len(names) > COLOURS:
            entries.append(f"<span style='color:{OTHER.name()}'>\u25cf</span>&nbsp;"
                           f"{len(names) - COLOURS} more")
        self.legend.setText(" &nbsp; ".join(entries))

    def _tip(self, x: float, y: float, data: Any) -> str:
        track = self.tracks.get(int(data))
        if track is None:
            return f"track {int(data)}"
        return f"{track.display_title} — {track.artist}" if track.artist else track.display_title

    def _clicked(self, _item: Any, points: Any, _ev: Any) -> None:
        if len(points) and not self.box.lasso:
            self.seedRequested.emit(int(points[0].data()))

    def _lassoed(self, polygon: np.ndarray) -> None:
        if self.data is None:
            return
        self.selected = self.data.ids[inside(self.data.xy, polygon)]
        self._show_selection()

    def _show_selection(self) -> None:
        self.chosen.setData(pos=self._positions(self.selected.tolist()))
        n = len(self.selected)
        self.to_playlist.setEnabled(n > 0)
        self.to_playlist.setText(f"Playlist from selection ({n:,})" if n
                                 else "Playlist from selection")

    def _selection_to_playlist(self) -> None:
        if len(self.selected):
            self.playlistRequested.emit([int(t) for t in self.selected],
                                        f"Map selection ({len(self.selected)} tracks)")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
