"""Test doubles for the GUI: a synchronous pool, a scripted Library, scripted prompts.

``FakeLibrary`` follows the Library facade contract (docs/architecture.md) with canned
tracks and a deterministic, parameter-sensitive ranking, so GUI tests can check what
the app does with the engine's answers without decoding or embedding anything.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRunnable

from engine.discovery.duplicates import Copy, DuplicateGroup, best_first
from engine.discovery.mixes import Mix
from engine.errors import Cancelled, DecodeError, ParameterError
from engine.library import ScanProgress, SearchParams, SearchResult, TrackInfo
from engine.playlists import PlaylistItem


class FakePool:
    """Runs each job immediately on the calling thread (picard's FakeThreadPool)."""

    def __init__(self) -> None:
        self.started = 0

    def start(self, runnable: QRunnable) -> None:
        self.started += 1
        runnable.run()

    def waitForDone(self, msecs: int = -1) -> bool:
        return True

    def clear(self) -> None:
        pass


@dataclass(frozen=True)
class FakeSeed:
    """What ``analyze_seed`` returns: enough to rank deterministically."""

    key: int
    label: str


@dataclass(frozen=True)
class FakeLayout:
    """The part of the engine's map Layout the app reads."""

    ids: np.ndarray
    xy: np.ndarray


@dataclass(frozen=True)
class FakeMapUpdate:
    """The part of the engine's MapUpdate the app reads."""

    layout: FakeLayout
    rebuilt: bool


@dataclass(frozen=True)
class FakeScanError:
    """A file the scan could not read."""

    path: Path
    reason: str


def make_track(i: int, *, folder: Path = Path("/music"), album: str | None = None,
               artist: str | None = None) -> TrackInfo:
    """A TrackInfo with predictable tags."""
    return TrackInfo(
        id=i, path=folder / f"track{i:05d}.flac", title=f"Song {i}",
        artist=artist or f"Artist {i % 7}", album=album or f"Album {i % 5}",
        album_artist=None, track_no=i % 12 + 1, year=2000 + i % 20, genre="Test",
        duration=120.0 + i, format="flac", has_cover=False, status="ok", error=None)


class FakeLibrary:
    """A scripted Library: ``n`` tracks, scans that yield one step per track."""

    DUPLICATE_PAIRS = 10  # candidate pairs a duplicate search pretends to check

    def __init__(self, n: int = 30, *, scan_gate: threading.Semaphore | None = None,
                 bad_files: tuple[str, ...] = ()) -> None:
        self.others = 0  # other processes with this library open
        self._all = [make_track(i) for i in range(1, n + 1)]
        self._visible: list[TrackInfo] = []
        self._roots: list[Path] = []
        self._playlists: dict[str, list[int]] = {}
        self._errors: list[FakeScanError] = []
        self.scan_gate = scan_gate  # when given, each scan step takes one permit
        self.map_gate: threading.Semaphore | None = None  # when given, the map waits for it
        self.duplicate_groups: list[DuplicateGroup] = []  # what duplicates() finds
        self.duplicates_error: Exception | None = None  # raised by duplicates() when set
        self.duplicates_gate: threading.Semaphore | None = None  # one permit a checked pair
        self.bad_files = bad_files
        self.calls: list[tuple[str, Any]] = []
        self.scanned_roots: list[list[Path] | None] = []  # what each scan was asked for
        self.analyze_count = 0
        self.search_count = 0
        self.closed = False
        self.card: Any = None
        self.folder = Path("/library")
        self._model_dir = Path("/library/no-model")  # no model until set_model

    # -- folders and scanning -------------------------------------------------------------
    def roots(self) -> list[Path]:
        return list(self._roots)

    def add_root(self, path: Path) -> None:
        self._roots.append(Path(path))

    def remove_root(self, path: Path) -> None:
        self._roots.remove(Path(path))
        if not self._roots:
            self._visible = []

    def scan(self, roots: list[Path] | None = None, *, workers: int | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[ScanProgress]:
        """One progress step per track; stops when ``should_stop()``."""
        self.calls.append(("scan", workers))
        self.scanned_roots.append(roots)
        total = len(self._all) + len(self.bad_files)
        yield ScanProgress(stage="walk", done=0, total=total)
        for done, track in enumerate(self._all, start=1):
            if should_stop is not None and should_stop():
                return
            if self.scan_gate is not None:
                self.scan_gate.acquire(timeout=5)
            self._visible.append(track)
            yield ScanProgress(stage="analyse", done=done, total=total, path=str(track.path),
                               errors=len(self._errors), rate=50.0, eta_s=(total - done) / 50.0)
        for name in self.bad_files:
            self._errors.append(FakeScanError(Path("/music") / name, "file is empty"))
            done += 1
            yield ScanProgress(stage="analyse", done=done, total=total,
                               path=str(Path("/music") / name), errors=len(self._errors),
                               rate=50.0, eta_s=0.0)

    def tracks(self) -> list[TrackInfo]:
        return list(self._visible)

    def track(self, track_id: int) -> TrackInfo:
        return next(t for t in self._all if t.id == track_id)

    def cover(self, track_id: int) -> bytes | None:
        """The engine's cover reading on the track's path (None for the canned paths)."""
        from engine.tags import read_cover

        return read_cover(self.track(track_id).path)

    def count(self) -> int:
        return len(self._visible)

    def errors(self) -> list[FakeScanError]:
        return list(self._errors)

    def load_all(self) -> FakeLibrary:
        """Pretend a scan already happened."""
        self._visible = list(self._all)
        self._roots = self._roots or [Path("/music")]
        return self

    # -- search ---------------------------------------------------------------------------
    def analyze_seed(self, seed: int | Path | tuple[np.ndarray, int]) -> FakeSeed:
        """Seeds: a track id, a path (``bad`` in the name raises), or a buffer."""
        self.analyze_count += 1
        self.calls.append(("analyze_seed", seed))
        if isinstance(seed, tuple):
            samples, sr = seed
            return FakeSeed(int(len(samples) // sr), "recording")
        if isinstance(seed, int):
            return FakeSeed(seed, f"track {seed}")
        path = Path(seed)
        if "bad" in path.name or not path.exists():
            raise DecodeError(path, "not an audio file, or the file is corrupt")
        return FakeSeed(len(path.name), path.name)

    def search(self, seed: FakeSeed, params: SearchParams) -> list[SearchResult]:
        """Ranking by a hash of (seed, track), tilted by the weights and diversity."""
        self.search_count += 1
        self.calls.append(("search", params))
        w = np.asarray(params.weights, float) / max(sum(params.weights), 1e-9)
        out = []
        for t in self._visible:
            mods = {name: ((seed.key * 31 + t.id * (7 + j)) % 97) / 97.0
                    for j, name in enumerate(("timbre", "harmony", "rhythm"))}
            score = float(np.dot(w, list(mods.values()))) - 0.01 * params.prf * (t.id % 2)
            # like MMR: diversity changes the order, the score stays the similarity
            rank_key = score - params.diversity * ((t.id % 3) / 3.0)
            # reported only: the order stays as it was
            bonus = {0: 0.25, 1: 0.03}.get(t.id % 4, 0.0)
            out.append((rank_key, SearchResult(t, score, mods, 0.0, float(t.id % 60),
                                               version_bonus=bonus)))
        out = [r for _key, r in sorted(out, key=lambda kr: -kr[0])]
        if params.exclude_same_artist:
            seen: set[str | None] = set()
            out = [r for r in out if not (r.track.artist in seen or seen.add(r.track.artist))]
        return out[: params.k]

    def similarity_along(self, seed: FakeSeed, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Segments every 4 s; the similarity peaks (1.0) at the track's match offset."""
        self.calls.append(("similarity_along", track_id))
        track = next((t for t in self._visible if t.id == track_id), None)
        if track is None:
            raise ParameterError(f"track {track_id} has no analysed segments with this model")
        starts = np.arange(0.0, float(track.duration or 0.0) - 4.0, 4.0, dtype=np.float32)
        peak = float(track_id % 60)
        return starts, (1.0 - np.minimum(np.abs(starts - peak) / 60.0, 0.5)).astype(np.float32)

    def search_together(self, seeds: Sequence[FakeSeed],
                        params: SearchParams | None = None) -> list[SearchResult]:
        """One ranking for several seeds (their keys summed), the seed tracks left out."""
        params = params or SearchParams()
        self.calls.append(("search_together", [s.key for s in seeds]))
        combined = FakeSeed(sum(s.key for s in seeds), "together")
        wider = dataclasses.replace(params, k=params.k + len(seeds))
        own = {s.key for s in seeds}
        return [r for r in self.search(combined, wider) if r.track.id not in own][: params.k]

    # -- discovery ------------------------------------------------------------------------
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and unit vectors of the visible tracks: one direction per artist, plus noise
        (so tracks of an artist sound alike)."""
        ids = np.array([t.id for t in self._visible], np.int64)
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(7, 8))
        x = np.array([centres[i % 7] + 0.3 * np.random.default_rng(i).normal(size=8)
                      for i in ids]).reshape(-1, 8)
        return ids, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def library_map(self, *, rebuild: bool = False,
                    should_stop: Callable[[], bool] | None = None) -> FakeMapUpdate:
        """The visible tracks at the first two coordinates of their vectors; while the map
        gate is shut the layout waits (up to 5 s), abandoned when ``should_stop`` says so."""
        self.calls.append(("library_map", rebuild))
        if self.map_gate is not None:
            deadline = time.monotonic() + 5
            while not self.map_gate.acquire(timeout=0.02) and time.monotonic() < deadline:
                if should_stop is not None and should_stop():
                    raise Cancelled("the map layout was abandoned")
        ids, x = self.vectors()
        return FakeMapUpdate(FakeLayout(ids, np.ascontiguousarray(x[:, :2])), rebuilt=True)

    def mixes(self, count: int | None = None) -> list[Mix]:
        """The engine's k-means mixes of the fake vectors."""
        from engine.discovery.mixes import make_mixes

        self.calls.append(("mixes", count))
        ids, x = self.vectors()
        return make_mixes(ids, x, {t.id: t for t in self._visible}, count=count)

    def song_path(self, start: int, end: int, length: int) -> list[TrackInfo]:
        """The engine's song path over the fake vectors."""
        from engine.discovery.path import song_path

        self.calls.append(("song_path", (start, end, length)))
        ids, x = self.vectors()
        row = {int(t): r for r, t in enumerate(ids)}
        return [self.track(int(ids[r])) for r in song_path(x, row[start], row[end], length)]

    def duplicates(self, *, progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> list[DuplicateGroup]:
        """``duplicate_groups``, after checking ``DUPLICATE_PAIRS`` pretend pairs (each
        waiting for ``duplicates_gate`` when set). Like the engine, ``should_stop`` ends
        the search early with what was found (here: all of it)."""
        self.calls.append(("duplicates", None))
        for done in range(self.DUPLICATE_PAIRS):
            if progress is not None:
                progress(done, self.DUPLICATE_PAIRS)
            if should_stop is not None and should_stop():
                return list(self.duplicate_groups)
            if self.duplicates_gate is not None:
                self._wait_for_permit(self.duplicates_gate, should_stop)
        if self.duplicates_error is not None:
            raise self.duplicates_error
        if progress is not None:
            progress(self.DUPLICATE_PAIRS, self.DUPLICATE_PAIRS)
        return list(self.duplicate_groups)

    @staticmethod
    def _wait_for_permit(gate: threading.Semaphore,
                         should_stop: Callable[[], bool] | None) -> None:
        """Take a permit of ``gate`` (waiting at most 5 s), or give up once stopped."""
        for _ in range(250):
            if gate.acquire(timeout=0.02) or (should_stop is not None and should_stop()):
                return

    # -- playlists ------------------------------------------------------------------------
    def save_playlist(self, name: str, track_ids: Sequence[int | Path]) -> None:
        self._playlists[name] = list(track_ids)

    def playlists(self) -> list[str]:
        return sorted(self._playlists, key=lambda n: (n.casefold(), n))

    def playlist(self, name: str) -> list[TrackInfo]:
        return [i.track for i in self.playlist_items(name) if i.track is not None]

    def playlist_items(self, name: str) -> list[PlaylistItem]:
        """Ids resolve to tracks; paths to the track now at that path, if any."""
        out = []
        for entry in self._playlists[name]:
            if isinstance(entry, int):
                out.append(PlaylistItem(self.track(entry).path, self.track(entry)))
                continue
            track = next((t for t in self._visible if t.path == Path(entry)), None)
            out.append(PlaylistItem(Path(entry), track, None if track else "file not found"))
        return out

    def delete_playlist(self, name: str) -> None:
        del self._playlists[name]

    def playlist_file_title(self, path: Path) -> str:
        from engine.playlist_files import file_title

        return file_title(Path(path)) or Path(path).stem

    def import_playlist(self, path: Path, *, name: str | None = None) -> str:
        """Entries matched to the fake tracks by path; others kept as paths."""
        from engine.playlist_files import fmt_for, read_m3u8, read_xspf

        entries = read_xspf(path)[1] if fmt_for(Path(path)) == "xspf" else read_m3u8(path)
        by_path = {t.path: t.id for t in self._all}
        chosen = name or self.playlist_file_title(path)
        self._playlists[chosen] = [by_path.get(e.path, e.path) for e in entries]
        self.calls.append(("import_playlist", chosen))
        return chosen

    @property
    def model_card(self) -> Any:
        return self.card

    @property
    def model_dir(self) -> Path:
        return self._model_dir

    def set_model(self, model_dir: Path) -> None:
        from engine.model import load_card

        self.card = load_card(model_dir)
        self._model_dir = Path(model_dir)
        self.calls.append(("set_model", Path(model_dir)))

    def others_open(self) -> int:
        return self.others

    def close(self) -> None:
        self.closed = True


class ScriptedPrompts:
    """Stands in for message boxes and file dialogs: records messages, returns scripted answers."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []
        self.folders: list[str] = []
        self.open_files: list[str] = []
        self.save_files: list[str] = []
        self.save_filters: list[str] = []  # the file type chosen in the save dialog
        self.texts: list[str] = []
        self.answers: list[bool] = []  # replies to confirm(); no reply = cancel
        self.numbers: list[int] = []  # replies to number(); none = cancel

    def error(self, title: str, text: str, details: str = "") -> None:
        self.messages.append(("error", title, text))

    def info(self, title: str, text: str, details: str = "") -> None:
        self.messages.append(("info", title, text))

    def folder(self, title: str, start: str = "") -> str:
        return self.folders.pop(0) if self.folders else ""

    def open_file(self, title: str, start: str = "", filters: str = "") -> str:
        return self.open_files.pop(0) if self.open_files else ""

    def save_file(self, title: str, start: str = "", filters: str = "") -> str:
        return self.save_files.pop(0) if self.save_files else ""

    def save_file_as(self, title: str, start: str = "", filters: str = "",
                     selected: str = "") -> tuple[str, str]:
        self.messages.append(("save", title, start))
        if not self.save_files:
            return "", ""
        return self.save_files.pop(0), (self.save_filters.pop(0) if self.save_filters
                                        else selected)

    def text(self, title: str, label: str, default: str = "") -> str:
        return self.texts.pop(0) if self.texts else ""

    def number(self, title: str, label: str, value: int, low: int,
               high: int) -> int | None:
        self.messages.append(("number", title, label))
        if not self.numbers:
            return None
        return min(high, max(low, self.numbers.pop(0)))

    def confirm(self, title: str, text: str, yes: str = "Replace") -> bool:
        self.messages.append(("confirm", title, text))
        return self.answers.pop(0) if self.answers else False

    @property
    def errors(self) -> list[str]:
        """Texts of the error messages shown so far."""
        return [m[2] for m in self.messages if m[0] == "error"]



def duplicate_group(tracks: Sequence[TrackInfo], *, start: float = 0.0,
                    end: float = 60.0) -> DuplicateGroup:
    """The engine's group of ``tracks``, the copy to keep first (by the engine's order)."""
    ordered = best_first(tracks)
    return DuplicateGroup(tuple(Copy(t, start, end, 1.0 if i == 0 else 0.98)
                                for i, t in enumerate(ordered)))
