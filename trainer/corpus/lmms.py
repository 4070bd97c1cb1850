"""The demo projects of Debian's LMMS, rendered headless (kind ``lmms``).

``lmms render PROJECT -f ogg -o OUT`` renders each project of ``lmms-common`` under
``/usr/share/lmms/projects/{demos,shorties}`` once into the cache; projects shorter than
30 s are dropped. The source label is the project's author (the file-name part before the
first ``-``, or the project's own folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECTS = Path("/usr/share/lmms/projects")
PROJECT_FOLDERS = ("demos", "shorties")
RENDER_TIMEOUT = 900  # seconds per project


@dataclass(frozen=True)
class Project:
    """One LMMS project file and its author label."""

    path: Path
    author: str
    name: str


def author_of(path: Path, root: Path) -> str:
    """The author label: the file-name prefix before ``-``, else the sub-folder, else stem."""
    stem = path.name.split(".")[0]
    if "-" in stem:
        return stem.split("-", 1)[0]
    rel = path.relative_to(root)
    return rel.parts[1] if len(rel.parts) > 2 else stem


def find_projects(root: Path = PROJECTS) -> list[Project]:
    """The demo and short projects under ``root``, sorted."""
    from trainer.corpus.recordings import safe_name

    found = []
    for folder in PROJECT_FOLDERS:
        for path in sorted((root / folder).rglob("*.mmp*")):
            found.append(Project(path, author_of(path, root), safe_name(path.name.split(".")[0])))
    return found


def lmms_command() -> list[str] | None:
    """The ``lmms`` command line prefix, or None when LMMS is not installed."""
    exe = shutil.which("lmms")
    if exe is None:
        return None
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return [exe, "--allowroot"] if root else [exe]


def render_project(project: Project, dest: Path, log: Callable[[str], None]) -> Path | None:
    """Render one project to OGG (cached); None when LMMS fails."""
    if dest.is_file():
        return dest
    cmd = lmms_command()
    if cmd is None:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.stem + ".part.ogg")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        res = subprocess.run([*cmd, "render", str(project.path), "-f", "ogg", "-o", str(tmp)],
                             capture_output=True, text=True, check=False, env=env,
                             timeout=RENDER_TIMEOUT)
    except subprocess.TimeoutExpired:
        res = None
    if res is None or res.returncode != 0 or not tmp.is_file():
        log(f"warning: lmms could not render {project.path.name}")
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(dest)
    return dest
