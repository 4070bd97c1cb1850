"""Playlists made in one step: the seed's closest songs, a song path, a mix, a map
selection. Each asks before it replaces a playlist with unsaved changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from engine.library import SearchParams, TrackInfo
    from resonance_app.controller import LibraryController, SearchSession
    from resonance_app.discovery import Discovery
    from resonance_app.settings import Settings
    from resonance_app.views.playlist_view import PlaylistPanel
    from resonance_app.views.prompts import Prompts


class PlaylistFlow(QObject):
    """Fills ``playlist`` from the search session, the discovery jobs or chosen track ids."""

    def __init__(self, playlist: PlaylistPanel, session: SearchSession, discovery: Discovery,
                 library: LibraryController, params: Callable[[], SearchParams],
                 prompts: Prompts, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.playlist = playlist
        self.session = session
        self.discovery = discovery
        self.library = library
        self.params = params
        self.prompts = prompts
        self.settings = settings

    def from_seed(self, n: int) -> None:
        """The seed's ``n`` closest songs (asks about unsaved changes first)."""
        if self.session.seed is None:
            self.prompts.info("Playlist from seed", "Pick a seed song first.")
            return
        self.settings.playlist_size = n
        if self.playlist.may_replace("'Playlist from seed'"):
            self.session.closest_tracks(
                n, self.params(), self.playlist.start_new,
                lambda message: self.prompts.error("Playlist from seed", message))

    def path_to(self, track: TrackInfo) -> None:
        """A playlist leading from the current seed song to ``track``, of a length asked."""
        start = self.session.seed_track_id
        if start is None:
            self.prompts.info("Path to…", "Find songs like a library song first: the path "
                              "leads from that song to the one you pick.")
            return
        if start == track.id:
            self.prompts.info("Path to…", "Pick a song other than the seed.")
            return
        total = len(self.library.tracks)
        length = self.prompts.number("Path to…", "Songs in the path (both ends included):",
                                     min(int(self.settings.path_length), total), 2,
                                     max(2, total))
        if length is None:
            return
        self.settings.path_length = length
        name = (f"Path: {self.session.seed_label} → "
                f"{track.title or Path(track.path).stem}")[:80]

        def show(tracks: list[TrackInfo]) -> None:
            if self.playlist.may_replace("The song path"):
                self.playlist.start_new(tracks, name)

        self.discovery.song_path(start, track.id, length, show,
                                 lambda message: self.prompts.info("Path to…", message))

    def open_tracks(self, track_ids: list[int], name: str) -> None:
        """Library tracks (a mix, a map selection) as a new playlist called ``name``."""
        by_id = {t.id: t for t in self.library.tracks}
        tracks = [by_id[t] for t in track_ids if t in by_id]
        if tracks and self.playlist.may_replace(f"'{name}'"):
            self.playlist.start_new(tracks, name)
