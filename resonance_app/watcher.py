"""Watch the library folders and ask for an (incremental) rescan when they change."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from resonance_app.workers import PoolLike, run_task


def list_dirs(roots: list[Path], limit: int) -> list[str]:
    """The roots and their sub-folders (hidden ones skipped), at most ``limit``."""
    found: list[str] = []
    for root in roots:
        for folder, subdirs, _files in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            found.append(folder)
            if len(found) >= limit:
                return found
    return found


class FolderWatcher(QObject):
    """Emits ``changed`` once the watched folders have been quiet for ``delay_ms``.

    Folders are listed on a pool thread; at most ``max_dirs`` are watched (inotify
    watches are a limited system resource), the roots first.
    """

    changed = Signal()

    def __init__(self, pool: PoolLike, *, delay_ms: int = 10_000, max_dirs: int = 2000,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._max = max_dirs
        self._fs = QFileSystemWatcher(self)
        self._fs.directoryChanged.connect(self._poke)
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.changed)
        self.enabled = True

    def watch(self, roots: list[Path]) -> None:
        """Watch ``roots`` (replacing what was watched)."""
        limit = self._max
        run_task(lambda: list_dirs([Path(r) for r in roots], limit), self._set_dirs,
                 pool=self._pool, name="list-folders")

    def watched(self) -> list[str]:
        """The folders being watched."""
        return self._fs.directories()

    def _set_dirs(self, dirs: list[str]) -> None:
        current = self._fs.directories()
        if current:
            self._fs.removePaths(current)
        if dirs:
            self._fs.addPaths(dirs)

    def _poke(self, _path: str) -> None:
        if self.enabled:
            self._timer.start()
