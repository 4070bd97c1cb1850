"""Training the timbre graph: "sounds alike" learned from real recordings' packages.

The main model learns what makes two recordings *the same music* (a song and its phone
recording, a piece in another soundfont, key and tempo), which is what excerpts and
versions need; it must ignore much of the sound itself (equalisation, microphone,
instruments). "Sounds alike" is the opposite question: which recordings share a palette
of instruments, a production, a style. The timbre graph (:mod:`engine.timbre`) learns
that on its own from the feature cache's real training recordings: supervised
contrastive learning (SupCon) in which the other recordings of the same source (a Debian
package's soundtrack, a module package, an LMMS author) are the positives and every
other source's recordings in the batch the negatives; an optional share in which only
the other window of the same recording is the positive. Renditions and degraded copies
are left out: a soundfont is not a style, and a phone recording is not how the music
sounds.

The network reads a segment's pooled log-mel (the cache's own storage): four small
convolution blocks, frequency-averaged, their mean and spread over time, plus each
band's mean and spread (the spectral envelope MFCC statistics summarise), then a
two-layer projection to a unit vector. Several such networks trained with other seeds
can ship as one graph (:class:`TimbreEnsemble`): their vectors side by side, so two
tracks' cosine is the mean of the members' cosines (seeds of this recipe differ by 0.02
same-package P@10; their mean is steadier than any one).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ModelError
from engine.filecheck import file_digest
from engine.model import ModelCard, load_card, write_card
from engine.timbre import TIMBRE_INPUT, TIMBRE_OUTPUT
from trainer.cache import FeatureStore, dequantize_mel, original_entries
from trainer.config import check_distill
from trainer.errors import TrainerError
from trainer.losses import SupConLoss, relational_distillation

TIMBRE_FILE = "timbre.onnx"
#: Timbre entry keys that describe how a graph was attached to a model (not the graph):
#: attaching it anew (``--from``) writes its own.
_ATTACHMENT_KEYS = ("gain", "mix", "main_dim", "mix_without_versions", "base", "mix_choice",
                    "attach_command")


@dataclass(frozen=True)
class TimbreRecipe:
    """How the timbre graph is trained (every field is recorded in the card)."""

    steps: int = 250
    #: sources per batch, recordings per source (each recording gives two windows)
    sources: int = 16
    per_source: int = 4
    #: window length in pooled frames (0: the model's segment length)
    window: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-3
    dropout: float = 0.3
    channels: int = 32
    dim: int = 128
    hidden: int = 256
    temperature: float = 0.1
    #: random gain per window (dB, standard deviation)
    gain_db: float = 3.0
    #: widest frequency stripe (bands) a window has masked to its mean level (0: off)
    freq_mask: int = 0
    #: most bands a window is moved up or down, a small pitch and formant change (0: off)
    band_shift: int = 0
    #: windows averaged into each of a recording's two views, as a track's vector is the
    #: mean of its segments'
    windows_per_view: int = 1
    #: share of the loss whose only positive is the same recording's other window
    recording_weight: float = 0.0
    #: weight of relational distillation from a pretrained tagger's track vectors
    #: (:mod:`trainer.teacher`; 0: off), read from ``distill_targets``
    distill_weight: float = 0.0
    distill_targets: str | None = None
    distill_output: str = "embedding"
    seed: int = 0
    #: networks trained with seeds ``seed``, ``seed + 1``, ... and shipped as one graph
    members: int = 1

    def __post_init__(self) -> None:
        check_distill(self.distill_weight, self.distill_targets, self.distill_output)
        if self.members < 1:
            raise TrainerError(f"members must be at least 1, not {self.members}")
        if self.windows_per_view < 1 or self.freq_mask < 0 or self.band_shift < 0:
            raise TrainerError("windows_per_view must be at least 1, freq_mask and "
                               "band_shift at least 0")


class TimbreNet(nn.Module):
    """Pooled log-mel ``(B, bands, T)`` (dB) -> L2-normalised timbre vector ``(B, dim)``."""

    def __init__(self, bands: int, *, channels: int = 32, dim: int = 128, hidden: int = 256,
                 dropout: float = 0.3, level: tuple[float, float] = (-60.0, 20.0)) -> None:
        super().__init__()
        self.bands, self.dim = bands, dim
        self.level: torch.Tensor
        self.register_buffer("level", torch.tensor(level, dtype=torch.float32))

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                                 nn.ReLU(), nn.MaxPool2d(2))

        c = channels
        self.convs = nn.Sequential(block(1, c // 2), block(c // 2, c), block(c, c),
                                   block(c, 2 * c))
        self.project = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(4 * c + 2 * bands, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = (mel - self.level[0]) / self.level[1]
        envelope = torch.cat([x.mean(dim=2), x.std(dim=2)], dim=1)
        h = self.convs(x.unsqueeze(1)).mean(dim=2)  # (B, C, T')
        texture = torch.cat([h.mean(dim=2), h.std(dim=2)], dim=1)
        return F.normalize(self.project(torch.cat([texture, envelope], dim=1)), dim=1)


class TimbreEnsemble(nn.Module):
    """Several :class:`TimbreNet` side by side: ``(B, bands, T)`` -> their unit vectors
    concatenated and scaled by ``1 / sqrt(members)``, a unit vector whose cosine with
    another is the mean of the members' cosines."""

    def __init__(self, members: list[TimbreNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.bands = members[0].bands
        self.dim = sum(m.dim for m in members)
        self.scale = 1.0 / math.sqrt(len(members))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(mel) for m in self.members], dim=1) * self.scale


@dataclass
class TimbreData:
    """The real training recordings' pooled log-mel, by source."""

    mels: list[np.ndarray]
    sources: list[str]
    songs: list[str]

    @property
    def by_source(self) -> dict[str, list[int]]:
        """Recording indices per source."""
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.sources):
            out.setdefault(s, []).append(i)
        return out


def timbre_data(store: FeatureStore, *, split: str = "train") -> TimbreData:
    """The cache's original ``split`` songs without versions (real recordings, modules,
    LMMS projects: every renditions' piece has several songs in its group)."""
    entries = [e for e in original_entries(store) if e.split == split]
    group_size: dict[str, int] = {}
    for e in entries:
        group_size[e.group] = group_size.get(e.group, 0) + 1
    keep = [e for e in entries if group_size[e.group] == 1 and e.n_frames > 0]
    return TimbreData(mels=[dequantize_mel(store.get(e.song).mel) for e in keep],
                      sources=[e.source for e in keep], songs=[e.song for e in keep])


def teacher_vectors(data: TimbreData, path: str, output: str) -> tuple[np.ndarray, np.ndarray]:
    """Each recording's teacher vector ``(n, D)`` (the mean of its patches' centred rows,
    :class:`~trainer.teacher.targets.TeacherTargets`) and whether it has one ``(n,)``."""
    from trainer.teacher.targets import TeacherTargets

    targets = TeacherTargets.load(path, output)
    out = np.zeros((len(data.songs), targets.dim), np.float32)
    found = np.zeros(len(data.songs), bool)
    for i, song in enumerate(data.songs):
        hit = targets.rows.get(song)
        if hit is not None:
            out[i], found[i] = hit[1].mean(axis=0), True
    if not found.any():
        raise TrainerError(f"the teacher targets {path} hold none of the training recordings")
    return out, found


def train_timbre(data: TimbreData, recipe: TimbreRecipe, *, window: int,
                 log: Callable[[str], None] = print
                 ) -> tuple[TimbreNet | TimbreEnsemble, dict[str, Any]]:
    """Train a :class:`TimbreNet` on ``data`` (windows of ``window`` pooled frames), or
    ``recipe.members`` of them with successive seeds as a :class:`TimbreEnsemble`;
    returns the network (eval mode) and a record of the run."""
    if recipe.members == 1:
        return _train_one(data, recipe, window=window, log=log)
    nets, records = [], []
    for j in range(recipe.members):
        log(f"[timbre] member {j + 1}/{recipe.members} (seed {recipe.seed + j})")
        net, record = _train_one(data, dataclasses.replace(recipe, seed=recipe.seed + j),
                                 window=window, log=log)
        nets.append(net)
        records.append(record)
    record = {**records[0], "recipe": dataclasses.asdict(recipe),
              "final_loss": [r["final_loss"] for r in records],
              "seconds": round(sum(r["seconds"] for r in records), 1)}
    return TimbreEnsemble(nets).eval(), record


def _train_one(data: TimbreData, recipe: TimbreRecipe, *, window: int,
               log: Callable[[str], None]) -> tuple[TimbreNet, dict[str, Any]]:
    by_source = {s: ix for s, ix in data.by_source.items() if len(ix) >= 2}
    if len(by_source) < 2:
        raise TrainerError("training the timbre graph needs at least two sources with two "
                           f"or more recordings each; the cache has {len(by_source)}")
    rng = np.random.default_rng(recipe.seed)
    torch.manual_seed(recipe.seed)
    frames = np.concatenate([m.reshape(-1) for m in data.mels])
    net = TimbreNet(data.mels[0].shape[0], channels=recipe.channels, dim=recipe.dim,
                    hidden=recipe.hidden, dropout=recipe.dropout,
                    level=(float(frames.mean()), float(frames.std() + 1e-6)))
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps)
    supcon = SupConLoss(recipe.temperature)
    teacher = (teacher_vectors(data, recipe.distill_targets, recipe.distill_output)
               if recipe.distill_weight > 0 and recipe.distill_targets else None)
    names = sorted(by_source)
    n_sources = min(recipe.sources, len(names))
    losses: list[float] = []
    started = time.monotonic()
    net.train()
    for step in range(recipe.steps):
        picked = rng.choice(len(names), n_sources, replace=False)
        rows: list[np.ndarray] = []
        source_labels: list[int] = []
        recording_labels: list[int] = []
        recordings: list[int] = []
        for s in picked:
            members = by_source[names[s]]
            for i in rng.choice(members, recipe.per_source,
                                replace=len(members) < recipe.per_source):
                for _ in range(2):
                    rows.extend(_augment(_window(data.mels[i], window, rng, recipe.gain_db),
                                         rng, recipe) for _ in range(recipe.windows_per_view))
                    source_labels.append(int(s))
                    recording_labels.append(int(i))
                    recordings.append(int(i))
        z = net(torch.from_numpy(np.stack(rows)))
        if recipe.windows_per_view > 1:
            z = F.normalize(z.view(len(source_labels), recipe.windows_per_view, -1).mean(dim=1),
                            dim=1)
        loss = supcon(z, torch.tensor(source_labels))
        if recipe.recording_weight > 0:
            loss = ((1 - recipe.recording_weight) * loss
                    + recipe.recording_weight * supcon(z, torch.tensor(recording_labels)))
        if teacher is not None:
            loss = loss + recipe.distill_weight * relational_distillation(
                z, torch.from_numpy(teacher[0][recordings]),
                torch.from_numpy(teacher[1][recordings]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
        if (step + 1) % 50 == 0 or step + 1 == recipe.steps:
            log(f"[timbre] step {step + 1}/{recipe.steps} loss {np.mean(losses[-50:]):.3f}")
    net.eval()
    record = {"recipe": dataclasses.asdict(recipe), "window_frames": window,
              "recordings": len(data.mels), "sources": len(data.by_source),
              "teacher_recordings": 0 if teacher is None else int(teacher[1].sum()),
              "sources_with_pairs": len(by_source), "final_loss": float(np.mean(losses[-50:])),
              "seconds": round(time.monotonic() - started, 1)}
    return net, record


def _window(mel: np.ndarray, window: int, rng: np.random.Generator, gain_db: float
            ) -> np.ndarray:
    """A random ``window``-frame stretch (tiled when the song is shorter), gain-jittered."""
    if mel.shape[1] < window:
        mel = np.tile(mel, (1, -(-window // mel.shape[1])))
    start = int(rng.integers(0, mel.shape[1] - window + 1))
    out: np.ndarray = mel[:, start: start + window] + np.float32(rng.normal(0.0, gain_db))
    return out.astype(np.float32)


def _augment(mel: np.ndarray, rng: np.random.Generator, recipe: TimbreRecipe) -> np.ndarray:
    """``mel`` (bands, frames) moved by up to ``recipe.band_shift`` bands (the edge band
    repeated) and with a stripe of up to ``recipe.freq_mask`` bands set to its mean level;
    unchanged (and no random draw) where both are 0."""
    if recipe.band_shift > 0:
        shift = int(rng.integers(-recipe.band_shift, recipe.band_shift + 1))
        if shift:
            rows = np.clip(np.arange(len(mel)) - shift, 0, len(mel) - 1)
            mel = mel[rows]
    if recipe.freq_mask > 0:
        width = int(rng.integers(0, recipe.freq_mask + 1))
        if width:
            start = int(rng.integers(0, len(mel) - width + 1))
            mel = mel.copy()
            mel[start: start + width] = mel.mean()
    return mel


def export_timbre(net: TimbreNet | TimbreEnsemble, path: str | Path, *, window: int
                  ) -> dict[str, Any]:
    """Write ``net`` as an ONNX graph (batch and frames dynamic) and check it against torch
    on random segments; raises :class:`TrainerError` beyond :mod:`trainer.export`'s
    thresholds. Returns the parity report."""
    from trainer.export import OPSET, _export_message, _session
    from trainer.trunk_export import compare

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = net.bands
    gen = torch.Generator().manual_seed(0)
    example = -60.0 + 20.0 * torch.randn(3, bands, window, generator=gen)
    net.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), str(path), input_names=[TIMBRE_INPUT],
                              output_names=[TIMBRE_OUTPUT], opset_version=OPSET,
                              dynamic_axes={TIMBRE_INPUT: {0: "batch", 2: "frames"},
                                            TIMBRE_OUTPUT: {0: "batch"}}, dynamo=False)
    except Exception as exc:  # the exporter raises several unrelated types
        raise TrainerError(_export_message(exc)) from exc
    check = -60.0 + 20.0 * torch.randn(5, bands, window, generator=gen)
    with torch.no_grad():
        ref = [net(check).numpy()]
    got = _session(path).run([TIMBRE_OUTPUT], {TIMBRE_INPUT: check.numpy()})
    report = compare((TIMBRE_OUTPUT,), ref, got)
    if not report["ok"]:
        raise TrainerError(f"timbre ONNX output differs from torch beyond tolerance: {report}")
    return report


def attach_timbre(base: str | Path, out: str | Path, net: TimbreNet | TimbreEnsemble, *,
                  window: int, stem: tuple[int, int], record: dict[str, Any],
                  name: str | None = None, gain: float = 1.0, mix: float = 0.0,
                  without_versions: float | None = None) -> ModelCard:
    """A model folder ``out``: the model in ``base`` (its files copied) with ``net`` as
    its timbre graph, listened to ``gain`` times as much as the other branches at neutral
    weights (:attr:`engine.model.ModelCard.weight_gains`), ``mix`` of the main graph's
    timbre kept beside it (:attr:`engine.model.ModelCard.timbre_mix`) and, if given, the
    share ``without_versions`` for seeds without versions (:class:`engine.timbre.TimbreMix`);
    the card records the timbre recipe and the export's parity."""
    out = Path(out)
    # before out's graph is written (out may be base)
    main_dim = timbre_base_dim(base, mix, without_versions)
    out.mkdir(parents=True, exist_ok=True)
    parity = export_timbre(net, out / TIMBRE_FILE, window=window)
    entry = {"file": TIMBRE_FILE, "sha256": file_digest(out / TIMBRE_FILE),
             "stem": [int(stem[0]), int(stem[1])], "training": record, "parity": parity}
    return _with_timbre(base, out, entry, graph_dim=net.dim, main_dim=main_dim, name=name,
                        gain=gain, mix=mix, without_versions=without_versions)


def reattach_timbre(source: str | Path, base: str | Path, out: str | Path, *,
                    name: str | None = None, gain: float = 1.0, mix: float = 0.0,
                    without_versions: float | None = None) -> ModelCard:
    """A model folder ``out``: the model in ``base`` with the timbre graph already trained
    for the model in ``source`` (same features), at another ``gain``, ``mix`` and
    ``without_versions``; its training record and parity are kept."""
    source, out = Path(source), Path(out)
    try:
        old = load_card(source)
    except ModelError as exc:
        raise TrainerError(f"--from: {exc}") from None
    if not old.timbre:
        raise TrainerError(f"the model in {source} has no timbre graph")
    # before out's graph is written (out may be base)
    main_dim = timbre_base_dim(base, mix, without_versions)
    if old.features != load_card(base).features:
        raise TrainerError(f"the models in {source} and {base} read other features")
    graph_dim = _graph_dim(source / old.timbre["file"], old, old.timbre_stem or (1, 1))
    out.mkdir(parents=True, exist_ok=True)
    if (source / old.timbre["file"]).resolve() != (out / TIMBRE_FILE).resolve():
        shutil.copy2(source / old.timbre["file"], out / TIMBRE_FILE)
    entry = {k: v for k, v in old.timbre.items() if k not in _ATTACHMENT_KEYS}
    entry["file"] = TIMBRE_FILE
    return _with_timbre(base, out, entry, graph_dim=graph_dim, main_dim=main_dim,
                        name=name or old.name, gain=gain, mix=mix,
                        without_versions=without_versions)


def _graph_dim(path: Path, card: ModelCard, stem: tuple[int, int]) -> int:
    """The width of a timbre graph's output (run once on a segment of silence)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    f = card.features
    zeros = np.zeros((1, f.mel.n_mels // stem[0], f.segment_frames // stem[1]), np.float32)
    return int(session.run([TIMBRE_OUTPUT], {TIMBRE_INPUT: zeros})[0].shape[-1])


def timbre_base_dim(base: str | Path, mix: float, without_versions: float | None = None
                    ) -> int:
    """Check that a timbre graph can join the model in ``base`` at ``mix`` (and
    ``without_versions``: :class:`engine.timbre.TimbreMix`) and return
    the width of that model's own (main graph) timbre vector: its card's without a timbre
    graph; with one, known only when the card mixes both (the graph's width taken off).
    Raises :class:`TrainerError` with one line otherwise."""
    if not 0.0 <= mix < 1.0:
        raise TrainerError(f"--mix must be from 0 to below 1, not {mix:g}")
    if without_versions is not None and not (mix > 0 and 0.0 <= without_versions <= 1.0):
        raise TrainerError("--mix-without-versions needs a --mix above 0 and is from 0 to 1, "
                           f"not {without_versions:g}")
    folder = Path(base)
    try:
        card = load_card(folder)
    except ModelError as exc:
        raise TrainerError(f"--base: {exc}") from None
    if not card.timbre:
        return card.branch_dims["timbre"]
    if not card.timbre_mix:
        raise TrainerError(f"the model in {folder} replaces its timbre vector by a timbre "
                           "graph's; give the model it was made from as --base")
    graph = _graph_dim(folder / card.timbre["file"], card, card.timbre_stem or (1, 1))
    return card.branch_dims["timbre"] - graph


def _with_timbre(base: str | Path, out: Path, entry: dict[str, Any], *, graph_dim: int,
                 main_dim: int, name: str | None, gain: float, mix: float,
                 without_versions: float | None = None) -> ModelCard:
    """Write ``out``'s card: ``base``'s model (its main graphs copied; a timbre graph of
    its own is left out) with the timbre graph ``entry`` (already in ``out``) of width
    ``graph_dim``, ``main_dim`` the base's own timbre width (:func:`timbre_base_dim`)."""
    base = Path(base)
    source = load_card(base)
    for f in {source.model_file, source.head.get("file", source.model_file)}:
        if (base / f).resolve() != (out / f).resolve():
            shutil.copy2(base / f, out / f)
    timbre = {**entry, "gain": float(gain),
              "base": {"name": source.name, "sha256": source.sha256}}
    if mix:
        timbre.update(mix=float(mix), main_dim=int(main_dim))
    if without_versions is not None:
        timbre["mix_without_versions"] = float(without_versions)
    dim = graph_dim + (main_dim if mix else 0)
    card = dataclasses.replace(
        source, name=name or f"{source.name}-timbre", timbre=timbre,
        branch_dims={**source.branch_dims, "timbre": dim},
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat())
    write_card(card, out)
    return card


def carry_timbre(source: str | Path, target: str | Path) -> bool:
    """Give the model in ``target`` the timbre graph of the model in ``source`` (a model
    trained on a library keeps the shipped "sounds alike" branch); only when both read
    the same features. Returns whether it did."""
    source, target = Path(source), Path(target)
    try:
        old = load_card(source)
    except ModelError:
        return False
    new = load_card(target)
    if not old.timbre or old.features != new.features:
        return False
    shutil.copy2(source / old.timbre["file"], target / old.timbre["file"])
    dim = _graph_dim(target / old.timbre["file"], old, old.timbre_stem or (1, 1))
    timbre = dict(old.timbre)
    if old.timbre_mix:  # the target's own timbre vector beside the graph's
        timbre["main_dim"] = new.branch_dims["timbre"]
        dim += new.branch_dims["timbre"]
    write_card(dataclasses.replace(
        new, timbre=timbre, branch_dims={**new.branch_dims, "timbre": dim}), target)
    return True
