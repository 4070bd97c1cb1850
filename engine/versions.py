"""Other versions of a piece: the same notes in another arrangement, key or tempo.

The model's track vectors blur a piece into its sound; two renditions of one score in
other instruments often look no closer than two pieces of one soundtrack. A version
print keeps what versions share, the sequence of harmonies: a track's chromagram
(the harmony branch's input, harmonic part only), folded to 12 pitch classes and
averaged over :data:`PRINT_SECONDS`, one byte a value (~6 KB for 4 minutes). It is
stored at scan time like the alignment print (:mod:`engine.locate`).

Two prints are compared as cover-song detectors do: transposed to the two keys their
pitch-class profiles suggest, every pair of frames is scored by cosine, and runs of
:data:`RUN` frames along a diagonal (the same progression played in order) are scored
against the mean of the square around them, so that a sustained chord matching
everything does not count; the best run of each seed frame, averaged over the best
half, in both directions, is the :func:`version_score`. On the development corpus's
training recordings a score above :data:`VERSION_TAU` is rare (0.1 % of pairs), and
reached by three in four versions of its renditions (benchmarks/RESULTS.md, "Versions
by their harmonies").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.config import FeatureConfig
from engine.features import HPSS_KERNEL, extract_features

#: Seconds of feature frames averaged into one print frame.
PRINT_SECONDS = 0.5
#: Byte steps per unit of a folded chroma value (two bins in [0, 1] summed: 0..2).
PRINT_SCALE = 127.5
#: Stored format of a version print.
VERSION_FORMAT = 1
#: Print frames of a run along a diagonal (5 s).
RUN = 10
#: Share of a print's frames, the best matched, whose runs are averaged (a half: a
#: version may hold the other's music once where the other repeats it).
TOP_SHARE = 0.5
#: Keys tried for a pair, the best by the pitch-class profiles' correlation.
KEYS = 2
#: Version scores above this lift a track (:func:`cover_bonus`): reached by 0.1 % of
#: pairs of the training part's recordings and 74 % of its renditions' versions
#: (benchmarks/RESULTS.md, "Versions by their harmonies").
VERSION_TAU = 0.44
#: Bonus per unit of version score above :data:`VERSION_TAU`.
COVER_GAIN = 10.0
#: Tracks scored by their version prints per seed: the nearest by content similarity.
COVER_SHORTLIST = 30
#: Print frames compared at most (the middle of a longer print; 10 minutes).
MAX_FRAMES = 1200
#: Whole-track seeds longer than this (seconds) get no print (memory of the features).
SEED_PRINT_SECONDS = 1200.0


def pitch_classes(chroma: np.ndarray) -> np.ndarray:
    """Fold a chromagram ``(bins, t)`` (bins a multiple of 12) to ``(12, t)``."""
    bins, t = chroma.shape
    folded: np.ndarray = np.asarray(chroma, np.float32).reshape(12, bins // 12, t).sum(axis=1)
    return folded


def pool_frames(config: FeatureConfig) -> int:
    """Feature frames averaged into one print frame (:data:`PRINT_SECONDS`)."""
    return max(1, round(PRINT_SECONDS * config.sr / config.hop_length))


def encode(folded: np.ndarray, pool: int) -> np.ndarray:
    """Average folded chroma frames ``(12, t)`` ``pool`` at a time into uint8 codes."""
    n = folded.shape[1] // pool
    pooled = folded[:, :n * pool].reshape(12, n, pool).mean(axis=2)
    codes: np.ndarray = np.clip(np.rint(pooled * PRINT_SCALE), 0, 255).astype(np.uint8)
    return codes


class VersionPrintBuilder:
    """A track's version print, from its chromagram given piece by piece.

    Pieces may overlap (a stream's context); each frame is taken once, from the first
    piece where it lies away from the piece's cut end (the harmonic mask's median
    filter and the STFT reach that far).
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.margin = max(config.mel.n_fft // (2 * config.hop_length) + 1,
                          HPSS_KERNEL // 2 + 1)
        self.pool = pool_frames(config)
        self.parts: list[np.ndarray] = []
        self.taken = 0

    def add(self, first: int, chroma: np.ndarray, *, last: bool) -> None:
        """Chroma frames ``(bins, t)`` of a piece whose frame 0 is track frame ``first``."""
        start = max(self.taken, first)
        stop = first + chroma.shape[1] - (0 if last else self.margin)
        if stop > start:
            self.parts.append(pitch_classes(chroma[:, start - first: stop - first]))
            self.taken = stop

    def codes(self) -> np.ndarray:
        """The print ``(12, n)`` uint8 of the frames added."""
        if not self.parts:
            return np.zeros((12, 0), np.uint8)
        return encode(np.concatenate(self.parts, axis=1), self.pool)


def version_print(y: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """The version print ``(12, n)`` uint8 of a whole mono signal at ``config.sr``."""
    return encode(pitch_classes(extract_features(y, config=config).chroma), pool_frames(config))


def _middle(codes: np.ndarray) -> np.ndarray:
    """The middle :data:`MAX_FRAMES` frames of a print (all of a shorter one)."""
    extra = codes.shape[1] - MAX_FRAMES
    return codes[:, extra // 2: extra // 2 + MAX_FRAMES] if extra > 0 else codes


def _frames(codes: np.ndarray) -> np.ndarray:
    """Print codes as frames centred on their mean and of unit length ``(12, n)``."""
    x = np.asarray(codes, np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-6)
    return unit


#: ``x[_ROLLS[s]]`` is ``np.roll(x, s)`` for a 12-vector ``x``.
_ROLLS = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12


def _lagged(x: np.ndarray) -> np.ndarray:
    """Each run of :data:`RUN` consecutive frames of ``x`` ``(12, n)`` as one column
    ``(RUN, 12, n - RUN + 1)``: ``out[k, :, i]`` is frame ``i + k``."""
    n = x.shape[1] - RUN + 1
    return np.stack([x[:, k:k + n] for k in range(RUN)])


def _best_share(values: np.ndarray) -> float:
    """Mean of the best :data:`TOP_SHARE` of ``values``."""
    keep = max(1, int(len(values) * TOP_SHARE))
    return float(np.partition(values, len(values) - keep)[-keep:].mean())


def version_score(seed: np.ndarray, other: np.ndarray) -> float:
    """How much two prints play the same harmonies in order (about -1..1; another
    version of a piece typically 0.35-0.8, other music below 0.45): in each direction,
    the mean over the best :data:`TOP_SHARE` of one print's frames of their best run in
    the other; the lower of the two, in the better of :data:`KEYS` keys. Symmetric.
    Prints shorter than :data:`RUN` frames score 0; of longer ones than
    :data:`MAX_FRAMES`, the middle part is compared."""
    a, b = _frames(_middle(seed)), _frames(_middle(other))
    n, m = a.shape[1], b.shape[1]
    if n < RUN or m < RUN:
        return 0.0
    profile_a, profile_b = a.clip(0).sum(axis=1), b.clip(0).sum(axis=1)
    fit = profile_b[_ROLLS] @ profile_a  # [s]: profile_a against profile_b rolled by s
    # a run's frame cosines summed along the diagonal = its RUN frames of a stacked
    # against b's; the square of RUN x RUN pairs around it = a's RUN frames summed
    # against b's summed: one product instead of passes over the whole frame matrix
    runs_a, runs_b = _lagged(a), _lagged(b)
    left = np.concatenate([runs_a.reshape(RUN * 12, -1), runs_a.sum(axis=0)])
    sums_b = runs_b.sum(axis=0) * (-1.0 / RUN)
    best = 0.0
    for shift in np.argsort(fit, kind="stable")[::-1][:KEYS]:
        key = int(shift)
        right = np.concatenate([np.roll(runs_b, key, axis=1).reshape(RUN * 12, -1),
                                np.roll(sums_b, key, axis=0)])
        runs = left.T @ right
        runs *= 1.0 / RUN
        both = min(_best_share(runs.max(axis=1)), _best_share(runs.max(axis=0)))
        best = max(best, both)
    return best


def version_scores(seed_print: np.ndarray, prints: Sequence[np.ndarray | None]
                   ) -> np.ndarray:
    """:func:`version_score` of the seed's print with each of ``prints`` ``(n,)`` (0 where
    there is none)."""
    return np.array([0.0 if p is None else version_score(seed_print, p) for p in prints],
                    np.float32)


def cover_bonus(content: np.ndarray, scores: Callable[[np.ndarray], np.ndarray], *,
                exclude: np.ndarray | None = None) -> np.ndarray:
    """Per library track ``(n,)``: :data:`COVER_GAIN` per unit of version score above
    :data:`VERSION_TAU`, for the :data:`COVER_SHORTLIST` tracks nearest by ``content``
    similarity (others get 0). ``scores(rows)`` gives those library rows' version scores
    against the seed (:func:`version_scores`)."""
    bonus = np.zeros(content.shape[0], np.float32)
    masked = np.array(content, np.float32)
    if exclude is not None:
        masked[np.asarray(exclude, bool)] = -np.inf
    k = min(COVER_SHORTLIST, int(np.isfinite(masked).sum()))
    if k <= 0:
        return bonus
    rows = np.argpartition(-masked, k - 1)[:k]
    bonus[rows] = COVER_GAIN * np.maximum(np.asarray(scores(rows), np.float32) - VERSION_TAU,
                                          0.0)
    return bonus
