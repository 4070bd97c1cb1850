"""A bad model never poisons a library: it is checked against its card before a scan
writes anything, a card edit re-embeds, and an interrupted switch stays consistent."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from engine.cli import main
from engine.filecheck import file_digest
from engine.library import Library
from engine.model import load_card, write_card
from tests.model_factory import build_model, build_onnx, write_music


@pytest.fixture
def scanned(tmp_path):
    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 5, seconds=8)
    with Library.open(tmp_path / "lib", model_dir=model) as lib:
        list(lib.scan([tmp_path / "music"], workers=0))
    return tmp_path, model


def snapshot(folder):
    with Library.open(folder, model_dir=None) as lib:
        rows = lib.store.query("SELECT t.path, t.status, t.fingerprint, v.fused FROM tracks t "
                               "LEFT JOIN track_vectors v ON v.track_id = t.id ORDER BY t.path")
        return ([tuple(r) for r in rows], lib.store.get_meta("model_dir"),
                lib.store.get_meta("model_sha256"), lib.store.revision)


def bad_models(tmp_path, model):
    """Model folders that must be refused: a card that does not fit its graph, and an
    ONNX file that does not load (with a card whose sha256 matches it)."""
    misfit = shutil.copytree(model, tmp_path / "misfit")
    card = load_card(misfit)
    other = dataclasses.replace(card.features,
                                mel=dataclasses.replace(card.features.mel, n_mels=40))
    write_card(dataclasses.replace(card, features=other), misfit)
    wrong_dim = shutil.copytree(model, tmp_path / "wrong-dim")
    write_card(dataclasses.replace(card, embed_dim=card.embed_dim + 1), wrong_dim)
    broken = shutil.copytree(model, tmp_path / "broken")
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf graph")
    write_card(dataclasses.replace(card, sha256=file_digest(broken / "model.onnx")), broken)
    return {"misfit": (misfit, "input 'mel'"), "wrong-dim": (wrong_dim, "output 'embedding'"),
            "broken": (broken, "cannot load")}


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_a_model_that_does_not_fit_or_load_writes_nothing(scanned, capfd, workers):
    """With worker processes, they are started before the check (they load while it
    checks and walks): a refused model leaves none of them behind, and they print
    nothing of their own."""
    import multiprocessing
    import time

    root, model = scanned
    before = snapshot(root / "lib")
    for name, (folder, message) in bad_models(root, model).items():
        capfd.readouterr()
        code = main(["scan", "--workers", str(workers), "--quiet", "--library",
                     str(root / "lib"), "--model", str(folder)])
        deadline = time.monotonic() + 10
        while multiprocessing.active_children() and time.monotonic() < deadline:
            time.sleep(0.1)
        err = capfd.readouterr().err  # the workers' stderr too (file descriptor 2)
        assert code == 1 and message in err and err.count("\n") == 1, (name, err)
        assert not multiprocessing.active_children(), name
        assert snapshot(root / "lib") == before, name
        with Library.open(root / "lib") as lib, pytest.raises(Exception, match=message):
            lib.set_model(folder)
        assert snapshot(root / "lib") == before, name


def test_a_card_edit_with_the_same_onnx_re_embeds(scanned):
    root, model = scanned
    edited = shutil.copytree(model, root / "edited")
    card = load_card(edited)
    other = dataclasses.replace(card.features,
                                mel=dataclasses.replace(card.features.mel, fmin=60.0))
    write_card(dataclasses.replace(card, features=other), edited)
    assert load_card(edited).sha256 == card.sha256  # same ONNX file
    with Library.open(root / "lib", model_dir=edited) as lib:
        progress = list(lib.scan(workers=0))
        assert next(p.total for p in progress if p.stage == "analyse") == 5
        fingerprints = {r[0] for r in lib.store.query("SELECT fingerprint FROM tracks")}
        assert fingerprints == {lib.embedder.fingerprint}


def test_an_interrupted_model_switch_is_consistent(scanned, capsys):
    root, model = scanned
    second = root / "second"
    second.mkdir()
    build_onnx(load_card(model).features, second / "model.onnx", seed=7)
    card = load_card(model)
    write_card(dataclasses.replace(card, sha256=file_digest(second / "model.onnx")), second)
    with Library.open(root / "lib", model_dir=second) as lib:
        seen = []
        for p in lib.scan(workers=0, should_stop=lambda: len(seen) >= 2):
            if p.stage == "analyse" and p.done:
                seen.append(p)
        stats = lib.stats()
        searchable = len(lib.catalog().track_ids)
        assert stats["ok"] == lib.count() == searchable == 2
        assert stats["pending"] == 3
    capsys.readouterr()
    assert main(["status", "--json", "--library", str(root / "lib")]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] == 2


def test_tracks_analysed_with_another_model_are_listed_as_waiting(scanned):
    """Right after a model switch, the track list says what is searchable, as the counts
    do: a track with the old model's vectors waits for the next scan."""
    root, model = scanned
    second = root / "second"
    second.mkdir()
    build_onnx(load_card(model).features, second / "model.onnx", seed=7)
    write_card(dataclasses.replace(load_card(model),
                                   sha256=file_digest(second / "model.onnx")), second)
    with Library.open(root / "lib", model_dir=model) as lib:
        assert [t.status for t in lib.tracks()] == ["ok"] * 5
        lib.set_model(second)
        statuses = [t.status for t in lib.tracks()]
        assert statuses == ["pending"] * 5 and lib.count() == lib.stats()["ok"] == 0
        first = lib.tracks()[0].id
        assert lib.track(first).status == "pending"
        seen = []
        for p in lib.scan(workers=0, should_stop=lambda: len(seen) >= 2):
            if p.stage == "analyse" and p.done:
                seen.append(p)
        statuses = [t.status for t in lib.tracks()]
        assert statuses.count("ok") == lib.count() == len(lib.catalog().track_ids) == 2
        assert statuses.count("pending") == lib.stats()["pending"] == 3


def test_a_library_from_before_the_card_fingerprint_is_not_re_embedded(scanned):
    root, model = scanned
    sha = load_card(model).sha256
    with Library.open(root / "lib", model_dir=model) as lib:  # as the old release left it
        lib.store.mutate("UPDATE tracks SET fingerprint = ?", (sha,))
        lib.store.set_meta("model_sha256", sha)
    with Library.open(root / "lib", model_dir=model) as lib:
        progress = list(lib.scan(workers=0))
        assert next(p.total for p in progress if p.stage == "analyse") == 0
        assert lib.count() == 5 and lib.stats()["model_sha256"] == lib.embedder.fingerprint
