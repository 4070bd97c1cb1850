"""``resonance-train``: the seed's pipeline stages as sub-commands.

precompute -> search -> refine -> evaluate -> export / onnx-eval -> index, plus
``train --mode search|refine`` (the seed's spelling), ``library`` (train on a Resonance
library), ``trunk`` (convert an export to the trunk layout), ``timbre`` (train the
"sounds alike" graph and attach it to a model) and ``corpus`` (the
development corpus builder). Each sub-command's parser
names the function that runs it; that function turns the options into typed values
for :mod:`trainer.commands` (imported late: it loads PyTorch). Errors are one line on
stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli import dispatch

if TYPE_CHECKING:
    from trainer.backend import LoadedModel
    from trainer.config import TrainConfig

Handler = Callable[[argparse.Namespace], int]
DEVICES = ["auto", "cpu", "cuda", "mps"]
#: The seed's spellings of the sub-commands.
ALIASES = {"precompute": ["features"], "onnx-eval": ["onnx_eval"], "index": ["index_build"]}


# -- from options to typed values -------------------------------------------------------
def _config(args: argparse.Namespace) -> TrainConfig:
    """``--config`` (default: the shipped ``base.yaml``) with the command line's overrides."""
    from trainer.config import load_config

    cfg = load_config(args.config)
    changes: dict[str, object] = {}
    if getattr(args, "root", None):
        changes["root"] = str(args.root)
    for key in ("epochs", "batch_identities", "steps_per_epoch"):
        if getattr(args, key, None) is not None:
            changes[key] = getattr(args, key)
    if getattr(args, "init_onnx", None) is not None:
        changes["init_onnx"] = str(args.init_onnx)
    return cfg.with_overrides(**changes) if changes else cfg


def _loaded(args: argparse.Namespace) -> tuple[LoadedModel, TrainConfig]:
    """``--load`` opened, and the configuration to read the cache with."""
    from trainer.backend import load_model
    from trainer.commands import run_config

    loaded = load_model(args.load, backend=args.backend, device=args.device)
    given = _config(args) if args.config is not None else None
    return loaded, run_config(loaded, given, str(args.root) if args.root else None)


# -- handlers -----------------------------------------------------------------------------
def _precompute(args: argparse.Namespace) -> int:
    from trainer.commands import precompute

    return precompute(_config(args), args.cache_dir, workers=args.workers)


def _train(args: argparse.Namespace) -> int:
    from trainer.commands import refine, search

    cfg = _config(args)
    if args.mode == "search":
        return search(cfg, args.cache_dir, args.runs_dir, space=args.space, trials=args.trials,
                      proxy_epochs=args.proxy_epochs, device=args.device,
                      timeout_s=args.timeout_s)
    return refine(cfg, args.cache_dir, args.runs_dir, device=args.device, topn=args.topn,
                  fresh=args.fresh)


def _evaluate(args: argparse.Namespace) -> int:
    from trainer.commands import evaluate

    loaded, cfg = _loaded(args)
    folder = args.load if args.load.is_dir() else args.load.parent
    return evaluate(loaded, cfg, args.cache_dir, args.out or folder / "eval.json",
                    split=args.split)


def _export(args: argparse.Namespace) -> int:
    from trainer.commands import export

    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    return export(args.load, args.outdir, args.cache_dir, formats=formats, name=args.name,
                  root=str(args.root) if args.root else None)


def _onnx_eval(args: argparse.Namespace) -> int:
    from trainer.commands import onnx_eval

    return onnx_eval(args.onnx, args.load, timeit=args.timeit, runs=args.runs, batch=args.batch)


def _index(args: argparse.Namespace) -> int:
    from trainer.commands import index

    loaded, cfg = _loaded(args)
    return index(loaded, cfg, args.cache_dir, args.out_dir)


def _trunk(args: argparse.Namespace) -> int:
    from trainer.commands import trunk

    return trunk(args.source, args.out, calibration=args.calibration_audio or [],
                 check=args.check_audio or [], tracks=args.tracks, name=args.name)


def _timbre(args: argparse.Namespace) -> int:
    from trainer.commands import timbre

    if args.from_model is not None:
        from trainer.commands import reattach

        return reattach(args.from_model, base=args.base, out=args.out, name=args.name,
                        gain=args.gain, mix=args.mix, without_versions=args.mix_without_versions)
    changes = {k: getattr(args, k) for k in ("steps", "seed", "members", "recording_weight",
                                              "distill_weight", "distill_targets")
               if getattr(args, k) is not None}
    return timbre(_config(args), args.cache_dir, base=args.base, out=args.out,
                  recipe_changes=changes, name=args.name, gain=args.gain, mix=args.mix,
                  without_versions=args.mix_without_versions)


def _library(args: argparse.Namespace) -> int:
    from trainer.library_train import LibraryJob, train_on_library

    return train_on_library(LibraryJob(
        library=args.library, out=args.out, config=args.config, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_identities=args.batch_identities,
        val_fraction=args.val_fraction, workers=args.workers, device=args.device,
        progress=args.progress))


# -- the parser ---------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="base.yaml (default: the shipped resources/config/base.yaml)")
    p.add_argument("--cache_dir", type=Path, default=Path("cache"), help="feature cache folder")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--root", default=None, help="override data.root (audio folder or corpus)")


def _training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs_dir", type=Path, default=Path("runs"), help="where runs are written")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--batch_identities", type=int, default=None,
                   help="override train.batch_identities")
    p.add_argument("--steps_per_epoch", type=int, default=None, help="cap steps per epoch")
    p.add_argument("--fresh", action="store_true", help="ignore last.pt (do not resume)")
    p.add_argument("--init_onnx", type=Path, default=None,
                   help="override train.init_onnx: fine-tune this fp32 model.onnx")


def _load_opts(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--load", type=Path, required=required,
                   help="checkpoint (.pt or run folder) or exported model folder / .onnx")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])


def _add(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler,
         help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text,
                       aliases=ALIASES.get(name, []))
    p.set_defaults(handler=handler)
    return p


def _add_library(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _add(sub, "library", _library,
             "train a model on a Resonance library and score it against the library's "
             "current model on held-out tracks (the app's \"Train on my library...\")")
    p.add_argument("--library", type=Path, required=True, help="library folder (or its .db)")
    p.add_argument("--out", type=Path, required=True, help="folder for the new model")
    p.add_argument("--config", type=Path, default=None,
                   help="training recipe (default: trainer/configs/default_model.yaml)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps_per_epoch", type=int, default=25)
    p.add_argument("--batch_identities", type=int, default=32)
    p.add_argument("--val_fraction", type=float, default=0.15)
    p.add_argument("--workers", type=int, default=None, help="feature processes")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--progress", choices=["text", "jsonl"], default="text")


def _add_trunk(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _add(sub, "trunk", _trunk,
             "convert an exported per-segment model to the trunk layout (the convolutions "
             "run once over consecutive segments), with an INT8 trunk calibrated on real audio")
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="exported model folder (card.json + fp32 model.onnx), or a trunk-layout "
                        "folder whose fp32 trunk is to be quantised again")
    p.add_argument("--out", type=Path, required=True, help="folder for the trunk model")
    p.add_argument("--calibration-audio", type=Path, nargs="+", default=None,
                   help="audio files or folders of real music to calibrate INT8 on "
                        "(without: the trunk stays fp32)")
    p.add_argument("--check-audio", type=Path, nargs="+", default=None,
                   help="audio to compare INT8 with fp32 on (default: the calibration audio)")
    p.add_argument("--tracks", type=int, default=8,
                   help="most files taken from each audio list (spread evenly)")
    p.add_argument("--name", default=None, help="model name (default: <source name>-trunk)")


def _add_timbre(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _add(sub, "timbre", _timbre,
             "train the timbre graph (\"sounds alike\") on the cache's real training "
             "recordings and attach it to a model")
    _common(p)
    p.add_argument("--base", type=Path, required=True,
                   help="model folder whose other graphs the new model keeps")
    p.add_argument("--out", type=Path, required=True, help="folder for the new model")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 250)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--members", type=int, default=None,
                   help="networks trained with successive seeds, shipped as one graph "
                   "(default 1)")
    p.add_argument("--recording_weight", type=float, default=None,
                   help="share of the loss with only the same recording as positive")
    p.add_argument("--gain", type=float, default=1.0,
                   help="how much more a search listens to the timbre graph than to the "
                   "other branches at neutral weights (default 1)")
    p.add_argument("--mix", type=float, default=0.0,
                   help="share of the base model's own timbre vector kept beside the timbre "
                   "graph's in the timbre similarity (default 0: the graph's alone)")
    p.add_argument("--mix-without-versions", type=float, default=None,
                   help="with --mix: the share of the base model's timbre a search listens "
                   "to for a seed with no likely version of itself in the library "
                   "(default: --mix for every seed)")
    p.add_argument("--from", dest="from_model", type=Path, default=None,
                   help="take the timbre graph of this model folder instead of training one "
                   "(to attach it at another --gain or --mix)")
    p.add_argument("--distill_weight", type=float, default=None,
                   help="weight of distillation from a teacher's track vectors (0: off)")
    p.add_argument("--distill_targets", default=None,
                   help="teacher targets .npz (`make teacher`; docs/teacher.md)")
    p.add_argument("--name", default=None, help="model name (default: <base name>-timbre)")


def build_parser() -> argparse.ArgumentParser:
    """The full ``resonance-train`` argument parser."""
    parser = argparse.ArgumentParser(prog="resonance-train",
                                     description="Train, evaluate and export Resonance models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = _add(sub, "precompute", _precompute, "decode audio and fill the feature cache")
    _common(p)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    for name, mode in (("search", "search"), ("refine", "refine"), ("train", None)):
        p = _add(sub, name, _train, f"{'train: ' if mode is None else ''}"
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
    p = _add(sub, "evaluate", _evaluate, "Recall@K, MRR and mAP on the validation songs")
    _common(p)
    _load_opts(p)
    p.add_argument("--out", type=Path, default=None, help="metrics JSON (default: next to --load)")
    p.add_argument("--split", choices=["val", "test", "all"], default="val",
                   help="songs to score: validation, the test part (nothing is tuned on it), "
                        "or every cached song")
    p = _add(sub, "export", _export, "export a checkpoint to ONNX with its model card")
    _common(p)
    _load_opts(p)
    p.add_argument("--outdir", type=Path, default=Path("export"))
    p.add_argument("--formats", default="onnx", help="comma list: onnx, int8")
    p.add_argument("--name", default="resonance-default")
    p = _add(sub, "onnx-eval", _onnx_eval, "check ONNX parity with torch and time both")
    _common(p)
    p.add_argument("--onnx", type=Path, default=Path("export"), help=".onnx file or folder")
    _load_opts(p)
    p.add_argument("--timeit", action="store_true")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--batch", type=int, default=None, help="time one batch size (default 1, 16)")
    p = _add(sub, "index", _index,
             "embed the cached songs into an engine catalog (FAISS indexes, atomic swap)")
    _common(p)
    _load_opts(p)
    p.add_argument("--out_dir", type=Path, default=Path("catalog"))
    _add_library(sub)
    _add_trunk(sub)
    _add_timbre(sub)
    sub.add_parser("corpus", help="build the development corpus (see trainer/corpus)",
                   add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``resonance-train``."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["corpus"]:
        from trainer.corpus.cli import main as corpus_main

        return int(corpus_main(raw[1:]) or 0)
    return dispatch(build_parser(), raw, prog="resonance-train",
                    interrupted="interrupted (run again to resume from last.pt)")


if __name__ == "__main__":
    sys.exit(main())
