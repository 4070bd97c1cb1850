"""Retrieval quality of the catalog, end to end, on the development corpus (val split).

The validation tracks of ``data/corpus`` (DATA.md sources) are scanned with every
segment embedded, then scored in two tasks for several *segments per track* N (the
scan embeds N evenly spread segments; this chooses N):

* **excerpt -> track**: a degraded 10-second excerpt of every track (random place,
  noise at 20 dB SNR, -6 dB gain, 8 kHz low-pass) is matched segment-to-segment
  against all tracks (Recall@1/5/20, MRR);
* **version -> versions**: every rendition queries the catalog with its track vector
  (mean of its N segments); other renditions of the same piece are relevant
  (Recall@1/5/20 = a relevant track in the top k, MRR, mAP). This task is also run
  with PRF on/off and MMR on/off (the seed's table), with the engine's PRF and MMR.

Run: ``python -m benchmarks.bench_catalog_quality [--model DIR] [--corpus data/corpus]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from engine.features import select_starts
from engine.index import normalise
from engine.library import default_workers
from engine.model import Embedder, default_model_dir
from engine.rerank import MMR, PRF
from engine.search import weighted

ROOT = Path(__file__).resolve().parents[1]
CHOICES = (1, 2, 4, 8, 16, None)


def scan_all_segments(tracks: list[dict], corpus: Path, model: Path, tmp: Path):
    """Scan the tracks with every segment embedded; returns the store and path -> id."""
    from engine.scan import ScanOptions, scan
    from engine.store import Store

    music = tmp / "music"
    music.mkdir()
    for i, t in enumerate(tracks):
        os.symlink((corpus / t["path"]).resolve(), music / f"{i:04d}.ogg")
    store = Store(tmp / "library.db")
    options = ScanOptions(model_dir=model, fingerprint=Embedder(model).fingerprint,
                          workers=default_workers(), max_segments=None)
    for _ in scan(store, roots=[music], options=options):
        pass
    rows = store.query("SELECT id, path, status, error FROM tracks")
    bad = [(r["path"], r["error"]) for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} corpus files failed to scan, e.g. {bad[0]}")
    ids = {int(Path(r["path"]).stem): int(r["id"]) for r in rows}
    return store, [ids[i] for i in range(len(tracks))]


def degrade(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Noise at 20 dB SNR, -6 dB, and a crude 8 kHz low-pass (moving average)."""
    from scipy.signal import butter, sosfilt

    power = float(np.mean(y ** 2)) + 1e-12
    y = y + rng.standard_normal(y.size).astype(np.float32) * np.sqrt(power / 100)
    if sr > 16000:
        y = sosfilt(butter(6, 8000, fs=sr, output="sos"), y).astype(np.float32)
    return (0.5 * y).astype(np.float32)


def subset(segs: dict[str, np.ndarray], n: int | None) -> dict[str, np.ndarray]:
    """The N evenly spread segments the scan would embed."""
    keep = select_starts(np.arange(len(segs["starts"])), n)
    return {k: v[keep] for k, v in segs.items()}


def rank_metrics(ranks: list[list[int]], n_relevant: list[int]) -> dict[str, float]:
    """Recall@1/5/20 (any relevant in top k), MRR and mAP from 1-based relevant ranks."""
    if not ranks:
        return dict.fromkeys(("R@1", "R@5", "R@20", "MRR", "mAP"), float("nan"))
    out = {f"R@{k}": float(np.mean([bool(r) and min(r) <= k for r in ranks])) for k in (1, 5, 20)}
    out["MRR"] = float(np.mean([1 / min(r) if r else 0.0 for r in ranks]))
    aps = [np.mean([(i + 1) / rank for i, rank in enumerate(sorted(r))]) * len(r) / m if r
           else 0.0 for r, m in zip(ranks, n_relevant, strict=True)]
    out["mAP"] = float(np.mean(aps))
    return out


def excerpt_seeds(tracks, corpus, embedder) -> list[np.ndarray]:
    """Fused segment embeddings of one degraded 10 s excerpt per track."""
    from engine.audio import load_audio
    from engine.seed import seed_from_audio

    rng = np.random.default_rng(7)
    seeds = []
    for t in tracks:
        start = float(rng.uniform(0, max(0.0, t["duration"] - 10)))
        y = load_audio(corpus / t["path"], sr=embedder.config.sr, offset=start, duration=10)
        seed = seed_from_audio(degrade(y, embedder.config.sr, rng), embedder.config.sr, embedder)
        seeds.append(seed.segments["fused"])
    return seeds


def excerpt_task(seeds, ids, stored, n) -> dict[str, float]:
    """Excerpts matched segment-to-segment against N segments per track."""
    bank = [subset(stored[i], n)["fused"] for i in ids]
    ranks = []
    for pos, seed in enumerate(seeds):
        scores = np.array([float((b @ seed.T).max()) for b in bank])
        ranks.append([int((scores > scores[pos]).sum()) + 1])
    return rank_metrics(ranks, [1] * len(ranks))


def track_space(ids, stored, n) -> np.ndarray:
    """Weighted track vectors (mean of N segments), one row per track."""
    means = {i: {k: normalise(v.mean(0))[0] for k, v in subset(stored[i], n).items()
                 if k != "starts"} for i in ids}
    return weighted({k: np.stack([means[i][k] for i in ids]) for k in means[ids[0]]},
                    (1.0, 1.0, 1.0))


def version_task(tracks, ids, stored, n, *, prf=0, diversity=0.0,
                 query_n: int | None = 0) -> dict[str, float]:
    """Renditions query track vectors (mean of N segments); same piece = relevant.

    ``query_n`` (when not 0) is the number of segments of the querying track, as for an
    external file analysed with fewer segments than the library.
    """
    space = track_space(ids, stored, n)
    queries = space if query_n == 0 else track_space(ids, stored, query_n)
    groups = [t["group"] for t in tracks]
    ranks, n_rel = [], []
    for q, t in enumerate(tracks):
        if t["kind"] != "rendition":
            continue
        scores = space @ queries[q]
        scores[q] = -np.inf
        order = np.argsort(-scores, kind="stable")[:-1]
        if prf:
            query = PRF(prf).refine(queries[q], space[order])
            scores = space @ query
            scores[q] = -np.inf
            order = np.argsort(-scores, kind="stable")[:-1]
        if diversity:
            top = order[:50]
            order = top[MMR(diversity).rerank(scores[top], space[top], 50)]
        relevant = {i for i, g in enumerate(groups) if g == t["group"] and i != q}
        ranks.append([r + 1 for r, i in enumerate(order) if i in relevant])
        n_rel.append(len(relevant))
    return rank_metrics(ranks, n_rel)


def main() -> None:
    """Parse the command line and run the chosen measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    model = args.model or default_model_dir()
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))
    tracks = [t for t in manifest["tracks"]
              if t["split"] == "val" and (args.corpus / t["path"]).is_file()][: args.limit]
    embedder = Embedder(model, threads=0)
    with tempfile.TemporaryDirectory() as tmp:
        store, ids = scan_all_segments(tracks, args.corpus, model, Path(tmp))
        stored = store.segment_vectors(ids)
        store.close()
    print(f"model {embedder.card.name} ({model}); {len(tracks)} val tracks, "
          f"{sum(t['kind'] == 'rendition' for t in tracks)} renditions")
    print("| N segments | excerpt R@1 | R@5 | R@20 | MRR | version R@1 | R@5 | MRR | mAP |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    seeds = excerpt_seeds(tracks, args.corpus, embedder)
    for n in CHOICES:
        e = excerpt_task(seeds, ids, stored, n)
        v = version_task(tracks, ids, stored, n)
        print(f"| {n or 'all'} | {e['R@1']:.3f} | {e['R@5']:.3f} | {e['R@20']:.3f} | "
              f"{e['MRR']:.3f} | {v['R@1']:.3f} | {v['R@5']:.3f} | {v['MRR']:.3f} | "
              f"{v['mAP']:.3f} |", flush=True)
    print("\nversion task at the default N, with PRF (feedback items) and MMR (diversity d):")
    print("| PRF | MMR | R@1 | R@5 | R@20 | MRR | mAP |\n|---|---|---:|---:|---:|---:|---:|")
    from engine.analysis import SEGMENTS_PER_TRACK

    for prf, d in ((0, 0.0), (1, 0.0), (2, 0.0), (5, 0.0), (0, 0.3), (0, 0.6), (2, 0.3),
                   (5, 0.3)):
        v = version_task(tracks, ids, stored, SEGMENTS_PER_TRACK, prf=prf, diversity=d)
        print(f"| {prf or 'off'} | {d or 'off'} | {v['R@1']:.3f} | {v['R@5']:.3f} | "
              f"{v['R@20']:.3f} | {v['MRR']:.3f} | {v['mAP']:.3f} |")
    print("\nexternal full-track seeds analysed with fewer segments than the library (8):")
    print("| seed segments | R@1 | R@5 | R@20 | MRR | mAP |\n|---:|---:|---:|---:|---:|---:|")
    for query_n in (2, 4, 8):
        v = version_task(tracks, ids, stored, SEGMENTS_PER_TRACK, query_n=query_n)
        print(f"| {query_n} | {v['R@1']:.3f} | {v['R@5']:.3f} | {v['R@20']:.3f} | "
              f"{v['MRR']:.3f} | {v['mAP']:.3f} |")


if __name__ == "__main__":
    main()
