"""Readable results: title width at 1280x720, plain slider names, Reset, the score explained."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from resonance_app.models import ResultsModel
from resonance_app.settings import Settings


def _seed(w) -> None:
    w.library_panel.view.selectRow(0)
    w.library_panel.find_action.trigger()
    assert w.results.model.rowCount() > 0


def test_titles_stay_readable_at_1280x720(make_main_window, library) -> None:
    w = make_main_window(library)
    w.resize(1280, 720)
    _seed(w)
    QApplication.processEvents()
    assert w.results.title_chars() >= 25
    header = w.results.view.horizontalHeader()
    assert header.sectionSize(1) > header.sectionSize(ResultsModel.MATCH_COLUMN)
    w.resize(1600, 1000)
    QApplication.processEvents()
    assert w.results.title_chars() >= 35  # the title takes the room the window gains


def test_plain_names_with_technical_tooltips(make_main_window, library) -> None:
    w = make_main_window(library)
    labels = {lab.text(): lab.toolTip() for lab in w.controls.findChildren(QLabel)}
    assert "PRF" not in labels and "Diversity" not in labels
    assert "pseudo-relevance feedback" in labels["Feedback"]
    assert "MMR" in labels["Variety"] and "MMR" in w.controls.diversity.toolTip()


def test_reset_puts_the_sliders_back(make_main_window, library) -> None:
    w = make_main_window(library)
    _seed(w)
    c = w.controls
    c.prf.setValue(7)
    c.diversity.setValue(90)
    c.weights["rhythm"].setValue(0)
    c.same_artist.setChecked(True)
    searches = library.search_count
    c.reset.click()
    assert library.search_count == searches + 1  # one search, not one per control
    p = library.calls[-1][1]
    assert (p.prf, p.diversity, p.weights, p.exclude_same_artist) == (
        Settings.prf.default, Settings.diversity.default, tuple(Settings.weights.default), False)
    assert w.settings.prf == Settings.prf.default


def test_score_explains_itself_and_says_when_variety_reordered(make_main_window,
                                                               library) -> None:
    w = make_main_window(library)
    w.controls.diversity.setValue(0)
    _seed(w)
    model = w.results.model
    tip = model.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "1 = the same sound" in tip and "Variety" in tip
    assert "1 = the same sound" in model.index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    tips = {model.row(i).version_bonus: model.index(i, 3).data(Qt.ItemDataRole.ToolTipRole)
            for i in range(model.rowCount())}
    assert set(tips) == {0.0, 0.03, 0.25}
    assert "+0.25 because its music or its harmonies follow the seed's (another version" in (
        tips[0.25])
    # a small bonus is explained, but only a likely version is called one (as the CLI does)
    assert "+0.03 because" in tips[0.03] and "another version" not in tips[0.03]
    assert "because" not in tips[0.0]
    assert not w.results.note.isVisible()
    w.controls.diversity.setValue(80)
    scores = [model.row(i).score for i in range(model.rowCount())]
    assert scores != sorted(scores, reverse=True)
    assert w.results.note.isVisible() and "Variety re-ordered" in w.results.note.text()
