"""Splits, ``manifest.json``, ``pairs.json`` and corpus statistics (docs/architecture.md).

The split of a track depends only on its source, its version group and the seed, never on
which other tracks exist, so growing the corpus never moves a track between splits and
renditions of one piece always share a split. Whole sources listed in ``val_sources`` are
validation-only; of the other sources a ``val_fraction`` of the groups is held out.
Whole test packages (split ``test``) are held out from both.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trainer.corpus.sources import KINDS

MANIFEST_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Track:
    """One manifest row (see docs/architecture.md)."""

    path: str          # relative to the corpus folder, forward slashes
    song: str
    source: str
    kind: str
    group: str
    split: str
    duration: float

    def to_json(self) -> dict:
        """The row in the contract's key order."""
        return {"path": self.path, "song": self.song, "source": self.source,
                "kind": self.kind, "group": self.group, "split": self.split,
                "duration": round(float(self.duration), 3)}


def unit_hash(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    digest = hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign_split(group: str, source: str, *, val_sources: Iterable[str],
                 val_fraction: float, seed: int) -> str:
    """``val`` for held-out sources and a seeded ``val_fraction`` of the other groups."""
    if source in set(val_sources):
        return "val"
    return "val" if unit_hash("split", seed, group) < val_fraction else "train"


def manifest_dict(tracks: Iterable[Track]) -> dict:
    """The manifest object, tracks sorted by path (stable output)."""
    rows = sorted(tracks, key=lambda t: t.path)
    return {"version": MANIFEST_VERSION, "tracks": [t.to_json() for t in rows]}


def pairs_dict(tracks: Iterable[Track]) -> dict:
    """Version groups with at least two renditions: ``{"groups": [[path, ...], ...]}``."""
    groups: dict[str, list[str]] = defaultdict(list)
    for t in tracks:
        if t.kind == "rendition":
            groups[t.group].append(t.path)
    rows = [sorted(paths) for _, paths in sorted(groups.items()) if len(paths) >= 2]
    return {"groups": rows}


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def validate_manifest(data: dict, root: Path | None = None) -> list[str]:
    """Problems with a manifest (empty list when it follows the contract)."""
    problems = []
    if data.get("version") != MANIFEST_VERSION:
        problems.append("version must be 1")
    keys = ["path", "song", "source", "kind", "group", "split", "duration"]
    group_splits: dict[str, set[str]] = defaultdict(set)
    songs: set[str] = set()
    for row in data.get("tracks", []):
        if list(row) != keys:
            problems.append(f"bad keys {list(row)}")
            continue
        if row["kind"] not in KINDS or row["split"] not in SPLITS:
            problems.append(f"bad kind/split in {row['path']}")
        if row["kind"] != "rendition" and row["group"] != row["song"]:
            problems.append(f"{row['kind']} group != song: {row['path']}")
        if row["song"] in songs:
            problems.append(f"duplicate song id {row['song']}")
        songs.add(row["song"])
        group_splits[row["group"]].add(row["split"])
        if root is not None and not (root / row["path"]).is_file():
            problems.append(f"missing file {row['path']}")
    problems += [f"group {g} in both splits" for g, s in group_splits.items() if len(s) > 1]
    return problems


def summarize(data: dict) -> dict:
    """Per-source counts and durations, split sizes and group counts of a manifest."""
    rows = data["tracks"]
    per_source: dict[str, dict] = {}
    for r in rows:
        s = per_source.setdefault(r["source"], {"tracks": 0, "minutes": 0.0, "train": 0,
                                                "val": 0, "test": 0, "groups": set(),
                                                "min_s": 1e9, "max_s": 0.0})
        s["tracks"] += 1
        s["minutes"] += r["duration"] / 60
        s[r["split"]] += 1
        s["groups"].add(r["group"])
        s["min_s"] = min(s["min_s"], r["duration"])
        s["max_s"] = max(s["max_s"], r["duration"])
    for s in per_source.values():
        s["groups"] = len(s["groups"])
        s["minutes"] = round(s["minutes"], 1)
        s["min_s"], s["max_s"] = round(s["min_s"], 1), round(s["max_s"], 1)
    splits = {}
    for split in SPLITS:
        sel = [r for r in rows if r["split"] == split]
        splits[split] = {
            "tracks": len(sel), "hours": round(sum(r["duration"] for r in sel) / 3600, 2),
            "groups": len({r["group"] for r in sel}),
            "kinds": {kind: {"tracks": sum(r["kind"] == kind for r in sel),
                             "sources": len({r["source"] for r in sel if r["kind"] == kind}),
                             "hours": round(sum(r["duration"] for r in sel
                                                if r["kind"] == kind) / 3600, 2)}
                      for kind in KINDS}}
    return {"tracks": len(rows), "hours": round(sum(r["duration"] for r in rows) / 3600, 2),
            "groups": len({r["group"] for r in rows}),
            "version_groups": len({r["group"] for r in rows if r["kind"] == "rendition"}),
            "splits": splits, "sources": dict(sorted(per_source.items()))}


def format_summary(summary: dict) -> str:
    """A plain-text table of :func:`summarize`'s output."""
    lines = [f"{'source':28} {'tracks':>6} {'groups':>6} {'train':>6} {'val':>5} "
             f"{'test':>5} {'minutes':>8} {'min s':>6} {'max s':>6}"]
    for name, s in summary["sources"].items():
        lines.append(f"{name:28} {s['tracks']:6d} {s['groups']:6d} {s['train']:6d} "
                     f"{s['val']:5d} {s.get('test', 0):5d} {s['minutes']:8.1f} "
                     f"{s['min_s']:6.1f} {s['max_s']:6.1f}")
    lines.append(f"total: {summary['tracks']} tracks, {summary['hours']} h, "
                 f"{summary['groups']} groups ({summary['version_groups']} version groups)")
    for split, s in summary["splits"].items():
        kinds = ", ".join(f"{k}: {v['tracks']} tracks / {v['sources']} sources / {v['hours']} h"
                          for k, v in s["kinds"].items())
        lines.append(f"{split}: {s['tracks']} tracks, {s['groups']} groups, {s['hours']} h "
                     f"({kinds})")
    return "\n".join(lines)
