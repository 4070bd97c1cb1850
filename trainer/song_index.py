"""``resonance-train index``: the cached songs as an engine catalog.

The indexes are :mod:`engine.index` ones (a track vector per song, the normalised
mean of its segment vectors, and every segment vector), written by
:func:`engine.catalog.write_catalog` (atomic folder swap, checksummed manifest).
``songs.json`` beside them maps the ids back to the cached songs; it is replaced
atomically before the catalog, and the catalog's id checksums tell whether the two
belong together (:func:`read_song_index`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.catalog import CatalogIdentity, CatalogInvalid, read_catalog, write_catalog
from engine.index import VectorIndex, build_index, id_checksum, normalise
from trainer.cache import SongEntry
from trainer.errors import TrainerError

#: The song index's segment index stays exact, in float16, up to this many segments.
SEGMENT_APPROX_THRESHOLD = 300_000

SONGS_FILE = "songs.json"


@dataclass
class SongIndex:
    """A loaded song catalog: ``tracks`` ids are positions in ``songs``."""

    tracks: VectorIndex
    segments: VectorIndex
    songs: list[dict[str, Any]]


def _ids(songs: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    segment_ids = [np.arange(s["first_segment"], s["first_segment"] + s["segments"])
                   for s in songs]
    return {"tracks": np.arange(len(songs), dtype=np.int64),
            "segments": np.concatenate(segment_ids or [np.zeros(0)]).astype(np.int64)}


def write_song_index(folder: Path, entries: Sequence[SongEntry],
                     segments: Sequence[np.ndarray], *, fingerprint: str) -> Path:
    """Index ``segments`` (L2-normalised, one ``(n_s, D)`` array per entry) under ``folder``."""
    if not entries:
        raise TrainerError("the feature cache holds no songs to index")
    counts = np.array([len(s) for s in segments])
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    songs = [{"id": i, "song": e.song, "path": e.path, "group": e.group,
              "first_segment": int(f), "segments": int(n)}
             for i, (e, f, n) in enumerate(zip(entries, firsts, counts, strict=True))]
    ids = _ids(songs)
    dim = int(segments[0].shape[1])
    track_vectors = normalise(np.stack([s.mean(axis=0) for s in segments]))
    indexes = {"tracks": build_index(ids["tracks"], track_vectors, dim=dim),
               "segments": build_index(ids["segments"], normalise(np.concatenate(segments)),
                                       dim=dim, threshold=SEGMENT_APPROX_THRESHOLD, fp16=True)}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{SONGS_FILE}.tmp"
    tmp.write_text(json.dumps({"model_sha256": fingerprint, "dim": dim, "songs": songs},
                              indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SONGS_FILE)
    return write_catalog(folder, indexes, identity=CatalogIdentity(fingerprint, dim),
                         checksums={name: id_checksum(v) for name, v in ids.items()})


def read_song_index(folder: Path) -> SongIndex:
    """Load what :func:`write_song_index` wrote, checking that its parts belong together."""
    try:
        doc = json.loads((folder / SONGS_FILE).read_text(encoding="utf-8"))
        checksums = {name: id_checksum(v) for name, v in _ids(doc["songs"]).items()}
        identity = CatalogIdentity(doc["model_sha256"], int(doc["dim"]))
        indexes = read_catalog(folder, identity=identity, checksums=checksums)
    except (OSError, ValueError, KeyError, CatalogInvalid) as exc:
        raise TrainerError(f"no usable song index in {folder}: {exc}") from exc
    return SongIndex(indexes["tracks"], indexes["segments"], doc["songs"])
