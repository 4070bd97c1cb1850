"""The library facade: everything the GUI and the command line do with a library.

A library is a folder holding ``library.db`` (the source of truth) and ``catalog/``
(the FAISS indexes derived from it). :meth:`Library.scan` is a generator of
:class:`~engine.scan.ScanProgress`; :meth:`Library.analyze_seed` is the slow part of
a query and :meth:`Library.search` the fast, repeatable part.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import playlist_files as pf
from engine import playlists as pl
from engine import records
from engine.catalog import Catalog, CatalogIdentity, database_checksums, open_catalog
from engine.discovery import MapUpdate, Mix
from engine.discovery.duplicates import Copy, DuplicateGroup
from engine.errors import ModelError, ParameterError, ResonanceError, StoreAccessError
from engine.filecheck import check_audio_file
from engine.model import Embedder, ModelCard, default_model_dir
from engine.passages import PassageMatch
from engine.records import ScanError, TrackInfo
from engine.scan import ScanOptions, ScanProgress, start_workers, stop_workers
from engine.scan import scan as run_scan
from engine.scanlock import scan_lock
from engine.search import Retriever, SearchParams, SearchResult, Seed, search
from engine.sessions import Session
from engine.store import DB_FILE, Store
from engine.timbre import TimbreMix

__all__ = ["Copy", "DuplicateGroup", "Library", "MapUpdate", "Mix", "ScanError", "ScanProgress",
           "SearchParams", "SearchResult", "Seed", "TrackInfo", "default_library_dir",
           "default_workers"]

SeedSource = int | str | os.PathLike[str] | tuple[np.ndarray, int]


def default_workers(*, spare: int = 0) -> int:
    """Analysis processes for a scan: the cores this process may run on, less ``spare``
    (kept free for a GUI), at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores - spare)


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


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).resolve()


def _music_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` resolved, refused unless it is an existing folder."""
    folder = _resolved(path)
    if not folder.exists():
        raise ParameterError(f"no such folder: {str(path)!r}")
    if not folder.is_dir():
        raise ParameterError(f"{str(path)!r} is not a folder; give the folder that holds "
                             "your music")
    return folder


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
        self._session = Session(folder)

    @classmethod
    def open(cls, path: Path | None = None, *, model_dir: Path | None = None,
             create: bool = True) -> Library:
        """Open the library at ``path`` (a folder, or its ``.db`` file).

        A missing library is created, unless ``create`` is False (query commands: a
        mistyped path must not silently become a new, empty library).
        """
        path = Path(path) if path is not None else default_library_dir()
        folder, db = (path.parent, path) if path.suffix == ".db" else (path, path / DB_FILE)
        if not create and not db.is_file():
            raise ParameterError(f"no library at {str(folder)!r} (check --library; a new "
                                 "library is made by scanning a folder into it)")
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
        self._session.close()
        self._catalog = None

    def others_open(self) -> int:
        """How many other open libraries (other processes: another app window, a command
        line scan) have this library open now; the app warns when it is not 0."""
        return self._session.others()

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
            self._adopt_fingerprint(self._embedder)
        return self._embedder

    def _adopt_fingerprint(self, embedder: Embedder) -> None:
        """Libraries from before the fingerprint covered the card name their vectors by
        the ONNX file's sha256 alone: re-label them rather than re-embed everything."""
        if self.store.get_meta("model_sha256") != embedder.card.sha256:
            return
        with contextlib.suppress(StoreAccessError), self.store.transaction() as conn:
            records.relabel_fingerprint(conn, embedder.card.sha256, embedder.fingerprint)

    def set_model(self, model_dir: Path) -> None:
        """Use another model; tracks are re-embedded by the next scan.

        The model is loaded and checked against its card first (:meth:`Embedder.check`):
        a model that does not load or fit is refused and the library keeps its own.
        """
        embedder = Embedder(model_dir, threads=0)
        embedder.check()
        self._model_dir = Path(model_dir)
        self._embedder = embedder
        self._catalog = None
        self.store.set_meta("model_dir", str(Path(model_dir).resolve()))

    # -- roots and tracks ----------------------------------------------------------------
    def roots(self) -> list[Path]:
        """The library's folders."""
        return [p for _, p in self.store.roots()]

    def add_root(self, path: Path) -> None:
        """Add a music folder (scanned by the next :meth:`scan`)."""
        self.store.add_root(_music_folder(path))

    def remove_root(self, path: Path) -> None:
        """Remove a music folder and forget its tracks."""
        self.store.remove_root(Path(path).resolve())

    def tracks(self) -> list[TrackInfo]:
        """Every present track (analysed, pending or failed). A track analysed with
        another model than the current one is ``pending``, as in :meth:`stats`: its
        vectors are not searchable until the next scan re-embeds it."""
        return records.list_tracks(self.store, fingerprint=self._model_fingerprint())

    def track(self, track_id: int) -> TrackInfo:
        """One track by id (``pending`` when analysed with another model)."""
        return records.get_track(self.store, track_id, fingerprint=self._model_fingerprint())

    def cover(self, track_id: int) -> bytes | None:
        """The track's cover picture (embedded, else the folder's image), or None."""
        from engine.tags import read_cover

        return read_cover(records.get_track(self.store, track_id).path)

    def count(self) -> int:
        """Number of searchable tracks (analysed with the library's current model)."""
        return records.searchable_count(self.store, self._model_fingerprint())

    def _model_fingerprint(self) -> str | None:
        """The fingerprint of the model searches use; without a usable model, the one the
        last scan used."""
        try:
            return self.embedder.fingerprint
        except ModelError:
            return self.store.get_meta("model_sha256")

    def errors(self) -> list[ScanError]:
        """Files that could not be used, and folders that could not be read."""
        import json

        walk = [ScanError(Path(p), r)
                for p, r in json.loads(self.store.get_meta("walk_errors", "[]") or "[]")]
        return records.scan_errors(self.store) + walk

    def stats(self) -> dict[str, Any]:
        """Counts for ``resonance status``."""
        return records.library_stats(self.store, self._model_fingerprint())

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
        known = set(self.roots())
        folders = ([p if p in known else _music_folder(p) for p in map(_resolved, roots)]
                   if roots else self.roots())
        if not folders:
            raise ParameterError("the library has no folders yet: add one to scan")
        embedder = self.embedder
        count = default_workers() if workers is None else int(workers)
        started = start_workers(self._model_dir, count)  # they start while we check
        try:
            embedder.check()  # a model that does not load or fit its card writes nothing
            options = ScanOptions(model_dir=self._model_dir, fingerprint=embedder.fingerprint,
                                  workers=count)
            with scan_lock(self.folder):
                self.store.set_meta("model_dir", str(self._model_dir.resolve()))
                final = None
                for progress in run_scan(self.store, roots=folders, options=options,
                                         should_stop=should_stop, workers=started):
                    if progress.stage in ("done", "cancelled"):
                        final = progress
                        continue
                    yield progress
        except BaseException:
            if started is not None:  # unused when the check or the lock failed
                stop_workers(started)
            raise
        if final is not None:
            yield replace(final, stage="index", path="", eta_s=None)
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
        identity = CatalogIdentity(fingerprint=embedder.fingerprint, dim=embedder.card.embed_dim)
        if (current is not None and not rebuild and current.identity == identity
                and database_checksums(self.store, identity.fingerprint) == current.checksums):
            self._catalog_revision = revision
            return current
        stale = current is not None and not rebuild
        self._catalog = open_catalog(self.store, self.folder / "catalog", identity,
                                     rebuild=rebuild or stale)
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
        if records.track_id_for_path(self.store, seed) is None:
            check_audio_file(seed)  # a FIFO or device fails before the model even loads
        return seed_from_file(Path(seed), self.embedder, store=self.store)

    def search(self, seed: Seed, params: SearchParams | None = None) -> list[SearchResult]:
        """Rank the library for an analysed seed (fast; call again with new params). The
        weights count relative to the model's own balance (its ``weight_gains``)."""
        catalog = self.catalog()
        params = (params or SearchParams()).scaled(self.embedder.card.weight_gains)
        return search(seed, params, catalog=catalog, store=self.store,
                      retriever=Retriever(catalog, self.store,
                                          timbre=TimbreMix.of(self.embedder.card)))

    def tracks_containing(self, track_id: int, *, start: float = 0.0, end: float | None = None,
                          min_score: float | None = None, k: int = 50) -> list[PassageMatch]:
        """Other tracks containing ``[start, end)`` seconds of a library track (near-duplicate
        passages), best first; see :func:`engine.passages.tracks_containing`."""
        from engine.passages import MIN_SCORE, tracks_containing

        return tracks_containing(self.store, self.catalog(), track_id=int(track_id),
                                 start=start, end=end, k=k,
                                 min_score=MIN_SCORE if min_score is None else min_score)

    def similarity_along(self, seed: Seed, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Per stored segment of track ``track_id``: its start (s) and its best similarity
        with the seed's segments; see :func:`engine.passages.similarity_along`."""
        from engine.passages import similarity_along

        if seed.fingerprint != self.catalog().fingerprint:
            raise ParameterError("the seed was analysed with another model; analyse it again")
        return similarity_along(self.store, seed_vectors=seed.segments["fused"],
                                fingerprint=seed.fingerprint, track_id=int(track_id))

    # -- discovery ----------------------------------------------------------------------
    def library_map(self, *, rebuild: bool = False,
                    should_stop: Callable[[], bool] | None = None) -> MapUpdate:
        """The 2-D map of every searchable track, cached and updated (seconds: background);
        ``should_stop`` returning True abandons a full layout (raises ``Cancelled``)."""
        from engine.discovery import library_map

        return library_map(self, rebuild=rebuild, should_stop=should_stop)

    def mixes(self, count: int | None = None) -> list[Mix]:
        """The searchable tracks in ``count`` (default: about 30 tracks each) named mixes."""
        from engine.discovery import library_mixes

        return library_mixes(self, count)

    def song_path(self, start: int, end: int, length: int) -> list[TrackInfo]:
        """``length`` tracks leading from track ``start`` to track ``end``."""
        from engine.discovery import library_path

        return library_path(self, start, end, length)

    def duplicates(self, *, progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> list[DuplicateGroup]:
        """Groups of files holding the same recording, each with the copy best kept;
        see :func:`engine.discovery.duplicates.find_duplicates` (nothing is deleted).
        ``progress(checked, candidates)`` follows the pairs checked; ``should_stop`` ends
        the search early (with the groups found so far)."""
        from engine.discovery.duplicates import find_duplicates

        return find_duplicates(self.store, self.catalog(), {t.id: t for t in self.tracks()},
                               config=self.embedder.config, progress=progress,
                               should_stop=should_stop)

    def search_together(self, seeds: Sequence[Seed],
                        params: SearchParams | None = None) -> list[SearchResult]:
        """One ranking for several analysed seeds at once (the seeds left out)."""
        from engine.discovery import search_together

        return search_together(self, seeds, params)

    # -- playlists ----------------------------------------------------------------------
    def save_playlist(self, name: str, track_ids: Sequence[int | Path]) -> None:
        """Create or replace a named playlist of library tracks.

        An entry may also be a path (a file that left the library): it is kept, and shows
        up again as a track when the file returns.
        """
        items = [Path(t) if isinstance(t, str | os.PathLike) else int(t) for t in track_ids]
        pl.save(self.store, name, pl.entries_for_items(self.store, items))

    def playlists(self) -> list[str]:
        """Names of the saved playlists."""
        return pl.names(self.store)

    def playlist(self, name: str) -> list[TrackInfo]:
        """The library tracks of a playlist, in order (entries not in the library skipped)."""
        ids = [tid for tid, _ in pl.linked_items(self.store, name) if tid is not None]
        infos = records.tracks_by_id(self.store, ids)
        return [infos[t] for t in ids if t in infos]

    def playlist_items(self, name: str) -> list[pl.PlaylistItem]:
        """Every entry of a playlist, those whose file is gone included (with the reason)."""
        return pl.resolved_items(self.store, name)

    def delete_playlist(self, name: str) -> None:
        """Remove a saved playlist."""
        pl.delete(self.store, name)

    def export_playlist(self, name_or_ids: str | list[int], path: Path, fmt: str = "m3u8", *,
                        relative: bool = True, title: str | None = None) -> Path:
        """Write a saved playlist (by name) or a list of track ids as M3U8 or XSPF.

        The file carries the playlist's name (``title``, or the saved name).
        """
        if isinstance(name_or_ids, str):
            entries = [pf.PlaylistEntry.from_track(t) for t in self.playlist(name_or_ids)]
            title = title or name_or_ids
        else:
            entries = pl.entries_for(self.store, list(name_or_ids))
        if pf.fmt_for(path, fmt) == "xspf":
            return pf.write_xspf(Path(path), entries, title=title)
        return pf.write_m3u8(Path(path), entries, relative=relative, title=title)

    def playlist_file_title(self, path: Path) -> str:
        """The name importing ``path`` would give: its own title, else the file's stem."""
        return pf.file_title(Path(path)) or Path(path).stem

    def import_playlist(self, path: Path, *, name: str | None = None) -> str:
        """Read an M3U8/XSPF file into a saved playlist; returns its name."""
        path = Path(path)
        if pf.fmt_for(path) == "xspf":
            title, entries = pf.read_xspf(path)
        else:
            title, entries = pf.file_title(path), pf.read_m3u8(path)
        chosen = name or title or path.stem
        pl.save(self.store, chosen, pl.resolve(self.store, entries))
        return chosen
