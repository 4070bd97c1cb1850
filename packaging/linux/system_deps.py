"""Derive the Debian packages the desktop app needs from what Qt's libraries link.

The app runs on the Qt of the PySide6 wheel, which bundles Qt itself but links the system's
X11/xcb, OpenGL, fontconfig and glib libraries. A minimal Debian lacks some of them (Qt's xcb
plugin then aborts at start), so ``app-depends.txt`` beside this file lists the packages, and
this module checks that list against the libraries' ``NEEDED`` entries:

    python packaging/linux/system_deps.py          # print soname -> package, exit 1 if missing

A soname that is resolved on this machine is mapped to its package with ``dpkg -S``; one that
is missing is named by Debian's library-package rule (``libxcb-icccm.so.4`` ->
``libxcb-icccm4``, ``libdbus-1.so.3`` -> ``libdbus-1-3``).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

LIST = Path(__file__).with_name("app-depends.txt")
#: The Qt libraries the app loads whose system dependencies must be installed.
QT_LIBRARIES = (
    "plugins/platforms/libqxcb.so",
    "lib/libQt6XcbQpa.so.6",
    "lib/libQt6Core.so.6",
    "lib/libQt6Gui.so.6",
    "lib/libQt6Widgets.so.6",
    "lib/libQt6DBus.so.6",
)
#: Sonames of the C runtime's own package (the dynamic loader is named by path).
_LOADER = re.compile(r"^ld-linux.*\.so")


def qt_root() -> Path:
    """The ``Qt`` folder of the installed PySide6 wheel (without importing Qt)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PySide6 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def declared_packages(path: Path = LIST) -> list[str]:
    """Package names of ``app-depends.txt`` (comments and version constraints dropped)."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"\(.*\)", "", line.split("#", 1)[0]).strip()
        if line:
            names.append(line)
    return names


def needed_sonames(library: Path) -> list[str]:
    """The ``NEEDED`` entries of a shared library's dynamic section."""
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def resolved_paths(library: Path) -> dict[str, str | None]:
    """``ldd``'s answer for each soname: the file it loads, or None when not found."""
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True,
                         check=False).stdout
    paths: dict[str, str | None] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (not found|(\S+))", line)
        if m:
            paths[m.group(1)] = m.group(3)
    return paths


def package_by_rule(soname: str) -> str:
    """Debian's library package name for a soname (policy 8.1)."""
    m = re.match(r"^(.+)\.so\.(\d+)", soname)
    if not m:
        raise ValueError(f"not a versioned soname: {soname}")
    base, version = m.group(1).lower().replace("_", "-"), m.group(2)
    return f"{base}-{version}" if base[-1].isdigit() else f"{base}{version}"


def owning_package(path: str) -> str | None:
    """The installed package that ships ``path`` (merged-/usr aware), or None."""
    candidates = [path, str(Path(path).resolve())]
    if path.startswith("/lib"):
        candidates.append("/usr" + path)
    for candidate in candidates:
        res = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True,
                             check=False)
        if res.returncode == 0:
            return res.stdout.split(":", 1)[0].strip()
    return None


def required_packages(root: Path | None = None) -> dict[str, str]:
    """soname -> Debian package for every system library the Qt libraries link directly."""
    root = root or qt_root()
    found: dict[str, str] = {}
    for rel in QT_LIBRARIES:
        library = root / rel
        resolved = resolved_paths(library)
        for soname in needed_sonames(library):
            path = resolved.get(soname)
            if _LOADER.match(soname) or soname.startswith("libQt6") or soname in found:
                continue
            if path and str(root) in path:
                continue  # bundled inside the wheel (ICU, Qt itself)
            found[soname] = (owning_package(path) if path else None) or package_by_rule(soname)
    return found


def missing(required: dict[str, str], declared: Iterable[str]) -> dict[str, str]:
    """The entries of ``required`` whose package is not declared."""
    have = set(declared)
    return {soname: pkg for soname, pkg in required.items() if pkg not in have}


def main() -> int:
    """Print the derivation and exit 1 when app-depends.txt misses a package."""
    required = required_packages()
    for soname, pkg in sorted(required.items(), key=lambda kv: kv[1]):
        print(f"{pkg:24} {soname}")
    gaps = missing(required, declared_packages())
    for soname, pkg in gaps.items():
        print(f"MISSING from {LIST.name}: {pkg} ({soname})", file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
