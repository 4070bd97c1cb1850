"""Excerpt search: which tracks contain a short recording, and where.

An excerpt seed's segment vectors are searched in the segment index, which holds
every segment of every track (:mod:`engine.segment_index`). The candidate tracks'
dense vectors are then scored exactly against every seed segment (best pair), which
also places the excerpt in the track to within a model segment; :mod:`engine.locate`
then finds the exact place in the best results by aligning frames: over each track's
stored alignment print, whole track, when all of them have one (:func:`align_by_prints`,
no decoding), else by decoding the likely parts of the files (:func:`refine_top`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine import dense, segment_index
from engine.catalog import Catalog
from engine.config import FeatureConfig
from engine.locate import (
    PRINT_BANDS,
    PRINT_FORMAT,
    Located,
    locate_in_print,
    print_frame_seconds,
    refine_offset,
)
from engine.rerank import similarities
from engine.store import Store

#: Results aligned over their stored prints (whole track each, under a millisecond for
#: a 4-minute track, no decoding) and put in order of alignment confidence: the first
#: PRINT_MIN always, then more up to PRINT_TOP while their lengths add up to at most
#: PRINT_SECONDS. A phone recording's true track often ranks 9th-50th by embedding;
#: aligning 50 rather than 8 finds it (chosen on training packages: benchmarks/RESULTS.md,
#: "Excerpts: aligning more candidates").
PRINT_MIN = 8
PRINT_TOP = 50
PRINT_SECONDS = 4 * 3600.0
#: Aligned results at least this confident lead, in order of confidence; the others keep
#: the embedding's order. On training packages the track holding a phone excerpt aligns
#: at 0.72 or more in 99 % of queries, the other tracks at 0.35 (median); a harsher
#: phone (300-3400 Hz) still aligns at 0.56.
MATCH_CONFIDENCE = 0.5
#: Without prints: results whose offset is refined by decoding (~30 s of each file).
REFINE_TOP = 2
#: Segment hits kept per seed segment from the index, at least.
HITS_MIN = 64
#: Alignment confidences steering the refinement (see :func:`refine_top`): a true match
#: of a real recording typically aligns at 0.55-0.9, another track below 0.3. Chosen on
#: training packages of the corpus (benchmarks/RESULTS.md, bench:excerpts): skipping the
#: other places above CERTAIN_CONFIDENCE halves the median alignment cost and loses no
#: placement; aligning whole tracks below LOW_CONFIDENCE (0.5 rather than 0.35) finds
#: phone recordings whose segment pairs pointed elsewhere.
CERTAIN_CONFIDENCE = 0.7
SURE_CONFIDENCE = 0.5
LOW_CONFIDENCE = 0.5
#: Tracks at most this long may be aligned over their whole length, as a last resort.
WHOLE_TRACK_SECONDS = 900.0
#: Slack around a place, in segment hops, on each side.
SLACK_HOPS = 1.0
#: Places per track tried by the alignment (the best segment pairs, apart from each other).
PLACES = 3


@dataclass(frozen=True)
class Placement:
    """Where a seed's best segment pair puts it in one track.

    Attributes
    ----------
    score : best fused similarity between a seed segment and a track segment
    offset : estimated start of the seed in the track, seconds
    ranges : ``(lo, hi)`` ranges the true start may lie in, best pair first (one segment
        hop (:data:`SLACK_HOPS`) of slack on each side), for up to :data:`PLACES` segment pairs
    """

    score: float
    offset: float
    ranges: tuple[tuple[float, float], ...]


def candidate_tracks(seed_vectors: np.ndarray, catalog: Catalog, *, pool: int) -> np.ndarray:
    """Track ids whose segments are nearest to any seed segment ``(n, d)``, best first."""
    k = max(HITS_MIN, 4 * pool)
    scores, keys = segment_index.search(catalog.segments, catalog.segment_codec,
                                        seed_vectors, k)
    valid = keys >= 0
    tracks, best = keys[valid] // segment_index.DENSE_STRIDE, scores[valid]
    order = np.lexsort((-best, tracks))  # by track, best score first
    tracks, best = tracks[order], best[order]
    first = np.r_[True, tracks[1:] != tracks[:-1]] if len(tracks) else np.zeros(0, bool)
    ranked = np.argsort(-best[first], kind="stable")
    return tracks[first][ranked][:pool]


def track_segments(store: Store, ids: list[int], *, fingerprint: str,
                   dim: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per track ``(starts, fused vectors)``: dense ones, else the stored few."""
    out = dense.load(store, ids, fingerprint=fingerprint, dim=dim)
    missing = [i for i in ids if i not in out]
    if missing:
        for tid, segs in store.segment_vectors(missing, columns=("fused",)).items():
            out[tid] = (segs["starts"], segs["fused"])
    return out


def place(seed_vectors: np.ndarray, seed_starts: np.ndarray, seed_seconds: float,
          starts: np.ndarray, vectors: np.ndarray, *, config: FeatureConfig) -> Placement:
    """Best (track segment, seed segment) pairs and the seed starts they imply."""
    sims = similarities(vectors, seed_vectors)  # (track segments, seed segments)
    seg, slack = config.segment.seconds, SLACK_HOPS * config.segment.hop_seconds
    order = np.argsort(-sims, axis=None, kind="stable")
    ranges: list[tuple[float, float]] = []
    first = None
    for flat in order:
        r, s = np.unravel_index(int(flat), sims.shape)
        covered = min(seg, max(seed_seconds - float(seed_starts[s]), 0.0))
        base = float(starts[r]) - float(seed_starts[s])
        lo, hi = base - slack, base + (seg - covered) + slack
        if first is None:
            first = (float(sims[r, s]), max(0.0, base + (seg - covered) / 2))
        if all(hi < a or lo > b for a, b in ranges):
            ranges.append((lo, hi))
        if len(ranges) == PLACES:
            break
    assert first is not None
    return Placement(score=first[0], offset=first[1], ranges=tuple(ranges))


def place_all(seed_vectors: np.ndarray, seed_starts: np.ndarray, seed_seconds: float,
              segments: dict[int, tuple[np.ndarray, np.ndarray]], ids: np.ndarray, *,
              config: FeatureConfig) -> list[Placement | None]:
    """:func:`place` for each of ``ids`` (None where a track has no segments)."""
    return [place(seed_vectors, seed_starts, seed_seconds, *segments[int(i)], config=config)
            if int(i) in segments else None for i in ids]


def refine_top(paths: list[str | os.PathLike[str]], durations: list[float],
               placed: list[Placement | None], frames: np.ndarray, *,
               config: FeatureConfig) -> list[Located | None]:
    """Frame-aligned places of an excerpt in the first :data:`REFINE_TOP` results.

    Each decodes about 30 s of a file: every result's best place; then, unless one
    reaches :data:`CERTAIN_CONFIDENCE`, every other place of the most confident result
    when it reaches :data:`SURE_CONFIDENCE` (a looping track holds the passage more than
    once; the true place aligns best), else of the first two; last, while none reaches
    :data:`LOW_CONFIDENCE`, the first two's whole length. The decodes of each of these
    rounds run in parallel.
    """
    n = min(REFINE_TOP, len(paths))
    best: list[Located | None] = [None] * n

    def attempt_all(tries: list[tuple[int, float, float]]) -> None:
        # decoding and the FFTs release the GIL: a round's decodes run side by side
        def one(t: tuple[int, float, float]) -> Located | None:
            return refine_offset(paths[t[0]], frames, config=config, lo=t[1], hi=t[2])

        workers = min(len(tries), os.cpu_count() or 1)
        if workers <= 1:
            found = [one(t) for t in tries]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                found = list(pool.map(one, tries))
        for (i, _, _), where in zip(tries, found, strict=True):
            current = best[i]
            if where is not None and (current is None or where.confidence > current.confidence):
                best[i] = where

    def confidence(i: int) -> float:
        found = best[i]
        return found.confidence if found is not None else 0.0

    ranges = [p.ranges if p is not None else () for p in placed[:n]]
    attempt_all([(i, lo, hi) for i in range(n) for lo, hi in ranges[i][:1]])
    leader = max(range(n), key=confidence, default=0)
    sure = n > 0 and confidence(leader) >= SURE_CONFIDENCE
    if n == 0 or confidence(leader) < CERTAIN_CONFIDENCE:
        attempt_all([(i, lo, hi) for i in ([leader] if sure else range(min(2, n)))
                     for lo, hi in ranges[i][1:]])
    if max(map(confidence, range(n)), default=1.0) < LOW_CONFIDENCE:
        attempt_all([(i, 0.0, durations[i]) for i in range(min(2, n))
                     if 0.0 < durations[i] <= WHOLE_TRACK_SECONDS])
    return best


def print_count(durations: Sequence[float]) -> int:
    """How many of the first results (their durations, in order) are aligned over their
    prints: :data:`PRINT_MIN` at least, up to :data:`PRINT_TOP` within
    :data:`PRINT_SECONDS` of audio."""
    within = int(np.searchsorted(np.cumsum(durations), PRINT_SECONDS, side="right"))
    return min(len(durations), max(PRINT_MIN, min(within, PRINT_TOP)))


def align_by_prints(store: Store, ids: list[int], frames: np.ndarray, *,
                    config: FeatureConfig) -> list[Located | None] | None:
    """Where the excerpt (alignment frames) lies in each track of ``ids``, found over
    their stored alignment prints; None unless each of the first :data:`PRINT_MIN` has a
    print made the way this configuration makes them (a later track without one: None
    in its place)."""
    rows = store.align_prints(ids)
    frame = print_frame_seconds(config)

    def usable(i: int) -> bool:
        return (i in rows and int(rows[i]["format"]) == PRINT_FORMAT
                and int(rows[i]["bands"]) == PRINT_BANDS
                and abs(float(rows[i]["frame"]) - frame) <= 1e-6)

    if not all(usable(i) for i in ids[:PRINT_MIN]):
        return None
    return [locate_in_print(frames, np.frombuffer(rows[i]["data"], np.uint8).reshape(
        PRINT_BANDS, int(rows[i]["n"])), config=config) if usable(i) else None for i in ids]
