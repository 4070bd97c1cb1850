"""Losses against brute-force loops and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import SupConLoss, TripletLoss, make_loss


def _batch(seed: int = 0, n: int = 12, d: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    emb = F.normalize(torch.randn(n, d, generator=gen), dim=1)
    labels = torch.arange(n) // 3
    return emb, labels


def triplet_loop(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    losses = []
    for a in range(len(emb)):
        d_pos = [float(((emb[a] - emb[p]) ** 2).sum()) for p in range(len(emb))
                 if p != a and labels[p] == labels[a]]
        d_neg = [float(((emb[a] - emb[n]) ** 2).sum()) for n in range(len(emb))
                 if labels[n] != labels[a]]
        if d_pos and d_neg:
            losses.append(max(0.0, max(d_pos) - min(d_neg) + margin))
    return sum(losses) / len(losses)


def supcon_loop(emb: torch.Tensor, labels: torch.Tensor, tau: float) -> float:
    total, count = 0.0, 0
    for i in range(len(emb)):
        denom = sum(math.exp(float(emb[i] @ emb[a]) / tau) for a in range(len(emb)) if a != i)
        pos = [p for p in range(len(emb)) if p != i and labels[p] == labels[i]]
        if not pos:
            continue
        total += -sum(math.log(math.exp(float(emb[i] @ emb[p]) / tau) / denom)
                      for p in pos) / len(pos)
        count += 1
    return total / count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_matches_loop(seed: int) -> None:
    emb, labels = _batch(seed)
    got = TripletLoss(margin=0.2)(emb, labels)
    assert got.item() == pytest.approx(triplet_loop(emb, labels, 0.2), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_supcon_matches_loop(seed: int) -> None:
    emb, labels = _batch(seed)
    got = SupConLoss(temperature=0.05)(emb, labels)
    assert got.item() == pytest.approx(supcon_loop(emb, labels, 0.05), rel=1e-4)


def test_triplet_hand_value() -> None:
    # anchors on the unit circle: a=(1,0), p=(0,1) [same label], n=(-1,0) [other label]
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    # anchor 0: d_ap=2, d_an=4 -> 0; anchor 1: d_ap=2, d_an=2 -> 0.2; anchor 2 has no positive
    assert TripletLoss(margin=0.2)(emb, labels).item() == pytest.approx(0.1)


def test_supcon_hand_value() -> None:
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    tau = 0.5
    # anchors 0 and 1: positive sim 1, negative sim 0
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 1.0))
    assert SupConLoss(tau)(emb, labels).item() == pytest.approx(expected, rel=1e-6)


def test_no_positives_gives_zero_with_grad() -> None:
    emb = F.normalize(torch.randn(4, 3), dim=1).requires_grad_()
    labels = torch.arange(4)
    for loss in (SupConLoss(), TripletLoss()):
        value = loss(emb, labels)
        value.backward()
        assert value.item() == 0.0


def test_make_loss() -> None:
    assert isinstance(make_loss("supcon"), SupConLoss)
    assert make_loss("triplet", margin=0.3).margin == 0.3
    with pytest.raises(ValueError):
        make_loss("arcface")
