"""Failed files: transient causes are retried by the next scan, permanent ones when the
file changes; ``status`` says why each failed and when it was last tried."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from engine import audio
from engine.cli import main
from engine.library import Library
from tests.model_factory import build_model, write_music


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_model(tmp_path_factory.mktemp("model"))


def analysed(progress) -> int:
    return next(p.total for p in progress if p.stage == "analyse")


def honour_mode_bits(monkeypatch) -> None:
    """Tests run as root, whom chmod 000 does not stop: make ``os.access`` answer as the
    kernel does for an ordinary user (only the mode bits count)."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        if os.geteuid() == 0 and mode & os.R_OK:
            return bool(os.stat(path).st_mode & stat.S_IRUSR)
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(audio.os, "access", access)


def test_failures_are_retried_when_the_cause_goes_away(tmp_path, model_dir, monkeypatch,
                                                        capsys):
    honour_mode_bits(monkeypatch)
    music = tmp_path / "music"
    write_music(music, 2, seconds=6)
    locked = write_music(music, 1, seconds=6, first_seed=5)[0]
    locked.chmod(0)
    junk = music / "junk.mp3"
    junk.write_bytes(os.urandom(3000))
    lib_args = ["--library", str(tmp_path / "lib"), "--model", str(model_dir)]
    before = time.time()
    with Library.open(tmp_path / "lib", model_dir=model_dir) as lib:
        assert analysed(list(lib.scan([music], workers=0))) == 4
        errors = {e.path.name: e for e in lib.errors()}
        assert errors[locked.name].reason == "permission denied" and errors[locked.name].retry
        assert not errors["junk.mp3"].retry
        assert all(e.tried >= before for e in errors.values())

        capsys.readouterr()
        assert main(["status", "--json", *lib_args]) == 0
        listed = {os.path.basename(e["path"]): e for e in json.loads(capsys.readouterr().out)
                  ["errors"]}
        assert listed[locked.name]["retry"] is True and listed[locked.name]["tried"] >= before
        assert main(["status", *lib_args]) == 0
        text = capsys.readouterr().out
        assert "permission denied (last tried " in text and "tried again by the next scan" in text

        locked.chmod(0o644)  # the user fixes the cause
        assert analysed(list(lib.scan(workers=0))) == 1  # the junk file is not retried
        assert lib.count() == 3 and [e.path.name for e in lib.errors()] == ["junk.mp3"]

        st = junk.stat()  # same size and mtime, other bytes: tried again
        junk.write_bytes(os.urandom(3000))
        os.utime(junk, ns=(st.st_atime_ns, st.st_mtime_ns))
        tried = lib.errors()[0].tried
        assert analysed(list(lib.scan(workers=0))) == 1
        assert lib.errors()[0].tried > tried
        assert analysed(list(lib.scan(workers=0))) == 0  # unchanged: left alone



def test_failures_recorded_before_the_upgrade_are_tried_once_more(tmp_path, monkeypatch):
    from engine import records
    from engine import store as store_mod

    path = tmp_path / "library.db"
    with monkeypatch.context() as m:  # a version-2 library: failures were never retried
        m.setattr(store_mod, "MIGRATIONS", {v: store_mod.MIGRATIONS[v] for v in (1, 2)})
        m.setattr(store_mod, "SCHEMA_VERSION", 2)
        old = store_mod.Store(path)
        with old.transaction() as conn:
            tid = records.insert_pending(conn, path="/m/a.flac", root_id=old.add_root("/m"),
                                         size=1, mtime=1.0)
            conn.execute("UPDATE tracks SET status = 'error', error = 'permission denied' "
                         "WHERE id = ?", (tid,))
        old.close()
    new = store_mod.Store(path)
    (error,) = records.scan_errors(new)
    assert error.retry and error.tried is not None
    new.close()


def test_a_file_replaced_during_its_analysis_is_analysed_again(tmp_path, model_dir,
                                                               monkeypatch):
    import numpy as np

    from tests.audio_factory import song, write_audio

    music = tmp_path / "music"
    music.mkdir()
    target = write_audio(music / "track.wav", song(1, 8, sr=16000), sr=16000)
    other = write_audio(tmp_path / "other.wav", song(2, 8, sr=16000), sr=16000)
    assert other.stat().st_size == target.stat().st_size
    real_stream = audio.stream_audio

    def stream_then_replace(path, **kwargs):  # decoded, then swapped under the scan
        yield from real_stream(path, **kwargs)
        if other.exists():
            st = os.stat(path)
            os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime
            os.replace(other, path)

    monkeypatch.setattr(audio, "stream_audio", stream_then_replace)
    with Library.open(tmp_path / "lib", model_dir=model_dir) as lib:
        list(lib.scan([music], workers=0))
        assert analysed(list(lib.scan(workers=0))) == 1  # what was decoded is not on disk
        stored = lib.store.query("SELECT fused FROM track_vectors")[0][0]
    with Library.open(tmp_path / "clean", model_dir=model_dir) as clean:
        list(clean.scan([music], workers=0))
        expected = clean.store.query("SELECT fused FROM track_vectors")[0][0]
    np.testing.assert_allclose(np.frombuffer(stored, "<f4"), np.frombuffer(expected, "<f4"),
                               atol=1e-6)
