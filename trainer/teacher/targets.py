"""Teacher targets for distillation: MusiCNN outputs per 3 s patch of each training track,
computed once (:func:`compute_targets`) into one ``.npz``, read by the trainer
(:class:`TeacherTargets`).

The file holds, for ``N`` tracks and ``M`` patches in all: ``songs`` and ``paths`` ``(N,)``
(the corpus manifest's song id and path), ``offsets`` ``(N + 1,)`` (track ``i`` owns
rows ``offsets[i]:offsets[i + 1]``), ``starts`` ``(M,)`` (patch start in seconds),
``embedding`` ``(M, 200)`` and ``tags`` ``(M, 50)`` (float16), ``patch_seconds`` and
``model``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.cache import variant_parent
from trainer.data import Track
from trainer.errors import TrainerError
from trainer.teacher.musicnn_net import (
    HOP,
    PATCH_FRAMES,
    SR,
    MusiCNN,
    log_mel,
    patch_starts,
    patches,
    run_patches,
)

PATCH_SECONDS = PATCH_FRAMES * HOP / SR
OUTPUTS = ("embedding", "tags")


def compute_targets(tracks: Sequence[Track], net: MusiCNN, *, model: str,
                    max_patches: int | None, paths: Sequence[str] | None = None,
                    log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Teacher outputs of every track (patches every 3 s, or ``max_patches`` evenly
    spread); ``paths`` are what the file records as each track's path (default: its own)."""
    from engine.audio import load_audio

    rows: dict[str, list[np.ndarray]] = {k: [] for k in (*OUTPUTS, "starts")}
    offsets = [0]
    for i, track in enumerate(tracks):
        mel = log_mel(load_audio(track.path, sr=SR))
        starts = patch_starts(len(mel), max_patches=max_patches)
        out = run_patches(net, patches(mel, starts))
        rows["embedding"].append(out.embedding.astype(np.float16))
        rows["tags"].append(out.tags.astype(np.float16))
        rows["starts"].append((starts * HOP / SR).astype(np.float32))
        offsets.append(offsets[-1] + len(starts))
        if (i + 1) % 25 == 0 or i + 1 == len(tracks):
            log(f"[teacher] {i + 1}/{len(tracks)} tracks, {offsets[-1]} patches")
    return {"songs": np.array([t.song for t in tracks]),
            "paths": np.array(list(paths) if paths is not None else [t.path for t in tracks]),
            "offsets": np.array(offsets, dtype=np.int64),
            **{k: np.concatenate(v) for k, v in rows.items()},
            "patch_seconds": np.array(PATCH_SECONDS, np.float32), "model": np.array(model)}


@dataclass
class TeacherTargets:
    """Teacher rows by song, centred on their mean over the file (so that cosine
    similarities between them say how the teacher tells tracks apart)."""

    rows: dict[str, tuple[np.ndarray, np.ndarray]]  # song -> (patch centres s, (n, D))
    dim: int

    @classmethod
    def load(cls, path: str | Path, output: str = "embedding") -> TeacherTargets:
        """Read a :func:`compute_targets` file; ``output``: ``embedding`` or ``tags``."""
        if output not in OUTPUTS:
            raise TrainerError(f"teacher output must be one of {OUTPUTS}, not {output!r}")
        try:
            with np.load(path) as npz:
                values = npz[output].astype(np.float32)
                songs, offsets = npz["songs"], npz["offsets"]
                centres = npz["starts"] + float(npz["patch_seconds"]) / 2
        except (OSError, KeyError, ValueError) as exc:
            raise TrainerError(f"cannot read teacher targets {path}: {exc}") from exc
        values -= values.mean(axis=0)
        rows = {str(s): (centres[a:b], values[a:b])
                for s, a, b in zip(songs, offsets[:-1], offsets[1:], strict=True) if b > a}
        return cls(rows, values.shape[1])

    def lookup(self, songs: Sequence[str], centres: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Each view's target (the song's patch nearest the view's centre, in seconds; a
        degraded copy takes its original's) ``(B, D)`` and whether it has one ``(B,)``."""
        out = np.zeros((len(songs), self.dim), np.float32)
        found = np.zeros(len(songs), bool)
        for i, (song, centre) in enumerate(zip(songs, centres, strict=True)):
            hit = self.rows.get(variant_parent(song) or song)
            if hit is not None:
                out[i] = hit[1][np.abs(hit[0] - centre).argmin()]
                found[i] = True
        return out, found
