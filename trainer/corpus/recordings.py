"""Real recorded music from the Debian game packages DATA.md allows.

The packages are installed with apt-get when missing, their files listed with ``dpkg -L``,
and every decodable file of at least 30 s that is not a sound effect, voice, video or
ambience loop is copied into ``recordings/<package>/`` of the corpus (files the engine
cannot read directly, such as tracker modules PyAV decodes, are transcoded to OGG). The
package name is the source label. Identical files (same bytes) are kept once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.audio import AUDIO_EXTENSIONS, audio_info, load_audio
from engine.errors import ResonanceError

#: The Debian packages DATA.md allows (others are reserved for independent evaluation).
PACKAGES = (
    "hedgewars-data", "neverball-data", "lincity-ng-data", "flare-game", "openclonk-data",
    "freecol", "endless-sky-data", "starfighter-data", "ri-li-data", "xmoto-data",
    "pingus-data",
)
TRACKER_EXTENSIONS = frozenset({".mod", ".xm", ".it", ".s3m", ".mtm", ".669", ".med"})
#: Folder names and name fragments that mark non-music audio.
NON_MUSIC_DIRS = frozenset({"sound", "sounds", "soundfx", "sfx", "voices", "video", "ambient"})
NON_MUSIC_WORDS = ("ambient", "ambience", "wind_loop", "rain")
MIN_SECONDS = 30.0


@dataclass(frozen=True)
class Recording:
    """A music file found in a package, and where it goes in the corpus."""

    package: str
    source_path: Path
    rel_path: str      # relative to the corpus folder
    duration: float


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    missing = []
    for pkg in packages:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                             capture_output=True, text=True, check=False)
        if "install ok installed" not in res.stdout:
            missing.append(pkg)
    return missing


def install_packages(packages: list[str], log: Callable[[str], None]) -> None:
    """apt-get install ``packages`` (root, or passwordless sudo); warn when that fails."""
    if not packages:
        return
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", *packages]
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        cmd = ["sudo", "-n", *cmd]
    log(f"installing {' '.join(packages)}")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        log(f"warning: apt-get failed ({res.returncode}); continuing with what is installed:"
            f" {res.stderr.strip()[-300:]}")


def package_files(package: str) -> list[Path]:
    """Regular files of an installed package (``dpkg -L``), sorted."""
    res = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return []
    paths = [Path(line) for line in res.stdout.splitlines() if line.startswith("/")]
    return sorted(p for p in paths if p.is_file() and not p.is_symlink())


def is_music_candidate(path: Path) -> bool:
    """An audio or tracker file outside sound-effect, voice and video folders."""
    ext = path.suffix.lower()
    if ext not in AUDIO_EXTENSIONS and ext not in TRACKER_EXTENSIONS:
        return False
    dirs = {part.lower() for part in path.parts[:-1]}
    if dirs & NON_MUSIC_DIRS:
        return False
    stem = path.stem.lower()
    return not any(word in stem for word in NON_MUSIC_WORDS)


def safe_name(text: str) -> str:
    """A file-system friendly lower-case name."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name or "track"


def find_recordings(packages: Iterable[str],
                    lister: Callable[[str], list[Path]] = package_files) -> list[Recording]:
    """Music files of at least :data:`MIN_SECONDS` in ``packages`` (deduplicated by content)."""
    found: list[Recording] = []
    seen_hashes: set[str] = set()
    for pkg in packages:
        used: set[str] = set()
        for path in lister(pkg):
            if not is_music_candidate(path):
                continue
            duration = _duration(path)
            if duration is None or duration < MIN_SECONDS:
                continue
            digest = _sha1(path)
            if digest in seen_hashes:
                continue
            seen_hashes.add(digest)
            ext = path.suffix.lower() if path.suffix.lower() in AUDIO_EXTENSIONS else ".ogg"
            stem = safe_name(path.stem)
            if stem in used:
                stem = f"{safe_name(path.parent.name)}_{stem}"
            used.add(stem)
            found.append(Recording(pkg, path, f"recordings/{pkg}/{stem}{ext}", duration))
    return found


def _duration(path: Path) -> float | None:
    """Duration in seconds, or None when neither libsndfile nor PyAV can read the file."""
    try:
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            return float(audio_info(path).duration)
        return len(load_audio(path, sr=8000)) / 8000.0  # tracker modules: decode to know
    except ResonanceError:
        return None


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def materialize(rec: Recording, out: Path) -> Path:
    """Copy (or transcode to OGG) one recording into the corpus; skipped when present."""
    dest = out / rec.rel_path
    if dest.is_file() and dest.stat().st_size > 0:
        if dest.suffix != rec.source_path.suffix.lower():
            return dest  # transcoded earlier
        if dest.stat().st_size == rec.source_path.stat().st_size:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    if dest.suffix == rec.source_path.suffix.lower():
        shutil.copyfile(rec.source_path, tmp)
    else:
        from trainer.corpus.render import write_ogg

        y = load_audio(rec.source_path, sr=44100)
        write_ogg(tmp, y, 44100)
    tmp.replace(dest)
    return dest


def collect(out: Path, packages: tuple[str, ...], *, install: bool,
            log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
            ) -> list[Recording]:
    """Install (optionally), find and copy the recordings of ``packages`` into ``out``."""
    missing = missing_packages(packages)
    if missing and install:
        install_packages(missing, log)
        missing = missing_packages(packages)
    if missing:
        log(f"warning: packages not installed, skipped: {' '.join(missing)}")
    present = tuple(p for p in packages if p not in missing)
    recs = find_recordings(present)
    for rec in recs:
        materialize(rec, out)
    return recs
