"""The seed area: what the results are 'like', and a target for drops."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from resonance_app.drops import DropIntent, read_drop


class SeedArea(QFrame):
    """Shows the current seed; accepts dropped audio files and library rows."""

    dropped = Signal(object)  # DropIntent
    openFile = Signal()
    record = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seedArea")
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumHeight(64)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setEnabled(False)
        self.open_button = QPushButton("Open file…")
        self.open_button.setToolTip("Find songs like an audio file (Ctrl+O)")
        self.open_button.clicked.connect(self.openFile)
        self.record_button = QPushButton("● Record…")
        self.record_button.setToolTip("Find songs like what the microphone hears (Ctrl+R)")
        self.record_button.clicked.connect(self.record)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.addLayout(text, 1)
        layout.addWidget(self.open_button)
        layout.addWidget(self.record_button)
        self.set_idle()

    def set_idle(self) -> None:
        """No seed yet."""
        self.title.setText("<b>Drop a song here</b>")
        self.detail.setText("…or a row from the library, or open a file, or record a few "
                            "seconds with the microphone.")

    def set_analysing(self, label: str) -> None:
        """A seed is being listened to."""
        self.title.setText(f"Listening to <b>{_esc(label)}</b>…")
        self.detail.setText("Analysing timbre, harmony and rhythm.")

    def set_seed(self, label: str, count: int) -> None:
        """Results are shown for ``label``."""
        self.title.setText(f"Songs like <b>{_esc(label)}</b>")
        self.detail.setText(f"{count} result{'s' if count != 1 else ''}. "
                            "Move the sliders to re-rank; drop another song to start over.")

    def set_failed(self, message: str) -> None:
        """The seed could not be analysed."""
        self.title.setText("<b>That song could not be used</b>")
        self.detail.setText(message)

    def _set_hover(self, on: bool) -> None:
        self.setProperty("dropHover", on)
        self.setFrameShadow(QFrame.Shadow.Sunken if on else QFrame.Shadow.Plain)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        intent = read_drop(event.mimeData())
        if intent.kind in ("tracks", "file", "none") and (event.mimeData().hasUrls()
                                                          or intent.kind == "tracks"):
            self._set_hover(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: object) -> None:
        self._set_hover(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_hover(False)
        intent: DropIntent = read_drop(event.mimeData())
        event.acceptProposedAction()
        self.dropped.emit(intent)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
