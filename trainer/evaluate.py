"""Retrieval metrics on held-out songs (SPEC section 5).

**Segment-to-song** (``recall@K``, ``mrr``, ``map``): every segment of a validation
song is a query; the database holds one vector per song, the normalised mean of its
segment embeddings. For the query's own song only segments that do *not overlap* the
query enter that mean (segments are cut every few seconds and overlap heavily, so
anything else lets a segment find a copy of itself); a query whose song has no such
segment is skipped. Relevant songs: the query's own song and its versions (same group).

**Version retrieval** (``version_*``): queries from songs that have versions (group of
two or more), the query's own song removed from the database; relevant songs are the
other versions. This is the harder, cross-rendition test (other instrument, tempo, key).

**Same source** (``source_p@10``): songs without versions that carry a source label
(real recordings: their package) query each other by song vector; precision of the ten
nearest by source. Sources are a proxy for composer and production style.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from engine.index import normalise
from trainer.cache import FeatureStore, SongEntry
from trainer.sampler import eval_starts, gather

#: Pooled ``(mel, chroma, tempo)`` batch -> fused embeddings ``(n, D)``.
EmbedFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
KS = (1, 5, 10, 20)


def embed_songs(store: FeatureStore, entries: Sequence[SongEntry], embed: EmbedFn, *,
                n_segments: int = 8, batch: int = 64
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Segment embeddings ``(n_s, D)`` of each song at evenly spaced starts, and the starts."""
    length = store.layout.segment_length
    starts = [eval_starts(e.n_frames, length, n_segments) for e in entries]
    jobs = [(e.song, int(s)) for e, st in zip(entries, starts, strict=True) for s in st]
    outs = []
    for i in range(0, len(jobs), batch):
        songs, firsts = zip(*jobs[i : i + batch], strict=True)
        outs.append(embed(*gather(store, list(songs), np.asarray(firsts), length)))
    flat = normalise(np.concatenate(outs).astype(np.float32))
    return np.split(flat, np.cumsum([len(s) for s in starts])[:-1]), starts


def _ranks(sims: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First relevant rank (0-based) and average precision of each query row."""
    order = np.argsort(-sims, axis=1, kind="stable")
    ranked = np.take_along_axis(relevant, order, axis=1)
    first = ranked.argmax(axis=1)
    precision = np.cumsum(ranked, axis=1) / np.arange(1, ranked.shape[1] + 1)[None, :]
    ap = (precision * ranked).sum(axis=1) / np.maximum(ranked.sum(axis=1), 1)
    return first, ap


def _summary(first: np.ndarray, ap: np.ndarray, ks: Sequence[int], prefix: str = ""
             ) -> dict[str, float]:
    out: dict[str, float] = {f"{prefix}queries": len(first)}
    if not len(first):
        return out
    for k in ks:
        out[f"{prefix}recall@{k}"] = float(np.mean(first < k))
    out[f"{prefix}mrr"] = float(np.mean(1.0 / (first + 1)))
    out[f"{prefix}map"] = float(np.mean(ap))
    return out


def _own_vectors(seg: np.ndarray, starts: np.ndarray | None, length: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per query: its song's vector without overlapping segments, and whether one exists."""
    n = len(seg)
    if starts is None or length is None:
        keep = ~np.eye(n, dtype=bool)
    else:
        keep = np.abs(starts[:, None] - starts[None, :]) >= length
    counts = keep.sum(axis=1)
    return normalise(keep.astype(np.float32) @ seg), counts > 0


def source_precision(songs: np.ndarray, gid: np.ndarray, sources: Sequence[str], k: int = 10
                     ) -> dict[str, float]:
    """``source_p@k`` among songs without versions that have a source (module docstring)."""
    src = np.asarray(sources)
    pick = np.flatnonzero((np.bincount(gid)[gid] == 1) & (src != ""))
    sims = songs[pick] @ songs[pick].T
    np.fill_diagonal(sims, -np.inf)
    same = src[pick][None, :] == src[pick][:, None]
    np.fill_diagonal(same, False)
    has = same.any(axis=1)
    if not has.any():
        return {}
    top = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, len(pick) - 1)]
    hits = np.take_along_axis(same, top, axis=1).mean(axis=1)
    return {f"source_p@{k}": float(hits[has].mean()), "source_queries": int(has.sum())}


def retrieval_metrics(segments: Sequence[np.ndarray], groups: Sequence[str],
                      ks: Sequence[int] = KS, *, starts: Sequence[np.ndarray] | None = None,
                      length: int | None = None, sources: Sequence[str] | None = None
                      ) -> dict[str, float]:
    """Segment-to-song and version metrics (module docstring).

    Without ``starts``/``length`` every other segment of the song counts as not
    overlapping (segments known to be disjoint).
    """
    songs = normalise(np.stack([s.mean(axis=0) for s in segments]))
    gid = np.unique(np.asarray(groups), return_inverse=True)[1]
    q, own, own_vec = [], [], []
    for i, seg in enumerate(segments):
        vec, ok = _own_vectors(seg, None if starts is None else starts[i], length)
        q.append(seg[ok])
        own.append(np.full(int(ok.sum()), i))
        own_vec.append(vec[ok])
    queries, owner = np.concatenate(q), np.concatenate(own)
    sims = queries @ songs.T
    rows = np.arange(len(queries))
    sims[rows, owner] = np.sum(queries * np.concatenate(own_vec), axis=1)
    metrics = {"songs": len(segments),
               **_summary(*_ranks(sims, gid[None, :] == gid[owner][:, None]), ks)}
    all_q = np.concatenate(segments)
    all_owner = np.repeat(np.arange(len(segments)), [len(s) for s in segments])
    has_versions = np.bincount(gid)[gid[all_owner]] >= 2
    vq, vo = all_q[has_versions], all_owner[has_versions]
    vsims = vq @ songs.T
    vsims[np.arange(len(vq)), vo] = -np.inf
    relevant = (gid[None, :] == gid[vo][:, None]) & (np.arange(len(songs))[None, :] != vo[:, None])
    metrics.update(_summary(*_ranks(vsims, relevant), ks, prefix="version_"))
    if sources is not None:
        metrics.update(source_precision(songs, gid, sources))
    return metrics


def reported_metrics(entries: Sequence[SongEntry], length: int, n_segments: int = 8,
                     ks: Sequence[int] = KS) -> set[str]:
    """The metric names :func:`evaluate_store` reports for ``entries`` (known without
    embedding them): the segment-to-song ones need a song with two non-overlapping
    segments of ``length`` frames, the version ones a group of two songs or more,
    ``source_p@10`` two songs without versions from one source."""
    names = {"songs", "queries", "version_queries"}

    def scores(prefix: str) -> set[str]:
        return {f"{prefix}recall@{k}" for k in ks} | {f"{prefix}mrr", f"{prefix}map"}

    if any(np.ptp(eval_starts(e.n_frames, length, n_segments)) >= length for e in entries):
        names |= scores("")
    sizes = Counter(e.group for e in entries)
    if any(n >= 2 for n in sizes.values()):
        names |= scores("version_")
    sources = [e.source for e in entries if e.source and sizes[e.group] == 1]
    if len(set(sources)) < len(sources):
        names |= {"source_p@10", "source_queries"}
    return names


def evaluate_store(store: FeatureStore, entries: Sequence[SongEntry], embed: EmbedFn, *,
                   n_segments: int = 8) -> dict[str, float]:
    """Embed ``entries`` from ``store`` and score them."""
    segments, starts = embed_songs(store, entries, embed, n_segments=n_segments)
    return retrieval_metrics(segments, [e.group for e in entries], starts=starts,
                             length=store.layout.segment_length,
                             sources=[e.source for e in entries])


def format_table(metrics: dict[str, float]) -> str:
    """A two-column text table of the metrics."""
    lines = [f"{'metric':<12} {'value':>8}", "-" * 21]
    for key, value in metrics.items():
        text = f"{value:8d}" if isinstance(value, int) else f"{value:8.4f}"
        lines.append(f"{key:<12} {text}")
    return "\n".join(lines)


def write_metrics(metrics: Mapping[str, object], path: str | Path) -> Path:
    """Write the metrics as JSON."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return target
