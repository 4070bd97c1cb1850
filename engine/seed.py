"""Turn a query (library track, audio file, or raw buffer) into a :class:`~engine.search.Seed`.

This is the slow part of a query (decode + features + embed), done once per seed; any
number of re-rankings then reuse the seed's embeddings.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.analysis import embed_audio, mean_vector
from engine.audio import load_audio, resample, to_mono
from engine.errors import ParameterError
from engine.features import TrackFeatures, extract_features, segment_features
from engine.filecheck import check_audio_file
from engine.locate import band_slice
from engine.model import Embedder
from engine.records import get_track, track_id_for_path
from engine.search import Seed
from engine.store import VECTOR_COLUMNS, Store
from engine.versions import SEED_PRINT_SECONDS, version_print

#: A seed shorter than this many segment lengths is an excerpt (matched per segment).
EXCERPT_SEGMENTS = 3.0
#: Segments analysed for a whole-track seed that is not in the library. Its features
#: are computed around these segments only (engine.windowed), so fewer segments mean a
#: faster answer; 2, 4 and 8 seed segments compared (bench_catalog_quality): see
#: benchmarks/RESULTS.md, "Library catalog and search", "Full external seed".
SEED_SEGMENTS = 4
#: An excerpt shorter than one segment is repeated to fill it; it is embedded once per
#: shift here (a fraction of its length it is rotated by first) and matched by its best
#: variant. Measured (benchmarks/bench_excerpts.py): see the choice in
#: benchmarks/RESULTS.md, "Excerpts anywhere in a real track" ("3 shifts").
QUERY_SHIFTS: tuple[float, ...] = (0.0,)


def seed_from_track(store: Store, track_id: int, *, fingerprint: str) -> Seed:
    """The stored embeddings of a library track (no decoding)."""
    info = get_track(store, track_id)
    track = store.track_vectors(track_id, fingerprint=fingerprint)
    if track is None:
        raise ParameterError(f"track {info.path.name!r} has not been analysed with the "
                             "current model yet; scan the library first")
    segs = store.segment_vectors([track_id])[track_id]
    return Seed(segments={c: segs[c] for c in VECTOR_COLUMNS}, starts=segs["starts"],
                fingerprint=fingerprint, excerpt=False, track_id=track_id, path=info.path,
                duration=float(info.duration or 0.0), album=info.album, artist=info.artist,
                track=track, version_print=store.version_prints([track_id])[0])


def seed_from_audio(y: np.ndarray, sr: int, embedder: Embedder, *,
                    path: Path | None = None, album: str | None = None,
                    artist: str | None = None) -> Seed:
    """Embed a signal (``(n,)`` or ``(n, channels)`` at ``sr`` Hz).

    A signal shorter than ``EXCERPT_SEGMENTS`` segment lengths is an excerpt: every
    segment is kept and results are matched segment-to-segment. A whole track (up to
    :data:`~engine.versions.SEED_PRINT_SECONDS`) also gets its version print.
    """
    config = embedder.config
    y = resample(to_mono(np.asarray(y, dtype=np.float32)), orig_sr=int(sr), target_sr=config.sr)
    if y.size < config.hop_length * 4:
        raise ParameterError("the recording is too short to analyse (under a second)")
    duration = y.size / float(config.sr)
    excerpt = duration < EXCERPT_SEGMENTS * config.segment.seconds
    if not excerpt:
        starts, segments = embed_audio(y, embedder, max_segments=SEED_SEGMENTS)
        harmonies = (version_print(y, config=config) if duration <= SEED_PRINT_SECONDS
                     else None)
        return Seed(segments=segments, starts=np.asarray(starts, np.float32),
                    fingerprint=embedder.fingerprint, path=path, duration=duration,
                    album=album, artist=artist,
                    track={k: mean_vector(v) for k, v in segments.items()},
                    version_print=harmonies)
    features = extract_features(y, config=config)  # once: segments and alignment frames
    starts, segments = excerpt_segments(y, embedder, features=features)
    return Seed(segments=segments, starts=starts, fingerprint=embedder.fingerprint,
                excerpt=True, path=path, duration=duration, album=album, artist=artist,
                track={k: mean_vector(v) for k, v in segments.items()},
                frames=features.mel[band_slice(config)], config=config)


def excerpt_segments(y: np.ndarray, embedder: Embedder, *,
                     shifts: tuple[float, ...] | None = None,
                     features: TrackFeatures | None = None
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every segment of an excerpt; one rotated variant per shift when it is shorter
    than a segment (see :data:`QUERY_SHIFTS`). ``features``: ``y``'s, if computed."""
    shifts = QUERY_SHIFTS if shifts is None else shifts
    if y.size >= embedder.config.segment.seconds * embedder.config.sr or len(shifts) < 2:
        if features is None:
            starts, segments = embed_audio(y, embedder, max_segments=None)
            return np.asarray(starts, np.float32), segments
        segs = segment_features(features, config=embedder.config)
        emb = embedder.embed(segs)
        return np.asarray(segs.starts, np.float32), {"fused": emb.fused, **emb.branches}
    parts = [embed_audio(np.roll(y, -int(f * y.size)), embedder, max_segments=None)[1]
             for f in shifts]
    segments = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.zeros(len(shifts), np.float32), segments


def seed_from_file(path: str | os.PathLike[str], embedder: Embedder, *,
                   store: Store | None = None) -> Seed:
    """A library track's stored seed when ``path`` is one, else the decoded file."""
    from engine.tags import read_tags

    path = Path(path)
    if store is not None:
        track_id = track_id_for_path(store, path)
        if track_id is not None:
            try:
                return seed_from_track(store, track_id, fingerprint=embedder.fingerprint)
            except ParameterError:
                pass  # not analysed (yet): decode it like any file
    check_audio_file(path)  # before tags: a FIFO or /dev/zero must not block or stream
    tags = read_tags(path)
    y = load_audio(path, sr=embedder.config.sr)
    return seed_from_audio(y, embedder.config.sr, embedder, path=path, album=tags.album,
                           artist=tags.artist)
