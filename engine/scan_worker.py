"""What runs inside a scan's worker processes, besides the analysis itself: follow the
scanning process's fate, and store a file's analysis only if the file did not change
while it was decoded."""

from __future__ import annotations

import os
import signal
from typing import Any

from engine.analysis import Analysis, analyse_path, content_hash, init_worker, warm_embedder
from engine.parent_watch import exit_with_parent


def hash_or_none(path: str) -> str | None:
    """The file's content hash, None when it cannot be read."""
    try:
        return content_hash(path)
    except OSError:
        return None


def init_scan_worker(model_dir: str) -> None:
    """Worker start: follow the parent's fate, leave Ctrl-C to it, then load the model."""
    # Ctrl-C reaches every process of the terminal's group: the scan decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()
    init_worker(model_dir)


def warm_up() -> int:
    """Load the model's graphs and import the decoders and the feature code, so that the
    first file costs what the others do; a task submitted to a freshly started worker.
    Never raises: a model that does not load fails the scan's own check, with its message.
    """
    import contextlib

    with contextlib.suppress(Exception):
        import engine.audio
        import engine.stream  # noqa: F401  (imports scipy's FFT and sparse code)

        warm_embedder()
    return os.getpid()


def _identity(path: str) -> tuple[int, int, int, int, int, float] | None:
    """What changes when a file is rewritten or replaced: inode, size, mtime, ctime (and
    the mtime as the walk records it)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mtime


def analyse_file(path: str, track_id: int, max_segments: int | None,
                 embedder: Any = None, *, print_only: bool = False) -> Analysis:
    """:func:`~engine.analysis.analyse_path`, stored only if what was decoded is what is on
    disk: the file is stat-ed and hashed before decoding, and must be unchanged (same
    inode, size, times and hash) afterwards. A file replaced or rewritten meanwhile is a
    transient failure, analysed again by the next scan."""
    before, digest = _identity(path), hash_or_none(path)
    result = analyse_path(path, track_id, max_segments, embedder, print_only=print_only)
    if not result.ok:
        return result
    if before is None or digest is None or _identity(path) != before \
            or result.content_hash != digest:
        return Analysis(path, track_id, False, result.size, result.mtime, transient=True,
                        reason="the file changed while it was analysed",
                        print_only=print_only)
    result.size, result.mtime = before[2], before[5]
    return result
