"""Discovery commands: ``map``, ``path``, ``mixes`` and ``duplicates``.

Like the library commands they take ``--library PATH`` and ``--model DIR``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.library_cmds import common_options
from engine.errors import ParameterError

if TYPE_CHECKING:
    from engine.library import Library
    from engine.records import TrackInfo


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the discovery sub-commands."""
    common = common_options()
    p = sub.add_parser("map", parents=[common], help="a 2-D map of the library",
                       description="Lay the library out in 2-D so that neighbours sound "
                       "alike (cached in the library; new tracks are placed incrementally).")
    p.add_argument("--json", action="store_true", help="path, x, y and mix of every track")
    p.add_argument("--out", type=Path, default=None, metavar="PNG", help="draw it to a PNG")
    p.add_argument("--mixes", type=int, default=None, metavar="COUNT",
                   help="mixes to colour by (default: from the library size)")
    p.add_argument("--rebuild", action="store_true", help="lay the whole map out again")
    p.set_defaults(handler=run_map)

    p = sub.add_parser("path", parents=[common], help="a path of songs from A to B",
                       description="N tracks from A to B, each close to the previous one "
                       "and steadily closer to B, without repeats.")
    p.add_argument("start", help="first track: a library file or track id")
    p.add_argument("end", help="last track: a library file or track id")
    p.add_argument("-n", "--length", type=int, default=10,
                   help="tracks in the path, both ends included (10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_path)

    p = sub.add_parser("mixes", parents=[common], help="the library in groups that sound alike",
                       description="Cluster the library into mixes, each named from its "
                       "tags or its most central track.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("-n", "--count", type=int, default=None,
                      help="number of mixes (default: about one per 30 tracks, at most 50)")
    size.add_argument("--size", type=int, default=None, metavar="TRACKS",
                      help="about this many tracks per mix instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_mixes)

    p = sub.add_parser("duplicates", parents=[common], help="files holding the same recording",
                       description="Groups of files that hold the same recording (other "
                       "encodings or bitrates, trims, fades, a track inside a longer file), "
                       "with the shared passage in each and the copy best kept (lossless, "
                       "then the highest bitrate, then the longest). Nothing is deleted.")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_duplicates)


def _open(args: argparse.Namespace) -> Library:
    """The library of ``--library`` (never created here), with searchable tracks."""
    from engine.cli.library_cmds import _open as open_existing
    from engine.cli.library_cmds import _searchable

    library = open_existing(args)
    try:
        return _searchable(library)
    except BaseException:
        library.close()
        raise


def library_track(library: Library, text: str) -> int:
    """The id of a library track given as a file path or a track id."""
    from engine.records import track_id_for_path

    path = Path(text)
    if text.isdigit() and not path.exists():
        return library.track(int(text)).id
    track_id = track_id_for_path(library.store, path)
    if track_id is None:
        raise ParameterError(f"{text!r} is not a track of this library (scan it first, or "
                             "give a track id)")
    return track_id


def track_json(t: TrackInfo) -> dict[str, Any]:
    """The JSON object of a track."""
    return {"track_id": t.id, "path": str(t.path), "title": t.title, "artist": t.artist,
            "album": t.album, "genre": t.genre}


def _name(t: TrackInfo) -> str:
    return f"{t.artist} - {t.display_title}" if t.artist else t.display_title


def run_map(args: argparse.Namespace) -> int:
    """Bring the cached map up to date; print it as JSON and/or draw it."""
    import numpy as np

    from engine.discovery import library_map, library_mixes

    if args.out is not None and args.out.suffix.lower() != ".png":
        raise ParameterError("the map picture is written as PNG: give a .png file")
    with _open(args) as library:
        update = library_map(library, rebuild=args.rebuild)
        layout = update.layout
        mixes = library_mixes(library, args.mixes) if len(layout.ids) else []
        label = {t: m.index for m in mixes for t in m.track_ids}
        labels = np.array([label[int(t)] for t in layout.ids], dtype=np.int64)
        if args.out is not None:
            from engine.discovery.picture import render_map

            render_map(args.out, layout.xy, labels, [m.name for m in mixes])
        if args.json:
            infos = {t.id: t for t in library.tracks()}
            tracks = [{**track_json(infos[int(t)]), "x": round(float(x), 5),
                       "y": round(float(y), 5), "mix": int(m), "mix_name": mixes[m].name}
                      for t, (x, y), m in zip(layout.ids, layout.xy, labels, strict=True)]
            print(json.dumps({"tracks": tracks,
                              "mixes": [{"mix": m.index, "name": m.name,
                                         "size": len(m.track_ids)} for m in mixes]},
                             ensure_ascii=False))
        else:
            how = ("laid out" if update.rebuilt else
                   f"updated ({update.added} placed, {update.removed} removed)")
            mix_word = "mix" if len(mixes) == 1 else "mixes"
            print(f"map of {len(layout.ids)} tracks in {len(mixes)} {mix_word} {how}"
                  + (f"; drawn to {args.out}" if args.out else ""))
    return 0


def run_path(args: argparse.Namespace) -> int:
    """Print the path from A to B."""
    import numpy as np

    from engine.discovery import library_path, sound_space

    with _open(args) as library:
        start, end = library_track(library, args.start), library_track(library, args.end)
        tracks = library_path(library, start, end, args.length)
        catalog = library.catalog()
        vectors = sound_space(catalog, library.embedder.card)[
            catalog.rows(np.array([t.id for t in tracks]))]
        to_prev = [None, *(float(a @ b) for a, b in itertools.pairwise(vectors))]
        to_end = [float(v @ vectors[-1]) for v in vectors]
        if args.json:
            steps = [{**track_json(t), "to_previous": None if p is None else round(p, 6),
                      "to_end": round(e, 6)}
                     for t, p, e in zip(tracks, to_prev, to_end, strict=True)]
            print(json.dumps({"start": args.start, "end": args.end, "tracks": steps},
                             ensure_ascii=False))
            return 0
        print(f"Path of {len(tracks)} tracks:")
        for i, (t, p) in enumerate(zip(tracks, to_prev, strict=True), 1):
            step = "      " if p is None else f"{p:6.3f}"
            print(f"{i:3d}. {step}  {_name(t)}  [{t.path}]")
    return 0


def run_mixes(args: argparse.Namespace) -> int:
    """Print the library's mixes."""
    from engine.discovery import library_mixes

    with _open(args) as library:
        mixes = library_mixes(library, args.count, size=args.size)
        infos = {t.id: t for t in library.tracks()}
        if args.json:
            print(json.dumps({"mixes": [
                {"mix": m.index, "name": m.name, "size": len(m.track_ids),
                 "central": track_json(infos[m.central]),
                 "tracks": [track_json(infos[t]) for t in m.track_ids]} for m in mixes]},
                ensure_ascii=False))
            return 0
        for m in mixes:
            print(f"{m.index + 1:3d}. {m.name} ({len(m.track_ids)} tracks)")
            for t in m.track_ids[:3]:
                print(f"       {_name(infos[t])}")
    return 0


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def run_duplicates(args: argparse.Namespace) -> int:
    """Print the groups of duplicate files, the copy to keep first."""
    from engine.discovery.duplicates import bitrate

    with _open(args) as library:
        groups = library.duplicates()
        if args.json:
            print(json.dumps({"groups": [
                {"keep": track_json(g.keep.track), "copies": [
                    {**track_json(c.track), "keep": c is g.keep, "start": round(c.start, 2),
                     "end": round(c.end, 2), "score": round(c.score, 4),
                     "duration": c.track.duration, "kbps": round(bitrate(c.track) / 1000)}
                    for c in g.copies]} for g in groups]}, ensure_ascii=False))
            return 0
        if not groups:
            print("no duplicates found")
        for i, g in enumerate(groups, 1):
            print(f"{i:3d}. {_name(g.keep.track)} ({len(g.copies)} files)")
            for c in g.copies:
                mark = "keep" if c is g.keep else "    "
                print(f"       {mark} {_clock(c.start)}-{_clock(c.end)} "
                      f"{bitrate(c.track) / 1000:5.0f} kb/s  {c.track.path}")
    return 0
