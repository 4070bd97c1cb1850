"""``python -m trainer.corpus build|stats|subset``: the development-corpus command line.

``build --out data/corpus`` fetches the Debian packages DATA.md allows (``apt-get download``
into the cache, never installed), takes their music (recordings, rendered tracker modules),
renders the LMMS demo projects and music21 pieces, and writes ``manifest.json``,
``pairs.json``, ``build.json``, ``VALIDATION_PACKAGES.txt`` and ``TEST_PACKAGES.txt``.
Reruns reuse everything already on disk; ``--max-pieces 0 --no-lmms`` builds the package
tracks only.
``subset --out data/corpus --dest data/corpus-lite`` writes the laptop recipe's smaller
manifest (:mod:`trainer.corpus.subset`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.library import default_workers
from trainer.corpus import sources
from trainer.corpus.manifest import format_summary, summarize, validate_manifest
from trainer.corpus.pipeline import DEFAULT_VAL_SOURCES, BuildOptions, build
from trainer.corpus.subset import subset_manifest


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.corpus",
                                     description="Build the Resonance development corpus.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or update the corpus (cached, deterministic)")
    b.add_argument("--out", type=Path, default=Path("data/corpus"),
                   help="corpus folder (default: data/corpus)")
    b.add_argument("--cache", type=Path, default=None,
                   help="cache folder for parsed scores (default: OUT/.cache)")
    b.add_argument("--max-pieces", type=int, default=400,
                   help="music21 pieces to render (default: 400; 0: recordings only)")
    b.add_argument("--renditions", type=int, default=4,
                   help="renditions per piece (default: 4)")
    b.add_argument("--jobs", type=int, default=default_workers(),
                   help="worker processes (default: all cores)")
    b.add_argument("--seed", type=int, default=0, help="corpus seed (default: 0)")
    b.add_argument("--val-sources", default=",".join(DEFAULT_VAL_SOURCES),
                   help="comma-separated music21 collections held out whole for validation")
    b.add_argument("--val-packages", default=None,
                   help="comma-separated packages held out (default: chosen by the builder)")
    b.add_argument("--test-packages", default=",".join(sources.TEST_PACKAGES),
                   help="comma-separated packages held out as the test part, which nothing "
                        "is tuned on (default: the pinned list in trainer/corpus/sources.py)")
    b.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of the other pieces, module packages and LMMS authors "
                        "held out (default: 0.2)")
    b.add_argument("--no-recordings", action="store_true",
                   help="skip the Debian package tracks")
    b.add_argument("--no-lmms", action="store_true", help="skip the LMMS demo projects")
    s = sub.add_parser("stats", help="print statistics of a built corpus")
    s.add_argument("--out", type=Path, default=Path("data/corpus"))
    t = sub.add_parser("subset", help="write a smaller manifest: all package tracks, "
                                      "fewer rendered pieces")
    t.add_argument("--out", type=Path, default=Path("data/corpus"), help="built corpus")
    t.add_argument("--dest", type=Path, required=True, help="folder for the subset manifest")
    t.add_argument("--train-pieces", type=int, default=48,
                   help="training pieces kept (default: 48)")
    t.add_argument("--val-pieces", type=int, default=32,
                   help="validation pieces kept (default: 32)")
    return parser


def _subset(args: argparse.Namespace) -> int:
    path = args.out / "manifest.json"
    if not path.is_file():
        print(f"corpus: error: no manifest at {path}", file=sys.stderr)
        return 1
    data = json.loads(path.read_text(encoding="utf-8"))
    sub = subset_manifest(data, args.out, train_pieces=args.train_pieces,
                          val_pieces=args.val_pieces)
    args.dest.mkdir(parents=True, exist_ok=True)
    target = args.dest / "manifest.json"
    target.write_text(json.dumps(sub, indent=1) + "\n", encoding="utf-8")
    print(f"{len(sub['tracks'])} of {len(data['tracks'])} tracks -> {target}")
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the corpus command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "subset":
        return _subset(args)
    if args.command == "stats":
        path = args.out / "manifest.json"
        if not path.is_file():
            print(f"corpus: error: no manifest at {path}", file=sys.stderr)
            return 1
        data = json.loads(path.read_text(encoding="utf-8"))
        problems = validate_manifest(data, args.out)
        print(format_summary(summarize(data)))
        for problem in problems[:20]:
            print(f"problem: {problem}")
        return 1 if problems else 0
    if args.max_pieces < 0 or args.renditions < 2 or not 0 <= args.val_fraction < 1:
        print("corpus: error: need --max-pieces >= 0, --renditions >= 2, "
              "0 <= --val-fraction < 1", file=sys.stderr)
        return 2
    opts = BuildOptions(
        out=args.out, cache=args.cache or args.out / ".cache", max_pieces=args.max_pieces,
        renditions=args.renditions, jobs=max(args.jobs, 1), seed=args.seed,
        val_sources=_names(args.val_sources),
        val_packages=None if args.val_packages is None else _names(args.val_packages),
        test_packages=_names(args.test_packages),
        val_fraction=args.val_fraction, with_recordings=not args.no_recordings,
        with_lmms=not args.no_lmms)
    summary = build(opts)
    print(format_summary(summary))
    print(f"built in {summary['build_seconds']} s -> {args.out / 'manifest.json'}")
    return 0
