"""A song path: tracks leading from one song to another in small steps.

The path follows way-points spaced evenly along the great circle from A's vector to
B's. Each way-point proposes its :data:`CANDIDATES` nearest tracks, and a Viterbi
pass picks one per step to maximise the similarity of each step to the previous
one plus that of each pick to its way-point, under one hard rule: every step is
strictly more similar to B than the step before (A's own similarity to B first).
That rule also makes repeats impossible. Small libraries are searched exhaustively
(every eligible track is a candidate at every step); in larger ones, when the near
candidates allow no such path, each way-point proposes :data:`WIDER` tracks instead.

The products are small, so BLAS runs on one thread: a pool of them only waits on a
busy machine (a 10-song path in 12,000 tracks: 8 ms against 30-400 ms with two BLAS
threads on two busy cores, benchmarks/bench_discovery.py).
"""

from __future__ import annotations

import numpy as np

from engine.errors import ParameterError
from engine.index import normalise

#: Nearest tracks each way-point proposes (before the exhaustive fallback).
CANDIDATES = 64
#: Candidates per way-point on the second try.
WIDER = 512
#: Libraries up to this size are searched exhaustively (the cost grows with the square
#: of the size; path timings: benchmarks/RESULTS.md, "Discovery").
EXHAUSTIVE_BELOW = 500
#: Tracks at least this similar to B count as copies of B and are left out.
COPY_OF_B = 0.9999


def waypoints(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` unit vectors ``(steps, dim)`` evenly along the arc from ``a`` to ``b``."""
    t = np.arange(1, steps + 1, dtype=np.float64) / (steps + 1)
    a, b = a.astype(np.float64), b.astype(np.float64)
    angle = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if angle < 1e-6:
        points = np.repeat(a[None, :], steps, axis=0)
    else:
        points = (np.sin((1 - t) * angle)[:, None] * a + np.sin(t * angle)[:, None] * b) \
            / np.sin(angle)
    return normalise(points)


def song_path(vectors: np.ndarray, start: int, end: int, length: int) -> list[int]:
    """Rows of ``vectors`` forming a path of ``length`` tracks from ``start`` to ``end``.

    Parameters
    ----------
    vectors : np.ndarray [shape=(n, dim)], unit-norm track vectors
    start, end : rows of the first and last track
    length : tracks in the path, both ends included (at least 2)

    Returns
    -------
    list of ``length`` distinct rows, ``start`` first and ``end`` last
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _path(vectors, start, end, length)


def _path(vectors: np.ndarray, start: int, end: int, length: int) -> list[int]:
    n = len(vectors)
    if start == end:
        raise ParameterError("a path needs two different tracks")
    if length < 2:
        raise ParameterError("a path has at least 2 tracks (its two ends)")
    if length > n:
        raise ParameterError(f"the library has only {n} tracks; ask for at most {n}")
    steps = length - 2
    if steps == 0:
        return [start, end]
    to_b = vectors @ vectors[end]
    eligible = to_b > to_b[start]
    eligible[[start, end]] = False
    eligible &= to_b < COPY_OF_B
    available = int(eligible.sum())
    if available < steps:
        raise ParameterError(f"only {available} tracks are closer to the second song than "
                             f"the first one is; ask for at most {available + 2} tracks")
    best = _search(vectors, start, end, steps, eligible, to_b)
    if best is None:
        raise ParameterError(f"no {length}-track path leads steadily closer to the second "
                             "song; ask for fewer tracks")
    return [start, *best, end]


def _search(vectors: np.ndarray, start: int, end: int, steps: int, eligible: np.ndarray,
            to_b: np.ndarray) -> list[int] | None:
    """The middle of the best path (near candidates first, then wider), or None."""
    points = waypoints(vectors[start], vectors[end], steps)
    n = len(vectors)
    candidates = _candidates(vectors, points, eligible,
                             CANDIDATES if n > EXHAUSTIVE_BELOW else n)
    best = _viterbi(vectors, points, candidates, start, end, to_b)
    if best is None and n > EXHAUSTIVE_BELOW:
        best = _viterbi(vectors, points, _candidates(vectors, points, eligible, WIDER),
                        start, end, to_b)
    return best


def _candidates(vectors: np.ndarray, points: np.ndarray, eligible: np.ndarray,
                k: int) -> list[np.ndarray]:
    """Per way-point, the rows of the ``k`` eligible tracks nearest to it."""
    sims = points @ vectors.T
    sims[:, ~eligible] = -np.inf
    k = min(k, int(eligible.sum()))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return [row[np.isfinite(sims[i, row])] for i, row in enumerate(top)]


def _viterbi(vectors: np.ndarray, points: np.ndarray, candidates: list[np.ndarray],
             start: int, end: int, to_b: np.ndarray) -> list[int] | None:
    """The best strictly-approaching path through one candidate per step, or None."""
    prev_rows = np.array([start])
    score = np.zeros(1)
    back: list[np.ndarray] = []
    for step, rows in enumerate(candidates):
        gain = vectors[rows] @ points[step]
        trans = vectors[prev_rows] @ vectors[rows].T  # (prev, cur)
        trans = np.where(to_b[rows][None, :] > to_b[prev_rows][:, None], trans, -np.inf)
        total = score[:, None] + trans
        back.append(np.argmax(total, axis=0))
        score = total.max(axis=0) + gain
        prev_rows = rows
    score = score + vectors[prev_rows] @ vectors[end]
    if not np.isfinite(score).any():
        return None
    picks = [int(np.argmax(score))]
    for pointers in reversed(back[1:]):
        picks.append(int(pointers[picks[-1]]))
    picks.reverse()
    return [int(candidates[i][p]) for i, p in enumerate(picks)]
