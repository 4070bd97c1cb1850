"""Early stopping on a validation metric (``train.early_stopping``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

#: Monitors to fall back on, in this order, when validation does not measure the
#: configured one (e.g. ``mrr`` when no validation song has two non-overlapping segments).
FALLBACKS = ("version_map", "source_p@10")


def choose_monitor(monitor: str, reported: Collection[str]) -> str | None:
    """``monitor`` if validation reports it, else the first of :data:`FALLBACKS` that it
    reports, else None (nothing to follow)."""
    if monitor in reported:
        return monitor
    return next((m for m in FALLBACKS if m in reported), None)


class EarlyStopper:
    """Tracks the best value of a metric and says when to stop.

    An epoch *improves* when the value beats the best so far by more than
    ``min_delta`` (up for ``mode='max'``, down for ``'min'``); training stops after
    ``patience`` epochs in a row without improvement.
    """

    def __init__(self, *, mode: str = "max", patience: int = 10, min_delta: float = 0.0,
                 enabled: bool = True) -> None:
        if mode not in ("max", "min"):
            raise ValueError("mode must be 'max' or 'min'")
        self.mode, self.patience, self.min_delta, self.enabled = mode, patience, min_delta, enabled
        self.best: float | None = None
        self.best_epoch = -1
        self.bad_epochs = 0

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta``."""
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's value; returns True when it is the new best."""
        if self.improves(value):
            self.best, self.best_epoch, self.bad_epochs = float(value), epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` epochs passed without improvement."""
        return self.enabled and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Plain state for checkpoints."""
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.best = state["best"]
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
