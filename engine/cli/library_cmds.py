"""Library commands: ``scan``, ``similar``, ``playlist``, ``status``, ``export``, ``import``.

Every command takes ``--library PATH`` (default: the platform's data folder) and
``--model DIR`` (default: the model the library was built with, else the shipped one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.output import printable
from engine.errors import DecodeError, ParameterError
from engine.filecheck import not_a_file_reason

if TYPE_CHECKING:
    from engine.library import Library
    from engine.records import ScanError
    from engine.search import SearchParams, SearchResult


def common_options() -> argparse.ArgumentParser:
    """The ``--library``/``--model`` options every library command takes (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--library", type=Path, default=None, metavar="PATH",
                        help="library folder (default: the platform's data folder)")
    parent.add_argument("--model", type=Path, default=None, metavar="DIR",
                        help="embedding model folder (default: the shipped model)")
    return parent


def _search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--topk", type=int, default=20, dest="k", help="results (20)")
    p.add_argument("--prf", type=int, default=0, help="pseudo-relevance feedback items (0: off)")
    p.add_argument("--diversity", "--lambda_div", type=float, default=0.0, dest="diversity",
                   help="MMR diversity d in [0, 1] (0: plain ranking)")
    p.add_argument("--weights", default="1,1,1", metavar="T,H,R",
                   help="timbre, harmony, rhythm weights (default 1,1,1: the model's own "
                   "balance)")
    p.add_argument("--exclude-album", action="store_true", help="skip the seed's album")
    p.add_argument("--exclude-artist", action="store_true", help="skip the seed's artist")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the library sub-commands."""
    common = common_options()
    p = sub.add_parser("scan", parents=[common], help="scan music folders into the library")
    p.add_argument("folders", nargs="*", type=Path, help="folders (default: the library's)")
    p.add_argument("--workers", type=int, default=None, help="analysis processes (all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_scan)

    p = sub.add_parser("similar", parents=[common], help="find songs that sound alike",
                       description="Rank the library for each seed: a library track id, "
                       "or any audio file.")
    p.add_argument("seeds", nargs="*", help="audio files or library track ids")
    p.add_argument("--batch", type=Path, default=None, help="file with one seed per line")
    p.add_argument("--json", action="store_true", help="one JSON object per seed (JSON Lines)")
    p.add_argument("--together", action="store_true",
                   help="one combined ranking for all the seeds (more like these)")
    _search_options(p)
    p.set_defaults(handler=run_similar)

    p = sub.add_parser("playlist", parents=[common], help="build a playlist from a seed")
    p.add_argument("seed", help="audio file or library track id")
    p.add_argument("--out", type=Path, required=True, help="playlist file (.m3u8 or .xspf)")
    p.add_argument("--format", choices=("m3u8", "xspf"), default=None)
    p.add_argument("--name", default=None, help="also save it in the library under NAME")
    p.add_argument("--absolute", action="store_true", help="absolute paths in M3U8")
    _search_options(p)
    p.set_defaults(handler=run_playlist)

    p = sub.add_parser("status", parents=[common], help="library statistics and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_status)

    p = sub.add_parser("export", parents=[common], help="export a saved playlist")
    p.add_argument("name", help="playlist name")
    p.add_argument("--out", type=Path, required=True, help="file (.m3u8 or .xspf)")
    p.add_argument("--format", choices=("m3u8", "xspf"), default=None)
    p.add_argument("--absolute", action="store_true", help="absolute paths in M3U8")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("import", parents=[common], help="import an M3U8 or XSPF playlist")
    p.add_argument("file", type=Path)
    p.add_argument("--name", default=None, help="playlist name (default: title or file name)")
    p.set_defaults(handler=run_import)


def _open(args: argparse.Namespace, *, create: bool = False) -> Library:
    """The library of ``--library``; only ``scan`` creates a missing one."""
    from engine.library import Library

    return Library.open(args.library, model_dir=args.model, create=create)


def _searchable(library: Library) -> Library:
    if library.count() == 0:
        raise ParameterError(f"the library {str(library.folder)!r} has no searchable tracks "
                             "yet; scan a music folder into it first")
    return library


def _params(args: argparse.Namespace) -> SearchParams:
    from engine.search import MAX_WEIGHT, SearchParams

    usage = f"--weights takes three numbers from 0 to {MAX_WEIGHT:g}, e.g. 1,0.5,1"
    try:
        weights = tuple(float(w) for w in args.weights.split(","))
    except ValueError:
        raise ParameterError(usage) from None
    if len(weights) != 3 or not all(math.isfinite(w) and 0 <= w <= MAX_WEIGHT
                                    for w in weights):
        raise ParameterError(usage)
    return SearchParams(k=args.k, prf=args.prf, diversity=args.diversity, weights=weights,
                        exclude_same_album=args.exclude_album,
                        exclude_same_artist=args.exclude_artist)


def _seed_arg(text: str) -> int | Path:
    """A track id, or a path; a FIFO, device, socket or folder is refused here, before
    the library and the model load."""
    path = Path(text)
    if text.isascii() and text.isdigit() and not path.exists():
        return int(text)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path  # missing files are for the library (it may know the path) to judge
    if not stat.S_ISREG(mode):
        raise DecodeError(path, not_a_file_reason(mode))
    return path


class _StopSignals:
    """While active, the first SIGINT or SIGTERM asks the scan to stop (its work is kept);
    a second one interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.signum is not None


def run_scan(args: argparse.Namespace) -> int:
    """Scan with a tqdm bar on stderr; prints a one-line summary.

    SIGINT (Ctrl-C) or SIGTERM stops the scan cleanly: the files analysed so far are
    kept, and the next scan goes on from there.
    """
    from tqdm import tqdm

    with _StopSignals() as stop, _open(args, create=True) as library:
        bar = None
        last = None
        for progress in library.scan(args.folders or None, workers=args.workers,
                                     should_stop=stop.requested):
            last = progress
            if bar is None and not args.quiet and progress.stage == "analyse":
                bar = tqdm(total=progress.total, unit="file", file=sys.stderr,
                           dynamic_ncols=True)
            if bar is not None:
                if bar.total != progress.total:
                    bar.reset(total=progress.total)
                bar.n = progress.done
                bar.set_description(progress.stage)
                bar.set_postfix(errors=progress.errors, refresh=False)
                bar.refresh()
        if bar is not None:
            bar.close()
        done, errors = (last.done, last.errors) if last else (0, 0)
        if stop.signum is not None:
            print(f"resonance: scan stopped by {signal.Signals(stop.signum).name}: the {done} "
                  "files analysed are kept; scan again to finish", file=sys.stderr)
            return 128 + stop.signum
        print(f"scanned {done} files ({errors} errors); the library holds {library.count()} "
              "searchable tracks")
    return 0


def result_json(result: Any) -> dict[str, Any]:
    """The JSON object of one search result."""
    t = result.track
    return {"path": str(t.path), "score": round(result.score, 6), "title": t.title,
            "artist": t.artist, "album": t.album, "track_id": t.id,
            "modalities": {k: round(v, 6) for k, v in result.modalities.items()},
            "match": {"seed_offset": result.seed_offset, "offset": result.match_offset,
                      "confidence": round(result.match_confidence, 4)},
            "version_bonus": round(result.version_bonus, 4)}


def clock(seconds: float) -> str:
    """``m:ss`` of a time in seconds (``h:mm:ss`` from an hour on)."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _print_table(seed_name: str, results: list[SearchResult]) -> None:
    print(f"Similar to {printable(seed_name)}:")
    for rank, r in enumerate(results, 1):
        t = r.track
        name = printable(t.display_name)
        version = (f", another version: +{r.version_bonus:.2f}"
                   if r.likely_version else "")
        print(f"{rank:3d}. {r.score:6.3f}  {name}  [{printable(t.path)}]  "
              f"(seed {clock(r.seed_offset)} ~ track {clock(r.match_offset)}{version})")


def run_similar(args: argparse.Namespace) -> int:
    """Rank the library for each seed; JSON Lines with ``--json``."""
    seeds = list(args.seeds)
    if args.batch:
        seeds += [line.strip() for line in _batch_lines(args.batch) if line.strip()]
    if not seeds:
        raise ParameterError("give at least one seed (a file or track id) or --batch FILE")
    parsed = [(text, _seed_arg(text)) for text in seeds]
    params = _params(args)
    with _open(args) as library:
        _searchable(library)
        if args.together:
            return _similar_together(library, seeds, params, as_json=args.json)
        for text, source in parsed:
            seed = library.analyze_seed(source)
            results = library.search(seed, params)
            if args.json:
                print(json.dumps({"seed": text, "excerpt": seed.excerpt,
                                  "results": [result_json(r) for r in results]},
                                 ensure_ascii=False), flush=True)
            else:
                _print_table(text, results)
    return 0


def _batch_lines(path: Path) -> list[str]:
    """Lines of a ``--batch`` file: UTF-8 text, refused when binary or undecodable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read --batch file {str(path)!r}: "
                             f"{exc.strerror or exc}") from None
    if b"\0" in data:
        raise ParameterError(f"--batch file {str(path)!r} is binary (holds NUL bytes); "
                             "give a text file with one seed per line")
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ParameterError(f"--batch file {str(path)!r} is not UTF-8 text (byte "
                             f"{exc.start}); save it as UTF-8") from None


def run_playlist(args: argparse.Namespace) -> int:
    """Search from a seed and write the results (seed first when in the library)."""
    source = _seed_arg(args.seed)
    with _open(args) as library:
        _searchable(library)
        seed = library.analyze_seed(source)
        ids = [r.track.id for r in library.search(seed, _params(args))]
        if seed.track_id is not None:
            ids.insert(0, seed.track_id)
        if args.name:
            library.save_playlist(args.name, ids)
        out = library.export_playlist(ids, args.out, fmt=args.format or "",
                                      relative=not args.absolute)
        print(f"wrote {len(ids)} tracks to {printable(out)}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Library statistics and the files that failed."""
    with _open(args) as library:
        stats = library.stats()
        errors = library.errors()
        if args.json:
            stats["errors"] = [{"path": str(e.path), "reason": e.reason, "tried": e.tried,
                                "retry": e.retry} for e in errors]
            stats["playlists"] = library.playlists()
            print(json.dumps(stats, ensure_ascii=False))
            return 0
        print(f"library: {printable(library.folder)}")
        print(f"folders: {printable(', '.join(stats['roots'])) or '(none)'}")
        print(f"tracks: {stats['tracks']} ({stats['ok']} searchable, {stats['pending']} "
              f"pending, {stats['error']} failed, {stats['masked']} on missing drives)")
        print(f"model: {stats['model_sha256'] or '(none yet)'}")
        for e in errors[:20]:
            print(f"  error: {printable(e.path)}: {printable(e.reason)}{_tried(e)}")
        if len(errors) > 20:
            print(f"  ... and {len(errors) - 20} more")
    return 0


def _tried(error: ScanError) -> str:
    if error.tried is None:
        return ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(error.tried))
    again = "tried again by the next scan" if error.retry else "tried again when it changes"
    return f" (last tried {when}; {again})"


def run_export(args: argparse.Namespace) -> int:
    """Export a saved playlist."""
    with _open(args) as library:
        if args.name not in library.playlists():
            raise ParameterError(f"no playlist named {args.name!r}")
        out = library.export_playlist(args.name, args.out, fmt=args.format or "",
                                      relative=not args.absolute)
        print(f"wrote {printable(out)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import a playlist file."""
    with _open(args) as library:
        name = library.import_playlist(args.file, name=args.name)
        print(f"imported {len(library.playlist(name))} library tracks as {name!r}")
    return 0


def _similar_together(library: Library, seeds: list[str], params: Any, *, as_json: bool) -> int:
    """``similar --together``: one ranking for all ``seeds`` (files or track ids)."""
    from engine.discovery import search_together

    analysed = [library.analyze_seed(_seed_arg(text)) for text in seeds]
    results = search_together(library, analysed, params)
    if as_json:
        print(json.dumps({"seeds": seeds, "results": [result_json(r) for r in results]},
                         ensure_ascii=False))
    else:
        _print_table(", ".join(seeds), results)
    return 0
