"""Fetch Debian packages without installing them, keeping only their music files.

``apt-get download`` puts the ``.deb`` in ``cache/debs``; ``dpkg -x`` unpacks it into a
temporary folder, from which only possible music files are moved to ``cache/pkgs/<package>``
(same relative paths): audio files, tracker modules, extension-less files whose content is
audio, and the music members of ``.zip``/``.pk3`` archives (0ad-data's ``public.zip``,
openarena's ``.pk3``). A ``.done`` marker makes the step cached; the ``.deb`` is deleted
after unpacking.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from engine.audio import AUDIO_EXTENSIONS

TRACKER_EXTENSIONS = frozenset({".mod", ".xm", ".it", ".s3m", ".mtm", ".669", ".med"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".pk3"})
#: Leading bytes of the audio formats found without an extension.
MAGIC = ((b"OggS", ".ogg"), (b"fLaC", ".flac"), (b"RIFF", ".wav"), (b"ID3", ".mp3"),
         (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"), (b"IMPM", ".it"),
         (b"Extended Module:", ".xm"))
MIN_ARCHIVE_MEMBER = 100_000  # bytes: smaller archive members are sound effects


def sniff_extension(path: Path) -> str | None:
    """The audio/tracker extension a file's content reveals, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(1084)
    except OSError:
        return None
    for magic, ext in MAGIC:
        if head.startswith(magic):
            return ext
    if len(head) >= 48 and head[44:48] == b"SCRM":
        return ".s3m"
    if len(head) >= 1084 and head[1080:1084] in (b"M.K.", b"M!K!", b"4CHN", b"6CHN", b"8CHN",
                                                b"FLT4", b"FLT8"):
        return ".mod"
    return None


def audio_kind(path: Path) -> str | None:
    """The effective extension of a possible music file (None: not audio)."""
    ext = path.suffix.lower()
    if ext in AUDIO_EXTENSIONS or ext in TRACKER_EXTENSIONS:
        return ext
    if not path.suffix or not ext[1:].isalpha():
        return sniff_extension(path)
    return None


def is_music_member(name: str, size: int) -> bool:
    """An archive member that may be music: an audio file under a ``music`` folder."""
    lower = name.lower()
    ext = Path(lower).suffix
    return (("music" in Path(lower).parent.as_posix()) and size >= MIN_ARCHIVE_MEMBER
            and (ext in AUDIO_EXTENSIONS or ext in TRACKER_EXTENSIONS))


def keep_music(src: Path, dest: Path) -> int:
    """Move the possible music files of the tree ``src`` into ``dest``; files kept."""
    kept = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(src)
        if path.suffix.lower() in ARCHIVE_EXTENSIONS:
            kept += _extract_members(path, dest / rel.parent / (rel.name + ".d"))
        elif audio_kind(path) is not None:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            kept += 1
    return kept


def _extract_members(archive: Path, dest: Path) -> int:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist()
                       if not i.is_dir() and is_music_member(i.filename, i.file_size)]
            for info in members:
                target = dest / Path(info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
    except (zipfile.BadZipFile, OSError):
        return 0
    return len(members)


def fetch_package(package: str, cache: Path, log: Callable[[str], None]) -> Path | None:
    """The folder with ``package``'s music files (fetched and unpacked once); None on failure."""
    root = cache / "pkgs" / package
    marker = root / ".done"
    if marker.is_file():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = _find_deb(debs, package)
    if deb is None:
        res = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True,
                             text=True, check=False)
        deb = _find_deb(debs, package)
        if deb is None:
            log(f"warning: apt-get download {package} failed: {res.stderr.strip()[-200:]}")
            return None
    if root.exists():
        shutil.rmtree(root)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".unpack-") as tmp:
        res = subprocess.run(["dpkg", "-x", str(deb), tmp], capture_output=True, text=True,
                             check=False)
        if res.returncode != 0:
            log(f"warning: dpkg -x {deb.name} failed: {res.stderr.strip()[-200:]}")
            return None
        kept = keep_music(Path(tmp), root)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{deb.name}\n{kept} files\n")
    deb.unlink()
    log(f"{package}: {kept} possible music files kept")
    return root


def _find_deb(folder: Path, package: str) -> Path | None:
    found = sorted(folder.glob(f"{package}_*.deb"))
    return found[-1] if found else None
