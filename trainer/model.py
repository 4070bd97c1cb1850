"""The embedding network: three small branches and gated fusion (SPEC section 2).

Inputs follow the model contract of :mod:`engine.model`: ``mel`` ``(B, n_mels, L)``
log-mel in dB, ``chroma`` ``(B, bins, L)``, ``tempo`` ``(B, win)``.

Speed on a CPU comes from a fixed *stem* that average-pools the frame-level inputs
(mel by ``stem_freq`` x ``stem_time``, chroma by ``stem_time``) before anything else.
Because pooling is the very first operation, the feature cache stores pooled frames
(:func:`pool_frames`) and training runs :meth:`EmbeddingNet.forward_pooled` on them:
exactly what the exported model computes after its own stem, at a fraction of the
storage.

Each branch ends in an L2-normalised vector ``f_i`` (``embed_dim`` wide). Fusion uses
one scalar gate per branch, ``g_i = sigmoid(w_i . f_i + b_i)``, normalised to sum to
one: ``gated_add`` gives ``sum_i g~_i f_i``; ``gated_concat`` projects the
concatenation ``[g~_1 f_1, g~_2 f_2, g~_3 f_3]`` to ``embed_dim``. The fused vector is
L2-normalised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

FUSION_MODES = ("gated_add", "gated_concat")
_EPS = 1e-5


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network (independent of the feature configuration)."""

    embed_dim: int = 512
    fusion_mode: str = "gated_add"
    stem_freq: int = 2
    stem_time: int = 4
    timbre_channels: tuple[int, ...] = (24, 48, 96, 128)
    harmony_channels: tuple[int, ...] = (32, 64, 96)
    rhythm_hidden: int = 256
    dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) for checkpoints and cards."""
        data = asdict(self)
        data["timbre_channels"] = list(self.timbre_channels)
        data["harmony_channels"] = list(self.harmony_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        values = dict(data)
        for key in ("timbre_channels", "harmony_channels"):
            if key in values:
                values[key] = tuple(int(c) for c in values[key])
        return cls(**values)


def pool_frames(mel: torch.Tensor, chroma: torch.Tensor, *, stem_freq: int,
                stem_time: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The stem: average-pool ``mel`` ``(B, F, T)`` and ``chroma`` ``(B, C, T)``.

    ``T`` is cropped to a multiple of ``stem_time`` and ``F`` to one of ``stem_freq``.
    Returns ``(B, F // stem_freq, T // stem_time)`` and ``(B, C, T // stem_time)``.
    """
    mel = F.avg_pool2d(mel.unsqueeze(1), kernel_size=(stem_freq, stem_time)).squeeze(1)
    chroma = F.avg_pool1d(chroma, kernel_size=stem_time)
    return mel, chroma


def _standardise(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Zero mean, unit variance over ``dims`` per example (gain invariance)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + _EPS)


def _conv_block(c_in: int, c_out: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(pool))


class TimbreCNN(nn.Module):
    """2-D CNN over the pooled log-mel ``(B, F', T')`` -> ``(B, 2 * channels[-1])``."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        blocks, c_in = [], 1
        for i, c in enumerate(channels):
            blocks.append(_conv_block(c_in, c, (2, 2) if i < len(channels) - 1 else (1, 1)))
            c_in = c
        self.body = nn.Sequential(*blocks)
        self.out_dim = 2 * c_in

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = _standardise(mel, (1, 2)).unsqueeze(1)
        x = self.body(x).mean(dim=2)  # (B, C, T'')
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)


class HarmonyCNN(nn.Module):
    """CNN over chroma ``(B, bins, T')``, circular in pitch, max-pooled over pitch.

    Circular padding on the pitch axis plus a max over pitch make the branch nearly
    invariant to transposition, which versions of a piece often differ by.
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = 1
        for c in channels:
            self.convs.append(nn.Conv2d(c_in, c, kernel_size=3, padding=(0, 1), bias=False))
            self.norms.append(nn.BatchNorm2d(c))
            c_in = c
        self.out_dim = 2 * c_in

    def forward(self, chroma: torch.Tensor) -> torch.Tensor:
        x = _standardise(chroma, (1, 2)).unsqueeze(1)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = torch.cat([x[:, :, -1:], x, x[:, :, :1]], dim=2)  # circular pitch pad
            x = F.relu(norm(conv(x)))
            if i < len(self.convs) - 1:
                x = F.max_pool2d(x, kernel_size=(1, 2))
        x = x.amax(dim=2)  # (B, C, T'')
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)


class RhythmMLP(nn.Module):
    """MLP over the segment's mean tempogram ``(B, win)``."""

    def __init__(self, win: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(win, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.out_dim = hidden

    def forward(self, tempo: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(_standardise(tempo, (1,)))
        return out


class GatedFusion(nn.Module):
    """SPEC section 2 gated fusion of branch vectors ``(B, D)`` each."""

    def __init__(self, n_branches: int, dim: int, mode: str) -> None:
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f"fusion mode must be one of {FUSION_MODES}, not {mode!r}")
        self.mode = mode
        self.gates = nn.ModuleList(nn.Linear(dim, 1) for _ in range(n_branches))
        self.project = nn.Linear(n_branches * dim, dim) if mode == "gated_concat" else None

    def weights(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Normalised gates ``g~`` of shape ``(B, n_branches)``."""
        g = torch.cat([torch.sigmoid(gate(f)) for gate, f in zip(self.gates, feats,
                                                                   strict=True)], dim=1)
        return g / g.sum(dim=1, keepdim=True)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        w = self.weights(feats)
        gated = [w[:, i : i + 1] * f for i, f in enumerate(feats)]
        if self.project is None:
            return torch.stack(gated, dim=0).sum(dim=0)
        out: torch.Tensor = self.project(torch.cat(gated, dim=1))
        return out


def fuse_branches(heads: nn.ModuleList, fusion: GatedFusion, hidden: list[torch.Tensor]
                  ) -> tuple[torch.Tensor, ...]:
    """Branch outputs ``hidden`` -> ``(embedding, timbre, harmony, rhythm)``, L2-normalised."""
    feats = [F.normalize(head(h), dim=1, eps=1e-8) for head, h in zip(heads, hidden, strict=True)]
    fused = F.normalize(fusion(feats), dim=1, eps=1e-8)
    return (fused, *feats)


class EmbeddingNet(nn.Module):
    """Timbre, harmony and rhythm branches with gated fusion.

    ``forward`` returns ``(embedding, timbre, harmony, rhythm)``, each L2-normalised,
    ``(B, embed_dim)``.
    """

    def __init__(self, config: ModelConfig, *, n_mels: int, chroma_bins: int,
                 tempo_win: int) -> None:
        super().__init__()
        self.config = config
        self.n_mels, self.chroma_bins, self.tempo_win = n_mels, chroma_bins, tempo_win
        d = config.embed_dim
        self.timbre = TimbreCNN(config.timbre_channels)
        self.harmony = HarmonyCNN(config.harmony_channels)
        self.rhythm = RhythmMLP(tempo_win, config.rhythm_hidden)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Dropout(config.dropout), nn.Linear(b.out_dim, d))
            for b in (self.timbre, self.harmony, self.rhythm))
        self.fusion = GatedFusion(3, d, config.fusion_mode)

    def forward(self, mel: torch.Tensor, chroma: torch.Tensor,
                tempo: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pmel, pchroma = pool_frames(mel, chroma, stem_freq=self.config.stem_freq,
                                    stem_time=self.config.stem_time)
        return self.forward_pooled(pmel, pchroma, tempo)

    def forward_pooled(self, mel: torch.Tensor, chroma: torch.Tensor,
                       tempo: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Everything after the stem (used in training on pooled cached frames)."""
        hidden = [self.timbre(mel), self.harmony(chroma), self.rhythm(tempo)]
        return fuse_branches(self.heads, self.fusion, hidden)

    def gate_weights(self, mel: torch.Tensor, chroma: torch.Tensor,
                     tempo: torch.Tensor) -> torch.Tensor:
        """Mean normalised gate per branch over a batch (a diagnostic)."""
        _, *feats = self.forward(mel, chroma, tempo)
        return self.fusion.weights(feats).mean(dim=0)


def build_model(config: ModelConfig, *, n_mels: int, chroma_bins: int,
                tempo_win: int) -> EmbeddingNet:
    """A freshly initialised :class:`EmbeddingNet`."""
    if n_mels % config.stem_freq:
        raise ValueError(f"n_mels={n_mels} is not a multiple of stem_freq={config.stem_freq}")
    return EmbeddingNet(config, n_mels=n_mels, chroma_bins=chroma_bins, tempo_win=tempo_win)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
