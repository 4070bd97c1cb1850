"""A model's timbre graph: the "sounds alike" branch, learned on its own.

A card of format 3 may name a second ONNX graph under ``timbre``
(``{"file", "sha256", "stem": [freq, time]}``). It gives the model's ``timbre`` vectors
in place of the main graph's: a small network trained on real recordings to place
music of one soundtrack, album or production together (``trainer.timbre``), while the
main graph's fused vector keeps what it is trained for (the same song, excerpts,
versions). Its input ``mel_pooled`` ``(B, n_mels // freq, frames // time)`` is a
segment's log-mel average-pooled by the stem (as the training cache stores it) and
rounded through float16, so that a scan can keep every segment's pooled mel cheaply
and run the graph only on the segments it keeps (:func:`engine.stream.embed_stream`).
A card of format 4 also gives a ``mix``: the share of the main graph's own timbre vector
kept beside the graph's (:attr:`engine.model.ModelCard.timbre_mix`), and may give the
share a search listens to for a seed without versions of itself (:class:`TimbreMix`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.config import FeatureConfig
from engine.features import Segments
from engine.trunk import contiguous_runs, join_frames

if TYPE_CHECKING:
    from engine.model import ModelCard

#: Input and output tensor names of a timbre graph.
TIMBRE_INPUT = "mel_pooled"
TIMBRE_OUTPUT = "timbre"


def pool_frames(frames: np.ndarray, freq: int, time: int) -> np.ndarray:
    """Average-pool the last two axes ``(..., F, T)`` by ``freq`` x ``time`` (cropping to
    whole blocks), as the models' stem pools; float32."""
    f, t = frames.shape[-2] // freq, frames.shape[-1] // time
    lead = frames.shape[:-2]
    x = np.asarray(frames[..., : f * freq, : t * time], np.float32).reshape(
        *lead, f, freq, t, time)
    pooled: np.ndarray = np.einsum("...abcd->...ac", x) * np.float32(1.0 / (freq * time))
    return pooled


def pooled_mel(mel: np.ndarray, stem: tuple[int, int]) -> np.ndarray:
    """Segments' mel ``(n, n_mels, frames)`` as the timbre graph reads it, float16."""
    return pool_frames(np.asarray(mel, np.float32), *stem).astype(np.float16)


def pooled_segments(segments: Segments, config: FeatureConfig,
                    stem: tuple[int, int]) -> np.ndarray:
    """:func:`pooled_mel` of every segment, pooling the frames of consecutive segments
    once (a scan's segments overlap 4.5 times) when their hop is whole stem blocks."""
    hop, length = config.segment_hop_frames, segments.mel.shape[-1]
    if not len(segments) or hop % stem[1] or length % stem[1]:
        return pooled_mel(segments.mel, stem)
    step, width = hop // stem[1], length // stem[1]
    parts = []
    for a, b in contiguous_runs(segments.starts, config.segment.hop_seconds,
                                tolerance=0.5 / config.frame_rate):
        joined = pool_frames(join_frames(np.asarray(segments.mel[a:b], np.float32), hop),
                             *stem)
        parts.append(np.stack([joined[:, i * step: i * step + width] for i in range(b - a)]))
    return np.concatenate(parts).astype(np.float16)


class PooledStream:
    """A streamed track's segments as the timbre graph reads them, kept as each piece's
    pooled frames (consecutive segments overlap 4.5 times: their frames are pooled once)
    and cut only for the segments asked for (a scan's 8 kept ones)."""

    def __init__(self, config: FeatureConfig, stem: tuple[int, int]) -> None:
        self.stem, self.length = stem, config.segment_frames
        self.spans: list[np.ndarray] = []  # float16 (bands, columns)
        self.where: list[tuple[int, int]] = []  # per segment: (span, first column)

    def add(self, mel: np.ndarray, offsets: np.ndarray, segments: Segments) -> None:
        """One piece: its log-mel frames ``(n_mels, T)``, its segments' start frames in
        them, and the segments cut (used alone where their frames are not a plain slice
        of whole stem blocks: a short track tiled, a last segment padded)."""
        t = self.stem[1]
        lo, hi = int(offsets[0]), int(offsets[-1]) + self.length
        if hi <= mel.shape[1] and self.length % t == 0 and not np.any((offsets - lo) % t):
            self.where += [(len(self.spans), int(o - lo) // t) for o in offsets]
            self.spans.append(pooled_mel(mel[None, :, lo:hi], self.stem)[0])
            return
        for one in pooled_mel(segments.mel, self.stem):
            self.where.append((len(self.spans), 0))
            self.spans.append(one)

    def cut(self, keep: np.ndarray) -> np.ndarray:
        """Pooled mel ``(len(keep), bands, frames)`` float16 of the segments ``keep``."""
        width = self.length // self.stem[1]
        rows = [self.spans[s][:, c: c + width] for s, c in (self.where[int(i)] for i in keep)]
        bands = self.spans[0].shape[0] if self.spans else 0
        return np.stack(rows) if rows else np.zeros((0, bands, width), np.float16)


@dataclass(frozen=True)
class TimbreMix:
    """A mixed ``timbre`` column (:attr:`engine.model.ModelCard.timbre_mix`) as a search
    reads it: the main graph's vector (the first ``main_dim``, weighted ``sqrt(mix)``)
    beside the timbre graph's (weighted ``sqrt(1 - mix)``), so that a search can listen
    to another ``share`` of the main graph's timbre without new vectors: each part is
    then taken as a unit vector (a track's mean vector holds them in about that ratio),
    weighted ``sqrt(share)`` and ``sqrt(1 - share)``. A seed with no likely version of
    itself in the library is searched at ``without_versions``
    (:func:`engine.search.track_scores`): the main branch hears a piece played on other
    instruments as the same music, which only helps when the library holds versions of it.
    """

    main_dim: int
    without_versions: float

    @classmethod
    def of(cls, card: ModelCard) -> TimbreMix | None:
        """The card's mix, when it gives a share for seeds without versions; else None."""
        share = card.timbre.get("mix_without_versions") if card.timbre_mix else None
        if share is None:
            return None
        return cls(main_dim=int(card.timbre["main_dim"]), without_versions=float(share))

    def part_norms(self, rows: np.ndarray) -> np.ndarray:
        """The norms ``(n, 2)`` of the main and the graph part of timbre ``rows``."""
        rows = np.asarray(rows, np.float32)
        return np.stack([np.sqrt(np.einsum("ij,ij->i", part, part))
                         for part in (rows[:, : self.main_dim], rows[:, self.main_dim:])],
                        axis=1)

    def similarities(self, rows: np.ndarray, seed: np.ndarray, share: float, *,
                     norms: np.ndarray | None = None) -> np.ndarray:
        """``remix(rows, share) @ remix(seed, share)`` for library ``rows`` ``(n, d)``
        and a ``seed`` ``(d,)``, without copying the rows (``norms``: their
        :meth:`part_norms`, when known)."""
        rows = np.asarray(rows, np.float32)
        norms = self.part_norms(rows) if norms is None else norms
        q = self.remix(seed, share)
        d = self.main_dim
        main = (rows[:, :d] @ q[:d]) * (np.float32(np.sqrt(share))
                                        / np.maximum(norms[:, 0], 1e-12))
        graph = (rows[:, d:] @ q[d:]) * (np.float32(np.sqrt(1.0 - share))
                                         / np.maximum(norms[:, 1], 1e-12))
        out: np.ndarray = (main + graph).astype(np.float32)
        return out

    def remix(self, rows: np.ndarray, share: float) -> np.ndarray:
        """Timbre ``rows`` ``(..., d)`` at ``share``: both parts unit, weighted
        ``sqrt(share)`` and ``sqrt(1 - share)`` (unit rows), float32."""
        x = np.asarray(rows, np.float32)
        parts = []
        for part, weight in ((x[..., : self.main_dim], share), (x[..., self.main_dim:],
                                                               1.0 - share)):
            norm = np.linalg.norm(part, axis=-1, keepdims=True)
            parts.append(part * (np.float32(np.sqrt(weight)) / np.maximum(norm, 1e-12)))
        out: np.ndarray = np.concatenate(parts, axis=-1).astype(np.float32)
        return out
