"""FAISS inner-product indexes over L2-normalised vectors, ids = SQLite keys.

Exact search (``IndexFlatIP``) up to :data:`APPROX_THRESHOLD` vectors; above it an
inverted-file index (``IVFFlat``) whose ``nprobe`` is tuned at build time until its
recall@20 against exact search reaches :data:`TARGET_RECALL` on sampled queries (the
measured recall is kept). Both are wrapped so that FAISS ids are the database keys.

A built :class:`VectorIndex` is saved by :mod:`engine.catalog` (atomic folder swap,
JSON manifest, no pickle). ``faiss`` is imported lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ParameterError

#: Above this many vectors an approximate (IVF) index is built instead of an exact one.
APPROX_THRESHOLD = 50_000
#: Queries in one call below which FAISS runs on one thread (OpenMP start-up costs more).
SINGLE_THREAD_BELOW = 32
#: Recall@20 against exact search the approximate index is tuned to reach on its own
#: sample of queries (a margin above the 0.95 promised for unseen queries).
TARGET_RECALL = 0.96
RECALL_K = 20
#: Sampled in-library queries the recall is measured on when tuning.
TUNE_QUERIES = 500


def id_checksum(ids: np.ndarray) -> str:
    """sha256 of the sorted ids as little-endian int64 (order-independent)."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype="<i8")).tobytes()).hexdigest()


def normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation ``(n, d) -> (n, d)`` float32, zero rows kept at zero."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    norms: np.ndarray = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12))


def unit(v: np.ndarray) -> np.ndarray:
    """One vector scaled to unit L2 norm ``(d,) -> (d,)`` float32, a zero vector kept at zero."""
    row: np.ndarray = normalise(np.ravel(v))[0]
    return row


@dataclass
class VectorIndex:
    """A FAISS index with database ids.

    Attributes
    ----------
    index : the ``faiss.IndexIDMap`` (or IVF index carrying its own ids)
    kind : ``flat`` (float32), ``flat16`` (float16 storage, exact scan), ``int8`` (coded
        dense segments, exact scan, see :mod:`engine.segment_index`) or ``ivf``
    dim : vector dimension
    recall : measured recall@20 against exact search (1.0 for flat)
    nprobe : IVF lists probed per query (0 for flat)
    """

    index: Any
    kind: str
    dim: int
    recall: float = 1.0
    nprobe: int = 0

    @property
    def count(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """The ids stored in the index ``(count,)`` int64."""
        import faiss

        if self.kind in ("flat", "flat16", "int8"):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        ivf = faiss.extract_index_ivf(self.index)
        invlists = ivf.invlists
        assert invlists is not None  # an IVF index always owns its inverted lists
        parts = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                 for i in range(ivf.nlist) if invlists.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product.

        Parameters
        ----------
        queries : np.ndarray [shape=(n, dim)]
        k : results per query

        Returns
        -------
        scores : np.ndarray [shape=(n, k'), dtype=float32], k' = min(k, count)
        ids : np.ndarray [shape=(n, k'), dtype=int64], -1 where fewer results exist
        """
        queries = normalise(queries)
        if queries.shape[1] != self.dim:
            raise ParameterError(f"query dimension {queries.shape[1]} != index {self.dim}")
        k = max(1, min(int(k), self.count))
        if self.count == 0:
            return (np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64))
        with _threads(1 if len(queries) < SINGLE_THREAD_BELOW else 0):
            scores, ids = self.index.search(queries, k)
        return scores, ids

    def write(self, path: Path) -> None:
        """Write the FAISS index file (no fsync; see :mod:`engine.catalog`)."""
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def read(cls, path: Path, *, kind: str, dim: int, recall: float, nprobe: int) -> VectorIndex:
        """Read an index file written by :meth:`write`."""
        import faiss

        index = faiss.read_index(str(path))
        if kind == "ivf":
            faiss.extract_index_ivf(index).nprobe = max(1, nprobe)
        if index.d != dim:
            raise ValueError(f"index dimension {index.d} != manifest {dim}")
        return cls(index=index, kind=kind, dim=dim, recall=recall, nprobe=nprobe)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run FAISS with ``n`` OpenMP threads (0: leave as is)."""
    import faiss

    if n <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def exact_index(ids: np.ndarray, vectors: np.ndarray, *, dim: int | None = None,
                fp16: bool = False) -> VectorIndex:
    """An exact inner-product index over ``vectors`` with ``ids``.

    ``fp16`` stores the vectors as float16 (``IndexScalarQuantizer``): half the memory,
    scores within about 1e-3 of float32.
    """
    import faiss

    dim = int(dim or np.shape(vectors)[1])
    vectors = normalise(vectors) if len(ids) else np.zeros((0, dim), np.float32)
    inner = (faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                        faiss.METRIC_INNER_PRODUCT) if fp16
             else faiss.IndexFlatIP(dim))
    index = faiss.IndexIDMap(inner)
    if len(ids):
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    return VectorIndex(index=index, kind="flat16" if fp16 else "flat", dim=dim)


def ivf_index(ids: np.ndarray, vectors: np.ndarray, *, seed: int = 0,
              target: float = TARGET_RECALL) -> VectorIndex:
    """An ``IVFFlat`` inner-product index with ``nprobe`` tuned to ``target`` recall@20."""
    import faiss

    vectors = normalise(vectors)
    n, dim = vectors.shape
    nlist = int(max(16, min(4 * np.sqrt(n), n // 39)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    train = vectors[rng.choice(n, size=min(n, nlist * 64), replace=False)]
    index.train(train)
    index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    result = VectorIndex(index=index, kind="ivf", dim=dim, recall=0.0, nprobe=1)
    queries = vectors[rng.choice(n, size=min(n, TUNE_QUERIES), replace=False)]
    _, positions = faiss.knn(queries, vectors, RECALL_K, metric=faiss.METRIC_INNER_PRODUCT)
    want = np.asarray(ids, dtype=np.int64)[positions]
    return _tune_nprobe(result, queries, want, nlist=nlist, target=target)


def _tune_nprobe(result: VectorIndex, queries: np.ndarray, want: np.ndarray, *, nlist: int,
                 target: float) -> VectorIndex:
    """Smallest ``nprobe`` (doubling, then bisection) whose recall@20 reaches ``target``."""
    import faiss

    ivf = faiss.extract_index_ivf(result.index)

    def measure(probe: int) -> float:
        ivf.nprobe = probe
        return _recall(want, result.search(queries, RECALL_K)[1])

    low, high = 0, 1  # recall(low) < target (low 0: none tried), recall(high) measured
    result.recall = measure(high)
    while result.recall < target and high < nlist:
        low, high = high, min(nlist, high * 2)
        result.recall = measure(high)
    for _ in range(3):  # narrow the doubling step down: fewer lists, faster queries
        mid = (low + high) // 2
        if mid <= low or mid == high:
            break
        got = measure(mid)
        if got >= target:
            high, result.recall = mid, got
        else:
            low = mid
    result.nprobe = high
    result.recall = measure(high)
    return result


def _recall(want: np.ndarray, got: np.ndarray) -> float:
    hits = [len(set(w[w >= 0]) & set(g[g >= 0])) / max(1, int((w >= 0).sum()))
            for w, g in zip(want, got, strict=True)]
    return float(np.mean(hits)) if hits else 1.0


def recall_at_k(approx: VectorIndex, exact: VectorIndex, queries: np.ndarray,
                *, k: int = RECALL_K) -> float:
    """Mean fraction of the exact top-``k`` ids the approximate index also returns."""
    return _recall(exact.search(queries, k)[1], approx.search(queries, k)[1])


def build_index(ids: np.ndarray, vectors: np.ndarray, *, dim: int,
                threshold: int = APPROX_THRESHOLD, fp16: bool = False) -> VectorIndex:
    """Exact below ``threshold`` vectors, recall-tuned IVF above it."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != len(vectors):
        raise ParameterError("ids and vectors differ in length")
    if len(ids) and len(np.unique(ids)) != len(ids):
        raise ParameterError("index ids must be unique")
    if len(ids) > threshold:
        return ivf_index(ids, vectors)
    return exact_index(ids, vectors, dim=dim, fp16=fp16)
