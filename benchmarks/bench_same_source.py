"""Same-source neighbourhoods in detail: what each representation gets, per package.

Over the real recordings of the validation part (label = Debian package), each
recording queries the others; P@10 per package and overall, for:

* the model's fused vector and each branch alone (mean of segment vectors);
* the fused vectors compared segment set to segment set (mean of each segment's best
  match, both ways) instead of by their means, centred on the recordings' mean, or
  with the spread of the segment vectors appended;
* the hand-crafted baseline, and each of its blocks alone (MFCC, chroma, tempo);
* the long-term average spectrum (a mastering and production fingerprint), and every
  representation above concatenated;
* a linear metric (shrinkage LDA) learned from the *training* recordings' packages and
  applied to these ones: does knowing other packages help tell new ones apart?

plus the P@10 of a perfect ranking (the ceiling) and how many hits the target needs.
Standardisation is fitted on these recordings (bench_quality fits the baseline's on
the whole validation part, so its figure here differs slightly); the LDA rows fit
theirs on the training recordings.

Run: ``python -m benchmarks.bench_same_source --corpus data/corpus
[--model DIR] [--system NAME=DIR]``
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from benchmarks import retrieval as rt
from benchmarks.baseline import Baseline, segment_statistics
from benchmarks.results import machine, update_section
from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.features import extract_features, segment_features
from engine.index import normalise
from engine.model import Embedder, default_model_dir

TARGET_GAIN = 0.10  # the target: same-source P@10 at least the baseline + 0.10


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Mean best-match similarity of two segment sets, averaged over both directions."""
    sims = a @ b.T
    return 0.5 * float(sims.max(axis=1).mean() + sims.max(axis=0).mean())


def p_at_10(sims: np.ndarray, labels: np.ndarray) -> tuple[float, dict[str, float]]:
    """Leave-one-out P@10 from a similarity matrix: overall and per label."""
    summary, per = rt.neighbour_metrics(sims, labels)
    return summary["P@10"], per


def _cosine(vectors: list[np.ndarray]) -> np.ndarray:
    v = normalise(np.stack(vectors))
    return v @ v.T


def long_term_spectrum(mel: np.ndarray, floor_db: float = 60.0) -> np.ndarray:
    """Mean log-mel profile (level removed) and per-band spread over the active frames."""
    active = mel[:, mel.max(axis=0) > mel.max() - floor_db]
    return np.concatenate([active.mean(axis=1) - active.mean(), active.std(axis=1)])


def transfer_lda(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray
                 ) -> np.ndarray:
    """Project ``test`` with a shrinkage LDA fitted to tell the training labels apart.

    The shrinkage is fixed at one half: there are fewer recordings than dimensions, and
    the figure hardly moves between 0.3 and 0.95.
    """
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.5)
    return lda.fit(train, train_labels).transform(test)


def track_blocks(described: list[tuple[dict, dict, np.ndarray]], keys: tuple[str, ...]
                 ) -> list[dict[str, np.ndarray]]:
    """Per recording, the named track-level blocks ``(1, d)`` in :class:`Baseline` form."""
    out = []
    for embeddings, stats, spectrum in described:
        blocks = {"model": embeddings["model"].fused.mean(axis=0), "spectrum": spectrum,
                  **{k: v.mean(axis=0) for k, v in stats.items()}}
        out.append({k: blocks[k][None] for k in keys})
    return out


def describe(path: Path, config: FeatureConfig, embedders: dict[str, Embedder], max_segments: int
             ) -> tuple[dict, dict, np.ndarray]:
    """One recording: each model's embeddings, the baseline's statistics, its spectrum."""
    features = extract_features(load_audio(path, sr=config.sr), config=config)
    segs = segment_features(features, config=config, max_segments=max_segments)
    return ({name: emb.embed(segs) for name, emb in embedders.items()},
            segment_statistics(segs), long_term_spectrum(features.mel))


def main(argv: list[str] | None = None) -> int:
    """Score every representation; print and store the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: shipped)")
    parser.add_argument("--system", action="append", default=[], help="NAME=MODEL_DIR")
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-segments", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bench_same_source " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))
    by_split = {split: [t for t in manifest["tracks"]
                        if t["split"] == split and t["kind"] == "recording"]
                for split in {args.split, "train"}}
    tracks = by_split[args.split]
    labels = np.array([t["source"] for t in tracks])
    models = {"model": Embedder(args.model or default_model_dir(), threads=0)}
    for spec in args.system:
        name, _, folder = spec.partition("=")
        models[name] = Embedder(Path(folder), threads=0)
    config = next(iter(models.values())).config
    described = {split: [describe(args.corpus / t["path"], config, models, args.max_segments)
                         for t in chosen] for split, chosen in by_split.items()}
    embedded = {name: [d[0][name] for d in described[args.split]] for name in models}
    raw = [d[1] for d in described[args.split]]

    rows: dict[str, tuple[float, dict[str, float]]] = {}
    base = Baseline.fit(raw)
    rows["hand-crafted (MFCC+chroma+tempo)"] = p_at_10(
        _cosine([base.vectors(r).mean(axis=0) for r in raw]), labels)
    for block in raw[0]:
        alone = Baseline.fit([{block: r[block]} for r in raw])
        rows[f"hand-crafted, {block} only"] = p_at_10(
            _cosine([alone.vectors({block: r[block]}).mean(axis=0) for r in raw]), labels)
    for name, embs in embedded.items():
        rows[f"{name}, fused"] = p_at_10(_cosine([e.fused.mean(axis=0) for e in embs]), labels)
        for branch in embs[0].branches:
            rows[f"{name}, {branch} only"] = p_at_10(
                _cosine([e.branches[branch].mean(axis=0) for e in embs]), labels)
        means = normalise(np.stack([e.fused.mean(axis=0) for e in embs]))
        rows[f"{name}, fused, centred on these recordings"] = p_at_10(
            _cosine(list(means - means.mean(axis=0))), labels)
        rows[f"{name}, fused, mean and spread"] = p_at_10(_cosine(
            [np.concatenate([e.fused.mean(axis=0), e.fused.std(axis=0)]) for e in embs]), labels)
        n = len(embs)
        sets = np.array([[chamfer(embs[i].fused, embs[j].fused) for j in range(n)]
                         for i in range(n)])
        rows[f"{name}, fused, segment sets"] = p_at_10(sets, labels)

    def standardised(keys: tuple[str, ...], fit_on: str, split: str) -> np.ndarray:
        """``keys`` blocks of ``split``, standardised on ``fit_on``'s recordings."""
        base = Baseline.fit(track_blocks(described[fit_on], keys))
        return np.concatenate([base.vectors(b) for b in track_blocks(described[split], keys)])

    everything = ("model", "mfcc", "chroma", "tempo", "spectrum")
    for name, keys in (("long-term average spectrum", ("spectrum",)),
                       ("model fused + baseline blocks + spectrum, concatenated", everything)):
        rows[name] = p_at_10(_cosine(list(standardised(keys, args.split, args.split))), labels)
    train_labels = np.array([t["source"] for t in by_split["train"]])
    if args.split != "train" and len(set(train_labels)) >= 2:
        for name, keys in (("MFCC statistics", ("mfcc",)), ("everything concatenated",
                                                            everything)):
            projected = transfer_lda(standardised(keys, "train", "train"), train_labels,
                                     standardised(keys, "train", args.split))
            rows[f"LDA of the training packages, on {name}"] = p_at_10(
                _cosine(list(projected)), labels)

    counts = {s: int((labels == s).sum()) for s in sorted(set(labels))}
    # the ceiling depends on the labels only: any similarity matrix gives it
    ceiling = rt.neighbour_metrics(np.zeros((len(labels), len(labels))), labels)[0][
        "P@10 ceiling"]
    target = rows["hand-crafted (MFCC+chroma+tempo)"][0] + TARGET_GAIN
    packages = list(counts)
    sizes = ", ".join(f"{s} {c}" for s, c in counts.items())
    lines = [
        "## Same-source neighbourhoods (`python -m benchmarks.bench_same_source`)", "",
        f"{len(tracks)} recordings of the {args.split} part ({sizes}); P@10 of a perfect "
        f"ranking: {ceiling:.3f}; the target (this baseline + "
        f"{TARGET_GAIN:.2f}) is {target:.3f}, {target / ceiling:.0%} of the ceiling. "
        f"{machine()}.", f"Command: `{command}`", "",
        "| representation | P@10 | " + " | ".join(packages) + " |",
        "|---|---:|" + "---:|" * len(packages)]
    for name, (overall, per) in rows.items():
        lines.append(f"| {name} | {overall:.3f} | "
                     + " | ".join(f"{per.get(s, float('nan')):.2f}" for s in packages) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        update_section("same-source", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
