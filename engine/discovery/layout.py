"""A 2-D layout of track vectors where neighbours sound alike, extendable in place.

A full build projects the vectors onto their first :data:`PCA_DIMS` principal
components, runs t-SNE (openTSNE, FFT-accelerated, no JIT) on at most
:data:`MAX_ANCHORS` of them (the *anchors*), and places every other track at the
distance-weighted mean of its :data:`PLACE_NEIGHBOURS` nearest anchors in PCA space.
Tracks added later are placed the same way, so an update costs a nearest-neighbour
search, never a new t-SNE. t-SNE of every track keeps far more of a track's
same-artist neighbours than t-SNE of 5,000 anchors, for about the same CPU once tuned
(benchmarks/RESULTS.md, "Discovery: map, song path, mixes"); hence anchors only above
20,000 tracks.

Coordinates are scaled into ``[-1, 1]``; a placed track, a convex mix of anchors,
stays inside too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.errors import stopper

StopCheck = Callable[[], bool]

#: Principal components kept before t-SNE and for placing tracks.
PCA_DIMS = 50
#: Rows whose scatter is summed at once when fitting the PCA.
PCA_BLOCK = 2048
#: Tracks laid out by t-SNE; the others are placed among them.
MAX_ANCHORS = 20_000
#: Nearest anchors whose positions place a track.
PLACE_NEIGHBOURS = 10
#: Fewer tracks than this are laid out by PCA alone (t-SNE needs a neighbourhood).
MIN_TSNE = 8
PERPLEXITY = 30.0
#: From this many anchors their t-SNE neighbours come from an inverted-file index
#: (FAISS IVF, ``sqrt(m)`` lists, :data:`IVF_PROBES` searched) instead of an exact search.
APPROXIMATE_FROM = 5000
IVF_PROBES = 10
#: Rows searched for their neighbours between two checks of ``should_stop``.
KNN_BLOCK = 2048
#: Grid intervals per unit of the FFT gradient's interpolation (openTSNE's default 1):
#: 2 halves the grid, and the time after early exaggeration, for the same neighbourhoods.
INTS_IN_INTERVAL = 2.0
#: Iterations with early exaggeration, then without. Measured (benchmarks/RESULTS.md,
#: discovery): 100 + 150 keep the neighbourhoods of 250 + 250 (20,000 synthetic tracks:
#: 0.29 of the 10 nearest in vector space among the 10 nearest on the map either way;
#: 5,739 real segment vectors: 0.70) for 40% less time.
EARLY_ITERATIONS = 100
ITERATIONS = 150
#: Iterations between two checks of ``should_stop`` during the optimisation.
STOP_CHECK_EVERY = 25


@dataclass(frozen=True)
class Layout:
    """Track positions plus what is needed to place new tracks among them.

    Attributes
    ----------
    ids : np.ndarray [shape=(n,), dtype=int64], track ids, sorted
    xy : np.ndarray [shape=(n, 2), dtype=float32], positions of ``ids``
    mean : np.ndarray [shape=(dim,)], the PCA centre
    components : np.ndarray [shape=(dim, p)], the PCA basis
    anchor_z : np.ndarray [shape=(m, p)], anchors in PCA space
    anchor_xy : np.ndarray [shape=(m, 2)], anchors on the map
    built_count : tracks at the last full build
    """

    ids: np.ndarray
    xy: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    anchor_z: np.ndarray
    anchor_xy: np.ndarray
    built_count: int

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors ``(n, dim)`` in the layout's PCA space ``(n, p)``."""
        z = (np.asarray(vectors, np.float32) - self.mean) @ self.components
        return np.ascontiguousarray(z, dtype=np.float32)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Map positions ``(n, 2)`` of new vectors ``(n, dim)`` among the anchors."""
        if not len(vectors):
            return np.zeros((0, 2), np.float32)
        return _place(self.project(vectors), self.anchor_z, self.anchor_xy)

    def extend(self, ids: np.ndarray, vectors: np.ndarray) -> Layout:
        """This layout with tracks ``ids`` (not already in it) placed among the anchors."""
        ids = np.asarray(ids, np.int64)
        all_ids = np.concatenate([self.ids, ids])
        xy = np.concatenate([self.xy, self.place(vectors)])
        order = np.argsort(all_ids, kind="stable")
        return replace(self, ids=all_ids[order], xy=xy[order])

    def keep(self, ids: np.ndarray) -> Layout:
        """This layout restricted to the tracks in ``ids`` (removed tracks dropped)."""
        mask = np.isin(self.ids, ids)
        return replace(self, ids=self.ids[mask], xy=self.xy[mask])


def build_layout(ids: np.ndarray, vectors: np.ndarray, *, seed: int = 0,
                 max_anchors: int = MAX_ANCHORS,
                 should_stop: StopCheck | None = None) -> Layout:
    """Lay out every track from scratch.

    Parameters
    ----------
    ids : np.ndarray [shape=(n,), dtype=int64], sorted track ids
    vectors : np.ndarray [shape=(n, dim)], their unit-norm embeddings
    seed : seeds the anchor sample and t-SNE (same input, same map)
    max_anchors : tracks laid out by t-SNE; the rest are placed among them
    should_stop : polled between the steps and every :data:`STOP_CHECK_EVERY`
        iterations of the optimisation (a fraction of a second apart); True abandons
        the layout by raising :class:`~engine.errors.Cancelled`

    Raises
    ------
    Cancelled : ``should_stop`` returned True
    """
    from threadpoolctl import threadpool_limits

    # one core, like openTSNE's n_jobs=1: on a busy machine, several BLAS threads wait
    # on each other (the PCA took 2.5 s instead of 0.4 at load average 14)
    with threadpool_limits(limits=1, user_api="blas"):
        return _build(ids, vectors, seed=seed, max_anchors=max_anchors,
                      stop=stopper(should_stop, "the library map was abandoned"))


def _build(ids: np.ndarray, vectors: np.ndarray, *, seed: int, max_anchors: int,
           stop: Callable[[], None]) -> Layout:
    ids = np.asarray(ids, np.int64)
    vectors = np.asarray(vectors, np.float32)
    n = len(ids)
    rng = np.random.default_rng(seed)
    anchors = np.sort(rng.choice(n, size=min(n, max_anchors), replace=False))
    mean, components = _pca(vectors[anchors], stop)
    anchor_z = np.ascontiguousarray((vectors[anchors] - mean) @ components, dtype=np.float32)
    stop()
    anchor_xy = _scaled(_tsne(anchor_z, seed=seed, stop=stop) if len(anchors) >= MIN_TSNE
                        else _pad2(anchor_z))
    xy = np.zeros((n, 2), np.float32)
    layout = Layout(ids=ids, xy=xy, mean=mean, components=components, anchor_z=anchor_z,
                    anchor_xy=anchor_xy, built_count=n)
    xy[anchors] = anchor_xy
    rest = np.setdiff1d(np.arange(n), anchors)
    xy[rest] = layout.place(vectors[rest])
    return layout


def _pca(x: np.ndarray, stop: Callable[[], None] = lambda: None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(dim,)`` and the leading principal axes ``(dim, p)`` of ``x``.

    From the eigenvectors of the ``(dim, dim)`` covariance: a fraction of the cost of
    an SVD of ``x`` when there are many more rows than dimensions. The covariance is
    summed over blocks of :data:`PCA_BLOCK` rows, so no float64 copy of ``x`` is made
    (20,000 tracks of the search's 1,920-d space: 0.6 GB otherwise), and ``stop`` is
    called after each block. Only the ``p`` leading eigenvectors are computed (1,920
    dimensions: 0.6 s instead of 1.4 s for all of them).
    """
    from scipy.linalg import eigh

    x = np.asarray(x, np.float32)
    dim = x.shape[1]
    mean = x.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((dim, dim))
    for start in range(0, len(x), PCA_BLOCK):
        block = x[start: start + PCA_BLOCK] - mean
        scatter += block.T @ block
        stop()
    p = min(PCA_DIMS, len(x), dim)
    values, vectors = eigh(scatter, subset_by_index=[dim - p, dim - 1])
    top = np.argsort(values)[::-1]
    return mean.astype(np.float32), np.ascontiguousarray(vectors[:, top], dtype=np.float32)


def _pad2(z: np.ndarray) -> np.ndarray:
    """The first two PCA coordinates (zeros where there are fewer)."""
    out = np.zeros((len(z), 2), np.float32)
    out[:, : min(2, z.shape[1])] = z[:, :2]
    return out


def _scaled(xy: np.ndarray) -> np.ndarray:
    """``xy`` centred and scaled so that it fits in ``[-1, 1]``."""
    xy = np.asarray(xy, np.float64)
    xy = xy - (xy.max(axis=0) + xy.min(axis=0)) / 2 if len(xy) else xy
    extent = float(np.abs(xy).max()) if xy.size else 0.0
    return (xy / extent if extent > 0 else xy).astype(np.float32)


def _neighbours(z: np.ndarray, k: int, stop: Callable[[], None] = lambda: None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows of ``z``: indices and Euclidean distances.

    Exact below :data:`APPROXIMATE_FROM` rows; above, from an IVF index (rows whose
    probed lists hold too few neighbours are searched exactly). Searched on one core
    (the layout is background work; several OpenMP threads on a busy machine wait on
    each other), :data:`KNN_BLOCK` rows at a time with ``stop`` called in between.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # OpenMP's thread count is per calling thread
    try:
        index = _ivf_index(z) if len(z) >= APPROXIMATE_FROM else None
        d2 = np.empty((len(z), k + 1), np.float32)
        nn = np.empty((len(z), k + 1), np.int64)
        for lo in range(0, len(z), KNN_BLOCK):
            block = slice(lo, lo + KNN_BLOCK)
            d2[block], nn[block] = (index.search(z[block], k + 1) if index is not None
                                    else faiss.knn(z[block], z, k + 1))
            stop()
        short = np.flatnonzero((nn < 0).any(axis=1))
        if len(short):
            d2[short], nn[short] = faiss.knn(z[short], z, k + 1)
    finally:
        faiss.omp_set_num_threads(threads)
    n = len(z)
    not_self = nn != np.arange(n)[:, None]
    missing = not_self.all(axis=1)  # self lost among exact duplicates: drop the farthest
    not_self[missing, -1] = False
    return (nn[not_self].reshape(n, k),
            np.sqrt(np.maximum(d2[not_self].reshape(n, k), 0.0)))


def _ivf_index(z: np.ndarray) -> Any:
    """An inverted-file index of the rows of ``z`` (``sqrt(n)`` lists)."""
    import faiss

    lists = int(np.sqrt(len(z)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(z.shape[1]), z.shape[1], lists)
    index.cp.niter = 10
    index.train(z)
    index.add(z)
    index.nprobe = IVF_PROBES
    return index


def _tsne(z: np.ndarray, *, seed: int, stop: Callable[[], None]) -> np.ndarray:
    """openTSNE layout ``(m, 2)`` of ``z`` ``(m, p)`` from FAISS neighbours."""
    from openTSNE import TSNEEmbedding, affinity, initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    m = len(z)
    perplexity = min(PERPLEXITY, (m - 1) / 3.0)
    k = min(m - 1, int(3 * perplexity))
    nn, dist = _neighbours(z, k, stop)
    aff = affinity.PerplexityBasedNN(knn_index=PrecomputedNeighbors(nn, dist),
                                     perplexity=perplexity, n_jobs=1)
    stop()
    init = initialization.pca(z, random_state=seed)
    gradient = ({"negative_gradient_method": "fft", "ints_in_interval": INTS_IN_INTERVAL}
                if m > 2000 else {"negative_gradient_method": "bh"})

    def interrupt(_iteration: int, _error: float, _embedding: np.ndarray) -> bool:
        stop()  # raises Cancelled out of the optimisation
        return False

    embedding = TSNEEmbedding(init, aff, n_jobs=1, random_state=seed, callbacks=interrupt,
                              callbacks_every_iters=STOP_CHECK_EVERY, **gradient)
    embedding = embedding.optimize(n_iter=EARLY_ITERATIONS, exaggeration=12)
    embedding = embedding.optimize(n_iter=ITERATIONS)
    return np.asarray(embedding, dtype=np.float64)


def _place(z: np.ndarray, anchor_z: np.ndarray, anchor_xy: np.ndarray) -> np.ndarray:
    """Distance-weighted mean position ``(n, 2)`` of each row's nearest anchors."""
    import faiss

    k = min(PLACE_NEIGHBOURS, len(anchor_z))
    d2, nn = faiss.knn(np.ascontiguousarray(z, np.float32), anchor_z, k)
    weights = 1.0 / (np.sqrt(np.maximum(d2, 0.0)) + 1e-4)
    xy = (anchor_xy[nn] * weights[..., None]).sum(axis=1) / weights.sum(axis=1)[:, None]
    placed: np.ndarray = xy.astype(np.float32)
    return placed
