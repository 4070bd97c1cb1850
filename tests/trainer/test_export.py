"""Export details: opset, dynamic batch, card, troubleshooting messages, INT8 verdict."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from engine.model import load_card
from trainer.checkpoint import new_model
from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.export import example_inputs, export_folder, export_onnx, validate_onnx
from trainer.quantize import int8_verdict


@pytest.mark.slow
def test_export_folder(tiny_config: TrainConfig, tmp_path: Path) -> None:
    model = new_model(tiny_config).eval()
    path, report = export_folder(model, tiny_config, tmp_path, metrics={"recall@5": 0.5})
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 17
    assert [i.name for i in proto.graph.input] == ["mel", "chroma", "tempo"]
    assert [o.name for o in proto.graph.output] == ["embedding", "timbre", "harmony", "rhythm"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    card = load_card(tmp_path)
    assert card.features == tiny_config.features and card.embed_dim == 32
    assert card.metrics["recall@5"] == 0.5 and report["ok"]
    # another batch size runs and still matches
    assert validate_onnx(model, path, example_inputs(tiny_config, 7))["ok"]


class _Unsupported(torch.nn.Module):
    def forward(self, mel: torch.Tensor, chroma: torch.Tensor, tempo: torch.Tensor
                ) -> torch.Tensor:
        return torch.linalg.eigvals(mel[:, :4, :4]).real.sum(dim=1)


def test_unsupported_operator_message(tiny_config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match="not supported at opset 17"):
        export_onnx(_Unsupported(), tiny_config, tmp_path / "m.onnx")  # type: ignore[arg-type]


def test_int8_verdict() -> None:
    fp32 = {"ms_per_segment": 2.0, "recall@5": 0.80, "version_recall@5": 0.5}
    ok = int8_verdict(fp32, {"ms_per_segment": 1.0, "recall@5": 0.795,
                             "version_recall@5": 0.5})
    assert ok["ship_int8"] and ok["speedup"] == 2.0
    assert ok["recall@5_change"] == pytest.approx(-0.005)
    assert not int8_verdict(fp32, {"ms_per_segment": 1.0, "recall@5": 0.78,
                                   "version_recall@5": 0.5})["ship_int8"]
    assert not int8_verdict(fp32, {"ms_per_segment": 1.0, "recall@5": 0.80,
                                   "version_recall@5": 0.48})["ship_int8"]
    assert not int8_verdict(fp32, {"ms_per_segment": 2.5, "recall@5": 0.80,
                                   "version_recall@5": 0.5})["ship_int8"]
