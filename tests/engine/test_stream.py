"""Dense segments computed piece by piece from streamed audio equal whole-track segments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import dsp
from engine.audio import load_audio, stream_audio
from engine.features import extract_features, segment_features
from engine.locate import (
    PRINT_BANDS,
    PRINT_POOL,
    PrintBuilder,
    align_frames,
    encode_print,
    locate_in_print,
    print_groups,
)
from engine.stream import stream_prints, stream_segments
from engine.versions import VersionPrintBuilder, pool_frames, version_print
from tests.audio_factory import song, write_audio
from tests.model_factory import small_feature_config

SR = 16000


def _blocks(y: np.ndarray, size: int):
    return (y[i:i + size] for i in range(0, y.size, size))


@pytest.mark.parametrize("hpss, stride", [(False, 1), (True, 1), (False, 4)])
@pytest.mark.parametrize("seconds, block, chunk", [(61.37, 0.7, 3), (45.0, 7.0, 5),
                                                   (3.0, 1.0, 4), (4.5, 10.0, 2),
                                                   (30.0, 30.0, 100)])
def test_streamed_segments_equal_whole_track_segments(hpss, stride, seconds, block, chunk):
    config = small_feature_config(hpss=hpss)
    config = dataclasses.replace(config, tempo=dataclasses.replace(config.tempo, stride=stride))
    y = song(11, seconds, sr=SR)
    want = segment_features(extract_features(y, config=config), config=config)
    parts = list(stream_segments(_blocks(y, int(block * SR)), config=config,
                                 chunk_segments=chunk))
    assert all(len(p) == chunk for p in parts[:-1])
    np.testing.assert_array_equal(np.concatenate([p.starts for p in parts]), want.starts)
    for name in ("mel", "chroma", "tempo"):
        got = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_allclose(got, getattr(want, name), atol=1e-4)


@pytest.mark.parametrize("suffix, rate", [(".flac", SR), (".ogg", 22050), (".m4a", SR)])
def test_streamed_decoding_equals_whole_file_decoding(tmp_path, suffix, rate):
    path = write_audio(tmp_path / f"a{suffix}", song(3, 20.0, sr=rate), sr=rate)
    whole = load_audio(path, sr=SR)
    streamed = np.concatenate(list(stream_audio(path, sr=SR, block_seconds=3.0)))
    assert abs(streamed.size - whole.size) <= SR // 100
    n = min(streamed.size, whole.size)
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 2e-3


def test_streaming_a_bad_file_is_a_decode_error(tmp_path):
    from engine.errors import DecodeError

    path = tmp_path / "bad.ogg"
    path.write_bytes(b"not audio at all" * 100)
    with pytest.raises(DecodeError):
        list(stream_audio(path, sr=SR))


@pytest.mark.parametrize("seconds, block, chunk, piece", [(61.37, 0.7, 3, 2),
                                                          (45.0, 7.0, 5, 6),
                                                          (3.0, 1.0, 4, 1)])
def test_alignment_prints_streamed_equal_whole_track_prints(seconds, block, chunk, piece):
    config = small_feature_config()
    y = song(12, seconds, sr=SR)
    whole = encode_print(print_groups(align_frames(y, config=config)))
    builder = PrintBuilder(config)
    list(stream_segments(_blocks(y, int(block * SR)), config=config, chunk_segments=chunk,
                         prints=builder))
    scanned = builder.codes()
    decoded = stream_prints(_blocks(y, int(block * SR)), config=config, chunk_segments=piece)[0]
    assert whole.shape == (PRINT_BANDS, dsp.n_frames(y.size, config.hop_length) // PRINT_POOL)
    for got in (scanned, decoded):
        assert got.shape == whole.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - whole).max() <= 1  # float rounding, one step at most


@pytest.mark.parametrize("seconds, block, chunk", [(61.37, 0.7, 3), (45.0, 7.0, 2),
                                                   (3.0, 1.0, 4)])
def test_version_prints_streamed_equal_whole_track_prints(seconds, block, chunk):
    config = small_feature_config(hpss=True)
    y = song(7, seconds, sr=SR)
    whole = version_print(y, config=config)
    builder = VersionPrintBuilder(config)
    list(stream_segments(_blocks(y, int(block * SR)), config=config, chunk_segments=chunk,
                         versions=builder))
    decoded = stream_prints(_blocks(y, int(block * SR)), config=config, chunk_segments=chunk)[1]
    assert whole.shape == (12, dsp.n_frames(y.size, config.hop_length) // pool_frames(config))
    assert whole.shape[1] > 0 and whole.max() > 100  # a song has harmonies
    for got in (builder.codes(), decoded):
        assert got.shape == whole.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - whole).max() <= 1  # float rounding, one step at most


def test_an_excerpt_is_placed_to_the_frame_over_a_track_print():
    config = small_feature_config()
    y = np.concatenate([song(200 + i, 6.0, sr=SR) for i in range(10)])  # no repeats
    codes = encode_print(print_groups(align_frames(y, config=config)))
    frame = config.hop_length / config.sr
    for start in (0.0, 13.37, 47.9):
        clip = y[int(start * SR): int((start + 8.0) * SR)]
        found = locate_in_print(align_frames(clip, config=config), codes, config=config)
        assert found is not None and abs(found.offset - start) <= 2 * frame
        assert found.confidence > 0.9
    assert locate_in_print(align_frames(y, config=config), codes[:, :10], config=config) is None
