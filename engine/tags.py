"""Read a music file's tags (title, artist, album, ...) and cover presence with mutagen."""

from __future__ import annotations

import base64
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Tags:
    """The tags Resonance shows and filters on; ``None`` where a file has none."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    track_no: int | None = None
    year: int | None = None
    genre: str | None = None
    has_cover: bool = False
    duration: float | None = None


log = logging.getLogger(__name__)

_EASY_KEYS = {"title": "title", "artist": "artist", "album": "album",
              "album_artist": "albumartist", "genre": "genre"}
_COVER_KEYS = ("covr", "metadata_block_picture", "WM/Picture")


def _first(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    text = str(value).strip() if value is not None else ""
    return text or None


def _leading_int(text: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else None


def _has_cover(path: str | os.PathLike[str]) -> bool:
    """Whether the file embeds a picture (ID3 APIC, FLAC picture, MP4 covr, ...)."""
    import mutagen

    raw = mutagen.File(path)
    if raw is None:
        return False
    if getattr(raw, "pictures", None):
        return True
    tags = getattr(raw, "tags", None)
    if tags is None:
        return False
    keys = [str(k) for k in (tags.keys() if hasattr(tags, "keys") else [])]
    return any(k.startswith("APIC") or k in _COVER_KEYS for k in keys)


def read_tags(path: str | os.PathLike[str]) -> Tags:
    """Tags of ``path``; a file mutagen cannot parse gives empty :class:`Tags`.

    Never raises for unreadable or untagged files: tags are a nicety, the audio decides
    whether a file is usable.
    """
    import mutagen

    try:
        easy = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many unrelated types on junk input
        log.debug("no tags read from %s", path, exc_info=True)
        return Tags()
    if easy is None:
        return Tags()
    tags = easy.tags or {}
    values = {field: _first(tags.get(key)) for field, key in _EASY_KEYS.items()}
    duration = getattr(getattr(easy, "info", None), "length", None)
    try:
        cover = _has_cover(path)
    except Exception:  # a damaged picture block loses the cover, not the tags
        log.debug("no cover read from %s", path, exc_info=True)
        cover = False
    return Tags(**values, track_no=_leading_int(_first(tags.get("tracknumber"))),
                year=_leading_int(_first(tags.get("date"))), has_cover=cover,
                duration=float(duration) if duration else None)


# -- cover pictures (for display) ----------------------------------------------------
def read_cover(path: str | os.PathLike[str]) -> bytes | None:
    """The image bytes of the front cover (or first picture), or None.

    Handles ID3 (APIC), FLAC/Ogg pictures and MP4 ``covr`` atoms; never raises on bad
    files. A folder image (``cover.jpg``, ``folder.png``, ``front.jpg``…, any case) next
    to the file is used when the file has no picture.
    """
    try:
        data = _embedded(Path(path))
    except Exception:  # mutagen raises many kinds of errors on damaged files
        log.debug("no embedded cover read from %s", path, exc_info=True)
        data = None
    return data or _folder_image(Path(path))


def _embedded(path: Path) -> bytes | None:
    """The first embedded picture of ``path`` (may raise on damaged files)."""
    import mutagen

    audio = mutagen.File(str(path))
    if audio is None:
        return None
    pictures = getattr(audio, "pictures", None)
    if pictures:
        return bytes(pictures[0].data)
    tags = audio.tags
    if tags is None:
        return None
    for key in list(tags.keys()):
        if str(key).startswith("APIC"):
            return bytes(tags[key].data)
    if tags.get("covr"):
        return bytes(tags["covr"][0])
    blocks = tags.get("metadata_block_picture") if hasattr(tags, "get") else None
    if blocks:
        from mutagen.flac import Picture

        picture = Picture(base64.b64decode(blocks[0]))  # type: ignore[no-untyped-call]
        return bytes(picture.data)
    return None


#: Folder images players look for, best first (compared case-insensitively).
FOLDER_IMAGES = ("cover", "folder", "front", "albumart", "album", "albumartsmall", "thumb")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


def folder_image(folder: Path) -> Path | None:
    """The folder's cover image file (``cover.jpg``, ``Folder.PNG``, ``front.jpeg``…)."""
    try:
        names = {p.name.lower(): p for p in folder.iterdir() if p.suffix.lower()
                 in IMAGE_SUFFIXES}
    except OSError:
        return None
    for stem in FOLDER_IMAGES:
        for suffix in IMAGE_SUFFIXES:
            found = names.get(stem + suffix)
            if found is not None and found.is_file():
                return found
    return None


def _folder_image(path: Path) -> bytes | None:
    """The bytes of the cover image beside ``path``, or None."""
    image = folder_image(path.parent)
    try:
        return image.read_bytes() if image is not None else None
    except OSError:
        return None
