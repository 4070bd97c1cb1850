"""The library benchmark's query path runs on a small synthetic library (it broke once
when the model card grew a field its stand-in lacked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_catalog import _FakeEmbedder, bench_queries, synthetic_library
from engine.library import Library


def test_the_query_benchmark_runs_on_a_synthetic_library(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    synthetic_library(tmp_path, 150, segments=2)
    lib = Library.open(tmp_path)
    lib._embedder = _FakeEmbedder()  # type: ignore[assignment]
    assert len(lib.catalog().track_ids) == 150
    lib.close()
    bench_queries(tmp_path)
    out = capsys.readouterr().out
    assert "a new seed (its version scores computed)" in out
    assert "excerpt query" in out and "RSS after loading" in out
