"""Training-time augmentation, applied to pooled features on the training device.

Working on cached features (not audio) keeps augmentation nearly free and lets every
epoch see new variants. Each view of a batch gets its own random draw; views are
always different segments (see :mod:`trainer.sampler`), so augmentation never turns
one segment into its own positive. What each transform stands for:

* **gain**: a constant offset in dB (mostly cancelled by the model's per-segment
  standardisation, but it moves content against the -100 dB floor);
* **EQ**: a smooth random curve over the mel bands (+-``eq_db``);
* **band-limiting**: a steep roll-off above a random cut-off band;
* **additive noise**: noise power added in the power domain at a random SNR;
* **lossy re-encoding**: perceptual-codec-like removal of quiet time-frequency cells
  (below the frame's peak minus 30-60 dB) plus a 14-18 kHz low-pass;
* **time shifts**: views are drawn at arbitrary offsets (80 ms resolution), so
  segment boundaries never line up between anchor and positive;
* **tempo changes** (``stretch``): a window of ``rate x length`` frames is resampled to
  ``length`` (rate in ``1 +- stretch``) and the tempo vector's lag axis scaled to match,
  as versions of a piece played faster or slower.

Chroma gets small additive noise; the tempo vector small Gaussian jitter.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.dsp import AMIN, LOG_FLOOR_DB
from trainer.config import AugmentConfig


def _uniform(shape: tuple[int, ...], low: float, high: float, *, like: torch.Tensor,
             gen: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


def _chosen(n: int, prob: float, *, like: torch.Tensor,
            gen: torch.Generator | None) -> torch.Tensor:
    return (torch.rand(n, generator=gen, device=like.device) < prob).to(like.dtype)


def eq_curve(mel: torch.Tensor, db: float, gen: torch.Generator | None) -> torch.Tensor:
    """Smooth random gain curves ``(B, F, 1)`` of at most ``db`` dB."""
    b, f, _ = mel.shape
    pos = torch.linspace(0.0, math.pi, f, device=mel.device, dtype=mel.dtype)
    curve = torch.zeros(b, f, device=mel.device, dtype=mel.dtype)
    for k in (1, 2, 3):
        amp = _uniform((b, 1), -db / 3, db / 3, like=mel, gen=gen)
        phase = _uniform((b, 1), 0.0, 2 * math.pi, like=mel, gen=gen)
        curve = curve + amp * torch.cos(k * pos[None, :] + phase)
    return curve[:, :, None]


def band_limit(mel: torch.Tensor, low: float, high: float,
               gen: torch.Generator | None) -> torch.Tensor:
    """Attenuation ``(B, F, 1)`` in dB rolling off 60 dB above a random cut-off band."""
    b, f, _ = mel.shape
    cut = _uniform((b, 1), low * f, high * f, like=mel, gen=gen)
    bands = torch.arange(f, device=mel.device, dtype=mel.dtype)[None, :]
    return (-(bands - cut).clamp_min(0.0) * 12.0).clamp_min(-60.0)[:, :, None]


def add_noise(mel: torch.Tensor, snr_db: tuple[float, float],
              gen: torch.Generator | None) -> torch.Tensor:
    """``mel`` with random coloured noise added at an SNR in ``snr_db``."""
    b, f, t = mel.shape
    power = torch.pow(10.0, mel / 10.0)
    snr = _uniform((b, 1, 1), *snr_db, like=mel, gen=gen)
    noise_level = power.mean(dim=(1, 2), keepdim=True) / torch.pow(10.0, snr / 10.0)
    tilt = _uniform((b, 1, 1), -1.0, 0.0, like=mel, gen=gen)
    shape = torch.pow(torch.linspace(1.0, 10.0, f, device=mel.device,
                                     dtype=mel.dtype)[None, :, None], tilt)
    shape = shape / shape.mean(dim=1, keepdim=True)
    fluct = -torch.log(torch.rand((b, f, t), generator=gen, device=mel.device,
                                  dtype=mel.dtype).clamp_min(1e-6))
    return 10.0 * torch.log10(power + noise_level * shape * fluct + AMIN)


def codec(mel: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Drop cells far below their frame's peak, and low-pass (lossy-codec-like)."""
    thr = _uniform((mel.shape[0], 1, 1), 30.0, 60.0, like=mel, gen=gen)
    peak = mel.amax(dim=1, keepdim=True)
    out = torch.where(mel < peak - thr, torch.full_like(mel, LOG_FLOOR_DB), mel)
    return out + band_limit(mel, 0.80, 0.92, gen)


def _resample_time(x: torch.Tensor, rates: torch.Tensor, length: int) -> torch.Tensor:
    """Frames ``[0, rate * length)`` of ``x`` ``(B, C, T)`` resampled to ``length`` frames."""
    t = x.shape[-1]
    pos = torch.arange(length, device=x.device, dtype=x.dtype)[None, :] * rates[:, None]
    grid_x = 2.0 * pos / max(t - 1, 1) - 1.0
    grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)[:, None]  # (B, 1, L, 2)
    out = F.grid_sample(x[:, :, None, :], grid, mode="bilinear", align_corners=True,
                        padding_mode="border")
    return out[:, :, 0, :]


def time_stretch(mel: torch.Tensor, chroma: torch.Tensor, tempo: torch.Tensor, length: int,
                 stretch: float, gen: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random tempo change of up to ``+-stretch`` on windows of at least
    ``(1 + stretch) * length`` frames; returns ``length``-frame segments."""
    rates = _uniform((mel.shape[0],), 1.0 - stretch, 1.0 + stretch, like=mel, gen=gen)
    tempo = _resample_time(tempo[:, None, :], rates, tempo.shape[1])[:, 0]
    return (_resample_time(mel, rates, length), _resample_time(chroma, rates, length), tempo)


def augment_batch(mel: torch.Tensor, chroma: torch.Tensor, tempo: torch.Tensor,
                  cfg: AugmentConfig, gen: torch.Generator | None = None, *,
                  length: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Randomly perturb a batch of pooled features (see the module docstring).

    Parameters
    ----------
    mel : torch.Tensor [shape=(B, F, T)], dB
    chroma : torch.Tensor [shape=(B, C, T)], in [0, 1]
    tempo : torch.Tensor [shape=(B, win)]
    length : frames to return (default ``T``); ``T`` must be at least
        ``cfg.window_scale * length`` when ``cfg.stretch`` is set
    """
    length = length or mel.shape[2]
    if not cfg.enabled:
        return mel[:, :, :length], chroma[:, :, :length], tempo
    if cfg.stretch > 0:
        mel, chroma, tempo = time_stretch(mel, chroma, tempo, length, cfg.stretch, gen)
    mel, chroma = mel[:, :, :length], chroma[:, :, :length]
    b = mel.shape[0]
    mel = mel + _uniform((b, 1, 1), -cfg.gain_db, cfg.gain_db, like=mel, gen=gen)
    mel = mel + eq_curve(mel, cfg.eq_db, gen)
    pick = _chosen(b, cfg.lowpass_prob, like=mel, gen=gen)[:, None, None]
    mel = mel + pick * band_limit(mel, 0.45, 0.95, gen)
    pick = _chosen(b, cfg.noise_prob, like=mel, gen=gen)[:, None, None]
    mel = pick * add_noise(mel, cfg.noise_snr_db, gen) + (1 - pick) * mel
    pick = _chosen(b, cfg.codec_prob, like=mel, gen=gen)[:, None, None]
    mel = pick * codec(mel, gen) + (1 - pick) * mel
    mel = mel.clamp_min(LOG_FLOOR_DB)
    jitter = torch.rand(chroma.shape, generator=gen, device=chroma.device, dtype=chroma.dtype)
    chroma = (chroma + 0.05 * jitter).clamp(0.0, 1.0)
    noise = torch.randn(tempo.shape, generator=gen, device=tempo.device, dtype=tempo.dtype)
    return mel, chroma, tempo + 0.02 * noise
