"""Action icons: the desktop theme's icon when it has one, else the bundled SVG."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

#: action key -> (freedesktop theme names, best first; bundled file in resources/icons)
ACTION_ICONS: dict[str, tuple[tuple[str, ...], str]] = {
    "add_folder": (("folder-new", "folder-add", "list-add"), "action-add-folder.svg"),
    "rescan": (("view-refresh",), "action-rescan.svg"),
    "open": (("document-open",), "action-open.svg"),
    "record": (("audio-input-microphone", "microphone"), "action-record.svg"),
    "settings": (("preferences-system", "configure", "settings"), "action-settings.svg"),
}


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
