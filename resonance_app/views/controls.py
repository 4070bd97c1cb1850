"""The search knobs: PRF, diversity, modality balance, top-K and exclusions."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QWidget,
)

MODALITIES = ("timbre", "harmony", "rhythm")
MODALITY_COLORS = {"timbre": "#4c8ee8", "harmony": "#43b77a", "rhythm": "#e8963c"}


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

    def __init__(self, params_type: type, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._params_type = params_type
        self._settings = settings
        self.prf = _slider(10, int(settings.prf),
                           "Pseudo-relevance feedback: blend the top N results into the query "
                           "and search again (0 = off)")
        self.diversity = _slider(100, int(round(float(settings.diversity) * 100)),
                                 "Diversity (MMR): 0 = closest matches, 1 = most varied list")
        weights = list(settings.weights) + [1.0] * 3
        self.weights = {m: _slider(100, int(round(float(w) * 50)),
                                   f"How much {m} counts in the similarity")
                        for m, w in zip(MODALITIES, weights[:3], strict=True)}
        self.top_k = QSpinBox()
        self.top_k.setRange(5, 500)
        self.top_k.setSingleStep(5)
        self.top_k.setValue(int(settings.top_k))
        self.top_k.setToolTip("How many songs to list")
        self.same_album = QCheckBox("album")
        self.same_album.setChecked(bool(settings.exclude_same_album))
        self.same_artist = QCheckBox("artist")
        self.same_artist.setChecked(bool(settings.exclude_same_artist))
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
        form.addRow("PRF", self._row("prf", self.prf))
        form.addRow("Diversity", self._row("diversity", self.diversity))
        for m in MODALITIES:
            name = QLabel(f"<span style='color:{MODALITY_COLORS[m]}'>■</span> {m.title()}")
            form.addRow(name, self._row(m, self.weights[m]))
        bottom = QHBoxLayout()
        bottom.addWidget(self.top_k)
        bottom.addSpacing(12)
        bottom.addWidget(QLabel("Exclude same"))
        bottom.addWidget(self.same_album)
        bottom.addWidget(self.same_artist)
        bottom.addStretch(1)
        form.addRow("Top", bottom)

    def params(self) -> Any:
        """The engine ``SearchParams`` for the current positions."""
        w = [self.weights[m].value() / 50.0 for m in MODALITIES]
        if sum(w) == 0:
            w = [1.0, 1.0, 1.0]  # all at zero means "no preference", not "nothing"
        return self._params_type(
            k=self.top_k.value(), prf=self.prf.value(), diversity=self.diversity.value() / 100,
            weights=tuple(w), exclude_same_album=self.same_album.isChecked(),
            exclude_same_artist=self.same_artist.isChecked())

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
