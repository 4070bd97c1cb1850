"""Cross-validating the timbre graph's recipe on the training part alone: members and gain.

How many seeds the shipped "sounds alike" graph averages (``resonance-train timbre
--members``) and how much its searches listen to it (``--gain``) were chosen here, so
that nothing about them was chosen on the validation part. The training sources (a
Debian package's soundtrack, a module package, an LMMS author) are split into ``--folds``
folds; for each fold, ``--seeds`` timbre graphs are trained on the other folds'
recordings from the feature cache (as ``resonance-train timbre`` trains them, with the
recipe's ``--recording_weight``), and the held-out recordings are ranked as the engine
ranks a library for a track seed (:func:`engine.search.track_scores`: the shipped
model's fused, harmony and rhythm vectors and version prints, the graph's timbre
vectors, the timbre weight multiplied by each gain). The figure is same-source P@10 on
the held-out fold, averaged over the folds. The shipped model has seen these recordings
(it learned to recognise each one), so its columns look better here than on unseen music:
if anything the gain's benefit is understated.

    python -m benchmarks.bench_timbre_cv --corpus data/corpus --cache_dir cache \\
        --out runs/timbre-cv --folds 3 --seeds 3 --gains 1,2,3,4,6,10

(about 6 CPU minutes per graph: 9 for the command above, 1.5 h on 2 cores; trained graphs
and the held-out vectors are kept in ``--out``, so a second run only evaluates.) Other
recipe fields are cross-validated the same way, each in its own ``--out``, e.g.
``--seeds 1 --gains 4 --recipe steps=750,sources=24`` (:class:`trainer.timbre.TimbreRecipe`).
Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import retrieval as rt
from benchmarks.bench_quality import model_vectors
from benchmarks.bench_versions import pair_scores
from engine.analysis import SEGMENTS_PER_TRACK, mean_vector
from engine.audio import load_audio
from engine.index import normalise
from engine.model import Embedder, default_model_dir
from engine.search import track_scores
from engine.timbre import pooled_mel
from engine.versions import version_print
from engine.windowed import selected_segments

COLUMNS = ("fused", "timbre", "harmony", "rhythm")


def source_folds(sources: Sequence[str], folds: int, *, seed: int = 123) -> dict[str, int]:
    """Each source's fold: the sorted sources in a seeded order, dealt out in turn."""
    names = sorted(set(sources))
    order = np.random.default_rng(seed).permutation(len(names))
    return {names[j]: k % folds for k, j in enumerate(order)}


def held_out_tracks(corpus: Path, embedder: Embedder, out: Path, stem: tuple[int, int]
                    ) -> dict[str, np.ndarray]:
    """The training part's real recordings (no renditions) as the engine stores them:
    each column's track vector, the version print, the pooled mel of the stored segments;
    cached in ``out / "tracks.npz"``."""
    path = out / "tracks.npz"
    if path.is_file():
        with np.load(path) as saved:
            return dict(saved)
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    tracks = [t for t in manifest["tracks"] if t["split"] == "train" and t["kind"] != "rendition"]
    config = embedder.config
    columns: dict[str, list[np.ndarray]] = {c: [] for c in COLUMNS}
    prints, pooled = [], []
    for i, t in enumerate(tracks):
        y = load_audio(corpus / t["path"], sr=config.sr)
        segs = selected_segments(y, config=config, max_segments=SEGMENTS_PER_TRACK)
        for c, v in model_vectors(embedder, segs)[2].items():
            columns[c].append(v)
        prints.append(version_print(y, config=config))
        pooled.append(pooled_mel(segs.mel, stem))
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(tracks)} training recordings", flush=True)
    data = {"source": np.array([t["source"] for t in tracks]),
            "print_frames": np.array([p.shape[1] for p in prints]),
            "prints": np.concatenate(prints, axis=1),
            "pooled_segments": np.array([len(p) for p in pooled]),
            "pooled": np.concatenate(pooled),
            **{f"column/{c}": np.stack(v) for c, v in columns.items()}}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def split_rows(flat: np.ndarray, counts: np.ndarray, axis: int = 0) -> list[np.ndarray]:
    """``flat`` cut into consecutive pieces of ``counts`` along ``axis``."""
    return np.split(flat, np.cumsum(counts)[:-1], axis=axis)


def fold_versions(prints: list[np.ndarray]) -> np.ndarray:
    """The fold's version scores of every pair ``(n, n)`` (diagonal 0), computed once for
    all the systems compared on it."""
    versions = pair_scores(prints)
    np.fill_diagonal(versions, 0.0)
    return versions


def fold_p10(columns: dict[str, np.ndarray], timbre: np.ndarray, versions: np.ndarray,
             sources: np.ndarray, gains: Sequence[float]) -> dict[str, float]:
    """Same-source P@10 of one held-out fold: the timbre vectors alone, and ranked as the
    engine ranks with the timbre weight multiplied by each of ``gains`` (``versions``:
    :func:`fold_versions`)."""
    n = len(sources)
    library = {**columns, "timbre": timbre}
    out = {"alone": rt.neighbour_metrics(timbre @ timbre.T, sources)[0]["P@10"]}
    for gain in gains:
        sims = np.zeros((n, n), np.float32)
        for i in range(n):
            seed = {c: v[i] for c, v in library.items()}
            s, b, _ = track_scores(seed, library, (gain, 1.0, 1.0), exclude=np.arange(n) == i,
                                version_scores=lambda rows, i=i: versions[i, rows])
            sims[i] = s + b
        out[f"gain {gain:g}"] = rt.neighbour_metrics(sims, sources)[0]["P@10"]
    return out


def main_branch(timbre: np.ndarray, main_dim: int | None) -> np.ndarray:
    """Unit rows of the main graph's own timbre branch: a mixed timbre column's front
    ``main_dim`` part (the card's; the rest is a timbre graph, which saw every training
    recording), the whole column when the model has no mix (``None``)."""
    return normalise(timbre if main_dim is None else timbre[:, :main_dim])


def graph_vectors(net: Any, pooled: list[np.ndarray]) -> np.ndarray:
    """Track vectors ``(len(pooled), dim)`` of a timbre network (torch) from each track's
    pooled segments, as the engine stores them (the mean of the segments' vectors)."""
    import torch

    net.eval()
    flat = torch.from_numpy(np.concatenate(pooled).astype(np.float32))
    with torch.no_grad():
        rows = np.concatenate([net(flat[a: a + 256]).numpy()
                               for a in range(0, len(flat), 256)])
    return np.stack([mean_vector(v) for v in split_rows(rows, [len(p) for p in pooled])])


def recipe_of(base: Any, overrides: str) -> Any:
    """``base`` (a recipe dataclass) with ``field=value`` pairs (comma separated) applied,
    each value converted to the field's type; an unknown field is a ``SystemExit``."""
    fields = sorted(f.name for f in dataclasses.fields(base))
    changes: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in overrides.split(","))):
        name, _, value = pair.partition("=")
        if name not in fields or not value:
            raise SystemExit(f"--recipe: {pair!r} is not field=value of {fields}")
        default = getattr(base, name)
        changes[name] = value if default is None else type(default)(value)
    return dataclasses.replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    """Train what is missing, evaluate every fold, print the table."""
    import torch

    from trainer.cache import layout_of, store_of
    from trainer.config import load_config
    from trainer.timbre import (
        TimbreData,
        TimbreEnsemble,
        TimbreNet,
        TimbreRecipe,
        timbre_data,
        train_timbre,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--config", type=Path, default=Path("trainer/configs/timbre.yaml"))
    parser.add_argument("--cache_dir", type=Path, default=Path("cache"))
    parser.add_argument("--out", type=Path, default=Path("runs/timbre-cv"))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--gains", default="1,2,3,4,6,10")
    parser.add_argument("--recording_weight", type=float, default=0.5)
    parser.add_argument("--recipe", default="",
                        help="other recipe fields, e.g. steps=750,temperature=0.2")
    args = parser.parse_args(argv)
    gains = [float(g) for g in args.gains.split(",")]
    started = time.perf_counter()
    cfg = load_config(args.config)
    layout = layout_of(cfg)
    data = timbre_data(store_of(cfg, args.cache_dir))
    folds = source_folds(data.sources, args.folds)
    recipe = recipe_of(TimbreRecipe(recording_weight=args.recording_weight), args.recipe)
    window = cfg.features.segment_frames // layout.stem_time
    nets: dict[tuple[int, int], TimbreNet] = {}
    for fold in range(args.folds):
        keep = [i for i, s in enumerate(data.sources) if folds[s] != fold]
        part = TimbreData([data.mels[i] for i in keep], [data.sources[i] for i in keep],
                          [data.songs[i] for i in keep])
        for seed in range(args.seeds):
            path = args.out / f"fold{fold}_seed{seed}.pt"
            if not path.is_file():
                print(f"[cv] fold {fold}, seed {seed}: {len(keep)} recordings", flush=True)
                net, _ = train_timbre(part, dataclasses.replace(recipe, seed=seed),
                                      window=window, log=lambda _: None)
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(net.state_dict(), path)
            net = TimbreNet(data.mels[0].shape[0], channels=recipe.channels, dim=recipe.dim,
                            hidden=recipe.hidden, dropout=recipe.dropout)
            net.load_state_dict(torch.load(path))
            nets[fold, seed] = net
    embedder = Embedder(default_model_dir())
    tracks = held_out_tracks(args.corpus, embedder, args.out,
                             (layout.stem_freq, layout.stem_time))
    card = embedder.card
    main_dim = card.timbre.get("main_dim") if card.timbre_mix else None
    sources = tracks["source"]
    prints = split_rows(tracks["prints"], tracks["print_frames"], axis=1)
    pooled = split_rows(tracks["pooled"], tracks["pooled_segments"])
    table: dict[str, list[dict[str, float]]] = {}
    for fold in range(args.folds):
        rows = np.flatnonzero([folds.get(str(s), -1) == fold for s in sources])
        columns = {c: normalise(tracks[f"column/{c}"][rows]) for c in COLUMNS}
        versions = fold_versions([prints[i] for i in rows])
        held_out = [pooled[i] for i in rows]
        systems = {"shipped model's timbre branch": main_branch(
            tracks["column/timbre"][rows], main_dim)}
        for members in range(1, args.seeds + 1):
            ensemble = TimbreEnsemble([nets[fold, s] for s in range(members)])
            systems[f"{members} seed{'s' if members > 1 else ''}"] = graph_vectors(
                ensemble, held_out)
        for s in range(1, args.seeds):  # each seed alone: how far one run's luck goes
            systems[f"1 seed (seed {s})"] = graph_vectors(nets[fold, s], held_out)
        for name, timbre in systems.items():
            table.setdefault(name, []).append(
                fold_p10(columns, timbre, versions, sources[rows], gains))
        print(f"[cv] fold {fold}: {len(rows)} held-out recordings evaluated", flush=True)
    keys = ["alone", *(f"gain {g:g}" for g in gains)]
    print(f"\nSame-source P@10 on the held-out fold, mean of {args.folds} folds "
          f"({time.perf_counter() - started:.0f} s)\n")
    print("| timbre vectors | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, per_fold in table.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([f[k] for f in per_fold]):.3f}"
                                          for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
