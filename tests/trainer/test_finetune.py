"""Fine-tuning from an exported model: ``train.init_onnx`` and batch-norm recalibration."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.model import OUTPUT_NAMES
from tests.trainer.conftest import tiny_base
from trainer.cache import layout_of, open_store
from trainer.checkpoint import new_model
from trainer.cli import _config, build_parser
from trainer.config import TrainConfig, load_config
from trainer.errors import TrainerError
from trainer.export import _session, example_inputs, export_folder
from trainer.finetune import check_card, recalibrate_batch_norms
from trainer.model import EmbeddingNet
from trainer.train import Trainer


def trained_like(config: TrainConfig, seed: int) -> EmbeddingNet:
    """A fresh net with random batch-norm statistics and affine terms (as after training)."""
    torch.manual_seed(seed)
    net = new_model(config)
    with torch.no_grad():
        for norm in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
            assert norm.running_mean is not None and norm.running_var is not None
            norm.running_mean.normal_(0.0, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0.0, 0.2)
    return net.eval()


@pytest.fixture()
def exported(tiny_config: TrainConfig, tmp_path: Path) -> Path:
    """An exported fp32 model folder (model.onnx + card.json) of a tiny net."""
    export_folder(trained_like(tiny_config, 3), tiny_config, tmp_path / "export")
    return tmp_path / "export" / "model.onnx"


def test_trainer_starts_from_the_onnx_model(tiny_config: TrainConfig, cache_dir: Path,
                                           exported: Path, tmp_path: Path) -> None:
    config = tiny_config.with_overrides(init_onnx=str(exported))
    store = open_store(cache_dir, layout_of(config), preload_ram=True)
    trainer = Trainer(config, store, tmp_path / "run", device="cpu", log=lambda _: None)
    inputs = example_inputs(config, 3, seed=11)
    with torch.no_grad():
        ours = [t.numpy() for t in trainer.model.eval()(*inputs)]
        fresh = new_model(config).eval()(*inputs)[0].numpy()
    feed = {n: t.numpy() for n, t in zip(("mel", "chroma", "tempo"), inputs, strict=True)}
    want = _session(exported).run(list(OUTPUT_NAMES), feed)
    for got, ref in zip(ours, want, strict=True):
        assert np.max(np.abs(got - ref)) < 1e-4
    assert np.max(np.abs(fresh - want[0])) > 1e-2  # random weights would not pass
    norm = trainer.model.timbre.body[0][1]
    assert norm.running_mean is not None and float(norm.running_mean.abs().max()) > 1e-3


def test_recalibrated_norms_keep_the_function(tiny_config: TrainConfig) -> None:
    config = tiny_config.with_overrides(model=dataclasses.replace(tiny_config.model,
                                                                  dropout=0.0))
    net = trained_like(config, 5)
    mel, chroma, tempo = _pooled(config, 6, seed=2)
    batch = [torch.from_numpy(a) for a in (mel, chroma, tempo)]
    with torch.no_grad():
        before = net.forward_pooled(*batch)[0]
        train_before = copy.deepcopy(net).train().forward_pooled(*batch)[0]
        assert recalibrate_batch_norms(net, [(mel, chroma, tempo)]) == 6
        after = net.eval().forward_pooled(*batch)[0]
        # in training mode a batch norm uses the batch's statistics: on the batch the
        # statistics were measured on, training and eval mode now agree
        train_after = net.train().forward_pooled(*batch)[0]
    assert torch.max(torch.abs(after - before)) < 1e-5
    assert torch.max(torch.abs(train_after - after)) < 1e-3
    assert torch.max(torch.abs(train_before - before)) > 1e-2


def _pooled(config: TrainConfig, batch: int, *, seed: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random pooled inputs (after the stem) for ``config``'s net."""
    mel, chroma, tempo = example_inputs(config, batch, seed=seed)
    m = config.model
    mel = torch.nn.functional.avg_pool2d(mel.unsqueeze(1), (m.stem_freq, m.stem_time)).squeeze(1)
    chroma = torch.nn.functional.avg_pool1d(chroma, m.stem_time)
    return mel.numpy(), chroma.numpy(), tempo.numpy()


def test_model_of_other_features_is_refused(corpus_dir: Path, cache_dir: Path,
                                            exported: Path, tmp_path: Path) -> None:
    base = tiny_base(corpus_dir)
    base["features"]["mel"]["fmin"] = 30.0
    base["train"]["init_onnx"] = str(exported)
    config = TrainConfig.from_base(base)
    card = json.loads((exported.parent / "card.json").read_text())
    assert card["features"]["mel"]["fmin"] == 0.0
    store = open_store(cache_dir, layout_of(TrainConfig.from_base(tiny_base(corpus_dir))),
                       preload_ram=True)
    with pytest.raises(TrainerError, match="other features"):
        Trainer(config, store, tmp_path / "run", device="cpu", log=lambda _: None)


def test_missing_model_is_refused(tiny_config: TrainConfig, cache_dir: Path,
                                  tmp_path: Path) -> None:
    config = tiny_config.with_overrides(init_onnx=str(tmp_path / "none.onnx"))
    store = open_store(cache_dir, layout_of(config), preload_ram=True)
    with pytest.raises(TrainerError, match="no file"):
        Trainer(config, store, tmp_path / "run", device="cpu", log=lambda _: None)


def test_command_line_sets_init_onnx(tmp_path: Path) -> None:
    args = build_parser().parse_args(["train", "--init_onnx", str(tmp_path / "m.onnx")])
    assert _config(args).init_onnx == str(tmp_path / "m.onnx")
    assert _config(build_parser().parse_args(["train"])).init_onnx is None


def test_finetune_recipe_starts_from_the_shipped_model() -> None:
    root = Path(__file__).parents[2]
    config = load_config(root / "trainer" / "configs" / "real_music_finetune.yaml")
    assert config.init_onnx is not None
    check_card(root / config.init_onnx, config)  # same features and stem as the card
