"""What the ``resonance-train`` sub-commands do, on typed values.

:mod:`trainer.cli` parses the command line and calls these; each returns the exit code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine.config import FeatureConfig
from engine.library import default_workers
from engine.model import OUTPUT_NAMES
from trainer.backend import LoadedModel, detect_backend
from trainer.cache import (
    Layout,
    SQLiteCache,
    cache_path,
    fill,
    layout_for,
    layout_of,
    original_entries,
    store_of,
)
from trainer.config import TrainConfig, load_config
from trainer.data import discover_tracks
from trainer.errors import TrainerError
from trainer.evaluate import embed_songs, evaluate_store, format_table, write_metrics
from trainer.model import EmbeddingNet

FORMATS = ("onnx", "int8")


def precompute(cfg: TrainConfig, cache_dir: Path, *, workers: int | None = None) -> int:
    """Fill ``<cache_dir>/features/<fingerprint>.db`` from the data root."""
    from trainer.distributed import ranks_from_env

    if ranks_from_env().active:
        raise TrainerError("precompute runs in one process (it uses every core); start it "
                           "without torchrun")
    tracks = discover_tracks(cfg.root, scan_root=cfg.scan_root, pairs_json=cfg.pairs_json)
    cache = SQLiteCache(cache_path(cache_dir, layout_of(cfg)), layout_of(cfg))
    workers = workers or default_workers()
    print(f"[precompute] {len(tracks)} tracks from {cfg.root} -> {cache.path} "
          f"({workers} workers)")
    added = fill(cache, tracks, workers=workers)
    print(f"[precompute] added {added}; cache holds {len(cache.entries())} songs, "
          f"{len(cache.errors())} unreadable")
    cache.close()
    return 0


def search(cfg: TrainConfig, cache_dir: Path, runs_dir: Path, *, space: Path | None,
           trials: int, proxy_epochs: int, device: str, timeout_s: float | None) -> int:
    """Optuna search over ``space`` (default: the shipped ``search_space.yaml``)."""
    from engine.config import default_config_dir
    from trainer.distributed import ranks_from_env
    from trainer.hpo import run_search

    if ranks_from_env().active:
        raise TrainerError("search runs in one process; start it without torchrun")
    run_search(cfg, store_of(cfg, cache_dir),
               space_path=space or default_config_dir() / "search_space.yaml",
               runs_dir=runs_dir, n_trials=trials, proxy_epochs=proxy_epochs, device=device,
               timeout_s=timeout_s)
    return 0


def refine(cfg: TrainConfig, cache_dir: Path, runs_dir: Path, *, device: str,
           topn: int = 0, fresh: bool = False) -> int:
    """Full training into ``runs_dir/best`` (resuming unless ``fresh``), or of the HPO top-N.

    Under ``torchrun --nproc_per_node N`` the N processes train together
    (:mod:`trainer.distributed`); rank 0 alone writes and prints.
    """
    from trainer.distributed import process_group, rank_device, ranks_from_env
    from trainer.hpo import refine_top
    from trainer.train import fit, resolve_device

    ranks = ranks_from_env()
    if topn and ranks.active:
        raise TrainerError("--topn runs in one process; start it without torchrun")
    store = store_of(cfg, cache_dir)
    if topn:
        refine_top(cfg, store, runs_dir=runs_dir, topn=topn, device=device)
        return 0
    with process_group(ranks, rank_device(resolve_device(device), ranks)):
        result = fit(cfg, store, runs_dir / "best", device=device, resume=not fresh,
                     ranks=ranks)
    if not ranks.main:
        return 0
    kept = (f"best {result.monitor}={result.best_metric:.4f} at" if result.monitor
            else "kept the last")
    print(f"[train] {kept} epoch {result.best_epoch + 1} -> {result.checkpoint}")
    return 0


def run_config(loaded: LoadedModel, given: TrainConfig | None, root: str | None
               ) -> TrainConfig:
    """``given``, else the run's own config (checkpoint, or an export's card), else
    the shipped ``base.yaml``; ``root`` replaces the data root of the last two."""
    if given is not None:
        return given
    stored = loaded.info.get("config") or loaded.info.get("card", {}).get(
        "training", {}).get("config")
    cfg = TrainConfig.from_dict(stored) if stored else load_config()
    return cfg.with_overrides(root=root) if root else cfg


def loaded_layout(loaded: LoadedModel, cfg: TrainConfig) -> Layout:
    """The cache layout a loaded model reads (its features, ``cfg``'s data settings)."""
    return layout_for(loaded.features, stem_freq=loaded.stem[0], stem_time=loaded.stem[1],
                      max_seconds=cfg.max_seconds, variants=cfg.variants)


def evaluate(loaded: LoadedModel, cfg: TrainConfig, cache_dir: Path, out: Path, *,
             split: str = "val") -> int:
    """Score ``loaded`` on the validation songs (or the ``test`` part, or ``all``); print a
    table, write JSON."""
    from trainer.train import split_store

    store = store_of(cfg, cache_dir, loaded_layout(loaded, cfg))
    songs = (original_entries(store) if split == "all" else split_store(store, cfg)[1]
             if split == "val" else [e for e in original_entries(store) if e.split == split])
    if not songs:
        raise TrainerError(f"the feature cache holds no {split} songs")
    scores = evaluate_store(store, songs, loaded.embed)
    print(format_table(scores))
    metrics = {"backend": loaded.backend, **scores}
    print(f"[evaluate] wrote {write_metrics(metrics, out)}")
    return 0


def export(load: Path, outdir: Path, cache_dir: Path, *, formats: set[str], name: str,
           root: str | None = None) -> int:
    """Export the torch checkpoint ``load`` to ``outdir`` (model.onnx + card.json).

    The card records the checkpoint's validation metrics, the ONNX parity report,
    the measured onnxruntime latency (one thread) and, when the feature cache is at
    hand, the exported model's own validation metrics (and the INT8 verdict).
    """
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.export import export_folder

    if not formats <= set(FORMATS):
        raise TrainerError(f"unknown --formats {sorted(formats)}; use onnx and/or int8")
    if detect_backend(load) != "torch":
        raise TrainerError("export needs a torch checkpoint for --load (runs/best or a .pt)")
    data = load_checkpoint(load)
    model, cfg = model_from_checkpoint(data)
    cfg = cfg.with_overrides(root=root) if root else cfg
    onnx_path, report = export_folder(model, cfg, outdir, name=name,
                                      training={**data.get("data", {}),
                                                **_run_summary(load, data)},
                                      metrics={"validation": data.get("metrics", {}),
                                               "best_epoch": data.get("epoch"),
                                               "protocol": PROTOCOL})
    worst = max(report[n]["max_abs"] for n in OUTPUT_NAMES)
    print(f"[export] {onnx_path} (parity ok, max abs error {worst:.2e})")
    _card_measurements(cfg, model, outdir, cache_dir, int8="int8" in formats)
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


def _card_measurements(cfg: TrainConfig, model: EmbeddingNet, outdir: Path, cache_dir: Path,
                       *, int8: bool) -> None:
    import dataclasses

    from engine.model import load_card, write_card
    from trainer.export import MODEL_FILE, time_onnx
    from trainer.int8 import int8_stage, onnx_embed_fn
    from trainer.train import split_store

    extra: dict[str, Any] = {"latency_ms_per_segment_1_thread": {
        f"batch{b}": round(time_onnx(outdir / MODEL_FILE, cfg, batch=b, runs=20), 3)
        for b in (1, 16)}}
    try:
        store = store_of(cfg, cache_dir)
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


def onnx_eval(onnx: Path, load: Path, *, timeit: bool = False, runs: int = 50,
              batch: int | None = None) -> int:
    """Parity of ``onnx`` against the torch checkpoint ``load``; with ``timeit``, timings
    at ``batch`` (default 1 and 16) over ``runs`` runs."""
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.export import MODEL_FILE, example_inputs, time_backends, validate_onnx

    onnx_path = onnx / MODEL_FILE if onnx.is_dir() else onnx
    if not onnx_path.is_file():
        raise TrainerError(f"no ONNX model at {onnx_path}; run `resonance-train export` first")
    model, cfg = model_from_checkpoint(load_checkpoint(load))
    report: dict[str, Any] = {"parity": validate_onnx(model, onnx_path,
                                                      example_inputs(cfg, 4, seed=11))}
    for name in OUTPUT_NAMES:
        r = report["parity"][name]
        print(f"{name:<10} MAE={r['mae']:.2e} max_abs={r['max_abs']:.2e} "
              f"cos_min={r['cosine_min']:.6f}")
    print(f"parity: {'OK' if report['parity']['ok'] else 'FAILED'}")
    if timeit:
        batches = (batch,) if batch else (1, 16)
        report["timing"] = time_backends(model, onnx_path, cfg, batches=batches, runs=runs)
        for b in batches:
            t = report["timing"][f"batch{b}"]
            print(f"batch {b:>3}: torch {t['torch_ms']:.2f} ms, onnxruntime {t['onnx_ms']:.2f} ms"
                  f" ({t['onnx_ms_per_segment']:.2f} ms/segment), speed-up {t['speedup']:.2f}x")
    (onnx_path.parent / "onnx_eval.json").write_text(json.dumps(report, indent=2) + "\n",
                                                     encoding="utf-8")
    return 0 if report["parity"]["ok"] else 1


def index(loaded: LoadedModel, cfg: TrainConfig, cache_dir: Path, out_dir: Path) -> int:
    """Embed every cached song into an engine catalog under ``out_dir``."""
    from trainer.song_index import write_song_index

    store = store_of(cfg, cache_dir, loaded_layout(loaded, cfg))
    entries = original_entries(store)
    per_song, _ = embed_songs(store, entries, loaded.embed,
                              n_segments=cfg.features.segment.segments_per_song)
    live = write_song_index(out_dir, entries, per_song, fingerprint=loaded.sha256)
    print(f"[index] {len(entries)} songs, {sum(len(s) for s in per_song)} segments, "
          f"dim {per_song[0].shape[1]} -> {live}")
    return 0


def audio_files(paths: list[Path], *, limit: int | None = None) -> list[Path]:
    """Audio files among ``paths`` (folders searched recursively), sorted; at most
    ``limit`` of them, spread evenly over the sorted list."""
    from engine.audio import AUDIO_EXTENSIONS

    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*")
                         if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        elif path.is_file():
            found.add(path)
        else:
            raise TrainerError(f"no audio file or folder at {path}")
    files = sorted(found)
    if limit is not None and len(files) > limit:
        files = [files[i] for i in sorted({round(i * (len(files) - 1) / max(limit - 1, 1))
                                           for i in range(limit)})]
    return files


def trunk(source: Path, out: Path, *, calibration: list[Path], check: list[Path],
          tracks: int, name: str | None = None) -> int:
    """Convert the per-segment model folder ``source`` (its fp32 ``model.onnx``) to the
    trunk layout in ``out``; with ``calibration`` audio, quantise the trunk to INT8 and
    keep it if it wins on the ``check`` audio (default: the calibration audio). A
    trunk-layout ``source`` keeps its graphs and card: its fp32 trunk is quantised again
    (``out``: the folder itself, or a copy of it)."""
    from engine.errors import ModelError
    from engine.model import load_card
    from trainer.export import MODEL_FILE
    from trainer.model import ModelConfig
    from trainer.onnx_weights import embedding_net_from_onnx
    from trainer.trunk_export import export_trunk_folder

    try:
        card = load_card(source)
    except ModelError as exc:
        raise TrainerError(f"--from: {exc}") from None
    if card.layout == "trunk":
        if not calibration:
            raise TrainerError(f"{source} already holds a trunk-layout model: give "
                               "--calibration-audio to quantise its fp32 trunk again")
        from trainer.trunk_export import TRUNK_FILE

        if not (source / TRUNK_FILE).is_file():
            raise TrainerError(f"no fp32 trunk at {source / TRUNK_FILE} (an INT8 trunk is "
                               "quantised again from its fp32 graph)")
        if out.resolve() != source.resolve():
            shutil.copytree(source, out, dirs_exist_ok=True)
        return _quantise_trunk(out, card.features, calibration, check, tracks)
    if card.layout != "windows":
        raise TrainerError(f"{source} holds a {card.layout}-layout model")
    fp32 = source / (card.model_file if card.precision == "fp32" else MODEL_FILE)
    if not fp32.is_file():
        raise TrainerError(f"no fp32 ONNX model at {fp32} (the trunk is converted from the "
                           "fp32 export, not from an INT8 file)")
    if "model" not in card.training:
        raise TrainerError(f"the card in {source} does not record the model configuration "
                           "(training.model)")
    net = embedding_net_from_onnx(fp32, ModelConfig.from_dict(card.training["model"]),
                                  card.features)
    trunk_card, parity = export_trunk_folder(net, card.features, out, source=card, name=name)
    print(f"[trunk] {out / trunk_card.model_file} + {out / trunk_card.head['file']} "
          f"(parity ok: trunk {parity['trunk']['ok']}, head {parity['head']['ok']})")
    if not calibration:
        print("[trunk] no --calibration-audio: the trunk stays fp32")
        return 0
    return _quantise_trunk(out, card.features, calibration, check, tracks)


def _quantise_trunk(out: Path, features: FeatureConfig, calibration: list[Path],
                    check: list[Path], tracks: int) -> int:
    """Quantise the trunk in ``out`` to INT8 (:func:`trainer.trunk_int8.quantize_trunk`)
    on ``tracks`` files of the ``calibration`` and ``check`` audio, and say how it did."""
    from trainer.trunk_int8 import quantize_trunk, track_features

    cal_files = audio_files(calibration, limit=tracks)
    check_files = audio_files(check, limit=tracks) if check else cal_files
    print(f"[trunk] INT8: calibrating on {len(cal_files)} tracks, checking on "
          f"{len(check_files)}")
    verdict = quantize_trunk(out, track_features(cal_files, features),
                             track_features(check_files, features),
                             audio={"calibration": [str(f) for f in cal_files],
                                    "check": [str(f) for f in check_files]})
    print(f"[trunk] INT8 {verdict['speedup']:.2f}x faster "
          f"({verdict['fp32_ms_per_track']:.1f} -> {verdict['int8_ms_per_track']:.1f} ms per "
          f"track, 1 thread), embedding cosine to fp32 mean {verdict['cosine_mean']:.4f} "
          f"min {verdict['cosine_min']:.4f}: "
          f"{'shipped' if verdict['ship_int8'] else 'not shipped (fp32 kept)'}")
    return 0


def timbre(cfg: TrainConfig, cache_dir: Path, *, base: Path, out: Path,
           recipe_changes: dict[str, Any], name: str | None = None, gain: float = 1.0,
           mix: float = 0.0, without_versions: float | None = None) -> int:
    """Train a timbre graph (:mod:`trainer.timbre`) on the cache's real training
    recordings and write ``base``'s model with it as its timbre branch into ``out``."""
    import dataclasses

    from engine.model import load_card
    from trainer.timbre import (
        TimbreRecipe,
        attach_timbre,
        timbre_base_dim,
        timbre_data,
        train_timbre,
    )

    # a base or --mix that cannot take the graph: before training
    timbre_base_dim(base, mix, without_versions)
    card = load_card(base)
    if card.features != cfg.features:
        raise TrainerError(f"the model in {base} reads other features than the config's; "
                           "the timbre graph reads the model's own")
    layout = layout_of(cfg)
    recipe = dataclasses.replace(TimbreRecipe(), **recipe_changes)
    window = recipe.window or cfg.features.segment_frames // layout.stem_time
    store = store_of(cfg, cache_dir)
    data = timbre_data(store)
    print(f"[timbre] {len(data.mels)} training recordings from {len(data.by_source)} sources "
          f"in {cache_path(cache_dir, layout)}")
    net, record = train_timbre(data, recipe, window=window)
    record["cache"] = cache_path(cache_dir, layout).name
    new = attach_timbre(base, out, net, window=window,
                        stem=(layout.stem_freq, layout.stem_time), record=record, name=name,
                        gain=gain, mix=mix, without_versions=without_versions)
    print(f"[timbre] {out / new.timbre['file']} written; {out / 'card.json'}: {new.name} "
          f"(parity max abs {new.timbre['parity']['timbre']['max_abs']:.1e})")
    return 0


def reattach(source: Path, *, base: Path, out: Path, name: str | None, gain: float,
             mix: float, without_versions: float | None = None) -> int:
    """``resonance-train timbre --from``: ``base``'s model with ``source``'s timbre graph
    (no training) at ``gain``, ``mix`` and ``without_versions``, written into ``out``."""
    from trainer.timbre import reattach_timbre

    new = reattach_timbre(source, base, out, name=name, gain=gain, mix=mix,
                          without_versions=without_versions)
    alone = "" if without_versions is None else f", {without_versions:g} without versions"
    print(f"[timbre] {out / 'card.json'}: {new.name}, the timbre graph of {source} "
          f"(gain {gain:g}, mix {mix:g}{alone})")
    return 0
