"""Data-parallel training over several processes (``torchrun --nproc_per_node N``).

One run under ``torchrun`` is the same optimisation as a single process with the same
global P x K batch: every rank draws the same batches from the same seeded sampler and
embeds only its share of the identities (whole identities, all K views each); the
embeddings are summed into the global batch on every rank, so the loss sees every
negative of the batch; batch norm takes its statistics over the global batch
(:class:`GlobalBatchNorm2d`: ``torch.nn.SyncBatchNorm`` runs on GPUs only); and
DistributedDataParallel averages the gradients. Random augmentation and dropout draw
from each rank's own generator, so only those differ from a single-process run.

The process group uses NCCL on CUDA and gloo on the CPU. Rank 0 alone validates,
writes checkpoints and logs; the other ranks receive its validation figures.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from trainer.errors import TrainerError
from trainer.model import EmbeddingNet

#: How long a rank waits for the others (rank 0 validates while they wait).
TIMEOUT = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """Whether several processes train together."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this process validates, writes checkpoints and logs."""
        return self.rank == 0


SINGLE = Ranks()


def ranks_from_env() -> Ranks:
    """The ranks ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """The device of this rank: its own GPU under CUDA, else ``device``."""
    if ranks.active and device.type == "cuda":
        return torch.device("cuda", ranks.local_rank)
    if ranks.active and device.type != "cpu":
        raise TrainerError(f"distributed training runs on CUDA or the CPU, not {device.type}; "
                           "pass --device cuda or --device cpu")
    return device


@contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join the run's process group (NCCL on CUDA, gloo on the CPU) for the block."""
    if not ranks.active:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def shard(n_identities: int, views: int, ranks: Ranks) -> slice:
    """The rows of a P x K batch this rank embeds: whole identities, split evenly."""
    if n_identities < ranks.world:
        raise TrainerError(f"{n_identities} identities per batch cannot be shared by "
                           f"{ranks.world} processes; raise batch_identities")
    bounds = np.linspace(0, n_identities, ranks.world + 1).round().astype(int)
    return slice(int(bounds[ranks.rank]) * views, int(bounds[ranks.rank + 1]) * views)


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over the ranks, differentiable."""
    out: torch.Tensor = _SumOverRanks.apply(x)
    return out


def gather_rows(x: torch.Tensor, rows: slice, total: int) -> torch.Tensor:
    """The global ``(..., total, D)`` tensor from each rank's ``rows`` (dimension -2).

    A differentiable sum over ranks: the gradient of every rank's loss reaches the
    rank that computed each row.
    """
    before, after = rows.start, total - rows.stop
    padded = nn.functional.pad(x, (0, 0, before, after))
    out: torch.Tensor = all_reduce(padded)
    return out


def broadcast(value: Any, ranks: Ranks) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not ranks.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ranks: Ranks) -> None:
    """Wait until every rank gets here."""
    if ranks.active:
        dist.barrier()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics cover every rank's rows (any device).

    Outside a process group, or in eval mode, it is plain :class:`~torch.nn.BatchNorm2d`;
    its parameters and state-dict keys are the same, so checkpoints load either way.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        dtype, x = x.dtype, x.float()  # statistics in float32, also under autocast
        count = torch.full((1,), x.numel() / x.shape[1], device=x.device)
        sums = all_reduce(torch.cat([x.sum(dim=dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        centred = x - mean[None, :, None, None]
        var = all_reduce(centred.pow(2).sum(dim=dims)) / n
        if self.track_running_stats and self.running_mean is not None \
                and self.running_var is not None and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                      else self.momentum)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1.0), factor)
        out = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(dtype)


def sync_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every :class:`~torch.nn.BatchNorm2d` made a :class:`GlobalBatchNorm2d`
    (in place: the same parameters and buffers)."""
    for child in module.children():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = GlobalBatchNorm2d
        else:
            sync_batch_norm(child)
    return module


class PooledForward(nn.Module):
    """``net.forward_pooled`` as a module's ``forward`` (what DDP wraps)."""

    def __init__(self, net: EmbeddingNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel: torch.Tensor, chroma: torch.Tensor,
                tempo: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.net.forward_pooled(mel, chroma, tempo)


def data_parallel(net: EmbeddingNet, device: torch.device, ranks: Ranks) -> nn.Module:
    """The module to run training steps through: DDP over ``net``'s pooled forward."""
    wrapped = PooledForward(net)
    if not ranks.active:
        return wrapped
    sync_batch_norm(net)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(wrapped, device_ids=ids)
