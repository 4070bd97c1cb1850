"""Resonance engine: decoding, features, embedding, catalog and search.

The engine is the Qt-free, torch-free core of Resonance. Everything the desktop
app can do, the engine can do headless.
"""

from engine.errors import (
    DecodeError,
    ModelError,
    ParameterError,
    ResonanceError,
    StoreAccessError,
)

__all__ = [
    "DecodeError",
    "ModelError",
    "ParameterError",
    "ResonanceError",
    "StoreAccessError",
]
