"""Data-parallel training: two CPU processes under torchrun train as one process does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.trainer.conftest import tiny_base
from trainer.cache import layout_of, open_store
from trainer.config import TrainConfig
from trainer.distributed import Ranks, shard, sync_batch_norm
from trainer.errors import TrainerError
from trainer.model import build_model
from trainer.train import fit

REPO = Path(__file__).resolve().parents[2]
#: Comparable runs: no random augmentation or dropout (each rank draws its own), and
#: short views off; the batches, the loss and the optimisation are what is compared.
SAME_DRAWS = {"augment": {"enabled": False}, "short_prob": 0.0}


def test_shards_are_whole_identities_covering_the_batch() -> None:
    views = 3
    for world in (1, 2, 3, 4):
        parts = [shard(7, views, Ranks(r, world, r)) for r in range(world)]
        rows = [i for p in parts for i in range(p.start, p.stop)]
        assert rows == list(range(21))
        assert all((p.stop - p.start) % views == 0 for p in parts)
        sizes = [(p.stop - p.start) // views for p in parts]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(TrainerError, match="batch_identities"):
        shard(2, views, Ranks(0, 3, 0))


def test_synced_batch_norm_keeps_the_checkpoint_format() -> None:
    from trainer.model import ModelConfig

    model = build_model(ModelConfig(embed_dim=8, timbre_channels=(4, 4),
                                    harmony_channels=(4,), rhythm_hidden=8),
                        n_mels=16, chroma_bins=12, tempo_win=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    sync_batch_norm(model)
    assert [p is q for p, q in zip(params, model.parameters(), strict=True)] == [True] * len(
        params)
    assert list(model.state_dict()) == list(before)
    mel, chroma, tempo = torch.randn(4, 16, 12), torch.rand(4, 12, 12), torch.rand(4, 8)
    model.train()
    out = model.forward_pooled(mel, chroma, tempo)  # no process group: plain batch norm
    assert out[0].shape == (4, 8)


def test_only_refine_runs_under_torchrun(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    runs = ["--runs_dir", str(tmp_path)]
    for argv in (["precompute"], ["search", *runs], ["refine", "--topn", "2", *runs]):
        assert main([*argv, "--cache_dir", str(tmp_path)]) == 1
        assert "without torchrun" in capsys.readouterr().err


def _config_file(path: Path, root: Path, **train: object) -> Path:
    base = tiny_base(root)
    base["model"]["dropout"] = 0.0
    base["train"].update({**SAME_DRAWS, **train})
    path.write_text(json.dumps(base), encoding="utf-8")  # JSON is YAML
    return path


def _torchrun(config: Path, cache_dir: Path, runs: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "trainer.cli", "refine", "--config", str(config),
           "--cache_dir", str(cache_dir), "--runs_dir", str(runs), "--device", "cpu"]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = torch.load(folder / "last.pt",
                                                weights_only=True)["model_state"]
    return state


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert list(a) == list(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a
               if a[k].is_floating_point())


@pytest.mark.slow
def test_two_processes_train_as_one(corpus_dir: Path, cache_dir: Path,
                                    tmp_path: Path) -> None:
    full = _config_file(tmp_path / "full.yaml", corpus_dir)
    first = _config_file(tmp_path / "first_epoch.yaml", corpus_dir, max_minutes=0.0)
    cfg = TrainConfig.from_base(json.loads(full.read_text(encoding="utf-8")))
    store = open_store(cache_dir, layout_of(cfg), preload_ram=True)
    torch.manual_seed(0)
    initial = build_model(cfg.model, n_mels=cfg.features.mel.n_mels,
                          chroma_bins=cfg.features.chroma.bins,
                          tempo_win=cfg.features.tempo.win).state_dict()
    single = fit(cfg, store, tmp_path / "single", device="cpu", log=lambda _: None)
    reference = _weights(tmp_path / "single")
    moved = _max_diff(reference, initial)

    # two processes: the first epoch (the time budget stops it), then resumed
    _torchrun(first, cache_dir, tmp_path / "ddp")
    assert torch.load(tmp_path / "ddp" / "best" / "last.pt", weights_only=True)["epoch"] == 0
    shutil.copytree(tmp_path / "ddp" / "best", tmp_path / "mixed")
    log = _torchrun(full, cache_dir, tmp_path / "ddp")
    assert log.count("[train] device=cpu processes=2 ") == 1  # rank 0 alone logs
    assert log.count("[train] resumed from") == log.count("[train] best") == 1
    ddp = torch.load(tmp_path / "ddp" / "best" / "last.pt", weights_only=True)
    # one process resuming what two processes began
    mixed = fit(cfg, store, tmp_path / "mixed", device="cpu", log=lambda _: None)

    tolerance = 1e-4
    assert moved > 100 * tolerance  # training moved the weights far beyond the tolerance
    assert _max_diff(ddp["model_state"], reference) < tolerance
    assert _max_diff(_weights(tmp_path / "mixed"), reference) < tolerance
    for run in (ddp["history"], mixed.history):
        assert [h["epoch"] for h in run] == [0, 1]
        np.testing.assert_allclose([h["loss"] for h in run],
                                   [h["loss"] for h in single.history], rtol=1e-4)
        assert [h["recall@5"] for h in run] == pytest.approx(
            [h["recall@5"] for h in single.history], abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "ddp" / "best").iterdir()) == [
        "ckpt.pt", "last.pt"]  # rank 0 alone wrote, nothing half-written is left
