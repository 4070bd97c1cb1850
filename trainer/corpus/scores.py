"""Pieces from the allowed parts of the music21 corpus, reduced to plain note lists.

Only the collections named in ``shared/DATA.md`` are read (:data:`COLLECTIONS`); every
other composer in music21's corpus is reserved for independent evaluation. ABC files hold
many tunes each; they are split on their ``X:`` lines and each tune is parsed alone, which
is far faster than parsing a whole opus. A parsed piece is a :class:`Piece`: notes with
onsets and durations in quarter lengths, a nominal tempo and a bar length. Short folk tunes
are looped (``repeats``) so that every rendition lasts at least ~30 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from music21.stream import Stream  # untyped: Any to mypy

#: The music21 corpus parts DATA.md allows (everything else is reserved).
COLLECTIONS = (
    "essenFolksong", "nottingham-dataset", "corelli", "airdsAirs", "schoenberg", "weber",
    "webern", "chopin", "schubert", "beach", "miscFolk",
)
#: Test files and a variants file that repeat tunes found elsewhere in the collection.
EXCLUDED_FILES = frozenset({
    "essenFolksong/test0.abc", "essenFolksong/test1.abc", "essenFolksong/teste.abc",
    "essenFolksong/testd.abc", "essenFolksong/variant0.abc",
})
SCORE_EXTENSIONS = (".abc", ".xml", ".mxl", ".musicxml", ".krn")
PARSER_VERSION = 1
DEFAULT_BPM = 100.0
MIN_NOMINAL_SECONDS = 36.0   # >= 30 s even when played 15 % faster
TARGET_SECONDS = 42.0        # loop short tunes up to about this long
MAX_SECONDS = 240.0          # long pieces are cut here (same musical span for every rendition)
MAX_REPEATS = 8
MIN_NOTES = 12


@dataclass(frozen=True)
class PieceRef:
    """Where one piece lives: a file of a collection, and its tune index for ABC files."""

    collection: str
    file: str        # relative to the music21 corpus folder
    index: int       # tune number within an ABC file (0-based), 0 otherwise

    @property
    def piece_id(self) -> str:
        """Stable id, e.g. ``essenFolksong/han1/0005`` or ``schubert/Lindenbaum``."""
        stem = Path(self.file).stem
        if self.file.endswith(".abc"):
            return f"{self.collection}/{stem}/{self.index:04d}"
        return f"{self.collection}/{stem}"


@dataclass(frozen=True)
class Piece:
    """A score reduced to what rendering needs."""

    piece_id: str
    collection: str
    title: str
    bpm: float                 # nominal quarter-note tempo
    bar_ql: float              # bar length in quarter lengths
    length_ql: float           # length of one pass in quarter lengths
    repeats: int               # passes played back to back
    parts: int
    notes: tuple[tuple[float, float, int, int, int], ...]  # (onset_ql, dur_ql, midi, vel, part)

    @property
    def nominal_seconds(self) -> float:
        """Duration at the nominal tempo, repeats included."""
        return self.length_ql * self.repeats * 60.0 / self.bpm

    def to_json(self) -> dict:
        """JSON-ready dict (inverse of :meth:`from_json`)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Piece:
        """Rebuild a piece written by :meth:`to_json`."""
        notes = tuple(tuple(n) for n in data.pop("notes"))
        return cls(notes=notes, **data)


def corpus_root() -> Path:
    """The music21 corpus folder of the installed music21 package."""
    import music21

    return Path(music21.__file__).parent / "corpus"


def split_abc(text: str) -> list[str]:
    """Split ABC text into tunes (each starting with its ``X:`` line)."""
    chunks = re.split(r"(?m)^(?=X:)", text)
    return [c for c in chunks if c.startswith("X:")]


def list_pieces(root: Path, collections: tuple[str, ...] = COLLECTIONS) -> list[PieceRef]:
    """Every piece of the allowed collections, in a stable order."""
    refs: list[PieceRef] = []
    for coll in collections:
        folder = root / coll
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in SCORE_EXTENSIONS or rel in EXCLUDED_FILES:
                continue
            if path.suffix.lower() == ".abc":
                n = len(split_abc(path.read_text(encoding="utf-8", errors="replace")))
                refs.extend(PieceRef(coll, rel, i) for i in range(n))
            else:
                refs.append(PieceRef(coll, rel, 0))
    return refs


def parse_piece(ref: PieceRef, root: Path) -> Piece | None:
    """Parse one piece with music21; None when it is unusable (too short, no notes, error)."""
    import music21

    path = root / ref.file
    try:
        if ref.file.endswith(".abc"):
            tune = split_abc(path.read_text(encoding="utf-8", errors="replace"))[ref.index]
            score = music21.converter.parseData(tune, format="abc")
        else:
            score = music21.converter.parse(str(path))
    except Exception:  # music21 raises many exception types on odd input
        return None
    return piece_from_score(score, ref)


def piece_from_score(score: Stream, ref: PieceRef) -> Piece | None:
    """Reduce a music21 stream to a :class:`Piece` (None when unusable)."""
    import music21

    with contextlib.suppress(Exception):  # unexpandable repeats: play the score as written
        score = score.expandRepeats()
    bpm, bar_ql = _tempo_and_bar(score, music21)
    notes = _extract_notes(score)
    if len(notes) < MIN_NOTES:
        return None
    length_ql = max(on + dur for on, dur, *_ in notes)
    max_ql = MAX_SECONDS * bpm / 60.0
    if length_ql > max_ql:
        notes = [n for n in notes if n[0] < max_ql]
        notes = [(on, min(dur, max_ql - on), p, v, part) for on, dur, p, v, part in notes]
        length_ql = max_ql
    one_pass = length_ql * 60.0 / bpm
    repeats = max(1, min(MAX_REPEATS, math.ceil(TARGET_SECONDS / max(one_pass, 1e-6))))
    if one_pass * repeats < MIN_NOMINAL_SECONDS:
        return None
    title = str(getattr(score.metadata, "title", "") or "") if score.metadata else ""
    parts = 1 + max(n[4] for n in notes)
    return Piece(ref.piece_id, ref.collection, title, round(bpm, 3), round(bar_ql, 4),
                 round(length_ql, 4), repeats, parts, tuple(notes))


def _tempo_and_bar(score: Stream, music21: ModuleType) -> tuple[float, float]:
    flat = score.flatten()
    bpm = DEFAULT_BPM
    for mark in flat.getElementsByClass(music21.tempo.MetronomeMark):
        try:
            value = float(mark.getQuarterBPM())
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value > 0:
            bpm = value
            break
    bpm = min(max(bpm, 50.0), 180.0)
    bar_ql = 4.0
    for ts in flat.getElementsByClass(music21.meter.TimeSignature):
        bar_ql = float(ts.barDuration.quarterLength) or 4.0
        break
    return bpm, bar_ql


def _extract_notes(score: Stream) -> list[tuple[float, float, int, int, int]]:
    parts = list(getattr(score, "parts", [])) or [score]
    notes: list[tuple[float, float, int, int, int]] = []
    for index, part in enumerate(parts):
        flat = part.flatten()
        with contextlib.suppress(Exception):  # badly tied scores: keep notes as they are
            flat = flat.stripTies()
        for el in flat.notes:
            dur = float(el.quarterLength)
            if dur <= 0 or el.duration.isGrace:
                continue
            vel = el.volume.velocity if el.volume.velocity is not None else 84
            for p in el.pitches:
                notes.append((round(float(el.offset), 4), round(dur, 4), int(p.midi),
                              int(vel), index))
    notes.sort()
    return notes


def melody_signature(piece: Piece) -> str:
    """Hash of the first part's pitch-interval and rhythm sequence (finds duplicate tunes)."""
    first = [(p, d) for _, d, p, _, part in piece.notes if part == 0]
    seq = [(b[0] - a[0], round(a[1], 3)) for a, b in itertools.pairwise(first)]
    return hashlib.sha1(json.dumps(seq).encode()).hexdigest()


def cached_piece(ref: PieceRef, root: Path, cache: Path) -> Piece | None:
    """:func:`parse_piece` with a JSON cache under ``cache/pieces``."""
    key = hashlib.sha1(f"{PARSER_VERSION}:{ref.file}:{ref.index}".encode()).hexdigest()[:16]
    path = cache / "pieces" / f"{key}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return None if data.get("failed") else Piece.from_json(data["piece"])
    piece = parse_piece(ref, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"failed": True} if piece is None else {"piece": piece.to_json()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)
    return piece
