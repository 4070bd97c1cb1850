"""Our numpy/scipy front-end against librosa, the reference implementation.

Tolerances: filterbanks to 1e-6 (same formulas); log-mel within 0.01 dB where the
power is above -60 dB; chroma within 2e-3 (negligible filter weights are dropped
for speed); onset envelope and tempogram within 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import dsp
from engine.config import FeatureConfig
from engine.features import extract_features
from tests.audio_factory import chord, click_track, noise

librosa = pytest.importorskip("librosa")

SR = 22050
N_FFT = 2048
HOP = 441


def _no_hpss(**mel) -> FeatureConfig:
    from engine.config import MelConfig, SegmentConfig

    return FeatureConfig(segment=SegmentConfig(hpss=False),
                         mel=MelConfig(sr=SR, n_fft=N_FFT, **mel))


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    y = chord([60, 64, 67], 6.0, sr=SR) + click_track(120, 6.0, sr=SR, amp=0.4)
    return (y + noise(6.0, sr=SR, amp=0.01)).astype(np.float32)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax"),
                         [(44100, 4096, 160, 0.0, 22050.0), (22050, 2048, 96, 30.0, 8000.0),
                          (16000, 1024, 64, 0.0, 8000.0)])
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = dsp.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize(("sr", "n_fft", "n_chroma"), [(44100, 4096, 24), (22050, 2048, 12)])
def test_chroma_filterbank_matches_librosa(sr, n_fft, n_chroma):
    ours = dsp.chroma_filterbank(sr=sr, n_fft=n_fft, n_chroma=n_chroma)
    ref = librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=0.0)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_pitch_filterbank_folds_back_to_chroma():
    pitch = dsp.pitch_filterbank(sr=SR, n_fft=N_FFT, n_chroma=24)
    folded = dsp.fold_octaves(pitch, 24)
    np.testing.assert_allclose(folded, dsp.chroma_filterbank(sr=SR, n_fft=N_FFT, n_chroma=24),
                               atol=1e-7)


def test_log_mel_matches_librosa(music):
    cfg = _no_hpss(n_mels=96, hop_ms=20.0)
    ours = extract_features(music, config=cfg).mel
    ref_power = librosa.feature.melspectrogram(y=music, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                               n_mels=96, pad_mode="constant")
    ref = librosa.power_to_db(ref_power, ref=1.0, amin=1e-10, top_db=None)
    assert ours.shape == ref.shape
    loud = ref > -60
    np.testing.assert_allclose(ours[loud], ref[loud], atol=0.01)
    np.testing.assert_allclose(ours, ref, atol=0.5)


def test_chroma_matches_librosa(music):
    cfg = _no_hpss()
    ours = extract_features(music, config=cfg).chroma
    power = np.abs(librosa.stft(music, n_fft=N_FFT, hop_length=HOP, pad_mode="constant")) ** 2
    ref = librosa.feature.chroma_stft(S=power, sr=SR, n_chroma=24, tuning=0.0)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_onset_and_tempogram_match_librosa(music):
    cfg = _no_hpss()
    feats = extract_features(music, config=cfg)
    ref_onset = librosa.onset.onset_strength(S=feats.mel, sr=SR, n_fft=N_FFT, hop_length=HOP)
    ours_onset = dsp.onset_strength(feats.mel, n_fft=N_FFT, hop_length=HOP)
    np.testing.assert_allclose(ours_onset, ref_onset, rtol=1e-4, atol=1e-4)
    ref_tgram = librosa.feature.tempogram(onset_envelope=ref_onset, sr=SR, hop_length=HOP,
                                          win_length=320)
    np.testing.assert_allclose(feats.tempogram, ref_tgram, atol=1e-4)


def test_median_filter_matches_scipy(rng):
    import scipy.ndimage

    x = rng.random((37, 211)).astype(np.float32)
    for axis, size in [(0, (9, 1)), (1, (1, 17))]:
        ours = dsp.median_filter(x, size=max(size), axis=axis)
        np.testing.assert_array_equal(ours, scipy.ndimage.median_filter(x, size=size,
                                                                        mode="reflect"))
