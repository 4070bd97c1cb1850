"""Which other processes have a library open (so the app can warn before two of them
write it at once).

Each open :class:`~engine.library.Library` holds an exclusive OS file lock on its own
``sessions/<pid>-<id>.lock``; the OS drops it when the process ends, however it ends.
A lock file that can be taken belongs to nobody any more and is removed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from filelock import FileLock, Timeout

SESSIONS = "sessions"


class Session:
    """This process's mark on a library folder (nothing on read-only media)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder) / SESSIONS
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.lock"
        self._lock: FileLock | None = None
        with contextlib.suppress(OSError, Timeout):
            self.folder.mkdir(exist_ok=True)
            lock = FileLock(self.folder / self.name)
            lock.acquire(timeout=0)
            self._lock = lock

    def others(self) -> int:
        """How many other open libraries (in this or other processes) share the folder."""
        count = 0
        with contextlib.suppress(OSError):
            for path in self.folder.glob("*.lock"):
                if path.name != self.name and _held(path):
                    count += 1
        return count

    def close(self) -> None:
        """Drop the mark."""
        if self._lock is not None:
            self._lock.release()
            with contextlib.suppress(OSError):
                (self.folder / self.name).unlink()
            self._lock = None


def _held(path: Path) -> bool:
    """Whether a live session holds ``path``; a stale one is removed."""
    probe = FileLock(path, is_singleton=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False
    probe.release()
    with contextlib.suppress(OSError):
        path.unlink()
    return False
