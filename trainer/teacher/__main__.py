"""``python -m trainer.teacher targets``: precompute distillation targets for a corpus.

Example (the training part's real music, 8 patches a track)::

    nice -n 19 python -m trainer.teacher targets --corpus data/corpus \
        --weights benchmarks/_cache/teacher/MSD_musicnn.npz \
        --out cache/teacher/MSD_musicnn_targets.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from trainer.data import MANIFEST, discover_tracks
from trainer.errors import TrainerError
from trainer.teacher.musicnn_net import load_musicnn
from trainer.teacher.targets import compute_targets


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m trainer.teacher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("targets", help="teacher outputs per patch of each corpus track")
    t.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    t.add_argument("--weights", type=Path, required=True,
                   help="exported MusiCNN weights (trainer/teacher/tf_export.py)")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--split", default="train", help="manifest split (default: train)")
    t.add_argument("--kinds", default="recording,module,lmms",
                   help="manifest kinds, comma-separated (default: recording,module,lmms)")
    t.add_argument("--max-patches", type=int, default=8,
                   help="patches per track, evenly spread (0: every 3 s)")
    args = parser.parse_args(argv)
    try:
        manifest = json.loads((args.corpus / MANIFEST).read_text(encoding="utf-8"))
        kinds = set(args.kinds.split(","))
        wanted = {t["song"]: t["path"] for t in manifest["tracks"]
                  if t.get("split") == args.split and t.get("kind") in kinds}
        tracks = [t for t in discover_tracks(args.corpus) if t.song in wanted]
        if not tracks:
            raise TrainerError(f"no {args.split} tracks of kinds {sorted(kinds)} in "
                               f"{args.corpus / MANIFEST}")
        net = load_musicnn(args.weights)
        arrays = compute_targets(tracks, net, model=args.weights.stem,
                                 max_patches=args.max_patches or None,
                                 paths=[wanted[t.song] for t in tracks])
    except (OSError, ValueError, KeyError, TrainerError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)  # type: ignore[arg-type]
    print(f"{len(tracks)} tracks, {len(arrays['starts'])} patches -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
