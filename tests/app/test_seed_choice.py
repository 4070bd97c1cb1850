"""Which seed "More like these" makes from the playlist, driven through its button.

A playlist may hold the same song twice (as in any player); found while typing the
seed requests (``SearchSession.seed_tracks``): such a song counts once, and when it is
the only one the search is the ordinary one for that song, not "1 songs together".
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt


def _click_more_like_these(qtbot, w) -> None:
    assert w.playlist.like_button.isEnabled()
    qtbot.mouseClick(w.playlist.like_button, Qt.MouseButton.LeftButton)


def test_a_song_listed_twice_is_one_ordinary_seed(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(4), library.track(4)])
    _click_more_like_these(qtbot, w)
    assert "search_together" not in [c[0] for c in library.calls]
    assert ("analyze_seed", 4) in library.calls
    assert w.session.seed_track_id == 4
    title = w.seed_area.title.text()
    assert "Song 4" in title and "together" not in title


def test_selected_rows_of_one_song_seed_that_song(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (4, 8, 4)])
    view = w.playlist.view
    view.selectRow(0)
    view.selectionModel().select(
        w.playlist.model.index(2, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    _click_more_like_these(qtbot, w)
    assert "search_together" not in [c[0] for c in library.calls]
    assert w.session.seed_track_id == 4


def test_duplicates_count_once_among_several_songs(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    w.playlist.add_tracks([library.track(i) for i in (4, 8, 4, 8, 9)])
    _click_more_like_these(qtbot, w)
    assert ("search_together", [4, 8, 9]) in library.calls
    assert "3 songs together" in w.seed_area.title.text()
    assert sorted(w.session.seed_track_ids) == [4, 8, 9]
