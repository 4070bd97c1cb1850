"""A model with a separate timbre graph: card formats 3 and 4 (the main graph's timbre
mixed in), embedding, scanning, checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from engine.analysis import analyse_path, mean_vector
from engine.audio import load_audio
from engine.errors import ModelError
from engine.index import normalise
from engine.model import Embedder, load_card
from engine.timbre import TimbreMix, pool_frames, pooled_mel, pooled_segments
from engine.windowed import selected_segments
from tests.model_factory import add_timbre_graph, build_model, small_feature_config, write_music


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path]:
    """The same random model twice, the second with a timbre graph."""
    config = small_feature_config()
    base = build_model(tmp_path / "base", config=config, seed=3)
    timbre = add_timbre_graph(build_model(tmp_path / "timbre", config=config, seed=3))
    return base, timbre


def test_pooling_averages_whole_blocks_and_drops_the_rest():
    x = np.arange(2 * 5 * 9, dtype=np.float32).reshape(2, 5, 9)
    out = pool_frames(x, 2, 4)
    assert out.shape == (2, 2, 2)
    assert out[1, 1, 0] == pytest.approx(x[1, 2:4, 0:4].mean())
    assert pooled_mel(x, (2, 4)).dtype == np.float16


@pytest.mark.parametrize("hop_seconds", [2.0, 1.0, 0.7])
def test_consecutive_segments_are_pooled_once_as_each_alone(hop_seconds):
    from tests.model_factory import with_segments

    config = with_segments(small_feature_config(), hop_seconds=hop_seconds)
    y = np.random.default_rng(1).standard_normal(config.sr * 20).astype(np.float32) * 0.1
    segs = selected_segments(y, config=config, max_segments=None)
    alone = pooled_mel(segs.mel, (2, 4)).astype(np.float32)
    np.testing.assert_allclose(pooled_segments(segs, config, (2, 4)).astype(np.float32),
                               alone, atol=0.05)  # float16 rounding of dB values


def test_the_timbre_graph_gives_the_timbre_vectors_and_nothing_else(models):
    base, timbre = models
    plain, with_graph = Embedder(base), Embedder(timbre)
    with_graph.check()
    rng = np.random.default_rng(0)
    config = with_graph.config
    y = rng.standard_normal(config.sr * 12).astype(np.float32) * 0.1
    segs = selected_segments(y, config=config, max_segments=None)
    a, b = plain.embed(segs), with_graph.embed(segs)
    np.testing.assert_array_equal(a.fused, b.fused)
    for branch in ("harmony", "rhythm"):
        np.testing.assert_array_equal(a.branches[branch], b.branches[branch])
    w = np.load(timbre / "timbre_W.npy")
    pooled = pooled_mel(segs.mel, (2, 4)).astype(np.float32)
    expected = normalise(pooled.mean(axis=2) @ w)
    assert b.branches["timbre"].shape == (len(segs), 16)
    np.testing.assert_allclose(b.branches["timbre"], expected, atol=1e-5)
    assert plain.fingerprint != with_graph.fingerprint
    without = with_graph.embed(segs, timbre=False)
    assert "timbre" not in without.branches


@pytest.mark.parametrize("mix", [False, True])
def test_a_scan_runs_the_timbre_graph_on_the_kept_segments_as_a_seed_would(models, mixed,
                                                                           tmp_path, mix):
    emb = Embedder(mixed if mix else models[1])
    path = write_music(tmp_path / "music", 1, seconds=40.0, sr=emb.config.sr)[0]
    result = analyse_path(str(path), 1, 4, emb)
    assert result.ok and len(result.starts) == 4
    segs = selected_segments(load_audio(path, sr=emb.config.sr), config=emb.config,
                             max_segments=None)
    every = emb.embed(segs)
    kept = [int(np.argmin(np.abs(segs.starts - s))) for s in result.starts]
    np.testing.assert_allclose(result.segments["timbre"], every.branches["timbre"][kept],
                               atol=1e-6)
    np.testing.assert_allclose(result.track["timbre"],
                               mean_vector(every.branches["timbre"][kept]), atol=1e-6)
    assert result.dense.shape[0] == len(segs)  # every segment's fused vector, as before


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """The same random model with a timbre graph and 0.64 of its own timbre mixed in."""
    return add_timbre_graph(build_model(tmp_path / "mixed", config=small_feature_config(),
                                        seed=3), mix=0.64)


def test_a_mixed_timbre_column_holds_both_timbre_vectors_weighted(models, mixed):
    """Card format 4: each segment's timbre column is the main graph's and the timbre
    graph's unit vectors side by side, weighted 0.8 and 0.6, so that two segments'
    timbre similarity is 0.64 x the main graph's + 0.36 x the timbre graph's."""
    base, graph = (Embedder(m) for m in models)
    emb = Embedder(mixed)
    emb.check()
    config = emb.config
    y = np.random.default_rng(4).standard_normal(config.sr * 12).astype(np.float32) * 0.1
    segs = selected_segments(y, config=config, max_segments=None)
    main, alone, got = (e.embed(segs).branches["timbre"] for e in (base, graph, emb))
    assert got.shape == (len(segs), main.shape[1] + 16) == (len(segs), emb.card.branch_dims[
        "timbre"])
    np.testing.assert_allclose(got, np.concatenate([0.8 * main, 0.6 * alone], axis=1),
                               atol=1e-5)
    np.testing.assert_allclose(got @ got.T, 0.64 * main @ main.T + 0.36 * alone @ alone.T,
                               atol=1e-5)
    np.testing.assert_array_equal(emb.embed(segs, timbre=False).branches["timbre"], main)
    assert len({e.fingerprint for e in (base, graph, emb)}) == 3
    assert json.loads((mixed / "card.json").read_text())["format_version"] == 4
    with pytest.raises(ModelError, match="main timbre"):
        emb.timbre_vectors(pooled_mel(segs.mel, (2, 4)))


@pytest.mark.parametrize("seconds", [40.0, 3.0])  # several pieces; shorter than a segment
@pytest.mark.parametrize("mix", [False, True])
def test_streamed_pieces_give_each_segment_the_timbre_vector_a_seed_gets(models, mixed,
                                                                         seconds, mix):
    from engine.stream import embed_stream, kept_vectors

    emb = Embedder(mixed if mix else models[1])
    config = emb.config
    y = np.random.default_rng(2).standard_normal(int(config.sr * seconds)).astype(
        np.float32) * 0.1
    blocks = [y[i: i + config.sr * 5] for i in range(0, y.size, config.sr * 5)]
    dense = embed_stream(iter(blocks), emb, chunk_segments=3)
    segs = selected_segments(y, config=config, max_segments=None)
    assert dense.pooled is not None and len(dense.starts) == len(segs.starts)
    every = np.arange(len(segs.starts))
    # 40 s: pieces of 3 segments, each pooled once; 3 s: one tiled segment, pooled alone
    assert len(dense.pooled.spans) == (-(-len(every) // 3) if seconds > 4 else len(every))
    np.testing.assert_allclose(kept_vectors(dense, every, emb)["timbre"],
                               emb.embed(segs).branches["timbre"], atol=2e-3)
    np.testing.assert_allclose(dense.pooled.cut(every[::-1]).astype(np.float32),
                               pooled_mel(segs.mel, (2, 4))[::-1].astype(np.float32),
                               atol=0.05)  # float16 rounding of dB values


def test_the_card_says_format_3_and_reads_back(models):
    _, timbre = models
    data = json.loads((timbre / "card.json").read_text())
    assert data["format_version"] == 3 and data["timbre"]["stem"] == [2, 4]
    card = load_card(timbre)
    assert card.timbre_stem == (2, 4) and card.branch_dims["timbre"] == 16


@pytest.mark.parametrize("entry", [{"file": "timbre.onnx", "sha256": "x"},
                                   {"file": "timbre.onnx", "sha256": "x", "stem": [0, 4]},
                                   {"sha256": "x", "stem": [2, 4]},
                                   *({"file": "timbre.onnx", "sha256": "x", "stem": [2, 4],
                                      "gain": g} for g in (0, -1, "loud", 1e9)),
                                   *({"file": "timbre.onnx", "sha256": "x", "stem": [2, 4],
                                      "mix": m} for m in (1, -0.1, "half")),
                                   *({"file": "timbre.onnx", "sha256": "x", "stem": [2, 4],
                                      **extra} for extra in (
                                       {"mix_without_versions": 0.0},  # no mix
                                       {"mix": 0.5, "mix_without_versions": 0.0},  # no width
                                       {"mix": 0.5, "main_dim": 8, "mix_without_versions": 1.5},
                                       {"mix": 0.5, "main_dim": 16, "mix_without_versions": 0},
                                       {"mix": 0.5, "main_dim": "x", "mix_without_versions": 0},
                                   ))])
def test_a_malformed_timbre_entry_is_refused(models, entry):
    _, timbre = models
    data = json.loads((timbre / "card.json").read_text())
    data["timbre"] = entry
    (timbre / "card.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="timbre"):
        load_card(timbre)


def test_the_timbre_gain_scales_a_library_search_and_keeps_the_vectors(models, tmp_path):
    """A card's timbre ``gain`` multiplies the user's timbre weight in every library
    search (ranked as :func:`engine.search.search` with the scaled weights); the vectors,
    so the fingerprint and the analysed library, stay."""
    from engine.library import Library
    from engine.search import SearchParams, search

    _, timbre = models
    music = tmp_path / "music"
    write_music(music, 6, seconds=14.0, sr=Embedder(timbre).config.sr)
    lib = Library.open(tmp_path / "lib", model_dir=timbre)
    try:
        list(lib.scan([music], workers=0))
        seed = lib.analyze_seed(lib.tracks()[0].id)
        plain = [(r.track.id, r.score) for r in lib.search(seed, SearchParams(k=5))]
        before = lib.embedder.fingerprint
    finally:
        lib.close()
    data = json.loads((timbre / "card.json").read_text())
    data["timbre"]["gain"] = 4.0
    (timbre / "card.json").write_text(json.dumps(data))
    lib = Library.open(tmp_path / "lib", model_dir=timbre)
    try:
        assert lib.embedder.card.weight_gains == (4.0, 1.0, 1.0)
        assert lib.embedder.fingerprint == before  # the stored vectors still serve
        seed = lib.analyze_seed(lib.tracks()[0].id)
        got = [(r.track.id, r.score) for r in lib.search(seed, SearchParams(k=5))]
        want = [(r.track.id, r.score) for r in search(
            seed, SearchParams(k=5, weights=(4.0, 1.0, 1.0)), catalog=lib.catalog(),
            store=lib.store)]
        halved = [(r.track.id, r.score) for r in lib.search(
            seed, SearchParams(k=5, weights=(0.5, 1.0, 1.0)))]
        direct = [(r.track.id, r.score) for r in search(
            seed, SearchParams(k=5, weights=(2.0, 1.0, 1.0)), catalog=lib.catalog(),
            store=lib.store)]
    finally:
        lib.close()
    for a, b in ((got, want), (halved, direct)):
        assert [i for i, _ in a] == [i for i, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-6)
    assert not np.allclose([s for _, s in got], [s for _, s in plain])


def test_a_missing_or_replaced_timbre_graph_is_refused(models):
    _, timbre = models
    graph = timbre / "timbre.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="sha256"):
        Embedder(timbre)
    graph.unlink()
    with pytest.raises(ModelError, match="missing"):
        Embedder(timbre)


def test_the_shipped_models_share_their_graphs_and_differ_in_the_timbre_mix():
    """resources/models: the default mixes its own timbre branch with the timbre graph that
    the alternative, sounds-alike, listens to alone; the two share every graph, so their
    vectors differ only in the timbre column, and the default is listed first."""
    from engine.model import default_model_dir, shipped_model_dirs

    dirs = shipped_model_dirs()
    assert dirs[0] == default_model_dir()
    alternative = default_model_dir().parent / "sounds-alike"
    assert alternative in dirs[1:]
    default, sounds = Embedder(dirs[0]), Embedder(alternative)
    for emb in (default, sounds):
        emb.check()
    assert default.card.sha256 == sounds.card.sha256
    assert default.card.timbre["sha256"] == sounds.card.timbre["sha256"]
    assert (default.card.timbre_mix, sounds.card.timbre_mix) == (0.8, 0.0)
    main = default.card.branch_dims["timbre"] - sounds.card.branch_dims["timbre"]
    assert TimbreMix.of(default.card) == TimbreMix(main_dim=main, without_versions=0.0)
    assert TimbreMix.of(sounds.card) is None
    assert default.card.weight_gains == sounds.card.weight_gains == (4.0, 1.0, 1.0)
    assert default.fingerprint != sounds.fingerprint
    config = default.config
    y = np.random.default_rng(5).standard_normal(config.sr * 20).astype(np.float32) * 0.1
    segs = selected_segments(y, config=config, max_segments=2)
    a, b = default.embed(segs), sounds.embed(segs)
    np.testing.assert_array_equal(a.fused, b.fused)
    np.testing.assert_allclose(a.branches["timbre"][:, -b.branches["timbre"].shape[1]:],
                               np.sqrt(0.2) * b.branches["timbre"], atol=1e-6)


def test_a_seed_without_versions_is_searched_at_the_cards_share(tmp_path: Path):
    """A card's ``mix_without_versions``: a library search for a track seed with no likely
    version of itself in the library ranks, PRF and MMR included, as the same search at
    that share of the main timbre branch would (the stored vectors re-weighted, the
    fingerprint unchanged); a seed with one keeps the stored mix."""
    from engine.library import Library
    from engine.search import LIKELY_VERSION, Retriever, SearchParams, search, track_scores

    folder = add_timbre_graph(build_model(tmp_path / "m", config=small_feature_config(),
                                          seed=3), mix=0.64, without_versions=0.0)
    card = load_card(folder)
    plain = dataclasses.replace(card, timbre={k: v for k, v in card.timbre.items()
                                              if k != "mix_without_versions"}).fingerprint
    music = tmp_path / "music"
    write_music(music, 8, seconds=14.0, sr=Embedder(folder).config.sr)
    lib = Library.open(tmp_path / "lib", model_dir=folder)
    try:
        list(lib.scan([music], workers=0))
        assert lib.embedder.fingerprint == plain
        mix = TimbreMix.of(lib.embedder.card)
        assert mix == TimbreMix(main_dim=lib.embedder.card.branch_dims["timbre"] - 16,
                                without_versions=0.0)
        cat = lib.catalog()
        params = SearchParams(k=4, prf=2, diversity=0.3).scaled(lib.embedder.card.weight_gains)
        retriever = Retriever(cat, lib.store, timbre=mix)
        for track in lib.tracks():
            seed = lib.analyze_seed(track.id)
            _, bonus, listened = retriever.rank_library(seed, params)
            if listened.timbre_share is None:  # a likely version: the stored mix
                assert bonus.max() > LIKELY_VERSION
                continue
            assert listened.timbre_share == 0.0
            asked = dataclasses.replace(params, timbre_share=1.0)  # a share asked for is kept
            assert retriever.rank_library(seed, asked)[2].timbre_share == 1.0
            own = cat.track_ids == track.id
            found = track_scores(seed.track, cat.track_vectors, params.weights, exclude=own,
                                 timbre=mix)
            stored = track_scores(seed.track, cat.track_vectors, params.weights, exclude=own)
            assert (found.timbre_share, stored.timbre_share) == (0.0, None)
            graph = normalise(cat.track_vectors["timbre"][:, mix.main_dim:])  # its part alone
            alone = track_scores(
                {**seed.track, "timbre": normalise(seed.track["timbre"][None, mix.main_dim:])[0]},
                {**cat.track_vectors, "timbre": graph}, params.weights, exclude=own)
            np.testing.assert_allclose(found.sound, alone.sound, atol=1e-5)
            got = lib.search(seed, SearchParams(k=4, prf=2, diversity=0.3))
            want = search(seed, params, catalog=cat, store=lib.store,
                          retriever=retriever)
            without = search(seed, params, catalog=cat, store=lib.store)
            assert [(r.track.id, round(r.score, 5)) for r in got] == [
                (r.track.id, round(r.score, 5)) for r in want]
            assert [r.score for r in got] != [r.score for r in without]
            seed_graph = normalise(seed.track["timbre"][None, mix.main_dim:])[0]
            for r in got:  # the timbre similarity it listened to
                row = cat.rows(np.array([r.track.id]))[0]
                assert r.modalities["timbre"] == pytest.approx(float(graph[row] @ seed_graph),
                                                               abs=1e-5)
            break
        else:
            pytest.fail("every seed had a likely version")
    finally:
        lib.close()
