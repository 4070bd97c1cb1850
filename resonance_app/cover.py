"""Read the embedded cover picture of a music file (for display only)."""

from __future__ import annotations

import base64
from pathlib import Path


def read_cover(path: str | Path) -> bytes | None:
    """The image bytes of the front cover (or first picture), or None.

    Handles ID3 (APIC), FLAC/Ogg pictures and MP4 ``covr`` atoms; never raises on bad
    files. A ``cover.jpg``/``folder.jpg`` next to the file is used as a fallback.
    """
    try:
        data = _embedded(Path(path))
    except Exception:  # mutagen raises many kinds of errors on damaged files
        data = None
    return data or _folder_image(Path(path))


def _embedded(path: Path) -> bytes | None:
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
    if "covr" in tags and tags["covr"]:
        return bytes(tags["covr"][0])
    blocks = tags.get("metadata_block_picture") if hasattr(tags, "get") else None
    if blocks:
        from mutagen.flac import Picture

        return bytes(Picture(base64.b64decode(blocks[0])).data)
    return None


def _folder_image(path: Path) -> bytes | None:
    for name in ("cover.jpg", "cover.png", "folder.jpg", "front.jpg"):
        candidate = path.parent / name
        try:
            if candidate.is_file():
                return candidate.read_bytes()
        except OSError:
            return None
    return None
