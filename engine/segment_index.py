"""The segment index: every segment of every track, for excerpt and passage search.

Keys are ``track_id * DENSE_STRIDE + i`` for the ``i``-th dense segment of a track.
A track analysed before dense segments existed (an old library) is represented by
its few stored segments until it is scanned again.

While a library is small its vectors are float16 (an exact ``flat16`` index in the
model's space); once :func:`engine.dense.compress_if_large` has fitted a codec, the
index holds the int8 codes (``int8`` kind: FAISS ``QT_8bit_direct_signed``), searched
exactly in the coded space with queries mapped by :meth:`engine.dense.Codec.query`.
"""

from __future__ import annotations

import numpy as np

from engine import dense
from engine.index import VectorIndex, exact_index
from engine.store import SEGMENT_DTYPE, Store, from_blob

#: Keys of the segment index: ``track_id * DENSE_STRIDE + segment number``.
DENSE_STRIDE = 1 << 16


def segment_keys(store: Store, fingerprint: str) -> np.ndarray:
    """Keys the segment index of model ``fingerprint`` must hold ``(n,)`` int64."""
    rows = store.dense_counts(fingerprint)
    tracks = np.array([t for t, _ in rows], np.int64)
    counts = np.array([n for _, n in rows], np.int64)
    keys = [np.repeat(tracks * DENSE_STRIDE, counts)
            + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)]
    sparse = store.sparse_only_segments(fingerprint)
    keys.append(np.array([t * DENSE_STRIDE + s for t, s, _ in sparse], np.int64))
    return np.concatenate(keys)


def _empty(codec: dense.Codec | None, dim: int) -> VectorIndex:
    import faiss

    if codec is None:
        return exact_index(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), dim=dim,
                           fp16=True)
    inner = faiss.IndexScalarQuantizer(codec.dim, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                                       faiss.METRIC_INNER_PRODUCT)
    return VectorIndex(index=faiss.IndexIDMap(inner), kind="int8", dim=codec.dim)


def _add(index: VectorIndex, codec: dense.Codec | None, keys: np.ndarray,
         rows: dense.DenseRows | np.ndarray) -> None:
    """Add vectors (float32) or stored rows, in the index's space."""
    if isinstance(rows, dense.DenseRows) and rows.codec is not None:
        values = rows.data.astype(np.float32)  # codes, stored as they are
    else:
        vectors = rows.vectors() if isinstance(rows, dense.DenseRows) else rows
        values = (codec.encode(vectors).astype(np.float32) if codec is not None
                  else vectors.astype(np.float32))
    if len(keys):
        index.index.add_with_ids(np.ascontiguousarray(values), keys.astype(np.int64))


def build_segment_index(store: Store, *, fingerprint: str, dim: int) -> VectorIndex:
    """The segment index of every searchable track of model ``fingerprint``."""
    codec = dense.codec_for(store, fingerprint)
    index = _empty(codec, dim)
    for rows in dense.iter_rows(store, fingerprint=fingerprint, dim=dim):
        local = np.arange(len(rows.starts)) - np.repeat(np.cumsum(rows.counts) - rows.counts,
                                                          rows.counts)
        keys = np.repeat(rows.track_ids, rows.counts) * DENSE_STRIDE + local
        _add(index, codec, keys, rows)
    sparse = store.sparse_only_segments(fingerprint, vectors=True)
    if sparse:
        vectors = np.stack([from_blob(blob, SEGMENT_DTYPE) for _, _, blob in sparse
                            if blob is not None]).astype(np.float32)
        _add(index, codec, np.array([t * DENSE_STRIDE + s for t, s, _ in sparse], np.int64),
             vectors)
    return index


def search(index: VectorIndex, codec: dense.Codec | None, queries: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` segments for each query ``(n, d)`` (unit norm): approximate cosine
    scores ``(n, k')`` and keys ``(n, k')`` (-1 where fewer exist)."""
    from engine.index import _threads

    q = np.atleast_2d(np.asarray(queries, np.float32))
    k = max(1, min(int(k), index.count))
    if index.count == 0:
        return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
    if codec is None:
        return index.search(q, k)
    mapped, offset = codec.query(q)
    with _threads(1):
        scores, keys = index.index.search(np.ascontiguousarray(mapped, np.float32), k)
    return scores + offset[:, None], keys
