"""The ``export --formats onnx,int8`` stage: quantise, measure, decide, update the card."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.filecheck import file_digest
from engine.model import OUTPUT_NAMES, load_card, write_card
from trainer.backend import unpool
from trainer.cache import FeatureStore, original_entries
from trainer.config import TrainConfig
from trainer.evaluate import evaluate_store
from trainer.export import MODEL_FILE, _session, time_onnx
from trainer.model import EmbeddingNet
from trainer.quantize import calibration_batches, int8_verdict, quantize_static_int8
from trainer.sampler import eval_starts, gather

INT8_FILE = "model.int8.onnx"


def onnx_embed_fn(path: Path, stem: tuple[int, int], threads: int = 1) -> Any:
    """An evaluator embed function running an ONNX file on pooled segments."""
    session = _session(path, threads)

    def embed(mel: np.ndarray, chroma: np.ndarray, tempo: np.ndarray) -> np.ndarray:
        full_mel, full_chroma = unpool(mel, chroma, stem_freq=stem[0], stem_time=stem[1])
        feed = {"mel": full_mel, "chroma": full_chroma, "tempo": tempo}
        return np.asarray(session.run([OUTPUT_NAMES[0]], feed)[0])

    return embed


def calibration_inputs(store: FeatureStore, cfg: TrainConfig, n: int = 64
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``n`` full-resolution segments spread over the training songs."""
    from trainer.train import split_store

    train = split_store(store, cfg)[0] or original_entries(store)
    length = store.layout.segment_length
    jobs = [(e.song, int(s)) for e in train for s in eval_starts(e.n_frames, length, 2)]
    picks = np.linspace(0, len(jobs) - 1, min(n, len(jobs))).astype(int)
    songs, starts = zip(*(jobs[i] for i in picks), strict=True)
    mel, chroma, tempo = gather(store, list(songs), np.asarray(starts), length)
    full_mel, full_chroma = unpool(mel, chroma, stem_freq=cfg.model.stem_freq,
                                   stem_time=cfg.model.stem_time)
    return full_mel, full_chroma, tempo


def int8_stage(model: EmbeddingNet, cfg: TrainConfig, outdir: str | Path,
               store: FeatureStore) -> dict[str, Any]:
    """Quantise ``outdir/model.onnx``, compare speed and recall, ship INT8 only if it wins."""
    from trainer.train import split_store

    out = Path(outdir)
    fp32_path = out / MODEL_FILE
    int8_path = quantize_static_int8(fp32_path, out / INT8_FILE,
                                     calibration_batches(*calibration_inputs(store, cfg)))
    val = split_store(store, cfg)[1] or original_entries(store)
    stem = (cfg.model.stem_freq, cfg.model.stem_time)
    measured = {}
    for name, path in (("fp32", fp32_path), ("int8", int8_path)):
        metrics = evaluate_store(store, val, onnx_embed_fn(path, stem))
        measured[name] = {"ms_per_segment": time_onnx(path, cfg, batch=16, runs=10),
                          **{k: v for k, v in metrics.items() if "queries" not in k}}
    verdict = int8_verdict(measured["fp32"], measured["int8"])
    card = load_card(out)
    if verdict["ship_int8"]:
        card = dataclasses.replace(card, model_file=INT8_FILE, sha256=file_digest(int8_path),
                                   precision="int8")
    else:
        int8_path.unlink()
    write_card(dataclasses.replace(card, metrics={**card.metrics, "int8": verdict}), out)
    (out / "int8.json").write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    return verdict
