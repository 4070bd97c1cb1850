"""Read a music file's tags (title, artist, album, ...) and cover presence with mutagen."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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
        return Tags()
    if easy is None:
        return Tags()
    tags = easy.tags or {}
    values = {field: _first(tags.get(key)) for field, key in _EASY_KEYS.items()}
    duration = getattr(getattr(easy, "info", None), "length", None)
    try:
        cover = _has_cover(path)
    except Exception:
        cover = False
    return Tags(**values, track_no=_leading_int(_first(tags.get("tracknumber"))),
                year=_leading_int(_first(tags.get("date"))), has_cover=cover,
                duration=float(duration) if duration else None)
