"""The library map, mixes, song paths and "more like these", driven through the real widgets."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.app.fakes import FakeLibrary
from tests.app.helpers import context_menu


def _view_pos(w, xy) -> QPoint:
    """Where map coordinates ``xy`` are in the plot's viewport."""
    scene = w.map_panel.box.mapViewToScene(QPointF(float(xy[0]), float(xy[1])))
    return w.map_panel.plot.mapFromScene(scene)


def _mouse(widget, kind: QEvent.Type, pos: QPoint, buttons: Qt.MouseButton) -> None:
    """A real mouse event; moves are spaced out as pyqtgraph drops too frequent ones."""
    if kind == QEvent.Type.MouseMove:
        _pause()
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else \
        Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _pause() -> None:
    import time

    time.sleep(0.02)


def _open_map(w, qtbot):
    w.actions_["map"].trigger()
    qtbot.waitUntil(lambda: w.map_panel.data is not None, timeout=5000)
    w.resize(1400, 900)
    qtbot.wait(50)
    w.map_panel.box.autoRange(padding=0.02)
    qtbot.wait(50)


def test_map_action_lays_the_map_out_once_and_shows_every_track(qtbot, make_main_window,
                                                                 library):
    w = make_main_window(library)
    assert w.map_panel is None  # made (and pyqtgraph used) only when first shown
    _open_map(w, qtbot)
    assert w.centre_tabs.currentWidget() is w.map_page
    assert len(w.map_panel.scatter.data) == 30
    assert [c[0] for c in library.calls].count("library_map") == 1
    assert "30 tracks" in w.map_panel.status.text()
    assert "(" in w.map_panel.legend.text()  # mixes with their sizes
    w.centre_tabs.setCurrentWidget(w.results)
    w.centre_tabs.setCurrentWidget(w.map_page)
    assert [c[0] for c in library.calls].count("library_map") == 1  # nothing changed
    w.actions_["rescan"].trigger()  # a finished scan lays the shown map out again
    qtbot.waitUntil(lambda: [c[0] for c in library.calls].count("library_map") == 2,
                    timeout=5000)
    w.controller.remove_folder(Path("/music"))  # tracks leave outside a scan: again
    qtbot.waitUntil(lambda: len(w.map_panel.data.ids) == 0, timeout=5000)
    assert [c[0] for c in library.calls].count("library_map") == 3


def test_colour_by_a_tag_lists_its_values(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    w.map_panel.colour_by.setCurrentText("Artist")
    assert "Artist 0" in w.map_panel.legend.text()
    brushes = {b.color().name() for b in w.map_panel.scatter.data["brush"]}
    assert len(brushes) == 7  # one colour per artist
    # new tags (a refresh after a scan) recolour the tag view, once the map is shown again
    changed = [dataclasses.replace(t, artist="Solo") for t in library.tracks()]
    w.centre_tabs.setCurrentWidget(w.results)
    w.controller.tracksChanged.emit(changed)
    assert len({b.color().name() for b in w.map_panel.scatter.data["brush"]}) == 7
    w.centre_tabs.setCurrentWidget(w.map_page)
    assert len({b.color().name() for b in w.map_panel.scatter.data["brush"]}) == 1
    assert "Solo (30)" in w.map_panel.legend.text()


def test_clicking_a_dot_finds_similar_songs_and_rings_them(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    data = w.map_panel.data
    row = 4
    pos = _view_pos(w, data.xy[row])
    qtbot.mouseClick(w.map_panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: w.session.seed_track_id is not None, timeout=3000)
    clicked = w.session.seed_track_id
    assert np.allclose(data.xy[list(data.ids).index(clicked)], data.xy[row], atol=0.05)
    assert w.results.model.rowCount() > 0
    assert len(w.map_panel.seed_dot.data) == 1
    assert len(w.map_panel.hits.data) == w.results.model.rowCount()


def test_hovering_a_dot_names_the_track(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    data = w.map_panel.data
    viewport = w.map_panel.plot.viewport()
    pos = _view_pos(w, data.xy[7])
    _mouse(viewport, QEvent.Type.MouseMove, pos + QPoint(3, 3), Qt.MouseButton.NoButton)
    _mouse(viewport, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton)
    tip = w.map_panel.box.toolTip()
    near = [f"Song {int(t)} " for r, t in enumerate(data.ids)
            if (_view_pos(w, data.xy[r]) - pos).manhattanLength() < 10]
    assert tip and any(tip.startswith(n) for n in near), tip


def test_wheel_zooms_the_map(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    viewport = w.map_panel.plot.viewport()
    before = w.map_panel.box.viewRange()[0]
    centre = viewport.rect().center()
    wheel = QWheelEvent(QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    after = w.map_panel.box.viewRange()[0]
    assert after[1] - after[0] < 0.9 * (before[1] - before[0])


def test_lasso_turns_a_region_into_a_playlist(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    panel = w.map_panel
    qtbot.mouseClick(panel.lasso, Qt.MouseButton.LeftButton)
    assert panel.box.lasso
    data = panel.data
    centre = data.xy[0]
    loop = [centre + 0.6 * np.array([np.cos(a), np.sin(a)]) * np.ptp(data.xy, axis=0) / 2
            for a in np.linspace(0, 2 * np.pi, 24)]
    viewport = panel.plot.viewport()
    points = [_view_pos(w, p) for p in loop]
    _mouse(viewport, QEvent.Type.MouseButtonPress, points[0], Qt.MouseButton.LeftButton)
    for p in points[1:]:
        _mouse(viewport, QEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
    _mouse(viewport, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)
    chosen = set(panel.selected.tolist())
    assert 0 < len(chosen) < 30
    from resonance_app.views.map_view import inside

    expected = set(data.ids[inside(data.xy, np.array(loop))].tolist())
    assert len(chosen ^ expected) <= 2  # pixel rounding at the loop's edge
    assert w.session.seed_track_id is None  # dragging with the lasso seeds nothing
    qtbot.mouseClick(panel.to_playlist, Qt.MouseButton.LeftButton)
    assert {t.id for t in w.playlist.model.rows()} == chosen
    assert w.playlist.name.startswith("Map selection")


def test_map_is_laid_out_off_the_gui_thread(qtbot, make_main_window, real_pools):
    library = FakeLibrary(30).load_all()
    threads: list[threading.Thread] = []
    original = library.library_map

    def recording(**kw):
        threads.append(threading.current_thread())
        return original(**kw)

    library.library_map = recording
    library.map_gate = threading.Semaphore(0)
    w = make_main_window(library, pools=real_pools)
    w.actions_["map"].trigger()
    assert "Laying out" in w.map_panel.status.text()  # the GUI goes on meanwhile
    qtbot.wait(50)
    assert w.map_panel.data is None
    library.map_gate.release()
    qtbot.waitUntil(lambda: w.map_panel.data is not None, timeout=5000)
    assert threads and threads[0] is not threading.main_thread()


def test_mixes_panel_makes_mixes_and_opens_one_as_playlist(qtbot, make_main_window, library,
                                                           fresh_settings):
    w = make_main_window(library)
    w.actions_["mixes"].trigger()
    panel = w.mixes_panel
    assert w.left_tabs.currentWidget() is panel
    assert panel.list.count() == 1  # automatic: about 30 songs a mix
    panel.count.setValue(4)
    qtbot.mouseClick(panel.make, Qt.MouseButton.LeftButton)
    assert panel.list.count() == 4
    assert fresh_settings.mix_count == 4  # remembered
    assert ("mixes", 4) in library.calls
    sizes = [len(m.track_ids) for m in panel.mixes]
    assert sum(sizes) == 30 and sizes == sorted(sizes, reverse=True)
    assert f"{sizes[0]} songs" in panel.list.item(0).text()
    _open_map(w, qtbot)
    assert [c for c in library.calls if c[0] == "mixes"][-1] == ("mixes", 4)  # map's colours
    assert len(w.map_panel.data.mixes) == 4 and "(" in w.map_panel.legend.text()
    panel.count.setValue(3)
    qtbot.mouseClick(panel.make, Qt.MouseButton.LeftButton)
    assert set(w.map_panel.data.mix.tolist()) == {0, 1, 2}  # the map follows the panel
    panel.list.setCurrentRow(1)
    qtbot.mouseClick(panel.open, Qt.MouseButton.LeftButton)
    assert [t.id for t in w.playlist.model.rows()] == panel.mixes[1].track_ids
    assert w.playlist.name == panel.mixes[1].name


def _select_rows(w, ids):
    from PySide6.QtCore import QItemSelectionModel

    view = w.library_panel.view
    view.clearSelection()
    for track_id in ids:
        for row in range(w.library_panel.proxy.rowCount()):
            index = w.library_panel.proxy.index(row, 0)
            src = w.library_panel.proxy.mapToSource(index)
            if w.library_panel.model.track(src.row()).id == track_id:
                view.selectionModel().select(
                    index, QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows)
                view.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.SelectionFlag.NoUpdate)


def test_path_to_a_second_track_becomes_a_playlist(qtbot, make_main_window, library,
                                                   prompts):
    w = make_main_window(library)
    _select_rows(w, [3])
    w.library_panel.path_action.trigger()
    assert prompts.messages and prompts.messages[-1][1] == "Path to…"  # no seed yet
    w.library_panel.find_action.trigger()
    assert w.session.seed_track_id == 3
    _select_rows(w, [20])
    w.library_panel.path_action.trigger()  # asks how long: cancelled
    assert prompts.messages[-1][:2] == ("number", "Path to…")
    assert w.playlist.model.rowCount() == 0
    prompts.numbers.append(6)
    _context_action(w, "Path to here from the seed").trigger()
    ids = [t.id for t in w.playlist.model.rows()]
    assert len(ids) == 6 and ids[0] == 3 and ids[-1] == 20 and len(set(ids)) == 6
    assert w.playlist.name.startswith("Path: ")
    assert w.playlist.title.sizeHint().width() < w.playlist.NAME_WIDTH + 120  # elided
    assert "…" in w.playlist.title.text() and w.playlist.title.toolTip() == w.playlist.name
    # from the results too, to a song far from the seed (another artist's direction)
    row = next(r for r in range(w.results.model.rowCount())
               if w.results.model.row(r).track.id % 7 not in (3, 20 % 7))
    w.results.view.setCurrentIndex(w.results.model.index(row, 0))
    target = w.results.model.row(row).track.id
    prompts.answers.append(True)  # replace the unsaved path
    prompts.numbers.append(4)
    w.results.path_action.trigger()
    assert prompts.messages[-1][0] == "confirm"
    ids = [t.id for t in w.playlist.model.rows()]
    assert len(ids) == 4 and ids[0] == 3 and ids[-1] == target
    # a path the library cannot give is refused with the engine's reason
    prompts.numbers.append(30)
    prompts.answers.append(True)
    w.results.path_action.trigger()
    assert prompts.messages[-1][:2] == ("info", "Path to…")
    assert "at most" in prompts.messages[-1][2]
    assert [t.id for t in w.playlist.model.rows()] == ids  # the playlist is kept


def _context_action(w, text: str):
    """The action called ``text`` in the library table's context menu at the current row."""
    view = w.library_panel.view
    menu = context_menu(view.viewport(), view.visualRect(view.currentIndex()).center())
    (action,) = [a for a in menu.actions() if a.text().startswith(text)]
    menu.close()
    return action


def test_more_like_these_ranks_for_several_rows_at_once(qtbot, make_main_window, library):
    w = make_main_window(library)
    _select_rows(w, [2])
    assert not w.library_panel.together_action.isEnabled()  # one song: plain "find similar"
    _select_rows(w, [2, 5, 9])
    action = _context_action(w, "More like these 3 together")
    assert action.isEnabled()
    action.trigger()
    (seeds,) = [c[1] for c in library.calls if c[0] == "search_together"]
    assert sorted(seeds) == [2, 5, 9]
    shown = [r.track.id for r in w.results.model.rows()]
    assert shown and not {2, 5, 9} & set(shown)
    assert "3 songs together" in w.seed_area.title.text()
    assert w.session.seed_track_id is None and sorted(w.session.seed_track_ids) == [2, 5, 9]
    calls = len(library.calls)
    w.controls.top_k.setValue(7)  # re-ranking keeps the combined seed
    assert "search_together" in [c[0] for c in library.calls[calls:]]
    assert w.results.model.rowCount() == 7


def test_more_like_this_playlist(qtbot, make_main_window, library):
    w = make_main_window(library)
    _open_map(w, qtbot)
    w.playlist.start_new([library.track(i) for i in (4, 8)], "two")
    qtbot.mouseClick(w.playlist.like_button, Qt.MouseButton.LeftButton)
    assert ("search_together", [4, 8]) in library.calls
    assert len(w.map_panel.seed_dot.data) == 2  # both seeds starred on the map


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_libraries_get_a_map_without_error(qtbot, make_main_window, prompts, n):
    library = FakeLibrary(n).load_all()
    w = make_main_window(library)
    w.actions_["map"].trigger()
    qtbot.waitUntil(lambda: w.map_panel.data is not None, timeout=5000)
    assert len(w.map_panel.scatter.data) == n
    assert not prompts.errors


def test_lasso_hit_test_follows_a_concave_loop():
    from resonance_app.views.map_view import inside

    # a U shape: the notch between its arms is outside
    u = np.array([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3]], float)
    pts = np.array([[0.5, 2.5], [2.5, 2.5], [1.5, 2.0], [1.5, 0.5], [4.0, 1.0], [-1, 1]])
    assert inside(pts, u).tolist() == [True, True, False, True, False, False]


def test_the_tabs_in_front_come_back_at_the_next_start(qtbot, make_main_window, library,
                                                       fresh_settings):
    w = make_main_window(library)
    w.actions_["map"].trigger()
    w.actions_["mixes"].trigger()
    w.close()
    assert (fresh_settings.centre_tab, fresh_settings.left_tab) == (1, 1)
    again = make_main_window(FakeLibrary(30).load_all())
    assert again.centre_tabs.currentWidget() is again.map_page
    assert again.left_tabs.currentWidget() is again.mixes_panel
    assert again.mixes_panel.list.count() > 0  # made at the remembered count
    qtbot.waitUntil(lambda: again.map_panel is not None and again.map_panel.data is not None,
                    timeout=5000)
