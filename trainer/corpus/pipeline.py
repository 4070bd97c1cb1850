"""Build the corpus: package tracks, LMMS renders and music21 renditions, then the manifest.

Real recordings come first (and a first manifest is written at once, so they are usable
while pieces render). The test part holds out the whole packages
:data:`~trainer.corpus.sources.TEST_PACKAGES`; validation holds out whole packages
(:mod:`trainer.corpus.split`),
whole module packages and LMMS authors (a seeded ``val_fraction`` of them), the ``miscFolk``
collection and a seeded ``val_fraction`` of the other pieces. Choosing pieces is
deterministic: every collection's pieces are shuffled with a seed and taken in that order
(failed parses and duplicate melodies are skipped) until the collection's quota is met.
Parsed pieces are cached as JSON under the cache folder and renditions are cached by the
hash of their spec in the file name, so a rerun only does what is missing.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.parent_watch import exit_with_parent
from trainer.corpus import lmms, recordings, render, scores, sources
from trainer.corpus.manifest import (
    Track,
    assign_split,
    manifest_dict,
    pairs_dict,
    summarize,
    write_json,
)
from trainer.corpus.split import choose_validation_packages

#: Collections with a handful of pieces: all of them are used.
WHOLE_COLLECTIONS = ("corelli", "schoenberg", "weber", "webern", "chopin", "schubert",
                     "beach", "nottingham-dataset")
#: Share of the remaining budget per folk collection (shortfalls go to essenFolksong).
FOLK_WEIGHTS = (("miscFolk", 0.15), ("airdsAirs", 0.30), ("essenFolksong", 0.55))
DEFAULT_VAL_SOURCES = ("music21:miscFolk",)
VALIDATION_LIST = "VALIDATION_PACKAGES.txt"
TEST_LIST = "TEST_PACKAGES.txt"


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
    val_packages: tuple[str, ...] | None = None   # None: chosen by split.py
    test_packages: tuple[str, ...] = sources.TEST_PACKAGES
    val_fraction: float = 0.2
    packages: tuple[str, ...] = tuple(p for p in sources.ALL_PACKAGES
                                      if p != sources.LMMS_PACKAGE)
    with_recordings: bool = True
    with_lmms: bool = True
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


def _render_task(args: tuple[dict, int, int, str, str]) -> list[tuple[str, float]]:
    """Render (or find) every rendition of one piece; [(relative path, seconds)].

    When any rendition is missing all of them are rendered again, in order, on fresh
    synths, so the audio never depends on what a worker rendered before.
    """
    piece_json, count, seed, out, split = args
    piece = scores.Piece.from_json(piece_json)
    specs = render.make_specs(piece, count, seed, split)
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
    """Render all renditions of ``pieces`` in the pool (sounds by split); their rows."""
    splits = [assign_split(f"music21:{p.piece_id}", f"music21:{p.collection}",
                           val_sources=opts.val_sources, val_fraction=opts.val_fraction,
                           seed=opts.seed) for p in pieces]
    args = [(p.to_json(), opts.renditions, opts.seed, str(opts.out), split)
            for p, split in zip(pieces, splits, strict=True)]
    tracks: list[Track] = []
    start = time.monotonic()
    for n, (piece, split, results) in enumerate(zip(pieces, splits, pool.map(_render_task, args),
                                                    strict=True), 1):
        source = f"music21:{piece.collection}"
        group = f"music21:{piece.piece_id}"
        for i, (rel, seconds) in enumerate(results):
            tracks.append(Track(rel, f"{group}#r{i}", source, "rendition", group, split,
                                seconds))
        if n % 50 == 0 or n == len(pieces):
            opts.log(f"rendered {n}/{len(pieces)} pieces ({time.monotonic() - start:.0f} s)")
    return tracks


def validation_packages(recs: list[recordings.Recording], opts: BuildOptions) -> list[str]:
    """The held-out packages: ``opts.val_packages``, or chosen from the recording counts
    (never a test package)."""
    if opts.val_packages is not None:
        chosen = list(opts.val_packages)
    else:
        counts: dict[str, int] = {}
        for rec in recs:
            if rec.kind == "recording":
                counts[rec.package] = counts.get(rec.package, 0) + 1
        chosen = choose_validation_packages(counts, seed=opts.seed)
    return sorted(set(chosen) - set(opts.test_packages))


def package_split(package: str, held_out: list[str], *, val_fraction: float, seed: int,
                  test: tuple[str, ...] = ()) -> str:
    """The split of every track of a package: a test package is ``test``; a recording
    package is held out only when chosen; a module-only package is held out for a seeded
    ``val_fraction``."""
    if package in test:
        return "test"
    if package in sources.RECORDING_PACKAGES:
        return "val" if package in held_out else "train"
    return assign_split(package, package, val_sources=(), val_fraction=val_fraction,
                        seed=seed)


def recording_tracks(opts: BuildOptions) -> tuple[list[Track], list[str]]:
    """Copy the package tracks into the corpus; their rows and the validation packages."""
    recs = recordings.collect(opts.out, opts.cache, opts.packages, opts.log)
    held_out = validation_packages(recs, opts)
    tracks = []
    for rec in recs:
        song = f"{rec.package}/{Path(rec.rel_path).stem}"
        split = package_split(rec.package, held_out, val_fraction=opts.val_fraction,
                              seed=opts.seed, test=opts.test_packages)
        tracks.append(Track(rec.rel_path, song, rec.package, rec.kind, song, split,
                            rec.duration))
    opts.log(f"package tracks: {len(tracks)} from {len({r.package for r in recs})} packages; "
             f"validation packages: {' '.join(held_out)}; "
             f"test packages: {' '.join(sorted(opts.test_packages))}")
    return tracks, held_out


def missing_tools(opts: BuildOptions) -> list[str]:
    """The Debian packages the build needs and this machine lacks."""
    missing = []
    if opts.with_recordings and shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    if opts.with_lmms and lmms.lmms_command() is None:
        missing.append("lmms")
    if opts.max_pieces > 0 and not render.soundfonts_present():
        missing += ["fluidsynth", "fluid-soundfont-gm", "musescore-general-soundfont-small"]
    return missing


def check_tools(opts: BuildOptions) -> None:
    """Stop with the one ``apt-get`` command line that installs what the build lacks."""
    missing = missing_tools(opts)
    if missing:
        skip = " (or pass --no-lmms to build without the LMMS tracks)" if missing == [
            "lmms"] else ""
        raise SystemExit(f"corpus: error: {', '.join(missing)} missing; install with: "
                         f"sudo apt-get install --no-install-recommends {' '.join(missing)}"
                         f"{skip}")


def lmms_tracks(opts: BuildOptions) -> list[Track]:
    """Render the LMMS demo projects into the corpus; their rows."""
    tracks = []
    for project in lmms.find_projects():
        audio = lmms.render_project(project, opts.cache / "lmms" / f"{project.name}.ogg",
                                    opts.log)
        duration = recordings.duration_of(audio) if audio is not None else None
        if audio is None or duration is None or duration < recordings.MIN_SECONDS:
            continue
        source = f"lmms:{project.author}"
        rec = recordings.Recording(source, "lmms", audio, f"lmms/{project.name}.ogg",
                                   duration)
        recordings.materialize(rec, opts.out)
        song = f"lmms/{project.name}"
        split = assign_split(source, source, val_sources=(), val_fraction=opts.val_fraction,
                             seed=opts.seed)
        tracks.append(Track(rec.rel_path, song, source, "lmms", song, split, duration))
    opts.log(f"lmms: {len(tracks)} projects rendered")
    return tracks


def write_outputs(tracks: list[Track], opts: BuildOptions) -> dict:
    """Write manifest.json and pairs.json; return the manifest."""
    manifest = manifest_dict(tracks)
    write_json(opts.out / "pairs.json", pairs_dict(tracks))
    write_json(opts.out / "manifest.json", manifest)
    return manifest


def previous_tracks(out: Path, kinds: tuple[str, ...]) -> list[Track]:
    """Rows of ``kinds`` in the manifest already in ``out`` whose files still exist."""
    path = out / "manifest.json"
    if not path.is_file():
        return []
    rows = json.loads(path.read_text(encoding="utf-8")).get("tracks", [])
    return [Track(**row) for row in rows
            if row.get("kind") in kinds and (out / row["path"]).is_file()]


def build(opts: BuildOptions) -> dict:
    """Build (or update) the corpus in ``opts.out``; returns the summary statistics."""
    start = time.monotonic()
    check_tools(opts)
    opts.out.mkdir(parents=True, exist_ok=True)
    opts.cache.mkdir(parents=True, exist_ok=True)
    rec_tracks: list[Track] = []
    held_out: list[str] = []
    if opts.with_recordings:
        rec_tracks, held_out = recording_tracks(opts)
        (opts.out / VALIDATION_LIST).write_text("".join(f"{p}\n" for p in held_out))
        (opts.out / TEST_LIST).write_text("".join(f"{p}\n" for p in sorted(opts.test_packages)))
        # usable at once: the new package tracks with the previous build's other tracks
        write_outputs(rec_tracks + previous_tracks(opts.out, ("lmms", "rendition")), opts)
    if opts.with_lmms:
        rec_tracks += lmms_tracks(opts)
    ren_tracks: list[Track] = []
    if opts.max_pieces > 0:
        with ProcessPoolExecutor(max_workers=max(opts.jobs, 1),
                                 initializer=exit_with_parent) as pool:
            pieces = select_pieces(opts, pool)
            opts.log(f"pieces: {len(pieces)} chosen; rendering {opts.renditions} each")
            ren_tracks = render_pieces(pieces, opts, pool)
    manifest = write_outputs(rec_tracks + ren_tracks, opts)
    summary = summarize(manifest)
    summary["build_seconds"] = round(time.monotonic() - start, 1)
    summary["options"] = {"max_pieces": opts.max_pieces, "renditions": opts.renditions,
                          "seed": opts.seed, "val_sources": list(opts.val_sources),
                          "val_packages": held_out, "val_fraction": opts.val_fraction,
                          "test_packages": sorted(opts.test_packages),
                          "jobs": opts.jobs}
    write_json(opts.out / "build.json", summary)
    return summary
