"""A small but real ONNX embedding model, built at test time with ``onnx.helper``.

The model honours the contract of :mod:`engine.model`: inputs ``mel``, ``chroma`` and
``tempo`` with a dynamic batch axis, outputs ``embedding``, ``timbre``, ``harmony`` and
``rhythm``, each L2-normalised. Each branch pools its input over time (mean, and the
standard deviation for mel), centres it and maps it through a fixed seeded random
projection; the fused embedding projects the concatenated branches. Random
projections roughly preserve cosine similarity, so tracks with similar statistics get
similar embeddings, which is enough for honest end-to-end tests of the catalog.

Use :func:`small_feature_config` for fast tests and :func:`build_model` to write a
model folder (ONNX file + ``card.json``). Different ``seed`` values give different
weights, hence a different sha256: a "new model" for re-embedding tests.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from engine.config import ChromaConfig, FeatureConfig, MelConfig, SegmentConfig, TempoConfig
from engine.filecheck import file_digest
from engine.model import BRANCH_NAMES, ModelCard, write_card

OPSET = 17


def small_feature_config(*, hpss: bool = False) -> FeatureConfig:
    """A fast feature configuration: 16 kHz, 32 mels, 20 ms hop, 4 s segments, 2 s hop."""
    return FeatureConfig(
        segment=SegmentConfig(seconds=4.0, hop_seconds=2.0, segments_per_song=4, hpss=hpss),
        mel=MelConfig(sr=16000, n_mels=32, hop_ms=20.0, n_fft=1024),
        chroma=ChromaConfig(bins=12),
        tempo=TempoConfig(win=64),
    )


def _const(name: str, value: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name=name)


def _branch_nodes(prefix: str, source: str, *, with_std: bool) -> list:
    """Nodes that pool ``source`` over time (axis 2) into ``{prefix}_stats``."""
    from onnx import helper

    nodes = [helper.make_node("ReduceMean", [source], [f"{prefix}_mean"], axes=[2],
                              keepdims=0)]
    pooled = f"{prefix}_mean"
    if with_std:
        nodes += [
            helper.make_node("ReduceMean", [source], [f"{prefix}_mk"], axes=[2], keepdims=1),
            helper.make_node("Sub", [source, f"{prefix}_mk"], [f"{prefix}_dev"]),
            helper.make_node("Mul", [f"{prefix}_dev", f"{prefix}_dev"], [f"{prefix}_sq"]),
            helper.make_node("ReduceMean", [f"{prefix}_sq"], [f"{prefix}_var"], axes=[2],
                             keepdims=0),
            helper.make_node("Sqrt", [f"{prefix}_var"], [f"{prefix}_std"]),
            helper.make_node("Concat", [f"{prefix}_mean", f"{prefix}_std"],
                             [f"{prefix}_cat"], axis=1),
        ]
        pooled = f"{prefix}_cat"
    return nodes + _center_project(prefix, pooled)


def _center_project(prefix: str, pooled: str) -> list:
    """Centre a ``(B, n)`` tensor per row, then project it and L2-normalise."""
    from onnx import helper

    return [
        helper.make_node("ReduceMean", [pooled], [f"{prefix}_rowmean"], axes=[1], keepdims=1),
        helper.make_node("Sub", [pooled, f"{prefix}_rowmean"], [f"{prefix}_centred"]),
        helper.make_node("MatMul", [f"{prefix}_centred", f"{prefix}_W"], [f"{prefix}_proj"]),
        helper.make_node("LpNormalization", [f"{prefix}_proj"], [f"{prefix}_out"],
                         axis=-1, p=2),
    ]


def build_onnx(config: FeatureConfig, path: Path, *, embed_dim: int = 64,
               branch_dim: int = 32, seed: int = 0) -> Path:
    """Write the ONNX graph for ``config`` to ``path``."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    n_mels, bins, win = config.mel.n_mels, config.chroma.bins, config.tempo.win
    frames = config.segment_frames
    inputs = [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", n_mels, frames]),
              helper.make_tensor_value_info("chroma", TensorProto.FLOAT, ["batch", bins, frames]),
              helper.make_tensor_value_info("tempo", TensorProto.FLOAT, ["batch", win])]
    weights = {"timbre_W": rng.standard_normal((2 * n_mels, branch_dim)),
               "harmony_W": rng.standard_normal((bins, branch_dim)),
               "rhythm_W": rng.standard_normal((win, branch_dim)),
               "fused_W": rng.standard_normal((3 * branch_dim, embed_dim))}
    nodes = _branch_nodes("timbre", "mel", with_std=True)
    nodes += _branch_nodes("harmony", "chroma", with_std=False)
    nodes += _center_project("rhythm", "tempo")
    nodes += [helper.make_node("Concat", ["timbre_out", "harmony_out", "rhythm_out"],
                               ["fused_cat"], axis=1),
              helper.make_node("MatMul", ["fused_cat", "fused_W"], ["fused_proj"]),
              helper.make_node("LpNormalization", ["fused_proj"], ["embedding"], axis=-1, p=2)]
    nodes += [helper.make_node("Identity", [f"{b}_out"], [b]) for b in BRANCH_NAMES]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                             ["batch", embed_dim])]
    outputs += [helper.make_tensor_value_info(b, TensorProto.FLOAT, ["batch", branch_dim])
                for b in BRANCH_NAMES]
    graph = helper.make_graph(nodes, "resonance_test_model", inputs, outputs,
                              initializer=[_const(k, v) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tests.model_factory")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_model(model_dir: Path, *, config: FeatureConfig | None = None, seed: int = 0,
                embed_dim: int = 64, branch_dim: int = 32, name: str = "test-model") -> Path:
    """Write a complete model folder (``model.onnx`` + ``card.json``) and return it."""
    config = config or small_feature_config()
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = build_onnx(config, model_dir / "model.onnx", embed_dim=embed_dim,
                           branch_dim=branch_dim, seed=seed)
    card = ModelCard(name=f"{name}-{seed}", model_file=onnx_path.name,
                     sha256=file_digest(onnx_path), features=config, embed_dim=embed_dim,
                     branch_dims={b: branch_dim for b in BRANCH_NAMES},
                     training={"note": "random projections, for tests only"})
    write_card(card, model_dir)
    return model_dir


def with_segments(config: FeatureConfig, **changes: object) -> FeatureConfig:
    """``config`` with some :class:`SegmentConfig` fields replaced."""
    return dataclasses.replace(config, segment=dataclasses.replace(config.segment, **changes))


def write_music(folder: Path, count: int, *, seconds: float = 12.0, sr: int = 16000,
                ext: str = ".flac", first_seed: int = 0) -> list[Path]:
    """``count`` distinct generated songs (``tests.audio_factory.song``) in ``folder``."""
    from tests.audio_factory import song, write_audio

    folder.mkdir(parents=True, exist_ok=True)
    return [write_audio(folder / f"song{i:03d}{ext}", song(i, seconds, sr=sr), sr=sr)
            for i in range(first_seed, first_seed + count)]


def add_timbre_graph(model_dir: Path, *, dim: int = 16, stem: tuple[int, int] = (2, 4),
                     seed: int = 0, mix: float = 0.0,
                     without_versions: float | None = None) -> Path:
    """Give the model in ``model_dir`` a timbre graph (:mod:`engine.timbre`): the pooled
    mel's band means projected by a random matrix (``timbre_W.npy`` beside it, for the
    tests' own arithmetic), ``mix`` of the main graph's timbre kept beside it (and
    ``without_versions``: :class:`engine.timbre.TimbreMix`). Returns the folder."""
    import onnx
    from onnx import TensorProto, helper

    from engine.model import load_card
    from engine.timbre import TIMBRE_INPUT, TIMBRE_OUTPUT

    model_dir = Path(model_dir)
    card = load_card(model_dir)
    bands = card.features.mel.n_mels // stem[0]
    w = np.random.default_rng(seed).standard_normal((bands, dim)).astype(np.float32)
    np.save(model_dir / "timbre_W.npy", w)
    nodes = [helper.make_node("ReduceMean", [TIMBRE_INPUT], ["band_means"], axes=[2],
                              keepdims=0),
             helper.make_node("MatMul", ["band_means", "timbre_W"], [TIMBRE_OUTPUT])]
    graph = helper.make_graph(
        nodes, "resonance_test_timbre",
        [helper.make_tensor_value_info(TIMBRE_INPUT, TensorProto.FLOAT,
                                       ["batch", bands, "frames"])],
        [helper.make_tensor_value_info(TIMBRE_OUTPUT, TensorProto.FLOAT, ["batch", dim])],
        initializer=[_const("timbre_W", w)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tests.model_factory")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = model_dir / "timbre.onnx"
    onnx.save(model, str(path))
    timbre: dict[str, object] = {"file": path.name, "sha256": file_digest(path),
                                 "stem": list(stem)}
    if mix:
        timbre.update(mix=mix, main_dim=card.branch_dims["timbre"])
    if without_versions is not None:
        timbre["mix_without_versions"] = without_versions
    width = dim + (card.branch_dims["timbre"] if mix else 0)
    card = dataclasses.replace(
        card, name=f"{card.name}-timbre", branch_dims={**card.branch_dims, "timbre": width},
        timbre=timbre)
    write_card(card, model_dir)
    return model_dir
