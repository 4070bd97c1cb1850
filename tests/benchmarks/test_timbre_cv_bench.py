"""The timbre graph's cross-validation: folds by source, and a fold ranked as the engine
ranks it at several gains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.bench_timbre_cv import (
    fold_p10,
    fold_versions,
    main_branch,
    recipe_of,
    source_folds,
    split_rows,
)
from engine.index import normalise


def test_every_source_lies_in_one_fold_and_the_folds_are_even():
    sources = [f"pkg{i % 10}" for i in range(40)]
    folds = source_folds(sources, 3)
    assert set(folds) == set(sources) and set(folds.values()) == {0, 1, 2}
    sizes = np.bincount(list(folds.values()))
    assert sizes.max() - sizes.min() <= 1
    assert source_folds(list(reversed(sources)), 3) == folds  # the order of tracks is moot


def test_split_rows_cuts_consecutive_pieces():
    flat = np.arange(12).reshape(2, 6)
    a, b, c = split_rows(flat, np.array([1, 3, 2]), axis=1)
    assert a.tolist() == [[0], [6]] and b.shape == (2, 3) and c.tolist() == [[4, 5], [10, 11]]


def test_a_timbre_vector_that_knows_the_sources_gains_with_its_gain():
    rng = np.random.default_rng(0)
    sources = np.repeat([f"s{i}" for i in range(6)], 12)  # 11 others: P@10 can reach 1
    n = len(sources)
    centres = rng.standard_normal((6, 16))
    timbre = normalise(np.repeat(centres, 12, axis=0) + 0.5 * rng.standard_normal((n, 16)))
    columns = {c: normalise(rng.standard_normal((n, 16))) for c in ("fused", "harmony",
                                                                     "rhythm")}
    prints = [rng.integers(0, 255, (12, 30), dtype=np.uint8) for _ in range(n)]
    versions = fold_versions(prints)
    assert np.all(np.diag(versions) == 0) and np.allclose(versions, versions.T)
    got = fold_p10(columns, timbre, versions, sources, gains=(0.0, 1.0, 10.0))
    assert got["alone"] >= 0.7
    assert got["gain 0"] <= 0.4  # random columns alone: chance is 11 of 71
    assert got["gain 0"] < got["gain 1"] < got["gain 10"] <= got["alone"] + 1e-9


@dataclasses.dataclass(frozen=True)
class _Recipe:
    steps: int = 250
    lr: float = 1e-3
    seed: int = 0
    targets: str | None = None


def test_recipe_overrides_take_each_fields_type_and_refuse_unknown_fields():
    got = recipe_of(_Recipe(), "steps=750, lr=2e-3")
    assert got == _Recipe(steps=750, lr=2e-3) and isinstance(got.steps, int)
    assert recipe_of(_Recipe(), "") == _Recipe()
    assert recipe_of(_Recipe(), "targets=t.npz").targets == "t.npz"  # a field unset by default
    for bad in ("epochs=3", "steps", "steps="):
        with pytest.raises(SystemExit, match="field=value"):
            recipe_of(_Recipe(), bad)


def test_the_main_branch_row_leaves_a_mixed_columns_graph_part_out():
    rng = np.random.default_rng(1)
    main, graph = normalise(rng.standard_normal((5, 8))), normalise(rng.standard_normal((5, 4)))
    mixed = np.concatenate([np.sqrt(0.8) * main, np.sqrt(0.2) * graph], axis=1)
    assert np.allclose(main_branch(mixed, 8), main, atol=1e-6)
    assert np.allclose(main_branch(main, None), main, atol=1e-6)  # a model without a mix
