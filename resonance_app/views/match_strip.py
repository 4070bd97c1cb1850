"""Where a result matches the seed, drawn along the whole track (and on the seek bar)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QWidget

from resonance_app.models import format_duration

REGION_COLOR = QColor(232, 150, 60, 150)  # the orange of the match, half transparent


class MatchStrip(QWidget):
    """The selected result's whole track with its matching region; click to play there."""

    playFrom = Signal(float)  # seconds into the track

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration = 0.0
        self.region: tuple[float, float] | None = None
        self.position: float | None = None  # playback position when this track plays
        self.setMinimumHeight(26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.set_match(0.0, None)

    def sizeHint(self) -> QSize:
        return QSize(300, 26)

    def set_match(self, duration: float, region: tuple[float, float] | None) -> None:
        """Show a track of ``duration`` seconds with ``region`` (start, end) marked."""
        self.duration = max(0.0, float(duration or 0.0))
        self.region = None
        if region is not None and self.duration > 0:
            start = min(max(0.0, region[0]), self.duration)
            self.region = (start, min(max(start, region[1]), self.duration))
        self.position = None
        if self.region is not None:
            a, b = self.region
            self.setToolTip(f"The best match: {format_duration(a)}–{format_duration(b)} of "
                            f"{format_duration(self.duration)}. Click anywhere to play from "
                            "there.")
        else:
            self.setToolTip("Select a result to see where it matches")
        self.setEnabled(self.duration > 0)
        self.update()

    def set_position(self, seconds: float | None) -> None:
        """Mark the playback position (None: this track is not playing)."""
        self.position = seconds
        self.update()

    def seconds_at(self, x: float) -> float:
        """The track time under horizontal pixel ``x``."""
        bar = self._bar()
        return min(max(0.0, (x - bar.left()) / max(1.0, bar.width())), 1.0) * self.duration

    def x_of(self, seconds: float) -> float:
        """The horizontal pixel of track time ``seconds``."""
        bar = self._bar()
        return bar.left() + bar.width() * (seconds / self.duration if self.duration else 0.0)

    def _bar(self) -> QRectF:
        return QRectF(self.rect()).adjusted(2, 7, -2, -7)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.duration > 0:
            self.playFrom.emit(self.seconds_at(event.position().x()))
            event.accept()
        else:
            super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        bar = self._bar()
        groove = QColor(self.palette().color(self.palette().ColorRole.Mid))
        groove.setAlpha(90)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(groove)
        painter.drawRoundedRect(bar, 3, 3)
        if self.region is not None:
            a, b = self.x_of(self.region[0]), self.x_of(self.region[1])
            painter.setBrush(REGION_COLOR.darker(110))
            painter.drawRoundedRect(QRectF(a, bar.top() - 3, max(3.0, b - a),
                                           bar.height() + 6), 3, 3)
        if self.position is not None:
            x = self.x_of(self.position)
            painter.setPen(self.palette().color(self.palette().ColorRole.Text))
            painter.drawLine(QPointF(x, 1), QPointF(x, self.height() - 1))
        painter.end()


class RegionSlider(QSlider):
    """A seek bar that shows a region of the track behind its groove."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.region: tuple[float, float] | None = None  # in slider units

    def set_region(self, region: tuple[float, float] | None) -> None:
        """Mark ``region`` (start, end) in slider units; None clears it."""
        self.region = region
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.region is not None and self.maximum() > self.minimum():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                 QStyle.SubControl.SC_SliderGroove, self)
            span = self.maximum() - self.minimum()
            a = groove.left() + groove.width() * (self.region[0] - self.minimum()) / span
            b = groove.left() + groove.width() * (self.region[1] - self.minimum()) / span
            painter = QPainter(self)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(REGION_COLOR)
            painter.drawRoundedRect(QRectF(a, groove.center().y() - 5, max(3.0, b - a), 10),
                                    3, 3)
            painter.end()
        super().paintEvent(event)
