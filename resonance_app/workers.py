"""Every thread the GUI uses lives here.

``run_task`` runs a plain function on a pool thread and posts its result (or error)
back to the GUI thread; ``run_generator`` runs a generator, posts each item it yields
as progress and checks for cancellation at every ``yield``. Named pools keep a seed
query from ever waiting behind a scan. ``LatestOnly`` hands out request generations
so that responses to superseded requests are dropped.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, TypeVarTuple

from PySide6.QtCore import (
    QCoreApplication,
    QObject,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
)

log = logging.getLogger(__name__)

R = TypeVar("R")  # what a job returns (or yields), handed to its callback
Args = TypeVarTuple("Args")
Failed = Callable[[BaseException], None]


class PoolLike(Protocol):
    """The part of ``QThreadPool`` the app uses (tests inject a synchronous pool)."""

    def start(self, runnable: QRunnable) -> None: ...
    def waitForDone(self, msecs: int = -1) -> bool: ...
    def clear(self) -> None: ...


class _Poster(QObject):
    """Lives in the GUI thread and runs the callables queued for it.

    Callables wait in a locked deque and a no-argument queued signal wakes the GUI
    thread (Python objects never travel through the signal itself).
    """

    wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the GUI thread (safe from any thread)."""
        with self._lock:
            self._queue.append(fn)
            if self._scheduled:
                return
            self._scheduled = True
        self.wake.emit()

    def _drain(self) -> None:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            self._scheduled = False
        for fn in batch:
            try:
                fn()
            except Exception as exc:  # a failing GUI callback must not kill the event loop
                report_uncaught(exc)


_poster: _Poster | None = None
_poster_lock = threading.Lock()


_gui_thread = threading.main_thread().ident


def report_uncaught(exc: BaseException) -> None:
    """Hand ``exc`` to ``sys.excepthook`` (the app's error reporter once installed)."""
    sys.excepthook(type(exc), exc, exc.__traceback__)


def install_poster() -> None:
    """Create the GUI-thread poster; call once from the GUI thread at start-up."""
    global _gui_thread
    _gui_thread = threading.get_ident()
    _get_poster()


def _get_poster() -> _Poster:
    global _poster
    with _poster_lock:
        if _poster is None:
            _poster = _Poster()
            app = QCoreApplication.instance()
            if app is not None and _poster.thread() is not app.thread():
                _poster.moveToThread(app.thread())
    return _poster


def in_main_thread() -> bool:
    """Whether the caller runs on the GUI thread (no Qt call: safe from audio threads)."""
    return threading.get_ident() == _gui_thread


def to_main(fn: Callable[[*Args], None], *args: *Args) -> None:
    """Call ``fn(*args)`` on the GUI thread (directly when already there)."""
    if in_main_thread():
        fn(*args)
    else:
        _get_poster().post(lambda: fn(*args))


class _Runnable(QRunnable):
    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__()
        self._body = body
        self.setAutoDelete(True)

    def run(self) -> None:
        self._body()


@dataclass
class Task:
    """A handle on a submitted job: ``cancel()`` is checked at each generator step."""

    name: str = "task"
    _cancel: threading.Event = field(default_factory=threading.Event)
    _finished: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Ask the job to stop at its next ``yield``."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        """Whether the job body has returned (successfully or not)."""
        return self._finished.is_set()


def run_task(fn: Callable[[], R], on_done: Callable[[R], None] | None = None,
             on_error: Failed | None = None, *, pool: PoolLike, name: str = "task") -> Task:
    """Run ``fn()`` on ``pool``; post ``on_done(result)`` or ``on_error(exc)`` to the GUI."""
    task = Task(name)

    def body() -> None:
        try:
            result = fn()
        except Exception as exc:  # reported to the GUI, never swallowed silently
            log.debug("task %s failed", name, exc_info=True)
            to_main(on_error or report_uncaught, exc)
        else:
            if on_done is not None:
                to_main(on_done, result)
        finally:
            task._finished.set()

    pool.start(_Runnable(body))
    return task


def run_generator(make: Callable[[Callable[[], bool]], Iterator[R]], *,
                  on_progress: Callable[[R], None], on_done: Callable[[bool], None] | None = None,
                  on_error: Failed | None = None, pool: PoolLike,
                  name: str = "generator") -> Task:
    """Run the generator ``make(should_stop)`` on ``pool``.

    Progress is coalesced: while the GUI has not yet taken the previous item, newer
    items replace it, so a fast generator never floods the event loop and the latest
    item is always delivered. Cancellation is checked at every ``yield``;
    ``on_done(cancelled)`` is posted at the end, after the last progress item.
    """
    task = Task(name)
    lock = threading.Lock()
    slot: list[R] = []  # the newest undelivered item (0 or 1 element)

    def deliver() -> None:
        with lock:
            if not slot:
                return
            item = slot.pop()
        on_progress(item)

    def body() -> None:
        try:
            for item in make(lambda: task.cancelled):
                with lock:
                    waiting = bool(slot)
                    slot[:] = [item]
                if not waiting:
                    to_main(deliver)
                if task.cancelled:
                    break
        except Exception as exc:
            log.debug("generator %s failed", name, exc_info=True)
            to_main(on_error or report_uncaught, exc)
        else:
            if on_done is not None:
                to_main(on_done, task.cancelled)
        finally:
            task._finished.set()

    pool.start(_Runnable(body))
    return task


class Pools:
    """The app's named thread pools.

    ``scan``: one long job at a time (the library runs its own feature workers);
    ``interactive``: one thread for seed analysis and queries, never behind a scan;
    ``playback``: one thread decoding previews and cover art;
    ``discovery``: one thread for the seconds-long map and mixes, never behind a query.
    """

    def __init__(self, *, scan: PoolLike | None = None, interactive: PoolLike | None = None,
                 playback: PoolLike | None = None, discovery: PoolLike | None = None) -> None:
        self.scan = scan or _make_pool("scan", 1)
        self.interactive = interactive or _make_pool("interactive", 1)
        self.playback = playback or _make_pool("playback", 1)
        self.discovery = discovery or _make_pool("discovery", 1)

    def all(self) -> tuple[PoolLike, ...]:
        """Every pool, in shutdown order."""
        return (self.scan, self.discovery, self.interactive, self.playback)

    def shutdown(self, msecs: int = 10_000) -> bool:
        """Drop queued jobs and wait for running ones; True when all finished."""
        ok = True
        for pool in self.all():
            pool.clear()
        for pool in self.all():
            ok = pool.waitForDone(msecs) and ok
        return ok


def _make_pool(name: str, threads: int) -> QThreadPool:
    pool = QThreadPool()
    pool.setObjectName(f"resonance-{name}")
    pool.setMaxThreadCount(max(1, threads))
    pool.setExpiryTimeout(30_000)
    return pool


class LatestOnly:
    """Generation counter: only the newest request's response is applied."""

    def __init__(self) -> None:
        self._generation = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        """Start a new request and return its generation."""
        with self._lock:
            self._generation += 1
            return self._generation

    def is_current(self, generation: int) -> bool:
        """Whether ``generation`` is still the newest request (safe from any thread)."""
        with self._lock:
            return generation == self._generation
