"""Shrink the one-folder bundle after PyInstaller, keeping every file the app loads working.

    python packaging/linux/slim.py build/dist/resonance

Three steps, each printing what it saved:

1. strip: every shared object loses its symbol tables (``strip --strip-unneeded``). The
   stripped copy is kept only if its ``PT_LOAD`` segments still satisfy the loader's
   alignment rule; the OpenBLAS and gfortran libraries that auditwheel patched come out of
   ``strip`` misaligned ("ELF load command address/offset not page-aligned") and stay as
   shipped.
2. video encoders: PyAV's FFmpeg links the HEVC (x265) and AV1 (SVT-AV1) *encoders* as
   separate libraries (27 MB). The app only decodes audio, so each is replaced by a tiny
   library of the same name whose functions report failure ("no API for this bit depth",
   an encoder error), which FFmpeg turns into "encoder could not be opened". A library is
   replaced only when every symbol the bundle imports from it has a stand-in; otherwise it
   stays, with a warning.
3. duplicates: byte-identical files (the wheels' private copies of libgfortran, libquadmath,
   libgomp) become relative symlinks to one copy.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

_PT_LOAD = 1
#: Stand-ins per library (file-name prefix): symbol pattern -> C body of the function.
#: ``x265_api_get_N`` returns NULL as x265 does for an unsupported bit depth; the SVT-AV1
#: calls return ``EB_ErrorInsufficientResources`` (FFmpeg's init then fails cleanly).
STAND_INS: dict[str, list[tuple[str, str]]] = {
    "libx265-": [(r"x265_api_get_\d+", "void *{name}(void) {{ return 0; }}")],
    "libSvtAv1Enc-": [
        (r"svt_av1_enc_release_out_buffer|svt_metadata_array_free", "void {name}(void) {{}}"),
        (r"svt_add_metadata", "int {name}(void) {{ return -1; }}"),
        (r"svt_av1_\w+", "int {name}(void) {{ return (int)0x80001000u; }}"),
    ],
}


def is_elf(path: Path) -> bool:
    """Whether ``path`` is a regular (not symlinked) ELF file."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def _is_shared_object(path: Path) -> bool:
    """An ELF ``*.so``/``*.so.N`` file (not the executable: its archive is PyInstaller's)."""
    return (path.name.endswith(".so") or ".so." in path.name) and is_elf(path)


def loads_aligned(path: Path, page: int = os.sysconf("SC_PAGE_SIZE")) -> bool:
    """Whether every ``PT_LOAD`` segment of the ELF file obeys the dynamic loader's rule:
    ``p_vaddr - p_offset`` a multiple of both the page size and the segment's alignment."""
    data = path.read_bytes()
    if data[4] != 2:  # ELFCLASS64 only (the bundles are 64-bit)
        raise ValueError(f"{path}: not a 64-bit ELF file")
    end = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(end + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, _, _, p_align = struct.unpack_from(
            end + "IIQQQQQQ", data, phoff + i * phentsize)
        if p_type != _PT_LOAD:
            continue
        delta = p_vaddr - p_offset
        if delta % page or (p_align > 1 and delta % p_align):
            return False
    return True


def strip_all(root: Path) -> tuple[int, list[Path]]:
    """Strip every shared object under ``root`` whose stripped copy stays loadable.

    Returns the bytes saved and the files left as they were (misaligned when stripped)."""
    saved, kept = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "lib"
        for path in sorted(p for p in root.rglob("*") if _is_shared_object(p)):
            shutil.copyfile(path, scratch)
            if subprocess.run(["strip", "--strip-unneeded", str(scratch)],
                              capture_output=True).returncode != 0:
                kept.append(path)
                continue
            if not loads_aligned(scratch):
                kept.append(path)
                continue
            before, after = path.stat().st_size, scratch.stat().st_size
            if after < before:
                with scratch.open("rb") as src, path.open("wb") as dst:  # keeps mode
                    shutil.copyfileobj(src, dst)
                saved += before - after
    return saved, kept


def dynamic_symbols(path: Path, *, defined: bool) -> set[str]:
    """Names of the dynamic symbols ``path`` defines (or imports, ``defined=False``)."""
    flag = "--defined-only" if defined else "--undefined-only"
    out = subprocess.run(["nm", "-D", flag, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def needed(path: Path) -> set[str]:
    """The ``NEEDED`` entries (sonames) of an ELF file."""
    out = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out))


def stand_in_source(symbols: set[str], rules: list[tuple[str, str]]) -> str | None:
    """C source defining every symbol of ``symbols`` by the first matching rule, or
    ``None`` if one of them has no rule."""
    lines = ["/* Generated by packaging/linux/slim.py: reports 'not available'. */"]
    for name in sorted(symbols):
        body = next((b for pattern, b in rules if re.fullmatch(pattern, name)), None)
        if body is None:
            return None
        lines.append(body.format(name=name))
    return "\n".join(lines) + "\n"


def replace_encoders(root: Path, cc: str = "cc") -> tuple[int, list[str]]:
    """Replace the video-encoder libraries of :data:`STAND_INS` with stand-ins.

    Returns the bytes saved and one warning per library left in place."""
    saved, warnings = 0, []
    elves = [p for p in root.rglob("*") if is_elf(p)]
    links = {p: needed(p) for p in elves}
    for prefix, rules in STAND_INS.items():
        for lib in [p for p in elves if p.name.startswith(prefix)]:
            users = [p for p in elves if lib.name in links[p]]
            wanted = set().union(*(dynamic_symbols(u, defined=False) for u in users)) \
                & dynamic_symbols(lib, defined=True)
            source = stand_in_source(wanted, rules)
            if source is None or shutil.which(cc) is None:
                warnings.append(f"{lib.name} kept: "
                                + ("no C compiler" if source else "symbols without a stand-in"))
                continue
            with tempfile.TemporaryDirectory() as tmp:
                c_file, so_file = Path(tmp) / "stub.c", Path(tmp) / "stub.so"
                c_file.write_text(source, encoding="utf-8")
                subprocess.run([cc, "-shared", "-fPIC", "-O2", "-s", f"-Wl,-soname,{lib.name}",
                                "-o", str(so_file), str(c_file)], check=True)
                missing = wanted - dynamic_symbols(so_file, defined=True)
                if missing:
                    raise RuntimeError(f"stand-in for {lib.name} lacks {sorted(missing)}")
                before = lib.stat().st_size
                shutil.copyfile(so_file, lib)
                saved += before - lib.stat().st_size
    return saved, warnings


def link_duplicates(root: Path) -> int:
    """Turn byte-identical regular files into relative symlinks to the first of them."""
    by_size: dict[int, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size > 4096:
            by_size[path.stat().st_size].append(path)
    saved = 0
    for paths in by_size.values():
        if len(paths) < 2:
            continue
        by_digest: dict[str, list[Path]] = defaultdict(list)
        for path in paths:
            by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(path)
        for first, *copies in by_digest.values():
            for copy in copies:
                if not filecmp.cmp(first, copy, shallow=False):
                    continue
                saved += copy.stat().st_size
                copy.unlink()
                copy.symlink_to(os.path.relpath(first, copy.parent))
    return saved


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: slim.py BUNDLE_FOLDER", file=sys.stderr)
        return 2
    root = Path(argv[0])
    saved, kept = strip_all(root)
    print(f"slim: strip saved {_mb(saved)}; {len(kept)} libraries left unstripped "
          f"(misaligned when stripped): {', '.join(p.name for p in kept)}")
    saved, warnings = replace_encoders(root)
    print(f"slim: video-encoder stand-ins saved {_mb(saved)}")
    for warning in warnings:
        print(f"slim: warning: {warning}")
    print(f"slim: identical files linked, saved {_mb(link_duplicates(root))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
