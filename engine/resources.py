"""Locate the files that ship with Resonance (configs, the default model, icons).

Works from a source checkout, an installed wheel and a PyInstaller bundle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.errors import ResonanceError


def resources_root() -> Path:
    """Root folder of the shipped resources.

    ``RESONANCE_RESOURCES`` overrides it; a frozen bundle keeps them beside the
    executable's data; otherwise the ``resources`` package found on the import path.
    """
    override = os.environ.get("RESONANCE_RESOURCES")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    import resources

    return Path(resources.__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource, raising :class:`ResonanceError` when missing."""
    path = resources_root().joinpath(*parts)
    if not path.exists():
        raise ResonanceError(f"shipped resource missing: {path} (is the installation complete?)")
    return path
