"""The engine's exception hierarchy: one root, a few precise children."""

from __future__ import annotations

import os
from collections.abc import Callable


class ResonanceError(Exception):
    """Root of every error the engine raises on purpose.

    ``transient`` is True when trying again later may succeed (permission denied, a
    vanished drive, out of memory, a model that could not be loaded), False when only a
    change of the input can help.
    """

    transient = False


class ParameterError(ResonanceError):
    """A caller passed an invalid argument or configuration value."""


class DecodeError(ResonanceError):
    """An audio file could not be read.

    Parameters
    ----------
    path : path of the file that failed
    reason : a short, human-readable reason ("file is empty", "not an audio file")
    transient : the cause may go away without the file changing (permissions, I/O)
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, *,
                 transient: bool = False) -> None:
        self.path = str(path)
        self.reason = reason
        self.transient = transient
        super().__init__(f"cannot read {self.path!r}: {reason}")


class StoreAccessError(ResonanceError):
    """The library database or catalog on disk cannot be read or written."""


class Cancelled(ResonanceError):
    """A long computation was stopped because its caller asked it to (``should_stop``)."""

    transient = True


def stopper(should_stop: Callable[[], bool] | None, message: str) -> Callable[[], None]:
    """A check for the loops of a long computation: raises :class:`Cancelled`
    (``message``) once ``should_stop`` returns True (never without one)."""

    def stop() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled(message)

    return stop


class ScanBusyError(ResonanceError):
    """Another process is scanning the library."""


class ModelError(ResonanceError):
    """An embedding model is missing, malformed or does not fit its card."""

    transient = True  # a file that failed for the model's sake is tried again
