"""``run_app()``: create the QApplication, open the library, show the main window."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from resonance_app.icons import app_icon
from resonance_app.theme import follow_system_scheme
from resonance_app.workers import install_poster

if TYPE_CHECKING:
    from engine.library import Library
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow
    from resonance_app.workers import Pools

log = logging.getLogger(__name__)


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication, set up once (high-DPI rounding, names, icon, system palette)."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("Resonance")
    QCoreApplication.setApplicationName("Resonance")
    QGuiApplication.setDesktopFileName("resonance")
    app = QApplication(list(argv if argv is not None else sys.argv))
    app.setWindowIcon(app_icon())
    install_poster()
    follow_system_scheme(app)
    return app


def open_library(settings: Settings) -> Library:
    """Open the user's library (its stored path, or the platform default)."""
    from engine.library import Library

    path = settings.library_path
    return Library.open(Path(path) if path else None)


#: Heavy modules the engine imports on first use. Importing a C extension holds the
#: GIL for tens of milliseconds, so they are loaded once, right after start-up, on a
#: pool thread, instead of in the middle of the user's first scan or search.
WARM_UP_MODULES = ("onnxruntime", "faiss", "soxr", "av", "mutagen", "engine.features",
                   "engine.search", "engine.scan")


def warm_up(pools: Pools) -> None:
    """Import the engine's heavy dependencies in the background."""
    import importlib

    from resonance_app.workers import run_task

    def load() -> None:
        for name in WARM_UP_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:
                log.debug("warm-up: %s not importable", name)

    run_task(load, pool=pools.interactive, name="warm-up")


def open_in_window(window: MainWindow, paths: Sequence[Path]) -> None:
    """Add folders to the library; search with the first file as the seed."""
    files = [p for p in paths if p.is_file()]
    for folder in (p for p in paths if p.is_dir()):
        window.folders.add(folder)
    if files:
        window.seeds.from_file(files[0])


def run_app(argv: Sequence[str] | None = None, *, open_paths: Sequence[Path] = ()) -> int:
    """Run the desktop app until its window closes; the process exit code.

    ``open_paths`` (from the file manager or the command line): folders are added to
    the library and scanned, the first audio file becomes the seed of a search.
    """
    from engine.errors import ResonanceError
    from resonance_app.crash import ErrorReporter, default_log_file, divert_native_stderr
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow

    divert_native_stderr(default_log_file().with_name("native-stderr.log"))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("resonance_app").setLevel(logging.INFO)
    app = make_application(argv)
    reporter = ErrorReporter(default_log_file(), parent_widget=QApplication.activeWindow)
    reporter.install()
    settings = Settings()
    try:
        library = open_library(settings)
    except ResonanceError as exc:
        QMessageBox.critical(None, "Resonance", f"The music library cannot be opened:\n\n{exc}")
        return 1
    window = MainWindow(library, settings=settings)
    window.show()
    QTimer.singleShot(200, lambda: warm_up(window.pools))
    open_in_window(window, open_paths)
    quit_after = os.environ.get("RESONANCE_QUIT_AFTER_MS")  # packaging smoke checks
    if quit_after:
        QTimer.singleShot(int(quit_after), window.close)
    try:
        return app.exec()
    finally:
        library.close()
        reporter.uninstall()
