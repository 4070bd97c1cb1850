"""Feature-level augmentation: ranges, independence of views, the off switch."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from trainer.augment import add_noise, augment_batch, band_limit, codec
from trainer.config import AugmentConfig


def _batch(b: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    mel = (-40 + 10 * torch.randn(b, 40, 50, generator=gen)).clamp_min(-100)
    return mel, torch.rand(b, 12, 50, generator=gen), torch.rand(b, 32, generator=gen)


def test_shapes_ranges_and_views_differ() -> None:
    mel, chroma, tempo = _batch()
    cfg = AugmentConfig(lowpass_prob=1.0, noise_prob=1.0, codec_prob=1.0)
    out = augment_batch(mel, chroma, tempo, cfg, torch.Generator().manual_seed(1))
    assert [t.shape for t in out] == [mel.shape, chroma.shape, tempo.shape]
    assert all(torch.isfinite(t).all() for t in out)
    assert out[0].min() >= -100.0 and out[1].min() >= 0.0 and out[1].max() <= 1.0
    # the same input in two rows gets two different perturbations
    twin = mel[:1].repeat(2, 1, 1)
    a = augment_batch(twin, chroma[:2], tempo[:2], cfg, torch.Generator().manual_seed(2))[0]
    assert not torch.allclose(a[0], a[1])


def test_disabled_is_identity() -> None:
    mel, chroma, tempo = _batch()
    out = augment_batch(mel, chroma, tempo, dataclasses.replace(AugmentConfig(), enabled=False))
    assert torch.equal(out[0], mel) and torch.equal(out[1], chroma) and out[2] is tempo


def test_band_limit_only_attenuates_high_bands() -> None:
    mel = torch.zeros(4, 40, 10)
    att = band_limit(mel, 0.5, 0.5, None)
    assert torch.all(att[:, :20] == 0) and torch.all(att[:, 25:] == -60.0)


def test_noise_at_high_snr_changes_little_and_low_snr_a_lot() -> None:
    mel = _batch()[0]
    quiet = add_noise(mel, (60.0, 60.0), torch.Generator().manual_seed(0))
    loud = add_noise(mel, (0.0, 0.0), torch.Generator().manual_seed(0))
    assert (quiet - mel).abs().mean() < 0.5 < (loud - mel).abs().mean()
    assert torch.all(quiet >= mel - 1e-3)


def test_codec_drops_quiet_cells() -> None:
    mel = torch.full((2, 40, 5), -20.0)
    mel[:, 5] = 0.0
    mel[:, 6] = -90.0
    out = codec(mel, torch.Generator().manual_seed(0))
    assert torch.all(out[:, 6] == -100.0)
    assert out[:, 5].max() == pytest.approx(0.0)


def test_time_stretch_resamples_time_and_lags() -> None:
    ramp = torch.arange(60, dtype=torch.float32)[None, None, :].repeat(2, 3, 1)
    lags = torch.arange(16, dtype=torch.float32)[None, :].repeat(2, 1)
    rates = torch.tensor([1.0, 1.2])
    gen = torch.Generator().manual_seed(0)
    from trainer import augment

    out = augment._resample_time(ramp, rates, 40)
    torch.testing.assert_close(out[0, 0], torch.arange(40, dtype=torch.float32))
    torch.testing.assert_close(out[1, 0], 1.2 * torch.arange(40, dtype=torch.float32))
    mel, _, tempo = augment.time_stretch(ramp, ramp.clone(), lags, 40, 0.15, gen)
    assert mel.shape == (2, 3, 40) and tempo.shape == (2, 16)
    slope = (mel[:, 0, -1] - mel[:, 0, 0]) / 39
    assert torch.all((slope > 0.849) & (slope < 1.151))
    # lag k of the stretched tempo vector is lag rate * k of the original
    torch.testing.assert_close((tempo[:, 5] - tempo[:, 0]) / 5, slope, rtol=0, atol=0.01)


def test_augment_crops_to_length() -> None:
    mel, chroma, tempo = _batch()
    cfg = AugmentConfig(stretch=0.1)
    out = augment_batch(mel, chroma, tempo, cfg, torch.Generator().manual_seed(0), length=40)
    assert out[0].shape == (6, 40, 40) and out[1].shape == (6, 12, 40)
    off = dataclasses.replace(cfg, enabled=False)
    assert augment_batch(mel, chroma, tempo, off, length=40)[0].shape == (6, 40, 40)
