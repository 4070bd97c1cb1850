"""Real mouse drags inside a main window, run under Xvfb on the xcb platform.

The offscreen platform cannot drag (``QDrag.exec`` returns at once), so
``test_playlists`` runs this module in a subprocess: it presses on a row, moves the
mouse until the view starts its own ``QDrag``, moves and releases over the target while
that drag runs, and prints the playlist's track ids after each drag as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QDrag
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication, QWidget

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def drag(source: QAbstractItemView, row: int, target: QWidget, to: QPoint) -> None:
    """Drag ``row`` of ``source`` with the mouse and drop it at ``to`` on ``target``."""
    viewport = source.viewport()
    start = source.visualRect(source.model().index(row, 0)).center()

    def during_drag() -> None:  # the drag's own event loop runs this
        if source.findChild(QDrag) is None:  # not started yet (a slow machine): wait
            QTimer.singleShot(50, during_drag)
            return
        QTest.mouseMove(target, to - QPoint(0, 2))
        QTest.mouseMove(target, to)
        QTest.mouseRelease(target, LEFT, NONE, to)

    QTimer.singleShot(100, during_drag)
    QTest.mousePress(viewport, LEFT, NONE, start)
    step = QApplication.startDragDistance() + 5
    QTest.mouseMove(viewport, start + QPoint(step, 0))
    QTest.mouseMove(viewport, start + QPoint(2 * step, 2))  # the view starts its QDrag


def main() -> int:
    """Reorder the playlist by a drag, then drag a library row into it."""
    from resonance_app.audio_io import FakeAudioBackend
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow
    from resonance_app.workers import Pools
    from tests.app.fakes import FakeLibrary, FakePool, ScriptedPrompts

    app = QApplication(sys.argv[:1])
    folder = Path(tempfile.mkdtemp(prefix="resonance-drag-"))
    library = FakeLibrary(10).load_all()
    pools = Pools(scan=FakePool(), interactive=FakePool(), playback=FakePool(),
                  discovery=FakePool())
    w = MainWindow(library, settings=Settings(folder / "settings.ini"), pools=pools,
                   audio=FakeAudioBackend(), prompts=ScriptedPrompts())
    w.resize(1360, 820)
    w.show()
    QTest.qWaitForWindowExposed(w)
    view = w.playlist.view
    w.playlist.add_tracks([library.track(i) for i in (1, 2, 3, 4)])
    ids = [[t.id for t in w.playlist.model.rows()]]
    view.selectRow(0)
    drag(view, 0, view.viewport(), view.visualRect(view.model().index(3, 0)).center())
    ids.append([t.id for t in w.playlist.model.rows()])
    table = w.library_panel.view
    table.selectRow(0)
    proxy = w.library_panel.proxy
    first = w.library_panel.model.track(proxy.mapToSource(proxy.index(0, 0)).row()).id
    drag(table, 0, view.viewport(), view.visualRect(view.model().index(0, 0)).center())
    ids.append([t.id for t in w.playlist.model.rows()])
    print(json.dumps({"ids": ids, "library_first": first}))
    w.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
