"""Metric-learning losses on L2-normalised embeddings (SPEC section 2).

Both take ``embeddings`` ``(N, D)`` and integer ``labels`` ``(N,)``; rows sharing a
label are positives of each other. Anchors without a positive (or, for the triplet
loss, without a negative) are left out of the mean.
"""

from __future__ import annotations

import torch
from torch import nn


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same, ~eye


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``(N, N)``, clamped at zero."""
    sq = x.pow(2).sum(dim=1)
    return (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)


class TripletLoss(nn.Module):
    """Batch-hard triplet loss ``max(0, d(a,p) - d(a,n) + margin)``, squared distances.

    For every anchor the farthest positive and the closest negative in the batch are
    used (Hermans et al. 2017).
    """

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = embeddings.float()
        dist = squared_distances(emb)
        pos, neg, _ = _masks(labels)
        hardest_pos = torch.where(pos, dist, torch.full_like(dist, -1.0)).amax(dim=1)
        hardest_neg = torch.where(neg, dist, torch.full_like(dist, float("inf"))).amin(dim=1)
        valid = pos.any(dim=1) & neg.any(dim=1)
        if not bool(valid.any()):
            return emb.sum() * 0.0
        losses = (hardest_pos - hardest_neg + self.margin).clamp_min(0.0)
        return losses[valid].mean()


class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al. 2020, the "L_out" form).

    ``L = mean_i  -1/|P(i)| sum_{p in P(i)} log softmax_{a != i}(z_i . z_a / tau)[p]``.
    """

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = embeddings.float()
        logits = emb @ emb.T / self.temperature
        pos, _, others = _masks(labels)
        logits = logits.masked_fill(~others, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        n_pos = pos.sum(dim=1)
        valid = n_pos > 0
        if not bool(valid.any()):
            return emb.sum() * 0.0
        pos_log_prob = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
        return -(pos_log_prob[valid] / n_pos[valid]).mean()


def relational_distillation(student: torch.Tensor, teacher: torch.Tensor,
                            mask: torch.Tensor) -> torch.Tensor:
    """Mean squared gap between the cosine similarities of the student's embeddings and
    those of the teacher's targets, over every pair of rows with a target (``mask``):
    relational distillation (Park et al. 2019). The student learns which segments the
    teacher finds alike, in its own space, with no projection head to export."""
    s = nn.functional.normalize(student.float()[mask], dim=1)
    t = nn.functional.normalize(teacher.float()[mask], dim=1)
    if s.shape[0] < 2:
        return student.sum() * 0.0
    off = ~torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    return (s @ s.T - t @ t.T)[off].pow(2).mean()


def make_loss(name: str, *, temperature: float = 0.05, margin: float = 0.2) -> nn.Module:
    """The loss named in the config (``supcon`` or ``triplet``)."""
    if name == "supcon":
        return SupConLoss(temperature)
    if name == "triplet":
        return TripletLoss(margin)
    raise ValueError(f"unknown loss {name!r}")
