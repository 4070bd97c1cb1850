"""The hand-crafted baseline: MFCC + chroma + tempo statistics, compared by cosine.

This is the classic content-based recipe (as in bliss or Musly's timbre part): per
segment, the mean and standard deviation of 20 MFCCs and of the chroma, plus the
tempo (onset-autocorrelation) vector; each dimension z-scored over the database, each
block given equal weight, then L2-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from engine.features import Segments
from engine.index import normalise

N_MFCC = 20


def segment_statistics(segs: Segments) -> dict[str, np.ndarray]:
    """Raw per-segment statistics, one block per modality.

    Returns
    -------
    blocks : {"mfcc": (n, 40), "chroma": (n, 2 * bins), "tempo": (n, win)}
    """
    mfcc = scipy.fft.dct(segs.mel, type=2, norm="ortho", axis=1)[:, :N_MFCC, :]
    return {
        "mfcc": np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2)], axis=1),
        "chroma": np.concatenate([segs.chroma.mean(axis=2), segs.chroma.std(axis=2)], axis=1),
        "tempo": segs.tempo[:, 1:],  # lag 0 is 1 by construction
    }


@dataclass
class Baseline:
    """Standardisation fitted on the database, applied to database and queries alike."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, blocks: list[dict[str, np.ndarray]]) -> Baseline:
        """Fit per-dimension mean and spread on database segments."""
        stacked = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        return cls(mean={k: v.mean(axis=0) for k, v in stacked.items()},
                   std={k: v.std(axis=0) + 1e-6 for k, v in stacked.items()})

    def vectors(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        """L2-normalised vectors ``(n, d)`` with equal weight per block."""
        parts = [(blocks[k] - self.mean[k]) / self.std[k] / np.sqrt(blocks[k].shape[1])
                 for k in sorted(blocks)]
        x = np.concatenate(parts, axis=1)
        return normalise(x)
