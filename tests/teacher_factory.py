"""A MusiCNN teacher with seeded random weights, written as TensorFlow names them (what
``trainer/teacher/tf_export.py`` exports from the real checkpoint). Needs torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainer.teacher import musicnn_net as mn


def random_network(seed: int = 0) -> mn.MusiCNN:
    """Random weights and batch-norm statistics (scales of both signs)."""
    torch.manual_seed(seed)
    net = mn.MusiCNN()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.weight.normal_()
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def tensorflow_layout(net: mn.MusiCNN) -> dict[str, np.ndarray]:
    """``net``'s parameters as TensorFlow named and shaped them (the inverse of the port)."""
    out = {}
    for scope, layer in mn._tf_names(net):
        w = layer.weight.detach().numpy()
        b = layer.bias.detach().numpy()
        if isinstance(layer, torch.nn.Conv2d):
            out |= {f"{scope}/kernel": w.transpose(2, 3, 1, 0), f"{scope}/bias": b}
        elif isinstance(layer, torch.nn.Linear):
            out |= {f"{scope}/kernel": w.T, f"{scope}/bias": b}
        else:
            out |= {f"{scope}/gamma": w, f"{scope}/beta": b,
                    f"{scope}/moving_mean": layer.running_mean.numpy(),
                    f"{scope}/moving_variance": layer.running_var.numpy()}
    return out


def write_teacher(path: Path, seed: int = 0) -> Path:
    """An exported-weights ``.npz`` of :func:`random_network` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **tensorflow_layout(random_network(seed)))
    return path
