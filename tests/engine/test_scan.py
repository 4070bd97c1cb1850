"""Scanning a generated library: good and bad files, rescans, masking, model change."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from engine import audio, walk
from engine.errors import ParameterError
from engine.library import Library
from tests.audio_factory import song, write_audio, write_bad_files
from tests.model_factory import build_model, write_music


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def library(tmp_path, model_dir):
    lib = Library.open(tmp_path / "lib", model_dir=model_dir)
    yield lib
    lib.close()


def scan_all(lib, *roots, workers=0, **kw):
    return list(lib.scan(list(roots) or None, workers=workers, **kw))


def analysed_total(progress):
    return next(p.total for p in progress if p.stage == "analyse")


def vectors_by_path(lib):
    rows = lib.store.query("SELECT t.path, v.fused FROM tracks t JOIN track_vectors v "
                           "ON v.track_id = t.id")
    return {r[0]: np.frombuffer(r[1], "<f4") for r in rows}


def test_scan_keeps_good_files_and_records_bad_ones(tmp_path, library, monkeypatch):
    music = tmp_path / "music"
    good = write_music(music / "nested" / "deeper", 3, seconds=8)
    good.append(write_audio(music / "Ünïcødé 曲.ogg", song(7, 8, sr=16000), sr=16000))
    write_music(music / ".hidden_dir", 1, seconds=8)
    write_audio(music / ".hidden.flac", song(8, 8, sr=16000), sr=16000)
    bad = write_bad_files(music / "bad")
    (music / "bad" / "_source.wav").unlink()
    (music / "bad" / "_source.flac").unlink()
    locked = write_audio(music / "locked.flac", song(9, 8, sr=16000), sr=16000)
    locked.chmod(0)
    os.symlink(music / "nested", music / "nested" / "deeper" / "loop")
    os.symlink(good[0], music / "duplicate-link.flac")
    (music / "private").mkdir()
    real_access, real_scandir = os.access, walk.os.scandir

    def access(path, mode, *a, **k):  # tests run as root: simulate chmod 000
        return False if os.fspath(path) == str(locked) else real_access(path, mode, *a, **k)

    def scandir(path):
        if os.fspath(path).endswith("private"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(audio.os, "access", access)
    monkeypatch.setattr(walk.os, "scandir", scandir)
    progress = scan_all(library, music)
    assert progress[-1].stage == "done"
    paths = {t.path.name: t for t in library.tracks()}
    assert library.count() == len(good)
    assert {p.name for p in good} <= set(paths)
    assert ".hidden.flac" not in paths and "duplicate-link.flac" not in paths
    assert len(paths) == len(good) + len(bad) + 1  # locked; no duplicates via links
    reasons = {e.path.name: e.reason for e in library.errors()}
    assert reasons["empty.wav"] == "file is empty"
    assert reasons["locked.flac"] == "permission denied"
    for name in ("random.mp3", "notes.flac", "truncated.wav", "header_only.flac"):
        assert reasons[name]
    assert "cannot open folder" in reasons["private"]
    assert paths["Ünïcødé 曲.ogg"].status == "ok"
    assert progress[-1].errors == len(reasons)


def test_rescan_handles_add_modify_delete_move_and_touch(tmp_path, library):
    music = tmp_path / "music"
    files = write_music(music, 5, seconds=8)
    scan_all(library, music)
    before = {t.path.name: t.id for t in library.tracks()}
    old_vectors = vectors_by_path(library)
    files[0].unlink()                                          # delete
    (music / "moved").mkdir()
    moved = shutil.move(files[1], music / "moved" / "renamed.flac")  # move
    write_audio(files[2], song(42, 8, sr=16000), sr=16000)     # modify
    os.utime(files[3], (1e9, 1e9))                             # touch, same bytes
    write_music(music, 1, seconds=8, first_seed=50)            # add
    progress = scan_all(library)
    assert analysed_total(progress) == 2  # only the new and the modified file
    after = {t.path.name: t.id for t in library.tracks()}
    assert files[0].name not in after
    assert after["renamed.flac"] == before[files[1].name]
    assert after[files[2].name] == before[files[2].name]
    assert library.count() == 5
    new_vectors = vectors_by_path(library)
    assert not np.allclose(new_vectors[str(files[2])], old_vectors[str(files[2])])
    np.testing.assert_array_equal(new_vectors[str(moved)], old_vectors[str(files[1])])
    assert analysed_total(scan_all(library)) == 0  # nothing left to do


def test_unmounted_root_is_masked_not_deleted(tmp_path, library):
    music = tmp_path / "drive"
    write_music(music, 3, seconds=8)
    scan_all(library, music)
    music.rename(tmp_path / "elsewhere")
    scan_all(library)
    assert library.count() == 0 and library.tracks() == []
    assert library.stats()["masked"] == 3
    (tmp_path / "elsewhere").rename(music)
    progress = scan_all(library)
    assert analysed_total(progress) == 0
    assert library.count() == 3


def test_model_change_re_embeds_the_library(tmp_path, library):
    music = tmp_path / "music"
    write_music(music, 4, seconds=8)
    scan_all(library, music)
    old = vectors_by_path(library)
    seed = library.analyze_seed(library.tracks()[0].id)
    library.set_model(build_model(tmp_path / "model2", seed=1))
    with pytest.raises(Exception, match="another model"):
        library.search(seed)
    with pytest.raises(ParameterError, match="not been analysed with the current model"):
        library.analyze_seed(library.tracks()[0].id)
    stats = library.stats()  # right after the switch, before any scan
    assert library.count() == stats["ok"] == 0 and stats["pending"] == 4
    list(library.scan(workers=0, should_stop=lambda: True))  # stopped before any file
    stats = library.stats()
    assert library.count() == stats["ok"] == 0 and stats["pending"] == 4
    progress = scan_all(library)
    assert analysed_total(progress) == 4
    assert library.count() == library.stats()["ok"] == 4
    new = vectors_by_path(library)
    assert all(not np.allclose(new[p], old[p]) for p in old)
    fingerprints = {r[0] for r in library.store.query("SELECT fingerprint FROM tracks")}
    assert fingerprints == {library.embedder.fingerprint}
    results = library.search(library.analyze_seed(library.tracks()[0].id))
    assert len(results) == 3


def test_cancelled_scan_keeps_its_work_and_resumes(tmp_path, library):
    music = tmp_path / "music"
    write_music(music, 6, seconds=8)
    seen = []
    for p in library.scan([music], workers=0, should_stop=lambda: len(seen) >= 3):
        if p.stage == "analyse" and p.done:
            seen.append(p)
        last = p
    assert last.stage == "cancelled"
    assert library.count() == 3
    progress = scan_all(library)
    assert analysed_total(progress) == 3
    assert library.count() == 6


@pytest.mark.slow
def test_parallel_workers_give_the_same_catalog(tmp_path, model_dir, library):
    music = tmp_path / "music"
    write_music(music, 4, seconds=8)
    scan_all(library, music, workers=0)
    with Library.open(tmp_path / "lib2", model_dir=model_dir) as other:
        progress = scan_all(other, music, workers=2)
        assert progress[-1].stage == "done" and progress[-2].stage == "index"
        rates = [p.rate for p in progress if p.stage == "analyse" and p.done]
        assert all(r > 0 for r in rates)
        a, b = vectors_by_path(library), vectors_by_path(other)
    assert a.keys() == b.keys()
    for path in a:
        np.testing.assert_allclose(a[path], b[path], atol=1e-6)


def test_workers_that_cannot_start_give_a_clear_error(tmp_path, model_dir):
    import shutil as sh

    from engine.errors import ResonanceError

    music = tmp_path / "music"
    write_music(music, 2, seconds=6)
    moved = sh.copytree(model_dir, tmp_path / "model-copy")
    with Library.open(tmp_path / "lib", model_dir=moved) as lib:
        lib.embedder.check()  # loaded here, then gone before the workers start
        sh.rmtree(moved)
        with pytest.raises(ResonanceError, match="could not start"):
            scan_all(lib, music, workers=2)
        assert lib.errors() == []  # no file blamed for it
