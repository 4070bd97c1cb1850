"""Message boxes and file dialogs behind one injectable object.

Messages are shown window-modal but opened with ``open()`` (never ``exec()``), so the
event loop keeps running; only ``confirm`` waits, as its answer decides what happens
next. Tests swap in a scripted double.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget


class Prompts:
    """Asks the user things, on behalf of ``parent``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self._open_boxes: list[QMessageBox] = []

    def error(self, title: str, text: str, details: str = "") -> None:
        """Show an error message without blocking."""
        self._show(QMessageBox.Icon.Warning, title, text, details)

    def info(self, title: str, text: str, details: str = "") -> None:
        """Show an information message without blocking."""
        self._show(QMessageBox.Icon.Information, title, text, details)

    def _show(self, icon: QMessageBox.Icon, title: str, text: str, details: str) -> None:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.parent)
        if details:
            box.setDetailedText(details)
        box.finished.connect(lambda _r: self._open_boxes.remove(box))
        box.finished.connect(box.deleteLater)
        self._open_boxes.append(box)
        box.open()

    def folder(self, title: str, start: str = "") -> str:
        """Ask for a folder; '' when cancelled."""
        return QFileDialog.getExistingDirectory(self.parent, title, start)

    def open_file(self, title: str, start: str = "", filters: str = "") -> str:
        """Ask for an existing file; '' when cancelled."""
        return QFileDialog.getOpenFileName(self.parent, title, start, filters)[0]

    def save_file(self, title: str, start: str = "", filters: str = "") -> str:
        """Ask where to save; '' when cancelled."""
        return QFileDialog.getSaveFileName(self.parent, title, start, filters)[0]

    def save_file_as(self, title: str, start: str = "", filters: str = "",
                     selected: str = "") -> tuple[str, str]:
        """Ask where to save and in which of ``filters``; ``("", "")`` when cancelled."""
        path, chosen = QFileDialog.getSaveFileName(self.parent, title, start, filters, selected)
        return path, chosen

    def confirm(self, title: str, text: str, yes: str = "Replace") -> bool:
        """Ask a yes/no question (modal: the answer decides what happens next)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.NoButton, self.parent)
        accept = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is accept

    def text(self, title: str, label: str, default: str = "") -> str:
        """Ask for a line of text; '' when cancelled."""
        value, ok = QInputDialog.getText(self.parent, title, label, text=default)
        return value.strip() if ok else ""

    def number(self, title: str, label: str, value: int, low: int, high: int) -> int | None:
        """Ask for a whole number in ``[low, high]``; None when cancelled."""
        chosen, ok = QInputDialog.getInt(self.parent, title, label, value, low, high)
        return int(chosen) if ok else None
