"""The main window's flows with the scripted library and synchronous pools."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt

from resonance_app.audio_io import FakeAudioBackend
from resonance_app.models import TRACK_MIME, track_ids_from_mime
from tests.app.fakes import FakeLibrary
from tests.app.helpers import choose, context_menu, double_click, drag_and_drop, file_mime
from tests.audio_factory import song, write_audio


def test_first_run_shows_welcome_then_scans(make_main_window, prompts) -> None:
    lib = FakeLibrary(12, bad_files=("broken.mp3",))
    w = make_main_window(lib)
    assert w.stack.currentWidget() is w.welcome
    progress = []
    w.controller.scanProgress.connect(progress.append)
    prompts.folders.append("/music")
    w.welcome.button.click()
    assert w.stack.currentWidget() is w.main_page
    assert lib.roots() == [Path("/music")]
    assert [p.done for p in progress][-1] == 13 and progress[-1].total == 13
    assert w.library_panel.model.rowCount() == 12
    assert "12 tracks" in w.library_label.text()
    assert w.scan_bar.isHidden()
    assert not w.scan_bar.errors_button.isHidden()
    w.actions_["errors"].trigger()
    assert w.errors_dialog.table.rowCount() == 1
    assert w.errors_dialog.table.item(0, 1).text() == "file is empty"


def test_scan_progress_and_cancel_with_real_threads(qtbot, make_main_window, real_pools,
                                                    prompts) -> None:
    gate = threading.Semaphore(0)
    lib = FakeLibrary(200, scan_gate=gate)
    w = make_main_window(lib, pools=real_pools)
    prompts.folders.append("/music")
    w.welcome.button.click()
    qtbot.waitUntil(w.scan_bar.isVisible, timeout=5000)
    gate.release(5)  # let five files through, then hold the scan
    qtbot.waitUntil(lambda: w.scan_bar.progress.value() == 5, timeout=5000)
    assert w.scan_bar.progress.format() == "5 / 200"
    assert w.scan_bar.current.text() == "track00005.flac"
    assert "files/s" in w.scan_bar.rate.text() and "left" in w.scan_bar.rate.text()
    with qtbot.waitSignal(w.controller.scanFinished, timeout=5000) as blocker:
        w.scan_bar.cancel_button.click()
        assert not w.scan_bar.cancel_button.isEnabled()
        gate.release(1000)
    assert blocker.args == [True]
    qtbot.waitUntil(lambda: w.library_panel.model.rowCount() == lib.count(), timeout=5000)
    assert 5 <= lib.count() <= 6
    assert w.scan_bar.isHidden()


def test_drop_audio_file_url_searches(make_main_window, library, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "seed.flac", song(1, 2.0), sr=44100)
    w = make_main_window(library)
    assert drag_and_drop(w.seed_area, file_mime(path))
    assert ("analyze_seed", path) in library.calls
    assert w.results.model.rowCount() == 20
    assert "seed.flac" in w.seed_area.title.text()


def test_drop_on_window_and_folder_drop(make_main_window, library, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "other.wav", song(2, 1.0), sr=44100)
    w = make_main_window(library)
    assert drag_and_drop(w, file_mime(path))
    assert library.analyze_count == 1
    folder = tmp_path / "more music"
    folder.mkdir()
    assert drag_and_drop(w, file_mime(folder))
    assert folder in library.roots()


def test_drag_library_row_to_seed_area(make_main_window, library) -> None:
    w = make_main_window(library)
    view = w.library_panel.view
    index = w.library_panel.proxy.index(3, 0)
    track = w.library_panel.model.track(w.library_panel.proxy.mapToSource(index).row())
    mime = w.library_panel.proxy.mimeData([index])
    assert mime.hasFormat(TRACK_MIME) and mime.urls()[0].toLocalFile() == str(track.path)
    assert view.dragEnabled()
    assert drag_and_drop(w.seed_area, mime)
    assert ("analyze_seed", track.id) in library.calls
    assert track.title in w.seed_area.title.text()
    assert w.results.model.rowCount() > 0


def test_double_click_and_enter_follow_the_setting(qtbot, make_main_window, library) -> None:
    """Double-click and Enter on a library row play it, or seed a search once Settings
    says so (Ctrl+Enter does the other one)."""
    w = make_main_window(library)
    played: list[str] = []
    w.player.trackChanged.connect(played.append)
    view, proxy = w.library_panel.view, w.library_panel.proxy
    w.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=3000)
    double_click(view, proxy.index(0, 0))  # default: play
    first = w.library_panel.current_track()
    assert played and played[0].startswith(first.title) and library.analyze_count == 0
    view.selectRow(3)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert len(played) == 2 and library.analyze_count == 0
    w.actions_["settings"].trigger()
    combo = w.settings_dialog.enter
    combo.setCurrentIndex(combo.findData("seed"))
    assert w.settings.enter_action == "seed"
    w.settings_dialog.close()
    w.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=3000)
    double_click(view, proxy.index(5, 0))
    assert library.calls[-2] == ("analyze_seed", w.library_panel.current_track().id)
    view.selectRow(7)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert library.calls[-2] == ("analyze_seed", w.library_panel.current_track().id)
    assert len(played) == 2
    qtbot.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(played) == 3  # Ctrl+Enter: the other one
    assert w.library_panel.find_action.shortcut().toString() == "Return"
    assert w.library_panel.play_action.shortcut().toString() == "Ctrl+Return"


def test_bad_and_unsupported_files_give_messages(make_main_window, library, prompts,
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 100)
    w = make_main_window(library)
    w.library_panel.view.selectRow(0)
    w.library_panel.find_action.trigger()
    assert w.results.model.rowCount() > 0
    drag_and_drop(w.seed_area, file_mime(bad))
    assert prompts.errors and "corrupt" in prompts.errors[-1]
    assert "could not be used" in w.seed_area.title.text()
    assert w.results.model.rowCount() == 0 and w.results.empty.isVisible()
    w.controls.diversity.setValue(50)  # moving a slider does not bring the old seed back
    assert w.results.model.rowCount() == 0
    w.results.from_seed.click()
    assert prompts.messages[-1][2] == "Pick a seed song first."
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    drag_and_drop(w, file_mime(text))
    assert "not a supported audio file" in prompts.errors[-1]
    assert library.analyze_count == 2  # the library track, then the bad file; not the text


def test_sliders_rerank_without_reanalysing(make_main_window, library) -> None:
    w = make_main_window(library)
    w.seeds.from_track(library.track(1))
    before = [r.track.id for r in w.results.model.rows()]
    searches = library.search_count
    w.controls.diversity.setValue(90)
    after = [r.track.id for r in w.results.model.rows()]
    assert after != before
    assert library.analyze_count == 1 and library.search_count == searches + 1
    assert library.calls[-1][1].diversity == 0.9
    w.controls.weights["rhythm"].setValue(0)
    w.controls.top_k.setValue(10)
    assert w.results.model.rowCount() == 10
    assert library.calls[-1][1].weights[2] == 0.0
    w.controls.prf.setValue(4)
    w.controls.same_artist.setChecked(True)
    params = library.calls[-1][1]
    assert params.prf == 4 and params.exclude_same_artist is True
    assert library.analyze_count == 1
    assert w.settings.prf == 4 and w.settings.top_k == 10


def test_stale_search_results_are_dropped(make_main_window, library) -> None:
    w = make_main_window(library)
    w.seeds.from_track(library.track(2))
    session = w.session
    seen = []
    session.resultsReady.connect(seen.append)
    old = session._latest.next()  # a request that was superseded in flight...
    session._latest.next()  # ...by a newer one
    session._apply(type("R", (), {"generation": old, "seed": None})(), (session.seed, []))
    assert seen == []


def test_slider_storm_applies_only_the_latest(qtbot, make_main_window, library,
                                              real_pools) -> None:
    w = make_main_window(library, pools=real_pools)
    with qtbot.waitSignal(w.session.resultsReady, timeout=5000):
        w.seeds.from_track(library.track(4))
    shown = []
    w.session.resultsReady.connect(lambda rs: shown.append(w.session.params.diversity))
    for v in range(0, 101, 5):
        w.controls.diversity.setValue(v)
    qtbot.waitUntil(lambda: bool(shown) and shown[-1] == 1.0, timeout=5000)
    expected = library.search(w.session.seed, w.controls.params())
    assert [r.track.id for r in w.results.model.rows()] == [r.track.id for r in expected]
    assert library.analyze_count == 1


def test_record_through_fake_microphone(qtbot, make_main_window, library, fake_audio) -> None:
    w = make_main_window(library, record_countdown=0)
    w.actions_["record"].trigger()
    dialog = w.record_dialog
    assert dialog.isVisible() and dialog.devices.currentText() == "Fake microphone"
    dialog.length.setValue(5)
    dialog.record_button.click()
    stream = fake_audio.last
    y = 0.4 * np.sin(np.linspace(0, 2000 * np.pi, 44100 * 5)).astype(np.float32)
    stream.feed(y[:44100, None])
    qtbot.waitUntil(lambda: dialog.level.value() > 30, timeout=2000)
    stream.feed(y[44100:, None])
    qtbot.waitUntil(lambda: w.results.model.rowCount() > 0, timeout=3000)
    kind, seed = library.calls[-2]
    assert kind == "analyze_seed" and isinstance(seed, tuple) and len(seed[0]) == 5 * 44100
    assert "your recording" in w.seed_area.title.text()
    assert w.record_dialog is None or not w.record_dialog.isVisible()


def test_record_without_microphone(make_main_window, library) -> None:
    w = make_main_window(library, audio=FakeAudioBackend(inputs=[]))
    w.actions_["record"].trigger()
    dialog = w.record_dialog
    assert not dialog.record_button.isEnabled()
    assert "No microphone" in dialog.status.text()
    dialog.close()


def _playable_first_track(library, path: Path) -> None:
    """Point the library's first track at a real audio file."""
    track = type(library.track(1))(**{**library.track(1).__dict__, "path": path})
    library._all[0] = track
    library._visible = [track if t.id == 1 else t for t in library._visible]


def test_playback_through_fake_output(qtbot, make_main_window, library, fake_audio,
                                      tmp_path: Path) -> None:
    """Library ▸ Play, the time and seek bar follow; a click on the seek bar jumps there
    (as in a media player), the arrow keys step; the transport buttons pause and stop."""
    _playable_first_track(library, write_audio(tmp_path / "play.wav", song(3, 6.0),
                                               sr=44100))
    w = make_main_window(library)
    assert w.library_panel.select_track(1)
    w.library_panel.play_action.trigger()
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=3000)
    assert w.player.position == 0.0
    fake_audio.last.pull(3 * 44100)
    qtbot.waitUntil(lambda: w.player_bar.position.value() == 30, timeout=2000)
    assert "0:03 / 0:06" in w.player_bar.time.text()
    bar = w.player_bar.position
    x = bar.width() * 5 // 6
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(x, bar.height() // 2))
    assert abs(w.player.position - 5.0) < 0.4, w.player.position
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(bar.width() // 6,
                                                               bar.height() // 2))
    assert abs(w.player.position - 1.0) < 0.4, w.player.position
    before = w.player.position
    bar.setFocus()
    qtbot.keyClick(bar, Qt.Key.Key_PageUp)  # a page step further on
    assert w.player.position > before
    w.player_bar.play_button.click()
    assert w.player.state == "paused"
    w.player_bar.stop_button.click()
    assert w.player.state == "stopped"


def test_playback_without_output_device(qtbot, make_main_window, library, prompts,
                                        tmp_path: Path) -> None:
    _playable_first_track(library, write_audio(tmp_path / "play.wav", song(3, 1.0),
                                               sr=44100))
    w = make_main_window(library, audio=FakeAudioBackend(outputs=[]))
    assert w.library_panel.select_track(1)
    w.library_panel.play_action.trigger()
    qtbot.waitUntil(lambda: bool(prompts.errors), timeout=3000)
    assert "No audio output device" in prompts.errors[-1]


def test_filter_box(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    w.library_panel.filter.setText("song 1")
    qtbot.waitUntil(lambda: w.library_panel.proxy.rowCount() < 30, timeout=2000)
    titles = {w.library_panel.proxy.index(r, 0).data()
              for r in range(w.library_panel.proxy.rowCount())}
    assert "Song 1" in titles and "Song 2" not in titles
    assert "of 30" in w.library_panel.count.text()


def test_window_state_is_remembered(make_main_window, library, fresh_settings) -> None:
    w = make_main_window(library)
    w.resize(1100, 520)  # the offscreen screen is small: restoring clamps the width
    w.splitter.setSizes([300, 500, 200])
    sizes = w.splitter.sizes()
    w.close()
    assert not fresh_settings.geometry.isEmpty()
    w2 = make_main_window(library)
    assert w2.size().height() == 520
    assert w2.splitter.saveState() == fresh_settings.main_splitter
    assert sum(w2.splitter.sizes()) > 0 and len(sizes) == 3


def test_status_bar_and_empty_states(make_main_window) -> None:
    w = make_main_window(FakeLibrary(0).load_all())
    assert w.library_panel.empty.isVisible() and not w.library_panel.view.isVisible()
    assert w.results.empty.isVisible()
    assert "0 tracks" in w.library_label.text()
    assert w.actions_["open"].shortcut().matches(w.actions_["open"].shortcut())
    assert w.windowIcon() is not None


def test_context_menu_shortcut_keys(make_main_window, library) -> None:
    w = make_main_window(library)
    keys = {name: a.shortcut().toString() for name, a in w.actions_.items()}
    assert keys["record"] == "Ctrl+R" and keys["rescan"] == "F5"
    assert Qt.ContextMenuPolicy.CustomContextMenu == w.library_panel.view.contextMenuPolicy()


def test_track_mime_round_trip(library) -> None:
    from resonance_app.models import tracks_mime

    mime = tracks_mime([library.track(1), library.track(2)])
    assert track_ids_from_mime(mime) == [1, 2]
    assert [u.toLocalFile() for u in mime.urls()] == [str(library.track(i).path) for i in (1, 2)]


def test_folder_added_mid_scan_is_scanned_next(qtbot, make_main_window, real_pools,
                                                prompts) -> None:
    gate = threading.Semaphore(0)
    lib = FakeLibrary(20, scan_gate=gate)
    w = make_main_window(lib, pools=real_pools)
    finished = []
    w.controller.scanFinished.connect(finished.append)
    prompts.folders += ["/music", "/more"]
    w.actions_["add_folder"].trigger()  # File ▸ Add music folder…
    gate.release(2)
    qtbot.waitUntil(lambda: w.scan_bar.progress.value() == 2, timeout=5000)
    w.actions_["add_folder"].trigger()
    gate.release(1000)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=10_000)
    assert [c for c in lib.calls if c[0] == "scan"] == [("scan", w.controller.workers)] * 2
    assert lib.roots() == [Path("/music"), Path("/more")]


def test_header_and_context_menus(make_main_window, library) -> None:
    w = make_main_window(library)
    panel = w.library_panel
    assert panel.view.isColumnHidden(4)
    choose(context_menu(panel.view.horizontalHeader().viewport(), QPoint(5, 5)), "Format")
    assert not panel.view.isColumnHidden(4)
    panel.view.selectRow(0)
    menu = context_menu(panel.view.viewport(),
                        panel.view.visualRect(panel.proxy.index(0, 0)).center())
    texts = [a.text() for a in menu.actions()]
    assert texts[:2] == ["Play", "Find similar songs"] and "Add to playlist" in texts
    choose(menu, "Find similar songs")
    assert w.results.model.rowCount() > 0
    view = w.results.view
    menu = context_menu(view.viewport(), view.visualRect(w.results.model.index(0, 1)).center())
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "Play the matching part" and "Find similar to this" in texts
    menu.close()


def test_another_process_with_the_library_open_is_shown(make_main_window, tmp_path: Path,
                                                         qtbot) -> None:
    """A second process (the CLI, another app) on the same library: a warning in the status bar."""
    import subprocess
    import sys

    from engine.library import Library

    folder = tmp_path / "lib"
    lib = Library.open(folder)
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom engine.library import Library\n"
         "lib = Library.open(sys.argv[1]); print('open', flush=True); time.sleep(60)",
         str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        window = make_main_window(lib)
        qtbot.waitUntil(lambda: not window.shared_label.isHidden(), timeout=5000)
        assert "open elsewhere" in window.shared_label.text()
        assert "1 other" in window.shared_label.toolTip()
    finally:
        other.kill()
        other.wait()
        lib.close()


def test_no_warning_when_the_library_is_not_shared(make_main_window, library) -> None:
    window = make_main_window(library)
    assert library.others == 0 and window.shared_label.isHidden()
