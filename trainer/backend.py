"""Run a trained model from ``--load``: a torch checkpoint or an exported ONNX folder.

``--backend auto`` tells them apart by what ``--load`` points at; when it cannot, the
seed's message "Unable to auto-detect backend from --load" says what was expected.
Both backends embed *pooled* cached segments (the evaluator's input): the ONNX
model gets them back at full resolution by repeating each pooled cell, which its
average-pooling stem maps back to exactly the cached values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import FeatureConfig
from trainer.errors import TrainerError
from trainer.evaluate import EmbedFn

BACKENDS = ("auto", "torch", "onnx")
_TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")


def detect_backend(load: str | Path) -> str:
    """``"torch"`` or ``"onnx"`` for a ``--load`` path, or a :class:`TrainerError`."""
    path = Path(load)
    if path.is_dir():
        if (path / "ckpt.pt").is_file():
            return "torch"
        if (path / "card.json").is_file() or any(path.glob("*.onnx")):
            return "onnx"
    elif path.is_file():
        if path.suffix.lower() == ".onnx" or path.name == "card.json":
            return "onnx"
        if path.suffix.lower() in _TORCH_SUFFIXES or _is_zip(path):
            return "torch"
    raise TrainerError(
        f"Unable to auto-detect backend from --load {str(path)!r}: expected a torch "
        "checkpoint (.pt file or a folder with ckpt.pt) or an ONNX model (.onnx file or a "
        "folder with card.json); pass --backend torch|onnx")


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def unpool(mel: np.ndarray, chroma: np.ndarray, *, stem_freq: int,
           stem_time: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution inputs whose stem pooling gives back ``mel`` and ``chroma``."""
    full_mel = np.repeat(np.repeat(mel, stem_freq, axis=1), stem_time, axis=2)
    return full_mel, np.repeat(chroma, stem_time, axis=2)


@dataclass
class LoadedModel:
    """A model ready to embed pooled segments, with what it was built from.

    ``sha256`` identifies the weights: that of the ONNX file, or of the checkpoint.
    """

    backend: str
    embed: EmbedFn
    features: FeatureConfig
    stem: tuple[int, int]
    info: dict[str, Any]
    sha256: str


def load_model(load: str | Path, *, backend: str = "auto", device: str = "cpu",
               threads: int = 0) -> LoadedModel:
    """Open ``--load`` with the chosen (or detected) backend."""
    if backend not in BACKENDS:
        raise TrainerError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    kind = detect_backend(load) if backend == "auto" else backend
    return _load_torch(load, device) if kind == "torch" else _load_onnx(load, threads)


def _load_torch(load: str | Path, device: str) -> LoadedModel:
    from engine.filecheck import file_digest
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint
    from trainer.train import resolve_device, torch_embed_fn

    data = load_checkpoint(load)
    model, config = model_from_checkpoint(data)
    dev = resolve_device(device)
    return LoadedModel("torch", torch_embed_fn(model.to(dev), dev), config.features,
                       (config.model.stem_freq, config.model.stem_time),
                       {"epoch": data.get("epoch"), "metrics": data.get("metrics", {}),
                        "config": data["config"], "data": data.get("data", {})},
                       file_digest(resolve_checkpoint(load)))


def _load_onnx(load: str | Path, threads: int) -> LoadedModel:
    from engine.errors import ModelError
    from engine.features import Segments
    from engine.model import Embedder

    path = Path(load)
    folder = path.parent if path.is_file() else path
    try:
        embedder = Embedder(folder, threads=threads)
    except ModelError as exc:
        raise TrainerError(f"cannot load ONNX model from {path}: {exc}") from exc
    stem = tuple(embedder.card.training.get("stem", (2, 4)))
    stem_freq, stem_time = int(stem[0]), int(stem[1])

    def embed(mel: np.ndarray, chroma: np.ndarray, tempo: np.ndarray) -> np.ndarray:
        full_mel, full_chroma = unpool(mel, chroma, stem_freq=stem_freq, stem_time=stem_time)
        segs = Segments(full_mel, full_chroma, tempo, np.zeros(len(mel), np.float32))
        return embedder.embed(segs).fused

    return LoadedModel("onnx", embed, embedder.card.features, (stem_freq, stem_time),
                       {"card": embedder.card.to_dict(), "model_file": str(embedder.model_path)},
                       embedder.card.sha256)
