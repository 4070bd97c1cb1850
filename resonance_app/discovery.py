"""Discovery off the GUI thread: the library map, mixes, song paths and duplicates.

The map (a t-SNE layout, seconds for a large library), the mixes (k-means) and the
duplicate search (up to a minute for a large library; it reports progress and can be
cancelled) run on the ``discovery`` pool, so neither a query nor a scan waits behind
them; a path is a short query on the interactive pool. Answers to superseded
requests are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.errors import Cancelled
from resonance_app.controller import describe_error
from resonance_app.workers import LatestOnly, Pools, run_task, to_main

if TYPE_CHECKING:
    from engine.library import DuplicateGroup, Mix, TrackInfo
    from resonance_app.library_api import LibraryFacade


@dataclass(frozen=True)
class MixInfo:
    """One mix as the app shows it."""

    name: str
    track_ids: list[int]


@dataclass(frozen=True)
class MapData:
    """Where each track sits on the map and which mix it belongs to.

    Attributes
    ----------
    ids : np.ndarray [shape=(n,), dtype=int64], the tracks
    xy : np.ndarray [shape=(n, 2)], their positions
    mix : np.ndarray [shape=(n,), dtype=int64], index into ``mixes`` of each track
    mixes : the mixes, largest first
    """

    ids: np.ndarray
    xy: np.ndarray
    mix: np.ndarray
    mixes: list[MixInfo]


def _mix_infos(mixes: list[Mix]) -> list[MixInfo]:
    return [MixInfo(str(m.name), [int(t) for t in m.track_ids]) for m in mixes]


def with_mixes(ids: np.ndarray, xy: np.ndarray, mixes: list[MixInfo]) -> MapData:
    """Map data for tracks ``ids`` at ``xy``, coloured by ``mixes``."""
    label = {t: i for i, m in enumerate(mixes) for t in m.track_ids}
    mix = np.array([label.get(int(t), -1) for t in ids], np.int64)
    return MapData(ids, xy, mix, mixes)


def build_map_data(library: LibraryFacade, mix_count: int | None = None, *,
                   should_stop: Callable[[], bool] | None = None) -> MapData:
    """The library's map (cached and updated by the engine) with ``mix_count`` mixes;
    ``should_stop`` abandons a layout in progress (``Cancelled``)."""
    layout = library.library_map(should_stop=should_stop).layout
    ids = np.asarray(layout.ids, np.int64)
    mixes = _mix_infos(library.mixes(mix_count)) if len(ids) else []
    return with_mixes(ids, np.asarray(layout.xy, np.float64), mixes)


@dataclass(frozen=True)
class DuplicatesFound:
    """The answer of a duplicate search: the groups, among how many searched tracks, the
    library's music folders (to show where the copies are), and how many tracks were left
    out as not analysed with the current model yet."""

    groups: list[DuplicateGroup]
    tracks: int
    roots: list[Path] = field(default_factory=list)
    waiting: int = 0


class Discovery(QObject):
    """Runs the discovery jobs and announces their answers."""

    mapReady = Signal(object)  # MapData
    mixesReady = Signal(list)  # list[MixInfo]
    failed = Signal(str)  # user-facing message (map, mixes)
    duplicatesProgress = Signal(int, int)  # candidate pairs checked, candidate pairs
    duplicatesReady = Signal(object)  # DuplicatesFound
    duplicatesFailed = Signal(str)  # user-facing message

    def __init__(self, library: LibraryFacade, pools: Pools,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.pools = pools
        self._maps = LatestOnly()
        self._mixes = LatestOnly()
        self._duplicates = LatestOnly()
        self._stop_duplicates = threading.Event()
        self._closing = threading.Event()
        self.map_busy = False

    def close(self) -> None:
        """Abandon the work in flight (a map layout, a duplicate search): the app is
        closing and waits for its threads."""
        self._closing.set()
        self.cancel_duplicates()

    def load_map(self, mix_count: int | None = None) -> None:
        """Lay out (or update) the map, coloured by ``mix_count`` mixes (None: about 30
        songs each), in the background: ``mapReady``."""
        generation = self._maps.next()
        lib = self.library
        self.map_busy = True

        def done(data: MapData) -> None:
            if self._maps.is_current(generation):
                self.map_busy = False
                self.mapReady.emit(data)

        def fail(exc: BaseException) -> None:
            if self._maps.is_current(generation):
                self.map_busy = False
                if not isinstance(exc, Cancelled):
                    self.failed.emit(f"The library map cannot be made: {describe_error(exc)}")

        def abandoned() -> bool:
            return self._closing.is_set() or not self._maps.is_current(generation)

        run_task(lambda: build_map_data(lib, mix_count, should_stop=abandoned), done, fail,
                 pool=self.pools.discovery, name="map")

    def load_mixes(self, count: int | None = None) -> None:
        """Cut the library into ``count`` mixes (None: about 30 tracks each): ``mixesReady``."""
        generation = self._mixes.next()
        lib = self.library

        def done(mixes: list[MixInfo]) -> None:
            if self._mixes.is_current(generation):
                self.mixesReady.emit(mixes)

        def fail(exc: BaseException) -> None:
            if self._mixes.is_current(generation):
                self.failed.emit(f"The mixes cannot be made: {describe_error(exc)}")

        run_task(lambda: _mix_infos(lib.mixes(count)), done, fail,
                 pool=self.pools.discovery, name="mixes")

    def song_path(self, start: int, end: int, length: int,
                  on_done: Callable[[list[TrackInfo]], None],
                  on_error: Callable[[str], None]) -> None:
        """``length`` tracks from ``start`` to ``end``, to ``on_done`` (a refusal's or
        failure's message to ``on_error``)."""
        lib = self.library
        run_task(lambda: lib.song_path(start, end, length), on_done,
                 lambda exc: on_error(describe_error(exc)),
                 pool=self.pools.interactive, name="song-path")

    def find_duplicates(self) -> None:
        """Look for files holding the same recording, in the background:
        ``duplicatesProgress`` as candidate pairs are checked, then ``duplicatesReady``
        (or ``duplicatesFailed``). A search still running is stopped and its answer
        dropped."""
        self.cancel_duplicates()
        generation = self._duplicates.next()
        stop = self._stop_duplicates = threading.Event()
        lib = self.library
        lock = threading.Lock()
        latest: list[tuple[int, int]] = []  # the newest undelivered progress (0 or 1)

        def deliver() -> None:
            with lock:
                item = latest.pop() if latest else None
            if item is not None and self._duplicates.is_current(generation):
                self.duplicatesProgress.emit(*item)

        def progress(done: int, total: int) -> None:
            """Coalesced: newer counts replace one the GUI has not taken yet."""
            with lock:
                waiting = bool(latest)
                latest[:] = [(done, total)]
            if not waiting:
                to_main(deliver)

        def search() -> DuplicatesFound:
            # the engine lists a track analysed with another model as pending: its
            # vectors are not searched
            statuses = [t.status for t in lib.tracks()]
            return DuplicatesFound(lib.duplicates(progress=progress, should_stop=stop.is_set),
                                   statuses.count("ok"), lib.roots(),
                                   statuses.count("pending"))

        def done(found: DuplicatesFound) -> None:
            if self._duplicates.is_current(generation) and not stop.is_set():
                self.duplicatesReady.emit(found)

        def fail(exc: BaseException) -> None:
            if self._duplicates.is_current(generation):
                self.duplicatesFailed.emit(
                    f"Duplicates cannot be searched: {describe_error(exc)}")

        run_task(search, done, fail, pool=self.pools.discovery, name="duplicates")

    def cancel_duplicates(self) -> None:
        """Stop the duplicate search under way (its answer is dropped)."""
        self._stop_duplicates.set()
        self._duplicates.next()
