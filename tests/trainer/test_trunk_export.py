"""Trunk-layout export of the shipped model: files, card, and the engine running it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.features import Segments
from engine.model import Embedder, load_card
from engine.trunk import pool_columns
from tests.trainer.test_onnx_weights import SHIPPED, shipped_config
from trainer.onnx_weights import embedding_net_from_onnx
from trainer.trunk import trunk_from_net
from trainer.trunk_export import export_trunk_folder


@pytest.fixture(scope="module")
def trunk_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = shipped_config()
    net = embedding_net_from_onnx(SHIPPED / "model.onnx", cfg.model, cfg.features)
    out = tmp_path_factory.mktemp("trunk")
    export_trunk_folder(net, cfg.features, out, source=load_card(SHIPPED))
    return out


def test_folder_and_card(trunk_folder: Path) -> None:
    data = json.loads((trunk_folder / "card.json").read_text(encoding="utf-8"))
    assert data["format_version"] == 2 and data["layout"] == "trunk"
    assert data["model_file"] == "trunk.onnx" and data["precision"] == "fp32"
    assert data["head"]["file"] == "head.onnx"
    assert data["pool"] == {"timbre": {"stride": 32, "columns": 28},
                            "harmony": {"stride": 16, "columns": 56},
                            "standardise_frames": 900}
    assert "resonance-default" in data["training"]["trunk"]["note"]
    assert data["metrics"]["trunk_parity"]["trunk"]["ok"]
    assert data["metrics"]["bench_quality"] == load_card(SHIPPED).metrics["bench_quality"]
    trunk = onnx.load(str(trunk_folder / "trunk.onnx"))
    assert trunk.opset_import[0].version == 17
    assert trunk.graph.input[0].type.tensor_type.shape.dim[2].dim_param == "frames"
    Embedder(trunk_folder).check()


def test_engine_runs_the_trunk_like_torch(trunk_folder: Path) -> None:
    """The engine's run of four consecutive segments equals torch's trunk, pooling, head."""
    cfg = shipped_config()
    f = cfg.features
    gen = np.random.default_rng(3)
    frames = f.segment_frames + 3 * f.segment_hop_frames
    mel = (-60.0 + 20.0 * gen.standard_normal((f.mel.n_mels, frames))).astype(np.float32)
    chroma = gen.random((f.chroma.bins, frames), dtype=np.float32)
    starts = np.arange(4) * f.segment_hop_frames
    tempo = gen.uniform(-1, 1, (4, f.tempo.win)).astype(np.float32)
    segments = Segments(
        mel=np.stack([mel[:, s : s + f.segment_frames] for s in starts]),
        chroma=np.stack([chroma[:, s : s + f.segment_frames] for s in starts]),
        tempo=tempo, starts=(starts / f.frame_rate).astype(np.float32))
    got = Embedder(trunk_folder).embed(segments)
    net = embedding_net_from_onnx(SHIPPED / "model.onnx", cfg.model, cfg.features)
    trunk, head = trunk_from_net(net)
    card = load_card(trunk_folder)
    with torch.no_grad():
        maps = trunk(torch.from_numpy(mel)[None], torch.from_numpy(chroma)[None])
        pooled = [torch.from_numpy(np.ascontiguousarray(pool_columns(
            m.numpy(), starts, stride=card.pool[b]["stride"], columns=card.pool[b]["columns"]),
            np.float32)) for m, b in zip(maps, ("timbre", "harmony"), strict=True)]
        fused = head(*pooled, torch.from_numpy(tempo))[0].numpy()
    assert np.max(np.abs(got.fused - fused)) < 1e-4
