"""Saved playlists: named, ordered lists of library tracks kept in the library database.

An entry keeps its file's path beside its track id, so it survives the track leaving
the library and links up again when the file returns. Reading and writing M3U8/XSPF
files is :mod:`engine.playlist_files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import records
from engine.errors import ParameterError
from engine.playlist_files import PlaylistEntry
from engine.records import TrackInfo, track_id_for_path, tracks_by_id
from engine.store import Store


def save(store: Store, name: str, entries: list[tuple[int | None, Path]]) -> None:
    """Create or replace the playlist ``name`` with ``(track id, path)`` entries."""
    if not name.strip():
        raise ParameterError("a playlist needs a name")
    records.save_playlist(store, name, entries)


def names(store: Store) -> list[str]:
    """Every playlist name, sorted without regard to case."""
    return records.playlist_names(store)


@dataclass(frozen=True)
class PlaylistItem:
    """One saved entry: its library track, or why there is none (the path is kept)."""

    path: Path
    track: TrackInfo | None
    reason: str | None = None


def linked_items(store: Store, name: str) -> list[tuple[int | None, Path]]:
    """Like :func:`items`, with entries whose track left the library linked again by path
    (the file came back and was scanned under a new id)."""
    return [(tid if tid is not None else track_id_for_path(store, path), path)
            for tid, path in items(store, name)]


def resolved_items(store: Store, name: str) -> list[PlaylistItem]:
    """Every entry of a playlist, with its track or the reason it has none."""
    entries = linked_items(store, name)
    infos = tracks_by_id(store, [t for t, _ in entries if t is not None])
    out = []
    for tid, path in entries:
        track = infos.get(tid) if tid is not None else None
        reason = None
        if track is None:
            reason = ("not in the library (outside the music folders, or not scanned yet)"
                      if path.exists() else "file not found")
        out.append(PlaylistItem(path, track, reason))
    return out


def items(store: Store, name: str) -> list[tuple[int | None, Path]]:
    """``(track id, path)`` entries of a playlist in order."""
    rows = records.playlist_rows(store, name)
    if not rows and name not in names(store):
        raise ParameterError(f"no playlist named {name!r}")
    return rows


def delete(store: Store, name: str) -> None:
    """Remove a playlist (its tracks stay in the library)."""
    records.delete_playlist(store, name)


def entries_for(store: Store, track_ids: list[int]) -> list[PlaylistEntry]:
    """Playlist entries for library track ids, in order."""
    infos = tracks_by_id(store, track_ids)
    missing = [t for t in track_ids if t not in infos]
    if missing:
        raise ParameterError(f"no track with id {missing[0]} in this library")
    return [PlaylistEntry.from_track(infos[t]) for t in track_ids]


def entries_for_items(store: Store,
                      items: Sequence[int | Path]) -> list[tuple[int | None, Path]]:
    """``(track id, path)`` for a mix of track ids and paths (paths of files outside the
    library are kept, so the entry survives until the file returns)."""
    ids = [i for i in items if isinstance(i, int)]
    infos = tracks_by_id(store, ids)
    missing = [t for t in ids if t not in infos]
    if missing:
        raise ParameterError(f"no track with id {missing[0]} in this library")
    return [(i, infos[i].path) if isinstance(i, int) else (track_id_for_path(store, i), Path(i))
            for i in items]


def resolve(store: Store, entries: list[PlaylistEntry]) -> list[tuple[int | None, Path]]:
    """Map imported entries to library tracks by path (unknown files keep their path)."""
    return [(track_id_for_path(store, e.path), e.path) for e in entries]
