"""The part of the engine's ``Library`` the app uses, as a ``typing.Protocol``.

The app is typed against this facade; ``engine.library.Library`` and the GUI tests'
``FakeLibrary`` both satisfy it (``tests/app/test_library_api.py`` checks the
signatures), so a change in the engine's facade shows up as a failing test here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from engine.library import (
    DuplicateGroup,
    MapUpdate,
    Mix,
    ScanError,
    ScanProgress,
    SearchParams,
    SearchResult,
    Seed,
    TrackInfo,
)
from engine.model import ModelCard
from engine.playlists import PlaylistItem

__all__ = ["LibraryFacade", "MapUpdate", "Mix", "SeedSource"]

#: a track id, an audio file path, or (samples, sample rate)
SeedSource = int | Path | tuple[np.ndarray, int]


@runtime_checkable
class LibraryFacade(Protocol):
    """What the desktop app asks of a music library."""

    folder: Path

    @property
    def model_card(self) -> ModelCard | None: ...

    @property
    def model_dir(self) -> Path: ...

    def set_model(self, model_dir: Path) -> None: ...

    def roots(self) -> list[Path]: ...

    def add_root(self, path: Path) -> None: ...

    def remove_root(self, path: Path) -> None: ...

    def scan(self, roots: list[Path] | None = None, *, workers: int | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[ScanProgress]: ...

    def tracks(self) -> list[TrackInfo]: ...

    def track(self, track_id: int) -> TrackInfo: ...

    def errors(self) -> list[ScanError]: ...

    def cover(self, track_id: int) -> bytes | None: ...

    def analyze_seed(self, seed: SeedSource) -> Seed: ...

    def search(self, seed: Seed, params: SearchParams) -> list[SearchResult]: ...

    def similarity_along(self, seed: Seed,
                         track_id: int) -> tuple[np.ndarray, np.ndarray]: ...

    def search_together(self, seeds: Sequence[Seed],
                        params: SearchParams | None = None) -> list[SearchResult]: ...

    def library_map(self, *, rebuild: bool = False) -> MapUpdate: ...

    def mixes(self, count: int | None = None) -> list[Mix]: ...

    def song_path(self, start: int, end: int, length: int) -> list[TrackInfo]: ...

    def duplicates(self, *, progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> list[DuplicateGroup]: ...

    def save_playlist(self, name: str, track_ids: Sequence[int | Path]) -> None: ...

    def playlists(self) -> list[str]: ...

    def playlist(self, name: str) -> list[TrackInfo]: ...

    def playlist_items(self, name: str) -> list[PlaylistItem]: ...

    def delete_playlist(self, name: str) -> None: ...

    def import_playlist(self, path: Path, *, name: str | None = None) -> str: ...

    def playlist_file_title(self, path: Path) -> str: ...

    def others_open(self) -> int: ...

    def close(self) -> None: ...
