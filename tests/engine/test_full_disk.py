"""Full disks and read-only media: one line saying how much to free, no temporary folders
left behind, and a library that stays usable (read-only: still queryable)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from engine import index as index_mod
from engine.cli import main
from engine.errors import StoreAccessError
from engine.library import Library
from engine.store import Store
from tests.model_factory import build_model, write_music


@pytest.fixture
def scanned(tmp_path):
    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 5, seconds=8)
    lib = ["--library", str(tmp_path / "lib"), "--model", str(model)]
    assert main(["scan", str(tmp_path / "music"), "--workers", "0", "--quiet", *lib]) == 0
    return tmp_path, model, lib


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*tmp*"))


def test_a_full_disk_while_writing_the_catalog(scanned, monkeypatch, capsys, caplog):
    root, _model, lib = scanned
    real_write = index_mod.VectorIndex.write

    def write(self, path):  # the disk fills up half-way through the file
        real_write(self, path)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    write_music(root / "music", 1, seconds=8, first_seed=50)
    monkeypatch.setattr(index_mod.VectorIndex, "write", write)
    capsys.readouterr()
    assert main(["scan", "--workers", "0", "--quiet", *lib]) == 0
    err = capsys.readouterr().err + caplog.text
    assert "no space left on the disk" in err and "MB and run again" in err
    assert leftovers(root / "lib") == []
    capsys.readouterr()
    assert main(["similar", "1", "--json", "-k", "5", *lib]) == 0  # searches from memory
    assert len(json.loads(capsys.readouterr().out)["results"]) == 5
    monkeypatch.setattr(index_mod.VectorIndex, "write", real_write)
    assert main(["status", *lib]) == 0 and "6 searchable" in capsys.readouterr().out


def test_a_full_disk_while_writing_the_database(scanned, monkeypatch, capsys):
    root, model, lib = scanned
    real_connection = Store.connection

    def connection(self):  # the database file may not grow any more: SQLITE_FULL
        conn = real_connection(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    write_music(root / "more", 12, seconds=8, first_seed=60)
    monkeypatch.setattr(Store, "connection", connection)
    capsys.readouterr()
    assert main(["scan", str(root / "more"), "--workers", "0", "--quiet", *lib]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error: no space left on the disk") and "MB and run" in err
    assert err.count("\n") == 1
    monkeypatch.setattr(Store, "connection", real_connection)
    assert leftovers(root / "lib") == []
    assert main(["scan", "--workers", "0", "--quiet", *lib]) == 0  # space freed: resumes
    with Library.open(root / "lib", model_dir=model) as library:
        assert library.count() == 17


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` on read-only media: a read-only bind mount where the tests may mount
    (root), else its write permissions removed (which binds every other user)."""
    if os.geteuid() == 0:
        try:
            subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            pytest.skip("running as root without permission to mount")
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True,
                           capture_output=True)
            yield
        finally:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def test_a_library_on_read_only_media_can_be_queried(scanned, capsys):
    root, _model, lib = scanned
    assert main(["similar", "1", "-k", "2", *lib]) == 0  # catalog current
    with read_only(root / "lib"):
        capsys.readouterr()
        assert main(["status", *lib]) == 0
        assert "5 searchable" in capsys.readouterr().out
        assert main(["similar", "1", "--json", "-k", "3", *lib]) == 0
        assert len(json.loads(capsys.readouterr().out)["results"]) == 3
        assert main(["scan", "--workers", "0", "--quiet", *lib]) == 1
        err = capsys.readouterr().err
        assert "read-only" in err and err.count("\n") == 1
    with pytest.raises(StoreAccessError), read_only(root / "lib"):
        Store(root / "lib" / "library.db").set_meta("x", "y")


def test_a_full_disk_while_exporting_a_playlist_keeps_the_old_file(scanned, monkeypatch,
                                                                    capsys):
    import builtins

    root, _model, lib = scanned
    out = root / "mix.m3u8"
    assert main(["playlist", "1", "--out", str(out), "-k", "2", *lib]) == 0
    before = out.read_bytes()
    real_open = builtins.open

    class FullFile:  # every write hits a full disk
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return FullFile(f) if "w" in mode and "mix.m3u8" in str(file) else f

    monkeypatch.setattr(builtins, "open", full_open)
    capsys.readouterr()
    assert main(["playlist", "2", "--out", str(out), "-k", "4", *lib]) == 1
    monkeypatch.setattr(builtins, "open", real_open)
    err = capsys.readouterr().err
    assert "no space left on the disk" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert sorted(p.name for p in root.iterdir() if "tmp" in p.name) == []


def test_a_full_disk_while_writing_features(tmp_path, monkeypatch, capsys):
    import numpy as np

    song = write_music(tmp_path / "music", 1, seconds=6)[0]
    real_savez = np.savez_compressed

    def savez(target, **arrays):  # half the file, then the disk is full
        real_savez(target, **arrays)
        with open(target, "r+b") as f:
            f.truncate(os.path.getsize(target) // 2)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", savez)
    capsys.readouterr()
    assert main(["features", str(song), "--no-hpss", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error: no space left on the disk") and err.count("\n") == 1
    assert list((tmp_path / "out").iterdir()) == []
