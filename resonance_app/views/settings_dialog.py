"""Settings: library folders, worker count, the model in use, and training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resonance_app.about import model_rows
from resonance_app.installed_models import InstalledModel, installed_models
from resonance_app.views.train_panel import TrainPanel

if TYPE_CHECKING:
    from engine.model import ModelCard
    from resonance_app.controller import LibraryController
    from resonance_app.settings import Settings
    from resonance_app.views.prompts import Prompts


class SettingsDialog(QDialog):
    """A non-modal dialog; changes apply at once.

    It works on the library controller and the settings; what the rest of the app must
    do in answer (scan a new folder, follow a new model) goes out as signals.
    """

    addFolder = Signal(Path)
    rescanRequested = Signal()
    modelChanged = Signal()  # the library now uses another model: re-analyse
    watchChanged = Signal(bool)
    enterActionChanged = Signal(str)

    def __init__(self, controller: LibraryController, settings: Settings, prompts: Prompts,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.prompts = prompts
        self.setWindowTitle("Resonance settings")
        self.resize(640, 460)
        tabs = QTabWidget()
        tabs.addTab(self._library_tab(), "Library")
        tabs.addTab(self._model_tab(), "Model")
        self.train = TrainPanel(controller, prompts)
        self.train.modelSwitched.connect(self._model_switched)
        tabs.addTab(self.train, "Training")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self.tabs = tabs

    def _library_tab(self) -> QWidget:
        page = QWidget()
        self.folders = QListWidget()
        add = self.add_button = QPushButton("Add folder…")
        add.clicked.connect(self._add_folder)
        remove = self.remove_button = QPushButton("Remove")
        remove.clicked.connect(self._remove_folder)
        rescan = self.rescan_button = QPushButton("Rescan now")
        rescan.clicked.connect(self.rescanRequested.emit)
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        self.workers.setValue(int(self.settings.worker_count))
        self.workers.setToolTip("Processes that analyse files during a scan")
        self.workers.valueChanged.connect(self._set_workers)
        row = QHBoxLayout()
        for b in (add, remove, rescan):
            row.addWidget(b)
        row.addStretch(1)
        self.watch = QCheckBox("Watch the folders and update the library when files change")
        self.watch.setChecked(bool(self.settings.watch_folders))
        self.watch.toggled.connect(self._set_watch)
        self.enter = QComboBox()
        self.enter.addItem("Play it", "play")
        self.enter.addItem("Find similar songs", "seed")
        self.enter.setCurrentIndex(max(0, self.enter.findData(self.settings.enter_action)))
        self.enter.setToolTip("Ctrl+Enter does the other one")
        self.enter.currentIndexChanged.connect(
            lambda _i: self.enterActionChanged.emit(str(self.enter.currentData())))
        form = QFormLayout()
        form.addRow("Enter or double-click on a song", self.enter)
        form.addRow("Analysis workers", self.workers)
        form.addRow(self.watch)
        layout = QVBoxLayout(page)
        layout.addWidget(self.folders)
        layout.addLayout(row)
        layout.addLayout(form)
        self._reload_folders()
        return page

    def _model_tab(self) -> QWidget:
        page = QWidget()
        self.model_summary = QFormLayout()
        self.models = QListWidget()
        self.models.setToolTip("Models installed for this library; switching re-analyses "
                               "every track in the background")
        self.use_model = QPushButton("Use this model")
        self.use_model.clicked.connect(self._use_selected)
        self.use_shipped = QPushButton("Back to the default model")
        self.use_shipped.clicked.connect(self._use_shipped_model)
        self.models.currentRowChanged.connect(self._model_selected)
        self.card = QPlainTextEdit()
        self.card.setReadOnly(True)
        self.card.setPlainText("Loading the model card…")
        self.card.setMaximumHeight(120)
        row = QHBoxLayout()
        row.addWidget(self.use_model)
        row.addWidget(self.use_shipped)
        row.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<b>Model in use</b>"))
        layout.addLayout(self.model_summary)
        layout.addWidget(QLabel("<b>Installed models</b>"))
        layout.addWidget(self.models, 1)
        layout.addLayout(row)
        layout.addWidget(QLabel("Technical details"))
        layout.addWidget(self.card)
        self._installed: list[InstalledModel] = []
        self._current = ""
        self.reload_card()
        return page

    def reload_card(self) -> None:
        """Show the model in use and the installed ones (read off the GUI thread)."""
        ctl = self.controller
        lib = ctl.library

        def read() -> tuple[ModelCard | None, list[InstalledModel]]:
            return lib.model_card, installed_models(lib.folder, lib.model_dir)

        def failed(exc: BaseException) -> None:
            self._show_models(None, installed_models(None))
            self.card.setPlainText(f"The model cannot be loaded: {exc}")

        ctl.call(read, lambda out: self._show_models(*out), failed)

    def _show_models(self, card: ModelCard | None, installed: list[InstalledModel]) -> None:
        while self.model_summary.rowCount():
            self.model_summary.removeRow(0)
        for label, value in model_rows(card):
            text = QLabel(value)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.model_summary.addRow(label, text)
        self.card.setPlainText(describe_card(card))
        self._installed = installed
        self._current = card.fingerprint if card is not None else ""
        self.models.clear()
        for model in installed:
            item = QListWidgetItem(model.label)
            item.setToolTip(str(model.folder))
            if model.card.fingerprint == self._current:
                item.setText(f"{model.label}   ✓ in use")
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.models.addItem(item)
        shipped = next((m for m in installed if m.shipped), None)  # the default
        self.use_shipped.setEnabled(shipped is not None
                                    and shipped.card.fingerprint != self._current)
        self._model_selected(self.models.currentRow())

    def _model_selected(self, row: int) -> None:
        ok = 0 <= row < len(self._installed)
        self.use_model.setEnabled(ok and self._installed[row].card.fingerprint != self._current)

    def _use_selected(self) -> None:
        row = self.models.currentRow()
        if 0 <= row < len(self._installed):
            self.switch_model(self._installed[row].folder)

    def _use_shipped_model(self) -> None:
        shipped = next((m for m in self._installed if m.shipped), None)
        if shipped is not None:
            self.switch_model(shipped.folder)

    def switch_model(self, folder: Path) -> None:
        """Use the model in ``folder``; the library is re-analysed in the background."""
        lib = self.controller.library
        self.controller.call(lambda: lib.set_model(folder),
                             lambda _r: self._model_switched(str(folder)))

    def _reload_folders(self) -> None:
        self.folders.clear()
        ctl = self.controller
        ctl.call(ctl.library.roots, lambda roots: self.folders.addItems([str(r) for r in roots]))

    def _add_folder(self) -> None:
        path = self.prompts.folder("Add a music folder")
        if path:
            self.addFolder.emit(Path(path))
            self._reload_folders()

    def _remove_folder(self) -> None:
        if self.folders.currentRow() < 0:  # nothing chosen
            return
        self.controller.remove_folder(Path(self.folders.currentItem().text()))
        self._reload_folders()

    def _model_switched(self, _folder: str) -> None:
        self.reload_card()
        self.modelChanged.emit()

    def _set_watch(self, on: bool) -> None:
        self.settings.watch_folders = on
        self.watchChanged.emit(on)

    def _set_workers(self, n: int) -> None:
        self.settings.worker_count = n
        self.controller.workers = n


def describe_card(card: ModelCard | None) -> str:
    """The model card as readable text."""
    if card is None:
        return "No model information is available."
    lines = [f"Name: {card.name}", f"File: {card.model_file}", f"SHA-256: {card.sha256}",
             f"Embedding: {card.embed_dim}-d, fusion {card.fusion_mode}, {card.precision}",
             f"Created: {card.created or 'unknown'}", "",
             "Training data:", json.dumps(card.training, indent=2) if card.training else "  —",
             "", "Metrics:", json.dumps(card.metrics, indent=2) if card.metrics else "  —",
             "", "Features (preprocessing):", json.dumps(card.features.to_dict(), indent=2)]
    return "\n".join(lines)
