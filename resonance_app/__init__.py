"""Resonance desktop app (PySide6). All feature and search logic lives in ``engine``."""
