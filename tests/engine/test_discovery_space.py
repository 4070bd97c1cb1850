"""The space the map, the mixes and the song path read: the search's, at neutral sliders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.discovery import library_map, library_mixes, library_path, make_mixes
from engine.discovery.mapcache import load_layout, map_path
from engine.discovery.space import sound_space, space_key
from engine.library import Library
from engine.model import Embedder
from engine.search import SearchParams, track_scores
from engine.timbre import TimbreMix
from tests.model_factory import add_timbre_graph, build_model, small_feature_config, write_music


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A scanned library of a model whose timbre column mixes 0.64 of the main graph's
    timbre with a timbre graph's, searched at share 0 without versions, timbre gain 4."""
    root = tmp_path_factory.mktemp("space")
    folder = add_timbre_graph(build_model(root / "model", config=small_feature_config(),
                                          seed=5), mix=0.64, without_versions=0.0)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card["timbre"]["gain"] = 4.0
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    write_music(root / "music", 10, seconds=14.0, sr=Embedder(folder).config.sr)
    library = Library.open(root / "lib", model_dir=folder)
    list(library.scan([root / "music"], workers=0))
    yield folder, library
    library.close()


def test_rows_give_the_similarity_a_search_at_neutral_sliders_gives(env):
    _, library = env
    catalog, card = library.catalog(), library.embedder.card
    mix = TimbreMix.of(card)
    assert mix is not None and card.weight_gains == (4.0, 1.0, 1.0)
    rows = sound_space(catalog, card)
    graph_dim = card.branch_dims["timbre"] - mix.main_dim
    widths = {name: v.shape[1] for name, v in catalog.track_vectors.items()}
    # the main branch is weighted 0 at share 0: its columns are left out, not zeros
    assert rows.shape == (len(catalog.track_ids), widths["fused"] + graph_dim
                          + widths["harmony"] + widths["rhythm"])
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    weights = SearchParams().scaled(card.weight_gains).weights
    for r, track_id in enumerate(catalog.track_ids):
        seed = library.analyze_seed(int(track_id))
        own = catalog.track_ids == track_id
        heard = track_scores(seed.track, catalog.track_vectors, weights, exclude=own,
                             timbre=mix, share=0.0).sound
        np.testing.assert_allclose((rows @ rows[r])[~own], heard[~own], atol=1e-5)
    stored = track_scores(library.analyze_seed(int(catalog.track_ids[0])).track,
                          catalog.track_vectors, weights, exclude=catalog.track_ids == 0).sound
    assert not np.allclose(rows @ rows[0], stored, atol=1e-3)  # not the stored 0.64 mix


def test_mixes_path_and_map_are_made_in_that_space(env):
    _, library = env
    catalog, card = library.catalog(), library.embedder.card
    rows = sound_space(catalog, card)
    infos = {t.id: t for t in library.tracks()}
    got = library_mixes(library, 3)
    want = make_mixes(catalog.track_ids, rows, infos, count=3)
    assert [(m.name, m.track_ids) for m in got] == [(m.name, m.track_ids) for m in want]
    sims = rows @ rows.T
    a, b = np.unravel_index(np.argmin(sims), sims.shape)  # the two least alike there
    path = [t.id for t in library_path(library, int(catalog.track_ids[a]),
                                       int(catalog.track_ids[b]), 5)]
    to_b = rows[catalog.rows(np.array(path))] @ rows[b]
    assert np.all(np.diff(to_b) > 0)  # steadily closer to B in this space
    layout = library_map(library, rebuild=True).layout
    assert layout.mean.shape == (rows.shape[1],)  # laid out from these rows


def test_a_map_laid_out_in_another_space_is_laid_out_again(env):
    folder, library = env
    first = library_map(library, rebuild=True)
    assert not library_map(library).rebuilt
    path = map_path(library.folder)
    fingerprint, dim = library.catalog().fingerprint, first.layout.mean.shape[0]
    key = space_key(library.embedder.card)
    assert key == "weights 4, 1, 1; timbre share 0"
    assert load_layout(path, fingerprint=fingerprint, dim=dim, space=key) is not None
    assert load_layout(path, fingerprint=fingerprint, dim=dim, space="fused") is None
    # the same vectors (same fingerprint) listened to at another timbre gain: a new map
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card["timbre"]["gain"] = 2.0
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    other = Library.open(Path(library.folder), model_dir=folder)
    try:
        assert other.embedder.fingerprint == library.embedder.fingerprint
        assert library_map(other).rebuilt
        assert not library_map(other).rebuilt
    finally:
        other.close()
        card["timbre"]["gain"] = 4.0
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
