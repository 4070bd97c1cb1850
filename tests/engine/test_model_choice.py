"""The model-switching policy: a trained model replaces the current one only if better."""

from __future__ import annotations

from types import SimpleNamespace

from engine.model_choice import is_better


def test_paired_heldout_scores_decide_the_switch() -> None:
    current = SimpleNamespace(sha256="abc", metrics={"heldout": {"recall@5": 0.99}})
    paired = SimpleNamespace(metrics={"heldout": {"recall@5": 0.7, "baseline_recall@5": 0.6,
                                                  "baseline_model": "abc"}})
    # the current model's own card figure was measured elsewhere: the paired one counts
    assert is_better(paired, current)
    other = SimpleNamespace(sha256="zzz", metrics={"heldout": {"recall@5": 0.99}})
    assert not is_better(paired, other)  # baseline of another model: not paired
    worse = SimpleNamespace(metrics={"heldout": {"recall@5": 0.5, "baseline_recall@5": 0.6,
                                                 "baseline_model": "abc"}})
    assert not is_better(worse, current)
