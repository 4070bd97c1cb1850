"""PyTorch -> ONNX export, parity validation, timing and the model card.

The exported folder (``model.onnx`` + ``card.json``) is exactly what
:class:`engine.model.Embedder` loads: inputs ``mel``/``chroma``/``tempo`` and outputs
``embedding``/``timbre``/``harmony``/``rhythm``, batch axis dynamic, opset 17.
"""

from __future__ import annotations

import datetime as _dt
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.filecheck import file_digest
from engine.model import BRANCH_NAMES, INPUT_NAMES, OUTPUT_NAMES, ModelCard, write_card
from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.model import EmbeddingNet

OPSET = 17
MODEL_FILE = "model.onnx"
#: Parity thresholds from the seed (SPEC section 5).
MAX_MAE, MAX_ABS, MIN_COSINE = 1e-5, 1e-4, 0.9999


def example_inputs(config: TrainConfig, batch: int, *, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random inputs in realistic ranges (mel in dB, chroma in [0, 1], tempo in [-1, 1])."""
    f = config.features
    gen = torch.Generator().manual_seed(seed)
    mel = -60.0 + 20.0 * torch.randn(batch, f.mel.n_mels, f.segment_frames, generator=gen)
    chroma = torch.rand(batch, f.chroma.bins, f.segment_frames, generator=gen)
    tempo = 2.0 * torch.rand(batch, f.tempo.win, generator=gen) - 1.0
    return mel, chroma, tempo


def export_onnx(model: EmbeddingNet, config: TrainConfig, path: str | Path) -> Path:
    """Write ``model`` as ONNX (opset 17, dynamic batch axis, named inputs/outputs)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    axes = {name: {0: "batch"} for name in (*INPUT_NAMES, *OUTPUT_NAMES)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, example_inputs(config, 2), str(target),
                              input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                              opset_version=OPSET, dynamic_axes=axes, dynamo=False)
    except Exception as exc:  # the exporter raises several unrelated types
        raise TrainerError(_export_message(exc)) from exc
    return target


def _export_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "unsupported" in str(exc).lower() or "UnsupportedOperator" in type(exc).__name__:
        return (f"ONNX export failed: an operator is not supported at opset {OPSET} ({text}); "
                "replace that layer with supported ops or raise the opset in trainer/export.py")
    return f"ONNX export failed: {text}"


def _session(path: str | Path, threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def _feed(inputs: tuple[torch.Tensor, ...]) -> dict[str, np.ndarray]:
    return {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)}


def validate_onnx(model: EmbeddingNet, path: str | Path, inputs: tuple[torch.Tensor, ...]
                  ) -> dict[str, Any]:
    """Compare every output of onnxruntime with torch: MAE, max abs error, min cosine."""
    with torch.no_grad():
        ref = [t.numpy() for t in model.eval().cpu()(*inputs)]
    got = _session(path).run(list(OUTPUT_NAMES), _feed(inputs))
    report: dict[str, Any] = {"batch": int(inputs[0].shape[0])}
    for name, r, g in zip(OUTPUT_NAMES, ref, got, strict=True):
        cos = np.sum(r * g, axis=1) / np.maximum(
            np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1), 1e-12)
        report[name] = {"mae": float(np.mean(np.abs(r - g))),
                        "max_abs": float(np.max(np.abs(r - g))), "cosine_min": float(cos.min())}
    report["ok"] = all(report[n]["mae"] < MAX_MAE and report[n]["max_abs"] < MAX_ABS
                       and report[n]["cosine_min"] > MIN_COSINE for n in OUTPUT_NAMES)
    return report


def _median_ms(fn: Any, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def time_backends(model: EmbeddingNet, path: str | Path, config: TrainConfig, *,
                  batches: tuple[int, ...] = (1, 16), runs: int = 50, threads: int = 1
                  ) -> dict[str, Any]:
    """Median latency (ms per batch and per segment) of torch and onnxruntime."""
    session = _session(path, threads)
    model = model.eval().cpu()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"threads": threads, "runs": runs}
    try:
        for b in batches:
            inputs = example_inputs(config, b, seed=b)
            feed = _feed(inputs)
            with torch.inference_mode():
                t_ms = _median_ms(lambda inputs=inputs: model(*inputs), runs)
            o_ms = _median_ms(lambda feed=feed: session.run(list(OUTPUT_NAMES), feed), runs)
            out[f"batch{b}"] = {"torch_ms": t_ms, "onnx_ms": o_ms,
                                "torch_ms_per_segment": t_ms / b,
                                "onnx_ms_per_segment": o_ms / b, "speedup": t_ms / o_ms}
    finally:
        torch.set_num_threads(previous)
    return out


def time_onnx(path: str | Path, config: TrainConfig, *, batch: int = 16, runs: int = 50,
              threads: int = 1) -> float:
    """Median onnxruntime latency in ms per segment."""
    session = _session(path, threads)
    feed = _feed(example_inputs(config, batch, seed=3))
    return _median_ms(lambda: session.run(list(OUTPUT_NAMES), feed), runs) / batch


def build_card(onnx_path: Path, config: TrainConfig, *, name: str, precision: str = "fp32",
               training: dict[str, Any] | None = None,
               metrics: dict[str, Any] | None = None) -> ModelCard:
    """The model card of an exported file (sha256 computed from the file)."""
    dim = config.model.embed_dim
    train_info = {"stem": [config.model.stem_freq, config.model.stem_time],
                  "model": config.model.to_dict(), "loss": config.loss,
                  "config": config.to_dict(), **(training or {})}
    return ModelCard(name=name, model_file=onnx_path.name, sha256=file_digest(onnx_path),
                     features=config.features, embed_dim=dim,
                     branch_dims={b: dim for b in BRANCH_NAMES},
                     fusion_mode=config.model.fusion_mode, precision=precision,
                     created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
                     training=train_info, metrics=metrics or {})


def export_folder(model: EmbeddingNet, config: TrainConfig, outdir: str | Path, *,
                  name: str = "resonance-default", training: dict[str, Any] | None = None,
                  metrics: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Export, validate and write ``model.onnx`` + ``card.json``; returns the parity report."""
    out = Path(outdir)
    onnx_path = export_onnx(model, config, out / MODEL_FILE)
    report = validate_onnx(model, onnx_path, example_inputs(config, 4, seed=7))
    if not report["ok"]:
        raise TrainerError(f"ONNX output differs from torch beyond tolerance: {report}")
    card = build_card(onnx_path, config, name=name, training=training,
                      metrics={**(metrics or {}), "onnx_parity": report})
    write_card(card, out)
    return onnx_path, report
