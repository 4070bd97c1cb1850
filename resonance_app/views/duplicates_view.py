"""Tools ▸ Find duplicate files: files that hold the same recording, and the copy to keep.

Each group lists its files (title, file, folder, format, bitrate, length), the passage
each shares with the others, and marks the copy the engine suggests keeping, with its
reason. The selected file can be played (from its shared passage) or shown in its
folder. Nothing is ever deleted here: the user decides, in the file manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resonance_app.models import bitrate_kbps, format_duration, waiting_text

if TYPE_CHECKING:
    from engine.library import Copy, DuplicateGroup, TrackInfo
    from resonance_app.discovery import DuplicatesFound

COLUMNS = ("Title", "File", "Folder", "Format", "Bitrate", "Length", "Shared passage",
           "Suggestion")
INTRO = ("Files that hold the same recording: other encodings or bitrates, trims, fades, "
         "a song inside a longer file. The copy worth keeping is marked; nothing is deleted "
         "here.")


def shown_folder(folder: Path, roots: Sequence[Path]) -> str:
    """``folder`` from the music folder holding it (``Music/Downloads``), else in full."""
    for root in sorted(roots, key=lambda r: -len(r.parts)):
        if folder.is_relative_to(root):
            inside = folder.relative_to(root)
            return root.name if not inside.parts else f"{root.name}/{inside.as_posix()}"
    return str(folder)


def passage(copy: Copy) -> str:
    """The shared passage of a copy as ``m:ss–m:ss``."""
    return f"{format_duration(copy.start)}–{format_duration(copy.end)}"


def keep_text(group: DuplicateGroup) -> str:
    """What the Suggestion column says of the copy to keep."""
    reason = group.keep_reason
    return f"\u2714 Keep: {reason}" if reason else "\u2714 Keep (the copies are alike)"


def _file_item(group: DuplicateGroup, copy: Copy, roots: Sequence[Path]) -> QTreeWidgetItem:
    t = copy.track
    kbps = bitrate_kbps(t)
    kept = copy is group.keep
    item = QTreeWidgetItem([
        t.display_title, t.path.name, shown_folder(t.path.parent, roots),
        (t.format or t.path.suffix[1:]).upper(),
        f"{kbps} kbps" if kbps else "", format_duration(t.duration), passage(copy),
        keep_text(group) if kept else "Duplicate"])
    item.setData(0, Qt.ItemDataRole.UserRole, copy)
    item.setToolTip(1, str(t.path))
    item.setToolTip(2, str(t.path.parent))
    item.setToolTip(6, "Where this file holds the recording it shares with the others")
    for col in (3, 4, 5, 6):
        item.setTextAlignment(col, Qt.AlignmentFlag.AlignCenter)
    if not kept:
        item.setToolTip(7, f"Same recording as the kept copy (segment similarity "
                           f"{copy.score:.3f} along the shared passage)")
    else:
        item.setFont(7, _bold(item.font(7)))
        item.setToolTip(7, "The copy suggested to keep: lossless first, then the highest "
                           "bitrate, then the longest")
    return item


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold


def _group_item(group: DuplicateGroup, roots: Sequence[Path]) -> QTreeWidgetItem:
    keep = group.keep.track
    name = f"{keep.artist} — {keep.display_title}" if keep.artist else keep.display_title
    item = QTreeWidgetItem([f"{name}   ·   {len(group.copies)} files"])
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
    item.setFont(0, _bold(item.font(0)))
    for copy in group.copies:
        item.addChild(_file_item(group, copy, roots))
    return item


def _rows(tree: QTreeWidget) -> list[list[QTreeWidgetItem]]:
    """The file rows of each group."""
    groups = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    return [[row for r in range(g.childCount()) if (row := g.child(r)) is not None]
            for g in groups if g is not None]


class _ElideLeft(QStyledItemDelegate):
    """Cuts long folder paths at the start: their last folders tell copies apart."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


class DuplicatesDialog(QDialog):
    """A non-modal window listing the duplicate groups; the search runs elsewhere."""

    searchRequested = Signal()
    cancelRequested = Signal()
    playRequested = Signal(object, float)  # TrackInfo, seconds
    revealRequested = Signal(object)  # Path of the file to show

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Duplicate files")
        width = parent.width() if parent is not None else 1280
        self.resize(min(1200, max(900, width - 80)), 580)
        self.groups: list[DuplicateGroup] = []
        self.busy = False
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.search = QPushButton("Search again")
        self.search.clicked.connect(self.searchRequested)
        top = QHBoxLayout()
        top.addWidget(intro, 1)
        top.addWidget(self.search)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancelRequested)
        self.progress_row = QWidget()
        row = QHBoxLayout(self.progress_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        self.tree = self._make_tree()
        self.message = QLabel()  # empty state, errors, progress: in place of the list
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setObjectName("duplicatesMessage")
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        self.pages.addWidget(self.tree)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        self.play = buttons.addButton("Play", QDialogButtonBox.ButtonRole.ActionRole)
        self.reveal = buttons.addButton("Reveal in folder",
                                        QDialogButtonBox.ButtonRole.ActionRole)
        self.play.setToolTip("Play the selected file from its shared passage")
        self.reveal.setToolTip("Show the selected file in its folder (nothing is deleted)")
        self.play.clicked.connect(self._play)
        self.reveal.clicked.connect(self._reveal)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.progress_row.hide()
        self._show_message("Search the library for files that hold the same recording.")

    def _make_tree(self) -> QTreeWidget:
        tree = QTreeWidget()
        tree.setHeaderLabels(list(COLUMNS))
        tree.setAlternatingRowColors(True)
        tree.setUniformRowHeights(True)
        tree.setRootIsDecorated(False)
        tree.setExpandsOnDoubleClick(False)
        header = tree.header()
        header.setStretchLastSection(False)
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        for col in (0, 1):  # title and file: fitted to the files when filled, then free
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # the folder
        tree.setItemDelegateForColumn(2, _ElideLeft(tree))
        tree.itemDoubleClicked.connect(lambda item, _col: self._play_item(item))
        tree.currentItemChanged.connect(lambda _new, _old: self._update())
        tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.play_action = QAction("Play", tree)
        self.play_action.triggered.connect(self._play)
        self.reveal_action = QAction("Reveal in folder", tree)
        self.reveal_action.triggered.connect(self._reveal)
        tree.addActions([self.play_action, self.reveal_action])
        return tree

    def reject(self) -> None:
        """Closing the window (Close, Escape, the title bar) stops a search under way."""
        if self.busy:
            self.cancelRequested.emit()
        super().reject()

    # -- states ------------------------------------------------------------------------
    def set_busy(self) -> None:
        """A search started: progress and Cancel in place of the list."""
        self.busy = True
        self.progress.setRange(0, 0)  # until the candidates are known
        self.progress.setFormat("Looking for candidates…")
        self.progress_row.show()
        self.search.setEnabled(False)
        self._show_message("Comparing the files that sound alike…")
        self.summary.clear()

    def set_progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` candidate pairs checked."""
        if not self.busy or total <= 0:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"Checked {done:,} of {total:,} likely pairs")

    def set_found(self, found: DuplicatesFound) -> None:
        """Show the groups found (or say that there are none)."""
        self._idle()
        self.groups = list(found.groups)
        self.tree.clear()
        n = found.tracks
        waiting = f" ({waiting_text(found.waiting)})" if found.waiting else ""
        if not self.groups:
            self._show_message(
                f"No duplicates found in {n:,} track{'s' if n != 1 else ''}{waiting}.")
            return
        for group in self.groups:
            item = _group_item(group, found.roots)
            self.tree.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)  # (only once in the tree)
            item.setExpanded(True)
        self.pages.setCurrentWidget(self.tree)
        self._fit_names()
        files = sum(len(g.copies) for g in self.groups)
        spare = sum(c.track.size or 0 for g in self.groups for c in g.copies[1:])
        self.summary.setText(
            f"{len(self.groups)} group{'s' if len(self.groups) != 1 else ''} of duplicates, "
            f"{files} files, among {n:,} tracks{waiting}. The copies not marked to keep take "
            f"{spare / 1e6:,.1f} MB.")
        first = self.tree.topLevelItem(0)
        kept = first.child(0) if first is not None else None
        if kept is not None:
            self.tree.setCurrentItem(kept)

    def _fit_names(self) -> None:
        """Title and file columns as wide as their longest text, up to a third each of
        the list (the group rows span the list and do not count)."""
        metrics = self.tree.fontMetrics()
        cap = max(160, self.tree.viewport().width() // 3)
        for col, indent in ((0, self.tree.indentation()), (1, 0)):
            texts = [item.text(col) for group in _rows(self.tree) for item in group]
            widest = max((metrics.horizontalAdvance(t) for t in texts), default=0)
            self.tree.setColumnWidth(col, min(cap, widest + indent + 24))

    def set_failed(self, message: str) -> None:
        """The search failed: the reason, in place of the list."""
        self._idle()
        self._show_message(message)

    def set_cancelled(self) -> None:
        """The search was cancelled."""
        self._idle()
        self._show_message("Search cancelled. “Search again” starts it over.")

    def set_stale(self) -> None:
        """The library changed since the groups shown were found."""
        if self.groups and not self.busy:
            self.summary.setText("The library has changed since this search: "
                                 "“Search again” to include the changes.")

    def _idle(self) -> None:
        self.busy = False
        self.progress_row.hide()
        self.search.setEnabled(True)

    def _show_message(self, text: str) -> None:
        self.groups = []
        self.tree.clear()
        self.message.setText(text)
        self.pages.setCurrentWidget(self.message)
        self._update()

    # -- the selected file -------------------------------------------------------------
    def current_copy(self) -> Copy | None:
        """The selected file's copy (None on a group's title row)."""
        item = self.tree.currentItem()
        if item is None or self.pages.currentWidget() is not self.tree:
            return None
        copy: Copy | None = item.data(0, Qt.ItemDataRole.UserRole)
        return copy

    def _play_item(self, item: QTreeWidgetItem) -> None:
        self.tree.setCurrentItem(item)
        self._play()

    def _play(self) -> None:
        copy = self.current_copy()
        if copy is not None:
            track: TrackInfo = copy.track
            self.playRequested.emit(track, float(copy.start))

    def _reveal(self) -> None:
        copy = self.current_copy()
        if copy is not None:
            self.revealRequested.emit(Path(copy.track.path))

    def _update(self) -> None:
        on = self.current_copy() is not None
        for widget in (self.play, self.reveal, self.play_action, self.reveal_action):
            widget.setEnabled(on)
