"""Retrieval quality of the shipped model against a hand-crafted baseline.

Over the validation part of the development corpus (``trainer.corpus``; tracks the
training never saw), for each system (the shipped model, a random-weights model of
the same architecture, MFCC+chroma+tempo statistics):

* excerpt -> track: 10 s excerpts at seeded random offsets, clean and degraded like
  a phone recording (reverb, 150-5000 Hz, 15 dB SNR, 64 kbps MP3), matched segment to
  segment against whole tracks: Recall@1/5/20, MRR;
* version identification: each rendition of a music21 piece queries all other
  tracks (mean of its segment vectors): mAP, P@1;
* same-source neighbourhood: real recordings, label = Debian package: P@10;
* the seed's PRF table for the model: no PRF / PRF n=5 / PRF n=5 + MMR d=0.3.

Run: ``python -m benchmarks.bench_quality --corpus data/corpus
[--model resources/models/default] [--system random=DIR] [--max-tracks N]``
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import retrieval as rt
from benchmarks.baseline import Baseline, segment_statistics
from benchmarks.results import machine, update_section
from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.features import Segments, extract_features, segment_features
from engine.model import Embedder, default_model_dir
from engine.rerank import MMR, PRF
from trainer.degrade import phone_recording

EXCERPT_S = 10.0
BASELINE = "hand-crafted (MFCC+chroma+tempo)"


@dataclass
class SystemData:
    """Vectors one system produced for the database and the queries."""

    db: list[np.ndarray] = field(default_factory=list)  # per track: (segments, d)
    queries: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"clean": [],
                                                                          "degraded": []})


def excerpts(y: np.ndarray, sr: int, n: int, seed: int) -> list[np.ndarray]:
    """``n`` excerpts of ``EXCERPT_S`` seconds at seeded random offsets."""
    rng = np.random.default_rng(seed)
    length = int(EXCERPT_S * sr)
    if y.size <= length:
        return [y] * n
    return [y[s : s + length] for s in rng.integers(0, y.size - length, size=n)]


def collect(tracks: list[dict], root: Path, embedders: dict[str, Embedder], *,
            config: FeatureConfig, n_excerpts: int, max_segments: int
            ) -> tuple[dict[str, SystemData], dict[str, list]]:
    """Decode every track once; embed its segments and its (degraded) excerpts."""
    data = {name: SystemData() for name in [*embedders, BASELINE]}
    raw_stats: dict[str, list] = {"db": [], "clean": [], "degraded": []}

    def add(kind: str, segs: Segments) -> None:
        for name, emb in embedders.items():
            vecs = emb.embed(segs).fused
            (data[name].db.append(vecs) if kind == "db"
             else data[name].queries[kind].append(vecs))
        raw_stats[kind].append(segment_statistics(segs))

    for i, track in enumerate(tracks):
        y = load_audio(root / track["path"], sr=config.sr)
        add("db", segment_features(extract_features(y, config=config), config=config,
                                   max_segments=max_segments))
        for j, clip in enumerate(excerpts(y, config.sr, n_excerpts, seed=i)):
            add("clean", segment_features(extract_features(clip, config=config), config=config))
            noisy = phone_recording(clip, config.sr, seed=1000 * i + j)
            add("degraded", segment_features(extract_features(noisy, config=config),
                                             config=config))
        if sys.stdout.isatty():
            print(f"\r{i + 1}/{len(tracks)} tracks", end="", flush=True)
        elif (i + 1) % 100 == 0 or i + 1 == len(tracks):
            print(f"{i + 1}/{len(tracks)} tracks", flush=True)
    if sys.stdout.isatty():
        print()
    return data, raw_stats


def fit_baseline(data: dict[str, SystemData], raw: dict[str, list]) -> None:
    """Turn the baseline's raw statistics into standardised vectors."""
    model = Baseline.fit(raw["db"])
    data[BASELINE].db = [model.vectors(b) for b in raw["db"]]
    for kind in ("clean", "degraded"):
        data[BASELINE].queries[kind] = [model.vectors(b) for b in raw[kind]]


def excerpt_metrics(sd: SystemData, n_excerpts: int, *, groups: np.ndarray | None = None,
                    rerank: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
                    ) -> dict[str, dict[str, float]]:
    """Recall@1/5/20 and MRR of excerpt -> track, clean and degraded.

    With ``groups``, also ``piece R@1``: rank 1 is the track or another version of it
    (how many rank-1 misses are sibling renditions).
    """
    db = np.concatenate(sd.db)
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(sd.db)])
    out = {}
    for kind, queries in sd.queries.items():
        ranks, piece_hits = [], []
        for q_index, q in enumerate(queries):
            order = rt.rank_tracks_by_segments(q, db, owner, len(sd.db))
            if rerank is not None:
                order = rerank(q, order)
            track = q_index // n_excerpts
            truth = np.zeros(len(sd.db), bool)
            truth[track] = True
            ranks.append(rt.first_hit(order, truth))
            if groups is not None:
                piece_hits.append(groups[order[0]] == groups[track])
        out[kind] = rt.recall_mrr(ranks)
        if groups is not None:
            out[kind]["piece R@1"] = float(np.mean(piece_hits))
    return out


def prf_reranker(sd: SystemData, *, n: int, diversity: float
                 ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The engine's PRF (and MMR) applied on track vectors after the first search."""
    tracks = rt.unit(np.stack([v.mean(axis=0) for v in sd.db]))
    db = np.concatenate(sd.db)
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(sd.db)])

    def rerank(q: np.ndarray, order: np.ndarray) -> np.ndarray:
        query = rt.unit(q.mean(axis=0))
        queries = q
        if n:
            query = PRF(n=n).refine(query, tracks[order[:n]])
            queries = np.vstack([q, query[None]])
        scores = rt.track_scores(queries, db, owner, len(sd.db))
        order = np.argsort(-scores, kind="stable")
        if diversity > 0:  # MMR over the top 50, relevance = the same segment scores
            top = order[:50]
            picked = MMR(diversity=diversity).rerank(scores[top], tracks[top], k=20)
            order = np.concatenate([top[picked], np.setdiff1d(order, top[picked],
                                                              assume_unique=True)])
        return order
    return rerank


def track_level(sd: SystemData, tracks: list[dict], *, kind: str, label: str,
                by_label: bool = False) -> dict:
    """Leave-one-out retrieval among tracks of ``kind``, relevance by ``label``.

    With ``by_label``, also ``"by label"``: P@10 of each label's queries.
    """
    idx = [i for i, t in enumerate(tracks) if t["kind"] == kind]
    if len(idx) < 2:
        return {}
    vecs = rt.unit(np.stack([sd.db[i].mean(axis=0) for i in idx]))
    labels = np.array([tracks[i][label] for i in idx])
    out: dict = rt.leave_one_out(vecs, labels)
    if by_label:
        out["by label"] = rt.precision_by_label(vecs, labels)
    return out


def evaluate(data: dict[str, SystemData], tracks: list[dict], n_excerpts: int
             ) -> dict[str, dict]:
    """Every metric of every system, plus the model's PRF table."""
    results: dict[str, dict] = {}
    groups = np.array([t["group"] for t in tracks])
    for name, sd in data.items():
        results[name] = {
            "excerpt": excerpt_metrics(sd, n_excerpts, groups=groups),
            "versions": track_level(sd, tracks, kind="rendition", label="group"),
            "same_source": track_level(sd, tracks, kind="recording", label="source",
                                       by_label=True),
        }
    if "model" in data:
        sd = data["model"]
        results["model"]["prf"] = {
            "no PRF": results["model"]["excerpt"],
            "PRF n=5": excerpt_metrics(sd, n_excerpts, rerank=prf_reranker(sd, n=5,
                                                                            diversity=0.0)),
            "PRF n=5 + MMR d=0.3": excerpt_metrics(
                sd, n_excerpts, rerank=prf_reranker(sd, n=5, diversity=0.3)),
        }
    return results


def _fmt(m: dict, key: str) -> str:
    return f"{m[key]:.3f}" if key in m else "-"


def report(results: dict[str, dict], *, tracks: list[dict], n_excerpts: int, seconds: float,
           command: str) -> str:
    """Markdown section for RESULTS.md."""
    n_rec = sum(t["kind"] == "recording" for t in tracks)
    lines = [
        "## Retrieval quality (`python -m benchmarks.bench_quality`)", "",
        f"Validation part of the development corpus: {len(tracks)} tracks ({n_rec} real "
        f"recordings, {len(tracks) - n_rec} renditions), {n_excerpts} excerpts of "
        f"{EXCERPT_S:.0f} s per track. {seconds / 60:.1f} min on {machine()}.",
        f"Command: `{command}`", "",
        "| system | clean R@1 | clean R@5 | clean MRR | degraded R@1 | degraded R@5 | "
        "degraded R@20 | degraded MRR | versions mAP | versions P@1 | same-source P@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        c, d = r["excerpt"]["clean"], r["excerpt"]["degraded"]
        lines.append(f"| {name} | {_fmt(c, 'R@1')} | {_fmt(c, 'R@5')} | {_fmt(c, 'MRR')} | "
                     f"{_fmt(d, 'R@1')} | {_fmt(d, 'R@5')} | {_fmt(d, 'R@20')} | "
                     f"{_fmt(d, 'MRR')} | {_fmt(r['versions'], 'mAP')} | "
                     f"{_fmt(r['versions'], 'P@1')} | {_fmt(r['same_source'], 'P@10')} |")
    lines += ["", "Rank 1 is the excerpt's track *or another version of the same piece* "
              "(piece R@1), clean / degraded: " + ", ".join(
                  f"{name} {_fmt(r['excerpt']['clean'], 'piece R@1')} / "
                  f"{_fmt(r['excerpt']['degraded'], 'piece R@1')}"
                  for name, r in results.items())]
    sources = next((r["same_source"] for r in results.values() if r["same_source"]), {})
    if sources:
        lines += ["", f"Same-source P@10 per package ({sources['queries']} queries; a perfect "
                  f"ranking scores {sources['P@10 ceiling']:.3f}, as packages with fewer than "
                  "11 validation recordings cannot fill a top 10):", "",
                  "| system | " + " | ".join(sources["by label"]) + " |",
                  "|---|" + "---:|" * len(sources["by label"])]
        for name, r in results.items():
            per = r["same_source"].get("by label", {})
            lines.append(f"| {name} | " + " | ".join(f"{per.get(s, float('nan')):.2f}"
                                                     for s in sources["by label"]) + " |")
    if "prf" in results.get("model", {}):
        lines += ["", "PRF table (model, excerpt -> track):", "",
                  "| setting | clean R@1 | clean R@5 | degraded R@1 | degraded R@5 | "
                  "degraded MRR |", "|---|---:|---:|---:|---:|---:|"]
        for setting, m in results["model"]["prf"].items():
            c, d = m["clean"], m["degraded"]
            lines.append(f"| {setting} | {_fmt(c, 'R@1')} | {_fmt(c, 'R@5')} | "
                         f"{_fmt(d, 'R@1')} | {_fmt(d, 'R@5')} | {_fmt(d, 'MRR')} |")
    return "\n".join(lines) + "\n"


def random_model(cache: Path) -> Path:
    """Export (once) the shipped recipe's architecture with random initial weights."""
    out = cache / "random_model"
    if not (out / "card.json").is_file():
        import torch

        from trainer.checkpoint import new_model
        from trainer.config import load_config
        from trainer.export import export_folder

        torch.manual_seed(0)
        cfg = load_config(Path(__file__).resolve().parents[1] / "trainer" / "configs"
                          / "default_model.yaml")
        export_folder(new_model(cfg).eval(), cfg, out, name="random-weights",
                      training={"note": "untrained: random initial weights",
                                "stem": [cfg.model.stem_freq, cfg.model.stem_time]})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print and store the table and the raw JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: shipped)")
    parser.add_argument("--system", action="append", default=[],
                        help="NAME=MODEL_DIR: another model to compare (e.g. random=DIR)")
    parser.add_argument("--random", action="store_true",
                        help="also score a random-weights model of the shipped architecture "
                        "(built with the trainer, needs the train extra)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--excerpts", type=int, default=2, help="excerpts per track")
    parser.add_argument("--max-segments", type=int, default=16, help="database segments/track")
    parser.add_argument("--max-tracks", type=int, default=None,
                        help="a seeded random sample of this many tracks (default: all)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/out/quality.json"))
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--record-card", action="store_true",
                        help="store the model's figures in its card.json (metrics.bench_quality)")
    args = parser.parse_args(argv)
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))
    tracks = [t for t in manifest["tracks"] if t["split"] == args.split]
    if args.max_tracks is not None and args.max_tracks < len(tracks):
        keep = np.random.default_rng(0).choice(len(tracks), args.max_tracks, replace=False)
        tracks = [tracks[i] for i in sorted(keep)]
    embedders = {"model": Embedder(args.model or default_model_dir(), threads=0)}
    if args.random:
        embedders["random weights"] = Embedder(random_model(Path("benchmarks/_cache")), threads=0)
    for spec in args.system:
        name, _, folder = spec.partition("=")
        embedders[name] = Embedder(Path(folder), threads=0)
    configs = {e.config for e in embedders.values()}
    if len(configs) != 1:
        raise SystemExit("all compared models must share one feature configuration")
    started = time.perf_counter()
    data, raw = collect(tracks, args.corpus, embedders, config=configs.pop(),
                        n_excerpts=args.excerpts, max_segments=args.max_segments)
    fit_baseline(data, raw)
    results = evaluate(data, tracks, args.excerpts)
    seconds = time.perf_counter() - started
    command = "python -m benchmarks.bench_quality " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    text = report(results, tracks=tracks, n_excerpts=args.excerpts, seconds=seconds,
                  command=command.strip())
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if not args.no_write:
        update_section("quality", text)
    if args.record_card:
        record_card(args.model or default_model_dir(), results["model"], tracks=len(tracks),
                    command=command.strip())
    return 0


def record_card(folder: Path, figures: dict, *, tracks: int, command: str) -> None:
    """Write the model's benchmark figures into its model card."""
    path = Path(folder) / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card.setdefault("metrics", {})["bench_quality"] = {
        "tracks": tracks, "command": command, "date": time.strftime("%Y-%m-%d"), **figures}
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
