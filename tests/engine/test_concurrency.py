"""Two processes on one library: a second scan is refused while one runs, and queries
during a scan (each rebuilding and swapping the catalog) all succeed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from engine.cli import main
from tests.engine.processes import ROOT, lock_held, start_cli, wait_until
from tests.model_factory import build_model, write_music

QUERIES = textwrap.dedent("""
    import contextlib, io, sys, time
    from engine.cli import main
    argv, failures, runs = sys.argv[2:], [], 0
    stop = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < stop:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except BaseException as exc:  # a traceback would be a failure too
                code, _ = 99, err.write(f"{type(exc).__name__}: {exc}")
        runs += 1
        if code != 0:
            failures.append(err.getvalue().strip())
    print(runs, len(failures))
    for f in failures[:5]:
        print(f)
""")


@pytest.fixture
def corpus(tmp_path):
    model = build_model(tmp_path / "model")
    write_music(tmp_path / "music", 6, seconds=8)
    write_music(tmp_path / "more", 30, seconds=8, first_seed=100)
    lib = ["--library", str(tmp_path / "lib"), "--model", str(model)]
    assert main(["scan", str(tmp_path / "music"), "--workers", "0", "--quiet", *lib]) == 0
    return tmp_path, lib


@pytest.mark.slow  # a 30-file scan in worker processes
def test_a_second_scan_is_refused_while_one_runs(corpus):
    root, lib = corpus
    first = start_cli("scan", str(root / "more"), "--workers", "2", "--quiet", *lib)
    wait_until(lambda: lock_held(root / "lib" / "scan.lock") or first.poll() is not None, 60)
    os.kill(first.pid, signal.SIGSTOP)  # frozen mid-scan, holding the lock, however fast
    assert first.poll() is None, "the first scan ended before it could be frozen"
    second = subprocess.run([sys.executable, "-c", "import sys; from engine.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "scan", "--workers", "0",
                             "--quiet", *lib], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 1
    assert "another scan is running" in second.stderr and second.stderr.count("\n") == 1
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "the library holds 36 searchable tracks" in out


@pytest.mark.slow  # a 30-file scan and query processes
def test_queries_during_a_scan_never_fail(corpus):
    root, lib = corpus
    scan = start_cli("scan", str(root / "more"), "--workers", "1", "--quiet", *lib)
    queries = [subprocess.Popen([sys.executable, "-c", QUERIES, "12", "similar", str(seed),
                                 "--json", "-k", "3", *lib], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    reports = [q.communicate(timeout=120) for q in queries]
    _out, err = scan.communicate(timeout=120)
    assert scan.returncode == 0, err
    for out_q, err_q in reports:
        runs, failed = map(int, out_q.splitlines()[0].split())
        assert runs >= 3 and failed == 0, out_q + err_q
        assert "Traceback" not in err_q, err_q


def test_the_library_knows_when_another_process_has_it_open(corpus):
    from engine.library import Library

    root, _lib = corpus
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from engine.library "
                               "import Library; lib = Library.open(sys.argv[1]); print('open', "
                               "flush=True); time.sleep(60)", str(root / "lib")], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with Library.open(root / "lib") as mine:
            assert mine.others_open() == 1
            holder.kill()  # however it ends, its mark goes with it
            holder.wait()
            assert mine.others_open() == 0
    finally:
        holder.kill()
    assert list((root / "lib" / "sessions").iterdir()) == []


def test_the_catalog_reads_one_state_of_a_database_another_scan_is_filling(corpus,
                                                                           monkeypatch):
    """A scan in another process commits between the catalog's reads of the vector
    columns: every column still holds the same tracks (a query once indexed past the end
    of a branch's matrix, ``IndexError``)."""
    from engine.library import Library
    from engine.store import Store

    root, lib_args = corpus
    model = lib_args[lib_args.index("--model") + 1]
    scanner = Library.open(root / "lib", model_dir=model)
    list(scanner.scan([root / "more"], workers=0, should_stop=lambda: True))  # root added
    reads: list[str] = []
    original = Store.vector_matrix

    def read_then_let_a_scan_commit(self, *, fingerprint, column="fused"):
        result = original(self, fingerprint=fingerprint, column=column)
        reads.append(column)
        if len(reads) == 1:  # between the first column and the others
            list(scanner.scan(workers=0))
        return result

    with Library.open(root / "lib", model_dir=model) as reader:
        monkeypatch.setattr(Store, "vector_matrix", read_then_let_a_scan_commit)
        catalog = reader.catalog(rebuild=True)
        monkeypatch.undo()
        assert {len(m) for m in catalog.track_vectors.values()} == {len(catalog.track_ids)}
        assert catalog.tracks.count == len(catalog.track_ids)
    assert scanner.count() == 36
    scanner.close()
