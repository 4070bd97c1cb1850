"""Real recorded music and tracker modules from the Debian packages DATA.md allows.

Each package is fetched and unpacked into the cache (:mod:`trainer.corpus.debs`). Its
possible music files become candidates: audio files (kind ``recording``, for the recorded
music packages) and tracker modules (kind ``module``, for the module packages, rendered to
FLAC with the system ``ffmpeg``, whose libopenmpt decodes them). Stems of one song (Frets on
Fire's ``song.ogg`` + ``guitar.ogg`` ...) are mixed into one track. Files under 30 s (which
drops the sound effects), voices and ambience loops are dropped, and a track already taken
from an earlier package (same bytes, or same audio by fingerprint) is taken once. The
package is the source label.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio import AUDIO_EXTENSIONS, audio_info, load_audio
from engine.errors import ResonanceError
from engine.filecheck import file_digest
from trainer.corpus import debs, dedup, sources

#: Folder names and name fragments that mark non-music audio (unless "music" is in the path).
#: Sound-effect folders are not among them: many games keep their music there, and the
#: 30 s minimum already drops the effects.
NON_MUSIC_DIRS = frozenset({"voices", "voice", "speech", "video", "videos", "ambient",
                            "ambience"})
NON_MUSIC_WORDS = ("ambient", "ambience", "wind_loop", "rain")
#: Stem file names of multi-track songs (Frets on Fire); mixed into one track per folder.
STEM_NAMES = frozenset({"song", "guitar", "rhythm", "drums", "vocals", "bass", "keys"})
MIN_SECONDS = 30.0
SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Candidate:
    """A possible track of a package before it is decoded."""

    package: str
    kind: str                  # "recording" or "module"
    files: tuple[Path, ...]    # one file, or the stems of one song
    name: str                  # file-system friendly, unique within the package
    ext: str                   # the (sniffed) extension of the first file


@dataclass(frozen=True)
class Recording:
    """A track taken into the corpus."""

    package: str
    kind: str
    audio: Path                # the playable file (source, mix or rendering)
    rel_path: str              # where it goes, relative to the corpus folder
    duration: float


def safe_name(text: str) -> str:
    """A file-system friendly lower-case name."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name or "track"


def is_music_path(rel: Path) -> bool:
    """False for files in sound-effect, voice and video folders and for ambience loops."""
    lower = rel.as_posix().lower()
    if "music" in lower:
        return True
    if {part.lower() for part in rel.parts[:-1]} & NON_MUSIC_DIRS:
        return False
    return not any(word in rel.stem.lower() for word in NON_MUSIC_WORDS)


def find_candidates(package: str, root: Path) -> list[Candidate]:
    """The candidates among the files under ``root`` (a package's kept files), sorted."""
    as_recording = package in sources.RECORDING_PACKAGES
    as_module = package in sources.MODULE_PACKAGES
    singles: list[tuple[Path, str, str]] = []
    stems: dict[Path, list[Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".done"):
        rel = path.relative_to(root)
        ext = debs.audio_kind(path)
        if ext is None or not is_music_path(rel):
            continue
        kind = "module" if ext in debs.TRACKER_EXTENSIONS else "recording"
        if (kind == "module" and not as_module) or (kind == "recording" and not as_recording):
            continue
        if kind == "recording" and path.stem.lower() in STEM_NAMES:
            stems.setdefault(path.parent, []).append(path)
            continue
        singles.append((path, kind, ext))
    out: list[Candidate] = []
    used: set[str] = set()

    def unique(base: str, parent: str) -> str:
        name = base if base not in used else f"{safe_name(parent)}_{base}"
        while name in used:
            name += "_"
        used.add(name)
        return name

    for folder, files in sorted(stems.items()):
        if len(files) == 1:
            singles.append((files[0], "recording", debs.audio_kind(files[0]) or ".ogg"))
            continue
        name = unique(safe_name(folder.name), folder.parent.name)
        out.append(Candidate(package, "recording", tuple(sorted(files)), name, ".ogg"))
    for path, kind, ext in sorted(singles):
        name = unique(safe_name(path.stem if path.suffix else path.name), path.parent.name)
        out.append(Candidate(package, kind, (path,), name, ext))
    return sorted(out, key=lambda c: (c.kind, c.name))


def prepare(cand: Candidate, cache: Path) -> Path | None:
    """A playable file for a candidate: the source, a stem mix or a module rendering."""
    if cand.kind == "module":
        return render_module(cand.files[0], cache / "modules" / cand.package / f"{cand.name}.flac")
    if len(cand.files) > 1:
        return mix_stems(cand.files, cache / "mixes" / cand.package / f"{cand.name}.ogg")
    return cand.files[0]


def render_module(src: Path, dest: Path) -> Path | None:
    """Render a tracker module to 44.1 kHz stereo FLAC with the system ffmpeg (cached)."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part.flac")
    res = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-ar",
                          str(SAMPLE_RATE), "-ac", "2", "-c:a", "flac", str(tmp)],
                         capture_output=True, check=False)
    if res.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(dest)
    return dest


def mix_stems(files: Iterable[Path], dest: Path) -> Path | None:
    """Sum the stems of one song into a mono OGG peaking at -1 dBFS (cached)."""
    if dest.is_file():
        return dest
    from trainer.corpus.render import write_ogg

    try:
        parts = [load_audio(f, sr=SAMPLE_RATE) for f in files]
    except ResonanceError:
        return None
    y = np.zeros(max(len(p) for p in parts), dtype=np.float32)
    for p in parts:
        y[: len(p)] += p
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y *= 10 ** (-1 / 20) / peak
    write_ogg(dest, y, SAMPLE_RATE)
    return dest


def duration_of(path: Path) -> float | None:
    """Duration in seconds, or None when the file cannot be read."""
    try:
        return float(audio_info(path).duration)
    except ResonanceError:
        return None


class Deduplicator:
    """Remembers taken tracks; :meth:`seen` says whether a new one repeats one of them."""

    def __init__(self, fp_cache: Path | None) -> None:
        self._hashes: set[str] = set()
        self._prints: list[tuple[float, np.ndarray]] = []
        self._fp_cache = fp_cache

    def seen(self, files: tuple[Path, ...], audio: Path, duration: float) -> bool:
        """True when the track was taken before; otherwise remember it and return False."""
        digest = "+".join(file_digest(f, "sha1") for f in files)
        if digest in self._hashes:
            return True
        fp = dedup.fingerprint(audio, self._fp_cache)
        for other_duration, other in self._prints:
            if abs(other_duration - duration) <= max(2.0, 0.03 * duration) and \
                    len(fp) and dedup.same_audio(fp, other):
                return True
        self._hashes.add(digest)
        self._prints.append((duration, fp))
        return False


def take_recordings(packages: Iterable[str], cache: Path,
                    fetch: Callable[[str], Path | None],
                    log: Callable[[str], None]) -> list[Recording]:
    """Every track of at least :data:`MIN_SECONDS` of ``packages``, duplicates dropped."""
    taken: list[Recording] = []
    seen = Deduplicator(cache / "fingerprints")
    for pkg in packages:
        root = fetch(pkg)
        if root is None:
            continue
        count, dups = 0, 0
        for cand in find_candidates(pkg, root):
            audio = prepare(cand, cache)
            duration = duration_of(audio) if audio is not None else None
            if audio is None or duration is None or duration < MIN_SECONDS:
                continue
            if seen.seen(cand.files, audio, duration):
                dups += 1
                continue
            folder = "modules" if cand.kind == "module" else "recordings"
            ext = ".flac" if cand.kind == "module" else cand.ext
            if ext not in AUDIO_EXTENSIONS:
                continue
            taken.append(Recording(pkg, cand.kind, audio, f"{folder}/{pkg}/{cand.name}{ext}",
                                   duration))
            count += 1
        log(f"{pkg}: {count} tracks" + (f" ({dups} duplicates dropped)" if dups else ""))
    return taken


def materialize(rec: Recording, out: Path) -> Path:
    """Hard-link (or copy) one track into the corpus; skipped when already there."""
    dest = out / rec.rel_path
    if dest.is_file() and dest.stat().st_size == rec.audio.stat().st_size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(rec.audio, tmp)
    except OSError:
        shutil.copyfile(rec.audio, tmp)
    tmp.replace(dest)
    return dest


def collect(out: Path, cache: Path, packages: tuple[str, ...],
            log: Callable[[str], None]) -> list[Recording]:
    """Fetch, find, deduplicate and copy the tracks of ``packages`` into ``out``."""
    recs = take_recordings(packages, cache, lambda p: debs.fetch_package(p, cache, log), log)
    for rec in recs:
        materialize(rec, out)
    return recs
