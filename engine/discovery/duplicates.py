"""Files that hold the same recording: re-encodes, other bitrates, trims, fades, a track
inside a longer file. Nothing is deleted; each group names the copy best kept.

Candidates come cheaply from the track vectors: each track's nearest tracks (a copy
of a recording sounds like it as a whole), and, for long files (mixes, whole albums
in one file), the long file's dense segments nearest to each shorter track. Each
candidate pair is then checked on the dense segment vectors: the two files must
match segment after segment, at one shift, over a shared passage covering most of
the shorter file (:func:`shared_passage`). The model's segments cannot tell a copy
from a song with the same instruments, tempo and key but other notes, so a pair that
passes is finally compared sound for sound (:func:`same_audio`): a few seconds of
one file are slid over the other on fine spectra (a semitone apart is told apart) and
must match like two encodings of one signal do (the pairs are compared on a few
threads at once). Pairs that pass are joined into groups through one passage of each
file (:func:`_components`): a medley is a copy of each song in it, never a link
between them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import dense, excerpts
from engine.audio import load_audio
from engine.errors import Cancelled, ResonanceError, stopper
from engine.records import TrackInfo
from engine.rerank import similarities

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.config import FeatureConfig
    from engine.store import Store

#: Mean similarity of the two files' segments, in step over the shared passage, for
#: the pair to be compared sound for sound (measured: benchmarks/RESULTS.md; on the
#: development corpus copies score >= 0.983 and distinct recordings <= 0.98: 27 distinct
#: pairs reach the costly exact check, where 0.95 let 346 through).
MIN_SCORE = 0.97
#: A segment this similar to its counterpart is inside the shared passage (weaker ones
#: at its ends are fades or trimmed edges).
STRONG_SEGMENT = 0.95
#: Match of the aligned fine spectra of both files' probes (:func:`same_audio`) for
#: them to be copies (measured: benchmarks/RESULTS.md, duplicates).
MIN_CORRELATION = 0.9
#: Segment hops (plus a second) each probe is slid over the other file around where the
#: segments put it: the in-step segments of two files are off by up to half a hop, and
#: neighbouring diagonals score alike (their segments share most of their audio), so
#: the best one can be a hop further off (a song 30 s inside a longer file was placed 6 s
#: early by the segments of the trunk model).
SLACK_HOPS = 1.5
#: Seconds of each probe compared sound for sound, and probes per pair.
PROBE_SECONDS, PROBES = 6.0, 2
#: Track-vector similarity from which a pair is checked segment by segment.
CANDIDATE_MIN = 0.8
#: Nearest tracks checked for each track.
NEIGHBOURS = 8
#: Tracks whose nearest tracks are found in one product (a stop is honoured between).
NEIGHBOUR_BLOCK = 2048
#: The shared passage covers at least this share of the shorter file's segments.
MIN_SHARED = 0.6
#: Two matched spans of one file are the same passage when they overlap by this share
#: of the shorter one (matches chain through a file only along one passage).
SAME_PASSAGE = 0.5
#: Files at least this long (seconds) are searched for shorter tracks inside them.
LONG_SECONDS = 480.0
#: Threads comparing pairs sound for sound (:func:`same_audio`) at once.
CHECK_THREADS = min(4, os.cpu_count() or 1)
#: Lossless formats (by file extension): such a copy is kept before any lossy one.
LOSSLESS = frozenset({".flac", ".wav", ".aiff", ".aif", ".ape", ".wv", ".alac", ".mka"})


@dataclass(frozen=True)
class Copy:
    """One file of a duplicate group.

    Attributes
    ----------
    track : the file's track
    start, end : seconds of the file that hold the recording shared with the group's
        kept copy (for the kept copy: the span it shares with the others)
    score : mean segment similarity with the kept copy along the shared passage
        (1.0 for the kept copy itself)
    """

    track: TrackInfo
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Files holding the same recording; ``copies[0]`` is the one best kept."""

    copies: tuple[Copy, ...]

    @property
    def keep(self) -> Copy:
        """The copy to keep: lossless first, then the highest bitrate, then the longest."""
        return self.copies[0]

    @property
    def keep_reason(self) -> str:
        """Why :attr:`keep` comes first, against the runner-up: "lossless", "highest
        bitrate", "longest" (of the lossless copies, or at the same bitrate), or "" when
        they tie on all three."""
        if len(self.copies) < 2:
            return ""
        best = best_lossy_rate(c.track for c in self.copies)
        keep, runner_up = (keep_order(c.track, best) for c in self.copies[:2])
        if keep[0] != runner_up[0]:
            return "lossless"
        if keep[1] != runner_up[1]:
            return "highest bitrate"
        if keep[2] != runner_up[2]:
            return "longest lossless copy" if not keep[0] else "longest"
        return ""


@dataclass(frozen=True)
class _Match:
    score: float
    a_span: tuple[float, float]
    b_span: tuple[float, float]


def shared_passage(sims: np.ndarray, a_starts: np.ndarray, b_starts: np.ndarray, *,
                   segment_seconds: float, min_shared: float = MIN_SHARED
                   ) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Best in-step alignment of two tracks' segments, from their similarities
    ``sims`` ``(n_a, n_b)``.

    Every shift ``d`` (segment ``i`` of a against ``i + d`` of b) whose overlap covers
    at least ``min_shared`` of the shorter track is scored by the mean similarity
    along it; the best one's overlap, less weak segments at its ends (fades, trimmed
    edges), is the shared passage.

    Returns
    -------
    score, (start, end) seconds in a, (start, end) seconds in b; score is -1 when no
    shift overlaps enough
    """
    n_a, n_b = sims.shape
    need = max(1, int(np.ceil(min_shared * min(n_a, n_b))))
    shift = (np.arange(n_b)[None, :] - np.arange(n_a)[:, None]).ravel() + n_a - 1
    totals = np.bincount(shift, weights=sims.ravel(), minlength=n_a + n_b - 1)
    counts = np.bincount(shift, minlength=n_a + n_b - 1)
    means = np.where(counts >= need, totals / np.maximum(counts, 1), -np.inf)
    if not np.isfinite(means).any():
        return -1.0, (0.0, 0.0), (0.0, 0.0)
    best_d = int(np.argmax(means)) - (n_a - 1)
    diag = np.diagonal(sims, offset=best_d)
    strong = np.flatnonzero(diag >= min(STRONG_SEGMENT, float(diag.max())))
    lo, hi = int(strong[0]), int(strong[-1])
    a0 = max(0, -best_d)  # first a segment on the diagonal
    b0 = a0 + best_d
    a_span = (float(a_starts[a0 + lo]), float(a_starts[a0 + hi]) + segment_seconds)
    b_span = (float(b_starts[b0 + lo]), float(b_starts[b0 + hi]) + segment_seconds)
    return float(means[best_d + n_a - 1]), a_span, b_span


class SegmentTable:
    """The dense segments of some tracks, held as stored (int8 codes in a large library:
    about 130 bytes a segment); similarities of two coded tracks are computed in the
    coded space. ``stop`` is called between the stored batches (it may raise
    :class:`~engine.errors.Cancelled`)."""

    def __init__(self, store: Store, catalog: Catalog, track_ids: set[int], *,
                 stop: Callable[[], None] = lambda: None) -> None:
        dim = catalog.track_vectors["fused"].shape[1]
        self.codec = dense.codec_for(store, catalog.fingerprint)
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for rows in dense.iter_rows(store, fingerprint=catalog.fingerprint, dim=dim):
            stop()
            ends = np.cumsum(rows.counts)
            for tid, end, n in zip(rows.track_ids, ends, rows.counts, strict=True):
                if int(tid) in track_ids:
                    part = slice(int(end - n), int(end))
                    data = rows.data[part]
                    self._rows[int(tid)] = (rows.starts[part], data if rows.codec is not None
                                            else data.astype(np.float32))
        missing = [t for t in track_ids if t not in self._rows]  # old, sparse-only tracks
        self._rows.update(excerpts.track_segments(store, missing,
                                                  fingerprint=catalog.fingerprint, dim=dim))
        if self.codec is not None:  # decoded . decoded = m.m + u.z_a + u.z_b + z_a.z_b
            self._u = self.codec.components @ self.codec.mean
            self._mm = float(self.codec.mean @ self.codec.mean)

    def __contains__(self, track_id: int) -> bool:
        return track_id in self._rows

    def starts(self, track_id: int) -> np.ndarray:
        """Segment starts (seconds) of a track."""
        return self._rows[track_id][0]

    def similarities(self, a: int, b: int) -> np.ndarray:
        """Cosine similarities ``(n_a, n_b)`` of two tracks' segments."""
        da, db = self._rows[a][1], self._rows[b][1]
        if self.codec is None or da.dtype != np.int8 or db.dtype != np.int8:
            return similarities(self._vectors(da), self._vectors(db))
        za = da.astype(np.float32) * self.codec.scale
        zb = db.astype(np.float32) * self.codec.scale
        sims: np.ndarray = similarities(za, zb) + (za @ self._u)[:, None]
        sims += (zb @ self._u)[None, :] + self._mm
        return sims

    def _vectors(self, data: np.ndarray) -> np.ndarray:
        if data.dtype == np.int8 and self.codec is not None:
            return self.codec.decode(data)
        return data.astype(np.float32)


#: Spectra compared once aligned: fine enough to tell notes a semitone apart (5.4 Hz
#: bins). The probes are decoded at FINE_SR, twice the top of FINE_HZ and more: half the
#: samples and FFT size of the model's 22,050 Hz for the same bins and hop.
FINE_SR, FINE_FFT, FINE_HZ = 11025, 2048, (100.0, 4000.0)
#: Spectra are compared down to this many dB below each frame's peak.
#: Measured on the development corpus (benchmarks/RESULTS.md, duplicates): 30 dB let a
#: 48 kb/s AAC copy of a real recording fall to 0.88; 20 dB keeps every copy >= 0.93
#: while distinct recordings stay <= 0.84.
FLOOR_DB = 20.0


def _decode(path: Path, lo: float, seconds: float) -> np.ndarray | None:
    try:
        y = load_audio(path, sr=FINE_SR, offset=max(0.0, lo), duration=seconds)
    except ResonanceError:
        return None
    return y if y.size > FINE_FFT else None


def fine_spectra(y: np.ndarray, sr: int) -> np.ndarray:
    """Log power frames ``(bins, t)`` between :data:`FINE_HZ` (hop ``FINE_FFT / 8``),
    floored :data:`FLOOR_DB` below each frame's peak, centred across bins and of unit
    norm."""
    from scipy.signal import stft

    freqs, _, z = stft(y, fs=sr, nperseg=FINE_FFT, noverlap=FINE_FFT * 7 // 8, boundary=None)
    keep = (freqs >= FINE_HZ[0]) & (freqs <= FINE_HZ[1])
    db = 10.0 * np.log10(np.abs(z[keep]) ** 2 + 1e-12)
    db = np.maximum(db, db.max(axis=0, keepdims=True) - FLOOR_DB)  # what codecs drop
    db -= db.mean(axis=0, keepdims=True)
    frames: np.ndarray = db / np.maximum(np.linalg.norm(db, axis=0, keepdims=True), 1e-9)
    return frames


def spectral_curve(query: np.ndarray, track: np.ndarray) -> np.ndarray:
    """How well ``query`` ``(bins, m)`` fits ``track`` ``(bins, n)`` at each lag, n >= m
    (both :func:`fine_spectra`): the mean cosine of the aligned frames ``(n - m + 1,)``.
    Notes decide it, not only rhythm and timbre."""
    m, n = query.shape[1], track.shape[1]
    cos = query.T @ track  # (m, n)
    lag_of = (np.arange(n)[None, :] - np.arange(m)[:, None]).ravel()
    valid = (lag_of >= 0) & (lag_of <= n - m)
    totals = np.bincount(lag_of[valid], weights=cos.ravel()[valid], minlength=n - m + 1)
    curve: np.ndarray = totals / m
    return curve


def same_audio(a: TrackInfo, a_span: tuple[float, float], b: TrackInfo,
               b_span: tuple[float, float], *, slack: float, enough: float = 0.0,
               stop: Callable[[], None] = lambda: None) -> tuple[float, float]:
    """Compare the two files sound for sound inside their shared passage.

    :data:`PROBES` probes of :data:`PROBE_SECONDS` of ``a`` (spread over ``a_span``)
    are slid over ``b`` within ``slack`` seconds of where ``b_span`` puts them, on
    fine spectra (:func:`spectral_curve`). A probe matching less than ``enough`` ends
    the comparison (the pair fails whatever the other probes give). ``stop`` is called
    before each probe is decoded (it may raise :class:`~engine.errors.Cancelled`).

    Returns
    -------
    the lowest probe match in [0, 1] (0 when a probe cannot be decoded), and the
    offset (seconds, ``b``'s time minus ``a``'s) the probes agree on
    """
    frame_s = FINE_FFT // 8 / FINE_SR
    length = a_span[1] - a_span[0]
    worst, curves = 1.0, []
    for i in range(PROBES):
        at = a_span[0] + max(0.0, length - PROBE_SECONDS) * (i + 1) / (PROBES + 1)
        lo = max(0.0, at + (b_span[0] - a_span[0]) - slack)
        stop()
        ya = _decode(a.path, at, PROBE_SECONDS)
        yb = _decode(b.path, lo, PROBE_SECONDS + 2 * slack)
        if ya is None or yb is None or yb.size < ya.size:
            return 0.0, b_span[0] - a_span[0]
        curve = spectral_curve(fine_spectra(ya, FINE_SR), fine_spectra(yb, FINE_SR))
        worst = min(worst, float(curve.max()))
        curves.append((lo - at, curve))
        if worst < enough:
            break
    return max(0.0, worst), _agreed_shift(curves, frame_s)


def _agreed_shift(curves: list[tuple[float, np.ndarray]], frame_s: float) -> float:
    """The offset (seconds, ``b``'s time minus ``a``'s) that the probes' match ``curves``
    (each: the offset of its first value, its match per frame of ``frame_s`` seconds)
    support best together. In music that repeats itself a probe can fit a later repeat
    as well as its own place (a loop, a chorus); the offset all probes share is the
    copy's."""
    starts = [round(offset / frame_s) for offset, _ in curves]
    first = max(starts)
    last = min(start + curve.size for start, (_, curve) in zip(starts, curves, strict=True))
    if last <= first:  # windows that do not overlap (clipped at a file's start)
        offset, curve = max(curves, key=lambda c: float(c[1].max()))
        return offset + int(np.argmax(curve)) * frame_s
    total = sum(curve[first - start:last - start]
                for start, (_, curve) in zip(starts, curves, strict=True))
    offset, start = curves[0][0], starts[0]
    return offset + (first - start + int(np.argmax(total))) * frame_s


def _neighbour_pairs(ids: np.ndarray, vectors: np.ndarray, *, k: int, min_sim: float,
                     stop: Callable[[], None]) -> set[tuple[int, int]]:
    """Pairs of track ids among each track's ``k`` nearest with similarity >= min_sim
    (``stop`` is called between blocks of tracks)."""
    pairs: set[tuple[int, int]] = set()
    x = np.ascontiguousarray(vectors, np.float32)
    k = min(k, len(x) - 1)
    if k < 1:
        return pairs
    for lo in range(0, len(x), NEIGHBOUR_BLOCK):
        stop()
        sims = x[lo:lo + NEIGHBOUR_BLOCK] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + lo] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r, cols in enumerate(top):
            for c in cols[sims[r, cols] >= min_sim]:
                a, b = int(ids[lo + r]), int(ids[c])
                pairs.add((min(a, b), max(a, b)))
    return pairs


def _inside_long_pairs(ids: np.ndarray, vectors: np.ndarray, durations: Mapping[int, float],
                       segments: Mapping[int, tuple[np.ndarray, np.ndarray]], *,
                       min_sim: float, stop: Callable[[], None]) -> set[tuple[int, int]]:
    """(shorter, long file) pairs where a long file's segment is near the track's vector
    (``stop`` is called for each long file)."""
    pairs: set[tuple[int, int]] = set()
    x = np.ascontiguousarray(vectors, np.float32)
    for long_id, (_, seg_vectors) in segments.items():
        stop()
        near = (x @ seg_vectors.T.astype(np.float32)).max(axis=1) >= min_sim
        long_seconds = durations.get(long_id, 0.0)
        for t in ids[near]:
            t = int(t)
            if t != long_id and durations.get(t, 0.0) < long_seconds:
                pairs.add((min(t, long_id), max(t, long_id)))
    return pairs


def bitrate(track: TrackInfo) -> float:
    """Average bits per second of the file (0 when its size or duration is unknown)."""
    if not track.size or not track.duration:
        return 0.0
    return 8.0 * track.size / track.duration


#: Lossy copies whose average bitrates differ by less than this share are one bitrate: a
#: cover picture or a trim moves a 128 kbps file's average by a few kbps, not its quality.
SAME_BITRATE = 0.06


def keep_order(track: TrackInfo, best_lossy: float = 0.0) -> tuple[bool, float, float, str]:
    """Sort key putting the copy best kept first: lossless, else the highest bitrate
    (within :data:`SAME_BITRATE` of ``best_lossy``, the group's highest, counts as it);
    then the longest. (A lossless file's bitrate says how well it compressed, not its
    quality, so lossless copies go by length alone.)"""
    lossless = track.path.suffix.lower() in LOSSLESS
    rate = 0.0 if lossless else bitrate(track)
    if rate >= best_lossy * (1 - SAME_BITRATE):
        rate = max(rate, best_lossy)
    return (not lossless, -rate, -(track.duration or 0.0), str(track.path))


def best_lossy_rate(tracks: Iterable[TrackInfo]) -> float:
    """The highest average bitrate among the lossy ``tracks`` (0 without any)."""
    return max((bitrate(t) for t in tracks if t.path.suffix.lower() not in LOSSLESS),
               default=0.0)


def best_first(tracks: Sequence[TrackInfo]) -> list[TrackInfo]:
    """``tracks`` (copies of one recording) with the copy best kept first."""
    best = best_lossy_rate(tracks)
    return sorted(tracks, key=lambda t: keep_order(t, best))


def _components(pairs: Mapping[tuple[int, int], _Match]) -> list[list[int]]:
    """Groups of tracks holding one recording, from the matching pairs.

    Matches chain only through the same passage of a file: a medley or a long file
    matched by song X in its first minutes and by song Y in its last is a copy of
    both, but X and Y are not copies of each other. So each match joins a *passage*
    of each file (its matched spans, merged while they overlap by at least
    :data:`SAME_PASSAGE` of the shorter), and a file holding several recordings is in
    the group of each.
    """
    hulls: dict[int, list[tuple[float, float]]] = {}

    def passage(t: int, span: tuple[float, float]) -> tuple[int, int]:
        spans = hulls.setdefault(t, [])
        for i, (lo, hi) in enumerate(spans):
            overlap = min(hi, span[1]) - max(lo, span[0])
            if overlap >= SAME_PASSAGE * min(hi - lo, span[1] - span[0]):
                spans[i] = (min(lo, span[0]), max(hi, span[1]))
                return t, i
        spans.append(span)
        return t, len(spans) - 1

    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def root(node: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for (a, b), match in sorted(pairs.items()):
        parent[root(passage(a, match.a_span))] = root(passage(b, match.b_span))
    groups: dict[tuple[int, int], set[int]] = {}
    for node in parent:
        groups.setdefault(root(node), set()).add(node[0])
    return [sorted(g) for g in groups.values()]


def _group(members: list[int], matches: Mapping[tuple[int, int], _Match],
           infos: Mapping[int, TrackInfo]) -> DuplicateGroup:
    """The group's copies, the kept one first, each placed against the kept copy (or,
    when they were not compared directly, against the member it matched best)."""
    best = best_lossy_rate(infos[t] for t in members)
    ordered = sorted(members, key=lambda t: keep_order(infos[t], best))
    keep = ordered[0]

    def span(t: int, other: int) -> tuple[_Match, tuple[float, float]] | None:
        m = matches.get((min(t, other), max(t, other)))
        if m is None:
            return None
        return m, (m.a_span if t < other else m.b_span)

    copies = []
    spans_of_keep = []
    for t in ordered[1:]:
        found = span(t, keep)
        if found is None:
            found = max((s for o in members if o != t and (s := span(t, o)) is not None),
                        key=lambda s: s[0].score)
        else:
            spans_of_keep.append(found[0].a_span if keep < t else found[0].b_span)
        m, (start, end) = found
        copies.append(Copy(infos[t], start, min(end, infos[t].duration or end), m.score))
    duration = infos[keep].duration or 0.0
    lo = min((s for s, _ in spans_of_keep), default=0.0)
    hi = max((e for _, e in spans_of_keep), default=duration)
    first = Copy(infos[keep], lo, min(hi, duration or hi), 1.0)
    return DuplicateGroup((first, *copies))


def _checked(a: TrackInfo, b: TrackInfo, a_span: tuple[float, float],
             b_span: tuple[float, float], score: float, *, config: FeatureConfig,
             min_correlation: float, stop: Callable[[], None]) -> _Match | None:
    """The pair's match when it holds up sound for sound, its passage placed exactly."""
    correlation, shift = same_audio(a, a_span, b, b_span, enough=min_correlation,
                                    slack=SLACK_HOPS * config.segment.hop_seconds + 1.0,
                                    stop=stop)
    if correlation < min_correlation:
        return None
    b_end = b.duration or b_span[1]
    start = max(a_span[0], -shift)
    end = min(a_span[1], b_end - shift, a.duration or a_span[1])
    return _Match(score, (start, end), (start + shift, end + shift))


def find_duplicates(store: Store, catalog: Catalog, infos: Mapping[int, TrackInfo], *,
                    config: FeatureConfig, min_score: float = MIN_SCORE,
                    min_correlation: float = MIN_CORRELATION,
                    progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> list[DuplicateGroup]:
    """Groups of searchable tracks holding the same recording, largest first.

    Parameters
    ----------
    infos : the library's tracks by id (tags, paths, sizes and durations)
    config : the model's feature configuration (segment length, alignment frames)
    min_score : mean in-step segment similarity for a pair to be compared sound for sound
    min_correlation : spectral match of the aligned probes for the pair to be copies
    progress : called with (pairs compared sound for sound, pairs to compare) before the
        first comparison and after each one
    should_stop : polled inside every loop over tracks, pairs and probes (a few
        milliseconds of work apart, a probe's decoding at most); True ends the search
        early, returning the groups of the pairs compared so far
    """
    stop = stopper(should_stop, "the duplicate search was stopped")
    matches: dict[tuple[int, int], _Match] = {}
    try:
        gated = _candidates(store, catalog, infos, segment_seconds=config.segment.seconds,
                            min_score=min_score, stop=stop)

        def check(pair: _Gated) -> _Match | None:
            a, b, a_span, b_span, score = pair
            stop()
            return _checked(infos[a], infos[b], a_span, b_span, score, config=config,
                            min_correlation=min_correlation, stop=stop)

        if progress is not None:
            progress(0, len(gated))
        # decoding, FFTs and products release the GIL: threads check a batch of pairs
        # side by side; each stops before its next probe once asked to
        with ThreadPoolExecutor(max_workers=max(1, min(len(gated), CHECK_THREADS))) as pool:
            for start in range(0, len(gated), CHECK_THREADS):
                stop()
                batch = gated[start:start + CHECK_THREADS]
                for done, ((a, b, *_), match) in enumerate(
                        zip(batch, pool.map(check, batch), strict=True), start + 1):
                    if match is not None:
                        matches[(a, b)] = match
                    if progress is not None:
                        progress(done, len(gated))
    except Cancelled:
        pass  # stopped: the groups of the pairs compared so far
    groups = [_group(members, matches, infos) for members in _components(matches)]
    groups.sort(key=lambda g: (-len(g.copies), str(g.keep.track.path)))
    return groups


#: A candidate pair that passed the segment check: track ids, their shared passages'
#: spans (seconds) and the mean segment similarity along them.
_Gated = tuple[int, int, tuple[float, float], tuple[float, float], float]


def _candidates(store: Store, catalog: Catalog, infos: Mapping[int, TrackInfo], *,
                segment_seconds: float, min_score: float,
                stop: Callable[[], None]) -> list[_Gated]:
    """The pairs to compare sound for sound: near on the track vectors (or a track near
    a long file's segment), then matching segment after segment (:func:`shared_passage`
    scores at least ``min_score``). ``stop`` is called in each loop."""
    ids = np.asarray(catalog.track_ids, np.int64)
    known = np.array([int(t) in infos for t in ids], bool)
    ids, vectors = ids[known], catalog.track_vectors["fused"][known]
    if len(ids) < 2:
        return []
    dim = vectors.shape[1]
    durations = {int(t): float(infos[int(t)].duration or 0.0) for t in ids}
    pairs = _neighbour_pairs(ids, vectors, k=NEIGHBOURS, min_sim=CANDIDATE_MIN, stop=stop)
    long_ids = [t for t, d in durations.items() if d >= LONG_SECONDS]
    if long_ids:
        long_segments = excerpts.track_segments(store, long_ids, fingerprint=catalog.fingerprint,
                                                dim=dim)
        pairs |= _inside_long_pairs(ids, vectors, durations, long_segments,
                                    min_sim=CANDIDATE_MIN, stop=stop)
    table = SegmentTable(store, catalog, {t for p in pairs for t in p}, stop=stop)
    gated = []
    for a, b in sorted(pairs):
        stop()
        if a not in table or b not in table:
            continue
        score, a_span, b_span = shared_passage(table.similarities(a, b), table.starts(a),
                                               table.starts(b), segment_seconds=segment_seconds)
        if score >= min_score:
            gated.append((a, b, a_span, b_span, score))
    return gated
