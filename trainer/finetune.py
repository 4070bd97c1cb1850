"""Start a training run from an exported model (``train.init_onnx``) instead of random weights.

The fp32 ``model.onnx`` is rebuilt as an :class:`EmbeddingNet` by
:func:`trainer.onnx_weights.embedding_net_from_onnx`. Its batch norms come back as
identities that carry the folded conv bias, which is exact in eval mode but not in
training: there a batch norm divides by the batch's own statistics, which for an
identity layer have nothing to do with the unit variance it was given. So the batch
norms are re-expressed around the statistics their inputs really have on training
segments (:func:`recalibrate_batch_norms`): the network still computes exactly the
same function in eval mode, and in training mode it starts close to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import ModelError
from engine.model import load_card
from trainer.cache import FeatureStore, SongEntry
from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.model import EmbeddingNet
from trainer.onnx_weights import embedding_net_from_onnx
from trainer.sampler import eval_starts, gather

#: Training songs and segments per song whose activations set the batch-norm statistics.
CALIBRATION_SONGS = 192
CALIBRATION_SEGMENTS = 2
_CHUNK = 32


def check_card(onnx_path: Path, config: TrainConfig) -> None:
    """Refuse a model whose card (next to it, if any) has other features or another stem."""
    if not (onnx_path.parent / "card.json").is_file():
        return
    try:
        card = load_card(onnx_path.parent)
    except ModelError as exc:
        raise TrainerError(f"train.init_onnx: {exc}") from exc
    if card.features != config.features:
        raise TrainerError(f"train.init_onnx: {onnx_path} was trained on other features "
                           "than this configuration's (its card.json)")
    model = card.training.get("model") or {}
    mine = config.model
    for key in ("stem_freq", "stem_time", "fusion_mode"):
        if key in model and model[key] != getattr(mine, key):
            raise TrainerError(f"train.init_onnx: {onnx_path} has model.{key} "
                               f"{model[key]!r}, this configuration {getattr(mine, key)!r}")


def calibration_segments(store: FeatureStore, songs: Sequence[SongEntry], *, seed: int,
                         n_songs: int = CALIBRATION_SONGS,
                         per_song: int = CALIBRATION_SEGMENTS
                         ) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pooled segments of a seeded sample of ``songs``, in chunks (decoded, float32)."""
    rng = np.random.default_rng(seed)
    picked = [songs[i] for i in sorted(rng.permutation(len(songs))[:n_songs])]
    length = store.layout.segment_length
    names: list[str] = []
    starts: list[int] = []
    for entry in picked:
        for start in eval_starts(entry.n_frames, length, per_song):
            names.append(entry.song)
            starts.append(int(start))
    for i in range(0, len(names), _CHUNK):
        yield gather(store, names[i : i + _CHUNK], np.asarray(starts[i : i + _CHUNK]), length)


def recalibrate_batch_norms(net: EmbeddingNet,
                            batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
                            ) -> int:
    """Give every batch norm of ``net`` the mean and variance its input has on ``batches``
    (pooled ``mel``, ``chroma``, ``tempo``), changing its scale and shift so that the
    eval-mode network computes the same function as before; returns the rows seen."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    moments: dict[int, torch.Tensor] = {}  # per channel: sum and sum of squares
    counts: dict[int, int] = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        seen = torch.stack([x.sum(dim=(0, 2, 3)), x.pow(2).sum(dim=(0, 2, 3))])
        key = id(module)
        moments[key] = moments[key] + seen if key in moments else seen
        counts[key] = counts.get(key, 0) + x.numel() // x.shape[1]

    was_training = net.training
    net.eval()
    hooks = [m.register_forward_pre_hook(record) for m in norms]
    rows = 0
    try:
        with torch.no_grad():
            for mel, chroma, tempo in batches:
                net.forward_pooled(*(torch.from_numpy(a) for a in (mel, chroma, tempo)))
                rows += len(mel)
    finally:
        for hook in hooks:
            hook.remove()
    if rows:
        for norm in norms:
            _reexpress(norm, moments[id(norm)], counts[id(norm)])
    net.train(was_training)
    return rows


def _reexpress(norm: nn.BatchNorm2d, moments: torch.Tensor, count: int) -> None:
    """Set ``norm``'s running statistics to the measured ones (``moments``: per channel
    sum and sum of squares of ``count`` values), keeping its eval output."""
    assert norm.weight is not None and norm.bias is not None
    assert norm.running_mean is not None and norm.running_var is not None
    mean = moments[0] / count
    var = (moments[1] / count - mean.pow(2)).clamp_min(0.0)
    with torch.no_grad():
        old_mean = norm.running_mean.double()
        old_std = (norm.running_var.double() + norm.eps).sqrt()
        gamma, beta = norm.weight.double(), norm.bias.double()
        new_std = (var + norm.eps).sqrt()
        norm.bias.copy_(beta + gamma * (mean - old_mean) / old_std)
        norm.weight.copy_(gamma * new_std / old_std)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)


def init_from_onnx(config: TrainConfig, store: FeatureStore,
                   songs: Sequence[SongEntry]) -> EmbeddingNet:
    """The network of ``config.init_onnx``, its batch norms recalibrated on ``songs``."""
    if not config.init_onnx:
        raise TrainerError("train.init_onnx is not set")
    path = Path(config.init_onnx)
    if not path.is_file():
        raise TrainerError(f"train.init_onnx: no file {path}")
    check_card(path, config)
    net = embedding_net_from_onnx(path, config.model, config.features)
    recalibrate_batch_norms(net, calibration_segments(store, songs, seed=config.seed))
    return net.train()
