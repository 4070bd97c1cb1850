"""Training the timbre graph: it learns what a source's recordings share, exports exactly,
and the model it joins runs in the engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine.model import Embedder, load_card
from engine.timbre import TimbreMix, pooled_mel
from tests.model_factory import add_timbre_graph, build_model, with_segments
from tests.trainer.conftest import tiny_base
from trainer.cli import main as cli_main
from trainer.errors import TrainerError
from trainer.timbre import (
    TimbreData,
    TimbreEnsemble,
    TimbreNet,
    TimbreRecipe,
    attach_timbre,
    carry_timbre,
    train_timbre,
)

BANDS, FRAMES = 16, 40


def _recordings(n_sources: int, per_source: int, seed: int) -> TimbreData:
    """Log-mel-like recordings: each source has its own spectral envelope (a palette), each
    recording its own level (+-10 dB), a little envelope of its own and random notes."""
    rng = np.random.default_rng(seed)
    palettes = np.random.default_rng(99).normal(0, 4, size=(n_sources, BANDS))
    mels, sources = [], []
    for s in range(n_sources):
        for _ in range(per_source):
            own = rng.normal(0, 2, size=(BANDS, 1)) + rng.normal(0, 10)
            notes = rng.normal(0, 6, size=(BANDS, FRAMES * 2))
            mels.append((-50 + palettes[s][:, None] + own + notes).astype(np.float32))
            sources.append(f"package-{s}")
    return TimbreData(mels=mels, sources=sources, songs=[f"s{i}" for i in range(len(mels))])


def _same_source_at_1(net: TimbreNet, data: TimbreData) -> float:
    with torch.no_grad():
        z = net(torch.from_numpy(np.stack([m[:, :FRAMES] for m in data.mels]))).numpy()
    sims = z @ z.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.array(data.sources)
    return float(np.mean(labels[sims.argmax(axis=1)] == labels))


def test_training_groups_unseen_recordings_of_a_source():
    recipe = TimbreRecipe(steps=120, sources=4, per_source=3, channels=8, dim=16, hidden=32,
                          dropout=0.0, lr=3e-3, gain_db=10.0)
    train, unseen = _recordings(6, 6, seed=0), _recordings(6, 4, seed=1)
    torch.manual_seed(0)
    untrained = TimbreNet(BANDS, channels=8, dim=16, hidden=32, dropout=0.0).eval()
    net, record = train_timbre(train, recipe, window=FRAMES, log=lambda _: None)
    assert record["recordings"] == 36 and record["sources"] == 6
    learned, before = _same_source_at_1(net, unseen), _same_source_at_1(untrained, unseen)
    assert learned >= 0.85 and learned >= before + 0.2, (learned, before)


def test_an_ensemble_is_its_seeds_side_by_side_and_runs_in_the_engine(tmp_path: Path):
    from tests.model_factory import small_feature_config

    recipe = TimbreRecipe(steps=3, sources=3, per_source=2, channels=8, dim=16, hidden=32,
                          dropout=0.0, members=2, seed=5)
    data = _recordings(4, 3, seed=0)
    ensemble, record = train_timbre(data, recipe, window=FRAMES, log=lambda _: None)
    assert isinstance(ensemble, TimbreEnsemble) and ensemble.dim == 32
    assert record["recipe"]["members"] == 2 and len(record["final_loss"]) == 2
    single, _ = train_timbre(data, dataclasses.replace(recipe, members=1, seed=6),
                             window=FRAMES, log=lambda _: None)
    x = torch.from_numpy(np.stack([m[:, :FRAMES] for m in data.mels]))
    with torch.no_grad():
        z = ensemble(x).numpy()
        members = [m(x).numpy() for m in ensemble.members]
        np.testing.assert_allclose(members[1], single(x).numpy(), atol=1e-5)  # seed 5 + 1
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(z @ z.T, (members[0] @ members[0].T + members[1] @ members[1].T)
                               / 2, atol=1e-5)
    config = small_feature_config()
    base = build_model(tmp_path / "base", config=config)
    wide = TimbreEnsemble([TimbreNet(config.mel.n_mels // 2, channels=8, dim=16, hidden=32)
                           for _ in range(3)]).eval()
    card = attach_timbre(base, tmp_path / "new", wide, window=config.segment_frames // 4,
                         stem=(2, 4), record={"note": "test"})
    assert card.branch_dims["timbre"] == 48 and card.timbre["parity"]["ok"]
    Embedder(tmp_path / "new").check()
    with pytest.raises(TrainerError, match="members"):
        TimbreRecipe(members=0)


def test_too_few_sources_are_a_clear_error():
    data = _recordings(1, 3, seed=0)
    with pytest.raises(Exception, match="two sources"):
        train_timbre(data, TimbreRecipe(steps=1), window=FRAMES, log=lambda _: None)


def test_the_attached_graph_runs_in_the_engine_as_in_torch(tmp_path: Path):
    from tests.model_factory import small_feature_config

    config = small_feature_config()
    base = build_model(tmp_path / "base", config=config)
    bands = config.mel.n_mels // 2
    torch.manual_seed(0)
    net = TimbreNet(bands, channels=8, dim=16, hidden=32).eval()
    card = attach_timbre(base, tmp_path / "new", net, window=config.segment_frames // 4,
                         stem=(2, 4), record={"note": "test"})
    assert card.timbre["parity"]["ok"] and load_card(tmp_path / "new").timbre_stem == (2, 4)
    emb = Embedder(tmp_path / "new")
    emb.check()
    rng = np.random.default_rng(1)
    mel = rng.normal(-40, 15, size=(3, config.mel.n_mels, config.segment_frames))
    from engine.features import Segments

    segs = Segments(mel=mel.astype(np.float32),
                    chroma=rng.random((3, config.chroma.bins, config.segment_frames),
                                      dtype=np.float32),
                    tempo=rng.random((3, config.tempo.win), dtype=np.float32),
                    starts=np.arange(3, dtype=np.float32))
    with torch.no_grad():
        expected = net(torch.from_numpy(pooled_mel(segs.mel, (2, 4)).astype(np.float32)))
    np.testing.assert_allclose(emb.embed(segs).branches["timbre"], expected.numpy(),
                               atol=1e-5)
    np.testing.assert_array_equal(emb.embed(segs).fused, Embedder(base).embed(segs).fused)


def test_the_command_needs_sources_with_several_recordings(corpus_dir, tiny_config, cache_dir,
                                                           tmp_path, capsys):
    """The tiny corpus has no package folders (no source has two recordings): one line."""
    config = tmp_path / "base.yaml"
    config.write_text(yaml.safe_dump(tiny_base(corpus_dir)), encoding="utf-8")
    base = tmp_path / "base-model"
    build_model(base, config=tiny_config.features)
    code = cli_main(["timbre", "--config", str(config), "--cache_dir", str(cache_dir),
                     "--base", str(base), "--out", str(tmp_path / "out"), "--steps", "2"])
    assert code == 1
    assert "two sources" in capsys.readouterr().err


@pytest.mark.parametrize("mix", [0.0, 0.5])
def test_a_library_model_keeps_the_current_models_timbre_graph(tmp_path: Path, mix: float):
    """With a mix, the new model keeps its own timbre vector beside the graph's."""
    from tests.model_factory import small_feature_config

    config = small_feature_config()
    current = add_timbre_graph(build_model(tmp_path / "current", config=config, seed=1),
                               mix=mix, without_versions=0.0 if mix else None)
    trained = build_model(tmp_path / "trained", config=config, seed=2)
    other = build_model(tmp_path / "other", config=with_segments(config, seconds=3.0))
    assert carry_timbre(current, trained)
    assert not carry_timbre(current, other)  # other features: the graph would misread them
    assert not carry_timbre(tmp_path / "nowhere", other)
    assert load_card(other).timbre == {}
    rng = np.random.default_rng(2)
    from engine.features import Segments

    n = config.segment_frames
    segs = Segments(mel=rng.normal(-40, 15, (2, config.mel.n_mels, n)).astype(np.float32),
                    chroma=rng.random((2, config.chroma.bins, n), dtype=np.float32),
                    tempo=rng.random((2, config.tempo.win), dtype=np.float32),
                    starts=np.zeros(2, np.float32))
    mine, theirs = Embedder(trained).embed(segs), Embedder(current).embed(segs)
    graph = slice(-16, None)  # the graph's part (all of it without a mix)
    np.testing.assert_allclose(mine.branches["timbre"][:, graph],
                               theirs.branches["timbre"][:, graph], atol=1e-6)
    assert mine.branches["timbre"].shape == theirs.branches["timbre"].shape
    assert not np.allclose(mine.fused, theirs.fused)
    solo = TimbreMix.of(load_card(trained))  # its own timbre width before the graph's
    assert solo == (TimbreMix(main_dim=mine.branches["timbre"].shape[1] - 16,
                              without_versions=0.0) if mix else None)


def _teacher_file(path: Path, songs: list[str], vectors: np.ndarray) -> Path:
    """A teacher targets file (:func:`trainer.teacher.targets.compute_targets`' layout), one
    patch a song."""
    np.savez(path, songs=np.array(songs), paths=np.array(songs),
             offsets=np.arange(len(songs) + 1), embedding=vectors.astype(np.float16),
             tags=vectors[:, :2].astype(np.float16), starts=np.zeros(len(songs), np.float32),
             patch_seconds=np.float32(3.0), model=np.array("MSD"))
    return path


def _cross_source_gap(net: TimbreNet, data: TimbreData, hidden: np.ndarray) -> float:
    """Mean similarity of recordings of different sources with the same hidden attribute,
    minus that with a different one."""
    with torch.no_grad():
        z = net(torch.from_numpy(np.stack([m[:, :FRAMES] for m in data.mels]))).numpy()
    sims, sources = z @ z.T, np.array(data.sources)
    other = sources[:, None] != sources[None, :]
    same = hidden[:, None] == hidden[None, :]
    return float(sims[other & same].mean() - sims[other & ~same].mean())


def test_distillation_teaches_what_the_teacher_hears(tmp_path: Path):
    """Recordings carry a hidden brightness independent of their source; only the teacher
    knows it. Distilling from it brings recordings of equal brightness closer across
    sources; the sources alone do not."""
    data = _recordings(6, 6, seed=0)
    rng = np.random.default_rng(3)
    hidden = rng.integers(0, 2, len(data.mels))
    tilt = np.linspace(-6, 6, BANDS)[:, None]
    data.mels = [m + (tilt if h else -tilt).astype(np.float32)
                 for m, h in zip(data.mels, hidden, strict=True)]
    teacher = np.eye(2)[hidden] + rng.normal(0, 0.05, (len(hidden), 2))
    path = _teacher_file(tmp_path / "teacher.npz", data.songs, np.hstack([teacher] * 4))
    common = dict(steps=120, sources=4, per_source=3, channels=8, dim=16, hidden=32,
                  dropout=0.0, lr=3e-3, gain_db=10.0)
    plain, _ = train_timbre(data, TimbreRecipe(**common), window=FRAMES, log=lambda _: None)
    taught, record = train_timbre(
        data, TimbreRecipe(**common, distill_weight=20.0, distill_targets=str(path)),
        window=FRAMES, log=lambda _: None)
    assert record["teacher_recordings"] == len(data.mels)
    before, after = _cross_source_gap(plain, data, hidden), _cross_source_gap(taught, data, hidden)
    assert after >= before + 0.2, (before, after)


def test_distillation_needs_targets_that_name_the_recordings(tmp_path: Path):
    data = _recordings(3, 3, seed=0)
    with pytest.raises(Exception, match="needs distill_targets"):
        TimbreRecipe(distill_weight=1.0)
    path = _teacher_file(tmp_path / "t.npz", ["elsewhere"], np.ones((1, 8)))
    with pytest.raises(Exception, match="none of the training recordings"):
        train_timbre(data, TimbreRecipe(steps=1, distill_weight=1.0, distill_targets=str(path)),
                     window=FRAMES, log=lambda _: None)


def test_the_command_attaches_a_trained_graph_at_another_gain_and_mix(tmp_path: Path,
                                                                      capsys):
    """``resonance-train timbre --from``: the base model with another model's timbre graph,
    untrained again, at the given gain and mix (the shipped default's recipe)."""
    from engine.features import Segments
    from tests.model_factory import small_feature_config

    config = small_feature_config()
    base = build_model(tmp_path / "base", config=config, seed=1)
    trained = add_timbre_graph(build_model(tmp_path / "trained", config=config, seed=1))
    out = tmp_path / "mixed"
    assert cli_main(["timbre", "--from", str(trained), "--base", str(base), "--out", str(out),
                     "--gain", "3", "--mix", "0.5", "--name", "mixed"]) == 0
    card = load_card(out)
    assert (card.name, card.weight_gains[0], card.timbre_mix) == ("mixed", 3.0, 0.5)
    assert card.timbre["sha256"] == load_card(trained).timbre["sha256"]
    rng = np.random.default_rng(3)
    segs = Segments(mel=rng.normal(-40, 15, size=(3, config.mel.n_mels, config.segment_frames)
                                   ).astype(np.float32),
                    chroma=rng.random((3, config.chroma.bins, config.segment_frames),
                                      dtype=np.float32),
                    tempo=rng.random((3, config.tempo.win), dtype=np.float32),
                    starts=np.arange(3, dtype=np.float32))
    main, graph, got = (Embedder(m).embed(segs).branches["timbre"] for m in (base, trained, out))
    np.testing.assert_allclose(got, np.concatenate([main, graph], axis=1) / np.sqrt(2),
                               atol=1e-5)
    solo = tmp_path / "solo"  # and a share for seeds without versions
    assert cli_main(["timbre", "--from", str(trained), "--base", str(base), "--out", str(solo),
                     "--mix", "0.5", "--mix-without-versions", "0.25"]) == 0
    assert TimbreMix.of(load_card(solo)) == TimbreMix(main_dim=main.shape[1],
                                                      without_versions=0.25)
    assert load_card(solo).fingerprint == card.fingerprint and TimbreMix.of(card) is None
    again = tmp_path / "again"  # a mixed model as the base: its main graphs only
    assert cli_main(["timbre", "--from", str(trained), "--base", str(out), "--out", str(again),
                     "--gain", "3", "--mix", "0.5"]) == 0
    assert load_card(again).fingerprint == card.fingerprint
    narrow = add_timbre_graph(build_model(tmp_path / "narrow", config=config, seed=1), dim=8)
    assert cli_main(["timbre", "--from", str(narrow), "--base", str(again), "--out",
                     str(again), "--mix", "0.5"]) == 0  # in place, a graph of another width
    assert load_card(again).branch_dims["timbre"] == main.shape[1] + 8
    Embedder(again).check()
    for bad, message in ((["--mix", "1"], "--mix"), (["--base", str(trained)], "replaces"),
                         (["--from", str(base)], "no timbre graph"),
                         (["--mix", "0", "--mix-without-versions", "0"], "--mix-without-versions"),
                         (["--mix-without-versions", "2"], "--mix-without-versions")):
        args = {"--from": str(trained), "--base": str(base), "--mix": "0.5", **dict(
            zip(bad[::2], bad[1::2], strict=True))}
        code = cli_main(["timbre", *[x for kv in args.items() for x in kv],
                         "--out", str(tmp_path / "refused")])
        assert code == 1 and message in capsys.readouterr().err


def test_augmentation_moves_bands_and_masks_a_stripe_and_is_off_by_default():
    from trainer.timbre import _augment

    mel = np.arange(BANDS, dtype=np.float32)[:, None] * np.ones((1, FRAMES), np.float32)
    rng = np.random.default_rng(0)
    assert _augment(mel, rng, TimbreRecipe()) is mel
    assert rng.integers(1 << 30) == np.random.default_rng(0).integers(1 << 30)  # no draw
    shifts, stripes = set(), set()
    for seed in range(40):
        moved = _augment(mel, np.random.default_rng(seed), TimbreRecipe(band_shift=2))
        shift = int(moved[BANDS // 2, 0] - mel[BANDS // 2, 0])  # the edge band repeated
        shifts.add(shift)
        np.testing.assert_array_equal(moved, np.clip(mel + shift, 0, BANDS - 1))
        masked = _augment(mel, np.random.default_rng(seed), TimbreRecipe(freq_mask=4))
        rows = np.flatnonzero(np.any(masked != mel, axis=1))
        assert len(rows) <= 4 and np.all(masked[rows] == mel.mean())
        stripes.add(len(rows))
    assert shifts == {-2, -1, 0, 1, 2} and max(stripes) >= 3
    for bad in ({"band_shift": -1}, {"freq_mask": -2}, {"windows_per_view": 0}):
        with pytest.raises(TrainerError, match="windows_per_view"):
            TimbreRecipe(**bad)


def test_views_of_several_windows_train_like_single_windows():
    recipe = TimbreRecipe(steps=120, sources=4, per_source=3, channels=8, dim=16, hidden=32,
                          dropout=0.0, lr=3e-3, gain_db=10.0, windows_per_view=2)
    train, unseen = _recordings(6, 6, seed=0), _recordings(6, 4, seed=1)
    net, record = train_timbre(train, recipe, window=FRAMES, log=lambda _: None)
    assert record["recipe"]["windows_per_view"] == 2
    assert _same_source_at_1(net, unseen) >= 0.85
