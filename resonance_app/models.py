"""Qt item models over the engine's plain data (TrackInfo, SearchResult).

Rows are read lazily by ``data()``; nothing is copied into Qt items, so a 20,000-track
library is one list and one reset. Dragging rows out carries file URLs (for other
apps) plus the track ids (for drops inside Resonance).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QUrl,
)
from PySide6.QtGui import QColor

if TYPE_CHECKING:
    from engine.library import SearchResult, TrackInfo

TRACK_MIME = "application/x-resonance-track-ids"
STATUS_TEXT = {"ok": "Ready", "pending": "Waiting", "error": "Unreadable",
               "missing": "Missing", "masked": "Offline"}
ROWS_MIME = "application/x-resonance-playlist-rows"


def waiting_text(count: int) -> str:
    """Says that ``count`` tracks are not usable yet: new files, or files analysed with
    another model (the engine lists them ``pending`` until a scan re-embeds them)."""
    return f"{count:,} track{'s' if count != 1 else ''} waiting for analysis with the current model"
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


@dataclass(frozen=True)
class MissingEntry:
    """A saved playlist entry whose file is not in the library (shown greyed, kept)."""

    path: Path
    reason: str
    id: None = None
    title: None = None
    artist: None = None
    album: None = None
    album_artist: None = None
    genre: None = None
    duration: None = None
    status: str = "missing"

    @property
    def error(self) -> str:
        """Why the entry cannot be played (as TrackInfo.error)."""
        return self.reason

    @property
    def display_title(self) -> str:
        """The file name, as TrackInfo.display_title gives for an untagged file."""
        return Path(self.path).stem


def format_duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def tracks_mime(tracks: Sequence[TrackInfo | MissingEntry]) -> QMimeData:
    """Mime data for dragging ``tracks``: file URLs, plain text paths, and track ids."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(t.path)) for t in tracks])
    mime.setText("\n".join(str(t.path) for t in tracks))
    mime.setData(TRACK_MIME, json.dumps([t.id for t in tracks if t.id is not None]).encode())
    return mime


def rows_from_mime(mime: QMimeData) -> list[int]:
    """Playlist row numbers carried by an internal playlist drag (empty when none)."""
    if not mime.hasFormat(ROWS_MIME):
        return []
    try:
        return [int(i) for i in json.loads(bytes(mime.data(ROWS_MIME).data()).decode())]
    except (ValueError, TypeError):
        return []


def track_ids_from_mime(mime: QMimeData) -> list[int]:
    """The Resonance track ids carried by ``mime`` (empty when none)."""
    if not mime.hasFormat(TRACK_MIME):
        return []
    try:
        return [int(i) for i in json.loads(bytes(mime.data(TRACK_MIME).data()).decode())]
    except (ValueError, TypeError):
        return []


#: a display or sort value of one cell
Cell = str | int | float
#: what rows are ordered by: a cell value, or (for the library) a tuple of tie-breakers
SortKey = Cell | tuple[Cell, str, int, str]


def _sort_key(value: Cell | None) -> Cell:
    if value is None:
        return ""
    return value.casefold() if isinstance(value, str) else value


def _search_text(t: TrackInfo | MissingEntry) -> str:
    return " ".join(str(v) for v in (t.title, t.artist, t.album, t.album_artist, t.genre,
                                     Path(t.path).name) if v).lower()


Row = TypeVar("Row")  # what one row of a table stands for


class _TrackListModel(QAbstractTableModel, Generic[Row]):
    """A table over a list of rows; subclasses define COLUMNS, ``track`` and ``cell``."""

    COLUMNS: tuple[str, ...] = ()
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1
    ROW_ROLE = Qt.ItemDataRole.UserRole + 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._haystack: list[str] | None = None

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace every row (one reset)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._haystack = None
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in Python with one key per row (far faster than per-pair ``lessThan``)."""
        if column < 0 or column >= len(self.COLUMNS) or len(self._rows) < 2:
            return
        self.layoutAboutToBeChanged.emit()
        keys = [self.sort_key(r, column) for r in self._rows]
        missing = [self.missing(r, column) for r in self._rows]
        present = [i for i in range(len(self._rows)) if not missing[i]]
        absent = [i for i in range(len(self._rows)) if missing[i]]
        order_ix = sorted(present, key=keys.__getitem__,
                          reverse=order == Qt.SortOrder.DescendingOrder)
        order_ix += sorted(absent, key=keys.__getitem__)  # rows without a value: always last
        new_pos = [0] * len(order_ix)
        for new, was in enumerate(order_ix):
            new_pos[was] = new
        self._rows = [self._rows[i] for i in order_ix]
        self._haystack = None
        old = self.persistentIndexList()
        self.changePersistentIndexList(
            old, [self.index(new_pos[i.row()], i.column()) for i in old])
        self.layoutChanged.emit()

    def haystack(self, i: int) -> str:
        """Lower-case text of row ``i`` that the filter box searches."""
        if self._haystack is None:
            self._haystack = [_search_text(self.track(r)) for r in range(len(self._rows))]
        return self._haystack[i]

    def rows(self) -> list[Row]:
        """All rows, in model order."""
        return list(self._rows)

    def row(self, i: int) -> Row:
        """The row object at ``i``."""
        return self._rows[i]

    def track(self, i: int) -> TrackInfo | MissingEntry:
        """The track (or missing playlist entry) of row ``i``."""
        raise NotImplementedError

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, self.SORT_ROLE):
            return self.cell(row, index.column(), role == self.SORT_ROLE)
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(self.track(index.row()).path)
        if role == self.ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and self.numeric(index.column()):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def cell(self, row: Row, column: int, for_sort: bool) -> Cell:
        """Display (or sort key) value of ``column`` for ``row``."""
        raise NotImplementedError

    def sort_key(self, row: Row, column: int) -> SortKey:
        """What ``sort`` orders ``row`` by in ``column``."""
        return _sort_key(self.cell(row, column, True))

    def missing(self, row: Row, column: int) -> bool:
        """Whether ``row`` has no value in ``column`` (such rows sort last either way)."""
        return False

    def numeric(self, column: int) -> bool:
        """Whether ``column`` is right-aligned."""
        return False

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", TRACK_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return tracks_mime([self.track(r) for r in rows])

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


class TrackTableModel(_TrackListModel["TrackInfo"]):
    """Every track of the library."""

    COLUMNS = ("Title", "Artist", "Album", "Time", "Format", "Status", "File name", "Folder",
               "Year", "Genre", "Track", "Bitrate", "Added")
    #: Shown on first start; the others are a right-click on the header away.
    DEFAULT_VISIBLE = ("Title", "Artist", "Album", "Time")
    NUMERIC = frozenset({3, 8, 10, 11, 12})

    def track(self, i: int) -> TrackInfo:
        return self._rows[i]

    def cell(self, row: TrackInfo, column: int, for_sort: bool) -> Cell:
        name = self.COLUMNS[column]
        if name == "Time":
            return (row.duration or 0.0) if for_sort else format_duration(row.duration)
        if name == "Bitrate":
            kbps = bitrate_kbps(row)
            return (kbps or 0) if for_sort else (f"{kbps} kbps" if kbps else "")
        if name == "Added":
            added = row.added
            if for_sort:
                return added or 0.0
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(added)) if added else ""
        if name in ("Year", "Track"):
            value = row.year if name == "Year" else row.track_no
            return (value or 0) if for_sort else (str(value) if value else "")
        return {
            "Title": lambda: row.display_title,
            "Artist": lambda: row.artist or "",
            "Album": lambda: row.album or "",
            "Format": lambda: (row.format or Path(row.path).suffix.lstrip(".")).upper(),
            "Status": lambda: STATUS_TEXT.get(row.status, row.status or ""),
            "File name": lambda: Path(row.path).name,
            "Folder": lambda: str(Path(row.path).parent),
            "Genre": lambda: row.genre or "",
        }[name]()

    def sort_key(self, row: TrackInfo, column: int) -> SortKey:
        """The value (the file name when it is missing), then album, track number and file
        name as tie-breakers, as players order them."""
        name = Path(row.path).name.casefold()
        value = name if self.missing(row, column) else _sort_key(self.cell(row, column, True))
        return (value, (row.album or "").casefold(), row.track_no or 0, name)

    def missing(self, row: TrackInfo, column: int) -> bool:
        return self.cell(row, column, True) in ("", 0, 0.0, None)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            t = self._rows[index.row()]
            return f"{t.path}\n{t.error}" if t.error else str(t.path)
        if (index.isValid() and role == Qt.ItemDataRole.ForegroundRole
                and self._rows[index.row()].status != "ok"):
            return QColor(Qt.GlobalColor.gray)
        return super().data(index, role)

    def numeric(self, column: int) -> bool:
        return column in self.NUMERIC

    def set_rows_keeping_order(self, rows: Sequence[TrackInfo]) -> None:
        """Replace the rows without moving those already shown (new ones go last).

        Used while a scan fills in tags, so the row under the pointer does not jump.
        """
        position = {r.id: i for i, r in enumerate(self._rows)}
        end = len(position)
        ordered = sorted(rows, key=lambda r: position.get(r.id, end))
        self.set_rows(ordered)


def bitrate_kbps(track: TrackInfo) -> int | None:
    """Average bitrate from file size and duration (what players show for VBR files)."""
    size, duration = track.size, track.duration
    if not size or not duration or duration <= 0:
        return None
    return int(round(size * 8 / duration / 1000))


class TrackFilterProxy(QSortFilterProxyModel):
    """Sorts by the sort role and keeps rows whose title/artist/album/path match every word.

    Its source is the library table it was made for (which owns sorting and the text
    each row is searched by).
    """

    def __init__(self, source: TrackTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self.setSourceModel(source)
        self._words: list[str] = []
        self.setSortRole(_TrackListModel.SORT_ROLE)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(False)

    def set_filter_text(self, text: str) -> None:
        """Filter on the words of ``text`` (case-insensitive, all must match)."""
        self.beginFilterChange()
        self._words = text.lower().split()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self._words:
            return True
        hay = self._source.haystack(source_row)
        return all(w in hay for w in self._words)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Delegate sorting to the source model; the proxy keeps the source order."""
        self._source.sort(column, order)


class ResultsModel(_TrackListModel["SearchResult"]):
    """Ranked search results; the Match column carries the modality scores for painting."""

    COLUMNS = ("#", "Title", "Artist", "Score", "Match", "At")
    MATCH_COLUMN = 4
    MODALITY_ROLE = Qt.ItemDataRole.UserRole + 3
    HEADER_TIPS: ClassVar[dict[int, str]] = {
        3: "Score: how alike the best-matching parts of the two songs sound, weighted by the "
           "Timbre / Harmony / Rhythm sliders (1 = the same sound); another version of the "
           "seed (its music stands out from the rest, or its harmonies follow the seed's in "
           "any key and tempo) scores more.\nWith Variety above 0 the "
           "list is re-ordered to mix styles, so scores need not decrease down the list.",
        4: "Similarity of timbre (blue), harmony (green) and rhythm (orange)",
        5: "Where in the track the best match starts (double-click plays from there)",
    }

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS.get(section)
        return super().headerData(section, orientation, role)

    def reordered(self) -> bool:
        """Whether the ranking is not by score (diversity moved lower scores up)."""
        return any(a.score < b.score for a, b in zip(self._rows, self._rows[1:], strict=False))

    def track(self, i: int) -> TrackInfo:
        return self._rows[i].track

    def rows_tracks(self) -> list[TrackInfo]:
        """The tracks of every result, in rank order."""
        return [r.track for r in self._rows]

    def cell(self, row: SearchResult, column: int, for_sort: bool) -> Cell:
        if column == 1:
            return row.track.display_title
        if column == 2:
            return row.track.artist or ""
        if column == 3:
            return row.score if for_sort else f"{row.score:.3f}"
        if column == 4:
            return "" if not for_sort else row.score
        if for_sort:
            return row.match_offset
        return format_duration(row.match_offset)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and index.column() == 0 and role in (Qt.ItemDataRole.DisplayRole,
                                                                self.SORT_ROLE):
            return index.row() + 1
        if index.isValid() and role == self.MODALITY_ROLE:
            return dict(self._rows[index.row()].modalities)
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            r = self._rows[index.row()]
            parts = ", ".join(f"{k} {v:.2f}" for k, v in r.modalities.items())
            version = (f"; +{r.version_bonus:.2f} because its music or its harmonies "
                       "follow the seed's" if r.version_bonus > 0 else "")
            if r.likely_version:
                version += " (another version of it?)"
            return (f"{r.track.path}\nscore {r.score:.3f}: how alike the best-matching parts "
                    f"sound, 1 = the same sound ({parts}){version}\n"
                    f"best match: seed at {format_duration(r.seed_offset)} ↔ "
                    f"track at {format_duration(r.match_offset)}")
        return super().data(index, role)

    def numeric(self, column: int) -> bool:
        return column in (0, 3)


class PlaylistModel(_TrackListModel["TrackInfo | MissingEntry"]):
    """An editable, reorderable list of tracks (duplicates allowed, like any player);
    a saved entry whose file is missing stays, greyed."""

    COLUMNS = ("Title", "Artist", "Time")

    def track(self, i: int) -> TrackInfo | MissingEntry:
        return self._rows[i]

    def cell(self, row: TrackInfo | MissingEntry, column: int, for_sort: bool) -> Cell:
        if column == 0:
            return row.display_title
        if column == 1:
            return row.artist or ""
        return (row.duration or 0.0) if for_sort else format_duration(row.duration)

    def numeric(self, column: int) -> bool:
        return column == 2

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid():
            row = self._rows[index.row()]
            if role == Qt.ItemDataRole.ForegroundRole and row.status != "ok":
                return QColor(Qt.GlobalColor.gray)
            if role == Qt.ItemDataRole.ToolTipRole and row.error:
                return f"{row.path}\n{row.error}"
        return super().data(index, role)

    def keys(self) -> list[int | str]:
        """What identifies the rows, in order (track ids; paths of missing entries)."""
        return [r.id if r.id is not None else str(r.path) for r in self._rows]

    def append(self, tracks: Sequence[TrackInfo | MissingEntry]) -> None:
        """Add ``tracks`` at the end."""
        if not tracks:
            return
        n = len(self._rows)
        self.beginInsertRows(_ROOT, n, n + len(tracks) - 1)
        self._rows.extend(tracks)
        self._haystack = None
        self.endInsertRows()

    def remove_rows(self, rows: Sequence[int]) -> None:
        """Remove the given row numbers."""
        for r in sorted(set(rows), reverse=True):
            self.beginRemoveRows(_ROOT, r, r)
            del self._rows[r]
            self._haystack = None
            self.endRemoveRows()

    def move_rows(self, rows: Sequence[int], before: int) -> None:
        """Move ``rows`` (kept in order) so they sit before row ``before``."""
        rows = sorted(set(rows))
        if not rows:
            return
        moving = [self._rows[r] for r in rows]
        keep = [t for i, t in enumerate(self._rows) if i not in set(rows)]
        insert_at = before - sum(1 for r in rows if r < before)
        insert_at = max(0, min(insert_at, len(keep)))
        self.beginResetModel()
        self._rows = keep[:insert_at] + moving + keep[insert_at:]
        self._haystack = None
        self.endResetModel()

    def flags(self, index: Index) -> Qt.ItemFlag:
        return super().flags(index) | Qt.ItemFlag.ItemIsDropEnabled

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = super().mimeData(indexes)
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setData(ROWS_MIME, json.dumps(rows).encode())
        return mime

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction
