"""Versions by their harmonies: how well version prints tell versions apart, and their cost.

On one part of the development corpus (``trainer.corpus``), every track's version print
(:func:`engine.versions.version_print`) is scored against every other of its kind
(:func:`engine.versions.version_score`):

* renditions (the pieces rendered in several instruments, keys and tempi): versions
  mAP and P@1 by the score alone, and the scores of versions and of other pieces;
* real recordings (no versions of each other): the scores' upper percentiles, which
  set the threshold :data:`engine.versions.VERSION_TAU`;
* the share of versions above that threshold, and the cost of one score.

``python -m benchmarks.bench_versions --corpus data/corpus --part train --max-pieces 75``
is how the threshold and the score's settings were chosen (benchmarks/RESULTS.md,
"Versions by their harmonies"); ``--part val`` reports the validation part.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks import retrieval as rt
from benchmarks.bench_quality import select_tracks
from engine.audio import load_audio
from engine.model import Embedder, default_model_dir
from engine.versions import VERSION_TAU, version_print, version_score


def pair_scores(prints: list[np.ndarray]) -> np.ndarray:
    """Every pair's version score ``(n, n)`` (the score is symmetric; diagonal -inf)."""
    n = len(prints)
    out = np.full((n, n), -np.inf, np.float32)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = version_score(prints[i], prints[j])
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, score every pair, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--part", choices=("train", "val", "test"), default="train")
    parser.add_argument("--max-pieces", type=int, default=None)
    parser.add_argument("--max-recordings", type=int, default=None)
    args = parser.parse_args(argv)
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))
    config = Embedder(default_model_dir()).config
    chosen = select_tracks(manifest, args.part, max_tracks=args.max_recordings,
                           max_pieces=args.max_pieces)
    rens = [t for t in chosen if t["kind"] == "rendition"]
    recs = [t for t in chosen if t["kind"] == "recording"]
    started = time.perf_counter()
    prints = {t["path"]: version_print(load_audio(args.corpus / t["path"], sr=config.sr),
                                       config=config) for t in rens + recs}
    print(f"{len(rens)} renditions, {len(recs)} recordings of the {args.part} part: prints "
          f"in {time.perf_counter() - started:.0f} s")
    if len(rens) > 1:
        scores = pair_scores([prints[t["path"]] for t in rens])
        labels = np.array([t["group"] for t in rens])
        metrics, _ = rt.neighbour_metrics(scores, labels)
        same = labels[:, None] == labels[None, :]
        np.fill_diagonal(same, False)
        other = ~same & np.isfinite(scores)
        print(f"renditions: versions mAP {metrics['mAP']:.3f}, P@1 {metrics['P@1']:.3f}; "
              "versions' scores q05/q10/q50 "
              + "/".join(f"{v:.3f}" for v in np.quantile(scores[same], [0.05, 0.1, 0.5]))
              + "; other pieces' q99/q99.9 "
              + "/".join(f"{v:.3f}" for v in np.quantile(scores[other], [0.99, 0.999]))
              + f"; above {VERSION_TAU}: versions {np.mean(scores[same] > VERSION_TAU):.3f}, "
              f"other pieces {np.mean(scores[other] > VERSION_TAU):.4f}")
    if len(recs) > 1:
        scores = pair_scores([prints[t["path"]] for t in recs])
        upper = scores[np.triu_indices(len(recs), 1)]
        print("recordings: scores q99/q99.9/max "
              + "/".join(f"{v:.3f}" for v in (*np.quantile(upper, [0.99, 0.999]), upper.max()))
              + f"; above {VERSION_TAU}: {np.mean(upper > VERSION_TAU):.4f} of "
              f"{upper.size} pairs")
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (12, 480), dtype=np.uint8) for _ in range(2))
    version_score(a, b)
    started = time.perf_counter()
    for _ in range(50):
        version_score(a, b)
    print(f"one score of two 4-minute prints: {(time.perf_counter() - started) * 20:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
