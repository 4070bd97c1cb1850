"""FAISS indexes and the on-disk catalog: exact/approximate, atomic save, verify, rebuild."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from engine.catalog import CatalogIdentity, CatalogInvalid, read_catalog, write_catalog
from engine.index import build_index, exact_index, id_checksum, normalise, recall_at_k
from engine.library import Library
from tests.model_factory import build_model, write_music


def clustered(rng, n, dim, centres=50, spread=0.3):
    c = normalise(rng.standard_normal((centres, dim)))
    return normalise(c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, dim))
                     / np.sqrt(dim))


def test_exact_index_returns_database_ids_by_inner_product(rng):
    vectors = normalise(rng.standard_normal((100, 16)))
    ids = np.arange(100, dtype=np.int64) * 7 + 3
    index = build_index(ids, vectors, dim=16)
    assert index.kind == "flat" and index.recall == 1.0
    scores, found = index.search(vectors[5], 3)
    assert found[0, 0] == ids[5]
    np.testing.assert_allclose(scores[0, 0], 1.0, atol=1e-5)
    brute = np.argsort(-(vectors @ vectors[5]))[:3]
    np.testing.assert_array_equal(found[0], ids[brute])
    assert id_checksum(index.ids()) == id_checksum(ids)


def test_large_index_is_approximate_with_measured_recall(rng):
    vectors = clustered(rng, 6000, 32)
    ids = np.arange(6000, dtype=np.int64)
    index = build_index(ids, vectors, dim=32, threshold=5000)
    assert index.kind == "ivf"
    assert index.recall >= 0.95
    measured = recall_at_k(index, exact_index(ids, vectors), vectors[:100])
    assert measured >= 0.9
    assert id_checksum(index.ids()) == id_checksum(ids)


def test_empty_index_searches_to_nothing():
    index = build_index(np.zeros(0, np.int64), np.zeros((0, 8), np.float32), dim=8)
    _scores, ids = index.search(np.ones(8), 5)
    assert ids.shape == (1, 0)


def test_duplicate_ids_are_refused(rng):
    with pytest.raises(Exception, match="unique"):
        build_index(np.array([1, 1]), rng.standard_normal((2, 4)), dim=4)


def test_catalog_is_written_atomically_and_verified(tmp_path, rng):
    ident = CatalogIdentity("abc", 8)
    ids = np.arange(20, dtype=np.int64)
    vectors = normalise(rng.standard_normal((20, 8)))
    indexes = {"tracks": build_index(ids, vectors, dim=8),
               "segments": build_index(ids * 10, vectors, dim=8)}
    sums = {"tracks": id_checksum(ids), "segments": id_checksum(ids * 10)}
    live = write_catalog(tmp_path, indexes, identity=ident, checksums=sums)
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["indexes"]["tracks"]["count"] == 20
    assert manifest["model_sha256"] == "abc" and manifest["dim"] == 8
    assert not list(tmp_path.glob("catalog.tmp-*"))
    loaded = read_catalog(tmp_path, identity=ident, checksums=sums)
    assert loaded["tracks"].count == 20
    with pytest.raises(CatalogInvalid, match="another model"):
        read_catalog(tmp_path, identity=CatalogIdentity("other", 8), checksums=sums)
    with pytest.raises(CatalogInvalid, match="dimension or feature version"):
        read_catalog(tmp_path, identity=CatalogIdentity("abc", 8, feature_version=0),
                     checksums=sums)
    with pytest.raises(CatalogInvalid, match="out of date"):
        read_catalog(tmp_path, identity=ident,
                     checksums={**sums, "tracks": id_checksum(ids[:-1])})
    second = write_catalog(tmp_path, indexes, identity=ident, checksums=sums)
    assert live.exists() and second.exists()  # a reader may still be loading the old one
    os.utime(live, (1.0, 1.0))  # past the grace period
    third = write_catalog(tmp_path, indexes, identity=ident, checksums=sums)
    assert not live.exists() and second.exists() and third.exists()


@pytest.fixture
def scanned(tmp_path):
    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 6, seconds=8)
    lib = Library.open(tmp_path / "lib", model_dir=model)
    list(lib.scan([tmp_path / "music"], workers=0))
    yield lib, model
    lib.close()


@pytest.mark.parametrize("damage", ["garbage", "truncate", "delete", "pointer"])
def test_corrupt_or_missing_index_is_rebuilt(scanned, tmp_path, caplog, damage):
    lib, model = scanned
    seed_id = lib.tracks()[0].id
    expected = [r.track.id for r in lib.search(lib.analyze_seed(seed_id))]
    folder = tmp_path / "lib" / "catalog"
    live = folder / (folder / "current").read_text()
    target = live / "tracks.faiss"
    if damage == "garbage":
        target.write_bytes(b"\x00garbage" * 10)
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        (folder / "current").write_text("cat-does-not-exist")
    with caplog.at_level(logging.INFO, logger="engine.catalog"), \
            Library.open(tmp_path / "lib", model_dir=model) as again:
        got = [r.track.id for r in again.search(again.analyze_seed(seed_id))]
    assert got == expected
    assert "rebuilding the index" in caplog.text
    fresh = folder / (folder / "current").read_text()
    assert (fresh / "tracks.faiss").is_file()
