"""Playlists: build from results, reorder by drag, remove, save, export, drag out."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint

from resonance_app.models import ROWS_MIME, TRACK_MIME, track_ids_from_mime
from tests.app.helpers import drag_and_drop


def _window_with_results(make_main_window, library):
    w = make_main_window(library)
    w.seed_from_track(library.track(1))
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


def test_reorder_by_drag_and_remove(make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (1, 2, 3, 4)])
    model, view = w.playlist.model, w.playlist.view
    mime = model.mimeData([model.index(0, 0)])
    assert mime.hasFormat(ROWS_MIME)
    target = view.visualRect(model.index(3, 0)).center()
    assert drag_and_drop(view.viewport(), mime, target)
    assert ids(w) == [2, 3, 1, 4]
    model.move_rows([2, 3], 0)
    assert ids(w) == [1, 4, 2, 3]
    view.selectRow(1)
    w.playlist.remove_button.click()
    assert ids(w) == [1, 2, 3]


def test_drop_library_rows_into_playlist(make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(9)])
    proxy = w.library_panel.proxy
    mime = proxy.mimeData([proxy.index(0, 0), proxy.index(1, 0)])
    dropped = track_ids_from_mime(mime)
    assert drag_and_drop(w.playlist.view.viewport(), mime, QPoint(5, 200))
    assert ids(w) == [9, *dropped]


def test_save_load_and_export(make_main_window, library, prompts, tmp_path: Path) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (5, 6, 7)])
    prompts.texts.append("Evening")
    w.playlist.save_button.click()
    assert library.playlists() == ["Evening"]
    assert [w.playlist.saved.itemText(i) for i in range(w.playlist.saved.count())] == ["Evening"]
    w.playlist.clear_button.click()
    w.playlist.load("Evening")
    assert ids(w) == [5, 6, 7]
    out = tmp_path / "evening.m3u8"
    prompts.save_files.append(str(out))
    w.playlist.export_button.click()
    assert out.read_text().splitlines()[1:] == [str(library.track(i).path) for i in (5, 6, 7)]
    xspf = tmp_path / "evening.xspf"
    prompts.save_files.append(str(xspf))
    w.playlist.export()
    assert "<location>file:///music/track00005.flac" in xspf.read_text()


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
