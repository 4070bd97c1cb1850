"""The cover picture of a music file: embedded, else the folder's image (display only)."""

from __future__ import annotations

import base64
from pathlib import Path


def read_cover(path: str | Path) -> bytes | None:
    """The image bytes of the front cover (or first picture), or None.

    Handles ID3 (APIC), FLAC/Ogg pictures and MP4 ``covr`` atoms; never raises on bad
    files. A folder image (``cover.jpg``, ``folder.png``, ``front.jpg``…, any case) next
    to the file is used when the file has no picture.
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
    image = folder_image(path.parent)
    try:
        return image.read_bytes() if image is not None else None
    except OSError:
        return None
