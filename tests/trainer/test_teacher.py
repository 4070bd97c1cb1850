"""The PyTorch port of the MusiCNN teacher: weight mapping, exact pooling order, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import ParameterError
from tests.audio_factory import chord, song, write_audio
from tests.teacher_factory import random_network, tensorflow_layout
from trainer.cache import VARIANT_MARK, layout_of, open_store
from trainer.data import Track, discover_tracks
from trainer.errors import TrainerError
from trainer.losses import relational_distillation
from trainer.teacher import musicnn_net as mn
from trainer.teacher.targets import TeacherTargets, compute_targets
from trainer.train import Trainer


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


def test_relational_distillation_compares_similarity_structure():
    torch.manual_seed(0)
    teacher = torch.randn(6, 10)
    rotation, _ = torch.linalg.qr(torch.randn(10, 10))
    everyone = torch.ones(6, dtype=torch.bool)
    same_geometry = teacher @ rotation  # other coordinates, same cosine similarities
    assert float(relational_distillation(same_geometry, teacher, everyone)) < 1e-10
    student = torch.randn(6, 10, requires_grad=True)
    loss = relational_distillation(student, teacher, everyone)
    loss.backward()
    assert float(loss.detach()) > 0.01 and student.grad is not None and student.grad.abs().sum() > 0
    # rows without a target do not count
    mask = torch.tensor([True, True, True, False, False, True])
    subset = relational_distillation(student[mask], teacher[mask], torch.ones(4, dtype=bool))
    torch.testing.assert_close(relational_distillation(student, teacher, mask), subset)
    nobody = torch.zeros(6, dtype=torch.bool)
    assert float(relational_distillation(student, teacher, nobody).detach()) == 0


def _targets_file(tmp_path, tracks, seed: int = 0, max_patches: int | None = None):
    arrays = compute_targets(tracks, random_network(seed), model="test",
                             max_patches=max_patches, log=lambda _: None)
    path = tmp_path / "targets.npz"
    np.savez(path, **arrays)
    return path, arrays


def test_targets_are_looked_up_by_song_and_nearest_patch(tmp_path):
    tracks = []
    for i, seconds in enumerate((10.0, 4.0)):
        path = tmp_path / f"s{i}.wav"
        write_audio(path, song(i, seconds, sr=22050), sr=22050)
        tracks.append(Track(song=f"s{i}", path=str(path), group=f"s{i}"))
    path, arrays = _targets_file(tmp_path, tracks)
    np.testing.assert_array_equal(arrays["offsets"], [0, 3, 4])
    np.testing.assert_allclose(arrays["starts"], [0.0, 2.992, 5.984, 0.0], atol=1e-3)
    targets = TeacherTargets.load(path)
    centred = arrays["embedding"].astype(np.float32)
    centred -= centred.mean(axis=0)
    out, found = targets.lookup(["s0", f"s0{VARIANT_MARK}1", "s1", "unknown"],
                                np.array([7.0, 1.0, 9.0, 1.0]))
    np.testing.assert_array_equal(found, [True, True, True, False])
    np.testing.assert_allclose(out[:3], centred[[2, 0, 3]], rtol=1e-6)
    assert targets.dim == 200 and TeacherTargets.load(path, "tags").dim == 50
    with pytest.raises(TrainerError, match="cannot read teacher targets"):
        TeacherTargets.load(tmp_path / "absent.npz")


def test_training_with_a_teacher(tiny_config, cache_dir, tmp_path):
    tracks = discover_tracks(tiny_config.root)
    path, _ = _targets_file(tmp_path, tracks, max_patches=2)
    with pytest.raises(ParameterError, match="distill_targets"):
        tiny_config.with_overrides(distill_weight=1.0)
    cfg = tiny_config.with_overrides(epochs=1, distill_weight=2.0, distill_targets=str(path))
    store = open_store(cache_dir, layout_of(cfg), preload_ram=True)
    trainer = Trainer(cfg, store, tmp_path / "run", device="cpu", log=lambda _: None)
    batch = next(trainer.sampler.batches(1))
    fused = torch.nn.functional.normalize(torch.randn(len(batch.songs), 32), dim=1)
    assert float(trainer._distill(fused, batch)) > 0
    plain = Trainer(tiny_config, store, tmp_path / "plain", device="cpu", log=lambda _: None)
    assert float(plain._distill(fused, batch)) == 0
    result = trainer.fit()
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])
