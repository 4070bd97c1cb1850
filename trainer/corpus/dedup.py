"""Find the same track twice: exact bytes, or the same audio in another encoding.

Audio fingerprints come from FFmpeg's ``chromaprint`` muxer (raw 32-bit sub-fingerprints,
about 8 a second, over the first two minutes). Two tracks are the same when, at the best
shift of a few seconds, their sub-fingerprints agree on at least :data:`SAME_BITS` of bits
(unrelated music agrees on about half).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from engine.filecheck import file_digest

FINGERPRINT_SECONDS = 120
MAX_SHIFT = 24          # sub-fingerprints (about 3 s)
MIN_OVERLAP = 40
SAME_BITS = 0.85


def fingerprint(path: Path, cache: Path | None = None) -> np.ndarray:
    """Raw chromaprint sub-fingerprints (uint32) of ``path``; empty when FFmpeg fails."""
    cached = cache / f"{file_digest(path, 'sha1')}.npy" if cache is not None else None
    if cached is not None and cached.is_file():
        prints: np.ndarray = np.load(cached)
        return prints
    res = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-t",
                          str(FINGERPRINT_SECONDS), "-ac", "1", "-f", "chromaprint",
                          "-fp_format", "raw", "-"], capture_output=True, check=False)
    raw = res.stdout[: len(res.stdout) // 4 * 4] if res.returncode == 0 else b""
    fp = np.frombuffer(raw, dtype="<u4").copy()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, fp)
    return fp


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def bit_agreement(a: np.ndarray, b: np.ndarray, max_shift: int = MAX_SHIFT) -> float:
    """Best share of equal bits between two fingerprints over shifts up to ``max_shift``."""
    best = 0.0
    for shift in range(-max_shift, max_shift + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(x), len(y))
        if n < MIN_OVERLAP:
            continue
        diff = np.bitwise_xor(x[:n], y[:n]).view(np.uint8)
        best = max(best, 1.0 - float(_POPCOUNT[diff].sum()) / (32.0 * n))
    return best


def same_audio(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two fingerprints are of the same recording."""
    return bit_agreement(a, b) >= SAME_BITS
