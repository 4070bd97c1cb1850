"""Handlers of the ``resonance-train`` sub-commands (parsing lives in :mod:`trainer.cli`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trainer.backend import LoadedModel, detect_backend, load_model
from trainer.cache import (
    FeatureStore,
    Layout,
    SQLiteCache,
    cache_path,
    fill,
    layout_for,
    open_store,
    original_entries,
)
from trainer.config import TrainConfig, load_config
from trainer.data import discover_tracks
from trainer.errors import TrainerError
from trainer.evaluate import embed_songs, evaluate_store, format_table, write_metrics


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """``--config`` with the command line's overrides applied."""
    cfg = load_config(args.config)
    changes: dict[str, Any] = {}
    if getattr(args, "root", None):
        changes["root"] = str(args.root)
    for key in ("epochs", "batch_identities", "steps_per_epoch"):
        if getattr(args, key, None) is not None:
            changes[key] = getattr(args, key)
    return cfg.with_overrides(**changes) if changes else cfg


def layout_of(cfg: TrainConfig) -> Layout:
    """The cache layout a configuration trains on."""
    return layout_for(cfg.features, stem_freq=cfg.model.stem_freq,
                      stem_time=cfg.model.stem_time, max_seconds=cfg.max_seconds,
                      variants=cfg.variants)


def store_of(cfg: TrainConfig, cache_dir: Path, layout: Layout | None = None) -> FeatureStore:
    """Open the feature cache as ``cfg.cache_*`` asks."""
    tracks = None
    if cfg.cache_backend == "ram" and not cache_path(cache_dir, layout or layout_of(cfg)).is_file():
        tracks = discover_tracks(cfg.root, scan_root=cfg.scan_root, pairs_json=cfg.pairs_json)
    return open_store(cache_dir, layout or layout_of(cfg), backend=cfg.cache_backend,
                      preload_ram=cfg.preload_ram, reuse=cfg.reuse_ram_across_trials,
                      tracks=tracks)


def precompute(args: argparse.Namespace) -> int:
    """Fill ``<cache_dir>/features/<fingerprint>.db`` from the data root."""
    cfg = config_from_args(args)
    tracks = discover_tracks(cfg.root, scan_root=cfg.scan_root, pairs_json=cfg.pairs_json)
    cache = SQLiteCache(cache_path(args.cache_dir, layout_of(cfg)), layout_of(cfg))
    workers = args.workers or os.cpu_count() or 1
    print(f"[precompute] {len(tracks)} tracks from {cfg.root} -> {cache.path} "
          f"({workers} workers)")
    added = fill(cache, tracks, workers=workers)
    print(f"[precompute] added {added}; cache holds {len(cache.entries())} songs, "
          f"{len(cache.errors())} unreadable")
    cache.close()
    return 0


def train(args: argparse.Namespace) -> int:
    """``search`` (Optuna), or ``refine`` (full training, optionally of the top-N)."""
    from trainer import hpo
    from trainer.train import fit

    cfg = config_from_args(args)
    store = store_of(cfg, args.cache_dir)
    if args.mode == "search":
        from engine.config import default_config_dir

        space = args.space or default_config_dir() / "search_space.yaml"
        hpo.run_search(cfg, store, space_path=space, runs_dir=args.runs_dir,
                       n_trials=args.trials, proxy_epochs=args.proxy_epochs,
                       device=args.device, timeout_s=args.timeout_s)
        return 0
    if args.topn:
        hpo.refine_top(cfg, store, runs_dir=args.runs_dir, topn=args.topn, device=args.device)
        return 0
    result = fit(cfg, store, args.runs_dir / "best", device=args.device, resume=not args.fresh)
    print(f"[train] best {cfg.early_stopping.monitor}={result.best_metric:.4f} at epoch "
          f"{result.best_epoch + 1} "
          f"-> {result.checkpoint}")
    return 0


def _eval_config(args: argparse.Namespace, loaded: LoadedModel) -> TrainConfig:
    """The run's own config (checkpoint, or card of an export) unless ``--config`` is given."""
    stored = loaded.info.get("config") or loaded.info.get("card", {}).get(
        "training", {}).get("config")
    if args.config is None and stored:
        cfg = TrainConfig.from_dict(stored)
        return cfg.with_overrides(root=str(args.root)) if args.root else cfg
    return config_from_args(args)


def _loaded_layout(loaded: LoadedModel, cfg: TrainConfig) -> Layout:
    from engine.config import FeatureConfig

    return layout_for(FeatureConfig.from_dict(loaded.features), stem_freq=loaded.stem[0],
                      stem_time=loaded.stem[1], max_seconds=cfg.max_seconds,
                      variants=cfg.variants)


def evaluate(args: argparse.Namespace) -> int:
    """Score ``--load`` on the validation songs; print a table and write JSON."""
    from trainer.train import split_store

    loaded = load_model(args.load, backend=args.backend, device=args.device)
    cfg = _eval_config(args, loaded)
    store = store_of(cfg, args.cache_dir, _loaded_layout(loaded, cfg))
    songs = original_entries(store) if args.split == "all" else split_store(store, cfg)[1]
    metrics = {"backend": loaded.backend, **evaluate_store(store, songs, loaded.embed)}
    print(format_table({k: v for k, v in metrics.items() if k != "backend"}))
    folder = args.load if args.load.is_dir() else args.load.parent
    print(f"[evaluate] wrote {write_metrics(metrics, args.out or folder / 'eval.json')}")
    return 0


def export(args: argparse.Namespace) -> int:
    """Export a torch checkpoint to ``--outdir`` (model.onnx + card.json).

    The card records the checkpoint's validation metrics, the ONNX parity report,
    the measured onnxruntime latency (one thread) and, when the feature cache is at
    hand, the exported model's own validation metrics (and the INT8 verdict).
    """
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.export import export_folder

    if detect_backend(args.load) != "torch":
        raise TrainerError("export needs a torch checkpoint for --load (runs/best or a .pt)")
    data = load_checkpoint(args.load)
    model, cfg = model_from_checkpoint(data)
    cfg = cfg.with_overrides(root=str(args.root)) if args.root else cfg
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not formats <= {"onnx", "int8"}:
        raise TrainerError(f"unknown --formats {sorted(formats)}; use onnx and/or int8")
    onnx_path, report = export_folder(model, cfg, args.outdir, name=args.name,
                                      training={**data.get("data", {}),
                                                **_run_summary(args.load, data)},
                                      metrics={"validation": data.get("metrics", {}),
                                               "best_epoch": data.get("epoch"),
                                               "protocol": PROTOCOL})
    worst = max(report[n]["max_abs"] for n in ("embedding", "timbre", "harmony", "rhythm"))
    print(f"[export] {onnx_path} (parity ok, max abs error {worst:.2e})")
    _card_measurements(args, cfg, model, Path(args.outdir), "int8" in formats)
    return 0


PROTOCOL = ("validation songs of the manifest split (split by group); segment-to-song "
            "retrieval with overlapping segments of the query's own song excluded, and version "
            "retrieval (other renditions of the piece); the same split chose the epoch "
            "(early stopping) and the HPO settings, so the figures are optimistic")


def _run_summary(load: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Epochs trained, and the HPO result when ``hpo.json`` lies beside the checkpoint."""
    folder = load if load.is_dir() else load.parent
    out: dict[str, Any] = {"epochs_trained": len(data.get("history", []))}
    hpo_file = folder / "hpo.json"
    if hpo_file.is_file():
        doc = json.loads(hpo_file.read_text(encoding="utf-8"))
        out["hpo"] = {"monitor": doc["monitor"], "best_value": doc["best_value"],
                      "best_params": doc["best_params"], "trials": len(doc["trials"]),
                      "proxy_epochs": doc["proxy_epochs"],
                      **({"note": doc["note"]} if "note" in doc else {})}
    return out


def _card_measurements(args: argparse.Namespace, cfg: TrainConfig, model: Any, outdir: Path,
                       int8: bool) -> None:
    import dataclasses

    from engine.model import load_card, write_card
    from trainer.export import MODEL_FILE, time_onnx
    from trainer.int8 import int8_stage, onnx_embed_fn
    from trainer.train import split_store

    extra: dict[str, Any] = {"latency_ms_per_segment_1_thread": {
        f"batch{b}": round(time_onnx(outdir / MODEL_FILE, cfg, batch=b, runs=20), 3)
        for b in (1, 16)}}
    try:
        store = store_of(cfg, args.cache_dir)
    except TrainerError as exc:
        print(f"[export] no validation of the ONNX model ({exc})")
        store = None
    if store is not None:
        val = split_store(store, cfg)[1] or original_entries(store)
        embed = onnx_embed_fn(outdir / MODEL_FILE, (cfg.model.stem_freq, cfg.model.stem_time))
        extra["validation_onnx"] = evaluate_store(store, val, embed)
        print(format_table(extra["validation_onnx"]))
    card = load_card(outdir)
    write_card(dataclasses.replace(card, metrics={**card.metrics, **extra}), outdir)
    print(f"[export] latency {extra['latency_ms_per_segment_1_thread']} ms/segment (1 thread)")
    if int8 and store is not None:
        print(json.dumps(int8_stage(model, cfg, outdir, store), indent=2))


def onnx_eval(args: argparse.Namespace) -> int:
    """Parity of ``--onnx`` against the torch checkpoint ``--load``; ``--timeit`` timings."""
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.export import MODEL_FILE, example_inputs, time_backends, validate_onnx

    onnx_path = args.onnx / MODEL_FILE if args.onnx.is_dir() else args.onnx
    if not onnx_path.is_file():
        raise TrainerError(f"no ONNX model at {onnx_path}; run `resonance-train export` first")
    model, cfg = model_from_checkpoint(load_checkpoint(args.load))
    report: dict[str, Any] = {"parity": validate_onnx(model, onnx_path,
                                                      example_inputs(cfg, 4, seed=11))}
    for name in ("embedding", "timbre", "harmony", "rhythm"):
        r = report["parity"][name]
        print(f"{name:<10} MAE={r['mae']:.2e} max_abs={r['max_abs']:.2e} "
              f"cos_min={r['cosine_min']:.6f}")
    print(f"parity: {'OK' if report['parity']['ok'] else 'FAILED'}")
    if args.timeit:
        batches = (args.batch,) if args.batch else (1, 16)
        report["timing"] = time_backends(model, onnx_path, cfg, batches=batches, runs=args.runs)
        for b in batches:
            t = report["timing"][f"batch{b}"]
            print(f"batch {b:>3}: torch {t['torch_ms']:.2f} ms, onnxruntime {t['onnx_ms']:.2f} ms"
                  f" ({t['onnx_ms_per_segment']:.2f} ms/segment), speed-up {t['speedup']:.2f}x")
    (onnx_path.parent / "onnx_eval.json").write_text(json.dumps(report, indent=2) + "\n",
                                                     encoding="utf-8")
    return 0 if report["parity"]["ok"] else 1


def index(args: argparse.Namespace) -> int:
    """Embed every cached song; write ``index.faiss``, ``meta.json``, ``embeddings.npy``."""
    import faiss

    loaded = load_model(args.load, backend=args.backend, device=args.device)
    cfg = _eval_config(args, loaded)
    store = store_of(cfg, args.cache_dir, _loaded_layout(loaded, cfg))
    entries = original_entries(store)
    per_song, _ = embed_songs(store, entries, loaded.embed,
                              n_segments=cfg.features.segment.segments_per_song)
    vectors = np.stack([s.mean(axis=0) for s in per_song]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    idx = faiss.IndexFlatIP(vectors.shape[1])
    idx.add(vectors)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    faiss.write_index(idx, str(out / "index.faiss"))
    np.save(out / "embeddings.npy", vectors)
    meta = {"model": str(args.load), "backend": loaded.backend, "dim": int(vectors.shape[1]),
            "count": len(entries), "metric": "inner_product",
            "tracks": [{"id": i, "song": e.song, "path": e.path, "group": e.group}
                       for i, e in enumerate(entries)]}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"[index] {len(entries)} tracks, dim {vectors.shape[1]} -> {out}")
    return 0


def library(args: argparse.Namespace) -> int:
    """Train on a Resonance library (the app's "Train on my library...")."""
    from trainer.library_train import library as run

    return run(args)
