"""The library table: extra columns, remembered layout and sort, stable rows during a scan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from engine.library import ScanProgress, TrackInfo
from resonance_app.models import TrackTableModel
from tests.app.fakes import FakeLibrary
from tests.app.helpers import choose, context_menu


def _column(name: str) -> int:
    return TrackTableModel.COLUMNS.index(name)


def _choose_column(panel, name: str) -> None:
    """Right-click the header and click ``name`` in its menu."""
    choose(context_menu(panel.view.horizontalHeader().viewport(), QPoint(5, 5)), name)


def _shown(panel, name: str) -> list[str]:
    col = _column(name)
    return [panel.proxy.index(r, col).data() for r in range(panel.proxy.rowCount())]


def test_more_columns_from_the_header_menu(make_main_window) -> None:
    lib = FakeLibrary(3).load_all()
    lib._visible[0] = dataclasses.replace(lib._visible[0], size=4_000_000, duration=100.0,
                                          added=1_700_000_000.0)
    w = make_main_window(lib)
    panel = w.library_panel
    for name in ("File name", "Folder", "Year", "Genre", "Track", "Bitrate", "Added"):
        assert panel.view.isColumnHidden(_column(name)), name
        _choose_column(panel, name)
        assert not panel.view.isColumnHidden(_column(name)), name
    w.resize(1280, 720)
    QApplication.processEvents()
    assert panel.view.columnWidth(0) >= panel.TITLE_MIN_WIDTH  # the title never collapses
    panel.view.sortByColumn(_column("Bitrate"), Qt.SortOrder.DescendingOrder)
    assert _shown(panel, "Bitrate")[0] == "320 kbps"  # 4 MB over 100 s
    assert _shown(panel, "File name")[0] == "track00001.flac"
    assert _shown(panel, "Folder")[0] == "/music"
    assert _shown(panel, "Added")[0].startswith("2023-11-1")
    assert set(_shown(panel, "Genre")) == {"Test"}


def test_title_takes_the_spare_room(make_main_window) -> None:
    w = make_main_window(FakeLibrary(3).load_all())
    panel = w.library_panel
    w.resize(1600, 1000)
    QApplication.processEvents()
    view = panel.view
    shown = sum(view.columnWidth(c) for c in range(panel.model.columnCount())
                if not view.isColumnHidden(c))
    assert shown == view.viewport().width() and view.columnWidth(0) >= panel.TITLE_MIN_WIDTH


def test_sort_order_and_column_layout_are_remembered(qtbot, make_main_window) -> None:
    w = make_main_window(FakeLibrary(12).load_all())
    panel = w.library_panel
    header = panel.view.horizontalHeader()
    _choose_column(panel, "Year")
    header.moveSection(header.visualIndex(_column("Year")), 1)
    QApplication.processEvents()
    x = header.sectionViewportPosition(_column("Year")) + 10
    for _ in range(2):  # click the Year header: ascending, then descending
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(x, header.height() // 2))
    assert header.sortIndicatorSection() == _column("Year")
    years = _shown(panel, "Year")
    assert years == sorted(years, reverse=True)
    w.close()
    again = make_main_window(FakeLibrary(12).load_all())
    h2 = again.library_panel.view.horizontalHeader()
    assert not again.library_panel.view.isColumnHidden(_column("Year"))
    assert h2.visualIndex(_column("Year")) == 1
    assert h2.sortIndicatorSection() == _column("Year")
    assert h2.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert _shown(again.library_panel, "Year") == years


def test_untagged_rows_sort_by_file_name_after_tagged_ones(make_main_window) -> None:
    lib = FakeLibrary(4).load_all()
    untagged = [dataclasses.replace(lib._visible[i], artist=None, title=None,
                                    path=Path(f"/music/{name}.mp3"))
                for i, name in ((0, "zebra"), (1, "apple"))]
    lib._visible[:2] = untagged
    w = make_main_window(lib)
    panel = w.library_panel
    panel.view.sortByColumn(_column("Artist"), Qt.SortOrder.AscendingOrder)
    titles = _shown(panel, "Title")
    assert titles[-2:] == ["apple", "zebra"] and titles[0].startswith("Song")


class TaggingLibrary(FakeLibrary):
    """A scan that lists every file first (untagged) and then fills in the tags."""

    def scan(self, roots: list[Path] | None = None, *, workers: int | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[ScanProgress]:
        self.calls.append(("scan", workers))
        total = len(self._all)
        bare = [dataclasses.replace(t, title=None, artist=None, album=None, status="pending")
                for t in self._all]
        self._visible = list(bare)
        yield ScanProgress(stage="walk", done=0, total=total)
        for i, track in enumerate(reversed(self._all)):
            if self.scan_gate is not None:
                self.scan_gate.acquire(timeout=5)
            self._visible[total - 1 - i] = track
            yield ScanProgress(stage="analyse", done=i + 1, total=total, path=str(track.path),
                               rate=50.0, eta_s=1.0)


def test_rows_do_not_jump_while_a_scan_fills_in_tags(qtbot, make_main_window,
                                                     real_pools) -> None:
    import threading

    gate = threading.Semaphore(0)
    lib = TaggingLibrary(20, scan_gate=gate).load_all()
    lib._all = [dataclasses.replace(t, artist=f"Artist {(t.id * 7) % 5}") for t in lib._all]
    w = make_main_window(lib, pools=real_pools)
    w.controller.REFRESH_INTERVAL = 0.0
    panel = w.library_panel
    panel.view.sortByColumn(_column("Artist"), Qt.SortOrder.AscendingOrder)
    snapshots: list[list[int]] = []

    def record(_tracks: list[TrackInfo]) -> None:
        if w.controller.scanning:
            snapshots.append([panel.model.track(panel.proxy.mapToSource(
                panel.proxy.index(r, 0)).row()).id for r in range(panel.proxy.rowCount())])

    w.controller.tracksChanged.connect(record)
    finished: list[bool] = []
    w.controller.scanFinished.connect(finished.append)
    w.actions_["rescan"].trigger()
    for _ in range(20):
        gate.release(1)
        qtbot.wait(30)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert len(snapshots) >= 3
    assert all(s == snapshots[0] for s in snapshots)  # no row moved while tags arrived
    artists = _shown(panel, "Artist")
    assert artists == sorted(artists)  # sorted again once the scan is over
