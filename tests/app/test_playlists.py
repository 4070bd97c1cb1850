"""Playlists: build from results, reorder by drag, remove, save, export, drag out."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from engine.playlist_files import file_title, read_m3u8, read_xspf
from resonance_app.models import (
    TRACK_MIME,
    PlaylistModel,
    rows_from_mime,
    track_ids_from_mime,
)
from resonance_app.views.playlist_view import XSPF_FILTER
from tests.app.fakes import make_track
from tests.app.helpers import double_click, drag_and_drop, file_mime

ROOT = Path(__file__).resolve().parents[2]


def _window_with_results(make_main_window, library):
    w = make_main_window(library)
    assert w.library_panel.select_track(1)
    w.library_panel.find_action.trigger()
    assert w.results.model.rowCount() == 20
    return w


def ids(w) -> list[int]:
    return [t.id for t in w.playlist.model.rows()]


def test_add_all_and_selected_results(make_main_window, library) -> None:
    w = _window_with_results(make_main_window, library)
    w.results.add_all.click()
    assert ids(w) == [r.track.id for r in w.results.model.rows()]
    w.playlist.clear_button.click()
    w.results.view.selectRow(2)
    w.results.add_selected.click()
    assert ids(w) == [w.results.model.track(2).id]
    assert "1 track" in w.playlist.summary.text()


def test_playlist_from_seed(make_main_window, library) -> None:
    w = _window_with_results(make_main_window, library)
    w.results.seed_count.setValue(7)
    w.results.from_seed.click()
    assert w.playlist.model.rowCount() == 7
    assert library.analyze_count == 1
    assert w.playlist.name.startswith("Like Song 1")
    assert w.settings.playlist_size == 7


def test_playlist_from_seed_needs_a_seed(make_main_window, library, prompts) -> None:
    w = make_main_window(library)
    w.results.from_seed.click()
    assert prompts.messages[-1][0] == "info"
    assert w.playlist.model.rowCount() == 0


def test_reorder_and_drag_in_with_the_mouse_on_a_real_display(tmp_path: Path) -> None:
    """Real mouse drags (xcb under Xvfb: offscreen Qt cannot drag): a playlist row
    dragged lower moves there; a library row dragged in is inserted where dropped."""
    if shutil.which("xvfb-run") is None:
        if os.environ.get("CI") == "true":  # the test command's packages bring it there
            pytest.fail("xvfb-run is missing")
        pytest.skip("xvfb-run is not installed")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "XDG_DATA_HOME": str(tmp_path / "data"),
           "RESONANCE_SETTINGS": str(tmp_path / "settings.ini"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m",
         "tests.app.real_drag"], env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    before, reordered, dragged_in = out["ids"]
    assert before == [1, 2, 3, 4] and reordered == [2, 3, 1, 4]
    assert dragged_in == [out["library_first"], 2, 3, 1, 4]


def test_rows_dropped_from_another_resonance_are_added_by_file_not_moved(
        make_main_window, library) -> None:
    """Another process's playlist rows: their row numbers and track ids (another library
    may number tracks differently) mean nothing here; the files they name count."""
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (1, 2, 3, 4)])
    elsewhere = PlaylistModel()  # the other window's playlist
    elsewhere.append([dataclasses.replace(library.track(9), id=1), make_track(99)])
    mime = elsewhere.mimeData([elsewhere.index(0, 0), elsewhere.index(1, 0)])
    assert rows_from_mime(mime) == [0, 1] and track_ids_from_mime(mime) == [1, 99]
    view = w.playlist.view
    target = view.visualRect(w.playlist.model.index(3, 0)).center()
    assert drag_and_drop(view.viewport(), mime, target)  # no source widget: another process
    assert ids(w) == [1, 2, 3, 9, 4]
    assert w.playlist.summary.text() == ("Left out 1 dropped file that the library does not "
                                         "hold.")
    view.selectRow(1)
    w.playlist.remove_button.click()
    assert ids(w) == [1, 3, 9, 4]


def test_drop_library_rows_into_playlist(make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(9)])
    proxy = w.library_panel.proxy
    mime = proxy.mimeData([proxy.index(0, 0), proxy.index(1, 0)])
    dropped = track_ids_from_mime(mime)
    assert drag_and_drop(w.playlist.view.viewport(), mime, QPoint(5, 200))
    assert ids(w) == [9, *dropped]


def test_save_load_and_export(qtbot, make_main_window, library, prompts,
                              tmp_path: Path) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (5, 6, 7)])
    prompts.texts.append("Evening")
    w.playlist.save_button.click()
    assert library.playlists() == ["Evening"]
    assert [w.playlist.saved.itemText(i) for i in range(w.playlist.saved.count())] == ["Evening"]
    w.playlist.clear_button.click()
    box = w.playlist.saved
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Down)  # choose "Evening" in the saved playlists
    assert ids(w) == [5, 6, 7]
    out = tmp_path / "lists" / "evening.m3u8"
    out.parent.mkdir()
    prompts.save_files.append(str(out))
    w.playlist.export_button.click()
    assert file_title(out) == "Evening"  # #PLAYLIST: carries the name
    assert [e.path for e in read_m3u8(out)] == [library.track(i).path for i in (5, 6, 7)]
    # the chosen file type counts when the name has no extension; the folder is remembered
    prompts.save_files.append(str(tmp_path / "lists" / "evening"))
    prompts.save_filters.append(XSPF_FILTER)
    w.actions_["export_playlist"].trigger()
    assert prompts.messages[-1] == ("save", "Export playlist",
                                    str(tmp_path / "lists" / "Evening.m3u8"))
    xspf = tmp_path / "lists" / "evening.xspf"
    assert "<location>file:///music/track00005.flac" in xspf.read_text()
    assert read_xspf(xspf)[0] == "Evening"
    assert w.settings.playlist_format == "xspf"


def _playlist_file(tmp_path: Path, library, name: str = "trip.m3u8") -> Path:
    path = tmp_path / name
    lines = ["#EXTM3U", "#PLAYLIST:Trip", str(library.track(2).path),
             str(tmp_path / "gone.flac"), str(library.track(4).path)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_from_the_menu_keeps_missing_entries_greyed(make_main_window, library, prompts,
                                                          tmp_path: Path) -> None:
    w = make_main_window(library)
    prompts.open_files.append(str(_playlist_file(tmp_path, library)))
    w.actions_["import_playlist"].trigger()
    assert w.playlist.name == "Trip" and library.playlists() == ["Trip"]
    model = w.playlist.model
    assert model.rowCount() == 3 and ids(w) == [2, None, 4]
    grey = model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole)
    assert grey is not None and model.index(0, 0).data(Qt.ItemDataRole.ForegroundRole) is None
    assert "file not found" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    texts = [model.index(1, c).data() for c in range(model.columnCount())]
    assert "gone" in texts  # the missing entry shows its file name as the title
    assert not w.playlist.has_unsaved_changes()
    # saving again keeps the missing entry (by its path)
    prompts.texts.append("Trip")
    w.playlist.save_button.click()
    assert library._playlists["Trip"] == [2, tmp_path / "gone.flac", 4]
    # double-clicking the missing entry explains instead of playing
    double_click(w.playlist.view, model.index(1, 0))
    assert prompts.messages[-1][:2] == ("info", "Cannot play")
    assert "file not found" in prompts.messages[-1][2]
    # the file comes back: the next scan restores the entry in the open playlist
    back = dataclasses.replace(library.track(30), id=31, path=tmp_path / "gone.flac")
    library._all.append(back)
    w.actions_["rescan"].trigger()
    assert ids(w) == [2, 31, 4]
    assert model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole) is None


def test_export_keeps_missing_entries_so_the_list_reads_back_whole(
        make_main_window, library, prompts, tmp_path: Path) -> None:
    """A desktop player keeps a dead entry's path in the file it writes: exporting a
    playlist with a missing file writes it too, says so, and imports back the same."""
    w = make_main_window(library)
    prompts.open_files.append(str(_playlist_file(tmp_path, library)))
    w.actions_["import_playlist"].trigger()
    assert ids(w) == [2, None, 4]
    QApplication.processEvents()
    width = w.playlist.width()
    for name in ("out.m3u8", "out.xspf"):
        out = tmp_path / "export" / name
        out.parent.mkdir(exist_ok=True)
        prompts.save_files.append(str(out))
        w.playlist.export_button.click()
        entries = read_xspf(out)[1] if name.endswith("xspf") else read_m3u8(out)
        assert [e.path for e in entries] == [library.track(2).path, tmp_path / "gone.flac",
                                             library.track(4).path]
        assert w.playlist.summary.text() == (f"Exported to {name} (with 1 missing file, "
                                             "kept by path)")
        QApplication.processEvents()
        assert w.playlist.width() == width  # the message wraps; the panel keeps its size
        prompts.open_files.append(str(out))
        prompts.answers.append(True)  # replace the playlist "Trip" with the file read back
        w.actions_["import_playlist"].trigger()
        assert ids(w) == [2, None, 4] and w.playlist.name == "Trip"


def test_import_by_drop_and_over_an_existing_name(make_main_window, library, prompts,
                                                 tmp_path: Path) -> None:
    w = make_main_window(library)
    library.save_playlist("trip", [1])
    library.save_playlist("Trip", [1])
    path = _playlist_file(tmp_path, library, "trip.xspf")
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<playlist version="1" xmlns="http://xspf.org/ns/0/"><title>Trip</title><trackList>
<track><location>file://{library.track(3).path}</location></track></trackList></playlist>""")
    prompts.answers.append(False)  # do not replace "Trip"…
    prompts.texts.append("Another trip")  # …import it under another name
    assert drag_and_drop(w.playlist.view.viewport(), file_mime(path))
    assert prompts.messages[0][0] == "confirm" and "exists already" in prompts.messages[0][2]
    assert not prompts.errors  # the window did not take it for an audio file
    assert library._playlists["Trip"] == [1]
    assert w.playlist.name == "Another trip" and ids(w) == [3]
    assert w.playlist.saved.currentText() == "Another trip"
    names = [w.playlist.saved.itemText(i) for i in range(w.playlist.saved.count())]
    assert names == ["Another trip", "Trip", "trip"]  # case-insensitive order
    prompts.answers.append(True)  # now replace it; dropped anywhere on the window
    assert drag_and_drop(w, file_mime(path))
    assert library._playlists["Trip"] == [3] and w.playlist.name == "Trip"


def test_playlist_from_seed_asks_before_replacing_unsaved_changes(make_main_window, library,
                                                                  prompts) -> None:
    w = _window_with_results(make_main_window, library)
    w.playlist.add_tracks([library.track(9)])
    w.results.seed_count.setValue(5)
    prompts.answers.append(False)
    w.results.from_seed.click()
    assert prompts.messages[-1][0] == "confirm" and ids(w) == [9]
    prompts.answers.append(True)
    w.results.from_seed.click()
    assert w.playlist.model.rowCount() == 5
    prompts.texts.append("Liked")
    w.playlist.save_button.click()
    asked = len([m for m in prompts.messages if m[0] == "confirm"])
    w.results.seed_count.setValue(6)
    w.results.from_seed.click()  # saved: nothing to lose, no question
    assert w.playlist.model.rowCount() == 6
    assert len([m for m in prompts.messages if m[0] == "confirm"]) == asked


def test_drag_out_mime_data_has_file_urls(make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(3), library.track(8)])
    model = w.playlist.model
    mime = model.mimeData([model.index(0, 0), model.index(1, 1)])
    assert [u.toString() for u in mime.urls()] == ["file:///music/track00003.flac",
                                                   "file:///music/track00008.flac"]
    assert mime.hasFormat(TRACK_MIME) and "text/uri-list" in model.mimeTypes()
    assert mime.text().splitlines() == ["/music/track00003.flac", "/music/track00008.flac"]
    results_mime = w.results.model.mimeData([])
    assert results_mime.urls() == []


def test_empty_playlist_save_and_export_explain(make_main_window, library, prompts) -> None:
    w = make_main_window(library)
    assert not w.playlist.save_button.isEnabled()
    w.playlist.save()
    w.playlist.export()
    assert [m[0] for m in prompts.messages] == ["info", "info"]
