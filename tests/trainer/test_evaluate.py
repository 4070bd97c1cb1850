"""Retrieval metrics on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate import format_table, retrieval_metrics


def _unit(*v: float) -> np.ndarray:
    x = np.asarray(v, dtype=np.float32)
    return x / np.linalg.norm(x)


def test_perfectly_separated_songs_score_one() -> None:
    eye = np.eye(4, dtype=np.float32)
    segments = [np.stack([eye[i], eye[i]]) for i in range(4)]
    m = retrieval_metrics(segments, ["a", "b", "c", "d"])
    assert m["queries"] == 8
    assert m["recall@1"] == m["mrr"] == m["map"] == 1.0


def metrics_loop(segments: list[np.ndarray], groups: list[str], k: int) -> tuple[float, float]:
    """Brute force: recall@k and MRR, one query at a time."""
    hits, rr, n = 0, 0.0, 0
    for i, seg in enumerate(segments):
        if len(seg) < 2:
            continue
        for j in range(len(seg)):
            scores = []
            for s, other in enumerate(segments):
                vecs = np.delete(other, j, axis=0) if s == i else other
                mean = vecs.mean(axis=0)
                scores.append((-float(seg[j] @ (mean / np.linalg.norm(mean))), s))
            ranked = [s for _, s in sorted(scores)]
            first = next(r for r, s in enumerate(ranked) if groups[s] == groups[i])
            hits += first < k
            rr += 1.0 / (first + 1)
            n += 1
    return hits / n, rr / n


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    segments = [rng.normal(size=(int(rng.integers(1, 4)), 6)) for _ in range(15)]
    segments = [s / np.linalg.norm(s, axis=1, keepdims=True) for s in segments]
    groups = [f"g{i % 12}" for i in range(15)]
    m = retrieval_metrics(segments, groups, ks=(3,))
    recall, mrr = metrics_loop(segments, groups, 3)
    assert m["recall@3"] == pytest.approx(recall)
    assert m["mrr"] == pytest.approx(mrr)


def test_a_segment_never_finds_itself() -> None:
    # with the query inside its song's vector, A0 would rank A first (0.707 > 0.64);
    # leave-one-out leaves A0 and A1 orthogonal to the rest of their song.
    a = np.stack([_unit(1, 0, 0), _unit(0, 1, 0)])
    decoy = np.stack([_unit(1, 1.2, 0)])
    m = retrieval_metrics([a, decoy], ["A", "D"], ks=(1,))
    assert m["queries"] == 2
    assert m["recall@1"] == 0.0


def test_versions_are_relevant_for_map() -> None:
    x, y = _unit(1, 0), _unit(0, 1)
    segments = [np.stack([x, x]), np.stack([x, x]), np.stack([y, y])]
    m = retrieval_metrics(segments, ["g", "g", "h"], ks=(1,))
    assert m["map"] == pytest.approx(1.0)


def test_table() -> None:
    text = format_table({"queries": 3, "recall@1": 0.5})
    assert "recall@1" in text and "0.5000" in text


def test_overlapping_segments_do_not_count_for_the_own_song() -> None:
    # segments 0 and 1 overlap (starts 0 and 5, length 10); only segment 2 is disjoint.
    a = np.stack([_unit(1, 0, 0), _unit(1, 0.01, 0), _unit(0, 0, 1)])
    decoy = np.stack([_unit(1, 1.2, 0)])
    starts = [np.array([0, 5, 20]), np.array([0])]
    m = retrieval_metrics([a, decoy], ["A", "D"], ks=(1,), starts=starts, length=10)
    assert m["queries"] == 3  # every segment of A has a disjoint partner
    assert m["recall@1"] == pytest.approx(1 / 3)  # only the third finds A first
    loose = retrieval_metrics([a, decoy], ["A", "D"], ks=(1,))
    assert loose["recall@1"] > m["recall@1"]


def test_version_retrieval_excludes_the_own_song() -> None:
    x, y, z = _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)
    segments = [np.stack([x, x]), np.stack([x, y]), np.stack([z, z])]
    m = retrieval_metrics(segments, ["piece", "piece", "other"], ks=(1,))
    assert m["version_queries"] == 4
    # queries from song 0 find song 1 first; song 1's segments: x -> song 0, y -> song 0
    assert m["version_recall@1"] == 1.0
    assert m["version_map"] == 1.0


def test_source_precision_counts_same_source_neighbours() -> None:
    # songs a0, a1 (source A) are close, b0, b1 (source B) are close; the rendition pair
    # (group "piece", two versions) and a song without a source are left out as queries
    vecs = {"a0": _unit(1, 0.1, 0), "a1": _unit(1, 0, 0.1), "b0": _unit(0, 1, 0.1),
            "b1": _unit(0.1, 1, 0), "v0": _unit(0, 0, 1), "v1": _unit(0, 0.1, 1),
            "x": _unit(1, 1, 1)}
    names = list(vecs)
    segments = [np.stack([vecs[n], vecs[n]]) for n in names]
    groups = ["a0", "a1", "b0", "b1", "piece", "piece", "x"]
    sources = ["A", "A", "B", "B", "music21", "music21", ""]
    m = retrieval_metrics(segments, groups, ks=(1,), sources=sources)
    assert m["source_queries"] == 4
    # each query's nearest is its mate; among the other three one is relevant
    from trainer.evaluate import source_precision
    songs = np.stack([vecs[n] for n in names])
    gid = np.unique(groups, return_inverse=True)[1]
    assert source_precision(songs, gid, sources, k=1)["source_p@1"] == 1.0
    assert m["source_p@10"] == pytest.approx(1 / 3)
    assert "source_p@10" not in retrieval_metrics(segments, groups, ks=(1,))
