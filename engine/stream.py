"""Every model segment of a track, from audio given block by block, in bounded memory.

A scan embeds a segment every ``segment.hop_seconds`` over the whole track (dense
segments), so that any passage of any track can be found. Frame features are
computed once over the track, a piece at a time: each piece covers the next
``chunk_segments`` segments plus the context their features depend on
(:func:`engine.windowed.context_frames`), so the segments equal those cut from the
whole track's features (to float rounding; ``tests/engine/test_stream.py``), while a
2-hour file never holds more than a few minutes of samples, frames and model inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from engine import dsp
from engine.config import FeatureConfig
from engine.features import Segments, extract_features, segment_features, segment_starts
from engine.locate import PrintBuilder
from engine.model import BRANCH_NAMES, Embedder
from engine.timbre import PooledStream
from engine.versions import VersionPrintBuilder
from engine.windowed import context_frames

#: Segments whose features are computed in one piece (64 segments at a 4 s hop cover
#: about 4.5 minutes; the shared context then costs about 10 % extra feature time).
CHUNK_SEGMENTS = 64


@dataclass(frozen=True)
class DenseEmbeddings:
    """Every segment of a track, embedded.

    Attributes
    ----------
    starts : np.ndarray [shape=(n,), dtype=float32], segment starts in seconds
    vectors : dict of np.ndarray [shape=(n, dim), dtype=float32], ``fused`` and branches
    n_samples : samples of audio read, at the model rate
    align_print : np.ndarray [shape=(bands, m), dtype=uint8], the track's alignment
        print (:class:`engine.locate.PrintBuilder`)
    version_print : np.ndarray [shape=(12, k), dtype=uint8], the track's version print
        (:mod:`engine.versions`)
    pooled : every segment's pooled mel when the model has a timbre graph (whose
        ``timbre`` vectors are then not in ``vectors``, or only their main graph part:
        :func:`kept_vectors` completes them for the kept segments), else None
    """

    starts: np.ndarray
    vectors: dict[str, np.ndarray]
    n_samples: int
    align_print: np.ndarray
    version_print: np.ndarray
    pooled: PooledStream | None = None


def kept_vectors(dense: DenseEmbeddings, keep: np.ndarray, embedder: Embedder
                 ) -> dict[str, np.ndarray]:
    """Every column's vectors of the segments ``keep`` (indices), the timbre graph run on
    them when the model has one."""
    out = {k: v[keep] for k, v in dense.vectors.items()}
    if dense.pooled is not None:
        out["timbre"] = embedder.timbre_vectors(dense.pooled.cut(keep), main=out.get("timbre"))
    return {k: out[k] for k in ("fused", *BRANCH_NAMES) if k in out}


class _Buffer:
    """Consecutive samples of a stream, from a known position on."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.first = 0  # stream position of the first buffered sample
        self.end = 0  # stream position after the last buffered sample

    def append(self, y: np.ndarray) -> None:
        self.parts.append(np.asarray(y, dtype=np.float32))
        self.end += int(y.size)

    def take(self, start: int, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of the stream (``stop`` None: to the end)."""
        data = np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]
        self.parts = [data]
        return data[start - self.first: None if stop is None else stop - self.first]

    def drop_before(self, position: int) -> None:
        """Forget the samples before stream ``position``."""
        cut = position - self.first
        if cut <= 0:
            return
        data = np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]
        self.parts = [data[cut:].copy()]
        self.first = position


def stream_segments(blocks: Iterable[np.ndarray], *, config: FeatureConfig,
                    chunk_segments: int = CHUNK_SEGMENTS,
                    prints: PrintBuilder | None = None,
                    versions: VersionPrintBuilder | None = None,
                    pooled: PooledStream | None = None) -> Iterator[Segments]:
    """Model segments of a whole signal, every segment hop, in order, a chunk at a time.

    Parameters
    ----------
    blocks : consecutive mono pieces of the signal at ``config.sr``
    config : the model's feature configuration
    chunk_segments : segments per yielded batch (all but the last)
    prints : also given every piece's log-mel frames (the track's alignment print)
    versions : also given every piece's chroma frames (the track's version print)
    pooled : also given them, for a timbre graph

    Yields
    ------
    Segments
        Together, the same segments as ``segment_features(extract_features(y))``;
        ``starts`` are seconds from the start of the track.
    """
    hop, length = config.hop_length, config.segment_frames
    seg_hop, context, align = config.segment_hop_frames, context_frames(config), config.tempo.stride
    buf = _Buffer()
    next_start = 0  # frame of the next segment to cut
    for block in blocks:
        buf.append(block)
        while True:
            last = next_start + (chunk_segments - 1) * seg_hop
            stop = last + length + context  # frames the chunk needs (< the track's total)
            if stop * hop > buf.end:
                break
            starts = np.arange(next_start, last + 1, seg_hop, dtype=np.int64)
            yield _piece(buf, starts, config, stop=stop, prints=prints, versions=versions,
                         pooled=pooled)
            next_start = last + seg_hop
            buf.drop_before(_piece_start(next_start, context, align) * hop)
    if buf.end == 0:
        return
    total = dsp.n_frames(buf.end, hop)
    starts = segment_starts(total, length=length, hop=seg_hop)
    starts = starts[starts >= next_start]
    if starts.size:
        yield _piece(buf, starts, config, stop=None, prints=prints, versions=versions,
                         pooled=pooled)


def _piece_start(start: int, context: int, align: int) -> int:
    a = max(0, start - context)
    return a - a % align  # strided tempogram columns sit where the whole track has them


def _piece(buf: _Buffer, starts: np.ndarray, config: FeatureConfig, *,
           stop: int | None, prints: PrintBuilder | None,
           versions: VersionPrintBuilder | None = None,
           pooled: PooledStream | None = None) -> Segments:
    hop = config.hop_length
    first = _piece_start(int(starts[0]), context_frames(config), config.tempo.stride)
    y = buf.take(first * hop, None if stop is None else stop * hop)
    features = extract_features(y, config=config)
    if prints is not None:
        prints.add(first, features.mel[prints.bands], last=stop is None)
    if versions is not None:
        versions.add(first, features.chroma, last=stop is None)
    segs = segment_features(features, config=config, starts=starts - first)
    if pooled is not None:
        pooled.add(features.mel, starts - first, segs)
    return Segments(mel=segs.mel, chroma=segs.chroma, tempo=segs.tempo,
                    starts=(starts * hop / config.sr).astype(np.float32))


def embed_stream(blocks: Iterable[np.ndarray], embedder: Embedder, *,
                 chunk_segments: int = CHUNK_SEGMENTS) -> DenseEmbeddings:
    """Embed every segment of a signal given block by block (see :func:`stream_segments`)."""
    n_samples = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal n_samples
        for block in blocks:
            n_samples += int(block.size)
            yield block

    starts: list[np.ndarray] = []
    vectors: dict[str, list[np.ndarray]] = {k: [] for k in ("fused", *BRANCH_NAMES)}
    prints, versions = PrintBuilder(embedder.config), VersionPrintBuilder(embedder.config)
    stem = embedder.card.timbre_stem  # a timbre graph runs later, on the kept segments
    pooled = PooledStream(embedder.config, stem) if stem is not None else None
    for segs in stream_segments(counted(), config=embedder.config,
                                  chunk_segments=chunk_segments, prints=prints,
                                  versions=versions, pooled=pooled):
        emb = embedder.embed(segs, timbre=stem is None)
        starts.append(segs.starts)
        vectors["fused"].append(emb.fused)
        for b in BRANCH_NAMES:
            if b in emb.branches:
                vectors[b].append(emb.branches[b])
    if not starts:
        return DenseEmbeddings(np.zeros(0, np.float32), {}, n_samples, prints.codes(),
                               versions.codes())
    return DenseEmbeddings(starts=np.concatenate(starts),
                           vectors={k: np.concatenate(v) for k, v in vectors.items() if v},
                           n_samples=n_samples, align_print=prints.codes(),
                           version_print=versions.codes(), pooled=pooled)


def stream_prints(blocks: Iterable[np.ndarray], *, config: FeatureConfig,
                  chunk_segments: int = CHUNK_SEGMENTS) -> tuple[np.ndarray, np.ndarray]:
    """A track's alignment and version prints from its audio given block by block (see
    :func:`stream_segments`), equal to those a scan stores; nothing is embedded."""
    prints, versions = PrintBuilder(config), VersionPrintBuilder(config)
    for _ in stream_segments(blocks, config=config, chunk_segments=chunk_segments,
                             prints=prints, versions=versions):
        pass
    return prints.codes(), versions.codes()
