"""Other versions of a piece are found by their harmonies: the version print and score,
its storage and upgrade, and the bonus that ranks versions first."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine import store as store_mod
from engine import versions
from engine.audio import load_audio
from engine.cli import main
from engine.library import Library, SearchParams
from engine.versions import VERSION_TAU, version_print, version_score
from tests.audio_factory import midi_to_hz, write_audio
from tests.model_factory import build_model, small_feature_config

SR = 16000


def progression(seed: int, n: int = 40) -> list[list[int]]:
    """``n`` random triads (MIDI notes around middle C), a piece's harmonies."""
    rng = np.random.default_rng(seed)
    roots = rng.integers(0, 12, n)
    thirds = rng.choice([3, 4], n)
    return [[int(48 + r), int(48 + r + t), int(55 + r)] for r, t in zip(roots, thirds, strict=True)]


def render(chords: list[list[int]], *, beat: float, transpose: int = 0, partials: int = 3,
           decay: float = 0.0) -> np.ndarray:
    """Play ``chords`` one per ``beat`` seconds with ``partials`` harmonics per note
    (the instrument) and an exponential ``decay`` (plucked rather than bowed)."""
    n = int(beat * SR)
    t = np.arange(n) / SR
    env = np.exp(-decay * t) * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    out = []
    for notes in chords:
        y = sum(np.sin(2 * np.pi * midi_to_hz(m + transpose) * k * t) / k ** 1.2
                for m in notes for k in range(1, partials + 1))
        out.append(0.2 * env * y / len(notes))
    return np.concatenate(out).astype(np.float32)


PIECE = progression(1)


def piece() -> np.ndarray:
    return render(PIECE, beat=0.6)


def other_version() -> np.ndarray:
    """The same harmonies on another instrument, three semitones up, 12 % slower."""
    return render(PIECE, beat=0.672, transpose=3, partials=8, decay=3.0)


def test_a_version_scores_above_the_threshold_and_other_music_below():
    config = small_feature_config(hpss=True)
    seed = version_print(piece(), config=config)
    version = version_print(other_version(), config=config)
    others = [version_print(render(progression(s), beat=0.6), config=config) for s in (2, 3, 4)]
    drone = version_print(render([PIECE[0]] * 40, beat=0.6), config=config)  # one chord
    assert seed.shape[0] == 12 and seed.dtype == np.uint8 and seed.shape[1] >= 40
    assert version_score(seed, version) > VERSION_TAU + 0.1
    assert version_score(version, seed) == pytest.approx(version_score(seed, version))
    for other in [*others, drone]:
        assert version_score(seed, other) < VERSION_TAU
    # a version that first plays something else for half as long still counts
    medley = version_print(np.concatenate([render(progression(9, n=20), beat=0.6),
                                           other_version()]), config=config)
    assert version_score(seed, medley) > VERSION_TAU
    assert version_score(seed, seed[:, :5]) == 0.0  # too short to hold a run


def _library(root: Path) -> tuple[Library, dict[str, int]]:
    music = root / "music"
    music.mkdir(parents=True)
    write_audio(music / "piece.flac", piece(), sr=SR)
    write_audio(music / "version.flac", other_version(), sr=SR)
    for s in (2, 3, 4, 5):  # other pieces on the seed's own instrument
        write_audio(music / f"other{s}.flac", render(progression(s), beat=0.6), sr=SR)
    lib = Library.open(root / "lib", model_dir=build_model(root / "model",
                                                        config=small_feature_config(hpss=True)))
    list(lib.scan([music], workers=0))
    return lib, {t.path.stem: t.id for t in lib.tracks()}


@pytest.fixture
def versions_library(tmp_path):
    lib, ids = _library(tmp_path)
    yield lib, ids, tmp_path
    lib.close()


def test_another_version_ranks_first_with_its_bonus(versions_library):
    lib, ids, root = versions_library
    stored = lib.store.version_prints(list(ids.values()))
    assert all(p is not None and p.shape[1] >= 40 for p in stored)
    results = lib.search(lib.analyze_seed(ids["piece"]), SearchParams(k=5))
    assert results[0].track.id == ids["version"]
    assert results[0].version_bonus > 1.0
    assert all(r.version_bonus < 1.0 for r in results[1:])
    # a file from outside the library: yet another version, two semitones down
    outside = write_audio(root / "cover.flac", render(PIECE, beat=0.55, transpose=-2,
                                                     partials=1), sr=SR)
    seed = lib.analyze_seed(outside)
    assert seed.version_print is not None
    top = {r.track.id for r in lib.search(seed, SearchParams(k=2))}
    assert top == {ids["piece"], ids["version"]}


def test_without_the_prints_the_version_does_not_rank_first(versions_library, monkeypatch):
    lib, ids, _ = versions_library
    monkeypatch.setattr(versions, "COVER_GAIN", 0.0)
    results = lib.search(lib.analyze_seed(ids["piece"]), SearchParams(k=5))
    assert results[0].track.id != ids["version"]


def test_the_command_line_names_the_other_version(versions_library, capsys):
    lib, _, root = versions_library
    lib.close()
    base = ["--library", str(root / "lib"), "--model", str(root / "model")]
    piece_file = str(root / "music" / "piece.flac")
    assert main(["similar", piece_file, "-k", "3", *base]) == 0
    first = capsys.readouterr().out.splitlines()[1]
    assert "version.flac" in first and "another version: +" in first
    assert main(["similar", piece_file, "-k", "3", "--json", *base]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results[0]["path"].endswith("version.flac") and results[0]["version_bonus"] > 1.0
    assert all(r["version_bonus"] < 1.0 for r in results[1:])


def test_a_seed_scores_each_track_once(versions_library, monkeypatch):
    lib, ids, _ = versions_library
    seed = lib.analyze_seed(ids["piece"])
    first = lib.search(seed, SearchParams(k=5))
    assert set(seed.version_matches) == set(ids.values()) - {ids["piece"]}

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(versions, "version_score", no_scoring)
    again = lib.search(seed, SearchParams(k=5, weights=(3.0, 0.0, 1.0), prf=2, diversity=0.3))
    assert again[0].track.id == first[0].track.id == ids["version"]
    assert again[0].version_bonus == pytest.approx(first[0].version_bonus, rel=0.2)


def test_an_excerpt_seed_has_no_version_print(versions_library):
    lib, _, root = versions_library
    y = load_audio(root / "music" / "piece.flac", sr=SR)
    assert lib.analyze_seed((y[: 5 * SR], SR)).version_print is None


def test_a_schema_5_library_gets_version_prints_by_decoding_alone(versions_library):
    lib, ids, root = versions_library
    db = lib.store.path
    vectors = lib.store.query("SELECT track_id, vectors FROM dense_segments ORDER BY track_id")
    lib.close()
    with sqlite3.connect(db) as conn:  # as a schema-5 library left it
        conn.execute("DROP TABLE version_prints")
        conn.execute("DELETE FROM migrations WHERE version = 6")
    old = Library.open(root / "lib", model_dir=root / "model")
    try:
        assert old.store.schema_version == store_mod.SCHEMA_VERSION
        assert db.with_suffix(".v5.bak").is_file()
        assert old.store.version_prints(list(ids.values())) == [None] * len(ids)
        seed = old.analyze_seed(ids["piece"])
        assert seed.version_print is None
        plain = old.search(seed, SearchParams(k=5))  # no prints yet: still a ranking
        assert len(plain) == 5
        progress = list(old.scan([root / "music"], workers=0))
        assert (progress[-1].done, progress[-1].total) == (len(ids), len(ids))
        assert all(p is not None for p in old.store.version_prints(list(ids.values())))
        after = old.store.query("SELECT track_id, vectors FROM dense_segments "
                                "ORDER BY track_id")
        assert [tuple(r) for r in after] == [tuple(r) for r in vectors]  # nothing re-embedded
        results = old.search(old.analyze_seed(ids["piece"]), SearchParams(k=5))
        assert results[0].track.id == ids["version"] and results[0].version_bonus > 1.0
    finally:
        old.close()
