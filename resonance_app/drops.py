"""What a drop means: a music folder, an audio file, or library tracks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData

from engine.audio import AUDIO_EXTENSIONS
from resonance_app.models import track_ids_from_mime

PLAYLIST_SUFFIXES = (".m3u", ".m3u8", ".xspf")


@dataclass(frozen=True)
class DropIntent:
    """``kind``: ``tracks`` (library ids), ``file`` (audio), ``folder``, ``playlist``
    (an M3U/M3U8/XSPF file) or ``none``."""

    kind: str
    track_ids: tuple[int, ...] = ()
    path: Path | None = None
    reason: str = ""


def read_drop(mime: QMimeData) -> DropIntent:
    """Classify dropped data; a non-audio file gives ``none`` with a reason."""
    ids = track_ids_from_mime(mime)
    if ids:
        return DropIntent("tracks", tuple(ids))
    paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
    if not paths:
        return DropIntent("none", reason="Only local files and folders can be dropped here.")
    path = paths[0]
    if path.is_dir():
        return DropIntent("folder", path=path)
    if path.suffix.lower() in PLAYLIST_SUFFIXES:
        return DropIntent("playlist", path=path)
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        kinds = ", ".join(sorted(e.lstrip(".").upper() for e in AUDIO_EXTENSIONS))
        return DropIntent("none", path=path,
                          reason=f"“{path.name}” is not a supported audio file. "
                                 f"Resonance reads {kinds}.")
    return DropIntent("file", path=path)


def audio_file_filter() -> str:
    """A file-dialog filter listing the readable audio formats."""
    patterns = " ".join(f"*{e}" for e in sorted(AUDIO_EXTENSIONS))
    return f"Audio files ({patterns});;All files (*)"


def read_path(path: Path) -> DropIntent:
    """The intent of opening ``path`` (as if it had been dropped)."""
    from PySide6.QtCore import QUrl

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return read_drop(mime)
