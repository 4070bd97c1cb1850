"""The development benchmark: retrieval quality on the corpus's validation part.

Three tasks, one table, every system on the same decoded audio:

* **excerpt -> track** over the full-length real validation recordings (a library of
  whole tracks): 10 s excerpts at seeded random offsets, clean and degraded like a phone
  recording (reverb, 150-5000 Hz, 15 dB SNR, 64 kbps MP3). Scored the way the engine's
  excerpt search compares segments: every segment of the excerpt against the segments the
  scan stores per track (``engine.analysis.SEGMENTS_PER_TRACK``, or ``--max-segments``), by
  their fused vectors, best segment pair per track: R@1/5/20, MRR. With ``--search``,
  also the product's excerpt search end to end for every model: a library of the part's
  recordings scanned with the model (every segment, dense), each excerpt analysed and
  searched by :class:`engine.library.Library` (segment search, alignment of the best):
  R@1, MRR and the share of hits placed within 4 s of the excerpt's true start;
* **versions across soundfonts**: each validation rendition of a music21 piece (a
  soundfont and instruments training never used, transposed, at another tempo) queries
  the other renditions by track vector: mAP, P@1;
* **same package**: each real validation recording queries the others by track vector;
  relevant = same Debian package: P@10 with its ceiling (the P@10 of a perfect ranking),
  and mAP.

Models rank tracks as the engine's track search does (:func:`engine.search.track_scores`:
the weighted similarity at the default weights plus the version bonus); the other
systems by the cosine of their track vectors.

Systems: the model (``--model``, default the shipped one), ``--candidate DIR`` and more
``--system NAME=DIR`` models, ``--random`` (the shipped architecture, random weights),
plain MFCC statistics and the hand-crafted MFCC+chroma+tempo baseline (standardised on
the benchmark's own database segments), and the pretrained MusiCNN taggers (PyTorch port,
:mod:`trainer.teacher.musicnn_net`) whose exported weights lie in ``--teacher-dir``: their
200-d penultimate embedding and their 50 tag probabilities, each per 3 s patch (as many
patches, evenly spread, as the models' stored segments; an excerpt: all its patches).
A teacher costs about 0.1-0.2 s of CPU per patch, some 5,000 patches on the full
validation part: point ``--teacher-dir`` at an empty folder to leave them out.

``--part test`` measures the corpus's test part instead (whole packages that nothing is
tuned on: not training, not Optuna, not model selection), ``--part both`` the validation
part and then, in its own table printed last, the test part.

Run: ``python -m benchmarks.bench_quality --corpus data/corpus [--random] [--search]
[--candidate DIR] [--max-pieces N] [--max-tracks N] [--part val|test|both]
[--teacher-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import retrieval as rt
from benchmarks.baseline import Baseline, segment_statistics
from benchmarks.results import machine, update_section
from engine.analysis import SEGMENTS_PER_TRACK, mean_vector
from engine.audio import load_audio
from engine.config import FeatureConfig
from engine.features import Segments
from engine.index import normalise, unit
from engine.model import Embedder, default_model_dir
from engine.search import SearchParams, track_scores, weighted
from engine.timbre import TimbreMix
from engine.versions import version_print, version_scores
from engine.windowed import selected_segments
from trainer.degrade import phone_recording

EXCERPT_S = 10.0
#: results asked of the engine per excerpt (``--search``; MRR counts ranks up to it)
SEARCH_K = 20
BASELINE = "hand-crafted (MFCC+chroma+tempo)"
MFCC = "MFCC statistics"
WEIGHTS = SearchParams().weights
QUERY_KINDS = ("clean", "degraded")
#: The corpus parts (manifest splits), and how their tables are titled and stored.
PARTS = {"val": ("Development benchmark", "Validation part", "development", ""),
         "test": ("Test part", "Test part (nothing is tuned on it)", "development-test",
                  "-test")}

TEACHER_OUTPUTS = ("embedding", "tags")


@dataclass
class SystemData:
    """What one system made of the benchmark's audio."""

    db: list[np.ndarray] = field(default_factory=list)       # per recording: (segments, d)
    queries: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in QUERY_KINDS})  # per excerpt: (segments, d)
    tracks: list[np.ndarray] = field(default_factory=list)   # per track: (d,)
    #: per track, each column's track vector (models: ranked as the engine ranks tracks)
    columns: list[dict[str, np.ndarray]] = field(default_factory=list)
    #: per excerpt, the engine's search end to end (``--search``): the true track's rank
    #: (None: not in the results) and, when ranked first, how far off its placement is
    search: dict[str, list[tuple[int | None, float | None]]] = field(
        default_factory=lambda: {k: [] for k in QUERY_KINDS})
    #: the weights its tracks are ranked with (a model's: the default scaled by its card's
    #: ``weight_gains``, as :meth:`engine.library.Library.search` does)
    weights: tuple[float, float, float] = WEIGHTS
    #: a model's mixed timbre column, as the engine's search reads it
    timbre: TimbreMix | None = None


@dataclass
class Raw:
    """Hand-crafted statistics, standardised once every track has been read."""

    db: list[dict[str, np.ndarray]] = field(default_factory=list)        # every track
    queries: dict[str, list[dict[str, np.ndarray]]] = field(
        default_factory=lambda: {k: [] for k in QUERY_KINDS})
    #: every track's version print (:mod:`engine.versions`), as a scan stores it
    prints: list[np.ndarray] = field(default_factory=list)


def excerpts(y: np.ndarray, sr: int, n: int, seed: int) -> list[tuple[float, np.ndarray]]:
    """``n`` excerpts of ``EXCERPT_S`` seconds at seeded random offsets: (start s, audio)."""
    rng = np.random.default_rng(seed)
    length = int(EXCERPT_S * sr)
    if y.size <= length:
        return [(0.0, y)] * n
    return [(int(s) / sr, y[s: s + length]) for s in rng.integers(0, y.size - length, size=n)]


@dataclass
class Searcher:
    """A library of the benchmark's recordings scanned with one model, for ``--search``."""

    library: Any
    ids: dict[str, int]  # track's corpus path -> library track id

    def rank(self, audio: np.ndarray, sr: int, path: str, start: float
             ) -> tuple[int | None, float | None]:
        """Search ``audio`` as the app searches a dropped excerpt: the rank of the track
        ``path`` and, when first, the error of its placement (s)."""
        results = self.library.search(self.library.analyze_seed((audio, sr)),
                                      SearchParams(k=SEARCH_K))
        ranked = [r.track.id for r in results]
        tid = self.ids[path]
        if tid not in ranked:
            return None, None
        rank = ranked.index(tid) + 1
        return rank, (abs(results[0].match_offset - start) if rank == 1 else None)


def open_searchers(tracks: list[dict], root: Path, models: dict[str, Path], folder: Path,
                   *, workers: int) -> dict[str, Searcher]:
    """Scan the recordings of ``tracks`` into one library per model (under ``folder``)."""
    from engine.library import Library
    from engine.records import track_id_for_path

    music = folder / "music"
    music.mkdir(parents=True, exist_ok=True)
    links = {}
    for i, track in enumerate(t for t in tracks if t["kind"] == "recording"):
        link = music / f"{i:04d}{Path(track['path']).suffix}"
        if not link.is_symlink():
            link.symlink_to((root / track["path"]).resolve())
        links[track["path"]] = link
    out = {}
    for n, (name, model) in enumerate(models.items()):
        lib = Library.open(folder / f"library-{n}", model_dir=model)
        started = time.perf_counter()
        list(lib.scan([music], workers=workers))
        ids = {path: track_id_for_path(lib.store, link) for path, link in links.items()}
        missing = [p for p, t in ids.items() if t is None]
        if missing:
            raise SystemExit(f"--search: the scan with {name} left out {missing[:3]}")
        print(f"[search] {name}: {lib.count()} recordings scanned in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        out[name] = Searcher(lib, {p: int(t) for p, t in ids.items() if t is not None})
    return out


def model_vectors(emb: Embedder, segs: Segments
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Segment rows ``(n, d)``: the fused vectors, which the engine's excerpt search
    compares (:mod:`engine.excerpts`); the track vector ``(d,)`` in the weighted space;
    and each column's track vector (the mean of its segments', as the engine stores it)."""
    out = emb.embed(segs)
    columns = {k: mean_vector(v) for k, v in {"fused": out.fused, **out.branches}.items()}
    return out.fused, weighted(columns, WEIGHTS)[0], columns


def load_teachers(folder: Path) -> dict[str, Any]:
    """The MusiCNN networks whose exported weights (``*_musicnn.npz``) lie in ``folder``,
    by their dataset's name (``MSD``, ``MTT``); none without the folder."""
    paths = sorted(Path(folder).glob("*_musicnn.npz"))
    if not paths:
        return {}
    from trainer.teacher.musicnn_net import load_musicnn

    return {p.stem.split("_")[0]: load_musicnn(p) for p in paths}


def teacher_system(name: str, output: str) -> str:
    """The table's name of a teacher network's output."""
    return f"MusiCNN {name} {'penultimate' if output == 'embedding' else 'tag probabilities'}"


def teacher_rows(net: Any, y: np.ndarray, sr: int, max_patches: int | None
                 ) -> dict[str, np.ndarray]:
    """Unit rows per 3 s patch of each teacher output."""
    from trainer.teacher.musicnn_net import embed_audio

    out = embed_audio(net, y, sr, max_patches=max_patches)
    return {"embedding": normalise(out.embedding), "tags": normalise(out.tags)}


def collect(tracks: list[dict], root: Path, embedders: dict[str, Embedder], *,
            config: FeatureConfig, n_excerpts: int, max_segments: int,
            teachers: dict[str, Any] | None = None,
            searchers: dict[str, Searcher] | None = None) -> tuple[dict[str, SystemData], Raw]:
    """Decode every track once; embed its stored segments and, for recordings, excerpts
    (and search them in ``searchers``' libraries)."""
    teachers, searchers = teachers or {}, searchers or {}
    data = {name: SystemData(weights=SearchParams().scaled(emb.card.weight_gains).weights,
                             timbre=TimbreMix.of(emb.card))
            for name, emb in embedders.items()}
    data.update({teacher_system(t, o): SystemData() for t in teachers for o in TEACHER_OUTPUTS})
    raw = Raw()
    for i, track in enumerate(tracks):
        y = load_audio(root / track["path"], sr=config.sr)
        segs = selected_segments(y, config=config, max_segments=max_segments)
        raw.db.append(segment_statistics(segs))
        raw.prints.append(version_print(y, config=config))
        for name, emb in embedders.items():
            rows, vector, columns = model_vectors(emb, segs)
            data[name].tracks.append(vector)
            data[name].columns.append(columns)
            if track["kind"] == "recording":
                data[name].db.append(rows)
        for t, net in teachers.items():
            for output, rows in teacher_rows(net, y, config.sr, max_segments).items():
                sd = data[teacher_system(t, output)]
                sd.tracks.append(unit(rows.mean(axis=0)))
                if track["kind"] == "recording":
                    sd.db.append(rows)
        if track["kind"] == "recording":
            for j, (start, clip) in enumerate(excerpts(y, config.sr, n_excerpts, seed=i)):
                noisy = phone_recording(clip, config.sr, seed=1000 * i + j)
                for kind, audio in (("clean", clip), ("degraded", noisy)):
                    q = selected_segments(audio, config=config, max_segments=None)
                    raw.queries[kind].append(segment_statistics(q))
                    for name, emb in embedders.items():
                        data[name].queries[kind].append(model_vectors(emb, q)[0])
                    for name, searcher in searchers.items():
                        data[name].search[kind].append(
                            searcher.rank(audio, config.sr, track["path"], start))
                    for t, net in teachers.items():
                        for output, rows in teacher_rows(net, audio, config.sr, None).items():
                            data[teacher_system(t, output)].queries[kind].append(rows)
        if (i + 1) % 25 == 0 or i + 1 == len(tracks):
            print(f"{i + 1}/{len(tracks)} tracks", file=sys.stderr, flush=True)
    return data, raw


def statistics_systems(raw: Raw, tracks: list[dict]) -> dict[str, SystemData]:
    """MFCC statistics and the hand-crafted baseline, standardised on all database segments."""
    out = {}
    for name, blocks in ((MFCC, ("mfcc",)), (BASELINE, ("mfcc", "chroma", "tempo"))):
        def pick(b: dict[str, np.ndarray], keys: tuple[str, ...] = blocks) -> dict:
            return {k: b[k] for k in keys}

        model = Baseline.fit([pick(b) for b in raw.db])
        sd = SystemData()
        for b, track in zip(raw.db, tracks, strict=True):
            vecs = model.vectors(pick(b))
            sd.tracks.append(unit(vecs.mean(axis=0)))
            if track["kind"] == "recording":
                sd.db.append(vecs)
        sd.queries = {k: [model.vectors(pick(b)) for b in raw.queries[k]] for k in QUERY_KINDS}
        out[name] = sd
    return out


def excerpt_metrics(sd: SystemData, n_excerpts: int) -> dict[str, dict[str, float]]:
    """R@1/5/20 and MRR of excerpt -> whole recording, clean and degraded (none with
    ``n_excerpts`` 0: ``--excerpts 0`` measures only the track-level tasks)."""
    if not sd.db or n_excerpts == 0:
        return {}
    db = np.concatenate(sd.db)
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(sd.db)])
    out = {}
    for kind, queries in sd.queries.items():
        ranks = []
        for q_index, q in enumerate(queries):
            order = rt.rank_tracks_by_segments(q, db, owner, len(sd.db))
            truth = np.zeros(len(sd.db), bool)
            truth[q_index // n_excerpts] = True
            ranks.append(rt.first_hit(order, truth))
        out[kind] = rt.recall_mrr(ranks)
    return out


def track_level(sd: SystemData, tracks: list[dict], prints: list[np.ndarray], *, kind: str,
                label: str, by_label: bool = False) -> dict:
    """Leave-one-out retrieval among tracks of ``kind`` by track vector (models: as the
    engine ranks, with the tracks' version ``prints``), relevance by ``label`` (with
    ``by_label``: also P@10 per label)."""
    idx = [i for i, t in enumerate(tracks) if t["kind"] == kind]
    if len(idx) < 2:
        return {}
    vecs = normalise(np.stack([sd.tracks[i] for i in idx]))
    labels = np.array([tracks[i][label] for i in idx])
    if len(set(labels.tolist())) == len(labels):
        return {}
    sims = (engine_track_sims([sd.columns[i] for i in idx], [prints[i] for i in idx],
                              sd.weights, sd.timbre) if sd.columns else vecs @ vecs.T)
    out, per_label = rt.neighbour_metrics(sims, labels)
    if by_label:
        out["by label"] = per_label
    return out


def engine_track_sims(columns: list[dict[str, np.ndarray]], prints: list[np.ndarray],
                      weights: tuple[float, float, float] = WEIGHTS,
                      timbre: TimbreMix | None = None) -> np.ndarray:
    """Each track's scores for every other as a seed, as the engine ranks a library for
    a track seed (:func:`engine.search.track_scores`: weighted similarity + version
    bonus against the others, by content and by the tracks' version ``prints``, the
    ``timbre`` mix listened to as the engine does)."""
    library = {c: np.stack([t[c] for t in columns]) for c in columns[0]}
    out = np.zeros((len(columns), len(columns)), np.float32)
    for i, seed in enumerate(columns):
        own = np.arange(len(columns)) == i
        sims, bonus, _ = track_scores(
            seed, library, weights, exclude=own, timbre=timbre,
            version_scores=lambda rows, i=i: version_scores(prints[i], [prints[r] for r in rows]))
        out[i] = sims + bonus
    return out


def search_metrics(sd: SystemData) -> dict[str, dict[str, float]]:
    """R@1, MRR and placed-within-4 s of the engine's excerpt search (``--search``), per
    condition; none without it."""
    out = {}
    for kind, rows in sd.search.items():
        if not rows:
            continue
        ranks = [r for r, _ in rows]
        errors = [e for r, e in rows if r == 1 and e is not None]
        out[kind] = {"R@1": float(np.mean([r == 1 for r in ranks])),
                     "MRR": float(np.mean([1 / r if r else 0.0 for r in ranks])),
                     "placed within 4 s": float(np.mean([e <= 4.0 for e in errors]))
                     if errors else 0.0, "queries": len(rows)}
    return out


def evaluate(data: dict[str, SystemData], tracks: list[dict], n_excerpts: int,
             prints: list[np.ndarray]) -> dict[str, dict]:
    """Every metric of every system (``prints``: the tracks' version prints)."""
    return {name: {"excerpt": excerpt_metrics(sd, n_excerpts),
                   "search": search_metrics(sd),
                   "versions": track_level(sd, tracks, prints, kind="rendition",
                                           label="group"),
                   "same_source": track_level(sd, tracks, prints, kind="recording",
                                              label="source", by_label=True)}
            for name, sd in data.items()}


def _fmt(m: dict, key: str) -> str:
    return f"{m[key]:.3f}" if key in m else "-"


def report(results: dict[str, dict], *, tracks: list[dict], n_excerpts: int, seconds: float,
           command: str, max_segments: int, part: str = "val",
           notes: tuple[str, ...] = ()) -> str:
    """Markdown section for RESULTS.md."""
    title, part_name = PARTS[part][:2]
    recs = [t for t in tracks if t["kind"] == "recording"]
    rens = [t for t in tracks if t["kind"] == "rendition"]
    hours = sum(t["duration"] for t in recs) / 3600
    same = next((r["same_source"] for r in results.values() if r["same_source"]), {})
    ceiling = f"{same['P@10 ceiling']:.3f}" if same else "-"
    lines = [
        f"## {title} (`python -m benchmarks.bench_quality`)", "",
        f"{part_name} of the development corpus: {len(recs)} full-length real recordings "
        f"({hours:.1f} h) from {len({t['source'] for t in recs})} held-out packages"
        + (f", and {len(rens)} renditions of {len({t['group'] for t in rens})} pieces "
           "(validation soundfont and instruments)" if rens else "")
        + f". {n_excerpts} excerpts of {EXCERPT_S:.0f} s per recording; *search* "
        "columns: the app's excerpt search end to end in a library of these recordings "
        "(`--search`), the others: the excerpt's segments against "
        f"{max_segments} stored segments per track by fused vectors. "
        f"{seconds / 60:.1f} min on {machine()}.",
        f"Command: `{command}`", "",
        "| system | search: clean R@1 | search: degraded R@1 | search: degraded placed "
        "within 4 s | clean R@1 | clean MRR | degraded R@1 | degraded R@5 | degraded MRR | "
        f"versions mAP | versions P@1 | same-package P@10 (ceiling {ceiling}) | "
        "same-package mAP |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        c, d = r["excerpt"].get("clean", {}), r["excerpt"].get("degraded", {})
        sc, sd = r.get("search", {}).get("clean", {}), r.get("search", {}).get("degraded", {})
        v, s = r["versions"], r["same_source"]
        lines.append(f"| {name} | {_fmt(sc, 'R@1')} | {_fmt(sd, 'R@1')} | "
                     f"{_fmt(sd, 'placed within 4 s')} | {_fmt(c, 'R@1')} | {_fmt(c, 'MRR')} | "
                     f"{_fmt(d, 'R@1')} | {_fmt(d, 'R@5')} | {_fmt(d, 'MRR')} | "
                     f"{_fmt(v, 'mAP')} | {_fmt(v, 'P@1')} | {_fmt(s, 'P@10')} | "
                     f"{_fmt(s, 'mAP')} |")
    lines += ["", *notes] if notes else []
    if same:
        labels = list(same["by label"])
        lines += ["", f"Same-package P@10 per package ({same['queries']} queries):", "",
                  "| system | " + " | ".join(labels) + " |",
                  "|---|" + "---:|" * len(labels)]
        for name, r in results.items():
            per = r["same_source"].get("by label", {})
            lines.append(f"| {name} | " + " | ".join(f"{per.get(s, float('nan')):.2f}"
                                                     for s in labels) + " |")
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


def select_tracks(manifest: dict, split: str, *, max_tracks: int | None,
                  max_pieces: int | None) -> list[dict]:
    """The split's real recordings (a seeded sample of ``max_tracks``) and the renditions
    of a seeded sample of ``max_pieces`` pieces."""
    rows = [t for t in manifest["tracks"] if t["split"] == split]
    recs = [t for t in rows if t["kind"] == "recording"]
    rens = [t for t in rows if t["kind"] == "rendition"]
    rng = np.random.default_rng(0)
    if max_tracks is not None and max_tracks < len(recs):
        recs = [recs[i] for i in sorted(rng.choice(len(recs), max_tracks, replace=False))]
    groups = sorted({t["group"] for t in rens})
    if max_pieces is not None and max_pieces < len(groups):
        keep = {groups[i] for i in rng.choice(len(groups), max_pieces, replace=False)}
        rens = [t for t in rens if t["group"] in keep]
    return recs + rens


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print and store the table and the raw JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: shipped)")
    parser.add_argument("--candidate", type=Path, default=None, help="a candidate model folder")
    parser.add_argument("--system", action="append", default=[],
                        help="NAME=MODEL_DIR: another model to compare")
    parser.add_argument("--random", action="store_true",
                        help="also score a random-weights model of the shipped architecture "
                        "(built with the trainer, needs the train extra)")
    parser.add_argument("--part", "--split", dest="part", choices=[*PARTS, "both"],
                        default="val",
                        help="corpus part: val, test (nothing is tuned on it) or both "
                             "(the test table last)")
    parser.add_argument("--excerpts", type=int, default=2,
                        help="excerpts per recording (0: skip the excerpt task)")
    parser.add_argument("--search", action="store_true",
                        help="also search every excerpt end to end as the app does, in a "
                             "library of the part's recordings scanned with each model")
    parser.add_argument("--workers", type=int, default=2, help="scan processes (--search)")
    parser.add_argument("--max-segments", type=int, default=SEGMENTS_PER_TRACK,
                        help=f"stored segments per track (default: the scan's, "
                             f"{SEGMENTS_PER_TRACK})")
    parser.add_argument("--max-tracks", type=int, default=None,
                        help="a seeded sample of this many recordings (default: all)")
    parser.add_argument("--max-pieces", type=int, default=60,
                        help="renditions of a seeded sample of this many pieces (default: 60)")
    parser.add_argument("--teacher-dir", type=Path, default=Path("benchmarks/_cache/teacher"),
                        help="exported MusiCNN weights (*_musicnn.npz, trainer/teacher/"
                             "tf_export.py; needs the train extra)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/out/quality.json"))
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--record-card", action="store_true",
                        help="store the model's (and the candidate's) figures in its "
                             "card.json (metrics.bench_quality)")
    args = parser.parse_args(argv)
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))
    models = {"model": args.model or default_model_dir()}
    if args.candidate is not None:
        models["candidate"] = args.candidate
    for spec in args.system:
        name, _, folder = spec.partition("=")
        models[name] = Path(folder)
    if args.random:
        models["random weights"] = random_model(Path("benchmarks/_cache"))
    embedders = {name: Embedder(folder, threads=0) for name, folder in models.items()}
    configs = {e.config for e in embedders.values()}
    if len(configs) != 1:
        raise SystemExit("all compared models must share one feature configuration")
    config = configs.pop()
    command = "python -m benchmarks.bench_quality " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    teachers = load_teachers(args.teacher_dir)
    notes = () if teachers else (
        f"MusiCNN: not computed (no exported weights in {args.teacher_dir}; see "
        "docs/teacher.md).",)
    for part in ("val", "test") if args.part == "both" else (args.part,):
        tracks = select_tracks(manifest, part, max_tracks=args.max_tracks,
                               max_pieces=args.max_pieces)
        if not tracks:
            raise SystemExit(f"the corpus manifest has no {part} tracks; rebuild it with "
                             "`python -m trainer.corpus build`")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
            searchers = (open_searchers(tracks, args.corpus, models, Path(scratch),
                                        workers=args.workers)
                         if args.search and args.excerpts else {})
            data, raw = collect(tracks, args.corpus, embedders, config=config,
                                n_excerpts=args.excerpts, max_segments=args.max_segments,
                                teachers=teachers, searchers=searchers)
            for searcher in searchers.values():
                searcher.library.close()
        data.update(statistics_systems(raw, tracks))
        results = evaluate(data, tracks, args.excerpts, raw.prints)
        seconds = time.perf_counter() - started
        text = report(results, tracks=tracks, n_excerpts=args.excerpts, seconds=seconds,
                      command=command.strip(), max_segments=args.max_segments, part=part,
                      notes=notes)
        print(text)
        section, suffix = PARTS[part][2:]
        out = args.json.with_name(f"{args.json.stem}{suffix}{args.json.suffix}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2), encoding="utf-8")
        if not args.no_write:
            update_section(section, text)
        if args.record_card:
            for name in ("model", "candidate"):
                if name in models:
                    record_card(models[name], results[name], tracks=len(tracks),
                                command=command.strip(),
                                key=f"bench_quality{suffix.replace('-', '_')}")
    return 0


def record_card(folder: Path, figures: dict, *, tracks: int, command: str,
                key: str = "bench_quality") -> None:
    """Write the model's benchmark figures into its model card (``metrics[key]``)."""
    path = Path(folder) / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card.setdefault("metrics", {})[key] = {
        "tracks": tracks, "command": command, "date": time.strftime("%Y-%m-%d"), **figures}
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
