"""The training loop (SPEC section 3, stage *refine*).

AdamW, linear warm-up then cosine decay (per step), mixed precision on CUDA
(bfloat16 where supported, else float16 with a gradient scaler), gradient clipping,
P x K batches from the feature cache with on-device augmentation, validation
recall@5 every epoch with early stopping, ``ckpt.pt`` (best) and ``last.pt`` (resume)
in the run folder. Under ``torchrun`` the processes share each batch
(:mod:`trainer.distributed`); a run resumes with any number of processes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.dsp import LOG_FLOOR_DB
from trainer.augment import augment_batch
from trainer.cache import (
    MEL_STEP_DB,
    FeatureStore,
    SongEntry,
    original_entries,
    variant_map,
)
from trainer.checkpoint import CKPT_FILE, load_checkpoint, new_model, save_checkpoint
from trainer.config import TrainConfig
from trainer.data import split_songs
from trainer.distributed import (
    SINGLE,
    Ranks,
    barrier,
    broadcast,
    data_parallel,
    gather_rows,
    rank_device,
    shard,
)
from trainer.early_stop import EarlyStopper, choose_monitor
from trainer.errors import TrainerError
from trainer.evaluate import evaluate_store, reported_metrics
from trainer.finetune import init_from_onnx
from trainer.losses import make_loss, relational_distillation
from trainer.model import EmbeddingNet
from trainer.sampler import Batch, PKSampler, gather_quantized
from trainer.teacher.targets import TeacherTargets

LAST_FILE = "last.pt"
#: Called after each epoch with (epoch, validation metrics); may raise to stop a trial.
EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """Outcome of :func:`fit`."""

    best_metric: float
    best_epoch: int
    checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    #: the metric followed (:func:`resolve_monitor`; "" when none is measured)
    monitor: str = ""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if name not in ("cpu", "cuda", "mps"):
        raise TrainerError(f"unknown device {name!r} (use auto, cpu, cuda or mps)")
    return torch.device(name)


def lr_factor(step: int, *, warmup: int, total: int, floor: float = 0.01) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``floor``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def split_store(store: FeatureStore, config: TrainConfig
                ) -> tuple[list[SongEntry], list[SongEntry]]:
    """Training and validation songs of the cache (split by group; no degraded copies)."""
    return split_songs(original_entries(store), val_fraction=config.val_fraction,
                       seed=config.seed)


def resolve_monitor(config: TrainConfig, store: FeatureStore,
                    log: Callable[[str], None] = print) -> TrainConfig:
    """``config`` with an early-stopping monitor that validation measures on ``store``.

    The configured one when it is measured; else a fallback
    (:data:`~trainer.early_stop.FALLBACKS`); else none (``monitor`` "": early stopping
    off, the last epoch kept). A change is said in one line.
    """
    es = config.early_stopping
    val_songs = split_store(store, config)[1]
    if not val_songs or not es.monitor:
        return config
    length = store.layout.segment_length
    reported = reported_metrics(val_songs, length, config.features.segment.segments_per_song)
    monitor = choose_monitor(es.monitor, reported)
    if monitor == es.monitor:
        return config
    if es.monitor in ("mrr", "map") or es.monitor.startswith("recall@"):
        crop = f" (tracks cropped to max_seconds={config.max_seconds:g})" \
            if config.max_seconds else ""
        why = (f"no validation track has two non-overlapping "
               f"{config.features.segment.seconds:g} s segments{crop}")
    else:
        why = "validation does not report it"
    then = (f"early stopping follows {monitor} instead" if monitor else
            "nothing else is measured: early stopping is off and the last epoch is kept")
    log(f"[train] {es.monitor} cannot be measured: {why}; {then}")
    changed = (dataclasses.replace(es, monitor=monitor, mode="max") if monitor else
               dataclasses.replace(es, monitor="", enabled=False, restore_best=False))
    return dataclasses.replace(config, early_stopping=changed)


def torch_embed_fn(model: EmbeddingNet, device: torch.device) -> Callable[..., np.ndarray]:
    """An :data:`~trainer.evaluate.EmbedFn` running the model on pooled inputs."""

    def embed(mel: np.ndarray, chroma: np.ndarray, tempo: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model.forward_pooled(*(torch.from_numpy(a).to(device)
                                         for a in (mel, chroma, tempo)))
        return out[0].float().cpu().numpy()

    return embed


class Trainer:
    """One training run of ``config`` on ``store``, writing into ``run_dir``."""

    def __init__(self, config: TrainConfig, store: FeatureStore, run_dir: str | Path, *,
                 device: str = "auto", log: Callable[[str], None] = print,
                 ranks: Ranks = SINGLE) -> None:
        self.log = log if ranks.main else _quiet
        config = resolve_monitor(config, store, self.log)
        self.config, self.store, self.ranks = config, store, ranks
        self.run_dir = Path(run_dir)
        self.device = rank_device(resolve_device(device), ranks)
        torch.manual_seed(config.seed)
        self.train_songs, self.val_songs = split_store(store, config)
        length = store.layout.segment_length
        self.sampler = PKSampler(self.train_songs, identities=config.batch_identities,
                                 views=config.views_per_song, length=length,
                                 min_gap=max(1, length // 8), pair_prob=config.pair_prob,
                                 seed=config.seed,
                                 variants=variant_map(store) if config.variant_prob else None,
                                 variant_prob=config.variant_prob,
                                 source_prob=config.source_prob)
        self.steps = config.steps_per_epoch or len(self.sampler)
        self.model = (init_from_onnx(config, store, self.train_songs) if config.init_onnx
                      else new_model(config)).to(self.device)
        self.net = data_parallel(self.model, self.device, ranks)
        if ranks.rank:  # augmentation and dropout: each rank its own draws
            torch.manual_seed(config.seed + 7919 * ranks.rank)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        total, warm = config.epochs * self.steps, config.warmup_epochs * self.steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, warmup=warm, total=total))
        self.loss_fn = make_loss(config.loss, temperature=config.temperature,
                                 margin=config.margin)
        amp = config.use_amp and self.device.type == "cuda"
        self.amp_dtype = (torch.bfloat16 if amp and torch.cuda.is_bf16_supported()
                          else torch.float16) if amp else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        es = config.early_stopping
        self.stopper = EarlyStopper(mode=es.mode, patience=es.patience,
                                    min_delta=es.min_delta, enabled=es.enabled)
        self.history: list[dict[str, Any]] = []
        self.start_epoch = 0
        self.short_length = max(1, round(config.short_seconds * config.features.frame_rate
                                         / config.model.stem_time))
        self.elapsed = 0.0  # training seconds before this process (resume)
        self.teacher = (TeacherTargets.load(config.distill_targets, config.distill_output)
                        if config.distill_weight > 0 and config.distill_targets else None)

    # -- one step / epoch ------------------------------------------------------------
    def _batch(self, batch: Batch, rows: slice
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This rank's ``rows`` of ``batch``: quantised segments gathered on the CPU,
        decoded on the training device."""
        window = math.ceil(self.store.layout.segment_length * self.config.augment.window_scale)
        # drawn for the whole batch on every rank: the sampler's generator stays in step
        short = short_view_mask(len(batch.songs), window, self.short_length,
                                self.config.short_prob, self.sampler.rng)[rows]
        arrays = gather_quantized(self.store, batch.songs[rows], batch.starts[rows], window)
        tile_short_views(arrays[0], arrays[1], self.short_length, short)
        mel, chroma, tempo = (torch.from_numpy(a).to(self.device, non_blocking=True)
                              for a in arrays)
        return (mel.float() * MEL_STEP_DB + LOG_FLOOR_DB, chroma.float() * (1.0 / 255.0),
                tempo)

    def _loss(self, outputs: tuple[torch.Tensor, ...], labels: torch.Tensor,
              song_labels: torch.Tensor, package_labels: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the loss over piece, song and package labels, fused + branches."""
        song, package = self.config.song_weight, self.config.package_weight
        shares = [(w, lab) for w, lab in ((1.0 - song - package, labels), (song, song_labels),
                                          (package, package_labels)) if w > 0]

        def criterion(emb: torch.Tensor) -> torch.Tensor:
            return sum((w * self.loss_fn(emb, lab) for w, lab in shares), emb.sum() * 0.0)

        fused, *branches = outputs
        loss = criterion(fused)
        if self.config.aux_weight > 0:
            aux = torch.stack([criterion(b) for b in branches]).mean()
            loss = loss + self.config.aux_weight * aux
        return loss

    def _distill(self, fused: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The weighted distillation loss of the batch's views (0 without a teacher)."""
        if self.teacher is None:
            return fused.sum() * 0.0
        frame_s = self.config.model.stem_time / self.config.features.frame_rate
        centres = (batch.starts + self.store.layout.segment_length / 2) * frame_s
        target, found = self.teacher.lookup(batch.songs, centres)
        return self.config.distill_weight * relational_distillation(
            fused, torch.from_numpy(target).to(fused.device),
            torch.from_numpy(found).to(fused.device))

    def train_epoch(self) -> float:
        """Run one epoch of optimisation steps; returns the mean loss."""
        self.model.train()
        losses = []
        for batch in self.sampler.batches(self.steps):
            rows = shard(len(batch.songs) // self.config.views_per_song,
                         self.config.views_per_song, self.ranks)
            mel, chroma, tempo = augment_batch(*self._batch(batch, rows), self.config.augment,
                                               length=self.store.layout.segment_length)
            labels = torch.from_numpy(batch.labels).to(self.device)
            song_labels = torch.from_numpy(batch.song_labels).to(self.device)
            package_labels = torch.from_numpy(batch.package_labels).to(self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                outputs = self.net(mel, chroma, tempo)
                if self.ranks.active:  # every rank's loss covers the whole batch
                    outputs = tuple(gather_rows(o, rows, len(batch.songs)) for o in outputs)
                loss = (self._loss(outputs, labels, song_labels, package_labels)
                        + self._distill(outputs[0], batch))
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            losses.append(float(loss.detach()))
        return float(np.mean(losses)) if losses else float("nan")

    def validate(self) -> dict[str, float]:
        """Retrieval metrics on the validation songs (measured by rank 0)."""
        if not self.ranks.main:
            return {}
        self.model.eval()
        if not self.val_songs:
            return {"recall@5": 0.0}
        return evaluate_store(self.store, self.val_songs, torch_embed_fn(self.model, self.device),
                              n_segments=self.config.features.segment.segments_per_song)

    # -- checkpoints -----------------------------------------------------------------
    def _payload(self, epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return {"config": self.config.to_dict(), "model_state": state,
                "epoch": epoch, "metrics": metrics, "history": self.history,
                "data": self.data_summary()}

    def data_summary(self) -> dict[str, Any]:
        """What the model is trained and validated on (for the model card)."""
        sources = sorted({e.source for e in self.train_songs + self.val_songs if e.source})
        hours = sum(e.duration for e in self.train_songs) / 3600.0
        return {"train_songs": len(self.train_songs), "val_songs": len(self.val_songs),
                "train_hours": round(hours, 3), "sources": sources,
                "groups": len({e.group for e in self.train_songs})}

    def save_last(self, epoch: int, metrics: dict[str, float]) -> None:
        """Write ``last.pt`` with everything needed to resume after ``epoch`` (rank 0)."""
        if not self.ranks.main:
            return
        payload = self._payload(epoch, metrics)
        payload.update(optimizer=self.optimizer.state_dict(),
                       scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
                       stopper=self.stopper.state_dict(),
                       sampler_rng=self.sampler.rng.bit_generator.state,
                       elapsed=self.elapsed)
        save_checkpoint(self.run_dir / LAST_FILE, payload)

    def resume(self) -> bool:
        """Continue from ``last.pt`` if the run folder has one."""
        path = self.run_dir / LAST_FILE
        if not path.is_file():
            return False
        data = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(data["model_state"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        self.scaler.load_state_dict(data["scaler"])
        self.stopper.load_state_dict(data["stopper"])
        self.sampler.rng.bit_generator.state = data["sampler_rng"]
        self.history = list(data["history"])
        self.elapsed = float(data.get("elapsed", 0.0))
        self.start_epoch = int(data["epoch"]) + 1
        self.log(f"[train] resumed from {path} at epoch {self.start_epoch}")
        return True

    # -- the loop ----------------------------------------------------------------------
    def fit(self, *, on_epoch: EpochCallback | None = None) -> FitResult:
        """Train until ``epochs`` or early stopping; returns the best checkpoint."""
        cfg, monitor = self.config, self.config.early_stopping.monitor
        procs = f" processes={self.ranks.world}" if self.ranks.active else ""
        self.log(f"[train] device={self.device}{procs} train_songs={len(self.train_songs)} "
                 f"val_songs={len(self.val_songs)} steps/epoch={self.steps} "
                 f"batch={self.sampler.identities}x{cfg.views_per_song}")
        stopped = self.stopper.should_stop
        began = time.perf_counter() - self.elapsed
        for epoch in range(self.start_epoch, cfg.epochs if not stopped else 0):
            t0 = time.perf_counter()
            loss = _guard_oom(self.train_epoch, cfg.batch_identities)
            metrics, elapsed = broadcast((self.validate(), time.perf_counter() - began),
                                         self.ranks)
            value = float(metrics.get(monitor, 0.0))
            # without a monitor (none measured) each epoch is the newest best
            best = self.stopper.update(value, epoch) if monitor else True
            self.history.append({"epoch": epoch, "loss": loss, **metrics,
                                 "lr": self.scheduler.get_last_lr()[0]})
            if best and self.ranks.main:
                save_checkpoint(self.run_dir / CKPT_FILE, self._payload(epoch, metrics))
            self.elapsed = elapsed
            self.save_last(epoch, metrics)
            extra = "".join(f" {key}={metrics[key]:.4f}" for key in
                            ("version_map", "source_p@10") if key != monitor and key in metrics)
            shown = f" {monitor}={value:.4f} best={self.stopper.best:.4f}" if monitor else ""
            self.log(f"[train] epoch {epoch + 1}/{cfg.epochs} loss={loss:.4f}{shown}{extra} "
                     f"({time.perf_counter() - t0:.1f}s){' *' if best else ''}")
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            if self.stopper.should_stop:
                stopped = True
                self.log(f"[train] early stop: no {monitor} gain for "
                         f"{self.stopper.patience} epochs")
                break
            if cfg.max_minutes is not None and self.elapsed > 60.0 * cfg.max_minutes:
                stopped = True
                self.log(f"[train] time budget of {cfg.max_minutes:g} min reached")
                break
        return self._finish(stopped)

    def _finish(self, stopped: bool) -> FitResult:
        barrier(self.ranks)  # rank 0 has written the checkpoints
        best_path = self.run_dir / CKPT_FILE
        if self.config.early_stopping.restore_best and best_path.is_file():
            self.model.load_state_dict(load_checkpoint(best_path,
                                                       map_location=self.device)["model_state"])
        last = self.history[-1]["epoch"] if self.history else -1
        followed = bool(self.config.early_stopping.monitor)
        return FitResult(best_metric=float(self.stopper.best or 0.0),
                         best_epoch=self.stopper.best_epoch if followed else int(last),
                         checkpoint=best_path,
                         history=self.history, stopped_early=stopped,
                         monitor=self.config.early_stopping.monitor)


def short_view_mask(n: int, window: int, short: int, prob: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` views become short excerpts (each with probability ``prob``)."""
    if prob <= 0 or short >= window:
        return np.zeros(n, dtype=bool)
    mask: np.ndarray = rng.random(n) < prob
    return mask


def tile_short_views(mel: np.ndarray, chroma: np.ndarray, short: int,
                     chosen: np.ndarray) -> None:
    """In place: each ``chosen`` view keeps only its first ``short`` frames, repeated to
    the window's length (as the engine fills a short recording). The rhythm vector
    stays the segment's mean, a close stand-in for the excerpt's."""
    window = mel.shape[-1]
    reps = -(-window // short)
    for i in np.flatnonzero(chosen):
        mel[i] = np.tile(mel[i, :, :short], reps)[:, :window]
        chroma[i] = np.tile(chroma[i, :, :short], reps)[:, :window]


def _guard_oom(fn: Callable[[], float], batch_identities: int) -> float:
    try:
        return fn()
    except torch.cuda.OutOfMemoryError as exc:
        raise TrainerError(
            f"CUDA out of memory with batch_identities={batch_identities}; try a smaller "
            f"batch, e.g. --batch_identities {max(2, batch_identities // 2)}") from exc


def _quiet(_message: str) -> None:
    """The log of the ranks other than 0."""


def fit(config: TrainConfig, store: FeatureStore, run_dir: str | Path, *,
        device: str = "auto", resume: bool = True, on_epoch: EpochCallback | None = None,
        log: Callable[[str], None] = print, ranks: Ranks = SINGLE) -> FitResult:
    """Train ``config`` on ``store`` into ``run_dir`` (resuming from ``last.pt``); with
    ``ranks``, as one of the processes of a distributed run."""
    trainer = Trainer(config, store, run_dir, device=device, log=log, ranks=ranks)
    if resume:
        trainer.resume()
    return trainer.fit(on_epoch=on_epoch)
