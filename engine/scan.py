"""Incremental, resumable, parallel library scan as a generator of progress.

Three phases: *walk* the folders, *diff* against the store (new / changed / moved /
deleted files by size and mtime, then content hash), and *analyse* the pending files
in worker processes. The diff is committed before analysis starts, and each analysed
file's result replaces whatever was stored for it, in batched transactions by this
generator (the single writer). A killed scan therefore resumes where it stopped with
nothing lost and nothing duplicated: pending files stay pending until their result is
committed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from engine import records
from engine.analysis import SEGMENTS_PER_TRACK, Analysis
from engine.errors import ResonanceError
from engine.scan_worker import analyse_file, hash_or_none, init_scan_worker, warm_up
from engine.store import Store
from engine.walk import FoundFile, WalkResult, walk

COMMIT_EVERY = 32
COMMIT_SECONDS = 1.0


#: The stages of a scan, in order; it ends with ``done`` or ``cancelled``.
ScanStage = Literal["walk", "diff", "analyse", "index", "done", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class ScanProgress:
    """One progress report.

    Attributes
    ----------
    done, total : files analysed so far, and to analyse in this scan
    path : the file just finished (or being looked at)
    stage : where the scan is (:data:`ScanStage`)
    errors : files that failed so far in this scan
    rate : files per second in the analyse stage
    eta_s : estimated seconds left (None when unknown)
    """

    stage: ScanStage
    done: int
    total: int
    path: str = ""
    errors: int = 0
    rate: float = 0.0
    eta_s: float | None = None


@dataclass(frozen=True)
class ScanOptions:
    """How a scan runs."""

    model_dir: Path
    fingerprint: str
    workers: int = 0
    max_segments: int | None = SEGMENTS_PER_TRACK
    #: compute the alignment and version prints alone (tracks analysed before they existed)
    print_only: bool = False


# -- diff ---------------------------------------------------------------------------

#: A ``tracks`` row as a plain dict (column name -> value).
_Row = dict[str, Any]

def _apply_changed(conn: sqlite3.Connection, row: _Row, found: FoundFile) -> None:
    """A file whose size or mtime changed: re-analyse unless its bytes are the same."""
    same = (row["status"] == "ok" and row["content_hash"] is not None
            and row["size"] == found.size and hash_or_none(found.path) == row["content_hash"])
    if same:
        records.set_file_stat(conn, row["id"], mtime=found.mtime)
    else:
        records.set_file_stat(conn, row["id"], mtime=found.mtime, size=found.size)
        records.mark_pending(conn, row["id"])


def _failed_file_changed(row: _Row, found: FoundFile) -> bool:
    """A permanently failed file whose bytes changed under the same size and mtime."""
    return (row["status"] == "error" and not row["retry"] and row["content_hash"] is not None
            and hash_or_none(found.path) not in (None, row["content_hash"]))


def _match_moves(conn: sqlite3.Connection, new: list[FoundFile], gone: dict[str, _Row],
                 root_ids: dict[str, int]) -> list[FoundFile]:
    """Re-point moved files (same size and content) to their new path; return the rest."""
    by_size: dict[int, list[_Row]] = {}
    for row in gone.values():
        by_size.setdefault(int(row["size"]), []).append(row)
    still_new = []
    for found in new:
        candidates = [r for r in by_size.get(found.size, []) if r["content_hash"]]
        digest = hash_or_none(found.path) if candidates else None
        match = next((r for r in candidates if r["content_hash"] == digest), None)
        if match is None:
            still_new.append(found)
            continue
        by_size[found.size].remove(match)
        gone.pop(match["path"])
        records.move_track(conn, match["id"], path=found.path, root_id=root_ids[found.root],
                           mtime=found.mtime)
    return still_new


def apply_diff(store: Store, found: WalkResult, root_ids: dict[str, int]) -> dict[str, int]:
    """Bring the store in line with the walk; returns counts per kind of change.

    The stored rows are read and rewritten in one write transaction, so another process
    writing the library in between cannot make the diff stale.
    """
    present_ids = [root_ids[r] for r in found.present_roots]
    counts = {"new": 0, "changed": 0, "moved": 0, "deleted": 0, "masked": 0}
    with store.transaction() as conn:
        stored = {r["path"]: r for r in records.file_rows(conn, present_ids)}
        for root in found.missing_roots:
            ids = records.track_ids_under(conn, [root_ids[root]])
            records.set_state(conn, ids, "masked")
            counts["masked"] += len(ids)
        new = []
        for f in found.files:
            row = stored.pop(f.path, None)
            if row is None:
                new.append(f)
            elif row["size"] != f.size or row["mtime"] != f.mtime:
                _apply_changed(conn, row, f)
                counts["changed"] += 1
            elif _failed_file_changed(row, f):
                records.mark_pending(conn, row["id"])
                counts["changed"] += 1
        still_new = _match_moves(conn, new, stored, root_ids)
        counts["moved"] = len(new) - len(still_new)
        records.delete_tracks(conn, [r["id"] for r in stored.values()])
        counts["deleted"] = len(stored)
        for f in still_new:
            records.insert_pending(conn, path=f.path, root_id=root_ids[f.root], size=f.size,
                                   mtime=f.mtime)
        counts["new"] = len(still_new)
        records.set_state(conn, records.track_ids_under(conn, present_ids), "present")
    return counts


# -- analysis -----------------------------------------------------------------------

def _results_inline(work: list[tuple[int, str]], options: ScanOptions,
                    should_stop: Callable[[], bool]) -> Iterator[Analysis]:
    from engine.model import Embedder

    embedder = Embedder(options.model_dir, threads=1, verify=False)
    for track_id, path in work:
        if should_stop():
            return
        yield analyse_file(path, track_id, options.max_segments, embedder,
                           print_only=options.print_only)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _SingleThreadedPool(ProcessPoolExecutor):
    """A spawn pool whose workers start with one BLAS/OpenMP thread each.

    Worker processes are started on demand by ``submit``; the thread variables are set
    around it so each worker reads them before numpy loads (N workers on N cores, not
    N x BLAS threads fighting), and restored for the rest of this process.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Submit, starting any new worker with one-thread BLAS/OpenMP and Ctrl-C ignored.

        A worker inherits an ignored SIGINT through exec, so a Ctrl-C sent to the whole
        process group while it is still importing cannot print a traceback; the scanning
        process alone stops the scan. (Signal handlers can only change on the main thread;
        elsewhere, as in the desktop app, the worker ignores it from its initializer on.)
        """
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))
        on_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            if on_main:
                signal.signal(signal.SIGINT, previous or signal.default_int_handler)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def start_workers(model_dir: Path, workers: int) -> ProcessPoolExecutor | None:
    """Start a scan's worker processes now (None for ``workers`` 0), to be handed to
    :func:`scan`: they import, load the model and warm up while the caller checks the
    model and the scan walks the folders, instead of after."""
    if workers <= 0:
        return None
    pool = _new_pool(model_dir, workers)
    for _ in range(workers):  # a process is started per task submitted to an idle pool
        pool.submit(warm_up)
    return pool


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """End workers from :func:`start_workers` that will get no file (nothing to analyse,
    a refused model, a held lock) at once, rather than after their warm-up."""
    # ProcessPoolExecutor.terminate_workers() arrives in Python 3.14; until then the
    # processes are reached through the executor's own table.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _new_pool(model_dir: Path, workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # safe from threaded (GUI) parents
    return _SingleThreadedPool(max_workers=workers, mp_context=context,
                               initializer=init_scan_worker, initargs=(str(model_dir),))


def _run_pool(queue: list[tuple[int, str]], options: ScanOptions, workers: int,
              should_stop: Callable[[], bool], *, in_flight: int = 2,
              started: ProcessPoolExecutor | None = None
              ) -> Generator[Analysis, None, list[tuple[int, str]]]:
    """Analyse ``queue`` (popped from the end) in ``started`` or a new pool (shut down at
    the end); returns the in-flight items if a worker died."""
    pool = started or _new_pool(options.model_dir, workers)
    running: dict[Future[Analysis], tuple[int, str]] = {}
    try:
        _check_workers_start(pool)
        while queue or running:
            while queue and len(running) < in_flight * workers and not should_stop():
                track_id, path = queue.pop()
                try:
                    future = pool.submit(analyse_file, path, track_id, options.max_segments,
                                         print_only=options.print_only)
                except BrokenProcessPool:  # a worker died since the last wait: not this file
                    queue.append((track_id, path))
                    return list(running.values())
                running[future] = (track_id, path)
            if should_stop():
                return []
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    return list(running.values())
                running.pop(future)
                yield result
        return []
    finally:
        for future in running:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _check_workers_start(pool: ProcessPoolExecutor) -> None:
    """Fail clearly when worker processes cannot start at all (not a bad file)."""
    try:
        pool.submit(os.getpid).result()
    except BrokenProcessPool:
        raise ResonanceError(
            "scan worker processes could not start (the embedding model failed to load in "
            "them, or the program cannot be re-imported); run the scan with --workers 0 "
            "to analyse in this process") from None


def _crashed(track_id: int, path: str) -> Analysis:
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = 0, 0.0
    return Analysis(path, track_id, False, size, mtime,
                    reason="the decoder crashed on this file (damaged or unsupported)")


def _results_pool(work: list[tuple[int, str]], options: ScanOptions,
                  should_stop: Callable[[], bool],
                  started: ProcessPoolExecutor | None = None) -> Iterator[Analysis]:
    """Analyse in worker processes (``started`` ones first). When a worker dies, the files
    it may have been on are retried one at a time in a fresh pool: the one that kills it
    again is recorded as bad, and the scan goes on."""
    queue = list(reversed(work))
    suspects: list[tuple[int, str]] = []
    while (queue or suspects) and not should_stop():
        if suspects:
            broken = yield from _run_pool(suspects, options, 1, should_stop, in_flight=1)
            if broken:
                yield replace(_crashed(*broken[0]), print_only=options.print_only)
        else:
            suspects = list(reversed((yield from _run_pool(queue, options, options.workers,
                                                           should_stop, started=started))))
            started = None


def analyse(store: Store, work: list[tuple[int, str]], options: ScanOptions, *,
            should_stop: Callable[[], bool],
            workers: ProcessPoolExecutor | None = None) -> Iterator[ScanProgress]:
    """Analyse ``work`` (in ``workers`` when given, started by :func:`start_workers`) and
    commit results in batches; yields one report per file."""
    results = (_results_pool(work, options, should_stop, workers) if options.workers > 0
               else _results_inline(work, options, should_stop))
    batch: list[Analysis] = []
    last_commit = started = time.monotonic()
    done = errors = 0
    try:
        for result in results:
            batch.append(result)
            done += 1
            errors += not result.ok and not result.print_only  # a missing print: tried again
            now = time.monotonic()
            if len(batch) >= COMMIT_EVERY or now - last_commit >= COMMIT_SECONDS:
                _commit(store, batch, options.fingerprint)
                batch, last_commit = [], now
            rate = done / max(now - started, 1e-9)
            yield ScanProgress(stage="analyse", done=done, total=len(work), path=result.path,
                               errors=errors, rate=rate,
                               eta_s=(len(work) - done) / rate if rate > 0 else None)
    finally:
        _commit(store, batch, options.fingerprint)


def _commit(store: Store, batch: list[Analysis], fingerprint: str) -> None:
    if not batch:
        return
    with store.transaction() as conn:
        for result in batch:
            if not records.track_is_at(conn, result.track_id, result.path):
                continue  # removed or moved while it was being analysed
            if result.print_only:  # a failure keeps the analysis; the next scan tries again
                if result.ok:
                    records.save_print(conn, result.track_id, result)
            elif result.ok:
                records.save_analysis(conn, result.track_id, result, fingerprint)
            else:
                records.save_error(conn, result.track_id, reason=result.reason,
                                   size=result.size, mtime=result.mtime,
                                   fingerprint=fingerprint, retry=result.transient,
                                   content_hash=None if result.transient
                                   else hash_or_none(result.path))


def scan(store: Store, *, roots: list[Path], options: ScanOptions,
         should_stop: Callable[[], bool] | None = None,
         workers: ProcessPoolExecutor | None = None) -> Iterator[ScanProgress]:
    """Scan ``roots`` into ``store``, yielding progress; stop early when asked.

    Parameters
    ----------
    store : the library database
    roots : library folders to scan (registered in the store if new)
    options : model folder and fingerprint, worker count (0: analyse in this process)
    should_stop : polled between files; when it returns True the scan commits what it
        has and ends with a ``cancelled`` report
    workers : worker processes already started (:func:`start_workers`); shut down when
        the scan ends, whether it used them or not
    """
    try:
        yield from _scan(store, roots=roots, options=options,
                         stop=should_stop or (lambda: False), workers=workers)
    finally:
        if workers is not None:
            workers.shutdown(wait=True, cancel_futures=True)


def _scan(store: Store, *, roots: list[Path], options: ScanOptions, stop: Callable[[], bool],
          workers: ProcessPoolExecutor | None) -> Iterator[ScanProgress]:
    yield ScanProgress(stage="walk", done=0, total=0)
    root_ids = {str(r): store.add_root(r) for r in roots}
    found = walk(list(root_ids))
    yield ScanProgress(stage="diff", done=0, total=len(found.files), errors=len(found.errors))
    apply_diff(store, found, root_ids)
    store.set_meta("walk_errors", json.dumps([[str(e.path), e.reason] for e in found.errors]))
    store.set_meta("model_sha256", options.fingerprint)
    present = [root_ids[r] for r in found.present_roots]
    work = records.pending_work(store, present, options.fingerprint)
    if workers is not None and not work:
        stop_workers(workers)  # a rescan that finds nothing new returns at once
        workers = None
    last = ScanProgress(stage="analyse", done=0, total=len(work))
    yield replace(last, errors=len(found.errors))
    for progress in analyse(store, work, options, should_stop=stop, workers=workers):
        last = progress
        yield replace(progress, errors=progress.errors + len(found.errors))
    done, total = last.done, len(work)
    # tracks analysed before alignment or version prints existed: decode them for the prints
    prints = [] if stop() else records.pending_prints(store, present, options.fingerprint)
    if prints:
        for progress in analyse(store, prints, replace(options, print_only=True),
                                should_stop=stop):
            last = progress
            yield replace(progress, errors=progress.errors + len(found.errors))
        done, total = done + last.done, total + len(prints)
    stage: ScanStage = "cancelled" if stop() and done < total else "done"
    yield ScanProgress(stage=stage, done=done, total=total,
                       errors=last.errors + len(found.errors), rate=last.rate, eta_s=0.0)
