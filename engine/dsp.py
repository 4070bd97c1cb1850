"""Signal-processing building blocks, in numpy/scipy only.

These reproduce librosa's definitions (Slaney mel filterbank, chroma filterbank,
centred STFT, onset strength, autocorrelation tempogram) without importing librosa
at run time; ``tests/engine/test_dsp_parity.py`` holds them to librosa's output.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

#: Power floor of the log-mel spectrogram (-100 dB), as librosa's ``amin``.
AMIN = 1e-10
LOG_FLOOR_DB = float(10.0 * np.log10(AMIN))


# -- frequency scales --------------------------------------------------------------

def hz_to_mel(freqs: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    freqs = np.asarray(freqs, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freqs / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = freqs >= min_log_hz
    safe = np.where(log_t, freqs, min_log_hz)
    return np.where(log_t, min_log_mel + np.log(safe / min_log_hz) / logstep, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    return np.where(log_t, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


# -- filterbanks ---------------------------------------------------------------------

@lru_cache(maxsize=16)
def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
    """
    fftfreqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights.flags.writeable = False
    return weights.astype(np.float32)


@lru_cache(maxsize=16)
def chroma_filterbank(*, sr: int, n_fft: int, n_chroma: int) -> np.ndarray:
    """Gaussian chroma filters in log-frequency, octave-weighted around C5 (as librosa).

    Returns
    -------
    weights : np.ndarray [shape=(n_chroma, 1 + n_fft // 2), dtype=float32]
        Row 0 is C; rows step by 12 / n_chroma semitones. Tuning is A440.
    """
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (440.0 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidth = np.concatenate((np.maximum(np.diff(frqbins), 1.0), [1.0]))
    dist = frqbins[None, :] - np.arange(n_chroma, dtype=np.float64)[:, None]
    half = np.round(n_chroma / 2.0)
    dist = np.remainder(dist + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * dist / binwidth[None, :]) ** 2)
    wts /= np.maximum(np.linalg.norm(wts, axis=0, keepdims=True), np.finfo(float).tiny)
    wts *= np.exp(-0.5 * ((frqbins / n_chroma - 5.0) / 2.0) ** 2)[None, :]
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts[:, : 1 + n_fft // 2], dtype=np.float32)


#: Octaves of the pitch spectrogram (C1 .. B10 with everything below C1 in octave 0).
PITCH_OCTAVES = 10
_C1_HZ = 440.0 * 2 ** (-45 / 12)


@lru_cache(maxsize=16)
def pitch_filterbank(*, sr: int, n_fft: int, n_chroma: int) -> np.ndarray:
    """The chroma filters split by the octave of each FFT bin.

    Row ``o * n_chroma + c`` holds chroma bin ``c``'s weights on the bins of octave
    ``o``, so the rows are ordered by pitch and summing over octaves gives back
    :func:`chroma_filterbank` exactly. Harmonic/percussive masks are computed on this
    compact log-frequency spectrogram.

    Returns
    -------
    weights : np.ndarray [shape=(PITCH_OCTAVES * n_chroma, 1 + n_fft // 2), dtype=float32]
    """
    chroma = chroma_filterbank(sr=sr, n_fft=n_fft, n_chroma=n_chroma)
    freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    octave = np.floor(np.log2(np.maximum(freqs, 1e-3) / _C1_HZ)).astype(int)
    octave = np.clip(octave, 0, PITCH_OCTAVES - 1)
    weights = np.zeros((PITCH_OCTAVES, n_chroma, freqs.size), dtype=np.float32)
    for o in range(PITCH_OCTAVES):
        cols = octave == o
        weights[o][:, cols] = chroma[:, cols]
    return weights.reshape(PITCH_OCTAVES * n_chroma, freqs.size)


@lru_cache(maxsize=16)
def stacked_filters(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float,
                    n_chroma: int) -> scipy.sparse.csr_matrix:
    """Mel and pitch filters stacked into one sparse matrix (negligible weights dropped).

    Rows ``[:n_mels]`` are mel, the rest :func:`pitch_filterbank`; one sparse product
    applies both to a power spectrogram.
    """
    mel = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    pitch = pitch_filterbank(sr=sr, n_fft=n_fft, n_chroma=n_chroma).copy()
    pitch[pitch < 1e-6 * pitch.max()] = 0.0
    return scipy.sparse.csr_matrix(np.vstack([mel, pitch]))


def fold_octaves(pitch: np.ndarray, n_chroma: int) -> np.ndarray:
    """Sum a pitch spectrogram over octaves: ``(octaves * n_chroma, t)`` to ``(n_chroma, t)``."""
    return np.asarray(pitch.reshape(-1, n_chroma, pitch.shape[-1]).sum(axis=0))


def normalize_max(x: np.ndarray) -> np.ndarray:
    """Divide each column by its largest magnitude; all-zero columns stay zero."""
    peak = np.abs(x).max(axis=0, keepdims=True)
    return (x / np.where(peak < np.finfo(np.float32).tiny, 1.0, peak)).astype(np.float32)


# -- spectrogram ---------------------------------------------------------------------

@lru_cache(maxsize=8)
def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window, as ``scipy.signal.get_window('hann', n)`` (FFT-ready)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT of ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def filtered_power_frames(y: np.ndarray, *, n_fft: int, hop_length: int,
                          filters: scipy.sparse.csr_matrix,
                          block: int = 128) -> np.ndarray:
    """Centred, zero-padded STFT power spectrogram projected through ``filters``.

    The STFT is computed ``block`` frames at a time into reused buffers, so memory stays
    bounded for long tracks and each block's spectra stay in the CPU cache (128 frames:
    a third less time than 1,024 on a 2-minute track).

    Returns
    -------
    out : np.ndarray [shape=(filters.shape[0], n_frames), dtype=float32]
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    total = n_frames(y.size, hop_length)
    padded = np.pad(y, (n_fft // 2, n_fft // 2 + hop_length))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:total]
    window = hann_window(n_fft)
    out = np.empty((filters.shape[0], total), dtype=np.float32)
    chunk = np.empty((min(block, total), n_fft), np.float32)
    power = np.empty((chunk.shape[0], n_fft // 2 + 1), np.float32)
    imag = np.empty_like(power)
    for start in range(0, total, block):
        m = min(block, total - start)
        np.multiply(frames[start : start + m], window, out=chunk[:m])
        spec = scipy.fft.rfft(chunk[:m], axis=1, workers=1, overwrite_x=True)
        np.square(spec.real, out=power[:m])
        power[:m] += np.square(spec.imag, out=imag[:m])
        # bins x frames, contiguous: the sparse product is 3x slower on a transposed view
        out[:, start : start + m] = filters @ np.ascontiguousarray(power[:m].T)
    return out


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10 * log10(max(power, 1e-10))`` in float32 (librosa's ``ref=1, top_db=None``)."""
    return np.asarray(10.0 * np.log10(np.maximum(power, AMIN)), dtype=np.float32)


# -- harmonic / percussive separation ------------------------------------------------

def median_filter(x: np.ndarray, *, size: int, axis: int) -> np.ndarray:
    """Running median of odd length ``size`` along ``axis`` of a 2-D array.

    Edges are mirrored as in ``scipy.ndimage.median_filter(mode='reflect')``. Sorting
    short windows in chunks is several times faster than ``ndimage`` here.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError("median size must be a positive odd number")
    x = np.asarray(x, dtype=np.float32)
    half = size // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(x, pad, mode="symmetric"), size, axis=axis)
    out = np.empty_like(x)
    rows = max(1, (1 << 21) // max(1, x.shape[1] * size))
    for start in range(0, x.shape[0], rows):
        out[start : start + rows] = np.sort(windows[start : start + rows], axis=-1)[..., half]
    return out


def hpss_masks(spec: np.ndarray, *, kernel: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """Soft Wiener masks separating harmonic (steady in time) and percussive energy.

    Median filters along time (harmonic) and along frequency (percussive), as
    Fitzgerald (2010) and librosa's ``hpss``; run on a compact spectrogram (mel or
    pitch bands) rather than the linear STFT, which is what keeps it cheap.

    Parameters
    ----------
    spec : np.ndarray [shape=(n_bands, n_frames)], non-negative power

    Returns
    -------
    harmonic, percussive : np.ndarray [shape=spec.shape], values in [0, 1], summing to 1
    """
    harm = median_filter(spec, size=kernel, axis=1).astype(np.float64) ** 2
    perc = median_filter(spec, size=kernel, axis=0).astype(np.float64) ** 2
    total = harm + perc
    tiny = total < np.finfo(np.float32).tiny
    mask_h = np.where(tiny, 0.5, harm / np.where(tiny, 1.0, total))
    return mask_h.astype(np.float32), (1.0 - mask_h).astype(np.float32)


# -- rhythm --------------------------------------------------------------------------

def onset_strength(log_mel: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Spectral-flux onset envelope of a log-mel spectrogram (librosa's definition).

    Returns
    -------
    onset : np.ndarray [shape=(n_frames,), dtype=float32]
    """
    flux = np.maximum(0.0, log_mel[:, 1:] - log_mel[:, :-1]).mean(axis=0)
    pad = 1 + n_fft // (2 * hop_length)
    onset = np.concatenate([np.zeros(pad, np.float32), flux.astype(np.float32)])
    return onset[: log_mel.shape[1]]


def tempogram(onset: np.ndarray, *, win_length: int, stride: int = 1,
              block: int = 256) -> np.ndarray:
    """Local autocorrelation of the onset envelope, max-normalised per frame.

    Centred Hann windows of ``win_length`` frames (ends ramped to zero), as
    librosa's ``tempogram``. With ``stride > 1`` the autocorrelation is computed at
    the centre of every run of ``stride`` frames and repeated over the run.

    Returns
    -------
    tgram : np.ndarray [shape=(win_length, n_frames), dtype=float32]
        Row ``k`` is lag ``k`` frames.
    """
    if stride < 1:
        raise ValueError("tempogram stride must be at least 1")
    n = onset.shape[0]
    half = win_length // 2
    padded = np.pad(onset.astype(np.float64), (half, half), mode="linear_ramp", end_values=0)
    centres = np.minimum(np.arange(0, n, stride) + stride // 2, max(n - 1, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[centres]
    window = hann_window(win_length).astype(np.float64)
    n_pad = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    cols = np.empty((win_length, centres.size), dtype=np.float32)
    for start in range(0, centres.size, block):
        chunk = frames[start : start + block] * window
        spec = scipy.fft.rfft(chunk, n=n_pad, axis=1)
        ac = scipy.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=1)[:, :win_length]
        peak = np.abs(ac).max(axis=1, keepdims=True)
        ac /= np.where(peak < np.finfo(np.float64).tiny, 1.0, peak)
        cols[:, start : start + chunk.shape[0]] = ac.T
    return cols if stride == 1 else np.repeat(cols, stride, axis=1)[:, :n]
