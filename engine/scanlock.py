"""One scan per library at a time, across processes."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from engine.errors import ScanBusyError, StoreAccessError

SCAN_LOCK = "scan.lock"


@contextlib.contextmanager
def scan_lock(folder: Path) -> Iterator[None]:
    """Hold the library's scan lock (one scan at a time, across processes).

    The lock is an OS file lock on ``folder/scan.lock``: a killed scan releases it with
    its process. Raises :class:`ScanBusyError` at once when another scan holds it.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(Path(folder) / SCAN_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ScanBusyError(f"another scan is running on the library {str(folder)!r}; wait "
                            "for it to finish (or stop it) and scan again") from None
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreAccessError(f"the library {str(folder)!r} is read-only (read-only "
                                   "media or permissions): it can be searched but not "
                                   "scanned") from None
        raise StoreAccessError(f"cannot lock the library {str(folder)!r} for a scan: "
                               f"{exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()
