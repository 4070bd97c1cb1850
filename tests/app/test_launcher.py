"""The ``resonance`` entry point: command line, or the app on the given paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from resonance_app import launcher


def test_command_words_go_to_the_command_line(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "features").write_text("a file named like a command")
    called = []
    monkeypatch.setattr("resonance_app.app.run_app", lambda **kw: called.append(kw) or 0)
    with pytest.raises(SystemExit):
        launcher.main(["features"])  # exists as a file, but it is a command
    assert not called and "usage: resonance features" in capsys.readouterr().err


def test_existing_paths_open_the_app(monkeypatch, tmp_path):
    song = tmp_path / "song.flac"
    song.write_bytes(b"x")
    called = []
    monkeypatch.setattr("resonance_app.app.run_app", lambda **kw: called.append(kw) or 0)
    assert launcher.main([str(tmp_path), str(song)]) == 0
    assert called == [{"open_paths": [tmp_path, Path(song)]}]


def test_open_in_window_adds_folders_and_seeds_the_first_file(qtbot, make_main_window,
                                                              library, tmp_path):
    from resonance_app.app import open_in_window

    song = tmp_path / "a.mp3"
    song.write_bytes(b"x")
    w = make_main_window(library)
    with qtbot.waitSignal(w.session.resultsReady, timeout=3000):
        open_in_window(w, [tmp_path, song, tmp_path / "missing.wav"])
    qtbot.waitUntil(lambda: tmp_path in library.roots(), timeout=3000)
    assert [c for c in library.calls if c[0] == "analyze_seed"] == [("analyze_seed", song)]
    assert w.session.seed_label == "a.mp3"
