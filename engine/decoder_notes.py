"""libmpg123's notes, kept off stderr.

libsndfile decodes MP3 with libmpg123, which prints what it repairs in a damaged file
("Note: Illegal Audio-MPEG-Header ...", "[src/libmpg123/parse.c:...] error: Giving up
resync ...") straight to the process's standard error (file descriptor 2); neither
library has a setting to turn that off. While a call runs inside :func:`quiet_mpg123`,
descriptor 2 points at a scratch file; once no such call runs any more it points back
at the real stderr, and whatever else was printed meanwhile (another thread's error,
Python's own output) is written there: delayed by a decode at most, never dropped.
libmpg123's lines go to this module's logger (level INFO: the app's log file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

#: How libmpg123's messages begin: its notes and warnings, and its messages that name
#: their place in its source.
CHATTER = re.compile(rb"^(Note: |Warning: |\[src/libmpg123/)")

log = logging.getLogger(__name__)
_lock = threading.Lock()
_depth = 0  # calls inside quiet_mpg123() now, in all threads
_saved: int | None = None  # a copy of the real stderr while descriptor 2 is diverted
_scratch: IO[bytes] | None = None


@contextlib.contextmanager
def quiet_mpg123() -> Iterator[None]:
    """Keep libmpg123's notes off stderr while the block runs (any thread, nested)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _flush_python_stderr() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


def _enter() -> None:
    global _depth, _saved, _scratch
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        try:
            if _scratch is None:
                _scratch = tempfile.TemporaryFile()  # noqa: SIM115 (kept for the process)
            _flush_python_stderr()
            saved = os.dup(2)
        except OSError:  # no stderr (a windowed process) or no scratch file: leave it
            return
        os.dup2(_scratch.fileno(), 2)
        _saved = saved


def _leave() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth or _saved is None or _scratch is None:
            return
        notes = []
        _flush_python_stderr()
        os.dup2(_saved, 2)
        os.close(_saved)
        _saved = None
        _scratch.seek(0)
        printed = _scratch.read()
        _scratch.seek(0)
        _scratch.truncate()
        kept = b""
        for line in printed.splitlines(keepends=True):
            if CHATTER.match(line):
                notes.append(line.decode("utf-8", "replace").strip())
            else:
                kept += line
        with contextlib.suppress(OSError):  # before another call diverts stderr again
            while kept:
                kept = kept[os.write(2, kept):]
    if notes:
        log.info("libmpg123: %s", " | ".join(notes))
