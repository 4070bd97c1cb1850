"""A smaller corpus for the laptop recipe: every package track, a seeded share of pieces.

The subset keeps all recordings, modules and LMMS tracks of both splits (the real music
"sounds alike" is learnt from) and the renditions of ``train_pieces`` training and
``val_pieces`` validation pieces, picked by a hash of the piece alone (so a larger
subset contains a smaller one). Rows keep their split; paths become absolute so the
subset's ``manifest.json`` can live anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.corpus.manifest import unit_hash


def subset_manifest(data: dict[str, Any], root: Path, *, train_pieces: int,
                    val_pieces: int) -> dict[str, Any]:
    """``data`` (a manifest of the corpus at ``root``) with fewer rendered pieces."""
    quota = {"train": train_pieces, "val": val_pieces}
    pieces: dict[str, set[str]] = {"train": set(), "val": set()}
    for split in pieces:
        groups = sorted({t["group"] for t in data["tracks"]
                         if t["kind"] == "rendition" and t["split"] == split},
                        key=lambda g: (unit_hash("subset", g), g))
        pieces[split] = set(groups[: quota[split]])
    rows = [{**t, "path": str((root / t["path"]).resolve())} for t in data["tracks"]
            if t["kind"] != "rendition" or t["group"] in pieces[t["split"]]]
    return {"version": data["version"], "tracks": rows}
