"""The trainer's error type: a :class:`~engine.errors.ResonanceError` with a clear message."""

from __future__ import annotations

from engine.errors import ResonanceError


class TrainerError(ResonanceError):
    """A trainer stage cannot go on; the message says what to do."""
