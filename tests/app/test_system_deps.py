"""The app's system packages cover what Qt links, and the app starts on the real xcb platform."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"


def _system_deps() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "system_deps", ROOT / "packaging" / "linux" / "system_deps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if IN_CI:
            pytest.fail(f"{tool} is missing: the test command's system packages must bring it")
        pytest.skip(f"{tool} is not installed")


def test_library_package_names_follow_debian_policy() -> None:
    rule = _system_deps().package_by_rule
    assert rule("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert rule("libdbus-1.so.3") == "libdbus-1-3"
    assert rule("libgcc_s.so.1") == "libgcc-s1"
    assert rule("libX11-xcb.so.1") == "libx11-xcb1"


def test_declared_packages_drop_comments_and_versions(tmp_path: Path) -> None:
    listing = tmp_path / "deps.txt"
    listing.write_text("# comment\nlibc6 (>= 2.28)\n\nlibxcb1  # xcb\n", encoding="utf-8")
    assert _system_deps().declared_packages(listing) == ["libc6", "libxcb1"]


@pytest.mark.slow  # ldd over every Qt library
def test_app_depends_cover_every_library_qt_links() -> None:
    """app-depends.txt (bootstrap and the .deb) names the package of each linked soname."""
    _need("readelf")
    _need("dpkg-query")
    deps = _system_deps()
    required = deps.required_packages()
    assert "libxcb-icccm.so.4" in required  # the xcb plugin is really inspected
    assert deps.missing(required, deps.declared_packages()) == {}


@pytest.mark.slow  # starts the app under Xvfb
def test_app_starts_and_quits_on_the_real_xcb_platform(tmp_path: Path) -> None:
    """Not offscreen: Qt's xcb plugin must load under a real X server (Xvfb)."""
    _need("xvfb-run")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "RESONANCE_QUIT_AFTER_MS": "300",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "RESONANCE_SETTINGS": str(tmp_path / "settings.ini")}
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24",
         sys.executable, "-m", "resonance_app.launcher"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        cwd=ROOT, check=False)
    assert "Could not load the Qt platform plugin" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
