"""Rebuild a trainer :class:`EmbeddingNet` from an exported fp32 ONNX file.

An exported ``model.onnx`` keeps the torch names of the linear layers (rhythm MLP,
heads, fusion gates) but the exporter folds each BatchNorm into the convolution in
front of it, so the conv weights come back as anonymous ``onnx::Conv_*`` initializers
with a bias. They are taken in the order of the graph's ``Conv`` nodes (the timbre
body's convs, then the harmony convs) and each goes into the net as its conv weight
plus an identity BatchNorm that carries the folded bias, so the rebuilt net computes
what onnxruntime computes on the same inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.config import FeatureConfig
from trainer.errors import TrainerError
from trainer.model import EmbeddingNet, ModelConfig, build_model


def _conv_pairs(net: EmbeddingNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Every (conv, batch norm) pair of the conv branches, in forward order."""
    branches = (*net.timbre.body, *net.harmony.convs, *net.harmony.norms)
    modules = [m for branch in branches for m in branch.modules()]
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    norms = [m for m in modules if isinstance(m, nn.BatchNorm2d)]
    return list(zip(convs, norms, strict=True))


def _identity_norm(norm: nn.BatchNorm2d, bias: torch.Tensor) -> None:
    """Make ``norm`` add ``bias`` and otherwise pass its input through (eval mode)."""
    with torch.no_grad():
        assert norm.weight is not None and norm.bias is not None
        assert norm.running_mean is not None and norm.running_var is not None
        norm.weight.fill_(1.0)
        norm.bias.copy_(bias)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)


def embedding_net_from_onnx(onnx_path: str | Path, model_config: ModelConfig,
                            features: FeatureConfig) -> EmbeddingNet:
    """An eval-mode :class:`EmbeddingNet` holding the weights of an fp32 ``model.onnx``.

    Raises :class:`TrainerError` when the file's weights do not fit ``model_config``
    (missing layer, wrong shape, quantised file).
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_path))
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    net = build_model(model_config, n_mels=features.mel.n_mels,
                      chroma_bins=features.chroma.bins, tempo_win=features.tempo.win).eval()
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    pairs = _conv_pairs(net)
    if len(convs) != len(pairs):
        raise TrainerError(f"{onnx_path}: {len(convs)} Conv nodes, the model configuration "
                           f"has {len(pairs)} conv layers (not an fp32 export of this net?)")
    for node, (conv, norm) in zip(convs, pairs, strict=True):
        if len(node.input) < 3 or node.input[1] not in weights or node.input[2] not in weights:
            raise TrainerError(f"{onnx_path}: Conv node {node.name!r} lacks a folded "
                               "weight and bias initializer")
        _put(conv.weight, weights[node.input[1]], node.input[1], onnx_path)
        bias = torch.from_numpy(np.array(weights[node.input[2]], dtype=np.float32))
        if bias.shape != norm.bias.shape:
            raise TrainerError(f"{onnx_path}: {node.input[2]} has shape {tuple(bias.shape)}, "
                               f"expected {tuple(norm.bias.shape)}")
        _identity_norm(norm, bias)
    conv_names = {f"{prefix}.{kind}" for prefix in _conv_prefixes(net)
                  for kind in ("weight", "bias", "running_mean", "running_var",
                               "num_batches_tracked")}
    for name, tensor in net.state_dict(keep_vars=True).items():
        if name in conv_names:
            continue
        if name not in weights:
            raise TrainerError(f"{onnx_path}: no initializer {name!r} (not an fp32 export "
                               "of this model configuration?)")
        _put(tensor, weights[name], name, onnx_path)
    return net


def _conv_prefixes(net: EmbeddingNet) -> list[str]:
    """State-dict prefixes of the conv and batch-norm layers."""
    modules = {id(m): name for name, m in net.named_modules()}
    return [modules[id(m)] for pair in _conv_pairs(net) for m in pair]


def _put(target: torch.Tensor, value: np.ndarray, name: str, path: str | Path) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise TrainerError(f"{path}: {name} has shape {tuple(value.shape)}, the model "
                           f"configuration expects {tuple(target.shape)}")
    if value.dtype != np.float32:
        raise TrainerError(f"{path}: {name} is {value.dtype}, not float32 (an INT8 file? "
                           "convert the fp32 model.onnx)")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.array(value)))
