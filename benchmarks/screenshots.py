"""Render the app's main states to PNG, in a real window, for reviewers.

Run under Xvfb (no display needed)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/screenshots.py

States: welcome, scanning, results with sliders and the match strip, playlist (with
the player running and the matching region on the seek bar), an imported playlist
with a missing entry, the record dialog, the settings dialog's model panel, About,
the unexpected-error dialog, the library map (by mix, with a lasso selection; by
artist), the mixes panel with a mix opened as a playlist, the duplicate files (planted
re-encoded and trimmed copies), and the results in a dark palette. The library is real:
a folder of generated, tagged songs scanned by the engine with a small real ONNX model
(``tests/model_factory.py``, or the shipped default model with ``--default-model``).
Audio devices are the in-memory fake, so nothing is played. PNGs go to
``benchmarks/out/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

CACHE = ROOT / "benchmarks" / "_cache"
OUT = ROOT / "benchmarks" / "out" / "screenshots"
SR = 16000

ARTISTS = ["The Quiet Harbors", "Mina Ode", "Lumen Drift", "Cassia Vale", "Northbound Choir",
           "Rafael Ortiz Trio", "Paper Satellites", "Ivy & the Lanterns"]
ALBUMS = ["Low Tide", "Glass Orchard", "Night Ferry", "Copper Sky", "Field Notes", "Hollow Hills"]
WORDS = ["Amber", "Signal", "Waltz", "Harbor", "Echo", "Quiet", "Morning", "Static", "Velvet",
         "Orbit", "Paper", "River", "Lantern", "Northern", "Drift", "Glass", "Summer", "Tide"]
NOUNS = ["Lights", "Song", "Lines", "Avenue", "Rooms", "Weather", "Hearts", "Machines",
         "Garden", "Letters", "Static", "Bloom"]


def wait(condition: Callable[[], bool], timeout_ms: int = 60_000) -> bool:
    """Run the event loop until ``condition()`` holds (or the timeout)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return True
    loop = QEventLoop()
    poll = QTimer(interval=20)
    poll.timeout.connect(lambda: condition() and loop.quit())
    poll.start()
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    poll.stop()
    return condition()


def settle(ms: int = 150) -> None:
    """Let pending events and paints run."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _cover_png(seed: int) -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice, QPointF
    from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter

    rng = np.random.default_rng(seed)
    image = QImage(300, 300, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    grad = QLinearGradient(QPointF(0, 0), QPointF(300, 300))
    grad.setColorAt(0, QColor.fromHsv(int(rng.integers(0, 360)), 160, 200))
    grad.setColorAt(1, QColor.fromHsv(int(rng.integers(0, 360)), 200, 90))
    painter.fillRect(image.rect(), grad)
    painter.setPen(QColor(255, 255, 255, 140))
    for r in range(30, 300, 28):
        painter.drawEllipse(QPointF(150, 150), r, r)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


def build_demo_music(folder: Path, count: int, *, seconds: float = 12.0) -> Path:
    """Generated songs with believable tags (and covers for half the albums); cached."""
    from mutagen.flac import FLAC, Picture

    from tests.audio_factory import song, write_audio

    marker = folder / f".complete-{count}-{seconds}-copies"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(7)
    covers = {album: _cover_png(i) for i, album in enumerate(ALBUMS) if i % 2 == 0}
    for i in range(count):
        artist = ARTISTS[i % len(ARTISTS)]
        album = ALBUMS[(i // 3) % len(ALBUMS)]
        title = f"{rng.choice(WORDS)} {rng.choice(NOUNS)}"
        path = folder / artist / album / f"{i % 12 + 1:02d} {title}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, song(i, seconds, sr=SR), sr=SR)
        tags = FLAC(str(path))
        tags.update({"title": title, "artist": artist, "album": album,
                     "tracknumber": str(i % 12 + 1), "date": str(1998 + i % 25),
                     "genre": ["Indie", "Jazz", "Ambient", "Folk"][i % 4]})
        if album in covers:
            pic = Picture()
            pic.type, pic.mime, pic.data = 3, "image/png", covers[album]
            tags.add_picture(pic)
        tags.save()
    _plant_copies(folder)
    marker.touch()
    return folder


def _plant_copies(folder: Path) -> None:
    """Two longer songs with copies elsewhere: two re-encodes of one, a trimmed rip of the
    other, tagged like their originals."""
    import mutagen

    from tests.audio_factory import song, write_audio, write_lossy

    harbor, orbit = song(200, 40.0, sr=SR), song(201, 40.0, sr=SR)
    files = {
        ("Lumen Drift", "Harbor Lights"): [
            (Path("Lumen Drift/Singles/Harbor Lights.flac"), harbor, 0),
            (Path("Downloads/Lumen Drift - Harbor Lights.mp3"), harbor, 128_000),
            (Path("Phone/Harbor Lights.m4a"), harbor, 96_000)],
        ("Cassia Vale", "Paper Orbit"): [
            (Path("Cassia Vale/Singles/Paper Orbit.flac"), orbit, 0),
            (Path("Old rips/Paper Orbit (edit).flac"), orbit[4 * SR:-6 * SR], 0)],
    }
    for (artist, title), copies in files.items():
        for relative, y, bit_rate in copies:
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if bit_rate:
                write_lossy(path, y, sr=SR, bit_rate=bit_rate)
            else:
                write_audio(path, y, sr=SR)
            tags = mutagen.File(str(path), easy=True)
            if tags.tags is None:
                tags.add_tags()
            tags["title"], tags["artist"], tags["album"] = title, artist, "Singles"
            tags.save()


def model_dir(use_default: bool) -> Path:
    """The shipped default model, or a small real test model (cached)."""
    if use_default:
        from engine.model import default_model_dir

        return default_model_dir()
    from tests.model_factory import build_model

    target = CACHE / "model"
    if not (target / "card.json").exists():
        build_model(target, name="demo-model")
    return target


def grab(widget, name: str) -> Path:
    """Save a PNG of ``widget`` (rendered by Qt, so dialogs and windows alike)."""
    settle()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Build the demo library and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=60)
    parser.add_argument("--default-model", action="store_true",
                        help="use resources/models/default instead of the test model")
    parser.add_argument("--size", default="1600x1000",
                        help="window size WxH; PNGs go to out/screenshots/WxH/")
    args = parser.parse_args(argv)
    global OUT
    OUT = OUT / args.size
    size = tuple(int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="resonance-shots-"))
    os.environ["RESONANCE_SETTINGS"] = str(work / "settings.ini")

    from resonance_app.app import make_application

    app = make_application(["resonance-screenshots"])
    music = build_demo_music(CACHE / "demo_music", args.tracks)
    model = model_dir(args.default_model)
    try:
        return _shoot(app, work, music, model, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _shoot(app, work: Path, music: Path, model: Path, size: tuple[int, int]) -> int:
    from engine.library import Library
    from resonance_app.audio_io import FakeAudioBackend
    from resonance_app.settings import Settings
    from resonance_app.views.main_window import MainWindow

    settings = Settings(work / "settings.ini")
    settings.worker_count = 0  # analyse in the scan thread: slower, so the bar is visible
    audio = FakeAudioBackend()
    library = Library.open(work / "library", model_dir=model)
    window = MainWindow(library, settings=settings, audio=audio)
    window.resize(*size)
    window.show()
    wait(window.isVisible)
    grab(window, "1-welcome")

    shot: dict[str, bool] = {}

    def on_progress(p) -> None:
        if p.stage == "analyse" and p.done >= p.total // 2 and not shot:
            shot["scan"] = True
            grab(window, "2-scanning")

    window.controller.scanProgress.connect(on_progress)
    done: list[bool] = []
    window.controller.scanFinished.connect(done.append)
    window.folders.add(music)
    wait(lambda: bool(done), 300_000)
    _results(window, library)
    _playlist(window, audio)
    _imported_playlist(window, work)
    _record(window, audio)
    _settings(window)
    _about(window)
    _error_dialog(window, work)
    _library_columns(window)
    _map(window)
    _mixes(window)
    _duplicates(window)
    _dark(app, window)
    window.close()
    library.close()
    return 0


def _results(window, library) -> None:
    panel = window.library_panel
    panel.view.sortByColumn(1, panel.view.horizontalHeader().sortIndicatorOrder())
    covered = next(r for r in range(panel.proxy.rowCount())
                   if panel.model.track(panel.proxy.mapToSource(panel.proxy.index(r, 0)).row())
                   .has_cover)
    panel.view.selectRow(covered)
    wait(lambda: not panel.cover.pixmap().isNull(), 5000)
    window.seeds.from_track(panel.current_track())
    wait(lambda: window.results.model.rowCount() > 0)
    c = window.controls
    c.prf.setValue(3)
    c.diversity.setValue(35)
    c.weights["harmony"].setValue(70)
    c.top_k.setValue(25)
    settle(600)
    window.results.view.selectRow(1)
    wait(lambda: bool(window.results.strip.profile), 10_000)  # similarity along the track
    settle(100)
    grab(window, "3-results")
    print(f"title column at {window.width()}x{window.height()}: "
          f"{window.results.title_chars():.1f} average characters")


def _map(window) -> None:
    """The library map coloured by mix, the seed starred, its results ringed, and a
    lasso selection around the largest mix."""
    window.show_map()
    wait(lambda: window.map_panel is not None and window.map_panel.data is not None, 120_000)
    panel = window.map_panel
    data = panel.data
    members = data.xy[data.mix == 0]
    centre = members.mean(axis=0)
    radius = float(np.max(np.linalg.norm(members - centre, axis=1))) * 0.8
    angles = np.linspace(0, 2 * np.pi, 40)
    panel.lasso.setChecked(True)
    panel._lassoed(centre + radius * np.c_[np.cos(angles), np.sin(angles)])
    settle(300)
    grab(window, "11-map-by-mix")
    panel.colour_by.setCurrentText("Artist")
    settle(300)
    grab(panel, "11b-map-by-artist")
    panel.lasso.setChecked(False)


def _mixes(window) -> None:
    """Six mixes; the first opened as a playlist."""
    window.show_mixes()
    panel = window.mixes_panel
    wait(lambda: panel.make.isEnabled(), 60_000)
    panel.count.setValue(6)
    panel.make.click()
    wait(lambda: len(panel.mixes) == 6, 60_000)
    panel.list.setCurrentRow(0)
    window.playlist._saved_keys = window.playlist.model.keys()  # no "replace?" question
    panel.open.click()
    settle(300)
    grab(window, "12-mixes")
    window.left_tabs.setCurrentWidget(window.library_panel)
    window.centre_tabs.setCurrentWidget(window.results)


def _duplicates(window) -> None:
    """Tools ▸ Find duplicate files, with the planted copies found and a copy selected."""
    window.actions_["duplicates"].trigger()
    dialog = window.duplicates_dialog
    wait(lambda: not dialog.busy, 120_000)
    first = dialog.tree.topLevelItem(0)
    if first is not None and first.childCount() > 1:
        dialog.tree.setCurrentItem(first.child(1))
    grab(dialog, "13-duplicates")
    dialog.close()


def _playlist(window, audio) -> None:
    window.results.seed_count.setValue(15)
    window.results.from_seed.click()
    wait(lambda: window.playlist.model.rowCount() == 15)
    window.playlist.view.selectRow(2)
    window.results.view.selectRow(0)
    window.play(window.results.model.track(0), 4.0)
    wait(lambda: window.player.state == "playing")
    audio.last.pull(int(44100 * 2.5))
    settle(200)
    grab(window, "4-playlist")


def _imported_playlist(window, work: Path) -> None:
    tracks = window.controller.tracks
    path = work / "Road trip.m3u8"
    path.write_text("#EXTM3U\n#PLAYLIST:Road trip\n" + "\n".join(
        [str(tracks[3].path), str(tracks[9].path), str(work / "Lost Song.flac"),
         str(tracks[14].path)]) + "\n", encoding="utf-8")
    window.playlist.start_new([], "")
    window.playlist.import_file(path)
    wait(lambda: window.playlist.name == "Road trip" and window.playlist.model.rowCount() == 4)
    grab(window, "4b-playlist-imported-with-missing-entry")


def _library_columns(window) -> None:
    from resonance_app.models import TrackTableModel

    panel = window.library_panel
    for name in ("File name", "Year", "Genre", "Track", "Bitrate", "Added"):
        panel.view.setColumnHidden(TrackTableModel.COLUMNS.index(name), False)
    window.splitter.setSizes([1000, 400, 200])
    panel.view.sortByColumn(TrackTableModel.COLUMNS.index("Year"),
                            panel.view.horizontalHeader().sortIndicatorOrder())
    grab(window, "10-library-more-columns")
    window.splitter.setSizes([470, 640, 270])


def _about(window) -> None:
    window.actions_["about"].trigger()
    dialog = window.about_dialog
    wait(lambda: "loading" not in dialog.text.toPlainText(), 10_000)
    grab(dialog, "8-about")
    dialog.close()


def _error_dialog(window, work: Path) -> None:
    from PySide6.QtCore import QTimer

    from resonance_app.crash import ErrorReporter

    reporter = ErrorReporter(work / "logs" / "resonance-app.log", lambda: window)
    reporter.install()

    def broken() -> None:
        raise RuntimeError("an example failure inside a slot")

    QTimer.singleShot(0, window, broken)
    wait(lambda: reporter.dialog is not None, 5000)
    grab(reporter.dialog, "9-error-dialog")
    reporter.dialog.close()
    reporter.uninstall()


def _record(window, audio) -> None:
    window.recorder.countdown = 0
    window.actions_["record"].trigger()
    dialog = window.record_dialog
    dialog.length.setValue(10)
    dialog.record_button.click()
    t = np.arange(44100 * 4) / 44100
    y = (0.55 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)))
    audio.last.feed(y.astype(np.float32)[:, None])
    settle(300)
    grab(dialog, "5-record-dialog")
    dialog.close()


def _settings(window) -> None:
    window.actions_["settings"].trigger()
    dialog = window.settings_dialog
    dialog.tabs.setCurrentIndex(1)  # the model card
    wait(lambda: "SHA-256" in dialog.card.toPlainText(), 10_000)
    grab(dialog, "7-settings-model")
    dialog.close()


def _dark(app, window) -> None:
    from PySide6.QtCore import Qt

    from resonance_app.theme import apply_scheme

    # What the app does when the system reports a dark scheme (Xvfb has no theme to ask).
    apply_scheme(app, Qt.ColorScheme.Dark)
    settle(400)
    grab(window, "6-results-dark")
    apply_scheme(app, Qt.ColorScheme.Light)


if __name__ == "__main__":
    sys.exit(main())
