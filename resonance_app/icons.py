"""Action icons: the desktop theme's icon when it has one, else the bundled SVG."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap, QPolygonF

#: action key -> (freedesktop theme names, best first; bundled file in resources/icons)
ACTION_ICONS: dict[str, tuple[tuple[str, ...], str]] = {
    "add_folder": (("folder-new", "folder-add", "list-add"), "action-add-folder.svg"),
    "rescan": (("view-refresh",), "action-rescan.svg"),
    "open": (("document-open",), "action-open.svg"),
    "record": (("audio-input-microphone", "microphone"), "action-record.svg"),
    "settings": (("preferences-system", "configure", "settings"), "action-settings.svg"),
}


#: transport control -> freedesktop theme name
TRANSPORT_ICONS = {"play": "media-playback-start", "pause": "media-playback-pause",
                   "stop": "media-playback-stop", "volume": "audio-volume-high"}


def icons_folder() -> Path:
    """Where the bundled icons live (the installed resources, or the checkout's)."""
    try:
        from engine.resources import resource_path

        return resource_path("icons")
    except Exception:  # resources not importable (odd install): use the checkout path
        return Path(__file__).resolve().parent.parent / "resources" / "icons"


def action_icon(key: str) -> QIcon:
    """The icon of action ``key``: from the theme, with the bundled SVG as fallback."""
    names, bundled = ACTION_ICONS[key]
    fallback = QIcon(str(icons_folder() / bundled))
    for name in names:
        if QIcon.hasThemeIcon(name):
            return QIcon.fromTheme(name, fallback)
    return fallback


def app_icon() -> QIcon:
    """The Resonance icon (SVG, with a PNG fallback)."""
    folder = icons_folder()
    icon = QIcon()
    for name in ("resonance.svg", "resonance.png"):
        if (folder / name).is_file():
            icon.addFile(str(folder / name))
    return icon if not icon.isNull() else QIcon.fromTheme("audio-x-generic")


def transport_icon(kind: str, palette: QPalette) -> QIcon:
    """The theme's media icon ``kind`` (play, pause, stop, volume), else one drawn in
    ``palette``'s button-text colour: the style's own pixmaps are dark grey, unreadable
    on a dark palette."""
    name = TRANSPORT_ICONS[kind]
    if QIcon.hasThemeIcon(name):
        return QIcon.fromTheme(name)
    icon = QIcon()
    for mode, group in ((QIcon.Mode.Normal, QPalette.ColorGroup.Active),
                        (QIcon.Mode.Disabled, QPalette.ColorGroup.Disabled)):
        color = palette.color(group, QPalette.ColorRole.ButtonText)
        for size in (16, 24, 32):
            icon.addPixmap(_draw_transport(kind, size, color), mode)
    return icon


def _draw_transport(kind: str, size: int, color: QColor) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)

    def shape(*points: tuple[float, float]) -> None:
        painter.drawPolygon(QPolygonF([QPointF(x * size, y * size) for x, y in points]))

    if kind == "play":
        shape((0.28, 0.18), (0.82, 0.5), (0.28, 0.82))
    elif kind == "pause":
        painter.drawRect(QRectF(0.22 * size, 0.2 * size, 0.2 * size, 0.6 * size))
        painter.drawRect(QRectF(0.58 * size, 0.2 * size, 0.2 * size, 0.6 * size))
    elif kind == "stop":
        painter.drawRect(QRectF(0.24 * size, 0.24 * size, 0.52 * size, 0.52 * size))
    else:  # volume: a speaker and two sound arcs
        shape((0.1, 0.38), (0.28, 0.38), (0.5, 0.18), (0.5, 0.82), (0.28, 0.62), (0.1, 0.62))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(color, max(1.0, size / 14)))
        for r in (0.16, 0.3):
            painter.drawArc(QRectF((0.5 - r) * size, (0.5 - r) * size, 2 * r * size,
                                   2 * r * size), -50 * 16, 100 * 16)
    painter.end()
    return pixmap
