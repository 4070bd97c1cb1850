"""Features computed on windows around the chosen segments equal whole-track features."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import windowed
from engine.features import extract_features, segment_features
from engine.windowed import selected_segments
from tests.audio_factory import song
from tests.model_factory import small_feature_config, with_segments

SR = 16000


@pytest.mark.parametrize("hpss, stride", [(False, 1), (True, 1), (False, 4)])
@pytest.mark.parametrize("seconds, max_segments", [(60.0, 3), (61.37, 8), (30.0, 2),
                                                   (20.0, None), (3.0, 4)])
def test_windowed_segments_equal_whole_track_segments(hpss, stride, seconds, max_segments,
                                                      monkeypatch):
    config = small_feature_config(hpss=hpss)
    config = dataclasses.replace(config, tempo=dataclasses.replace(config.tempo, stride=stride))
    y = song(11, seconds, sr=SR)
    want = segment_features(extract_features(y, config=config), config=config,
                            max_segments=max_segments)
    lengths = []

    def spy(piece, *, config):
        lengths.append(piece.size)
        return extract_features(piece, config=config)

    monkeypatch.setattr(windowed, "extract_features", spy)
    got = selected_segments(y, config=config, max_segments=max_segments)
    if seconds >= 30 and max_segments:  # the windows skip part of the track
        assert sum(lengths) < 0.85 * y.size
    np.testing.assert_array_equal(got.starts, want.starts)
    np.testing.assert_allclose(got.mel, want.mel, atol=1e-4)
    np.testing.assert_allclose(got.chroma, want.chroma, atol=1e-5)
    np.testing.assert_allclose(got.tempo, want.tempo, atol=1e-5)


def test_overlapping_windows_are_merged():
    config = with_segments(small_feature_config(), hop_seconds=1.0)
    y = song(12, 40.0, sr=SR)
    want = segment_features(extract_features(y, config=config), config=config,
                            max_segments=12)
    got = selected_segments(y, config=config, max_segments=12)
    np.testing.assert_allclose(got.mel, want.mel, atol=1e-4)
    np.testing.assert_allclose(got.tempo, want.tempo, atol=1e-5)
