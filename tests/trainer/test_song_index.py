"""``resonance-train index``'s catalog: engine indexes, songs.json, checked together."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.catalog import POINTER
from engine.index import normalise
from trainer.cache import SongEntry
from trainer.errors import TrainerError
from trainer.song_index import SONGS_FILE, read_song_index, write_song_index


def _songs(n: int, dim: int = 16, seed: int = 0) -> tuple[list[SongEntry], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    entries = [SongEntry(f"s{i}", f"/music/s{i}.flac", f"g{i}", None, "", 30.0, 400)
               for i in range(n)]
    centres = rng.normal(size=(n, dim))
    segments = [normalise(c + 0.1 * rng.normal(size=(2 + i % 3, dim))) for i, c in
                enumerate(centres)]
    return entries, segments


def test_songs_are_found_by_their_own_segments(tmp_path: Path) -> None:
    entries, segments = _songs(12)
    write_song_index(tmp_path / "cat", entries, segments, fingerprint="abc")
    index = read_song_index(tmp_path / "cat")
    assert [s["song"] for s in index.songs] == [e.song for e in entries]
    assert index.tracks.count == 12 and index.segments.count == sum(map(len, segments))
    queries = np.stack([s[0] for s in segments])
    _, ids = index.tracks.search(queries, 1)
    assert ids[:, 0].tolist() == list(range(12))
    # a segment id leads back to its song
    _, seg_ids = index.segments.search(segments[7][1:2], 1)
    owner = next(s for s in index.songs
                 if s["first_segment"] <= seg_ids[0, 0] < s["first_segment"] + s["segments"])
    assert owner["song"] == "s7"


def test_a_rebuild_replaces_the_catalog_and_a_stale_song_list_is_refused(
        tmp_path: Path) -> None:
    folder = tmp_path / "cat"
    entries, segments = _songs(5)
    first = write_song_index(folder, entries, segments, fingerprint="abc")
    second = write_song_index(folder, entries[:4], segments[:4], fingerprint="abc")
    # the new folder is live; the replaced one is left for readers still on it
    assert second != first and second.is_dir()
    assert (folder / POINTER).read_text(encoding="utf-8").strip() == second.name
    assert len(read_song_index(folder).songs) == 4
    doc = json.loads((folder / SONGS_FILE).read_text(encoding="utf-8"))
    doc["songs"] = doc["songs"][:3]
    (folder / SONGS_FILE).write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TrainerError, match="out of date"):
        read_song_index(folder)
    with pytest.raises(TrainerError, match="no usable song index"):
        read_song_index(tmp_path / "missing")
    with pytest.raises(TrainerError, match="no songs"):
        write_song_index(folder, [], [], fingerprint="abc")
