"""The library facade: everything the GUI and the command line do with a library.

A library is a folder holding ``library.db`` (the source of truth) and ``catalog/``
(the FAISS indexes derived from it). :meth:`Library.scan` is a generator of
:class:`~engine.scan.ScanProgress`; :meth:`Library.analyze_seed` is the slow part of
a query and :meth:`Library.search` the fast, repeatable part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from engine import playlists as pl
from engine import records
from engine.catalog import Catalog, database_checksums, open_catalog
from engine.errors import ModelError, ParameterError, ResonanceError
from engine.model import Embedder, ModelCard, default_model_dir, load_card
from engine.passages import PassageMatch
from engine.records import ScanError, TrackInfo
from engine.scan import ScanOptions, ScanProgress, default_workers
from engine.scan import scan as run_scan
from engine.search import Retriever, SearchParams, SearchResult, Seed, search
from engine.store import DB_FILE, Store

__all__ = ["Library", "ScanError", "ScanProgress", "SearchParams", "SearchResult", "Seed",
           "TrackInfo", "default_library_dir"]

SeedSource = int | str | os.PathLike | tuple[np.ndarray, int]


def default_library_dir() -> Path:
    """The platform's data folder for the default library (XDG on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("resonance", appauthor=False)) / "library"


def _shipped_model_dir() -> Path:
    try:
        return default_model_dir()
    except ResonanceError:
        from engine.resources import resources_root

        return resources_root() / "models" / "default"


class Library:
    """A music library: its tracks, catalog, searches and playlists.

    Use :meth:`open`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, folder: Path, store: Store, model_dir: Path) -> None:
        self.folder = folder
        self.store = store
        self._model_dir = model_dir
        self._embedder: Embedder | None = None
        self._catalog: Catalog | None = None
        self._catalog_revision = -1
        self._catalog_lock = threading.RLock()  # the scan and a query may both refresh it

    @classmethod
    def open(cls, path: Path | None = None, *, model_dir: Path | None = None) -> Library:
        """Open (or create) the library at ``path`` (a folder, or its ``.db`` file)."""
        path = Path(path) if path is not None else default_library_dir()
        folder, db = (path.parent, path) if path.suffix == ".db" else (path, path / DB_FILE)
        store = Store(db)
        chosen = model_dir or store.get_meta("model_dir") or _shipped_model_dir()
        return cls(folder, store, Path(chosen))

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()
        self._catalog = None

    # -- model ------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        """Folder of the embedding model in use."""
        return self._model_dir

    @property
    def model_card(self) -> ModelCard:
        """The model's card (raises :class:`ModelError` when there is no model)."""
        return self.embedder.card

    @property
    def embedder(self) -> Embedder:
        """The model, loaded (and its sha256 checked) on first use."""
        if self._embedder is None:
            if not (self._model_dir / "card.json").is_file():
                raise ModelError(f"no embedding model at {self._model_dir} (pass --model DIR "
                                 "or install the default model)")
            self._embedder = Embedder(self._model_dir, threads=0)
        return self._embedder

    def set_model(self, model_dir: Path) -> None:
        """Use another model; tracks are re-embedded by the next scan."""
        load_card(model_dir)
        self._model_dir = Path(model_dir)
        self._embedder = None
        self._catalog = None
        self.store.set_meta("model_dir", str(Path(model_dir).resolve()))

    # -- roots and tracks ----------------------------------------------------------------
    def roots(self) -> list[Path]:
        """The library's folders."""
        return [p for _, p in self.store.roots()]

    def add_root(self, path: Path) -> None:
        """Add a music folder (scanned by the next :meth:`scan`)."""
        self.store.add_root(Path(path).resolve())

    def remove_root(self, path: Path) -> None:
        """Remove a music folder and forget its tracks."""
        self.store.remove_root(Path(path).resolve())

    def tracks(self) -> list[TrackInfo]:
        """Every present track (analysed, pending or failed)."""
        return records.list_tracks(self.store)

    def track(self, track_id: int) -> TrackInfo:
        """One track by id."""
        return records.get_track(self.store, track_id)

    def count(self) -> int:
        """Number of searchable tracks."""
        return int(self.store.query(
            "SELECT COUNT(*) FROM tracks t JOIN path_state p ON p.track_id = t.id "
            "WHERE t.status = 'ok' AND p.state = 'present'")[0][0])

    def errors(self) -> list[ScanError]:
        """Files that could not be used, and folders that could not be read."""
        import json

        walk = [ScanError(Path(p), r)
                for p, r in json.loads(self.store.get_meta("walk_errors", "[]") or "[]")]
        return records.scan_errors(self.store) + walk

    def stats(self) -> dict:
        """Counts for ``resonance status``."""
        return records.library_stats(self.store)

    # -- scanning -----------------------------------------------------------------------
    def scan(self, roots: list[Path] | None = None, *, workers: int | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[ScanProgress]:
        """Scan ``roots`` (default: every root), then update the catalog.

        Parameters
        ----------
        roots : folders to scan; new ones are added to the library
        workers : analysis processes (default: all cores; 0 analyses in this process)
        should_stop : polled between files; True ends the scan early, keeping its work
        """
        folders = [Path(r).resolve() for r in roots] if roots else self.roots()
        if not folders:
            raise ParameterError("the library has no folders yet: add one to scan")
        options = ScanOptions(model_dir=self._model_dir, fingerprint=self.embedder.fingerprint,
                              workers=default_workers() if workers is None else int(workers))
        self.store.set_meta("model_dir", str(self._model_dir.resolve()))
        final = None
        for progress in run_scan(self.store, roots=folders, options=options,
                                 should_stop=should_stop):
            if progress.stage in ("done", "cancelled"):
                final = progress
                continue
            yield progress
        if final is not None:
            yield ScanProgress(final.done, final.total, "", "index", final.errors,
                               final.rate, None)
            self.catalog()
            yield final

    # -- searching ----------------------------------------------------------------------
    def catalog(self, *, rebuild: bool = False) -> Catalog:
        """The up-to-date catalog (verified on load, rebuilt when needed)."""
        with self._catalog_lock:
            return self._refresh_catalog(rebuild=rebuild)

    def _refresh_catalog(self, *, rebuild: bool) -> Catalog:
        embedder = self.embedder
        revision = self.store.revision
        current = self._catalog
        if current is not None and not rebuild and revision == self._catalog_revision:
            return current
        if (current is not None and not rebuild and current.fingerprint == embedder.fingerprint
                and database_checksums(self.store, embedder.fingerprint) == current.checksums):
            self._catalog_revision = revision
            return current
        stale = current is not None and not rebuild
        self._catalog = open_catalog(self.store, self.folder / "catalog",
                                     fingerprint=embedder.fingerprint,
                                     dim=embedder.card.embed_dim, rebuild=rebuild or stale)
        self._catalog_revision = revision
        return self._catalog

    def analyze_seed(self, seed: SeedSource) -> Seed:
        """Analyse a query once: a track id, an audio file, or ``(samples, sample_rate)``."""
        from engine.seed import seed_from_audio, seed_from_file, seed_from_track

        if isinstance(seed, bool):
            raise ParameterError("a seed is a track id, a file or (samples, rate)")
        if isinstance(seed, int | np.integer):
            return seed_from_track(self.store, int(seed), fingerprint=self.embedder.fingerprint)
        if isinstance(seed, tuple):
            samples, rate = seed
            return seed_from_audio(np.asarray(samples), int(rate), self.embedder)
        return seed_from_file(Path(seed), self.embedder, store=self.store)

    def search(self, seed: Seed, params: SearchParams | None = None) -> list[SearchResult]:
        """Rank the library for an analysed seed (fast; call again with new params)."""
        catalog = self.catalog()
        return search(seed, params or SearchParams(), catalog=catalog, store=self.store,
                      retriever=Retriever(catalog, self.store))

    def tracks_containing(self, track_id: int, *, start: float = 0.0, end: float | None = None,
                          min_score: float | None = None, k: int = 50) -> list[PassageMatch]:
        """Other tracks containing ``[start, end)`` seconds of a library track (near-duplicate
        passages), best first; see :func:`engine.passages.tracks_containing`."""
        from engine.passages import MIN_SCORE, tracks_containing

        return tracks_containing(self.store, self.catalog(), track_id=int(track_id),
                                 start=start, end=end, k=k,
                                 min_score=MIN_SCORE if min_score is None else min_score)

    # -- playlists ----------------------------------------------------------------------
    def save_playlist(self, name: str, track_ids: list[int]) -> None:
        """Create or replace a named playlist of library tracks."""
        entries = pl.entries_for(self.store, [int(t) for t in track_ids])
        pl.save(self.store, name, [(int(t), e.path) for t, e in zip(track_ids, entries,
                                                                      strict=True)])

    def playlists(self) -> list[str]:
        """Names of the saved playlists."""
        return pl.names(self.store)

    def playlist(self, name: str) -> list[TrackInfo]:
        """The library tracks of a playlist, in order (entries not in the library skipped)."""
        ids = [tid for tid, _ in pl.items(self.store, name) if tid is not None]
        infos = records.tracks_by_id(self.store, ids)
        return [infos[t] for t in ids if t in infos]

    def delete_playlist(self, name: str) -> None:
        """Remove a saved playlist."""
        pl.delete(self.store, name)

    def export_playlist(self, name_or_ids: str | list[int], path: Path, fmt: str = "m3u8", *,
                        relative: bool = True) -> Path:
        """Write a saved playlist (by name) or a list of track ids as M3U8 or XSPF."""
        if isinstance(name_or_ids, str):
            entries = [pl.PlaylistEntry.from_track(t) for t in self.playlist(name_or_ids)]
            title = name_or_ids
        else:
            entries, title = pl.entries_for(self.store, list(name_or_ids)), None
        if pl.fmt_for(path, fmt) == "xspf":
            return pl.write_xspf(Path(path), entries, title=title)
        return pl.write_m3u8(Path(path), entries, relative=relative)

    def import_playlist(self, path: Path, *, name: str | None = None) -> str:
        """Read an M3U8/XSPF file into a saved playlist; returns its name."""
        path = Path(path)
        title = None
        if pl.fmt_for(path) == "xspf":
            title, entries = pl.read_xspf(path)
        else:
            entries = pl.read_m3u8(path)
        chosen = name or title or path.stem
        pl.save(self.store, chosen, pl.resolve(self.store, entries))
        return chosen
