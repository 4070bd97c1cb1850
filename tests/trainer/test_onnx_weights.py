"""Rebuilding a trainer net from an exported fp32 ONNX file (the shipped model's)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.model import OUTPUT_NAMES, default_model_dir, load_card
from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.export import _session, example_inputs
from trainer.model import ModelConfig
from trainer.onnx_weights import embedding_net_from_onnx

SHIPPED = default_model_dir()


def shipped_config() -> TrainConfig:
    """The shipped card's feature and model configuration as a :class:`TrainConfig`."""
    card = load_card(SHIPPED)
    return TrainConfig(features=card.features,
                       model=ModelConfig.from_dict(card.training["model"]))


def test_rebuilt_net_matches_onnxruntime() -> None:
    cfg = shipped_config()
    net = embedding_net_from_onnx(SHIPPED / "model.onnx", cfg.model, cfg.features)
    inputs = example_inputs(cfg, 3, seed=5)
    with torch.no_grad():
        ref = [t.numpy() for t in net(*inputs)]
    feed = {n: t.numpy() for n, t in zip(("mel", "chroma", "tempo"), inputs, strict=True)}
    got = _session(SHIPPED / "model.onnx").run(list(OUTPUT_NAMES), feed)
    for r, g in zip(ref, got, strict=True):
        assert np.max(np.abs(r - g)) < 1e-4


def test_wrong_configuration_is_refused() -> None:
    cfg = shipped_config()
    smaller = dataclasses.replace(cfg.model, timbre_channels=(24, 48, 96, 64))
    with pytest.raises(TrainerError, match="shape"):
        embedding_net_from_onnx(SHIPPED / "model.onnx", smaller, cfg.features)
    fewer = dataclasses.replace(cfg.model, harmony_channels=(32, 64))
    with pytest.raises(TrainerError, match="Conv nodes"):
        embedding_net_from_onnx(SHIPPED / "model.onnx", fewer, cfg.features)


def test_missing_layer_is_refused(tmp_path: Path) -> None:
    proto = onnx.load(str(SHIPPED / "model.onnx"))
    kept = [i for i in proto.graph.initializer if i.name != "fusion.gates.1.bias"]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    onnx.save(proto, str(tmp_path / "m.onnx"))
    cfg = shipped_config()
    with pytest.raises(TrainerError, match=r"fusion\.gates\.1\.bias"):
        embedding_net_from_onnx(tmp_path / "m.onnx", cfg.model, cfg.features)
