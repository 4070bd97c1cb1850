"""The network: shapes, normalisation, the SPEC's gated fusion, the stem, gain invariance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainer.model import (
    EmbeddingNet,
    GatedFusion,
    ModelConfig,
    build_model,
    count_parameters,
    pool_frames,
)

SMALL = {"embed_dim": 32, "timbre_channels": (8, 16, 16), "harmony_channels": (8, 16),
         "rhythm_hidden": 32}


def _model(mode: str = "gated_add", **kw: object) -> EmbeddingNet:
    cfg = ModelConfig(fusion_mode=mode, **{**SMALL, **kw})
    return build_model(cfg, n_mels=32, chroma_bins=12, tempo_win=24).eval()


def _inputs(b: int = 3, frames: int = 100, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return (-50 + 15 * torch.randn(b, 32, frames, generator=gen),
            torch.rand(b, 12, frames, generator=gen), torch.rand(b, 24, generator=gen))


@pytest.mark.parametrize("mode", ["gated_add", "gated_concat"])
def test_outputs_are_unit_vectors(mode: str) -> None:
    outs = _model(mode)(*_inputs())
    assert len(outs) == 4
    for out in outs:
        assert out.shape == (3, 32)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


def test_gated_add_is_the_spec_formula() -> None:
    torch.manual_seed(0)
    fusion = GatedFusion(3, 4, "gated_add")
    feats = [torch.randn(2, 4) for _ in range(3)]
    g = [torch.sigmoid(gate(f)) for gate, f in zip(fusion.gates, feats, strict=True)]
    total = g[0] + g[1] + g[2]
    expected = sum(gi / total * fi for gi, fi in zip(g, feats, strict=True))
    torch.testing.assert_close(fusion(feats), expected)
    torch.testing.assert_close(fusion.weights(feats).sum(dim=1), torch.ones(2))


def test_gated_concat_projects_the_gated_concatenation() -> None:
    torch.manual_seed(0)
    fusion = GatedFusion(3, 4, "gated_concat")
    feats = [torch.randn(2, 4) for _ in range(3)]
    w = fusion.weights(feats)
    gated = torch.cat([w[:, i : i + 1] * f for i, f in enumerate(feats)], dim=1)
    assert fusion.project is not None
    torch.testing.assert_close(fusion(feats), fusion.project(gated))


def test_unknown_fusion_mode() -> None:
    with pytest.raises(ValueError, match="fusion mode"):
        GatedFusion(3, 4, "attention")


def test_forward_equals_pooled_path() -> None:
    model = _model()
    mel, chroma, tempo = _inputs()
    pmel, pchroma = pool_frames(mel, chroma, stem_freq=2, stem_time=4)
    assert pmel.shape == (3, 16, 25) and pchroma.shape == (3, 12, 25)
    for a, b in zip(model(mel, chroma, tempo), model.forward_pooled(pmel, pchroma, tempo),
                    strict=True):
        torch.testing.assert_close(a, b)


def test_gain_changes_matter_little() -> None:
    model = _model()
    mel, chroma, tempo = _inputs(seed=3)
    base = model(mel, chroma, tempo)[0]
    louder = model(mel + 12.0, chroma, tempo)[0]
    other = model(*_inputs(seed=4))[0]
    assert F.cosine_similarity(base, louder).min() > 0.999
    assert F.cosine_similarity(base, other).max() < 0.999


def test_default_size_is_small() -> None:
    model = build_model(ModelConfig(), n_mels=160, chroma_bins=24, tempo_win=320)
    assert count_parameters(model) < 1_000_000


def test_config_round_trip() -> None:
    cfg = ModelConfig(fusion_mode="gated_concat", timbre_channels=(4, 8))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_n_mels_must_fit_the_stem() -> None:
    with pytest.raises(ValueError, match="stem_freq"):
        build_model(ModelConfig(), n_mels=33, chroma_bins=12, tempo_win=24)
