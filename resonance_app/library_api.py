"""The part of the engine's ``Library`` the app uses, as a ``typing.Protocol``.

The app is typed against this facade; ``engine.library.Library`` and the GUI tests'
``FakeLibrary`` both satisfy it (``tests/app/test_library_api.py`` checks the
signatures), so a change in the engine's facade shows up as a failing test here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from engine.library import ScanError, ScanProgress, SearchParams, SearchResult, Seed, TrackInfo
from engine.model import ModelCard
from engine.playlists import PlaylistItem

if TYPE_CHECKING:  # engine.discovery is no public module of the engine: named via the facade
    from engine.library import MapUpdate, Mix

#: a track id, an audio file path, or (samples, sample rate)
SeedSource = int | Path | tuple[np.ndarray, int]


@runtime_checkable
class LibraryFacade(Protocol):
    """What the desktop app asks of a music library."""

    folder: Path

    @property
    def model_card(self) -> ModelCard | None: ...  # noqa: D102

    def set_model(self, model_dir: Path) -> None: ...  # noqa: D102

    def roots(self) -> list[Path]: ...  # noqa: D102

    def add_root(self, path: Path) -> None: ...  # noqa: D102

    def remove_root(self, path: Path) -> None: ...  # noqa: D102

    def scan(self, roots: list[Path] | None = None, *, workers: int | None = None,  # noqa: D102
             should_stop: Callable[[], bool] | None = None) -> Iterator[ScanProgress]: ...

    def tracks(self) -> list[TrackInfo]: ...  # noqa: D102

    def track(self, track_id: int) -> TrackInfo: ...  # noqa: D102

    def errors(self) -> list[ScanError]: ...  # noqa: D102

    def cover(self, track_id: int) -> bytes | None: ...  # noqa: D102

    def analyze_seed(self, seed: SeedSource) -> Seed: ...  # noqa: D102

    def search(self, seed: Seed, params: SearchParams) -> list[SearchResult]: ...  # noqa: D102

    def similarity_along(self, seed: Seed,  # noqa: D102
                         track_id: int) -> tuple[np.ndarray, np.ndarray]: ...

    def search_together(self, seeds: Sequence[Seed],  # noqa: D102
                        params: SearchParams | None = None) -> list[SearchResult]: ...

    def library_map(self, *, rebuild: bool = False) -> MapUpdate: ...  # noqa: D102

    def mixes(self, count: int | None = None) -> list[Mix]: ...  # noqa: D102

    def song_path(self, start: int, end: int, length: int) -> list[TrackInfo]: ...  # noqa: D102

    def save_playlist(self, name: str, track_ids: Sequence[int | Path]) -> None: ...  # noqa: D102

    def playlists(self) -> list[str]: ...  # noqa: D102

    def playlist(self, name: str) -> list[TrackInfo]: ...  # noqa: D102

    def playlist_items(self, name: str) -> list[PlaylistItem]: ...  # noqa: D102

    def delete_playlist(self, name: str) -> None: ...  # noqa: D102

    def export_playlist(self, name_or_ids: str | list[int], path: Path,  # noqa: D102
                        fmt: str = "m3u8", *, title: str | None = None) -> Path: ...

    def import_playlist(self, path: Path, *, name: str | None = None) -> str: ...  # noqa: D102

    def playlist_file_title(self, path: Path) -> str: ...  # noqa: D102

    def others_open(self) -> int: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102
