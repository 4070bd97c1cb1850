"""Build the corpus: choose pieces, render them in worker processes, write the manifest.

Choosing is deterministic: every collection's pieces are shuffled with a seed and taken in
that order (failed parses and duplicate melodies are skipped) until the collection's quota
is met. Parsed pieces are cached as JSON under the cache folder and renditions are cached by
the hash of their spec in the file name, so a rerun only does what is missing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from trainer.corpus import recordings, render, scores
from trainer.corpus.manifest import (
    Track,
    assign_split,
    manifest_dict,
    pairs_dict,
    summarize,
    write_json,
)

#: Collections with a handful of pieces: all of them are used.
WHOLE_COLLECTIONS = ("corelli", "schoenberg", "weber", "webern", "chopin", "schubert",
                     "beach", "nottingham-dataset")
#: Share of the remaining budget per folk collection (shortfalls go to essenFolksong).
FOLK_WEIGHTS = (("miscFolk", 0.15), ("airdsAirs", 0.30), ("essenFolksong", 0.55))
DEFAULT_VAL_SOURCES = ("openclonk-data", "xmoto-data", "music21:miscFolk")


@dataclass
class BuildOptions:
    """Everything ``build`` needs (the CLI fills it)."""

    out: Path
    cache: Path
    max_pieces: int = 400
    renditions: int = 4
    jobs: int = 2
    seed: int = 0
    val_sources: tuple[str, ...] = DEFAULT_VAL_SOURCES
    val_fraction: float = 0.2
    packages: tuple[str, ...] = recordings.PACKAGES
    install: bool = True
    with_recordings: bool = True
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr, flush=True))


def _parse_task(args: tuple[scores.PieceRef, str, str]) -> dict | None:
    ref, root, cache = args
    piece = scores.cached_piece(ref, Path(root), Path(cache))
    return None if piece is None else piece.to_json()


def select_pieces(opts: BuildOptions, pool: Executor) -> list[scores.Piece]:
    """Deterministic choice of at most ``opts.max_pieces`` usable, distinct pieces."""
    root = scores.corpus_root()
    refs = scores.list_pieces(root)
    by_coll: dict[str, list[scores.PieceRef]] = {}
    for ref in refs:
        by_coll.setdefault(ref.collection, []).append(ref)
    chosen: list[scores.Piece] = []
    seen: set[str] = set()
    whole = [r for c in WHOLE_COLLECTIONS for r in by_coll.get(c, [])]
    _take(whole, len(whole), opts, pool, root, chosen, seen)
    chosen = chosen[: opts.max_pieces]
    budget = max(opts.max_pieces - len(chosen), 0)
    shortfall = 0
    for coll, weight in FOLK_WEIGHTS:
        quota = round(budget * weight) + shortfall
        if coll == FOLK_WEIGHTS[-1][0]:
            quota = opts.max_pieces - len(chosen)
        order = np.random.default_rng(render.stable_int("select", opts.seed, coll))
        candidates = [by_coll.get(coll, [])[i] for i in order.permutation(
            len(by_coll.get(coll, [])))]
        got = _take(candidates, quota, opts, pool, root, chosen, seen)
        shortfall = quota - got
        opts.log(f"pieces: {coll}: {got} of quota {quota}")
    return chosen


def _take(candidates: list[scores.PieceRef], quota: int, opts: BuildOptions, pool: Executor,
          root: Path, chosen: list[scores.Piece], seen: set[str]) -> int:
    """Parse candidates in order until ``quota`` new pieces were added to ``chosen``."""
    got, pos = 0, 0
    while got < quota and pos < len(candidates):
        batch = candidates[pos: pos + max(2 * (quota - got), 8 * opts.jobs)]
        pos += len(batch)
        args = [(ref, str(root), str(opts.cache)) for ref in batch]
        for data in pool.map(_parse_task, args, chunksize=4):
            if data is None or got >= quota:
                continue
            piece = scores.Piece.from_json(data)
            sig = scores.melody_signature(piece)
            if sig in seen:
                continue
            seen.add(sig)
            chosen.append(piece)
            got += 1
    return got


def rendition_path(spec: render.RenditionSpec) -> str:
    """Corpus-relative path of a rendition (its spec hash makes it a cache key)."""
    return f"renditions/{spec.piece_id}/r{spec.index}-{spec.key()}.ogg"


def _render_task(args: tuple[dict, int, int, str]) -> list[tuple[str, float]]:
    """Render (or find) every rendition of one piece; [(relative path, seconds)].

    When any rendition is missing all of them are rendered again, in order, on fresh
    synths, so the audio never depends on what a worker rendered before.
    """
    piece_json, count, seed, out = args
    piece = scores.Piece.from_json(piece_json)
    specs = render.make_specs(piece, count, seed)
    paths = [Path(out) / rendition_path(spec) for spec in specs]
    _remove_stale(paths)
    if not all(p.is_file() for p in paths):
        pool = render.SynthPool()
        try:
            for spec, path in zip(specs, paths, strict=True):
                render.write_ogg(path, render.synthesize(piece, spec, pool), pool.sr)
        finally:
            pool.close()
    results = []
    for spec, path in zip(specs, paths, strict=True):
        info = sf.info(str(path))
        results.append((rendition_path(spec), info.frames / info.samplerate))
    return results


def _remove_stale(paths: list[Path]) -> None:
    """Delete renditions of the same piece and index made from an older spec."""
    for index, path in enumerate(paths):
        for old in path.parent.glob(f"r{index}-*.ogg"):
            if old != path:
                old.unlink()


def render_pieces(pieces: list[scores.Piece], opts: BuildOptions, pool: Executor
                  ) -> list[Track]:
    """Render all renditions of ``pieces`` in the pool; their manifest rows."""
    args = [(p.to_json(), opts.renditions, opts.seed, str(opts.out)) for p in pieces]
    tracks: list[Track] = []
    start = time.monotonic()
    for n, (piece, results) in enumerate(zip(pieces, pool.map(_render_task, args),
                                             strict=True), 1):
        source = f"music21:{piece.collection}"
        group = f"music21:{piece.piece_id}"
        split = assign_split(group, source, val_sources=opts.val_sources,
                             val_fraction=opts.val_fraction, seed=opts.seed)
        for i, (rel, seconds) in enumerate(results):
            tracks.append(Track(rel, f"{group}#r{i}", source, "rendition", group, split,
                                seconds))
        if n % 50 == 0 or n == len(pieces):
            opts.log(f"rendered {n}/{len(pieces)} pieces ({time.monotonic() - start:.0f} s)")
    return tracks


def recording_tracks(opts: BuildOptions) -> list[Track]:
    """Copy the package recordings into the corpus; their manifest rows."""
    recs = recordings.collect(opts.out, opts.packages, install=opts.install, log=opts.log)
    tracks = []
    for rec in recs:
        song = f"{rec.package}/{Path(rec.rel_path).stem}"
        split = assign_split(song, rec.package, val_sources=opts.val_sources,
                             val_fraction=opts.val_fraction, seed=opts.seed)
        tracks.append(Track(rec.rel_path, song, rec.package, "recording", song, split,
                            rec.duration))
    opts.log(f"recordings: {len(tracks)} files from {len({r.package for r in recs})} packages")
    return tracks


def write_outputs(tracks: list[Track], opts: BuildOptions) -> dict:
    """Write manifest.json and pairs.json; return the manifest."""
    manifest = manifest_dict(tracks)
    write_json(opts.out / "pairs.json", pairs_dict(tracks))
    write_json(opts.out / "manifest.json", manifest)
    return manifest


def build(opts: BuildOptions) -> dict:
    """Build (or update) the corpus in ``opts.out``; returns the summary statistics."""
    start = time.monotonic()
    opts.out.mkdir(parents=True, exist_ok=True)
    opts.cache.mkdir(parents=True, exist_ok=True)
    rec_tracks = recording_tracks(opts) if opts.with_recordings else []
    if rec_tracks and not (opts.out / "manifest.json").is_file():
        write_outputs(rec_tracks, opts)  # a first usable corpus while rendering runs
    ren_tracks: list[Track] = []
    if opts.max_pieces > 0:
        if not render.soundfonts_present():
            raise SystemExit("soundfonts missing: apt-get install fluidsynth "
                             "fluid-soundfont-gm musescore-general-soundfont-small")
        with ProcessPoolExecutor(max_workers=max(opts.jobs, 1)) as pool:
            pieces = select_pieces(opts, pool)
            opts.log(f"pieces: {len(pieces)} chosen; rendering {opts.renditions} each")
            ren_tracks = render_pieces(pieces, opts, pool)
    manifest = write_outputs(rec_tracks + ren_tracks, opts)
    summary = summarize(manifest)
    summary["build_seconds"] = round(time.monotonic() - start, 1)
    summary["options"] = {"max_pieces": opts.max_pieces, "renditions": opts.renditions,
                          "seed": opts.seed, "val_sources": list(opts.val_sources),
                          "val_fraction": opts.val_fraction, "jobs": opts.jobs}
    write_json(opts.out / "build.json", summary)
    return summary
