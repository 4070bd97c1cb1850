"""Analyse one file: decode, features, embed. Runs inside scan worker processes.

Each worker process builds one :class:`~engine.model.Embedder` (one onnxruntime
thread) in :func:`init_worker` and then calls :func:`analyse_path` per file. The
result is a plain picklable :class:`Analysis`; the scan's single writer stores it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ResonanceError
from engine.features import select_starts
from engine.filecheck import file_digest
from engine.index import unit
from engine.locate import print_frame_seconds
from engine.tags import Tags, read_tags

if TYPE_CHECKING:
    from engine.model import Embedder

#: Segments per library track kept in full (fused and branch vectors: track seeds, result
#: modalities; their mean is the track vector), spread evenly over it; every segment's
#: fused vector is stored as well (dense, :mod:`engine.dense`). Why 8: excerpt recall
#: by segments per track (bench_catalog_quality), the scan profile and the catalog's
#: disk and memory (bench_catalog) in benchmarks/RESULTS.md, "Library catalog and search".
SEGMENTS_PER_TRACK = 8

_EMBEDDER: Embedder | None = None


@dataclass
class Analysis:
    """What the scan stores for one file (``ok`` False: ``reason`` says why)."""

    path: str
    track_id: int
    ok: bool
    size: int = 0
    mtime: float = 0.0
    reason: str = ""
    transient: bool = False
    content_hash: str | None = None
    duration: float = 0.0
    format: str = ""
    tags: Tags = field(default_factory=Tags)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    track: dict[str, np.ndarray] = field(default_factory=dict)
    #: every segment (one per segment hop): starts in seconds, fused vectors in float16
    dense_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    dense: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    #: the track's alignment print (:mod:`engine.locate`), uint8 ``(bands, n)``, and the
    #: seconds one of its frames covers
    align_print: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    print_frame: float = 0.0
    #: the track's version print (:mod:`engine.versions`), uint8 ``(12, n)``
    version_print: np.ndarray = field(default_factory=lambda: np.zeros((12, 0), np.uint8))
    #: only the prints were computed (a track analysed before they existed)
    print_only: bool = False


def content_hash(path: str | os.PathLike[str]) -> str:
    """BLAKE2b digest of a file's bytes (detects moves and touched-but-equal files)."""
    return file_digest(path, functools.partial(hashlib.blake2b, digest_size=16))


def init_worker(model_dir: str) -> None:
    """Process-pool initializer: load the model once per worker, one thread."""
    global _EMBEDDER
    from engine.model import Embedder

    _EMBEDDER = Embedder(model_dir, threads=1, verify=False)


def warm_embedder() -> None:
    """Load this worker's model graphs and run them once (:func:`init_worker` first)."""
    if _EMBEDDER is not None:
        _EMBEDDER.check()


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """Mean of L2-normalised rows, re-normalised ``(n, d) -> (d,)``."""
    return unit(np.asarray(vectors, dtype=np.float32).mean(axis=0))


def embed_audio(y: np.ndarray, embedder: Embedder, *,
                max_segments: int | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Features and embeddings of a signal already at the model rate.

    Returns
    -------
    starts : np.ndarray [shape=(n,)], segment starts in seconds
    segments : dict of np.ndarray [shape=(n, dim)], ``fused`` and one per branch
    """
    from engine.windowed import selected_segments

    segs = selected_segments(y, config=embedder.config, max_segments=max_segments)
    emb = embedder.embed(segs)
    return segs.starts, {"fused": emb.fused, **emb.branches}


def analyse_path(path: str, track_id: int, max_segments: int | None,
                 embedder: Embedder | None = None, *, print_only: bool = False) -> Analysis:
    """Decode, analyse and embed ``path`` (streamed, every segment); never raises for a bad file.

    All segments are embedded (the dense vectors, for excerpt search); ``max_segments``
    of them, evenly spread, are kept in full (with branch vectors) and their mean is the
    track vector. ``print_only``: decode and compute the alignment and version prints
    alone.
    """
    from engine.audio import stream_audio
    from engine.stream import embed_stream, kept_vectors, stream_prints

    embedder = embedder or _EMBEDDER
    if embedder is None:
        raise RuntimeError("analyse_path needs an embedder (call init_worker first)")
    try:
        st = os.stat(path)
        config = embedder.config
        if print_only:
            align, version = stream_prints(stream_audio(path, sr=config.sr), config=config)
            return Analysis(path=path, track_id=track_id, ok=True, size=st.st_size,
                            mtime=st.st_mtime, content_hash=content_hash(path),
                            align_print=align, print_frame=print_frame_seconds(config),
                            version_print=version, print_only=True)
        dense = embed_stream(stream_audio(path, sr=config.sr), embedder)
        if dense.n_samples < config.hop_length * 4 or not len(dense.starts):
            return Analysis(path, track_id, False, st.st_size, st.st_mtime,
                            reason="audio too short to analyse")
        keep = select_starts(np.arange(len(dense.starts)), max_segments)
        segments = kept_vectors(dense, keep, embedder)
        return Analysis(
            path=path, track_id=track_id, ok=True, size=st.st_size, mtime=st.st_mtime,
            content_hash=content_hash(path), duration=dense.n_samples / float(config.sr),
            format=Path(path).suffix.lower().lstrip("."), tags=read_tags(path),
            starts=dense.starts[keep], segments=segments,
            track={k: mean_vector(v) for k, v in segments.items()},
            dense_starts=dense.starts, dense=dense.vectors["fused"].astype(np.float16),
            align_print=dense.align_print, print_frame=print_frame_seconds(config),
            version_print=dense.version_print)
    except ResonanceError as exc:
        reason, transient = getattr(exc, "reason", None) or str(exc), exc.transient
    except (OSError, MemoryError) as exc:  # I/O error, vanished drive, out of memory
        reason, transient = f"cannot analyse: {exc or type(exc).__name__}", True
    except ValueError as exc:
        reason, transient = f"cannot analyse: {exc}", False
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = 0, 0.0
    return Analysis(path, track_id, False, size, mtime, reason=reason, transient=transient,
                    print_only=print_only)
