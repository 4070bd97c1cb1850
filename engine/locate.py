"""Where exactly an excerpt starts in a track: align its frames against the track's.

The segment search places an excerpt within a model segment (18 s for the shipped
model). :func:`refine_offset` decodes only the part of the candidate file around
that coarse place and slides the excerpt's log-mel frames over the track's, frame by
frame (20 ms), scoring each lag by normalised cross-correlation. Only mel bands
between :data:`BAND_HZ` are used, each centred on its mean over time, so phone
microphones (band-limited, another equaliser, noise, reverb) still align.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

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
