"""The engine scans and searches with torch, PySide6 and librosa absent (the minimal runtime)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.model_factory import build_model, write_music

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "PySide6", "librosa", "onnx", "optuna", "resonance_app", "trainer")

# Installed as sitecustomize, so scan worker processes are blocked too.
BLOCKER = textwrap.dedent(f"""
    import sys
    BLOCKED = {BLOCKED!r}

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked for this test")
            return None

    sys.meta_path.insert(0, _Block())
""")

CHILD = textwrap.dedent("""
    import sys
    try:
        import torch  # noqa: F401
        raise SystemExit("the import blocker is not active")
    except ImportError:
        pass
    from engine.cli import main
    from engine.library import Library, SearchParams
    lib_dir, model, music = sys.argv[1:4]
    assert main(["scan", music, "--library", lib_dir, "--model", model, "--workers", "2",
                 "--quiet"]) == 0
    with Library.open(lib_dir, model_dir=model) as lib:
        assert lib.count() == 4, lib.count()
        track = lib.tracks()[0]
        results = lib.search(lib.analyze_seed(track.path), SearchParams(k=3, prf=1,
                                                                        diversity=0.2))
        assert len(results) == 3 and track.id not in [r.track.id for r in results]
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("torch", "PySide6", "librosa", "onnx"))
    assert not loaded, loaded
    print("headless ok")
""")


@pytest.mark.slow
def test_engine_works_without_torch_qt_or_librosa(tmp_path):
    model = build_model(tmp_path / "model")  # onnx is needed to build it, not to use it
    write_music(tmp_path / "music", 4, seconds=6)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "lib"), str(model),
                           str(tmp_path / "music")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "headless ok" in proc.stdout
