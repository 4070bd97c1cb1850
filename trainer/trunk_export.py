"""Export of the trunk layout: ``trunk.onnx`` + ``head.onnx`` + a format-2 ``card.json``.

The trunk graph takes ``mel`` ``(1, n_mels, T)`` and ``chroma`` ``(1, bins, T)`` with
``T`` dynamic and returns ``timbre_map`` and ``harmony_map``; the head graph takes each
segment's pooled columns (``timbre_pooled``, ``harmony_pooled``) and its ``tempo``
vector, batch axis dynamic, and returns the four L2-normalised embeddings
(:mod:`engine.trunk` runs the pair). Both graphs are checked against torch with the
thresholds of :mod:`trainer.export` before the card is written.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.config import FeatureConfig
from engine.filecheck import file_digest
from engine.model import OUTPUT_NAMES, ModelCard, write_card
from engine.trunk import MAP_NAMES, POOLED_NAMES, pool_columns
from trainer.errors import TrainerError
from trainer.export import MAX_ABS, MAX_MAE, MIN_COSINE, OPSET, _export_message, _session
from trainer.model import EmbeddingNet
from trainer.trunk import HeadNet, TrunkNet, pool_spec, trunk_from_net

TRUNK_FILE = "trunk.onnx"
HEAD_FILE = "head.onnx"
#: Trunk lengths the parity check runs (a lone segment, and a run of a few segments
#: whose length is no multiple of any stride).
CHECK_FRAMES = (900, 2613)


def example_frames(features: FeatureConfig, frames: int, *, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random trunk inputs in realistic ranges: mel in dB, chroma in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    mel = -60.0 + 20.0 * torch.randn(1, features.mel.n_mels, frames, generator=gen)
    return mel, torch.rand(1, features.chroma.bins, frames, generator=gen)


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path,
            inputs: list[str], outputs: list[str], axes: dict[str, dict[int, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), args, str(path), input_names=inputs,
                              output_names=outputs, opset_version=OPSET, dynamic_axes=axes,
                              dynamo=False)
    except Exception as exc:  # the exporter raises several unrelated types
        raise TrainerError(_export_message(exc)) from exc
    return path


def export_trunk_onnx(trunk: TrunkNet, features: FeatureConfig, path: str | Path) -> Path:
    """Write the trunk graph (opset 17, time axis dynamic)."""
    axes = {"mel": {2: "frames"}, "chroma": {2: "frames"},
            "timbre_map": {2: "timbre_columns"}, "harmony_map": {2: "harmony_columns"}}
    example = example_frames(features, features.segment_frames + 237)
    return _export(trunk, example, Path(path), ["mel", "chroma"], list(MAP_NAMES), axes)


def _pooled_inputs(trunk: TrunkNet, features: FeatureConfig, *, seed: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Head inputs of a few segments of a random run: pooled map columns and tempo."""
    hop, n = features.segment_hop_frames, 5
    spec = pool_spec(trunk, features.segment_frames)
    with torch.no_grad():
        maps = trunk(*example_frames(features, features.segment_frames + (n - 1) * hop,
                                     seed=seed))
    offsets = np.arange(n) * hop
    pooled = [torch.from_numpy(np.ascontiguousarray(pool_columns(
        m.numpy(), offsets, stride=int(s["stride"]), columns=int(s["columns"])), np.float32))
        for m, s in zip(maps, (spec["timbre"], spec["harmony"]), strict=True)]
    gen = torch.Generator().manual_seed(seed)
    tempo = 2.0 * torch.rand(n, features.tempo.win, generator=gen) - 1.0
    return pooled[0], pooled[1], tempo


def export_head_onnx(head: HeadNet, trunk: TrunkNet, features: FeatureConfig,
                     path: str | Path) -> Path:
    """Write the head graph (opset 17, batch axis dynamic)."""
    names = [*POOLED_NAMES, "tempo"]
    axes = {name: {0: "batch"} for name in (*names, *OUTPUT_NAMES)}
    return _export(head, _pooled_inputs(trunk, features, seed=1), Path(path), names,
                   list(OUTPUT_NAMES), axes)


def compare(names: tuple[str, ...], ref: list[np.ndarray], got: list[np.ndarray]
            ) -> dict[str, Any]:
    """MAE, max abs error and the lowest row cosine (rows: first axis, flattened) of
    each output, and whether all lie within :mod:`trainer.export`'s thresholds."""
    report: dict[str, Any] = {}
    for name, r, g in zip(names, ref, got, strict=True):
        r2, g2 = r.reshape(r.shape[0], -1), np.asarray(g).reshape(r.shape[0], -1)
        cos = np.sum(r2 * g2, axis=1) / np.maximum(
            np.linalg.norm(r2, axis=1) * np.linalg.norm(g2, axis=1), 1e-12)
        report[name] = {"mae": float(np.mean(np.abs(r2 - g2))),
                        "max_abs": float(np.max(np.abs(r2 - g2))),
                        "cosine_min": float(cos.min())}
    report["ok"] = all(report[n]["mae"] < MAX_MAE and report[n]["max_abs"] < MAX_ABS
                       and report[n]["cosine_min"] > MIN_COSINE for n in names)
    return report


def validate_trunk(trunk: TrunkNet, path: str | Path, features: FeatureConfig) -> dict[str, Any]:
    """onnxruntime against torch on random trunk inputs of :data:`CHECK_FRAMES` lengths."""
    session = _session(path)
    report: dict[str, Any] = {}
    for i, frames in enumerate(CHECK_FRAMES):
        mel, chroma = example_frames(features, frames, seed=10 + i)
        with torch.no_grad():
            ref = [t.numpy() for t in trunk(mel, chroma)]
        got = session.run(list(MAP_NAMES), {"mel": mel.numpy(), "chroma": chroma.numpy()})
        report[f"frames{frames}"] = compare(MAP_NAMES, ref, got)
    report["ok"] = all(r["ok"] for r in report.values())
    return report


def validate_head(head: HeadNet, trunk: TrunkNet, path: str | Path,
                  features: FeatureConfig) -> dict[str, Any]:
    """onnxruntime against torch on the pooled columns of a random run's segments."""
    inputs = _pooled_inputs(trunk, features, seed=7)
    with torch.no_grad():
        ref = [t.numpy() for t in head(*inputs)]
    feed = {n: t.numpy() for n, t in zip((*POOLED_NAMES, "tempo"), inputs, strict=True)}
    got = _session(path).run(list(OUTPUT_NAMES), feed)
    return {"batch": int(inputs[0].shape[0]), **compare(OUTPUT_NAMES, ref, got)}


def trunk_card(source: ModelCard, trunk_path: Path, head_path: Path, pool: dict[str, Any],
               parity: dict[str, Any], *, name: str | None = None) -> ModelCard:
    """The format-2 card of a trunk folder derived from the per-segment model ``source``:
    same features and dimensions, its training record and figures kept, with a note."""
    note = (f"Trunk layout derived from {source.name} ({source.model_file}, sha256 "
            f"{source.sha256[:12]}) by `resonance-train trunk`: the same weights with "
            "BatchNorm folded into the convolutions; the convolutional branches run once "
            "over a run of consecutive segments and each segment pools its map columns, "
            "with sliding standardisation over "
            f"{pool['standardise_frames']} frames instead of per segment.")
    training = {**source.training, "trunk": {
        "note": note, "source": {"name": source.name, "model_file": source.model_file,
                                 "sha256": source.sha256, "created": source.created}}}
    return dataclasses.replace(
        source, name=name or f"{source.name}-trunk", model_file=trunk_path.name,
        sha256=file_digest(trunk_path), precision="fp32", layout="trunk",
        head={"file": head_path.name, "sha256": file_digest(head_path)}, pool=pool,
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        training=training, metrics={**source.metrics, "trunk_parity": parity})


def export_trunk_folder(net: EmbeddingNet, features: FeatureConfig, outdir: str | Path, *,
                        source: ModelCard, name: str | None = None
                        ) -> tuple[ModelCard, dict[str, Any]]:
    """Export ``net`` in the trunk layout into ``outdir`` (``trunk.onnx``, ``head.onnx``,
    ``card.json``) after checking both graphs against torch; returns the card and the
    parity report. Raises :class:`TrainerError` if either graph differs beyond tolerance."""
    out = Path(outdir)
    trunk, head = trunk_from_net(net, standardise_frames=features.segment_frames)
    trunk_path = export_trunk_onnx(trunk, features, out / TRUNK_FILE)
    head_path = export_head_onnx(head, trunk, features, out / HEAD_FILE)
    parity = {"trunk": validate_trunk(trunk, trunk_path, features),
              "head": validate_head(head, trunk, head_path, features)}
    if not (parity["trunk"]["ok"] and parity["head"]["ok"]):
        raise TrainerError(f"trunk/head ONNX output differs from torch beyond tolerance: "
                           f"{parity}")
    card = trunk_card(source, trunk_path, head_path,
                      pool_spec(trunk, features.segment_frames), parity, name=name)
    write_card(card, out)
    return card, parity
