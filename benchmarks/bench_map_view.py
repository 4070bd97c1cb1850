"""The app's library map view with many points: first show, pan/zoom frame time, hover, lasso.

The map panel (``resonance_app/views/map_view.py``, a pyqtgraph scatter) is shown at
1200x800 with ``--points`` dots in 40 clusters, coloured by mix. Each pan frame is a real
left-button drag move sent to the plot plus the synchronous repaint it causes; each
zoom frame a real wheel step plus its repaint. Also timed: importing pyqtgraph, the
first ``set_map`` and paint, recolouring by a tag, the hover lookup under the mouse,
and a lasso selection. First of all, the GUI thread's worst stall while the app's
discovery thread lays out a first map of 20,000 tracks with the engine's real code.

Usage::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_map_view.py

Figures go to stdout and ``benchmarks/out/bench_map_view.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.index import normalise  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def fake_map(n: int, clusters: int = 40, seed: int = 0):
    """MapData and TrackInfos for ``n`` tracks in ``clusters`` blobs."""
    from engine.library import TrackInfo
    from resonance_app.discovery import MapData, MixInfo

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1, 1, size=(clusters, 2))
    mix = rng.integers(0, clusters, n)
    xy = centres[mix] + rng.normal(scale=0.06, size=(n, 2))
    ids = np.arange(1, n + 1, dtype=np.int64)
    mixes = [MixInfo(f"Mix {c}", ids[mix == c].tolist()) for c in range(clusters)]
    tracks = {int(i): TrackInfo(id=int(i), path=Path(f"/music/{i}.flac"), title=f"Song {i}",
                                artist=f"Artist {i % 300}", album=f"Album {i % 900}",
                                album_artist=None, track_no=1, year=2000, genre=f"G{i % 25}",
                                duration=200.0, format="flac", has_cover=False, status="ok",
                                error=None) for i in ids}
    return MapData(ids, xy, mix.astype(np.int64), mixes), tracks


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median_ms": round(1000 * statistics.median(values), 2),
            "p95_ms": round(1000 * values[int(0.95 * (len(values) - 1))], 2),
            "max_ms": round(1000 * values[-1], 2)}


def run(points: int, frames: int) -> dict:
    """Time the map view with ``points`` dots; ``frames`` pan and zoom steps each."""
    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent, QWheelEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    started = time.perf_counter()
    import pyqtgraph  # noqa: F401

    from resonance_app.views.map_view import MapPanel, inside
    imported = time.perf_counter() - started
    data, tracks = fake_map(points)
    panel = MapPanel()
    panel.resize(1200, 800)
    panel.show()
    app.processEvents()
    viewport = panel.plot.viewport()
    started = time.perf_counter()
    panel.set_map(data, tracks)
    viewport.repaint()
    first = time.perf_counter() - started
    started = time.perf_counter()
    panel.colour_by.setCurrentText("Artist")
    viewport.repaint()
    recolour = time.perf_counter() - started
    panel.colour_by.setCurrentText("Mix")
    viewport.repaint()

    def mouse(kind: QEvent.Type, pos: QPoint, button: Qt.MouseButton,
              buttons: Qt.MouseButton) -> None:
        QApplication.sendEvent(viewport, QMouseEvent(
            kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, buttons,
            Qt.KeyboardModifier.NoModifier))

    centre = viewport.rect().center()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    pan = []
    mouse(QEvent.Type.MouseButtonPress, centre, left, left)
    for i in range(1, frames + 1):
        time.sleep(0.02)  # pyqtgraph drops moves closer than a screen refresh
        pos = centre + QPoint(int(150 * np.sin(i / 7)), int(100 * np.cos(i / 5)) - 100)
        t = time.perf_counter()
        mouse(QEvent.Type.MouseMove, pos, none, left)
        viewport.repaint()
        pan.append(time.perf_counter() - t)
    mouse(QEvent.Type.MouseButtonRelease, pos, left, none)
    before = panel.box.viewRange()
    zoom = []
    for i in range(frames):
        delta = 120 if (i // 10) % 2 == 0 else -120
        t = time.perf_counter()
        QApplication.sendEvent(viewport, QWheelEvent(
            QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0),
            QPoint(0, delta), none, Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase, False))
        viewport.repaint()
        zoom.append(time.perf_counter() - t)
    panel.box.autoRange(padding=0.02)
    viewport.repaint()
    hover = []
    for row in range(0, points, max(1, points // 50)):
        p = panel.box.mapViewToScene(QPointF(*data.xy[row]))
        t = time.perf_counter()
        panel.scatter.pointsAt(panel.scatter.mapFromScene(p))
        hover.append(time.perf_counter() - t)
    angles = np.linspace(0, 2 * np.pi, 200)
    loop = np.c_[0.5 * np.cos(angles), 0.5 * np.sin(angles)]
    t = time.perf_counter()
    chosen = int(inside(data.xy, loop).sum())
    lasso = time.perf_counter() - t
    panel.close()
    return {"points": points, "import_pyqtgraph_s": round(imported, 3),
            "first_show_s": round(first, 3), "recolour_by_tag_s": round(recolour, 3),
            "pan_frame": _ms(pan), "zoom_frame": _ms(zoom), "hover_lookup": _ms(hover),
            "lasso_200_vertices_ms": round(1000 * lasso, 1), "lasso_selected": chosen,
            "view_moved": bool(before != panel.box.viewRange())}


class SyntheticLibrary:
    """What the app's map job asks of a library, on ``n`` clustered 512-d unit vectors:
    the engine's real layout (openTSNE) and mixes (FAISS k-means), no database."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(60, 512))
        x = centres[rng.integers(0, 60, n)] + 0.5 * rng.normal(size=(n, 512))
        self.ids = np.arange(1, n + 1, dtype=np.int64)
        self.vectors = normalise(x)

    def library_map(self, *, rebuild: bool = False):
        from engine.discovery import MapUpdate, build_layout

        layout = build_layout(self.ids, self.vectors)
        return MapUpdate(layout, rebuilt=True, added=len(self.ids), removed=0)

    def mixes(self, count: int | None = None):
        from engine.discovery import make_mixes

        return make_mixes(self.ids, self.vectors, {}, count=count)


def stall_during_first_map(n: int) -> dict:
    """The GUI thread's worst stall while the app lays out a first map of ``n`` tracks
    (openTSNE and scikit-learn imported, t-SNE, placement, k-means) on its discovery
    thread; a 5 ms timer measures the gaps."""
    from PySide6.QtWidgets import QApplication

    from benchmarks.bench_gui import StallProbe
    from resonance_app.discovery import Discovery
    from resonance_app.workers import Pools

    app = QApplication.instance() or QApplication([])
    pools = Pools()
    discovery = Discovery(SyntheticLibrary(n), pools)  # type: ignore[arg-type]
    ready: list[object] = []
    discovery.mapReady.connect(ready.append)
    discovery.failed.connect(ready.append)
    probe = StallProbe()
    probe.start()
    started = time.perf_counter()
    discovery.load_map()
    while not ready:
        app.processEvents()
        time.sleep(0.001)
    took = time.perf_counter() - started
    probe.stop()
    pools.shutdown()
    return {"tracks": n, "first_map_s": round(took, 1), **probe.summary()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--stall-tracks", type=int, default=20_000,
                        help="tracks of the first-map GUI stall check (0: skip it)")
    args = parser.parse_args(argv)
    results: list[dict] = []
    if args.stall_tracks:  # first, so the imports of openTSNE and scikit-learn count
        results.append(stall_during_first_map(args.stall_tracks))
    results += [run(n, args.frames) for n in args.points]
    for r in results:
        print(json.dumps(r))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_map_view.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
