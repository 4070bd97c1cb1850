"""The trunk layout of an :class:`EmbeddingNet` (docs: TRUNK contract, engine/trunk.py).

The per-segment network runs on 18 s windows every 4 s, so every second of audio goes
through the convolutions 4.5 times. :class:`TrunkNet` runs the convolutional branches
once over a stretch of frames and returns one map per branch; each window then pools
the map columns it covers (mean and max, as the per-segment model pools its own) and
:class:`HeadNet` turns the pooled vectors and the window's tempo vector into the
embeddings. BatchNorm is folded into the convolutions.

Standardisation (gain invariance) cannot be per window in a trunk: in ``"sliding"``
mode each stem column is standardised with the mean and variance over all bins of a
centred window of ``standardise_frames`` frames (truncated at the ends). ``"window"``
mode standardises the whole input at once, which on a lone segment is exactly what
the per-segment model does (the tests use it to prove the weight mapping).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from trainer.model import _EPS, EmbeddingNet, _standardise, fuse_branches, pool_frames

STANDARDISE_MODES = ("sliding", "window")


def sliding_standardise(x: torch.Tensor, span: int) -> torch.Tensor:
    """Standardise each column of ``x`` ``(B, F, T)`` with the mean and variance over all
    ``F`` bins of ``span`` columns around it (``span`` odd): centred on it, shifted to
    stay inside the input at its ends, the whole input when it is shorter than ``span``.

    A lone segment (one segment's columns) is thus standardised exactly as the
    per-segment model standardises it, and a run's columns see a full window everywhere.
    """
    x = x - x.mean(dim=(1, 2), keepdim=True)  # same result; keeps E[x^2] - E[x]^2 exact
    stats = torch.cat([x.mean(dim=1, keepdim=True), x.pow(2).mean(dim=1, keepdim=True)], 1)
    stats = F.avg_pool1d(stats, span, stride=1, padding=span // 2, count_include_pad=False)
    # a shifted window at column t is the centred window of the nearest column whose
    # centred window fits: clamp t to [half, T - 1 - half] (the middle column if none)
    half = span // 2
    last = torch.ones_like(stats[0, 0]).sum().long() - 1  # T - 1, traced as a graph value
    middle = torch.div(last, 2, rounding_mode="floor")
    low = torch.minimum(torch.full_like(last, half), middle)
    high = torch.maximum(last - half, middle)
    columns = torch.minimum(torch.maximum(torch.arange(stats.shape[-1]), low), high)
    stats = stats.index_select(2, columns)
    mean, square = stats[:, :1], stats[:, 1:]
    var = (square - mean * mean).clamp_min(0.0)
    return (x - mean) / torch.sqrt(var + _EPS)


def _fuse(conv: nn.Module, norm: nn.Module) -> nn.Conv2d:
    """``conv`` followed by ``norm`` (eval mode) as one convolution with a bias."""
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm, nn.BatchNorm2d):
        raise TypeError(f"expected Conv2d then BatchNorm2d, got {type(conv).__name__} "
                        f"then {type(norm).__name__}")
    return fuse_conv_bn_eval(conv.eval(), norm.eval())


class TrunkNet(nn.Module):
    """Stem, standardisation and both conv branches: ``(mel, chroma)`` frames
    ``(1, n_mels, T)`` / ``(1, bins, T)`` -> ``timbre_map`` ``(1, C_t, T // 32)`` and
    ``harmony_map`` ``(1, C_h, T // 16)`` (strides of the shipped configuration)."""

    def __init__(self, net: EmbeddingNet, *, standardise: str = "sliding",
                 standardise_frames: int = 900) -> None:
        super().__init__()
        if standardise not in STANDARDISE_MODES:
            raise ValueError(f"standardise must be one of {STANDARDISE_MODES}")
        cfg = net.config
        self.stem = (cfg.stem_freq, cfg.stem_time)
        self.standardise = standardise
        self.span = standardise_frames // cfg.stem_time
        if self.span % 2 == 0:
            raise ValueError(f"standardise_frames / stem_time = {self.span} must be odd "
                             "(a window centred on each column)")
        blocks = [list(block.children()) for block in copy.deepcopy(net.timbre.body)]
        self.timbre = nn.Sequential(*(nn.Sequential(_fuse(b[0], b[1]), *b[2:]) for b in blocks))
        self.harmony = nn.ModuleList(
            _fuse(conv, norm) for conv, norm in zip(copy.deepcopy(net.harmony.convs),
                                                    copy.deepcopy(net.harmony.norms),
                                                    strict=True))

    def _standardised(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise == "window":
            return _standardise(x, (1, 2))
        return sliding_standardise(x, self.span)

    def forward(self, mel: torch.Tensor, chroma: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        pmel, pchroma = pool_frames(mel, chroma, stem_freq=self.stem[0],
                                    stem_time=self.stem[1])
        timbre = self.timbre(self._standardised(pmel).unsqueeze(1)).mean(dim=2)
        x = self._standardised(pchroma).unsqueeze(1)
        for i, conv in enumerate(self.harmony):
            x = torch.cat([x[:, :, -1:], x, x[:, :, :1]], dim=2)  # circular pitch pad
            x = F.relu(conv(x))
            if i < len(self.harmony) - 1:
                x = F.max_pool2d(x, kernel_size=(1, 2))
        return timbre, x.amax(dim=2)

    def strides(self) -> dict[str, int]:
        """Frames per map column of each branch."""
        timbre = self.stem[1]
        for pool in self.timbre.modules():
            if isinstance(pool, nn.MaxPool2d):
                kernel = pool.kernel_size
                timbre *= kernel[1] if isinstance(kernel, tuple) else kernel
        return {"timbre": timbre, "harmony": self.stem[1] * 2 ** (len(self.harmony) - 1)}


class HeadNet(nn.Module):
    """Pooled branch vectors and tempo -> ``(embedding, timbre, harmony, rhythm)``,
    each L2-normalised, ``(n, embed_dim)``."""

    def __init__(self, net: EmbeddingNet) -> None:
        super().__init__()
        self.rhythm = copy.deepcopy(net.rhythm)
        self.heads = copy.deepcopy(net.heads)
        self.fusion = copy.deepcopy(net.fusion)

    def forward(self, timbre_pooled: torch.Tensor, harmony_pooled: torch.Tensor,
                tempo: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return fuse_branches(self.heads, self.fusion,
                             [timbre_pooled, harmony_pooled, self.rhythm(tempo)])


def trunk_from_net(net: EmbeddingNet, *, standardise: str = "sliding",
                   standardise_frames: int = 900) -> tuple[TrunkNet, HeadNet]:
    """The trunk and head of ``net`` (copies; ``net`` is left as it is), in eval mode."""
    net = net.eval()
    trunk = TrunkNet(net, standardise=standardise, standardise_frames=standardise_frames)
    return trunk.eval(), HeadNet(net).eval()


def pool_spec(trunk: TrunkNet, segment_frames: int) -> dict[str, Any]:
    """The card's ``pool`` entry: per branch the stride and the columns a segment covers."""
    spec: dict[str, Any] = {
        branch: {"stride": stride, "columns": segment_frames // stride}
        for branch, stride in trunk.strides().items()}
    spec["standardise_frames"] = trunk.span * trunk.stem[1]
    return spec
