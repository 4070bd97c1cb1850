"""``resonance features FILE...``: analyse files with the model's feature front-end."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.output import printable
from engine.errors import ParameterError, ResonanceError

if TYPE_CHECKING:
    import numpy as np

    from engine.config import FeatureConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``features`` sub-command."""
    p = sub.add_parser("features", help="extract model features from audio files",
                       description="Decode audio files and compute their log-mel, chroma "
                       "and tempo features exactly as the embedding model sees them.")
    p.add_argument("files", nargs="+", type=Path, help="audio files")
    p.add_argument("--config", type=Path, default=None,
                   help="feature config or base.yaml (default: the shipped base.yaml)")
    p.add_argument("--no-hpss", action="store_true", help="skip harmonic-percussive separation")
    p.add_argument("--max-segments", type=int, default=None, help="keep at most N segments")
    p.add_argument("--out", type=Path, default=None,
                   help="folder to write one .npz of segment features per file")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.set_defaults(handler=run)


def load_feature_config(path: Path | None, *, no_hpss: bool = False) -> FeatureConfig:
    """The feature config from ``path`` or the shipped ``base.yaml``."""
    import dataclasses

    from engine.config import FeatureConfig, default_config_dir

    cfg = FeatureConfig.from_yaml(path or default_config_dir() / "base.yaml")
    if no_hpss:
        cfg = dataclasses.replace(cfg, segment=dataclasses.replace(cfg.segment, hpss=False))
    return cfg


def _output_folder(folder: Path) -> None:
    """Create the ``--out`` folder; an existing file there is refused, never replaced."""
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"--out {str(folder)!r} is a file, not a folder; give a folder "
                             "for the .npz files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"--out: cannot create folder {str(folder)!r}: "
                             f"{exc.strerror or exc}") from None


def _save(target: Path, **arrays: np.ndarray) -> None:
    """Write one .npz; a full disk or an unwritable folder stops with one line and leaves
    no partial file."""
    import numpy as np

    from engine.space import is_no_space, no_space_error

    try:
        # numpy's stub lets **arrays reach its allow_pickle flag
        np.savez_compressed(target, **arrays)  # type: ignore[arg-type]
    except OSError as exc:
        target.unlink(missing_ok=True)
        if is_no_space(exc):
            raise no_space_error(target.parent, sum(a.nbytes for a in arrays.values())) from None
        raise ParameterError(f"--out: cannot write {str(target)!r}: "
                             f"{exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Analyse each file; a bad file is reported and the others still processed."""

    from engine.features import analyze_file

    cfg = load_feature_config(args.config, no_hpss=args.no_hpss)
    if args.out:
        _output_folder(args.out)
    failures = 0
    for path in args.files:
        started = time.perf_counter()
        try:
            track, segs = analyze_file(path, config=cfg, max_segments=args.max_segments)
        except ResonanceError as exc:
            failures += 1
            print(f"resonance: error: {printable(exc)}", file=sys.stderr)
            continue
        elapsed = time.perf_counter() - started
        report = {
            "path": str(path), "duration_s": round(track.duration, 3),
            "frames": track.n_frames, "segments": len(segs),
            "mel_shape": list(segs.mel.shape), "chroma_shape": list(segs.chroma.shape),
            "tempo_shape": list(segs.tempo.shape), "seconds": round(elapsed, 3),
            "x_realtime": round(track.duration / elapsed, 1) if elapsed > 0 else None,
        }
        if args.out:
            target = args.out / f"{path.stem}.npz"
            _save(target, mel=segs.mel, chroma=segs.chroma, tempo=segs.tempo,
                  starts=segs.starts)
            report["out"] = str(target)
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            print(f"{printable(path)}: {report['duration_s']:.1f} s, {report['segments']} segments "
                  f"{tuple(segs.mel.shape[1:])} mel, {report['x_realtime']}x real time")
    return 1 if failures else 0
