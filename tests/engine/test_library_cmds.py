"""The library commands: JSON shapes, JSON Lines, playlists, status, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.audio_factory import song, write_audio
from tests.model_factory import build_model, write_music

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    model = build_model(root / "model")
    files = write_music(root / "music", 6, seconds=10)
    (root / "music" / "broken.mp3").write_bytes(b"\x00" * 300)
    base = ["--library", str(root / "lib"), "--model", str(model)]
    assert main(["scan", str(root / "music"), "--workers", "0", "--quiet", *base]) == 0
    return root, base, files


def run_json_lines(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_similar_json_shape(env, capsys):
    _root, base, files = env
    (obj,) = run_json_lines(capsys, ["similar", str(files[0]), "--json", "-k", "3", *base])
    assert obj["seed"] == str(files[0])
    assert len(obj["results"]) == 3
    for result in obj["results"]:
        assert {"path", "score", "title", "artist", "modalities", "match"} <= set(result)
        assert set(result["modalities"]) == {"timbre", "harmony", "rhythm"}
        assert {"seed_offset", "offset"} <= set(result["match"])
        assert result["path"] != str(files[0])
    scores = [r["score"] for r in obj["results"]]
    assert scores == sorted(scores, reverse=True)


def test_several_seeds_and_batch_give_json_lines_in_order(env, capsys, tmp_path):
    _root, base, files = env
    clip = write_audio(tmp_path / "clip.wav", song(2, 10, sr=16000)[:6 * 16000], sr=16000)
    batch = tmp_path / "seeds.txt"
    batch.write_text(f"{files[3]}\n\n{clip}\n", encoding="utf-8")
    lines = run_json_lines(capsys, ["similar", str(files[1]), "--batch", str(batch), "--json",
                                    "--prf", "2", "--diversity", "0.4", *base])
    assert [o["seed"] for o in lines] == [str(files[1]), str(files[3]), str(clip)]
    assert lines[2]["excerpt"] is True
    assert lines[2]["results"][0]["path"] == str(files[2])


def test_human_table_and_status(env, capsys):
    _root, base, files = env
    capsys.readouterr()
    assert main(["similar", str(files[0]), "-k", "2", *base]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Similar to") and " 1. " in out and " 2. " in out
    (stats,) = run_json_lines(capsys, ["status", "--json", *base])
    assert stats["ok"] == 6 and stats["error"] == 1
    assert stats["errors"][0]["path"].endswith("broken.mp3")


def test_playlist_export_import(env, capsys, tmp_path):
    _root, base, files = env
    out = tmp_path / "mix.xspf"
    assert main(["playlist", str(files[0]), "--out", str(out), "--name", "mix", "-k", "3",
                 *base]) == 0
    assert out.read_text(encoding="utf-8").count("<track>") == 4  # the seed and 3 results
    m3u = tmp_path / "mix.m3u8"
    assert main(["export", "mix", "--out", str(m3u), *base]) == 0
    assert m3u.read_text(encoding="utf-8").startswith("#EXTM3U")
    assert main(["import", str(m3u), "--name", "copy", *base]) == 0
    assert "imported 4 library tracks" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["similar", "/no/such/file.mp3"], "file not found"),
    (["similar", "1", "--diversity", "2"], "diversity"),
    (["similar", "1", "--weights", "1,2"], "--weights"),
    (["export", "nope", "--out", "x.m3u8"], "no playlist"),
    (["similar"], "at least one seed"),
])
def test_errors_are_one_line_without_traceback(env, capsys, argv, message):
    _root, base, _files = env
    capsys.readouterr()
    assert main([*argv, *base]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_model_in_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import sys; from engine.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "scan", str(tmp_path),
                           "--library", str(tmp_path / "lib"), "--model", str(tmp_path / "m")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("resonance: error: no embedding model")
    assert "Traceback" not in proc.stderr


def test_excerpt_results_say_where_as_m_ss_and_with_a_confidence(env, capsys, tmp_path):
    _root, base, files = env  # files[4] is song(4, 10 s); the clip is its 3-9 s
    clip = write_audio(tmp_path / "clip.flac", song(4, 10, sr=16000)[3 * 16000:9 * 16000],
                       sr=16000)
    (obj,) = run_json_lines(capsys, ["similar", str(clip), "--json", "-k", "2", *base])
    top = obj["results"][0]
    assert obj["excerpt"] is True and top["path"] == str(files[4])
    assert abs(top["match"]["offset"] - 3.0) <= 0.1 and top["match"]["seed_offset"] == 0.0
    assert 0.5 < top["match"]["confidence"] <= 1.0
    capsys.readouterr()
    assert main(["similar", str(clip), "-k", "1", *base]) == 0
    assert "(seed 0:00 ~ track 0:03)" in capsys.readouterr().out


def test_similar_text_names_only_likely_versions(env, capsys):
    """The text table says "another version" only for a bonus above the likely-version
    threshold (the one that decides how a seed is listened to), as its JSON reports."""
    from engine.search import LIKELY_VERSION

    _root, base, files = env
    for seed in files[:3]:
        (obj,) = run_json_lines(capsys, ["similar", str(seed), "--json", "-k", "5", *base])
        assert main(["similar", str(seed), "-k", "5", *base]) == 0
        lines = capsys.readouterr().out.splitlines()[1:]
        assert len(lines) == len(obj["results"])
        for line, result in zip(lines, obj["results"], strict=True):
            assert result["path"] in line
            assert ("another version" in line) == (result["version_bonus"] > LIKELY_VERSION)
