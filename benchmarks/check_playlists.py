"""Check that exported playlists open in real players: mpv and VLC (Debian packages).

Writes a few generated tracks with non-ASCII names into nested folders, exports them
as M3U8 (relative and absolute paths) and XSPF with :mod:`engine.playlist_files`, and asks
``mpv`` (M3U8; it has no XSPF reader) and VLC (both) to play each playlist with no
audio output. Passes when each player opens exactly the exported files, in order.
Needs ``apt-get install mpv vlc-bin vlc-plugin-base`` (VLC refuses to run as root, so
it is run as ``nobody`` then).

Run: ``python -m benchmarks.check_playlists``
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from engine.playlist_files import PlaylistEntry, write_m3u8, write_xspf
from tests.audio_factory import song, write_audio


def played(player: str, playlist: Path) -> list[Path]:
    """Files mpv reports playing for ``playlist``."""
    proc = subprocess.run(
        [player, "--no-config", "--ao=null", "--vo=null", "--no-video", "--length=0.2",
         "--msg-level=all=info", f"--playlist={playlist}"],
        capture_output=True, text=True, timeout=120, encoding="utf-8", errors="replace")
    return [Path(m) for m in re.findall(r"^Playing: (.+)$", proc.stdout + proc.stderr, re.M)]


def opened_by_vlc(player: str, playlist: Path) -> list[Path]:
    """Files VLC opens for ``playlist`` (its own debug log)."""
    prefix = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    proc = subprocess.run(
        [*prefix, player, "--intf", "dummy", "--aout", "dummy", "--vout", "dummy",
         "--play-and-exit", "--run-time", "1", "-vv", str(playlist)],
        capture_output=True, text=True, timeout=120, encoding="utf-8", errors="replace")
    uris = re.findall(r"`(file://[^']+)' successfully opened", proc.stdout + proc.stderr)
    paths = [Path(unquote(urlparse(u).path)) for u in uris]
    return [p for p in paths if p != playlist]


def main() -> int:
    """Export, open in the players, compare; exit status 0 when all agree."""
    players = {"mpv": shutil.which("mpv"), "vlc": shutil.which("cvlc")}
    if not all(players.values()):
        print("needs mpv and VLC: apt-get install mpv vlc-bin vlc-plugin-base")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # VLC runs as nobody when we are root
        names = ["Ünïcødé/曲 one.flac", "plain/two & three.ogg", "deep/er/#4, hash.mp3"]
        entries = []
        for i, name in enumerate(names):
            path = root / "music" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_audio(path, song(i, 2.0, sr=22050), sr=22050)
            entries.append(PlaylistEntry(path, f"Track {i}", "Artist", 2.0))
        (root / "lists").mkdir()
        outputs = {
            "m3u8 relative": write_m3u8(root / "lists" / "rel.m3u8", entries, relative=True),
            "m3u8 absolute": write_m3u8(root / "lists" / "abs.m3u8", entries, relative=False),
            "xspf": write_xspf(root / "lists" / "mix.xspf", entries, title="Mix"),
        }
        failures = 0
        want = [e.path.resolve() for e in entries]
        for label, playlist in outputs.items():
            runs = {"vlc": opened_by_vlc(players["vlc"], playlist)}
            if playlist.suffix == ".m3u8":
                runs["mpv"] = [p if p.is_absolute() else playlist.parent / p
                               for p in played(players["mpv"], playlist)]
            for name, got in runs.items():
                ok = [p.resolve() for p in got] == want
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {label}: {name} opened {len(got)} of "
                      f"{len(entries)} files, in order: {ok}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
