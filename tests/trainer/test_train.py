"""Training loop pieces: schedule, early stopping, checkpoints, resume, error messages."""

from __future__ import annotations

import dataclasses
import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ParameterError
from trainer.cache import layout_of, open_store
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.config import TrainConfig
from trainer.early_stop import EarlyStopper
from trainer.errors import TrainerError
from trainer.train import Trainer, _guard_oom, fit, lr_factor, resolve_device


def test_lr_warmup_then_cosine() -> None:
    factors = [lr_factor(s, warmup=10, total=110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert factors[-1] == pytest.approx(0.01, abs=1e-3)


def test_early_stopper_patience_and_min_delta() -> None:
    stop = EarlyStopper(mode="max", patience=2, min_delta=0.01)
    assert stop.update(0.5, 0) and not stop.should_stop
    assert not stop.update(0.505, 1)  # below min_delta: not an improvement
    assert not stop.should_stop
    assert not stop.update(0.3, 2)
    assert stop.should_stop and stop.best == 0.5 and stop.best_epoch == 0


def test_early_stopper_min_mode_and_state() -> None:
    stop = EarlyStopper(mode="min", patience=1)
    stop.update(1.0, 0)
    assert stop.update(0.5, 1)
    copy = EarlyStopper(mode="min", patience=1)
    copy.load_state_dict(stop.state_dict())
    assert copy.best == 0.5 and copy.best_epoch == 1
    assert not EarlyStopper(enabled=False, patience=0).should_stop


@pytest.mark.slow
def test_fit_writes_loadable_checkpoints_and_resumes(tiny_config: TrainConfig,
                                                     cache_dir: Path, tmp_path: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    result = fit(tiny_config, store, tmp_path, device="cpu", log=lambda _: None)
    assert len(result.history) == 2 and result.checkpoint.is_file()
    data = torch.load(result.checkpoint, weights_only=True)
    assert data["config"] == tiny_config.to_dict()
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and "optimizer" in last
    model, cfg = model_from_checkpoint(load_checkpoint(tmp_path))
    assert cfg == tiny_config and not model.training
    # resume with more epochs continues at epoch 3
    longer = tiny_config.with_overrides(epochs=3)
    logs: list[str] = []
    again = fit(longer, store, tmp_path, device="cpu", log=logs.append)
    assert any("resumed" in line for line in logs)
    assert [h["epoch"] for h in again.history] == [0, 1, 2]


@pytest.mark.slow
def test_early_stopping_stops_training(tiny_config: TrainConfig, cache_dir: Path,
                                       tmp_path: Path) -> None:
    cfg = tiny_config.with_overrides(epochs=10, early_stopping=type(
        tiny_config.early_stopping)(patience=1, min_delta=2.0))
    store = open_store(cache_dir, layout_of(cfg), preload_ram=True)
    result = fit(cfg, store, tmp_path, device="cpu", resume=False, log=lambda _: None)
    assert result.stopped_early and len(result.history) == 2 and result.best_epoch == 0


@pytest.mark.slow
def test_training_with_time_stretch(tiny_config: TrainConfig, cache_dir: Path,
                                    tmp_path: Path) -> None:
    cfg = tiny_config.with_overrides(epochs=1, augment=dataclasses.replace(
        tiny_config.augment, stretch=0.15))
    store = open_store(cache_dir, layout_of(cfg), preload_ram=True)
    result = fit(cfg, store, tmp_path, device="cpu", log=lambda _: None)
    assert len(result.history) == 1 and result.history[0]["loss"] > 0


def test_checkpoints_hold_no_pickled_objects(tiny_config: TrainConfig, cache_dir: Path,
                                            tmp_path: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    trainer = Trainer(tiny_config, store, tmp_path, device="cpu", log=lambda _: None)
    trainer.save_last(0, {"recall@5": 0.5})
    with zipfile.ZipFile(tmp_path / "last.pt") as z:
        pickled = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert b"trainer." not in pickled and b"numpy" not in pickled


def test_foreign_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(TrainerError, match="not a Resonance"):
        load_checkpoint(tmp_path / "x.pt")


def test_cuda_oom_suggests_a_smaller_batch() -> None:
    def boom() -> float:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(TrainerError, match="batch_identities 48"):
        _guard_oom(boom, 96)


def test_devices() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(TrainerError):
        resolve_device("tpu")


def test_short_views_repeat_their_first_frames() -> None:
    from trainer.train import short_view_mask, tile_short_views

    rng = np.random.default_rng(0)
    mel = rng.integers(1, 255, size=(50, 4, 30), dtype=np.uint8)
    chroma = rng.integers(1, 255, size=(50, 3, 30), dtype=np.uint8)
    before = mel.copy()
    assert not short_view_mask(50, 30, 30, 0.5, rng).any()  # no shorter than the window
    tile_short_views(mel, chroma, 12, short_view_mask(50, 30, 12, 0.5, rng))
    tiled = [i for i in range(50) if not np.array_equal(mel[i], before[i])]
    assert 10 < len(tiled) < 40
    for i in tiled:
        np.testing.assert_array_equal(mel[i, :, 12:24], before[i, :, :12])
        np.testing.assert_array_equal(mel[i, :, 24:], before[i, :, :6])
        np.testing.assert_array_equal(chroma[i, :, 12:24], chroma[i, :, :12])


def test_song_level_loss_ranks_a_song_above_its_versions(tiny_config: TrainConfig,
                                                         cache_dir: Path,
                                                         tmp_path: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    trainer = Trainer(tiny_config.with_overrides(song_weight=1.0, aux_weight=0.0), store,
                      tmp_path, device="cpu", log=lambda _: None)
    emb = torch.nn.functional.normalize(torch.eye(4)[[0, 0, 1, 1]] + 0.01, dim=1)
    one_piece = torch.tensor([0, 0, 0, 0])
    songs = torch.tensor([0, 0, 1, 1])
    # one piece, two songs: with song_weight 1 only the song labels count
    assert float(trainer._loss((emb,), one_piece, songs, songs)) < float(
        trainer._loss((emb,), one_piece, one_piece, one_piece))


@pytest.mark.slow
def test_time_budget_stops_training_and_survives_resume(tiny_config: TrainConfig,
                                                        cache_dir: Path,
                                                        tmp_path: Path) -> None:
    cfg = tiny_config.with_overrides(epochs=5, max_minutes=0.0)
    store = open_store(cache_dir, layout_of(cfg), preload_ram=True)
    logs: list[str] = []
    result = fit(cfg, store, tmp_path, device="cpu", log=logs.append)
    assert result.stopped_early and len(result.history) == 1
    assert any("time budget" in line for line in logs)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["elapsed"] > 0


@pytest.mark.slow
def test_evaluate_opens_the_cache_the_run_trained_on(tiny_config: TrainConfig,
                                                     cache_dir: Path, tmp_path: Path) -> None:
    from trainer.backend import load_model
    from trainer.commands import loaded_layout

    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    fit(tiny_config, store, tmp_path, device="cpu", log=lambda _: None)
    loaded = load_model(tmp_path)
    # a run trained with degraded copies keeps them in its cache's layout
    for cfg in (tiny_config, tiny_config.with_overrides(variants=1)):
        assert loaded_layout(loaded, cfg) == layout_of(cfg)


def _cropped_store(tiny_config: TrainConfig, *, versions: bool):
    """Eight 16 s songs cropped to 6 s (under two 4 s segments), half of them validation
    songs; with ``versions``, in pairs of versions."""
    from trainer.cache import RamCache, fill
    from trainer.data import Track, discover_tracks

    cfg = tiny_config.with_overrides(max_seconds=6.0, epochs=2)
    songs = [t for t in discover_tracks(cfg.root) if not t.song.startswith("song09")][:8]
    tracks = [Track(t.song, t.path, f"g{i // 2}" if versions else t.song,
                    "val" if i >= 4 else "train") for i, t in enumerate(songs)]
    store = RamCache(layout_of(cfg))
    fill(store, tracks, log=lambda _: None)
    return cfg, store


@pytest.mark.parametrize("versions", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_a_monitor_that_is_never_measured_is_replaced_and_said(tiny_config: TrainConfig,
                                                               tmp_path: Path,
                                                               versions: bool) -> None:
    """Crops under two segments leave recall@K and mrr unmeasured: training says so at
    its start and follows version_map, or without versions keeps its last epoch."""
    cfg, store = _cropped_store(tiny_config, versions=versions)
    assert cfg.early_stopping.monitor == "recall@5"
    logs: list[str] = []
    result = fit(cfg, store, tmp_path, device="cpu", resume=False, log=logs.append)
    said = [line for line in logs if "cannot be measured" in line]
    assert said == [
        "[train] recall@5 cannot be measured: no validation track has two non-overlapping "
        "4 s segments (tracks cropped to max_seconds=6); "
        + ("early stopping follows version_map instead" if versions else
           "nothing else is measured: early stopping is off and the last epoch is kept")]
    assert logs.index(said[0]) < next(i for i, s in enumerate(logs) if "epoch 1/2" in s)
    assert all("recall@5" not in h for h in result.history)
    if versions:
        assert result.monitor == "version_map"
        assert result.best_metric == max(h["version_map"] for h in result.history) > 0
        assert "version_map=" in logs[-1] and "best=" in logs[-1]
    else:
        assert result.monitor == "" and result.best_epoch == 1 and not result.stopped_early
        saved = load_checkpoint(result.checkpoint, map_location="cpu")
        assert saved["epoch"] == 1  # the last epoch is the one kept


def test_reported_metrics_follow_what_validation_can_measure() -> None:
    from trainer.cache import SongEntry
    from trainer.evaluate import reported_metrics

    def entry(name: str, n_frames: int, group: str = "", source: str = "") -> SongEntry:
        return SongEntry(name, name, group or name, "val", source, 0.0, n_frames)

    short = [entry("a", 150), entry("b", 150)]  # segments of 100 frames: all overlap
    assert reported_metrics(short, 100) == {"songs", "queries", "version_queries"}
    assert "mrr" in reported_metrics([*short, entry("c", 200)], 100)
    versions = reported_metrics([entry("a", 150, "g"), entry("b", 150, "g")], 100)
    assert "version_map" in versions and "mrr" not in versions
    sources = reported_metrics([entry("a", 150, source="s"), entry("b", 150, source="s"),
                                entry("c", 150, source="t")], 100)
    assert "source_p@10" in sources and "version_map" not in sources


def test_package_share_pulls_a_package_together(tiny_config: TrainConfig, cache_dir: Path,
                                                tmp_path: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    trainer = Trainer(tiny_config.with_overrides(package_weight=1.0, aux_weight=0.0), store,
                      tmp_path, device="cpu", log=lambda _: None)
    apart = torch.nn.functional.normalize(torch.eye(4)[[0, 0, 1, 1]] + 0.01, dim=1)
    near = torch.nn.functional.normalize(torch.eye(4)[[0, 0, 0, 0]] + 0.01
                                         + 0.1 * torch.eye(4)[[1, 1, 2, 2]], dim=1)
    songs = torch.tensor([0, 0, 1, 1])
    one_package = torch.tensor([5, 5, 5, 5])
    # with package_weight 1 only the package labels count: two recordings of one package
    # close together cost less than far apart, and the piece and song labels do not count
    assert float(trainer._loss((near,), songs, songs, one_package)) < float(
        trainer._loss((apart,), songs, songs, one_package))
    assert float(trainer._loss((apart,), songs, songs, songs)) < float(
        trainer._loss((apart,), songs, songs, one_package))


def test_song_and_package_shares_cannot_exceed_the_loss() -> None:
    with pytest.raises(ParameterError, match="package_weight"):
        TrainConfig(song_weight=0.6, package_weight=0.5)
