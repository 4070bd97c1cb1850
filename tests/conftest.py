"""Test-wide set-up: headless Qt, seeded randomness, generated audio fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator, fresh per test."""
    return np.random.default_rng(20261125)
