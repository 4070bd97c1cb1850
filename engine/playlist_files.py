"""Playlist files: M3U8 and XSPF, written and read (no database; see :mod:`engine.playlists`).

M3U8 is extended M3U in UTF-8 (``#EXTM3U``, ``#EXTINF:<seconds>,<artist> - <title>``),
with paths relative to the playlist file or absolute (a path holding ``#`` is written
as a ``file://`` URI, which VLC and mpv both read correctly). XSPF is the XML Shareable
Playlist Format 1 with ``file://`` URIs. Files are read as UTF-8 or UTF-16/32 and
written atomically.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlparse

from engine.errors import ParameterError, StoreAccessError
from engine.records import display_name

if TYPE_CHECKING:
    from engine.records import TrackInfo

XSPF_NS = "http://xspf.org/ns/0/"
FORMATS = ("m3u8", "xspf")


@dataclass(frozen=True)
class PlaylistEntry:
    """One line of a playlist file."""

    path: Path
    title: str | None = None
    artist: str | None = None
    duration: float | None = None

    @classmethod
    def from_track(cls, track: TrackInfo) -> PlaylistEntry:
        """The entry for a library track."""
        return cls(track.path, track.title, track.artist, track.duration)


def _display(entry: PlaylistEntry) -> str:
    return display_name(entry.title or entry.path.stem, entry.artist)


def write_m3u8(path: Path, entries: list[PlaylistEntry], *, relative: bool = True,
               title: str | None = None) -> Path:
    """Write an extended M3U playlist in UTF-8 (``#PLAYLIST:`` carries ``title``)."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{title}".replace("\n", " "))
    for e in entries:
        seconds = -1 if e.duration is None else int(round(e.duration))
        lines.append(f"#EXTINF:{seconds},{_display(e)}".replace("\n", " "))
        target = Path(os.path.abspath(e.path))
        if "#" in target.name or "#" in str(target.parent):
            lines.append(_path_to_uri(target))  # VLC reads '#' in a bare path as a fragment
            continue
        if relative:
            with contextlib.suppress(ValueError):  # another drive on Windows
                target = Path(os.path.relpath(target, Path(os.path.abspath(path)).parent))
        lines.append(str(target))
    _write_text(path, "\n".join(lines) + "\n")
    return path


def read_m3u8(path: Path) -> list[PlaylistEntry]:
    """Read an (extended) M3U/M3U8 playlist; relative paths resolve against its folder."""
    text = _read_text(path)
    base = Path(os.path.abspath(path)).parent
    entries, info = [], None
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            info = line[len("#EXTINF:"):]
            continue
        if line.startswith("#"):
            continue
        entries.append(_m3u_entry(line, info, base))
        info = None
    return entries


def file_title(path: Path) -> str | None:
    """The name a playlist file gives itself (XSPF ``<title>``, M3U ``#PLAYLIST:``)."""
    if fmt_for(path) == "xspf":
        return read_xspf(path)[0]
    for raw in _read_text(path).lstrip("\ufeff").splitlines():
        if raw.startswith("#PLAYLIST:"):
            return raw[len("#PLAYLIST:"):].strip() or None
    return None


def _m3u_entry(line: str, info: str | None, base: Path) -> PlaylistEntry:
    target = _uri_to_path(line) if line.startswith("file://") else Path(line)
    if not target.is_absolute():
        target = base / target
    duration = title = artist = None
    if info is not None:
        seconds, _, name = info.partition(",")
        try:
            duration = float(seconds) if float(seconds) >= 0 else None
        except ValueError:
            duration = None
        artist, sep, title = name.partition(" - ")
        if not sep:
            artist, title = None, name
    return PlaylistEntry(Path(os.path.normpath(target)), title or None, artist or None,
                         duration)


def _path_to_uri(path: Path) -> str:
    return "file://" + quote(Path(os.path.abspath(path)).as_posix(), safe="/!$&'()*+,;=:@")


def _uri_to_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def write_xspf(path: Path, entries: list[PlaylistEntry], *, title: str | None = None) -> Path:
    """Write an XSPF 1 playlist with absolute ``file://`` locations."""
    ET.register_namespace("", XSPF_NS)
    root = ET.Element(f"{{{XSPF_NS}}}playlist", version="1")
    if title:
        ET.SubElement(root, f"{{{XSPF_NS}}}title").text = title
    tracklist = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for e in entries:
        node = ET.SubElement(tracklist, f"{{{XSPF_NS}}}track")
        ET.SubElement(node, f"{{{XSPF_NS}}}location").text = _path_to_uri(e.path)
        if e.title:
            ET.SubElement(node, f"{{{XSPF_NS}}}title").text = e.title
        if e.artist:
            ET.SubElement(node, f"{{{XSPF_NS}}}creator").text = e.artist
        if e.duration is not None:
            ET.SubElement(node, f"{{{XSPF_NS}}}duration").text = str(int(e.duration * 1000))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    _write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n")
    return path


def read_xspf(path: Path) -> tuple[str | None, list[PlaylistEntry]]:
    """Title and entries of an XSPF playlist (parsed with defusedxml: no entities, no
    external references)."""
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        root = SafeET.fromstring(_read_text(path))
    except ET.ParseError as exc:
        raise ParameterError(f"{str(path)!r} is not a valid XSPF playlist: {exc}") from None
    except DefusedXmlException as exc:
        raise ParameterError(f"{str(path)!r} is refused as an XSPF playlist: it declares "
                             f"entities or external references ({exc})") from None
    ns = {"x": XSPF_NS}
    entries = []
    for node in root.findall("x:trackList/x:track", ns):
        location = node.findtext("x:location", default="", namespaces=ns).strip()
        if not location:
            continue
        target = _uri_to_path(location) if location.startswith("file:") else Path(location)
        if not target.is_absolute():
            target = Path(os.path.abspath(path)).parent / target
        ms = node.findtext("x:duration", default="", namespaces=ns)
        entries.append(PlaylistEntry(target, node.findtext("x:title", namespaces=ns),
                                     node.findtext("x:creator", namespaces=ns),
                                     int(ms) / 1000 if ms.strip().isdigit() else None))
    return root.findtext("x:title", namespaces=ns), entries


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a full disk never leaves a truncated playlist, old or new."""
    from engine.space import is_no_space, no_space_error

    path = Path(path)
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if is_no_space(exc):
            raise no_space_error(path.parent, len(data)) from None
        raise StoreAccessError(f"cannot write playlist {str(path)!r}: "
                               f"{exc.strerror or exc}") from None


#: Byte-order marks and their codecs (UTF-32 before UTF-16: its LE mark starts the same).
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the bytes look like mostly-ASCII UTF-16 (a NUL in every
    other byte), as some Windows tools write it without a byte-order mark."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def decode_playlist(data: bytes, path: Path) -> str:
    """A playlist file's text: UTF-8 or UTF-16/32 (with or without a byte-order mark).

    Raises :class:`ParameterError` for bytes that decode as none of them, or that hold
    NUL characters (a binary file, not a playlist).
    """
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    encoding = encoding or _utf16_without_bom(data) or "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise ParameterError(f"cannot read playlist {str(path)!r}: it is not UTF-8 or UTF-16 "
                             "text") from None
    if "\0" in text:
        raise ParameterError(f"cannot read playlist {str(path)!r}: it holds NUL characters "
                             "(a binary file, not a playlist)")
    return text.lstrip("\ufeff")


def _read_text(path: Path) -> str:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block
            raise ParameterError(f"cannot read playlist {str(path)!r}: not a regular file")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read playlist {str(path)!r}: "
                             f"{exc.strerror or exc}") from None
    return decode_playlist(data, path)


def fmt_for(path: Path, fmt: str | None = None) -> str:
    """The playlist format named by ``fmt`` or the file's extension."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    fmt = "m3u8" if fmt == "m3u" else fmt
    if fmt not in FORMATS:
        raise ParameterError(f"unknown playlist format {fmt!r} (use m3u8 or xspf)")
    return fmt
