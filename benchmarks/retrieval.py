"""Retrieval metrics and segment-level matching for the quality benchmark (numpy only)."""

from __future__ import annotations

import numpy as np


def track_scores(query: np.ndarray, db: np.ndarray, owner: np.ndarray,
                 n_tracks: int) -> np.ndarray:
    """Each track's best segment match to any query segment.

    Parameters
    ----------
    query : (q, d) query segment vectors
    db : (n, d) database segment vectors
    owner : (n,) track index of each database segment
    """
    sims = (query @ db.T).max(axis=0)
    best = np.full(n_tracks, -np.inf, dtype=np.float32)
    np.maximum.at(best, owner, sims)
    return best


def rank_tracks_by_segments(query: np.ndarray, db: np.ndarray, owner: np.ndarray,
                            n_tracks: int) -> np.ndarray:
    """Tracks ordered by :func:`track_scores`, best first."""
    return np.argsort(-track_scores(query, db, owner, n_tracks), kind="stable")


def first_hit(order: np.ndarray, relevant: np.ndarray) -> int:
    """0-based rank of the first relevant item in ``order`` (len(order) if none)."""
    hits = np.flatnonzero(relevant[order])
    return int(hits[0]) if hits.size else len(order)


def recall_mrr(ranks: list[int], ks: tuple[int, ...] = (1, 5, 20)) -> dict[str, float]:
    """Recall@k and MRR from 0-based ranks of the single correct item per query."""
    r = np.asarray(ranks)
    out = {f"R@{k}": float(np.mean(r < k)) for k in ks}
    out["MRR"] = float(np.mean(1.0 / (r + 1)))
    return out


def average_precision(order: np.ndarray, relevant: np.ndarray) -> float:
    """AP of a ranking with a boolean relevance mask indexed by item."""
    rel = relevant[order]
    if not rel.any():
        return 0.0
    hits = np.cumsum(rel)
    return float(np.mean(hits[rel] / (np.flatnonzero(rel) + 1)))


def neighbour_metrics(sims: np.ndarray, labels: np.ndarray, *, k: int = 10
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """Leave-one-out retrieval from a similarity matrix: summary and P@k per label.

    The summary has mAP, P@1, P@k and ``P@k ceiling``, the P@k of a perfect ranking
    (a query with fewer than ``k`` relevant items cannot fill its top ``k``).
    Queries without a relevant item are left out.
    """
    sims = np.array(sims, dtype=np.float64)
    np.fill_diagonal(sims, -np.inf)
    aps, p1, pk, ceiling = [], [], [], []
    by_label: dict[str, list[float]] = {}
    for i in range(len(sims)):
        order = np.argsort(-sims[i], kind="stable")[:-1]  # self is last
        rel = labels == labels[i]
        rel[i] = False
        if not rel.any():
            continue
        aps.append(average_precision(order, rel))
        p1.append(float(rel[order[0]]))
        pk.append(float(rel[order[:k]].mean()))
        ceiling.append(min(int(rel.sum()), k) / min(k, len(order)))
        by_label.setdefault(str(labels[i]), []).append(pk[-1])
    summary = {"mAP": float(np.mean(aps)), "P@1": float(np.mean(p1)),
               f"P@{k}": float(np.mean(pk)), f"P@{k} ceiling": float(np.mean(ceiling)),
               "queries": len(aps)}
    return summary, {label: float(np.mean(v)) for label, v in sorted(by_label.items())}
