"""The development-corpus builder: splits, manifest format, determinism, rendering.

Everything here runs without network and without the Debian game packages; the one test
that synthesises with FluidSynth skips when pyfluidsynth or the soundfonts are missing
(CI installs fluidsynth, fluid-soundfont-gm and musescore-general-soundfont-small).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trainer.corpus import cli, manifest, render, scores
from trainer.corpus.manifest import Track


def _piece(parts: int = 1, repeats: int = 2) -> scores.Piece:
    notes = [(float(i), 1.0, 60 + (i * 5) % 12, 80, i % parts) for i in range(16)]
    return scores.Piece("essenFolksong/test/0001", "essenFolksong", "Test", 120.0, 4.0, 16.0,
                        repeats, parts, tuple(notes))


def _tracks() -> list[Track]:
    rows = []
    for i in range(6):
        song = f"pkg{i % 2}/song{i}"
        rows.append(Track(f"recordings/{song}.ogg", song, f"pkg{i % 2}", "recording", song,
                          "train", 60.0 + i))
    for r in range(3):
        rows.append(Track(f"renditions/c/p1/r{r}-x.ogg", f"music21:c/p1#r{r}", "music21:c",
                          "rendition", "music21:c/p1", "val", 40.0))
    return rows


# -- splits and manifest ------------------------------------------------------------------

def test_held_out_sources_are_all_validation() -> None:
    for i in range(50):
        assert manifest.assign_split(f"g{i}", "xmoto-data", val_sources=["xmoto-data"],
                                     val_fraction=0.0, seed=0) == "val"


def test_split_fraction_is_seeded_and_close_to_target() -> None:
    def splits(seed: int) -> list[str]:
        return [manifest.assign_split(f"group{i}", "src", val_sources=(), val_fraction=0.2,
                                      seed=seed) for i in range(2000)]

    first = splits(0)
    assert first == splits(0)
    assert first != splits(1)
    assert 0.16 < first.count("val") / len(first) < 0.24


def test_split_depends_on_the_group_only() -> None:
    """Renditions share their group, so they always land in the same split."""
    a = manifest.assign_split("music21:x/1", "music21:x", val_sources=(), val_fraction=0.5,
                              seed=3)
    b = manifest.assign_split("music21:x/1", "music21:x", val_sources=(), val_fraction=0.5,
                              seed=3)
    assert a == b


def test_manifest_follows_the_contract() -> None:
    data = manifest.manifest_dict(reversed(_tracks()))
    assert data["version"] == 1
    paths = [t["path"] for t in data["tracks"]]
    assert paths == sorted(paths)
    assert list(data["tracks"][0]) == ["path", "song", "source", "kind", "group", "split",
                                       "duration"]
    assert manifest.validate_manifest(data) == []


def test_validate_manifest_finds_problems() -> None:
    rows = _tracks()
    rows[0] = Track(rows[0].path, rows[0].song, rows[0].source, "recording", "other",
                    "train", 1.0)
    rows.append(Track("renditions/c/p1/r9.ogg", "music21:c/p1#r9", "music21:c", "rendition",
                      "music21:c/p1", "train", 40.0))
    problems = manifest.validate_manifest(manifest.manifest_dict(rows))
    assert any("group != song" in p for p in problems)
    assert any("both splits" in p for p in problems)


def test_pairs_group_renditions_only() -> None:
    pairs = manifest.pairs_dict(_tracks())
    assert pairs == {"groups": [[f"renditions/c/p1/r{r}-x.ogg" for r in range(3)]]}


def test_summary_counts_sources_and_splits() -> None:
    summary = manifest.summarize(manifest.manifest_dict(_tracks()))
    assert summary["tracks"] == 9
    assert summary["version_groups"] == 1
    assert summary["splits"]["val"]["kinds"]["rendition"] == {"tracks": 3, "sources": 1,
                                                              "hours": 0.03}
    assert summary["splits"]["train"]["kinds"]["recording"]["sources"] == 2
    assert summary["sources"]["pkg0"]["tracks"] == 3
    assert "total: 9 tracks" in manifest.format_summary(summary)


def test_write_json_is_byte_stable(tmp_path: Path) -> None:
    data = manifest.manifest_dict(_tracks())
    manifest.write_json(tmp_path / "a.json", data)
    manifest.write_json(tmp_path / "b.json", manifest.manifest_dict(reversed(_tracks())))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


# -- rendition specs and events --------------------------------------------------------

def test_specs_are_deterministic_and_varied() -> None:
    piece = _piece()
    specs = render.make_specs(piece, 4, seed=0)
    assert specs == render.make_specs(piece, 4, seed=0)
    assert specs != render.make_specs(piece, 4, seed=1)
    assert {s.soundfont for s in specs} == {"fluidr3"}
    assert len({s.programs[0] for s in specs}) == 4
    assert len({s.transpose for s in specs}) == 4
    assert all(-4 <= s.transpose <= 4 and 0.85 <= s.tempo <= 1.15 for s in specs)
    assert len({s.key() for s in specs}) == 4


def test_validation_renditions_never_use_training_sounds() -> None:
    piece = _piece(parts=3)
    train = render.make_specs(piece, 8, seed=0, split="train")
    val = render.make_specs(piece, 8, seed=0, split="val")
    assert {s.soundfont for s in val} == {"musescore"}
    train_programs = {p for s in train for p in (*s.programs, s.double_program)} - {None}
    val_programs = {p for s in val for p in (*s.programs, s.double_program)} - {None}
    assert val_programs and train_programs and not val_programs & train_programs
    assert not set(render.TRAIN_PROGRAMS + render.TRAIN_LOW_PROGRAMS) & set(
        render.VAL_PROGRAMS + render.VAL_LOW_PROGRAMS)
    assert len({s.transpose for s in val}) == 8 and len({s.tempo for s in val}) == 8


def test_events_follow_tempo_transposition_and_repeats() -> None:
    piece = _piece(repeats=2)
    spec = render.make_specs(piece, 1, seed=0)[0]
    spec = render.RenditionSpec(**{**spec.__dict__, "double_program": None, "drums": False,
                                   "transpose": 2, "tempo": 1.0})
    ons = [e for e in render.note_events(piece, spec) if e[1] == 1]
    assert len(ons) == 2 * len(piece.notes)
    assert {e[3] for e in ons} == {p + 2 for _, _, p, _, _ in piece.notes}
    assert max(e[0] for e in ons) == pytest.approx(31 * 0.5, abs=0.05)  # 120 bpm


def test_octave_fix_keeps_notes_in_range() -> None:
    low = scores.Piece("x", "c", "", 100.0, 4.0, 4.0, 1, 1,
                       tuple((float(i), 1.0, 20, 80, 0) for i in range(4)))
    spec = render.make_specs(low, 1, seed=0)[0]
    keys = [e[3] for e in render.note_events(low, spec) if e[2] != render.DRUM_CHANNEL]
    assert min(keys) >= 20


# -- scores --------------------------------------------------------------------------------

def test_split_abc_keeps_each_tune() -> None:
    text = "%header\nX:1\nT:a\nK:C\nCDE|\n\nX:2\nT:b\nK:G\nGAB|\n"
    tunes = scores.split_abc(text)
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:2"]


def test_piece_json_round_trip_and_signature() -> None:
    piece = _piece()
    again = scores.Piece.from_json(json.loads(json.dumps(piece.to_json())))
    assert again == piece
    assert scores.melody_signature(again) == scores.melody_signature(piece)
    assert piece.nominal_seconds == pytest.approx(16.0)


@pytest.mark.slow  # imports music21
def test_piece_from_a_music21_stream() -> None:
    music21 = pytest.importorskip("music21")
    part = music21.stream.Part()
    part.append(music21.tempo.MetronomeMark(number=90))
    part.append(music21.meter.TimeSignature("3/4"))
    for i in range(24):
        part.append(music21.note.Note(60 + i % 7, quarterLength=1.0))
    score = music21.stream.Score([part])
    piece = scores.piece_from_score(score, scores.PieceRef("miscFolk", "f.abc", 3))
    assert piece is not None and piece.piece_id == "miscFolk/f/0003"
    assert piece.bpm == 90 and piece.bar_ql == 3.0 and len(piece.notes) == 24
    assert piece.nominal_seconds >= scores.MIN_NOMINAL_SECONDS  # looped to length


# -- rendering with FluidSynth ----------------------------------------------------------

@pytest.mark.skipif(not render.soundfonts_present(), reason="soundfonts not installed")
def test_render_is_audible_and_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("fluidsynth")
    piece = scores.Piece("t/p", "t", "", 240.0, 4.0, 8.0, 1, 1,
                         tuple((float(i), 1.0, 60 + i, 90, 0) for i in range(8)))
    specs = render.make_specs(piece, 3, seed=0)

    def render_all() -> list[np.ndarray]:
        pool = render.SynthPool(sr=22050)
        try:
            return [render.synthesize(piece, s, pool) for s in specs]
        finally:
            pool.close()

    first, again = render_all(), render_all()
    for y, z, spec in zip(first, again, specs, strict=True):
        expected = 8 * 60 / (240 * spec.tempo) + render.TAIL_SECONDS
        assert y.size / 22050 == pytest.approx(expected, abs=0.2)
        assert np.sqrt(np.mean(y ** 2)) > 1e-3
        np.testing.assert_array_equal(y, z)
    render.write_ogg(tmp_path / "r.ogg", first[0], 22050)
    assert (tmp_path / "r.ogg").stat().st_size > 1000


# -- command line --------------------------------------------------------------------------

def test_cli_stats_and_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["stats", "--out", str(tmp_path)]) == 1
    manifest.write_json(tmp_path / "manifest.json", manifest.manifest_dict([]))
    assert cli.main(["stats", "--out", str(tmp_path)]) == 0
    assert "total: 0 tracks" in capsys.readouterr().out
    assert cli.main(["build", "--out", str(tmp_path), "--renditions", "1"]) == 2


def test_cli_build_without_sources_writes_an_empty_corpus(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    assert cli.main(["build", "--out", str(out), "--no-recordings", "--no-lmms",
                     "--max-pieces", "0"]) == 0
    data = json.loads((out / "manifest.json").read_text())
    assert data == {"version": 1, "tracks": []}
    assert json.loads((out / "pairs.json").read_text()) == {"groups": []}
