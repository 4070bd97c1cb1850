"""Typed, versioned settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from resonance_app.settings import SETTINGS_VERSION, Settings


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    s = Settings(path)
    assert s.top_k == 20 and s.library_folders == [] and s.exclude_same_album is False
    s.top_k = 50
    s.diversity = 0.7
    s.library_folders = ["/a", "/b"]
    s.exclude_same_artist = True
    s.geometry = QByteArray(b"\x01\x02")
    s.sync()
    again = Settings(path)
    assert again.top_k == 50 and isinstance(again.top_k, int)
    assert again.diversity == 0.7
    assert again.library_folders == ["/a", "/b"]
    assert again.exclude_same_artist is True
    assert bytes(again.geometry.data()) == b"\x01\x02"
    assert again.version == SETTINGS_VERSION


def test_defaults_are_not_shared(tmp_path: Path) -> None:
    s = Settings(tmp_path / "s.ini")
    s.library_folders.append("/x")
    assert s.library_folders == []


def test_invalid_value_falls_back_to_default(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    qs = QSettings(str(path), QSettings.Format.IniFormat)
    qs.setValue("meta/version", SETTINGS_VERSION)
    qs.setValue("setting/top_k", "many")
    qs.sync()
    assert Settings(path).top_k == 20


def test_upgrade_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.ini"
    qs = QSettings(str(path), QSettings.Format.IniFormat)
    qs.setValue("setting/folders", "/music;/more music")
    qs.sync()
    s = Settings(path)
    assert s.library_folders == ["/music", "/more music"]
    assert s.version == SETTINGS_VERSION


def test_options_are_declared_once() -> None:
    keys = [o.path for o in Settings.options()]
    assert len(keys) == len(set(keys))
    assert {o.section for o in Settings.options()} == {"setting", "persist"}


def test_palette_follows_colour_scheme(qapp) -> None:
    from PySide6.QtCore import Qt

    from resonance_app.theme import apply_scheme, is_dark

    original = qapp.palette()
    try:
        apply_scheme(qapp, Qt.ColorScheme.Dark)
        assert is_dark(qapp.palette())
        apply_scheme(qapp, Qt.ColorScheme.Light)
        assert not is_dark(qapp.palette())
    finally:
        qapp.setPalette(original)
