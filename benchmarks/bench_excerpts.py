"""Excerpts of real full-length recordings: found, and placed, by segment density and query.

``quality`` scans a library of real recordings (the validation packages' music, plus
distractor tracks) with the shipped model, cuts excerpts of 5, 10 and 20 s at random
offsets from the validation tracks, clean and phone-degraded
(``trainer.degrade.phone_recording``), and prints per row of (segment density, query
strategy, excerpt length, condition): track R@1, the share of rank-1 hits placed within
4 s of the true start, and the median placement error. Densities: every segment at
the card's hop (4 s, what scans store), every other one (8 s), the 8 evenly spread
segments stored before, and 4 s coded with the library's PCA + int8 codec. Query
strategies for excerpts shorter than a segment: ``tile`` (repeated to fill it) and
``3 shifts`` (three rotations of the excerpt, best one counts). These rows place by the
best segment pair only; the ``product`` rows run ``Library.search`` end to end (segment
search, alignment refinement and re-ordering of the best results) and time it.

``latency`` writes a synthetic 12,000-track library (57 dense segments per track, as a
4-minute track gives, coded) and measures in a fresh process: the dense data's disk
size, catalog load, excerpt and in-library query latency, and RSS.

Run: ``python -m benchmarks.bench_excerpts [quality|latency|all] [--val DIR ...]
[--corpus data/corpus --per-package 4] [--distractors DIR ...] [--excerpts 2]``
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench_catalog import clustered, latency_ms, vm_rss_mb
from engine import dense, locate
from engine.audio import audio_info, load_audio
from engine.excerpts import PRINT_MIN, PRINT_SECONDS, PRINT_TOP, place
from engine.features import select_starts
from engine.model import default_model_dir
from engine.rerank import similarities

SRC = Path("/work/data/excerpt-src")
VAL = [SRC / "x_openclonk-data/usr/share/games/openclonk/Music.ocg",
       SRC / "x_xmoto-data/usr/share/games/xmoto/Textures/Musics"]
DISTRACTORS = [SRC / "x_hedgewars-data/usr/share/games/hedgewars/Data/Music",
               SRC / "x_neverball-data/usr/share/games/neverball/bgm"]
LENGTHS = (5.0, 10.0, 20.0)
SHIFTS = {"tile": (0.0,), "3 shifts": (0.0, 1 / 3, 2 / 3)}


@dataclass
class Query:
    """One excerpt: its true track and start, length and condition."""

    track_id: int
    start: float
    seconds: float
    degraded: bool
    y: np.ndarray


def music_files(folders: list[Path], min_seconds: float = 30.0,
                per_folder: int | None = None) -> list[Path]:
    """Audio files of at least ``min_seconds`` under ``folders`` (the first ``per_folder``
    of each, by name)."""
    from engine.audio import AUDIO_EXTENSIONS

    out = []
    for folder in folders:
        found = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS
                 and audio_info(p).duration >= min_seconds]
        out += found[:per_folder]
    return out


def corpus_validation(corpus: Path) -> list[Path]:
    """The recordings folders of the corpus's held-out packages (VALIDATION_PACKAGES.txt)."""
    listed = (corpus / "VALIDATION_PACKAGES.txt").read_text(encoding="utf-8").split()
    return [corpus / "recordings" / name for name in listed
            if (corpus / "recordings" / name).is_dir()]


def make_queries(lib, val: list[Path], per_track: int, sr: int) -> list[Query]:
    """Clean and degraded excerpts of every length at random offsets of ``val`` tracks."""
    from engine.records import track_id_for_path
    from trainer.degrade import phone_recording

    rng = np.random.default_rng(7)
    queries = []
    for path in val:
        y = load_audio(path, sr=sr)
        tid = track_id_for_path(lib.store, path)
        for _ in range(per_track):
            for seconds in LENGTHS:
                start = float(rng.uniform(0, y.size / sr - seconds))
                clip = y[int(start * sr): int((start + seconds) * sr)]
                assert tid is not None, path
                queries.append(Query(tid, start, seconds, False, clip))
                queries.append(Query(tid, start, seconds, True,
                                     phone_recording(clip, sr, seed=len(queries))))
    return queries


def densities(lib, fingerprint: str, dim: int) -> dict[str, dict[int, tuple]]:
    """Per density label: track id -> (starts, vectors)."""
    ids = [t.id for t in lib.tracks()]
    full = dense.load(lib.store, ids, fingerprint=fingerprint, dim=dim)
    codec = dense.Codec.fit(np.concatenate([v for _, v in full.values()]))
    return {
        "every 4 s (stored)": full,
        "every 8 s": {t: (s[::2], v[::2]) for t, (s, v) in full.items()},
        "8 per track (before)": {t: (s[select_starts(np.arange(len(s)), 8)],
                                     v[select_starts(np.arange(len(s)), 8)])
                                 for t, (s, v) in full.items()},
        "every 4 s, PCA128+int8": {t: (s, codec.decode(codec.encode(v)))
                                   for t, (s, v) in full.items()},
    }


def evaluate(queries: list[Query], embedded: list[tuple], library: dict[int, tuple],
             config) -> dict[tuple, list]:
    """Per (length, degraded): list of (hit, placement error or None)."""
    out: dict[tuple, list] = {}
    ids = list(library)
    for q, (starts, vectors) in zip(queries, embedded, strict=True):
        best = [float(similarities(library[t][1], vectors).max()) for t in ids]
        top = ids[int(np.argmax(best))]
        err = None
        if top == q.track_id:
            where = place(vectors, starts, q.seconds, *library[top], config=config)
            err = abs(where.offset - q.start)
        out.setdefault((q.seconds, q.degraded), []).append((top == q.track_id, err))
    return out


def row(label: str, key: tuple, results: list) -> str:
    hits = [e for h, e in results if h]
    r1 = len(hits) / len(results)
    within = sum(e <= 4.0 for e in hits) / max(1, len(hits))
    med = statistics.median(hits) if hits else float("nan")
    cond = "phone" if key[1] else "clean"
    return (f"| {label} | {key[0]:.0f} s | {cond} | {r1:.3f} | {within:.2f} | {med:.1f} s | "
            f"{len(results)} |")


def product_rows(lib, queries: list[Query], sr: int) -> list[str]:
    """End to end through ``Library.analyze_seed`` + ``Library.search``."""
    from engine.library import SearchParams

    out: dict[tuple, list] = {}
    times: dict[float, list[float]] = {}
    for q in queries:
        t0 = time.perf_counter()
        results = lib.search(lib.analyze_seed((q.y, sr)), SearchParams(k=10))
        times.setdefault(q.seconds, []).append(time.perf_counter() - t0)
        top = results[0] if results else None
        hit = top is not None and top.track.id == q.track_id
        out.setdefault((q.seconds, q.degraded), []).append(
            (hit, abs(top.match_offset - q.start) if hit else None))
    from engine.excerpts import REFINE_TOP

    label = (f"product: every 4 s, tile + print alignment of the top {PRINT_MIN}-{PRINT_TOP} "
             f"(decoding the top {REFINE_TOP} without prints)")
    rows = [row(label, k, v) for k, v in sorted(out.items())]
    for seconds, taken in sorted(times.items()):
        rows.append(f"| product query time, {seconds:.0f} s excerpts (analyse + search, "
                    f"median / p90 of {len(taken)}) | {1000 * statistics.median(taken):.0f} / "
                    f"{1000 * float(np.percentile(taken, 90)):.0f} ms |")
    return rows


def bench_quality(args: argparse.Namespace) -> None:
    """Scan the real recordings and print the quality table."""
    from engine.library import Library
    from engine.seed import excerpt_segments

    val = music_files(args.val, per_folder=args.per_package)
    if args.corpus is not None:
        val += music_files(corpus_validation(args.corpus), per_folder=args.per_package)
    distractors = music_files(args.distractors)
    print(f"library: {len(val)} validation recordings + {len(distractors)} distractors; "
          f"{args.excerpts} excerpt(s) per track and length, clean and phone-degraded")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.workdir or Path(scratch)
        music = Path(tmp) / "music"
        music.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(val + distractors):
            link = music / f"{i:03d}{f.suffix}"
            if not link.is_symlink():
                link.symlink_to(f.resolve())
        lib = Library.open(Path(tmp) / "lib", model_dir=args.model)
        start = time.perf_counter()
        list(lib.scan([music], workers=args.workers))
        print(f"scan: {time.perf_counter() - start:.0f} s, {lib.count()} tracks, "
              f"{lib.store.query('SELECT SUM(n) FROM dense_segments')[0][0]} dense segments")
        embedder, sr = lib.embedder, lib.embedder.config.sr
        val_links = [music / f"{i:03d}{f.suffix}" for i, f in enumerate(val)]
        queries = make_queries(lib, val_links, args.excerpts, sr)
        if args.lengths:
            queries = [q for q in queries if q.seconds in args.lengths]
        print("| density | query | excerpt | condition | R@1 | placed within 4 s | "
              "median error | n |\n|---|---|---|---|---|---|---|---|")
        libraries = densities(lib, embedder.fingerprint, embedder.card.embed_dim)
        for strategy, shifts in SHIFTS.items() if not args.product_only else ():
            embedded = [excerpt_segments(q.y, embedder, shifts=shifts) for q in queries]
            embedded = [(s, v["fused"]) for s, v in embedded]
            for label, library in libraries.items():
                for key, results in sorted(evaluate(queries, embedded, library,
                                                    embedder.config).items()):
                    print(row(f"{label} / {strategy}", key, results), flush=True)
        for line in product_rows(lib, queries, sr):
            print(line, flush=True)
        lib.close()


# -- latency / disk / memory at 12k tracks --------------------------------------------

SEGMENTS = 57  # a 4-minute track at an 18 s segment every 4 s
PRINT_FRAMES = 750  # a 4-minute track's alignment print (0.32 s frames)


def synthetic_dense_library(folder: Path, n_tracks: int) -> None:
    """The 8-segment synthetic library of bench_catalog, plus coded dense segments."""
    from benchmarks.bench_catalog import synthetic_library
    from engine.store import Store, write_align_print

    synthetic_library(folder, n_tracks)
    store = Store(folder / "library.db")
    rng = np.random.default_rng(11)
    centres = clustered(n_tracks, seed=5)
    sample = centres[:, None, :] + 0.5 * rng.standard_normal((n_tracks, 4, 512)) / 22.6
    codec = dense.Codec.fit(sample.reshape(-1, 512)[:40_000])
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO dense_codecs (fingerprint, kind, dim, params, created)"
                           " VALUES ('synthetic', 'pca-int8', ?, ?, 0)",
                           (codec.dim, codec.to_blob()))
        codec = dense.Codec(int(cur.lastrowid), codec.mean, codec.components, codec.scale)
        frame = locate.print_frame_seconds(_shipped_config())
        for tid in range(1, n_tracks + 1):
            v = centres[tid - 1] + 0.5 * rng.standard_normal((SEGMENTS, 512)) / 22.6
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            dense.save(conn, tid, np.arange(SEGMENTS, dtype=np.float32) * 4, v, codec)
            codes = rng.integers(0, 256, (locate.PRINT_BANDS, PRINT_FRAMES), dtype=np.uint8)
            write_align_print(conn, tid, fmt=locate.PRINT_FORMAT, frame=frame, codes=codes)
    store.close()


def _shipped_config():
    from engine.model import load_card

    return load_card(default_model_dir()).features


def bench_latency(args: argparse.Namespace) -> None:
    """Write the synthetic library and measure it in a fresh process."""
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthetic_dense_library(Path(tmp), args.tracks)
        print(f"| write synthetic library ({args.tracks:,} tracks, {SEGMENTS} dense segments "
              f"each) | {time.perf_counter() - start:.0f} s |")
        with sqlite3.connect(Path(tmp) / "library.db") as conn:
            size = conn.execute("SELECT SUM(LENGTH(vectors) + LENGTH(starts) + 40) "
                                "FROM dense_segments").fetchone()[0]
            prints = conn.execute("SELECT SUM(LENGTH(data) + 40) FROM align_prints").fetchone()[0]
        print(f"| dense rows in the database (codes + starts + row overhead) | "
              f"{size / 2**20:.0f} MB |", flush=True)
        print(f"| alignment prints in the database (+ row overhead) | {prints / 2**20:.0f} MB |",
              flush=True)
        child = subprocess.run([sys.executable, "-m", "benchmarks.bench_excerpts", "query",
                                "--library", tmp], capture_output=True, text=True)
        print(child.stdout + child.stderr[-2000:], end="", flush=True)


def bench_query(folder: Path) -> None:
    """Catalog load, excerpt and in-library query latency, RSS (run in a fresh process)."""
    from benchmarks.bench_catalog import _FakeEmbedder
    from engine.library import Library, SearchParams
    from engine.search import Seed

    print(f"| RSS before opening the library | {vm_rss_mb():.0f} MB |")
    lib = Library.open(folder)
    lib._embedder = _FakeEmbedder()
    start = time.perf_counter()
    catalog = lib.catalog()
    print(f"| catalog build (first open: both indexes from the database) | "
          f"{time.perf_counter() - start:.1f} s |")
    files = sum(p.stat().st_size for p in (folder / "catalog").rglob("*.faiss")) / 2**20
    seg_file = sum(p.stat().st_size for p in (folder / "catalog").rglob("segments.faiss"))
    print(f"| catalog index files (segment index {seg_file / 2**20:.0f} MB) | {files:.0f} MB |")
    print(f"| segment index | {catalog.segments.kind}, {catalog.segments.count:,} vectors, "
          f"{catalog.segments.dim} dims |")
    rng = np.random.default_rng(4)
    ids = rng.choice(catalog.track_ids, 50, replace=False)
    track_seeds = [lib.analyze_seed(int(i)) for i in ids]
    ms = latency_ms(lambda s: lib.search(s, SearchParams(k=20)), track_seeds)
    print(f"| in-library query, top-20 (median of 50) | {ms:.1f} ms |")
    stored = dense.load(lib.store, [int(i) for i in ids], fingerprint="synthetic", dim=512)
    excerpts = [Seed(segments={k: stored[int(i)][1][3:4] for k in ("fused", "timbre",
                                                                      "harmony", "rhythm")},
                     starts=np.zeros(1, np.float32), fingerprint="synthetic", excerpt=True,
                     duration=10.0, track={k: stored[int(i)][1][3] for k in ("fused", "timbre",
                                                                               "harmony",
                                                                               "rhythm")})
                for i in ids]
    ms = latency_ms(lambda s: lib.search(s, SearchParams(k=20)), excerpts)
    print(f"| excerpt search, top-20, one query segment (no decoding, no alignment; "
          f"median of 50) | {ms:.1f} ms |")
    config = _shipped_config()
    frames = rng.normal(-40.0, 10.0, (locate.band_slice(config).stop
                                      - locate.band_slice(config).start, 500))
    aligned = [dataclasses.replace(s, frames=frames.astype(np.float32), config=config)
               for s in excerpts]
    ms = latency_ms(lambda s: lib.search(s, SearchParams(k=20)), aligned)
    print(f"| excerpt search, top-20, + alignment of a 10 s excerpt over the prints of the "
          f"best {PRINT_TOP} (at most {PRINT_SECONDS / 3600:.0f} h of audio; median of 50) | "
          f"{ms:.1f} ms |")
    print(f"| RSS after loading and 100 queries | {vm_rss_mb():.0f} MB |")
    lib.close()


def main() -> None:
    """Parse the command line and run the chosen measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all",
                        choices=("quality", "latency", "all", "query"))
    parser.add_argument("--val", type=Path, nargs="+", default=VAL)
    parser.add_argument("--distractors", type=Path, nargs="+", default=DISTRACTORS)
    parser.add_argument("--excerpts", type=int, default=2)
    parser.add_argument("--corpus", type=Path, help="also the recordings of this corpus's "
                        "VALIDATION_PACKAGES.txt")
    parser.add_argument("--per-package", type=int, help="at most this many recordings of "
                        "each folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--tracks", type=int, default=12_000)
    parser.add_argument("--library", type=Path)
    parser.add_argument("--workdir", type=Path, help="keep the scanned library here")
    parser.add_argument("--lengths", type=float, nargs="+", help="only these excerpt lengths")
    parser.add_argument("--product-only", action="store_true",
                        help="only the end-to-end rows")
    parser.add_argument("--slack-hops", type=float, help="engine.excerpts.SLACK_HOPS")
    parser.add_argument("--refine-top", type=int, help="results refined by alignment "
                        "(default engine.excerpts.REFINE_TOP)")
    args = parser.parse_args()
    if args.what == "query":
        bench_query(args.library)
        return
    from engine import excerpts

    if args.refine_top is not None:
        excerpts.REFINE_TOP = args.refine_top
    if args.slack_hops is not None:
        excerpts.SLACK_HOPS = args.slack_hops
    if args.what in ("quality", "all"):
        bench_quality(args)
    if args.what in ("latency", "all"):
        bench_latency(args)


if __name__ == "__main__":
    main()
