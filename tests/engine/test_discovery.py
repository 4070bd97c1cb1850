"""Discovery on a scanned library: map, song path, mixes and several seeds at once."""

from __future__ import annotations

import itertools

import mutagen
import numpy as np
import pytest

from engine.discovery import (
    build_layout,
    library_map,
    library_mixes,
    library_path,
    search_together,
    song_path,
)
from engine.discovery.mapcache import map_path
from engine.discovery.mixes import make_mixes, name_mix
from engine.discovery.space import sound_space
from engine.errors import Cancelled, ParameterError
from engine.library import Library, SearchParams
from engine.records import TrackInfo
from engine.search import weighted
from tests.audio_factory import song, write_audio
from tests.model_factory import build_model, write_music

SR = 16000
N_SONGS = 14
COPIED = 3  # song003 also exists as a re-encoded and a noisy, trimmed copy


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("discovery")
    model = build_model(root / "model")
    files = write_music(root / "music", N_SONGS, seconds=10)
    for i, path in enumerate(files):
        tags = mutagen.File(path, easy=True)
        tags["artist"], tags["genre"], tags["title"] = f"Artist {i % 4}", "Synth", f"Song {i}"
        tags.save()
    original = song(COPIED, 10, sr=SR)
    write_audio(root / "music" / "copy_reencoded.ogg", original, sr=SR)
    trimmed = original[SR // 2:] + 0.003 * np.random.default_rng(1).standard_normal(
        original.size - SR // 2).astype(np.float32)
    write_audio(root / "music" / "copy_trimmed.wav", trimmed, sr=SR)
    library = Library.open(root / "lib", model_dir=model)
    list(library.scan([root / "music"], workers=0))
    assert library.count() == N_SONGS + 2
    yield root, library
    library.close()


def ids_by_name(library):
    return {t.path.stem: t.id for t in library.tracks()}


def space(library):
    """The tracks and their rows in the space discovery reads."""
    catalog = library.catalog()
    return catalog.track_ids, sound_space(catalog, library.embedder.card)


def test_path_runs_from_a_to_b_without_repeats_steadily_closer(env):
    _, library = env
    ids, vectors = space(library)
    sims = vectors @ vectors.T
    a, b = np.unravel_index(np.argmin(sims), sims.shape)  # the two least alike songs
    tracks = library_path(library, int(ids[a]), int(ids[b]), 6)
    got = [t.id for t in tracks]
    assert len(got) == 6 and len(set(got)) == 6
    assert got[0] == ids[a] and got[-1] == ids[b]
    rows = library.catalog().rows(np.array(got))
    to_b = vectors[rows] @ vectors[b]
    assert np.all(np.diff(to_b) > 0)


def test_path_steps_beat_random_orderings(env, rng):
    _, library = env
    ids, vectors = space(library)
    sims = vectors @ vectors.T
    a, b = np.unravel_index(np.argmin(sims), sims.shape)
    rows = song_path(vectors, int(a), int(b), 6)
    steps = np.mean([sims[i, j] for i, j in itertools.pairwise(rows)])
    others = np.setdiff1d(np.arange(len(ids)), [a, b])
    random_steps = []
    for _ in range(300):
        middle = rng.choice(others, size=4, replace=False)
        order = [a, *middle, b]
        random_steps.append(np.mean([sims[i, j] for i, j in itertools.pairwise(order)]))
    assert steps > np.percentile(random_steps, 95)


def test_path_on_synthetic_clusters_walks_through_the_middle(rng):
    # points on an arc from A to B plus far-away noise: the path must follow the arc
    angles = np.linspace(0, np.pi / 2, 12)
    arc = np.stack([np.cos(angles), np.sin(angles), np.zeros(12)], axis=1)
    noise = rng.standard_normal((40, 3)) * [0.2, 0.2, 1.0] + [0, 0, 3]
    vectors = np.concatenate([arc, noise]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = song_path(vectors, 0, 11, 12)
    assert rows == list(range(12))


def test_path_widens_its_candidates_when_the_nearest_allow_no_path(monkeypatch):
    from engine.discovery import path

    monkeypatch.setattr(path, "EXHAUSTIVE_BELOW", 0)
    monkeypatch.setattr(path, "CANDIDATES", 1)
    # the hub on the arc's middle is the nearest track to every way-point
    angles = np.radians([0, 22.5, 45, 67.5, 90])
    points = np.stack([np.cos(angles), np.sin(angles), [0, 0.5, 0, 0.5, 0]], axis=1)
    vectors = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    assert song_path(vectors, 0, 4, 5) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("length, message", [(1, "at least 2"), (99, "at most")])
def test_path_refuses_impossible_requests(env, length, message):
    _, library = env
    ids, vectors = space(library)
    sims = vectors @ vectors.T
    a, b = np.unravel_index(np.argmin(sims), sims.shape)
    with pytest.raises(ParameterError, match=message):
        library_path(library, int(ids[a]), int(ids[b]), length)


def test_path_from_a_near_neighbour_of_b_says_how_long_it_can_be(env):
    _, library = env
    ids, vectors = space(library)
    b = 0
    a = int(np.argsort(vectors @ vectors[b])[-3])  # the third most alike to B (B first)
    available = int(np.sum(vectors @ vectors[b] > vectors[a] @ vectors[b])) - 1
    with pytest.raises(ParameterError, match=f"at most {available + 2} tracks"):
        library_path(library, int(ids[a]), int(ids[b]), available + 3)
    assert len(library_path(library, int(ids[a]), int(ids[b]), available + 2)) == available + 2


def test_path_needs_two_analysed_tracks(env):
    _, library = env
    ids, _ = space(library)
    with pytest.raises(ParameterError, match="two different"):
        library_path(library, int(ids[0]), int(ids[0]), 4)
    with pytest.raises(ParameterError, match="not been analysed"):
        library_path(library, int(ids[0]), 10_000, 4)


@pytest.mark.parametrize("count", [1, 3, 7, N_SONGS + 2])
def test_mixes_cover_every_track_exactly_once(env, count):
    _, library = env
    mixes = library_mixes(library, count)
    members = [t for m in mixes for t in m.track_ids]
    assert sorted(members) == sorted(int(i) for i in library.catalog().track_ids)
    assert len({m.name for m in mixes}) == len(mixes)
    assert [m.index for m in mixes] == list(range(len(mixes)))
    assert len(mixes) <= count


def test_mix_tracks_are_closer_to_their_own_mix(env):
    _, library = env
    ids, vectors = space(library)
    mixes = library_mixes(library, 3)
    row = {int(t): r for r, t in enumerate(ids)}
    centres = [vectors[[row[t] for t in m.track_ids]].mean(axis=0) for m in mixes]
    for m, centre in zip(mixes, centres, strict=True):
        own = vectors[[row[t] for t in m.track_ids]] @ centre
        assert own.mean() > max(float((vectors[[row[t] for t in m.track_ids]] @ c).mean())
                                for c in centres if c is not centre)


def test_copies_of_a_song_share_a_mix(env):
    _, library = env
    names = ids_by_name(library)
    mixes = library_mixes(library, 5)
    mix_of = {t: m.index for m in mixes for t in m.track_ids}
    assert mix_of[names["copy_reencoded"]] == mix_of[names[f"song{COPIED:03d}"]]
    assert mix_of[names["copy_trimmed"]] == mix_of[names[f"song{COPIED:03d}"]]


def info(track_id, *, genre=None, artist=None, album=None, title=None):
    from pathlib import Path

    return TrackInfo(id=track_id, path=Path(f"/m/{track_id}.flac"), title=title, artist=artist,
                     album=album, album_artist=None, track_no=None, year=None, genre=genre,
                     duration=None, format="flac", has_cover=False, status="ok", error=None)


def test_mix_names_come_from_shared_tags_or_the_central_track():
    infos = {1: info(1, genre="Jazz", artist="Ann"), 2: info(2, genre="jazz", artist="Bob"),
             3: info(3, genre="Jazz", artist="Ann"), 4: info(4, title="Blue", artist="Cy"),
             5: info(5, album="Live"), 6: info(6, album="Live", genre="Pop")}
    assert name_mix([1, 2, 3], infos) == "Jazz · Ann"
    assert name_mix([1, 4, 2], infos) == "Jazz"  # most tracks, whatever the case
    assert name_mix([2, 4], infos) == "Like Bob - 2"  # half is not most
    assert name_mix([4, 1, 2, 5, 6], infos) == "Like Cy - Blue"
    assert name_mix([5, 6], infos) == "Live"
    assert name_mix([7], infos) == "Like track 7"


def test_same_tag_names_get_their_central_track():
    vectors = np.eye(4, dtype=np.float32)[[0, 0, 1, 1]] + 0.01
    infos = {i: info(i, genre="Rock", title=f"T{i}") for i in range(4)}
    mixes = make_mixes(np.arange(4), vectors, infos, count=2)
    assert sorted(m.name for m in mixes) == ["Rock (T0)", "Rock (T2)"] or \
        sorted(m.name for m in mixes) == ["Rock (T1)", "Rock (T3)"]


def test_map_puts_copies_of_a_song_next_to_each_other(env):
    _, library = env
    layout = library_map(library, rebuild=True).layout
    names = ids_by_name(library)
    copies = {names[f"song{COPIED:03d}"], names["copy_reencoded"], names["copy_trimmed"]}
    row = {int(t): r for r, t in enumerate(layout.ids)}
    pairs = np.linalg.norm(layout.xy[:, None] - layout.xy[None, :], axis=2)
    typical = np.percentile(pairs[np.triu_indices(len(pairs), 1)], 25)
    for track in copies:
        d = pairs[row[track]].copy()
        d[row[track]] = np.inf
        assert int(layout.ids[np.argmin(d)]) in copies  # its nearest neighbour is a copy
        assert max(d[row[c]] for c in copies - {track}) < typical
    assert np.abs(layout.xy).max() <= 1.0 + 1e-6


def test_map_is_cached_and_placed_incrementally(env, tmp_path):
    root, library = env
    first = library_map(library, rebuild=True)
    assert first.rebuilt and map_path(library.folder).is_file()
    again = library_map(library)
    assert not again.rebuilt and again.added == again.removed == 0
    np.testing.assert_array_equal(again.layout.xy, first.layout.xy)
    extra = root / "extra"
    extra.mkdir()
    write_audio(extra / "again003.flac", song(COPIED, 10, sr=SR), sr=SR)
    write_audio(extra / "new050.flac", song(50, 10, sr=SR), sr=SR)
    list(library.scan([extra], workers=0))
    update = library_map(library)
    assert not update.rebuilt and update.added == 2 and update.removed == 0
    kept = np.isin(update.layout.ids, first.layout.ids)
    np.testing.assert_array_equal(update.layout.xy[kept], first.layout.xy)
    names = ids_by_name(library)
    where = {int(t): xy for t, xy in zip(update.layout.ids, update.layout.xy, strict=True)}
    gap = np.linalg.norm(where[names["again003"]] - where[names[f"song{COPIED:03d}"]])
    assert gap < 0.05
    library.remove_root(extra)
    shrunk = library_map(library)
    assert shrunk.removed == 2 and not shrunk.rebuilt
    np.testing.assert_array_equal(shrunk.layout.xy, first.layout.xy)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_map_cache_is_laid_out_again(env, damage):
    _, library = env
    library_map(library)
    path = map_path(library.folder)
    data = path.read_bytes()
    path.write_bytes(b"not a map" if damage == "garbage" else data[: len(data) // 2])
    assert library_map(library).rebuilt
    assert not library_map(library).rebuilt  # and cached again


def test_layout_grows_by_placement_and_rebuilds_past_double():
    from engine.discovery.mapcache import update_layout

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((61, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(61) * 3
    base = build_layout(ids[:30], vectors[:30])
    np.testing.assert_array_equal(base.xy, build_layout(ids[:30], vectors[:30]).xy)
    grown = update_layout(base, ids[:45], vectors[:45])
    assert not grown.rebuilt and grown.added == 15
    assert update_layout(grown.layout, ids, vectors).rebuilt  # 61 > 2 x 30
    dup = base.place(vectors[:1])
    np.testing.assert_allclose(dup[0], base.xy[0], atol=1e-3)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_tiny_libraries_get_a_map(n):
    vectors = np.eye(8, dtype=np.float32)[:n]
    layout = build_layout(np.arange(n), vectors)
    assert layout.xy.shape == (n, 2) and np.isfinite(layout.xy).all()


def test_more_like_these_ranks_by_mean_similarity_to_the_seeds(env):
    _, library = env
    names = ids_by_name(library)
    seeds = [library.analyze_seed(names[f"song{i:03d}"]) for i in (1, 5, 9)]
    params = SearchParams(k=8, weights=(0.0, 0.0, 0.0))  # the fused space alone
    results = search_together(library, seeds, params)
    got = [r.track.id for r in results]
    seed_ids = {s.track_id for s in seeds}
    assert len(got) == 8 and not seed_ids & set(got)
    catalog = library.catalog()
    space = weighted({k: v.astype(np.float32) for k, v in catalog.track_vectors.items()},
                     params.weights)
    rows = catalog.rows(np.array(sorted(seed_ids)))
    mean_sim = (space @ space[rows].T).mean(axis=1)
    others = [int(t) for t in catalog.track_ids if int(t) not in seed_ids]
    expected = sorted(others, key=lambda t: -mean_sim[catalog.rows(np.array([t]))[0]])[:8]
    assert got == expected


def test_one_seed_together_is_the_plain_search(env):
    _, library = env
    seed = library.analyze_seed(ids_by_name(library)["song002"])
    plain = [r.track.id for r in library.search(seed, SearchParams(k=5))]
    together = [r.track.id for r in search_together(library, [seed], SearchParams(k=5))]
    assert together == plain


def test_big_libraries_place_the_tracks_beyond_the_anchors():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 16))
    labels = np.repeat(np.arange(3), 30)
    vectors = (centres[labels] + 0.3 * rng.standard_normal((90, 16))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    layout = build_layout(np.arange(90), vectors, max_anchors=30)
    assert len(layout.anchor_xy) == 30 and layout.xy.shape == (90, 2)
    assert np.abs(layout.xy).max() <= 1.0 + 1e-6
    nearest = np.linalg.norm(layout.xy[:, None] - layout.xy[None], axis=2)
    np.fill_diagonal(nearest, np.inf)
    assert np.mean(labels[nearest.argmin(axis=1)] == labels) > 0.9  # groups stay together


@pytest.mark.slow  # a fresh interpreter importing openTSNE and scikit-learn
def test_the_map_needs_no_jit_qt_or_torch():
    from tests.engine.test_boundaries import run_blocked

    result = run_blocked("""
        import sys
        import numpy as np
        from engine.discovery import build_layout
        v = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
        assert build_layout(np.arange(300), v).xy.shape == (300, 2)
        assert "numba" not in sys.modules and "llvmlite" not in sys.modules
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_a_map_layout_can_be_abandoned_and_leaves_the_cache_alone(env):
    _, library = env
    before = library_map(library, rebuild=True)
    stamp = map_path(library.folder).stat().st_mtime_ns
    polls = []

    def stop_on_third_poll() -> bool:  # after the PCA, the neighbours, the affinities
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(Cancelled):
        library.library_map(rebuild=True, should_stop=stop_on_third_poll)
    assert len(polls) == 3
    assert map_path(library.folder).stat().st_mtime_ns == stamp
    again = library_map(library)
    assert not again.rebuilt
    np.testing.assert_array_equal(again.layout.xy, before.layout.xy)


def test_optimisation_polls_the_stop_check_and_stops_at_once():
    from engine.discovery import layout as lay

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    polls = []

    def stop_late() -> bool:
        polls.append(1)
        return len(polls) > 6

    with pytest.raises(Cancelled):
        build_layout(np.arange(300), vectors, should_stop=stop_late)
    # 4 polls before the optimisation (a PCA block, after the PCA, the neighbours, the
    # affinities), then one every STOP_CHECK_EVERY iterations
    assert len(polls) == 7 < 4 + (lay.EARLY_ITERATIONS + lay.ITERATIONS) // lay.STOP_CHECK_EVERY
    never = build_layout(np.arange(300), vectors, should_stop=lambda: False)
    np.testing.assert_array_equal(never.xy, build_layout(np.arange(300), vectors).xy)


def test_the_pca_sums_blocks_polls_between_them_and_finds_the_leading_axes(monkeypatch):
    from engine.discovery import layout as lay

    monkeypatch.setattr(lay, "PCA_BLOCK", 100)
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((1050, 80)) * np.linspace(5.0, 0.1, 80) + 3.0).astype(np.float32)
    polls = []
    mean, axes = lay._pca(x, lambda: polls.append(1))
    assert len(polls) == 11  # one per block of 100 rows
    centred = x.astype(np.float64) - x.mean(axis=0)
    want = np.linalg.svd(centred, full_matrices=False)[2][: lay.PCA_DIMS].T
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-5)
    assert axes.shape == (80, lay.PCA_DIMS) and axes.dtype == np.float32
    np.testing.assert_allclose(np.abs(np.sum(axes * want, axis=0)), 1.0, atol=1e-4)


def test_approximate_neighbours_match_the_exact_ones():
    from engine.discovery import layout as lay

    rng = np.random.default_rng(6)
    centres = rng.standard_normal((40, 50))
    z = (centres[rng.integers(0, 40, lay.APPROXIMATE_FROM)]
         + rng.standard_normal((lay.APPROXIMATE_FROM, 50))).astype(np.float32)
    z[1] = z[0]  # an exact duplicate: self may be lost among equal rows
    nn, dist = lay._neighbours(z, 30)
    assert nn.shape == dist.shape == (len(z), 30)
    assert not (nn == np.arange(len(z))[:, None]).any()
    assert (np.diff(dist, axis=1) >= -1e-4).all()
    exact = np.sort(np.linalg.norm(z[:200, None] - z[None], axis=2), axis=1)[:, 1:31]
    recall = np.mean([len(set(nn[i]) & set(np.argsort(np.linalg.norm(z - z[i], axis=1))[:31]))
                      / 30 for i in range(200)])
    assert recall > 0.9
    np.testing.assert_allclose(dist[:200, 0], exact[:, 0], rtol=1e-3, atol=1e-3)
