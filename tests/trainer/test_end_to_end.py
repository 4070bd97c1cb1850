"""The whole pipeline through the command line, on synthesised audio.

Each stage's output is a module fixture (``trained``: precompute + refine; ``exported``:
+ export), so every test runs alone or in any order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine.features import analyze_file
from engine.model import Embedder
from tests.trainer.conftest import tiny_base
from trainer.backend import detect_backend
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.cli import main
from trainer.song_index import read_song_index

pytestmark = pytest.mark.slow  # trains and exports a model (about 10 s on 2 cores)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    work = tmp_path_factory.mktemp("work")
    (work / "base.yaml").write_text(yaml.safe_dump(tiny_base(corpus_dir)))
    return work


def _run(work: Path, *args: str) -> int:
    return main([*args, "--config", str(work / "base.yaml"), "--cache_dir", str(work / "cache")])


@pytest.fixture(scope="module")
def trained(workdir: Path) -> Path:
    """The work folder after ``precompute`` and ``refine`` (``runs/best``)."""
    assert _run(workdir, "precompute", "--workers", "1") == 0
    assert _run(workdir, "refine", "--device", "cpu", "--runs_dir", str(workdir / "runs")) == 0
    assert (workdir / "runs/best/ckpt.pt").is_file()
    return workdir


@pytest.fixture(scope="module")
def exported(trained: Path) -> Path:
    """The work folder after ``export`` of ``runs/best`` to ``export/``."""
    assert _run(trained, "export", "--load", str(trained / "runs/best"), "--outdir",
                str(trained / "export")) == 0
    return trained


def test_pipeline(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = exported
    assert _run(w, "evaluate", "--load", str(w / "runs/best")) == 0
    metrics = json.loads((w / "runs/best/eval.json").read_text())
    assert {"recall@1", "recall@5", "recall@10", "recall@20", "mrr", "map"} <= set(metrics)
    card = json.loads((w / "export/card.json").read_text())
    assert card["metrics"]["onnx_parity"]["ok"]
    assert card["metrics"]["validation_onnx"]["queries"] > 0
    assert _run(w, "onnx-eval", "--onnx", str(w / "export"), "--load", str(w / "runs/best"),
                "--timeit", "--runs", "3", "--batch", "2") == 0
    report = json.loads((w / "export/onnx_eval.json").read_text())
    assert report["parity"]["ok"]
    assert report["parity"]["embedding"]["max_abs"] < 1e-4
    assert report["timing"]["batch2"]["onnx_ms"] > 0
    # the ONNX export scores like the checkpoint on the same songs
    assert _run(w, "evaluate", "--load", str(w / "export"), "--out", str(w / "onnx.json")) == 0
    onnx_metrics = json.loads((w / "onnx.json").read_text())
    assert onnx_metrics["backend"] == "onnx"
    assert onnx_metrics["mrr"] == pytest.approx(metrics["mrr"], abs=1e-3)
    assert _run(w, "index", "--load", str(w / "export"), "--out_dir", str(w / "catalog")) == 0
    catalog = read_song_index(w / "catalog")
    assert len(catalog.songs) == catalog.tracks.count == 10
    assert json.loads((w / "catalog/songs.json").read_text())["model_sha256"] == card["sha256"]
    assert "parity: OK" in capsys.readouterr().out


def test_int8_export(trained: Path, corpus_dir: Path) -> None:
    out = trained / "export_int8"
    assert _run(trained, "export", "--load", str(trained / "runs/best"), "--outdir", str(out),
                "--formats", "onnx,int8") == 0
    card = json.loads((out / "card.json").read_text())
    verdict = card["metrics"]["int8"]
    assert verdict["int8"]["ms_per_segment"] > 0 and "recall@5_change" in verdict
    assert (out / "model.int8.onnx").is_file() == verdict["ship_int8"]
    assert card["precision"] == ("int8" if verdict["ship_int8"] else "fp32")
    embedder = Embedder(out)
    _, segments = analyze_file(corpus_dir / "song01.wav", config=embedder.config,
                               max_segments=2)
    emb = embedder.embed(segments)
    np.testing.assert_allclose(np.linalg.norm(emb.fused, axis=1), 1.0, rtol=1e-5)


def test_engine_runs_the_exported_model(exported: Path, corpus_dir: Path) -> None:
    embedder = Embedder(exported / "export")
    model, _ = model_from_checkpoint(load_checkpoint(exported / "runs/best"))
    _, segments = analyze_file(corpus_dir / "song03.wav", config=embedder.config,
                               max_segments=3)
    got = embedder.embed(segments)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(a) for a in (segments.mel, segments.chroma,
                                                     segments.tempo)))
    np.testing.assert_allclose(got.fused, ref[0].numpy(), atol=1e-4)
    for i, name in enumerate(("timbre", "harmony", "rhythm"), start=1):
        np.testing.assert_allclose(got.branches[name], ref[i].numpy(), atol=1e-4)


def test_backend_detection(exported: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert detect_backend(exported / "runs/best") == "torch"
    assert detect_backend(exported / "runs/best/ckpt.pt") == "torch"
    assert detect_backend(exported / "export") == "onnx"
    assert detect_backend(exported / "export/model.onnx") == "onnx"
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 16)
    assert _run(exported, "evaluate", "--load", str(tmp_path / "weights.bin")) == 1
    assert "Unable to auto-detect backend from --load" in capsys.readouterr().err


def test_seed_spellings_and_corpus_delegation(trained: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = trained
    assert _run(workdir, "train", "--mode", "refine", "--device", "cpu", "--epochs", "1",
                "--runs_dir", str(workdir / "runs2")) == 0
    assert (workdir / "runs2/best/ckpt.pt").is_file()
    assert _run(workdir, "index_build", "--load", str(workdir / "runs2/best"),
                "--out_dir", str(workdir / "catalog2")) == 0
    import trainer.corpus.cli as corpus_cli

    seen: list[list[str]] = []
    monkeypatch.setattr(corpus_cli, "main", lambda argv: seen.append(list(argv)) or 0)
    assert main(["corpus", "stats", "--out", "x"]) == 0
    assert seen == [["stats", "--out", "x"]]
