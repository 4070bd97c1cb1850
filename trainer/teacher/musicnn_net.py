"""MusiCNN (Pons and Serra, 2019) in PyTorch: the musically motivated tagger of the
``musicnn`` package, for its 200-d penultimate embedding and its 50 tag probabilities.

Input: 3 s patches (187 frames) of a 96-band log-mel spectrogram of 16 kHz audio
(512-point FFT, hop 256), compressed as ``log10(1 + 10000 * power)``, computed in
float32 (the package's own extractor rounds the power to float16 first, which overflows
on loud audio). Network: batch-normalised input; a front end of two timbral convolutions
(7 frames x 38 / 67 mel bands, 204 filters each) and three temporal ones (128 / 64 / 32
frames x 1 band, 51 filters each), each ReLU -> batch norm -> max over frequency; a mid
end of three 7-frame convolutions (64 filters, the last two residual); a back end of
max and mean pooling over time of all of them, batch norm, a 200-unit dense layer (ReLU,
batch norm: the *penultimate* embedding) and the 50 tag logits.

The weights come from :mod:`trainer.teacher.tf_export` (one ``.npz``, TensorFlow's
variable names); :func:`load_musicnn` maps them onto this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainer.errors import TrainerError

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s, the training input length
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default

#: MSD_musicnn's tags (Million Song Dataset), in output order
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy")


class _ConvBN(nn.Module):
    """Convolution, ReLU, then batch norm (the order of the original graph)."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(F.relu(self.conv(x)))
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` then the maximum over frequency (dim 3), computed in the cheaper,
        exactly equal order: ReLU and the per-channel affine batch norm are monotonic,
        so pool first (the minimum where the norm's scale is negative)."""
        h = self.conv(x)
        scale = self.bn.weight.view(1, -1, 1)
        extreme = torch.where(scale >= 0, h.amax(dim=3), h.amin(dim=3))
        return F.batch_norm(F.relu(extreme), self.bn.running_mean, self.bn.running_var,
                            self.bn.weight, self.bn.bias, training=False, eps=self.bn.eps)


def _same_time_pad(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """TensorFlow's ``same`` padding along time (dim 2) for a kernel of ``kernel`` frames."""
    total = kernel - 1
    return F.pad(x, (0, 0, total // 2, total - total // 2))


def _blocks(modules: nn.ModuleList) -> list[_ConvBN]:
    """The blocks of a module list, typed."""
    return [m for m in modules if isinstance(m, _ConvBN)]


class MusiCNN(nn.Module):
    """The ``musicnn`` architecture (64 mid-end filters, 200 back-end units)."""

    def __init__(self, n_tags: int = 50, n_mels: int = N_MELS) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(
            [_ConvBN(1, 204, (7, int(f * n_mels))) for f in (0.4, 0.7)])
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList([_ConvBN(1, 51, (k, 1)) for k in self.temporal_kernels])
        front = 2 * 204 + 3 * 51
        self.mid = nn.ModuleList([_ConvBN(1, 64, (7, front)), _ConvBN(1, 64, (7, 64)),
                                  _ConvBN(1, 64, (7, 64))])
        pooled = 2 * (front + 3 * 64)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, 200)
        self.dense_bn = nn.BatchNorm1d(200, eps=BN_EPS)
        self.out = nn.Linear(200, n_tags)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mel`` ``(batch, frames, n_mels)`` -> (tag logits ``(batch, n_tags)``,
        penultimate embedding ``(batch, 200)``)."""
        x = self.input_bn(mel.unsqueeze(1))                      # (B, 1, T, F)
        feats = []
        padded = F.pad(x, (0, 0, 3, 3))
        for block in _blocks(self.timbral):
            feats.append(block.pooled(padded))                   # (B, C, T)
        for kernel, block in zip(self.temporal_kernels, _blocks(self.temporal), strict=True):
            feats.append(block.pooled(_same_time_pad(x, kernel)))
        front = torch.cat(feats, dim=1)                          # (B, 561, T)
        layers = [front]
        h = front.transpose(1, 2).unsqueeze(1)                   # (B, 1, T, 561)
        for i, block in enumerate(_blocks(self.mid)):
            y = block(F.pad(h, (0, 0, 3, 3))).squeeze(3)         # (B, 64, T)
            if i > 0:
                y = y + layers[-1]
            layers.append(y)
            h = y.transpose(1, 2).unsqueeze(1)
        stack = torch.cat(layers, dim=1)                         # (B, 753, T)
        # the original concatenates [max, mean] on a last axis and flattens: interleaved
        pooled = torch.stack([stack.amax(dim=2), stack.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.out(penultimate), penultimate


def _tf_names(model: MusiCNN) -> list[tuple[str, nn.Module]]:
    """Each layer with the variable scope TensorFlow gave it, in creation order."""
    bns: list[nn.Module] = [model.input_bn]
    convs: list[nn.Module] = []
    for block in [*model.timbral, *model.temporal, *model.mid]:
        convs.append(block.conv)
        bns.append(block.bn)
    bns += [model.pool_bn, model.dense_bn]
    named = [("batch_normalization" + (f"_{i}" if i else ""), m)
             for i, m in enumerate(bns)]
    named += [("conv2d" + (f"_{i}" if i else ""), m) for i, m in enumerate(convs)]
    named += [("dense", model.dense), ("dense_1", model.out)]
    return named


def _tensors(scope: str, layer: nn.Module, weights: dict[str, np.ndarray]
             ) -> dict[str, np.ndarray]:
    """PyTorch parameter names of ``layer`` -> its TensorFlow variables, transposed."""
    if isinstance(layer, nn.Conv2d):  # TF (kh, kw, in, out) -> (out, in, kh, kw)
        return {"weight": weights[f"{scope}/kernel"].transpose(3, 2, 0, 1),
                "bias": weights[f"{scope}/bias"]}
    if isinstance(layer, nn.Linear):
        return {"weight": weights[f"{scope}/kernel"].T, "bias": weights[f"{scope}/bias"]}
    return {"weight": weights[f"{scope}/gamma"], "bias": weights[f"{scope}/beta"],
            "running_mean": weights[f"{scope}/moving_mean"],
            "running_var": weights[f"{scope}/moving_variance"]}


def load_state(model: MusiCNN, weights: dict[str, np.ndarray]) -> MusiCNN:
    """Copy TensorFlow variables (``scope/kernel``, ``scope/gamma``...) into ``model``."""
    names = {id(m): name for name, m in model.named_modules()}
    state = dict(model.state_dict())
    try:
        for scope, layer in _tf_names(model):
            for key, value in _tensors(scope, layer, weights).items():
                state[f"{names[id(layer)]}.{key}"] = torch.from_numpy(
                    np.ascontiguousarray(value, dtype=np.float32))
        model.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError) as exc:
        raise TrainerError(f"not a musicnn checkpoint export: {exc}") from exc
    return model.eval()


def load_musicnn(path: Path) -> MusiCNN:
    """The network with the weights of a :mod:`trainer.teacher.tf_export` ``.npz``."""
    if not Path(path).is_file():
        raise TrainerError(f"{path}: no musicnn weights (export them with "
                           "trainer/teacher/tf_export.py, see docs/teacher.md)")
    with np.load(path) as npz:
        weights = {k: npz[k].astype(np.float32) for k in npz.files}
    n_tags = weights["dense_1/bias"].shape[0]
    return load_state(MusiCNN(n_tags=n_tags), weights)


def log_mel(y: np.ndarray) -> np.ndarray:
    """``(frames, 96)`` float32 log-compressed mel power of mono 16 kHz audio ``y``."""
    import librosa

    power = librosa.feature.melspectrogram(y=np.asarray(y, np.float32), sr=SR, n_fft=N_FFT,
                                           hop_length=HOP, n_mels=N_MELS)
    out: np.ndarray = np.log10(1.0 + 10000.0 * power.astype(np.float32)).T
    return out.astype(np.float32)


def patch_starts(n_frames: int, *, hop: int = PATCH_FRAMES,
                 max_patches: int | None = None) -> np.ndarray:
    """First frames of the patches of a ``n_frames`` spectrogram: every ``hop`` frames,
    or ``max_patches`` of those evenly spread (at least one: 0)."""
    starts = np.arange(0, max(n_frames - PATCH_FRAMES, 0) + 1, hop)
    if max_patches is not None and len(starts) > max_patches:
        starts = starts[np.linspace(0, len(starts) - 1, max_patches).round().astype(int)]
    return starts


def patches(mel: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``(len(starts), 187, n_mels)`` patches of ``mel`` ``(frames, n_mels)``; a
    spectrogram shorter than one patch is tiled to fill it."""
    if len(mel) < PATCH_FRAMES:
        mel = np.tile(mel, (-(-PATCH_FRAMES // max(len(mel), 1)), 1))
    return np.stack([mel[s: s + PATCH_FRAMES] for s in starts])


@dataclass
class TeacherOutput:
    """Per 3 s patch: the penultimate embedding and the tag probabilities."""

    embedding: np.ndarray  # (n, 200) float32
    tags: np.ndarray       # (n, n_tags) float32


@torch.no_grad()
def run_patches(model: MusiCNN, batch: np.ndarray, *, batch_size: int = 64) -> TeacherOutput:
    """The network on ``(n, 187, n_mels)`` patches."""
    emb, tags = [], []
    for s in range(0, len(batch), batch_size):
        logits, pen = model(torch.from_numpy(np.ascontiguousarray(batch[s: s + batch_size])))
        emb.append(pen.numpy())
        tags.append(torch.sigmoid(logits).numpy())
    return TeacherOutput(np.concatenate(emb), np.concatenate(tags))


def embed_audio(model: MusiCNN, y: np.ndarray, sr: int, *, hop: int = PATCH_FRAMES,
                max_patches: int | None = None) -> TeacherOutput:
    """Teacher outputs of mono audio ``y`` at rate ``sr`` (resampled to 16 kHz) for the
    patches of :func:`patch_starts`."""
    if sr != SR:
        import soxr

        y = soxr.resample(np.asarray(y, np.float32), sr, SR)
    mel = log_mel(y)
    return run_patches(model, patches(mel, patch_starts(len(mel), hop=hop,
                                                        max_patches=max_patches)))
