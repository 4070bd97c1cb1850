"""Event builders for GUI tests: drag-and-drop, double-clicks and context menus with real
Qt events."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMenu, QWidget


def file_mime(*paths: Path) -> QMimeData:
    """Mime data as a file manager would send it: file URLs."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drag_and_drop(widget: QWidget, mime: QMimeData, pos: QPoint | None = None) -> bool:
    """Send enter, move and drop events to ``widget``; True when the drop was accepted."""
    pos = pos or widget.rect().center()
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    # Qt 6.11 takes QPoint for enter/move and QPointF for drop; newer builds take QPointF
    enter = _event(QDragEnterEvent, pos, actions, mime, buttons, mods)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    move = _event(QDragMoveEvent, pos, actions, mime, buttons, mods)
    QApplication.sendEvent(widget, move)
    drop = _event(QDropEvent, pos, actions, mime, buttons, mods)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def _event(kind: type, pos: QPoint, *args: object) -> object:
    """Build a drag/drop event, with a QPointF position where the binding takes one."""
    try:
        return kind(QPointF(pos), *args)
    except TypeError:
        return kind(pos, *args)


def double_click(view: QAbstractItemView, index: QModelIndex) -> None:
    """Double-click the cell at ``index`` with the mouse (a first click makes Qt's
    double-click detection see the second press as the double click, as a user's is)."""
    pos = view.visualRect(index).center()
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(view.viewport(), left, none, pos)
    QTest.mouseDClick(view.viewport(), left, none, pos)


def context_menu(widget: QWidget, pos: QPoint) -> QMenu:
    """Send ``widget`` the context-menu event a right-click at ``pos`` makes (QTest's
    right-click does not make one) and return the menu that pops up."""
    QApplication.sendEvent(widget, QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos)))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu), "no context menu opened"
    return menu


def choose(menu: QMenu, text: str) -> QAction:
    """Click the entry ``text`` of an open ``menu`` with the mouse."""
    action = next(a for a in menu.actions() if a.text() == text)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     menu.actionGeometry(action).center())
    return action
