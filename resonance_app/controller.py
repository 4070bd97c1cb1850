"""The bridge between the GUI and the engine's ``Library``.

``LibraryController`` runs scans as generator jobs on the scan pool and everything
interactive (track lists, seed analysis, searches, playlists) on the 1-thread
interactive pool, and turns the results into Qt signals. ``SearchSession`` keeps the
analysed seed and re-ranks it with new parameters; stale answers are dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Signal

from resonance_app.workers import LatestOnly, Pools, Task, run_generator, run_task

if TYPE_CHECKING:  # the engine loads on first use, off the start-up path
    import numpy as np

    from engine.library import (
        ScanError,
        ScanProgress,
        SearchParams,
        SearchResult,
        Seed,
        TrackInfo,
    )
    from engine.model import ModelCard
    from resonance_app.library_api import LibraryFacade, SeedSource

    SeedOrSeeds = Seed | list[Seed]  # one analysed seed, or several searched together

R = TypeVar("R")  # what a library call returns, handed to its callback


def describe_error(exc: BaseException) -> str:
    """A one-line, user-facing description of an engine error."""
    reason = getattr(exc, "reason", None)
    path = getattr(exc, "path", None)
    if reason and path:
        return f"{Path(path).name}: {reason}"
    return str(exc) or type(exc).__name__


def scan_failure(exc: BaseException, *, started: bool) -> tuple[str, str]:
    """The title and the one message for a scan that failed: one that never began (another
    scan holds the library, read-only media) says so, one that stopped says what is kept."""
    from engine.errors import ScanBusyError

    text = describe_error(exc)
    if isinstance(exc, ScanBusyError) or not started:
        return "Scan not started", text[:1].upper() + text[1:].rstrip(".") + "."
    return "Scan stopped", f"The scan stopped: {text.rstrip('.')}. What was analysed is kept."


@dataclass(frozen=True)
class Together:
    """Several library tracks as one seed ("more like these")."""

    track_ids: tuple[int, ...]


@dataclass(frozen=True)
class SearchRequest:
    """An immutable query built on the GUI thread.

    ``seed`` is what to analyse (a track id, a file path, ``(samples, sr)`` or several
    library tracks together) or ``None`` to re-rank the seed already analysed;
    ``generation`` orders requests so stale answers are dropped.
    """

    generation: int
    params: SearchParams
    seed: SeedSource | Together | None = None
    label: str = ""


@dataclass(frozen=True)
class ModelChoice:
    """The outcome of offering the library a newly trained model."""

    switched: bool
    new_card: ModelCard
    current_card: ModelCard | None


class LibraryController(QObject):
    """Owns the ``Library`` and runs its work off the GUI thread."""

    scanStarted = Signal()
    scanProgress = Signal(object)  # ScanProgress
    scanFinished = Signal(bool)  # cancelled
    scanFailed = Signal(str, str)  # dialog title, one-line message
    scanDeferred = Signal(str, bool)  # an automatic scan could not start: why, worth retrying
    tracksChanged = Signal(list)  # list[TrackInfo]
    errorsChanged = Signal(list)  # list[ScanError]
    playlistsChanged = Signal(list)  # list[str]
    failed = Signal(str)  # a background job failed: user-facing message
    modelCardChanged = Signal(object)  # the ModelCard in use, None when it cannot load
    coverReady = Signal(object)  # bytes of the current track's cover, or None

    REFRESH_INTERVAL = 1.0  # seconds between table refreshes while scanning

    def __init__(self, library: LibraryFacade, pools: Pools, *, workers: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.pools = pools
        self.workers = workers
        self._scan: Task | None = None
        self._rescan = False  # a folder was added mid-scan: scan again at the end
        self._rescan_automatic = False  # ... and only the folder watcher asked for it
        self._automatic = False  # the running scan was started by the folder watcher
        self._last_refresh = 0.0
        self._last_done = 0
        self._last_stage = ""
        self.tracks: list[TrackInfo] = []
        self._covers = LatestOnly()

    # -- scanning ----------------------------------------------------------------------
    @property
    def scanning(self) -> bool:
        """Whether a scan job is running."""
        return self._scan is not None and not self._scan.finished

    def scan(self, roots: list[Path] | None = None, *, automatic: bool = False) -> None:
        """Scan ``roots`` (default: every library folder) in the background.

        ``automatic`` (the folder watcher asked, not the user): a scan that cannot start
        is reported by ``scanDeferred`` instead of ``scanFailed``.
        """
        if self.scanning:
            asked_by_user = self._rescan and not self._rescan_automatic
            self._rescan_automatic = automatic and not asked_by_user
            self._rescan = True
            return
        self._rescan = False
        self._automatic = automatic
        lib, workers = self.library, self.workers
        self._last_done = 0
        self._last_stage = ""
        self.scanStarted.emit()
        self._scan = run_generator(
            lambda should_stop: lib.scan(roots, workers=workers, should_stop=should_stop),
            on_progress=self._on_progress, on_done=self._on_scan_done,
            on_error=self._on_scan_error, pool=self.pools.scan, name="scan")

    def cancel_scan(self) -> None:
        """Stop the running scan at its next step."""
        if self._scan is not None:
            self._scan.cancel()

    def add_folder(self, path: Path, *, scan: bool = True) -> None:
        """Add a music folder to the library (in the background), then scan."""
        lib = self.library
        self.call(lambda: lib.add_root(Path(path)), lambda _r: self.scan() if scan else None)

    def remove_folder(self, path: Path) -> None:
        """Remove a music folder (its tracks leave the library) and refresh."""
        lib = self.library
        self.call(lambda: lib.remove_root(Path(path)), lambda _r: self.refresh())

    def _on_progress(self, progress: ScanProgress) -> None:
        self.scanProgress.emit(progress)
        now = time.monotonic()
        grew = progress.done - self._last_done >= 100
        new_stage = progress.stage != self._last_stage  # e.g. new files known: show them
        self._last_stage = progress.stage
        if grew or new_stage or now - self._last_refresh >= self.REFRESH_INTERVAL:
            self._last_done = progress.done
            self._last_refresh = now
            self.refresh()

    def _on_scan_done(self, cancelled: bool) -> None:
        """Reload the tracks, then announce the end (so listeners see the final list)."""
        def finish(result: tuple[list[TrackInfo], list[ScanError]]) -> None:
            self._apply_refresh(result)
            self.scanFinished.emit(cancelled)
            if self._rescan and not cancelled:
                self.scan(automatic=self._rescan_automatic)

        lib = self.library
        def failed(exc: BaseException) -> None:
            self._report(exc)
            self.scanFinished.emit(cancelled)

        self.call(lambda: (lib.tracks(), lib.errors()), finish, failed)

    def _on_scan_error(self, exc: BaseException) -> None:
        from engine.errors import ScanBusyError

        started = bool(self._last_stage)
        if self._automatic and not started:
            self.scanDeferred.emit(scan_failure(exc, started=False)[1],
                                   isinstance(exc, ScanBusyError))
        else:
            self.scanFailed.emit(*scan_failure(exc, started=started))
        self.refresh()

    # -- library contents ------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload tracks and scan errors in the background."""
        lib = self.library
        self.call(lambda: (lib.tracks(), lib.errors()), self._apply_refresh)

    def _apply_refresh(self, result: tuple[list[TrackInfo], list[ScanError]]) -> None:
        self.tracks, errors = result
        self.tracksChanged.emit(self.tracks)
        self.errorsChanged.emit(errors)

    def refresh_playlists(self) -> None:
        """Reload the saved playlist names."""
        self.call(self.library.playlists, self.playlistsChanged.emit)

    def load_model_card(self) -> None:
        """Read the card of the model in use (off the GUI thread): ``modelCardChanged``."""
        lib = self.library
        self.call(lambda: lib.model_card, self.modelCardChanged.emit,
                  lambda _exc: self.modelCardChanged.emit(None))

    def load_cover(self, track: TrackInfo | None) -> None:
        """Read ``track``'s cover on the playback pool: ``coverReady`` (newest request only).

        An unreadable picture is no error worth a message: it reads as no cover.
        """
        generation = self._covers.next()
        if track is None:
            self.coverReady.emit(None)
            return
        lib, track_id = self.library, int(track.id)

        def done(data: bytes | None) -> None:
            if self._covers.is_current(generation):
                self.coverReady.emit(data)

        run_task(lambda: lib.cover(track_id), done, lambda _exc: done(None),
                 pool=self.pools.playback, name="cover")

    def adopt_model_if_better(self, model_dir: Path,
                              on_done: Callable[[ModelChoice], None],
                              on_error: Callable[[BaseException], None]) -> Task:
        """Switch the library to ``model_dir`` if it beats the current model on the
        held-out check (``engine.model_choice``); the answer says what happened."""
        lib = self.library

        def choose() -> ModelChoice:
            from engine.model import load_card
            from engine.model_choice import is_better

            new_card = load_card(model_dir)
            current = lib.model_card
            better = is_better(new_card, current)
            if better:
                lib.set_model(model_dir)
            return ModelChoice(better, new_card, current)

        return self.call(choose, on_done, on_error)

    def call(self, fn: Callable[[], R], on_done: Callable[[R], None] | None = None,
             on_error: Callable[[BaseException], None] | None = None) -> Task:
        """Run a short library call on the interactive pool."""
        return run_task(fn, on_done, on_error or self._report, pool=self.pools.interactive,
                        name="library-call")

    def _report(self, exc: BaseException) -> None:
        self.failed.emit(describe_error(exc))


class SearchSession(QObject):
    """Analyse a seed once, then re-rank it as parameters change.

    Each call builds a :class:`SearchRequest` with a new generation; a response whose
    generation is no longer the newest is dropped, so results never arrive out of order.
    """

    analysing = Signal(str)  # label of the seed being analysed
    seedReady = Signal(str)  # label of the analysed seed
    resultsReady = Signal(list)  # list[SearchResult]
    profileReady = Signal(int, object, object)  # track id, segment starts, similarities
    failed = Signal(str)

    def __init__(self, library: LibraryFacade, pools: Pools,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.pools = pools
        self.seed: SeedOrSeeds | None = None  # an analysed seed, or several at once
        self.seed_label = ""
        self.seed_track_ids: list[int] = []  # the library tracks the seed is made of
        self.params: SearchParams | None = None
        self.results: list[SearchResult] = []
        self._latest = LatestOnly()
        self._analysing = False

    @property
    def seed_track_id(self) -> int | None:
        """The seed's library track, when the seed is exactly one."""
        return self.seed_track_ids[0] if len(self.seed_track_ids) == 1 else None

    def seed_track(self, track: TrackInfo, params: SearchParams) -> SearchRequest:
        """Find songs like a library track."""
        label = track.display_title
        if track.artist:
            label = f"{label} — {track.artist}"
        return self.set_seed(int(track.id), label, params)

    def seed_tracks(self, tracks: list[TrackInfo], params: SearchParams) -> SearchRequest:
        """Find songs like several library tracks at once (one combined ranking); a song
        listed twice counts once, and one song is an ordinary seed."""
        unique = list({t.id: t for t in tracks}.values())
        if len(unique) == 1:
            return self.seed_track(unique[0], params)
        ids = tuple(t.id for t in unique)
        return self.set_seed(Together(ids), f"{len(ids)} songs together", params)

    def seed_file(self, path: Path, params: SearchParams) -> SearchRequest:
        """Find songs like an audio file (inside or outside the library)."""
        return self.set_seed(Path(path), Path(path).name, params)

    def seed_recording(self, samples: np.ndarray, sr: int, params: SearchParams) -> SearchRequest:
        """Find songs like a microphone recording."""
        return self.set_seed((samples, int(sr)), "your recording", params)

    def closest_tracks(self, n: int, params: SearchParams,
                       on_done: Callable[[list[TrackInfo], str], None],
                       on_error: Callable[[str], None]) -> bool:
        """The current seed's ``n`` closest tracks and a playlist name for them, to
        ``on_done`` (a failure's message to ``on_error``); False without a seed."""
        if self.seed is None:
            return False
        seed, label, lib = self.seed, self.seed_label, self.library
        wanted = dataclasses.replace(params, k=n)
        run_task(lambda: _rank(lib, seed, wanted),
                 lambda rs: on_done([r.track for r in rs], f"Like {label}"[:60]),
                 lambda exc: on_error(describe_error(exc)),
                 pool=self.pools.interactive, name="closest")
        return True

    def load_profile(self, track_id: int | None) -> bool:
        """The seed's similarity to each stored segment of ``track_id``, to ``profileReady``
        (nothing for several seeds at once, nor when the engine has no segments for it)."""
        seed = self.seed
        if track_id is None or seed is None or isinstance(seed, list):
            return False
        lib, tid = self.library, int(track_id)

        def done(out: tuple[np.ndarray, np.ndarray]) -> None:
            if self.seed is seed:  # not a profile of the previous seed
                self.profileReady.emit(tid, out[0], out[1])

        run_task(lambda: lib.similarity_along(seed, tid), done,
                 lambda _exc: None,  # the strip keeps the plain region
                 pool=self.pools.interactive, name="similarity-along")
        return True

    def set_seed(self, seed: SeedSource | Together, label: str,
                 params: SearchParams) -> SearchRequest:
        """Analyse ``seed`` (track id, path, ``(samples, sr)`` or several library tracks)
        and search with ``params``."""
        request = SearchRequest(self._latest.next(), params, seed, label)
        self.params = params
        self._analysing = True
        self.analysing.emit(label)
        run_task(lambda: self._analyse_and_search(request, seed),
                 lambda out: self._apply(request, out),
                 lambda exc: self._fail(request, exc),
                 pool=self.pools.interactive, name="analyse-seed")
        return request

    def set_params(self, params: SearchParams) -> SearchRequest | None:
        """Re-rank the current seed with ``params`` (the fast path); None without a seed."""
        self.params = params
        if self.seed is None or self._analysing:
            return None  # the analysis in flight picks the new params up when it lands
        request = SearchRequest(self._latest.next(), params, None, self.seed_label)
        seed = self.seed
        run_task(lambda: self._search(request, seed),
                 lambda out: self._apply(request, out),
                 lambda exc: self._fail(request, exc),
                 pool=self.pools.interactive, name="search")
        return request

    def _analyse_and_search(self, request: SearchRequest, source: SeedSource | Together
                            ) -> tuple[SeedOrSeeds, list[SearchResult]] | None:
        if not self._latest.is_current(request.generation):
            return None  # superseded before it started: skip the slow part
        lib = self.library
        if isinstance(source, Together):
            seed: SeedOrSeeds = [lib.analyze_seed(t) for t in source.track_ids]
        else:
            seed = lib.analyze_seed(source)
        return self._search(request, seed)

    def _search(self, request: SearchRequest, seed: SeedOrSeeds
                ) -> tuple[SeedOrSeeds, list[SearchResult]] | None:
        if not self._latest.is_current(request.generation):
            return None
        return seed, _rank(self.library, seed, request.params)

    def _apply(self, request: SearchRequest,
               out: tuple[SeedOrSeeds, list[SearchResult]] | None) -> None:
        if out is None or not self._latest.is_current(request.generation):
            return
        seed, results = out
        if request.seed is not None:
            self._analysing = False
            self.seed, self.seed_label = seed, request.label
            self.seed_track_ids = _seed_ids(request.seed)
            self.seedReady.emit(request.label)
            newest = self.params  # set with the request: never None here
            if newest is not None and newest is not request.params:
                self.set_params(newest)  # sliders moved during the analysis
                return
        self.results = results
        self.resultsReady.emit(results)

    def _fail(self, request: SearchRequest, exc: BaseException) -> None:
        if self._latest.is_current(request.generation):
            if request.seed is not None:  # the old seed is no longer what the user asked
                self._analysing = False
                self.seed, self.seed_label, self.results = None, "", []
                self.seed_track_ids = []
            self.failed.emit(describe_error(exc))


def _rank(library: LibraryFacade, seed: SeedOrSeeds, params: SearchParams) -> list[SearchResult]:
    """Search for one analysed seed, or for a list of them together."""
    if isinstance(seed, list):
        return library.search_together(seed, params)
    return library.search(seed, params)


def _seed_ids(seed: SeedSource | Together) -> list[int]:
    """The library tracks a seed source names (none for a file or a recording)."""
    if isinstance(seed, Together):
        return list(seed.track_ids)
    return [int(seed)] if isinstance(seed, int) and not isinstance(seed, bool) else []
