"""Scan progress: files done/total, current file, rate, ETA, cancel, and the errors list."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resonance_app.models import format_duration

if TYPE_CHECKING:
    from engine.library import ScanError, ScanProgress

_STAGES = {"walk": "Looking for music files…", "diff": "Comparing with the library…",
           "index": "Updating the search index…", "done": "Done", "cancelled": "Cancelled"}


class ScanBar(QWidget):
    """A slim bar shown while the library is being scanned; it keeps the list of files
    that could not be read and opens it in an :class:`ErrorsDialog`."""

    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.errors: list[ScanError] = []
        self.errors_dialog: ErrorsDialog | None = None
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(260)
        self.progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.current = QLabel()
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current.setMinimumWidth(120)
        self.rate = QLabel()
        self.errors_button = QPushButton()
        self.errors_button.setFlat(True)
        self.errors_button.clicked.connect(self.show_errors)
        self.errors_button.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the scan (what is done is kept)")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("Scanning:"))
        layout.addWidget(self.progress)
        layout.addWidget(self.current, 1)
        layout.addWidget(self.rate)
        layout.addWidget(self.errors_button)
        layout.addWidget(self.cancel_button)
        self.hide()

    def start(self) -> None:
        """Show the bar in its initial state."""
        self.progress.setRange(0, 0)  # busy until the walk has a total
        self.current.setText(_STAGES["walk"])
        self.rate.clear()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.show()

    def update_progress(self, p: ScanProgress) -> None:
        """Show one ScanProgress."""
        if p.total > 0:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done:,} / {p.total:,}")
        if p.stage in _STAGES and p.stage != "analyse":
            self.current.setText(_STAGES[p.stage])
        elif p.path:
            self.current.setText(Path(p.path).name)
            self.current.setToolTip(str(p.path))
        parts = []
        if p.rate:
            parts.append(f"{p.rate:.1f} files/s")
        if p.eta_s is not None and p.done < p.total:
            parts.append(f"about {format_duration(p.eta_s)} left")
        self.rate.setText(" · ".join(parts))
        self.set_error_count(p.errors)

    def set_error_count(self, n: int) -> None:
        """Show the 'n errors' link when files failed."""
        self.errors_button.setVisible(n > 0)
        self.errors_button.setText(f"⚠ {n} file{'s' if n != 1 else ''} could not be read")

    def set_errors(self, errors: list[ScanError], *, scanning: bool) -> None:
        """The library's scan errors now (the count shows once no scan is counting)."""
        self.errors = errors
        if not scanning:
            self.set_error_count(len(errors))
        if self.errors_dialog is not None:
            self.errors_dialog.set_errors(errors)

    def show_errors(self) -> None:
        """Open the (non-modal) list of files that could not be read."""
        if self.errors_dialog is None:
            self.errors_dialog = ErrorsDialog(self.window())
        self.errors_dialog.set_errors(self.errors)
        self.errors_dialog.show()
        self.errors_dialog.raise_()

    def close_errors(self) -> None:
        """Close the errors list if it is open."""
        if self.errors_dialog is not None:
            self.errors_dialog.close()

    def cancelling(self) -> None:
        """Tell the user the cancel was heard."""
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")

    def _cancel(self) -> None:
        self.cancelling()
        self.cancelRequested.emit()


class ErrorsDialog(QDialog):
    """The files a scan could not read, and why (non-modal)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be read")
        self.resize(720, 360)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.summary = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def set_errors(self, errors: Sequence[ScanError]) -> None:
        """Fill the table with ScanError rows (path, reason)."""
        self.table.setRowCount(len(errors))
        for row, err in enumerate(errors):
            name = QTableWidgetItem(Path(err.path).name)
            name.setToolTip(str(err.path))
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, QTableWidgetItem(str(err.reason)))
        self.summary.setText("These files were skipped. Fix or remove them and rescan."
                             if errors else "No errors.")
