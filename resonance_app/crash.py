"""Uncaught exceptions: logged to a file in the app's data folder and shown in a dialog.

``ErrorReporter.install()`` replaces ``sys.excepthook`` and ``threading.excepthook``:
Qt slots, callbacks posted to the GUI thread and pool threads all end up here. The
traceback goes to the log file; the user sees one dialog naming that file, and the
event loop keeps running.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from resonance_app.workers import to_main

log = logging.getLogger("resonance_app.crash")


def data_dir() -> Path:
    """The app's data folder (the library lives below it unless the user moved it)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("resonance", appauthor=False))


def default_log_file() -> Path:
    """Where the app writes its log: ``<data folder>/logs/resonance-app.log``."""
    return data_dir() / "logs" / "resonance-app.log"


def divert_native_stderr(path: Path) -> bool:
    """Send what C libraries print on stderr (decoder notes) to ``path``, not the terminal.

    Python's own ``sys.stderr`` keeps writing to the terminal. ``path`` is started afresh
    at each launch. False when the file cannot be created (nothing changes then).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        log.warning("cannot write %s: %s", path, exc)
        return False
    sys.stderr.flush()
    terminal = os.dup(2)
    sys.stderr = open(terminal, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=True)
    os.dup2(fd, 2)
    os.close(fd)
    return True


def open_log_file(path: Path) -> logging.Handler | None:
    """Send the app's and the engine's log records to ``path`` (rotated at 1 MB).

    None when the file cannot be created (read-only home): the app still runs.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000,
                                                       backupCount=2, encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the log file %s: %s", path, exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    return handler


class ErrorReporter(QObject):
    """Logs uncaught exceptions and shows them; at most one dialog open at a time."""

    reported = Signal(str)  # one-line summary of the exception

    def __init__(self, log_file: Path, parent_widget: Callable[[], QWidget | None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self._parent_widget = parent_widget or (lambda: None)
        self._handler: logging.Handler | None = None
        self._previous: tuple[object, object] | None = None
        self.dialog: QMessageBox | None = None
        self.count = 0

    def install(self) -> None:
        """Become the handler of every uncaught exception (GUI and worker threads)."""
        self._handler = open_log_file(self.log_file)
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        """Restore the previous hooks and close the log file."""
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous  # type: ignore[assignment]
            self._previous = None
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def handle(self, exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
        """Log ``exc`` with its traceback and show it (from any thread)."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        self.count += 1
        log.error("uncaught exception", exc_info=(exc_type, exc, tb))
        if self._handler is not None:
            self._handler.flush()
        summary = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        to_main(self._show, summary, details)

    def _show(self, summary: str, details: str) -> None:
        self.reported.emit(summary)
        text = (f"Something went wrong: {summary}\n\nResonance keeps running. The details "
                f"were written to:\n{self.log_file}")
        if self.dialog is not None:  # one box at a time: add to the open one
            self.dialog.setDetailedText(f"{self.dialog.detailedText()}\n{details}")
            self.dialog.setText(text)
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Resonance: unexpected error", text,
                          QMessageBox.StandardButton.Ok, self._parent_widget())
        box.setDetailedText(details)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.finished.connect(self._closed)
        self.dialog = box
        box.open()

    def _closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

