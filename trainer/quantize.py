"""INT8 static quantisation (QDQ, calibrated on real segments) and its verdict.

Dynamic quantisation of convolutions was measured slower than fp32 in onnxruntime,
so this uses static QDQ quantisation with a calibration set of cached segments. The
INT8 model is kept only if it is faster than fp32 *and* loses at most
``MAX_RECALL_LOSS`` of validation recall@5 (:func:`int8_verdict`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.model import INPUT_NAMES

MAX_RECALL_LOSS = 0.01


class _Calibration:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over input batches."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def calibration_batches(mel: np.ndarray, chroma: np.ndarray, tempo: np.ndarray, *,
                        batch: int = 8) -> list[dict[str, np.ndarray]]:
    """Split full-resolution calibration inputs into feed dicts."""
    return [dict(zip(INPUT_NAMES, (mel[i : i + batch], chroma[i : i + batch],
                                   tempo[i : i + batch]), strict=True))
            for i in range(0, len(mel), batch)]


def quantize_static_int8(fp32_path: str | Path, out_path: str | Path,
                         batches: list[dict[str, np.ndarray]]) -> Path:
    """Write a QDQ INT8 model (per-channel 7-bit weights, uint8 activations).

    Weights keep 7 bits (``reduce_range``): x86 CPUs without VNNI multiply uint8 by
    int8 in pairs summed into 16 bits, which full-range weights overflow; measured on
    an AVX2-only CPU, full-range weights left the shipped trunk's embeddings at cosine
    0.78-0.81 to fp32 (0.9999 on a VNNI CPU). With 7 bits the sum cannot overflow
    (that CPU: 0.9997)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out_path)
    prepared = out.with_name(out.stem + ".pre.onnx")
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(out), _Calibration(batches),
                    quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    prepared.unlink(missing_ok=True)
    return out


RECALL_KEYS = ("recall@5", "version_recall@5")


def int8_verdict(fp32: dict[str, Any], int8: dict[str, Any]) -> dict[str, Any]:
    """Whether to ship INT8: faster, and no recall in ``RECALL_KEYS`` drops by more than
    ``MAX_RECALL_LOSS`` (keys missing from either side are ignored)."""
    speedup = fp32["ms_per_segment"] / max(int8["ms_per_segment"], 1e-9)
    changes = {f"{k}_change": int8[k] - fp32[k] for k in RECALL_KEYS if k in fp32 and k in int8}
    ship = speedup > 1.0 and all(c >= -MAX_RECALL_LOSS for c in changes.values())
    return {"speedup": speedup, **changes, "ship_int8": ship, "fp32": fp32, "int8": int8}
