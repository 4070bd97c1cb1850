"""Track records: the typed view of the ``tracks`` table and its writes.

:class:`TrackInfo` is what the GUI shows; :func:`save_analysis` and :func:`save_error`
are what the scan's single writer commits.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import dense
from engine.errors import ParameterError
from engine.store import (
    SEGMENT_DTYPE,
    VECTOR_COLUMNS,
    Store,
    to_blob,
    write_align_print,
    write_version_print,
)

if TYPE_CHECKING:
    from engine.analysis import Analysis


@dataclass(frozen=True)
class TrackInfo:
    """One track of the library, as shown to users."""

    id: int
    path: Path
    title: str | None
    artist: str | None
    album: str | None
    album_artist: str | None
    track_no: int | None
    year: int | None
    genre: str | None
    duration: float | None
    format: str | None
    has_cover: bool
    status: str
    error: str | None
    size: int | None = None  # bytes
    added: float | None = None  # when the library first saw the file (Unix time)

    @property
    def display_title(self) -> str:
        """The title tag, or the file name without extension."""
        return self.title or self.path.stem

    @property
    def display_name(self) -> str:
        """``Artist - Title`` (see :func:`display_name`)."""
        return display_name(self.display_title, self.artist)


def display_name(title: str, artist: str | None) -> str:
    """``Artist - Title``, or the title alone when the artist is unknown."""
    return f"{artist} - {title}" if artist else title


@dataclass(frozen=True)
class ScanError:
    """A file the scan could not use, and why.

    ``tried`` is when it was last tried (seconds since the epoch; None for what the walk
    found); ``retry`` is True when the next scan tries it again whatever happens to it
    (the cause may go away by itself), False when only a change of the file will.
    """

    path: Path
    reason: str
    tried: float | None = None
    retry: bool = False


_TRACK_SQL = ("SELECT t.*, COALESCE(p.state, 'present') AS state FROM tracks t "
              "LEFT JOIN path_state p ON p.track_id = t.id")


def row_to_info(row: sqlite3.Row, fingerprint: str | None = None) -> TrackInfo:
    """Build a :class:`TrackInfo` from a ``tracks`` row (joined with its path state).

    With the current model's ``fingerprint``, a track analysed with another model is
    ``pending`` (its vectors are not searchable; the next scan re-embeds it), as in
    :func:`library_stats`.
    """
    status = str(row["status"])
    if row["state"] != "present":
        status = str(row["state"])
    elif status == "ok" and fingerprint is not None and row["fingerprint"] != fingerprint:
        status = "pending"
    return TrackInfo(
        id=int(row["id"]), path=Path(row["path"]), title=row["title"], artist=row["artist"],
        album=row["album"], album_artist=row["album_artist"], track_no=row["track_no"],
        year=row["year"], genre=row["genre"], duration=row["duration"], format=row["format"],
        has_cover=bool(row["has_cover"]), status=status, error=row["error"],
        size=row["size"], added=row["added"])


def list_tracks(store: Store, *, include_hidden: bool = False,
                fingerprint: str | None = None) -> list[TrackInfo]:
    """Every track (masked and missing ones only with ``include_hidden``); with the
    current model's ``fingerprint``, see :func:`row_to_info`."""
    where = "" if include_hidden else " WHERE COALESCE(p.state, 'present') = 'present'"
    return [row_to_info(r, fingerprint)
            for r in store.query(_TRACK_SQL + where + " ORDER BY t.path")]


def get_track(store: Store, track_id: int, *, fingerprint: str | None = None) -> TrackInfo:
    """One track by id (``fingerprint``: see :func:`row_to_info`); :class:`ParameterError`
    if there is none."""
    rows = store.query(_TRACK_SQL + " WHERE t.id = ?", (int(track_id),))
    if not rows:
        raise ParameterError(f"no track with id {track_id} in this library")
    return row_to_info(rows[0], fingerprint)


def tracks_by_id(store: Store, ids: list[int]) -> dict[int, TrackInfo]:
    """Several tracks by id (missing ids are left out)."""
    out: dict[int, TrackInfo] = {}
    for start in range(0, len(ids), 500):
        chunk = [int(i) for i in ids[start:start + 500]]
        marks = ",".join("?" * len(chunk))
        for row in store.query(_TRACK_SQL + f" WHERE t.id IN ({marks})", chunk):
            out[int(row["id"])] = row_to_info(row)
    return out


def track_id_for_path(store: Store, path: str | os.PathLike[str]) -> int | None:
    """The id of the track stored at ``path`` (resolved), if any."""
    for candidate in {str(path), str(Path(path).resolve())}:
        rows = store.query("SELECT id FROM tracks WHERE path = ?", (candidate,))
        if rows:
            return int(rows[0][0])
    return None


def scan_errors(store: Store) -> list[ScanError]:
    """Every file recorded as unusable, with its reason."""
    rows = store.query("SELECT path, error, tried, retry FROM tracks WHERE status = 'error' "
                       "ORDER BY path")
    return [ScanError(Path(r["path"]), str(r["error"] or "unknown error"), r["tried"],
                      bool(r["retry"])) for r in rows]


def insert_pending(conn: sqlite3.Connection, *, path: str, root_id: int, size: int,
                   mtime: float, content_hash: str | None = None) -> int:
    """Add a new file waiting for analysis; returns its track id."""
    now = time.time()
    cur = conn.execute(
        "INSERT INTO tracks (path, root_id, size, mtime, content_hash, status, added, updated) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        (path, root_id, size, mtime, content_hash, now, now))
    track_id = int(cur.lastrowid or 0)
    set_state(conn, [track_id], "present")
    return track_id


def set_state(conn: sqlite3.Connection, track_ids: list[int], state: str) -> None:
    """Record the path state (present / missing / masked) of tracks."""
    now = time.time()
    conn.executemany("INSERT INTO path_state VALUES (?, ?, ?) ON CONFLICT(track_id) "
                     "DO UPDATE SET state = excluded.state, checked = excluded.checked",
                     [(int(t), state, now) for t in track_ids])


def save_analysis(conn: sqlite3.Connection, track_id: int, result: Analysis,
                  fingerprint: str) -> None:
    """Store a successful analysis: tags, duration, segments and track vectors."""
    tags = result.tags
    conn.execute(
        "UPDATE tracks SET size = ?, mtime = ?, content_hash = ?, duration = ?, format = ?, "
        "title = ?, artist = ?, album = ?, album_artist = ?, track_no = ?, year = ?, "
        "genre = ?, has_cover = ?, status = 'ok', error = NULL, fingerprint = ?, updated = ? "
        "WHERE id = ?",
        (result.size, result.mtime, result.content_hash, result.duration, result.format,
         tags.title, tags.artist, tags.album, tags.album_artist, tags.track_no, tags.year,
         tags.genre, int(tags.has_cover), fingerprint, time.time(), track_id))
    conn.execute("DELETE FROM segments WHERE track_id = ?", (track_id,))
    conn.executemany(
        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(track_id, i, float(result.starts[i]),
          *(to_blob(result.segments[c][i], SEGMENT_DTYPE) for c in VECTOR_COLUMNS))
         for i in range(len(result.starts))])
    conn.execute("INSERT OR REPLACE INTO track_vectors VALUES (?, ?, ?, ?, ?)",
                 (track_id, *(to_blob(result.track[c]) for c in VECTOR_COLUMNS)))
    if len(result.dense_starts):
        dense.save(conn, track_id, result.dense_starts, result.dense,
                   dense.codec_for(conn, fingerprint))
    else:
        conn.execute("DELETE FROM dense_segments WHERE track_id = ?", (track_id,))
    save_print(conn, track_id, result)


def save_print(conn: sqlite3.Connection, track_id: int, result: Analysis) -> None:
    """Store a track's alignment and version prints, if its analysed file is the one
    recorded."""
    from engine.locate import PRINT_FORMAT  # here: the records stay cheap to import
    from engine.versions import VERSION_FORMAT

    if conn.execute("SELECT 1 FROM tracks WHERE id = ? AND status = 'ok' AND "
                    "content_hash IS ?", (track_id, result.content_hash)).fetchone():
        write_align_print(conn, track_id, fmt=PRINT_FORMAT, frame=result.print_frame,
                          codes=result.align_print)
        write_version_print(conn, track_id, fmt=VERSION_FORMAT, codes=result.version_print)


def save_error(conn: sqlite3.Connection, track_id: int, *, reason: str, size: int,
               mtime: float, fingerprint: str, retry: bool = False,
               content_hash: str | None = None) -> None:
    """Record that a file could not be analysed, and drop any old vectors.

    ``retry``: the next scan tries it again (a transient cause); otherwise only a new
    size, mtime or ``content_hash`` brings it back.
    """
    now = time.time()
    conn.execute("UPDATE tracks SET status = 'error', error = ?, size = ?, mtime = ?, "
                 "content_hash = ?, fingerprint = ?, updated = ?, tried = ?, retry = ? "
                 "WHERE id = ?",
                 (reason, size, mtime, content_hash, fingerprint, now, now, int(retry),
                  track_id))
    conn.execute("DELETE FROM segments WHERE track_id = ?", (track_id,))
    conn.execute("DELETE FROM track_vectors WHERE track_id = ?", (track_id,))
    conn.execute("DELETE FROM dense_segments WHERE track_id = ?", (track_id,))
    conn.execute("DELETE FROM align_prints WHERE track_id = ?", (track_id,))
    conn.execute("DELETE FROM version_prints WHERE track_id = ?", (track_id,))


def searchable_count(store: Store, fingerprint: str | None) -> int:
    """Searchable tracks: present, analysed, with vectors of the model ``fingerprint``."""
    return store.searchable_count(fingerprint) if fingerprint else 0


def library_stats(store: Store, fingerprint: str | None) -> dict[str, Any]:
    """Counts per status and state, for ``resonance status``.

    ``ok`` counts the tracks searchable with the model ``fingerprint``
    (:func:`searchable_count`); a present track analysed with another model is
    ``pending`` (the next scan re-embeds it).
    """
    stats: dict[str, Any] = {"tracks": 0, "ok": 0, "pending": 0, "error": 0,
                             "masked": 0, "missing": 0}
    for row in store.query("SELECT t.status AS s, COALESCE(p.state, 'present') AS st, "
                           "COUNT(*) AS n FROM tracks t LEFT JOIN path_state p "
                           "ON p.track_id = t.id GROUP BY s, st"):
        stats["tracks"] += row["n"]
        key = row["s"] if row["st"] == "present" else row["st"]
        stats[key] += row["n"]
    searchable = searchable_count(store, fingerprint)
    stats["pending"] += stats["ok"] - searchable
    stats["ok"] = searchable
    stats["segments"] = int(store.query("SELECT COUNT(*) FROM segments")[0][0])
    stats["dense_segments"] = int(store.query(
        "SELECT COALESCE(SUM(n), 0) FROM dense_segments")[0][0])
    stats["roots"] = [str(p) for _, p in store.roots()]
    stats["model_sha256"] = store.get_meta("model_sha256")
    stats["revision"] = store.revision
    return stats


def relabel_fingerprint(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Name the vectors of model ``old`` (and the library's model) ``new``."""
    conn.execute("UPDATE tracks SET fingerprint = ? WHERE fingerprint = ?", (new, old))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'model_sha256'", (new,))


# -- the scan's diff ------------------------------------------------------------------
def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def file_rows(conn: sqlite3.Connection, root_ids: Sequence[int]) -> list[dict[str, Any]]:
    """What the scan compares with the walk, per track under ``root_ids``: id, path, size,
    mtime, content_hash, status, retry."""
    if not root_ids:
        return []
    rows = conn.execute("SELECT id, path, size, mtime, content_hash, status, retry FROM tracks "
                        f"WHERE root_id IN ({_marks(root_ids)})", list(root_ids)).fetchall()
    return [dict(r) for r in rows]


def track_ids_under(conn: sqlite3.Connection, root_ids: Sequence[int]) -> list[int]:
    """Ids of every track under ``root_ids``."""
    if not root_ids:
        return []
    return [int(r[0]) for r in conn.execute(
        f"SELECT id FROM tracks WHERE root_id IN ({_marks(root_ids)})", list(root_ids))]


def set_file_stat(conn: sqlite3.Connection, track_id: int, *, mtime: float,
                  size: int | None = None) -> None:
    """Record a file's new mtime (and size, when given)."""
    if size is None:
        conn.execute("UPDATE tracks SET mtime = ? WHERE id = ?", (mtime, track_id))
    else:
        conn.execute("UPDATE tracks SET size = ?, mtime = ? WHERE id = ?",
                     (size, mtime, track_id))


def mark_pending(conn: sqlite3.Connection, track_id: int) -> None:
    """Queue a track for analysis by the next scan."""
    conn.execute("UPDATE tracks SET status = 'pending' WHERE id = ?", (track_id,))


def move_track(conn: sqlite3.Connection, track_id: int, *, path: str, root_id: int,
               mtime: float) -> None:
    """Re-point a track whose file moved (same bytes) to its new path."""
    conn.execute("UPDATE tracks SET path = ?, root_id = ?, mtime = ? WHERE id = ?",
                 (path, root_id, mtime, track_id))


def delete_tracks(conn: sqlite3.Connection, track_ids: Sequence[int]) -> None:
    """Forget tracks whose files are gone (their vectors and states go with them)."""
    conn.executemany("DELETE FROM tracks WHERE id = ?", [(int(t),) for t in track_ids])


def track_is_at(conn: sqlite3.Connection, track_id: int, path: str) -> bool:
    """Whether track ``track_id`` still exists at ``path`` (not removed or moved)."""
    return conn.execute("SELECT 1 FROM tracks WHERE id = ? AND path = ?",
                        (track_id, path)).fetchone() is not None


def pending_work(store: Store, root_ids: Sequence[int],
                 fingerprint: str) -> list[tuple[int, str]]:
    """``(track id, path)`` of present files needing analysis under ``root_ids``."""
    if not root_ids:
        return []
    rows = store.query(
        "SELECT t.id, t.path FROM tracks t JOIN path_state p ON p.track_id = t.id "
        f"WHERE t.root_id IN ({_marks(root_ids)}) AND p.state = 'present' "
        "AND (t.status = 'pending' OR (t.status = 'error' AND t.retry = 1) "
        "OR (t.status = 'ok' AND COALESCE(t.fingerprint, '') != ?) "
        # analysed before dense segments existed (schema 4): add them
        "OR (t.status = 'ok' AND NOT EXISTS (SELECT 1 FROM dense_segments d "
        "WHERE d.track_id = t.id))) ORDER BY t.path",
        (*root_ids, fingerprint))
    return [(int(r[0]), str(r[1])) for r in rows]


def pending_prints(store: Store, root_ids: Sequence[int],
                   fingerprint: str) -> list[tuple[int, str]]:
    """``(track id, path)`` of present tracks analysed with model ``fingerprint`` under
    ``root_ids`` that lack an alignment print (analysed before schema 5) or a version
    print (before schema 6)."""
    if not root_ids:
        return []
    rows = store.query(
        "SELECT t.id, t.path FROM tracks t JOIN path_state p ON p.track_id = t.id "
        f"WHERE t.root_id IN ({_marks(root_ids)}) AND p.state = 'present' "
        "AND t.status = 'ok' AND t.fingerprint = ? AND (NOT EXISTS "
        "(SELECT 1 FROM align_prints a WHERE a.track_id = t.id) OR NOT EXISTS "
        "(SELECT 1 FROM version_prints v WHERE v.track_id = t.id)) ORDER BY t.path",
        (*root_ids, fingerprint))
    return [(int(r[0]), str(r[1])) for r in rows]


# -- playlists ------------------------------------------------------------------------
def save_playlist(store: Store, name: str, entries: Sequence[tuple[int | None, Path]]) -> None:
    """Create or replace playlist ``name`` with ``(track id, path)`` entries, in order."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM playlists WHERE name = ?", (name,))
        pid = conn.execute("INSERT INTO playlists (name, created) VALUES (?, ?)",
                           (name, time.time())).lastrowid
        conn.executemany("INSERT INTO playlist_items VALUES (?, ?, ?, ?)",
                         [(pid, i, tid, str(p)) for i, (tid, p) in enumerate(entries)])


def playlist_names(store: Store) -> list[str]:
    """Every playlist name, sorted without regard to case."""
    return [str(r[0]) for r in store.query("SELECT name FROM playlists "
                                           "ORDER BY name COLLATE NOCASE, name")]


def playlist_rows(store: Store, name: str) -> list[tuple[int | None, Path]]:
    """``(track id, path)`` entries of playlist ``name`` in order (none if no such list)."""
    rows = store.query("SELECT i.track_id, i.path FROM playlist_items i JOIN playlists p "
                       "ON p.id = i.playlist_id WHERE p.name = ? ORDER BY i.pos", (name,))
    return [(None if r[0] is None else int(r[0]), Path(r[1])) for r in rows]


def delete_playlist(store: Store, name: str) -> None:
    """Remove playlist ``name`` (its tracks stay in the library)."""
    store.mutate("DELETE FROM playlists WHERE name = ?", (name,))
