"""Architecture rules: the engine runs without Qt, torch or librosa; SQL lives in the store.

import-linter checks the static imports (contracts in pyproject.toml); the subprocess
below proves it at run time, with those packages made unimportable.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"torch", "PySide6", "shiboken6", "librosa", "numba", "optuna", "onnx"}
    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None
    sys.meta_path.insert(0, Blocker())
""")


def run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where Qt, torch and librosa cannot load."""
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_engine_module_imports_without_qt_torch_librosa():
    result = run_blocked("""
        import importlib, pkgutil, engine
        for mod in pkgutil.walk_packages(engine.__path__, "engine."):
            importlib.import_module(mod.name)
        import numpy as np
        from engine.config import FeatureConfig
        from engine.features import extract_features, segment_features
        cfg = FeatureConfig()
        segs = segment_features(extract_features(np.random.default_rng(0).standard_normal(
            44100 * 20).astype(np.float32) * 0.1, config=cfg), config=cfg)
        assert segs.mel.shape == (2, 160, 900), segs.mel.shape
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_cli_help_does_not_import_qt():
    result = run_blocked("""
        import sys
        from resonance_app.launcher import main
        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        assert "PySide6" not in sys.modules
    """)
    assert result.returncode == 0, result.stderr
    assert "features" in result.stdout


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the dev extra"
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


#: The engine modules the desktop app may import (its import-linter contract forbids the rest).
APP_FACING = {"library", "errors", "model", "model_choice", "audio", "playlists",
              "playlist_files", "resources", "cli"}


def test_the_app_contract_forbids_every_other_engine_module():
    """A new engine module is private to the app unless it is added to APP_FACING."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"]
                   if c["name"].startswith("The app uses only the engine's public modules")]
    forbidden = {m.removeprefix("engine.") for m in contract["forbidden_modules"]}
    modules = {p.stem for p in (ROOT / "engine").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / "engine").iterdir()
                if (p / "__init__.py").is_file() and p.name != "__pycache__"}
    assert modules - APP_FACING == forbidden


#: The modules that own the SQL text (the library database's schema, reads and writes).
SQL_HOMES = {"engine/store.py", "engine/records.py"}
_SQL = re.compile(r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|"
                  r"DELETE\s+FROM|CREATE\s+(TABLE|INDEX|VIEW|TRIGGER))\b")


def sql_statements(source: str) -> list[str]:
    """The string literals of a module (f-string parts joined) that hold an SQL statement."""
    tree = ast.parse(source)
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
             for v in node.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in parts:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "{}".join(v.value for v in node.values
                             if isinstance(v, ast.Constant) and isinstance(v.value, str))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if _SQL.search(" ".join(text.split())):
            found.append(text)
    return found


def test_sql_lives_only_in_the_store_and_records():
    """Every other engine module asks the store (a well-named method) for what it needs."""
    offenders = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in SQL_HOMES:
            continue
        statements = sql_statements(path.read_text(encoding="utf-8"))
        if statements:
            offenders[name] = statements
    assert not offenders, offenders


def test_the_sql_check_finds_statements_in_every_kind_of_literal():
    code = textwrap.dedent('''
        def f(store, ids, marks):
            store.query(f"SELECT id, album FROM tracks WHERE id IN ({marks})", ids)
            store.query("SELECT t.fingerprint AS fp, v.* FROM tracks t JOIN track_vectors v "
                        "ON v.track_id = t.id WHERE t.id = ?", ids)
            store.mutate("DELETE FROM playlists WHERE name = ?", ids)
            store.mutate("INSERT OR REPLACE INTO meta VALUES (?, ?)", ids)
            return "Select a folder to scan", "UPDATE the model", "SELECT"
    ''')
    assert len(sql_statements(code)) == 4
    for home in SQL_HOMES:
        assert sql_statements((ROOT / home).read_text(encoding="utf-8")), home


@pytest.mark.parametrize("package", ["engine", "trainer", "resonance_app"])
def test_no_import_cycles(package):
    """No module imports, directly or through others, a module that imports it back (lazy
    imports inside functions count; imports only for type checking do not)."""
    import grimp

    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    cycles = sorted((a, b) for a in graph.modules
                    for b in graph.find_modules_directly_imported_by(a)
                    if graph.chain_exists(importer=b, imported=a))
    assert cycles == []
