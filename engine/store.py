"""The library database: the one module that owns SQLite.

One SQLite file per library (WAL mode) is the source of truth; the FAISS catalog is a
cache derived from it. Each thread gets its own connection; writes go through the
:class:`Transaction` context manager (the outermost one commits and bumps the
:attr:`Store.revision` counter). The schema is versioned: numbered migrations run in
order after a backup of the database, and are recorded in ``migrations``.

Path state (present / missing / masked) lives in ``path_state``, apart from the track
row, so tracks on an unmounted drive are masked, not deleted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import StoreAccessError

DB_FILE = "library.db"
SCHEMA_VERSION = 6

_MIGRATION_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, added REAL NOT NULL);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root_id INTEGER REFERENCES roots(id) ON DELETE SET NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    content_hash TEXT,
    duration REAL,
    format TEXT,
    title TEXT, artist TEXT, album TEXT, album_artist TEXT,
    track_no INTEGER, year INTEGER, genre TEXT,
    has_cover INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'error')),
    error TEXT,
    fingerprint TEXT,
    added REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX tracks_status ON tracks(status);
CREATE INDEX tracks_size ON tracks(size);
CREATE TABLE path_state (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('present', 'missing', 'masked')),
    checked REAL NOT NULL
);
CREATE TABLE segments (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    seg INTEGER NOT NULL,
    start REAL NOT NULL,
    fused BLOB NOT NULL, timbre BLOB NOT NULL, harmony BLOB NOT NULL, rhythm BLOB NOT NULL,
    PRIMARY KEY (track_id, seg)
);
CREATE TABLE track_vectors (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    fused BLOB NOT NULL, timbre BLOB NOT NULL, harmony BLOB NOT NULL, rhythm BLOB NOT NULL
);
CREATE TABLE playlists (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE playlist_items (
    playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    track_id INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (playlist_id, pos)
);
"""



def _migration_2(conn: sqlite3.Connection) -> None:
    """Segment vectors float32 -> float16 (halves the database)."""
    rows = conn.execute("SELECT rowid, fused, timbre, harmony, rhythm FROM segments").fetchall()
    conn.executemany(
        "UPDATE segments SET fused = ?, timbre = ?, harmony = ?, rhythm = ? WHERE rowid = ?",
        [(*(np.frombuffer(b, "<f4").astype("<f2").tobytes() for b in r[1:]), r[0])
         for r in rows])


#: Failures keep when they were last tried and whether trying again may help; failures
#: recorded before this step were never retried, so each is tried once more.
_MIGRATION_3 = """
ALTER TABLE tracks ADD COLUMN tried REAL;
ALTER TABLE tracks ADD COLUMN retry INTEGER NOT NULL DEFAULT 0;
UPDATE tracks SET tried = updated, retry = 1 WHERE status = 'error'
"""

_MIGRATION_4 = """
-- dense segment vectors (engine/dense.py)

CREATE TABLE IF NOT EXISTS dense_codecs (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    dim INTEGER NOT NULL,
    params BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dense_segments (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    codec INTEGER NOT NULL DEFAULT 0,
    n INTEGER NOT NULL,
    starts BLOB NOT NULL,
    vectors BLOB NOT NULL
);
INSERT OR IGNORE INTO meta VALUES ('dense_format', '1')
"""


#: Alignment prints (engine/locate.py): where an excerpt lies in a track, found without
#: decoding it. Tracks analysed before this step have none and are aligned by decoding
#: (nothing is re-analysed); each gets its print when it is next analysed.
_MIGRATION_5 = """
CREATE TABLE IF NOT EXISTS align_prints (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    format INTEGER NOT NULL,
    frame REAL NOT NULL,
    bands INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL
)
"""


#: Version prints (engine/versions.py): a track's harmonies over time, which another
#: version of the piece plays too. Tracks analysed before this step get theirs from the
#: next scan, which decodes them for their prints alone (nothing is re-embedded).
_MIGRATION_6 = """
CREATE TABLE IF NOT EXISTS version_prints (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    format INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL
)
"""


#: Numbered schema steps; step ``n`` brings the schema from version ``n - 1`` to ``n``:
#: SQL text, or a function of the connection for steps that transform data.
MIGRATIONS: dict[int, str | Callable[[sqlite3.Connection], None]] = {
    1: _MIGRATION_1, 2: _migration_2, 3: _MIGRATION_3, 4: _MIGRATION_4, 5: _MIGRATION_5,
    6: _MIGRATION_6}

#: The modalities: the model's branch outputs, the app's sliders and match colours.
BRANCH_NAMES = ("timbre", "harmony", "rhythm")
#: The stored vectors of a segment or track: the fused embedding and one per modality.
VECTOR_COLUMNS = ("fused", *BRANCH_NAMES)

#: A track analysed (by some model: queries of one model add ``AND t.fingerprint = ?``).
ANALYSED = "t.status = 'ok'"
#: The one definition of a searchable track: analysed and its file present.
#: ``searchable_join(alias)`` joins ``tracks t`` and ``path_state p`` to a table whose
#: ``track_id`` column is ``alias.track_id``; queries of one model add
#: ``AND t.fingerprint = ?``.
SEARCHABLE = f"{ANALYSED} AND p.state = 'present'"


def searchable_join(alias: str) -> str:
    """``JOIN`` clauses that bring ``tracks t`` and ``path_state p`` to ``alias``'s rows."""
    return (f"JOIN tracks t ON t.id = {alias}.track_id "
            "JOIN path_state p ON p.track_id = t.id")


#: ``FROM`` and ``WHERE`` of the track vectors of searchable tracks of model ``?``.
_SEARCHABLE_VECTORS = (f"FROM track_vectors v {searchable_join('v')} "
                       f"WHERE {SEARCHABLE} AND t.fingerprint = ?")


#: Track vectors are stored as float32; segment vectors as float16 (half the database;
#: cosine similarities move by about 1e-3, below what ranking can notice).
TRACK_DTYPE = "<f4"
SEGMENT_DTYPE = "<f2"


def to_blob(vector: np.ndarray, dtype: str = TRACK_DTYPE) -> bytes:
    """A vector as little-endian bytes of ``dtype``."""
    return np.ascontiguousarray(vector, dtype=dtype).tobytes()


def from_blob(blob: bytes, dtype: str = TRACK_DTYPE) -> np.ndarray:
    """Inverse of :func:`to_blob` (a read-only view, of ``dtype``)."""
    return np.frombuffer(blob, dtype=dtype)


#: Room a write needs on the database's disk: the write-ahead log grows by a commit
#: batch and SQLite checkpoints it every 1000 pages (4 MB); leave it ample margin.
DB_HEADROOM = 64 * (1 << 20)


def _access_error(action: str, path: Path, exc: BaseException) -> StoreAccessError:
    from engine.space import is_no_space, no_space_error

    if is_no_space(exc):
        return no_space_error(path.parent, DB_HEADROOM)
    detail = getattr(exc, "strerror", None) or str(exc)
    hint = ""
    if "readonly" in detail:
        return StoreAccessError(f"the library database {str(path)!r} is read-only (read-only "
                                "media or permissions): it can be searched but not changed")
    if "locked" in detail or "busy" in detail:
        hint = " (another Resonance process is writing; try again when it is done)"
    elif "readonly" in detail or "permission" in detail.lower():
        hint = " (check the folder's permissions or pass --library PATH)"
    elif "malformed" in detail or "not a database" in detail:
        hint = " (the database is damaged; restore a backup or start a new library)"
    return StoreAccessError(f"cannot {action} library database {str(path)!r}: {detail}{hint}")


class Store:
    """A library database, with one SQLite connection per thread.

    Parameters
    ----------
    path : the database file (created with its folder if missing)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        #: opened read-only (read-only media or permissions): queries work, writes fail
        self.read_only = self.path.is_file() and not (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _access_error("create", self.path, exc) from None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and transactions ------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise _access_error("open", self.path, exc) from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        # Without its -wal and -shm files (closed cleanly) a WAL database on read-only
        # media opens only as immutable; with them, as an ordinary read-only reader.
        wal = all(Path(f"{self.path}{s}").exists() for s in ("-wal", "-shm"))
        uri = f"{self.path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"
        return sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None,
                               check_same_thread=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested ones join the outermost, which commits."""
        conn = self.connection()
        outer = self._local.depth == 0
        try:
            if outer:
                conn.execute("BEGIN IMMEDIATE")
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            if outer:
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                             "WHERE key = 'revision'")
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if outer and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _access_error("write", self.path, exc) from None
        except BaseException:
            if outer and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the database: the one of the first read,
        whatever other processes commit meanwhile (a scan in another process). Joins a
        transaction under way; nothing may be written inside."""
        conn = self.connection()
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise _access_error("read", self.path, exc) from None
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):  # no transaction left: nothing to end
                conn.execute("COMMIT")  # ends the read; nothing was written

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _access_error("read", self.path, exc) from None

    def mutate(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own (or the current) transaction."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- schema ----------------------------------------------------------------------
    def _migrate(self) -> None:
        conn = self.connection()
        try:
            if not self.read_only:
                conn.execute("CREATE TABLE IF NOT EXISTS migrations "
                             "(version INTEGER PRIMARY KEY, applied REAL NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM migrations").fetchone()
        except sqlite3.Error as exc:
            raise _access_error("open", self.path, exc) from None
        current = int(row[0] or 0)
        if current > SCHEMA_VERSION:
            raise StoreAccessError(f"library {str(self.path)!r} was written by a newer "
                                   f"Resonance (schema {current}); please update")
        pending = [v for v in sorted(MIGRATIONS) if v > current]
        if pending and self.read_only:
            raise StoreAccessError(f"library {str(self.path)!r} needs an upgrade but is "
                                   "read-only; open it once where it can be written")
        if pending and current > 0:
            self.backup(self.path.with_suffix(f".v{current}.bak"))
        for version in pending:
            self._apply(conn, version)

    def _apply(self, conn: sqlite3.Connection, version: int) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            step = MIGRATIONS[version]
            if callable(step):
                step(conn)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version == 1:
                conn.execute("INSERT INTO meta VALUES ('revision', '0')")
            conn.execute("INSERT INTO migrations VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _access_error("upgrade", self.path, exc) from None

    @property
    def schema_version(self) -> int:
        """The highest migration applied."""
        return int(self.query("SELECT MAX(version) FROM migrations")[0][0] or 0)

    def backup(self, target: str | Path) -> Path:
        """Copy the live database to ``target`` with SQLite's online backup."""
        target = Path(target)
        try:
            with contextlib.closing(sqlite3.connect(str(target))) as dest:
                self.connection().backup(dest)
        except sqlite3.Error as exc:
            raise _access_error("back up", self.path, exc) from None
        return target

    # -- meta ------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        """Counter bumped by every committed write transaction."""
        return int(self.get_meta("revision") or 0)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``meta`` table."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        self.mutate("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                    "SET value = excluded.value", (key, value))

    # -- roots -----------------------------------------------------------------------
    def roots(self) -> list[tuple[int, Path]]:
        """``(root id, path)`` of every library folder."""
        return [(int(r["id"]), Path(r["path"]))
                for r in self.query("SELECT id, path FROM roots ORDER BY path")]

    def add_root(self, path: str | Path) -> int:
        """Register a library folder (idempotent) and return its id."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO roots (path, added) VALUES (?, ?)",
                         (str(path), time.time()))
            return int(conn.execute("SELECT id FROM roots WHERE path = ?",
                                    (str(path),)).fetchone()[0])

    def remove_root(self, path: str | Path) -> None:
        """Forget a library folder and every track under it."""
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM roots WHERE path = ?", (str(path),)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM tracks WHERE root_id = ?", (row[0],))
                conn.execute("DELETE FROM roots WHERE id = ?", (row[0],))

    # -- vectors ---------------------------------------------------------------------
    def vector_matrix(self, *, fingerprint: str,
                      column: str = "fused") -> tuple[np.ndarray, np.ndarray]:
        """Ids and stacked track vectors of the searchable tracks of model ``fingerprint``.

        Returns
        -------
        ids : np.ndarray [shape=(n,), dtype=int64], track ids
        vectors : np.ndarray [shape=(n, dim), dtype=float32]
        """
        if column not in VECTOR_COLUMNS:
            raise ValueError(f"unknown vector column {column!r}")
        rows = self.query(f"SELECT v.track_id AS k, v.{column} AS vec {_SEARCHABLE_VECTORS} "
                          "ORDER BY k", (fingerprint,))
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), np.float32)
        return ids, np.stack([from_blob(r[1], TRACK_DTYPE) for r in rows]).astype(np.float32)

    def searchable_track_ids(self, fingerprint: str) -> np.ndarray:
        """Ids ``(n,)`` int64 of the searchable tracks with vectors of model ``fingerprint``."""
        rows = self.query(f"SELECT v.track_id {_SEARCHABLE_VECTORS}", (fingerprint,))
        return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))

    def searchable_count(self, fingerprint: str) -> int:
        """How many tracks :meth:`searchable_track_ids` holds."""
        return int(self.query(f"SELECT COUNT(*) {_SEARCHABLE_VECTORS}", (fingerprint,))[0][0])

    def track_vectors(self, track_id: int, *, fingerprint: str) -> dict[str, np.ndarray] | None:
        """The track-level vectors ``(dim,)`` per column of a track analysed with model
        ``fingerprint`` (searchable or not: its file may be gone); None when it is not."""
        rows = self.query(f"SELECT {', '.join(VECTOR_COLUMNS)} FROM track_vectors v "
                          f"JOIN tracks t ON t.id = v.track_id "
                          f"WHERE t.id = ? AND {ANALYSED} AND t.fingerprint = ?",
                          (int(track_id), fingerprint))
        if not rows:
            return None
        return {c: from_blob(rows[0][c], TRACK_DTYPE).copy() for c in VECTOR_COLUMNS}

    def segment_vectors(self, track_ids: Sequence[int], *,
                        columns: Sequence[str] = VECTOR_COLUMNS
                        ) -> dict[int, dict[str, np.ndarray]]:
        """Per track: ``starts`` ``(n,)`` and each asked vector column ``(n, dim)``."""
        if any(c not in VECTOR_COLUMNS for c in columns):
            raise ValueError(f"unknown vector columns {columns!r}")
        out: dict[int, dict[str, list[Any]]] = {}
        for chunk_start in range(0, len(track_ids), 500):
            chunk = [int(t) for t in track_ids[chunk_start:chunk_start + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self.query(f"SELECT track_id, start, {', '.join(columns)} FROM segments "
                              f"WHERE track_id IN ({marks}) ORDER BY track_id, seg", chunk)
            for r in rows:
                entry = out.setdefault(int(r[0]), {c: [] for c in ("starts", *columns)})
                entry["starts"].append(float(r[1]))
                for i, c in enumerate(columns):
                    entry[c].append(from_blob(r[2 + i], SEGMENT_DTYPE))
        return {tid: {k: np.asarray(v, dtype=np.float32) for k, v in cols.items()}
                for tid, cols in out.items()}

    # -- dense segments and alignment prints (SQL text: the section below the class) --
    def dense_rows(self, fingerprint: str, *, track_ids: Sequence[int] | None = None,
                   after: int | None = None, limit: int | None = None,
                   raw_only: bool = False) -> list[sqlite3.Row]:
        """Dense rows (``track_id, codec, n, starts, vectors``) of searchable tracks of
        model ``fingerprint``: of ``track_ids``, or by track id after ``after`` (at most
        ``limit``), or only the float16 ones (``raw_only``)."""
        sql, params = "SELECT d.* " + _DENSE_SEARCHABLE, list[object]([fingerprint])
        if track_ids is not None:
            sql += f" AND d.track_id IN ({','.join('?' * len(track_ids))})"
            params += [int(t) for t in track_ids]
        if raw_only:
            sql += " AND d.codec = 0"
        if after is not None:
            sql += " AND d.track_id > ? ORDER BY d.track_id"
            params.append(int(after))
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self.query(sql, params)

    def dense_counts(self, fingerprint: str, *, raw_only: bool = False) -> list[tuple[int, int]]:
        """``(track id, dense segments)`` of searchable tracks of model ``fingerprint``."""
        rows = self.query("SELECT d.track_id, d.n " + _DENSE_SEARCHABLE
                          + (" AND d.codec = 0" if raw_only else ""), (fingerprint,))
        return [(int(r[0]), int(r[1])) for r in rows]

    def sparse_only_segments(self, fingerprint: str, *,
                             vectors: bool = False) -> list[tuple[int, int, bytes | None]]:
        """``(track id, segment number, fused blob or None)`` of the stored segments of
        searchable tracks of model ``fingerprint`` that have no dense row (analysed
        before dense segments existed)."""
        rows = self.query(f"SELECT s.track_id, s.seg{', s.fused' if vectors else ''} "
                          + _SPARSE_ONLY, (fingerprint,))
        return [(int(r[0]), int(r[1]), r[2] if vectors else None) for r in rows]

    def align_prints(self, track_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """Alignment print rows (``format, frame, bands, n, data``) of ``track_ids``."""
        out: dict[int, sqlite3.Row] = {}
        for i in range(0, len(track_ids), 500):
            chunk = [int(t) for t in track_ids[i:i + 500]]
            for row in self.query("SELECT * FROM align_prints WHERE track_id IN "
                                  f"({','.join('?' * len(chunk))})", chunk):
                out[int(row["track_id"])] = row
        return out

    def version_prints(self, track_ids: Sequence[int]) -> list[np.ndarray | None]:
        """The version prints ``(12, n)`` uint8 of ``track_ids``, in their order (None:
        the track has none)."""
        found: dict[int, np.ndarray] = {}
        for i in range(0, len(track_ids), 500):
            chunk = [int(t) for t in track_ids[i:i + 500]]
            for row in self.query("SELECT track_id, n, data FROM version_prints WHERE "
                                  f"track_id IN ({','.join('?' * len(chunk))})", chunk):
                found[int(row[0])] = np.frombuffer(row[2], np.uint8).reshape(12, int(row[1]))
        return [found.get(int(t)) for t in track_ids]


# -- dense segments, their codecs, alignment prints (engine/dense.py, engine/locate.py) --
_DENSE_SEARCHABLE = (f"FROM dense_segments d {searchable_join('d')} "
                     f"WHERE {SEARCHABLE} AND t.fingerprint = ?")
#: Stored segments of searchable tracks of one model that have no dense row.
_SPARSE_ONLY = (f"FROM segments s {searchable_join('s')} WHERE {SEARCHABLE} "
                "AND t.fingerprint = ? AND NOT EXISTS "
                "(SELECT 1 FROM dense_segments d WHERE d.track_id = s.track_id)")


def dense_codec_row(source: Store | sqlite3.Connection,
                    fingerprint: str) -> sqlite3.Row | tuple[Any, ...] | None:
    """``(id, dim, params)`` of the newest dense codec of model ``fingerprint``."""
    sql = ("SELECT id, dim, params FROM dense_codecs WHERE fingerprint = ? "
           "ORDER BY id DESC LIMIT 1")
    rows = (source.query(sql, (fingerprint,)) if isinstance(source, Store)
            else source.execute(sql, (fingerprint,)).fetchall())
    return rows[0] if rows else None


def replace_dense_codec(conn: sqlite3.Connection, *, fingerprint: str, kind: str, dim: int,
                        params: bytes) -> int:
    """Record the codec of model ``fingerprint`` (other models' codecs go); its id."""
    conn.execute("DELETE FROM dense_codecs WHERE fingerprint != ?", (fingerprint,))
    cur = conn.execute("INSERT INTO dense_codecs (fingerprint, kind, dim, params, created) "
                       "VALUES (?, ?, ?, ?, ?)", (fingerprint, kind, dim, params, time.time()))
    return int(cur.lastrowid or 0)


def write_dense_row(conn: sqlite3.Connection, track_id: int, *, codec: int, n: int,
                    starts: bytes, vectors: bytes) -> None:
    """Store (replace) one track's dense row."""
    conn.execute("INSERT OR REPLACE INTO dense_segments VALUES (?, ?, ?, ?, ?)",
                 (int(track_id), int(codec), int(n), starts, vectors))


def write_version_print(conn: sqlite3.Connection, track_id: int, *, fmt: int,
                        codes: np.ndarray) -> None:
    """Store (replace) one track's version print ``(12, n)`` uint8."""
    conn.execute("INSERT OR REPLACE INTO version_prints VALUES (?, ?, ?, ?)",
                 (int(track_id), int(fmt), int(codes.shape[1]),
                  np.ascontiguousarray(codes, np.uint8).tobytes()))


def write_align_print(conn: sqlite3.Connection, track_id: int, *, fmt: int, frame: float,
                      codes: np.ndarray) -> None:
    """Store (replace) one track's alignment print ``(bands, n)`` uint8."""
    conn.execute("INSERT OR REPLACE INTO align_prints VALUES (?, ?, ?, ?, ?, ?)",
                 (int(track_id), int(fmt), float(frame), int(codes.shape[0]),
                  int(codes.shape[1]), np.ascontiguousarray(codes, np.uint8).tobytes()))

