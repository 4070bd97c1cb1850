"""The library database: schema, migrations, transactions, errors, threads."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from engine import records
from engine import store as store_mod
from engine.errors import StoreAccessError
from engine.store import Store, from_blob, to_blob


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "lib" / "library.db")
    yield s
    s.close()


def test_new_database_is_at_current_schema_in_wal_mode(store):
    assert store.schema_version == store_mod.SCHEMA_VERSION
    mode = store.connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"
    tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"tracks", "roots", "segments", "track_vectors", "path_state", "playlists",
            "playlist_items", "meta", "migrations"} <= tables


def test_transaction_commits_once_and_bumps_revision(store):
    before = store.revision
    with store.transaction() as conn:
        records.insert_pending(conn, path="/a.flac", root_id=store.add_root("/"), size=1,
                               mtime=1.0)
        with store.transaction():  # nested: joins the outer one
            store.set_meta("k", "v")
    assert store.revision == before + 1  # add_root and set_meta joined the outer one
    assert store.get_meta("k") == "v"


def test_failed_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("x", "1")
        raise RuntimeError("boom")
    assert store.get_meta("x") is None


def test_sql_errors_become_store_access_errors(store):
    with pytest.raises(StoreAccessError, match="library database"):
        store.mutate("INSERT INTO no_such_table VALUES (1)")


def test_unwritable_location_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreAccessError, match="cannot create library database"):
        Store(blocker / "sub" / "library.db")


def test_damaged_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "library.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreAccessError, match=r"damaged|not a database"):
        Store(path)


def test_migration_backs_up_first_and_is_recorded(tmp_path, monkeypatch):
    path = tmp_path / "library.db"
    Store(path).close()
    current = store_mod.SCHEMA_VERSION
    monkeypatch.setitem(store_mod.MIGRATIONS, current + 1,
                        "ALTER TABLE tracks ADD COLUMN rating INTEGER")
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", current + 1)
    upgraded = Store(path)
    assert upgraded.schema_version == current + 1
    backup = path.with_suffix(f".v{current}.bak")
    assert backup.is_file()
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0] == current
    upgraded.query("SELECT rating FROM tracks")
    upgraded.close()


def test_migration_2_halves_segment_vectors_keeping_their_values(tmp_path, monkeypatch, rng):
    path = tmp_path / "library.db"
    with monkeypatch.context() as m:  # a version-1 library, as first released
        m.setattr(store_mod, "MIGRATIONS", {1: store_mod.MIGRATIONS[1]})
        m.setattr(store_mod, "SCHEMA_VERSION", 1)
        old = Store(path)
        vectors = rng.standard_normal((3, 4, 8)).astype(np.float32)
        with old.transaction() as conn:
            tid = records.insert_pending(conn, path="/a.flac", root_id=old.add_root("/"),
                                         size=1, mtime=1.0)
            conn.executemany("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(tid, i, 2.0 * i, *(v.tobytes() for v in vectors[i]))
                              for i in range(3)])
        old.close()
    new = Store(path)
    assert new.schema_version == store_mod.SCHEMA_VERSION
    assert path.with_suffix(".v1.bak").is_file()
    got = new.segment_vectors([tid])[tid]
    np.testing.assert_allclose(got["timbre"], vectors[:, 1], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(got["starts"], [0.0, 2.0, 4.0])
    new.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "library.db"
    s = Store(path)
    s.connection().execute("INSERT INTO migrations VALUES (99, 0)")
    s.close()
    with pytest.raises(StoreAccessError, match="newer Resonance"):
        Store(path)


def test_one_connection_per_thread(store):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(store.connection()))
    thread.start()
    thread.join()
    assert seen[0] is not store.connection()
    assert store.connection() is store.connection()


def test_blobs_round_trip(rng):
    v = rng.standard_normal(17).astype(np.float32)
    np.testing.assert_array_equal(from_blob(to_blob(v)), v)


def test_remove_root_forgets_its_tracks(store):
    root = store.add_root("/music")
    with store.transaction() as conn:
        records.insert_pending(conn, path="/music/a.flac", root_id=root, size=1, mtime=1.0)
    assert len(records.list_tracks(store)) == 1
    store.remove_root("/music")
    assert records.list_tracks(store) == []
    assert store.roots() == []
