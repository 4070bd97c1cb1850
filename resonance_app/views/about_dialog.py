"""Help ▸ About: version, the model in use with its card figures, data folders, licences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from resonance_app.about import about_html, app_version

if TYPE_CHECKING:
    from engine.model import ModelCard


class AboutDialog(QDialog):
    """A non-modal About box; the model card is filled in once it is loaded."""

    def __init__(self, paths: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Resonance")
        self.resize(620, 560)
        self.paths = paths
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.set_card(None, "loading…")

    def set_card(self, card: ModelCard | None, missing: str = "none installed") -> None:
        """Show ``card``; ``missing`` says why there is none."""
        self.text.setHtml(about_html(app_version(), card, self.paths, missing))
