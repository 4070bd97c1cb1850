"""Right after a model switch, before a scan re-embeds the library, the views count only
the tracks the current model can use and say the others wait for analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.library import Library
from tests.model_factory import build_model, write_music


@pytest.fixture
def switched(tmp_path: Path):
    """A library of 4 tracks scanned with one model, then switched to another."""
    write_music(tmp_path / "music", 4, seconds=8)
    lib = Library.open(tmp_path / "lib", model_dir=build_model(tmp_path / "model"))
    list(lib.scan([tmp_path / "music"], workers=0))
    assert lib.count() == 4
    lib.set_model(build_model(tmp_path / "model2", seed=1))  # no scan yet
    yield lib
    lib.close()


def test_views_count_only_tracks_of_the_current_model(qtbot, make_main_window, switched):
    w = make_main_window(switched)
    qtbot.waitUntil(lambda: len(w.controller.tracks) == 4, timeout=5000)
    assert w.library_label.text() == "0 tracks · 4 waiting"

    w.actions_["duplicates"].trigger()
    dialog = w.duplicates_dialog
    assert dialog.message.text() == ("No duplicates found in 0 tracks (4 tracks waiting for "
                                     "analysis with the current model).")
    dialog.close()

    layouts = []
    original = switched.library_map

    def counting(**kw):
        layouts.append(kw)
        return original(**kw)

    switched.library_map = counting
    w.actions_["map"].trigger()
    qtbot.waitUntil(lambda: w.map_panel.data is not None, timeout=5000)
    assert len(w.map_panel.data.ids) == 0 and len(layouts) == 1
    assert w.map_panel.status.text().startswith(
        "0 tracks · 4 tracks waiting for analysis with the current model · ")
    w.controller.refresh()  # the library is re-read (as after a folder change): same tracks
    qtbot.wait(50)
    assert len(layouts) == 1  # the map already holds every usable track: not laid out again
