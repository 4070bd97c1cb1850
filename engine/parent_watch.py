"""Worker processes that end with the process that started them.

A pool's workers block on their task queue, which they hold open themselves: when the
parent is killed (SIGKILL, the OOM killer, a closed terminal) nothing tells them, and
they would wait forever. :func:`exit_with_parent` makes a worker exit as soon as its
parent is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading


def _wait_then_exit() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(0)


def exit_with_parent() -> None:
    """From a ``multiprocessing`` worker (a pool's initializer): exit at once when the
    parent process is gone.

    A daemon thread waits on multiprocessing's parent sentinel (a pipe the parent alone
    holds open on POSIX, the parent's process handle on Windows): no polling, no delay.
    Does nothing in a process not started by ``multiprocessing``.
    """
    threading.Thread(target=_wait_then_exit, name="parent-watch", daemon=True).start()
