"""Playback streams the decode, the seek bar and the match strip show where it matches."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from resonance_app.audio_io import FakeAudioBackend
from resonance_app.playback import Player
from resonance_app.preview_decode import PreviewStream, open_preview
from tests.audio_factory import song, write_audio

SR = 44100


class GatedStreamer:
    """Yields the first chunk at once and the rest only when ``gate`` is set."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.gate = threading.Event()
        self.offsets: list[float] = []
        self.y = (np.arange(int(seconds * SR), dtype=np.float32) / (seconds * SR))
        self.seconds = seconds

    def __call__(self, path: Path, sr: int, offset: float) -> PreviewStream:
        self.offsets.append(offset)
        start = int(offset * sr)

        def chunks() -> Iterator[np.ndarray]:
            step = sr // 4
            yield self.y[start:start + step]
            self.gate.wait(10)
            for i in range(start + step, len(self.y), step):
                yield self.y[i:i + step]

        return PreviewStream(self.seconds, chunks())


def test_playback_starts_before_the_decode_is_done(qtbot, real_pools) -> None:
    streamer = GatedStreamer()
    backend = FakeAudioBackend()
    player = Player(backend, real_pools, decoder=streamer)
    player.play("/music/a.flac", offset=2.0)
    qtbot.waitUntil(lambda: player.state == "playing", timeout=3000)
    assert not streamer.gate.is_set()  # only a quarter second was decoded
    assert player.duration == 10.0  # the bar knows the length from the container
    out = backend.last.pull(SR // 2)  # more than decoded: silence, the track goes on
    np.testing.assert_allclose(out[: SR // 4, 0], 0.8 * streamer.y[2 * SR: 2 * SR + SR // 4])
    assert np.all(out[SR // 4:] == 0) and player.state == "playing"
    # a seek past what is decoded restarts the decode there (the old one stops at its
    # next chunk: let it have one)
    player.seek(7.0)
    streamer.gate.set()
    qtbot.waitUntil(lambda: streamer.offsets == [2.0, 7.0] and player.state == "playing",
                    timeout=3000)
    assert abs(player.position - 7.0) < 1e-6
    qtbot.waitUntil(lambda: player.duration >= 10.0 and player._buffer.complete, timeout=3000)
    backend.last.pull(4 * SR)
    qtbot.waitUntil(lambda: player.state == "stopped", timeout=3000)
    player.stop()


def test_stream_decoder_matches_the_file_from_any_offset(tmp_path: Path) -> None:
    from engine.audio import load_audio

    path = write_audio(tmp_path / "a.flac", song(4, 20.0, sr=SR), sr=SR)
    stream = open_preview(path, SR, 12.5)
    first = next(stream.chunks)
    assert len(first) < 2 * SR  # a chunk, not the whole rest of the file
    rest = np.concatenate([first, *stream.chunks])
    full = load_audio(path, sr=SR)
    assert abs(len(rest) - (len(full) - int(12.5 * SR))) <= 2
    np.testing.assert_allclose(rest[:SR], full[int(12.5 * SR): int(12.5 * SR) + SR], atol=1e-4)
    assert stream.duration == 20.0


def test_no_loading_text_left_after_an_error(qtbot, make_main_window, library, prompts,
                                             tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all" * 50)
    library._visible[0] = dataclasses.replace(library._visible[0], path=bad)
    w = make_main_window(library)
    assert w.library_panel.select_track(library._visible[0].id)
    w.library_panel.play_action.trigger()  # Library ▸ Play
    qtbot.waitUntil(lambda: bool(prompts.errors), timeout=3000)
    assert "Cannot play this track" in prompts.errors[-1]
    assert w.player.state == "stopped" and "loading" not in w.player_bar.time.text()


def _orange_columns(slider) -> tuple[float, float]:
    """Where the seek bar paints its orange band, as fractions of its groove."""
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    image = slider.grab().toImage()
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    groove = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderGroove, slider)
    y = groove.center().y() - 3  # inside the band, above the groove's own line
    xs = [x for x in range(image.width())
          if (c := image.pixelColor(x, y)).red() > c.blue() + 40 and c.red() > 150]
    assert xs, "no orange band on the seek bar"
    scale = image.width() / slider.width()  # a high-dpi grab has more pixels
    return ((xs[0] / scale - groove.left()) / groove.width(),
            (xs[-1] / scale - groove.left()) / groove.width())


def test_match_strip_and_seek_bar_show_where_it_matches(qtbot, make_main_window, library,
                                                       tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.wav", song(3, 62.0, sr=8000), sr=8000)
    library._all = [dataclasses.replace(t, path=path, duration=62.0) for t in library._all]
    library._visible = list(library._all)
    w = make_main_window(library)
    w.library_panel.view.selectRow(0)
    w.library_panel.find_action.trigger()
    results = w.results
    results.view.selectRow(2)
    result = results.model.row(2)
    strip = results.strip
    assert strip.region == (result.match_offset, result.match_offset + 10.0)
    assert strip.duration == 62.0 and "Matches at" in results.strip_label.text()
    x = int(strip.x_of(30.0))
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=QPoint(x, strip.height() // 2))
    qtbot.waitUntil(lambda: w.player.state == "playing", timeout=3000)
    assert abs(w.player.position - 30.0) < 0.5
    assert w.player_bar.region == strip.region  # the seek bar shows the same region
    qtbot.waitUntil(lambda: w.player_bar.position.maximum() > 0, timeout=2000)
    assert _orange_columns(w.player_bar.position) == pytest.approx(
        (result.match_offset / 62.0, (result.match_offset + 10.0) / 62.0), abs=0.04)
    qtbot.waitUntil(lambda: strip.position is not None, timeout=2000)
    # playing a library track that is not among the results: no region on the seek bar
    listed = {r.track.id for r in results.model.rows()}
    other = next(t for t in library.tracks() if t.id not in listed)
    assert w.library_panel.select_track(other.id)
    w.library_panel.play_action.trigger()
    assert w.player_bar.region is None


def test_an_excerpt_seed_marks_its_own_length(make_main_window, library, tmp_path: Path) -> None:
    from tests.app.fakes import FakeSeed

    library._all = [dataclasses.replace(t, duration=62.0) for t in library._all]
    library._visible = list(library._all)

    class ExcerptSeed(FakeSeed):
        excerpt = True
        duration = 4.0

    library.analyze_seed = lambda seed: ExcerptSeed(7, "recording")
    w = make_main_window(library)
    w.seeds.from_recording(np.zeros(4 * 8000, np.float32), 8000)
    w.results.view.selectRow(0)
    start = w.results.model.row(0).match_offset
    assert w.results.strip.region == (start, start + 4.0)


def test_match_strip_draws_the_similarity_along_the_selected_result(
        qtbot, make_main_window, library) -> None:
    library._all = [dataclasses.replace(t, duration=62.0) for t in library._all]
    library._visible = list(library._all)
    w = make_main_window(library)
    w.library_panel.view.selectRow(0)
    w.library_panel.find_action.trigger()
    results, strip = w.results, w.results.strip
    qtbot.waitUntil(lambda: results.model.rowCount() > 3, timeout=3000)
    for row in (1, 3):
        qtbot.mouseClick(results.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=results.view.visualRect(results.model.index(row, 0)).center())
        result = results.model.row(row)
        qtbot.waitUntil(lambda r=result: ("similarity_along", r.track.id) in library.calls
                        and bool(strip.profile), timeout=3000)
        starts, scores = library.similarity_along(None, result.track.id)
        best, _end, _score = max(strip.profile, key=lambda p: p[2])
        assert [a for a, _, _ in strip.profile] == list(starts)
        assert best == starts[int(np.argmax(scores))]
        assert all(b == a + 4.0 for a, b, _ in strip.profile[:-1])  # each to the next
        assert "similarity to the seed along the track" in strip.toolTip()
    # several seeds at once: one ranking, no single seed to compare segments with
    results.view.selectRow(0)
    w.library_panel.view.selectRow(0)
    w.library_panel.view.selectionModel().select(
        w.library_panel.view.model().index(1, 0),
        w.library_panel.view.selectionModel().SelectionFlag.Select
        | w.library_panel.view.selectionModel().SelectionFlag.Rows)
    w.library_panel.together_action.trigger()
    qtbot.waitUntil(lambda: w.session.seed_label.startswith("2 songs"), timeout=3000)
    results.view.selectRow(2)
    assert results.current_result() is not None and strip.profile == []
