"""Which other tracks contain a passage of a library track (near-duplicates, re-releases,
live cuts, medleys), found through the dense segment vectors without decoding anything.

The passage's stored segments are searched in the segment index; each track hit is
then scored along every diagonal of its segment similarity matrix (the passage's
segments against the track's, in step): a track contains the passage when its
segments match the passage's one after the other, at one shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import excerpts
from engine.catalog import Catalog
from engine.errors import ParameterError
from engine.records import TrackInfo, tracks_by_id
from engine.rerank import similarities
from engine.store import Store

#: Mean segment similarity along the best diagonal for a track to count as containing
#: the passage (the shipped model: same recording ~0.95-1.0, other songs below ~0.9).
MIN_SCORE = 0.9


@dataclass(frozen=True)
class PassageMatch:
    """A track containing the passage.

    Attributes
    ----------
    track : the other track
    offset : seconds into ``track`` where the passage starts (to within a segment hop)
    score : mean similarity of the passage's segments with the track's, in step
    """

    track: TrackInfo
    offset: float
    score: float


def _diagonal(sims: np.ndarray) -> tuple[int, float]:
    """Best shift ``d`` (track segment ``i + d`` against passage segment ``i``) by the
    mean similarity over the passage's segments that fall inside the track."""
    n_q, n_t = sims.shape
    best, best_d = -np.inf, 0
    for d in range(-n_q + 1, n_t):
        diag = np.diagonal(sims, offset=d)
        if len(diag) < max(1, (n_q + 1) // 2):
            continue  # less than half the passage overlaps the track
        score = float(diag.mean())
        if score > best:
            best, best_d = score, d
    return best_d, best


def tracks_containing(store: Store, catalog: Catalog, *, track_id: int, start: float = 0.0,
                      end: float | None = None, min_score: float = MIN_SCORE,
                      k: int = 50) -> list[PassageMatch]:
    """Other tracks that contain ``[start, end)`` seconds of library track ``track_id``.

    Returns
    -------
    list of PassageMatch, best first, at most ``k``, each scoring at least ``min_score``
    """
    dim = catalog.track_vectors["fused"].shape[1]
    own = excerpts.track_segments(store, [track_id], fingerprint=catalog.fingerprint, dim=dim)
    if track_id not in own:
        raise ParameterError(f"track {track_id} has no analysed segments with this model")
    starts, vectors = own[track_id]
    end = float(starts[-1]) + 1.0 if end is None else end
    inside = (starts >= start - 1e-3) & (starts < end)
    if not inside.any():  # passage shorter than a segment hop: the nearest segment
        inside = np.abs(starts - start) == np.abs(starts - start).min()
    q_starts, q_vectors = starts[inside], vectors[inside]
    hits = excerpts.candidate_tracks(q_vectors, catalog, pool=max(4 * k, 50))
    ids = [int(i) for i in hits if int(i) != track_id]
    found = excerpts.track_segments(store, ids, fingerprint=catalog.fingerprint, dim=dim)
    scored = []
    for tid in ids:
        if tid not in found:
            continue
        t_starts, t_vectors = found[tid]
        shift, score = _diagonal(similarities(q_vectors, t_vectors))
        if score >= min_score:
            first = max(0, shift)  # first track segment in step with the passage
            moved = float(t_starts[first]) - float(q_starts[first - shift])
            scored.append((score, tid, max(0.0, start + moved)))
    scored.sort(reverse=True)
    infos = tracks_by_id(store, [t for _, t, _ in scored[:k]])
    return [PassageMatch(infos[t], off, s) for s, t, off in scored[:k] if t in infos]


def similarity_along(store: Store, *, seed_vectors: np.ndarray, fingerprint: str,
                     track_id: int) -> tuple[np.ndarray, np.ndarray]:
    """How closely each stored segment of track ``track_id`` resembles the seed.

    Parameters
    ----------
    seed_vectors : np.ndarray [shape=(n, dim)], the seed's fused segment vectors
    fingerprint : the model the seed was analysed with

    Returns
    -------
    (starts, scores) : np.ndarray [shape=(m,)] each; the track's segment starts in
    seconds and, per segment, its best similarity with any seed segment
    """
    seeds = np.asarray(seed_vectors, dtype=np.float32)
    found = excerpts.track_segments(store, [int(track_id)], fingerprint=fingerprint,
                                    dim=int(seeds.shape[1]))
    if int(track_id) not in found:
        raise ParameterError(f"track {track_id} has no analysed segments with this model")
    starts, vectors = found[int(track_id)]
    scores = similarities(vectors, seeds).max(axis=1)
    return np.asarray(starts, dtype=np.float32), scores.astype(np.float32)
