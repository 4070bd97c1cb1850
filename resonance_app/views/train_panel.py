"""'Train on my library…': runs ``resonance-train`` in a separate process (QProcess)."""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.model_choice import heldout_score
from resonance_app.controller import LibraryController, ModelChoice
from resonance_app.views.prompts import Prompts


def install_command() -> str:
    """The command that adds the training tools to *this* installation."""
    if getattr(sys, "frozen", False):  # an installer's bundle: no pip inside
        return ("python3 -m venv .venv && .venv/bin/pip install -e '.[train]'   "
                "(in a source checkout of Resonance; then start .venv/bin/resonance)")
    python = shlex.quote(sys.executable)
    source = _installed_from()
    if source is not None:
        return f"{python} -m pip install -e {shlex.quote(f'{source}[train]')}"
    return f"{python} -m pip install 'resonance[train]'"


def _installed_from() -> str | None:
    """The local folder Resonance was installed from (pip's direct_url.json), if any."""
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        text = metadata.distribution("resonance").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        url = json.loads(text or "{}").get("url", "")
    except ValueError:
        return None
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def install_hint() -> str:
    """What to tell someone whose installation cannot train."""
    return ("Training needs the optional training tools (PyTorch, Optuna, ONNX). "
            f"Install them with:\n\n    {install_command()}\n\nthen reopen this dialog.")


def training_available() -> bool:
    """Whether the ``train`` extra (torch) is importable, without importing it."""
    return importlib.util.find_spec("torch") is not None


def train_command(library_path: str, out_dir: str) -> tuple[str, list[str]]:
    """Program and arguments that train on the library (``resonance-train``).

    Contract (proposed to the trainer): ``resonance-train library --library DIR --out
    MODEL_DIR --progress jsonl`` prints ``{"progress": 0..1, "message": ...}`` lines and
    writes a model folder whose card has ``metrics["heldout"]["recall@5"]``.
    """
    exe = shutil.which("resonance-train")
    args = ["library", "--library", library_path, "--out", out_dir, "--progress", "jsonl"]
    if exe:
        return exe, args
    return sys.executable, ["-m", "trainer.cli", *args]


class TrainPanel(QWidget):
    """Start/cancel training and follow its progress lines."""

    finished = Signal(bool)  # success
    modelSwitched = Signal(str)  # the new model's folder

    def __init__(self, controller: LibraryController, prompts: Prompts,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.prompts = prompts
        self.process: QProcess | None = None
        self.out_dir: Path | None = None
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.start_button = QPushButton("Train on my library…")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        layout = QVBoxLayout(self)
        for w in (self.info, self.start_button, self.progress, self.cancel_button, self.log):
            layout.addWidget(w)
        self._set_idle()

    def _set_idle(self) -> None:
        if training_available():
            self.info.setText("Train a model on your own library: segments of the same song "
                              "teach it what 'sounds alike' means. The new model is used only "
                              "if it beats the current one on a held-out check.")
            self.start_button.setEnabled(True)
        else:
            self.info.setText(install_hint())
            self.start_button.setEnabled(False)

    def start(self) -> None:
        """Run the trainer as a child process; its model lands in the library's models/."""
        if not training_available():
            self.prompts.info("Training", install_hint())
            return
        folder = self.controller.library.folder
        self.out_dir = folder / "models" / time.strftime("trained-%Y%m%d-%H%M%S")
        program, args = train_command(str(folder), str(self.out_dir))
        proc = QProcess(self)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.readyReadStandardOutput.connect(self._read)
        proc.finished.connect(self._done)
        proc.errorOccurred.connect(self._error)
        self.process = proc
        self.progress.setValue(0)
        self.log.clear()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        proc.start(program, args)

    KILL_AFTER_MS = 3000

    def cancel(self) -> None:
        """Ask the trainer to stop; kill it if it has not exited after ``KILL_AFTER_MS``.

        Never waits on the GUI thread: ``finished`` arrives through the process's signal.
        """
        proc = self.process
        if proc is None or proc.state() == QProcess.ProcessState.NotRunning:
            return
        self.cancel_button.setEnabled(False)
        self.log.appendPlainText("Stopping the training…")
        proc.terminate()
        QTimer.singleShot(self.KILL_AFTER_MS, proc, lambda: self._kill(proc))

    @staticmethod
    def _kill(proc: QProcess) -> None:
        if proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()

    def _read(self) -> None:
        assert self.process is not None
        text = bytes(self.process.readAllStandardOutput().data()).decode(errors="replace")
        for line in text.splitlines():
            self._line(line)

    def _line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            self.log.appendPlainText(line)
            return
        if isinstance(event, dict) and "progress" in event:
            self.progress.setValue(int(float(event["progress"]) * 100))
            if event.get("message"):
                self.log.appendPlainText(str(event["message"]))
        else:
            self.log.appendPlainText(line)

    def _done(self, code: int, status: QProcess.ExitStatus) -> None:
        ok = status == QProcess.ExitStatus.NormalExit and code == 0
        self.log.appendPlainText("Training finished." if ok else
                                 f"Training stopped (exit code {code}).")
        self.cancel_button.setEnabled(False)
        self._set_idle()
        if ok:
            self.progress.setValue(100)
            self._validate()
        else:
            self.finished.emit(False)

    def _validate(self) -> None:
        """Let the library adopt the new model only if it is better (off the GUI thread)."""
        assert self.out_dir is not None
        out = self.out_dir

        def done(choice: ModelChoice) -> None:
            new, old = heldout_score(choice.new_card), heldout_score(choice.current_card)
            if choice.switched:
                self.log.appendPlainText(f"The new model is better on the held-out check "
                                         f"({old} → {new}): switching; the library is "
                                         "re-analysed in the background.")
                self.modelSwitched.emit(str(out))
            else:
                self.log.appendPlainText(f"The new model is not better on the held-out check "
                                         f"({new} vs {old}): keeping the current model.")
            self.finished.emit(True)

        def failed(exc: BaseException) -> None:
            self.log.appendPlainText(f"The new model failed validation: {exc}")
            self.finished.emit(False)

        self.controller.adopt_model_if_better(out, done, failed)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.log.appendPlainText("The trainer could not be started. " + install_hint())
            self.cancel_button.setEnabled(False)
            self._set_idle()
            self.finished.emit(False)
