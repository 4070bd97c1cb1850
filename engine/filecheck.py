"""Is a path a file audio can be read from? Answered from ``stat`` alone, before any
tag reading or decoding opens it (stdlib only: cheap enough to run first)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from typing import Any

from engine.errors import DecodeError

_NOT_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
              (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"))


def not_a_file_reason(mode: int) -> str:
    """Why a path of this ``st_mode`` (not a regular file) cannot be audio."""
    kind = next((name for test, name in _NOT_FILES if test(mode)), "a special file")
    return f"not an audio file ({kind}, not a regular file)"


def check_audio_file(path: str | os.PathLike[str]) -> os.stat_result:
    """Refuse anything but a non-empty, readable regular file, without opening it.

    Runs before any tag reading or decoding, so a FIFO, a device, a socket or a folder
    fails at once instead of blocking or streaming forever.

    Returns
    -------
    st : the file's ``os.stat`` result

    Raises
    ------
    DecodeError
        The path is missing, not a regular file, empty or not readable.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError(path, "file not found", transient=True) from None
    except OSError as exc:
        raise DecodeError(path, f"cannot access file ({exc.strerror or exc})",
                          transient=True) from None
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, not_a_file_reason(st.st_mode))
    if st.st_size == 0:
        raise DecodeError(path, "file is empty")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "permission denied", transient=True)
    return st


def file_digest(path: str | os.PathLike[str],
                algorithm: str | Callable[[], Any] = "sha256") -> str:
    """Hex digest of a file's bytes, read in blocks.

    ``algorithm`` is a :mod:`hashlib` name or a constructor (e.g. a BLAKE2b of a chosen
    ``digest_size``).
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()
