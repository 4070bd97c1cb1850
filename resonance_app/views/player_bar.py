"""The preview transport: play/pause, stop, position (seekable), volume."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from resonance_app.icons import transport_icon
from resonance_app.models import format_duration
from resonance_app.playback import Player
from resonance_app.views.match_strip import RegionSlider


class PlayerBar(QWidget):
    """Controls for the single app-wide :class:`Player`."""

    def __init__(self, player: Player, volume: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.play_button = QToolButton()
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(player.toggle)
        self.stop_button = QToolButton()
        self.stop_button.setToolTip("Stop")
        self.stop_button.clicked.connect(player.stop)
        self.position = RegionSlider()
        self.position.setRange(0, 0)
        self.position.setToolTip("Click or drag to seek")
        self.region: tuple[float, float] | None = None
        self.position.seekRequested.connect(lambda value: player.seek(value / 10))
        self.time = QLabel("0:00 / 0:00")
        self.title = QLabel("Nothing playing")
        self.title.setMinimumWidth(160)
        self.title.setMaximumWidth(320)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setFixedWidth(90)
        self.volume.setValue(int(volume * 100))
        self.volume.setToolTip("Volume")
        self.volume.valueChanged.connect(lambda v: player.set_volume(v / 100))
        player.set_volume(volume)
        self.volume_icon = vol_icon = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.play_button, self.stop_button, self.title):
            layout.addWidget(w)
        layout.addWidget(self.position, 1)
        layout.addWidget(self.time)
        layout.addWidget(vol_icon)
        layout.addWidget(self.volume)
        player.positionChanged.connect(self._position)
        player.stateChanged.connect(self._state)
        player.trackChanged.connect(self._track)
        self._state(player.state)

    def set_region(self, region: tuple[float, float] | None) -> None:
        """Show the matching region (seconds) of the track being played, or none."""
        self.region = region
        self.position.set_region(None if region is None else
                                 (region[0] * 10, region[1] * 10))
        self.position.setToolTip("Click or drag to seek" if region is None else
                                 "Click or drag to seek; the orange band is where it "
                                 "matches the seed")

    def _position(self, seconds: float, duration: float) -> None:
        if not self.position.isSliderDown():
            self.position.setRange(0, int(duration * 10))
            self.position.setValue(int(seconds * 10))
        self.time.setText(f"{format_duration(seconds)} / {format_duration(duration)}")

    def _state(self, state: str) -> None:
        self._icons()
        self.play_button.setEnabled(state in ("playing", "paused"))
        self.stop_button.setEnabled(state != "stopped")
        if state == "loading":
            self.time.setText("loading…")
        else:  # never leave "loading…" behind (after an error, for one)
            self._position(self.player.position, self.player.duration)

    def _icons(self) -> None:
        """Transport icons in the palette's colours (again when the palette changes)."""
        palette = self.palette()
        playing = self.player.state == "playing"
        self.play_button.setIcon(transport_icon("pause" if playing else "play", palette))
        self.stop_button.setIcon(transport_icon("stop", palette))
        self.volume_icon.setPixmap(transport_icon("volume", palette).pixmap(16))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._icons()
        super().changeEvent(event)

    def _track(self, label: str) -> None:
        self.title.setText(label)
        self.title.setToolTip(label)
