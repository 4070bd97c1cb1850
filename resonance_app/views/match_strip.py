"""Where a result matches the seed, drawn along the whole track (and on the seek bar)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QWidget

from resonance_app.models import format_duration

REGION_COLOR = QColor(232, 150, 60, 150)  # the orange of the match, half transparent
PROFILE_COLOR = QColor(70, 130, 180, 170)  # the similarity along the track


class MatchStrip(QWidget):
    """The selected result's whole track with its matching region; click to play there."""

    playFrom = Signal(float)  # seconds into the track

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration = 0.0
        self.region: tuple[float, float] | None = None
        self.position: float | None = None  # playback position when this track plays
        #: similarity to the seed along the track: (from, to seconds, score) per segment
        self.profile: list[tuple[float, float, float]] = []
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.set_match(0.0, None)

    def sizeHint(self) -> QSize:
        return QSize(300, 34)

    def set_match(self, duration: float, region: tuple[float, float] | None) -> None:
        """Show a track of ``duration`` seconds with ``region`` (start, end) marked."""
        self.duration = max(0.0, float(duration or 0.0))
        self.region = None
        if region is not None and self.duration > 0:
            start = min(max(0.0, region[0]), self.duration)
            self.region = (start, min(max(start, region[1]), self.duration))
        self.position = None
        self.profile = []
        self._tooltip()
        self.setEnabled(self.duration > 0)
        self.update()

    def set_profile(self, starts: Sequence[float], scores: Sequence[float],
                    segment_seconds: float) -> None:
        """Draw the seed's similarity to each segment (``starts`` seconds, ``scores``) of
        ``segment_seconds``, relative to the track's own lowest and highest."""
        starts = [float(a) for a in starts]
        ends = [*starts[1:], starts[-1] + segment_seconds] if starts else []
        self.profile = [(a, min(b, self.duration) if self.duration else b, float(s))
                        for a, b, s in zip(starts, ends, scores, strict=True)]
        self._tooltip()
        self.update()

    def _tooltip(self) -> None:
        lines = []
        if self.region is not None:
            a, b = self.region
            lines.append(f"The best match: {format_duration(a)}–{format_duration(b)} of "
                         f"{format_duration(self.duration)}.")
        if self.profile:
            at, _end, peak = max(self.profile, key=lambda p: p[2])
            low = min(s for _, _, s in self.profile)
            lines.append(f"The curve: similarity to the seed along the track, from {low:.2f} "
                         f"to {peak:.2f} (at {format_duration(at)}).")
        if lines:
            lines.append("Click anywhere to play from there.")
        self.setToolTip("\n".join(lines) or "Select a result to see where it matches")

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
        return QRectF(self.rect()).adjusted(2, 6, -2, -6)

    def _profile_path(self, bar: QRectF) -> QPainterPath:
        """One column per segment over the groove's floor: full height for the track's
        most similar segment, a sliver for its least."""
        scores = [s for _, _, s in self.profile]
        low = min(scores)
        span = max(max(scores) - low, 0.05)  # a flat profile stays low rather than noisy
        path = QPainterPath()
        for a, b, score in self.profile:
            height = bar.height() * (0.12 + 0.88 * (score - low) / span)
            x = self.x_of(a)
            path.addRect(QRectF(x, bar.bottom() - height, max(1.0, self.x_of(b) - x - 1),
                                height))
        return path

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
        if self.profile:
            painter.setBrush(PROFILE_COLOR)
            painter.drawPath(self._profile_path(bar))
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
    """A seek bar that shows a region of the track behind its groove.

    ``seekRequested`` carries each position the user chose: a click on the groove (the
    handle jumps there, as in a media player), the end of a drag, a key or the wheel.
    """

    seekRequested = Signal(int)  # slider units

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.region: tuple[float, float] | None = None  # in slider units
        self.sliderReleased.connect(lambda: self.seekRequested.emit(self.value()))
        self.actionTriggered.connect(self._action)

    def _action(self, action: int) -> None:
        """Keys and the wheel step the position (dragging reports on release)."""
        if action not in (QSlider.SliderAction.SliderMove.value,
                          QSlider.SliderAction.SliderNoAction.value):
            self.seekRequested.emit(self.sliderPosition())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        style, control = self.style(), QStyle.ComplexControl.CC_Slider
        handle = style.subControlRect(control, opt, QStyle.SubControl.SC_SliderHandle, self)
        pos = event.position().toPoint()
        if (event.button() != Qt.MouseButton.LeftButton or handle.contains(pos)
                or self.maximum() <= self.minimum()):
            super().mousePressEvent(event)  # the handle: an ordinary drag
            return
        groove = style.subControlRect(control, opt, QStyle.SubControl.SC_SliderGroove, self)
        half = handle.width() // 2
        value = QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                               pos.x() - groove.left() - half,
                                               max(1, groove.width() - handle.width()))
        self.setValue(value)
        self.seekRequested.emit(value)
        event.accept()

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
