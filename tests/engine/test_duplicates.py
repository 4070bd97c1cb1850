"""Duplicates: copies of one recording are grouped, songs that merely sound alike are not.

The library is scanned with the shipped model: the tiny random test model puts every
generated song in step with every other, so nothing would reach the exact check.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.discovery import duplicates as dup
from engine.library import Library
from engine.model import default_model_dir
from tests.audio_factory import song, write_audio, write_lossy

SR = 22050
SECONDS = 40.0


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("duplicates")
    music = root / "music"
    music.mkdir()
    orig = {s: song(s, SECONDS, sr=SR) for s in range(3)}
    for s, y in orig.items():
        write_audio(music / f"orig{s}.flac", y, sr=SR)
    write_lossy(music / "copy0.mp3", orig[0], sr=SR, bit_rate=64_000)
    write_lossy(music / "copy0.m4a", orig[0], sr=SR, bit_rate=128_000)
    write_audio(music / "trim1.flac", orig[1][5 * SR:-7 * SR], sr=SR)
    ramp = np.linspace(0.0, 1.0, 6 * SR, dtype=np.float32)
    faded = orig[2].copy()
    faded[:ramp.size] *= ramp
    faded[-ramp.size:] *= ramp[::-1]
    write_audio(music / "fade2.flac", faded, sr=SR)
    write_audio(music / "inside2.flac", np.concatenate(
        [song(40, 30.0, sr=SR), orig[2], song(41, 30.0, sr=SR)]), sr=SR)
    for s in range(3):  # same key, tempo, timbre and drums; other chords
        write_audio(music / f"alike{s}.flac", song(s, SECONDS, sr=SR, notes_seed=1), sr=SR)
    lib = Library.open(root / "lib", model_dir=default_model_dir())
    list(lib.scan([music], workers=0))
    assert lib.count() == 11
    yield root, lib
    lib.close()


@pytest.fixture(scope="module")
def groups(library):
    _, lib = library
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dup, "LONG_SECONDS", 90.0)  # inside2.flac (100 s) counts as a long file
        return lib.duplicates()


def names(group: dup.DuplicateGroup) -> set[str]:
    return {c.track.path.name for c in group.copies}


@pytest.mark.slow
def test_copies_are_grouped_with_their_original(groups):
    assert sorted(sorted(names(g)) for g in groups) == [
        ["copy0.m4a", "copy0.mp3", "orig0.flac"],
        ["fade2.flac", "inside2.flac", "orig2.flac"],
        ["orig1.flac", "trim1.flac"]]


@pytest.mark.slow
def test_songs_that_only_sound_alike_are_never_grouped(groups):
    grouped = set().union(*(names(g) for g in groups))
    assert not {f"alike{s}.flac" for s in range(3)} & grouped


@pytest.mark.slow
def test_the_copy_to_keep_is_lossless_then_highest_bitrate_then_longest(groups):
    keep = {min(names(g)): g.keep.track.path.name for g in groups}
    assert keep == {"copy0.m4a": "orig0.flac", "fade2.flac": "inside2.flac",
                    "orig1.flac": "orig1.flac"}
    lossy = next(g for g in groups if "copy0.mp3" in names(g)).copies[1:]
    assert [c.track.path.name for c in lossy] == ["copy0.m4a", "copy0.mp3"]


@pytest.mark.slow
def test_the_shared_passage_is_placed_in_each_file(groups):
    by_name = {c.track.path.name: c for g in groups for c in g.copies}
    trim, orig1 = by_name["trim1.flac"], by_name["orig1.flac"]
    assert trim.start == pytest.approx(0.0, abs=1.0)
    assert trim.end == pytest.approx(SECONDS - 12, abs=1.0)
    assert orig1.start == pytest.approx(5.0, abs=1.0)
    assert orig1.end == pytest.approx(SECONDS - 7, abs=1.0)
    inside = by_name["orig2.flac"]  # inside2.flac is kept: orig2 is placed in itself
    assert inside.end - inside.start == pytest.approx(SECONDS, abs=2.0)
    kept = by_name["inside2.flac"]
    assert kept.start == pytest.approx(30.0, abs=1.0)
    assert kept.end == pytest.approx(30.0 + SECONDS, abs=1.0)


@pytest.mark.slow
def test_duplicates_json_parses(library, capsys, monkeypatch):
    root, lib = library
    monkeypatch.setattr(dup, "LONG_SECONDS", 90.0)
    capsys.readouterr()
    assert main(["duplicates", "--json", "--library", str(root / "lib")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["groups"]) == 3
    for g in out["groups"]:
        assert g["copies"][0]["keep"] and not any(c["keep"] for c in g["copies"][1:])
        assert g["keep"]["path"] == g["copies"][0]["path"]
        assert all(0 <= c["start"] < c["end"] <= c["duration"] + 0.5 for c in g["copies"])
    assert main(["duplicates", "--library", str(root / "lib")]) == 0
    text = capsys.readouterr().out
    assert text.count("keep") == 3 and "copy0.mp3" in text


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    capsys.readouterr()
    assert main(["duplicates", "--library", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resonance: error:") and "no library at" in err
    assert err.count("\n") == 1 and "Traceback" not in err
