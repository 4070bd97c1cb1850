"""Nothing is skipped silently: dangling links, link loops, FIFOs and paths over the OS
limits met by the walk are listed in ``status`` with a reason, and the scan goes on."""

from __future__ import annotations

import json
import os

from engine.cli import main
from tests.model_factory import build_model, write_music


def deep_file(folder, source) -> str:
    """A music file whose full path is longer than the OS allows (PATH_MAX)."""
    fd = os.open(folder, os.O_RDONLY)
    depth = 0
    try:
        while len(str(folder)) + depth * 201 < os.pathconf(folder, "PC_PATH_MAX") + 300:
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, depth = child, depth + 1
        out = os.open("deep.flac", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, source.read_bytes())
        os.close(out)
    finally:
        os.close(fd)
    return "d" * 200


def test_walk_problems_are_listed_with_a_reason(tmp_path, capsys):
    model = build_model(tmp_path / "model")
    music = tmp_path / "music"
    songs = write_music(music, 2, seconds=6)
    os.symlink(music / "nowhere.flac", music / "dangling.flac")
    os.symlink(music / "b.mp3", music / "a.mp3")
    os.symlink(music / "a.mp3", music / "b.mp3")
    os.mkfifo(music / "pipe.mp3")
    top = deep_file(music, songs[0])
    lib = ["--library", str(tmp_path / "lib"), "--model", str(model)]
    assert main(["scan", str(music), "--workers", "0", "--quiet", *lib]) == 0
    capsys.readouterr()
    assert main(["status", "--json", *lib]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ok"] == 2
    reasons = {os.path.basename(e["path"]): e["reason"] for e in status["errors"]}
    assert "target does not exist" in reasons["dangling.flac"]
    assert "loop" in reasons["a.mp3"] and "loop" in reasons["b.mp3"]
    assert "named pipe" in reasons["pipe.mp3"]
    assert any("too long" in r for p, r in reasons.items() if p.startswith(top[:10]))
    assert main(["status", *lib]) == 0
    text = capsys.readouterr().out
    assert "dangling.flac: broken link" in text and "pipe.mp3: not an audio file" in text
