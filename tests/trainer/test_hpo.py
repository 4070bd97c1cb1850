"""Optuna search: space parsing, trial mapping, a two-trial study, refine --topn."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from engine.config import default_config_dir
from trainer import hpo
from trainer.cache import layout_of, open_store
from trainer.config import TrainConfig
from trainer.errors import TrainerError


def test_shipped_space_maps_onto_the_config() -> None:
    space = hpo.load_space(default_config_dir() / "search_space.yaml")
    trial = optuna.trial.FixedTrial({"lr": 3e-4, "batch_identities": 64, "temperature": 0.07,
                                     "weight_decay": 1e-2, "fusion_mode": "gated_concat"})
    params = hpo.suggest(trial, space)
    cfg = hpo.proxy_config(TrainConfig(), params, epochs=5)
    assert cfg.lr == 3e-4 and cfg.batch_identities == 64 and cfg.temperature == 0.07
    assert cfg.model.fusion_mode == "gated_concat" and cfg.epochs == 5
    assert cfg.warmup_epochs == 1


def test_bad_space_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"dropout_rate": {"type": "uniform",
                                                                     "low": 0, "high": 1}}))
    with pytest.raises(TrainerError, match="not a tunable"):
        hpo.load_space(tmp_path / "s.yaml")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"lr": {"type": "normal"}}))
    with pytest.raises(TrainerError, match="unknown type"):
        hpo.load_space(tmp_path / "s.yaml")


@pytest.mark.slow
def test_search_then_refine_topn(tiny_config: TrainConfig, cache_dir: Path,
                                 tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
        "fusion_mode": {"type": "categorical", "choices": ["gated_add", "gated_concat"]}}))
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    doc = hpo.run_search(tiny_config, store, space_path=space, runs_dir=tmp_path,
                         n_trials=2, proxy_epochs=1, device="cpu", log=lambda _: None)
    saved = json.loads((tmp_path / "best/hpo.json").read_text())
    assert saved == doc and len(doc["trials"]) == 2 and set(doc["best_params"]) == {
        "lr", "fusion_mode"}
    summary = hpo.refine_top(tiny_config.with_overrides(epochs=1), store, runs_dir=tmp_path,
                             topn=2, device="cpu", log=lambda _: None)
    assert len(summary["candidates"]) == 2
    assert (tmp_path / "best/ckpt.pt").is_file()


def test_refine_without_search_is_a_clear_error(tiny_config: TrainConfig, cache_dir: Path,
                                                tmp_path: Path) -> None:
    store = open_store(cache_dir, layout_of(tiny_config), preload_ram=True)
    with pytest.raises(TrainerError, match="run `search` first"):
        hpo.refine_top(tiny_config, store, runs_dir=tmp_path, topn=2, device="cpu")
