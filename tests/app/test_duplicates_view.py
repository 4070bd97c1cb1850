"""Tools ▸ Find duplicate files: the groups, the copy to keep, play and reveal, through the
real menu and widgets; the search runs off the GUI thread and can be cancelled."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QFont
from PySide6.QtWidgets import QMenu, QTreeWidgetItem

from engine.errors import StoreAccessError
from engine.library import Library
from tests.app.fakes import FakeLibrary, duplicate_group, make_track
from tests.audio_factory import song, write_audio, write_lossy
from tests.model_factory import build_model

SR = 16000
SECONDS = 30.0
ROOT = Path(__file__).resolve().parents[2]


def _menu_action(w, menu_title: str, text: str) -> QAction:
    """The action called ``text`` in the menu bar's ``menu_title`` menu."""
    (menu,) = [a.menu() for a in w.menuBar().actions()
               if a.text().replace("&", "") == menu_title and isinstance(a.menu(), QMenu)]
    (action,) = [a for a in menu.actions() if a.text() == text]
    return action


def _open(w) -> None:
    _menu_action(w, "Tools", "Find duplicate files…").trigger()


def _rows(dialog) -> list[list[QTreeWidgetItem]]:
    """The file rows of each group, as shown."""
    tree = dialog.tree
    return [[tree.topLevelItem(g).child(r) for r in range(tree.topLevelItem(g).childCount())]
            for g in range(tree.topLevelItemCount())]


def _cells(item: QTreeWidgetItem) -> dict[str, str]:
    from resonance_app.views.duplicates_view import COLUMNS

    return {name: item.text(col) for col, name in enumerate(COLUMNS)}


def _click_row(qtbot, dialog, item: QTreeWidgetItem) -> None:
    rect = dialog.tree.visualItemRect(item)
    qtbot.mouseClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# -- on a real library -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A scanned library with a re-encoded copy in another folder, a trimmed copy, and
    songs that only sound alike (same instruments, key and tempo; other notes)."""
    root = tmp_path_factory.mktemp("dups")
    music = root / "music"
    (music / "old rips").mkdir(parents=True)
    orig = {s: song(s, SECONDS, sr=SR) for s in range(3)}
    for s, y in orig.items():
        write_audio(music / f"orig{s}.flac", y, sr=SR)
    write_lossy(music / "old rips" / "orig0.mp3", orig[0], sr=SR, bit_rate=64_000)
    write_audio(music / "trim1.flac", orig[1][4 * SR:-5 * SR], sr=SR)
    write_audio(music / "alike0.flac", song(0, SECONDS, sr=SR, notes_seed=1), sr=SR)
    lib = Library.open(root / "lib", model_dir=build_model(root / "model"))
    list(lib.scan([music], workers=0))
    assert lib.count() == 6
    yield music, lib
    lib.close()


def test_planted_copies_are_listed_with_the_copy_to_keep(qtbot, make_main_window, planted,
                                                         real_pools):
    music, lib = planted
    files = sorted(p for p in music.rglob("*") if p.is_file())
    w = make_main_window(lib, pools=real_pools)
    qtbot.waitUntil(lambda: len(w.controller.tracks) == 6, timeout=10_000)
    _open(w)
    dialog = w.duplicates_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() > 0, timeout=60_000)
    rows = _rows(dialog)
    names = sorted(sorted(r.text(1) for r in group) for group in rows)
    assert names == [["orig0.flac", "orig0.mp3"], ["orig1.flac", "trim1.flac"]]
    assert "alike0.flac" not in str(names)  # sounds alike, is no copy
    by_name = {r.text(1): (r, _cells(r)) for group in rows for r in group}
    flac0, mp3 = by_name["orig0.flac"][1], by_name["orig0.mp3"][1]
    assert flac0["Suggestion"] == "\u2714 Keep: lossless" and mp3["Suggestion"] == "Duplicate"
    assert by_name["orig0.flac"][0].font(7).bold() and not by_name["orig0.mp3"][0].font(7).bold()
    assert (mp3["Format"], mp3["Folder"]) == ("MP3", "music/old rips")
    assert by_name["orig0.mp3"][0].toolTip(2) == str(music / "old rips")
    assert 50 <= int(mp3["Bitrate"].split()[0]) <= 90  # a 64 kb/s encode
    assert mp3["Length"] == flac0["Length"] == "0:30"
    assert by_name["orig1.flac"][1]["Suggestion"] == "\u2714 Keep: longest lossless copy"
    # the passage each file shares: the trimmed copy is orig1 from 0:04 to 0:25
    assert by_name["trim1.flac"][1]["Shared passage"] in ("0:00–0:21", "0:00–0:20")
    start, end = by_name["orig1.flac"][1]["Shared passage"].split("–")
    assert start in ("0:04", "0:05") and end in ("0:24", "0:25")
    assert "2 groups of duplicates, 4 files, among 6 tracks" in dialog.summary.text()

    revealed: list[Path] = []
    w.discovery_flow.reveal = revealed.append
    _click_row(qtbot, dialog, by_name["orig0.mp3"][0])
    qtbot.mouseClick(dialog.reveal, Qt.MouseButton.LeftButton)
    assert revealed == [music / "old rips" / "orig0.mp3"]
    _click_row(qtbot, dialog, by_name["trim1.flac"][0])
    with qtbot.waitSignal(w.player.trackChanged, timeout=5000) as loaded:
        qtbot.mouseClick(dialog.play, Qt.MouseButton.LeftButton)
    assert loaded.args[0] == "trim1"  # untagged: the file name
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=10_000)
    assert w._playing_id == by_name["trim1.flac"][0].data(
        0, Qt.ItemDataRole.UserRole).track.id
    qtbot.mouseClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=dialog.tree.visualItemRect(dialog.tree.topLevelItem(0)).center())
    assert not dialog.play.isEnabled() and not dialog.reveal.isEnabled()  # a group's title
    w.player.stop()
    assert sorted(p for p in music.rglob("*") if p.is_file()) == files  # nothing deleted


@pytest.mark.parametrize("how", ["cancel", "close"])
def test_cancel_or_close_stops_the_engines_search_at_the_next_pair(qtbot, make_main_window,
                                                                  planted, real_pools,
                                                                  monkeypatch, how):
    """The engine's search itself stops (the pool is free for the map), not only its answer
    is dropped: no pair is compared after the one under way when Cancel is pressed."""
    from engine.discovery import duplicates as dup

    _, lib = planted
    calls = {"passage": 0, "decode": 0}
    entered, gate = threading.Event(), threading.Event()
    passage, decode = dup.shared_passage, dup._decode

    def held_passage(*args, **kw):
        calls["passage"] += 1
        if calls["passage"] == 1:
            entered.set()
            gate.wait(10)
        return passage(*args, **kw)

    def counted_decode(*args, **kw):
        calls["decode"] += 1
        return decode(*args, **kw)

    monkeypatch.setattr(dup, "shared_passage", held_passage)
    monkeypatch.setattr(dup, "_decode", counted_decode)
    w = make_main_window(lib, pools=real_pools)
    qtbot.waitUntil(lambda: len(w.controller.tracks) == 6, timeout=10_000)
    _open(w)
    dialog = w.duplicates_dialog
    assert entered.wait(30)  # the search is comparing its first candidate pair
    if how == "cancel":
        qtbot.mouseClick(dialog.cancel, Qt.MouseButton.LeftButton)
    else:
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    gate.set()
    assert real_pools.discovery.waitForDone(30_000)
    assert calls == {"passage": 1, "decode": 0}
    assert not dialog.busy and dialog.isVisible() == (how == "cancel")


# -- states, on the scripted library -----------------------------------------------------------
def test_no_duplicates_says_so_in_place(qtbot, make_main_window, library, prompts):
    w = make_main_window(library)
    _open(w)
    dialog = w.duplicates_dialog
    assert dialog.pages.currentWidget() is dialog.message
    assert dialog.message.text() == "No duplicates found in 30 tracks."
    assert not dialog.progress_row.isVisible() and dialog.search.isEnabled()
    assert not dialog.play.isEnabled() and not prompts.messages
    library.duplicate_groups = [duplicate_group([library.track(3), library.track(4)])]
    qtbot.mouseClick(dialog.search, Qt.MouseButton.LeftButton)
    assert dialog.tree.topLevelItemCount() == 1
    assert "1 group of duplicates, 2 files, among 30 tracks" in dialog.summary.text()
    dialog.close()
    _open(w)  # groups found are kept for the user to work through: no new search
    assert [c[0] for c in library.calls].count("duplicates") == 2
    assert dialog.tree.topLevelItemCount() == 1


def test_the_copy_to_keep_is_the_engines_choice_with_its_reason(qtbot, make_main_window):
    library = FakeLibrary(4).load_all()
    low, high = (dataclasses.replace(make_track(i), path=Path(f"/music/{name}/a.mp3"),
                                     format="mp3", size=size, duration=60.0)
                 for i, name, size in ((11, "low", 960_000), (12, "high", 2_400_000)))
    library.duplicate_groups = [duplicate_group([low, high], start=0.0, end=59.6)]
    w = make_main_window(library)
    _open(w)
    (group,) = _rows(w.duplicates_dialog)
    cells = [_cells(r) for r in group]
    assert [c["Folder"] for c in cells] == ["music/high", "music/low"]
    assert [c["Bitrate"] for c in cells] == ["320 kbps", "128 kbps"]
    assert [c["Suggestion"] for c in cells] == ["\u2714 Keep: highest bitrate", "Duplicate"]
    assert cells[0]["Shared passage"] == "0:00–1:00"
    assert group[0].font(7).weight() == QFont.Weight.Bold


def test_a_failed_search_says_why_in_place(qtbot, make_main_window, library, prompts):
    library.duplicates_error = StoreAccessError("the library database is locked")
    w = make_main_window(library)
    _open(w)
    dialog = w.duplicates_dialog
    assert dialog.pages.currentWidget() is dialog.message
    assert dialog.message.text().startswith("Duplicates cannot be searched: ")
    assert "locked" in dialog.message.text()
    assert dialog.search.isEnabled() and not prompts.messages


def test_a_changed_library_marks_the_list_as_old(qtbot, make_main_window, library):
    library.duplicate_groups = [duplicate_group([library.track(1), library.track(2)])]
    w = make_main_window(library)
    _open(w)
    dialog = w.duplicates_dialog
    assert "among 30 tracks" in dialog.summary.text()
    w.controller.remove_folder(Path("/music"))  # the tracks leave the library
    assert "changed since this search" in dialog.summary.text()


def test_folders_are_named_from_the_music_folder_holding_them():
    from resonance_app.views.duplicates_view import shown_folder

    roots = [Path("/home/u/Music"), Path("/home/u/Music/Live")]
    assert shown_folder(Path("/home/u/Music/A/B"), roots) == "Music/A/B"
    assert shown_folder(Path("/home/u/Music/Live/2019"), roots) == "Live/2019"
    assert shown_folder(Path("/home/u/Music"), roots) == "Music"
    assert shown_folder(Path("/mnt/usb/x"), roots) == "/mnt/usb/x"


# -- off the GUI thread: progress, cancel, superseded answers ----------------------------------
def test_the_search_runs_in_the_background_and_can_be_cancelled(qtbot, make_main_window,
                                                               real_pools):
    library = FakeLibrary(30).load_all()
    first = [duplicate_group([library.track(1), library.track(2)])]
    library.duplicate_groups = first
    threads: list[threading.Thread] = []
    original = library.duplicates

    def recording(**kw):
        threads.append(threading.current_thread())
        return original(**kw)

    library.duplicates = recording
    library.duplicates_gate = threading.Semaphore(0)
    w = make_main_window(library, pools=real_pools)
    qtbot.waitUntil(lambda: len(w.controller.tracks) == 30, timeout=5000)
    _open(w)
    dialog = w.duplicates_dialog
    assert dialog.busy and dialog.progress_row.isVisible()
    assert not dialog.search.isEnabled()
    library.duplicates_gate.release(3)
    qtbot.waitUntil(lambda: dialog.progress.value() == 3, timeout=5000)
    assert dialog.progress.maximum() == FakeLibrary.DUPLICATE_PAIRS
    assert "3 of 10" in dialog.progress.text()
    found: list[object] = []
    w.discovery.duplicatesReady.connect(found.append)
    qtbot.mouseClick(dialog.cancel, Qt.MouseButton.LeftButton)
    assert dialog.message.text().startswith("Search cancelled")
    assert not dialog.progress_row.isVisible() and dialog.search.isEnabled()
    # a new search while the cancelled one still winds down: only its answer is shown
    second = [duplicate_group([library.track(5), library.track(6), library.track(7)])]
    library.duplicate_groups = second
    qtbot.mouseClick(dialog.search, Qt.MouseButton.LeftButton)
    library.duplicates_gate.release(100)
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=5000)
    assert [len(f.groups) for f in found] == [1] and found[0].groups == second
    assert dialog.tree.topLevelItem(0).childCount() == 3
    assert len(threads) == 2 and threading.main_thread() not in threads


def test_closing_the_duplicates_window_stops_the_search_and_reopening_starts_over(
        qtbot, make_main_window, real_pools):
    library = FakeLibrary(30).load_all()
    library.duplicates_gate = threading.Semaphore(0)
    w = make_main_window(library, pools=real_pools)
    _open(w)
    dialog = w.duplicates_dialog
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and not dialog.busy
    library.duplicate_groups = [duplicate_group([library.track(8), library.track(9)])]
    _open(w)
    assert dialog.isVisible() and dialog.busy
    library.duplicates_gate.release(100)
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1, timeout=5000)


def test_closing_the_main_window_stops_the_search(qtbot, make_main_window, real_pools):
    library = FakeLibrary(30).load_all()
    library.duplicates_gate = threading.Semaphore(0)
    w = make_main_window(library, pools=real_pools)
    _open(w)
    library.duplicates_gate.release(1)
    w.close()  # joins the pools: returns only once the search has stopped
    assert not w.duplicates_dialog.isVisible()


# -- reveal in folder --------------------------------------------------------------------------
class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_reveal_opens_the_folder_without_a_file_manager_service(qtbot, tmp_path, monkeypatch):
    from resonance_app import reveal

    monkeypatch.setattr(reveal, "show_items", lambda path: False)
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        reveal.reveal_in_folder(tmp_path / "a song.flac")
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(tmp_path)]


FAKE_FILE_MANAGER = """
import sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication, QObject, Slot
from PySide6.QtDBus import QDBusConnection
from resonance_app.reveal import OBJECT, SERVICE, show_items

app = QCoreApplication([])
shown = []

class FileManager(QObject):
    @Slot("QStringList", str)
    def ShowItems(self, uris, startup_id):
        shown.extend(uris)
        app.quit()

bus = QDBusConnection.sessionBus()
assert not show_items(Path("/x.flac")), "no file manager yet"
manager = FileManager()
bus.registerService(SERVICE)
bus.registerObject(OBJECT, SERVICE, manager, QDBusConnection.RegisterOption.ExportAllSlots)
assert show_items(Path(sys.argv[1]))
app.exec()
print(shown[0])
"""


def test_reveal_asks_the_file_manager_over_dbus(tmp_path):
    if shutil.which("dbus-run-session") is None:  # a private session bus for the test
        if os.environ.get("CI") == "true":
            pytest.fail("dbus-run-session is missing: the test packages must bring it")
        pytest.skip("dbus-run-session is not installed (Debian: dbus-daemon)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        ["dbus-run-session", "--", sys.executable, "-c", FAKE_FILE_MANAGER,
         str(tmp_path / "a song.flac")], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == QUrl.fromLocalFile(str(tmp_path / "a song.flac")).toString(
        QUrl.ComponentFormattingOption.FullyEncoded)
