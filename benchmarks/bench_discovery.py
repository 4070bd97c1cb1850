"""Discovery speed and quality on a synthetic vector library (the discovery budgets).

Tracks are unit vectors (1,920-d: the width of the space discovery reads with the shipped
model) in two levels, like a real collection: genres, artists within a genre, songs
around their artist. Measured:

* map: first build of 20,000 tracks, then 500 more placed incrementally (cache read
  and written atomically included); neighbourhood purity (share of each track's 10
  nearest map neighbours from the same genre / artist) against a 2-D PCA and, with
  ``--anchors``, against a t-SNE of 5,000 anchors with the other tracks placed;
* path: 10-song paths between random pairs of a 12,000-track library; mean step
  similarity against random orderings;
* mixes: a 12,000-track library clustered with the default count, named from tags;
  genre purity of the mixes;
* duplicates: a 12,000-track library database whose tracks have 57 coded dense
  segments each (4-minute tracks), with planted copies (re-encoded: the segments plus
  noise; trimmed: segments cut at both ends; inside 40-minute files), searched end to
  end by ``find_duplicates``; then the same with every track's 8 nearest tracks
  checked segment by segment (a library where everything sounds alike). The planted
  copies have no audio, so their exact check is timed separately on two generated
  4-minute files (a FLAC and its 64 kb/s MP3).

Wall-clock and CPU seconds are both given: CPU time is what the work costs, wall time
what a user waits on this (possibly shared) machine.

``--corpus DIR`` instead scans real recordings of the development corpus (``DIR/
recordings``) with the shipped model, plus planted copies of some of them (64 kb/s
MP3 re-encodes; FLAC copies trimmed at both ends), and checks that every copy is
grouped with its original and no group joins distinct recordings.

Run: ``python -m benchmarks.bench_discovery [--anchors] [--corpus DIR]``; the figures go
into RESULTS.md's discovery section by hand (it also holds the real-vector figures of
``benchmarks/bench_discovery_corpus.py`` and how the thresholds were set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.discovery.layout import build_layout
from engine.discovery.mapcache import load_layout, save_layout, update_layout
from engine.discovery.mixes import make_mixes
from engine.discovery.path import song_path
from engine.index import normalise
from engine.records import TrackInfo

#: The fused vectors' width (duplicates compare stored segments' fused vectors).
DIM = 512
#: The width of the space map, path and mixes read with the shipped default model
#: (:mod:`engine.discovery.space`: fused 512 + timbre graph 384 + harmony 512 + rhythm 512).
SPACE_DIM = 1920
GENRES, ARTISTS = 40, 12


def library(n: int, *, seed: int = 0, dim: int = SPACE_DIM
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` unit vectors ``(n, dim)`` with their genre and artist labels."""
    rng = np.random.default_rng(seed)
    genre_c = rng.standard_normal((GENRES, dim))
    artist_c = rng.standard_normal((GENRES, ARTISTS, dim))
    genre = rng.integers(0, GENRES, n)
    artist = rng.integers(0, ARTISTS, n)
    x = genre_c[genre] + 0.7 * artist_c[genre, artist] + 1.4 * rng.standard_normal((n, dim))
    return normalise(x), genre, genre * ARTISTS + artist


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall-clock and its CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def purity(xy: np.ndarray, labels: np.ndarray, *, k: int = 10, sample: int = 3000) -> float:
    """Share of each sampled point's ``k`` nearest 2-D neighbours with its label."""
    import faiss

    xy = np.ascontiguousarray(xy, dtype=np.float32)
    rows = np.random.default_rng(1).choice(len(xy), min(sample, len(xy)), replace=False)
    _, nn = faiss.knn(xy[rows], xy, k + 1)
    return float(np.mean(labels[nn[:, 1:]] == labels[rows][:, None]))


Rows = tuple[list[str], list[str]]  # table rows, notes


def preservation(x: np.ndarray, xy: np.ndarray, *, k: int = 10, sample: int = 3000) -> float:
    """Share of each sampled track's ``k`` nearest in vector space (cosine) that are among
    its ``k`` nearest on the map."""
    import faiss

    rows = np.random.default_rng(1).choice(len(x), min(sample, len(x)), replace=False)
    x = np.ascontiguousarray(x, dtype=np.float32)
    xy = np.ascontiguousarray(xy, dtype=np.float32)
    _, near = faiss.knn(x[rows], x, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    _, on_map = faiss.knn(xy[rows], xy, k + 1)
    return float(np.mean([len(set(a[1:]) & set(b[1:])) / k
                          for a, b in zip(near, on_map, strict=True)]))


def abandon_seconds(x: np.ndarray, after: float) -> float:
    """Seconds from ``should_stop`` first saying True (``after`` seconds into a full
    layout) to :class:`~engine.errors.Cancelled` reaching the caller."""
    from engine.errors import Cancelled

    start = time.perf_counter()
    asked: list[float] = []

    def should_stop() -> bool:
        if time.perf_counter() - start >= after:
            asked.append(time.perf_counter())
        return bool(asked)

    try:
        build_layout(np.arange(len(x)), x, should_stop=should_stop)
    except Cancelled:
        return time.perf_counter() - start - after
    raise AssertionError("the layout was not abandoned")


def bench_map(n: int = 20_000, added: int = 500) -> Rows:
    """First build, incremental update, neighbourhoods and abandoning of the map."""
    x, genre, artist = library(n + added)
    ids = np.arange(n + added, dtype=np.int64)
    layout, wall, cpu = timed(lambda: build_layout(ids[:n], x[:n]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layout.npz"
        save_layout(path, layout, fingerprint="bench")

        def add() -> Any:
            cached = load_layout(path, fingerprint="bench", dim=SPACE_DIM)
            update = update_layout(cached, ids, x)
            save_layout(path, update.layout, fingerprint="bench")
            return update

        update, add_wall, add_cpu = timed(add)
    assert not update.rebuilt and update.added == added
    pca = x[:n] - x[:n].mean(axis=0)
    pca2 = pca @ np.linalg.svd(pca[:5000], full_matrices=False)[2][:2].T
    late = [abandon_seconds(x[:n], part * wall) for part in (0.1, 0.4, 0.8)]
    return [
        f"| map of {n:,} tracks, first build | {wall:.1f} s | {cpu:.1f} s | < 30 s |",
        f"| map after adding {added} tracks (cache read, placed, written) | {add_wall:.2f} s "
        f"| {add_cpu:.2f} s | < 3 s |",
        f"| a running {n:,}-track layout abandoned (``should_stop``; asked 10, 40, 80 % "
        f"into a build; worst) | {max(late):.2f} s | | |",
    ], [
        f"Map neighbourhoods ({n:,} tracks, 10 nearest on the map): same genre "
        f"{purity(update.layout.xy, genre):.2f}, same artist "
        f"{purity(update.layout.xy, artist):.2f}; of the 10 nearest in vector space "
        f"{preservation(x[:n], layout.xy):.2f} are among the 10 nearest on the map. A 2-D PCA "
        f"gives {purity(pca2, genre[:n]):.2f} / {purity(pca2, artist[:n]):.2f} / "
        f"{preservation(x[:n], pca2):.2f}.",
    ]


def bench_anchored(n: int = 20_000, anchors: int = 5000) -> Rows:
    """The cheaper alternative: t-SNE of ``anchors`` tracks, the others placed among them."""
    x, genre, artist = library(n)
    layout, wall, cpu = timed(lambda: build_layout(np.arange(n), x, max_anchors=anchors))
    return [f"| (alternative) map of {n:,} tracks, t-SNE of {anchors:,} anchors | "
            f"{wall:.1f} s | {cpu:.1f} s | |"], [
        f"With t-SNE of {anchors:,} anchors only: same genre {purity(layout.xy, genre):.2f}, "
        f"same artist {purity(layout.xy, artist):.2f}."]


def bench_space(n: int = 20_000) -> Rows:
    """The space map, path and mixes read, computed from a catalog's columns of the
    shipped default model's widths: time and peak memory."""
    import tracemalloc
    from types import SimpleNamespace

    from engine.discovery.space import sound_space
    from engine.model import default_model_dir, load_card

    card = load_card(default_model_dir())
    rng = np.random.default_rng(5)
    widths = {"fused": DIM, **card.branch_dims}
    catalog: Any = SimpleNamespace(track_vectors={
        name: normalise(rng.standard_normal((n, d)).astype(np.float32))
        for name, d in widths.items()})
    sound_space(catalog, card)  # warm-up
    tracemalloc.start()
    rows, wall, cpu = timed(lambda: sound_space(catalog, card))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return [
        f"| the space of {n:,} tracks from the catalog's columns ({rows.shape[1]}-d; the "
        f"map, the mixes and a path each compute it) | {1000 * wall:.0f} ms | "
        f"{1000 * cpu:.0f} ms | |",
    ], [
        f"The space of {n:,} tracks takes {peak / 1e6:.0f} MB at its peak (the rows and "
        "the re-weighted timbre column; computed per request, not kept).",
    ]


def bench_path(n: int = 12_000, length: int = 10, pairs: int = 30) -> Rows:
    """Latency and step similarity of song paths."""
    x, _, _ = library(n, seed=1)
    rng = np.random.default_rng(2)
    song_path(x, 0, 1, length)  # warm-up: the first call starts BLAS threads
    walls, cpus, steps, randoms = [], [], [], []
    for _ in range(pairs):
        a, b = (int(v) for v in rng.choice(n, 2, replace=False))
        rows, wall, cpu = timed(lambda a=a, b=b: song_path(x, a, b, length))
        walls.append(wall)
        cpus.append(cpu)
        v = x[rows]
        steps.append(float(np.mean(np.sum(v[:-1] * v[1:], axis=1))))
        shuffled = x[[a, *rng.choice(n, length - 2, replace=False), b]]
        randoms.append(float(np.mean(np.sum(shuffled[:-1] * shuffled[1:], axis=1))))
    return [
        f"| path of {length} songs in a {n:,}-track library (median / max of {pairs}) | "
        f"{1000 * np.median(walls):.0f} / {1000 * max(walls):.0f} ms | "
        f"{1000 * np.median(cpus):.0f} / {1000 * max(cpus):.0f} ms | < 200 ms |",
    ], [
        f"Path steps: mean similarity of consecutive songs {np.mean(steps):.3f}, "
        f"random songs between the same ends {np.mean(randoms):.3f}.",
    ]


def _tagged(genre: np.ndarray) -> dict[int, TrackInfo]:
    return {i: TrackInfo(id=i, path=Path(f"/music/{i}.flac"), title=f"Song {i}",
                         artist=None, album=None, album_artist=None, track_no=None,
                         year=None, genre=f"Genre {g}", duration=None, format="flac",
                         has_cover=False, status="ok", error=None)
            for i, g in enumerate(genre)}


def bench_mixes(n: int = 12_000) -> Rows:
    """Time and genre purity of the default mixes."""
    x, genre, _ = library(n, seed=3)
    infos = _tagged(genre)
    mixes, wall, cpu = timed(lambda: make_mixes(np.arange(n), x, infos))
    assert sorted(t for m in mixes for t in m.track_ids) == list(range(n))
    share = np.mean([np.bincount(genre[m.track_ids]).max() / len(m.track_ids)
                     for m in mixes])
    named = np.mean([not m.name.startswith("Like ") for m in mixes])
    return [
        f"| mixes of a {n:,}-track library ({len(mixes)} mixes) | {wall:.2f} s | {cpu:.2f} s "
        "| < 5 s |",
    ], [
        f"Mixes: on average {share:.0%} of a mix's tracks share its main genre; "
        f"{named:.0%} of the mixes are named from tags.",
    ]


SEGMENTS, HOP = 57, 4.0


def _dense_library(folder: Path, n: int, *, copies: int, long_files: int) -> dict[str, int]:
    """Write a library database of ``n`` tracks (``copies`` re-encoded and ``copies``
    trimmed copies, ``long_files`` 40-minute files holding a track among them) with
    coded dense segments; returns the planted counts."""
    from engine import dense, records
    from engine.store import Store, to_blob

    rng = np.random.default_rng(8)
    # embeddings fill few of their dimensions: everything lives in a 96-d subspace here,
    # which the codec's 128-d PCA keeps (isotropic 512-d noise would be coded away)
    basis = np.linalg.qr(rng.standard_normal((DIM, 96)))[0].T.astype(np.float32)
    centres, _, _ = library(n, seed=7, dim=DIM)
    centres = centres[:, :96] @ basis
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def segments(centre: np.ndarray, count: int) -> np.ndarray:
        v = centre + 0.6 * rng.standard_normal((count, 96)) @ basis / np.sqrt(96)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    per_track = {t: segments(centres[t], SEGMENTS) for t in range(n - 2 * copies - long_files)}
    originals = list(per_track)
    for i in range(copies):  # re-encoded, then trimmed copies
        src = per_track[originals[i]]
        noisy = src + 0.15 * rng.standard_normal((len(src), 96)) @ basis / np.sqrt(96)
        per_track[len(per_track)] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    for i in range(copies):
        per_track[len(per_track)] = per_track[originals[copies + i]][3:-5]
    for i in range(long_files):
        inside = per_track[originals[2 * copies + i]]
        others = [segments(centres[int(rng.integers(n))], 40) for _ in range(14)]
        per_track[len(per_track)] = np.concatenate([*others[:7], inside, *others[7:]])
    sample = np.concatenate([per_track[t][:4] for t in range(0, len(per_track), 2)])
    codec = dense.Codec.fit(sample)
    store = Store(folder / "library.db")
    root = store.add_root("/synthetic")
    with store.transaction() as conn:
        cur = conn.execute("INSERT INTO dense_codecs (fingerprint, kind, dim, params, "
                           "created) VALUES ('synthetic', 'pca-int8', ?, ?, 0)",
                           (codec.dim, codec.to_blob()))
        codec = dense.Codec(int(cur.lastrowid or 0), codec.mean, codec.components,
                            codec.scale)
        for t, v in per_track.items():
            tid = records.insert_pending(conn, path=f"/synthetic/t{t:06d}.mp3", root_id=root,
                                         size=len(v) * HOP * 24_000, mtime=1.0)
            mean = v.mean(axis=0)
            conn.execute("INSERT INTO track_vectors VALUES (?, ?, ?, ?, ?)",
                         (tid, *[to_blob(mean / np.linalg.norm(mean))] * 4))
            conn.execute("UPDATE tracks SET status='ok', fingerprint='synthetic', duration=? "
                         "WHERE id=?", (len(v) * HOP + 14.0, tid))
            dense.save(conn, tid, np.arange(len(v), dtype=np.float32) * HOP, v, codec)
    store.close()
    return {"copies": 2 * copies + long_files}


class _Catalog:
    """What ``find_duplicates`` reads of a catalog (the track vectors), without the
    segment index the product builds for excerpt search."""

    def __init__(self, store: Any) -> None:
        from engine.store import from_blob

        rows = store.query("SELECT track_id, fused FROM track_vectors ORDER BY track_id")
        self.track_ids = np.array([int(r[0]) for r in rows], np.int64)
        self.track_vectors = {"fused": np.stack([from_blob(r[1]) for r in rows])}
        self.fingerprint = "synthetic"


def _exact_check_seconds(*, pairs: int = 8) -> tuple[float, float]:
    """Seconds of one exact check of a pair of real 4-minute files (median of 5), and
    wall seconds per pair when ``pairs`` such pairs go through ``find_duplicates``'s
    thread pool (:data:`~engine.discovery.duplicates.CHECK_THREADS` at once)."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.discovery.duplicates import CHECK_THREADS, same_audio
    from tests.audio_factory import song, write_audio, write_lossy

    base = _tagged(np.zeros(1, int))[0]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for s in range(pairs):
            y = song(s, 240.0, sr=22050)
            a = write_audio(Path(tmp) / f"a{s}.flac", y, sr=22050)
            b = write_lossy(Path(tmp) / f"b{s}.mp3", y, sr=22050)
            files.append((replace(base, path=a, duration=240.0),
                          replace(base, path=b, duration=240.0)))

        def check(pair: Any) -> float:
            score, _ = same_audio(pair[0], (0.0, 240.0), pair[1], (0.0, 240.0), slack=5.0)
            return float(score)

        times = []
        for _ in range(5):
            start = time.perf_counter()
            assert check(files[0]) > 0.9
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        with ThreadPoolExecutor(CHECK_THREADS) as pool:
            assert min(pool.map(check, files)) > 0.9
        pooled = (time.perf_counter() - start) / pairs
    return float(np.median(times)), pooled


def bench_duplicates(n: int = 12_000, copies: int = 150, long_files: int = 20) -> Rows:
    """Time of ``find_duplicates`` over a synthetic dense library; copies found."""
    from engine.discovery import duplicates as dup
    from engine.model import default_model_dir, load_card
    from engine.records import list_tracks
    from engine.store import Store

    config = load_card(default_model_dir()).features
    with tempfile.TemporaryDirectory() as tmp:
        planted = _dense_library(Path(tmp), n, copies=copies, long_files=long_files)
        store = Store(Path(tmp) / "library.db")
        infos = {t.id: t for t in list_tracks(store)}
        catalog: Any = _Catalog(store)
        checked: list[int] = []
        real_check = dup._checked

        def count(*args: Any, **kwargs: Any) -> Any:  # no audio: every gated pair fails
            checked.append(1)
            return real_check(*args, **kwargs)

        dup._checked = count
        try:
            _, wall, cpu = timed(lambda: dup.find_duplicates(store, catalog, infos,
                                                              config=config))
            gated = len(checked)
            checked.clear()
            found = real_pairs = dup._neighbour_pairs

            def every_neighbour(ids: Any, vectors: Any, **kw: Any) -> Any:
                return real_pairs(ids, vectors, **{**kw, "min_sim": -1.0})

            dup._neighbour_pairs = every_neighbour
            _, wall_all, cpu_all = timed(lambda: dup.find_duplicates(store, catalog, infos,
                                                                      config=config))
        finally:
            dup._checked = real_check
            dup._neighbour_pairs = found
        store.close()
    exact, pooled = _exact_check_seconds()
    return [
        f"| duplicates over a {n:,}-track dense library ({planted['copies']} planted copies; "
        f"{gated} pairs reach the exact check, not included) | {wall:.1f} s | {cpu:.1f} s "
        "| < 60 s |",
        f"| the same, every track's {dup.NEIGHBOURS} nearest tracks checked segment by "
        f"segment | {wall_all:.1f} s | {cpu_all:.1f} s | |",
        f"| exact check of one pair (2 probes of {dup.PROBE_SECONDS:.0f} s decoded from a "
        f"FLAC and an MP3, aligned, compared) | {exact * 1000:.0f} ms | | |",
        f"| the same, 8 pairs on {dup.CHECK_THREADS} threads, per pair | "
        f"{pooled * 1000:.0f} ms | | |",
        f"| duplicates over 12,000 tracks with {planted['copies']} copies, exact checks "
        f"included (first row + {gated} x the pooled check; estimate) | "
        f"{wall + gated * pooled:.1f} s | | < 60 s |",
    ], [
        f"Duplicates: {gated} of the {planted['copies']} planted copies passed the segment "
        f"check (mean in-step similarity >= {dup.MIN_SCORE}) and went to the exact check; "
        f"each exact check costs about {exact * 1000:.0f} ms alone, {pooled * 1000:.0f} ms "
        f"a pair on the thread pool, so a library with 1,000 copies adds about "
        f"{pooled * 1000:.0f} s.",
    ]


def bench_duplicates_corpus(corpus: Path, *, tracks: int = 40, copies: int = 10) -> Rows:
    """Planted copies of real recordings: found, and nothing else grouped."""
    import shutil

    from engine.audio import audio_info, load_audio
    from engine.library import Library
    from engine.model import default_model_dir
    from tests.audio_factory import write_audio, write_lossy

    files = sorted(p for p in (corpus / "recordings").rglob("*") if p.suffix.lower()
                   in (".ogg", ".wav", ".mp3", ".flac"))
    rng = np.random.default_rng(5)
    chosen = []
    for p in rng.permutation(files):
        if len(chosen) < tracks and 60.0 <= audio_info(p).duration <= 420.0:
            chosen.append(Path(p))
    sr = 22050
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        music.mkdir()
        source: dict[str, int] = {}
        for i, p in enumerate(chosen):
            name = f"{i:03d}{p.suffix.lower()}"
            shutil.copy(p, music / name)
            source[name] = i
        for i, p in enumerate(chosen[:2 * copies]):
            y = load_audio(p, sr=sr)
            if i < copies:
                write_lossy(music / f"{i:03d}-copy.mp3", y, sr=sr, bit_rate=64_000)
                source[f"{i:03d}-copy.mp3"] = i
            else:
                write_audio(music / f"{i:03d}-trim.flac", y[7 * sr:-11 * sr], sr=sr)
                source[f"{i:03d}-trim.flac"] = i
        lib = Library.open(Path(tmp) / "lib", model_dir=default_model_dir())
        list(lib.scan([music], workers=0))
        groups, wall, cpu = timed(lib.duplicates)
        lib.close()
    origins = [{source[c.track.path.name] for c in g.copies} for g in groups]
    found = sum(1 for i in range(2 * copies)
                if any(o == {i} and len(g.copies) >= 2 for o, g in zip(origins, groups,
                                                                       strict=True)))
    mixed = sum(1 for o in origins if len(o) > 1)
    return [
        f"| duplicates of {len(chosen)} real recordings + {2 * copies} planted copies "
        f"(development corpus) | {wall:.1f} s | {cpu:.1f} s | |",
    ], [
        f"Duplicates on the development corpus: {found} of {2 * copies} planted copies "
        f"({copies} MP3 at 64 kb/s, {copies} trimmed by 7 s and 11 s) grouped with their "
        f"original; {mixed} group(s) join distinct recordings; {len(groups)} groups in all.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", action="store_true",
                        help="also time the map laid out from 5,000 anchors")
    parser.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                        help="only the duplicates check on the development corpus DIR")
    args = parser.parse_args()
    from benchmarks.results import machine

    if args.corpus is not None:
        rows, found = bench_duplicates_corpus(args.corpus)
        print("\n".join([*rows, *found]))
        return

    timings = ["| measure | wall | CPU | target |", "|---|---|---|---|"]
    notes: list[str] = []
    parts = [bench_space, bench_map, *([bench_anchored] if args.anchors else []), bench_path,
             bench_mixes, bench_duplicates]
    for rows, found in (part() for part in parts):
        timings += rows
        notes += found
    load = os.getloadavg()[0]
    body = "\n".join([
        "## Discovery: map, song path, mixes (`python -m benchmarks.bench_discovery`)", "",
        f"Synthetic library (genres > artists > songs; {SPACE_DIM}-d for map, path and "
        f"mixes, the space they read; {DIM}-d fused segments for duplicates); {machine()}; "
        f"load average "
        f"{load:.1f} when the run ended (above the core count, wall time exceeds CPU time "
        "by the time spent waiting for a core).", "",
        *timings, "", *(f"- {n}" for n in notes)])
    print(body)


if __name__ == "__main__":
    main()
