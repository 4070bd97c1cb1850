"""The precomputed feature cache (SPEC section 3, stage *precompute*).

Features are computed **only** with :func:`engine.features.extract_features`, then
reduced for storage by the model's stem (:func:`trainer.model.pool_frames`: mel and
chroma average-pooled, float16) so that the sampler can cut segments at any offset:

* ``mel`` ``(n_mels // stem_freq, T')``, ``T'`` pooled frames, as uint8 in steps of
  ``MEL_STEP_DB`` above -100 dB (+-0.3 dB, far below the augmentation's noise);
* ``chroma`` ``(bins, T')`` as uint8 (``round(255 * chroma)``);
* ``tempo`` ``(win, n_blocks)`` float16: tempogram means over blocks of ``tempo_block``
  pooled frames (a segment's rhythm vector is the mean of the blocks it covers, exact
  for block-aligned starts, as :func:`engine.features.segment_features` computes it).

:func:`trainer.sampler.cut_segment` decodes only the frames a segment needs. Storing
a quarter (mel, chroma) or half (tempo) of float32's bytes is what lets a whole corpus
sit in RAM (``cache.preload_ram``).

With ``variants > 0`` each training track also gets that many degraded copies
(:func:`trainer.degrade.random_phone_recording` on the audio, then the same
features), stored as songs named :func:`variant_id`: views of a song may be drawn
from them, so the model learns that a phone recording of a song is that song.

Two backends hold the same data: SQLite (default, ``cache/features/<fingerprint>.db``)
and RAM (a dict, optionally kept across Optuna trials).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from engine.config import FeatureConfig
from engine.dsp import LOG_FLOOR_DB
from engine.parent_watch import exit_with_parent
from engine.timbre import pool_frames
from trainer.data import MANIFEST, TEST_SPLIT, Track, discover_tracks
from trainer.errors import TrainerError

if TYPE_CHECKING:  # the config imports torch; the cache's worker processes need not
    from trainer.config import TrainConfig

CACHE_FORMAT = 2
TEMPO_BLOCK = 25
MEL_STEP_DB = 0.6
VARIANT_MARK = "::degraded-"
_RAM_STORES: dict[str, RamCache] = {}


@dataclass(frozen=True)
class Layout:
    """What the cached arrays mean; its fingerprint names the cache file."""

    features: FeatureConfig
    stem_freq: int
    stem_time: int
    tempo_block: int = TEMPO_BLOCK
    max_seconds: float | None = None
    format: int = CACHE_FORMAT
    variants: int = 0

    @property
    def fingerprint(self) -> str:
        """Short hash of the layout."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def segment_length(self) -> int:
        """Pooled frames in one model segment."""
        return self.features.segment_frames // self.stem_time

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-compatible), as stored in the cache file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "features": FeatureConfig.from_dict(data["features"])})


@dataclass(frozen=True)
class SongEntry:
    """A cached song's identity and size (``n_frames`` in pooled frames)."""

    song: str
    path: str
    group: str
    split: str | None
    source: str
    duration: float
    n_frames: int


@dataclass(frozen=True)
class SongFeatures:
    """A cached song's pooled, quantised features (see the module docstring)."""

    mel: np.ndarray
    chroma: np.ndarray
    tempo: np.ndarray


def quantize_mel(mel: np.ndarray) -> np.ndarray:
    """dB -> uint8 steps of ``MEL_STEP_DB`` above the floor (clipped to 0..255)."""
    return np.clip(np.round((mel - LOG_FLOOR_DB) / MEL_STEP_DB), 0, 255).astype(np.uint8)


def dequantize_mel(q: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantize_mel` (float32 dB)."""
    return q.astype(np.float32) * np.float32(MEL_STEP_DB) + np.float32(LOG_FLOOR_DB)


def quantize_chroma(chroma: np.ndarray) -> np.ndarray:
    """[0, 1] -> uint8."""
    return np.clip(np.round(chroma * 255.0), 0, 255).astype(np.uint8)


def dequantize_chroma(q: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantize_chroma` (float32)."""
    return q.astype(np.float32) * np.float32(1.0 / 255.0)


class FeatureStore(Protocol):
    """What the sampler and the evaluator read."""

    layout: Layout

    def entries(self) -> list[SongEntry]: ...

    def get(self, song: str) -> SongFeatures: ...


def layout_for(features: FeatureConfig, *, stem_freq: int, stem_time: int,
               max_seconds: float | None = None, variants: int = 0) -> Layout:
    """The :class:`Layout` of a training configuration."""
    return Layout(features=features, stem_freq=stem_freq, stem_time=stem_time,
                  max_seconds=max_seconds, variants=variants)


def layout_of(cfg: TrainConfig) -> Layout:
    """The cache layout a configuration trains on."""
    return layout_for(cfg.features, stem_freq=cfg.model.stem_freq,
                      stem_time=cfg.model.stem_time, max_seconds=cfg.max_seconds,
                      variants=cfg.variants)


def variant_id(song: str, index: int) -> str:
    """Cache id of degraded copy ``index`` (1-based) of ``song``."""
    return f"{song}{VARIANT_MARK}{index}"


def original_entries(store: FeatureStore) -> list[SongEntry]:
    """The cache's songs without their degraded copies."""
    return [e for e in store.entries() if variant_parent(e.song) is None]


def variant_map(store: FeatureStore) -> dict[str, list[str]]:
    """Each song's degraded copies (cache ids), for songs that have any."""
    out: dict[str, list[str]] = {}
    for e in store.entries():
        parent = variant_parent(e.song)
        if parent is not None:
            out.setdefault(parent, []).append(e.song)
    return out


def variant_parent(song: str) -> str | None:
    """The song a cache id is a degraded copy of (None for an original)."""
    parent, mark, index = song.rpartition(VARIANT_MARK)
    return parent if mark and index.isdigit() else None


def block_means(tgram: np.ndarray, block: int) -> np.ndarray:
    """Mean of ``tgram`` ``(win, T)`` over consecutive blocks of ``block`` frames."""
    n = tgram.shape[1]
    n_blocks = max(1, -(-n // block))
    csum = np.zeros((tgram.shape[0], n + 1), dtype=np.float64)
    np.cumsum(tgram, axis=1, dtype=np.float64, out=csum[:, 1:])
    starts = np.arange(n_blocks) * block
    ends = np.minimum(starts + block, n)
    means: np.ndarray = (csum[:, ends] - csum[:, starts]) / np.maximum(ends - starts, 1)
    return means.astype(np.float32)


def compute_song(track: Track, layout: Layout) -> list[tuple[SongEntry, SongFeatures]]:
    """Decode one track; its cached features, then those of its degraded copies.

    Validation and test tracks (manifest split ``val``, ``test``) get no copies: they are
    never trained on.
    """
    from engine.audio import audio_info, load_audio

    cfg = layout.features
    offset, duration = 0.0, None
    if layout.max_seconds:
        total = audio_info(track.path).duration
        if total > layout.max_seconds:
            offset, duration = (total - layout.max_seconds) / 2.0, layout.max_seconds
    y = load_audio(track.path, sr=cfg.sr, offset=offset, duration=duration)
    out = [_song_features(track, track.song, y, layout)]
    if layout.variants and track.split not in ("val", TEST_SPLIT):
        from trainer.degrade import random_phone_recording

        base = int.from_bytes(hashlib.sha256(track.song.encode()).digest()[:4], "big")
        for v in range(1, layout.variants + 1):
            noisy = random_phone_recording(y, cfg.sr, seed=base + v)
            out.append(_song_features(track, variant_id(track.song, v), noisy, layout))
    return out


def _song_features(track: Track, song: str, y: np.ndarray, layout: Layout
                   ) -> tuple[SongEntry, SongFeatures]:
    from engine.features import extract_features

    feats = extract_features(y, config=layout.features)
    mel = pool_frames(feats.mel, layout.stem_freq, layout.stem_time)
    chroma = pool_frames(feats.chroma, 1, layout.stem_time)
    tempo = block_means(feats.tempogram, layout.tempo_block * layout.stem_time)
    entry = SongEntry(song, track.path, track.group, track.split, track.source,
                      float(feats.duration), int(mel.shape[1]))
    return entry, SongFeatures(quantize_mel(mel), quantize_chroma(chroma),
                               tempo.astype(np.float16))


def _compute_safe(args: tuple[Track, Layout]) -> tuple[Track, Any]:
    track, layout = args
    try:
        return track, compute_song(track, layout)
    except Exception as exc:  # a bad file is reported, the others go on
        return track, f"{type(exc).__name__}: {exc}"


class RamCache:
    """All features in memory (the ``ram`` backend)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._entries: dict[str, SongEntry] = {}
        self._features: dict[str, SongFeatures] = {}

    def entries(self) -> list[SongEntry]:
        """Cached songs, sorted by id."""
        return [self._entries[k] for k in sorted(self._entries)]

    def get(self, song: str) -> SongFeatures:
        """Features of ``song``."""
        return self._features[song]

    def has(self, song: str) -> bool:
        """Whether ``song`` is cached."""
        return song in self._entries

    def put(self, entry: SongEntry, feats: SongFeatures) -> None:
        """Store one song."""
        self._entries[entry.song] = entry
        self._features[entry.song] = feats

    @classmethod
    def from_store(cls, store: FeatureStore) -> RamCache:
        """Copy every song of another store into memory."""
        ram = cls(store.layout)
        for entry in store.entries():
            ram.put(entry, store.get(entry.song))
        return ram


class SQLiteCache:
    """Features in one SQLite file (the default ``sqlite`` backend)."""

    def __init__(self, path: str | Path, layout: Layout | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key='layout'").fetchone()
        if row is None:
            if layout is None:
                raise TrainerError(f"{self.path} is not a feature cache; run precompute")
            with self._db:
                self._db.execute("INSERT INTO meta VALUES ('layout', ?)",
                                 (json.dumps(layout.to_dict()),))
            self.layout = layout
        else:
            self.layout = Layout.from_dict(json.loads(row[0]))
            if layout is not None and layout != self.layout:
                raise TrainerError(f"feature cache {self.path} was built with other settings")

    def entries(self) -> list[SongEntry]:
        """Cached songs, sorted by id."""
        rows = self._db.execute("SELECT song, path, grp, split, source, duration, n_frames "
                                "FROM songs ORDER BY song").fetchall()
        return [SongEntry(*r) for r in rows]

    def has(self, song: str) -> bool:
        """Whether ``song`` is cached."""
        return self._db.execute("SELECT 1 FROM songs WHERE song=?", (song,)).fetchone() is not None

    def get(self, song: str) -> SongFeatures:
        """Features of ``song`` (read from disk)."""
        row = self._db.execute("SELECT mel, chroma, tempo, shapes FROM songs WHERE song=?",
                               (song,)).fetchone()
        if row is None:
            raise KeyError(song)
        shapes = json.loads(row[3])
        arrays = [np.frombuffer(b, dtype=dtype).reshape(shape)
                  for b, shape, dtype in zip(row[:3], shapes, _DTYPES, strict=True)]
        return SongFeatures(*arrays)

    def put(self, entry: SongEntry, feats: SongFeatures) -> None:
        """Store (or replace) one song in its own transaction."""
        arrays = (feats.mel, feats.chroma, feats.tempo)
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (entry.song, entry.path, entry.group, entry.split, entry.source,
                 entry.duration, entry.n_frames,
                 *(np.ascontiguousarray(a, dtype=d).tobytes()
                   for a, d in zip(arrays, _DTYPES, strict=True)),
                 json.dumps([list(a.shape) for a in arrays])))

    def set_splits(self, splits: dict[str, str | None]) -> int:
        """Give cached songs (and their degraded copies) the split ``splits`` names for
        them; returns how many songs changed."""
        changed = 0
        with self._db:
            for entry in self.entries():
                song = variant_parent(entry.song) or entry.song
                if song in splits and splits[song] != entry.split:
                    self._db.execute("UPDATE songs SET split=? WHERE song=?",
                                     (splits[song], entry.song))
                    changed += song == entry.song
        return changed

    def record_error(self, path: str, reason: str) -> None:
        """Remember a file that could not be analysed."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO errors VALUES (?, ?)", (path, reason))

    def errors(self) -> list[tuple[str, str]]:
        """Files that failed, with their reasons."""
        return list(self._db.execute("SELECT path, reason FROM errors ORDER BY path"))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


_DTYPES = (np.uint8, np.uint8, np.float16)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS songs (song TEXT PRIMARY KEY, path TEXT, grp TEXT, split TEXT,
    source TEXT, duration REAL, n_frames INTEGER, mel BLOB, chroma BLOB, tempo BLOB,
    shapes TEXT);
CREATE TABLE IF NOT EXISTS errors (path TEXT PRIMARY KEY, reason TEXT);
"""


def cache_path(cache_dir: str | Path, layout: Layout) -> Path:
    """``<cache_dir>/features/<fingerprint>.db``."""
    return Path(cache_dir) / "features" / f"{layout.fingerprint}.db"


def fill(sink: SQLiteCache | RamCache, tracks: Iterable[Track], *, workers: int = 1,
         log: Callable[[str], None] = print) -> int:
    """Compute and store every track not yet in ``sink``; returns the number added.

    Tracks already cached take the split the manifest now gives them.
    """
    tracks = list(tracks)
    if isinstance(sink, SQLiteCache):
        moved = sink.set_splits({t.song: t.split for t in tracks})
        if moved:
            log(f"[precompute] {moved} cached tracks changed split")
    todo = [t for t in tracks if not sink.has(t.song)]
    jobs = [(t, sink.layout) for t in todo]
    if workers > 1 and len(jobs) > 1:
        # the workers exit with this process, even when it is killed (they would wait on
        # their task queue forever)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                 initializer=exit_with_parent) as pool:
            results: Iterable[tuple[Track, Any]] = pool.map(_compute_safe, jobs, chunksize=1)
            return _store_all(sink, results, len(jobs), log)
    return _store_all(sink, map(_compute_safe, jobs), len(jobs), log)


def _store_all(sink: SQLiteCache | RamCache, results: Iterable[tuple[Track, Any]],
               total: int, log: Callable[[str], None]) -> int:
    added = 0
    for i, (track, result) in enumerate(results, 1):
        if isinstance(result, str):
            log(f"[precompute] skipped {track.path}: {result}")
            if isinstance(sink, SQLiteCache):
                sink.record_error(track.path, result)
            continue
        for entry, feats in result[::-1]:  # the original last: it marks the track done
            sink.put(entry, feats)
        added += 1
        if i % 10 == 0 or i == total:
            log(f"[precompute] {i}/{total} {track.song}")
    return added


def open_store(cache_dir: str | Path, layout: Layout, *, backend: str = "sqlite",
               preload_ram: bool = False, reuse: bool = False,
               tracks: list[Track] | None = None) -> FeatureStore:
    """Open the cache for training.

    ``sqlite``: the database file (copied into RAM when ``preload_ram``). ``ram``: the
    database's content in memory, or, with no database, ``tracks`` computed in memory.
    ``reuse`` keeps the RAM copy for the next call (``reuse_ram_across_trials``).
    """
    path = cache_path(cache_dir, layout)
    key = str(path.resolve())
    if reuse and key in _RAM_STORES:
        return _RAM_STORES[key]
    if path.is_file():
        store: FeatureStore = SQLiteCache(path, layout)
        if backend == "ram" or preload_ram:
            store = RamCache.from_store(store)
    elif backend == "ram" and tracks:
        store = RamCache(layout)
        fill(store, tracks)
    else:
        raise TrainerError(f"no feature cache at {path}; run `resonance-train precompute` first")
    if reuse and isinstance(store, RamCache):
        _RAM_STORES[key] = store
    return store


def store_of(cfg: TrainConfig, cache_dir: Path, layout: Layout | None = None) -> FeatureStore:
    """Open the feature cache of ``cfg`` (or of ``layout``) as ``cfg.cache_*`` asks."""
    layout = layout or layout_of(cfg)
    tracks = None
    if cfg.cache_backend == "ram" and not cache_path(cache_dir, layout).is_file():
        tracks = discover_tracks(cfg.root, scan_root=cfg.scan_root, pairs_json=cfg.pairs_json)
    store = open_store(cache_dir, layout, backend=cfg.cache_backend,
                       preload_ram=cfg.preload_ram, reuse=cfg.reuse_ram_across_trials,
                       tracks=tracks)
    if tracks is None and (Path(cfg.root) / MANIFEST).is_file():
        check_splits(store, discover_tracks(cfg.root, pairs_json=cfg.pairs_json))
    return store


def check_splits(store: FeatureStore, tracks: list[Track]) -> None:
    """Refuse a cache whose splits are not the manifest's (a test track could be trained on)."""
    split_of = {t.song: t.split for t in tracks}
    stale = [e.song for e in original_entries(store)
             if e.song in split_of and split_of[e.song] != e.split]
    if stale:
        raise TrainerError(f"the feature cache gives {len(stale)} tracks (e.g. {stale[0]}) "
                           "another split than the corpus manifest; run `resonance-train "
                           "precompute` to update it")
