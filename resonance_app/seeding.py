"""Where a search's seed comes from: library tracks, a file opened or dropped, a recording.

A drop that is no seed is handed on: a folder joins the library, a playlist file is
imported (by whoever listens to :attr:`SeedFlow.folderDropped` / ``playlistDropped``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Signal

from resonance_app.drops import DropIntent, audio_file_filter, read_path

if TYPE_CHECKING:
    import numpy as np

    from engine.library import SearchParams, TrackInfo
    from resonance_app.controller import LibraryController, SearchSession
    from resonance_app.settings import Settings


class Asks(Protocol):
    """The two questions the seed flow may put to the user."""

    def open_file(self, title: str, start: str = "", filters: str = "") -> str: ...
    def error(self, title: str, text: str, details: str = "") -> None: ...


class SeedFlow(QObject):
    """Turns the user's picks into seeds of the search session (with the current params)."""

    folderDropped = Signal(object)  # Path: a folder to add to the library
    playlistDropped = Signal(object)  # Path: an M3U/M3U8/XSPF file to import

    def __init__(self, session: SearchSession, library: LibraryController,
                 params: Callable[[], SearchParams], prompts: Asks, settings: Settings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.library = library
        self.params = params
        self.prompts = prompts
        self.settings = settings

    def from_track(self, track: TrackInfo) -> None:
        """Find songs like a library track."""
        self.session.seed_track(track, self.params())

    def from_tracks(self, tracks: list[TrackInfo]) -> None:
        """Find songs like several library tracks at once (one combined ranking)."""
        if tracks:
            self.session.seed_tracks(tracks, self.params())

    def from_track_id(self, track_id: int) -> None:
        """Find songs like the library track ``track_id`` (by id, as drops and the map
        name it); a track not listed yet is still searched, under its id."""
        track = next((t for t in self.library.tracks if t.id == track_id), None)
        if track is not None:
            self.from_track(track)
        else:
            self.session.set_seed(track_id, f"track {track_id}", self.params())

    def from_file(self, path: Path) -> None:
        """Find songs like an audio file (inside or outside the library)."""
        self.session.seed_file(path, self.params())

    def from_recording(self, samples: np.ndarray, sr: int) -> None:
        """Find songs like a microphone recording."""
        self.session.seed_recording(samples, sr, self.params())

    def open_file(self) -> None:
        """Ask for an audio file and use it as the seed (or import/add it, like a drop)."""
        path = self.prompts.open_file("Find songs like…", str(self.settings.last_dir or ""),
                                      audio_file_filter())
        if path:
            self.drop(read_path(Path(path)))

    def drop(self, intent: DropIntent) -> None:
        """Act on dropped data: a file or track becomes the seed, a folder or playlist is
        handed on, anything else gets one message saying why not."""
        if intent.kind == "folder" and intent.path is not None:
            self.folderDropped.emit(intent.path)
        elif intent.kind == "playlist" and intent.path is not None:
            self.playlistDropped.emit(intent.path)
        elif intent.kind == "file" and intent.path is not None:
            self.from_file(intent.path)
        elif intent.kind == "tracks":
            self.from_track_id(intent.track_ids[0])
        elif intent.reason:
            self.prompts.error("Unsupported file", intent.reason)
