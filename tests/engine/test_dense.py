"""Dense segment vectors: stored per track, coded once large, round-trips, old libraries,
and the near-duplicate passage search built on them."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from engine import dense, excerpts, locate, stream
from engine import store as store_mod
from engine.audio import stream_audio
from engine.errors import ParameterError
from engine.library import Library, SearchParams
from engine.stream import stream_prints
from tests.audio_factory import song, write_audio
from tests.model_factory import build_model, write_music

SR = 16000


def medley(parts: list[int], seconds: float = 10.0) -> np.ndarray:
    return np.concatenate([song(500 + p, seconds, sr=SR) for p in parts])


@pytest.fixture
def scanned(tmp_path):
    model = build_model(tmp_path / "model")
    music = tmp_path / "music"
    write_music(music, 4, seconds=20)
    write_audio(music / "a.flac", medley([1, 2, 3, 4]), sr=SR)  # 40 s
    write_audio(music / "b.flac", medley([7, 2, 3, 8]), sr=SR)  # holds a's 10-30 s at 10 s
    lib = Library.open(tmp_path / "lib", model_dir=model)
    list(lib.scan([music], workers=0))
    yield lib, tmp_path
    lib.close()


def dense_rows(lib: Library) -> dict[int, tuple]:
    return {int(r[0]): tuple(r[1:]) for r in
            lib.store.query("SELECT track_id, codec, n, starts, vectors FROM dense_segments")}


def by_name(lib: Library) -> dict[str, int]:
    return {t.path.name: t.id for t in lib.tracks()}


def test_every_segment_of_every_track_is_stored(scanned):
    lib, _ = scanned
    rows = dense_rows(lib)
    assert len(rows) == 6
    a = rows[by_name(lib)["a.flac"]]
    starts = np.frombuffer(a[2], "<f4")
    np.testing.assert_allclose(starts, np.arange(0, 37, 2.0))  # 4 s segments every 2 s
    assert a[0] == dense.RAW and a[1] == len(starts)
    assert lib.store.query("SELECT value FROM meta WHERE key = 'dense_format'")[0][0] == "1"


def test_dense_rows_survive_rescans_and_catalog_rebuilds(scanned):
    lib, root = scanned
    before = dense_rows(lib)
    list(lib.scan([root / "music"], workers=0))
    assert dense_rows(lib) == before
    seed = lib.analyze_seed((medley([3])[: 6 * SR], SR))
    first = [(r.track.id, round(r.match_offset, 2)) for r in lib.search(seed)]
    lib.catalog(rebuild=True)
    assert [(r.track.id, round(r.match_offset, 2)) for r in lib.search(seed)] == first


def test_model_change_re_embeds_dense_vectors(scanned):
    lib, root = scanned
    before = dense_rows(lib)
    lib.set_model(build_model(root / "model2", seed=5))
    list(lib.scan([root / "music"], workers=0))
    after = dense_rows(lib)
    assert after.keys() == before.keys()
    assert all(after[t][3] != before[t][3] for t in after)
    fp = lib.embedder.fingerprint
    assert {r[0] for r in lib.store.query("SELECT fingerprint FROM tracks")} == {fp}


def test_large_library_is_coded_and_still_found(scanned, monkeypatch):
    lib, root = scanned
    fp = lib.embedder.fingerprint
    dim = lib.model_card.embed_dim
    raw = dense.load(lib.store, list(dense_rows(lib)), fingerprint=fp, dim=dim)
    monkeypatch.setattr(dense, "FIT_MIN", 10)
    monkeypatch.setattr(dense, "CODEC_DIM", 24)
    catalog = lib.catalog(rebuild=True)
    assert catalog.segment_codec is not None and catalog.segments.kind == "int8"
    rows = dense_rows(lib)
    assert {r[0] for r in rows.values()} == {catalog.segment_codec.id}
    assert all(len(r[3]) == r[1] * 24 for r in rows.values())  # one byte per dimension
    coded = dense.load(lib.store, list(rows), fingerprint=fp, dim=dim)
    for tid, (starts, vectors) in raw.items():
        np.testing.assert_array_equal(coded[tid][0], starts)
        cos = np.sum(coded[tid][1] * vectors, axis=1) / np.linalg.norm(coded[tid][1], axis=1)
        assert cos.min() > 0.9
    seed = lib.analyze_seed((medley([3])[: 6 * SR], SR))
    top = lib.search(seed, SearchParams(k=3))[0]
    assert top.track.path.name in {"a.flac", "b.flac"}
    # new tracks are coded as they are stored; a rebuild keeps the codes
    write_audio(root / "music" / "c.flac", medley([9, 10]), sr=SR)
    list(lib.scan([root / "music"], workers=0))
    assert dense_rows(lib)[by_name(lib)["c.flac"]][0] == catalog.segment_codec.id
    assert lib.catalog(rebuild=True).segments.count == sum(r[1] for r in dense_rows(lib).values())


def test_old_library_migrates_after_a_backup_and_stays_searchable(scanned):
    lib, root = scanned
    db = lib.store.path
    lib.close()
    with sqlite3.connect(db) as conn:  # as a schema-3 library left it
        conn.execute("DROP TABLE dense_segments")
        conn.execute("DROP TABLE dense_codecs")
        conn.execute("DROP TABLE align_prints")
        conn.execute("DELETE FROM meta WHERE key = 'dense_format'")
        conn.execute("DELETE FROM migrations WHERE version >= 4")
    old = Library.open(root / "lib", model_dir=root / "model")
    try:
        assert old.store.schema_version == store_mod.SCHEMA_VERSION
        assert db.with_suffix(".v3.bak").is_file()
        assert not dense_rows(old)
        seed = old.analyze_seed((medley([8])[: 6 * SR], SR))  # found by the stored segments
        assert old.search(seed, SearchParams(k=3))[0].track.path.name == "b.flac"
        list(old.scan([root / "music"], workers=0))  # the next scan adds dense vectors
        assert len(dense_rows(old)) == 6
    finally:
        old.close()


def test_tracks_containing_a_passage(scanned):
    lib, _ = scanned
    ids = by_name(lib)
    found = lib.tracks_containing(ids["a.flac"], start=10.0, end=30.0, min_score=0.97)
    assert [m.track.path.name for m in found] == ["b.flac"]
    assert abs(found[0].offset - 10.0) <= 2.0 and found[0].score >= 0.97
    back = lib.tracks_containing(ids["b.flac"], start=12.0, end=28.0, min_score=0.97)
    assert [m.track.path.name for m in back] == ["a.flac"]
    assert abs(back[0].offset - 12.0) <= 2.0
    assert lib.tracks_containing(ids["a.flac"], start=30.0, end=40.0, min_score=0.97) == []


def test_similarity_along_a_track_peaks_where_the_seed_is(scanned):
    lib, _ = scanned
    ids = by_name(lib)
    seed = lib.analyze_seed((medley([2, 3]), SR))  # a's and b's 10-30 s
    starts, scores = lib.similarity_along(seed, ids["b.flac"])
    assert len(starts) == len(scores) > 4 and np.all(np.diff(starts) > 0)
    inside = (starts >= 10.0) & (starts <= 26.0)
    outside = (starts >= 32.0) | (starts <= 4.0)
    assert scores[inside].min() > scores[outside].max()
    assert scores[inside].max() >= 0.99  # a segment in step with the seed: the same audio
    with pytest.raises(ParameterError):
        lib.similarity_along(seed, 10_000)


def prints(lib: Library) -> dict[int, tuple]:
    return {int(r[0]): tuple(r[1:]) for r in lib.store.query(
        "SELECT track_id, format, frame, bands, n, data FROM align_prints")}


def test_alignment_prints_round_trip_through_rescans_and_model_changes(scanned, monkeypatch):
    lib, root = scanned
    stored = prints(lib)
    config = lib.embedder.config
    assert len(stored) == 6
    for tid, (fmt, frame, bands, n, data) in stored.items():
        assert (fmt, bands) == (locate.PRINT_FORMAT, locate.PRINT_BANDS)
        assert frame == pytest.approx(locate.print_frame_seconds(config))
        path = lib.store.query("SELECT path FROM tracks WHERE id = ?", (tid,))[0][0]
        again = stream_prints(stream_audio(path, sr=config.sr), config=config)[0]
        codes = np.frombuffer(data, np.uint8).reshape(bands, n)
        assert np.abs(codes.astype(int) - again).max() <= 1
    list(lib.scan([root / "music"], workers=0))
    lib.catalog(rebuild=True)
    assert prints(lib) == stored
    lib.set_model(build_model(root / "model2", seed=5))  # same features, new weights
    list(lib.scan([root / "music"], workers=0))
    assert prints(lib).keys() == stored.keys()

    def no_decoding(*args, **kwargs):
        raise AssertionError("placed by decoding, not by the stored prints")

    monkeypatch.setattr(excerpts, "refine_offset", no_decoding)
    seed = lib.analyze_seed((medley([3, 4])[3 * SR: 13 * SR], SR))  # a's 23-33 s
    top = lib.search(seed, SearchParams(k=3))[0]
    assert top.track.path.name == "a.flac" and abs(top.match_offset - 23.0) <= 0.1


def test_schema_4_library_gets_prints_by_decoding_alone(scanned):
    lib, root = scanned
    db = lib.store.path
    vectors = dense_rows(lib)
    lib.close()
    with sqlite3.connect(db) as conn:  # as a schema-4 library left it
        conn.execute("DROP TABLE align_prints")
        conn.execute("DROP TABLE version_prints")
        conn.execute("DELETE FROM migrations WHERE version >= 5")
    old = Library.open(root / "lib", model_dir=root / "model")
    try:
        assert old.store.schema_version == store_mod.SCHEMA_VERSION
        assert db.with_suffix(".v4.bak").is_file() and not prints(old)
        seed = old.analyze_seed((medley([3, 4])[3 * SR: 13 * SR], SR))
        top = old.search(seed, SearchParams(k=3))[0]  # placed by decoding the candidates
        assert top.track.path.name == "a.flac" and abs(top.match_offset - 23.0) <= 0.1
        progress = list(old.scan([root / "music"], workers=0))
        assert len(prints(old)) == 6
        assert dense_rows(old) == vectors  # nothing was embedded again
        assert (progress[-1].stage, progress[-1].done, progress[-1].total) == ("done", 6, 6)
        assert not list(old.scan([root / "music"], workers=0))[-1].total
    finally:
        old.close()


def test_a_print_that_cannot_be_made_loses_nothing(scanned, monkeypatch):
    lib, root = scanned
    lib.store.mutate("DELETE FROM align_prints")  # as after the schema-5 step
    vectors, before = dense_rows(lib), {t.id: t.status for t in lib.tracks()}
    real = stream.stream_prints

    def failing(blocks, *, config):
        raise OSError("the drive went away")

    monkeypatch.setattr(stream, "stream_prints", failing)
    progress = list(lib.scan([root / "music"], workers=0))
    assert progress[-1].errors == 0 and not prints(lib)
    assert dense_rows(lib) == vectors and {t.id: t.status for t in lib.tracks()} == before
    monkeypatch.setattr(stream, "stream_prints", real)
    list(lib.scan([root / "music"], workers=0))  # tried again
    assert len(prints(lib)) == 6 and dense_rows(lib) == vectors
