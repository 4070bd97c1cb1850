"""Record a few seconds from the microphone to use as the seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from resonance_app.audio_io import AudioBackend, AudioDevice, AudioDeviceError
from resonance_app.playback import Recorder
from resonance_app.settings import Settings

if TYPE_CHECKING:
    import numpy as np


class RecordDialog(QDialog):
    """Device picker, length, level meter, countdown, record/stop (non-modal)."""

    recorded = Signal(object, int)  # samples, sample rate
    failed = Signal(str)

    def __init__(self, backend: AudioBackend, *, seconds: int = 10, device_name: str = "",
                 countdown: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record a seed")
        self.setMinimumWidth(420)
        self.recorder = Recorder(backend, parent=self)
        self._countdown_from = countdown
        self._left = 0
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._count)
        self.devices = QComboBox()
        self.length = QSpinBox()
        self.length.setRange(5, 30)
        self.length.setValue(max(5, min(30, seconds)))
        self.length.setSuffix(" s")
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setMaximumHeight(10)
        self.elapsed = QProgressBar()
        self.elapsed.setFormat("%v / %m s")
        self.status = QLabel("Play the music near the microphone, then press Record.")
        self.status.setWordWrap(True)
        self.record_button = QPushButton("● Record")
        self.record_button.setDefault(True)
        self.record_button.clicked.connect(self._record_or_stop)
        self.close_button = QPushButton("Cancel")
        self.close_button.clicked.connect(self.reject)
        self._layout()
        self.recorder.level.connect(lambda v: self.level.setValue(int(v * 100)))
        self.recorder.progress.connect(self._progress)
        self.recorder.finished.connect(self._finished)
        self.recorder.error.connect(self._error)
        self._fill_devices(backend, device_name)

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Microphone", self.devices)
        form.addRow("Length", self.length)
        form.addRow("Level", self.level)
        form.addRow("Recorded", self.elapsed)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.record_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    def _fill_devices(self, backend: AudioBackend, device_name: str) -> None:
        try:
            devices = backend.input_devices()
        except AudioDeviceError as exc:
            devices = []
            self.status.setText(str(exc))
        for d in devices:
            self.devices.addItem(d.name, d)
            if d.name == device_name or (not device_name and d.default):
                self.devices.setCurrentIndex(self.devices.count() - 1)
        if not devices:
            if not self.status.text().startswith("Audio"):
                self.status.setText("No microphone was found. Connect one (or allow this app "
                                    "to use it in your system's privacy settings) and try again.")
            self.record_button.setEnabled(False)
            self.devices.setEnabled(False)

    @property
    def device(self) -> AudioDevice | None:
        """The chosen input device."""
        # item data comes back as a QVariant (Any in Qt's stubs); _fill_devices stores these
        return cast("AudioDevice | None", self.devices.currentData())

    def start(self) -> None:
        """Start the countdown, then the recording."""
        self.record_button.setText("■ Stop")
        self.devices.setEnabled(False)
        self.length.setEnabled(False)
        self._left = self._countdown_from
        if self._left > 0:
            self.status.setText(f"Recording in {self._left}…")
            self._tick.start()
        else:
            self._begin()

    def _count(self) -> None:
        self._left -= 1
        if self._left > 0:
            self.status.setText(f"Recording in {self._left}…")
            return
        self._tick.stop()
        self._begin()

    def _begin(self) -> None:
        self.elapsed.setRange(0, self.length.value())
        if self.recorder.start(self.length.value(), self.device):
            self.status.setText("Recording… press Stop to finish early.")

    def _record_or_stop(self) -> None:
        if self.recorder.recording:
            self.recorder.stop()
        elif self._tick.isActive():
            self._tick.stop()
            self._reset("Cancelled.")
        else:
            self.start()

    def _progress(self, seconds: float, target: float) -> None:
        self.elapsed.setValue(int(seconds))
        if self.recorder.recording:
            self.status.setText(f"Recording… {max(0.0, target - seconds):.0f} s left.")

    def _finished(self, samples: np.ndarray, sr: int) -> None:
        self.status.setText("Done.")
        self.recorded.emit(samples, sr)
        self.accept()

    def _error(self, message: str) -> None:
        self._reset(message)
        self.failed.emit(message)

    def _reset(self, message: str) -> None:
        self.status.setText(message)
        self.record_button.setText("● Record")
        self.devices.setEnabled(self.devices.count() > 0)
        self.length.setEnabled(True)
        self.level.setValue(0)

    def done(self, result: int) -> None:
        self._tick.stop()
        self.recorder.cancel()
        super().done(result)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and self.record_button.isEnabled():
            self._record_or_stop()
            return
        super().keyPressEvent(event)


class RecordFlow(QObject):
    """Opens one non-modal :class:`RecordDialog` at a time and remembers its length and
    microphone in the settings when a recording is taken."""

    recorded = Signal(object, int)  # samples, sample rate
    failed = Signal(str)

    def __init__(self, backend: AudioBackend, settings: Settings, *, countdown: int = 3,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.backend = backend
        self.settings = settings
        self.countdown = countdown
        self.dialog: RecordDialog | None = None
        self._window = parent

    def open(self) -> None:
        """Show the dialog (raise it when it is already open)."""
        if self.dialog is not None:
            self.dialog.raise_()
            return
        dialog = RecordDialog(self.backend, seconds=int(self.settings.record_seconds),
                              device_name=str(self.settings.input_device),
                              countdown=self.countdown, parent=self._window)
        dialog.recorded.connect(self._recorded)
        dialog.failed.connect(self.failed)
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        dialog.show()

    def close(self) -> None:
        """Close the dialog if it is open."""
        if self.dialog is not None:
            self.dialog.close()

    def _recorded(self, samples: np.ndarray, sr: int) -> None:
        dialog = self.dialog
        if dialog is not None:
            self.settings.record_seconds = dialog.length.value()
            if dialog.device is not None:
                self.settings.input_device = dialog.device.name
        self.recorded.emit(samples, sr)

    def _closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None
