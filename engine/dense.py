"""Dense segment vectors on disk: one row per track, compressed once the library is large.

Every track stores the fused vector of every segment (one per segment hop) in
``dense_segments``: its segment starts (float32 seconds) and its vectors, either as
float16 (codec 0) or as codes of a :class:`Codec` from ``dense_codecs``.

A codec is a PCA to :data:`CODEC_DIM` dimensions, then int8 per dimension. It is
fitted on the library's own vectors once :data:`FIT_MIN` float16 vectors of one model
exist (a small library stays in float16: a few MB), after which every stored and
future vector of that model is coded: 12,000 tracks x 4 min (about 720,000 segments)
take ``720,000 x (CODEC_DIM + 4)`` bytes. Inner products are computed in the coded
space without decoding: a query ``q`` becomes ``(P q) * scale`` and scores
``q . (mean + P^T (scale * code)) - q . mean`` (:meth:`Codec.query`).

``meta["dense_format"]`` records the row format (1); the tables are created by the
store's schema step 4 (:data:`engine.store.MIGRATIONS`), and their SQL is the store's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from engine.store import Store, dense_codec_row, replace_dense_codec, write_dense_row

#: Float16 vectors of one model from which a codec is fitted and everything coded.
FIT_MIN = 20_000
#: At most this many vectors (sampled) fit the codec.
FIT_SAMPLE = 60_000
#: Dimensions kept by the codec's PCA (bytes per coded segment).
CODEC_DIM = 128
RAW = 0


@dataclass(frozen=True)
class Codec:
    """PCA + int8 compression of L2-normalised vectors.

    Attributes
    ----------
    id : row id in ``dense_codecs`` (0: float16, no compression)
    mean : np.ndarray [shape=(d,)], subtracted before projecting
    components : np.ndarray [shape=(k, d)], orthonormal rows
    scale : np.ndarray [shape=(k,)], int8 step per dimension
    """

    id: int
    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    @property
    def dim(self) -> int:
        """Dimension of the coded space."""
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, vectors: np.ndarray, *, dim: int | None = None) -> Codec:
        """Fit on ``vectors`` ``(n, d)``: top-``dim`` (default :data:`CODEC_DIM`) principal
        axes, int8 step from the 99.99th percentile of each axis."""
        dim = CODEC_DIM if dim is None else dim
        x = np.asarray(vectors, dtype=np.float64)
        mean = x.mean(axis=0)
        centred = x - mean
        _, eigvec = np.linalg.eigh(centred.T @ centred)
        components = eigvec[:, ::-1][:, :min(dim, x.shape[1])].T
        z = centred @ components.T
        scale = np.maximum(np.quantile(np.abs(z), 0.9999, axis=0), 1e-6) / 127.0
        return cls(0, mean.astype(np.float32), components.astype(np.float32),
                   scale.astype(np.float32))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes ``(n, dim)`` int8 of vectors ``(n, d)``."""
        z: np.ndarray = (np.asarray(vectors, np.float32) - self.mean) @ self.components.T
        codes: np.ndarray = np.clip(np.rint(z / self.scale), -127, 127).astype(np.int8)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate vectors ``(n, d)`` float32 of codes ``(n, dim)``."""
        projected: np.ndarray = (codes.astype(np.float32) * self.scale) @ self.components
        vectors: np.ndarray = self.mean + projected
        return vectors

    def query(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queries in the coded space ``(n, dim)`` and the offsets ``q . mean`` ``(n,)``:
        ``code @ query + offset`` is the inner product with the decoded vector."""
        q = np.atleast_2d(np.asarray(queries, np.float32))
        return (q @ self.components.T) * self.scale, q @ self.mean

    def to_blob(self) -> bytes:
        """Parameters as little-endian float32 bytes (mean, scale, components)."""
        return np.concatenate([self.mean, self.scale, self.components.ravel()]).astype(
            "<f4").tobytes()

    @classmethod
    def from_blob(cls, codec_id: int, blob: bytes, *, dim: int) -> Codec:
        """Inverse of :meth:`to_blob`."""
        flat = np.frombuffer(blob, "<f4")
        d = (flat.size - dim) // (dim + 1)
        return cls(codec_id, flat[:d].copy(), flat[d + dim:].reshape(dim, d).copy(),
                   flat[d:d + dim].copy())


@dataclass(frozen=True)
class DenseRows:
    """Dense vectors of some tracks, as stored.

    Attributes
    ----------
    track_ids : np.ndarray [shape=(m,)], per track
    counts : np.ndarray [shape=(m,)], segments per track
    starts : np.ndarray [shape=(sum counts,)], seconds
    data : np.ndarray [shape=(sum counts, dim)], float16 (raw) or int8 codes
    codec : the codec of ``data`` (None: float16 vectors)
    """

    track_ids: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    data: np.ndarray
    codec: Codec | None

    def vectors(self) -> np.ndarray:
        """Float32 (decoded) vectors ``(sum counts, d)``."""
        if self.codec is None:
            return self.data.astype(np.float32)
        return self.codec.decode(self.data)


def codec_for(store: Store | sqlite3.Connection, fingerprint: str) -> Codec | None:
    """The codec of model ``fingerprint``, if one was fitted."""
    row = dense_codec_row(store, fingerprint)
    if row is None:
        return None
    return Codec.from_blob(int(row[0]), row[2], dim=int(row[1]))


def save(conn: sqlite3.Connection, track_id: int, starts: np.ndarray, vectors: np.ndarray,
         codec: Codec | None) -> None:
    """Store (replace) one track's dense vectors ``(n, d)``, coded with ``codec`` if any."""
    data = (codec.encode(vectors) if codec is not None
            else np.asarray(vectors, dtype="<f2"))
    write_dense_row(conn, track_id, codec=codec.id if codec is not None else RAW,
                    n=len(starts), starts=np.asarray(starts, "<f4").tobytes(),
                    vectors=np.ascontiguousarray(data).tobytes())


def _rows_to_dense(rows: Sequence[sqlite3.Row], codec: Codec | None,
                   dim: int) -> DenseRows:
    """Stack stored rows (all with ``codec``) into one :class:`DenseRows`."""
    dtype = "<f2" if codec is None else np.int8
    width = dim if codec is None else codec.dim
    if not rows:
        return DenseRows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                         np.zeros((0, width), dtype), codec)
    data = np.concatenate([np.frombuffer(r["vectors"], dtype) for r in rows])
    return DenseRows(
        track_ids=np.array([int(r["track_id"]) for r in rows], np.int64),
        counts=np.array([int(r["n"]) for r in rows], np.int64),
        starts=np.concatenate([np.frombuffer(r["starts"], "<f4") for r in rows]),
        data=data.reshape(-1, width), codec=codec)


def load(store: Store, track_ids: Sequence[int], *, fingerprint: str,
         dim: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per track: ``(starts (n,), float32 vectors (n, d))`` for the searchable ones."""
    codec = codec_for(store, fingerprint)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(0, len(track_ids), 500):
        chunk = [int(t) for t in track_ids[i:i + 500]]
        for row in store.dense_rows(fingerprint, track_ids=chunk):
            use = codec if int(row["codec"]) != RAW else None
            if use is not None and int(row["codec"]) != use.id:
                continue  # coded with a codec that is no longer current
            part = _rows_to_dense([row], use, dim)
            out[int(row["track_id"])] = (part.starts, part.vectors())
    return out


def iter_rows(store: Store, *, fingerprint: str, dim: int,
              batch: int = 256) -> Iterator[DenseRows]:
    """Every searchable track's dense rows, a batch of tracks at a time, by track id."""
    codec = codec_for(store, fingerprint)
    last = -1
    while True:
        rows = store.dense_rows(fingerprint, after=last, limit=batch)
        if not rows:
            return
        last = int(rows[-1]["track_id"])
        for kind in {int(r["codec"]) for r in rows}:
            use = None if kind == RAW else codec
            if use is not None and use.id != kind:
                continue
            yield _rows_to_dense([r for r in rows if int(r["codec"]) == kind], use, dim)


def compress_if_large(store: Store, *, fingerprint: str, dim: int,
                      min_vectors: int | None = None) -> Codec | None:
    """Fit the codec of ``fingerprint`` once ``min_vectors`` (default :data:`FIT_MIN`)
    float16 vectors exist, and code them. Returns the codec in use (None while the
    library is small)."""
    min_vectors = FIT_MIN if min_vectors is None else min_vectors
    codec = codec_for(store, fingerprint)
    raw = sum(n for _, n in store.dense_counts(fingerprint, raw_only=True))
    if raw == 0 or (codec is None and raw < min_vectors):
        return codec
    if codec is None:
        codec = _fit(store, fingerprint=fingerprint, dim=dim, total=raw)
    _code_raw_rows(store, codec, fingerprint=fingerprint, dim=dim)
    return codec


def _fit(store: Store, *, fingerprint: str, dim: int, total: int) -> Codec:
    keep = min(1.0, FIT_SAMPLE / max(total, 1))
    rng = np.random.default_rng(0)
    parts = []
    for rows in iter_rows(store, fingerprint=fingerprint, dim=dim):
        if rows.codec is None:
            x = rows.vectors()
            parts.append(x[rng.random(len(x)) < keep])
    fitted = Codec.fit(np.concatenate(parts))
    with store.transaction() as conn:
        codec_id = replace_dense_codec(conn, fingerprint=fingerprint, kind="pca-int8",
                                       dim=fitted.dim, params=fitted.to_blob())
    return Codec(codec_id, fitted.mean, fitted.components, fitted.scale)


def _code_raw_rows(store: Store, codec: Codec, *, fingerprint: str, dim: int) -> None:
    while True:
        rows = store.dense_rows(fingerprint, raw_only=True, limit=256)
        if not rows:
            return
        with store.transaction() as conn:
            for row in rows:
                part = _rows_to_dense([row], None, dim)
                save(conn, int(row["track_id"]), part.starts, part.vectors(), codec)
