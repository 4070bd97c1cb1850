"""Searching a scanned library: excerpts, seeds, exclusions, weights, PRF/MMR, memory."""

from __future__ import annotations

import gc
import tracemalloc

import mutagen
import numpy as np
import pytest

from engine import audio, versions
from engine import seed as seed_mod
from engine.library import Library, SearchParams
from engine.rerank import mean_pairwise_similarity
from engine.search import (
    LIKELY_VERSION,
    VERSION_POOL,
    VERSION_Z,
    track_scores,
    version_bonus,
    weighted,
)
from engine.timbre import TimbreMix
from tests.audio_factory import song, stereo, write_audio
from tests.model_factory import build_model, write_music

SR = 16000
N_SONGS = 12


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    model = build_model(root / "model")
    files = write_music(root / "music", N_SONGS - 1, seconds=16)
    files.append(write_audio(root / "music" / "medley.flac", medley(), sr=SR))
    for i, path in enumerate(files):
        tags = mutagen.File(path, easy=True)
        tags["artist"] = f"Artist {i % 3}"
        tags["album"] = f"Album {i % 4}"
        tags["title"] = f"Song {i}" if path.stem != "medley" else "Medley"
        tags.save()
    library = Library.open(root / "lib", model_dir=model)
    list(library.scan([root / "music"], workers=0))
    assert library.count() == N_SONGS
    yield library
    library.close()


def medley() -> np.ndarray:
    """Three unrelated 6-second parts: content that changes along the track."""
    return np.concatenate([song(200 + i, 6, sr=SR) for i in range(3)])


def by_title(lib):
    return {t.title: t for t in lib.tracks()}


@pytest.mark.parametrize("index", [0, 4, 9])
def test_recorded_excerpt_finds_its_track_first(lib, rng, index):
    excerpt = song(index, 16, sr=SR)[5 * SR: 13 * SR]
    excerpt = excerpt + 0.01 * rng.standard_normal(excerpt.size).astype(np.float32)
    seed = lib.analyze_seed((stereo(excerpt), SR))
    assert seed.excerpt and seed.track_id is None
    results = lib.search(seed, SearchParams(k=5))
    assert results[0].track.title == f"Song {index}"
    assert results[0].score > results[1].score
    assert set(results[0].modalities) == {"timbre", "harmony", "rhythm"}


@pytest.mark.parametrize("part", [0, 1, 2])
def test_excerpt_reports_where_in_the_track_it_matches(lib, part):
    start = 6.0 * part
    seed = lib.analyze_seed((medley()[int(start * SR): int((start + 6) * SR)], SR))
    top = lib.search(seed, SearchParams(k=3))[0]
    assert top.track.path.name == "medley.flac"
    # 4 s segments every 2 s: the best pair lies within one hop of the true place
    assert abs((top.match_offset - top.seed_offset) - start) <= 2.0


def test_excerpt_file_outside_the_library_finds_its_track(lib, tmp_path):
    path = write_audio(tmp_path / "clip.mp3", song(6, 16, sr=SR)[3 * SR: 11 * SR], sr=SR)
    results = lib.search(lib.analyze_seed(path), SearchParams(k=3))
    assert results[0].track.title == "Song 6"


def test_library_seed_is_never_in_its_own_results(lib):
    for track in lib.tracks():
        seed = lib.analyze_seed(track.id)
        ids = [r.track.id for r in lib.search(seed, SearchParams(k=50, prf=2, diversity=0.3))]
        assert track.id not in ids
        assert len(ids) == N_SONGS - 1 == len(set(ids))
    path_seed = lib.analyze_seed(lib.tracks()[2].path)  # a library file: its stored vectors
    assert path_seed.track_id == lib.tracks()[2].id


def test_exclude_same_album_and_artist(lib):
    seed_track = by_title(lib)["Song 0"]
    seed = lib.analyze_seed(seed_track.id)
    albums = {r.track.album for r in lib.search(seed, SearchParams(k=50,
                                                                  exclude_same_album=True))}
    artists = {r.track.artist for r in lib.search(seed, SearchParams(k=50,
                                                                    exclude_same_artist=True))}
    assert seed_track.album not in albums and len(albums) == 3
    assert seed_track.artist not in artists and len(artists) == 2


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 4.0),
                                     (3.0, 0.5, 0.0)])
def test_scores_follow_the_modality_weights(lib, weights):
    seed = lib.analyze_seed(lib.tracks()[1].id)
    results = lib.search(seed, SearchParams(k=20, weights=weights))
    catalog = lib.catalog()
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    tv = catalog.track_vectors
    content = (tv["fused"] @ seed.track["fused"]
               + tv["harmony"].astype(np.float32) @ seed.track["harmony"]) / 2
    sims = [catalog.track_vectors[c].astype(np.float32) @ seed.track[c]
            for c in ("fused", "timbre", "harmony", "rhythm")]
    sound = (sims[0] + sum(w * v for w, v in zip(weights, sims[1:], strict=True))) / (
        1 + sum(weights))
    own = catalog.track_ids == seed.track_id
    bonus = version_bonus(content, sound, exclude=own) + versions.cover_bonus(
        content, lambda rows: versions.version_scores(
            seed.version_print, lib.store.version_prints(catalog.track_ids[rows])), exclude=own)
    for r in results:
        row = catalog.rows([r.track.id])[0]
        fused = float(tv["fused"][row] @ seed.track["fused"])
        m = r.modalities
        want = (fused + weights[0] * m["timbre"] + weights[1] * m["harmony"]
                + weights[2] * m["rhythm"]) / (1 + sum(weights))
        assert r.score == pytest.approx(want + bonus[row], abs=1e-4)
        assert r.version_bonus == pytest.approx(bonus[row], abs=1e-6)


def test_music_that_stands_out_from_the_library_ranks_before_music_that_only_sounds_alike():
    """A track whose content (fused, harmony) is far closer to the seed's than the rest of
    the library's is (another version) outranks one whose timbre alone is closest."""
    rng = np.random.default_rng(0)
    n, d = 300, 32

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    library = {c: unit(rng.normal(size=(n, d))).astype(np.float32)
               for c in ("fused", "timbre", "harmony", "rhythm")}
    seed = {c: unit(rng.normal(size=d)).astype(np.float32) for c in library}
    version, alike = 7, 8
    for c in ("fused", "harmony"):
        library[c][version] = unit(seed[c] + 0.6 * unit(rng.normal(size=d)))
    library["timbre"][alike] = seed["timbre"]
    library["fused"][alike] = unit(seed["fused"] + 2.0 * unit(rng.normal(size=d)))
    sims, bonus, _ = track_scores(seed, library, (3.0, 1.0, 1.0))
    assert sims[alike] > sims[version]  # by sound alone the look-alike would come first
    order = np.argsort(-(sims + bonus))
    assert order[0] == version
    assert next(i for i in order if bonus[i] == 0) == alike
    assert bonus[alike] < bonus[version] and np.mean(bonus > 0) < 0.15


def test_a_seed_without_versions_listens_to_the_timbre_share_for_it():
    """A mixed timbre column (main part, graph part): a seed with a version in the library
    is ranked at the stored mix, where the main part's look-alike comes first; without
    one, at the share for seeds without versions (here the graph part alone), where the
    graph part's look-alike does."""
    rng = np.random.default_rng(2)
    n, d = 300, 32

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def timbre(main: np.ndarray, graph: np.ndarray) -> np.ndarray:
        return np.concatenate([0.8 * unit(main), 0.6 * unit(graph)], axis=-1)

    half = np.arange(d) < d // 2  # the library's content in one half, the seed's in the other
    library = {c: unit(rng.normal(size=(n, d)) * half).astype(np.float32)
               for c in ("fused", "harmony", "rhythm")}
    parts = rng.normal(size=(2, n, d))
    library["timbre"] = timbre(*parts).astype(np.float32)
    seed = {c: unit(rng.normal(size=d) * ~half).astype(np.float32) for c in library}
    seed_parts = rng.normal(size=(2, d))
    seed["timbre"] = timbre(*seed_parts).astype(np.float32)
    by_main, by_graph = 5, 6
    library["timbre"][by_main] = timbre(seed_parts[0], parts[1][by_main])
    library["timbre"][by_graph] = timbre(parts[0][by_graph], seed_parts[1])
    mix = TimbreMix(main_dim=d, without_versions=0.0)
    weights = (4.0, 1.0, 1.0)
    alone = track_scores(seed, library, weights, timbre=mix)
    assert alone.timbre_share == 0.0 and alone.bonus.max() <= LIKELY_VERSION
    assert alone.sound[by_graph] > alone.sound[by_main]
    stored = track_scores(seed, library, weights)
    assert stored.timbre_share is None and stored.sound[by_main] > stored.sound[by_graph]
    version = 7
    for c in ("fused", "harmony"):
        library[c][version] = unit(seed[c] + 0.3 * unit(rng.normal(size=d)))
    found = track_scores(seed, library, weights, timbre=mix)
    assert found.timbre_share is None and found.bonus[version] > LIKELY_VERSION
    np.testing.assert_allclose(found.sound, track_scores(seed, library, weights).sound)
    asked = track_scores(seed, library, weights, timbre=mix, share=0.0)  # the gate is skipped
    assert asked.timbre_share == 0.0 and asked.sound[by_graph] > asked.sound[by_main]
    for share in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(
            mix.similarities(library["timbre"], seed["timbre"], share),
            mix.remix(library["timbre"], share) @ mix.remix(seed["timbre"], share), atol=1e-5)
    remixed = mix.remix(library["timbre"], 0.0)
    np.testing.assert_allclose(np.linalg.norm(remixed, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(remixed[:, d:], unit(parts[1]) * (np.arange(n) != by_graph)[
        :, None] + unit(seed_parts[1]) * (np.arange(n) == by_graph)[:, None], atol=1e-5)


def test_the_version_bonus_looks_at_the_seeds_neighbourhood_only():
    """In a large library the bonus's statistics come from the tracks nearest the seed,
    so the tracks it lifts stay a few, however large the library."""
    rng = np.random.default_rng(1)
    content = rng.normal(size=5000).astype(np.float32)
    sound = rng.normal(size=5000).astype(np.float32)
    bonus = version_bonus(content, sound)
    near = np.union1d(np.argsort(-sound)[:VERSION_POOL], np.argsort(-content)[:VERSION_POOL])
    assert np.all(bonus[np.setdiff1d(np.arange(5000), near)] == 0)
    assert 0 < np.count_nonzero(bonus) <= 0.15 * near.size
    small = version_bonus(content[:300], sound[:300])  # all of a small library
    assert np.count_nonzero(small) == np.count_nonzero(
        (content[:300] - content[:300].mean()) / content[:300].std() > VERSION_Z)


def test_diversity_lowers_the_similarity_within_the_list(lib):
    seed = lib.analyze_seed(lib.tracks()[3].id)
    catalog = lib.catalog()

    def spread(d):
        results = lib.search(seed, SearchParams(k=5, diversity=d))
        rows = catalog.rows([r.track.id for r in results])
        vectors = weighted({k: v[rows] for k, v in catalog.track_vectors.items()}, (1, 1, 1))
        return mean_pairwise_similarity(vectors)

    assert spread(0.0) > spread(0.95)


def test_reranking_reuses_the_seed_without_decoding(lib, tmp_path, monkeypatch):
    path = write_audio(tmp_path / "outside.flac", song(100, 40, sr=SR), sr=SR)
    seed = lib.analyze_seed(path)
    assert not seed.excerpt

    def no_decoding(*args, **kwargs):
        raise AssertionError("re-ranking must not decode the seed again")

    monkeypatch.setattr(audio, "load_audio", no_decoding)
    monkeypatch.setattr(seed_mod, "load_audio", no_decoding)
    outputs = [lib.search(seed, SearchParams(k=5, prf=p, diversity=d, weights=w))
               for p in (0, 3) for d in (0.0, 0.5) for w in ((1, 1, 1), (0, 2, 0))]
    assert all(len(o) == 5 for o in outputs)
    assert [r.track.id for r in outputs[0]] != [r.track.id for r in outputs[-1]]


def test_prf_reranks_around_the_expanded_query(lib):
    seed = lib.analyze_seed(lib.tracks()[5].id)
    plain = lib.search(seed, SearchParams(k=N_SONGS))
    expanded = lib.search(seed, SearchParams(k=N_SONGS, prf=2))
    assert {r.track.id for r in plain} == {r.track.id for r in expanded}
    # the two feedback items can only gain similarity to the expanded query
    feedback = {r.track.id for r in plain[:2]}
    assert {r.track.id for r in expanded[:3]} >= feedback


@pytest.mark.slow
def test_repeated_queries_do_not_grow_memory(lib):
    seed = lib.analyze_seed((song(3, 8, sr=SR), SR))
    track_seed = lib.analyze_seed(lib.tracks()[0].id)
    params = SearchParams(k=10, prf=2, diversity=0.3)
    for _ in range(20):  # warm caches
        lib.search(seed, params)
        lib.search(track_seed, params)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            lib.search(seed, params)
            lib.search(track_seed, params)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 200 queries"


def test_too_short_recording_is_a_clear_error(lib):
    with pytest.raises(Exception, match="too short"):
        lib.analyze_seed((np.zeros(100, np.float32), SR))
