"""Typed, versioned settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from resonance_app.settings import SETTINGS_VERSION, Settings


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    s = Settings(path)
    assert s.top_k == 20 and s.weights == [1.0, 1.0, 1.0] and s.exclude_same_album is False
    s.top_k = 50
    s.diversity = 0.7
    s.weights = [0.5, 1.0, 2.0]
    s.exclude_same_artist = True
    s.geometry = QByteArray(b"\x01\x02")
    s.sync()
    again = Settings(path)
    assert again.top_k == 50 and isinstance(again.top_k, int)
    assert again.diversity == 0.7
    assert again.weights == [0.5, 1.0, 2.0]
    assert again.exclude_same_artist is True
    assert bytes(again.geometry.data()) == b"\x01\x02"
    assert again.version == SETTINGS_VERSION


def test_defaults_are_not_shared(tmp_path: Path) -> None:
    s = Settings(tmp_path / "s.ini")
    s.weights.append(9.0)
    assert s.weights == [1.0, 1.0, 1.0]


def test_invalid_value_falls_back_to_default(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    qs = QSettings(str(path), QSettings.Format.IniFormat)
    qs.setValue("meta/version", SETTINGS_VERSION)
    qs.setValue("setting/top_k", "many")
    qs.sync()
    assert Settings(path).top_k == 20


def test_upgrade_drops_the_shadow_of_the_library_folders(tmp_path: Path) -> None:
    """The folders live in the library; versions 1 and 2 kept a copy in the settings."""
    for version, key, value in ((1, "setting/folders", "/music;/more music"),
                                (2, "setting/library_folders", '["/music"]')):
        path = tmp_path / f"v{version}.ini"
        qs = QSettings(str(path), QSettings.Format.IniFormat)
        if version > 1:
            qs.setValue("meta/version", version)
        qs.setValue(key, value)
        qs.setValue("setting/top_k", 40)
        qs.sync()
        s = Settings(path)
        assert s.version == SETTINGS_VERSION and s.top_k == 40
        s.sync()
        text = path.read_text()
        assert "folders" not in text, text


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
