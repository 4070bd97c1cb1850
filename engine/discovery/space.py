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

from engine.search import SearchParams, weighted
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
    ``track_ids``) in the space a search at neutral sliders ranks in
    (:func:`engine.search.weighted` of the timbre column as the card listens to it).

    The main timbre branch at share 0 (weighted zero) is left out rather than kept as
    zeros, so the rows are as narrow as the similarity allows.
    """
    vectors = dict(catalog.track_vectors)
    mix = TimbreMix.of(card)
    if mix is not None:
        timbre = mix.remix(vectors["timbre"], mix.without_versions)
        vectors["timbre"] = timbre[:, mix.main_dim:] if mix.without_versions == 0 else timbre
    return weighted(vectors, SearchParams().scaled(card.weight_gains).weights)
