"""Cover art of the selected track, read off the GUI thread."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mutagen.flac import FLAC, Picture
from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QColor, QImage

from engine.tags import read_cover
from tests.app.fakes import FakeLibrary
from tests.audio_factory import song, write_audio


def _png_bytes() -> bytes:
    image = QImage(32, 32, QImage.Format.Format_RGB32)
    image.fill(QColor("#c04080"))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


def _flac_with_cover(path: Path) -> Path:
    write_audio(path, song(1, 1.0, sr=16000), sr=16000)
    audio = FLAC(str(path))
    pic = Picture()
    pic.type, pic.mime, pic.data = 3, "image/png", _png_bytes()
    audio.add_picture(pic)
    audio.save()
    return path


def test_read_cover(tmp_path: Path) -> None:
    path = _flac_with_cover(tmp_path / "a.flac")
    assert read_cover(path) == _png_bytes()
    plain = write_audio(tmp_path / "b.wav", song(2, 1.0, sr=16000), sr=16000)
    assert read_cover(plain) is None
    (tmp_path / "cover.jpg").write_bytes(b"jpeg bytes")
    assert read_cover(plain) == b"jpeg bytes"
    assert read_cover(tmp_path / "missing.flac") == b"jpeg bytes"


def test_selected_track_shows_cover(qtbot, make_main_window, tmp_path: Path) -> None:
    lib = FakeLibrary(3).load_all()
    path = _flac_with_cover(tmp_path / "c.flac")
    lib._all[0] = lib._visible[0] = replace(lib._visible[0], path=path, has_cover=True)
    w = make_main_window(lib)
    panel = w.library_panel
    row = next(r for r in range(panel.proxy.rowCount())
               if panel.model.track(panel.proxy.mapToSource(panel.proxy.index(r, 0)).row())
               .has_cover)
    panel.view.selectRow(row)
    qtbot.waitUntil(lambda: not panel.cover.pixmap().isNull(), timeout=3000)
    other = (row + 1) % 3
    panel.view.selectRow(other)
    assert panel.cover.pixmap().isNull() and panel.cover.text() == "♪"
    assert "Song" in panel.info.text()


def test_folder_image_when_the_file_has_none(qtbot, make_main_window, tmp_path: Path) -> None:
    lib = FakeLibrary(3).load_all()
    album = tmp_path / "Album"
    album.mkdir()
    plain = write_audio(album / "01.wav", song(2, 1.0, sr=16000), sr=16000)
    (album / "notes.txt").write_text("not an image")
    (album / "Folder.PNG").write_bytes(_png_bytes())
    lib._all[0] = lib._visible[0] = replace(lib._visible[0], path=plain, has_cover=False)
    w = make_main_window(lib)
    panel = w.library_panel
    row = next(r for r in range(panel.proxy.rowCount())
               if panel.model.track(panel.proxy.mapToSource(panel.proxy.index(r, 0)).row())
               .path == plain)
    panel.view.selectRow(row)
    qtbot.waitUntil(lambda: not panel.cover.pixmap().isNull(), timeout=3000)
    (album / "front.jpeg").write_bytes(b"front")
    (album / "cover.jpg").write_bytes(b"cover")
    assert read_cover(plain) == b"cover"  # cover before folder before front
