"""Mixes: the library cut into groups of tracks that sound alike, each with a name.

Tracks are clustered by spherical k-means (FAISS) on their unit-norm vectors and
each is assigned to its nearest centre, so every track lands in exactly one mix.
A mix is named after the genre and/or artist most of its tracks share; failing
that, after its most central track.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import ParameterError
from engine.index import unit
from engine.records import TrackInfo

#: Tracks per mix when the count is not given.
DEFAULT_SIZE = 30
#: At most this many mixes when the count is not given.
MAX_DEFAULT_COUNT = 50
#: A tag value names a mix when more than this share of its tracks carry it.
NAME_SHARE = 0.5
KMEANS_ITERATIONS = 25


@dataclass(frozen=True)
class Mix:
    """One group of alike tracks.

    Attributes
    ----------
    index : position of the mix (0 = largest)
    name : what to call it
    track_ids : its tracks, most central first
    """

    index: int
    name: str
    track_ids: list[int]

    @property
    def central(self) -> int:
        """The track nearest to the mix's centre."""
        return self.track_ids[0]


def mix_count(n: int, *, count: int | None = None, size: int | None = None) -> int:
    """Mixes for ``n`` tracks: ``count``, else about ``n / size``, else a default."""
    if count is not None and size is not None:
        raise ParameterError("give the number of mixes or their size, not both")
    if count is not None:
        return int(count)
    if size is not None:
        if size < 1:
            raise ParameterError("a mix holds at least 1 track")
        return max(1, min(n, round(n / size)))
    return max(1, min(MAX_DEFAULT_COUNT, round(n / DEFAULT_SIZE)))


def cluster(vectors: np.ndarray, count: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means of unit-norm ``vectors`` ``(n, dim)``.

    Returns
    -------
    labels : np.ndarray [shape=(n,), dtype=int64], the cluster of each row
    similarity : np.ndarray [shape=(n,)], each row's similarity to its centre
    """
    import faiss

    n = len(vectors)
    if not 1 <= count <= n:
        raise ParameterError(f"the number of mixes must be between 1 and {n} (the tracks)")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if count == 1:
        centre = unit(x.mean(axis=0))
        return np.zeros(n, np.int64), x @ centre
    kmeans = faiss.Kmeans(x.shape[1], count, niter=KMEANS_ITERATIONS, seed=seed,
                          spherical=True, min_points_per_centroid=1, verbose=False)
    kmeans.train(x)
    index = faiss.IndexFlatIP(x.shape[1])
    centroids = kmeans.centroids
    assert centroids is not None  # set by train()
    index.add(centroids)
    sims, labels = index.search(x, 1)
    return labels[:, 0].astype(np.int64), sims[:, 0]


def group(ids: np.ndarray, labels: np.ndarray, similarity: np.ndarray) -> list[list[int]]:
    """Track ids per cluster, most central first; largest cluster first, empty ones dropped."""
    order = np.lexsort((-similarity, labels))
    groups: dict[int, list[int]] = {}
    for row in order:
        groups.setdefault(int(labels[row]), []).append(int(ids[row]))
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _shared(values: Sequence[str | None]) -> str | None:
    """The value more than :data:`NAME_SHARE` of ``values`` carry (case-insensitively)."""
    keyed = [(v.strip().casefold(), v.strip()) for v in values if v and v.strip()]
    if not keyed:
        return None
    key, count = Counter(k for k, _ in keyed).most_common(1)[0]
    if count <= NAME_SHARE * len(values):
        return None
    return next(v for k, v in keyed if k == key)


def _track_name(info: TrackInfo | None, track_id: int) -> str:
    if info is None:
        return f"track {track_id}"
    return info.display_name


def name_mix(track_ids: list[int], infos: dict[int, TrackInfo]) -> str:
    """A mix's name from its tracks' tags, else from its most central track."""
    tagged = [infos.get(t) for t in track_ids]
    genre = _shared([i.genre if i else None for i in tagged])
    artist = _shared([(i.artist or i.album_artist) if i else None for i in tagged])
    if genre or artist:
        return " · ".join(part for part in (genre, artist) if part)
    album = _shared([i.album if i else None for i in tagged])
    return album or f"Like {_track_name(infos.get(track_ids[0]), track_ids[0])}"


def make_mixes(ids: np.ndarray, vectors: np.ndarray, infos: dict[int, TrackInfo], *,
               count: int | None = None, size: int | None = None,
               seed: int = 0) -> list[Mix]:
    """Cluster tracks ``ids`` (rows of ``vectors``) into named mixes.

    ``count`` mixes, or mixes of about ``size`` tracks, or one per
    :data:`DEFAULT_SIZE` tracks (at most :data:`MAX_DEFAULT_COUNT`).

    A tag name shared by several mixes gets each one's central track added.
    """
    if not len(ids):
        return []
    labels, similarity = cluster(vectors, mix_count(len(ids), count=count, size=size),
                                 seed=seed)
    groups = group(np.asarray(ids, np.int64), labels, similarity)
    names = [name_mix(g, infos) for g in groups]
    seen = Counter(names)
    names = [f"{name} ({_track_name(infos.get(g[0]), g[0])})"
             if seen[name] > 1 and not name.startswith("Like ") else name
             for name, g in zip(names, groups, strict=True)]
    return [Mix(index=i, name=name, track_ids=g)
            for i, (name, g) in enumerate(zip(names, groups, strict=True))]
