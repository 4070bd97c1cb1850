"""The app on the real engine: a generated music folder, a tiny real ONNX model, real threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.library import Library
from tests.app.helpers import drag_and_drop, file_mime
from tests.audio_factory import song, write_audio, write_bad_files
from tests.model_factory import build_model, write_music

SR = 16000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def real_library(tmp_path: Path, model_dir: Path):
    lib = Library.open(tmp_path / "lib", model_dir=model_dir)
    yield lib
    lib.close()


@pytest.fixture
def music(tmp_path: Path) -> Path:
    folder = tmp_path / "music"
    write_music(folder, 8, seconds=10, sr=SR)
    write_bad_files(folder / "bad")
    for extra in ("_source.wav", "_source.flac"):
        (folder / "bad" / extra).unlink(missing_ok=True)
    return folder


def test_scan_search_rerank_record_play(qtbot, make_main_window, real_library, music,
                                        real_pools, prompts, fresh_settings, fake_audio,
                                        tmp_path: Path) -> None:
    fresh_settings.worker_count = 0  # analyse in-process: no process pool start-up in tests
    w = make_main_window(real_library, pools=real_pools, record_countdown=0)
    assert w.stack.currentWidget() is w.welcome
    prompts.folders.append(str(music))
    with qtbot.waitSignal(w.controller.scanFinished, timeout=60_000) as done:
        w.welcome.button.click()
    assert done.args == [False]
    qtbot.waitUntil(lambda: w.library_panel.model.rowCount() == 13, timeout=10_000)
    statuses = [t.status for t in w.controller.tracks]
    assert statuses.count("ok") == 8 and statuses.count("error") == 5
    assert w.library_label.text() == "8 tracks · 5 unreadable"
    qtbot.waitUntil(lambda: not w.scan_bar.errors_button.isHidden(), timeout=5000)
    w.actions_["errors"].trigger()
    assert w.errors_dialog.table.rowCount() >= 3

    track = next(t for t in w.controller.tracks if t.status == "ok")
    assert w.library_panel.select_track(track.id)
    with qtbot.waitSignal(w.session.resultsReady, timeout=30_000):
        w.library_panel.find_action.trigger()  # Library ▸ Find similar songs
    first = [r.track.id for r in w.results.model.rows()]
    assert first and track.id not in first
    assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for r in w.results.model.rows()
               for v in r.modalities.values())

    seed_before = w.session.seed
    with qtbot.waitSignal(w.session.resultsReady, timeout=10_000):
        w.controls.top_k.setValue(5)
    assert w.results.model.rowCount() == 5 and w.session.seed is seed_before
    w.results.view.selectRow(1)  # the strip draws the seed's similarity along this result
    qtbot.waitUntil(lambda: len(w.results.strip.profile) > 1, timeout=10_000)
    assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for _, _, s in w.results.strip.profile)

    outside = write_audio(tmp_path / "outside.flac", song(3, 9, sr=SR), sr=SR)
    with qtbot.waitSignal(w.session.resultsReady, timeout=30_000):
        assert drag_and_drop(w.seed_area, file_mime(outside))
    assert w.results.model.rowCount() == 5

    w.actions_["record"].trigger()
    w.record_dialog.length.setValue(5)
    w.record_dialog.record_button.click()
    y = song(5, 6, sr=44100)
    with qtbot.waitSignal(w.session.resultsReady, timeout=30_000):
        fake_audio.last.feed(y[:, None])
    assert "your recording" in w.seed_area.title.text()

    w.results.add_all.click()
    prompts.texts.append("E2E")
    w.playlist.save_button.click()
    qtbot.waitUntil(lambda: real_library.playlists() == ["E2E"], timeout=5000)
    out = tmp_path / "e2e.m3u8"
    prompts.save_files.append(str(out))
    w.playlist.export_button.click()
    qtbot.waitUntil(out.exists, timeout=5000)
    assert len([x for x in out.read_text().splitlines() if x and not x.startswith("#")]) == 5

    assert w.library_panel.select_track([t for t in w.controller.tracks
                                         if t.status == "ok"][1].id)
    w.library_panel.play_action.trigger()
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=10_000)
    qtbot.waitUntil(lambda: w.player.decoded_until >= 1.0, timeout=10_000)  # streamed
    fake_audio.last.pull(44100)
    assert w.player.position == pytest.approx(1.0)
    assert np.abs(np.concatenate(fake_audio.last.played)).max() > 0.01
    assert not prompts.errors, prompts.errors


def test_corrupt_seed_file_message(qtbot, make_main_window, real_library, music, real_pools,
                                   prompts, fresh_settings) -> None:
    fresh_settings.worker_count = 0
    real_library.add_root(music)
    w = make_main_window(real_library, pools=real_pools)
    bad = music / "bad" / "random.mp3"
    with qtbot.waitSignal(w.session.failed, timeout=30_000):
        drag_and_drop(w.seed_area, file_mime(bad))
    assert prompts.errors and bad.name in prompts.errors[-1]


@pytest.mark.slow  # scans, then lays out a map
def test_map_mixes_path_and_together_on_a_scanned_library(qtbot, make_main_window,
                                                          real_library, music, real_pools,
                                                          prompts, fresh_settings) -> None:
    fresh_settings.worker_count = 0
    real_library.add_root(music)
    for _ in real_library.scan(workers=0):
        pass
    w = make_main_window(real_library, pools=real_pools)
    qtbot.waitUntil(lambda: len(w.controller.tracks) == 13, timeout=10_000)
    ok = sorted(t.id for t in w.controller.tracks if t.status == "ok")
    assert len(ok) == 8

    w.actions_["map"].trigger()
    qtbot.waitUntil(lambda: w.map_panel.data is not None, timeout=60_000)
    assert sorted(w.map_panel.data.ids.tolist()) == ok  # every analysed track, once
    assert (real_library.folder / "map" / "layout.npz").is_file()  # cached by the engine
    assert len(w.map_panel.scatter.data) == 8

    w.actions_["mixes"].trigger()
    qtbot.waitUntil(lambda: w.mixes_panel.list.count() > 0, timeout=30_000)
    w.mixes_panel.count.setValue(3)
    w.mixes_panel.make.click()
    qtbot.waitUntil(lambda: len(w.mixes_panel.mixes) == 3, timeout=30_000)
    assert sorted(t for m in w.mixes_panel.mixes for t in m.track_ids) == ok

    tracks = {t.id: t for t in w.controller.tracks}
    with qtbot.waitSignal(w.session.resultsReady, timeout=30_000):
        w.seeds.from_track(tracks[ok[0]])
    prompts.numbers.append(3)
    w.library_panel.select_track(ok[-1])
    w.library_panel.path_action.trigger()
    qtbot.waitUntil(lambda: w.playlist.model.rowCount() > 0, timeout=10_000)
    ids = [t.id for t in w.playlist.model.rows()]
    assert ids[0] == ok[0] and ids[-1] == ok[-1] and len(set(ids)) == 3

    with qtbot.waitSignal(w.session.resultsReady, timeout=30_000):
        w.seeds.from_tracks([tracks[i] for i in ok[:3]])
    shown = [r.track.id for r in w.results.model.rows()]
    assert shown and not set(ok[:3]) & set(shown)
    assert not prompts.errors, prompts.errors


@pytest.mark.slow  # real scans through the app, a held lock and a full disk
def test_a_busy_library_and_a_full_disk_each_give_one_clear_message(
        qtbot, make_main_window, real_library, music, real_pools, prompts, fresh_settings,
        monkeypatch) -> None:
    import errno
    import os

    import filelock

    from engine.scanlock import scan_lock
    from engine.store import Store

    fresh_settings.worker_count = 0
    w = make_main_window(real_library, pools=real_pools)
    prompts.folders.append(str(music))
    # another process's scan, as far as the lock goes
    with scan_lock(real_library.folder), qtbot.waitSignal(w.controller.scanFailed,
                                                          timeout=30_000):
        w.welcome.button.click()
    assert prompts.messages == [(
        "error", "Scan not started",
        f"Another scan is running on the library {str(real_library.folder)!r}; wait for it "
        "to finish (or stop it) and scan again.")]
    assert w.scan_bar.isHidden()
    qtbot.waitUntil(lambda: not w.controller.scanning, timeout=2000)
    with qtbot.waitSignal(w.controller.scanFinished, timeout=60_000):
        w.actions_["rescan"].trigger()  # the other scan is over: this one runs
    assert len(prompts.messages) == 1

    real_connection = Store.connection

    def connection(self: Store):  # the database may not grow any more: SQLITE_FULL
        conn = real_connection(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    write_music(music / "more", 12, seconds=8, sr=SR, first_seed=60)
    monkeypatch.setattr(Store, "connection", connection)
    with qtbot.waitSignal(w.controller.scanFailed, timeout=60_000):
        w.actions_["rescan"].trigger()
    qtbot.wait(200)  # nothing else follows the one message
    assert len(prompts.messages) == 2, prompts.messages
    kind, title, text = prompts.messages[1]
    assert kind == "error" and title == "Scan stopped"
    assert "no space left on the disk" in text and "MB and run again" in text
    assert text.count("no space") == 1 and "\n" not in text
    monkeypatch.setattr(Store, "connection", real_connection)

    def read_only(self, *args, **kwargs):  # the library folder is on read-only media
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(filelock.FileLock, "acquire", read_only)
    qtbot.waitUntil(lambda: not w.controller.scanning, timeout=2000)
    with qtbot.waitSignal(w.controller.scanFailed, timeout=30_000):
        w.actions_["rescan"].trigger()
    assert prompts.messages[2:] == [(
        "error", "Scan not started",
        f"The library {str(real_library.folder)!r} is read-only (read-only media or "
        "permissions): it can be searched but not scanned.")]


def test_watcher_updates_wait_quietly_while_another_scan_holds_the_library(
        qtbot, make_main_window, real_library, real_pools, prompts, fresh_settings,
        tmp_path: Path) -> None:
    """Each folder change tries a scan; while another process scans, that shows once in
    the status bar (no dialog per attempt) and the update runs when the lock is free."""
    from engine.scanlock import scan_lock

    fresh_settings.worker_count = 0
    folder = tmp_path / "watched"
    write_music(folder, 1, seconds=4, sr=SR)
    real_library.add_root(folder)
    w = make_main_window(real_library, pools=real_pools)
    w.folders.watcher._timer.setInterval(50)
    w.folders.retry.setInterval(300)
    qtbot.waitUntil(lambda: str(folder) in w.folders.watcher.watched(), timeout=10_000)
    attempts: list[bool] = []
    w.controller.scanDeferred.connect(lambda _message, retry: attempts.append(retry))
    with scan_lock(real_library.folder):  # another process's scan, as far as the lock goes
        for i in range(3):
            n = len(attempts)
            (folder / f"note{i}.txt").write_text("x", encoding="utf-8")
            qtbot.waitUntil(lambda n=n: len(attempts) > n, timeout=10_000)
        qtbot.waitUntil(lambda: len(attempts) >= 5, timeout=10_000)  # retries, quietly too
        assert prompts.messages == []
        assert all(attempts) and w.scan_waiting.isVisible() and w.scan_bar.isHidden()
        assert "Another scan is running" in w.scan_waiting.toolTip()
        assert real_library.count() == 0
        with qtbot.waitSignal(w.controller.scanFailed, timeout=30_000):
            w.actions_["rescan"].trigger()  # one the user asks for still says why, in a box
        assert [m[1] for m in prompts.messages] == ["Scan not started"]
    with qtbot.waitSignal(w.controller.scanFinished, timeout=60_000):
        pass  # the waiting update runs once the other scan is over
    assert w.scan_waiting.isHidden() and len(prompts.messages) == 1
    qtbot.waitUntil(lambda: w.library_panel.model.rowCount() == 1, timeout=10_000)
    # watching turned off in Settings while an update waits: nothing waits any more
    with scan_lock(real_library.folder):
        (folder / "note9.txt").write_text("x", encoding="utf-8")
        qtbot.waitUntil(lambda: not w.scan_waiting.isHidden(), timeout=10_000)
        w.actions_["settings"].trigger()
        w.settings_dialog.watch.setChecked(False)
        assert w.scan_waiting.isHidden() and not w.folders.retry.isActive()
        w.settings_dialog.close()
    assert len(prompts.messages) == 1
