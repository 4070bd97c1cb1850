"""Similarity search: Retriever -> PRF -> MMR, over a loaded :class:`~engine.catalog.Catalog`.

Similarity lives in a *weighted space*: a vector's fused embedding concatenated with
its branch embeddings scaled by ``sqrt(w)`` (timbre, harmony, rhythm), re-normalised,
so the inner product of two such vectors is
``(fused_sim + sum_m w_m sim_m) / (1 + sum_m w_m)``. With all weights 0 it is the
plain fused cosine; raising a weight favours that modality. PRF and MMR work in the
same space.

A *track* seed (a library track or a whole file) is matched track-to-track: every
library track is scored in the weighted space, plus a *version bonus*
(:func:`track_scores`): a track whose content similarity to the seed (fused and
harmony) stands out from the seed's neighbourhood by more than :data:`VERSION_Z`
standard deviations is another version of the seed (the same piece played otherwise)
and is ranked before the tracks that only sound alike; so is a track among the nearest
by content whose version print plays the seed's harmonies in order
(:func:`engine.versions.cover_bonus`). A model whose timbre column mixes two graphs'
(:class:`engine.timbre.TimbreMix`) is listened to otherwise for a seed that has no such
likely version in the library: by the share of its main timbre branch that the card gives
for it (the branch that hears a piece played otherwise as the same music).

An *excerpt* seed (a short file or a recording) is matched segment-to-segment against
every segment of every track (:mod:`engine.excerpts`) and scored per track by its best
segment pair; its results report where in the track the excerpt starts
(``match_offset``), refined by frame alignment for the best ones, with a confidence.
Either way each result reports per-modality similarity.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine import excerpts, versions
from engine.catalog import Catalog
from engine.config import FeatureConfig
from engine.errors import ParameterError
from engine.locate import Located
from engine.model import BRANCH_NAMES
from engine.records import TrackInfo, tracks_by_id
from engine.rerank import MMR, PRF, similarities
from engine.store import Store
from engine.timbre import TimbreMix

POOL_MIN = 200
#: Version bonus (:func:`version_bonus`): per standard deviation of content similarity
#: above VERSION_Z (measured on the development benchmark: benchmarks/RESULTS.md, "Sounds
#: alike: the timbre graph").
VERSION_Z = 1.5
VERSION_GAIN = 1.0
#: Tracks nearest the seed by sound, and by content, whose statistics the bonus uses.
VERSION_POOL = 200
#: A seed whose largest version bonus is above this has a likely version of itself in the
#: library (:func:`track_scores`; chosen on the development benchmark's training part:
#: benchmarks/RESULTS.md, "Listening for versions only where there are some").
LIKELY_VERSION = 0.05
#: Largest modality weight (weights are relative; larger ones only overflow).
MAX_WEIGHT = 1000.0


@dataclass(frozen=True)
class SearchParams:
    """What the user asks for (all re-ranking happens without re-decoding the seed)."""

    k: int = 20
    prf: int = 0
    diversity: float = 0.0
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exclude_same_album: bool = False
    exclude_same_artist: bool = False
    #: the share of a mixed timbre column's main branch to listen to (None: as stored,
    #: or the card's share for a track seed without likely versions, :func:`track_scores`;
    #: :meth:`Retriever.rank_library` returns the share it listened to)
    timbre_share: float | None = None

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ParameterError("k must be at least 1")
        if len(self.weights) != 3 or not all(
                math.isfinite(w) and 0 <= w <= MAX_WEIGHT for w in self.weights):
            raise ParameterError(f"weights are three numbers from 0 to {MAX_WEIGHT:g} "
                                 "(timbre, harmony, rhythm)")
        if self.timbre_share is not None and not 0.0 <= self.timbre_share <= 1.0:
            raise ParameterError("the timbre share is from 0 to 1")
        PRF(self.prf)
        MMR(self.diversity)

    def scaled(self, gains: tuple[float, float, float]) -> SearchParams:
        """These parameters with the weights multiplied by a model's ``gains``
        (:attr:`engine.model.ModelCard.weight_gains`)."""
        if all(g == 1.0 for g in gains):
            return self
        (t, h, r), (gt, gh, gr) = self.weights, gains
        return dataclasses.replace(self, weights=(min(t * gt, MAX_WEIGHT),
                                                  min(h * gh, MAX_WEIGHT),
                                                  min(r * gr, MAX_WEIGHT)))


@dataclass(frozen=True)
class Seed:
    """An analysed query: its segment embeddings, ready for any number of searches.

    Attributes
    ----------
    segments : dict of np.ndarray [shape=(n, dim)], ``fused`` and one per branch
    starts : np.ndarray [shape=(n,)], segment starts in seconds
    excerpt : match segment-to-segment (short files, recordings)
    track_id : the library track this seed is (never returned as a result)
    """

    segments: dict[str, np.ndarray]
    starts: np.ndarray
    fingerprint: str
    excerpt: bool = False
    track_id: int | None = None
    path: Path | None = None
    duration: float = 0.0
    album: str | None = None
    artist: str | None = None
    track: dict[str, np.ndarray] = field(default_factory=dict)
    #: excerpts: alignment frames (:func:`engine.locate.align_frames`) and the model's
    #: feature configuration, to refine where each result matches
    frames: np.ndarray | None = None
    config: FeatureConfig | None = None
    #: whole tracks: the version print (:mod:`engine.versions`), when there is one, and
    #: the version scores of library tracks against it found so far (by track id)
    version_print: np.ndarray | None = None
    version_matches: dict[int, float] = field(default_factory=dict, compare=False,
                                              repr=False)


@dataclass(frozen=True)
class SearchResult:
    """One ranked track.

    ``match_offset`` is where the best-matching part of the track starts, in seconds
    (for an excerpt seed: where the excerpt starts in the track, ``seed_offset`` 0);
    ``match_confidence`` in [0, 1] is the frame-alignment score when the offset was
    refined (the best excerpt results, :func:`locate_excerpt`), else 0.
    ``version_bonus`` is the part of ``score`` that the track's music standing out as
    the seed's adds (:func:`version_bonus`; 0 for most tracks).
    """

    track: TrackInfo
    score: float
    modalities: dict[str, float]
    seed_offset: float
    match_offset: float
    match_confidence: float = 0.0
    version_bonus: float = 0.0

    @property
    def likely_version(self) -> bool:
        """Whether the bonus says the track is likely another version of the seed (above
        :data:`LIKELY_VERSION`, the bar that decides how a seed is listened to)."""
        return self.version_bonus > LIKELY_VERSION


def weighted(vectors: dict[str, np.ndarray], weights: tuple[float, float, float]) -> np.ndarray:
    """Rows in the weighted space ``(n, dim + sum branch dims)``, unit norm, float32,
    written into one array (a whole library's rows make no float64 or per-column copy)."""
    columns = [np.atleast_2d(vectors[name]) for name in ("fused", *BRANCH_NAMES)]
    total = 1.0 + sum(weights)
    rows = np.empty((columns[0].shape[0], sum(c.shape[1] for c in columns)), np.float32)
    at = 0
    for column, weight in zip(columns, (1.0, *weights), strict=True):
        np.multiply(column, np.float32(np.sqrt(weight / total)),
                    out=rows[:, at: at + column.shape[1]])
        at += column.shape[1]
    return rows


@dataclass
class Candidates:
    """Tracks under consideration, with their scores and weighted vectors."""

    ids: np.ndarray
    scores: np.ndarray
    vectors: np.ndarray


def version_bonus(content: np.ndarray, sound: np.ndarray, *,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """Per library track ``(n,)``: ``VERSION_GAIN`` per standard deviation by which its
    content similarity to the seed stands out beyond ``VERSION_Z``.

    The statistics are those of the seed's neighbourhood, the :data:`VERSION_POOL` tracks
    nearest by ``sound`` and the as many nearest by ``content`` (all of a smaller
    library), so that the share of tracks that stand out does not grow with the library;
    tracks outside it get none. ``exclude`` masks rows left out (the seed's own)."""
    n = content.shape[0]
    keep = np.ones(n, bool) if exclude is None else ~np.asarray(exclude, bool)
    candidates = np.flatnonzero(keep)
    if candidates.size > 2 * VERSION_POOL:
        near = [candidates[_top(v[candidates], VERSION_POOL)] for v in (sound, content)]
        candidates = np.union1d(*near)
    bonus = np.zeros(n, np.float32)
    if candidates.size < 2:
        return bonus
    pool = content[candidates]
    z = (pool - float(pool.mean())) / max(float(pool.std()), 1e-6)
    bonus[candidates] = VERSION_GAIN * np.maximum(z - VERSION_Z, 0.0)
    return bonus


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``values``, largest first (ties: lower index first)."""
    if k >= values.size:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    order: np.ndarray = part[np.lexsort((part, -values[part]))]
    return order


class TrackScores(NamedTuple):
    """A track seed's scores for every library track (:func:`track_scores`)."""

    sound: np.ndarray
    bonus: np.ndarray
    #: the timbre share listened to, when not the stored one (:class:`TimbreMix`)
    timbre_share: float | None = None


def track_scores(seed: dict[str, np.ndarray], library: dict[str, np.ndarray],
                 weights: tuple[float, float, float], *,
                 exclude: np.ndarray | None = None,
                 version_scores: Callable[[np.ndarray], np.ndarray] | None = None,
                 timbre: TimbreMix | None = None,
                 timbre_norms: np.ndarray | None = None,
                 share: float | None = None) -> TrackScores:
    """Library tracks (unit rows ``(n, d)`` per column) against a seed's track vectors
    (``(d,)`` per column): their weighted-space similarity ``(n,)`` and their version
    bonus ``(n,)``: the :func:`version_bonus` of their content similarity (mean of fused
    and harmony), plus, given ``version_scores(rows)`` (library rows' version scores
    against the seed's print), :func:`engine.versions.cover_bonus`. A track's score is
    the sum. With a ``timbre`` mix, a seed whose bonus gives no track more than
    :data:`LIKELY_VERSION` is scored again at the mix's share for seeds without versions
    (the returned ``timbre_share``; ``timbre_norms``: the library's
    :meth:`TimbreMix.part_norms`, when known); a ``share`` asked for is listened to for
    every seed instead."""
    sims = {c: np.asarray(library[c] @ np.asarray(seed[c], np.float32), np.float32)
            for c in ("fused", *BRANCH_NAMES)}
    content = (sims["fused"] + sims["harmony"]) / 2
    covers = (np.zeros_like(content) if version_scores is None
              else versions.cover_bonus(content, version_scores, exclude=exclude))

    def scored(timbre_sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        branch = {**sims, "timbre": timbre_sims}
        sound = branch["fused"] + sum(w * branch[b] for b, w in zip(BRANCH_NAMES, weights,
                                                                    strict=True))
        sound /= 1.0 + sum(weights)
        return sound, version_bonus(content, sound, exclude=exclude) + covers

    if timbre is None:
        return TrackScores(*scored(sims["timbre"]))
    if share is None:
        sound, bonus = scored(sims["timbre"])
        if float(np.max(bonus, initial=0.0)) > LIKELY_VERSION:
            return TrackScores(sound, bonus)
        share = timbre.without_versions
    sound, bonus = scored(timbre.similarities(library["timbre"], seed["timbre"], share,
                                              norms=timbre_norms))
    return TrackScores(sound, bonus, share)


class Retriever:
    """Finds candidate tracks for a seed and scores them in the weighted space."""

    def __init__(self, catalog: Catalog, store: Store, timbre: TimbreMix | None = None
                 ) -> None:
        self.catalog = catalog
        self.store = store
        self.timbre = timbre

    def pool_size(self, params: SearchParams) -> int:
        """How many tracks to consider before re-ranking."""
        return max(POOL_MIN, 3 * (params.k + params.prf))

    def by_track(self, query: np.ndarray, params: SearchParams) -> np.ndarray:
        """Candidate ids nearest to a fused ``query`` ``(dim,)`` in the track index."""
        _, ids = self.catalog.tracks.search(query[None, :], self.pool_size(params))
        found: np.ndarray = ids[0][ids[0] >= 0]
        return found

    def rank_library(self, seed: Seed, params: SearchParams
                     ) -> tuple[Candidates, np.ndarray, SearchParams]:
        """Every library track scored for a track seed (:func:`track_scores`): the best
        :meth:`pool_size` candidates, every track's version bonus (rows as the catalog's)
        for scoring more of them later, and ``params`` with the timbre share the seed is
        listened to at."""
        cat = self.catalog
        own = cat.track_ids == (seed.track_id if seed.track_id is not None else -1)
        scores = (None if seed.version_print is None
                  else lambda rows: self.version_scores(seed, cat.track_ids[rows]))
        mix = self.timbre
        norms = None if mix is None else cat.derived(
            ("timbre part norms", mix.main_dim),
            lambda: mix.part_norms(cat.track_vectors["timbre"]))
        found = track_scores(seed.track, cat.track_vectors, params.weights, exclude=own,
                             version_scores=scores, timbre=mix, timbre_norms=norms,
                             share=params.timbre_share)
        params = dataclasses.replace(params, timbre_share=found.timbre_share)
        total = found.sound + found.bonus
        top = _top(total, self.pool_size(params))
        ids = cat.track_ids[top]
        return Candidates(ids=ids, scores=total[top],
                          vectors=self.track_space(ids, params)), found.bonus, params

    def version_scores(self, seed: Seed, track_ids: np.ndarray) -> np.ndarray:
        """Version scores ``(n,)`` of library tracks against a seed with a version print,
        kept in the seed: a search after a change of weights, PRF or diversity reuses
        them."""
        known = seed.version_matches
        missing = [int(t) for t in track_ids if int(t) not in known]
        if missing and seed.version_print is not None:
            found = versions.version_scores(seed.version_print,
                                            self.store.version_prints(missing))
            known.update(zip(missing, found.tolist(), strict=True))
        return np.array([known.get(int(t), 0.0) for t in track_ids], np.float32)

    def by_segments(self, seed: Seed, params: SearchParams) -> np.ndarray:
        """Candidate ids whose segments are nearest to any seed segment, best first
        (the best ``max(3 k, 50)`` tracks, for exact scoring)."""
        return excerpts.candidate_tracks(seed.segments["fused"], self.catalog,
                                         pool=max(3 * params.k, 50))

    def score(self, query: np.ndarray, ids: np.ndarray, params: SearchParams,
              bonus: np.ndarray | None = None) -> Candidates:
        """Exact weighted scores of ``ids`` against a weighted ``query`` (plus their
        version ``bonus``, rows as the catalog's, when given)."""
        vectors = self.track_space(ids, params)
        scores = similarities(vectors, query)
        if bonus is not None:
            scores = scores + bonus[self.catalog.rows(ids)]
        return Candidates(ids=ids, scores=scores, vectors=vectors)

    def score_segments(self, seed: Seed, ids: np.ndarray, params: SearchParams) -> Candidates:
        """Per track, the best fused similarity over (seed segment, track segment), every
        segment of the track compared."""
        segs = self._segments(seed, ids)
        scores = np.array([float(similarities(segs[int(i)][1], seed.segments["fused"]).max())
                           if int(i) in segs else -1.0 for i in ids], np.float32)
        return Candidates(ids=ids, scores=scores, vectors=self.track_space(ids, params))

    def placements(self, seed: Seed, ids: np.ndarray) -> list[excerpts.Placement | None]:
        """Where an excerpt seed lies in each of ``ids`` (see :func:`excerpts.place`)."""
        if seed.config is None:
            raise ParameterError("placing an excerpt needs its feature configuration")
        return excerpts.place_all(seed.segments["fused"], seed.starts, seed.duration,
                                  self._segments(seed, ids), ids, config=seed.config)

    def _segments(self, seed: Seed, ids: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return excerpts.track_segments(self.store, [int(i) for i in ids],
                                       fingerprint=seed.fingerprint,
                                       dim=int(seed.segments["fused"].shape[1]))

    def track_space(self, ids: np.ndarray, params: SearchParams) -> np.ndarray:
        """Weighted track-level vectors of ``ids`` ``(m, D)``."""
        rows = self.catalog.rows(ids)
        return self.weighted({k: v[rows] for k, v in self.catalog.track_vectors.items()},
                             params)

    def weighted(self, vectors: dict[str, np.ndarray], params: SearchParams) -> np.ndarray:
        """:func:`weighted` rows, the timbre column at ``params``' timbre share."""
        vectors = {k: np.asarray(v, np.float32) for k, v in vectors.items()}
        if self.timbre is not None and params.timbre_share is not None:
            vectors["timbre"] = self.timbre.remix(vectors["timbre"], params.timbre_share)
        return weighted(vectors, params.weights)


def _allowed(ids: np.ndarray, seed: Seed, params: SearchParams, store: Store,
             catalog: Catalog) -> np.ndarray:
    """``ids`` without the seed itself and, if asked, without its album or artist."""
    ids = ids[(ids != (seed.track_id if seed.track_id is not None else -1))
              & np.isin(ids, catalog.track_ids)]
    album = _norm(seed.album) if params.exclude_same_album else None
    artist = _norm(seed.artist) if params.exclude_same_artist else None
    if not (album or artist) or not len(ids):
        return ids
    infos = tracks_by_id(store, [int(i) for i in ids])
    dropped = {tid for tid, t in infos.items()
               if (album and _norm(t.album) == album) or (artist and _norm(t.artist) == artist)}
    return np.asarray([i for i in ids if int(i) not in dropped], dtype=np.int64)


def _norm(text: str | None) -> str | None:
    return text.casefold().strip() if text else None


def _subset(c: Candidates, mask: np.ndarray) -> Candidates:
    return Candidates(ids=c.ids[mask], scores=c.scores[mask], vectors=c.vectors[mask])


def search(seed: Seed, params: SearchParams, *, catalog: Catalog, store: Store,
           retriever: Retriever | None = None) -> list[SearchResult]:
    """Rank the library for ``seed``: retrieve, PRF, MMR, then describe each result.

    With PRF on, the expanded query is a track-level vector, so an excerpt seed's
    candidates are then re-scored track-to-track (offsets still come from segments).
    """
    if seed.fingerprint != catalog.fingerprint:
        raise ParameterError("the seed was analysed with another model; analyse it again")
    if len(catalog.track_ids) == 0:
        return []
    if not seed.excerpt:
        return _search(seed, params, catalog=catalog, store=store, retriever=retriever)
    from threadpoolctl import threadpool_limits

    # an excerpt's many small products (decoding coded segments, scoring and placing
    # every candidate): BLAS threads only wait for each other, badly on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        return _search(seed, params, catalog=catalog, store=store, retriever=retriever)


def _search(seed: Seed, params: SearchParams, *, catalog: Catalog, store: Store,
            retriever: Retriever | None) -> list[SearchResult]:
    retriever = retriever or Retriever(catalog, store)
    bonus = None
    if seed.excerpt:
        ids = _allowed(retriever.by_segments(seed, params), seed, params, store, catalog)
        cands = retriever.score_segments(seed, ids, params)
    else:
        cands, bonus, params = retriever.rank_library(seed, params)
        cands = _subset(cands, np.isin(cands.ids, _allowed(cands.ids, seed, params, store,
                                                            catalog)))
    query = retriever.weighted(seed.track, params)[0]
    if params.prf > 0 and len(cands.ids):
        order = np.argsort(-cands.scores, kind="stable")
        query = PRF(params.prf).refine(query, cands.vectors[order])
        fused = query[: seed.track["fused"].shape[0]]
        more = np.setdiff1d(retriever.by_track(fused, params), cands.ids)
        ids = np.concatenate([cands.ids, _allowed(more, seed, params, store, catalog)])
        cands = retriever.score(query, ids, params, bonus)
    keep = np.argsort(-cands.scores, kind="stable")[: max(3 * params.k, 50)]
    cands = _subset(cands, keep)
    # an excerpt's true track may rank below k by embedding: align more, then cut
    k = max(params.k, excerpts.PRINT_TOP) if seed.excerpt else params.k
    picks = MMR(params.diversity).rerank(cands.scores, cands.vectors, k)
    listened = (None if retriever.timbre is None or params.timbre_share is None
                else (retriever.timbre, params.timbre_share))
    results = describe(seed, _subset(cands, picks), catalog=catalog, store=store, bonus=bonus,
                       timbre=listened)
    return locate_excerpt(seed, results, retriever)[: params.k] if seed.excerpt else results


def locate_excerpt(seed: Seed, results: list[SearchResult],
                   retriever: Retriever) -> list[SearchResult]:
    """Excerpt results with where the excerpt starts in each track.

    The best ones are placed by frame alignment (over their stored alignment prints,
    :func:`excerpts.align_by_prints`, else by decoding, :func:`excerpts.refine_top`);
    those that align at :data:`excerpts.MATCH_CONFIDENCE` or more come first, in order
    of confidence (the excerpt's frames matching a track's frames is stronger evidence
    than similar embeddings), the others keep their order.
    """
    if not results or seed.config is None:
        return results
    ids = [r.track.id for r in results]
    placed = retriever.placements(seed, np.array(ids, np.int64))
    refined: list[Located | None] = []
    if seed.frames is not None:
        n = excerpts.print_count([float(r.track.duration or 0.0) for r in results])
        by_print = excerpts.align_by_prints(retriever.store, ids[:n], seed.frames,
                                            config=seed.config)
        refined = by_print if by_print is not None else excerpts.refine_top(
            [r.track.path for r in results], [float(r.track.duration or 0.0) for r in results],
            placed, seed.frames, config=seed.config)
    out = []
    for rank, (result, where) in enumerate(zip(results, placed, strict=True)):
        if where is None:
            out.append(result)
            continue
        found = refined[rank] if rank < len(refined) else None
        offset, confidence = ((found.offset, found.confidence) if found is not None
                              else (where.offset, 0.0))
        out.append(dataclasses.replace(result, seed_offset=0.0, match_offset=offset,
                                       match_confidence=confidence))
    leads = [i for i in range(min(len(refined), len(out)))
             if out[i].match_confidence >= excerpts.MATCH_CONFIDENCE]
    leads.sort(key=lambda i: -out[i].match_confidence)
    led = set(leads)
    return [out[i] for i in leads] + [r for i, r in enumerate(out) if i not in led]


def describe(seed: Seed, cands: Candidates, *, catalog: Catalog, store: Store,
             bonus: np.ndarray | None = None,
             timbre: tuple[TimbreMix, float] | None = None) -> list[SearchResult]:
    """Results with per-modality similarity and best-matching offsets (and their version
    ``bonus``, rows as the catalog's; a track seed's timbre similarity at the share it was
    listened to, given ``timbre`` as (mix, share))."""
    wanted = [int(i) for i in cands.ids]
    infos = tracks_by_id(store, wanted)
    columns = ("fused", *BRANCH_NAMES) if seed.excerpt else ("fused",)
    stored = store.segment_vectors(wanted, columns=columns)
    rows = catalog.rows(cands.ids)
    results = []
    for row, tid, score in zip(rows, cands.ids, cands.scores, strict=True):
        segs = stored.get(int(tid))
        if segs is None or int(tid) not in infos:
            continue  # removed since the catalog was loaded
        pair = similarities(segs["fused"], seed.segments["fused"])  # (result, seed) segs
        r, s = np.unravel_index(int(np.argmax(pair)), pair.shape)
        if seed.excerpt:
            modal = {b: float(segs[b][r] @ seed.segments[b][s]) for b in BRANCH_NAMES}
        else:
            modal = {b: float(catalog.track_vectors[b][row] @ seed.track[b])
                     for b in BRANCH_NAMES}
            if timbre is not None:
                mix, share = timbre
                modal["timbre"] = float(mix.remix(catalog.track_vectors["timbre"][row], share)
                                        @ mix.remix(seed.track["timbre"], share))
        results.append(SearchResult(track=infos[int(tid)], score=float(score), modalities=modal,
                                    seed_offset=float(seed.starts[s]),
                                    match_offset=float(segs["starts"][r]),
                                    version_bonus=float(bonus[row]) if bonus is not None
                                    else 0.0))
    return results
