"""The feature front-end: shapes, physics, segmentation and odd inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ChromaConfig, FeatureConfig, MelConfig, SegmentConfig, TempoConfig
from engine.dsp import LOG_FLOOR_DB
from engine.errors import ParameterError
from engine.features import (
    analyze_file,
    extract_features,
    segment_features,
    segment_starts,
    select_starts,
)
from tests.audio_factory import PITCH_CLASS, chord, click_track, noise, tone, write_audio

SMALL = FeatureConfig(segment=SegmentConfig(seconds=4.0, hop_seconds=2.0, hpss=False),
                      mel=MelConfig(sr=22050, n_mels=64, n_fft=2048),
                      tempo=TempoConfig(win=128))


def _with_hpss(cfg: FeatureConfig, hpss: bool) -> FeatureConfig:
    return dataclasses.replace(cfg, segment=dataclasses.replace(cfg.segment, hpss=hpss))


def test_seed_defaults_give_the_seed_shapes():
    cfg = FeatureConfig()
    assert (cfg.sr, cfg.hop_length, cfg.segment_frames, cfg.segment_hop_frames) == (
        44100, 882, 900, 200)
    y = tone(440.0, 20.0)
    segs = segment_features(extract_features(y, config=cfg), config=cfg)
    assert segs.mel.shape == (2, 160, 900)
    assert segs.chroma.shape == (2, 24, 900)
    assert segs.tempo.shape == (2, 320)
    assert segs.starts.tolist() == pytest.approx([0.0, 2.02], abs=0.01)  # end-aligned


@pytest.mark.parametrize(("n_mels", "bins", "win"), [(32, 12, 64), (96, 24, 200), (128, 36, 256)])
def test_shapes_follow_the_config(n_mels, bins, win):
    cfg = FeatureConfig(segment=SegmentConfig(seconds=3.0, hop_seconds=1.0),
                        mel=MelConfig(sr=16000, n_mels=n_mels, n_fft=1024, hop_ms=25.0),
                        chroma=ChromaConfig(bins=bins), tempo=TempoConfig(win=win))
    segs = segment_features(extract_features(noise(7.0, sr=16000), config=cfg), config=cfg)
    assert segs.mel.shape == (5, n_mels, 120)
    assert segs.chroma.shape == (5, bins, 120)
    assert segs.tempo.shape == (5, win)
    assert all(a.dtype == np.float32 for a in (segs.mel, segs.chroma, segs.tempo, segs.starts))


@pytest.mark.parametrize("note", ["A", "C", "F#"])
@pytest.mark.parametrize("hpss", [False, True])
def test_tone_lands_in_its_chroma_bin(note, hpss):
    midi = 60 + PITCH_CLASS[note]
    cfg = _with_hpss(SMALL, hpss)
    feats = extract_features(tone(440.0 * 2 ** ((midi - 69) / 12), 3.0, sr=22050), config=cfg)
    profile = feats.chroma[:, 10:-10].mean(axis=1)
    assert profile.argmax() == 2 * PITCH_CLASS[note]  # 24 bins: two per semitone


def test_chord_lights_its_three_pitch_classes():
    feats = extract_features(chord([57, 60, 64], 3.0, sr=22050), config=SMALL)  # A minor
    profile = feats.chroma[:, 10:-10].mean(axis=1)
    top3 = sorted(int(i) // 2 for i in np.argsort(profile)[-3:])
    assert top3 == [0, 4, 9]


@pytest.mark.parametrize("bpm", [90.0, 120.0, 150.0])
@pytest.mark.parametrize("hpss", [False, True])
def test_click_track_period_shows_in_tempo_vector(bpm, hpss):
    cfg = _with_hpss(FeatureConfig(segment=SegmentConfig(seconds=8.0, hop_seconds=4.0),
                                   mel=MelConfig(sr=22050, n_mels=64, n_fft=2048)), hpss)
    y = click_track(bpm, 12.0, sr=22050) + tone(330.0, 12.0, sr=22050, amp=0.2)
    segs = segment_features(extract_features(y, config=cfg), config=cfg)
    period_frames = 60.0 / bpm * cfg.frame_rate
    lag = 10 + int(np.argmax(segs.tempo[0][10:int(period_frames * 1.5)]))
    assert lag == pytest.approx(period_frames, rel=0.05)


def test_hpss_keeps_chroma_clean_of_drums():
    y = tone(440.0, 6.0, sr=22050, amp=0.2) + click_track(120, 6.0, sr=22050, amp=0.9)
    plain = extract_features(y, config=SMALL).chroma
    separated = extract_features(y, config=_with_hpss(SMALL, True)).chroma

    def purity(c: np.ndarray) -> float:
        return float(c[18, 10:-10].mean() / c[:, 10:-10].mean())

    assert purity(separated) > purity(plain)


@pytest.mark.parametrize(("n_frames", "expected"), [
    (1, [0]), (899, [0]), (900, [0]), (901, [0]), (1000, [0, 100]), (1100, [0, 200]),
    (1300, [0, 200, 400]), (1350, [0, 200, 400]), (1400, [0, 200, 400, 500]),
])
def test_segment_starts_cover_the_track(n_frames, expected):
    assert segment_starts(n_frames, length=900, hop=200).tolist() == expected


def test_segment_count_of_a_long_track():
    starts = segment_starts(180_000, length=900, hop=200)  # one hour at 20 ms
    assert starts.size == 897 and starts[-1] == 180_000 - 900
    picked = select_starts(starts, 4)
    assert picked.tolist() == [0, starts[299], starts[597], starts[-1]]


def test_short_track_is_padded_with_silence_floor():
    cfg = dataclasses.replace(SMALL, segment=dataclasses.replace(SMALL.segment, short="pad"))
    feats = extract_features(tone(440.0, 1.0, sr=22050), config=cfg)
    segs = segment_features(feats, config=cfg)
    assert len(segs) == 1
    real = feats.n_frames
    assert np.all(segs.mel[0, :, real:] == LOG_FLOOR_DB)
    assert np.all(segs.chroma[0, :, real:] == 0.0)
    np.testing.assert_allclose(segs.tempo[0], feats.tempogram.mean(axis=1), atol=1e-5)


def test_short_recording_is_tiled_by_default():
    assert SMALL.segment.short == "tile"
    feats = extract_features(chord([60, 64, 67], 1.5, sr=22050), config=SMALL)
    segs = segment_features(feats, config=SMALL)
    real = feats.n_frames
    assert len(segs) == 1 and segs.mel.shape[2] > real
    np.testing.assert_array_equal(segs.mel[0, :, real : 2 * real], feats.mel[:, : real])
    last = SMALL.segment_frames - 1
    np.testing.assert_array_equal(segs.mel[0, :, last], feats.mel[:, last % real])  # no silence
    np.testing.assert_allclose(segs.tempo[0], feats.tempogram.mean(axis=1), atol=1e-5)


def test_features_are_deterministic():
    y = noise(5.0, sr=22050, seed=3) + tone(300.0, 5.0, sr=22050)
    cfg = _with_hpss(SMALL, True)
    a, b = extract_features(y, config=cfg), extract_features(y.copy(), config=cfg)
    for name in ("mel", "chroma", "tempogram"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_analyze_file_decodes_and_segments(tmp_path):
    path = write_audio(tmp_path / "x.flac", tone(440.0, 9.0))
    feats, segs = analyze_file(path, config=SMALL, max_segments=2)
    assert feats.duration == pytest.approx(9.0, abs=0.01)
    assert len(segs) == 2 and segs.starts[0] == 0.0


def test_bad_segment_starts_are_rejected():
    feats = extract_features(tone(440.0, 5.0, sr=22050), config=SMALL)
    with pytest.raises(ParameterError):
        segment_features(feats, config=SMALL, starts=np.array([10_000]))
    with pytest.raises(ParameterError):
        extract_features(np.zeros((2, 100), np.float32), config=SMALL)


def test_config_round_trips_through_yaml(tmp_path):
    cfg = FeatureConfig(mel=MelConfig(n_mels=96, hop_ms=40.0), chroma=ChromaConfig(bins=12))
    cfg.to_yaml(tmp_path / "f.yaml")
    assert FeatureConfig.from_yaml(tmp_path / "f.yaml") == cfg


def test_shipped_base_yaml_carries_the_seed_defaults():
    from engine.config import default_config_dir, load_yaml

    base = load_yaml(default_config_dir() / "base.yaml")
    assert FeatureConfig.from_base_config(base) == FeatureConfig()
    assert base["train"]["early_stopping"]["monitor"] == "recall@5"
    assert base["fusion"] == {"mode": "gated_add", "embed_dim": 512}
    space = load_yaml(default_config_dir() / "search_space.yaml")
    assert set(space) == {"lr", "batch_identities", "temperature", "weight_decay", "fusion_mode"}


@pytest.mark.parametrize("bad", [{"mel": {"sr": 100}}, {"chroma": {"bins": 13}},
                                 {"mel": {"n_mels": 40, "colour": 3}}])
def test_invalid_config_is_rejected(bad):
    with pytest.raises(ParameterError):
        FeatureConfig.from_dict(bad)


# -- odd inputs -------------------------------------------------------------------------

SIGNALS = st.sampled_from(["silence", "dc", "clipped", "noise", "impulse", "nan"])


def _odd_signal(kind: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    return {
        "silence": np.zeros(n, np.float32),
        "dc": np.full(n, 0.7, np.float32),
        "clipped": np.clip(rng.standard_normal(n) * 10, -1, 1).astype(np.float32),
        "noise": (rng.standard_normal(n) * 1e-6).astype(np.float32),
        "impulse": np.eye(1, n, n // 2, dtype=np.float32)[0],
        "nan": np.where(rng.random(n) < 0.01, np.nan, 0.1).astype(np.float32),
    }[kind]


@settings(max_examples=40, deadline=None)
@given(kind=SIGNALS, n=st.integers(min_value=1, max_value=60_000), hpss=st.booleans())
def test_odd_signals_give_finite_features(kind, n, hpss):
    cfg = _with_hpss(SMALL, hpss)
    segs = segment_features(extract_features(_odd_signal(kind, n), config=cfg), config=cfg)
    for arr in (segs.mel, segs.chroma, segs.tempo):
        assert np.isfinite(arr).all()
    assert segs.mel.shape[1:] == (64, cfg.segment_frames)


@settings(max_examples=12, deadline=None)
@given(rate=st.sampled_from([8000, 11025, 44100, 96000]), channels=st.integers(1, 6),
       seconds=st.sampled_from([0.0005, 0.3, 2.5]), kind=SIGNALS)
def test_odd_files_decode_or_fail_cleanly(tmp_path_factory, rate, channels, seconds, kind):
    from engine.errors import ResonanceError

    n = max(1, int(rate * seconds))
    data = np.repeat(_odd_signal(kind, n)[:, None], channels, axis=1)
    path = tmp_path_factory.mktemp("odd") / "odd.wav"
    write_audio(path, np.nan_to_num(data), sr=rate)
    try:
        _, segs = analyze_file(path, config=SMALL)
    except ResonanceError:
        return
    assert np.isfinite(segs.mel).all() and np.isfinite(segs.tempo).all()


def test_strided_tempogram_holds_the_full_tempogram_at_run_centres():
    from engine import dsp

    onset = np.random.default_rng(3).random(1001).astype(np.float32)
    full = dsp.tempogram(onset, win_length=64)
    strided = dsp.tempogram(onset, win_length=64, stride=4)
    assert strided.shape == full.shape
    centres = np.minimum(np.arange(1001) // 4 * 4 + 2, 1000)
    np.testing.assert_allclose(strided, full[:, centres], atol=1e-6)
    # a segment's rhythm vector barely moves: the tempogram is smooth over 4 frames
    assert np.abs(strided[:, 100:600].mean(1) - full[:, 100:600].mean(1)).max() < 0.02
