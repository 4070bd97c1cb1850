"""The PyTorch port of the MusiCNN teacher: weight mapping, exact pooling order, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.audio_factory import chord, song
from tests.teacher_factory import random_network, tensorflow_layout
from trainer.errors import TrainerError
from trainer.teacher import musicnn_net as mn


def test_exported_weights_load_into_an_identical_network(tmp_path):
    net = random_network()
    weights = tensorflow_layout(net)
    assert len(weights) == 64  # as many variables as the packaged checkpoints hold
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert weights["dense/kernel"].shape == (1506, 200)
    path = tmp_path / "MSD_musicnn.npz"
    np.savez(path, **weights)
    loaded = mn.load_musicnn(path)
    mel = torch.randn(3, mn.PATCH_FRAMES, mn.N_MELS)
    with torch.no_grad():
        for a, b in zip(net(mel), loaded(mel), strict=True):
            torch.testing.assert_close(a, b)
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{k: v for k, v in weights.items() if not k.startswith("conv2d_3/")})
    with pytest.raises(TrainerError, match="not a musicnn checkpoint"):
        mn.load_musicnn(broken)
    with pytest.raises(TrainerError, match="no musicnn weights"):
        mn.load_musicnn(tmp_path / "absent.npz")


def test_pooling_first_equals_the_original_order():
    block = random_network(1).timbral[0]
    assert (block.bn.weight < 0).any() and (block.bn.weight > 0).any()
    x = torch.randn(2, 1, 40, mn.N_MELS)
    with torch.no_grad():
        torch.testing.assert_close(block.pooled(x), block(x).amax(dim=3))


def test_log_mel_stays_finite_on_full_scale_audio():
    loud = chord([48, 55, 64], 2.0, sr=mn.SR, amp=1.0)
    loud = loud / np.abs(loud).max()
    mel = mn.log_mel(loud)
    assert mel.dtype == np.float32 and mel.shape == (len(loud) // mn.HOP + 1, mn.N_MELS)
    assert np.isfinite(mel).all()
    assert not np.allclose(mel, mn.log_mel(0.1 * loud))


def test_patches_are_spread_and_short_audio_is_tiled():
    starts = mn.patch_starts(1000)
    np.testing.assert_array_equal(starts, [0, 187, 374, 561, 748])
    np.testing.assert_array_equal(mn.patch_starts(1000, max_patches=3), [0, 374, 748])
    np.testing.assert_array_equal(mn.patch_starts(50), [0])
    short = np.arange(50 * mn.N_MELS, dtype=np.float32).reshape(50, mn.N_MELS)
    (patch,) = mn.patches(short, mn.patch_starts(50))
    assert patch.shape == (mn.PATCH_FRAMES, mn.N_MELS)
    np.testing.assert_array_equal(patch[50:100], short)


def test_embedding_audio_gives_a_row_per_patch():
    out = mn.embed_audio(random_network(), song(3, 7.0, sr=22050), 22050)
    assert out.embedding.shape == (2, 200) and out.tags.shape == (2, 50)
    assert ((out.tags > 0) & (out.tags < 1)).all()
