"""More like these: several seeds, one combined ranking.

The seeds are merged into one track-level seed whose vectors (fused and per branch)
are the re-normalised means of theirs, so in each of them a track's similarity is its
mean similarity to the seeds times a constant: tracks close to all of them rank
first. The search itself is the ordinary one (PRF, MMR, weights, exclusions); the
seeds themselves are never results, and a result's seed offset counts along the
seeds' segments one after another. Versions are looked for by their harmonies
(:mod:`engine.versions`) for one seed only: several seeds have no one piece.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ParameterError
from engine.index import unit
from engine.search import SearchParams, SearchResult, Seed

if TYPE_CHECKING:
    from engine.library import Library


def _common(values: Sequence[str | None]) -> str | None:
    """The value every seed shares, else None."""
    return values[0] if values and all(v == values[0] for v in values) else None


def combine_seeds(seeds: Sequence[Seed]) -> Seed:
    """One track-level seed standing for all of ``seeds``."""
    if not seeds:
        raise ParameterError("give at least one seed")
    if len({s.fingerprint for s in seeds}) > 1:
        raise ParameterError("the seeds were analysed with different models")
    track = {}
    for column in seeds[0].track:
        mean = np.mean([np.asarray(s.track[column], np.float32).reshape(-1) for s in seeds],
                       axis=0)
        track[column] = unit(mean)
    segments = {c: np.concatenate([s.segments[c] for s in seeds]) for c in seeds[0].segments}
    one = seeds[0] if len(seeds) == 1 else None
    return Seed(segments=segments, starts=np.concatenate([s.starts for s in seeds]),
                fingerprint=seeds[0].fingerprint, excerpt=False,
                track_id=one.track_id if one is not None else None,
                duration=float(sum(s.duration for s in seeds)),
                album=_common([s.album for s in seeds]),
                artist=_common([s.artist for s in seeds]), track=track,
                version_print=one.version_print if one is not None else None)


def search_together(library: Library, seeds: Sequence[Seed],
                    params: SearchParams | None = None) -> list[SearchResult]:
    """One ranking of the library for all ``seeds`` together (seed tracks left out)."""
    params = params or SearchParams()
    own = {s.track_id for s in seeds if s.track_id is not None}
    wider = dataclasses.replace(params, k=params.k + len(own))
    results = library.search(combine_seeds(seeds), wider)
    return [r for r in results if r.track.id not in own][: params.k]
