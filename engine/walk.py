"""Find the music files under library folders.

Follows symbolic links once (loops and duplicate links are detected by device and
inode), skips hidden files and folders, and reports instead of failing: folders it may
not enter, file names that cannot be stored, broken links and link loops, paths over
the OS limits, and FIFOs, sockets or devices named like music.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from engine.audio import AUDIO_EXTENSIONS
from engine.filecheck import not_a_file_reason
from engine.records import ScanError


@dataclass(frozen=True)
class FoundFile:
    """A music file seen by the walk."""

    path: str
    root: str
    size: int
    mtime: float


@dataclass
class WalkResult:
    """Files found, problems met, and which roots were reachable."""

    files: list[FoundFile] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    present_roots: list[str] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)


def _reason(path: str, exc: OSError, what: str = "cannot read") -> str:
    """Why the walk could not use ``path``."""
    if exc.errno == errno.ENOENT:
        return "broken link: its target does not exist"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link leads back to itself"
    if exc.errno == errno.ENAMETOOLONG:
        return (f"path too long for the operating system ({len(path)} characters); "
                "move or rename it")
    return f"{what}: {exc.strerror or exc}"


def _storable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk_root(root: str, result: WalkResult, seen: _Seen) -> None:
    stack: list[str] = [root]
    linked: list[str] = []
    while stack or linked:
        folder = stack.pop() if stack else linked.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.errors.append(ScanError(Path(folder), _reason(folder, exc, "cannot open "
                                                                 "folder")))
            continue
        for entry in sorted(entries, key=lambda e: e.name, reverse=True):
            if not entry.name.startswith("."):
                _visit(entry, root, linked if entry.is_symlink() else stack, result, seen)


@dataclass
class _Seen:
    """Folders and files already taken (by device and inode); file links come last."""

    dirs: set[tuple[int, int]] = field(default_factory=set)
    files: set[tuple[int, int]] = field(default_factory=set)
    file_links: list[tuple[tuple[int, int], FoundFile]] = field(default_factory=list)


def _visit(entry: os.DirEntry[str], root: str, stack: list[str], result: WalkResult,
           seen: _Seen) -> None:
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError as exc:
        if exc.errno != errno.ENOENT or entry.is_symlink():  # not merely vanished
            result.errors.append(ScanError(Path(entry.path), _reason(entry.path, exc)))
        return
    key = (st.st_dev, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        if key not in seen.dirs:
            seen.dirs.add(key)
            stack.append(entry.path)
        return
    music = os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS
    if not stat.S_ISREG(st.st_mode):
        if music:  # a FIFO, socket or device named like music: say why it is left out
            result.errors.append(ScanError(Path(entry.path), not_a_file_reason(st.st_mode)))
        return
    if not music:
        return
    if not _storable(entry.path):
        result.errors.append(ScanError(Path(entry.path.encode("utf-8", "replace").decode()),
                                       "file name is not valid UTF-8; rename the file"))
        return
    found = FoundFile(entry.path, root, st.st_size, st.st_mtime)
    if entry.is_symlink():
        seen.file_links.append((key, found))  # real files win over links to them
    elif key not in seen.files:
        seen.files.add(key)
        result.files.append(found)


def walk(roots: list[str | Path]) -> WalkResult:
    """Every music file under ``roots``.

    A root that does not exist or is not a folder (an unmounted drive) is listed in
    ``missing_roots``: its tracks are masked, not deleted.
    """
    result = WalkResult()
    seen = _Seen()
    for root in roots:
        root_str = str(root)
        try:
            st = os.stat(root_str)
        except OSError:
            result.missing_roots.append(root_str)
            continue
        if not stat.S_ISDIR(st.st_mode):
            result.missing_roots.append(root_str)
            continue
        result.present_roots.append(root_str)
        seen.dirs.add((st.st_dev, st.st_ino))
        _walk_root(root_str, result, seen)
    for key, found in seen.file_links:
        if key not in seen.files:
            seen.files.add(key)
            result.files.append(found)
    return result
