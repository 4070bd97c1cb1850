"""Toolbar icons: the theme's when it has them, the bundled SVGs otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QIcon

from resonance_app.icons import ACTION_ICONS, action_icon, icons_folder


@pytest.fixture
def theme(tmp_path: Path):
    """A one-icon theme (a microphone) made current for the test."""
    folder = tmp_path / "icons" / "testtheme"
    (folder / "scalable" / "devices").mkdir(parents=True)
    (folder / "index.theme").write_text("[Icon Theme]\nName=testtheme\nDirectories="
                                        "scalable/devices\n\n[scalable/devices]\nSize=24\n"
                                        "MinSize=8\nMaxSize=256\nType=Scalable\n")
    svg = (icons_folder() / "action-record.svg").read_text()
    (folder / "scalable" / "devices" / "audio-input-microphone.svg").write_text(svg)
    paths, name = QIcon.themeSearchPaths(), QIcon.themeName()
    QIcon.setThemeSearchPaths([str(tmp_path / "icons")])
    QIcon.setThemeName("testtheme")
    yield
    QIcon.setThemeSearchPaths(paths)
    QIcon.setThemeName(name)


def test_bundled_icons_render(qapp) -> None:
    for key, (_names, bundled) in ACTION_ICONS.items():
        assert (icons_folder() / bundled).is_file()
        icon = action_icon(key)
        assert not icon.isNull() and not icon.pixmap(20, 20).isNull(), key


def test_theme_icon_wins_and_the_rest_fall_back(theme) -> None:
    assert action_icon("record").name() == "audio-input-microphone"
    settings = action_icon("settings")
    assert settings.name() != "preferences-system" and not settings.pixmap(20, 20).isNull()


def test_toolbar_actions_have_their_icons(make_main_window, library) -> None:
    w = make_main_window(library)
    for key in ACTION_ICONS:
        assert not w.actions_[key].icon().isNull(), key


def test_transport_icons_stay_readable_on_a_dark_palette(qapp, make_main_window,
                                                        library) -> None:
    """Without a theme, play/stop/volume are drawn in the palette's text colour: light on
    the dark palette (the style's own pixmaps are dark grey there)."""
    from PySide6.QtCore import Qt

    from resonance_app.theme import apply_scheme

    def ink(icon: QIcon) -> int:
        image = icon.pixmap(24, 24).toImage()
        return max(image.pixelColor(x, y).lightness() for x in range(24) for y in range(24)
                   if image.pixelColor(x, y).alpha() > 200)

    w = make_main_window(library)
    bar = w.player_bar
    assert ink(bar.play_button.icon()) < 100  # dark ink on the light palette
    apply_scheme(qapp, Qt.ColorScheme.Dark)
    qapp.processEvents()  # the palette change reaches the widgets as posted events
    try:
        assert ink(bar.play_button.icon()) > 200 and ink(bar.stop_button.icon()) > 200
        assert not bar.volume_icon.pixmap().isNull()
    finally:
        apply_scheme(qapp, Qt.ColorScheme.Light)
        qapp.processEvents()
    assert ink(bar.play_button.icon()) < 100
