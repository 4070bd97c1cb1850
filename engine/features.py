"""The model's feature front-end: log-mel (timbre), chroma (harmony), tempo (rhythm).

One implementation for the whole product: the catalog, queries and the trainer all
call :func:`extract_features` and :func:`segment_features` with the model's
:class:`~engine.config.FeatureConfig`.

Per track, frame-level features are computed once (hop ``mel.hop_ms``):

* ``mel``: 10·log10 of a Slaney mel power spectrogram, floor -100 dB;
* ``chroma``: ``chroma.bins`` pitch classes, max-normalised per frame, from the
  harmonic part of the spectrum when HPSS is on;
* ``tempogram``: onset-strength autocorrelation over ``tempo.win`` frames, from the
  percussive part when HPSS is on.

Segments of ``segment.seconds`` every ``segment.hop_seconds`` are then cut from
them; a segment's rhythm vector is the mean tempogram over its frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from engine import dsp
from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.errors import ParameterError

HPSS_KERNEL = 17


@dataclass(frozen=True)
class TrackFeatures:
    """Frame-level features of one whole track.

    Attributes
    ----------
    mel : np.ndarray [shape=(n_mels, n_frames), dtype=float32], dB
    chroma : np.ndarray [shape=(bins, n_frames), dtype=float32], in [0, 1]
    tempogram : np.ndarray [shape=(win, n_frames), dtype=float32], in [-1, 1]
    duration : float, seconds of audio analysed
    """

    mel: np.ndarray
    chroma: np.ndarray
    tempogram: np.ndarray
    duration: float

    @property
    def n_frames(self) -> int:
        """Number of feature frames."""
        return int(self.mel.shape[1])


@dataclass(frozen=True)
class Segments:
    """Model inputs for a batch of segments of one track.

    Attributes
    ----------
    mel : np.ndarray [shape=(n, n_mels, segment_frames), dtype=float32]
    chroma : np.ndarray [shape=(n, bins, segment_frames), dtype=float32]
    tempo : np.ndarray [shape=(n, win), dtype=float32]
    starts : np.ndarray [shape=(n,), dtype=float32], segment start times in seconds
    """

    mel: np.ndarray
    chroma: np.ndarray
    tempo: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def extract_features(y: np.ndarray, *, config: FeatureConfig) -> TrackFeatures:
    """Frame-level features of a mono signal already at ``config.sr``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono audio at ``config.sr`` Hz
    config : the model's feature configuration

    Returns
    -------
    TrackFeatures
        Deterministic, finite, float32.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"expected mono audio of shape (n,), got {y.shape}")
    if not np.isfinite(y).all():  # one pass; the repairing copy only for damaged input
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    n_mels, n_chroma = config.mel.n_mels, config.chroma.bins
    filters = dsp.stacked_filters(sr=config.sr, n_fft=config.mel.n_fft, n_mels=n_mels,
                                  fmin=float(config.mel.fmin), fmax=config.fmax,
                                  n_chroma=n_chroma)
    bands = dsp.filtered_power_frames(y, n_fft=config.mel.n_fft, hop_length=config.hop_length,
                                      filters=filters)
    mel_power, pitch = bands[:n_mels], bands[n_mels:]
    mel_db = dsp.power_to_db(mel_power)
    if config.segment.hpss:
        _, perc_mask = dsp.hpss_masks(mel_power, kernel=HPSS_KERNEL)
        harm_mask, _ = dsp.hpss_masks(pitch, kernel=HPSS_KERNEL)
        rhythm_db = dsp.power_to_db(mel_power * perc_mask)
        pitch = pitch * harm_mask
    else:
        rhythm_db = mel_db
    chroma = dsp.normalize_max(dsp.fold_octaves(pitch, n_chroma))
    onset = dsp.onset_strength(rhythm_db, n_fft=config.mel.n_fft, hop_length=config.hop_length)
    tgram = dsp.tempogram(onset, win_length=config.tempo.win, stride=config.tempo.stride)
    return TrackFeatures(mel=mel_db, chroma=chroma, tempogram=tgram,
                         duration=y.size / float(config.sr))


def segment_starts(n_frames: int, *, length: int, hop: int) -> np.ndarray:
    """Start frames of the segments covering ``n_frames`` frames.

    Segments start every ``hop`` frames; when the last regular segment stops at least
    half a hop short of the end, one more segment aligned to the end is added, so the
    whole track is covered without near-duplicate segments. A track shorter than one
    segment gives the single start 0 (the segment is then padded).

    Returns
    -------
    starts : np.ndarray [shape=(n,), dtype=int64]
    """
    if length < 1 or hop < 1:
        raise ParameterError("segment length and hop must be positive")
    if n_frames <= length:
        return np.zeros(1, dtype=np.int64)
    last = n_frames - length
    starts = np.arange(0, last + 1, hop, dtype=np.int64)
    if last - starts[-1] >= max(1, hop // 2):
        starts = np.append(starts, last)
    return starts


def select_starts(starts: np.ndarray, max_segments: int | None) -> np.ndarray:
    """At most ``max_segments`` of ``starts``, spread evenly over the track."""
    if max_segments is None or starts.size <= max_segments:
        return starts
    if max_segments < 1:
        raise ParameterError("max_segments must be at least 1")
    picks = np.round(np.linspace(0, starts.size - 1, max_segments)).astype(np.int64)
    return starts[np.unique(picks)]


def segment_features(
    features: TrackFeatures,
    *,
    config: FeatureConfig,
    starts: np.ndarray | None = None,
    max_segments: int | None = None,
) -> Segments:
    """Cut model-input segments out of a track's frame-level features.

    Parameters
    ----------
    features : output of :func:`extract_features`
    config : the same configuration that produced ``features``
    starts : start frames to cut (default: :func:`segment_starts` over the track)
    max_segments : keep at most this many segments, evenly spread

    Returns
    -------
    Segments
        A track shorter than one segment is repeated to fill it (``segment.short:
        tile``, so a 10 s recording looks like music, not music then silence) or padded
        (``pad``: mel with the -100 dB floor, chroma with zeros). The rhythm vector
        averages the real frames only.
    """
    length = config.segment_frames
    if starts is None:
        starts = segment_starts(features.n_frames, length=length,
                                hop=config.segment_hop_frames)
    starts = select_starts(np.asarray(starts, dtype=np.int64), max_segments)
    if starts.size and (starts.min() < 0 or starts.max() >= max(features.n_frames, 1)):
        raise ParameterError("segment starts lie outside the track")
    mel_frames, chroma_frames = features.mel, features.chroma
    if config.segment.short == "tile" and 0 < features.n_frames < length:
        reps = -(-length // features.n_frames)
        mel_frames = np.tile(mel_frames, (1, reps))[:, :length]
        chroma_frames = np.tile(chroma_frames, (1, reps))[:, :length]
    mel = _cut(mel_frames, starts, length, dsp.LOG_FLOOR_DB)
    chroma = _cut(chroma_frames, starts, length, 0.0)
    tempo = _segment_means(features.tempogram, starts, length)
    seconds = (starts * config.hop_length / config.sr).astype(np.float32)
    return Segments(mel=mel, chroma=chroma, tempo=tempo, starts=seconds)


def analyze_file(
    path: str | os.PathLike[str],
    *,
    config: FeatureConfig,
    max_segments: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[TrackFeatures, Segments]:
    """Decode ``path`` and return its frame-level features and model segments."""
    y = load_audio(path, sr=config.sr, offset=offset, duration=duration)
    features = extract_features(y, config=config)
    return features, segment_features(features, config=config, max_segments=max_segments)


def _cut(frames: np.ndarray, starts: np.ndarray, length: int, fill: float) -> np.ndarray:
    """Stack ``frames[:, s:s+length]`` for each start, padding past the end."""
    n_rows, n = frames.shape
    need = int(starts.max()) + length if starts.size else 0
    if need > n:
        frames = np.concatenate(
            [frames, np.full((n_rows, need - n), fill, dtype=np.float32)], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(frames, length, axis=1)
    return np.ascontiguousarray(windows[:, starts].transpose(1, 0, 2), dtype=np.float32)


def _segment_means(tgram: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Mean tempogram column over each segment's real (unpadded) frames.

    Frames are summed in blocks of the largest step dividing every start and the length
    (segments every 4 s of 18 s: 2 s), then prefix sums run over the blocks: one pass
    over the tempogram instead of a prefix sum over every frame.
    """
    n = tgram.shape[1]
    ends = np.minimum(starts + length, n)
    counts = np.maximum(ends - starts, 1)
    step = math.gcd(int(length), *(int(x) for x in starts))
    blocks = n // step
    sums = np.zeros((tgram.shape[0], blocks + 1), dtype=np.float64)
    np.cumsum(tgram[:, : blocks * step].reshape(tgram.shape[0], blocks, step).sum(
        axis=2, dtype=np.float64), axis=1, out=sums[:, 1:])
    last = ends // step  # whole blocks end here; the frames after it are added one by one
    totals = sums[:, last] - sums[:, starts // step]
    for i in np.flatnonzero(ends % step):
        totals[:, i] += tgram[:, last[i] * step: ends[i]].sum(axis=1, dtype=np.float64)
    return np.ascontiguousarray((totals / counts).T, dtype=np.float32)
