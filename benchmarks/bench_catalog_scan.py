"""Scan throughput against the decoding floor, a per-stage profile, and an external query.

* decode floor: every file decoded (to mono at the model rate) by the same number of
  worker processes as the scan, nothing else;
* scan: ``Library.scan`` into a fresh library (walk, diff, decode, features, embed,
  tags, hash, batched commits, catalog build), in tracks per minute and x real time,
  and its ratio to the decode floor;
* profile: one core, per file: decode, features, embedding of every segment (dense),
  tags and content hash;
* external query: a generated 4-minute MP3 outside the library -> ranked results
  (``analyze_seed`` + ``search``), median of repeated runs.

Run: ``python -m benchmarks.bench_catalog_scan [--music DIR] [--limit 40] [--model DIR]``
(default music: the development corpus recordings in ``data/corpus/recordings``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from engine.analysis import content_hash
from engine.audio import AUDIO_EXTENSIONS, load_audio
from engine.library import default_workers
from engine.model import Embedder, default_model_dir

ROOT = Path(__file__).resolve().parents[1]


def _decode(args: tuple[str, int]) -> float:
    path, sr = args
    return load_audio(path, sr=sr).size / sr


def decode_floor(files: list[Path], sr: int, workers: int) -> tuple[float, float]:
    """Wall seconds to decode every file with ``workers`` processes, and audio seconds."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_decode, [(str(files[0]), sr)] * workers))  # start the workers
        start = time.perf_counter()
        audio = sum(pool.map(_decode, [(str(f), sr) for f in files]))
    return time.perf_counter() - start, audio


def scan_time(files: list[Path], model: Path, workers: int, tmp: Path) -> tuple[float, float]:
    """Wall seconds of a full scan (and of its final catalog stage) into a new library."""
    from engine.library import Library

    music = tmp / "music"
    music.mkdir()
    for i, f in enumerate(files):
        os.symlink(f.resolve(), music / f"{i:04d}{f.suffix}")
    with Library.open(tmp / "lib", model_dir=model) as lib:
        start = time.perf_counter()
        index_start = None
        for progress in lib.scan([music], workers=workers):
            if progress.stage == "index":
                index_start = time.perf_counter()
        end = time.perf_counter()
        assert lib.count() == len(files), lib.errors()
    return end - start, end - (index_start or end)


def profile(files: list[Path], model: Path) -> dict[str, float]:
    """Median per-file seconds of each stage on one core."""
    from engine.stream import stream_segments
    from engine.tags import read_tags

    embedder = Embedder(model, threads=1)
    cfg = embedder.config
    stages: dict[str, list[float]] = {"decode": [], "features": [], "embed": [], "tags": [],
                                      "hash": [], "audio_s": [], "segments": []}
    for f in files:
        t0 = time.perf_counter()
        y = load_audio(f, sr=cfg.sr)
        t1 = time.perf_counter()
        chunks = list(stream_segments([y], config=cfg))  # every segment, as scans embed
        t2 = time.perf_counter()
        for segs in chunks:
            embedder.embed(segs)
        t3 = time.perf_counter()
        read_tags(f)
        t4 = time.perf_counter()
        content_hash(f)
        t5 = time.perf_counter()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4,
                                       y.size / cfg.sr, sum(map(len, chunks))),
                              strict=False):
            stages[key].append(value)
    return {k: statistics.median(v) for k, v in stages.items()}


def external_query(model: Path, files: list[Path], tmp: Path, repeat: int) -> list[float]:
    """Seconds from a 4-minute MP3 outside the library to ranked results."""
    from engine.library import Library, SearchParams
    from tests.audio_factory import song, stereo, write_audio

    mp3 = write_audio(tmp / "external.mp3", stereo(song(4242, 240.0)))
    times = []
    with Library.open(tmp / "lib", model_dir=model) as lib:
        lib.search(lib.analyze_seed(lib.tracks()[0].id))  # catalog loaded, as in the app
        for _ in range(repeat):
            start = time.perf_counter()
            results = lib.search(lib.analyze_seed(mp3), SearchParams(k=20))
            times.append(time.perf_counter() - start)
            assert results
    return times


def stand_in_model(folder: Path) -> Path:
    """When no model ships yet: random projections at the shipped feature configuration
    (``base.yaml``), so decoding and features cost what they will; the embedding itself
    is nearly free and is reported apart."""
    from engine.config import FeatureConfig, default_config_dir
    from tests.model_factory import build_model

    config = FeatureConfig.from_yaml(default_config_dir() / "base.yaml")
    return build_model(folder, config=config, embed_dim=512, branch_dim=512,
                       name="stand-in")


def main() -> None:
    """Run every measurement and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--music", type=Path, default=ROOT / "data" / "corpus" / "recordings")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = args.model
    if model is None:
        try:
            model = default_model_dir()
        except Exception:  # no shipped model yet
            model = stand_in_model(Path(tempfile.mkdtemp()) / "stand-in")
    files = sorted(p for p in args.music.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    files = files[: args.limit]
    sr = Embedder(model, threads=1).config.sr
    decode_s, audio_s = decode_floor(files, sr, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        scan_s, index_s = scan_time(files, model, args.workers, Path(tmp))
        ext = external_query(model, files, Path(tmp), args.repeat)
    prof = profile(files[:8], model)
    print(f"model: {model} ({sr} Hz); {len(files)} files, {audio_s / 60:.1f} min of audio; "
          f"{args.workers} workers")
    print("| measure | value |\n|---|---:|")
    print(f"| decode floor | {decode_s:.1f} s ({audio_s / decode_s:.0f}x real time) |")
    print(f"| full scan (incl. catalog {index_s:.1f} s) | {scan_s:.1f} s |")
    print(f"| scan throughput | {60 * len(files) / scan_s:.0f} tracks/min, "
          f"{audio_s / scan_s:.0f}x real time |")
    print(f"| scan / decode floor | {scan_s / decode_s:.2f} |")
    print(f"| external 4-min MP3 -> top-20 (median of {len(ext)}) | "
          f"{1000 * statistics.median(ext):.0f} ms |")
    print("\nper file, one core (median of 8 files, "
          f"{prof['audio_s']:.0f} s audio, {prof['segments']:.0f} segments):")
    for key in ("decode", "features", "embed", "tags", "hash"):
        print(f"| {key} | {1000 * prof[key]:.0f} ms |")


if __name__ == "__main__":
    main()
