"""The search knobs: PRF, diversity, modality balance, top-K and exclusions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from engine.model import BRANCH_NAMES
from resonance_app.settings import Settings

if TYPE_CHECKING:
    from engine.library import SearchParams

MODALITIES = BRANCH_NAMES
MODALITY_COLORS = {"timbre": "#4c8ee8", "harmony": "#43b77a", "rhythm": "#e8963c"}
FEEDBACK_TIP = ("Feedback: also look for songs like the best N results, not only like the "
                "seed (0 = off).\nTechnically: pseudo-relevance feedback (PRF), the top N "
                "results are blended into the query and the search runs again.")
VARIETY_TIP = ("Variety: 0 lists the closest songs, higher values mix in songs that differ "
               "from those already listed.\nTechnically: diversity re-ranking with maximal "
               "marginal relevance (MMR), the value is its diversity weight (1 - lambda).")


def _slider(maximum: int, value: int, tip: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    s.setValue(value)
    s.setToolTip(tip)
    s.setPageStep(max(1, maximum // 10))
    return s


class SearchControls(QWidget):
    """Emits ``paramsChanged(SearchParams)`` whenever a control moves."""

    paramsChanged = Signal(object)

    def __init__(self, params_type: type[SearchParams], settings: Settings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._params_type = params_type
        self._settings = settings
        self.prf = _slider(10, int(settings.prf), FEEDBACK_TIP)
        self.diversity = _slider(100, int(round(float(settings.diversity) * 100)), VARIETY_TIP)
        weights = list(settings.weights) + [1.0] * 3
        self.weights = {m: _slider(100, int(round(float(w) * 50)),
                                   f"How much {m} counts in the similarity")
                        for m, w in zip(MODALITIES, weights[:3], strict=True)}
        self.top_k = QSpinBox()
        self.top_k.setRange(5, 500)
        self.top_k.setSingleStep(5)
        self.top_k.setValue(int(settings.top_k))
        self.top_k.setToolTip("How many songs to list")
        self.top_k.setSuffix(" songs")
        self.same_album = QCheckBox("album")
        self.same_album.setChecked(bool(settings.exclude_same_album))
        self.same_artist = QCheckBox("artist")
        self.same_artist.setChecked(bool(settings.exclude_same_artist))
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Put every control back to its default")
        self.reset.clicked.connect(self.reset_defaults)
        self._labels: dict[str, QLabel] = {}
        self._build()
        for w in (self.prf, self.diversity, *self.weights.values()):
            w.valueChanged.connect(self._changed)
        self.top_k.valueChanged.connect(self._changed)
        self.same_album.toggled.connect(self._changed)
        self.same_artist.toggled.connect(self._changed)
        self._update_labels()

    def _row(self, key: str, widget: QWidget) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(widget, 1)
        label = QLabel()
        label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0.00 ") + 4)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._labels[key] = label
        lay.addWidget(label)
        return box

    def _build(self) -> None:
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for text, key, tip in (("Feedback", "prf", FEEDBACK_TIP),
                               ("Variety", "diversity", VARIETY_TIP)):
            label = QLabel(text)
            label.setToolTip(tip)
            form.addRow(label, self._row(key, getattr(self, key)))
        for m in MODALITIES:
            name = QLabel(f"<span style='color:{MODALITY_COLORS[m]}'>■</span> {m.title()}")
            name.setToolTip(self.weights[m].toolTip())
            form.addRow(name, self._row(m, self.weights[m]))
        bottom = QHBoxLayout()
        bottom.addWidget(self.top_k)
        bottom.addSpacing(12)
        bottom.addWidget(QLabel("Exclude same"))
        bottom.addWidget(self.same_album)
        bottom.addWidget(self.same_artist)
        bottom.addStretch(1)
        bottom.addWidget(self.reset)
        form.addRow("Show", bottom)

    def params(self) -> SearchParams:
        """The engine ``SearchParams`` for the current positions."""
        timbre, harmony, rhythm = (self.weights[m].value() / 50.0 for m in MODALITIES)
        weights = (timbre, harmony, rhythm)
        if sum(weights) == 0:
            weights = (1.0, 1.0, 1.0)  # all at zero means "no preference", not "nothing"
        return self._params_type(
            k=self.top_k.value(), prf=self.prf.value(), diversity=self.diversity.value() / 100,
            weights=weights, exclude_same_album=self.same_album.isChecked(),
            exclude_same_artist=self.same_artist.isChecked())

    def reset_defaults(self) -> None:
        """Every control back to its default (one search, not one per control)."""
        weights = [w * 50 for w in Settings.weights.default]
        values: list[tuple[QSlider | QSpinBox, float]] = [
                  (self.prf, Settings.prf.default),
                  (self.diversity, round(Settings.diversity.default * 100)),
                  *((self.weights[m], round(w)) for m, w in zip(MODALITIES, weights,
                                                                  strict=True)),
                  (self.top_k, Settings.top_k.default)]
        for widget, value in values:
            widget.blockSignals(True)
            widget.setValue(int(value))
            widget.blockSignals(False)
        for box, on in ((self.same_album, Settings.exclude_same_album.default),
                        (self.same_artist, Settings.exclude_same_artist.default)):
            box.blockSignals(True)
            box.setChecked(bool(on))
            box.blockSignals(False)
        self._changed()

    def _update_labels(self) -> None:
        self._labels["prf"].setText(str(self.prf.value()) if self.prf.value() else "off")
        self._labels["diversity"].setText(f"{self.diversity.value() / 100:.2f}")
        for m in MODALITIES:
            self._labels[m].setText(f"{self.weights[m].value() / 50:.2f}")

    def _changed(self, *_args: object) -> None:
        self._update_labels()
        params = self.params()
        s = self._settings
        s.prf, s.diversity, s.top_k = params.prf, params.diversity, params.k
        s.weights = list(params.weights)
        s.exclude_same_album = params.exclude_same_album
        s.exclude_same_artist = params.exclude_same_artist
        self.paramsChanged.emit(params)
