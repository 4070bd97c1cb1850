"""Catalog speed and memory: index build/search at 12k and 1M vectors, library queries.

* ``index``: synthetic clustered 512-d vectors (like song embeddings: tracks around
  style centres); build time, top-20 / top-100 latency (median of single queries) and
  recall@20 against exact search, for the index kind the catalog picks at that size.
* ``library``: a synthetic 12,000-track library database (8 segments per track, fused
  and per-branch 512-d vectors, as the shipped model writes them); catalog build time,
  catalog load time (fresh process state, verified from disk), in-library query latency
  through ``Library.search`` (SQL, re-ranking and result description included), and the
  process RSS.

Run: ``python -m benchmarks.bench_catalog [index|library|all] [--sizes 12000 1000000]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.index import build_index, normalise

DIM = 512


def clustered(n: int, dim: int = DIM, *, seed: int = 0, spread: float = 1.0) -> np.ndarray:
    """``n`` unit vectors scattered around ``n / 50`` random style centres.

    ``spread`` 1: a vector's cosine to its centre is about 0.7 (style families);
    ``spread`` 2: about 0.45, neighbours from many centres, a hard case for IVF.
    """
    rng = np.random.default_rng(seed)
    centres = max(100, n // 50)
    c = normalise(rng.standard_normal((centres, dim)))
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        noise = rng.standard_normal((m, dim)).astype(np.float32) * (spread / np.sqrt(dim))
        out[start:start + m] = normalise(c[rng.integers(0, centres, m)] + noise)
    return out


def latency_ms(fn, queries: np.ndarray) -> float:
    """Median milliseconds of ``fn(q)`` over single queries."""
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_index(sizes: list[int], *, spread: float = 1.0) -> list[str]:
    """Rows of the index table."""
    import faiss

    rows = []
    for n in sizes:
        vectors = clustered(n, spread=spread)
        ids = np.arange(n, dtype=np.int64)
        start = time.perf_counter()
        index = build_index(ids, vectors, dim=DIM)
        build_s = time.perf_counter() - start
        rng = np.random.default_rng(1)
        picks = rng.choice(n, 200, replace=False)
        queries = vectors[picks]  # in-library seeds: their own vectors
        t20 = latency_ms(lambda q, ix=index: ix.search(q[None], 21), queries)
        t100 = latency_ms(lambda q, ix=index: ix.search(q[None], 101), queries)
        _, exact = faiss.knn(queries, vectors, 20, metric=faiss.METRIC_INNER_PRODUCT)
        _, got = index.search(queries, 20)
        recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(exact, got, strict=True)])
        sims, _ = faiss.knn(queries, vectors, 20, metric=faiss.METRIC_INNER_PRODUCT)
        rows.append(f"| {n:,} | {index.kind} (nprobe {index.nprobe}) | {build_s:.1f} | "
                    f"{t20:.2f} | {t100:.2f} | {recall:.3f} | {sims[:, 1].mean():.2f} / "
                    f"{sims[:, 19].mean():.2f} |")
        print(rows[-1], flush=True)
    return rows


def synthetic_library(folder: Path, n_tracks: int, *, segments: int = 8) -> Path:
    """Write a library database of ``n_tracks`` analysed tracks with synthetic vectors
    and 4-minute version prints (:mod:`engine.versions`; a track seed scores its
    shortlist's)."""
    from engine import records
    from engine.store import SEGMENT_DTYPE, Store, to_blob, write_version_print
    from engine.versions import PRINT_SECONDS, VERSION_FORMAT

    store = Store(folder / "library.db")
    root = store.add_root("/synthetic")
    fused = clustered(n_tracks * segments, seed=2)
    rng = np.random.default_rng(3)
    with store.transaction() as conn:
        for t in range(n_tracks):
            tid = records.insert_pending(conn, path=f"/synthetic/a{t % 500}/t{t:06d}.mp3",
                                         root_id=root, size=1, mtime=1.0)
            seg = fused[t * segments:(t + 1) * segments]
            branches = {b: normalise(seg + 0.3 * rng.standard_normal(seg.shape) / 22)
                        for b in ("timbre", "harmony", "rhythm")}
            conn.executemany("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(tid, i, 18.0 * i, to_blob(seg[i], SEGMENT_DTYPE),
                               *(to_blob(branches[b][i], SEGMENT_DTYPE) for b in branches))
                              for i in range(segments)])
            means = [normalise(seg.mean(0))[0]] + [normalise(branches[b].mean(0))[0]
                                                   for b in branches]
            conn.execute("INSERT INTO track_vectors VALUES (?, ?, ?, ?, ?)",
                         (tid, *(to_blob(m) for m in means)))
            frames = int(240 / PRINT_SECONDS)
            write_version_print(conn, tid, fmt=VERSION_FORMAT,
                                codes=rng.integers(0, 256, (12, frames), dtype=np.uint8))
            conn.execute("UPDATE tracks SET status='ok', fingerprint='synthetic', duration=240,"
                         " artist=?, album=? WHERE id=?", (f"artist {t % 700}", f"album {t % 1200}",
                                                          tid))
    store.close()
    return folder


class _FakeEmbedder:
    """Stands in for the model: the library benchmark never embeds audio."""

    fingerprint = "synthetic"

    class card:
        embed_dim = DIM
        weight_gains = (1.0, 1.0, 1.0)
        timbre_mix = 0.0


def bench_library(n_tracks: int) -> list[str]:
    """Rows of the library table; queries and memory are measured in a fresh process."""
    import subprocess
    import sys

    from engine.library import Library

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthetic_library(Path(tmp), n_tracks)
        rows.append(f"| write synthetic DB ({n_tracks:,} tracks x 8 segments) | "
                    f"{time.perf_counter() - start:.1f} s |")
        size = (Path(tmp) / "library.db").stat().st_size / 2**20
        rows.append(f"| database size | {size:.0f} MB |")
        lib = Library.open(Path(tmp))
        lib._embedder = _FakeEmbedder()
        start = time.perf_counter()
        lib.catalog()
        rows.append(f"| catalog build (first open, both indexes) | "
                    f"{time.perf_counter() - start:.1f} s |")
        lib.close()
        size = sum(p.stat().st_size for p in (Path(tmp) / "catalog").rglob("*.faiss")) / 2**20
        rows.append(f"| catalog index files | {size:.0f} MB |")
        for row in rows:
            print(row, flush=True)
        child = subprocess.run([sys.executable, "-m", "benchmarks.bench_catalog", "query",
                                "--library", tmp], capture_output=True, text=True, check=True)
        print(child.stdout, end="", flush=True)
        rows += child.stdout.splitlines()
    return rows


def vm_rss_mb() -> float:
    """Resident memory of this process now, MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_queries(folder: Path) -> None:
    """Open a built library as the app does, load its catalog, time queries, show RSS."""
    from engine.library import Library, SearchParams

    print(f"| RSS before opening the library (Python, numpy, faiss imported) | "
          f"{vm_rss_mb():.0f} MB |")
    lib = Library.open(folder)
    lib._embedder = _FakeEmbedder()
    start = time.perf_counter()
    catalog = lib.catalog()
    print(f"| catalog load (verify + read both indexes + track vectors) | "
          f"{1000 * (time.perf_counter() - start):.0f} ms |")
    print(f"| segment index | {catalog.segments.kind}, {catalog.segments.count:,} vectors |")
    ids = np.random.default_rng(4).choice(catalog.track_ids, 100, replace=False)
    seeds = [lib.analyze_seed(int(i)) for i in ids]
    for label, params in [("top-20, a new seed (its version scores computed)",
                           SearchParams(k=20)),
                          ("top-100, the same seeds again", SearchParams(k=100)),
                          ("top-20, PRF 5 + MMR 0.3, the same seeds again",
                           SearchParams(k=20, prf=5, diversity=0.3))]:
        ms = latency_ms(lambda s, p=params: lib.search(s, p), seeds)
        print(f"| in-library query, {label} (median of 100) | {ms:.1f} ms |")
    excerpt = seeds[0].__class__(**{**seeds[0].__dict__, "excerpt": True, "track_id": None})
    ms = latency_ms(lambda s: lib.search(s, SearchParams(k=20)), [excerpt] * 20)
    print(f"| excerpt query (8 seed segments, segment index), top-20 | {ms:.1f} ms |")
    print(f"| RSS after loading and 320 queries | {vm_rss_mb():.0f} MB |")
    lib.close()


def main() -> None:
    """Parse the command line and run the chosen measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", nargs="?", default="all",
                        choices=("index", "library", "all", "query"))
    parser.add_argument("--library", type=Path, help="for 'query': a built library folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_000, 1_000_000])
    parser.add_argument("--tracks", type=int, default=12_000)
    parser.add_argument("--spread", type=float, default=1.0, help="1: clustered, 2: hard")
    args = parser.parse_args()
    if args.what == "query":
        bench_queries(args.library)
        return
    if args.what in ("library", "all"):
        print("| step | figure |\n|---|---|")
        bench_library(args.tracks)
    if args.what in ("index", "all"):
        print("| vectors | index | build s | top-20 ms | top-100 ms | recall@20 | "
              "2nd / 20th neighbour cos |\n|---:|---|---:|---:|---:|---:|---:|")
        bench_index(args.sizes, spread=args.spread)


if __name__ == "__main__":
    main()
