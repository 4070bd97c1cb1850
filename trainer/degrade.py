"""Degrade audio like a phone recording of a speaker: room, band-limit, noise, MP3.

Deterministic for a given seed. :func:`phone_recording` (fixed settings) builds the
quality benchmark's hard queries; :func:`random_phone_recording` (settings drawn
around them) builds the degraded copies the trainer learns from. numpy, scipy and
PyAV only: no torch, so the benchmarks can use it without the train extra.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.signal


def room_reverb(y: np.ndarray, sr: int, *, rt60: float = 0.4, wet: float = 0.35,
                seed: int = 0) -> np.ndarray:
    """Convolve with a synthetic exponentially decaying noise impulse response."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * sr)
    decay = np.exp(-6.9 * np.arange(n) / max(n, 1))  # -60 dB at rt60
    ir = rng.standard_normal(n) * decay
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    tail = scipy.signal.fftconvolve(y, ir)[: y.size]
    return np.asarray((1 - wet) * y + wet * tail, dtype=np.float32)


def band_limit(y: np.ndarray, sr: int, *, low: float = 150.0, high: float = 5000.0
               ) -> np.ndarray:
    """4th-order Butterworth band-pass, like a phone microphone and speaker."""
    sos = scipy.signal.butter(4, [low, min(high, sr / 2 * 0.95)], btype="bandpass", fs=sr,
                              output="sos")
    return np.asarray(scipy.signal.sosfilt(sos, y), dtype=np.float32)


def add_noise(y: np.ndarray, *, snr_db: float = 15.0, seed: int = 0) -> np.ndarray:
    """Add white noise at ``snr_db`` relative to the signal's power."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(y**2)) + 1e-12
    noise = rng.standard_normal(y.size) * np.sqrt(power / 10 ** (snr_db / 10))
    noisy: np.ndarray = (y + noise).astype(np.float32)
    return noisy


def mp3_round_trip(y: np.ndarray, sr: int, *, bitrate: int = 64_000) -> np.ndarray:
    """Encode to MP3 at ``bitrate`` with LAME (PyAV) and decode back to ``sr``."""
    import av

    from engine.audio import resample

    rate = 44100 if sr not in (32000, 44100, 48000) else sr
    x = resample(y, orig_sr=sr, target_sr=rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        for start in range(0, x.size, 1152):
            frame = av.AudioFrame.from_ndarray(x[None, start : start + 1152].astype(np.float32),
                                               format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r", format="mp3") as inp:
        for frame in inp.decode(audio=0):
            chunks.append(frame.to_ndarray().reshape(-1))
    decoded = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return resample(decoded, orig_sr=rate, target_sr=sr)[: y.size]


def phone_recording(y: np.ndarray, sr: int, *, seed: int = 0) -> np.ndarray:
    """The quality benchmark's 'degraded' query: reverb, 150-5000 Hz, 15 dB SNR, 64 kbps."""
    z = room_reverb(y, sr, seed=seed)
    z = band_limit(z, sr)
    z = add_noise(z, snr_db=15.0, seed=seed + 1)
    z = mp3_round_trip(z, sr, bitrate=64_000)
    peak = float(np.abs(z).max()) if z.size else 0.0
    return (z / peak * 0.9).astype(np.float32) if peak > 0 else z


def random_phone_recording(y: np.ndarray, sr: int, *, seed: int) -> np.ndarray:
    """A degraded copy with its settings drawn around :func:`phone_recording`'s.

    Room RT60 0.15-0.9 s and 15-55 % wet, a 80-300 Hz to 3.5-9 kHz band, noise at
    8-30 dB SNR, then (70 % of copies) an MP3 round trip at 48-128 kbps, and a gain.
    """
    rng = np.random.default_rng(seed)
    z = room_reverb(y, sr, rt60=float(rng.uniform(0.15, 0.9)), wet=float(rng.uniform(0.15, 0.55)),
                    seed=int(rng.integers(1 << 31)))
    z = band_limit(z, sr, low=float(rng.uniform(80.0, 300.0)),
                   high=float(rng.uniform(3500.0, 9000.0)))
    z = add_noise(z, snr_db=float(rng.uniform(8.0, 30.0)), seed=int(rng.integers(1 << 31)))
    if rng.random() < 0.7:
        z = mp3_round_trip(z, sr, bitrate=int(rng.choice([48_000, 64_000, 96_000, 128_000])))
    peak = float(np.abs(z).max()) if z.size else 0.0
    gain = float(rng.uniform(0.3, 0.95))
    return (z / peak * gain).astype(np.float32) if peak > 0 else z
