"""The on-disk FAISS catalog: a cache of the database, swapped atomically.

Layout under a library folder::

    catalog/current                 text file naming the live folder
    catalog/cat-<uuid>/manifest.json
    catalog/cat-<uuid>/tracks.faiss, segments.faiss

A new catalog is written into a fresh ``catalog.tmp-<uuid>`` folder (every file
fsynced), renamed into place, and only then is ``current`` replaced with
``os.replace`` (after an fsync of a temporary pointer file). On load the manifest is
checked against the library's :class:`CatalogIdentity` (model fingerprint, dimension,
feature version, one value computed per refresh), against the database (counts, id
checksums) and each index file against its sha256; any mismatch or damage rebuilds the
catalog from the stored embeddings. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import dense
from engine.config import FEATURE_VERSION
from engine.errors import StoreAccessError
from engine.filecheck import file_digest
from engine.index import VectorIndex, build_index, id_checksum
from engine.segment_index import build_segment_index, segment_keys
from engine.store import VECTOR_COLUMNS, Store

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
POINTER = "current"
FORMAT = "resonance-catalog"
FORMAT_VERSION = 2  # 2: the segment index holds every (dense) segment
INDEX_NAMES = ("tracks", "segments")
TMP_PREFIX = "catalog.tmp-"
#: Replaced catalog folders are removed once they are this old (seconds): until then
#: another process may still be reading the one it found through ``current``.
STALE_GRACE_SECONDS = 60.0


class CatalogInvalid(Exception):
    """The saved catalog cannot be used (missing, damaged or out of date)."""


@dataclass(frozen=True)
class CatalogIdentity:
    """What a catalog's vectors mean: the model's fingerprint, the vector dimension and
    the engine's feature version. A saved catalog is used only under an equal identity."""

    fingerprint: str
    dim: int
    feature_version: int = FEATURE_VERSION

    def manifest_fields(self) -> dict[str, Any]:
        """The identity as the manifest records it."""
        return {"model_sha256": self.fingerprint, "dim": self.dim,
                "feature_version": self.feature_version}

    def mismatch(self, manifest: dict[str, Any]) -> str | None:
        """Why a catalog with ``manifest`` is not of this identity (None: it is)."""
        saved = {key: manifest.get(key) for key in self.manifest_fields()}
        if saved["model_sha256"] != self.fingerprint:
            return "catalog was built with another model"
        if saved != self.manifest_fields():
            return "catalog dimension or feature version differs"
        return None


@dataclass
class Catalog:
    """Loaded indexes plus the track-level vectors used for re-ranking.

    Attributes
    ----------
    tracks, segments : track-level and segment-level indexes
    track_ids : np.ndarray [shape=(n,), dtype=int64], sorted
    track_vectors : dict of np.ndarray [shape=(n, dim)] per column, rows as ``track_ids``
    identity : what the vectors mean (model fingerprint, dimension, feature version)
    checksums : id checksum per index (to detect a changed database)
    """

    tracks: VectorIndex
    segments: VectorIndex
    track_ids: np.ndarray
    track_vectors: dict[str, np.ndarray]
    identity: CatalogIdentity
    checksums: dict[str, str] = field(default_factory=dict)
    #: codec of the segment index (None: float16 vectors in the model's space)
    segment_codec: dense.Codec | None = None
    #: values computed from the vectors once per loaded catalog (:meth:`derived`)
    cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the model whose vectors the catalog holds."""
        return self.identity.fingerprint

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of track ``ids`` in :attr:`track_vectors`."""
        return np.searchsorted(self.track_ids, np.asarray(ids, dtype=np.int64))

    def derived(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """``make()`` (something computed from the vectors, which a loaded catalog never
        changes), computed at the first call with ``key`` only."""
        if key not in self.cache:
            self.cache[key] = make()
        value: np.ndarray = self.cache[key]
        return value


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_catalog(folder: Path, indexes: dict[str, VectorIndex], *,
                  identity: CatalogIdentity, checksums: dict[str, str]) -> Path:
    """Atomically replace the catalog under ``folder`` with ``indexes``.

    On failure (a full disk, read-only media) nothing of the attempt is left behind and
    :class:`StoreAccessError` says what to do.
    """
    tmp = folder / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"  # ours alone
    pointer_tmp = folder / f"{POINTER}.tmp-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        entries: dict[str, Any] = {}
        for name, index in indexes.items():
            target = tmp / f"{name}.faiss"
            index.write(target)
            _fsync_file(target)
            entries[name] = {"file": target.name, "kind": index.kind, "count": index.count,
                             "dim": index.dim,
                             "id_checksum": checksums[name], "recall_at_20": index.recall,
                             "nprobe": index.nprobe, "sha256": file_digest(target)}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    **identity.manifest_fields(), "created": time.time(), "indexes": entries}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_file(tmp / MANIFEST)
        _fsync_dir(tmp)
        final = folder / f"cat-{uuid.uuid4().hex}"
        os.replace(tmp, final)
        pointer_tmp.write_text(final.name, encoding="utf-8")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, folder / POINTER)
        _fsync_dir(folder)
    except (OSError, RuntimeError) as exc:  # faiss reports write errors as RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            pointer_tmp.unlink(missing_ok=True)
        raise _write_error(folder, indexes, exc) from None
    _remove_stale(folder, keep=final.name)
    return final


def _write_error(folder: Path, indexes: dict[str, VectorIndex],
                 exc: BaseException) -> StoreAccessError:
    from engine.space import is_no_space, no_space_error

    if is_no_space(exc):  # room for the vectors (float32 at most) and some overhead
        needed = sum(i.count * i.dim * 4 for i in indexes.values()) + (1 << 20)
        return no_space_error(folder, needed)
    return StoreAccessError(f"cannot write the catalog in {str(folder)!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _is_stale(child: Path, keep: str, now: float) -> bool:
    """Another process's folders are left alone: a temporary folder while its writer
    lives, a replaced catalog for a grace period (a reader may still be loading it)."""
    if child.name.startswith(TMP_PREFIX):
        pid = child.name[len(TMP_PREFIX):].partition("-")[0]
        return not pid.isdigit() or not _process_alive(int(pid))
    if child.name.startswith("cat-") and child.name != keep:
        with contextlib.suppress(OSError):
            return now - child.stat().st_mtime > STALE_GRACE_SECONDS
    return False


def _remove_stale(folder: Path, *, keep: str) -> None:
    now = time.time()
    for child in folder.iterdir():
        if child.is_dir() and _is_stale(child, keep, now):
            shutil.rmtree(child, ignore_errors=True)


def read_catalog(folder: Path, *, identity: CatalogIdentity,
                 checksums: dict[str, str]) -> dict[str, VectorIndex]:
    """Load and verify the live catalog; :class:`CatalogInvalid` says why it cannot be used."""
    try:
        live = folder / (folder / POINTER).read_text(encoding="utf-8").strip()
        manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogInvalid(f"no readable catalog ({exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise CatalogInvalid("unknown catalog format")
    mismatch = identity.mismatch(manifest)
    if mismatch:
        raise CatalogInvalid(mismatch)
    out = {}
    for name in INDEX_NAMES:
        entry = manifest.get("indexes", {}).get(name)
        if entry is None or entry.get("id_checksum") != checksums[name]:
            raise CatalogInvalid(f"{name} index is out of date with the database")
        path = live / str(entry["file"])
        try:
            if file_digest(path) != entry["sha256"]:
                raise CatalogInvalid(f"{name} index file is corrupt (checksum mismatch)")
            index = VectorIndex.read(path, kind=entry["kind"],
                                     dim=int(entry.get("dim", identity.dim)),
                                     recall=float(entry["recall_at_20"]),
                                     nprobe=int(entry["nprobe"]))
        except CatalogInvalid:
            raise
        except Exception as exc:  # faiss raises RuntimeError with C++ messages
            raise CatalogInvalid(f"{name} index file is unreadable ({exc})") from None
        if index.count != int(entry["count"]):
            raise CatalogInvalid(f"{name} index holds {index.count} vectors, "
                                 f"manifest says {entry['count']}")
        out[name] = index
    return out


def database_checksums(store: Store, fingerprint: str) -> dict[str, str]:
    """Id checksums of what the database says the indexes must hold (and the segment
    codec: coding a library's dense vectors changes the segment index)."""
    codec = dense.codec_for(store, fingerprint)
    return {"tracks": id_checksum(store.searchable_track_ids(fingerprint)),
            "segments": f"{id_checksum(segment_keys(store, fingerprint))}"
                        f":{codec.id if codec else 0}"}


def open_catalog(store: Store, folder: Path, identity: CatalogIdentity, *,
                 rebuild: bool = False) -> Catalog:
    """The verified catalog of ``store``, rebuilt from the database when needed.

    A scan in another process may commit meanwhile: what the indexes are checked against,
    the vectors and the codec are read from one state of the database (a snapshot).
    """
    fingerprint, dim = identity.fingerprint, identity.dim
    indexes: dict[str, VectorIndex] | None = None
    if not rebuild:
        with store.snapshot():
            checksums = database_checksums(store, fingerprint)
            indexes = _saved_indexes(folder, identity, checksums)
            if indexes is not None:
                track_ids, vectors = _track_vectors(store, fingerprint, dim)
                codec = dense.codec_for(store, fingerprint)
    if indexes is None:
        dense.compress_if_large(store, fingerprint=fingerprint, dim=dim)
        with store.snapshot():
            checksums = database_checksums(store, fingerprint)
            track_ids, vectors = _track_vectors(store, fingerprint, dim)
            codec = dense.codec_for(store, fingerprint)
            indexes = {"tracks": build_index(track_ids, vectors["fused"], dim=dim),
                       "segments": build_segment_index(store, fingerprint=fingerprint,
                                                       dim=dim)}
        try:
            write_catalog(folder, indexes, identity=identity, checksums=checksums)
        except StoreAccessError as exc:  # a cache: search from memory, save next time
            log.warning("The catalog index could not be saved (%s); searching with the "
                        "index in memory.", exc)
    return Catalog(tracks=indexes["tracks"], segments=indexes["segments"],
                   track_ids=track_ids, track_vectors=vectors, identity=identity,
                   checksums=checksums, segment_codec=codec)


def _saved_indexes(folder: Path, identity: CatalogIdentity,
                   checksums: dict[str, str]) -> dict[str, VectorIndex] | None:
    """The catalog's saved indexes when they match ``checksums``, else None (logged)."""
    try:
        return read_catalog(folder, identity=identity, checksums=checksums)
    except CatalogInvalid as exc:
        level = logging.INFO if "no readable catalog" in str(exc) else logging.WARNING
        log.log(level, "The catalog index cannot be used (%s): rebuilding the index "
                "from the library database.", exc)
        return None


def _track_vectors(store: Store, fingerprint: str,
                   dim: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    vectors: dict[str, np.ndarray] = {}
    ids = np.zeros(0, np.int64)
    for column in VECTOR_COLUMNS:
        ids, matrix = store.vector_matrix(column=column, fingerprint=fingerprint)
        if not len(ids):
            matrix = np.zeros((0, dim if column == "fused" else 1), np.float32)
        # float32: a track seed scores every track on every column (engine.search)
        vectors[column] = np.ascontiguousarray(matrix, dtype=np.float32)
    return ids, vectors
