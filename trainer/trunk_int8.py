"""INT8 trunk: static QDQ quantisation calibrated on real tracks, then measured.

The trunk graph is quantised like the per-segment model (:func:`trainer.quantize.
quantize_static_int8`: per-channel weights, uint8 activations, MinMax ranges), with
calibration inputs that are the runs the engine feeds it: frames of real recordings
joined over consecutive segments (:mod:`engine.trunk`). It ships only if it is faster
than fp32 on whole tracks (one onnxruntime thread) *and* its embeddings stay close to
fp32's (mean cosine at least :data:`MIN_MEAN_COSINE` over every segment of the check
tracks), the spirit of :func:`trainer.quantize.int8_verdict`.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.features import Segments, TrackFeatures, extract_features, segment_features
from engine.filecheck import file_digest
from engine.model import OUTPUT_NAMES, load_card, write_card
from engine.trunk import MAP_NAMES, trunk_outputs
from engine.trunk import trunk_feeds as engine_trunk_feeds
from trainer.export import _session
from trainer.quantize import quantize_static_int8
from trainer.trunk_export import TRUNK_FILE

TRUNK_INT8_FILE = "trunk.int8.onnx"
MIN_MEAN_COSINE = 0.99
#: Runs per calibration track (onnxruntime keeps every run's activations: ~70 MB each).
CALIBRATION_RUNS = 2


def track_features(paths: Sequence[Path], config: FeatureConfig) -> list[TrackFeatures]:
    """Frame-level features of each whole file (decoded at the model's rate)."""
    return [extract_features(load_audio(p, sr=config.sr), config=config) for p in paths]


def trunk_feeds(segments: Segments, config: FeatureConfig) -> list[dict[str, np.ndarray]]:
    """The trunk inputs the engine gives for ``segments`` (:func:`engine.trunk.trunk_feeds`)."""
    return [feed for _, feed in engine_trunk_feeds(segments, config)]


def _trunk_seconds(session: Any, feeds: list[dict[str, np.ndarray]], repeats: int) -> float:
    """Best of ``repeats`` times of the trunk over all ``feeds`` (robust to other load)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for feed in feeds:
            session.run(list(MAP_NAMES), feed)
        best = min(best, time.perf_counter() - t0)
    return best


def compare_precisions(folder: Path, int8_path: Path, tracks: Sequence[TrackFeatures], *,
                       repeats: int = 3) -> dict[str, Any]:
    """Per-track trunk time of fp32 and INT8 (1 thread) and the cosine between their
    embeddings (trunk + head) on every segment of ``tracks``."""
    card = load_card(folder)
    fp32, int8 = _session(folder / TRUNK_FILE), _session(int8_path)
    head = _session(folder / card.head["file"])
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    cosines: list[np.ndarray] = []
    minutes = 0.0
    for features in tracks:
        segments = segment_features(features, config=card.features)
        feeds = trunk_feeds(segments, card.features)
        for name, session in (("fp32", fp32), ("int8", int8)):
            times[name].append(_trunk_seconds(session, feeds, repeats))
        a = trunk_outputs(fp32, head, segments, card)[OUTPUT_NAMES[0]]
        b = trunk_outputs(int8, head, segments, card)[OUTPUT_NAMES[0]]
        cosines.append(np.sum(a * b, axis=1) / np.maximum(
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12))
        minutes += features.duration / 60.0
    cos = np.concatenate(cosines)
    fp32_s, int8_s = sum(times["fp32"]), sum(times["int8"])
    return {"tracks": len(tracks), "segments": int(cos.size), "audio_minutes": minutes,
            "fp32_ms_per_track": 1000.0 * fp32_s / len(tracks),
            "int8_ms_per_track": 1000.0 * int8_s / len(tracks),
            "fp32_ms_per_audio_minute": 1000.0 * fp32_s / minutes,
            "int8_ms_per_audio_minute": 1000.0 * int8_s / minutes,
            "speedup": fp32_s / max(int8_s, 1e-9),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "cosine_p01": float(np.percentile(cos, 1))}


def cpu_description() -> dict[str, Any]:
    """The CPU the INT8 check ran on: its name and whether it has VNNI (the int8 dot
    products that cannot overflow), for the record."""
    info = Path("/proc/cpuinfo")
    text = info.read_text(encoding="utf-8", errors="replace") if info.is_file() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), platform.processor() or "unknown")
    return {"name": name, "vnni": "vnni" in text}


def trunk_int8_verdict(measured: dict[str, Any]) -> dict[str, Any]:
    """Ship INT8 only if faster and its mean cosine to fp32 is at least ``MIN_MEAN_COSINE``."""
    ship = measured["speedup"] > 1.0 and measured["cosine_mean"] >= MIN_MEAN_COSINE
    return {**measured, "min_mean_cosine": MIN_MEAN_COSINE, "ship_int8": bool(ship)}


def quantize_trunk(folder: str | Path, calibration: Sequence[TrackFeatures],
                   check: Sequence[TrackFeatures], *,
                   audio: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Quantise ``folder``'s fp32 trunk (``trunk.onnx``, also when the card already
    points at an INT8 one) with the runs of the ``calibration`` tracks, measure it on the
    ``check`` tracks, and point the card at it if :func:`trunk_int8_verdict` says so
    (else at the fp32 trunk, the INT8 file removed). The verdict, with ``audio`` (the
    files' names, for the record), goes into the card's metrics."""
    out = Path(folder)
    fp32 = out / TRUNK_FILE
    card = dataclasses.replace(load_card(out), model_file=TRUNK_FILE,
                               sha256=file_digest(fp32), precision="fp32")
    feeds = [feed for features in calibration
             for feed in trunk_feeds(segment_features(features, config=card.features),
                                     card.features)[:CALIBRATION_RUNS]]
    int8_path = quantize_static_int8(fp32, out / TRUNK_INT8_FILE, feeds)
    verdict = trunk_int8_verdict(compare_precisions(out, int8_path, check))
    verdict["calibration"] = {"tracks": len(calibration), "runs": len(feeds)}
    verdict["cpu"] = cpu_description()
    if audio:
        verdict["audio"] = audio
    if verdict["ship_int8"]:
        card = dataclasses.replace(card, model_file=int8_path.name,
                                   sha256=file_digest(int8_path), precision="int8")
    else:
        int8_path.unlink()
    write_card(dataclasses.replace(card, metrics={**card.metrics, "trunk_int8": verdict}), out)
    return verdict
