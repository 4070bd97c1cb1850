"""The library map, cached in the library folder and kept up to date incrementally.

``<library>/map/layout.npz`` holds a :class:`~engine.discovery.layout.Layout` and a
JSON header (format, model fingerprint, the space it was laid out in:
:func:`~engine.discovery.space.space_key`); it is written atomically (temporary file,
fsync, ``os.replace``) and read without pickle. Like the FAISS catalog it is derived
data: a damaged or out-of-date file is rebuilt from the track vectors.

On each request the cache is brought in line with the catalog: removed tracks are
dropped, added ones placed among the anchors (fast), and the map is laid out again
only when the model or its space changed or the library has grown past :data:`REBUILD_GROWTH`
times the size it had at the last full build.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.discovery.layout import Layout, StopCheck, build_layout
from engine.discovery.space import sound_space, space_key
from engine.errors import StoreAccessError

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)

MAP_FOLDER = "map"
MAP_FILE = "layout.npz"
FORMAT = "resonance-map"
#: 2: laid out in the search's space (:mod:`engine.discovery.space`), not the fused vectors
FORMAT_VERSION = 2
#: A full layout is redone once the library holds this many times the tracks it had then.
REBUILD_GROWTH = 2.0
_ARRAYS = ("ids", "xy", "mean", "components", "anchor_z", "anchor_xy")


@dataclass(frozen=True)
class MapUpdate:
    """A map brought up to date, and what it took.

    Attributes
    ----------
    layout : the current layout (every searchable track)
    rebuilt : a full layout was computed
    added, removed : tracks placed into / dropped from the cached map
    """

    layout: Layout
    rebuilt: bool
    added: int
    removed: int


def map_path(folder: Path) -> Path:
    """Where a library folder keeps its map."""
    return Path(folder) / MAP_FOLDER / MAP_FILE


def save_layout(path: Path, layout: Layout, *, fingerprint: str, space: str = "") -> None:
    """Write ``layout`` to ``path`` atomically (``space``: what its vectors were)."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "fingerprint": fingerprint,
              "space": space, "built_count": layout.built_count}
    tmp = path.with_name(f"{path.stem}.tmp-{uuid.uuid4().hex}.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, header=np.array(json.dumps(header)),
                     **{name: getattr(layout, name) for name in _ARRAYS})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreAccessError(f"cannot write the library map {str(path)!r}: "
                               f"{exc.strerror or exc}") from None


def load_layout(path: Path, *, fingerprint: str, dim: int, space: str = "") -> Layout | None:
    """The cached layout at ``path``, or None when missing, damaged or out of date."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {name: np.array(data[name]) for name in _ARRAYS}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("The library map cannot be read (%s): laying it out again.", exc)
        return None
    if (header.get("format"), header.get("version")) != (FORMAT, FORMAT_VERSION) \
            or (header.get("fingerprint"), header.get("space")) != (fingerprint, space):
        return None
    layout = Layout(**arrays, built_count=int(header.get("built_count", 0)))
    if not _consistent(layout, dim):
        log.warning("The library map %s is inconsistent: laying it out again.", path)
        return None
    return layout


def _consistent(layout: Layout, dim: int) -> bool:
    p = layout.components.shape[1] if layout.components.ndim == 2 else -1
    return (layout.ids.ndim == 1 and layout.xy.shape == (len(layout.ids), 2)
            and layout.mean.shape == (dim,) and layout.components.shape == (dim, p)
            and layout.anchor_z.shape[1:] == (p,)
            and layout.anchor_xy.shape == (len(layout.anchor_z), 2)
            and len(layout.anchor_z) > 0)


def update_layout(cached: Layout | None, ids: np.ndarray, vectors: np.ndarray, *,
                  should_stop: StopCheck | None = None) -> MapUpdate:
    """``cached`` brought in line with the tracks ``ids`` and their ``vectors``.

    Parameters
    ----------
    cached : the last layout, or None
    ids : np.ndarray [shape=(n,), dtype=int64], every searchable track, sorted
    vectors : np.ndarray [shape=(n, dim)], their embeddings
    should_stop : see :func:`~engine.discovery.layout.build_layout`

    Raises
    ------
    Cancelled : ``should_stop`` returned True during a full layout
    """
    if cached is None or len(ids) > REBUILD_GROWTH * max(1, cached.built_count):
        return MapUpdate(build_layout(ids, vectors, should_stop=should_stop), rebuilt=True,
                         added=len(ids), removed=0)
    kept = cached.keep(ids)
    new = ~np.isin(ids, kept.ids)
    layout = kept.extend(ids[new], vectors[new]) if new.any() else kept
    return MapUpdate(layout, rebuilt=False, added=int(new.sum()),
                     removed=len(cached.ids) - len(kept.ids))


def library_map(library: Library, *, rebuild: bool = False,
                should_stop: StopCheck | None = None) -> MapUpdate:
    """The library's map, updated (and its cache rewritten) when the library changed.

    A full layout of 20,000 tracks takes seconds and placing a few hundred new tracks
    well under one, so call it from a background thread in a GUI; ``should_stop``
    (polled a fraction of a second apart during a full layout) abandons it, raising
    :class:`~engine.errors.Cancelled` and leaving the cache as it was.
    """
    catalog = library.catalog()
    card = library.embedder.card
    ids, vectors = catalog.track_ids, sound_space(catalog, card)
    path = map_path(library.folder)
    fingerprint, space = catalog.fingerprint, space_key(card)
    cached = None if rebuild else load_layout(path, fingerprint=fingerprint,
                                              dim=vectors.shape[1], space=space)
    if not len(ids):
        empty = np.zeros((0, 2), np.float32)
        return MapUpdate(Layout(ids=ids, xy=empty, mean=np.zeros(0, np.float32),
                                components=np.zeros((0, 0), np.float32), anchor_z=empty,
                                anchor_xy=empty, built_count=0),
                         rebuilt=False, added=0, removed=0)
    update = update_layout(cached, ids, vectors, should_stop=should_stop)
    if update.rebuilt or update.added or update.removed:
        save_layout(path, update.layout, fingerprint=fingerprint, space=space)
    return update
