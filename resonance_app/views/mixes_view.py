"""Mixes: the library in groups of songs that sound alike; one becomes a playlist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from resonance_app.discovery import MixInfo


class MixesPanel(QWidget):
    """A count box, a "Make mixes" button and the list of mixes."""

    mixesRequested = Signal(object)  # count, or None for the automatic size
    playlistRequested = Signal(list, str)  # track ids, playlist name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mixes: list[MixInfo] = []
        self.count = QSpinBox()
        self.count.setRange(0, 500)
        self.count.setSpecialValueText("Automatic")
        self.count.setToolTip("How many mixes (Automatic: about 30 songs each)")
        self.make = QPushButton("Make mixes")
        self.make.clicked.connect(self.request)
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _item: self.open_current())
        self.list.currentRowChanged.connect(lambda _r: self._update())
        self.open = QPushButton("Open as playlist")
        self.open.clicked.connect(self.open_current)
        self.status = QLabel("Groups of songs that sound alike, named from their tags.")
        self.status.setWordWrap(True)
        self.status.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Mixes"))
        row.addWidget(self.count, 1)
        row.addWidget(self.make)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.open)
        layout.addWidget(self.status)
        self._update()

    def request(self) -> None:
        """Ask for the mixes at the chosen count."""
        self.make.setEnabled(False)
        self.status.setText("Making mixes…")
        self.mixesRequested.emit(self.count.value() or None)

    def set_mixes(self, mixes: list[MixInfo]) -> None:
        """Show ``mixes`` (largest first)."""
        self.mixes = mixes
        self.list.clear()
        for mix in mixes:
            n = len(mix.track_ids)
            item = QListWidgetItem(f"{mix.name}  ·  {n} song{'s' if n != 1 else ''}")
            item.setData(Qt.ItemDataRole.UserRole, mix.track_ids)
            self.list.addItem(item)
        self.make.setEnabled(True)
        total = sum(len(m.track_ids) for m in mixes)
        self.status.setText(f"{len(mixes)} mixes of {total:,} songs. Double-click one to "
                            "open it as a playlist.")
        self._update()

    def failed(self, message: str) -> None:
        """The mixes could not be made."""
        self.make.setEnabled(True)
        self.status.setText(message)

    def open_current(self) -> None:
        """Turn the current mix into a playlist."""
        row = self.list.currentRow()
        if 0 <= row < len(self.mixes):
            mix = self.mixes[row]
            self.playlistRequested.emit(list(mix.track_ids), mix.name)

    def _update(self) -> None:
        self.open.setEnabled(self.list.currentRow() >= 0)
