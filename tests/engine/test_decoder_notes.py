"""libmpg123's notes on a damaged MP3 stay off stderr; the file still decodes, and
whatever else is printed meanwhile still reaches stderr."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio import audio_info, load_audio, stream_audio
from engine.cli import main
from engine.decoder_notes import quiet_mpg123
from tests.audio_factory import song, write_audio, write_lossy
from tests.model_factory import build_model

SR = 16000


def damaged_mp3(path: Path, y: np.ndarray, *, sr: int = SR) -> Path:
    """An MP3 of ``y`` with 100 junk bytes before a frame half-way through (a bad splice or
    a damaged download): libmpg123 resyncs past them, and says so on stderr."""
    write_lossy(path, y, sr=sr, bit_rate=64_000)
    data = path.read_bytes()
    frame = data.index(b"\xff", len(data) // 2)
    while data[frame + 1] & 0xE0 != 0xE0:  # the next frame's sync word
        frame = data.index(b"\xff", frame + 1)
    junk = bytes(np.random.default_rng(4).integers(0, 256, 100, dtype=np.uint8))
    path.write_bytes(data[:frame] + junk + data[frame:])
    return path


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    return damaged_mp3(tmp_path / "damaged.mp3", song(0, 10.0, sr=SR))


def test_libmpg123_talks_about_the_damaged_file(damaged, capfd):
    """The premise: decoded without the engine, the file puts libmpg123's notes on fd 2."""
    capfd.readouterr()
    data, _ = sf.read(str(damaged))
    err = capfd.readouterr().err
    assert "Illegal Audio-MPEG-Header" in err and len(data) == 10 * SR


def test_the_damaged_mp3_decodes_with_a_clean_stderr(damaged, capfd, caplog):
    caplog.set_level(logging.INFO, logger="engine.decoder_notes")
    capfd.readouterr()
    assert load_audio(damaged, sr=SR).size == 10 * SR
    assert load_audio(damaged, sr=SR, offset=6.0, duration=3.0).size == 3 * SR
    assert sum(b.size for b in stream_audio(damaged, sr=SR, block_seconds=2.0)) == 10 * SR
    assert audio_info(damaged).duration == pytest.approx(10.0, abs=0.1)
    assert capfd.readouterr().err == ""
    assert "libmpg123: Note: Illegal Audio-MPEG-Header" in caplog.text  # kept for the log


def test_other_output_still_reaches_stderr(damaged, capfd):
    """Another thread's error printed while MP3s decode is passed on, from Python or from
    C; stderr is itself again once every decode has ended."""
    capfd.readouterr()
    inside = threading.Event()

    def decode() -> None:
        for _ in range(3):
            load_audio(damaged, sr=SR)

    def report() -> None:
        with quiet_mpg123():  # a decode under way in this thread too
            inside.set()
            print("a real error from Python", file=sys.stderr)
            os.write(2, b"a real error from C\n")

    threads = [threading.Thread(target=decode) for _ in range(3)]
    threads.append(threading.Thread(target=report))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside.is_set()
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert err.splitlines() == ["a real error from Python", "a real error from C", "after"]


def test_the_cli_scans_and_checks_duplicates_with_a_clean_stderr(tmp_path, capfd):
    music = tmp_path / "music"
    music.mkdir()
    y = song(0, 30.0, sr=SR)
    write_audio(music / "orig.flac", y, sr=SR)
    damaged_mp3(music / "copy.mp3", y)
    model = build_model(tmp_path / "model")
    lib = ["--library", str(tmp_path / "lib")]
    capfd.readouterr()
    assert main(["scan", str(music), "--workers", "0", "--quiet", *lib,
                 "--model", str(model)]) == 0
    assert main(["duplicates", *lib]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    assert "copy.mp3" in out and "orig.flac" in out  # the damaged copy is found, decoded
