"""Which model a library should use: a newly trained one only if it is better.

The comparison is on held-out tracks. ``resonance-train library`` scores the new model
and the current one on the same held-out tracks and records the current model's
sha256 with that baseline; only such a paired figure counts as the current model's
score, else the figures both cards report are compared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.model import ModelCard


def heldout_score(card: ModelCard | None) -> float | None:
    """The held-out Recall@5 a model card reports (None when it reports none)."""
    metrics = getattr(card, "metrics", None) or {}
    value = (metrics.get("heldout") or {}).get("recall@5", metrics.get("recall@5"))
    return None if value is None else float(value)


def baseline_score(new_card: ModelCard | None,
                   current_card: ModelCard | None) -> float | None:
    """The current model's score on the new model's held-out tracks, when it was measured.

    ``resonance-train library`` scores both models on the same held-out tracks and
    records the current model's sha256; a score of another model does not count.
    """
    heldout = (getattr(new_card, "metrics", None) or {}).get("heldout") or {}
    current_sha = getattr(current_card, "sha256", None)
    if "baseline_recall@5" in heldout and heldout.get("baseline_model") == current_sha:
        return float(heldout["baseline_recall@5"])
    return None


def is_better(new_card: ModelCard | None, current_card: ModelCard | None) -> bool:
    """Switch only when the new model beats the current one on the same held-out tracks.

    Without that paired measurement, fall back to the scores both cards report.
    """
    new = heldout_score(new_card)
    if new is None:
        return False
    old = baseline_score(new_card, current_card)
    if old is None:
        old = heldout_score(current_card)
    return old is None or new > old
