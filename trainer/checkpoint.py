"""Checkpoints that carry their configuration and load with ``weights_only=True``.

A checkpoint is a dict of plain values and tensors only (no pickled classes):
``format``, ``version``, ``config`` (:meth:`TrainConfig.to_dict`), ``model_state``,
``epoch``, ``metrics``, ``history``, ``data``; ``last.pt`` files add the optimiser,
scheduler, scaler and early-stopping states needed to resume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.model import EmbeddingNet, build_model

CKPT_FORMAT = "resonance-trainer-checkpoint"
CKPT_VERSION = 1
CKPT_FILE = "ckpt.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plain values and tensors) atomically to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save({"format": CKPT_FORMAT, "version": CKPT_VERSION, **payload}, tmp)
    os.replace(tmp, target)
    return target


def resolve_checkpoint(load: str | Path) -> Path:
    """``load`` itself if a file, else ``load/ckpt.pt``."""
    path = Path(load)
    if path.is_dir():
        path = path / CKPT_FILE
    if not path.is_file():
        raise TrainerError(f"no checkpoint at {path}")
    return path


def load_checkpoint(load: str | Path, *, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its format."""
    path = resolve_checkpoint(load)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or broken files
        raise TrainerError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != CKPT_FORMAT:
        raise TrainerError(f"{path} is not a Resonance trainer checkpoint")
    return data


def model_from_checkpoint(data: dict[str, Any]) -> tuple[EmbeddingNet, TrainConfig]:
    """Rebuild the network (eval mode, on CPU) and its config from a checkpoint dict."""
    config = TrainConfig.from_dict(data["config"])
    model = new_model(config)
    model.load_state_dict(data["model_state"])
    return model.eval(), config


def new_model(config: TrainConfig) -> EmbeddingNet:
    """A fresh network sized for ``config``'s features."""
    f = config.features
    return build_model(config.model, n_mels=f.mel.n_mels, chroma_bins=f.chroma.bins,
                       tempo_win=f.tempo.win)
