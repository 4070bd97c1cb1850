"""Discovery on a :class:`~engine.library.Library`: map, song path, mixes, several seeds.

These read the loaded catalog's track vectors in the space a search ranks in
(:mod:`engine.discovery.space`) and the tracks' tags; none of them decodes audio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.discovery.mixes import Mix, make_mixes
from engine.discovery.path import song_path
from engine.discovery.space import sound_space
from engine.errors import ParameterError
from engine.records import TrackInfo

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.library import Library


def _row(catalog: Catalog, track_id: int) -> int:
    """The catalog row of a track; ParameterError when it is not searchable."""
    row = int(catalog.rows(np.array([track_id]))[0])
    if row >= len(catalog.track_ids) or int(catalog.track_ids[row]) != int(track_id):
        raise ParameterError(f"track {track_id} has not been analysed with the current "
                             "model; scan the library first")
    return row


def library_path(library: Library, start: int, end: int, length: int) -> list[TrackInfo]:
    """``length`` tracks leading from track ``start`` to track ``end`` (both included)."""
    catalog = library.catalog()
    rows = song_path(sound_space(catalog, library.embedder.card), _row(catalog, start),
                     _row(catalog, end), int(length))
    ids = [int(catalog.track_ids[r]) for r in rows]
    return [library.track(t) for t in ids]


def library_mixes(library: Library, count: int | None = None, *, size: int | None = None,
                  seed: int = 0) -> list[Mix]:
    """The library's searchable tracks in named mixes (``count`` or of ``size`` tracks)."""
    catalog = library.catalog()
    infos = {t.id: t for t in library.tracks()}
    return make_mixes(catalog.track_ids, sound_space(catalog, library.embedder.card), infos,
                      count=count, size=size, seed=seed)
