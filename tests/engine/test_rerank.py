"""PRF and MMR on hand-made vectors, checked against their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ParameterError
from engine.index import normalise
from engine.rerank import MMR, PRF, mean_pairwise_similarity
from engine.search import SearchParams, weighted


def test_prf_is_the_mean_of_query_and_feedback_renormalised():
    q = np.array([1.0, 0.0, 0.0], np.float32)
    ranked = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]], np.float32)
    got = PRF(2).refine(q, ranked)
    want = np.array([1.0, 1.0, 1.0]) / 3
    np.testing.assert_allclose(got, want / np.linalg.norm(want), atol=1e-6)
    np.testing.assert_allclose(PRF(0).refine(q, ranked), q)
    np.testing.assert_allclose(PRF(5).refine(q, ranked[:0]), q)


def test_prf_rejects_negative_counts():
    with pytest.raises(ParameterError):
        PRF(-1)


def brute_mmr(sims, vectors, k, d):
    chosen = []
    while len(chosen) < min(k, len(sims)):
        best, best_score = None, -np.inf
        for i in range(len(sims)):
            if i in chosen:
                continue
            red = max((vectors[i] @ vectors[s] for s in chosen), default=0.0)
            score = (1 - d) * sims[i] - d * red
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
    return chosen


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.floats(0.0, 1.0), k=st.integers(1, 12))
def test_mmr_matches_its_definition(seed, d, k):
    rng = np.random.default_rng(seed)
    vectors = normalise(rng.standard_normal((15, 6)))
    sims = vectors @ normalise(rng.standard_normal(6))[0]
    got = MMR(d).rerank(sims, vectors, k).tolist()
    assert got == brute_mmr(sims, vectors, k, d)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_mmr_with_zero_diversity_is_plain_ranking(seed):
    rng = np.random.default_rng(seed)
    vectors = normalise(rng.standard_normal((30, 8)))
    sims = rng.uniform(-1, 1, 30)
    np.testing.assert_array_equal(MMR(0.0).rerank(sims, vectors, 10), np.argsort(-sims)[:10])


def test_higher_diversity_lowers_mean_pairwise_similarity(rng):
    # three tight clusters of near-duplicates; the query is closest to cluster 0
    centres = normalise(rng.standard_normal((3, 16)))
    vectors = normalise(np.repeat(centres, 10, axis=0)
                        + 0.05 * rng.standard_normal((30, 16)))
    query = normalise(centres[0] + 0.3 * centres[1] + 0.2 * centres[2])[0]
    sims = vectors @ query
    spreads = [mean_pairwise_similarity(vectors[MMR(d).rerank(sims, vectors, 6)])
               for d in (0.0, 0.3, 0.5, 0.9)]
    assert all(x >= y for x, y in itertools.pairwise(spreads))
    assert spreads[0] - spreads[-1] > 0.5
    assert spreads[0] > 0.9  # plain ranking: all near-duplicates of one cluster


def test_mmr_rejects_out_of_range_diversity():
    with pytest.raises(ParameterError):
        MMR(1.5)
    with pytest.raises(ParameterError):
        SearchParams(diversity=-0.1)


def test_weighted_space_inner_product_is_the_weighted_similarity(rng):
    def unit(n):
        return normalise(rng.standard_normal((1, n)))

    a = {"fused": unit(8), "timbre": unit(4), "harmony": unit(4), "rhythm": unit(4)}
    b = {"fused": unit(8), "timbre": unit(4), "harmony": unit(4), "rhythm": unit(4)}
    w = (2.0, 0.5, 0.0)
    sims = [float((a[key] @ b[key].T)[0, 0]) for key in ("fused", "timbre", "harmony", "rhythm")]
    want = (sims[0] + 2.0 * sims[1] + 0.5 * sims[2]) / 3.5
    np.testing.assert_allclose((weighted(a, w) @ weighted(b, w).T)[0, 0], want, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(weighted(a, w)), 1.0, atol=1e-6)
    np.testing.assert_allclose((weighted(a, (0, 0, 0)) @ weighted(b, (0, 0, 0)).T)[0, 0],
                               sims[0], atol=1e-6)
