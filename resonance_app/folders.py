"""The library's music folders: adding one (chosen or dropped) and keeping them watched.

A change in a watched folder starts a quiet, automatic scan. One that cannot start (the
library is busy) waits and tries again while it is worth retrying; turning watching off
drops what waits. The view shows what :class:`FolderFlow` announces through its signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from resonance_app.watcher import FolderWatcher

if TYPE_CHECKING:
    from resonance_app.controller import LibraryController
    from resonance_app.settings import Settings
    from resonance_app.workers import PoolLike


class AsksFolder(Protocol):
    """The one question the folder flow puts to the user."""

    def folder(self, title: str, start: str = "") -> str: ...


class FolderFlow(QObject):
    """Adds music folders and turns folder changes into automatic scans."""

    folderAdded = Signal(object)  # Path: added to the library, its scan is on its way
    updating = Signal()  # a folder changed: an automatic scan starts
    deferred = Signal(str, bool)  # an automatic scan could not start: why, tried again
    waitingOver = Signal()  # no automatic scan waits any more

    RETRY_MS = 20_000  # an automatic scan that found the library busy tries again

    def __init__(self, library: LibraryController, pool: PoolLike, prompts: AsksFolder,
                 settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.prompts = prompts
        self.settings = settings
        self.waiting = False  # an automatic scan waits for its turn
        self.watcher = FolderWatcher(pool, parent=self)
        self.watcher.enabled = bool(settings.watch_folders)
        self.watcher.changed.connect(self._changed)
        self.retry = QTimer(self, singleShot=True, interval=self.RETRY_MS)
        self.retry.timeout.connect(self._changed)
        library.scanDeferred.connect(self._deferred)
        library.scanFinished.connect(self._finished)

    def choose(self) -> None:
        """Ask for a music folder, add it, and scan it."""
        path = self.prompts.folder("Choose your music folder",
                                   str(self.settings.last_dir or Path.home()))
        if path:
            self.add(Path(path))

    def add(self, path: Path) -> None:
        """Add ``path`` to the library and start a scan."""
        self.settings.last_dir = str(path)
        self.folderAdded.emit(path)
        self.library.add_folder(path)

    def set_watching(self, on: bool) -> None:
        """Watch the folders for changes, or stop (dropping a scan that waits)."""
        self.watcher.enabled = on
        if not on:
            self._stop_waiting()

    def watch_roots(self) -> None:
        """(Re)start watching the library folders."""
        lib = self.library.library
        self.library.call(lib.roots, self.watcher.watch)

    def _changed(self) -> None:
        """A folder changed (or a waiting scan retries): scan, quietly."""
        if not self.watcher.enabled:
            return
        if self.library.scanning:
            if self.waiting:
                self.retry.start()  # after the scan under way, if that one fails
            return
        if not self.waiting:
            self.updating.emit()
        self.library.scan(automatic=True)

    def _deferred(self, message: str, retry: bool) -> None:
        self.waiting = True
        self.deferred.emit(message, retry)
        if retry:
            self.retry.start()

    def _finished(self, _cancelled: bool) -> None:
        self._stop_waiting()
        self.watch_roots()

    def _stop_waiting(self) -> None:
        self.retry.stop()
        if self.waiting:
            self.waiting = False
            self.waitingOver.emit()
