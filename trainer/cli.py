"""``resonance-train``: the seed's pipeline stages as sub-commands.

precompute -> search -> refine -> evaluate -> export / onnx-eval -> index, plus
``train --mode search|refine`` (the seed's spelling) and ``corpus`` (the development
corpus builder). Errors are one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import ResonanceError
from trainer import library_train


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="base.yaml (default: the shipped resources/config/base.yaml)")
    p.add_argument("--cache_dir", type=Path, default=Path("cache"), help="feature cache folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--root", default=None, help="override data.root (audio folder or corpus)")


def _training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs_dir", type=Path, default=Path("runs"), help="where runs are written")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--batch_identities", type=int, default=None,
                   help="override train.batch_identities")
    p.add_argument("--steps_per_epoch", type=int, default=None, help="cap steps per epoch")
    p.add_argument("--fresh", action="store_true", help="ignore last.pt (do not resume)")


def _load_opts(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--load", type=Path, required=required,
                   help="checkpoint (.pt or run folder) or exported model folder / .onnx")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])


#: The seed's spellings of the sub-commands.
ALIASES = {"precompute": ["features"], "onnx-eval": ["onnx_eval"], "index": ["index_build"]}


def _add(sub: argparse._SubParsersAction, name: str, handler: str, help_text: str
         ) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text,
                       aliases=ALIASES.get(name, []))
    p.set_defaults(handler=handler)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The full ``resonance-train`` argument parser."""
    parser = argparse.ArgumentParser(prog="resonance-train",
                                     description="Train, evaluate and export Resonance models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = _add(sub, "precompute", "precompute", "decode audio and fill the feature cache")
    _common(p)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    for name, mode in (("search", "search"), ("refine", "refine"), ("train", None)):
        p = _add(sub, name, "train", f"{'train: ' if mode is None else ''}"
                 f"{'Optuna search' if mode == 'search' else 'full training'}")
        _common(p)
        _training(p)
        p.add_argument("--mode", choices=["search", "refine"], default=mode or "refine")
        p.add_argument("--space", type=Path, default=None, help="search_space.yaml")
        p.add_argument("--trials", type=int, default=20, help="HPO trials")
        p.add_argument("--proxy_epochs", type=int, default=8, help="epochs per HPO trial")
        p.add_argument("--timeout_s", type=float, default=None,
                       help="search: stop starting new trials after this many seconds")
        p.add_argument("--topn", type=int, default=0,
                       help="refine: retrain the N best HPO settings and keep the best")
    p = _add(sub, "evaluate", "evaluate", "Recall@K, MRR and mAP on the validation songs")
    _common(p)
    _load_opts(p)
    p.add_argument("--out", type=Path, default=None, help="metrics JSON (default: next to --load)")
    p.add_argument("--split", choices=["val", "all"], default="val")
    p = _add(sub, "export", "export", "export a checkpoint to ONNX with its model card")
    _common(p)
    _load_opts(p)
    p.add_argument("--outdir", type=Path, default=Path("export"))
    p.add_argument("--formats", default="onnx", help="comma list: onnx, int8")
    p.add_argument("--name", default="resonance-default")
    p = _add(sub, "onnx-eval", "onnx_eval", "check ONNX parity with torch and time both")
    _common(p)
    p.add_argument("--onnx", type=Path, default=Path("export"), help=".onnx file or folder")
    _load_opts(p)
    p.add_argument("--timeit", action="store_true")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--batch", type=int, default=None, help="time one batch size (default 1, 16)")
    p = _add(sub, "index", "index", "embed the cached library and build a FAISS index")
    _common(p)
    _load_opts(p)
    p.add_argument("--out_dir", type=Path, default=Path("catalog"))
    library_train.register(sub)
    p = _add(sub, "corpus", "corpus", "build the development corpus (see trainer/corpus)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``resonance-train``."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["corpus"]:
        from trainer.corpus.cli import main as corpus_main

        return int(corpus_main(raw[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(raw)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    from trainer import commands

    handler: Callable[[argparse.Namespace], int] = getattr(commands, args.handler)
    try:
        return handler(args)
    except ResonanceError as exc:
        print(f"resonance-train: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("resonance-train: interrupted (run again to resume from last.pt)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
