"""Light and dark palettes that follow the system's colour scheme.

Desktop platform themes (GNOME, KDE, Windows, macOS) already hand Qt a matching
palette; where one does not (a bare X session, some tiling WMs), Resonance switches
between the style's own light palette and a dark one when the scheme changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#23262b", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1b1d21", QPalette.ColorRole.AlternateBase: "#25282d",
    QPalette.ColorRole.ToolTipBase: "#2d3036", QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2d3036",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3d7bd9", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6aa8ff", QPalette.ColorRole.PlaceholderText: "#8b8f96",
    QPalette.ColorRole.Mid: "#4a4e55", QPalette.ColorRole.Dark: "#16181b",
    QPalette.ColorRole.Light: "#3a3e45", QPalette.ColorRole.Midlight: "#33363c",
    QPalette.ColorRole.Shadow: "#0d0e10",
}


def dark_palette() -> QPalette:
    """A dark palette, with dimmed disabled text."""
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7c8087"))
    return palette


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` has a dark window background."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def apply_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    """Use a palette matching ``scheme`` unless the platform already provides one."""
    current = app.palette()
    if scheme == Qt.ColorScheme.Dark and not is_dark(current):
        app.setPalette(dark_palette())
    elif scheme == Qt.ColorScheme.Light and is_dark(current):
        app.setPalette(app.style().standardPalette())


def follow_system_scheme(app: QApplication) -> None:
    """Apply the current scheme now and whenever the system switches."""
    hints = app.styleHints()
    apply_scheme(app, hints.colorScheme())
    hints.colorSchemeChanged.connect(lambda scheme: apply_scheme(app, scheme))
