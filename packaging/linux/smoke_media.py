"""Write the smoke check's extra files from the built app's selftest music folder.

    python packaging/linux/smoke_media.py MUSIC_FOLDER OUT_FOLDER

``copy0.m4a`` (AAC: the built app decodes it with PyAV's FFmpeg) and ``trim1.ogg`` (track 1
without its first 3 s) are duplicates the built app's ``duplicates`` must find; with the
selftest's tracks and excerpts they make a library big enough for the map's t-SNE.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import soundfile as sf


def write_aac(path: Path, audio: np.ndarray, rate: int) -> None:
    """Encode mono float ``audio`` to an AAC ``.m4a`` file."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def main(music: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    audio, rate = sf.read(music / "track0.flac", dtype="float32", always_2d=True)
    write_aac(out / "copy0.m4a", audio.mean(axis=1), rate)
    audio, rate = sf.read(music / "track1.flac", dtype="float32")
    sf.write(out / "trim1.ogg", audio[3 * rate:], rate)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
