"""The discovery commands: map, path, mixes and similar --together, JSON and errors."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from tests.model_factory import build_model, write_music

N_SONGS = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("discovery_cli")
    model = build_model(root / "model")
    files = write_music(root / "music", N_SONGS, seconds=10)
    base = ["--library", str(root / "lib"), "--model", str(model)]
    assert main(["scan", str(root / "music"), "--workers", "0", "--quiet", *base]) == 0
    return root, base, files


def run_json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_map_json_gives_every_track_a_place_and_a_mix(env, capsys):
    _root, base, files = env
    out = run_json(capsys, ["map", "--json", "--mixes", "3", *base])
    assert sorted(t["path"] for t in out["tracks"]) == sorted(str(f) for f in files)
    names = {m["mix"]: m["name"] for m in out["mixes"]}
    for t in out["tracks"]:
        assert -1 <= t["x"] <= 1 and -1 <= t["y"] <= 1
        assert t["mix_name"] == names[t["mix"]]
    assert sum(m["size"] for m in out["mixes"]) == N_SONGS
    again = run_json(capsys, ["map", "--json", "--mixes", "3", *base])
    assert again == out  # cached: the same map


def test_map_draws_a_png(env, capsys, tmp_path):
    from PIL import Image

    _root, base, _files = env
    capsys.readouterr()
    assert main(["map", "--out", str(tmp_path / "map.png"), *base]) == 0
    assert "map of 8 tracks" in capsys.readouterr().out
    with Image.open(tmp_path / "map.png") as image:
        assert image.format == "PNG" and image.width > image.height
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert len(colours) > 2  # dots drawn on the white background


def test_path_json(env, capsys):
    _root, base, files = env
    out = run_json(capsys, ["path", str(files[0]), str(files[5]), "-n", "3", "--json", *base])
    paths = [t["path"] for t in out["tracks"]]
    assert len(paths) == 3 and len(set(paths)) == 3
    assert paths[0] == str(files[0]) and paths[-1] == str(files[5])
    assert out["tracks"][0]["to_previous"] is None
    to_end = [t["to_end"] for t in out["tracks"]]
    assert to_end == sorted(to_end) and to_end[-1] == pytest.approx(1.0, abs=1e-5)


def test_path_by_track_id_as_a_table(env, capsys):
    _root, base, files = env
    out = run_json(capsys, ["path", str(files[1]), str(files[2]), "-n", "2", "--json", *base])
    start, end = (t["track_id"] for t in out["tracks"])
    capsys.readouterr()
    assert main(["path", str(start), str(end), "-n", "2", *base]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Path of 2 tracks:") and str(files[2]) in text


def test_mixes_json_covers_the_library_once(env, capsys):
    _root, base, files = env
    out = run_json(capsys, ["mixes", "--json", "-n", "3", *base])
    members = [t["path"] for m in out["mixes"] for t in m["tracks"]]
    assert sorted(members) == sorted(str(f) for f in files)
    for m in out["mixes"]:
        assert m["name"] and m["central"] == m["tracks"][0] and m["size"] == len(m["tracks"])


def test_mixes_of_a_given_size(env, capsys):
    _root, base, _files = env
    out = run_json(capsys, ["mixes", "--json", "--size", "4", *base])
    assert len(out["mixes"]) <= 2 and sum(m["size"] for m in out["mixes"]) == N_SONGS


def test_mixes_as_text(env, capsys):
    _root, base, _files = env
    capsys.readouterr()
    assert main(["mixes", "-n", "2", *base]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  1. ") and "tracks)" in lines[0]


def test_similar_together_gives_one_ranking_without_the_seeds(env, capsys):
    _root, base, files = env
    out = run_json(capsys, ["similar", str(files[0]), str(files[1]), "--together", "--json",
                            "-k", "4", *base])
    assert out["seeds"] == [str(files[0]), str(files[1])]
    got = [r["path"] for r in out["results"]]
    assert len(got) == 4 and not {str(files[0]), str(files[1])} & set(got)
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    capsys.readouterr()
    assert main(["similar", str(files[0]), str(files[1]), "--together", "-k", "2", *base]) == 0
    assert capsys.readouterr().out.startswith(f"Similar to {files[0]}, {files[1]}:")


@pytest.mark.parametrize("argv, message", [
    (["path", "/no/such.flac", "1"], "is not a track of this library"),
    (["path", "999", "1"], "no track with id 999"),
    (["path", "1", "1"], "two different tracks"),
    (["path", "1", "2", "-n", "1"], "at least 2"),
    (["path", "1", "2", "-n", "50"], "at most 8"),
    (["mixes", "-n", "0"], "between 1 and 8"),
    (["mixes", "-n", "9"], "between 1 and 8"),
    (["mixes", "--size", "0"], "at least 1 track"),
    (["map", "--out", "map.jpg"], "PNG"),
    (["similar", "--together"], "at least one seed"),
])
def test_bad_input_is_one_clear_line(env, capsys, argv, message):
    _root, base, _files = env
    capsys.readouterr()
    assert main([*argv, *base]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
