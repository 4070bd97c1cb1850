"""``resonance-train library``: train a model on the user's own library.

What the app's "Train on my library..." runs in a separate process. It reads the
analysed tracks of a Resonance library, holds out a fraction of them, fills a feature
cache, trains with the shipped model's recipe (self-supervised: segments of one track
are positives), exports ONNX + card, and scores the new model *and the library's
current model* on the same held-out tracks, so the app switches only to a better one.

Progress goes to stdout, as plain lines or (``--progress jsonl``) as
``{"progress": 0..1, "message": "..."}`` JSON lines.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.library import default_workers
from trainer.config import TrainConfig, load_config
from trainer.errors import TrainerError
from trainer.model import EmbeddingNet

MIN_TRACKS = 12
RECIPE = Path(__file__).with_name("configs") / "default_model.yaml"
Report = Callable[[float, str], None]


@dataclass(frozen=True)
class LibraryJob:
    """What ``resonance-train library`` was asked to do (its command-line options)."""

    library: Path
    out: Path
    config: Path | None = None  # the shipped model's recipe
    epochs: int = 20
    steps_per_epoch: int = 25
    batch_identities: int = 32
    val_fraction: float = 0.15
    workers: int | None = None
    device: str = "auto"
    progress: str = "text"


def reporter(mode: str) -> Report:
    """A progress printer: JSON lines for the app, plain text for people."""
    def report(fraction: float, message: str) -> None:
        if mode == "jsonl":
            print(json.dumps({"progress": round(min(max(fraction, 0.0), 1.0), 4),
                              "message": message}), flush=True)
        else:
            print(f"[library {fraction * 100:5.1f}%] {message}", flush=True)
    return report


def library_tracks(library: Path) -> tuple[list[str], Path]:
    """Paths of the library's analysed tracks, and the folder of its current model."""
    from engine.library import Library

    with Library.open(library) as lib:
        paths = [str(t.path) for t in lib.tracks() if t.status == "ok" and Path(t.path).is_file()]
        return paths, lib.model_dir


def write_manifest(paths: list[str], folder: Path, val_fraction: float) -> Path:
    """A corpus manifest of the library: each track its own song, a hashed held-out part.

    The held-out tracks are the ``val_fraction`` (at least 3) with the lowest hash of
    their path, so a rerun holds out the same tracks.
    """
    def rank(path: str) -> bytes:
        return hashlib.sha1(path.encode()).digest()

    n_val = max(3, round(val_fraction * len(paths)))
    if len(paths) - n_val < 8:
        raise TrainerError(f"too few tracks to train and check ({len(paths)} analysed); "
                           f"scan at least {MIN_TRACKS} tracks first")
    held_out = set(sorted(paths, key=rank)[:n_val])
    tracks = [{"path": p, "song": p, "group": p, "source": "library", "kind": "recording",
               "split": "val" if p in held_out else "train"} for p in paths]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"version": 1, "tracks": tracks}, indent=1),
                                          encoding="utf-8")
    return folder


def train_on_library(job: LibraryJob) -> int:
    """Run the whole library-training job; the exit code."""
    from trainer.cache import SQLiteCache, cache_path, fill, layout_of
    from trainer.data import discover_tracks

    report = reporter(job.progress)
    paths, current_model = library_tracks(job.library)
    if len(paths) < MIN_TRACKS:
        raise TrainerError(f"the library has {len(paths)} analysed tracks; scan at least "
                           f"{MIN_TRACKS} before training")
    work = job.out.parent / f".{job.out.name}.work"
    root = write_manifest(paths, work / "corpus", job.val_fraction)
    cfg = load_config(job.config or RECIPE).with_overrides(
        root=str(root), epochs=job.epochs, steps_per_epoch=job.steps_per_epoch,
        batch_identities=job.batch_identities, cache_backend="sqlite")
    report(0.0, f"{len(paths)} tracks; computing features")
    tracks = discover_tracks(root)
    cache = SQLiteCache(cache_path(work / "cache", layout_of(cfg)), layout_of(cfg))
    workers = job.workers or default_workers()
    for start in range(0, len(tracks), 16):
        fill(cache, tracks[start : start + 16], workers=workers, log=lambda _m: None)
        done = min(start + 16, len(tracks))
        report(0.3 * done / len(tracks), f"features {done}/{len(tracks)}")
    cache.close()
    model = _train(cfg, work, job.device, report)
    _export_and_check(model, cfg, work, job, current_model, report)
    return 0


def _train(cfg: TrainConfig, work: Path, device: str, report: Report) -> EmbeddingNet:
    from trainer.cache import store_of
    from trainer.train import Trainer

    trainer = Trainer(cfg, store_of(cfg, work / "cache"), work / "run", device=device,
                      log=lambda _m: None)
    trainer.resume()

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        monitor = trainer.config.early_stopping.monitor  # a measured one, or ""
        shown = f": {monitor} {metrics.get(monitor, 0.0):.3f}" if monitor else ""
        report(0.3 + 0.6 * (epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}{shown}")

    trainer.fit(on_epoch=on_epoch)
    return trainer.model.cpu().eval()


def _to_trunk_layout(model: EmbeddingNet, cfg: TrainConfig, folder: Path) -> None:
    """Rewrite the exported folder's card for the trunk layout (scans run the convolutions
    once per stretch of segments); its per-segment ``model.onnx`` stays beside it. A
    feature configuration without a centred standardisation window keeps the
    per-segment layout."""
    from engine.model import load_card
    from trainer.trunk_export import export_trunk_folder

    source = load_card(folder)
    try:
        export_trunk_folder(model, cfg.features, folder, source=source, name=source.name)
    except ValueError:
        return


def _export_and_check(model: EmbeddingNet, cfg: TrainConfig, work: Path, job: LibraryJob,
                      current_model: Path, report: Report) -> None:
    import dataclasses

    from engine.model import load_card, write_card
    from trainer.backend import load_model
    from trainer.cache import store_of
    from trainer.evaluate import evaluate_store
    from trainer.export import export_folder
    from trainer.timbre import carry_timbre
    from trainer.train import split_store

    report(0.92, "exporting the model")
    export_folder(model, cfg, job.out, name=f"library-{time.strftime('%Y%m%d-%H%M%S')}",
                  training={"library": str(job.library), "stem": [cfg.model.stem_freq,
                                                                   cfg.model.stem_time]})
    _to_trunk_layout(model, cfg, job.out)
    carry_timbre(current_model, job.out)
    report(0.95, "scoring the new and the current model on held-out tracks")
    store = store_of(cfg, work / "cache")
    held_out = split_store(store, cfg)[1]
    new = evaluate_store(store, held_out, load_model(job.out, backend="onnx").embed)
    heldout: dict[str, Any] = {"songs": len(held_out), **new}
    try:
        old_model = load_model(current_model, backend="onnx")
        if old_model.features != cfg.features or tuple(old_model.stem) != (
                cfg.model.stem_freq, cfg.model.stem_time):
            raise TrainerError("the current model uses another feature configuration")
        old = evaluate_store(store, held_out, old_model.embed)
        heldout.update({"baseline_recall@5": old["recall@5"], "baseline_map": old["map"],
                        "baseline_model": old_model.info["card"]["sha256"]})
    except (TrainerError, KeyError, ValueError) as exc:
        heldout["baseline_error"] = str(exc)
    card = load_card(job.out)
    write_card(dataclasses.replace(card, metrics={**card.metrics, "heldout": heldout}),
               job.out)
    base = heldout.get("baseline_recall@5")
    report(1.0, f"held-out recall@5: new {new['recall@5']:.3f}"
                + (f", current {base:.3f}" if base is not None else ""))
