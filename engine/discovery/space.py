"""The space discovery reads: the tracks as a search at neutral sliders hears them.

The map, the mixes and the song path group and order tracks by how alike they sound,
so they read the vectors a search ranks with (:func:`engine.search.weighted`): the fused
vector beside the timbre, harmony and rhythm vectors at the model's own balance (its
``weight_gains``), and a mixed timbre column at the share the card gives seeds without
versions (:class:`engine.timbre.TimbreMix`; a map is about sound, not versions). The dot
product of two rows is the similarity a search at neutral sliders gives the two tracks,
before any version bonus. On the validation recordings this space groups a soundtrack's
tracks far better than the fused vectors alone (benchmarks/RESULTS.md, "Discovery").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.model import BRANCH_NAMES
from engine.search import SearchParams
from engine.timbre import TimbreMix

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.model import ModelCard


def space_key(card: ModelCard) -> str:
    """A short description of the space :func:`sound_space` builds for ``card``'s vectors
    (what a cached map was laid out in)."""
    mix = TimbreMix.of(card)
    weights = SearchParams().scaled(card.weight_gains).weights
    share = "stored" if mix is None else f"{mix.without_versions:g}"
    return f"weights {', '.join(f'{w:g}' for w in weights)}; timbre share {share}"


def sound_space(catalog: Catalog, card: ModelCard) -> np.ndarray:
    """Rows ``(n, d)`` float32, unit norm, of the catalog's tracks (rows as its
    ``track_ids``) in the space a search at neutral sliders ranks in: the rows
    :func:`engine.search.weighted` gives the vectors a search reads, written into one
    array (no float64 or per-column copies of a large library's vectors).

    A part weighted zero (the main timbre branch at share 0) is left out rather than
    kept as zeros, so the rows are as narrow as the similarity allows.
    """
    vectors = catalog.track_vectors
    weights = dict(zip(BRANCH_NAMES, SearchParams().scaled(card.weight_gains).weights,
                       strict=True))
    mix = TimbreMix.of(card)
    parts: list[tuple[np.ndarray, np.ndarray | None, float]] = [(vectors["fused"], None, 1.0)]
    for name in BRANCH_NAMES:  # (columns, a scale per row or None, weight)
        column = vectors[name]
        if name == "timbre" and mix is not None:  # each part unit, as TimbreMix.remix does
            norms = np.maximum(mix.part_norms(column), 1e-12)
            share = mix.without_versions
            parts += [(column[:, : mix.main_dim], 1.0 / norms[:, 0], weights[name] * share),
                      (column[:, mix.main_dim:], 1.0 / norms[:, 1],
                       weights[name] * (1.0 - share))]
        else:
            parts.append((column, None, weights[name]))
    parts = [p for p in parts if p[2] > 0]
    total = 1.0 + sum(weights.values())
    out = np.empty((len(vectors["fused"]), sum(p[0].shape[1] for p in parts)), np.float32)
    at = 0
    for columns, scale, weight in parts:
        view = out[:, at: at + columns.shape[1]]
        np.multiply(columns, np.float32(np.sqrt(weight / total)), out=view)
        if scale is not None:
            view *= scale.astype(np.float32)[:, None]
        at += columns.shape[1]
    return out
