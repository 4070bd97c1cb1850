"""Where exactly an excerpt starts in a track: align its frames against the track's.

The segment search places an excerpt within a model segment (18 s for the shipped
model). Only mel bands between :data:`BAND_HZ` are used, each centred on its mean over
time, so phone microphones (band-limited, another equaliser, noise, reverb) still
align; lags are scored by normalised cross-correlation (:func:`best_lag`).

Two ways, the first without touching the audio file:

* :func:`locate_in_print` slides the excerpt over the track's *alignment print*, stored
  at scan time (:class:`PrintBuilder`): the alignment bands summed into
  :data:`PRINT_BANDS` groups, :data:`PRINT_POOL` frames averaged (0.32 s), in dB, one
  byte a value (~6 KB for 4 minutes). The excerpt is pooled at every frame phase, so
  its start is still found to the frame (20 ms).
* :func:`refine_offset` (tracks without a print: analysed before prints existed)
  decodes the part of the file around the coarse place and slides the excerpt's
  frames over the track's, frame by frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import scipy.fft

from engine import dsp
from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.errors import ResonanceError

if TYPE_CHECKING:
    import scipy.sparse

#: Mel bands used for alignment (Hz): what a phone recording keeps.
BAND_HZ = (200.0, 4000.0)
#: At most this many seconds of the excerpt are aligned.
MAX_ALIGN_SECONDS = 20.0
#: Alignment prints: groups of adjacent alignment bands (power summed), frames averaged,
#: dB range kept (below the track's loudest value is clipped), and the stored format.
#: Chosen with ``bench_excerpts`` on training packages (benchmarks/RESULTS.md).
PRINT_BANDS = 8
PRINT_POOL = 16
PRINT_RANGE_DB = 80.0
PRINT_FORMAT = 1


@dataclass(frozen=True)
class Located:
    """An excerpt's refined place in a track.

    Attributes
    ----------
    offset : seconds from the track's start to where the excerpt starts
    confidence : peak normalised correlation of the alignment, in [0, 1]
    """

    offset: float
    confidence: float


def _bands(config: FeatureConfig) -> slice:
    mel_hz = dsp.mel_to_hz(np.linspace(dsp.hz_to_mel(config.mel.fmin),
                                       dsp.hz_to_mel(config.fmax), config.mel.n_mels + 2))[1:-1]
    inside = np.flatnonzero((mel_hz >= BAND_HZ[0]) & (mel_hz <= BAND_HZ[1]))
    if inside.size < 2:
        return slice(0, config.mel.n_mels)
    return slice(int(inside[0]), int(inside[-1]) + 1)


@lru_cache(maxsize=4)
def _filters(config: FeatureConfig) -> scipy.sparse.csr_matrix:
    """The mel filters of the alignment bands (built once per feature configuration)."""
    import scipy.sparse

    mel = dsp.mel_filterbank(sr=config.sr, n_fft=config.mel.n_fft, n_mels=config.mel.n_mels,
                             fmin=float(config.mel.fmin), fmax=config.fmax)[_bands(config)]
    return scipy.sparse.csr_matrix(mel)


def align_frames(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Alignment frames of a signal at ``config.sr``: ``(bands, t)`` log-mel, float32."""
    power = dsp.filtered_power_frames(y, n_fft=config.mel.n_fft, hop_length=config.hop_length,
                                      filters=_filters(config))
    return dsp.power_to_db(power)


def _standardise(frames: np.ndarray) -> np.ndarray:
    x: np.ndarray = frames - frames.mean(axis=1, keepdims=True)
    return x / max(float(np.sqrt((x**2).sum())), 1e-9)


def best_lag(query: np.ndarray, track: np.ndarray) -> tuple[int, float]:
    """Lag (frames) of ``query`` ``(b, m)`` in ``track`` ``(b, n)``, n >= m, and its
    normalised correlation.

    Each lag's track window is centred per band and normalised before the inner
    product, so loudness and equalisation do not count.
    """
    from scipy.signal import fftconvolve

    m = query.shape[1]
    q = _standardise(query).astype(np.float64)
    t = track.astype(np.float64)
    dots = fftconvolve(t, q[:, ::-1], mode="valid", axes=1).sum(axis=0)  # centred q
    cs = np.pad(np.cumsum(t, axis=1), ((0, 0), (1, 0)))
    cs2 = np.pad(np.cumsum((t**2).sum(axis=0)), (1, 0))
    sums = cs[:, m:] - cs[:, :-m]
    sq = (cs2[m:] - cs2[:-m]) - (sums**2).sum(axis=0) / m
    scores = dots / np.sqrt(np.maximum(sq, 1e-9))
    lag = int(np.argmax(scores))
    return lag, float(scores[lag])


def band_slice(config: FeatureConfig) -> slice:
    """The mel bands (rows of the model's log-mel features) used for alignment."""
    return _bands(config)


def print_frame_seconds(config: FeatureConfig) -> float:
    """Seconds one alignment-print frame covers with ``config``."""
    return PRINT_POOL * config.hop_length / float(config.sr)


def print_groups(frames_db: np.ndarray) -> np.ndarray:
    """Alignment frames ``(bands, t)`` dB -> power of :data:`PRINT_BANDS` band groups
    ``(PRINT_BANDS, t)`` float32."""
    power = np.power(10.0, np.asarray(frames_db, np.float32) / 10.0, dtype=np.float32)
    edges = np.linspace(0, power.shape[0], PRINT_BANDS + 1).astype(int)
    return np.add.reduceat(power, edges[:-1], axis=0)


def _pooled_db(groups: np.ndarray) -> np.ndarray:
    n = groups.shape[1] // PRINT_POOL
    pooled = groups[:, : n * PRINT_POOL].reshape(groups.shape[0], n, PRINT_POOL).mean(axis=2)
    return dsp.power_to_db(pooled)


def encode_print(groups: np.ndarray) -> np.ndarray:
    """A track's alignment print ``(PRINT_BANDS, n)`` uint8 from its band-group powers
    ``(PRINT_BANDS, t)`` (:func:`print_groups`), pooled from its first frame."""
    db = _pooled_db(groups)
    if db.size == 0:
        return np.zeros((PRINT_BANDS, 0), np.uint8)
    floor = float(db.max()) - PRINT_RANGE_DB
    codes: np.ndarray = np.clip(np.rint((db - floor) * (255.0 / PRINT_RANGE_DB)), 0, 255)
    return codes.astype(np.uint8)


def locate_in_print(query: np.ndarray, codes: np.ndarray, *,
                    config: FeatureConfig) -> Located | None:
    """The start of ``query`` (alignment frames, dB) in a track's print ``codes``.

    The query is pooled at each of the :data:`PRINT_POOL` frame phases and slid over
    the whole print; the best phase and lag give the start to the frame. Returns None
    when the track is shorter than the query.
    """
    frame_s = config.hop_length / config.sr
    groups = print_groups(query[:, : int(MAX_ALIGN_SECONDS / frame_s)])
    phases = min(PRINT_POOL, max(1, groups.shape[1] - PRINT_POOL + 1))
    m = (groups.shape[1] - phases + 1) // PRINT_POOL  # pooled frames at every phase
    track = codes.astype(np.float64) * (PRINT_RANGE_DB / 255.0)
    if m < 2 or m > track.shape[1]:
        return None
    pooled = np.stack([_standardise(_pooled_db(groups[:, p: p + m * PRINT_POOL]))
                       for p in range(phases)])  # (phases, bands, m), centred per band
    # correlations by FFT, one thread (BLAS threads stall on a busy machine)
    n = track.shape[1]
    size = scipy.fft.next_fast_len(n + m - 1, real=True)
    spectrum = scipy.fft.rfft(track, n=size, axis=1, workers=1)
    flipped = scipy.fft.rfft(pooled[:, :, ::-1], n=size, axis=2, workers=1)
    dots = scipy.fft.irfft((flipped * spectrum).sum(axis=1), n=size, axis=1,
                           workers=1)[:, m - 1: n]  # (phases, lags)
    cs = np.pad(np.cumsum(track, axis=1), ((0, 0), (1, 0)))
    cs2 = np.pad(np.cumsum((track**2).sum(axis=0)), (1, 0))
    sums = cs[:, m:] - cs[:, :-m]  # per band and lag
    sq = (cs2[m:] - cs2[:-m]) - (sums**2).sum(axis=0) / m
    scores = dots / np.sqrt(np.maximum(sq, 1e-9))
    phase, lag = np.unravel_index(int(np.argmax(scores)), scores.shape)
    offset = (int(lag) * PRINT_POOL - int(phase)) * frame_s
    return Located(offset=max(0.0, offset),
                   confidence=float(np.clip(scores[phase, lag], 0.0, 1.0)))


class PrintBuilder:
    """A track's alignment print, from its log-mel features given piece by piece.

    Pieces may overlap (the stream's context); each frame is taken once, from the first
    piece where it lies away from the piece's cut end.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.bands = _bands(config)
        self.margin = config.mel.n_fft // (2 * config.hop_length) + 1
        self.parts: list[np.ndarray] = []
        self.taken = 0  # frames of the track taken so far

    def add(self, first: int, band_db: np.ndarray, *, last: bool) -> int:
        """Alignment-band frames ``(bands, t)`` dB (rows :func:`band_slice` of the log-mel
        features) of a piece whose frame 0 is track frame ``first``. Returns the first
        track frame still wanted from the next piece (which should start at least
        ``margin`` frames before it)."""
        start = max(self.taken, first)
        stop = first + band_db.shape[1] - (0 if last else self.margin)
        if stop > start:
            self.parts.append(print_groups(band_db[:, start - first: stop - first]))
            self.taken = stop
        return self.taken

    def codes(self) -> np.ndarray:
        """The print ``(PRINT_BANDS, n)`` uint8 of the frames added."""
        if not self.parts:
            return np.zeros((PRINT_BANDS, 0), np.uint8)
        return encode_print(np.concatenate(self.parts, axis=1))


def refine_offset(path: str | os.PathLike[str], query: np.ndarray, *, config: FeatureConfig,
                  lo: float, hi: float) -> Located | None:
    """The start of ``query`` (alignment frames) in ``path`` between ``lo`` and ``hi`` s.

    Decodes only ``[lo, hi + query length]`` of the file. Returns None when that part
    cannot be decoded or is shorter than the query.
    """
    frame_s = config.hop_length / config.sr
    query = query[:, : int(MAX_ALIGN_SECONDS / frame_s)]
    lo = max(0.0, lo)
    span = hi - lo + query.shape[1] * frame_s
    try:
        y = load_audio(path, sr=config.sr, offset=lo, duration=span)
    except ResonanceError:
        return None
    frames = align_frames(y, config=config)
    if frames.shape[1] < query.shape[1]:
        return None
    lag, score = best_lag(query, frames)
    return Located(offset=lo + lag * frame_s, confidence=float(np.clip(score, 0.0, 1.0)))
