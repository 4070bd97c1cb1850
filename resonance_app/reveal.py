"""Show a file in the desktop's file manager.

Where a file manager offers the freedesktop ``org.freedesktop.FileManager1`` D-Bus
service (Nautilus, Dolphin, Nemo, Caja, Thunar…), the file is shown selected in its
folder; elsewhere its folder is opened with the desktop's default handler.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

SERVICE = "org.freedesktop.FileManager1"
OBJECT = "/org/freedesktop/FileManager1"


def reveal_in_folder(path: Path) -> None:
    """Show ``path`` selected in the file manager, or else open its folder."""
    if not show_items(path):
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


def show_items(path: Path) -> bool:
    """Ask the session's FileManager1 service to show ``path``; False when no file
    manager offers it (no session bus, or the service is not running)."""
    from PySide6.QtDBus import QDBusConnection, QDBusMessage

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    registered = bus.interface().isServiceRegistered(SERVICE)
    if not registered.isValid() or not registered.value():
        return False
    message = QDBusMessage.createMethodCall(SERVICE, OBJECT, SERVICE, "ShowItems")
    uri = bytes(QUrl.fromLocalFile(str(path)).toEncoded().data()).decode("ascii")
    message.setArguments([[uri], ""])  # ShowItems(as uris, s startup id)
    return bool(bus.send(message))
