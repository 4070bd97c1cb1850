"""Out-of-space errors that say how much room to make."""

from __future__ import annotations

import errno
import math
import shutil
from pathlib import Path

from engine.errors import StoreAccessError

MB = 1 << 20
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` means the disk (or the user's quota) is full."""
    return getattr(exc, "errno", None) in _NO_SPACE or "disk is full" in str(exc)


def free_bytes(path: str | Path) -> int:
    """Free bytes on the disk holding ``path`` (or its nearest existing folder)."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def no_space_error(path: str | Path, needed: int) -> StoreAccessError:
    """The one-line error for a full disk, with the room to make for ``needed`` bytes."""
    missing = max(needed, needed - free_bytes(path))
    return StoreAccessError(f"no space left on the disk of {str(path)!r}: free "
                            f"{max(1, math.ceil(missing / MB))} MB and run again")
