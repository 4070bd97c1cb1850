"""The corpus builder's package side: unpacking, finding, de-duplicating, splitting.

Packages are faked with small generated trees (no download); the fingerprint tests need the
system ``ffmpeg`` (with its chromaprint muxer) and skip without it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.audio_factory import song, tone, write_audio
from trainer.corpus import debs, dedup, lmms, manifest, recordings, scores, sources, split

SR = 22050
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")


def _s3m(path: Path) -> Path:
    path.write_bytes(bytes(44) + b"SCRM" + bytes(100))
    return path


# -- unpacking -------------------------------------------------------------------------------

def test_sniffing_finds_audio_without_an_extension(tmp_path: Path) -> None:
    ogg = write_audio(tmp_path / "a.ogg", tone(220, 1, sr=SR), sr=SR)
    bare = tmp_path / "title"
    bare.write_bytes(ogg.read_bytes())
    text = tmp_path / "caves1"
    text.write_text("level data " * 100)
    mod = tmp_path / "song.bin"
    mod.write_bytes(bytes(1080) + b"M.K." + bytes(64))
    assert debs.audio_kind(bare) == ".ogg"
    assert debs.audio_kind(text) is None
    assert debs.audio_kind(_s3m(tmp_path / "tune")) == ".s3m"
    assert debs.sniff_extension(mod) == ".mod"
    assert debs.audio_kind(tmp_path / "a.ogg") == ".ogg"
    assert debs.audio_kind(tmp_path / "b.png") is None


def test_keep_music_moves_audio_and_archive_music(tmp_path: Path) -> None:
    tree = tmp_path / "unpacked"
    (tree / "usr/share/game/music").mkdir(parents=True)
    ogg = write_audio(tree / "usr/share/game/music/theme.ogg", tone(220, 2, sr=SR), sr=SR)
    (tree / "usr/share/game/readme.txt").write_text("hello")
    with zipfile.ZipFile(tree / "usr/share/game/public.zip", "w") as zf:
        zf.writestr("audio/music/big.ogg", ogg.read_bytes() + bytes(debs.MIN_ARCHIVE_MEMBER))
        zf.writestr("audio/music/tiny.ogg", b"OggS")
        zf.writestr("audio/sfx/boom.ogg", bytes(debs.MIN_ARCHIVE_MEMBER + 1))
        zf.writestr("textures/wall.png", bytes(10))
    dest = tmp_path / "kept"
    assert debs.keep_music(tree, dest) == 2
    kept = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert kept == ["usr/share/game/music/theme.ogg",
                    "usr/share/game/public.zip.d/audio/music/big.ogg"]


# -- finding tracks -----------------------------------------------------------------------

def test_candidates_mix_stems_and_respect_the_package_lists(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    for folder in ("songs/Metal madness", "songs/Feelings"):
        (root / folder).mkdir(parents=True)
        write_audio(root / folder / "song.ogg", tone(220, 1, sr=SR), sr=SR)
        write_audio(root / folder / "guitar.ogg", tone(330, 1, sr=SR), sr=SR)
    for folder in ("sounds", "voices"):
        (root / folder).mkdir()
    write_audio(root / "voices" / "hello.ogg", tone(110, 1, sr=SR), sr=SR)
    write_audio(root / "sounds" / "music-1.ogg", tone(110, 1, sr=SR), sr=SR)
    (root / "data").mkdir()
    write_audio(root / "data" / "rain_loop.ogg", tone(110, 1, sr=SR), sr=SR)
    _s3m(root / "data" / "tune.s3m")

    rec_only = recordings.find_candidates("fretsonfire-songs-sectoid", root)
    assert [(c.kind, c.name, len(c.files)) for c in rec_only] == [
        ("recording", "feelings", 2), ("recording", "metal_madness", 2),
        ("recording", "music_1", 1)]
    both = recordings.find_candidates("tuxmath-data", root)
    assert [c.name for c in both if c.kind == "module"] == ["tune"]
    module_only = recordings.find_candidates("bb", root)
    assert [c.kind for c in module_only] == ["module"]


def test_stems_are_mixed_to_the_longest_stem(tmp_path: Path) -> None:
    a = write_audio(tmp_path / "song.ogg", tone(220, 2, sr=SR), sr=SR)
    b = write_audio(tmp_path / "guitar.ogg", tone(330, 3, sr=SR), sr=SR)
    out = recordings.mix_stems([a, b], tmp_path / "mix" / "x.ogg")
    assert out is not None
    assert recordings.duration_of(out) == pytest.approx(3.0, abs=0.05)


@pytest.mark.slow  # fingerprints generated recordings
@needs_ffmpeg
def test_take_recordings_drops_short_tracks_and_duplicates(tmp_path: Path) -> None:
    roots = {p: tmp_path / p for p in ("caveexpress-data", "cavepacker-data")}
    first = roots["caveexpress-data"] / "music"
    first.mkdir(parents=True)
    write_audio(first / "music-1.wav", song(1, 35, sr=SR), sr=SR)
    write_audio(first / "music-2.ogg", song(2, 34, sr=SR), sr=SR)
    write_audio(first / "jingle.ogg", song(3, 5, sr=SR), sr=SR)
    second = roots["cavepacker-data"] / "sounds"
    second.mkdir(parents=True)
    write_audio(second / "music-1.ogg", song(1, 35, sr=SR), sr=SR)   # re-encoded copy
    shutil.copyfile(first / "music-2.ogg", second / "music-2.ogg")  # same bytes
    write_audio(second / "music-3.ogg", song(4, 33, sr=SR), sr=SR)
    taken = recordings.take_recordings(list(roots), tmp_path / "cache", roots.get,
                                       lambda _: None)
    assert [r.rel_path for r in taken] == ["recordings/caveexpress-data/music_1.wav",
                                           "recordings/caveexpress-data/music_2.ogg",
                                           "recordings/cavepacker-data/music_3.ogg"]
    dest = recordings.materialize(taken[0], tmp_path / "corpus")
    assert dest.read_bytes() == taken[0].audio.read_bytes()


@needs_ffmpeg
def test_fingerprints_tell_copies_from_other_music(tmp_path: Path) -> None:
    a = dedup.fingerprint(write_audio(tmp_path / "a.wav", song(5, 20, sr=SR), sr=SR))
    a2 = dedup.fingerprint(write_audio(tmp_path / "a.ogg", song(5, 20, sr=SR), sr=SR))
    b = dedup.fingerprint(write_audio(tmp_path / "b.wav", song(6, 20, sr=SR), sr=SR))
    assert len(a) > dedup.MIN_OVERLAP
    assert dedup.same_audio(a, a2)
    assert not dedup.same_audio(a, b)
    assert dedup.same_audio(a[10:], a)  # shifted start


# -- validation packages ------------------------------------------------------------------

def _counts() -> dict[str, int]:
    return {p: 3 + i % 9 for i, p in enumerate(sources.RECORDING_PACKAGES)}


def test_validation_packages_meet_the_issue_rules() -> None:
    counts = _counts()
    chosen = split.choose_validation_packages(counts, seed=0)
    assert chosen == split.choose_validation_packages(dict(reversed(counts.items())), seed=0)
    assert chosen != split.choose_validation_packages(counts, seed=1)
    assert len(chosen) >= split.MIN_PACKAGES
    assert sum(counts[p] for p in chosen) >= split.MIN_RECORDINGS
    assert all(counts[p] >= split.MIN_PER_PACKAGE for p in chosen)
    assert not set(chosen) & set(sources.ORIGINAL_PACKAGES)
    assert not set(chosen) & {p for pair in sources.LINKED_PACKAGES for p in pair}
    styles = {sources.style(p) for p in chosen}
    assert styles == set(sources.STYLES.values()) | {"other"}
    for style in set(sources.STYLES.values()):  # never a whole style
        named = [p for p in sources.STYLES if sources.STYLES[p] == style]
        assert sum(sources.style(p) == style for p in chosen) < len(named)


def test_small_packages_are_never_held_out() -> None:
    counts = dict.fromkeys(sources.MORE_PACKAGES, 2) | {"naev-data": 50, "zaz-data": 4}
    assert split.choose_validation_packages(counts) == ["naev-data", "zaz-data"]


#: Recordings per eligible package in the corpus of November 2026 (the pinned choice's input).
NOVEMBER_2026 = {
    "0ad-data": 61, "a7xpg-data": 3, "adonthell-data": 8, "amoebax-data": 8, "angrydd": 3,
    "ardentryst": 17, "berusky2-data": 22, "blobwars-data": 15, "colobot-common-sounds": 19,
    "davegnukem-data": 13, "enigma-data": 9, "epiphany-data": 3, "fillets-ng-data": 13,
    "freedink-data": 5, "fretsonfire-songs-muldjord": 4, "fretsonfire-songs-sectoid": 4,
    "frozen-bubble-data": 3, "gunroar-data": 4, "hex-a-hop-data": 3, "holotz-castle-data": 5,
    "lomiri-sounds": 3, "lordsawar-data": 5, "lugaru-data": 5, "marsshooter-data": 12,
    "miceamaze": 3, "mu-cade-data": 4, "naev-data": 50, "noiz2sa-data": 7,
    "openarena-088-data": 7, "parsec47-data": 4, "plee-the-bear-data": 11,
    "powermanga-data": 3, "pushover-data": 10, "redeclipse-data": 15, "rrootage-data": 3,
    "scorched3d-data": 6, "seahorse-adventures": 5, "searchandrescue-data": 7,
    "titanion-data": 3, "torus-trooper-data": 4, "trackballs-data": 9,
    "tumiki-fighters-data": 5, "unknown-horizons": 17, "wizznic-data": 9,
    "wordwarvi-sound": 5, "zaz-data": 4,
}


def test_pinned_test_packages_are_what_the_rule_chose() -> None:
    val = split.choose_validation_packages(NOVEMBER_2026)
    assert len(val) == 16 and sum(NOVEMBER_2026[p] for p in val) == 158  # RESULTS.md
    test = split.choose_test_packages(NOVEMBER_2026, val)
    assert tuple(test) == sources.TEST_PACKAGES
    assert not set(test) & set(val)
    assert len(test) >= split.TEST_MIN_PACKAGES
    assert sum(NOVEMBER_2026[p] for p in test) >= split.TEST_MIN_RECORDINGS
    training = set(NOVEMBER_2026) - set(val) - set(test)
    for style in set(sources.STYLES.values()):  # training keeps every style
        assert any(sources.style(p) == style for p in training)


def test_test_packages_follow_their_rule() -> None:
    counts = _counts() | {"0ad-data": 40}
    val = split.choose_validation_packages(counts)
    test = split.choose_test_packages(counts, val)
    assert test == split.choose_test_packages(dict(reversed(counts.items())), val)
    assert test != split.choose_test_packages(counts, val, seed=1)
    assert not set(test) & set(val) and "0ad-data" not in test  # too large
    assert set(test) <= set(split.eligible(counts))
    assert len(test) == split.TEST_MIN_PACKAGES or (
        sum(counts[p] for p in test) > split.TEST_MIN_RECORDINGS)


def test_only_the_allowed_packages_and_collections() -> None:
    assert len(sources.ORIGINAL_PACKAGES) == 11 and len(sources.MORE_PACKAGES) == 80
    assert len(sources.MODULE_PACKAGES) == 34
    assert set(sources.STYLES) <= set(sources.MORE_PACKAGES)
    assert set(scores.COLLECTIONS) == {
        "essenFolksong", "nottingham-dataset", "corelli", "airdsAirs", "schoenberg",
        "weber", "webern", "chopin", "schubert", "beach", "miscFolk"}


def test_lmms_authors_come_from_the_file_or_folder(tmp_path: Path) -> None:
    for rel in ("demos/Oglsdl-PpTrip.mmpz", "demos/CapDan/CapDan-ReggaeTry.mmpz",
                "demos/Skiessi/Onion.mmpz", "shorties/DirtyLove.mmpz", "templates/x.mpt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [(p.author, p.name) for p in lmms.find_projects(tmp_path)]
    assert found == [("CapDan", "capdan_reggaetry"), ("Oglsdl", "oglsdl_pptrip"),
                     ("Skiessi", "onion"), ("DirtyLove", "dirtylove")]


@pytest.mark.slow  # builds a small corpus
@needs_ffmpeg
def test_build_holds_out_whole_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.corpus import pipeline

    trees = {}
    for n, pkg in enumerate(("naev-data", "zaz-data", "wizznic-data")):
        folder = tmp_path / "pkgs" / pkg / "music"
        folder.mkdir(parents=True)
        for i in range(3):
            write_audio(folder / f"t{i}.ogg", song(10 * n + i, 31, sr=8000), sr=8000)
        trees[pkg] = folder.parent
    monkeypatch.setattr(debs, "fetch_package", lambda pkg, cache, log: trees.get(pkg))
    out = tmp_path / "corpus"
    opts = pipeline.BuildOptions(out=out, cache=tmp_path / "cache", max_pieces=0,
                                 packages=("naev-data", "zaz-data", "wizznic-data"),
                                 val_packages=("zaz-data", "wizznic-data"),
                                 with_lmms=False, log=lambda _: None)
    summary = pipeline.build(opts)
    rows = json.loads((out / "manifest.json").read_text())["tracks"]
    assert {(r["source"], r["split"]) for r in rows} == {
        ("naev-data", "train"), ("zaz-data", "val"), ("wizznic-data", "test")}
    assert all(r["kind"] == "recording" and r["duration"] > 30 for r in rows)
    assert (out / "VALIDATION_PACKAGES.txt").read_text() == "zaz-data\n"  # never a test one
    assert (out / "TEST_PACKAGES.txt").read_text().split() == list(sources.TEST_PACKAGES)
    for part in ("val", "test"):
        assert summary["splits"][part]["kinds"]["recording"] == {"tracks": 3, "sources": 1,
                                                                 "hours": 0.03}
    assert manifest.validate_manifest(json.loads((out / "manifest.json").read_text()),
                                      out) == []


def test_a_missing_lmms_stops_the_build_with_the_install_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.corpus import cli, pipeline

    monkeypatch.setattr(lmms.shutil, "which", lambda name: None if name == "lmms" else "/x")
    monkeypatch.setattr(pipeline.render, "soundfonts_present", lambda: True)
    opts = pipeline.BuildOptions(out=tmp_path / "c", cache=tmp_path / "cache")
    assert pipeline.missing_tools(opts) == ["lmms"]
    assert pipeline.missing_tools(pipeline.BuildOptions(out=tmp_path, cache=tmp_path,
                                                        with_lmms=False)) == []
    with pytest.raises(SystemExit) as stop:
        cli.main(["build", "--out", str(tmp_path / "c")])
    message = str(stop.value.code)
    assert "\n" not in message and "sudo apt-get install --no-install-recommends lmms" in message
    assert "--no-lmms" in message
    assert not (tmp_path / "c").exists()  # stopped before doing anything
    monkeypatch.setattr(pipeline.render, "soundfonts_present", lambda: False)
    assert pipeline.missing_tools(opts) == ["lmms", "fluidsynth", "fluid-soundfont-gm",
                                            "musescore-general-soundfont-small"]


def test_the_early_manifest_keeps_the_previous_renditions(tmp_path: Path) -> None:
    from trainer.corpus import pipeline
    from trainer.corpus.manifest import Track

    (tmp_path / "renditions").mkdir()
    (tmp_path / "renditions" / "r0.ogg").write_bytes(b"x")
    rows = [Track("renditions/r0.ogg", "music21:p#r0", "music21:c", "rendition",
                  "music21:p", "val", 40.0),
            Track("renditions/gone.ogg", "music21:q#r0", "music21:c", "rendition",
                  "music21:q", "val", 40.0),
            Track("recordings/a/b.ogg", "a/b", "a", "recording", "a/b", "train", 40.0)]
    manifest.write_json(tmp_path / "manifest.json", manifest.manifest_dict(rows))
    assert pipeline.previous_tracks(tmp_path, ("lmms", "rendition")) == rows[:1]
    assert pipeline.previous_tracks(tmp_path / "none", ("rendition",)) == []


def test_a_package_never_spans_both_splits() -> None:
    from trainer.corpus.pipeline import package_split

    both = [p for p in sources.MODULE_PACKAGES if p in sources.RECORDING_PACKAGES]
    assert "tuxmath-data" in both
    for pkg in both:
        assert package_split(pkg, [], val_fraction=0.99, seed=0) == "train"
        assert package_split(pkg, [pkg], val_fraction=0.0, seed=0) == "val"
        assert package_split(pkg, [pkg], val_fraction=0.0, seed=0, test=(pkg,)) == "test"
    only = [p for p in sources.MODULE_PACKAGES if p not in sources.RECORDING_PACKAGES]
    splits = [package_split(p, [], val_fraction=0.2, seed=0) for p in only]
    assert "val" in splits and "train" in splits
    assert splits == [package_split(p, [], val_fraction=0.2, seed=0) for p in only]
