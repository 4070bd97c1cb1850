"""Trunk layout against the per-segment model on real tracks: model time and fidelity.

For each track (whole-track features, every segment at the card's hop, as a scan
embeds them) it times, on one onnxruntime thread, the per-segment model
(``--model``, the shipped folder by default) and the trunk folder (``--trunk``, from
``resonance-train trunk``: trunk over the runs of consecutive segments, pooling, head),
both through :class:`engine.model.Embedder`. It then compares their fused embeddings
by cosine: each segment through the trunk alone (a seed's or an excerpt's segment) and
inside the track's run (a scan), against the per-segment model and against each other.
Best of ``--repeat`` timings (other load only slows a run down). Features are computed
once and are not timed.

Run: ``python -m benchmarks.bench_trunk --trunk DIR --audio FILE_OR_DIR ... [--record]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.results import machine, update_section  # noqa: E402
from engine.audio import AUDIO_EXTENSIONS, load_audio  # noqa: E402
from engine.features import Segments, extract_features, segment_features  # noqa: E402
from engine.model import Embedder, default_model_dir  # noqa: E402


def audio_files(paths: list[Path], limit: int) -> list[Path]:
    """Audio files among ``paths`` (folders searched recursively), sorted, at most ``limit``."""
    found = sorted({p for path in paths for p in ([path] if path.is_file() else path.rglob("*"))
                    if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()})
    return found[:limit]


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs of ``fn`` (after one warm-up run)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def one_by_one(segments: Segments) -> list[Segments]:
    """Each segment on its own (no run of consecutive segments)."""
    return [Segments(mel=segments.mel[i : i + 1], chroma=segments.chroma[i : i + 1],
                     tempo=segments.tempo[i : i + 1], starts=segments.starts[i : i + 1])
            for i in range(len(segments))]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two sets of L2-normalised vectors."""
    return np.asarray(np.sum(a * b, axis=1))


@dataclass
class Measured:
    """Seconds per track of each model, and cosines per segment of each comparison."""

    tracks: int
    minutes: float
    times: dict[str, list[float]]
    cosines: dict[str, np.ndarray]


def measure(model: Embedder, trunk: Embedder, files: list[Path], repeat: int) -> Measured:
    """Timings and cosines over ``files``."""
    cfg = model.config
    times: dict[str, list[float]] = {"segment model": [], "trunk + head": []}
    cos: dict[str, list[np.ndarray]] = {"run vs segment model": [],
                                        "alone vs segment model": [], "alone vs run": []}
    minutes = 0.0
    for path in files:
        features = extract_features(load_audio(path, sr=cfg.sr), config=cfg)
        segments = segment_features(features, config=cfg)
        minutes += features.duration / 60.0
        times["segment model"].append(best_seconds(partial(model.embed, segments), repeat))
        times["trunk + head"].append(best_seconds(partial(trunk.embed, segments), repeat))
        ref, run = model.embed(segments).fused, trunk.embed(segments).fused
        alone = np.concatenate([trunk.embed(s).fused for s in one_by_one(segments)])
        cos["run vs segment model"].append(cosines(run, ref))
        cos["alone vs segment model"].append(cosines(alone, ref))
        cos["alone vs run"].append(cosines(alone, run))
        print(f"{path.name}: {len(segments)} segments, segment model "
              f"{times['segment model'][-1] * 1000:.0f} ms, trunk "
              f"{times['trunk + head'][-1] * 1000:.0f} ms", flush=True)
    return Measured(len(files), minutes, times, {k: np.concatenate(v) for k, v in cos.items()})


def report(result: Measured, model: Embedder, trunk: Embedder, command: str) -> str:
    """The RESULTS.md section."""
    cos, n, minutes = result.cosines, result.tracks, result.minutes
    seg_s, trunk_s = sum(result.times["segment model"]), sum(result.times["trunk + head"])
    lines = [
        "## Trunk layout against the per-segment model (`python -m benchmarks.bench_trunk`)",
        "",
        f"`{command}`; {machine()}, load average {os.getloadavg()[0]:.1f} at the end.",
        f"{n} real tracks ({minutes:.1f} min of audio), every segment at the card's hop "
        f"({len(cos['alone vs run'])} segments); model time only "
        "(features once, not timed), one onnxruntime thread, best of the repeats.",
        "",
        f"Per-segment model: `{model.model_dir.name}/{model.card.model_file}` "
        f"({model.card.precision}); trunk: `{trunk.model_dir.name}/{trunk.card.model_file}` "
        f"({trunk.card.precision}) + `{trunk.card.head['file']}`.",
        "",
        "| model | ms per track | ms per audio minute |",
        "|---|---|---|",
        f"| per-segment | {1000 * seg_s / n:.1f} | {1000 * seg_s / minutes:.1f} |",
        f"| trunk + pooling + head | {1000 * trunk_s / n:.1f} | "
        f"{1000 * trunk_s / minutes:.1f} |",
        f"| ratio | {seg_s / trunk_s:.2f}x | |",
        "",
        "| fused embedding cosine | mean | 5th percentile | min |",
        "|---|---|---|---|",
    ]
    for name, values in cos.items():
        lines.append(f"| {name} | {values.mean():.4f} | {np.percentile(values, 5):.4f} | "
                     f"{values.min():.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_dir() / "per-segment",
                        help="per-segment model folder (default: the one the shipped trunk "
                             "was converted from)")
    parser.add_argument("--trunk", type=Path, required=True, help="trunk model folder")
    parser.add_argument("--audio", type=Path, nargs="+", required=True,
                        help="real audio files or folders")
    parser.add_argument("--tracks", type=int, default=10, help="most files (sorted)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write RESULTS.md's section")
    args = parser.parse_args(argv)
    model, trunk = Embedder(args.model, threads=1), Embedder(args.trunk, threads=1)
    files = audio_files(args.audio, args.tracks)
    if not files:
        parser.error("no audio files found")
    result = measure(model, trunk, files, args.repeat)
    command = "python -m benchmarks.bench_trunk " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = report(result, model, trunk, command)
    print(text)
    if args.record:
        update_section("trunk", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
