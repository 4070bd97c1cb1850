"""Hostile input at the command line: one clear line and a non-zero exit, never a hang,
a traceback, a silently wrong result, or output that can be forged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.cli import main
from tests.model_factory import build_model, write_music

ROOT = Path(__file__).resolve().parents[2]
EVIL = "evil\n  1.  1.000  forged [passwd]\x1b[31m\r"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    model = build_model(root / "model")
    files = write_music(root / "music", 3, seconds=8)
    evil = root / "music" / f"{EVIL}.flac"
    evil.write_bytes(files[0].read_bytes() + b"")
    os.utime(evil)
    (root / "music" / f"{EVIL}bad.mp3").write_bytes(b"\x01" * 400)
    base = ["--library", str(root / "lib"), "--model", str(model)]
    assert main(["scan", str(root / "music"), "--workers", "0", "--quiet", *base]) == 0
    return root, base, files, evil


def run_timed(argv: list[str]) -> tuple[int, float, str]:
    """Run ``resonance ARGV`` in a real process; returns exit code, wall seconds, stderr."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "resonance_app.launcher", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    return proc.returncode, time.perf_counter() - started, proc.stderr


def hostile_seeds(tmp: Path) -> dict[str, str]:
    fifo = tmp / "pipe.mp3"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp / "sock.flac"))
    (tmp / "folder.mp3").mkdir()
    return {"fifo": str(fifo), "socket": str(tmp / "sock.flac"), "zero": "/dev/zero",
            "urandom": "/dev/urandom", "folder": str(tmp / "folder.mp3")}


@pytest.mark.parametrize("command", ["similar", "playlist"])
def test_hostile_seeds_fail_fast_with_one_line(env, tmp_path, command):
    _root, base, _, _ = env
    for kind, seed in hostile_seeds(tmp_path).items():
        extra = ["--out", str(tmp_path / f"{kind}.m3u8")] if command == "playlist" else []
        code, elapsed, err = run_timed([command, seed, *extra, *base])
        assert code == 1, (kind, err)
        assert elapsed < 1.0, (kind, elapsed)
        assert err.startswith("resonance: error:") and err.count("\n") == 1, (kind, err)
        assert "not an audio file" in err and "Traceback" not in err, (kind, err)


def test_hostile_seed_through_the_library_api(env, tmp_path):
    """What the GUI's open/drop paths call: fails at once, before any tag reading."""
    root, base, _, _ = env
    seeds = hostile_seeds(tmp_path)
    code = textwrap.dedent("""
        import sys
        from engine.errors import DecodeError
        from engine.library import Library
        with Library.open(sys.argv[1], model_dir=sys.argv[2]) as lib:
            for seed in sys.argv[3:]:
                try:
                    lib.analyze_seed(seed)
                except DecodeError as exc:
                    print(exc.reason)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(root / "lib"), base[3],
                           *seeds.values()], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    reasons = proc.stdout.splitlines()
    assert len(reasons) == len(seeds), proc.stderr
    assert all("not an audio file" in r for r in reasons)


def expect_refusal(capsys, argv: list[str], message: str) -> None:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (argv, out)
    assert err.startswith("resonance: error:") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("weights", ["nan,1,1", "1,inf,1", "1e308,1,1", "-1,1,1", "1,1,1,1"])
def test_bad_weights_are_refused(env, capsys, weights):
    _root, base, files, _ = env
    expect_refusal(capsys, ["similar", str(files[0]), "--json", f"--weights={weights}", *base],
                   "--weights")


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary\x00", b"caf\xe9\n",
                                     b"1\x00\n2\n"])
def test_binary_or_non_utf8_batch_file_is_refused(env, capsys, tmp_path, content):
    _root, base, _, _ = env
    batch = tmp_path / "batch.txt"
    batch.write_bytes(content)
    expect_refusal(capsys, ["similar", "--batch", str(batch), *base], "--batch")


def test_non_ascii_digit_seed_is_a_missing_file(env, capsys):
    _root, base, _, _ = env
    expect_refusal(capsys, ["similar", "²", *base], "file not found")


def test_features_out_on_an_existing_file(env, capsys, tmp_path):
    _root, _base, files, _ = env
    taken = tmp_path / "taken"
    taken.write_text("keep me", encoding="utf-8")
    expect_refusal(capsys, ["features", str(files[0]), "--out", str(taken)], "--out")
    assert taken.read_text(encoding="utf-8") == "keep me"


def test_scan_of_a_missing_folder_or_a_file_is_refused(env, capsys, tmp_path):
    _root, base, files, _ = env
    lib = ["--library", str(tmp_path / "lib"), "--model", base[3]]
    expect_refusal(capsys, ["scan", str(tmp_path / "nope"), "--workers", "0", *lib],
                   "no such folder")
    expect_refusal(capsys, ["scan", str(files[0]), "--workers", "0", *lib], "not a folder")
    assert main(["scan", str(tmp_path), "--workers", "0", "--quiet", *lib]) == 0
    capsys.readouterr()
    assert main(["status", "--json", *lib]) == 0
    assert json.loads(capsys.readouterr().out)["roots"] == [str(tmp_path.resolve())]


@pytest.mark.parametrize("command", [["similar", "1"], ["status"], ["export", "x", "--out",
                                                                    "x.m3u8"]])
def test_query_commands_never_create_a_library(env, capsys, tmp_path, command):
    _root, base, _, _ = env
    typo = tmp_path / "libary"
    expect_refusal(capsys, [*command, "--library", str(typo), "--model", base[3]],
                   "no library")
    assert not typo.exists()


def test_query_on_an_empty_library_says_so(env, capsys, tmp_path):
    _root, base, files, _ = env
    lib = ["--library", str(tmp_path / "empty"), "--model", base[3]]
    (tmp_path / "nothing").mkdir()
    assert main(["scan", str(tmp_path / "nothing"), "--workers", "0", "--quiet", *lib]) == 0
    expect_refusal(capsys, ["similar", str(files[0]), *lib], "no searchable tracks")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("suffix", [".m3u", ".m3u8", ".xspf"])
def test_utf16_playlists_are_decoded(env, capsys, tmp_path, encoding, suffix):
    _root, base, files, _ = env
    if suffix == ".xspf":
        uri = files[1].resolve().as_uri()
        text = (f'<?xml version="1.0" encoding="UTF-16"?>\n<playlist version="1" '
                f'xmlns="http://xspf.org/ns/0/"><trackList><track><location>{uri}'
                "</location></track></trackList></playlist>\n")
    else:
        text = f"#EXTM3U\n#EXTINF:8,Someone - Tōne\n{files[1]}\n"
    playlist = tmp_path / f"list{suffix}"
    playlist.write_bytes(text.encode(encoding))
    capsys.readouterr()
    assert main(["import", str(playlist), "--name", f"w-{encoding}{suffix}", *base]) == 0
    assert "imported 1 library tracks" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".m3u8", ".xspf"])
def test_nul_or_undecodable_playlists_are_refused(env, capsys, tmp_path, suffix):
    _root, base, files, _ = env
    for i, data in enumerate([f"#EXTM3U\n{files[1]}\x00\n".encode(),
                              b"\x00\x00\xff\xfe\xfa\x00\xd8\x00\xdc" * 7]):
        playlist = tmp_path / f"bad{i}{suffix}"
        playlist.write_bytes(data)
        expect_refusal(capsys, ["import", str(playlist), *base], "playlist")


def test_control_characters_in_names_are_escaped(env, capsys):
    _root, base, _files, evil = env
    capsys.readouterr()
    assert main(["similar", str(evil), "-k", "5", *base]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 1 + 3  # heading and the three other library tracks
    assert "\\n" in lines[0] and "\\x1b" in lines[0]
    assert not any(line.lstrip().startswith("1.  1.000  forged") for line in lines)
    assert main(["status", *base]) == 0
    status = capsys.readouterr().out
    assert "\x1b" not in status and "\\x1b[31m" in status
    assert not any(line.startswith("  1.") for line in status.splitlines())
    assert main(["similar", str(evil), "-k", "5", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == str(evil)


def test_error_lines_cannot_be_forged(env, capsys, tmp_path):
    _root, base, _files, _evil = env
    capsys.readouterr()
    forged = tmp_path / "model\nresonance: all good\x1b[2K"
    assert main(["similar", "1", "--library", base[1], "--model", str(forged)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error: no embedding model") and err.count("\n") == 1
    assert "\x1b" not in err and "\\nresonance: all good\\x1b[2K" in err
