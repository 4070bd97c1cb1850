"""Watching the music folders triggers an incremental rescan."""

from __future__ import annotations

from pathlib import Path

from resonance_app.watcher import FolderWatcher, list_dirs
from tests.app.fakes import FakeLibrary, FakePool


def test_list_dirs_skips_hidden_and_caps(tmp_path: Path) -> None:
    for name in ("a", "a/b", ".hidden", "c"):
        (tmp_path / name).mkdir(parents=True)
    found = list_dirs([tmp_path], 100)
    assert str(tmp_path / "a" / "b") in found and not any(".hidden" in f for f in found)
    assert len(list_dirs([tmp_path], 2)) == 2


def test_change_in_a_subfolder_emits_once(qtbot, tmp_path: Path) -> None:
    (tmp_path / "album").mkdir()
    watcher = FolderWatcher(FakePool(), delay_ms=50)
    watcher.watch([tmp_path])
    assert str(tmp_path / "album") in watcher.watched()
    with qtbot.waitSignal(watcher.changed, timeout=5000):
        (tmp_path / "album" / "new.flac").write_bytes(b"x")
        (tmp_path / "album" / "other.flac").write_bytes(b"y")


def test_window_rescans_when_folders_change(qtbot, make_main_window, tmp_path: Path) -> None:
    lib = FakeLibrary(3)
    lib.add_root(tmp_path)
    w = make_main_window(lib)
    w.folders.watcher._timer.setInterval(50)
    assert str(tmp_path) in w.folders.watcher.watched()
    with qtbot.waitSignal(w.controller.scanFinished, timeout=5000):
        (tmp_path / "song.flac").write_bytes(b"x")
    assert [c[0] for c in lib.calls].count("scan") == 1
    w.folders.watcher.enabled = False  # the setting is off: changes start no timer
    w.folders.watcher._poke(str(tmp_path))
    assert not w.folders.watcher._timer.isActive()
