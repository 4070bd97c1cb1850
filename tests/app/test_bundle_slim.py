"""packaging/linux/slim.py: what it strips, replaces and links keeps loading and working."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"


def _slim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slim", ROOT / "packaging" / "linux" / "slim.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tools(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            if IN_CI:  # the bundle build needs them too (strip, the encoder stand-ins)
                pytest.fail(f"{name} is missing: the test command's system packages must bring it")
            pytest.skip(f"{name} is not installed")


def _elf_with_load(path: Path, offset: int, vaddr: int, align: int = 0x1000) -> Path:
    """A minimal 64-bit little-endian ELF header with one PT_LOAD program header."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, offset, vaddr, vaddr, 0x10, 0x10, align)
    path.write_bytes(header + load)
    return path


def test_load_alignment_rule(tmp_path: Path) -> None:
    slim = _slim()
    assert slim.loads_aligned(_elf_with_load(tmp_path / "ok", 0x1000, 0x3000), page=4096)
    assert not slim.loads_aligned(_elf_with_load(tmp_path / "bad", 0x1008, 0x3000), page=4096)
    # a segment of numpy's OpenBLAS (patched by auditwheel) after strip
    assert not slim.loads_aligned(_elf_with_load(tmp_path / "ob", 0x1621098, 0x166B000),
                                  page=4096)


def test_strip_keeps_a_library_callable(tmp_path: Path) -> None:
    _tools("cc", "strip")
    source = tmp_path / "twice.c"
    source.write_text("int twice(int x) { return 2 * x; }\n", encoding="utf-8")
    lib = tmp_path / "bundle" / "libtwice.so"
    lib.parent.mkdir()
    subprocess.run(["cc", "-shared", "-fPIC", "-g", "-o", str(lib), str(source)], check=True)
    before = lib.stat().st_size
    saved, kept = _slim().strip_all(lib.parent)
    assert kept == [] and saved == before - lib.stat().st_size > 0
    assert ctypes.CDLL(str(lib)).twice(21) == 42


def test_identical_files_become_relative_links(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    for folder in ("a.libs", "b.libs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "libsame.so").write_bytes(data)
    (tmp_path / "b.libs" / "libother.so").write_bytes(data[::-1])
    assert _slim().link_duplicates(tmp_path) == len(data)
    copy = tmp_path / "b.libs" / "libsame.so"
    assert copy.is_symlink() and str(copy.readlink()) == "../a.libs/libsame.so"
    assert copy.read_bytes() == data
    assert not (tmp_path / "b.libs" / "libother.so").is_symlink()


def test_stand_in_needs_a_rule_for_every_symbol() -> None:
    slim = _slim()
    rules = slim.STAND_INS["libSvtAv1Enc-"]
    source = slim.stand_in_source({"svt_av1_enc_init", "svt_metadata_array_free"}, rules)
    assert source is not None
    assert "int svt_av1_enc_init(void) { return (int)0x80001000u; }" in source
    assert "void svt_metadata_array_free(void) {}" in source
    assert slim.stand_in_source({"svt_av1_enc_init", "svt_new_call"}, rules) is None


@pytest.mark.slow  # copies PyAV (100 MB) and decodes with it
def test_pyav_decodes_audio_with_the_encoder_stand_ins(tmp_path: Path) -> None:
    """The installed PyAV with x265 and SVT-AV1 replaced: it imports, writes and reads AAC,
    and opening those encoders fails with an error instead of crashing."""
    _tools("cc", "nm", "readelf")
    av_spec = importlib.util.find_spec("av")
    assert av_spec and av_spec.origin
    site = Path(av_spec.origin).parents[1]
    if not list((site / "av.libs").glob("libx265-*")):
        pytest.skip("this PyAV wheel does not ship libx265")
    for name in ("av", "av.libs"):
        shutil.copytree(site / name, tmp_path / name, symlinks=True)
    slim = _slim()
    saved, warnings = slim.replace_encoders(tmp_path)
    assert warnings == [] and saved > 20 * 2**20
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import av, numpy as np
        assert av.__file__.startswith({str(tmp_path)!r})
        with av.open({str(tmp_path / "t.m4a")!r}, "w") as out:
            s = out.add_stream("aac", rate=48000)
            f = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="flt",
                                           layout="mono")
            f.sample_rate = 48000
            for p in [*s.encode(f), *s.encode(None)]:
                out.mux(p)
        with av.open({str(tmp_path / "t.m4a")!r}) as c:
            assert sum(fr.samples for fr in c.decode(audio=0)) >= 48000
        for name in ("libx265", "libsvtav1"):
            try:
                with av.open({str(tmp_path / "v.mkv")!r}, "w") as out:
                    s = out.add_stream(name, rate=25)
                    s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
                    for p in s.encode(av.VideoFrame(64, 64, "yuv420p")):
                        out.mux(p)
            except av.error.FFmpegError:
                continue
            raise SystemExit(name + " encoded with a stand-in")
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
