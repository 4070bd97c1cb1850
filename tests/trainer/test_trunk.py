"""The trunk layout: trunk + per-window pooling + head reproduces the per-segment net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.trunk import pool_columns
from tests.trainer.test_onnx_weights import SHIPPED, shipped_config
from trainer.export import example_inputs
from trainer.model import EmbeddingNet
from trainer.onnx_weights import embedding_net_from_onnx
from trainer.trunk import pool_spec, sliding_standardise, trunk_from_net


@pytest.fixture(scope="module")
def shipped_net() -> EmbeddingNet:
    cfg = shipped_config()
    return embedding_net_from_onnx(SHIPPED / "model.onnx", cfg.model, cfg.features)


def _pooled(cmap: torch.Tensor, offsets: list[int], spec: dict) -> torch.Tensor:
    pooled = pool_columns(cmap.numpy(), np.asarray(offsets), stride=spec["stride"],
                          columns=spec["columns"])
    return torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32))


def test_window_mode_trunk_and_head_equal_the_segment_net(shipped_net: EmbeddingNet) -> None:
    cfg = shipped_config()
    trunk, head = trunk_from_net(shipped_net, standardise="window")
    spec = pool_spec(trunk, cfg.features.segment_frames)
    assert spec == {"timbre": {"stride": 32, "columns": 28},
                    "harmony": {"stride": 16, "columns": 56}, "standardise_frames": 900}
    mel, chroma, tempo = example_inputs(cfg, 2, seed=11)
    with torch.no_grad():
        expected = shipped_net(mel, chroma, tempo)
        for i in range(2):
            tmap, hmap = trunk(mel[i : i + 1], chroma[i : i + 1])
            assert tmap.shape[2] == 28 and hmap.shape[2] == 56  # all columns pooled
            got = head(_pooled(tmap, [0], spec["timbre"]), _pooled(hmap, [0], spec["harmony"]),
                       tempo[i : i + 1])
            for g, e in zip(got, expected, strict=True):
                assert torch.max(torch.abs(g[0] - e[i])) < 1e-5


def test_sliding_mode_map_lengths(shipped_net: EmbeddingNet) -> None:
    trunk, _ = trunk_from_net(shipped_net)
    for frames in (900, 1000, 4263):
        mel = -60.0 + 20.0 * torch.randn(1, 160, frames)
        with torch.no_grad():
            tmap, hmap = trunk(mel, torch.rand(1, 24, frames))
        assert tmap.shape == (1, 128, frames // 32) and hmap.shape == (1, 96, frames // 16)


def test_sliding_standardise_uses_a_window_kept_inside_the_input() -> None:
    gen = torch.Generator().manual_seed(0)
    x = 5.0 + 3.0 * torch.randn(1, 6, 40, generator=gen)
    got = sliding_standardise(x, 9)
    for t, (a, b) in {0: (0, 9), 3: (0, 9), 4: (0, 9), 20: (16, 25), 39: (31, 40)}.items():
        window = x[:, :, a:b]
        mean, var = window.mean(), window.var(unbiased=False)
        assert torch.allclose(got[0, :, t], (x[0, :, t] - mean) / torch.sqrt(var + 1e-5),
                              atol=1e-4)
    # a gain and offset change leaves the result unchanged
    assert torch.allclose(sliding_standardise(3.0 * x + 7.0, 9), got, atol=1e-4)
    # an input no longer than the window is standardised as a whole
    for frames in (9, 6):
        short = x[:, :, :frames]
        whole = (short - short.mean()) / torch.sqrt(short.var(unbiased=False) + 1e-5)
        assert torch.allclose(sliding_standardise(short, 9), whole, atol=1e-4)


def test_sliding_mode_on_a_lone_segment_is_the_per_segment_model(
        shipped_net: EmbeddingNet) -> None:
    sliding, _ = trunk_from_net(shipped_net)
    window, _ = trunk_from_net(shipped_net, standardise="window")
    mel, chroma = -60.0 + 20.0 * torch.randn(1, 160, 900), torch.rand(1, 24, 900)
    with torch.no_grad():
        for a, b in zip(sliding(mel, chroma), window(mel, chroma), strict=True):
            assert torch.max(torch.abs(a - b)) < 1e-4
