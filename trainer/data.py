"""Which tracks to train on: a corpus manifest or a scanned folder, plus pairs.

A *song* is one recording (one file). Songs listed together in ``pairs_json`` (or
sharing a manifest ``group``) are versions of one piece and are positives of each
other. Train/validation is split by group, so no version of a validation piece is
seen in training. Tracks of the manifest's ``test`` split are in neither: nothing
trains, tunes or selects a model on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trainer.errors import TrainerError

MANIFEST = "manifest.json"
#: The manifest split that training, tuning and model selection never use.
TEST_SPLIT = "test"
T = TypeVar("T", bound=Any)


@dataclass(frozen=True)
class Track:
    """One audio file to learn from."""

    song: str
    path: str
    group: str
    split: str | None = None
    source: str = ""


def discover_tracks(root: str | Path, *, scan_root: bool = True,
                    pairs_json: str | Path | None = None) -> list[Track]:
    """Tracks under ``root``: its ``manifest.json`` if present, else an audio scan.

    Paths in the result are absolute. ``pairs_json`` (``[[a, b], ...]`` or
    ``{"groups": [[...], ...]}``, paths relative to ``root`` or absolute) merges the
    listed files into one group each.
    """
    root = Path(root)
    if (root / MANIFEST).is_file():
        tracks = _from_manifest(root)
    elif scan_root and root.is_dir():
        tracks = _from_folder(root)
    else:
        raise TrainerError(f"no audio to train on: {root} has no {MANIFEST} and is not a "
                           "folder to scan (set data.root or --root)")
    if pairs_json:
        tracks = apply_pairs(tracks, root, Path(pairs_json))
    if not tracks:
        raise TrainerError(f"no audio files found under {root}")
    return sorted(tracks, key=lambda t: t.song)


def _from_manifest(root: Path) -> list[Track]:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return [Track(song=str(t["song"]), path=str((root / t["path"]).resolve()),
                      group=str(t.get("group") or t["song"]), split=t.get("split"),
                      source=str(t.get("source", ""))) for t in data["tracks"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"cannot read corpus manifest {root / MANIFEST}: {exc}") from exc


def _from_folder(root: Path) -> list[Track]:
    from engine.audio import AUDIO_EXTENSIONS  # lazy: decoding libraries

    tracks = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
            rel = path.relative_to(root).as_posix()
            source = rel.split("/", 1)[0] if "/" in rel else ""
            tracks.append(Track(song=rel, path=str(path.resolve()), group=rel, source=source))
    return tracks


def load_pair_groups(path: Path) -> list[list[str]]:
    """Groups of paths from a pairs file (a list of lists or ``{"groups": ...}``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainerError(f"cannot read pairs file {path}: {exc}") from exc
    groups = data.get("groups", []) if isinstance(data, dict) else data
    return [[str(p) for p in g] for g in groups]


def apply_pairs(tracks: list[Track], root: Path, pairs: Path) -> list[Track]:
    """Give all files of one pairs group the same ``group`` id."""
    by_path = {Path(t.path).resolve(): t for t in tracks}
    group_of: dict[Path, str] = {}
    for group in load_pair_groups(pairs):
        resolved = [(root / p).resolve() for p in group]
        known = [p for p in resolved if p in by_path]
        if len(known) < 2:
            continue
        gid = by_path[known[0]].group
        for p in known:
            group_of[p] = gid
    out = []
    for path, track in by_path.items():
        merged = group_of.get(path)
        out.append(track if merged is None else Track(track.song, track.path, merged,
                                                      track.split, track.source))
    return out


def split_songs(tracks: Sequence[T], *, val_fraction: float,
                seed: int = 0) -> tuple[list[T], list[T]]:
    """Train and validation songs, split by group (never by segment).

    ``tracks`` are :class:`Track` or cache entries (anything with ``group`` and ``split``).

    Test tracks are left out. A manifest ``split`` is used when every other track has
    one; otherwise groups are assigned by a hash of ``(seed, group)``, which is stable
    across runs.
    """
    tracks = [t for t in tracks if t.split != TEST_SPLIT]
    if tracks and all(t.split in ("train", "val") for t in tracks):
        return ([t for t in tracks if t.split == "train"], [t for t in tracks if t.split == "val"])
    train: list[T] = []
    val: list[T] = []
    for t in tracks:
        digest = hashlib.sha256(f"{seed}:{t.group}".encode()).digest()
        (val if int.from_bytes(digest[:4], "big") / 2**32 < val_fraction else train).append(t)
    return train, val
