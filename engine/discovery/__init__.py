"""Discovery beyond one seed: the library map, song paths, mixes, several seeds at once."""

from engine.discovery.facade import library_mixes, library_path
from engine.discovery.layout import Layout, build_layout
from engine.discovery.mapcache import MapUpdate, library_map
from engine.discovery.mixes import Mix, make_mixes
from engine.discovery.path import song_path
from engine.discovery.space import sound_space
from engine.discovery.together import combine_seeds, search_together

__all__ = ["Layout", "MapUpdate", "Mix", "build_layout", "combine_seeds", "library_map",
           "library_mixes", "library_path", "make_mixes", "search_together", "song_path",
           "sound_space"]
