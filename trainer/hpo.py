"""Optuna hyper-parameter search (SPEC section 3, stage *search*) and ``refine --topn``.

This is the only module that sees an ``optuna.Trial``: it maps a trial onto a
:class:`~trainer.config.TrainConfig` (:func:`suggest`), runs a short *proxy* training
that reports the validation monitor (``early_stopping.monitor``) every epoch
(pruning bad trials with a median pruner), and writes every trial to
``runs/best/hpo.json``. :func:`refine_top` retrains the N best settings fully
and keeps the best checkpoint.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.config import load_yaml
from trainer.cache import FeatureStore
from trainer.checkpoint import CKPT_FILE
from trainer.config import TrainConfig
from trainer.errors import TrainerError
from trainer.train import fit, resolve_monitor

HPO_FILE = "hpo.json"
_FIELDS = {"lr", "batch_identities", "temperature", "weight_decay", "fusion_mode",
           "views_per_song", "margin", "aux_weight", "loss"}


def load_space(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read ``search_space.yaml`` and check every entry."""
    space = load_yaml(path)
    for name, spec in space.items():
        if name not in _FIELDS:
            raise TrainerError(f"search space: {name!r} is not a tunable setting {_FIELDS}")
        kind = spec.get("type")
        if kind in ("loguniform", "uniform", "int"):
            if not spec.get("low", 0) < spec.get("high", 0):
                raise TrainerError(f"search space: {name} needs low < high")
        elif kind != "categorical" or not spec.get("choices"):
            raise TrainerError(f"search space: {name} has unknown type {kind!r}")
    return space


def suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one value per search-space entry from an ``optuna.Trial``."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif kind == "int":
            params[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]))
        else:
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                               log=kind == "loguniform")
    return params


def proxy_config(config: TrainConfig, params: Mapping[str, Any], *,
                 epochs: int) -> TrainConfig:
    """A short trial configuration: ``params`` applied, ``epochs`` epochs, brief warm-up."""
    cfg = config.with_overrides(**params)
    return cfg.with_overrides(epochs=epochs, warmup_epochs=min(cfg.warmup_epochs,
                                                               max(1, epochs // 5)))


def run_search(config: TrainConfig, store: FeatureStore, *, space_path: str | Path,
               runs_dir: str | Path, n_trials: int = 20, proxy_epochs: int = 8,
               device: str = "auto", seed: int = 0, timeout_s: float | None = None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the study; returns (and writes) the ``hpo.json`` document."""
    import optuna

    space = load_space(space_path)
    runs = Path(runs_dir)
    config = resolve_monitor(config, store, log)  # said once, not at every trial
    monitor = config.early_stopping.monitor
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        cfg = proxy_config(config, params, epochs=proxy_epochs)

        def report(epoch: int, metrics: dict[str, float]) -> None:
            trial.report(float(metrics.get(monitor, 0.0)), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = fit(cfg, store, runs / "trials" / f"trial{trial.number:03d}", device=device,
                     resume=False, on_epoch=report, log=log)
        log(f"[search] trial {trial.number} {monitor}={result.best_metric:.4f} {params}")
        return result.best_metric

    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    doc = _study_document(study, proxy_epochs, monitor)
    target = runs / "best" / HPO_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    log(f"[search] best {monitor}={doc['best_value']} params={doc['best_params']} -> {target}")
    return doc


def _study_document(study: Any, proxy_epochs: int, monitor: str) -> dict[str, Any]:
    trials = [{"number": t.number, "state": t.state.name, "value": t.value,
               "params": t.params} for t in study.trials]
    done = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if not done:
        raise TrainerError("no HPO trial completed; check the data and the search space")
    best = max(done, key=lambda t: t["value"])
    return {"monitor": monitor, "proxy_epochs": proxy_epochs, "best_value": best["value"],
            "best_params": best["params"], "trials": trials}


def top_params(hpo_path: str | Path, n: int) -> list[dict[str, Any]]:
    """The parameter sets of the ``n`` best completed trials in ``hpo.json``."""
    try:
        doc = json.loads(Path(hpo_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainerError(f"cannot read {hpo_path}: {exc}; run `search` first") from exc
    done = [t for t in doc["trials"] if t["state"] == "COMPLETE" and t["value"] is not None]
    done.sort(key=lambda t: t["value"], reverse=True)
    return [t["params"] for t in done[:n]]


def refine_top(config: TrainConfig, store: FeatureStore, *, runs_dir: str | Path,
               topn: int, device: str = "auto",
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Retrain the ``topn`` best HPO settings fully; copy the best to ``runs/best``."""
    runs = Path(runs_dir)
    config = resolve_monitor(config, store, log)
    monitor = config.early_stopping.monitor
    candidates = top_params(runs / "best" / HPO_FILE, topn)
    results: list[dict[str, Any]] = []
    for rank, params in enumerate(candidates):
        result = fit(config.with_overrides(**params), store, runs / "refine" / f"rank{rank}",
                     device=device, log=log)
        results.append({"rank": rank, "params": params, "monitor": monitor,
                        "value": result.best_metric, "checkpoint": str(result.checkpoint)})
        log(f"[refine] rank {rank}: {monitor}={result.best_metric:.4f}")
    best = max(results, key=lambda r: r["value"])
    target = runs / "best" / CKPT_FILE
    shutil.copyfile(best["checkpoint"], target)
    summary = {"chosen": best, "candidates": results}
    (runs / "best" / "refine.json").write_text(json.dumps(summary, indent=2) + "\n",
                                               encoding="utf-8")
    log(f"[refine] kept rank {best['rank']} ({monitor}={best['value']:.4f}) -> {target}")
    return summary
